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
 *
 * const bytes = encodeFrame({ type: "send", text: "hi\nthere" });
 * const result = decodeClientFrame(bytes.subarray(0, -1));
 * if (!result.ok) throw new Error(result.message);
 * console.log(result.frame); // { type: "send", text: "hi\nthere" }
 * ```
 *
 * @module
 */

/** The protocol version this module speaks. */
export const PROTOCOL_VERSION = 1;

/** The port servers listen on when none is given. */
export const DEFAULT_PORT = 7342;

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
}

/** Sends a message to everyone else. */
export interface SendFrame {
  /** Always `"send"`. */
  type: "send";
  /** Not empty or only white space; may contain newlines. */
  text: string;
  /** An action (`/me waves`): shown as "* alice waves". */
  action?: boolean;
}

/** Asks for a `pong` carrying the same `id`. Allowed before `hello`. */
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

/** Asks for the list of users present, answered by `users`. */
export interface WhoFrame {
  /** Always `"who"`. */
  type: "who";
}

/** Changes the client's name; everyone gets `renamed`. */
export interface NickFrame {
  /** Always `"nick"`. */
  type: "nick";
  /** The new name, under the same rules as in `hello`. */
  name: string;
}

/** Every frame a client may send. */
export type ClientFrame =
  | HelloFrame
  | SendFrame
  | PingFrame
  | QuitFrame
  | WhoFrame
  | NickFrame;

// Server to client.

/** Accepts a `hello`. */
export interface WelcomeFrame {
  /** Always `"welcome"`. */
  type: "welcome";
  /** The name the client joined under. */
  name: string;
  /** The other users present. */
  users: string[];
  /** The longest frame the server accepts from this client, in bytes without the newline. */
  maxFrameBytes: number;
  /** The server's software and version, as `parley/<version>`. */
  server: string;
  /** The protocol version the server speaks. */
  protocol: number;
}

/** A message, sent to every member but its sender. */
export interface MessageFrame {
  /** Always `"message"`. */
  type: "message";
  /** Assigned by the server; increasing. */
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

/** Someone joined. */
export interface JoinedFrame {
  /** Always `"joined"`. */
  type: "joined";
  /** The user's name. */
  name: string;
  /** When it happened, ISO-8601 UTC, set by the server. */
  ts: string;
}

/** Why someone left: `quit` (they said so), `disconnected` (the connection broke), or another
 * stable code such as `slow_consumer` or `server_shutdown`. */
export type LeaveReason = "quit" | "disconnected" | ErrorCode;

/** Someone left. */
export interface LeftFrame {
  /** Always `"left"`. */
  type: "left";
  /** The user's name. */
  name: string;
  /** Why they left. */
  reason: LeaveReason;
  /** When it happened, ISO-8601 UTC, set by the server. */
  ts: string;
}

/** Answers a `ping`. */
export interface PongFrame {
  /** Always `"pong"`. */
  type: "pong";
  /** Any JSON scalar, echoed in the answer. */
  id?: Scalar;
}

/** Stable, snake_case error codes. docs/PROTOCOL.md says when each is sent. */
export type ErrorCode =
  | "invalid_utf8"
  | "invalid_json"
  | "invalid_frame"
  | "unknown_type"
  | "unsupported_protocol"
  | "not_joined"
  | "already_joined"
  | "invalid_name"
  | "name_taken"
  | "invalid_text"
  | "server_full"
  | "frame_too_large"
  | "slow_consumer"
  | "server_shutdown";

/** Reports a problem with what the client sent, or why the server is closing the connection. */
export interface ErrorFrame {
  /** Always `"error"`. */
  type: "error";
  /** What went wrong, as a stable code. */
  code: ErrorCode;
  /** A sentence for humans; its wording may change. */
  message: string;
}

/** Answers `who`: everyone present, the asker included, in the order they joined. */
export interface UsersFrame {
  /** Always `"users"`. */
  type: "users";
  /** The names of the users present. */
  users: string[];
}

/** Someone changed their name; sent to everyone, the renamed user included. */
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

/** Every frame a server may send. */
export type ServerFrame =
  | WelcomeFrame
  | MessageFrame
  | JoinedFrame
  | LeftFrame
  | PongFrame
  | ErrorFrame
  | UsersFrame
  | RenamedFrame;

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
 *
 * const line = new TextDecoder().decode(encodeFrame({ type: "quit" }));
 * console.log(line); // '{"type":"quit"}\n'
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
 *
 * const result = decodeClientFrame(new TextEncoder().encode('{"type":"send","text":" "}'));
 * console.log(result.ok ? result.frame : result.code); // "invalid_text"
 * ```
 */
export function decodeClientFrame(line: Uint8Array): DecodeResult<ClientFrame> {
  return decodeWith(line, clientFrames);
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
 *
 * const result = decodeServerFrame(new TextEncoder().encode('{"type":"pong","id":7}'));
 * console.log(result.ok && result.frame); // { type: "pong", id: 7 }
 * ```
 */
export function decodeServerFrame(line: Uint8Array): DecodeResult<ServerFrame> {
  return decodeWith(line, serverFrames);
}

/**
 * Says what is wrong with a name, or nothing if it is valid: 1 to {@linkcode MAX_NAME_LENGTH}
 * characters, each a Unicode letter, combining mark, decimal digit, `_`, `-` or `.`, starting
 * with one that is not a mark.
 *
 * @param name The name to check.
 * @returns Why the name is invalid, or `undefined`.
 *
 * @example
 * ```ts
 * import { nameProblem } from "./protocol.ts";
 *
 * console.log(nameProblem("zoë")); // undefined
 * console.log(nameProblem("bad name")); // 'Name "bad name" may hold only letters, digits, "_", "-" and "."'
 * ```
 */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return "Name is empty";
  if (countCodePoints(name) > MAX_NAME_LENGTH) {
    return `Name "${name}" is longer than ${MAX_NAME_LENGTH} characters`;
  }
  if (!NAME_PATTERN.test(name)) {
    return `Name "${name}" may hold only letters, digits, "_", "-" and "."`;
  }
  return undefined;
}

/**
 * The form in which names are compared: two names that fold alike are the same name.
 *
 * @param name A valid name.
 * @returns Its NFKC-normalized, lower-cased form.
 *
 * @example
 * ```ts
 * import { foldName } from "./protocol.ts";
 *
 * console.log(foldName("Alice") === foldName("ALICE")); // true
 * ```
 */
export function foldName(name: string): string {
  return name.normalize("NFKC").toLowerCase();
}

const NAME_PATTERN = /^[\p{L}\p{Nd}_.\-][\p{L}\p{M}\p{Nd}_.\-]*$/u;

function countCodePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

// Decoding. Each frame type has a builder that checks the fields of the parsed object and returns
// the typed frame (copying only known fields) or a message saying which field is wrong.

type Fields = Record<string, unknown>;
type Builder<T extends Frame> = (fields: Fields) => T | FieldError;

class FieldError {
  constructor(readonly code: ErrorCode, readonly message: string) {}
}

function decodeWith<T extends Frame>(
  line: Uint8Array,
  builders: { [K in T["type"]]: Builder<Extract<T, { type: K }>> },
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
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, code: "invalid_json", message: `Frame is not valid JSON: ${reason}` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, code: "invalid_frame", message: "Frame is not a JSON object" };
  }
  const fields = value as Fields;
  const type = fields.type;
  if (typeof type !== "string") {
    return { ok: false, code: "invalid_frame", message: 'Frame has no string field "type"' };
  }
  if (!Object.hasOwn(builders, type)) {
    return {
      ok: false,
      code: "unknown_type",
      message: `Frame type "${truncate(type)}" is unknown`,
    };
  }
  const built = (builders as Record<string, Builder<T>>)[type]!(fields);
  if (built instanceof FieldError) return { ok: false, code: built.code, message: built.message };
  return { ok: true, frame: built };
}

const clientFrames: { [K in ClientFrame["type"]]: Builder<Extract<ClientFrame, { type: K }>> } = {
  hello(fields) {
    const name = requireString(fields, "name");
    if (name instanceof FieldError) return name;
    const protocol = fields.protocol;
    if (protocol === undefined) return { type: "hello", name };
    if (typeof protocol !== "number") {
      return invalid('Field "protocol" of a "hello" frame must be a number');
    }
    return { type: "hello", name, protocol };
  },
  send(fields) {
    const text = requireText(fields, "send");
    if (text instanceof FieldError) return text;
    const action = optionalBoolean(fields, "action");
    if (action instanceof FieldError) return action;
    return action ? { type: "send", text, action } : { type: "send", text };
  },
  ping(fields) {
    const id = fields.id;
    if (id === undefined) return { type: "ping" };
    if (!isScalar(id)) {
      return invalid('Field "id" of a "ping" frame must be a string, number, boolean or null');
    }
    return { type: "ping", id };
  },
  quit() {
    return { type: "quit" };
  },
  who() {
    return { type: "who" };
  },
  nick(fields) {
    const name = requireString(fields, "name");
    return name instanceof FieldError ? name : { type: "nick", name };
  },
};

const serverFrames: { [K in ServerFrame["type"]]: Builder<Extract<ServerFrame, { type: K }>> } = {
  welcome(fields) {
    const name = requireString(fields, "name");
    if (name instanceof FieldError) return name;
    const users = requireStrings(fields, "users");
    if (users instanceof FieldError) return users;
    const maxFrameBytes = requireNumber(fields, "maxFrameBytes");
    if (maxFrameBytes instanceof FieldError) return maxFrameBytes;
    const server = requireString(fields, "server");
    if (server instanceof FieldError) return server;
    const protocol = fields.protocol === undefined ? PROTOCOL_VERSION : fields.protocol;
    if (typeof protocol !== "number") return invalid('Field "protocol" must be a number');
    return { type: "welcome", name, users, maxFrameBytes, server, protocol };
  },
  message(fields) {
    const id = requireNumber(fields, "id");
    if (id instanceof FieldError) return id;
    const from = requireString(fields, "from");
    if (from instanceof FieldError) return from;
    const text = requireString(fields, "text");
    if (text instanceof FieldError) return text;
    const ts = requireString(fields, "ts");
    if (ts instanceof FieldError) return ts;
    const action = optionalBoolean(fields, "action");
    if (action instanceof FieldError) return action;
    return action
      ? { type: "message", id, from, text, ts, action }
      : { type: "message", id, from, text, ts };
  },
  joined(fields) {
    const name = requireString(fields, "name");
    if (name instanceof FieldError) return name;
    const ts = requireString(fields, "ts");
    if (ts instanceof FieldError) return ts;
    return { type: "joined", name, ts };
  },
  left(fields) {
    const name = requireString(fields, "name");
    if (name instanceof FieldError) return name;
    const reason = requireString(fields, "reason");
    if (reason instanceof FieldError) return reason;
    const ts = requireString(fields, "ts");
    if (ts instanceof FieldError) return ts;
    return { type: "left", name, reason: reason as LeaveReason, ts };
  },
  pong(fields) {
    const id = fields.id;
    if (id === undefined) return { type: "pong" };
    if (!isScalar(id)) return invalid('Field "id" must be a JSON scalar');
    return { type: "pong", id };
  },
  error(fields) {
    const code = requireString(fields, "code");
    if (code instanceof FieldError) return code;
    const message = requireString(fields, "message");
    if (message instanceof FieldError) return message;
    return { type: "error", code: code as ErrorCode, message };
  },
  users(fields) {
    const users = requireStrings(fields, "users");
    return users instanceof FieldError ? users : { type: "users", users };
  },
  renamed(fields) {
    const from = requireString(fields, "from");
    if (from instanceof FieldError) return from;
    const to = requireString(fields, "to");
    if (to instanceof FieldError) return to;
    const ts = requireString(fields, "ts");
    if (ts instanceof FieldError) return ts;
    return { type: "renamed", from, to, ts };
  },
};

function invalid(message: string): FieldError {
  return new FieldError("invalid_frame", message);
}

function requireString(fields: Fields, key: string): string | FieldError {
  const value = fields[key];
  if (typeof value === "string") return value;
  return invalid(`Field "${key}" of a "${fields.type}" frame must be a string`);
}

function requireNumber(fields: Fields, key: string): number | FieldError {
  const value = fields[key];
  if (typeof value === "number") return value;
  return invalid(`Field "${key}" of a "${fields.type}" frame must be a number`);
}

function optionalBoolean(fields: Fields, key: string): boolean | FieldError {
  const value = fields[key];
  if (value === undefined || typeof value === "boolean") return value === true;
  return invalid(`Field "${key}" of a "${fields.type}" frame must be a boolean`);
}

function requireStrings(fields: Fields, key: string): string[] | FieldError {
  const value = fields[key];
  if (Array.isArray(value) && value.every((item) => typeof item === "string")) return value;
  return invalid(`Field "${key}" of a "${fields.type}" frame must be an array of strings`);
}

/** Message text: a well-formed string that is not only white space. */
function requireText(fields: Fields, type: string): string | FieldError {
  const text = requireString(fields, "text");
  if (text instanceof FieldError) return text;
  if (text.trim() === "") {
    return new FieldError("invalid_text", `Field "text" of a "${type}" frame is empty`);
  }
  if (!text.isWellFormed()) {
    return new FieldError(
      "invalid_text",
      `Field "text" of a "${type}" frame holds a lone surrogate`,
    );
  }
  return text;
}

function isScalar(value: unknown): value is Scalar {
  return value === null || ["string", "number", "boolean"].includes(typeof value);
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
