// The database's schema, one migration per version, and how a database is brought up to it
// when a store opens it. A database newer than this Parley is refused, not touched.

import type { DatabaseSync } from "node:sqlite";
import { transaction } from "./transaction.ts";

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
  // 5: who set each topic and when (ISO-8601 UTC); null for topics set before this migration.
  `ALTER TABLE topics ADD COLUMN by TEXT;
   ALTER TABLE topics ADD COLUMN ts TEXT;`,
];

/** A database schema newer than this Parley's: {@linkcode migrate} refuses it, and opening tells
 * the operator to upgrade (database_file.ts). */
export class NewerSchemaError extends Error {}

/** Applies the migrations `db` has not had yet, each in its own transaction. */
export function migrate(db: DatabaseSync): void {
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
