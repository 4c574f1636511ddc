// Pipe mode: each stdin line is a message; what arrives is printed one line at a time.

import { EXIT_FAILURE, EXIT_OK } from "./args.ts";
import { errorMessage } from "../_protocol/error_message.ts";
import { TextLineStream } from "./std.ts";
import { type ChatClient, FrameTooLargeError } from "../client.ts";
import { foldName, type ServerFrame } from "../protocol.ts";
import { formatFrame } from "../_text/format.ts";

/** How pipe mode prints. */
export interface PipeOptions {
  /** Print every frame as a JSON line instead of `<name> text`. */
  json: boolean;
  /** Talk in this room, rather than the server's default room. */
  room?: string;
  /** Replay no earlier messages on entering the room. */
  noHistory: boolean;
}

/**
 * Sends each line of stdin as a message until stdin ends, then quits; meanwhile prints what
 * arrives. Returns 0 once stdin is sent and the server has said goodbye, or the server closed;
 * 1, with one line on stderr, if the connection broke (a frame over the client's limit, say).
 */
export async function runPipe(client: ChatClient, options: PipeOptions): Promise<number> {
  const print = options.json ? printJson : printText;
  print(client.welcome);
  const room = options.room ?? client.welcome.room;
  if (options.room !== undefined) {
    const refusal = await enter(client, options.room, options.noHistory, print);
    if (refusal !== undefined) {
      console.error(`parley: cannot enter room "${options.room}": ${refusal}`);
      await client.quit();
      return EXIT_FAILURE;
    }
  }
  const limit = limitLineBytes(client.welcome.maxFrameBytes);
  const lines = Deno.stdin.readable
    .pipeThrough(limit.stream)
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new TextLineStream({ allowCR: true }))
    .getReader();
  // Why the connection broke, if it did: said rather than whatever sending then ran into.
  let lost: unknown;
  const printing = (async () => {
    try {
      for await (const frame of client) print(frame);
    } catch (error) {
      lost = error;
    }
    await lines.cancel();
  })();
  let failure: unknown;
  try {
    for (let next = await lines.read(); !next.done; next = await lines.read()) {
      // Checked before each line, or the start of the line that was too long would be sent.
      limit.check();
      if (next.value.trim() !== "") client.send(next.value, { room });
    }
    limit.check();
  } catch (error) {
    failure = error;
    await lines.cancel();
  }
  await client.quit();
  await printing;
  if (lost !== undefined) {
    console.error(`parley: ${connectionFailure(lost)}`);
    return EXIT_FAILURE;
  }
  if (failure !== undefined) {
    console.error(`parley: ${errorMessage(failure)}`);
    return EXIT_FAILURE;
  }
  return EXIT_OK;
}

/**
 * What to tell the user when the connection to the server broke with `error` (something other
 * than an ordinary disconnect), as the rest of a line after "parley: ".
 */
export function connectionFailure(error: unknown): string {
  if (error instanceof FrameTooLargeError) {
    // A broken or hostile server: nothing it sends after this can be trusted to be framed.
    const mib = error.limit / (1024 * 1024);
    const limit = Number.isInteger(mib) ? `${mib} MiB` : `${error.limit} bytes`;
    return `the server sent a frame over ${limit}; disconnecting`;
  }
  return `lost the server: ${errorMessage(error)}`;
}

/** Joins `room` and leaves the default room; returns why not, if the server refused. */
async function enter(
  client: ChatClient,
  room: string,
  noHistory: boolean,
  print: (frame: ServerFrame) => void,
): Promise<string | undefined> {
  client.join(room, noHistory ? { history: 0 } : {});
  for await (const frame of client) {
    print(frame);
    if (frame.type === "error") return frame.message;
    if (frame.type === "entered" && foldName(frame.room) === foldName(room)) break;
  }
  if (foldName(room) !== foldName(client.welcome.room)) client.part(client.welcome.room);
  return undefined;
}

function printJson(frame: ServerFrame): void {
  console.log(JSON.stringify(frame));
}

function printText(frame: ServerFrame): void {
  const formatted = formatFrame(frame, { color: false, time: false });
  if (formatted === undefined) return;
  if (formatted.kind === "message") console.log(formatted.text);
  else console.error(formatted.text);
}

const LF = 0x0a;

/**
 * Ends the stream, before TextLineStream buffers it, at a line longer than `max` bytes: counted
 * in the UTF-8 that stdin holds, as the server counts its frame limit. The line's ending, `\n`,
 * is not counted; a `\r` before it is. `check` then throws a RangeError saying which line.
 *
 * The stream ends rather than fails because Deno (2.9) reports an error thrown in a transform
 * of a pipe as uncaught, with a stack trace, even when the reader at the end catches it.
 */
function limitLineBytes(
  max: number,
): { stream: TransformStream<Uint8Array, Uint8Array>; check(): void } {
  let lineLength = 0;
  let lineNumber = 1;
  let failure: RangeError | undefined;
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      let start = 0;
      for (let end = chunk.indexOf(LF); end !== -1; end = chunk.indexOf(LF, start)) {
        lineLength += end - start;
        if (lineLength > max) break;
        lineLength = 0;
        lineNumber++;
        start = end + 1;
      }
      if (lineLength <= max) lineLength += chunk.length - start;
      if (lineLength > max) {
        failure = new RangeError(
          `Line ${lineNumber} of stdin is longer than the server takes (${max} bytes); stopped there`,
        );
        return controller.terminate();
      }
      controller.enqueue(chunk);
    },
  });
  const check = () => {
    if (failure !== undefined) throw failure;
  };
  return { stream, check };
}
