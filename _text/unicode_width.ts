// How many terminal columns a string takes. A stand-in for @std/cli `unicodeWidth`, whose npm
// build ships without the data table it imports; the rules are std's, except that the string is
// measured by grapheme cluster, so an emoji sequence counts as the one glyph terminals draw.

// East Asian Wide (W) and Fullwidth (F) code points, from EastAsianWidth.txt (Unicode 14 and the
// W additions of 15.0 to 16.0), as sorted inclusive ranges. Ranges are joined across code points
// the table need not decide: unassigned ones, emoji (wide by \p{Emoji_Presentation} anyway) and
// zero-width ones (combining marks, Hangul medial vowels and final consonants). The CJK
// ideograph blocks and planes 2 and 3 are whole, unassigned code points included, as
// EastAsianWidth.txt makes them W by default.
const WIDE: readonly (readonly [first: number, last: number])[] = [
  [0x1100, 0x115f], // Hangul Jamo initial consonants
  [0x2329, 0x232a], // angle brackets
  [0x2630, 0x2637], // Yijing trigrams
  [0x268a, 0x268f], // Yijing monograms and digrams
  [0x2e80, 0x303e], // CJK radicals, Kangxi radicals, ideographic description, CJK punctuation
  [0x3041, 0x3247], // kana, Bopomofo, Hangul compatibility Jamo, Kanbun, CJK strokes, enclosed CJK
  [0x3250, 0xa4c6], // CJK compatibility, ideographs with extension A, Yijing hexagrams, Yi
  [0xa960, 0xa97c], // Hangul Jamo extended A
  [0xac00, 0xd7a3], // Hangul syllables
  [0xf900, 0xfaff], // CJK compatibility ideographs
  [0xfe10, 0xfe6b], // vertical forms, CJK compatibility forms, small form variants
  [0xff01, 0xff60], // fullwidth ASCII and brackets
  [0xffe0, 0xffe6], // fullwidth signs
  [0x16fe0, 0x1b2fb], // ideographic symbols, Tangut, Khitan, kana supplements, Nushu
  [0x1d300, 0x1d376], // Tai Xuan Jing symbols, counting rod numerals
  [0x1f200, 0x1f265], // enclosed ideographic supplement
  [0x20000, 0x3fffd], // CJK ideograph extensions B and later, planes 2 and 3
];

// Code points that take no column: combining marks, default-ignorable code points (zero-width
// joiner and space, variation selectors, bidi controls, tags), Hangul medial vowels and final
// consonants, which join the initial consonant before them.
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Default_Ignorable_Code_Point}\u1160-\u11ff\ud7b0-\ud7ff]/u;
const EMOJI_PRESENTATION = /^\p{Emoji_Presentation}/u;
// An emoji made to look like one by variation selector 16, or an emoji ZWJ sequence.
const EMOJI_SEQUENCE =
  /^(?:\p{Emoji}\ufe0f|\p{Extended_Pictographic}.*\u200d\p{Extended_Pictographic})/su;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

const segmenter = new Intl.Segmenter();

/**
 * Returns the number of terminal columns `text` takes, following @std/cli `unicodeWidth`:
 * East Asian Wide and Fullwidth characters and emoji with emoji presentation take 2 columns;
 * combining marks, default-ignorable code points (zero-width joiner and space, variation
 * selectors) and C0 and C1 controls take none; everything else, East Asian Ambiguous included,
 * takes 1. Unlike std, a grapheme cluster that is an emoji sequence (an emoji ZWJ sequence, a
 * base with variation selector 16, a skin tone or flag sequence) counts as one glyph of 2.
 *
 * Escape sequences are not recognised: strip or sanitize them first.
 *
 * @param text The string to measure.
 * @returns Its width in columns.
 *
 * @example
 * ```ts
 * import { unicodeWidth } from "./unicode_width.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(unicodeWidth("hello"), 5);
 * assertEquals(unicodeWidth("日本語"), 6);
 * assertEquals(unicodeWidth("👨‍👩‍👧"), 2);
 * ```
 */
export function unicodeWidth(text: string): number {
  if (PRINTABLE_ASCII.test(text)) return text.length;
  let width = 0;
  for (const { segment } of segmenter.segment(text)) width += clusterWidth(segment);
  return width;
}

function clusterWidth(cluster: string): number {
  if (cluster.length > 1 && (EMOJI_PRESENTATION.test(cluster) || EMOJI_SEQUENCE.test(cluster))) {
    return 2;
  }
  let width = 0;
  for (const char of cluster) width += charWidth(char);
  return width;
}

function charWidth(char: string): number {
  const code = char.codePointAt(0)!;
  if (code < 0x20 || (code >= 0x7f && code < 0xa0)) return 0;
  if (code < 0x7f) return 1;
  if (ZERO_WIDTH.test(char)) return 0;
  if (EMOJI_PRESENTATION.test(char) || isWide(code)) return 2;
  return 1;
}

function isWide(code: number): boolean {
  let low = 0;
  let high = WIDE.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const [first, last] = WIDE[middle]!;
    if (code < first) high = middle - 1;
    else if (code > last) low = middle + 1;
    else return true;
  }
  return false;
}
