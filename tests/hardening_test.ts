// Fault tests: clients that stop reading, flood, vanish without a FIN, never say hello, open
// too many connections, and a shutdown in the middle of traffic.

import { assert, assertEquals, assertGreater, assertLess } from "./_assert.ts";
import { ChatClient } from "../client.ts";
import {
  deadline,
  framesUntil,
  join,
  nextFrame,
  ParleyProcess,
  RawPeer,
  rssKiB,
  serveProcess,
  startServer,
} from "./_helpers.ts";

const MiB = 1024 * 1024;

function rss(pid: number): number {
  return rssKiB(pid) * 1024;
}

/** Waits until `check` holds, polling; fails after `ms`. */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  await deadline(
    (async () => {
      while (!check()) await new Promise((resolve) => setTimeout(resolve, 10));
    })(),
    ms,
    what,
  );
}

Deno.test({
  name: "one client stops reading: 20 others get all 20,000 messages, memory stays bounded",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using server = await serveProcess(["--rate", "0"]);
    const port = server.port;
    const before = rss(server.child.pid);
    await using sleeper = await RawPeer.connect(port);
    await sleeper.hello("sleeper");
    const readers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => ChatClient.connect({ port, name: `reader${i}` })),
    );
    const sender = await ChatClient.connect({ port, name: "sender" });
    const total = 20_000;
    const text = "x".repeat(200);
    let peak = before;
    const counts = readers.map(() => 0);
    let dropped: unknown;
    const reading = readers.map((reader, i) =>
      framesUntil(
        reader,
        (frame) => {
          if (frame.type === "message") counts[i]!++;
          if (frame.type === "left" && frame.name === "sleeper") dropped ??= frame.reason;
          return counts[i] === total;
        },
        60_000,
        `all ${total} messages to reader${i}`,
        { keep: false },
      )
    );
    for (let i = 0; i < total; i++) {
      sender.send(`${i} ${text}`);
      if (i % 200 === 0) {
        await sender.ping();
        peak = Math.max(peak, rss(server.child.pid));
      }
    }
    await Promise.all(reading);
    peak = Math.max(peak, rss(server.child.pid));
    assertEquals(counts, readers.map(() => total));
    assertEquals(dropped, "slow_consumer");
    // 22 connections with queues of at most 1 MiB each, plus the runtime's own growth.
    assertLess(peak - before, 64 * MiB, `RSS grew by ${((peak - before) / MiB).toFixed(1)} MiB`);
    for (const client of [...readers, sender]) await client.quit();
  },
});

Deno.test("a flood gets rate_limited, the others see at most the allowed rate, then it is cut off", async () => {
  await using server = startServer({ rate: 20, burst: 30 });
  await using watcher = await join(server, "watcher");
  // A raw socket: ChatClient paces itself to the server's limit and would never flood.
  await using flooder = await RawPeer.connect(server);
  await flooder.hello("flooder");
  await nextFrame(watcher, "joined");
  const started = performance.now();
  let received = 0;
  const watching = framesUntil(
    watcher,
    (frame) => {
      if (frame.type === "message") received++;
      return frame.type === "left" && frame.name === "flooder";
    },
    10_000,
    "the flooder to be cut off",
  );
  const flood = Array.from({ length: 10_000 }, (_, i) => `{"type":"send","text":"spam ${i}"}\n`);
  await flooder.write(flood.join("")).catch(() => {});
  const last = (await watching).at(-1);
  const cutOff = last?.type === "left" ? last.reason : undefined;
  const elapsed = (performance.now() - started) / 1000;
  const answers = await flooder.untilClosed();
  assertEquals(cutOff, "rate_limited");
  assertGreater(answers.filter((frame) => frame.code === "rate_limited").length, 1);
  assertLess(received, 30 + 20 * elapsed + 1, `${received} messages in ${elapsed.toFixed(2)} s`);
  // The watcher never stopped being served.
  assertLess(await watcher.ping(), 500);
});

Deno.test("a client paces itself to the server's limit and is never refused", async () => {
  await using server = startServer({ rate: 50, burst: 10 });
  await using alice = await join(server, "alice");
  await using bob = await join(server, "bob");
  for (let i = 0; i < 60; i++) alice.send(`line ${i}`);
  let count = 0;
  const texts = (await framesUntil(
    bob,
    (frame) => frame.type === "message" && ++count === 60,
    10_000,
    "all 60 lines",
  )).flatMap((frame) => frame.type === "message" ? [frame.text] : []);
  assertEquals(texts, Array.from({ length: 60 }, (_, i) => `line ${i}`));
  alice.who();
  const answers = await framesUntil(alice, (frame) => frame.type === "users", 5000, "who's answer");
  assertEquals(answers.filter((frame) => frame.type === "error"), []);
});

Deno.test("a typist and a multi-line paste stay well within the default limits", async () => {
  await using server = startServer();
  await using alice = await join(server, "alice");
  await using bob = await join(server, "bob");
  const lines = Array.from({ length: 10 }, (_, i) => `quick line ${i}`);
  const paste = Array.from({ length: 500 }, (_, i) => `pasted line ${i}`).join("\n");
  for (const line of lines) alice.send(line);
  alice.send(paste);
  let messages = 0;
  const frames = await framesUntil(
    bob,
    (frame) => frame.type === "message" && ++messages === 11,
    10_000,
    "the 10 lines and the paste",
  );
  assertEquals(frames.flatMap((frame) => frame.type === "message" ? [frame.text] : []), [
    ...lines,
    paste,
  ]);
  // Nor was alice refused anything before her `who` was answered.
  alice.who();
  const answers = await framesUntil(alice, (frame) => frame.type === "users", 5000, "who's answer");
  assertEquals(answers.filter((frame) => frame.type === "error"), []);
});

Deno.test({
  name: "a client paused with SIGSTOP is found silent and reported left with reason timeout",
  ignore: Deno.build.os === "windows",
  async fn() {
    await using server = startServer({ pingIntervalMs: 200, pingTimeoutMs: 300 });
    await using watcher = await join(server, "watcher");
    await using frozen = new ParleyProcess(
      ["connect", `127.0.0.1:${server.addr.port}`, "--name", "frozen"],
      { stdin: "piped" },
    );
    await nextFrame(watcher, "joined", (frame) => frame.name === "frozen", 20_000);
    // Alive, it answers the server's pings: still there after several ping intervals.
    await new Promise((resolve) => setTimeout(resolve, 800));
    assertEquals(server.userCount, 2);
    frozen.child.kill("SIGSTOP");
    const stoppedAt = performance.now();
    try {
      const left = await nextFrame(watcher, "left", (frame) => frame.name === "frozen", 5000);
      assertEquals(left.reason, "timeout");
      assertLess(performance.now() - stoppedAt, 200 + 300 + 500);
    } finally {
      frozen.child.kill("SIGCONT");
    }
  },
});

Deno.test({
  name: "a client notices a server that went silent, and closes",
  ignore: Deno.build.os === "windows",
  async fn() {
    await using server = await serveProcess();
    const port = server.port;
    const client = await ChatClient.connect({ port, name: "alice", keepAliveMs: 200 });
    server.child.kill("SIGSTOP");
    const stoppedAt = performance.now();
    try {
      await deadline(client.closed, 3000, "the client gives up on the server");
      assertLess(performance.now() - stoppedAt, 1000);
    } finally {
      server.child.kill("SIGCONT");
    }
  },
});

Deno.test("slowloris: a connection that says no hello in time is closed", async () => {
  await using server = startServer({ helloTimeoutMs: 300 });
  await using silent = await RawPeer.connect(server);
  await using trickler = await RawPeer.connect(server);
  const started = performance.now();
  const trickling = (async () => {
    try {
      for (const char of '{"type":"hel') {
        await trickler.write(char);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } catch {
      // Closed on us.
    }
  })();
  for (const peer of [silent, trickler]) {
    assertEquals((await peer.untilClosed()).map((frame) => frame.code), ["hello_timeout"]);
  }
  await trickling;
  assertLess(performance.now() - started, 2000);
  // One that does say hello stays.
  await using prompt = await RawPeer.connect(server);
  assertEquals((await prompt.hello("prompt")).type, "welcome");
  await new Promise((resolve) => setTimeout(resolve, 500));
  await prompt.send({ type: "ping", id: 1 });
  assertEquals(await prompt.frame(), { type: "pong", id: 1 });
});

Deno.test("connection caps, in total and per address, with a clear error", async () => {
  await using server = startServer({ maxConnectionsPerIp: 3, maxConnections: 5 });
  const peers = await Promise.all([1, 2, 3].map(() => RawPeer.connect(server)));
  await using fourth = await RawPeer.connect(server);
  const refused = await fourth.untilClosed();
  assertEquals(refused.map((frame) => frame.code), ["too_many_connections"]);
  assert(String(refused[0]!.message).includes("address"));
  // From another address (::1 is another IP), up to the total.
  await using server6 = startServer({ hostname: "::", maxConnectionsPerIp: 3, maxConnections: 5 });
  const v4 = await Promise.all([1, 2, 3].map(() => RawPeer.connect(server6.addr.port)));
  const v6 = await Promise.all([1, 2].map(() => RawPeer.connect(server6.addr.port, "::1")));
  await using sixth = await RawPeer.connect(server6.addr.port, "::1");
  const full = await sixth.untilClosed();
  assertEquals(full.map((frame) => frame.code), ["too_many_connections"]);
  assert(String(full[0]!.message).includes("maximum of 5"));
  // A freed place can be taken again, once the server has seen it go.
  fourth.close();
  peers[0]!.close();
  await until(() => server.connectionCount < 3, 2000, "the server to notice closed connections");
  const again = await RawPeer.connect(server);
  assertEquals((await again.hello("again")).type, "welcome");
  again.close();
  for (const peer of [...peers, ...v4, ...v6]) peer.close();
});

Deno.test("shutdown under load: every client gets whole frames, then server_shutdown", async () => {
  const server = startServer({ rate: 0 });
  const listeners = await Promise.all(
    Array.from({ length: 20 }, async (_, i) => {
      const conn = await Deno.connect({ port: server.addr.port });
      await conn.write(
        new TextEncoder().encode(JSON.stringify({ type: "hello", name: `l${i}` }) + "\n"),
      );
      return conn;
    }),
  );
  const reads = listeners.map(async (conn) => {
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(65536);
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      chunks.push(buffer.slice(0, n));
    }
    conn.close();
    return new TextDecoder().decode(new Uint8Array(chunks.flatMap((chunk) => [...chunk])));
  });
  const sender = await join(server, "sender");
  const sending = (async () => {
    try {
      for (let i = 0;; i++) {
        sender.send(`load ${i} ${"y".repeat(100)}`);
        if (i % 100 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
    } catch {
      // The server is gone.
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 300));
  await deadline(server.shutdown(), 10_000, "the shutdown");
  await deadline(sending, 10_000, "the sender to find the server gone");
  const texts = await deadline(Promise.all(reads), 10_000, "every listener's connection to end");
  for (const text of texts) {
    assert(text.endsWith("\n"), "the last frame is whole");
    const frames = text.slice(0, -1).split("\n").map((line) => JSON.parse(line));
    assertGreater(frames.filter((frame) => frame.type === "message").length, 0);
    assertEquals(frames.at(-1), {
      type: "error",
      code: "server_shutdown",
      message: "The server is shutting down",
    });
  }
  sender.close();
  await sender.closed;
});
