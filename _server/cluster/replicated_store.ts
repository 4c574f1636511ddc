// The store of a cluster node: reads come from the node's replica (an SQLite database in memory
// that the link fills from the stream and the buckets), writes go to the cluster's buckets and to
// the replica at once, so that this node sees its own writes before they come back. Room
// messages are not written here: they go through the stream (fanout.ts publishes them), and the
// replica gets them as they come back.

import type { PasswordHash } from "../auth.ts";
import { hexKey } from "./keys.ts";
import type { ClusterLink } from "./link.ts";
import type {
  Ban,
  HistoryPage,
  RetentionPolicy,
  RoomMessage,
  Store,
  StoredTopic,
} from "../store.ts";

/** An account as the accounts bucket holds it. */
export interface StoredAccount {
  name: string;
  /** Base64. */
  salt: string;
  /** Base64. */
  hash: string;
  iterations: number;
  /** The node that wrote it. */
  node: string;
}

/** The bans bucket's key for a ban on `value`. */
export function banKey(kind: Ban["kind"], value: string): string {
  return `${kind}.${hexKey(value)}`;
}

/** The store of a cluster node. */
export class ReplicatedStore implements Store {
  #replica: Store;
  #link: ClusterLink;

  constructor(replica: Store, link: ClusterLink) {
    this.#replica = replica;
    this.#link = link;
  }

  lastMessageId(): number {
    return this.#replica.lastMessageId();
  }

  /** Stores messages that came back through the stream, in the replica. */
  append(messages: readonly RoomMessage[]): void {
    this.#replica.append(messages);
  }

  history(room: string, limit: number, before?: number): HistoryPage {
    return this.#replica.history(room, limit, before);
  }

  topic(room: string): StoredTopic | undefined {
    return this.#replica.topic(room);
  }

  setTopic(room: string, topic: string, by?: string, ts?: string): void {
    this.#link.require();
    this.#replica.setTopic(room, topic, by, ts);
    const key = hexKey(room);
    const { topics } = this.#link.buckets;
    // Put even when cleared, so that the others learn who cleared it and when.
    const value = JSON.stringify({ topic, by, ts, node: this.#link.node });
    this.#link.write(`topic ${key}`, () => topics.put(key, value));
  }

  account(key: string): PasswordHash | undefined {
    return this.#replica.account(key);
  }

  setAccount(key: string, name: string, password: PasswordHash): void {
    this.#link.require();
    this.#replica.setAccount(key, name, password);
    const account: StoredAccount = {
      name,
      salt: toBase64(password.salt),
      hash: toBase64(password.hash),
      iterations: password.iterations,
      node: this.#link.node,
    };
    const hex = hexKey(key);
    const { accounts } = this.#link.buckets;
    this.#link.write(`account ${hex}`, () => accounts.put(hex, JSON.stringify(account)));
  }

  ban(ban: Ban): void {
    this.#link.require();
    this.#replica.ban(ban);
    const key = banKey(ban.kind, ban.value);
    const { bans } = this.#link.buckets;
    this.#link.write(key, () => bans.put(key, JSON.stringify({ ...ban, node: this.#link.node })));
  }

  unban(kind: Ban["kind"], value: string): boolean {
    this.#link.require();
    const lifted = this.#replica.unban(kind, value);
    const key = banKey(kind, value);
    const { bans } = this.#link.buckets;
    this.#link.write(key, () => bans.delete(key));
    return lifted;
  }

  activeBan(kind: Ban["kind"], value: string, now: Date): Ban | undefined {
    return this.#replica.activeBan(kind, value, now);
  }

  bans(kind: Ban["kind"]): Ban[] {
    return this.#replica.bans(kind);
  }

  /** Prunes the replica; the stream keeps its own limits (see link.ts). */
  prune(policy: RetentionPolicy): number {
    return this.#replica.prune(policy);
  }

  close(): Promise<void> {
    return this.#replica.close();
  }
}

/** Base64 of `bytes`. */
export function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

/** The bytes of base64 `text`. */
export function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
}
