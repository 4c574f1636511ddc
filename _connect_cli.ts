// `parley connect`: join a chat server from a terminal (interactive) or a pipe (scripts, bots).

import { parseAddr } from "./_address.ts";
import { EXIT_FAILURE, EXIT_OK, parseCommandArgs, stringOption, UsageError } from "./_args.ts";
import { runPipe } from "./_pipe.ts";
import { type BellMode, runTerminal } from "./_tui.ts";
import { ChatClient, ChatError } from "./client.ts";
import { DEFAULT_PORT } from "./protocol.ts";

const HELP = `Usage: parley connect [HOST][:PORT] [options]

Joins the chat server at HOST:PORT (default 127.0.0.1:${DEFAULT_PORT}; an IPv6 address goes
in brackets: [::1]:7342).

In a terminal it is an interactive client: type /help once in. With a pipe on stdin, every
line read is sent as a message, messages received are printed as "<name> text" on stdout and
notices on stderr; it exits once stdin has ended and everything is sent, or the server closes.

Options:
  --name NAME         the name to join under (default: your login name)
  --room ROOM         pipe mode: talk in ROOM instead of the server's default room
  --no-history        replay no earlier messages on entering a room
  --json              pipe mode: print every frame received as one JSON object per line
  --no-color          no colours (also when the NO_COLOR environment variable is set)
  --bell WHEN         ring the terminal bell: off, mention (default), all
  --no-reconnect      exit 1 when the server is lost, instead of reconnecting
  -h, --help          show this help

Exit codes: 0 quit, 1 cannot connect or join, or lost the server with --no-reconnect,
2 usage error.
`;

const BELL_MODES: readonly BellMode[] = ["off", "mention", "all"];

/** Runs `parley connect` with `args`; resolves with the exit code. */
export async function connectCommand(args: string[]): Promise<number> {
  const parsed = parseCommandArgs("connect", args, {
    boolean: ["help", "json", "color", "reconnect", "history"],
    string: ["name", "bell", "room"],
    negatable: ["color", "reconnect", "history"],
    default: { color: true, reconnect: true, history: true },
    alias: { h: "help" },
  });
  if (parsed.help) {
    console.log(HELP);
    return EXIT_OK;
  }
  if (parsed._.length > 1) throw new UsageError(`connect: unexpected argument "${parsed._[1]}"`);
  let addr: { hostname: string; port: number };
  try {
    addr = parseAddr(String(parsed._[0] ?? ""), { hostname: "127.0.0.1", port: DEFAULT_PORT });
  } catch (error) {
    throw new UsageError(`connect: ${(error as Error).message}`);
  }
  const bell = stringOption(parsed, "bell") ?? "mention";
  if (!(BELL_MODES as readonly string[]).includes(bell)) {
    throw new UsageError(`connect: --bell takes off, mention or all, not "${bell}"`);
  }
  const interactive = Deno.stdin.isTerminal() && parsed.json !== true;
  const noHistory = parsed.history === false;
  const connect = (name: string) =>
    ChatClient.connect({ ...addr, name, ...(noHistory ? { history: 0 } : {}) });

  let name = stringOption(parsed, "name") ?? loginName();
  let client: ChatClient | undefined;
  while (client === undefined) {
    try {
      client = await connect(name);
    } catch (error) {
      const refusal = error instanceof ChatError ? error : undefined;
      if (!(refusal || error instanceof Deno.errors.ConnectionRefused)) throw error;
      const reason = (error as Error).message;
      if (interactive && (refusal?.code === "name_taken" || refusal?.code === "invalid_name")) {
        const next = prompt(`${reason}. Another name:`);
        if (next === null || next.trim() === "") return EXIT_FAILURE;
        name = next.trim();
        continue;
      }
      console.error(`parley: cannot join ${addr.hostname}:${addr.port}: ${reason}`);
      return EXIT_FAILURE;
    }
  }
  if (!interactive) {
    const room = stringOption(parsed, "room")?.replace(/^#/, "");
    return await runPipe(client, {
      json: parsed.json === true,
      ...(room === undefined ? {} : { room }),
      noHistory,
    });
  }
  return await runTerminal(client, {
    color: parsed.color === true && !Deno.env.get("NO_COLOR"),
    bell: bell as BellMode,
    reconnect: parsed.reconnect === true,
    connect,
    noHistory,
  });
}

function loginName(): string {
  return Deno.env.get("USER") ?? Deno.env.get("LOGNAME") ?? Deno.env.get("USERNAME") ?? "guest";
}
