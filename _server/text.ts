// Plain text over TCP: the way in for `nc HOST PORT` and `telnet HOST PORT`. A connection is asked
// for a name (and the server's password, if it has one, and the name's, if it is registered),
// then every line typed is a message to the current room or a slash command, the terminal
// client's own (_text/commands.ts), and frames come back as the terminal client's lines
// (_text/format.ts) without colour, each ended by CRLF. Telnet's option negotiation is taken out
// of the input and every option refused. The frames a line makes go through connections.ts like
// any NDJSON frame's, so every limit, flood control and byte rate applies as it does there.

import { type ByteStream, concat } from "../_net/framing.ts";
import { type Command, COMMAND_HELP, parseCommand } from "../_text/commands.ts";
import { formatFrame, formatNotice } from "../_text/format.ts";
import { requestFor } from "../_text/requests.ts";
import { RoomView } from "../_text/room_view.ts";
import { VERSION } from "../_protocol/version.ts";
import type { Connection, Connections } from "./connections.ts";
import type { ServerConn } from "./listeners.ts";
import {
  decodeLine,
  LineAdapter,
  type LineOptions,
  type LineSession,
  type LineTransport,
} from "./lines.ts";
import { dropSlow, type Outgoing } from "./peer.ts";
import {
  type ClientFrame,
  decodeClientFrame,
  type MessageFrame,
  type ServerFrame,
} from "../protocol.ts";

/** How the plain-text adapter works. */
export interface TextOptions extends LineOptions {
  /** Whether the server has a password: it is asked for after the name. */
  serverPassword: boolean;
}

/** Serves plain-text connections. */
export class TextAdapter extends LineAdapter {
  constructor(connections: Connections, options: TextOptions) {
    super(
      connections,
      options,
      (transport) => new TextSession(connections, transport, options.serverPassword),
    );
  }
}

const encoder = new TextEncoder();

// Telnet (RFC 854): IAC starts a command; WILL, WONT, DO and DONT take an option byte; SB opens
// a subnegotiation that IAC SE closes; IAC IAC is a literal 255.
const IAC = 255;
const DONT = 254;
const DO = 253;
const WONT = 252;
const WILL = 251;
const SB = 250;
const SE = 240;

/** What the reader is in the middle of. */
const enum Telnet {
  Data,
  Command,
  Option,
  Sub,
  SubCommand,
}

/**
 * The reading side of a telnet or raw connection, with telnet commands taken out: only the
 * bytes typed reach the lines. A request to turn an option on (DO, WILL) is refused once per
 * option (WONT, DONT), so a client waiting for an answer has one; everything else is dropped.
 * Since 255 never occurs in UTF-8, nothing a `nc` user can type is lost by this.
 */
export class TelnetFilter implements ByteStream {
  #stream: ByteStream;
  #refuse: (answer: Uint8Array) => void;
  #state = Telnet.Data;
  #command = 0;
  /** The requests answered, as command × 256 + option: each once. */
  #answered = new Set<number>();

  /** Reads `stream`; hands `refuse` the bytes that refuse an option. */
  constructor(stream: ByteStream, refuse: (answer: Uint8Array) => void) {
    this.#stream = stream;
    this.#refuse = refuse;
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (true) {
      const count = await this.#stream.read(buffer);
      if (count === null) return null;
      const kept = this.filter(buffer.subarray(0, count));
      if (kept > 0) return kept;
    }
  }

  write(data: Uint8Array): Promise<number> {
    return this.#stream.write(data);
  }

  /** Takes telnet commands out of `bytes` in place; returns how many bytes are left. */
  filter(bytes: Uint8Array): number {
    let kept = 0;
    for (const byte of bytes) {
      switch (this.#state) {
        case Telnet.Data:
          if (byte === IAC) this.#state = Telnet.Command;
          else bytes[kept++] = byte;
          break;
        case Telnet.Command:
          if (byte === IAC) {
            bytes[kept++] = byte;
            this.#state = Telnet.Data;
          } else if (byte >= WILL && byte <= DONT) {
            this.#command = byte;
            this.#state = Telnet.Option;
          } else {
            this.#state = byte === SB ? Telnet.Sub : Telnet.Data;
          }
          break;
        case Telnet.Option:
          this.#answer(this.#command, byte);
          this.#state = Telnet.Data;
          break;
        case Telnet.Sub:
          if (byte === IAC) this.#state = Telnet.SubCommand;
          break;
        case Telnet.SubCommand:
          this.#state = byte === SE ? Telnet.Data : Telnet.Sub;
          break;
      }
    }
    return kept;
  }

  #answer(command: number, option: number): void {
    if (command !== DO && command !== WILL) return;
    const key = command * 256 + option;
    if (this.#answered.has(key)) return;
    this.#answered.add(key);
    this.#refuse(Uint8Array.of(IAC, command === DO ? WONT : DONT, option));
  }
}

/** Where a connection is on its way in. */
type Stage = "name" | "serverPassword" | "password" | "joined";

/** The `ping` id of `/ping`. */
const PING_ID = "text";

/** Each room message's lines, made once for every plain-text reader: [one room, several]. */
const rendered = new WeakMap<ServerFrame, (Uint8Array | undefined)[]>();

/** One plain-text connection: its way in, then its rooms, as the terminal client keeps them. */
class TextSession implements LineSession {
  #connections: Connections;
  #transport: LineTransport;
  #askServerPassword: boolean;
  #connection: Connection | undefined;
  #stage: Stage = "name";
  #serverPassword: string | undefined;
  #password: string | undefined;
  /** The name asked for or joined under, the rooms this user is in and the current one. */
  #view = new RoomView();
  #pingSentAt: number | undefined;

  constructor(connections: Connections, transport: LineTransport, askServerPassword: boolean) {
    this.#connections = connections;
    this.#transport = transport;
    this.#askServerPassword = askServerPassword;
  }

  input(conn: ServerConn): ByteStream {
    // Nothing pings a person (see `#render`): TCP keepalive finds a peer that vanished.
    if ("setKeepAlive" in conn) conn.setKeepAlive(true);
    return new TelnetFilter(conn, (answer) => this.#push(answer));
  }

  start(connection: Connection): void {
    this.#connection = connection;
    if (connection.closing) return;
    this.#write(
      [
        `Parley ${VERSION}: every line you type is a message; /help lists the commands, ` +
        "/quit leaves.",
      ],
      "Your name: ",
    );
  }

  line(bytes: Uint8Array, connection: Connection): void | Promise<void> {
    const decoded = decodeLine(bytes, connection, this.#connections);
    if (decoded.text === undefined) return decoded.refused;
    const text = decoded.text;
    switch (this.#stage) {
      case "name":
        this.#view.name = text.trim();
        this.#password = undefined;
        if (this.#askServerPassword && this.#serverPassword === undefined) {
          this.#stage = "serverPassword";
          return this.#write([], "Password: ");
        }
        return this.#hello(connection, bytes.length);
      case "serverPassword":
        this.#serverPassword = text;
        return this.#hello(connection, bytes.length);
      case "password":
        this.#password = text;
        return this.#hello(connection, bytes.length);
      case "joined":
        return this.#execute(connection, parseCommand(text), bytes.length);
    }
  }

  encode(out: Outgoing): Uint8Array {
    const parts: Uint8Array[] = [];
    for (const frame of out.frames) {
      const bytes = this.#render(frame);
      if (bytes !== undefined) parts.push(bytes);
    }
    return parts.length === 1 ? parts[0]! : concat(parts);
  }

  #hello(connection: Connection, bytes: number): void | Promise<void> {
    const frame: ClientFrame = { type: "hello", name: this.#view.name };
    if (this.#serverPassword !== undefined) frame.serverPassword = this.#serverPassword;
    if (this.#password !== undefined) frame.password = this.#password;
    return this.#send(connection, frame, bytes);
  }

  /** Hands `frame` to the connections as if it had come as NDJSON: checked the same way. */
  #send(connection: Connection, frame: ClientFrame, bytes: number): void | Promise<void> {
    const decoded = decodeClientFrame(encoder.encode(JSON.stringify(frame)));
    return this.#connections.receive(connection, decoded, bytes);
  }

  /** Carries out a typed line, as the terminal client does. */
  #execute(connection: Connection, command: Command, bytes: number): void | Promise<void> {
    const send = (frame: ClientFrame) => this.#send(connection, frame, bytes);
    switch (command.type) {
      case "ping":
        this.#pingSentAt = performance.now();
        return send({ type: "ping", id: PING_ID });
      case "help":
        return this.#notice(COMMAND_HELP);
      case "quit":
        this.#notice("Bye.");
        return send({ type: "quit" });
    }
    const request = requestFor(command, this.#view);
    if ("focus" in request) this.#view.setCurrent(request.focus);
    if ("notice" in request) return this.#notice(request.notice);
    return send(request.frame);
  }

  /** Keeps the picture of the rooms up to date from `frame`, and returns its lines, if any. */
  #render(frame: ServerFrame): Uint8Array | undefined {
    const connection = this.#connection;
    switch (frame.type) {
      case "ping":
        // Someone at a keyboard cannot answer a ping: any connection still open to be written
        // to is taken as alive (TCP notices a peer that is gone once a write goes unanswered).
        if (connection !== undefined) {
          this.#connections.receive(connection, { ok: true, frame: { type: "pong" } }, 0);
        }
        return undefined;
      case "pong": {
        if (frame.id !== PING_ID || this.#pingSentAt === undefined) return undefined;
        const ms = performance.now() - this.#pingSentAt;
        this.#pingSentAt = undefined;
        return this.#lines([
          formatNotice(`pong: ${ms.toFixed(1)} ms`, { color: false, time: true }),
        ]);
      }
      case "welcome":
        this.#stage = "joined";
        break;
      case "message":
        this.#view.update(frame);
        return this.#message(frame);
      case "error":
        if (this.#stage !== "joined" && connection !== undefined && !connection.closing) {
          return this.#refused(frame.code, frame.message);
        }
        break;
    }
    this.#view.update(frame);
    const formatted = formatFrame(frame, {
      color: false,
      time: true,
      me: this.#view.name,
      showRoom: this.#view.size > 1,
    });
    return formatted === undefined ? undefined : this.#lines([formatted.text]);
  }

  /** A room message's lines, made once for all plain-text readers who show rooms alike. */
  #message(frame: MessageFrame): Uint8Array {
    const showRoom = this.#view.size > 1;
    let forms = rendered.get(frame);
    if (forms === undefined) {
      forms = [undefined, undefined];
      rendered.set(frame, forms);
    }
    const index = showRoom ? 1 : 0;
    return forms[index] ??= this.#lines([
      formatFrame(frame, { color: false, time: true, showRoom })!.text,
    ]);
  }

  /** What a refused `hello` asks next: a password, or the name again. */
  #refused(code: string, message: string): Uint8Array {
    const error = formatNotice(`error: ${message} (${code})`, { color: false, time: true });
    if (code === "auth_failed") {
      this.#stage = "serverPassword";
      return this.#lines([error], "Password: ");
    }
    if (code === "wrong_password" && this.#password === undefined) {
      this.#stage = "password";
      return this.#lines([], `Password for ${this.#view.name}: `);
    }
    this.#stage = "name";
    return this.#lines([error], "Your name: ");
  }

  #notice(text: string): void {
    this.#write([formatNotice(text, { color: false, time: true })]);
  }

  /** Writes `entries` (each one or more lines) and then `prompt`, with no line end after it. */
  #write(entries: string[], prompt = ""): void {
    this.#push(this.#lines(entries, prompt));
  }

  #push(bytes: Uint8Array): void {
    if (!this.#transport.push(bytes) && this.#connection !== undefined) {
      dropSlow(this.#connection);
    }
  }

  /** `entries` as CRLF-ended lines, then `prompt`. */
  #lines(entries: string[], prompt = ""): Uint8Array {
    let text = "";
    for (const entry of entries) text += entry.replaceAll("\n", "\r\n") + "\r\n";
    return encoder.encode(text + prompt);
  }
}
