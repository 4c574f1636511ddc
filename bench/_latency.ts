// Latency: the fan-out population at a fixed offered rate (open loop: senders keep to the
// schedule whatever the server does), so the figures are delivery latency, not queueing.

import { RELAY_PADDING, type Via } from "./_control.ts";
import { combine, population, receiverVias, runLabel, VIA_NAMES } from "./_fanout.ts";
import type { ServerKind } from "./_server.ts";
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
import {
  againstNgircd,
  type ClusterUse,
  type CommonOptions,
  type CpuUse,
  disturbance,
  ngircdNotes,
  Setup,
  shares,
  sideBySide,
} from "./_setup.ts";

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
  /** Run Parley once per way in for the receivers (see {@linkcode receiverVias}). */
  receiversVia?: readonly Via[];
}

/** The p99 latency, in ms, a way in for receivers must stay under; TCP's is the scenario's. */
const P99_LIMIT_MS: Partial<Record<Via, number>> = { ws: 10 };

/** How many of `total` messages each of `senders` sends when message i is sender i % senders's. */
export function split(total: number, senders: number): number[] {
  return Array.from(
    { length: senders },
    (_, sid) => Math.max(0, Math.ceil((total - sid) / senders)),
  );
}

/** What one latency run measured. */
export interface LatencyFigures extends CpuUse, Partial<ClusterUse> {
  server: string;
  messages: number;
  deliveries: number;
  expected: number;
  completion: number;
  latencyMs: Percentiles;
  /** Server CPU time per delivery at this rate. */
  serverCpuUsPerDelivery: number;
  serverArgs: string[];
  errors: Record<string, number>;
  dropped: number;
  profile?: ProfileSummary;
}

/**
 * Sends at a fixed rate through one server, its receivers taking `via` and its senders
 * `sendersVia`; with `nodes`, through that many nodes of a cluster (see
 * {@linkcode Setup.place}); measures latency.
 */
export async function measureLatency(
  kind: ServerKind,
  options: LatencyOptions,
  via: Via = "tcp",
  sendersVia: Via = "tcp",
  nodes = 0,
): Promise<{ figures: LatencyFigures; notes: string[] }> {
  const { receivers, senders, rate, duration } = options;
  const setup = await Setup.start({ kind, db: "file", via, nodes }, receivers + senders, options);
  const label = runLabel(setup, sendersVia);
  let closed = false;
  try {
    const { generators, server } = setup;
    const everyone = setup.place(population(receivers, senders, via, sendersVia));
    const joined = await generators.connect(server.port, everyone, {
      bufferBytes: 65_536,
      ports: server.ports,
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
    const cluster = meter.clusterUse(result.received);
    const serverSeconds = meter.serverSeconds();
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
      serverCpuUsPerDelivery: round(serverSeconds * 1e6 / result.received, 3),
      ...cluster,
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

/**
 * `latency`: p50/p99/max at a fixed rate, Parley and the reference relay; with `receiversVia`,
 * Parley once more for each other way in; with ngIRCd, Parley with every client on its IRC
 * gateway and ngIRCd, the same way, compared by p99.
 */
export async function latency(options: LatencyOptions): Promise<ScenarioResult> {
  const vias = receiverVias(options.receiversVia);
  const runs = [];
  for (const via of vias) runs.push({ via, ...await measureLatency("parley", options, via) });
  const parley = runs[0]!;
  const others = runs.slice(1);
  const irc = await againstNgircd(
    options,
    (kind, via) => measureLatency(kind, options, via, via),
  );
  const relay = await measureLatency("relay", options);
  const clients = options.receivers + options.senders;
  const ngircd = irc?.ngircd.figures;
  const p99OverNgircd = (figures: LatencyFigures) =>
    round(figures.latencyMs.p99 / ngircd!.latencyMs.p99, 3);
  const row = (figures: LatencyFigures) => [
    figures.server,
    options.rate,
    count(figures.deliveries),
    percent(figures.completion),
    figures.latencyMs.p50,
    figures.latencyMs.p99,
    figures.latencyMs.max,
    `${figures.serverCpuPercent}%`,
    figures.serverCpuUsPerDelivery,
    figures.generatorCpuPercent.map((share) => `${share}%`).join(" "),
    `${figures.otherCpuPercent}%`,
    `${figures.stolenCpuPercent}%`,
    ...ngircd === undefined ? [] : [round(p99OverNgircd(figures), 2)],
  ];
  const p99 = parley.figures.latencyMs.p99;
  const { rows, sides } = sideBySide(runs, irc, relay);
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
        "CPU µs/delivery",
        "generators CPU",
        "other CPU",
        "stolen CPU",
        ...ngircd === undefined ? [] : ["p99 × ngIRCd"],
      ],
      rows: rows.map(row),
    },
    figures: {
      params: {
        receivers: options.receivers,
        senders: options.senders,
        rate: options.rate,
        duration: options.duration,
        generators: options.generators,
        ...others.length > 0 ? { receiversVia: vias } : {},
      },
      parley: parley.figures,
      relay: relay.figures,
      latencyMs: parley.figures.latencyMs,
      ...Object.fromEntries(others.map((run) => [`parley_${run.via}`, run.figures])),
      ...irc === undefined ? {} : {
        parley_all_irc: irc.irc.figures,
        ngircd,
        p99OverNgircd: p99OverNgircd(parley.figures),
        ircP99OverNgircd: p99OverNgircd(irc.irc.figures),
      },
      completion: Math.min(...rows.map((figures) => figures.completion)),
    },
    targets: [
      {
        name: `Parley's p99 latency at ${options.rate} messages/s into ${clients} clients`,
        value: p99,
        limit: 5,
        unit: "ms",
        met: p99 < 5,
      },
      ...others.flatMap((run) => {
        const limit = P99_LIMIT_MS[run.via];
        const value = run.figures.latencyMs.p99;
        return limit === undefined ? [] : [{
          name: `Parley's p99 latency at ${options.rate} messages/s to ${
            VIA_NAMES[run.via]
          } receivers`,
          value,
          limit,
          unit: "ms",
          met: value < limit,
        }];
      }),
      ...sides.map(({ name, figures }) => {
        const value = p99OverNgircd(figures);
        return {
          name: `Parley's p99 latency at ${options.rate} messages/s over ${name}, × ngIRCd's`,
          value,
          limit: 1,
          unit: "×",
          met: value <= 1,
        };
      }),
    ],
    notes: [
      `Parley p50 / p99 / max: ${latencyCell(parley.figures.latencyMs)} ms; the relay: ${
        latencyCell(relay.figures.latencyMs)
      } ms.`,
      ...others.map((run) =>
        `${
          VIA_NAMES[run.via]
        } receivers: p99 at ${options.rate} msg/s = ${run.figures.latencyMs.p99} ms (TCP: ${p99} ms), p50 / p99 / max ${
          latencyCell(run.figures.latencyMs)
        } ms.`
      ),
      ...irc === undefined ? [] : [
        `Parley with every client over IRC: ${latencyCell(irc.irc.figures.latencyMs)} ms; ngIRCd: ${
          latencyCell(irc.ngircd.figures.latencyMs)
        } ms.`,
      ],
      ...ngircdNotes(options),
      ...others.flatMap((run) => run.notes),
      ...parley.notes,
      ...irc === undefined ? [] : [...irc.irc.notes, ...irc.ngircd.notes],
      ...relay.notes,
    ],
  };
}
