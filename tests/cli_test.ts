import { assert, assertEquals, assertLess, assertMatch, assertStringIncludes } from "./_assert.ts";
import { ChatClient } from "../client.ts";
import { VERSION } from "../_protocol/version.ts";
import {
  framesUntil,
  join,
  nextFrame,
  parleyCommand,
  ParleyProcess,
  RawPeer,
  rssKiB,
  runParley,
  serveProcess,
  startServer,
  tempDir,
} from "./_helpers.ts";

Deno.test("--version and --help", async () => {
  const version = await runParley(["--version"]);
  assertEquals([version.code, version.stdout.trim()], [0, `parley ${VERSION}`]);
  for (const args of [["--help"], ["serve", "--help"], ["connect", "-h"]]) {
    const help = await runParley(args);
    assertEquals(help.code, 0);
    assertStringIncludes(help.stdout, "Usage");
  }
});

Deno.test("usage errors exit 2 with a one-line reason", async () => {
  for (
    const args of [
      [],
      ["frobnicate"],
      ["serve", "--bogus"],
      ["serve", "--port", "70000"],
      ["serve", "--port", "http"],
      ["serve", "--max-users", "0"],
      ["serve", "--log-level", "loud"],
      ["serve", "extra"],
      ["serve", "--rooms", "a,b c"],
      ["serve", "--history", "-1"],
      ["connect", "--bogus"],
      ["connect", "[::1"],
      ["connect", "a", "b"],
    ]
  ) {
    const result = await runParley(args);
    assertEquals(result.code, 2, args.join(" "));
    assertEquals(result.stderr.trim().split("\n").length, 1, result.stderr);
    assertMatch(result.stderr, /^parley: /);
  }
});

Deno.test("parley serve runs until SIGTERM, tells clients, and exits 0", async () => {
  await using server = await serveProcess(["--log-level", "info"]);
  await using peer = await RawPeer.connect(server.port);
  assertEquals((await peer.hello("alice")).type, "welcome");
  await server.waitFor(/joined as "alice"/, "stderr");
  server.child.kill("SIGTERM");
  assertEquals((await peer.untilClosed()).map((frame) => frame.code), ["server_shutdown"]);
  assertEquals(await server.exitCode(), 0);
  assertStringIncludes(server.stderr, "127.0.0.1:"); // log lines name the peer
  assert(!server.stderr.includes("hello"), "message text is not logged");
});

Deno.test("parley serve listens on IPv6", async () => {
  await using server = await serveProcess(["--host", "::1"]);
  await server.waitFor(/listening on \[::1\]:/);
  const port = server.port;
  await using client = await ChatClient.connect({
    hostname: "::1",
    port: Number(port),
    name: "v6",
  });
  assertEquals(client.welcome.name, "v6");
});

Deno.test({
  name: "a 16 MiB stream of unterminated lines does not grow the server's memory",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using server = await serveProcess();
    const port = server.port;
    const rss = () => rssKiB(server.child.pid) * 1024;
    // Warm up: one round of the same work, so what is measured is growth, not first use.
    const flood = async (connections: number) => {
      await Promise.all(Array.from({ length: connections }, async () => {
        await using peer = await RawPeer.connect(Number(port));
        await peer.write("y".repeat(1024 * 1024)).catch(() => {});
        assertEquals((await peer.untilClosed()).map((frame) => frame.code), ["frame_too_large"]);
      }));
    };
    await flood(2);
    const before = rss();
    await flood(16);
    const growth = rss() - before;
    assertLess(growth, 8 * 1024 * 1024, `RSS grew by ${growth} bytes`);
  },
});

Deno.test("pipe mode sends each stdin line, in order, and prints what arrives", async () => {
  await using server = startServer();
  await using bob = await join(server, "bob");
  const port = String(server.addr.port);
  const run = runParley(["connect", `:${port}`, "--name", "piper"], "a\nb\n\nmulti word line\n");
  const frames = await framesUntil(bob, (frame) => frame.type === "left", 30_000, "piper to leave");
  const texts = frames.flatMap((frame) =>
    frame.type === "message" ? [`${frame.from}: ${frame.text}`] : []
  );
  assertEquals(texts, ["piper: a", "piper: b", "piper: multi word line"]);
  const result = await run;
  assertEquals(result.code, 0, result.stderr);
});

Deno.test("pipe mode --json prints every frame as a JSON line", async () => {
  await using server = startServer();
  await using bob = await join(server, "bob");
  const child = new ParleyProcess([
    "connect",
    `127.0.0.1:${server.addr.port}`,
    "--name",
    "bot",
    "--json",
  ], {
    stdin: "piped",
  });
  await nextFrame(bob, "joined");
  bob.send("for the bot\nsecond line");
  await child.waitFor(/second line/);
  await child.child.stdin!.close();
  assertEquals(await child.exitCode(), 0, child.stderr);
  const frames = child.stdout.trim().split("\n").map((line) => JSON.parse(line));
  assertEquals(frames[0].type, "welcome");
  assertEquals(frames[0].users, ["bob"]);
  assertEquals(frames.map((frame) => frame.type), ["welcome", "entered", "history", "message"]);
  assertEquals([frames[3].from, frames[3].text], ["bob", "for the bot\nsecond line"]);
});

Deno.test("connect exits 1 with the reason when it cannot join", async () => {
  await using server = startServer();
  await using _taken = await join(server, "taken");
  const refused = await runParley(["connect", `:${server.addr.port}`, "--name", "TAKEN"]);
  assertEquals(refused.code, 1);
  assertStringIncludes(refused.stderr, "taken");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const freePort = listener.addr.port;
  listener.close();
  const nobody = await runParley(["connect", `:${freePort}`, "--name", "x"]);
  assertEquals(nobody.code, 1);
  assertStringIncludes(nobody.stderr, "cannot join");
});

Deno.test("deno run works from a URL, with no flag but -A, its checkpointer too", async () => {
  const root = new URL("../", import.meta.url);
  await using dir = await tempDir();
  await using files = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const path = new URL(request.url).pathname;
      try {
        return new Response(await Deno.readFile(new URL(`.${path}`, root)));
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  );
  await using server = new ParleyProcess(
    ["serve", "--db", `${dir.path}/parley.db`, "--port", "0", "--log-level", "debug"],
    {
      command: parleyCommand(`http://127.0.0.1:${files.addr.port}/mod.ts`),
      // The modules come from this test's own loopback server, never through a proxy the
      // machine may be set to use for other addresses.
      env: { NO_PROXY: ["127.0.0.1", Deno.env.get("NO_PROXY")].filter(Boolean).join(",") },
    },
  );
  const [, port] = await server.waitFor(/listening on 127\.0\.0\.1:(\d+)/, "stdout", 60_000);
  // The worker that checkpoints the database was loaded from the URL too.
  await server.waitFor(/checkpointing the database in the background$/m, "stderr");
  await using client = await ChatClient.connect({ port: Number(port), name: "remote" });
  assertMatch(client.welcome.server, /^parley\//);
  server.child.kill("SIGTERM");
  assertEquals(await server.exitCode(), 0);
});
