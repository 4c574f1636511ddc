// One SQLite transaction, all or nothing: the store's writes, pruning to the size bound, each
// migration and the re-keying of names all go through it.

import type { DatabaseSync } from "node:sqlite";

/** Runs `work` in one transaction: all of it is committed, or none. */
export function transaction(db: DatabaseSync, work: () => void): void {
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
