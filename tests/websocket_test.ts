// The WebSocket way in without a browser: Deno WebSockets and hand-made ones against a real
// server on a free port. What the page does is tests/web_test.ts's.

import { assert, assertEquals, assertMatch } from "@std/assert";
import {
  deadline,
  join,
  nextFrame,
  RawPeer,
  runParley,
  serveProcess,
  startServer,
} from "./_helpers.ts";
import { httpUrl, RawWebSocket, WsPeer } from "./_websocket.ts";
import type { ServerFrame } from "../protocol.ts";

const isError = (code: string) => (frame: ServerFrame) =>
  frame.type === "error" && frame.code === code;

const NDJSON = "parley.ndjson";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

Deno.test("websocket: the page, /status and 404, every response with the security headers", async () => {
  await using server = startServer({ httpPort: 0 });
  await using _alice = await WsPeer.open(server, "alice");
  const base = httpUrl(server);
  const expected = [
    ["/", 200, "text/html; charset=utf-8"],
    ["/app.js", 200, "text/javascript; charset=utf-8"],
    ["/style.css", 200, "text/css; charset=utf-8"],
    ["/status", 200, "application/json"],
    ["/nope", 404, "text/plain; charset=utf-8"],
    ["/ws", 426, "text/plain; charset=utf-8"],
  ] as const;
  for (const [path, status, type] of expected) {
    const response = await fetch(base + path);
    const body = await response.text();
    assertEquals(response.status, status, path);
    if (type !== undefined) assertEquals(response.headers.get("content-type"), type, path);
    assertEquals(
      response.headers.get("content-security-policy"),
      "default-src 'self'; frame-ancestors 'none'",
      path,
    );
    assertEquals(response.headers.get("x-content-type-options"), "nosniff", path);
    assertEquals(response.headers.get("referrer-policy"), "no-referrer", path);
    if (path === "/") assertMatch(body, /<script type="module" src="\/app.js"><\/script>/);
    if (path === "/status") {
      const status = JSON.parse(body);
      assertEquals(status.ok, true);
      assertEquals(status.users, 1);
      assertEquals(status.connections, 1);
      assertEquals(typeof status.version, "string");
    }
  }
  const post = await fetch(base + "/", { method: "POST", body: "x" });
  await post.body?.cancel();
  assertEquals(post.status, 405);
});

Deno.test("websocket: frames go every way between a WebSocket and an NDJSON client", async () => {
  await using server = startServer({ httpPort: 0 });
  await using web = await WsPeer.open(server, "web");
  await using tcp = await join(server, "tcp");
  await web.until((f) => f.type === "joined" && f.name === "tcp", 5000, "tcp joining");
  const count = 20;
  for (let i = 0; i < count; i++) {
    web.send({ type: "send", text: `from web ${i}` });
    tcp.send(`from tcp ${i}`);
  }
  const fromWeb: string[] = [];
  while (fromWeb.length < count) {
    const frame = await nextFrame(tcp, "message");
    fromWeb.push(frame.text);
  }
  assertEquals(fromWeb, Array.from({ length: count }, (_, i) => `from web ${i}`));
  await web.until(
    (f) => f.type === "message" && f.text === `from tcp ${count - 1}`,
    5000,
    "the last message from tcp",
  );
  const fromTcp = web.frames.flatMap((f) => f.type === "message" ? [f.text] : []);
  assertEquals(fromTcp, Array.from({ length: count }, (_, i) => `from tcp ${i}`));
  // A private message each way, and a ping answered.
  web.send({ type: "msg", to: "tcp", text: "psst" });
  assertEquals((await nextFrame(tcp, "private")).text, "psst");
  tcp.msg("web", "back");
  await web.until((f) => f.type === "private" && f.text === "back", 5000, "the private reply");
  web.send({ type: "ping", id: 7 });
  await web.until((f) => f.type === "pong" && f.id === 7, 5000, "the pong");
});

Deno.test("websocket: a bad frame is answered, and the connection stays", async () => {
  await using server = startServer({ httpPort: 0 });
  await using web = await WsPeer.open(server, "web");
  web.socket.send("not json");
  await web.until(isError("invalid_json"), 5000, "invalid_json");
  web.send({ type: "nope" });
  await web.until(isError("unknown_type"), 5000, "unknown_type");
  web.send({ type: "ping", id: "still here" });
  await web.until((f) => f.type === "pong" && f.id === "still here", 5000, "the pong");
  assertEquals(web.socket.readyState, WebSocket.OPEN);
});

Deno.test("websocket: a message over the frame limit is refused, then the connection closed", async () => {
  await using server = startServer({ httpPort: 0, maxFrameBytes: 1000 });
  await using web = await WsPeer.open(server, "web");
  await using tcp = await join(server, "tcp");
  // 999 bytes of text in JSON: over by the frame around it, though the text alone is not.
  web.send({ type: "send", text: "é".repeat(490) });
  await web.until(isError("frame_too_large"), 5000, "frame_too_large");
  assertEquals(await deadline(web.closed, 5000, "the close"), 1009);
  const left = await nextFrame(tcp, "left", (f) => f.name === "web");
  assertEquals(left.reason, "frame_too_large");
});

Deno.test("websocket: a binary message is refused, then the connection closed", async () => {
  await using server = startServer({ httpPort: 0 });
  await using web = await WsPeer.open(server, "web");
  web.socket.send(new TextEncoder().encode(JSON.stringify({ type: "send", text: "hi" })));
  await web.until(isError("invalid_frame"), 5000, "invalid_frame");
  assertEquals(await deadline(web.closed, 5000, "the close"), 1008);
});

Deno.test("websocket: the hello timeout, the caps per address and in total apply", async () => {
  await using server = startServer({ httpPort: 0, helloTimeoutMs: 300, maxConnectionsPerIp: 2 });
  await using first = await WsPeer.open(server);
  await using second = await WsPeer.open(server);
  await using third = await WsPeer.open(server);
  await third.until(isError("too_many_connections"), 5000, "too_many_connections");
  assertEquals(await deadline(third.closed, 5000, "the third's close"), 1008);
  await first.until(isError("hello_timeout"), 5000, "hello_timeout");
  await second.until(isError("hello_timeout"), 5000, "hello_timeout");
  await deadline(Promise.all([first.closed, second.closed]), 5000, "the close");
});

Deno.test("websocket: flood control applies", async () => {
  await using server = startServer({ httpPort: 0, rate: 5, burst: 5 });
  await using web = await WsPeer.open(server, "web");
  for (let i = 0; i < 20; i++) web.send({ type: "ping", id: i });
  await web.until(isError("rate_limited"), 5000, "rate_limited");
  const pongs = web.frames.filter((f) => f.type === "pong").length;
  assert(pongs <= 6, `at most the burst (and a refill) answered: ${pongs}`);
});

Deno.test("websocket: the origin is checked", async () => {
  await using server = startServer({
    httpPort: 0,
    allowOrigins: ["https://chat.example.org"],
  });
  const own = `http://127.0.0.1:${server.httpAddr!.port}`;
  const cases: [string | undefined, string][] = [
    ["https://evil.example", "403"],
    ["http://127.0.0.1:1", "403"],
    ["null", "403"],
    [own, "101"],
    ["https://chat.example.org", "101"],
    [undefined, "101"],
  ];
  for (const [origin, status] of cases) {
    const { socket, status: line } = await RawWebSocket.handshake(server, origin);
    await using _ = socket;
    assertMatch(line, new RegExp(`^HTTP/1.1 ${status} `), `origin ${origin}`);
  }
  assertEquals(server.userCount, 0);
});

Deno.test("websocket: a client that stops reading is dropped as a slow consumer; others get everything", async () => {
  await slowConsumer();
});

Deno.test("websocket: parley.ndjson: a client that stops reading is dropped as a slow consumer; others get everything", async () => {
  await slowConsumer(NDJSON);
});

/** A client (offering `protocol` if given) that stops reading is dropped as a slow consumer,
 * while another (offering the same) gets everything. */
async function slowConsumer(protocol?: string): Promise<void> {
  await using server = startServer({
    httpPort: 0,
    rate: 0,
    maxQueueBytes: 256 * 1024,
    maxFrameBytes: 64 * 1024,
  });
  const { socket: stalled, status } = await RawWebSocket.handshake(server, undefined, protocol);
  await using _ = stalled;
  assertMatch(status, /^HTTP\/1.1 101 /);
  await stalled.sendText(JSON.stringify({ type: "hello", name: "stalled" }));
  await using reader = await WsPeer.open(server, "reader", protocol);
  assertEquals(reader.socket.protocol, protocol ?? "");
  await using tcp = await join(server, "tcp");
  await reader.until((f) => f.type === "joined" && f.name === "tcp", 5000, "tcp joining");
  // 128 KiB at a time (half the bound), each batch read by the reader before the next, until
  // the stalled one is dropped: past what the socket buffers on both sides take in, 32 MiB at
  // most.
  const text = "x".repeat(32 * 1024);
  let count = 0;
  let dropped = false;
  while (!dropped && count < 1024) {
    for (let i = 0; i < 4; i++) tcp.send(`${count++} ${text}`);
    await reader.until(
      (f) => f.type === "message" && f.text.startsWith(`${count - 1} `),
      30_000,
      `message ${count - 1}`,
    );
    const left = reader.frames.find((f) => f.type === "left" && f.name === "stalled");
    if (left !== undefined) {
      assertEquals(left.type === "left" && left.reason, "slow_consumer");
      dropped = true;
    }
  }
  assert(dropped, `the stalled client was dropped after ${count} messages`);
  const received = reader.frames.filter((f) => f.type === "message");
  assertEquals(received.length, count);
  assert(received.every((f, i) => f.type === "message" && f.text.startsWith(`${i} `)));
  // The stalled peer never answers the close: it is counted out after a while all the same.
  const start = performance.now();
  while (server.connectionCount > 2) {
    assert(performance.now() - start < 10_000, "the stalled connection was counted out");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

Deno.test("websocket: `parley serve --http-port` prints the URL to open, and serves it", async () => {
  await using server = await serveProcess([
    "--http-port",
    "0",
    "--allow-origin",
    "https://a.example,https://b.example",
    "--allow-origin",
    "https://c.example",
  ]);
  const [url] = await server.waitFor(/http:\/\/127\.0\.0\.1:\d+\//);
  const response = await fetch(`${url}status`);
  assertEquals((await response.json()).ok, true);
  for (const origin of ["https://a.example", "https://c.example", "https://d.example"]) {
    const ws = await fetch(`${url}ws`, { headers: { origin } }).catch(() => undefined);
    await ws?.body?.cancel();
    // fetch cannot upgrade: an allowed origin reaches the upgrade check (426), another is 403.
    assertEquals(ws?.status, origin === "https://d.example" ? 403 : 426, origin);
  }
});

Deno.test("websocket: --allow-origin takes only scheme://host[:port]", async () => {
  const result = await runParley(["serve", "--http-port", "0", "--allow-origin", "example.org"]);
  assertEquals(result.code, 2);
  assertMatch(result.stderr, /--allow-origin takes scheme:\/\/host\[:port\]/);
});

Deno.test("websocket: parley.ndjson: deliveries are binary messages of whole NDJSON frames, several at once", async () => {
  await using server = startServer({ httpPort: 0, rate: 0 });
  await using ndjson = await WsPeer.open(server, "ndjson", NDJSON);
  await using plain = await WsPeer.open(server, "plain");
  assertEquals(ndjson.socket.protocol, NDJSON);
  assertEquals(plain.socket.protocol, "");
  await using tcp = await RawPeer.connect(server);
  assertEquals((await tcp.hello("tcp")).type, "welcome");
  // Written at once, the lines are read at once and stored in one batch: one run, one buffer.
  const count = 50;
  const lines = Array.from(
    { length: count },
    (_, i) => JSON.stringify({ type: "send", text: `line ${i}` }) + "\n",
  );
  await tcp.write(lines.join(""));
  const last = (f: ServerFrame) => f.type === "message" && f.text === `line ${count - 1}`;
  await ndjson.until(last, 10_000, "the last message (ndjson)");
  await plain.until(last, 10_000, "the last message (plain)");
  const texts = (peer: WsPeer) => peer.frames.flatMap((f) => f.type === "message" ? [f.text] : []);
  const expected = Array.from({ length: count }, (_, i) => `line ${i}`);
  assertEquals(texts(ndjson), expected);
  assertEquals(texts(plain), expected);
  // Under the subprotocol: binary messages only, each whole lines of one frame each.
  let most = 0;
  for (const message of ndjson.messages) {
    assert(message instanceof Uint8Array, "a binary message");
    const text = decoder.decode(message);
    assert(text.endsWith("\n"), `a message ends a frame: ${JSON.stringify(text.slice(-40))}`);
    const frames = text.slice(0, -1).split("\n");
    for (const line of frames) assertEquals(typeof JSON.parse(line).type, "string");
    most = Math.max(most, frames.length);
  }
  assert(most > 1, `some message holds several frames (at most ${most})`);
  // Without it: text messages only, one frame each, and the same frames in all.
  for (const message of plain.messages) {
    assert(typeof message === "string", "a text message");
    assert(!message.includes("\n"), "one frame");
  }
  assert(plain.messages.length > ndjson.messages.length);
});

Deno.test("websocket: parley.ndjson: a client may send several frames in one message, text or binary", async () => {
  await using server = startServer({ httpPort: 0, rate: 0 });
  await using web = await WsPeer.open(server, "web", NDJSON);
  await using tcp = await join(server, "tcp");
  await web.until((f) => f.type === "joined" && f.name === "tcp", 5000, "tcp joining");
  const frames = (from: number) =>
    Array.from({ length: 5 }, (_, i) => JSON.stringify({ type: "send", text: `m${from + i}` }))
      .join("\n");
  web.socket.send(encoder.encode(frames(0) + "\n"));
  // A text message, its last newline left off, and a ping answered in order after.
  web.socket.send(frames(5) + "\n" + JSON.stringify({ type: "ping", id: "after" }));
  const received: string[] = [];
  while (received.length < 10) received.push((await nextFrame(tcp, "message")).text);
  assertEquals(received, Array.from({ length: 10 }, (_, i) => `m${i}`));
  await web.until((f) => f.type === "pong" && f.id === "after", 5000, "the pong");
  // A bad line among good ones is answered, and the rest are taken.
  web.socket.send(`not json\n${JSON.stringify({ type: "ping", id: "still" })}\n`);
  await web.until(isError("invalid_json"), 5000, "invalid_json");
  await web.until((f) => f.type === "pong" && f.id === "still", 5000, "the second pong");
  assertEquals(web.socket.readyState, WebSocket.OPEN);
});

Deno.test("websocket: parley.ndjson: each frame keeps the frame limit", async () => {
  await using server = startServer({ httpPort: 0, rate: 0, maxFrameBytes: 1000 });
  await using web = await WsPeer.open(server, "web", NDJSON);
  await using tcp = await join(server, "tcp");
  await web.until((f) => f.type === "joined" && f.name === "tcp", 5000, "tcp joining");
  // Two frames of 600 bytes pass in one message; one of 1,001 does not.
  const frame = (text: string) => JSON.stringify({ type: "send", text });
  const short = "a".repeat(600 - frame("").length);
  web.socket.send(`${frame(short)}\n${frame(short)}\n`);
  assertEquals((await nextFrame(tcp, "message")).text, short);
  assertEquals((await nextFrame(tcp, "message")).text, short);
  web.socket.send(encoder.encode(frame("b".repeat(1001 - frame("").length)) + "\n"));
  await web.until(isError("frame_too_large"), 5000, "frame_too_large");
  assertEquals(await deadline(web.closed, 5000, "the close"), 1009);
});

Deno.test("websocket: parley.ndjson: a message keeps the queue bound", async () => {
  await using server = startServer({
    httpPort: 0,
    rate: 0,
    maxFrameBytes: 1000,
    maxQueueBytes: 16 * 1024,
  });
  await using web = await WsPeer.open(server, "web", NDJSON);
  // Pings of 100-odd bytes each, 16 KiB and more in all: every frame short, the message not.
  const ping = (id: number) => JSON.stringify({ type: "ping", id: `${id}`.padStart(80, "0") });
  const count = Math.ceil(16 * 1024 / ping(0).length) + 1;
  web.socket.send(Array.from({ length: count }, (_, i) => ping(i) + "\n").join(""));
  await web.until(isError("frame_too_large"), 5000, "frame_too_large");
  assertEquals(await deadline(web.closed, 5000, "the close"), 1009);
  assertEquals(web.frames.filter((f) => f.type === "pong").length, 0, "none of it taken");
});
