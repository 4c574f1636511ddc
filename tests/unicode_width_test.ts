import { unicodeWidth as stdUnicodeWidth } from "../_cli/std.ts";
import { assertEquals } from "./_assert.ts";
import { unicodeWidth } from "../_text/unicode_width.ts";

Deno.test("unicodeWidth counts ASCII as one column each", () => {
  assertEquals(unicodeWidth(""), 0);
  assertEquals(unicodeWidth("hello, world!"), 13);
  assertEquals(unicodeWidth(" ~"), 2);
});

Deno.test("unicodeWidth counts East Asian Wide and Fullwidth as two", () => {
  assertEquals(unicodeWidth("日本語"), 6);
  assertEquals(unicodeWidth("天地玄黃宇宙洪荒"), 16);
  assertEquals(unicodeWidth("한국어"), 6);
  assertEquals(unicodeWidth("ひらがなカタカナ"), 16);
  assertEquals(unicodeWidth("Ａ"), 2);
  assertEquals(unicodeWidth("ｆｕｌｌｗｉｄｔｈ"), 18);
  assertEquals(unicodeWidth("、。「」"), 8);
  assertEquals(unicodeWidth("\u3000"), 2); // ideographic space
  assertEquals(unicodeWidth("￦"), 2); // fullwidth won sign, U+FFE6
  assertEquals(unicodeWidth("\u{20000}\u{2ebf0}\u{31350}"), 6); // extensions B, I, H
  assertEquals(unicodeWidth("ｱ"), 1); // halfwidth katakana
  assertEquals(unicodeWidth("mixed 日本 text"), 15);
});

Deno.test("unicodeWidth counts other scripts and ambiguous characters as one", () => {
  assertEquals(unicodeWidth("голубой"), 7);
  assertEquals(unicodeWidth("αβγ"), 3);
  assertEquals(unicodeWidth("±§°"), 3);
  assertEquals(unicodeWidth("→☺❤"), 3);
  assertEquals(unicodeWidth("\u00a0"), 1);
});

Deno.test("unicodeWidth counts an emoji as one glyph of two columns", () => {
  assertEquals(unicodeWidth("😀"), 2);
  assertEquals(unicodeWidth("🦕"), 2);
  assertEquals(unicodeWidth("⌚"), 2); // Emoji_Presentation in the BMP
  assertEquals(unicodeWidth("👨‍👩‍👧"), 2); // ZWJ sequence
  assertEquals(unicodeWidth("👁‍🗨"), 2); // ZWJ sequence of text-style emoji
  assertEquals(unicodeWidth("❤️"), 2); // text-style base and variation selector 16
  assertEquals(unicodeWidth("❤️‍🔥"), 2);
  assertEquals(unicodeWidth("🏳️‍🌈"), 2);
  assertEquals(unicodeWidth("👍🏽"), 2); // skin tone
  assertEquals(unicodeWidth("🇫🇷"), 2); // flag
  assertEquals(unicodeWidth("🏴󠁧󠁢󠁳󠁣󠁴󠁿"), 2); // tag sequence
  assertEquals(unicodeWidth("1️⃣"), 2); // keycap
  assertEquals(unicodeWidth("a😀b👨‍👩‍👧c"), 7);
});

Deno.test("unicodeWidth counts combining marks and invisible characters as none", () => {
  assertEquals(unicodeWidth("é"), 1); // composed
  assertEquals(unicodeWidth("e\u0301"), 1); // decomposed
  assertEquals(unicodeWidth("e\u0301\u0302\u0323"), 1);
  assertEquals(unicodeWidth("\u0301"), 0);
  assertEquals(unicodeWidth("\u20dd"), 0); // enclosing mark
  assertEquals(unicodeWidth("\u200d"), 0); // zero-width joiner
  assertEquals(unicodeWidth("\u200b"), 0); // zero-width space
  assertEquals(unicodeWidth("\ufe0f"), 0);
  assertEquals(unicodeWidth("\u{e0100}"), 0); // variation selector 17
  assertEquals(unicodeWidth("\u2060\ufeff\u00ad"), 0);
  assertEquals(unicodeWidth("a\u200db"), 2);
  assertEquals(unicodeWidth("\u1100\u1161\u11a8"), 2); // 각 from conjoining jamo
  assertEquals(unicodeWidth("\u1100\u1161\u11a8".normalize("NFC")), 2);
});

Deno.test("unicodeWidth counts control characters as none", () => {
  assertEquals(unicodeWidth("\x00\x07\x1b\r\n\t"), 0);
  assertEquals(unicodeWidth("\x7f\x80\x9b\x9f"), 0);
  assertEquals(unicodeWidth("a\r\nb"), 2);
  assertEquals(unicodeWidth("\x1b[31mred"), 7); // escape sequences are not recognised
});

Deno.test("_cli/std.ts re-exports unicodeWidth", () => {
  assertEquals(stdUnicodeWidth, unicodeWidth);
});
