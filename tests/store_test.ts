// SqliteStore on real files: refusing bad databases and a second server at open, holding the
// size bound and per-room retention as messages arrive, bounding the write-ahead log, failing
// on a full disk with the real cause (logged once) and recovering when space returns, and
// re-keying names folded by an older folding.

import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals, assertLess, assertMatch } from "./_assert.ts";
// Only what the store exported before these tests are named here, and the errors are told
// apart by name, so that each test also runs, and fails for its own reason, against the old
// store (`deno test --no-check`).
import { MIGRATIONS } from "../_server/migrations.ts";
import { SqliteStore } from "../_server/sqlite_store.ts";
import { StoreOpenError } from "../_server/store.ts";
import * as protocol from "../protocol.ts";
import { tempDir } from "./_helpers.ts";
import { BAD_DATABASES, CAN_MOUNT, makeDatabase, messages, until, withTmpfs } from "./_storage.ts";

const MIB = 1024 * 1024;

/** A logger that keeps its lines as "level message". */
function recorder(): { lines: string[]; log: (level: string, message: string) => void } {
  const lines: string[] = [];
  return { lines, log: (level, message) => lines.push(`${level} ${message}`) };
}

/** What `fn` throws, which it must. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("Expected an error, and none was thrown");
}

const { foldName } = protocol;

function count(db: DatabaseSync, sql: string, ...params: string[]): number {
  return (db.prepare(sql).get(...params) as { n: number }).n;
}

for (const bad of BAD_DATABASES) {
  Deno.test(`opening refuses ${bad.kind} with one line naming the file, the cause and what to do`, async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/bad.db`;
    await bad.make(path);
    const error = thrown(() => new SqliteStore(path, () => {}));
    assert(error instanceof StoreOpenError, String(error));
    assertEquals(error.name, "StoreOpenError");
    assertEquals(error.path, path);
    assert(error.message.startsWith(`cannot use database ${path}: `), error.message);
    assertMatch(error.message, bad.cause);
    assertMatch(error.message, /; (restore a backup|move it aside|give --db)/);
    assertEquals(error.message.split("\n").length, 1, error.message);
  });
}

Deno.test("a second store on one database file is refused while the first holds it", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/parley.db`;
  const first = new SqliteStore(path, () => {});
  try {
    first.append(messages(3));
    const error = thrown(() => new SqliteStore(path, () => {}));
    assert(error instanceof Error && error.name === "StoreOpenError", String(error));
    assertMatch(error.message, new RegExp(`another Parley server \\(pid ${Deno.pid}\\) holds it`));
    assertMatch(error.message, /-lock\); stop that server, or give this one its own --db$/);
    // The refused one took nothing: the first still writes, its ids its own.
    first.append(messages(2, { first: 4 }));
    assertEquals(first.lastMessageId(), 5);
  } finally {
    await first.close();
  }
  // Once the first has closed, the next may open, and its ids go on from the file's.
  const second = new SqliteStore(path, () => {});
  assertEquals(second.lastMessageId(), 5);
  await second.close();
  // In memory, nothing is shared and nothing is locked.
  const a = new SqliteStore(":memory:", () => {});
  const b = new SqliteStore(":memory:", () => {});
  await a.close();
  await b.close();
});

Deno.test("the database stays under its size bound as messages arrive, the oldest pruned first", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bounded.db`;
  const maxBytes = 2 * MIB;
  const { lines, log } = recorder();
  const store = new SqliteStore(path, { log, maxBytes });
  let largest = 0;
  try {
    // 8 MiB in all, in batches of 20 messages of 2 KiB, over 16 rooms.
    for (let first = 1; first <= 4000; first += 20) {
      store.append(messages(20, { first, room: `room${first % 16}`, bytes: 2048 }));
      largest = Math.max(largest, (await Deno.stat(path)).size);
    }
    const check = new DatabaseSync(path, { readOnly: true });
    try {
      const { first, last, n } = check.prepare(
        "SELECT min(id) AS first, max(id) AS last, count(*) AS n FROM messages",
      ).get() as { first: number; last: number; n: number };
      // The newest are all there, with no gap: what went was the oldest.
      assertEquals(last, 4000);
      assertEquals(n, last - first + 1);
      assert(first > 2000, `the oldest kept is ${first}: too little was pruned`);
      // A 2 KiB message takes a 4 KiB page of its own (two do not fit in one): half the
      // bound holds text, and pruning stops a step under the bound.
      assert(n * 2048 > maxBytes / 3, `only ${n} messages kept: far too much was pruned`);
    } finally {
      check.close();
    }
  } finally {
    await store.close();
  }
  const slack = 256 * 1024;
  assertLess(largest, maxBytes + slack, "the file while messages arrived");
  assertLess((await Deno.stat(path)).size, maxBytes + slack, "the file after closing");
  assert(lines.some((line) => /^info pruned the \d+ oldest message/.test(line)), String(lines));
});

Deno.test("retention per room holds at each insert, not only when pruning comes round", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/retain.db`;
  const store = new SqliteStore(path, { log: () => {}, retention: { messagesPerRoom: 10 } });
  try {
    store.append(messages(30, { room: "a" }));
    store.append(messages(5, { first: 31, room: "b" }));
    store.append(messages(4, { first: 36, room: "a" }));
    const a = store.history("a", 100);
    assertEquals(a.messages.map((message) => message.id), [
      ...Array.from({ length: 6 }, (_, i) => 25 + i),
      36,
      37,
      38,
      39,
    ]);
    assertEquals(a.more, false);
    assertEquals(store.history("b", 100).messages.length, 5);
  } finally {
    await store.close();
  }
});

Deno.test("with the default bound, the write-ahead log stays under 64 MiB while writes never pause", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/busy.db`;
  const store = new SqliteStore(path, () => {});
  let largest = 0;
  let written = 0;
  try {
    // 60 KB messages in batches of 4, yielding between batches as the server does, until
    // well past the log's bound.
    const started = Date.now();
    for (let first = 1; written < 160 * MIB && Date.now() - started < 30_000; first += 4) {
      store.append(messages(4, { first, room: `r${first % 100}`, bytes: 60_000 }));
      written += 4 * 60_000;
      try {
        largest = Math.max(largest, (await Deno.stat(`${path}-wal`)).size);
      } catch {
        // Truncated away for a moment.
      }
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  } finally {
    await store.close();
  }
  assert(written >= 100 * MIB, `only ${written} bytes written in 30 s: the test proves nothing`);
  // The bound, and a batch or so written past it before a checkpoint caught up.
  assertLess(largest, 72 * MIB, `the log reached ${largest} bytes`);
});

Deno.test({
  name: "a full disk: the real cause is thrown and logged once, not 'cannot rollback'",
  ignore: !CAN_MOUNT,
  async fn() {
    await withTmpfs(2 * MIB, async (dir) => {
      // Leaves the database about 1 MiB.
      await Deno.writeFile(`${dir}/filler`, new Uint8Array(MIB));
      const { lines, log } = recorder();
      const store = new SqliteStore(`${dir}/full.db`, log);
      const failures: string[] = [];
      try {
        for (let first = 1; first <= 300; first++) {
          try {
            store.append(messages(1, { first, bytes: 20_000 }));
          } catch (error) {
            failures.push(String(error));
          }
        }
      } finally {
        await store.close();
      }
      assert(failures.length > 200, `only ${failures.length} failures: the disk did not fill`);
      for (const failure of failures) {
        assertMatch(failure, /database or disk is full/);
        assert(!failure.includes("cannot rollback"), failure);
      }
      const errors = lines.filter((line) => line.startsWith("error "));
      assertEquals(errors.length, 1, errors.join("\n"));
      assertMatch(
        errors[0]!,
        /^error cannot store 1 message\(s\) in database .*: database or disk is full$/,
      );
      assert(!lines.some((line) => line.includes("cannot rollback")), lines.join("\n"));
    });
  },
});

Deno.test({
  name: "a full disk: the checkpointer fails once, then recovers with the space; writes resume",
  ignore: !CAN_MOUNT,
  async fn() {
    await withTmpfs(2 * MIB, async (dir) => {
      await Deno.writeFile(`${dir}/filler`, new Uint8Array(MIB));
      const { lines, log } = recorder();
      const path = `${dir}/full.db`;
      const store = new SqliteStore(path, log);
      try {
        let first = 1;
        let refused = 0;
        // Writes until the disk is full and the checkpointer has found it so.
        await until(
          () => {
            try {
              store.append(messages(1, { first, bytes: 20_000 }));
              first++;
            } catch (error) {
              assert(error instanceof Error && error.name === "StoreError", String(error));
              refused++;
            }
            return refused > 0 && lines.some((line) => line.startsWith("warn checkpointing"));
          },
          15_000,
          "the checkpointer to fail on the full disk",
        );
        await Deno.remove(`${dir}/filler`);
        await until(
          () => lines.some((line) => /^info checkpointing .* works again$/.test(line)),
          20_000,
          "the checkpointer to work again",
        );
        store.append(messages(1, { first }));
        assertEquals(store.history("lobby", 1).messages[0]?.id, first);
        const warnings = lines.filter((line) => line.startsWith("warn checkpointing"));
        assertEquals(warnings.length, 1, "one line for the failure, however many tries");
        assertMatch(warnings[0]!, /failed \(database or disk is full\)/);
        assert(
          lines.some((line) =>
            /^info database .* takes writes again, after \d+ failed write/.test(line)
          ),
          lines.join("\n"),
        );
      } finally {
        await store.close();
      }
    });
  },
});

Deno.test("a database keyed by an older folding of names is re-keyed at open, keeping the oldest", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/old.db`;
  // Made by a Parley of schema 3, before the store recorded its folding: keys of folding 1.
  // Upper case never came out of any folding, so each of these keys folds anew today.
  const old = new DatabaseSync(path);
  old.exec(`${MIGRATIONS.slice(0, 3).join(";")}; PRAGMA user_version = 3;`);
  const message = old.prepare(
    "INSERT INTO messages (id, room, sender, text, ts) VALUES (?, ?, 'ada', ?, '2020-01-01T00:00:00.000Z')",
  );
  message.run(1, "LOBBY", "one");
  message.run(2, "lobby", "two");
  message.run(3, "Ops", "three");
  old.exec(`INSERT INTO topics VALUES ('LOBBY', 'old topic'), ('lobby', 'kept topic')`);
  const account = old.prepare(
    "INSERT INTO accounts VALUES (?, ?, x'00', x'00', 1, ?)",
  );
  account.run("old-key-1", "ALICE", "2020-01-01T00:00:00.000Z");
  account.run("alice", "alice", "2021-01-01T00:00:00.000Z");
  account.run("old-key-2", "Bob", "2022-01-01T00:00:00.000Z");
  old.exec(`INSERT INTO bans VALUES ('name', 'MALLORY', '2030-01-01T00:00:00.000Z', 'op', 'a'),
    ('name', 'mallory', NULL, 'op', 'b'), ('ip', '192.0.2.1', NULL, 'op', 'c')`);
  old.close();
  for (const key of ["LOBBY", "Ops", "ALICE", "Bob", "MALLORY"]) {
    assert(foldName(key) !== key, `${key} must fold to something else for this test`);
  }

  const { lines, log } = recorder();
  const store = new SqliteStore(path, log);
  try {
    const lobby = foldName("lobby");
    assertEquals(store.history(lobby, 10).messages.map((m) => m.text), ["one", "two"]);
    assertEquals(store.history(foldName("Ops"), 10).messages.map((m) => m.text), ["three"]);
    assertEquals(store.topic(lobby), { topic: "kept topic" });
    assert(store.account(foldName("alice")) !== undefined);
    assert(store.account(foldName("Bob")) !== undefined);
    assertEquals(store.activeBan("name", foldName("mallory"), new Date())?.reason, "b");
    assertEquals(store.activeBan("ip", "192.0.2.1", new Date())?.reason, "c");
  } finally {
    await store.close();
  }
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    // The oldest account of the two that now share a key stays: ALICE (2020), not alice.
    assertEquals(
      db.prepare("SELECT key, name FROM accounts ORDER BY created").all().map((row) => ({
        ...row,
      })),
      [{ key: foldName("ALICE"), name: "ALICE" }, { key: foldName("Bob"), name: "Bob" }],
    );
    assertEquals(count(db, "SELECT count(*) AS n FROM bans"), 2);
    assertEquals(count(db, "SELECT count(*) AS n FROM topics"), 1);
    assertEquals(
      (db.prepare("SELECT value FROM meta WHERE key = 'fold_version'").get() as { value: number })
        .value,
      protocol.FOLD_VERSION,
    );
  } finally {
    db.close();
  }
  const dropped = lines.filter((line) => line.startsWith("warn re-keying"));
  assertEquals(dropped.length, 3, dropped.join("\n"));
  assert(dropped.some((line) => line.includes('dropped the account "alice" (registered 2021')));
  assert(dropped.some((line) => line.includes('dropped the ban of "MALLORY"')));
  assert(dropped.some((line) => line.includes('dropped the topic of room key "LOBBY"')));

  // Opened again, there is nothing to re-key.
  const again = recorder();
  await new SqliteStore(path, again.log).close();
  assertEquals(again.lines.filter((line) => line.includes("re-key")), []);
});

Deno.test("a check that takes longer than the wait goes on in the background and reports", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/slow.db`;
  await makeDatabase(path, 100);
  const { lines, log } = recorder();
  const store = new SqliteStore(path, { log, checkWaitMs: 0 });
  try {
    assert(
      lines.some((line) => /^warn the check of database .* takes longer than 0 ms/.test(line)),
    );
    await until(
      () => lines.some((line) => /^info the check of database .* found it sound/.test(line)),
      10_000,
      "the check's late answer",
    );
  } finally {
    await store.close();
  }
});

Deno.test("migration 5 keeps topics set before it with no setter; a new topic keeps who and when", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/v4.db`;
  // Made by a Parley of schema 4: topics without setters.
  const old = new DatabaseSync(path);
  old.exec(`${MIGRATIONS.slice(0, 4).join(";")}; PRAGMA user_version = 4;`);
  old.exec(`INSERT INTO topics VALUES ('lobby', 'old topic')`);
  old.close();

  const { log } = recorder();
  let store = new SqliteStore(path, log);
  try {
    assertEquals(store.topic("lobby"), { topic: "old topic" });
    store.setTopic("rust", "Ferris & friends", "alice", "2026-01-02T03:04:05.678Z");
    assertEquals(store.topic("rust"), {
      topic: "Ferris & friends",
      by: "alice",
      ts: "2026-01-02T03:04:05.678Z",
    });
  } finally {
    await store.close();
  }
  // Both survive a reopen, and replacing the old topic gives it a setter.
  store = new SqliteStore(path, log);
  try {
    assertEquals(store.topic("lobby"), { topic: "old topic" });
    assertEquals(store.topic("rust")?.by, "alice");
    store.setTopic("lobby", "new topic", "bob", "2026-02-03T04:05:06.789Z");
    assertEquals(store.topic("lobby"), {
      topic: "new topic",
      by: "bob",
      ts: "2026-02-03T04:05:06.789Z",
    });
  } finally {
    await store.close();
  }
  const db = new DatabaseSync(path);
  try {
    const version = db.prepare("PRAGMA user_version").get() as { user_version: number };
    assertEquals(version.user_version, MIGRATIONS.length);
  } finally {
    db.close();
  }
});

Deno.test("re-keying a room keeps who set its topic and when", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/setter.db`;
  // The current schema, keyed by folding 1 (what migration 4 records): the key re-folds at open.
  const old = new DatabaseSync(path);
  old.exec(`${MIGRATIONS.join(";")}; PRAGMA user_version = ${MIGRATIONS.length};`);
  old.exec(`INSERT INTO topics VALUES ('LOBBY', 'a topic', 'alice', '2026-01-02T03:04:05.678Z')`);
  old.close();
  assert(foldName("LOBBY") !== "LOBBY", "LOBBY must fold to something else for this test");
  const { log } = recorder();
  const store = new SqliteStore(path, log);
  try {
    assertEquals(store.topic(foldName("lobby")), {
      topic: "a topic",
      by: "alice",
      ts: "2026-01-02T03:04:05.678Z",
    });
  } finally {
    await store.close();
  }
});
