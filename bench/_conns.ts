// Connection scale: C idle registered connections. What each costs the server in memory, how
// long registering them takes (Parley announces every join to everyone already in the room),
// and how long one message takes to reach them all. The reference relay, which holds nothing
// but a socket and a 4 KiB buffer per connection, runs the same for comparison.

import { LARGE_ROOM } from "../_server/chat.ts";
import { combine } from "./_fanout.ts";
import type { ClientSpec } from "./_control.ts";
import { count, percent, round, type ScenarioResult, showProgress } from "./_report.ts";
import { type CommonOptions, Setup, shares } from "./_setup.ts";
import type { HeapUsage } from "./_server.ts";
import type { ProfileSummary } from "./_profile.ts";

/** Connection-scale parameters. */
export interface ConnsOptions extends CommonOptions {
  conns: number;
  /** Seconds to let the server settle before reading its memory. */
  settle: number;
}

/** What one server measured with C idle connections. */
export interface ConnsFigures {
  server: string;
  rssBeforeKiB: number;
  rssAfterKiB: number;
  /** RSS after a full garbage collection, and after the broadcast. */
  rssAfterGcKiB: number;
  rssFinalKiB: number;
  rssPerConnKiB: number;
  rssPerConnAfterGcKiB: number;
  /** V8's view, before the connections and after them and a full GC. */
  heapBefore: HeapUsage;
  heapAfter: HeapUsage;
  heapAfterGc: HeapUsage;
  heapPerConnKiB: number;
  buffersPerConnKiB: number;
  registerSeconds: number;
  joinNoticesSeconds: number;
  joinNotices: number;
  expectedJoinNotices: number;
  registerServerCpuSeconds: number;
  broadcastMs: number;
  deliveries: number;
  expected: number;
  completion: number;
  errors: Record<string, number>;
  dropped: number;
  serverArgs: string[];
  profile?: ProfileSummary;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `value()` reaches `target`, or stops growing for `idleMs`; returns its value. */
async function until(value: () => number, target: number, idleMs: number): Promise<number> {
  let last = value();
  let changed = Date.now();
  while (last < target) {
    await sleep(50);
    const now = value();
    if (now !== last) {
      last = now;
      changed = Date.now();
    } else if (Date.now() - changed > idleMs) {
      break;
    }
  }
  return last;
}

/** Registers C idle connections on one server and measures it. */
export async function measureConns(
  kind: "parley" | "relay",
  options: ConnsOptions,
): Promise<{ figures: ConnsFigures; notes: string[] }> {
  const c = options.conns;
  const setup = await Setup.start({ kind, db: "file", inspect: true }, c + 1, options);
  const label = kind === "relay" ? "relay" : "parley";
  let closed = false;
  try {
    const { generators, server } = setup;
    await sleep(500);
    const rssBeforeKiB = server.rssKiB();
    const heapBefore = await server.heap(true);
    // Parley tells everyone in the room of each join until the room is large; the relay tells
    // nobody.
    const announced = Math.min(c, LARGE_ROOM);
    const notices = kind === "parley" ? announced * (announced - 1) / 2 : 0;
    const meter = setup.meter();
    const stop = showProgress(() => {
      const progress = generators.progress();
      return `conns ${label}: ${count(progress.connected)}/${count(c)} registered, ${
        count(progress.joined)
      }/${count(notices)} join notices delivered, server RSS ${
        count(server.rssKiB())
      } KiB, server CPU ${shares([meter.serverShare()])}`;
    });
    let registerSeconds, noticeSeconds, joined, rssAfterKiB, registerCpuSeconds;
    try {
      const clients = Array.from({ length: c }, (_, i): ClientSpec => ({
        name: `c${i}`,
        role: "recv",
      }));
      const registered = await generators.connect(server.port, clients, {
        bufferBytes: 16_384,
        concurrency: 64,
        timeoutMs: 120_000,
      });
      if (registered.failed > 0) {
        throw new Error(`${registered.failed} connection(s) failed: ${registered.errors[0]}`);
      }
      registerSeconds = meter.seconds;
      joined = await until(() => generators.progress().joined, notices, 30_000);
      noticeSeconds = meter.seconds;
      registerCpuSeconds = meter.serverSeconds();
      await sleep(options.settle * 1000);
      rssAfterKiB = server.rssKiB();
    } finally {
      stop();
    }
    // How much of that is garbage from registering, which a collection would free?
    const heapAfter = await server.heap(false);
    const heapAfterGc = await server.heap(true);
    await sleep(500);
    const rssAfterGcKiB = server.rssKiB();

    // One more client, which every idle one hears join, sends one message to all of them.
    const sender: ClientSpec = { name: "speaker", role: "send", sid: 0 };
    const before = generators.progress().joined;
    await generators.connect(server.port, [sender], { bufferBytes: 65_536 });
    if (kind === "parley") await until(() => generators.progress().joined, before + c, 30_000);
    const broadcast = combine(
      await generators.run(() => ({
        perSender: [1],
        window: 1,
        port: server.port,
        idleMs: 10_000,
      })),
    );
    const rssFinalKiB = server.rssKiB();
    const summary = await setup.close();
    closed = true;

    const figures: ConnsFigures = {
      server: label,
      rssBeforeKiB,
      rssAfterKiB,
      rssAfterGcKiB,
      rssFinalKiB,
      rssPerConnKiB: round((rssAfterKiB - rssBeforeKiB) / c, 1),
      rssPerConnAfterGcKiB: round((rssAfterGcKiB - rssBeforeKiB) / c, 1),
      heapBefore,
      heapAfter,
      heapAfterGc,
      heapPerConnKiB: round((heapAfterGc.usedKiB - heapBefore.usedKiB) / c, 2),
      buffersPerConnKiB: round((heapAfterGc.backingKiB - heapBefore.backingKiB) / c, 2),
      registerSeconds: round(registerSeconds, 3),
      joinNoticesSeconds: round(noticeSeconds, 3),
      joinNotices: joined,
      expectedJoinNotices: notices,
      registerServerCpuSeconds: round(registerCpuSeconds, 2),
      broadcastMs: round(broadcast.seconds * 1000, 1),
      deliveries: broadcast.received,
      expected: broadcast.expected,
      completion: round(broadcast.received / broadcast.expected, 4),
      errors: broadcast.errors,
      dropped: broadcast.dropped,
      serverArgs: server.args,
    };
    if (summary.profile !== undefined) figures.profile = summary.profile;
    const notes = [
      `${label}: per connection ${figures.rssPerConnKiB} KiB of RSS, ${figures.rssPerConnAfterGcKiB} KiB after a full GC, of which ${figures.heapPerConnKiB} KiB of JavaScript heap and ${figures.buffersPerConnKiB} KiB of buffers.`,
      ...summary.notes,
    ];
    if (kind === "parley") {
      notes.push(
        `parley: ${count(joined)} of ${count(notices)} join notices delivered while registering; ` +
          `the server used ${round(registerCpuSeconds, 1)} s of CPU for it.`,
      );
    }
    return { figures, notes };
  } finally {
    if (!closed) await setup.close();
  }
}

/** `conns`: memory per idle connection, and the time for one message to reach all. */
export async function conns(options: ConnsOptions): Promise<ScenarioResult> {
  const parley = await measureConns("parley", options);
  const relay = await measureConns("relay", options);
  const row = (figures: ConnsFigures) => [
    figures.server,
    count(options.conns),
    count(figures.rssBeforeKiB),
    count(figures.rssAfterKiB),
    figures.rssPerConnKiB,
    figures.rssPerConnAfterGcKiB,
    figures.heapPerConnKiB,
    figures.buffersPerConnKiB,
    figures.registerSeconds,
    figures.broadcastMs,
    percent(figures.completion),
  ];
  const perConn = parley.figures.rssPerConnKiB;
  return {
    scenario: "conns",
    table: {
      columns: [
        "server",
        "connections",
        "RSS before KiB",
        "RSS after KiB",
        "KiB/conn",
        "after GC",
        "JS heap",
        "buffers",
        "register s",
        "1 msg to all ms",
        "complete",
      ],
      rows: [row(parley.figures), row(relay.figures)],
    },
    figures: {
      params: { conns: options.conns, settle: options.settle, generators: options.generators },
      parley: parley.figures,
      relay: relay.figures,
      rssPerConnKiB: perConn,
      completion: Math.min(parley.figures.completion, relay.figures.completion),
    },
    targets: [{
      name: `Parley's RSS per idle connection at ${count(options.conns)} connections`,
      value: perConn,
      limit: 30,
      unit: "KiB",
      met: perConn < 30,
    }],
    notes: [...parley.notes, ...relay.notes],
  };
}
