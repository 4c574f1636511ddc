// A real nats-server with JetStream for the cluster tests: one server on a free loopback port,
// or three routed into a NATS cluster. Each keeps its storage in a temporary directory, can be
// killed (SIGKILL) and started again on the same port with the same storage, and is disposed
// of with `await using`: every process killed and waited for, every directory removed.

import { ParleyProcess } from "./_helpers.ts";

/** The program the tests start: Debian's package puts it in /usr/sbin, which .ci/run installs. */
const NATS_SERVER = "nats-server";

/** How long a nats-server has to say it is ready (and, in a cluster, to see a JetStream
 * metadata leader elected). */
const READY_MS = 10_000;

/** The line nats-server logs once it takes clients, with the port it took. */
const LISTENING = /Listening for client connections on 127\.0\.0\.1:(\d+)/;

/** The line nats-server logs when it serves monitoring over HTTP, with the port it took. */
const MONITOR = /Starting http monitor on 127\.0\.0\.1:(\d+)/;

/**
 * One nats-server process at a time, on one port, with one storage directory. The first start
 * takes a free port (`-p -1`); {@linkcode restart} takes the same one again.
 */
export class NatsServer implements AsyncDisposable {
  /** The client port, fixed by the first start. */
  port = -1;
  /** The directory of its configuration and storage, removed on disposal. */
  readonly dir: string;
  #args: string[];
  #ready: RegExp;
  #process: ParleyProcess | undefined;
  #monitorPort = NaN;

  /** A server run with `args` (the port is added) in `dir`, ready once its log matches
   * `ready`; {@linkcode start} and {@linkcode member} make one. */
  private constructor(dir: string, args: string[], ready: RegExp) {
    this.dir = dir;
    this.#args = args;
    this.#ready = ready;
  }

  /** Starts a standalone nats-server with JetStream on a free loopback port. */
  static async start(): Promise<NatsServer> {
    const dir = await Deno.makeTempDir({ prefix: "parley-nats-" });
    const server = new NatsServer(
      dir,
      ["-a", "127.0.0.1", "-js", "-sd", dir],
      /Server is ready/,
    );
    try {
      await server.restart();
      return server;
    } catch (error) {
      await server[Symbol.asyncDispose]();
      throw error;
    }
  }

  /** The URL to give `parley serve --cluster`. */
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Kills the server with SIGKILL, as a crash would, and waits for it to exit. */
  async kill(): Promise<void> {
    const process = this.#process;
    this.#process = undefined;
    await process?.[Symbol.asyncDispose]();
  }

  /**
   * Stops the server if it runs (SIGTERM: a clean shutdown), then starts it (again: on the same
   * port, with the same storage), and waits until it is ready.
   */
  async restart(): Promise<void> {
    if (this.#process !== undefined) {
      try {
        this.#process.child.kill("SIGTERM");
      } catch {
        // It exited already.
      }
      await this.#process.exitCode(READY_MS);
      await this.kill();
    }
    const process = new ParleyProcess([...this.#args, "-p", String(this.port)], {
      command: [NATS_SERVER],
    });
    this.#process = process;
    const [, port] = await process.waitFor(LISTENING, "stderr", READY_MS);
    await process.waitFor(this.#ready, "stderr", READY_MS);
    this.port = Number(port);
    this.#monitorPort = Number(process.stderr.match(MONITOR)?.[1] ?? NaN);
  }

  /** How many clients are connected, read from the server's monitoring port (which members of
   * a {@linkcode NatsCluster} have). */
  async clients(): Promise<number> {
    if (Number.isNaN(this.#monitorPort)) throw new TypeError("This nats-server has no monitor");
    const response = await fetch(`http://127.0.0.1:${this.#monitorPort}/varz`);
    const { connections } = await response.json();
    return connections;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill();
    await Deno.remove(this.dir, { recursive: true }).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }

  /** Member `name` of a NATS cluster, not started yet, taking routes on `routePort` and dialing
   * the other members on `routes`; ready once it has seen a JetStream metadata leader elected. */
  static async member(name: string, routePort: number, routes: number[]): Promise<NatsServer> {
    const dir = await Deno.makeTempDir({ prefix: `parley-nats-${name}-` });
    const urls = routes.map((port) => `nats://127.0.0.1:${port}`).join(", ");
    // JetStream in a cluster needs a distinct server_name for each member and a cluster name;
    // it sizes the cluster by the routes listed, so each lists both others.
    await Deno.writeTextFile(
      `${dir}/nats.conf`,
      `server_name: ${name}\n` +
        `listen: 127.0.0.1:-1\n` +
        `http: "127.0.0.1:-1"\n` +
        `jetstream { store_dir: "${dir}" }\n` +
        `cluster { name: parley-test, listen: 127.0.0.1:${routePort}, routes: [${urls}] }\n`,
    );
    return new NatsServer(dir, ["-c", `${dir}/nats.conf`], /metadata leader/);
  }
}

/**
 * Three nats-servers routed into one cluster with JetStream (so streams and buckets can have
 * three replicas), each with its own storage, on free loopback ports.
 */
export class NatsCluster implements AsyncDisposable {
  readonly servers: NatsServer[];

  private constructor(servers: NatsServer[]) {
    this.servers = servers;
  }

  /**
   * Starts three servers and waits until each has seen a JetStream metadata leader. Started
   * together, members now and then close their routes to each other as duplicates and one never
   * hears of the leader (nats-server 2.9.10, about one start in twenty on a busy machine): such a
   * start is given up and made again, on new ports, up to three times.
   */
  static async start(): Promise<NatsCluster> {
    for (let attempt = 1;; attempt++) {
      const routePorts = freePorts(3);
      const servers = await Promise.all(
        routePorts.map((port, index) =>
          NatsServer.member(`n${index + 1}`, port, routePorts.filter((other) => other !== port))
        ),
      );
      const cluster = new NatsCluster(servers);
      // Started together: a member waits for a quorum of the others to elect a leader.
      const started = await Promise.allSettled(servers.map((server) => server.restart()));
      const failed = started.find((result) => result.status === "rejected");
      if (failed === undefined) return cluster;
      await cluster[Symbol.asyncDispose]();
      if (attempt === 3) throw failed.reason;
    }
  }

  /** The URLs to give `parley serve --cluster`, comma-separated. */
  get urls(): string {
    return this.servers.map((server) => server.url).join(",");
  }

  /** The running server with the most clients connected (the first of them, if several). */
  async busiest(): Promise<NatsServer> {
    const counts = await Promise.all(this.servers.map((server) => server.clients()));
    return this.servers[counts.indexOf(Math.max(...counts))]!;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.allSettled(this.servers.map((server) => server[Symbol.asyncDispose]()));
  }
}

/**
 * `count` distinct loopback ports free a moment ago: each taken by a listener on port 0, all
 * held at once so they differ, then released for nats-server, whose route ports must be known
 * before any member starts.
 */
export function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((listener) => listener.addr.port);
  for (const listener of listeners) listener.close();
  return ports;
}
