// Shared fixtures for the tests: a server on a free port, a raw socket peer that writes exactly
// the bytes under test, deadlines so a hang fails instead of stalling, and the CLI as a process.

import { ChatServer, type ServerOptions } from "../server.ts";
import { ChatClient } from "../client.ts";
import type { ServerFrame } from "../protocol.ts";

/** Starts a quiet server on a free loopback port. */
export function startServer(options: ServerOptions = {}): ChatServer {
  return new ChatServer({ port: 0, logLevel: "silent", ...options });
}

/** Connects a client to `server` under `name`. */
export function join(server: ChatServer, name: string): Promise<ChatClient> {
  return ChatClient.connect({ hostname: server.addr.hostname, port: server.addr.port, name });
}

/** Rejects if `promise` takes longer than `ms`, naming `what`. */
export async function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reads frames from `client` until `done` holds for one (that frame included), or, when `done` is
 * `"closed"`, until the connection closes; returns every frame read, in order (none with
 * `keep: false`, for waits over thousands of frames that `done` counts itself). The one wait on a
 * client in the tests: it fails after `ms`, and fails if the connection closes before `done` held,
 * naming `what` and what arrived by then, so no wait can hang or pass on a connection that ended
 * early. A connection that breaks rejects with its own error.
 */
export async function framesUntil(
  client: AsyncIterable<ServerFrame>,
  done: ((frame: ServerFrame) => boolean) | "closed",
  ms: number,
  what: string,
  options: { keep?: boolean } = {},
): Promise<ServerFrame[]> {
  const frames: ServerFrame[] = [];
  const arrived = new Arrived();
  const iterator = client[Symbol.asyncIterator]();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"expired">((resolve) => {
    timer = setTimeout(() => resolve("expired"), ms);
  });
  try {
    while (true) {
      // A connection that breaks (a frame too large, say) throws its own error, as it is.
      const next = await Promise.race([iterator.next(), expired]);
      if (next === "expired") {
        throw new Error(`Timed out after ${ms} ms waiting for ${what}; ${arrived}`);
      }
      if (next.done) {
        if (done === "closed") return frames;
        throw new Error(`The connection closed while waiting for ${what}; ${arrived}`);
      }
      arrived.add(next.value);
      if (options.keep !== false) frames.push(next.value);
      if (done !== "closed" && done(next.value)) {
        // As leaving a `for await` loop does: the frames after this one stay for the next reader.
        await iterator.return?.();
        return frames;
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

/** What arrived before a wait failed: a count by type, and the last few frames. */
class Arrived {
  #count = 0;
  #byType = new Map<string, number>();
  #last: ServerFrame[] = [];

  add(frame: ServerFrame): void {
    this.#count++;
    this.#byType.set(frame.type, (this.#byType.get(frame.type) ?? 0) + 1);
    this.#last = [...this.#last.slice(-2), frame];
  }

  toString(): string {
    if (this.#count === 0) return "nothing arrived";
    const counts = [...this.#byType].map(([type, count]) => `${count} ${type}`).join(", ");
    const last = this.#last.map((frame) => JSON.stringify(frame).slice(0, 200)).join(" ");
    return `${this.#count} frames arrived (${counts}), the last: ${last}`;
  }
}

/** Reads frames from a client until one is of `type` (and satisfies `match`), within `ms`. */
export async function nextFrame<T extends ServerFrame["type"]>(
  client: AsyncIterable<ServerFrame>,
  type: T,
  match: (frame: Extract<ServerFrame, { type: T }>) => boolean = () => true,
  ms = 5000,
): Promise<Extract<ServerFrame, { type: T }>> {
  const frames = await framesUntil(
    client,
    (frame) => frame.type === type && match(frame as Extract<ServerFrame, { type: T }>),
    ms,
    `a "${type}" frame`,
  );
  return frames.at(-1) as Extract<ServerFrame, { type: T }>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A plain TCP peer for protocol tests: it writes raw bytes and reads parsed JSON lines. */
export class RawPeer implements AsyncDisposable {
  readonly conn: Deno.TcpConn;
  #buffered = "";
  #closed = false;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Connects to `server` (or any port) without saying anything. */
  static async connect(target: ChatServer | number, hostname = "127.0.0.1"): Promise<RawPeer> {
    const port = typeof target === "number" ? target : target.addr.port;
    return new RawPeer(await Deno.connect({ hostname, port }));
  }

  /** Writes a string or bytes exactly as given. */
  async write(data: string | Uint8Array): Promise<void> {
    let bytes = typeof data === "string" ? encoder.encode(data) : data;
    while (bytes.length > 0) bytes = bytes.subarray(await this.conn.write(bytes));
  }

  /** Writes `frame` as one JSON line. */
  send(frame: unknown): Promise<void> {
    return this.write(JSON.stringify(frame) + "\n");
  }

  /** The next line the server sends, parsed; throws if the connection ends first. */
  async frame(ms = 5000): Promise<Record<string, unknown>> {
    const line = await this.#line(ms);
    if (line === undefined) throw new Error("Connection closed while a frame was expected");
    return JSON.parse(line);
  }

  /** Sends `hello` asking for no history and returns the answer; after a `welcome`, also
   * reads the `entered` frame for the default room that follows it. */
  async hello(name: string): Promise<Record<string, unknown>> {
    await this.send({ type: "hello", name, history: 0 });
    const answer = await this.frame();
    if (answer.type === "welcome") {
      const entered = await this.frame();
      if (entered.type !== "entered") throw new Error(`Expected "entered", got ${entered.type}`);
    }
    return answer;
  }

  /** Resolves with the frames still to come once the server closes the connection. */
  async untilClosed(ms = 5000): Promise<Record<string, unknown>[]> {
    const frames = [];
    for (let line = await this.#line(ms); line !== undefined; line = await this.#line(ms)) {
      frames.push(JSON.parse(line));
    }
    return frames;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.conn.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  async #line(ms: number): Promise<string | undefined> {
    const buffer = new Uint8Array(65536);
    while (!this.#buffered.includes("\n")) {
      let count: number | null;
      try {
        count = await deadline(this.conn.read(buffer), ms, "reading from the server");
      } catch (error) {
        if (error instanceof Deno.errors.ConnectionReset) count = null;
        else throw error;
      }
      if (count === null) return undefined;
      this.#buffered += decoder.decode(buffer.subarray(0, count), { stream: true });
    }
    const end = this.#buffered.indexOf("\n");
    const line = this.#buffered.slice(0, end);
    this.#buffered = this.#buffered.slice(end + 1);
    return line;
  }
}

/**
 * A raw socket to a plain-text or IRC port: writes bytes exactly as given; keeps everything
 * received as `bytes`, as text (`received`) and as CRLF-ended `lines`. Two cursors read on:
 * `expect` and `untilClosed` through the text, `expectLine` and `linesUntilClosed` line by line.
 * Every read is under a deadline, and a reset counts as the end.
 */
export class LinePeer implements AsyncDisposable {
  readonly conn: Deno.Conn;
  /** Everything received, as bytes. */
  bytes: number[] = [];
  /** Everything received, decoded. */
  received = "";
  /** Every complete line received, without CRLF. */
  lines: string[] = [];
  /** What the reads are waiting for, named in a deadline's error. */
  #what: string;
  /** Where the next `expect` starts looking in `received`. */
  #seenText = 0;
  /** Where the next `expectLine` starts looking in `lines`. */
  #seenLines = 0;
  /** Where the line being received starts in `bytes`. */
  #lineStart = 0;
  #ended = false;

  /** Wraps `conn` (TCP or TLS); `what` names the port in errors. */
  constructor(conn: Deno.Conn, what = "the server") {
    this.conn = conn;
    this.#what = what;
  }

  /** Connects to `port` on 127.0.0.1 without saying anything. */
  static async connect(port: number, what?: string): Promise<LinePeer> {
    return new LinePeer(await Deno.connect({ hostname: "127.0.0.1", port }), what);
  }

  /** Writes a string or bytes exactly as given. */
  async write(data: string | Uint8Array): Promise<void> {
    let bytes = typeof data === "string" ? encoder.encode(data) : data;
    while (bytes.length > 0) bytes = bytes.subarray(await this.conn.write(bytes));
  }

  /** Reads until `pattern` appears in the text past what was expected before; returns the text
   * from there to the end of the match. */
  async expect(pattern: string | RegExp, ms = 10_000): Promise<string> {
    const started = performance.now();
    while (true) {
      const rest = this.received.slice(this.#seenText);
      const match = typeof pattern === "string"
        ? (rest.includes(pattern) ? { index: rest.indexOf(pattern), length: pattern.length } : null)
        : (() => {
          const found = rest.match(pattern);
          return found ? { index: found.index!, length: found[0].length } : null;
        })();
      if (match) {
        const end = match.index + match.length;
        this.#seenText += end;
        return rest.slice(0, end);
      }
      await this.#readOrThrow(
        started,
        ms,
        () => `${pattern}; got ${JSON.stringify(rest.slice(-2000))}`,
      );
    }
  }

  /** Reads until a line past those expected before matches; returns the lines up to it. */
  async expectLine(pattern: RegExp, ms = 10_000): Promise<string[]> {
    const started = performance.now();
    while (true) {
      const index = this.lines.findIndex((line, at) => at >= this.#seenLines && pattern.test(line));
      if (index >= 0) {
        const got = this.lines.slice(this.#seenLines, index + 1);
        this.#seenLines = index + 1;
        return got;
      }
      await this.#readOrThrow(
        started,
        ms,
        () => `${pattern}; got ${JSON.stringify(this.lines.slice(this.#seenLines))}`,
      );
    }
  }

  /** Reads to the end of the connection; returns the text past what `expect` took. */
  async untilClosed(ms = 10_000): Promise<string> {
    await this.#untilEnded(ms);
    return this.received.slice(this.#seenText);
  }

  /** Reads to the end of the connection; returns the lines past those `expectLine` took. */
  async linesUntilClosed(ms = 10_000): Promise<string[]> {
    await this.#untilEnded(ms);
    return this.lines.slice(this.#seenLines);
  }

  [Symbol.asyncDispose](): Promise<void> {
    try {
      this.conn.close();
    } catch {
      // Closed already.
    }
    return Promise.resolve();
  }

  async #untilEnded(ms: number): Promise<void> {
    const started = performance.now();
    while (!this.#ended) {
      const left = ms - (performance.now() - started);
      if (left <= 0) throw new Error(`Not closed in ${ms} ms: ${this.received.slice(-500)}`);
      await this.#read(left);
    }
  }

  /** Reads once more within what is left of `ms` since `started`; throws, naming what was
   * `awaited`, once the time is up or the connection has ended. */
  async #readOrThrow(started: number, ms: number, awaited: () => string): Promise<void> {
    const left = ms - (performance.now() - started);
    if (this.#ended || left <= 0) throw new Error(`Waited for ${awaited()}`);
    await this.#read(left);
  }

  async #read(ms: number): Promise<void> {
    const buffer = new Uint8Array(65536);
    let count: number | null;
    try {
      count = await deadline(this.conn.read(buffer), ms, `reading from ${this.#what}`);
    } catch (error) {
      if (error instanceof Deno.errors.ConnectionReset) count = null;
      else throw error;
    }
    if (count === null) {
      this.#ended = true;
      return;
    }
    for (const byte of buffer.subarray(0, count)) {
      this.bytes.push(byte);
      const length = this.bytes.length;
      if (byte === 10 && this.bytes[length - 2] === 13) {
        this.lines.push(decoder.decode(new Uint8Array(this.bytes.slice(this.#lineStart, -2))));
        this.#lineStart = length;
      }
    }
    this.received = decoder.decode(new Uint8Array(this.bytes));
  }
}

/** The path of mod.ts, for running the CLI. */
export const MOD_TS = new URL("../mod.ts", import.meta.url).pathname;

let denoProgram: string | undefined;

/**
 * The Deno the tests start: this one. Under `--allow-all` that is `Deno.execPath()`; under
 * `deno test -P` it is the `deno` on `PATH`, the one name deno.json can allow (the absolute path
 * differs from machine to machine), checked once to be this same version.
 */
export function deno(): string {
  if (denoProgram !== undefined) return denoProgram;
  const self = Deno.execPath();
  if (Deno.permissions.querySync({ name: "run", command: self }).state === "granted") {
    return denoProgram = self;
  }
  const output = new Deno.Command("deno", { args: ["--version"], stderr: "null" }).outputSync();
  const found = new TextDecoder().decode(output.stdout).split("\n")[0] ?? "";
  if (!found.startsWith(`deno ${Deno.version.deno} `)) {
    throw new Error(
      `The deno on PATH is "${found}", not this deno ${Deno.version.deno} (${self}): run the ` +
        "tests with the deno on PATH, or put this one first there",
    );
  }
  return denoProgram = "deno";
}

/** The permissions of `deno task serve` and of the README's `deno install`: the CLI runs with
 * them in the tests, so a test fails if the program comes to need more. */
const PROGRAM_PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env"];

/**
 * The command line that runs `parley` from `module`, a path or URL of mod.ts: with the program's
 * permissions, or, from a URL, with `-A` as the README's URL run gives.
 */
export function parleyCommand(module: string = MOD_TS): string[] {
  const permissions = module === MOD_TS ? PROGRAM_PERMISSIONS : ["--allow-all"];
  return [deno(), "run", ...permissions, "--quiet", module];
}

/**
 * `parley ARGS` running as a subprocess (by `options.command`, by default
 * {@linkcode parleyCommand}), its stdout and stderr collected as they arrive. Disposing kills
 * it (if still running) and waits for it to exit.
 */
export class ParleyProcess implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  stdout = "";
  stderr = "";
  #collecting: Promise<void>;
  #changed = Promise.withResolvers<void>();
  /** Set once the process has exited and both streams are read to the end. */
  #ended: Deno.CommandStatus | undefined;
  #stdinPiped: boolean;

  constructor(
    args: string[],
    options: { env?: Record<string, string>; stdin?: "piped" | "null"; command?: string[] } = {},
  ) {
    this.#stdinPiped = options.stdin === "piped";
    const [program, ...before] = options.command ?? parleyCommand();
    this.child = new Deno.Command(program!, {
      args: [...before, ...args],
      stdin: options.stdin ?? "null",
      stdout: "piped",
      stderr: "piped",
      ...(options.env ? { env: options.env } : {}),
    }).spawn();
    this.#collecting = Promise.all([
      this.#collect(this.child.stdout, (text) => this.stdout += text),
      this.#collect(this.child.stderr, (text) => this.stderr += text),
    ]).then(async () => {
      this.#ended = await this.child.status;
      this.#changed.resolve();
    });
  }

  /**
   * Waits until stdout (or `stream`) matches `pattern`; returns the match. Fails at once if the
   * process exits first, and after `ms` otherwise, with its exit code and both streams.
   */
  async waitFor(
    pattern: RegExp,
    stream: "stdout" | "stderr" = "stdout",
    ms = 20_000,
  ): Promise<RegExpMatchArray> {
    const started = Date.now();
    while (true) {
      const found = this[stream].match(pattern);
      if (found) return found;
      const left = ms - (Date.now() - started);
      if (this.#ended || left <= 0) {
        const why = this.#ended
          ? `exited with ${this.#ended.code}`
          : `still running after ${ms} ms`;
        throw new Error(
          `No ${stream} line matched ${pattern}; the process ${why}.\n` +
            `stdout: ${this.stdout}\nstderr: ${this.stderr}`,
        );
      }
      await deadline(this.#changed.promise, left, `${stream} matching ${pattern}`).catch(() => {});
    }
  }

  /** Waits for the process to exit; returns its exit code. */
  async exitCode(ms = 20_000): Promise<number> {
    const status = await deadline(this.child.status, ms, "the process to exit");
    await this.#collecting;
    return status.code;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // Exited already.
    }
    await this.child.status;
    if (this.#stdinPiped) await this.child.stdin.close().catch(() => {});
    await this.#collecting;
  }

  async #collect(stream: ReadableStream<Uint8Array>, add: (text: string) => void): Promise<void> {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      add(text);
      this.#changed.resolve();
      this.#changed = Promise.withResolvers<void>();
    }
  }
}

/**
 * Starts `parley serve` on a free port with an in-memory store and no logging (each can be
 * overridden by `args`, since the last value of an option wins), and waits until it listens.
 * `store: false` leaves out the store, for a cluster node, which takes no `--db`.
 */
export async function serveProcess(
  args: string[] = [],
  options: { store?: boolean } = {},
): Promise<ParleyProcess & { port: number }> {
  const store = options.store === false ? [] : ["--db", ":memory:"];
  const server = new ParleyProcess([
    "serve",
    ...store,
    "--port",
    "0",
    "--log-level",
    "silent",
    ...args,
  ]);
  try {
    const [, port] = await server.waitFor(/listening on \S+:(\d+)/);
    return Object.assign(server, { port: Number(port) });
  } catch (error) {
    await server[Symbol.asyncDispose]();
    throw error;
  }
}

/**
 * Resident memory of process `pid` in KiB, or NaN if it is gone. Read by `ps`: Deno lets only
 * `--allow-all` read /proc, and `deno test -P` grants less.
 */
export function rssKiB(pid: number): number {
  const output = new Deno.Command("ps", { args: ["-o", "rss=", "-p", String(pid)], stderr: "null" })
    .outputSync();
  const text = new TextDecoder().decode(output.stdout).trim();
  return output.success && /^\d+$/.test(text) ? Number(text) : NaN;
}

/** A temporary directory, removed on disposal. */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "parley-test-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Runs `parley ARGS` to the end, with `stdin` as its input; returns its exit code and output. */
export async function runParley(
  args: string[],
  stdin = "",
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [program, ...before] = parleyCommand();
  const child = new Deno.Command(program!, {
    args: [...before, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(encoder.encode(stdin));
  await writer.close();
  const output = await deadline(child.output(), 30_000, `parley ${args.join(" ")}`);
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
