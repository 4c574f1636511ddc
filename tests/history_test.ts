import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals, assertGreater, assertLess, assertRejects } from "./_assert.ts";
import { ChatClient } from "../client.ts";
import { ChatServer } from "../server.ts";
import { MIGRATIONS } from "../_server/migrations.ts";
import { SqliteStore } from "../_server/sqlite_store.ts";
import type { ServerFrame, StoredMessage } from "../protocol.ts";
import {
  deadline,
  framesUntil,
  join,
  nextFrame,
  serveProcess,
  startServer,
  tempDir,
} from "./_helpers.ts";

/** Sends `count` messages from `client` and waits until they are stored (a ping round trip
 * after them is answered only once the batch before it has been written). */
async function sendMany(client: ChatClient, count: number, prefix = "m"): Promise<void> {
  for (let i = 0; i < count; i++) client.send(`${prefix}${i}`);
  await client.ping();
}

/** Pages back through a room's whole history from `client`, newest page first. */
async function pageBack(
  client: ChatClient,
  room: string,
  before: number,
): Promise<StoredMessage[]> {
  const all: StoredMessage[] = [];
  let more = true;
  while (more) {
    client.history(room, { before, limit: 40 });
    const page = await nextFrame(client, "history");
    all.unshift(...page.messages);
    more = page.more;
    if (page.messages.length > 0) before = page.messages[0]!.id;
  }
  return all;
}

Deno.test("history survives a restart: the last 50 in order, then paging back to the first", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/parley.db`;
  const sent: StoredMessage[] = [];
  {
    await using server = startServer({ db, rate: 0 });
    await using alice = await join(server, "alice");
    await using bob = await join(server, "bob");
    await sendMany(alice, 200);
    for (let i = 0; i < 200; i++) {
      const { type: _, room: __, ...message } = await nextFrame(bob, "message");
      sent.push(message);
    }
  }
  await using server = startServer({ db });
  await using newcomer = await join(server, "newcomer");
  const replay = await nextFrame(newcomer, "history");
  assertEquals(replay.room, "lobby");
  assertEquals(replay.messages, sent.slice(150), "the last 50, with original ids and times");
  assertEquals(replay.more, true);
  const older = await pageBack(newcomer, "lobby", replay.messages[0]!.id);
  assertEquals(older, sent.slice(0, 150), "the other 150, no gap, no duplicate");
  // New ids continue above the old ones.
  await using other = await join(server, "other");
  newcomer.send("after the restart");
  assertGreater((await nextFrame(other, "message")).id, sent.at(-1)!.id);
});

Deno.test("joining while others send: every message exactly once, across history and live", async () => {
  await using server = startServer({ history: 200, rate: 0 });
  const senders = await Promise.all([1, 2, 3].map((n) => join(server, `sender${n}`)));
  const perSender = 300;
  const sending = Promise.all(senders.map(async (client, n) => {
    for (let i = 0; i < perSender; i++) {
      client.send(`${n}:${i}`);
      if (i % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await client.ping();
  }));
  await new Promise((resolve) => setTimeout(resolve, 30)); // in the middle of it
  await using late = await join(server, "late");
  const replay = await nextFrame(late, "history");
  const ids = replay.messages.map((message) => message.id);
  await sending;
  // A new store numbers messages from 1, and only the senders send: the last id is 900.
  const lastId = senders.length * perSender;
  await framesUntil(
    late,
    (frame) => {
      if (frame.type === "message") ids.push(frame.id);
      return ids.includes(lastId);
    },
    15_000,
    `message ${lastId}, the last`,
  );
  assertGreater(replay.messages.length, 0, "some messages were replayed");
  assert(replay.messages.length < ids.length, "and some came live");
  const first = replay.messages[0]!.id;
  assertEquals(
    ids,
    Array.from({ length: lastId - first + 1 }, (_, i) => first + i),
    "each once, in order",
  );
  await Promise.all(senders.map((client) => client.quit()));
});

Deno.test("a client may ask for no replay, on hello and on join", async () => {
  await using server = startServer();
  await using alice = await join(server, "alice");
  await sendMany(alice, 3);
  await using quiet = await ChatClient.connect({
    port: server.addr.port,
    name: "quiet",
    history: 0,
  });
  quiet.join("other", { history: 0 });
  await nextFrame(quiet, "entered", (frame) => frame.room === "other");
  alice.send("live");
  const frames = await framesUntil(
    quiet,
    (frame) => frame.type === "message",
    5000,
    "alice's live message",
  );
  const types = frames.map((frame) => frame.type);
  assert(!types.includes("history"), types.join());
  const live = frames.at(-1)!;
  assertEquals(live.type === "message" ? live.text : live.type, "live");
});

Deno.test("--db :memory: keeps nothing after a restart", async () => {
  {
    await using server = startServer({ db: ":memory:" });
    await using alice = await join(server, "alice");
    await sendMany(alice, 5);
  }
  await using server = startServer({ db: ":memory:" });
  await using bob = await join(server, "bob");
  assertEquals((await nextFrame(bob, "history")).messages, []);
});

Deno.test("the write-ahead log is checkpointed in the background, not in the server's commits", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/parley.db`;
  const warnings: string[] = [];
  const store = new SqliteStore(path, (level, message) => {
    if (level !== "debug") warnings.push(message);
  });
  try {
    const size = (await Deno.stat(path)).size;
    // 100 commits append about 300 pages to the log: too few for SQLite to checkpoint in a
    // commit (it waits for 1,000), so only the checkpointer can move them into the file.
    for (let id = 1; id <= 100; id++) {
      store.append([{
        id,
        room: "lobby",
        from: "alice",
        text: `m${id}`,
        ts: "2026-01-01T00:00:00Z",
      }]);
    }
    await deadline(
      (async () => {
        while ((await Deno.stat(path)).size === size) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })(),
      5000,
      "the database file to grow",
    );
    assertEquals(warnings, []);
    assertEquals(store.history("lobby", 1).messages[0]?.text, "m100");
  } finally {
    await store.close();
  }
  // Closed, the database file holds everything on its own: the log was checkpointed and
  // removed. And it opens again at once, no connection of the old store's left to lock it.
  await assertRejects(() => Deno.stat(`${path}-wal`), Deno.errors.NotFound);
  const again = new SqliteStore(path);
  assertEquals(again.history("lobby", 1).messages[0]?.text, "m100");
  await again.close();
});

Deno.test("a database of schema version 1 is migrated, its history intact", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/old.db`;
  const old = new DatabaseSync(db);
  old.exec(`${MIGRATIONS[0]}; PRAGMA user_version = 1;`);
  const insert = old.prepare(
    "INSERT INTO messages (id, room, sender, text, ts) VALUES (?, ?, ?, ?, ?)",
  );
  insert.run(7, "lobby", "ada", "from the old days", "2020-01-01T00:00:00.000Z");
  insert.run(9, "lobby", "ada", "still here", "2020-01-01T00:01:00.000Z");
  old.close();

  {
    await using server = startServer({ db });
    await using bob = await join(server, "bob");
    assertEquals((await nextFrame(bob, "history")).messages, [
      { id: 7, from: "ada", text: "from the old days", ts: "2020-01-01T00:00:00.000Z" },
      { id: 9, from: "ada", text: "still here", ts: "2020-01-01T00:01:00.000Z" },
    ]);
    bob.send("waves", { action: true });
    await bob.ping();
  }
  const migrated = new DatabaseSync(db);
  const version = migrated.prepare("PRAGMA user_version").get() as { user_version: number };
  const newest = migrated.prepare("SELECT id, action FROM messages ORDER BY id DESC LIMIT 1").get();
  migrated.close();
  assertEquals(version.user_version, MIGRATIONS.length);
  assertEquals(newest, { id: 10, action: 1 });
});

Deno.test("a database from a newer Parley is refused, not damaged", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/new.db`;
  const future = new DatabaseSync(db);
  future.exec(`PRAGMA user_version = ${MIGRATIONS.length + 1}`);
  future.close();
  let error: unknown;
  try {
    new ChatServer({ db, port: 0, logLevel: "silent" });
  } catch (caught) {
    error = caught;
  }
  assert(error instanceof Error && error.message.includes("newer"), String(error));
});

Deno.test("retention keeps at most N messages per room", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/retain.db`;
  {
    await using server = startServer({ db });
    await using alice = await join(server, "alice");
    await sendMany(alice, 30);
  }
  await using server = startServer({ db, retainMessages: 10 });
  await using bob = await join(server, "bob");
  const replay = await nextFrame(bob, "history");
  assertEquals(
    replay.messages.map((message) => message.text),
    Array.from({ length: 10 }, (_, i) => `m${20 + i}`),
  );
  assertEquals(replay.more, false);
});

Deno.test({
  name: "kill -9 during a burst: every message any client received is in history after restart",
  ignore: Deno.build.os === "windows",
  async fn() {
    await using dir = await tempDir();
    const db = `${dir.path}/crash.db`;
    const received = new Set<number>();
    {
      await using server = await serveProcess(["--db", db, "--rate", "0"]);
      const port = server.port;
      const sender = await ChatClient.connect({ port, name: "sender" });
      const watcher = await ChatClient.connect({ port, name: "watcher", history: 0 });
      const sending = (async () => {
        try {
          for (let i = 0;; i++) {
            sender.send(`burst ${i}`);
            if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
          }
        } catch {
          // The connection is gone.
        }
      })();
      const receive = (frame: ServerFrame) => {
        if (frame.type === "message") received.add(frame.id);
      };
      try {
        await framesUntil(
          watcher,
          (frame) => {
            receive(frame);
            return received.size === 500;
          },
          15_000,
          "500 messages",
          { keep: false },
        );
        server.child.kill("SIGKILL");
        const rest = await framesUntil(
          watcher,
          "closed",
          10_000,
          "the kill to close the connection",
        );
        rest.forEach(receive);
        await deadline(sending, 10_000, "the sender to find the connection gone");
      } finally {
        sender.close();
        watcher.close();
      }
    }
    assertGreater(received.size, 499);
    await using server = startServer({ db, history: 200 });
    await using reader = await join(server, "reader");
    const replay = await nextFrame(reader, "history");
    const stored = new Set(replay.messages.map((message) => message.id));
    const before = replay.messages[0]!.id;
    for (const message of await pageBack(reader, "lobby", before)) stored.add(message.id);
    const missing = [...received].filter((id) => !stored.has(id));
    assertEquals(missing, [], "received but not stored");
  },
});

Deno.test("a replay of long messages fits the newcomer's queue; the rest is paged", async () => {
  await using server = startServer({ rate: 0 });
  await using alice = await join(server, "alice");
  const long = (i: number) => `${i} ${"x".repeat(60_000)}`;
  for (let i = 0; i < 20; i++) alice.send(long(i));
  await alice.ping();
  await using bob = await join(server, "bob");
  const replay = await nextFrame(bob, "history");
  assert(replay.messages.length < 20, "the page is cut to the queue's size");
  assertEquals(replay.more, true);
  const older = await pageBack(bob, "lobby", replay.messages[0]!.id);
  assertEquals(
    [...older, ...replay.messages].map((message) => message.text),
    Array.from({ length: 20 }, (_, i) => long(i)),
  );
  assertLess(await bob.ping(), 1000); // still connected
});

Deno.test("a history request sees the asker's own message sent just before it", async () => {
  await using server = startServer();
  await using alice = await join(server, "alice");
  await nextFrame(alice, "history");
  alice.send("just now");
  alice.history("lobby");
  const page = await nextFrame(alice, "history");
  assertEquals(page.messages.map((message) => message.text), ["just now"]);
});
