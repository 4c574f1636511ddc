// The coordinator's side of the load generators: it spawns bench/_load.ts processes, spreads
// clients over them, sends them requests and sums what they report.

import {
  type ClientSpec,
  type ConnectReply,
  nowMicros,
  type Ports,
  type Progress,
  type Reply,
  type Request,
  type RunReply,
  type RunRequest,
} from "./_control.ts";
import { cpuSeconds, exitOrKill, spawnWithLimit } from "./_proc.ts";

/** Every counter a generator reports, at zero. */
const NO_COUNTS: Omit<Progress, "ev"> = {
  connected: 0,
  sent: 0,
  received: 0,
  joined: 0,
  left: 0,
  churnJoined: 0,
  churnLeft: 0,
  pongs: 0,
};

const LOAD_TS = new URL("./_load.ts", import.meta.url).pathname;

type RequestBody = Request extends infer R ? R extends unknown ? Omit<R, "id"> : never : never;

/** One generator process. */
class Generator {
  readonly child: Deno.ChildProcess;
  readonly pid: number;
  progress: Progress = { ev: "progress", ...NO_COUNTS };
  stderr = "";
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #pending = new Map<number, PromiseWithResolvers<Reply>>();
  #nextId = 1;
  readonly done: Promise<void>;

  constructor(nofile: number, cpus: string | undefined) {
    this.child = spawnWithLimit(
      nofile,
      cpus,
      Deno.execPath(),
      ["run", "--quiet", "--allow-net", LOAD_TS],
      { stdin: "piped", stdout: "piped", stderr: "piped" },
    );
    this.pid = this.child.pid;
    this.#writer = this.child.stdin.getWriter();
    this.done = Promise.all([this.#readReplies(), this.#readStderr()]).then(() => {
      for (const pending of this.#pending.values()) {
        pending.reject(new Error(`A load generator exited: ${this.stderr.trim()}`));
      }
      this.#pending.clear();
    });
  }

  /** Sends a request; rejects if the generator fails it, or does not answer in `timeoutMs`. */
  async request(body: RequestBody, timeoutMs = 600_000): Promise<Reply> {
    const id = this.#nextId++;
    const pending = Promise.withResolvers<Reply>();
    this.#pending.set(id, pending);
    const timer = setTimeout(() => {
      this.#pending.delete(id);
      pending.reject(new Error(`A load generator did not answer "${body.op}" in ${timeoutMs} ms`));
    }, timeoutMs);
    try {
      await this.#writer.write(new TextEncoder().encode(JSON.stringify({ ...body, id }) + "\n"));
      const reply = await pending.promise;
      if (!reply.ok) throw new Error(`A load generator failed: ${reply.error}`);
      return reply;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Asks the generator to quit; kills it if it has not within 5 s. */
  async close(): Promise<void> {
    try {
      await this.request({ op: "quit" }, 5000);
    } catch {
      // Exited already, or stuck.
    }
    await this.#writer.close().catch(() => {});
    await exitOrKill(this.child, 5000);
    await this.done;
    if (this.stderr) console.error(this.stderr);
  }

  async #readReplies(): Promise<void> {
    let pending = "";
    for await (const text of this.child.stdout.pipeThrough(new TextDecoderStream())) {
      pending += text;
      for (let end = pending.indexOf("\n"); end !== -1; end = pending.indexOf("\n")) {
        const message = JSON.parse(pending.slice(0, end)) as Reply | Progress;
        pending = pending.slice(end + 1);
        if ("ev" in message) {
          this.progress = message;
        } else {
          this.#pending.get(message.id)?.resolve(message);
          this.#pending.delete(message.id);
        }
      }
    }
  }

  async #readStderr(): Promise<void> {
    for await (const text of this.child.stderr.pipeThrough(new TextDecoderStream())) {
      this.stderr += text;
    }
  }
}

/** A set of load-generator processes. */
export class Generators {
  readonly all: Generator[];

  private constructor(all: Generator[]) {
    this.all = all;
  }

  /** Starts `count` generators, each allowed `nofile` open files, on `cpus` (or anywhere). */
  static start(count: number, nofile: number, cpus?: string): Generators {
    return new Generators(Array.from({ length: count }, () => new Generator(nofile, cpus)));
  }

  get count(): number {
    return this.all.length;
  }

  /** Connects and registers `clients` on `port`, client i on generator i % count. */
  async connect(
    port: number,
    clients: ClientSpec[],
    options: {
      bufferBytes: number;
      concurrency?: number;
      timeoutMs?: number;
      deadlineMs?: number;
      ports?: Ports;
    },
  ): Promise<ConnectReply> {
    const replies = await Promise.all(this.all.map((generator, g) =>
      generator.request({
        op: "connect",
        port,
        ...options.ports === undefined ? {} : { ports: options.ports },
        clients: clients.filter((_, i) => i % this.count === g),
        bufferBytes: options.bufferBytes,
        concurrency: options.concurrency ?? 32,
        timeoutMs: options.timeoutMs ?? 60_000,
        ...options.deadlineMs === undefined ? {} : { deadlineMs: options.deadlineMs },
      })
    ));
    const total: ConnectReply = { connected: 0, failed: 0, errors: [] };
    for (const reply of replies) {
      if (!reply.ok || reply.connect === undefined) continue;
      total.connected += reply.connect.connected;
      total.failed += reply.connect.failed;
      total.errors.push(...reply.connect.errors);
    }
    return total;
  }

  /** Runs on every generator at once, with a request made for each. */
  async run(request: (g: number) => Omit<RunRequest, "op">): Promise<RunReply[]> {
    const epochUs = nowMicros();
    await Promise.all(this.all.map((generator) => generator.request({ op: "reset", epochUs })));
    const replies = await Promise.all(
      this.all.map((generator, g) => generator.request({ op: "run", ...request(g) })),
    );
    return replies.map((reply) => {
      if (!reply.ok || reply.run === undefined) throw new Error("A run got no answer");
      return reply.run;
    });
  }

  /** The generators' counters, summed. */
  progress(): Omit<Progress, "ev"> {
    const sum = { ...NO_COUNTS };
    for (const { progress } of this.all) {
      for (const key of Object.keys(sum) as (keyof typeof sum)[]) sum[key] += progress[key];
    }
    return sum;
  }

  /** Each generator's CPU seconds so far. */
  cpuSeconds(): number[] {
    return this.all.map((generator) => cpuSeconds(generator.pid));
  }

  /** Tells every generator to close its connections and exit, and waits for them. */
  async close(): Promise<void> {
    await Promise.all(this.all.map((generator) => generator.close()));
  }
}
