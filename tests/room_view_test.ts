// The picture of the rooms a command-driven client keeps (_text/room_view.ts) and the requests
// its commands come to (_text/requests.ts): pure, fed frames by hand.

import { assertEquals } from "./_assert.ts";
import { RoomView } from "../_text/room_view.ts";
import { requestFor } from "../_text/requests.ts";
import { parseCommand } from "../_text/commands.ts";
import type { EnteredFrame, HistoryFrame, LeftFrame, MessageFrame } from "../protocol.ts";

const ts = "2024-01-01T00:00:00.000Z";

function message(room: string, id: number): MessageFrame {
  return { type: "message", id, room, from: "bob", text: `m${id}`, ts };
}

function entered(room: string, topic?: string): EnteredFrame {
  return topic === undefined
    ? { type: "entered", room, users: ["alice"] }
    : { type: "entered", room, users: ["alice"], topic };
}

function left(room: string, name: string): LeftFrame {
  return { type: "left", room, name, reason: "part", ts };
}

function history(room: string, ids: number[]): HistoryFrame {
  return { type: "history", room, messages: ids.map((id) => message(room, id)), more: false };
}

/** The request for a typed line; `/ping`, `/help` and `/quit` never reach it. */
function request(line: string, view: RoomView) {
  const command = parseCommand(line);
  if (command.type === "ping" || command.type === "help" || command.type === "quit") {
    throw new TypeError(`${line} is not a request`);
  }
  return requestFor(command, view);
}

Deno.test("RoomView: a room entered is current; entered again, it leaves the focus be", () => {
  const view = new RoomView("alice");
  view.update(entered("Lobby", "welcome"));
  view.update(entered("dev"));
  assertEquals(view.current, "dev");
  view.update(entered("LOBBY"));
  assertEquals(view.current, "dev");
  assertEquals(view.size, 2);
  assertEquals(view.get("lobby"), { name: "LOBBY", topic: "", newest: 0, oldest: 0 });
  assertEquals([...view.rooms()].map((room) => room.name), ["LOBBY", "dev"]);
});

Deno.test("RoomView: leaving the current room moves to the first left; others' leaving is ignored", () => {
  const view = new RoomView("alice");
  view.update(entered("a"));
  view.update(entered("b"));
  view.setCurrent("a");
  view.update(left("a", "bob"));
  assertEquals([view.size, view.current], [2, "a"]);
  view.update(left("A", "alice"));
  assertEquals([view.size, view.current, view.get("a")], [1, "b", undefined]);
  view.update(left("b", "alice"));
  assertEquals([view.size, view.current], [0, undefined]);
});

Deno.test("RoomView: the name follows welcome and the user's own renames only", () => {
  const view = new RoomView("typed");
  view.update({
    type: "welcome",
    name: "alice",
    room: "lobby",
    users: [],
    maxFrameBytes: 1000,
    rate: 0,
    burst: 0,
    server: "test",
    protocol: 1,
  });
  assertEquals(view.name, "alice");
  view.update({ type: "renamed", from: "bob", to: "robert", ts });
  assertEquals(view.name, "alice");
  view.update({ type: "renamed", from: "alice", to: "alicia", ts });
  assertEquals(view.name, "alicia");
  // A `left` now names the new name.
  view.update(entered("lobby"));
  view.update(left("lobby", "alicia"));
  assertEquals(view.size, 0);
});

Deno.test("RoomView: topics, and the newest and oldest ids seen, survive entering again", () => {
  const view = new RoomView("alice");
  view.update(entered("lobby"));
  view.update({ type: "topic", room: "LOBBY", topic: "new topic", by: "bob", ts });
  view.update({ type: "topic", room: "elsewhere", topic: "ignored", by: "bob", ts });
  view.update(message("lobby", 7));
  view.update(history("lobby", [3, 4, 5]));
  view.update(message("elsewhere", 1));
  // A topic frame says who set it and when; an `entered` without them leaves them unknown.
  assertEquals(view.get("lobby"), {
    name: "lobby",
    topic: "new topic",
    topicSetter: { by: "bob", ts },
    newest: 7,
    oldest: 3,
  });
  view.setCurrent(undefined);
  view.update(entered("Lobby", "again"));
  assertEquals(view.get("lobby"), { name: "Lobby", topic: "again", newest: 7, oldest: 3 });
  assertEquals(view.current, "Lobby");
});

Deno.test("RoomView.replay: a replay shows only what is newer, a page is shown whole", () => {
  const view = new RoomView("alice");
  view.update(entered("lobby"));
  view.update(message("lobby", 5));
  view.update(message("lobby", 6));
  // After a reconnect: 4 to 6 seen before (4 never was, but is older than the newest).
  assertEquals(view.replay(history("lobby", [4, 5, 6, 7]), false), history("lobby", [7]));
  assertEquals(view.get("lobby")?.oldest, 5);
  assertEquals(view.replay(history("lobby", [6, 7]), false), undefined);
  assertEquals(view.replay(history("lobby", []), false), history("lobby", []));
  // A page asked for is whole, and moves the oldest back.
  assertEquals(view.replay(history("lobby", [2, 3, 4]), true), history("lobby", [2, 3, 4]));
  assertEquals(view.get("lobby"), { name: "lobby", topic: "", newest: 7, oldest: 2 });
  // A room not entered is shown whole and not recorded.
  assertEquals(view.replay(history("other", [1]), false), history("other", [1]));
  assertEquals(view.get("other"), undefined);
});

Deno.test("requestFor: without a room, what needs one is a notice", () => {
  const view = new RoomView("alice");
  assertEquals(request("hi", view), { notice: "You are in no room: /join one to talk" });
  assertEquals(request("/me waves", view), { notice: "You are in no room: /join one to talk" });
  assertEquals(request("/part", view), { notice: "You are in no room: /join one to leave" });
  assertEquals(request("/topic", view), { notice: "You are in no room: /join one to see a topic" });
  assertEquals(request("/history", view), { notice: "You are in no room: /join one to page back" });
  assertEquals(request("/part #x", view), { frame: { type: "part", room: "x" } });
  assertEquals(request("/who", view), { frame: { type: "who" } });
  assertEquals(request("/bogus", view), { notice: 'Unknown command "/bogus"; /help lists them' });
});

Deno.test("requestFor: the current room is the target, and joining it again only focuses", () => {
  const view = new RoomView("alice");
  view.update(entered("dev"));
  view.update(entered("Lobby", "tea"));
  assertEquals(request("hi", view), { frame: { type: "send", text: "hi", room: "Lobby" } });
  assertEquals(request("/me waves", view), {
    frame: { type: "send", text: "waves", room: "Lobby", action: true },
  });
  assertEquals(request("/join #DEV", view), { focus: "dev", notice: "Now talking in #dev" });
  assertEquals(request("/join new", view), { frame: { type: "join", room: "new" } });
  assertEquals(request("/part", view), { frame: { type: "part", room: "Lobby" } });
  assertEquals(request("/topic", view), { notice: "Topic of #Lobby: tea" });
  assertEquals(request("/topic coffee", view), {
    frame: { type: "topic", room: "Lobby", topic: "coffee" },
  });
  view.setCurrent("dev");
  assertEquals(request("/topic", view), { notice: "#dev has no topic" });
});

Deno.test("requestFor: history pages back from the oldest seen", () => {
  const view = new RoomView("alice");
  view.update(entered("lobby"));
  assertEquals(request("/history", view), { frame: { type: "history", room: "lobby" } });
  view.update(history("lobby", [40, 41]));
  assertEquals(request("/history 5", view), {
    frame: { type: "history", room: "lobby", before: 40, limit: 5 },
  });
});

Deno.test("requestFor: paging, names and operator commands carry their fields", () => {
  const view = new RoomView("alice");
  view.update(entered("lobby"));
  assertEquals(request("/rooms", view), { frame: { type: "rooms" } });
  assertEquals(request("/rooms #m", view), { frame: { type: "rooms", after: "m" } });
  assertEquals(request("/who", view), { frame: { type: "who", room: "lobby" } });
  assertEquals(request("/who #dev 3", view), { frame: { type: "who", room: "dev", after: 3 } });
  assertEquals(request("/who * 9", view), { frame: { type: "who", after: 9 } });
  assertEquals(request("/msg bob hi there", view), {
    frame: { type: "msg", to: "bob", text: "hi there" },
  });
  assertEquals(request("/nick bob", view), { frame: { type: "nick", name: "bob" } });
  assertEquals(request("/nick bob secret", view), {
    frame: { type: "nick", name: "bob", password: "secret" },
  });
  assertEquals(request("/register pw", view), { frame: { type: "register", password: "pw" } });
  assertEquals(request("/register pw tok", view), {
    frame: { type: "register", password: "pw", token: "tok" },
  });
  assertEquals(request("/kick bob", view), { frame: { type: "kick", name: "bob" } });
  assertEquals(request("/kick bob go away", view), {
    frame: { type: "kick", name: "bob", reason: "go away" },
  });
  assertEquals(request("/ban bob 2h spam", view), {
    frame: { type: "ban", target: "bob", duration: 7200, reason: "spam" },
  });
  assertEquals(request("/ban 10.0.0.1", view), { frame: { type: "ban", target: "10.0.0.1" } });
  assertEquals(request("/unban bob", view), { frame: { type: "unban", target: "bob" } });
  assertEquals(request("/stats", view), { frame: { type: "stats" } });
});
