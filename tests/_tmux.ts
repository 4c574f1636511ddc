// A disposable tmux server for end-to-end tests of the terminal client: a real terminal of a fixed
// size running an interactive shell, driven by keys and pastes, read back as text with its cursor.
// Each instance runs its own server on its own socket, so a test never touches a user's tmux.

import { deadline } from "./_helpers.ts";

/** How to start a {@linkcode Tmux}. */
export interface TmuxOptions {
  /**
   * The terminal's width.
   * @default {80}
   */
  columns?: number;
  /**
   * The terminal's height.
   * @default {24}
   */
  rows?: number;
  /** Environment variables for the shell, on top of the test's own. */
  env?: Record<string, string>;
}

/** What to capture of the pane. */
export interface CaptureOptions {
  /** Keep escape sequences for text attributes and colours (`capture-pane -e`). */
  escapes?: boolean;
  /** Join lines the terminal wrapped (`capture-pane -J`), so a long line is one line. */
  join?: boolean;
  /** Include the scrollback history, not only the visible screen. */
  history?: boolean;
}

/** The shell's prompt: plain, so tests can find it. */
export const PROMPT = "$ ";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const SESSION = "parley";
const POLL_MS = 50;
const COMMAND_MS = 10_000;

/**
 * A tmux server with one pane running `bash --norc --noprofile` with the prompt `"$ "`, and
 * readline's bracketed paste off. Disposing kills the server and everything running in its pane.
 */
export class Tmux implements AsyncDisposable {
  /** The socket name, as given to `tmux -L`. */
  readonly socket: string;
  #env: Record<string, string>;
  #socketPath = "";
  #dir = "";

  private constructor(socket: string, env: Record<string, string>) {
    this.socket = socket;
    this.#env = env;
  }

  /** Starts a server with a detached session and waits for the shell's first prompt. */
  static async start(options: TmuxOptions = {}): Promise<Tmux> {
    const { columns = 80, rows = 24 } = options;
    // On top of the tests' own environment, which tmux inherits without the tests reading it.
    // Not nested in the tmux the tests may be running in: its variables would point there.
    const env: Record<string, string> = {
      TMUX: "",
      TMUX_PANE: "",
      LC_ALL: "C.UTF-8",
      PS1: PROMPT,
      PS2: "> ",
      PROMPT_COMMAND: "",
      HISTFILE: "/dev/null",
      ...options.env,
    };
    const tmux = new Tmux(`parley-test-${crypto.randomUUID().slice(0, 8)}`, env);
    try {
      // Readline's own bracketed paste off, so what a program leaves on shows after it exits.
      tmux.#dir = await Deno.makeTempDir({ prefix: "parley-tmux-" });
      env.INPUTRC = `${tmux.#dir}/inputrc`;
      await Deno.writeTextFile(env.INPUTRC, "set enable-bracketed-paste off\n");
      await tmux.command([
        "new-session",
        "-d",
        "-s",
        SESSION,
        "-x",
        String(columns),
        "-y",
        String(rows),
        "--",
        "bash",
        "--norc",
        "--noprofile",
      ]);
      tmux.#socketPath = (await tmux.command(["display", "-p", "#{socket_path}"])).trim();
      await tmux.waitFor((screen) => screen.trimEnd().endsWith(PROMPT.trimEnd()), 10_000);
    } catch (error) {
      await tmux[Symbol.asyncDispose]();
      throw error;
    }
    return tmux;
  }

  /** Runs a tmux command on this server; returns its stdout. Throws if it fails. */
  async command(args: string[], input?: string): Promise<string> {
    const child = new Deno.Command("tmux", {
      args: ["-L", this.socket, "-f", "/dev/null", ...args],
      env: this.#env,
      stdin: input === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (input !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(encoder.encode(input));
      await writer.close();
    }
    const output = await deadline(child.output(), COMMAND_MS, `tmux ${args.join(" ")}`);
    if (!output.success) {
      throw new Error(`tmux ${args.join(" ")} failed: ${decoder.decode(output.stderr).trim()}`);
    }
    return decoder.decode(output.stdout);
  }

  /** Presses keys by tmux name, in order: `"Enter"`, `"Left"`, `"C-c"`, `"M-Enter"`, `"BSpace"`. */
  async press(...keys: string[]): Promise<void> {
    await this.command(["send-keys", "-t", SESSION, ...keys]);
  }

  /** Types `text` as it is, character by character (`send-keys -l`). */
  async type(text: string): Promise<void> {
    await this.command(["send-keys", "-t", SESSION, "-l", "--", text]);
  }

  /** Types a shell command line and presses Enter. */
  async run(line: string): Promise<void> {
    await this.type(line);
    await this.press("Enter");
  }

  /** Clears the screen and the scrollback, leaving the shell's prompt alone at the top. */
  async clear(): Promise<void> {
    await this.run("clear");
    await this.waitFor((screen) => screen.trim() === PROMPT.trim());
    await this.command(["clear-history", "-t", SESSION]);
  }

  /** Pastes `text` as a terminal does: bracketed if the program asked for it, newlines sent as
   * carriage returns. */
  async paste(text: string): Promise<void> {
    await this.command(["load-buffer", "-b", "parley-test", "-"], text);
    await this.command(["paste-buffer", "-p", "-d", "-b", "parley-test", "-t", SESSION]);
  }

  /** The pane's text: its rows with trailing spaces removed, joined by `"\n"`. */
  async capture(options: CaptureOptions = {}): Promise<string> {
    const args = ["capture-pane", "-p", "-t", SESSION];
    if (options.escapes) args.push("-e");
    if (options.join) args.push("-J");
    if (options.history) args.push("-S", "-", "-E", "-");
    const text = await this.command(args);
    return text.replace(/\n$/, "").split("\n").map((row) => row.trimEnd()).join("\n");
  }

  /** The visible rows, trailing spaces removed; index 0 is the top row. */
  async rows(): Promise<string[]> {
    return (await this.capture()).split("\n");
  }

  /** Where the cursor is: column and row from 0, row 0 at the top of the visible screen. */
  async cursor(): Promise<{ x: number; y: number }> {
    const [x, y] = (await this.format("#{cursor_x},#{cursor_y}")).split(",").map(Number);
    return { x: x!, y: y! };
  }

  /** The pane's title, as set by OSC 0 or 2 (the host name until then). */
  title(): Promise<string> {
    return this.format("#{pane_title}");
  }

  /** Expands a tmux format for the pane, such as `"#{cursor_x}"`. */
  async format(format: string): Promise<string> {
    return (await this.command(["display", "-p", "-t", SESSION, format])).replace(/\n$/, "");
  }

  /**
   * Captures the pane every 50 ms until `expected` matches it (a RegExp, or a predicate given
   * the capture), and returns that capture. Throws after `ms`, showing what the pane held.
   */
  async waitFor(
    expected: RegExp | ((screen: string) => boolean),
    ms = 10_000,
    options: CaptureOptions = {},
  ): Promise<string> {
    const match = await this.poll(
      () => this.capture(options),
      (screen) => typeof expected === "function" ? expected(screen) : expected.test(screen),
      ms,
    );
    if (!match.ok) {
      throw new Error(
        `Timed out after ${ms} ms waiting for ${expected}; the pane held:\n${
          match.value.replace(/^/gm, "| ")
        }`,
      );
    }
    return match.value;
  }

  /**
   * Calls `probe` every 50 ms until `ok` holds for its value or `ms` have passed; returns the
   * last value and whether it was ok. For conditions the test then asserts on, so a failure
   * shows the value.
   */
  async poll<T>(
    probe: () => Promise<T>,
    ok: (value: T) => boolean,
    ms = 10_000,
  ): Promise<{ ok: boolean; value: T }> {
    const end = Date.now() + ms;
    while (true) {
      const value = await probe();
      if (ok(value)) return { ok: true, value };
      if (Date.now() >= end) return { ok: false, value };
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** Kills the server, and with it the shell and whatever runs in it; removes the socket. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.command(["kill-server"]).catch(() => {});
    if (this.#socketPath !== "") await Deno.remove(this.#socketPath).catch(() => {});
    if (this.#dir !== "") await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}
