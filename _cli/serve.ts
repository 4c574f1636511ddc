// `parley serve`: run a chat server until SIGINT or SIGTERM.

import { formatAddr, parsePort } from "../_net/address.ts";
import { errorMessage } from "../_protocol/error_message.ts";
import {
  EXIT_FAILURE,
  EXIT_OK,
  integerOption,
  parseCommandArgs,
  secondsOption,
  secretOption,
  stringOption,
  UsageError,
} from "./args.ts";
import { onTerminationSignals } from "./signals.ts";
import { LOG_LEVELS, type LogLevel } from "../_server/log.ts";
import { nameProblem, roomProblem } from "../protocol.ts";
import { defaultDatabasePath } from "../_server/database_file.ts";
import { MIN_MAX_DB_BYTES } from "../_server/size_bound.ts";
import { StoreOpenError } from "../_server/store.ts";
import { ChatServer, DEFAULTS, type ServerOptions } from "../server.ts";

// Laid out by hand, to be read in a terminal: the formatter would wrap the long defaults.
// deno-fmt-ignore
const HELP = `Usage: parley serve [options]

Runs a chat server until interrupted (Ctrl-C, SIGTERM).

Options:
  --host HOST            address to listen on (default ${DEFAULTS.hostname}: this machine only;
                         0.0.0.0 for all IPv4 interfaces, :: for IPv6 and IPv4)
  --port PORT            port to listen on, 0 for any free one (default ${DEFAULTS.port})
  --max-users N          users at once; one more gets "server_full" (default: no limit)
  --max-frame-bytes N    longest frame a client may send (default ${DEFAULTS.maxFrameBytes})
  --max-queue-bytes N    bytes waiting for one client before it is dropped as a slow
                         consumer (default ${DEFAULTS.maxQueueBytes})
  --db PATH              SQLite file for rooms' history and topics, created if missing
                         (default ${defaultDatabasePath()});
                         :memory: keeps nothing after the server stops
  --history N            messages a client gets on entering a room (default ${DEFAULTS.history})
  --default-room ROOM    the room every connection starts in (default ${DEFAULTS.defaultRoom})
  --rooms A,B,C          a fixed set of rooms; joining any other is refused
                         (default: joining a room creates it)
  --max-rooms N          rooms at once; making one more is refused (default ${DEFAULTS.maxRooms})
  --max-rooms-per-ip N   rooms at once made by one IP address (default ${DEFAULTS.maxRoomsPerIp})
  --retain-days N        forget messages older than N days (default: keep them)
  --retain-messages N    keep at most N messages per room (default: keep them all)
  --max-db-bytes N       bound of the database's size: past it the oldest messages are
                         pruned (default ${DEFAULTS.maxDbBytes}, ${gibibytes(DEFAULTS.maxDbBytes)} GiB; 0 for no bound)
  --max-connections N    open connections at once (default ${DEFAULTS.maxConnections})
  --max-connections-per-ip N
                         open connections from one IP address (default ${DEFAULTS.maxConnectionsPerIp})
  --rate N               frames a client may send per second, 0 for no limit (default ${DEFAULTS.rate})
  --burst N              frames a client may send at once before --rate applies (default ${DEFAULTS.burst})
  --byte-rate N          bytes of text (messages, private messages, topics; each counted
                         as its frame's length plus 256) a connection may send per second,
                         0 for no limit (default ${DEFAULTS.byteRate}; 0 if --rate is 0)
  --byte-burst N         such bytes a connection may send at once (default ${DEFAULTS.byteBurst})
  --byte-rate-per-ip N   such bytes all connections from one IP address may send per
                         second (default ${DEFAULTS.byteRatePerIp}; 0 if --rate is 0)
  --byte-burst-per-ip N  such bytes one IP address may send at once (default ${DEFAULTS.byteBurstPerIp})
  --ping-interval S      ping a client silent for S seconds, 0 never (default ${DEFAULTS.pingIntervalMs / 1000})
  --ping-timeout S       drop a pinged client that does not answer in S seconds (default ${DEFAULTS.pingTimeoutMs / 1000})
  --hello-timeout S      close a connection that says no hello in S seconds (default ${DEFAULTS.helloTimeoutMs / 1000})
  --tls-cert FILE        also listen for TLS, with this certificate chain (PEM)...
  --tls-key FILE         ...and this private key (PEM); SIGHUP reloads both
  --tls-port PORT        the TLS port (default ${DEFAULTS.tlsPort})
  --no-plain             take TLS connections only
  --text-port PORT       also take plain text (nc, telnet) on PORT, 0 for any free one
                         (plain TCP, no TLS; off by default)
  --irc-port PORT        also take IRC clients (irssi, WeeChat) on PORT, 0 for any free
                         one (plain TCP; off by default)
  --irc-tls-port PORT    also take IRC over TLS on PORT, with --tls-cert and --tls-key
  --http-port PORT       also serve the web client (a page and its WebSocket) over HTTP
                         on PORT, 0 for any free one (off by default); over HTTPS
                         with --tls-cert and --tls-key
  --allow-origin ORIGIN  let pages from ORIGIN (https://example.org) open the WebSocket
                         besides the server's own page; repeat or comma-separate
  --password-file FILE   clients must give the password in FILE (first line); the
                         PARLEY_PASSWORD environment variable does the same
  --operators A,B        operators: registered names that may /kick, /ban, /unban,
                         set topics (then only they may) and see /stats; a name not
                         registered yet needs the one-time token printed at start
  --cluster URL[,URL]    be one node of a chat that several servers share through NATS
                         JetStream at these nats:// URLs (docs/CLUSTER.md); history is
                         then kept in the cluster, and --db is not used
  --node ID              this node's id in the cluster (default: node- and 8 random hex
                         digits); letters, digits, _ and -
  --cluster-name NAME    the chat's name in NATS, so several chats can share one (default parley)
  --cluster-replicas N   copies JetStream keeps of the chat's stream and buckets (default 1;
                         3 on a three-server NATS cluster)
  --log-level LEVEL      ${LOG_LEVELS.join(", ")} (default info)
  -h, --help             show this help
`;

/** Runs `parley serve` with `args`; resolves with the exit code once the server has stopped. */
export async function serveCommand(args: string[]): Promise<number> {
  const parsed = parseCommandArgs("serve", args, {
    string: [
      "host",
      "port",
      "max-users",
      "max-frame-bytes",
      "max-queue-bytes",
      "db",
      "history",
      "default-room",
      "rooms",
      "retain-days",
      "retain-messages",
      "max-db-bytes",
      "max-connections",
      "max-connections-per-ip",
      "rate",
      "burst",
      "byte-rate",
      "byte-burst",
      "byte-rate-per-ip",
      "byte-burst-per-ip",
      "max-rooms",
      "max-rooms-per-ip",
      "ping-interval",
      "ping-timeout",
      "hello-timeout",
      "tls-cert",
      "tls-key",
      "tls-port",
      "text-port",
      "irc-port",
      "irc-tls-port",
      "http-port",
      "allow-origin",
      "password-file",
      "operators",
      "log-level",
      "cluster",
      "node",
      "cluster-name",
      "cluster-replicas",
    ],
    boolean: ["help", "plain"],
    negatable: ["plain"],
    collect: ["allow-origin"],
    default: { plain: true },
    alias: { h: "help" },
  });
  if (parsed.help) {
    console.log(HELP);
    return EXIT_OK;
  }
  if (parsed._.length > 0) throw new UsageError(`serve: unexpected argument "${parsed._[0]}"`);
  const options: ServerOptions = { logLevel: logLevelOption(stringOption(parsed, "log-level")) };
  const host = stringOption(parsed, "host");
  if (host !== undefined) options.hostname = host;
  const port = stringOption(parsed, "port");
  if (port !== undefined) options.port = portOption("port", port);
  const textPort = stringOption(parsed, "text-port");
  if (textPort !== undefined) options.textPort = portOption("text-port", textPort);
  const ircPort = stringOption(parsed, "irc-port");
  if (ircPort !== undefined) options.ircPort = portOption("irc-port", ircPort);
  const httpPort = stringOption(parsed, "http-port");
  if (httpPort !== undefined) options.httpPort = portOption("http-port", httpPort);
  const origins = [parsed["allow-origin"] ?? []].flat().flatMap((value) => String(value).split(","))
    .map((origin) => origin.trim()).filter((origin) => origin !== "");
  for (const origin of origins) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new UsageError(
        `serve: --allow-origin takes scheme://host[:port] (https://example.org), not "${origin}"`,
      );
    }
  }
  if (origins.length > 0) options.allowOrigins = origins;
  const maxUsers = integerOption("serve", parsed, "max-users", 1);
  if (maxUsers !== undefined) options.maxUsers = maxUsers;
  const maxFrameBytes = integerOption("serve", parsed, "max-frame-bytes", 64);
  if (maxFrameBytes !== undefined) options.maxFrameBytes = maxFrameBytes;
  const maxQueueBytes = integerOption("serve", parsed, "max-queue-bytes", 1024);
  if (maxQueueBytes !== undefined) options.maxQueueBytes = maxQueueBytes;

  const history = integerOption("serve", parsed, "history", 0);
  if (history !== undefined) options.history = history;
  const retainDays = integerOption("serve", parsed, "retain-days", 1);
  if (retainDays !== undefined) options.retainDays = retainDays;
  const retainMessages = integerOption("serve", parsed, "retain-messages", 1);
  if (retainMessages !== undefined) options.retainMessages = retainMessages;
  const maxDbBytes = integerOption("serve", parsed, "max-db-bytes", 0);
  if (maxDbBytes !== undefined) {
    if (maxDbBytes !== 0 && maxDbBytes < MIN_MAX_DB_BYTES) {
      throw new UsageError(
        `serve: --max-db-bytes takes 0 (no bound) or at least ${MIN_MAX_DB_BYTES}, not ${maxDbBytes}`,
      );
    }
    options.maxDbBytes = maxDbBytes;
  }
  const defaultRoom = stringOption(parsed, "default-room");
  if (defaultRoom !== undefined) options.defaultRoom = roomOption("default-room", defaultRoom);
  const rooms = stringOption(parsed, "rooms");
  if (rooms !== undefined) {
    options.rooms = rooms.split(",").map((room) => roomOption("rooms", room.trim()));
  }
  const maxConnections = integerOption("serve", parsed, "max-connections", 1);
  if (maxConnections !== undefined) options.maxConnections = maxConnections;
  const perIp = integerOption("serve", parsed, "max-connections-per-ip", 1);
  if (perIp !== undefined) options.maxConnectionsPerIp = perIp;
  const rate = integerOption("serve", parsed, "rate", 0);
  if (rate !== undefined) options.rate = rate;
  const burst = integerOption("serve", parsed, "burst", 1);
  if (burst !== undefined) options.burst = burst;
  const byteRate = integerOption("serve", parsed, "byte-rate", 0);
  if (byteRate !== undefined) options.byteRate = byteRate;
  const byteBurst = integerOption("serve", parsed, "byte-burst", 1);
  if (byteBurst !== undefined) options.byteBurst = byteBurst;
  const byteRatePerIp = integerOption("serve", parsed, "byte-rate-per-ip", 0);
  if (byteRatePerIp !== undefined) options.byteRatePerIp = byteRatePerIp;
  const byteBurstPerIp = integerOption("serve", parsed, "byte-burst-per-ip", 1);
  if (byteBurstPerIp !== undefined) options.byteBurstPerIp = byteBurstPerIp;
  const maxRooms = integerOption("serve", parsed, "max-rooms", 1);
  if (maxRooms !== undefined) options.maxRooms = maxRooms;
  const maxRoomsPerIp = integerOption("serve", parsed, "max-rooms-per-ip", 1);
  if (maxRoomsPerIp !== undefined) options.maxRoomsPerIp = maxRoomsPerIp;
  const pingInterval = secondsOption("serve", parsed, "ping-interval", true);
  if (pingInterval !== undefined) options.pingIntervalMs = pingInterval;
  const pingTimeout = secondsOption("serve", parsed, "ping-timeout", false);
  if (pingTimeout !== undefined) options.pingTimeoutMs = pingTimeout;
  const helloTimeout = secondsOption("serve", parsed, "hello-timeout", false);
  if (helloTimeout !== undefined) options.helloTimeoutMs = helloTimeout;
  const certFile = stringOption(parsed, "tls-cert");
  const keyFile = stringOption(parsed, "tls-key");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError("serve: --tls-cert and --tls-key go together");
  }
  const tlsPort = stringOption(parsed, "tls-port");
  if (certFile !== undefined && keyFile !== undefined) {
    options.tls = { certFile, keyFile };
    if (tlsPort !== undefined) options.tls.port = portOption("tls-port", tlsPort);
  } else if (tlsPort !== undefined || parsed.plain === false) {
    throw new UsageError("serve: --tls-port and --no-plain need --tls-cert and --tls-key");
  }
  if (parsed.plain === false) options.plain = false;
  const ircTlsPort = stringOption(parsed, "irc-tls-port");
  if (ircTlsPort !== undefined) {
    if (options.tls === undefined) {
      throw new UsageError("serve: --irc-tls-port needs --tls-cert and --tls-key");
    }
    options.ircTlsPort = portOption("irc-tls-port", ircTlsPort);
  }
  const password = await secretOption(stringOption(parsed, "password-file"));
  if (password !== undefined) options.password = password;
  const operators = stringOption(parsed, "operators");
  if (operators !== undefined) {
    options.operators = operators.split(",").map((name) => {
      const problem = nameProblem(name.trim());
      if (problem !== undefined) throw new UsageError(`serve: --operators: ${problem}`);
      return name.trim();
    });
  }
  const cluster = stringOption(parsed, "cluster");
  if (cluster !== undefined) {
    const servers = cluster.split(",").map((url) => url.trim()).filter((url) => url !== "");
    if (servers.length === 0 || servers.some((url) => !/^(nats|tls):\/\/[^/\s]+$/.test(url))) {
      throw new UsageError(`serve: --cluster takes nats://host:port[,...], not "${cluster}"`);
    }
    if (parsed.db !== undefined) {
      throw new UsageError("serve: --db is not used with --cluster: the cluster keeps history");
    }
    options.cluster = { servers };
    const node = stringOption(parsed, "node");
    if (node !== undefined) options.cluster.node = node;
    const name = stringOption(parsed, "cluster-name");
    if (name !== undefined) options.cluster.name = name;
    const replicas = integerOption("serve", parsed, "cluster-replicas", 1);
    if (replicas !== undefined) options.cluster.replicas = replicas;
  } else {
    options.db = stringOption(parsed, "db") ?? defaultDatabasePath();
    if (options.db !== ":memory:") await ensureParentDirectory(options.db);
  }

  let server: ChatServer;
  try {
    server = await ChatServer.start(options);
  } catch (error) {
    // A database that cannot be used, or a cluster that cannot be reached: one line that says
    // which, why and what to do.
    if (!(error instanceof StoreOpenError || (cluster !== undefined && error instanceof Error))) {
      throw error;
    }
    console.error(`parley: ${error.message}`);
    return EXIT_FAILURE;
  }
  // The server logs each operator token at warn; below that level, it is printed here, since
  // without it nobody can register the name.
  if (options.logLevel === "error" || options.logLevel === "silent") {
    for (const [name, token] of server.operatorTokens) {
      console.error(
        `parley: operator name "${name}" is not registered: connect as ${name} and ` +
          `/register PASSWORD ${token}`,
      );
    }
  }
  const stopListening = onTerminationSignals(() => server.shutdown());
  const reload = () => {
    server.reloadTls().then(
      () => console.error("parley: TLS certificate reloaded"),
      // The message says what happened: the old certificate stays, or the port was lost.
      (error) => console.error(`parley: ${errorMessage(error)}`),
    );
  };
  if (options.tls !== undefined && Deno.build.os !== "windows") {
    Deno.addSignalListener("SIGHUP", reload);
  }
  if (options.plain !== false) console.log(`parley listening on ${formatAddr(server.addr)}`);
  if (server.tlsAddr) console.log(`parley listening for TLS on ${formatAddr(server.tlsAddr)}`);
  if (server.textAddr) {
    console.log(`parley listening for plain text on ${formatAddr(server.textAddr)}`);
  }
  if (server.ircAddr) {
    console.log(`parley listening for IRC on ${formatAddr(server.ircAddr)}`);
  }
  if (server.ircTlsAddr) {
    console.log(`parley listening for IRC over TLS on ${formatAddr(server.ircTlsAddr)}`);
  }
  if (server.httpAddr) {
    const scheme = options.tls === undefined ? "http" : "https";
    console.log(`parley serving the web client at ${webUrl(server.httpAddr, scheme)}`);
  }
  if (server.clusterNode !== undefined) {
    console.log(
      `parley cluster node ${server.clusterNode} of "${
        options.cluster!.name ?? "parley"
      }" at ${cluster}`,
    );
  }
  console.log(reachHint(server.addr.hostname));
  console.log(
    cluster !== undefined
      ? `History is kept in the cluster (NATS JetStream at ${cluster}).`
      : options.db === ":memory:"
      ? "History is kept in memory only (--db :memory:)."
      : `History is kept in ${options.db}.`,
  );
  await server.finished;
  stopListening();
  if (options.tls !== undefined && Deno.build.os !== "windows") {
    Deno.removeSignalListener("SIGHUP", reload);
  }
  return EXIT_OK;
}

/** How many GiB `bytes` is. */
function gibibytes(bytes: number): number {
  return bytes / 1024 ** 3;
}

function reachHint(hostname: string): string {
  if (hostname === "0.0.0.0" || hostname === "::") {
    return "Other machines can connect: make sure a firewall lets them reach this port.";
  }
  if (hostname === "127.0.0.1" || hostname === "::1" || hostname === "localhost") {
    return "Only this machine can connect. To accept others: --host 0.0.0.0 (IPv4), " +
      "or --host :: (IPv6 and IPv4 where the system allows).";
  }
  return `Machines that can reach ${hostname} can connect.`;
}

function portOption(flag: string, text: string): number {
  try {
    return parsePort(text);
  } catch (error) {
    throw new UsageError(`serve: --${flag}: ${errorMessage(error)}`);
  }
}

function roomOption(flag: string, room: string): string {
  const problem = roomProblem(room);
  if (problem !== undefined) throw new UsageError(`serve: --${flag}: ${problem}`);
  return room;
}

async function ensureParentDirectory(path: string): Promise<void> {
  const parent = path.replace(/[\\/][^\\/]*$/, "");
  if (parent !== path && parent !== "") await Deno.mkdir(parent, { recursive: true });
}

function logLevelOption(text: string | undefined): LogLevel {
  if (text === undefined) return "info";
  if (!(LOG_LEVELS as readonly string[]).includes(text)) {
    throw new UsageError(`serve: --log-level takes one of ${LOG_LEVELS.join(", ")}, not "${text}"`);
  }
  return text as LogLevel;
}

/** The URL to open for the web client at `addr` (HTTPS with TLS files): a wildcard address is
 * shown as localhost. */
function webUrl(addr: Deno.NetAddr, scheme: "http" | "https"): string {
  const host = addr.hostname === "0.0.0.0" || addr.hostname === "::" ? "localhost" : addr.hostname;
  return `${scheme}://${formatAddr({ ...addr, hostname: host })}/`;
}
