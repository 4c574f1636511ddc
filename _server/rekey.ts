// Re-keying a database's names after a change of name folding. Rooms, accounts and name bans
// are stored under their folded names; when FOLD_VERSION moves on, the keys a database holds
// are made again with today's folding, once, when a store opens it.

import type { DatabaseSync } from "node:sqlite";
import type { Logger } from "./log.ts";
import { transaction } from "./transaction.ts";
import { FOLD_VERSION, foldName } from "../protocol.ts";

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
export function rekey(db: DatabaseSync, log: Logger): void {
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

    type TopicRow = { room: string; topic: string; by: string | null; ts: string | null };
    const topics = db.prepare("SELECT room, topic, by, ts FROM topics ORDER BY room")
      .all() as TopicRow[];
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
      const insert = db.prepare("INSERT INTO topics (room, topic, by, ts) VALUES (?, ?, ?, ?)");
      for (const [key, row] of final) insert.run(key, row.topic, row.by, row.ts);
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
