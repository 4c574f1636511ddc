import { unicodeWidth } from "../_cli/std.ts";
import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { LineEditor, type LineLayout } from "../_cli/tui/line_editor.ts";

/** An editor holding `text` with the cursor at `cursor`, by default at the end. */
function editorWith(text: string, cursor = text.length): LineEditor {
  const editor = new LineEditor();
  editor.insert(text);
  while (editor.cursor > cursor) editor.left();
  assertEquals(editor.cursor, cursor, "cursor not at a grapheme boundary");
  return editor;
}

/** The text with a "|" at the cursor. */
function show(editor: LineEditor): string {
  return editor.text.slice(0, editor.cursor) + "|" + editor.text.slice(editor.cursor);
}

Deno.test("LineEditor inserts at the cursor", () => {
  const editor = new LineEditor();
  assertEquals([editor.text, editor.cursor], ["", 0]);
  editor.insert("hello");
  editor.left();
  editor.left();
  editor.insert("XY");
  assertEquals(show(editor), "helXY|lo");
  editor.insert("a\r\nb\rc");
  assertEquals(show(editor), "helXYa\nb\nc|lo");
});

Deno.test("LineEditor moves and deletes by grapheme cluster", () => {
  const text = "a😀e\u0301日👨‍👩‍👧🇫🇷b";
  const graphemes = ["a", "😀", "e\u0301", "日", "👨‍👩‍👧", "🇫🇷", "b"];
  const editor = editorWith(text);
  const stops = [text.length];
  while (editor.cursor > 0) {
    editor.left();
    stops.unshift(editor.cursor);
  }
  let offset = 0;
  assertEquals(stops, [0, ...graphemes.map((grapheme) => (offset += grapheme.length))]);
  editor.left(); // at the start: nothing happens
  assertEquals(editor.cursor, 0);
  for (const stop of stops.slice(1)) {
    editor.right();
    assertEquals(editor.cursor, stop);
  }
  editor.right(); // at the end: nothing happens
  assertEquals(editor.cursor, text.length);

  editor.backspace();
  assertEquals(show(editor), "a😀e\u0301日👨‍👩‍👧🇫🇷|");
  editor.backspace();
  assertEquals(show(editor), "a😀e\u0301日👨‍👩‍👧|");
  editor.backspace();
  assertEquals(show(editor), "a😀e\u0301日|");
  editor.left();
  editor.backspace();
  assertEquals(show(editor), "a😀|日");
  editor.home();
  editor.delete();
  assertEquals(show(editor), "|😀日");
  editor.delete();
  assertEquals(show(editor), "|日");
  editor.end();
  editor.delete(); // at the end: nothing happens
  assertEquals(show(editor), "日|");
  editor.home();
  editor.backspace(); // at the start: nothing happens
  assertEquals(show(editor), "|日");
});

Deno.test("LineEditor keeps the cursor out of a cluster that an insert completes", () => {
  const editor = editorWith("\u0301x", 0); // a lone combining mark
  editor.insert("e");
  assertEquals(show(editor), "e\u0301|x");
  const flags = editorWith("\u{1f1eb}", 0); // a lone regional indicator
  flags.insert("\u{1f1f7}");
  assertEquals(flags.cursor, 4);
});

Deno.test("LineEditor home and end act on the cursor's line", () => {
  const editor = editorWith("one\ntwo\nthree", 5);
  assertEquals(show(editor), "one\nt|wo\nthree");
  editor.home();
  assertEquals(show(editor), "one\n|two\nthree");
  editor.home();
  assertEquals(show(editor), "one\n|two\nthree");
  editor.end();
  assertEquals(show(editor), "one\ntwo|\nthree");
  editor.right();
  editor.end();
  assertEquals(show(editor), "one\ntwo\nthree|");
  const blank = editorWith("\nx", 0);
  blank.home();
  assertEquals(blank.cursor, 0);
  blank.end();
  assertEquals(blank.cursor, 0);
});

Deno.test("LineEditor deletes the word before the cursor", () => {
  const cases: [string, number, string][] = [
    ["hello world", 11, "hello |"],
    ["hello world  ", 13, "hello |"],
    ["hello world", 8, "hello |rld"],
    ["hello world", 6, "|world"],
    ["hello world", 5, "| world"],
    ["hello", 0, "|hello"],
    ["  ", 2, "|"],
    ["a-b.c d", 5, "| d"],
    ["日本 語😀語", 7, "日本 |"],
    ["x e\u0301te\u0301", 7, "x |"],
    ["one\ntwo", 7, "one\n|"],
    ["one\n", 4, "|"],
  ];
  for (const [text, cursor, expected] of cases) {
    const editor = editorWith(text, cursor);
    editor.deleteWordBack();
    assertEquals(show(editor), expected, `${text} at ${cursor}`);
  }
});

Deno.test("LineEditor moves by word", () => {
  const editor = editorWith("one two  three", 0);
  editor.wordRight();
  assertEquals(show(editor), "one| two  three");
  editor.wordRight();
  assertEquals(show(editor), "one two|  three");
  editor.wordRight();
  editor.wordRight();
  assertEquals(show(editor), "one two  three|");
  editor.wordLeft();
  assertEquals(show(editor), "one two  |three");
  editor.wordLeft();
  assertEquals(show(editor), "one |two  three");
  editor.wordLeft();
  editor.wordLeft();
  assertEquals(show(editor), "|one two  three");
});

Deno.test("LineEditor deletes to the start and the end of the line", () => {
  const editor = editorWith("one\ntwo three\nfour", 8);
  assertEquals(show(editor), "one\ntwo |three\nfour");
  editor.deleteToStart();
  assertEquals(show(editor), "one\n|three\nfour");
  editor.deleteToStart(); // at the start of a line: joins it to the one before
  assertEquals(show(editor), "one|three\nfour");
  editor.deleteToEnd();
  assertEquals(show(editor), "one|\nfour");
  editor.deleteToEnd(); // at the end of a line: joins the next one to it
  assertEquals(show(editor), "one|four");
  editor.deleteToEnd();
  editor.deleteToEnd();
  assertEquals(show(editor), "one|");
  editor.home();
  editor.deleteToStart();
  assertEquals(show(editor), "|one");
});

Deno.test("LineEditor keeps a history of sent lines, and the draft", () => {
  const editor = new LineEditor();
  assertEquals(editor.historyUp(), false);
  for (const line of ["first", "second", "second", "  ", "", "third"]) {
    editor.insert(line);
    assertEquals(editor.submit(), line);
    assertEquals([editor.text, editor.cursor], ["", 0]);
  }
  assertEquals(editor.history, ["first", "second", "third"]);

  editor.insert("draft");
  editor.left();
  assertEquals(editor.historyDown(), false);
  assertEquals(show(editor), "draf|t");
  assertEquals(editor.historyUp(), true);
  assertEquals(show(editor), "third|");
  editor.insert(" edited");
  assertEquals(editor.historyUp(), true);
  assertEquals(show(editor), "second|");
  assertEquals(editor.historyUp(), true);
  assertEquals(editor.historyUp(), false);
  assertEquals(show(editor), "first|");
  assertEquals(editor.historyDown(), true);
  assertEquals(editor.historyDown(), true);
  assertEquals(show(editor), "third|"); // the edit was dropped
  assertEquals(editor.historyDown(), true);
  assertEquals(show(editor), "draft|"); // the draft is back
  assertEquals(editor.historyDown(), false);

  // Sending a line recalled from history adds it again, and starts a new draft.
  editor.historyUp();
  editor.historyUp();
  assertEquals(editor.submit(), "second");
  assertEquals(editor.history, ["first", "second", "third", "second"]);
  assertEquals(editor.text, "");
  editor.historyUp();
  assertEquals(editor.text, "second");
  editor.historyDown();
  assertEquals(editor.text, "");

  // clear() abandons the line and returns to a new draft.
  editor.insert("abandoned");
  editor.historyUp();
  editor.clear();
  assertEquals(editor.text, "");
  editor.historyDown();
  assertEquals(editor.text, "");
});

Deno.test("LineEditor caps its history", () => {
  const editor = new LineEditor({ historyLimit: 3 });
  for (const line of ["1", "2", "3", "4", "5"]) {
    editor.insert(line);
    editor.submit();
  }
  assertEquals(editor.history, ["3", "4", "5"]);
  const defaults = new LineEditor();
  for (let index = 0; index < 600; index++) {
    defaults.insert(`${index}`);
    defaults.submit();
  }
  assertEquals(defaults.history.length, 500);
  assertEquals(defaults.history[0], "100");
  const none = new LineEditor({ historyLimit: 0 });
  none.insert("x");
  none.submit();
  assertEquals(none.history, []);
  assertThrows(
    () => new LineEditor({ historyLimit: -1 }),
    RangeError,
    'history limit must be a non-negative integer, got "-1"',
  );
});

/** Lays out `text` with the cursor at `cursor`. */
function render(prompt: string, text: string, columns: number, cursor?: number): LineLayout {
  return editorWith(text, cursor).render(prompt, columns);
}

Deno.test("render lays out a short line on one row", () => {
  assertEquals(render("> ", "", 80), { rows: ["> "], cursorRow: 0, cursorColumn: 2 });
  assertEquals(render("> ", "hi", 80), { rows: ["> hi"], cursorRow: 0, cursorColumn: 4 });
  assertEquals(render("> ", "hi", 80, 1), { rows: ["> hi"], cursorRow: 0, cursorColumn: 3 });
  assertEquals(render("", "日本😀", 80, 2), { rows: ["日本😀"], cursorRow: 0, cursorColumn: 4 });
  assertEquals(render("> ", "e\u0301!", 80), {
    rows: ["> e\u0301!"],
    cursorRow: 0,
    cursorColumn: 4,
  });
});

Deno.test("render wraps ASCII at the exact width", () => {
  assertEquals(render("> ", "abc", 5, 0), { rows: ["> abc", ""], cursorRow: 0, cursorColumn: 2 });
  assertEquals(render("> ", "abcd", 5), { rows: ["> abc", "d"], cursorRow: 1, cursorColumn: 1 });
  assertEquals(render("> ", "abcdefghijklm", 5), {
    rows: ["> abc", "defgh", "ijklm", ""],
    cursorRow: 3,
    cursorColumn: 0,
  });
});

Deno.test("render puts the cursor on a new row after a full last row", () => {
  const layout = render("> ", "abcdefgh", 5);
  assertEquals(layout, { rows: ["> abc", "defgh", ""], cursorRow: 2, cursorColumn: 0 });
  assertEquals(layout.cursorRow, layout.rows.length - 1);
  // The empty row stays when the cursor moves away, so the layout does not jump.
  assertEquals(render("> ", "abcdefgh", 5, 7), {
    rows: ["> abc", "defgh", ""],
    cursorRow: 1,
    cursorColumn: 4,
  });
  // A prompt that fills the row.
  assertEquals(render("12345", "", 5), { rows: ["12345", ""], cursorRow: 1, cursorColumn: 0 });
});

Deno.test("render places the cursor in the middle of a wrapped line", () => {
  const text = "abcdefghijkl";
  assertEquals(render("> ", text, 5, 3), {
    rows: ["> abc", "defgh", "ijkl"],
    cursorRow: 1,
    cursorColumn: 0,
  });
  assertEquals(render("> ", text, 5, 5), {
    rows: ["> abc", "defgh", "ijkl"],
    cursorRow: 1,
    cursorColumn: 2,
  });
  assertEquals(render("> ", text, 5, 8), {
    rows: ["> abc", "defgh", "ijkl"],
    cursorRow: 2,
    cursorColumn: 0,
  });
});

Deno.test("render moves a wide character that would straddle the edge to the next row", () => {
  // "> 日" takes 4 columns; "本" needs 2 and only 1 is left.
  assertEquals(render("> ", "日本語", 5), {
    rows: ["> 日", "本語"],
    cursorRow: 1,
    cursorColumn: 4,
  });
  // The cursor before the moved character is where it is drawn.
  assertEquals(render("> ", "日本語", 5, 1), {
    rows: ["> 日", "本語"],
    cursorRow: 1,
    cursorColumn: 0,
  });
  assertEquals(render("> ", "日本語x", 5), {
    rows: ["> 日", "本語x", ""],
    cursorRow: 2,
    cursorColumn: 0,
  });
  assertEquals(render("> ", "a日本語", 6), {
    rows: ["> a日", "本語"],
    cursorRow: 1,
    cursorColumn: 4,
  });
  assertEquals(render("", "😀👨‍👩‍👧x😀", 5), {
    rows: ["😀👨‍👩‍👧x", "😀"],
    cursorRow: 1,
    cursorColumn: 2,
  });
  // Every row is at most `columns` wide, and the cursor lands inside the rows.
  const text = "日本語のテキスト😀 and e\u0301 ascii 한국어\n続き";
  for (let columns = 2; columns < 20; columns++) {
    for (let cursor = 0; cursor <= text.length; cursor++) {
      const editor = new LineEditor();
      editor.insert(text);
      while (editor.cursor > cursor) editor.left();
      const layout = editor.render("» ", columns);
      for (const row of layout.rows) assert(unicodeWidth(row) <= columns, `${row} at ${columns}`);
      assert(layout.cursorRow < layout.rows.length);
      assert(layout.cursorColumn < columns);
      assertEquals(layout.rows.join("").replaceAll(" ", ""), ("»" + text).replaceAll(/\s/g, ""));
    }
  }
});

Deno.test("render indents the lines after a newline to the prompt's width", () => {
  assertEquals(render("> ", "one\ntwo\nthree", 80), {
    rows: ["> one", "  two", "  three"],
    cursorRow: 2,
    cursorColumn: 7,
  });
  assertEquals(render("> ", "one\ntwo", 80, 3), {
    rows: ["> one", "  two"],
    cursorRow: 0,
    cursorColumn: 5,
  });
  assertEquals(render("> ", "one\n", 80), { rows: ["> one", "  "], cursorRow: 1, cursorColumn: 2 });
  assertEquals(render("alice> ", "a\n\nb", 80, 2), {
    rows: ["alice> a", "       ", "       b"],
    cursorRow: 1,
    cursorColumn: 7,
  });
  // A continuation line wraps like the first; its wrapped rows start at column 0.
  assertEquals(render("> ", "ab\ncdefgh", 5), {
    rows: ["> ab", "  cde", "fgh"],
    cursorRow: 2,
    cursorColumn: 3,
  });
  // A line that fills its row exactly is followed by an empty row, the cursor's place at its end.
  assertEquals(render("> ", "abc\nd", 5, 3), {
    rows: ["> abc", "", "  d"],
    cursorRow: 1,
    cursorColumn: 0,
  });
});

Deno.test("render shows tabs as spaces to the next tab stop", () => {
  assertEquals(render("> ", "a\tb", 80), { rows: ["> a b"], cursorRow: 0, cursorColumn: 5 });
  assertEquals(render("", "\tx", 80), { rows: ["    x"], cursorRow: 0, cursorColumn: 5 });
  assertEquals(render("", "abcd\tx", 80, 4), {
    rows: ["abcd    x"],
    cursorRow: 0,
    cursorColumn: 4,
  });
  // A tab stops at the edge of the row.
  assertEquals(render("", "abcd\t", 6), { rows: ["abcd  ", ""], cursorRow: 1, cursorColumn: 0 });
});

Deno.test("render shows control characters as placeholders", () => {
  assertEquals(render("> ", "a\x1b[2Jb", 80), {
    rows: ["> a␛[2Jb"],
    cursorRow: 0,
    cursorColumn: 8,
  });
  assertEquals(render("", "\u202e", 4), {
    rows: ["⟨U+2", "02E⟩", ""],
    cursorRow: 2,
    cursorColumn: 0,
  });
});

Deno.test("render refuses a width that is not a positive integer", () => {
  const editor = new LineEditor();
  for (const columns of [0, -1, 2.5, NaN]) {
    assertThrows(
      () => editor.render("> ", columns),
      RangeError,
      `columns must be a positive integer, got "${columns}"`,
    );
  }
  assertEquals(editor.render("> ", 1), { rows: [">", " ", ""], cursorRow: 2, cursorColumn: 0 });
});
