// The one place that maps Deno std onto the program; tests/_assert.ts does the same for the
// tests' assertions, so that no assertion code loads with the program. std is taken from npm's
// `deno-std` build of it (JSR is out of reach where Parley is built), which ships JavaScript
// without type declarations, so every symbol is typed here, at the boundary. Moving to JSR means
// replacing the specifiers below with `jsr:@std/cli@^1` and `jsr:@std/streams@^1` and deleting
// the hand-written types.
//
// Specifiers are full (`npm:...`) rather than import-map names because a module run from a URL
// does not see deno.json's import map.

import * as cli from "npm:deno-std@1.4.0/cli/parse_args.js";
import * as streams from "npm:deno-std@1.4.0/streams/text_line_stream.js";
import * as secrets from "npm:deno-std@1.4.0/cli/prompt_secret.js";

/** The subset of @std/cli `parseArgs` options Parley uses. */
export interface ParseArgsOptions {
  boolean?: string[];
  string?: string[];
  alias?: Record<string, string>;
  default?: Record<string, unknown>;
  negatable?: string[];
  /** Options that may be repeated: their values come as an array. */
  collect?: string[];
  stopEarly?: boolean;
  unknown?: (arg: string, key?: string, value?: unknown) => unknown;
}

/** What @std/cli `parseArgs` returns. */
export interface ParsedArgs {
  _: (string | number)[];
  [flag: string]: unknown;
}

/** @std/cli `parseArgs`. */
export const parseArgs: (args: string[], options?: ParseArgsOptions) => ParsedArgs = cli.parseArgs;

/** @std/cli `promptSecret`: asks for a line without showing it; null if stdin is no terminal. */
export const promptSecret: (message?: string, options?: { mask?: string; clear?: boolean }) =>
  | string
  | null = secrets.promptSecret;

/** @std/streams `TextLineStream`. */
export const TextLineStream: new (options?: { allowCR?: boolean }) => TransformStream<
  string,
  string
> = streams.TextLineStream;

// @std/cli `unicodeWidth`: npm's deno-std lacks the cli/_data.json its build imports, so this
// stands in for it until JSR is reachable, when `jsr:@std/cli/unicode-width` replaces it.
export { unicodeWidth } from "../_text/unicode_width.ts";
