// IRC over TCP: the way in for irssi, WeeChat, HexChat and bots. An IRC user is a Parley user
// under the same name, its nick; a room is the channel `#room`. Registration (CAP, PASS, NICK,
// USER, SASL PLAIN) ends in the `hello` frame; each command after it becomes a frame the chat
// answers, or is answered here from what the session knows (MODE, AWAY, MOTD); the chat's
// frames come back as IRC lines. Every frame goes through connections.ts like an NDJSON one, and
// every command answered here is charged to the flood control as a `ping` would be, so every
// limit applies as it does there. The server's idle `ping` becomes `PING`, the client's `PONG` a
// `pong`. docs/PROTOCOL.md, "IRC", says what is supported and what is not.

import { concat } from "../_net/framing.ts";
import { VERSION } from "../_protocol/version.ts";
import type { Connection, Connections } from "./connections.ts";
import {
  formatMessage,
  MAX_LINE_BYTES,
  MAX_TAG_BYTES,
  parseMessage,
  splitText,
} from "./irc_message.ts";
import {
  decodeLine,
  LineAdapter,
  type LineOptions,
  type LineSession,
  type LineTransport,
} from "./lines.ts";
import type { ServerConn } from "./listeners.ts";
import { dropSlow, type Outgoing } from "./peer.ts";
import { RoomView } from "../_text/room_view.ts";
import {
  checkClientFrame,
  type ClientFrame,
  type ErrorFrame,
  foldName,
  MAX_NAME_LENGTH,
  MAX_ROOM_LENGTH,
  MAX_TOPIC_LENGTH,
  type MessageFrame,
  type ServerFrame,
  type StoredMessage,
} from "../protocol.ts";

/** How the IRC adapter works. Its line limit is IRC's, not `maxFrameBytes`. */
export type IrcOptions = Omit<LineOptions, "maxFrameBytes">;

/** The name the gateway goes by, as the source of its own lines. */
const SERVER = "parley";

/** The capabilities offered, as `CAP LS 302` lists them. */
const CAPS: ReadonlyMap<string, string> = new Map([
  ["server-time", ""],
  ["message-tags", ""],
  ["echo-message", ""],
  ["batch", ""],
  ["sasl", "PLAIN"],
]);

/** The `ping` id of the frames that charge a command answered here to the flood control. */
const LOCAL_PING = "irc";

/** The longest line read: IRC's 512 bytes plus the tags a client may add. */
const MAX_READ_BYTES = MAX_LINE_BYTES + MAX_TAG_BYTES;

/** A SASL chunk of this many bytes says that more follow. */
const SASL_CHUNK = 400;

/** Serves IRC connections. */
export class IrcAdapter extends LineAdapter {
  constructor(connections: Connections, options: IrcOptions) {
    const created = new Date().toUTCString();
    super(
      connections,
      { ...options, maxFrameBytes: MAX_READ_BYTES },
      (transport) => new IrcSession(connections, transport, created),
    );
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A query answered over several frames (pages of `users` or `rooms`), in the order asked. */
type Query =
  | { kind: "names" | "who"; room: string }
  | { kind: "whois"; nick: string }
  | { kind: "list" };

/** The command being handed to the chat: its errors are answered as this command's numerics. */
interface Context {
  /** The IRC target the error is about: a channel (with `#`) or a nick. */
  target: string;
  /** Whether the chat answered with an error. */
  failed: boolean;
}

/** Each room message's lines, made once for every IRC reader: [without tags, with `time`]. */
const rendered = new WeakMap<MessageFrame, (Uint8Array | undefined)[]>();

/** A run of room messages delivered together, its lines joined once for every IRC reader, in
 * the same two forms: a room's readers share one buffer, as NDJSON readers do. */
const joined = new WeakMap<Outgoing, (Uint8Array | undefined)[]>();

/** A user's source in IRC lines: `nick!nick@parley`. */
function source(name: string): string {
  return `${name}!${name}@${SERVER}`;
}

/** One IRC connection: its registration, then its rooms. */
class IrcSession implements LineSession {
  #connections: Connections;
  #transport: LineTransport;
  #created: string;
  #connection: Connection | undefined;
  /** The nick asked for, until the chat welcomes it; then the name, as renamed since. */
  #view = new RoomView();
  #nick: string | undefined;
  #user = false;
  #serverPassword: string | undefined;
  #password: string | undefined;
  #saslBuffer: string | undefined;
  /** True between `CAP LS`/`REQ` and `CAP END` before registration: it waits. */
  #negotiating = false;
  #helloSent = false;
  #registered = false;
  #caps = new Set<string>();
  #away = false;
  #context: Context | undefined;
  #queries: Query[] = [];
  /** When this session entered each room (seconds), for 329. */
  #enteredAt = new Map<string, number>();
  #batches = 0;
  /** A password check the next line waits for. */
  #waiting: Promise<void> | undefined;

  constructor(connections: Connections, transport: LineTransport, created: string) {
    this.#connections = connections;
    this.#transport = transport;
    this.#created = created;
  }

  input(conn: ServerConn): ServerConn {
    return conn;
  }

  start(connection: Connection): void {
    this.#connection = connection;
  }

  encode(out: Outgoing): Uint8Array {
    if (out.frames.length > 1 && out.frames[0]!.type === "message") {
      const index = this.#caps.has("server-time") ? 1 : 0;
      let forms = joined.get(out);
      if (forms === undefined) {
        if (!out.frames.every((frame) => frame.type === "message")) return this.#encode(out);
        joined.set(out, forms = [undefined, undefined]);
      }
      return forms[index] ??= this.#encode(out);
    }
    return this.#encode(out);
  }

  /** The lines that carry `out` to this reader. */
  #encode(out: Outgoing): Uint8Array {
    const parts: Uint8Array[] = [];
    for (const frame of out.frames) {
      const bytes = frame.type === "message" ? this.#message(frame) : this.#render(frame);
      if (bytes.length > 0) parts.push(bytes);
    }
    return parts.length === 1 ? parts[0]! : concat(parts);
  }

  line(bytes: Uint8Array, connection: Connection): void | Promise<void> {
    const decoded = decodeLine(bytes, connection, this.#connections);
    if (decoded.text === undefined) return decoded.refused;
    let text = decoded.text;
    if (text.endsWith("\r")) text = text.slice(0, -1);
    const message = parseMessage(text);
    if (message === undefined) return;
    // The tags have their own bound (the reader's); the rest is held to IRC's 512 bytes.
    if (message.bodyBytes > MAX_LINE_BYTES - 2) {
      if (this.#tick(connection, bytes.length)) {
        this.#reply("417", ["Input line was too long"]);
      }
      return;
    }
    this.#command(message.command, message.params, connection, bytes.length);
    const waiting = this.#waiting;
    this.#waiting = undefined;
    return waiting;
  }

  /** Carries out one command. */
  #command(command: string, params: string[], connection: Connection, bytes: number): void {
    const before = ["CAP", "PASS", "NICK", "USER", "AUTHENTICATE", "PING", "PONG", "QUIT"];
    if (!this.#registered && !before.includes(command)) {
      if (this.#tick(connection, bytes)) this.#reply("451", ["You have not registered"]);
      return;
    }
    const needs = (count: number) => {
      if (params.length >= count && (count === 0 || params[count - 1] !== "")) return true;
      this.#reply("461", [command, "Not enough parameters"]);
      return false;
    };
    // Frames the chat handles are charged there; commands answered here, by `#tick`.
    switch (command) {
      case "PONG":
        this.#connections.receive(connection, { ok: true, frame: { type: "pong" } }, 0);
        return;
      case "QUIT":
        this.#write(formatMessage(undefined, "ERROR", ["Closing link: Quit"], true));
        this.#send(connection, { type: "quit" }, bytes, "");
        return;
      case "NICK":
        if (params[0] === undefined || params[0] === "") {
          if (this.#tick(connection, bytes)) this.#reply("431", ["No nickname given"]);
          return;
        }
        if (this.#registered) {
          this.#send(connection, { type: "nick", name: params[0] }, bytes, params[0]);
          return;
        }
        if (!this.#tick(connection, bytes)) return;
        this.#nick = params[0];
        return this.#register(connection);
      case "JOIN":
        return this.#join(params, connection, bytes, "join");
      case "PART":
        return this.#join(params, connection, bytes, "part");
      case "PRIVMSG":
      case "NOTICE":
        return this.#privmsg(command, params, connection, bytes);
      case "TOPIC":
        return this.#topic(params, connection, bytes);
      case "NAMES":
      case "WHO": {
        if (!this.#tick(connection, bytes)) return;
        const target = params[0] ?? "*";
        const room = target.startsWith("#") ? this.#room(target) : undefined;
        if (room === undefined) {
          // A WHO of a nick or a mask, or NAMES of everything, is not answered with a list.
          return command === "WHO"
            ? this.#reply("315", [target, "End of WHO list"])
            : this.#reply("366", [target, "End of NAMES list"]);
        }
        return this.#query({ kind: command === "WHO" ? "who" : "names", room }, connection);
      }
      case "WHOIS": {
        if (!this.#tick(connection, bytes)) return;
        const nick = params.at(-1);
        if (nick === undefined || nick === "") return this.#reply("431", ["No nickname given"]);
        return this.#query({ kind: "whois", nick }, connection);
      }
      case "LIST":
        if (!this.#tick(connection, bytes)) return;
        this.#reply("321", ["Channel", "Users  Name"]);
        return this.#query({ kind: "list" }, connection);
      case "KICK": {
        if (!needs(2)) return;
        const frame: ClientFrame = { type: "kick", name: params[1]! };
        if (params[2]) frame.reason = params[2];
        this.#send(connection, frame, bytes, params[0]!);
        return;
      }
    }
    // The rest is answered here.
    if (!this.#tick(connection, bytes)) return;
    switch (command) {
      case "CAP":
        return this.#cap(params, connection);
      case "AUTHENTICATE":
        return this.#authenticate(params);
      case "PASS":
        if (this.#registered) return this.#reply("462", ["You may not reregister"]);
        if (!needs(1)) return;
        this.#serverPassword = params[0];
        return;
      case "USER":
        if (this.#registered) return this.#reply("462", ["You may not reregister"]);
        if (!needs(4)) return;
        this.#user = true;
        return this.#register(connection);
      case "PING":
        if (!needs(1)) return;
        return this.#write(formatMessage(SERVER, "PONG", [SERVER, params[0]!], true));
      case "MODE":
        return this.#mode(params, needs);
      case "AWAY":
        this.#away = params[0] !== undefined && params[0] !== "";
        return this.#away
          ? this.#reply("306", ["You have been marked as being away"])
          : this.#reply("305", ["You are no longer marked as being away"]);
      case "MOTD":
        return this.#reply("422", ["MOTD File is missing"]);
      case "LUSERS":
        return this.#lusers();
      default:
        return this.#reply("421", [command, "Unknown command"]);
    }
  }

  /** JOIN or PART of each channel listed: a frame each, charged as such; a command that makes
   * none is charged as one. */
  #join(params: string[], connection: Connection, bytes: number, type: "join" | "part"): void {
    const list = params[0];
    // Joining a channel one is in does nothing, as on IRC servers.
    const wanted = (channel: string) =>
      channel.length > 1 && channel.startsWith("#") &&
      (type === "part" || this.#view.get(channel.slice(1)) === undefined);
    if (list === undefined || list === "" || !list.split(",").some(wanted)) {
      if (!this.#tick(connection, bytes)) return;
      if (list === undefined || list === "") {
        return this.#reply("461", [type.toUpperCase(), "Not enough parameters"]);
      }
    }
    for (const channel of list.split(",")) {
      const room = this.#room(channel);
      if (room === undefined || !wanted(channel)) continue;
      this.#send(connection, { type, room }, bytes, channel);
      bytes = 0;
    }
  }

  #privmsg(command: string, params: string[], connection: Connection, bytes: number): void {
    if (params[0] === undefined || params[0] === "") {
      if (this.#tick(connection, bytes)) this.#reply("411", [`No recipient given (${command})`]);
      return;
    }
    if (params[1] === undefined || params[1] === "") {
      if (this.#tick(connection, bytes)) this.#reply("412", ["No text to send"]);
      return;
    }
    const target = params[0];
    let text = params[1];
    let action = false;
    if (text.startsWith("\x01")) {
      const ctcp = text.endsWith("\x01") ? text.slice(1, -1) : text.slice(1);
      // Only ACTION means something here: other CTCP queries (VERSION, PING) are dropped.
      if (!ctcp.startsWith("ACTION ")) {
        this.#tick(connection, bytes);
        return;
      }
      text = ctcp.slice("ACTION ".length);
      action = true;
    }
    let frame: ClientFrame;
    if (target.startsWith("#")) {
      const room = this.#room(target);
      if (room === undefined) return;
      frame = { type: "send", room, text };
      if (action) frame.action = true;
    } else {
      // Parley has no private actions: one is sent as its text.
      frame = { type: "msg", to: target, text };
    }
    const failed = this.#send(connection, frame, bytes, target);
    if (!failed && this.#caps.has("echo-message")) {
      this.#write(
        this.#privmsgLines(
          this.#view.name,
          target,
          text,
          action,
          new Date().toISOString(),
          command,
        ),
      );
    }
  }

  #topic(params: string[], connection: Connection, bytes: number): void {
    if (params[0] === undefined || params[0] === "") {
      if (this.#tick(connection, bytes)) this.#reply("461", ["TOPIC", "Not enough parameters"]);
      return;
    }
    const room = this.#room(params[0]);
    if (room === undefined) return;
    if (params[1] !== undefined) {
      this.#send(connection, { type: "topic", room, topic: params[1] }, bytes, params[0]);
      return;
    }
    if (!this.#tick(connection, bytes)) return;
    const known = this.#view.get(room);
    if (known === undefined) return this.#reply("442", [params[0], "You're not on that channel"]);
    if (known.topic === "") return this.#reply("331", [`#${known.name}`, "No topic is set"]);
    const channel = `#${known.name}`;
    this.#write(
      this.#numeric("332", [channel, known.topic]) + this.#topicWho(channel, known.topicSetter),
    );
  }

  /** 333, who set the topic and when (in Unix seconds), if that is known; else nothing. */
  #topicWho(channel: string, setter: { by: string; ts: string } | undefined): string {
    if (setter === undefined) return "";
    const seconds = Math.floor(Date.parse(setter.ts) / 1000);
    if (!Number.isFinite(seconds)) return "";
    return this.#numeric("333", [channel, setter.by, String(seconds)], false);
  }

  #mode(params: string[], needs: (count: number) => boolean): void {
    if (!needs(1)) return;
    const target = params[0]!;
    const modes = params[1];
    if (target.startsWith("#")) {
      const room = this.#view.get(target.slice(1));
      const channel = room === undefined ? target : `#${room.name}`;
      if (modes === undefined) {
        this.#reply("324", [channel, "+nt"]);
        const at = room && this.#enteredAt.get(foldName(room.name));
        return this.#reply("329", [channel, String(at ?? 0)]);
      }
      if (/^[+]?b$/.test(modes) && params.length === 2) {
        return this.#reply("368", [channel, "End of channel ban list"]);
      }
      return this.#reply("482", [channel, "Parley channels have no modes to change"]);
    }
    if (foldName(target) !== foldName(this.#view.name)) {
      return this.#reply("502", ["Can't change mode for other users"]);
    }
    // Clients set their own modes on connecting (`+i`); Parley users have none: nothing changes,
    // and nothing needs saying.
    if (modes === undefined) this.#reply("221", ["+"]);
  }

  #cap(params: string[], connection: Connection): void {
    const sub = params[0]?.toUpperCase();
    const nick = this.#registered ? this.#view.name : this.#nick ?? "*";
    const cap = (...rest: string[]) =>
      this.#write(formatMessage(SERVER, "CAP", [nick, ...rest], true));
    switch (sub) {
      case "LS": {
        if (!this.#registered) this.#negotiating = true;
        const values = Number(params[1]) >= 302;
        const list = [...CAPS].map(([name, value]) => values && value ? `${name}=${value}` : name);
        return cap("LS", list.join(" "));
      }
      case "LIST":
        return cap("LIST", [...this.#caps].join(" "));
      case "REQ": {
        if (!this.#registered) this.#negotiating = true;
        const asked = (params[1] ?? "").split(" ").filter((name) => name !== "");
        if (asked.length === 0 || asked.some((name) => !CAPS.has(name.replace(/^-/, "")))) {
          return cap("NAK", params[1] ?? "");
        }
        for (const name of asked) {
          if (name.startsWith("-")) this.#caps.delete(name.slice(1));
          else this.#caps.add(name);
        }
        return cap("ACK", params[1]!);
      }
      case "END":
        if (this.#registered || !this.#negotiating) return;
        this.#negotiating = false;
        return this.#register(connection);
      default:
        return this.#reply("410", [params[0] ?? "", "Invalid CAP command"]);
    }
  }

  /** SASL PLAIN: the password is kept for `hello`, which checks it (see PROTOCOL.md). */
  #authenticate(params: string[]): void {
    const arg = params[0] ?? "";
    if (this.#registered) return this.#reply("907", ["You have already authenticated"]);
    if (arg === "*") {
      this.#saslBuffer = undefined;
      return this.#reply("906", ["SASL authentication aborted"]);
    }
    if (this.#saslBuffer === undefined) {
      if (arg.toUpperCase() !== "PLAIN" || !this.#caps.has("sasl")) {
        this.#reply("908", ["PLAIN", "are available SASL mechanisms"]);
        return this.#reply("904", ["SASL authentication failed"]);
      }
      this.#saslBuffer = "";
      return this.#write(formatMessage(undefined, "AUTHENTICATE", ["+"]));
    }
    if (arg !== "+") this.#saslBuffer += arg;
    if (arg.length === SASL_CHUNK) return;
    const data = this.#saslBuffer;
    this.#saslBuffer = undefined;
    let fields: string[];
    try {
      fields = decoder.decode(Uint8Array.from(atob(data), (char) => char.charCodeAt(0)))
        .split("\0");
    } catch {
      return this.#reply("904", ["SASL authentication failed"]);
    }
    const [, account, password] = fields;
    if (fields.length !== 3 || !account || !password) {
      return this.#reply("904", ["SASL authentication failed"]);
    }
    this.#nick ??= account;
    this.#password = password;
    this.#reply("900", [source(this.#nick), account, `You are now logged in as ${account}`]);
    return this.#reply("903", ["SASL authentication successful"]);
  }

  /** Says `hello` once NICK, USER and CAP END (if CAP was spoken) have come. */
  #register(connection: Connection): void {
    if (this.#registered || this.#helloSent) return;
    if (this.#nick === undefined || !this.#user || this.#negotiating) return;
    this.#helloSent = true;
    this.#view.name = this.#nick;
    const frame: ClientFrame = { type: "hello", name: this.#nick };
    if (this.#serverPassword !== undefined) frame.serverPassword = this.#serverPassword;
    if (this.#password !== undefined) frame.password = this.#password;
    const result = this.#send(connection, frame, 0, this.#nick);
    if (result && !this.#registered) this.#helloSent = false;
  }

  /** Asks the chat for the first page of `query`. */
  #query(query: Query, connection: Connection): void {
    this.#queries.push(query);
    const frame: ClientFrame = query.kind === "list"
      ? { type: "rooms" }
      : query.kind === "whois"
      ? { type: "who" }
      : { type: "who", room: query.room };
    if (
      this.#send(
        connection,
        frame,
        0,
        query.kind === "names" || query.kind === "who" ? `#${query.room}` : "*",
      )
    ) {
      this.#queries.pop();
      this.#write(this.#end(query));
    }
  }

  /**
   * Hands `frame` to the connections as if it had come as NDJSON (checked the same way), with
   * `target` as what an error is about. Returns true if the chat refused it at once.
   */
  #send(connection: Connection, frame: ClientFrame, bytes: number, target: string): boolean {
    const decoded = checkClientFrame(frame);
    const context: Context = { target, failed: false };
    const outer = this.#context;
    this.#context = context;
    try {
      const result = this.#connections.receive(connection, decoded, bytes);
      if (result instanceof Promise) {
        // A password being checked: its answer comes later, about the same target, and the
        // next line waits for it.
        this.#waiting = result.finally(() => {
          if (this.#context === context) this.#context = undefined;
        });
        return false;
      }
    } finally {
      if (this.#context === context) this.#context = outer;
    }
    return context.failed;
  }

  /** Charges a command answered here to the flood control; false if it is to be dropped. */
  #tick(connection: Connection, bytes: number): boolean {
    const frame = { type: "ping" as const, id: LOCAL_PING };
    this.#connections.receive(connection, { ok: true, frame }, bytes);
    return connection.strikes === 0 && !connection.closing;
  }

  /** The room a channel names; answers 403 for one that is not a channel. */
  #room(channel: string): string | undefined {
    if (channel.startsWith("#") && channel.length > 1) return channel.slice(1);
    this.#reply("403", [channel, "No such channel"]);
    return undefined;
  }

  /** The lines of a frame. */
  #render(frame: ServerFrame): Uint8Array {
    return encoder.encode(this.#lines(frame));
  }

  #lines(frame: ServerFrame): string {
    const me = this.#view.name;
    switch (frame.type) {
      case "ping":
        return formatMessage(undefined, "PING", [String(frame.id ?? SERVER)], true);
      case "pong":
        return "";
      case "welcome":
        this.#view.update(frame);
        this.#registered = true;
        return this.#welcome(frame.name, frame.operator === true);
      case "entered": {
        this.#view.update(frame);
        this.#enteredAt.set(foldName(frame.room), Math.floor(Date.now() / 1000));
        const channel = `#${frame.room}`;
        let text = formatMessage(source(me), "JOIN", [channel]);
        if (frame.topic) {
          text += this.#numeric("332", [channel, frame.topic]) +
            this.#topicWho(channel, this.#view.get(frame.room)?.topicSetter);
        }
        text += this.#names(channel, [me, ...frame.users]);
        return text + this.#numeric("366", [channel, "End of NAMES list"]);
      }
      case "history":
        return this.#history(frame.room, frame.messages);
      case "joined":
        return formatMessage(source(frame.name), "JOIN", [`#${frame.room}`]);
      case "left": {
        this.#view.update(frame);
        const channel = `#${frame.room}`;
        if (frame.reason === "part") return formatMessage(source(frame.name), "PART", [channel]);
        const why = frame.reason === "quit" ? "Quit" : frame.reason.replaceAll("_", " ");
        return formatMessage(source(frame.name), "QUIT", [why], true);
      }
      case "renamed": {
        const text = formatMessage(source(frame.from), "NICK", [frame.to], true);
        this.#view.update(frame);
        return text;
      }
      case "topic":
        this.#view.update(frame);
        return formatMessage(source(frame.by), "TOPIC", [`#${frame.room}`, frame.topic], true);
      case "private":
        return this.#privmsgLines(frame.from, frame.to, frame.text, false, frame.ts);
      case "users":
        return this.#users(frame.users, frame.more === true ? frame.next : undefined);
      case "rooms": {
        const query = this.#queries[0];
        if (query?.kind !== "list") return "";
        let text = "";
        for (const room of frame.rooms) {
          text += this.#numeric("322", [`#${room.name}`, String(room.users), room.topic ?? ""]);
        }
        if (frame.more === true && frame.next !== undefined) {
          queueMicrotask(() => this.#page({ type: "rooms", after: frame.next! }));
          return text;
        }
        this.#queries.shift();
        return text + this.#end(query);
      }
      case "notice":
        return splitText(frame.text, 400).map((line) =>
          formatMessage(SERVER, "NOTICE", [me || "*", line], true)
        ).join("");
      case "stats":
        return formatMessage(SERVER, "NOTICE", [
          me,
          `connections ${frame.connections}, users ${frame.users}, rooms ${frame.rooms}, ` +
          `${frame.messagesPerSecond.toFixed(1)} messages/s, ` +
          `${Math.round(frame.memoryBytes / 1048576)} MiB, up ${Math.round(frame.uptimeSeconds)} s`,
        ], true);
      case "error":
        return this.#error(frame);
      case "message":
        return "";
    }
  }

  /** What registration says: 001 to 005, the users, and no MOTD. */
  #welcome(name: string, operator: boolean): string {
    this.#nick = name;
    const version = `parley-${VERSION}`;
    return [
      this.#numeric("001", [`Welcome to the Parley IRC gateway, ${name}`]),
      this.#numeric("002", [`Your host is ${SERVER}, running version ${version}`]),
      this.#numeric("003", [`This server was created ${this.#created}`]),
      this.#numeric("004", [SERVER, version, "o", "b"]),
      this.#numeric("005", [
        "CASEMAPPING=ascii",
        "CHANTYPES=#",
        "PREFIX=(o)@",
        "CHANMODES=b,,,",
        "NETWORK=Parley",
        `NICKLEN=${MAX_NAME_LENGTH}`,
        `CHANNELLEN=${MAX_ROOM_LENGTH + 1}`,
        `TOPICLEN=${MAX_TOPIC_LENGTH}`,
        "are supported by this server",
      ]),
      this.#numeric("251", ["There are users on 1 server"]),
      this.#numeric("255", ["I have clients and 0 servers"]),
      this.#numeric("422", ["MOTD File is missing"]),
      operator ? this.#numeric("381", ["You are a Parley operator"]) : "",
    ].join("");
  }

  #lusers(): void {
    this.#write(
      this.#numeric("251", ["There are users on 1 server"]) +
        this.#numeric("255", ["I have clients and 0 servers"]),
    );
  }

  /** 353 lines for `names`, each within IRC's line length. */
  #names(channel: string, names: readonly string[]): string {
    let text = "";
    let batch: string[] = [];
    let size = 0;
    for (const name of names) {
      if (size + name.length + 1 > 380 && batch.length > 0) {
        text += this.#numeric("353", ["=", channel, batch.join(" ")], true);
        batch = [];
        size = 0;
      }
      batch.push(name);
      size += encoder.encode(name).length + 1;
    }
    if (batch.length > 0) text += this.#numeric("353", ["=", channel, batch.join(" ")], true);
    return text;
  }

  /** A page of `users` for the oldest query waiting; asks for the next page if there is one. */
  #users(users: readonly string[], next: number | undefined): string {
    const query = this.#queries[0];
    if (query === undefined || query.kind === "list") return "";
    let text = "";
    let done = next === undefined;
    if (query.kind === "names") {
      text = this.#names(`#${query.room}`, users);
    } else if (query.kind === "who") {
      for (const name of users) {
        text += this.#numeric("352", [
          `#${query.room}`,
          name,
          SERVER,
          SERVER,
          name,
          "H",
          `0 ${name}`,
        ]);
      }
    } else if (query.kind === "whois") {
      const found = users.find((name) => foldName(name) === foldName(query.nick));
      if (found !== undefined) {
        text = this.#numeric("311", [found, found, SERVER, "*", found]);
        done = true;
      } else if (done) {
        text = this.#numeric("401", [query.nick, "No such nick"]);
      }
    }
    if (!done) {
      const room = query.kind === "whois" ? undefined : query.room;
      queueMicrotask(() =>
        this.#page(
          room === undefined ? { type: "who", after: next! } : { type: "who", room, after: next! },
        )
      );
      return text;
    }
    this.#queries.shift();
    return text + this.#end(query);
  }

  /** The numeric that ends the answer to `query`. */
  #end(query: Query): string {
    switch (query.kind) {
      case "names":
        return this.#numeric("366", [`#${query.room}`, "End of NAMES list"]);
      case "who":
        return this.#numeric("315", [`#${query.room}`, "End of WHO list"]);
      case "whois":
        return this.#numeric("318", [query.nick, "End of WHOIS list"]);
      case "list":
        return this.#numeric("323", ["End of LIST"]);
    }
  }

  /** Asks for the next page of the oldest query, outside the delivery that brought the last. */
  #page(frame: ClientFrame): void {
    const connection = this.#connection;
    if (connection === undefined || connection.closing) return;
    // Refused (flood control): the answer ends where it is, so the client is not left waiting.
    if (this.#send(connection, frame, 0, "*")) {
      const query = this.#queries.shift();
      if (query !== undefined) this.#write(this.#end(query));
    }
  }

  /** A room's past messages, with their times when asked for, in a batch when asked for. */
  #history(room: string, messages: readonly StoredMessage[]): string {
    if (messages.length === 0) return "";
    const channel = `#${room}`;
    const batch = this.#caps.has("batch") ? `parley${++this.#batches}` : undefined;
    let text = batch === undefined
      ? ""
      : formatMessage(SERVER, "BATCH", [`+${batch}`, "chathistory", channel]);
    for (const message of messages) {
      text += this.#privmsgLines(
        message.from,
        channel,
        message.text,
        message.action === true,
        message.ts,
        "PRIVMSG",
        batch,
      );
    }
    return batch === undefined ? text : text + formatMessage(SERVER, "BATCH", [`-${batch}`]);
  }

  /** A room message's lines, made once for all IRC readers with the same tags. */
  #message(frame: MessageFrame): Uint8Array {
    const index = this.#caps.has("server-time") ? 1 : 0;
    let forms = rendered.get(frame);
    if (forms === undefined) {
      forms = [undefined, undefined];
      rendered.set(frame, forms);
    }
    return forms[index] ??= encoder.encode(
      this.#privmsgLines(frame.from, `#${frame.room}`, frame.text, frame.action === true, frame.ts),
    );
  }

  /** A message as PRIVMSG lines: cut at its line breaks and at IRC's line length. */
  #privmsgLines(
    from: string,
    target: string,
    text: string,
    action: boolean,
    ts: string,
    command = "PRIVMSG",
    batch?: string,
  ): string {
    const tags: string[] = [];
    if (batch !== undefined) tags.push(`batch=${batch}`);
    if (this.#caps.has("server-time")) tags.push(`time=${ts}`);
    const prefix = tags.length === 0 ? "" : `@${tags.join(";")} `;
    const head = `:${source(from)} ${command} ${target} :`;
    const room = MAX_LINE_BYTES - 2 - encoder.encode(head).length - (action ? 9 : 0);
    let lines = "";
    for (const piece of splitText(text, Math.max(room, 4))) {
      lines += prefix + head + (action ? `\x01ACTION ${piece}\x01` : piece) + "\r\n";
    }
    return lines;
  }

  /** An error as IRC says it: a numeric about the command's target, or ERROR when closing. */
  #error(frame: ErrorFrame): string {
    const context = this.#context;
    if (context !== undefined) context.failed = true;
    const target = context?.target ?? "*";
    // Before `start`, the connection is being refused as it opens (too many, or banned).
    if (this.#connection === undefined || this.#connection.closing) {
      return formatMessage(undefined, "ERROR", [`Closing link: ${frame.message}`], true);
    }
    switch (frame.code) {
      case "name_taken":
        return this.#refused("433", target, frame.message);
      case "invalid_name":
        return this.#refused("432", target, frame.message);
      case "auth_failed": {
        const connection = this.#connection;
        // Wrong server password: IRC servers hang up, and clients expect them to.
        if (connection !== undefined) {
          queueMicrotask(() => connection.close("auth_failed", frame.message));
        }
        return this.#numeric("464", [frame.message]);
      }
      case "wrong_password":
        if (!this.#registered) this.#helloSent = false;
        return this.#numeric("464", [`${frame.message} (send it with SASL PLAIN)`]);
      case "no_such_room":
      case "invalid_room":
        return this.#numeric("403", [target, frame.message]);
      case "too_many_rooms":
        return this.#numeric("405", [target, frame.message]);
      case "not_in_room":
        return this.#numeric("442", [target, frame.message]);
      case "no_such_user":
        return this.#numeric("401", [target, frame.message]);
      case "not_operator":
        return target.startsWith("#")
          ? this.#numeric("482", [target, frame.message])
          : this.#numeric("481", [frame.message]);
      case "invalid_text":
        return this.#numeric("412", [frame.message]);
      case "already_in_room":
        return "";
      default:
        return formatMessage(SERVER, "NOTICE", [
          this.#view.name || "*",
          `${frame.message} (${frame.code})`,
        ], true);
    }
  }

  /** A refused nick: before registration, the client may send another. */
  #refused(numeric: string, nick: string, message: string): string {
    if (!this.#registered) {
      this.#helloSent = false;
      this.#nick = undefined;
    }
    return this.#numeric(numeric, [nick, message]);
  }

  /** A numeric reply addressed to the client. */
  #numeric(numeric: string, params: string[], trailing = true): string {
    const nick = this.#registered ? this.#view.name : this.#nick ?? "*";
    return formatMessage(SERVER, numeric, [nick, ...params], trailing);
  }

  #reply(numeric: string, params: string[]): void {
    this.#write(this.#numeric(numeric, params));
  }

  #write(text: string): void {
    if (!this.#transport.push(encoder.encode(text)) && this.#connection !== undefined) {
      dropSlow(this.#connection);
    }
  }
}
