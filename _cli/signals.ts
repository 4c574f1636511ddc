// Termination signals, for the commands that run until stopped.

/** Calls `handler` on SIGINT and SIGTERM until the returned function is called. */
export function onTerminationSignals(handler: () => void): () => void {
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : [
    "SIGINT",
    "SIGTERM",
  ];
  for (const signal of signals) Deno.addSignalListener(signal, handler);
  return () => {
    for (const signal of signals) Deno.removeSignalListener(signal, handler);
  };
}
