// What a typed command asks of the server, decided once for every client driven by slash
// commands: the terminal client sends the frame through its ChatClient, the server's plain-text
// session (_server/text.ts) hands it to its connection. Which room a command targets, and what
// is answered here without asking the server, are the same for both.

import type { Command } from "./commands.ts";
import type { RoomView } from "./room_view.ts";
import type {
  ClientFrame,
  HelloFrame,
  PingFrame,
  PongFrame,
  QuitFrame,
  SendFrame,
} from "../protocol.ts";

/** The commands that become a request: `/ping`, `/help` and `/quit` each client does its own way. */
export type RequestCommand = Exclude<Command, { type: "ping" | "help" | "quit" }>;

/** A frame a command sends: a `send` always names its room. */
export type RequestFrame =
  | Exclude<ClientFrame, HelloFrame | PingFrame | PongFrame | QuitFrame | SendFrame>
  | SendFrame & { room: string };

/**
 * What a command comes to: a frame for the server, a notice to show and nothing to send, or a
 * switch of the current room to one the client is in already (with the notice that says so).
 */
export type Request =
  | { frame: RequestFrame }
  | { notice: string }
  | { focus: string; notice: string };

/**
 * Turns `command` into a request, against the rooms in `view`: plain lines, `/me`, `/part`,
 * `/topic` and `/history` go to the current room; `/join` of a room the client is in only
 * makes it current; `/topic` without text is answered from the topic known; `/history` pages
 * back from the oldest message seen.
 *
 * @example
 * ```ts
 * import { requestFor } from "./requests.ts";
 * import { RoomView } from "./room_view.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const view = new RoomView("alice");
 * assertEquals(requestFor({ type: "say", text: "hi" }, view), {
 *   notice: "You are in no room: /join one to talk",
 * });
 * view.update({ type: "entered", room: "lobby", users: ["alice"] });
 * assertEquals(requestFor({ type: "say", text: "hi" }, view), {
 *   frame: { type: "send", text: "hi", room: "lobby" },
 * });
 * ```
 */
export function requestFor(command: RequestCommand, view: RoomView): Request {
  const room = view.current;
  const nowhere = (what: string) => ({ notice: `You are in no room: /join one to ${what}` });
  switch (command.type) {
    case "say":
    case "me": {
      if (room === undefined) return nowhere("talk");
      const frame: RequestFrame = { type: "send", text: command.text, room };
      if (command.type === "me") frame.action = true;
      return { frame };
    }
    case "msg":
      return { frame: { type: "msg", to: command.to, text: command.text } };
    case "join": {
      const known = view.get(command.room);
      if (known === undefined) return { frame: { type: "join", room: command.room } };
      return { focus: known.name, notice: `Now talking in #${known.name}` };
    }
    case "part": {
      const target = command.room ?? room;
      if (target === undefined) return nowhere("leave");
      return { frame: { type: "part", room: target } };
    }
    // One page each: its last line says how to ask for the next.
    case "rooms":
      return {
        frame: command.after === undefined
          ? { type: "rooms" }
          : { type: "rooms", after: command.after },
      };
    case "who": {
      const frame: RequestFrame = { type: "who" };
      if (!command.everyone) {
        const target = command.room ?? room;
        if (target !== undefined) frame.room = target;
      }
      if (command.after !== undefined) frame.after = command.after;
      return { frame };
    }
    case "topic": {
      if (room === undefined) return nowhere("see a topic");
      if (command.topic !== undefined) {
        return { frame: { type: "topic", room, topic: command.topic } };
      }
      const topic = view.get(room)?.topic;
      return { notice: topic ? `Topic of #${room}: ${topic}` : `#${room} has no topic` };
    }
    case "history": {
      if (room === undefined) return nowhere("page back");
      const frame: RequestFrame = { type: "history", room };
      const oldest = view.get(room)?.oldest ?? 0;
      if (oldest > 0) frame.before = oldest;
      if (command.count !== undefined) frame.limit = command.count;
      return { frame };
    }
    case "nick": {
      const frame: RequestFrame = { type: "nick", name: command.name };
      if (command.password !== undefined) frame.password = command.password;
      return { frame };
    }
    case "register": {
      const frame: RequestFrame = { type: "register", password: command.password };
      if (command.token !== undefined) frame.token = command.token;
      return { frame };
    }
    case "kick": {
      const frame: RequestFrame = { type: "kick", name: command.name };
      if (command.reason !== undefined) frame.reason = command.reason;
      return { frame };
    }
    case "ban": {
      const frame: RequestFrame = { type: "ban", target: command.target };
      if (command.seconds !== undefined) frame.duration = command.seconds;
      if (command.reason !== undefined) frame.reason = command.reason;
      return { frame };
    }
    case "unban":
      return { frame: { type: "unban", target: command.target } };
    case "stats":
      return { frame: { type: "stats" } };
    case "invalid":
      return { notice: command.message };
    default:
      return command satisfies never;
  }
}
