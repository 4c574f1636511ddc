// What the terminal client shows: the entries printed so far, scrolling up above an input area
// that they never clobber, and the screen drawn afresh from the latest entries after a resize.
// Pure: each method returns the bytes to write, as a string of text and escape sequences; the
// caller owns the terminal, knows its size and writes them. The input's rows and cursor come
// from the line editor's layout.

import type { LineEditor, LineLayout } from "./line_editor.ts";
import { unicodeWidth } from "../std.ts";

/** The number of entries a {@linkcode Screen} keeps to draw again unless told otherwise. */
export const DEFAULT_KEPT_ENTRIES = 500;

/** The input area drawn below the entries: a prompt and the line being typed after it. */
export interface ScreenInput {
  /** Text shown before the line, such as `"alice> "`, without escape sequences. */
  prompt: string;
  /** The line being typed; its layout gives the rows and the cursor's place. */
  editor: Pick<LineEditor, "render">;
}

/** A terminal's size in character cells. */
export interface ScreenSize {
  /** The width, at least 1. */
  columns: number;
  /** The height. */
  rows: number;
}

/** Options for {@linkcode Screen}. */
export interface ScreenOptions {
  /**
   * The most entries kept to draw the screen again; beyond it the oldest are dropped.
   *
   * @default {500}
   */
  keep?: number;
}

/**
 * The screen of the terminal client, as a writer of escape sequences. Entries are printed one
 * after another and scroll up as a terminal scrolls; below the last of them sits the input
 * area, a prompt and the line being typed, wrapped over as many rows as it takes, with the
 * cursor in it. Printing an entry erases the input area, prints the entry where it was and
 * draws the input area again below it, so a half-typed line and its cursor survive any number
 * of incoming messages.
 *
 * The screen remembers where it left the cursor within the input area, so every call assumes
 * the terminal holds what the previous calls returned, written in order.
 *
 * An entry is text that is safe to print: sanitized, with no escape sequences but the colours
 * and attributes of Select Graphic Rendition (`ESC [ … m`), and maybe a bell; lines are
 * separated by `"\n"`. Lines longer than the terminal is wide are left to the terminal to wrap.
 *
 * @example A message printed above a half-typed line
 * ```ts
 * import { Screen } from "./screen.ts";
 * import { LineEditor } from "./line_editor.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const screen = new Screen();
 * const editor = new LineEditor();
 * editor.insert("hel");
 * // To the input area's start, erase to the end of the screen, the entry, the input line
 * // again, and the cursor 5 columns right, after "> hel".
 * assertEquals(
 *   screen.print("<bob> hi", { prompt: "> ", editor }, 80),
 *   "\r\x1b[J" + "<bob> hi\r\n" + "> hel" + "\r\x1b[5C",
 * );
 * ```
 */
export class Screen {
  #entries: string[] = [];
  #keep: number;
  /** Rows above the cursor in the input area as last drawn, to find its top again. */
  #cursorRow = 0;

  /**
   * Makes a screen with no entries and no input area drawn yet.
   *
   * @param options How many entries to keep.
   */
  constructor(options: ScreenOptions = {}) {
    const { keep = DEFAULT_KEPT_ENTRIES } = options;
    if (!Number.isInteger(keep) || keep < 0) {
      throw new RangeError(
        `Cannot create screen: entries kept must be a non-negative integer, got "${keep}"`,
      );
    }
    this.#keep = keep;
  }

  /** The entries kept to draw again, oldest first. */
  get entries(): readonly string[] {
    return [...this.#entries];
  }

  /**
   * Prints `entry` above the input area: erases the input area, prints the entry in its place
   * and draws the input area again below it, or leaves it out if `input` is undefined.
   *
   * @param entry The text to print, its lines separated by `"\n"`.
   * @param input The input area to draw, or undefined for none (when quitting).
   * @param columns The terminal's width.
   * @returns The bytes to write.
   */
  print(entry: string, input: ScreenInput | undefined, columns: number): string {
    this.#entries.push(entry);
    if (this.#entries.length > this.#keep) this.#entries.shift();
    return this.#inputTop() + "\x1b[J" + rowsOf(entry) + this.#drawInput(input, columns);
  }

  /**
   * Draws the input area again where it is, after the line or the prompt changed.
   *
   * @param input The input area to draw, or undefined to erase it.
   * @param columns The terminal's width.
   * @returns The bytes to write.
   */
  drawInput(input: ScreenInput | undefined, columns: number): string {
    return this.#inputTop() + "\x1b[J" + this.#drawInput(input, columns);
  }

  /**
   * Clears the screen and draws it afresh for a terminal of `size`: the latest entries that fit
   * whole above the input area, oldest at the top, then the input area. For after a resize,
   * when the terminal has rewrapped or cut what it showed in its own way, and for Ctrl-L.
   *
   * @param input The input area to draw, or undefined for none.
   * @param size The terminal's size.
   * @returns The bytes to write.
   */
  redraw(input: ScreenInput | undefined, size: ScreenSize): string {
    const { columns, rows } = size;
    const room = rows - (input ? layout(input, columns).rows.length : 0);
    const shown: string[] = [];
    let used = 0;
    for (let i = this.#entries.length - 1; i >= 0 && used < room; i--) {
      const entry = this.#entries[i]!;
      used += height(entry, columns);
      if (used <= room) shown.unshift(entry);
    }
    this.#cursorRow = 0;
    return "\x1b[H\x1b[2J" + shown.map(rowsOf).join("") + this.#drawInput(input, columns);
  }

  /**
   * Erases the input area and leaves the cursor at its start, where the next program's output
   * goes once the client is done.
   *
   * @returns The bytes to write.
   */
  clearInput(): string {
    const bytes = this.#inputTop() + "\x1b[J";
    this.#cursorRow = 0;
    return bytes;
  }

  /** Escape codes that move from the cursor to the first column of the input area's top. */
  #inputTop(): string {
    return "\r" + (this.#cursorRow > 0 ? `\x1b[${this.#cursorRow}A` : "");
  }

  /** The input area's rows, from the cursor's row, then back up to the cursor's place. */
  #drawInput(input: ScreenInput | undefined, columns: number): string {
    if (input === undefined) {
      this.#cursorRow = 0;
      return "";
    }
    const { rows, cursorRow, cursorColumn } = layout(input, columns);
    const below = rows.length - 1 - cursorRow;
    this.#cursorRow = cursorRow;
    return rows.join("\r\n") + "\r" + (below > 0 ? `\x1b[${below}A` : "") +
      (cursorColumn > 0 ? `\x1b[${cursorColumn}C` : "");
  }
}

function layout(input: ScreenInput, columns: number): LineLayout {
  return input.editor.render(input.prompt, columns);
}

/** `entry` as terminal output: each of its lines ended by CR LF, so the next starts below. */
function rowsOf(entry: string): string {
  return entry.replaceAll("\n", "\r\n") + "\r\n";
}

/** How many rows `entry` takes on a terminal `columns` wide, its lines wrapped there. */
function height(entry: string, columns: number): number {
  return entry.split("\n").reduce(
    (sum, line) => sum + Math.max(1, Math.ceil(unicodeWidth(stripAnsi(line)) / columns)),
    0,
  );
}

/** `text` without the colour and attribute codes the client puts in. */
function stripAnsi(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}
