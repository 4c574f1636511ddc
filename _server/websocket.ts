// The browser's way in: one HTTP port (Deno.serve) that serves the web page (_web/), a small JSON
// status for health checks, and the WebSocket at /ws. Each WebSocket text message is one frame of
// the protocol, decoded as an NDJSON line is; each frame delivered is one text message. A client
// that offers the `parley.ndjson` subprotocol gets NDJSON instead: each delivery is one binary
// message holding the same shared bytes TCP writes (one op per receiver, not one per frame), and
// it may send several newline-terminated frames in a message. What a frame means, and every
// limit, is connections.ts's and the chat's, as for any adapter.

import { VERSION } from "../_protocol/version.ts";
import { ASSETS } from "../_web/assets.ts";
import { decodeClientFrame } from "../protocol.ts";
import type { Connection, Connections, Transport } from "./connections.ts";
import { Listeners, type ServerConn, type TlsFiles } from "./listeners.ts";
import { closeQuietly } from "../_net/disconnect.ts";
import { errorMessage } from "../_protocol/error_message.ts";
import type { Logger } from "./log.ts";
import type { Outgoing } from "./peer.ts";

/** How long a closing WebSocket may take to finish its closing handshake. */
const LINGER_MS = 2000;

/** A WebSocket silent this long (s) is sent a WebSocket ping (which browsers answer on their
 * own), and closed by Deno if it does not answer in as long again: a peer that vanished is found
 * in seconds, not at the protocol's next `ping`. (Deno does this only while the socket is open:
 * it does not end one whose peer never answers the closing handshake; see `hangUp`.) */
const IDLE_TIMEOUT_S = 5;

/** The subprotocol in which messages carry NDJSON (whole lines) rather than one frame each. */
export const NDJSON_SUBPROTOCOL = "parley.ndjson";

const NEWLINE = 0x0a;

/** The headers every response carries: no script or style but the page's own files, no
 * framing, no guessing of types, no referrer. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "default-src 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/** How the WebSocket adapter works. */
export interface WebOptions {
  hostname: string;
  /** The HTTP port; 0 picks a free one. */
  port: number;
  /** The longest text message taken from a client, in UTF-8 bytes. */
  maxFrameBytes: number;
  /** How many bytes may wait to be sent to one client (its `bufferedAmount`). */
  maxQueueBytes: number;
  /** Serve HTTPS (and so WSS) with this certificate and key instead of plain HTTP. */
  tls: TlsFiles | undefined;
  /** Origins allowed besides the page's own, as `scheme://host[:port]`. */
  allowOrigins: readonly string[];
  /** How many users are joined, for /status. */
  users: () => number;
  log: Logger;
}

const encoder = new TextEncoder();

/** One WebSocket's sending side. */
class WebSocketTransport implements Transport {
  readonly remoteAddr: Deno.NetAddr;
  #socket: WebSocket;
  #maxQueueBytes: number;
  #ndjson: boolean;
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;
  #gone: () => void;

  /** `gone` is called when the socket closes, or when its closing handshake is given up on.
   * With `ndjson` (the subprotocol) each delivery is one binary message of NDJSON lines. */
  constructor(
    socket: WebSocket,
    remoteAddr: Deno.NetAddr,
    maxQueueBytes: number,
    ndjson: boolean,
    gone: () => void,
  ) {
    this.#socket = socket;
    this.remoteAddr = remoteAddr;
    this.#maxQueueBytes = maxQueueBytes;
    this.#ndjson = ndjson;
    this.#gone = gone;
  }

  /** Sends each frame as a message (all of them as one, under the subprotocol), unless what the
   * socket has not sent yet passes the bound: the browser's socket queues without limit, so its
   * `bufferedAmount` is the queue. */
  deliver(out: Outgoing): boolean {
    if (this.#socket.readyState !== WebSocket.OPEN) return true;
    if (this.#ndjson) {
      // The buffer every receiver shares, neither encoded nor copied here (Deno copies it once,
      // into the frame it writes); `bufferedAmount` counts its bytes exactly.
      const bytes = out.bytes;
      if (this.#socket.bufferedAmount + bytes.length > this.#maxQueueBytes) return false;
      this.#socket.send(bytes);
      return true;
    }
    const texts = out.texts;
    // In UTF-16 units: the bytes for ASCII text, up to three times fewer for the rest. Close
    // enough for a bound, and free (the UTF-8 length would cost a pass over every text).
    let size = 0;
    for (const text of texts) size += text.length;
    if (this.#socket.bufferedAmount + size > this.#maxQueueBytes) return false;
    for (const text of texts) this.#socket.send(text);
    return true;
  }

  /** Sends `last` (after whatever is queued: a socket's queue cannot be taken back), then
   * closes. A peer that has not finished the closing handshake after {@linkcode LINGER_MS} (one
   * that stopped reading) is counted out then: Deno's WebSocket cannot drop a connection, so its
   * socket stays open until the peer closes it or Deno's own ping finds it dead. */
  hangUp(last: Outgoing | undefined, _discard: boolean): void {
    const socket = this.#socket;
    if (socket.readyState === WebSocket.CONNECTING) {
      socket.addEventListener("open", () => this.hangUp(last, _discard), { once: true });
      return;
    }
    if (socket.readyState !== WebSocket.OPEN) return;
    if (last !== undefined) this.#sendAll(last);
    const code = closeCode(last);
    socket.close(code);
    this.#lingerTimer = setTimeout(this.#gone, LINGER_MS);
  }

  #sendAll(out: Outgoing): void {
    if (this.#ndjson) this.#socket.send(out.bytes);
    else for (const text of out.texts) this.#socket.send(text);
  }

  /** Stops waiting for the closing handshake: the socket is closed. */
  closed(): void {
    clearTimeout(this.#lingerTimer);
  }
}

/** Serves the web page, /status, and WebSocket connections on one HTTP port. */
export class WebAdapter {
  /** The address the HTTP server listens on, with the real port when 0 was asked for. */
  readonly addr: Deno.NetAddr;
  #connections: () => Connections;
  #options: WebOptions;
  #server: Deno.HttpServer<Deno.NetAddr>;
  /** With TLS: the TLS listener (reloaded like the protocol's), whose connections are relayed
   * to `#server`, then listening on loopback only. */
  #tlsListeners: Listeners | undefined;
  /** With TLS: each relayed connection's real peer, by the loopback address it comes from. */
  #peers = new Map<string, Deno.NetAddr>();
  /** Settle once each relay has ended. */
  #relays = new Set<Promise<void>>();
  /** Settle once each open socket is closed and counted out. */
  #sockets = new Set<Promise<void>>();

  /** Starts listening at once; `connections` is asked for once a request comes.
   * @throws {Deno.errors.AddrInUse} If the address is taken. Or an error reading or using the
   * TLS files, if given. */
  constructor(connections: () => Connections, options: WebOptions) {
    this.#connections = connections;
    this.#options = options;
    const tls = options.tls;
    this.#server = Deno.serve(
      tls === undefined
        ? { hostname: options.hostname, port: options.port, onListen: () => {} }
        : { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request, info) => this.#handle(request, info),
    );
    if (tls === undefined) {
      this.addr = this.#server.addr;
      return;
    }
    // Deno.serve cannot take a new certificate, and shutting a server down closes its open
    // WebSockets (Deno 2.9), so a reload cannot swap servers without dropping everyone. The TLS
    // side is the protocol's listener instead, reloaded in place, and each connection it takes
    // is relayed, decrypted, to the HTTP server on loopback.
    try {
      this.#tlsListeners = new Listeners(
        { hostname: options.hostname, port: undefined, tls: { ...tls, port: options.port } },
        (conn) => this.#relay(conn),
        options.log,
      );
    } catch (error) {
      this.#server.shutdown();
      throw error;
    }
    this.addr = this.#tlsListeners.tlsAddr!;
  }

  /** Whether the port serves HTTPS. */
  get secure(): boolean {
    return this.#tlsListeners !== undefined;
  }

  /**
   * Reads the TLS files again and takes new connections with them; open ones (WebSockets
   * included) are not touched. Does nothing without TLS. See `Listeners.reloadTls`.
   *
   * @throws {Error} If the new files cannot be read or used: the old ones stay in use, as the
   * message says.
   */
  async reloadTls(): Promise<void> {
    await this.#tlsListeners?.reloadTls();
  }

  /** Stops taking requests, and resolves once every WebSocket is closed. */
  async closed(): Promise<void> {
    this.#tlsListeners?.close();
    await this.#tlsListeners?.closed();
    await this.#server.shutdown();
    while (this.#sockets.size > 0) await Promise.all(this.#sockets);
    while (this.#relays.size > 0) await Promise.all(this.#relays);
  }

  /** Relays a TLS connection to the HTTP server on loopback, both ways, until either end closes. */
  #relay(conn: ServerConn): void {
    const relay: Promise<void> = (async () => {
      let inner: Deno.TcpConn;
      try {
        inner = await Deno.connect({ hostname: "127.0.0.1", port: this.#server.addr.port });
      } catch (error) {
        this.#options.log("error", `HTTPS relay failed: ${errorMessage(error)}`);
        closeQuietly(conn);
        return;
      }
      // Known before a byte is relayed, so before the request it carries is handled.
      const key = addrKey(inner.localAddr);
      this.#peers.set(key, conn.remoteAddr);
      // Each direction closes the other's connection when it ends; the other then fails.
      await Promise.all([
        conn.readable.pipeTo(inner.writable).catch(() => closeQuietly(inner)),
        inner.readable.pipeTo(conn.writable).catch(() => closeQuietly(conn)),
      ]);
      closeQuietly(conn);
      closeQuietly(inner);
      this.#peers.delete(key);
    })().finally(() => this.#relays.delete(relay));
    this.#relays.add(relay);
  }

  #handle(request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>): Response {
    const url = new URL(request.url);
    // A relayed connection is the peer's, not loopback's: caps and bans count the real one.
    const remoteAddr = this.#peers.get(addrKey(info.remoteAddr)) ?? info.remoteAddr;
    if (url.pathname === "/ws") return this.#upgrade(request, remoteAddr);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return respond("Method not allowed\n", 405, "text/plain; charset=utf-8");
    }
    if (url.pathname === "/status") {
      const status = {
        ok: true,
        users: this.#options.users(),
        connections: this.#connections().size,
        version: VERSION,
      };
      return respond(JSON.stringify(status), 200, "application/json", "no-store");
    }
    const asset = ASSETS[url.pathname === "/" ? "/index.html" : url.pathname];
    if (asset === undefined) return respond("Not found\n", 404, "text/plain; charset=utf-8");
    return respond(asset.body, 200, asset.type, "no-cache");
  }

  /** Checks the origin, then upgrades to a WebSocket and counts the connection in. */
  #upgrade(request: Request, remoteAddr: Deno.NetAddr): Response {
    const origin = request.headers.get("origin");
    if (origin !== null && !this.#originAllowed(origin, request)) {
      this.#options.log("info", `refused a WebSocket from origin ${JSON.stringify(origin)}`);
      return respond("Origin not allowed\n", 403, "text/plain; charset=utf-8");
    }
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return respond("Expected a WebSocket upgrade\n", 426, "text/plain; charset=utf-8");
    }
    const connections = this.#connections();
    if (!connections.accepting) {
      return respond("Shutting down\n", 503, "text/plain; charset=utf-8");
    }
    const offered = request.headers.get("sec-websocket-protocol")?.split(",")
      .map((name) => name.trim()) ?? [];
    const ndjson = offered.includes(NDJSON_SUBPROTOCOL);
    const { socket, response } = Deno.upgradeWebSocket(request, {
      idleTimeout: IDLE_TIMEOUT_S,
      ...(ndjson ? { protocol: NDJSON_SUBPROTOCOL } : {}),
    });
    socket.binaryType = "arraybuffer";
    const done = Promise.withResolvers<void>();
    let connection: Connection | undefined;
    let counted = false;
    /** Counts the connection out, once: when it closes, or is given up on. */
    const gone = () => {
      if (counted) return;
      counted = true;
      if (connection !== undefined) {
        connection.close("disconnected");
        connections.closed(connection);
      }
      this.#sockets.delete(done.promise);
      done.resolve();
    };
    const transport = new WebSocketTransport(
      socket,
      remoteAddr,
      this.#options.maxQueueBytes,
      ndjson,
      gone,
    );
    this.#sockets.add(done.promise);
    /** The frames waiting for the one before to be handled (a password check takes a while). */
    let chain: Promise<void> = Promise.resolve();
    socket.onopen = () => {
      connection = connections.open(transport);
    };
    socket.onmessage = (event) => {
      const current = connection;
      if (current === undefined || current.closing) return;
      chain = chain.then(() =>
        ndjson ? this.#lines(current, event.data) : this.#message(current, event.data)
      );
    };
    socket.onclose = () => {
      transport.closed();
      gone();
    };
    socket.onerror = () => {
      // A close follows.
    };
    return response;
  }

  /** Handles one message: a frame, or a reason to close. */
  async #message(connection: Connection, data: unknown): Promise<void> {
    if (connection.closing) return;
    const { maxFrameBytes } = this.#options;
    if (typeof data !== "string") {
      return connection.close(
        "invalid_frame",
        "Binary messages are not taken: send each frame as JSON text; closing the connection",
      );
    }
    // A UTF-8 byte for each UTF-16 unit at least: a text this long is too long in bytes too.
    const bytes = data.length > maxFrameBytes ? undefined : encoder.encode(data);
    if (bytes === undefined || bytes.length > maxFrameBytes) {
      return connection.close(
        "frame_too_large",
        `Frame longer than ${maxFrameBytes} bytes; closing the connection`,
      );
    }
    await this.#receive(connection, bytes);
  }

  /** Handles one message under the subprotocol: text or binary, NDJSON lines, each a frame (the
   * last one's newline may be left off). The message may be as long as the send queue's bound
   * (or the frame limit, if that is larger): what the server would queue for the peer is what
   * the peer may send at once; each frame, as long as the frame limit. */
  async #lines(connection: Connection, data: unknown): Promise<void> {
    if (connection.closing) return;
    const { maxFrameBytes, maxQueueBytes } = this.#options;
    // A frame at the limit always fits, whatever the queue bound.
    const maxMessageBytes = Math.max(maxQueueBytes, maxFrameBytes);
    const tooLarge = () =>
      connection.close(
        "frame_too_large",
        `Frame longer than ${maxFrameBytes} bytes or message longer than ${maxMessageBytes}` +
          " bytes; closing the connection",
      );
    let bytes: Uint8Array;
    if (typeof data === "string") {
      if (data.length > maxMessageBytes) return tooLarge();
      bytes = encoder.encode(data);
    } else if (data instanceof ArrayBuffer) {
      bytes = new Uint8Array(data);
    } else {
      return connection.close("invalid_frame", "Unexpected message; closing the connection");
    }
    if (bytes.length > maxMessageBytes) return tooLarge();
    let start = 0;
    while (start < bytes.length && !connection.closing) {
      let end = bytes.indexOf(NEWLINE, start);
      if (end < 0) end = bytes.length;
      if (end - start > maxFrameBytes) return tooLarge();
      if (end > start) await this.#receive(connection, bytes.subarray(start, end));
      start = end + 1;
    }
  }

  /** Hands one frame's bytes to the connection. */
  async #receive(connection: Connection, bytes: Uint8Array): Promise<void> {
    try {
      await this.#connections().receive(connection, decodeClientFrame(bytes), bytes.length);
    } catch (error) {
      this.#options.log("error", `${connection.label} failed: ${error}`);
      connection.close("internal_error", "The server failed; closing the connection");
    }
  }

  /** The page's own origin (as the Host header names it, with the scheme the port serves) or
   * one allowed by the operator. */
  #originAllowed(origin: string, request: Request): boolean {
    if (this.#options.allowOrigins.includes(origin)) return true;
    const host = request.headers.get("host");
    if (host === null) return false;
    return origin === `${this.secure ? "https" : "http"}://${host}`;
  }
}

/** The close code for an end that `last` explains: 1000 (normal) without one, 1001 (going
 * away) when the server shuts down, 1009 (too big) for a frame over the limit, 1008 (policy
 * violation) for the rest. */
function closeCode(last: Outgoing | undefined): number {
  const frame = last?.frames[0];
  if (frame === undefined || frame.type !== "error") return 1000;
  if (frame.code === "server_shutdown") return 1001;
  if (frame.code === "frame_too_large") return 1009;
  return 1008;
}

function addrKey(addr: Deno.NetAddr): string {
  return `${addr.hostname} ${addr.port}`;
}

function respond(body: string, status: number, type: string, cache?: string): Response {
  const headers = new Headers(SECURITY_HEADERS);
  headers.set("content-type", type);
  if (cache !== undefined) headers.set("cache-control", cache);
  return new Response(body, { status, headers });
}
