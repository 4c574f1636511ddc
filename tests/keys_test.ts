import { assertEquals } from "./_assert.ts";
import { type Key, KeyDecoder } from "../_cli/tui/keys.ts";

const encoder = new TextEncoder();

/** Decodes `input` in one chunk, then flushes. */
function keys(input: string): Key[] {
  const decoder = new KeyDecoder();
  return [...decoder.decode(encoder.encode(input)), ...decoder.flush()];
}

/** Decodes `chunks` one after the other without flushing, joining adjacent text keys. */
function decodeChunks(chunks: Uint8Array[]): Key[] {
  const decoder = new KeyDecoder();
  return joinText(chunks.flatMap((chunk) => decoder.decode(chunk)));
}

function joinText(keys: Key[]): Key[] {
  const joined: Key[] = [];
  for (const key of keys) {
    const last = joined.at(-1);
    if (key.type === "text" && last?.type === "text") {
      joined[joined.length - 1] = { type: "text", text: last.text + key.text };
    } else {
      joined.push(key);
    }
  }
  return joined;
}

Deno.test("KeyDecoder turns printable input into one text key", () => {
  assertEquals(keys("a"), [{ type: "text", text: "a" }]);
  assertEquals(keys("hello wörld 日本 😀"), [{ type: "text", text: "hello wörld 日本 😀" }]);
  assertEquals(keys("ab\rcd"), [
    { type: "text", text: "ab" },
    { type: "enter" },
    { type: "text", text: "cd" },
  ]);
  assertEquals(keys(""), []);
});

Deno.test("KeyDecoder decodes Enter, newline, tab and backspace", () => {
  assertEquals(keys("\r"), [{ type: "enter" }]);
  assertEquals(keys("\r\n"), [{ type: "enter" }]);
  assertEquals(keys("\r\r"), [{ type: "enter" }, { type: "enter" }]);
  assertEquals(keys("\x1bOM"), [{ type: "enter" }]);
  assertEquals(keys("\n"), [{ type: "newline" }]); // Ctrl-J
  assertEquals(keys("\x1b\r"), [{ type: "newline" }]); // Alt+Enter
  assertEquals(keys("\x1b\n"), [{ type: "newline" }]);
  assertEquals(keys("\t"), [{ type: "tab" }]);
  assertEquals(keys("\x7f"), [{ type: "backspace" }]);
  assertEquals(keys("\x08"), [{ type: "backspace" }]);
  assertEquals(keys("\x1b\x7f"), [{ type: "deleteWordBack" }]); // Alt+Backspace
  assertEquals(keys("\x1b[3~"), [{ type: "delete" }]);
});

Deno.test("KeyDecoder decodes cursor and editing keys", () => {
  const cases: [string, Key["type"]][] = [
    ["\x1b[A", "up"],
    ["\x1b[B", "down"],
    ["\x1b[C", "right"],
    ["\x1b[D", "left"],
    ["\x1bOA", "up"],
    ["\x1bOB", "down"],
    ["\x1bOC", "right"],
    ["\x1bOD", "left"],
    ["\x1b[H", "home"],
    ["\x1b[F", "end"],
    ["\x1b[1~", "home"],
    ["\x1b[4~", "end"],
    ["\x1b[7~", "home"],
    ["\x1b[8~", "end"],
    ["\x1bOH", "home"],
    ["\x1bOF", "end"],
    ["\x1b[5~", "pageUp"],
    ["\x1b[6~", "pageDown"],
    ["\x01", "home"],
    ["\x05", "end"],
    ["\x02", "left"],
    ["\x06", "right"],
    ["\x10", "up"],
    ["\x0e", "down"],
    ["\x17", "deleteWordBack"],
    ["\x15", "deleteToStart"],
    ["\x0b", "deleteToEnd"],
    ["\x0c", "redraw"],
    ["\x03", "interrupt"],
    ["\x04", "eof"],
  ];
  for (const [input, type] of cases) assertEquals(keys(input), [{ type } as Key], `${input}`);
});

Deno.test("KeyDecoder reads modifiers on cursor keys", () => {
  assertEquals(keys("\x1b[1;5C"), [{ type: "wordRight" }]); // Ctrl+Right
  assertEquals(keys("\x1b[1;5D"), [{ type: "wordLeft" }]); // Ctrl+Left
  assertEquals(keys("\x1b[1;3C"), [{ type: "wordRight" }]); // Alt+Right
  assertEquals(keys("\x1b[1;3D"), [{ type: "wordLeft" }]); // Alt+Left
  assertEquals(keys("\x1bb\x1bf"), [{ type: "wordLeft" }, { type: "wordRight" }]); // Alt+B, Alt+F
  assertEquals(keys("\x1b[1;2D"), [{ type: "left" }]); // Shift+Left
  assertEquals(keys("\x1b[1;5A"), [{ type: "up" }]);
  assertEquals(keys("\x1b[1;5H"), [{ type: "home" }]);
  assertEquals(keys("\x1b[3;5~"), [{ type: "delete" }]);
});

Deno.test("KeyDecoder swallows unknown sequences whole", () => {
  assertEquals(keys("\x1b[2~"), [{ type: "unknown", sequence: "\x1b[2~" }]); // Insert
  assertEquals(keys("\x1b[15~x"), [
    { type: "unknown", sequence: "\x1b[15~" }, // F5
    { type: "text", text: "x" },
  ]);
  assertEquals(keys("\x1bOP"), [{ type: "unknown", sequence: "\x1bOP" }]); // F1
  assertEquals(keys("\x1b[[A"), [{ type: "unknown", sequence: "\x1b[[A" }]); // Linux console F1
  assertEquals(keys("\x1b[Z"), [{ type: "unknown", sequence: "\x1b[Z" }]); // Shift+Tab
  assertEquals(keys("\x1b[<0;12;5M"), [{ type: "unknown", sequence: "\x1b[<0;12;5M" }]); // mouse
  assertEquals(keys("\x1b[27;5;13~"), [{ type: "unknown", sequence: "\x1b[27;5;13~" }]);
  assertEquals(keys("\x1b[201~"), [{ type: "unknown", sequence: "\x1b[201~" }]); // stray end
  assertEquals(keys("\x1bx"), [{ type: "unknown", sequence: "\x1bx" }]); // Alt+X
  assertEquals(keys("\x1b😀a"), [
    { type: "unknown", sequence: "\x1b😀" },
    { type: "text", text: "a" },
  ]);
  assertEquals(keys("\x00\x1f\x85"), [
    { type: "unknown", sequence: "\x00" },
    { type: "unknown", sequence: "\x1f" },
    { type: "unknown", sequence: "\x85" },
  ]);
});

Deno.test("KeyDecoder breaks off a malformed sequence and reads what follows", () => {
  assertEquals(keys("\x1b[1;\x03"), [
    { type: "unknown", sequence: "\x1b[1;" },
    { type: "interrupt" },
  ]);
  assertEquals(keys("\x1b[\r"), [{ type: "unknown", sequence: "\x1b[" }, { type: "enter" }]);
  assertEquals(keys("\x1bO\r"), [{ type: "unknown", sequence: "\x1bO" }, { type: "enter" }]);
});

Deno.test("KeyDecoder drops an over-long sequence up to its end", () => {
  const long = "\x1b[" + "1;".repeat(40);
  const decoded = keys(long + "Ab");
  assertEquals(decoded, [
    { type: "unknown", sequence: long.slice(0, 32) },
    { type: "text", text: "b" },
  ]);
  const decoder = new KeyDecoder();
  assertEquals(decodeChunks([encoder.encode(long), encoder.encode("1;1A\x03")]), [
    { type: "unknown", sequence: long.slice(0, 32) },
    { type: "interrupt" },
  ]);
  assertEquals(decoder.decode(encoder.encode(long + "\x03")), [
    { type: "unknown", sequence: long.slice(0, 32) },
    { type: "interrupt" },
  ]);
});

Deno.test("KeyDecoder decodes a lone ESC as escape only once it is known to be alone", () => {
  const decoder = new KeyDecoder();
  assertEquals(decoder.decode(encoder.encode("a\x1b")), [{ type: "text", text: "a" }]);
  assertEquals(decoder.flush(), [{ type: "escape" }]);
  assertEquals(decoder.flush(), []);
  assertEquals(decoder.decode(encoder.encode("b")), [{ type: "text", text: "b" }]);

  // Without a flush, the next chunk decides.
  assertEquals(decoder.decode(encoder.encode("\x1b")), []);
  assertEquals(decoder.decode(encoder.encode("[D")), [{ type: "left" }]);
  assertEquals(decoder.decode(encoder.encode("\x1b")), []);
  assertEquals(decoder.decode(encoder.encode("\x03")), [{ type: "escape" }, { type: "interrupt" }]);

  assertEquals(keys("\x1b\x1b[A"), [{ type: "escape" }, { type: "up" }]);
  assertEquals(keys("\x1b\x1b"), [{ type: "escape" }, { type: "escape" }]);

  // A flush ends an unfinished sequence too.
  assertEquals(decoder.decode(encoder.encode("\x1b[1;")), []);
  assertEquals(decoder.flush(), [{ type: "unknown", sequence: "\x1b[1;" }]);
  assertEquals(decoder.decode(encoder.encode("\x1bO")), []);
  assertEquals(decoder.flush(), [{ type: "unknown", sequence: "\x1bO" }]);
});

Deno.test("KeyDecoder delivers a bracketed paste as one key", () => {
  assertEquals(keys("\x1b[200~hello\x1b[201~"), [{ type: "paste", text: "hello" }]);
  assertEquals(keys("\x1b[200~\x1b[201~"), [{ type: "paste", text: "" }]);
  assertEquals(keys("a\x1b[200~one\r\ntwo\rthree\nfour\x1b[201~b"), [
    { type: "text", text: "a" },
    { type: "paste", text: "one\ntwo\nthree\nfour" },
    { type: "text", text: "b" },
  ]);
  // Keys inside a paste are text, and control characters other than tab are dropped.
  assertEquals(keys("\x1b[200~\x03\x1b[2J\ttab\x07\x7f\x9b\x1b[201~"), [
    { type: "paste", text: "[2J\ttab" },
  ]);
  assertEquals(keys("\x1b[200~😀 日本\x1b[201~\r"), [
    { type: "paste", text: "😀 日本" },
    { type: "enter" },
  ]);
});

Deno.test("KeyDecoder keeps a paste split across many chunks", () => {
  const decoder = new KeyDecoder();
  const text = "line one\r\nline two ".repeat(50) + "😀";
  const bytes = encoder.encode(`\x1b[200~${text}\x1b[201~x`);
  const decoded: Key[] = [];
  for (let offset = 0; offset < bytes.length; offset += 7) {
    decoded.push(...decoder.decode(bytes.subarray(offset, offset + 7)));
    decoded.push(...decoder.flush()); // the paste survives idle flushes
  }
  assertEquals(decoded, [
    { type: "paste", text: text.replaceAll("\r\n", "\n") },
    { type: "text", text: "x" },
  ]);
});

Deno.test("KeyDecoder decodes the same keys however the input is split", () => {
  const input = "aé😀\x1b[D\x1b[200~x\ny\x1b[201~\x1b[1;5C日\r";
  const expected: Key[] = [
    { type: "text", text: "aé😀" },
    { type: "left" },
    { type: "paste", text: "x\ny" },
    { type: "wordRight" },
    { type: "text", text: "日" },
    { type: "enter" },
  ];
  const bytes = encoder.encode(input);
  assertEquals(decodeChunks([bytes]), expected);
  for (let offset = 0; offset <= bytes.length; offset++) {
    const chunks = [bytes.subarray(0, offset), bytes.subarray(offset)];
    assertEquals(decodeChunks(chunks), expected, `split at ${offset}`);
  }
  for (let first = 1; first < bytes.length; first++) {
    for (let second = first + 1; second < bytes.length; second++) {
      const chunks = [
        bytes.subarray(0, first),
        bytes.subarray(first, second),
        bytes.subarray(second),
      ];
      assertEquals(decodeChunks(chunks), expected, `split at ${first} and ${second}`);
    }
  }
  const single = Array.from(bytes, (byte) => Uint8Array.of(byte));
  assertEquals(decodeChunks(single), expected, "one byte at a time");
});

Deno.test("KeyDecoder decodes the paste end marker split at every offset", () => {
  const input = "\x1b[200~abc\x1b[201~";
  const bytes = encoder.encode(input);
  for (let offset = 0; offset <= bytes.length; offset++) {
    const chunks = [bytes.subarray(0, offset), bytes.subarray(offset)];
    assertEquals(decodeChunks(chunks), [{ type: "paste", text: "abc" }], `split at ${offset}`);
  }
});

Deno.test("KeyDecoder replaces invalid UTF-8", () => {
  const decoder = new KeyDecoder();
  assertEquals(decoder.decode(Uint8Array.of(0x61, 0xff, 0x62)), [
    { type: "text", text: "a\ufffdb" },
  ]);
});
