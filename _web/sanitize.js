// The page's copy of _text/sanitize.ts: control and bidi characters become visible placeholders,
// so a message can neither hide nor reorder the text around it. tests/web_test.ts checks that it
// agrees with the terminal's on every code point.

// deno-lint-ignore no-control-regex
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Replaces every control character but newline and tab, and every bidi control, by a visible
 * placeholder: `␛` for ESC, `⟨U+202E⟩` for RIGHT-TO-LEFT OVERRIDE.
 * @param {string} text
 * @returns {string}
 */
export function sanitize(text) {
  return text.replace(UNSAFE, replace);
}

/** @param {string} char */
function replace(char) {
  const code = char.charCodeAt(0);
  if (code < 0x20) return String.fromCharCode(0x2400 + code);
  if (code === 0x7f) return "\u2421";
  return `\u27e8U+${code.toString(16).toUpperCase().padStart(4, "0")}\u27e9`;
}
