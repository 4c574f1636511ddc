import { assertEquals } from "./_assert.ts";
import { holdsSecret, parseCommand, parseDuration } from "../_text/commands.ts";

Deno.test("plain lines are messages; // escapes a leading slash", () => {
  assertEquals(parseCommand("hello /world"), { type: "say", text: "hello /world" });
  assertEquals(parseCommand("//shrug"), { type: "say", text: "/shrug" });
});

Deno.test("commands and their arguments", () => {
  const cases: [string, unknown][] = [
    ["/me waves  hello", { type: "me", text: "waves  hello" }],
    ["/msg bob are you\nthere?", { type: "msg", to: "bob", text: "are you\nthere?" }],
    ["/join #rust", { type: "join", room: "rust" }],
    ["/JOIN rust", { type: "join", room: "rust" }],
    ["/part", { type: "part" }],
    ["/part #rust", { type: "part", room: "rust" }],
    ["/rooms", { type: "rooms" }],
    ["/who", { type: "who" }],
    ["/who #rust", { type: "who", room: "rust" }],
    ["/who *", { type: "who", everyone: true }],
    ["/topic", { type: "topic" }],
    ["/topic Rust & friends", { type: "topic", topic: "Rust & friends" }],
    ["/history", { type: "history" }],
    ["/history 20", { type: "history", count: 20 }],
    ["/nick robert", { type: "nick", name: "robert" }],
    ["/ping", { type: "ping" }],
    ["/help", { type: "help" }],
    ["/quit", { type: "quit" }],
    ["/exit", { type: "quit" }],
  ];
  for (const [line, command] of cases) assertEquals(parseCommand(line), command, line);
});

Deno.test("wrong use says how to use it", () => {
  for (
    const line of ["/me", "/msg bob", "/join", "/join a b", "/nick", "/history x", "/history 0"]
  ) {
    const command = parseCommand(line);
    assertEquals(command.type, "invalid", line);
  }
  assertEquals(parseCommand("/frobnicate"), {
    type: "invalid",
    message: 'Unknown command "/frobnicate"; /help lists them',
  });
});

Deno.test("account and operator commands; lines with passwords are marked secret", () => {
  const cases: [string, unknown][] = [
    ["/register hunter22", { type: "register", password: "hunter22" }],
    ["/nick alice pw123456", { type: "nick", name: "alice", password: "pw123456" }],
    ["/kick bob", { type: "kick", name: "bob" }],
    ["/kick bob too loud", { type: "kick", name: "bob", reason: "too loud" }],
    ["/ban bob", { type: "ban", target: "bob" }],
    ["/ban bob 2h", { type: "ban", target: "bob", seconds: 7200 }],
    ["/ban ::1 30m flooding", { type: "ban", target: "::1", seconds: 1800, reason: "flooding" }],
    ["/ban bob spamming links", { type: "ban", target: "bob", reason: "spamming links" }],
    ["/unban bob", { type: "unban", target: "bob" }],
    ["/stats", { type: "stats" }],
  ];
  for (const [line, command] of cases) assertEquals(parseCommand(line), command, line);
  assertEquals(holdsSecret(parseCommand("/register hunter22")), true);
  assertEquals(holdsSecret(parseCommand("/nick alice pw123456")), true);
  assertEquals(holdsSecret(parseCommand("/nick alice")), false);
  assertEquals(holdsSecret(parseCommand("hello")), false);
  assertEquals([parseDuration("90"), parseDuration("7d"), parseDuration("soon")], [
    90,
    604800,
    undefined,
  ]);
});
