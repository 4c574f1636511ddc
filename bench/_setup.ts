// What every scenario starts with: a server under test (or the nodes of a cluster and their NATS
// server) and load generators sized for it, and a meter of the CPU time they use. Closing stops
// them and summarises the server's profile.

import { Generators } from "./_generators.ts";
import { cpuSeconds, generatorCpuCount, machineCpuSeconds, nofileFor, placement } from "./_proc.ts";
import { formatProfile, type ProfileSummary, summariseProfile } from "./_profile.ts";
import { NatsProcess } from "./_nats.ts";
import { type ServerKind, ServerProcess, type ServerSpec } from "./_server.ts";
import type { ClientSpec, Via } from "./_control.ts";

/** Options every scenario takes. */
export interface CommonOptions {
  /** Load-generator processes. */
  generators: number;
  /** Profile Parley's server (V8 CPU profile) and summarise it. */
  profile: boolean;
  /** Parley's mod.ts, to bench another checkout. */
  mod?: string | undefined;
  /** More arguments for `parley serve`. */
  serverArgs: string[];
  /** Run the server on CPU 0 and the generators on the others (with two CPUs or more). */
  pin: boolean;
  /**
   * Run ngIRCd beside Parley in fanout, latency and conns: `yes`, `no` (`--no-ngircd`), or
   * `missing` (asked for, but not installed: the reports say so).
   */
  ngircd: "yes" | "no" | "missing";
}

/** The runs a scenario adds to compare Parley with ngIRCd, both driven over IRC alone. */
export interface AgainstNgircd<T> {
  /** Parley, senders and receivers on its IRC gateway. */
  irc: T;
  ngircd: T;
}

/**
 * Runs `measure` for Parley with every client on its IRC gateway, then for ngIRCd, when
 * `options.ngircd` says so.
 */
export async function againstNgircd<T>(
  options: CommonOptions,
  measure: (kind: ServerKind, via: Via) => Promise<T>,
): Promise<AgainstNgircd<T> | undefined> {
  if (options.ngircd !== "yes") return undefined;
  return { irc: await measure("parley", "irc"), ngircd: await measure("ngircd", "irc") };
}

/** A scenario's runs, each with its figures. */
interface Run<T> {
  figures: T;
}

/**
 * A side-by-side table's rows: Parley's runs (NDJSON first), Parley over IRC and ngIRCd if they
 * ran, the relay; and what is compared with ngIRCd, if it ran: Parley over NDJSON and over IRC.
 */
export function sideBySide<T>(
  parley: Run<T>[],
  irc: AgainstNgircd<Run<T>> | undefined,
  relay: Run<T>,
): { rows: T[]; sides: { name: string; figures: T }[] } {
  const rows = parley.map((run) => run.figures);
  if (irc === undefined) return { rows: [...rows, relay.figures], sides: [] };
  return {
    rows: [...rows, irc.irc.figures, irc.ngircd.figures, relay.figures],
    sides: [{ name: "NDJSON", figures: rows[0]! }, { name: "IRC", figures: irc.irc.figures }],
  };
}

/** The note a report carries when ngIRCd was asked for but is not installed. */
export function ngircdNotes(options: CommonOptions): string[] {
  return options.ngircd === "missing"
    ? ["ngIRCd is not installed (apt-get install ngircd): no rows against it."]
    : [];
}

/** A server (or a cluster's nodes), its generators, and what to report about them when done. */
export class Setup {
  /** The server; in a cluster, node 1, where the senders are. */
  readonly server: ServerProcess;
  /** Every Parley node of a cluster, the server first; the server alone otherwise. */
  readonly nodes: ServerProcess[];
  /** The NATS server of a cluster. */
  readonly nats: NatsProcess | undefined;
  readonly generators: Generators;
  #profileDir: string | undefined;

  private constructor(
    nodes: ServerProcess[],
    nats: NatsProcess | undefined,
    generators: Generators,
    profileDir?: string,
  ) {
    this.server = nodes[0]!;
    this.nodes = nodes;
    this.nats = nats;
    this.generators = generators;
    this.#profileDir = profileDir;
  }

  /**
   * Starts a server and `options.generators` generators (fewer if there are fewer clients),
   * each with a file limit for `clients` connections. With `nodes`, Parley runs as that many
   * nodes of a cluster on a nats-server of its own, the nodes where the server would run and
   * nats-server beside the generators.
   */
  static async start(
    spec: Pick<ServerSpec, "kind" | "db" | "inspect" | "via"> & { nodes?: number },
    clients: number,
    options: CommonOptions,
  ): Promise<Setup> {
    const count = Math.max(1, Math.min(options.generators, clients));
    const serverFiles = await nofileFor(clients + 64, "The server");
    const generatorFiles = await nofileFor(Math.ceil(clients / count) + 64, "A load generator");
    const profileDir = options.profile && spec.kind === "parley"
      ? await Deno.makeTempDir({ prefix: "pbench-profile-" })
      : undefined;
    const cpus = placement(options.pin);
    const { nodes: clustered = 0, ...server } = spec;
    const nats = clustered > 0 ? await NatsProcess.start(cpus.generators) : undefined;
    const nodes: ServerProcess[] = [];
    try {
      // One at a time: the first node makes the stream and buckets the others then find.
      for (let node = 1; node <= Math.max(1, clustered); node++) {
        nodes.push(
          await ServerProcess.start({
            ...server,
            cpus: cpus.server,
            nofile: serverFiles,
            profileDir: node === 1 ? profileDir : undefined,
            mod: options.mod,
            clients,
            serverArgs: options.serverArgs,
            ...nats === undefined ? {} : { cluster: { url: nats.url, node: `node${node}` } },
          }),
        );
      }
    } catch (error) {
      for (const node of nodes) await node.stop();
      await nats?.stop();
      throw error;
    }
    const generators = Generators.start(count, generatorFiles, cpus.generators);
    return new Setup(nodes, nats, generators, profileDir);
  }

  /** Its name in reports: the server's, or `parley (cluster, N nodes)`. */
  get label(): string {
    if (this.nats === undefined) return this.server.label;
    return `parley (cluster, ${this.nodes.length} node${this.nodes.length === 1 ? "" : "s"})`;
  }

  /**
   * `clients` as they connect: in a cluster of several nodes, the receivers spread evenly over
   * the nodes (receiver i on node i % N + 1), the senders on node 1.
   */
  place(clients: ClientSpec[]): ClientSpec[] {
    if (this.nodes.length < 2) return clients;
    let next = 0;
    return clients.map((client) =>
      client.role === "recv"
        ? { ...client, port: this.nodes[next++ % this.nodes.length]!.port }
        : client
    );
  }

  /** A meter of CPU time from now on. */
  meter(): Meter {
    return new Meter(this);
  }

  /**
   * Stops the generators, the server (every node) and nats-server; returns notes: the nodes'
   * warnings and the server's profile summary.
   */
  async close(): Promise<{ notes: string[]; profile?: ProfileSummary }> {
    await this.generators.close();
    const profilePath = await this.server.stop();
    for (const node of this.nodes.slice(1)) await node.stop();
    await this.nats?.stop();
    const notes: string[] = [];
    for (const node of this.nodes) {
      const warnings = node.warnings;
      if (warnings.length > 0) {
        notes.push(`${node.label} logged ${warnings.length} line(s), first: ${warnings[0]}`);
      }
    }
    if (this.#profileDir === undefined) return { notes };
    if (profilePath === undefined) {
      notes.push(`no CPU profile was written in ${this.#profileDir}`);
      return { notes };
    }
    const profile = await summariseProfile(profilePath);
    notes.push(...formatProfile(profile));
    return { notes, profile };
  }
}

/** A run's CPU use, each figure a percentage of one core. */
export interface CpuUse {
  /** The server's; in a cluster, every node's together. */
  serverCpuPercent: number;
  generatorCpuPercent: number[];
  /** Other processes' CPU time meanwhile: noise. */
  otherCpuPercent: number;
  /** CPU time the hypervisor took from this machine meanwhile: noise too. */
  stolenCpuPercent: number;
}

/** What a cluster's processes used in a run. */
export interface ClusterUse {
  /** Each node's CPU time, node 1 first, as a percentage of one core. */
  nodeCpuPercent: number[];
  /** Each node's CPU time per delivery of the whole run, in µs. */
  nodeCpuUsPerDelivery: number[];
  natsCpuPercent: number;
  natsCpuUsPerDelivery: number;
}

/**
 * CPU time used by the server (every node of a cluster, and nats-server) and each generator
 * since the meter started, per wall second.
 */
export class Meter {
  #setup: Setup;
  #started = performance.now();
  #nodes: number[];
  #nats: number;
  #generators: number[];
  #machine = machineCpuSeconds();
  #self = cpuSeconds(Deno.pid);

  constructor(setup: Setup) {
    this.#setup = setup;
    this.#nodes = setup.nodes.map((node) => node.cpuSeconds());
    this.#nats = setup.nats?.cpuSeconds() ?? 0;
    this.#generators = setup.generators.cpuSeconds();
  }

  /**
   * CPU time of processes other than the bench's (servers, nats-server, generators,
   * coordinator), as a share of one core: other work on the machine that competed with the
   * bench.
   */
  otherShare(): number {
    const ours = this.serverSeconds() + this.natsSeconds() +
      (cpuSeconds(Deno.pid) - this.#self) +
      this.#setup.generators.cpuSeconds().reduce(
        (sum, cpu, g) => sum + cpu - this.#generators[g]!,
        0,
      );
    return Math.max(0, machineCpuSeconds().processes - this.#machine.processes - ours) /
      this.seconds;
  }

  /** CPU time the hypervisor took away from this machine, as a share of one core. */
  stolenShare(): number {
    return (machineCpuSeconds().stolen - this.#machine.stolen) / this.seconds;
  }

  /** Everyone's CPU use since the meter started. */
  cpuUse(): CpuUse {
    const percent = (share: number) => Math.round(share * 100);
    return {
      serverCpuPercent: percent(this.serverShare()),
      generatorCpuPercent: this.generatorShares().map(percent),
      otherCpuPercent: percent(this.otherShare()),
      stolenCpuPercent: percent(this.stolenShare()),
    };
  }

  /** Wall-clock seconds since the meter started. */
  get seconds(): number {
    return (performance.now() - this.#started) / 1000;
  }

  /**
   * Server CPU seconds since the meter started: in a cluster, every node's together (they share
   * the server's CPU).
   */
  serverSeconds(): number {
    return this.nodeSeconds().reduce((sum, cpu) => sum + cpu, 0);
  }

  /** Each node's CPU seconds since the meter started. */
  nodeSeconds(): number[] {
    return this.#setup.nodes.map((node, n) => node.cpuSeconds() - this.#nodes[n]!);
  }

  /** nats-server's CPU seconds since the meter started (0 without a cluster). */
  natsSeconds(): number {
    return (this.#setup.nats?.cpuSeconds() ?? 0) - this.#nats;
  }

  /** What the cluster's processes used for `deliveries`; nothing without a cluster. */
  clusterUse(deliveries: number): Partial<ClusterUse> {
    if (this.#setup.nats === undefined) return {};
    const seconds = this.seconds;
    const percent = (cpu: number) => Math.round(cpu / seconds * 100);
    const perDelivery = (cpu: number) => Math.round(cpu * 1e9 / deliveries) / 1000;
    const nodes = this.nodeSeconds();
    const nats = this.natsSeconds();
    return {
      nodeCpuPercent: nodes.map(percent),
      nodeCpuUsPerDelivery: nodes.map(perDelivery),
      natsCpuPercent: percent(nats),
      natsCpuUsPerDelivery: perDelivery(nats),
    };
  }

  /** Server CPU time as a share of one core. */
  serverShare(): number {
    return this.serverSeconds() / this.seconds;
  }

  /** Each generator's CPU time as a share of one core. */
  generatorShares(): number[] {
    const seconds = this.seconds;
    return this.#setup.generators.cpuSeconds().map((cpu, g) =>
      (cpu - this.#generators[g]!) / seconds
    );
  }
}

/** The share of a core past which a process is taken to be the limit of a closed-loop run. */
const BUSY_PERCENT = 80;

/** What limited a closed-loop run: see {@linkcode limitOf}. */
export type Limit = "generators" | "server" | "round trips";

/**
 * What limited a closed-loop run: the load generators when one used more than 80% of a core,
 * or all together more than 80% of the CPUs they had; else the server, past 80% of its core;
 * else neither, and the window's round trips set the pace.
 */
export function limitOf(use: CpuUse, options: Pick<CommonOptions, "pin">): Limit {
  const generators = use.generatorCpuPercent;
  const cpus = Math.min(generatorCpuCount(options.pin), generators.length);
  const total = generators.reduce((sum, percent) => sum + percent, 0);
  if (generators.some((percent) => percent > BUSY_PERCENT) || total > BUSY_PERCENT * cpus) {
    return "generators";
  }
  return use.serverCpuPercent > BUSY_PERCENT ? "server" : "round trips";
}

/** What a report says of a run that `limit` limited, if the figure is not the server's. */
export function limitNote(label: string, limit: Limit, use: CpuUse): string[] {
  if (limit === "server") return [];
  const generators = use.generatorCpuPercent.map((percent) => `${percent}%`).join(", ");
  return [
    limit === "generators"
      ? `${label}: deliveries/s is the load generators' figure, not the server's: the generators used ${generators} of a core (${use.generatorCpuPercent.length} process(es)), the server ${use.serverCpuPercent}% of its own. Its CPU per delivery is still its own.`
      : `${label}: neither the server (${use.serverCpuPercent}%) nor the generators (${generators}) were busy: round trips through the window set the pace.`,
  ];
}

/** Shares of a core as a list of percentages: "97%, 41%". */
export function shares(values: number[]): string {
  return values.map((value) => `${Math.round(value * 100)}%`).join(", ");
}

/** Warnings when other processes used more than a tenth of a core during a run, or the
 * hypervisor took more than a fiftieth: either disturbs the figures, tails first. */
export function disturbance(label: string, use: CpuUse): string[] {
  const warnings: string[] = [];
  if (use.otherCpuPercent > 10) {
    warnings.push(
      `warning: other processes used ${use.otherCpuPercent}% of a core during the ${label} run: the figures are disturbed`,
    );
  }
  if (use.stolenCpuPercent > 2) {
    warnings.push(
      `warning: the hypervisor took ${use.stolenCpuPercent}% of a core from this machine during the ${label} run: the figures are disturbed`,
    );
  }
  return warnings;
}
