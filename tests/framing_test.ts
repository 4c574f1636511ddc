import { setImmediate } from "node:timers";
import { assert, assertEquals, assertLess, assertRejects } from "./_assert.ts";
import {
  type ByteStream,
  FrameTooLargeError,
  MAX_READ_BUFFER_BYTES,
  Outbox,
  readLines,
} from "../_net/framing.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An in-memory stream that hands out `chunks` one read at a time. */
function chunked(chunks: Uint8Array[]): ByteStream & { consumed: number } {
  const stream = {
    consumed: 0,
    read(buffer: Uint8Array) {
      const chunk = chunks.shift();
      if (chunk === undefined) return Promise.resolve(null);
      const count = Math.min(buffer.length, chunk.length);
      buffer.set(chunk.subarray(0, count));
      if (count < chunk.length) chunks.unshift(chunk.subarray(count));
      stream.consumed += count;
      return Promise.resolve(count);
    },
    write: () => Promise.reject(new Error("read-only")),
  };
  return stream;
}

async function collect(stream: ByteStream, max = 1024): Promise<string[]> {
  const lines = [];
  for await (const line of readLines(stream, max)) lines.push(decoder.decode(line));
  return lines;
}

Deno.test("readLines splits lines however the bytes arrive", async () => {
  const text = 'one\ntwo\n\nthré😀\n{"x":1}\n';
  const expected = ["one", "two", "thré😀", '{"x":1}'];
  const bytes = encoder.encode(text);
  assertEquals(await collect(chunked([bytes])), expected);
  const oneByteEach = [...bytes].map((byte) => new Uint8Array([byte]));
  assertEquals(await collect(chunked(oneByteEach)), expected);
  for (let cut = 0; cut <= bytes.length; cut++) {
    assertEquals(
      await collect(chunked([bytes.subarray(0, cut), bytes.subarray(cut)])),
      expected,
      `cut at ${cut}`,
    );
  }
});

Deno.test("readLines drops an unterminated last line", async () => {
  assertEquals(await collect(chunked([encoder.encode("whole\npart")])), ["whole"]);
});

Deno.test("readLines accepts a line of exactly the limit and refuses one byte more", async () => {
  const exact = "x".repeat(5000);
  assertEquals(await collect(chunked([encoder.encode(exact + "\n")]), 5000), [exact]);
  await assertRejects(
    () => collect(chunked([encoder.encode(exact + "x\n")]), 5000),
    FrameTooLargeError,
  );
  await assertRejects(
    () => collect(chunked([encoder.encode(exact), encoder.encode("x\n")]), 5000),
    FrameTooLargeError,
  );
});

Deno.test("readLines never buffers much more than its limit", async () => {
  const limit = 64 * 1024;
  const stream = chunked([new Uint8Array(1024 * 1024).fill(0x41)]);
  await assertRejects(() => collect(stream, limit), FrameTooLargeError);
  assertLess(stream.consumed, limit + MAX_READ_BUFFER_BYTES + 1);
});

/** A sink that takes at most `most` bytes per write, as a socket may. */
function trickle(most: number): ByteStream & { received: number[]; writes: number } {
  const sink = {
    received: [] as number[],
    writes: 0,
    read: () => Promise.resolve(null),
    async write(data: Uint8Array) {
      await Promise.resolve();
      sink.writes++;
      const count = Math.min(most, data.length);
      sink.received.push(...data.subarray(0, count));
      return count;
    },
  };
  return sink;
}

Deno.test("Outbox writes everything in order despite partial writes", async () => {
  const sink = trickle(3);
  const outbox = new Outbox(sink, 1024);
  const parts = ["hello\n", "wörld 😀\n", "x".repeat(100) + "\n"];
  for (const part of parts) assert(outbox.push(encoder.encode(part)));
  await outbox.flushed();
  assertEquals(decoder.decode(new Uint8Array(sink.received)), parts.join(""));
  assertEquals(outbox.queuedBytes, 0);
});

Deno.test("Outbox joins what queues up during a write into one write", async () => {
  const sink = trickle(1 << 20);
  const outbox = new Outbox(sink, 1 << 20);
  for (let i = 0; i < 100; i++) outbox.push(encoder.encode(`${i}\n`));
  await outbox.flushed();
  assertLess(sink.writes, 3);
  assertEquals(decoder.decode(new Uint8Array(sink.received)).split("\n").length, 101);
});

Deno.test("Outbox refuses what would pass its bound, counting the write under way", async () => {
  const gate = Promise.withResolvers<void>();
  const stalled: ByteStream = {
    read: () => Promise.resolve(null),
    write: async (data) => {
      await gate.promise;
      return data.length;
    },
  };
  const outbox = new Outbox(stalled, 10);
  assert(outbox.push(new Uint8Array(6)));
  // The write starts at the end of the turn, from an immediate queued before this one.
  await new Promise((resolve) => setImmediate(resolve));
  assert(!outbox.push(new Uint8Array(6)));
  assert(outbox.push(new Uint8Array(4)));
  assertEquals(outbox.queuedBytes, 10);
  outbox.clear(); // drops what waits, not the write under way
  assertEquals(outbox.queuedBytes, 6);
  gate.resolve();
  await outbox.flushed();
  assertEquals(outbox.queuedBytes, 0);
});
