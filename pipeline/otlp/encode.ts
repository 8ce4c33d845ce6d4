/**
 * OTLP/protobuf encoders: pdata straight to the bytes of an
 * `Export{Trace,Metrics,Logs}ServiceRequest`, and the three responses.
 *
 * Proto3 rules: scalar fields equal to their default (0, '', false, empty id)
 * are left out; members of a oneof (an AnyValue's value, a data point's
 * `as_int`/`as_double`) and proto3 `optional` fields (histogram sum, min, max)
 * are written whenever set, even when zero, because their presence is
 * meaningful.
 *
 * `decodeXRequest(encodeXRequest(x))` equals `x` for any pdata the decoder can
 * produce. pdata values the decoder never produces are mapped as follows: a
 * `number` that is not a safe integer goes out as a double (so it comes back
 * as the same number); a bigint outside the int64 range goes out as a double;
 * `undefined` or a non-data value in an attribute goes out as an empty
 * AnyValue (null).
 */

import type {
  AnyValue,
  Attributes,
  Exemplar,
  ExponentialBuckets,
  ExponentialHistogramDataPoint,
  HistogramDataPoint,
  InstrumentationScope,
  LogRecord,
  Logs,
  Metric,
  Metrics,
  NumberDataPoint,
  Resource,
  Span,
  SummaryDataPoint,
  Traces,
} from '../pdata';
import { MAX_ANY_VALUE_DEPTH } from './protobuf-reader';
import { OtlpEncodeError, ProtoWriter } from './protobuf-writer';

// One writer for all encodes: encoding is synchronous, so calls never
// overlap, and reusing the buffer avoids growing a new one per request.
const writer = new ProtoWriter();

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

// ------------------------------------------------------------------- public

/**
 * Encodes a batch of spans as an `ExportTraceServiceRequest`.
 * @throws OtlpEncodeError for an id that is not hex of the right length, or values nested too deeply.
 */
export function encodeTracesRequest(traces: Traces): Buffer {
  const w = writer;
  w.reset();
  try {
    for (const rs of traces.resourceSpans) {
      w.begin(0x0a, 3);
      writeResource(w, rs.resource);
      for (const ss of rs.scopeSpans) {
        w.begin(0x12, 3);
        writeScope(w, ss.scope);
        const spans = ss.spans;
        for (let i = 0; i < spans.length; i++) writeSpan(w, spans[i]);
        if (ss.schemaUrl) stringField(w, 0x1a, ss.schemaUrl);
        w.end();
      }
      if (rs.schemaUrl) stringField(w, 0x1a, rs.schemaUrl);
      w.end();
    }
  } catch (err) {
    w.reset();
    throw err;
  }
  return w.detach();
}

/**
 * Encodes a batch of metrics as an `ExportMetricsServiceRequest`.
 * @throws OtlpEncodeError for an id that is not hex of the right length, or values nested too deeply.
 */
export function encodeMetricsRequest(metrics: Metrics): Buffer {
  const w = writer;
  w.reset();
  try {
    for (const rm of metrics.resourceMetrics) {
      w.begin(0x0a, 3);
      writeResource(w, rm.resource);
      for (const sm of rm.scopeMetrics) {
        w.begin(0x12, 3);
        writeScope(w, sm.scope);
        for (const m of sm.metrics) writeMetric(w, m);
        if (sm.schemaUrl) stringField(w, 0x1a, sm.schemaUrl);
        w.end();
      }
      if (rm.schemaUrl) stringField(w, 0x1a, rm.schemaUrl);
      w.end();
    }
  } catch (err) {
    w.reset();
    throw err;
  }
  return w.detach();
}

/**
 * Encodes a batch of log records as an `ExportLogsServiceRequest`.
 * @throws OtlpEncodeError for an id that is not hex of the right length, or values nested too deeply.
 */
export function encodeLogsRequest(logs: Logs): Buffer {
  const w = writer;
  w.reset();
  try {
    for (const rl of logs.resourceLogs) {
      w.begin(0x0a, 3);
      writeResource(w, rl.resource);
      for (const sl of rl.scopeLogs) {
        w.begin(0x12, 3);
        writeScope(w, sl.scope);
        const records = sl.logRecords;
        for (let i = 0; i < records.length; i++) writeLogRecord(w, records[i]);
        if (sl.schemaUrl) stringField(w, 0x1a, sl.schemaUrl);
        w.end();
      }
      if (rl.schemaUrl) stringField(w, 0x1a, rl.schemaUrl);
      w.end();
    }
  } catch (err) {
    w.reset();
    throw err;
  }
  return w.detach();
}

/**
 * Encodes an `ExportTraceServiceResponse`. A full success (`rejected` 0, no
 * message) is the empty message, since OTLP says `partial_success` must then
 * be left unset; otherwise `partial_success` carries `rejected_spans` and
 * `error_message`.
 */
export function encodeTracesResponse(rejected: number, errorMessage: string): Buffer {
  return encodeResponse(rejected, errorMessage);
}

/** Encodes an `ExportMetricsServiceResponse` (`rejected` is `rejected_data_points`); see {@link encodeTracesResponse}. */
export function encodeMetricsResponse(rejected: number, errorMessage: string): Buffer {
  return encodeResponse(rejected, errorMessage);
}

/** Encodes an `ExportLogsServiceResponse` (`rejected` is `rejected_log_records`); see {@link encodeTracesResponse}. */
export function encodeLogsResponse(rejected: number, errorMessage: string): Buffer {
  return encodeResponse(rejected, errorMessage);
}

// The three responses have the same shape: field 1 partial_success
// { 1: int64 rejected, 2: string error_message }.
function encodeResponse(rejected: number, errorMessage: string): Buffer {
  if (!(rejected > 0) && !errorMessage) return Buffer.alloc(0);
  // A writer of its own (responses are rare and small), sized to fit.
  const w = new ProtoWriter(32 + errorMessage.length * 3);
  w.begin(0x0a, 1);
  if (rejected > 0) {
    w.varint32(0x08);
    w.uint64Number(rejected);
  }
  if (errorMessage) stringField(w, 0x12, errorMessage);
  w.end();
  return w.detach();
}

// ------------------------------------------------------------------- common

function stringField(w: ProtoWriter, tag: number, s: string): void {
  w.varint32(tag);
  w.string(s);
}

function idField(w: ProtoWriter, tag: number, hex: string, chars: number, what: string): void {
  if (hex === '') return;
  w.varint32(tag);
  w.hexId(hex, chars, what);
}

/** Writes every attribute as one occurrence of the repeated KeyValue field `tag`. */
function writeAttributes(w: ProtoWriter, tag: number, attrs: Attributes): void {
  for (const key in attrs) {
    w.begin(tag, 1);
    writeKeyValue(w, key, attrs[key], 0);
    w.end();
  }
}

function writeKeyValue(w: ProtoWriter, key: string, value: AnyValue, depth: number): void {
  if (key !== '') stringField(w, 0x0a, key);
  // The value is always written, even when empty, as the Collector does.
  w.begin(0x12, 1);
  writeAnyValue(w, value, depth);
  w.end();
}

/** Writes the fields of one AnyValue message (not its tag or length). */
function writeAnyValue(w: ProtoWriter, v: AnyValue, depth: number): void {
  switch (typeof v) {
    case 'string':
      stringField(w, 0x0a, v);
      return;
    case 'number':
      if (Number.isSafeInteger(v)) {
        w.varint32(0x18);
        w.int64(v);
      } else {
        w.varint32(0x21);
        w.double(v);
      }
      return;
    case 'boolean':
      w.varint32(0x10);
      w.varint32(v ? 1 : 0);
      return;
    case 'bigint':
      if (v >= INT64_MIN && v <= INT64_MAX) {
        w.varint32(0x18);
        w.int64(v);
      } else {
        w.varint32(0x21);
        w.double(Number(v));
      }
      return;
    case 'object':
      if (v === null) return;
      if (v instanceof Uint8Array) {
        w.varint32(0x3a);
        w.bytes(v);
        return;
      }
      if (depth >= MAX_ANY_VALUE_DEPTH) {
        throw new OtlpEncodeError(`attribute values nested deeper than ${MAX_ANY_VALUE_DEPTH} levels`);
      }
      if (Array.isArray(v)) {
        w.begin(0x2a, 2);
        for (let i = 0; i < v.length; i++) {
          w.begin(0x0a, 1);
          writeAnyValue(w, v[i], depth + 1);
          w.end();
        }
        w.end();
        return;
      }
      w.begin(0x32, 2);
      for (const key in v) {
        w.begin(0x0a, 1);
        writeKeyValue(w, key, v[key], depth + 1);
        w.end();
      }
      w.end();
      return;
    default:
      // undefined, functions, symbols: not data; an empty AnyValue.
      return;
  }
}

function writeResource(w: ProtoWriter, res: Resource): void {
  w.begin(0x0a, 2);
  writeAttributes(w, 0x0a, res.attributes);
  if (res.droppedAttributesCount) {
    w.varint32(0x10);
    w.varint32(res.droppedAttributesCount);
  }
  w.end();
}

function writeScope(w: ProtoWriter, scope: InstrumentationScope): void {
  w.begin(0x0a, 1);
  if (scope.name) stringField(w, 0x0a, scope.name);
  if (scope.version) stringField(w, 0x12, scope.version);
  writeAttributes(w, 0x1a, scope.attributes);
  if (scope.droppedAttributesCount) {
    w.varint32(0x20);
    w.varint32(scope.droppedAttributesCount);
  }
  w.end();
}

/** Writes a fixed64 timestamp field unless it is 0. */
function timeField(w: ProtoWriter, tag: number, t: bigint): void {
  if (t === 0n) return;
  w.varint32(tag);
  w.fixed64Big(typeof t === 'bigint' ? t : BigInt(Math.trunc(Number(t)) || 0));
}

/** Writes a varint uint32 field unless it is 0. */
function uint32Field(w: ProtoWriter, tag: number, v: number): void {
  if (!v) return;
  w.varint32(tag);
  w.varint32(v);
}

/** Writes a varint int32 (enum) field unless it is 0. */
function int32Field(w: ProtoWriter, tag: number, v: number): void {
  if (!v) return;
  w.varint32(tag);
  w.int32(v);
}

// ------------------------------------------------------------------- traces

function writeSpan(w: ProtoWriter, s: Span): void {
  w.begin(0x12, 2);
  idField(w, 0x0a, s.traceId, 32, 'Span.traceId');
  idField(w, 0x12, s.spanId, 16, 'Span.spanId');
  if (s.traceState) stringField(w, 0x1a, s.traceState);
  idField(w, 0x22, s.parentSpanId, 16, 'Span.parentSpanId');
  if (s.name) stringField(w, 0x2a, s.name);
  int32Field(w, 0x30, s.kind);
  timeField(w, 0x39, s.startTimeUnixNano);
  timeField(w, 0x41, s.endTimeUnixNano);
  writeAttributes(w, 0x4a, s.attributes);
  uint32Field(w, 0x50, s.droppedAttributesCount);
  const events = s.events;
  for (let i = 0; i < events.length; i++) {
    const ev = events[i];
    w.begin(0x5a, 2);
    timeField(w, 0x09, ev.timeUnixNano);
    if (ev.name) stringField(w, 0x12, ev.name);
    writeAttributes(w, 0x1a, ev.attributes);
    uint32Field(w, 0x20, ev.droppedAttributesCount);
    w.end();
  }
  uint32Field(w, 0x60, s.droppedEventsCount);
  const links = s.links;
  for (let i = 0; i < links.length; i++) {
    const link = links[i];
    w.begin(0x6a, 2);
    idField(w, 0x0a, link.traceId, 32, 'Span.Link.traceId');
    idField(w, 0x12, link.spanId, 16, 'Span.Link.spanId');
    if (link.traceState) stringField(w, 0x1a, link.traceState);
    writeAttributes(w, 0x22, link.attributes);
    uint32Field(w, 0x28, link.droppedAttributesCount);
    if (link.flags) {
      w.varint32(0x35);
      w.fixed32(link.flags);
    }
    w.end();
  }
  uint32Field(w, 0x70, s.droppedLinksCount);
  const status = s.status;
  if (status.code || status.message) {
    w.begin(0x7a, 1);
    if (status.message) stringField(w, 0x12, status.message);
    int32Field(w, 0x18, status.code);
    w.end();
  }
  if (s.flags) {
    w.varint32(0x85);
    w.fixed32(s.flags);
  }
  w.end();
}

// ------------------------------------------------------------------ metrics

function writeMetric(w: ProtoWriter, m: Metric): void {
  w.begin(0x12, 2);
  if (m.name) stringField(w, 0x0a, m.name);
  if (m.description) stringField(w, 0x12, m.description);
  if (m.unit) stringField(w, 0x1a, m.unit);
  const d = m.data;
  switch (d.type) {
    case 'gauge':
      w.begin(0x2a, 2);
      for (const p of d.dataPoints) writeNumberDataPoint(w, p);
      w.end();
      break;
    case 'sum':
      w.begin(0x3a, 2);
      for (const p of d.dataPoints) writeNumberDataPoint(w, p);
      int32Field(w, 0x10, d.aggregationTemporality);
      if (d.isMonotonic) {
        w.varint32(0x18);
        w.varint32(1);
      }
      w.end();
      break;
    case 'histogram':
      w.begin(0x4a, 2);
      for (const p of d.dataPoints) writeHistogramDataPoint(w, p);
      int32Field(w, 0x10, d.aggregationTemporality);
      w.end();
      break;
    case 'exponentialHistogram':
      w.begin(0x52, 2);
      for (const p of d.dataPoints) writeExponentialHistogramDataPoint(w, p);
      int32Field(w, 0x10, d.aggregationTemporality);
      w.end();
      break;
    case 'summary':
      w.begin(0x5a, 2);
      for (const p of d.dataPoints) writeSummaryDataPoint(w, p);
      w.end();
      break;
    default:
      break;
  }
  writeAttributes(w, 0x62, m.metadata);
  w.end();
}

function writeExemplars(w: ProtoWriter, tag: number, exemplars: Exemplar[]): void {
  for (let i = 0; i < exemplars.length; i++) {
    const x = exemplars[i];
    w.begin(tag, 1);
    timeField(w, 0x11, x.timeUnixNano);
    if (x.isInt) {
      w.varint32(0x31);
      w.sfixed64(x.value);
    } else {
      w.varint32(0x19);
      w.double(Number(x.value));
    }
    idField(w, 0x22, x.spanId, 16, 'Exemplar.spanId');
    idField(w, 0x2a, x.traceId, 32, 'Exemplar.traceId');
    writeAttributes(w, 0x3a, x.filteredAttributes);
    w.end();
  }
}

function writeNumberDataPoint(w: ProtoWriter, p: NumberDataPoint): void {
  w.begin(0x0a, 1);
  timeField(w, 0x11, p.startTimeUnixNano);
  timeField(w, 0x19, p.timeUnixNano);
  if (p.isInt) {
    w.varint32(0x31);
    w.sfixed64(p.value);
  } else {
    w.varint32(0x21);
    w.double(Number(p.value));
  }
  writeExemplars(w, 0x2a, p.exemplars);
  writeAttributes(w, 0x3a, p.attributes);
  uint32Field(w, 0x40, p.flags);
  w.end();
}

function optionalDouble(w: ProtoWriter, tag: number, v: number | undefined): void {
  if (v === undefined) return;
  w.varint32(tag);
  w.double(v);
}

function writeHistogramDataPoint(w: ProtoWriter, p: HistogramDataPoint): void {
  w.begin(0x0a, 2);
  timeField(w, 0x11, p.startTimeUnixNano);
  timeField(w, 0x19, p.timeUnixNano);
  if (p.count) {
    w.varint32(0x21);
    w.fixed64Number(p.count);
  }
  optionalDouble(w, 0x29, p.sum);
  const counts = p.bucketCounts;
  if (counts.length) {
    w.varint32(0x32);
    w.varint32(counts.length * 8);
    for (let i = 0; i < counts.length; i++) w.fixed64Number(counts[i]);
  }
  const bounds = p.explicitBounds;
  if (bounds.length) {
    w.varint32(0x3a);
    w.varint32(bounds.length * 8);
    for (let i = 0; i < bounds.length; i++) w.double(bounds[i]);
  }
  writeExemplars(w, 0x42, p.exemplars);
  writeAttributes(w, 0x4a, p.attributes);
  uint32Field(w, 0x50, p.flags);
  optionalDouble(w, 0x59, p.min);
  optionalDouble(w, 0x61, p.max);
  w.end();
}

function writeBuckets(w: ProtoWriter, tag: number, b: ExponentialBuckets): void {
  if (!b.offset && b.bucketCounts.length === 0) return;
  w.begin(tag, 1);
  if (b.offset) {
    w.varint32(0x08);
    w.sint32(b.offset);
  }
  const counts = b.bucketCounts;
  if (counts.length) {
    w.begin(0x12, 1);
    for (let i = 0; i < counts.length; i++) w.uint64Number(counts[i]);
    w.end();
  }
  w.end();
}

function writeExponentialHistogramDataPoint(w: ProtoWriter, p: ExponentialHistogramDataPoint): void {
  w.begin(0x0a, 2);
  writeAttributes(w, 0x0a, p.attributes);
  timeField(w, 0x11, p.startTimeUnixNano);
  timeField(w, 0x19, p.timeUnixNano);
  if (p.count) {
    w.varint32(0x21);
    w.fixed64Number(p.count);
  }
  optionalDouble(w, 0x29, p.sum);
  if (p.scale) {
    w.varint32(0x30);
    w.sint32(p.scale);
  }
  if (p.zeroCount) {
    w.varint32(0x39);
    w.fixed64Number(p.zeroCount);
  }
  writeBuckets(w, 0x42, p.positive);
  writeBuckets(w, 0x4a, p.negative);
  uint32Field(w, 0x50, p.flags);
  writeExemplars(w, 0x5a, p.exemplars);
  optionalDouble(w, 0x61, p.min);
  optionalDouble(w, 0x69, p.max);
  if (p.zeroThreshold) {
    w.varint32(0x71);
    w.double(p.zeroThreshold);
  }
  w.end();
}

function writeSummaryDataPoint(w: ProtoWriter, p: SummaryDataPoint): void {
  w.begin(0x0a, 2);
  timeField(w, 0x11, p.startTimeUnixNano);
  timeField(w, 0x19, p.timeUnixNano);
  if (p.count) {
    w.varint32(0x21);
    w.fixed64Number(p.count);
  }
  if (p.sum) {
    w.varint32(0x29);
    w.double(p.sum);
  }
  for (const q of p.quantileValues) {
    w.begin(0x32, 1);
    if (q.quantile) {
      w.varint32(0x09);
      w.double(q.quantile);
    }
    if (q.value) {
      w.varint32(0x11);
      w.double(q.value);
    }
    w.end();
  }
  writeAttributes(w, 0x3a, p.attributes);
  uint32Field(w, 0x40, p.flags);
  w.end();
}

// --------------------------------------------------------------------- logs

function writeLogRecord(w: ProtoWriter, rec: LogRecord): void {
  w.begin(0x12, 2);
  timeField(w, 0x09, rec.timeUnixNano);
  int32Field(w, 0x10, rec.severityNumber);
  if (rec.severityText) stringField(w, 0x1a, rec.severityText);
  if (rec.body !== null && rec.body !== undefined) {
    w.begin(0x2a, 2);
    writeAnyValue(w, rec.body, 0);
    w.end();
  }
  writeAttributes(w, 0x32, rec.attributes);
  uint32Field(w, 0x38, rec.droppedAttributesCount);
  if (rec.flags) {
    w.varint32(0x45);
    w.fixed32(rec.flags);
  }
  idField(w, 0x4a, rec.traceId, 32, 'LogRecord.traceId');
  idField(w, 0x52, rec.spanId, 16, 'LogRecord.spanId');
  timeField(w, 0x59, rec.observedTimeUnixNano);
  if (rec.eventName) stringField(w, 0x62, rec.eventName);
  w.end();
}
