// The rooms that exist: made when first joined (or fixed by the server), forgotten when empty,
// counted against the server's bound and against the address that made each, and kept in order
// of their folded names for paging through them.

import type { Refusal } from "./guard.ts";
import type { Member } from "./member.ts";
import type { Store, StoredTopic } from "./store.ts";
import { foldName, roomProblem } from "../protocol.ts";

/** The most rooms one user may be in at once. */
export const MAX_ROOMS_PER_USER = 100;

/** A room, who is in it, and who made it. */
export class Room {
  readonly members = new Set<Member>();
  /** Each member's place in the order they entered: where a page of `who` ends. */
  readonly arrivals = new Map<Member, number>();
  constructor(
    readonly name: string,
    readonly key: string,
    public topic: string | undefined,
    /** Who set the topic and when (ISO-8601 UTC), when the topic has one that is known. */
    public topicSetter: { by: string; ts: string } | undefined,
    /** The address that made the room by joining it; none for the default and fixed rooms. */
    readonly creator: string | undefined,
  ) {}
}

/** How many rooms there may be, and which. */
export interface RoomsOptions {
  /** The most rooms at once; joining a new one past it is `too_many_rooms`. */
  maxRooms: number;
  /** The most rooms one address may have made that exist at once. */
  maxRoomsPerIp: number;
  /** The room everyone starts in. */
  defaultRoom: string;
  /** When given, the only rooms there are (with the default room). */
  fixedRooms: readonly string[] | undefined;
}

/** The rooms that exist, by folded name. */
export class Rooms {
  #store: Store;
  #options: RoomsOptions;
  /** Rooms with members, and the fixed rooms, by folded name. */
  #rooms = new Map<string, Room>();
  /** The rooms sorted by key, for paging; made again after a room comes or goes. */
  #order: Room[] | undefined;
  /** How many of the rooms each address made. */
  #perIp = new Map<string, number>();

  /**
   * Makes the fixed rooms, if there are any, with their stored topics.
   *
   * @throws {Error} What the store threw reading a fixed room's topic.
   */
  constructor(store: Store, options: RoomsOptions) {
    this.#store = store;
    this.#options = options;
    if (options.fixedRooms !== undefined) {
      for (const name of [options.defaultRoom, ...options.fixedRooms]) {
        const { failure } = this.open(name);
        if (failure !== undefined) throw failure;
      }
    }
  }

  /** How many rooms exist. */
  get size(): number {
    return this.#rooms.size;
  }

  /** The room called `name` (in any case or look-alike spelling), if it exists. */
  get(name: string): Room | undefined {
    return this.#rooms.get(foldName(name));
  }

  /** Why `member` may not join the room called `name`, if it may not. */
  refuseJoin(member: Member, name: string): Refusal | undefined {
    const problem = roomProblem(name);
    if (problem !== undefined) return { code: "invalid_room", message: problem };
    const key = foldName(name);
    if (member.rooms.has(key)) {
      return { code: "already_in_room", message: `You are in "${name}" already` };
    }
    const { fixedRooms, maxRooms, maxRoomsPerIp } = this.#options;
    if (fixedRooms !== undefined && !this.#rooms.has(key)) {
      return {
        code: "no_such_room",
        message: `There is no room "${name}"; rooms: ${fixedRooms.join(", ")}`,
      };
    }
    if (member.rooms.size >= MAX_ROOMS_PER_USER) {
      return {
        code: "too_many_rooms",
        message: `You are in ${MAX_ROOMS_PER_USER} rooms, the most there may be; part one first`,
      };
    }
    if (!this.#rooms.has(key)) {
      if (this.#rooms.size >= maxRooms) {
        return {
          code: "too_many_rooms",
          message:
            `The server has ${this.#rooms.size} rooms, the most there may be; join one of them`,
        };
      }
      const made = this.#perIp.get(member.ip) ?? 0;
      if (made >= maxRoomsPerIp) {
        return {
          code: "too_many_rooms",
          message: `Your address has made ${made} rooms that still exist, the most it may; ` +
            "join one that exists, or wait until one of yours is empty",
        };
      }
    }
    return undefined;
  }

  /**
   * The room called `name`, made if need be (by the address `creator`, if given), with its
   * stored topic. If the topic could not be read, the room is made without it and `failure` is
   * why: whoever enters it is told.
   */
  open(name: string, creator?: string): { room: Room; failure?: unknown } {
    const key = foldName(name);
    let room = this.#rooms.get(key);
    if (room !== undefined) return { room };
    let topic: StoredTopic | undefined;
    let failure: unknown;
    try {
      topic = this.#store.topic(key);
    } catch (error) {
      failure = error;
    }
    const setter = topic?.by !== undefined && topic.ts !== undefined
      ? { by: topic.by, ts: topic.ts }
      : undefined;
    room = new Room(name, key, topic?.topic, setter, creator);
    this.#rooms.set(key, room);
    this.#order = undefined;
    if (creator !== undefined) this.#perIp.set(creator, (this.#perIp.get(creator) ?? 0) + 1);
    return failure === undefined ? { room } : { room, failure };
  }

  /** Forgets `room` if it is empty and the rooms are not fixed; its history and topic stay
   * stored. */
  vacated(room: Room): void {
    if (room.members.size > 0 || this.#options.fixedRooms !== undefined) return;
    this.#rooms.delete(room.key);
    this.#order = undefined;
    if (room.creator !== undefined) {
      const made = this.#perIp.get(room.creator)! - 1;
      if (made === 0) this.#perIp.delete(room.creator);
      else this.#perIp.set(room.creator, made);
    }
  }

  /** The rooms in the order of their folded names, from the first whose name folds after
   * `after`'s (all, without it). */
  from(after: string | undefined): IteratorObject<Room, undefined> {
    this.#order ??= [...this.#rooms.values()].sort((a, b) => compare(a.key, b.key));
    const order = this.#order;
    let start = 0;
    if (after !== undefined) {
      const key = foldName(after);
      for (let end = order.length; start < end;) {
        const middle = (start + end) >>> 1;
        if (compare(order[middle]!.key, key) <= 0) start = middle + 1;
        else end = middle;
      }
    }
    return order.values().drop(start);
  }
}

/** Orders strings by UTF-16 code units, as `<` does. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
