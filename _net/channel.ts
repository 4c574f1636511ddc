// An unbounded single-consumer queue that is async-iterable: a producer pushes, one consumer
// awaits. Closing ends the iteration once the queue is empty, or throws the closing error there.

/** A queue of values that one consumer iterates as they arrive. */
export class Channel<T> implements AsyncIterable<T> {
  #values: T[] = [];
  /** Index of the next value to hand out: shift() on a long array would be linear. */
  #head = 0;
  #waiting: ((result: IteratorResult<T>) => void) | undefined;
  #failWaiting: ((error: unknown) => void) | undefined;
  #closed = false;
  #error: unknown;

  /** Adds a value; ignored once the channel is closed. */
  push(value: T): void {
    if (this.#closed) return;
    if (this.#waiting) {
      this.#wake({ done: false, value });
    } else {
      this.#values.push(value);
    }
  }

  /** Ends the iteration after the queued values, with `error` thrown at the end if given. */
  close(error?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#error = error;
    if (!this.#waiting) return;
    if (error === undefined) {
      this.#wake({ done: true, value: undefined });
    } else {
      const fail = this.#failWaiting!;
      this.#waiting = this.#failWaiting = undefined;
      fail(error);
    }
  }

  /** Iterates the values; leaving the loop early loses none, so another loop can go on. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    while (true) {
      if (this.#head < this.#values.length) {
        const value = this.#values[this.#head++]!;
        if (this.#head === this.#values.length) {
          this.#values = [];
          this.#head = 0;
        }
        yield value;
        continue;
      }
      if (this.#closed) {
        if (this.#error !== undefined) throw this.#error;
        return;
      }
      const result = await new Promise<IteratorResult<T>>((resolve, reject) => {
        this.#waiting = resolve;
        this.#failWaiting = reject;
      });
      if (result.done) return;
      yield result.value;
    }
  }

  #wake(result: IteratorResult<T>): void {
    const wake = this.#waiting!;
    this.#waiting = this.#failWaiting = undefined;
    wake(result);
  }
}
