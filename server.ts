/**
 * The chat server: {@linkcode ChatServer} accepts TCP connections and relays messages among
 * the clients that have joined.
 *
 * @example Start a server on a free port, then stop it
 * ```ts
 * import { ChatServer } from "./server.ts";
 * import { assert } from "@std/assert";
 *
 * const server = new ChatServer({ port: 0 });
 * assert(server.addr.port > 0, "a free port was picked");
 * await server.shutdown();
 * assert(server.connectionCount === 0);
 * ```
 *
 * @module
 */

import { Chat } from "./_server/chat.ts";
import { type ConnectionLimits, Connections } from "./_server/connections.ts";
import { type Logger, type LogLevel, makeLogger } from "./_server/log.ts";
import { NdjsonAdapter } from "./_server/ndjson.ts";
import { TextAdapter } from "./_server/text.ts";
import { IrcAdapter } from "./_server/irc.ts";
import { WebAdapter } from "./_server/websocket.ts";
import { DEFAULT_MAX_DB_BYTES } from "./_server/size_bound.ts";
import { SqliteStore } from "./_server/sqlite_store.ts";
import type { RetentionPolicy, Store } from "./_server/store.ts";
import type { ClusterLink } from "./_server/cluster/link.ts";
import { Guard } from "./_server/guard.ts";
import { Listeners, type TlsFiles } from "./_server/listeners.ts";
import {
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_PORT,
  DEFAULT_ROOM,
  DEFAULT_TLS_PORT,
  nameProblem,
  roomProblem,
} from "./protocol.ts";

export type { LogLevel } from "./_server/log.ts";
export type { TlsFiles } from "./_server/listeners.ts";

/**
 * What {@linkcode ChatServer} takes for each option not given (and `tlsPort` for the port of
 * `tls`): the one place the server's defaults are written. `parley serve --help` prints them,
 * and a test checks the figures README.md and docs/PROTOCOL.md give against them. `byteRate`
 * and `byteRatePerIp` are 0 instead when `rate` is 0.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DEFAULTS } from "./server.ts";
 *
 * assertEquals(DEFAULTS.port, 7342);
 * ```
 */
export const DEFAULTS: Readonly<
  & Required<
    Omit<
      ServerOptions,
      | "rooms"
      | "retainDays"
      | "retainMessages"
      | "tls"
      | "password"
      | "operators"
      | "textPort"
      | "ircPort"
      | "ircTlsPort"
      | "httpPort"
      | "allowOrigins"
      | "cluster"
    >
  >
  & { tlsPort: number }
> = {
  hostname: "127.0.0.1",
  port: DEFAULT_PORT,
  tlsPort: DEFAULT_TLS_PORT,
  maxUsers: Infinity,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxQueueBytes: 1024 * 1024,
  db: ":memory:",
  history: 50,
  defaultRoom: DEFAULT_ROOM,
  maxRooms: 10_000,
  maxRoomsPerIp: 100,
  maxDbBytes: DEFAULT_MAX_DB_BYTES,
  maxConnections: 10_000,
  maxConnectionsPerIp: 100,
  rate: 20,
  burst: 60,
  byteRate: 4096,
  byteBurst: 128 * 1024,
  byteRatePerIp: 16 * 1024,
  byteBurstPerIp: 1024 * 1024,
  pingIntervalMs: 30_000,
  pingTimeoutMs: 20_000,
  helloTimeoutMs: 10_000,
  plain: true,
  logLevel: "warn",
};

/** How to run a {@linkcode ChatServer}. */
export interface ServerOptions {
  /**
   * The address to listen on: `0.0.0.0` for every IPv4 interface, `::` for IPv6 and IPv4
   * together where the system allows.
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The port to listen on; 0 picks a free one.
   * @default {7342}
   */
  port?: number;
  /**
   * How many users may be joined at once; one more gets `server_full`.
   * @default {Infinity}
   */
  maxUsers?: number;
  /**
   * The longest frame accepted from a client, in bytes without its newline.
   * @default {65536}
   */
  maxFrameBytes?: number;
  /**
   * How many bytes may wait to be written to one client; a client that falls further behind is
   * dropped with `slow_consumer`.
   * @default {1048576}
   */
  maxQueueBytes?: number;
  /**
   * The SQLite database file that keeps rooms' history and topics, created if missing;
   * `":memory:"` keeps nothing after the server stops.
   * @default {":memory:"}
   */
  db?: string;
  /**
   * How many past messages a client gets on entering a room, unless it asks for fewer.
   * @default {50}
   */
  history?: number;
  /**
   * The room every connection starts in.
   * @default {"lobby"}
   */
  defaultRoom?: string;
  /** When given, the only rooms there are (the default room is added); joining another is
   * `no_such_room`. Otherwise joining a room that does not exist creates it. */
  rooms?: string[];
  /**
   * How many rooms may exist at once; joining a new one past it gets `too_many_rooms`.
   * @default {10000}
   */
  maxRooms?: number;
  /**
   * How many of the rooms that exist one IP address may have made (by joining them first); a
   * room no longer counts once it is empty and gone. Past it, `too_many_rooms`.
   * @default {100}
   */
  maxRoomsPerIp?: number;
  /** Drop stored messages older than this many days (checked at start and every 10 minutes). */
  retainDays?: number;
  /** Keep at most this many stored messages per room, enforced as each message is stored. */
  retainMessages?: number;
  /**
   * The bound of the database's size in bytes: once its pages in use pass it, the oldest
   * messages of all rooms are pruned as new ones arrive, so the file stays about this big (the
   * write-ahead log beside it is held to a sixteenth of it, at most 64 MiB). 0 for no bound;
   * otherwise at least 1 MiB.
   * @default {1073741824}
   */
  maxDbBytes?: number;
  /**
   * How many connections may be open at once; one more gets `too_many_connections`.
   * @default {10000}
   */
  maxConnections?: number;
  /**
   * How many connections one IP address may have open at once.
   * @default {100}
   */
  maxConnectionsPerIp?: number;
  /**
   * Frames a client may send per second, on average; 0 for no limit. Past it, frames are
   * refused with `rate_limited`, and a client that keeps on is disconnected.
   * @default {20}
   */
  rate?: number;
  /**
   * Frames a client may send at once before the rate applies.
   * @default {60}
   */
  burst?: number;
  /**
   * Bytes a connection may send per second, on average, in frames that carry text to store or
   * deliver (`send`, `msg`, `topic` the chat accepts, each counted as its length plus 256); 0
   * for no limit. Past it, such frames are refused with `rate_limited`. When `rate` is 0, so is
   * the default.
   * @default {4096}
   */
  byteRate?: number;
  /**
   * Such bytes a connection may send at once before `byteRate` applies.
   * @default {131072}
   */
  byteBurst?: number;
  /**
   * Such bytes all connections from one IP address may send per second together, on average; 0
   * for no limit. A connection that has sent little lately may overdraw it by a second's worth.
   * When `rate` is 0, so is the default.
   * @default {16384}
   */
  byteRatePerIp?: number;
  /**
   * Such bytes all connections from one IP address may send at once before `byteRatePerIp`
   * applies.
   * @default {1048576}
   */
  byteBurstPerIp?: number;
  /**
   * A client silent this long (ms) is sent a `ping`; 0 never pings.
   * @default {30000}
   */
  pingIntervalMs?: number;
  /**
   * How long (ms) a pinged client has to answer before it is dropped with `timeout`.
   * @default {20000}
   */
  pingTimeoutMs?: number;
  /**
   * How long (ms) a new connection has to say `hello` before it is closed (`hello_timeout`).
   * @default {10000}
   */
  helloTimeoutMs?: number;
  /**
   * Listen for plain TCP on `port`; false to take TLS connections only.
   * @default {true}
   */
  plain?: boolean;
  /** Also listen for TLS, with this certificate and key (PEM files), on `port` (default
   * 7343). {@linkcode ChatServer.reloadTls} reads the files again. */
  tls?: TlsFiles & { port?: number };
  /**
   * Also listen for plain text, for `nc` and `telnet` users, on this port of the same host (plain
   * TCP, no TLS); 0 picks a free one. None if absent. See docs/PROTOCOL.md, "Plain text".
   */
  textPort?: number;
  /**
   * Also listen for IRC clients (irssi, WeeChat, HexChat) on this port of the same host (plain
   * TCP, no TLS); 0 picks a free one. None if absent. See docs/PROTOCOL.md, "IRC".
   */
  ircPort?: number;
  /**
   * Also listen for IRC over TLS on this port, with the certificate and key of `tls` (which it
   * needs); 0 picks a free one. None if absent. {@linkcode ChatServer.reloadTls} reloads it too.
   */
  ircTlsPort?: number;
  /**
   * Also serve the web client over HTTP on this port of the same host: the page at `/`, its
   * WebSocket at `/ws`, a JSON status at `/status`; 0 picks a free one. None if absent. With
   * `tls`, over HTTPS (and WSS) with its certificate and key instead, which
   * {@linkcode ChatServer.reloadTls} reloads too. See docs/PROTOCOL.md, "WebSocket".
   */
  httpPort?: number;
  /**
   * Origins (`scheme://host[:port]`) whose pages may open the WebSocket besides the page's own
   * (the one the Host header names). A WebSocket without an Origin header (not from a browser)
   * is always taken.
   */
  allowOrigins?: string[];
  /** The password every client must give in `hello`; none if absent. */
  password?: string;
  /**
   * Operator names: registered names whose users may kick, ban, set topics and see stats. One
   * that is not registered yet can be registered only with the one-time token the server makes
   * for it at start: logged at `warn`, and in {@linkcode ChatServer.operatorTokens}.
   */
  operators?: string[];
  /**
   * Which log lines go to stderr.
   * @default {"warn"}
   */
  logLevel?: LogLevel;
  /**
   * Makes the server one node of a chat that several servers share through NATS JetStream
   * (docs/CLUSTER.md). Such a server is started with {@linkcode ChatServer.start}, and keeps its
   * history in the cluster: `db` is not used.
   */
  cluster?: ClusterOptions;
}

/** Where a cluster node finds NATS, and what it is called. */
export interface ClusterOptions {
  /** NATS server URLs, for example `nats://127.0.0.1:4222`. */
  servers: string[];
  /**
   * The chat's name: its stream and buckets are named after it, so several chats may share one
   * NATS. Letters, digits, `_` and `-`.
   * @default {"parley"}
   */
  name?: string;
  /**
   * This node's id, unique in the cluster. Letters, digits, `_` and `-`.
   * @default {"node-" and 8 random hex digits}
   */
  node?: string;
  /**
   * How many copies JetStream keeps of the stream and each bucket: 3 on a three-server NATS
   * cluster, so that losing one loses nothing.
   * @default {1}
   */
  replicas?: number;
}

/**
 * A chat server listening on TCP. It starts listening when constructed; {@linkcode shutdown}
 * (or `await using`) tells every client and closes.
 */
export class ChatServer implements AsyncDisposable {
  /** What {@linkcode ChatServer.start} made for the server it is constructing. */
  static #joining: { link: ClusterLink; store: Store } | undefined;

  /** The address the server listens on (for TLS, if it takes TLS only), with the real port
   * when 0 was asked for. */
  readonly addr: Deno.NetAddr;
  /** The address of the TLS listener, if there is one. */
  readonly tlsAddr: Deno.NetAddr | undefined;
  /** The address of the plain-text listener (`textPort`), if there is one. */
  readonly textAddr: Deno.NetAddr | undefined;
  /** The address of the IRC listener (`ircPort`), if there is one. */
  readonly ircAddr: Deno.NetAddr | undefined;
  /** The address of the IRC-over-TLS listener (`ircTlsPort`), if there is one. */
  readonly ircTlsAddr: Deno.NetAddr | undefined;
  /** The address of the web client's HTTP server (`httpPort`), if there is one. */
  readonly httpAddr: Deno.NetAddr | undefined;

  #finished = Promise.withResolvers<void>();
  #listeners: Listeners;
  #guard: Guard;
  #log: Logger;
  #store: Store;
  #chat: Chat;
  /** What every way in shares: caps, bans at accept, liveness, flood control. */
  #connections: Connections;
  /** The one way in so far: NDJSON over TCP and TLS. */
  #ndjson: NdjsonAdapter;
  /** Plain text for `nc` and `telnet`, on a port of its own, if asked for. */
  #text: TextAdapter | undefined;
  #textListeners: Listeners | undefined;
  /** IRC, on a port of its own, if asked for. */
  #irc: IrcAdapter | undefined;
  #ircListeners: Listeners | undefined;
  /** The web page and its WebSocket, on a port of their own, if asked for. */
  #web: WebAdapter | undefined;
  #shuttingDown = false;
  #cluster: ClusterLink | undefined;

  /**
   * Starts a server: as the constructor does, and for a cluster node (`cluster`) first connects
   * to NATS and reads the history the cluster holds.
   *
   * @example A server on its own
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { ChatServer } from "./server.ts";
   *
   * await using server = await ChatServer.start({ port: 0, db: ":memory:" });
   * assertEquals(server.addr.hostname, "127.0.0.1");
   * ```
   *
   * @throws {Error} If NATS cannot be reached: the message says where and why. Otherwise what
   * the constructor throws.
   */
  static async start(options: ServerOptions = {}): Promise<ChatServer> {
    const cluster = options.cluster;
    if (cluster === undefined) return new ChatServer(options);
    if (options.db !== undefined) {
      throw new TypeError('Option "db" is not used by a cluster node: the cluster keeps history');
    }
    const log = makeLogger(options.logLevel ?? DEFAULTS.logLevel);
    const retention = retentionOf(options);
    const maxBytes = options.maxDbBytes ?? DEFAULTS.maxDbBytes;
    const replica = new SqliteStore(":memory:", { log, retention, maxBytes });
    const { ClusterLink, ReplicatedStore } = await import("./_server/cluster/mod.ts");
    let link: ClusterLink;
    try {
      link = await ClusterLink.connect({
        servers: cluster.servers,
        name: cluster.name ?? "parley",
        node: cluster.node ?? `node-${crypto.randomUUID().slice(0, 8)}`,
        replicas: cluster.replicas ?? 1,
        retention,
        maxBytes,
        log,
      }, replica);
    } catch (error) {
      await replica.close();
      throw error;
    }
    const store = new ReplicatedStore(replica, link);
    ChatServer.#joining = { link, store };
    try {
      return new ChatServer(options);
    } catch (error) {
      ChatServer.#joining = undefined;
      await link.close();
      await store.close();
      throw error;
    }
  }

  /**
   * Opens the store and starts listening.
   *
   * @param options Where to listen, where to keep history, and the server's limits.
   * @throws {RangeError} If an option is out of range.
   * @throws {TypeError} If a room name breaks the naming rules.
   * @throws {Deno.errors.AddrInUse} If the address is taken.
   * @throws {Error} If the database cannot be used (another server holds it, it is damaged or
   * not a database, or newer than this Parley): a `StoreOpenError` whose message is one line
   * naming the file, the cause and what to do.
   */
  constructor(options: ServerOptions = {}) {
    const joining = ChatServer.#joining;
    ChatServer.#joining = undefined;
    if (options.cluster !== undefined && joining === undefined) {
      throw new TypeError('Option "cluster": a cluster node starts with ChatServer.start');
    }
    const maxUsers = options.maxUsers ?? DEFAULTS.maxUsers;
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULTS.maxFrameBytes;
    const maxQueueBytes = options.maxQueueBytes ?? DEFAULTS.maxQueueBytes;
    const history = options.history ?? DEFAULTS.history;
    const rate = options.rate ?? DEFAULTS.rate;
    const limits: ConnectionLimits = {
      maxConnections: options.maxConnections ?? DEFAULTS.maxConnections,
      maxConnectionsPerIp: options.maxConnectionsPerIp ?? DEFAULTS.maxConnectionsPerIp,
      rate,
      burst: options.burst ?? DEFAULTS.burst,
      byteRate: options.byteRate ?? (rate === 0 ? 0 : DEFAULTS.byteRate),
      byteBurst: options.byteBurst ?? DEFAULTS.byteBurst,
      byteRatePerIp: options.byteRatePerIp ?? (rate === 0 ? 0 : DEFAULTS.byteRatePerIp),
      byteBurstPerIp: options.byteBurstPerIp ?? DEFAULTS.byteBurstPerIp,
      pingIntervalMs: options.pingIntervalMs ?? DEFAULTS.pingIntervalMs,
      pingTimeoutMs: options.pingTimeoutMs ?? DEFAULTS.pingTimeoutMs,
      helloTimeoutMs: options.helloTimeoutMs ?? DEFAULTS.helloTimeoutMs,
    };
    const maxRooms = options.maxRooms ?? DEFAULTS.maxRooms;
    const maxRoomsPerIp = options.maxRoomsPerIp ?? DEFAULTS.maxRoomsPerIp;
    requirePositive("maxUsers", maxUsers);
    requirePositive("maxFrameBytes", maxFrameBytes);
    requirePositive("maxQueueBytes", maxQueueBytes);
    requirePositive("maxConnections", limits.maxConnections);
    requirePositive("maxConnectionsPerIp", limits.maxConnectionsPerIp);
    requirePositive("pingTimeoutMs", limits.pingTimeoutMs);
    requirePositive("helloTimeoutMs", limits.helloTimeoutMs);
    requirePositive("byteBurst", limits.byteBurst);
    requirePositive("byteBurstPerIp", limits.byteBurstPerIp);
    requirePositive("maxRooms", maxRooms);
    requirePositive("maxRoomsPerIp", maxRoomsPerIp);
    for (
      const [name, value] of [
        ["history", history],
        ["rate", limits.rate],
        ["burst", limits.burst],
        ["byteRate", limits.byteRate],
        ["byteRatePerIp", limits.byteRatePerIp],
        ["pingIntervalMs", limits.pingIntervalMs],
      ] as const
    ) {
      if (!(value >= 0)) throw new RangeError(`Option "${name}" must be 0 or more: got "${value}"`);
    }
    const defaultRoom = options.defaultRoom ?? DEFAULTS.defaultRoom;
    for (const room of [defaultRoom, ...options.rooms ?? []]) {
      const problem = roomProblem(room);
      if (problem !== undefined) throw new TypeError(problem);
    }
    if (options.ircTlsPort !== undefined && options.tls === undefined) {
      throw new TypeError('Option "ircTlsPort" needs "tls": the certificate and key to use');
    }
    if (options.plain === false && options.tls === undefined) {
      throw new TypeError('Option "plain" is false and "tls" is not given: nothing to listen on');
    }
    for (const name of options.operators ?? []) {
      const problem = nameProblem(name);
      if (problem !== undefined) throw new TypeError(`Operator: ${problem}`);
    }
    this.#log = makeLogger(options.logLevel ?? DEFAULTS.logLevel);
    this.#listeners = new Listeners(
      {
        hostname: options.hostname ?? DEFAULTS.hostname,
        port: (options.plain ?? DEFAULTS.plain) ? options.port ?? DEFAULTS.port : undefined,
        tls: options.tls && { ...options.tls, port: options.tls.port ?? DEFAULTS.tlsPort },
      },
      (conn) => this.#ndjson.accept(conn),
      this.#log,
    );
    if (options.textPort !== undefined) {
      try {
        this.#textListeners = new Listeners(
          {
            hostname: options.hostname ?? DEFAULTS.hostname,
            port: options.textPort,
            tls: undefined,
          },
          (conn) => this.#text!.accept(conn),
          this.#log,
        );
      } catch (error) {
        this.#listeners.close();
        throw error;
      }
    }
    if (options.ircPort !== undefined || options.ircTlsPort !== undefined) {
      try {
        this.#ircListeners = new Listeners(
          {
            hostname: options.hostname ?? DEFAULTS.hostname,
            port: options.ircPort,
            tls: options.tls && options.ircTlsPort !== undefined
              ? { ...options.tls, port: options.ircTlsPort }
              : undefined,
          },
          (conn) => this.#irc!.accept(conn),
          this.#log,
        );
      } catch (error) {
        this.#listeners.close();
        this.#textListeners?.close();
        throw error;
      }
    }
    if (options.httpPort !== undefined) {
      try {
        this.#web = new WebAdapter(() => this.#connections, {
          hostname: options.hostname ?? DEFAULTS.hostname,
          port: options.httpPort,
          tls: options.tls,
          maxFrameBytes,
          maxQueueBytes,
          allowOrigins: options.allowOrigins ?? [],
          users: () => this.#chat.userCount,
          log: this.#log,
        });
      } catch (error) {
        this.#listeners.close();
        this.#textListeners?.close();
        this.#ircListeners?.close();
        throw error;
      }
    }
    const retention = retentionOf(options);
    try {
      this.#store = joining?.store ?? new SqliteStore(options.db ?? DEFAULTS.db, {
        log: this.#log,
        retention,
        maxBytes: options.maxDbBytes ?? DEFAULTS.maxDbBytes,
      });
    } catch (error) {
      this.#listeners.close();
      this.#textListeners?.close();
      this.#ircListeners?.close();
      this.#web?.closed();
      throw error;
    }
    this.#guard = new Guard(this.#store, {
      serverPassword: options.password,
      operators: options.operators ?? [],
    });
    for (const [name, token] of this.#guard.operatorTokens()) {
      this.#log(
        "warn",
        `operator name "${name}" is not registered: connect as ${name} and ` +
          `/register PASSWORD ${token}`,
      );
    }
    this.#chat = new Chat({
      store: this.#store,
      guard: this.#guard,
      log: this.#log,
      connectionCount: () => this.#connections.size,
      maxUsers,
      maxFrameBytes,
      maxQueueBytes,
      rate: limits.rate,
      burst: limits.burst,
      byteRate: limits.byteRate,
      byteBurst: limits.byteBurst,
      maxRooms,
      maxRoomsPerIp,
      history,
      defaultRoom,
      fixedRooms: options.rooms,
      retention,
      cluster: joining?.link,
    });
    this.#cluster = joining?.link;
    this.#connections = new Connections(this.#chat, this.#guard, this.#log, limits);
    this.#ndjson = new NdjsonAdapter(this.#connections, {
      maxFrameBytes,
      maxQueueBytes,
      log: this.#log,
    });
    if (this.#textListeners !== undefined) {
      this.#text = new TextAdapter(this.#connections, {
        maxFrameBytes,
        maxQueueBytes,
        log: this.#log,
        serverPassword: options.password !== undefined,
      });
    }
    if (this.#ircListeners !== undefined) {
      this.#irc = new IrcAdapter(this.#connections, { maxQueueBytes, log: this.#log });
    }
    this.textAddr = this.#textListeners?.plainAddr;
    this.ircAddr = this.#ircListeners?.plainAddr;
    this.ircTlsAddr = this.#ircListeners?.tlsAddr;
    this.httpAddr = this.#web?.addr;
    this.tlsAddr = this.#listeners.tlsAddr;
    this.addr = (this.#listeners.plainAddr ?? this.tlsAddr)!;
  }

  /** Resolves when the server has shut down and every connection is closed. */
  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  /**
   * Reads the TLS certificate and key files again and uses them for new connections, without
   * dropping anyone (for a renewed certificate). Does nothing without TLS. Where the runtime
   * allows SO_REUSEPORT (Linux, with `--unstable-net`), the new listener opens before the old one
   * closes, so the port is never free; see docs/SECURITY.md for what happens without it. Warns
   * (log level `warn`) about a certificate that has expired or expires within 14 days.
   *
   * @throws {Error} If the new files cannot be read or used: the old ones stay in use, as the
   * message says. Without SO_REUSEPORT, also if another process took the port while it was
   * listened on again: TLS is down then, the message says so, and the port is tried again every
   * second.
   */
  async reloadTls(): Promise<void> {
    await this.#listeners.reloadTls();
    await this.#ircListeners?.reloadTls();
    await this.#web?.reloadTls();
    this.#log("info", "TLS certificate reloaded");
  }

  /** How many users have joined. */
  get userCount(): number {
    return this.#chat.userCount;
  }

  /**
   * The one-time tokens that register the operator names not registered yet (`register` with
   * `token`), by name as given in {@linkcode ServerOptions.operators}. A name leaves once it is
   * registered.
   */
  get operatorTokens(): ReadonlyMap<string, string> {
    return this.#guard.operatorTokens();
  }

  /** This server's node id in its cluster, if it is a cluster node. */
  get clusterNode(): string | undefined {
    return this.#cluster?.node;
  }

  /** How many connections are open, joined or not. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /**
   * Stops accepting, stores what is pending, sends every client `server_shutdown`, closes every
   * connection and the store, and resolves once all are closed. Calling it again waits for the
   * same shutdown.
   */
  shutdown(): Promise<void> {
    if (!this.#shuttingDown) {
      this.#shuttingDown = true;
      this.#log("info", `shutting down, ${this.#connections.size} connection(s) open`);
      this.#listeners.close();
      this.#textListeners?.close();
      this.#ircListeners?.close();
      this.#connections.shutdown();
      (async () => {
        await this.#listeners.closed();
        await this.#textListeners?.closed();
        await this.#ircListeners?.closed();
        await this.#ndjson.closed();
        await this.#text?.closed();
        await this.#irc?.closed();
        await this.#web?.closed();
        await this.#cluster?.close();
        await this.#store.close();
      })().then(this.#finished.resolve, this.#finished.reject);
    }
    return this.finished;
  }

  /** Shuts down; see {@linkcode shutdown}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}

/** The retention policy the options ask for. */
function retentionOf(options: ServerOptions): RetentionPolicy {
  const retention: RetentionPolicy = {};
  if (options.retainDays !== undefined) retention.days = options.retainDays;
  if (options.retainMessages !== undefined) retention.messagesPerRoom = options.retainMessages;
  return retention;
}

function requirePositive(name: string, value: number): void {
  if (!(value > 0)) throw new RangeError(`Option "${name}" must be positive: got "${value}"`);
}
