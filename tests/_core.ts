// The chat core with no socket and no subprocess: an in-memory way in (peers that keep what they
// are given, decoded from the very bytes an NDJSON transport would write) and a chat on an
// in-memory SQLite store to give them to.

import { setImmediate } from "node:timers";
import { hashPassword } from "../_server/auth.ts";
import { Chat, type ChatFrame, type ChatOptions } from "../_server/chat.ts";
import { Guard } from "../_server/guard.ts";
import type { Outgoing, Peer } from "../_server/peer.ts";
import { SqliteStore } from "../_server/sqlite_store.ts";
import {
  decodeServerFrame,
  encodeFrame,
  type ErrorCode,
  foldName,
  type LeaveReason,
  type ServerFrame,
} from "../protocol.ts";
import { DEFAULTS } from "../server.ts";

/** PBKDF2 rounds for the operators' passwords here: the real count takes a second a hash. */
const TEST_ITERATIONS = 1000;

/** A peer in memory: what it is given, how it was closed, and a switch to make it fall behind. */
export class MemoryPeer implements Peer {
  readonly ip: string;
  readonly label: string;
  /** Every delivery, as given. */
  readonly deliveries: Outgoing[] = [];
  /** What it has received, in order, decoded from the bytes: the last is the `error` it was
   * closed with, if any. */
  readonly frames: ServerFrame[] = [];
  /** Why it was closed, once it was. */
  closed: { reason: LeaveReason; message: string | undefined } | undefined;
  /** While true, its queue is full: deliveries are refused. */
  full = false;
  /** What `charge` answers: a refusal, or undefined to let the bytes through. */
  refuseBytes: string | undefined;
  /** The bytes charged to it. */
  charged = 0;
  #chat: Chat;

  constructor(chat: Chat, label: string, ip = "192.0.2.1") {
    this.#chat = chat;
    this.label = label;
    this.ip = ip;
  }

  deliver(out: Outgoing): boolean {
    if (this.full) return false;
    this.deliveries.push(out);
    this.#take(out.bytes);
    return true;
  }

  /** Closes as a transport does: the last word, then the chat is told, once. */
  close(reason: LeaveReason, message?: string): void {
    if (this.closed !== undefined) return;
    this.closed = { reason, message };
    if (message !== undefined) {
      this.#take(encodeFrame({ type: "error", code: reason as ErrorCode, message }));
    }
    this.#chat.leave(this, reason);
  }

  charge(cost: number): string | undefined {
    if (this.refuseBytes === undefined) this.charged += cost;
    return this.refuseBytes;
  }

  /** Hands the chat a frame from this peer, its length that of its JSON; a promise while a
   * password is checked. */
  send(frame: ChatFrame): void | Promise<void> {
    if (this.closed !== undefined) throw new Error(`${this.label} is closed`);
    return this.#chat.receive(this, frame, encodeFrame(frame).length - 1);
  }

  /** The frames of one type it has received. */
  of<T extends ServerFrame["type"]>(type: T): Extract<ServerFrame, { type: T }>[] {
    return this.frames.filter((frame): frame is Extract<ServerFrame, { type: T }> =>
      frame.type === type
    );
  }

  /** The types of what it has received since frame `from`. */
  types(from = 0): string[] {
    return this.frames.slice(from).map((frame) => frame.type);
  }

  #take(bytes: Uint8Array): void {
    const text = new TextDecoder().decode(bytes);
    if (!text.endsWith("\n")) throw new Error(`not NDJSON: ${JSON.stringify(text)}`);
    for (const line of text.slice(0, -1).split("\n")) {
      const decoded = decodeServerFrame(new TextEncoder().encode(line));
      if (!decoded.ok) throw new Error(`${decoded.code}: ${decoded.message}: ${line}`);
      this.frames.push(decoded.frame);
    }
  }
}

/** What a core fixture may change: the chat's options, and operators with their passwords. */
export interface CoreOptions extends Partial<Omit<ChatOptions, "store" | "guard" | "log">> {
  /** Operator names and their passwords, registered before the chat starts. */
  operators?: Record<string, string>;
}

/** A chat on an in-memory store, with its guard and log; disposing of it closes both. */
export class Core implements AsyncDisposable {
  readonly store: SqliteStore;
  readonly guard: Guard;
  readonly chat: Chat;
  /** Every log line, as `level message`. */
  readonly logs: string[] = [];
  readonly peers: MemoryPeer[] = [];

  private constructor(store: SqliteStore, guard: Guard, options: CoreOptions) {
    this.store = store;
    this.guard = guard;
    const { operators: _, ...chatOptions } = options;
    this.chat = new Chat({
      store,
      guard,
      log: (level, message) => this.logs.push(`${level} ${message}`),
      connectionCount: () => this.peers.filter((peer) => peer.closed === undefined).length,
      maxUsers: DEFAULTS.maxUsers,
      maxFrameBytes: DEFAULTS.maxFrameBytes,
      maxQueueBytes: DEFAULTS.maxQueueBytes,
      rate: DEFAULTS.rate,
      burst: DEFAULTS.burst,
      byteRate: DEFAULTS.byteRate,
      byteBurst: DEFAULTS.byteBurst,
      maxRooms: DEFAULTS.maxRooms,
      maxRoomsPerIp: DEFAULTS.maxRoomsPerIp,
      history: DEFAULTS.history,
      defaultRoom: DEFAULTS.defaultRoom,
      fixedRooms: undefined,
      retention: {},
      ...chatOptions,
    });
  }

  /** Makes the store (registering the operators' names), the guard and the chat. */
  static async start(options: CoreOptions = {}): Promise<Core> {
    const store = new SqliteStore(":memory:");
    const operators = Object.entries(options.operators ?? {});
    for (const [name, password] of operators) {
      store.setAccount(foldName(name), name, await hashPassword(password, TEST_ITERATIONS));
    }
    const guard = new Guard(store, {
      serverPassword: undefined,
      operators: operators.map(([name]) => name),
    });
    return new Core(store, guard, options);
  }

  /** A new peer, not joined yet. */
  peer(label = `peer${this.peers.length + 1}`, ip?: string): MemoryPeer {
    const peer = new MemoryPeer(this.chat, label, ip);
    this.peers.push(peer);
    return peer;
  }

  /** A new peer that has said `hello` as `name` and been welcomed. */
  async join(name: string, options: { password?: string; ip?: string } = {}): Promise<MemoryPeer> {
    const peer = this.peer(name, options.ip);
    await peer.send(
      options.password === undefined
        ? { type: "hello", name }
        : { type: "hello", name, password: options.password },
    );
    if (peer.of("welcome").length !== 1) {
      throw new Error(`${name} was not welcomed: ${JSON.stringify(peer.frames)}`);
    }
    return peer;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.chat.close();
    await this.store.close();
  }
}

/** Resolves after the end of the current event-loop turn: the chat's pending messages are
 * stored and delivered by then. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
