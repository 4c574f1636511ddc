// The web client: speaks the protocol over the server's WebSocket (/ws) in its parley.ndjson
// subprotocol: one JSON frame per message sent, NDJSON lines in each binary message received.
// What a typed line means, what it asks of the server, how a notice reads and how text from
// others is made harmless are the terminal client's own modules (../_text/), bundled in with
// this file by build.ts. Everything from others goes into the page as text (textContent), never
// as markup, with control and bidi characters shown as placeholders.

import { COMMAND_HELP, holdsSecret, parseCommand } from "../_text/commands.ts";
import { formatFrame, mentions } from "../_text/format.ts";
import { requestFor } from "../_text/requests.ts";
import { RoomView } from "../_text/room_view.ts";
import { sanitize } from "../_text/sanitize.ts";
import { foldName } from "../protocol.ts";

const NAME_KEY = "parley.name";
/** Reconnecting waits this long at first, doubling up to MAX_BACKOFF_MS. */
const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30000;
/** How many messages "Earlier messages" asks for. */
const EARLIER = 50;
/** Colour classes in style.css, picked by a hash of the name. */
const COLOURS = 8;
/** The page's keys, after the commands in /help. */
const KEYS = "Keys: Enter sends, Shift+Enter starts a new line, Up/Down (at the start or end of " +
  "the box) for sent lines.";
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
const whoTitle = $("who-title");
const userList = $("user-list");
const title = $("title");
const topicLine = $("topic");
const statusLine = $("status");
const menu = $("menu");
const roomsNav = $("rooms");

/**
 * What the page shows in one place: a room, or a private conversation with `name` (`peer`).
 * `users` is who is in a room; `online` what the server last told about a peer (undefined: it
 * has not told).
 * @typedef {{ key: string, name: string, peer: boolean, list: HTMLOListElement, more: boolean,
 *   paging: boolean, unread: number, users: Set<string>, topic: string,
 *   online: boolean | undefined }} Tab
 */

/** The tabs by key: `#` and a room's folded name, or `@` and a peer's. @type {Map<string, Tab>} */
const tabs = new Map();
/** The key of the tab shown. @type {string | undefined} */
let current;
/** The rooms entered, their topics and the messages seen: what commands are read against, and
 * what keeps a replay after reconnecting from showing anything twice. */
const view = new RoomView();
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
/** The folded name of the room the user last asked to join: shown once entered. */
let focusOn;
/** Whether reconnecting is pointless (a name that needs changing): the login form is shown. */
let stopped = false;
/** The last request sent: a `no_such_user` right after a `msg` is about its peer. */
let lastRequest;
/** The `/ping`s awaiting their `pong`: when each was sent, by id. @type {Map<string, number>} */
const pings = new Map();
let pingCount = 0;
/** The lines sent, oldest first, for Up/Down; none that holds a password. @type {string[]} */
const sentLines = [];
/** Where Up/Down is in sentLines (its length: the line being written, kept in `draft`). */
let recall = 0;
let draft = "";

function send(frame) {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

function setStatus(text) {
  statusLine.textContent = text;
}

function same(a, b) {
  return foldName(a) === foldName(b);
}

function colourClass(name) {
  let hash = 0;
  for (const char of foldName(name)) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
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

/** What the terminal says of `frame`, without the `-- ` that marks its notices. */
function describe(frame) {
  return formatFrame(frame, { color: false, time: false })?.text.replace(/^-- /, "") ?? "";
}

/** @returns {Tab} */
function tab(key, name, peer) {
  let found = tabs.get(key);
  if (found === undefined) {
    const list = document.createElement("ol");
    list.setAttribute("aria-label", peer ? `Private messages with ${name}` : `Messages in ${name}`);
    found = {
      key,
      name,
      peer,
      list,
      more: false,
      paging: false,
      unread: 0,
      users: new Set(),
      topic: "",
      online: undefined,
    };
    tabs.set(key, found);
  }
  return found;
}

function roomTab(name) {
  return tab(`#${foldName(name)}`, name, false);
}

function peerTab(name) {
  return tab(`@${foldName(name)}`, name, true);
}

/** Whether the tab is listed: a room while the page is in it; a conversation once begun. */
function listed(entry) {
  return entry.peer || view.get(entry.name) !== undefined;
}

/** Whether a peer is online, as far as the server has told: in a room shared with us, or what
 * the last word about them said; undefined if nothing has. */
function online(entry) {
  for (const other of tabs.values()) {
    if (!other.peer && listed(other) && [...other.users].some((name) => same(name, entry.name))) {
      return true;
    }
  }
  return entry.online;
}

/** Whether the log is scrolled to its end, so that new lines keep it there. */
function atEnd() {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
}

/** Adds a line to a tab's log; a message in a tab not shown counts as unread. */
function addLine(target, element, { before } = {}) {
  const stick = target.key === current && atEnd();
  if (before) target.list.insertBefore(element, before);
  else target.list.append(element);
  if (target.key === current) {
    if (stick) log.scrollTop = log.scrollHeight;
  } else if (!before && element.classList.contains("message")) {
    target.unread++;
    renderSide();
  }
}

function notice(text, className = "notice", target = current && tabs.get(current)) {
  if (!target) return;
  const line = document.createElement("li");
  line.className = className;
  line.append(timeOf(), span(text));
  addLine(target, line);
}

/** A message line: `message` has from, text and ts, action and id if it has them. */
function messageLine(message) {
  const line = document.createElement("li");
  line.className = "message";
  if (message.id !== undefined) line.dataset.id = String(message.id);
  const name = span(message.action ? `* ${message.from}` : message.from, "name");
  name.classList.add(colourClass(message.from));
  line.append(timeOf(message.ts), name, span(message.text, "text"));
  if (mentionsMe(message)) line.classList.add("mention");
  return line;
}

function mentionsMe(message) {
  return view.name !== "" && !same(message.from, view.name) && mentions(message.text, view.name);
}

/** Shows a room message. */
function showMessage(target, message, { before } = {}) {
  addLine(target, messageLine(message), { before });
  if (!before && mentionsMe(message)) notify(`${message.from} in ${target.name}`, message);
}

/** Whether `message` is one of ours shown when sent (the server sends no copy back), now
 * replayed after a reconnect: the line shown gets its id, and no second one is made. */
function claimPending(target, message) {
  if (!same(message.from, view.name)) return false;
  for (const pending of target.list.querySelectorAll("li.pending")) {
    if (pending.dataset.text === message.text) {
      pending.classList.remove("pending");
      pending.dataset.id = String(message.id);
      delete pending.dataset.text;
      return true;
    }
  }
  return false;
}

function notify(heading, message) {
  if (!document.hidden || !("Notification" in globalThis)) return;
  if (Notification.permission !== "granted") return;
  new Notification(sanitize(heading), { body: sanitize(message.text) });
}

/** Lists the rooms and conversations, and who is in the one shown. */
function renderSide() {
  roomList.replaceChildren();
  for (const entry of tabs.values()) {
    if (!listed(entry)) continue;
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.append(span(entry.peer ? `@${entry.name}` : entry.name));
    if (entry.peer) button.setAttribute("aria-label", `Private messages with ${entry.name}`);
    if (entry.unread > 0) {
      const badge = span(String(entry.unread), "unread");
      badge.setAttribute("aria-label", `${entry.unread} unread`);
      button.append(badge);
    }
    button.setAttribute("aria-current", String(entry.key === current));
    button.addEventListener("click", () => show(entry.key));
    item.append(button);
    roomList.append(item);
  }
  userList.replaceChildren();
  const shown = current && tabs.get(current);
  if (!shown) return;
  if (shown.peer) {
    whoTitle.textContent = "Talking with";
    const item = document.createElement("li");
    item.append(span(shown.name, colourClass(shown.name)), " ", span(presence(shown), "hint"));
    userList.append(item);
    topicLine.textContent = `private · ${presence(shown)}`;
    return;
  }
  whoTitle.textContent = `Here (${shown.users.size})`;
  for (const name of [...shown.users].sort()) {
    const item = document.createElement("li");
    item.append(span(name, colourClass(name)));
    userList.append(item);
  }
}

function presence(entry) {
  const known = online(entry);
  return known === undefined ? "in no room with you" : known ? "online" : "offline";
}

/** Makes the tab `key` the one shown; a room shown is where plain lines go. */
function show(key) {
  const target = /** @type {Tab} */ (tabs.get(key));
  current = key;
  view.setCurrent(target.peer ? undefined : target.name);
  target.unread = 0;
  title.textContent = sanitize(target.peer ? `@${target.name}` : target.name);
  topicLine.textContent = sanitize(target.topic);
  log.replaceChildren();
  if (target.more) {
    const earlier = document.createElement("button");
    earlier.type = "button";
    earlier.className = "earlier";
    earlier.textContent = "Earlier messages";
    earlier.addEventListener("click", () => execute({ type: "history", count: EARLIER }));
    log.append(earlier);
  }
  log.append(target.list);
  log.scrollTop = log.scrollHeight;
  roomsNav.classList.remove("open");
  menu.setAttribute("aria-expanded", "false");
  renderSide();
}

/** Shows the first room the page is in, or none. */
function showAnother() {
  const next = [...tabs.values()].find((entry) => !entry.peer && listed(entry));
  if (next) show(next.key);
  else renderSide();
}

/** Carries out a command (_text/commands.ts) as the terminal does: what it asks of the server
 * comes from requestFor, against the room shown; in a conversation plain lines go to the peer. */
function execute(command) {
  switch (command.type) {
    case "ping": {
      const id = `page-${++pingCount}`;
      pings.set(id, performance.now());
      return send({ type: "ping", id });
    }
    case "help":
      return notice(`${COMMAND_HELP}\n${KEYS}`);
    case "quit":
      stopped = true;
      return send({ type: "quit" });
  }
  const shown = current ? tabs.get(current) : undefined;
  if (shown?.peer && command.type === "say") {
    command = { type: "msg", to: shown.name, text: command.text };
  } else if (shown?.peer && command.type === "me") {
    return notice("/me is for rooms: a private message has no action", "error");
  } else if (shown?.peer && command.type === "part" && command.room === undefined) {
    // Leaving a conversation closes its tab; a message from the peer opens it again.
    tabs.delete(shown.key);
    return showAnother();
  }
  const request = requestFor(command, view);
  if ("focus" in request) show(roomTab(request.focus).key);
  if ("notice" in request) return notice(request.notice);
  ask(request.frame);
}

/** Sends a request, and does what goes with it here: shows what we say (the server sends no
 * copy back), keeps a password to reconnect with, marks a history page as asked for. */
function ask(frame) {
  lastRequest = frame;
  send(frame);
  switch (frame.type) {
    case "send": {
      const target = roomTab(frame.room);
      const line = messageLine({ from: view.name, text: frame.text, action: frame.action });
      line.classList.add("pending");
      line.dataset.text = frame.text;
      addLine(target, line);
      log.scrollTop = log.scrollHeight;
      return;
    }
    case "msg": {
      const target = peerTab(frame.to);
      show(target.key);
      addLine(target, messageLine({ from: view.name, text: frame.text }));
      log.scrollTop = log.scrollHeight;
      return;
    }
    case "join":
      focusOn = foldName(frame.room);
      return;
    case "history":
      roomTab(frame.room).paging = true;
      return;
    case "nick":
      if (frame.password !== undefined) password = frame.password;
      return;
    case "register":
      password = frame.password;
      return;
  }
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
  // A replay is taken in by view.replay below, which drops what was seen.
  if (frame.type !== "history") view.update(frame);
  switch (frame.type) {
    case "ping":
      return send(frame.id === undefined ? { type: "pong" } : { type: "pong", id: frame.id });
    case "pong": {
      const sent = pings.get(frame.id);
      if (sent === undefined) return;
      pings.delete(frame.id);
      return notice(`Round trip to the server: ${(performance.now() - sent).toFixed(1)} ms`);
    }
    case "welcome": {
      welcomed = true;
      backoff = FIRST_BACKOFF_MS;
      localStorage.setItem(NAME_KEY, view.name);
      setStatus(`connected as ${sanitize(view.name)}`);
      // The rooms we were in before the connection broke, entered again.
      for (const known of view.rooms()) {
        if (!same(known.name, frame.room)) send({ type: "join", room: known.name });
      }
      return;
    }
    case "entered": {
      const target = roomTab(frame.room);
      // The others in it, and us.
      target.users = new Set([view.name, ...frame.users]);
      target.topic = frame.topic ?? "";
      const shown = current ? tabs.get(current) : undefined;
      if (foldName(frame.room) === focusOn) focusOn = undefined;
      else if (shown && shown !== target && listed(shown)) return renderSide();
      return show(target.key);
    }
    case "history": {
      const target = roomTab(frame.room);
      const paging = target.paging;
      target.paging = false;
      const first = (view.get(frame.room)?.oldest ?? 0) === 0;
      const claimed = new Set(
        frame.messages.filter((message) => claimPending(target, message)).map(({ id }) => id),
      );
      const fresh = view.replay(frame, paging)?.messages ?? [];
      // An earlier page goes before what is shown; a replay on entering after it, and whether
      // there is more before it counts only for the first one.
      const before = paging ? target.list.firstChild : undefined;
      for (const message of fresh) {
        if (!claimed.has(message.id)) showMessage(target, message, { before });
      }
      if (paging || first) target.more = frame.more;
      if (target.key === current) show(current);
      return;
    }
    case "message":
      return showMessage(roomTab(frame.room), frame);
    case "private": {
      const target = peerTab(frame.from);
      target.online = true;
      addLine(target, messageLine(frame));
      notify(`${frame.from}, privately`, frame);
      if (!current) show(target.key);
      return renderSide();
    }
    case "joined": {
      const target = roomTab(frame.room);
      target.users.add(frame.name);
      notice(describe(frame), "notice", target);
      return renderSide();
    }
    case "left": {
      const target = roomTab(frame.room);
      if (same(frame.name, view.name)) {
        if (target.key === current) showAnother();
        else renderSide();
        return;
      }
      for (const name of target.users) if (same(name, frame.name)) target.users.delete(name);
      // Leaving a room only is no news of whether they are connected; anything else is.
      const peer = tabs.get(`@${foldName(frame.name)}`);
      if (peer && frame.reason !== "part") peer.online = false;
      notice(describe(frame), "notice", target);
      return renderSide();
    }
    case "renamed": {
      for (const entry of tabs.values()) {
        if (!entry.peer && entry.users.delete(frame.from)) entry.users.add(frame.to);
      }
      const peer = tabs.get(`@${foldName(frame.from)}`);
      if (peer) {
        // The conversation follows the name.
        tabs.delete(peer.key);
        peer.key = `@${foldName(frame.to)}`;
        peer.name = frame.to;
        tabs.set(peer.key, peer);
        if (current === `@${foldName(frame.from)}`) current = peer.key;
      }
      if (same(frame.to, view.name)) localStorage.setItem(NAME_KEY, view.name);
      notice(describe(frame));
      return current ? show(current) : undefined;
    }
    case "topic": {
      const target = roomTab(frame.room);
      target.topic = frame.topic;
      notice(describe(frame), "notice", target);
      if (target.key === current) topicLine.textContent = sanitize(frame.topic);
      return;
    }
    case "users":
    case "rooms":
    case "stats":
    case "notice":
      return notice(describe(frame));
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
  if (frame.code === "no_such_user" && lastRequest?.type === "msg") {
    const peer = peerTab(lastRequest.to);
    peer.online = false;
    notice(`${text} (${frame.code})`, "error", peer);
    return renderSide();
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
    const hello = { type: "hello", name: view.name };
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
    pings.clear();
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
  loginName.value = view.name || localStorage.getItem(NAME_KEY) || "";
  loginName.focus();
}

loginForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const name = loginName.value.trim();
  if (askingServerPassword) serverPassword = loginPassword.value || undefined;
  else password = loginPassword.value || undefined;
  loginPassword.value = "";
  if (!name) return;
  view.name = name;
  loginForm.hidden = true;
  chat.hidden = false;
  input.focus();
  socket?.close();
  connect();
});

/** Puts a sent line (or, past the newest, what was being written) back in the box. */
function recallLine(step) {
  const next = recall + step;
  if (next < 0 || next > sentLines.length) return false;
  if (recall === sentLines.length) draft = input.value;
  recall = next;
  input.value = recall === sentLines.length ? draft : /** @type {string} */ (sentLines[recall]);
  return true;
}

input.addEventListener("keydown", (event) => {
  if (event.isComposing) return;
  // Up at the very start of the box, Down at its very end: elsewhere they move the cursor.
  const atStart = input.selectionStart === 0 && input.selectionEnd === 0;
  const atEnd = input.selectionStart === input.value.length;
  if (event.key === "ArrowUp" && atStart && recallLine(-1)) event.preventDefault();
  if (event.key === "ArrowDown" && atEnd && recallLine(1)) event.preventDefault();
  if (event.key !== "Enter" || event.shiftKey) return;
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
  const command = parseCommand(text);
  // A line with a password is neither kept for Up nor shown.
  if (!holdsSecret(command)) sentLines.push(text);
  recall = sentLines.length;
  draft = "";
  // Asked on sending (a user's own act, which browsers want) and only once: mentions and private
  // messages then notify while the page is hidden.
  if ("Notification" in globalThis && Notification.permission === "default") {
    Notification.requestPermission().catch(() => {});
  }
  execute(command);
});

menu.addEventListener("click", () => {
  const open = roomsNav.classList.toggle("open");
  menu.setAttribute("aria-expanded", String(open));
});

const remembered = localStorage.getItem(NAME_KEY);
if (remembered) {
  view.name = remembered;
  loginForm.hidden = true;
  chat.hidden = false;
  connect();
} else {
  showLogin();
}
