// The web client: speaks the protocol over the server's WebSocket (/ws) in its parley.ndjson
// subprotocol: one JSON frame per message sent, NDJSON lines in each binary message received.
// Everything from others goes into the page as text (textContent), never as markup,
// with control and bidi characters shown as placeholders (sanitize.js).

import { sanitize } from "./sanitize.js";

const NAME_KEY = "parley.name";
/** Reconnecting waits this long at first, doubling up to MAX_BACKOFF_MS. */
const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30000;
/** Colour classes in style.css, picked by a hash of the name. */
const COLOURS = 8;
const decoder = new TextDecoder();

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const loginForm = /** @type {HTMLFormElement} */ ($("login"));
const loginName = /** @type {HTMLInputElement} */ ($("login-name"));
const loginPassword = /** @type {HTMLInputElement} */ ($("login-password"));
const loginError = $("login-error");
const chat = $("chat");
const log = $("log");
const input = /** @type {HTMLTextAreaElement} */ ($("input"));
const roomList = $("room-list");
const userList = $("user-list");
const title = $("title");
const topicLine = $("topic");
const statusLine = $("status");
const menu = $("menu");
const roomsNav = $("rooms");

/**
 * A room as the page keeps it.
 * @typedef {{ name: string, list: HTMLOListElement, ids: Set<number>, oldest: number | undefined,
 *   more: boolean, paging: boolean, unread: number, users: Set<string>, topic: string,
 *   joined: boolean }} Room
 */

/** @type {Map<string, Room>} */
const rooms = new Map();
/** @type {string | undefined} */
let current;
let myName = "";
/** @type {string | undefined} */
let password;
/** The password typed once the server asked for its own (`auth_failed`), sent as that. */
let serverPassword;
let askingServerPassword = false;
/** @type {WebSocket | undefined} */
let socket;
let welcomed = false;
let backoff = FIRST_BACKOFF_MS;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let retryTimer;
/** The room the user last asked to join: shown once entered. */
let focusOn;
/** Whether reconnecting is pointless (a name that needs changing): the login form is shown. */
let stopped = false;

function send(frame) {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

function setStatus(text) {
  statusLine.textContent = text;
}

function colourClass(name) {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return `c${hash % COLOURS}`;
}

function timeOf(ts) {
  const date = ts === undefined ? new Date() : new Date(ts);
  const time = document.createElement("time");
  time.className = "time";
  time.dateTime = date.toISOString();
  time.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return time;
}

function span(text, className) {
  const element = document.createElement("span");
  if (className) element.className = className;
  element.textContent = sanitize(text);
  return element;
}

/** @returns {Room} */
function room(name) {
  let found = rooms.get(name);
  if (found === undefined) {
    const list = document.createElement("ol");
    list.setAttribute("aria-label", `Messages in ${name}`);
    found = {
      name,
      list,
      ids: new Set(),
      oldest: undefined,
      more: false,
      paging: false,
      unread: 0,
      users: new Set(),
      topic: "",
      joined: false,
    };
    rooms.set(name, found);
  }
  return found;
}

/** Whether the log is scrolled to its end, so that new lines keep it there. */
function atEnd() {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
}

/** Adds a line to a room's log (the current room's if none is given). */
function addLine(target, element, { before } = {}) {
  const stick = target.name === current && atEnd();
  if (before) target.list.insertBefore(element, before);
  else target.list.append(element);
  if (target.name === current) {
    if (stick) log.scrollTop = log.scrollHeight;
  } else if (!before && element.classList.contains("message")) {
    target.unread++;
    renderRooms();
  }
}

function notice(text, className = "notice", target = current && room(current)) {
  if (!target) return;
  const line = document.createElement("li");
  line.className = className;
  line.append(timeOf(), span(text));
  addLine(target, line);
}

/** A message line. `message` has from, text, ts, and action, and an id unless it is our own. */
function messageLine(message) {
  const line = document.createElement("li");
  line.className = "message";
  if (message.id !== undefined) line.dataset.id = String(message.id);
  const name = span(message.action ? `* ${message.from}` : message.from, "name");
  name.classList.add(colourClass(message.from));
  line.append(timeOf(message.ts), name, span(message.text, "text"));
  if (message.from !== myName && myName && message.text.includes(myName)) {
    line.classList.add("mention");
  }
  return line;
}

/** Shows a room message once, however often it arrives (live, in a replay, after reconnecting);
 * our own message, shown when sent, gets its id from the replay instead of a second line. */
function showMessage(target, message, { before } = {}) {
  if (target.ids.has(message.id)) return;
  target.ids.add(message.id);
  if (target.oldest === undefined || message.id < target.oldest) target.oldest = message.id;
  if (message.from === myName) {
    for (const pending of target.list.querySelectorAll("li.pending")) {
      if (pending.dataset.text === message.text) {
        pending.classList.remove("pending");
        pending.dataset.id = String(message.id);
        delete pending.dataset.text;
        return;
      }
    }
  }
  addLine(target, messageLine(message), { before });
  if (!before && message.from !== myName && myName && message.text.includes(myName)) {
    notify(target.name, message);
  }
}

function notify(roomName, message) {
  if (!document.hidden || !("Notification" in globalThis)) return;
  if (Notification.permission !== "granted") return;
  new Notification(`${message.from} in ${roomName}`, { body: sanitize(message.text) });
}

function renderRooms() {
  roomList.replaceChildren();
  for (const entry of rooms.values()) {
    if (!entry.joined) continue;
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.append(span(entry.name));
    if (entry.unread > 0) {
      const badge = span(String(entry.unread), "unread");
      badge.setAttribute("aria-label", `${entry.unread} unread`);
      button.append(badge);
    }
    button.setAttribute("aria-current", String(entry.name === current));
    button.addEventListener("click", () => show(entry.name));
    item.append(button);
    roomList.append(item);
  }
  userList.replaceChildren();
  const shown = current && rooms.get(current);
  if (shown) {
    for (const name of [...shown.users].sort()) {
      const item = document.createElement("li");
      item.append(span(name, colourClass(name)));
      userList.append(item);
    }
  }
}

/** Makes `name` the room shown and written to. */
function show(name) {
  const target = room(name);
  current = name;
  target.unread = 0;
  title.textContent = sanitize(name);
  topicLine.textContent = sanitize(target.topic);
  log.replaceChildren();
  if (target.more) {
    const earlier = document.createElement("button");
    earlier.type = "button";
    earlier.className = "earlier";
    earlier.textContent = "Earlier messages";
    earlier.addEventListener("click", () => {
      target.paging = true;
      send({ type: "history", room: name, before: target.oldest, limit: 50 });
    });
    log.append(earlier);
  }
  log.append(target.list);
  log.scrollTop = log.scrollHeight;
  roomsNav.classList.remove("open");
  menu.setAttribute("aria-expanded", "false");
  renderRooms();
}

const HELP = "Commands: /join ROOM, /part [ROOM], /me ACTION, /msg NAME TEXT, /topic TEXT, " +
  "/nick NAME, /who, /rooms, /help. Enter sends, Shift+Enter starts a new line.";

/** Carries out what was typed: a message to the current room, or a slash command. */
function execute(text) {
  if (!text.startsWith("/") || text.startsWith("//")) {
    const body = text.startsWith("//") ? text.slice(1) : text;
    return say(body, false);
  }
  const [, command = "", rest = ""] = /^\/(\S*)\s*([\s\S]*)$/.exec(text) ?? [];
  const arg = rest.trim();
  switch (command.toLowerCase()) {
    case "me":
      return arg ? say(arg, true) : notice("Usage: /me ACTION", "error");
    case "join":
    case "j":
      if (!arg) return notice("Usage: /join ROOM", "error");
      if (rooms.get(arg)?.joined) return show(arg);
      focusOn = arg;
      return send({ type: "join", room: arg });
    case "part":
    case "leave": {
      const target = arg || current;
      return target && send({ type: "part", room: target });
    }
    case "msg": {
      const [, to, body] = /^(\S+)\s+([\s\S]+)$/.exec(arg) ?? [];
      if (!to) return notice("Usage: /msg NAME TEXT", "error");
      send({ type: "msg", to, text: body });
      return notice(`→ ${to}: ${body}`);
    }
    case "topic":
      return current && send({ type: "topic", room: current, topic: rest });
    case "nick":
      return arg ? send({ type: "nick", name: arg }) : notice("Usage: /nick NAME", "error");
    case "who":
      return send(current ? { type: "who", room: current } : { type: "who" });
    case "rooms":
      return send({ type: "rooms" });
    case "quit":
      stopped = true;
      send({ type: "quit" });
      return;
    case "help":
      return notice(HELP);
    default:
      return notice(`Unknown command /${command}; /help lists them`, "error");
  }
}

function say(text, action) {
  if (!current || text.trim() === "") return;
  const frame = { type: "send", room: current, text };
  if (action) frame.action = true;
  send(frame);
  // The sender gets no copy: shown now, given its id by the replay after a reconnect.
  const line = messageLine({ from: myName, text, action });
  line.classList.add("pending");
  line.dataset.text = text;
  addLine(room(current), line);
  log.scrollTop = log.scrollHeight;
}

const MESSAGES = {
  name_taken: "That name is taken; choose another.",
  invalid_name: "That name is not allowed.",
  wrong_password: "That name is registered: give its password.",
  auth_failed: "The server needs its password.",
  rate_limited: "Slow down: the server dropped that.",
  server_full: "The server is full; trying again shortly.",
  too_many_connections: "Too many connections; trying again shortly.",
  banned: "You are banned.",
};

function onFrame(frame) {
  switch (frame.type) {
    case "ping":
      return send(frame.id === undefined ? { type: "pong" } : { type: "pong", id: frame.id });
    case "welcome": {
      welcomed = true;
      backoff = FIRST_BACKOFF_MS;
      myName = frame.name;
      localStorage.setItem(NAME_KEY, myName);
      setStatus(`connected as ${sanitize(myName)}`);
      // The rooms we were in before the connection broke, entered again.
      for (const entry of rooms.values()) {
        if (entry.joined && entry.name !== frame.room) send({ type: "join", room: entry.name });
      }
      return;
    }
    case "entered": {
      const target = room(frame.room);
      target.joined = true;
      target.users = new Set(frame.users);
      target.topic = frame.topic ?? "";
      if (
        current === undefined || current === frame.room || frame.room === focusOn ||
        !rooms.get(current)?.joined
      ) {
        if (frame.room === focusOn) focusOn = undefined;
        show(frame.room);
      } else renderRooms();
      return;
    }
    case "history": {
      const target = room(frame.room);
      if (!target.paging) {
        // A replay on entering: whether there is more before it counts only for the first one,
        // since after a reconnect the page already shows what came before.
        const first = target.oldest === undefined;
        for (const message of frame.messages) showMessage(target, message);
        if (first) target.more = frame.more;
      } else {
        // An earlier page: put before what is shown, oldest first.
        target.paging = false;
        const first = target.list.firstChild;
        for (const message of frame.messages) showMessage(target, message, { before: first });
        target.more = frame.more;
      }
      if (frame.room === current) show(current);
      return;
    }
    case "message":
      return showMessage(room(frame.room), frame);
    case "private": {
      const line = messageLine({
        from: `${frame.from} → ${frame.to}`,
        text: frame.text,
        ts: frame.ts,
      });
      line.classList.add("mention");
      if (current) addLine(room(current), line);
      if (frame.from !== myName) notify("a private message", frame);
      return;
    }
    case "joined": {
      const target = room(frame.room);
      target.users.add(frame.name);
      notice(`${frame.name} joined`, "notice", target);
      if (frame.room === current) renderRooms();
      return;
    }
    case "left": {
      const target = room(frame.room);
      if (frame.name === myName) {
        target.joined = false;
        const next = [...rooms.values()].find((entry) => entry.joined);
        if (next) show(next.name);
        else renderRooms();
        return;
      }
      target.users.delete(frame.name);
      notice(`${frame.name} left (${frame.reason})`, "notice", target);
      if (frame.room === current) renderRooms();
      return;
    }
    case "renamed": {
      if (frame.from === myName) {
        myName = frame.to;
        localStorage.setItem(NAME_KEY, myName);
      }
      for (const entry of rooms.values()) {
        if (entry.users.delete(frame.from)) entry.users.add(frame.to);
      }
      notice(`${frame.from} is now ${frame.to}`);
      return renderRooms();
    }
    case "topic": {
      const target = room(frame.room);
      target.topic = frame.topic;
      notice(
        frame.by ? `${frame.by} set the topic: ${frame.topic}` : `Topic: ${frame.topic}`,
        "notice",
        target,
      );
      if (frame.room === current) topicLine.textContent = sanitize(frame.topic);
      return;
    }
    case "users":
      return notice(
        `Here: ${frame.users.map((u) => (typeof u === "string" ? u : u.name)).join(", ")}`,
      );
    case "rooms":
      return notice(`Rooms: ${frame.rooms.map((r) => `${r.name} (${r.users})`).join(", ")}`);
    case "notice":
      return notice(frame.text);
    case "error":
      return onError(frame);
  }
}

function onError(frame) {
  const text = MESSAGES[frame.code] ?? frame.message;
  if (
    !welcomed &&
    ["name_taken", "invalid_name", "wrong_password", "auth_failed", "banned"].includes(frame.code)
  ) {
    stopped = true;
    askingServerPassword = frame.code === "auth_failed";
    showLogin(text);
    return;
  }
  if (current) notice(`${text} (${frame.code})`, "error");
  else setStatus(`${text} (${frame.code})`);
}

function connect() {
  clearTimeout(retryTimer);
  welcomed = false;
  stopped = false;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  // parley.ndjson: the server sends what it has for us at once, as one binary message of NDJSON
  // lines (one frame per text message without it).
  const ws = new WebSocket(`${scheme}//${location.host}/ws`, "parley.ndjson");
  ws.binaryType = "arraybuffer";
  socket = ws;
  setStatus("connecting…");
  ws.onopen = () => {
    const hello = { type: "hello", name: myName };
    if (password) hello.password = password;
    if (serverPassword) hello.serverPassword = serverPassword;
    ws.send(JSON.stringify(hello));
  };
  ws.onmessage = (event) => {
    // A message always holds whole frames, so each decodes on its own.
    const text = typeof event.data === "string" ? event.data : decoder.decode(event.data);
    for (const line of text.split("\n")) {
      if (line === "") continue;
      let frame;
      try {
        frame = JSON.parse(line);
      } catch {
        continue;
      }
      onFrame(frame);
    }
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = undefined;
    if (stopped) return setStatus("disconnected");
    const wait = Math.round(backoff * (0.75 + Math.random() * 0.5));
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    setStatus(`disconnected; reconnecting in ${Math.ceil(wait / 1000)} s`);
    retryTimer = setTimeout(connect, wait);
  };
}

function showLogin(error = "") {
  chat.hidden = true;
  loginForm.hidden = false;
  loginError.textContent = error;
  loginName.value = myName || localStorage.getItem(NAME_KEY) || "";
  loginName.focus();
}

loginForm.addEventListener("submit", (event) => {
  event.preventDefault();
  myName = loginName.value.trim();
  if (askingServerPassword) serverPassword = loginPassword.value || undefined;
  else password = loginPassword.value || undefined;
  loginPassword.value = "";
  if (!myName) return;
  loginForm.hidden = true;
  chat.hidden = false;
  input.focus();
  socket?.close();
  connect();
});

input.addEventListener("keydown", (event) => {
  if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
  event.preventDefault();
  $("compose").requestSubmit();
});

input.addEventListener("input", () => {
  input.style.height = "auto";
  input.style.height = `${input.scrollHeight}px`;
});

$("compose").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value;
  if (text.trim() === "") return;
  if (!welcomed || socket?.readyState !== WebSocket.OPEN) {
    // Kept in the box, to send once connected again.
    notice("Not connected: nothing was sent; it is still in the box.", "error");
    return;
  }
  input.value = "";
  input.style.height = "auto";
  // Asked on sending (a user's own act, which browsers want) and only once: mentions and private
  // messages then notify while the page is hidden.
  if ("Notification" in globalThis && Notification.permission === "default") {
    Notification.requestPermission().catch(() => {});
  }
  execute(text);
});

menu.addEventListener("click", () => {
  const open = roomsNav.classList.toggle("open");
  menu.setAttribute("aria-expanded", String(open));
});

const remembered = localStorage.getItem(NAME_KEY);
if (remembered) {
  myName = remembered;
  loginForm.hidden = true;
  chat.hidden = false;
  connect();
} else {
  showLogin();
}
