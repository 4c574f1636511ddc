// End-to-end tests of the interactive client in a real terminal: `parley connect` runs in a shell
// in a tmux pane, keys and pastes go in through tmux, and what the pane shows is read back with
// its cursor. The server and the other users are in this process.

import { assert, assertEquals, assertLess, assertMatch, assertStringIncludes } from "./_assert.ts";
import { ChatClient } from "../client.ts";
import type { ServerFrame } from "../protocol.ts";
import { ChatServer } from "../server.ts";
import { framesUntil, join, MOD_TS, nextFrame, startServer } from "./_helpers.ts";
import { PROMPT, Tmux, type TmuxOptions } from "./_tmux.ts";

/** Select Graphic Rendition: the escape sequence that sets colours and attributes. */
// deno-lint-ignore no-control-regex
const SGR = /\x1b\[([0-9;]*)m/g;

// tmux is needed; .ci/run installs it, so in CI (CI=true) a missing tmux fails the tests
// instead of skipping them. Elsewhere they are skipped, and say so.
const ignore = Deno.build.os === "windows" || (!hasTmux() && Deno.env.get("CI") !== "true");
if (ignore) console.error("tui_test.ts: NOT RUN: tmux is not installed (apt-get install tmux)");

function hasTmux(): boolean {
  try {
    return new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** A terminal with a shell that knows where Deno and Parley are, as `$DENO` and `$MOD`. */
function openTerminal(options: TmuxOptions = {}): Promise<Tmux> {
  return Tmux.start({
    ...options,
    env: { DENO: Deno.execPath(), MOD: MOD_TS, NO_COLOR: "1", ...options.env },
  });
}

/**
 * Types, in the pane's shell, the command line that runs `parley connect` to `server` with
 * `args` and then prints `exit=STATUS`. Waits until `ready` holds for the screen, by default
 * until the input line `NAME> ` is the last row; returns the client's process id.
 */
async function startClient(
  term: Tmux,
  server: ChatServer,
  args: string[],
  ready = inputRow(`${args[args.indexOf("--name") + 1]}> `),
): Promise<number> {
  // `exec` keeps the process id that the inner shell prints.
  await term.run(
    `sh -c 'echo "pid=$$"; exec "$@"' sh "$DENO" run -A -q "$MOD" connect ` +
      `127.0.0.1:${server.addr.port} --no-color ${args.join(" ")}; echo "exit=$?"`,
  );
  await term.waitFor(ready, 20_000);
  // Printed before the client started, so complete by now.
  const screen = await term.capture({ history: true });
  return Number(screen.match(/^pid=(\d+)$/m)![1]);
}

/** Matches a screen whose last non-empty row is `row` (trailing spaces ignored). */
function inputRow(row: string): (screen: string) => boolean {
  return (screen) => lastRow(screen) === row.trimEnd();
}

/**
 * Matches a screen that `pattern` matches and whose last row is `row`: a line printed above
 * the input line, and the input line drawn again after it. Waiting for both, not only the line,
 * keeps a test from reading the screen while the client is halfway through drawing it.
 */
function above(pattern: RegExp, row: string): (screen: string) => boolean {
  return (screen) => pattern.test(screen) && inputRow(row)(screen);
}

function lastRow(screen: string): string {
  return screen.trimEnd().split("\n").at(-1) ?? "";
}

/** Waits for the client to exit and the shell's prompt to follow; returns its exit status. */
async function exitStatus(term: Tmux): Promise<number> {
  const exited = /^exit=(\d+)\n\$$/m;
  const screen = await term.waitFor(exited, 10_000, { history: true });
  return Number(screen.match(exited)![1]);
}

/**
 * Asserts the terminal is back as the client found it: `stty -a` shows cooked mode with echo,
 * and bracketed paste is off, so a paste into the next program arrives as plain text.
 */
async function assertRestored(term: Tmux): Promise<void> {
  await term.run(`stty -a; echo "stty-$((6 * 7))"; cat -v`);
  const screen = await term.waitFor(/^stty-42$/m, 10_000, { history: true, join: true });
  const output = screen.slice(screen.lastIndexOf("$ stty -a"), screen.lastIndexOf("stty-42"));
  const settings = new Set(output.split(/[\s;]+/));
  for (const setting of ["icanon", "echo", "isig", "icrnl", "opost"]) {
    assert(settings.has(setting), `stty shows "${setting}" off:\n${output}`);
  }
  // `cat -v` shows what it reads, markers included; the terminal echoes it too.
  await term.paste("pasted\n");
  const pasted = await term.waitFor(
    (screen) => screen.slice(screen.lastIndexOf("stty-42")).split("pasted").length === 3,
  );
  assert(!pasted.includes("[200~"), `a paste arrived bracketed:\n${pasted}`);
  await term.press("C-d");
  await term.waitFor(inputRow(PROMPT));
}

/** The screen row and column where the cursor should be: after `row`, the last row shown. */
async function assertCursorAfter(term: Tmux, row: string, width: number): Promise<void> {
  const expected = async () => ({ x: width, y: (await term.rows()).lastIndexOf(row.trimEnd()) });
  const found = await term.poll(
    async () => ({ cursor: await term.cursor(), expected: await expected() }),
    ({ cursor, expected }) => cursor.x === expected.x && cursor.y === expected.y,
    5000,
  );
  assert(found.value.expected.y >= 0, `no row reads "${row}"`);
  assertEquals(found.value.cursor, found.value.expected, `cursor after "${row}"`);
}

/** The next `count` frames of `type` that `client` receives, others skipped. */
async function frames<T extends ServerFrame["type"]>(
  client: ChatClient,
  type: T,
  count: number,
): Promise<Extract<ServerFrame, { type: T }>[]> {
  const found: Extract<ServerFrame, { type: T }>[] = [];
  await framesUntil(
    client,
    (frame) =>
      frame.type === type && found.push(frame as Extract<ServerFrame, { type: T }>) === count,
    10_000,
    `${count} "${type}" frames`,
    { keep: false },
  );
  return found;
}

/** The texts of the next `count` messages `client` receives. */
async function messages(client: ChatClient, count: number): Promise<string[]> {
  return (await frames(client, "message", count)).map((frame) => frame.text);
}

Deno.test({
  name: "tui: a half-typed line survives 20 incoming messages, then is sent as typed",
  ignore,
  async fn() {
    await using server = startServer();
    await using term = await openTerminal();
    await using bob = await join(server, "bob");
    await startClient(term, server, ["--name", "alice"]);
    await term.type("half a line");
    await term.waitFor(inputRow("alice> half a line"));
    await nextFrame(bob, "joined");
    for (let n = 1; n <= 20; n++) bob.send(`msg ${n}`);
    const all = await term.waitFor(above(/<bob> msg 20$/m, "alice> half a line"), 10_000, {
      history: true,
    });

    const lines = all.trimEnd().split("\n");
    const numbers = lines.flatMap((line) => line.match(/^\d\d:\d\d <bob> msg (\d+)$/)?.[1] ?? [])
      .map(Number);
    assertEquals(numbers, Array.from({ length: 20 }, (_, index) => index + 1));
    // The input line is drawn once, below every message: never overwritten, never left behind.
    assertEquals(lines.filter((line) => line.includes("half a line")), ["alice> half a line"]);
    assertEquals(lines.at(-1), "alice> half a line");
    await assertCursorAfter(term, "alice> half a line", "alice> half a line".length);

    await term.press("Enter");
    assertEquals(await messages(bob, 1), ["half a line"]);
    await term.waitFor(inputRow("alice> "));
    assertMatch(await term.capture(), /^\d\d:\d\d <alice> half a line$/m);
  },
});

Deno.test({
  name: "tui: editing keys fix a line; Up and Down walk the history and keep the draft",
  ignore,
  async fn() {
    await using server = startServer();
    await using term = await openTerminal();
    await using bob = await join(server, "bob");
    await startClient(term, server, ["--name", "alice"]);

    await term.type("xhelo wrld!");
    await term.waitFor(inputRow("alice> xhelo wrld!"));
    await term.press("BSpace", "Home", "DC", "End", "Left", "Left", "Left");
    await term.type("o");
    await term.press("Home", "Right", "Right", "Right");
    await term.type("l");
    await term.waitFor(inputRow("alice> hello world"));
    await assertCursorAfter(term, "alice> hello world", "alice> hell".length);
    await term.press("C-e");
    await assertCursorAfter(term, "alice> hello world", "alice> hello world".length);
    await term.press("Enter");
    assertEquals(await messages(bob, 1), ["hello world"]);
    await term.waitFor(inputRow("alice> "));

    await term.press("Up");
    await term.waitFor(inputRow("alice> hello world"));
    await term.press("Down");
    await term.waitFor(inputRow("alice> "));
    await term.type("a draft");
    await term.press("Up");
    await term.waitFor(inputRow("alice> hello world"));
    await term.press("Down");
    await term.waitFor(inputRow("alice> a draft"));
    await assertCursorAfter(term, "alice> a draft", "alice> a draft".length);
    // Ctrl-W takes the word before the cursor, Ctrl-U the rest.
    await term.press("C-w");
    await term.waitFor(inputRow("alice> a "));
    await term.press("C-u");
    await term.waitFor(inputRow("alice> "));
    await term.type("sent again");
    await term.press("Enter");
    assertEquals(await messages(bob, 1), ["sent again"]);
  },
});

Deno.test({
  name: "tui: wide characters and emoji take two columns and arrive exactly",
  ignore,
  async fn() {
    await using server = startServer();
    await using term = await openTerminal();
    await using bob = await join(server, "bob");
    await startClient(term, server, ["--name", "alice"]);
    const text = "日本語 😀 ok";
    await term.type(text);
    await term.waitFor(inputRow(`alice> ${text}`));
    await assertCursorAfter(term, `alice> ${text}`, "alice> ".length + 2 * 3 + 1 + 2 + 1 + 2);
    // Moving over a wide character moves two columns.
    await term.press("Home", "Right");
    await assertCursorAfter(term, `alice> ${text}`, "alice> ".length + 2);
    await term.press("Enter");
    assertEquals(await messages(bob, 1), [text]);
  },
});

Deno.test({
  name: "tui: a line longer than the terminal is wide wraps over rows and is sent intact",
  ignore,
  async fn() {
    await using server = startServer();
    await using term = await openTerminal({ columns: 40 });
    await using bob = await join(server, "bob");
    await startClient(term, server, ["--name", "alice"]);
    const text = Array.from({ length: 100 }, (_, index) => "abcdefghijklmnopqrstuvwxyz"[index % 26])
      .join("");
    await term.type(text);
    const rows = ["alice> " + text.slice(0, 33), text.slice(33, 73), text.slice(73)];
    const screen = await term.waitFor((screen) => screen.trimEnd().endsWith(rows.join("\n")));
    assertEquals(screen.trimEnd().split("\n").slice(-3), rows);
    // A message arriving goes above all three rows and leaves none of them behind, wherever
    // the cursor is in them.
    await nextFrame(bob, "joined");
    const receive = async (message: string, cursorRow: number, cursorColumn: number) => {
      bob.send(message);
      const shown = await term.waitFor(above(new RegExp(`<bob> ${message}$`, "m"), rows[2]!));
      const last = shown.trimEnd().split("\n").slice(-4);
      assertMatch(last[0]!, new RegExp(`^\\d\\d:\\d\\d <bob> ${message}$`));
      assertEquals(last.slice(1), rows);
      for (const row of rows) assertEquals(shown.split(row).length - 1, 1, shown);
      await assertCursorAfter(term, rows[cursorRow]!, cursorColumn);
    };
    await assertCursorAfter(term, rows[2]!, 27);
    await receive("at the end", 2, 27);
    // Home goes back to the first row, just after the prompt.
    await term.press("Home");
    await assertCursorAfter(term, rows[0]!, "alice> ".length);
    await receive("at the start", 0, "alice> ".length);
    await term.press("Enter");
    assertEquals(await messages(bob, 1), [text]);
    // The three rows of input are gone; the text is on screen once, as the sent message.
    const after = await term.waitFor(inputRow("alice> "), 5000, { join: true });
    assertEquals(after.split(text).length - 1, 1, after);
    assertMatch(after, new RegExp(`^\\d\\d:\\d\\d <alice> ${text}$`, "m"));
  },
});

Deno.test({
  name: "tui: a multi-line paste is one message; Alt+Enter starts a new line",
  ignore,
  async fn() {
    await using server = startServer();
    await using term = await openTerminal();
    await using bob = await join(server, "bob");
    await startClient(term, server, ["--name", "alice"]);
    await term.paste("line one\nline two\nline three");
    // Pasted lines are not sent: they wait in the input, aligned after the prompt.
    const screen = await term.waitFor((screen) =>
      screen.trimEnd().endsWith("alice> line one\n       line two\n       line three")
    );
    assertEquals(screen.split("line one").length - 1, 1);
    await term.press("Enter");
    await term.type("first");
    await term.press("M-Enter");
    await term.type("second");
    await term.waitFor(inputRow("       second"));
    await term.press("Enter");
    assertEquals(await messages(bob, 2), ["line one\nline two\nline three", "first\nsecond"]);
  },
});

Deno.test({
  name: "tui: a received multi-line message has its lines indented under the text",
  ignore,
  async fn() {
    await using server = startServer();
    await using term = await openTerminal();
    await using bob = await join(server, "bob");
    await startClient(term, server, ["--name", "alice"]);
    await nextFrame(bob, "joined");
    bob.send("first line\nsecond line\nthird line");
    const screen = await term.waitFor(above(/third line/, "alice> "));
    const rows = screen.split("\n");
    const first = rows.findIndex((row) => /^\d\d:\d\d <bob> first line$/.test(row));
    assert(first >= 0, screen);
    const pad = " ".repeat("12:34 <bob> ".length);
    assertEquals(rows.slice(first + 1, first + 3), [`${pad}second line`, `${pad}third line`]);
    assertEquals(lastRow(screen), "alice>");
  },
});

Deno.test({
  name: "tui: escape sequences and controls from a peer are shown, not obeyed",
  ignore,
  async fn() {
    await using server = startServer();
    await using term = await openTerminal();
    await using mallory = await join(server, "mallory");
    await startClient(term, server, ["--name", "alice"]);
    await nextFrame(mallory, "joined");
    mallory.send("before the attack");
    const before = await term.waitFor(above(/<mallory> before the attack$/m, "alice> "));
    const title = await term.title();
    const attack = "clear\x1b[2J home\x1b[H title\x1b]0;pwned\x07 red\x1b[31mRED " +
      "hidden\x1b[8mHIDDEN bel\x07 nul\x00 csi\x9b2J bidi\u202eevil";
    mallory.send(attack);
    mallory.send("after the attack");
    const screen = await term.waitFor(above(/<mallory> after the attack$/m, "alice> "), 10_000, {
      join: true,
    });

    assertStringIncludes(
      screen,
      "<mallory> clear␛[2J home␛[H title␛]0;pwned␇ red␛[31mRED hidden␛[8mHIDDEN bel␇ nul␀ " +
        "csi⟨U+009B⟩2J bidi⟨U+202E⟩evil\n",
    );
    // Nothing was cleared or overwritten: the rows before the attack are where they were.
    const rowsBefore = before.trimEnd().split("\n").slice(0, -1);
    const rowsAfter = (await term.capture()).split("\n");
    assertEquals(rowsAfter.slice(0, rowsBefore.length), rowsBefore);
    assertEquals(lastRow(screen), "alice>");
    await assertCursorAfter(term, "alice> ", "alice> ".length);
    assertEquals(await term.title(), title);
    assert(title !== "pwned");
    // No colour or attribute anywhere: only tmux's own resets.
    const escapes = await term.capture({ escapes: true });
    const attributes = [...escapes.matchAll(SGR)]
      .flatMap((found) => found[1]!.split(";"))
      .filter((code) => !["", "0", "39", "49"].includes(code));
    assertEquals(attributes, []);
    assertEquals(escapes.replace(SGR, "").split("\x1b").length, 1, JSON.stringify(escapes));
  },
});

Deno.test({
  name: "tui: Ctrl-C and Ctrl-D on an empty line quit with 0 and restore the terminal",
  ignore,
  async fn() {
    await using server = startServer();
    await using term = await openTerminal();
    await using bob = await join(server, "bob");

    await startClient(term, server, ["--name", "alice"]);
    await term.type("unsent");
    await term.waitFor(inputRow("alice> unsent"));
    await term.press("C-c");
    assertEquals(await exitStatus(term), 0);
    // The input line was cleared away, not left on the screen.
    assert(!(await term.capture()).includes("unsent"));
    await assertRestored(term);
    await term.clear();

    await startClient(term, server, ["--name", "alice"]);
    // Ctrl-D with text deletes the character under the cursor, as in a shell.
    await term.type("ab");
    await term.press("Left", "C-d");
    await term.waitFor(inputRow("alice> a"));
    await term.press("C-u", "C-d");
    assertEquals(await exitStatus(term), 0);
    await assertRestored(term);

    // Both times it said goodbye, and sent nothing of what was typed.
    const seen: string[] = [];
    await framesUntil(
      bob,
      (frame) => {
        if (frame.type === "message") seen.push(`message ${frame.text}`);
        if (frame.type === "left" && frame.name === "alice") seen.push(`left ${frame.reason}`);
        return seen.filter((type) => type.startsWith("left")).length === 2;
      },
      10_000,
      "alice to leave twice",
    );
    assertEquals(seen, ["left quit", "left quit"]);
  },
});

Deno.test({
  name: "tui: SIGTERM quits with 0 and restores the terminal",
  ignore,
  async fn() {
    await using server = startServer();
    await using term = await openTerminal();
    await using bob = await join(server, "bob");
    const pid = await startClient(term, server, ["--name", "alice"]);
    await term.type("half");
    await term.waitFor(inputRow("alice> half"));
    // By the kill program: Deno.kill needs all of --allow-run, which deno.json does not grant.
    const killed = await new Deno.Command("kill", { args: ["-TERM", String(pid)] }).output();
    assert(killed.success, "kill -TERM");
    assertEquals(await exitStatus(term), 0);
    assert(!(await term.capture()).includes("alice> half"));
    await assertRestored(term);
    const left = await nextFrame(bob, "left");
    assertEquals([left.name, left.reason], ["alice", "quit"]);
  },
});

Deno.test({
  name: "tui: after losing the server it says so once and reconnects with backoff",
  ignore,
  async fn() {
    const first = startServer();
    const port = first.addr.port;
    await using term = await openTerminal();
    try {
      await startClient(term, first, ["--name", "alice"]);
      await term.type("kept");
      await term.waitFor(inputRow("alice> kept"));
    } finally {
      await first.shutdown();
    }
    await using second = new ChatServer({ port, logLevel: "silent" });
    const offline = (screen: string) =>
      screen.includes("Lost the server") && lastRow(screen) === "(offline) > kept";
    await term.waitFor(offline);
    const lost = Date.now();
    const screen = await term.waitFor(/Reconnected as alice\.$/m, 15_000);
    // The first retry comes within a second (the new server is up by then).
    assertLess(Date.now() - lost, 3000, "reconnecting took too long");
    assertEquals(screen.match(/Lost the server.*/g), [
      "Lost the server: The server is shutting down. Reconnecting…",
    ]);
    // The line typed before the loss is still there and is sent on the new connection.
    await term.waitFor(inputRow("alice> kept"));
    await using carol = await join(second, "carol");
    assertEquals(carol.welcome.users, ["alice"]);
    await term.type(" for carol");
    await term.press("Enter");
    assertEquals(await messages(carol, 1), ["kept for carol"]);

    // Ctrl-C while waiting to reconnect quits with 0 too.
    await second.shutdown();
    await term.waitFor((screen) => screen.split("Lost the server").length === 3);
    await term.press("C-c");
    assertEquals(await exitStatus(term), 0);
    await assertRestored(term);
  },
});

Deno.test({
  name: "tui: with --no-reconnect, losing the server exits 1 with one line and restores",
  ignore,
  async fn() {
    const server = startServer();
    await using term = await openTerminal();
    try {
      await startClient(term, server, ["--name", "alice", "--no-reconnect"]);
    } finally {
      await server.shutdown();
    }
    assertEquals(await exitStatus(term), 1);
    const screen = await term.capture({ history: true, join: true });
    const lost = screen.match(/.*Lost the server.*/g) ?? [];
    assertEquals(lost.length, 1, screen);
    assertMatch(lost[0]!, /^\d\d:\d\d -- Lost the server: The server is shutting down\.$/);
    await assertRestored(term);
  },
});

Deno.test({
  name: "tui: /who, /me, /nick and /ping work; an unknown command sends nothing",
  ignore,
  async fn() {
    await using server = startServer();
    await using term = await openTerminal();
    await using carol = await join(server, "carol");
    await startClient(term, server, ["--name", "alice"]);
    await nextFrame(carol, "joined");

    await term.run("/who");
    await term.waitFor(/ -- .*\(2\): carol, alice$/m);

    await term.run("/me waves");
    const action = await nextFrame(carol, "message");
    assertEquals([action.from, action.text, action.action], ["alice", "waves", true]);
    await term.waitFor(/^\d\d:\d\d \* alice waves$/m);

    await term.run("/nick bob");
    const renamed = await nextFrame(carol, "renamed");
    assertEquals([renamed.from, renamed.to], ["alice", "bob"]);
    await term.waitFor(inputRow("bob> "));
    await term.waitFor(/-- alice is now bob$/m);

    await term.run("/ping");
    await term.waitFor(/-- Round trip to the server: \d+\.\d ms$/m);

    await term.run("/frobnicate now");
    await term.waitFor(/-- Unknown command "\/frobnicate"; \/help lists them$/m);
    await term.run("//slash is text");
    // Nothing came between the action and this message.
    assertEquals(await messages(carol, 1), ["/slash is text"]);
    await term.waitFor(/<bob> \/slash is text$/m);
  },
});

Deno.test({
  name: "tui: a taken name is asked for again, and the client joins under the new one",
  ignore,
  async fn() {
    await using server = startServer();
    await using term = await openTerminal();
    await using alice = await join(server, "alice");
    await startClient(
      term,
      server,
      ["--name", "ALICE"],
      (screen) => /Name "ALICE" is taken\. Another name: ?$/m.test(screen),
    );
    await term.type("alice2");
    await term.waitFor(/Another name: alice2$/m);
    await term.press("Enter");
    await term.waitFor(inputRow("alice2> "));
    const joined = await nextFrame(alice, "joined");
    assertEquals(joined.name, "alice2");
    await term.type("hi");
    await term.press("Enter");
    const message = await nextFrame(alice, "message");
    assertEquals([message.from, message.text], ["alice2", "hi"]);
  },
});

Deno.test({
  name: "tui: rooms, private messages, topics and paging back through history",
  ignore,
  async fn() {
    await using server = startServer({ rate: 0 });
    await using term = await openTerminal({ rows: 40 });
    await using bob = await join(server, "bob");
    for (let i = 1; i <= 60; i++) bob.send(`old ${i}`);
    await bob.ping();
    await using carol = await join(server, "carol");
    carol.join("rust", { history: 0 });
    await nextFrame(carol, "entered", (frame) => frame.room === "rust");
    await startClient(term, server, ["--name", "alice"]);
    // The replay: the last 50 of the lobby, the oldest of them first.
    await term.waitFor(/<bob> old 11$/m, 5000, { history: true });
    assert(!/<bob> old 10$/m.test(await term.capture({ history: true })), "only the last 50");
    await term.run("/history 10");
    await term.waitFor(/<bob> old 1$/m, 5000, { history: true });

    await term.run("/join #rust");
    await term.waitFor(inputRow("alice #rust> "));
    await term.run("hello rustaceans");
    const inRust = await nextFrame(carol, "message");
    assertEquals([inRust.room, inRust.text], ["rust", "hello rustaceans"]);
    carol.send("welcome!", { room: "rust" });
    await term.waitFor(above(/^\d\d:\d\d #rust <carol> welcome!$/m, "alice #rust> "));

    await term.run("/topic Ferris & friends");
    assertEquals((await nextFrame(carol, "topic")).topic, "Ferris & friends");
    await term.run("/topic");
    await term.waitFor(/-- Topic of #rust: Ferris & friends$/m);

    await term.run("/msg bob psst");
    const whisper = await nextFrame(bob, "private");
    assertEquals([whisper.from, whisper.text], ["alice", "psst"]);
    await term.waitFor(/-> \*bob\* psst$/m);
    bob.msg("alice", "hi back");
    await term.waitFor(/\*bob\* hi back$/m);

    await term.run("/part");
    await term.waitFor(inputRow("alice> "));
    assertEquals((await nextFrame(carol, "left")).name, "alice");
    await term.run("back in the lobby");
    const inLobby = await nextFrame(bob, "message", (frame) => frame.text === "back in the lobby");
    assertEquals(inLobby.room, "lobby");
  },
});

Deno.test({
  name: "tui: after a reconnect, the replay shows only what was missed",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "parley-tui-" });
    try {
      const db = `${dir}/chat.db`;
      const first = startServer({ db });
      const port = first.addr.port;
      await using term = await openTerminal();
      const bob = await join(first, "bob");
      await startClient(term, first, ["--name", "alice"]);
      bob.send("before the outage");
      await term.waitFor(above(/<bob> before the outage$/m, "alice> "));
      await bob.quit();
      await first.shutdown();
      await term.waitFor(/Lost the server/);
      await using second = new ChatServer({ port, db, logLevel: "silent" });
      {
        await using carol = await join(second, "carol");
        carol.send("while you were away");
        await carol.ping();
      }
      await term.waitFor(/Reconnected as alice\./, 15_000);
      await term.waitFor(above(/<carol> while you were away$/m, "alice> "), 10_000);
      const screen = await term.capture({ history: true });
      assertEquals(screen.match(/<bob> before the outage$/gm)?.length, 1, screen);
      assertEquals(screen.match(/<carol> while you were away$/gm)?.length, 1, screen);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "tui: /register keeps the password off the screen and out of the history",
  ignore,
  async fn() {
    await using server = startServer();
    await using term = await openTerminal();
    await startClient(term, server, ["--name", "alice"]);
    await term.run("an ordinary line");
    await term.run("/register hunter2hunter2");
    await term.waitFor(above(/-- Name "alice" is registered to you/m, "alice> "));
    assert(!(await term.capture({ history: true })).includes("hunter2"), "the password is shown");
    await term.press("Up");
    await term.waitFor(inputRow("alice> an ordinary line"));
    await term.press("C-u");
    await term.run("/quit");
    assertEquals(await exitStatus(term), 0);
    await using again = await ChatClient.connect({
      port: server.addr.port,
      name: "alice",
      password: "hunter2hunter2",
    });
    assertEquals(again.welcome.name, "alice");
  },
});

Deno.test({
  name: "tui: after the window narrows, the screen is drawn afresh with one input line",
  ignore,
  async fn() {
    await using server = startServer();
    await using term = await openTerminal();
    await using bob = await join(server, "bob");
    await startClient(term, server, ["--name", "alice"]);
    bob.send("before the resize");
    const long = "word ".repeat(20).trimEnd();
    await term.type(long);
    await term.waitFor(/<bob> before the resize/);
    await term.command(["resize-window", "-x", "40", "-y", "24"]);
    // The input (7 + 99 characters) takes three rows of 40 at the bottom, once.
    const screen = await term.waitFor((screen) => {
      const rows = screen.trimEnd().split("\n");
      return rows.at(-3)?.startsWith("alice> word") === true &&
        rows.at(-1)?.endsWith("word") === true;
    });
    assertEquals(screen.split("alice> ").length, 2, screen);
    assertStringIncludes(screen, "<bob> before the resize");
    await term.press("Enter");
    assertEquals(await messages(bob, 1), [long]);
  },
});
