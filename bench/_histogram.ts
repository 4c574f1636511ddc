// Latencies in microseconds, counted in log-linear buckets (exact below 512 µs, then within
// 0.4%), so that millions of samples cost a few kilobytes and generators' counts can be summed.

const SUB_BITS = 8;
const SUB = 1 << SUB_BITS;
const EXACT = 2 * SUB;
const MAX_VALUE = 2 ** 40;
const BUCKETS = (40 - SUB_BITS + 2) * SUB;

/** A histogram as sent between processes: non-empty buckets as [index, count] pairs. */
export interface HistogramData {
  buckets: [number, number][];
  count: number;
  max: number;
  sum: number;
}

/** Percentiles of a histogram in milliseconds. */
export interface Percentiles {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Counts of values in log-linear buckets. */
export class Histogram {
  #counts = new Float64Array(BUCKETS);
  count = 0;
  max = 0;
  sum = 0;

  /** Counts one value (microseconds; negative values count as 0). */
  record(value: number): void {
    const v = value <= 0 ? 0 : value >= MAX_VALUE ? MAX_VALUE - 1 : Math.round(value);
    this.#counts[bucketOf(v)]!++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  /** Adds another histogram's counts. */
  merge(data: HistogramData): void {
    for (const [index, count] of data.buckets) this.#counts[index]! += count;
    this.count += data.count;
    this.sum += data.sum;
    if (data.max > this.max) this.max = data.max;
  }

  /** Forgets every value. */
  reset(): void {
    this.#counts.fill(0);
    this.count = 0;
    this.max = 0;
    this.sum = 0;
  }

  /** The value (µs) below which a fraction `q` of the values lie. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let index = 0; index < BUCKETS; index++) {
      seen += this.#counts[index]!;
      if (seen >= rank) return Math.min(valueOf(index), this.max);
    }
    return this.max;
  }

  /** p50, p99, max and mean, in milliseconds. */
  percentiles(): Percentiles {
    return {
      count: this.count,
      p50: ms(this.quantile(0.5)),
      p99: ms(this.quantile(0.99)),
      max: ms(this.max),
      mean: ms(this.count === 0 ? 0 : this.sum / this.count),
    };
  }

  /** The histogram as plain data, to send to another process. */
  toJSON(): HistogramData {
    const buckets: [number, number][] = [];
    for (let index = 0; index < BUCKETS; index++) {
      const count = this.#counts[index]!;
      if (count > 0) buckets.push([index, count]);
    }
    return { buckets, count: this.count, max: this.max, sum: this.sum };
  }
}

function bucketOf(value: number): number {
  if (value < EXACT) return value;
  if (value < 2 ** 31) {
    // The common case, in integer arithmetic.
    const shift = 31 - Math.clz32(value) - SUB_BITS;
    return shift * SUB + (value >>> shift);
  }
  const shift = Math.floor(Math.log2(value)) - SUB_BITS;
  return shift * SUB + Math.floor(value / 2 ** shift);
}

/** The middle of a bucket's range. */
function valueOf(index: number): number {
  if (index < EXACT) return index;
  const shift = Math.floor(index / SUB) - 1;
  const mantissa = index - shift * SUB;
  return (mantissa + 0.5) * 2 ** shift;
}

function ms(micros: number): number {
  return Math.round(micros) / 1000;
}
