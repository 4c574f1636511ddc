// IRC messages as text (RFC 1459's grammar with IRCv3's message tags): reading one line a client
// sent into its parts, writing one line from a prefix, a command and parameters, and cutting a
// Parley message into PRIVMSG-sized pieces on character boundaries. No state: the session that
// uses these is irc.ts.

/** The longest IRC line, in bytes, CRLF included, without its tags (RFC 1459). */
export const MAX_LINE_BYTES = 512;

/** The most bytes of tags a line may carry besides, `@` and the space after them included
 * (IRCv3 message-tags: 8191 from a client). */
export const MAX_TAG_BYTES = 8191;

/** One IRC message as a client sent it. */
export interface IrcMessage {
  /** The client's tags, as written (they are accepted and not used). */
  tags: string | undefined;
  /** The command, upper-cased: `PRIVMSG`, `JOIN`, or a numeric. */
  command: string;
  /** The parameters, the trailing one (after ` :`) included as the last, as it was. */
  params: string[];
  /** The bytes of the line without its tags, for the 512-byte limit. */
  bodyBytes: number;
}

const encoder = new TextEncoder();

/**
 * Reads one line (without CR LF). Tags and a source prefix are taken off; spaces between
 * parameters may be more than one. Undefined for a line with no command.
 *
 * @example
 * ```ts
 * import { parseMessage } from "./irc_message.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(parseMessage("@a=b :me PRIVMSG #lobby :hi there")?.params, ["#lobby", "hi there"]);
 * assertEquals(parseMessage("join #a")?.command, "JOIN");
 * ```
 */
export function parseMessage(line: string): IrcMessage | undefined {
  let rest = line;
  let tags: string | undefined;
  if (rest.startsWith("@")) {
    const space = rest.indexOf(" ");
    tags = space < 0 ? rest.slice(1) : rest.slice(1, space);
    rest = space < 0 ? "" : rest.slice(space + 1);
  }
  const bodyBytes = encoder.encode(rest).length;
  rest = rest.replace(/^ +/, "");
  if (rest.startsWith(":")) {
    const space = rest.indexOf(" ");
    rest = space < 0 ? "" : rest.slice(space + 1).replace(/^ +/, "");
  }
  const params: string[] = [];
  while (rest.length > 0) {
    if (rest.startsWith(":")) {
      params.push(rest.slice(1));
      break;
    }
    const space = rest.indexOf(" ");
    if (space < 0) {
      params.push(rest);
      break;
    }
    params.push(rest.slice(0, space));
    rest = rest.slice(space + 1).replace(/^ +/, "");
  }
  const command = params.shift();
  if (command === undefined || command === "") return undefined;
  return { tags, command: command.toUpperCase(), params, bodyBytes };
}

/**
 * Writes one line, CR LF included: `source` (without its `:`), the command, then the
 * parameters, the last one after ` :` when it needs it (empty, holding a space, or starting with
 * `:`) or when `trailing` says so. The parameters must hold no CR, LF or NUL: they come from
 * names, which cannot, and from text cut by {@linkcode splitText}.
 *
 * @example
 * ```ts
 * import { formatMessage } from "./irc_message.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(formatMessage("parley", "001", ["alice", "Welcome"]), ":parley 001 alice Welcome\r\n");
 * assertEquals(formatMessage(undefined, "PING", ["a b"]), "PING :a b\r\n");
 * ```
 */
export function formatMessage(
  source: string | undefined,
  command: string,
  params: readonly string[],
  trailing = false,
): string {
  let line = source === undefined ? command : `:${source} ${command}`;
  params.forEach((param, index) => {
    const last = index === params.length - 1;
    const colon = last && (trailing || param === "" || param.includes(" ") || param[0] === ":");
    line += colon ? ` :${param}` : ` ${param}`;
  });
  return line + "\r\n";
}

/**
 * Cuts `text` into pieces that each fit in `maxBytes` bytes of UTF-8: first at its line breaks
 * (CR LF, LF or CR; empty lines are dropped, since IRC cannot carry them), then, for a line too
 * long, at the last code point that fits. A piece never ends inside a character's bytes or a
 * surrogate pair; `maxBytes` must be at least 4.
 *
 * @example
 * ```ts
 * import { splitText } from "./irc_message.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(splitText("a\nbcd", 2), ["a", "bc", "d"]);
 * assertEquals(splitText("ééé", 4), ["éé", "é"]);
 * ```
 */
export function splitText(text: string, maxBytes: number): string[] {
  const pieces: string[] = [];
  for (const line of text.split(/\r\n|\n|\r/)) {
    if (line === "") continue;
    let piece = "";
    let bytes = 0;
    for (const char of line) {
      const size = utf8Length(char);
      if (bytes + size > maxBytes) {
        pieces.push(piece);
        piece = "";
        bytes = 0;
      }
      piece += char;
      bytes += size;
    }
    if (piece !== "") pieces.push(piece);
  }
  return pieces;
}

/** The UTF-8 length of one code point. */
function utf8Length(char: string): number {
  const code = char.codePointAt(0)!;
  return code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
}
