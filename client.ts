/**
 * The chat client library: {@linkcode ChatClient} connects, joins under a name, sends messages
 * and yields what the server sends. The terminal client, the tests and bots are built on it.
 *
 * @example A bot that answers "ping" with "pong"
 * ```ts ignore
 * import { ChatClient } from "./client.ts";
 *
 * await using client = await ChatClient.connect({ name: "pongbot" });
 * for await (const frame of client) {
 *   if (frame.type === "message" && frame.text === "ping") client.send("pong");
 * }
 * ```
 *
 * @module
 */

import { closeQuietly, isDisconnect } from "./_net/disconnect.ts";
import { FrameTooLargeError, Outbox, readLines } from "./_net/framing.ts";
import { Channel } from "./_net/channel.ts";
import { isBlank } from "./_protocol/names.ts";
import { TokenBucket } from "./_net/token_bucket.ts";
import {
  type BanFrame,
  byteCost,
  type ClientFrame,
  decodeServerFrame,
  DEFAULT_PORT,
  encodeFrame,
  type ErrorCode,
  type ErrorFrame,
  type HelloFrame,
  type HistoryRequestFrame,
  type JoinFrame,
  type ListRoomsFrame,
  MAX_SERVER_FRAME_BYTES,
  PROTOCOL_VERSION,
  type SendFrame,
  type ServerFrame,
  type WelcomeFrame,
  type WhoFrame,
} from "./protocol.ts";

/** How to reach a server and who to be there. */
export interface ConnectOptions {
  /**
   * The server's host name or address.
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The server's port.
   * @default {7342}
   */
  port?: number;
  /** The name to join under. */
  name: string;
  /** How many past messages of the default room to replay on joining; 0 for none. Default:
   * the server's. */
  history?: number;
  /** Aborts connecting and joining. */
  signal?: AbortSignal;
  /** Connect with TLS, verifying the server's certificate against the system's roots and any
   * `caCerts` given (PEM). */
  tls?: boolean | { caCerts?: string[] };
  /** The password of the name, if it is registered. */
  password?: string;
  /** The server's password, if it has one. */
  serverPassword?: string;
  /**
   * After this many milliseconds without hearing from the server, ping it; after as many again
   * with no answer, take it for dead and close the connection. 0 turns this off.
   * @default {30000}
   */
  keepAliveMs?: number;
}

/** Options for {@linkcode ChatClient.send}. */
export interface SendOptions {
  /**
   * The room to send to, which the client must be in. Default: the server's default room.
   */
  room?: string;
  /**
   * Send an action, shown as "* alice waves" rather than "<alice> waves".
   * @default {false}
   */
  action?: boolean;
}

export { FrameTooLargeError };

/** A refusal from the server, such as `name_taken` or `server_full`, as an exception. */
export class ChatError extends Error {
  /** The server's error code. */
  readonly code: ErrorCode;

  /**
   * Makes an error from the server's error frame.
   *
   * @param frame The `error` frame the server sent.
   */
  constructor(frame: ErrorFrame) {
    super(frame.message);
    this.name = "ChatError";
    this.code = frame.code;
  }
}

/** The most a client queues for the server before {@linkcode ChatClient.send} refuses more. */
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;

/**
 * A connection to a chat server, joined under a name. Iterate it for what the server sends;
 * iteration ends when the connection closes.
 *
 * @example Two clients in one room
 * ```ts
 * import { ChatClient } from "./client.ts";
 * import { ChatServer } from "./server.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await using server = new ChatServer({ port: 0 });
 * await using alice = await ChatClient.connect({ port: server.addr.port, name: "alice" });
 * await using bob = await ChatClient.connect({ port: server.addr.port, name: "bob" });
 * bob.send("hi alice");
 * for await (const frame of alice) {
 *   if (frame.type !== "message") continue;
 *   assertEquals([frame.from, frame.room, frame.text], ["bob", "lobby", "hi alice"]);
 *   break;
 * }
 * ```
 */
export class ChatClient implements AsyncIterable<ServerFrame>, AsyncDisposable {
  /** The server's welcome: the name joined under, who else is there, the server's limits. */
  readonly welcome: WelcomeFrame;

  #conn: Deno.TcpConn | Deno.TlsConn;
  #outbox: Outbox;
  #frames = new Channel<ServerFrame>();
  #pings = new Map<number, (rtt: number) => void>();
  #nextPingId = 1;
  #name: string;
  #rooms = new Set<string>();
  #open = true;
  #done: Promise<void>;
  #lastHeard = performance.now();
  /** Frames waiting for the flood limit, in order, and their size. `cost` is what a frame
   * takes from the byte rate. */
  #paced: { bytes: Uint8Array; counted: boolean; cost: number }[] = [];
  #pacedBytes = 0;
  #paceTimer: ReturnType<typeof setTimeout> | undefined;
  /** The server's flood limit, a little under it, as seen from here; none if it has none. */
  #bucket: TokenBucket | undefined;
  /** The server's byte rate, likewise. */
  #byteBucket: TokenBucket | undefined;
  #keepAlive: ReturnType<typeof setInterval> | undefined;

  private constructor(
    conn: Deno.TcpConn | Deno.TlsConn,
    outbox: Outbox,
    lines: AsyncGenerator<Uint8Array>,
    welcome: WelcomeFrame,
    keepAliveMs: number,
  ) {
    this.#conn = conn;
    this.#outbox = outbox;
    this.welcome = welcome;
    this.#name = welcome.name;
    if (welcome.rate > 0) {
      // The server counted `hello`; a margin covers clock and rounding differences.
      this.#bucket = new TokenBucket(welcome.rate * 0.9, welcome.burst - 2, performance.now());
    }
    if (welcome.byteRate && welcome.byteBurst) {
      const { byteRate, byteBurst } = welcome;
      this.#byteBucket = new TokenBucket(byteRate * 0.9, byteBurst, performance.now());
    }
    if (keepAliveMs > 0) {
      this.#keepAlive = setInterval(() => this.#checkServer(keepAliveMs), keepAliveMs / 2);
    }
    this.#done = this.#readLoop(lines);
  }

  /**
   * Connects and joins.
   *
   * @param options Where to connect and the name to join under.
   * @returns A client that has been welcomed.
   * @throws {ChatError} If the server refuses the name or is full.
   * @throws {Deno.errors.ConnectionRefused} If nothing listens there.
   * @throws {FrameTooLargeError} If the server sends a line longer than
   * {@linkcode MAX_SERVER_FRAME_BYTES}: a broken or hostile server.
   */
  static async connect(options: ConnectOptions): Promise<ChatClient> {
    options.signal?.throwIfAborted();
    const hostname = options.hostname ?? "127.0.0.1";
    const port = options.port ?? DEFAULT_PORT;
    const conn: Deno.TcpConn | Deno.TlsConn = options.tls
      ? await Deno.connectTls({
        hostname,
        port,
        caCerts: options.tls === true ? [] : options.tls.caCerts ?? [],
      })
      : await Deno.connect({ hostname, port, transport: "tcp" });
    const abort = () => closeQuietly(conn);
    options.signal?.addEventListener("abort", abort, { once: true });
    try {
      options.signal?.throwIfAborted();
      // A certificate that does not verify fails here, with the reason, rather than at the
      // first read.
      if ("handshake" in conn) await conn.handshake();
      else conn.setNoDelay(true);
      const outbox = new Outbox(conn, MAX_QUEUED_BYTES);
      const lines = readLines(conn, MAX_SERVER_FRAME_BYTES);
      const hello: HelloFrame = { type: "hello", name: options.name, protocol: PROTOCOL_VERSION };
      if (options.history !== undefined) hello.history = options.history;
      if (options.password !== undefined) hello.password = options.password;
      if (options.serverPassword !== undefined) hello.serverPassword = options.serverPassword;
      outbox.push(encodeFrame(hello));
      // Not `for await`: leaving that loop would end `lines`, which the client goes on reading.
      for (let next = await lines.next(); !next.done; next = await lines.next()) {
        const result = decodeServerFrame(next.value);
        if (!result.ok) continue;
        if (result.frame.type === "welcome") {
          return new ChatClient(conn, outbox, lines, result.frame, options.keepAliveMs ?? 30_000);
        }
        if (result.frame.type === "error") throw new ChatError(result.frame);
      }
      options.signal?.throwIfAborted();
      throw new Deno.errors.UnexpectedEof("The server closed the connection before welcoming us");
    } catch (error) {
      closeQuietly(conn);
      if (isDisconnect(error)) options.signal?.throwIfAborted();
      throw error;
    } finally {
      options.signal?.removeEventListener("abort", abort);
    }
  }

  /** The name this client goes by: the one it joined under, or the last it was renamed to. */
  get name(): string {
    return this.#name;
  }

  /** The rooms this client is in, as far as the frames read so far say. */
  get rooms(): ReadonlySet<string> {
    return this.#rooms;
  }

  /** Resolves when the connection has closed, for whatever reason. */
  get closed(): Promise<void> {
    return this.#done;
  }

  /**
   * Sends a message to everyone else. It is queued and written in order; it returns at once.
   *
   * @param text The message: not empty or only white space; newlines are fine.
   * @param options Whether it is an action (`/me`).
   * @throws {TypeError} If the text is empty or holds a lone surrogate.
   * @throws {RangeError} If the message is longer than the server accepts.
   * @throws {Deno.errors.BrokenPipe} If the connection is closed.
   */
  send(text: string, options: SendOptions = {}): void {
    checkText(text);
    const frame: SendFrame = { type: "send", text };
    if (options.room !== undefined) frame.room = options.room;
    if (options.action) frame.action = true;
    this.#writeSized(frame);
  }

  /**
   * Sends a private message, which only `to` receives. An unknown name gets an `error` frame
   * with `no_such_user`.
   *
   * @param to The recipient's name.
   * @param text The message: not empty or only white space; newlines are fine.
   * @throws {TypeError} If the text is empty or holds a lone surrogate.
   * @throws {RangeError} If the message is longer than the server accepts.
   */
  msg(to: string, text: string): void {
    checkText(text);
    this.#writeSized({ type: "msg", to, text });
  }

  /**
   * Enters a room, creating it if need be; an `entered` frame answers, then `history`.
   *
   * @param room The room's name.
   * @param options How many past messages to replay (0 for none; default the server's).
   */
  join(room: string, options: { history?: number } = {}): void {
    const frame: JoinFrame = { type: "join", room };
    if (options.history !== undefined) frame.history = options.history;
    this.#write(encodeFrame(frame));
  }

  /**
   * Leaves a room; a `left` frame naming this client answers.
   *
   * @param room The room's name.
   */
  part(room: string): void {
    this.#write(encodeFrame({ type: "part", room }));
  }

  /**
   * Asks for the list of rooms, sorted by folded name; a `rooms` frame answers with a page of
   * it. When that says `more`, ask again with its `next` as `after` for the following page.
   *
   * @param options Only rooms whose names sort after `after`: default from the first.
   */
  listRooms(options: { after?: string } = {}): void {
    const frame: ListRoomsFrame = { type: "rooms" };
    if (options.after !== undefined) frame.after = options.after;
    this.#write(encodeFrame(frame));
  }

  /**
   * Sets a room's topic; everyone in the room gets a `topic` frame.
   *
   * @param room The room, which the client must be in.
   * @param topic The topic; empty clears it.
   */
  setTopic(room: string, topic: string): void {
    const bytes = encodeFrame({ type: "topic", room, topic });
    this.#write(bytes, true, byteCost("topic", bytes.length - 1));
  }

  /**
   * Asks for earlier messages of a room; a `history` frame answers, oldest first.
   *
   * @param room The room, which the client must be in.
   * @param options Only messages before this id (default: the newest), and how many.
   */
  history(room: string, options: { before?: number; limit?: number } = {}): void {
    const frame: HistoryRequestFrame = { type: "history", room };
    if (options.before !== undefined) frame.before = options.before;
    if (options.limit !== undefined) frame.limit = options.limit;
    this.#write(encodeFrame(frame));
  }

  /**
   * Asks who is present, in the order they arrived; a `users` frame answers with a page of
   * them. When that says `more`, ask again with its `next` as `after` for the following page.
   *
   * @param room The room to ask about; without it, the whole server.
   * @param options Where to start: the `next` of the page before; default from the first.
   */
  who(room?: string, options: { after?: number } = {}): void {
    const frame: WhoFrame = { type: "who" };
    if (room !== undefined) frame.room = room;
    if (options.after !== undefined) frame.after = options.after;
    this.#write(encodeFrame(frame));
  }

  /**
   * Asks to change name. Everyone, this client included, gets a `renamed` frame if the server
   * agrees, after which {@linkcode name} is the new name; otherwise an `error` frame arrives.
   *
   * @param name The new name.
   * @param password The new name's password, if it is registered.
   */
  rename(name: string, password?: string): void {
    this.#write(
      encodeFrame(
        password === undefined ? { type: "nick", name } : { type: "nick", name, password },
      ),
    );
  }

  /**
   * Registers the current name: from then on it needs `password` to be used. A `notice` frame
   * confirms; an `error` frame refuses (`weak_password` under 8 characters, `not_operator` for
   * an operator name without its token).
   *
   * @param password The password.
   * @param token The one-time token the server printed at start, to register an operator name
   * that is not registered yet.
   */
  register(password: string, token?: string): void {
    this.#write(
      encodeFrame(
        token === undefined
          ? { type: "register", password }
          : { type: "register", password, token },
      ),
    );
  }

  /**
   * Operators only: disconnects a user. A `notice` frame confirms.
   *
   * @param name The user.
   * @param reason Shown to them and the others.
   */
  kick(name: string, reason?: string): void {
    this.#write(
      encodeFrame(reason === undefined ? { type: "kick", name } : { type: "kick", name, reason }),
    );
  }

  /**
   * Operators only: bans a name or an IP address and disconnects whoever it covers. A `notice`
   * frame confirms.
   *
   * @param target A user name, or an IPv4 or IPv6 address.
   * @param options For how many seconds (for good, if absent), and why.
   */
  ban(target: string, options: { seconds?: number; reason?: string } = {}): void {
    const frame: BanFrame = { type: "ban", target };
    if (options.seconds !== undefined) frame.duration = options.seconds;
    if (options.reason !== undefined) frame.reason = options.reason;
    this.#write(encodeFrame(frame));
  }

  /**
   * Operators only: lifts a ban. A `notice` frame confirms.
   *
   * @param target The name or address banned.
   */
  unban(target: string): void {
    this.#write(encodeFrame({ type: "unban", target }));
  }

  /** Operators only: asks for the server's figures; a `stats` frame answers. */
  stats(): void {
    this.#write(encodeFrame({ type: "stats" }));
  }

  /**
   * Measures the round trip to the server.
   *
   * @returns Milliseconds from sending `ping` to receiving its `pong`.
   * @throws {Deno.errors.BrokenPipe} If the connection closes first.
   */
  ping(): Promise<number> {
    const id = this.#nextPingId++;
    const started = performance.now();
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    this.#pings.set(id, (rtt) => rtt < 0 ? reject(closedError()) : resolve(rtt - started));
    this.#write(encodeFrame({ type: "ping", id }));
    return promise;
  }

  /** Says goodbye: sends everything queued, then `quit`, and waits for the server to close. */
  async quit(): Promise<void> {
    try {
      this.#write(encodeFrame({ type: "quit" }), false);
    } catch {
      // Closed already.
    }
    await this.#done;
  }

  /** Closes the connection at once, without a goodbye. Harmless when closed already. */
  close(): void {
    closeQuietly(this.#conn);
  }

  /** Quits; see {@linkcode quit}. Harmless when closed already. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.quit();
  }

  /**
   * Yields each frame from the server, but the answers to {@linkcode ping}. Iteration ends when
   * the connection closes, and throws if it broke for a reason other than a disconnect: a
   * {@linkcode FrameTooLargeError} (a `RangeError`) for a frame longer than
   * {@linkcode MAX_SERVER_FRAME_BYTES}, after which the connection is closed.
   */
  [Symbol.asyncIterator](): AsyncIterator<ServerFrame> {
    return this.#frames[Symbol.asyncIterator]();
  }

  /** Pings a server that has been quiet; closes the connection to one that stays quiet. */
  #checkServer(keepAliveMs: number): void {
    const quiet = performance.now() - this.#lastHeard;
    if (quiet > 2 * keepAliveMs) {
      this.close();
    } else if (quiet > keepAliveMs) {
      this.ping().catch(() => {
        // Answered by the connection closing: nothing to do.
      });
    }
  }

  /** Writes a frame that carries text, if it fits the server's limit. */
  #writeSized(frame: ClientFrame): void {
    const bytes = encodeFrame(frame);
    if (bytes.length - 1 > this.welcome.maxFrameBytes) {
      throw new RangeError(
        `Message is ${
          bytes.length - 1
        } bytes as a frame; the server takes at most ${this.welcome.maxFrameBytes}`,
      );
    }
    this.#write(bytes, true, byteCost(frame.type, bytes.length - 1));
  }

  /**
   * Sends `bytes`, paced to the server's flood limit and byte rate so that it never refuses a
   * frame for them: what cannot go yet waits its turn, in order. `quit`, which the server does
   * not count, takes no token but still keeps its place. `cost` is what the frame takes from
   * the byte rate.
   */
  #write(bytes: Uint8Array, counted = true, cost = 0): void {
    if (!this.#open) throw closedError();
    if (this.#pacedBytes + this.#outbox.queuedBytes + bytes.length > MAX_QUEUED_BYTES) {
      throw new RangeError(`More than ${MAX_QUEUED_BYTES} bytes are waiting to be sent`);
    }
    this.#paced.push({ bytes, counted, cost });
    this.#pacedBytes += bytes.length;
    this.#sendPaced();
  }

  #sendPaced(): void {
    clearTimeout(this.#paceTimer);
    this.#paceTimer = undefined;
    while (this.#paced.length > 0) {
      const next = this.#paced[0]!;
      const now = performance.now();
      const frames = next.counted ? this.#bucket : undefined;
      const bytes = next.cost > 0 ? this.#byteBucket : undefined;
      if (frames?.has(now) === false || bytes?.has(now, next.cost) === false) {
        const wait = Math.max(frames?.wait ?? 0, bytes?.waitFor(next.cost) ?? 0);
        this.#paceTimer = setTimeout(() => this.#sendPaced(), wait);
        return;
      }
      frames?.take(now);
      bytes?.take(now, next.cost);
      this.#paced.shift();
      this.#pacedBytes -= next.bytes.length;
      this.#outbox.push(next.bytes, true);
    }
  }

  async #readLoop(lines: AsyncGenerator<Uint8Array>): Promise<void> {
    let failure: unknown;
    try {
      for await (const line of lines) {
        this.#lastHeard = performance.now();
        const result = decodeServerFrame(line);
        if (!result.ok) continue;
        const frame = result.frame;
        if (frame.type === "ping") {
          // Straight out, ahead of anything paced: a late answer would look like a dead client.
          const pong = frame.id === undefined
            ? { type: "pong" as const }
            : { type: "pong" as const, id: frame.id };
          this.#outbox.push(encodeFrame(pong), true);
          continue;
        }
        const pong = frame.type === "pong" && typeof frame.id === "number" &&
          this.#pings.get(frame.id);
        if (pong) {
          this.#pings.delete(frame.id as number);
          pong(performance.now());
          continue;
        }
        if (frame.type === "renamed" && frame.from === this.#name) this.#name = frame.to;
        if (frame.type === "entered") this.#rooms.add(frame.room);
        if (frame.type === "left" && frame.name === this.#name) this.#rooms.delete(frame.room);
        this.#frames.push(frame);
      }
    } catch (error) {
      if (!isDisconnect(error)) failure = error;
    }
    this.#open = false;
    clearInterval(this.#keepAlive);
    clearTimeout(this.#paceTimer);
    await this.#outbox.flushed();
    closeQuietly(this.#conn);
    this.#frames.close(failure);
    for (const pong of this.#pings.values()) pong(-1);
    this.#pings.clear();
  }
}

function checkText(text: string): void {
  if (isBlank(text)) throw new TypeError("Cannot send a message that shows nothing");
  if (!text.isWellFormed()) throw new TypeError("Cannot send text with a lone surrogate");
}

function closedError(): Error {
  return new Deno.errors.BrokenPipe("The connection is closed");
}
