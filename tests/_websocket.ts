// WebSocket peers for the tests of the web way in: a Deno WebSocket that collects the frames it is
// sent, and a raw TCP one that does the handshake by hand, so that it can send any Origin and
// stop reading at will.

import type { ChatServer } from "../server.ts";
import type { ServerFrame } from "../protocol.ts";
import { deadline } from "./_helpers.ts";

/** The WebSocket URL of `server`'s web port. */
export function wsUrl(server: ChatServer): string {
  return `ws://127.0.0.1:${server.httpAddr!.port}/ws`;
}

/** The HTTP base URL of `server`'s web port. */
export function httpUrl(server: ChatServer): string {
  return `http://127.0.0.1:${server.httpAddr!.port}`;
}

/** A Deno WebSocket that keeps every frame it receives, every message as it came, and how it
 * closed. A binary message (the `parley.ndjson` subprotocol) is taken as NDJSON lines. */
export class WsPeer implements AsyncDisposable {
  readonly socket: WebSocket;
  readonly frames: ServerFrame[] = [];
  /** Each message as received: a text message as text, a binary one as its bytes. */
  readonly messages: (string | Uint8Array)[] = [];
  /** Resolves with the close code once the socket is closed. */
  readonly closed: Promise<number>;
  #waiters = new Set<() => void>();

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => {
      if (typeof event.data === "string") {
        this.messages.push(event.data);
        this.frames.push(JSON.parse(event.data));
      } else {
        const bytes = new Uint8Array(event.data);
        this.messages.push(bytes);
        for (const line of decoder.decode(bytes).split("\n")) {
          if (line !== "") this.frames.push(JSON.parse(line));
        }
      }
      for (const wake of this.#waiters) wake();
    };
    this.closed = new Promise((resolve) => {
      socket.onclose = (event) => {
        resolve(event.code);
        for (const wake of this.#waiters) wake();
      };
    });
  }

  /** Opens a WebSocket to `server`, offering `protocol` if given; says hello as `name` if given
   * and waits for `welcome`. */
  static async open(server: ChatServer, name?: string, protocol?: string): Promise<WsPeer> {
    const socket = new WebSocket(wsUrl(server), protocol);
    const peer = new WsPeer(socket);
    await deadline(
      new Promise((resolve, reject) => {
        socket.onopen = resolve;
        socket.onerror = () => reject(new Error("WebSocket failed to open"));
      }),
      5000,
      "the WebSocket to open",
    );
    if (name !== undefined) {
      peer.send({ type: "hello", name });
      await peer.until((frame) => frame.type === "history", 5000, `${name}'s welcome`);
    }
    return peer;
  }

  send(frame: unknown): void {
    this.socket.send(JSON.stringify(frame));
  }

  /** Waits until one of the frames received satisfies `done`, and returns it. */
  async until(
    done: (frame: ServerFrame) => boolean,
    ms: number,
    what: string,
  ): Promise<ServerFrame> {
    const start = performance.now();
    while (true) {
      const found = this.frames.find(done);
      if (found !== undefined) return found;
      if (this.socket.readyState === WebSocket.CLOSED) {
        throw new Error(`The WebSocket closed while waiting for ${what}: ${this.#got()}`);
      }
      const left = ms - (performance.now() - start);
      if (left <= 0) {
        throw new Error(`Timed out after ${ms} ms waiting for ${what}: ${this.#got()}`);
      }
      let wake!: () => void;
      const woken = new Promise<void>((resolve) => wake = resolve);
      this.#waiters.add(wake);
      const timer = setTimeout(wake, left);
      await woken;
      clearTimeout(timer);
      this.#waiters.delete(wake);
    }
  }

  #got(): string {
    return `${this.frames.length} frames, the last: ${JSON.stringify(this.frames.slice(-2))}`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.socket.readyState !== WebSocket.CLOSED) this.socket.close();
    await deadline(this.closed, 5000, "the WebSocket to close");
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A WebSocket client written by hand over TCP: it sends what it likes and reads only when told. */
export class RawWebSocket implements AsyncDisposable {
  readonly conn: Deno.TcpConn | Deno.TlsConn;

  private constructor(conn: Deno.TcpConn | Deno.TlsConn) {
    this.conn = conn;
  }

  /**
   * Connects and sends the opening handshake, with `origin` as the Origin header and `protocol`
   * as the subprotocol offered if given, over TLS trusting the CA `ca` (PEM) if given; returns
   * the socket and the response's status line.
   */
  static async handshake(
    server: ChatServer,
    origin?: string,
    protocol?: string,
    ca?: string,
  ): Promise<{ socket: RawWebSocket; status: string }> {
    const address = { hostname: "127.0.0.1", port: server.httpAddr!.port };
    const conn = ca === undefined
      ? await Deno.connect(address)
      : await Deno.connectTls({ ...address, caCerts: [ca] });
    const socket = new RawWebSocket(conn);
    const host = `127.0.0.1:${server.httpAddr!.port}`;
    const request = [
      "GET /ws HTTP/1.1",
      `Host: ${host}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
      ...(origin === undefined ? [] : [`Origin: ${origin}`]),
      ...(protocol === undefined ? [] : [`Sec-WebSocket-Protocol: ${protocol}`]),
      "",
      "",
    ].join("\r\n");
    await conn.write(encoder.encode(request));
    // The response head, read a byte at a time so that no frame after it is taken.
    let head = "";
    const byte = new Uint8Array(1);
    while (!head.endsWith("\r\n\r\n")) {
      const count = await deadline(conn.read(byte), 5000, "the handshake's answer");
      if (count === null) break;
      head += decoder.decode(byte);
    }
    return { socket, status: head.split("\r\n")[0] ?? "" };
  }

  /** Sends `text` as one masked text frame. */
  async sendText(text: string): Promise<void> {
    const payload = encoder.encode(text);
    const mask = crypto.getRandomValues(new Uint8Array(4));
    const header = payload.length < 126
      ? Uint8Array.of(0x81, 0x80 | payload.length)
      : payload.length < 65536
      ? Uint8Array.of(0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff)
      : (() => {
        const bytes = new Uint8Array(10);
        bytes[0] = 0x81;
        bytes[1] = 0x80 | 127;
        new DataView(bytes.buffer).setBigUint64(2, BigInt(payload.length));
        return bytes;
      })();
    const frame = new Uint8Array(header.length + 4 + payload.length);
    frame.set(header);
    frame.set(mask, header.length);
    for (let i = 0; i < payload.length; i++) {
      frame[header.length + 4 + i] = payload[i]! ^ mask[i % 4]!;
    }
    let written = 0;
    while (written < frame.length) written += await this.conn.write(frame.subarray(written));
  }

  /** Reads until what was read (frame headers and all, as text) includes `text`; returns it. */
  async readUntil(text: string, ms: number): Promise<string> {
    const buffer = new Uint8Array(64 * 1024);
    let read = "";
    await deadline(
      (async () => {
        while (!read.includes(text)) {
          const count = await this.conn.read(buffer);
          if (count === null) throw new Error(`closed before ${JSON.stringify(text)} came`);
          read += decoder.decode(buffer.subarray(0, count), { stream: true });
        }
      })(),
      ms,
      `${JSON.stringify(text)} on the raw WebSocket`,
    );
    return read;
  }

  /** Reads and drops everything until the server closes the connection; returns the bytes read. */
  async drain(ms: number): Promise<number> {
    const buffer = new Uint8Array(64 * 1024);
    let total = 0;
    await deadline(
      (async () => {
        while (true) {
          const count = await this.conn.read(buffer).catch(() => null);
          if (count === null) return;
          total += count;
        }
      })(),
      ms,
      "the server to close the raw WebSocket",
    );
    return total;
  }

  [Symbol.asyncDispose](): Promise<void> {
    try {
      this.conn.close();
    } catch {
      // Closed already.
    }
    return Promise.resolve();
  }
}
