// `parley connect`: join a chat server from a terminal or a pipe.

import { parseAddr } from "./_address.ts";
import { EXIT_FAILURE, EXIT_OK, parseCommandArgs, stringOption, UsageError } from "./_args.ts";
import { runPipe } from "./_pipe.ts";
import { ChatClient, ChatError } from "./client.ts";
import { DEFAULT_PORT } from "./protocol.ts";

const HELP = `Usage: parley connect [HOST][:PORT] [options]

Joins the chat server at HOST:PORT (default 127.0.0.1:${DEFAULT_PORT}). With a pipe on stdin,
every line read is sent as a message and messages received are printed as "<name> text".

Options:
  --name NAME   the name to join under (default: your login name)
  --json        print every frame received as one JSON object per line
  -h, --help    show this help
`;

/** Runs `parley connect` with `args`; resolves with the exit code. */
export async function connectCommand(args: string[]): Promise<number> {
  const parsed = parseCommandArgs("connect", args, {
    boolean: ["help", "json"],
    string: ["name"],
    alias: { h: "help" },
  });
  if (parsed.help) {
    console.log(HELP);
    return EXIT_OK;
  }
  if (parsed._.length > 1) throw new UsageError(`connect: unexpected argument "${parsed._[1]}"`);
  let addr;
  try {
    addr = parseAddr(String(parsed._[0] ?? ""), { hostname: "127.0.0.1", port: DEFAULT_PORT });
  } catch (error) {
    throw new UsageError(`connect: ${(error as Error).message}`);
  }
  const name = stringOption(parsed, "name") ?? loginName();
  let client: ChatClient;
  try {
    client = await ChatClient.connect({ ...addr, name });
  } catch (error) {
    if (!(error instanceof ChatError || error instanceof Deno.errors.ConnectionRefused)) {
      throw error;
    }
    console.error(`parley: cannot join ${addr.hostname}:${addr.port}: ${error.message}`);
    return EXIT_FAILURE;
  }
  return await runPipe(client, { json: parsed.json === true });
}

function loginName(): string {
  return Deno.env.get("USER") ?? Deno.env.get("LOGNAME") ?? Deno.env.get("USERNAME") ?? "guest";
}
