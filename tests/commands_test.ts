import { assertEquals } from "../_std.ts";
import { parseCommand } from "../_commands.ts";

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
