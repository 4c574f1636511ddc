// Where rooms' history and topics are kept, as the server sees it: the Store interface, what
// goes in and out of it, and its two errors. Every other module of the server talks to this
// interface; the one implementation, on SQLite, is sqlite_store.ts.

import type { PasswordHash } from "./auth.ts";
import type { StoredMessage } from "../protocol.ts";

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

/** A room's topic as stored, with who set it and when if that is known. */
export interface StoredTopic {
  /** The topic; never empty. */
  topic: string;
  /** The name of whoever set it; absent for topics stored before setters were kept. */
  by?: string;
  /** When it was set, ISO-8601 UTC; absent when `by` is. */
  ts?: string;
}

/** What the server needs of a store. Every call is synchronous and atomic. */
export interface Store {
  /** The largest message id ever stored, or 0: new ids start above it. */
  lastMessageId(): number;
  /** Stores messages, all or none, durably before returning. */
  append(messages: readonly RoomMessage[]): void;
  /** Up to `limit` messages of a room with ids below `before` (or the newest), oldest first. */
  history(room: string, limit: number, before?: number): HistoryPage;
  /** A room's topic, with its setter and time when known, if it has one. */
  topic(room: string): StoredTopic | undefined;
  /** Sets (or, with "", clears) a room's topic, set by `by` at `ts` (ISO-8601 UTC). */
  setTopic(room: string, topic: string, by?: string, ts?: string): void;
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
 * `database disk image is malformed`, ...), and the store has logged it already (SqliteStore: at
 * most once in `FAILURE_LOG_INTERVAL_MS` for repeats of one cause): a caller answers whoever
 * asked and need not log it again.
 */
export class StoreError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreError";
  }
}

/**
 * What a cluster node needs of NATS is out of reach: the operation was not done, and the client
 * is told `cluster_unavailable` (see cluster/link.ts).
 */
export class UnavailableError extends StoreError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UnavailableError";
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
