// The worker that looks after a database file off the server's thread, started by the store's
// Checkpointer (checkpointing.ts), with its own connection to the file. At start it checks the
// file (`PRAGMA quick_check`) while the store waits for the answer, for a bounded time, on a
// shared buffer. Then it checkpoints: it copies what the server's commits appended to the
// write-ahead log into the database, and keeps the log from growing without bound. When that
// fails (a full disk, say) it reports so once and keeps trying, less and less often, until it
// works again.

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { errorMessage } from "../_protocol/error_message.ts";
import {
  CHECK_BUFFER_BYTES,
  CHECK_STATE,
  type CheckpointerCommand,
  type CheckpointerReport,
} from "./checkpoint_messages.ts";

/** How often to checkpoint while the log fills fast. */
const BUSY_INTERVAL_MS = 100;

/** The most problems the check lists: past the first few, more say nothing new. */
const MAX_PROBLEMS = 10;

/** The worker's global scope, as far as it is used here. */
const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<CheckpointerCommand>) => void) | null;
  postMessage(report: CheckpointerReport): void;
  close(): void;
};

let db: DatabaseSync | undefined;
let passive: StatementSync | undefined;
let truncate: StatementSync | undefined;
let walLimitPages = Infinity;
let timer: ReturnType<typeof setTimeout> | undefined;
/** Whether the last try failed; reports go out only when this changes. */
let failing = false;

scope.onmessage = ({ data: command }) => {
  if (command.type === "stop") return end();
  if (command.type === "check") return check(command.path, command.buffer);
  let delay = command.intervalMs;
  const tick = () => {
    try {
      const busy = checkpoint(command.path, command.walLimitBytes);
      if (failing) scope.postMessage({ state: "running" });
      failing = false;
      // A log filling fast is looked at again soon, before it reaches its bound.
      delay = busy ? Math.min(command.intervalMs, BUSY_INTERVAL_MS) : command.intervalMs;
    } catch (error) {
      // A fresh connection for the next try: this one may be in any state.
      close();
      if (!failing) scope.postMessage({ state: "failed", error: errorMessage(error) });
      failing = true;
      delay = Math.min(delay * 2, command.maxRetryMs);
    }
    timer = setTimeout(tick, delay);
  };
  try {
    open(command.path, command.walLimitBytes);
    scope.postMessage({ state: "running" });
  } catch (error) {
    close();
    failing = true;
    scope.postMessage({ state: "failed", error: errorMessage(error) });
  }
  timer = setTimeout(tick, delay);
};

/** Runs `PRAGMA quick_check` on its own connection and writes the answer to `buffer`. */
function check(path: string, buffer: SharedArrayBuffer): void {
  const state = new Int32Array(buffer, 0, 2);
  Atomics.store(state, 0, CHECK_STATE.checking);
  Atomics.notify(state, 0);
  const started = performance.now();
  let problems: string[];
  try {
    const reader = new DatabaseSync(path, { readOnly: true });
    try {
      const rows = reader.prepare(`PRAGMA quick_check(${MAX_PROBLEMS})`).all() as {
        quick_check: string;
      }[];
      problems = rows.map((row) => row.quick_check).filter((text) => text !== "ok");
    } finally {
      reader.close();
    }
  } catch (error) {
    problems = [errorMessage(error)];
  }
  const bytes = new TextEncoder().encode(JSON.stringify(problems));
  const room = CHECK_BUFFER_BYTES - 8;
  // Cut short, the answer still decodes: it is then a list of one string, the start of it.
  const answer = bytes.length <= room
    ? bytes
    : new TextEncoder().encode(JSON.stringify([problems.join("; ").slice(0, room / 4)]));
  new Uint8Array(buffer, 8).set(answer);
  Atomics.store(state, 1, answer.length);
  Atomics.store(state, 0, CHECK_STATE.done);
  Atomics.notify(state, 0);
  scope.postMessage({ state: "checked", problems, ms: performance.now() - started });
}

function open(path: string, walLimitBytes: number): void {
  db = new DatabaseSync(path);
  // TRUNCATE waits for the writer's transaction to end; the server's are short.
  db.exec("PRAGMA busy_timeout = 1000");
  const { page_size: pageSize } = db.prepare("PRAGMA page_size").get() as { page_size: number };
  walLimitPages = Math.max(1, Math.floor(walLimitBytes / pageSize));
  // PASSIVE: copy what no reader still needs, without waiting for or blocking the writer.
  passive = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
  truncate = db.prepare("PRAGMA wal_checkpoint(TRUNCATE)");
}

/**
 * One round: a passive checkpoint, then, if the log has passed half its bound, a truncating
 * one. Returns whether the log is filling fast (past an eighth of its bound).
 */
function checkpoint(path: string, walLimitBytes: number): boolean {
  if (db === undefined) open(path, walLimitBytes);
  const result = passive!.get() as { busy: number; log: number; checkpointed: number };
  // A writer that never pauses keeps a passive checkpoint from ever catching up, so the log is
  // never restarted and grows for good. TRUNCATE holds the writer off while it copies what is
  // left (little: the passive one has just run) and empties the file.
  if (result.log > walLimitPages / 2) truncate!.get();
  return result.log > walLimitPages / 8;
}

function close(): void {
  if (db?.isOpen) db.close();
  db = passive = truncate = undefined;
}

function end(): void {
  clearTimeout(timer);
  close();
  scope.postMessage({ state: "stopped" });
  scope.close();
}
