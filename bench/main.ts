// `deno task bench [SCENARIO...] [options]`: Parley's benchmarks. Each scenario starts the real
// server (`mod.ts serve`) as a subprocess, drives it from separate load-generator processes,
// and prints a progress line on stderr, then a table and one JSON line on stdout.
// docs/PERFORMANCE.md has the figures and how to read them.

import { parseArgs } from "../_cli/std.ts";
import { churn } from "./_churn.ts";
import { clusterFanout, clusterLatency } from "./_cluster.ts";
import { conns } from "./_conns.ts";
import { fanout, history } from "./_fanout.ts";
import { latency } from "./_latency.ts";
import { note, printResult, type ScenarioResult } from "./_report.ts";
import { generatorCpuCount, loadAverage } from "./_proc.ts";
import { hasNgircd } from "./_server.ts";
import type { CommonOptions } from "./_setup.ts";
import { type Via, VIAS } from "./_control.ts";

/** The scenarios, in the order `deno task bench` runs them. */
export const SCENARIOS = ["fanout", "latency", "conns", "history", "churn"] as const;

/** A scenario's name. */
export type Scenario = (typeof SCENARIOS)[number];

const HELP = `Usage: deno task bench [SCENARIO...] [options]

Scenarios (default: all, in this order):
  fanout   R receivers, S senders in one room, M messages each as fast as they go;
           Parley against ngIRCd and the reference relay (bench/_relay.ts)
  latency  the same population at a fixed rate: p50 / p99 / max
  conns    C idle registered connections: server RSS per connection, one message to all
  history  fanout with the store in a file against --db :memory:
  churn    clients joining and leaving one room while others talk

Options:
  --receivers N     receivers in fanout, latency, history, churn (default 100)
  --senders N       senders in fanout, latency, history, churn (default 10)
  --messages N      messages per sender in fanout and history (default 25000)
  --window N        unacknowledged messages per sender in fanout (default 64)
  --warmup N        unmeasured messages per sender first (default messages / 10)
  --rate N          messages per second in latency and churn, all senders (default 200)
  --duration S      seconds of sending in latency (default 10)
  --conns N         idle connections in conns (default 10000)
  --settle S        seconds conns waits before reading RSS (default 2)
  --idle S          seconds conns then watches RSS while the connections stay idle, for
                    the least (default 30: V8 collects the garbage of registering by then)
  --clients N       churners in churn (default 2000)
  --join-rate N     churners starting per second (default 250)
  --dwell MS        how long each churner stays (default 4000)
  --ping-ms MS      ping interval during churn (default 20)
  --responsive-ms MS  churn's limit on ping p99 (default 100)
  --no-baseline     churn without its calm run first
  --receivers-via L  in fanout and latency, run Parley once per way in for the receivers,
                    a comma-separated list of tcp, irc (the IRC gateway, --irc-port) and ws
                    (the WebSocket endpoint, --http-port); tcp is always run, first, and the
                    others are reported against it (default: tcp only). Senders stay NDJSON.
  --cluster         fanout and latency through a cluster (--cluster) instead of against the
                    relay and ngIRCd: Parley alone, then as one node on a nats-server of its
                    own, then as two nodes on one, the receivers split evenly over them and the
                    senders on node 1; each node's CPU and nats-server's (Debian's nats-server
                    package; without it the cluster rows are left out, and the report says so)
  --no-ngircd       without ngIRCd: by default fanout, latency and conns also run Parley with
                    every client on its IRC gateway (--irc-port) and ngIRCd (Debian's ngircd
                    package; without it they say so), both over IRC, and report Parley's
                    figures over ngIRCd's
  --generators N    load-generator processes (default: one per CPU they run on)
  --no-pin          let the server and generators run on any CPU (by default, with two
                    CPUs or more, the server has CPU 0 to itself: taskset -c 0)
  --profile         CPU-profile Parley's server and summarise the profile
  --parley PATH     the mod.ts to bench (default: this checkout's)
  --server-args "A B"  more arguments for parley serve
  -h, --help        show this help

Limits meant for strangers that would refuse the bench's load are lifted where the server
has flags for them (--max-connections, --max-connections-per-ip, --rate 0).
The server and generators run with their open-file limit raised to 65536, or the hard limit
if lower (bash -c 'ulimit -n N; exec ...'). Linux only: memory and CPU come from /proc.
`;

const FLAGS = [
  "receivers",
  "senders",
  "messages",
  "window",
  "warmup",
  "rate",
  "duration",
  "conns",
  "settle",
  "idle",
  "clients",
  "join-rate",
  "dwell",
  "ping-ms",
  "responsive-ms",
  "generators",
  "receivers-via",
  "parley",
  "server-args",
];

/**
 * Runs the scenarios `args` names with its options; resolves with the exit code: 0 when every
 * scenario ran (met targets or not), 1 when one failed, 2 for a usage error.
 */
export async function main(args: string[]): Promise<number> {
  const unknown: string[] = [];
  const parsed = parseArgs(args, {
    boolean: ["help", "profile", "baseline", "pin", "ngircd", "cluster"],
    string: FLAGS,
    alias: { h: "help" },
    default: { baseline: true, pin: true, ngircd: true },
    negatable: ["baseline", "pin", "ngircd"],
    unknown: (arg: string) => {
      if (arg.startsWith("-")) unknown.push(arg);
      return !arg.startsWith("-");
    },
  });
  if (parsed.help) {
    console.log(HELP);
    return 0;
  }
  try {
    if (unknown.length > 0) throw new RangeError(`Unknown option "${unknown[0]}"`);
    const names = parsed._.map(String);
    for (const name of names) {
      if (!(SCENARIOS as readonly string[]).includes(name)) {
        throw new RangeError(`Unknown scenario "${name}"; scenarios: ${SCENARIOS.join(", ")}`);
      }
    }
    const number = (flag: string, fallback: number, min = 1): number => {
      const text = parsed[flag];
      if (text === undefined) return fallback;
      const value = Number(text);
      if (!Number.isFinite(value) || value < min) {
        throw new RangeError(`--${flag} must be a number of at least ${min}: got "${text}"`);
      }
      return value;
    };
    const pin = parsed.pin !== false;
    const common: CommonOptions = {
      generators: number("generators", generatorCpuCount(pin)),
      profile: parsed.profile === true,
      pin,
      ngircd: parsed.ngircd === false ? "no" : await hasNgircd() ? "yes" : "missing",
      mod: parsed.parley === undefined ? undefined : String(parsed.parley),
      serverArgs: String(parsed["server-args"] ?? "").split(" ").filter((arg) => arg !== ""),
    };
    const via = parsed["receivers-via"];
    const receiversVia = via === undefined ? {} : { receiversVia: vias(String(via)) };
    const receivers = number("receivers", 100);
    const senders = number("senders", 10);
    const messages = number("messages", 25_000);
    const rate = number("rate", 200);
    const fanoutOptions = {
      ...common,
      receivers,
      senders,
      messages,
      window: number("window", 64),
      warmup: number("warmup", Math.ceil(messages / 10), 0),
      ...receiversVia,
    };
    const latencyOptions = {
      ...common,
      receivers,
      senders,
      rate,
      duration: number("duration", 10, 0.001),
      warmupSeconds: 1,
      ...receiversVia,
    };
    const connsOptions = {
      ...common,
      conns: number("conns", 10_000),
      settle: number("settle", 2, 0),
      idle: number("idle", 30, 0),
    };
    const churnOptions = {
      ...common,
      clients: number("clients", 2000),
      joinRate: number("join-rate", 250),
      dwell: number("dwell", 4000, 0),
      receivers,
      senders,
      rate,
      pingMs: number("ping-ms", 20),
      baseline: parsed.baseline !== false,
      responsiveMs: number("responsive-ms", 100),
    };
    const run: Record<Scenario, () => Promise<ScenarioResult>> = {
      fanout: () => parsed.cluster ? clusterFanout(fanoutOptions) : fanout(fanoutOptions),
      history: () => history(fanoutOptions),
      latency: () => parsed.cluster ? clusterLatency(latencyOptions) : latency(latencyOptions),
      conns: () => conns(connsOptions),
      churn: () => churn(churnOptions),
    };
    const chosen = names.length === 0 ? [...SCENARIOS] : names as Scenario[];
    let failed = 0;
    for (const name of chosen) {
      try {
        const load = loadAverage();
        if (load > 0.5) {
          note(
            `bench: the load average is ${load} before ${name}: other work may skew the figures`,
          );
        }
        const result = await run[name]();
        result.figures.loadAverageBefore = load;
        result.figures.machine = machine();
        printResult(result);
      } catch (error) {
        failed++;
        console.error(`bench: ${name} failed: ${error instanceof Error ? error.stack : error}`);
      }
    }
    return failed > 0 ? 1 : 0;
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    console.error(`bench: ${error.message}`);
    return 2;
  }
}

/** The ways in `--receivers-via` lists. */
function vias(list: string): Via[] {
  const names = list.split(",").map((name) => name.trim()).filter((name) => name !== "");
  for (const name of names) {
    if (!(VIAS as readonly string[]).includes(name)) {
      throw new RangeError(`--receivers-via takes ${VIAS.join(", ")}: got "${name}"`);
    }
  }
  if (names.length === 0) throw new RangeError("--receivers-via needs at least one way in");
  return names as Via[];
}

/** Where the figures were taken: CPUs, memory, Deno. */
function machine(): Record<string, unknown> {
  let cpu = "unknown";
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1] ?? cpu;
  } catch {
    // Not Linux.
  }
  return {
    cpus: navigator.hardwareConcurrency,
    cpu,
    memoryGiB: Math.round(Deno.systemMemoryInfo().total / 2 ** 30),
    deno: Deno.version.deno,
  };
}

if (import.meta.main) Deno.exit(await main(Deno.args));
