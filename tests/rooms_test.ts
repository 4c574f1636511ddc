import { assert, assertEquals } from "./_assert.ts";
import type { ChatClient } from "../client.ts";
import type { MessageFrame, ServerFrame } from "../protocol.ts";
import { framesUntil, join, nextFrame, RawPeer, startServer } from "./_helpers.ts";

/** Collects frames of `type` from `client` until `done` says stop. */
async function collect<T extends ServerFrame["type"]>(
  client: ChatClient,
  type: T,
  done: (frames: Extract<ServerFrame, { type: T }>[]) => boolean,
  ms = 15_000,
): Promise<Extract<ServerFrame, { type: T }>[]> {
  const frames: Extract<ServerFrame, { type: T }>[] = [];
  if (done(frames)) return frames;
  await framesUntil(
    client,
    (frame) => {
      if (frame.type !== type) return false;
      frames.push(frame as Extract<ServerFrame, { type: T }>);
      return done(frames);
    },
    ms,
    `"${type}" frames`,
    { keep: false },
  );
  return frames;
}

Deno.test("20 rooms of 10: no message leaves its room; members of two rooms get both", async () => {
  await using server = startServer({ maxConnectionsPerIp: 300 });
  const rooms = Array.from({ length: 20 }, (_, r) => `room${r}`);
  const members: ChatClient[][] = [];
  for (const [r, room] of rooms.entries()) {
    members.push(
      await Promise.all(Array.from({ length: 10 }, async (_, m) => {
        const client = await join(server, `r${r}m${m}`);
        client.join(room, { history: 0 });
        await nextFrame(client, "entered", (frame) => frame.room === room);
        return client;
      })),
    );
  }
  // r0m0 is in room0 and room1 as well.
  const bridge = members[0]![0]!;
  bridge.join("room1", { history: 0 });
  await nextFrame(bridge, "entered", (frame) => frame.room === "room1");
  // Everyone has entered: start counting from a ping round trip on each, so no earlier
  // joined notices are mistaken for traffic.
  await Promise.all(members.flat().map((client) => client.ping()));

  const perMember = 3;
  for (const [r, room] of rooms.entries()) {
    for (const [m, client] of members[r]!.entries()) {
      for (let n = 0; n < perMember; n++) client.send(`${room}:${m}:${n}`, { room });
    }
  }
  await Promise.all(
    members.flat().map(async (client) => {
      const isBridge = client === bridge;
      const [, r] = client.name.match(/^r(\d+)m/)!;
      // From the 9 others in their room; the bridge also gets all 10 of room1's members.
      const want = 9 * perMember + (isBridge ? 10 * perMember : 0);
      const received = await collect(client, "message", (frames) => frames.length >= want);
      for (const message of received) {
        const [room] = message.text.split(":");
        assertEquals(message.room, room, "a message names its room");
        if (isBridge) assert(room === "room0" || room === "room1", message.text);
        else assertEquals(room, `room${r}`, `${client.name} got ${message.text}`);
      }
      if (isBridge) {
        assertEquals(received.filter((m) => m.room === "room1").length, 10 * perMember);
      }
    }),
  );
  await Promise.all(members.flat().map((client) => client.quit()));
});

Deno.test("join, part, rooms, who and topic", async () => {
  await using server = startServer();
  await using alice = await join(server, "alice");
  await using bob = await join(server, "bob");
  assertEquals(alice.rooms, new Set(["lobby"]));
  alice.join("Rust");
  const entered = await nextFrame(alice, "entered", (frame) => frame.room !== "lobby");
  assertEquals([entered.room, entered.users, entered.topic], ["Rust", [], undefined]);
  bob.join("rust"); // the same room: names fold
  assertEquals((await nextFrame(bob, "entered", (frame) => frame.room !== "lobby")).room, "Rust");
  const joined = await nextFrame(alice, "joined");
  assertEquals([joined.room, joined.name], ["Rust", "bob"]);

  alice.setTopic("rust", "Ferris & friends");
  const setAt: string[] = [];
  for (const client of [alice, bob]) {
    const topic = await nextFrame(client, "topic");
    assertEquals([topic.room, topic.topic, topic.by], ["Rust", "Ferris & friends", "alice"]);
    setAt.push(topic.ts);
  }
  alice.listRooms();
  assertEquals((await nextFrame(alice, "rooms")).rooms, [
    { name: "lobby", users: 2 },
    { name: "Rust", users: 2, topic: "Ferris & friends" },
  ]);
  alice.who("rust");
  assertEquals(await nextFrame(alice, "users"), {
    type: "users",
    room: "Rust",
    users: ["alice", "bob"],
  });

  bob.part("rust");
  const parted = await nextFrame(bob, "left");
  assertEquals([parted.room, parted.name, parted.reason], ["Rust", "bob", "part"]);
  assertEquals((await nextFrame(alice, "left")).reason, "part");
  assertEquals(bob.rooms, new Set(["lobby"]));
  bob.send("into the void", { room: "rust" });
  assertEquals((await nextFrame(bob, "error")).code, "not_in_room");
  bob.join("rust");
  // Entering again, the topic comes with who set it and when.
  const again = await nextFrame(bob, "entered", (f) => f.room === "Rust");
  assertEquals(
    [again.topic, again.topicBy, again.topicTs],
    ["Ferris & friends", "alice", setAt[0]],
  );
  bob.join("rust");
  assertEquals((await nextFrame(bob, "error")).code, "already_in_room");
  bob.join("no spaces");
  assertEquals((await nextFrame(bob, "error")).code, "invalid_room");
  bob.who("nowhere");
  assertEquals((await nextFrame(bob, "error")).code, "no_such_room");
});

Deno.test("a fixed set of rooms refuses others", async () => {
  await using server = startServer({ rooms: ["general", "random"], defaultRoom: "general" });
  await using alice = await join(server, "alice");
  assertEquals(alice.welcome.room, "general");
  alice.join("random");
  assertEquals(
    (await nextFrame(alice, "entered", (frame) => frame.room !== "general")).room,
    "random",
  );
  alice.join("secret");
  assertEquals((await nextFrame(alice, "error")).code, "no_such_room");
  alice.listRooms();
  assertEquals((await nextFrame(alice, "rooms")).rooms.map((room) => room.name), [
    "general",
    "random",
  ]);
});

Deno.test("private messages reach only their target, with or without a shared room", async () => {
  await using server = startServer();
  await using alice = await join(server, "alice");
  await using bob = await join(server, "bob");
  await using eve = await join(server, "eve");
  bob.part("lobby");
  await nextFrame(bob, "left");
  alice.msg("BOB", "just between us");
  const received = await nextFrame(bob, "private");
  assertEquals([received.from, received.to, received.text], ["alice", "bob", "just between us"]);
  alice.msg("nobody", "hello?");
  assertEquals((await nextFrame(alice, "error")).code, "no_such_user");
  // eve saw nothing of it: the next thing she gets is what is sent after.
  alice.send("public");
  const next = await collect(eve, "message", (frames) => frames.length === 1);
  assertEquals(next.map((frame) => frame.text), ["public"]);
  eve.who();
  assertEquals((await nextFrame(eve, "users")).users.sort(), ["alice", "bob", "eve"]);
});

Deno.test("leaving the server is announced in each room the user was in", async () => {
  await using server = startServer();
  await using alice = await join(server, "alice");
  const bob = await join(server, "bob");
  for (const client of [alice, bob]) {
    client.join("side", { history: 0 });
    await nextFrame(client, "entered", (frame) => frame.room === "side");
  }
  await bob.quit();
  const lefts = await collect(alice, "left", (frames) => frames.length === 2);
  assertEquals(lefts.map((left) => [left.room, left.reason]).sort(), [["lobby", "quit"], [
    "side",
    "quit",
  ]]);
});

Deno.test("renames reach those who share a room, and no one else", async () => {
  await using server = startServer();
  await using alice = await join(server, "alice");
  await using bob = await join(server, "bob");
  await using loner = await join(server, "loner");
  loner.part("lobby");
  await nextFrame(loner, "left");
  bob.rename("robert");
  assertEquals((await nextFrame(alice, "renamed")).to, "robert");
  assertEquals((await nextFrame(bob, "renamed")).to, "robert");
  alice.rename("alicia");
  const seen = await collect(loner, "renamed", () => false, 300).catch(() => []);
  assertEquals(seen, []);
});

Deno.test("messages to two rooms in one write reach each member in order, and not their sender", async () => {
  await using server = startServer();
  await using writer = await RawPeer.connect(server);
  await writer.hello("writer");
  for (const room of ["a", "b"]) {
    await writer.send({ type: "join", room, history: 0 });
    assertEquals((await writer.frame()).type, "entered");
  }
  const both = await join(server, "both");
  const onlyA = await join(server, "onlyA");
  for (const room of ["a", "b"]) {
    both.join(room, { history: 0 });
    await nextFrame(both, "entered", (frame) => frame.room === room);
  }
  onlyA.join("a", { history: 0 });
  await nextFrame(onlyA, "entered", (frame) => frame.room === "a");
  await Promise.all([both.ping(), onlyA.ping()]);

  // One write, so the server stores and sends them together.
  const rooms = ["a", "b", "b", "a", "a", "b", "a"];
  await writer.write(
    rooms.map((room, n) => JSON.stringify({ type: "send", room, text: `${room}${n}` }) + "\n")
      .join(""),
  );
  const toBoth = await collect(both, "message", (frames) => frames.length === rooms.length);
  assertEquals(toBoth.map((message) => message.text), rooms.map((room, n) => `${room}${n}`));
  assertEquals(toBoth.map((message) => message.id), toBoth.map((message) => message.id).sort());
  const toA = await collect(onlyA, "message", (frames) => frames.length === 4);
  assertEquals(toA.map((message) => message.text), ["a0", "a3", "a4", "a6"]);
  await writer.send({ type: "ping", id: "after" });
  for (let frame = await writer.frame(); frame.type !== "pong"; frame = await writer.frame()) {
    assert(frame.type !== "message", `the sender got ${JSON.stringify(frame)}`);
  }
  await Promise.all([both.quit(), onlyA.quit()]);
});

Deno.test("a raw peer can use rooms with plain JSON lines", async () => {
  await using server = startServer();
  await using peer = await RawPeer.connect(server);
  await peer.hello("raw");
  await peer.send({ type: "join", room: "ops", history: 0 });
  assertEquals(await peer.frame(), { type: "entered", room: "ops", users: [] });
  await peer.send({ type: "send", room: "ops", text: "deploying" });
  await using watcher = await join(server, "watcher");
  watcher.join("ops");
  const history = await nextFrame(watcher, "history", (frame) => frame.room === "ops");
  assertEquals(history.messages.map((message: MessageFrame | { text: string }) => message.text), [
    "deploying",
  ]);
});

Deno.test("a large room announces no joins and leaves, and lists a bounded number on entering", async () => {
  const { LARGE_ROOM } = await import("../_server/chat.ts");
  await using server = startServer({ maxConnectionsPerIp: LARGE_ROOM + 10, rate: 0 });
  const members = [];
  for (let i = 0; i < LARGE_ROOM; i++) members.push(await join(server, `m${i}`));
  const first = members[0]!;
  await first.ping();
  // m0 heard of the others joining while the room was small…
  let joins = 0;
  let lefts = 0;
  const counting = framesUntil(
    first,
    (frame) => {
      if (frame.type === "joined") joins++;
      if (frame.type === "left") lefts++;
      return frame.type === "message";
    },
    10_000,
    "extra's message",
    { keep: false },
  );
  // …but not of one more, nor of anyone leaving now.
  await using extra = await join(server, "extra");
  assertEquals(extra.welcome.users.length, LARGE_ROOM);
  await members.at(-1)!.quit();
  extra.send("after");
  await counting;
  assertEquals([joins, lefts], [LARGE_ROOM - 1, 0]);
  extra.who("lobby");
  assertEquals((await nextFrame(extra, "users")).users.length, LARGE_ROOM);
  for (const member of members) member.close();
});
