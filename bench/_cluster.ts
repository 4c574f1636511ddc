// `fanout --cluster` and `latency --cluster`: Parley without a cluster, for reference; as the one
// node of a cluster (a nats-server of its own, senders and receivers on the node); then as two
// nodes on one nats-server, the receivers split evenly over them, the senders on node 1. Each
// row reports what each node and nats-server used.

import { type FanoutFigures, type FanoutOptions, measureFanout, params } from "./_fanout.ts";
import { type LatencyFigures, type LatencyOptions, measureLatency } from "./_latency.ts";
import { hasNatsServer, NATS_MISSING } from "./_nats.ts";
import { placement } from "./_proc.ts";
import { count, latencyCell, percent, round, type ScenarioResult } from "./_report.ts";
import type { CommonOptions } from "./_setup.ts";

/** What both scenarios' runs measure. */
type Figures = FanoutFigures | LatencyFigures;

/** A run: its figures and notes. */
interface Run<T extends Figures> {
  figures: T;
  notes: string[];
}

/** The runs of a comparison: without a cluster, then one node and two if nats-server is here. */
interface Runs<T extends Figures> {
  plain: Run<T>;
  cluster?: { one: Run<T>; two: Run<T> };
}

/** Runs `measure` without a cluster (nodes 0), then with one node and with two. */
async function measureAll<T extends Figures>(
  measure: (nodes: number) => Promise<Run<T>>,
): Promise<Runs<T>> {
  const plain = await measure(0);
  if (!await hasNatsServer()) return { plain };
  return { plain, cluster: { one: await measure(1), two: await measure(2) } };
}

/** What shares a CPU with what, as {@linkcode placement} puts the processes. */
function placementNote(options: CommonOptions): string {
  const cpus = placement(options.pin);
  if (cpus.server === undefined) {
    return `Nothing is pinned: the nodes, nats-server and the generators share the machine's ${navigator.hardwareConcurrency} CPU(s).`;
  }
  return `The server and both nodes run on CPU ${cpus.server} (taskset), as one server does alone; nats-server shares CPU ${cpus.generators} with the generators.${
    navigator.hardwareConcurrency <= 2
      ? " With two cores, two nodes share one: the figures are indicative only."
      : ""
  }`;
}

/** `fanout --cluster`: deliveries/s and latency through one cluster node and through two. */
export async function clusterFanout(options: FanoutOptions): Promise<ScenarioResult> {
  const runs = await measureAll((nodes) =>
    measureFanout("parley", "file", options, "tcp", "tcp", nodes)
  );
  return report("fanout", runs, options, {
    column: "deliveries/s",
    of: (figures) => figures.deliveriesPerSecond,
  }, params(options));
}

/** `latency --cluster`: latency at a fixed rate through one cluster node and through two. */
export async function clusterLatency(options: LatencyOptions): Promise<ScenarioResult> {
  const runs = await measureAll((nodes) => measureLatency("parley", options, "tcp", "tcp", nodes));
  return report("latency", runs, options, undefined, {
    receivers: options.receivers,
    senders: options.senders,
    rate: options.rate,
    duration: options.duration,
    generators: options.generators,
  });
}

/**
 * The table, figures and notes of a comparison; `amount`, if given, is the column of what went
 * through (fan-out's deliveries/s; at a fixed rate there is none), compared with one node's.
 */
function report<T extends Figures>(
  scenario: string,
  runs: Runs<T>,
  options: CommonOptions,
  amount: { column: string; of: (figures: T) => number } | undefined,
  params: Record<string, number>,
): ScenarioResult {
  const { plain, cluster } = runs;
  const rows = [plain, ...cluster === undefined ? [] : [cluster.one, cluster.two]];
  const one = cluster?.one.figures;
  const over = (value: number, base: number) => round(value / base, 2);
  const row = (figures: T) => {
    const nodes = figures.nodeCpuPercent ?? [figures.serverCpuPercent];
    const costs = figures.nodeCpuUsPerDelivery ?? [figures.serverCpuUsPerDelivery];
    const nats = figures.natsCpuUsPerDelivery ?? 0;
    return [
      figures.server,
      ...amount === undefined ? [] : [
        count(amount.of(figures)),
        one === undefined ? "" : over(amount.of(figures), amount.of(one)),
      ],
      percent(figures.completion),
      latencyCell(figures.latencyMs),
      one === undefined ? "" : over(figures.latencyMs.p99, one.latencyMs.p99),
      nodes.map((share) => `${share}%`).join(" "),
      costs.join(" "),
      figures.natsCpuPercent === undefined ? "" : `${figures.natsCpuPercent}%`,
      figures.natsCpuUsPerDelivery === undefined ? "" : nats,
      round(figures.serverCpuUsPerDelivery + nats, 3),
      figures.generatorCpuPercent.map((share) => `${share}%`).join(" "),
      `${figures.otherCpuPercent}%`,
    ];
  };
  const notes: string[] = [];
  if (cluster === undefined) {
    notes.push(`${NATS_MISSING}: no cluster rows.`);
  } else {
    notes.push(placementNote(options));
    const against = (figures: T, base: T, name: string) =>
      `${
        amount === undefined
          ? ""
          : `${over(amount.of(figures), amount.of(base))}× ${name}'s ${amount.column}, `
      }p99 ${figures.latencyMs.p99} ms against ${base.latencyMs.p99} ms`;
    notes.push(
      `Two nodes: ${against(cluster.two.figures, cluster.one.figures, "one node")}. One node: ${
        against(cluster.one.figures, plain.figures, "Parley without a cluster")
      }.`,
      "CPU µs/delivery: each process's CPU time over all the run's deliveries; total: the nodes' and nats-server's together.",
    );
  }
  notes.push(...rows.flatMap((run) => run.notes));
  return {
    scenario,
    table: {
      columns: [
        "server",
        ...amount === undefined ? [] : [amount.column, "× 1 node"],
        "complete",
        "latency ms p50 / p99 / max",
        "p99 × 1 node",
        "node CPU",
        "node CPU µs/delivery",
        "NATS CPU",
        "NATS µs/delivery",
        "total µs/delivery",
        "generators CPU",
        "other CPU",
      ],
      rows: rows.map((run) => row(run.figures)),
    },
    figures: {
      params: { ...params, cluster: true },
      parley: plain.figures,
      ...cluster === undefined ? { cluster: NATS_MISSING } : {
        cluster1: cluster.one.figures,
        cluster2: cluster.two.figures,
        twoNodesOverOne: {
          ...amount === undefined
            ? {}
            : { deliveriesPerSecond: over(amount.of(cluster.two.figures), amount.of(one!)) },
          p99: over(cluster.two.figures.latencyMs.p99, one!.latencyMs.p99),
        },
      },
      completion: Math.min(...rows.map((run) => run.figures.completion)),
    },
    targets: [],
    notes,
  };
}
