// The client's input line: its text and cursor, edited by grapheme cluster, the history of sent
// lines, and its layout in terminal rows. No I/O: the caller reads keys and draws the rows.

import { sanitize } from "../../_text/sanitize.ts";
import { unicodeWidth } from "../std.ts";

/** The number of sent lines a {@linkcode LineEditor} remembers unless told otherwise. */
export const DEFAULT_HISTORY_LIMIT = 500;

/** Tab stops are this many columns apart when a line is laid out. */
export const TAB_WIDTH = 4;

/** Options for {@linkcode LineEditor}. */
export interface LineEditorOptions {
  /**
   * The most sent lines kept in history; beyond it the oldest are dropped. 0 turns history off.
   *
   * @default {500}
   */
  historyLimit?: number;
}

/** Where an input line goes on the terminal: what {@linkcode LineEditor.prototype.render}
 * returns. */
export interface LineLayout {
  /** The rows to draw, first to last, each at most as wide as the terminal. The caller joins
   * them with `"\r\n"`. Control characters in them are already replaced by visible placeholders. */
  rows: string[];
  /** The row the cursor goes to, counted from 0 at the first row; always an index of `rows`. */
  cursorRow: number;
  /** The column the cursor goes to, counted from 0; always less than the terminal's width. */
  cursorColumn: number;
}

const segmenter = new Intl.Segmenter();

/**
 * The state of an input line being typed: its text, the cursor, and the history of the lines
 * sent from it. Every edit works on whole grapheme clusters, so the cursor never lands inside an
 * emoji sequence or between a letter and its combining marks.
 *
 * The text may hold several lines, separated by `"\n"`. Home and End, and deleting to the
 * start or end, act on the cursor's own line within it.
 *
 * @example
 * ```ts
 * import { LineEditor } from "./line_editor.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const editor = new LineEditor();
 * editor.insert("hello wörld");
 * editor.deleteWordBack();
 * editor.insert("there");
 * assertEquals(editor.submit(), "hello there");
 * editor.historyUp();
 * assertEquals(editor.text, "hello there");
 * ```
 */
export class LineEditor {
  #text = "";
  #cursor = 0;
  #history: string[] = [];
  // Which history entry is shown; history.length while the draft is.
  #historyIndex = 0;
  #draft = "";
  #historyLimit: number;

  /**
   * Makes an empty editor with an empty history.
   *
   * @param options How much history to keep.
   */
  constructor(options: LineEditorOptions = {}) {
    const { historyLimit = DEFAULT_HISTORY_LIMIT } = options;
    if (!Number.isInteger(historyLimit) || historyLimit < 0) {
      const message = "history limit must be a non-negative integer";
      throw new RangeError(`Cannot create line editor: ${message}, got "${historyLimit}"`);
    }
    this.#historyLimit = historyLimit;
  }

  /** The text being edited. */
  get text(): string {
    return this.#text;
  }

  /** The cursor: an index into {@linkcode LineEditor.prototype.text} in UTF-16 code units,
   * always at a grapheme cluster boundary. The text before it is `text.slice(0, cursor)`. */
  get cursor(): number {
    return this.#cursor;
  }

  /** The lines sent so far, oldest first. */
  get history(): readonly string[] {
    return [...this.#history];
  }

  /**
   * Inserts `text` at the cursor and moves the cursor after it. CR LF and lone CR become
   * `"\n"`; tabs and other characters are kept as they are.
   *
   * @param text What to insert; may contain newlines.
   */
  insert(text: string): void {
    text = text.replace(/\r\n?/g, "\n");
    this.#text = this.#text.slice(0, this.#cursor) + text + this.#text.slice(this.#cursor);
    // What was inserted may have joined the grapheme after it, as a letter before a
    // combining mark does: the cursor goes after the whole cluster.
    const end = this.#cursor + text.length;
    this.#cursor = this.#boundaries().find((boundary) => boundary >= end)!;
  }

  /** Moves the cursor one grapheme cluster left, if it can. */
  left(): void {
    this.#cursor = this.#previous(this.#cursor);
  }

  /** Moves the cursor one grapheme cluster right, if it can. */
  right(): void {
    this.#cursor = this.#next(this.#cursor);
  }

  /** Moves the cursor to the start of its line. */
  home(): void {
    this.#cursor = this.#lineStart();
  }

  /** Moves the cursor to the end of its line. */
  end(): void {
    this.#cursor = this.#lineEnd();
  }

  /** Moves the cursor to the start of the word before it; words are separated by white space. */
  wordLeft(): void {
    this.#cursor = this.#wordStart();
  }

  /** Moves the cursor to the end of the word after it; words are separated by white space. */
  wordRight(): void {
    const graphemes = [...segmenter.segment(this.#text.slice(this.#cursor))];
    let index = 0;
    while (index < graphemes.length && isSpace(graphemes[index]!.segment)) index++;
    while (index < graphemes.length && !isSpace(graphemes[index]!.segment)) index++;
    this.#cursor += graphemes[index]?.index ?? this.#text.length - this.#cursor;
  }

  /** Deletes the grapheme cluster before the cursor, if any. */
  backspace(): void {
    this.#delete(this.#previous(this.#cursor), this.#cursor);
  }

  /** Deletes the grapheme cluster after the cursor, if any. */
  delete(): void {
    this.#delete(this.#cursor, this.#next(this.#cursor));
  }

  /** Deletes back to the start of the word before the cursor, white space after it included
   * (Ctrl-W, readline's `unix-word-rubout`). Words are separated by white space, newlines too. */
  deleteWordBack(): void {
    this.#delete(this.#wordStart(), this.#cursor);
  }

  /** Deletes from the start of the cursor's line to the cursor (Ctrl-U). At the start of a line
   * after the first, deletes the newline before it instead, joining the two lines. */
  deleteToStart(): void {
    const start = this.#lineStart();
    this.#delete(start === this.#cursor ? Math.max(start - 1, 0) : start, this.#cursor);
  }

  /** Deletes from the cursor to the end of its line (Ctrl-K). At the end of a line before the
   * last, deletes the newline after it instead, joining the two lines. */
  deleteToEnd(): void {
    const end = this.#lineEnd();
    this.#delete(this.#cursor, end === this.#cursor ? Math.min(end + 1, this.#text.length) : end);
  }

  /** Empties the text and goes back to a new draft, leaving the history as it is. */
  clear(): void {
    this.#setText("");
    this.#historyIndex = this.#history.length;
    this.#draft = "";
  }

  /**
   * Shows the history entry before the one shown, with the cursor at its end. Leaving the draft
   * keeps it, to come back to with {@linkcode LineEditor.prototype.historyDown}; changes made
   * to a history entry are dropped when moving to another.
   *
   * @returns Whether there was an earlier entry.
   */
  historyUp(): boolean {
    if (this.#historyIndex === 0) return false;
    if (this.#historyIndex === this.#history.length) this.#draft = this.#text;
    this.#historyIndex--;
    this.#setText(this.#history[this.#historyIndex]!);
    return true;
  }

  /**
   * Shows the history entry after the one shown, or, after the last, the draft.
   *
   * @returns Whether a history entry was shown.
   */
  historyDown(): boolean {
    if (this.#historyIndex === this.#history.length) return false;
    this.#historyIndex++;
    this.#setText(this.#history[this.#historyIndex] ?? this.#draft);
    return true;
  }

  /**
   * Takes the text for sending: returns it, adds it to the history, and empties the editor for
   * a new draft. The history skips text that is only white space and text equal to the entry
   * before it, and drops its oldest entry when full.
   *
   * @returns The text as it was.
   */
  submit(): string {
    const text = this.#text;
    if (this.#historyLimit > 0 && text.trim() !== "" && text !== this.#history.at(-1)) {
      this.#history.push(text);
      if (this.#history.length > this.#historyLimit) this.#history.shift();
    }
    this.clear();
    return text;
  }

  /**
   * Lays out `prompt` followed by the text in rows of at most `columns` terminal columns, and
   * finds where the cursor goes. The rules:
   *
   * - A row ends as soon as it is full, and a grapheme cluster that does not fit in what is left
   *   of a row moves whole to the next one, so a wide character never straddles the edge.
   * - A line of the text that fills its last row exactly is followed by an empty row, where the
   *   cursor goes when it is at the end of that line: the cursor is never past the last column.
   * - Each line after a `"\n"` starts with spaces up to the column where the text's first line
   *   starts, so the lines align under each other after the prompt. Rows continuing a wrapped
   *   line start at column 0.
   * - A tab is shown as spaces up to the next column that is a multiple of
   *   {@linkcode TAB_WIDTH}, or to the end of the row.
   * - Control characters and bidi controls, in the prompt or the text, are shown as the
   *   placeholders of {@linkcode sanitize}.
   *
   * @param prompt Text shown before the input, such as `"> "`, without escape sequences.
   * @param columns The terminal's width, at least 1.
   * @returns The rows and the cursor's place.
   *
   * @example
   * ```ts
   * import { LineEditor } from "./line_editor.ts";
   * import { assertEquals } from "@std/assert";
   *
   * const editor = new LineEditor();
   * editor.insert("abcdefgh");
   * const { rows, cursorRow, cursorColumn } = editor.render("> ", 5);
   * assertEquals(rows, ["> abc", "defgh", ""]);
   * assertEquals([cursorRow, cursorColumn], [2, 0]);
   * ```
   */
  render(prompt: string, columns: number): LineLayout {
    if (!Number.isInteger(columns) || columns < 1) {
      throw new RangeError(
        `Cannot lay out line: columns must be a positive integer, got "${columns}"`,
      );
    }
    const rows: string[] = [];
    let row = "";
    let column = 0;
    let cursorRow = 0;
    let cursorColumn = 0;
    const breakRow = (indent: number) => {
      rows.push(row);
      row = " ".repeat(indent);
      column = indent;
    };
    // Places one grapheme cluster, noting the cursor's place if it is just before it.
    const place = (grapheme: string, atCursor: boolean) => {
      const shown = grapheme === "\t" ? grapheme : sanitize(grapheme);
      const cells = shown === grapheme ? [grapheme] : [...shown];
      cells.forEach((cell, index) => {
        const width = cell === "\t"
          ? Math.min(TAB_WIDTH - column % TAB_WIDTH, columns - column)
          : unicodeWidth(cell);
        if (column + width > columns && column > 0) breakRow(0);
        if (atCursor && index === 0) [cursorRow, cursorColumn] = [rows.length, column];
        row += cell === "\t" ? " ".repeat(width) : cell;
        column += width;
        if (column >= columns) breakRow(0);
      });
    };

    for (const { segment } of segmenter.segment(prompt)) place(segment, false);
    const indent = column;
    for (const { segment, index } of segmenter.segment(this.#text)) {
      if (segment === "\n") {
        if (index === this.#cursor) [cursorRow, cursorColumn] = [rows.length, column];
        breakRow(indent);
      } else {
        place(segment, index === this.#cursor);
      }
    }
    if (this.#cursor === this.#text.length) [cursorRow, cursorColumn] = [rows.length, column];
    rows.push(row);
    return { rows, cursorRow, cursorColumn };
  }

  #setText(text: string): void {
    this.#text = text;
    this.#cursor = text.length;
  }

  #delete(start: number, end: number): void {
    this.#text = this.#text.slice(0, start) + this.#text.slice(end);
    this.#cursor = start;
  }

  // Every grapheme cluster boundary of the text, its end included, in order.
  #boundaries(): number[] {
    const boundaries = Array.from(segmenter.segment(this.#text), ({ index }) => index);
    boundaries.push(this.#text.length);
    return boundaries;
  }

  #previous(position: number): number {
    return this.#boundaries().findLast((boundary) => boundary < position) ?? 0;
  }

  #next(position: number): number {
    return this.#boundaries().find((boundary) => boundary > position) ?? this.#text.length;
  }

  #lineStart(): number {
    return this.#cursor === 0 ? 0 : this.#text.lastIndexOf("\n", this.#cursor - 1) + 1;
  }

  #lineEnd(): number {
    const end = this.#text.indexOf("\n", this.#cursor);
    return end === -1 ? this.#text.length : end;
  }

  // Where the word before the cursor starts: back over white space, then over the word.
  #wordStart(): number {
    const graphemes = [...segmenter.segment(this.#text.slice(0, this.#cursor))];
    let index = graphemes.length;
    while (index > 0 && isSpace(graphemes[index - 1]!.segment)) index--;
    while (index > 0 && !isSpace(graphemes[index - 1]!.segment)) index--;
    return graphemes[index]?.index ?? this.#cursor;
  }
}

function isSpace(grapheme: string): boolean {
  return /^\s/.test(grapheme);
}
