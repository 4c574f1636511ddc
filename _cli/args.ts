// Reading command-line options: unknown options and bad values become one-line usage errors.

import { errorMessage } from "../_protocol/error_message.ts";
import { parseArgs, type ParseArgsOptions, type ParsedArgs } from "./std.ts";

/** Exit code: done. */
export const EXIT_OK = 0;
/** Exit code: failed (cannot connect, lost the connection). */
export const EXIT_FAILURE = 1;
/** Exit code: the command line is wrong. */
export const EXIT_USAGE = 2;

/** A mistake on the command line: reported in one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** parseArgs that turns unknown options into a {@linkcode UsageError} naming the command. */
export function parseCommandArgs(
  command: string,
  args: string[],
  options: ParseArgsOptions,
): ParsedArgs {
  return parseArgs(args, {
    ...options,
    unknown(arg) {
      if (!arg.startsWith("-")) return true;
      throw new UsageError(`${command}: unknown option "${arg}" (see parley ${command} --help)`);
    },
  });
}

/** The value of a string option, or undefined; a repeated option counts once, the last. */
export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args[name];
  if (Array.isArray(value)) return value.at(-1);
  return value === undefined ? undefined : String(value);
}

/** A whole-number option of at least `min`, or undefined. */
export function integerOption(
  command: string,
  args: ParsedArgs,
  name: string,
  min: number,
): number | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= min) || !Number.isSafeInteger(value)) {
    throw new UsageError(
      `${command}: --${name} takes a whole number of at least ${min}, not "${text}"`,
    );
  }
  return value;
}

/** A duration option in seconds (decimals allowed), returned in milliseconds; 0 only if
 * `zeroAllowed`. */
export function secondsOption(
  command: string,
  args: ParsedArgs,
  name: string,
  zeroAllowed: boolean,
): number | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  const value = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(value > 0 || (zeroAllowed && value === 0))) {
    throw new UsageError(
      `${command}: --${name} takes a number of seconds${
        zeroAllowed ? "" : " above 0"
      }, not "${text}"`,
    );
  }
  return Math.round(value * 1000);
}

/**
 * A secret: the first line of `file` if given, else the `PARLEY_PASSWORD` environment variable
 * (never a bare option value, which other users can see in the process list).
 *
 * @throws {UsageError} If the file cannot be read or its first line is empty.
 */
export async function secretOption(
  file: string | undefined,
  variable = "PARLEY_PASSWORD",
): Promise<string | undefined> {
  if (file === undefined) return Deno.env.get(variable) || undefined;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    throw new UsageError(`cannot read password file "${file}": ${errorMessage(error)}`);
  }
  const secret = text.split(/\r?\n/)[0]!;
  if (secret === "") throw new UsageError(`password file "${file}" has an empty first line`);
  return secret;
}
