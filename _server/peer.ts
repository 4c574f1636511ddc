// How the chat reaches a connected peer, whatever carries its frames: a `Peer` takes frames and
// can be closed with a reason. What it is given is an `Outgoing`: the frames, with their NDJSON
// bytes and their JSON texts made once on first asking and shared by every peer given the same
// one, so that a room message is encoded once however many receive it.

import { concat } from "../_net/framing.ts";
import { encodeFrame, type LeaveReason, type ServerFrame } from "../protocol.ts";

/**
 * A connected peer as the chat sees it. The NDJSON-over-TCP session is one (see ndjson.ts,
 * through connections.ts); the core's tests use an in-memory one.
 */
export interface Peer {
  /** Its IP address, in one spelling (see ip.ts `peerIp`): what caps and bans go by. */
  readonly ip: string;
  /** Its address and port, for log lines. */
  readonly label: string;
  /**
   * Queues frames for it. Returns false, queuing nothing, if its queue is full: the caller then
   * closes it as a slow consumer ({@linkcode dropSlow}).
   */
  deliver(out: Outgoing): boolean;
  /**
   * Ends the connection: first `error` with `reason` as its code if a `message` is given, then
   * the close. Whoever owns the connection then tells the chat, once, through `Chat.leave`.
   * Closing a peer that is closing already does nothing.
   */
  close(reason: LeaveReason, message?: string): void;
  /**
   * Takes `cost` bytes from the peer's byte rates for text it sends on; says why not if it may
   * not send them now. Without it nothing is counted.
   */
  charge?(cost: number): string | undefined;
}

/**
 * Frames on their way to one or more peers. Each form is made once, when first asked for, and
 * kept: {@linkcode bytes} for a transport that writes NDJSON, {@linkcode texts} for one that
 * sends a message per frame (WebSocket), {@linkcode frames} for one that translates them (IRC).
 */
export class Outgoing {
  /** The frames, in order. */
  readonly frames: readonly ServerFrame[];
  /** The single frames this one joins, whose encodings it reuses; none for a single frame. */
  #parts: readonly Outgoing[] | undefined;
  #bytes: Uint8Array | undefined;
  #texts: readonly string[] | undefined;

  private constructor(frames: readonly ServerFrame[], parts?: readonly Outgoing[]) {
    this.frames = frames;
    this.#parts = parts;
  }

  /** One frame. */
  static of(frame: ServerFrame): Outgoing {
    return new Outgoing([frame]);
  }

  /** Frames that travel together, reusing the encodings of `parts`, which may also be sent on
   * their own. One part is itself. */
  static join(parts: readonly Outgoing[]): Outgoing {
    if (parts.length === 1) return parts[0]!;
    return new Outgoing(parts.flatMap((part) => part.frames), parts);
  }

  /** The frames as NDJSON, one line each, in one buffer. */
  get bytes(): Uint8Array {
    return this.#bytes ??= this.#parts === undefined
      ? encodeFrame(this.frames[0]!)
      : concat(this.#parts.map((part) => part.bytes));
  }

  /** Each frame's JSON text, without a newline. */
  get texts(): readonly string[] {
    return this.#texts ??= this.#parts === undefined
      ? [JSON.stringify(this.frames[0])]
      : this.#parts.flatMap((part) => part.texts);
  }
}

/** What a peer is told when it is closed for falling behind. */
const SLOW_CONSUMER_MESSAGE = "You fell too far behind; closing the connection";

/** Closes a peer whose queue is full. */
export function dropSlow(peer: Peer): void {
  peer.close("slow_consumer", SLOW_CONSUMER_MESSAGE);
}

/** Delivers `frame` to `peer`, closing it as a slow consumer if its queue is full. */
export function send(peer: Peer, frame: ServerFrame): void {
  if (!peer.deliver(Outgoing.of(frame))) dropSlow(peer);
}
