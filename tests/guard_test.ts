// The guard against an attacker: operator names that are not registered yet cannot be squatted,
// IP bans hold in every spelling of an address and for ranges (also for IPv4 clients of a
// dual-stack listener), and password hashing has a bound for the whole server.

import { connect, type Socket } from "node:net";
import { assert, assertEquals, assertLess, assertMatch, assertStringIncludes } from "./_assert.ts";
import { ChatClient } from "../client.ts";
import { parseCommand } from "../_text/commands.ts";
import { foldName } from "../protocol.ts";
import type { ChatServer, ServerOptions } from "../server.ts";
import { deadline, nextFrame, RawPeer, serveProcess, startServer, tempDir } from "./_helpers.ts";

/**
 * A raw connection from a loopback address of our choosing (all of 127.0.0.0/8 is loopback on
 * Linux): node:net can bind the local end of a connection, Deno.connect cannot.
 */
class PeerFrom implements AsyncDisposable {
  #socket: Socket;
  #buffered = "";
  #lines: string[] = [];
  #ended = false;
  #changed = Promise.withResolvers<void>();
  #closed: Promise<void>;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding("utf8");
    socket.on("data", (text: string) => {
      this.#buffered += text;
      for (let end = this.#buffered.indexOf("\n"); end !== -1; end = this.#buffered.indexOf("\n")) {
        this.#lines.push(this.#buffered.slice(0, end));
        this.#buffered = this.#buffered.slice(end + 1);
      }
      this.#wake();
    });
    socket.on("error", () => {
      // A reset: the same as the end, for these tests.
    });
    this.#closed = new Promise((resolve) => socket.once("close", () => resolve()));
    this.#closed.then(() => {
      this.#ended = true;
      this.#wake();
    });
  }

  /** Connects to `port` on 127.0.0.1 from `from`. */
  static open(from: string, port: number): Promise<PeerFrom> {
    return deadline(
      new Promise((resolve, reject) => {
        const socket = connect({ host: "127.0.0.1", port, localAddress: from });
        socket.once("connect", () => resolve(new PeerFrom(socket)));
        socket.once("error", reject);
      }),
      5000,
      `connecting from ${from}`,
    );
  }

  /** Writes `frame` as one JSON line. */
  send(frame: unknown): void {
    this.#socket.write(JSON.stringify(frame) + "\n");
  }

  /** The next frame; undefined if the server closes the connection first. */
  async frame(ms = 5000): Promise<Record<string, unknown> | undefined> {
    const started = performance.now();
    while (this.#lines.length === 0 && !this.#ended) {
      await deadline(this.#changed.promise, ms - (performance.now() - started), "a frame");
    }
    const line = this.#lines.shift();
    return line === undefined ? undefined : JSON.parse(line);
  }

  /** Says hello as `name` (with `password`, if given) and returns the answer. */
  async hello(name: string, password?: string): Promise<Record<string, unknown> | undefined> {
    this.send(password === undefined ? { type: "hello", name } : { type: "hello", name, password });
    return await this.frame();
  }

  /** The frames until the server closes the connection. */
  async untilClosed(ms = 5000): Promise<Record<string, unknown>[]> {
    const frames = [];
    for (let frame = await this.frame(ms); frame !== undefined; frame = await this.frame(ms)) {
      frames.push(frame);
    }
    return frames;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#socket.destroy();
    await this.#closed;
  }

  #wake(): void {
    this.#changed.resolve();
    this.#changed = Promise.withResolvers<void>();
  }
}

/** Whether all of 127.0.0.0/8 reaches this machine (Linux), for connections from 127.0.0.2 on. */
const WHOLE_LOOPBACK = Deno.build.os === "linux";

/** Connects `name` from `hostname` and makes it an operator with the name's one-time token. */
async function operator(server: ChatServer, name: string, hostname: string): Promise<ChatClient> {
  const client = await ChatClient.connect({ hostname, port: server.addr.port, name });
  client.register(`${name}'s password`, server.operatorTokens?.get(name));
  assertStringIncludes((await nextFrame(client, "notice")).text, "registered");
  return client;
}

/** The codes of the frames a connection from `hostname` gets until it is closed. */
async function refusedCodes(port: number, hostname: string): Promise<unknown[]> {
  await using peer = await RawPeer.connect(port, hostname);
  return (await peer.untilClosed()).map((frame) => frame.code);
}

Deno.test("an operator name not yet registered cannot be taken in any spelling without its token", async () => {
  await using server = startServer({ operators: ["admin"] });
  const port = server.addr.port;
  const squatter = await ChatClient.connect({ port, name: "admin" });
  squatter.register("squatter's password");
  assertEquals((await nextFrame(squatter, "error")).code, "not_operator");
  squatter.register("squatter's password", "0123456789abcdef0123456789abcdef");
  assertEquals((await nextFrame(squatter, "error")).code, "not_operator");
  squatter.stats();
  assertEquals((await nextFrame(squatter, "error")).code, "not_operator");
  await squatter.quit();
  // Spellings that fold to the operator's name are the operator's name: fullwidth, and the
  // all-Lisu lookalike (one script, so a valid name).
  for (const spelling of ["ＡＤＭＩＮ", "\ua4ee\ua4d3\ua4df\ua4f2\ua4e0"]) {
    assertEquals(foldName(spelling), foldName("admin"), spelling);
    const lookalike = await ChatClient.connect({ port, name: spelling });
    lookalike.register("squatter's password");
    assertEquals((await nextFrame(lookalike, "error")).code, "not_operator", spelling);
    await lookalike.quit();
  }

  // The operator, with the token the server made at start: registered, and powerful.
  const token = server.operatorTokens.get("admin");
  assertMatch(token ?? "", /^[0-9a-f]{32}$/);
  const admin = await ChatClient.connect({ port, name: "admin" });
  admin.register("admin's password", token);
  assertStringIncludes((await nextFrame(admin, "notice")).text, "registered");
  admin.stats();
  assertEquals((await nextFrame(admin, "stats")).users, 1);
  assertEquals(server.operatorTokens.size, 0, "the token is used up");
  await admin.quit();
  // From now on the name is its password's; its owner may change that without a token.
  const back = await ChatClient.connect({ port, name: "admin", password: "admin's password" });
  assertEquals(back.welcome.operator, true);
  back.register("admin's new password");
  assertStringIncludes((await nextFrame(back, "notice")).text, "registered");
  await back.quit();
  await using again = await ChatClient.connect({
    port,
    name: "ADMIN",
    password: "admin's new password",
  });
  assertEquals(again.welcome.operator, true);
});

Deno.test("parley serve prints each unregistered operator name as given, with its token", async () => {
  {
    // At the default log level, in the log; the name as configured, not folded.
    await using server = await serveProcess(["--operators", "admin,Ops", "--log-level", "info"]);
    const line =
      /operator name "admin" is not registered: connect as admin and \/register PASSWORD ([0-9a-f]{32})/;
    const [, token] = await server.waitFor(line, "stderr", 5000);
    await server.waitFor(/operator name "Ops" is not registered/, "stderr", 5000);
    await using admin = await ChatClient.connect({ port: server.port, name: "admin" });
    admin.register("admin's password", token);
    assertStringIncludes((await nextFrame(admin, "notice")).text, "registered");
    admin.stats();
    assertEquals((await nextFrame(admin, "stats")).users, 1);
  }
  {
    // With the log silenced, the CLI still prints it: without it nobody could be the operator.
    await using server = await serveProcess(["--operators", "admin"]);
    await server.waitFor(
      /parley: operator name "admin" is not registered: .* [0-9a-f]{32}$/m,
      "stderr",
      5000,
    );
  }
});

Deno.test("/register PASSWORD TOKEN passes the token", () => {
  assertEquals(parseCommand("/register hunter22 0a1b2c"), {
    type: "register",
    password: "hunter22",
    token: "0a1b2c",
  });
  assertEquals(parseCommand("/register hunter22"), { type: "register", password: "hunter22" });
  assertEquals(parseCommand("/register a b c").type, "invalid");
});

Deno.test("an IP ban holds in every spelling of ::1, and lifts in any", async () => {
  await using server = startServer({ hostname: "::", operators: ["op"] });
  const port = server.addr.port;
  await using op = await operator(server, "op", "127.0.0.1");
  const spellings = ["0:0:0:0:0:0:0:1", "0::1", "::0001", "0000:0000::0:0001", "::1"];
  for (const [i, spelling] of spellings.entries()) {
    const v6 = await ChatClient.connect({ hostname: "::1", port, name: "sixer" });
    op.ban(spelling);
    assertEquals((await nextFrame(v6, "error")).code, "banned", spelling);
    await deadline(v6.closed, 5000, "the ::1 user is disconnected");
    assertEquals(await refusedCodes(port, "::1"), ["banned"], spelling);
    assertEquals((await nextFrame(op, "notice")).text, "Banned ::1 for good", spelling);
    // Lifted under another spelling.
    op.unban(spellings[(i + 1) % spellings.length]!);
    assertEquals((await nextFrame(op, "notice")).text.startsWith("Unbanned"), true, spelling);
  }
  await using back = await ChatClient.connect({ hostname: "::1", port, name: "sixer" });
  assertEquals(back.welcome.name, "sixer");
});

/** Spellings of the IPv4 address 127.0.0.`last` (`last` under 10). */
function ipv4Spellings(last: number): string[] {
  return [
    `127.0.0.${last}`,
    `127.000.000.00${last}`,
    `::ffff:127.0.0.${last}`,
    `::FFFF:7f00:${last}`,
    `0:0:0:0:0:ffff:127.0.0.${last}`,
  ];
}

Deno.test(
  "an IP ban holds in every spelling of an IPv4 address",
  { ignore: !WHOLE_LOOPBACK },
  async () => {
    // The operator on 127.0.0.1 bans 127.0.0.2, whatever the spelling; 127.0.0.3 still gets in.
    await using server = startServer({ operators: ["op"] });
    const port = server.addr.port;
    await using op = await operator(server, "op", "127.0.0.1");
    for (const [i, spelling] of ipv4Spellings(2).entries()) {
      await using victim = await PeerFrom.open("127.0.0.2", port);
      assertEquals((await victim.hello("victim"))?.type, "welcome", spelling);
      op.ban(spelling);
      const dropped = (await victim.untilClosed()).filter((frame) => frame.type === "error");
      assertEquals(dropped.map((frame) => frame.code), ["banned"], spelling);
      await using again = await PeerFrom.open("127.0.0.2", port);
      assertEquals((await again.untilClosed()).map((frame) => frame.code), ["banned"], spelling);
      assertEquals((await nextFrame(op, "notice")).text, "Banned 127.0.0.2 for good", spelling);
      await using neighbour = await PeerFrom.open("127.0.0.3", port);
      assertEquals((await neighbour.hello(`neighbour${i}`))?.type, "welcome", spelling);
      op.unban(spelling);
      assertStringIncludes((await nextFrame(op, "notice")).text, "Unbanned");
    }
  },
);

Deno.test("on a dual-stack listener, an IPv4 client is banned as its IPv4 address", async () => {
  // IPv4 clients arrive as ::ffff:127.0.0.1, and are 127.0.0.1 all the same.
  await using server = startServer({ hostname: "::", operators: ["op"] });
  const port = server.addr.port;
  await using op = await operator(server, "op", "::1");
  for (const spelling of ipv4Spellings(1)) {
    const v4 = await ChatClient.connect({ hostname: "127.0.0.1", port, name: "fourer" });
    op.ban(spelling);
    assertEquals((await nextFrame(v4, "error")).code, "banned", spelling);
    await deadline(v4.closed, 5000, "the IPv4 user is disconnected");
    assertEquals(await refusedCodes(port, "127.0.0.1"), ["banned"], spelling);
    assertEquals((await nextFrame(op, "notice")).text, "Banned 127.0.0.1 for good", spelling);
    op.unban(spelling);
    assertStringIncludes((await nextFrame(op, "notice")).text, "Unbanned");
  }
  // ::1 is another address.
  await using v6 = await ChatClient.connect({ hostname: "::1", port, name: "sixer" });
  assertEquals(v6.welcome.name, "sixer");
});

Deno.test(
  "a CIDR range bans every address in it and no other",
  { ignore: !WHOLE_LOOPBACK },
  async () => {
    {
      await using server = startServer({ operators: ["op"] });
      const port = server.addr.port;
      await using op = await operator(server, "op", "127.0.0.1");
      await using inside = await PeerFrom.open("127.0.0.6", port);
      assertEquals((await inside.hello("inside"))?.type, "welcome");
      op.ban("127.0.0.4/30", { seconds: 3600 });
      assertStringIncludes((await nextFrame(op, "notice")).text, "Banned 127.0.0.4/30 until");
      const dropped = (await inside.untilClosed()).filter((frame) => frame.type === "error");
      assertEquals(dropped.map((frame) => frame.code), ["banned"]);
      for (const from of ["127.0.0.4", "127.0.0.5", "127.0.0.7"]) {
        await using peer = await PeerFrom.open(from, port);
        assertEquals((await peer.untilClosed()).map((frame) => frame.code), ["banned"], from);
      }
      for (const from of ["127.0.0.3", "127.0.0.8"]) {
        await using peer = await PeerFrom.open(from, port);
        assertEquals((await peer.hello(`at${from.replaceAll(".", "_")}`))?.type, "welcome", from);
      }
      // Lifted under another spelling of the same range.
      op.unban("::ffff:127.0.0.4/126");
      assertStringIncludes((await nextFrame(op, "notice")).text, "Unbanned");
      await using freed = await PeerFrom.open("127.0.0.5", port);
      assertEquals((await freed.hello("freed"))?.type, "welcome");
    }
    {
      // An IPv6 range: ::1 is in ::/96; IPv4 clients of the same listener are not.
      await using server = startServer({ hostname: "::", operators: ["op"] });
      const port = server.addr.port;
      await using op = await operator(server, "op", "127.0.0.1");
      op.ban("0::/96");
      assertEquals((await nextFrame(op, "notice")).text, "Banned ::/96 for good");
      assertEquals(await refusedCodes(port, "::1"), ["banned"]);
      await using v4 = await ChatClient.connect({ hostname: "127.0.0.1", port, name: "fourer" });
      assertEquals(v4.welcome.name, "fourer");
    }
  },
);

Deno.test("a ban target that is neither an address, a range nor a name is refused", async () => {
  await using server = startServer({ operators: ["op"] });
  await using op = await operator(server, "op", "127.0.0.1");
  const cases: [string, string][] = [
    ["999.1.1.1", "not an IPv4 or IPv6 address"],
    ["127.0.0.1/33", "prefix length"],
    ["10.1.2.3/8", "did you mean 10.0.0.0/8"],
    ["1::2::3", "not a valid IPv6"],
    ["::ffff:127.0.0.256", "not a valid IPv6"],
    ["gggg::1", "not a valid IPv6"],
    ["fe80::1%eth0", "not a valid IPv6"],
    ["bad name!", "neither a name nor an IP address"],
  ];
  for (const [target, why] of cases) {
    op.ban(target);
    const refusal = await nextFrame(op, "error");
    assertEquals(refusal.code, "invalid_name", target);
    assertStringIncludes(refusal.message, why, target);
  }
  // Nothing was banned: the operator's own address still gets in.
  await using peer = await RawPeer.connect(server);
  assertEquals((await peer.hello("still"))?.type, "welcome");
});

Deno.test("password hashing has a bound for the whole server: past it, rate_limited at once", {
  ignore: !WHOLE_LOOPBACK,
}, async () => {
  await using server = startServer();
  const port = server.addr.port;
  const victim = await ChatClient.connect({ port, name: "victim" });
  victim.register("the victim's password");
  await nextFrame(victim, "notice");
  await victim.quit();
  await using bystander = await ChatClient.connect({ port, name: "bystander" });
  // 8 addresses, 4 connections each, all guessing at once.
  const guessers = await Promise.all(
    Array.from({ length: 32 }, (_, i) => PeerFrom.open(`127.0.0.${2 + i % 8}`, port)),
  );
  try {
    const started = performance.now();
    const answers = guessers.map(async (peer, i) => {
      const answer = await peer.hello("victim", `guess ${i}`);
      return { code: answer?.code, message: answer?.message, ms: performance.now() - started };
    });
    const pinged = bystander.ping();
    const results = await deadline(Promise.all(answers), 20_000, "every guess answered");
    const rtt = await deadline(pinged, 5000, "the bystander's pong");
    const busy = results.filter((result) => result.code === "rate_limited");
    const wrong = results.filter((result) => result.code === "wrong_password");
    assertEquals(busy.length + wrong.length, guessers.length, JSON.stringify(results));
    assert(busy.length > 0, "some guesses are refused without hashing");
    for (const result of busy) {
      assertStringIncludes(String(result.message), "busy checking passwords");
      assertLess(result.ms, 1000, "refused at once");
    }
    assertLess(rtt, 1000, "the bystander's ping is answered meanwhile");
  } finally {
    await Promise.all(guessers.map((peer) => peer[Symbol.asyncDispose]()));
  }
});

Deno.test("guessers who keep the hashing queue full do not keep others from their names", {
  ignore: !WHOLE_LOOPBACK,
}, async () => {
  await using server = startServer();
  const port = server.addr.port;
  for (const name of ["victim", "alice"]) {
    const owner = await ChatClient.connect({ port, name });
    owner.register(`${name}'s password`);
    await nextFrame(owner, "notice");
    await owner.quit();
  }
  // 8 addresses guess wrong once, so they are on record; then 4 times each at once.
  const addresses = Array.from({ length: 8 }, (_, i) => `127.0.0.${2 + i}`);
  const guessers = await Promise.all(
    addresses.flatMap((from) => Array.from({ length: 4 }, () => PeerFrom.open(from, port))),
  );
  try {
    const first = await Promise.all(
      guessers.filter((_, i) => i % 4 === 0).map((peer, i) => peer.hello("victim", `guess ${i}`)),
    );
    assertEquals(first.map((answer) => answer?.code), new Array(8).fill("wrong_password"));
    const wave = guessers.map((peer, i) => peer.hello("victim", `another guess ${i}`));
    await new Promise((resolve) => setTimeout(resolve, 30));
    // alice, from an address with no wrong guesses, goes ahead of them.
    await using alice = await PeerFrom.open("127.0.0.1", port);
    const welcome = await alice.hello("alice", "alice's password");
    assertEquals(welcome?.type, "welcome", JSON.stringify(welcome));
    const answers = await deadline(Promise.all(wave), 20_000, "every guess answered");
    assert(answers.some((answer) => answer?.code === "rate_limited"), "the queue was full");
  } finally {
    await Promise.all(guessers.map((peer) => peer[Symbol.asyncDispose]()));
  }
});

Deno.test(
  "a ban loaded from the store at start holds for its range",
  { ignore: !WHOLE_LOOPBACK },
  async () => {
    await using dir = await tempDir();
    const options: ServerOptions = { db: `${dir.path}/bans.db`, operators: ["op"] };
    {
      await using server = startServer(options);
      await using op = await operator(server, "op", "127.0.0.1");
      op.ban("127.0.0.8/29");
      await nextFrame(op, "notice");
    }
    await using server = startServer(options);
    await using peer = await PeerFrom.open("127.0.0.12", server.addr.port);
    assertEquals((await peer.untilClosed()).map((frame) => frame.code), ["banned"]);
    await using neighbour = await PeerFrom.open("127.0.0.16", server.addr.port);
    assertEquals((await neighbour.hello("neighbour"))?.type, "welcome");
  },
);
