// Fan-out: R receivers and S senders in one room, each sender sending M messages as fast as the
// receivers take them (at most `window` unacknowledged). Also `history`: the same against a
// store on disk and in memory.

import { type ClientSpec, RELAY_PADDING, type RunReply, type Via, VIAS } from "./_control.ts";
import { Histogram, type Percentiles } from "./_histogram.ts";
import {
  againstNgircd,
  type ClusterUse,
  type CommonOptions,
  type CpuUse,
  disturbance,
  type Limit,
  limitNote,
  limitOf,
  ngircdNotes,
  Setup,
  shares,
  sideBySide,
} from "./_setup.ts";
import type { ServerKind } from "./_server.ts";
import type { ProfileSummary } from "./_profile.ts";
import {
  count,
  latencyCell,
  percent,
  round,
  type ScenarioResult,
  showProgress,
} from "./_report.ts";

/** Fan-out parameters. */
export interface FanoutOptions extends CommonOptions {
  receivers: number;
  senders: number;
  /** Messages per sender. */
  messages: number;
  /** Messages per sender in flight before waiting for acknowledgements. */
  window: number;
  /** Messages per sender sent first and not measured, to warm the JIT. */
  warmup: number;
  /** Run Parley once per way in for the receivers (see {@linkcode receiverVias}). */
  receiversVia?: readonly Via[];
}

/** How reports name each way in. */
export const VIA_NAMES: Record<Via, string> = { tcp: "TCP", irc: "IRC", ws: "WebSocket" };

/**
 * The ways in a scenario runs Parley's receivers through, in the bench's order: NDJSON over
 * TCP always, first, as the baseline the others are compared with.
 */
export function receiverVias(asked: readonly Via[] | undefined): Via[] {
  return VIAS.filter((via) => via === "tcp" || asked?.includes(via));
}

/** What one fan-out run measured. */
export interface FanoutFigures extends CpuUse, Partial<ClusterUse> {
  server: string;
  deliveries: number;
  expected: number;
  completion: number;
  /** From the first message sent to the last received. */
  seconds: number;
  /** The whole run, as the coordinator saw it: CPU shares are of this. */
  wallSeconds: number;
  deliveriesPerSecond: number;
  messagesPerSecond: number;
  latencyMs: Percentiles;
  /** Server CPU time per delivery: what it costs, whoever the bottleneck was. */
  serverCpuUsPerDelivery: number;
  /** What set the pace: the generators, the server, or round trips through the window. */
  limit: Limit;
  serverRssKiB: number;
  errors: Record<string, number>;
  dropped: number;
  /** What `parley serve` was run with. */
  serverArgs: string[];
  profile?: ProfileSummary;
}

/** The clients of a room: receivers `r0`.. (taking `via`), then senders `s0`.. (`sendersVia`). */
export function population(
  receivers: number,
  senders: number,
  via: Via = "tcp",
  sendersVia: Via = "tcp",
): ClientSpec[] {
  const taking = (way: Via) => way === "tcp" ? {} : { via: way };
  return [
    ...Array.from(
      { length: receivers },
      (_, i): ClientSpec => ({ name: `r${i}`, role: "recv", ...taking(via) }),
    ),
    ...Array.from(
      { length: senders },
      (_, sid): ClientSpec => ({ name: `s${sid}`, role: "send", sid, ...taking(sendersVia) }),
    ),
  ];
}

/**
 * A run's name in reports: its setup's ({@linkcode Setup.label}), and `all irc` when Parley's
 * senders take its IRC gateway too.
 */
export function runLabel(setup: Setup, sendersVia: Via): string {
  const label = setup.label;
  return setup.server.spec.kind === "parley" && sendersVia === "irc"
    ? label.replace(", irc)", ", all irc)")
    : label;
}

/** Sums the generators' answers to one run. */
export function combine(replies: RunReply[]) {
  const latency = new Histogram();
  const errors: Record<string, number> = {};
  let received = 0;
  let expected = 0;
  let dropped = 0;
  let firstSendUs = Infinity;
  let lastReceiveUs = 0;
  for (const reply of replies) {
    latency.merge(reply.latency);
    received += reply.received;
    expected += reply.expected;
    dropped += reply.closed;
    if (reply.firstSendUs > 0) firstSendUs = Math.min(firstSendUs, reply.firstSendUs);
    lastReceiveUs = Math.max(lastReceiveUs, reply.lastReceiveUs);
    for (const [code, n] of Object.entries(reply.errors)) errors[code] = (errors[code] ?? 0) + n;
  }
  const seconds = lastReceiveUs > firstSendUs ? (lastReceiveUs - firstSendUs) / 1e6 : 0;
  return { latency, errors, received, expected, dropped, seconds, firstSendUs, lastReceiveUs };
}

/**
 * Runs fan-out once against one server, its receivers taking `via`, its senders `sendersVia`;
 * with `nodes`, against that many nodes of a cluster (see {@linkcode Setup.place}).
 */
export async function measureFanout(
  kind: ServerKind,
  db: "file" | "memory",
  options: FanoutOptions,
  via: Via = "tcp",
  sendersVia: Via = "tcp",
  nodes = 0,
): Promise<{ figures: FanoutFigures; notes: string[] }> {
  const { receivers, senders, messages, window } = options;
  const clients = receivers + senders;
  const setup = await Setup.start({ kind, db, via, nodes }, clients, options);
  const label = runLabel(setup, sendersVia);
  let closed = false;
  try {
    const { generators, server } = setup;
    const everyone = setup.place(population(receivers, senders, via, sendersVia));
    const joined = await generators.connect(server.port, everyone, {
      bufferBytes: 65_536,
      ports: server.ports,
    });
    if (joined.failed > 0) {
      throw new Error(`${joined.failed} client(s) could not join ${label}: ${joined.errors[0]}`);
    }
    const run = (perSender: number) =>
      generators.run(() => ({
        perSender: Array(senders).fill(perSender),
        window,
        port: server.port,
        idleMs: 10_000,
        pad: kind === "relay" ? RELAY_PADDING : 0,
      }));
    if (options.warmup > 0) await run(options.warmup);

    const expected = senders * messages * (clients - 1);
    const start = generators.progress().received;
    const meter = setup.meter();
    let last = start;
    const stop = showProgress(() => {
      const received = generators.progress().received - start;
      const line = `fanout ${label}: ${count(received)}/${count(expected)} deliveries (${
        percent(received / expected)
      }), ${count(received + start - last)}/s, server CPU ${
        shares([meter.serverShare()])
      }, generators CPU ${shares(meter.generatorShares())}`;
      last = received + start;
      return line;
    });
    let result;
    try {
      result = combine(await run(messages));
    } finally {
      stop();
    }
    const wallSeconds = meter.seconds;
    const serverSeconds = meter.serverSeconds();
    const use = meter.cpuUse();
    const cluster = meter.clusterUse(result.received);
    const limit = limitOf(use, options);
    const serverRssKiB = server.rssKiB();
    const summary = await setup.close();
    closed = true;
    const figures: FanoutFigures = {
      server: label,
      deliveries: result.received,
      expected: result.expected,
      completion: round(result.received / result.expected, 4),
      seconds: round(result.seconds, 3),
      wallSeconds: round(wallSeconds, 3),
      deliveriesPerSecond: Math.round(result.received / result.seconds),
      messagesPerSecond: Math.round(result.received / (clients - 1) / result.seconds),
      latencyMs: result.latency.percentiles(),
      ...use,
      serverCpuUsPerDelivery: round(serverSeconds * 1e6 / result.received, 3),
      ...cluster,
      limit,
      serverRssKiB,
      errors: result.errors,
      dropped: result.dropped,
      serverArgs: server.args,
    };
    if (summary.profile !== undefined) figures.profile = summary.profile;
    const notes = summary.notes;
    notes.push(...disturbance(label, use), ...limitNote(label, limit, use));
    return { figures, notes };
  } finally {
    if (!closed) await setup.close();
  }
}

function fanoutRow(figures: FanoutFigures, ngircd?: FanoutFigures): (string | number)[] {
  return [
    figures.server,
    count(figures.deliveriesPerSecond),
    count(figures.messagesPerSecond),
    percent(figures.completion),
    latencyCell(figures.latencyMs),
    `${figures.serverCpuPercent}%`,
    figures.serverCpuUsPerDelivery,
    figures.generatorCpuPercent.map((share) => `${share}%`).join(" "),
    figures.limit,
    count(figures.serverRssKiB),
    ...ngircd === undefined ? [] : [
      round(figures.deliveriesPerSecond / ngircd.deliveriesPerSecond, 2),
      round(figures.serverCpuUsPerDelivery / ngircd.serverCpuUsPerDelivery, 2),
    ],
  ];
}

const FANOUT_COLUMNS = [
  "server",
  "deliveries/s",
  "messages/s",
  "complete",
  "latency ms p50 / p99 / max",
  "server CPU",
  "CPU µs/delivery",
  "generators CPU",
  "limited by",
  "RSS KiB",
];

/** The columns a table adds when ngIRCd ran: each row's figures over ngIRCd's. */
const FANOUT_NGIRCD_COLUMNS = ["deliveries/s × ngIRCd", "CPU/delivery × ngIRCd"];

/** The limit on Parley's CPU per delivery in fan-out, as a multiple of ngIRCd's. */
const CPU_OVER_NGIRCD = 0.6;

/** The parameters of a fan-out run, as the JSON line gives them. */
export function params(options: FanoutOptions): Record<string, number> {
  return {
    receivers: options.receivers,
    senders: options.senders,
    messages: options.messages,
    window: options.window,
    warmup: options.warmup,
    generators: options.generators,
  };
}

/**
 * `fanout`: Parley against the reference relay, same load; with `receiversVia`, Parley once
 * more for each other way in, compared with its TCP run; with ngIRCd, Parley with every client
 * on its IRC gateway and ngIRCd, the same way, compared by CPU per delivery.
 */
export async function fanout(options: FanoutOptions): Promise<ScenarioResult> {
  const vias = receiverVias(options.receiversVia);
  const runs = [];
  for (const via of vias) {
    runs.push({ via, ...await measureFanout("parley", "file", options, via) });
  }
  const parley = runs[0]!;
  const irc = await againstNgircd(
    options,
    (kind, via) => measureFanout(kind, "file", options, via, via),
  );
  const relay = await measureFanout("relay", "memory", options);
  const ratio = parley.figures.deliveriesPerSecond / relay.figures.deliveriesPerSecond;
  const efficiency = relay.figures.serverCpuUsPerDelivery / parley.figures.serverCpuUsPerDelivery;
  const others = runs.slice(1).map((run) => ({
    ...run,
    overTcp: run.figures.deliveriesPerSecond / parley.figures.deliveriesPerSecond,
  }));
  const ngircd = irc?.ngircd.figures;
  const cpuOverNgircd = (figures: FanoutFigures) =>
    round(figures.serverCpuUsPerDelivery / ngircd!.serverCpuUsPerDelivery, 3);
  const { rows, sides } = sideBySide(runs, irc, relay);
  return {
    scenario: "fanout",
    table: {
      columns: [...FANOUT_COLUMNS, ...ngircd === undefined ? [] : FANOUT_NGIRCD_COLUMNS],
      rows: rows.map((figures) => fanoutRow(figures, ngircd)),
    },
    figures: {
      params: { ...params(options), ...others.length > 0 ? { receiversVia: vias } : {} },
      parley: parley.figures,
      relay: relay.figures,
      parleyPercentOfRelay: round(ratio * 100, 1),
      parleyPercentOfRelayPerCpu: round(efficiency * 100, 1),
      ...Object.fromEntries(others.flatMap((run) => [
        [`parley_${run.via}`, run.figures],
        [`${run.via}OverTcp`, round(run.overTcp, 3)],
      ])),
      ...irc === undefined ? {} : {
        parley_all_irc: irc.irc.figures,
        ngircd,
        cpuPerDeliveryOverNgircd: cpuOverNgircd(parley.figures),
        ircCpuPerDeliveryOverNgircd: cpuOverNgircd(irc.irc.figures),
      },
      completion: Math.min(...rows.map((figures) => figures.completion)),
    },
    targets: [
      {
        name: "Parley fan-out, % of the reference relay's deliveries/s",
        value: round(ratio * 100, 1),
        limit: 70,
        unit: "%",
        met: ratio >= 0.7,
      },
      ...others.map((run) => ({
        name: `Parley fan-out to ${VIA_NAMES[run.via]} receivers, × its deliveries/s to TCP ones`,
        value: round(run.overTcp, 2),
        limit: 0.7,
        unit: "×",
        met: run.overTcp >= 0.7,
      })),
      ...sides.map(({ name, figures }) => {
        const value = cpuOverNgircd(figures);
        return {
          name: `Parley's server CPU per delivery in fan-out over ${name}, × ngIRCd's`,
          value,
          limit: CPU_OVER_NGIRCD,
          unit: "×",
          met: value <= CPU_OVER_NGIRCD,
        };
      }),
    ],
    notes: [
      `Parley delivers ${percent(ratio)} of the reference relay's deliveries per second, and ${
        percent(efficiency)
      } of its deliveries per CPU second.`,
      ...others.map((run) =>
        `${VIA_NAMES[run.via]} deliveries/s = ${round(run.overTcp, 2)}× TCP (${
          count(run.figures.deliveriesPerSecond)
        } against ${count(parley.figures.deliveriesPerSecond)}).`
      ),
      ...sides.map(({ name, figures }) =>
        `Parley over ${name} uses ${
          cpuOverNgircd(figures)
        }× ngIRCd's server CPU per delivery (${figures.serverCpuUsPerDelivery} µs against ${
          ngircd!.serverCpuUsPerDelivery
        } µs).`
      ),
      ...ngircdNotes(options),
      ...runs.flatMap((run) => run.notes),
      ...irc === undefined ? [] : [...irc.irc.notes, ...irc.ngircd.notes],
      ...relay.notes,
    ],
  };
}

/** `history`: fan-out with the store in a file, then in memory. */
export async function history(options: FanoutOptions): Promise<ScenarioResult> {
  const file = await measureFanout("parley", "file", options);
  const memory = await measureFanout("parley", "memory", options);
  const ratio = file.figures.deliveriesPerSecond / memory.figures.deliveriesPerSecond;
  return {
    scenario: "history",
    table: {
      columns: FANOUT_COLUMNS,
      rows: [fanoutRow(file.figures), fanoutRow(memory.figures)],
    },
    figures: {
      params: params(options),
      file: file.figures,
      memory: memory.figures,
      fileOverMemory: round(ratio, 3),
      storeCostPercent: round((1 - ratio) * 100, 1),
      completion: Math.min(file.figures.completion, memory.figures.completion),
    },
    targets: [{
      name: "throughput lost to the SQLite file store (vs :memory:)",
      value: round((1 - ratio) * 100, 1),
      limit: 20,
      unit: "%",
      met: ratio >= 0.8,
    }],
    notes: [
      `With the store in a file Parley keeps ${percent(ratio)} of its in-memory throughput.`,
      ...file.notes,
      ...memory.notes,
    ],
  };
}
