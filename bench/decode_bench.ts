// The frame decoders alone, which run once per frame on both sides of every connection:
// `deno bench bench/decode_bench.ts`. The frames are the common ones (a message sent and
// delivered, a join, a ping, a leave, an error) and a history page of 50 messages.

import { decodeClientFrame, decodeServerFrame } from "../protocol.ts";

const encoder = new TextEncoder();
const ts = "2026-11-21T10:00:00.000Z";

function line(frame: object): Uint8Array {
  return encoder.encode(JSON.stringify(frame));
}

const clientLines = {
  send: line({ type: "send", text: "hello there, how is everyone doing today?", room: "lobby" }),
  hello: line({ type: "hello", name: "alice", protocol: 1, history: 20 }),
  ping: line({ type: "ping", id: 42 }),
};

const serverLines = {
  message: line({
    type: "message",
    id: 1234,
    room: "lobby",
    from: "bob",
    text: "hello there, how is everyone?",
    ts,
  }),
  left: line({ type: "left", room: "lobby", name: "bob", reason: "quit", ts }),
  error: line({ type: "error", code: "rate_limited", message: "Too many frames: slow down" }),
  history50: line({
    type: "history",
    room: "lobby",
    more: true,
    messages: Array.from(
      { length: 50 },
      (_, id) => ({ id, from: "bob", text: `message ${id}`, ts }),
    ),
  }),
};

for (const [name, bytes] of Object.entries(clientLines)) {
  Deno.bench(`decodeClientFrame: ${name}`, { group: "client" }, () => {
    if (!decodeClientFrame(bytes).ok) throw new Error(`The "${name}" frame does not decode`);
  });
}

for (const [name, bytes] of Object.entries(serverLines)) {
  Deno.bench(`decodeServerFrame: ${name}`, { group: "server" }, () => {
    if (!decodeServerFrame(bytes).ok) throw new Error(`The "${name}" frame does not decode`);
  });
}
