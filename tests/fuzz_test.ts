// Fuzzing the server with hostile input: thousands of random and mutated frames from many
// connections at once. Each connection sends a seeded-random mix of invalid UTF-8, NUL bytes,
// lone surrogates (as `\ud800` escapes and as raw bytes ED A0 80), huge and odd numbers (1e308,
// -0, 1e999, 2**53+1) where ids, counts and limits go, 10,000-deep nesting and deeper,
// `__proto__`, `constructor` and `prototype` keys and names, lines at and just under the frame
// limit, lines from just over it to a megabyte (which close the connection: the lane opens
// another), binary noise, frames of every client type with fields missing or of the wrong type,
// byte-level mutations of valid frames, frames written in two pieces, connections dropped in the
// middle of a frame, and random interleavings of every client frame type (hello, join, part,
// send, msg, topic, history, nick, who, rooms, register, kick, ban, unban, stats, ping, pong,
// quit) with valid and invalid room and user names. Every few moves a lane waits for a `ping` to
// be answered, so that the server reads everything before the lane hangs up. A second pass
// writes a handful of frames cut at every byte offset (each must be answered as if whole), and
// drops connections at every byte offset of a private message (which must never arrive).
//
// Three runs: an in-process server without flood control (`rate: 0`, so that the frames are
// handled rather than refused), one with the default limits plus clients that flood (they must
// get `rate_limited` and then be cut off), and a `parley serve` subprocess.
//
// Afterwards: every line the server sent was a well-formed server frame (`decodeServerFrame`
// accepts it, every `error` code is one of `ERROR_CODES` with a row in docs/PROTOCOL.md's table,
// every `left` reason a `LeaveReason`, live message ids increase on each connection, no frame is
// cut short), the server logged no error, `userCount` is back to 0, no socket is left open (the
// count of sockets in /proc/<pid>/fd is back where it was), `Object.prototype` is untouched, and
// a normal client can still join, talk in two rooms and ping. The subprocess must also keep its
// memory in bounds (RSS after the rounds against RSS after a warm-up round; the live heap after
// full GCs, from its --trace-gc lines, when V8 did two) and still stop cleanly on SIGTERM.
//
// The seed is printed at the start of each test. Environment variables:
//
//   FUZZ_SEED=N         replay a run with this seed (default: a random one)
//   FUZZ_ROUNDS=N       rounds per test (default 2); each round is FUZZ_CONNECTIONS lanes
//   FUZZ_CONNECTIONS=N  sending FUZZ_MOVES moves each, all at once (defaults 24 and 150)
//   FUZZ_MOVES=N
//
// The default run takes some 8 s on two cores. A longer one, 40 rounds per test (some 430,000
// moves over 28,000 connections, about 90 s):
//
//   FUZZ_ROUNDS=40 deno test -A tests/fuzz_test.ts
//
// With the same seed and sizes, every lane sends the same bytes in the same order; where a
// server-side close falls (a rate limit, a slow consumer) depends on timing, so a replay is
// close to the original run, not identical.

import { assert, assertEquals, assertLess } from "./_assert.ts";
import { isDisconnect } from "../_net/disconnect.ts";
import { writeAll } from "../_net/framing.ts";
import {
  decodeServerFrame,
  DEFAULT_MAX_FRAME_BYTES,
  ERROR_CODES,
  type ErrorCode,
  type LeaveReason,
  MAX_SERVER_FRAME_BYTES,
  type ServerFrame,
} from "../protocol.ts";
import type { ChatServer } from "../server.ts";
import { ChatClient } from "../client.ts";
import { deadline, nextFrame, ParleyProcess, rssKiB, startServer, tempDir } from "./_helpers.ts";

// Sizes, from the environment.

function envInt(name: string, fallback: number): number {
  const text = Deno.env.get(name);
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a whole number, 0 or more: got "${text}"`);
  }
  return value;
}

const SEED = envInt("FUZZ_SEED", crypto.getRandomValues(new Uint32Array(1))[0]!) >>> 0;
const ROUNDS = Math.max(1, envInt("FUZZ_ROUNDS", 2));
const CONNECTIONS = Math.max(1, envInt("FUZZ_CONNECTIONS", 24));
const MOVES = Math.max(1, envInt("FUZZ_MOVES", 150));

/** A lane waits for the server to catch up (a ping answered) every this many moves, so that
 * the server reads and answers everything before the lane closes its connection. */
const SYNC_EVERY = 4;

/**
 * How much more resident memory the server subprocess may hold after the fuzz rounds than after
 * the warm-up round. RSS is a coarse measure: V8 grows its heap (and the allocator its arenas)
 * lazily and keeps them, so RSS climbs for a while and then levels off: in two 40-round runs,
 * some 15 MiB above the warm-up figure after 2 rounds, 70 to 80 MiB after 20, 75 to 85 MiB after
 * 40, while the live heap after each full GC stayed between 6 and 8.3 MiB.
 */
const RSS_GROWTH_BOUND_KIB = 128 * 1024;

/** How much more live JavaScript heap (after a full GC, from the server's --trace-gc lines) the
 * server may hold after the fuzz rounds than before them. The finer measure of a leak. */
const LIVE_HEAP_GROWTH_BOUND_MIB = 16;

function banner(what: string): void {
  console.log(
    `${what}: seed ${SEED}, ${ROUNDS} round(s) of ${CONNECTIONS} connections x ${MOVES} moves ` +
      `(replay: FUZZ_SEED=${SEED} FUZZ_ROUNDS=${ROUNDS} deno test -A tests/fuzz_test.ts)`,
  );
}

// What the server may send: the error codes of protocol.ts, each with a row in the table of
// error codes in docs/PROTOCOL.md.

const ERROR_CODE_SET: ReadonlySet<string> = new Set(ERROR_CODES);
const DOCUMENTED = await documentedCodes();

async function documentedCodes(): Promise<Set<string>> {
  const doc = await Deno.readTextFile(new URL("../docs/PROTOCOL.md", import.meta.url));
  const section = doc.slice(doc.indexOf("## Error codes"));
  const table = section.slice(0, section.indexOf("\n\n", section.indexOf("|")));
  return new Set([...table.matchAll(/^\| `([a-z0-9_]+)` +\|/gm)].map((match) => match[1]!));
}

function isErrorCode(code: string): code is ErrorCode {
  return ERROR_CODE_SET.has(code);
}

function isLeaveReason(reason: string): reason is LeaveReason {
  return reason === "part" || reason === "quit" || reason === "disconnected" ||
    isErrorCode(reason);
}

// A seeded PRNG: mulberry32.

class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A number in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A whole number in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A whole number in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Uint8Array {
    const result = new Uint8Array(n);
    for (let i = 0; i < n; i++) result[i] = this.int(256);
    return result;
  }
}

/** The seed of connection `lane` in round `round` of a test. */
function laneSeed(test: number, round: number, lane: number): number {
  return (SEED ^ Math.imul(test + 1, 0x27d4eb2f) ^ Math.imul(round + 1, 0x9e3779b1) ^
    Math.imul(lane + 1, 0x85ebca6b)) >>> 0;
}

// Building hostile JSON. `Raw` is written as is: numbers JSON.stringify cannot write (-0,
// 1e999), and anything else. Objects are written with their own keys, `__proto__` included.

class Raw {
  constructor(readonly text: string) {}
}

type Json = null | boolean | number | string | Raw | Json[] | { [key: string]: Json };

function toJson(value: Json): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return `[${value.map(toJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const fields = Object.keys(value).map((key) => `${JSON.stringify(key)}:${toJson(value[key]!)}`);
    return `{${fields.join(",")}}`;
  }
  return JSON.stringify(value);
}

/** An object with these entries as own properties, `__proto__` included. */
function object(entries: [string, Json][]): { [key: string]: Json } {
  const result: { [key: string]: Json } = {};
  for (const [key, value] of entries) {
    Object.defineProperty(result, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return result;
}

const encoder = new TextEncoder();

type Part = string | Uint8Array | number[];

function bytesOf(...parts: Part[]): Uint8Array {
  const chunks = parts.map((part) =>
    typeof part === "string"
      ? encoder.encode(part)
      : Array.isArray(part)
      ? Uint8Array.from(part)
      : part
  );
  const result = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    result.set(chunk, offset);
    offset += chunk.length;
  }
  return result;
}

function line(value: Json): Uint8Array {
  return encoder.encode(toJson(value) + "\n");
}

// Pools of names, rooms, texts and numbers, valid and not.

const USER_NAMES = [
  "alice",
  "Alice",
  "ALICE",
  "ａｌｉｃｅ",
  "bob",
  "zoë",
  "zoe\u0308",
  "__proto__",
  "constructor",
  "prototype",
  "hasOwnProperty",
  "toString",
  "x".repeat(32),
  "_",
  "-",
  ".",
  "漢字",
  "Ωmega",
  "d\u0301",
  // Invalid.
  "",
  " ",
  "a b",
  "x".repeat(33),
  "\u0301x",
  "😀",
  "a\nb",
  "\u0000",
  "nul\u0000",
  "\ud800",
  "\udfff\ud800",
  "a\u200bb",
  "#room",
  "<script>",
  "\u202eevil",
  "\x1b[2J",
  "y".repeat(1000),
];

const ROOM_NAMES = [
  "lobby",
  "Lobby",
  "LOBBY",
  "rust",
  "Rust",
  "ｒｕｓｔ",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "r".repeat(64),
  "café",
  "cafe\u0301",
  "日本",
  "a",
  "big",
  // Invalid.
  "",
  " ",
  "#rust",
  "r".repeat(65),
  "a room",
  "\u0000",
  "\ud800",
  "😀",
  "\u0301a",
  "lobby\n",
];

const TEXTS = [
  "hi",
  "hello\nworld",
  "😀 👍🏽 🇫🇷",
  "\u0000",
  "nul \u0000 in the middle",
  "\ud800",
  "a\udfffb",
  "\ud83d\ude00",
  "\u202eright to left",
  "\x1b[31mred\x1b[0m \x07",
  "\r\n",
  "line\r\nline",
  "tab\there",
  '{"type":"hello"}\n',
  "__proto__",
  "\uffff\ufffe",
  "ｗｉｄｅ",
  // Invalid.
  "",
  " ",
  "\t\n \r",
];

/** Numbers where ids, counts and limits go: valid, odd, huge, and not numbers at all. */
const NUMBERS: Json[] = [
  0,
  1,
  5,
  50,
  200,
  201,
  -1,
  1.5,
  new Raw("1e308"),
  new Raw("-1e308"),
  new Raw("-0"),
  new Raw("1e999"),
  new Raw("-1e999"),
  new Raw("9007199254740993"),
  new Raw("9007199254740992"),
  new Raw("9007199254740991"),
  new Raw("-9007199254740993"),
  new Raw("2e-324"),
  new Raw("1e-400"),
  new Raw("0.0"),
  new Raw("1.0"),
  new Raw("1E2"),
  new Raw("123456789012345678901234567890"),
  new Raw("1" + "0".repeat(400)),
  new Raw("0." + "0".repeat(400) + "1"),
  new Raw("0e0"),
  "5",
  null,
  true,
  [],
  {},
];

/** Values for fields of the wrong type. */
const WRONG: Json[] = [
  new Raw("1"),
  new Raw("1e999"),
  new Raw("-0"),
  "string",
  "",
  true,
  false,
  null,
  [],
  {},
  [1, "a", null],
  { a: 1 },
  ["lobby"],
  { toString: "x" },
];

/** The fields of each client frame type, as `protocol.ts` knows them. */
const FIELDS: Record<string, string[]> = {
  hello: ["name", "protocol", "history", "password", "serverPassword"],
  send: ["text", "room", "action"],
  msg: ["to", "text"],
  join: ["room", "history"],
  part: ["room"],
  rooms: [],
  who: ["room"],
  topic: ["room", "topic"],
  history: ["room", "before", "limit"],
  nick: ["name", "password"],
  register: ["password"],
  kick: ["name", "reason"],
  ban: ["target", "duration", "reason"],
  unban: ["target"],
  stats: [],
  ping: ["id"],
  pong: ["id"],
  quit: [],
};

const TYPES = Object.keys(FIELDS);

const ODD_TYPES: Json[] = [
  "HELLO",
  " hello",
  "hello ",
  "hello\u0000",
  "welcome",
  "message",
  "error",
  "entered",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "",
  "\ud800",
  "x".repeat(5000),
  1,
  null,
  [],
  ["hello"],
  {},
  true,
];

/** Byte sequences that are not UTF-8, and two that are but are odd. */
const BAD_UTF8: number[][] = [
  [0xff],
  [0xfe],
  [0xc0, 0xaf],
  [0xc1, 0xbf],
  [0xe0, 0x80, 0xaf],
  [0xf0, 0x80, 0x80, 0xaf],
  [0x80],
  [0xbf, 0xbf],
  [0xc3],
  [0xe2, 0x82],
  [0xf0, 0x9f, 0x98],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf5, 0x80, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xfc, 0x84, 0x80, 0x80, 0x80, 0x80],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80],
  [0xef, 0xbb, 0xbf],
  [0xef, 0xbf, 0xbe],
];

/** The server's frame limit, which the fuzz moves aim at. */
const LIMIT = DEFAULT_MAX_FRAME_BYTES;

// Moves: what a fuzz connection does next.

type Move =
  /** Write these bytes. */
  | { kind: "write"; bytes: Uint8Array }
  /** Write `bytes` in two pieces, split at `at`, with a pause between. */
  | { kind: "split"; bytes: Uint8Array; at: number; pauseMs: number }
  /** Write a prefix of a frame, then drop the connection. */
  | { kind: "drop"; bytes: Uint8Array }
  /** Drop the connection between frames. */
  | { kind: "close" };

/** Makes the moves of one connection. */
class Fuzzer {
  readonly random: Random;
  #r: Random;
  #lane: number;
  #counter = 0;
  /** Whether a `hello` was sent since the last (re)connect: steers toward joining. */
  helloSent = false;

  constructor(random: Random, lane: number) {
    this.random = this.#r = random;
    this.#lane = lane;
  }

  next(): Move {
    const r = this.#r;
    if (!this.helloSent && r.chance(0.6)) {
      this.helloSent = true;
      return write(line(this.hello()));
    }
    const roll = r.next() * 100;
    if (roll < 38) return write(line(this.chatty()));
    if (roll < 48) return write(line(this.wrongTypes()));
    if (roll < 62) return write(this.mutated());
    if (roll < 67) return write(this.badUtf8());
    if (roll < 70) return write(this.nul());
    if (roll < 74) return write(this.surrogate());
    if (roll < 79) return write(line(this.hugeNumbers()));
    if (roll < 80.5) return write(this.deep());
    if (roll < 84.5) return write(line(this.proto()));
    if (roll < 87.5) return write(bytesOf(r.bytes(r.between(1, 4096)), "\n"));
    if (roll < 88.5) return write(this.nearLimit());
    if (roll < 89.2) return write(this.overLimit());
    if (roll < 92.2) {
      const bytes = line(this.chatty());
      return { kind: "split", bytes, at: r.between(1, bytes.length - 1), pauseMs: r.int(3) };
    }
    if (roll < 93.2) {
      const bytes = line(this.chatty());
      this.helloSent = false;
      return { kind: "drop", bytes: bytes.subarray(0, r.int(bytes.length)) };
    }
    if (roll < 93.7) {
      this.helloSent = false;
      return { kind: "close" };
    }
    if (roll < 97) {
      const frames = Array.from({ length: r.between(2, 20) }, () => line(this.chatty()));
      return write(bytesOf(...frames));
    }
    return write(
      encoder.encode(
        r.pick([
          "\n",
          "   \n",
          "\r\n",
          "\t\r\n",
          "\r\r\r\n",
          "\n\n\n",
          "\u00a0\n",
          "\x0b\n",
          "\f\n",
        ]),
      ),
    );
  }

  name(): string {
    const r = this.#r;
    return r.chance(0.5) ? `w${this.#lane}-${this.#counter++}` : r.pick(USER_NAMES);
  }

  room(): string {
    return this.#r.pick(ROOM_NAMES);
  }

  text(): string {
    const r = this.#r;
    if (r.chance(0.1)) return "z".repeat(r.between(1, 2000));
    return r.chance(0.7) ? `${r.pick(TEXTS)} ${r.int(1000)}` : r.pick(TEXTS);
  }

  count(): Json {
    const r = this.#r;
    return r.chance(0.7) ? r.pick([0, 1, 5, 50, 200]) : r.pick(NUMBERS);
  }

  hello(): Json {
    const r = this.#r;
    const frame: { [key: string]: Json } = { type: "hello", name: this.name() };
    if (r.chance(0.3)) frame.protocol = r.chance(0.7) ? 1 : r.pick([2, 0, ...NUMBERS]);
    if (r.chance(0.5)) frame.history = this.count();
    if (r.chance(0.1)) frame.password = this.password();
    if (r.chance(0.1)) frame.serverPassword = this.password();
    return frame;
  }

  /**
   * A password too short to register (fewer than 8 characters: `weak_password`). Registering
   * a name for real costs the server a PBKDF2 hash, and a name registered by one lane would
   * make the others' hellos with it wrong passwords, which the server answers ever more slowly
   * from one address: the fuzz leaves that to tests/security_test.ts.
   */
  password(): string {
    return this.#r.pick(["", "x", "1234567", "\ud800", "😀😀😀", "\u0000\u0000", "pass\nwd"]);
  }

  /** A frame of a random type with random, mostly well-typed, fields. */
  chatty(): Json {
    const r = this.#r;
    const maybe = (frame: { [key: string]: Json }, key: string, value: () => Json) => {
      if (r.chance(0.5)) frame[key] = value();
      return frame;
    };
    switch (r.pick(TYPES)) {
      case "hello":
        this.helloSent = true;
        return this.hello();
      case "send": {
        const frame = maybe({ type: "send", text: this.text() }, "room", () => this.room());
        return maybe(frame, "action", () => r.chance(0.8) ? r.chance(0.5) : r.pick(WRONG));
      }
      case "msg":
        return {
          type: "msg",
          to: r.chance(0.3) ? `w${r.int(CONNECTIONS)}-${r.int(20)}` : this.name(),
          text: this.text(),
        };
      case "join":
        return maybe({ type: "join", room: this.room() }, "history", () => this.count());
      case "part":
        return { type: "part", room: this.room() };
      case "rooms":
        return { type: "rooms" };
      case "who":
        return maybe({ type: "who" }, "room", () => this.room());
      case "topic":
        return { type: "topic", room: this.room(), topic: r.chance(0.2) ? "" : this.text() };
      case "history": {
        const frame = maybe({ type: "history", room: this.room() }, "before", () => this.count());
        return maybe(frame, "limit", () => this.count());
      }
      case "nick":
        return maybe({ type: "nick", name: this.name() }, "password", () => this.password());
      case "register":
        return { type: "register", password: this.password() };
      case "kick":
        return maybe({ type: "kick", name: this.name() }, "reason", () => this.text());
      case "ban": {
        const frame = maybe({ type: "ban", target: this.name() }, "duration", () => this.count());
        return maybe(frame, "reason", () => this.text());
      }
      case "unban":
        return { type: "unban", target: r.chance(0.5) ? this.name() : "127.0.0.1" };
      case "stats":
        return { type: "stats" };
      case "ping":
      case "pong": {
        const type = r.chance(0.5) ? "ping" : "pong";
        return maybe({ type }, "id", () => r.pick([...NUMBERS, "ж", "\ud800", r.int(1e6)]));
      }
      default:
        // quit: the server closes the connection, and the worker opens another.
        this.helloSent = false;
        return { type: "quit" };
    }
  }

  /** A frame of every type, with fields missing or of the wrong type, or an odd `type`. */
  wrongTypes(): Json {
    const r = this.#r;
    const roll = r.int(10);
    if (roll === 0) return r.pick(WRONG);
    if (roll === 1) return { type: r.pick(ODD_TYPES), name: "x", text: "x", room: "lobby" };
    if (roll === 2) return {};
    const type = r.pick(TYPES);
    const frame: { [key: string]: Json } = { type };
    for (const field of FIELDS[type]!) {
      if (r.chance(0.4)) continue;
      frame[field] = r.chance(0.6) ? r.pick(WRONG) : r.pick(["lobby", "x", 1, true]);
    }
    return frame;
  }

  /** A valid frame, then mutated byte by byte. */
  mutated(): Uint8Array {
    const r = this.#r;
    let bytes = Array.from(encoder.encode(toJson(this.chatty())));
    for (let n = r.between(1, 4); n > 0 && bytes.length > 0; n--) {
      const at = r.int(bytes.length);
      switch (r.int(9)) {
        case 0:
          bytes[at]! ^= 1 << r.int(8);
          break;
        case 1:
          bytes[at] = r.int(256);
          break;
        case 2:
          bytes.splice(at, 0, r.int(256));
          break;
        case 3:
          bytes.splice(at, 1);
          break;
        case 4:
          bytes.splice(at, 0, ...bytes.slice(at, at + r.between(1, 16)));
          break;
        case 5:
          bytes = bytes.slice(0, at);
          break;
        case 6:
          bytes.splice(at, 0, 0x0a);
          break;
        case 7:
          bytes.splice(at, 0, r.pick([0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x2c, 0x0d, 0x00]));
          break;
        default: {
          const other = r.int(bytes.length);
          [bytes[at], bytes[other]] = [bytes[other]!, bytes[at]!];
        }
      }
    }
    return bytesOf(bytes, "\n");
  }

  badUtf8(): Uint8Array {
    const r = this.#r;
    const bad = r.pick(BAD_UTF8);
    switch (r.int(5)) {
      case 0:
        return bytesOf('{"type":"send","text":"', bad, '"}\n');
      case 1:
        return bytesOf('{"type":"hello","name":"', bad, '"}\n');
      case 2:
        return bytesOf(bad, '{"type":"ping"}\n');
      case 3:
        return bytesOf('{"type":"ping","', bad, '":1}\n');
      default:
        return bytesOf('{"type":"join","room":"x', bad, 'y"}', bad, "\n");
    }
  }

  nul(): Uint8Array {
    const r = this.#r;
    return r.pick([
      bytesOf('{"type":"send","text":"a', [0], 'b"}\n'),
      bytesOf('{"type":"ping"}', [0], "\n"),
      bytesOf([0], '{"type":"ping"}\n'),
      bytesOf([0, 0, 0], "\n"),
      bytesOf('{"type":"hello","name":"nul\\u0000"}\n'),
      bytesOf('{"type":"send","text":"\\u0000"}\n'),
      bytesOf('{"type":"ping\\u0000"}\n'),
      bytesOf('{"type":"join","room":"\\u0000"}\n'),
      bytesOf('{"type":"ping","id":"\\u0000"}\n'),
    ]);
  }

  surrogate(): Uint8Array {
    const r = this.#r;
    const escape = r.pick(["\\ud800", "\\udfff", "\\ud800\\ud800", "\\udc00\\ud800", "x\\udbff"]);
    const raw = r.pick([[0xed, 0xa0, 0x80], [0xed, 0xb0, 0x80], [
      0xed,
      0xa0,
      0xbd,
      0xed,
      0xb8,
      0x80,
    ]]);
    return r.pick([
      bytesOf(`{"type":"send","text":"${escape}"}\n`),
      bytesOf(`{"type":"hello","name":"${escape}"}\n`),
      bytesOf(`{"type":"join","room":"${escape}"}\n`),
      bytesOf(`{"type":"topic","room":"lobby","topic":"${escape}"}\n`),
      bytesOf(`{"type":"msg","to":"${escape}","text":"${escape}"}\n`),
      bytesOf(`{"type":"nick","name":"a${escape}"}\n`),
      bytesOf(`{"type":"ping","id":"${escape}"}\n`),
      bytesOf(`{"type":"${escape}"}\n`),
      bytesOf('{"type":"send","text":"', raw, '"}\n'),
      bytesOf('{"type":"hello","name":"', raw, '"}\n'),
    ]);
  }

  hugeNumbers(): Json {
    const r = this.#r;
    const n = () => r.pick(NUMBERS);
    return r.pick<() => Json>([
      () => ({ type: "ping", id: n() }),
      () => ({ type: "hello", name: this.name(), history: n() }),
      () => ({ type: "hello", name: this.name(), protocol: n() }),
      () => ({ type: "join", room: this.room(), history: n() }),
      () => ({ type: "history", room: "lobby", before: n(), limit: n() }),
      () => ({ type: "history", room: "lobby", limit: n() }),
      () => ({ type: "send", text: "n", action: n() }),
      () => ({ type: "pong", id: n() }),
    ])();
  }

  /** 10,000-deep nesting, and deeper. */
  deep(): Uint8Array {
    const r = this.#r;
    const depth = r.pick([10_000, 10_000, 20_000, 32_000, 40_000]);
    const open = r.chance(0.5) ? "[" : '{"a":';
    const close = open === "[" ? "]" : "}";
    const inner = `${open.repeat(depth)}1${close.repeat(depth)}`;
    return r.pick([
      () => bytesOf(`{"type":"send","text":"deep","extra":${inner}}\n`),
      () => bytesOf(`{"type":"ping","id":${inner}}\n`),
      () => bytesOf(`${inner}\n`),
      // Unclosed: invalid JSON.
      () => bytesOf(`{"type":"ping","id":${open.repeat(depth)}\n`),
    ])();
  }

  /** Keys and names that are properties of every JavaScript object. */
  proto(): Json {
    const r = this.#r;
    return r.pick<() => Json>([
      () => object([["__proto__", { type: "hello", name: "proto" }]]),
      () => object([["type", "hello"], ["name", this.name()], ["__proto__", { history: 0 }]]),
      () => object([["__proto__", null], ["type", "ping"]]),
      () => object([["type", "ping"], ["id", object([["__proto__", { polluted: true }]])]]),
      () => ({ type: "send", text: "c", constructor: { prototype: { polluted: true } } }),
      () => object([["type", "send"], ["text", "p"], ["__proto__", { polluted: true, room: "x" }]]),
      () => ({ type: "hello", name: r.pick(["__proto__", "constructor", "prototype"]) }),
      () => ({ type: "nick", name: r.pick(["__proto__", "constructor", "prototype"]) }),
      () => ({ type: "join", room: r.pick(["__proto__", "constructor", "prototype"]) }),
      () => ({ type: "msg", to: r.pick(["__proto__", "constructor", "prototype"]), text: "hi" }),
      () => ({ type: "who", room: r.pick(["__proto__", "constructor", "prototype"]) }),
      () => ({ type: r.pick(["__proto__", "constructor", "prototype", "toString"]) }),
      () => object([["type", "send"], ["text", "x"], ["room", "lobby"], ["prototype", "y"]]),
    ])();
  }

  /** A line at or just under the frame limit: valid size, so it is handled. Messages this big
   * go to room "big" only, so that the default room's history stays small. */
  nearLimit(): Uint8Array {
    const r = this.#r;
    const size = r.chance(0.5) ? LIMIT : r.between(LIMIT - 100, LIMIT);
    const frame = r.pick([
      (fill: string) => `{"type":"send","room":"big","text":"${fill}"}`,
      (fill: string) => `{"type":"msg","to":"alice","text":"${fill}"}`,
      (fill: string) => `{"type":"hello","name":"${fill}"}`,
      (fill: string) => `{"type":"topic","room":"lobby","topic":"${fill}"}`,
      (fill: string) => `{"type":"ping","id":"${fill}"}`,
    ]);
    const overhead = frame("").length;
    return encoder.encode(frame("q".repeat(size - overhead)) + "\n");
  }

  /** A line over the frame limit, up to a megabyte or so: the server closes the connection. */
  overLimit(): Uint8Array {
    const r = this.#r;
    this.helloSent = false;
    const size = r.chance(0.3) ? LIMIT + 1 : r.between(LIMIT + 1, 1_100_000);
    const body = r.chance(0.5) ? `{"type":"send","text":"${"m".repeat(size)}"}` : "n".repeat(size);
    return encoder.encode(body + "\n");
  }
}

function write(bytes: Uint8Array): Move {
  return { kind: "write", bytes };
}

// Checking what the server sends.

/** What a test saw, and what went wrong. */
class Stats {
  moves = 0;
  bytesSent = 0;
  connections = 0;
  linesReceived = 0;
  readonly types = new Map<string, number>();
  readonly codes = new Map<string, number>();
  readonly problems: string[] = [];

  problem(message: string): void {
    if (this.problems.length < 20) this.problems.push(message);
  }

  summary(): string {
    const codes = [...this.codes].sort((a, b) => b[1] - a[1]).map(([code, n]) => `${code} ${n}`);
    return `${this.moves} moves (${(this.bytesSent / 1024 / 1024).toFixed(1)} MiB) on ` +
      `${this.connections} connections; ${this.linesReceived} frames back; errors: ` +
      codes.join(", ");
  }
}

function preview(bytes: Uint8Array): string {
  const text = new TextDecoder().decode(bytes.subarray(0, 200));
  return JSON.stringify(text) + (bytes.length > 200 ? `... (${bytes.length} bytes)` : "");
}

/**
 * A fuzzing connection: writes what it is given, and reads and checks everything the server
 * sends until the connection ends. Frames are kept for those who wait on them.
 */
class FuzzPeer {
  readonly conn: Deno.TcpConn;
  readonly done: Promise<void>;
  /** Set once the server has closed the connection or it broke. */
  ended = false;
  /** The text of every private message received. */
  readonly privates: string[] = [];
  #stats: Stats;
  #keep: boolean;
  #frames: ServerFrame[] = [];
  #waiters = new Set<() => void>();
  #lastMessageId = 0;
  #closed = false;
  #syncSent = 0;
  #syncAnswered = 0;
  #refusals = 0;

  private constructor(conn: Deno.TcpConn, stats: Stats, keep: boolean) {
    this.conn = conn;
    this.#stats = stats;
    this.#keep = keep;
    this.done = this.#read();
  }

  static async open(port: number, stats: Stats, keep = false): Promise<FuzzPeer> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    stats.connections++;
    return new FuzzPeer(conn, stats, keep);
  }

  write(bytes: Uint8Array): Promise<void> {
    this.#stats.bytesSent += bytes.length;
    return writeAll(this.conn, bytes);
  }

  /** Closes the connection (harmless twice) and waits for the reader to stop. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.conn.close();
      } catch (error) {
        if (!(error instanceof Deno.errors.BadResource)) throw error;
      }
    }
    await this.done;
  }

  /** Waits for a frame that `match` accepts, among those received since the last wait. */
  async expect(
    what: string,
    match: (frame: ServerFrame) => boolean,
    ms = 5000,
  ): Promise<ServerFrame> {
    return await this.#until(what, ms, () => {
      const index = this.#frames.findIndex(match);
      if (index === -1) {
        if (this.ended) throw new Error(`Connection ended while waiting for ${what}`);
        return undefined;
      }
      const frame = this.#frames[index]!;
      this.#frames = this.#frames.slice(index + 1);
      return frame;
    });
  }

  /** The frames kept and not yet taken by {@linkcode expect}. */
  received(): ServerFrame[] {
    return this.#frames;
  }

  /**
   * Lets the server catch up: sends a `ping` and waits for its `pong`, or for the connection to
   * end, or (when the ping itself may be refused by the flood control) for a `rate_limited`
   * error. Returns false if none comes within `ms`: the server stopped answering.
   */
  async sync(ms = 10_000): Promise<boolean> {
    const id = ++this.#syncSent;
    const refusals = this.#refusals;
    try {
      await this.write(line({ type: "ping", id: `sync-${id}` }));
    } catch (error) {
      if (isDisconnect(error)) return true;
      throw error;
    }
    try {
      await this.#until(`the pong of sync ${id}`, ms, () => {
        return this.#syncAnswered >= id || this.ended || this.#refusals > refusals || undefined;
      });
      return true;
    } catch {
      return false;
    }
  }

  /** Resolves with what `test` returns once it is not undefined, testing after every frame. */
  #until<T>(what: string, ms: number, test: () => T | undefined): Promise<T> {
    let cancelled = false;
    return deadline(
      (async () => {
        while (!cancelled) {
          const result = test();
          if (result !== undefined) return result;
          const { promise, resolve } = Promise.withResolvers<void>();
          this.#waiters.add(resolve);
          await promise;
          this.#waiters.delete(resolve);
        }
        throw new Error(`Cancelled: ${what}`);
      })(),
      ms,
      what,
    ).finally(() => {
      cancelled = true;
      this.#wake();
    });
  }

  #wake(): void {
    for (const wake of this.#waiters) wake();
  }

  async #read(): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    let partial: Uint8Array[] = [];
    let partialBytes = 0;
    let clean = false;
    try {
      while (true) {
        const count = await this.conn.read(buffer);
        if (count === null) {
          clean = true;
          break;
        }
        const chunk = buffer.subarray(0, count);
        let start = 0;
        for (let end = chunk.indexOf(0x0a); end !== -1; end = chunk.indexOf(0x0a, start)) {
          const piece = chunk.subarray(start, end);
          this.#check(partialBytes === 0 ? piece : bytesOf(...partial, piece));
          partial = [];
          partialBytes = 0;
          start = end + 1;
        }
        if (start < count) {
          partial.push(chunk.slice(start));
          partialBytes += count - start;
          if (partialBytes > MAX_SERVER_FRAME_BYTES) {
            this.#stats.problem(`A server frame is longer than ${MAX_SERVER_FRAME_BYTES} bytes`);
            break;
          }
        }
      }
    } catch (error) {
      if (!isDisconnect(error)) this.#stats.problem(`Reading failed: ${error}`);
    } finally {
      this.ended = true;
      this.#wake();
    }
    if (clean && partialBytes > 0) {
      this.#stats.problem(
        `The server closed the connection in the middle of a frame: ${
          preview(bytesOf(...partial))
        }`,
      );
    }
  }

  /** Checks one line from the server: a well-formed frame, with a known code or reason. */
  #check(line: Uint8Array): void {
    const stats = this.#stats;
    stats.linesReceived++;
    const result = decodeServerFrame(line);
    if (!result.ok) {
      return stats.problem(`Malformed server frame (${result.code}): ${preview(line)}`);
    }
    const frame = result.frame;
    stats.types.set(frame.type, (stats.types.get(frame.type) ?? 0) + 1);
    switch (frame.type) {
      case "pong": {
        const sync = typeof frame.id === "string" && /^sync-(\d+)$/.exec(frame.id);
        if (sync) this.#syncAnswered = Math.max(this.#syncAnswered, Number(sync[1]));
        break;
      }
      case "error":
        if (frame.code === "rate_limited") this.#refusals++;
        stats.codes.set(frame.code, (stats.codes.get(frame.code) ?? 0) + 1);
        if (!isErrorCode(frame.code)) {
          stats.problem(`An error code not in ErrorCode: ${preview(line)}`);
        } else if (!DOCUMENTED.has(frame.code)) {
          stats.problem(`An error code not in docs/PROTOCOL.md's table: ${preview(line)}`);
        }
        break;
      case "left":
        if (!isLeaveReason(frame.reason)) stats.problem(`Unknown leave reason: ${preview(line)}`);
        break;
      case "private":
        this.privates.push(frame.text);
        break;
      case "message":
        if (!Number.isSafeInteger(frame.id) || frame.id <= this.#lastMessageId) {
          stats.problem(`Message id ${frame.id} after ${this.#lastMessageId}: ${preview(line)}`);
        }
        this.#lastMessageId = frame.id;
        break;
    }
    if (this.#keep) this.#frames.push(frame);
    this.#wake();
  }
}

// Running the fuzz.

/** One connection's moves: a fresh connection whenever the server closed the last one. */
async function fuzzLane(
  port: number,
  lane: number,
  fuzzer: Fuzzer,
  moves: number,
  stats: Stats,
): Promise<void> {
  let peer: FuzzPeer | undefined;
  const fresh = async () => {
    await peer?.close();
    fuzzer.helloSent = false;
    peer = await FuzzPeer.open(port, stats);
    return peer;
  };
  try {
    for (let n = 0; n < moves; n++) {
      const move = fuzzer.next();
      stats.moves++;
      const current = peer === undefined || peer.ended ? await fresh() : peer;
      try {
        switch (move.kind) {
          case "write":
            await current.write(move.bytes);
            break;
          case "split":
            await current.write(move.bytes.subarray(0, move.at));
            await new Promise((resolve) => setTimeout(resolve, move.pauseMs));
            await current.write(move.bytes.subarray(move.at));
            break;
          case "drop":
            await current.write(move.bytes);
            await current.close();
            peer = undefined;
            break;
          case "close":
            await current.close();
            peer = undefined;
        }
      } catch (error) {
        // The server closed the connection under the write: open another next time.
        if (!isDisconnect(error)) throw error;
        await current.close();
        peer = undefined;
      }
      if (peer !== undefined && (n % SYNC_EVERY === SYNC_EVERY - 1 || n === moves - 1)) {
        if (!await peer.sync()) stats.problem(`The server stopped answering lane ${lane}`);
      }
    }
    // Leave politely or not: quit and wait for the server to close, or just close.
    if (peer !== undefined && !peer.ended && fuzzer.helloSent && fuzzer.random.chance(0.5)) {
      await peer.write(line({ type: "quit" })).catch(() => {});
      await deadline(peer.done, 5000, "the server to close after quit").catch((error) => {
        stats.problem(String(error));
      });
    }
  } finally {
    await peer?.close();
  }
}

/** One round: `CONNECTIONS` lanes at once, `MOVES` moves each. */
async function fuzzRound(port: number, test: number, round: number, stats: Stats): Promise<void> {
  await deadline(
    Promise.all(
      Array.from(
        { length: CONNECTIONS },
        (_, lane) =>
          fuzzLane(
            port,
            lane,
            new Fuzzer(new Random(laneSeed(test, round, lane)), lane),
            MOVES,
            stats,
          ),
      ),
    ),
    60_000 + MOVES * CONNECTIONS * 20,
    `fuzz round ${round}`,
  );
}

/**
 * A client that joins, then sends frames as fast as it can without reading what comes back:
 * past its burst the flood control refuses them with `rate_limited`, and after a run of
 * refusals the server disconnects it, with `rate_limited` as the last word.
 */
async function flood(port: number, seed: number, stats: Stats): Promise<void> {
  const fuzzer = new Fuzzer(new Random(seed), 1000 + (seed % 1000));
  const peer = await FuzzPeer.open(port, stats, true);
  try {
    await peer.write(line({ type: "hello", name: `flood-${seed}`, history: 0 }));
    await peer.expect("welcome", (f) => f.type === "welcome");
    const frames: Uint8Array[] = [];
    while (frames.length < 400) {
      const frame = fuzzer.chatty();
      const type = (frame as { type?: unknown }).type;
      if (type !== "quit" && type !== "hello") frames.push(line(frame));
    }
    await peer.write(bytesOf(...frames)).catch((error) => {
      if (!isDisconnect(error)) throw error;
    });
    await deadline(peer.done, 10_000, "the flood control to disconnect a flooding client");
    const errors = peer.received().filter((f) => f.type === "error");
    assert(
      errors.some((f) => f.code === "rate_limited"),
      "a flooding client is refused with rate_limited",
    );
    assertEquals(errors.at(-1)?.code, "rate_limited", "and disconnected with rate_limited");
  } finally {
    await peer.close();
  }
}

/** Frames written in two pieces, cut at every byte offset, on three connections at once:
 * each must be answered as if written whole. Multi-byte characters get cut too. */
async function cutAtEveryOffset(port: number, stats: Stats): Promise<void> {
  const pad = (k: number) => String(k).padStart(3, "0");
  const lanes: {
    frame: (k: number) => string;
    answer: (k: number) => (frame: ServerFrame) => boolean;
    after?: (k: number) => string;
  }[] = [
    {
      frame: (k) => `{"type":"msg","to":"cutter-0","text":"héllo wörld 😀 ✓ ${pad(k)}"}\n`,
      answer: (k) => (f) => f.type === "private" && f.text === `héllo wörld 😀 ✓ ${pad(k)}`,
    },
    {
      frame: (k) => `{"type":"ping","id":"ж-пинг-${pad(k)}"}\n`,
      answer: (k) => (f) => f.type === "pong" && f.id === `ж-пинг-${pad(k)}`,
    },
    {
      frame: (k) => `{"type":"join","room":"cüt-${pad(k)}","history":0}\n`,
      answer: (k) => (f) => f.type === "entered" && f.room === `cüt-${pad(k)}`,
      after: (k) => `{"type":"part","room":"cüt-${pad(k)}"}\n`,
    },
  ];
  await Promise.all(lanes.map(async ({ frame, answer, after }, lane) => {
    const peer = await FuzzPeer.open(port, stats, true);
    try {
      await peer.write(line({ type: "hello", name: `cutter-${lane}`, history: 0 }));
      await peer.expect("welcome", (f) => f.type === "welcome");
      const length = encoder.encode(frame(0)).length;
      for (let k = 1; k < length; k++) {
        const bytes = encoder.encode(frame(k));
        await peer.write(bytes.subarray(0, k));
        await new Promise((resolve) => setTimeout(resolve, 1));
        await peer.write(bytes.subarray(k));
        const match = answer(k);
        await peer.expect(`the answer to ${frame(k).trim()} cut at ${k}`, match);
        if (after) {
          await peer.write(encoder.encode(after(k)));
          await peer.expect("left", (f) => f.type === "left");
        }
      }
    } finally {
      await peer.close();
    }
  }));
}

/** Connections that say hello, write part of a private message and drop, at every byte offset
 * of the message: its target never gets any of them, and gets the one sent whole. */
async function dropAtEveryOffset(port: number, stats: Stats): Promise<void> {
  const watcher = await FuzzPeer.open(port, stats, true);
  try {
    await watcher.write(line({ type: "hello", name: "cut-watch", history: 0 }));
    await watcher.expect("welcome", (f) => f.type === "welcome");
    const frame = (k: string) => `{"type":"msg","to":"cut-watch","text":"✂ dropped ${k} ✂"}\n`;
    const length = encoder.encode(frame("000")).length;
    const offsets = Array.from({ length }, (_, k) => k);
    const laneCount = 4;
    await Promise.all(Array.from({ length: laneCount }, async (_, lane) => {
      for (let i = lane; i < offsets.length; i += laneCount) {
        const k = offsets[i]!;
        const peer = await FuzzPeer.open(port, stats, true);
        try {
          const hello = line({ type: "hello", name: `dropper-${k}`, history: 0 });
          const prefix = encoder.encode(frame(String(k).padStart(3, "0"))).subarray(0, k);
          if (k % 2 === 0) {
            await peer.write(hello);
            await peer.expect("welcome", (f) => f.type === "welcome");
            await peer.write(prefix);
          } else {
            await peer.write(bytesOf(hello, prefix));
          }
        } finally {
          await peer.close();
        }
      }
    }));
    const sender = await FuzzPeer.open(port, stats, true);
    try {
      await sender.write(line({ type: "hello", name: "dropper-whole", history: 0 }));
      await sender.write(encoder.encode(frame("all")));
      await sender.write(line({ type: "ping", id: "sent" }));
      await sender.expect("pong", (f) => f.type === "pong");
    } finally {
      await sender.close();
    }
    await watcher.expect("the message sent whole", (f) => f.type === "private");
    await watcher.write(line({ type: "ping", id: "last" }));
    await watcher.expect("pong", (f) => f.type === "pong");
    assertEquals(
      watcher.privates,
      ["✂ dropped all ✂"],
      "no private message from a connection dropped mid-frame, and the one sent whole",
    );
  } finally {
    await watcher.close();
  }
}

// What must hold afterwards.

/**
 * Sockets open in process `pid`, from /proc by `find` (Deno lets only `--allow-all` read /proc,
 * and `deno test -P` grants less); undefined where there is no /proc.
 */
function openSockets(pid: number | "self"): number | undefined {
  if (Deno.build.os !== "linux") return undefined;
  const fds = `/proc/${pid === "self" ? Deno.pid : pid}/fd`;
  // An fd closed while find looked is left out, and find exits 1 for it: what it listed stands.
  const found = new Deno.Command("find", { args: [fds, "-lname", "socket:*"], stderr: "null" })
    .outputSync();
  return new TextDecoder().decode(found.stdout).split("\n").filter(Boolean).length;
}

/** The live heap after each full GC (MiB), from V8's --trace-gc lines in `output`. */
function liveHeapsMiB(output: string): number[] {
  return [...output.matchAll(/Mark-Compact [\d.]+ \([\d.]+\) -> ([\d.]+) \(/g)].map((match) =>
    Number(match[1])
  );
}

/** Polls `condition` until it holds, within `ms`. */
async function until(what: string, condition: () => boolean, ms = 10_000): Promise<void> {
  await deadline(
    (async () => {
      while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
    })(),
    ms,
    what,
  );
}

/** Waits until process `pid` has `baseline` sockets open again: every connection closed. */
async function socketsBackTo(pid: number | "self", baseline: number | undefined): Promise<void> {
  if (baseline === undefined) return;
  let now: number | undefined;
  await until(
    `sockets back to ${baseline}`,
    () => (now = openSockets(pid)) === baseline,
  ).catch((error) => {
    throw new Error(`${error.message} (still ${now} open): a connection leaked`);
  });
}

/** A normal client can still join, talk in a room, be answered in a new room, and ping. */
async function stillServes(port: number): Promise<void> {
  const connect = (name: string) => ChatClient.connect({ port, name, keepAliveMs: 0 });
  await using alice = await deadline(connect("sanity-alice"), 5000, "alice joining");
  await using bob = await deadline(connect("sanity-bob"), 5000, "bob joining");
  await nextFrame(alice, "joined", (frame) => frame.name === "sanity-bob");
  bob.send("still standing");
  const message = await nextFrame(alice, "message", (frame) => frame.from === "sanity-bob");
  assertEquals([message.room, message.text], ["lobby", "still standing"]);
  alice.join("sanity-room", { history: 0 });
  bob.join("sanity-room", { history: 0 });
  await nextFrame(alice, "entered", (frame) => frame.room === "sanity-room");
  await nextFrame(alice, "joined", (frame) => frame.room === "sanity-room");
  bob.send("in a new room", { room: "sanity-room" });
  const again = await nextFrame(alice, "message", (frame) => frame.room === "sanity-room");
  assertEquals(again.text, "in a new room");
  assert((await deadline(alice.ping(), 5000, "a ping")) >= 0);
}

/** Fails the test if the server logged an error while `body` ran. */
async function withoutErrorLogs<T>(body: (logged: string[]) => Promise<T>): Promise<T> {
  const logged: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => {
    logged.push(args.map(String).join(" "));
  };
  try {
    return await body(logged);
  } finally {
    console.error = original;
  }
}

function assertSane(stats: Stats, logged: string[]): void {
  console.log(stats.summary());
  assertEquals(stats.problems, [], "the server sent only well-formed frames");
  assertEquals(logged, [], "the server logged no error");
  assertEquals(Object.keys(Object.prototype), [], "Object.prototype is untouched");
  assertEquals(({} as Record<string, unknown>).polluted, undefined);
}

async function quiesce(server: ChatServer, sockets: number | undefined): Promise<void> {
  await until("every fuzz user gone", () => server.userCount === 0).catch((error) => {
    throw new Error(`${error.message}: ${server.userCount} user(s) left behind`);
  });
  await socketsBackTo("self", sockets);
}

Deno.test("fuzz: hostile frames from many connections at once, no flood control", async () => {
  banner("fuzz without flood control");
  const stats = new Stats();
  await withoutErrorLogs(async (logged) => {
    await using server = startServer({ rate: 0, maxConnectionsPerIp: 100_000, logLevel: "error" });
    const port = server.addr.port;
    const sockets = openSockets("self");
    for (let round = 0; round < ROUNDS; round++) await fuzzRound(port, 0, round, stats);
    await quiesce(server, sockets);
    await deadline(cutAtEveryOffset(port, stats), 30_000, "frames cut at every offset");
    await deadline(dropAtEveryOffset(port, stats), 30_000, "connections dropped mid-frame");
    await quiesce(server, sockets);
    await stillServes(port);
    assertSane(stats, logged);
    for (
      const code of [
        "invalid_utf8",
        "invalid_json",
        "invalid_frame",
        "unknown_type",
        "not_joined",
        "invalid_name",
        "invalid_text",
        "frame_too_large",
      ]
    ) {
      assert(stats.codes.has(code), `the fuzz provoked ${code}`);
    }
    for (const type of ["welcome", "entered", "message", "pong", "error", "left"]) {
      assert(stats.types.has(type), `the fuzz got ${type} frames`);
    }
  });
});

Deno.test("fuzz: hostile frames with the default flood control and connection caps", async () => {
  banner("fuzz with the default limits");
  const stats = new Stats();
  await withoutErrorLogs(async (logged) => {
    await using server = startServer({ logLevel: "error" });
    const port = server.addr.port;
    const sockets = openSockets("self");
    for (let round = 0; round < ROUNDS; round++) {
      await Promise.all([
        fuzzRound(port, 1, round, stats),
        ...Array.from({ length: 4 }, (_, lane) => flood(port, laneSeed(3, round, lane), stats)),
      ]);
    }
    await quiesce(server, sockets);
    await stillServes(port);
    assertSane(stats, logged);
  });
});

Deno.test({
  name: "fuzz: a server subprocess stays up, answers, and its memory levels off",
  // Memory and sockets are read from /proc.
  ignore: Deno.build.os !== "linux",
  async fn() {
    banner("fuzz against a subprocess");
    const stats = new Stats();
    await using dir = await tempDir();
    await using server = new ParleyProcess(
      [
        "serve",
        "--port",
        "0",
        "--db",
        `${dir.path}/fuzz.db`,
        "--rate",
        "0",
        "--max-connections-per-ip",
        "100000",
        "--log-level",
        "warn",
      ],
      // The server's --trace-gc lines tell its live heap after each full GC.
      { env: { DENO_V8_FLAGS: `${Deno.env.get("DENO_V8_FLAGS") ?? ""} --trace-gc`.trim() } },
    );
    const port = Number((await server.waitFor(/parley listening on 127\.0\.0\.1:(\d+)/))[1]);
    const pid = server.child.pid;
    const sockets = openSockets(pid);
    const settle = async () => {
      await socketsBackTo(pid, sockets);
      await new Promise((resolve) => setTimeout(resolve, 300));
      return rssKiB(pid);
    };
    const samples = [rssKiB(pid)];
    await fuzzRound(port, 2, 0, stats);
    const warm = await settle();
    samples.push(warm);
    for (let round = 1; round <= ROUNDS; round++) {
      await fuzzRound(port, 2, round, stats);
      samples.push(await settle());
    }
    const after = samples.at(-1)!;
    console.log(
      `server RSS in KiB: ${samples[0]} at start, ${warm} after the warm-up round, then ` +
        `${samples.slice(2).join(", ")}: growth ${after - warm} KiB (bound ` +
        `${RSS_GROWTH_BOUND_KIB} KiB)`,
    );
    // Full GCs come when V8 decides: compare the last with the smallest, if there were two.
    const live = liveHeapsMiB(server.stdout);
    console.log(
      `server live heap after each full GC, in MiB: ${live.join(", ") || "none"} (bound: the ` +
        `last at most ${LIVE_HEAP_GROWTH_BOUND_MIB} MiB over the smallest)`,
    );
    await stillServes(port);
    assertSane(stats, []);
    assertLess(after - warm, RSS_GROWTH_BOUND_KIB, "the server's memory levels off");
    if (live.length >= 2) {
      assertLess(live.at(-1)! - Math.min(...live), LIVE_HEAP_GROWTH_BOUND_MIB, "no heap leak");
    }
    server.child.kill("SIGTERM");
    assertEquals(await server.exitCode(), 0, "SIGTERM still stops the server cleanly");
    assert(!/ ERROR /.test(server.stderr), `the server logged an error: ${server.stderr}`);
  },
});
