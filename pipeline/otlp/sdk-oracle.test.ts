/**
 * Independent oracle: telemetry recorded by the real OpenTelemetry JS SDK,
 * serialized by the SDK's own OTLP serializers (`@opentelemetry/otlp-transformer`,
 * protobuf and JSON), must decode to exactly what the SDK recorded.
 */

import * as api from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  InMemoryLogRecordExporter,
  LoggerProvider,
  SimpleLogRecordProcessor,
  type ReadableLogRecord,
} from '@opentelemetry/sdk-logs';
import {
  AggregationTemporality as SdkTemporality,
  AggregationType,
  DataPointType,
  MeterProvider,
  MetricReader,
  type ResourceMetrics as SdkResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import {
  JsonLogsSerializer,
  JsonMetricsSerializer,
  JsonTraceSerializer,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
} from '@opentelemetry/otlp-transformer';
import type { LogRecord, Metric, Span } from '../pdata';
import {
  decodeLogsRequest,
  decodeLogsRequestJson,
  decodeMetricsRequest,
  decodeMetricsRequestJson,
  decodeTracesRequest,
  decodeTracesRequestJson,
} from './index';

function ns(t: api.HrTime): bigint {
  return BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
}

// The serializers are typed against the SDK's own internal packages; the
// values are the same objects at run time.
function serializeSpans(spans: ReadableSpan[], json = false): Uint8Array {
  const s = (json ? JsonTraceSerializer : ProtobufTraceSerializer) as unknown as {
    serializeRequest(x: unknown): Uint8Array;
  };
  return s.serializeRequest(spans);
}

function serializeMetrics(rm: SdkResourceMetrics, json = false): Uint8Array {
  const s = (json ? JsonMetricsSerializer : ProtobufMetricsSerializer) as unknown as {
    serializeRequest(x: unknown): Uint8Array;
  };
  return s.serializeRequest(rm);
}

function serializeLogs(records: ReadableLogRecord[], json = false): Uint8Array {
  const s = (json ? JsonLogsSerializer : ProtobufLogsSerializer) as unknown as {
    serializeRequest(x: unknown): Uint8Array;
  };
  return s.serializeRequest(records);
}

describe('traces recorded by @opentelemetry/sdk-trace-base', () => {
  let sdkSpans: ReadableSpan[];
  let remoteParent: api.SpanContext;

  beforeAll(async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({
        'service.name': 'oracle-svc',
        'service.version': '2.0.1',
        'process.pid': 4242,
        'host.load': 0.75,
        'feature.enabled': true,
        'deployment.regions': ['eu-1', 'us-2'],
      }),
      spanLimits: { eventCountLimit: 2, linkCountLimit: 1, attributeCountLimit: 64 },
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const tracer = provider.getTracer('oracle-lib', '1.2.3', { schemaUrl: 'https://opentelemetry.io/schemas/1.26.0' });

    remoteParent = {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: api.TraceFlags.SAMPLED,
      isRemote: true,
      traceState: api.createTraceState('vendor=abc,other=1'),
    };
    const remoteCtx = api.trace.setSpanContext(api.context.active(), remoteParent);
    const server = tracer.startSpan(
      'GET /api/users/{id}',
      {
        kind: api.SpanKind.SERVER,
        startTime: [1_700_000_000, 123_456_789],
        attributes: {
          'http.request.method': 'GET',
          'http.response.status_code': 200,
          'http.server.duration': 12.75,
          'http.retry': false,
          'net.sock.peer.port': -1,
          'large.int': 2 ** 50,
          'header.accept': ['text/html', 'application/json'],
          'numbers': [1, 2.5, -3],
          'flags': [true, false],
          'unicode': 'grüße ✓ 日本',
        },
      },
      remoteCtx,
    );
    server.addEvent('first', { 'event.n': 1, 'event.s': 'x' }, [1_700_000_000, 200_000_000]);
    server.addEvent('second', undefined, [1_700_000_000, 300_000_000]);
    server.addEvent('third'); // the SDK keeps the newest 2 events and counts 1 dropped
    server.setStatus({ code: api.SpanStatusCode.ERROR, message: 'upstream failed' });

    const serverCtx = api.trace.setSpan(api.context.active(), server);
    const kinds = [api.SpanKind.INTERNAL, api.SpanKind.CLIENT, api.SpanKind.PRODUCER, api.SpanKind.CONSUMER];
    for (const kind of kinds) {
      const child = tracer.startSpan(
        `child-${kind}`,
        {
          kind,
          links: [
            { context: remoteParent, attributes: { 'link.reason': 'batch', 'link.index': kind } },
            { context: server.spanContext() },
          ],
        },
        serverCtx,
      );
      child.setStatus({ code: kind % 2 ? api.SpanStatusCode.OK : api.SpanStatusCode.UNSET });
      child.end([1_700_000_001, kind]);
    }
    server.end([1_700_000_002, 0]);
    await provider.forceFlush();
    sdkSpans = exporter.getFinishedSpans();
    expect(sdkSpans).toHaveLength(5);
  });

  function decodedById(): Map<string, Span> {
    const traces = decodeTracesRequest(serializeSpans(sdkSpans));
    const byId = new Map<string, Span>();
    for (const rs of traces.resourceSpans) for (const ss of rs.scopeSpans) for (const s of ss.spans) byId.set(s.spanId, s);
    return byId;
  }

  test('resource and scope match what the SDK recorded', () => {
    const traces = decodeTracesRequest(serializeSpans(sdkSpans));
    expect(traces.resourceSpans).toHaveLength(1);
    const rs = traces.resourceSpans[0];
    expect(rs.resource.attributes).toEqual(sdkSpans[0].resource.attributes);
    expect(rs.resource.attributes['deployment.regions']).toEqual(['eu-1', 'us-2']);
    expect(rs.scopeSpans).toHaveLength(1);
    expect(rs.scopeSpans[0].scope).toEqual({ name: 'oracle-lib', version: '1.2.3', attributes: {}, droppedAttributesCount: 0 });
    expect(rs.scopeSpans[0].schemaUrl).toBe('https://opentelemetry.io/schemas/1.26.0');
  });

  test('every span field matches the ReadableSpan', () => {
    const byId = decodedById();
    expect(byId.size).toBe(5);
    for (const sdk of sdkSpans) {
      const ctx = sdk.spanContext();
      const s = byId.get(ctx.spanId);
      expect(s).toBeDefined();
      if (!s) continue;
      expect(s.traceId).toBe(ctx.traceId);
      expect(s.parentSpanId).toBe(sdk.parentSpanContext?.spanId ?? '');
      expect(s.traceState).toBe(ctx.traceState?.serialize() ?? '');
      // SpanFlags: W3C trace flags, bit 8 "has is-remote", bit 9 "parent is remote".
      expect(s.flags).toBe(ctx.traceFlags | 0x100 | (sdk.parentSpanContext?.isRemote ? 0x200 : 0));
      expect(s.name).toBe(sdk.name);
      expect(s.kind).toBe(sdk.kind + 1); // API kinds start at INTERNAL = 0, OTLP at UNSPECIFIED = 0
      expect(s.startTimeUnixNano).toBe(ns(sdk.startTime));
      expect(s.endTimeUnixNano).toBe(ns(sdk.endTime));
      expect(s.attributes).toEqual(sdk.attributes);
      expect(s.droppedAttributesCount).toBe(sdk.droppedAttributesCount);
      expect(s.events).toEqual(
        sdk.events.map((e) => ({
          timeUnixNano: ns(e.time),
          name: e.name,
          attributes: e.attributes ?? {},
          droppedAttributesCount: e.droppedAttributesCount ?? 0,
        })),
      );
      expect(s.droppedEventsCount).toBe(sdk.droppedEventsCount);
      expect(s.links).toEqual(
        sdk.links.map((l) => ({
          traceId: l.context.traceId,
          spanId: l.context.spanId,
          traceState: l.context.traceState?.serialize() ?? '',
          attributes: l.attributes ?? {},
          droppedAttributesCount: l.droppedAttributesCount ?? 0,
          flags: l.context.traceFlags | 0x100 | (l.context.isRemote ? 0x200 : 0),
        })),
      );
      expect(s.droppedLinksCount).toBe(sdk.droppedLinksCount);
      expect(s.status).toEqual({ code: sdk.status.code, message: sdk.status.message ?? '' });
    }
  });

  test('the server span carries the concrete values set on it', () => {
    const server = [...decodedById().values()].find((s) => s.name === 'GET /api/users/{id}');
    expect(server).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      parentSpanId: 'b7ad6b7169203331',
      traceState: 'vendor=abc,other=1',
      flags: 0x301,
      kind: 2,
      startTimeUnixNano: 1_700_000_000_123_456_789n,
      endTimeUnixNano: 1_700_000_002_000_000_000n,
      droppedEventsCount: 1,
      status: { code: 2, message: 'upstream failed' },
    });
    expect(server?.attributes['http.response.status_code']).toBe(200);
    expect(server?.attributes['large.int']).toBe(2 ** 50);
    expect(server?.attributes['numbers']).toEqual([1, 2.5, -3]);
    expect(server?.events.map((e) => e.name)).toEqual(['second', 'third']);
    expect(server?.events[0].timeUnixNano).toBe(1_700_000_000_300_000_000n);
    const children = [...decodedById().values()].filter((s) => s.name.startsWith('child-'));
    expect(children.map((c) => c.droppedLinksCount)).toEqual([1, 1, 1, 1]);
    expect(children.map((c) => c.kind).sort()).toEqual([1, 3, 4, 5]);
  });

  test('the SDK JSON serialization decodes to the same pdata as its protobuf', () => {
    const fromProto = decodeTracesRequest(serializeSpans(sdkSpans));
    const fromJson = decodeTracesRequestJson(serializeSpans(sdkSpans, true));
    expect(fromJson).toEqual(fromProto);
  });
});

class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

describe('metrics recorded by @opentelemetry/sdk-metrics', () => {
  async function record(temporality: SdkTemporality): Promise<SdkResourceMetrics> {
    const reader = new TestReader({ aggregationTemporalitySelector: () => temporality });
    const provider = new MeterProvider({
      resource: resourceFromAttributes({ 'service.name': 'metrics-oracle', 'k8s.pod.name': 'p-1' }),
      readers: [reader],
      views: [{ instrumentName: 'latency.exp', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
    });
    const meter = provider.getMeter('oracle-meter', '0.0.7');
    const counter = meter.createCounter('requests', { description: 'requests served', unit: '{request}', valueType: api.ValueType.INT });
    counter.add(5, { route: '/a', code: 200 });
    counter.add(7, { route: '/b', code: 500 });
    meter.createCounter('bytes', { unit: 'By' }).add(1.5);
    meter.createUpDownCounter('inflight', { valueType: api.ValueType.INT }).add(-3, { pool: 'x' });
    const h = meter.createHistogram('latency', { unit: 'ms', advice: { explicitBucketBoundaries: [1, 10, 100] } });
    for (const v of [0.5, 3, 7, 50, 500, 1000]) h.record(v, { route: '/a' });
    const e = meter.createHistogram('latency.exp', { unit: 's' });
    for (const v of [0.001, 0.002, 4, 8, 16]) e.record(v);
    meter.createGauge('temperature', { unit: 'Cel' }).record(21.5, { room: 'r1' });
    meter.createObservableGauge('queue.depth', { valueType: api.ValueType.INT }).addCallback((r) => r.observe(12, { q: 'in' }));
    const { resourceMetrics, errors } = await reader.collect();
    expect(errors).toEqual([]);
    return resourceMetrics;
  }

  const OTLP_TYPE: Record<number, string> = {
    [DataPointType.GAUGE]: 'gauge',
    [DataPointType.SUM]: 'sum',
    [DataPointType.HISTOGRAM]: 'histogram',
    [DataPointType.EXPONENTIAL_HISTOGRAM]: 'exponentialHistogram',
  };

  test.each([
    ['cumulative', SdkTemporality.CUMULATIVE, 2],
    ['delta', SdkTemporality.DELTA, 1],
  ])('every metric and point matches what the SDK recorded (%s)', async (_name, temporality, otlpTemporality) => {
    const rm = await record(temporality);
    const metrics = decodeMetricsRequest(serializeMetrics(rm));
    expect(metrics.resourceMetrics).toHaveLength(1);
    const res = metrics.resourceMetrics[0];
    expect(res.resource.attributes).toEqual({ 'service.name': 'metrics-oracle', 'k8s.pod.name': 'p-1' });
    expect(res.scopeMetrics).toHaveLength(1);
    expect(res.scopeMetrics[0].scope).toMatchObject({ name: 'oracle-meter', version: '0.0.7' });

    const decoded = new Map<string, Metric>(res.scopeMetrics[0].metrics.map((m) => [m.name, m]));
    const sdkMetrics = rm.scopeMetrics[0].metrics;
    expect(decoded.size).toBe(sdkMetrics.length);
    expect([...decoded.keys()].sort()).toEqual(
      ['bytes', 'inflight', 'latency', 'latency.exp', 'queue.depth', 'requests', 'temperature'].sort(),
    );
    for (const sdk of sdkMetrics) {
      const m = decoded.get(sdk.descriptor.name);
      if (!m) throw new Error(`missing ${sdk.descriptor.name}`);
      expect(m.description).toBe(sdk.descriptor.description);
      expect(m.unit).toBe(sdk.descriptor.unit);
      expect(m.data.type).toBe(OTLP_TYPE[sdk.dataPointType]);
      const d = m.data;
      if (d.type === 'empty' || d.type === 'summary') throw new Error(`unexpected ${d.type}`);
      if (d.type !== 'gauge') expect(d.aggregationTemporality).toBe(otlpTemporality);
      if (d.type === 'sum') expect(d.isMonotonic).toBe('isMonotonic' in sdk ? sdk.isMonotonic : undefined);
      expect(d.dataPoints).toHaveLength(sdk.dataPoints.length);
      sdk.dataPoints.forEach((sp, i) => {
        const p = d.dataPoints[i];
        expect(p.attributes).toEqual(sp.attributes);
        expect(p.startTimeUnixNano).toBe(ns(sp.startTime));
        expect(p.timeUnixNano).toBe(ns(sp.endTime));
        expect(p.exemplars).toEqual([]);
        if (d.type === 'gauge' || d.type === 'sum') {
          expect(p).toMatchObject({ value: sp.value, isInt: sdk.descriptor.valueType === api.ValueType.INT });
        } else if (d.type === 'histogram') {
          const v = sp.value as { count: number; sum?: number; min?: number; max?: number; buckets: { boundaries: number[]; counts: number[] } };
          expect(p).toMatchObject({
            count: v.count,
            sum: v.sum,
            min: v.min,
            max: v.max,
            explicitBounds: v.buckets.boundaries,
            bucketCounts: v.buckets.counts,
          });
        } else {
          const v = sp.value as {
            count: number;
            sum?: number;
            min?: number;
            max?: number;
            scale: number;
            zeroCount: number;
            positive: { offset: number; bucketCounts: number[] };
            negative: { offset: number; bucketCounts: number[] };
          };
          expect(p).toMatchObject({
            count: v.count,
            sum: v.sum,
            min: v.min,
            max: v.max,
            scale: v.scale,
            zeroCount: v.zeroCount,
            positive: v.positive,
            negative: v.negative,
          });
        }
      });
    }

    // Concrete values, so that a decoder and SDK that agreed on nonsense would still fail.
    const requests = decoded.get('requests')?.data;
    if (requests?.type !== 'sum') throw new Error('requests is not a sum');
    expect(requests.dataPoints.map((p) => [p.attributes.route, p.value, p.isInt])).toEqual([
      ['/a', 5, true],
      ['/b', 7, true],
    ]);
    const latency = decoded.get('latency')?.data;
    if (latency?.type !== 'histogram') throw new Error('latency is not a histogram');
    expect(latency.dataPoints[0]).toMatchObject({
      count: 6,
      sum: 1560.5,
      min: 0.5,
      max: 1000,
      explicitBounds: [1, 10, 100],
      bucketCounts: [1, 2, 1, 2],
    });
    const exp = decoded.get('latency.exp')?.data;
    if (exp?.type !== 'exponentialHistogram') throw new Error('latency.exp is not an exponential histogram');
    expect(exp.dataPoints[0]).toMatchObject({ count: 5, sum: 28.003, min: 0.001, max: 16, zeroCount: 0 });
    expect(exp.dataPoints[0].positive.bucketCounts.reduce((a, b) => a + b, 0)).toBe(5);
    expect(exp.dataPoints[0].negative.bucketCounts).toEqual([]);
    const gauge = decoded.get('temperature')?.data;
    if (gauge?.type !== 'gauge') throw new Error('temperature is not a gauge');
    expect(gauge.dataPoints[0]).toMatchObject({ value: 21.5, isInt: false, attributes: { room: 'r1' } });
  });

  test('the SDK JSON serialization decodes to the same pdata as its protobuf', async () => {
    const rm = await record(SdkTemporality.CUMULATIVE);
    expect(decodeMetricsRequestJson(serializeMetrics(rm, true))).toEqual(decodeMetricsRequest(serializeMetrics(rm)));
  });
});

describe('logs recorded by @opentelemetry/sdk-logs', () => {
  let records: ReadableLogRecord[];
  let spanContext: api.SpanContext;

  beforeAll(async () => {
    const exporter = new InMemoryLogRecordExporter();
    const provider = new LoggerProvider({
      resource: resourceFromAttributes({ 'service.name': 'logs-oracle' }),
      processors: [new SimpleLogRecordProcessor({ exporter })],
    });
    const logger = provider.getLogger('oracle-logger', '3.1.4', { schemaUrl: 'https://opentelemetry.io/schemas/1.26.0' });
    spanContext = {
      traceId: '5b8efff798038103d269b633813fc60c',
      spanId: 'eee19b7ec3c1b174',
      traceFlags: api.TraceFlags.SAMPLED,
    };
    const ctx = api.trace.setSpanContext(api.context.active(), spanContext);
    logger.emit({
      severityNumber: SeverityNumber.ERROR,
      severityText: 'ERROR',
      body: 'connection refused',
      attributes: { 'db.system': 'postgresql', attempt: 3, 'exception.escaped': false, ratio: 0.25 },
      timestamp: [1_700_000_000, 5],
      observedTimestamp: [1_700_000_001, 6],
      eventName: 'db.connect.failed',
      context: ctx,
    });
    logger.emit({ severityNumber: SeverityNumber.INFO, body: { msg: 'structured', list: [1, 'two', true], nested: { n: 1.5 } } });
    logger.emit({ severityNumber: SeverityNumber.DEBUG3, body: 42 });
    logger.emit({ body: new Uint8Array([1, 2, 3]) });
    await provider.forceFlush();
    records = exporter.getFinishedLogRecords();
    expect(records).toHaveLength(4);
  });

  function decodedRecords(): LogRecord[] {
    const logs = decodeLogsRequest(serializeLogs(records));
    expect(logs.resourceLogs).toHaveLength(1);
    expect(logs.resourceLogs[0].resource.attributes).toEqual({ 'service.name': 'logs-oracle' });
    expect(logs.resourceLogs[0].scopeLogs).toHaveLength(1);
    expect(logs.resourceLogs[0].scopeLogs[0].scope).toMatchObject({ name: 'oracle-logger', version: '3.1.4' });
    expect(logs.resourceLogs[0].scopeLogs[0].schemaUrl).toBe('https://opentelemetry.io/schemas/1.26.0');
    return logs.resourceLogs[0].scopeLogs[0].logRecords;
  }

  test('every log record field matches the ReadableLogRecord', () => {
    const decoded = decodedRecords();
    expect(decoded).toHaveLength(records.length);
    records.forEach((sdk, i) => {
      expect(decoded[i]).toEqual({
        timeUnixNano: ns(sdk.hrTime),
        observedTimeUnixNano: ns(sdk.hrTimeObserved),
        severityNumber: sdk.severityNumber ?? 0,
        severityText: sdk.severityText ?? '',
        body: sdk.body ?? null,
        attributes: sdk.attributes,
        droppedAttributesCount: sdk.droppedAttributesCount,
        flags: sdk.spanContext?.traceFlags ?? 0,
        traceId: sdk.spanContext?.traceId ?? '',
        spanId: sdk.spanContext?.spanId ?? '',
        eventName: sdk.eventName ?? '',
      });
    });
  });

  test('the first record carries the concrete values emitted', () => {
    expect(decodedRecords()[0]).toEqual({
      timeUnixNano: 1_700_000_000_000_000_005n,
      observedTimeUnixNano: 1_700_000_001_000_000_006n,
      severityNumber: 17,
      severityText: 'ERROR',
      body: 'connection refused',
      attributes: { 'db.system': 'postgresql', attempt: 3, 'exception.escaped': false, ratio: 0.25 },
      droppedAttributesCount: 0,
      flags: 1,
      traceId: spanContext.traceId,
      spanId: spanContext.spanId,
      eventName: 'db.connect.failed',
    });
    expect(decodedRecords()[3].body).toEqual(new Uint8Array([1, 2, 3]));
  });

  test('the SDK JSON serialization decodes to the same pdata as its protobuf', () => {
    expect(decodeLogsRequestJson(serializeLogs(records, true))).toEqual(decodeLogsRequest(serializeLogs(records)));
  });
});
