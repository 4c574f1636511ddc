// Plain text for nc and telnet (`textPort`): the name prompt, chat both ways with Parley's own
// client, the slash commands, CRLF and telnet's negotiation bytes, hostile input, control
// characters from others; then the real `nc` and `telnet` as processes.

import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { deadline, framesUntil, join, LinePeer, startServer } from "./_helpers.ts";
import type { ChatServer } from "../server.ts";
import type { ServerFrame } from "../protocol.ts";

const encoder = new TextEncoder();
const IAC = 255;
const TIME = String.raw`\d\d:\d\d`;

/** A raw socket to the text port of `server`. */
function connectText(server: ChatServer): Promise<LinePeer> {
  return LinePeer.connect(server.textAddr!.port, "the text port");
}

/** A text peer that has joined as `name`. */
async function joinText(server: ChatServer, name: string): Promise<LinePeer> {
  const peer = await connectText(server);
  await peer.expect("Your name: ");
  await peer.write(`${name}\r\n`);
  await peer.expect(`-- joined as ${name}\r\n`);
  await peer.expect(/you are in #lobby[^\r\n]*\r\n/);
  await peer.expect(/-- no earlier messages in #lobby\r\n/);
  return peer;
}

function messagesFrom(frames: ServerFrame[], from: string) {
  return frames.filter((frame) => frame.type === "message" && frame.from === from);
}

Deno.test("text: a name prompt, a taken name asked again, chat both ways with a ChatClient", async () => {
  await using server = startServer({ textPort: 0 });
  await using bob = await join(server, "bob");
  await using text = await connectText(server);
  const greeting = await text.expect("Your name: ");
  assertMatch(greeting, /^Parley \S+: every line you type is a message; .*\r\nYour name: $/);
  await text.write("Bob\r\n");
  const refused = await text.expect("Your name: ");
  assertMatch(
    refused,
    new RegExp(`^${TIME} -- error: [^\\r\\n]+ \\(name_taken\\)\\r\\nYour name: $`),
  );
  await text.write("alice\n");
  await text.expect(`-- joined as alice\r\n`);
  await text.expect(/-- you are in #lobby; here: bob\r\n/);
  await text.expect(/-- no earlier messages in #lobby\r\n/);
  await framesUntil(bob, (f) => f.type === "joined" && f.name === "alice", 5000, "alice joins");

  await text.write("hello bob\r\nsecond line\n");
  const got = await framesUntil(
    bob,
    (f) => f.type === "message" && f.text === "second line",
    5000,
    "alice's two lines",
  );
  assertEquals(messagesFrom(got, "alice").map((f) => f.type === "message" && f.text), [
    "hello bob",
    "second line",
  ]);

  bob.send("hi alice");
  bob.send("two\nlines");
  const shown = await text.expect("lines\r\n");
  assertMatch(
    shown,
    new RegExp(`^${TIME} <bob> hi alice\\r\\n${TIME} <bob> two\\r\\n {12}lines\\r\\n$`),
  );
  // Nothing this user typed came back to it.
  assert(!text.received.includes("<alice>"), text.received);
  // Every line ends with CRLF.
  assert(!/[^\r]\n/.test(text.received), JSON.stringify(text.received));
});

Deno.test("text: /join, /msg, /me, /who, /topic, /help, unknown commands and /quit", async () => {
  await using server = startServer({ textPort: 0 });
  await using bob = await join(server, "bob");
  await using text = await joinText(server, "alice");
  await text.write("/join #ops\r\n");
  await text.expect(/-- you are in #ops; here: nobody else\r\n/);
  bob.join("ops");
  await text.expect(/#ops -- bob joined\r\n/);
  bob.send("in ops", { room: "ops" });
  await text.expect(new RegExp(`${TIME} #ops <bob> in ops\\r\\n`));

  await text.write("/me waves\n/msg bob psst\nplain\n");
  const got = await framesUntil(
    bob,
    (f) => f.type === "message" && f.text === "plain",
    5000,
    "alice's action, private message and line",
  );
  const fromAlice = got.filter((f): f is Extract<ServerFrame, { type: "message" | "private" }> =>
    (f.type === "message" || f.type === "private") && f.from === "alice"
  );
  // A private message is delivered at once, room messages once stored: compared as a set.
  const seen = fromAlice.map((f) =>
    f.type === "message" ? `${f.room} ${f.action ? "*" : ""}${f.text}` : `-> ${f.to} ${f.text}`
  );
  assertEquals(seen.sort(), ["-> bob psst", "ops *waves", "ops plain"]);

  bob.msg("alice", "back at you");
  await text.expect(new RegExp(`${TIME} \\*bob\\* back at you\\r\\n`));
  await text.write("/who\n");
  await text.expect(/-- in #ops \(2\): (alice, bob|bob, alice)\r\n/);
  await text.write("/topic\n/frobnicate\n/help\n");
  await text.expect("-- #ops has no topic\r\n");
  await text.expect('-- Unknown command "/frobnicate"; /help lists them\r\n');
  await text.expect("/msg NAME TEXT");
  await text.write("/join lobby\nback in the lobby\n");
  await text.expect("-- Now talking in #lobby\r\n");
  await framesUntil(
    bob,
    (f) => f.type === "message" && f.room === "lobby" && f.text === "back in the lobby",
    5000,
    "a line to the lobby after /join of a room already joined",
  );

  await text.write("/quit\r\n");
  const last = await text.untilClosed();
  assert(last.includes("-- Bye.\r\n"), last);
  const left = await framesUntil(bob, (f) => f.type === "left" && f.name === "alice", 5000, "quit");
  const farewell = left.at(-1)!;
  assertEquals(farewell.type === "left" && farewell.reason, "quit");
});

Deno.test("text: telnet negotiation is refused and stripped, within and between lines", async () => {
  await using server = startServer({ textPort: 0 });
  await using bob = await join(server, "bob");
  await using text = await connectText(server);
  await text.expect("Your name: ");
  // IAC DO ECHO, IAC WILL TERMINAL-TYPE, a subnegotiation inside the name, IAC DO ECHO again.
  await text.write(Uint8Array.of(IAC, 253, 1, IAC, 251, 24));
  await text.write(
    Uint8Array.of(0x61, 0x6c, IAC, 250, 24, 0, 0x0a, 0x78, IAC, 240, 0x69, IAC, 253, 1),
  );
  await text.write("ce\r\n");
  await text.expect("-- joined as alice\r\n");
  // Refused once each: WONT ECHO, DONT TERMINAL-TYPE, and no answer to the repeat.
  const answers = [];
  for (let i = 0; i < text.bytes.length; i++) {
    if (text.bytes[i] === IAC) answers.push(text.bytes.slice(i, i + 3));
  }
  assertEquals(answers, [[IAC, 252, 1], [IAC, 254, 24]]);
  // Between lines, and split across writes; IAC NOP and IAC IAC (a literal 255).
  await text.write(Uint8Array.of(0x6f, 0x6b, IAC));
  await text.write(Uint8Array.of(241, 0x21, 0x0d, 0x0a, IAC, 250, 1, 2));
  await text.write(Uint8Array.of(3, IAC, 240, 0x6e, 0x65, 0x78, 0x74, 0x0a));
  await text.write(Uint8Array.of(0x61, IAC, IAC, 0x0a));
  await text.expect(/-- error: Line is not valid UTF-8 \(invalid_utf8\)\r\n/);
  const got = await framesUntil(
    bob,
    (f) => f.type === "message" && f.text === "next",
    5000,
    "next",
  );
  assertEquals(messagesFrom(got, "alice").map((f) => f.type === "message" && f.text), [
    "ok!",
    "next",
  ]);
});

Deno.test("text: control characters from a NDJSON peer appear as placeholders", async () => {
  await using server = startServer({ textPort: 0 });
  await using bob = await join(server, "bob");
  await using text = await joinText(server, "alice");
  bob.send("hi\x1b[2J\x07 there\u202e\x00end");
  const shown = await text.expect("end\r\n");
  assertMatch(shown, new RegExp(`^${TIME} <bob> hi␛\\[2J␇ there⟨U\\+202E⟩␀end\\r\\n$`));
  assert(!text.bytes.includes(0x1b), "no ESC reached the text user");
});

Deno.test("text: the server password, then a registered name's, are asked for", async () => {
  await using server = startServer({ textPort: 0, password: "sesame" });
  await using text = await connectText(server);
  await text.expect("Your name: ");
  await text.write("alice\n");
  await text.expect("Password: ");
  await text.write("wrong\n");
  const refused = await text.expect("Password: ");
  assert(refused.includes("(auth_failed)"), refused);
  await text.write("sesame\n");
  await text.expect("-- joined as alice\r\n");
  await text.write("/register hunter22\n");
  await text.expect("is registered to you");
  await text.write("/quit\n");
  await text.untilClosed();

  await using again = await connectText(server);
  await again.expect("Your name: ");
  await again.write("alice\nsesame\n");
  await again.expect("Password for alice: ");
  await again.write("hunter22\n");
  await again.expect("-- joined as alice\r\n");
});

Deno.test("text: a 1 MiB line gets an error line and the connection closed", async () => {
  await using server = startServer({ textPort: 0 });
  await using text = await joinText(server, "alice");
  const writing = text.write("x".repeat(1024 * 1024)).catch(() => {});
  const last = await text.untilClosed();
  await writing;
  assertMatch(
    last,
    /-- error: Frame is longer than 65536 bytes; closing the connection \(frame_too_large\)\r\n$/,
  );
  await deadline(
    (async () => {
      while (server.connectionCount > 0) await new Promise((r) => setTimeout(r, 20));
    })(),
    5000,
    "the connection counted out",
  );
});

Deno.test("text: binary noise does no harm; the server goes on", async () => {
  await using server = startServer({ textPort: 0 });
  await using bob = await join(server, "bob");
  await using noisy = await connectText(server);
  await noisy.expect("Your name: ");
  // Seeded noise: every line starts with a byte no UTF-8 text holds, and holds NUL and 0xFF.
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  const noise: number[] = [];
  for (let line = 0; line < 200; line++) {
    noise.push(0xc0, 0x00, 0xff, 0xff);
    for (let i = 0; i < 50; i++) noise.push(random());
    noise.push(IAC, 240, 0x0a);
  }
  await noisy.write(new Uint8Array(noise)).catch(() => {});
  await noisy.expect("(invalid_utf8)");
  await using carol = await joinText(server, "carol");
  await carol.write("still here\n");
  const got = await framesUntil(
    bob,
    (f) => f.type === "message" && f.text === "still here",
    5000,
    "carol's line after the noise",
  );
  assertEquals(got.filter((f) => f.type === "message").length, 1);
});

Deno.test("text: thousands of /join lines meet flood control and end the connection", async () => {
  await using server = startServer({ textPort: 0 });
  await using bob = await join(server, "bob");
  await using text = await joinText(server, "alice");
  const lines = Array.from({ length: 5000 }, (_, i) => `/join flood${i}\n`).join("");
  const writing = text.write(lines).catch(() => {});
  const rest = await text.untilClosed(20_000);
  await writing;
  assert(rest.includes("(rate_limited)"), rest.slice(-500));
  assertMatch(rest, /Too many frames for too long; disconnecting \(rate_limited\)\r\n$/);
  const entered = rest.match(/-- you are in #flood/g)?.length ?? 0;
  assert(entered > 0 && entered <= 100, `entered ${entered} rooms`);
  await framesUntil(bob, (f) => f.type === "left" && f.name === "alice", 5000, "alice dropped");
  assertEquals(server.userCount, 1);
});

/** Runs `command` with its stdin piped; collects its stdout. */
function spawn(command: string, args: string[]) {
  const child = new Deno.Command(command, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  let out = "";
  const reading = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) out += chunk;
  })();
  const errors = new Response(child.stderr).text();
  return {
    child,
    type: (text: string) => writer.write(encoder.encode(text)),
    async until(pattern: RegExp, ms = 10_000) {
      const started = performance.now();
      while (!pattern.test(out)) {
        if (performance.now() - started > ms) throw new Error(`Waited for ${pattern}; got ${out}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    get out() {
      return out;
    },
    /** Waits for it to exit, first ending its input if `closeInput` (Ctrl-D). */
    async end(ms = 10_000, closeInput = false) {
      if (closeInput) await writer.close().catch(() => {});
      const status = await deadline(child.status, ms, `${command} exits`);
      await writer.close().catch(() => {});
      await reading;
      await errors;
      return status;
    },
  };
}

for (const program of ["nc", "telnet"]) {
  Deno.test(`text: the real ${program} joins, talks both ways and quits`, async () => {
    await using server = startServer({ textPort: 0 });
    await using bob = await join(server, "bob");
    const process = spawn(program, ["127.0.0.1", String(server.textAddr!.port)]);
    try {
      await process.until(/Your name: /);
      await process.type("alice\n");
      await process.until(/-- joined as alice/);
      await process.type(`hello from ${program}\n`);
      const got = await framesUntil(
        bob,
        (f) => f.type === "message" && f.from === "alice",
        5000,
        `a line from ${program}`,
      );
      const line = got.at(-1)!;
      assertEquals(line.type === "message" && line.text, `hello from ${program}`);
      bob.send(`hi ${program}`);
      await process.until(new RegExp(`${TIME} <bob> hi ${program}\\r?\\n`));
      await process.type("/quit\n");
      await process.until(/-- Bye\.\r?\n/);
      // telnet exits once the server closes; ncat only once its input ends too, as after Ctrl-D.
      await process.end(10_000, program === "nc");
      assertEquals(process.out.match(/<bob>/g)?.length, 1);
      await framesUntil(bob, (f) => f.type === "left" && f.name === "alice", 5000, "quit");
    } finally {
      try {
        process.child.kill();
      } catch {
        // Exited already.
      }
      await process.end().catch(() => {});
    }
  });
}

Deno.test("text: the name must be given in time; an idle text user is never dropped for pings", async () => {
  await using server = startServer({
    textPort: 0,
    helloTimeoutMs: 300,
    pingIntervalMs: 50,
    pingTimeoutMs: 50,
  });
  await using slow = await connectText(server);
  await slow.expect("Your name: ");
  const last = await slow.untilClosed();
  assertMatch(last, /-- error: No "hello" in time; closing the connection \(hello_timeout\)\r\n$/);

  await using bob = await join(server, "bob");
  await using text = await joinText(server, "alice");
  // Many ping intervals and timeouts pass in silence; nothing is written for them.
  await new Promise((resolve) => setTimeout(resolve, 600));
  await text.write("still here\n");
  await framesUntil(
    bob,
    (f) => f.type === "message" && f.from === "alice" && f.text === "still here",
    5000,
    "alice's line after a silence",
  );
  assert(!text.received.includes("ping"), text.received);
});
