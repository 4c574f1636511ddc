// The chat core through its one interface to a connected peer, with no socket and no subprocess:
// in-memory peers (tests/_core.ts) on a chat with an in-memory store. Names, rooms, private
// messages, history order across a flush, moderation, byte charging and slow consumers.

import { assert, assertEquals } from "./_assert.ts";
import { Core, nextTurn } from "./_core.ts";
import { Outgoing } from "../_server/peer.ts";
import type { MessageFrame } from "../protocol.ts";

Deno.test("core: a name is taken in any case and look-alike spelling; a refused hello may be retried", async () => {
  await using core = await Core.start();
  const alice = await core.join("alice");
  assertEquals(alice.types(), ["welcome", "entered", "history"]);
  assertEquals(core.chat.userCount, 1);

  const other = core.peer("other");
  // "ALICE", "ａｌｉｃｅ" in fullwidth and "ᎪᏞᎥᏟᎬ" in Cherokee all pass for alice.
  for (
    const name of ["ALICE", "\uff41\uff4c\uff49\uff43\uff45", "\u13aa\u13de\u13a5\u13df\u13ac"]
  ) {
    await other.send({ type: "hello", name });
    const error = other.frames.at(-1)!;
    assertEquals(error.type === "error" && error.code, "name_taken", name);
  }
  await other.send({ type: "hello", name: "bad name!" });
  const invalid = other.frames.at(-1)!;
  assertEquals(invalid.type === "error" && invalid.code, "invalid_name");
  await other.send({ type: "send", text: "before hello" });
  const notJoined = other.frames.at(-1)!;
  assertEquals(notJoined.type === "error" && notJoined.code, "not_joined");

  await other.send({ type: "hello", name: "bob" });
  const welcome = other.of("welcome");
  assertEquals(welcome.length, 1);
  assertEquals(welcome[0]!.users, ["alice"]);
  assertEquals(alice.of("joined").map((frame) => frame.name), ["bob"]);
  assertEquals(core.chat.userCount, 2);
  assert(core.chat.joined(other));
  assert(!core.chat.joined(core.peer("not yet")));
});

Deno.test("core: join, part, entered and left, who and rooms", async () => {
  await using core = await Core.start();
  const alice = await core.join("alice");
  const bob = await core.join("bob");
  const mark = alice.frames.length;

  bob.send({ type: "join", room: "Rust", history: 0 });
  assertEquals(bob.of("entered").map((frame) => [frame.room, frame.users]), [
    ["lobby", ["alice"]],
    ["Rust", []],
  ]);
  alice.send({ type: "join", room: "rust" });
  const entered = alice.of("entered").at(-1)!;
  assertEquals([entered.room, entered.users], ["Rust", ["bob"]]);
  assertEquals(bob.of("joined").at(-1)!.name, "alice");
  alice.send({ type: "join", room: "RUST" });
  const again = alice.frames.at(-1)!;
  assertEquals(again.type === "error" && again.code, "already_in_room");

  alice.send({ type: "who", room: "rust" });
  assertEquals(alice.of("users").at(-1)!.users, ["bob", "alice"]);
  alice.send({ type: "rooms" });
  assertEquals(alice.of("rooms").at(-1)!.rooms.map((room) => [room.name, room.users]), [
    ["lobby", 2],
    ["Rust", 2],
  ]);

  bob.send({ type: "part", room: "rust" });
  const parted = bob.frames.at(-1)!;
  assertEquals(parted.type === "left" && [parted.room, parted.name], ["Rust", "bob"]);
  const left = alice.of("left");
  assertEquals(left.map((frame) => [frame.room, frame.name, frame.reason]), [
    ["Rust", "bob", "part"],
  ]);
  bob.send({ type: "send", room: "rust", text: "not here" });
  const notIn = bob.frames.at(-1)!;
  assertEquals(notIn.type === "error" && notIn.code, "not_in_room");
  assertEquals(alice.types(mark), ["entered", "history", "error", "users", "rooms", "left"]);

  // Leaving the server is told in every room shared, with its reason.
  alice.close("disconnected");
  assertEquals(bob.of("left").at(-1)!.reason, "disconnected");
  assertEquals(core.chat.userCount, 1);
});

Deno.test("core: a private message reaches its target only, and costs the sender its bytes", async () => {
  await using core = await Core.start();
  const alice = await core.join("alice");
  const bob = await core.join("bob");
  const carol = await core.join("carol");
  const carolBefore = carol.frames.length;

  alice.send({ type: "msg", to: "BOB", text: "psst" });
  const private_ = bob.of("private");
  assertEquals(private_.map((frame) => [frame.from, frame.to, frame.text]), [
    ["alice", "bob", "psst"],
  ]);
  assertEquals(carol.frames.length, carolBefore);
  assert(alice.charged > 256, `charged ${alice.charged}`);

  alice.send({ type: "msg", to: "nobody", text: "hello?" });
  const error = alice.frames.at(-1)!;
  assertEquals(error.type === "error" && error.code, "no_such_user");

  // The peer's byte rate says no: refused with its reason, and nothing goes on.
  alice.refuseBytes = "Slow down: test";
  alice.send({ type: "msg", to: "bob", text: "again" });
  alice.send({ type: "send", text: "to the room" });
  await nextTurn();
  assertEquals(
    alice.frames.slice(-2).map((frame) => frame.type === "error" && [frame.code, frame.message]),
    [["rate_limited", "Slow down: test"], ["rate_limited", "Slow down: test"]],
  );
  assertEquals(bob.of("private").length, 1);
  assertEquals(bob.of("message").length, 0);
});

Deno.test("core: messages pending when someone joins reach them once, through history, in order", async () => {
  await using core = await Core.start();
  const alice = await core.join("alice");
  const bob = await core.join("bob");
  const carol = await core.join("carol");
  for (const peer of [alice, carol]) peer.send({ type: "join", room: "rust" });
  const carolMark = carol.frames.length;
  const bobMark = bob.frames.length;

  // All in one turn: two messages still pending when bob enters the room, one after.
  alice.send({ type: "send", room: "rust", text: "one" });
  alice.send({ type: "send", room: "rust", text: "two" });
  bob.send({ type: "join", room: "rust" });
  alice.send({ type: "send", room: "rust", text: "three" });
  await nextTurn();

  // His entering stored and delivered the first two before he was in: he has them from
  // history, once, and the third live.
  assertEquals(bob.types(bobMark), ["entered", "history", "message"]);
  assertEquals(bob.of("history").at(-1)!.messages.map((message) => message.text), ["one", "two"]);
  assertEquals(bob.of("message").map((frame) => frame.text), ["three"]);
  // Carol saw both live, then bob join, then the third: events in the order they happened.
  assertEquals(
    carol.frames.slice(carolMark).map((frame) =>
      frame.type === "message" ? frame.text : frame.type
    ),
    ["one", "two", "joined", "three"],
  );
  // The sender is not sent its own; ids rise.
  assertEquals(alice.of("message").length, 0);
  const ids = carol.of("message").map((frame) => frame.id);
  assertEquals(ids, ids.toSorted((a, b) => a - b));

  // The same for one who arrives on the server: his `hello` takes a password check, and he is
  // in the default room before the turn's messages are delivered.
  alice.send({ type: "send", text: "four" });
  const dave = core.peer("dave");
  const hello = dave.send({ type: "hello", name: "dave" });
  alice.send({ type: "send", text: "five" });
  await hello;
  await nextTurn();
  const daveTexts = [
    ...dave.of("history").flatMap((frame) => frame.messages.map((message) => message.text)),
    ...dave.of("message").map((frame) => frame.text),
  ];
  assertEquals(daveTexts, ["four", "five"]);

  // A history request stores what is pending first, so the answer has it.
  alice.send({ type: "send", text: "six" });
  alice.send({ type: "history", room: "lobby", limit: 2 });
  assertEquals(alice.of("history").at(-1)!.messages.map((message) => message.text), [
    "five",
    "six",
  ]);
  await nextTurn();
  assertEquals(carol.of("message").map((frame) => frame.text), [
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
  ]);
});

Deno.test("core: a run of messages to a room is encoded once for all; senders get the others one by one", async () => {
  await using core = await Core.start();
  const alice = await core.join("alice");
  const bob = await core.join("bob");
  const carol = await core.join("carol");
  const dave = await core.join("dave");
  const marks = [alice, bob, carol, dave].map((peer) => peer.deliveries.length);

  alice.send({ type: "send", text: "a1" });
  bob.send({ type: "send", text: "b1" });
  alice.send({ type: "send", text: "a2" });
  await nextTurn();

  const carolRun = carol.deliveries.slice(marks[2]);
  const daveRun = dave.deliveries.slice(marks[3]);
  assertEquals(carolRun.length, 1);
  assert(carolRun[0] === daveRun[0], "one Outgoing for every member who sent nothing");
  assert(carolRun[0]!.bytes === daveRun[0]!.bytes, "and one buffer");
  const texts = (out: Outgoing) => out.frames.map((frame) => (frame as MessageFrame).text);
  assertEquals(texts(carolRun[0]!), ["a1", "b1", "a2"]);
  assertEquals(carolRun[0]!.texts.map((text) => JSON.parse(text).text), ["a1", "b1", "a2"]);
  assertEquals(alice.deliveries.slice(marks[0]).map(texts), [["b1"]]);
  assertEquals(bob.deliveries.slice(marks[1]).map(texts), [["a1"], ["a2"]]);
  const bytes = new TextDecoder().decode(carolRun[0]!.bytes);
  assertEquals(bytes.split("\n").length, 4);
  assertEquals(Outgoing.join([Outgoing.of({ type: "pong" })]).frames, [{ type: "pong" }]);
});

Deno.test("core: an operator kicks and bans; others may not", async () => {
  await using core = await Core.start({ operators: { op: "operator password" } });
  const op = await core.join("op", { password: "operator password" });
  assertEquals(op.of("welcome")[0]!.operator, true);
  const bob = await core.join("bob", { ip: "198.51.100.7" });
  const carol = await core.join("carol", { ip: "198.51.100.8" });

  carol.send({ type: "kick", name: "bob" });
  const refused = carol.frames.at(-1)!;
  assertEquals(refused.type === "error" && refused.code, "not_operator");
  assertEquals(bob.closed, undefined);

  op.send({ type: "kick", name: "BOB", reason: "testing" });
  assertEquals(bob.closed, { reason: "kicked", message: "Kicked by op: testing" });
  assertEquals(carol.of("left").at(-1)!.reason, "kicked");
  assertEquals(op.of("notice").at(-1)!.text, "Kicked bob (testing)");

  // A name ban closes its holder and keeps the name out.
  op.send({ type: "ban", target: "carol", reason: "more testing" });
  assertEquals(carol.closed?.reason, "banned");
  const again = core.peer("carol again", "198.51.100.9");
  await again.send({ type: "hello", name: "Carol" });
  assertEquals(again.closed?.reason, "banned");
  assertEquals(again.of("welcome").length, 0);

  // An address ban closes everyone at the address, whatever their name.
  const dan = await core.join("dan", { ip: "203.0.113.5" });
  const eve = await core.join("eve", { ip: "203.0.113.5" });
  op.send({ type: "ban", target: "203.0.113.0/24" });
  assertEquals([dan.closed?.reason, eve.closed?.reason], ["banned", "banned"]);
  op.send({ type: "unban", target: "203.0.113.0/24" });
  assertEquals(op.of("notice").at(-1)!.text, "Unbanned 203.0.113.0/24");
  await core.join("dan", { ip: "203.0.113.5" });

  op.send({ type: "stats" });
  const stats = op.of("stats").at(-1)!;
  assertEquals([stats.users, stats.rooms], [core.chat.userCount, 1]);
  assertEquals(stats.connections, core.peers.filter((peer) => !peer.closed).length);
  assertEquals(core.chat.userCount, 2);
});

Deno.test("core: a peer that falls behind is closed as a slow consumer, and the others are told", async () => {
  await using core = await Core.start();
  const alice = await core.join("alice");
  const bob = await core.join("bob");
  const carol = await core.join("carol");

  // Through the fan-out of a room message.
  bob.full = true;
  alice.send({ type: "send", text: "hello all" });
  await nextTurn();
  assertEquals(bob.closed?.reason, "slow_consumer");
  assertEquals(carol.of("message").map((frame) => frame.text), ["hello all"]);
  const left = carol.of("left").at(-1)!;
  assertEquals([left.name, left.reason], ["bob", "slow_consumer"]);
  assertEquals(core.chat.userCount, 2);

  // Through a single frame.
  carol.full = true;
  alice.send({ type: "msg", to: "carol", text: "psst" });
  assertEquals(carol.closed?.reason, "slow_consumer");
  assertEquals(alice.of("left").map((frame) => frame.name), ["bob", "carol"]);
  assertEquals(core.chat.userCount, 1);
});

Deno.test("core: a peer that leaves while its password is checked is not welcomed", async () => {
  await using core = await Core.start({ operators: { op: "operator password" } });
  const watcher = await core.join("watcher");
  const op = core.peer("op");
  const checking = op.send({ type: "hello", name: "op", password: "operator password" });
  assert(checking instanceof Promise, "the password check takes time");
  op.close("disconnected");
  await checking;
  assertEquals(op.types(), []);
  assertEquals(core.chat.userCount, 1);
  assertEquals(watcher.of("joined").length, 0);
  assert(!core.chat.joined(op));
});
