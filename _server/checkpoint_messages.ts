// What the server's thread and the checkpoint worker (checkpoint_worker.ts) say to each other:
// the commands, the reports, and the layout of the shared buffer the check answers in. A module
// of its own, so that neither side loads the other's code to know the contract.

/** What the store tells the worker: check the file (optional, first), start checkpointing
 * (once), then stop. Until it is told to start, the worker holds no connection. */
export type CheckpointerCommand =
  | {
    type: "check";
    path: string;
    /** Where to write the answer (see {@linkcode CHECK_STATE}). */
    buffer: SharedArrayBuffer;
  }
  | {
    type: "start";
    path: string;
    /** How often to checkpoint while it works. */
    intervalMs: number;
    /** The longest wait between tries while it fails. */
    maxRetryMs: number;
    /** The log's bound: past half of it, a checkpoint also empties the log file (TRUNCATE). */
    walLimitBytes: number;
  }
  | { type: "stop" };

/** What the worker tells the store: the check's answer; that it is checkpointing (at start, and
 * again after failures); that it fails (once per run of failures); that it has closed its
 * connection and ended, asked to. */
export type CheckpointerReport =
  | { state: "checked"; problems: string[]; ms: number }
  | { state: "running" }
  | { state: "failed"; error: string }
  | { state: "stopped" };

/**
 * The check's shared buffer: an Int32 state at index 0 (0 not started, 1 checking, 2 done),
 * the byte length of the answer at index 1, then the answer from byte 8: the problems
 * `PRAGMA quick_check` found as a JSON array of strings, empty if the file is sound.
 */
export const CHECK_STATE = { waiting: 0, checking: 1, done: 2 } as const;

/** The size of the check's shared buffer: an answer longer than it is cut short. */
export const CHECK_BUFFER_BYTES = 8 + 4096;
