// Telling a peer's goodbye from a bug: the errors a socket raises when the other side goes away
// or the connection is closed under a pending read or write.

/**
 * Whether `error` is how a socket reports a connection that ended: reset, broken, aborted,
 * cut short, or closed locally while an operation was pending. Anything else is a bug to log.
 */
export function isDisconnect(error: unknown): boolean {
  return error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.TimedOut;
}

/** Closes a resource that may be closed already. */
export function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch (error) {
    if (!(error instanceof Deno.errors.BadResource)) throw error;
  }
}
