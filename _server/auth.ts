// Passwords: the salted, slow hashes that registered names are kept under, comparisons that
// take the same time however much of a guess is right, and a brake on addresses that keep
// guessing wrong.

/** PBKDF2-SHA-256 rounds for a new hash (OWASP's figure for 2023). */
export const PBKDF2_ITERATIONS = 600_000;

/** A password as stored: never the password itself. */
export interface PasswordHash {
  /** 16 random bytes, new for every hash. */
  salt: Uint8Array;
  /** 32 bytes of PBKDF2-SHA-256 output. */
  hash: Uint8Array;
  iterations: number;
}

const encoder = new TextEncoder();

/** Hashes `password` under a new random salt. */
export async function hashPassword(
  password: string,
  iterations = PBKDF2_ITERATIONS,
): Promise<PasswordHash> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  return { salt, hash: await pbkdf2(password, salt, iterations), iterations };
}

/** Whether `password` is the one `stored` was made from. */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  return constantTimeEqual(await pbkdf2(password, stored.salt, stored.iterations), stored.hash);
}

/** Whether two secrets are equal, in a time that says nothing of how alike they are (both are
 * hashed first, so not even their lengths show). */
export async function sameSecret(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([sha256(given), sha256(expected)]);
  return constantTimeEqual(a, b);
}

/** Compares every byte, whatever the first difference. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

async function pbkdf2(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(password), "PBKDF2", false, [
    "deriveBits",
  ]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: salt as Uint8Array<ArrayBuffer>, iterations },
    key,
    256,
  );
  return new Uint8Array(bits);
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/** What {@linkcode HashGate.run} resolves with: the work's result, or that it was refused. */
export type Gated<T> = { ran: true; value: T } | { ran: false };

/**
 * Bounds the password hashing going on at once, whoever asks: PBKDF2 is slow on purpose, and
 * guesses from many addresses would otherwise take every core from the rest of the server. Up to
 * `concurrency` hashes run; up to `queue` more wait their turn; past that a request is refused
 * at once, without hashing. Requests marked `ahead` (the server's: from addresses with no wrong
 * guesses on record) wait before the others, and when the queue is full take the place of the
 * last waiting one that is not, which is refused instead: guessers cannot keep everyone else
 * from proving their names just by keeping the queue full.
 */
export class HashGate {
  #concurrency: number;
  #queue: number;
  #running = 0;
  /** Waiting turns, those ahead first; each is told whether it runs. */
  #waiting: { ahead: boolean; start: (runs: boolean) => void }[] = [];

  /**
   * @param concurrency How many hashes may run at once.
   * @param queue How many more may wait.
   */
  constructor(concurrency: number, queue: number) {
    this.#concurrency = concurrency;
    this.#queue = queue;
  }

  /** Runs `work` once a turn is free, unless it is refused (see {@linkcode HashGate}). */
  async run<T>(work: () => Promise<T>, ahead = false): Promise<Gated<T>> {
    if (this.#running < this.#concurrency) {
      this.#running++;
    } else {
      if (this.#waiting.length >= this.#queue) {
        const last = this.#waiting.findLastIndex((turn) => !turn.ahead);
        if (!ahead || last === -1) return { ran: false };
        this.#waiting.splice(last, 1)[0]!.start(false);
      }
      const runs = await new Promise<boolean>((start) => {
        const turn = { ahead, start };
        const behind = ahead ? this.#waiting.findIndex((other) => !other.ahead) : -1;
        this.#waiting.splice(behind === -1 ? this.#waiting.length : behind, 0, turn);
      });
      if (!runs) return { ran: false };
    }
    try {
      return { ran: true, value: await work() };
    } finally {
      // A finished hash hands its turn straight to the first waiting, so #running stays counted.
      const next = this.#waiting.shift();
      if (next === undefined) this.#running--;
      else next.start(true);
    }
  }
}

/** How long failures are remembered for an address. */
const FORGET_AFTER_MS = 10 * 60 * 1000;
/** The longest wait before a wrong password is answered. */
const MAX_PENALTY_MS = 8000;

/**
 * Slows down guessing: each wrong password from an address doubles the wait before the next
 * answer to that address (100 ms, 200 ms, … up to 8 s); ten quiet minutes or a right password
 * forgive it.
 */
export class AuthThrottle {
  #failures = new Map<string, { count: number; last: number }>();

  /** Milliseconds to wait before answering `address`'s wrong password. */
  penalty(address: string, now: number): number {
    const record = this.#failures.get(address);
    if (record === undefined || now - record.last > FORGET_AFTER_MS) return 0;
    return Math.min(MAX_PENALTY_MS, 100 * 2 ** (record.count - 1));
  }

  /** Notes a wrong password from `address`. */
  fail(address: string, now: number): void {
    const record = this.#failures.get(address);
    const count = record && now - record.last <= FORGET_AFTER_MS ? record.count + 1 : 1;
    this.#failures.set(address, { count, last: now });
    if (this.#failures.size > 10_000) this.#forgetOld(now);
  }

  /** Forgives `address`. */
  succeed(address: string): void {
    this.#failures.delete(address);
  }

  #forgetOld(now: number): void {
    for (const [address, record] of this.#failures) {
      if (now - record.last > FORGET_AFTER_MS) this.#failures.delete(address);
    }
  }
}
