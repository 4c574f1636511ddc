// The terminal client's screen without a terminal: what `Screen` returns is checked as a string,
// and played on a small model of a terminal (below) that keeps a grid of cells and a cursor and
// fails on any escape sequence the screen has no business writing. tui_test.ts runs the same
// screen in a real terminal.

import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { Screen, type ScreenInput } from "../_cli/tui/screen.ts";
import { LineEditor } from "../_cli/tui/line_editor.ts";
import { formatFrame } from "../_text/format.ts";
import { unicodeWidth } from "../_cli/std.ts";
import type { ServerFrame } from "../protocol.ts";

/** An input area with `prompt` and `text` typed, the cursor moved `left` graphemes back. */
function typed(prompt: string, text: string, left = 0): ScreenInput & { editor: LineEditor } {
  const editor = new LineEditor();
  editor.insert(text);
  for (let i = 0; i < left; i++) editor.left();
  return { prompt, editor };
}

/** `frame` as the terminal client formats it, without colours or the time. */
function entry(frame: ServerFrame, color = false): string {
  return formatFrame(frame, { color, time: false, me: "alice" })!.text;
}

function message(from: string, text: string): ServerFrame {
  return { type: "message", id: 1, room: "lobby", from, text, ts: "2024-01-01T00:00:00Z" };
}

Deno.test("screen: the input line is drawn at the width, a wide character never split", () => {
  const screen = new Screen();
  const input = typed("> ", "abc日本語def");
  // "> abc日" is 7 columns; "本" would end past column 8, so it starts the next row.
  const bytes = screen.drawInput(input, 8);
  assertEquals(bytes, "\r\x1b[J" + "> abc日\r\n本語def" + "\r\x1b[7C");
  const term = new Terminal(8, 4);
  term.write(bytes);
  assertEquals(term.lines(), ["> abc日", "本語def", "", ""]);
  assertEquals(term.cursor(), { x: 7, y: 1 });

  // Home: back up to the first row, after the prompt, from the row the cursor was on.
  input.editor.home();
  const home = screen.drawInput(input, 8);
  assertEquals(home, "\r\x1b[1A\x1b[J" + "> abc日\r\n本語def" + "\r\x1b[1A\x1b[2C");
  term.write(home);
  assertEquals(term.lines(), ["> abc日", "本語def", "", ""]);
  assertEquals(term.cursor(), { x: 2, y: 0 });

  // The cursor before "語", a wide character on the second row.
  for (let i = 0; i < 5; i++) input.editor.right();
  term.write(screen.drawInput(input, 8));
  assertEquals(term.lines(), ["> abc日", "本語def", "", ""]);
  assertEquals(term.cursor(), { x: 2, y: 1 });
});

Deno.test("screen: a line that fills its row exactly puts the cursor on an empty row below", () => {
  const screen = new Screen();
  const term = new Terminal(8, 3);
  term.write(screen.drawInput(typed("> ", "abcdef"), 8));
  assertEquals(term.lines(), ["> abcdef", "", ""]);
  assertEquals(term.cursor(), { x: 0, y: 1 });
  // Typing on erases nothing above and leaves no second copy of the first row.
  term.write(screen.drawInput(typed("> ", "abcdefg"), 8));
  assertEquals(term.lines(), ["> abcdef", "g", ""]);
  assertEquals(term.cursor(), { x: 1, y: 1 });
});

Deno.test("screen: messages printed above a half-typed line keep the line and its cursor", () => {
  const screen = new Screen();
  const term = new Terminal(20, 6);
  const input = typed("alice> ", "hello wor", 3);
  term.write(screen.drawInput(input, 20));
  assertEquals(term.cursor(), { x: 13, y: 0 });
  for (const text of ["one", "two", "three"]) {
    term.write(screen.print(entry(message("bob", text)), input, 20));
  }
  assertEquals(term.lines(), ["<bob> one", "<bob> two", "<bob> three", "alice> hello wor", "", ""]);
  assertEquals(term.cursor(), { x: 13, y: 3 });
  assertEquals(screen.entries, ["<bob> one", "<bob> two", "<bob> three"]);
});

Deno.test("screen: a wrapped input with the cursor on its first row survives a scrolling screen", () => {
  const screen = new Screen();
  const term = new Terminal(16, 5);
  // "alice> " and 14 characters take two rows; Home puts the cursor on the first.
  const input = typed("alice> ", "abcdefghijklmn");
  input.editor.home();
  term.write(screen.drawInput(input, 16));
  const texts = Array.from({ length: 8 }, (_, i) => `message ${i}`);
  for (const text of texts) term.write(screen.print(entry(message("bob", text)), input, 16));
  // Every entry once, in order, in the scrollback and on the screen; the input once, at the
  // bottom; no row of the input left behind anywhere.
  const all = [...term.scrollback, ...term.lines()];
  assertEquals(all, [
    ...texts.map((text) => `<bob> ${text}`),
    "alice> abcdefghi",
    "jklmn",
  ]);
  assertEquals(term.cursor(), { x: 7, y: 3 });
});

Deno.test("screen: a redraw after a resize shows the latest entries that fit whole", () => {
  const screen = new Screen();
  const input = typed("a> ", "hi");
  const entries = ["oldest", "one", "x".repeat(25), "two"];
  for (const text of entries) screen.print(text, input, 40);

  // 10 columns, 6 rows: 5 rows above the input; "two" 1, the long one 3 (25 / 10), "one" 1.
  const bytes = screen.redraw(input, { columns: 10, rows: 6 });
  assertEquals(
    bytes,
    "\x1b[H\x1b[2J" + "one\r\n" + "x".repeat(25) + "\r\n" + "two\r\n" + "a> hi" + "\r\x1b[5C",
  );
  const term = new Terminal(10, 6);
  term.write("stale text the terminal rewrapped\r\nin its own way");
  term.write(bytes);
  assertEquals(term.lines(), ["one", "xxxxxxxxxx", "xxxxxxxxxx", "xxxxx", "two", "a> hi"]);
  assertEquals(term.cursor(), { x: 5, y: 5 });

  // One row fewer: "one" no longer fits, and nothing older is shown in its place.
  const shorter = new Terminal(10, 5);
  shorter.write(screen.redraw(input, { columns: 10, rows: 5 }));
  assertEquals(shorter.lines(), ["xxxxxxxxxx", "xxxxxxxxxx", "xxxxx", "two", "a> hi"]);
  // Printing after a redraw goes above the input as before.
  shorter.write(screen.print("three", input, 10));
  assertEquals(shorter.lines(), ["xxxxxxxxxx", "xxxxx", "two", "three", "a> hi"]);
  assertEquals(shorter.scrollback, ["xxxxxxxxxx"]);
});

Deno.test("screen: a redraw leaves room for an input of several rows, cursor within it", () => {
  const screen = new Screen();
  const input = typed("> ", "abcdefghijklmnop", 10);
  for (const text of ["a", "b", "c", "d"]) screen.print(text, input, 10);
  const term = new Terminal(10, 4);
  term.write(screen.redraw(input, { columns: 10, rows: 4 }));
  // The input takes 2 rows ("> abcdefgh", "ijklmnop"): 2 are left for the latest entries.
  assertEquals(term.lines(), ["c", "d", "> abcdefgh", "ijklmnop"]);
  assertEquals(term.cursor(), { x: 8, y: 2 });
});

Deno.test("screen: a long multi-line message is indented under its text and counted by rows", () => {
  const screen = new Screen();
  const input = typed("alice> ", "");
  const text = entry(message("bob", "first line\nsecond\nthe third line is long"));
  assertEquals(text, "<bob> first line\n      second\n      the third line is long");
  const term = new Terminal(20, 6);
  term.write(screen.print(text, input, 20));
  assertEquals(term.lines(), [
    "<bob> first line",
    "      second",
    "      the third line",
    " is long",
    "alice>",
    "",
  ]);
  // Four rows at this width: a redraw with room for exactly four shows it, with three not.
  const fits = new Terminal(20, 5);
  fits.write(screen.redraw(input, { columns: 20, rows: 5 }));
  assertEquals(fits.lines(), [
    "<bob> first line",
    "      second",
    "      the third line",
    " is long",
    "alice>",
  ]);
  const short = new Terminal(20, 4);
  short.write(screen.redraw(input, { columns: 20, rows: 4 }));
  assertEquals(short.lines(), ["alice>", "", "", ""]);
});

Deno.test("screen: hostile control characters are shown as placeholders, never obeyed", () => {
  const screen = new Screen();
  const term = new Terminal(80, 4);
  const hostile = "hi\x1b[2J\x1b]0;owned\x07\x9b31m\u202eevil\r\x08";
  // Coloured, as the client prints: the only escape sequences are its own colours, which the
  // model of a terminal accepts; anything else written would throw.
  const input = typed("alice> ", `pasted\x1b[31m\x07`);
  term.write(screen.print(entry(message("bob", hostile), true), input, 80));
  assertEquals(term.lines(), [
    "<bob> hi␛[2J␛]0;owned␇⟨U+009B⟩31m⟨U+202E⟩evil␍␈",
    "alice> pasted␛[31m␇",
    "",
    "",
  ]);
  assertEquals(term.bells, 0);
  assertEquals(term.cursor(), { x: 19, y: 1 });
});

Deno.test("screen: a bell at the end of an entry rings once as it is printed", () => {
  const screen = new Screen();
  const term = new Terminal(20, 3);
  term.write(screen.print("<bob> alice?\x07", typed("> ", ""), 20));
  assertEquals(term.bells, 1);
  assertEquals(term.lines(), ["<bob> alice?", ">", ""]);
});

Deno.test("screen: without an input area, printing and clearing leave the entries alone", () => {
  const screen = new Screen();
  const term = new Terminal(10, 5);
  // Two rows of input, the cursor on the second.
  term.write(screen.drawInput(typed("> ", "abcdefghij"), 10));
  assertEquals(term.cursor(), { x: 2, y: 1 });
  // Quitting: an entry that arrives is printed where the input was, and no input follows it.
  term.write(screen.print("bye", undefined, 10));
  term.write(screen.clearInput());
  assertEquals(term.lines(), ["bye", "", "", "", ""]);
  assertEquals(term.cursor(), { x: 0, y: 1 });
});

Deno.test("screen: clearing the input leaves the cursor where the input started", () => {
  const screen = new Screen();
  const term = new Terminal(10, 5);
  term.write(screen.print("entry", typed("> ", "abcdefghijkl", 2), 10));
  assertEquals(term.cursor(), { x: 2, y: 2 });
  term.write(screen.clearInput());
  assertEquals(term.lines(), ["entry", "", "", "", ""]);
  assertEquals(term.cursor(), { x: 0, y: 1 });
  // A second clear moves nowhere.
  assertEquals(screen.clearInput(), "\r\x1b[J");
});

Deno.test("screen: it keeps the latest entries, as many as told", () => {
  const screen = new Screen({ keep: 3 });
  const input = typed("> ", "");
  for (const text of ["1", "2", "3", "4", "5"]) screen.print(text, input, 10);
  assertEquals(screen.entries, ["3", "4", "5"]);
  const term = new Terminal(10, 10);
  term.write(screen.redraw(input, { columns: 10, rows: 10 }));
  assertEquals(term.lines().slice(0, 4), ["3", "4", "5", ">"]);
  assertEquals(new Screen().entries, []);
  assertThrows(() => new Screen({ keep: -1 }), RangeError, "non-negative integer");
  assertThrows(() => new Screen({ keep: 1.5 }), RangeError, '"1.5"');
});

/**
 * A model of a terminal, enough to see what the screen's bytes draw: a grid of cells, a cursor
 * with xterm's pending wrap at the right edge, scrolling into a scrollback, and the sequences
 * the screen writes (CR, LF, BEL, and CSI `A`, `C`, `H`, `J`, `2J`, `m`). Anything else, an
 * escape sequence or a control character, throws: the screen is not to write it.
 */
class Terminal {
  readonly columns: number;
  readonly rows: number;
  /** Rows scrolled off the top, oldest first, trailing spaces removed. */
  readonly scrollback: string[] = [];
  bells = 0;
  #grid: string[][];
  #x = 0;
  #y = 0;
  /** The last column was just written: the next character goes to the next row. */
  #wrapNext = false;

  constructor(columns: number, rows: number) {
    this.columns = columns;
    this.rows = rows;
    this.#grid = Array.from({ length: rows }, () => this.#blank());
  }

  /** The visible rows, top first, trailing spaces removed. */
  lines(): string[] {
    return this.#grid.map(rowText);
  }

  cursor(): { x: number; y: number } {
    return { x: this.#x, y: this.#y };
  }

  write(bytes: string): void {
    // Every character is part of a token: a CSI sequence, a control, or a run of text.
    // deno-lint-ignore no-control-regex
    const tokens = /\x1b\[([0-9;]*)([A-Za-z])|([\x00-\x1f\x7f-\x9f])|([^\x00-\x1f\x7f-\x9f]+)/g;
    for (const [token, params, final, control, text] of bytes.matchAll(tokens)) {
      if (final !== undefined) this.#csi(params!, final, token);
      else if (control !== undefined) this.#control(control);
      else for (const { segment } of segmenter.segment(text!)) this.#put(segment);
    }
  }

  #csi(params: string, final: string, token: string): void {
    const n = Math.max(1, Number(params || "1"));
    this.#wrapNext = false;
    switch (final === "J" && params === "2" ? "J2" : final) {
      case "A":
        this.#y = Math.max(0, this.#y - n);
        return;
      case "C":
        this.#x = Math.min(this.columns - 1, this.#x + n);
        return;
      case "H":
        if (params !== "") break;
        [this.#x, this.#y] = [0, 0];
        return;
      case "J":
        if (params !== "") break;
        this.#grid[this.#y]!.fill(" ", this.#x);
        for (let y = this.#y + 1; y < this.rows; y++) this.#grid[y] = this.#blank();
        return;
      case "J2":
        this.#grid = Array.from({ length: this.rows }, () => this.#blank());
        return;
      case "m":
        return;
    }
    throw new SyntaxError(`Cannot play escape sequence ${JSON.stringify(token)}`);
  }

  #control(char: string): void {
    switch (char) {
      case "\r":
        [this.#x, this.#wrapNext] = [0, false];
        return;
      case "\n":
        this.#wrapNext = false;
        return this.#lineFeed();
      case "\x07":
        this.bells++;
        return;
    }
    throw new SyntaxError(`Cannot play control character ${JSON.stringify(char)}`);
  }

  #put(grapheme: string): void {
    const width = unicodeWidth(grapheme);
    if (width === 0) {
      this.#grid[this.#y]![Math.max(0, this.#x - 1)] += grapheme;
      return;
    }
    if (this.#wrapNext || this.#x + width > this.columns) {
      this.#x = 0;
      this.#lineFeed();
    }
    this.#wrapNext = false;
    this.#grid[this.#y]![this.#x] = grapheme;
    if (width === 2) this.#grid[this.#y]![this.#x + 1] = "";
    this.#x += width;
    if (this.#x >= this.columns) [this.#x, this.#wrapNext] = [this.columns - 1, true];
  }

  #lineFeed(): void {
    if (this.#y < this.rows - 1) {
      this.#y++;
      return;
    }
    this.scrollback.push(rowText(this.#grid.shift()!));
    this.#grid.push(this.#blank());
  }

  #blank(): string[] {
    return Array.from({ length: this.columns }, () => " ");
  }
}

const segmenter = new Intl.Segmenter();

function rowText(cells: string[]): string {
  return cells.join("").trimEnd();
}

Deno.test("screen test's terminal model: wraps at the edge and refuses what it does not know", () => {
  const term = new Terminal(4, 2);
  term.write("abcd");
  assertEquals(term.cursor(), { x: 3, y: 0 });
  term.write("e日");
  assertEquals(term.lines(), ["abcd", "e日"]);
  assertEquals(term.scrollback, []);
  // A wide character that does not fit in what is left of the row goes whole to the next.
  term.write("本x");
  assertEquals(term.scrollback, ["abcd"]);
  assertEquals(term.lines(), ["e日", "本x"]);
  term.write("\r\x1b[1A\x1b[1C\x1b[J");
  assertEquals(term.lines(), ["e", ""]);
  assertEquals(term.cursor(), { x: 1, y: 0 });
  for (const bytes of ["\x1b[2K", "\x1b]0;t\x07", "\x1bc", "\t", "\x9b1m"]) {
    const error = assertThrows(() => new Terminal(4, 2).write(bytes), SyntaxError);
    assert(error.message.startsWith("Cannot play"), error.message);
  }
});
