// Store, then fan out. Room messages are stored before anyone receives them: they collect for one
// event-loop turn, are written in one transaction, then delivered, each run of messages to one
// room encoded once into one buffer all its members share. Notices about a room (a join, a leave,
// a topic) flush what is pending first, so that everyone sees events in the order they happened.
// On a cluster node the store is JetStream's stream: a message is published, and stored and
// delivered here only as it comes back through the stream (`arrived`), in the stream's order.

import { clearImmediate, setImmediate } from "node:timers";
import type { Member } from "./member.ts";
import { dropSlow, Outgoing } from "./peer.ts";
import type { Room } from "./rooms.ts";
import type { RoomMessage, Store } from "./store.ts";
import type { MessageFrame, ServerFrame } from "../protocol.ts";

/** The most messages stored in one transaction: a larger batch is written at once, so that a
 * burst reaches recipients in pieces their queues can hold. */
const MAX_BATCH = 256;

/** A room message accepted and not yet stored. */
export interface Pending {
  room: Room;
  /** Who sent it, if they are connected here: they are not sent their own message. */
  sender: Member | undefined;
  frame: MessageFrame;
}

/** Publishes a message to the cluster; resolves once it is stored there. */
export type Publish = (pending: Pending) => Promise<void>;

/** Called when a batch could not be stored: nobody received it, and its senders are to be told
 * (one sender once per message). */
export type StoreFailure = (senders: Member[], error: unknown) => void;

/** Room messages on their way: pending, stored, delivered. */
export class Fanout {
  #store: Store;
  #failed: StoreFailure;
  #pending: Pending[] = [];
  #flushTimer: ReturnType<typeof setImmediate> | undefined;
  #publish: Publish | undefined;

  /** With `publish`, messages go to the cluster first, and come back through `arrived`. */
  constructor(store: Store, failed: StoreFailure, publish?: Publish) {
    this.#store = store;
    this.#failed = failed;
    this.#publish = publish;
  }

  /** Queues a message, to be stored and delivered at the end of the turn, or at once if the
   * batch is full; on a cluster node, publishes it. */
  queue(pending: Pending): void {
    if (this.#publish === undefined) return this.arrived(pending);
    this.#publish(pending).catch((error) => this.#failed([pending.sender!], error));
  }

  /** Takes a message stored by the cluster, to be stored here and delivered at the end of the
   * turn, or at once if the batch is full. */
  arrived(pending: Pending): void {
    this.#pending.push(pending);
    if (this.#pending.length >= MAX_BATCH) this.flush();
    // setImmediate, not setTimeout(…, 0): in Deno a zero timeout waits a millisecond or two.
    else this.#flushTimer ??= setImmediate(() => this.flush());
  }

  /** Stores what is pending in one transaction, then delivers it. */
  flush(): void {
    if (this.#flushTimer !== undefined) clearImmediate(this.#flushTimer);
    this.#flushTimer = undefined;
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    try {
      this.#store.append(batch.map(({ room, frame }): RoomMessage => {
        const { type: _, ...message } = frame;
        return { ...message, room: room.key };
      }));
    } catch (error) {
      return this.#failed(batch.flatMap(({ sender }) => sender ?? []), error);
    }
    for (let start = 0, end = 1; start < batch.length; start = end++) {
      while (end < batch.length && batch[end]!.room === batch[start]!.room) end++;
      this.#deliverRun(batch.slice(start, end));
    }
  }

  /**
   * Sends a notice about a room after the messages still pending, so that everyone sees events
   * in the order they happened.
   */
  notify(members: Iterable<Member>, frame: ServerFrame): void {
    this.flush();
    this.broadcast(members, frame);
  }

  /** Sends `frame` to each of `members`: encoded once, queued everywhere. */
  broadcast(members: Iterable<Member>, frame: ServerFrame): void {
    const out = Outgoing.of(frame);
    deliverEach(members, (member) => member.peer.deliver(out));
  }

  /**
   * Sends a run of messages to one room: encoded once and joined into one buffer that every
   * member shares, but their senders, who are not sent their own and get the others one by one.
   */
  #deliverRun(run: Pending[]): void {
    const each = run.map(({ frame }) => Outgoing.of(frame));
    const all = Outgoing.join(each);
    const senders = new Set(run.map(({ sender }) => sender));
    deliverEach(
      run[0]!.room.members,
      (member) =>
        senders.has(member)
          ? each.every((out, i) => run[i]!.sender === member || member.peer.deliver(out))
          : member.peer.deliver(all),
    );
  }
}

/**
 * Calls `deliver` for each of `members`, then closes as slow consumers those it found full:
 * after the loop, since closing one changes the room being iterated.
 */
export function deliverEach(members: Iterable<Member>, deliver: (member: Member) => boolean): void {
  const behind: Member[] = [];
  for (const member of members) if (!deliver(member)) behind.push(member);
  for (const member of behind) dropSlow(member.peer);
}
