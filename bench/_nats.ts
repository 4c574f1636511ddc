// The NATS server a cluster of Parley nodes runs on in the bench: Debian's nats-server with
// JetStream, on a free loopback port, its storage in a temporary directory, its CPU time read
// from /proc.

import { cpuSeconds, exitOrKill, spawnWithLimit } from "./_proc.ts";

/** The program, from Debian's package (in /usr/sbin). */
const NATS_SERVER = "nats-server";

/** What a report says when it is missing. */
export const NATS_MISSING = "nats-server is not installed (apt-get install nats-server)";

/** The line nats-server logs once it takes clients, with the port it took (`-p -1`). */
const LISTENING = /Listening for client connections on 127\.0\.0\.1:(\d+)/;

/** The line nats-server logs once JetStream is up too. */
const READY = /Server is ready/;

/** Whether nats-server is installed (on the PATH). */
export async function hasNatsServer(): Promise<boolean> {
  try {
    return (await new Deno.Command(NATS_SERVER, { args: ["--version"], stdout: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

/** A nats-server subprocess with JetStream. */
export class NatsProcess {
  readonly child: Deno.ChildProcess;
  readonly pid: number;
  /** The client port, once {@linkcode start} has resolved. */
  port = 0;
  /** What it logged (nats-server logs on stderr). */
  log = "";
  #dir: string;
  #output: Promise<void>;
  #exited = false;

  private constructor(child: Deno.ChildProcess, dir: string) {
    this.child = child;
    this.pid = child.pid;
    this.#dir = dir;
    this.#output = (async () => {
      await child.stdout.cancel();
      for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) this.log += text;
    })();
    child.status.then(() => this.#exited = true);
  }

  /**
   * Starts nats-server on a free loopback port, with JetStream storing in a new temporary
   * directory, on `cpus` (taskset -c) or anywhere; waits until it is ready.
   */
  static async start(cpus: string | undefined): Promise<NatsProcess> {
    const dir = await Deno.makeTempDir({ prefix: "pbench-nats-" });
    const child = spawnWithLimit(
      4096,
      cpus,
      NATS_SERVER,
      ["-a", "127.0.0.1", "-p", "-1", "-js", "-sd", dir],
      { stdin: "null", stdout: "piped", stderr: "piped" },
    );
    const nats = new NatsProcess(child, dir);
    const started = Date.now();
    while (!READY.test(nats.log)) {
      if (nats.#exited || Date.now() - started > 10_000) {
        await nats.stop();
        throw new Error(`nats-server did not start: ${nats.log.trim()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    nats.port = Number(LISTENING.exec(nats.log)?.[1]);
    return nats;
  }

  /** The URL to give `parley serve --cluster`. */
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** CPU seconds used so far. */
  cpuSeconds(): number {
    return cpuSeconds(this.pid);
  }

  /** Stops it with SIGTERM (SIGKILL after 10 s) and removes its storage. */
  async stop(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // Exited already.
    }
    await exitOrKill(this.child, 10_000);
    await this.#output;
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}
