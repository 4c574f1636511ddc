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

import { formatAddr } from "./_address.ts";
import { Chat, Member } from "./_chat.ts";
import { closeQuietly, isDisconnect } from "./_disconnect.ts";
import { drain, FrameTooLargeError, Outbox, readLines } from "./_framing.ts";
import { type Logger, type LogLevel, makeLogger } from "./_log.ts";
import { SqliteStore, type Store } from "./_store.ts";
import { Guard } from "./_guard.ts";
import { Listeners, type ServerConn, type TlsFiles } from "./_listeners.ts";
import { TokenBucket } from "./_rate.ts";
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

export type { LogLevel } from "./_log.ts";
export type { TlsFiles } from "./_listeners.ts";

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
  /** Drop stored messages older than this many days. */
  retainDays?: number;
  /** Keep at most this many stored messages per room. */
  retainMessages?: number;
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
  /** Operator names: registered names whose users may kick, ban, set topics and see stats. */
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
    for (
      const [name, value] of [
        ["history", history],
        ["rate", this.#rate],
        ["burst", this.#burst],
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
    try {
      this.#store = new SqliteStore(options.db ?? ":memory:", this.#log);
    } catch (error) {
      this.#listeners.close();
      throw error;
    }
    this.#guard = new Guard(this.#store, {
      serverPassword: options.password,
      operators: options.operators ?? [],
    });
    for (const name of this.#guard.unregisteredOperators()) {
      this.#log("warn", `operator "${name}" has no powers until that name is registered`);
    }
    const retention: { days?: number; messagesPerRoom?: number } = {};
    if (options.retainDays !== undefined) retention.days = options.retainDays;
    if (options.retainMessages !== undefined) retention.messagesPerRoom = options.retainMessages;
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
   * dropping anyone (for a renewed certificate). Does nothing without TLS.
   *
   * @throws {Error} If the new files cannot be read or used; the old ones stay in use.
   */
  async reloadTls(): Promise<void> {
    await this.#listeners.reloadTls();
    this.#log("info", "TLS certificate reloaded");
  }

  /** How many users have joined. */
  get userCount(): number {
    return this.#chat.userCount;
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
    const ip = conn.remoteAddr.hostname;
    const session = new Session(
      conn,
      ip,
      this.#maxQueueBytes,
      this.#rate > 0 ? new TokenBucket(this.#rate, this.#burst, performance.now()) : undefined,
      (session, reason, message) => this.#end(session, reason, message),
    );
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
      const ban = this.#guard.banOn({ ip });
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
    return this.#chat.receive(session.member, frame);
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
