// What every scenario starts with: a server under test and load generators sized for it, and a
// meter of the CPU time they use. Closing stops them and summarises the server's profile.

import { Generators } from "./_generators.ts";
import { cpuSeconds, machineCpuSeconds, nofileFor, placement } from "./_proc.ts";
import { formatProfile, type ProfileSummary, summariseProfile } from "./_profile.ts";
import { ServerProcess, type ServerSpec } from "./_server.ts";

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
}

/** A server, its generators, and what to report about them when done. */
export class Setup {
  readonly server: ServerProcess;
  readonly generators: Generators;
  #profileDir: string | undefined;

  private constructor(server: ServerProcess, generators: Generators, profileDir?: string) {
    this.server = server;
    this.generators = generators;
    this.#profileDir = profileDir;
  }

  /**
   * Starts a server and `options.generators` generators (fewer if there are fewer clients),
   * each with a file limit for `clients` connections.
   */
  static async start(
    spec: Pick<ServerSpec, "kind" | "db" | "inspect" | "via">,
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
    const server = await ServerProcess.start({
      ...spec,
      cpus: cpus.server,
      nofile: serverFiles,
      profileDir,
      mod: options.mod,
      clients,
      serverArgs: options.serverArgs,
    });
    return new Setup(server, Generators.start(count, generatorFiles, cpus.generators), profileDir);
  }

  /** A meter of CPU time from now on. */
  meter(): Meter {
    return new Meter(this);
  }

  /** Stops the generators and the server; returns notes: its warnings and profile summary. */
  async close(): Promise<{ notes: string[]; profile?: ProfileSummary }> {
    await this.generators.close();
    const profilePath = await this.server.stop();
    const notes: string[] = [];
    const warnings = this.server.stderr.trim();
    if (warnings !== "") {
      const lines = warnings.split("\n");
      notes.push(`${this.server.label} logged ${lines.length} line(s), first: ${lines[0]}`);
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
  serverCpuPercent: number;
  generatorCpuPercent: number[];
  /** Other processes' CPU time meanwhile: noise. */
  otherCpuPercent: number;
  /** CPU time the hypervisor took from this machine meanwhile: noise too. */
  stolenCpuPercent: number;
}

/** CPU time used by the server and each generator since the meter started, per wall second. */
export class Meter {
  #setup: Setup;
  #started = performance.now();
  #server: number;
  #generators: number[];
  #machine = machineCpuSeconds();
  #self = cpuSeconds(Deno.pid);

  constructor(setup: Setup) {
    this.#setup = setup;
    this.#server = setup.server.cpuSeconds();
    this.#generators = setup.generators.cpuSeconds();
  }

  /**
   * CPU time of processes other than the bench's (server, generators, coordinator), as a share
   * of one core: other work on the machine that competed with the bench.
   */
  otherShare(): number {
    const ours = this.serverSeconds() + (cpuSeconds(Deno.pid) - this.#self) +
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

  /** Server CPU seconds since the meter started. */
  serverSeconds(): number {
    return this.#setup.server.cpuSeconds() - this.#server;
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
