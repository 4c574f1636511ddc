// Bans: of user names, by their folded form, and of IP addresses and CIDR ranges, in any
// spelling. The store keeps them all; the IP bans are also held here, parsed, since every new
// connection is checked against them. The guard holds the server's one list (Guard.bans).

import {
  formatIpRange,
  type IpRange,
  parseIp,
  parseIpRange,
  rangeContains,
  sameRange,
} from "./ip.ts";
import type { Ban, Store } from "./store.ts";
import { foldName, nameProblem } from "../protocol.ts";

/** A ban's target that is neither a name nor an address or range: the error to send. */
export interface InvalidTarget {
  code: "invalid_name";
  message: string;
}

/** The bans in force, and the operators' commands that set and lift them. */
export class Bans {
  #store: Store;
  /** Every IP ban in the store, lapsed ones included, with its range: bans are few, and every
   * new connection is checked against them here rather than in the store. */
  #ipBans: { ban: Ban; range: IpRange }[] = [];

  constructor(store: Store) {
    this.#store = store;
    this.reload();
  }

  /** Reads the IP bans from the store again: a cluster node does when another node set or
   * lifted one. */
  reload(): void {
    this.#ipBans = [];
    for (const ban of this.#store.bans("ip")) {
      try {
        this.#ipBans.push({ ban, range: parseIpRange(ban.value) });
      } catch {
        // Stored by an older version as written, and no address: it covers nobody.
      }
    }
  }

  /** The ban that keeps `name` or the address `who.ip` out, if any. */
  inForce(who: { readonly ip: string }, name?: string): Ban | undefined {
    const now = new Date();
    return this.#addressBan(who.ip, now) ??
      (name === undefined ? undefined : this.#store.activeBan("name", foldName(name), now));
  }

  /** Whether `ban` covers a user at address `ip` going by the name of key `key`. */
  covers(ban: Ban, user: { ip: string; key?: string | undefined }): boolean {
    if (ban.kind === "name") return user.key === ban.value;
    try {
      return rangeContains(parseIpRange(ban.value), parseIp(user.ip));
    } catch {
      return false;
    }
  }

  /**
   * Bans a name, an address or a range of addresses. Returns the ban, or a refusal if the
   * target is none of them. An address or range is kept in its canonical spelling
   * (`0::1` as `::1`, `::ffff:10.0.0.1` as `10.0.0.1`), and replaces any ban on the same one.
   *
   * @param by The operator's name.
   * @param target A user name, an IP address, or a CIDR range (`10.0.0.0/8`, `2001:db8::/32`).
   * @param seconds How long; for good, if undefined.
   */
  add(
    by: string,
    target: string,
    seconds: number | undefined,
    reason: string,
  ): Ban | InvalidTarget {
    const parsed = banTarget(target);
    if ("code" in parsed) return parsed;
    const value = parsed.kind === "ip" ? formatIpRange(parsed.range) : parsed.key;
    const ban: Ban = { kind: parsed.kind, value, by, reason };
    if (seconds !== undefined) ban.until = new Date(Date.now() + seconds * 1000).toISOString();
    if (parsed.kind === "ip") this.#liftAddress(parsed.range);
    this.#store.ban(ban);
    if (parsed.kind === "ip") this.#ipBans.push({ ban, range: parsed.range });
    return ban;
  }

  /** Lifts the ban on a name, address or range (in any spelling); returns whether there was
   * one. */
  lift(target: string): boolean {
    const parsed = banTarget(target);
    // Not an address by today's rules: perhaps stored as written by an older version.
    if ("code" in parsed) return this.#store.unban("ip", target);
    if (parsed.kind === "name") return this.#store.unban("name", parsed.key);
    return this.#liftAddress(parsed.range);
  }

  /** Lifts the bans on exactly `range`, under its canonical spelling and any other it was
   * stored under; returns whether there were any. */
  #liftAddress(range: IpRange): boolean {
    let lifted = this.#store.unban("ip", formatIpRange(range));
    this.#ipBans = this.#ipBans.filter(({ ban, range: banned }) => {
      if (!sameRange(banned, range)) return true;
      if (this.#store.unban("ip", ban.value)) lifted = true;
      return false;
    });
    return lifted;
  }

  /** The ban in force on an address, if any. */
  #addressBan(ip: string, now: Date): Ban | undefined {
    if (this.#ipBans.length === 0) return undefined;
    let address: IpRange;
    try {
      address = parseIp(ip);
    } catch {
      return undefined;
    }
    const time = now.toISOString();
    return this.#ipBans.find(({ ban, range }) =>
      (ban.until === undefined || ban.until > time) && rangeContains(range, address)
    )?.ban;
  }
}

/**
 * What a ban target is: an address or range if it looks like one (it has a `:` or a `/`, or is
 * four dot-separated numbers), else a name; a refusal if it is not a valid one of those.
 */
function banTarget(
  target: string,
): { kind: "ip"; range: IpRange } | { kind: "name"; key: string } | InvalidTarget {
  if (/[:/]/.test(target) || /^\d+(\.\d+){3}$/.test(target)) {
    try {
      return { kind: "ip", range: parseIpRange(target) };
    } catch (error) {
      return { code: "invalid_name", message: (error as SyntaxError).message };
    }
  }
  if (nameProblem(target) === undefined) return { kind: "name", key: foldName(target) };
  return {
    code: "invalid_name",
    message: `"${target}" is neither a name nor an IP address or range`,
  };
}
