// What Linux says about a process (/proc), and spawning processes with a raised file limit.

/** Clock ticks per second in /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** Resident memory of process `pid` in KiB (VmRSS), or NaN if it is gone. */
export function rssKiB(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** CPU time (user plus system, every thread) process `pid` has used, in seconds. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The command name, in parentheses, may hold spaces: count fields after its end.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

let hardLimit: number | undefined;

/** The hard limit on open files, which a process may raise its own (soft) limit to. */
export async function fileLimit(): Promise<number> {
  if (hardLimit === undefined) {
    const output = await new Deno.Command("bash", { args: ["-c", "ulimit -Hn"] }).output();
    const text = new TextDecoder().decode(output.stdout).trim();
    hardLimit = text === "unlimited" ? 1 << 20 : Number(text);
  }
  return hardLimit;
}

/**
 * The file limit to run a process with when it needs `needed` descriptors: 65,536, or the hard
 * limit if that is lower. Throws if even that is too few.
 */
export async function nofileFor(needed: number, what: string): Promise<number> {
  const hard = await fileLimit();
  const limit = Math.min(65_536, hard);
  if (needed > limit) {
    throw new RangeError(
      `${what} needs ${needed} open files but the hard limit is ${hard}: raise it (ulimit -Hn, as root) or ask for fewer`,
    );
  }
  return limit;
}

/**
 * Spawns `command args` through `bash -c 'ulimit -n N; exec ...'`, so the process (with the
 * same pid, thanks to exec) may open up to `nofile` files; with `cpus` (a list such as "0" or
 * "1-3"), through `taskset -c` too, so that it runs on those CPUs only.
 */
export function spawnWithLimit(
  nofile: number,
  cpus: string | undefined,
  command: string,
  args: string[],
  options: { stdin: "piped" | "null"; stdout: "piped"; stderr: "piped" | "inherit" },
): Deno.ChildProcess {
  const taskset = cpus === undefined ? "" : `taskset -c ${cpus} `;
  return new Deno.Command("bash", {
    args: ["-c", `ulimit -n ${nofile} && exec ${taskset}"$0" "$@"`, command, ...args],
    ...options,
  }).spawn();
}

/**
 * Where the server and the generators run: with two CPUs or more, the server alone on CPU 0
 * and the generators on the rest, so they do not take each other's time; otherwise anywhere.
 */
export function placement(pin: boolean): { server?: string; generators?: string } {
  const cpus = navigator.hardwareConcurrency;
  if (!pin || cpus < 2) return {};
  return { server: "0", generators: cpus === 2 ? "1" : `1-${cpus - 1}` };
}

/**
 * How many CPUs the generators have as {@linkcode placement} places them: one generator process
 * per CPU is the most that helps (a generator's JavaScript runs on one thread; more processes
 * than CPUs share the same ones).
 */
export function generatorCpuCount(pin: boolean): number {
  const cpus = navigator.hardwareConcurrency;
  return pin && cpus >= 2 ? cpus - 1 : cpus;
}

/** The load average over the last minute: how busy the machine was with anything. */
export function loadAverage(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return NaN;
  }
}

/**
 * CPU time of the whole machine since it booted, in seconds: spent in processes (user, nice
 * and system; not interrupts), which with the bench's own tells how much other work ran, and
 * stolen (by the hypervisor, for other virtual machines while this one had work to do).
 */
export function machineCpuSeconds(): { processes: number; stolen: number } {
  try {
    const fields = Deno.readTextFileSync("/proc/stat").split("\n")[0]!.split(/\s+/).map(Number);
    return {
      processes: (fields[1]! + fields[2]! + fields[3]!) / TICKS_PER_SECOND,
      stolen: fields[8]! / TICKS_PER_SECOND,
    };
  } catch {
    return { processes: NaN, stolen: NaN };
  }
}

/** Waits for `child` to exit, killing it if it has not within `ms`; resolves with whether it
 * had to be killed. */
export async function exitOrKill(child: Deno.ChildProcess, ms: number): Promise<boolean> {
  let killed = false;
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
      killed = true;
    } catch {
      // Exited meanwhile.
    }
  }, ms);
  await child.status;
  clearTimeout(timer);
  return killed;
}
