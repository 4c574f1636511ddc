// A connected peer as the chat keeps it: the chat makes one for each peer that sends it a frame,
// is the only one to change it, and forgets it when the peer leaves.

import type { Peer } from "./peer.ts";
import type { Room } from "./rooms.ts";

/** What the chat knows of a peer: who it is, where it is, and how to reach it. */
export class Member {
  /** Its name once `hello` has succeeded. */
  name: string | undefined;
  /** Its folded name, the key in the chat's user table. */
  key: string | undefined;
  /** The registered name (by key) whose password it has given. */
  proven: string | undefined;
  /** Its place in the order users arrived (a new name counts as arriving again): where a page
   * of `who` ends. */
  arrival = 0;
  /** The rooms it is in, by key. */
  readonly rooms = new Map<string, Room>();
  /** Cancels the password check under way for it, if any: it leaves before its turn. */
  checking: AbortController | undefined;

  constructor(
    /** How to reach it. */
    readonly peer: Peer,
  ) {}

  /** The peer's IP address. */
  get ip(): string {
    return this.peer.ip;
  }

  /** The peer's address and port, for log lines. */
  get label(): string {
    return this.peer.label;
  }
}
