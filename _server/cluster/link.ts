// A node's link to the cluster, over NATS: room messages go through one JetStream stream that
// every node consumes in order; users, topics, accounts and bans live in key-value buckets that
// every node watches; nodes announce themselves with a heartbeat, and the lowest-named live node
// takes the users of a node that stopped beating out of the chat. Private messages and kicks for a
// user on another node go to that node as requests. docs/CLUSTER.md has the whole design.

import type { Logger } from "../log.ts";
import type { RetentionPolicy, RoomMessage, Store } from "../store.ts";
import { UnavailableError } from "../store.ts";
import {
  connect,
  DeliverPolicy,
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  type JsMsg,
  type KV,
  Kvm,
  type KvWatchEntry,
  type NatsConnection,
  type StreamConfig,
} from "./nats.ts";
import type { LeaveReason, MessageFrame, PrivateFrame } from "../../protocol.ts";
import { hexKey, unhexKey } from "./keys.ts";
import { type Ban, type StoredTopic } from "../store.ts";
import { fromBase64, type StoredAccount } from "./replicated_store.ts";

/** How often a node says it is alive. */
export const HEARTBEAT_MS = 2_000;
/** How long a node may go without a heartbeat before the others take its users out. */
export const DEAD_AFTER_MS = 6_000;
/** How long a request to another node (a private message, a kick) may take. */
const REQUEST_TIMEOUT_MS = 2_000;
/** How long `parley serve --cluster` tries to reach NATS at start. */
const CONNECT_TIMEOUT_MS = 5_000;
/** How long setting up the stream and buckets may take at start, retried meanwhile: nodes that
 * start together on a NATS cluster contend for its leaders, and a request may time out. */
const SETUP_DEADLINE_MS = 30_000;
/** A JetStream request's timeout. */
const JETSTREAM_TIMEOUT_MS = 5_000;
/** How long a pull of the stream waits before it is asked again: a pull lost with a NATS server
 * is replaced this soon. */
const PULL_EXPIRES_MS = 4_000;
/** How long this node's own heartbeat may take to come back through its watch before the
 * watches are taken to be stuck and started again. */
const STALLED_AFTER_MS = 5_000;

/** Where the cluster is and what this node is called in it. */
export interface ClusterOptions {
  /** NATS server URLs (`nats://host:port`). */
  servers: readonly string[];
  /** The chat's name: its stream and buckets are named after it, so chats may share a NATS. */
  name: string;
  /** This node's id, unique in the cluster. */
  node: string;
  /** Copies JetStream keeps of the stream and of each bucket. */
  replicas: number;
  retention: RetentionPolicy;
  /** The most bytes of messages the stream keeps. */
  maxBytes: number;
  log: Logger;
}

/** A user as the cluster knows them: the value of their key in the users bucket. */
export interface Presence {
  name: string;
  /** The node the user is connected to. */
  node: string;
  ip: string;
  /** The rooms they are in, by name. */
  rooms: string[];
  /** Set when they are leaving: why. The key is deleted next. */
  gone?: LeaveReason;
  /** Another node's id, when that node took this user out (theirs had stopped beating). */
  by?: string;
  /** Their name before, when this key is a new name of theirs. */
  from?: string;
}

/** What the chat does with what arrives from the cluster. */
export interface ClusterHandlers {
  /** A room message, stored by JetStream, in stream order; `origin` is the sender's node and
   * folded name. */
  message(frame: MessageFrame, origin: string): void;
  /** A user's presence changed; undefined when their key went. */
  presence(key: string, presence: Presence | undefined): void;
  /** A private message for a user of this node; returns whether they are here. */
  private(to: string, frame: PrivateFrame): boolean;
  /** Closes a user of this node (kicked or banned on another); returns whether they are here. */
  close(to: string, reason: LeaveReason, message: string): boolean;
  /** The link is back after being down: this node's users are to be announced again. */
  restored(): void;
  /** A room's topic changed on another node (`room` is its key; an empty topic is none). */
  topic(room: string, topic: Required<StoredTopic>): void;
  /** A ban was set or lifted on another node. */
  bans(): void;
}

/** A request from another node. */
export type NodeRequest =
  | { op: "private"; to: string; frame: PrivateFrame }
  | { op: "close"; to: string; reason: LeaveReason; message: string };

/** The buckets a cluster keeps, besides the stream of room messages. */
export interface Buckets {
  users: KV;
  nodes: KV;
  topics: KV;
  accounts: KV;
  bans: KV;
}

/** This node's connection to NATS, the stream and the buckets. */
export class ClusterLink {
  /** This node's id. */
  readonly node: string;
  readonly buckets: Buckets;
  #options: ClusterOptions;
  #nc: NatsConnection;
  #js: JetStreamClient;
  /** Asks JetStream about the stream: at start, and at each heartbeat (see `#checkConsumer`). */
  #jsm: JetStreamManager | undefined;
  #subjectPrefix: string;
  #stream: string;
  #handlers: ClusterHandlers | undefined;
  /** Where the replica goes before the chat attaches: the catch-up at start. */
  #store: Store;
  /** The consumer and watches under way, to stop when they are started again. */
  #feeds: { stop(): void }[] = [];
  /** Starts the consumer and the watches from where each stopped. */
  #starters: (() => Promise<void>)[] = [];
  #restarting: Promise<void> | undefined;
  /** The last stream sequence taken from the stream: none is taken twice. */
  #lastSeq: number;
  /** Resolved once the replica holds the stream as it was at start. */
  #caughtUp = Promise.withResolvers<void>();
  #catchUpTo = 0;
  /** The stream's last sequence when the consumer last looked behind, and the consumer's. */
  #behind: { last: number; taken: number } | undefined;
  /** When this node's own heartbeat last came back through its watch (performance.now()). */
  #ownSeenAt = performance.now();
  /** The subscription for requests from other nodes. */
  #inboxSub: { unsubscribe(): void } | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  /** When each other node last beat (performance.now()). */
  #seen = new Map<string, number>();
  /** The users bucket as last seen: who is on which node. */
  #users = new Map<string, Presence>();
  #up = true;
  #closed = false;
  /** The loops that read the feeds and NATS's status, which closing waits for. */
  #done = new Set<Promise<void>>();
  /** The last write under way to each key: the next waits for it, and closing for all. */
  #writes = new Map<string, Promise<unknown>>();

  private constructor(
    options: ClusterOptions,
    nc: NatsConnection,
    buckets: Buckets,
    store: Store,
  ) {
    this.#options = options;
    this.node = options.node;
    this.#nc = nc;
    this.#js = jetstream(nc, { timeout: JETSTREAM_TIMEOUT_MS });
    this.buckets = buckets;
    this.#store = store;
    this.#lastSeq = store.lastMessageId();
    this.#subjectPrefix = `parley.${options.name}.room.`;
    this.#stream = `PARLEY_${options.name}`;
  }

  /**
   * Connects to NATS, makes the stream and buckets if they are not there, and fills `store`
   * with every message the stream holds past the store's last, before resolving.
   *
   * @throws {Error} If NATS cannot be reached: the message says where and why.
   */
  static async connect(options: ClusterOptions, store: Store): Promise<ClusterLink> {
    if (!/^[A-Za-z0-9_-]+$/.test(options.name)) {
      throw new TypeError(`A cluster name is letters, digits, "_" and "-": got "${options.name}"`);
    }
    if (!/^[A-Za-z0-9_-]+$/.test(options.node)) {
      throw new TypeError(`A node id is letters, digits, "_" and "-": got "${options.node}"`);
    }
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: [...options.servers],
        name: `parley ${options.node}`,
        timeout: CONNECT_TIMEOUT_MS,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        // Otherwise every request (each publish) makes an Error for a stack trace it may need:
        // a fifth of a node's time under load (docs/PERFORMANCE.md).
        noAsyncTraces: true,
      });
    } catch (error) {
      throw new Error(`cannot reach NATS at ${options.servers.join(", ")}: ${message(error)}`);
    }
    try {
      const buckets = await retried(() => setUp(nc, options));
      const beat = await buckets.nodes.get(options.node);
      if (beat?.operation === "PUT" && Date.now() - Number(beat.string()) < DEAD_AFTER_MS) {
        throw new Error(`another node is called "${options.node}": give this one its own --node`);
      }
      const link = new ClusterLink(options, nc, buckets, store);
      await link.#start();
      return link;
    } catch (error) {
      await nc.close();
      throw new Error(`NATS at ${options.servers.join(", ")} failed: ${message(error)}`);
    }
  }

  /** Whether NATS is reachable now: while it is not, what needs it is refused. */
  get up(): boolean {
    return this.#up && !this.#closed;
  }

  /** Where nodes reach this one. */
  #inbox(node: string): string {
    return `parley.${this.#options.name}.node.${node}`;
  }

  async #start(): Promise<void> {
    this.#jsm = await jetstreamManager(this.#nc, { timeout: JETSTREAM_TIMEOUT_MS });
    const { state } = await this.#jsm.streams.info(this.#stream);
    this.#catchUpTo = state.last_seq;
    if (state.last_seq <= this.#lastSeq || state.messages === 0) this.#caughtUp.resolve();
    this.#starters.push(() => this.#consumeStream());
    this.#inboxSub = this.#nc.subscribe(this.#inbox(this.node), {
      callback: (error, msg) => {
        if (error !== null) return;
        const request = msg.json<NodeRequest>();
        const here = request.op === "private"
          ? this.#handlers?.private(request.to, request.frame)
          : this.#handlers?.close(request.to, request.reason, request.message);
        msg.respond(here ? "1" : "0");
      },
    });
    this.#watch(this.buckets.nodes, (entry) => {
      if (entry.key === this.node) this.#ownSeenAt = performance.now();
      else if (entry.operation === "PUT") this.#seen.set(entry.key, performance.now());
      else this.#seen.delete(entry.key);
    });
    this.#watchReplicated();
    this.#watch(this.buckets.users, (entry) => {
      const presence = entry.operation === "PUT" ? entry.json<Presence>() : undefined;
      if (presence === undefined || presence.gone !== undefined) this.#users.delete(entry.key);
      else this.#users.set(entry.key, presence);
      this.#handlers?.presence(unhexKey(entry.key), presence);
    });
    for (const start of this.#starters) await start();
    this.#beat();
    this.#heartbeat = setInterval(() => this.#beat(), HEARTBEAT_MS);
    this.#track((async () => {
      for await (const status of this.#nc.status()) {
        if (status.type === "disconnect") {
          this.#up = false;
          this.#options.log("warn", `cluster: lost NATS: ${status.server}`);
        } else if (status.type === "reconnect") {
          this.#up = true;
          this.#options.log("warn", `cluster: NATS is back: ${status.server}`);
          this.#restart();
          this.#beat();
          this.#handlers?.restored();
        }
      }
    })());
    await this.#caughtUp.promise;
  }

  /** Keeps `loop` until it ends, for closing to wait for. */
  #track(loop: Promise<void>): void {
    this.#done.add(loop);
    loop.finally(() => this.#done.delete(loop));
  }

  /** Consumes the stream from the message after the last taken. */
  async #consumeStream(): Promise<void> {
    const after = this.#lastSeq;
    const consumer = await this.#js.consumers.get(
      this.#stream,
      after > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 }
        : { deliver_policy: DeliverPolicy.All },
    );
    const messages = await consumer.consume({ expires: PULL_EXPIRES_MS });
    this.#feeds.push(messages);
    this.#track((async () => {
      for await (const msg of messages) this.#consume(msg);
    })());
  }

  /**
   * Stops the consumer and the watches and starts them again, each after the last it took: on
   * a reconnection, and when one of them is found stuck (the client library does not always
   * pick up again by itself after a NATS server goes).
   */
  #restart(): void {
    // Nobody's heartbeat could be seen meanwhile: time starts again for every node.
    const now = performance.now();
    for (const node of this.#seen.keys()) this.#seen.set(node, now);
    this.#ownSeenAt = now;
    this.#restarting ??= (async () => {
      for (const feed of this.#feeds.splice(0)) feed.stop();
      const failed = (await Promise.allSettled(this.#starters.map((start) => start())))
        .find((result) => result.status === "rejected");
      if (failed === undefined || !this.up) return;
      // The NATS server this node is on cannot serve JetStream (a server of its cluster went,
      // and this one has not caught up): another may.
      this.#options.log(
        "warn",
        `cluster: starting the feeds again failed (${message(failed.reason)}); ` +
          "trying another NATS server",
      );
      await this.#nc.reconnect().catch(() => {
        // Closed, or reconnecting already: either way, nothing to do.
      });
    })().finally(() => this.#restarting = undefined);
  }

  /**
   * Watches `bucket`: calls `apply` for every entry, those there now and those to come, in
   * order, each once, across restarts.
   */
  #watch(bucket: KV, apply: (entry: KvWatchEntry) => void): void {
    let last = 0;
    this.#starters.push(async () => {
      const watch = await bucket.watch(last > 0 ? { resumeFromRevision: last + 1 } : {});
      this.#feeds.push(watch);
      this.#track((async () => {
        for await (const entry of watch) {
          if (entry.revision <= last) continue;
          last = entry.revision;
          try {
            apply(entry);
          } catch (error) {
            this.#options.log("error", `cluster: applying ${entry.key} failed: ${message(error)}`);
          }
        }
      })());
    });
  }

  /** Applies what other nodes write to the topics, accounts and bans buckets to the replica. */
  #watchReplicated(): void {
    const mine = (entry: KvWatchEntry) =>
      entry.operation === "PUT" && entry.json<{ node: string }>().node === this.node;
    this.#watch(this.buckets.topics, (entry) => {
      if (mine(entry)) return;
      if (entry.operation !== "PUT") return;
      const room = unhexKey(entry.key);
      const { topic, by, ts } = entry.json<Required<StoredTopic>>();
      this.#store.setTopic(room, topic, by, ts);
      this.#handlers?.topic(room, { topic, by, ts });
    });
    this.#watch(this.buckets.accounts, (entry) => {
      if (entry.operation !== "PUT" || mine(entry)) return;
      const account = entry.json<StoredAccount>();
      this.#store.setAccount(unhexKey(entry.key), account.name, {
        salt: fromBase64(account.salt),
        hash: fromBase64(account.hash),
        iterations: account.iterations,
      });
    });
    this.#watch(this.buckets.bans, (entry) => {
      if (mine(entry)) return;
      if (entry.operation === "PUT") {
        const { node: _, ...ban } = entry.json<Ban & { node: string }>();
        this.#store.ban(ban);
      } else {
        const [kind, hex] = entry.key.split(".") as [Ban["kind"], string];
        this.#store.unban(kind, unhexKey(hex));
      }
      this.#handlers?.bans();
    });
  }

  /** Hands what arrives from now on to `handlers`. */
  attach(handlers: ClusterHandlers): void {
    this.#handlers = handlers;
    for (const [key, presence] of this.#users) handlers.presence(unhexKey(key), presence);
  }

  #consume(msg: JsMsg): void {
    // A consumer started again may bring what the last one took.
    if (msg.seq <= this.#lastSeq) return;
    this.#lastSeq = msg.seq;
    if (msg.seq >= this.#catchUpTo) this.#caughtUp.resolve();
    const { origin, ...body } = msg.json<Omit<RoomMessage, "id"> & { origin: string }>();
    const frame: MessageFrame = { type: "message", id: msg.seq, ...body };
    if (this.#handlers === undefined) {
      const { type: _, ...stored } = frame;
      this.#store.append([{
        ...stored,
        room: unhexKey(msg.subject.slice(this.#subjectPrefix.length)),
      }]);
    } else {
      this.#handlers.message(frame, origin);
    }
  }

  /**
   * Publishes a room message; resolves once JetStream has stored it. Its id is then the
   * stream's sequence, given as it comes back through the stream.
   *
   * @throws {UnavailableError} If NATS is out of reach.
   */
  async publish(roomKey: string, frame: MessageFrame, origin: string): Promise<void> {
    this.require();
    const { type: _, id: __, ...body } = frame;
    try {
      await this.#js.publish(
        this.#subjectPrefix + hexKey(roomKey),
        JSON.stringify({ ...body, origin }),
      );
    } catch (error) {
      throw new UnavailableError(`storing the message in JetStream failed: ${message(error)}`);
    }
  }

  /**
   * Claims a name (by its folded key) for a user of this node. Resolves true if it was free,
   * false if someone anywhere in the cluster holds it.
   *
   * @throws {UnavailableError} If NATS is out of reach.
   */
  async claim(key: string, presence: Presence): Promise<boolean> {
    this.require();
    try {
      await this.buckets.users.create(hexKey(key), JSON.stringify(presence));
      return true;
    } catch (error) {
      if (!this.up) throw new UnavailableError(`NATS is out of reach: ${message(error)}`);
      return false;
    }
  }

  /** Says where a user of this node is now. */
  announce(key: string, presence: Presence): void {
    const hex = hexKey(key);
    this.write(hex, () => this.buckets.users.put(hex, JSON.stringify(presence)));
  }

  /** Frees a user's name; with `gone`, everyone is first told why they left. */
  release(key: string, presence?: Presence): void {
    const hex = hexKey(key);
    if (presence !== undefined) {
      this.write(hex, () => this.buckets.users.put(hex, JSON.stringify(presence)));
    }
    this.write(hex, () => this.buckets.users.delete(hex));
  }

  /**
   * Sends a request to the node a user is on; resolves whether they were there.
   *
   * @throws {UnavailableError} If NATS or that node is out of reach.
   */
  async request(node: string, request: NodeRequest): Promise<boolean> {
    this.require();
    try {
      const reply = await this.#nc.request(this.#inbox(node), JSON.stringify(request), {
        timeout: REQUEST_TIMEOUT_MS,
      });
      return reply.string() === "1";
    } catch (error) {
      throw new UnavailableError(`node ${node} did not answer: ${message(error)}`);
    }
  }

  /** @throws {UnavailableError} If NATS is out of reach. */
  require(): void {
    if (!this.up) throw new UnavailableError("this server has lost the cluster (NATS)");
  }

  /**
   * Writes to NATS in the background, after the writes to the same key still under way (the
   * client library may reorder writes started together); a failure is logged.
   */
  write(key: string, write: () => Promise<unknown>): void {
    const settled = (this.#writes.get(key) ?? Promise.resolve()).then(write).catch((error) => {
      if (!this.#closed) this.#options.log("warn", `cluster: writing ${key} failed: ${error}`);
    });
    this.#writes.set(key, settled);
    settled.finally(() => {
      if (this.#writes.get(key) === settled) this.#writes.delete(key);
    });
  }

  /** Beats, and takes out the users of nodes that stopped beating, if this node is to. */
  #beat(): void {
    if (!this.up) return;
    this.write(`node ${this.node}`, () => this.buckets.nodes.put(this.node, String(Date.now())));
    const now = performance.now();
    if (now - this.#ownSeenAt > STALLED_AFTER_MS) {
      // This node does not see its own heartbeats: it cannot judge others by theirs.
      this.#options.log("warn", "cluster: the watches are stuck; starting them again");
      return this.#restart();
    }
    this.#checkConsumer();
    const dead = [...this.#seen].filter(([, seen]) => now - seen > DEAD_AFTER_MS);
    const live = [this.node, ...this.#seen.keys()].filter((node) =>
      !dead.some(([d]) => d === node)
    );
    if (dead.length === 0 || live.sort()[0] !== this.node) return;
    for (const [node] of dead) {
      this.#seen.delete(node);
      this.#options.log("warn", `cluster: node ${node} stopped beating; its users leave`);
      for (const [hex, presence] of this.#users) {
        if (presence.node !== node) continue;
        this.#users.delete(hex);
        this.release(unhexKey(hex), {
          ...presence,
          rooms: [],
          gone: "disconnected",
          by: this.node,
        });
      }
      this.write(`node ${node}`, () => this.buckets.nodes.delete(node));
    }
  }

  /**
   * Starts the consumer again if it stopped taking messages while the stream holds more: the
   * stream has grown past what it took, twice in a row, with nothing taken between.
   */
  #checkConsumer(): void {
    this.#jsm!.streams.info(this.#stream)
      .then(({ state }) => {
        const behind = this.#behind;
        this.#behind = state.last_seq > this.#lastSeq
          ? { last: state.last_seq, taken: this.#lastSeq }
          : undefined;
        if (behind !== undefined && this.#behind !== undefined && behind.taken === this.#lastSeq) {
          this.#options.log("warn", "cluster: the stream's consumer is stuck; starting it again");
          this.#behind = undefined;
          this.#restart();
        }
      })
      .catch(() => {
        // NATS is out of reach or busy: the next heartbeat looks again.
      });
  }

  /** Leaves the cluster: this node's key goes, so others need not wait for it to stop beating. */
  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#heartbeat);
    await Promise.allSettled(this.#writes.values());
    try {
      if (this.#up) await this.buckets.nodes.delete(this.node);
    } catch {
      // Going anyway: the others time it out.
    }
    this.#closed = true;
    await this.#restarting;
    this.#inboxSub?.unsubscribe();
    for (const feed of this.#feeds) feed.stop();
    await this.#nc.close();
    await Promise.allSettled(this.#done);
  }
}

/** Makes the stream and the buckets, or updates them to the options; returns the buckets. */
async function setUp(nc: NatsConnection, options: ClusterOptions): Promise<Buckets> {
  const { name, replicas, retention, maxBytes } = options;
  const jsm = await jetstreamManager(nc, { timeout: JETSTREAM_TIMEOUT_MS });
  const config: Partial<StreamConfig> & { name: string } = {
    name: `PARLEY_${name}`,
    subjects: [`parley.${name}.room.*`],
    num_replicas: replicas,
    max_bytes: maxBytes > 0 ? maxBytes : -1,
    max_msgs_per_subject: retention.messagesPerRoom ?? -1,
    max_age: retention.days === undefined ? 0 : retention.days * 86_400e9,
  };
  try {
    await jsm.streams.info(config.name);
    await jsm.streams.update(config.name, config);
  } catch {
    await jsm.streams.add(config);
  }
  const kvm = new Kvm(jetstream(nc, { timeout: JETSTREAM_TIMEOUT_MS }));
  const bucket = (kind: string) => kvm.create(`parley_${name}_${kind}`, { history: 1, replicas });
  return {
    users: await bucket("users"),
    nodes: await bucket("nodes"),
    topics: await bucket("topics"),
    accounts: await bucket("accounts"),
    bans: await bucket("bans"),
  };
}

/** Runs `step` until it succeeds, or throws its last error once {@linkcode SETUP_DEADLINE_MS}
 * has passed. */
async function retried<T>(step: () => Promise<T>): Promise<T> {
  const deadline = performance.now() + SETUP_DEADLINE_MS;
  while (true) {
    try {
      return await step();
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
