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
import {
  decodeClientFrame,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_PORT,
  DEFAULT_ROOM,
  encodeFrame,
  type ErrorCode,
  type LeaveReason,
  roomProblem,
} from "./protocol.ts";

export type { LogLevel } from "./_log.ts";

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
   * Which log lines go to stderr.
   * @default {"warn"}
   */
  logLevel?: LogLevel;
}

/** How long a connection that is being closed may take to receive its last frames. */
const LINGER_MS = 2000;

/** One connection: its socket, its queue of bytes to write, and its member of the chat. */
class Session {
  closing = false;
  lingerTimer: ReturnType<typeof setTimeout> | undefined;
  /** Settles once the last frames are written and the write side is shut, or given up on. */
  goodbye: Promise<void> | undefined;
  readonly outbox: Outbox;
  readonly member: Member;

  constructor(
    readonly conn: Deno.TcpConn,
    maxQueueBytes: number,
    end: (session: Session, reason: LeaveReason, message?: string) => void,
  ) {
    this.outbox = new Outbox(conn, maxQueueBytes);
    this.member = new Member(
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
  /** The address the server listens on, with the real port when 0 was asked for. */
  readonly addr: Deno.NetAddr;
  /** Resolves when the server has shut down and every connection is closed. */
  readonly finished: Promise<void>;

  #listener: Deno.TcpListener;
  #log: Logger;
  #store: Store;
  #chat: Chat;
  #maxFrameBytes: number;
  #maxQueueBytes: number;
  #sessions = new Set<Session>();
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
    requirePositive("maxUsers", maxUsers);
    requirePositive("maxFrameBytes", this.#maxFrameBytes);
    requirePositive("maxQueueBytes", this.#maxQueueBytes);
    requirePositive("history", history + 1);
    const defaultRoom = options.defaultRoom ?? DEFAULT_ROOM;
    for (const room of [defaultRoom, ...options.rooms ?? []]) {
      const problem = roomProblem(room);
      if (problem !== undefined) throw new TypeError(problem);
    }
    this.#log = makeLogger(options.logLevel ?? "warn");
    this.#store = new SqliteStore(options.db ?? ":memory:");
    try {
      this.#listener = Deno.listen({
        hostname: options.hostname ?? "127.0.0.1",
        port: options.port ?? DEFAULT_PORT,
        transport: "tcp",
      });
    } catch (error) {
      this.#store.close();
      throw error;
    }
    const retention: { days?: number; messagesPerRoom?: number } = {};
    if (options.retainDays !== undefined) retention.days = options.retainDays;
    if (options.retainMessages !== undefined) retention.messagesPerRoom = options.retainMessages;
    this.#chat = new Chat({
      store: this.#store,
      log: this.#log,
      maxUsers,
      maxFrameBytes: this.#maxFrameBytes,
      history,
      defaultRoom,
      fixedRooms: options.rooms,
      retention,
    });
    this.addr = this.#listener.addr;
    this.finished = this.#acceptLoop();
  }

  /** How many users have joined. */
  get userCount(): number {
    return this.#chat.userCount;
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
      closeQuietly(this.#listener);
      this.#chat.close();
      for (const session of this.#sessions) {
        this.#end(session, "server_shutdown", "The server is shutting down");
      }
    }
    return this.finished;
  }

  /** Shuts down; see {@linkcode shutdown}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#shuttingDown) {
      try {
        for await (const conn of this.#listener) this.#accept(conn);
      } catch (error) {
        if (this.#shuttingDown) break;
        // Running out of file descriptors, for one: wait for some to be freed.
        this.#log("error", `accept failed: ${error}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    while (this.#handlers.size > 0) await Promise.all(this.#handlers);
    this.#store.close();
  }

  #accept(conn: Deno.TcpConn): void {
    if (this.#shuttingDown) return closeQuietly(conn);
    conn.setNoDelay(true);
    const session = new Session(
      conn,
      this.#maxQueueBytes,
      (session, reason, message) => this.#end(session, reason, message),
    );
    this.#sessions.add(session);
    this.#log("info", `${session.member.label} connected`);
    const handler = this.#serve(session).finally(() => this.#handlers.delete(handler));
    this.#handlers.add(handler);
  }

  /** The reading loop of one connection. */
  async #serve(session: Session): Promise<void> {
    try {
      for await (const line of readLines(session.conn, this.#maxFrameBytes)) {
        // A closing session lingers so its last frames arrive; what it sends meanwhile is dropped.
        if (session.closing) continue;
        const result = decodeClientFrame(line);
        if (result.ok) {
          this.#chat.receive(session.member, result.frame);
        } else {
          this.#log("info", `${session.member.label} sent a bad frame: ${result.code}`);
          session.outbox.push(
            encodeFrame({ type: "error", code: result.code, message: result.message }),
          );
        }
      }
    } catch (error) {
      if (error instanceof FrameTooLargeError) {
        this.#end(session, "frame_too_large", `${error.message}; closing the connection`);
        await drain(session.conn);
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
    this.#log("info", `${session.member.label} closed`);
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
    if (!this.#shuttingDown) this.#chat.leave(session.member, reason);
    if (message !== undefined) {
      if (reason === "slow_consumer") session.outbox.clear();
      session.outbox.push(encodeFrame({ type: "error", code: reason as ErrorCode, message }));
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
