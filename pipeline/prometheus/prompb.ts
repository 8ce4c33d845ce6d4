/**
 * Hand-written protobuf codecs for the Prometheus wire messages MetaFlow
 * speaks, with field numbers from `prometheus/prompb/*.proto`:
 *
 * - `prometheus.WriteRequest` (remote-write 1.0): `timeseries = 1`,
 *   `metadata = 3`; `TimeSeries { labels = 1; samples = 2; exemplars = 3;
 *   histograms = 4 }`; `Label { name = 1; value = 2 }`; `Sample { value = 1
 *   (double); timestamp = 2 (int64 ms) }`; `Exemplar { labels = 1; value = 2;
 *   timestamp = 3 }`; `MetricMetadata { type = 1; metric_family_name = 2;
 *   help = 4; unit = 5 }`.
 * - `io.prometheus.write.v2.Request` (remote-write 2.0): `symbols = 4`,
 *   `timeseries = 5`; `TimeSeries { labels_refs = 1 (packed uint32);
 *   samples = 2; histograms = 3; exemplars = 4; metadata = 5;
 *   created_timestamp = 6 }`; `Exemplar { labels_refs = 1; value = 2;
 *   timestamp = 3 }`; `Metadata { type = 1; help_ref = 3; unit_ref = 4 }`.
 * - The native `Histogram` shared by both (`count_int = 1`, `count_float = 2`,
 *   `sum = 3`, `schema = 4 (sint32)`, `zero_threshold = 5`, `zero_count_int = 6`,
 *   `zero_count_float = 7`, `negative_spans = 8`, `negative_deltas = 9
 *   (sint64)`, `negative_counts = 10`, `positive_spans = 11`,
 *   `positive_deltas = 12`, `positive_counts = 13`, `reset_hint = 14`,
 *   `timestamp = 15`, `custom_values = 16`) and `BucketSpan { offset = 1
 *   (sint32); length = 2 }`.
 * - Remote read: `ReadRequest { queries = 1; accepted_response_types = 2 }`,
 *   `Query { start_timestamp_ms = 1; end_timestamp_ms = 2; matchers = 3;
 *   hints = 4 }`, `LabelMatcher { type = 1; name = 2; value = 3 }`,
 *   `ReadHints { step_ms = 1; func = 2; start_ms = 3; end_ms = 4 }`,
 *   `ReadResponse { results = 1 }`, `QueryResult { timeseries = 1 }`.
 *
 * Write requests are decoded through a {@link WriteRequestVisitor} instead of
 * into message objects: the receiver builds its own data model straight from
 * the bytes, with no intermediate label or sample objects (STYLE rule 12).
 * Both write decoders read the top level twice — first the parts every
 * series needs (v2 symbols, v1 metadata), then the series — so a sender may
 * put the fields in any order, as protobuf allows.
 *
 * Prometheus marks a series as ended with a "stale" NaN whose bits are
 * exactly 0x7ff0000000000002; a JavaScript NaN cannot be relied on to keep
 * its payload, so staleness travels as a separate flag.
 *
 * Every malformed input ends in a {@link PromDecodeError} (a PermanentError:
 * receivers answer 400 and never retry it).
 */
import { PermanentError } from '../errors';
import { int64Value, OtlpDecodeError, ProtoReader } from '../otlp/protobuf-reader';
import { ProtoWriter } from '../otlp/protobuf-writer';

/** A malformed Prometheus protobuf message. `code` is `PROMPB_DECODE`. */
export class PromDecodeError extends PermanentError {
  constructor(message: string) {
    super(message, { code: 'PROMPB_DECODE' });
  }
}

/** A label (name/value pair). */
export interface Label {
  name: string;
  value: string;
}

/** A float sample. `timestamp` is milliseconds since the epoch. */
export interface Sample {
  value: number;
  timestamp: number;
  /** The Prometheus stale marker (the value is then NaN). */
  stale?: boolean;
}

/** An exemplar of a series. */
export interface Exemplar {
  labels: Label[];
  value: number;
  /** Milliseconds; 0 when not set. */
  timestamp: number;
}

/** A run of consecutive native-histogram buckets. */
export interface BucketSpan {
  /** Gap to the previous span, or the index of the first bucket for the first span. */
  offset: number;
  length: number;
}

/** Prometheus metric types, numbered as in both MetricMetadata enums. */
export const enum PromMetricType {
  UNKNOWN = 0,
  COUNTER = 1,
  GAUGE = 2,
  HISTOGRAM = 3,
  GAUGEHISTOGRAM = 4,
  SUMMARY = 5,
  INFO = 6,
  STATESET = 7,
}

/** `Histogram.reset_hint`. */
export const enum ResetHint {
  UNKNOWN = 0,
  YES = 1,
  NO = 2,
  GAUGE = 3,
}

/** The schema number of native histograms with custom (explicit) bucket bounds. */
export const CUSTOM_BUCKETS_SCHEMA = -53;

/**
 * A native histogram sample. Integer histograms carry `*Deltas` (each
 * bucket's count as a delta to the previous bucket), float histograms
 * `*Counts`; `isFloat` says which. Bucket index `i` of schema `s` covers
 * `(2^(2^-s*(i-1)), 2^(2^-s*i)]`.
 */
export interface NativeHistogram {
  isFloat: boolean;
  count: number;
  sum: number;
  schema: number;
  zeroThreshold: number;
  zeroCount: number;
  negativeSpans: BucketSpan[];
  negativeDeltas: number[];
  negativeCounts: number[];
  positiveSpans: BucketSpan[];
  positiveDeltas: number[];
  positiveCounts: number[];
  resetHint: number;
  timestamp: number;
  customValues: number[];
}

/** One series of a write request or a read response. */
export interface TimeSeries {
  labels: Label[];
  samples: Sample[];
  exemplars?: Exemplar[];
  histograms?: NativeHistogram[];
  /** Remote-write 2.0 only: the series' metadata. */
  metadata?: { type: number; help: string; unit: string };
  /** Remote-write 2.0 only: start of a counter, ms (0 = unknown). */
  createdTimestamp?: number;
}

/** `prometheus.MetricMetadata` (1.0): the type, help and unit of a metric family. */
export interface MetricMetadata {
  type: number;
  metricFamilyName: string;
  help: string;
  unit: string;
}

/** A 1.0 write request as objects (encoders and tests). */
export interface WriteRequest {
  timeseries: TimeSeries[];
  metadata?: MetricMetadata[];
}

/**
 * Receives a decoded write request piece by piece. Per series the calls are:
 * any number of `label`, `sample`, `histogram`, `exemplar` (in wire order,
 * which need not be labels first), at most one `seriesMetadata` and
 * `createdTimestamp` (2.0), then `endSeries`. In 1.0, `metadata` is called for
 * every MetricMetadata before the first series. Strings passed are shared and
 * immutable; exemplar label arrays are fresh.
 */
export interface WriteRequestVisitor {
  metadata(md: MetricMetadata): void;
  label(name: string, value: string): void;
  sample(value: number, timestampMs: number, stale: boolean): void;
  histogram(h: NativeHistogram): void;
  exemplar(e: Exemplar): void;
  seriesMetadata(type: number, help: string, unit: string): void;
  createdTimestamp(ms: number): void;
  endSeries(): void;
  /**
   * 1.0 only, optional: the raw bytes `[start, end)` of the series' leading
   * run of label fields, offered before they are decoded. Returning true
   * means the visitor knows these labels already (e.g. from a cache keyed by
   * the bytes) and the decoder skips them; `label` is then called only for
   * labels that come after other fields, if any.
   */
  labelBytes?(buf: Buffer, start: number, end: number): boolean;
}

// ------------------------------------------------------------ helpers

// Doubles are reassembled from their two 32-bit halves so the stale-marker
// bits can be seen before they become a JavaScript NaN.
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
/** The low and high words of the stale NaN. */
const STALE_LO = 0x00000002;
const STALE_HI = 0x7ff00000;

function toDouble(lo: number, hi: number): number {
  u32[0] = lo;
  u32[1] = hi;
  return f64[0];
}

/** The last decoded double was the stale marker (set by {@link readDouble}). */
let lastStale = false;

function readDouble(r: ProtoReader, what: string): number {
  r.fixed64(what);
  lastStale = r.lo === STALE_LO && r.hi === STALE_HI;
  return toDouble(r.lo, r.hi);
}

function readInt64(r: ProtoReader, what: string): number {
  r.varint64(what);
  return Number(int64Value(r.lo, r.hi));
}

function readSint64(r: ProtoReader, what: string): number {
  r.varint64(what);
  // Zigzag over the two halves: (n >>> 1) ^ -(n & 1), in 64 bits.
  const neg = r.lo & 1;
  const lo = ((r.lo >>> 1) | (r.hi << 31)) >>> 0;
  const hi = r.hi >>> 1;
  const mag = hi * 4294967296 + lo;
  return neg ? -mag - 1 : mag;
}

/** Runs `fn` and turns the shared reader's errors into PromDecodeErrors. */
function guarded<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof OtlpDecodeError) throw new PromDecodeError(err.message);
    throw err;
  }
}

function checkEnd(r: ProtoReader, end: number, what: string): void {
  if (r.pos !== end) r.overrun(end, what);
}

/** Skips an unknown field; groups and invalid wire types are errors. */
function skip(r: ProtoReader, tag: number, end: number, what: string): void {
  if (tag >>> 3 === 0) r.fail('invalid field number 0', what);
  const wt = tag & 7;
  if (wt === 3 || wt === 4) r.fail('unsupported group wire type', what);
  if (wt > 5) r.fail(`invalid wire type ${wt}`, what);
  r.skip(wt, end, what);
}

function readBucketSpan(r: ProtoReader, end: number, what: string): BucketSpan {
  const span: BucketSpan = { offset: 0, length: 0 };
  while (r.pos < end) {
    const tag = r.varint32(what);
    switch (tag) {
      case 0x08:
        span.offset = r.sint32(`${what}.offset`);
        break;
      case 0x10:
        span.length = r.varint32(`${what}.length`);
        break;
      default:
        skip(r, tag, end, what);
    }
  }
  checkEnd(r, end, what);
  return span;
}

/** Appends packed or single sint64 values. */
function readSint64s(r: ProtoReader, end: number, packed: boolean, out: number[], what: string): void {
  if (!packed) {
    out.push(readSint64(r, what));
    return;
  }
  const e = r.lenEnd(end, what);
  while (r.pos < e) out.push(readSint64(r, what));
  checkEnd(r, e, what);
}

/** Appends packed or single doubles. */
function readDoubles(r: ProtoReader, end: number, packed: boolean, out: number[], what: string): void {
  if (!packed) {
    out.push(readDouble(r, what));
    return;
  }
  const e = r.lenEnd(end, what);
  if ((e - r.pos) % 8 !== 0) r.fail(`packed double length ${e - r.pos} is not a multiple of 8`, what);
  while (r.pos < e) out.push(readDouble(r, what));
}

/** Decodes a native `Histogram` message (the same layout in 1.0 and 2.0). */
function readHistogram(r: ProtoReader, end: number): NativeHistogram {
  const h: NativeHistogram = {
    isFloat: false,
    count: 0,
    sum: 0,
    schema: 0,
    zeroThreshold: 0,
    zeroCount: 0,
    negativeSpans: [],
    negativeDeltas: [],
    negativeCounts: [],
    positiveSpans: [],
    positiveDeltas: [],
    positiveCounts: [],
    resetHint: 0,
    timestamp: 0,
    customValues: [],
  };
  while (r.pos < end) {
    const tag = r.varint32('Histogram');
    switch (tag) {
      case 0x08:
        h.count = r.uint64Number('Histogram.count_int');
        h.isFloat = false;
        break;
      case 0x11:
        h.count = readDouble(r, 'Histogram.count_float');
        h.isFloat = true;
        break;
      case 0x19:
        h.sum = readDouble(r, 'Histogram.sum');
        break;
      case 0x20:
        h.schema = r.sint32('Histogram.schema');
        break;
      case 0x29:
        h.zeroThreshold = readDouble(r, 'Histogram.zero_threshold');
        break;
      case 0x30:
        h.zeroCount = r.uint64Number('Histogram.zero_count_int');
        break;
      case 0x39:
        h.zeroCount = readDouble(r, 'Histogram.zero_count_float');
        break;
      case 0x42: {
        const e = r.lenEnd(end, 'Histogram.negative_spans');
        h.negativeSpans.push(readBucketSpan(r, e, 'Histogram.negative_spans'));
        break;
      }
      case 0x48:
      case 0x4a:
        readSint64s(r, end, tag === 0x4a, h.negativeDeltas, 'Histogram.negative_deltas');
        break;
      case 0x51:
      case 0x52:
        readDoubles(r, end, tag === 0x52, h.negativeCounts, 'Histogram.negative_counts');
        break;
      case 0x5a: {
        const e = r.lenEnd(end, 'Histogram.positive_spans');
        h.positiveSpans.push(readBucketSpan(r, e, 'Histogram.positive_spans'));
        break;
      }
      case 0x60:
      case 0x62:
        readSint64s(r, end, tag === 0x62, h.positiveDeltas, 'Histogram.positive_deltas');
        break;
      case 0x69:
      case 0x6a:
        readDoubles(r, end, tag === 0x6a, h.positiveCounts, 'Histogram.positive_counts');
        break;
      case 0x70:
        h.resetHint = r.varint32('Histogram.reset_hint');
        break;
      case 0x78:
        h.timestamp = readInt64(r, 'Histogram.timestamp');
        break;
      case 0x81:
      case 0x82:
        // Field 16 (custom_values): its tag takes two bytes on the wire, one number here.
        readDoubles(r, end, tag === 0x82, h.customValues, 'Histogram.custom_values');
        break;
      default:
        skip(r, tag, end, 'Histogram');
    }
  }
  checkEnd(r, end, 'Histogram');
  return h;
}

// ------------------------------------------------------------ 1.0 decode

function readLabelV1(r: ProtoReader, end: number, v: WriteRequestVisitor | undefined, out: Label[] | undefined): void {
  let name = '';
  let value = '';
  while (r.pos < end) {
    const tag = r.varint32('Label');
    if (tag === 0x0a) name = r.key(end, 'Label.name');
    else if (tag === 0x12) value = r.string(end, 'Label.value');
    else skip(r, tag, end, 'Label');
  }
  checkEnd(r, end, 'Label');
  if (out) out.push({ name, value });
  else (v as WriteRequestVisitor).label(name, value);
}

/** Reads one `Sample` (the same layout in 1.0 and 2.0) into the visitor, or into `out` when given. */
function readSample(r: ProtoReader, end: number, v: WriteRequestVisitor | undefined, out: Sample[] | undefined): void {
  let value = 0;
  let stale = false;
  let ts = 0;
  while (r.pos < end) {
    const tag = r.varint32('Sample');
    if (tag === 0x09) {
      value = readDouble(r, 'Sample.value');
      stale = lastStale;
    } else if (tag === 0x10) {
      ts = readInt64(r, 'Sample.timestamp');
    } else {
      skip(r, tag, end, 'Sample');
    }
  }
  checkEnd(r, end, 'Sample');
  if (out) out.push(stale ? { value, timestamp: ts, stale } : { value, timestamp: ts });
  else (v as WriteRequestVisitor).sample(value, ts, stale);
}

function readExemplarV1(r: ProtoReader, end: number): Exemplar {
  const e: Exemplar = { labels: [], value: 0, timestamp: 0 };
  while (r.pos < end) {
    const tag = r.varint32('Exemplar');
    switch (tag) {
      case 0x0a: {
        const le = r.lenEnd(end, 'Exemplar.labels');
        readLabelV1(r, le, undefined, e.labels);
        break;
      }
      case 0x11:
        e.value = readDouble(r, 'Exemplar.value');
        break;
      case 0x18:
        e.timestamp = readInt64(r, 'Exemplar.timestamp');
        break;
      default:
        skip(r, tag, end, 'Exemplar');
    }
  }
  checkEnd(r, end, 'Exemplar');
  return e;
}

function readMetadataV1(r: ProtoReader, end: number): MetricMetadata {
  const md: MetricMetadata = { type: 0, metricFamilyName: '', help: '', unit: '' };
  while (r.pos < end) {
    const tag = r.varint32('MetricMetadata');
    switch (tag) {
      case 0x08:
        md.type = r.varint32('MetricMetadata.type');
        break;
      case 0x12:
        md.metricFamilyName = r.string(end, 'MetricMetadata.metric_family_name');
        break;
      case 0x22:
        md.help = r.stringUncached(end, 'MetricMetadata.help');
        break;
      case 0x2a:
        md.unit = r.string(end, 'MetricMetadata.unit');
        break;
      default:
        skip(r, tag, end, 'MetricMetadata');
    }
  }
  checkEnd(r, end, 'MetricMetadata');
  return md;
}

/**
 * The end of the run of label fields (tag 0x0a) starting at `start`, or -1
 * when there is none or a length runs past `end` (then the normal decoding
 * reports the error).
 */
function labelRunEnd(buf: Buffer, start: number, end: number): number {
  let p = start;
  while (p < end && buf[p] === 0x0a) {
    p++;
    let len = 0;
    let shift = 0;
    for (;;) {
      if (p >= end || shift > 28) return -1;
      const b = buf[p++];
      len += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
      shift += 7;
    }
    p += len;
    if (p > end) return -1;
  }
  return p === start ? -1 : p;
}

/** Reads one 1.0 TimeSeries into the visitor, or into `out` when given. */
function readSeriesV1(r: ProtoReader, end: number, v: WriteRequestVisitor | undefined, out: TimeSeries | undefined): void {
  if (v?.labelBytes) {
    const e = labelRunEnd(r.buf, r.pos, end);
    if (e > 0 && v.labelBytes(r.buf, r.pos, e)) r.pos = e;
  }
  while (r.pos < end) {
    const tag = r.varint32('TimeSeries');
    switch (tag) {
      case 0x0a: {
        const e = r.lenEnd(end, 'TimeSeries.labels');
        readLabelV1(r, e, v, out?.labels);
        break;
      }
      case 0x12: {
        const e = r.lenEnd(end, 'TimeSeries.samples');
        readSample(r, e, v, out?.samples);
        break;
      }
      case 0x1a: {
        const e = r.lenEnd(end, 'TimeSeries.exemplars');
        const ex = readExemplarV1(r, e);
        if (out) (out.exemplars ??= []).push(ex);
        else (v as WriteRequestVisitor).exemplar(ex);
        break;
      }
      case 0x22: {
        const e = r.lenEnd(end, 'TimeSeries.histograms');
        const h = readHistogram(r, e);
        if (out) (out.histograms ??= []).push(h);
        else (v as WriteRequestVisitor).histogram(h);
        break;
      }
      default:
        skip(r, tag, end, 'TimeSeries');
    }
  }
  checkEnd(r, end, 'TimeSeries');
}

/** Reads one 1.0 TimeSeries as an object (tests, tools and remote-read responses). */
function readSeriesObject(r: ProtoReader, end: number): TimeSeries {
  const ts: TimeSeries = { labels: [], samples: [] };
  readSeriesV1(r, end, undefined, ts);
  return ts;
}

/**
 * Decodes a `prometheus.WriteRequest` (already decompressed) into `v`.
 * @throws PromDecodeError when the bytes are not a valid message.
 */
export function decodeWriteRequestV1(buf: Uint8Array, v: WriteRequestVisitor): void {
  guarded(() => {
    const r = new ProtoReader(buf);
    const len = r.len;
    // Pass 1: metadata, so that series know their types whatever the field order.
    while (r.pos < len) {
      const tag = r.varint32('WriteRequest');
      if (tag === 0x1a) {
        const e = r.lenEnd(len, 'WriteRequest.metadata');
        v.metadata(readMetadataV1(r, e));
      } else {
        skip(r, tag, len, 'WriteRequest');
      }
    }
    r.pos = 0;
    while (r.pos < len) {
      const tag = r.varint32('WriteRequest');
      if (tag === 0x0a) {
        const e = r.lenEnd(len, 'WriteRequest.timeseries');
        readSeriesV1(r, e, v, undefined);
        v.endSeries();
      } else {
        skip(r, tag, len, 'WriteRequest');
      }
    }
  });
}

// ------------------------------------------------------------ 2.0 decode

function symbol(r: ProtoReader, symbols: readonly string[], ref: number, what: string): string {
  if (ref >= symbols.length) r.fail(`symbol reference ${ref} is out of range (${symbols.length} symbols)`, what);
  return symbols[ref];
}

/** Fails unless `refs` holds name/value pairs. */
function checkRefPairs(r: ProtoReader, refs: readonly number[], what: string): void {
  if (refs.length % 2 !== 0) r.fail(`odd number (${refs.length}) of label references`, what);
}

/** Appends packed (or single) `labels_refs` to `refs`. */
function readLabelRefs(r: ProtoReader, end: number, packed: boolean, refs: number[], what: string): void {
  if (!packed) {
    refs.push(r.varint32(what));
    return;
  }
  const e = r.lenEnd(end, what);
  while (r.pos < e) refs.push(r.varint32(what));
  checkEnd(r, e, what);
}

function readExemplarV2(r: ProtoReader, end: number, symbols: readonly string[], scratch: number[]): Exemplar {
  const e: Exemplar = { labels: [], value: 0, timestamp: 0 };
  scratch.length = 0;
  while (r.pos < end) {
    const tag = r.varint32('Exemplar');
    switch (tag) {
      case 0x08:
      case 0x0a:
        readLabelRefs(r, end, tag === 0x0a, scratch, 'Exemplar.labels_refs');
        break;
      case 0x11:
        e.value = readDouble(r, 'Exemplar.value');
        break;
      case 0x18:
        e.timestamp = readInt64(r, 'Exemplar.timestamp');
        break;
      default:
        skip(r, tag, end, 'Exemplar');
    }
  }
  checkEnd(r, end, 'Exemplar');
  checkRefPairs(r, scratch, 'Exemplar.labels_refs');
  for (let i = 0; i < scratch.length; i += 2) {
    e.labels.push({ name: symbol(r, symbols, scratch[i], 'Exemplar.labels_refs'), value: symbol(r, symbols, scratch[i + 1], 'Exemplar.labels_refs') });
  }
  return e;
}

function readMetadataV2(r: ProtoReader, end: number, symbols: readonly string[], v: WriteRequestVisitor): void {
  let type = 0;
  let help = '';
  let unit = '';
  while (r.pos < end) {
    const tag = r.varint32('Metadata');
    switch (tag) {
      case 0x08:
        type = r.varint32('Metadata.type');
        break;
      case 0x18:
        help = symbol(r, symbols, r.varint32('Metadata.help_ref'), 'Metadata.help_ref');
        break;
      case 0x20:
        unit = symbol(r, symbols, r.varint32('Metadata.unit_ref'), 'Metadata.unit_ref');
        break;
      default:
        skip(r, tag, end, 'Metadata');
    }
  }
  checkEnd(r, end, 'Metadata');
  v.seriesMetadata(type, help, unit);
}

function readSeriesV2(r: ProtoReader, end: number, symbols: readonly string[], v: WriteRequestVisitor, refs: number[], scratch: number[]): void {
  refs.length = 0;
  while (r.pos < end) {
    const tag = r.varint32('TimeSeries');
    switch (tag) {
      case 0x08:
      case 0x0a:
        readLabelRefs(r, end, tag === 0x0a, refs, 'TimeSeries.labels_refs');
        break;
      case 0x12: {
        const e = r.lenEnd(end, 'TimeSeries.samples');
        readSample(r, e, v, undefined);
        break;
      }
      case 0x1a: {
        const e = r.lenEnd(end, 'TimeSeries.histograms');
        v.histogram(readHistogram(r, e));
        break;
      }
      case 0x22: {
        const e = r.lenEnd(end, 'TimeSeries.exemplars');
        v.exemplar(readExemplarV2(r, e, symbols, scratch));
        break;
      }
      case 0x2a: {
        const e = r.lenEnd(end, 'TimeSeries.metadata');
        readMetadataV2(r, e, symbols, v);
        break;
      }
      case 0x30:
        v.createdTimestamp(readInt64(r, 'TimeSeries.created_timestamp'));
        break;
      default:
        skip(r, tag, end, 'TimeSeries');
    }
  }
  checkEnd(r, end, 'TimeSeries');
  checkRefPairs(r, refs, 'TimeSeries.labels_refs');
  for (let i = 0; i < refs.length; i += 2) {
    v.label(symbol(r, symbols, refs[i], 'TimeSeries.labels_refs'), symbol(r, symbols, refs[i + 1], 'TimeSeries.labels_refs'));
  }
}

/**
 * Decodes an `io.prometheus.write.v2.Request` (already decompressed) into `v`.
 * Labels are reported after the series' other fields, once the references
 * are resolved. @throws PromDecodeError when the bytes are not a valid message
 * or a reference points outside the symbol table.
 */
export function decodeWriteRequestV2(buf: Uint8Array, v: WriteRequestVisitor): void {
  guarded(() => {
    const r = new ProtoReader(buf);
    const len = r.len;
    const symbols: string[] = [];
    while (r.pos < len) {
      const tag = r.varint32('Request');
      if (tag === 0x22) symbols.push(r.string(len, 'Request.symbols'));
      else skip(r, tag, len, 'Request');
    }
    if (symbols.length && symbols[0] !== '') r.fail('the first symbol must be the empty string', 'Request.symbols', 0);
    r.pos = 0;
    const refs: number[] = [];
    const scratch: number[] = [];
    while (r.pos < len) {
      const tag = r.varint32('Request');
      if (tag === 0x2a) {
        const e = r.lenEnd(len, 'Request.timeseries');
        readSeriesV2(r, e, symbols, v, refs, scratch);
        v.endSeries();
      } else {
        skip(r, tag, len, 'Request');
      }
    }
  });
}

/** Decodes a 1.0 WriteRequest into objects (tests and tools; receivers use the visitor). */
export function decodeWriteRequestObjects(buf: Uint8Array): WriteRequest {
  return guarded(() => {
    const r = new ProtoReader(buf);
    const out: WriteRequest = { timeseries: [], metadata: [] };
    while (r.pos < r.len) {
      const tag = r.varint32('WriteRequest');
      if (tag === 0x0a) {
        const e = r.lenEnd(r.len, 'WriteRequest.timeseries');
        out.timeseries.push(readSeriesObject(r, e));
      } else if (tag === 0x1a) {
        const e = r.lenEnd(r.len, 'WriteRequest.metadata');
        (out.metadata as MetricMetadata[]).push(readMetadataV1(r, e));
      } else {
        skip(r, tag, r.len, 'WriteRequest');
      }
    }
    return out;
  });
}

// ------------------------------------------------------------ encoders

function writeDouble(w: ProtoWriter, tag: number, v: number, stale?: boolean): void {
  w.varint32(tag);
  if (stale) w.fixed64(STALE_LO, STALE_HI);
  else w.double(v);
}

function writeInt64(w: ProtoWriter, tag: number, v: number): void {
  w.varint32(tag);
  w.int64(Math.trunc(v));
}

function writeSint64(w: ProtoWriter, v: number): void {
  // Zigzag in 64 bits from a safe integer.
  const n = v >= 0 ? v * 2 : -v * 2 - 1;
  w.uint64Number(n);
}

function writeHistogram(w: ProtoWriter, h: NativeHistogram): void {
  if (h.isFloat) writeDouble(w, 0x11, h.count);
  else {
    w.varint32(0x08);
    w.uint64Number(h.count);
  }
  writeDouble(w, 0x19, h.sum);
  w.varint32(0x20);
  w.sint32(h.schema);
  writeDouble(w, 0x29, h.zeroThreshold);
  if (h.isFloat) writeDouble(w, 0x39, h.zeroCount);
  else {
    w.varint32(0x30);
    w.uint64Number(h.zeroCount);
  }
  const spans = (tag: number, list: BucketSpan[]) => {
    for (const s of list) {
      w.begin(tag, 1);
      w.varint32(0x08);
      w.sint32(s.offset);
      w.varint32(0x10);
      w.varint32(s.length);
      w.end();
    }
  };
  const deltas = (tag: number, list: number[]) => {
    if (!list.length) return;
    w.begin(tag, 2);
    for (const d of list) writeSint64(w, d);
    w.end();
  };
  const doubles = (tag: number, list: number[]) => {
    if (!list.length) return;
    w.varint32(tag);
    w.varint32(list.length * 8);
    for (const d of list) w.double(d);
  };
  spans(0x42, h.negativeSpans);
  deltas(0x4a, h.negativeDeltas);
  doubles(0x52, h.negativeCounts);
  spans(0x5a, h.positiveSpans);
  deltas(0x62, h.positiveDeltas);
  doubles(0x6a, h.positiveCounts);
  if (h.resetHint) {
    w.varint32(0x70);
    w.varint32(h.resetHint);
  }
  writeInt64(w, 0x78, h.timestamp);
  // Field 16 (custom_values): its tag takes two bytes on the wire, one number here.
  doubles(0x82, h.customValues);
}

/** Writes a `Sample` field (the same layout in 1.0 and 2.0). */
function writeSample(w: ProtoWriter, tag: number, s: Sample): void {
  w.begin(tag, 1);
  writeDouble(w, 0x09, s.value, s.stale);
  writeInt64(w, 0x10, s.timestamp);
  w.end();
}

function writeLabels(w: ProtoWriter, tag: number, labels: readonly Label[]): void {
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    w.begin(tag, 2);
    w.varint32(0x0a);
    w.string(l.name);
    w.varint32(0x12);
    w.string(l.value);
    w.end();
  }
}

/** Writes a 1.0 `TimeSeries` body (the fields, without its own tag). */
function writeSeriesV1(w: ProtoWriter, ts: TimeSeries): void {
  writeLabels(w, 0x0a, ts.labels);
  for (let i = 0; i < ts.samples.length; i++) writeSample(w, 0x12, ts.samples[i]);
  for (const e of ts.exemplars ?? []) {
    w.begin(0x1a, 2);
    writeLabels(w, 0x0a, e.labels);
    writeDouble(w, 0x11, e.value);
    writeInt64(w, 0x18, e.timestamp);
    w.end();
  }
  for (const h of ts.histograms ?? []) {
    w.begin(0x22, 2);
    writeHistogram(w, h);
    w.end();
  }
}

const writer = new ProtoWriter();

/** Encodes a 1.0 `prometheus.WriteRequest` (uncompressed). */
export function encodeWriteRequestV1(req: WriteRequest): Buffer {
  const w = writer;
  w.reset();
  for (const ts of req.timeseries) {
    w.begin(0x0a, 3);
    writeSeriesV1(w, ts);
    w.end();
  }
  for (const md of req.metadata ?? []) {
    w.begin(0x1a, 2);
    w.varint32(0x08);
    w.varint32(md.type);
    w.varint32(0x12);
    w.string(md.metricFamilyName);
    if (md.help) {
      w.varint32(0x22);
      w.string(md.help);
    }
    if (md.unit) {
      w.varint32(0x2a);
      w.string(md.unit);
    }
    w.end();
  }
  return w.finish();
}

/** Encodes an `io.prometheus.write.v2.Request` (uncompressed), building its symbol table. */
export function encodeWriteRequestV2(series: readonly TimeSeries[]): Buffer {
  const symbols: string[] = [''];
  const index = new Map<string, number>([['', 0]]);
  const ref = (s: string): number => {
    let i = index.get(s);
    if (i === undefined) {
      i = symbols.length;
      symbols.push(s);
      index.set(s, i);
    }
    return i;
  };
  const refsOf = (labels: readonly Label[]): number[] => labels.flatMap((l) => [ref(l.name), ref(l.value)]);
  const prepared = series.map((ts) => ({
    ts,
    refs: refsOf(ts.labels),
    exemplarRefs: (ts.exemplars ?? []).map((e) => refsOf(e.labels)),
    help: ts.metadata ? ref(ts.metadata.help) : 0,
    unit: ts.metadata ? ref(ts.metadata.unit) : 0,
  }));
  const w = writer;
  w.reset();
  for (const s of symbols) {
    w.varint32(0x22);
    w.string(s);
  }
  const packed = (tag: number, refs: number[]) => {
    if (!refs.length) return;
    w.begin(tag, 2);
    for (const r of refs) w.varint32(r);
    w.end();
  };
  for (const p of prepared) {
    w.begin(0x2a, 3);
    packed(0x0a, p.refs);
    for (const s of p.ts.samples) writeSample(w, 0x12, s);
    for (const h of p.ts.histograms ?? []) {
      w.begin(0x1a, 2);
      writeHistogram(w, h);
      w.end();
    }
    (p.ts.exemplars ?? []).forEach((e, i) => {
      w.begin(0x22, 2);
      packed(0x0a, p.exemplarRefs[i]);
      writeDouble(w, 0x11, e.value);
      writeInt64(w, 0x18, e.timestamp);
      w.end();
    });
    if (p.ts.metadata) {
      w.begin(0x2a, 1);
      w.varint32(0x08);
      w.varint32(p.ts.metadata.type);
      w.varint32(0x18);
      w.varint32(p.help);
      w.varint32(0x20);
      w.varint32(p.unit);
      w.end();
    }
    if (p.ts.createdTimestamp) writeInt64(w, 0x30, p.ts.createdTimestamp);
    w.end();
  }
  return w.finish();
}

// ------------------------------------------------------------ remote read

/** `LabelMatcher.Type`. */
export const enum MatchType {
  EQ = 0,
  NEQ = 1,
  RE = 2,
  NRE = 3,
}

/** A label matcher of a remote-read query. */
export interface LabelMatcher {
  type: MatchType;
  name: string;
  value: string;
}

/** `ReadHints`: what the querying engine will do with the data. */
export interface ReadHints {
  stepMs: number;
  func: string;
  startMs: number;
  endMs: number;
  /** Present in newer protos (`by = 5`, `grouping = 6`, `range_ms = 7`); decoded when sent. */
  rangeMs: number;
}

/** One query of a remote-read request. */
export interface ReadQuery {
  startMs: number;
  endMs: number;
  matchers: LabelMatcher[];
  hints: ReadHints | undefined;
}

/** A remote-read request. `acceptedResponseTypes`: 0 = SAMPLES, 1 = STREAMED_XOR_CHUNKS. */
export interface ReadRequest {
  queries: ReadQuery[];
  acceptedResponseTypes: number[];
}

function readMatcher(r: ProtoReader, end: number): LabelMatcher {
  const m: LabelMatcher = { type: MatchType.EQ, name: '', value: '' };
  while (r.pos < end) {
    const tag = r.varint32('LabelMatcher');
    if (tag === 0x08) m.type = r.varint32('LabelMatcher.type');
    else if (tag === 0x12) m.name = r.string(end, 'LabelMatcher.name');
    else if (tag === 0x1a) m.value = r.stringUncached(end, 'LabelMatcher.value');
    else skip(r, tag, end, 'LabelMatcher');
  }
  checkEnd(r, end, 'LabelMatcher');
  if (m.type > MatchType.NRE) r.fail(`unknown matcher type ${m.type}`, 'LabelMatcher.type');
  return m;
}

function readHints(r: ProtoReader, end: number): ReadHints {
  const h: ReadHints = { stepMs: 0, func: '', startMs: 0, endMs: 0, rangeMs: 0 };
  while (r.pos < end) {
    const tag = r.varint32('ReadHints');
    switch (tag) {
      case 0x08:
        h.stepMs = readInt64(r, 'ReadHints.step_ms');
        break;
      case 0x12:
        h.func = r.string(end, 'ReadHints.func');
        break;
      case 0x18:
        h.startMs = readInt64(r, 'ReadHints.start_ms');
        break;
      case 0x20:
        h.endMs = readInt64(r, 'ReadHints.end_ms');
        break;
      case 0x38:
        h.rangeMs = readInt64(r, 'ReadHints.range_ms');
        break;
      default:
        skip(r, tag, end, 'ReadHints');
    }
  }
  checkEnd(r, end, 'ReadHints');
  return h;
}

/** Decodes a `prometheus.ReadRequest`. @throws PromDecodeError */
export function decodeReadRequest(buf: Uint8Array): ReadRequest {
  return guarded(() => {
    const r = new ProtoReader(buf);
    const out: ReadRequest = { queries: [], acceptedResponseTypes: [] };
    while (r.pos < r.len) {
      const tag = r.varint32('ReadRequest');
      if (tag === 0x0a) {
        const e = r.lenEnd(r.len, 'ReadRequest.queries');
        const q: ReadQuery = { startMs: 0, endMs: 0, matchers: [], hints: undefined };
        while (r.pos < e) {
          const t = r.varint32('Query');
          switch (t) {
            case 0x08:
              q.startMs = readInt64(r, 'Query.start_timestamp_ms');
              break;
            case 0x10:
              q.endMs = readInt64(r, 'Query.end_timestamp_ms');
              break;
            case 0x1a: {
              const me = r.lenEnd(e, 'Query.matchers');
              q.matchers.push(readMatcher(r, me));
              break;
            }
            case 0x22: {
              const he = r.lenEnd(e, 'Query.hints');
              q.hints = readHints(r, he);
              break;
            }
            default:
              skip(r, t, e, 'Query');
          }
        }
        checkEnd(r, e, 'Query');
        out.queries.push(q);
      } else if (tag === 0x10) {
        out.acceptedResponseTypes.push(r.varint32('ReadRequest.accepted_response_types'));
      } else if (tag === 0x12) {
        const e = r.lenEnd(r.len, 'ReadRequest.accepted_response_types');
        while (r.pos < e) out.acceptedResponseTypes.push(r.varint32('ReadRequest.accepted_response_types'));
      } else {
        skip(r, tag, r.len, 'ReadRequest');
      }
    }
    return out;
  });
}

/** Encodes a `prometheus.ReadRequest` (clients and tests). */
export function encodeReadRequest(req: ReadRequest): Buffer {
  const w = writer;
  w.reset();
  for (const q of req.queries) {
    w.begin(0x0a, 2);
    writeInt64(w, 0x08, q.startMs);
    writeInt64(w, 0x10, q.endMs);
    for (const m of q.matchers) {
      w.begin(0x1a, 1);
      w.varint32(0x08);
      w.varint32(m.type);
      w.varint32(0x12);
      w.string(m.name);
      w.varint32(0x1a);
      w.string(m.value);
      w.end();
    }
    if (q.hints) {
      w.begin(0x22, 1);
      writeInt64(w, 0x08, q.hints.stepMs);
      w.varint32(0x12);
      w.string(q.hints.func);
      writeInt64(w, 0x18, q.hints.startMs);
      writeInt64(w, 0x20, q.hints.endMs);
      w.end();
    }
    w.end();
  }
  if (req.acceptedResponseTypes.length) {
    w.begin(0x12, 1);
    for (const t of req.acceptedResponseTypes) w.varint32(t);
    w.end();
  }
  return w.finish();
}

/** Encodes a `prometheus.ReadResponse` (SAMPLES type): one result per query, in order. */
export function encodeReadResponse(results: ReadonlyArray<readonly TimeSeries[]>): Buffer {
  const w = writer;
  w.reset();
  for (const series of results) {
    w.begin(0x0a, 4);
    for (const ts of series) {
      w.begin(0x0a, 3);
      writeSeriesV1(w, ts);
      w.end();
    }
    w.end();
  }
  return w.finish();
}

/** Decodes a `prometheus.ReadResponse` (clients and tests). @throws PromDecodeError */
export function decodeReadResponse(buf: Uint8Array): TimeSeries[][] {
  return guarded(() => {
    const r = new ProtoReader(buf);
    const out: TimeSeries[][] = [];
    while (r.pos < r.len) {
      const tag = r.varint32('ReadResponse');
      if (tag !== 0x0a) {
        skip(r, tag, r.len, 'ReadResponse');
        continue;
      }
      const e = r.lenEnd(r.len, 'ReadResponse.results');
      const series: TimeSeries[] = [];
      while (r.pos < e) {
        const t = r.varint32('QueryResult');
        if (t === 0x0a) {
          const se = r.lenEnd(e, 'QueryResult.timeseries');
          series.push(readSeriesObject(r, se));
        } else {
          skip(r, t, e, 'QueryResult');
        }
      }
      checkEnd(r, e, 'QueryResult');
      out.push(series);
    }
    return out;
  });
}
