// What the coordinator (bench/main.ts) and its load-generator processes (bench/_load.ts) say to
// each other: one JSON object per line, requests on the generator's stdin, replies and progress
// on its stdout. Also the format of the text the senders put in their messages.

import type { HistogramData } from "./_histogram.ts";

/** What a client does in a run: receive only, or send and receive. */
export type Role = "recv" | "send";

/**
 * The ways in a client can take: NDJSON over TCP (`tcp`), IRC (`irc`: Parley's gateway, `parley
 * serve --irc-port`, or ngIRCd) or the WebSocket endpoint (`ws`, `--http-port`, at `/ws`).
 */
export type Via = "tcp" | "irc" | "ws";

/** Every {@linkcode Via}, in the order the bench runs them. */
export const VIAS: readonly Via[] = ["tcp", "irc", "ws"];

/** The server's ports, by way in: `tcp` always, the others when it was started with them. */
export type Ports = { tcp: number } & Partial<Record<Via, number>>;

/** One client a generator connects and registers with `hello`. */
export interface ClientSpec {
  /** Its name, unique across generators. */
  name: string;
  role: Role;
  /** For a sender: its index among all senders (0 to S-1). */
  sid?: number;
  /** The way in it takes (default `tcp`). */
  via?: Via;
  /** The TCP port it connects to, if not the request's: a cluster node's. */
  port?: number;
}

/** Connects and registers clients, `concurrency` at a time. */
export interface ConnectRequest {
  op: "connect";
  port: number;
  /** The ports of the other ways in, for receivers that take them. */
  ports?: Ports;
  clients: ClientSpec[];
  /** Each client's read buffer. */
  bufferBytes: number;
  concurrency: number;
  /** Give up on a client that has no `welcome` after this long. */
  timeoutMs: number;
  /** Start no client after this long: those left count as failed. */
  deadlineMs?: number;
}

/** Churn: short-lived clients that connect, register, stay a while, and quit. */
export interface ChurnPlan {
  /** The global indices of this generator's churners. Churner i starts at i / perSecond s. */
  indices: number[];
  perSecond: number;
  dwellMs: number;
  prefix: string;
  port: number;
  bufferBytes: number;
}

/**
 * Sends messages and waits until each local client got what it should. Sender `sid` sends
 * `perSender[sid]` messages, either closed-loop (`window`: at most that many unacknowledged by
 * every local receiver) or open-loop (`perSecond`: message i of all is sent at i / perSecond s
 * by sender i % S).
 */
export interface RunRequest {
  op: "run";
  perSender: number[];
  window?: number;
  perSecond?: number;
  churn?: ChurnPlan;
  /** Ping the server on an unregistered connection every this many ms while the run lasts. */
  pingMs?: number;
  port: number;
  /** Give up after this long without a delivery once sending is done. */
  idleMs: number;
  /** Pad each `send` frame with a `pad` field this long (see {@linkcode RELAY_PADDING}). */
  pad?: number;
}

/**
 * Starts a new count: clears what was received and measured. The coordinator resets every
 * generator before a run, so that no message of the run reaches a generator before it counts.
 */
export interface ResetRequest {
  op: "reset";
  /** Messages carry their send time as microseconds since this wall-clock time. */
  epochUs: number;
}

/** Closes every connection and exits. */
export interface QuitRequest {
  op: "quit";
}

/** A request with the id its reply carries. */
export type Request = (ConnectRequest | ResetRequest | RunRequest | QuitRequest) & {
  id: number;
};

/** The answer to a `connect`. */
export interface ConnectReply {
  connected: number;
  failed: number;
  /** The first few reasons clients failed. */
  errors: string[];
}

/** What one generator saw during a `run`. */
export interface RunReply {
  /** Messages its senders sent. */
  sent: number;
  /** Messages its registered clients received, and should have. */
  received: number;
  expected: number;
  /** Latency of every message received, sender's clock to receiver's, in microseconds. */
  latency: HistogramData;
  /** Wall-clock microseconds of its first send and last receipt (0 if none). */
  firstSendUs: number;
  lastReceiveUs: number;
  /** Notices received by every client, registered and churning, during the run. */
  joined: number;
  left: number;
  /** Messages received by churners (not counted in `received`). */
  churnerMessages: number;
  /** Churners that registered, that left (the server closed after `quit`), that failed. */
  churned: { joined: number; left: number; failed: number; errors: string[] };
  /** Pings sent and answered, and their round trips in microseconds. */
  ping: { sent: number; answered: number; rtt: HistogramData };
  /** `error` frames received, by code, and registered clients the server closed. */
  errors: Record<string, number>;
  closed: number;
}

/** A reply: `ok` with the answer, or the error that stopped the request. */
export type Reply =
  | { id: number; ok: true; connect?: ConnectReply; run?: RunReply }
  | { id: number; ok: false; error: string };

/** Counters a generator reports about four times a second while it is busy. */
export interface Progress {
  ev: "progress";
  connected: number;
  sent: number;
  received: number;
  joined: number;
  left: number;
  churnJoined: number;
  churnLeft: number;
  pongs: number;
}

/** The time now as wall-clock microseconds, comparable across processes on one machine. */
export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/**
 * The text of a bench message: `~SID_SEQ_TIME`, TIME in microseconds since the run's epoch.
 * `~` cannot occur elsewhere in a Parley `message` frame (names, rooms and timestamps hold
 * none), so a receiver finds the text by looking for one byte.
 */
export function messageText(sid: number, seq: number, sentUs: number): string {
  return `~${sid}_${seq}_${sentUs}`;
}

/** A `send` frame of the bench, newline included, padded with `pad` bytes if asked. */
export function sendFrame(text: string, pad = 0): string {
  return pad > 0
    ? `{"type":"send","text":"${text}","pad":"${"x".repeat(pad)}"}\n`
    : `{"type":"send","text":"${text}"}\n`;
}

/** The bench's message as an IRC client sends it: a PRIVMSG to the bench's room. */
export function privmsgLine(text: string): string {
  return `PRIVMSG #lobby :${text}\r\n`;
}

/**
 * How much to pad `send` frames for the reference relay so that the lines it forwards are as
 * long as the `message` frames Parley delivers for them (which add an id, the room, the
 * sender and a timestamp): both then move the same bytes.
 */
export const RELAY_PADDING =
  `{"type":"message","id":123456,"room":"lobby","from":"s0","text":"","ts":"2026-11-21T10:15:02.123Z"}`
    .length - sendFrame("", 1).length + 2;
