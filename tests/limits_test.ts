// Frame limits at their edges: a client frame of exactly the limit ending in `\r\n` (the
// terminator is not counted), and a server that sends a line over the client's 16 MiB limit,
// met by the library with an error a caller can catch and by `parley connect` with one line and
// exit 1, in pipe mode and in a terminal.

import { assert, assertEquals, assertMatch, assertRejects } from "./_assert.ts";
import { ChatClient, FrameTooLargeError } from "../client.ts";
import { MAX_SERVER_FRAME_BYTES } from "../protocol.ts";
import { deadline, join, MOD_TS, nextFrame, RawPeer, runParley, startServer } from "./_helpers.ts";
import { Tmux } from "./_tmux.ts";

const encoder = new TextEncoder();

/** A `send` frame of exactly `bytes` bytes, without a terminator. */
function sendFrameOf(bytes: number): string {
  const empty = JSON.stringify({ type: "send", text: "" });
  return JSON.stringify({ type: "send", text: "x".repeat(bytes - empty.length) });
}

Deno.test("a frame of exactly the limit is taken with \\r\\n as with \\n; one byte more is not", async () => {
  await using server = startServer();
  await using bob = await join(server, "bob");
  const limit = bob.welcome.maxFrameBytes;
  assertEquals(limit, 65536);
  const exact = sendFrameOf(limit);
  assertEquals(encoder.encode(exact).length, limit);
  const textBytes = limit - JSON.stringify({ type: "send", text: "" }).length;

  // One write; then the `\r` and the `\n` apart, so that the `\r` waits in a read of its own.
  const endings: [string, string[]][] = [
    ["\\n", [exact + "\n"]],
    ["\\r\\n", [exact + "\r\n"]],
    ["\\r then \\n", [exact + "\r", "\n"]],
  ];
  for (const [ending, writes] of endings) {
    await using peer = await RawPeer.connect(server);
    assertEquals((await peer.hello(`sender${writes.length}${ending.length}`)).type, "welcome");
    for (const [index, data] of writes.entries()) {
      if (index > 0) await new Promise((resolve) => setTimeout(resolve, 50));
      await peer.write(data);
    }
    const message = await nextFrame(bob, "message");
    assertEquals(message.text.length, textBytes, `ending ${ending}`);
  }

  await using over = await RawPeer.connect(server);
  assertEquals((await over.hello("over")).type, "welcome");
  await over.write(sendFrameOf(limit + 1) + "\r\n");
  const [refusal] = await over.untilClosed();
  assertEquals(refusal?.type, "error");
  assertEquals(refusal?.code, "frame_too_large");
});

/**
 * A throwaway server that runs `script` on every connection it takes and counts them: a server
 * that writes exactly the bytes under test.
 */
class FakeServer implements AsyncDisposable {
  readonly listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  connections = 0;
  #serving: Promise<void>;

  constructor(script: (conn: Deno.TcpConn) => Promise<void>) {
    this.#serving = (async () => {
      const running: Promise<void>[] = [];
      for await (const conn of this.listener) {
        this.connections++;
        running.push(
          script(conn).catch(() => {
            // The client hung up on it, as it should.
          }).finally(() => conn.close()),
        );
      }
      await Promise.all(running);
    })();
  }

  get port(): number {
    return this.listener.addr.port;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.listener.close();
    await this.#serving;
  }
}

const WELCOME = JSON.stringify({
  type: "welcome",
  name: "alice",
  users: [],
  room: "lobby",
  maxFrameBytes: 65536,
  rate: 0,
  burst: 0,
  server: "fake/1",
  protocol: 1,
}) + "\n";

/** Writes a line of 17 MiB without its end, then reads until the client hangs up. */
async function oversized(conn: Deno.TcpConn): Promise<void> {
  const chunk = new Uint8Array(1024 * 1024).fill(0x78);
  for (let sent = 0; sent <= MAX_SERVER_FRAME_BYTES; sent += chunk.length) {
    await writeAll(conn, chunk);
  }
  // Whatever the client sent is read, or closing would reset the connection before the client
  // has read all of the line.
  const buffer = new Uint8Array(4096);
  while (await conn.read(buffer) !== null) {
    // Dropped.
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let offset = 0; offset < data.length;) offset += await conn.write(data.subarray(offset));
}

const before = (conn: Deno.TcpConn) => oversized(conn);
const after = async (conn: Deno.TcpConn) => {
  await writeAll(conn, encoder.encode(WELCOME));
  await oversized(conn);
};

Deno.test("the client library throws FrameTooLargeError, a RangeError, for a line over 16 MiB", async () => {
  {
    await using fake = new FakeServer(before);
    const error = await assertRejects(
      () => ChatClient.connect({ port: fake.port, name: "alice", keepAliveMs: 0 }),
      FrameTooLargeError,
    );
    assert(error instanceof RangeError);
    assertEquals(error.name, "FrameTooLargeError");
    assertEquals(error.limit, MAX_SERVER_FRAME_BYTES);
  }
  {
    await using fake = new FakeServer(after);
    await using client = await ChatClient.connect({
      port: fake.port,
      name: "alice",
      keepAliveMs: 0,
    });
    await assertRejects(
      () => deadline(nextFrame(client, "message", () => true, 30_000), 30_000, "the failure"),
      FrameTooLargeError,
    );
    // The connection is closed: nothing more is read from such a server.
    await deadline(client.closed, 5000, "the connection to close");
  }
});

/** Asserts `stderr` is exactly one line saying the server sent too much, without a stack. */
function assertOneLine(stderr: string): void {
  const lines = stderr.trimEnd().split("\n");
  assertEquals(lines.length, 1, stderr);
  assertMatch(lines[0]!, /^parley: .*the server sent a frame over 16 MiB; disconnecting$/);
  assert(!/^\s+at /m.test(stderr), stderr);
}

Deno.test("parley connect, piped, says in one line that the server sent over 16 MiB and exits 1", async () => {
  {
    await using fake = new FakeServer(before);
    const result = await runParley(["connect", `127.0.0.1:${fake.port}`, "--name", "alice"]);
    assertEquals(result.code, 1, result.stderr);
    assertOneLine(result.stderr);
    assertMatch(result.stderr, /^parley: cannot join 127\.0\.0\.1:\d+: /);
  }
  {
    // After joining: --json puts the welcome on stdout, so stderr holds only the failure.
    await using fake = new FakeServer(after);
    const result = await runParley(["connect", `127.0.0.1:${fake.port}`, "--json", "--name", "a"]);
    assertEquals(result.code, 1, result.stderr);
    assertOneLine(result.stderr);
    assertEquals(JSON.parse(result.stdout.split("\n")[0]!).type, "welcome");
  }
});

const noTmux = (() => {
  if (Deno.build.os === "windows") return true;
  try {
    return !new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return Deno.env.get("CI") !== "true";
  }
})();

Deno.test({
  name: "parley connect in a terminal says so, exits 1 and does not reconnect to such a server",
  ignore: noTmux,
  async fn() {
    await using fake = new FakeServer(async (conn) => {
      await writeAll(conn, encoder.encode(WELCOME));
      // Time for the client to draw its screen.
      await new Promise((resolve) => setTimeout(resolve, 500));
      await oversized(conn);
    });
    await using term = await Tmux.start({
      env: { DENO: Deno.execPath(), MOD: MOD_TS, NO_COLOR: "1" },
    });
    await term.run(
      `"$DENO" run -A -q "$MOD" connect 127.0.0.1:${fake.port} --name alice; echo "exit=$?"`,
    );
    const exited = /^exit=(\d+)$/m;
    const screen = await term.waitFor(exited, 30_000, { history: true, join: true });
    assertEquals(screen.match(exited)![1], "1", screen);
    const said = screen.match(/.*server sent a frame.*/g) ?? [];
    assertEquals(said.length, 1, screen);
    assertMatch(said[0]!, / -- The server sent a frame over 16 MiB; disconnecting\.$/);
    assert(!/Reconnecting/.test(screen), screen);
    // A reconnect would come within a second or two; none does.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assertEquals(fake.connections, 1);
  },
});
