// The command line: `parley serve`, `parley connect`, `--help`, `--version`. `main` returns the
// exit code; only mod.ts exits.

import { EXIT_OK, EXIT_USAGE, UsageError } from "./args.ts";
import { VERSION } from "../_protocol/version.ts";
import { serveCommand } from "./serve.ts";
import { connectCommand } from "./connect.ts";

const HELP = `parley ${VERSION}: a chat server and its terminal client

Usage:
  parley serve [options]                start a chat server
  parley connect [HOST][:PORT] [options]  join a chat server

Run "parley serve --help" or "parley connect --help" for their options.

Options:
  -h, --help     show this help
  -V, --version  show the version
`;

/**
 * Runs the command line.
 *
 * @param args The arguments after the program name.
 * @returns The exit code: 0 done, 1 failed, 2 usage error.
 */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "serve":
        return await serveCommand(rest);
      case "connect":
        return await connectCommand(rest);
      case "-h":
      case "--help":
      case "help":
        console.log(HELP);
        return EXIT_OK;
      case "-V":
      case "--version":
        console.log(`parley ${VERSION}`);
        return EXIT_OK;
      case undefined:
        throw new UsageError('a command is missing: "serve" or "connect" (see parley --help)');
      default:
        throw new UsageError(`unknown command "${command}" (see parley --help)`);
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`parley: ${error.message}`);
    return EXIT_USAGE;
  }
}
