// The interactive terminal client's controller: raw mode, keys to the line editor, commands,
// the ChatClient's frames, reconnecting when the server goes away, exit codes and signals. It
// owns the terminal's I/O; what to write comes from _cli/tui/screen.ts, keys from
// _cli/tui/keys.ts, the input line from _cli/tui/line_editor.ts, the text from _text/format.ts.

import { EXIT_FAILURE, EXIT_OK } from "../args.ts";
import { formatFrame, formatNotice, type FormatOptions } from "../../_text/format.ts";
import { type Key, KeyDecoder } from "./keys.ts";
import { LineEditor } from "./line_editor.ts";
import { Screen, type ScreenInput, type ScreenSize } from "./screen.ts";
import { errorMessage } from "../../_protocol/error_message.ts";
import { isBlank } from "../../_protocol/names.ts";
import { onTerminationSignals } from "../signals.ts";
import { type ChatClient, ChatError, FrameTooLargeError } from "../../client.ts";
import { connectionFailure } from "../pipe.ts";
import {
  foldName,
  type MessageFrame,
  type PrivateFrame,
  type ServerFrame,
} from "../../protocol.ts";
import { type Command, HELP, holdsSecret, parseCommand } from "../../_text/commands.ts";

/** When the bell rings: never, for messages that name you, or for every message. */
export type BellMode = "off" | "mention" | "all";

/** How the terminal client behaves. */
export interface TerminalOptions {
  /** Colours and attributes (off for `NO_COLOR` and `--no-color`). */
  color: boolean;
  bell: BellMode;
  /** Reconnect after losing the server, rather than exiting 1. */
  reconnect: boolean;
  /** Connects and joins under `name`, with its password if it has one; used again to
   * reconnect. */
  connect(name: string, password?: string): Promise<ChatClient>;
  /** Replay no history on entering a room. */
  noHistory: boolean;
}

const encoder = new TextEncoder();
/** Bracketed paste on and off: the terminal marks pasted text so it arrives as one paste. */
const PASTE_ON = "\x1b[?2004h";
const PASTE_OFF = "\x1b[?2004l";
/** How long a lone ESC waits for the rest of an escape sequence before it is the Escape key. */
const ESCAPE_WAIT_MS = 50;
const MAX_BACKOFF_MS = 30_000;

/**
 * Runs the interactive client on `client` until the user quits or, without reconnect, the
 * connection is lost. Returns the exit code. The terminal is restored however it ends.
 */
export async function runTerminal(client: ChatClient, options: TerminalOptions): Promise<number> {
  const terminal = new TerminalChat(client, options);
  return await terminal.run();
}

class TerminalChat {
  #client: ChatClient | undefined;
  #options: TerminalOptions;
  #editor = new LineEditor();
  #keys = new KeyDecoder();
  #screen = new Screen();
  #quitting = false;
  #done = Promise.withResolvers<number>();
  #escapeTimer: ReturnType<typeof setTimeout> | undefined;
  #name: string;
  /** Where plain lines go. */
  #room: string | undefined;
  /** The rooms this user is in, by folded name, with their topics and the newest and oldest
   * message ids seen: after a reconnect, a room's replay shows only what is newer. */
  #rooms = new Map<string, { name: string; topic: string; newest: number; oldest: number }>();
  /** The password given this session for a name, by /register or /nick, to reconnect with. */
  #password: string | undefined;
  /** Rooms with a /history request under way: their next `history` frame is shown whole. */
  #paging = new Set<string>();

  constructor(client: ChatClient, options: TerminalOptions) {
    this.#client = client;
    this.#options = options;
    this.#name = client.name;
    this.#room = client.welcome.room;
  }

  async run(): Promise<number> {
    Deno.stdin.setRaw(true);
    const stopSignals = onTerminationSignals(() => this.#quit(EXIT_OK));
    // Terminals rewrap (or cut) what is on screen when resized, each in its own way, so the
    // input area can no longer be found: start the screen afresh.
    const redraw = () => this.#repaint();
    if (Deno.build.os !== "windows") Deno.addSignalListener("SIGWINCH", redraw);
    try {
      this.#write(PASTE_ON);
      this.#show(this.#client!.welcome);
      this.#notice("Type /help for commands. Ctrl-C quits.");
      this.#listen(this.#client!);
      this.#readKeys();
      return await this.#done.promise;
    } finally {
      clearTimeout(this.#escapeTimer);
      stopSignals();
      if (Deno.build.os !== "windows") Deno.removeSignalListener("SIGWINCH", redraw);
      this.#write(this.#screen.clearInput() + PASTE_OFF);
      Deno.stdin.setRaw(false);
    }
  }

  // Input.

  async #readKeys(): Promise<void> {
    const buffer = new Uint8Array(4096);
    try {
      while (!this.#quitting) {
        const count = await Deno.stdin.read(buffer);
        if (count === null) return this.#quit(EXIT_OK);
        clearTimeout(this.#escapeTimer);
        for (const key of this.#keys.decode(buffer.subarray(0, count))) this.#press(key);
        if (buffer[count - 1] === 0x1b) {
          this.#escapeTimer = setTimeout(() => {
            for (const key of this.#keys.flush()) this.#press(key);
          }, ESCAPE_WAIT_MS);
        }
      }
    } catch (error) {
      if (!this.#quitting) this.#fail(error);
    }
  }

  #press(key: Key): void {
    const editor = this.#editor;
    switch (key.type) {
      case "text":
      case "paste":
        editor.insert(key.text);
        break;
      case "newline":
        editor.insert("\n");
        break;
      case "enter":
        return this.#submit();
      case "backspace":
        editor.backspace();
        break;
      case "delete":
        editor.delete();
        break;
      case "left":
        editor.left();
        break;
      case "right":
        editor.right();
        break;
      case "home":
        editor.home();
        break;
      case "end":
        editor.end();
        break;
      case "wordLeft":
        editor.wordLeft();
        break;
      case "wordRight":
        editor.wordRight();
        break;
      case "up":
        editor.historyUp();
        break;
      case "down":
        editor.historyDown();
        break;
      case "deleteWordBack":
        editor.deleteWordBack();
        break;
      case "deleteToStart":
        editor.deleteToStart();
        break;
      case "deleteToEnd":
        editor.deleteToEnd();
        break;
      case "redraw":
        return this.#repaint();
      case "interrupt":
        return this.#quit(EXIT_OK);
      case "eof":
        if (editor.text === "") return this.#quit(EXIT_OK);
        editor.delete();
        break;
      case "tab":
      case "escape":
      case "pageUp":
        if (this.#client) this.#execute(this.#client, { type: "history" });
        return;
      case "pageDown":
      case "unknown":
        return;
      default:
        key satisfies never;
    }
    this.#print(undefined);
  }

  #submit(): void {
    const text = this.#editor.text;
    if (isBlank(text)) return;
    const client = this.#client;
    if (client === undefined) {
      this.#notice("Not connected: your line is kept until the connection is back.");
      return;
    }
    const command = parseCommand(text);
    // A line with a password is neither kept in the history nor shown.
    if (holdsSecret(command)) this.#editor.clear();
    else this.#editor.submit();
    try {
      this.#execute(client, command);
    } catch (error) {
      this.#notice(`Not sent: ${errorMessage(error)}`);
    }
    this.#print(undefined);
  }

  #execute(client: ChatClient, command: Command): void {
    const room = this.#room;
    const here = (what: string) => {
      if (room === undefined) this.#notice(`You are in no room: /join one to ${what}`);
      return room;
    };
    switch (command.type) {
      case "say":
      case "me": {
        const target = here("talk");
        if (target === undefined) return;
        client.send(command.text, { room: target, action: command.type === "me" });
        return this.#echo(command.text, target, command.type === "me");
      }
      case "msg": {
        client.msg(command.to, command.text);
        const echo: PrivateFrame = {
          type: "private",
          from: this.#name,
          to: command.to,
          text: command.text,
          ts: new Date().toISOString(),
        };
        return this.#print(formatFrame(echo, this.#format())!.text);
      }
      case "join": {
        const known = this.#rooms.get(foldName(command.room));
        if (known === undefined) {
          client.join(command.room, this.#options.noHistory ? { history: 0 } : {});
          return;
        }
        this.#room = known.name;
        return this.#notice(`Now talking in #${known.name}`);
      }
      case "part": {
        const target = command.room ?? here("leave");
        if (target !== undefined) client.part(target);
        return;
      }
      // One page each: its last line says how to ask for the next.
      case "rooms":
        return client.listRooms(command.after === undefined ? {} : { after: command.after });
      case "who": {
        const page = command.after === undefined ? {} : { after: command.after };
        if (command.everyone) return client.who(undefined, page);
        return client.who(command.room ?? room, page);
      }
      case "topic": {
        const target = here("see a topic");
        if (target === undefined) return;
        if (command.topic !== undefined) return client.setTopic(target, command.topic);
        const topic = this.#rooms.get(foldName(target))?.topic;
        return this.#notice(topic ? `Topic of #${target}: ${topic}` : `#${target} has no topic`);
      }
      case "history": {
        const target = here("page back");
        if (target === undefined) return;
        const known = this.#rooms.get(foldName(target));
        const options: { before?: number; limit?: number } = {};
        if (known && known.oldest > 0) options.before = known.oldest;
        if (command.count !== undefined) options.limit = command.count;
        this.#paging.add(foldName(target));
        return client.history(target, options);
      }
      case "nick":
        if (command.password !== undefined) this.#password = command.password;
        return client.rename(command.name, command.password);
      case "register":
        this.#password = command.password;
        return client.register(command.password, command.token);
      case "kick":
        return client.kick(command.name, command.reason);
      case "ban": {
        const options: { seconds?: number; reason?: string } = {};
        if (command.seconds !== undefined) options.seconds = command.seconds;
        if (command.reason !== undefined) options.reason = command.reason;
        return client.ban(command.target, options);
      }
      case "unban":
        return client.unban(command.target);
      case "stats":
        return client.stats();
      case "ping":
        client.ping().then(
          (ms) => this.#notice(`Round trip to the server: ${ms.toFixed(1)} ms`),
          () => this.#notice("No answer: the connection closed"),
        );
        return;
      case "help":
        return this.#notice(HELP);
      case "quit":
        return this.#quit(EXIT_OK);
      case "invalid":
        return this.#notice(command.message);
      default:
        command satisfies never;
    }
  }

  /** Shows what this user sent: the server sends no copy back. */
  #echo(text: string, room: string, action: boolean): void {
    const frame: MessageFrame = {
      type: "message",
      id: 0,
      room,
      from: this.#name,
      text,
      ts: new Date().toISOString(),
    };
    if (action) frame.action = true;
    this.#print(formatFrame(frame, this.#format())!.text);
  }

  // Output.

  async #listen(client: ChatClient): Promise<void> {
    let farewell: string | undefined;
    try {
      for await (const frame of client) {
        if (frame.type === "error" && frame.code === "server_shutdown") farewell = frame.message;
        const shown = this.#track(frame);
        if (shown) this.#show(shown);
      }
    } catch (error) {
      // A frame over the limit comes from a broken or hostile server: reconnecting would only
      // fetch more of the same.
      if (error instanceof FrameTooLargeError) return this.#broken(error);
      farewell = errorMessage(error);
    }
    if (this.#quitting) return;
    this.#client = undefined;
    const reason = farewell ?? "the connection closed";
    if (!this.#options.reconnect) {
      this.#notice(`Lost the server: ${reason}.`);
      return this.#quit(EXIT_FAILURE);
    }
    this.#notice(`Lost the server: ${reason}. Reconnecting…`);
    await this.#reconnect();
  }

  async #reconnect(): Promise<void> {
    for (let attempt = 0; !this.#quitting; attempt++) {
      // 1 s, 2 s, 4 s … up to 30 s, each shortened at random so clients do not return in step.
      const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2);
      await this.#sleep(delay);
      if (this.#quitting) return;
      try {
        const client = await this.#options.connect(this.#name, this.#password);
        if (this.#quitting) return client.close();
        this.#client = client;
        this.#notice(`Reconnected as ${client.name}.`);
        // Back into the rooms it was in; each replay shows only what was missed.
        for (const room of this.#rooms.values()) {
          if (foldName(room.name) !== foldName(client.welcome.room)) client.join(room.name);
        }
        this.#listen(client);
        return;
      } catch (error) {
        if (error instanceof ChatError && error.code === "invalid_name") {
          this.#notice(`Cannot rejoin: ${error.message}.`);
          return this.#quit(EXIT_FAILURE);
        }
        if (error instanceof FrameTooLargeError) return this.#broken(error);
        // Refused, taken by our own stale session, or not up yet: try again later.
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#done.promise.finally(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Keeps the client's picture of its rooms up to date from `frame`; returns what of it to
   * show: a replay after a reconnect loses what was seen already.
   */
  #track(frame: ServerFrame): ServerFrame | undefined {
    switch (frame.type) {
      case "renamed":
        if (frame.from === this.#name) this.#name = frame.to;
        break;
      case "entered": {
        const key = foldName(frame.room);
        const known = this.#rooms.get(key);
        this.#rooms.set(key, {
          name: frame.room,
          topic: frame.topic ?? "",
          newest: known?.newest ?? 0,
          oldest: known?.oldest ?? 0,
        });
        // A room entered again after a reconnect does not take the focus from the current one.
        if (known === undefined || this.#room === undefined) this.#room = frame.room;
        break;
      }
      case "left":
        if (frame.name === this.#name) {
          this.#rooms.delete(foldName(frame.room));
          if (this.#room !== undefined && foldName(this.#room) === foldName(frame.room)) {
            this.#room = this.#rooms.values().next().value?.name;
          }
        }
        break;
      case "topic": {
        const known = this.#rooms.get(foldName(frame.room));
        if (known) known.topic = frame.topic;
        break;
      }
      case "message":
        this.#saw(frame.room, frame.id);
        break;
      case "history": {
        const key = foldName(frame.room);
        const known = this.#rooms.get(key);
        const paging = this.#paging.delete(key);
        const messages = paging || known === undefined
          ? frame.messages
          : frame.messages.filter((message) => message.id > known.newest);
        for (const message of messages) this.#saw(frame.room, message.id);
        if (!paging && messages.length === 0 && frame.messages.length > 0) return undefined;
        return { ...frame, messages };
      }
    }
    return frame;
  }

  #saw(room: string, id: number): void {
    const known = this.#rooms.get(foldName(room));
    if (known === undefined) return;
    known.newest = Math.max(known.newest, id);
    known.oldest = known.oldest === 0 ? id : Math.min(known.oldest, id);
  }

  #show(frame: ServerFrame): void {
    const formatted = formatFrame(frame, this.#format());
    if (formatted === undefined) return;
    const bell = this.#options.bell === "all"
      ? formatted.kind === "message"
      : this.#options.bell === "mention" && formatted.mention;
    this.#print(formatted.text + (bell ? "\x07" : ""));
  }

  #notice(text: string): void {
    this.#print(formatNotice(text, this.#format()));
  }

  #format(): FormatOptions {
    return {
      color: this.#options.color,
      time: true,
      me: this.#name,
      showRoom: this.#rooms.size > 1,
    };
  }

  /** Prints `text` (if any) above the input line, then draws the input line again. */
  #print(text: string | undefined): void {
    const columns = terminalSize().columns;
    this.#write(
      text === undefined
        ? this.#screen.drawInput(this.#input(), columns)
        : this.#screen.print(text, this.#input(), columns),
    );
  }

  /** Clears the screen and draws it again: the latest entries that fit, then the input. */
  #repaint(): void {
    this.#write(this.#screen.redraw(this.#input(), terminalSize()));
  }

  /** The input area to draw: none once quitting. */
  #input(): ScreenInput | undefined {
    return this.#quitting ? undefined : { prompt: this.#prompt(), editor: this.#editor };
  }

  #prompt(): string {
    if (this.#client === undefined) return "(offline) > ";
    return this.#rooms.size > 1 && this.#room !== undefined
      ? `${this.#name} #${this.#room}> `
      : `${this.#name}> `;
  }

  #write(text: string): void {
    let bytes = encoder.encode(text);
    while (bytes.length > 0) bytes = bytes.subarray(Deno.stdout.writeSync(bytes));
  }

  // Ending.

  #quit(code: number): void {
    if (this.#quitting) return;
    this.#quitting = true;
    const client = this.#client;
    this.#client = undefined;
    const leaving = client ? client.quit() : Promise.resolve();
    leaving.finally(() => this.#done.resolve(code));
  }

  /** Ends the session for a server that sent a frame over the limit: exit 1, no reconnecting. */
  #broken(error: FrameTooLargeError): void {
    if (this.#quitting) return;
    this.#client = undefined;
    const text = connectionFailure(error);
    this.#notice(`${text[0]!.toUpperCase()}${text.slice(1)}.`);
    this.#quit(EXIT_FAILURE);
  }

  #fail(error: unknown): void {
    this.#notice(`Error: ${errorMessage(error)}`);
    this.#quit(EXIT_FAILURE);
  }
}

function terminalSize(): ScreenSize {
  try {
    const { columns, rows } = Deno.consoleSize();
    return { columns: Math.max(columns, 10), rows: Math.max(rows, 2) };
  } catch {
    return { columns: 80, rows: 24 };
  }
}
