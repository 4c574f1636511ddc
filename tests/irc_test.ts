// IRC (`ircPort`) over raw sockets: registration with and without CAP, the errors of registration,
// channels and messages both ways with Parley's own client, history with its original times,
// SASL PLAIN, line lengths, and hostile clients.

import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { framesUntil, join, LinePeer, startServer, tempDir } from "./_helpers.ts";
import { Tmux } from "./_tmux.ts";
import { makeCertificates } from "./_tls.ts";
import type { ChatServer } from "../server.ts";
import type { ServerFrame } from "../protocol.ts";

const encoder = new TextEncoder();

/** A raw socket to the IRC port of `server`. */
function connectIrc(server: ChatServer): Promise<LinePeer> {
  return LinePeer.connect(server.ircAddr!.port, "the IRC port");
}

/** An IRC peer registered as `nick` (without CAP), past the welcome and the default room. */
async function joinIrc(server: ChatServer, nick: string, caps: string[] = []): Promise<LinePeer> {
  const peer = await connectIrc(server);
  if (caps.length > 0) await peer.write(`CAP LS 302\r\nCAP REQ :${caps.join(" ")}\r\n`);
  await peer.write(`NICK ${nick}\r\nUSER ${nick} 0 * :${nick}\r\n`);
  if (caps.length > 0) {
    await peer.expectLine(/^:parley CAP \* ACK/);
    await peer.write("CAP END\r\n");
  }
  await peer.expectLine(new RegExp(`^:parley 001 ${nick} `));
  await peer.expectLine(/^:parley 366 \S+ #lobby /);
  return peer;
}

const HEAD = (nick: string) => `:${nick}!${nick}@parley`;

Deno.test("irc: registration without CAP: the welcome numerics, then #lobby", async () => {
  await using server = startServer({ ircPort: 0 });
  await using bob = await join(server, "bob");
  await using irc = await connectIrc(server);
  await irc.write("NICK alice\r\nUSER alice 0 * :Alice A\r\n");
  const lines = await irc.expectLine(/ 366 /);
  const numerics = lines.map((line) => line.split(" ")[1]);
  assertEquals(numerics, [
    "001",
    "002",
    "003",
    "004",
    "005",
    "251",
    "255",
    "422",
    "JOIN",
    "353",
    "366",
  ]);
  assertMatch(lines[0]!, /^:parley 001 alice :Welcome to the Parley IRC gateway, alice$/);
  assertEquals(
    lines[4],
    ":parley 005 alice CASEMAPPING=ascii CHANTYPES=# PREFIX=(o)@ CHANMODES=b,,, " +
      "NETWORK=Parley NICKLEN=32 CHANNELLEN=65 TOPICLEN=500 :are supported by this server",
  );
  assertEquals(lines[8], `${HEAD("alice")} JOIN #lobby`);
  assertEquals(lines[9], ":parley 353 alice = #lobby :alice bob");
  await framesUntil(bob, (f) => f.type === "joined" && f.name === "alice", 5000, "alice joins");
});

Deno.test("irc: CAP LS 302, REQ, NAK, END with PASS; 451 before registration", async () => {
  await using server = startServer({ ircPort: 0, password: "sesame" });
  await using irc = await connectIrc(server);
  // irssi's probe for CAP support, and any other command, before registration.
  await irc.write("JOIN :\r\nPRIVMSG #lobby :hi\r\nCAP LS 302\r\n");
  assertEquals(await irc.expectLine(/ CAP /), [
    ":parley 451 * :You have not registered",
    ":parley 451 * :You have not registered",
    ":parley CAP * LS :server-time message-tags echo-message batch sasl=PLAIN",
  ]);
  await irc.write(
    "PASS sesame\r\nNICK alice\r\nUSER a 0 * :A\r\nCAP REQ :server-time away-notify\r\n",
  );
  assertEquals(await irc.expectLine(/ CAP /), [":parley CAP alice NAK :server-time away-notify"]);
  await irc.write("CAP REQ :server-time echo-message\r\nCAP LIST\r\n");
  await irc.expectLine(/^:parley CAP alice ACK :server-time echo-message$/);
  await irc.expectLine(/^:parley CAP alice LIST :server-time echo-message$/);
  // Nothing is welcomed until CAP END.
  await irc.write("PING :x\r\n");
  assertEquals(await irc.expectLine(/PONG/), [":parley PONG parley :x"]);
  await irc.write("CAP END\r\n");
  await irc.expectLine(/^:parley 001 alice /);
  await irc.expectLine(/ 366 alice #lobby /);
  await irc.write("USER again 0 * :x\r\nPASS x\r\n");
  await irc.expectLine(/^:parley 462 alice :You may not reregister$/);
  await irc.expectLine(/^:parley 462 /);
});

Deno.test("irc: registration errors: 433, 432, 431, 461, a wrong PASS (464, then ERROR)", async () => {
  await using server = startServer({ ircPort: 0, password: "sesame" });
  await using bob = await join(server, "bob").catch(() => undefined);
  assertEquals(bob, undefined, "the server has a password");
  {
    await using irc = await connectIrc(server);
    await irc.write("PASS wrong\r\nNICK alice\r\nUSER a 0 * :A\r\n");
    const rest = await irc.linesUntilClosed();
    assertEquals(rest.length, 2, JSON.stringify(rest));
    assertMatch(rest[0]!, /^:parley 464 alice :Wrong server password/);
    assertMatch(rest[1]!, /^ERROR :Closing link: /);
  }
  await using first = await connectIrc(server);
  await first.write("PASS sesame\r\nNICK bob\r\nUSER b 0 * :B\r\n");
  await first.expectLine(/ 001 bob /);
  await using irc = await connectIrc(server);
  await irc.write("PASS sesame\r\nUSER a 0 *\r\nUSER a 0 * :A\r\nNICK\r\nNICK BOB\r\n");
  const refused = await irc.expectLine(/ 433 /);
  assertEquals(refused.slice(0, -1), [
    ":parley 461 * USER :Not enough parameters",
    ":parley 431 * :No nickname given",
  ]);
  assertMatch(refused.at(-1)!, /^:parley 433 \* BOB :/);
  await irc.write("NICK bad@name\r\n");
  await irc.expectLine(/^:parley 432 \* bad@name :/);
  await irc.write("NICK alice\r\n");
  await irc.expectLine(/^:parley 001 alice /);
});

Deno.test("irc: JOIN, PRIVMSG both ways with a ChatClient, ACTION, private messages, PART, QUIT", async () => {
  await using server = startServer({ ircPort: 0 });
  await using bob = await join(server, "bob");
  await using irc = await joinIrc(server, "alice");
  bob.join("ops");
  await framesUntil(bob, (f) => f.type === "entered" && f.room === "ops", 5000, "bob in ops");
  await irc.write("JOIN nochannel,#ops\r\n");
  assertEquals(await irc.expectLine(/ 366 /), [
    ":parley 403 alice nochannel :No such channel",
    `${HEAD("alice")} JOIN #ops`,
    ":parley 353 alice = #ops :alice bob",
    ":parley 366 alice #ops :End of NAMES list",
  ]);
  await framesUntil(bob, (f) => f.type === "joined" && f.room === "ops", 5000, "alice in ops");

  await irc.write(
    "PRIVMSG #ops :hello bob\r\nPRIVMSG #ops :\x01ACTION waves\x01\r\nPRIVMSG bob :psst\r\n",
  );
  const got = await framesUntil(
    bob,
    (f) => f.type === "message" && f.action === true,
    5000,
    "alice's message and action",
  );
  const fromAlice = (frames: ServerFrame[]) =>
    frames.filter((f): f is Extract<ServerFrame, { type: "message" | "private" }> =>
      (f.type === "message" || f.type === "private") && f.from === "alice"
    );
  const more = got.some((f) => f.type === "private")
    ? []
    : await framesUntil(bob, (f) => f.type === "private", 5000, "alice's private message");
  const seen = fromAlice([...got, ...more]).map((f) =>
    f.type === "message" ? `${f.room} ${f.action ? "*" : ""}${f.text}` : `-> ${f.text}`
  );
  assertEquals(seen.sort(), ["-> psst", "ops *waves", "ops hello bob"]);

  bob.send("hi alice", { room: "ops" });
  bob.send("two\nlines", { room: "ops" });
  bob.send("waves back", { room: "ops", action: true });
  const lines = await irc.expectLine(/ACTION waves back/);
  // A private message is delivered at once, room messages once stored: asked for after them.
  bob.msg("alice", "back at you");
  lines.push(...await irc.expectLine(/back at you/));
  assertEquals(lines, [
    `${HEAD("bob")} PRIVMSG #ops :hi alice`,
    `${HEAD("bob")} PRIVMSG #ops :two`,
    `${HEAD("bob")} PRIVMSG #ops :lines`,
    `${HEAD("bob")} PRIVMSG #ops :\x01ACTION waves back\x01`,
    `${HEAD("bob")} PRIVMSG alice :back at you`,
  ]);
  // Nothing alice sent came back to her: she did not ask for echo-message.
  assert(
    !irc.lines.some((line) => line.startsWith(HEAD("alice") + " PRIVMSG")),
    irc.lines.join("\n"),
  );

  await irc.write("PART #ops\r\n");
  assertEquals(await irc.expectLine(/PART/), [`${HEAD("alice")} PART #ops`]);
  await framesUntil(
    bob,
    (f) => f.type === "left" && f.room === "ops" && f.reason === "part",
    5000,
    "alice leaves ops",
  );
  await irc.write("QUIT :bye\r\n");
  const rest = await irc.linesUntilClosed();
  assertEquals(rest, ["ERROR :Closing link: Quit"]);
  await framesUntil(
    bob,
    (f) => f.type === "left" && f.name === "alice" && f.reason === "quit",
    5000,
    "alice quits",
  );
});

Deno.test("irc: history on JOIN with server-time and batch carries the original times", async () => {
  await using server = startServer({ ircPort: 0 });
  await using bob = await join(server, "bob");
  bob.join("old");
  bob.send("first", { room: "old" });
  bob.send("second\nthird", { room: "old" });
  const sent = await framesUntil(bob, (f) => f.type === "entered" && f.room === "old", 5000, "old");
  assert(sent.length > 0);
  // Bob's own messages are not echoed to him: read them back with a history request.
  bob.history("old");
  const history = await framesUntil(
    bob,
    (f) => f.type === "history" && f.room === "old" && f.messages.length === 2,
    5000,
    "the history of old",
  );
  const stored = history.at(-1)!;
  assert(stored.type === "history");
  await using irc = await joinIrc(server, "alice", ["server-time", "batch"]);
  await irc.write("JOIN #old\r\n");
  const lines = await irc.expectLine(/^:parley BATCH -/);
  const start = lines.findIndex((line) => line.startsWith(":parley BATCH +"));
  assertMatch(lines[start]!, /^:parley BATCH \+(\S+) chathistory #old$/);
  const id = lines[start]!.split(" ")[2]!.slice(1);
  const [one, two] = stored.messages;
  assertEquals(lines.slice(start + 1), [
    `@batch=${id};time=${one!.ts} ${HEAD("bob")} PRIVMSG #old :first`,
    `@batch=${id};time=${two!.ts} ${HEAD("bob")} PRIVMSG #old :second`,
    `@batch=${id};time=${two!.ts} ${HEAD("bob")} PRIVMSG #old :third`,
    `:parley BATCH -${id}`,
  ]);
  // A live message carries its time too; without the cap it carries no tags.
  bob.send("live", { room: "old" });
  const live = await irc.expectLine(/:live$/);
  assertMatch(
    live.at(-1)!,
    /^@time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z :bob!bob@parley PRIVMSG #old :live$/,
  );
  await using plain = await joinIrc(server, "carol");
  await plain.write("JOIN #old\r\n");
  const replay = await plain.expectLine(/:third$/);
  assert(replay.every((line) => !line.startsWith("@")), replay.join("\n"));
});

Deno.test("irc: a topic set by a ChatClient comes with 333 (who and when) on JOIN and on TOPIC", async () => {
  await using server = startServer({ ircPort: 0 });
  await using bob = await join(server, "bob");
  bob.join("rust");
  await framesUntil(bob, (f) => f.type === "entered" && f.room === "rust", 5000, "bob in rust");
  bob.setTopic("rust", "Ferris & friends");
  const frames = await framesUntil(bob, (f) => f.type === "topic", 5000, "the topic set");
  const set = frames.at(-1);
  assert(set?.type === "topic", JSON.stringify(set));
  const seconds = Math.floor(Date.parse(set.ts) / 1000);
  assert(Math.abs(seconds - Date.now() / 1000) < 60, `topic time ${set.ts}`);
  await using irc = await joinIrc(server, "alice");
  await irc.write("JOIN #rust\r\n");
  assertEquals(await irc.expectLine(/ 366 /), [
    `${HEAD("alice")} JOIN #rust`,
    ":parley 332 alice #rust :Ferris & friends",
    `:parley 333 alice #rust bob ${seconds}`,
    ":parley 353 alice = #rust :alice bob",
    ":parley 366 alice #rust :End of NAMES list",
  ]);
  await irc.write("TOPIC #rust\r\n");
  assertEquals(await irc.expectLine(/ 333 /), [
    ":parley 332 alice #rust :Ferris & friends",
    `:parley 333 alice #rust bob ${seconds}`,
  ]);
});

Deno.test("irc: TOPIC, NAMES, WHO, WHOIS, LIST, MODE, AWAY, MOTD, echo-message, errors", async () => {
  await using server = startServer({ ircPort: 0, rooms: ["fixed"] });
  await using bob = await join(server, "bob");
  await using irc = await joinIrc(server, "alice", ["echo-message"]);
  await irc.write("TOPIC #lobby\r\nTOPIC #lobby :new topic\r\n");
  await irc.expectLine(/^:parley 331 alice #lobby :No topic is set$/);
  await irc.expectLine(new RegExp(`^${HEAD("alice")} TOPIC #lobby :new topic$`));
  const set = (await framesUntil(
    bob,
    (f) => f.type === "topic" && f.topic === "new topic",
    5000,
    "topic",
  )).at(-1);
  const setAt = set?.type === "topic" ? Math.floor(Date.parse(set.ts) / 1000) : NaN;
  await irc.write("TOPIC #lobby\r\nNAMES #lobby\r\nWHO #lobby\r\n");
  assertEquals(await irc.expectLine(/ 315 /), [
    ":parley 332 alice #lobby :new topic",
    `:parley 333 alice #lobby alice ${setAt}`,
    ":parley 353 alice = #lobby :bob alice",
    ":parley 366 alice #lobby :End of NAMES list",
    ":parley 352 alice #lobby bob parley parley bob H :0 bob",
    ":parley 352 alice #lobby alice parley parley alice H :0 alice",
    ":parley 315 alice #lobby :End of WHO list",
  ]);
  await irc.write("WHOIS BOB\r\nWHOIS nobody\r\nLIST\r\n");
  assertEquals(await irc.expectLine(/ 323 /), [
    ":parley 311 alice bob bob parley * :bob",
    ":parley 318 alice BOB :End of WHOIS list",
    ":parley 401 alice nobody :No such nick",
    ":parley 318 alice nobody :End of WHOIS list",
    ":parley 321 alice Channel :Users  Name",
    ":parley 322 alice #fixed 0 :",
    ":parley 322 alice #lobby 2 :new topic",
    ":parley 323 alice :End of LIST",
  ]);
  await irc.write("MODE #lobby\r\nMODE #lobby b\r\nMODE alice\r\nAWAY :gone\r\nAWAY\r\nMOTD\r\n");
  const modes = await irc.expectLine(/ 422 /);
  assertEquals(modes.map((line) => line.split(" ").slice(1, 4).join(" ")), [
    "324 alice #lobby",
    "329 alice #lobby",
    "368 alice #lobby",
    "221 alice :+",
    "306 alice :You",
    "305 alice :You",
    "422 alice :MOTD",
  ]);
  await irc.write("FROBNICATE\r\nPRIVMSG\r\nPRIVMSG #lobby\r\nPRIVMSG nobody :hi\r\n");
  const errors = await irc.expectLine(/ 401 /);
  assertEquals(errors.slice(0, -1), [
    ":parley 421 alice FROBNICATE :Unknown command",
    ":parley 411 alice :No recipient given (PRIVMSG)",
    ":parley 412 alice :No text to send",
  ]);
  assertMatch(errors.at(-1)!, /^:parley 401 alice nobody :/);
  await irc.write("JOIN #nope\r\nPART #fixed\r\nPRIVMSG #fixed :x\r\nPRIVMSG #lobby :echoed\r\n");
  await irc.expectLine(/^:parley 403 alice #nope :/);
  await irc.expectLine(/^:parley 442 alice #fixed :/);
  await irc.expectLine(/^:parley 442 alice #fixed :/);
  await irc.expectLine(new RegExp(`^${HEAD("alice")} PRIVMSG #lobby :echoed$`));
  await framesUntil(bob, (f) => f.type === "message" && f.text === "echoed", 5000, "echoed");
  await irc.write("NICK alicia\r\n");
  await irc.expectLine(new RegExp(`^${HEAD("alice")} NICK :alicia$`));
  await framesUntil(bob, (f) => f.type === "renamed" && f.to === "alicia", 5000, "renamed");
  await irc.write("PING :t1\r\n");
  await irc.expectLine(/^:parley PONG parley :t1$/);
});

Deno.test("irc: SASL PLAIN for a registered name; a wrong password is 464", async () => {
  await using server = startServer({ ircPort: 0 });
  {
    await using owner = await join(server, "owner");
    owner.register("correct horse");
    await framesUntil(owner, (f) => f.type === "notice", 5000, "registered");
    await owner.quit();
  }
  {
    // SASL's 903 says the credentials were taken; `hello` checks them, and refuses with 464.
    await using wrong = await connectIrc(server);
    await wrong.write("CAP REQ :sasl\r\nNICK owner\r\nUSER o 0 * :O\r\nAUTHENTICATE PLAIN\r\n");
    await wrong.expectLine(/^AUTHENTICATE \+$/);
    await wrong.write(`AUTHENTICATE ${btoa("\0owner\0wrong horse")}\r\nCAP END\r\n`);
    await wrong.expectLine(/ 903 /);
    await wrong.expectLine(/^:parley 464 owner :.*\(send it with SASL PLAIN\)$/);
    // Without SASL, a registered name is refused alike; another nick is then taken.
    await using plain = await connectIrc(server);
    await plain.write("NICK owner\r\nUSER o 0 * :O\r\n");
    await plain.expectLine(/^:parley 464 owner :/);
    await plain.write("NICK someone\r\n");
    await plain.expectLine(/^:parley 001 someone /);
  }
  await using irc = await connectIrc(server);
  await irc.write("CAP LS 302\r\nNICK owner\r\nUSER o 0 * :O\r\nCAP REQ :sasl\r\n");
  await irc.expectLine(/ACK :sasl$/);
  await irc.write("AUTHENTICATE PLAIN\r\n");
  await irc.expectLine(/^AUTHENTICATE \+$/);
  await irc.write(`AUTHENTICATE ${btoa("\0owner\0correct horse")}\r\n`);
  await irc.expectLine(/^:parley 900 owner owner!owner@parley owner :/);
  await irc.expectLine(/^:parley 903 owner :/);
  await irc.write("CAP END\r\n");
  await irc.expectLine(/^:parley 001 owner /);

  await using wrong = await connectIrc(server);
  await wrong.write("NICK owner2\r\nUSER o 0 * :O\r\n");
  await wrong.expectLine(/ 001 owner2 /);
  await using bad = await connectIrc(server);
  await bad.write("NICK Owner\r\nUSER o 0 * :O\r\n");
  // The name is taken (the owner is on): a different refusal from a wrong password.
  await bad.expectLine(/^:parley 433 \* Owner /);
});

Deno.test("irc: a long message is cut on character boundaries; a 512-byte line; 417", async () => {
  await using server = startServer({ ircPort: 0, rate: 0 });
  await using bob = await join(server, "bob");
  await using irc = await joinIrc(server, "alice");
  const text = "é".repeat(300) + "😀".repeat(100) + "end";
  bob.send(text);
  const lines = await irc.expectLine(/end$/);
  const pieces = lines.filter((line) => line.startsWith(`${HEAD("bob")} PRIVMSG #lobby :`));
  assert(pieces.length >= 3, String(pieces.length));
  assertEquals(pieces.map((line) => line.slice(line.indexOf(" :") + 2)).join(""), text);
  for (const line of pieces) assert(encoder.encode(line).length + 2 <= 512, line);
  // 510 bytes and CRLF is the longest line; one byte more is refused with 417.
  const head = "PRIVMSG #lobby :";
  const longest = head + "x".repeat(510 - head.length);
  await irc.write(`${longest}\r\n${longest}y\r\n`);
  await irc.expectLine(/^:parley 417 alice :Input line was too long$/);
  const got = await framesUntil(bob, (f) => f.type === "message", 5000, "the 512-byte line");
  assertEquals(
    got.filter((f) => f.type === "message").map((f) => f.type === "message" && f.text.length),
    [510 - head.length],
  );
  // Tags do not count against the 512 bytes.
  await irc.write(`@${"t=".padEnd(4000, "v")} ${longest}\r\n`);
  await framesUntil(bob, (f) => f.type === "message", 5000, "the tagged line");
});

Deno.test("irc: hostile clients: a 1 MiB line, binary noise, thousands of JOINs", async () => {
  await using server = startServer({ ircPort: 0 });
  await using bob = await join(server, "bob");
  {
    await using irc = await joinIrc(server, "big");
    await irc.write(new Uint8Array(1024 * 1024).fill(0x61)).catch(() => {});
    const rest = await irc.linesUntilClosed();
    assertMatch(rest.at(-1)!, /^ERROR :Closing link: .*/);
  }
  {
    await using irc = await joinIrc(server, "noise");
    const noise = new Uint8Array(4096);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919 + 13) % 256;
    noise[noise.length - 1] = 10;
    await irc.write(noise);
    // The connection lives on, and answers.
    await irc.write("PING :alive\r\n");
    await irc.expectLine(/^:parley PONG parley :alive$/);
  }
  {
    await using irc = await joinIrc(server, "flood");
    const joins = Array.from({ length: 5000 }, (_, i) => `JOIN #r${i}\r\n`).join("");
    await irc.write(joins).catch(() => {});
    const rest = await irc.linesUntilClosed(20_000);
    assert(rest.some((line) => line.includes("(rate_limited)")), rest.slice(-3).join("\n"));
    assertMatch(rest.at(-1)!, /^ERROR :Closing link: Too many frames/);
  }
  // Bob was never disturbed.
  assertEquals(server.userCount, 1);
  bob.send("still here");
});

Deno.test("irc: the server's idle PING is answered by PONG, or the connection ends", async () => {
  await using server = startServer({ ircPort: 0, pingIntervalMs: 200, pingTimeoutMs: 2000 });
  await using irc = await joinIrc(server, "alice");
  const ping = await irc.expectLine(/^PING /);
  await irc.write(`PONG ${ping.at(-1)!.slice(5)}\r\n`);
  // Answered: pinged again later, and not dropped meanwhile.
  await irc.expectLine(/^PING /);
  const rest = await irc.linesUntilClosed();
  assertEquals(rest.at(-1), "ERROR :Closing link: No answer to ping; closing the connection");
});

Deno.test("irc: a full server says ERROR and closes", async () => {
  await using server = startServer({ ircPort: 0, maxUsers: 1 });
  await using bob = await join(server, "bob");
  await using irc = await connectIrc(server);
  await irc.write("NICK alice\r\nUSER a 0 * :A\r\n");
  const rest = await irc.linesUntilClosed();
  assertEquals(rest.length, 1, rest.join("\n"));
  assertMatch(rest[0]!, /^ERROR :Closing link: /);
  assertEquals(server.userCount, 1);
  assert(bob !== undefined);
});

Deno.test("irc: irssi joins, sees the history, talks both ways with a ChatClient, renames, quits", async () => {
  await using server = startServer({ ircPort: 0 });
  await using bob = await join(server, "bob");
  bob.send("said before alice came");
  await using home = await tempDir();
  await using tmux = await Tmux.start({ columns: 120, rows: 30 });
  await tmux.run(
    `irssi --home=${home.path} -n alice -c 127.0.0.1 -p ${server.ircAddr!.port}`,
  );
  await framesUntil(bob, (f) => f.type === "joined" && f.name === "alice", 15_000, "irssi joins");
  await tmux.waitFor(/MOTD File is missing/, 10_000);
  // The channel's window: the history replayed, then the names.
  await tmux.type("/window 2");
  await tmux.press("Enter");
  await tmux.waitFor(/< bob> said before alice came/, 10_000);
  await tmux.waitFor(/Total of 2 nicks/, 10_000);
  await tmux.type("hello from irssi");
  await tmux.press("Enter");
  await framesUntil(
    bob,
    (f) => f.type === "message" && f.from === "alice" && f.text === "hello from irssi",
    10_000,
    "irssi's message",
  );
  bob.send("hi irssi");
  await tmux.waitFor(/< bob> hi irssi/, 10_000);
  await tmux.type("/me waves");
  await tmux.press("Enter");
  await framesUntil(
    bob,
    (f) => f.type === "message" && f.action === true && f.text === "waves",
    10_000,
    "irssi's action",
  );
  await tmux.type("/nick alicia");
  await tmux.press("Enter");
  await framesUntil(bob, (f) => f.type === "renamed" && f.to === "alicia", 10_000, "renamed");
  await tmux.type("/quit bye");
  await tmux.press("Enter");
  await framesUntil(
    bob,
    (f) => f.type === "left" && f.name === "alicia" && f.reason === "quit",
    10_000,
    "irssi quits",
  );
  // irssi has exited: the shell's prompt is back.
  await tmux.waitFor((screen) => screen.trimEnd().endsWith("$"), 10_000);
});

Deno.test("irc: WeeChat joins, shows the history at its original times, talks both ways, parts, quits", async () => {
  await using server = startServer({ ircPort: 0 });
  await using bob = await join(server, "bob");
  bob.join("ops");
  bob.send("said before alice came", { room: "ops" });
  bob.history("ops");
  const [said] = (await framesUntil(
    bob,
    (f) => f.type === "history" && f.messages.length === 1,
    5000,
    "bob's message stored",
  )).flatMap((f) => f.type === "history" ? f.messages : []);
  // A second and more, so that the replay's time is not the time of joining.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const at = new Date(said!.ts);
  const clock = [at.getHours(), at.getMinutes(), at.getSeconds()]
    .map((part) => String(part).padStart(2, "0")).join(":");
  await using home = await tempDir();
  await using tmux = await Tmux.start({ columns: 120, rows: 30 });
  await tmux.run(
    `weechat --dir ${home.path} -r '/server add parley 127.0.0.1/${server.ircAddr!.port} ` +
      `-notls -nicks=alice -autojoin=#ops; /connect parley'`,
  );
  await framesUntil(
    bob,
    (f) => f.type === "joined" && f.name === "alice" && f.room === "ops",
    15_000,
    "WeeChat joins #ops",
  );
  // The default room is joined last: show #ops.
  await tmux.waitFor(/#lobby\(\+nt\)/, 10_000);
  await tmux.type("/buffer #ops");
  await tmux.press("Enter");
  await tmux.waitFor(new RegExp(`${clock}\\s+bob \\| said before alice came`), 10_000);
  await tmux.type("hello from weechat");
  await tmux.press("Enter");
  await framesUntil(
    bob,
    (f) => f.type === "message" && f.room === "ops" && f.text === "hello from weechat",
    10_000,
    "WeeChat's message",
  );
  bob.send("hi weechat", { room: "ops" });
  await tmux.waitFor(/bob \| hi weechat/, 10_000);
  await tmux.type("/part");
  await tmux.press("Enter");
  await framesUntil(
    bob,
    (f) => f.type === "left" && f.room === "ops" && f.name === "alice" && f.reason === "part",
    10_000,
    "WeeChat parts",
  );
  await tmux.type("/quit");
  await tmux.press("Enter");
  await framesUntil(
    bob,
    (f) => f.type === "left" && f.name === "alice" && f.reason === "quit",
    10_000,
    "WeeChat quits",
  );
  await tmux.waitFor((screen) => screen.trimEnd().endsWith("$"), 10_000);
});

Deno.test("irc: irssi logs in to a registered name with SASL PLAIN, as README says", async () => {
  await using server = startServer({ ircPort: 0 });
  {
    await using owner = await join(server, "owner");
    owner.register("correct horse");
    await framesUntil(owner, (f) => f.type === "notice", 5000, "registered");
    await owner.quit();
  }
  await using bob = await join(server, "bob");
  await using home = await tempDir();
  await using tmux = await Tmux.start({ columns: 120, rows: 30 });
  await tmux.run(`irssi --home=${home.path} -n owner`);
  await tmux.waitFor(/Irssi v/, 10_000);
  for (
    const line of [
      "/network add -sasl_mechanism plain -sasl_username owner " +
      "-sasl_password 'correct horse' parley",
      `/server add -network parley 127.0.0.1 ${server.ircAddr!.port}`,
      "/connect parley",
    ]
  ) {
    await tmux.type(line);
    await tmux.press("Enter");
  }
  await tmux.waitFor(/SASL authentication succeeded/, 10_000);
  await framesUntil(bob, (f) => f.type === "joined" && f.name === "owner", 10_000, "owner joins");
  await tmux.type("/quit");
  await tmux.press("Enter");
  await framesUntil(bob, (f) => f.type === "left" && f.name === "owner", 10_000, "owner quits");
});

Deno.test("irc: IRC over TLS (ircTlsPort), with the server's certificate", async () => {
  await using dir = await tempDir();
  const certs = await makeCertificates(dir.path, "irc");
  await using server = startServer({
    ircTlsPort: 0,
    tls: { certFile: certs.certFile, keyFile: certs.keyFile, port: 0 },
  });
  assertEquals(server.ircAddr, undefined, "no plain IRC port was asked for");
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: server.ircTlsAddr!.port,
    caCerts: [certs.ca],
  });
  await using irc = new LinePeer(conn, "the IRC port");
  await irc.write("NICK alice\r\nUSER a 0 * :A\r\n");
  await irc.expectLine(/^:parley 001 alice /);
  await irc.expectLine(/ 366 alice #lobby /);
  await server.reloadTls();
  await irc.write("PING :still\r\n");
  await irc.expectLine(/^:parley PONG parley :still$/);
});
