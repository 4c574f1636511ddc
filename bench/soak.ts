// `deno task soak [--minutes 10] [--clients 300] [options]`: a long run of the real server
// (`mod.ts serve`, in its own process) under churn, checking that no connected client loses a
// message or gets one twice, and watching the server's memory and CPU time.
//
// A steady set of witness clients stays connected for the whole run, each in a few rooms,
// sending numbered messages at a fixed rate. The other clients churn: they connect, join and
// part rooms among the --rooms rooms, send a message now and then, and leave by `quit`, by
// closing abruptly, or by closing in the middle of a frame; then they come back under a new
// name. A progress line goes to stderr every --progress seconds; at the end, a summary on stderr
// and one JSON line of figures on stdout. The exit code is 1 if a message was lost or
// duplicated (or reached a client outside the room, or the server hung, crashed or failed to
// stop cleanly), 0 otherwise, 2 for a usage error.
//
// Exactly-once accounting. Every message carries a local sequence number in its text; the server
// gives it an id. The sender follows each message with a `ping`: its `pong` means the server has
// the message (time `acked`). A receiver is in a room from the `entered` frame it reads (time
// `entered`) until the write of a barrier the server orders after everything it had received:
// a `part` (whose `left` answer comes after every message flushed before it), a `quit` (the
// server sends what is queued, then closes), or, for a client that closes abruptly, the last
// `join` or `part` whose answer it read (the server flushes every pending message before either
// is answered). A message must reach a receiver if it was written after the receiver's `entered`
// and acknowledged before the receiver's barrier: the server had it while the receiver was in
// the room, and the receiver read past the point where it was delivered. Anything else may or
// may not arrive, and is not counted as lost. A message id (or sequence number) seen twice by one
// connection is a duplicate; a message for a room the client is not in is stray. All clocks are
// this process's `performance.now()`.

import { parseArgs } from "../_cli/std.ts";
import { closeQuietly, isDisconnect } from "../_net/disconnect.ts";
import { Outbox, readLines } from "../_net/framing.ts";
import {
  type ClientFrame,
  decodeServerFrame,
  encodeFrame,
  MAX_SERVER_FRAME_BYTES,
  type ServerFrame,
} from "../protocol.ts";
import { Histogram } from "./_histogram.ts";
import { cpuSeconds, exitOrKill, rssKiB } from "./_proc.ts";
import { round } from "./_report.ts";

const HELP = `Usage: deno task soak [options]

Runs the real server (mod.ts serve) in its own process for a while under client churn, then
reports lost and duplicated messages, server RSS and CPU over time, and message latency.

Options:
  --minutes M      how long to run (default 10; fractions allowed)
  --clients N      clients at once, witnesses included (default 300)
  --witnesses N    clients that stay connected and send numbered messages (default clients / 15)
  --rooms N        rooms besides the lobby (default 10)
  --rate N         witness messages per second, all witnesses together (default 100)
  --progress S     seconds between progress lines (default 5)
  --parley PATH    the mod.ts to run (default: this checkout's)
  -h, --help       show this help

Exit code: 0 when nothing was lost or duplicated, 1 otherwise, 2 for a usage error.
`;

const MOD_TS = new URL("../mod.ts", import.meta.url).pathname;

/** How long any answer from the server may take before the server counts as hung. */
const ANSWER_MS = 15_000;

/** The options of a run. */
export interface SoakOptions {
  minutes: number;
  clients: number;
  witnesses: number;
  rooms: number;
  rate: number;
  progressSeconds: number;
  mod: string;
}

// Small helpers.

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!;
}

function between(min: number, max: number): number {
  return min + Math.random() * (max - min);
}

// The ledger: every message sent, and what each receiver was owed.

interface Sent {
  seq: number;
  room: string;
  /** The sender's connection number: a sender gets no copy. */
  sender: number;
  /** When the message was queued for writing. */
  written: number;
  /** When the sender read the pong of the ping that followed it. */
  acked: number | undefined;
  witness: boolean;
}

class Ledger {
  #nextSeq = 1;
  readonly bySeq = new Map<number, Sent>();
  /** Each room's messages in the order they were written. */
  readonly byRoom = new Map<string, Sent[]>();
  sent = 0;
  acked = 0;
  expected = 0;
  delivered = 0;
  lost = 0;
  duplicates = 0;
  stray = 0;
  readonly lostExamples: string[] = [];
  readonly latency = new Histogram();
  windowLatency = new Histogram();

  newMessage(room: string, sender: number, written: number, witness: boolean): Sent {
    const sent: Sent = { seq: this.#nextSeq++, room, sender, written, acked: undefined, witness };
    this.bySeq.set(sent.seq, sent);
    let log = this.byRoom.get(room);
    if (log === undefined) this.byRoom.set(room, log = []);
    log.push(sent);
    this.sent++;
    return sent;
  }

  /**
   * Settles what connection `receiver` was owed in `room` while it was there, from `entered`
   * to its barrier `end`: every message from another client written after `entered` and
   * acknowledged before `end` must be in `got`.
   */
  settle(room: string, receiver: number, entered: number, end: number, got: Set<number>): void {
    const log = this.byRoom.get(room);
    if (log === undefined || end <= entered) return;
    let low = 0;
    let high = log.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (log[middle]!.written <= entered) low = middle + 1;
      else high = middle;
    }
    for (let i = low; i < log.length && log[i]!.written < end; i++) {
      const sent = log[i]!;
      if (sent.sender === receiver || sent.acked === undefined || sent.acked >= end) continue;
      this.expected++;
      if (!got.has(sent.seq)) {
        this.lost++;
        if (this.lostExamples.length < 10) {
          this.lostExamples.push(
            `message ${sent.seq} in ${room} (written ${round(sent.written, 1)}, acked ` +
              `${round(sent.acked, 1)}) never reached connection ${receiver} (in the room from ` +
              `${round(entered, 1)} to ${round(end, 1)})`,
          );
        }
      }
    }
  }
}

// A connection, as a soak client: writes frames, reads and dispatches what comes back.

class Conn {
  readonly conn: Deno.TcpConn;
  readonly outbox: Outbox;
  readonly done: Promise<void>;
  ended = false;
  #onFrame: (frame: ServerFrame, now: number) => void;
  #waiters = new Set<() => void>();

  private constructor(conn: Deno.TcpConn, onFrame: (frame: ServerFrame, now: number) => void) {
    this.conn = conn;
    this.outbox = new Outbox(conn, 64 * 1024 * 1024);
    this.#onFrame = onFrame;
    this.done = this.#read();
  }

  static async open(
    port: number,
    onFrame: (frame: ServerFrame, now: number) => void,
  ): Promise<Conn> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    return new Conn(conn, onFrame);
  }

  /** Queues a frame; returns when it was queued. */
  send(frame: ClientFrame): number {
    const now = performance.now();
    this.outbox.push(encodeFrame(frame));
    return now;
  }

  sendBytes(bytes: Uint8Array): void {
    this.outbox.push(bytes);
  }

  close(): void {
    closeQuietly(this.conn);
  }

  /** Resolves true once `condition` holds (tested after every frame), false if the connection
   * ends first or `ms` pass. */
  async until(condition: () => boolean, ms = ANSWER_MS): Promise<boolean> {
    const started = performance.now();
    while (!condition()) {
      if (this.ended) return false;
      const left = ms - (performance.now() - started);
      if (left <= 0) return false;
      const { promise, resolve } = Promise.withResolvers<void>();
      const timer = setTimeout(resolve, left);
      this.#waiters.add(resolve);
      await promise;
      clearTimeout(timer);
      this.#waiters.delete(resolve);
    }
    return true;
  }

  async #read(): Promise<void> {
    try {
      for await (const line of readLines(this.conn, MAX_SERVER_FRAME_BYTES)) {
        const result = decodeServerFrame(line);
        if (!result.ok) throw new Error(`The server sent a malformed frame: ${result.message}`);
        const frame = result.frame;
        if (frame.type === "ping") {
          this.outbox.push(
            encodeFrame(frame.id === undefined ? { type: "pong" } : { type: "pong", id: frame.id }),
          );
        }
        this.#onFrame(frame, performance.now());
        for (const wake of this.#waiters) wake();
      }
    } catch (error) {
      if (!isDisconnect(error)) throw error;
    } finally {
      this.ended = true;
      for (const wake of this.#waiters) wake();
      await this.outbox.flushed();
      closeQuietly(this.conn);
    }
  }
}

// Counters shown in the progress lines and the report.

class Counters {
  connects = 0;
  open = 0;
  maxOpen = 0;
  hellos = 0;
  vanishedBeforeHello = 0;
  quits = 0;
  abrupt = 0;
  killedMidFrame = 0;
  joins = 0;
  parts = 0;
  hangs = 0;
  readonly errors = new Map<string, number>();
  readonly failures: string[] = [];

  fail(message: string): void {
    if (this.failures.length < 20) this.failures.push(message);
  }
}

/** What a client reads and what it is owed: one connection of a witness or a churner. */
class Member {
  static #next = 1;
  readonly id = Member.#next++;
  /** Set by {@linkcode Member.connect}, which makes the member first to hand it the frames. */
  conn!: Conn;
  readonly name: string;
  readonly witness: boolean;
  /** The rooms it is in, with when it entered and the messages it got there. */
  readonly rooms = new Map<string, { entered: number; got: Set<number> }>();
  /** Ids of every message it got, against duplicates across rooms and re-entries. */
  readonly ids = new Set<number>();
  /** The write time of the last `join`, `part` or `hello` whose answer it read. */
  barrier = -Infinity;
  #joins = new Map<string, number>();
  #parts = new Map<string, number>();
  #helloAt = 0;
  #pings = new Map<number, Sent[]>();
  #unacked: Sent[] = [];
  #nextPing = 1;
  welcomed = false;
  #settled = false;
  #ledger: Ledger;
  #counters: Counters;

  private constructor(
    name: string,
    witness: boolean,
    ledger: Ledger,
    counters: Counters,
  ) {
    this.name = name;
    this.witness = witness;
    this.#ledger = ledger;
    this.#counters = counters;
  }

  static async connect(
    port: number,
    name: string,
    witness: boolean,
    ledger: Ledger,
    counters: Counters,
  ): Promise<Member> {
    const member = new Member(name, witness, ledger, counters);
    const conn = await Conn.open(port, (frame, now) => member.#receive(frame, now));
    member.conn = conn;
    counters.connects++;
    counters.open++;
    counters.maxOpen = Math.max(counters.maxOpen, counters.open);
    conn.done.finally(() => counters.open--);
    return member;
  }

  /** Says hello; true once welcomed and in the lobby. */
  async hello(): Promise<boolean> {
    this.#helloAt = this.conn.send({ type: "hello", name: this.name, history: 0 });
    this.#counters.hellos++;
    return await this.#answered("welcome", () => this.rooms.has("lobby"));
  }

  async join(room: string): Promise<boolean> {
    this.#joins.set(room, this.conn.send({ type: "join", room, history: 0 }));
    this.#counters.joins++;
    return await this.#answered(`join ${room}`, () => this.rooms.has(room));
  }

  async part(room: string): Promise<boolean> {
    this.#parts.set(room, this.conn.send({ type: "part", room }));
    this.#counters.parts++;
    return await this.#answered(`part ${room}`, () => !this.rooms.has(room));
  }

  /** Sends a numbered message to `room`, then a ping whose pong acknowledges it. */
  say(room: string): void {
    const written = performance.now();
    const sent = this.#ledger.newMessage(room, this.id, written, this.witness);
    this.conn.send({ type: "send", room, text: `m${sent.seq} ${this.name}` });
    this.#unacked.push(sent);
    const ping = this.#nextPing++;
    this.#pings.set(ping, this.#unacked);
    this.#unacked = [];
    this.conn.send({ type: "ping", id: ping });
  }

  /** Waits until every message sent is acknowledged. */
  async acked(): Promise<boolean> {
    return await this.#answered("acks", () => this.#pings.size === 0);
  }

  /** Quits: the server sends what is queued, then closes. Everything it was owed arrives. */
  async quit(): Promise<void> {
    const at = this.conn.send({ type: "quit" });
    this.#counters.quits++;
    const closed = await this.conn.until(() => false).then(() => this.conn.ended);
    if (!closed) this.#hang("the close after quit");
    this.#settleAll(closed ? at : this.barrier);
    this.conn.close();
    await this.conn.done;
  }

  /** Closes without a word, or in the middle of a frame: only what was read past the last
   * barrier is owed. */
  async drop(midFrame: boolean): Promise<void> {
    if (midFrame) {
      const frame = encodeFrame({ type: "send", text: `cut off by ${this.name} `.repeat(8) });
      this.conn.sendBytes(frame.subarray(0, 1 + Math.floor(Math.random() * (frame.length - 2))));
      await this.conn.outbox.flushed();
      this.#counters.killedMidFrame++;
    } else {
      this.#counters.abrupt++;
    }
    this.#settleAll(this.barrier);
    this.conn.close();
    await this.conn.done;
  }

  /** Settles every room at `end`; what is still read after that (the rest of a buffer being
   * split into lines while the connection closes) is ignored. */
  #settleAll(end: number): void {
    this.#settled = true;
    for (const [room, { entered, got }] of this.rooms) {
      this.#ledger.settle(room, this.id, entered, end, got);
    }
    this.rooms.clear();
  }

  /** After the server closed the connection: settles at the last barrier. */
  settleAfterClose(): void {
    this.#settleAll(this.barrier);
  }

  async #answered(what: string, condition: () => boolean): Promise<boolean> {
    if (await this.conn.until(condition)) return true;
    if (!this.conn.ended) this.#hang(what);
    return false;
  }

  #hang(what: string): void {
    this.#counters.hangs++;
    this.#counters.fail(`${this.name}: no answer from the server to ${what} in ${ANSWER_MS} ms`);
  }

  #receive(frame: ServerFrame, now: number): void {
    if (this.#settled) return;
    const ledger = this.#ledger;
    switch (frame.type) {
      case "welcome":
        this.welcomed = true;
        break;
      case "entered": {
        this.rooms.set(frame.room, { entered: now, got: new Set() });
        const asked = frame.room === "lobby" && !this.#joins.has("lobby")
          ? this.#helloAt
          : this.#joins.get(frame.room);
        this.#joins.delete(frame.room);
        if (asked !== undefined) this.barrier = Math.max(this.barrier, asked);
        break;
      }
      case "left": {
        if (frame.name !== this.name) break;
        const asked = this.#parts.get(frame.room);
        const state = this.rooms.get(frame.room);
        this.#parts.delete(frame.room);
        this.rooms.delete(frame.room);
        if (asked !== undefined) this.barrier = Math.max(this.barrier, asked);
        if (state !== undefined) {
          ledger.settle(frame.room, this.id, state.entered, asked ?? this.barrier, state.got);
        }
        break;
      }
      case "message": {
        ledger.delivered++;
        const seq = Number(/^m(\d+) /.exec(frame.text)?.[1]);
        const sent = ledger.bySeq.get(seq);
        if (this.ids.has(frame.id)) {
          ledger.duplicates++;
          this.#counters.fail(`${this.name} got message id ${frame.id} twice`);
          break;
        }
        this.ids.add(frame.id);
        const state = this.rooms.get(frame.room);
        if (state === undefined) {
          ledger.stray++;
          this.#counters.fail(`${this.name} got a message for ${frame.room}, not being there`);
          break;
        }
        if (state.got.has(seq)) {
          ledger.duplicates++;
          this.#counters.fail(`${this.name} got message ${seq} twice`);
          break;
        }
        state.got.add(seq);
        if (sent?.witness) {
          ledger.latency.record((now - sent.written) * 1000);
          ledger.windowLatency.record((now - sent.written) * 1000);
        }
        break;
      }
      case "pong": {
        if (typeof frame.id !== "number") break;
        const acked = this.#pings.get(frame.id);
        if (acked === undefined) break;
        this.#pings.delete(frame.id);
        for (const sent of acked) {
          sent.acked = now;
          ledger.acked++;
        }
        break;
      }
      case "error":
        this.#counters.errors.set(frame.code, (this.#counters.errors.get(frame.code) ?? 0) + 1);
        break;
    }
  }
}

// The server under test.

class Server {
  readonly child: Deno.ChildProcess;
  readonly pid: number;
  port = 0;
  stderr = "";
  #stdout = "";
  #output: Promise<void>;
  exited = false;

  constructor(mod: string, db: string) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        mod,
        "serve",
        "--port",
        "0",
        "--db",
        db,
        "--rate",
        "0",
        "--max-connections-per-ip",
        "100000",
        "--log-level",
        "warn",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.pid = this.child.pid;
    this.child.status.then(() => this.exited = true);
    const collect = async (stream: ReadableStream<Uint8Array>, add: (text: string) => void) => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) add(text);
    };
    this.#output = Promise.all([
      collect(this.child.stdout, (text) => this.#stdout += text),
      collect(this.child.stderr, (text) => this.stderr += text),
    ]).then(() => {});
  }

  /** Waits for "parley listening on 127.0.0.1:PORT". */
  async started(): Promise<number> {
    const started = performance.now();
    while (performance.now() - started < 30_000) {
      const match = /parley listening on 127\.0\.0\.1:(\d+)/.exec(this.#stdout);
      if (match) return this.port = Number(match[1]);
      if (this.exited) break;
      await sleep(20);
    }
    throw new Error(`The server did not start: ${this.stderr}`);
  }

  /** SIGTERM, then the exit code (or undefined if it did not exit within 10 s: killed). */
  async stop(): Promise<number | undefined> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // Gone already.
    }
    const killed = await exitOrKill(this.child, 10_000);
    await this.#output;
    return killed ? undefined : (await this.child.status).code;
  }
}

// The run.

interface Sample {
  seconds: number;
  rssKiB: number;
  cpuSeconds: number;
  /** CPU time of this process, the load generator. */
  generatorCpuSeconds: number;
}

/** How late this process's timers fire: when the load generator is busy, what it measures
 * (latency above all) includes its own delays. */
class LoopLag {
  readonly all = new Histogram();
  window = new Histogram();
  #timer: ReturnType<typeof setInterval>;

  constructor(everyMs = 50) {
    let last = performance.now();
    this.#timer = setInterval(() => {
      const now = performance.now();
      const late = Math.max(0, now - last - everyMs);
      this.all.record(late * 1000);
      this.window.record(late * 1000);
      last = now;
    }, everyMs);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/** Runs a soak; resolves with the exit code. */
export async function soak(options: SoakOptions): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "parley-soak-" });
  const server = new Server(options.mod, `${dir}/soak.db`);
  const ledger = new Ledger();
  const counters = new Counters();
  const rooms = Array.from({ length: options.rooms }, (_, i) => `room-${i}`);
  const samples: Sample[] = [];
  let progressTimer: ReturnType<typeof setInterval> | undefined;
  const lag = new LoopLag();
  try {
    const port = await server.started();
    const t0 = performance.now();
    const elapsed = () => (performance.now() - t0) / 1000;
    const sample = () => {
      samples.push({
        seconds: elapsed(),
        rssKiB: rssKiB(server.pid),
        cpuSeconds: cpuSeconds(server.pid),
        generatorCpuSeconds: cpuSeconds(Deno.pid),
      });
    };
    sample();
    const endAt = t0 + options.minutes * 60_000;
    const running = () => performance.now() < endAt && !server.exited;
    log(
      `soak: server pid ${server.pid} on port ${port}; ${options.clients} clients ` +
        `(${options.witnesses} witnesses), ${options.rooms} rooms, ${options.rate} witness ` +
        `messages/s, ${options.minutes} min`,
    );

    let lastCpu = samples[0]!;
    progressTimer = setInterval(() => {
      sample();
      const now = samples.at(-1)!;
      const span = now.seconds - lastCpu.seconds;
      const cpu = (now.cpuSeconds - lastCpu.cpuSeconds) / span * 100;
      const generatorCpu = (now.generatorCpuSeconds - lastCpu.generatorCpuSeconds) / span * 100;
      lastCpu = now;
      const window = ledger.windowLatency;
      ledger.windowLatency = new Histogram();
      const windowLag = lag.window;
      lag.window = new Histogram();
      log(
        `${elapsed().toFixed(0).padStart(5)} s  open ${counters.open}  connects ` +
          `${counters.connects}  quits ${counters.quits}  abrupt ${counters.abrupt}  ` +
          `mid-frame ${counters.killedMidFrame}  joins ${counters.joins}  parts ` +
          `${counters.parts}  sent ${ledger.sent}  delivered ${ledger.delivered}  owed ` +
          `${ledger.expected}  lost ${ledger.lost}  dup ${ledger.duplicates}  stray ` +
          `${ledger.stray}  hangs ${counters.hangs}  RSS ${(now.rssKiB / 1024).toFixed(1)} MiB  ` +
          `CPU ${cpu.toFixed(0)}%  p50 ${window.percentiles().p50} ms  p99 ` +
          `${window.percentiles().p99} ms  generator CPU ${generatorCpu.toFixed(0)}%, ` +
          `timer lag p99 ${windowLag.percentiles().p99} ms`,
      );
    }, options.progressSeconds * 1000);

    // Witnesses: in the lobby and two more rooms each, for the whole run.
    const witnesses: Member[] = [];
    for (let i = 0; i < options.witnesses; i++) {
      const witness = await Member.connect(port, `w${i}`, true, ledger, counters);
      if (!await witness.hello()) throw new Error(`Witness w${i} could not join`);
      for (const room of [rooms[i % rooms.length]!, rooms[(i * 7 + 3) % rooms.length]!]) {
        if (!witness.rooms.has(room) && !await witness.join(room)) {
          throw new Error(`Witness w${i} could not join ${room}`);
        }
      }
      witnesses.push(witness);
    }
    const speak = witnesses.map(async (witness, i) => {
      const every = options.witnesses / options.rate * 1000;
      await sleep(every * i / options.witnesses);
      let next = performance.now();
      while (running() && !witness.conn.ended) {
        witness.say(pick([...witness.rooms.keys()]));
        next += every;
        await sleep(Math.max(0, next - performance.now()));
      }
    });

    // Churners.
    const churners = Array.from(
      { length: options.clients - options.witnesses },
      (_, slot) => churn(slot, port, rooms, ledger, counters, running),
    );

    await Promise.all([...speak, ...churners]);
    // The end: every message acknowledged, then the witnesses quit and settle.
    await Promise.all(witnesses.map((witness) => witness.acked()));
    await Promise.all(witnesses.map((witness) => witness.quit()));
    const seconds = elapsed();
    clearInterval(progressTimer);
    progressTimer = undefined;
    await sleep(2000);
    sample();
    const settled = samples.at(-1)!;

    const exitedEarly = server.exited;
    const exitCode = await server.stop();
    const stoppedCleanly = !exitedEarly && exitCode === 0;
    if (!stoppedCleanly) {
      counters.fail(
        exitedEarly
          ? `The server exited during the run: ${server.stderr.slice(-2000)}`
          : `The server did not stop cleanly on SIGTERM (exit code ${exitCode})`,
      );
    }
    lag.stop();
    const report = figures(options, seconds, ledger, counters, samples, settled, server, lag);
    printReport(report, ledger, counters);
    console.log(JSON.stringify(report));
    const ok = ledger.lost === 0 && ledger.duplicates === 0 && ledger.stray === 0 &&
      counters.hangs === 0 && stoppedCleanly;
    return ok ? 0 : 1;
  } finally {
    clearInterval(progressTimer);
    lag.stop();
    if (!server.exited) await server.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** One churning client slot: connects, wanders among rooms, leaves one way or another, and
 * comes back under a new name, until the run ends. */
async function churn(
  slot: number,
  port: number,
  rooms: string[],
  ledger: Ledger,
  counters: Counters,
  running: () => boolean,
): Promise<void> {
  // Spread the first connections over the first few seconds.
  await sleep(Math.random() * 5000);
  for (let generation = 0; running(); generation++) {
    let member: Member;
    try {
      member = await Member.connect(port, `c${slot}x${generation}`, false, ledger, counters);
    } catch (error) {
      counters.fail(`Could not connect: ${error}`);
      await sleep(1000);
      continue;
    }
    if (Math.random() < 0.03) {
      // Connects and vanishes without a word.
      counters.vanishedBeforeHello++;
      await member.drop(Math.random() < 0.5);
      continue;
    }
    if (!await member.hello()) {
      member.settleAfterClose();
      member.conn.close();
      await member.conn.done;
      continue;
    }
    const stayUntil = performance.now() + between(2000, 20_000);
    while (running() && performance.now() < stayUntil && !member.conn.ended) {
      await sleep(between(200, 1500));
      const here = [...member.rooms.keys()];
      const roll = Math.random();
      if (roll < 0.35 && here.length < 4) {
        const room = pick(rooms.filter((room) => !member.rooms.has(room)));
        await member.join(room);
      } else if (roll < 0.6 && here.length > 0) {
        await member.part(pick(here));
      } else if (roll < 0.75 && here.length > 0) {
        member.say(pick(here));
      }
    }
    if (member.conn.ended) {
      member.settleAfterClose();
      await member.conn.done;
    } else {
      await member.acked();
      const roll = Math.random();
      if (roll < 0.4 || !running()) await member.quit();
      else await member.drop(roll > 0.7);
    }
    await sleep(between(50, 500));
  }
}

// Reporting.

function log(line: string): void {
  console.error(line);
}

function figures(
  options: SoakOptions,
  seconds: number,
  ledger: Ledger,
  counters: Counters,
  samples: Sample[],
  settled: Sample,
  server: Server,
  lag: LoopLag,
) {
  const during = samples.slice(0, -1);
  // One sample per minute: the last one taken by the end of each minute (within half a
  // progress interval), with the server's CPU use over that minute.
  const perMinute: { minute: number; rssMiB: number; cpuPercent: number }[] = [];
  let previous = during[0]!;
  for (let minute = 1; minute <= Math.max(1, Math.round(seconds / 60)); minute++) {
    const slack = options.progressSeconds / 2;
    const last = during.filter((s) => s.seconds <= minute * 60 + slack).at(-1);
    if (last === undefined || last === previous) continue;
    perMinute.push({
      minute,
      rssMiB: round(last.rssKiB / 1024, 1),
      cpuPercent: round(
        (last.cpuSeconds - previous.cpuSeconds) / (last.seconds - previous.seconds) * 100,
        1,
      ),
    });
    previous = last;
  }
  // Levels off: RSS over the second half of the run grows less than 1 MiB a minute.
  const half = during.filter((s) => s.seconds >= seconds / 2);
  const slope = slopeMiBPerMinute(half);
  const first = samples[0]!;
  const last = during.at(-1)!;
  const latency = ledger.latency.percentiles();
  const timerLag = lag.all.percentiles();
  return {
    soak: "parley",
    parley: options.mod,
    minutes: round(seconds / 60, 2),
    clients: options.clients,
    witnesses: options.witnesses,
    rooms: options.rooms,
    witnessRate: options.rate,
    connects: counters.connects,
    maxOpen: counters.maxOpen,
    hellos: counters.hellos,
    quits: counters.quits,
    abruptCloses: counters.abrupt,
    killedMidFrame: counters.killedMidFrame,
    vanishedBeforeHello: counters.vanishedBeforeHello,
    joins: counters.joins,
    parts: counters.parts,
    messagesSent: ledger.sent,
    messagesAcked: ledger.acked,
    deliveries: ledger.delivered,
    owed: ledger.expected,
    lost: ledger.lost,
    duplicates: ledger.duplicates,
    stray: ledger.stray,
    hangs: counters.hangs,
    serverErrors: Object.fromEntries(counters.errors),
    latencyMs: {
      p50: latency.p50,
      p99: latency.p99,
      max: latency.max,
      samples: ledger.latency.count,
    },
    rssMiB: {
      start: round(first.rssKiB / 1024, 1),
      end: round(last.rssKiB / 1024, 1),
      max: round(Math.max(...during.map((s) => s.rssKiB)) / 1024, 1),
      afterClientsLeft: round(settled.rssKiB / 1024, 1),
      perMinute,
      secondHalfSlopeMiBPerMinute: round(slope, 2),
      levelsOff: slope < 1,
    },
    serverCpu: {
      seconds: round(last.cpuSeconds - first.cpuSeconds, 1),
      percentOfOneCore: round((last.cpuSeconds - first.cpuSeconds) / seconds * 100, 1),
    },
    generator: {
      cpuPercentOfOneCore: round(
        (last.generatorCpuSeconds - first.generatorCpuSeconds) / seconds * 100,
        1,
      ),
      timerLagMs: {
        p50: timerLag.p50,
        p99: timerLag.p99,
        max: timerLag.max,
      },
    },
    serverWarnings: server.stderr.split("\n").filter((line) => / WARN /.test(line)).length,
    serverErrorLogLines: server.stderr.split("\n").filter((line) => / ERROR /.test(line)).length,
  };
}

/** The least-squares slope of RSS over time, in MiB per minute. */
function slopeMiBPerMinute(samples: Sample[]): number {
  if (samples.length < 2) return 0;
  const n = samples.length;
  const mx = samples.reduce((sum, s) => sum + s.seconds / 60, 0) / n;
  const my = samples.reduce((sum, s) => sum + s.rssKiB / 1024, 0) / n;
  let num = 0;
  let den = 0;
  for (const s of samples) {
    num += (s.seconds / 60 - mx) * (s.rssKiB / 1024 - my);
    den += (s.seconds / 60 - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

function printReport(
  report: ReturnType<typeof figures>,
  ledger: Ledger,
  counters: Counters,
): void {
  log("");
  log(
    `soak: ${report.minutes} min, ${report.clients} clients (${report.witnesses} witnesses), ` +
      `${report.connects} connections (max ${report.maxOpen} open): ${report.quits} quits, ` +
      `${report.abruptCloses} abrupt closes, ${report.killedMidFrame} closed mid-frame, ` +
      `${report.joins} joins, ${report.parts} parts`,
  );
  log(
    `messages: ${report.messagesSent} sent, ${report.deliveries} deliveries, ${report.owed} ` +
      `owed to clients in the room: lost ${report.lost}, duplicates ${report.duplicates}, ` +
      `stray ${report.stray}, hangs ${report.hangs}`,
  );
  log(
    `latency of witness messages: p50 ${report.latencyMs.p50} ms, p99 ${report.latencyMs.p99} ` +
      `ms, max ${report.latencyMs.max} ms (${report.latencyMs.samples} deliveries)`,
  );
  log(
    `server RSS (MiB) per minute: ${
      report.rssMiB.perMinute.map((m) => `${m.minute}: ${m.rssMiB}`).join(", ")
    }; start ${report.rssMiB.start}, max ${report.rssMiB.max}, after the clients left ` +
      `${report.rssMiB.afterClientsLeft}; second-half slope ` +
      `${report.rssMiB.secondHalfSlopeMiBPerMinute} MiB/min: ` +
      (report.rssMiB.levelsOff ? "levels off" : "still growing"),
  );
  log(
    `server CPU: ${report.serverCpu.seconds} s, ${report.serverCpu.percentOfOneCore}% of one ` +
      `core; per minute: ${report.rssMiB.perMinute.map((m) => `${m.cpuPercent}%`).join(", ")}`,
  );
  log(
    `load generator (this process): ${report.generator.cpuPercentOfOneCore}% of one core; ` +
      `its timers fire late by p50 ${report.generator.timerLagMs.p50} ms, p99 ` +
      `${report.generator.timerLagMs.p99} ms, max ${report.generator.timerLagMs.max} ms`,
  );
  if (counters.errors.size > 0) {
    log(`error frames from the server: ${JSON.stringify(report.serverErrors)}`);
  }
  for (const example of ledger.lostExamples) log(`lost: ${example}`);
  for (const failure of counters.failures) log(`failure: ${failure}`);
}

/** `deno task soak ARGS`; resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  const unknown: string[] = [];
  const parsed = parseArgs(args, {
    boolean: ["help"],
    string: ["minutes", "clients", "witnesses", "rooms", "rate", "progress", "parley"],
    alias: { h: "help" },
    unknown: (arg: string) => {
      unknown.push(arg);
      return false;
    },
  });
  if (parsed.help) {
    console.log(HELP);
    return 0;
  }
  try {
    if (unknown.length > 0) throw new RangeError(`Unknown argument "${unknown[0]}"`);
    const number = (flag: string, fallback: number, min: number, whole = true): number => {
      const text = parsed[flag];
      if (text === undefined) return fallback;
      const value = Number(text);
      if (!Number.isFinite(value) || value < min || (whole && !Number.isInteger(value))) {
        throw new RangeError(`--${flag} must be a number of at least ${min}: got "${text}"`);
      }
      return value;
    };
    const clients = number("clients", 300, 2);
    const witnesses = number("witnesses", Math.max(2, Math.round(clients / 15)), 2);
    if (witnesses >= clients) throw new RangeError("--witnesses must be fewer than --clients");
    return await soak({
      minutes: number("minutes", 10, 0.05, false),
      clients,
      witnesses,
      rooms: number("rooms", 10, 2),
      rate: number("rate", 100, 1, false),
      progressSeconds: number("progress", 5, 1, false),
      mod: parsed.parley === undefined ? MOD_TS : String(parsed.parley),
    });
  } catch (error) {
    if (error instanceof RangeError) {
      console.error(`soak: ${error.message}`);
      return 2;
    }
    throw error;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
