// What a typed line means: a message, or a slash command. Pure: the terminal client and the
// server's plain-text adapter (_server/text.ts) each carry the commands out.

/** A line, understood. */
export type Command =
  | { type: "say"; text: string }
  | { type: "me"; text: string }
  | { type: "msg"; to: string; text: string }
  | { type: "join"; room: string }
  | { type: "part"; room?: string }
  | { type: "rooms"; after?: string }
  | { type: "who"; room?: string; everyone?: boolean; after?: number }
  | { type: "topic"; topic?: string }
  | { type: "history"; count?: number }
  | { type: "nick"; name: string; password?: string }
  | { type: "register"; password: string; token?: string }
  | { type: "kick"; name: string; reason?: string }
  | { type: "ban"; target: string; seconds?: number; reason?: string }
  | { type: "unban"; target: string }
  | { type: "stats" }
  | { type: "ping" }
  | { type: "help" }
  | { type: "quit" }
  | { type: "invalid"; message: string };

/** The help text for the commands, which the terminal client and plain text share. */
export const COMMAND_HELP = `Commands (a room may be written with or without "#"):
/join ROOM       enter a room and make it current: plain lines go there
/part [ROOM]     leave a room (default: the current one)
/rooms [FROM]    list the rooms, a page at a time: FROM, as a page ends, for the next one
/who [ROOM|*] [NEXT]
                 who is in the current room, in ROOM, or (*) on the server, a page at a
                 time: NEXT, as a page ends, for the next one
/topic [TEXT]    show the current room's topic, or set it
/msg NAME TEXT   a private message
/history [N]     N earlier messages of the current room (also PageUp)
/me ACTION       send an action: "* you ACTION"
/nick NAME [PASSWORD]
                 change your name (a registered one needs its password)
/register PASSWORD [TOKEN]
                 register your name: from then on it needs the password (an operator
                 name not registered yet also needs the token the server printed)
Operators: /kick NAME [REASON], /ban NAME|IP [DURATION] [REASON] (DURATION like 30m, 2h,
7d; for good without one), /unban NAME|IP, /stats; and only they set topics.
/ping            measure the round trip to the server
/quit            leave (also Ctrl-C, or Ctrl-D on an empty line)
//text           send a line that starts with "/"`;

/** The help text for the commands and the terminal client's keys. */
export const HELP = `${COMMAND_HELP}
Keys: Left/Right, Home/End (Ctrl-A/Ctrl-E), Backspace/Delete, Ctrl-W deletes a word,
Ctrl-U to the start, Ctrl-K to the end, Up/Down for sent lines, Ctrl-L redraws,
Alt+Enter starts a new line; a multi-line paste is sent as one message.`;

/** Reads one submitted line. */
export function parseCommand(line: string): Command {
  if (!line.startsWith("/")) return { type: "say", text: line };
  if (line.startsWith("//")) return { type: "say", text: line.slice(1) };
  const match = line.slice(1).match(/^(\S*)\s*([\s\S]*)$/)!;
  const name = match[1]!.toLowerCase();
  const rest = match[2]!.trim();
  const words = rest === "" ? [] : rest.split(/\s+/);
  const usage = (text: string): Command => ({ type: "invalid", message: `Usage: ${text}` });
  switch (name) {
    case "me":
      return rest === "" ? usage("/me ACTION") : { type: "me", text: rest };
    case "msg": {
      const [, to, text] = rest.match(/^(\S+)\s+([\s\S]+)$/) ?? [];
      return to && text ? { type: "msg", to, text } : usage("/msg NAME TEXT");
    }
    case "join":
      return words.length === 1 ? { type: "join", room: room(words[0]!) } : usage("/join ROOM");
    case "part":
      if (words.length > 1) return usage("/part [ROOM]");
      return words.length === 1 ? { type: "part", room: room(words[0]!) } : { type: "part" };
    case "rooms":
      if (words.length > 1) return usage("/rooms [FROM]");
      return words.length === 1 ? { type: "rooms", after: room(words[0]!) } : { type: "rooms" };
    case "who": {
      const next = words[1] === undefined ? undefined : Number(words[1]);
      if (words.length > 2 || next !== undefined && !(Number.isSafeInteger(next) && next >= 0)) {
        return usage("/who [ROOM|*] [NEXT]");
      }
      const command: Command = words[0] === "*"
        ? { type: "who", everyone: true }
        : words.length > 0
        ? { type: "who", room: room(words[0]!) }
        : { type: "who" };
      if (next !== undefined) command.after = next;
      return command;
    }
    case "topic":
      return rest === "" ? { type: "topic" } : { type: "topic", topic: rest };
    case "history": {
      if (words.length === 0) return { type: "history" };
      const count = Number(words[0]);
      return words.length === 1 && Number.isInteger(count) && count > 0
        ? { type: "history", count }
        : usage("/history [N]");
    }
    case "nick":
      if (words.length === 1) return { type: "nick", name: words[0]! };
      return words.length === 2
        ? { type: "nick", name: words[0]!, password: words[1]! }
        : usage("/nick NAME [PASSWORD]");
    case "register":
      if (words.length === 1) return { type: "register", password: words[0]! };
      return words.length === 2
        ? { type: "register", password: words[0]!, token: words[1]! }
        : usage("/register PASSWORD [TOKEN] (the password in one word)");
    case "kick": {
      const [target, ...reason] = words;
      if (target === undefined) return usage("/kick NAME [REASON]");
      return reason.length > 0
        ? { type: "kick", name: target, reason: reason.join(" ") }
        : { type: "kick", name: target };
    }
    case "ban": {
      const [target, maybeDuration, ...rest] = words;
      if (target === undefined) return usage("/ban NAME|IP [DURATION] [REASON]");
      const seconds = maybeDuration === undefined ? undefined : parseDuration(maybeDuration);
      const reason = (seconds === undefined && maybeDuration !== undefined ? [maybeDuration] : [])
        .concat(rest).join(" ");
      const command: Command = { type: "ban", target };
      if (seconds !== undefined) command.seconds = seconds;
      if (reason !== "") command.reason = reason;
      return command;
    }
    case "unban":
      return words.length === 1 ? { type: "unban", target: words[0]! } : usage("/unban NAME|IP");
    case "stats":
      return { type: "stats" };
    case "ping":
      return { type: "ping" };
    case "help":
      return { type: "help" };
    case "quit":
    case "exit":
      return { type: "quit" };
    default:
      return { type: "invalid", message: `Unknown command "/${name}"; /help lists them` };
  }
}

/** Whether a line holds a password, and so must not be kept in the history or shown. */
export function holdsSecret(command: Command): boolean {
  return command.type === "register" || command.type === "nick" && command.password !== undefined;
}

/** `90`, `90s`, `30m`, `2h`, `7d` in seconds; undefined if it is none of those. */
export function parseDuration(text: string): number | undefined {
  const match = text.match(/^(\d+)([smhd]?)$/);
  if (match === null) return undefined;
  const unit = { "": 1, s: 1, m: 60, h: 3600, d: 86_400 }[match[2]!]!;
  return Number(match[1]) * unit;
}

function room(word: string): string {
  return word.startsWith("#") ? word.slice(1) : word;
}
