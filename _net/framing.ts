// Moving NDJSON lines over a byte stream: a reader that splits lines on bytes under a size
// limit, and an outbox that queues bytes for one connection and writes them in order.

import { setImmediate } from "node:timers";

/** What the reader and the outbox need of a connection: `Deno.Conn` has it. */
export interface ByteStream {
  read(buffer: Uint8Array): Promise<number | null>;
  write(data: Uint8Array): Promise<number>;
}

/**
 * Thrown by {@linkcode readLines} when a line grows past its limit: a peer sent more than it may.
 * A `RangeError`, so that code which knows nothing of Parley can still tell it from a broken
 * connection.
 */
export class FrameTooLargeError extends RangeError {
  /** The limit that was passed, in bytes, not counting the line's terminator. */
  readonly limit: number;

  /**
   * Makes the error for a line longer than `limit` bytes.
   *
   * @param limit The limit that was passed, in bytes.
   */
  constructor(limit: number) {
    super(`Frame is longer than ${limit} bytes`);
    this.name = "FrameTooLargeError";
    this.limit = limit;
  }
}

/**
 * Bytes asked of the socket per read at first, and again once reads come back small: every idle
 * connection holds one such buffer in the read it waits on, so it is small.
 */
export const READ_BUFFER_BYTES = 512;
/** The most bytes asked per read: a read that fills its buffer doubles the next one up to this,
 * so that a busy sender is read in few calls. */
export const MAX_READ_BUFFER_BYTES = 16384;

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/**
 * Yields each line read from `stream`, without its terminator (`\n` or `\r\n`), until the stream
 * ends. Blank lines (empty or only spaces, tabs and carriage returns) are skipped. A yielded line
 * may be a view into the read buffer: use it before asking for the next. A line longer than
 * `maxLineBytes`, its terminator not counted, throws {@linkcode FrameTooLargeError} as soon as the
 * limit is passed, so no more than `maxLineBytes` plus one byte (a `\r` whose `\n` is still to
 * come) plus one read are ever held. Bytes after the last newline when the stream ends are not a
 * line and are dropped.
 */
export async function* readLines(
  stream: ByteStream,
  maxLineBytes: number,
): AsyncGenerator<Uint8Array, void, undefined> {
  let buffer = new Uint8Array(READ_BUFFER_BYTES);
  let partial: Uint8Array[] = [];
  let partialBytes = 0;
  while (true) {
    const count = await stream.read(buffer);
    if (count === null) return;
    const chunk = buffer.subarray(0, count);
    // Sized for the next read, which comes after every line of this one is used: twice as
    // large if this one filled it, small again once a read takes less than an eighth.
    const size = count === buffer.length
      ? Math.min(buffer.length * 2, MAX_READ_BUFFER_BYTES)
      : count < buffer.length / 8
      ? READ_BUFFER_BYTES
      : buffer.length;
    if (size !== buffer.length) buffer = new Uint8Array(size);
    let start = 0;
    let end = chunk.indexOf(NEWLINE);
    while (end !== -1) {
      const total = partialBytes + end - start;
      // A `\r` just before the newline belongs to the terminator, not to the line.
      const before = end > start ? chunk[end - 1] : partial.at(-1)?.at(-1);
      const length = before === CARRIAGE_RETURN ? total - 1 : total;
      if (length > maxLineBytes) throw new FrameTooLargeError(maxLineBytes);
      const line = partialBytes === 0
        ? chunk.subarray(start, start + length)
        : concat([...partial, chunk.subarray(start, end)], total).subarray(0, length);
      partial = [];
      partialBytes = 0;
      if (!isBlank(line)) yield line;
      start = end + 1;
      end = chunk.indexOf(NEWLINE, start);
    }
    if (start < count) {
      partialBytes += count - start;
      // One byte over is the `\r` of a `\r\n` whose `\n` is in the next read.
      if (
        partialBytes > maxLineBytes + 1 ||
        (partialBytes === maxLineBytes + 1 && chunk[count - 1] !== CARRIAGE_RETURN)
      ) {
        throw new FrameTooLargeError(maxLineBytes);
      }
      partial.push(chunk.slice(start));
    }
  }
}

/**
 * The one writer of a connection. `push` queues bytes and returns at once; writing starts when
 * the event loop's turn is over (for every outbox that got bytes in it, at once), so that all a
 * turn queued goes out in one write, and a single loop then writes in order, joining whatever
 * has queued up meanwhile. The queue is bounded: a push that would take it past
 * `maxQueuedBytes` is refused, and it is up to the caller to drop the connection.
 */
export class Outbox {
  #stream: ByteStream;
  #maxQueuedBytes: number;
  #queue: Uint8Array[] = [];
  #waitingBytes = 0;
  #writingBytes = 0;
  #writing: Promise<void> | undefined;
  /** Bytes are queued and wait for the end of the turn to be written. */
  #corked = false;
  #failed = false;

  constructor(stream: ByteStream, maxQueuedBytes: number) {
    this.#stream = stream;
    this.#maxQueuedBytes = maxQueuedBytes;
  }

  /** Bytes queued and not yet written, counting those of a write under way. */
  get queuedBytes(): number {
    return this.#waitingBytes + this.#writingBytes;
  }

  /** Queues `bytes`. Returns false, queuing nothing, if the queue would pass its bound (unless
   * `force`, for a last word such as a shutdown notice) or the connection has failed. */
  push(bytes: Uint8Array, force = false): boolean {
    if (this.#failed) return false;
    if (!force && this.queuedBytes + bytes.length > this.#maxQueuedBytes) return false;
    this.#queue.push(bytes);
    this.#waitingBytes += bytes.length;
    if (this.#writing === undefined && !this.#corked) {
      this.#corked = true;
      corked.push(this);
      if (corked.length === 1) setImmediate(uncorkAll);
    }
    return true;
  }

  /** Starts writing what is queued, if it waits for the end of the turn. */
  uncork(): void {
    if (!this.#corked) return;
    this.#corked = false;
    if (this.#queue.length > 0) this.#writing ??= this.#drain();
  }

  /** Drops every frame not yet being written, making room for a last one. */
  clear(): void {
    this.#queue = [];
    this.#waitingBytes = 0;
  }

  /** Resolves once everything queued so far is written, or writing has failed. */
  async flushed(): Promise<void> {
    this.uncork();
    while (this.#writing) await this.#writing;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const data = this.#queue.length === 1
          ? this.#queue[0]!
          : concat(this.#queue, this.#waitingBytes);
        this.#queue = [];
        this.#waitingBytes = 0;
        this.#writingBytes = data.length;
        await writeAll(this.#stream, data);
        this.#writingBytes = 0;
      }
    } catch {
      // The reading side sees the broken connection and reports it; nothing more can be sent.
      this.#failed = true;
      this.clear();
      this.#writingBytes = 0;
    } finally {
      this.#writing = undefined;
    }
  }
}

/** Outboxes with bytes waiting for the end of the turn. */
const corked: Outbox[] = [];

function uncorkAll(): void {
  for (const outbox of corked.splice(0)) outbox.uncork();
}

/** Reads and drops whatever arrives until the stream ends or fails. */
export async function drain(stream: ByteStream): Promise<void> {
  const buffer = new Uint8Array(READ_BUFFER_BYTES);
  try {
    while (await stream.read(buffer) !== null) {
      // Dropped.
    }
  } catch {
    // Ended either way.
  }
}

/** Writes all of `data`: a socket write may take only part of it. */
export async function writeAll(stream: ByteStream, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await stream.write(data.subarray(offset));
}

function isBlank(line: Uint8Array): boolean {
  for (const byte of line) {
    if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0d) return false;
  }
  return true;
}

/** Joins `parts` into one new buffer. */
export function concat(
  parts: readonly Uint8Array[],
  length: number = parts.reduce((sum, part) => sum + part.length, 0),
): Uint8Array {
  const result = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    result.set(part, offset);
    offset += part.length;
  }
  return result;
}
