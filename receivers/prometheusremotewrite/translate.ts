/**
 * A decoded remote-write request → pdata metrics, built straight from the
 * decoder's callbacks (no intermediate series objects).
 *
 * Prometheus names and labels are kept intact: the metric name is the
 * `__name__` label, every other label (including `job` and `instance`) is a
 * data point attribute. `job` and `instance` also become the resource's
 * `service.name` and `service.instance.id`, so the `ServiceName` column and
 * OTel-minded queries work; one ResourceMetrics per (job, instance).
 *
 * Types, from the series' 2.0 metadata, else from 1.0 `MetricMetadata` (of
 * this request or remembered from earlier ones — Prometheus sends metadata
 * in requests of its own), else from the name:
 *
 * | Prometheus                                   | stored as                                   |
 * |----------------------------------------------|---------------------------------------------|
 * | counter; `_bucket`/`_sum`/`_count` of a histogram or summary | monotonic cumulative sum (`otel_metrics_sum`) |
 * | gauge, unknown, info, stateset, summary quantiles | gauge (`otel_metrics_gauge`)            |
 * | no metadata: name ends in `_total`, or `_bucket` with an `le` label | monotonic cumulative sum |
 * | no metadata: anything else                   | gauge                                       |
 * | native histogram (schema -4..8)              | exponential histogram                       |
 * | native histogram with custom buckets (-53)   | explicit-bucket histogram                   |
 *
 * Help and unit go to the metric's description and unit; a 2.0 created
 * timestamp to the points' start time. A stale marker is stored as NaN with
 * the "no recorded value" flag. Exemplars attach to the series' last point,
 * with `trace_id`/`span_id` labels as the exemplar's trace and span ids.
 */
import {
  AggregationTemporality,
  type Attributes,
  type DataPointBase,
  type Exemplar as OtelExemplar,
  type ExponentialHistogramDataPoint,
  type HistogramDataPoint,
  type Metric,
  type Metrics,
  type NumberDataPoint,
  type ResourceMetrics,
} from '../../pipeline/pdata';
import {
  CUSTOM_BUCKETS_SCHEMA,
  PromDecodeError,
  PromMetricType,
  type BucketSpan,
  type Exemplar,
  type MetricMetadata,
  type NativeHistogram,
  type WriteRequestVisitor,
} from '../../pipeline/prometheus/prompb';

/** Instrumentation scope of the metrics this receiver produces. */
export const SCOPE_NAME = 'metaflow/prometheusremotewrite';

/** Largest number of buckets one native histogram may expand to. */
const MAX_BUCKETS = 16384;

/** What a family's metadata says. */
interface FamilyInfo {
  type: number;
  help: string;
  unit: string;
}

/**
 * Metric-family metadata remembered across requests, bounded: the oldest
 * family is forgotten when full (and counted). `version` changes whenever
 * what is remembered changes, so cached series know to look again.
 */
export class FamilyCache {
  private readonly map = new Map<string, FamilyInfo>();
  /** Families forgotten to make room. */
  evicted = 0;
  version = 0;

  constructor(readonly limit: number) {}

  set(md: MetricMetadata): void {
    if (!md.metricFamilyName || this.limit === 0) return;
    const old = this.map.get(md.metricFamilyName);
    // Prometheus resends the same metadata every minute: only a change counts.
    if (old && old.type === md.type && old.help === md.help && old.unit === md.unit) return;
    if (old) this.map.delete(md.metricFamilyName);
    else if (this.map.size >= this.limit) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
      this.evicted++;
    }
    this.map.set(md.metricFamilyName, { type: md.type, help: md.help, unit: md.unit });
    this.version++;
  }

  get(name: string): FamilyInfo | undefined {
    return this.map.get(name);
  }

  get size(): number {
    return this.map.size;
  }
}

/** How the points of one metric name are stored. */
interface Kind {
  counter: boolean;
  help: string;
  unit: string;
}

const SUFFIXES = ['_total', '_bucket', '_count', '_sum', '_created'];

/** The family metadata of a series name: its own, or its family's (`foo` for `foo_bucket`). */
function familyOf(cache: FamilyCache, name: string): { info: FamilyInfo; suffix: string } | undefined {
  const own = cache.get(name);
  if (own) return { info: own, suffix: '' };
  for (const s of SUFFIXES) {
    if (name.endsWith(s)) {
      const info = cache.get(name.slice(0, -s.length));
      if (info) return { info, suffix: s };
    }
  }
  return undefined;
}

function kindFromType(type: number, suffix: string, help: string, unit: string): Kind | undefined {
  switch (type) {
    case PromMetricType.COUNTER:
      return { counter: true, help, unit };
    case PromMetricType.HISTOGRAM:
    case PromMetricType.SUMMARY:
      return { counter: suffix === '_bucket' || suffix === '_count' || suffix === '_sum' || suffix === '_created', help, unit };
    case PromMetricType.UNKNOWN:
      return undefined;
    default:
      return { counter: false, help, unit };
  }
}

/** The kind of a series without its own (2.0) metadata: from remembered metadata, else from the name. */
function kindByName(families: FamilyCache, name: string, hasLe: boolean): Kind {
  const fam = familyOf(families, name);
  const k = fam ? kindFromType(fam.info.type, fam.suffix, fam.info.help, fam.info.unit) : undefined;
  return k ?? { counter: name.endsWith('_total') || (name.endsWith('_bucket') && hasLe), help: fam?.info.help ?? '', unit: fam?.info.unit ?? '' };
}

// See pipeline/otlp/decode.ts: objects from a constructor get room for all
// their properties up front, which makes 10-label attribute sets much cheaper.
const LabelAttributes = function LabelAttributes(): void {} as unknown as new () => Attributes;
LabelAttributes.prototype = Object.prototype;

/**
 * A (job, instance) pair: the resource its series go to. Slots are interned
 * once and carry the ResourceMetrics of the request being built (`req`), so
 * a series finds its resource and metric without a map lookup.
 */
interface ResourceSlot {
  job: string;
  instance: string;
  req: number;
  rm: ResourceMetrics | undefined;
  metrics: Map<string, MetricSlot>;
}

/** A metric (name and kind) of a resource, with the Metric of the request being built. */
interface MetricSlot {
  req: number;
  metric: Metric | undefined;
}

/** A series seen before: its decoded labels, resource and metric slots. */
interface SeriesEntry {
  /** The raw label bytes, compared on every hit (the key is only a hash). */
  bytes: DataView;
  next: SeriesEntry | undefined;
  name: string;
  attrs: Attributes;
  res: ResourceSlot;
  /** Float-sample metric slot and the family-cache version it was chosen under. */
  slot: MetricSlot | undefined;
  kind: Kind | undefined;
  familyVersion: number;
  hasLe: boolean;
}

/** Hash of a byte range, 4 bytes a step (collisions are resolved by comparing the bytes). */
function hashBytes(view: DataView, start: number, end: number): number {
  let h = 0x811c9dc5 ^ (end - start);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    h = Math.imul(h ^ view.getInt32(i, true), 0x01000193);
    h ^= h >>> 15;
  }
  for (; i < end; i++) h = Math.imul(h ^ view.getUint8(i), 0x01000193);
  return h >>> 0;
}

/**
 * Whether `len` bytes at `start` of `view` equal `entry`, compared 4 bytes a
 * step in JavaScript (a native Buffer#compare call costs more than the
 * comparison for label sets of a few hundred bytes).
 */
function sameBytes(view: DataView, start: number, entry: DataView, len: number): boolean {
  let i = 0;
  for (; i + 4 <= len; i += 4) if (view.getInt32(start + i, true) !== entry.getInt32(i, true)) return false;
  for (; i < len; i++) if (view.getUint8(start + i) !== entry.getUint8(i)) return false;
  return true;
}

/** A DataView over a copy of `buf[start, end)` (the cache must not pin the request buffer). */
function copyView(buf: Buffer, start: number, end: number): DataView {
  const copy = new Uint8Array(end - start);
  copy.set(buf.subarray(start, end));
  return new DataView(copy.buffer);
}

/**
 * State shared by all requests of one receiver: the series cache and the
 * interned resource slots, both bounded.
 *
 * Prometheus sends every series again on every scrape, with the same label
 * bytes; decoding ten labels costs several times more than hashing and
 * comparing their bytes, so a series seen before skips label decoding and
 * reuses its attribute object (data is read-only downstream; the graph gives
 * a copy to any consumer that mutates). The cache keeps two generations of
 * at most `limit / 2` series each: a full current generation becomes the
 * previous one, and series used since move back — an LRU approximation with
 * O(1) work and a hard bound.
 */
export class SeriesCache {
  private cur = new Map<number, SeriesEntry>();
  private prev = new Map<number, SeriesEntry>();
  private curSize = 0;
  private resources = new Map<string, Map<string, ResourceSlot>>();
  private resourceCount = 0;
  /** Lookups that found the series, and series dropped by rotations. */
  hits = 0;
  misses = 0;
  evicted = 0;
  /** The id of the request being built (slots compare against it). */
  req = 0;

  constructor(readonly limit: number) {}

  get size(): number {
    return this.curSize + this.prev.size;
  }

  find(view: DataView, start: number, end: number, hash: number): SeriesEntry | undefined {
    if (this.limit === 0) return undefined;
    const len = end - start;
    for (let e = this.cur.get(hash); e; e = e.next) {
      if (e.bytes.byteLength === len && sameBytes(view, start, e.bytes, len)) {
        this.hits++;
        return e;
      }
    }
    for (let e = this.prev.get(hash); e; e = e.next) {
      if (e.bytes.byteLength === len && sameBytes(view, start, e.bytes, len)) {
        this.hits++;
        // Used again: move it into the current generation.
        this.add(hash, { ...e, next: undefined });
        return this.cur.get(hash) as SeriesEntry;
      }
    }
    this.misses++;
    return undefined;
  }

  add(hash: number, entry: SeriesEntry): void {
    if (this.limit === 0) return;
    if (this.curSize >= this.limit >> 1) {
      this.evicted += this.prev.size;
      this.prev = this.cur;
      this.cur = new Map();
      this.curSize = 0;
    }
    entry.next = this.cur.get(hash);
    this.cur.set(hash, entry);
    this.curSize++;
  }

  /** The interned slot of (job, instance); the slot table is bounded like the series. */
  resource(job: string, instance: string): ResourceSlot {
    let byInstance = this.resources.get(job);
    let slot = byInstance?.get(instance);
    if (slot) return slot;
    if (this.resourceCount >= Math.max(1024, this.limit)) {
      // Rare (more targets than series we cache): start over; cached series keep their own slots.
      this.resources = new Map();
      this.resourceCount = 0;
      byInstance = undefined;
    }
    if (!byInstance) {
      byInstance = new Map();
      this.resources.set(job, byInstance);
    }
    slot = { job, instance, req: -1, rm: undefined, metrics: new Map() };
    byInstance.set(instance, slot);
    this.resourceCount++;
    return slot;
  }
}

/**
 * The exemplars of points that have none: one shared, frozen empty list
 * (data is read-only downstream), not an allocation per sample.
 */
const NO_EXEMPLARS = Object.freeze([]) as unknown as OtelExemplar[];

/** Builds pdata from decoder callbacks; one instance per request. */
export class WriteBuilder implements WriteRequestVisitor {
  /** Float samples, histogram samples and exemplars taken. */
  samples = 0;
  histograms = 0;
  exemplars = 0;

  private readonly out: Metrics = { resourceMetrics: [] };
  private readonly req: number;

  // The series being decoded.
  private name = '';
  private job = '';
  private instance = '';
  private hasLe = false;
  private attrs: Attributes = new LabelAttributes();
  /** The attribute object labels are decoded into (this.attrs points elsewhere after a cache hit). */
  private spare: Attributes = this.attrs;
  private cached: SeriesEntry | undefined;
  /** A cache miss to record at the end of the series: where its label bytes were. */
  private missBuf: Buffer | undefined;
  /** A DataView of the request buffer (hashing and comparing read 4 bytes at a time). */
  private viewOf: Buffer | undefined;
  private view: DataView = new DataView(new ArrayBuffer(0));
  private missStart = 0;
  private missEnd = 0;
  private missHash = 0;
  // Samples of the current series: `n` entries of reused arrays (no per-series allocation).
  private n = 0;
  private readonly values: number[] = [];
  private readonly times: number[] = [];
  private readonly stales: boolean[] = [];
  private readonly hists: NativeHistogram[] = [];
  private readonly exs: Exemplar[] = [];
  private mdType = -1;
  private mdHelp = '';
  private mdUnit = '';
  private created = 0;

  // Milliseconds → nanoseconds bigint, cached: a request's samples mostly share timestamps.
  private lastMs = NaN;
  private lastNs = 0n;

  constructor(
    private readonly families: FamilyCache,
    private readonly cache: SeriesCache = new SeriesCache(0),
  ) {
    this.req = ++cache.req;
  }

  metadata(md: MetricMetadata): void {
    this.families.set(md);
  }

  labelBytes(buf: Buffer, start: number, end: number): boolean {
    if (buf !== this.viewOf) {
      this.viewOf = buf;
      this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    const hash = hashBytes(this.view, start, end);
    const e = this.cache.find(this.view, start, end, hash);
    if (e) {
      this.cached = e;
      this.name = e.name;
      this.attrs = e.attrs;
      this.job = e.res.job;
      this.instance = e.res.instance;
      this.hasLe = e.hasLe;
      return true;
    }
    if (this.cache.limit > 0) {
      this.missBuf = buf;
      this.missStart = start;
      this.missEnd = end;
      this.missHash = hash;
    }
    return false;
  }

  label(name: string, value: string): void {
    if (this.cached) {
      // More labels after a cached run (unusual field order): stop sharing the cached set.
      const own = new LabelAttributes();
      Object.assign(own, this.cached.attrs);
      this.attrs = this.spare = own;
      this.cached = undefined;
    }
    if (name === '__name__') {
      this.name = value;
      return;
    }
    if (name === 'job') this.job = value;
    else if (name === 'instance') this.instance = value;
    else if (name === 'le') this.hasLe = true;
    if (name === '__proto__') Object.defineProperty(this.attrs, name, { value, enumerable: true, writable: true, configurable: true });
    else this.attrs[name] = value;
  }

  sample(value: number, timestampMs: number, stale: boolean): void {
    const i = this.n++;
    this.values[i] = value;
    this.times[i] = timestampMs;
    this.stales[i] = stale;
  }

  histogram(h: NativeHistogram): void {
    this.hists.push(h);
  }

  exemplar(e: Exemplar): void {
    this.exs.push(e);
  }

  seriesMetadata(type: number, help: string, unit: string): void {
    this.mdType = type;
    this.mdHelp = help;
    this.mdUnit = unit;
  }

  createdTimestamp(ms: number): void {
    this.created = ms;
  }

  endSeries(): void {
    const n = this.n;
    const used = n > 0 || this.hists.length > 0;
    if (used) {
      if (this.name === '') throw new PromDecodeError('a series has samples but no __name__ label');
      let entry = this.cached;
      if (!entry && this.missBuf) {
        entry = {
          bytes: copyView(this.missBuf, this.missStart, this.missEnd),
          next: undefined,
          name: this.name,
          attrs: this.attrs,
          res: this.cache.resource(this.job, this.instance),
          slot: undefined,
          kind: undefined,
          familyVersion: -1,
          hasLe: this.hasLe,
        };
        this.cache.add(this.missHash, entry);
      }
      const res = entry ? entry.res : this.cache.resource(this.job, this.instance);
      const rm = this.resourceMetrics(res);
      let last: DataPointBase | undefined;
      if (n > 0) last = this.floatPoints(res, rm, entry);
      if (this.hists.length > 0) last = this.histogramPoints(res, rm);
      if (last && this.exs.length) {
        last.exemplars = this.exs.map((e) => this.toExemplar(e));
        this.exemplars += this.exs.length;
      }
    }
    this.name = '';
    this.job = '';
    this.instance = '';
    this.hasLe = false;
    // A cached series used the entry's attribute object; an unused decoded one is kept for the next series.
    if (this.cached !== undefined) this.attrs = this.spare;
    else if (used) this.attrs = this.spare = new LabelAttributes();
    else for (const k in this.attrs) delete this.attrs[k];
    this.cached = undefined;
    this.missBuf = undefined;
    this.n = 0;
    this.hists.length = 0;
    this.exs.length = 0;
    this.mdType = -1;
    this.mdHelp = '';
    this.mdUnit = '';
    this.created = 0;
  }

  /** The metrics built so far. */
  result(): Metrics {
    return this.out;
  }

  /** Data points built (samples + histogram samples). */
  get points(): number {
    return this.samples + this.histograms;
  }

  private ns(ms: number): bigint {
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.lastNs = BigInt(ms) * 1000000n;
    }
    return this.lastNs;
  }

  /** The ResourceMetrics of a slot in this request, created on first use. */
  private resourceMetrics(res: ResourceSlot): ResourceMetrics {
    if (res.req === this.req && res.rm) return res.rm;
    const attributes: Attributes = {};
    if (res.job) attributes['service.name'] = res.job;
    if (res.instance) attributes['service.instance.id'] = res.instance;
    const rm: ResourceMetrics = {
      resource: { attributes, droppedAttributesCount: 0 },
      scopeMetrics: [{ scope: { name: SCOPE_NAME, version: '', attributes: {}, droppedAttributesCount: 0 }, metrics: [], schemaUrl: '' }],
      schemaUrl: '',
    };
    res.req = this.req;
    res.rm = rm;
    this.out.resourceMetrics.push(rm);
    return rm;
  }

  /** The metric slot of (resource, key), interned. */
  private slot(res: ResourceSlot, key: string): MetricSlot {
    let s = res.metrics.get(key);
    if (!s) {
      s = { req: -1, metric: undefined };
      // Bounded by the number of metric names a target exposes; a target with absurdly many starts over.
      if (res.metrics.size >= 100000) res.metrics.clear();
      res.metrics.set(key, s);
    }
    return s;
  }

  /** The Metric of a slot in this request, created on first use. */
  private metricOf(slot: MetricSlot, rm: ResourceMetrics, make: () => Metric): Metric {
    if (slot.req === this.req && slot.metric) return slot.metric;
    const m = make();
    slot.req = this.req;
    slot.metric = m;
    rm.scopeMetrics[0].metrics.push(m);
    return m;
  }

  private floatPoints(res: ResourceSlot, rm: ResourceMetrics, entry: SeriesEntry | undefined): DataPointBase {
    const name = this.name;
    let k: Kind | undefined;
    let slot: MetricSlot;
    if (this.mdType >= 0) {
      const suffix = SUFFIXES.find((x) => name.endsWith(x)) ?? '';
      k = kindFromType(this.mdType, suffix, this.mdHelp, this.mdUnit);
    }
    if (k) {
      slot = this.slot(res, (k.counter ? 'c' : 'g') + name);
    } else if (entry && entry.kind && entry.slot && entry.familyVersion === this.families.version) {
      k = entry.kind;
      slot = entry.slot;
    } else {
      k = kindByName(this.families, name, this.hasLe);
      slot = this.slot(res, (k.counter ? 'c' : 'g') + name);
      if (entry) {
        entry.kind = k;
        entry.slot = slot;
        entry.familyVersion = this.families.version;
      }
    }
    const kind = k;
    const m = this.metricOf(slot, rm, () => ({
      name,
      description: kind.help,
      unit: kind.unit,
      metadata: {},
      data: kind.counter
        ? { type: 'sum', dataPoints: [], aggregationTemporality: AggregationTemporality.CUMULATIVE, isMonotonic: true }
        : { type: 'gauge', dataPoints: [] },
    }));
    const points = (m.data as { dataPoints: NumberDataPoint[] }).dataPoints;
    const start = this.created > 0 ? this.ns(this.created) : 0n;
    let dp: NumberDataPoint | undefined;
    for (let i = 0; i < this.n; i++) {
      dp = {
        attributes: this.attrs,
        startTimeUnixNano: start,
        timeUnixNano: this.ns(this.times[i]),
        exemplars: NO_EXEMPLARS,
        flags: this.stales[i] ? 1 : 0,
        value: this.values[i],
        isInt: false,
      };
      points.push(dp);
    }
    this.samples += this.n;
    return dp as NumberDataPoint;
  }

/** The current series' cumulative (exponential) histogram metric of this request, created on first use. */
  private histogramMetric(res: ResourceSlot, rm: ResourceMetrics, type: 'histogram' | 'exponentialHistogram', help: string, unit: string): Metric {
    const name = this.name;
    return this.metricOf(this.slot(res, (type === 'histogram' ? 'h' : 'e') + name), rm, () => ({
      name,
      description: help,
      unit,
      metadata: {},
      data: { type, dataPoints: [], aggregationTemporality: AggregationTemporality.CUMULATIVE },
    }));
  }

  private histogramPoints(res: ResourceSlot, rm: ResourceMetrics): DataPointBase {
    const name = this.name;
    const fam = this.mdType >= 0 ? undefined : familyOf(this.families, name)?.info;
    const help = this.mdType >= 0 ? this.mdHelp : (fam?.help ?? '');
    const unit = this.mdType >= 0 ? this.mdUnit : (fam?.unit ?? '');
    const start = this.created > 0 ? this.ns(this.created) : 0n;
    let last: DataPointBase | undefined;
    for (const h of this.hists) {
      if (h.schema === CUSTOM_BUCKETS_SCHEMA) {
        const m = this.histogramMetric(res, rm, 'histogram', help, unit);
        const dp = customBucketsPoint(h, this.attrs, start, this.ns(h.timestamp));
        (m.data as { dataPoints: HistogramDataPoint[] }).dataPoints.push(dp);
        last = dp;
      } else {
        if (h.schema < -4 || h.schema > 8) throw new PromDecodeError(`native histogram schema ${h.schema} is not supported (expected -4..8 or -53)`);
        const m = this.histogramMetric(res, rm, 'exponentialHistogram', help, unit);
        const dp = exponentialPoint(h, this.attrs, start, this.ns(h.timestamp));
        (m.data as { dataPoints: ExponentialHistogramDataPoint[] }).dataPoints.push(dp);
        last = dp;
      }
    }
    this.histograms += this.hists.length;
    return last as DataPointBase;
  }

  private toExemplar(e: Exemplar): OtelExemplar {
    const filtered: Attributes = {};
    let traceId = '';
    let spanId = '';
    for (const l of e.labels) {
      if (l.name === 'trace_id' && /^[0-9a-fA-F]{32}$/.test(l.value)) traceId = l.value.toLowerCase();
      else if (l.name === 'span_id' && /^[0-9a-fA-F]{16}$/.test(l.value)) spanId = l.value.toLowerCase();
      else if (l.name !== '__proto__') filtered[l.name] = l.value;
    }
    return { filteredAttributes: filtered, timeUnixNano: this.ns(e.timestamp), value: e.value, isInt: false, spanId, traceId };
  }
}

/**
 * Expands sparse spans and deltas (integer histograms) or absolute counts
 * (float histograms) into a dense list starting at the first span's index.
 */
function expand(spans: readonly BucketSpan[], deltas: readonly number[], counts: readonly number[], isFloat: boolean): { start: number; buckets: number[] } {
  const out: number[] = [];
  let start = 0;
  let pos = 0;
  let cur = 0;
  const values = isFloat ? counts : deltas;
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i];
    if (i === 0) start = s.offset;
    else {
      if (s.offset < 0) throw new PromDecodeError(`native histogram span ${i} has a negative gap (${s.offset})`);
      if (out.length + s.offset > MAX_BUCKETS) throw new PromDecodeError(`native histogram expands to more than ${MAX_BUCKETS} buckets`);
      for (let g = 0; g < s.offset; g++) out.push(0);
    }
    if (out.length + s.length > MAX_BUCKETS) throw new PromDecodeError(`native histogram expands to more than ${MAX_BUCKETS} buckets`);
    for (let j = 0; j < s.length; j++) {
      if (pos >= values.length) throw new PromDecodeError('native histogram spans describe more buckets than it has counts');
      cur = isFloat ? values[pos] : cur + values[pos];
      out.push(cur);
      pos++;
    }
  }
  if (pos !== values.length) throw new PromDecodeError('native histogram has more bucket counts than its spans describe');
  return { start, buckets: out };
}

function exponentialPoint(h: NativeHistogram, attributes: Attributes, start: bigint, time: bigint): ExponentialHistogramDataPoint {
  const pos = expand(h.positiveSpans, h.positiveDeltas, h.positiveCounts, h.isFloat);
  const neg = expand(h.negativeSpans, h.negativeDeltas, h.negativeCounts, h.isFloat);
  // Prometheus bucket i is (base^(i-1), base^i]; OpenTelemetry's i is (base^i, base^(i+1)].
  return {
    attributes,
    startTimeUnixNano: start,
    timeUnixNano: time,
    exemplars: [],
    flags: 0,
    count: h.count,
    sum: h.sum,
    scale: h.schema,
    zeroCount: h.zeroCount,
    positive: { offset: pos.start - 1, bucketCounts: pos.buckets },
    negative: { offset: neg.start - 1, bucketCounts: neg.buckets },
    zeroThreshold: h.zeroThreshold,
  };
}

function customBucketsPoint(h: NativeHistogram, attributes: Attributes, start: bigint, time: bigint): HistogramDataPoint {
  const bounds = h.customValues;
  const pos = expand(h.positiveSpans, h.positiveDeltas, h.positiveCounts, h.isFloat);
  if (pos.start < 0 || pos.start + pos.buckets.length > bounds.length + 1) {
    throw new PromDecodeError(`custom-bucket histogram refers to bucket ${pos.start + pos.buckets.length - 1} of ${bounds.length + 1}`);
  }
  const counts = new Array<number>(bounds.length + 1).fill(0);
  for (let i = 0; i < pos.buckets.length; i++) counts[pos.start + i] = pos.buckets[i];
  return {
    attributes,
    startTimeUnixNano: start,
    timeUnixNano: time,
    exemplars: [],
    flags: 0,
    count: h.count,
    sum: h.sum,
    bucketCounts: counts,
    explicitBounds: bounds.slice(),
  };
}
