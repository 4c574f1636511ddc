// A chat client's picture of its rooms, kept from the server's frames: the rooms it is in, their
// topics, the oldest and newest message seen in each, the current room and its own name. The
// terminal client and the server's plain-text session (_server/text.ts) keep one each, and
// turn commands into requests against it (_text/requests.ts).

import { foldName, type HistoryFrame, type ServerFrame } from "../protocol.ts";

/** A room the client is in, as far as the frames read so far say. */
export interface KnownRoom {
  /** The room's name as the server spells it. */
  readonly name: string;
  /** Its topic; empty for none. */
  readonly topic: string;
  /** Who set the topic and when (ISO-8601 UTC), when the server said; absent otherwise. */
  readonly topicSetter?: { readonly by: string; readonly ts: string };
  /** The newest message id seen in it; 0 for none. */
  readonly newest: number;
  /** The oldest message id seen in it, where `/history` pages back from; 0 for none. */
  readonly oldest: number;
}

type Room = { -readonly [K in keyof KnownRoom]: KnownRoom[K] };

/**
 * The rooms a client is in, by folded name, and the one plain lines go to.
 *
 * @example
 * ```ts
 * import { RoomView } from "./room_view.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const view = new RoomView("alice");
 * view.update({ type: "entered", room: "Lobby", users: ["alice"], topic: "hi" });
 * assertEquals([view.current, view.get("lobby")?.topic, view.size], ["Lobby", "hi", 1]);
 * ```
 */
export class RoomView {
  #name: string;
  #current: string | undefined;
  #rooms = new Map<string, Room>();

  /** Starts with no rooms, for a client called `name`. */
  constructor(name = "") {
    this.#name = name;
  }

  /** The client's own name: the one it joined under, or the last it was renamed to. */
  get name(): string {
    return this.#name;
  }

  /** Sets the client's own name before the server has answered with it. */
  set name(name: string) {
    this.#name = name;
  }

  /** Where plain lines go: undefined when the client is in no room. */
  get current(): string | undefined {
    return this.#current;
  }

  /** How many rooms the client is in. */
  get size(): number {
    return this.#rooms.size;
  }

  /** The room called `room` (in any case or form that folds alike), if the client is in it. */
  get(room: string): KnownRoom | undefined {
    return this.#rooms.get(foldName(room));
  }

  /** The rooms the client is in, in the order it entered them. */
  rooms(): IterableIterator<KnownRoom> {
    return this.#rooms.values();
  }

  /** Makes `room` the one plain lines go to. */
  setCurrent(room: string | undefined): void {
    this.#current = room;
  }

  /** Takes in what `frame` says about the client's name and rooms; every message of a
   * `history` frame counts as seen. */
  update(frame: ServerFrame): void {
    switch (frame.type) {
      case "welcome":
        this.#name = frame.name;
        break;
      case "renamed":
        if (frame.from === this.#name) this.#name = frame.to;
        break;
      case "entered": {
        const key = foldName(frame.room);
        const known = this.#rooms.get(key);
        const room: Room = {
          name: frame.room,
          topic: frame.topic ?? "",
          newest: known?.newest ?? 0,
          oldest: known?.oldest ?? 0,
        };
        if (frame.topic && frame.topicBy !== undefined && frame.topicTs !== undefined) {
          room.topicSetter = { by: frame.topicBy, ts: frame.topicTs };
        }
        this.#rooms.set(key, room);
        // A room entered again after a reconnect does not take the focus from the current one.
        if (known === undefined || this.#current === undefined) this.#current = frame.room;
        break;
      }
      case "left":
        if (frame.name === this.#name) {
          this.#rooms.delete(foldName(frame.room));
          if (this.#current !== undefined && foldName(this.#current) === foldName(frame.room)) {
            this.#current = this.#rooms.values().next().value?.name;
          }
        }
        break;
      case "topic": {
        const known = this.#rooms.get(foldName(frame.room));
        if (known) {
          known.topic = frame.topic;
          if (frame.topic === "") delete known.topicSetter;
          else known.topicSetter = { by: frame.by, ts: frame.ts };
        }
        break;
      }
      case "message":
        this.#saw(frame.room, frame.id);
        break;
      case "history":
        for (const message of frame.messages) this.#saw(frame.room, message.id);
        break;
    }
  }

  /**
   * Takes in a `history` frame that replays a room on (re-)entering it: only the messages newer
   * than the newest seen there count, so a replay after a reconnect loses what was seen already.
   * A page asked for by `/history` (`paging`) and a room not known are taken whole.
   *
   * @returns The frame with only those messages; undefined if it had some and all were seen.
   */
  replay(frame: HistoryFrame, paging: boolean): HistoryFrame | undefined {
    const known = this.#rooms.get(foldName(frame.room));
    const messages = paging || known === undefined
      ? frame.messages
      : frame.messages.filter((message) => message.id > known.newest);
    for (const message of messages) this.#saw(frame.room, message.id);
    if (!paging && messages.length === 0 && frame.messages.length > 0) return undefined;
    return { ...frame, messages };
  }

  #saw(room: string, id: number): void {
    const known = this.#rooms.get(foldName(room));
    if (known === undefined) return;
    known.newest = Math.max(known.newest, id);
    known.oldest = known.oldest === 0 ? id : Math.min(known.oldest, id);
  }
}
