// The benchmarks, smoke-tested: every scenario runs through the real `deno task bench` CLI with
// tiny parameters, prints exactly one JSON line, and delivers everything it sent; fanout,
// latency and conns also through ngIRCd (which .ci/run installs: these tests need it). Importing
// bench/main.ts also keeps the whole bench under `deno check tests/`.

import { assert, assertEquals } from "./_assert.ts";
import { type Scenario, SCENARIOS } from "../bench/main.ts";
import type { ScenarioJson } from "../bench/_report.ts";
import { deno } from "./_helpers.ts";

const ROOT = new URL("..", import.meta.url).pathname;

const TINY: Record<Scenario, string[]> = {
  fanout: ["--receivers", "3", "--senders", "2", "--messages", "20"],
  latency: ["--receivers", "3", "--senders", "2", "--duration", "0.5"],
  conns: ["--conns", "50", "--settle", "0", "--idle", "1"],
  history: ["--receivers", "3", "--senders", "2", "--messages", "20"],
  churn: [
    "--clients",
    "20",
    "--join-rate",
    "100",
    "--dwell",
    "100",
    "--receivers",
    "3",
    "--senders",
    "2",
    "--no-baseline",
  ],
};

/** The scenarios that run ngIRCd beside Parley. */
const AGAINST_NGIRCD: readonly Scenario[] = ["fanout", "latency", "conns"];

/** Runs `deno ARGS` here, killed after 60 s; returns its exit code and output. */
async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 60_000);
  try {
    const output = await new Deno.Command(deno(), {
      args,
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `deno task bench ARGS`. */
function bench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(["task", "--quiet", "bench", ...args]);
}

for (const scenario of SCENARIOS) {
  Deno.test(`deno task bench ${scenario}: one JSON line, everything delivered`, async () => {
    const { code, stdout, stderr } = await bench([scenario, ...TINY[scenario]]);
    assertEquals(code, 0, `${stdout}\n${stderr}`);
    const lines = stdout.split("\n").filter((line) => line.startsWith("{"));
    assertEquals(lines.length, 1, stdout);
    const result = JSON.parse(lines[0]!) as ScenarioJson;
    assertEquals(result.scenario, scenario);
    assertEquals(result.completion, 1, stdout);
    assert(Array.isArray(result.targets));
    if (!AGAINST_NGIRCD.includes(scenario)) return;
    // Side by side with ngIRCd, both over IRC alone: each delivered everything.
    for (const key of ["ngircd", scenario === "conns" ? "parley_irc" : "parley_all_irc"]) {
      const figures = result[key] as { deliveries: number; expected: number } | undefined;
      assert(figures !== undefined && figures.expected > 0, `${key}: ${stdout}`);
      assertEquals(figures.deliveries, figures.expected, `${key}: ${stdout}`);
    }
    assert(stdout.includes("× ngIRCd"), stdout);
  });
}

Deno.test("deno task bench fanout: says what limited each run; --no-ngircd leaves ngIRCd out", async () => {
  const { code, stdout, stderr } = await bench([...["fanout", ...TINY.fanout], "--no-ngircd"]);
  assertEquals(code, 0, `${stdout}\n${stderr}`);
  const line = stdout.split("\n").find((line) => line.startsWith("{"));
  const result = JSON.parse(line!) as ScenarioJson & Record<string, { limit: string }>;
  assertEquals(result.ngircd, undefined, stdout);
  assert(!stdout.includes("ngIRCd"), stdout);
  for (const key of ["parley", "relay"]) {
    assert(["generators", "server", "round trips"].includes(result[key]!.limit), stdout);
  }
});

for (const scenario of ["fanout", "latency"] as const) {
  Deno.test(`deno task bench ${scenario} --receivers-via tcp,irc,ws: each way in delivers everything`, async () => {
    const { code, stdout, stderr } = await bench([
      scenario,
      ...TINY[scenario],
      "--receivers-via",
      "tcp,irc,ws",
    ]);
    assertEquals(code, 0, `${stdout}\n${stderr}`);
    const lines = stdout.split("\n").filter((line) => line.startsWith("{"));
    assertEquals(lines.length, 1, stdout);
    const result = JSON.parse(lines[0]!) as ScenarioJson & Record<string, unknown>;
    assertEquals(result.completion, 1, stdout);
    for (const via of ["irc", "ws"]) {
      const figures = result[`parley_${via}`] as { deliveries: number; expected: number };
      assert(figures.expected > 0, stdout);
      assertEquals(figures.deliveries, figures.expected, `${via}: ${stdout}`);
    }
    assert(stdout.includes(scenario === "fanout" ? "IRC deliveries/s = " : "IRC receivers: p99"));
    assert(result.targets.some((target) => target.name.includes("WebSocket")), stdout);
  });
}

for (const scenario of ["fanout", "latency"] as const) {
  Deno.test(`deno task bench ${scenario} --cluster: one node and two nodes on a real nats-server deliver everything`, async () => {
    const { code, stdout, stderr } = await bench([scenario, ...TINY[scenario], "--cluster"]);
    assertEquals(code, 0, `${stdout}\n${stderr}`);
    const lines = stdout.split("\n").filter((line) => line.startsWith("{"));
    assertEquals(lines.length, 1, stdout);
    const result = JSON.parse(lines[0]!) as ScenarioJson & Record<string, unknown>;
    assertEquals(result.completion, 1, stdout);
    // .ci/run installs nats-server: the cluster rows must have run, not been left out.
    for (const [key, nodes] of [["cluster1", 1], ["cluster2", 2]] as const) {
      const figures = result[key] as {
        deliveries: number;
        expected: number;
        nodeCpuPercent: number[];
        natsCpuPercent: number;
      } | undefined;
      assert(figures !== undefined && figures.expected > 0, `${key}: ${stdout}`);
      assertEquals(figures.deliveries, figures.expected, `${key}: ${stdout}`);
      assertEquals(figures.nodeCpuPercent.length, nodes, `${key}: ${stdout}`);
      assert(Number.isFinite(figures.natsCpuPercent), `${key}: ${stdout}`);
    }
    assert(stdout.includes("parley (cluster, 2 nodes)"), stdout);
  });
}

Deno.test("deno task bench refuses an unknown scenario or option with exit code 2", async () => {
  for (
    const args of [
      ["frobnicate"],
      ["fanout", "--bogus", "1"],
      ["conns", "--conns", "0"],
      ["fanout", "--receivers-via", "tcp,carrier-pigeon"],
    ]
  ) {
    const { code, stderr } = await bench(args);
    assertEquals(code, 2, args.join(" "));
    assert(stderr.includes("bench: "), stderr);
  }
});

Deno.test("bench/one_to_all.ts: every reader gets each of the five messages, and it says so", async () => {
  const { code, stdout, stderr } = await run(["run", "-A", "bench/one_to_all.ts", "--conns", "30"]);
  assertEquals(code, 0, stderr);
  assert(/^30 clients joined one room in [\d.]+ s; ping round trips/m.test(stdout), stdout);
  const times = stdout.match(/^one message to the other 29: (.+) ms$/m)?.[1]?.split(", ");
  assertEquals(times?.length, 5, stdout);
});
