// The one place that maps Deno std's assertions onto the tests, as _cli/std.ts does for the
// program: taken from npm's `deno-std` build (JSR is out of reach where Parley is built), which
// ships JavaScript without type declarations, so every symbol is typed here. Moving to JSR means
// replacing the specifier with `jsr:@std/assert@^1` and deleting the hand-written types.

import * as asserts from "npm:deno-std@1.4.0/assert/mod.js";

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
/** @std/assert `assertRejects`: given an error class, resolves to the error, of that class. */
export const assertRejects: {
  <E extends Error>(
    fn: () => PromiseLike<unknown>,
    // deno-lint-ignore no-explicit-any
    errorClass: new (...args: any[]) => E,
    msgIncludes?: string,
  ): Promise<E>;
  (fn: () => PromiseLike<unknown>): Promise<unknown>;
} = asserts.assertRejects;
/** @std/assert `assertThrows`: given an error class, returns the error, of that class. */
export const assertThrows: {
  <E extends Error>(
    fn: () => unknown,
    // deno-lint-ignore no-explicit-any
    errorClass: new (...args: any[]) => E,
    msgIncludes?: string,
  ): E;
  (fn: () => unknown): unknown;
} = asserts.assertThrows;
