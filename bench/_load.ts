// A load-generator process: lean clients on raw sockets that speak NDJSON directly (or IRC, to
// Parley's gateway or to ngIRCd, or take the WebSocket endpoint instead: see `Link`). It takes
// requests on stdin and answers on stdout (bench/_control.ts); several can run side by side so
// the load does not share one event loop, nor the server's.
//
// Receiving is the hot path: each client reads into its own buffer, splits lines with a plain
// loop, tells frames apart by the first letter of their type (Parley writes `type` first), and
// parses only the bench's own message text (`~SID_SEQ_TIME`), never JSON. Measured with
// --cpu-prof at 5 million deliveries a second, that is about 0.15 µs per delivery.

import {
  type ChurnPlan,
  type ClientSpec,
  type ConnectReply,
  messageText,
  nowMicros,
  type Ports,
  privmsgLine,
  type Progress,
  type Reply,
  type Request,
  type Role,
  type RunReply,
  type RunRequest,
  sendFrame,
  type Via,
} from "./_control.ts";
import { Histogram } from "./_histogram.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const NEWLINE = 0x0a;
const TILDE = 0x7e;
const UNDERSCORE = 0x5f;
const ZERO = 0x30;
/** Offset of the first letter of the type in `{"type":"...`. */
const TYPE_AT = 9;

type Kind = Role | "churn" | "ping";

/** Everything one generator counts. */
class Counters {
  connected = 0;
  sent = 0;
  received = 0;
  joined = 0;
  left = 0;
  churnJoined = 0;
  churnLeft = 0;
  churnFailed = 0;
  churnerMessages = 0;
  pings = 0;
  pongs = 0;
  closed = 0;
  firstSendUs = 0;
  lastReceiveUs = 0;
  errors: Record<string, number> = {};
  churnErrors: string[] = [];
  latency = new Histogram();
  rtt = new Histogram();
}

/** Acknowledgements of one local sender's messages: how many local receivers saw each. */
class Window {
  readonly seen: Uint32Array;
  /** Messages seen by every local receiver, in order. */
  done = 0;
  #wake: (() => void) | undefined;

  constructor(count: number, readonly receivers: number) {
    this.seen = new Uint32Array(count);
  }

  see(seq: number): void {
    if (seq >= this.seen.length || ++this.seen[seq]! < this.receivers) return;
    while (this.done < this.seen.length && this.seen[this.done]! >= this.receivers) this.done++;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Resolves with true at the next acknowledgement, or false after `timeoutMs` without one. */
  next(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve(false);
      }, timeoutMs);
      this.#wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }
}

const counters = new Counters();
/** Windows of local senders, by sid, during a closed-loop run. */
let windows: (Window | undefined)[] = [];
const clients: Client[] = [];
const pingSent = new Map<number, number>();

/**
 * A client's way in to the server: how its text goes out, and a loop that hands what comes in
 * to the client's handlers. Three sit side by side: NDJSON and IRC lines on a TCP stream
 * ({@linkcode StreamLink} with {@linkcode NDJSON} or {@linkcode IRC}), and JSON frames on a
 * WebSocket ({@linkcode SocketLink}). Counting is the same for all: {@linkcode deliver}.
 */
interface Link {
  write(text: string): Promise<void>;
  /** The bench's message `text` as this link sends it, padded by `pad` bytes on NDJSON. */
  frame(text: string, pad: number): string;
  /** Reads until the connection is over, handing what arrives to `client`. */
  read(client: Client): Promise<void>;
  close(): void;
}

/** How a stream's lines are handled: all whole lines in a buffer, or one line. */
interface Lines {
  scan: typeof scan;
  line: typeof onLine;
  frame: Link["frame"];
}

/** One connection and what it received. */
class Client {
  readonly kind: Kind;
  readonly sid: number;
  /** Messages received in the current run. */
  got = 0;
  closed = false;
  readonly welcome = Promise.withResolvers<void>();
  readonly reading: Promise<void>;
  #link: Link;

  constructor(link: Link, kind: Kind, sid: number) {
    this.#link = link;
    this.kind = kind;
    this.sid = sid;
    this.welcome.promise.catch(() => {});
    this.reading = link.read(this).catch(() => {
      // Reset or closed under the read: the connection is over either way.
    }).finally(() => {
      if (!this.closed && (this.kind === "recv" || this.kind === "send")) counters.closed++;
      this.close();
      this.welcome.reject(new Error("Connection closed before a welcome"));
    });
  }

  write(text: string): Promise<void> {
    return this.#link.write(text);
  }

  /** The bench's message `text` as this client sends it. */
  frame(text: string, pad: number): string {
    return this.#link.frame(text, pad);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#link.close();
  }
}

/** Lines on a TCP connection, read into a buffer of the client's own. */
class StreamLink implements Link {
  #conn: Deno.TcpConn;
  #buffer: Uint8Array;
  #lines: Lines;
  #filled = 0;
  #skipping = false;

  constructor(conn: Deno.TcpConn, bufferBytes: number, lines: Lines) {
    this.#conn = conn;
    this.#buffer = new Uint8Array(bufferBytes);
    this.#lines = lines;
  }

  async write(text: string): Promise<void> {
    let bytes = encoder.encode(text);
    while (bytes.length > 0) bytes = bytes.subarray(await this.#conn.write(bytes));
  }

  frame(text: string, pad: number): string {
    return this.#lines.frame(text, pad);
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Closed already.
    }
  }

  async read(client: Client): Promise<void> {
    const buffer = this.#buffer;
    while (true) {
      if (this.#filled === buffer.length) {
        // A line longer than the buffer (a welcome listing thousands of users): what it is
        // shows in its first bytes; the rest is skipped.
        if (!this.#skipping) this.#lines.line(client, buffer, 0, buffer.length, 0);
        this.#skipping = true;
        this.#filled = 0;
      }
      const count = await this.#conn.read(buffer.subarray(this.#filled));
      if (count === null) break;
      const now = nowMicros();
      const end = this.#filled + count;
      let start = 0;
      if (this.#skipping) {
        start = lineEnd(buffer, this.#filled, end) + 1;
        if (start > end) {
          this.#filled = 0;
          continue;
        }
        this.#skipping = false;
      }
      start = this.#lines.scan(client, buffer, start, start === 0 ? this.#filled : start, end, now);
      if (start > 0 && start < end) buffer.copyWithin(0, start, end);
      this.#filled = end - start;
    }
  }
}

/**
 * A WebSocket at `/ws`: each text message is one JSON frame, handled as the NDJSON line it
 * would be on TCP. No Origin header is sent: the server lets non-browser clients in.
 */
class SocketLink implements Link {
  #socket: WebSocket;
  #open: Promise<void>;
  #buffer: Uint8Array;

  constructor(port: number, bufferBytes: number) {
    // The page's subprotocol: each delivery one binary message of NDJSON lines.
    this.#socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, "parley.ndjson");
    this.#socket.binaryType = "arraybuffer";
    this.#buffer = new Uint8Array(bufferBytes);
    const open = Promise.withResolvers<void>();
    this.#socket.onopen = () => open.resolve();
    this.#socket.onerror = () => open.reject(new Error("The WebSocket did not open"));
    this.#open = open.promise;
    this.#open.catch(() => {});
  }

  /** Sends `text`, whole NDJSON lines, as one message. */
  async write(text: string): Promise<void> {
    await this.#open;
    this.#socket.send(text);
  }

  frame(text: string, pad: number): string {
    return sendFrame(text, pad);
  }

  close(): void {
    this.#socket.close();
  }

  read(client: Client): Promise<void> {
    const closed = Promise.withResolvers<void>();
    this.#socket.onclose = () => closed.resolve();
    this.#socket.onmessage = (event: MessageEvent) => {
      if (event.data instanceof ArrayBuffer) {
        // Whole lines: the server never splits a frame between messages.
        const bytes = new Uint8Array(event.data);
        scan(client, bytes, 0, 0, bytes.length, nowMicros());
        return;
      }
      if (typeof event.data !== "string") return;
      const now = nowMicros();
      // UTF-8 takes at most three bytes per UTF-16 unit.
      if (event.data.length * 3 > this.#buffer.length) {
        this.#buffer = new Uint8Array(event.data.length * 3);
      }
      const { written } = encoder.encodeInto(event.data, this.#buffer);
      onLine(client, this.#buffer, 0, written, now);
    };
    return closed.promise;
  }
}

/**
 * Handles the whole lines in `buffer[start, end)`, given that `[start, from)` holds no newline;
 * returns where the last, partial line starts. Lines are found with a loop rather than
 * indexOf (a typed array's indexOf calls into C++, which costs more than scanning a line), and
 * a message's line is scanned once: its text comes before its end.
 */
function scan(
  client: Client,
  buffer: Uint8Array,
  start: number,
  from: number,
  end: number,
  now: number,
): number {
  while (true) {
    let newline;
    const kind = start + TYPE_AT < end ? buffer[start + TYPE_AT] : 0;
    if (from === start && (kind === 0x6d || kind === 0x73)) {
      let at = start + TYPE_AT;
      while (at < end && buffer[at] !== TILDE && buffer[at] !== NEWLINE) at++;
      const text = at < end && buffer[at] === TILDE;
      if (text) at = parseText(buffer, at + 1, end);
      newline = lineEnd(buffer, at, end);
      if (newline >= end) return start;
      if (text) deliver(client, now);
    } else {
      newline = lineEnd(buffer, from, end);
      if (newline >= end) return start;
      if (newline > start) onLine(client, buffer, start, newline, now);
    }
    start = from = newline + 1;
  }
}

/** The index of the first newline in `buffer[from, end)`, or `end`. */
function lineEnd(buffer: Uint8Array, from: number, end: number): number {
  while (from < end && buffer[from] !== NEWLINE) from++;
  return from;
}

/** Handles one line `buffer[start, end)` received by `client` at `now` (µs). */
function onLine(client: Client, buffer: Uint8Array, start: number, end: number, now: number) {
  if (end - start <= TYPE_AT + 1) return;
  switch (buffer[start + TYPE_AT]) {
    case 0x6d: // message
    case 0x73: // send, as the reference relay forwards it
      return onMessage(client, buffer, start, end, now);
    case 0x6a: // joined
      if (client.kind !== "ping") counters.joined++;
      return;
    case 0x6c: // left
      if (client.kind !== "ping") counters.left++;
      return;
    case 0x77: // welcome
      client.welcome.resolve();
      return;
    case 0x65: // entered or error
      if (buffer[start + TYPE_AT + 1] === 0x72) onError(client, buffer, start, end);
      return;
    case 0x70: // pong, ping or private
      if (buffer[start + TYPE_AT + 1] === 0x6f) onPong(buffer, start, end, now);
      else if (buffer[start + TYPE_AT + 1] === 0x69) onPing(client, buffer, start, end);
      return;
  }
}

function onMessage(client: Client, buffer: Uint8Array, start: number, end: number, now: number) {
  let tilde = start + TYPE_AT;
  while (tilde < end && buffer[tilde] !== TILDE) tilde++;
  if (tilde === end) return;
  parseText(buffer, tilde + 1, end);
  deliver(client, now);
}

/** What {@linkcode parseText} read: sender, sequence number and send time of a message. */
let textSid = 0;
let textSeq = 0;
let textSentUs = 0;

/** Reads `SID_SEQ_TIME` from `buffer[at, end)`; returns the index after it. */
function parseText(buffer: Uint8Array, at: number, end: number): number {
  let value = 0;
  for (; at < end && buffer[at] !== UNDERSCORE; at++) value = value * 10 + buffer[at]! - ZERO;
  textSid = value;
  value = 0;
  for (at++; at < end && buffer[at] !== UNDERSCORE; at++) value = value * 10 + buffer[at]! - ZERO;
  textSeq = value;
  value = 0;
  for (at++; at < end; at++) {
    const byte = buffer[at]!;
    if (byte < ZERO || byte > 0x39) break;
    value = value * 10 + byte - ZERO;
  }
  textSentUs = value;
  return Math.min(at, end);
}

/** Counts the message {@linkcode parseText} read as received by `client` at `now`. */
function deliver(client: Client, now: number): void {
  if (client.kind === "churn") {
    counters.churnerMessages++;
    return;
  }
  counters.latency.record(now - epochUs - textSentUs);
  counters.received++;
  counters.lastReceiveUs = now;
  client.got++;
  if (client.kind === "recv") windows[textSid]?.see(textSeq);
}

function onError(client: Client, buffer: Uint8Array, start: number, end: number) {
  let code = "unknown";
  try {
    code = JSON.parse(decoder.decode(buffer.subarray(start, end))).code ?? code;
  } catch {
    // A line cut short (longer than the buffer): counted as "unknown".
  }
  counters.errors[code] = (counters.errors[code] ?? 0) + 1;
  client.welcome.reject(new Error(`Server said "${code}"`));
}

/** The server checks an idle client is there: answer, or be dropped. */
function onPing(client: Client, buffer: Uint8Array, start: number, end: number) {
  const id = JSON.parse(decoder.decode(buffer.subarray(start, end))).id;
  client.write(JSON.stringify(id === undefined ? { type: "pong" } : { type: "pong", id }) + "\n")
    .catch(() => {});
}

function onPong(buffer: Uint8Array, start: number, end: number, now: number) {
  const text = decoder.decode(buffer.subarray(start, end));
  const id = /"id":(\d+)/.exec(text)?.[1];
  if (id === undefined) return;
  const sent = pingSent.get(Number(id));
  if (sent === undefined) return;
  pingSent.delete(Number(id));
  counters.pongs++;
  counters.rtt.record(now - sent);
}

/** NDJSON, Parley's own protocol. */
const NDJSON: Lines = { scan, line: onLine, frame: sendFrame };

/** IRC, to Parley's gateway or to ngIRCd: every line is looked at whole. */
const IRC: Lines = {
  scan(client, buffer, start, from, end, now) {
    while (true) {
      const newline = lineEnd(buffer, from, end);
      if (newline >= end) return start;
      if (newline > start) onIrcLine(client, buffer, start, newline, now);
      start = from = newline + 1;
    }
  },
  line: onIrcLine,
  frame: privmsgLine,
};

const COLON = 0x3a;
const SPACE = 0x20;
const JOIN = encoder.encode("JOIN ");

/** Whether `buffer[at, end)` starts with `prefix`. */
function startsWith(buffer: Uint8Array, at: number, end: number, prefix: Uint8Array): boolean {
  if (end - at < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buffer[at + i] !== prefix[i]) return false;
  return true;
}

/**
 * Handles one IRC line. A message is a PRIVMSG whose text, the last parameter, is the bench's
 * `~SID_SEQ_TIME`: found as the first `:~` (a nick never starts with `~`, and ngIRCd's `!~user`,
 * a user name no ident server vouched for, is no `:~`), and counted as on NDJSON. A JOIN notice
 * is counted by its command word. Anything else is rare and decoded: the server's PING, the
 * welcome (001, answered by joining the room), the end of its names (366: the client is in),
 * PART and QUIT notices, and errors (ERROR, numerics 400 to 599 but 422, "no MOTD"), counted by
 * code as `irc NNN`.
 */
function onIrcLine(client: Client, buffer: Uint8Array, start: number, end: number, now: number) {
  let space = 0;
  for (let at = start + 1; at + 1 < end; at++) {
    if (buffer[at] === COLON && buffer[at + 1] === TILDE) {
      parseText(buffer, at + 2, end);
      return deliver(client, now);
    }
    if (space === 0 && buffer[at] === SPACE) space = at;
  }
  // JOIN notices come by the million when thousands join one channel: told without decoding.
  if (space > 0 && startsWith(buffer, space + 1, end, JOIN)) {
    if (client.kind !== "ping") counters.joined++;
    return;
  }
  const line = decoder.decode(buffer.subarray(start, end)).replace(/\r$/, "");
  const words = line.replace(/^@\S+ /, "").split(" ");
  if (words[0] === "PING") {
    client.write(`PONG ${words.slice(1).join(" ")}\r\n`).catch(() => {});
    return;
  }
  if (words[0] === "ERROR") return onIrcError(client, "ERROR");
  const command = words[1] ?? "";
  if (command === "001") client.write("JOIN #lobby\r\n").catch(() => {});
  else if (command === "366") client.welcome.resolve();
  else if ((command === "PART" || command === "QUIT") && client.kind !== "ping") counters.left++;
  else if (/^[45]\d\d$/.test(command) && command !== "422") onIrcError(client, command);
}

function onIrcError(client: Client, code: string): void {
  counters.errors[`irc ${code}`] = (counters.errors[`irc ${code}`] ?? 0) + 1;
  client.welcome.reject(new Error(`Server said ${code}`));
}

// Requests.

async function connectClient(
  ports: Ports,
  name: string,
  kind: Kind,
  sid: number,
  bufferBytes: number,
  timeoutMs: number,
  via: Via = "tcp",
): Promise<Client> {
  const port = ports[via];
  if (port === undefined) throw new RangeError(`The server takes no ${via} clients`);
  let link: Link;
  if (via === "ws") {
    link = new SocketLink(port, bufferBytes);
  } else {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    link = new StreamLink(conn, bufferBytes, via === "irc" ? IRC : NDJSON);
  }
  const client = new Client(link, kind, sid);
  const timer = setTimeout(() => client.close(), timeoutMs);
  try {
    await client.write(
      via === "irc"
        ? `NICK ${name}\r\nUSER ${name} 0 * :${name}\r\n`
        : `{"type":"hello","name":"${name}","history":0}\n`,
    );
    await client.welcome.promise;
  } catch (error) {
    client.close();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return client;
}

async function connect(
  ports: Ports,
  specs: ClientSpec[],
  bufferBytes: number,
  concurrency: number,
  timeoutMs: number,
  deadlineMs = Infinity,
): Promise<ConnectReply> {
  const reply: ConnectReply = { connected: 0, failed: 0, errors: [] };
  const deadline = Date.now() + deadlineMs;
  let next = 0;
  const worker = async () => {
    while (next < specs.length) {
      if (Date.now() > deadline) {
        reply.failed += specs.length - next;
        reply.errors.push(`${specs.length - next} not started within ${deadlineMs} ms`);
        next = specs.length;
        return;
      }
      const spec = specs[next++]!;
      try {
        const client = await connectClient(
          spec.port === undefined ? ports : { ...ports, tcp: spec.port },
          spec.name,
          spec.role,
          spec.sid ?? -1,
          bufferBytes,
          timeoutMs,
          spec.via,
        );
        clients.push(client);
        reply.connected++;
        counters.connected++;
      } catch (error) {
        reply.failed++;
        if (reply.errors.length < 5) reply.errors.push(`${spec.name}: ${error}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, specs.length) }, worker));
  return reply;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Closed loop: each local sender keeps at most `window` messages unseen by local receivers. */
async function sendWindowed(
  sender: Client,
  count: number,
  window: number,
  idleMs: number,
  pad: number,
): Promise<void> {
  const acks = windows[sender.sid];
  let seq = 0;
  while (seq < count) {
    const open = acks === undefined
      ? count - seq
      : Math.min(count - seq, window - (seq - acks.done));
    if (open <= 0) {
      // A receiver that was dropped never acknowledges: give up after idleMs.
      if (!await acks!.next(idleMs)) return;
      continue;
    }
    const sentUs = nowMicros();
    if (counters.firstSendUs === 0) counters.firstSendUs = sentUs;
    let text = "";
    for (let i = 0; i < open; i++) {
      text += sender.frame(messageText(sender.sid, seq + i, sentUs - epochUs), pad);
    }
    seq += open;
    counters.sent += open;
    await sender.write(text);
  }
}

/** Open loop: message i of `total` goes at start + i / perSecond, from sender i % senders. */
async function sendPaced(
  senders: Map<number, Client>,
  perSender: number[],
  perSecond: number,
  pad: number,
): Promise<void> {
  const total = perSender.reduce((sum, count) => sum + count, 0);
  const start = nowMicros();
  const seqs = new Map<number, number>();
  const writes: Promise<void>[] = [];
  let index = 0;
  while (index < total) {
    const due = Math.floor((nowMicros() - start) * perSecond / 1e6);
    const batch = new Map<Client, string>();
    const sentUs = nowMicros();
    for (; index < total && index <= due; index++) {
      const sid = index % perSender.length;
      const sender = senders.get(sid);
      if (sender === undefined) continue;
      const seq = seqs.get(sid) ?? 0;
      seqs.set(sid, seq + 1);
      batch.set(
        sender,
        (batch.get(sender) ?? "") + sender.frame(messageText(sid, seq, sentUs - epochUs), pad),
      );
      counters.sent++;
      if (counters.firstSendUs === 0) counters.firstSendUs = sentUs;
    }
    for (const [sender, text] of batch) writes.push(sender.write(text).catch(() => {}));
    if (writes.length > 1000) await Promise.all(writes.splice(0));
    if (index < total) await sleep((start + index * 1e6 / perSecond - nowMicros()) / 1000);
  }
  await Promise.all(writes);
}

async function churn(plan: ChurnPlan): Promise<void> {
  const start = nowMicros();
  const churners: Promise<void>[] = [];
  for (const index of plan.indices) {
    await sleep((start + index * 1e6 / plan.perSecond - nowMicros()) / 1000);
    churners.push(churnOne(plan, `${plan.prefix}${index}`));
  }
  await Promise.all(churners);
}

async function churnOne(plan: ChurnPlan, name: string): Promise<void> {
  let client: Client;
  try {
    client = await connectClient({ tcp: plan.port }, name, "churn", -1, plan.bufferBytes, 30_000);
  } catch (error) {
    counters.churnFailed++;
    if (counters.churnErrors.length < 5) counters.churnErrors.push(`${name}: ${error}`);
    return;
  }
  counters.churnJoined++;
  await sleep(plan.dwellMs);
  try {
    await client.write('{"type":"quit"}\n');
    await client.reading; // The server closes once it has sent what was queued.
    counters.churnLeft++;
  } catch {
    counters.churnFailed++;
  } finally {
    client.close();
  }
}

let pingers = 0;

/**
 * Pings the server every `intervalMs` until `stop`, from a client that has registered (servers
 * close connections that do not) and left the default room, so that nothing but the answers
 * queues up for it: the round trips show how quickly the server gets to a frame.
 */
async function ping(port: number, intervalMs: number, stop: Promise<void>): Promise<void> {
  const pinger = await connectClient(
    { tcp: port },
    `pinger${++pingers}`,
    "ping",
    -1,
    65_536,
    30_000,
  );
  await pinger.write('{"type":"part","room":"lobby"}\n');
  let stopped = false;
  stop.then(() => stopped = true);
  for (let id = 1; !stopped && !pinger.closed; id++) {
    pingSent.set(id, nowMicros());
    counters.pings++;
    await pinger.write(`{"type":"ping","id":${id}}\n`).catch(() => {});
    await Promise.race([sleep(intervalMs), stop]);
  }
  // Let the last answers arrive.
  for (let waited = 0; pingSent.size > 0 && waited < 2000; waited += 10) await sleep(10);
  pinger.close();
  await pinger.reading;
}

/** The counters as they were at the last reset. */
let base = { ...counters };
/** Message times are microseconds since this wall-clock time, to keep them short. */
let epochUs = 0;

function reset(from: number): void {
  epochUs = from;
  counters.latency.reset();
  counters.rtt.reset();
  counters.firstSendUs = 0;
  counters.lastReceiveUs = 0;
  counters.errors = {};
  counters.churnErrors = [];
  pingSent.clear();
  for (const client of clients) client.got = 0;
  base = { ...counters };
}

async function run(request: RunRequest): Promise<RunReply> {
  const live = clients.filter((client) => !client.closed);
  const receivers = live.filter((client) => client.kind === "recv").length;
  const senders = new Map(
    live.filter((client) => client.kind === "send").map((client) => [client.sid, client]),
  );
  const total = request.perSender.reduce((sum, count) => sum + count, 0);
  const expectOf = (client: Client) =>
    client.kind === "send" ? total - (request.perSender[client.sid] ?? 0) : total;
  const expected = live.reduce((sum, client) => sum + expectOf(client), 0);

  windows = [];
  if (request.window !== undefined && receivers > 0) {
    for (const [sid] of senders) windows[sid] = new Window(request.perSender[sid] ?? 0, receivers);
  }
  const stopPing = Promise.withResolvers<void>();
  const pinging = request.pingMs === undefined
    ? Promise.resolve()
    : ping(request.port, request.pingMs, stopPing.promise);
  const sending = request.window !== undefined
    ? Promise.all(
      [...senders].map(([sid, sender]) =>
        sendWindowed(
          sender,
          request.perSender[sid] ?? 0,
          request.window!,
          request.idleMs,
          request.pad ?? 0,
        ).catch(() => {})
      ),
    )
    : sendPaced(senders, request.perSender, request.perSecond ?? 100, request.pad ?? 0);
  await Promise.all([sending, request.churn ? churn(request.churn) : undefined]);

  // Wait for every local client to have what it should, or for deliveries to stop.
  let lastReceived = counters.received;
  let lastChange = Date.now();
  while (live.some((client) => !client.closed && client.got < expectOf(client))) {
    await sleep(5);
    if (counters.received !== lastReceived) {
      lastReceived = counters.received;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > request.idleMs) {
      break;
    }
  }
  stopPing.resolve();
  await pinging;
  windows = [];
  return {
    sent: counters.sent - base.sent,
    received: live.reduce((sum, client) => sum + Math.min(client.got, expectOf(client)), 0),
    expected,
    latency: counters.latency.toJSON(),
    firstSendUs: counters.firstSendUs,
    lastReceiveUs: counters.lastReceiveUs,
    joined: counters.joined - base.joined,
    left: counters.left - base.left,
    churnerMessages: counters.churnerMessages - base.churnerMessages,
    churned: {
      joined: counters.churnJoined - base.churnJoined,
      left: counters.churnLeft - base.churnLeft,
      failed: counters.churnFailed - base.churnFailed,
      errors: counters.churnErrors,
    },
    ping: {
      sent: counters.pings - base.pings,
      answered: counters.pongs - base.pongs,
      rtt: counters.rtt.toJSON(),
    },
    errors: counters.errors,
    closed: counters.closed - base.closed,
  };
}

// The process: requests in on stdin, replies and progress out on stdout.

function reply(message: Reply | Progress): void {
  Deno.stdout.writeSync(encoder.encode(JSON.stringify(message) + "\n"));
}

async function handle(request: Request): Promise<void> {
  try {
    switch (request.op) {
      case "connect": {
        const answer = await connect(
          { ...request.ports, tcp: request.port },
          request.clients,
          request.bufferBytes,
          request.concurrency,
          request.timeoutMs,
          request.deadlineMs,
        );
        return reply({ id: request.id, ok: true, connect: answer });
      }
      case "reset":
        reset(request.epochUs);
        return reply({ id: request.id, ok: true });
      case "run":
        return reply({ id: request.id, ok: true, run: await run(request) });
      case "quit":
        for (const client of clients) client.close();
        await Promise.all(clients.map((client) => client.reading));
        reply({ id: request.id, ok: true });
        Deno.exit(0);
    }
  } catch (error) {
    reply({ id: request.id, ok: false, error: String(error) });
  }
}

function progress(): Progress {
  return {
    ev: "progress",
    connected: counters.connected,
    sent: counters.sent,
    received: counters.received,
    joined: counters.joined,
    left: counters.left,
    churnJoined: counters.churnJoined,
    churnLeft: counters.churnLeft,
    pongs: counters.pongs,
  };
}

async function main(): Promise<void> {
  let last = "";
  setInterval(() => {
    const now = JSON.stringify(progress());
    if (now !== last) reply(progress());
    last = now;
  }, 250);
  let pending = "";
  for await (const text of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    pending += text;
    for (let end = pending.indexOf("\n"); end !== -1; end = pending.indexOf("\n")) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      if (line.trim() !== "") handle(JSON.parse(line));
    }
  }
  // The coordinator went away.
  Deno.exit(0);
}

if (import.meta.main) await main();
