import { assert, assertEquals, assertLess, assertRejects } from "./_assert.ts";
import { ChatClient, ChatError } from "../client.ts";
import type { MessageFrame, ServerFrame } from "../protocol.ts";
import { deadline, framesUntil, join, nextFrame, RawPeer, startServer } from "./_helpers.ts";

Deno.test("50 clients: every message reaches every other client once, in order", async () => {
  await using server = startServer();
  const count = 50;
  const perClient = 20;
  const clients = await Promise.all(
    Array.from({ length: count }, (_, i) => join(server, `user${i}`)),
  );
  // Everyone is in: drain the join notices each client got for those after it.
  const received = clients.map(() => [] as MessageFrame[]);
  const expected = (count - 1) * perClient;
  const readers = clients.map((client, i) =>
    framesUntil(
      client,
      (frame) => {
        if (frame.type === "message") received[i]!.push(frame);
        return received[i]!.length === expected;
      },
      20_000,
      `all ${expected} messages to user${i}`,
      { keep: false },
    )
  );
  clients.forEach((client, i) => {
    for (let n = 0; n < perClient; n++) client.send(`${i}:${n}`);
  });
  await Promise.all(readers);
  const ids = new Set<number>();
  received.forEach((frames, i) => {
    const bySender = new Map<string, number[]>();
    for (const frame of frames) {
      const [sender, n] = frame.text.split(":");
      assertEquals(frame.from, `user${sender}`, "from is the sender's name");
      assert(frame.from !== `user${i}`, "a sender gets no copy");
      bySender.set(frame.from, [...bySender.get(frame.from) ?? [], Number(n)]);
      ids.add(frame.id);
    }
    assertEquals(bySender.size, count - 1);
    for (const numbers of bySender.values()) {
      assertEquals(numbers, Array.from({ length: perClient }, (_, n) => n), "per-sender order");
    }
  });
  assertEquals(ids.size, count * perClient, "one id per message");
  await Promise.all(clients.map((client) => client.quit()));
});

Deno.test("message frames carry server-set ids and timestamps", async () => {
  await using server = startServer();
  await using alice = await join(server, "alice");
  await using bob = await join(server, "bob");
  await nextFrame(alice, "joined");
  const before = Date.now();
  alice.send("one");
  alice.send("two");
  const first = await nextFrame(bob, "message");
  const second = await nextFrame(bob, "message");
  assertEquals([first.from, first.text, second.text], ["alice", "one", "two"]);
  assertLess(first.id, second.id);
  assert(first.ts.endsWith("Z") && Date.parse(first.ts) >= before - 1000);
});

Deno.test("joins and leaves are announced with their reasons", async () => {
  await using server = startServer();
  await using alice = await join(server, "alice");
  const bob = await join(server, "bob");
  assertEquals(bob.welcome.users, ["alice"]);
  assertEquals((await nextFrame(alice, "joined")).name, "bob");
  await bob.quit();
  const quit = await nextFrame(alice, "left");
  assertEquals([quit.name, quit.reason], ["bob", "quit"]);

  const carol = await join(server, "carol");
  await nextFrame(alice, "joined");
  carol.close();
  const gone = await nextFrame(alice, "left");
  assertEquals([gone.name, gone.reason], ["carol", "disconnected"]);
});

Deno.test("a half-typed frame from a client that dies is dropped; the others carry on", async () => {
  await using server = startServer();
  await using alice = await join(server, "alice");
  const peer = await RawPeer.connect(server);
  assertEquals((await peer.hello("mallory")).type, "welcome");
  await nextFrame(alice, "joined");
  await peer.write('{"type":"send","text":"never fin');
  peer.close();
  const left = await nextFrame(alice, "left");
  assertEquals([left.name, left.reason], ["mallory", "disconnected"]);
  await using bob = await join(server, "bob");
  bob.send("still here");
  assertEquals((await nextFrame(alice, "message")).text, "still here");
});

Deno.test("names are checked and unique regardless of case; a refused hello may be retried", async () => {
  await using server = startServer();
  await using alice = await join(server, "Alice");
  await using peer = await RawPeer.connect(server);
  for (
    const [name, code] of [["ALICE", "name_taken"], ["bad name", "invalid_name"], [
      "",
      "invalid_name",
    ], ["x".repeat(33), "invalid_name"]]
  ) {
    const answer = await peer.hello(name!);
    assertEquals([answer.type, answer.code], ["error", code], name);
  }
  const welcome = await peer.hello("bob");
  assertEquals([welcome.type, welcome.name, welcome.users], ["welcome", "bob", ["Alice"]]);
  assertEquals(welcome.maxFrameBytes, 65536);
  assert(String(welcome.server).startsWith("parley/"));
  assertEquals((await peer.hello("carol")).code, "already_joined");
  await assertRejects(() => join(server, "alice"), ChatError, "taken");
  assertEquals(alice.name, "Alice");
});

Deno.test("one user over --max-users gets server_full and is closed", async () => {
  await using server = startServer({ maxUsers: 2 });
  await using _alice = await join(server, "alice");
  await using _bob = await join(server, "bob");
  await using peer = await RawPeer.connect(server);
  const answer = await peer.hello("carol");
  assertEquals([answer.type, answer.code], ["error", "server_full"]);
  assertEquals(await peer.untilClosed(), []);
  const error = await assertRejects(() => join(server, "dave"), ChatError);
  assertEquals((error as ChatError).code, "server_full");
});

Deno.test("a frame written one byte at a time, and ten frames in one write", async () => {
  await using server = startServer();
  await using alice = await join(server, "alice");
  await using peer = await RawPeer.connect(server);
  for (const byte of new TextEncoder().encode('{"type":"hello","name":"bytewise"}\n')) {
    await peer.write(new Uint8Array([byte]));
  }
  assertEquals((await peer.frame()).type, "welcome");
  await peer.write(
    Array.from({ length: 10 }, (_, i) => JSON.stringify({ type: "send", text: `m${i}` }) + "\n")
      .join(""),
  );
  let count = 0;
  const texts = (await framesUntil(
    alice,
    (frame) => frame.type === "message" && ++count === 10,
    5000,
    "the ten messages",
  )).flatMap((frame) => frame.type === "message" ? [frame.text] : []);
  assertEquals(texts, Array.from({ length: 10 }, (_, i) => `m${i}`));
});

Deno.test("a 60 KiB multi-line message with emoji arrives byte-identical", async () => {
  await using server = startServer();
  await using alice = await join(server, "alice");
  await using bob = await join(server, "bob");
  const line = "Grüße 😀 日本語, one line of a long multi-line message\n";
  const text = line.repeat(Math.floor(60 * 1024 / new TextEncoder().encode(line).length));
  alice.send(text);
  const message = await nextFrame(bob, "message");
  assertEquals(message.text, text);
  assert(new TextEncoder().encode(message.text).length > 59 * 1024);
});

Deno.test("a 1 MiB line gets frame_too_large, then the connection closes", async () => {
  await using server = startServer();
  await using alice = await join(server, "alice");
  await using peer = await RawPeer.connect(server);
  await peer.hello("big");
  const writing = peer.write("x".repeat(1024 * 1024)).catch(() => {});
  const frames = await peer.untilClosed();
  await writing;
  assertEquals(frames.map((frame) => frame.code), ["frame_too_large"]);
  const left = await nextFrame(alice, "left");
  assertEquals([left.name, left.reason], ["big", "frame_too_large"]);
});

Deno.test("malformed input gets an error and the connection stays usable", async () => {
  await using server = startServer();
  await using peer = await RawPeer.connect(server);
  const cases: [string | Uint8Array, string][] = [
    [new Uint8Array([0xff, 0xfe, 0x0a]), "invalid_utf8"],
    ["not json\n", "invalid_json"],
    ["[1,2]\n", "invalid_frame"],
    ['{"kind":"send"}\n', "invalid_frame"],
    ['{"type":"dance"}\n', "unknown_type"],
    ['{"type":"send","text":"too early"}\n', "not_joined"],
    ['{"type":"hello","name":"x","protocol":2}\n', "unsupported_protocol"],
    ['{"type":"hello","name":["x"]}\n', "invalid_frame"],
  ];
  for (const [input, code] of cases) {
    await peer.write(input);
    const answer = await peer.frame();
    assertEquals([answer.type, answer.code], ["error", code], String(input));
    assertEquals(typeof answer.message, "string");
  }
  await peer.write("\n\r\n   \n");
  assertEquals((await peer.hello("survivor")).type, "welcome");
  for (const text of ["", "   ", "\n"]) {
    await peer.send({ type: "send", text });
    assertEquals((await peer.frame()).code, "invalid_text");
  }
  await peer.send({ type: "ping", id: "still-there" });
  assertEquals(await peer.frame(), { type: "pong", id: "still-there" });
});

Deno.test("ping is answered with the same id, before and after hello", async () => {
  await using server = startServer();
  await using peer = await RawPeer.connect(server);
  for (const id of [1, "a", null, true, 2.5]) {
    await peer.send({ type: "ping", id });
    assertEquals(await peer.frame(), { type: "pong", id });
  }
  await peer.send({ type: "ping" });
  assertEquals(await peer.frame(), { type: "pong" });
  await using client = await join(server, "pinger");
  assertLess(await client.ping(), 1000);
});

Deno.test("IPv6: a server on ::1 serves clients", async () => {
  await using server = startServer({ hostname: "::1" });
  assertEquals(server.addr.hostname, "::1");
  await using alice = await ChatClient.connect({
    hostname: "::1",
    port: server.addr.port,
    name: "alice",
  });
  await using bob = await ChatClient.connect({
    hostname: "::1",
    port: server.addr.port,
    name: "bob",
  });
  alice.send("over v6");
  assertEquals((await nextFrame(bob, "message")).text, "over v6");
});

Deno.test("shutdown tells every client server_shutdown and closes", async () => {
  const server = startServer();
  const peers = await Promise.all([1, 2, 3].map(() => RawPeer.connect(server)));
  for (const [i, peer] of peers.entries()) await peer.hello(`user${i}`);
  await peers[0]!.frame(); // user1 joined
  await peers[0]!.frame(); // user2 joined
  await peers[1]!.frame(); // user2 joined
  const shutdown = server.shutdown();
  for (const peer of peers) {
    const frames = await peer.untilClosed();
    assertEquals(frames.map((frame) => frame.code), ["server_shutdown"]);
    peer.close();
  }
  await deadline(shutdown, 5000, "shutdown");
  await server.shutdown(); // twice is harmless
  await assertRejects(() => join(server, "late"), Deno.errors.ConnectionRefused);
});

Deno.test("a client that stops reading is dropped as a slow consumer; the others get everything", async () => {
  await using server = startServer({ maxQueueBytes: 1024 * 1024, rate: 0 });
  await using alice = await join(server, "alice");
  await using bob = await join(server, "bob");
  await using sleeper = await RawPeer.connect(server);
  await sleeper.hello("sleeper");
  await nextFrame(alice, "joined");
  await nextFrame(alice, "joined");
  const text = "z".repeat(10_000);
  const total = 2000; // 20 MB: far more than the socket buffers and the queue hold
  let got = 0;
  let left: ServerFrame | undefined;
  const reading = framesUntil(
    bob,
    (frame) => {
      if (frame.type === "message") got++;
      if (frame.type === "left") left = frame;
      return got === total && left !== undefined;
    },
    20_000,
    `all ${total} messages and the sleeper's leaving`,
    { keep: false },
  );
  for (let i = 0; i < total; i++) {
    alice.send(text);
    if (i % 20 === 0) await alice.ping(); // keep bob, who reads, well within his queue
  }
  await reading;
  assertEquals(got, total);
  assertEquals(left && left.type === "left" && [left.name, left.reason], [
    "sleeper",
    "slow_consumer",
  ]);
});

Deno.test("who lists everyone present, the asker included", async () => {
  await using server = startServer();
  await using alice = await join(server, "alice");
  await using _bob = await join(server, "bob");
  alice.who();
  assertEquals((await nextFrame(alice, "users")).users, ["alice", "bob"]);
  await using peer = await RawPeer.connect(server);
  await peer.send({ type: "who" });
  assertEquals((await peer.frame()).code, "not_joined");
});

Deno.test("nick renames: everyone sees it, the old name is free, rules apply", async () => {
  await using server = startServer();
  await using alice = await join(server, "alice");
  await using bob = await join(server, "bob");
  await nextFrame(alice, "joined");
  bob.rename("robert");
  for (const client of [alice, bob]) {
    const renamed = await nextFrame(client, "renamed");
    assertEquals([renamed.from, renamed.to], ["bob", "robert"]);
  }
  assertEquals(bob.name, "robert");
  bob.send("hi");
  assertEquals((await nextFrame(alice, "message")).from, "robert");
  bob.rename("ALICE");
  assertEquals((await nextFrame(bob, "error")).code, "name_taken");
  bob.rename("no spaces allowed");
  assertEquals((await nextFrame(bob, "error")).code, "invalid_name");
  bob.rename("Robert"); // a change of case is the same name, and allowed
  assertEquals((await nextFrame(alice, "renamed")).to, "Robert");
  await using newBob = await join(server, "bob");
  assertEquals(newBob.welcome.users, ["alice", "Robert"]);
});

Deno.test("actions arrive marked as actions", async () => {
  await using server = startServer();
  await using alice = await join(server, "alice");
  await using bob = await join(server, "bob");
  alice.send("waves", { action: true });
  alice.send("plain");
  const action = await nextFrame(bob, "message");
  assertEquals([action.text, action.action], ["waves", true]);
  const plain = await nextFrame(bob, "message");
  assertEquals([plain.text, plain.action], ["plain", undefined]);
});
