// The database file as the operator meets it: where it lives when `--db` is not given, what is
// refused before SQLite opens it, the lock that keeps a second server out, and the one-line
// messages that say why a file cannot be used and what to do about it.

import { NewerSchemaError } from "./migrations.ts";
import { StoreOpenError } from "./store.ts";
import { errorMessage } from "../_protocol/error_message.ts";

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

/** Refuses a path that exists and is not a file (a directory, say) before SQLite tries it. */
export function refuseNonFile(path: string): void {
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
export function lockDatabase(path: string): Deno.FsFile {
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
export function damaged(path: string, cause: string): string {
  return `cannot use database ${path}: it is damaged (${
    oneLine(cause)
  }); restore a backup, or move the file aside (with its -wal file) to start a new one; \`sqlite3 ${path} .recover\` may save what it holds`;
}

/** Turns what went wrong in opening a database into a {@linkcode StoreOpenError}. */
export function openError(path: string, error: unknown): unknown {
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
