// The worker that checkpoints a database's write-ahead log, started by SqliteStore (see
// Checkpointer there): its own connection to the file copies what the server's commits
// appended to the log into the database, on this thread rather than the server's.

import { DatabaseSync } from "node:sqlite";

/** What the store tells the worker: start once, then stop. */
export type CheckpointerCommand =
  | { type: "start"; path: string; intervalMs: number }
  | { type: "stop" };

/** What the worker tells the store: it is checkpointing, or it has closed its connection and
 * ended, asked to or not. */
export type CheckpointerReport =
  | { state: "running" }
  | { state: "stopped" }
  | { state: "failed"; error: string };

/** The worker's global scope, as far as it is used here. */
const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<CheckpointerCommand>) => void) | null;
  postMessage(report: CheckpointerReport): void;
  close(): void;
};

let db: DatabaseSync | undefined;
let timer: ReturnType<typeof setInterval> | undefined;

scope.onmessage = ({ data: command }) => {
  if (command.type === "stop") return end({ state: "stopped" });
  try {
    db = new DatabaseSync(command.path);
    // PASSIVE: copy what no reader still needs, without waiting for or blocking the writer.
    const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
    timer = setInterval(() => {
      try {
        checkpoint.get();
      } catch (error) {
        end({ state: "failed", error: String(error) });
      }
    }, command.intervalMs);
    scope.postMessage({ state: "running" });
  } catch (error) {
    end({ state: "failed", error: String(error) });
  }
};

function end(report: CheckpointerReport): void {
  clearInterval(timer);
  if (db?.isOpen) db.close();
  scope.postMessage(report);
  scope.close();
}
