// Flood control: token buckets. A bucket holds up to `burst` tokens and gains `rate` a second;
// each frame takes one, and each byte of text to store takes one from a byte bucket. Refilled
// lazily from the clock, so it costs no timer.

/** A token bucket. */
export class TokenBucket {
  #rate: number;
  #burst: number;
  #tokens: number;
  #last: number;

  /** A full bucket: `burst` frames at once, then `rate` a second. */
  constructor(rate: number, burst: number, now: number) {
    this.#rate = rate;
    this.#burst = burst;
    this.#tokens = burst;
    this.#last = now;
  }

  /**
   * Takes `cost` tokens if there are that many; `now` is in milliseconds. A cost above the burst
   * is taken from a full bucket, which it leaves in debt: the rate still holds on average.
   */
  take(now: number, cost = 1): boolean {
    if (!this.has(now, cost)) return false;
    this.#tokens -= cost;
    return true;
  }

  /** Whether {@linkcode take} would take `cost` tokens at `now`; takes none. */
  has(now: number, cost = 1): boolean {
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#last) * this.#rate / 1000);
    this.#last = now;
    return this.#tokens >= Math.min(cost, this.#burst);
  }

  /** The tokens there are at `now`: below 0 while the bucket is in debt. */
  level(now: number): number {
    this.has(now, 0);
    return this.#tokens;
  }

  /** Takes `cost` tokens whether they are there or not: a bucket left in debt pays it back
   * first, out of what it gains. */
  spend(cost: number): void {
    this.#tokens -= cost;
  }

  /** Milliseconds until `cost` tokens will be there, as of the last {@linkcode take}. */
  waitFor(cost = 1): number {
    return Math.max(0, (Math.min(cost, this.#burst) - this.#tokens) * 1000 / this.#rate);
  }

  /** Milliseconds until a token will be there, as of the last {@linkcode take}. */
  get wait(): number {
    return this.waitFor(1);
  }

  /** Whether the bucket is full at `now`: then it is no different from a new one. */
  full(now: number): boolean {
    return this.#tokens + (now - this.#last) * this.#rate / 1000 >= this.#burst;
  }
}
