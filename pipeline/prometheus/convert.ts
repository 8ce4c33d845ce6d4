/**
 * OpenTelemetry metrics (pdata) → Prometheus samples, shared by the
 * `prometheus` and `prometheusremotewrite` exporters and by remote read.
 *
 * Per the specification's Prometheus compatibility rules (see naming.ts):
 *
 * | OTel                                  | Prometheus                                           |
 * |---------------------------------------|------------------------------------------------------|
 * | gauge                                 | gauge                                                |
 * | monotonic sum (cumulative or delta)   | counter `…_total`                                    |
 * | non-monotonic sum                     | gauge (deltas summed into the current value)         |
 * | histogram                             | `…_bucket{le}` (cumulative counts, `+Inf` last), `…_sum`, `…_count` |
 * | exponential histogram                 | `…_sum` and `…_count` (no buckets: a summary without quantiles) |
 * | summary                               | `…{quantile}`, `…_sum`, `…_count`                    |
 *
 * Delta points are added up into cumulative values per series (the spec's
 * "SHOULD be converted to cumulative"). The state lives in a bounded map owned
 * by the converter: exporters keep one for their lifetime (and expire series
 * not seen for a while), remote read makes one per request. A full map
 * refuses new series and counts them; it never grows past its limit.
 *
 * Labels: `job`/`instance` from the resource (an attribute of the same name
 * wins, so series that came in through remote write keep their labels), all
 * resource attributes with `resource_to_telemetry_conversion`, the point's
 * attributes (label names sanitized; attributes that map to one label name
 * are joined with `;` in key order), then constant labels. Empty values are
 * left out, as Prometheus treats an empty label as absent. A point flagged
 * "no recorded value" becomes the stale marker.
 *
 * RED metrics come at several resolutions (scope attribute
 * `metaflow.resolution`); feeding two resolutions into one cumulative series
 * would count every span twice, so a converter keeps, per metric, the first
 * resolution it sees and skips the others (remote read filters before).
 */
import type {
  Attributes,
  ExponentialHistogramDataPoint,
  HistogramDataPoint,
  Metric,
  Metrics,
  NumberDataPoint,
  SummaryDataPoint,
} from '../pdata';
import { AggregationTemporality, anyValueToString } from '../pdata';
import { formatFloat, jobAndInstance, labelName, metricName, type PromType } from './naming';
import type { Exemplar, Label } from './prompb';
import { RESOLUTION_SCOPE_ATTRIBUTE } from './red';

/** One Prometheus sample produced from a data point. */
export interface PromPoint {
  /** The family (metric) name, e.g. `http_server_duration_milliseconds`. */
  family: string;
  type: PromType;
  help: string;
  /** The Prometheus unit (suffix form), '' when none. */
  unit: string;
  /** The sample's metric name, e.g. `…_bucket`. */
  name: string;
  /** Sorted by name; `__name__` included. Shared with the series state: do not mutate. */
  labels: Label[];
  /** Identity of the series (name and labels). */
  key: string;
  value: number;
  /** Milliseconds since the epoch. */
  timestamp: number;
  stale: boolean;
  exemplars: Exemplar[] | undefined;
}

/** Options of a {@link PromConverter}. */
export interface ConvertOptions {
  /** Add unit and `_total` suffixes (`add_metric_suffixes`). */
  addSuffixes: boolean;
  /** Prefix of every metric name. */
  namespace: string;
  /** Labels added to every series (`const_labels` / `external_labels`). */
  constLabels: Record<string, string>;
  /** Copy every resource attribute to a label (`resource_to_telemetry_conversion`). */
  resourceToLabels: boolean;
  /** Series kept at most; more are refused and counted. */
  maxSeries: number;
  /**
   * For delta series: emit a zero sample at the first point's start time, so
   * that one delta point already makes a counter that `rate()` can use
   * (remote read, which rebuilds counters from stored deltas).
   */
  zeroAtStart?: boolean;
}

/** Accumulated state of one series. */
interface SeriesState {
  labels: Label[];
  value: number;
  /** Histogram bucket counts (non-cumulative) and bounds, for delta histograms. */
  buckets: number[] | undefined;
  bounds: number[] | undefined;
  count: number;
  sum: number;
  lastSeenMs: number;
}

/** Why points were not converted, for counters. */
export interface ConvertDrops {
  /** New series refused because the state map was full. */
  seriesLimit: number;
  /** Points of a second resolution of the same RED metric. */
  otherResolution: number;
  /** Points of types Prometheus cannot represent. */
  unsupported: number;
}

const EMPTY_LABELS: Label[] = [];

/** Converts batches of metrics to Prometheus samples; see the module doc. */
export class PromConverter {
  private readonly state = new Map<string, SeriesState>();
  /** Resolution chosen per metric name (bounded by the number of RED metric names). */
  private readonly resolutionOf = new Map<string, string>();
  readonly drops: ConvertDrops = { seriesLimit: 0, otherResolution: 0, unsupported: 0 };
  private readonly constLabels: Label[];

  constructor(readonly opts: ConvertOptions) {
    this.constLabels = Object.entries(opts.constLabels)
      .filter(([, v]) => v !== '')
      .map(([k, v]) => ({ name: labelName(k), value: v }));
  }

  /** Series currently held. */
  get size(): number {
    return this.state.size;
  }

  /** Forgets series not updated since `beforeMs` (wall clock); returns how many. */
  expire(beforeMs: number): number {
    let n = 0;
    for (const [k, s] of this.state) {
      if (s.lastSeenMs < beforeMs) {
        this.state.delete(k);
        n++;
      }
    }
    return n;
  }

  /** Converts a batch, calling `emit` for every sample (in point order). */
  convert(metrics: Metrics, emit: (p: PromPoint) => void): void {
    const now = Date.now();
    for (const rm of metrics.resourceMetrics) {
      const resLabels = this.resourceLabels(rm.resource.attributes);
      for (const sm of rm.scopeMetrics) {
        const res = sm.scope.attributes[RESOLUTION_SCOPE_ATTRIBUTE];
        for (const m of sm.metrics) {
          if (res !== undefined && res !== null && !this.acceptResolution(m.name, String(res))) {
            if (m.data.type !== 'empty') this.drops.otherResolution += m.data.dataPoints.length;
            continue;
          }
          this.convertMetric(m, resLabels, now, emit);
        }
      }
    }
  }

  private acceptResolution(name: string, res: string): boolean {
    const chosen = this.resolutionOf.get(name);
    if (chosen === undefined) {
      if (this.resolutionOf.size < 10000) this.resolutionOf.set(name, res);
      return true;
    }
    return chosen === res;
  }

  /** job/instance (and optionally every resource attribute) as label pairs. */
  private resourceLabels(resource: Attributes): Label[] {
    const out: Label[] = [];
    const { job, instance } = jobAndInstance(resource);
    if (job) out.push({ name: 'job', value: job });
    if (instance) out.push({ name: 'instance', value: instance });
    if (this.opts.resourceToLabels) {
      for (const k in resource) {
        if (k === 'service.name' || k === 'service.namespace' || k === 'service.instance.id') continue;
        const v = anyValueToString(resource[k]);
        if (v !== '') out.push({ name: labelName(k), value: v });
      }
    }
    return out;
  }

  private convertMetric(m: Metric, resLabels: Label[], now: number, emit: (p: PromPoint) => void): void {
    const d = m.data;
    const o = this.opts;
    switch (d.type) {
      case 'gauge': {
        const type: PromType = m.metadata['prometheus.type'] === 'unknown' ? 'unknown' : 'gauge';
        const family = metricName(m.name, m.unit, type, o.addSuffixes, o.namespace);
        for (const dp of d.dataPoints) this.number(m, family, type, dp, resLabels, false, now, emit);
        return;
      }
      case 'sum': {
        const type: PromType = d.isMonotonic ? 'counter' : 'gauge';
        const family = metricName(m.name, m.unit, type, o.addSuffixes, o.namespace);
        const delta = d.aggregationTemporality === AggregationTemporality.DELTA;
        for (const dp of d.dataPoints) this.number(m, family, type, dp, resLabels, delta, now, emit);
        return;
      }
      case 'histogram': {
        const family = metricName(m.name, m.unit, 'histogram', o.addSuffixes, o.namespace);
        const delta = d.aggregationTemporality === AggregationTemporality.DELTA;
        for (const dp of d.dataPoints) this.histogram(m, family, dp, resLabels, delta, now, emit);
        return;
      }
      case 'exponentialHistogram': {
        const family = metricName(m.name, m.unit, 'summary', o.addSuffixes, o.namespace);
        const delta = d.aggregationTemporality === AggregationTemporality.DELTA;
        for (const dp of d.dataPoints) this.countSum(m, family, dp, resLabels, delta, now, emit);
        return;
      }
      case 'summary': {
        const family = metricName(m.name, m.unit, 'summary', o.addSuffixes, o.namespace);
        for (const dp of d.dataPoints) this.summary(m, family, dp, resLabels, now, emit);
        return;
      }
      default:
        return;
    }
  }

  /** The point's label set (sorted, with `__name__` = `name`), plus extra pairs. */
  private labelsOf(name: string, resLabels: Label[], attrs: Attributes, extra: Label | undefined): Label[] {
    const byName = new Map<string, string>();
    for (const l of resLabels) byName.set(l.name, l.value);
    // Attributes win over resource-derived labels; keys that map to one label
    // name (only possible when some key had to be sanitized) join with ';' in key order.
    let sanitized = false;
    for (const k in attrs) {
      const ln = labelName(k);
      if (ln !== k) {
        sanitized = true;
        break;
      }
      byName.set(k, anyValueToString(attrs[k]));
    }
    if (sanitized) {
      const groups = new Map<string, string[]>();
      for (const k of Object.keys(attrs).sort()) {
        const ln = labelName(k);
        const g = groups.get(ln);
        if (g) g.push(k);
        else groups.set(ln, [k]);
      }
      for (const [ln, ks] of groups) {
        byName.set(
          ln,
          ks
            .map((k) => anyValueToString(attrs[k]))
            .filter((v) => v !== '')
            .join(';'),
        );
      }
    }
    for (const l of this.constLabels) byName.set(l.name, l.value);
    if (extra) byName.set(extra.name, extra.value);
    byName.set('__name__', name);
    const out: Label[] = [];
    for (const [n, v] of byName) if (v !== '') out.push({ name: n, value: v });
    out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return out;
  }

  /** The state of a series, created when there is room. */
  private series(key: string, labels: () => Label[], now: number): SeriesState | undefined {
    let s = this.state.get(key);
    if (s) {
      s.lastSeenMs = now;
      return s;
    }
    if (this.state.size >= this.opts.maxSeries) {
      this.drops.seriesLimit++;
      return undefined;
    }
    s = { labels: labels(), value: 0, buckets: undefined, bounds: undefined, count: 0, sum: 0, lastSeenMs: now };
    this.state.set(key, s);
    return s;
  }

  private key(name: string, resLabels: Label[], attrs: Attributes, extra?: Label): { key: string; labels: Label[] } {
    const labels = this.labelsOf(name, resLabels, attrs, extra);
    let key = '';
    for (const l of labels) key += `${l.name}\u0000${l.value}\u0001`;
    return { key, labels };
  }

  private number(
    m: Metric,
    family: string,
    type: PromType,
    dp: NumberDataPoint,
    resLabels: Label[],
    delta: boolean,
    now: number,
    emit: (p: PromPoint) => void,
  ): void {
    const { key, labels } = this.key(family, resLabels, dp.attributes);
    const s = this.series(key, () => labels, now);
    if (!s) return;
    const ts = nsToMs(dp.timeUnixNano);
    const stale = (dp.flags & 1) === 1;
    const v = typeof dp.value === 'bigint' ? Number(dp.value) : dp.value;
    const exemplars = type === 'counter' ? toExemplars(dp) : undefined;
    if (delta && !stale) {
      if (s.count === 0 && this.opts.zeroAtStart) {
        const start = nsToMs(dp.startTimeUnixNano);
        if (start > 0 && start < ts) emit(point(m, family, type, family, s.labels, key, 0, start, false, undefined));
      }
      s.value += v;
      s.count++;
      emit(point(m, family, type, family, s.labels, key, s.value, ts, false, exemplars));
      return;
    }
    if (!stale) s.value = v;
    emit(point(m, family, type, family, s.labels, key, stale ? NaN : v, ts, stale, exemplars));
  }

  private histogram(
    m: Metric,
    family: string,
    dp: HistogramDataPoint,
    resLabels: Label[],
    delta: boolean,
    now: number,
    emit: (p: PromPoint) => void,
  ): void {
    const { key } = this.key(family, resLabels, dp.attributes);
    const s = this.series(key, () => EMPTY_LABELS, now);
    if (!s) return;
    const ts = nsToMs(dp.timeUnixNano);
    const stale = (dp.flags & 1) === 1;
    const bounds = dp.explicitBounds;
    let counts = dp.bucketCounts;
    let count = dp.count;
    let sum = dp.sum ?? 0;
    if (delta && !stale) {
      const same = s.bounds !== undefined && s.bounds.length === bounds.length && s.bounds.every((b, i) => b === bounds[i]);
      if (!same) {
        // New series, or the bucket layout changed: start accumulating afresh.
        s.bounds = bounds.slice();
        s.buckets = new Array<number>(bounds.length + 1).fill(0);
        s.count = 0;
        s.sum = 0;
        if (this.opts.zeroAtStart) {
          const start = nsToMs(dp.startTimeUnixNano);
          if (start > 0 && start < ts) this.emitHistogram(m, family, resLabels, dp.attributes, bounds, s.buckets, 0, 0, start, false, undefined, emit);
        }
      }
      const acc = s.buckets as number[];
      for (let i = 0; i < acc.length && i < counts.length; i++) acc[i] += counts[i];
      s.count += count;
      s.sum += sum;
      counts = acc;
      count = s.count;
      sum = s.sum;
    }
    this.emitHistogram(m, family, resLabels, dp.attributes, bounds, counts, count, sum, ts, stale, dp, emit);
  }

  private emitHistogram(
    m: Metric,
    family: string,
    resLabels: Label[],
    attrs: Attributes,
    bounds: readonly number[],
    counts: readonly number[],
    count: number,
    sum: number,
    ts: number,
    stale: boolean,
    dp: HistogramDataPoint | undefined,
    emit: (p: PromPoint) => void,
  ): void {
    const exemplars = dp ? toExemplars(dp) : undefined;
    let cumulative = 0;
    for (let i = 0; i <= bounds.length; i++) {
      cumulative += counts[i] ?? 0;
      const le = i < bounds.length ? formatFloat(bounds[i]) : '+Inf';
      const bucketName = `${family}_bucket`;
      const { key, labels } = this.key(bucketName, resLabels, attrs, { name: 'le', value: le });
      const lo = i === 0 ? -Infinity : bounds[i - 1];
      const hi = i < bounds.length ? bounds[i] : Infinity;
      const inBucket = exemplars?.filter((e) => e.value > lo && e.value <= hi);
      emit(point(m, family, 'histogram', bucketName, labels, key, stale ? NaN : cumulative, ts, stale, inBucket?.length ? inBucket : undefined));
    }
    const sumName = `${family}_sum`;
    const s = this.key(sumName, resLabels, attrs);
    emit(point(m, family, 'histogram', sumName, s.labels, s.key, stale ? NaN : sum, ts, stale, undefined));
    const countName = `${family}_count`;
    const c = this.key(countName, resLabels, attrs);
    emit(point(m, family, 'histogram', countName, c.labels, c.key, stale ? NaN : count, ts, stale, undefined));
  }

  private countSum(
    m: Metric,
    family: string,
    dp: ExponentialHistogramDataPoint,
    resLabels: Label[],
    delta: boolean,
    now: number,
    emit: (p: PromPoint) => void,
  ): void {
    const { key } = this.key(family, resLabels, dp.attributes);
    const s = this.series(key, () => EMPTY_LABELS, now);
    if (!s) return;
    const ts = nsToMs(dp.timeUnixNano);
    const stale = (dp.flags & 1) === 1;
    let count = dp.count;
    let sum = dp.sum ?? 0;
    if (delta && !stale) {
      if (s.count === 0 && s.sum === 0 && this.opts.zeroAtStart) {
        const start = nsToMs(dp.startTimeUnixNano);
        if (start > 0 && start < ts) this.emitCountSum(m, family, resLabels, dp.attributes, 0, 0, start, false, emit);
      }
      s.count += count;
      s.sum += sum;
      count = s.count;
      sum = s.sum;
    }
    this.emitCountSum(m, family, resLabels, dp.attributes, count, sum, ts, stale, emit);
  }

  private emitCountSum(m: Metric, family: string, resLabels: Label[], attrs: Attributes, count: number, sum: number, ts: number, stale: boolean, emit: (p: PromPoint) => void): void {
    const sumName = `${family}_sum`;
    const s = this.key(sumName, resLabels, attrs);
    emit(point(m, family, 'summary', sumName, s.labels, s.key, stale ? NaN : sum, ts, stale, undefined));
    const countName = `${family}_count`;
    const c = this.key(countName, resLabels, attrs);
    emit(point(m, family, 'summary', countName, c.labels, c.key, stale ? NaN : count, ts, stale, undefined));
  }

  private summary(m: Metric, family: string, dp: SummaryDataPoint, resLabels: Label[], now: number, emit: (p: PromPoint) => void): void {
    const { key } = this.key(family, resLabels, dp.attributes);
    if (!this.series(key, () => EMPTY_LABELS, now)) return;
    const ts = nsToMs(dp.timeUnixNano);
    const stale = (dp.flags & 1) === 1;
    for (const q of dp.quantileValues) {
      const k = this.key(family, resLabels, dp.attributes, { name: 'quantile', value: formatFloat(q.quantile) });
      emit(point(m, family, 'summary', family, k.labels, k.key, stale ? NaN : q.value, ts, stale, undefined));
    }
    this.emitCountSum(m, family, resLabels, dp.attributes, dp.count, dp.sum, ts, stale, emit);
  }
}

function point(
  m: Metric,
  family: string,
  type: PromType,
  name: string,
  labels: Label[],
  key: string,
  value: number,
  timestamp: number,
  stale: boolean,
  exemplars: Exemplar[] | undefined,
): PromPoint {
  return { family, type, help: m.description, unit: m.unit, name, labels, key, value, timestamp, stale, exemplars };
}

/** Nanoseconds (bigint) → milliseconds (number). */
export function nsToMs(ns: bigint): number {
  return Number(ns / 1000000n);
}

function toExemplars(dp: NumberDataPoint | HistogramDataPoint): Exemplar[] | undefined {
  if (!dp.exemplars.length) return undefined;
  return dp.exemplars.map((e) => {
    const labels: Label[] = [];
    if (e.traceId) labels.push({ name: 'trace_id', value: e.traceId });
    if (e.spanId) labels.push({ name: 'span_id', value: e.spanId });
    for (const k in e.filteredAttributes) {
      const v = anyValueToString(e.filteredAttributes[k]);
      if (v !== '') labels.push({ name: labelName(k), value: v });
    }
    return { labels, value: typeof e.value === 'bigint' ? Number(e.value) : e.value, timestamp: nsToMs(e.timeUnixNano) };
  });
}
