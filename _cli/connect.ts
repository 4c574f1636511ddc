// `parley connect`: join a chat server from a terminal (interactive) or a pipe (scripts, bots).

import { parseAddr } from "../_net/address.ts";
import { errorMessage } from "../_protocol/error_message.ts";
import {
  EXIT_FAILURE,
  EXIT_OK,
  parseCommandArgs,
  secretOption,
  stringOption,
  UsageError,
} from "./args.ts";
import { connectionFailure, runPipe } from "./pipe.ts";
import { promptSecret } from "./std.ts";
import { type BellMode, runTerminal } from "./tui/terminal.ts";
import { ChatClient, ChatError, type ConnectOptions, FrameTooLargeError } from "../client.ts";
import { DEFAULT_PORT, DEFAULT_TLS_PORT } from "../protocol.ts";

const HELP = `Usage: parley connect [HOST][:PORT] [options]

Joins the chat server at HOST:PORT (default 127.0.0.1:${DEFAULT_PORT}, or port ${DEFAULT_TLS_PORT}
with --tls; an IPv6 address goes in brackets: [::1]:7342).

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
  --tls               connect with TLS; the server's certificate is checked against the
                      system's trusted roots...
  --ca FILE           ...and this CA certificate (PEM), for a server with its own CA
  --server-password-file FILE
                      the server's password: the first line of FILE (or the
                      PARLEY_PASSWORD environment variable)
  --password-file FILE
                      your name's password, if it is registered (or PARLEY_NAME_PASSWORD)
  -h, --help          show this help

In a terminal, you are asked for a password the server wants and you did not give.

Exit codes: 0 quit, 1 cannot connect or join, lost the server with --no-reconnect, or the
server sent a frame over 16 MiB (a broken or hostile server), 2 usage error.
`;

const BELL_MODES: readonly BellMode[] = ["off", "mention", "all"];

/** Runs `parley connect` with `args`; resolves with the exit code. */
export async function connectCommand(args: string[]): Promise<number> {
  const parsed = parseCommandArgs("connect", args, {
    boolean: ["help", "json", "color", "reconnect", "history", "tls"],
    string: ["name", "bell", "room", "ca", "server-password-file", "password-file"],
    negatable: ["color", "reconnect", "history"],
    default: { color: true, reconnect: true, history: true },
    alias: { h: "help" },
  });
  if (parsed.help) {
    console.log(HELP);
    return EXIT_OK;
  }
  if (parsed._.length > 1) throw new UsageError(`connect: unexpected argument "${parsed._[1]}"`);
  const tls = parsed.tls === true;
  let addr: { hostname: string; port: number };
  try {
    addr = parseAddr(String(parsed._[0] ?? ""), {
      hostname: "127.0.0.1",
      port: tls ? DEFAULT_TLS_PORT : DEFAULT_PORT,
    });
  } catch (error) {
    throw new UsageError(`connect: ${errorMessage(error)}`);
  }
  const bell = stringOption(parsed, "bell") ?? "mention";
  if (!(BELL_MODES as readonly string[]).includes(bell)) {
    throw new UsageError(`connect: --bell takes off, mention or all, not "${bell}"`);
  }
  const caFile = stringOption(parsed, "ca");
  if (caFile !== undefined && !tls) throw new UsageError("connect: --ca goes with --tls");
  let caCerts: string[] = [];
  if (caFile !== undefined) {
    try {
      caCerts = [await Deno.readTextFile(caFile)];
    } catch (error) {
      throw new UsageError(`connect: cannot read --ca "${caFile}": ${errorMessage(error)}`);
    }
  }
  const interactive = Deno.stdin.isTerminal() && parsed.json !== true;
  const noHistory = parsed.history === false;
  // Kept for reconnecting: what was given or asked for once is not asked for again.
  const secrets: Pick<ConnectOptions, "password" | "serverPassword"> = {};
  const serverPassword = await secretOption(stringOption(parsed, "server-password-file"));
  if (serverPassword !== undefined) secrets.serverPassword = serverPassword;
  const password = await secretOption(
    stringOption(parsed, "password-file"),
    "PARLEY_NAME_PASSWORD",
  );
  if (password !== undefined) secrets.password = password;
  const connect = (name: string, namePassword?: string) =>
    ChatClient.connect({
      ...addr,
      name,
      ...secrets,
      ...(namePassword === undefined ? {} : { password: namePassword }),
      ...(tls ? { tls: { caCerts } } : {}),
      ...(noHistory ? { history: 0 } : {}),
    });

  let name = stringOption(parsed, "name") ?? loginName();
  let client: ChatClient | undefined;
  while (client === undefined) {
    try {
      client = await connect(name);
    } catch (error) {
      const reason = joinFailure(error);
      const code = error instanceof ChatError ? error.code : undefined;
      if (interactive && (code === "name_taken" || code === "invalid_name")) {
        const next = prompt(`${reason}. Another name:`);
        if (next === null || next.trim() === "") return EXIT_FAILURE;
        name = next.trim();
        continue;
      }
      if (interactive && (code === "auth_failed" || code === "wrong_password")) {
        const secret = promptSecret(`${reason}. Password:`);
        if (secret === null || secret === "") return EXIT_FAILURE;
        if (code === "auth_failed") secrets.serverPassword = secret;
        else secrets.password = secret;
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

/** Why joining failed, in a sentence; rethrows what is not a failure to join but a bug. */
function joinFailure(error: unknown): string {
  if (error instanceof ChatError) return error.message;
  if (error instanceof FrameTooLargeError) return connectionFailure(error);
  if (error instanceof Deno.errors.InvalidData) {
    return `the TLS handshake failed (${error.message}); if the server's certificate is ` +
      "signed by your own CA, pass it with --ca FILE";
  }
  if (
    error instanceof Deno.errors.ConnectionRefused ||
    error instanceof Deno.errors.NotFound ||
    error instanceof Deno.errors.TimedOut ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.AddrNotAvailable ||
    error instanceof Deno.errors.NetworkUnreachable
  ) {
    return error.message;
  }
  throw error;
}

function loginName(): string {
  return Deno.env.get("USER") ?? Deno.env.get("LOGNAME") ?? Deno.env.get("USERNAME") ?? "guest";
}
