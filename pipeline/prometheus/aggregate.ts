/**
 * Histogram accumulators shared by the connectors that turn spans into
 * metrics (redmetrics, servicegraph): explicit buckets and base-2
 * exponential buckets as the OpenTelemetry data model defines them.
 *
 * Explicit: bucket `i` holds values in `(bounds[i-1], bounds[i]]`, the last
 * one everything above the last bound. Exponential: at scale `s` the base is
 * `2^(2^-s)` and bucket `i` holds `(base^i, base^(i+1)]`; the accumulator
 * starts at scale 20 and lowers the scale (merging neighbouring buckets)
 * whenever the recorded range would need more than `maxSize` buckets, as the
 * SDKs' base-2 exponential aggregation does. Only non-negative values are
 * recorded (durations); zero goes to the zero bucket.
 */

/** The bucket index of `v` among `bounds` (ascending): the first bound ≥ v, or bounds.length. */
export function bucketIndex(bounds: readonly number[], v: number): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (bounds[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The largest scale the exponential accumulator starts at. */
export const MAX_SCALE = 20;
const MIN_SCALE = -10;

/** A base-2 exponential histogram of non-negative values. */
export class ExpHistogram {
  scale = MAX_SCALE;
  zeroCount = 0;
  /** Index of `counts[0]`. */
  offset = 0;
  counts: number[] = [];

  constructor(readonly maxSize: number) {}

  /** The bucket index of `v` (> 0) at `scale`. */
  static index(v: number, scale: number): number {
    return Math.ceil(Math.log2(v) * 2 ** scale) - 1;
  }

  /** Records `n` observations of `v`. */
  record(v: number, n = 1): void {
    if (!(v > 0)) {
      this.zeroCount += n;
      return;
    }
    let idx = ExpHistogram.index(v, this.scale);
    if (this.counts.length === 0) {
      this.offset = idx;
      this.counts.push(n);
      return;
    }
    const lo = Math.min(this.offset, idx);
    const hi = Math.max(this.offset + this.counts.length - 1, idx);
    if (hi - lo + 1 > this.maxSize) {
      const d = this.shiftNeeded(lo, hi);
      this.downscale(d);
      idx >>= d;
    }
    this.add(idx, n);
  }

  /** Adds `o` into this histogram (lowering either's scale as needed). */
  merge(o: ExpHistogram): void {
    this.zeroCount += o.zeroCount;
    if (o.counts.length === 0) return;
    let other = o;
    if (o.scale > this.scale) {
      other = o.copy();
      other.downscale(o.scale - this.scale);
    } else if (o.scale < this.scale) {
      this.downscale(this.scale - o.scale);
    }
    if (this.counts.length) {
      const lo = Math.min(this.offset, other.offset);
      const hi = Math.max(this.offset + this.counts.length, other.offset + other.counts.length) - 1;
      if (hi - lo + 1 > this.maxSize) {
        const d = this.shiftNeeded(lo, hi);
        this.downscale(d);
        if (other === o) other = o.copy();
        other.downscale(d);
      }
    }
    for (let i = 0; i < other.counts.length; i++) if (other.counts[i]) this.add(other.offset + i, other.counts[i]);
  }

  /** A deep copy. */
  copy(): ExpHistogram {
    const c = new ExpHistogram(this.maxSize);
    c.scale = this.scale;
    c.zeroCount = this.zeroCount;
    c.offset = this.offset;
    c.counts = this.counts.slice();
    return c;
  }

  private shiftNeeded(lo: number, hi: number): number {
    let d = 0;
    while ((hi >> d) - (lo >> d) + 1 > this.maxSize && this.scale - d > MIN_SCALE) d++;
    return d;
  }

  /** Lowers the scale by `d`, merging each 2^d neighbouring buckets. */
  downscale(d: number): void {
    if (d <= 0) return;
    this.scale -= d;
    if (this.counts.length === 0) return;
    const newOffset = this.offset >> d;
    const last = (this.offset + this.counts.length - 1) >> d;
    const out = new Array<number>(last - newOffset + 1).fill(0);
    for (let i = 0; i < this.counts.length; i++) out[((this.offset + i) >> d) - newOffset] += this.counts[i];
    this.offset = newOffset;
    this.counts = out;
  }

  private add(idx: number, n: number): void {
    if (idx < this.offset) {
      const grow = this.offset - idx;
      const out = new Array<number>(grow + this.counts.length).fill(0);
      for (let i = 0; i < this.counts.length; i++) out[grow + i] = this.counts[i];
      this.counts = out;
      this.offset = idx;
    }
    const at = idx - this.offset;
    while (this.counts.length <= at) this.counts.push(0);
    this.counts[at] += n;
  }
}
