/**
 * The one internal data model for traces, metrics and logs.
 *
 * It mirrors the OTLP message tree (resource → scope → items) so that nothing
 * is lost between a receiver and an exporter, but uses JavaScript-native
 * values so that components never touch wire types:
 *
 * - Trace and span ids are lowercase hex strings (32 and 16 characters);
 *   an absent id is the empty string.
 * - Timestamps are `bigint` nanoseconds since the Unix epoch (a `number`
 *   cannot hold nanosecond precision); 0n means "not set".
 * - Attributes are plain objects; see {@link AnyValue} for how value types map.
 *
 * Only the OTLP codec (`pipeline/otlp/`) converts between this model and the
 * wire. Data handed to a consumer is read-only unless the consumer declares
 * `mutatesData` (the graph then gives it its own copy).
 */

/** The three signal types a pipeline can carry. */
export type Signal = 'traces' | 'metrics' | 'logs';

/** All signals, in their canonical order. */
export const SIGNALS: readonly Signal[] = ['traces', 'metrics', 'logs'];

/**
 * An attribute or log-body value.
 *
 * - `string`, `boolean` as themselves.
 * - `number`: an integral number is an OTLP `intValue`, any other a
 *   `doubleValue` (the OpenTelemetry JS SDK's own rule; an integral double such
 *   as 1.0 therefore travels on as an int).
 * - `bigint`: an `intValue` outside the safe integer range.
 * - `Uint8Array`: `bytesValue`.
 * - arrays: `arrayValue`.
 * - {@link KeyValueList}: `kvlistValue` (a plain object).
 * - `null`: an empty AnyValue (none of the oneof fields set).
 */
export type AnyValue = string | boolean | number | bigint | Uint8Array | AnyValue[] | KeyValueList | null;

/** A key/value list; also the type of every attribute set. */
export interface KeyValueList {
  [key: string]: AnyValue;
}

/** Attributes of a resource, scope, span, event, link, data point or log record. */
export type Attributes = KeyValueList;

/** The entity that produced telemetry (a service instance, a host, a pod, …). */
export interface Resource {
  attributes: Attributes;
  droppedAttributesCount: number;
}

/** The instrumentation library that produced the items of a scope group. */
export interface InstrumentationScope {
  name: string;
  version: string;
  attributes: Attributes;
  droppedAttributesCount: number;
}

// ---------------------------------------------------------------- traces

/** OTLP span kinds, numbered as on the wire. */
export enum SpanKind {
  UNSPECIFIED = 0,
  INTERNAL = 1,
  SERVER = 2,
  CLIENT = 3,
  PRODUCER = 4,
  CONSUMER = 5,
}

/** OTLP status codes, numbered as on the wire. */
export enum StatusCode {
  UNSET = 0,
  OK = 1,
  ERROR = 2,
}

/** A timed event inside a span. */
export interface SpanEvent {
  timeUnixNano: bigint;
  name: string;
  attributes: Attributes;
  droppedAttributesCount: number;
}

/** A link from a span to another span, possibly in another trace. */
export interface SpanLink {
  traceId: string;
  spanId: string;
  traceState: string;
  attributes: Attributes;
  droppedAttributesCount: number;
  flags: number;
}

/** One span. */
export interface Span {
  traceId: string;
  spanId: string;
  traceState: string;
  /** Empty for a root span. */
  parentSpanId: string;
  flags: number;
  name: string;
  kind: SpanKind;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Attributes;
  droppedAttributesCount: number;
  events: SpanEvent[];
  droppedEventsCount: number;
  links: SpanLink[];
  droppedLinksCount: number;
  status: { code: StatusCode; message: string };
}

/** Spans of one instrumentation scope. */
export interface ScopeSpans {
  scope: InstrumentationScope;
  spans: Span[];
  schemaUrl: string;
}

/** Spans of one resource. */
export interface ResourceSpans {
  resource: Resource;
  scopeSpans: ScopeSpans[];
  schemaUrl: string;
}

/** A batch of spans: the unit a traces consumer receives. */
export interface Traces {
  resourceSpans: ResourceSpans[];
}

// ---------------------------------------------------------------- metrics

/** OTLP aggregation temporality, numbered as on the wire. */
export enum AggregationTemporality {
  UNSPECIFIED = 0,
  DELTA = 1,
  CUMULATIVE = 2,
}

/** A sample of a measurement kept with a data point. */
export interface Exemplar {
  filteredAttributes: Attributes;
  timeUnixNano: bigint;
  /** `asInt` when `isInt`, else `asDouble`. A bigint only for ints beyond 2^53. */
  value: number | bigint;
  isInt: boolean;
  spanId: string;
  traceId: string;
}

/** Fields every data point has. */
export interface DataPointBase {
  attributes: Attributes;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  exemplars: Exemplar[];
  /** DataPointFlags; bit 0 is "no recorded value". */
  flags: number;
}

/** A gauge or sum data point. */
export interface NumberDataPoint extends DataPointBase {
  /** `asInt` when `isInt`, else `asDouble`. A bigint only for ints beyond 2^53. */
  value: number | bigint;
  isInt: boolean;
}

/** An explicit-bucket histogram data point. */
export interface HistogramDataPoint extends DataPointBase {
  count: number;
  sum?: number;
  /** One more entry than `explicitBounds` (or none at all). */
  bucketCounts: number[];
  explicitBounds: number[];
  min?: number;
  max?: number;
}

/** One side (positive or negative) of an exponential histogram. */
export interface ExponentialBuckets {
  offset: number;
  bucketCounts: number[];
}

/** An exponential (base-2) histogram data point. */
export interface ExponentialHistogramDataPoint extends DataPointBase {
  count: number;
  sum?: number;
  scale: number;
  zeroCount: number;
  positive: ExponentialBuckets;
  negative: ExponentialBuckets;
  min?: number;
  max?: number;
  zeroThreshold: number;
}

/** A quantile of a summary data point. */
export interface ValueAtQuantile {
  quantile: number;
  value: number;
}

/** A summary data point (Prometheus-style quantiles). */
export interface SummaryDataPoint extends DataPointBase {
  count: number;
  sum: number;
  quantileValues: ValueAtQuantile[];
}

/** The data of a metric; `type` says which OTLP oneof was set. */
export type MetricData =
  | { type: 'gauge'; dataPoints: NumberDataPoint[] }
  | { type: 'sum'; dataPoints: NumberDataPoint[]; aggregationTemporality: AggregationTemporality; isMonotonic: boolean }
  | { type: 'histogram'; dataPoints: HistogramDataPoint[]; aggregationTemporality: AggregationTemporality }
  | {
      type: 'exponentialHistogram';
      dataPoints: ExponentialHistogramDataPoint[];
      aggregationTemporality: AggregationTemporality;
    }
  | { type: 'summary'; dataPoints: SummaryDataPoint[] }
  | { type: 'empty' };

/** The metric types, as in {@link MetricData}'s `type`. */
export type MetricType = MetricData['type'];

/** One metric with its data points. */
export interface Metric {
  name: string;
  description: string;
  unit: string;
  metadata: Attributes;
  data: MetricData;
}

/** Metrics of one instrumentation scope. */
export interface ScopeMetrics {
  scope: InstrumentationScope;
  metrics: Metric[];
  schemaUrl: string;
}

/** Metrics of one resource. */
export interface ResourceMetrics {
  resource: Resource;
  scopeMetrics: ScopeMetrics[];
  schemaUrl: string;
}

/** A batch of metrics: the unit a metrics consumer receives. */
export interface Metrics {
  resourceMetrics: ResourceMetrics[];
}

// ---------------------------------------------------------------- logs

/** One log record. */
export interface LogRecord {
  timeUnixNano: bigint;
  observedTimeUnixNano: bigint;
  severityNumber: number;
  severityText: string;
  body: AnyValue;
  attributes: Attributes;
  droppedAttributesCount: number;
  flags: number;
  traceId: string;
  spanId: string;
  eventName: string;
}

/** Log records of one instrumentation scope. */
export interface ScopeLogs {
  scope: InstrumentationScope;
  logRecords: LogRecord[];
  schemaUrl: string;
}

/** Log records of one resource. */
export interface ResourceLogs {
  resource: Resource;
  scopeLogs: ScopeLogs[];
  schemaUrl: string;
}

/** A batch of log records: the unit a logs consumer receives. */
export interface Logs {
  resourceLogs: ResourceLogs[];
}

/** The data type of each signal. */
export interface SignalData {
  traces: Traces;
  metrics: Metrics;
  logs: Logs;
}

// ---------------------------------------------------------------- helpers

/**
 * Sets one attribute. Use it wherever the key comes from outside (decoders,
 * user config): a plain assignment of the key `__proto__` would replace the
 * object's prototype instead of adding a key.
 */
export function setAttribute(attrs: Attributes, key: string, value: AnyValue): void {
  if (key === '__proto__') {
    Object.defineProperty(attrs, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    attrs[key] = value;
  }
}

/** Number of spans in a batch. */
export function countSpans(t: Traces): number {
  let n = 0;
  for (const rs of t.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
  return n;
}

/** Number of data points in a batch (a metric without points counts as none). */
export function countDataPoints(m: Metrics): number {
  let n = 0;
  for (const rm of m.resourceMetrics)
    for (const sm of rm.scopeMetrics)
      for (const metric of sm.metrics) if (metric.data.type !== 'empty') n += metric.data.dataPoints.length;
  return n;
}

/** Number of log records in a batch. */
export function countLogRecords(l: Logs): number {
  let n = 0;
  for (const rl of l.resourceLogs) for (const sl of rl.scopeLogs) n += sl.logRecords.length;
  return n;
}

/** The item count of a batch of any signal: spans, data points or log records. */
export function countItems<S extends Signal>(signal: S, data: SignalData[S]): number {
  switch (signal) {
    case 'traces':
      return countSpans(data as Traces);
    case 'metrics':
      return countDataPoints(data as Metrics);
    default:
      return countLogRecords(data as Logs);
  }
}

/** An empty batch of the given signal. */
export function emptyData<S extends Signal>(signal: S): SignalData[S] {
  switch (signal) {
    case 'traces':
      return { resourceSpans: [] } as Traces as SignalData[S];
    case 'metrics':
      return { resourceMetrics: [] } as Metrics as SignalData[S];
    default:
      return { resourceLogs: [] } as Logs as SignalData[S];
  }
}

/** A deep copy, for a consumer that mutates data it shares with others. */
export function cloneData<T extends Traces | Metrics | Logs>(data: T): T {
  return structuredClone(data);
}

/** Whether a value is a {@link KeyValueList} (and not an array, bytes or null). */
export function isKeyValueList(v: AnyValue): v is KeyValueList {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/**
 * The string form of a value, as storage and text exports show it: strings as
 * they are, numbers and booleans in JavaScript notation, bytes as base64, and
 * arrays and key/value lists as JSON (bytes inside them base64, big ints as
 * JSON numbers).
 */
export function anyValueToString(v: AnyValue): string {
  switch (typeof v) {
    case 'string':
      return v;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(v);
    default:
      if (v === null) return '';
      if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
      return anyValueToJson(v);
  }
}

/** JSON text of a value (used for arrays and key/value lists). */
export function anyValueToJson(v: AnyValue): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : JSON.stringify(String(v));
    case 'boolean':
    case 'bigint':
      return String(v);
    default: {
      if (v === null) return 'null';
      if (v instanceof Uint8Array) return JSON.stringify(Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64'));
      if (Array.isArray(v)) {
        let out = '[';
        for (let i = 0; i < v.length; i++) out += (i ? ',' : '') + anyValueToJson(v[i]);
        return out + ']';
      }
      let out = '{';
      let first = true;
      for (const k in v) {
        out += (first ? '' : ',') + JSON.stringify(k) + ':' + anyValueToJson(v[k]);
        first = false;
      }
      return out + '}';
    }
  }
}
