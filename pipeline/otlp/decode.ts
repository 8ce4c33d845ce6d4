/**
 * OTLP/protobuf decoders: the bytes of an `Export{Trace,Metrics,Logs}ServiceRequest`
 * (or of a response) straight to pdata, with no intermediate message objects.
 *
 * Field numbers are those of opentelemetry-proto v1.x (common/v1, resource/v1,
 * trace/v1, metrics/v1, logs/v1, collector/{trace,metrics,logs}/v1). Each
 * message is one function: a loop over tags with a `switch` on the whole tag
 * (field number and wire type), so a known field with the wrong wire type
 * falls to the default branch, where it is reported, while unknown fields are
 * skipped for forward compatibility.
 *
 * Protobuf merge rules are followed where they matter: a singular message
 * field that appears twice (resource, scope, status, a metric's data) is
 * merged into the same object; for a singular scalar the last value wins.
 *
 * Every malformed input ends in an {@link OtlpDecodeError}; see
 * `protobuf-reader.ts` for the bounds-checking contract.
 */

import type {
  AnyValue,
  Attributes,
  ExponentialBuckets,
  ExponentialHistogramDataPoint,
  Exemplar,
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
import { int64Value, MAX_ANY_VALUE_DEPTH, OtlpDecodeError, ProtoReader } from './protobuf-reader';
import type { FieldNames } from './protobuf-reader';

/** What an `Export*ServiceResponse` says (all zero/empty for a full success). */
export interface ExportPartialSuccess {
  /** Spans, data points or log records the server rejected. */
  rejected: number;
  /** The server's explanation; may be set with `rejected` 0 as a warning. */
  errorMessage: string;
}

// Field names by number, for "wrong wire type" errors.
const KEY_VALUE_FIELDS: FieldNames = [, 'key', 'value'];
const ANY_VALUE_FIELDS: FieldNames = [
  ,
  'string_value',
  'bool_value',
  'int_value',
  'double_value',
  'array_value',
  'kvlist_value',
  'bytes_value',
];
const VALUES_FIELDS: FieldNames = [, 'values'];
const RESOURCE_FIELDS: FieldNames = [, 'attributes', 'dropped_attributes_count'];
const SCOPE_FIELDS: FieldNames = [, 'name', 'version', 'attributes', 'dropped_attributes_count'];
const REQUEST_TRACES_FIELDS: FieldNames = [, 'resource_spans'];
const REQUEST_METRICS_FIELDS: FieldNames = [, 'resource_metrics'];
const REQUEST_LOGS_FIELDS: FieldNames = [, 'resource_logs'];
const RESOURCE_SPANS_FIELDS: FieldNames = [, 'resource', 'scope_spans', 'schema_url'];
const SCOPE_SPANS_FIELDS: FieldNames = [, 'scope', 'spans', 'schema_url'];
const SPAN_FIELDS: FieldNames = [
  ,
  'trace_id',
  'span_id',
  'trace_state',
  'parent_span_id',
  'name',
  'kind',
  'start_time_unix_nano',
  'end_time_unix_nano',
  'attributes',
  'dropped_attributes_count',
  'events',
  'dropped_events_count',
  'links',
  'dropped_links_count',
  'status',
  'flags',
];
const EVENT_FIELDS: FieldNames = [, 'time_unix_nano', 'name', 'attributes', 'dropped_attributes_count'];
const LINK_FIELDS: FieldNames = [
  ,
  'trace_id',
  'span_id',
  'trace_state',
  'attributes',
  'dropped_attributes_count',
  'flags',
];
const STATUS_FIELDS: FieldNames = [, , 'message', 'code'];
const RESOURCE_METRICS_FIELDS: FieldNames = [, 'resource', 'scope_metrics', 'schema_url'];
const SCOPE_METRICS_FIELDS: FieldNames = [, 'scope', 'metrics', 'schema_url'];
const METRIC_FIELDS: FieldNames = [
  ,
  'name',
  'description',
  'unit',
  ,
  'gauge',
  ,
  'sum',
  ,
  'histogram',
  'exponential_histogram',
  'summary',
  'metadata',
];
const GAUGE_FIELDS: FieldNames = [, 'data_points'];
const SUM_FIELDS: FieldNames = [, 'data_points', 'aggregation_temporality', 'is_monotonic'];
const HISTOGRAM_FIELDS: FieldNames = [, 'data_points', 'aggregation_temporality'];
const NUMBER_POINT_FIELDS: FieldNames = [
  ,
  ,
  'start_time_unix_nano',
  'time_unix_nano',
  'as_double',
  'exemplars',
  'as_int',
  'attributes',
  'flags',
];
const HISTOGRAM_POINT_FIELDS: FieldNames = [
  ,
  ,
  'start_time_unix_nano',
  'time_unix_nano',
  'count',
  'sum',
  'bucket_counts',
  'explicit_bounds',
  'exemplars',
  'attributes',
  'flags',
  'min',
  'max',
];
const EXP_POINT_FIELDS: FieldNames = [
  ,
  'attributes',
  'start_time_unix_nano',
  'time_unix_nano',
  'count',
  'sum',
  'scale',
  'zero_count',
  'positive',
  'negative',
  'flags',
  'exemplars',
  'min',
  'max',
  'zero_threshold',
];
const BUCKETS_FIELDS: FieldNames = [, 'offset', 'bucket_counts'];
const SUMMARY_POINT_FIELDS: FieldNames = [
  ,
  ,
  'start_time_unix_nano',
  'time_unix_nano',
  'count',
  'sum',
  'quantile_values',
  'attributes',
  'flags',
];
const QUANTILE_FIELDS: FieldNames = [, 'quantile', 'value'];
const EXEMPLAR_FIELDS: FieldNames = [
  ,
  ,
  'time_unix_nano',
  'as_double',
  'span_id',
  'trace_id',
  'as_int',
  'filtered_attributes',
];
const RESOURCE_LOGS_FIELDS: FieldNames = [, 'resource', 'scope_logs', 'schema_url'];
const SCOPE_LOGS_FIELDS: FieldNames = [, 'scope', 'log_records', 'schema_url'];
const LOG_RECORD_FIELDS: FieldNames = [
  ,
  'time_unix_nano',
  'severity_number',
  'severity_text',
  ,
  'body',
  'attributes',
  'dropped_attributes_count',
  'flags',
  'trace_id',
  'span_id',
  'observed_time_unix_nano',
  'event_name',
];
const RESPONSE_FIELDS: FieldNames = [, 'partial_success'];
const PARTIAL_SUCCESS_FIELDS: FieldNames = [, 'rejected', 'error_message'];

// ------------------------------------------------------- attribute objects

/**
 * Returns a constructor of plain objects: `new F()` has `Object.prototype` as
 * its prototype, exactly like `{}`, so callers cannot tell the difference.
 *
 * Why: V8 gives `{}` room for only 4 properties and moves the rest into a
 * separately grown array, reallocated every few keys, while objects made by a
 * constructor get their in-object size from the largest object seen in their
 * first few constructions ("slack tracking"). Building a 20-attribute object
 * this way measured ~3x faster than filling `{}`. One constructor per kind of
 * attribute set keeps small sets (events, links) from inheriting the size of
 * large ones (spans).
 */
function plainObjectConstructor(): new () => Attributes {
  const F = function PlainObject(): void {};
  F.prototype = Object.prototype;
  return F as unknown as new () => Attributes;
}

const ResourceAttributes = plainObjectConstructor();
const ScopeAttributes = plainObjectConstructor();
const SpanAttributes = plainObjectConstructor();
const EventAttributes = plainObjectConstructor();
const LinkAttributes = plainObjectConstructor();
const PointAttributes = plainObjectConstructor();
const ExemplarAttributes = plainObjectConstructor();
const MetadataAttributes = plainObjectConstructor();
const LogAttributes = plainObjectConstructor();
const KeyValueListObject = plainObjectConstructor();

// ------------------------------------------------------------------- public

/**
 * Decodes the bytes of an `ExportTraceServiceRequest`.
 * @throws OtlpDecodeError when the input is not a valid request.
 */
export function decodeTracesRequest(input: Uint8Array): Traces {
  const r = new ProtoReader(input);
  const resourceSpans: ResourceSpans[] = [];
  try {
    const end = r.len;
    while (r.pos < end) {
      const tag = r.varint32('ExportTraceServiceRequest');
      if (tag === 0x0a) {
        const e = r.lenEnd(end, 'ExportTraceServiceRequest.resource_spans');
        resourceSpans.push(decodeResourceSpans(r, e));
      } else {
        r.skipUnknown(tag, end, REQUEST_TRACES_FIELDS, 'ExportTraceServiceRequest');
      }
    }
  } catch (err) {
    throw asDecodeError(err);
  }
  return { resourceSpans };
}

/**
 * Decodes the bytes of an `ExportMetricsServiceRequest`.
 * @throws OtlpDecodeError when the input is not a valid request.
 */
export function decodeMetricsRequest(input: Uint8Array): Metrics {
  const r = new ProtoReader(input);
  const resourceMetrics: ResourceMetrics[] = [];
  try {
    const end = r.len;
    while (r.pos < end) {
      const tag = r.varint32('ExportMetricsServiceRequest');
      if (tag === 0x0a) {
        const e = r.lenEnd(end, 'ExportMetricsServiceRequest.resource_metrics');
        resourceMetrics.push(decodeResourceMetrics(r, e));
      } else {
        r.skipUnknown(tag, end, REQUEST_METRICS_FIELDS, 'ExportMetricsServiceRequest');
      }
    }
  } catch (err) {
    throw asDecodeError(err);
  }
  return { resourceMetrics };
}

/**
 * Decodes the bytes of an `ExportLogsServiceRequest`.
 * @throws OtlpDecodeError when the input is not a valid request.
 */
export function decodeLogsRequest(input: Uint8Array): Logs {
  const r = new ProtoReader(input);
  const resourceLogs: ResourceLogs[] = [];
  try {
    const end = r.len;
    while (r.pos < end) {
      const tag = r.varint32('ExportLogsServiceRequest');
      if (tag === 0x0a) {
        const e = r.lenEnd(end, 'ExportLogsServiceRequest.resource_logs');
        resourceLogs.push(decodeResourceLogs(r, e));
      } else {
        r.skipUnknown(tag, end, REQUEST_LOGS_FIELDS, 'ExportLogsServiceRequest');
      }
    }
  } catch (err) {
    throw asDecodeError(err);
  }
  return { resourceLogs };
}

/**
 * Decodes the bytes of an `ExportTraceServiceResponse` (what an OTLP exporter
 * receives): `rejected` is `partial_success.rejected_spans`.
 * @throws OtlpDecodeError when the input is not a valid response.
 */
export function decodeTracesResponse(input: Uint8Array): ExportPartialSuccess {
  return decodeResponse(input, 'ExportTraceServiceResponse');
}

/**
 * Decodes the bytes of an `ExportMetricsServiceResponse`: `rejected` is
 * `partial_success.rejected_data_points`.
 * @throws OtlpDecodeError when the input is not a valid response.
 */
export function decodeMetricsResponse(input: Uint8Array): ExportPartialSuccess {
  return decodeResponse(input, 'ExportMetricsServiceResponse');
}

/**
 * Decodes the bytes of an `ExportLogsServiceResponse`: `rejected` is
 * `partial_success.rejected_log_records`.
 * @throws OtlpDecodeError when the input is not a valid response.
 */
export function decodeLogsResponse(input: Uint8Array): ExportPartialSuccess {
  return decodeResponse(input, 'ExportLogsServiceResponse');
}

/**
 * The decoders promise to throw nothing but OtlpDecodeError. Any other error
 * would be a decoder bug (or the engine's stack running out); it is still
 * reported as a decode error, so a bad request can never take a receiver down,
 * but with a message that says so.
 */
function asDecodeError(err: unknown): OtlpDecodeError {
  if (err instanceof OtlpDecodeError) return err;
  return new OtlpDecodeError(`internal decoder error: ${err instanceof Error ? err.message : String(err)}`);
}

function decodeResponse(input: Uint8Array, msg: string): ExportPartialSuccess {
  const r = new ProtoReader(input);
  const out: ExportPartialSuccess = { rejected: 0, errorMessage: '' };
  try {
    const end = r.len;
    while (r.pos < end) {
      const tag = r.varint32(msg);
      if (tag === 0x0a) {
        const e = r.lenEnd(end, msg);
        while (r.pos < e) {
          const t = r.varint32(msg);
          if (t === 0x08) {
            r.varint64(msg);
            out.rejected = r.hi * 4294967296 + r.lo;
          } else if (t === 0x12) {
            out.errorMessage = r.stringUncached(e, msg);
          } else {
            r.skipUnknown(t, e, PARTIAL_SUCCESS_FIELDS, `${msg}.partial_success`);
          }
        }
        if (r.pos !== e) r.overrun(e, msg);
      } else {
        r.skipUnknown(tag, end, RESPONSE_FIELDS, msg);
      }
    }
  } catch (err) {
    throw asDecodeError(err);
  }
  return out;
}

// ------------------------------------------------------------------- common

/**
 * Decodes one `KeyValue` (the bytes up to `end`) into `attrs`. `what` names
 * the attribute set for errors (`Span.attributes`); `depth` is the nesting
 * level of the key/value list it belongs to.
 */
function decodeKeyValue(r: ProtoReader, end: number, attrs: KeyValueList, depth: number, what: string): void {
  let key = '';
  let value: AnyValue = null;
  while (r.pos < end) {
    const tag = r.varint32(what);
    if (tag === 0x0a) {
      key = r.key(end, what);
    } else if (tag === 0x12) {
      const e = r.lenEnd(end, what);
      value = decodeAnyValue(r, e, depth, what);
    } else {
      r.skipUnknown(tag, end, KEY_VALUE_FIELDS, what);
    }
  }
  if (r.pos !== end) r.overrun(end, what);
  // pdata's setAttribute rule, inline: assigning `__proto__` would replace
  // the object's prototype instead of adding a key.
  if (key === '__proto__') {
    Object.defineProperty(attrs, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    attrs[key] = value;
  }
}

/** Decodes one `AnyValue` message (the bytes up to `end`); absent value → null. */
function decodeAnyValue(r: ProtoReader, end: number, depth: number, what: string): AnyValue {
  let v: AnyValue = null;
  while (r.pos < end) {
    const tag = r.varint32(what);
    switch (tag) {
      case 0x0a: // string_value
        v = r.string(end, what);
        break;
      case 0x10: // bool_value
        v = r.bool(what);
        break;
      case 0x18: // int_value
        r.varint64(what);
        v = int64Value(r.lo, r.hi);
        break;
      case 0x21: // double_value
        v = r.double(what);
        break;
      case 0x2a: {
        // array_value
        if (depth >= MAX_ANY_VALUE_DEPTH) r.fail(`values nested deeper than ${MAX_ANY_VALUE_DEPTH} levels`, what);
        const e = r.lenEnd(end, what);
        v = decodeArrayValue(r, e, depth + 1, what);
        break;
      }
      case 0x32: {
        // kvlist_value
        if (depth >= MAX_ANY_VALUE_DEPTH) r.fail(`values nested deeper than ${MAX_ANY_VALUE_DEPTH} levels`, what);
        const e = r.lenEnd(end, what);
        v = decodeKeyValueList(r, e, depth + 1, what);
        break;
      }
      case 0x3a: // bytes_value
        v = r.bytes(end, what);
        break;
      default:
        r.skipUnknown(tag, end, ANY_VALUE_FIELDS, what);
    }
  }
  if (r.pos !== end) r.overrun(end, what);
  return v;
}

function decodeArrayValue(r: ProtoReader, end: number, depth: number, what: string): AnyValue[] {
  const out: AnyValue[] = [];
  while (r.pos < end) {
    const tag = r.varint32(what);
    if (tag === 0x0a) {
      const e = r.lenEnd(end, what);
      out.push(decodeAnyValue(r, e, depth, what));
    } else {
      r.skipUnknown(tag, end, VALUES_FIELDS, what);
    }
  }
  if (r.pos !== end) r.overrun(end, what);
  return out;
}

function decodeKeyValueList(r: ProtoReader, end: number, depth: number, what: string): KeyValueList {
  const out: KeyValueList = new KeyValueListObject();
  while (r.pos < end) {
    const tag = r.varint32(what);
    if (tag === 0x0a) {
      const e = r.lenEnd(end, what);
      decodeKeyValue(r, e, out, depth, what);
    } else {
      r.skipUnknown(tag, end, VALUES_FIELDS, what);
    }
  }
  if (r.pos !== end) r.overrun(end, what);
  return out;
}

/** Reads one repeated `KeyValue` field occurrence (length prefix included) into `attrs`. */
function readAttribute(r: ProtoReader, end: number, attrs: Attributes, what: string): void {
  const e = r.lenEnd(end, what);
  decodeKeyValue(r, e, attrs, 0, what);
}

function emptyResource(): Resource {
  return { attributes: new ResourceAttributes(), droppedAttributesCount: 0 };
}

function emptyScope(): InstrumentationScope {
  return { name: '', version: '', attributes: new ScopeAttributes(), droppedAttributesCount: 0 };
}

function decodeResourceInto(r: ProtoReader, end: number, res: Resource): void {
  while (r.pos < end) {
    const tag = r.varint32('Resource');
    if (tag === 0x0a) readAttribute(r, end, res.attributes, 'Resource.attributes');
    else if (tag === 0x10) res.droppedAttributesCount = r.varint32('Resource.dropped_attributes_count');
    else r.skipUnknown(tag, end, RESOURCE_FIELDS, 'Resource');
  }
  if (r.pos !== end) r.overrun(end, 'Resource');
}

function decodeScopeInto(r: ProtoReader, end: number, scope: InstrumentationScope): void {
  while (r.pos < end) {
    const tag = r.varint32('InstrumentationScope');
    switch (tag) {
      case 0x0a:
        scope.name = r.string(end, 'InstrumentationScope.name');
        break;
      case 0x12:
        scope.version = r.string(end, 'InstrumentationScope.version');
        break;
      case 0x1a:
        readAttribute(r, end, scope.attributes, 'InstrumentationScope.attributes');
        break;
      case 0x20:
        scope.droppedAttributesCount = r.varint32('InstrumentationScope.dropped_attributes_count');
        break;
      default:
        r.skipUnknown(tag, end, SCOPE_FIELDS, 'InstrumentationScope');
    }
  }
  if (r.pos !== end) r.overrun(end, 'InstrumentationScope');
}

// ------------------------------------------------------------------- traces

function decodeResourceSpans(r: ProtoReader, end: number): ResourceSpans {
  const out: ResourceSpans = { resource: emptyResource(), scopeSpans: [], schemaUrl: '' };
  while (r.pos < end) {
    const tag = r.varint32('ResourceSpans');
    switch (tag) {
      case 0x0a: {
        const e = r.lenEnd(end, 'ResourceSpans.resource');
        decodeResourceInto(r, e, out.resource);
        break;
      }
      case 0x12: {
        const e = r.lenEnd(end, 'ResourceSpans.scope_spans');
        out.scopeSpans.push(decodeScopeSpans(r, e));
        break;
      }
      case 0x1a:
        out.schemaUrl = r.string(end, 'ResourceSpans.schema_url');
        break;
      default:
        r.skipUnknown(tag, end, RESOURCE_SPANS_FIELDS, 'ResourceSpans');
    }
  }
  if (r.pos !== end) r.overrun(end, 'ResourceSpans');
  return out;
}

function decodeScopeSpans(r: ProtoReader, end: number): ScopeSpans {
  const out: ScopeSpans = { scope: emptyScope(), spans: [], schemaUrl: '' };
  while (r.pos < end) {
    const tag = r.varint32('ScopeSpans');
    switch (tag) {
      case 0x0a: {
        const e = r.lenEnd(end, 'ScopeSpans.scope');
        decodeScopeInto(r, e, out.scope);
        break;
      }
      case 0x12: {
        const e = r.lenEnd(end, 'ScopeSpans.spans');
        out.spans.push(decodeSpan(r, e));
        break;
      }
      case 0x1a:
        out.schemaUrl = r.string(end, 'ScopeSpans.schema_url');
        break;
      default:
        r.skipUnknown(tag, end, SCOPE_SPANS_FIELDS, 'ScopeSpans');
    }
  }
  if (r.pos !== end) r.overrun(end, 'ScopeSpans');
  return out;
}

function decodeSpan(r: ProtoReader, end: number): Span {
  // All fields are created up front, in one order, so that every span has
  // the same hidden class.
  const span: Span = {
    traceId: '',
    spanId: '',
    traceState: '',
    parentSpanId: '',
    flags: 0,
    name: '',
    kind: 0,
    startTimeUnixNano: 0n,
    endTimeUnixNano: 0n,
    attributes: new SpanAttributes(),
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: { code: 0, message: '' },
  };
  while (r.pos < end) {
    const tag = r.varint32('Span');
    switch (tag) {
      case 0x0a:
        span.traceId = r.id(end, 16, 'Span.trace_id');
        break;
      case 0x12:
        span.spanId = r.id(end, 8, 'Span.span_id');
        break;
      case 0x1a:
        span.traceState = r.string(end, 'Span.trace_state');
        break;
      case 0x22:
        span.parentSpanId = r.id(end, 8, 'Span.parent_span_id');
        break;
      case 0x2a:
        span.name = r.string(end, 'Span.name');
        break;
      case 0x30:
        span.kind = r.varint32('Span.kind') | 0;
        break;
      case 0x39:
        span.startTimeUnixNano = r.fixed64Big('Span.start_time_unix_nano');
        break;
      case 0x41:
        span.endTimeUnixNano = r.fixed64Big('Span.end_time_unix_nano');
        break;
      case 0x4a:
        readAttribute(r, end, span.attributes, 'Span.attributes');
        break;
      case 0x50:
        span.droppedAttributesCount = r.varint32('Span.dropped_attributes_count');
        break;
      case 0x5a: {
        const e = r.lenEnd(end, 'Span.events');
        span.events.push(decodeEvent(r, e));
        break;
      }
      case 0x60:
        span.droppedEventsCount = r.varint32('Span.dropped_events_count');
        break;
      case 0x6a: {
        const e = r.lenEnd(end, 'Span.links');
        span.links.push(decodeLink(r, e));
        break;
      }
      case 0x70:
        span.droppedLinksCount = r.varint32('Span.dropped_links_count');
        break;
      case 0x7a: {
        const e = r.lenEnd(end, 'Span.status');
        decodeStatusInto(r, e, span.status);
        break;
      }
      case 0x85: // field 16, fixed32
        span.flags = r.fixed32('Span.flags');
        break;
      default:
        r.skipUnknown(tag, end, SPAN_FIELDS, 'Span');
    }
  }
  if (r.pos !== end) r.overrun(end, 'Span');
  return span;
}

function decodeEvent(r: ProtoReader, end: number): SpanEvent {
  const ev: SpanEvent = { timeUnixNano: 0n, name: '', attributes: new EventAttributes(), droppedAttributesCount: 0 };
  while (r.pos < end) {
    const tag = r.varint32('Span.Event');
    switch (tag) {
      case 0x09:
        ev.timeUnixNano = r.fixed64Big('Span.Event.time_unix_nano');
        break;
      case 0x12:
        ev.name = r.string(end, 'Span.Event.name');
        break;
      case 0x1a:
        readAttribute(r, end, ev.attributes, 'Span.Event.attributes');
        break;
      case 0x20:
        ev.droppedAttributesCount = r.varint32('Span.Event.dropped_attributes_count');
        break;
      default:
        r.skipUnknown(tag, end, EVENT_FIELDS, 'Span.Event');
    }
  }
  if (r.pos !== end) r.overrun(end, 'Span.Event');
  return ev;
}

function decodeLink(r: ProtoReader, end: number): SpanLink {
  const link: SpanLink = {
    traceId: '',
    spanId: '',
    traceState: '',
    attributes: new LinkAttributes(),
    droppedAttributesCount: 0,
    flags: 0,
  };
  while (r.pos < end) {
    const tag = r.varint32('Span.Link');
    switch (tag) {
      case 0x0a:
        link.traceId = r.id(end, 16, 'Span.Link.trace_id');
        break;
      case 0x12:
        link.spanId = r.id(end, 8, 'Span.Link.span_id');
        break;
      case 0x1a:
        link.traceState = r.string(end, 'Span.Link.trace_state');
        break;
      case 0x22:
        readAttribute(r, end, link.attributes, 'Span.Link.attributes');
        break;
      case 0x28:
        link.droppedAttributesCount = r.varint32('Span.Link.dropped_attributes_count');
        break;
      case 0x35:
        link.flags = r.fixed32('Span.Link.flags');
        break;
      default:
        r.skipUnknown(tag, end, LINK_FIELDS, 'Span.Link');
    }
  }
  if (r.pos !== end) r.overrun(end, 'Span.Link');
  return link;
}

function decodeStatusInto(r: ProtoReader, end: number, status: Span['status']): void {
  while (r.pos < end) {
    const tag = r.varint32('Status');
    if (tag === 0x12) status.message = r.string(end, 'Status.message');
    else if (tag === 0x18) status.code = r.varint32('Status.code') | 0;
    else r.skipUnknown(tag, end, STATUS_FIELDS, 'Status');
  }
  if (r.pos !== end) r.overrun(end, 'Status');
}

// ------------------------------------------------------------------ metrics

function decodeResourceMetrics(r: ProtoReader, end: number): ResourceMetrics {
  const out: ResourceMetrics = { resource: emptyResource(), scopeMetrics: [], schemaUrl: '' };
  while (r.pos < end) {
    const tag = r.varint32('ResourceMetrics');
    switch (tag) {
      case 0x0a: {
        const e = r.lenEnd(end, 'ResourceMetrics.resource');
        decodeResourceInto(r, e, out.resource);
        break;
      }
      case 0x12: {
        const e = r.lenEnd(end, 'ResourceMetrics.scope_metrics');
        out.scopeMetrics.push(decodeScopeMetrics(r, e));
        break;
      }
      case 0x1a:
        out.schemaUrl = r.string(end, 'ResourceMetrics.schema_url');
        break;
      default:
        r.skipUnknown(tag, end, RESOURCE_METRICS_FIELDS, 'ResourceMetrics');
    }
  }
  if (r.pos !== end) r.overrun(end, 'ResourceMetrics');
  return out;
}

function decodeScopeMetrics(r: ProtoReader, end: number): ScopeMetrics {
  const out: ScopeMetrics = { scope: emptyScope(), metrics: [], schemaUrl: '' };
  while (r.pos < end) {
    const tag = r.varint32('ScopeMetrics');
    switch (tag) {
      case 0x0a: {
        const e = r.lenEnd(end, 'ScopeMetrics.scope');
        decodeScopeInto(r, e, out.scope);
        break;
      }
      case 0x12: {
        const e = r.lenEnd(end, 'ScopeMetrics.metrics');
        out.metrics.push(decodeMetric(r, e));
        break;
      }
      case 0x1a:
        out.schemaUrl = r.string(end, 'ScopeMetrics.schema_url');
        break;
      default:
        r.skipUnknown(tag, end, SCOPE_METRICS_FIELDS, 'ScopeMetrics');
    }
  }
  if (r.pos !== end) r.overrun(end, 'ScopeMetrics');
  return out;
}

function decodeMetric(r: ProtoReader, end: number): Metric {
  const m: Metric = { name: '', description: '', unit: '', metadata: new MetadataAttributes(), data: { type: 'empty' } };
  while (r.pos < end) {
    const tag = r.varint32('Metric');
    switch (tag) {
      case 0x0a:
        m.name = r.string(end, 'Metric.name');
        break;
      case 0x12:
        m.description = r.string(end, 'Metric.description');
        break;
      case 0x1a:
        m.unit = r.string(end, 'Metric.unit');
        break;
      case 0x2a: {
        const e = r.lenEnd(end, 'Metric.gauge');
        // A repeated oneof member merges; a different member replaces.
        const d: MetricData = m.data.type === 'gauge' ? m.data : { type: 'gauge', dataPoints: [] };
        decodeGauge(r, e, d.dataPoints);
        m.data = d;
        break;
      }
      case 0x3a: {
        const e = r.lenEnd(end, 'Metric.sum');
        const d: MetricData =
          m.data.type === 'sum' ? m.data : { type: 'sum', dataPoints: [], aggregationTemporality: 0, isMonotonic: false };
        decodeSum(r, e, d);
        m.data = d;
        break;
      }
      case 0x4a: {
        const e = r.lenEnd(end, 'Metric.histogram');
        const d: MetricData =
          m.data.type === 'histogram' ? m.data : { type: 'histogram', dataPoints: [], aggregationTemporality: 0 };
        decodeHistogram(r, e, d);
        m.data = d;
        break;
      }
      case 0x52: {
        const e = r.lenEnd(end, 'Metric.exponential_histogram');
        const d: MetricData =
          m.data.type === 'exponentialHistogram'
            ? m.data
            : { type: 'exponentialHistogram', dataPoints: [], aggregationTemporality: 0 };
        decodeExponentialHistogram(r, e, d);
        m.data = d;
        break;
      }
      case 0x5a: {
        const e = r.lenEnd(end, 'Metric.summary');
        const d: MetricData = m.data.type === 'summary' ? m.data : { type: 'summary', dataPoints: [] };
        decodeSummary(r, e, d.dataPoints);
        m.data = d;
        break;
      }
      case 0x62:
        readAttribute(r, end, m.metadata, 'Metric.metadata');
        break;
      default:
        r.skipUnknown(tag, end, METRIC_FIELDS, 'Metric');
    }
  }
  if (r.pos !== end) r.overrun(end, 'Metric');
  return m;
}

function decodeGauge(r: ProtoReader, end: number, points: NumberDataPoint[]): void {
  while (r.pos < end) {
    const tag = r.varint32('Gauge');
    if (tag === 0x0a) {
      const e = r.lenEnd(end, 'Gauge.data_points');
      points.push(decodeNumberDataPoint(r, e));
    } else {
      r.skipUnknown(tag, end, GAUGE_FIELDS, 'Gauge');
    }
  }
  if (r.pos !== end) r.overrun(end, 'Gauge');
}

function decodeSum(r: ProtoReader, end: number, d: Extract<MetricData, { type: 'sum' }>): void {
  while (r.pos < end) {
    const tag = r.varint32('Sum');
    switch (tag) {
      case 0x0a: {
        const e = r.lenEnd(end, 'Sum.data_points');
        d.dataPoints.push(decodeNumberDataPoint(r, e));
        break;
      }
      case 0x10:
        d.aggregationTemporality = r.varint32('Sum.aggregation_temporality') | 0;
        break;
      case 0x18:
        d.isMonotonic = r.bool('Sum.is_monotonic');
        break;
      default:
        r.skipUnknown(tag, end, SUM_FIELDS, 'Sum');
    }
  }
  if (r.pos !== end) r.overrun(end, 'Sum');
}

function decodeHistogram(r: ProtoReader, end: number, d: Extract<MetricData, { type: 'histogram' }>): void {
  while (r.pos < end) {
    const tag = r.varint32('Histogram');
    if (tag === 0x0a) {
      const e = r.lenEnd(end, 'Histogram.data_points');
      d.dataPoints.push(decodeHistogramDataPoint(r, e));
    } else if (tag === 0x10) {
      d.aggregationTemporality = r.varint32('Histogram.aggregation_temporality') | 0;
    } else {
      r.skipUnknown(tag, end, HISTOGRAM_FIELDS, 'Histogram');
    }
  }
  if (r.pos !== end) r.overrun(end, 'Histogram');
}

function decodeExponentialHistogram(
  r: ProtoReader,
  end: number,
  d: Extract<MetricData, { type: 'exponentialHistogram' }>,
): void {
  while (r.pos < end) {
    const tag = r.varint32('ExponentialHistogram');
    if (tag === 0x0a) {
      const e = r.lenEnd(end, 'ExponentialHistogram.data_points');
      d.dataPoints.push(decodeExponentialHistogramDataPoint(r, e));
    } else if (tag === 0x10) {
      d.aggregationTemporality = r.varint32('ExponentialHistogram.aggregation_temporality') | 0;
    } else {
      r.skipUnknown(tag, end, HISTOGRAM_FIELDS, 'ExponentialHistogram');
    }
  }
  if (r.pos !== end) r.overrun(end, 'ExponentialHistogram');
}

function decodeSummary(r: ProtoReader, end: number, points: SummaryDataPoint[]): void {
  while (r.pos < end) {
    const tag = r.varint32('Summary');
    if (tag === 0x0a) {
      const e = r.lenEnd(end, 'Summary.data_points');
      points.push(decodeSummaryDataPoint(r, e));
    } else {
      r.skipUnknown(tag, end, GAUGE_FIELDS, 'Summary');
    }
  }
  if (r.pos !== end) r.overrun(end, 'Summary');
}

function decodeNumberDataPoint(r: ProtoReader, end: number): NumberDataPoint {
  const p: NumberDataPoint = {
    attributes: new PointAttributes(),
    startTimeUnixNano: 0n,
    timeUnixNano: 0n,
    exemplars: [],
    flags: 0,
    value: 0,
    isInt: false,
  };
  while (r.pos < end) {
    const tag = r.varint32('NumberDataPoint');
    switch (tag) {
      case 0x11:
        p.startTimeUnixNano = r.fixed64Big('NumberDataPoint.start_time_unix_nano');
        break;
      case 0x19:
        p.timeUnixNano = r.fixed64Big('NumberDataPoint.time_unix_nano');
        break;
      case 0x21:
        p.value = r.double('NumberDataPoint.as_double');
        p.isInt = false;
        break;
      case 0x2a: {
        const e = r.lenEnd(end, 'NumberDataPoint.exemplars');
        p.exemplars.push(decodeExemplar(r, e));
        break;
      }
      case 0x31:
        r.fixed64('NumberDataPoint.as_int');
        p.value = int64Value(r.lo, r.hi);
        p.isInt = true;
        break;
      case 0x3a:
        readAttribute(r, end, p.attributes, 'NumberDataPoint.attributes');
        break;
      case 0x40:
        p.flags = r.varint32('NumberDataPoint.flags');
        break;
      default:
        r.skipUnknown(tag, end, NUMBER_POINT_FIELDS, 'NumberDataPoint');
    }
  }
  if (r.pos !== end) r.overrun(end, 'NumberDataPoint');
  return p;
}

/** Appends a packed (`packed` true) or single fixed64 count. */
function readFixed64Counts(r: ProtoReader, end: number, out: number[], packed: boolean, what: string): void {
  if (!packed) {
    out.push(r.fixed64Number(what));
    return;
  }
  const e = r.lenEnd(end, what);
  if ((e - r.pos) % 8 !== 0) r.fail(`packed fixed64 length ${e - r.pos} is not a multiple of 8`, what);
  while (r.pos < e) out.push(r.fixed64Number(what));
}

/** Appends a packed (`packed` true) or single double. */
function readDoubles(r: ProtoReader, end: number, out: number[], packed: boolean, what: string): void {
  if (!packed) {
    out.push(r.double(what));
    return;
  }
  const e = r.lenEnd(end, what);
  if ((e - r.pos) % 8 !== 0) r.fail(`packed double length ${e - r.pos} is not a multiple of 8`, what);
  while (r.pos < e) out.push(r.double(what));
}

function decodeHistogramDataPoint(r: ProtoReader, end: number): HistogramDataPoint {
  const p: HistogramDataPoint = {
    attributes: new PointAttributes(),
    startTimeUnixNano: 0n,
    timeUnixNano: 0n,
    exemplars: [],
    flags: 0,
    count: 0,
    bucketCounts: [],
    explicitBounds: [],
  };
  while (r.pos < end) {
    const tag = r.varint32('HistogramDataPoint');
    switch (tag) {
      case 0x11:
        p.startTimeUnixNano = r.fixed64Big('HistogramDataPoint.start_time_unix_nano');
        break;
      case 0x19:
        p.timeUnixNano = r.fixed64Big('HistogramDataPoint.time_unix_nano');
        break;
      case 0x21:
        p.count = r.fixed64Number('HistogramDataPoint.count');
        break;
      case 0x29:
        p.sum = r.double('HistogramDataPoint.sum');
        break;
      case 0x31: // bucket_counts, unpacked
      case 0x32: // bucket_counts, packed
        readFixed64Counts(r, end, p.bucketCounts, tag === 0x32, 'HistogramDataPoint.bucket_counts');
        break;
      case 0x39: // explicit_bounds, unpacked
      case 0x3a: // explicit_bounds, packed
        readDoubles(r, end, p.explicitBounds, tag === 0x3a, 'HistogramDataPoint.explicit_bounds');
        break;
      case 0x42: {
        const e = r.lenEnd(end, 'HistogramDataPoint.exemplars');
        p.exemplars.push(decodeExemplar(r, e));
        break;
      }
      case 0x4a:
        readAttribute(r, end, p.attributes, 'HistogramDataPoint.attributes');
        break;
      case 0x50:
        p.flags = r.varint32('HistogramDataPoint.flags');
        break;
      case 0x59:
        p.min = r.double('HistogramDataPoint.min');
        break;
      case 0x61:
        p.max = r.double('HistogramDataPoint.max');
        break;
      default:
        r.skipUnknown(tag, end, HISTOGRAM_POINT_FIELDS, 'HistogramDataPoint');
    }
  }
  if (r.pos !== end) r.overrun(end, 'HistogramDataPoint');
  return p;
}

function decodeExponentialHistogramDataPoint(r: ProtoReader, end: number): ExponentialHistogramDataPoint {
  const p: ExponentialHistogramDataPoint = {
    attributes: new PointAttributes(),
    startTimeUnixNano: 0n,
    timeUnixNano: 0n,
    exemplars: [],
    flags: 0,
    count: 0,
    scale: 0,
    zeroCount: 0,
    positive: { offset: 0, bucketCounts: [] },
    negative: { offset: 0, bucketCounts: [] },
    zeroThreshold: 0,
  };
  while (r.pos < end) {
    const tag = r.varint32('ExponentialHistogramDataPoint');
    switch (tag) {
      case 0x0a:
        readAttribute(r, end, p.attributes, 'ExponentialHistogramDataPoint.attributes');
        break;
      case 0x11:
        p.startTimeUnixNano = r.fixed64Big('ExponentialHistogramDataPoint.start_time_unix_nano');
        break;
      case 0x19:
        p.timeUnixNano = r.fixed64Big('ExponentialHistogramDataPoint.time_unix_nano');
        break;
      case 0x21:
        p.count = r.fixed64Number('ExponentialHistogramDataPoint.count');
        break;
      case 0x29:
        p.sum = r.double('ExponentialHistogramDataPoint.sum');
        break;
      case 0x30:
        p.scale = r.sint32('ExponentialHistogramDataPoint.scale');
        break;
      case 0x39:
        p.zeroCount = r.fixed64Number('ExponentialHistogramDataPoint.zero_count');
        break;
      case 0x42: {
        const e = r.lenEnd(end, 'ExponentialHistogramDataPoint.positive');
        decodeBucketsInto(r, e, p.positive, 'ExponentialHistogramDataPoint.positive');
        break;
      }
      case 0x4a: {
        const e = r.lenEnd(end, 'ExponentialHistogramDataPoint.negative');
        decodeBucketsInto(r, e, p.negative, 'ExponentialHistogramDataPoint.negative');
        break;
      }
      case 0x50:
        p.flags = r.varint32('ExponentialHistogramDataPoint.flags');
        break;
      case 0x5a: {
        const e = r.lenEnd(end, 'ExponentialHistogramDataPoint.exemplars');
        p.exemplars.push(decodeExemplar(r, e));
        break;
      }
      case 0x61:
        p.min = r.double('ExponentialHistogramDataPoint.min');
        break;
      case 0x69:
        p.max = r.double('ExponentialHistogramDataPoint.max');
        break;
      case 0x71:
        p.zeroThreshold = r.double('ExponentialHistogramDataPoint.zero_threshold');
        break;
      default:
        r.skipUnknown(tag, end, EXP_POINT_FIELDS, 'ExponentialHistogramDataPoint');
    }
  }
  if (r.pos !== end) r.overrun(end, 'ExponentialHistogramDataPoint');
  return p;
}

function decodeBucketsInto(r: ProtoReader, end: number, b: ExponentialBuckets, what: string): void {
  while (r.pos < end) {
    const tag = r.varint32(what);
    if (tag === 0x08) {
      b.offset = r.sint32(what);
    } else if (tag === 0x10) {
      b.bucketCounts.push(r.uint64Number(what));
    } else if (tag === 0x12) {
      const e = r.lenEnd(end, what);
      while (r.pos < e) b.bucketCounts.push(r.uint64Number(what));
      if (r.pos !== e) r.overrun(e, what);
    } else {
      r.skipUnknown(tag, end, BUCKETS_FIELDS, what);
    }
  }
  if (r.pos !== end) r.overrun(end, what);
}

function decodeSummaryDataPoint(r: ProtoReader, end: number): SummaryDataPoint {
  const p: SummaryDataPoint = {
    attributes: new PointAttributes(),
    startTimeUnixNano: 0n,
    timeUnixNano: 0n,
    exemplars: [],
    flags: 0,
    count: 0,
    sum: 0,
    quantileValues: [],
  };
  while (r.pos < end) {
    const tag = r.varint32('SummaryDataPoint');
    switch (tag) {
      case 0x11:
        p.startTimeUnixNano = r.fixed64Big('SummaryDataPoint.start_time_unix_nano');
        break;
      case 0x19:
        p.timeUnixNano = r.fixed64Big('SummaryDataPoint.time_unix_nano');
        break;
      case 0x21:
        p.count = r.fixed64Number('SummaryDataPoint.count');
        break;
      case 0x29:
        p.sum = r.double('SummaryDataPoint.sum');
        break;
      case 0x32: {
        const e = r.lenEnd(end, 'SummaryDataPoint.quantile_values');
        p.quantileValues.push(decodeQuantile(r, e));
        break;
      }
      case 0x3a:
        readAttribute(r, end, p.attributes, 'SummaryDataPoint.attributes');
        break;
      case 0x40:
        p.flags = r.varint32('SummaryDataPoint.flags');
        break;
      default:
        r.skipUnknown(tag, end, SUMMARY_POINT_FIELDS, 'SummaryDataPoint');
    }
  }
  if (r.pos !== end) r.overrun(end, 'SummaryDataPoint');
  return p;
}

function decodeQuantile(r: ProtoReader, end: number): ValueAtQuantile {
  const q: ValueAtQuantile = { quantile: 0, value: 0 };
  while (r.pos < end) {
    const tag = r.varint32('SummaryDataPoint.ValueAtQuantile');
    if (tag === 0x09) q.quantile = r.double('SummaryDataPoint.ValueAtQuantile.quantile');
    else if (tag === 0x11) q.value = r.double('SummaryDataPoint.ValueAtQuantile.value');
    else r.skipUnknown(tag, end, QUANTILE_FIELDS, 'SummaryDataPoint.ValueAtQuantile');
  }
  if (r.pos !== end) r.overrun(end, 'SummaryDataPoint.ValueAtQuantile');
  return q;
}

function decodeExemplar(r: ProtoReader, end: number): Exemplar {
  const x: Exemplar = {
    filteredAttributes: new ExemplarAttributes(), timeUnixNano: 0n, value: 0, isInt: false, spanId: '', traceId: '' };
  while (r.pos < end) {
    const tag = r.varint32('Exemplar');
    switch (tag) {
      case 0x11:
        x.timeUnixNano = r.fixed64Big('Exemplar.time_unix_nano');
        break;
      case 0x19:
        x.value = r.double('Exemplar.as_double');
        x.isInt = false;
        break;
      case 0x22:
        x.spanId = r.id(end, 8, 'Exemplar.span_id');
        break;
      case 0x2a:
        x.traceId = r.id(end, 16, 'Exemplar.trace_id');
        break;
      case 0x31:
        r.fixed64('Exemplar.as_int');
        x.value = int64Value(r.lo, r.hi);
        x.isInt = true;
        break;
      case 0x3a:
        readAttribute(r, end, x.filteredAttributes, 'Exemplar.filtered_attributes');
        break;
      default:
        r.skipUnknown(tag, end, EXEMPLAR_FIELDS, 'Exemplar');
    }
  }
  if (r.pos !== end) r.overrun(end, 'Exemplar');
  return x;
}

// --------------------------------------------------------------------- logs

function decodeResourceLogs(r: ProtoReader, end: number): ResourceLogs {
  const out: ResourceLogs = { resource: emptyResource(), scopeLogs: [], schemaUrl: '' };
  while (r.pos < end) {
    const tag = r.varint32('ResourceLogs');
    switch (tag) {
      case 0x0a: {
        const e = r.lenEnd(end, 'ResourceLogs.resource');
        decodeResourceInto(r, e, out.resource);
        break;
      }
      case 0x12: {
        const e = r.lenEnd(end, 'ResourceLogs.scope_logs');
        out.scopeLogs.push(decodeScopeLogs(r, e));
        break;
      }
      case 0x1a:
        out.schemaUrl = r.string(end, 'ResourceLogs.schema_url');
        break;
      default:
        r.skipUnknown(tag, end, RESOURCE_LOGS_FIELDS, 'ResourceLogs');
    }
  }
  if (r.pos !== end) r.overrun(end, 'ResourceLogs');
  return out;
}

function decodeScopeLogs(r: ProtoReader, end: number): ScopeLogs {
  const out: ScopeLogs = { scope: emptyScope(), logRecords: [], schemaUrl: '' };
  while (r.pos < end) {
    const tag = r.varint32('ScopeLogs');
    switch (tag) {
      case 0x0a: {
        const e = r.lenEnd(end, 'ScopeLogs.scope');
        decodeScopeInto(r, e, out.scope);
        break;
      }
      case 0x12: {
        const e = r.lenEnd(end, 'ScopeLogs.log_records');
        out.logRecords.push(decodeLogRecord(r, e));
        break;
      }
      case 0x1a:
        out.schemaUrl = r.string(end, 'ScopeLogs.schema_url');
        break;
      default:
        r.skipUnknown(tag, end, SCOPE_LOGS_FIELDS, 'ScopeLogs');
    }
  }
  if (r.pos !== end) r.overrun(end, 'ScopeLogs');
  return out;
}

function decodeLogRecord(r: ProtoReader, end: number): LogRecord {
  const rec: LogRecord = {
    timeUnixNano: 0n,
    observedTimeUnixNano: 0n,
    severityNumber: 0,
    severityText: '',
    body: null,
    attributes: new LogAttributes(),
    droppedAttributesCount: 0,
    flags: 0,
    traceId: '',
    spanId: '',
    eventName: '',
  };
  while (r.pos < end) {
    const tag = r.varint32('LogRecord');
    switch (tag) {
      case 0x09:
        rec.timeUnixNano = r.fixed64Big('LogRecord.time_unix_nano');
        break;
      case 0x10:
        rec.severityNumber = r.varint32('LogRecord.severity_number') | 0;
        break;
      case 0x1a:
        rec.severityText = r.string(end, 'LogRecord.severity_text');
        break;
      case 0x2a: {
        const e = r.lenEnd(end, 'LogRecord.body');
        rec.body = decodeAnyValue(r, e, 0, 'LogRecord.body');
        break;
      }
      case 0x32:
        readAttribute(r, end, rec.attributes, 'LogRecord.attributes');
        break;
      case 0x38:
        rec.droppedAttributesCount = r.varint32('LogRecord.dropped_attributes_count');
        break;
      case 0x45:
        rec.flags = r.fixed32('LogRecord.flags');
        break;
      case 0x4a:
        rec.traceId = r.id(end, 16, 'LogRecord.trace_id');
        break;
      case 0x52:
        rec.spanId = r.id(end, 8, 'LogRecord.span_id');
        break;
      case 0x59:
        rec.observedTimeUnixNano = r.fixed64Big('LogRecord.observed_time_unix_nano');
        break;
      case 0x62:
        rec.eventName = r.string(end, 'LogRecord.event_name');
        break;
      default:
        r.skipUnknown(tag, end, LOG_RECORD_FIELDS, 'LogRecord');
    }
  }
  if (r.pos !== end) r.overrun(end, 'LogRecord');
  return rec;
}
