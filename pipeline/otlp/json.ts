/**
 * OTLP/JSON (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
 * the proto3 JSON mapping of the same messages, with OTLP's deviations.
 *
 * Decoding accepts what the spec and the proto3 JSON mapping allow:
 * lowerCamelCase keys or the original snake_case field names; trace and span
 * ids as hex (not base64); enums as integers or as their names
 * (`"SPAN_KIND_SERVER"`); 64-bit integers as decimal strings or numbers;
 * doubles as numbers or as `"NaN"`, `"Infinity"`, `"-Infinity"` or decimal
 * strings; bytes as base64 (standard or URL-safe); `null` for any field as
 * "absent". Unknown keys are ignored. A wrong shape or value throws an
 * {@link OtlpDecodeError} whose message starts with the path of the offending
 * field: `resourceSpans[0].scopeSpans[1].spans[3].traceId: expected 32 hex
 * characters`.
 *
 * Encoding writes lowerCamelCase keys, hex ids, integer enums, 64-bit integers
 * (timestamps, counts, `intValue`, `asInt`) as decimal strings, and leaves out
 * fields equal to their default, as proto3 JSON printers do. Decoding what it
 * writes gives back the same pdata.
 */

import type {
  AnyValue,
  Attributes,
  Exemplar,
  ExponentialBuckets,
  ExponentialHistogramDataPoint,
  HistogramDataPoint,
  InstrumentationScope,
  KeyValueList,
  LogRecord,
  Logs,
  Metric,
  MetricData,
  Metrics,
  NumberDataPoint,
  Resource,
  ResourceLogs,
  ResourceMetrics,
  ResourceSpans,
  ScopeLogs,
  ScopeMetrics,
  ScopeSpans,
  Span,
  SpanEvent,
  SpanLink,
  SummaryDataPoint,
  Traces,
  ValueAtQuantile,
} from '../pdata';
import type { ExportPartialSuccess } from './decode';
import { MAX_ANY_VALUE_DEPTH, OtlpDecodeError } from './protobuf-reader';
import { isHexId, OtlpEncodeError } from './protobuf-writer';

type JsonObject = { [key: string]: unknown };

// ------------------------------------------------------------------ enums

const SPAN_KINDS: Record<string, number> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};
const STATUS_CODES: Record<string, number> = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };
const TEMPORALITIES: Record<string, number> = {
  AGGREGATION_TEMPORALITY_UNSPECIFIED: 0,
  AGGREGATION_TEMPORALITY_DELTA: 1,
  AGGREGATION_TEMPORALITY_CUMULATIVE: 2,
};
const SEVERITIES: Record<string, number> = { SEVERITY_NUMBER_UNSPECIFIED: 0 };
['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'].forEach((level, i) => {
  SEVERITIES[`SEVERITY_NUMBER_${level}`] = i * 4 + 1;
  for (let k = 2; k <= 4; k++) SEVERITIES[`SEVERITY_NUMBER_${level}${k}`] = i * 4 + k;
});

// ------------------------------------------------------------ decode: core

/**
 * Where the decoder is in the document, for error messages: field names and
 * array indexes, pushed on the way down and popped on the way up (no strings
 * are built unless an error is thrown).
 */
class JsonPath {
  readonly parts: (string | number)[] = [];

  /** Throws an {@link OtlpDecodeError} at the current path (plus `field`, if given). */
  fail(msg: string, field?: string | number): never {
    let p = '';
    const parts = field === undefined ? this.parts : [...this.parts, field];
    for (const part of parts) p += typeof part === 'number' ? `[${part}]` : p ? `.${part}` : part;
    throw new OtlpDecodeError(`${p || '(root)'}: ${msg}`);
  }
}

/** Parses JSON text (or UTF-8 bytes) into a value; a syntax error is a decode error. */
function parse(input: string | Uint8Array): unknown {
  const text =
    typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new OtlpDecodeError(`invalid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Runs a decoder; anything but an OtlpDecodeError (a bug, a stack overflow) becomes one. */
function guarded<T>(input: string | Uint8Array, decode: (doc: JsonObject, p: JsonPath) => T): T {
  const p = new JsonPath();
  try {
    return decode(asObject(p, parse(input)), p);
  } catch (err) {
    if (err instanceof OtlpDecodeError) throw err;
    throw new OtlpDecodeError(`internal decoder error: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function asObject(p: JsonPath, v: unknown, field?: string): JsonObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) p.fail('expected an object', field);
  return v as JsonObject;
}

/** A field by its camelCase or snake_case name; `null` counts as absent. */
function get(o: JsonObject, camel: string, snake: string): unknown {
  let v = o[camel];
  if (v === undefined || v === null) v = o[snake];
  return v === null ? undefined : v;
}

function arrayField(p: JsonPath, o: JsonObject, camel: string, snake: string): unknown[] {
  const v = get(o, camel, snake);
  if (v === undefined) return [];
  if (!Array.isArray(v)) p.fail('expected an array', camel);
  return v;
}

function objectField(p: JsonPath, o: JsonObject, camel: string, snake: string): JsonObject | undefined {
  const v = get(o, camel, snake);
  if (v === undefined) return undefined;
  return asObject(p, v, camel);
}

function stringField(p: JsonPath, o: JsonObject, camel: string, snake: string): string {
  const v = get(o, camel, snake);
  if (v === undefined) return '';
  if (typeof v !== 'string') p.fail('expected a string', camel);
  return v;
}

function boolField(p: JsonPath, o: JsonObject, camel: string, snake: string): boolean {
  const v = get(o, camel, snake);
  if (v === undefined) return false;
  if (typeof v !== 'boolean') p.fail('expected true or false', camel);
  return v;
}

const DECIMAL = /^-?[0-9]+$/;
const TWO_64 = 2n ** 64n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** An integer in [min, max] from a JSON number or a decimal string. */
function integer(p: JsonPath, v: unknown, field: string | number, min: number, max: number): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && DECIMAL.test(v.trim())) n = Number(v);
  else p.fail('expected an integer', field);
  if (!Number.isInteger(n) || n < min || n > max) p.fail(`expected an integer in [${min}, ${max}], got ${String(v)}`, field);
  return n;
}

function uint32Field(p: JsonPath, o: JsonObject, camel: string, snake: string): number {
  const v = get(o, camel, snake);
  return v === undefined ? 0 : integer(p, v, camel, 0, 0xffffffff);
}

function sint32Field(p: JsonPath, o: JsonObject, camel: string, snake: string): number {
  const v = get(o, camel, snake);
  return v === undefined ? 0 : integer(p, v, camel, -0x80000000, 0x7fffffff);
}

/** An enum: an integer or one of the names in `names`. */
function enumField(p: JsonPath, o: JsonObject, camel: string, snake: string, names: Record<string, number>): number {
  const v = get(o, camel, snake);
  if (v === undefined) return 0;
  if (typeof v === 'string' && Object.prototype.hasOwnProperty.call(names, v)) return names[v];
  if (typeof v === 'string' && !DECIMAL.test(v)) p.fail(`unknown enum value "${v}"`, camel);
  return integer(p, v, camel, -0x80000000, 0x7fffffff);
}

/** A 64-bit integer from a decimal string or a JSON number, as a bigint. */
function bigIntValue(p: JsonPath, v: unknown, field: string | number, min: bigint, max: bigint): bigint {
  let b: bigint;
  if (typeof v === 'string') {
    const t = v.trim();
    if (!DECIMAL.test(t)) p.fail(`expected a decimal integer string, got "${v}"`, field);
    b = BigInt(t);
  } else if (typeof v === 'number' && Number.isInteger(v)) {
    b = BigInt(v);
  } else {
    p.fail('expected an integer or a decimal string', field);
  }
  if (b < min || b > max) p.fail(`integer ${v} out of range`, field);
  return b;
}

/** A fixed64 timestamp (nanoseconds). */
function timeField(p: JsonPath, o: JsonObject, camel: string, snake: string): bigint {
  const v = get(o, camel, snake);
  return v === undefined ? 0n : bigIntValue(p, v, camel, 0n, TWO_64 - 1n);
}

/** A uint64/fixed64 count, as a number (pdata's type for counts). */
function countValue(p: JsonPath, v: unknown, field: string | number): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  return Number(bigIntValue(p, v, field, 0n, TWO_64 - 1n));
}

function countField(p: JsonPath, o: JsonObject, camel: string, snake: string): number {
  const v = get(o, camel, snake);
  return v === undefined ? 0 : countValue(p, v, camel);
}

/** An int64 value: a number when it is a safe integer, else a bigint (pdata's rule). */
function int64Value(p: JsonPath, v: unknown, field: string | number): number | bigint {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  const b = bigIntValue(p, v, field, INT64_MIN, INT64_MAX);
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

function doubleValue(p: JsonPath, v: unknown, field: string | number): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    const n = Number(v);
    if (v.trim() !== '' && !Number.isNaN(n)) return n;
  }
  p.fail('expected a number', field);
}

function doubleField(p: JsonPath, o: JsonObject, camel: string, snake: string): number | undefined {
  const v = get(o, camel, snake);
  return v === undefined ? undefined : doubleValue(p, v, camel);
}

/** A trace id (32 hex characters) or span id (16); empty or all-zero → ''. */
function idField(p: JsonPath, o: JsonObject, camel: string, snake: string, chars: number): string {
  const v = get(o, camel, snake);
  if (v === undefined || v === '') return '';
  if (typeof v !== 'string' || !isHexId(v, chars)) p.fail(`expected ${chars} hex characters`, camel);
  const id = v.toLowerCase();
  for (let i = 0; i < chars; i++) if (id.charCodeAt(i) !== 48) return id;
  return '';
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function bytesValue(p: JsonPath, v: unknown, field: string | number): Uint8Array {
  if (typeof v !== 'string' || !BASE64.test(v)) p.fail('expected base64', field);
  const b = Buffer.from(v, v.includes('-') || v.includes('_') ? 'base64url' : 'base64');
  return new Uint8Array(b);
}

// ------------------------------------------------------- decode: messages

/** An AnyValue object; the caller has pushed the path of the field that holds it. */
function anyValueFromJson(p: JsonPath, v: unknown, depth: number): AnyValue {
  if (v === undefined || v === null) return null;
  const o = asObject(p, v);
  let x = get(o, 'stringValue', 'string_value');
  if (x !== undefined) {
    if (typeof x !== 'string') p.fail('expected a string', 'stringValue');
    return x;
  }
  x = get(o, 'boolValue', 'bool_value');
  if (x !== undefined) {
    if (typeof x !== 'boolean') p.fail('expected true or false', 'boolValue');
    return x;
  }
  x = get(o, 'intValue', 'int_value');
  if (x !== undefined) return int64Value(p, x, 'intValue');
  x = get(o, 'doubleValue', 'double_value');
  if (x !== undefined) return doubleValue(p, x, 'doubleValue');
  x = get(o, 'bytesValue', 'bytes_value');
  if (x !== undefined) return bytesValue(p, x, 'bytesValue');
  x = get(o, 'arrayValue', 'array_value');
  if (x !== undefined) {
    if (depth >= MAX_ANY_VALUE_DEPTH) p.fail(`values nested deeper than ${MAX_ANY_VALUE_DEPTH} levels`, 'arrayValue');
    const arr = asObject(p, x, 'arrayValue');
    p.parts.push('arrayValue');
    const values = arrayField(p, arr, 'values', 'values');
    const out: AnyValue[] = new Array<AnyValue>(values.length);
    p.parts.push('values');
    for (let i = 0; i < values.length; i++) {
      p.parts.push(i);
      out[i] = anyValueFromJson(p, values[i], depth + 1);
      p.parts.pop();
    }
    p.parts.length -= 2;
    return out;
  }
  x = get(o, 'kvlistValue', 'kvlist_value');
  if (x !== undefined) {
    if (depth >= MAX_ANY_VALUE_DEPTH) p.fail(`values nested deeper than ${MAX_ANY_VALUE_DEPTH} levels`, 'kvlistValue');
    const kv = asObject(p, x, 'kvlistValue');
    p.parts.push('kvlistValue');
    const out: KeyValueList = {};
    keyValuesFromJson(p, kv, 'values', 'values', out, depth + 1);
    p.parts.pop();
    return out;
  }
  return null;
}

/** Reads a repeated KeyValue field into `out` (pdata's setAttribute rule for `__proto__`). */
function keyValuesFromJson(
  p: JsonPath,
  o: JsonObject,
  camel: string,
  snake: string,
  out: KeyValueList,
  depth: number,
): void {
  const list = arrayField(p, o, camel, snake);
  if (list.length === 0) return;
  p.parts.push(camel);
  for (let i = 0; i < list.length; i++) {
    p.parts.push(i);
    const kv = asObject(p, list[i]);
    const key = stringField(p, kv, 'key', 'key');
    p.parts.push('value');
    const value = anyValueFromJson(p, get(kv, 'value', 'value'), depth);
    p.parts.pop();
    if (key === '__proto__') {
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    } else {
      out[key] = value;
    }
    p.parts.pop();
  }
  p.parts.pop();
}

function attributesFromJson(p: JsonPath, o: JsonObject, camel: string, snake: string): Attributes {
  const out: Attributes = {};
  keyValuesFromJson(p, o, camel, snake, out, 0);
  return out;
}

function resourceFromJson(p: JsonPath, parent: JsonObject): Resource {
  const o = objectField(p, parent, 'resource', 'resource');
  if (o === undefined) return { attributes: {}, droppedAttributesCount: 0 };
  p.parts.push('resource');
  const res: Resource = {
    attributes: attributesFromJson(p, o, 'attributes', 'attributes'),
    droppedAttributesCount: uint32Field(p, o, 'droppedAttributesCount', 'dropped_attributes_count'),
  };
  p.parts.pop();
  return res;
}

function scopeFromJson(p: JsonPath, parent: JsonObject): InstrumentationScope {
  const o = objectField(p, parent, 'scope', 'scope');
  if (o === undefined) return { name: '', version: '', attributes: {}, droppedAttributesCount: 0 };
  p.parts.push('scope');
  const scope: InstrumentationScope = {
    name: stringField(p, o, 'name', 'name'),
    version: stringField(p, o, 'version', 'version'),
    attributes: attributesFromJson(p, o, 'attributes', 'attributes'),
    droppedAttributesCount: uint32Field(p, o, 'droppedAttributesCount', 'dropped_attributes_count'),
  };
  p.parts.pop();
  return scope;
}

/** Decodes each element of a repeated message field with `item`. */
function listFromJson<T>(
  p: JsonPath,
  o: JsonObject,
  camel: string,
  snake: string,
  item: (p: JsonPath, o: JsonObject) => T,
): T[] {
  const list = arrayField(p, o, camel, snake);
  const out: T[] = new Array<T>(list.length);
  p.parts.push(camel);
  for (let i = 0; i < list.length; i++) {
    p.parts.push(i);
    out[i] = item(p, asObject(p, list[i]));
    p.parts.pop();
  }
  p.parts.pop();
  return out;
}

function spanFromJson(p: JsonPath, o: JsonObject): Span {
  let status: Span['status'] = { code: 0, message: '' };
  const st = objectField(p, o, 'status', 'status');
  if (st !== undefined) {
    p.parts.push('status');
    status = { code: enumField(p, st, 'code', 'code', STATUS_CODES), message: stringField(p, st, 'message', 'message') };
    p.parts.pop();
  }
  return {
    traceId: idField(p, o, 'traceId', 'trace_id', 32),
    spanId: idField(p, o, 'spanId', 'span_id', 16),
    traceState: stringField(p, o, 'traceState', 'trace_state'),
    parentSpanId: idField(p, o, 'parentSpanId', 'parent_span_id', 16),
    flags: uint32Field(p, o, 'flags', 'flags'),
    name: stringField(p, o, 'name', 'name'),
    kind: enumField(p, o, 'kind', 'kind', SPAN_KINDS),
    startTimeUnixNano: timeField(p, o, 'startTimeUnixNano', 'start_time_unix_nano'),
    endTimeUnixNano: timeField(p, o, 'endTimeUnixNano', 'end_time_unix_nano'),
    attributes: attributesFromJson(p, o, 'attributes', 'attributes'),
    droppedAttributesCount: uint32Field(p, o, 'droppedAttributesCount', 'dropped_attributes_count'),
    events: listFromJson(p, o, 'events', 'events', eventFromJson),
    droppedEventsCount: uint32Field(p, o, 'droppedEventsCount', 'dropped_events_count'),
    links: listFromJson(p, o, 'links', 'links', linkFromJson),
    droppedLinksCount: uint32Field(p, o, 'droppedLinksCount', 'dropped_links_count'),
    status,
  };
}

function eventFromJson(p: JsonPath, o: JsonObject): SpanEvent {
  return {
    timeUnixNano: timeField(p, o, 'timeUnixNano', 'time_unix_nano'),
    name: stringField(p, o, 'name', 'name'),
    attributes: attributesFromJson(p, o, 'attributes', 'attributes'),
    droppedAttributesCount: uint32Field(p, o, 'droppedAttributesCount', 'dropped_attributes_count'),
  };
}

function linkFromJson(p: JsonPath, o: JsonObject): SpanLink {
  return {
    traceId: idField(p, o, 'traceId', 'trace_id', 32),
    spanId: idField(p, o, 'spanId', 'span_id', 16),
    traceState: stringField(p, o, 'traceState', 'trace_state'),
    attributes: attributesFromJson(p, o, 'attributes', 'attributes'),
    droppedAttributesCount: uint32Field(p, o, 'droppedAttributesCount', 'dropped_attributes_count'),
    flags: uint32Field(p, o, 'flags', 'flags'),
  };
}

function scopeSpansFromJson(p: JsonPath, o: JsonObject): ScopeSpans {
  return {
    scope: scopeFromJson(p, o),
    spans: listFromJson(p, o, 'spans', 'spans', spanFromJson),
    schemaUrl: stringField(p, o, 'schemaUrl', 'schema_url'),
  };
}

function resourceSpansFromJson(p: JsonPath, o: JsonObject): ResourceSpans {
  return {
    resource: resourceFromJson(p, o),
    scopeSpans: listFromJson(p, o, 'scopeSpans', 'scope_spans', scopeSpansFromJson),
    schemaUrl: stringField(p, o, 'schemaUrl', 'schema_url'),
  };
}

function exemplarFromJson(p: JsonPath, o: JsonObject): Exemplar {
  const x: Exemplar = {
    filteredAttributes: attributesFromJson(p, o, 'filteredAttributes', 'filtered_attributes'),
    timeUnixNano: timeField(p, o, 'timeUnixNano', 'time_unix_nano'),
    value: 0,
    isInt: false,
    spanId: idField(p, o, 'spanId', 'span_id', 16),
    traceId: idField(p, o, 'traceId', 'trace_id', 32),
  };
  const asInt = get(o, 'asInt', 'as_int');
  if (asInt !== undefined) {
    x.value = int64Value(p, asInt, 'asInt');
    x.isInt = true;
  } else {
    x.value = doubleField(p, o, 'asDouble', 'as_double') ?? 0;
  }
  return x;
}

/** The fields every data point has. */
type PointBase = Pick<NumberDataPoint, 'attributes' | 'startTimeUnixNano' | 'timeUnixNano' | 'exemplars' | 'flags'>;

function pointBase(p: JsonPath, o: JsonObject): PointBase {
  return {
    attributes: attributesFromJson(p, o, 'attributes', 'attributes'),
    startTimeUnixNano: timeField(p, o, 'startTimeUnixNano', 'start_time_unix_nano'),
    timeUnixNano: timeField(p, o, 'timeUnixNano', 'time_unix_nano'),
    exemplars: listFromJson(p, o, 'exemplars', 'exemplars', exemplarFromJson),
    flags: uint32Field(p, o, 'flags', 'flags'),
  };
}

function numberPointFromJson(p: JsonPath, o: JsonObject): NumberDataPoint {
  const pt: NumberDataPoint = { ...pointBase(p, o), value: 0, isInt: false };
  const asInt = get(o, 'asInt', 'as_int');
  if (asInt !== undefined) {
    pt.value = int64Value(p, asInt, 'asInt');
    pt.isInt = true;
  } else {
    pt.value = doubleField(p, o, 'asDouble', 'as_double') ?? 0;
  }
  return pt;
}

function countsFromJson(p: JsonPath, o: JsonObject, camel: string, snake: string): number[] {
  const list = arrayField(p, o, camel, snake);
  const out: number[] = new Array<number>(list.length);
  p.parts.push(camel);
  for (let i = 0; i < list.length; i++) out[i] = countValue(p, list[i], i);
  p.parts.pop();
  return out;
}

function doublesFromJson(p: JsonPath, o: JsonObject, camel: string, snake: string): number[] {
  const list = arrayField(p, o, camel, snake);
  const out: number[] = new Array<number>(list.length);
  p.parts.push(camel);
  for (let i = 0; i < list.length; i++) out[i] = doubleValue(p, list[i], i);
  p.parts.pop();
  return out;
}

function histogramPointFromJson(p: JsonPath, o: JsonObject): HistogramDataPoint {
  const pt: HistogramDataPoint = {
    ...pointBase(p, o),
    count: countField(p, o, 'count', 'count'),
    bucketCounts: countsFromJson(p, o, 'bucketCounts', 'bucket_counts'),
    explicitBounds: doublesFromJson(p, o, 'explicitBounds', 'explicit_bounds'),
  };
  const sum = doubleField(p, o, 'sum', 'sum');
  if (sum !== undefined) pt.sum = sum;
  const min = doubleField(p, o, 'min', 'min');
  if (min !== undefined) pt.min = min;
  const max = doubleField(p, o, 'max', 'max');
  if (max !== undefined) pt.max = max;
  return pt;
}

function bucketsFromJson(p: JsonPath, parent: JsonObject, camel: string): ExponentialBuckets {
  const o = objectField(p, parent, camel, camel);
  if (o === undefined) return { offset: 0, bucketCounts: [] };
  p.parts.push(camel);
  const b = { offset: sint32Field(p, o, 'offset', 'offset'), bucketCounts: countsFromJson(p, o, 'bucketCounts', 'bucket_counts') };
  p.parts.pop();
  return b;
}

function expPointFromJson(p: JsonPath, o: JsonObject): ExponentialHistogramDataPoint {
  const pt: ExponentialHistogramDataPoint = {
    ...pointBase(p, o),
    count: countField(p, o, 'count', 'count'),
    scale: sint32Field(p, o, 'scale', 'scale'),
    zeroCount: countField(p, o, 'zeroCount', 'zero_count'),
    positive: bucketsFromJson(p, o, 'positive'),
    negative: bucketsFromJson(p, o, 'negative'),
    zeroThreshold: doubleField(p, o, 'zeroThreshold', 'zero_threshold') ?? 0,
  };
  const sum = doubleField(p, o, 'sum', 'sum');
  if (sum !== undefined) pt.sum = sum;
  const min = doubleField(p, o, 'min', 'min');
  if (min !== undefined) pt.min = min;
  const max = doubleField(p, o, 'max', 'max');
  if (max !== undefined) pt.max = max;
  return pt;
}

function quantileFromJson(p: JsonPath, o: JsonObject): ValueAtQuantile {
  return { quantile: doubleField(p, o, 'quantile', 'quantile') ?? 0, value: doubleField(p, o, 'value', 'value') ?? 0 };
}

function summaryPointFromJson(p: JsonPath, o: JsonObject): SummaryDataPoint {
  return {
    ...pointBase(p, o),
    count: countField(p, o, 'count', 'count'),
    sum: doubleField(p, o, 'sum', 'sum') ?? 0,
    quantileValues: listFromJson(p, o, 'quantileValues', 'quantile_values', quantileFromJson),
  };
}

function metricFromJson(p: JsonPath, o: JsonObject): Metric {
  let data: MetricData = { type: 'empty' };
  let d: JsonObject | undefined;
  if ((d = objectField(p, o, 'gauge', 'gauge')) !== undefined) {
    p.parts.push('gauge');
    data = { type: 'gauge', dataPoints: listFromJson(p, d, 'dataPoints', 'data_points', numberPointFromJson) };
  } else if ((d = objectField(p, o, 'sum', 'sum')) !== undefined) {
    p.parts.push('sum');
    data = {
      type: 'sum',
      dataPoints: listFromJson(p, d, 'dataPoints', 'data_points', numberPointFromJson),
      aggregationTemporality: enumField(p, d, 'aggregationTemporality', 'aggregation_temporality', TEMPORALITIES),
      isMonotonic: boolField(p, d, 'isMonotonic', 'is_monotonic'),
    };
  } else if ((d = objectField(p, o, 'histogram', 'histogram')) !== undefined) {
    p.parts.push('histogram');
    data = {
      type: 'histogram',
      dataPoints: listFromJson(p, d, 'dataPoints', 'data_points', histogramPointFromJson),
      aggregationTemporality: enumField(p, d, 'aggregationTemporality', 'aggregation_temporality', TEMPORALITIES),
    };
  } else if ((d = objectField(p, o, 'exponentialHistogram', 'exponential_histogram')) !== undefined) {
    p.parts.push('exponentialHistogram');
    data = {
      type: 'exponentialHistogram',
      dataPoints: listFromJson(p, d, 'dataPoints', 'data_points', expPointFromJson),
      aggregationTemporality: enumField(p, d, 'aggregationTemporality', 'aggregation_temporality', TEMPORALITIES),
    };
  } else if ((d = objectField(p, o, 'summary', 'summary')) !== undefined) {
    p.parts.push('summary');
    data = { type: 'summary', dataPoints: listFromJson(p, d, 'dataPoints', 'data_points', summaryPointFromJson) };
  }
  if (d !== undefined) p.parts.pop();
  return {
    name: stringField(p, o, 'name', 'name'),
    description: stringField(p, o, 'description', 'description'),
    unit: stringField(p, o, 'unit', 'unit'),
    metadata: attributesFromJson(p, o, 'metadata', 'metadata'),
    data,
  };
}

function scopeMetricsFromJson(p: JsonPath, o: JsonObject): ScopeMetrics {
  return {
    scope: scopeFromJson(p, o),
    metrics: listFromJson(p, o, 'metrics', 'metrics', metricFromJson),
    schemaUrl: stringField(p, o, 'schemaUrl', 'schema_url'),
  };
}

function resourceMetricsFromJson(p: JsonPath, o: JsonObject): ResourceMetrics {
  return {
    resource: resourceFromJson(p, o),
    scopeMetrics: listFromJson(p, o, 'scopeMetrics', 'scope_metrics', scopeMetricsFromJson),
    schemaUrl: stringField(p, o, 'schemaUrl', 'schema_url'),
  };
}

function logRecordFromJson(p: JsonPath, o: JsonObject): LogRecord {
  p.parts.push('body');
  const body = anyValueFromJson(p, get(o, 'body', 'body'), 0);
  p.parts.pop();
  return {
    timeUnixNano: timeField(p, o, 'timeUnixNano', 'time_unix_nano'),
    observedTimeUnixNano: timeField(p, o, 'observedTimeUnixNano', 'observed_time_unix_nano'),
    severityNumber: enumField(p, o, 'severityNumber', 'severity_number', SEVERITIES),
    severityText: stringField(p, o, 'severityText', 'severity_text'),
    body,
    attributes: attributesFromJson(p, o, 'attributes', 'attributes'),
    droppedAttributesCount: uint32Field(p, o, 'droppedAttributesCount', 'dropped_attributes_count'),
    flags: uint32Field(p, o, 'flags', 'flags'),
    traceId: idField(p, o, 'traceId', 'trace_id', 32),
    spanId: idField(p, o, 'spanId', 'span_id', 16),
    eventName: stringField(p, o, 'eventName', 'event_name'),
  };
}

function scopeLogsFromJson(p: JsonPath, o: JsonObject): ScopeLogs {
  return {
    scope: scopeFromJson(p, o),
    logRecords: listFromJson(p, o, 'logRecords', 'log_records', logRecordFromJson),
    schemaUrl: stringField(p, o, 'schemaUrl', 'schema_url'),
  };
}

function resourceLogsFromJson(p: JsonPath, o: JsonObject): ResourceLogs {
  return {
    resource: resourceFromJson(p, o),
    scopeLogs: listFromJson(p, o, 'scopeLogs', 'scope_logs', scopeLogsFromJson),
    schemaUrl: stringField(p, o, 'schemaUrl', 'schema_url'),
  };
}

function responseFromJson(input: string | Uint8Array, rejectedCamel: string, rejectedSnake: string): ExportPartialSuccess {
  return guarded(input, (doc, p) => {
    const ps = objectField(p, doc, 'partialSuccess', 'partial_success');
    if (ps === undefined) return { rejected: 0, errorMessage: '' };
    p.parts.push('partialSuccess');
    const out = {
      rejected: countField(p, ps, rejectedCamel, rejectedSnake),
      errorMessage: stringField(p, ps, 'errorMessage', 'error_message'),
    };
    p.parts.pop();
    return out;
  });
}

// ------------------------------------------------------------ decode: public

/**
 * Decodes an OTLP/JSON `ExportTraceServiceRequest` (text or UTF-8 bytes).
 * @throws OtlpDecodeError with the path of the offending field.
 */
export function decodeTracesRequestJson(input: string | Uint8Array): Traces {
  return guarded(input, (doc, p) => ({
    resourceSpans: listFromJson(p, doc, 'resourceSpans', 'resource_spans', resourceSpansFromJson),
  }));
}

/**
 * Decodes an OTLP/JSON `ExportMetricsServiceRequest` (text or UTF-8 bytes).
 * @throws OtlpDecodeError with the path of the offending field.
 */
export function decodeMetricsRequestJson(input: string | Uint8Array): Metrics {
  return guarded(input, (doc, p) => ({
    resourceMetrics: listFromJson(p, doc, 'resourceMetrics', 'resource_metrics', resourceMetricsFromJson),
  }));
}

/**
 * Decodes an OTLP/JSON `ExportLogsServiceRequest` (text or UTF-8 bytes).
 * @throws OtlpDecodeError with the path of the offending field.
 */
export function decodeLogsRequestJson(input: string | Uint8Array): Logs {
  return guarded(input, (doc, p) => ({
    resourceLogs: listFromJson(p, doc, 'resourceLogs', 'resource_logs', resourceLogsFromJson),
  }));
}

/** Decodes an OTLP/JSON `ExportTraceServiceResponse` (`rejected` is `rejectedSpans`). */
export function decodeTracesResponseJson(input: string | Uint8Array): ExportPartialSuccess {
  return responseFromJson(input, 'rejectedSpans', 'rejected_spans');
}

/** Decodes an OTLP/JSON `ExportMetricsServiceResponse` (`rejected` is `rejectedDataPoints`). */
export function decodeMetricsResponseJson(input: string | Uint8Array): ExportPartialSuccess {
  return responseFromJson(input, 'rejectedDataPoints', 'rejected_data_points');
}

/** Decodes an OTLP/JSON `ExportLogsServiceResponse` (`rejected` is `rejectedLogRecords`). */
export function decodeLogsResponseJson(input: string | Uint8Array): ExportPartialSuccess {
  return responseFromJson(input, 'rejectedLogRecords', 'rejected_log_records');
}

// ------------------------------------------------------------------ encode

// The encoders build the text by concatenation (V8 joins such strings as
// ropes, without copying, until the result is flattened once). Every member
// is emitted with a leading comma, and `obj`/`listJson` cut the first one, so
// that members left out as defaults need no separator bookkeeping.

function q(s: string): string {
  return JSON.stringify(s);
}

function jsonDouble(v: number): string {
  if (Number.isFinite(v)) return String(v);
  return Number.isNaN(v) ? '"NaN"' : v > 0 ? '"Infinity"' : '"-Infinity"';
}

function idJson(name: string, hex: string, chars: number, what: string): string {
  if (hex === '') return '';
  if (!isHexId(hex, chars)) throw new OtlpEncodeError(`${what}: expected ${chars} hex characters, got "${hex}"`);
  return `,"${name}":"${hex.toLowerCase()}"`;
}

function strJson(name: string, s: string): string {
  return s ? `,"${name}":${q(s)}` : '';
}

/** A 32-bit integer or enum member, left out when 0. */
function numJson(name: string, v: number): string {
  return v ? `,"${name}":${v}` : '';
}

function timeJson(name: string, t: bigint): string {
  return t ? `,"${name}":"${t}"` : '';
}

function countJson(name: string, v: number): string {
  return v ? `,"${name}":"${v}"` : '';
}

function optDoubleJson(name: string, v: number | undefined): string {
  return v === undefined ? '' : `,"${name}":${jsonDouble(v)}`;
}

/** `{...members}` from members that each start with a comma. */
function obj(members: string): string {
  return `{${members.slice(1)}}`;
}

function anyValueJson(v: AnyValue, depth: number): string {
  switch (typeof v) {
    case 'string':
      return `{"stringValue":${q(v)}}`;
    case 'boolean':
      return `{"boolValue":${v}}`;
    case 'number':
      return Number.isSafeInteger(v) ? `{"intValue":"${v}"}` : `{"doubleValue":${jsonDouble(v)}}`;
    case 'bigint':
      return v >= INT64_MIN && v <= INT64_MAX ? `{"intValue":"${v}"}` : `{"doubleValue":${jsonDouble(Number(v))}}`;
    case 'object': {
      if (v === null) return '{}';
      if (v instanceof Uint8Array) {
        return `{"bytesValue":"${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')}"}`;
      }
      if (depth >= MAX_ANY_VALUE_DEPTH) {
        throw new OtlpEncodeError(`attribute values nested deeper than ${MAX_ANY_VALUE_DEPTH} levels`);
      }
      if (Array.isArray(v)) {
        let out = '';
        for (let i = 0; i < v.length; i++) out += ',' + anyValueJson(v[i], depth + 1);
        return `{"arrayValue":{"values":[${out.slice(1)}]}}`;
      }
      return `{"kvlistValue":{"values":[${keyValuesJson(v, depth + 1)}]}}`;
    }
    default:
      return '{}';
  }
}

function keyValuesJson(attrs: KeyValueList, depth: number): string {
  let out = '';
  for (const key in attrs) out += `,{"key":${q(key)},"value":${anyValueJson(attrs[key], depth)}}`;
  return out.slice(1);
}

function attrsJson(name: string, attrs: Attributes): string {
  const kv = keyValuesJson(attrs, 0);
  return kv ? `,"${name}":[${kv}]` : '';
}

function listJson<T>(name: string, items: readonly T[], item: (x: T) => string): string {
  if (items.length === 0) return '';
  let out = '';
  for (let i = 0; i < items.length; i++) out += ',' + item(items[i]);
  return `,"${name}":[${out.slice(1)}]`;
}

function resourceJson(r: Resource): string {
  return `"resource":${obj(attrsJson('attributes', r.attributes) + numJson('droppedAttributesCount', r.droppedAttributesCount))}`;
}

function scopeJson(s: InstrumentationScope): string {
  return `"scope":${obj(
    strJson('name', s.name) +
      strJson('version', s.version) +
      attrsJson('attributes', s.attributes) +
      numJson('droppedAttributesCount', s.droppedAttributesCount),
  )}`;
}

function spanJson(s: Span): string {
  const st = s.status;
  const status = st.code || st.message ? `,"status":${obj(strJson('message', st.message) + numJson('code', st.code))}` : '';
  return obj(
    idJson('traceId', s.traceId, 32, 'Span.traceId') +
      idJson('spanId', s.spanId, 16, 'Span.spanId') +
      strJson('traceState', s.traceState) +
      idJson('parentSpanId', s.parentSpanId, 16, 'Span.parentSpanId') +
      numJson('flags', s.flags) +
      strJson('name', s.name) +
      numJson('kind', s.kind) +
      timeJson('startTimeUnixNano', s.startTimeUnixNano) +
      timeJson('endTimeUnixNano', s.endTimeUnixNano) +
      attrsJson('attributes', s.attributes) +
      numJson('droppedAttributesCount', s.droppedAttributesCount) +
      listJson('events', s.events, eventJson) +
      numJson('droppedEventsCount', s.droppedEventsCount) +
      listJson('links', s.links, linkJson) +
      numJson('droppedLinksCount', s.droppedLinksCount) +
      status,
  );
}

function eventJson(e: SpanEvent): string {
  return obj(
    timeJson('timeUnixNano', e.timeUnixNano) +
      strJson('name', e.name) +
      attrsJson('attributes', e.attributes) +
      numJson('droppedAttributesCount', e.droppedAttributesCount),
  );
}

function linkJson(l: SpanLink): string {
  return obj(
    idJson('traceId', l.traceId, 32, 'Span.Link.traceId') +
      idJson('spanId', l.spanId, 16, 'Span.Link.spanId') +
      strJson('traceState', l.traceState) +
      attrsJson('attributes', l.attributes) +
      numJson('droppedAttributesCount', l.droppedAttributesCount) +
      numJson('flags', l.flags),
  );
}

function exemplarJson(x: Exemplar): string {
  const value = x.isInt ? `,"asInt":"${x.value}"` : `,"asDouble":${jsonDouble(Number(x.value))}`;
  return obj(
    attrsJson('filteredAttributes', x.filteredAttributes) +
      timeJson('timeUnixNano', x.timeUnixNano) +
      value +
      idJson('spanId', x.spanId, 16, 'Exemplar.spanId') +
      idJson('traceId', x.traceId, 32, 'Exemplar.traceId'),
  );
}

function pointBaseJson(pt: NumberDataPoint | HistogramDataPoint | ExponentialHistogramDataPoint | SummaryDataPoint): string {
  return (
    attrsJson('attributes', pt.attributes) +
    timeJson('startTimeUnixNano', pt.startTimeUnixNano) +
    timeJson('timeUnixNano', pt.timeUnixNano) +
    listJson('exemplars', pt.exemplars, exemplarJson) +
    numJson('flags', pt.flags)
  );
}

function numberPointJson(pt: NumberDataPoint): string {
  const value = pt.isInt ? `,"asInt":"${pt.value}"` : `,"asDouble":${jsonDouble(Number(pt.value))}`;
  return obj(pointBaseJson(pt) + value);
}

function countsJson(name: string, counts: readonly number[]): string {
  if (counts.length === 0) return '';
  let out = '';
  for (let i = 0; i < counts.length; i++) out += `,"${counts[i]}"`;
  return `,"${name}":[${out.slice(1)}]`;
}

function histogramPointJson(pt: HistogramDataPoint): string {
  let bounds = '';
  if (pt.explicitBounds.length) {
    bounds = `,"explicitBounds":[${pt.explicitBounds.map(jsonDouble).join(',')}]`;
  }
  return obj(
    pointBaseJson(pt) +
      countJson('count', pt.count) +
      optDoubleJson('sum', pt.sum) +
      countsJson('bucketCounts', pt.bucketCounts) +
      bounds +
      optDoubleJson('min', pt.min) +
      optDoubleJson('max', pt.max),
  );
}

function bucketsJson(name: string, b: ExponentialBuckets): string {
  if (!b.offset && b.bucketCounts.length === 0) return '';
  return `,"${name}":${obj(numJson('offset', b.offset) + countsJson('bucketCounts', b.bucketCounts))}`;
}

function expPointJson(pt: ExponentialHistogramDataPoint): string {
  return obj(
    pointBaseJson(pt) +
      countJson('count', pt.count) +
      optDoubleJson('sum', pt.sum) +
      numJson('scale', pt.scale) +
      countJson('zeroCount', pt.zeroCount) +
      bucketsJson('positive', pt.positive) +
      bucketsJson('negative', pt.negative) +
      optDoubleJson('min', pt.min) +
      optDoubleJson('max', pt.max) +
      (pt.zeroThreshold ? `,"zeroThreshold":${jsonDouble(pt.zeroThreshold)}` : ''),
  );
}

function quantileJson(qv: ValueAtQuantile): string {
  return obj(
    (qv.quantile ? `,"quantile":${jsonDouble(qv.quantile)}` : '') + (qv.value ? `,"value":${jsonDouble(qv.value)}` : ''),
  );
}

function summaryPointJson(pt: SummaryDataPoint): string {
  return obj(
    pointBaseJson(pt) +
      countJson('count', pt.count) +
      (pt.sum ? `,"sum":${jsonDouble(pt.sum)}` : '') +
      listJson('quantileValues', pt.quantileValues, quantileJson),
  );
}

function metricJson(m: Metric): string {
  const d = m.data;
  let data = '';
  switch (d.type) {
    case 'gauge':
      data = `,"gauge":{${listJson('dataPoints', d.dataPoints, numberPointJson).slice(1)}}`;
      break;
    case 'sum':
      data = `,"sum":${obj(
        listJson('dataPoints', d.dataPoints, numberPointJson) +
          numJson('aggregationTemporality', d.aggregationTemporality) +
          (d.isMonotonic ? ',"isMonotonic":true' : ''),
      )}`;
      break;
    case 'histogram':
      data = `,"histogram":${obj(
        listJson('dataPoints', d.dataPoints, histogramPointJson) +
          numJson('aggregationTemporality', d.aggregationTemporality),
      )}`;
      break;
    case 'exponentialHistogram':
      data = `,"exponentialHistogram":${obj(
        listJson('dataPoints', d.dataPoints, expPointJson) +
          numJson('aggregationTemporality', d.aggregationTemporality),
      )}`;
      break;
    case 'summary':
      data = `,"summary":{${listJson('dataPoints', d.dataPoints, summaryPointJson).slice(1)}}`;
      break;
    default:
      break;
  }
  return obj(
      strJson('name', m.name) +
        strJson('description', m.description) +
        strJson('unit', m.unit) +
        data +
        attrsJson('metadata', m.metadata),
  );
}

function logRecordJson(r: LogRecord): string {
  const body = r.body === null || r.body === undefined ? '' : `,"body":${anyValueJson(r.body, 0)}`;
  return obj(
    timeJson('timeUnixNano', r.timeUnixNano) +
      timeJson('observedTimeUnixNano', r.observedTimeUnixNano) +
      numJson('severityNumber', r.severityNumber) +
      strJson('severityText', r.severityText) +
      body +
      attrsJson('attributes', r.attributes) +
      numJson('droppedAttributesCount', r.droppedAttributesCount) +
      numJson('flags', r.flags) +
      idJson('traceId', r.traceId, 32, 'LogRecord.traceId') +
      idJson('spanId', r.spanId, 16, 'LogRecord.spanId') +
      strJson('eventName', r.eventName),
  );
}

function scopeSpansJson(ss: ScopeSpans): string {
  return obj(`,${scopeJson(ss.scope)}` + listJson('spans', ss.spans, spanJson) + strJson('schemaUrl', ss.schemaUrl));
}

function resourceSpansJson(rs: ResourceSpans): string {
  return obj(
    `,${resourceJson(rs.resource)}` +
      listJson('scopeSpans', rs.scopeSpans, scopeSpansJson) +
      strJson('schemaUrl', rs.schemaUrl),
  );
}

function scopeMetricsJson(sm: ScopeMetrics): string {
  return obj(`,${scopeJson(sm.scope)}` + listJson('metrics', sm.metrics, metricJson) + strJson('schemaUrl', sm.schemaUrl));
}

function resourceMetricsJson(rm: ResourceMetrics): string {
  return obj(
    `,${resourceJson(rm.resource)}` +
      listJson('scopeMetrics', rm.scopeMetrics, scopeMetricsJson) +
      strJson('schemaUrl', rm.schemaUrl),
  );
}

function scopeLogsJson(sl: ScopeLogs): string {
  return obj(
    `,${scopeJson(sl.scope)}` + listJson('logRecords', sl.logRecords, logRecordJson) + strJson('schemaUrl', sl.schemaUrl),
  );
}

function resourceLogsJson(rl: ResourceLogs): string {
  return obj(
    `,${resourceJson(rl.resource)}` + listJson('scopeLogs', rl.scopeLogs, scopeLogsJson) + strJson('schemaUrl', rl.schemaUrl),
  );
}

/**
 * Encodes a batch of spans as OTLP/JSON `ExportTraceServiceRequest` text.
 * @throws OtlpEncodeError for an id that is not hex of the right length, or values nested too deeply.
 */
export function encodeTracesRequestJson(traces: Traces): string {
  return obj(listJson('resourceSpans', traces.resourceSpans, resourceSpansJson));
}

/**
 * Encodes a batch of metrics as OTLP/JSON `ExportMetricsServiceRequest` text.
 * @throws OtlpEncodeError for an id that is not hex of the right length, or values nested too deeply.
 */
export function encodeMetricsRequestJson(metrics: Metrics): string {
  return obj(listJson('resourceMetrics', metrics.resourceMetrics, resourceMetricsJson));
}

/**
 * Encodes a batch of log records as OTLP/JSON `ExportLogsServiceRequest` text.
 * @throws OtlpEncodeError for an id that is not hex of the right length, or values nested too deeply.
 */
export function encodeLogsRequestJson(logs: Logs): string {
  return obj(listJson('resourceLogs', logs.resourceLogs, resourceLogsJson));
}

function responseJson(rejectedName: string, rejected: number, errorMessage: string): string {
  if (!(rejected > 0) && !errorMessage) return '{}';
  return `{"partialSuccess":${obj(countJson(rejectedName, Math.floor(rejected)) + strJson('errorMessage', errorMessage))}}`;
}

/** OTLP/JSON `ExportTraceServiceResponse`: `{}` on full success, else `partialSuccess` with `rejectedSpans`. */
export function encodeTracesResponseJson(rejected: number, errorMessage: string): string {
  return responseJson('rejectedSpans', rejected, errorMessage);
}

/** OTLP/JSON `ExportMetricsServiceResponse`: `{}` on full success, else `partialSuccess` with `rejectedDataPoints`. */
export function encodeMetricsResponseJson(rejected: number, errorMessage: string): string {
  return responseJson('rejectedDataPoints', rejected, errorMessage);
}

/** OTLP/JSON `ExportLogsServiceResponse`: `{}` on full success, else `partialSuccess` with `rejectedLogRecords`. */
export function encodeLogsResponseJson(rejected: number, errorMessage: string): string {
  return responseJson('rejectedLogRecords', rejected, errorMessage);
}
