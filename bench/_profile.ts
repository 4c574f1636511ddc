// Summarises a V8 CPU profile (.cpuprofile, as `deno run --cpu-prof` writes it): the functions
// that took the most samples themselves, not counting what they called.

/** One function's share of the samples. */
export interface ProfileEntry {
  function: string;
  /** Where it is: file:line, or the V8 pseudo-frame's name. */
  where: string;
  /** Milliseconds of self time. */
  selfMs: number;
  /** Self time as a share of the busy (not idle) time, in percent. */
  selfPercent: number;
}

/** What a profile says. */
export interface ProfileSummary {
  path: string;
  totalMs: number;
  busyMs: number;
  top: ProfileEntry[];
}

interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }[];
  samples: number[];
  timeDeltas: number[];
}

/** Reads a .cpuprofile and returns its `limit` heaviest functions by self time. */
export async function summariseProfile(path: string, limit = 15): Promise<ProfileSummary> {
  const profile = JSON.parse(await Deno.readTextFile(path)) as CpuProfile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const selfMicros = new Map<string, { function: string; where: string; micros: number }>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    // A sample stands for the time until the next one.
    const micros = profile.timeDeltas[i + 1] ?? 0;
    const frame = nodes.get(profile.samples[i]!);
    if (frame === undefined) continue;
    total += micros;
    if (frame.functionName === "(idle)") {
      idle += micros;
      continue;
    }
    const file = frame.url.replace(/^.*\//, "");
    const where = file === "" ? "(native)" : `${file}:${frame.lineNumber + 1}`;
    const name = frame.functionName || "(anonymous)";
    const key = `${name} ${where}`;
    const entry = selfMicros.get(key) ?? { function: name, where, micros: 0 };
    entry.micros += micros;
    selfMicros.set(key, entry);
  }
  const busy = total - idle;
  const top = [...selfMicros.values()]
    .sort((a, b) => b.micros - a.micros)
    .slice(0, limit)
    .map((entry) => ({
      function: entry.function,
      where: entry.where,
      selfMs: Math.round(entry.micros / 1000),
      selfPercent: busy === 0 ? 0 : Math.round(entry.micros / busy * 1000) / 10,
    }));
  return { path, totalMs: Math.round(total / 1000), busyMs: Math.round(busy / 1000), top };
}

/** The summary as lines of text. */
export function formatProfile(summary: ProfileSummary): string[] {
  return [
    `profile ${summary.path}: ${summary.busyMs} ms busy of ${summary.totalMs} ms; by self time:`,
    ...summary.top.map((entry) =>
      `  ${entry.selfPercent.toFixed(1).padStart(5)}%  ${
        String(entry.selfMs).padStart(6)
      } ms  ${entry.function}  ${entry.where}`
    ),
  ];
}
