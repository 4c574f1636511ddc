// The real `parley serve` and its database: a bad file or one another server holds is refused
// at start with one line and exit code 1; a full disk is reported by its real cause, once; the
// size bound holds against a client that writes without pause.

import { assert, assertEquals, assertLess, assertMatch } from "./_assert.ts";
import { ParleyProcess, RawPeer, serveProcess, tempDir } from "./_helpers.ts";
import { BAD_DATABASES, CAN_MOUNT, withTmpfs } from "./_storage.ts";

const MIB = 1024 * 1024;

/** The non-empty lines of `text`. */
function lines(text: string): string[] {
  return text.split("\n").filter((line) => line.trim() !== "");
}

/** Runs `parley serve` on `db` and expects it to refuse: exit code 1 and one line on stderr,
 * which it returns. */
async function refusal(db: string): Promise<string> {
  await using server = new ParleyProcess(["serve", "--db", db, "--port", "0"]);
  const code = await server.exitCode(20_000);
  const said = lines(server.stderr);
  assertEquals(code, 1, `exit code; stderr:\n${server.stderr}`);
  assertEquals(said.length, 1, `one line, no stack trace:\n${server.stderr}`);
  assert(!server.stdout.includes("listening"), server.stdout);
  assert(said[0]!.startsWith(`parley: cannot use database ${db}: `), said[0]);
  return said[0]!;
}

for (const bad of BAD_DATABASES) {
  Deno.test(`parley serve refuses ${bad.kind}: one line, exit code 1`, async () => {
    await using dir = await tempDir();
    const db = `${dir.path}/bad.db`;
    await bad.make(db);
    const line = await refusal(db);
    assertMatch(line, bad.cause);
    assertMatch(line, /; (restore a backup|move it aside|give --db)/);
  });
}

Deno.test("a second parley serve on one database refuses to start; the first carries on", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/shared.db`;
  await using first = await serveProcess(["--db", db]);
  const line = await refusal(db);
  assertMatch(line, new RegExp(`another Parley server \\(pid ${first.child.pid}\\) holds it`));
  assertMatch(line, /stop that server, or give this one its own --db$/);
  // The first still stores and answers.
  await using peer = await RawPeer.connect(first.port);
  assertEquals((await peer.hello("alice")).type, "welcome");
  await peer.send({ type: "send", text: "still here" });
  await peer.send({ type: "history", room: "lobby" });
  const history = await peer.frame();
  assertEquals(history.type, "history");
  assertEquals((history.messages as { text: string }[]).map((m) => m.text), ["still here"]);
});

Deno.test({
  name: "parley serve on a full disk: clients get store_failed, the log names the cause once",
  ignore: !CAN_MOUNT,
  async fn() {
    await withTmpfs(2 * MIB, async (dir) => {
      await Deno.writeFile(`${dir}/filler`, new Uint8Array(MIB));
      const db = `${dir}/full.db`;
      await using server = await serveProcess(["--db", db, "--rate", "0", "--log-level", "info"]);
      await using peer = await RawPeer.connect(server.port);
      assertEquals((await peer.hello("alice")).type, "welcome");
      const sent = 150;
      for (let i = 0; i < sent; i++) {
        await peer.send({ type: "send", text: `${i} `.padEnd(20_000, "x") });
      }
      await peer.send({ type: "ping", id: "done" });
      let refused = 0;
      for (let frame = await peer.frame(); frame.type !== "pong"; frame = await peer.frame()) {
        if (frame.type === "error") {
          assertEquals(frame.code, "store_failed", JSON.stringify(frame));
          refused++;
        }
      }
      assert(refused > 50, `only ${refused} of ${sent} refused: the disk did not fill`);
      server.child.kill("SIGTERM");
      assertEquals(await server.exitCode(), 0, server.stderr);
      const log = lines(server.stderr);
      assertEquals(log.filter((line) => line.includes("cannot rollback")), []);
      const errors = log.filter((line) => / ERROR .*disk is full/.test(line));
      assertEquals(errors.length, 1, `once, not per failure:\n${errors.join("\n")}`);
    });
  },
});

Deno.test("parley serve --max-db-bytes holds the database and its log under the bound", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/bounded.db`;
  const bound = 2 * MIB;
  await using server = await serveProcess([
    "--db",
    db,
    "--rate",
    "0",
    "--max-db-bytes",
    `${bound}`,
  ]);
  await using peer = await RawPeer.connect(server.port);
  assertEquals((await peer.hello("alice")).type, "welcome");
  const size = async (path: string) => {
    try {
      return (await Deno.stat(path)).size;
    } catch {
      return 0;
    }
  };
  let largest = 0;
  // 12 MiB in all, six times the bound, with a ping now and then to let the server keep up.
  for (let i = 0; i < 600; i++) {
    await peer.send({ type: "send", text: `${i} `.padEnd(20_000, "x") });
    if (i % 50 === 49) {
      await peer.send({ type: "ping", id: i });
      while ((await peer.frame()).type !== "pong");
      largest = Math.max(largest, (await size(db)) + (await size(`${db}-wal`)));
    }
  }
  // The bound, its log (1 MiB for a 2 MiB bound), and what arrives between two looks: up to 50
  // messages, 1 MiB, which a loaded server may take in one batch, one transaction in the log.
  assertLess(largest, bound + 2 * MIB + 256 * 1024, `database and log reached ${largest} bytes`);
  await peer.send({ type: "history", room: "lobby", limit: 1 });
  const history = await peer.frame();
  assertMatch((history.messages as { text: string }[])[0]!.text, /^599 /);
});
