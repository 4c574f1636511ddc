// The main thread's side of the worker that looks after a database file (checkpoint_worker.ts):
// it starts the worker, waits a bounded time for its check of the file, and hands SQLite's
// checkpoints to it while it runs, taking them back while it cannot.

import type { DatabaseSync } from "node:sqlite";
import {
  CHECK_BUFFER_BYTES,
  CHECK_STATE,
  type CheckpointerCommand,
  type CheckpointerReport,
} from "./checkpoint_messages.ts";
import { damaged } from "./database_file.ts";
import type { Logger } from "./log.ts";

/** How long closing waits for the checkpointer to close its connection. */
const CHECKPOINTER_STOP_MS = 5000;

/** The longest wait between the checkpointer's tries while they fail. */
const CHECKPOINTER_MAX_RETRY_MS = 5000;

/**
 * Checks the database file at start, then moves WAL checkpoints off the event loop. By default
 * SQLite checkpoints inside the commit that takes the write-ahead log past 1,000 pages: it
 * copies them into the database and syncs both files, holding the server for several
 * milliseconds every few thousand messages. A worker (checkpoint_worker.ts) with its own
 * connection checkpoints instead, every second (every 100 ms while the log fills fast), without
 * blocking the writer, and truncates the log once it passes half its bound. While it runs,
 * the server's commits checkpoint only if the log reaches its bound anyway; while it does not
 * (starting, or failing, say on a full disk) they checkpoint every 1,000 pages, as SQLite does
 * by default; the worker keeps trying, and its checkpoints take over again once it succeeds.
 */
export class Checkpointer {
  #worker = new Worker(new URL("./checkpoint_worker.ts", import.meta.url), { type: "module" });
  #ended = Promise.withResolvers<void>();
  #running = true;
  #check: SharedArrayBuffer | undefined;
  /** Whether the check's answer was taken at start; if not, it is logged when it comes. */
  #checkTaken = false;
  /** Whether the worker's last report was a failure. */
  #failing = false;
  #start: () => void;

  constructor(
    db: DatabaseSync,
    path: string,
    log: Logger,
    options: { intervalMs: number; walLimitBytes: number; check: boolean },
  ) {
    const autocheckpoint = (pages: number) => {
      if (db.isOpen) db.exec(`PRAGMA wal_autocheckpoint = ${pages}`);
    };
    const { page_size: pageSize } = db.prepare("PRAGMA page_size").get() as { page_size: number };
    // While the worker runs, the server's commits checkpoint only past the log's bound: a
    // backstop, should writes outrun the worker.
    const backstop = Math.ceil(options.walLimitBytes / pageSize);
    this.#worker.onmessage = ({ data: report }: MessageEvent<CheckpointerReport>) => {
      switch (report.state) {
        case "checked":
          if (!this.#checkTaken) this.#lateCheck(path, report.problems, report.ms, log);
          return;
        case "stopped":
          return this.#end();
        case "failed":
          autocheckpoint(1000);
          this.#failing = true;
          return log(
            "warn",
            `checkpointing database ${path} in the background failed (${report.error}); SQLite checkpoints in its commits meanwhile, and the worker tries again`,
          );
        case "running":
          autocheckpoint(backstop);
          if (this.#failing) {
            log("info", `checkpointing database ${path} in the background works again`);
          } else {
            // Tests and operators look for this line as it is.
            log("debug", "checkpointing the database in the background");
          }
          this.#failing = false;
      }
    };
    // The worker's module could not be loaded: nothing will come of it.
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#end();
      autocheckpoint(1000);
      log(
        "warn",
        `the background worker for database ${path} did not start (${event.message}); SQLite checkpoints in its commits instead`,
      );
    };
    if (options.check) {
      this.#check = new SharedArrayBuffer(CHECK_BUFFER_BYTES);
      this.#command({ type: "check", path, buffer: this.#check });
    }
    this.#start = () =>
      this.#command({
        type: "start",
        path,
        intervalMs: options.intervalMs,
        maxRetryMs: Math.max(options.intervalMs, CHECKPOINTER_MAX_RETRY_MS),
        walLimitBytes: options.walLimitBytes,
      });
  }

  /** Starts checkpointing: after the check, once the store knows it will open. Should the
   * check still be running, the worker starts once it is done. */
  start(): void {
    this.#start();
  }

  /**
   * Blocks until the worker has checked the file, for at most `ms`: the problems it found
   * (none if the file is sound), or `undefined` if it has not finished in time. The thread
   * sleeps meanwhile (`Atomics.wait`), as a synchronous check would make it, but no longer.
   */
  awaitCheck(ms: number): string[] | undefined {
    if (this.#check === undefined) return [];
    const state = new Int32Array(this.#check, 0, 2);
    const deadline = performance.now() + ms;
    for (let now = Atomics.load(state, 0); now !== CHECK_STATE.done; now = Atomics.load(state, 0)) {
      const left = deadline - performance.now();
      if (left <= 0) return undefined;
      Atomics.wait(state, 0, now, left);
    }
    this.#checkTaken = true;
    // A copy: TextDecoder does not read shared memory.
    const answer = new Uint8Array(this.#check, 8, Atomics.load(state, 1)).slice();
    return JSON.parse(new TextDecoder().decode(answer));
  }

  /** Stops checkpointing; resolves once the worker has closed its connection (or, if it does
   * not answer in time, has been ended). */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#command({ type: "stop" });
    const timeout = setTimeout(() => this.#end(), CHECKPOINTER_STOP_MS);
    await this.#ended.promise;
    clearTimeout(timeout);
  }

  #command(command: CheckpointerCommand): void {
    this.#worker.postMessage(command);
  }

  /** Ends the worker at once, when the store is not opened after all. */
  abort(): void {
    if (this.#running) this.#end();
  }

  #lateCheck(path: string, problems: string[], ms: number, log: Logger): void {
    const seconds = (ms / 1000).toFixed(1);
    if (problems.length === 0) {
      log("info", `the check of database ${path} found it sound, in ${seconds} s`);
    } else {
      log(
        "error",
        `${
          damaged(path, `quick_check, finished after start: ${problems.join("; ")}`)
        }; stop the server to do so`,
      );
    }
  }

  #end(): void {
    this.#running = false;
    this.#worker.terminate();
    this.#ended.resolve();
  }
}
