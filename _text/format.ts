// Turning server frames into lines for people: `HH:MM <name> text`, continuation lines indented
// under the text, a stable colour per name, system lines dimmed, mentions highlighted. Everything
// a peer chose is sanitized first, so no peer can send the terminal an escape sequence.

import { sanitize } from "./sanitize.ts";
import { unicodeWidth } from "./unicode_width.ts";
import { foldName, type ServerFrame, type StoredMessage } from "../protocol.ts";

/** How to format. */
export interface FormatOptions {
  /** Use ANSI colours and attributes. */
  color: boolean;
  /** Start each entry with the local time, `HH:MM`. */
  time: boolean;
  /** The reader's name, to spot mentions; none are spotted without it. */
  me?: string;
  /** Name the room on each entry, for a reader in more than one. */
  showRoom?: boolean;
}

/** A frame as text for people. */
export interface Formatted {
  /** The entry; several lines joined by `\n` for a multi-line message. */
  text: string;
  /** A message from someone (`message`), or a notice from the server (everything else). */
  kind: "message" | "notice";
  /** A message from someone else that names the reader, or a private message to the reader. */
  mention: boolean;
}

const RESET = "\x1b[0m";
const DIM = "\x1b[2m";
const BOLD = "\x1b[1m";
const REVERSE = "\x1b[7m";
/** Foreground colours that read well on dark and light backgrounds alike. */
const NAME_COLORS = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96];

/** Formats `frame`, or returns undefined for frames people need not see (`ping`, `pong`). */
export function formatFrame(frame: ServerFrame, options: FormatOptions): Formatted | undefined {
  const time = options.time ? `${clock("ts" in frame ? frame.ts : undefined)} ` : "";
  const where = (room: string) => options.showRoom ? `#${room} ` : "";
  const notice = (text: string, room?: string): Formatted => ({
    text: paint(options.color, DIM, indent(`${time}${room ? where(room) : ""}-- `, sanitize(text))),
    kind: "notice",
    mention: false,
  });
  switch (frame.type) {
    case "message": {
      const mention = options.me !== undefined && foldName(frame.from) !== foldName(options.me) &&
        mentions(frame.text, options.me);
      return {
        text: formatMessage(frame, `${time}${where(frame.room)}`, mention, options.color),
        kind: "message",
        mention,
      };
    }
    case "private": {
      const mine = options.me !== undefined && foldName(frame.from) === foldName(options.me);
      const head = mine
        ? `${time}-> *${sanitize(frame.to)}* `
        : `${time}*${sanitize(frame.from)}* `;
      const shown = paint(options.color, BOLD, head.trimEnd()) + " ";
      return {
        text: shown + indent(head, sanitize(frame.text)).slice(head.length),
        kind: "message",
        mention: !mine,
      };
    }
    case "history": {
      const lines = frame.messages.map((message) =>
        formatMessage(
          message,
          `${options.time ? `${clock(message.ts, true)} ` : ""}${where(frame.room)}`,
          false,
          false,
        )
      );
      const summary = frame.messages.length === 0
        ? `no earlier messages in #${frame.room}`
        : `${frame.messages.length} earlier message(s) in #${frame.room}` +
          (frame.more ? "; /history for more" : "");
      return {
        text: [...lines.map((line) => paint(options.color, DIM, line)), notice(summary).text]
          .join("\n"),
        kind: "notice",
        mention: false,
      };
    }
    case "welcome":
      return notice(`joined as ${frame.name}`);
    case "entered":
      return notice(
        `you are in #${frame.room}; here: ${frame.users.join(", ") || "nobody else"}` +
          (frame.topic ? `; topic: ${frame.topic}` : ""),
        frame.room,
      );
    case "joined":
      return notice(`${frame.name} joined`, frame.room);
    case "left":
      return notice(`${frame.name} left (${frame.reason.replaceAll("_", " ")})`, frame.room);
    case "renamed":
      return notice(`${frame.from} is now ${frame.to}`);
    // A page of a list says how to ask for the next, as the terminal client's command.
    case "users":
      return notice(
        `${frame.room ? `in #${frame.room}` : "on the server"} ` +
          `(${frame.users.length}${frame.more ? " on this page" : ""}): ` +
          frame.users.join(", ") +
          (frame.more && frame.next !== undefined
            ? `; more: /who ${frame.room ? `#${frame.room}` : "*"} ${frame.next}`
            : ""),
      );
    case "rooms":
      return notice(
        frame.rooms.length === 0
          ? "no rooms"
          : "rooms: " + frame.rooms.map((room) =>
            `#${room.name} (${room.users})${room.topic ? ` ${room.topic}` : ""}`
          ).join(", ") +
            (frame.more && frame.next !== undefined ? `; more: /rooms ${frame.next}` : ""),
      );
    case "topic":
      return notice(
        frame.topic === ""
          ? `${frame.by} cleared the topic`
          : `${frame.by} set the topic: ${frame.topic}`,
        frame.room,
      );
    case "error":
      return notice(`error: ${frame.message} (${frame.code})`);
    case "notice":
      return notice(frame.text);
    case "stats":
      return notice(
        `server: ${frame.connections} connections, ${frame.users} users, ${frame.rooms} rooms, ` +
          `${frame.messagesPerSecond.toFixed(1)} messages/s, ` +
          `${(frame.memoryBytes / 1024 / 1024).toFixed(1)} MiB, up ${frame.uptimeSeconds} s`,
      );
    case "ping":
    case "pong":
      return undefined;
    default:
      frame satisfies never;
      return undefined;
  }
}

/** `<from> text` (or `* from text` for an action) after `prefix`, lines aligned. */
function formatMessage(
  message: StoredMessage,
  prefix: string,
  highlight: boolean,
  color: boolean,
): string {
  const from = sanitize(message.from);
  const name = paint(color, nameColor(message.from), from);
  const head = message.action ? `${prefix}* ${from} ` : `${prefix}<${from}> `;
  const shown = message.action ? `${prefix}* ${name} ` : `${prefix}<${name}> `;
  const body = indent(head, sanitize(message.text)).slice(head.length);
  return shown + (highlight ? paint(color, BOLD + REVERSE, body) : body);
}

/** A local notice that did not come from the server, such as the help text. */
export function formatNotice(text: string, options: FormatOptions): string {
  const time = options.time ? `${clock(undefined)} ` : "";
  return paint(options.color, DIM, indent(`${time}-- `, text));
}

/** Whether `text` names `name` as a whole word, ignoring case. */
export function mentions(text: string, name: string): boolean {
  const fold = (value: string) => value.normalize("NFKC").toLowerCase();
  const escaped = fold(name).replace(/[.\-]/g, "\\$&");
  return new RegExp(`(?<![\\p{L}\\p{M}\\p{Nd}_])${escaped}(?![\\p{L}\\p{M}\\p{Nd}_])`, "u")
    .test(fold(text));
}

/** The colour for a name: the same for the same name, everywhere, every time. */
function nameColor(name: string): string {
  let hash = 0;
  for (const char of foldName(name)) hash = (hash * 31 + char.codePointAt(0)!) >>> 0;
  return `\x1b[${NAME_COLORS[hash % NAME_COLORS.length]}m`;
}

function paint(color: boolean, code: string, text: string): string {
  return color ? text.split("\n").map((line) => code + line + RESET).join("\n") : text;
}

/** `head` before the first line of `text`, and its width in spaces before every other line. */
function indent(head: string, text: string): string {
  const pad = " ".repeat(unicodeWidth(head));
  return head + text.split("\n").join(`\n${pad}`);
}

/** `HH:MM` of `ts` (or now) in local time; with `dated`, `YYYY-MM-DD HH:MM` if not today. */
function clock(ts: string | undefined, dated = false): string {
  const parsed = ts === undefined ? new Date() : new Date(ts);
  const date = Number.isNaN(parsed.getTime()) ? new Date() : parsed;
  const time = `${pad2(date.getHours())}:${pad2(date.getMinutes())}`;
  if (!dated || date.toDateString() === new Date().toDateString()) return time;
  return `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())} ${time}`;
}

function pad2(value: number): string {
  return String(value).padStart(2, "0");
}
