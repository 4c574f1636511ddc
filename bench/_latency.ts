// Latency: the fan-out population at a fixed offered rate (open loop: senders keep to the
// schedule whatever the server does), so the figures are delivery latency, not queueing.

import { RELAY_PADDING } from "./_control.ts";
import { combine, population } from "./_fanout.ts";
import type { ProfileSummary } from "./_profile.ts";
import type { Percentiles } from "./_histogram.ts";
import {
  count,
  latencyCell,
  percent,
  round,
  type ScenarioResult,
  showProgress,
} from "./_report.ts";
import { type CommonOptions, type CpuUse, disturbance, Setup, shares } from "./_setup.ts";

/** Latency parameters. */
export interface LatencyOptions extends CommonOptions {
  receivers: number;
  senders: number;
  /** Messages per second, all senders together. */
  rate: number;
  /** Seconds to send for. */
  duration: number;
  /** Seconds sent first at the same rate and not measured. */
  warmupSeconds: number;
}

/** How many of `total` messages each of `senders` sends when message i is sender i % senders's. */
export function split(total: number, senders: number): number[] {
  return Array.from(
    { length: senders },
    (_, sid) => Math.max(0, Math.ceil((total - sid) / senders)),
  );
}

/** What one latency run measured. */
export interface LatencyFigures extends CpuUse {
  server: string;
  messages: number;
  deliveries: number;
  expected: number;
  completion: number;
  latencyMs: Percentiles;
  serverArgs: string[];
  errors: Record<string, number>;
  dropped: number;
  profile?: ProfileSummary;
}

/** Sends at a fixed rate through one server and measures the latency. */
export async function measureLatency(
  kind: "parley" | "relay",
  options: LatencyOptions,
): Promise<{ figures: LatencyFigures; notes: string[] }> {
  const { receivers, senders, rate, duration } = options;
  const setup = await Setup.start({ kind, db: "file" }, receivers + senders, options);
  const label = setup.server.label;
  let closed = false;
  try {
    const { generators, server } = setup;
    const joined = await generators.connect(server.port, population(receivers, senders), {
      bufferBytes: 65_536,
    });
    if (joined.failed > 0) throw new Error(`${joined.failed} client(s) could not join`);
    const run = (seconds: number) =>
      generators.run(() => ({
        perSender: split(Math.max(1, Math.round(rate * seconds)), senders),
        perSecond: rate,
        port: server.port,
        idleMs: 10_000,
        pad: kind === "relay" ? RELAY_PADDING : 0,
      }));
    if (options.warmupSeconds > 0) await run(options.warmupSeconds);
    const total = Math.max(1, Math.round(rate * duration));
    const meter = setup.meter();
    const start = generators.progress().sent;
    const stop = showProgress(() =>
      `latency ${label}: ${count(generators.progress().sent - start)}/${
        count(total)
      } messages sent, server CPU ${shares([meter.serverShare()])}, generators CPU ${
        shares(meter.generatorShares())
      }`
    );
    let result;
    try {
      result = combine(await run(duration));
    } finally {
      stop();
    }
    const use = meter.cpuUse();
    const summary = await setup.close();
    closed = true;
    const figures: LatencyFigures = {
      server: label,
      messages: total,
      deliveries: result.received,
      expected: result.expected,
      completion: round(result.received / result.expected, 4),
      latencyMs: result.latency.percentiles(),
      ...use,
      serverArgs: server.args,
      errors: result.errors,
      dropped: result.dropped,
    };
    if (summary.profile !== undefined) figures.profile = summary.profile;
    const notes = summary.notes;
    notes.push(...disturbance(label, use));
    return { figures, notes };
  } finally {
    if (!closed) await setup.close();
  }
}

/** `latency`: p50/p99/max at a fixed rate, Parley and the reference relay. */
export async function latency(options: LatencyOptions): Promise<ScenarioResult> {
  const parley = await measureLatency("parley", options);
  const relay = await measureLatency("relay", options);
  const clients = options.receivers + options.senders;
  const row = (figures: LatencyFigures) => [
    figures.server,
    options.rate,
    count(figures.deliveries),
    percent(figures.completion),
    figures.latencyMs.p50,
    figures.latencyMs.p99,
    figures.latencyMs.max,
    `${figures.serverCpuPercent}%`,
    figures.generatorCpuPercent.map((share) => `${share}%`).join(" "),
    `${figures.otherCpuPercent}%`,
    `${figures.stolenCpuPercent}%`,
  ];
  const p99 = parley.figures.latencyMs.p99;
  return {
    scenario: "latency",
    table: {
      columns: [
        "server",
        "messages/s",
        "deliveries",
        "complete",
        "p50 ms",
        "p99 ms",
        "max ms",
        "server CPU",
        "generators CPU",
        "other CPU",
        "stolen CPU",
      ],
      rows: [row(parley.figures), row(relay.figures)],
    },
    figures: {
      params: {
        receivers: options.receivers,
        senders: options.senders,
        rate: options.rate,
        duration: options.duration,
        generators: options.generators,
      },
      parley: parley.figures,
      relay: relay.figures,
      latencyMs: parley.figures.latencyMs,
      completion: Math.min(parley.figures.completion, relay.figures.completion),
    },
    targets: [{
      name: `Parley's p99 latency at ${options.rate} messages/s into ${clients} clients`,
      value: p99,
      limit: 5,
      unit: "ms",
      met: p99 < 5,
    }],
    notes: [
      `Parley p50 / p99 / max: ${latencyCell(parley.figures.latencyMs)} ms; the relay: ${
        latencyCell(relay.figures.latencyMs)
      } ms.`,
      ...parley.notes,
      ...relay.notes,
    ],
  };
}
