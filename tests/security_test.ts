// Security: TLS (and reloading its certificate), the server password and its brake on guessing,
// registered names, operators with kick, ban and stats, and names that try to pass for others.

import { DatabaseSync } from "node:sqlite";
import {
  assert,
  assertEquals,
  assertGreater,
  assertLess,
  assertRejects,
  assertStringIncludes,
} from "./_assert.ts";
import { ChatClient, ChatError } from "../client.ts";
import { ChatServer, type ServerOptions } from "../server.ts";
import {
  deadline,
  join,
  nextFrame,
  RawPeer,
  runParley,
  serveProcess,
  startServer,
  tempDir,
} from "./_helpers.ts";
import { install, liveFiles, makeCertificates } from "./_tls.ts";

/** The ChatError a connection attempt fails with. */
async function refusal(options: Parameters<typeof ChatClient.connect>[0]): Promise<ChatError> {
  return await assertRejects(() => ChatClient.connect(options), ChatError);
}

const ignoreWithoutOpenssl = (() => {
  try {
    return !new Deno.Command("openssl", { args: ["version"], stdout: "null" }).outputSync().success;
  } catch {
    return Deno.env.get("CI") !== "true";
  }
})();

Deno.test({
  name: "TLS and plain clients share a room; an untrusted certificate is refused clearly",
  ignore: ignoreWithoutOpenssl,
  async fn() {
    await using dir = await tempDir();
    const certs = await makeCertificates(dir.path, "one");
    await using server = startServer({
      tls: { certFile: certs.certFile, keyFile: certs.keyFile, port: 0 },
    });
    const tlsPort = server.tlsAddr!.port;
    await using secure = await ChatClient.connect({
      port: tlsPort,
      name: "secure",
      tls: { caCerts: [certs.ca] },
    });
    await using plain = await join(server, "plain");
    await nextFrame(secure, "joined");
    plain.send("over plain TCP");
    assertEquals((await nextFrame(secure, "message")).text, "over plain TCP");
    secure.send("over TLS");
    assertEquals((await nextFrame(plain, "message")).text, "over TLS");

    const error = await assertRejects(
      () => ChatClient.connect({ port: tlsPort, name: "trusting", tls: true }),
      Deno.errors.InvalidData,
    );
    assertStringIncludes(error.message, "UnknownIssuer");
    const cli = await runParley(["connect", `127.0.0.1:${tlsPort}`, "--tls", "--name", "cli"]);
    assertEquals(cli.code, 1);
    assertStringIncludes(cli.stderr, "--ca FILE");
    assertEquals(cli.stderr.trim().split("\n").length, 1);
    const trusted = await runParley(
      ["connect", `127.0.0.1:${tlsPort}`, "--tls", "--ca", certs.caFile, "--name", "cli"],
      "hello from the CLI\n",
    );
    assertEquals(trusted.code, 0, trusted.stderr);
    assertEquals((await nextFrame(plain, "message")).text, "hello from the CLI");
  },
});

Deno.test({
  name: "SIGHUP reloads the certificate without dropping anyone",
  ignore: ignoreWithoutOpenssl || Deno.build.os === "windows",
  async fn() {
    await using dir = await tempDir();
    const first = await makeCertificates(dir.path, "first");
    const second = await makeCertificates(dir.path, "second");
    const { certFile, keyFile } = liveFiles(dir.path);
    await install({ certFile, keyFile }, first);
    await using server = await serveProcess([
      "--tls-port",
      "0",
      "--tls-cert",
      certFile,
      "--tls-key",
      keyFile,
    ]);
    const port = Number((await server.waitFor(/listening for TLS on 127\.0\.0\.1:(\d+)/))[1]);
    const connect = (name: string, ca: string) =>
      ChatClient.connect({ port, name, tls: { caCerts: [ca] } });
    await using early = await connect("early", first.ca);

    await install({ certFile, keyFile }, second);
    server.child.kill("SIGHUP");
    await server.waitFor(/TLS certificate reloaded/, "stderr");

    await using late = await connect("late", second.ca);
    await assertRejects(() => connect("stale", first.ca), Deno.errors.InvalidData);
    // The connection made before the reload is still there and works.
    late.send("after the reload");
    assertEquals((await nextFrame(early, "message")).text, "after the reload");

    // A broken certificate file is refused and the working one stays.
    await Deno.writeTextFile(certFile, "not a certificate");
    server.child.kill("SIGHUP");
    await server.waitFor(/not reloaded, the old one stays/, "stderr");
    await using still = await connect("still", second.ca);
    assertEquals(still.welcome.name, "still");
  },
});

Deno.test("server password: missing and wrong are refused, right is let in", async () => {
  await using server = startServer({ password: "open sesame" });
  const port = server.addr.port;
  assertEquals((await refusal({ port, name: "nopass" })).code, "auth_failed");
  assertEquals(
    (await refusal({ port, name: "wrong", serverPassword: "open says me" })).code,
    "auth_failed",
  );
  await using right = await ChatClient.connect({
    port,
    name: "right",
    serverPassword: "open sesame",
  });
  assertEquals(right.welcome.name, "right");
});

Deno.test("repeated wrong passwords from one address are answered ever more slowly", async () => {
  await using server = startServer({ password: "correct horse" });
  const times: number[] = [];
  for (let i = 0; i < 4; i++) {
    const started = performance.now();
    await refusal({ port: server.addr.port, name: `guess${i}`, serverPassword: `guess ${i}` });
    times.push(performance.now() - started);
  }
  // 0, then 100, 200, 400 ms of penalty.
  assertLess(times[0]!, 100);
  assertGreater(times[1]!, 95);
  assertGreater(times[2]!, 195);
  assertGreater(times[3]!, 395);
  // The right password is still accepted, and forgives the address.
  await using _right = await ChatClient.connect({
    port: server.addr.port,
    name: "right",
    serverPassword: "correct horse",
  });
  const started = performance.now();
  await refusal({ port: server.addr.port, name: "again", serverPassword: "nope" });
  assertLess(performance.now() - started, 100);
});

Deno.test("the CLI takes the server password from a file or PARLEY_PASSWORD, never a flag", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/password`;
  await Deno.writeTextFile(file, "s3cret words\n");
  await using server = await serveProcess(["--password-file", file]);
  const port = server.port;
  await using watcher = await ChatClient.connect({
    port,
    name: "watcher",
    serverPassword: "s3cret words",
  });
  const withFile = await runParley(
    ["connect", `:${port}`, "--name", "filed", "--server-password-file", file],
    "via file\n",
  );
  assertEquals(withFile.code, 0, withFile.stderr);
  const without = await runParley(["connect", `:${port}`, "--name", "bare"]);
  assertEquals(without.code, 1);
  assertStringIncludes(without.stderr, "needs a password");
  assertEquals((await nextFrame(watcher, "message")).text, "via file");
  const usage = await runParley(["serve", "--password", "visible"]);
  assertEquals(usage.code, 2);
});

Deno.test("a registered name needs its password; the store keeps only a salted hash", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/accounts.db`;
  const password = "tr0ub4dor&3";
  {
    await using server = startServer({ db });
    await using alice = await join(server, "alice");
    alice.register("short");
    assertEquals((await nextFrame(alice, "error")).code, "weak_password");
    alice.register(password);
    assertStringIncludes((await nextFrame(alice, "notice")).text, "registered");
    // Each registration costs a slow hash: one every 10 seconds per connection.
    alice.register("another password");
    assertEquals((await nextFrame(alice, "error")).code, "rate_limited");
    await alice.quit();
    // Without the password, or with a wrong one: refused. Also under another case or a
    // lookalike spelling of the name.
    const port = server.addr.port;
    assertEquals((await refusal({ port, name: "alice" })).code, "wrong_password");
    assertEquals(
      (await refusal({ port, name: "ALICE", password: "guess" })).code,
      "wrong_password",
    );
    await using back = await ChatClient.connect({ port, name: "Alice", password });
    assertEquals(back.welcome.name, "Alice");
    // Nobody else can take the name with /nick either.
    await using mallory = await join(server, "mallory");
    await back.quit();
    mallory.rename("alice");
    assertEquals((await nextFrame(mallory, "error")).code, "wrong_password");
  }
  // It survives a restart; and the database holds no trace of the password.
  {
    await using server = startServer({ db });
    assertEquals((await refusal({ port: server.addr.port, name: "alice" })).code, "wrong_password");
  }
  const raw = new DatabaseSync(db);
  const row = raw.prepare("SELECT salt, hash, iterations FROM accounts").get() as {
    salt: Uint8Array;
    hash: Uint8Array;
    iterations: number;
  };
  raw.close();
  assertEquals(row.salt.length, 16);
  assertEquals(row.hash.length, 32);
  assertGreater(row.iterations, 100_000);
  const bytes = new TextDecoder("latin1").decode(await Deno.readFile(db));
  assert(!bytes.includes(password), "the password is in the database file");
});

/** A server with `op` as its operator, and `op` joined, registered (with the one-time token an
 * operator name needs) and so proven. */
async function withOperator(options: ServerOptions = {}): Promise<
  { server: ChatServer; op: ChatClient } & AsyncDisposable
> {
  const server = startServer({ operators: ["op"], ...options });
  const op = await join(server, "op");
  op.register("operator password", server.operatorTokens.get("op"));
  await nextFrame(op, "notice");
  return {
    server,
    op,
    async [Symbol.asyncDispose]() {
      op.close();
      await server.shutdown();
    },
  };
}

Deno.test("operators kick; others may not; only operators set topics when there are any", async () => {
  await using fixture = await withOperator();
  const { server, op } = fixture;
  await using alice = await join(server, "alice");
  const bob = await join(server, "bob");
  alice.kick("bob");
  assertEquals((await nextFrame(alice, "error")).code, "not_operator");
  alice.setTopic("lobby", "mine now");
  assertEquals((await nextFrame(alice, "error")).code, "not_operator");
  alice.stats();
  assertEquals((await nextFrame(alice, "error")).code, "not_operator");

  op.kick("bob", "spamming");
  const kicked = await nextFrame(bob, "error");
  assertEquals(kicked.code, "kicked");
  assertStringIncludes(kicked.message, "spamming");
  await deadline(bob.closed, 5000, "bob's connection closes");
  const left = await nextFrame(alice, "left", (frame) => frame.name === "bob");
  assertEquals(left.reason, "kicked");
  assertStringIncludes((await nextFrame(op, "notice")).text, "Kicked bob");

  op.setTopic("lobby", "Be nice");
  assertEquals((await nextFrame(alice, "topic")).topic, "Be nice");
  op.stats();
  const stats = await nextFrame(op, "stats");
  assertEquals([stats.users, stats.connections], [2, 2]);
  assertGreater(stats.memoryBytes, 0);
});

Deno.test("bans by name and by address hold across a restart, and lift", async () => {
  await using dir = await tempDir();
  const db = `${dir.path}/bans.db`;
  {
    await using fixture = await withOperator({ db, hostname: "::" });
    const { server, op } = fixture;
    const port = server.addr.port;
    const carol = await ChatClient.connect({ hostname: "127.0.0.1", port, name: "carol" });
    op.ban("carol", { reason: "trolling" });
    assertEquals((await nextFrame(carol, "error")).code, "banned");
    assertStringIncludes((await nextFrame(op, "notice")).text, "Banned carol");
    await deadline(carol.closed, 5000, "carol is disconnected");
    assertEquals((await refusal({ port, name: "carol" })).code, "banned");
    assertEquals((await refusal({ port, name: "CAROL" })).code, "banned");

    const v6 = await ChatClient.connect({ hostname: "::1", port, name: "sixer" });
    op.ban("::1", { seconds: 3600 });
    assertEquals((await nextFrame(v6, "error")).code, "banned");
    await deadline(v6.closed, 5000, "the ::1 user is disconnected");
    await using refused = await RawPeer.connect(port, "::1");
    assertEquals((await refused.untilClosed()).map((frame) => frame.code), ["banned"]);
    await using v4 = await ChatClient.connect({ hostname: "127.0.0.1", port, name: "fourer" });
    assertEquals(v4.welcome.name, "fourer");
  }
  // The same store, a new server: the bans are still there. Operators lift them.
  await using server = new ChatServer({
    db,
    port: 0,
    hostname: "::",
    operators: ["op"],
    logLevel: "silent",
  });
  const port = server.addr.port;
  assertEquals((await refusal({ port, name: "carol" })).code, "banned");
  await using refused = await RawPeer.connect(port, "::1");
  assertEquals((await refused.untilClosed()).map((frame) => frame.code), ["banned"]);
  await using op = await ChatClient.connect({ port, name: "op", password: "operator password" });
  assertEquals(op.welcome.operator, true);
  op.unban("carol");
  await nextFrame(op, "notice");
  op.unban("::1");
  await nextFrame(op, "notice");
  op.unban("nobody");
  assertEquals((await nextFrame(op, "error")).code, "no_such_ban");
  await using carol = await ChatClient.connect({ port, name: "carol" });
  await using v6 = await ChatClient.connect({ hostname: "::1", port, name: "sixer" });
  assertEquals([carol.welcome.name, v6.welcome.name], ["carol", "sixer"]);
});

Deno.test("a ban for a while ends by itself", async () => {
  await using fixture = await withOperator();
  const { server, op } = fixture;
  op.ban("dave", { seconds: 1 });
  await nextFrame(op, "notice");
  assertEquals((await refusal({ port: server.addr.port, name: "dave" })).code, "banned");
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await using dave = await join(server, "dave");
  assertEquals(dave.welcome.name, "dave");
});

Deno.test("an operator name gives no powers until it is registered", async () => {
  await using server = startServer({ operators: ["boss"] });
  await using boss = await join(server, "boss");
  assertEquals(boss.welcome.operator, undefined);
  boss.stats();
  assertEquals((await nextFrame(boss, "error")).code, "not_operator");
});

Deno.test("names that pass for others are refused", async () => {
  await using server = startServer();
  await using _alice = await join(server, "alice");
  await using _ace = await join(server, "ace");
  await using _ian = await join(server, "Ian");
  const port = server.addr.port;
  const cases: [string, string][] = [
    ["Alice", "name_taken"], // case
    ["ＡＬＩＣＥ", "name_taken"], // fullwidth
    ["\u0430lice", "invalid_name"], // Cyrillic а among Latin letters: mixed scripts
    ["\u0430\u0441\u0435", "name_taken"], // all Cyrillic, looks like "ace"
    ["lan", "name_taken"], // l for I
    ["ali\u200dce", "invalid_name"], // zero-width joiner
    ["ali\u200bce", "invalid_name"], // zero-width space
    ["\u202eecila", "invalid_name"], // right-to-left override
    ["alice\u2066", "invalid_name"], // bidi isolate
  ];
  for (const [name, code] of cases) {
    assertEquals((await refusal({ port, name })).code, code, JSON.stringify(name));
  }
  // Scripts that are written together are fine, as are names in one other script.
  for (const name of ["日本語かな", "한국어漢字", "Алиса", "Ελένη"]) {
    await using client = await ChatClient.connect({ port, name });
    assertEquals(client.welcome.name, name);
  }
});
