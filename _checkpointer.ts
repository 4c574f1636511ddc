// The worker that checkpoints a database's write-ahead log, started by SqliteStore (see
// startCheckpointer there): its own connection to the file copies what the server's commits
// appended to the log into the database, on this thread rather than the server's.

import { DatabaseSync } from "node:sqlite";

/** What the store tells the worker. */
export interface CheckpointerOptions {
  path: string;
  intervalMs: number;
}

/** What the worker tells the store: it is checkpointing, or it has stopped for good. */
export type CheckpointerReport = { ok: true } | { ok: false; error: string };

/** The worker's global scope, as far as it is used here. */
const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<CheckpointerOptions>) => void) | null;
  postMessage(report: CheckpointerReport): void;
  close(): void;
};

scope.onmessage = ({ data: { path, intervalMs } }) => {
  scope.onmessage = null;
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path);
    // PASSIVE: copy what no reader still needs, without waiting for or blocking the writer.
    const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
    const timer = setInterval(() => {
      try {
        checkpoint.get();
      } catch (error) {
        clearInterval(timer);
        stop(error);
      }
    }, intervalMs);
    scope.postMessage({ ok: true });
  } catch (error) {
    stop(error);
  }

  function stop(error: unknown): void {
    if (db?.isOpen) db.close();
    scope.postMessage({ ok: false, error: String(error) });
    scope.close();
  }
};
