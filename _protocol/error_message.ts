// The one place that turns a caught value into text: `catch` may be handed anything, not only
// an Error, so a message is read where there is one and the value shown where there is not.

/**
 * The message of `error` if it is an `Error`, else `error` as a string.
 *
 * @param error What was thrown.
 * @returns Text to show or log.
 */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
