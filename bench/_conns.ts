// Connection scale: C idle registered connections. What each costs the server in memory, how
// long registering them takes (Parley announces every join to everyone already in the room),
// and how long one message takes to reach them all. The reference relay, which holds nothing
// but a socket and a 4 KiB buffer per connection, runs the same for comparison.

import { LARGE_ROOM } from "../_server/chat.ts";
import { combine } from "./_fanout.ts";
import type { ClientSpec, Via } from "./_control.ts";
import { count, percent, round, type ScenarioResult, showProgress } from "./_report.ts";
import {
  againstNgircd,
  type CommonOptions,
  ngircdNotes,
  Setup,
  shares,
  sideBySide,
} from "./_setup.ts";
import type { HeapUsage, ServerKind } from "./_server.ts";
import type { ProfileSummary } from "./_profile.ts";

/** Connection-scale parameters. */
export interface ConnsOptions extends CommonOptions {
  conns: number;
  /** Seconds to let the server settle before reading its memory. */
  settle: number;
  /** Seconds after that to watch its memory while the connections stay idle. */
  idle: number;
}

/** What one server measured with C idle connections. */
export interface ConnsFigures {
  server: string;
  /** Connections registered: all asked for, but for ngIRCd when it ran out of time. */
  connections: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
  /** The least RSS while the connections then stay idle for `idle` seconds: once V8 has
   * collected the garbage of registering on its own. */
  rssIdleKiB: number;
  rssPerConnIdleKiB: number;
  /** RSS after a full garbage collection (ngIRCd: half a second later), and after the broadcast. */
  rssAfterGcKiB: number;
  rssFinalKiB: number;
  rssPerConnKiB: number;
  rssPerConnAfterGcKiB: number;
  /** V8's view, for the servers in Deno: before the connections, after them and a full GC. */
  heapBefore?: HeapUsage;
  heapAfter?: HeapUsage;
  heapAfterGc?: HeapUsage;
  heapPerConnKiB?: number;
  buffersPerConnKiB?: number;
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

/**
 * Join notices that `c` clients joining one room one after another receive in all: Parley tells
 * the room of each join until it is large, ngIRCd always; on IRC each client also hears its own
 * JOIN; the relay tells nobody.
 */
function joinNotices(kind: ServerKind, via: Via, c: number): number {
  if (kind === "relay") return 0;
  const told = kind === "ngircd" ? c : Math.min(c, LARGE_ROOM);
  return told * (told - 1) / 2 + (via === "irc" ? c : 0);
}

/**
 * How long ngIRCd may take to register the connections: those not started by then are not. It
 * slows as the channel grows (it tells every member of every join) and, near 4,000 members on
 * this machine, stops answering newcomers: each is given up on after 30 s.
 */
const NGIRCD_DEADLINE_MS = 120_000;
const NGIRCD_TIMEOUT_MS = 30_000;

/** Registers C idle connections on one server, taking `via`, and measures it. */
export async function measureConns(
  kind: ServerKind,
  options: ConnsOptions,
  via: Via = "tcp",
): Promise<{ figures: ConnsFigures; notes: string[] }> {
  const c = options.conns;
  // V8's view of the heap, for the servers in Deno.
  const inspect = kind !== "ngircd";
  const setup = await Setup.start({ kind, db: "file", inspect, via }, c + 1, options);
  const label = kind === "parley" ? via === "irc" ? "parley (irc)" : "parley" : kind;
  let closed = false;
  try {
    const { generators, server } = setup;
    await sleep(500);
    const rssBeforeKiB = server.rssKiB();
    const heapBefore = inspect ? await server.heap(true) : undefined;
    let notices = joinNotices(kind, via, c);
    const meter = setup.meter();
    const stop = showProgress(() => {
      const progress = generators.progress();
      return `conns ${label}: ${count(progress.connected)}/${count(c)} registered, ${
        count(progress.joined)
      }/${count(notices)} join notices delivered, server RSS ${
        count(server.rssKiB())
      } KiB, server CPU ${shares([meter.serverShare()])}`;
    });
    let registerSeconds, noticeSeconds, joined, rssAfterKiB, registerCpuSeconds, members;
    let rssIdleKiB;
    const notes: string[] = [];
    try {
      const clients = Array.from({ length: c }, (_, i): ClientSpec => ({
        name: `c${i}`,
        role: "recv",
        ...via === "tcp" ? {} : { via },
      }));
      const registered = await generators.connect(server.port, clients, {
        bufferBytes: 16_384,
        concurrency: 64,
        ports: server.ports,
        ...kind === "ngircd"
          ? { timeoutMs: NGIRCD_TIMEOUT_MS, deadlineMs: NGIRCD_DEADLINE_MS }
          : { timeoutMs: 120_000 },
      });
      members = registered.connected;
      registerSeconds = meter.seconds;
      if (registered.failed > 0) {
        if (kind !== "ngircd") {
          throw new Error(`${registered.failed} connection(s) failed: ${registered.errors[0]}`);
        }
        // What ngIRCd manages in the time is the figure: measured with the clients it took.
        notes.push(
          `ngircd registered ${count(members)} of ${count(c)} clients into one channel in ${
            round(registerSeconds, 1)
          } s (${registered.errors[0]}); the figures below are for ${count(members)}.`,
        );
        notices = joinNotices(kind, via, members);
      }
      joined = await until(() => generators.progress().joined, notices, 30_000);
      noticeSeconds = meter.seconds;
      registerCpuSeconds = meter.serverSeconds();
      await sleep(options.settle * 1000);
      rssAfterKiB = rssIdleKiB = server.rssKiB();
      for (let second = 0; second < options.idle; second++) {
        await sleep(1000);
        rssIdleKiB = Math.min(rssIdleKiB, server.rssKiB());
      }
    } finally {
      stop();
    }
    // How much of that is garbage from registering, which a collection would free?
    const heapAfter = inspect ? await server.heap(false) : undefined;
    const heapAfterGc = inspect ? await server.heap(true) : undefined;
    await sleep(500);
    const rssAfterGcKiB = server.rssKiB();

    // One more client, which every idle one hears join if the room tells, sends one message to
    // all of them.
    const sender: ClientSpec = {
      name: "speaker",
      role: "send",
      sid: 0,
      ...via === "tcp" ? {} : { via },
    };
    const before = generators.progress().joined;
    await generators.connect(server.port, [sender], { bufferBytes: 65_536, ports: server.ports });
    const heard = joinNotices(kind, via, members + 1) - joinNotices(kind, via, members);
    await until(() => generators.progress().joined, before + heard, 30_000);
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

    const perConn = (kib: number) => round(kib / members, 2);
    const figures: ConnsFigures = {
      server: label,
      connections: members,
      rssBeforeKiB,
      rssAfterKiB,
      rssAfterGcKiB,
      rssFinalKiB,
      rssPerConnKiB: round((rssAfterKiB - rssBeforeKiB) / members, 1),
      rssIdleKiB,
      rssPerConnIdleKiB: round((rssIdleKiB - rssBeforeKiB) / members, 1),
      rssPerConnAfterGcKiB: round((rssAfterGcKiB - rssBeforeKiB) / members, 1),
      ...heapBefore === undefined || heapAfter === undefined || heapAfterGc === undefined ? {} : {
        heapBefore,
        heapAfter,
        heapAfterGc,
        heapPerConnKiB: perConn(heapAfterGc.usedKiB - heapBefore.usedKiB),
        buffersPerConnKiB: perConn(heapAfterGc.backingKiB - heapBefore.backingKiB),
      },
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
    notes.push(
      figures.heapPerConnKiB === undefined
        ? `${label}: per connection ${figures.rssPerConnKiB} KiB of RSS, ${figures.rssPerConnIdleKiB} KiB at the least in ${options.idle} s idle.`
        : `${label}: per connection ${figures.rssPerConnKiB} KiB of RSS ${options.settle} s after registering, ${figures.rssPerConnIdleKiB} KiB at the least in the ${options.idle} s idle after (V8 collects the garbage of registering on its own once the server is idle), ${figures.rssPerConnAfterGcKiB} KiB after a full GC, of which ${figures.heapPerConnKiB} KiB of JavaScript heap and ${figures.buffersPerConnKiB} KiB of buffers.`,
      ...summary.notes,
    );
    if (kind !== "relay") {
      notes.push(
        `${label}: ${count(joined)} of ${
          count(notices)
        } join notices delivered while registering; ` +
          `the server used ${round(registerCpuSeconds, 1)} s of CPU for it.`,
      );
    }
    return { figures, notes };
  } finally {
    if (!closed) await setup.close();
  }
}

/**
 * `conns`: memory per idle connection, and the time for one message to reach all; Parley and the
 * reference relay, and with ngIRCd, Parley with every client on its IRC gateway and ngIRCd.
 */
export async function conns(options: ConnsOptions): Promise<ScenarioResult> {
  const parley = await measureConns("parley", options);
  const irc = await againstNgircd(options, (kind, via) => measureConns(kind, options, via));
  const relay = await measureConns("relay", options);
  const ngircd = irc?.ngircd.figures;
  const row = (figures: ConnsFigures) => [
    figures.server,
    count(figures.connections),
    count(figures.rssBeforeKiB),
    count(figures.rssAfterKiB),
    figures.rssPerConnKiB,
    figures.rssPerConnIdleKiB,
    figures.heapPerConnKiB === undefined ? "–" : figures.rssPerConnAfterGcKiB,
    figures.heapPerConnKiB ?? "–",
    figures.buffersPerConnKiB ?? "–",
    figures.registerSeconds,
    figures.broadcastMs,
    percent(figures.completion),
    ...ngircd === undefined ? [] : [round(figures.rssPerConnIdleKiB / ngircd.rssPerConnIdleKiB, 2)],
  ];
  const perConn = parley.figures.rssPerConnIdleKiB;
  const { rows } = sideBySide([parley], irc, relay);
  return {
    scenario: "conns",
    table: {
      columns: [
        "server",
        "connections",
        "RSS before KiB",
        "RSS after KiB",
        "KiB/conn",
        "idle",
        "after GC",
        "JS heap",
        "buffers",
        "register s",
        "1 msg to all ms",
        "complete",
        ...ngircd === undefined ? [] : ["idle × ngIRCd"],
      ],
      rows: rows.map(row),
    },
    figures: {
      params: {
        conns: options.conns,
        settle: options.settle,
        idle: options.idle,
        generators: options.generators,
      },
      parley: parley.figures,
      relay: relay.figures,
      ...irc === undefined ? {} : {
        parley_irc: irc.irc.figures,
        ngircd,
        rssPerConnOverNgircd: round(perConn / ngircd!.rssPerConnKiB, 3),
      },
      rssPerConnKiB: perConn,
      completion: Math.min(...rows.map((figures) => figures.completion)),
    },
    targets: [{
      name: `Parley's RSS per idle registered connection at ${
        count(options.conns)
      } connections, at the least in ${options.idle} s idle`,
      value: perConn,
      limit: 8,
      unit: "KiB",
      met: perConn <= 8,
    }],
    notes: [
      ...ngircdNotes(options),
      ...parley.notes,
      ...irc === undefined ? [] : [...irc.irc.notes, ...irc.ngircd.notes],
      ...relay.notes,
    ],
  };
}
