/**
 * The chat server: {@linkcode ChatServer} accepts TCP connections and relays messages among
 * the clients that have joined.
 *
 * @example Start a server on a free port, then stop it
 * ```ts
 * import { ChatServer } from "./server.ts";
 *
 * await using server = new ChatServer({ port: 0 });
 * console.log(`listening on port ${server.addr.port}`);
 * ```
 *
 * @module
 */

import { formatAddr } from "./_net/address.ts";
import { peerIp } from "./_server/ip.ts";
import { Chat, Member } from "./_server/chat.ts";
import { closeQuietly, isDisconnect } from "./_net/disconnect.ts";
import { drain, FrameTooLargeError, Outbox, readLines } from "./_net/framing.ts";
import { type Logger, type LogLevel, makeLogger } from "./_server/log.ts";
import { type RetentionPolicy, SqliteStore, type Store } from "./_server/store.ts";
import { Guard } from "./_server/guard.ts";
import { Listeners, type ServerConn, type TlsFiles } from "./_server/listeners.ts";
import { TokenBucket } from "./_net/token_bucket.ts";
import {
  decodeClientFrame,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_PORT,
  DEFAULT_ROOM,
  DEFAULT_TLS_PORT,
  encodeFrame,
  type ErrorCode,
  type LeaveReason,
  nameProblem,
  roomProblem,
  type ServerFrame,
} from "./protocol.ts";

export type { LogLevel } from "./_server/log.ts";
export type { TlsFiles } from "./_server/listeners.ts";

/** How to run a {@linkcode ChatServer}. */
export interface ServerOptions {
  /**
   * The address to listen on: `0.0.0.0` for every IPv4 interface, `::` for IPv6 and IPv4
   * together where the system allows.
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The port to listen on; 0 picks a free one.
   * @default {7342}
   */
  port?: number;
  /**
   * How many users may be joined at once; one more gets `server_full`.
   * @default {Infinity}
   */
  maxUsers?: number;
  /**
   * The longest frame accepted from a client, in bytes without its newline.
   * @default {65536}
   */
  maxFrameBytes?: number;
  /**
   * How many bytes may wait to be written to one client; a client that falls further behind is
   * dropped with `slow_consumer`.
   * @default {1048576}
   */
  maxQueueBytes?: number;
  /**
   * The SQLite database file that keeps rooms' history and topics, created if missing;
   * `":memory:"` keeps nothing after the server stops.
   * @default {":memory:"}
   */
  db?: string;
  /**
   * How many past messages a client gets on entering a room, unless it asks for fewer.
   * @default {50}
   */
  history?: number;
  /**
   * The room every connection starts in.
   * @default {"lobby"}
   */
  defaultRoom?: string;
  /** When given, the only rooms there are (the default room is added); joining another is
   * `no_such_room`. Otherwise joining a room that does not exist creates it. */
  rooms?: string[];
  /**
   * How many rooms may exist at once; joining a new one past it gets `too_many_rooms`.
   * @default {10000}
   */
  maxRooms?: number;
  /**
   * How many of the rooms that exist one IP address may have made (by joining them first); a
   * room no longer counts once it is empty and gone. Past it, `too_many_rooms`.
   * @default {100}
   */
  maxRoomsPerIp?: number;
  /** Drop stored messages older than this many days (checked at start and every 10 minutes). */
  retainDays?: number;
  /** Keep at most this many stored messages per room, enforced as each message is stored. */
  retainMessages?: number;
  /**
   * The bound of the database's size in bytes: once its pages in use pass it, the oldest
   * messages of all rooms are pruned as new ones arrive, so the file stays about this big (the
   * write-ahead log beside it is held to a sixteenth of it, at most 64 MiB). 0 for no bound;
   * otherwise at least 1 MiB.
   * @default {1073741824}
   */
  maxDbBytes?: number;
  /**
   * How many connections may be open at once; one more gets `too_many_connections`.
   * @default {10000}
   */
  maxConnections?: number;
  /**
   * How many connections one IP address may have open at once.
   * @default {100}
   */
  maxConnectionsPerIp?: number;
  /**
   * Frames a client may send per second, on average; 0 for no limit. Past it, frames are
   * refused with `rate_limited`, and a client that keeps on is disconnected.
   * @default {20}
   */
  rate?: number;
  /**
   * Frames a client may send at once before the rate applies.
   * @default {60}
   */
  burst?: number;
  /**
   * Bytes a connection may send per second, on average, in frames that carry text to store or
   * deliver (`send`, `msg`, `topic` the chat accepts, each counted as its length plus 256); 0
   * for no limit. Past it, such frames are refused with `rate_limited`. When `rate` is 0, so is
   * the default.
   * @default {4096}
   */
  byteRate?: number;
  /**
   * Such bytes a connection may send at once before `byteRate` applies.
   * @default {131072}
   */
  byteBurst?: number;
  /**
   * Such bytes all connections from one IP address may send per second together, on average; 0
   * for no limit. A connection that has sent little lately may overdraw it by a second's worth.
   * When `rate` is 0, so is the default.
   * @default {16384}
   */
  byteRatePerIp?: number;
  /**
   * Such bytes all connections from one IP address may send at once before `byteRatePerIp`
   * applies.
   * @default {1048576}
   */
  byteBurstPerIp?: number;
  /**
   * A client silent this long (ms) is sent a `ping`; 0 never pings.
   * @default {30000}
   */
  pingIntervalMs?: number;
  /**
   * How long (ms) a pinged client has to answer before it is dropped with `timeout`.
   * @default {20000}
   */
  pingTimeoutMs?: number;
  /**
   * How long (ms) a new connection has to say `hello` before it is closed (`hello_timeout`).
   * @default {10000}
   */
  helloTimeoutMs?: number;
  /**
   * Listen for plain TCP on `port`; false to take TLS connections only.
   * @default {true}
   */
  plain?: boolean;
  /** Also listen for TLS, with this certificate and key (PEM files), on `port` (default
   * 7343). {@linkcode ChatServer.reloadTls} reads the files again. */
  tls?: TlsFiles & { port?: number };
  /** The password every client must give in `hello`; none if absent. */
  password?: string;
  /**
   * Operator names: registered names whose users may kick, ban, set topics and see stats. One
   * that is not registered yet can be registered only with the one-time token the server makes
   * for it at start: logged at `warn`, and in {@linkcode ChatServer.operatorTokens}.
   */
  operators?: string[];
  /**
   * Which log lines go to stderr.
   * @default {"warn"}
   */
  logLevel?: LogLevel;
}

/** How long a connection that is being closed may take to receive its last frames. */
const LINGER_MS = 2000;

/** Consecutive refused frames after which a flooding client is disconnected. */
const FLOOD_STRIKES = 100;

/** One connection: its socket, its queue of bytes to write, and its member of the chat. */
class Session {
  closing = false;
  /** When the peer was last heard from, or connected (performance.now() milliseconds). */
  lastHeard: number;
  readonly connectedAt: number;
  /** When a ping was sent that is not answered yet. */
  pingSentAt: number | undefined;
  /** Frames refused in a row for flooding. */
  strikes = 0;
  readonly bucket: TokenBucket | undefined;
  /** The bytes of text it may send; none without a byte rate. */
  byteBucket: TokenBucket | undefined;
  lingerTimer: ReturnType<typeof setTimeout> | undefined;
  /** Settles once the last frames are written and the write side is shut, or given up on. */
  goodbye: Promise<void> | undefined;
  readonly outbox: Outbox;
  readonly member: Member;

  constructor(
    readonly conn: ServerConn,
    readonly ip: string,
    maxQueueBytes: number,
    bucket: TokenBucket | undefined,
    end: (session: Session, reason: LeaveReason, message?: string) => void,
  ) {
    this.connectedAt = this.lastHeard = performance.now();
    this.bucket = bucket;
    this.outbox = new Outbox(conn, maxQueueBytes);
    this.member = new Member(
      ip,
      formatAddr(conn.remoteAddr),
      (bytes) => this.outbox.push(bytes),
      (reason, message) => end(this, reason, message),
    );
  }
}

/**
 * A chat server listening on TCP. It starts listening when constructed; {@linkcode shutdown}
 * (or `await using`) tells every client and closes.
 */
export class ChatServer implements AsyncDisposable {
  /** The address the server listens on (for TLS, if it takes TLS only), with the real port
   * when 0 was asked for. */
  readonly addr: Deno.NetAddr;
  /** The address of the TLS listener, if there is one. */
  readonly tlsAddr: Deno.NetAddr | undefined;

  #finished = Promise.withResolvers<void>();
  #listeners: Listeners;
  #guard: Guard;
  #log: Logger;
  #store: Store;
  #chat: Chat;
  #maxFrameBytes: number;
  #maxQueueBytes: number;
  #maxConnections: number;
  #maxConnectionsPerIp: number;
  #rate: number;
  #burst: number;
  #byteRate: number;
  #byteBurst: number;
  #byteRatePerIp: number;
  #byteBurstPerIp: number;
  /** The bytes of text each address may send, kept until full again even with no connection
   * open, so that reconnecting gains nothing. */
  #byteBucketsPerIp = new Map<string, TokenBucket>();
  #pingIntervalMs: number;
  #pingTimeoutMs: number;
  #helloTimeoutMs: number;
  #sweepTimer: ReturnType<typeof setInterval>;
  #sessions = new Set<Session>();
  /** Open connections by peer IP address. */
  #perIp = new Map<string, number>();
  #handlers = new Set<Promise<void>>();
  #shuttingDown = false;

  /**
   * Opens the store and starts listening.
   *
   * @param options Where to listen, where to keep history, and the server's limits.
   * @throws {RangeError} If an option is out of range.
   * @throws {TypeError} If a room name breaks the naming rules.
   * @throws {Deno.errors.AddrInUse} If the address is taken.
   * @throws {Error} If the database cannot be used (another server holds it, it is damaged or
   * not a database, or newer than this Parley): a `StoreOpenError` whose message is one line
   * naming the file, the cause and what to do.
   */
  constructor(options: ServerOptions = {}) {
    const maxUsers = options.maxUsers ?? Infinity;
    this.#maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.#maxQueueBytes = options.maxQueueBytes ?? 1024 * 1024;
    const history = options.history ?? 50;
    this.#maxConnections = options.maxConnections ?? 10_000;
    this.#maxConnectionsPerIp = options.maxConnectionsPerIp ?? 100;
    this.#rate = options.rate ?? 20;
    this.#burst = options.burst ?? 60;
    this.#byteRate = options.byteRate ?? (this.#rate === 0 ? 0 : 4096);
    this.#byteBurst = options.byteBurst ?? 128 * 1024;
    this.#byteRatePerIp = options.byteRatePerIp ?? (this.#rate === 0 ? 0 : 16 * 1024);
    this.#byteBurstPerIp = options.byteBurstPerIp ?? 1024 * 1024;
    const maxRooms = options.maxRooms ?? 10_000;
    const maxRoomsPerIp = options.maxRoomsPerIp ?? 100;
    this.#pingIntervalMs = options.pingIntervalMs ?? 30_000;
    this.#pingTimeoutMs = options.pingTimeoutMs ?? 20_000;
    this.#helloTimeoutMs = options.helloTimeoutMs ?? 10_000;
    requirePositive("maxUsers", maxUsers);
    requirePositive("maxFrameBytes", this.#maxFrameBytes);
    requirePositive("maxQueueBytes", this.#maxQueueBytes);
    requirePositive("maxConnections", this.#maxConnections);
    requirePositive("maxConnectionsPerIp", this.#maxConnectionsPerIp);
    requirePositive("pingTimeoutMs", this.#pingTimeoutMs);
    requirePositive("helloTimeoutMs", this.#helloTimeoutMs);
    requirePositive("byteBurst", this.#byteBurst);
    requirePositive("byteBurstPerIp", this.#byteBurstPerIp);
    requirePositive("maxRooms", maxRooms);
    requirePositive("maxRoomsPerIp", maxRoomsPerIp);
    for (
      const [name, value] of [
        ["history", history],
        ["rate", this.#rate],
        ["burst", this.#burst],
        ["byteRate", this.#byteRate],
        ["byteRatePerIp", this.#byteRatePerIp],
        ["pingIntervalMs", this.#pingIntervalMs],
      ] as const
    ) {
      if (!(value >= 0)) throw new RangeError(`Option "${name}" must be 0 or more: got ${value}`);
    }
    const defaultRoom = options.defaultRoom ?? DEFAULT_ROOM;
    for (const room of [defaultRoom, ...options.rooms ?? []]) {
      const problem = roomProblem(room);
      if (problem !== undefined) throw new TypeError(problem);
    }
    if (options.plain === false && options.tls === undefined) {
      throw new TypeError('Option "plain" is false and "tls" is not given: nothing to listen on');
    }
    for (const name of options.operators ?? []) {
      const problem = nameProblem(name);
      if (problem !== undefined) throw new TypeError(`Operator: ${problem}`);
    }
    this.#log = makeLogger(options.logLevel ?? "warn");
    this.#listeners = new Listeners(
      {
        hostname: options.hostname ?? "127.0.0.1",
        port: options.plain === false ? undefined : options.port ?? DEFAULT_PORT,
        tls: options.tls && { ...options.tls, port: options.tls.port ?? DEFAULT_TLS_PORT },
      },
      (conn) => this.#accept(conn),
      this.#log,
    );
    const retention: RetentionPolicy = {};
    if (options.retainDays !== undefined) retention.days = options.retainDays;
    if (options.retainMessages !== undefined) retention.messagesPerRoom = options.retainMessages;
    try {
      this.#store = new SqliteStore(options.db ?? ":memory:", {
        log: this.#log,
        retention,
        ...(options.maxDbBytes !== undefined ? { maxBytes: options.maxDbBytes } : {}),
      });
    } catch (error) {
      this.#listeners.close();
      throw error;
    }
    this.#guard = new Guard(this.#store, {
      serverPassword: options.password,
      operators: options.operators ?? [],
    });
    for (const [name, token] of this.#guard.operatorTokens()) {
      this.#log(
        "warn",
        `operator name "${name}" is not registered: connect as ${name} and ` +
          `/register PASSWORD ${token}`,
      );
    }
    this.#chat = new Chat({
      store: this.#store,
      guard: this.#guard,
      log: this.#log,
      connectionCount: () => this.#sessions.size,
      maxUsers,
      maxFrameBytes: this.#maxFrameBytes,
      maxQueueBytes: this.#maxQueueBytes,
      rate: this.#rate,
      burst: this.#burst,
      byteRate: this.#byteRate,
      byteBurst: this.#byteBurst,
      maxRooms,
      maxRoomsPerIp,
      history,
      defaultRoom,
      fixedRooms: options.rooms,
      retention,
    });
    this.tlsAddr = this.#listeners.tlsAddr;
    this.addr = (this.#listeners.plainAddr ?? this.tlsAddr)!;
    const timeouts = [this.#pingTimeoutMs, this.#helloTimeoutMs];
    if (this.#pingIntervalMs > 0) timeouts.push(this.#pingIntervalMs);
    this.#sweepTimer = setInterval(() => this.#sweep(), Math.max(20, Math.min(...timeouts) / 4));
  }

  /** Resolves when the server has shut down and every connection is closed. */
  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  /**
   * Reads the TLS certificate and key files again and uses them for new connections, without
   * dropping anyone (for a renewed certificate). Does nothing without TLS. Where the runtime
   * allows SO_REUSEPORT (Linux, with `--unstable-net`), the new listener opens before the old one
   * closes, so the port is never free; see docs/SECURITY.md for what happens without it. Warns
   * (log level `warn`) about a certificate that has expired or expires within 14 days.
   *
   * @throws {Error} If the new files cannot be read or used: the old ones stay in use, as the
   * message says. Without SO_REUSEPORT, also if another process took the port while it was
   * listened on again: TLS is down then, the message says so, and the port is tried again every
   * second.
   */
  async reloadTls(): Promise<void> {
    await this.#listeners.reloadTls();
    this.#log("info", "TLS certificate reloaded");
  }

  /** How many users have joined. */
  get userCount(): number {
    return this.#chat.userCount;
  }

  /**
   * The one-time tokens that register the operator names not registered yet (`register` with
   * `token`), by name as given in {@linkcode ServerOptions.operators}. A name leaves once it is
   * registered.
   */
  get operatorTokens(): ReadonlyMap<string, string> {
    return this.#guard.operatorTokens();
  }

  /** How many connections are open, joined or not. */
  get connectionCount(): number {
    return this.#sessions.size;
  }

  /**
   * Stops accepting, stores what is pending, sends every client `server_shutdown`, closes every
   * connection and the store, and resolves once all are closed. Calling it again waits for the
   * same shutdown.
   */
  shutdown(): Promise<void> {
    if (!this.#shuttingDown) {
      this.#shuttingDown = true;
      this.#log("info", `shutting down, ${this.#sessions.size} connection(s) open`);
      this.#listeners.close();
      clearInterval(this.#sweepTimer);
      this.#chat.close();
      for (const session of this.#sessions) {
        this.#end(session, "server_shutdown", "The server is shutting down");
      }
      (async () => {
        await this.#listeners.closed();
        while (this.#handlers.size > 0) await Promise.all(this.#handlers);
        await this.#store.close();
      })().then(this.#finished.resolve, this.#finished.reject);
    }
    return this.finished;
  }

  /** Shuts down; see {@linkcode shutdown}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  #accept(conn: ServerConn): void {
    if (this.#shuttingDown) return closeQuietly(conn);
    if ("setNoDelay" in conn) conn.setNoDelay(true);
    // One spelling per address, so that caps and bans see an IPv4 client of a dual-stack
    // listener (`::ffff:a.b.c.d`) as the IPv4 address it is.
    const ip = peerIp(conn.remoteAddr.hostname);
    const session = new Session(
      conn,
      ip,
      this.#maxQueueBytes,
      this.#rate > 0 ? new TokenBucket(this.#rate, this.#burst, performance.now()) : undefined,
      (session, reason, message) => this.#end(session, reason, message),
    );
    if (this.#byteRate > 0) {
      session.byteBucket = new TokenBucket(this.#byteRate, this.#byteBurst, performance.now());
    }
    // The chat charges the text it stores or passes on; what it refuses costs nothing.
    session.member.charge = (cost) => this.#takeBytes(session, cost, performance.now());
    this.#sessions.add(session);
    const fromIp = (this.#perIp.get(ip) ?? 0) + 1;
    this.#perIp.set(ip, fromIp);
    this.#log("info", `${session.member.label} connected`);
    const handler = this.#serve(session).finally(() => this.#handlers.delete(handler));
    this.#handlers.add(handler);
    if (this.#sessions.size > this.#maxConnections) {
      this.#end(
        session,
        "too_many_connections",
        `The server has its maximum of ${this.#maxConnections} connections; try again later`,
      );
    } else if (fromIp > this.#maxConnectionsPerIp) {
      this.#end(
        session,
        "too_many_connections",
        `Your address has its maximum of ${this.#maxConnectionsPerIp} connections open`,
      );
    } else {
      let ban;
      try {
        ban = this.#guard.banOn({ ip });
      } catch {
        // The store could not say (and has logged why); `hello` asks again, and is refused
        // with `store_failed` if it still cannot.
      }
      if (ban !== undefined) {
        this.#end(
          session,
          "banned",
          `Your address is banned${ban.until ? ` until ${ban.until}` : ""}`,
        );
      }
    }
  }

  /** The reading loop of one connection. */
  async #serve(session: Session): Promise<void> {
    try {
      for await (const line of readLines(session.conn, this.#maxFrameBytes)) {
        // A closing session lingers so its last frames arrive; what it sends meanwhile is dropped.
        if (!session.closing) await this.#receive(session, line);
      }
    } catch (error) {
      if (error instanceof FrameTooLargeError) {
        this.#end(session, "frame_too_large", `${error.message}; closing the connection`);
        await drain(session.conn);
      } else if (error instanceof Deno.errors.InvalidData) {
        this.#log("info", `${session.member.label} TLS failed: ${error.message}`);
      } else if (!isDisconnect(error)) {
        this.#log("error", `${session.member.label} failed: ${error}`);
      }
    }
    // The peer may have only half-closed: let it have what is queued for it.
    this.#end(session, "disconnected");
    await session.goodbye;
    clearTimeout(session.lingerTimer);
    closeQuietly(session.conn);
    this.#sessions.delete(session);
    const fromIp = this.#perIp.get(session.ip)! - 1;
    if (fromIp === 0) this.#perIp.delete(session.ip);
    else this.#perIp.set(session.ip, fromIp);
    this.#log("info", `${session.member.label} closed`);
  }

  /** Handles one line: liveness and flood control here, the rest in the chat. Returns a
   * promise while the chat checks a password. */
  #receive(session: Session, line: Uint8Array): void | Promise<void> {
    const now = performance.now();
    session.lastHeard = now;
    session.pingSentAt = undefined;
    const result = decodeClientFrame(line);
    if (!result.ok) {
      this.#log("info", `${session.member.label} sent a bad frame: ${result.code}`);
      return this.#send(session, { type: "error", code: result.code, message: result.message });
    }
    const frame = result.frame;
    if (frame.type === "pong") return;
    if (session.bucket && frame.type !== "quit" && !session.bucket.take(now)) {
      if (++session.strikes >= FLOOD_STRIKES) {
        return this.#end(session, "rate_limited", "Too many frames for too long; disconnecting");
      }
      return this.#send(session, {
        type: "error",
        code: "rate_limited",
        message: `Slow down: at most ${this.#rate} frames a second; this one was dropped`,
      });
    }
    session.strikes = 0;
    if (frame.type === "ping") {
      return this.#send(
        session,
        frame.id === undefined ? { type: "pong" } : { type: "pong", id: frame.id },
      );
    }
    return this.#chat.receive(session.member, frame, line.length);
  }

  /**
   * Takes `cost` bytes from the session's byte rate and its address's; if either has too few,
   * takes none and says why. A connection that has sent little lately (its own bucket still half
   * full after this) may overdraw its address's bucket by up to a second of its rate, so that a
   * quiet user is not refused for what others at its address sent just before: the address's
   * bytes are still bounded, by one second's more.
   */
  #takeBytes(session: Session, cost: number, now: number): string | undefined {
    if (cost === 0) return undefined;
    const own = session.byteBucket;
    let shared: TokenBucket | undefined;
    if (this.#byteRatePerIp > 0) {
      shared = this.#byteBucketsPerIp.get(session.ip);
      if (shared === undefined) {
        shared = new TokenBucket(this.#byteRatePerIp, this.#byteBurstPerIp, now);
        this.#byteBucketsPerIp.set(session.ip, shared);
      }
    }
    if (own !== undefined && !own.has(now, cost)) {
      return `Slow down: at most ${this.#byteRate} bytes a second of text from one connection; ` +
        "this one was dropped";
    }
    if (shared !== undefined && !shared.has(now, cost)) {
      const quiet = own !== undefined && own.level(now) - cost >= this.#byteBurst / 2;
      if (!quiet || shared.level(now) - cost < -this.#byteRatePerIp) {
        return `Slow down: at most ${this.#byteRatePerIp} bytes a second of text from your ` +
          "address; this one was dropped";
      }
    }
    own?.spend(cost);
    shared?.spend(cost);
    return undefined;
  }

  #send(session: Session, frame: ServerFrame): void {
    if (!session.outbox.push(encodeFrame(frame))) {
      this.#end(session, "slow_consumer", "You fell too far behind; closing the connection");
    }
  }

  /** Pings idle connections, drops those that do not answer, closes those that never said
   * `hello`. One timer for all connections. */
  #sweep(): void {
    const now = performance.now();
    for (const session of this.#sessions) {
      if (session.closing) continue;
      if (session.member.name === undefined) {
        if (now - session.connectedAt > this.#helloTimeoutMs) {
          this.#end(session, "hello_timeout", 'No "hello" in time; closing the connection');
        }
      } else if (session.pingSentAt !== undefined) {
        if (now - session.pingSentAt > this.#pingTimeoutMs) {
          this.#end(session, "timeout", "No answer to ping; closing the connection");
        }
      } else if (this.#pingIntervalMs > 0 && now - session.lastHeard > this.#pingIntervalMs) {
        session.pingSentAt = now;
        this.#send(session, { type: "ping", id: Math.floor(now) });
      }
    }
    // A full bucket is no different from a new one.
    for (const [ip, bucket] of this.#byteBucketsPerIp) {
      if (!this.#perIp.has(ip) && bucket.full(now)) this.#byteBucketsPerIp.delete(ip);
    }
  }

  /**
   * Ends a session: the user leaves the chat (the others are told why, unless the whole server
   * is going), the client gets `error` with `reason` as its code if a `message` is given, and
   * the connection closes once that is written, or after {@linkcode LINGER_MS} if the client
   * does not take it.
   */
  #end(session: Session, reason: LeaveReason, message?: string): void {
    if (session.closing) return;
    session.closing = true;
    session.member.open = false;
    if (!this.#shuttingDown) this.#chat.leave(session.member, reason);
    if (message !== undefined) {
      if (reason === "slow_consumer") session.outbox.clear();
      session.outbox.push(encodeFrame({ type: "error", code: reason as ErrorCode, message }), true);
    }
    session.lingerTimer = setTimeout(() => closeQuietly(session.conn), LINGER_MS);
    session.goodbye = session.outbox.flushed().then(() => session.conn.closeWrite()).catch(
      () => {
        // Closed already: the reading loop finishes the job.
      },
    );
  }
}

function requirePositive(name: string, value: number): void {
  if (!(value > 0)) throw new RangeError(`Option "${name}" must be positive: got ${value}`);
}
