// The web page in a real browser: Debian's Chromium, headless, driven by puppeteer-core, against
// a real server on free ports. Also: the page's files embedded in assets.ts are the ones in _web/.

import { assert, assertEquals } from "@std/assert";
import {
  launch,
  messages,
  openPage,
  readerAfterSeven,
  RestartableServer,
  type,
  waitForMessage,
  waitForText,
} from "./_browser.ts";
import { deno, join, nextFrame } from "./_helpers.ts";
import { httpUrl } from "./_websocket.ts";
import { render } from "../_web/build.ts";
import { sanitize } from "../_text/sanitize.ts";

const ARTIFACTS = new URL("./artifacts/", import.meta.url);

Deno.test("web: assets.ts holds the files in _web/ as they are (`deno task web` makes it)", async () => {
  const generated = await Deno.readTextFile(new URL("../_web/assets.ts", import.meta.url));
  assert(generated === await render(deno()), "assets.ts is out of date: run `deno task web`");
});

Deno.test({
  name:
    "web: pages and a terminal-protocol client talk; markup stays text; a late page sees history; screenshots",
  async fn() {
    await using restartable = await RestartableServer.start();
    let server = restartable.server;
    await using browser = await launch();
    const dialogs: string[] = [];
    const alice = await openPage(browser, server, "alice", { dialogs });
    const bob = await openPage(browser, server, "bob", { dialogs });
    const carol = await join(server, "carol");
    try {
      // Every way: page to page and client, client to both pages.
      await type(alice, "hello from alice");
      await waitForMessage(bob, "hello from alice");
      assertEquals((await nextFrame(carol, "message")).text, "hello from alice");
      await type(bob, "hello from bob");
      await waitForMessage(alice, "hello from bob");
      assertEquals((await nextFrame(carol, "message")).text, "hello from bob");
      carol.send("hello from carol");
      await waitForMessage(alice, "hello from carol");
      await waitForMessage(bob, "hello from carol");
      const expected = ["hello from alice", "hello from bob", "hello from carol"];
      assertEquals(await messages(alice), expected);
      assertEquals(await messages(bob), expected);

      // Markup and controls from others are text: nothing runs, no element is made.
      const hostile = [
        "<img src=x onerror=alert(1)>",
        "<script>alert(2)</script>",
        "bidi \u202eevil\u202c and \x1b[2J",
      ];
      for (const text of hostile) carol.send(text);
      await waitForMessage(alice, "<script>alert(2)</script>");
      await waitForMessage(alice, "bidi ⟨U+202E⟩evil⟨U+202C⟩ and ␛[2J");
      await waitForMessage(bob, "<img src=x onerror=alert(1)>");
      for (const page of [alice, bob]) {
        const made = await page.$$eval("#log img, #log script", (found) => found.length);
        assertEquals(made, 0);
      }
      // Multi-line input: Shift+Enter is a new line, Enter sends.
      await alice.focus("#input");
      await alice.keyboard.type("line one");
      await alice.keyboard.down("Shift");
      await alice.keyboard.press("Enter");
      await alice.keyboard.up("Shift");
      await alice.keyboard.type("line two");
      await alice.keyboard.press("Enter");
      assertEquals((await nextFrame(carol, "message")).text, "line one\nline two");
      await type(alice, "/me waves");
      const action = await nextFrame(carol, "message");
      assertEquals([action.text, action.action], ["waves", true]);

      // Rooms: bob joins another; what arrives in the lobby meanwhile is counted as unread, and
      // read once bob is back. /part leaves the room.
      await type(bob, "/join ops");
      await waitForText(bob, "#title", "ops");
      carol.send("while bob was away");
      await waitForText(bob, "#room-list", "lobby1");
      assertEquals(await bob.$eval("#room-list .unread", (badge) => badge.textContent), "1");
      await bob.$$eval("#room-list button", (buttons) => {
        for (const button of buttons) if (button.textContent === "lobby1") button.click();
      });
      await waitForMessage(bob, "while bob was away");
      assertEquals(await bob.$$eval("#room-list .unread", (badges) => badges.length), 0);
      await type(bob, "/part ops");
      await bob.waitForFunction(
        `!document.querySelector("#room-list").textContent.includes("ops")`,
      );
      await waitForMessage(alice, "while bob was away");

      // A name in use is refused, and the page says so.
      const taken = await (await browser.createBrowserContext()).newPage();
      await taken.goto(httpUrl(server) + "/");
      await taken.waitForSelector("#login-name", { visible: true });
      await taken.type("#login-name", "alice");
      await taken.keyboard.press("Enter");
      await waitForText(taken, "#login-error", "That name is taken");
      await taken.browserContext().close();

      // A page that joins late sees the room's history, in order.
      const late = await openPage(browser, server, "dave", { dialogs });
      await waitForMessage(late, "while bob was away");
      const history = [
        ...expected,
        ...hostile.map(sanitize),
        "line one\nline two",
        "waves",
        "while bob was away",
      ];
      assertEquals(await messages(late), history);
      await late.browserContext().close();

      // Screenshots, at desktop and phone width, where CI keeps them.
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      await alice.setViewport({ width: 1280, height: 800 });
      await alice.screenshot({ path: new URL("web-desktop.png", ARTIFACTS).pathname });
      await alice.setViewport({ width: 390, height: 844 });
      await alice.screenshot({ path: new URL("web-phone.png", ARTIFACTS).pathname });
      await alice.setViewport({ width: 1100, height: 700 });

      // The server restarts on the same ports and store: the pages reconnect, show what was
      // missed, and nothing twice.
      carol.close();
      await server.shutdown();
      // What is typed while disconnected is not lost: it stays in the box, and the page says so.
      await waitForText(alice, "#status", "disconnected");
      await type(alice, "typed while offline");
      await waitForText(alice, "#log", "Not connected: nothing was sent");
      assertEquals(
        await alice.$eval("#input", (box) => (box as unknown as { value: string }).value),
        "typed while offline",
      );
      server = restartable.restart();
      await waitForText(alice, "#status", "connected as alice", 20_000);
      await waitForText(bob, "#status", "connected as bob", 20_000);
      await using erin = await join(server, "erin");
      await alice.focus("#input");
      await alice.keyboard.press("Enter");
      assertEquals((await nextFrame(erin, "message")).text, "typed while offline");
      erin.send("after the restart");
      await waitForMessage(alice, "after the restart");
      await waitForMessage(bob, "after the restart");
      const after = [...history, "typed while offline", "after the restart"];
      assertEquals(await messages(alice), after);
      assertEquals(await messages(bob), after);
      // Alice's own lines from before the restart were matched to the replay and given their
      // ids; only the one sent since waits for one.
      assertEquals(
        await alice.$$eval("#log li.pending .text", (found) => found.map((s) => s.textContent)),
        ["typed while offline"],
      );
      assertEquals(dialogs, []);
    } finally {
      carol.close();
    }
  },
});

Deno.test("web: a page shows the last messages on entering, and earlier ones on asking", async () => {
  await using reader = await readerAfterSeven();
  const { page, dialogs } = reader;
  // The page asks for 50 at a time: the four earlier ones come in one page, and no more remain.
  await page.click("#log button.earlier");
  await waitForMessage(page, "message 1");
  assertEquals(await messages(page), [1, 2, 3, 4, 5, 6, 7].map((i) => `message ${i}`));
  assertEquals(await page.$$eval("#log button.earlier", (found) => found.length), 0);
  assertEquals(dialogs, []);
});
