/**
 * Parley: a chat server and its terminal client, speaking a small NDJSON protocol over TCP.
 *
 * Run it: `deno run -A mod.ts serve` starts a server, `deno run -A mod.ts connect` joins it.
 * Use it as a library: {@linkcode ChatServer} runs a server in your program, and
 * {@linkcode ChatClient} is a client for bots and tests.
 *
 * @example A server and a client in one program
 * ```ts
 * import { ChatClient, ChatServer } from "./mod.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await using server = new ChatServer({ port: 0 });
 * await using alice = await ChatClient.connect({ port: server.addr.port, name: "alice" });
 * await using bob = await ChatClient.connect({ port: server.addr.port, name: "bob" });
 * alice.send("hello, bob");
 * for await (const frame of bob) {
 *   if (frame.type === "message") {
 *     assertEquals(`${frame.from}: ${frame.text}`, "alice: hello, bob");
 *     break;
 *   }
 * }
 * ```
 *
 * @module
 */

export { ChatServer, type LogLevel, type ServerOptions, type TlsFiles } from "./server.ts";
export {
  ChatClient,
  ChatError,
  type ConnectOptions,
  FrameTooLargeError,
  type SendOptions,
} from "./client.ts";
export * from "./protocol.ts";
export { VERSION } from "./_protocol/version.ts";

// The program (arguments, the terminal client) loads only when this module is run: a library
// user who imports it gets the API alone.
if (import.meta.main) {
  const { main } = await import("./_cli/main.ts");
  Deno.exit(await main(Deno.args));
}
