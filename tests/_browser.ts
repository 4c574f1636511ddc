// The browser tests' fixtures: Debian's Chromium, headless, driven by puppeteer-core, and pages of
// the web client in it, against a real server.

import puppeteer, { type Browser, type Page } from "npm:puppeteer-core@25.16.0";
import { assertEquals } from "@std/assert";
import { deadline, join, startServer, tempDir } from "./_helpers.ts";
import { httpUrl } from "./_websocket.ts";
import type { ChatServer } from "../server.ts";

export type { Browser, Page };

const CHROMIUM = "/usr/bin/chromium";

/** Chromium, headless, with a profile of its own that is removed after. */
export async function launch(): Promise<Browser & AsyncDisposable> {
  const profile = await Deno.makeTempDir({ prefix: "parley-chromium-" });
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    // An environment of its own: the test's is not read (nor needs permission to be).
    env: { PATH: "/usr/bin:/bin", HOME: profile },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profile}`,
    ],
  });
  return Object.assign(browser, {
    async [Symbol.asyncDispose]() {
      await browser.close();
      await Deno.remove(profile, { recursive: true });
    },
  });
}

/** What to do to a new page before it loads the web client. */
export interface PageSetup {
  /** Dialogs the page opens (`alert`, …), by message: none is expected. */
  dialogs: string[];
  /** A password for the login form. */
  password?: string;
  /** Run on the page before it loads anything: hooks for the test. */
  prepare?: (page: Page) => Promise<void>;
}

/** A page in a context of its own (its own localStorage), joined as `name`. */
export async function openPage(
  browser: Browser,
  server: ChatServer,
  name: string,
  setup: PageSetup,
): Promise<Page> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  page.on("dialog", (dialog) => {
    setup.dialogs.push(dialog.message());
    dialog.dismiss().catch(() => {});
  });
  await setup.prepare?.(page);
  await page.setViewport({ width: 1100, height: 700 });
  await page.goto(httpUrl(server) + "/");
  await page.waitForSelector("#login-name", { visible: true, timeout: 10_000 });
  await page.type("#login-name", name);
  if (setup.password !== undefined) await page.type("#login-password", setup.password);
  await page.keyboard.press("Enter");
  await waitForText(page, "#status", `connected as ${name}`);
  return page;
}

/** Waits until the element `selector` holds `text`. */
export async function waitForText(page: Page, selector: string, text: string, ms = 10_000) {
  // A string, run in the page: this file is type-checked without the DOM's types.
  await page.waitForFunction(
    `document.querySelector(${JSON.stringify(selector)})?.textContent?.includes(${
      JSON.stringify(text)
    })`,
    { timeout: ms },
  );
}

/** The texts of the message lines shown in the current room, in order. */
export function messages(page: Page): Promise<string[]> {
  return page.$$eval("#log li.message .text", (spans) => spans.map((s) => s.textContent ?? ""));
}

/** Waits until a message line shown reads `text`. */
export async function waitForMessage(page: Page, text: string, ms = 10_000) {
  await page.waitForFunction(
    `[...document.querySelectorAll("#log li.message .text")].some((s) => s.textContent === ${
      JSON.stringify(text)
    })`,
    { timeout: ms },
  );
}

/** Types `text` into the message box and sends it. */
export async function type(page: Page, text: string) {
  await page.focus("#input");
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
}

/**
 * A server whose lobby replays 3 messages on entering, where "writer" said "message 1" to
 * "message 7" and left, and a browser with a page, "reader", that shows the last three.
 */
export async function readerAfterSeven(): Promise<
  { page: Page; dialogs: string[] } & AsyncDisposable
> {
  await using stack = new AsyncDisposableStack();
  const server = stack.use(startServer({ httpPort: 0, history: 3 }));
  const browser = stack.use(await launch());
  {
    await using writer = await join(server, "writer");
    for (let i = 1; i <= 7; i++) writer.send(`message ${i}`);
    await writer.ping();
  }
  const dialogs: string[] = [];
  const page = await openPage(browser, server, "reader", { dialogs });
  await waitForMessage(page, "message 7");
  assertEquals(await messages(page), ["message 5", "message 6", "message 7"]);
  const owned = stack.move();
  return { page, dialogs, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}

/** A server with the web port, on a database in a temporary directory: shut down, it starts
 * again on the same web port and database, as a restart would. */
export class RestartableServer implements AsyncDisposable {
  /** The server running now. */
  server: ChatServer;
  #dir: { path: string } & AsyncDisposable;
  #db: string;
  #httpPort: number;

  private constructor(dir: { path: string } & AsyncDisposable) {
    this.#dir = dir;
    this.#db = `${dir.path}/chat.db`;
    this.server = startServer({ httpPort: 0, db: this.#db });
    this.#httpPort = this.server.httpAddr!.port;
  }

  /** Starts a server on a new database. */
  static async start(): Promise<RestartableServer> {
    return new RestartableServer(await tempDir());
  }

  /** Starts the server again, once the one before has shut down. */
  restart(): ChatServer {
    return this.server = startServer({ httpPort: this.#httpPort, db: this.#db });
  }

  async [Symbol.asyncDispose]() {
    try {
      await deadline(this.server.shutdown(), 10_000, "the server to shut down");
    } finally {
      await this.#dir[Symbol.asyncDispose]();
    }
  }
}
