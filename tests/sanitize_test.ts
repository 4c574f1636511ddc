import { assertEquals } from "./_assert.ts";
import { BIDI_CONTROLS, placeholder, sanitize } from "../_text/sanitize.ts";

Deno.test("sanitize leaves ordinary text, newlines and tabs alone", () => {
  for (
    const text of [
      "",
      "hello, world",
      "line one\nline two\n",
      "a\tb",
      "日本語 한국어 голубой",
      "😀 👨‍👩‍👧 🇫🇷 e\u0301",
      "\u00a0\u00a9\u00ff\u200d\u200b",
      "[2J ]0; no escape here",
    ]
  ) {
    assertEquals(sanitize(text), text);
  }
});

Deno.test("sanitize makes escape sequences inert and visible", () => {
  assertEquals(sanitize("\x1b[2J"), "␛[2J"); // clear screen
  assertEquals(sanitize("\x1b[H\x1b[10;20H\x1b[5A"), "␛[H␛[10;20H␛[5A"); // cursor moves
  assertEquals(sanitize("\x1b]0;pwned\x07"), "␛]0;pwned␇"); // window title
  assertEquals(
    sanitize("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"),
    "␛]8;;http://x␛\\link␛]8;;␛\\",
  );
  assertEquals(sanitize("\x1b[31mred\x1b[0m"), "␛[31mred␛[0m"); // colours
  assertEquals(sanitize("\x1bc"), "␛c"); // reset
  assertEquals(sanitize("\x9b2J"), "⟨U+009B⟩2J"); // 8-bit CSI
  assertEquals(sanitize("\x9d0;t\x9c"), "⟨U+009D⟩0;t⟨U+009C⟩"); // 8-bit OSC and ST
});

Deno.test("sanitize replaces every control character except newline and tab", () => {
  assertEquals(sanitize("ding\x07"), "ding␇");
  assertEquals(sanitize("a\x00b"), "a␀b");
  assertEquals(sanitize("over\rwrite"), "over␍write");
  assertEquals(sanitize("back\bspace"), "back␈space");
  assertEquals(sanitize("\x0b\x0c"), "␋␌");
  assertEquals(sanitize("del\x7f"), "del␡");
  assertEquals(sanitize("\x80\x85"), "⟨U+0080⟩⟨U+0085⟩");
  for (let code = 0; code < 0x20; code++) {
    const char = String.fromCharCode(code);
    const expected = char === "\n" || char === "\t" ? char : String.fromCharCode(0x2400 + code);
    assertEquals(sanitize(char), expected);
  }
  for (let code = 0x80; code < 0xa0; code++) {
    const hex = code.toString(16).toUpperCase().padStart(4, "0");
    assertEquals(sanitize(String.fromCharCode(code)), `⟨U+${hex}⟩`);
  }
});

Deno.test("sanitize shows bidi controls instead of letting them reorder text", () => {
  assertEquals(sanitize("abc\u202edef"), "abc⟨U+202E⟩def"); // right-to-left override
  assertEquals(sanitize("\u2067x\u2069"), "⟨U+2067⟩x⟨U+2069⟩");
  assertEquals(sanitize("\u200e\u200f\u061c"), "⟨U+200E⟩⟨U+200F⟩⟨U+061C⟩");
  for (const code of BIDI_CONTROLS) {
    const char = String.fromCharCode(code);
    const hex = code.toString(16).toUpperCase().padStart(4, "0");
    assertEquals(sanitize(char), `⟨U+${hex}⟩`);
    assertEquals(placeholder(char), `⟨U+${hex}⟩`);
  }
  assertEquals(BIDI_CONTROLS.length, 12);
});

Deno.test("placeholder names the stand-in of one character", () => {
  assertEquals(placeholder("\x1b"), "␛");
  assertEquals(placeholder("\x7f"), "␡");
  assertEquals(placeholder("\x9b"), "⟨U+009B⟩");
  assertEquals(placeholder("\n"), undefined);
  assertEquals(placeholder("\t"), undefined);
  assertEquals(placeholder("a"), undefined);
  assertEquals(placeholder("\x1b\x1b"), undefined);
});
