// The store on SQLite, by Deno's built-in node:sqlite. When the store opens a database file, it
// locks it for this server alone (database_file.ts), has it checked (checkpointing.ts) and brings
// it up to date (migrations.ts, rekey.ts); while it runs, its size is held under a bound
// (size_bound.ts) and its write-ahead log is checkpointed by a worker.

import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { PasswordHash } from "./auth.ts";
import { Checkpointer } from "./checkpointing.ts";
import { damaged, lockDatabase, openError, refuseNonFile } from "./database_file.ts";
import type { Logger } from "./log.ts";
import { migrate } from "./migrations.ts";
import { rekey } from "./rekey.ts";
import { DEFAULT_MAX_DB_BYTES, MIN_MAX_DB_BYTES, SizeBound, walLimitBytes } from "./size_bound.ts";
import {
  type Ban,
  type HistoryPage,
  type RetentionPolicy,
  type RoomMessage,
  type Store,
  type StoredTopic,
  StoreError,
  StoreOpenError,
} from "./store.ts";
import { transaction } from "./transaction.ts";
import { errorMessage } from "../_protocol/error_message.ts";
import type { StoredMessage } from "../protocol.ts";

/** How often a store logs failures of one cause: the first at once, then one line per interval
 * with the count of those in between. */
export const FAILURE_LOG_INTERVAL_MS = 10_000;

/** How to run a {@linkcode SqliteStore}. */
export interface SqliteStoreOptions {
  /** Hears of trouble, and of what the store drops on its own. */
  log?: Logger;
  /**
   * The bound of the database's size in bytes (its pages in use; the write-ahead log is bounded
   * apart): past it, the oldest messages are pruned as new ones arrive. 0 for no bound.
   * @default {1073741824}
   */
  maxBytes?: number;
  /** What to keep: `messagesPerRoom` is enforced as messages are stored; `days` only by
   * {@linkcode Store.prune}. */
  retention?: RetentionPolicy;
  /**
   * How long opening a database file waits for its check (`PRAGMA quick_check`) before going on
   * without the answer; the check then finishes in the background and logs what it finds.
   * @default {10000}
   */
  checkWaitMs?: number;
  /**
   * How often the background worker checkpoints the write-ahead log.
   * @default {1000}
   */
  checkpointIntervalMs?: number;
}

interface MessageRow {
  id: number;
  sender: string;
  text: string;
  ts: string;
  action: number;
}

/** A {@linkcode Store} in an SQLite database file, or in memory for `":memory:"`. */
export class SqliteStore implements Store {
  #path: string;
  #db: DatabaseSync;
  #log: Logger;
  /** The open lock file that keeps other servers out, for a database file. */
  #lock: Deno.FsFile | undefined;
  #insert: StatementSync;
  #newest: StatementSync;
  #before: StatementSync;
  #topic: StatementSync;
  #account: StatementSync;
  #activeBan: StatementSync;
  /** Drops a room's messages past the newest N, when retention keeps N per room. */
  #trim: StatementSync | undefined;
  #messagesPerRoom: number | undefined;
  #checkpointer: Checkpointer | undefined;
  #bound: SizeBound;
  /** Failures by cause: when one was last logged, and how many came since. */
  #failures = new Map<string, { loggedAt: number; unlogged: number }>();
  /** Writes failed since the last one that worked. */
  #failedWrites = 0;
  #recoveryLoggedAt = -Infinity;

  /**
   * Opens (creating if need be) the database at `path`, or in memory for `":memory:"`. A file
   * is first locked for this store alone (in `PATH-lock`) and checked (`PRAGMA quick_check`,
   * waiting at most `checkWaitMs` for the answer); then the database is migrated to the current
   * schema, its names re-keyed if they were folded by another version of
   * name folding (rekey.ts), and pruned to its size bound.
   *
   * @param path The database file, or `":memory:"`.
   * @param options The bound, the retention and the logger; a logger alone also does.
   * @throws {StoreOpenError} If the database cannot be used: another server holds it, it is
   * damaged or not a database, it is newer than this Parley, or it cannot be opened.
   * @throws {RangeError} If `maxBytes` is neither 0 nor at least {@linkcode MIN_MAX_DB_BYTES}.
   */
  constructor(path: string, options: SqliteStoreOptions | Logger = {}) {
    const {
      log = () => {},
      maxBytes = DEFAULT_MAX_DB_BYTES,
      retention = {},
      checkWaitMs = 10_000,
      checkpointIntervalMs = 1000,
    } = typeof options === "function" ? { log: options } : options;
    if (!(maxBytes === 0 || maxBytes >= MIN_MAX_DB_BYTES)) {
      throw new RangeError(
        `The database's size bound must be 0 (none) or at least ${MIN_MAX_DB_BYTES} bytes: got "${maxBytes}"`,
      );
    }
    this.#path = path;
    this.#log = log;
    const inFile = path !== ":memory:";
    let db: DatabaseSync | undefined;
    try {
      if (inFile) {
        refuseNonFile(path);
        this.#lock = lockDatabase(path);
      }
      db = new DatabaseSync(path);
      // WAL: readers never wait for the writer. NORMAL: a commit survives the process dying
      // (kill -9) at any moment; only a power loss can take the last commits back. The busy
      // timeout lets a write wait while the checkpointer truncates the log (see Checkpointer).
      const walLimit = walLimitBytes(maxBytes);
      db.exec(
        `PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;
         PRAGMA journal_size_limit = ${walLimit};`,
      );
      // Reads the schema: a file that is no database, or whose first pages are damaged, fails
      // here.
      db.prepare("SELECT count(*) FROM sqlite_schema").get();
      if (inFile) {
        this.#checkpointer = new Checkpointer(db, path, log, {
          intervalMs: checkpointIntervalMs,
          walLimitBytes: walLimit,
          check: true,
        });
        const problems = this.#checkpointer.awaitCheck(checkWaitMs);
        if (problems === undefined) {
          log(
            "warn",
            `the check of database ${path} takes longer than ${checkWaitMs} ms; the server starts, and the check goes on in the background`,
          );
        } else if (problems.length > 0) {
          throw new StoreOpenError(path, damaged(path, `quick_check: ${problems.join("; ")}`));
        }
      }
      migrate(db);
      rekey(db, log);
      this.#checkpointer?.start();
      this.#db = db;
      this.#bound = new SizeBound(db, maxBytes === 0 ? Infinity : maxBytes);
      // A database over a bound that was lowered since it was written.
      this.#holdBound();
    } catch (error) {
      this.#checkpointer?.abort();
      if (db?.isOpen) db.close();
      this.#lock?.close();
      throw openError(path, error);
    }
    this.#insert = this.#db.prepare(
      "INSERT INTO messages (id, room, sender, text, ts, action) VALUES (?, ?, ?, ?, ?, ?)",
    );
    const columns = "SELECT id, sender, text, ts, action FROM messages";
    this.#newest = this.#db.prepare(`${columns} WHERE room = ? ORDER BY id DESC LIMIT ?`);
    this.#before = this.#db.prepare(
      `${columns} WHERE room = ? AND id < ? ORDER BY id DESC LIMIT ?`,
    );
    // Asked on every join, hello and room made: prepared once.
    this.#topic = this.#db.prepare("SELECT topic, by, ts FROM topics WHERE room = ?");
    this.#account = this.#db.prepare("SELECT salt, hash, iterations FROM accounts WHERE key = ?");
    this.#activeBan = this.#db.prepare(
      "SELECT until, by, reason FROM bans WHERE kind = ? AND value = ? AND (until IS NULL OR until > ?)",
    );
    if (retention.messagesPerRoom !== undefined) {
      this.#messagesPerRoom = retention.messagesPerRoom;
      this.#trim = this.#db.prepare(TRIM_ROOM);
    }
  }

  lastMessageId(): number {
    return this.#read("read the last message id", () => {
      const row = this.#db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'messages'")
        .get() as { seq: number } | undefined;
      return row?.seq ?? 0;
    });
  }

  append(messages: readonly RoomMessage[]): void {
    this.#write(`store ${messages.length} message(s)`, () =>
      transaction(this.#db, () => {
        for (const message of messages) {
          this.#insert.run(
            message.id,
            message.room,
            message.from,
            message.text,
            message.ts,
            message.action ? 1 : 0,
          );
        }
        // Retention per room holds at every insert, not only when pruning comes round.
        if (this.#trim !== undefined) {
          for (const room of new Set(messages.map((message) => message.room))) {
            this.#trim.run(room, this.#messagesPerRoom!);
          }
        }
      }));
    if (this.#bound.added(messages)) this.#holdBound();
  }

  history(room: string, limit: number, before?: number): HistoryPage {
    return this.#read(`read the history of room "${room}"`, () => {
      // One more than asked for says whether more remain.
      const rows = (before === undefined
        ? this.#newest.all(room, limit + 1)
        : this.#before.all(room, before, limit + 1)) as unknown as MessageRow[];
      const more = rows.length > limit;
      const messages = rows.slice(0, limit).reverse().map((row) => {
        const message: StoredMessage = {
          id: row.id,
          from: row.sender,
          text: row.text,
          ts: row.ts,
        };
        if (row.action) {
          message.action = true;
        }
        return message;
      });
      return { messages, more };
    });
  }

  topic(room: string): StoredTopic | undefined {
    return this.#read(`read the topic of room "${room}"`, () => {
      const row = this.#topic.get(room) as
        | { topic: string; by: string | null; ts: string | null }
        | undefined;
      if (row === undefined) return undefined;
      // A setter without a time (or the reverse) is never written; both are kept or neither.
      return row.by === null || row.ts === null
        ? { topic: row.topic }
        : { topic: row.topic, by: row.by, ts: row.ts };
    });
  }

  setTopic(room: string, topic: string, by?: string, ts?: string): void {
    this.#write(`set the topic of room "${room}"`, () => {
      if (topic === "") {
        this.#db.prepare("DELETE FROM topics WHERE room = ?").run(room);
      } else {
        this.#db.prepare("INSERT OR REPLACE INTO topics (room, topic, by, ts) VALUES (?, ?, ?, ?)")
          .run(room, topic, ...(by !== undefined && ts !== undefined ? [by, ts] : [null, null]));
      }
    });
  }

  account(key: string): PasswordHash | undefined {
    return this.#read(`read the account "${key}"`, () => {
      const row = this.#account.get(key) as
        | { salt: Uint8Array; hash: Uint8Array; iterations: number }
        | undefined;
      return row && { salt: row.salt, hash: row.hash, iterations: row.iterations };
    });
  }

  setAccount(key: string, name: string, password: PasswordHash): void {
    this.#write(`store the account "${name}"`, () => {
      this.#db.prepare(
        `INSERT OR REPLACE INTO accounts (key, name, salt, hash, iterations, created)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ).run(
        key,
        name,
        password.salt,
        password.hash,
        password.iterations,
        new Date().toISOString(),
      );
    });
  }

  ban(ban: Ban): void {
    this.#write(`store a ban of "${ban.value}"`, () => {
      this.#db.prepare(
        "INSERT OR REPLACE INTO bans (kind, value, until, by, reason) VALUES (?, ?, ?, ?, ?)",
      ).run(ban.kind, ban.value, ban.until ?? null, ban.by, ban.reason);
    });
  }

  unban(kind: Ban["kind"], value: string): boolean {
    return this.#write(`lift the ban of "${value}"`, () => {
      const result = this.#db.prepare("DELETE FROM bans WHERE kind = ? AND value = ?").run(
        kind,
        value,
      );
      return Number(result.changes) > 0;
    });
  }

  activeBan(kind: Ban["kind"], value: string, now: Date): Ban | undefined {
    return this.#read(`read the bans of "${value}"`, () => {
      const row = this.#activeBan.get(kind, value, now.toISOString()) as
        | { until: string | null; by: string; reason: string }
        | undefined;
      if (row === undefined) return undefined;
      const ban: Ban = { kind, value, by: row.by, reason: row.reason };
      if (row.until !== null) ban.until = row.until;
      return ban;
    });
  }

  bans(kind: Ban["kind"]): Ban[] {
    return this.#read(`read the ${kind} bans`, () => {
      const rows = this.#db.prepare("SELECT value, until, by, reason FROM bans WHERE kind = ?")
        .all(kind) as { value: string; until: string | null; by: string; reason: string }[];
      return rows.map((row) => {
        const ban: Ban = { kind, value: row.value, by: row.by, reason: row.reason };
        if (row.until !== null) ban.until = row.until;
        return ban;
      });
    });
  }

  prune(policy: RetentionPolicy): number {
    return this.#write("prune old history", () => {
      let removed = 0;
      transaction(this.#db, () => {
        if (policy.days !== undefined) {
          const cutoff = new Date(Date.now() - policy.days * 86_400_000).toISOString();
          removed += Number(
            this.#db.prepare("DELETE FROM messages WHERE ts < ?").run(cutoff).changes,
          );
        }
        if (policy.messagesPerRoom !== undefined) {
          const rooms = this.#db.prepare("SELECT DISTINCT room FROM messages").all() as {
            room: string;
          }[];
          const trim = this.#db.prepare(TRIM_ROOM);
          for (const { room } of rooms) {
            removed += Number(trim.run(room, policy.messagesPerRoom).changes);
          }
        }
      });
      return removed;
    });
  }

  async close(): Promise<void> {
    // The checkpointer's connection first: closing the last one checkpoints what is left.
    await this.#checkpointer?.stop();
    this.#db.close();
    // Last, so that no other server opens the file before this one has let go of it.
    this.#lock?.close();
  }

  /** Prunes the oldest messages if the database has passed its size bound. Never throws: a
   * failure is logged, and the next check tries again. */
  #holdBound(): void {
    try {
      const { removed, stuck } = this.#bound.hold();
      if (removed > 0) this.#bound.report(removed, this.#log);
      if (stuck) {
        this.#log(
          "warn",
          `database ${this.#path} is over its size bound (${this.#bound.maxBytes} bytes) with no message left to prune: accounts, bans and topics fill it; raise --max-db-bytes`,
        );
      }
    } catch (error) {
      this.#failed("prune the oldest messages to the size bound", error, true);
    }
  }

  /** Runs a read: a failure becomes a logged {@linkcode StoreError}. */
  #read<T>(what: string, work: () => T): T {
    try {
      return work();
    } catch (error) {
      throw this.#failed(what, error, false);
    }
  }

  /** Runs a write: a failure becomes a logged {@linkcode StoreError}, and the first write that
   * works after failures says so. */
  #write<T>(what: string, work: () => T): T {
    let result: T;
    try {
      result = work();
    } catch (error) {
      throw this.#failed(what, error, true);
    }
    if (this.#failedWrites > 0) this.#recovered();
    return result;
  }

  /** Logs a failure, the first of its cause at once and then at most one line per
   * {@linkcode FAILURE_LOG_INTERVAL_MS} with a count; returns the error to throw. */
  #failed(what: string, error: unknown, writing: boolean): StoreError {
    const cause = errorMessage(error);
    if (writing) this.#failedWrites++;
    const now = performance.now();
    const seen = this.#failures.get(cause);
    if (seen !== undefined && now - seen.loggedAt < FAILURE_LOG_INTERVAL_MS) {
      seen.unlogged++;
    } else {
      const since = seen === undefined || seen.unlogged === 0
        ? ""
        : ` (and ${seen.unlogged} more time(s) since this was last logged, ${
          Math.round((now - seen.loggedAt) / 1000)
        } s ago)`;
      this.#log("error", `cannot ${what} in database ${this.#path}: ${cause}${since}`);
      // Bounded: causes seen long ago are forgotten first.
      if (this.#failures.size >= 64) this.#failures.delete(this.#failures.keys().next().value!);
      this.#failures.delete(cause);
      this.#failures.set(cause, { loggedAt: now, unlogged: 0 });
    }
    return new StoreError(`Cannot ${what}: ${cause}`, { cause: error });
  }

  #recovered(): void {
    const now = performance.now();
    // A disk on the edge of full fails and works in turns: one line per interval at most.
    if (now - this.#recoveryLoggedAt >= FAILURE_LOG_INTERVAL_MS) {
      this.#log(
        "info",
        `database ${this.#path} takes writes again, after ${this.#failedWrites} failed write(s)`,
      );
      this.#recoveryLoggedAt = now;
    }
    this.#failedWrites = 0;
  }
}

/** Keeps a room's newest ?2 messages, dropping the older ones. */
const TRIM_ROOM = `DELETE FROM messages WHERE room = ?1 AND id <= (
  SELECT id FROM messages WHERE room = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)`;
