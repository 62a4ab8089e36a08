/** A histogram in a form that survives IPC and JSON. */
export interface HistogramSnapshot {
  count: number;
  sum: number;
  min: number;
  max: number;
  negative: number;
  /** Sparse bucket counts: [bucket index, count] pairs. */
  buckets: Array<[number, number]>;
}

const LINEAR_LIMIT = 1000;
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);

/**
 * A mergeable histogram of non-negative values, such as freshness in ms or
 * events per batch. Values below LINEAR_LIMIT land in buckets of width 1,
 * which is exact for integers. Larger values land in buckets that grow by
 * 1 %, so a percentile read from them is within 1 % of the exact value. The
 * exact minimum and maximum are kept apart. Negative values (clock steps)
 * count in `negative` and are recorded as 0.
 */
export class Histogram {
  private readonly counts = new Map<number, number>();
  private count = 0;
  private sum = 0;
  private min = Number.POSITIVE_INFINITY;
  private max = Number.NEGATIVE_INFINITY;
  private negative = 0;

  record(value: number): void {
    if (!Number.isFinite(value)) return;

    if (value < 0) this.negative += 1;
    const clamped = Math.max(0, value);
    const bucket = bucketOf(clamped);
    this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + 1);

    this.count += 1;
    this.sum += clamped;
    if (clamped < this.min) this.min = clamped;
    if (clamped > this.max) this.max = clamped;
  }

  merge(snapshot: HistogramSnapshot): void {
    if (snapshot.count === 0) return;

    for (const [bucket, count] of snapshot.buckets) {
      this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + count);
    }
    this.count += snapshot.count;
    this.sum += snapshot.sum;
    this.negative += snapshot.negative;
    this.min = Math.min(this.min, snapshot.min);
    this.max = Math.max(this.max, snapshot.max);
  }

  get size(): number {
    return this.count;
  }

  /**
   * Returns the value at quantile `q` (0 to 1): the bucket's value below
   * LINEAR_LIMIT, else the upper bound of its bucket capped at the exact
   * maximum. Undefined when empty.
   */
  quantile(q: number): number | undefined {
    if (this.count === 0) return undefined;

    const rank = Math.max(1, Math.ceil(q * this.count));
    const ordered = [...this.counts.entries()].sort((a, b) => a[0] - b[0]);
    let seen = 0;
    for (const [bucket, count] of ordered) {
      seen += count;
      if (seen >= rank) return Math.min(upperBoundOf(bucket), this.max);
    }
    return this.max;
  }

  summary(): { count: number; mean?: number; p50?: number; p90?: number; p99?: number; max?: number; negative: number } {
    if (this.count === 0) return { count: 0, negative: 0 };

    return {
      count: this.count,
      mean: round(this.sum / this.count),
      p50: round(this.quantile(0.5) ?? 0),
      p90: round(this.quantile(0.9) ?? 0),
      p99: round(this.quantile(0.99) ?? 0),
      max: round(this.max),
      negative: this.negative,
    };
  }

  snapshot(): HistogramSnapshot {
    return {
      count: this.count,
      sum: this.sum,
      min: this.count === 0 ? 0 : this.min,
      max: this.count === 0 ? 0 : this.max,
      negative: this.negative,
      buckets: [...this.counts.entries()],
    };
  }
}

function bucketOf(value: number): number {
  if (value < LINEAR_LIMIT) return Math.floor(value);
  return LINEAR_LIMIT + Math.floor(Math.log(value / LINEAR_LIMIT) / LOG_GROWTH);
}

function upperBoundOf(bucket: number): number {
  if (bucket < LINEAR_LIMIT) return bucket;
  return LINEAR_LIMIT * GROWTH ** (bucket - LINEAR_LIMIT + 1);
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
