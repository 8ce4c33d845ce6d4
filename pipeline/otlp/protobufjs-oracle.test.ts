/**
 * Second oracle: protobufjs static code generated from opentelemetry-proto
 * (shipped in @opentelemetry/otlp-proto-exporter-base). It covers what the SDK
 * never produces: summaries, exemplars, negative exponential buckets, schema
 * URLs, kvlist and bytes values, dropped counts, data point flags.
 *
 * Both directions: messages encoded by protobufjs decode with ours to the
 * expected pdata, and messages encoded by ours decode with protobufjs to the
 * expected message. That generated code predates Span.flags, Link.flags,
 * Metric.metadata and LogRecord.event_name, so those are checked by our own
 * round trip (codec.test.ts) and, here, by protobufjs skipping them cleanly.
 */

import type {
  AnyValue,
  Attributes,
  Exemplar,
  InstrumentationScope,
  KeyValueList,
  Logs,
  Metric,
  MetricData,
  Metrics,
  Resource,
  Span,
  Traces,
} from '../pdata';
import {
  decodeLogsRequest,
  decodeMetricsRequest,
  decodeTracesRequest,
  encodeLogsRequest,
  encodeMetricsRequest,
  encodeTracesRequest,
} from './index';
import { richLogs, richMetrics, richTraces } from './testdata/fixtures';

interface PbType {
  fromObject(o: unknown): unknown;
  encode(m: unknown): { finish(): Uint8Array };
  decode(b: Uint8Array): unknown;
  toObject(m: unknown, opts: { longs: StringConstructor }): Pb;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const root = require('@opentelemetry/otlp-proto-exporter-base/build/src/generated/root');
const collector = root.opentelemetry.proto.collector;
const PbTraces: PbType = collector.trace.v1.ExportTraceServiceRequest;
const PbMetrics: PbType = collector.metrics.v1.ExportMetricsServiceRequest;
const PbLogs: PbType = collector.logs.v1.ExportLogsServiceRequest;

/** A protobufjs plain object (from toObject, or for fromObject). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Pb = any;

// ------------------------------------------------------------ pdata → protobufjs objects

function pbId(hex: string): Buffer | undefined {
  return hex ? Buffer.from(hex, 'hex') : undefined;
}

function pbAny(v: AnyValue): Pb {
  if (v === null) return {};
  switch (typeof v) {
    case 'string':
      return { stringValue: v };
    case 'boolean':
      return { boolValue: v };
    case 'bigint':
      return { intValue: v.toString() };
    case 'number':
      return Number.isSafeInteger(v) ? { intValue: String(v) } : { doubleValue: v };
    default:
      if (v instanceof Uint8Array) return { bytesValue: Buffer.from(v) };
      if (Array.isArray(v)) return { arrayValue: { values: v.map(pbAny) } };
      return { kvlistValue: { values: pbAttrs(v) } };
  }
}

function pbAttrs(a: KeyValueList): Pb[] {
  const out: Pb[] = [];
  for (const key in a) out.push({ key, value: pbAny(a[key]) });
  return out;
}

function pbResource(r: Resource): Pb {
  return { attributes: pbAttrs(r.attributes), droppedAttributesCount: r.droppedAttributesCount };
}

function pbScope(s: InstrumentationScope): Pb {
  return { name: s.name, version: s.version, attributes: pbAttrs(s.attributes), droppedAttributesCount: s.droppedAttributesCount };
}

function pbSpan(s: Span): Pb {
  return {
    traceId: pbId(s.traceId),
    spanId: pbId(s.spanId),
    traceState: s.traceState,
    parentSpanId: pbId(s.parentSpanId),
    name: s.name,
    kind: s.kind,
    startTimeUnixNano: s.startTimeUnixNano.toString(),
    endTimeUnixNano: s.endTimeUnixNano.toString(),
    attributes: pbAttrs(s.attributes),
    droppedAttributesCount: s.droppedAttributesCount,
    events: s.events.map((e) => ({
      timeUnixNano: e.timeUnixNano.toString(),
      name: e.name,
      attributes: pbAttrs(e.attributes),
      droppedAttributesCount: e.droppedAttributesCount,
    })),
    droppedEventsCount: s.droppedEventsCount,
    links: s.links.map((l) => ({
      traceId: pbId(l.traceId),
      spanId: pbId(l.spanId),
      traceState: l.traceState,
      attributes: pbAttrs(l.attributes),
      droppedAttributesCount: l.droppedAttributesCount,
    })),
    droppedLinksCount: s.droppedLinksCount,
    status: { code: s.status.code, message: s.status.message },
  };
}

function pbTraces(t: Traces): Pb {
  return {
    resourceSpans: t.resourceSpans.map((rs) => ({
      resource: pbResource(rs.resource),
      scopeSpans: rs.scopeSpans.map((ss) => ({ scope: pbScope(ss.scope), spans: ss.spans.map(pbSpan), schemaUrl: ss.schemaUrl })),
      schemaUrl: rs.schemaUrl,
    })),
  };
}

function pbExemplar(x: Exemplar): Pb {
  return {
    filteredAttributes: pbAttrs(x.filteredAttributes),
    timeUnixNano: x.timeUnixNano.toString(),
    ...(x.isInt ? { asInt: x.value.toString() } : { asDouble: x.value }),
    spanId: pbId(x.spanId),
    traceId: pbId(x.traceId),
  };
}

function pbPointBase(p: { attributes: Attributes; startTimeUnixNano: bigint; timeUnixNano: bigint; exemplars: Exemplar[]; flags: number }): Pb {
  return {
    attributes: pbAttrs(p.attributes),
    startTimeUnixNano: p.startTimeUnixNano.toString(),
    timeUnixNano: p.timeUnixNano.toString(),
    exemplars: p.exemplars.map(pbExemplar),
    flags: p.flags,
  };
}

function pbMetricData(d: MetricData): Pb {
  switch (d.type) {
    case 'gauge':
    case 'sum': {
      const dataPoints = d.dataPoints.map((p) => ({
        ...pbPointBase(p),
        ...(p.isInt ? { asInt: p.value.toString() } : { asDouble: p.value }),
      }));
      return d.type === 'gauge'
        ? { gauge: { dataPoints } }
        : { sum: { dataPoints, aggregationTemporality: d.aggregationTemporality, isMonotonic: d.isMonotonic } };
    }
    case 'histogram':
      return {
        histogram: {
          aggregationTemporality: d.aggregationTemporality,
          dataPoints: d.dataPoints.map((p) => ({
            ...pbPointBase(p),
            count: p.count,
            ...(p.sum !== undefined ? { sum: p.sum } : {}),
            bucketCounts: p.bucketCounts,
            explicitBounds: p.explicitBounds,
            ...(p.min !== undefined ? { min: p.min } : {}),
            ...(p.max !== undefined ? { max: p.max } : {}),
          })),
        },
      };
    case 'exponentialHistogram':
      return {
        exponentialHistogram: {
          aggregationTemporality: d.aggregationTemporality,
          dataPoints: d.dataPoints.map((p) => ({
            ...pbPointBase(p),
            count: p.count,
            ...(p.sum !== undefined ? { sum: p.sum } : {}),
            scale: p.scale,
            zeroCount: p.zeroCount,
            positive: p.positive,
            negative: p.negative,
            ...(p.min !== undefined ? { min: p.min } : {}),
            ...(p.max !== undefined ? { max: p.max } : {}),
            zeroThreshold: p.zeroThreshold,
          })),
        },
      };
    case 'summary':
      return {
        summary: {
          dataPoints: d.dataPoints.map((p) => ({ ...pbPointBase(p), count: p.count, sum: p.sum, quantileValues: p.quantileValues })),
        },
      };
    default:
      return {};
  }
}

function pbMetrics(m: Metrics): Pb {
  return {
    resourceMetrics: m.resourceMetrics.map((rm) => ({
      resource: pbResource(rm.resource),
      scopeMetrics: rm.scopeMetrics.map((sm) => ({
        scope: pbScope(sm.scope),
        metrics: sm.metrics.map((x) => ({ name: x.name, description: x.description, unit: x.unit, ...pbMetricData(x.data) })),
        schemaUrl: sm.schemaUrl,
      })),
      schemaUrl: rm.schemaUrl,
    })),
  };
}

function pbLogs(l: Logs): Pb {
  return {
    resourceLogs: l.resourceLogs.map((rl) => ({
      resource: pbResource(rl.resource),
      scopeLogs: rl.scopeLogs.map((sl) => ({
        scope: pbScope(sl.scope),
        logRecords: sl.logRecords.map((r) => ({
          timeUnixNano: r.timeUnixNano.toString(),
          observedTimeUnixNano: r.observedTimeUnixNano.toString(),
          severityNumber: r.severityNumber,
          severityText: r.severityText,
          ...(r.body !== null ? { body: pbAny(r.body) } : {}),
          attributes: pbAttrs(r.attributes),
          droppedAttributesCount: r.droppedAttributesCount,
          flags: r.flags,
          traceId: pbId(r.traceId),
          spanId: pbId(r.spanId),
        })),
        schemaUrl: sl.schemaUrl,
      })),
      schemaUrl: rl.schemaUrl,
    })),
  };
}

// ------------------------------------------------------------ protobufjs toObject → pdata

function hexOf(b: Uint8Array | undefined): string {
  if (!b || b.length === 0) return '';
  const hex = Buffer.from(b).toString('hex');
  return /^0+$/.test(hex) ? '' : hex;
}

function big(s: string | undefined): bigint {
  return s === undefined ? 0n : BigInt(s);
}

function int64(s: string): number | bigint {
  const b = BigInt(s);
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

function fromPbAny(v: Pb): AnyValue {
  if (v === undefined || v === null) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return int64(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.bytesValue !== undefined) return new Uint8Array(v.bytesValue);
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(fromPbAny);
  if (v.kvlistValue !== undefined) return fromPbAttrs(v.kvlistValue.values);
  return null;
}

function fromPbAttrs(list: Pb[] | undefined): Attributes {
  const out: Attributes = {};
  for (const kv of list ?? []) {
    Object.defineProperty(out, kv.key ?? '', { value: fromPbAny(kv.value), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function fromPbResource(r: Pb): Resource {
  return { attributes: fromPbAttrs(r?.attributes), droppedAttributesCount: r?.droppedAttributesCount ?? 0 };
}

function fromPbScope(s: Pb): InstrumentationScope {
  return {
    name: s?.name ?? '',
    version: s?.version ?? '',
    attributes: fromPbAttrs(s?.attributes),
    droppedAttributesCount: s?.droppedAttributesCount ?? 0,
  };
}

function fromPbTraces(o: Pb): Traces {
  return {
    resourceSpans: (o.resourceSpans ?? []).map((rs: Pb) => ({
      resource: fromPbResource(rs.resource),
      scopeSpans: (rs.scopeSpans ?? []).map((ss: Pb) => ({
        scope: fromPbScope(ss.scope),
        spans: (ss.spans ?? []).map(
          (s: Pb): Span => ({
            traceId: hexOf(s.traceId),
            spanId: hexOf(s.spanId),
            traceState: s.traceState ?? '',
            parentSpanId: hexOf(s.parentSpanId),
            flags: 0,
            name: s.name ?? '',
            kind: s.kind ?? 0,
            startTimeUnixNano: big(s.startTimeUnixNano),
            endTimeUnixNano: big(s.endTimeUnixNano),
            attributes: fromPbAttrs(s.attributes),
            droppedAttributesCount: s.droppedAttributesCount ?? 0,
            events: (s.events ?? []).map((e: Pb) => ({
              timeUnixNano: big(e.timeUnixNano),
              name: e.name ?? '',
              attributes: fromPbAttrs(e.attributes),
              droppedAttributesCount: e.droppedAttributesCount ?? 0,
            })),
            droppedEventsCount: s.droppedEventsCount ?? 0,
            links: (s.links ?? []).map((l: Pb) => ({
              traceId: hexOf(l.traceId),
              spanId: hexOf(l.spanId),
              traceState: l.traceState ?? '',
              attributes: fromPbAttrs(l.attributes),
              droppedAttributesCount: l.droppedAttributesCount ?? 0,
              flags: 0,
            })),
            droppedLinksCount: s.droppedLinksCount ?? 0,
            status: { code: s.status?.code ?? 0, message: s.status?.message ?? '' },
          }),
        ),
        schemaUrl: ss.schemaUrl ?? '',
      })),
      schemaUrl: rs.schemaUrl ?? '',
    })),
  };
}

function fromPbPointBase(p: Pb): Pb {
  return {
    attributes: fromPbAttrs(p.attributes),
    startTimeUnixNano: big(p.startTimeUnixNano),
    timeUnixNano: big(p.timeUnixNano),
    exemplars: (p.exemplars ?? []).map(
      (x: Pb): Exemplar => ({
        filteredAttributes: fromPbAttrs(x.filteredAttributes),
        timeUnixNano: big(x.timeUnixNano),
        value: x.asInt !== undefined ? int64(x.asInt) : (x.asDouble ?? 0),
        isInt: x.asInt !== undefined,
        spanId: hexOf(x.spanId),
        traceId: hexOf(x.traceId),
      }),
    ),
    flags: p.flags ?? 0,
  };
}

function optional(p: Pb, key: string): Pb {
  return p[key] !== undefined && p[key] !== null ? { [key]: p[key] } : {};
}

function fromPbMetric(x: Pb): Metric {
  let data: MetricData = { type: 'empty' };
  const numberPoint = (p: Pb): Pb => ({
    ...fromPbPointBase(p),
    value: p.asInt !== undefined ? int64(p.asInt) : (p.asDouble ?? 0),
    isInt: p.asInt !== undefined,
  });
  if (x.gauge) data = { type: 'gauge', dataPoints: (x.gauge.dataPoints ?? []).map(numberPoint) };
  else if (x.sum) {
    data = {
      type: 'sum',
      dataPoints: (x.sum.dataPoints ?? []).map(numberPoint),
      aggregationTemporality: x.sum.aggregationTemporality ?? 0,
      isMonotonic: x.sum.isMonotonic ?? false,
    };
  } else if (x.histogram) {
    data = {
      type: 'histogram',
      aggregationTemporality: x.histogram.aggregationTemporality ?? 0,
      dataPoints: (x.histogram.dataPoints ?? []).map((p: Pb) => ({
        ...fromPbPointBase(p),
        count: Number(p.count ?? 0),
        bucketCounts: (p.bucketCounts ?? []).map(Number),
        explicitBounds: p.explicitBounds ?? [],
        ...optional(p, 'sum'),
        ...optional(p, 'min'),
        ...optional(p, 'max'),
      })),
    };
  } else if (x.exponentialHistogram) {
    const buckets = (b: Pb): Pb => ({ offset: b?.offset ?? 0, bucketCounts: (b?.bucketCounts ?? []).map(Number) });
    data = {
      type: 'exponentialHistogram',
      aggregationTemporality: x.exponentialHistogram.aggregationTemporality ?? 0,
      dataPoints: (x.exponentialHistogram.dataPoints ?? []).map((p: Pb) => ({
        ...fromPbPointBase(p),
        count: Number(p.count ?? 0),
        scale: p.scale ?? 0,
        zeroCount: Number(p.zeroCount ?? 0),
        positive: buckets(p.positive),
        negative: buckets(p.negative),
        zeroThreshold: p.zeroThreshold ?? 0,
        ...optional(p, 'sum'),
        ...optional(p, 'min'),
        ...optional(p, 'max'),
      })),
    };
  } else if (x.summary) {
    data = {
      type: 'summary',
      dataPoints: (x.summary.dataPoints ?? []).map((p: Pb) => ({
        ...fromPbPointBase(p),
        count: Number(p.count ?? 0),
        sum: p.sum ?? 0,
        quantileValues: (p.quantileValues ?? []).map((q: Pb) => ({ quantile: q.quantile ?? 0, value: q.value ?? 0 })),
      })),
    };
  }
  return { name: x.name ?? '', description: x.description ?? '', unit: x.unit ?? '', metadata: {}, data };
}

function fromPbMetrics(o: Pb): Metrics {
  return {
    resourceMetrics: (o.resourceMetrics ?? []).map((rm: Pb) => ({
      resource: fromPbResource(rm.resource),
      scopeMetrics: (rm.scopeMetrics ?? []).map((sm: Pb) => ({
        scope: fromPbScope(sm.scope),
        metrics: (sm.metrics ?? []).map(fromPbMetric),
        schemaUrl: sm.schemaUrl ?? '',
      })),
      schemaUrl: rm.schemaUrl ?? '',
    })),
  };
}

function fromPbLogs(o: Pb): Logs {
  return {
    resourceLogs: (o.resourceLogs ?? []).map((rl: Pb) => ({
      resource: fromPbResource(rl.resource),
      scopeLogs: (rl.scopeLogs ?? []).map((sl: Pb) => ({
        scope: fromPbScope(sl.scope),
        logRecords: (sl.logRecords ?? []).map((r: Pb) => ({
          timeUnixNano: big(r.timeUnixNano),
          observedTimeUnixNano: big(r.observedTimeUnixNano),
          severityNumber: r.severityNumber ?? 0,
          severityText: r.severityText ?? '',
          body: fromPbAny(r.body),
          attributes: fromPbAttrs(r.attributes),
          droppedAttributesCount: r.droppedAttributesCount ?? 0,
          flags: r.flags ?? 0,
          traceId: hexOf(r.traceId),
          spanId: hexOf(r.spanId),
          eventName: '',
        })),
        schemaUrl: sl.schemaUrl ?? '',
      })),
      schemaUrl: rl.schemaUrl ?? '',
    })),
  };
}

// ------------------------------------------------------------ expected values without the newer fields

/** The fixture as the older generated code sees it: no Span/Link flags. */
function tracesWithoutNewFields(): Traces {
  const t = richTraces();
  for (const rs of t.resourceSpans)
    for (const ss of rs.scopeSpans)
      for (const s of ss.spans) {
        s.flags = 0;
        for (const l of s.links) l.flags = 0;
      }
  return t;
}

function metricsWithoutNewFields(): Metrics {
  const m = richMetrics();
  for (const rm of m.resourceMetrics) for (const sm of rm.scopeMetrics) for (const x of sm.metrics) x.metadata = {};
  return m;
}

function logsWithoutNewFields(): Logs {
  const l = richLogs();
  for (const rl of l.resourceLogs) for (const sl of rl.scopeLogs) for (const r of sl.logRecords) r.eventName = '';
  return l;
}

function pbEncode(type: PbType, obj: Pb): Uint8Array {
  return type.encode(type.fromObject(obj)).finish();
}

function pbDecode(type: PbType, bytes: Uint8Array): Pb {
  return type.toObject(type.decode(bytes), { longs: String });
}

describe('protobufjs-encoded messages decode with ours', () => {
  test('traces', () => {
    const expected = tracesWithoutNewFields();
    expect(decodeTracesRequest(pbEncode(PbTraces, pbTraces(expected)))).toEqual(expected);
  });

  test('metrics: summaries, exemplars, negative exponential buckets, flags, optional sum/min/max', () => {
    const expected = metricsWithoutNewFields();
    expect(decodeMetricsRequest(pbEncode(PbMetrics, pbMetrics(expected)))).toEqual(expected);
  });

  test('logs', () => {
    const expected = logsWithoutNewFields();
    expect(decodeLogsRequest(pbEncode(PbLogs, pbLogs(expected)))).toEqual(expected);
  });
});

describe('our encoding decodes with protobufjs', () => {
  test('traces (protobufjs skips the newer flags fields it does not know)', () => {
    const obj = pbDecode(PbTraces, encodeTracesRequest(richTraces()));
    expect(fromPbTraces(obj)).toEqual(tracesWithoutNewFields());
    // Spot checks on the raw protobufjs message, independent of the converters above.
    const span = obj.resourceSpans[0].scopeSpans[0].spans[0];
    expect(Buffer.from(span.traceId).toString('hex')).toBe('5b8efff798038103d269b633813fc60c');
    expect(span.kind).toBe(2);
    expect(span.startTimeUnixNano).toBe('1544712660000000000');
    expect(span.status).toEqual({ code: 2, message: 'upstream timed out' });
    expect(span.attributes.find((kv: Pb) => kv.key === 'int64Min').value).toEqual({ intValue: '-9223372036854775808' });
    expect(span.attributes.find((kv: Pb) => kv.key === 'kv').value.kvlistValue.values[0]).toEqual({
      key: 'inner',
      value: { stringValue: 'v' },
    });
    expect(obj.resourceSpans[0].scopeSpans[0].spans[1].startTimeUnixNano).toBe('18446744073709551615');
  });

  test('metrics', () => {
    const obj = pbDecode(PbMetrics, encodeMetricsRequest(richMetrics()));
    expect(fromPbMetrics(obj)).toEqual(metricsWithoutNewFields());
    const metrics = obj.resourceMetrics[0].scopeMetrics[0].metrics;
    expect(metrics[0].gauge.dataPoints[0].asInt).toBe('-12');
    expect(metrics[0].gauge.dataPoints[0].exemplars[0].asInt).toBe('17');
    expect(metrics[4].exponentialHistogram.dataPoints[0].scale).toBe(-3);
    expect(metrics[4].exponentialHistogram.dataPoints[0].negative).toEqual({ offset: 7, bucketCounts: ['2', '34359738368'] });
    expect(metrics[5].summary.dataPoints[0].quantileValues[3]).toEqual({ quantile: 1, value: 99.5 });
  });

  test('logs', () => {
    const obj = pbDecode(PbLogs, encodeLogsRequest(richLogs()));
    expect(fromPbLogs(obj)).toEqual(logsWithoutNewFields());
    expect(obj.resourceLogs[0].scopeLogs[0].logRecords[0].severityNumber).toBe(17);
    expect(obj.resourceLogs[0].scopeLogs[0].logRecords[0].flags).toBe(1);
  });
});
