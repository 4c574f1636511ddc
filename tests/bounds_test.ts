// Bounds on what one asker or one address can cost the server: answers paged under the
// client's queue bound, rooms made per address and in all, bytes of text per connection and per
// address, storage failures answered without closing the connection, and topics counted in
// characters. Each test fails on a server without the bound.

import { DatabaseSync } from "node:sqlite";
import {
  assert,
  assertEquals,
  assertGreater,
  assertLess,
  assertStringIncludes,
} from "./_assert.ts";
import { ChatClient } from "../client.ts";
import { LIST_PAGE_BYTES, MAX_ROOMS_PER_USER } from "../_server/chat.ts";
import { parseCommand } from "../_text/commands.ts";
import { formatFrame } from "../_text/format.ts";
import { encodeFrame, foldName, type ServerFrame } from "../protocol.ts";
import {
  deadline,
  framesUntil,
  join,
  nextFrame,
  RawPeer,
  runParley,
  serveProcess,
  startServer,
  tempDir,
} from "./_helpers.ts";

/** The bytes of a frame as sent, without its newline. */
function frameBytes(frame: ServerFrame): number {
  return encodeFrame(frame).length - 1;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("rooms: 2,970 rooms with 500-character topics come in bounded pages, each once, and the asker stays", async () => {
  // Made fast: no flood control, and room bounds raised for the test.
  await using server = startServer({ rate: 0, maxRooms: 5000, maxRoomsPerIp: 5000 });
  const owners = await Promise.all(
    Array.from({ length: 30 }, (_, i) => join(server, `owner${i}`)),
  );
  const made = new Map<string, string>();
  for (const [i, owner] of owners.entries()) {
    for (let r = 0; r < MAX_ROOMS_PER_USER - 1; r++) {
      const room = `room-${i}-${r}`;
      const topic = `${room} ${"t".repeat(500 - room.length - 1)}`;
      made.set(room, topic);
      owner.join(room, { history: 0 });
      owner.setTopic(room, topic);
    }
  }
  await deadline(Promise.all(owners.map((owner) => owner.ping())), 60_000, "rooms made");
  const whole = [...made].reduce((sum, [room, topic]) => sum + room.length + topic.length, 0);
  assertGreater(whole, 1024 * 1024, "the whole list is more than a client's queue holds");

  await using asker = await join(server, "asker");
  const seen = new Map<string, number>();
  let pages = 0;
  let after: string | undefined;
  do {
    pages++;
    asker.listRooms(after === undefined ? {} : { after });
    const page = await nextFrame(asker, "rooms", () => true, 10_000);
    assert(frameBytes(page) <= LIST_PAGE_BYTES + 1024, `a page of ${frameBytes(page)} bytes`);
    for (const room of page.rooms) {
      seen.set(room.name, (seen.get(room.name) ?? 0) + 1);
      if (room.name !== "lobby") assertEquals(room.topic, made.get(room.name), room.name);
    }
    assertEquals(page.more === true, page.next !== undefined, "next comes with more");
    if (page.more) assertEquals(page.next, page.rooms.at(-1)!.name);
    after = page.next;
    assert(pages < 1000, "paging ends");
  } while (after !== undefined);
  assertGreater(pages, 20);
  assertEquals(seen.size, made.size + 1, "every room and the lobby");
  assertEquals([...seen.values()].filter((count) => count !== 1), [], "each room once");
  // Sorted by folded name, as the cursor is.
  const keys = [...seen.keys()].map(foldName);
  assertEquals(keys, keys.toSorted((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  assertLess(await asker.ping(), 5000, "the asker is still connected");
  for (const owner of owners) owner.close();
});

Deno.test("who: a long list comes in bounded pages, in the order of arrival, each name once", async () => {
  // A small queue bound makes small pages: a quarter of it, 1 KiB.
  const queue = 4096;
  await using server = startServer({ rate: 0, maxQueueBytes: queue, maxConnectionsPerIp: 200 });
  const users: ChatClient[] = [];
  for (let i = 0; i < 150; i++) {
    users.push(await join(server, `user-${String(i).padStart(3, "0")}`));
  }
  const asker = users[0]!;

  /** Pages through `who`, calling `between` after the first page. */
  async function pageThrough(room: string | undefined, between: () => Promise<void>) {
    const names: string[] = [];
    let pages = 0;
    let after: number | undefined;
    do {
      pages++;
      asker.who(room, after === undefined ? {} : { after });
      const page = await nextFrame(asker, "users");
      assertEquals(page.room, room);
      assert(frameBytes(page) <= queue / 4 + 200, `a page of ${frameBytes(page)} bytes`);
      names.push(...page.users);
      after = page.next;
      if (pages === 1) await between();
    } while (after !== undefined);
    return { names, pages };
  }

  const all = await pageThrough(undefined, () => Promise.resolve());
  assertGreater(all.pages, 1);
  assertEquals(all.names, users.map((user) => user.name), "everyone once, in arrival order");

  // Someone listed leaves, someone not yet listed leaves, someone new comes: everyone present
  // throughout is listed once, and the newcomer last.
  const churn = await pageThrough("lobby", async () => {
    await users[1]!.quit();
    await users[149]!.quit();
    users.push(await join(server, "late"));
    await asker.ping();
  });
  // user-001 was on the first page, user-149 would have been on a later one.
  assertEquals(churn.names, users.slice(0, 149).map((user) => user.name).concat("late"));
  assert(
    JSON.stringify(users.at(-1)!.welcome.users).length <= queue / 4,
    "welcome lists what fits a page",
  );
  for (const user of users) user.close();
});

Deno.test("rooms made are bounded per address and in all, with too_many_rooms", async () => {
  {
    // The defaults: one address makes at most 100 rooms that exist at once.
    await using server = startServer({ rate: 0 });
    await using alice = await join(server, "alice");
    await using bob = await join(server, "bob");
    for (let r = 0; r < MAX_ROOMS_PER_USER - 1; r++) alice.join(`a${r}`, { history: 0 });
    await alice.ping();
    bob.join("b0", { history: 0 });
    await nextFrame(bob, "entered", (frame) => frame.room === "b0");
    bob.join("b1", { history: 0 });
    const refused = await nextFrame(bob, "error");
    assertEquals(refused.code, "too_many_rooms");
    assertStringIncludes(refused.message, "Your address");
    // Joining a room that exists is not making one.
    bob.join("a0", { history: 0 });
    await nextFrame(bob, "entered", (frame) => frame.room === "a0");
    // A room still counts while anyone is in it, and no longer once it is gone.
    alice.part("a0");
    await nextFrame(alice, "left", (frame) => frame.room === "a0");
    bob.join("b1", { history: 0 });
    assertEquals((await nextFrame(bob, "error")).code, "too_many_rooms");
    bob.part("a0");
    await nextFrame(bob, "left", (frame) => frame.room === "a0");
    bob.join("b1", { history: 0 });
    await nextFrame(bob, "entered", (frame) => frame.room === "b1");
  }
  {
    // In all: the lobby and two more.
    await using server = startServer({ maxRooms: 3 });
    await using alice = await join(server, "alice");
    alice.join("one", { history: 0 });
    alice.join("two", { history: 0 });
    alice.join("three", { history: 0 });
    const refused = await nextFrame(alice, "error");
    assertEquals(refused.code, "too_many_rooms");
    assertStringIncludes(refused.message, "The server has 3 rooms");
    alice.part("one");
    alice.join("three", { history: 0 });
    await nextFrame(alice, "entered", (frame) => frame.room === "three");
  }
});

Deno.test("a flood of 60 KB messages from ten connections of one address is cut to the address's byte rate", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/parley.db`;
  // The defaults: 16,384 bytes a second from one address, 1,048,576 at once, and a second's
  // worth more for a connection that has sent little; each frame counts its length plus 256.
  // Ten connections could send 131,072 at once each, more than the address may.
  const rate = 16_384;
  const burst = 1_048_576;
  const text = (i: number) => `${i} ${"x".repeat(60_000)}`;
  const cost = (i: number) =>
    encodeFrame({ type: "send", text: text(i), room: "flood0" }).length -
    1 + 256;
  let accepted = 0;
  let acceptedCost = 0;
  let refused = 0;
  let refusedForAddress = 0;
  let sent = 0;
  let elapsed = 0;
  {
    await using server = startServer({ db });
    await using watcher = await join(server, "watcher");
    const flooders: RawPeer[] = [];
    for (let f = 0; f < 10; f++) {
      const peer = await RawPeer.connect(server);
      flooders.push(peer);
      assertEquals((await peer.hello(`flooder${f}`)).type, "welcome");
      await peer.send({ type: "join", room: `flood${f}`, history: 0 });
      assertEquals((await peer.frame()).type, "entered");
      watcher.join(`flood${f}`, { history: 0 });
      await nextFrame(watcher, "entered", (frame) => frame.room === `flood${f}`);
    }
    // Everything the watcher hears, up to its own close below.
    const watching = framesUntil(watcher, "closed", 30_000, "the watcher's close");
    // Ten a second from each: within the frame rate, far past the byte rate.
    const started = performance.now();
    for (let round = 0; round < 30; round++) {
      await Promise.all(flooders.map((peer, f) => {
        const i = sent++;
        return peer.send({ type: "send", text: text(i), room: `flood${f}` });
      }));
      await sleep(100);
    }
    for (const peer of flooders) {
      await peer.send({ type: "ping", id: "done" });
      for (let frame = await peer.frame(); frame.type !== "pong"; frame = await peer.frame()) {
        if (frame.type === "error") {
          assertEquals(frame.code, "rate_limited");
          refused++;
          if (String(frame.message).includes("your address")) refusedForAddress++;
        }
      }
    }
    elapsed = (performance.now() - started) / 1000;
    await watcher.ping();
    watcher.close();
    for (const frame of await watching) {
      if (frame.type !== "message") continue;
      accepted++;
      acceptedCost += cost(Number(frame.text.split(" ")[0]));
    }
    for (const peer of flooders) peer.close();
  }
  console.log(
    `${sent} sent in ${
      elapsed.toFixed(1)
    } s: ${accepted} accepted (${acceptedCost} bytes counted), ` +
      `${refused} refused, ${refusedForAddress} of them for the address`,
  );
  assertEquals(accepted + refused, sent, `${accepted} accepted, ${refused} refused`);
  assertGreater(refusedForAddress, 0, "the address's rate cut in");
  const bound = burst + rate * (elapsed + 1);
  assertLess(acceptedCost, bound * 1.25, `${acceptedCost} bytes in ${elapsed.toFixed(1)} s`);
  assertGreater(accepted, 3, "the burst gets through");
  // What is stored is what was accepted, and no more.
  const sqlite = new DatabaseSync(db, { readOnly: true });
  try {
    const row = sqlite.prepare(
      "SELECT count(*) AS count, sum(length(CAST(text AS BLOB))) AS bytes FROM messages",
    ).get() as { count: number; bytes: number };
    assertEquals(row.count, accepted);
    assertLess(row.bytes, bound * 1.25);
  } finally {
    sqlite.close();
  }
});

Deno.test("one connection is held to its own byte rate; the client paces itself to it", async () => {
  {
    // The defaults: 4,096 bytes a second, 131,072 at once: two 60 KB messages, then no more
    // for some 15 s.
    await using server = startServer();
    await using watcher = await join(server, "watcher");
    await using flooder = await RawPeer.connect(server);
    await flooder.hello("flooder");
    for (let i = 0; i < 8; i++) {
      await flooder.send({ type: "send", text: `${i} ${"y".repeat(60_000)}` });
      await sleep(100);
    }
    await flooder.send({ type: "ping", id: "done" });
    let refused = 0;
    for (let frame = await flooder.frame(); frame.type !== "pong"; frame = await flooder.frame()) {
      if (frame.type === "error" && frame.code === "rate_limited") refused++;
    }
    assertEquals(refused, 6);
    assertStringIncludes((await nextFrame(watcher, "message")).text, "0 ");
    assertStringIncludes((await nextFrame(watcher, "message")).text, "1 ");
  }
  {
    // Parley's client waits for the byte rate, and is never refused.
    await using server = startServer({ byteRate: 100_000, byteBurst: 131_072 });
    await using alice = await join(server, "alice");
    await using bob = await join(server, "bob");
    assertEquals([alice.welcome.byteRate, alice.welcome.byteBurst], [100_000, 131_072]);
    const started = performance.now();
    for (let i = 0; i < 5; i++) alice.send(`${i} ${"z".repeat(60_000)}`);
    let received = 0;
    await framesUntil(
      bob,
      (frame) => frame.type === "message" && ++received === 5,
      20_000,
      "all five messages",
    );
    // 5 × 60,299 bytes less the burst, at 90% of 100,000 a second.
    assertGreater(performance.now() - started, 1000, "the client waited");
    alice.who();
    const answers = await framesUntil(alice, (frame) => frame.type === "users", 5000, "who");
    assertEquals(answers.filter((frame) => frame.type === "error"), []);
  }
});

Deno.test("storage failing at run time is answered with store_failed and logged; the connection stays open", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/parley.db`;
  await using server = await serveProcess(["--db", db, "--log-level", "warn"]);
  const connect = (name: string) => ChatClient.connect({ port: server.port, name });
  await using alice = await connect("alice");
  alice.send("before");
  await alice.ping();
  const sqlite = new DatabaseSync(db);
  try {
    // Another process breaks the database under the running server.
    sqlite.exec("ALTER TABLE messages RENAME TO messages_away");
    await using bob = await connect("bob");
    assertEquals((await nextFrame(bob, "entered")).room, "lobby");
    const replay = await nextFrame(bob, "error");
    assertEquals(replay.code, "store_failed", replay.message);
    bob.send("during");
    assertEquals((await nextFrame(bob, "error")).code, "store_failed");
    bob.history("lobby");
    assertEquals((await nextFrame(bob, "error")).code, "store_failed");
    // What needs no storage still works.
    bob.msg("alice", "psst");
    assertEquals((await nextFrame(alice, "private")).text, "psst");

    // Topics: a new room is entered without its topic, and a topic cannot be set.
    sqlite.exec("ALTER TABLE topics RENAME TO topics_away");
    bob.join("fresh", { history: 0 });
    assertEquals((await nextFrame(bob, "entered")).room, "fresh");
    assertEquals((await nextFrame(bob, "error")).code, "store_failed");
    bob.setTopic("fresh", "new topic");
    assertEquals((await nextFrame(bob, "error")).code, "store_failed");

    // Accounts: a hello cannot be checked, and may be tried again on the same connection.
    sqlite.exec("ALTER TABLE accounts RENAME TO accounts_away");
    await using carol = await RawPeer.connect(server.port);
    await carol.send({ type: "hello", name: "carol", history: 0 });
    const hello = await carol.frame();
    assertEquals([hello.type, hello.code], ["error", "store_failed"]);

    // Mended: everything works again, on the same connections.
    sqlite.exec(`ALTER TABLE messages_away RENAME TO messages;
      ALTER TABLE topics_away RENAME TO topics;
      ALTER TABLE accounts_away RENAME TO accounts;`);
    assertEquals((await carol.hello("carol")).type, "welcome");
    bob.send("after");
    assertEquals((await nextFrame(alice, "message")).text, "after", "not during");
    bob.history("lobby");
    const history = await nextFrame(bob, "history");
    assertEquals(history.messages.map((message) => message.text), ["before", "after"]);
    assertLess(await bob.ping(), 5000);
  } finally {
    sqlite.close();
  }
  // The real cause is in the log, once for each kind of failure at most, and nothing masks it.
  const causes = server.stderr.split("\n").filter((line) => line.includes("no such table"));
  assertGreater(causes.length, 0, server.stderr);
  assertLess(causes.length, 8, server.stderr);
  assert(!server.stderr.includes("rollback"), server.stderr);
  assert(!server.stderr.includes("internal"), server.stderr);
});

Deno.test("a topic is at most 500 characters, counted as characters: 300 emoji fit", async () => {
  await using server = startServer();
  await using alice = await join(server, "alice");
  const emoji = "😀".repeat(300);
  alice.setTopic("lobby", emoji);
  assertEquals((await nextFrame(alice, "topic")).topic, emoji);
  alice.setTopic("lobby", "é".repeat(500));
  assertEquals((await nextFrame(alice, "topic")).topic, "é".repeat(500));
  alice.setTopic("lobby", "a".repeat(501));
  const refused = await nextFrame(alice, "error");
  assertEquals(refused.code, "invalid_text");
  assertStringIncludes(refused.message, "500 characters");
});

Deno.test("parley serve takes the byte rate and room bounds as flags", async () => {
  await using server = await serveProcess([
    "--byte-rate",
    "50000",
    "--byte-burst",
    "70000",
    "--byte-rate-per-ip",
    "60000",
    "--byte-burst-per-ip",
    "80000",
    "--max-rooms",
    "50",
    "--max-rooms-per-ip",
    "2",
  ]);
  await using alice = await ChatClient.connect({ port: server.port, name: "alice" });
  assertEquals([alice.welcome.byteRate, alice.welcome.byteBurst], [50_000, 70_000]);
  alice.join("one", { history: 0 });
  alice.join("two", { history: 0 });
  alice.join("three", { history: 0 });
  assertEquals((await nextFrame(alice, "error")).code, "too_many_rooms");
  const bad = await runParley(["serve", "--max-rooms", "0"]);
  assertEquals(bad.code, 2);
  assertStringIncludes(bad.stderr, "--max-rooms");
});

Deno.test("the terminal client shows a page and says how to ask for the next", () => {
  assertEquals(parseCommand("/rooms #rust"), { type: "rooms", after: "rust" });
  assertEquals(parseCommand("/who * 1200"), { type: "who", everyone: true, after: 1200 });
  assertEquals(parseCommand("/who #rust 17"), { type: "who", room: "rust", after: 17 });
  assertEquals(parseCommand("/who #rust many").type, "invalid");
  const options = { color: false, time: false };
  const rooms = formatFrame({
    type: "rooms",
    rooms: [{ name: "a", users: 1 }, { name: "b", users: 2, topic: "bees" }],
    more: true,
    next: "b",
  }, options)!;
  assertStringIncludes(rooms.text, "#b (2) bees; more: /rooms b");
  const users = formatFrame(
    { type: "users", room: "rust", users: ["ann", "bob"], more: true, next: 17 },
    options,
  )!;
  assertStringIncludes(users.text, "in #rust (2 on this page): ann, bob; more: /who #rust 17");
  const everyone = formatFrame({ type: "users", users: ["ann"], more: true, next: 3 }, options)!;
  assertStringIncludes(everyone.text, "more: /who * 3");
  // A last page reads as a whole list did.
  assertEquals(
    formatFrame({ type: "users", room: "rust", users: ["ann", "bob"] }, options)!.text,
    "-- in #rust (2): ann, bob",
  );
});
