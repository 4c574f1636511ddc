// Who may come in and what they may do: the server password, registered names and their
// passwords, bans, and operators. The chat asks; the guard answers, slowing down addresses
// that keep guessing passwords wrong.

import { AuthThrottle, hashPassword, sameSecret, verifyPassword } from "./_auth.ts";
import type { Ban, Store } from "./_store.ts";
import { type ErrorCode, foldName, nameProblem } from "./protocol.ts";

/** A refusal: the error to send. */
export interface Refusal {
  code: ErrorCode;
  message: string;
}

/** The shortest password a name may be registered with. */
export const MIN_PASSWORD_LENGTH = 8;

/** Who asks: its address, which registered name (by key) it has proved it owns, and when it
 * last had a password hashed to register a name. */
export interface Asker {
  ip: string;
  proven: string | undefined;
  registeredAt: number;
}

/** How often one connection may have a password hashed: each hash is deliberately slow. */
const REGISTER_INTERVAL_MS = 10_000;

/** The guard's settings. */
export interface GuardOptions {
  /** The password everyone must give in `hello`, if any. */
  serverPassword: string | undefined;
  /** Operator names; only registered ones count. */
  operators: readonly string[];
}

/** Passwords, bans and operators. */
export class Guard {
  #store: Store;
  #serverPassword: string | undefined;
  #operators: Set<string>;
  #throttle = new AuthThrottle();

  constructor(store: Store, options: GuardOptions) {
    this.#store = store;
    this.#serverPassword = options.serverPassword;
    this.#operators = new Set(options.operators.map(foldName));
  }

  /** Whether operators are configured: then only they set topics. */
  get hasOperators(): boolean {
    return this.#operators.size > 0;
  }

  /** Operator names that are not registered, and so give no powers yet. */
  unregisteredOperators(): string[] {
    return [...this.#operators].filter((key) => this.#store.account(key) === undefined);
  }

  /**
   * Checks the server password and, for a registered name, its password. A wrong one is
   * answered only after the address's penalty; right ones mark the name proven and forgive
   * the address its earlier wrong guesses.
   */
  async admit(
    asker: Asker,
    name: string,
    passwords: { password?: string; serverPassword?: string },
  ): Promise<Refusal | undefined> {
    if (this.#serverPassword !== undefined) {
      if (!await sameSecret(passwords.serverPassword ?? "", this.#serverPassword)) {
        return await this.#wrong(asker, {
          code: "auth_failed",
          message: passwords.serverPassword === undefined
            ? "This server needs a password"
            : "Wrong server password",
        });
      }
    }
    const refusal = await this.prove(asker, name, passwords.password);
    if (refusal === undefined) this.#throttle.succeed(asker.ip);
    return refusal;
  }

  /** Checks the password of `name` if it is registered; marks it proven if right. */
  async prove(
    asker: Asker,
    name: string,
    password: string | undefined,
  ): Promise<Refusal | undefined> {
    const key = foldName(name);
    const account = this.#store.account(key);
    if (account === undefined || asker.proven === key) return undefined;
    if (password === undefined || !await verifyPassword(password, account)) {
      return await this.#wrong(asker, {
        code: "wrong_password",
        message: password === undefined
          ? `Name "${name}" is registered: give its password`
          : `Wrong password for "${name}"`,
      });
    }
    this.#throttle.succeed(asker.ip);
    asker.proven = key;
    return undefined;
  }

  /** Registers `name` to `asker` (or changes its password, if the asker has proved it). */
  async register(asker: Asker, name: string, password: string): Promise<Refusal | undefined> {
    if ([...password].length < MIN_PASSWORD_LENGTH) {
      return {
        code: "weak_password",
        message: `A password needs at least ${MIN_PASSWORD_LENGTH} characters`,
      };
    }
    const key = foldName(name);
    if (this.#store.account(key) !== undefined && asker.proven !== key) {
      return { code: "wrong_password", message: `Name "${name}" is registered already` };
    }
    const now = performance.now();
    if (now - asker.registeredAt < REGISTER_INTERVAL_MS) {
      return { code: "rate_limited", message: "One registration every 10 seconds" };
    }
    asker.registeredAt = now;
    this.#store.setAccount(key, name, await hashPassword(password));
    asker.proven = key;
    return undefined;
  }

  /** Whether `asker`, going by `name`, is an operator: a listed, registered, proven name. */
  isOperator(asker: Asker, name: string): boolean {
    const key = foldName(name);
    return this.#operators.has(key) && asker.proven === key;
  }

  /** The ban that keeps `name` or the asker's address out, if any. */
  banOn(asker: Pick<Asker, "ip">, name?: string): Ban | undefined {
    const now = new Date();
    return this.#store.activeBan("ip", asker.ip, now) ??
      (name === undefined ? undefined : this.#store.activeBan("name", foldName(name), now));
  }

  /**
   * Bans a name or an address. Returns the ban, or a refusal if the target is neither.
   *
   * @param by The operator's name.
   * @param target A user name, or an IP address.
   * @param seconds How long; for good, if undefined.
   */
  ban(by: string, target: string, seconds: number | undefined, reason: string): Ban | Refusal {
    const kind = banKind(target);
    if (kind === undefined) {
      return { code: "invalid_name", message: `"${target}" is neither a name nor an IP address` };
    }
    const ban: Ban = { kind, value: kind === "ip" ? target : foldName(target), by, reason };
    if (seconds !== undefined) ban.until = new Date(Date.now() + seconds * 1000).toISOString();
    this.#store.ban(ban);
    return ban;
  }

  /** Lifts the ban on a name or address; returns whether there was one. */
  unban(target: string): boolean {
    const kind = banKind(target);
    return kind !== undefined &&
      this.#store.unban(kind, kind === "ip" ? target : foldName(target));
  }

  async #wrong(asker: Asker, refusal: Refusal): Promise<Refusal> {
    const now = performance.now();
    const wait = this.#throttle.penalty(asker.ip, now);
    this.#throttle.fail(asker.ip, now);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    return refusal;
  }
}

/** Whether a ban target is an address or a name; undefined if neither. */
function banKind(target: string): Ban["kind"] | undefined {
  if (
    /^\d{1,3}(\.\d{1,3}){3}$/.test(target) || /^[0-9a-f:]+$/i.test(target) && target.includes(":")
  ) {
    return "ip";
  }
  return nameProblem(target) === undefined ? "name" : undefined;
}
