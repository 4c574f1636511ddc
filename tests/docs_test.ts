// The documents keep up with the code: every error code and every frame type of protocol.ts
// is in docs/PROTOCOL.md, every command in the README, and every serve and connect option.

import { assert, assertEquals } from "./_assert.ts";
import { ERROR_CODES } from "../protocol.ts";
import { HELP } from "../_text/commands.ts";
import { runParley } from "./_helpers.ts";
import { DEFAULTS } from "../server.ts";
import { LARGE_ROOM, MAX_ROOMS_PER_USER } from "../_server/chat.ts";
import { MAX_HISTORY_LIMIT } from "../protocol.ts";

const read = (path: string) => Deno.readTextFile(new URL(`../${path}`, import.meta.url));

Deno.test("PROTOCOL.md has a row for every error code", async () => {
  const doc = await read("docs/PROTOCOL.md");
  for (const code of ERROR_CODES) {
    assert(new RegExp(`^\\| \`${code}\` +\\|`, "m").test(doc), `no row for "${code}"`);
  }
});

Deno.test("PROTOCOL.md shows every frame type", async () => {
  const doc = await read("docs/PROTOCOL.md");
  const source = await read("protocol.ts");
  const types = [...source.matchAll(/^ {2}type: "([a-z_]+)";$/gm)].map((match) => match[1]!);
  assert(types.length > 20, "frame types found in protocol.ts");
  for (const type of new Set(types)) {
    assert(
      doc.includes(`"type": "${type}"`) || doc.includes(`"type":"${type}"`),
      `no example of "${type}"`,
    );
  }
});

Deno.test("the README lists every command the client's /help does", async () => {
  const readme = await read("README.md");
  for (const [, command] of HELP.matchAll(/^\/([a-z]+)/gm)) {
    assert(readme.includes(`/${command}`), `README does not mention /${command}`);
  }
});

Deno.test("the README's quick start is the test command CI runs", async () => {
  const readme = await read("README.md");
  const ci = await read(".ci/run");
  assert(readme.includes("npx -y deno@2.9.6 task test"));
  assert(ci.includes("npx -y deno@2.9.6 task test"));
});

Deno.test("every option in --help is one the command takes", async () => {
  for (const command of ["serve", "connect"]) {
    const help = (await runParley([command, "--help"])).stdout;
    for (const [, option] of help.matchAll(/^ {2}(--[a-z-]+)/gm)) {
      const result = await runParley([command, option!, "--help"]);
      assert(!result.stderr.includes("unknown option"), `${command} ${option}: ${result.stderr}`);
    }
  }
});

// The defaults the docs state, each found by the words around it: `{n}` is a figure as the docs
// write it (`10,000`, `64 KiB`, `1 MiB`, `30 s`), read as bytes or milliseconds; `{w}` a word
// (a room, an address). Rewording a sentence fails here until its pattern follows; a figure that
// disagrees with DEFAULTS fails with both.
const KIB = 1024;
const MIB = 1024 * KIB;
const DOC_DEFAULTS: [doc: string, pattern: string, expected: (number | string)[]][] = [
  ["README.md", "listens on `{w}:{n}` by default", [DEFAULTS.hostname, DEFAULTS.port]],
  ["README.md", "a newcomer to a room is shown ({n})", [DEFAULTS.history]],
  ["README.md", "past `--max-db-bytes` ({n};", [DEFAULTS.maxDbBytes]],
  ["README.md", "Everyone starts in `{w}` (`--default-room`)", [DEFAULTS.defaultRoom]],
  [
    "README.md",
    "At most {n} rooms exist at once (`--max-rooms`), {n} of them made by one address",
    [DEFAULTS.maxRooms, DEFAULTS.maxRoomsPerIp],
  ],
  ["README.md", "frame size ({n})", [DEFAULTS.maxFrameBytes]],
  ["README.md", "a per-client send queue ({n};", [DEFAULTS.maxQueueBytes]],
  ["README.md", "flood control ({n} frames a second, bursts of {n})", [
    DEFAULTS.rate,
    DEFAULTS.burst,
  ]],
  ["README.md", "idle pings (every {n}, {n} to answer)", [
    DEFAULTS.pingIntervalMs,
    DEFAULTS.pingTimeoutMs,
  ]],
  ["README.md", "{n} to say hello", [DEFAULTS.helloTimeoutMs]],
  ["README.md", "{n} connections and {n} per address", [
    DEFAULTS.maxConnections,
    DEFAULTS.maxConnectionsPerIp,
  ]],
  [
    "README.md",
    "{n} bytes a second per connection (`--byte-rate`, bursts of {n}: `--byte-burst`) and {n} " +
    "per address (`--byte-rate-per-ip`, bursts of {n}: `--byte-burst-per-ip`)",
    [DEFAULTS.byteRate, DEFAULTS.byteBurst, DEFAULTS.byteRatePerIp, DEFAULTS.byteBurstPerIp],
  ],
  ["README.md", "store at most about {n} MB an hour", [
    Math.round(DEFAULTS.byteRatePerIp * 3600 / 1e6),
  ]],
  ["README.md", "--tls-key FILE` (port {n},", [DEFAULTS.tlsPort]],
  ["docs/PROTOCOL.md", "The default ports are **{n}** for plain TCP and **{n}** for TLS", [
    DEFAULTS.port,
    DEFAULTS.tlsPort,
  ]],
  ["docs/PROTOCOL.md", "(default {n}; the server announces its limit in `welcome`)", [
    DEFAULTS.maxFrameBytes,
  ]],
  [
    "docs/PROTOCOL.md",
    "Every user starts in the default room (`{w}`, or the server's `--default-room`) and may be " +
    "in up to {n} rooms at once",
    [DEFAULTS.defaultRoom, MAX_ROOMS_PER_USER],
  ],
  [
    "docs/PROTOCOL.md",
    "At most {n} rooms exist at once (`--max-rooms`), and of those one IP address may have made " +
    "at most {n} (`--max-rooms-per-ip`",
    [DEFAULTS.maxRooms, DEFAULTS.maxRoomsPerIp],
  ],
  ["docs/PROTOCOL.md", "In a room of {n} members or more", [LARGE_ROOM]],
  ["docs/PROTOCOL.md", "({n} by default, the server's `--history`)", [DEFAULTS.history]],
  ["docs/PROTOCOL.md", "the client's queue bound ({n} by default)", [DEFAULTS.maxQueueBytes / 2]],
  ["docs/PROTOCOL.md", "default the server's `--history`, at most {n})", [MAX_HISTORY_LIMIT]],
  ["docs/PROTOCOL.md", "it has not heard from for a while ({n} by default)", [
    DEFAULTS.pingIntervalMs,
  ]],
  [
    "docs/PROTOCOL.md",
    '"maxFrameBytes": {n}, "rate": {n}, "burst": {n}, "byteRate": {n}, "byteBurst": {n},',
    [DEFAULTS.maxFrameBytes, DEFAULTS.rate, DEFAULTS.burst, DEFAULTS.byteRate, DEFAULTS.byteBurst],
  ],
  ["docs/PROTOCOL.md", "({n} and {n} by default; `--rate`, `--burst`", [
    DEFAULTS.rate,
    DEFAULTS.burst,
  ]],
  [
    "docs/PROTOCOL.md",
    "a client silent for {n} (`--ping-interval`) gets a `ping`; if it does not answer within {n} " +
    "(`--ping-timeout`)",
    [DEFAULTS.pingIntervalMs, DEFAULTS.pingTimeoutMs],
  ],
  ["docs/PROTOCOL.md", "has not joined within {n} (`--hello-timeout`)", [DEFAULTS.helloTimeoutMs]],
  [
    "docs/PROTOCOL.md",
    "{n} a second with bursts of up to {n} per connection (`--byte-rate`, `--byte-burst`), and " +
    "{n} a second with bursts of up to {n} for all connections from one IP address",
    [DEFAULTS.byteRate, DEFAULTS.byteBurst, DEFAULTS.byteRatePerIp, DEFAULTS.byteBurstPerIp],
  ],
  [
    "docs/PROTOCOL.md",
    "at most {n} at once (`--max-connections`) and {n} from one IP address " +
    "(`--max-connections-per-ip`)",
    [DEFAULTS.maxConnections, DEFAULTS.maxConnectionsPerIp],
  ],
  ["docs/PROTOCOL.md", "**Rooms**: at most {n} at once, {n} of them made by one IP address", [
    DEFAULTS.maxRooms,
    DEFAULTS.maxRoomsPerIp,
  ]],
  ["docs/PROTOCOL.md", "({n} by default, `--max-queue-bytes`)", [DEFAULTS.maxQueueBytes]],
];

/** Reads a figure as the docs write it, in bytes or milliseconds. */
function figure(digits: string, unit: string | undefined): number {
  const scale = { KiB: KIB, MiB: MIB, GiB: 1024 * MIB, s: 1000, ms: 1 }[unit ?? ""] ?? 1;
  return Number(digits.replaceAll(",", "")) * scale;
}

Deno.test("the defaults README.md and PROTOCOL.md state are the server's DEFAULTS", async () => {
  const docs = new Map<string, string>();
  const mismatches: string[] = [];
  for (const [path, pattern, expected] of DOC_DEFAULTS) {
    if (!docs.has(path)) docs.set(path, (await read(path)).replaceAll(/\s+/g, " "));
    const source = pattern.replaceAll(/[.*+?^$()[\]\\|]/g, "\\$&")
      .replaceAll("{n}", String.raw`(\d[\d,]*(?:\.\d+)?)(?: ?(KiB|MiB|GiB|ms|s)\b)?`)
      .replaceAll("{w}", "([^\\s`:,]+)");
    const match = new RegExp(source).exec(docs.get(path)!);
    assert(match !== null, `${path} no longer says "${pattern}": make the pattern follow it`);
    // A figure takes two groups (digits, unit), a word one.
    const found: (number | string)[] = [];
    let group = 1;
    for (const [placeholder] of pattern.matchAll(/\{[nw]\}/g)) {
      if (placeholder === "{n}") {
        found.push(figure(match[group]!, match[group + 1]));
        group += 2;
      } else {
        found.push(match[group++]!);
      }
    }
    if (JSON.stringify(found) !== JSON.stringify(expected)) {
      mismatches.push(`${path}: "${match[0]}" says ${found.join(", ")}; DEFAULTS: ${expected}`);
    }
  }
  assertEquals(mismatches, []);
});

Deno.test("every @default in ServerOptions is the server's DEFAULTS", async () => {
  const source = await read("server.ts");
  const start = source.indexOf("export interface ServerOptions");
  const block = source.slice(start, source.indexOf("\n}\n", start));
  const tags = [...block.matchAll(/@default \{(.+?)\}\s*\*\/\s*(\w+)\?:/g)];
  assert(tags.length >= 20, `${tags.length} @default tags found`);
  for (const [, value, option] of tags) {
    const stated = value === "Infinity" ? Infinity : JSON.parse(value!);
    assertEquals(stated, DEFAULTS[option as keyof typeof DEFAULTS], `@default of ${option}`);
  }
});
