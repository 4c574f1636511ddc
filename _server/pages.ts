// Answers that come a page at a time, so that none can pass a client's queue bound and get the
// asker dropped as a slow consumer: the rooms, who is where, a room's history, and the names
// `welcome` and `entered` list.

import type { Member } from "./member.ts";
import type { Room } from "./rooms.ts";
import type { HistoryPage } from "./store.ts";
import type { HistoryFrame, RoomInfo, RoomsFrame, UsersFrame } from "../protocol.ts";

/**
 * A room this big no longer announces every join and leave to everyone (a room of n members
 * churning would cost n notices per change, n² in all), and lists only this many members on
 * entering; `who` still lists them all, page by page.
 */
export const LARGE_ROOM = 500;

/** The most entries in one page of `rooms` or `who`. */
export const LIST_PAGE_ITEMS = 1000;

/**
 * The most bytes of entries in one page of `rooms` or `who`, and in the names `welcome` and
 * `entered` list; never more than a quarter of a client's queue bound either. An answer that
 * passed the asker's queue bound would get the asker dropped as a slow consumer.
 */
export const LIST_PAGE_BYTES = 64 * 1024;

/** The bytes a page of a list may take for a client whose queue holds `maxQueueBytes`. */
export function listBudget(maxQueueBytes: number): number {
  return Math.min(LIST_PAGE_BYTES, maxQueueBytes / 4);
}

/** A page of `rooms`, of at most `budget` bytes of entries. */
export function roomsPage(rooms: IteratorObject<Room, undefined>, budget: number): RoomsFrame {
  const fit = fill(
    rooms.map((room): RoomInfo =>
      room.topic === undefined
        ? { name: room.name, users: room.members.size }
        : { name: room.name, users: room.members.size, topic: room.topic }
    ),
    budget,
    LIST_PAGE_ITEMS,
  );
  const frame: RoomsFrame = { type: "rooms", rooms: fit.taken };
  if (fit.more) {
    frame.more = true;
    frame.next = fit.taken.at(-1)!.name;
  }
  return frame;
}

/**
 * A page of `users`: of `present` (members and their places, in the order they arrived) those
 * who arrived after place `after`, in a room if one is given, of at most `budget` bytes.
 */
export function usersPage(
  present: IteratorObject<[Member, number], unknown>,
  after: number | undefined,
  budget: number,
  room?: Room,
): UsersFrame {
  const fit = fill(
    after === undefined ? present : present.filter(([, place]) => place > after),
    budget,
    LIST_PAGE_ITEMS,
    ([user]) => user.name!,
  );
  const frame: UsersFrame = room === undefined
    ? { type: "users", users: fit.entries }
    : { type: "users", room: room.name, users: fit.entries };
  if (fit.more) {
    frame.more = true;
    frame.next = fit.taken.at(-1)![1];
  }
  return frame;
}

/** The names of up to {@linkcode LARGE_ROOM} of `members`, as many as fit `budget` bytes. */
export function someNames(members: Iterable<Member>, budget: number): string[] {
  return fill(members, budget, LARGE_ROOM, (member) => member.name!).entries;
}

/**
 * A `history` frame of `page`, of at most `budget` bytes of messages: newest first, so that
 * what is left out is the oldest, marked with `more` to page back to.
 */
export function historyFrame(room: Room, page: HistoryPage, budget: number): HistoryFrame {
  const fit = fill(page.messages.toReversed(), budget);
  return {
    type: "history",
    room: room.name,
    messages: fit.taken.reverse(),
    more: page.more || fit.more,
  };
}

/**
 * Takes from `items`, in order, what fits in one page: at most `most` entries (made by `entry`)
 * of at most `budget` bytes in all as JSON, and always one at least, so that paging moves on.
 * Returns the items taken, their entries, and whether any were left out.
 */
function fill<T, E = T>(
  items: Iterable<T>,
  budget: number,
  most = Infinity,
  entry: (item: T) => E = (item) => item as unknown as E,
): { taken: T[]; entries: E[]; more: boolean } {
  const taken: T[] = [];
  const entries: E[] = [];
  let bytes = 0;
  for (const item of items) {
    if (taken.length >= most) return { taken, entries, more: true };
    const made = entry(item);
    // Each entry is followed by a comma in its array.
    bytes += utf8Length(JSON.stringify(made)) + 1;
    if (bytes > budget && taken.length > 0) return { taken, entries, more: true };
    taken.push(item);
    entries.push(made);
  }
  return { taken, entries, more: false };
}

/** The length of `text` in UTF-8, without encoding it. */
function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // Two bytes for U+0080 to U+07FF, three up to U+FFFF; a surrogate pair, two units, is four.
    if (unit >= 0x80) bytes += unit < 0x800 || (unit >= 0xd800 && unit < 0xe000) ? 1 : 2;
  }
  return bytes;
}
