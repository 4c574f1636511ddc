// Where rooms' history and topics are kept: the Store interface the server talks to, and its
// SQLite implementation on Deno's built-in node:sqlite. A database file is created on first
// use, checked, locked for this server alone, and brought up to date by the migrations below
// when the server starts; while it runs, its size is held under a bound by pruning the oldest
// messages.

import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { PasswordHash } from "./auth.ts";
import {
  CHECK_BUFFER_BYTES,
  CHECK_STATE,
  type CheckpointerCommand,
  type CheckpointerReport,
} from "./checkpointer.ts";
import type { Logger } from "./log.ts";
import { errorMessage } from "../_protocol/error_message.ts";
import { FOLD_VERSION, foldName, type StoredMessage } from "../protocol.ts";

/** A message of a room, as the server hands it to the store. */
export interface RoomMessage extends StoredMessage {
  /** The room's key: its folded name. */
  room: string;
}

/** A page of a room's history. */
export interface HistoryPage {
  /** Oldest first. */
  messages: StoredMessage[];
  /** Whether older messages remain. */
  more: boolean;
}

/** How much history to keep. */
export interface RetentionPolicy {
  /** Drop messages older than this many days. */
  days?: number;
  /** Keep at most this many messages per room. */
  messagesPerRoom?: number;
}

/** A ban: of a user name (by its folded form) or of an IP address. */
export interface Ban {
  kind: "name" | "ip";
  /** The folded name, or the address. */
  value: string;
  /** When it ends, ISO-8601 UTC; never, if absent. */
  until?: string;
  /** The operator who set it. */
  by: string;
  reason: string;
}

/** What the server needs of a store. Every call is synchronous and atomic. */
export interface Store {
  /** The largest message id ever stored, or 0: new ids start above it. */
  lastMessageId(): number;
  /** Stores messages, all or none, durably before returning. */
  append(messages: readonly RoomMessage[]): void;
  /** Up to `limit` messages of a room with ids below `before` (or the newest), oldest first. */
  history(room: string, limit: number, before?: number): HistoryPage;
  /** A room's topic, if it has one. */
  topic(room: string): string | undefined;
  /** Sets (or, with "", clears) a room's topic. */
  setTopic(room: string, topic: string): void;
  /** The password hash of a registered name (by its folded form), if it is registered. */
  account(key: string): PasswordHash | undefined;
  /** Registers a name, or changes its password. */
  setAccount(key: string, name: string, password: PasswordHash): void;
  /** Sets a ban, replacing one on the same name or address. */
  ban(ban: Ban): void;
  /** Lifts a ban; returns whether there was one. */
  unban(kind: Ban["kind"], value: string): boolean;
  /** The ban on a name or address that is in force at `now`, if any. */
  activeBan(kind: Ban["kind"], value: string, now: Date): Ban | undefined;
  /** Every ban of a kind, lapsed ones included. */
  bans(kind: Ban["kind"]): Ban[];
  /** Drops what the policy no longer keeps; returns how many messages went. */
  prune(policy: RetentionPolicy): number;
  /** Closes the store; resolves once its database is closed. */
  close(): Promise<void>;
}

/**
 * A store's operation failed. Its message names the real cause (`database or disk is full`,
 * `database disk image is malformed`, ...), and the store has logged it already, at most once
 * in {@linkcode FAILURE_LOG_INTERVAL_MS} for repeats of one cause: a caller answers whoever
 * asked and need not log it again.
 */
export class StoreError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreError";
  }
}

/**
 * A database cannot be used: it is damaged, is not a database, is held by another server, or
 * is newer than this Parley. The message is one line that names the file, the cause and what
 * to do, for the command line to print as it is.
 */
export class StoreOpenError extends Error {
  constructor(
    /** The database's path. */
    readonly path: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "StoreOpenError";
  }
}

/** The bound of a database's size when none is given: 1 GiB. */
export const DEFAULT_MAX_DB_BYTES = 1024 ** 3;

/** The smallest size bound a store takes (other than 0, no bound). */
export const MIN_MAX_DB_BYTES = 1024 * 1024;

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

/**
 * The schema, one migration per version: `PRAGMA user_version` says how many have been applied.
 * Append to this list; never edit a migration that has shipped.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: room messages. AUTOINCREMENT keeps ids from being reused after old messages are pruned.
  `CREATE TABLE messages (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     room TEXT NOT NULL,
     sender TEXT NOT NULL,
     text TEXT NOT NULL,
     ts TEXT NOT NULL
   );
   CREATE INDEX messages_by_room ON messages (room, id);`,
  // 2: actions (/me) and room topics.
  `ALTER TABLE messages ADD COLUMN action INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE topics (room TEXT PRIMARY KEY, topic TEXT NOT NULL) WITHOUT ROWID;`,
  // 3: registered names and bans.
  `CREATE TABLE accounts (
     key TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     salt BLOB NOT NULL,
     hash BLOB NOT NULL,
     iterations INTEGER NOT NULL,
     created TEXT NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE bans (
     kind TEXT NOT NULL,
     value TEXT NOT NULL,
     until TEXT,
     by TEXT NOT NULL,
     reason TEXT NOT NULL,
     PRIMARY KEY (kind, value)
   ) WITHOUT ROWID;`,
  // 4: facts about the database itself. fold_version: which folding of names (FOLD_VERSION in
  // protocol.ts) made the keys of rooms, accounts and name bans; 1 until this table existed.
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY NOT NULL) WITHOUT ROWID;
   INSERT INTO meta (key, value) VALUES ('fold_version', 1);`,
];

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
   * {@linkcode foldName}, and pruned to its size bound.
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
    this.#topic = this.#db.prepare("SELECT topic FROM topics WHERE room = ?");
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

  topic(room: string): string | undefined {
    return this.#read(`read the topic of room "${room}"`, () => {
      const row = this.#topic.get(room) as
        | { topic: string }
        | undefined;
      return row?.topic;
    });
  }

  setTopic(room: string, topic: string): void {
    this.#write(`set the topic of room "${room}"`, () => {
      if (topic === "") {
        this.#db.prepare("DELETE FROM topics WHERE room = ?").run(room);
      } else {
        this.#db.prepare("INSERT OR REPLACE INTO topics (room, topic) VALUES (?, ?)").run(
          room,
          topic,
        );
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

/**
 * How big the write-ahead log may grow before the checkpointer truncates it: a sixteenth of
 * the database's bound, between 1 and 64 MiB.
 */
function walLimitBytes(maxBytes: number): number {
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
class SizeBound {
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

/** How long closing waits for the checkpointer to close its connection. */
const CHECKPOINTER_STOP_MS = 5000;

/** The longest wait between the checkpointer's tries while they fail. */
const CHECKPOINTER_MAX_RETRY_MS = 5000;

/**
 * Checks the database file at start, then moves WAL checkpoints off the event loop. By default
 * SQLite checkpoints inside the commit that takes the write-ahead log past 1,000 pages: it
 * copies them into the database and syncs both files, holding the server for several
 * milliseconds every few thousand messages. A worker (`_server/checkpointer.ts`) with its own
 * connection checkpoints instead, every second (every 100 ms while the log fills fast), without
 * blocking the writer, and truncates the log once it passes half its bound. While it runs,
 * the server's commits checkpoint only if the log reaches its bound anyway; while it does not
 * (starting, or failing, say on a full disk) they checkpoint every 1,000 pages, as SQLite does
 * by default; the worker keeps trying, and its checkpoints take over again once it succeeds.
 */
class Checkpointer {
  #worker = new Worker(new URL("./checkpointer.ts", import.meta.url), { type: "module" });
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

/** Runs `work` in one transaction: all of it is committed, or none. */
function transaction(db: DatabaseSync, work: () => void): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    work();
    db.exec("COMMIT");
  } catch (error) {
    // After some errors (a full disk, I/O errors) SQLite has rolled back already: a ROLLBACK
    // then fails ("no transaction is active") and would hide the error that matters.
    if (db.isTransaction) {
      try {
        db.exec("ROLLBACK");
      } catch {
        // The first error is the one to report.
      }
    }
    throw error;
  }
}

/** A database schema newer than this Parley's. */
class NewerSchemaError extends Error {}

/** Applies the migrations `db` has not had yet, each in its own transaction. */
function migrate(db: DatabaseSync): void {
  const { user_version: version } = db.prepare("PRAGMA user_version").get() as {
    user_version: number;
  };
  if (version > MIGRATIONS.length) {
    throw new NewerSchemaError(
      `its schema is version ${version}, newer than this Parley knows (${MIGRATIONS.length})`,
    );
  }
  for (let next = version; next < MIGRATIONS.length; next++) {
    transaction(db, () => db.exec(`${MIGRATIONS[next]}; PRAGMA user_version = ${next + 1};`));
  }
}

/**
 * Re-keys the names of a database whose keys were made by another folding of names than
 * today's {@linkcode foldName} ({@linkcode FOLD_VERSION}), in one transaction: the rooms of
 * messages and topics and the values of name bans are folded again (their unfolded names are
 * not stored; folding a key folds the name it came from, for foldings that only ever merge
 * more names), and accounts get the key of the name they were registered under. Where two rows
 * come to share a key, one stays and the other is dropped, and logged: the oldest account, the
 * longer ban, the topic already under that key. Messages of two rooms that merge stay, in one
 * room.
 */
function rekey(db: DatabaseSync, log: Logger): void {
  const stored = db.prepare("SELECT value FROM meta WHERE key = 'fold_version'").get() as
    | { value: number }
    | undefined;
  if (stored?.value === FOLD_VERSION) return;
  let changed = 0;
  transaction(db, () => {
    const rooms = db.prepare("SELECT DISTINCT room FROM messages").all() as { room: string }[];
    const move = db.prepare("UPDATE messages SET room = ? WHERE room = ?");
    for (const { room } of rooms) {
      const key = foldName(room);
      if (key !== room) changed += Number(move.run(key, room).changes);
    }

    type TopicRow = { room: string; topic: string };
    const topics = db.prepare("SELECT room, topic FROM topics ORDER BY room").all() as TopicRow[];
    changed += rewrite(topics, (row) => row.room, (row) => foldName(row.room), (a, b, key) => {
      // The topic already under that key stays.
      const [kept, dropped] = b.room === key ? [b, a] : [a, b];
      log(
        "warn",
        `re-keying rooms: dropped the topic of room key "${dropped.room}", which now folds like "${kept.room}", whose topic stays`,
      );
      return kept;
    }, (final) => {
      db.exec("DELETE FROM topics");
      const insert = db.prepare("INSERT INTO topics (room, topic) VALUES (?, ?)");
      for (const [key, row] of final) insert.run(key, row.topic);
    });

    type BanRow = { value: string; until: string | null; by: string; reason: string };
    const bans = db.prepare(
      "SELECT value, until, by, reason FROM bans WHERE kind = 'name' ORDER BY value",
    ).all() as BanRow[];
    // The ban that lasts longer stays: none (null) outlasts any date.
    const lasts = (ban: BanRow) => ban.until ?? "\uffff";
    changed += rewrite(bans, (row) => row.value, (row) => foldName(row.value), (a, b, key) => {
      const [kept, dropped] = lasts(b) > lasts(a) || (lasts(b) === lasts(a) && b.value === key)
        ? [b, a]
        : [a, b];
      log(
        "warn",
        `re-keying names: dropped the ban of "${dropped.value}" (until ${
          dropped.until ?? "never"
        }), which now folds like "${kept.value}", whose ban (until ${kept.until ?? "never"}) stays`,
      );
      return kept;
    }, (final) => {
      db.exec("DELETE FROM bans WHERE kind = 'name'");
      const insert = db.prepare(
        "INSERT INTO bans (kind, value, until, by, reason) VALUES ('name', ?, ?, ?, ?)",
      );
      for (const [key, row] of final) insert.run(key, row.until, row.by, row.reason);
    });

    type AccountRow = {
      key: string;
      name: string;
      salt: Uint8Array;
      hash: Uint8Array;
      iterations: number;
      created: string;
    };
    // Oldest first, so that the oldest account keeps a key that two come to share.
    const accounts = db.prepare(
      "SELECT key, name, salt, hash, iterations, created FROM accounts ORDER BY created, key",
    ).all() as unknown as AccountRow[];
    changed += rewrite(accounts, (row) => row.key, (row) => foldName(row.name), (kept, dropped) => {
      log(
        "warn",
        `re-keying names: dropped the account "${dropped.name}" (registered ${dropped.created}), whose name now folds like that of "${kept.name}" (registered ${kept.created}), which stays`,
      );
      return kept;
    }, (final) => {
      db.exec("DELETE FROM accounts");
      const insert = db.prepare(
        "INSERT INTO accounts (key, name, salt, hash, iterations, created) VALUES (?, ?, ?, ?, ?, ?)",
      );
      for (const [key, row] of final) {
        insert.run(key, row.name, row.salt, row.hash, row.iterations, row.created);
      }
    });

    db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('fold_version', ?)").run(
      FOLD_VERSION,
    );
  });
  if (changed > 0) {
    log(
      "info",
      `re-keyed ${changed} row(s) of the database from name folding version ${
        stored?.value ?? 1
      } to ${FOLD_VERSION}`,
    );
  }
}

/**
 * Gives `rows` their new keys: `merge` picks the one that stays where two meet; `save` writes
 * the result, called only if a key changed. Returns how many rows changed or went.
 */
function rewrite<Row>(
  rows: readonly Row[],
  keyOf: (row: Row) => string,
  newKeyOf: (row: Row) => string,
  merge: (earlier: Row, later: Row, key: string) => Row,
  save: (final: Map<string, Row>) => void,
): number {
  const final = new Map<string, Row>();
  let changed = 0;
  for (const row of rows) {
    const key = newKeyOf(row);
    if (key !== keyOf(row)) changed++;
    const earlier = final.get(key);
    if (earlier === undefined) {
      final.set(key, row);
    } else {
      final.set(key, merge(earlier, row, key));
      changed++;
    }
  }
  if (changed > 0) save(final);
  return changed;
}

/** Refuses a path that exists and is not a file (a directory, say) before SQLite tries it. */
function refuseNonFile(path: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (info.isDirectory) {
    const separator = Deno.build.os === "windows" ? "\\" : "/";
    throw new StoreOpenError(
      path,
      `cannot use database ${path}: it is a directory; give --db the path of a file, such as ${path}${separator}parley.db`,
    );
  }
  if (!info.isFile) {
    throw new StoreOpenError(
      path,
      `cannot use database ${path}: it is not a regular file; give --db the path of a file`,
    );
  }
}

/**
 * Locks `PATH-lock` (created if missing, and left in place: removing it would let two servers
 * lock two different files of one name) for this process, or refuses if another holds it. The
 * lock is the operating system's (flock, LockFileEx), so it goes with the process, even one
 * killed by kill -9. It is a file of its own because SQLite locks ranges of the database file
 * itself, which a lock of the whole file would block on Windows.
 */
function lockDatabase(path: string): Deno.FsFile {
  const lockPath = `${path}-lock`;
  const file = Deno.openSync(lockPath, { read: true, write: true, create: true });
  try {
    if (!file.tryLockSync(true)) {
      let holder = "";
      try {
        holder = Deno.readTextFileSync(lockPath).trim();
      } catch {
        // Windows does not let a locked file be read: the message goes without the pid.
      }
      const pid = /^\d+$/.test(holder) ? ` (pid ${holder})` : "";
      throw new StoreOpenError(
        path,
        `cannot use database ${path}: another Parley server${pid} holds it (lock file ${lockPath}); stop that server, or give this one its own --db`,
      );
    }
    // Who holds it, for the message above.
    file.truncateSync(0);
    file.writeSync(new TextEncoder().encode(`${Deno.pid}\n`));
  } catch (error) {
    file.close();
    throw error;
  }
  return file;
}

/** The one-line message for a damaged database. */
function damaged(path: string, cause: string): string {
  return `cannot use database ${path}: it is damaged (${
    oneLine(cause)
  }); restore a backup, or move the file aside (with its -wal file) to start a new one; \`sqlite3 ${path} .recover\` may save what it holds`;
}

/** Turns what went wrong in opening a database into a {@linkcode StoreOpenError}. */
function openError(path: string, error: unknown): unknown {
  if (error instanceof StoreOpenError || error instanceof RangeError) return error;
  const cause = errorMessage(error);
  let message: string;
  if (error instanceof NewerSchemaError) {
    message = `cannot use database ${path}: ${cause}; upgrade Parley, or give --db another file`;
  } else if (/malformed|corrupt/i.test(cause)) {
    message = damaged(path, cause);
  } else if (/not a database/i.test(cause)) {
    message =
      `cannot use database ${path}: it is not an SQLite database (${cause}); move it aside, or give --db another file`;
  } else if (/locked|busy/i.test(cause)) {
    message =
      `cannot use database ${path}: another program holds it (${cause}); stop that program and start again`;
  } else if (/full/i.test(cause)) {
    message = `cannot use database ${path}: ${cause}; make room on its disk and start again`;
  } else {
    message =
      `cannot use database ${path}: ${cause}; check that its directory exists and that this user may read and write there`;
  }
  return new StoreOpenError(path, message, { cause: error });
}

function oneLine(text: string): string {
  const flat = text.replace(/\s*\n\s*/g, " ").trim();
  return flat.length > 300 ? `${flat.slice(0, 300)}...` : flat;
}

/**
 * Where the database lives when `--db` is not given: `$XDG_DATA_HOME/parley/parley.db`, else
 * `~/.local/share/parley/parley.db`; on macOS `~/Library/Application Support/parley/parley.db`;
 * on Windows `%LOCALAPPDATA%\parley\parley.db`.
 */
export function defaultDatabasePath(): string {
  const env = (name: string) => Deno.env.get(name) || undefined;
  const home = env("HOME") ?? env("USERPROFILE") ?? ".";
  const base = Deno.build.os === "windows"
    ? env("LOCALAPPDATA") ?? `${home}\\AppData\\Local`
    : Deno.build.os === "darwin"
    ? `${home}/Library/Application Support`
    : env("XDG_DATA_HOME") ?? `${home}/.local/share`;
  const separator = Deno.build.os === "windows" ? "\\" : "/";
  return [base, "parley", "parley.db"].join(separator);
}
