// What every line-based way in over a socket shares: each socket is read a line at a time under
// the frame size limit, and written by one Outbox, whose bound makes a peer that does not read a
// slow consumer; closing writes the last words, shuts the write side and lingers a while. What a
// line means and how frames are written is a `LineSession`'s: NDJSON (ndjson.ts) and plain text
// (text.ts) are the two.

import { closeQuietly, isDisconnect } from "../_net/disconnect.ts";
import { type ByteStream, drain, FrameTooLargeError, Outbox, readLines } from "../_net/framing.ts";
import type { Connection, Connections, Transport } from "./connections.ts";
import type { ServerConn } from "./listeners.ts";
import type { Logger } from "./log.ts";
import type { Outgoing } from "./peer.ts";

/** How long a connection that is being closed may take to receive its last frames. */
const LINGER_MS = 2000;

/** How a line adapter works. */
export interface LineOptions {
  /** The longest line taken from a client, without its newline. */
  maxFrameBytes: number;
  /** How many bytes may wait to be written to one client. */
  maxQueueBytes: number;
  log: Logger;
}

/** What one connection's lines mean, and how frames are written to it. */
export interface LineSession {
  /** The bytes that carry `out` to the peer; empty for nothing. */
  encode(out: Outgoing): Uint8Array;
  /** The stream lines are read from: the socket, or a filter of it. */
  input(conn: ServerConn): ByteStream;
  /** Called once the connection is counted in (it may be closing already). */
  start(connection: Connection): void;
  /** Handles one line, without its terminator: a view into the read buffer, to use at once.
   * The next line waits for a promise returned. */
  line(line: Uint8Array, connection: Connection): void | Promise<void>;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A line's bytes read as UTF-8: its `text`, or, when they are not UTF-8, what answering
 * `invalid_utf8` returned (`refused`: the next line waits for a promise there). */
export type DecodedLine =
  | { text: string; refused?: undefined }
  | { text?: undefined; refused: void | Promise<void> };

/**
 * Reads `bytes` (a line without its terminator) as UTF-8. A line that is not is answered
 * `invalid_utf8` through `connections.receive`, counted as its bytes, as a bad NDJSON frame is:
 * the sessions of every line-based way in give one answer, and one strike, for it.
 */
export function decodeLine(
  bytes: Uint8Array,
  connection: Connection,
  connections: Connections,
): DecodedLine {
  try {
    return { text: utf8.decode(bytes) };
  } catch {
    return {
      refused: connections.receive(
        connection,
        { ok: false, code: "invalid_utf8", message: "Line is not valid UTF-8" },
        bytes.length,
      ),
    };
  }
}

/** One socket's writing side: its queue of bytes, and how it hangs up. */
export class LineTransport implements Transport {
  readonly remoteAddr: Deno.NetAddr;
  /** Settles once the last frames are written and the write side is shut, or given up on. */
  goodbye: Promise<void> | undefined;
  /** How frames are written: set by the session before the connection is opened. */
  session: LineSession | undefined;
  #conn: ServerConn;
  #outbox: Outbox;
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(conn: ServerConn, maxQueueBytes: number) {
    this.remoteAddr = conn.remoteAddr;
    this.#conn = conn;
    this.#outbox = new Outbox(conn, maxQueueBytes);
  }

  deliver(out: Outgoing): boolean {
    return this.push(this.session!.encode(out));
  }

  /** Queues bytes as they are. Returns false, queuing nothing, if the queue is full. */
  push(bytes: Uint8Array): boolean {
    return bytes.length === 0 || this.#outbox.push(bytes);
  }

  /** Writes what is queued (and `last`), then shuts the write side: the peer reads to the end,
   * and the error is not lost to a reset. Closes the socket after {@linkcode LINGER_MS} if the
   * peer does not take it. */
  hangUp(last: Outgoing | undefined, discard: boolean): void {
    if (discard) this.#outbox.clear();
    const bytes = last === undefined ? undefined : this.session!.encode(last);
    if (bytes !== undefined && bytes.length > 0) this.#outbox.push(bytes, true);
    this.#lingerTimer = setTimeout(() => closeQuietly(this.#conn), LINGER_MS);
    this.goodbye = this.#outbox.flushed().then(() => this.#conn.closeWrite()).catch(() => {
      // Closed already: the reading loop finishes the job.
    });
  }

  /** Closes the socket, once reading is over and the goodbye written or given up on. */
  async close(): Promise<void> {
    await this.goodbye;
    clearTimeout(this.#lingerTimer);
    closeQuietly(this.#conn);
  }
}

/** Serves line-based connections: reads their lines, hands them to a session of each. */
export class LineAdapter {
  #connections: Connections;
  #options: LineOptions;
  #newSession: (transport: LineTransport) => LineSession;
  /** The reading loops of the open connections. */
  #handlers = new Set<Promise<void>>();

  /** `newSession` makes the session of each connection. */
  constructor(
    connections: Connections,
    options: LineOptions,
    newSession: (transport: LineTransport) => LineSession,
  ) {
    this.#connections = connections;
    this.#options = options;
    this.#newSession = newSession;
  }

  /** Takes a new connection; never waits for it. */
  accept(conn: ServerConn): void {
    if (!this.#connections.accepting) return closeQuietly(conn);
    if ("setNoDelay" in conn) conn.setNoDelay(true);
    const transport = new LineTransport(conn, this.#options.maxQueueBytes);
    const session = transport.session = this.#newSession(transport);
    const connection = this.#connections.open(transport);
    session.start(connection);
    const handler = this.#serve(conn, session, transport, connection).finally(() =>
      this.#handlers.delete(handler)
    );
    this.#handlers.add(handler);
  }

  /** Resolves once every connection taken is closed. */
  async closed(): Promise<void> {
    while (this.#handlers.size > 0) await Promise.all(this.#handlers);
  }

  /** The reading loop of one connection. */
  async #serve(
    conn: ServerConn,
    session: LineSession,
    transport: LineTransport,
    connection: Connection,
  ): Promise<void> {
    const { maxFrameBytes, log } = this.#options;
    try {
      for await (const line of readLines(session.input(conn), maxFrameBytes)) {
        // A closing connection lingers so its last frames arrive; what it sends meanwhile is
        // dropped.
        if (!connection.closing) await session.line(line, connection);
      }
    } catch (error) {
      if (error instanceof FrameTooLargeError) {
        connection.close("frame_too_large", `${error.message}; closing the connection`);
        await drain(conn);
      } else if (error instanceof Deno.errors.InvalidData) {
        log("info", `${connection.label} TLS failed: ${error.message}`);
      } else if (!isDisconnect(error)) {
        log("error", `${connection.label} failed: ${error}`);
      }
    }
    // The peer may have only half-closed: let it have what is queued for it.
    connection.close("disconnected");
    await transport.close();
    this.#connections.closed(connection);
  }
}
