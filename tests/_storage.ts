// Fixtures for the storage tests (store_test.ts, storage_cli_test.ts): databases made by the
// real store and then damaged in the ways a disk or a person damages them, and a small tmpfs to
// fill a disk for real.

import { DatabaseSync } from "node:sqlite";
import { SqliteStore } from "../_server/sqlite_store.ts";
import type { RoomMessage } from "../_server/store.ts";

/** `count` messages of `bytes` characters each in `room`, ids from `first`. */
export function messages(
  count: number,
  options: { first?: number; room?: string; bytes?: number } = {},
): RoomMessage[] {
  const { first = 1, room = "lobby", bytes = 16 } = options;
  return Array.from({ length: count }, (_, i) => ({
    id: first + i,
    room,
    from: "ada",
    text: `m${first + i} `.padEnd(bytes, "x"),
    ts: new Date(Date.UTC(2026, 0, 1) + (first + i) * 1000).toISOString(),
  }));
}

/** Makes a sound database at `path` holding `count` short messages, closed (its log folded
 * into the file). */
export async function makeDatabase(path: string, count = 20): Promise<void> {
  const store = new SqliteStore(path, () => {});
  store.append(messages(count));
  await store.close();
}

/** Overwrites the bytes of `path` at `offset` with `bytes`. */
export function overwrite(path: string, offset: number, bytes: Uint8Array): void {
  using file = Deno.openSync(path, { write: true });
  file.seekSync(offset, Deno.SeekMode.Start);
  let left = bytes;
  while (left.length > 0) left = left.subarray(file.writeSync(left));
}

/** The kinds of bad database files the store must refuse at start, each made at `path`. */
export const BAD_DATABASES: readonly {
  kind: string;
  /** A word the refusal must contain, naming the cause. */
  cause: RegExp;
  make: (path: string) => Promise<void>;
}[] = [
  {
    kind: "a file of text",
    cause: /not an SQLite database/,
    make: (path) => Deno.writeTextFile(path, "not a database, just text\n".repeat(400)),
  },
  {
    kind: "a directory",
    cause: /is a directory/,
    make: (path) => Deno.mkdir(path),
  },
  {
    kind: "damaged first pages",
    cause: /damaged.*malformed/,
    async make(path) {
      await makeDatabase(path);
      // Past the 100-byte header: the schema's page and the next.
      overwrite(path, 100, new Uint8Array(8000).fill(0xff));
    },
  },
  {
    kind: "64 bytes overwritten in the messages table's root page",
    cause: /damaged \(quick_check/,
    async make(path) {
      await makeDatabase(path);
      const db = new DatabaseSync(path);
      const { rootpage } = db.prepare(
        "SELECT rootpage FROM sqlite_schema WHERE name = 'messages'",
      ).get() as { rootpage: number };
      const { page_size: size } = db.prepare("PRAGMA page_size").get() as { page_size: number };
      db.close();
      overwrite(path, (rootpage - 1) * size, new Uint8Array(64).fill(0xab));
    },
  },
];

/** Whether this process may mount a tmpfs: Linux, as root (as in CI). */
export const CAN_MOUNT = Deno.build.os === "linux" && Deno.uid() === 0;

/**
 * Runs `fn` with a tmpfs of `bytes` mounted on a fresh directory, a disk that fills for real;
 * unmounts it (lazily, if something still holds it) and removes the directory afterwards.
 */
export async function withTmpfs(bytes: number, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "parley-tmpfs-" });
  const run = (program: string, args: string[]) =>
    new Deno.Command(program, { args, stdout: "null", stderr: "piped" }).output();
  const mounted = await run("mount", ["-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", dir]);
  if (!mounted.success) {
    await Deno.remove(dir);
    throw new Error(`Cannot mount a tmpfs: ${new TextDecoder().decode(mounted.stderr)}`);
  }
  try {
    await fn(dir);
  } finally {
    if (!(await run("umount", [dir])).success) await run("umount", ["-l", dir]);
    await Deno.remove(dir, { recursive: true });
  }
}

/** Polls `condition` every 50 ms until it holds, failing after `ms` with `what`. */
export async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > ms) throw new Error(`Timed out after ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
