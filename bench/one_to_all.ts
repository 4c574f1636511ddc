// `deno run -A bench/one_to_all.ts [--conns N] [--parley PATH] [--file]`: N clients join one
// room, 50 at a time, while a pinger pings every 20 ms; then one of them sends five messages, one a
// second, and each is timed until the last of the others has it. The readers do the least work a
// reader can (they look for the marker in what arrives), so that the figure is the server's rather
// than the load generator's, as `deno task bench conns`'s own "1 msg to all" may not be. The
// server is started as the bench starts it (bench/_server.ts: its store in memory, or in a file
// with --file), on CPU 0; run this script on another (`taskset -c 1`).

import { parseArgs } from "../_cli/std.ts";
import { Histogram } from "./_histogram.ts";
import { nofileFor } from "./_proc.ts";
import { ServerProcess } from "./_server.ts";

const args = parseArgs(Deno.args, { string: ["conns", "parley"], boolean: ["file"] });
const conns = Number(args.conns ?? 10_000);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const server = await ServerProcess.start({
  kind: "parley",
  db: args.file ? "file" : "memory",
  mod: args.parley === undefined ? undefined : String(args.parley),
  nofile: await nofileFor(conns + 64, "The server"),
  cpus: "0",
  clients: conns,
});
const port = server.port;

/** A client that joins with no history and counts the messages holding `MARK` it is given. */
class Reader {
  conn!: Deno.Conn;
  entered = Promise.withResolvers<void>();
  async run(name: string, onMark: () => void): Promise<void> {
    this.conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const hello = { type: "hello", name, history: 0 };
    await this.conn.write(encoder.encode(JSON.stringify(hello) + "\n"));
    const buffer = new Uint8Array(65_536);
    let entered = false;
    while (true) {
      const count = await this.conn.read(buffer).catch(() => null);
      if (count === null) return;
      const text = decoder.decode(buffer.subarray(0, count));
      if (!entered && text.includes('"entered"')) {
        entered = true;
        this.entered.resolve();
      } else if (entered && text.includes("MARK")) onMark();
    }
  }
}

// The pinger: one connection that pings every 20 ms, its round trips counted meanwhile.
const pings = new Histogram();
const pinger = await Deno.connect({ hostname: "127.0.0.1", port });
await pinger.write(encoder.encode('{"type":"hello","name":"pinger","history":0}\n'));
let pinging = true;
const sentAt = new Map<string, number>();
const pingLoop = (async () => {
  const buffer = new Uint8Array(65_536);
  (async () => {
    while (true) {
      const count = await pinger.read(buffer).catch(() => null);
      if (count === null) return;
      for (const match of decoder.decode(buffer.subarray(0, count)).matchAll(/"id":"(p\d+)"/g)) {
        const sent = sentAt.get(match[1]!);
        if (sent !== undefined) pings.record((performance.now() - sent) * 1000);
        sentAt.delete(match[1]!);
      }
    }
  })();
  for (let id = 0; pinging; id++) {
    sentAt.set(`p${id}`, performance.now());
    await pinger.write(encoder.encode(`{"type":"ping","id":"p${id}"}\n`));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
})();

let received = 0;
let all: (() => void) | undefined;
const readers: Reader[] = [];
const joining = performance.now();
for (let index = 0; index < conns; index += 50) {
  const batch = Array.from({ length: Math.min(50, conns - index) }, (_, k) => {
    const reader = new Reader();
    readers.push(reader);
    reader.run(`u${index + k}`, () => {
      if (++received === conns - 1) all?.();
    });
    return reader.entered.promise;
  });
  await Promise.all(batch);
}
const joinSeconds = (performance.now() - joining) / 1000;
pinging = false;
await pingLoop;
const joinPings = pings.percentiles();
console.log(
  `${conns} clients joined one room in ${joinSeconds.toFixed(1)} s; ping round trips meanwhile ` +
    `p50 ${joinPings.p50.toFixed(1)} ms, p99 ${joinPings.p99.toFixed(1)} ms, ` +
    `max ${joinPings.max.toFixed(1)} ms (${pings.count} pings)`,
);
await new Promise((resolve) => setTimeout(resolve, 2000));
const times: number[] = [];
for (let round = 0; round < 5; round++) {
  received = 0;
  const done = new Promise<void>((resolve) => all = resolve);
  const start = performance.now();
  await readers[0]!.conn.write(
    encoder.encode(JSON.stringify({ type: "send", text: `MARK ${round}` }) + "\n"),
  );
  await done;
  times.push(performance.now() - start);
  await new Promise((resolve) => setTimeout(resolve, 1000));
}
console.log(
  `one message to the other ${conns - 1}: ${times.map((ms) => ms.toFixed(0)).join(", ")} ms`,
);
await server.stop();
Deno.exit(0);
