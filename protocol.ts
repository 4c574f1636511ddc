/**
 * Parley's wire protocol, version 1: the only module that knows the wire format.
 *
 * A connection carries UTF-8 JSON objects, one per line, each ending in `\n` (NDJSON). Every
 * frame has a string `type`; unknown fields are ignored. This module is pure: it turns frames
 * into bytes and bytes into validated frames, and touches no socket. docs/PROTOCOL.md is the
 * prose version of this file.
 *
 * @example Encode a frame and decode it again
 * ```ts
 * import { decodeClientFrame, encodeFrame } from "./protocol.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = encodeFrame({ type: "send", text: "hi\nthere" });
 * const result = decodeClientFrame(bytes.subarray(0, -1));
 * if (!result.ok) throw new Error(result.message);
 * assertEquals(result.frame, { type: "send", text: "hi\nthere" });
 * ```
 *
 * @module
 */

import { errorMessage } from "./_protocol/error_message.ts";
import { isBlank, nameKey, namingProblem } from "./_protocol/names.ts";
import type { BaseKind, Kind, Schema, Schemas } from "./_protocol/schema.ts";

/** The protocol version this module speaks. */
export const PROTOCOL_VERSION = 1;

/** The port servers listen on when none is given. */
export const DEFAULT_PORT = 7342;

/** The port servers listen on for TLS when none is given. */
export const DEFAULT_TLS_PORT = 7343;

/** The longest client frame, in bytes without its newline, a server accepts by default. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024;

/** The longest name, in characters (Unicode code points). */
export const MAX_NAME_LENGTH = 32;

/**
 * The longest server frame, in bytes, a client accepts. Server frames carry fields the client
 * did not send (a sender, a timestamp, lists of users), so they may exceed the server's limit
 * for client frames; this bound only stops a runaway server from exhausting a client's memory.
 */
export const MAX_SERVER_FRAME_BYTES = 16 * 1024 * 1024;

/** The longest room name, in characters. Room names follow the rules for user names. */
export const MAX_ROOM_LENGTH = 64;

/** The room every connection starts in unless the server says otherwise. */
export const DEFAULT_ROOM = "lobby";

/** The most messages one `history` frame carries. */
export const MAX_HISTORY_LIMIT = 200;

/** The longest room topic, in characters (Unicode code points). */
export const MAX_TOPIC_LENGTH = 500;

/**
 * What a frame that carries text to store or deliver (`send`, `msg`, `topic`) costs against a
 * server's byte rate, beyond its own length in bytes: about what the server keeps besides the
 * text (the sender, the time, the id and an index entry), so that many small messages cost
 * what they take up.
 */
export const BYTE_COST_PER_FRAME = 256;

/**
 * What a client frame costs against a server's byte rate (`byteRate` in `welcome`): for
 * `send`, `msg` and `topic`, its length in bytes without the newline plus
 * {@linkcode BYTE_COST_PER_FRAME}; for any other frame, nothing.
 *
 * @param type The frame's type.
 * @param bytes The frame's length in bytes, without its newline.
 * @returns The cost in bytes.
 *
 * @example
 * ```ts
 * import { byteCost } from "./protocol.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(byteCost("send", 30), 286);
 * assertEquals(byteCost("join", 30), 0);
 * ```
 */
export function byteCost(type: ClientFrame["type"], bytes: number): number {
  return type === "send" || type === "msg" || type === "topic" ? bytes + BYTE_COST_PER_FRAME : 0;
}

/** A JSON scalar: what a `ping` may carry as its `id`. */
export type Scalar = string | number | boolean | null;

// Client to server.

/** Joins the chat under a name. Must be the first frame; may be repeated after a refusal. */
export interface HelloFrame {
  /** Always `"hello"`. */
  type: "hello";
  /** The user's name. */
  name: string;
  /** The protocol version the client speaks; only {@linkcode PROTOCOL_VERSION} is accepted. */
  protocol?: number;
  /** How many past messages of the default room to replay; 0 for none. Default: the server's. */
  history?: number;
  /** The password of the name, if it is registered. */
  password?: string;
  /** The server's password, if it has one. */
  serverPassword?: string;
}

/** Sends a message to a room. */
export interface SendFrame {
  /** Always `"send"`. */
  type: "send";
  /** Not empty or only white space; may contain newlines. */
  text: string;
  /** The room, which the sender must be in. Default: the server's default room. */
  room?: string;
  /** An action (`/me waves`): shown as "* alice waves". */
  action?: boolean;
}

/** Sends a private message to one user. */
export interface MsgFrame {
  /** Always `"msg"`. */
  type: "msg";
  /** The recipient's name. */
  to: string;
  /** Not empty or only white space; may contain newlines. */
  text: string;
}

/** Enters a room, creating it if it does not exist (unless the server has a fixed set). */
export interface JoinFrame {
  /** Always `"join"`. */
  type: "join";
  /** The room's name. */
  room: string;
  /** How many past messages to replay; 0 for none. Default: the server's. */
  history?: number;
}

/** Leaves a room. */
export interface PartFrame {
  /** Always `"part"`. */
  type: "part";
  /** The room's name. */
  room: string;
}

/** Asks for a page of the list of rooms, by name, answered by `rooms`. */
export interface ListRoomsFrame {
  /** Always `"rooms"`. */
  type: "rooms";
  /** Only rooms whose names sort after this one: the `next` of the page before. Default: from
   * the first. */
  after?: string;
}

/** Asks for a page of who is present, in one room or on the server; answered by `users`. */
export interface WhoFrame {
  /** Always `"who"`. */
  type: "who";
  /** The room; without it, everyone on the server. */
  room?: string;
  /** Only those who arrived after the last of the page before: its `next`. Default: from the
   * first. */
  after?: number;
}

/** Sets a room's topic; everyone in the room gets `topic`. */
export interface SetTopicFrame {
  /** Always `"topic"`. */
  type: "topic";
  /** The room, which the sender must be in. */
  room: string;
  /** The new topic; empty clears it. */
  topic: string;
}

/** Asks for earlier messages of a room, answered by `history`. */
export interface HistoryRequestFrame {
  /** Always `"history"`. */
  type: "history";
  /** The room, which the sender must be in. */
  room: string;
  /** Only messages with a smaller id. Default: the newest. */
  before?: number;
  /** How many, at most {@linkcode MAX_HISTORY_LIMIT}. Default: the server's replay count. */
  limit?: number;
}

/** Changes the client's name; everyone sharing a room gets `renamed`. */
export interface NickFrame {
  /** Always `"nick"`. */
  type: "nick";
  /** The new name, under the same rules as in `hello`. */
  name: string;
  /** The new name's password, if it is registered. */
  password?: string;
}

/** Registers the client's current name: from then on, it needs this password in `hello`. */
export interface RegisterFrame {
  /** Always `"register"`. */
  type: "register";
  /** At least 8 characters. */
  password: string;
  /** The one-time token the server printed at start, needed to register an operator name
   * that is not registered yet. */
  token?: string;
}

/** Operators only: disconnects a user. */
export interface KickFrame {
  /** Always `"kick"`. */
  type: "kick";
  /** The user's name. */
  name: string;
  /** Shown to the user and the others. */
  reason?: string;
}

/** Operators only: bans a name or an IP address, and disconnects whoever it covers. */
export interface BanFrame {
  /** Always `"ban"`. */
  type: "ban";
  /** A user name, or an IPv4 or IPv6 address. */
  target: string;
  /** For how many seconds; for good, if absent. */
  duration?: number;
  /** Shown to whoever it covers. */
  reason?: string;
}

/** Operators only: lifts a ban. */
export interface UnbanFrame {
  /** Always `"unban"`. */
  type: "unban";
  /** The name or address banned. */
  target: string;
}

/** Operators only: asks for the server's figures, answered by `stats`. */
export interface StatsRequestFrame {
  /** Always `"stats"`. */
  type: "stats";
}

/** Asks for a `pong` carrying the same `id`. Either side may send it: a client to measure the
 * round trip or to check the server is there, a server to check an idle client is. A client's
 * ping is allowed before `hello`. */
export interface PingFrame {
  /** Always `"ping"`. */
  type: "ping";
  /** Any JSON scalar, echoed in the answer. */
  id?: Scalar;
}

/** Leaves the chat; the server closes the connection. */
export interface QuitFrame {
  /** Always `"quit"`. */
  type: "quit";
}

/** Every frame a client may send. */
export type ClientFrame =
  | HelloFrame
  | SendFrame
  | MsgFrame
  | JoinFrame
  | PartFrame
  | ListRoomsFrame
  | WhoFrame
  | SetTopicFrame
  | HistoryRequestFrame
  | NickFrame
  | RegisterFrame
  | KickFrame
  | BanFrame
  | UnbanFrame
  | StatsRequestFrame
  | PingFrame
  | PongFrame
  | QuitFrame;

// Server to client.

/** Accepts a `hello`. The user is then in the default room: `entered` and `history` follow. */
export interface WelcomeFrame {
  /** Always `"welcome"`. */
  type: "welcome";
  /** The name the client joined under. */
  name: string;
  /** The other users in the default room. */
  users: string[];
  /** The default room, which the user is now in. */
  room: string;
  /** The longest frame the server accepts from this client, in bytes without the newline. */
  maxFrameBytes: number;
  /** Frames a client may send per second on average (0: no limit), and at once. */
  rate: number;
  /** Frames a client may send at once before `rate` applies. */
  burst: number;
  /** Bytes of text a client may send per second on average (0: no limit), counted by
   * {@linkcode byteCost}. Absent from servers without a byte rate. */
  byteRate?: number;
  /** Bytes of text a client may send at once before `byteRate` applies. */
  byteBurst?: number;
  /** The server's software and version, as `parley/<version>`. */
  server: string;
  /** The protocol version the server speaks. */
  protocol: number;
  /** Present and true for an operator. */
  operator?: boolean;
}

/** A message as kept in a room's history. */
export interface StoredMessage {
  /** Assigned by the server; unique and increasing, across restarts too. */
  id: number;
  /** The sender's name, set by the server. */
  from: string;
  /** The message; may contain newlines. */
  text: string;
  /** When the server received it, ISO-8601 UTC. */
  ts: string;
  /** Present and true for an action (`/me waves`). */
  action?: boolean;
}

/** A message in a room, sent to every member but its sender. */
export interface MessageFrame extends StoredMessage {
  /** Always `"message"`. */
  type: "message";
  /** The room it was sent to. */
  room: string;
}

/** A private message, sent to its recipient only. */
export interface PrivateFrame {
  /** Always `"private"`. */
  type: "private";
  /** The sender's name, set by the server. */
  from: string;
  /** The recipient's name. */
  to: string;
  /** The message; may contain newlines. */
  text: string;
  /** When the server received it, ISO-8601 UTC. */
  ts: string;
}

/** The client is now in a room: who else is there and its topic. `history` follows. */
export interface EnteredFrame {
  /** Always `"entered"`. */
  type: "entered";
  /** The room's name. */
  room: string;
  /** The other members. */
  users: string[];
  /** The room's topic, if it has one. */
  topic?: string;
  /** Who set the topic, when the server knows (absent for topics set before it kept setters). */
  topicBy?: string;
  /** When the topic was set, ISO-8601 UTC; present exactly when `topicBy` is. */
  topicTs?: string;
}

/** Past messages of a room, oldest first: the replay on entering, or the answer to `history`. */
export interface HistoryFrame {
  /** Always `"history"`. */
  type: "history";
  /** The room's name. */
  room: string;
  /** The messages, oldest first, with their original ids and timestamps. */
  messages: StoredMessage[];
  /** Whether older messages remain. */
  more: boolean;
}

/** Someone entered a room the client is in. */
export interface JoinedFrame {
  /** Always `"joined"`. */
  type: "joined";
  /** The room's name. */
  room: string;
  /** The user's name. */
  name: string;
  /** When it happened, ISO-8601 UTC, set by the server. */
  ts: string;
}

/** Why someone left a room: `part` (they left the room), `quit` (they left the chat),
 * `disconnected` (the connection broke), or an error code such as `slow_consumer`. */
export type LeaveReason = "part" | "quit" | "disconnected" | ErrorCode;

/** Someone left a room the client is in; the client itself too, after `part`. */
export interface LeftFrame {
  /** Always `"left"`. */
  type: "left";
  /** The room's name. */
  room: string;
  /** The user's name. */
  name: string;
  /** Why they left. */
  reason: LeaveReason;
  /** When it happened, ISO-8601 UTC, set by the server. */
  ts: string;
}

/** Someone changed their name; sent to the renamed user and everyone sharing a room with them. */
export interface RenamedFrame {
  /** Always `"renamed"`. */
  type: "renamed";
  /** The old name. */
  from: string;
  /** The new name. */
  to: string;
  /** When it happened, ISO-8601 UTC, set by the server. */
  ts: string;
}

/** Answers `who`: a page of the names present. */
export interface UsersFrame {
  /** Always `"users"`. */
  type: "users";
  /** The room asked about; absent for the whole server. */
  room?: string;
  /** The names present, in the order they arrived. */
  users: string[];
  /** Present and true when more names follow: ask again with `after` set to `next`. */
  more?: boolean;
  /** Where the next page starts: the `after` to ask with. Present with `more`. */
  next?: number;
}

/** A room as listed by `rooms`. */
export interface RoomInfo {
  /** The room's name. */
  name: string;
  /** How many users are in it. */
  users: number;
  /** Its topic, if it has one. */
  topic?: string;
}

/** Answers `rooms`: a page of the rooms with someone in them, and the server's fixed rooms. */
export interface RoomsFrame {
  /** Always `"rooms"`. */
  type: "rooms";
  /** The rooms, by name. */
  rooms: RoomInfo[];
  /** Present and true when more rooms follow: ask again with `after` set to `next`. */
  more?: boolean;
  /** Where the next page starts: the `after` to ask with (the last room's name). Present with
   * `more`. */
  next?: string;
}

/** A room's topic changed. */
export interface TopicFrame {
  /** Always `"topic"`. */
  type: "topic";
  /** The room's name. */
  room: string;
  /** The new topic; empty when cleared. */
  topic: string;
  /** Who set it. */
  by: string;
  /** When, ISO-8601 UTC. */
  ts: string;
}

/** Confirms a request that has no frame of its own (`register`, `kick`, `ban`, `unban`). */
export interface NoticeFrame {
  /** Always `"notice"`. */
  type: "notice";
  /** A sentence for humans. */
  text: string;
}

/** Answers `stats`. */
export interface StatsFrame {
  /** Always `"stats"`. */
  type: "stats";
  /** Open connections, joined or not. */
  connections: number;
  /** Joined users. */
  users: number;
  /** Rooms in use. */
  rooms: number;
  /** Room messages a second, averaged over the last minute. */
  messagesPerSecond: number;
  /** The server process's resident memory, in bytes. */
  memoryBytes: number;
  /** Seconds since the server started. */
  uptimeSeconds: number;
}

/** Answers a `ping`, from either side. */
export interface PongFrame {
  /** Always `"pong"`. */
  type: "pong";
  /** Any JSON scalar, echoed in the answer. */
  id?: Scalar;
}

/** Every error code, stable and snake_case. docs/PROTOCOL.md says when each is sent. */
export const ERROR_CODES = [
  "invalid_utf8",
  "invalid_json",
  "invalid_frame",
  "unknown_type",
  "unsupported_protocol",
  "not_joined",
  "already_joined",
  "invalid_name",
  "name_taken",
  "invalid_text",
  "invalid_room",
  "no_such_room",
  "not_in_room",
  "already_in_room",
  "too_many_rooms",
  "no_such_user",
  "store_failed",
  "cluster_unavailable",
  "internal_error",
  "rate_limited",
  "auth_failed",
  "wrong_password",
  "weak_password",
  "not_operator",
  "kicked",
  "banned",
  "no_such_ban",
  "server_full",
  "too_many_connections",
  "hello_timeout",
  "timeout",
  "frame_too_large",
  "slow_consumer",
  "server_shutdown",
] as const;

/** A stable, snake_case error code: one of {@linkcode ERROR_CODES}. */
export type ErrorCode = typeof ERROR_CODES[number];

/** Reports a problem with what the client sent, or why the server is closing the connection. */
export interface ErrorFrame {
  /** Always `"error"`. */
  type: "error";
  /** What went wrong, as a stable code. */
  code: ErrorCode;
  /** A sentence for humans; its wording may change. */
  message: string;
}

/** Every frame a server may send. */
export type ServerFrame =
  | WelcomeFrame
  | MessageFrame
  | PrivateFrame
  | EnteredFrame
  | HistoryFrame
  | JoinedFrame
  | LeftFrame
  | RenamedFrame
  | UsersFrame
  | RoomsFrame
  | TopicFrame
  | NoticeFrame
  | StatsFrame
  | PingFrame
  | PongFrame
  | ErrorFrame;

/** Any frame, in either direction. */
export type Frame = ClientFrame | ServerFrame;

/** The result of decoding one line: a valid frame, or the error to report. */
export type DecodeResult<T extends Frame> =
  | { ok: true; frame: T }
  | { ok: false; code: ErrorCode; message: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Encodes a frame as one line of UTF-8 JSON, newline included.
 *
 * @param frame The frame to encode.
 * @returns The bytes to write.
 *
 * @example
 * ```ts
 * import { encodeFrame } from "./protocol.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const line = new TextDecoder().decode(encodeFrame({ type: "quit" }));
 * assertEquals(line, '{"type":"quit"}\n');
 * ```
 */
export function encodeFrame(frame: Frame): Uint8Array {
  return encoder.encode(JSON.stringify(frame) + "\n");
}

/**
 * Decodes and validates a line from a client (without its newline).
 *
 * @param line The line's bytes.
 * @returns The frame, or the error code and message to send back.
 *
 * @example
 * ```ts
 * import { decodeClientFrame } from "./protocol.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const result = decodeClientFrame(new TextEncoder().encode('{"type":"send","text":" "}'));
 * assertEquals(result.ok ? result.frame : result.code, "invalid_text");
 * ```
 */
export function decodeClientFrame(line: Uint8Array): DecodeResult<ClientFrame> {
  return decodeWith(line, clientRules);
}

/**
 * Validates a client frame that is already a value (parsed from JSON, or built by a gateway that
 * translates another protocol) exactly as {@linkcode decodeClientFrame} validates a line, without
 * a round trip through JSON.
 *
 * @param value The would-be frame.
 * @returns The frame (a copy holding only the schema's fields), or the error code and message.
 *
 * @example
 * ```ts
 * import { checkClientFrame } from "./protocol.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const result = checkClientFrame({ type: "join", room: "rust", extra: 1 });
 * assertEquals(result.ok && result.frame, { type: "join", room: "rust" });
 * assertEquals(checkClientFrame({ type: "send", text: 7 }).ok, false);
 * ```
 */
export function checkClientFrame(value: unknown): DecodeResult<ClientFrame> {
  return checkWith(value, clientRules);
}

/**
 * Decodes and validates a line from a server (without its newline).
 *
 * @param line The line's bytes.
 * @returns The frame, or why it is not one.
 *
 * @example
 * ```ts
 * import { decodeServerFrame } from "./protocol.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const result = decodeServerFrame(new TextEncoder().encode('{"type":"pong","id":7}'));
 * assertEquals(result.ok && result.frame, { type: "pong", id: 7 });
 * ```
 */
export function decodeServerFrame(line: Uint8Array): DecodeResult<ServerFrame> {
  return decodeWith(line, serverRules);
}

/**
 * Says what is wrong with a name, or nothing if it is valid: 1 to {@linkcode MAX_NAME_LENGTH}
 * characters, each a Unicode letter, combining mark, decimal digit, `_`, `-` or `.`, starting
 * with one that is not a mark; no invisible character (Unicode's Default_Ignorable_Code_Point:
 * zero-width characters, variation selectors, the Hangul fillers and the like); at most 4
 * nonspacing marks stacked on one letter, none of them twice; the letters all of one script, or
 * of one of the mixtures Japanese, Korean and Chinese are written in (with Latin), so that a
 * name cannot pass for another by swapping in a lookalike letter from another script.
 *
 * @param name The name to check.
 * @returns Why the name is invalid, or `undefined`.
 *
 * @example
 * ```ts
 * import { nameProblem } from "./protocol.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(nameProblem("zoë"), undefined);
 * assertEquals(nameProblem("bad name"), 'Name "bad name" may hold only letters, digits, "_", "-" and "."');
 * ```
 */
export function nameProblem(name: string): string | undefined {
  return namingProblem("Name", name, MAX_NAME_LENGTH);
}

/**
 * Says what is wrong with a room name, or nothing if it is valid: the rules for user names,
 * up to {@linkcode MAX_ROOM_LENGTH} characters.
 *
 * @param room The room name to check.
 * @returns Why the name is invalid, or `undefined`.
 *
 * @example
 * ```ts
 * import { roomProblem } from "./protocol.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(roomProblem("rust-lang"), undefined);
 * ```
 */
export function roomProblem(room: string): string | undefined {
  return namingProblem("Room name", room, MAX_ROOM_LENGTH);
}

/**
 * The form in which names (of users and of rooms) are compared: two names that fold alike are
 * the same name. The fold is a skeleton after Unicode's UTS #39, made case-insensitive: NFKC,
 * invisible characters removed, and every character replaced by what it looks like, by Unicode's
 * whole confusables table (cross-script), lower-cased. Names that differ in case, in
 * compatibility forms (fullwidth letters), in invisible characters or in characters that look
 * alike fold alike: Latin `HANK` and Greek `ΗΑΝΚ`; `alice`, Cyrillic-lettered `аlice`, Lisu
 * `ꓮꓡꓲꓚꓰ` and Cherokee `ᎪᏞᎥᏟᎬ`; `I`, `l` and `1`; `0` and `o`; `rn` and `m`. A capital folds to
 * what it looks like and so does its small letter, so where the two look like different letters
 * (Greek `Η` like H, `η` like n) they fold apart.
 *
 * @param name A name, valid or not.
 * @returns Its skeleton: a string to compare, not to show.
 *
 * @example
 * ```ts
 * import { foldName } from "./protocol.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(foldName("Alice"), foldName("ALICE"));
 * assertEquals(foldName("HANK"), foldName("\u0397\u0391\u039d\u039a")); // Greek ΗΑΝΚ
 * ```
 */
export function foldName(name: string): string {
  let key = foldedNames.get(name);
  if (key === undefined) {
    key = nameKey(name);
    // Only what could be a name is kept: a frame may name a room or a user with 64 KiB of text.
    if (name.length <= 2 * MAX_ROOM_LENGTH) {
      if (foldedNames.size >= MAX_FOLDED_NAMES) foldedNames.clear();
      foldedNames.set(name, key);
    }
  }
  return key;
}

/**
 * Which folding {@linkcode foldName} does. Bump whenever foldName's output changes for any
 * input; the store re-keys stored names when it differs. Version 1 was the folding of Parley
 * 0.1.0 (NFKC, lower case and a short table of lookalikes); version 2 is the UTS #39 skeleton.
 */
export const FOLD_VERSION = 2;

/** Names folded lately: the server folds the room's name of every message it is sent. Emptied
 * when full, so that a stream of new names costs no more than folding each. */
const foldedNames = new Map<string, string>();
const MAX_FOLDED_NAMES = 1000;

// Decoding. Each frame type has a schema: its fields, each with a kind that says what values it
// may hold and whether it may be absent. A schema's type is computed from its frame's interface
// (_protocol/schema.ts), so the two cannot drift apart without failing type checking. The decoder
// checks every field the schema names and copies only those, so unknown fields are dropped and
// every frame it returns is well-typed; `code` and `reason` are checked against their closed
// lists, so a frame never carries a value its type does not admit.

type Fields = Record<string, unknown>;

/** One field of a schema as the decoder walks it: made once, at load, from the schema. */
interface Rule {
  readonly key: string;
  readonly kind: BaseKind;
  readonly optional: boolean;
}

class FieldError {
  constructor(readonly code: ErrorCode, readonly message: string) {}
}

const clientSchemas = {
  hello: {
    name: "string",
    protocol: "count?",
    history: "count?",
    password: "string?",
    serverPassword: "string?",
  },
  send: { text: "text", room: "string?", action: "boolean?" },
  msg: { to: "string", text: "text" },
  join: { room: "string", history: "count?" },
  part: { room: "string" },
  rooms: { after: "string?" },
  who: { room: "string?", after: "count?" },
  topic: { room: "string", topic: "topic" },
  history: { room: "string", before: "count?", limit: "count?" },
  nick: { name: "string", password: "string?" },
  register: { password: "string", token: "string?" },
  kick: { name: "string", reason: "string?" },
  ban: { target: "string", duration: "count?", reason: "string?" },
  unban: { target: "string" },
  stats: {},
  ping: { id: "scalar?" },
  pong: { id: "scalar?" },
  quit: {},
} satisfies Schemas<ClientFrame>;

const serverSchemas = {
  welcome: {
    name: "string",
    users: "strings",
    room: "string",
    maxFrameBytes: "number",
    rate: "number",
    burst: "number",
    byteRate: "count?",
    byteBurst: "count?",
    server: "string",
    protocol: "number",
    operator: "boolean?",
  },
  message: {
    id: "number",
    room: "string",
    from: "string",
    text: "string",
    ts: "string",
    action: "boolean?",
  },
  private: { from: "string", to: "string", text: "string", ts: "string" },
  entered: {
    room: "string",
    users: "strings",
    topic: "string?",
    topicBy: "string?",
    topicTs: "string?",
  },
  history: { room: "string", messages: "messages", more: "boolean" },
  joined: { room: "string", name: "string", ts: "string" },
  left: { room: "string", name: "string", reason: "leaveReason", ts: "string" },
  renamed: { from: "string", to: "string", ts: "string" },
  users: { room: "string?", users: "strings", more: "boolean?", next: "count?" },
  rooms: { rooms: "rooms", more: "boolean?", next: "string?" },
  topic: { room: "string", topic: "string", by: "string", ts: "string" },
  notice: { text: "string" },
  stats: {
    connections: "number",
    users: "number",
    rooms: "number",
    messagesPerSecond: "number",
    memoryBytes: "number",
    uptimeSeconds: "number",
  },
  ping: { id: "scalar?" },
  pong: { id: "scalar?" },
  error: { code: "errorCode", message: "string" },
} satisfies Schemas<ServerFrame>;

const messageSchema = {
  id: "number",
  from: "string",
  text: "string",
  ts: "string",
  action: "boolean?",
} satisfies Schema<StoredMessage>;

const roomSchema = {
  name: "string",
  users: "number",
  topic: "string?",
} satisfies Schema<RoomInfo>;

const messageRules = rules(messageSchema);
const roomRules = rules(roomSchema);

const clientRules = rulesByType(clientSchemas);
const serverRules = rulesByType(serverSchemas);

const errorCodes: ReadonlySet<string> = new Set(ERROR_CODES);

/** The reasons for leaving that are not error codes: exactly those of {@linkcode LeaveReason}. */
const otherLeaveReasons: Readonly<Record<Exclude<LeaveReason, ErrorCode>, true>> = {
  part: true,
  quit: true,
  disconnected: true,
};

function rules(schema: Readonly<Record<string, Kind>>): readonly Rule[] {
  return Object.entries(schema).map(([key, kind]) => {
    const optional = kind.endsWith("?");
    return { key, kind: (optional ? kind.slice(0, -1) : kind) as BaseKind, optional };
  });
}

function rulesByType(
  schemas: Readonly<Record<string, Readonly<Record<string, Kind>>>>,
): ReadonlyMap<string, readonly Rule[]> {
  return new Map(Object.entries(schemas).map(([type, schema]) => [type, rules(schema)]));
}

function decodeWith<T extends Frame>(
  line: Uint8Array,
  byType: ReadonlyMap<string, readonly Rule[]>,
): DecodeResult<T> {
  let text: string;
  try {
    text = decoder.decode(line);
  } catch {
    return { ok: false, code: "invalid_utf8", message: "Frame is not valid UTF-8" };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return {
      ok: false,
      code: "invalid_json",
      message: `Frame is not valid JSON: ${errorMessage(error)}`,
    };
  }
  return checkWith(value, byType);
}

/** Checks a parsed value against the rules of its type. */
function checkWith<T extends Frame>(
  value: unknown,
  byType: ReadonlyMap<string, readonly Rule[]>,
): DecodeResult<T> {
  if (!isObject(value)) {
    return { ok: false, code: "invalid_frame", message: "Frame is not a JSON object" };
  }
  const type = value.type;
  if (typeof type !== "string") {
    return { ok: false, code: "invalid_frame", message: 'Frame has no string field "type"' };
  }
  const rules = byType.get(type);
  if (rules === undefined) {
    return {
      ok: false,
      code: "unknown_type",
      message: `Frame type "${truncate(type)}" is unknown`,
    };
  }
  const frame = pick(value, rules, { type }, type, undefined);
  if (frame instanceof FieldError) return { ok: false, code: frame.code, message: frame.message };
  // The rules were made from the schema of this type, whose type is computed from the frame's.
  return { ok: true, frame: frame as T };
}

/**
 * Checks the fields `rules` name and copies them into `into`, leaving out absent optional ones.
 * `type` and `list` (the field holding the object, for an item of a list) name where a field is,
 * for the error message only: it is made only when a field is wrong.
 */
function pick(
  fields: Fields,
  rules: readonly Rule[],
  into: Fields,
  type: string,
  list: string | undefined,
): Fields | FieldError {
  for (const rule of rules) {
    const value = fields[rule.key];
    if (value === undefined && rule.optional) continue;
    const checked = check(value, rule.kind, rule.key, type, list);
    if (checked instanceof FieldError) return checked;
    into[rule.key] = checked;
  }
  return into;
}

/** Returns `value` if it is of `kind` (lists of objects rebuilt by their rules), or why not. */
function check(
  value: unknown,
  kind: BaseKind,
  key: string,
  type: string,
  list: string | undefined,
): unknown {
  switch (kind) {
    case "string":
      return typeof value === "string" ? value : invalid(key, type, list, "must be a string");
    case "number":
      return Number.isFinite(value) ? value : invalid(key, type, list, "must be a finite number");
    case "count":
      return Number.isSafeInteger(value) && (value as number) >= 0
        ? value
        : invalid(key, type, list, "must be a whole number, 0 or more");
    case "boolean":
      return typeof value === "boolean" ? value : invalid(key, type, list, "must be true or false");
    case "scalar":
      return value === null || typeof value === "string" || typeof value === "boolean" ||
          Number.isFinite(value)
        ? value
        : invalid(key, type, list, "must be a string, finite number, boolean or null");
    case "strings":
      return Array.isArray(value) && value.every((item) => typeof item === "string")
        ? value
        : invalid(key, type, list, "must be an array of strings");
    case "messages":
    case "rooms": {
      if (!Array.isArray(value)) return invalid(key, type, list, "must be an array");
      const rules = kind === "messages" ? messageRules : roomRules;
      const items = [];
      for (const item of value) {
        const picked = isObject(item)
          ? pick(item, rules, {}, type, key)
          : invalid(key, type, list, "must hold objects");
        if (picked instanceof FieldError) return picked;
        items.push(picked);
      }
      return items;
    }
    case "errorCode":
      if (typeof value !== "string") return invalid(key, type, list, "must be a string");
      return errorCodes.has(value)
        ? value
        : invalid(key, type, list, `must be a known error code, not "${truncate(value)}"`);
    case "leaveReason":
      if (typeof value !== "string") return invalid(key, type, list, "must be a string");
      return errorCodes.has(value) || Object.hasOwn(otherLeaveReasons, value)
        ? value
        : invalid(key, type, list, `must be a known reason for leaving, not "${truncate(value)}"`);
    case "topic":
      // An empty topic clears the room's topic; any other must be text.
      return value === "" ? value : check(value, "text", key, type, list);
    case "text":
      if (typeof value !== "string") return invalid(key, type, list, "must be a string");
      if (value === "") return new FieldError("invalid_text", `${field(key, type, list)} is empty`);
      if (isBlank(value)) {
        return new FieldError(
          "invalid_text",
          `${field(key, type, list)} is blank: it holds only spaces and invisible characters`,
        );
      }
      if (!value.isWellFormed()) {
        return new FieldError("invalid_text", `${field(key, type, list)} holds a lone surrogate`);
      }
      return value;
    default:
      return kind satisfies never;
  }
}

/** Names a field in an error message: `Field "text" of a "send" frame`. */
function field(key: string, type: string, list: string | undefined): string {
  const frame = `a "${type}" frame`;
  return `Field "${key}" of ${
    list === undefined ? frame : `an item of Field "${list}" of ${frame}`
  }`;
}

function invalid(key: string, type: string, list: string | undefined, problem: string): FieldError {
  return new FieldError("invalid_frame", `${field(key, type, list)} ${problem}`);
}

function isObject(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
