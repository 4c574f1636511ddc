// Pipe mode's line limit: `parley connect` with a pipe on stdin refuses a line longer than the
// server's frame limit before buffering it, counting UTF-8 bytes as the server does and saying
// so in bytes. The real CLI runs as a subprocess against a server in this process.

import { assert, assertEquals } from "./_assert.ts";
import type { ChatClient } from "../client.ts";
import { framesUntil, join, runParley, startServer } from "./_helpers.ts";

const LIMIT = 1024;
const encoder = new TextEncoder();

/** The texts of the messages `client` receives until `name` leaves. */
async function messagesUntilLeft(client: ChatClient, name: string): Promise<string[]> {
  const frames = await framesUntil(
    client,
    (frame) => frame.type === "left" && frame.name === name,
    30_000,
    `${name} leaving`,
  );
  return frames.flatMap((frame) => frame.type === "message" ? [frame.text] : []);
}

/** What stderr holds but the notices: one line saying why, and no stack trace. */
function reasons(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line !== "" && !line.startsWith("-- "));
}

/** Runs `parley connect` in pipe mode as `piper` with `stdin`; returns what bob received too. */
async function pipe(stdin: string) {
  await using server = startServer({ maxFrameBytes: LIMIT });
  await using bob = await join(server, "bob");
  const received = messagesUntilLeft(bob, "piper");
  const result = await runParley(
    ["connect", `127.0.0.1:${server.addr.port}`, "--name", "piper"],
    stdin,
  );
  return { ...result, received: await received };
}

Deno.test("pipe: a line over the limit in UTF-8 bytes is refused, though shorter in UTF-16", async () => {
  // 600 UTF-16 code units but 1200 bytes: over the limit only when counted as the server counts;
  // and plain ASCII over the limit, which once ended in a stack trace.
  const long = "é".repeat(600);
  assertEquals([long.length, encoder.encode(long).length], [600, 1200]);
  for (const line of [long, "x".repeat(LIMIT + 1)]) {
    const { code, stderr, received } = await pipe(`${line}\nafter\n`);
    assertEquals(code, 1, stderr);
    assertEquals(reasons(stderr), [
      `parley: Line 1 of stdin is longer than the server takes (${LIMIT} bytes); stopped there`,
    ]);
    assertEquals(received, []);
  }
});

Deno.test("pipe: the line limit refuses one byte over it, not a line of exactly it", async () => {
  // 1024 bytes is not over the line limit; as a frame, with its JSON around it, it is over the
  // frame limit, which the client reports in its own words.
  const exact = "é".repeat(LIMIT / 2);
  assertEquals(encoder.encode(exact).length, LIMIT);
  const atLimit = await pipe(`${exact}\n`);
  assertEquals(atLimit.code, 1, atLimit.stderr);
  assertEquals(reasons(atLimit.stderr).length, 1, atLimit.stderr);
  assert(!atLimit.stderr.includes("of stdin is longer"), atLimit.stderr);
  assertEquals(atLimit.received, []);

  const over = await pipe(`short\n${exact}a\n`);
  assertEquals(over.code, 1, over.stderr);
  assertEquals(reasons(over.stderr), [
    `parley: Line 2 of stdin is longer than the server takes (${LIMIT} bytes); stopped there`,
  ]);
  // The line before may have gone, or not, as stdin's chunks fell; the long one did not.
  assert(over.received.every((text) => text === "short"), `${over.received.length} sent`);
});

Deno.test("pipe: lines of many-byte characters under the limit arrive intact", async () => {
  // 4-byte emoji and 2-byte letters: 400 + 400 bytes a line, under the limit with the frame's
  // JSON around it, and split across reads wherever stdin's chunks end.
  const lines = ["😀".repeat(100) + "é".repeat(200), "ü".repeat(200) + "🎉".repeat(100)];
  const { code, stderr, received } = await pipe(lines.join("\n") + "\n");
  assertEquals(code, 0, stderr);
  assertEquals(received, lines);
});
