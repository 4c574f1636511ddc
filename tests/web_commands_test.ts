// The web page's slash commands, private conversations, notifications and subprotocol, in a real
// browser (Debian's Chromium through puppeteer-core) against a real server on free ports.

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  launch,
  messages,
  openPage,
  type Page,
  readerAfterSeven,
  RestartableServer,
  type,
  waitForMessage,
  waitForText,
} from "./_browser.ts";
import { join, nextFrame, startServer } from "./_helpers.ts";
import { httpUrl } from "./_websocket.ts";

/** The text of the element `selector`. */
function textOf(page: Page, selector: string): Promise<string> {
  return page.$eval(selector, (element) => element.textContent ?? "");
}

/** Clicks the entry of the room list that reads `label` (with its unread count, if any). */
async function pick(page: Page, label: string) {
  const clicked = await page.$$eval("#room-list button", (buttons, label) => {
    const found = buttons.find((button) => button.textContent?.startsWith(label));
    found?.click();
    return found !== undefined;
  }, label);
  assert(clicked, `no entry "${label}" in the room list`);
}

Deno.test("web commands: /register keeps the name; reconnecting needs the password; it is never shown", async () => {
  await using restartable = await RestartableServer.start();
  let server = restartable.server;
  await using browser = await launch();
  const dialogs: string[] = [];
  const page = await openPage(browser, server, "alice", { dialogs });
  await type(page, "before registering");
  await type(page, "/register horsebattery1");
  await waitForText(page, "#log", 'Name "alice" is registered to you');
  // The password is neither in the log nor among the lines Up brings back.
  assert(!(await textOf(page, "#log")).includes("horsebattery1"));
  await page.focus("#input");
  await page.keyboard.press("ArrowUp");
  assertEquals(
    await page.$eval("#input", (box) => (box as unknown as { value: string }).value),
    "before registering",
  );
  await page.keyboard.press("ArrowDown");
  assertEquals(
    await page.$eval("#input", (box) =>
      (box as unknown as { value: string })
        .value),
    "",
  );

  // The server restarts: the page reconnects under the registered name with its password.
  await server.shutdown();
  await waitForText(page, "#status", "disconnected");
  server = restartable.restart();
  await waitForText(page, "#status", "connected as alice", 20_000);
  await page.browserContext().close();

  // A page that does not know the password is asked for it, and gets in with it.
  const context = await browser.createBrowserContext();
  const again = await context.newPage();
  await again.goto(httpUrl(server) + "/");
  await again.waitForSelector("#login-name", { visible: true, timeout: 10_000 });
  await again.type("#login-name", "alice");
  await again.keyboard.press("Enter");
  await waitForText(again, "#login-error", "That name is registered: give its password.");
  await again.type("#login-password", "horsebattery1");
  await again.keyboard.press("Enter");
  await waitForText(again, "#status", "connected as alice");
  await context.close();
  assertEquals(dialogs, []);
});

Deno.test("web commands: /history pages back; /who, /rooms, /topic, /help and /ping answer", async () => {
  await using reader = await readerAfterSeven();
  const { page, dialogs } = reader;
  await type(page, "/history 2");
  await waitForMessage(page, "message 3");
  assertEquals(await messages(page), [3, 4, 5, 6, 7].map((i) => `message ${i}`));
  // Without a count, as many as the server replays on entering: three asked, two left.
  await type(page, "/history");
  await waitForMessage(page, "message 1");
  assertEquals(await messages(page), [1, 2, 3, 4, 5, 6, 7].map((i) => `message ${i}`));

  // Each line typed, and what the page then shows where.
  const answers = [
    ["/who", "#log", "in #lobby (1): reader"],
    ["/who *", "#log", "on the server (1): reader"],
    ["/join ops", "#title", "ops"],
    ["/topic deploys only", "#topic", "deploys only"],
    ["/rooms", "#log", "rooms: #lobby (1), #ops (1) deploys only"],
    ["/topic", "#log", "Topic of #ops: deploys only"],
    ["/join #LOBBY", "#title", "lobby"],
    ["/help", "#log", "/register PASSWORD [TOKEN]"],
    ["/ping", "#log", "Round trip to the server:"],
    ["/frobnicate", "#log", 'Unknown command "/frobnicate"'],
    ["/msg", "#log", "Usage: /msg NAME TEXT"],
  ];
  for (const [line, selector, answer] of answers) {
    await type(page, line!);
    await waitForText(page, selector!, answer!);
  }
  assertEquals(dialogs, []);
});

Deno.test("web commands: an operator kicks, bans and asks for stats from the page", async () => {
  await using server = startServer({ httpPort: 0, operators: ["boss"] });
  await using browser = await launch();
  const dialogs: string[] = [];
  const page = await openPage(browser, server, "boss", { dialogs });
  await using mallory = await join(server, "mallory");
  await waitForText(page, "#user-list", "mallory");
  // Before registering with the server's token, the page's operator is nobody.
  await type(page, "/kick mallory");
  await waitForText(page, "#log", "(not_operator)");
  await type(page, `/register bosspassword1 ${server.operatorTokens.get("boss")}`);
  await waitForText(page, "#log", 'Name "boss" is registered to you');
  await type(page, "/kick mallory spamming");
  const kicked = await nextFrame(mallory, "error");
  assertEquals(kicked.code, "kicked");
  assertStringIncludes(kicked.message, "spamming");
  await waitForText(page, "#log", "mallory left (kicked)");
  await page.waitForFunction(
    `!document.querySelector("#user-list").textContent.includes("mallory")`,
  );
  await type(page, "/ban 203.0.113.7 1h flooding");
  await waitForText(page, "#log", "203.0.113.7");
  await type(page, "/unban 203.0.113.7");
  await waitForText(page, "#log", "Unbanned 203.0.113.7");
  await type(page, "/stats");
  await waitForText(page, "#log", "1 users, 1 rooms");
  assertEquals(dialogs, []);
});

Deno.test("web commands: a private conversation has its own tab with the peer and whether they are online", async () => {
  await using server = startServer({ httpPort: 0 });
  await using browser = await launch();
  const dialogs: string[] = [];
  const alice = await openPage(browser, server, "alice", { dialogs });
  const bob = await openPage(browser, server, "bob", { dialogs });
  await using carol = await join(server, "carol");
  await using dave = await join(server, "dave");
  await waitForText(alice, "#user-list", "dave");

  // Alice writes to bob: her page shows the conversation, bob's counts it unread.
  await type(alice, "/msg bob lunch?");
  await waitForText(alice, "#title", "@bob");
  await waitForMessage(alice, "lunch?");
  assertEquals(await textOf(alice, "#who-title"), "Talking with");
  assertEquals(await textOf(alice, "#user-list"), "bob online");
  await waitForText(bob, "#room-list", "@alice1");
  await pick(bob, "@alice");
  await waitForMessage(bob, "lunch?");
  // In the conversation, a plain line goes to the peer; /me does not.
  await type(bob, "sure");
  await waitForMessage(alice, "sure");
  assertEquals(await messages(alice), ["lunch?", "sure"]);
  await type(bob, "/me nods");
  await waitForText(bob, "#log", "/me is for rooms");
  // /part there closes the conversation, not a room.
  await type(bob, "/part");
  await waitForText(bob, "#title", "lobby");
  assertEquals(await textOf(bob, "#room-list"), "lobby");
  // The who list of a room is the room's.
  await pick(alice, "lobby");
  await waitForText(alice, "#who-title", "Here (4)");
  assertEquals(
    await alice.$$eval("#user-list li", (items) => items.map((item) => item.textContent)),
    ["alice", "bob", "carol", "dave"],
  );

  // Carol shares no room with alice: nothing is known of her until a message says.
  carol.part("lobby");
  await waitForText(alice, "#log", "carol left (part)");
  await type(alice, "/msg carol still there?");
  await waitForText(alice, "#user-list", "carol in no room with you");
  await carol.quit();
  await type(alice, "are you?");
  await waitForText(alice, "#log", "(no_such_user)");
  await waitForText(alice, "#user-list", "carol offline");
  // Dave leaves the chat from a room alice shares: his conversation says he is offline.
  dave.msg("alice", "bye for now");
  await waitForText(alice, "#room-list", "@dave1");
  await pick(alice, "@dave");
  assertEquals(await textOf(alice, "#user-list"), "dave online");
  await dave.quit();
  await waitForText(alice, "#user-list", "dave offline");
  assertEquals(dialogs, []);
});

/** Before the page loads: counts the desktop notifications it makes, as `[title, body]`, and
 * makes it look hidden (notifications are for a page not looked at). */
const NOTIFICATION_HOOK = `
  globalThis.notifications = [];
  const Real = globalThis.Notification;
  globalThis.Notification = class extends Real {
    constructor(title, options) {
      globalThis.notifications.push([title, options?.body]);
      super(title, options);
    }
  };
  Object.defineProperty(Document.prototype, "hidden", { get: () => true });
`;

Deno.test("web commands: a mention or a private message makes one desktop notification", async () => {
  await using server = startServer({ httpPort: 0 });
  await using browser = await launch();
  const dialogs: string[] = [];
  const alice = await openPage(browser, server, "alice", {
    dialogs,
    async prepare(page) {
      await page.browserContext().overridePermissions(httpUrl(server), ["notifications"]);
      await page.evaluateOnNewDocument(NOTIFICATION_HOOK);
    },
  });
  await using carol = await join(server, "carol");
  await waitForText(alice, "#user-list", "carol");
  const notified = () => alice.evaluate("globalThis.notifications") as Promise<string[][]>;
  carol.send("nothing for anyone");
  carol.send("malice is not a mention");
  carol.send("Alice: the build is green");
  carol.msg("alice", "psst");
  await waitForMessage(alice, "Alice: the build is green");
  await waitForText(alice, "#room-list", "@carol1");
  // A private message is not stored first, so it may overtake the room message.
  assertEquals((await notified()).sort(), [
    ["carol in lobby", "Alice: the build is green"],
    ["carol, privately", "psst"],
  ]);
  // The mention is highlighted; the others are not.
  assertEquals(
    await alice.$$eval("#log li.mention .text", (found) => found.map((s) => s.textContent)),
    ["Alice: the build is green"],
  );
  assertEquals(dialogs, []);
});

Deno.test("web commands: the page speaks the parley.ndjson subprotocol, in binary messages", async () => {
  await using server = startServer({ httpPort: 0 });
  await using browser = await launch();
  const dialogs: string[] = [];
  const handshakes: Record<string, string>[] = [];
  const opcodes: number[] = [];
  const page = await openPage(browser, server, "alice", {
    dialogs,
    async prepare(page) {
      const cdp = await page.createCDPSession();
      await cdp.send("Network.enable");
      cdp.on("Network.webSocketHandshakeResponseReceived", (event) => {
        handshakes.push(event.response.headers);
      });
      cdp.on("Network.webSocketFrameReceived", (event) => {
        opcodes.push(event.response.opcode);
      });
    },
  });
  await using carol = await join(server, "carol");
  carol.send("over ndjson");
  await waitForMessage(page, "over ndjson");
  assertEquals(handshakes.length, 1);
  const protocol = Object.entries(handshakes[0]!)
    .find(([name]) => name.toLowerCase() === "sec-websocket-protocol")?.[1];
  assertEquals(protocol, "parley.ndjson");
  // welcome, entered and history, then carol's join and message: every one binary (opcode 2).
  assert(opcodes.length >= 3, `only ${opcodes.length} messages`);
  assertEquals(opcodes.filter((opcode) => opcode !== 2), []);
  assertEquals(dialogs, []);
});
