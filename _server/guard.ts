// Who may come in and what they may do: the server password, registered names and their
// passwords, operators, and (through bans.ts) bans. The chat asks; the guard answers, slowing
// down addresses that keep guessing passwords wrong, and never hashing more passwords at once
// than the server can spare.

import {
  AuthThrottle,
  type Gated,
  HashGate,
  hashPassword,
  sameSecret,
  verifyPassword,
} from "./auth.ts";
import { Bans } from "./bans.ts";
import type { Store } from "./store.ts";
import { type ErrorCode, foldName } from "../protocol.ts";

/** A refusal: the error to send. */
export interface Refusal {
  code: ErrorCode;
  message: string;
}

/**
 * Leave to go on after a password check. `proven` is the registered name (by key) the asker has
 * just proved it owns, for the chat to record; undefined if it proved none (the name is not
 * registered, or was proved before).
 */
export interface Grant {
  readonly proven: string | undefined;
}

/** What the guard decides about a password: leave to go on, or a refusal. */
export type Verdict = Grant | Refusal;

/** Leave to go on, having proved nothing new. */
const GO: Grant = { proven: undefined };

/** The shortest password a name may be registered with. */
export const MIN_PASSWORD_LENGTH = 8;

/** How many password hashes may run at once on the whole server: each takes a core. */
export const MAX_CONCURRENT_HASHES = 2;

/** How many more password hashes may wait for a turn; past that, `rate_limited` at once. */
export const MAX_QUEUED_HASHES = 8;

/** Who asks: its address, and which registered name (by key) it has proved it owns. The guard
 * tells one asker from another by identity (one object per connection). */
export interface Asker {
  readonly ip: string;
  readonly proven: string | undefined;
}

/** How often one connection may have a password hashed: each hash is deliberately slow. */
const REGISTER_INTERVAL_MS = 10_000;

/** The answer when the gate of password hashes is full. */
const BUSY: Refusal = {
  code: "rate_limited",
  message: "The server is busy checking passwords; try again in a moment",
};

/** The guard's settings. */
export interface GuardOptions {
  /** The password everyone must give in `hello`, if any. */
  serverPassword: string | undefined;
  /** Operator names, as configured. One that is not registered can be registered only with
   * the one-time token the guard makes for it ({@linkcode Guard.operatorTokens}). */
  operators: readonly string[];
}

/** Passwords and operators, and the server's bans. */
export class Guard {
  /** The bans, of names and addresses. */
  readonly bans: Bans;
  #store: Store;
  #serverPassword: string | undefined;
  /** Operator names as configured, by key. */
  #operators = new Map<string, string>();
  /** The one-time token of each operator name not registered yet, by key. */
  #tokens = new Map<string, string>();
  #throttle = new AuthThrottle();
  #gate = new HashGate(MAX_CONCURRENT_HASHES, MAX_QUEUED_HASHES);
  /** Hashes in the gate, running or waiting, by address. */
  #hashing = new Map<string, number>();
  /** When each asker last had a password hashed to register a name. */
  #registeredAt = new WeakMap<Asker, number>();

  constructor(store: Store, options: GuardOptions) {
    this.#store = store;
    this.#serverPassword = options.serverPassword;
    for (const name of options.operators) {
      const key = foldName(name);
      if (this.#operators.has(key)) continue;
      this.#operators.set(key, name);
      if (store.account(key) === undefined) this.#tokens.set(key, newToken());
    }
    this.bans = new Bans(store);
  }

  /** Whether operators are configured: then only they set topics. */
  get hasOperators(): boolean {
    return this.#operators.size > 0;
  }

  /** The one-time tokens that register the operator names not registered yet, by name as
   * configured. A token is used up when its name is registered. */
  operatorTokens(): Map<string, string> {
    return new Map([...this.#tokens].map(([key, token]) => [this.#operators.get(key)!, token]));
  }

  /**
   * Checks the server password and, for a registered name, its password. A wrong one is
   * answered only after the address's penalty; right ones prove the name and forgive the
   * address its earlier wrong guesses. Once `signal` is aborted (the asker left), a hash still
   * waiting for its turn is skipped.
   */
  async admit(
    asker: Asker,
    name: string,
    passwords: { password?: string; serverPassword?: string },
    signal?: AbortSignal,
  ): Promise<Verdict> {
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
    const verdict = await this.prove(asker, name, passwords.password, signal);
    if (!("code" in verdict)) this.#throttle.succeed(asker.ip);
    return verdict;
  }

  /** Checks the password of `name` if it is registered; proves the name if it is right. */
  async prove(
    asker: Asker,
    name: string,
    password: string | undefined,
    signal?: AbortSignal,
  ): Promise<Verdict> {
    const key = foldName(name);
    const account = this.#store.account(key);
    if (account === undefined || asker.proven === key) return GO;
    if (password === undefined) {
      return await this.#wrong(asker, {
        code: "wrong_password",
        message: `Name "${name}" is registered: give its password`,
      });
    }
    const checked = await this.#hash(asker, () => verifyPassword(password, account), signal);
    if (!checked.ran) return await this.#busy(asker);
    if (checked.value === undefined) {
      // A guess left before its answer counts as wrong: else guessers that hang up while they
      // wait would keep a clean record, and with it the front of the queue.
      this.#throttle.fail(asker.ip, performance.now());
      return BUSY;
    }
    if (!checked.value) {
      return await this.#wrong(asker, {
        code: "wrong_password",
        message: `Wrong password for "${name}"`,
      });
    }
    this.#throttle.succeed(asker.ip);
    return { proven: key };
  }

  /**
   * Registers `name` to `asker` (or changes its password, if the asker has proved it), which
   * proves the name. An operator name that is not registered yet also needs its one-time token,
   * which it uses up. One asker has one password hashed to register at most every
   * {@linkcode REGISTER_INTERVAL_MS}.
   */
  async register(
    asker: Asker,
    name: string,
    password: string,
    token?: string,
    signal?: AbortSignal,
  ): Promise<Verdict> {
    if ([...password].length < MIN_PASSWORD_LENGTH) {
      return {
        code: "weak_password",
        message: `A password needs at least ${MIN_PASSWORD_LENGTH} characters`,
      };
    }
    const key = foldName(name);
    const registered = this.#store.account(key) !== undefined;
    if (registered && asker.proven !== key) {
      return { code: "wrong_password", message: `Name "${name}" is registered already` };
    }
    const operator = !registered && this.#operators.has(key);
    if (operator) {
      const expected = this.#tokens.get(key);
      if (token === undefined) {
        return {
          code: "not_operator",
          message: `"${name}" is an operator's name: registering it needs the token the ` +
            "server printed when it started (/register PASSWORD TOKEN)",
        };
      }
      if (expected === undefined || !await sameSecret(token, expected)) {
        return await this.#wrong(asker, {
          code: "not_operator",
          message: `Wrong token for the operator name "${name}"`,
        });
      }
    }
    const now = performance.now();
    if (now - (this.#registeredAt.get(asker) ?? -Infinity) < REGISTER_INTERVAL_MS) {
      return {
        code: "rate_limited",
        message: `One registration every ${REGISTER_INTERVAL_MS / 1000} seconds`,
      };
    }
    const hashed = await this.#hash(asker, () => hashPassword(password), signal);
    if (!hashed.ran) return await this.#busy(asker);
    this.#registeredAt.set(asker, now);
    const hash = hashed.value;
    if (hash === undefined) return BUSY;
    // The token is used up: should the same one have been used meanwhile, this one is late.
    if (operator && !this.#tokens.delete(key)) {
      return { code: "not_operator", message: `The operator name "${name}" is registered already` };
    }
    this.#store.setAccount(key, name, hash);
    return { proven: key };
  }

  /** Whether `asker`, going by `name`, is an operator: a listed, registered, proven name. */
  isOperator(asker: Asker, name: string): boolean {
    const key = foldName(name);
    return this.#operators.has(key) && asker.proven === key;
  }

  /**
   * Runs a password hash for `asker` through the gate; a value of undefined if the asker went
   * away (`signal` aborted) while waiting its turn. It goes ahead of others if its address has
   * no wrong guess on record and no other hash in the gate: one turn ahead per address, so that
   * many connections from one fresh address cannot fill the queue's front.
   */
  async #hash<T>(
    asker: Asker,
    work: () => Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<Gated<T | undefined>> {
    const inGate = this.#hashing.get(asker.ip) ?? 0;
    const ahead = inGate === 0 && this.#throttle.penalty(asker.ip, performance.now()) === 0;
    this.#hashing.set(asker.ip, inGate + 1);
    try {
      return await this.#gate.run(
        () => signal?.aborted ? Promise.resolve(undefined) : work(),
        ahead,
      );
    } finally {
      const left = this.#hashing.get(asker.ip)! - 1;
      if (left === 0) this.#hashing.delete(asker.ip);
      else this.#hashing.set(asker.ip, left);
    }
  }

  /**
   * The refusal when the gate is full: at once, unless the address has been guessing wrong;
   * then after its penalty (not counted as another wrong guess), so that guessers who retry
   * the moment they are refused do not spin, and leave turns free for everyone else.
   */
  async #busy(asker: Asker): Promise<Refusal> {
    const wait = this.#throttle.penalty(asker.ip, performance.now());
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    return BUSY;
  }

  async #wrong(asker: Asker, refusal: Refusal): Promise<Refusal> {
    const now = performance.now();
    const wait = this.#throttle.penalty(asker.ip, now);
    this.#throttle.fail(asker.ip, now);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    return refusal;
  }
}

/** 16 random bytes in hex: not guessable, and easy to copy. */
function newToken(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(16)),
    (byte) => byte.toString(16).padStart(2, "0"),
  ).join("");
}
