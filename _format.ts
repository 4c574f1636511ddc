// Turning server frames into lines for people: `HH:MM <name> text`, continuation lines indented
// under the text, a stable colour per name, system lines dimmed, mentions highlighted. Everything
// a peer chose is sanitized first, so no peer can send the terminal an escape sequence.

import { sanitize } from "./_sanitize.ts";
import { unicodeWidth } from "./_std.ts";
import { foldName, type ServerFrame } from "./protocol.ts";

/** How to format. */
export interface FormatOptions {
  /** Use ANSI colours and attributes. */
  color: boolean;
  /** Start each entry with the local time, `HH:MM`. */
  time: boolean;
  /** The reader's name, to spot mentions; none are spotted without it. */
  me?: string;
}

/** A frame as text for people. */
export interface Formatted {
  /** The entry; several lines joined by `\n` for a multi-line message. */
  text: string;
  /** A message from someone (`message`), or a notice from the server (everything else). */
  kind: "message" | "notice";
  /** A message from someone else that names the reader. */
  mention: boolean;
}

const RESET = "\x1b[0m";
const DIM = "\x1b[2m";
const BOLD = "\x1b[1m";
const REVERSE = "\x1b[7m";
/** Foreground colours that read well on dark and light backgrounds alike. */
const NAME_COLORS = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96];

/** Formats `frame`, or returns undefined for frames people need not see (`pong`). */
export function formatFrame(frame: ServerFrame, options: FormatOptions): Formatted | undefined {
  const time = options.time ? `${clock(frame)} ` : "";
  const notice = (text: string): Formatted => ({
    text: paint(options.color, DIM, indent(`${time}-- `, sanitize(text))),
    kind: "notice",
    mention: false,
  });
  switch (frame.type) {
    case "message": {
      const mention = options.me !== undefined && foldName(frame.from) !== foldName(options.me) &&
        mentions(frame.text, options.me);
      const from = sanitize(frame.from);
      const name = paint(options.color, nameColor(frame.from), from);
      const head = frame.action ? `${time}* ${from} ` : `${time}<${from}> `;
      const shown = frame.action ? `${time}* ${name} ` : `${time}<${name}> `;
      const body = indent(head, sanitize(frame.text)).slice(head.length);
      return {
        text: shown + (mention ? paint(options.color, BOLD + REVERSE, body) : body),
        kind: "message",
        mention,
      };
    }
    case "welcome":
      return notice(
        `joined as ${frame.name}; here: ${frame.users.join(", ") || "nobody else"}`,
      );
    case "joined":
      return notice(`${frame.name} joined`);
    case "left":
      return notice(`${frame.name} left (${frame.reason.replaceAll("_", " ")})`);
    case "renamed":
      return notice(`${frame.from} is now ${frame.to}`);
    case "users":
      return notice(`here (${frame.users.length}): ${frame.users.join(", ")}`);
    case "error":
      return notice(`error: ${frame.message} (${frame.code})`);
    case "pong":
      return undefined;
    default:
      frame satisfies never;
      return undefined;
  }
}

/** A local notice that did not come from the server, such as the help text. */
export function formatNotice(text: string, options: FormatOptions): string {
  const time = options.time ? `${clock(undefined)} ` : "";
  return paint(options.color, DIM, indent(`${time}-- `, text));
}

/** Whether `text` names `name` as a whole word, ignoring case. */
export function mentions(text: string, name: string): boolean {
  const escaped = foldName(name).replace(/[.\-]/g, "\\$&");
  return new RegExp(`(?<![\\p{L}\\p{M}\\p{Nd}_])${escaped}(?![\\p{L}\\p{M}\\p{Nd}_])`, "u")
    .test(foldName(text));
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

function clock(frame: ServerFrame | undefined): string {
  const ts = frame && "ts" in frame ? new Date(frame.ts) : new Date();
  const date = Number.isNaN(ts.getTime()) ? new Date() : ts;
  return `${pad2(date.getHours())}:${pad2(date.getMinutes())}`;
}

function pad2(value: number): string {
  return String(value).padStart(2, "0");
}
