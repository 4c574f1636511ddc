// The server under test, as a subprocess: Parley's real CLI (`mod.ts serve`), the reference
// relay or ngIRCd (a C IRC server, from Debian's package), with its port read from its first
// line, its memory and CPU time read from /proc, and optionally a V8 CPU profile written when it
// stops.

import type { Ports, Via } from "./_control.ts";
import { cpuSeconds, exitOrKill, rssKiB, spawnWithLimit } from "./_proc.ts";

const MOD_TS = new URL("../mod.ts", import.meta.url).pathname;
const RELAY_TS = new URL("./_relay.ts", import.meta.url).pathname;

/** Which server: Parley, the reference relay, or ngIRCd. */
export type ServerKind = "parley" | "relay" | "ngircd";

/** Which server, and how to run it. */
export interface ServerSpec {
  kind: ServerKind;
  /** Parley's store: a temporary file, or SQLite in memory. */
  db?: "file" | "memory";
  /** Write a V8 CPU profile (.cpuprofile) into this directory when the server stops. */
  profileDir?: string | undefined;
  /** The server's limit on open files. */
  nofile: number;
  /** The CPUs it may run on (taskset -c), or anywhere. */
  cpus?: string | undefined;
  /** Parley's mod.ts (default: this checkout's). */
  mod?: string | undefined;
  /** Connections the bench will open: limits that would refuse them are lifted. */
  clients?: number;
  /** More arguments for `parley serve`. */
  serverArgs?: string[];
  /** Open V8's inspector on a loopback port, so {@linkcode ServerProcess.heap} can ask V8. */
  inspect?: boolean;
  /** Ways in to open besides NDJSON over TCP: `irc` (--irc-port) and `ws` (--http-port). */
  via?: Via;
  /** Run Parley as this node (`--node`) of a cluster on this NATS server (`--cluster`). */
  cluster?: { url: string; node: string };
}

/** How each way in is asked for, and how the server says where it listens. */
const LISTENERS: Record<Exclude<Via, "tcp">, { flag: string; line: RegExp }> = {
  irc: { flag: "--irc-port", line: /listening for IRC on 127\.0\.0\.1:(\d+)/ },
  ws: { flag: "--http-port", line: /serving the web client at http:\/\/127\.0\.0\.1:(\d+)\// },
};

/** What V8 says of the server's memory, in KiB. */
export interface HeapUsage {
  /** Live and not yet collected JavaScript objects. */
  usedKiB: number;
  /** The JavaScript heap's size. */
  totalKiB: number;
  /** Memory of ArrayBuffers (Uint8Arrays' bytes), outside the JavaScript heap. */
  backingKiB: number;
}

/**
 * ngIRCd's settings beyond its defaults: on loopback, no DNS, ident or PAM look-ups (Parley
 * makes none), and the limits that would refuse the bench's load lifted: connections in all and
 * per address, channels per user, and flood penalties (`MaxPenaltyTime = 0` turns them off: with
 * the default, -1, one sender's burst of PRIVMSGs is delayed by seconds; an operator with user mode
 * `+F`, "relaxed flood protection", is still delayed).
 */
export const NGIRCD_SETTINGS: Record<string, Record<string, string | number>> = {
  Global: {
    Name: "bench.parley.invalid",
    Info: "Parley's bench",
    AdminInfo1: "Parley's bench",
    AdminInfo2: "loopback",
    AdminEMail: "bench@parley.invalid",
    Listen: "127.0.0.1",
    MotdPhrase: "Parley's bench",
  },
  Limits: { MaxConnections: 0, MaxConnectionsIP: 0, MaxJoins: 0, MaxPenaltyTime: 0 },
  Options: { DNS: "no", Ident: "no", PAM: "no" },
};

/** ngIRCd's configuration file: {@linkcode NGIRCD_SETTINGS}, listening on `port`. */
export function ngircdConfig(port: number): string {
  const sections = structuredClone(NGIRCD_SETTINGS);
  sections.Global!.Ports = port;
  return Object.entries(sections).map(([section, settings]) =>
    `[${section}]\n${
      Object.entries(settings).map(([key, value]) => `\t${key} = ${value}\n`).join("")
    }`
  ).join("");
}

/** Whether ngIRCd is installed (`ngircd` on the PATH). */
export async function hasNgircd(): Promise<boolean> {
  try {
    return (await new Deno.Command("ngircd", { args: ["--version"], stdout: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

/**
 * The lines of ngIRCd's log the bench keeps: where it listens, and its notices and worse (syslog
 * levels 0 to 5), not its line per connection (level 6)...
 */
const NGIRCD_KEPT = /^\[\d+:[0-5] |Now listening on/;
/**
 * ...nor its errors writing to clients that had gone: at the end, when thousands close at once, it
 * logs one for every notice of their leaving it could not send, millions.
 */
const NGIRCD_GONE = /Write error .*(Broken pipe|reset by peer)/;

/** A free TCP port on loopback, now: for a program that cannot be told to pick one itself. */
function freePort(): number {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  return port;
}

const helpCache = new Map<string, Promise<string>>();

/**
 * The `parley serve` arguments that lift the limits meant for strangers which would refuse the
 * bench's load: connections per IP address (every bench client is 127.0.0.1), connections in
 * all, and frames per second per client. Only flags the server's `--help` lists are used.
 */
export async function liftedLimits(mod: string, clients: number): Promise<string[]> {
  let help = helpCache.get(mod);
  if (help === undefined) {
    help = new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--allow-all", mod, "serve", "--help"],
      stdout: "piped",
      stderr: "null",
    }).output().then((output) => new TextDecoder().decode(output.stdout));
    helpCache.set(mod, help);
  }
  const text = await help;
  const has = (flag: string) => new RegExp(`${flag}\\b(?!-)`).test(text);
  const args: string[] = [];
  const enough = String(clients + 64);
  if (has("--max-connections")) args.push("--max-connections", enough);
  if (has("--max-connections-per-ip")) args.push("--max-connections-per-ip", enough);
  if (has("--rate")) args.push("--rate", "0");
  return args;
}

/** A server subprocess. */
export class ServerProcess {
  readonly child: Deno.ChildProcess;
  readonly pid: number;
  readonly spec: ServerSpec;
  /** The port it listens on, once {@linkcode start} has resolved. */
  port = 0;
  /** Its ports by way in, once {@linkcode start} has resolved. */
  ports: Ports = { tcp: 0 };
  /** The arguments after `serve` (none for the relay; ngIRCd's settings, `Key = value`). */
  args: string[] = [];
  /** What it printed; of ngIRCd's log, only the lines {@linkcode NGIRCD_KEPT} keeps. */
  stdout = "";
  stderr = "";
  #tempDir: string | undefined;
  #output: Promise<void>;
  #exited = false;
  #inspectPort: number | undefined;

  private constructor(spec: ServerSpec, child: Deno.ChildProcess, tempDir: string | undefined) {
    this.spec = spec;
    this.child = child;
    this.pid = child.pid;
    this.#tempDir = tempDir;
    this.#output = Promise.all([
      spec.kind === "ngircd"
        ? collectLines(child.stdout, (line) => {
          if (NGIRCD_KEPT.test(line) && !NGIRCD_GONE.test(line)) this.stdout += `${line}\n`;
        })
        : collect(child.stdout, (text) => this.stdout += text),
      collect(child.stderr, (text) => this.stderr += text),
    ]).then(() => {});
    child.status.then(() => this.#exited = true);
  }

  /** Starts a server on a free loopback port and waits until it listens. */
  static async start(spec: ServerSpec): Promise<ServerProcess> {
    const profile = spec.profileDir === undefined
      ? []
      : ["--cpu-prof", `--cpu-prof-dir=${spec.profileDir}`];
    let inspectPort: number | undefined;
    if (spec.inspect) {
      inspectPort = freePort();
      profile.push(`--inspect=127.0.0.1:${inspectPort}`);
    }
    let tempDir: string | undefined;
    let args: string[];
    let command = Deno.execPath();
    if (spec.kind === "ngircd") {
      tempDir = await Deno.makeTempDir({ prefix: "pbench-ngircd-" });
      const conf = `${tempDir}/ngircd.conf`;
      await Deno.writeTextFile(conf, ngircdConfig(freePort()));
      // -n: in the foreground, logging to stdout, where the bench reads its port.
      command = "ngircd";
      args = ["-n", "-f", conf];
    } else if (spec.kind === "relay") {
      args = ["run", "--quiet", "--allow-net", ...profile, RELAY_TS, "0"];
    } else {
      const mod = spec.mod ?? MOD_TS;
      args = ["run", "--quiet", "--allow-all", ...profile, mod, "serve"];
      args.push("--port", "0", "--log-level", "warn");
      if (spec.cluster !== undefined) {
        // A node keeps its history in the stream: --cluster refuses --db.
        args.push("--cluster", spec.cluster.url, "--node", spec.cluster.node);
      } else if (spec.db === "memory") {
        args.push("--db", ":memory:");
      } else {
        tempDir = await Deno.makeTempDir({ prefix: "pbench-db-" });
        args.push("--db", `${tempDir}/bench.db`);
      }
      args.push(...await liftedLimits(mod, spec.clients ?? 0), ...spec.serverArgs ?? []);
      if (spec.via !== undefined && spec.via !== "tcp") args.push(LISTENERS[spec.via].flag, "0");
    }
    const child = spawnWithLimit(spec.nofile, spec.cpus, command, args, {
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
    const server = new ServerProcess(spec, child, tempDir);
    server.#inspectPort = inspectPort;
    if (spec.kind === "parley") server.args = args.slice(args.indexOf("serve") + 1);
    if (spec.kind === "ngircd") {
      server.args = Object.values(NGIRCD_SETTINGS).flatMap((settings) =>
        Object.entries(settings).map(([key, value]) => `${key} = ${value}`)
      );
    }
    const started = Date.now();
    while (true) {
      const irc = /Now listening on \[127\.0\.0\.1\]:(\d+)/.exec(server.stdout)?.[1];
      if (spec.kind === "ngircd" && irc !== undefined) {
        // IRC is its only protocol: its one port is every way in the bench asks for.
        server.port = Number(irc);
        server.ports = { tcp: server.port, irc: server.port };
        return server;
      }
      const port = /listening on 127\.0\.0\.1:(\d+)/.exec(server.stdout)?.[1];
      const via = spec.via ?? "tcp";
      const other = via === "tcp" ? port : LISTENERS[via].line.exec(server.stdout)?.[1];
      if (port !== undefined && other !== undefined) {
        server.port = Number(port);
        server.ports = { tcp: server.port, [via]: Number(other) };
        return server;
      }
      if (server.#exited || Date.now() - started > 30_000) {
        await server.stop();
        throw new Error(
          `The server did not start listening: ${server.stdout.trim()} ${server.stderr.trim()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Its name in reports: `parley (file)`, `parley (memory)`, `relay` or `ngircd`; `parley (file,
   * irc)` when the receivers take another way in; `parley (node ID)` in a cluster.
   */
  get label(): string {
    if (this.spec.kind !== "parley") return this.spec.kind;
    if (this.spec.cluster !== undefined) return `parley (node ${this.spec.cluster.node})`;
    const via = this.spec.via === undefined || this.spec.via === "tcp" ? "" : `, ${this.spec.via}`;
    return `parley (${this.spec.db ?? "file"}${via})`;
  }

  /**
   * What it logged that says something went wrong: Parley's and the relay's stderr (Parley runs
   * at `--log-level warn`), ngIRCd's lines of syslog level 0 to 3 (errors) that `stdout` kept.
   */
  get warnings(): string[] {
    if (this.spec.kind === "ngircd") {
      return this.stdout.split("\n").filter((line) => /^\[\d+:[0-3] /.test(line));
    }
    const text = this.stderr.trim();
    return text === "" ? [] : text.split("\n");
  }

  /** Resident memory in KiB. */
  rssKiB(): number {
    return rssKiB(this.pid);
  }

  /**
   * Asks V8, through the inspector, how much memory the JavaScript heap and ArrayBuffers take;
   * with `collect`, after a full garbage collection. Needs `inspect` in the spec.
   */
  async heap(collect: boolean): Promise<HeapUsage> {
    if (this.#inspectPort === undefined) {
      throw new TypeError("The server was started without inspect");
    }
    const targets = await (await fetch(`http://127.0.0.1:${this.#inspectPort}/json/list`)).json();
    const socket = new WebSocket(targets[0].webSocketDebuggerUrl);
    try {
      await new Promise((resolve, reject) => {
        socket.onopen = resolve;
        socket.onerror = reject;
      });
      let id = 0;
      const call = (method: string) =>
        new Promise<Record<string, number>>((resolve) => {
          const mine = ++id;
          const listener = (event: MessageEvent) => {
            const message = JSON.parse(event.data);
            if (message.id !== mine) return;
            socket.removeEventListener("message", listener);
            resolve(message.result);
          };
          socket.addEventListener("message", listener);
          socket.send(JSON.stringify({ id: mine, method }));
        });
      if (collect) await call("HeapProfiler.collectGarbage");
      const usage = await call("Runtime.getHeapUsage");
      return {
        usedKiB: Math.round((usage.usedSize ?? 0) / 1024),
        totalKiB: Math.round((usage.totalSize ?? 0) / 1024),
        backingKiB: Math.round((usage.backingStorageSize ?? 0) / 1024),
      };
    } finally {
      const closed = new Promise((resolve) => socket.onclose = resolve);
      socket.close();
      await closed;
    }
  }

  /** CPU seconds used so far. */
  cpuSeconds(): number {
    return cpuSeconds(this.pid);
  }

  /**
   * Stops the server with SIGTERM (SIGKILL after 15 s), removes its temporary files, and
   * returns the path of its CPU profile if one was asked for.
   */
  async stop(): Promise<string | undefined> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // Exited already.
    }
    await exitOrKill(this.child, 15_000);
    await this.#output;
    if (this.#tempDir !== undefined) {
      await Deno.remove(this.#tempDir, { recursive: true }).catch(() => {});
    }
    if (this.spec.profileDir === undefined) return undefined;
    let newest: { path: string; mtime: number } | undefined;
    for await (const entry of Deno.readDir(this.spec.profileDir)) {
      if (!entry.name.endsWith(".cpuprofile")) continue;
      const path = `${this.spec.profileDir}/${entry.name}`;
      const mtime = (await Deno.stat(path)).mtime?.getTime() ?? 0;
      if (newest === undefined || mtime > newest.mtime) newest = { path, mtime };
    }
    return newest?.path;
  }
}

/** Hands each line of `stream` to `add`, without its newline. */
async function collectLines(
  stream: ReadableStream<Uint8Array>,
  add: (line: string) => void,
): Promise<void> {
  let pending = "";
  await collect(stream, (text) => {
    const lines = (pending + text).split("\n");
    pending = lines.pop()!;
    for (const line of lines) add(line);
  });
  if (pending !== "") add(pending);
}

async function collect(
  stream: ReadableStream<Uint8Array>,
  add: (text: string) => void,
): Promise<void> {
  for await (const text of stream.pipeThrough(new TextDecoderStream())) add(text);
}
