// The one place that maps Deno std onto this project. std is taken from npm's `deno-std` build of
// it (JSR is out of reach where Parley is built), which ships JavaScript without type declarations,
// so every symbol is typed here, at the boundary. Moving to JSR means replacing the specifiers
// below with `jsr:@std/cli@^1`, `jsr:@std/streams@^1` and `jsr:@std/assert@^1` and deleting
// the hand-written types.
//
// Specifiers are full (`npm:...`) rather than import-map names because a module run from a URL
// does not see deno.json's import map. The assertions are for the tests; they cost a running
// program nothing, since the whole `deno-std` package arrives in one download either way.

import * as cli from "npm:deno-std@1.4.0/cli/parse_args.js";
import * as streams from "npm:deno-std@1.4.0/streams/text_line_stream.js";
import * as secrets from "npm:deno-std@1.4.0/cli/prompt_secret.js";
import * as asserts from "npm:deno-std@1.4.0/assert/mod.js";

/** The subset of @std/cli `parseArgs` options Parley uses. */
export interface ParseArgsOptions {
  boolean?: string[];
  string?: string[];
  alias?: Record<string, string>;
  default?: Record<string, unknown>;
  negatable?: string[];
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
export { unicodeWidth } from "./unicode_width.ts";

// @std/assert, for the tests.

type Assertion<Args extends unknown[]> = (...args: Args) => void;

/** @std/assert `assert`. */
export const assert: (expr: unknown, msg?: string) => asserts expr = asserts.assert;
export const assertEquals: Assertion<[actual: unknown, expected: unknown, msg?: string]> =
  asserts.assertEquals;
export const assertNotEquals: Assertion<[actual: unknown, expected: unknown, msg?: string]> =
  asserts.assertNotEquals;
export const assertMatch: Assertion<[actual: string, expected: RegExp, msg?: string]> =
  asserts.assertMatch;
export const assertStringIncludes: Assertion<[actual: string, expected: string, msg?: string]> =
  asserts.assertStringIncludes;
export const assertLess: Assertion<[actual: number, expected: number, msg?: string]> =
  asserts.assertLess;
export const assertGreater: Assertion<[actual: number, expected: number, msg?: string]> =
  asserts.assertGreater;
export const assertRejects: (
  fn: () => PromiseLike<unknown>,
  // deno-lint-ignore no-explicit-any
  errorClass?: new (...args: any[]) => Error,
  msgIncludes?: string,
) => Promise<unknown> = asserts.assertRejects;
export const assertThrows: (
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  errorClass?: new (...args: any[]) => Error,
  msgIncludes?: string,
) => unknown = asserts.assertThrows;
