// Where rooms' history and topics are kept: the Store interface the server talks to, and its
// SQLite implementation on Deno's built-in node:sqlite. A database file is created on first
// use and brought up to date by the migrations below when the server starts.

import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { PasswordHash } from "./_auth.ts";
import type { CheckpointerCommand, CheckpointerReport } from "./_checkpointer.ts";
import type { Logger } from "./_log.ts";
import type { StoredMessage } from "./protocol.ts";

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
  /** Drops what the policy no longer keeps; returns how many messages went. */
  prune(policy: RetentionPolicy): number;
  /** Closes the store; resolves once its database is closed. */
  close(): Promise<void>;
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
  #db: DatabaseSync;
  #insert: StatementSync;
  #newest: StatementSync;
  #before: StatementSync;
  #topic: StatementSync;
  #account: StatementSync;
  #activeBan: StatementSync;
  #checkpointer: Checkpointer | undefined;

  /**
   * Opens (creating if need be) the database at `path` and migrates it to the current schema.
   * `log` hears of trouble that does not stop the store from working.
   *
   * @throws {Error} If the database was written by a newer Parley, or cannot be opened.
   */
  constructor(path: string, log?: Logger) {
    this.#db = new DatabaseSync(path);
    try {
      // WAL: readers never wait for the writer. NORMAL: a commit survives the process dying
      // (kill -9) at any moment; only a power loss can take the last commits back.
      this.#db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
      migrate(this.#db);
      if (path !== ":memory:") this.#checkpointer = new Checkpointer(this.#db, path, log);
    } catch (error) {
      this.#db.close();
      throw error;
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
  }

  lastMessageId(): number {
    const row = this.#db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'messages'")
      .get() as { seq: number } | undefined;
    return row?.seq ?? 0;
  }

  append(messages: readonly RoomMessage[]): void {
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
    });
  }

  history(room: string, limit: number, before?: number): HistoryPage {
    // One more than asked for says whether more remain.
    const rows =
      (before === undefined
        ? this.#newest.all(room, limit + 1)
        : this.#before.all(room, before, limit + 1)) as unknown as MessageRow[];
    const more = rows.length > limit;
    const messages = rows.slice(0, limit).reverse().map((row) => {
      const message: StoredMessage = { id: row.id, from: row.sender, text: row.text, ts: row.ts };
      if (row.action) message.action = true;
      return message;
    });
    return { messages, more };
  }

  topic(room: string): string | undefined {
    const row = this.#topic.get(room) as
      | { topic: string }
      | undefined;
    return row?.topic;
  }

  setTopic(room: string, topic: string): void {
    if (topic === "") {
      this.#db.prepare("DELETE FROM topics WHERE room = ?").run(room);
    } else {
      this.#db.prepare("INSERT OR REPLACE INTO topics (room, topic) VALUES (?, ?)").run(
        room,
        topic,
      );
    }
  }

  account(key: string): PasswordHash | undefined {
    const row = this.#account.get(key) as
      | { salt: Uint8Array; hash: Uint8Array; iterations: number }
      | undefined;
    return row && { salt: row.salt, hash: row.hash, iterations: row.iterations };
  }

  setAccount(key: string, name: string, password: PasswordHash): void {
    this.#db.prepare(
      `INSERT OR REPLACE INTO accounts (key, name, salt, hash, iterations, created)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ).run(key, name, password.salt, password.hash, password.iterations, new Date().toISOString());
  }

  ban(ban: Ban): void {
    this.#db.prepare(
      "INSERT OR REPLACE INTO bans (kind, value, until, by, reason) VALUES (?, ?, ?, ?, ?)",
    ).run(ban.kind, ban.value, ban.until ?? null, ban.by, ban.reason);
  }

  unban(kind: Ban["kind"], value: string): boolean {
    const result = this.#db.prepare("DELETE FROM bans WHERE kind = ? AND value = ?").run(
      kind,
      value,
    );
    return Number(result.changes) > 0;
  }

  activeBan(kind: Ban["kind"], value: string, now: Date): Ban | undefined {
    const row = this.#activeBan.get(kind, value, now.toISOString()) as
      | { until: string | null; by: string; reason: string }
      | undefined;
    if (row === undefined) return undefined;
    const ban: Ban = { kind, value, by: row.by, reason: row.reason };
    if (row.until !== null) ban.until = row.until;
    return ban;
  }

  prune(policy: RetentionPolicy): number {
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
        const trim = this.#db.prepare(
          `DELETE FROM messages WHERE room = ?1 AND id <= (
             SELECT id FROM messages WHERE room = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)`,
        );
        for (const { room } of rooms) {
          removed += Number(trim.run(room, policy.messagesPerRoom).changes);
        }
      }
    });
    return removed;
  }

  async close(): Promise<void> {
    // The checkpointer's connection first: closing the last one checkpoints what is left.
    await this.#checkpointer?.stop();
    this.#db.close();
  }
}

/** How often the checkpointer copies the write-ahead log into the database. */
const CHECKPOINT_INTERVAL_MS = 1000;

/** How long closing waits for the checkpointer to close its connection. */
const CHECKPOINTER_STOP_MS = 5000;

/**
 * Moves WAL checkpoints off the event loop. By default SQLite checkpoints inside the commit
 * that takes the write-ahead log past 1,000 pages: it copies them into the database and syncs
 * both files, holding the server for several milliseconds every few thousand messages. A
 * worker (`_checkpointer.ts`) with its own connection checkpoints instead, every second,
 * without blocking the writer. Until it is running, or if it fails, SQLite's own checkpoints
 * stay on.
 */
class Checkpointer {
  #worker = new Worker(new URL("./_checkpointer.ts", import.meta.url), { type: "module" });
  #ended = Promise.withResolvers<void>();
  #running = true;

  constructor(db: DatabaseSync, path: string, log: Logger | undefined) {
    const autocheckpoint = (pages: number) => {
      if (db.isOpen) db.exec(`PRAGMA wal_autocheckpoint = ${pages}`);
    };
    const failed = (error: string) => {
      this.#end();
      autocheckpoint(1000);
      log?.(
        "warn",
        `checkpointing the database in the background failed (${error}); SQLite checkpoints in its commits instead`,
      );
    };
    this.#worker.onmessage = ({ data: report }: MessageEvent<CheckpointerReport>) => {
      if (report.state === "failed") return failed(report.error);
      if (report.state === "stopped") return this.#end();
      autocheckpoint(0);
      log?.("debug", "checkpointing the database in the background");
    };
    // The worker's module could not be loaded.
    this.#worker.onerror = (event) => {
      event.preventDefault();
      failed(event.message);
    };
    this.#command({ type: "start", path, intervalMs: CHECKPOINT_INTERVAL_MS });
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
    db.exec("ROLLBACK");
    throw error;
  }
}

/** Applies the migrations `db` has not had yet, each in its own transaction. */
function migrate(db: DatabaseSync): void {
  const { user_version: version } = db.prepare("PRAGMA user_version").get() as {
    user_version: number;
  };
  if (version > MIGRATIONS.length) {
    throw new Error(
      `Database schema is version ${version}, newer than this Parley knows (${MIGRATIONS.length}); upgrade Parley`,
    );
  }
  for (let next = version; next < MIGRATIONS.length; next++) {
    transaction(db, () => db.exec(`${MIGRATIONS[next]}; PRAGMA user_version = ${next + 1};`));
  }
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
