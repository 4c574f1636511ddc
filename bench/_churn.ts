// Churn: clients joining and leaving one room while others talk at a fixed rate. Every join and
// leave is announced to everyone in the room, so the work grows with churners times room size.
// The same talk runs first without churn (the baseline), so the cost shows as a difference; an
// unregistered connection pings the server throughout to show whether it stays responsive.

import type { RunReply } from "./_control.ts";
import { combine, population } from "./_fanout.ts";
import { Histogram, type Percentiles } from "./_histogram.ts";
import { split } from "./_latency.ts";
import {
  count,
  latencyCell,
  percent,
  round,
  type ScenarioResult,
  showProgress,
} from "./_report.ts";
import { type CommonOptions, type CpuUse, Setup, shares } from "./_setup.ts";

/** Churn parameters. */
export interface ChurnOptions extends CommonOptions {
  /** Churners: each joins, stays `dwell` ms, and quits. */
  clients: number;
  /** Churners starting per second. */
  joinRate: number;
  dwell: number;
  /** The steady population and its talk. */
  receivers: number;
  senders: number;
  rate: number;
  /** Ping the server this often, in ms. */
  pingMs: number;
  /** Run the talk without churn first, for comparison. */
  baseline: boolean;
  /** The server is responsive if every ping is answered and p99 of their round trips is under this. */
  responsiveMs: number;
}

/** What one phase (calm or churning) measured. */
export interface PhaseFigures extends CpuUse {
  seconds: number;
  serverCpuSeconds: number;
  serverRssMaxKiB: number;
  messages: { deliveries: number; expected: number; completion: number; latencyMs: Percentiles };
  notices: { joined: number; left: number };
  churners: { joined: number; left: number; failed: number; messages: number };
  ping: { sent: number; answered: number; rttMs: Percentiles };
  errors: Record<string, number>;
}

/** `churn`: the cost of joins and leaves, and whether the server stays responsive. */
export async function churn(options: ChurnOptions): Promise<ScenarioResult> {
  const { receivers, senders, rate, clients } = options;
  const duration = clients / options.joinRate + options.dwell / 1000;
  const setup = await Setup.start(
    { kind: "parley", db: "file" },
    receivers + senders + clients + 1,
    options,
  );
  let closed = false;
  try {
    const { generators, server } = setup;
    const joined = await generators.connect(server.port, population(receivers, senders), {
      bufferBytes: 65_536,
    });
    if (joined.failed > 0) throw new Error(`${joined.failed} client(s) could not join`);

    const phase = async (churning: boolean): Promise<PhaseFigures> => {
      const meter = setup.meter();
      const start = generators.progress();
      let rssMax = server.rssKiB();
      const stop = showProgress(() => {
        const now = generators.progress();
        rssMax = Math.max(rssMax, server.rssKiB());
        return `churn (${churning ? "churning" : "baseline"}): ${
          count(now.churnJoined - start.churnJoined)
        }/${churning ? count(clients) : 0} joined, ${
          count(now.churnLeft - start.churnLeft)
        } left, ${count(now.joined + now.left - start.joined - start.left)} notices, ${
          count(now.received - start.received)
        } deliveries, server CPU ${shares([meter.serverShare()])}`;
      });
      let replies: RunReply[];
      try {
        replies = await generators.run((g) => ({
          perSender: split(Math.max(1, Math.round(rate * duration)), senders),
          perSecond: rate,
          port: server.port,
          idleMs: 10_000,
          ...(g === 0 ? { pingMs: options.pingMs } : {}),
          ...(churning
            ? {
              churn: {
                indices: Array.from({ length: clients }, (_, i) => i)
                  .filter((i) => i % generators.count === g),
                perSecond: options.joinRate,
                dwellMs: options.dwell,
                prefix: "x",
                port: server.port,
                bufferBytes: 16_384,
              },
            }
            : {}),
        }));
      } finally {
        stop();
      }
      rssMax = Math.max(rssMax, server.rssKiB());
      const result = combine(replies);
      const rtt = new Histogram();
      for (const reply of replies) rtt.merge(reply.ping.rtt);
      const sum = (pick: (reply: RunReply) => number) =>
        replies.reduce((total, reply) => total + pick(reply), 0);
      return {
        seconds: round(meter.seconds, 2),
        serverCpuSeconds: round(meter.serverSeconds(), 2),
        ...meter.cpuUse(),
        serverRssMaxKiB: rssMax,
        messages: {
          deliveries: result.received,
          expected: result.expected,
          completion: round(result.received / result.expected, 4),
          latencyMs: result.latency.percentiles(),
        },
        notices: { joined: sum((r) => r.joined), left: sum((r) => r.left) },
        churners: {
          joined: sum((r) => r.churned.joined),
          left: sum((r) => r.churned.left),
          failed: sum((r) => r.churned.failed),
          messages: sum((r) => r.churnerMessages),
        },
        ping: {
          sent: sum((r) => r.ping.sent),
          answered: sum((r) => r.ping.answered),
          rttMs: rtt.percentiles(),
        },
        errors: result.errors,
      };
    };

    const calm = options.baseline ? await phase(false) : undefined;
    const churning = await phase(true);
    const summary = await setup.close();
    closed = true;

    const responsive = churning.ping.answered === churning.ping.sent &&
      churning.ping.rttMs.p99 < options.responsiveMs;
    const churnCompletion = round(churning.churners.left / clients, 4);
    const notices = churning.notices.joined + churning.notices.left;
    const extraCpu = churning.serverCpuSeconds - (calm?.serverCpuSeconds ?? 0);
    const row = (name: string, figures: PhaseFigures) => [
      name,
      figures.seconds,
      figures.serverCpuSeconds,
      count(figures.notices.joined + figures.notices.left),
      latencyCell(figures.messages.latencyMs),
      latencyCell(figures.ping.rttMs),
      `${figures.ping.answered}/${figures.ping.sent}`,
      percent(figures.messages.completion),
      count(figures.serverRssMaxKiB),
    ];
    return {
      scenario: "churn",
      table: {
        columns: [
          "phase",
          "seconds",
          "server CPU s",
          "notices",
          "message ms p50 / p99 / max",
          "ping ms p50 / p99 / max",
          "pongs",
          "complete",
          "max RSS KiB",
        ],
        rows: [
          ...(calm ? [row("baseline", calm)] : []),
          row(`${count(clients)} churners`, churning),
        ],
      },
      figures: {
        params: {
          clients,
          joinRate: options.joinRate,
          dwell: options.dwell,
          receivers,
          senders,
          rate,
          pingMs: options.pingMs,
          generators: generators.count,
        },
        ...(calm ? { baseline: calm } : {}),
        churn: churning,
        noticesDelivered: notices,
        noticesPerChurner: Math.round(notices / clients),
        extraServerCpuSeconds: round(extraCpu, 2),
        serverCpuMsPerChurner: round(extraCpu * 1000 / clients, 2),
        churnCompletion,
        completion: Math.min(churning.messages.completion, churnCompletion),
        responsive,
        ...(summary.profile ? { profile: summary.profile } : {}),
      },
      targets: [],
      notes: [
        `${count(clients)} churners cost ${count(notices)} notices and ${
          round(extraCpu, 2)
        } s of server CPU beyond the baseline (${
          round(extraCpu * 1000 / clients, 2)
        } ms each); ${churning.churners.left}/${clients} joined and left, ${churning.churners.failed} failed.`,
        `The server ${
          responsive ? "stayed" : "did NOT stay"
        } responsive: ping p99 ${churning.ping.rttMs.p99} ms (limit ${options.responsiveMs}), ${churning.ping.answered}/${churning.ping.sent} answered.`,
        ...summary.notes,
      ],
    };
  } finally {
    if (!closed) await setup.close();
  }
}
