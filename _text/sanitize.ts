// Making text from a peer harmless before it reaches a terminal: control characters and bidi
// controls become visible placeholders, so a message can neither run an escape sequence nor
// reorder or hide the text around it.

// deno-lint-ignore no-control-regex
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_CHAR = new RegExp(`^${UNSAFE.source}$`);

/**
 * The code points {@linkcode sanitize} replaces although they are not controls: the bidi
 * controls, which reorder or hide the text around them. U+061C ARABIC LETTER MARK, U+200E
 * LEFT-TO-RIGHT MARK, U+200F RIGHT-TO-LEFT MARK, U+202A to U+202E (embeddings, overrides and
 * their terminator), U+2066 to U+2069 (isolates and their terminator).
 */
export const BIDI_CONTROLS: readonly number[] = [
  0x061c,
  0x200e,
  0x200f,
  0x202a,
  0x202b,
  0x202c,
  0x202d,
  0x202e,
  0x2066,
  0x2067,
  0x2068,
  0x2069,
];

/**
 * Returns the visible stand-in {@linkcode sanitize} puts in place of `char`, or `undefined` if
 * `char` is safe and left as is. The rules:
 *
 * - `"\n"` and `"\t"` are safe.
 * - Any other C0 control, U+0000 to U+001F, becomes its Unicode control picture, U+2400 plus its
 *   code: ESC is `"␛"`, BEL `"␇"`, CR `"␍"`, NUL `"␀"`.
 * - DEL, U+007F, becomes `"␡"` (U+2421).
 * - A C1 control, U+0080 to U+009F, becomes `"⟨U+XXXX⟩"`: its code in four upper-case hex
 *   digits between U+27E8 and U+27E9, mathematical angle brackets. CSI, U+009B, is `"⟨U+009B⟩"`.
 * - A bidi control (see {@linkcode BIDI_CONTROLS}) becomes `"⟨U+XXXX⟩"` in the same way:
 *   RIGHT-TO-LEFT OVERRIDE is `"⟨U+202E⟩"`.
 *
 * @param char One code point.
 * @returns Its placeholder, or `undefined`.
 *
 * @example
 * ```ts
 * import { placeholder } from "./sanitize.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(placeholder("\x1b"), "␛");
 * assertEquals(placeholder("\u202e"), "⟨U+202E⟩");
 * assertEquals(placeholder("a"), undefined);
 * ```
 */
export function placeholder(char: string): string | undefined {
  return UNSAFE_CHAR.test(char) ? replace(char) : undefined;
}

/**
 * Makes `text` from a peer safe to write to a terminal: every control character except newline
 * and tab, and every bidi control, is replaced by the visible placeholder described at
 * {@linkcode placeholder}. Since ESC (and the 8-bit CSI, U+009B) is replaced, no escape sequence
 * survives: what followed it (`[2J`, `]0;title`) stays in the text as plain characters. All
 * other text, emoji and combining marks included, passes unchanged.
 *
 * @param text Text as received.
 * @returns Text that is safe to print.
 *
 * @example
 * ```ts
 * import { sanitize } from "./sanitize.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(sanitize("hi\x1b[2J"), "hi␛[2J");
 * assertEquals(sanitize("abc\u202edef"), "abc⟨U+202E⟩def");
 * ```
 */
export function sanitize(text: string): string {
  return text.replace(UNSAFE, replace);
}

function replace(char: string): string {
  const code = char.charCodeAt(0);
  if (code < 0x20) return String.fromCharCode(0x2400 + code);
  if (code === 0x7f) return "\u2421";
  return `\u27e8U+${code.toString(16).toUpperCase().padStart(4, "0")}\u27e9`;
}
