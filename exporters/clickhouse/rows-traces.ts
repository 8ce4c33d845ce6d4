/**
 * Spans → the `otel_traces` Native block, one pass over the batch.
 *
 * Values are written as the contrib exporter writes them: `SpanKind` and
 * `StatusCode` in pdata's `String()` form (`Server`, `Unset`, …),
 * `ServiceName` from the resource's `service.name`, attribute values through
 * `anyValueToString`, `Duration` as end − start in nanoseconds (0 when the
 * end precedes the start), scope name and version in their own columns.
 * A resource's attributes and service name are encoded once and copied to
 * each of its spans.
 */
import { SpanKind, StatusCode, type Attributes, type Span, type Traces } from '../../pipeline/pdata';
import { ArrayColumn, Int64Column, MapColumn, NativeBlock, StringColumn, type Column } from './native';
import { encodeMap, encodeString, putAttributes, putEncodedMap, serviceName } from './rows';

/** `SpanKind` values as stored, indexed by the OTLP number. */
export const SPAN_KIND_NAMES: readonly string[] = ['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer'];

/** `StatusCode` values as stored, indexed by the OTLP number. */
export const STATUS_CODE_NAMES: readonly string[] = ['Unset', 'Ok', 'Error'];

/**
 * The span columns the contrib table and the SmartEncoding table share
 * (same names, types and values): the ids and trace state, span kind, span
 * attributes, duration, status, events and links. {@link head} and
 * {@link tail} are the ones before and after the table's own name/resource
 * columns; {@link putSpan} writes one span's row of all of them. A table
 * that stores some span attributes elsewhere passes its own writer of the
 * `SpanAttributes` row (it must end the row).
 */
export class SpanColumns {
  constructor(private readonly putSpanAttributes: (m: MapColumn, attrs: Attributes) => void = putAttributes) {}

  private readonly timestamp = new Int64Column('Timestamp', 'DateTime64(9)');
  private readonly traceId = new StringColumn('TraceId');
  private readonly spanId = new StringColumn('SpanId');
  private readonly parentSpanId = new StringColumn('ParentSpanId');
  private readonly traceState = new StringColumn('TraceState');
  /** `SpanKind`: each table places it among its own columns. */
  readonly spanKind = new StringColumn('SpanKind');
  private readonly spanAttributes = new MapColumn('SpanAttributes');
  private readonly duration = new Int64Column('Duration', 'UInt64');
  private readonly statusCode = new StringColumn('StatusCode');
  private readonly statusMessage = new StringColumn('StatusMessage');
  private readonly eventsTimestamp = new ArrayColumn('Events.Timestamp', new Int64Column('', 'DateTime64(9)'));
  private readonly eventsName = new ArrayColumn('Events.Name', new StringColumn(''));
  private readonly eventsAttributes = new ArrayColumn('Events.Attributes', new MapColumn(''));
  private readonly linksTraceId = new ArrayColumn('Links.TraceId', new StringColumn(''));
  private readonly linksSpanId = new ArrayColumn('Links.SpanId', new StringColumn(''));
  private readonly linksTraceState = new ArrayColumn('Links.TraceState', new StringColumn(''));
  private readonly linksAttributes = new ArrayColumn('Links.Attributes', new MapColumn(''));

  /** The columns that open the table, Timestamp … TraceState. */
  readonly head: readonly Column[] = [this.timestamp, this.traceId, this.spanId, this.parentSpanId, this.traceState];

  /** The columns that close the table, SpanAttributes … Links.Attributes. */
  readonly tail: readonly Column[] = [
    this.spanAttributes,
    this.duration,
    this.statusCode,
    this.statusMessage,
    this.eventsTimestamp,
    this.eventsName,
    this.eventsAttributes,
    this.linksTraceId,
    this.linksSpanId,
    this.linksTraceState,
    this.linksAttributes,
  ];

  /** Appends the span's values to every shared column (head, `spanKind`, tail). */
  putSpan(span: Span): void {
    this.timestamp.putTime(span.startTimeUnixNano);
    this.traceId.put(span.traceId);
    this.spanId.put(span.spanId);
    this.parentSpanId.put(span.parentSpanId);
    this.traceState.put(span.traceState);
    this.spanKind.put(SPAN_KIND_NAMES[span.kind] ?? SPAN_KIND_NAMES[SpanKind.UNSPECIFIED]);
    this.putSpanAttributes(this.spanAttributes, span.attributes);
    this.duration.putDuration(span.startTimeUnixNano, span.endTimeUnixNano);
    this.statusCode.put(STATUS_CODE_NAMES[span.status.code] ?? STATUS_CODE_NAMES[StatusCode.UNSET]);
    this.statusMessage.put(span.status.message);
    const evTs = this.eventsTimestamp.inner;
    const evName = this.eventsName.inner;
    const evAttrs = this.eventsAttributes.inner;
    const events = span.events;
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      evTs.putTime(e.timeUnixNano);
      evName.put(e.name);
      putAttributes(evAttrs, e.attributes);
    }
    this.eventsTimestamp.endRow();
    this.eventsName.endRow();
    this.eventsAttributes.endRow();
    const lkTrace = this.linksTraceId.inner;
    const lkSpan = this.linksSpanId.inner;
    const lkState = this.linksTraceState.inner;
    const lkAttrs = this.linksAttributes.inner;
    const links = span.links;
    for (let i = 0; i < links.length; i++) {
      const l = links[i];
      lkTrace.put(l.traceId);
      lkSpan.put(l.spanId);
      lkState.put(l.traceState);
      putAttributes(lkAttrs, l.attributes);
    }
    this.linksTraceId.endRow();
    this.linksSpanId.endRow();
    this.linksTraceState.endRow();
    this.linksAttributes.endRow();
  }
}

/** Builds `otel_traces` blocks; reuse one instance for many batches (call `block.reset()` between). */
export class TraceRows {
  private readonly span = new SpanColumns();
  private readonly spanName = new StringColumn('SpanName');
  private readonly service = new StringColumn('ServiceName');
  private readonly resourceAttributes = new MapColumn('ResourceAttributes');
  private readonly scopeName = new StringColumn('ScopeName');
  private readonly scopeVersion = new StringColumn('ScopeVersion');

  /** The block the rows go to. */
  readonly block = new NativeBlock([
    ...this.span.head,
    this.spanName,
    this.span.spanKind,
    this.service,
    this.resourceAttributes,
    this.scopeName,
    this.scopeVersion,
    ...this.span.tail,
  ]);

  /** Appends every span of the batch as one row each. */
  append(traces: Traces): void {
    const common = this.span;
    for (const rs of traces.resourceSpans) {
      const resource = rs.resource.attributes;
      const resAttrs = encodeMap(resource);
      const service = encodeString(serviceName(resource));
      for (const ss of rs.scopeSpans) {
        const scopeName = ss.scope.name;
        const scopeVersion = ss.scope.version;
        const spans = ss.spans;
        for (let k = 0; k < spans.length; k++) {
          const span = spans[k];
          common.putSpan(span);
          this.spanName.put(span.name);
          this.service.putEncodedValues(service, 1);
          putEncodedMap(this.resourceAttributes, resAttrs);
          this.scopeName.put(scopeName);
          this.scopeVersion.put(scopeVersion);
        }
      }
    }
  }
}
