// The bound of a database's size: its default and least values, the bound of the write-ahead
// log that follows from it, and how the store holds the database under it by pruning the
// oldest messages in steps.

import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { Logger } from "./log.ts";
import type { RoomMessage } from "./store.ts";
import { transaction } from "./transaction.ts";

/** The bound of a database's size when none is given: 1 GiB. */
export const DEFAULT_MAX_DB_BYTES = 1024 ** 3;

/** The smallest size bound a store takes (other than 0, no bound). */
export const MIN_MAX_DB_BYTES = 1024 * 1024;

/**
 * How big the write-ahead log may grow before the checkpointer truncates it: a sixteenth of
 * the database's bound, between 1 and 64 MiB.
 */
export function walLimitBytes(maxBytes: number): number {
  const mib = 1024 * 1024;
  return maxBytes === 0 ? 64 * mib : Math.min(64 * mib, Math.max(mib, Math.floor(maxBytes / 16)));
}

/**
 * The database's size bound. It counts the pages in use (`page_count - freelist_count`, the
 * database as the server's connection sees it, write-ahead log included), not the file, which
 * never shrinks: pages freed by pruning are reused. Asking costs two reads of the database
 * header, so it is asked only once every {@linkcode #checkEvery} bytes of messages stored
 * (estimated from their text). When the bound is passed, the oldest messages go, in one
 * transaction, until the pages in use are some way under it, so that pruning comes in steps
 * rather than at every append.
 */
export class SizeBound {
  #usage: StatementSync;
  #span: StatementSync;
  #dropBefore: StatementSync;
  #pageSize: number;
  /** Bytes of messages stored since the last look. */
  #since = 0;
  #checkEvery: number;
  /** Where pruning stops: under the bound by one step. */
  #target: number;
  /** What was pruned since it was last logged, and when that was. */
  #unreported = 0;
  #reportedAt = -Infinity;

  constructor(readonly db: DatabaseSync, readonly maxBytes: number) {
    this.#usage = db.prepare(
      "SELECT page_count - freelist_count AS pages FROM pragma_page_count(), pragma_freelist_count()",
    );
    this.#span = db.prepare("SELECT min(id) AS first, max(id) AS last FROM messages");
    this.#dropBefore = db.prepare("DELETE FROM messages WHERE id < ?");
    this.#pageSize = (db.prepare("PRAGMA page_size").get() as { page_size: number }).page_size;
    this.#checkEvery = Math.min(256 * 1024, maxBytes / 256);
    this.#target = maxBytes - Math.max(2 * this.#checkEvery, maxBytes / 64);
  }

  /** The bytes of the database's pages in use. */
  get usedBytes(): number {
    return (this.#usage.get() as { pages: number }).pages * this.#pageSize;
  }

  /** Counts `messages` in; returns whether it is time to look at the size. */
  added(messages: readonly RoomMessage[]): boolean {
    if (this.maxBytes === Infinity) return false;
    // Text, names, the room twice (row and index), the time and the row's overhead.
    for (const message of messages) {
      this.#since += message.text.length + message.from.length + 2 * message.room.length + 64;
    }
    return this.#since >= this.#checkEvery;
  }

  /** Prunes the oldest messages if the bound is passed: how many went, and whether the bound
   * is still passed with no message left. */
  hold(): { removed: number; stuck: boolean } {
    this.#since = 0;
    let used = this.usedBytes;
    if (used <= this.maxBytes) return { removed: 0, stuck: false };
    let removed = 0;
    let stuck = false;
    transaction(this.db, () => {
      // Ids grow with time, so the oldest share of the messages is the lowest share of ids;
      // a few rounds correct for gaps and for pages that do not empty in proportion.
      while (used > this.#target) {
        const { first, last } = this.#span.get() as { first: number | null; last: number | null };
        if (first === null || last === null) {
          stuck = true;
          break;
        }
        const share = (used - this.#target) / used;
        const cut = first + Math.max(16, Math.ceil((last - first + 1) * share));
        removed += Number(this.#dropBefore.run(cut).changes);
        used = this.usedBytes;
      }
    });
    return { removed, stuck };
  }

  /** Logs pruning at most once a minute, with the count since the last line. */
  report(removed: number, log: Logger): void {
    this.#unreported += removed;
    const now = performance.now();
    if (now - this.#reportedAt < 60_000) return;
    log(
      "info",
      `pruned the ${this.#unreported} oldest message(s) to keep the database under ${this.maxBytes} bytes (--max-db-bytes)`,
    );
    this.#unreported = 0;
    this.#reportedAt = now;
  }
}
