import { assert, assertEquals } from "./_assert.ts";
import {
  type ClientFrame,
  decodeClientFrame,
  decodeServerFrame,
  encodeFrame,
  type ErrorCode,
  foldName,
  MAX_NAME_LENGTH,
  nameProblem,
  roomProblem,
  type ServerFrame,
} from "../protocol.ts";

const encoder = new TextEncoder();

function line(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Encodes a frame and decodes the line again, without its newline. */
function stripNewline(bytes: Uint8Array): Uint8Array {
  assertEquals(bytes.at(-1), 0x0a, "a frame ends in a newline");
  assertEquals(bytes.indexOf(0x0a), bytes.length - 1, "a frame is one line");
  return bytes.subarray(0, -1);
}

Deno.test("every client frame survives a round trip", () => {
  const frames: ClientFrame[] = [
    { type: "hello", name: "alice" },
    { type: "hello", name: "zoë", protocol: 1, history: 0 },
    { type: "send", text: "hi" },
    { type: "send", text: "line one\nline two\n\ttabbed 😀 日本", room: "rust", action: true },
    { type: "msg", to: "bob", text: "psst" },
    { type: "join", room: "rust" },
    { type: "join", room: "rust", history: 10 },
    { type: "part", room: "rust" },
    { type: "rooms" },
    { type: "who" },
    { type: "who", room: "rust" },
    { type: "topic", room: "rust", topic: "Rust and friends" },
    { type: "history", room: "rust" },
    { type: "history", room: "rust", before: 120, limit: 50 },
    { type: "nick", name: "robert" },
    { type: "ping" },
    { type: "ping", id: 7 },
    { type: "ping", id: "abc" },
    { type: "ping", id: null },
    { type: "ping", id: false },
    { type: "quit" },
  ];
  for (const frame of frames) {
    assertEquals(decodeClientFrame(stripNewline(encodeFrame(frame))), { ok: true, frame });
  }
});

Deno.test("every server frame survives a round trip", () => {
  const ts = "2026-11-21T10:00:00.000Z";
  const frames: ServerFrame[] = [
    {
      type: "welcome",
      name: "alice",
      users: ["bob", "carol"],
      room: "lobby",
      maxFrameBytes: 65536,
      rate: 20,
      burst: 60,
      server: "parley/0.1.0",
      protocol: 1,
    },
    { type: "message", id: 1, room: "lobby", from: "bob", text: "multi\nline", ts },
    { type: "message", id: 2, room: "lobby", from: "bob", text: "waves", ts, action: true },
    { type: "private", from: "bob", to: "alice", text: "psst", ts },
    { type: "entered", room: "rust", users: ["bob"] },
    { type: "entered", room: "rust", users: [], topic: "Rust" },
    { type: "entered", room: "rust", users: [], topic: "Rust", topicBy: "alice", topicTs: ts },
    {
      type: "history",
      room: "rust",
      messages: [{ id: 1, from: "bob", text: "old", ts }, {
        id: 3,
        from: "carol",
        text: "dances",
        ts,
        action: true,
      }],
      more: true,
    },
    { type: "joined", room: "rust", name: "carol", ts },
    { type: "left", room: "rust", name: "carol", reason: "disconnected", ts },
    { type: "renamed", from: "bob", to: "robert", ts },
    { type: "users", users: ["alice", "bob"] },
    { type: "users", room: "rust", users: ["alice"] },
    {
      type: "rooms",
      rooms: [{ name: "lobby", users: 2 }, { name: "rust", users: 1, topic: "Rust" }],
    },
    { type: "topic", room: "rust", topic: "Rust", by: "alice", ts },
    { type: "pong", id: "x" },
    { type: "pong" },
    { type: "error", code: "name_taken", message: 'Name "bob" is taken' },
  ];
  for (const frame of frames) {
    assertEquals(decodeServerFrame(stripNewline(encodeFrame(frame))), { ok: true, frame });
  }
});

Deno.test("unknown fields are ignored", () => {
  assertEquals(decodeClientFrame(line('{"type":"send","text":"hi","colour":"red"}')), {
    ok: true,
    frame: { type: "send", text: "hi" },
  });
});

Deno.test("every validation error has its code", () => {
  const cases: [string | Uint8Array, ErrorCode][] = [
    [new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), "invalid_utf8"],
    [new Uint8Array([0xed, 0xa0, 0x80]), "invalid_utf8"], // an encoded surrogate
    ["{", "invalid_json"],
    ['{"type":"send","text":"hi"} trailing', "invalid_json"],
    ["[]", "invalid_frame"],
    ["42", "invalid_frame"],
    ['"hello"', "invalid_frame"],
    ["null", "invalid_frame"],
    ["{}", "invalid_frame"],
    ['{"type":5}', "invalid_frame"],
    ['{"type":"frobnicate"}', "unknown_type"],
    ['{"type":"__proto__"}', "unknown_type"],
    ['{"type":"toString"}', "unknown_type"],
    ['{"type":"welcome"}', "unknown_type"],
    ['{"type":"hello"}', "invalid_frame"],
    ['{"type":"hello","name":42}', "invalid_frame"],
    ['{"type":"hello","name":"a","protocol":"1"}', "invalid_frame"],
    ['{"type":"send"}', "invalid_frame"],
    ['{"type":"send","text":["hi"]}', "invalid_frame"],
    ['{"type":"send","text":""}', "invalid_text"],
    ['{"type":"send","text":" \\n\\t "}', "invalid_text"],
    ['{"type":"send","text":"\\ud800"}', "invalid_text"],
    ['{"type":"ping","id":{}}', "invalid_frame"],
    ['{"type":"ping","id":[1]}', "invalid_frame"],
    ['{"type":"ping","id":1e999}', "invalid_frame"],
    ['{"type":"hello","name":"a","history":-1}', "invalid_frame"],
    ['{"type":"hello","name":"a","history":1.5}', "invalid_frame"],
    ['{"type":"send","text":"hi","room":7}', "invalid_frame"],
    ['{"type":"send","text":"hi","action":"yes"}', "invalid_frame"],
    ['{"type":"msg","text":"hi"}', "invalid_frame"],
    ['{"type":"msg","to":"bob","text":""}', "invalid_text"],
    ['{"type":"join"}', "invalid_frame"],
    ['{"type":"topic","room":"x"}', "invalid_frame"],
    ['{"type":"history","room":"x","before":"5"}', "invalid_frame"],
  ];
  for (const [input, code] of cases) {
    const result = decodeClientFrame(typeof input === "string" ? line(input) : input);
    assert(!result.ok, `${input} should not decode`);
    assertEquals(result.code, code, `${input}`);
    assert(result.message.length > 0);
  }
});

Deno.test("decoding survives hostile JSON", () => {
  const deep = "[".repeat(10_000) + "]".repeat(10_000);
  for (
    const input of [
      deep,
      `{"type":"send","text":${deep}}`,
      '{"type":"send","text":"hi","__proto__":{"polluted":true}}',
      '{"type":"send","text":"hi","constructor":{"prototype":{"polluted":true}}}',
      `{"type":"ping","id":1e999}`,
      "\u0000",
    ]
  ) {
    decodeClientFrame(line(input));
  }
  assertEquals(({} as Record<string, unknown>).polluted, undefined);
});

Deno.test("names: letters, marks, digits and _-. up to 32 characters", () => {
  for (const name of ["alice", "Zoë", "zoe\u0308", "日本", "o_brien", "a.b-c_1"]) {
    assertEquals(nameProblem(name), undefined, name);
  }
  assertEquals(nameProblem("é".repeat(MAX_NAME_LENGTH)), undefined);
  for (
    const name of [
      "",
      "x".repeat(MAX_NAME_LENGTH + 1),
      "two words",
      "tab\there",
      "nul\u0000",
      "bell\u0007",
      "\u0308starts-with-a-mark",
      "emoji😀",
      "semi;colon",
      "new\nline",
    ]
  ) {
    assert(nameProblem(name) !== undefined, JSON.stringify(name));
  }
});

Deno.test("room names follow the name rules, up to 64 characters", () => {
  assertEquals(roomProblem("rust-lang.de"), undefined);
  assertEquals(roomProblem("x".repeat(64)), undefined);
  for (const room of ["", "x".repeat(65), "#rust", "two words"]) {
    assert(roomProblem(room) !== undefined, room);
  }
});

Deno.test("names fold case and compatibility forms", () => {
  assertEquals(foldName("Alice"), foldName("ALICE"));
  assertEquals(foldName("ａｌｉｃｅ"), foldName("alice")); // fullwidth letters
  assertEquals(foldName("zo\u00eb"), foldName("zoe\u0308"));
});
