// NDJSON over TCP or TLS: the way in that Parley's own client and `nc` use. Each socket is read a
// line at a time under the frame size limit, and written by one Outbox, whose bound makes a peer
// that does not read a slow consumer. Lines are decoded here; what they mean is for
// connections.ts and the chat.

import { closeQuietly, isDisconnect } from "../_net/disconnect.ts";
import { drain, FrameTooLargeError, Outbox, readLines } from "../_net/framing.ts";
import type { Connection, Connections, Transport } from "./connections.ts";
import type { ServerConn } from "./listeners.ts";
import type { Logger } from "./log.ts";
import type { Outgoing } from "./peer.ts";
import { decodeClientFrame } from "../protocol.ts";

/** How long a connection that is being closed may take to receive its last frames. */
const LINGER_MS = 2000;

/** How the NDJSON adapter works. */
export interface NdjsonOptions {
  /** The longest line taken from a client, without its newline. */
  maxFrameBytes: number;
  /** How many bytes may wait to be written to one client. */
  maxQueueBytes: number;
  log: Logger;
}

/** One socket's writing side: its queue of bytes, and how it hangs up. */
class NdjsonTransport implements Transport {
  readonly remoteAddr: Deno.NetAddr;
  /** Settles once the last frames are written and the write side is shut, or given up on. */
  goodbye: Promise<void> | undefined;
  #conn: ServerConn;
  #outbox: Outbox;
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(conn: ServerConn, maxQueueBytes: number) {
    this.remoteAddr = conn.remoteAddr;
    this.#conn = conn;
    this.#outbox = new Outbox(conn, maxQueueBytes);
  }

  deliver(out: Outgoing): boolean {
    return this.#outbox.push(out.bytes);
  }

  /** Writes what is queued (and `last`), then shuts the write side: the peer reads to the end,
   * and the error is not lost to a reset. Closes the socket after {@linkcode LINGER_MS} if the
   * peer does not take it. */
  hangUp(last: Outgoing | undefined, discard: boolean): void {
    if (discard) this.#outbox.clear();
    if (last !== undefined) this.#outbox.push(last.bytes, true);
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

/** Serves NDJSON connections: reads their lines, hands the frames to the connections. */
export class NdjsonAdapter {
  #connections: Connections;
  #options: NdjsonOptions;
  /** The reading loops of the open connections. */
  #handlers = new Set<Promise<void>>();

  constructor(connections: Connections, options: NdjsonOptions) {
    this.#connections = connections;
    this.#options = options;
  }

  /** Takes a new connection; never waits for it. */
  accept(conn: ServerConn): void {
    if (!this.#connections.accepting) return closeQuietly(conn);
    if ("setNoDelay" in conn) conn.setNoDelay(true);
    const transport = new NdjsonTransport(conn, this.#options.maxQueueBytes);
    const connection = this.#connections.open(transport);
    const handler = this.#serve(conn, transport, connection).finally(() =>
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
    transport: NdjsonTransport,
    connection: Connection,
  ): Promise<void> {
    const { maxFrameBytes, log } = this.#options;
    try {
      for await (const line of readLines(conn, maxFrameBytes)) {
        // A closing connection lingers so its last frames arrive; what it sends meanwhile is
        // dropped.
        if (!connection.closing) {
          await this.#connections.receive(connection, decodeClientFrame(line), line.length);
        }
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
