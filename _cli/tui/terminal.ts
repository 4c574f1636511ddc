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
import { RoomView } from "../../_text/room_view.ts";
import { requestFor, type RequestFrame } from "../../_text/requests.ts";

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
  /** This user's name, its rooms and the current one; after a reconnect, a room's replay
   * shows only what is newer than the newest message seen there. */
  #view: RoomView;
  /** The password given this session for a name, by /register or /nick, to reconnect with. */
  #password: string | undefined;
  /** Rooms with a /history request under way: their next `history` frame is shown whole. */
  #paging = new Set<string>();

  constructor(client: ChatClient, options: TerminalOptions) {
    this.#client = client;
    this.#options = options;
    this.#view = new RoomView(client.name);
    this.#view.setCurrent(client.welcome.room);
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
    switch (command.type) {
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
    }
    const request = requestFor(command, this.#view);
    if ("focus" in request) this.#view.setCurrent(request.focus);
    if ("notice" in request) return this.#notice(request.notice);
    this.#request(client, request.frame);
  }

  /** Sends `frame` through the client's own method for it, which paces it, and does what goes
   * with it here: echoes what this user says, keeps a password to reconnect with, and marks a
   * room whose next `history` frame is a page asked for. */
  #request(client: ChatClient, frame: RequestFrame): void {
    switch (frame.type) {
      case "send":
        client.send(frame.text, { room: frame.room, action: frame.action === true });
        return this.#echo(frame.text, frame.room, frame.action === true);
      case "msg": {
        client.msg(frame.to, frame.text);
        const echo: PrivateFrame = {
          type: "private",
          from: this.#view.name,
          to: frame.to,
          text: frame.text,
          ts: new Date().toISOString(),
        };
        return this.#print(formatFrame(echo, this.#format())!.text);
      }
      case "join":
        return client.join(frame.room, this.#options.noHistory ? { history: 0 } : {});
      case "part":
        return client.part(frame.room);
      case "rooms":
        return client.listRooms(frame.after === undefined ? {} : { after: frame.after });
      case "who":
        return client.who(frame.room, frame.after === undefined ? {} : { after: frame.after });
      case "topic":
        return client.setTopic(frame.room, frame.topic);
      case "history": {
        const options: { before?: number; limit?: number } = {};
        if (frame.before !== undefined) options.before = frame.before;
        if (frame.limit !== undefined) options.limit = frame.limit;
        this.#paging.add(foldName(frame.room));
        return client.history(frame.room, options);
      }
      case "nick":
        if (frame.password !== undefined) this.#password = frame.password;
        return client.rename(frame.name, frame.password);
      case "register":
        this.#password = frame.password;
        return client.register(frame.password, frame.token);
      case "kick":
        return client.kick(frame.name, frame.reason);
      case "ban": {
        const options: { seconds?: number; reason?: string } = {};
        if (frame.duration !== undefined) options.seconds = frame.duration;
        if (frame.reason !== undefined) options.reason = frame.reason;
        return client.ban(frame.target, options);
      }
      case "unban":
        return client.unban(frame.target);
      case "stats":
        return client.stats();
      default:
        frame satisfies never;
    }
  }

  /** Shows what this user sent: the server sends no copy back. */
  #echo(text: string, room: string, action: boolean): void {
    const frame: MessageFrame = {
      type: "message",
      id: 0,
      room,
      from: this.#view.name,
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
        const client = await this.#options.connect(this.#view.name, this.#password);
        if (this.#quitting) return client.close();
        this.#client = client;
        this.#notice(`Reconnected as ${client.name}.`);
        // Back into the rooms it was in; each replay shows only what was missed.
        for (const room of this.#view.rooms()) {
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
    if (frame.type !== "history") {
      this.#view.update(frame);
      return frame;
    }
    return this.#view.replay(frame, this.#paging.delete(foldName(frame.room)));
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
      me: this.#view.name,
      showRoom: this.#view.size > 1,
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
    const { name, current } = this.#view;
    return this.#view.size > 1 && current !== undefined ? `${name} #${current}> ` : `${name}> `;
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
