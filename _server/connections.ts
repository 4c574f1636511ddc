// What every way in shares, whatever carries its frames: the caps on connections (in all and per
// address) and the bans checked at accept; liveness (a ping to the silent, a deadline to say
// `hello`); flood control (frames a second, and the byte rates the chat charges text to); and
// ending a connection once: the chat hears of it through `leave`, then the transport says its
// last word and closes. An adapter (ndjson.ts, for NDJSON over TCP) hands in a `Transport` for
// each connection it accepts and the frames it decodes; this hands the chat a `Peer` for each.

import { formatAddr } from "../_net/address.ts";
import { TokenBucket } from "../_net/token_bucket.ts";
import type { Chat } from "./chat.ts";
import type { Guard } from "./guard.ts";
import { peerIp } from "./ip.ts";
import type { Logger } from "./log.ts";
import { Outgoing, type Peer, send } from "./peer.ts";
import type { ClientFrame, DecodeResult, ErrorCode, LeaveReason } from "../protocol.ts";

/** Consecutive refused frames after which a flooding client is disconnected. */
const FLOOD_STRIKES = 100;

/** What an adapter gives for each connection it accepts: how to reach the peer and hang up. */
export interface Transport {
  /** The peer's address as its socket reports it. */
  readonly remoteAddr: Deno.NetAddr;
  /** Queues frames for the peer. Returns false, queuing nothing, if its queue is full. */
  deliver(out: Outgoing): boolean;
  /**
   * Ends the connection; called once. Drops what is still queued if `discard` (the peer fell
   * behind), queues `last` if given (past the queue bound: it is the last), and closes once
   * that is written, or after a while if the peer does not take it.
   */
  hangUp(last: Outgoing | undefined, discard: boolean): void;
}

/** The limits every connection is held to. */
export interface ConnectionLimits {
  /** Connections open at once; one more is closed with `too_many_connections`. */
  maxConnections: number;
  /** Connections open at once from one address. */
  maxConnectionsPerIp: number;
  /** Frames a second, on average; 0 for no limit. */
  rate: number;
  /** Frames at once before the rate applies. */
  burst: number;
  /** Bytes of text a second one connection may send; 0 for no limit. */
  byteRate: number;
  byteBurst: number;
  /** Bytes of text a second all connections from one address may send together; 0 for none. */
  byteRatePerIp: number;
  byteBurstPerIp: number;
  /** A peer silent this long (ms) is pinged; 0 never pings. */
  pingIntervalMs: number;
  /** How long (ms) a pinged peer has to answer. */
  pingTimeoutMs: number;
  /** How long (ms) a new connection has to be welcomed. */
  helloTimeoutMs: number;
}

/**
 * One connection, whatever its transport: the {@linkcode Peer} the chat is given. Its state is
 * kept by {@linkcode Connections}; an adapter reads only `closing`.
 */
export class Connection implements Peer {
  readonly ip: string;
  readonly label: string;
  /** True once it is ending: frames it still sends are dropped. */
  closing = false;
  readonly connectedAt: number;
  /** When the peer was last heard from, or connected (performance.now() milliseconds). */
  lastHeard: number;
  /** When a ping was sent that is not answered yet. */
  pingSentAt: number | undefined;
  /** Frames refused in a row for flooding. */
  strikes = 0;
  /** The frames it may send; none without a rate. */
  readonly bucket: TokenBucket | undefined;
  /** The bytes of text it may send; none without a byte rate. */
  readonly byteBucket: TokenBucket | undefined;
  readonly transport: Transport;
  #connections: Connections;

  constructor(transport: Transport, connections: Connections, limits: ConnectionLimits) {
    this.transport = transport;
    this.#connections = connections;
    // One spelling per address, so that caps and bans see an IPv4 client of a dual-stack
    // listener (`::ffff:a.b.c.d`) as the IPv4 address it is.
    this.ip = peerIp(transport.remoteAddr.hostname);
    this.label = formatAddr(transport.remoteAddr);
    const now = performance.now();
    this.connectedAt = this.lastHeard = now;
    if (limits.rate > 0) this.bucket = new TokenBucket(limits.rate, limits.burst, now);
    if (limits.byteRate > 0) {
      this.byteBucket = new TokenBucket(limits.byteRate, limits.byteBurst, now);
    }
  }

  deliver(out: Outgoing): boolean {
    return this.transport.deliver(out);
  }

  close(reason: LeaveReason, message?: string): void {
    this.#connections.end(this, reason, message);
  }

  charge(cost: number): string | undefined {
    return this.#connections.takeBytes(this, cost, performance.now());
  }
}

/** The open connections of all transports, and what they share. */
export class Connections {
  #chat: Chat;
  #guard: Guard;
  #log: Logger;
  #limits: ConnectionLimits;
  #open = new Set<Connection>();
  /** Open connections by address. */
  #perIp = new Map<string, number>();
  /** The bytes of text each address may send, kept until full again even with no connection
   * open, so that reconnecting gains nothing. */
  #byteBucketsPerIp = new Map<string, TokenBucket>();
  #sweepTimer: ReturnType<typeof setInterval>;
  #shuttingDown = false;

  constructor(chat: Chat, guard: Guard, log: Logger, limits: ConnectionLimits) {
    this.#chat = chat;
    this.#guard = guard;
    this.#log = log;
    this.#limits = limits;
    const timeouts = [limits.pingTimeoutMs, limits.helloTimeoutMs];
    if (limits.pingIntervalMs > 0) timeouts.push(limits.pingIntervalMs);
    this.#sweepTimer = setInterval(() => this.#sweep(), Math.max(20, Math.min(...timeouts) / 4));
  }

  /** How many connections are open, joined or not. */
  get size(): number {
    return this.#open.size;
  }

  /** False once the server is shutting down: an adapter then closes what it accepts at once. */
  get accepting(): boolean {
    return !this.#shuttingDown;
  }

  /**
   * Counts in a connection an adapter has accepted, and ends it at once (with the reason, which
   * its transport is given to say) if it is one too many, or its address is banned. Either way
   * the adapter goes on reading until the peer or the transport closes, then calls
   * {@linkcode closed}.
   */
  open(transport: Transport): Connection {
    const connection = new Connection(transport, this, this.#limits);
    const ip = connection.ip;
    this.#open.add(connection);
    const fromIp = (this.#perIp.get(ip) ?? 0) + 1;
    this.#perIp.set(ip, fromIp);
    this.#log("info", `${connection.label} connected`);
    if (this.#open.size > this.#limits.maxConnections) {
      this.end(
        connection,
        "too_many_connections",
        `The server has its maximum of ${this.#limits.maxConnections} connections; try again later`,
      );
    } else if (fromIp > this.#limits.maxConnectionsPerIp) {
      this.end(
        connection,
        "too_many_connections",
        `Your address has its maximum of ${this.#limits.maxConnectionsPerIp} connections open`,
      );
    } else {
      let ban;
      try {
        ban = this.#guard.bans.inForce({ ip });
      } catch {
        // The store could not say (and has logged why); `hello` asks again, and is refused
        // with `store_failed` if it still cannot.
      }
      if (ban !== undefined) {
        this.end(
          connection,
          "banned",
          `Your address is banned${ban.until ? ` until ${ban.until}` : ""}`,
        );
      }
    }
    return connection;
  }

  /**
   * Handles one frame as decoded from `connection`, `bytes` long as it came: liveness and flood
   * control here, `ping` answered here, the rest in the chat. Returns a promise while the chat
   * checks a password: the connection's next frame waits for it.
   */
  receive(
    connection: Connection,
    decoded: DecodeResult<ClientFrame>,
    bytes: number,
  ): void | Promise<void> {
    const now = performance.now();
    connection.lastHeard = now;
    connection.pingSentAt = undefined;
    if (!decoded.ok) {
      this.#log("info", `${connection.label} sent a bad frame: ${decoded.code}`);
      return send(connection, { type: "error", code: decoded.code, message: decoded.message });
    }
    const frame = decoded.frame;
    if (frame.type === "pong") return;
    if (connection.bucket && frame.type !== "quit" && !connection.bucket.take(now)) {
      if (++connection.strikes >= FLOOD_STRIKES) {
        return this.end(connection, "rate_limited", "Too many frames for too long; disconnecting");
      }
      return send(connection, {
        type: "error",
        code: "rate_limited",
        message: `Slow down: at most ${this.#limits.rate} frames a second; this one was dropped`,
      });
    }
    connection.strikes = 0;
    if (frame.type === "ping") {
      // After the answers to what came before it: messages still waiting for the end of the
      // turn are stored (or refused) first, so that a client can use a ping as a barrier.
      this.#chat.flush();
      return send(
        connection,
        frame.id === undefined ? { type: "pong" } : { type: "pong", id: frame.id },
      );
    }
    return this.#chat.receive(connection, frame, bytes);
  }

  /**
   * Takes `cost` bytes from the connection's byte rate and its address's; if either has too
   * few, takes none and says why. A connection that has sent little lately (its own bucket
   * still half full after this) may overdraw its address's bucket by up to a second of its
   * rate, so that a quiet user is not refused for what others at its address sent just before:
   * the address's bytes are still bounded, by one second's more.
   */
  takeBytes(connection: Connection, cost: number, now: number): string | undefined {
    if (cost === 0) return undefined;
    const { byteRate, byteBurst, byteRatePerIp, byteBurstPerIp } = this.#limits;
    const own = connection.byteBucket;
    let shared: TokenBucket | undefined;
    if (byteRatePerIp > 0) {
      shared = this.#byteBucketsPerIp.get(connection.ip);
      if (shared === undefined) {
        shared = new TokenBucket(byteRatePerIp, byteBurstPerIp, now);
        this.#byteBucketsPerIp.set(connection.ip, shared);
      }
    }
    if (own !== undefined && !own.has(now, cost)) {
      return `Slow down: at most ${byteRate} bytes a second of text from one connection; ` +
        "this one was dropped";
    }
    if (shared !== undefined && !shared.has(now, cost)) {
      const quiet = own !== undefined && own.level(now) - cost >= byteBurst / 2;
      if (!quiet || shared.level(now) - cost < -byteRatePerIp) {
        return `Slow down: at most ${byteRatePerIp} bytes a second of text from your ` +
          "address; this one was dropped";
      }
    }
    own?.spend(cost);
    shared?.spend(cost);
    return undefined;
  }

  /**
   * Ends a connection, once: the user leaves the chat (the others are told why, unless the
   * whole server is going), then the transport hangs up, first sending `error` with `reason` as
   * its code if a `message` is given (after dropping what is queued, for a slow consumer).
   */
  end(connection: Connection, reason: LeaveReason, message?: string): void {
    if (connection.closing) return;
    connection.closing = true;
    if (!this.#shuttingDown) this.#chat.leave(connection, reason);
    const last = message === undefined
      ? undefined
      : Outgoing.of({ type: "error", code: reason as ErrorCode, message });
    connection.transport.hangUp(last, reason === "slow_consumer");
  }

  /** Counts out a connection whose transport has closed; it was ended before. */
  closed(connection: Connection): void {
    this.#open.delete(connection);
    const fromIp = this.#perIp.get(connection.ip)! - 1;
    if (fromIp === 0) this.#perIp.delete(connection.ip);
    else this.#perIp.set(connection.ip, fromIp);
    this.#log("info", `${connection.label} closed`);
  }

  /**
   * Stops the sweep, closes the chat (which delivers what is pending), and ends every connection
   * with `server_shutdown`. Nobody is told anyone left: everyone is going, and connections that
   * end from now on (one dropped as a slow consumer by that last delivery, say) do not leave the
   * chat one by one.
   */
  shutdown(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    clearInterval(this.#sweepTimer);
    this.#chat.close();
    for (const connection of this.#open) {
      this.end(connection, "server_shutdown", "The server is shutting down");
    }
  }

  /** Pings idle connections, drops those that do not answer, closes those that never joined.
   * One timer for all connections. */
  #sweep(): void {
    const now = performance.now();
    const { helloTimeoutMs, pingTimeoutMs, pingIntervalMs } = this.#limits;
    for (const connection of this.#open) {
      if (connection.closing) continue;
      if (!this.#chat.joined(connection)) {
        if (now - connection.connectedAt > helloTimeoutMs) {
          this.end(connection, "hello_timeout", 'No "hello" in time; closing the connection');
        }
      } else if (connection.pingSentAt !== undefined) {
        if (now - connection.pingSentAt > pingTimeoutMs) {
          this.end(connection, "timeout", "No answer to ping; closing the connection");
        }
      } else if (pingIntervalMs > 0 && now - connection.lastHeard > pingIntervalMs) {
        connection.pingSentAt = now;
        send(connection, { type: "ping", id: Math.floor(now) });
      }
    }
    // A full bucket is no different from a new one.
    for (const [ip, bucket] of this.#byteBucketsPerIp) {
      if (!this.#perIp.has(ip) && bucket.full(now)) this.#byteBucketsPerIp.delete(ip);
    }
  }
}
