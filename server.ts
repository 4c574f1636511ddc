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

import { closeQuietly, isDisconnect } from "./_disconnect.ts";
import { drain, FrameTooLargeError, Outbox, readLines } from "./_framing.ts";
import { formatAddr } from "./_address.ts";
import { type Logger, type LogLevel, makeLogger } from "./_log.ts";
import {
  decodeClientFrame,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_PORT,
  encodeFrame,
  type ErrorCode,
  foldName,
  type LeaveReason,
  type MessageFrame,
  nameProblem,
  PROTOCOL_VERSION,
  type ServerFrame,
} from "./protocol.ts";
import { VERSION } from "./_version.ts";

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
   * Which log lines go to stderr.
   * @default {"warn"}
   */
  logLevel?: LogLevel;
}

/** How long a connection that is being closed may take to receive its last frames. */
const LINGER_MS = 2000;

/** One connection and, once it has said `hello`, its user. */
class Session {
  name: string | undefined;
  key: string | undefined;
  closing = false;
  lingerTimer: ReturnType<typeof setTimeout> | undefined;
  /** Settles once the last frames are written and the write side is shut, or given up on. */
  goodbye: Promise<void> | undefined;
  readonly outbox: Outbox;

  constructor(readonly conn: Deno.TcpConn, readonly peer: string, maxQueueBytes: number) {
    this.outbox = new Outbox(conn, maxQueueBytes);
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
  #maxUsers: number;
  #maxFrameBytes: number;
  #maxQueueBytes: number;
  #sessions = new Set<Session>();
  #handlers = new Set<Promise<void>>();
  /** Joined users by folded name. */
  #users = new Map<string, Session>();
  #nextMessageId = 1;
  #shuttingDown = false;

  /**
   * Starts listening.
   *
   * @param options Where to listen and the server's limits.
   * @throws {RangeError} If an option is out of range.
   * @throws {Deno.errors.AddrInUse} If the address is taken.
   */
  constructor(options: ServerOptions = {}) {
    this.#maxUsers = options.maxUsers ?? Infinity;
    this.#maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.#maxQueueBytes = options.maxQueueBytes ?? 1024 * 1024;
    requirePositive("maxUsers", this.#maxUsers);
    requirePositive("maxFrameBytes", this.#maxFrameBytes);
    requirePositive("maxQueueBytes", this.#maxQueueBytes);
    this.#log = makeLogger(options.logLevel ?? "warn");
    this.#listener = Deno.listen({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? DEFAULT_PORT,
      transport: "tcp",
    });
    this.addr = this.#listener.addr;
    this.finished = this.#acceptLoop();
  }

  /** How many users have joined. */
  get userCount(): number {
    return this.#users.size;
  }

  /**
   * Stops accepting, sends every client `server_shutdown`, closes every connection and resolves
   * once all are closed. Calling it again waits for the same shutdown.
   */
  shutdown(): Promise<void> {
    if (!this.#shuttingDown) {
      this.#shuttingDown = true;
      this.#log("info", `shutting down, ${this.#sessions.size} connection(s) open`);
      closeQuietly(this.#listener);
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
  }

  #accept(conn: Deno.TcpConn): void {
    if (this.#shuttingDown) return closeQuietly(conn);
    conn.setNoDelay(true);
    const session = new Session(conn, formatAddr(conn.remoteAddr), this.#maxQueueBytes);
    this.#sessions.add(session);
    this.#log("info", `${session.peer} connected`);
    const handler = this.#serve(session).finally(() => this.#handlers.delete(handler));
    this.#handlers.add(handler);
  }

  /** The reading loop of one connection. */
  async #serve(session: Session): Promise<void> {
    try {
      for await (const line of readLines(session.conn, this.#maxFrameBytes)) {
        // A closing session lingers so its last frames arrive; what it sends meanwhile is dropped.
        if (!session.closing) this.#receive(session, line);
      }
    } catch (error) {
      if (error instanceof FrameTooLargeError) {
        this.#end(session, "frame_too_large", `${error.message}; closing the connection`);
        await drain(session.conn);
      } else if (!isDisconnect(error)) {
        this.#log("error", `${session.peer} failed: ${error}`);
      }
    }
    // The peer may have only half-closed: let it have what is queued for it.
    this.#end(session, "disconnected");
    await session.goodbye;
    clearTimeout(session.lingerTimer);
    closeQuietly(session.conn);
    this.#sessions.delete(session);
    this.#log("info", `${session.peer} closed`);
  }

  #receive(session: Session, line: Uint8Array): void {
    const result = decodeClientFrame(line);
    if (!result.ok) return this.#reject(session, result.code, result.message);
    const frame = result.frame;
    switch (frame.type) {
      case "hello": {
        if (session.name !== undefined) {
          return this.#reject(session, "already_joined", `You have joined as "${session.name}"`);
        }
        if (frame.protocol !== undefined && frame.protocol !== PROTOCOL_VERSION) {
          return this.#reject(
            session,
            "unsupported_protocol",
            `Protocol ${frame.protocol} is not supported; this server speaks ${PROTOCOL_VERSION}`,
          );
        }
        const key = this.#claimableName(session, frame.name);
        if (key === undefined) return;
        if (this.#users.size >= this.#maxUsers) {
          return this.#end(session, "server_full", `The server is full (${this.#maxUsers} users)`);
        }
        return this.#join(session, frame.name, key);
      }
      case "send": {
        if (session.name === undefined) return this.#rejectNotJoined(session);
        const message: MessageFrame = {
          type: "message",
          id: this.#nextMessageId++,
          from: session.name,
          text: frame.text,
          ts: new Date().toISOString(),
        };
        if (frame.action) message.action = true;
        return this.#broadcast(message, session);
      }
      case "ping":
        this.#send(
          session,
          frame.id === undefined ? { type: "pong" } : {
            type: "pong",
            id: frame.id,
          },
        );
        return;
      case "quit":
        return this.#end(session, "quit");
      case "who":
        if (session.name === undefined) return this.#rejectNotJoined(session);
        return this.#send(session, { type: "users", users: this.#userNames() });
      case "nick": {
        if (session.name === undefined) return this.#rejectNotJoined(session);
        const key = this.#claimableName(session, frame.name);
        if (key === undefined) return;
        const from = session.name;
        this.#users.delete(session.key!);
        this.#users.set(key, session);
        session.name = frame.name;
        session.key = key;
        this.#log("info", `${session.peer} "${from}" is now "${frame.name}"`);
        return this.#broadcast({
          type: "renamed",
          from,
          to: frame.name,
          ts: new Date().toISOString(),
        }, undefined);
      }
      default:
        frame satisfies never;
    }
  }

  /** The folded form of `name` if `session` may take it; otherwise says why not and returns
   * undefined. A user may take a name that folds like their own (a change of case). */
  #claimableName(session: Session, name: string): string | undefined {
    const problem = nameProblem(name);
    if (problem !== undefined) {
      this.#reject(session, "invalid_name", problem);
      return undefined;
    }
    const key = foldName(name);
    const holder = this.#users.get(key);
    if (holder !== undefined && holder !== session) {
      this.#reject(session, "name_taken", `Name "${name}" is taken`);
      return undefined;
    }
    return key;
  }

  #userNames(): string[] {
    return [...this.#users.values()].map((user) => user.name!);
  }

  #join(session: Session, name: string, key: string): void {
    const users = this.#userNames();
    session.name = name;
    session.key = key;
    this.#users.set(key, session);
    this.#log("info", `${session.peer} joined as "${name}"`);
    this.#send(session, {
      type: "welcome",
      name,
      users,
      maxFrameBytes: this.#maxFrameBytes,
      server: `parley/${VERSION}`,
      protocol: PROTOCOL_VERSION,
    });
    this.#broadcast({ type: "joined", name, ts: new Date().toISOString() }, session);
  }

  /** Sends `frame` to every joined user but `except`: encoded once, queued everywhere. */
  #broadcast(frame: ServerFrame, except: Session | undefined): void {
    const bytes = encodeFrame(frame);
    const behind: Session[] = [];
    for (const user of this.#users.values()) {
      if (user !== except && !user.outbox.push(bytes)) behind.push(user);
    }
    for (const user of behind) {
      this.#end(user, "slow_consumer", "You fell too far behind; closing the connection");
    }
  }

  #send(session: Session, frame: ServerFrame): void {
    if (!session.outbox.push(encodeFrame(frame))) {
      this.#end(session, "slow_consumer", "You fell too far behind; closing the connection");
    }
  }

  #reject(session: Session, code: ErrorCode, message: string): void {
    this.#log("info", `${session.peer} sent a bad frame: ${code}: ${message}`);
    this.#send(session, { type: "error", code, message });
  }

  #rejectNotJoined(session: Session): void {
    this.#reject(session, "not_joined", 'Say "hello" with a name first');
  }

  /**
   * Ends a session: the user leaves (the others are told why, unless the whole server is going),
   * the client gets `error` with `code` if a `message` is given, and the connection closes once
   * that is written, or after {@linkcode LINGER_MS} if the client does not take it.
   */
  #end(session: Session, reason: LeaveReason, message?: string): void {
    if (session.closing) return;
    session.closing = true;
    if (session.key !== undefined) {
      this.#users.delete(session.key);
      this.#log("info", `${session.peer} "${session.name}" left: ${reason}`);
      if (!this.#shuttingDown) {
        this.#broadcast({
          type: "left",
          name: session.name!,
          reason,
          ts: new Date().toISOString(),
        }, undefined);
      }
    }
    if (message !== undefined) {
      if (reason === "slow_consumer") session.outbox.clear();
      session.outbox.push(encodeFrame({ type: "error", code: reason as ErrorCode, message }));
    }
    session.lingerTimer = setTimeout(() => closeQuietly(session.conn), LINGER_MS);
    session.goodbye = session.outbox.flushed().then(() => session.conn.closeWrite()).catch(() => {
      // Closed already: the reading loop finishes the job.
    });
  }
}

function requirePositive(name: string, value: number): void {
  if (!(value > 0)) throw new RangeError(`Option "${name}" must be positive: got ${value}`);
}
