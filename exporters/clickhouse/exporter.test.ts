/**
 * Traces, logs and metrics exported through the exporter into embedded chDB
 * in a temp folder, read back with SQL through the store the query service
 * uses, and compared field by field with the input pdata.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ComponentID, type Consumer, type Host } from '../../pipeline/component';
import { ConfigError, PermanentError } from '../../pipeline/errors';
import { Logger } from '../../pipeline/logger';
import {
  AggregationTemporality,
  SpanKind,
  StatusCode,
  anyValueToString,
  type Attributes,
  type Logs,
  type Metrics,
  type Signal,
  type Span,
  type Traces,
} from '../../pipeline/pdata';
import { isStoreProvider, type SqlStore } from '../../pipeline/storage';
import { Telemetry } from '../../pipeline/telemetry';
import type { ClickHouseExporter } from './exporter';
import { factory } from './index';
import { TraceRows } from './rows-traces';
import { insertHead, traceByIdSQL } from './schema';
import { StoreError, type TelemetryStore } from './store';

const host: Host = { getExtension: () => undefined, getComponent: () => undefined, listComponents: () => [] };

let dir: string;
let dataDir: string;
const started: ClickHouseExporter[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-exporter-'));
  dataDir = path.join(dir, 'data');
});

afterEach(async () => {
  for (const e of started.splice(0)) await e.shutdown();
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Lines the exporter logged, for assertions. */
const logLines: string[] = [];

function create(config: Record<string, unknown>, signals: Signal[] = ['traces', 'metrics', 'logs'], telemetry = new Telemetry('normal')) {
  const cfg = factory.config.parseOrThrow({ data_dir: dataDir, ...config });
  expect(factory.validate?.(cfg) ?? []).toEqual([]);
  const settings = {
    id: new ComponentID('clickhouse', String(config.database ?? '')),
    kind: 'exporter' as const,
    logger: new Logger('info', {}, (l) => logLines.push(l)),
    telemetry: telemetry.forComponent('exporter', 'clickhouse'),
  };
  return factory.create(settings, cfg, new Set(signals)) as ClickHouseExporter;
}

async function start(config: Record<string, unknown>, signals?: Signal[], telemetry?: Telemetry): Promise<ClickHouseExporter> {
  const e = create(config, signals, telemetry);
  started.push(e);
  await e.start(host);
  return e;
}

/** Waits until the exporter's queue has sent everything. */
async function drained(c: Consumer<never> | undefined): Promise<void> {
  await (c as unknown as { idle(): Promise<void> }).idle();
}

async function rows(store: SqlStore, sql: string): Promise<unknown[][]> {
  return (await store.query(sql)).rows;
}

/** An attribute set as stored: every value through anyValueToString. */
function stored(attrs: Attributes): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) out[k] = anyValueToString(v);
  return out;
}

const T0 = 1700000000123456789n;

function span(partial: Partial<Span> & Pick<Span, 'spanId'>): Span {
  return {
    traceId: '5b8efff798038103d269b633813fc60c',
    traceState: '',
    parentSpanId: '',
    flags: 1,
    name: 'op',
    kind: SpanKind.INTERNAL,
    startTimeUnixNano: T0,
    endTimeUnixNano: T0 + 1000n,
    attributes: {},
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: { code: StatusCode.UNSET, message: '' },
    ...partial,
  };
}

const RICH_ATTRS: Attributes = {
  'http.request.method': 'GET',
  'http.response.status_code': 200,
  'app.ratio': 0.25,
  'app.flag': true,
  'app.big': 9223372036854775807n,
  'app.bytes': new Uint8Array([0, 1, 2, 250]),
  'app.list': ['a', 1, false],
  'app.kv': { nested: 'yes', n: 2 },
  'app.empty': null,
  'app.unicode': 'grüße 😀',
};

function traceFixture(): Traces {
  return {
    resourceSpans: [
      {
        resource: { attributes: { 'service.name': 'checkout', 'host.name': 'node-1', 'k8s.pod.uid': 'abc' }, droppedAttributesCount: 0 },
        schemaUrl: '',
        scopeSpans: [
          {
            scope: { name: '@opentelemetry/instrumentation-http', version: '0.57.0', attributes: {}, droppedAttributesCount: 0 },
            schemaUrl: '',
            spans: [
              span({
                spanId: '0000000000000001',
                name: 'GET /cart',
                kind: SpanKind.SERVER,
                traceState: 'congo=t61rcWkgMzE',
                startTimeUnixNano: T0,
                endTimeUnixNano: T0 + 2_000_000_123n,
                attributes: RICH_ATTRS,
                status: { code: StatusCode.ERROR, message: 'upstream timed out' },
                events: [
                  { timeUnixNano: T0 + 1n, name: 'exception', attributes: { 'exception.type': 'TimeoutError', 'exception.escaped': false }, droppedAttributesCount: 0 },
                  { timeUnixNano: T0 + 999_999_999n, name: 'retry', attributes: {}, droppedAttributesCount: 0 },
                ],
                links: [
                  {
                    traceId: '0af7651916cd43dd8448eb211c80319c',
                    spanId: 'b7ad6b7169203331',
                    traceState: 'rojo=00f067aa0ba902b7',
                    attributes: { 'link.kind': 'follows' },
                    droppedAttributesCount: 0,
                    flags: 0,
                  },
                  { traceId: '0af7651916cd43dd8448eb211c80319d', spanId: 'b7ad6b7169203332', traceState: '', attributes: {}, droppedAttributesCount: 0, flags: 0 },
                ],
              }),
              span({
                spanId: '0000000000000002',
                parentSpanId: '0000000000000001',
                name: 'SELECT cart',
                kind: SpanKind.CLIENT,
                startTimeUnixNano: T0 + 5n,
                endTimeUnixNano: T0 + 7n,
                attributes: { 'db.system': 'postgresql' },
                status: { code: StatusCode.OK, message: '' },
              }),
              span({ spanId: '0000000000000003', parentSpanId: '0000000000000001', kind: SpanKind.PRODUCER, name: 'publish' }),
              // End before start: the duration is stored as 0, not a wrapped huge number.
              span({ spanId: '0000000000000004', kind: SpanKind.CONSUMER, name: 'consume', startTimeUnixNano: T0 + 10n, endTimeUnixNano: T0 }),
            ],
          },
        ],
      },
      {
        // No service.name: ServiceName is empty.
        resource: { attributes: { 'host.name': 'node-2' }, droppedAttributesCount: 0 },
        schemaUrl: '',
        scopeSpans: [
          {
            scope: { name: '', version: '', attributes: {}, droppedAttributesCount: 0 },
            schemaUrl: '',
            spans: [
              span({ spanId: '0000000000000005', traceId: '11111111111111111111111111111111', kind: SpanKind.UNSPECIFIED, name: 'unnamed kind' }),
              span({ spanId: '0000000000000006', traceId: '11111111111111111111111111111111', kind: 9 as SpanKind, name: 'out-of-range kind', status: { code: 7 as StatusCode, message: '' } }),
            ],
          },
        ],
      },
    ],
  };
}

const KIND = ['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer'];
const STATUS = ['Unset', 'Ok', 'Error'];

/** Every stored span field, in a form comparable with {@link expectedTraceRows}. */
const TRACE_SELECT = `SELECT toString(toUnixTimestamp64Nano(Timestamp)), TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
       ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage,
       arrayMap(t -> toString(toUnixTimestamp64Nano(t)), Events.Timestamp), Events.Name, Events.Attributes,
       Links.TraceId, Links.SpanId, Links.TraceState, Links.Attributes
FROM otel_traces ORDER BY SpanId`;

/** The rows the contrib exporter would store for `input`, in SpanId order (as the fixture is). */
function expectedTraceRows(input: Traces): unknown[][] {
  const expected: unknown[][] = [];
  for (const rs of input.resourceSpans) {
    for (const ss of rs.scopeSpans) {
      for (const s of ss.spans) {
        expected.push([
          String(s.startTimeUnixNano),
          s.traceId,
          s.spanId,
          s.parentSpanId,
          s.traceState,
          s.name,
          KIND[s.kind] ?? 'Unspecified',
          String(rs.resource.attributes['service.name'] ?? ''),
          stored(rs.resource.attributes),
          ss.scope.name,
          ss.scope.version,
          stored(s.attributes),
          String(s.endTimeUnixNano > s.startTimeUnixNano ? s.endTimeUnixNano - s.startTimeUnixNano : 0n),
          STATUS[s.status.code] ?? 'Unset',
          s.status.message,
          s.events.map((e) => String(e.timeUnixNano)),
          s.events.map((e) => e.name),
          s.events.map((e) => stored(e.attributes)),
          s.links.map((l) => l.traceId),
          s.links.map((l) => l.spanId),
          s.links.map((l) => l.traceState),
          s.links.map((l) => stored(l.attributes)),
        ]);
      }
    }
  }
  return expected;
}

describe('clickhouse exporter (embedded chDB)', () => {
  test('spans are stored field by field as the contrib exporter stores them', async () => {
    const exp = await start({ database: 'rt_traces' }, ['traces']);
    const input = traceFixture();
    await exp.consumers.traces!.consume(input);
    await drained(exp.consumers.traces as never);
    const store = exp.store()!;
    const got = await rows(store, TRACE_SELECT);
    const expected = expectedTraceRows(input);
    expect(got).toEqual(expected);
    // Spot-check the contrib string forms explicitly, not only through the same mapping.
    expect(got[0].slice(6, 8)).toEqual(['Server', 'checkout']);
    expect(got[0][12]).toBe('2000000123');
    expect(got[0][13]).toBe('Error');
    expect((got[0][11] as Record<string, string>)['app.big']).toBe('9223372036854775807');
    expect((got[0][11] as Record<string, string>)['app.bytes']).toBe('AAEC+g==');
    expect((got[0][11] as Record<string, string>)['app.list']).toBe('["a",1,false]');
    expect((got[0][11] as Record<string, string>)['app.empty']).toBe('');
    expect(got[3][12]).toBe('0');
    expect(got[5].slice(6, 8)).toEqual(['Unspecified', '']);
  });

  test('the block the remote store sends (INSERT … FORMAT Native) is accepted by the modern engine for the contrib schema', async () => {
    // The remote store posts `<insertHead> FORMAT Native` over HTTP, which goes
    // through the engine's Native *input format* (with its type conversions
    // String → LowCardinality, Map(String, String) → Map(LowCardinality…)).
    // clickhouse-local's FROM INFILE takes the same path, so the current
    // engine checks what an old test server cannot.
    const exp = await start({ database: 'rt_native_input', smart_encoding: false }, ['traces']);
    const store = exp.store() as unknown as TelemetryStore;
    const input = traceFixture();
    const rowsBuilder = new TraceRows();
    rowsBuilder.append(input);
    const file = path.join(dir, 'remote-body.native');
    fs.writeFileSync(file, Buffer.concat(rowsBuilder.block.chunks()));
    await store.command(`${insertHead('rt_native_input', 'otel_traces', rowsBuilder.block)} FROM INFILE '${file}' FORMAT Native`);
    expect(await rows(store, TRACE_SELECT)).toEqual(expectedTraceRows(input));
  });

  test('a trace is found by id through the trace_id_ts lookup table', async () => {
    const exp = await start({ database: 'rt_lookup' }, ['traces']);
    await exp.consumers.traces!.consume(traceFixture());
    await drained(exp.consumers.traces as never);
    const store = exp.store()!;
    expect(store.tables.traceIdTs).toBe('otel_traces_trace_id_ts');
    const ts = await rows(store, 'SELECT TraceId, toUnixTimestamp(min(Start)), toUnixTimestamp(max(End)) FROM otel_traces_trace_id_ts GROUP BY TraceId ORDER BY TraceId');
    const sec = Number(T0 / 1_000_000_000n);
    expect(ts).toEqual([
      ['11111111111111111111111111111111', sec, sec],
      ['5b8efff798038103d269b633813fc60c', sec, sec],
    ]);
    const trace = await store.query(traceByIdSQL(store.database, store.tables), { params: { trace_id: '5b8efff798038103d269b633813fc60c' } });
    const spanIdCol = trace.columns.findIndex((c) => c.name === 'SpanId');
    expect(trace.rows.map((r) => r[spanIdCol]).sort()).toEqual(['0000000000000001', '0000000000000002', '0000000000000003', '0000000000000004']);
    const missing = await store.query(traceByIdSQL(store.database, store.tables), { params: { trace_id: 'ffffffffffffffffffffffffffffffff' } });
    expect(missing.rows).toEqual([]);
  });

  test('log records are stored field by field as the contrib exporter stores them', async () => {
    const exp = await start({ database: 'rt_logs' }, ['logs']);
    const input: Logs = {
      resourceLogs: [
        {
          resource: { attributes: { 'service.name': 'api', 'host.name': 'n1' }, droppedAttributesCount: 0 },
          schemaUrl: 'https://opentelemetry.io/schemas/1.21.0',
          scopeLogs: [
            {
              scope: { name: 'logger', version: '2.0', attributes: { 'scope.attr': 1 }, droppedAttributesCount: 0 },
              schemaUrl: 'https://opentelemetry.io/schemas/1.20.0',
              logRecords: [
                {
                  timeUnixNano: T0,
                  observedTimeUnixNano: T0 + 5n,
                  severityNumber: 17,
                  severityText: 'ERROR',
                  body: 'payment failed: card declined',
                  attributes: { 'user.id': 42, 'retry': true },
                  droppedAttributesCount: 0,
                  flags: 0x101,
                  traceId: '5b8efff798038103d269b633813fc60c',
                  spanId: 'eee19b7ec3c1b174',
                  eventName: 'payment.failed',
                },
                {
                  // No time: the observed time is used.
                  timeUnixNano: 0n,
                  observedTimeUnixNano: T0 + 77n,
                  severityNumber: 9,
                  severityText: 'INFO',
                  body: { msg: 'structured', n: 1 },
                  attributes: {},
                  droppedAttributesCount: 0,
                  flags: 0,
                  traceId: '',
                  spanId: '',
                  eventName: '',
                },
                {
                  timeUnixNano: T0 + 1n,
                  observedTimeUnixNano: 0n,
                  severityNumber: 0,
                  severityText: '',
                  body: null,
                  attributes: { bytes: new Uint8Array([255]) },
                  droppedAttributesCount: 0,
                  flags: 1,
                  traceId: '',
                  spanId: '',
                  eventName: '',
                },
              ],
            },
          ],
        },
      ],
    };
    await exp.consumers.logs!.consume(input);
    await drained(exp.consumers.logs as never);
    const got = await rows(
      exp.store()!,
      `SELECT toString(toUnixTimestamp64Nano(Timestamp)), toUnixTimestamp(TimestampTime), TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber,
              ServiceName, Body, ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes, LogAttributes, EventName
       FROM otel_logs ORDER BY Timestamp`,
    );
    const sec = Number(T0 / 1_000_000_000n);
    const common = [
      'api',
      undefined,
      'https://opentelemetry.io/schemas/1.21.0',
      { 'service.name': 'api', 'host.name': 'n1' },
      'https://opentelemetry.io/schemas/1.20.0',
      'logger',
      '2.0',
      { 'scope.attr': '1' },
    ];
    const row = (ts: bigint, traceId: string, spanId: string, flags: number, sevText: string, sevNum: number, body: string, attrs: object, event: string) => {
      const c = [...common];
      c[1] = body;
      return [String(ts), sec, traceId, spanId, flags, sevText, sevNum, ...c, attrs, event];
    };
    expect(got).toEqual([
      row(T0, '5b8efff798038103d269b633813fc60c', 'eee19b7ec3c1b174', 1, 'ERROR', 17, 'payment failed: card declined', { 'user.id': '42', retry: 'true' }, 'payment.failed'),
      row(T0 + 1n, '', '', 1, '', 0, '', { bytes: '/w==' }, ''),
      row(T0 + 77n, '', '', 0, 'INFO', 9, '{"msg":"structured","n":1}', {}, ''),
    ]);
  });

  test('all five metric types are stored with values, buckets, quantiles and exemplars', async () => {
    const exp = await start({ database: 'rt_metrics' }, ['metrics']);
    const exemplar = {
      filteredAttributes: { 'http.route': '/cart' },
      timeUnixNano: T0 + 3n,
      value: 7,
      isInt: true,
      spanId: 'eee19b7ec3c1b174',
      traceId: '5b8efff798038103d269b633813fc60c',
    };
    const base = { startTimeUnixNano: T0 - 1_000_000_000n, timeUnixNano: T0, flags: 0 };
    const input: Metrics = {
      resourceMetrics: [
        {
          resource: { attributes: { 'service.name': 'shop' }, droppedAttributesCount: 0 },
          schemaUrl: 'https://res',
          scopeMetrics: [
            {
              scope: { name: 'meter', version: '1.2', attributes: { s: 'x' }, droppedAttributesCount: 3 },
              schemaUrl: 'https://scope',
              metrics: [
                {
                  name: 'queue.depth',
                  description: 'items waiting',
                  unit: '{item}',
                  metadata: {},
                  data: {
                    type: 'gauge',
                    dataPoints: [
                      { ...base, attributes: { q: 'a' }, value: 5, isInt: true, exemplars: [exemplar] },
                      { ...base, attributes: { q: 'b' }, value: 2.5, isInt: false, exemplars: [], flags: 1 },
                      { ...base, attributes: { q: 'c' }, value: 9007199254740993n, isInt: true, exemplars: [] },
                    ],
                  },
                },
                {
                  name: 'requests',
                  description: '',
                  unit: '1',
                  metadata: {},
                  data: {
                    type: 'sum',
                    aggregationTemporality: AggregationTemporality.CUMULATIVE,
                    isMonotonic: true,
                    dataPoints: [{ ...base, attributes: {}, value: 1234, isInt: true, exemplars: [{ ...exemplar, value: 0.5, isInt: false }] }],
                  },
                },
                {
                  name: 'latency',
                  description: 'request latency',
                  unit: 'ms',
                  metadata: {},
                  data: {
                    type: 'histogram',
                    aggregationTemporality: AggregationTemporality.DELTA,
                    dataPoints: [
                      { ...base, attributes: { r: '/' }, count: 10, sum: 123.5, bucketCounts: [1, 4, 5], explicitBounds: [10, 100], min: 0.5, max: 99, exemplars: [exemplar] },
                      // No sum, min or max: stored as 0.
                      { ...base, attributes: { r: '/x' }, count: 0, bucketCounts: [], explicitBounds: [], exemplars: [] },
                    ],
                  },
                },
                {
                  name: 'size',
                  description: '',
                  unit: 'By',
                  metadata: {},
                  data: {
                    type: 'exponentialHistogram',
                    aggregationTemporality: AggregationTemporality.CUMULATIVE,
                    dataPoints: [
                      {
                        ...base,
                        attributes: {},
                        count: 12,
                        sum: 100,
                        scale: -2,
                        zeroCount: 1,
                        positive: { offset: -3, bucketCounts: [2, 0, 4] },
                        negative: { offset: 1, bucketCounts: [5] },
                        min: -8,
                        max: 64,
                        zeroThreshold: 0,
                        exemplars: [],
                      },
                    ],
                  },
                },
                {
                  name: 'gc.pause',
                  description: '',
                  unit: 's',
                  metadata: {},
                  data: {
                    type: 'summary',
                    dataPoints: [
                      { ...base, attributes: {}, count: 3, sum: 0.75, quantileValues: [{ quantile: 0, value: 0.1 }, { quantile: 0.99, value: 0.4 }], exemplars: [] },
                    ],
                  },
                },
                { name: 'nothing', description: '', unit: '', metadata: {}, data: { type: 'empty' } },
              ],
            },
          ],
        },
      ],
    };
    await exp.consumers.metrics!.consume(input);
    await drained(exp.consumers.metrics as never);
    const store = exp.store()!;
    const head = `ResourceAttributes, ResourceSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes, ScopeDroppedAttrCount, ScopeSchemaUrl, ServiceName,
                  MetricName, MetricDescription, MetricUnit, Attributes, toString(toUnixTimestamp64Nano(StartTimeUnix)), toString(toUnixTimestamp64Nano(TimeUnix))`;
    const ex = `Exemplars.FilteredAttributes, arrayMap(t -> toString(toUnixTimestamp64Nano(t)), Exemplars.TimeUnix), Exemplars.Value, Exemplars.SpanId, Exemplars.TraceId`;
    const h = (name: string, desc: string, unit: string, attrs: object) => [
      { 'service.name': 'shop' },
      'https://res',
      'meter',
      '1.2',
      { s: 'x' },
      3,
      'https://scope',
      'shop',
      name,
      desc,
      unit,
      attrs,
      String(T0 - 1_000_000_000n),
      String(T0),
    ];
    const ex1 = [[{ 'http.route': '/cart' }], [String(T0 + 3n)], [7], ['eee19b7ec3c1b174'], ['5b8efff798038103d269b633813fc60c']];
    const none = [[], [], [], [], []];

    expect(await rows(store, `SELECT ${head}, Value, Flags, ${ex} FROM otel_metrics_gauge ORDER BY Attributes['q']`)).toEqual([
      [...h('queue.depth', 'items waiting', '{item}', { q: 'a' }), 5, 0, ...ex1],
      [...h('queue.depth', 'items waiting', '{item}', { q: 'b' }), 2.5, 1, ...none],
      [...h('queue.depth', 'items waiting', '{item}', { q: 'c' }), 9007199254740992, 0, ...none],
    ]);
    expect(await rows(store, `SELECT ${head}, Value, Flags, ${ex}, AggregationTemporality, IsMonotonic FROM otel_metrics_sum`)).toEqual([
      [...h('requests', '', '1', {}), 1234, 0, [{ 'http.route': '/cart' }], [String(T0 + 3n)], [0.5], ['eee19b7ec3c1b174'], ['5b8efff798038103d269b633813fc60c'], 2, true],
    ]);
    expect(
      await rows(store, `SELECT ${head}, Count, Sum, BucketCounts, ExplicitBounds, ${ex}, Flags, Min, Max, AggregationTemporality FROM otel_metrics_histogram ORDER BY Count DESC`),
    ).toEqual([
      [...h('latency', 'request latency', 'ms', { r: '/' }), '10', 123.5, ['1', '4', '5'], [10, 100], ...ex1, 0, 0.5, 99, 1],
      [...h('latency', 'request latency', 'ms', { r: '/x' }), '0', 0, [], [], ...none, 0, 0, 0, 1],
    ]);
    expect(
      await rows(
        store,
        `SELECT ${head}, Count, Sum, Scale, ZeroCount, PositiveOffset, PositiveBucketCounts, NegativeOffset, NegativeBucketCounts, ${ex}, Flags, Min, Max, AggregationTemporality
         FROM otel_metrics_exponential_histogram`,
      ),
    ).toEqual([[...h('size', '', 'By', {}), '12', 100, -2, '1', -3, ['2', '0', '4'], 1, ['5'], ...none, 0, -8, 64, 2]]);
    expect(await rows(store, `SELECT ${head}, Count, Sum, ValueAtQuantiles.Quantile, ValueAtQuantiles.Value, Flags FROM otel_metrics_summary`)).toEqual([
      [...h('gc.pause', '', 's', {}), '3', 0.75, [0, 0.99], [0.1, 0.4], 0],
    ]);
  });

  test('the store is offered to readers after start and withdrawn at shutdown', async () => {
    const exp = create({ database: 'rt_provider' });
    expect(isStoreProvider(exp)).toBe(true);
    expect(exp.store()).toBeUndefined();
    await exp.start(host);
    const store = exp.store()!;
    expect(store.kind).toBe('embedded');
    expect(store.database).toBe('rt_provider');
    const r = await store.query('SELECT {n:UInt64} * 2 AS x, currentDatabase() AS db', { params: { n: '21' } });
    expect(r).toEqual({ columns: [{ name: 'x', type: 'UInt64' }, { name: 'db', type: 'String' }], rows: [['42', 'rt_provider']] });
    await exp.shutdown();
    expect(exp.store()).toBeUndefined();
    await exp.shutdown();
  });

  test('embedded data tables keep batch-sized inserts in the Compact part format; other settings are the contrib ones', async () => {
    const exp = await start({ database: 'rt_settings' }, ['traces']);
    const r = await rows(exp.store()!, "SELECT name, extract(create_table_query, 'SETTINGS (.*)$') FROM system.tables WHERE database = 'rt_settings' AND name LIKE 'otel%' AND engine LIKE '%MergeTree' ORDER BY name");
    const wide = 'index_granularity = 8192, ttl_only_drop_parts = 1, min_bytes_for_wide_part = 134217728';
    expect(r).toEqual([
      ['otel_logs_encoded', wide],
      ['otel_metrics_exponential_histogram_encoded', wide],
      ['otel_metrics_gauge_encoded', wide],
      ['otel_metrics_histogram_encoded', wide],
      ['otel_metrics_sum_encoded', wide],
      ['otel_metrics_summary_encoded', wide],
      ['otel_resources', 'index_granularity = 8192'],
      ['otel_tags', 'index_granularity = 8192'],
      ['otel_traces_encoded', wide],
      ['otel_traces_trace_id_ts', 'index_granularity = 8192, ttl_only_drop_parts = 1'],
    ]);
  });

  test('shutdown before start and repeated shutdown are safe', async () => {
    const exp = create({ database: 'rt_nostart' });
    await exp.shutdown();
    await exp.shutdown();
    expect(exp.store()).toBeUndefined();
  });

  test('shutdown flushes queued batches before closing the store', async () => {
    const telemetry = new Telemetry('normal');
    const exp = create({ database: 'rt_flush' }, ['traces'], telemetry);
    await exp.start(host);
    for (let i = 0; i < 5; i++) await exp.consumers.traces!.consume(traceFixture());
    await exp.shutdown();
    expect(await telemetry.value('otelcol_exporter_sent_spans_total')).toBe(30);
    // A new exporter on the same folder sees every span.
    const again = await start({ database: 'rt_flush' }, ['traces']);
    expect(await rows(again.store()!, 'SELECT count() FROM otel_traces')).toEqual([['30']]);
  });

  test('data persists across close and reopen of the same data_dir, and the schema is not recreated', async () => {
    const first = await start({ database: 'rt_persist' }, ['traces']);
    await first.consumers.traces!.consume(traceFixture());
    await drained(first.consumers.traces as never);
    await first.shutdown();
    started.splice(started.indexOf(first), 1);
    logLines.length = 0;
    const second = await start({ database: 'rt_persist' }, ['traces']);
    expect(logLines.some((l) => l.includes('schema migrated'))).toBe(false);
    const store = second.store()!;
    expect(await rows(store, 'SELECT count() FROM otel_traces')).toEqual([['6']]);
    expect(await rows(store, 'SELECT version FROM schema_migrations FINAL ORDER BY version')).toEqual([[1], [2], [3]]);
  });

  test('two exporters with the same data_dir share one engine', async () => {
    const a = await start({ database: 'rt_share_a' }, ['traces']);
    const b = await start({ database: 'rt_share_b' }, ['traces']);
    await a.consumers.traces!.consume(traceFixture());
    await b.consumers.traces!.consume(traceFixture());
    await drained(a.consumers.traces as never);
    await drained(b.consumers.traces as never);
    await a.shutdown();
    // b keeps working after a released its reference.
    await b.consumers.traces!.consume(traceFixture());
    await drained(b.consumers.traces as never);
    expect(await rows(b.store()!, 'SELECT count() FROM rt_share_a.otel_traces')).toEqual([['6']]);
    expect(await rows(b.store()!, 'SELECT count() FROM otel_traces')).toEqual([['12']]);
  });

  test('a second, different embedded data_dir in one process is a config error naming data_dir', async () => {
    const other = path.join(dir, 'other-data');
    // Created while nothing is open, started after another folder was opened: refused at start.
    const early = factory.create(
      { id: new ComponentID('clickhouse', 'early'), kind: 'exporter', logger: new Logger('error'), telemetry: new Telemetry('none').forComponent('exporter', 'x') },
      factory.config.parseOrThrow({ data_dir: other }),
      new Set(['traces']),
    );
    await start({ database: 'rt_conflict' }, ['traces']);
    await expect(early.start(host)).rejects.toThrow(/exporters::clickhouse\/early::data_dir: data_dir ".*other-data" cannot be opened/);
    await early.shutdown();
    const cfg = factory.config.parseOrThrow({ data_dir: other });
    const settings = { id: new ComponentID('clickhouse', 'second'), kind: 'exporter' as const, logger: new Logger('error'), telemetry: new Telemetry('none').forComponent('exporter', 'x') };
    let err: unknown;
    try {
      factory.create(settings, cfg, new Set(['traces']));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems[0]).toMatch(/^exporters::clickhouse\/second::data_dir: data_dir ".*other-data" cannot be opened: chDB holds one data folder per process/);
  });

  test('strings with NUL, lone surrogates and huge values are stored, not refused', async () => {
    const exp = await start({ database: 'rt_weird' }, ['traces']);
    const huge = 'x'.repeat(5 * 1024 * 1024);
    const input: Traces = {
      resourceSpans: [
        {
          resource: { attributes: { 'service.name': 'we\u0000ird' }, droppedAttributesCount: 0 },
          schemaUrl: '',
          scopeSpans: [
            {
              scope: { name: '\ud800', version: '', attributes: {}, droppedAttributesCount: 0 },
              schemaUrl: '',
              spans: [
                span({
                  spanId: '00000000000000aa',
                  name: 'nul\u0000name',
                  attributes: { 'k\u0000ey': 'v\u0000al', 'lone\udc00': 'x\ud83d', huge, nan: NaN, inf: -Infinity, '': 'empty key' },
                }),
              ],
            },
          ],
        },
      ],
    };
    await exp.consumers.traces!.consume(input);
    await drained(exp.consumers.traces as never);
    const got = await rows(
      exp.store()!,
      `SELECT ServiceName, SpanName, ScopeName, SpanAttributes['k\\0ey'], SpanAttributes['lone\uFFFD'], length(SpanAttributes['huge']), SpanAttributes['nan'], SpanAttributes['inf'], SpanAttributes[''] FROM otel_traces`,
    );
    expect(got).toEqual([['we\u0000ird', 'nul\u0000name', '\ufffd', 'v\u0000al', 'x\ufffd', String(huge.length), 'NaN', '-Infinity', 'empty key']]);
  });

  test('a malformed batch is refused with a counted PermanentError, and the exporter keeps working', async () => {
    const telemetry = new Telemetry('normal');
    const exp = await start({ database: 'rt_malformed', sending_queue: { enabled: false } }, ['traces'], telemetry);
    const bad = traceFixture();
    (bad.resourceSpans[0].scopeSpans[0].spans[1] as unknown as { events: unknown }).events = undefined;
    let err: unknown;
    try {
      await exp.consumers.traces!.consume(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as PermanentError).code).toBe('CLICKHOUSE_ENCODE');
    expect(await telemetry.value('otelcol_exporter_send_failed_spans_total')).toBe(6);
    await exp.consumers.traces!.consume(traceFixture());
    expect(await rows(exp.store()!, 'SELECT count() FROM otel_traces')).toEqual([['6']]);
    expect(await telemetry.value('otelcol_exporter_sent_spans_total')).toBe(6);
    expect(await telemetry.value('metaflow_clickhouse_rows_written_total', { table: 'otel_traces' })).toBe(6);
  });

  test('a failing store makes the queue retry until the store recovers; nothing is lost', async () => {
    const telemetry = new Telemetry('normal');
    const exp = await start(
      { database: 'rt_retry', retry_on_failure: { initial_interval: '20ms', max_interval: '50ms', randomization_factor: 0 } },
      ['traces'],
      telemetry,
    );
    const store = exp.store() as unknown as { tmpDir: string };
    // Make the temporary block folder unusable: a file where the folder was.
    fs.rmSync(store.tmpDir, { recursive: true });
    fs.writeFileSync(store.tmpDir, 'not a folder');
    await exp.consumers.traces!.consume(traceFixture());
    await exp.consumers.traces!.consume(traceFixture());
    while ((await telemetry.value('metaflow_clickhouse_insert_errors_total', { code: 'STORE_IO' })) < 4) await new Promise((r) => setTimeout(r, 10));
    expect(await rows(exp.store()!, 'SELECT count() FROM otel_traces')).toEqual([['0']]);
    fs.rmSync(store.tmpDir);
    fs.mkdirSync(store.tmpDir);
    await drained(exp.consumers.traces as never);
    expect(await rows(exp.store()!, 'SELECT count() FROM otel_traces')).toEqual([['12']]);
    expect(await telemetry.value('otelcol_exporter_sent_spans_total')).toBe(12);
    expect(await telemetry.value('otelcol_exporter_send_failed_spans_total')).toBe(0);
  });

  test('a metrics batch retried after a partial failure is not stored twice', async () => {
    const telemetry = new Telemetry('normal');
    const exp = await start(
      { database: 'rt_partial', retry_on_failure: { initial_interval: '20ms', max_interval: '50ms', randomization_factor: 0 } },
      ['metrics'],
      telemetry,
    );
    const store = exp.store() as unknown as TelemetryStore;
    // A fake failure of the second table's insert: the gauge rows are in, the summary insert must be retried.
    const realInsert = store.insert.bind(store);
    let failures = 0;
    store.insert = (table, block, abort) => {
      if (table === 'otel_metrics_summary_encoded' && failures++ < 2) return Promise.reject(new StoreError('STORE_UNAVAILABLE', 'injected failure'));
      return realInsert(table, block, abort);
    };
    const point = { startTimeUnixNano: 0n, timeUnixNano: T0, flags: 0, exemplars: [], attributes: {} };
    const input: Metrics = {
      resourceMetrics: [
        {
          resource: { attributes: {}, droppedAttributesCount: 0 },
          schemaUrl: '',
          scopeMetrics: [
            {
              scope: { name: '', version: '', attributes: {}, droppedAttributesCount: 0 },
              schemaUrl: '',
              metrics: [
                { name: 'g', description: '', unit: '', metadata: {}, data: { type: 'gauge', dataPoints: [{ ...point, value: 1, isInt: true }] } },
                { name: 's', description: '', unit: '', metadata: {}, data: { type: 'summary', dataPoints: [{ ...point, count: 1, sum: 1, quantileValues: [] }] } },
              ],
            },
          ],
        },
      ],
    };
    await exp.consumers.metrics!.consume(input);
    await drained(exp.consumers.metrics as never);
    expect(failures).toBe(3);
    expect(await rows(store, 'SELECT count() FROM otel_metrics_gauge')).toEqual([['1']]);
    expect(await rows(store, 'SELECT count() FROM otel_metrics_summary')).toEqual([['1']]);
    expect(await telemetry.value('otelcol_exporter_sent_metric_points_total')).toBe(2);
    expect(await telemetry.value('metaflow_clickhouse_insert_errors_total', { table: 'otel_metrics_summary', code: 'STORE_UNAVAILABLE' })).toBe(2);
  });
});
