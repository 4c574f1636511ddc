// The rules that keep names honest: which characters a name may hold, which mixtures of
// scripts are refused, and the form in which names are compared, so that names that look alike
// are the same name. After Unicode's security mechanisms (UTS #39): a "highly restrictive"
// script profile and a skeleton of confusable characters, cut down to what matters for
// short chat names.

/** Letters of one script, marks, decimal digits, `_`, `-` and `.`; not starting with a mark. */
const NAME_PATTERN = /^[\p{L}\p{Nd}_.\-][\p{L}\p{M}\p{Nd}_.\-]*$/u;

/**
 * Scripts a letter may belong to. A name may use one of them, or one of the mixtures in
 * {@linkcode ALLOWED_MIXES}; letters of any other script count as one script of their own.
 */
const SCRIPTS: readonly [string, RegExp][] = [
  "Latin",
  "Cyrillic",
  "Greek",
  "Armenian",
  "Georgian",
  "Hebrew",
  "Arabic",
  "Devanagari",
  "Bengali",
  "Tamil",
  "Thai",
  "Ethiopic",
  "Han",
  "Hiragana",
  "Katakana",
  "Hangul",
  "Bopomofo",
].map((script) => [script, new RegExp(`^\\p{Script=${script}}$`, "u")]);

/** Mixtures of scripts that are how languages are written: Japanese, Korean, Chinese. */
const ALLOWED_MIXES: readonly Set<string>[] = [
  new Set(["Latin", "Han", "Hiragana", "Katakana"]),
  new Set(["Latin", "Han", "Hangul"]),
  new Set(["Latin", "Han", "Bopomofo"]),
];

/**
 * Characters that look like others, mapped to the one they look like: the Cyrillic, Greek and
 * other letters that pass for Latin ones, digits that pass for letters, and Latin letters that
 * pass for each other. Applied after lower-casing.
 */
const CONFUSABLES: Record<string, string> = {
  // Cyrillic.
  "а": "a",
  "в": "b",
  "е": "e",
  "ё": "e",
  "ѐ": "e",
  "з": "3",
  "һ": "h",
  "і": "l",
  "ї": "l",
  "ӏ": "l",
  "ј": "j",
  "к": "k",
  "м": "m",
  "н": "h",
  "о": "o",
  "п": "n",
  "р": "p",
  "с": "c",
  "т": "t",
  "у": "y",
  "х": "x",
  "ѕ": "s",
  "ԁ": "d",
  "ԛ": "q",
  "ԝ": "w",
  "ь": "b",
  "ѵ": "v",
  // Greek.
  "α": "a",
  "β": "b",
  "γ": "y",
  "ε": "e",
  "η": "n",
  "ι": "l",
  "κ": "k",
  "ν": "v",
  "ο": "o",
  "ρ": "p",
  "τ": "t",
  "υ": "u",
  "χ": "x",
  "ω": "w",
  // Latin lookalikes, and digits.
  "ı": "l",
  "i": "l",
  "ɩ": "l",
  "ǀ": "l",
  "1": "l",
  "|": "l",
  "0": "o",
  "ɑ": "a",
  "ɡ": "g",
  "ʋ": "v",
};

/** Letter pairs that pass for one letter. */
const CONFUSABLE_PAIRS: readonly [RegExp, string][] = [[/rn/g, "m"], [/vv/g, "w"], [/cl/g, "d"]];

/**
 * Says what is wrong with a name under these rules, or nothing if it is valid.
 *
 * @param what "Name" or "Room name", for the message.
 * @param name The name to check.
 * @param maxLength The most characters (code points) it may have.
 */
export function namingProblem(what: string, name: string, maxLength: number): string | undefined {
  if (name.length === 0) return `${what} is empty`;
  let length = 0;
  for (const _ of name) length++;
  if (length > maxLength) return `${what} "${name}" is longer than ${maxLength} characters`;
  if (!NAME_PATTERN.test(name)) {
    return `${what} "${name}" may hold only letters, digits, "_", "-" and "."`;
  }
  const scripts = new Set<string>();
  for (const char of name) {
    if (!/\p{L}/u.test(char)) continue;
    scripts.add(SCRIPTS.find(([, pattern]) => pattern.test(char))?.[0] ?? "other");
  }
  if (scripts.size > 1 && !ALLOWED_MIXES.some((mix) => [...scripts].every((s) => mix.has(s)))) {
    return `${what} "${name}" mixes scripts (${
      [...scripts].join(", ")
    }), so it could pass for another`;
  }
  return undefined;
}

/**
 * The form in which names are compared: NFKC, lower-cased, with confusable characters replaced
 * by what they look like. `Alice`, `ALICE`, `ａｌｉｃｅ` and the Cyrillic-lettered `аlice` all
 * come out as one name.
 */
export function nameKey(name: string): string {
  let key = "";
  for (const char of name.normalize("NFKC").toLowerCase()) key += CONFUSABLES[char] ?? char;
  for (const [pair, letter] of CONFUSABLE_PAIRS) key = key.replace(pair, letter);
  return key;
}
