// Flood control: a token bucket per connection. It holds up to `burst` tokens and gains `rate`
// a second; each frame takes one. Refilled lazily from the clock, so it costs no timer.

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

  /** Takes a token if there is one; `now` is in milliseconds. */
  take(now: number): boolean {
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#last) * this.#rate / 1000);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Milliseconds until a token will be there, as of the last {@linkcode take}. */
  get wait(): number {
    return Math.max(0, (1 - this.#tokens) * 1000 / this.#rate);
  }
}
