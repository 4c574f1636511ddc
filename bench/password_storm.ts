// `deno run -A bench/password_storm.ts [--mod PATH] [--addresses 20] [--per-address 20]
// [--seconds 15] [--baseline 5] [--bystanders 4] [--busy-retry-ms 0]`: what password guessing
// from many addresses costs everyone else.
//
// The real server (`PATH serve`, this checkout's mod.ts by default) runs in its own process with
// two registered names. Bystanders connected from 127.0.0.1 ping every 100 ms (within the default
// flood limit), first for --baseline seconds alone, then for --seconds while --per-address
// connections from each of --addresses loopback addresses (127.0.0.2 on: all of 127.0.0.0/8 is
// loopback on Linux) guess one name's password, each connection again as soon as it is answered
// (after --busy-retry-ms when told the server is busy). Meanwhile the other name's owner logs in
// from 127.0.0.1 once a second. Prints one JSON line: the bystanders' ping round trips (p50,
// p99, max, in ms) alone and during the storm, the guesses answered by kind, the owner's logins,
// and the server's CPU time (seconds a second) during the storm.

import { connect, type Socket } from "node:net";
import { parseArgs } from "../_cli/std.ts";
import { cpuSeconds, exitOrKill } from "./_proc.ts";

const args = parseArgs(Deno.args, {
  string: ["mod", "addresses", "per-address", "seconds", "baseline", "bystanders", "busy-retry-ms"],
});
const MOD = (args.mod as string | undefined) ?? new URL("../mod.ts", import.meta.url).pathname;
const ADDRESSES = Number(args.addresses ?? 20);
const PER_ADDRESS = Number(args["per-address"] ?? 20);
const SECONDS = Number(args.seconds ?? 15);
const BASELINE = Number(args.baseline ?? 5);
const BYSTANDERS = Number(args.bystanders ?? 4);
const BUSY_RETRY_MS = Number(args["busy-retry-ms"] ?? 0);
const PING_EVERY_MS = 100;
const VICTIM = "victim";
const OWNER = "owner";
const encoder = new TextEncoder();

const server = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-A",
    "--quiet",
    MOD,
    "serve",
    "--port",
    "0",
    "--db",
    ":memory:",
    "--log-level",
    "error",
  ],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const port = await (async () => {
  let text = "";
  for await (const chunk of server.stdout.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    const found = text.match(/listening on \S+:(\d+)/);
    if (found) return Number(found[1]);
  }
  throw new Error(`The server exited before listening: ${text}`);
})();

/** A line-oriented connection: frames out, parsed frames in, to a callback. */
function open(
  from: string,
  onFrame: (frame: Record<string, unknown>) => void,
  onClose: () => void,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, localAddress: from });
    let buffered = "";
    socket.setEncoding("utf8");
    socket.on("data", (text: string) => {
      buffered += text;
      for (let end = buffered.indexOf("\n"); end !== -1; end = buffered.indexOf("\n")) {
        onFrame(JSON.parse(buffered.slice(0, end)));
        buffered = buffered.slice(end + 1);
      }
    });
    socket.on("error", () => {});
    socket.once("close", onClose);
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

function send(socket: Socket, frame: unknown): void {
  socket.write(encoder.encode(JSON.stringify(frame) + "\n"));
}

/** Says hello as `name` from 127.0.0.1 and resolves with the first answer, and when it came. */
function hello(
  name: string,
  password?: string,
): Promise<{ frame: Record<string, unknown>; ms: number; socket: Socket }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    let socket: Socket;
    let answered = false;
    open("127.0.0.1", (frame) => {
      if (answered) return;
      answered = true;
      resolve({ frame, ms: performance.now() - started, socket });
    }, () => {}).then((opened) => {
      socket = opened;
      const frame = password === undefined
        ? { type: "hello", name, history: 0 }
        : { type: "hello", name, password, history: 0 };
      send(socket, frame);
    }, reject);
  });
}

// The registered name the storm guesses at, and one whose owner logs in during the storm.
for (const name of [VICTIM, OWNER]) {
  const registered = Promise.withResolvers<void>();
  const socket = await open("127.0.0.1", (frame) => {
    if (frame.type === "welcome") {
      send(socket, { type: "register", password: `${name}'s password` });
    } else if (frame.type === "notice") registered.resolve();
    else if (frame.type === "error") registered.reject(new Error(`${name}: ${frame.message}`));
  }, () => {});
  send(socket, { type: "hello", name, history: 0 });
  await registered.promise;
  socket.destroy();
}

// Bystanders: joined, pinging on a schedule; round trips recorded by phase.
let phase: "baseline" | "storm" | "done" = "baseline";
const rtts: Record<"baseline" | "storm", number[]> = { baseline: [], storm: [] };
const bystanders: Socket[] = [];
const timers: ReturnType<typeof setInterval>[] = [];
for (let b = 0; b < BYSTANDERS; b++) {
  const sent = new Map<number, { at: number; phase: "baseline" | "storm" | "done" }>();
  const socket = await open("127.0.0.1", (frame) => {
    if (frame.type !== "pong" || typeof frame.id !== "number") return;
    const ping = sent.get(frame.id);
    sent.delete(frame.id);
    if (ping && ping.phase !== "done") rtts[ping.phase].push(performance.now() - ping.at);
  }, () => {});
  send(socket, { type: "hello", name: `bystander${b}`, history: 0 });
  bystanders.push(socket);
  let id = 0;
  // Spread the bystanders over the interval.
  await new Promise((resolve) => setTimeout(resolve, PING_EVERY_MS / BYSTANDERS));
  timers.push(setInterval(() => {
    sent.set(++id, { at: performance.now(), phase });
    send(socket, { type: "ping", id });
  }, PING_EVERY_MS));
}
await new Promise((resolve) => setTimeout(resolve, BASELINE * 1000));

// The storm: each connection guesses again as soon as it is answered, and reconnects if closed.
const answers: Record<string, number> = {};
const attackers = new Set<Socket>();
let guesses = 0;
function attack(from: string): void {
  if (phase === "done") return;
  let socket: Socket | undefined;
  const guess = () => {
    if (phase !== "storm" || socket === undefined) return;
    send(socket, { type: "hello", name: VICTIM, password: `guess ${guesses++}`, history: 0 });
  };
  open(from, (frame) => {
    if (frame.type !== "error") return;
    const busy = String(frame.message).startsWith("The server is busy");
    const kind = busy ? "rate_limited (busy)" : String(frame.code);
    answers[kind] = (answers[kind] ?? 0) + 1;
    if (busy && BUSY_RETRY_MS > 0) setTimeout(guess, BUSY_RETRY_MS);
    else guess();
  }, () => {
    if (socket) attackers.delete(socket);
    attack(from);
  }).then((opened) => {
    socket = opened;
    attackers.add(socket);
    guess();
  }, () => setTimeout(() => attack(from), 100));
}
const cpuBefore = cpuSeconds(server.pid);
phase = "storm";
const stormStarted = performance.now();
for (let a = 0; a < ADDRESSES; a++) {
  for (let c = 0; c < PER_ADDRESS; c++) attack(`127.0.0.${2 + a}`);
}
// Once a second, the owner logs in with the right password (from 127.0.0.1, which has guessed
// nothing), and leaves again.
const logins: number[] = [];
const loginAnswers: Record<string, number> = {};
const loginTimer = setInterval(async () => {
  const { frame, ms, socket } = await hello(OWNER, `${OWNER}'s password`);
  socket.destroy();
  const kind = String(frame.code ?? frame.type);
  loginAnswers[kind] = (loginAnswers[kind] ?? 0) + 1;
  if (frame.type === "welcome") logins.push(ms);
}, 1000);
await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
clearInterval(loginTimer);
const stormSeconds = (performance.now() - stormStarted) / 1000;
const cpu = cpuSeconds(server.pid) - cpuBefore;
phase = "done";
for (const timer of timers) clearInterval(timer);
for (const socket of [...attackers, ...bystanders]) socket.destroy();
server.kill("SIGTERM");
await exitOrKill(server, 5000);

function percentiles(values: number[]): { count: number; p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return {
    count: sorted.length,
    p50: round(at(0.5)),
    p99: round(at(0.99)),
    max: round(sorted.at(-1) ?? NaN),
  };
}

console.log(JSON.stringify({
  mod: MOD,
  addresses: ADDRESSES,
  connections: ADDRESSES * PER_ADDRESS,
  stormSeconds: Math.round(stormSeconds * 10) / 10,
  pingMs: { alone: percentiles(rtts.baseline), storm: percentiles(rtts.storm) },
  answers,
  ownerLogins: { answers: loginAnswers, welcomeMs: percentiles(logins) },
  serverCpuSecondsPerSecond: Math.round(cpu / stormSeconds * 100) / 100,
}));
Deno.exit(0);
