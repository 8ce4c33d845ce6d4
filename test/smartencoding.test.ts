/**
 * SmartEncoding gives the same answers as plain strings.
 *
 * The same spans go through two clickhouse exporters into embedded chDB —
 * one database SmartEncoded (the default), one with `smart_encoding: false`
 * (the contrib table) — and a suite of queries (filters of every rewritten
 * form, group by, joins on tags, label lookups, trace by id, the Jaeger API
 * functions) must return identical rows from both. The data has realistic
 * tag cardinalities plus odd input: empty names, unicode, NUL and control
 * bytes, quotes and backslashes, a 100 KB attribute value, one string used
 * as a service name and as a span name.
 *
 * Also: converting a database written with plain strings (its history stays
 * queryable, with the same answers), refusing `smart_encoding: false` on a
 * SmartEncoded database, and the JS id hash against a real
 * clickhouse-server (Debian's 18.16: it cannot hold the contrib schema — no
 * DateTime64 or Map — so the query suite runs in chDB only; the ids, which
 * is what several servers must agree on, are checked there too).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ComponentID, type Host } from '../pipeline/component';
import { ConfigError } from '../pipeline/errors';
import { Logger } from '../pipeline/logger';
import { SpanKind, StatusCode, type Attributes, type Logs, type Metric, type Metrics, type Span, type Traces } from '../pipeline/pdata';
import type { SqlStore } from '../pipeline/storage';
import { Telemetry } from '../pipeline/telemetry';
import { factory } from '../exporters/clickhouse';
import type { ClickHouseExporter } from '../exporters/clickhouse/exporter';
import { sipHash64 } from '../exporters/clickhouse/siphash';
import { RemoteStore } from '../exporters/clickhouse/store-remote';
import { tableNames } from '../exporters/clickhouse/schema';
import { METRIC_KINDS } from '../exporters/clickhouse/rows-metrics';
import { backfillLogStatements, backfillMetricStatements, backfillStatements, logsView, migrateSmart, tracesView } from '../exporters/clickhouse/schema-smart';
import { findTraces, operations, services, traceById } from '../server/query/jaeger';
import { startClickHouseServer } from './helpers/clickhouse-server';
import { TaggedSpans } from './helpers/tagged-spans';

const host: Host = { getExtension: () => undefined, getComponent: () => undefined, listComponents: () => [] };

let dir: string;
let dataDir: string;
const started: ClickHouseExporter[] = [];

function create(database: string, smart: boolean): ClickHouseExporter {
  const cfg = factory.config.parseOrThrow({ data_dir: dataDir, database, smart_encoding: smart });
  return factory.create(
    { id: new ComponentID('clickhouse', database), kind: 'exporter', logger: new Logger('error', {}, () => undefined), telemetry: new Telemetry('normal').forComponent('exporter', 'clickhouse') },
    cfg,
    new Set(['traces', 'logs', 'metrics']),
  ) as ClickHouseExporter;
}

async function start(database: string, smart: boolean): Promise<ClickHouseExporter> {
  const e = create(database, smart);
  started.push(e);
  await e.start(host);
  return e;
}

async function send(e: ClickHouseExporter, batches: Traces[]): Promise<void> {
  for (const b of batches) await e.consumers.traces!.consume(b);
  await (e.consumers.traces as unknown as { idle(): Promise<void> }).idle();
}

async function sendLogs(e: ClickHouseExporter, batches: Logs[]): Promise<void> {
  for (const b of batches) await e.consumers.logs!.consume(b);
  await (e.consumers.logs as unknown as { idle(): Promise<void> }).idle();
}

async function sendMetrics(e: ClickHouseExporter, batches: Metrics[]): Promise<void> {
  for (const b of batches) await e.consumers.metrics!.consume(b);
  await (e.consumers.metrics as unknown as { idle(): Promise<void> }).idle();
}

/** One metric of each type for a resource at time `t` (every point distinct by time and name). */
function metricsAt(t: bigint, n: number): Metric[] {
  const at = { startTimeUnixNano: T0, timeUnixNano: t, flags: 0 };
  const exemplars = [{ filteredAttributes: { 'user.id': `u${n % 7}` }, timeUnixNano: t, value: n, isInt: true, spanId: '0000000000000001', traceId: '00000000000000000000000000000003' }];
  const route = (i: number): Attributes => ({ 'http.route': `/r${(n + i) % 5}`, 'http.response.status_code': 200 + (i % 2) * 300 });
  return [
    { name: 'process.cpu.utilization', description: 'cpu', unit: '1', metadata: {}, data: { type: 'gauge', dataPoints: [{ ...at, attributes: {}, exemplars: [], value: (n % 10) / 10, isInt: false }] } },
    {
      name: 'http.server.requests',
      description: '',
      unit: '{request}',
      metadata: {},
      data: { type: 'sum', aggregationTemporality: 2, isMonotonic: true, dataPoints: [0, 1].map((i) => ({ ...at, attributes: route(i), exemplars: i ? [] : exemplars, value: n * 10 + i, isInt: true })) },
    },
    {
      name: 'http.server.request.duration',
      description: 'duration',
      unit: 's',
      metadata: {},
      data: { type: 'histogram', aggregationTemporality: 2, dataPoints: [{ ...at, attributes: route(0), exemplars, count: 3 + n, sum: n / 4, bucketCounts: [1, 2, n], explicitBounds: [0.1, 1], min: 0.01, max: n }] },
    },
    {
      name: 'rpc.size',
      description: '',
      unit: 'By',
      metadata: {},
      data: {
        type: 'exponentialHistogram',
        aggregationTemporality: 1,
        dataPoints: [{ ...at, attributes: {}, exemplars: [], count: 4, sum: 10, scale: 2, zeroCount: 1, positive: { offset: n % 3, bucketCounts: [1, 2] }, negative: { offset: 0, bucketCounts: [] }, zeroThreshold: 0 }],
      },
    },
    { name: 'gc.pause', description: '', unit: 'ms', metadata: {}, data: { type: 'summary', dataPoints: [{ ...at, attributes: {}, exemplars: [], count: 2, sum: n, quantileValues: [{ quantile: 0.5, value: n / 2 }, { quantile: 0.99, value: n }] }] } },
  ];
}

/** Metrics of the generator's pods (their full resources), plus the odd resources. */
function metricData(): Metrics[] {
  const gen = new TaggedSpans({ services: 6, pods: 30, endpoints: 24, seed: 42 });
  const out: Metrics[] = [];
  for (let b = 0; b < 3; b++) {
    out.push({
      resourceMetrics: gen.resources.map((attributes, p) => ({
        resource: { attributes, droppedAttributesCount: 0 },
        schemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
        scopeMetrics: [{ scope: { name: 'app-meter', version: '1', attributes: { lib: 'x' }, droppedAttributesCount: 0 }, schemaUrl: '', metrics: metricsAt(T0 + BigInt(b * 100 + p) * 1_000_000_000n, b * 100 + p) }],
      })),
    });
  }
  const odd = oddBatch();
  out.push({
    resourceMetrics: odd.resourceSpans.map((rs, k) => ({
      resource: rs.resource,
      schemaUrl: '',
      scopeMetrics: [{ scope: rs.scopeSpans[0].scope, schemaUrl: '', metrics: metricsAt(T0 + BigInt(1000 + k) * 1_000_000_000n, 1000 + k) }],
    })),
  });
  return out;
}

/** Log records of the generator's pods (their full resources, labels and annotations), plus odd resources. */
function logData(): Logs[] {
  const gen = new TaggedSpans({ services: 6, pods: 30, endpoints: 24, seed: 42 });
  const out: Logs[] = [];
  for (let b = 0; b < 3; b++) {
    out.push({
      resourceLogs: gen.resources.map((attributes, p) => ({
        resource: { attributes, droppedAttributesCount: 0 },
        schemaUrl: '',
        scopeLogs: [
          {
            scope: { name: p % 2 ? 'app-logger' : 'access-log', version: '2.1', attributes: {}, droppedAttributesCount: 0 },
            schemaUrl: '',
            logRecords: [0, 1, 2].map((i) => ({
              timeUnixNano: T0 + BigInt((b * 100 + p) * 3 + i) * 1_000_000_000n,
              observedTimeUnixNano: 0n,
              severityNumber: i === 2 ? 17 : 9,
              severityText: i === 2 ? 'ERROR' : 'INFO',
              body: `request ${b}-${p}-${i} ${i === 2 ? 'failed' : 'done'}`,
              attributes: { 'log.file.name': 'app.log', n: i },
              droppedAttributesCount: 0,
              flags: 1,
              traceId: i === 0 ? '00000000000000000000000000000003' : '',
              spanId: '',
              eventName: '',
            })),
          },
        ],
      })),
    });
  }
  const odd = oddBatch();
  out.push({
    resourceLogs: odd.resourceSpans.map((rs) => ({
      resource: rs.resource,
      schemaUrl: '',
      scopeLogs: [{ scope: rs.scopeSpans[0].scope, schemaUrl: '', logRecords: rs.scopeSpans[0].spans.map((sp) => ({ timeUnixNano: sp.startTimeUnixNano, observedTimeUnixNano: 0n, severityNumber: 5, severityText: 'DEBUG', body: sp.name, attributes: {}, droppedAttributesCount: 0, flags: 0, traceId: sp.traceId, spanId: sp.spanId, eventName: 'odd' })) }],
    })),
  });
  return out;
}

const T0 = 1_767_225_600_000_000_000n;
const HUGE = 'h'.repeat(100_000);

function oddSpan(i: number, name: string, attrs: Span['attributes'] = {}): Span {
  return {
    traceId: `0000000000000000000000000000${String(i).padStart(4, '0')}`,
    spanId: `00000000000${String(i).padStart(5, '0')}`,
    traceState: '',
    parentSpanId: '',
    flags: 0,
    name,
    kind: SpanKind.SERVER,
    startTimeUnixNano: T0 + BigInt(i) * 1000n,
    endTimeUnixNano: T0 + BigInt(i) * 1000n + 500n,
    attributes: attrs,
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: { code: StatusCode.UNSET, message: '' },
  };
}

/** Odd names and values, each resource once. */
function oddBatch(): Traces {
  const odd: Array<[Record<string, string | number>, string[]]> = [
    [{}, ['', 'no service']],
    [{ 'service.name': '' }, ['empty service']],
    [{ 'service.name': 'ünïcødé 日本 🚀', 'k8s.pod.label.app': 'ü' }, ['GET /ü/{id}', '']],
    [{ 'service.name': 'nul\u0000byte', 'k8s.pod.label.app': 'a\u0000b', ctl: '\u0001\u001f\u007f' }, ['nul\u0000span']],
    [{ 'service.name': "quote'd \\ back\\slash", 'k8s.pod.label.app': "it's" }, ["O'Reilly \\n"]],
    [{ 'service.name': 'huge', 'k8s.pod.annotation.blob': HUGE, 'k8s.pod.label.app': 'huge' }, ['h'.repeat(5000)]],
    [{ 'service.name': 'same-string', 'k8s.pod.label.app': 'same-string' }, ['same-string']],
    [{ 'service.name': 'lone \ud800 surrogate' }, ['lone \udfff']],
  ];
  let i = 0;
  return {
    resourceSpans: odd.map(([attrs, names]) => ({
      resource: { attributes: attrs, droppedAttributesCount: 0 },
      schemaUrl: '',
      scopeSpans: [{ scope: { name: 'odd-scope ü', version: '', attributes: {}, droppedAttributesCount: 0 }, schemaUrl: '', spans: names.map((n) => oddSpan(i++, n, { k: n, 'http.route': n, 'metaflow.server.k8s.pod.name': `${n} pod`, 'metaflow.client.port': 40000 + i, 'server.address': '' })) }],
    })),
  };
}

function data(): Traces[] {
  const gen = new TaggedSpans({ services: 6, pods: 30, endpoints: 24, spansPerResource: 25, resourcesPerBatch: 10, stepNs: 1_000_000_000n, seed: 42 });
  // Spans shaped like eBPF ones after AutoTagging: most attributes stored as ids.
  const zeroCode = new TaggedSpans({ services: 6, pods: 30, endpoints: 24, spansPerResource: 25, resourcesPerBatch: 10, stepNs: 1_000_000_000n, seed: 7, zeroCode: true });
  return [gen.batch(), gen.batch(), gen.batch(), gen.batch(), zeroCode.batch(), oddBatch()];
}

let smart: ClickHouseExporter;
let plain: ClickHouseExporter;
let smartStore: SqlStore & { rewrite(sql: string): string };
let plainStore: SqlStore;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-smart-'));
  dataDir = path.join(dir, 'data');
  smart = await start('se_smart', true);
  plain = await start('se_plain', false);
  const batches = data();
  await send(smart, batches);
  await send(plain, batches);
  const logs = logData();
  await sendLogs(smart, logs);
  await sendLogs(plain, logs);
  const metrics = metricData();
  await sendMetrics(smart, metrics);
  await sendMetrics(plain, metrics);
  smartStore = smart.store() as SqlStore & { rewrite(sql: string): string };
  plainStore = plain.store()!;
}, 120_000);

afterAll(async () => {
  for (const e of started.splice(0)) await e.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
});

const FROM = `toDateTime64('2026-01-01 00:00:00', 9)`;

/** [description, SQL, whether the SmartEncoding store must rewrite it, params]. */
const SUITE: Array<[string, string, boolean, Record<string, string | string[]>?]> = [
  ['group by service', 'SELECT ServiceName, count(), sum(Duration) FROM otel_traces GROUP BY ServiceName ORDER BY ServiceName', false],
  ['a service’s endpoints over an hour', `SELECT SpanName, count(), max(Duration) FROM otel_traces WHERE ServiceName = 'svc-01' AND Timestamp >= ${FROM} AND Timestamp < ${FROM} + INTERVAL 1 HOUR GROUP BY SpanName ORDER BY SpanName`, true],
  ['name on the right', "SELECT count() FROM otel_traces WHERE 'svc-02' = ServiceName", true],
  ['not equal', "SELECT count() FROM otel_traces WHERE ServiceName != 'svc-01'", true],
  ['in list', "SELECT ServiceName, count() FROM otel_traces WHERE ServiceName IN ('svc-01', 'svc-03', 'no-such') GROUP BY ServiceName ORDER BY ServiceName", true],
  ['not in list', "SELECT count() FROM otel_traces WHERE SpanName NOT IN ('SELECT cart', 'SELECT orders')", true],
  ['array parameter', 'SELECT count() FROM otel_traces WHERE ServiceName IN {list:Array(String)}', true, { list: ['svc-04', 'huge', ''] }],
  ['like', "SELECT SpanName, count() FROM otel_traces WHERE SpanName LIKE 'POST %' GROUP BY SpanName ORDER BY SpanName", true],
  ['not ilike', "SELECT count() FROM otel_traces WHERE ServiceName NOT ILIKE 'SVC-0%'", true],
  ['ordering comparison', "SELECT count() FROM otel_traces WHERE ServiceName < 'svc-03'", true],
  ['scope', "SELECT ScopeName, ScopeVersion, count() FROM otel_traces WHERE ScopeName = '@opentelemetry/instrumentation-http' GROUP BY ScopeName, ScopeVersion ORDER BY ScopeName", true],
  ['label lookup', "SELECT DISTINCT ResourceAttributes['k8s.pod.label.team'] AS team FROM otel_traces ORDER BY team", false],
  ['label filter', "SELECT ServiceName, count() FROM otel_traces WHERE ResourceAttributes['k8s.pod.label.team'] = 'team-1' GROUP BY ServiceName ORDER BY ServiceName", true],
  ['label in list and name', "SELECT count() FROM otel_traces WHERE ResourceAttributes['k8s.pod.label.version'] IN ('v1', 'v3') AND ServiceName = 'svc-05'", true],
  ['label not equal', "SELECT count() FROM otel_traces WHERE ResourceAttributes['k8s.pod.label.tier'] != 'backend'", true],
  ['label like', "SELECT count() FROM otel_traces WHERE ResourceAttributes['k8s.pod.name'] LIKE 'svc-01-%'", true],
  ['group by label', "SELECT ResourceAttributes['k8s.pod.label.tier'] AS tier, ServiceName, count() FROM otel_traces GROUP BY tier, ServiceName ORDER BY tier, ServiceName", false],
  [
    'join on tags: parent service → child operation',
    "SELECT p.ServiceName, c.SpanName, count() FROM otel_traces AS c INNER JOIN otel_traces AS p ON c.TraceId = p.TraceId AND c.ParentSpanId = p.SpanId WHERE p.ServiceName = 'svc-02' GROUP BY p.ServiceName, c.SpanName ORDER BY c.SpanName",
    true,
  ],
  ['join on a tag value', 'SELECT a.ServiceName, count() FROM otel_traces AS a INNER JOIN (SELECT DISTINCT ServiceName FROM otel_traces WHERE SpanName LIKE \'DELETE %\') AS b ON a.ServiceName = b.ServiceName GROUP BY a.ServiceName ORDER BY a.ServiceName', true],
  ['names in a subquery', "SELECT count() FROM otel_traces WHERE ServiceName IN (SELECT ServiceName FROM otel_traces WHERE SpanName = 'same-string')", true],
  ['empty service', "SELECT SpanName, ResourceAttributes FROM otel_traces WHERE ServiceName = '' ORDER BY SpanName", true],
  ['unicode', "SELECT SpanName, ResourceAttributes['k8s.pod.label.app'] FROM otel_traces WHERE ServiceName = 'ünïcødé 日本 🚀' ORDER BY SpanName", true],
  ['NUL byte by parameter', 'SELECT SpanName, ResourceAttributes FROM otel_traces WHERE ServiceName = {s:String}', true, { s: 'nul\u0000byte' }],
  ['quotes and backslashes', "SELECT SpanName FROM otel_traces WHERE ServiceName = 'quote\\'d \\\\ back\\\\slash'", true],
  ['huge value', "SELECT length(ResourceAttributes['k8s.pod.annotation.blob']), length(SpanName) FROM otel_traces WHERE ResourceAttributes['k8s.pod.label.app'] = 'huge'", true],
  ['one string, two kinds', "SELECT ServiceName, SpanName FROM otel_traces WHERE SpanName = 'same-string' AND ServiceName = 'same-string'", true],
  ['lone surrogates stored as U+FFFD', "SELECT ServiceName, SpanName FROM otel_traces WHERE ServiceName LIKE 'lone %'", true],
  ['span attribute (encoded key) equal', "SELECT SpanName, count() FROM otel_traces WHERE SpanAttributes['http.route'] = '/api/v1/cart/{id}/r0' GROUP BY SpanName ORDER BY SpanName", true],
  ['span attribute (encoded key) in list, not equal, a number', "SELECT count() FROM otel_traces WHERE SpanAttributes['db.system'] IN ('postgresql', 'mysql') AND SpanAttributes['http.request.method'] != 'GET' AND SpanAttributes['server.port'] = '5432'", true],
  ['span attribute (encoded key) empty value reads like a missing key', "SELECT SpanName FROM otel_traces WHERE SpanAttributes['server.address'] = '' AND SpanAttributes['metaflow.server.k8s.pod.name'] != '' ORDER BY SpanName", true],
  ['span attribute (encoded key) like', "SELECT SpanAttributes['http.route'] AS r, count() FROM otel_traces WHERE SpanAttributes['http.route'] LIKE '%/orders/%' GROUP BY r ORDER BY r", true],
  ['span attribute (encoded key) odd value by parameter', "SELECT SpanName, SpanAttributes FROM otel_traces WHERE SpanAttributes['metaflow.server.k8s.pod.name'] = {p:String}", true, { p: 'nul\u0000span pod' }],
  ['span attribute (encoded key) empty parameter and array parameter', "SELECT count() FROM otel_traces WHERE SpanAttributes['server.address'] = {e:String} AND SpanAttributes['http.route'] NOT IN {l:Array(String)}", true, { e: '', l: ['', 'same-string'] }],
  ['span attribute (other key) filter, as written', "SELECT count() FROM otel_traces WHERE SpanAttributes['url.path'] LIKE '/x/1%' AND SpanAttributes['metaflow.client.port'] != ''", false],
  ['zero-code ends: client pods calling a server deployment', "SELECT SpanAttributes['metaflow.client.k8s.pod.name'] AS pod, count() FROM otel_traces WHERE SpanAttributes['metaflow.server.k8s.deployment.name'] = 'svc-03' AND SpanAttributes['metaflow.l7_protocol'] = 'HTTP' GROUP BY pod ORDER BY pod", true],
  ['zero-code ends: by client host and process, with a LIKE', "SELECT SpanAttributes['metaflow.client.host.name'] AS h, SpanAttributes['metaflow.client.process.executable.name'] AS p, count() FROM otel_traces WHERE SpanAttributes['metaflow.endpoint'] LIKE '%/users/%' AND SpanAttributes['metaflow.client.port'] != '' GROUP BY h, p ORDER BY h, p", true],
  ['group by an encoded span attribute', "SELECT SpanAttributes['db.operation.name'] AS op, SpanAttributes['http.request.method'] AS m, count() FROM otel_traces GROUP BY op, m ORDER BY op, m", false],
  ['logs: group by service', 'SELECT ServiceName, count(), countIf(SeverityText = \'ERROR\') FROM otel_logs GROUP BY ServiceName ORDER BY ServiceName', false],
  ['logs: a service’s records', "SELECT Body, SeverityText, ScopeName FROM otel_logs WHERE ServiceName = 'svc-01' ORDER BY Timestamp, Body", true],
  ['logs: a label filter and a scope (a string in logs)', "SELECT ServiceName, count() FROM otel_logs WHERE ResourceAttributes['k8s.pod.label.tier'] IN ('data', 'frontend') AND ScopeName = 'app-logger' GROUP BY ServiceName ORDER BY ServiceName", true],
  ['logs: odd names', "SELECT Body, ResourceAttributes FROM otel_logs WHERE ServiceName LIKE 'quote%' OR ServiceName = {s:String} ORDER BY Body", true, { s: 'nul\u0000byte' }],
  ['logs: the resource of every record', "SELECT ResourceAttributes['k8s.pod.name'] AS pod, count() FROM otel_logs GROUP BY pod ORDER BY pod", false],
  ['logs joined to spans by trace id', "SELECT l.ServiceName, s.SpanName, count() FROM otel_logs AS l INNER JOIN otel_traces AS s ON l.TraceId = s.TraceId WHERE l.ServiceName != 'svc-05' GROUP BY l.ServiceName, s.SpanName ORDER BY l.ServiceName, s.SpanName", true],
  ['metrics: requests by service', "SELECT ServiceName, sum(Value) FROM otel_metrics_sum WHERE MetricName = 'http.server.requests' GROUP BY ServiceName ORDER BY ServiceName", false],
  ['metrics: a service’s routes', "SELECT Attributes['http.route'] AS r, sum(Value), count() FROM otel_metrics_sum WHERE ServiceName = 'svc-02' GROUP BY r ORDER BY r", true],
  ['metrics: histogram by label', "SELECT ResourceAttributes['k8s.pod.label.tier'] AS tier, sum(Count), sum(Sum), max(BucketCounts[3]), sum(length(ExplicitBounds)) FROM otel_metrics_histogram WHERE ResourceAttributes['k8s.pod.label.tier'] != '' GROUP BY tier ORDER BY tier", true],
  ['metrics: gauge of odd services', "SELECT ServiceName, Value, ResourceAttributes FROM otel_metrics_gauge WHERE ServiceName IN ('', 'huge', 'same-string') OR ServiceName = {s:String} ORDER BY TimeUnix", true, { s: 'nul\u0000byte' }],
  ['metrics: exponential histogram and summary quantiles', "SELECT s.ServiceName, sum(e.Count), max(s.ValueAtQuantiles.Value[2]) FROM otel_metrics_summary AS s INNER JOIN otel_metrics_exponential_histogram AS e ON s.TimeUnix = e.TimeUnix AND s.ServiceName = e.ServiceName WHERE s.ServiceName LIKE 'svc-0%' GROUP BY s.ServiceName ORDER BY s.ServiceName", true],
  ['metrics: exemplars', "SELECT ServiceName, Exemplars.FilteredAttributes, Exemplars.TraceId FROM otel_metrics_histogram WHERE ResourceAttributes['k8s.pod.name'] = 'svc-01-pod-00' OR ServiceName = 'quote\\'d \\\\ back\\\\slash' ORDER BY TimeUnix", true],
  [
    'trace by id with the lookup table',
    `WITH (SELECT (min(Start), max(End)) FROM otel_traces_trace_id_ts WHERE TraceId = {id:String}) AS range
     SELECT TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode
     FROM otel_traces WHERE TraceId = {id:String} AND Timestamp >= toDateTime64(range.1, 9) AND Timestamp < toDateTime64(range.2 + 1, 9) ORDER BY Timestamp, SpanId`,
    false,
    { id: '00000000000000000000000000000003' },
  ],
];

describe('SmartEncoding returns the same answers as plain strings (chDB)', () => {
  // Every row with its params (jest would take a fourth parameter missing from a row for `done`).
  test.each(SUITE.map(([w, q, r, p]) => [w, q, r, p ?? {}] as const))('%s', async (_what, sql, rewritten, params) => {
    const a = await smartStore.query(sql, { params });
    const b = await plainStore.query(sql, { params });
    expect(a.rows).toEqual(b.rows);
    expect(a.rows.length).toBeGreaterThan(0);
    // Rewritten statements are the point: check the id path was taken.
    expect(smartStore.rewrite(sql) !== sql).toBe(rewritten);
  });

  test('answers are not trivially equal: a filter on a missing name finds nothing in both, a present one finds rows', async () => {
    const none = await smartStore.query("SELECT count() FROM otel_traces WHERE ServiceName = 'no-such-service'");
    expect(none.rows).toEqual([['0']]);
    const some = await smartStore.query("SELECT count() FROM otel_traces WHERE ServiceName = 'svc-01'");
    expect(Number(some.rows[0][0])).toBeGreaterThan(0);
  });

  test('SELECT * has the contrib columns with the same values, plus the id columns', async () => {
    const a = await smartStore.query('SELECT * EXCEPT (ServiceNameId, SpanNameId, ResourceId, ScopeNameId, ScopeVersionId, SpanTagIds) FROM otel_traces ORDER BY SpanId');
    const b = await plainStore.query('SELECT * FROM otel_traces ORDER BY SpanId');
    expect(a.columns.map((c) => c.name)).toEqual(b.columns.map((c) => c.name));
    expect(a.rows).toEqual(b.rows);
    // Encoded span attributes are ids in storage, not strings.
    const stored = await smartStore.query(
      "SELECT countIf(mapContains(SpanAttributes, 'http.route')), countIf(SpanTagIds['http.route'] = sipHash64('/api/v1/cart/{id}/r0')), countIf(mapContains(SpanAttributes, 'url.path')) FROM otel_traces_encoded",
    );
    expect(stored.rows[0].map(Number)[0]).toBe(2); // the two empty routes
    expect(stored.rows[0].map(Number)[1]).toBeGreaterThan(0);
    expect(stored.rows[0].map(Number)[2]).toBeGreaterThan(0);
    const ids = await smartStore.query("SELECT DISTINCT toString(ServiceNameId) FROM otel_traces WHERE ServiceName = 'svc-01'");
    expect(ids.rows).toEqual([[sipHash64('svc-01').toString()]]);
  });

  test('logs: SELECT * has the contrib columns with the same values; resources are stored once, not per record', async () => {
    const a = await smartStore.query('SELECT * EXCEPT (ServiceNameId, ResourceId) FROM otel_logs ORDER BY Timestamp, Body');
    const b = await plainStore.query('SELECT * FROM otel_logs ORDER BY Timestamp, Body');
    expect(a.columns.map((c) => c.name)).toEqual(b.columns.map((c) => c.name));
    expect(a.rows).toEqual(b.rows);
    expect(a.rows.length).toBeGreaterThan(200);
    const cols = await smartStore.query("SELECT name FROM system.columns WHERE database = 'se_smart' AND table = 'otel_logs_encoded' AND name LIKE '%Resource%' ORDER BY name");
    expect(cols.rows).toEqual([['ResourceId'], ['ResourceSchemaUrl']]);
  });

  test.each(METRIC_KINDS.map((k) => [k]))('metrics (%s): SELECT * has the contrib columns with the same values; resources are stored once', async (kind) => {
    const t = `otel_metrics_${kind}`;
    const a = await smartStore.query(`SELECT * EXCEPT (ServiceNameId, ResourceId) FROM ${t} ORDER BY TimeUnix, MetricName, toString(Attributes)`);
    const b = await plainStore.query(`SELECT * FROM ${t} ORDER BY TimeUnix, MetricName, toString(Attributes)`);
    expect(a.columns.map((c) => c.name)).toEqual(b.columns.map((c) => c.name));
    expect(a.rows).toEqual(b.rows);
    expect(a.rows.length).toBeGreaterThanOrEqual(90);
    const cols = await smartStore.query(`SELECT name FROM system.columns WHERE database = 'se_smart' AND table = '${t}_encoded' AND name LIKE '%Resource%' ORDER BY name`);
    expect(cols.rows).toEqual([['ResourceId'], ['ResourceSchemaUrl']]);
  });

  test('name filters run on the primary key', async () => {
    const explain = await smartStore.query("EXPLAIN indexes = 1 SELECT count() FROM otel_traces WHERE ServiceName = 'svc-01'");
    const text = explain.rows.map((r) => String(r[0])).join('\n');
    expect(text).toMatch(/PrimaryKey[\s\S]*Condition: \(ServiceNameId in \[\d+, \d+\]\)/);
  });

  test('the Jaeger API functions give the same services, operations, searches and traces', async () => {
    expect(await services(smartStore)).toEqual(await services(plainStore));
    expect((await services(smartStore)).length).toBeGreaterThan(8);
    expect(await operations(smartStore, 'svc-01')).toEqual(await operations(plainStore, 'svc-01'));
    expect(await operations(smartStore, 'svc-01', 'server')).toEqual(await operations(plainStore, 'svc-01', 'server'));
    const q = { service: 'svc-02', tags: { 'http.request.method': 'GET' }, startUs: Number(T0 / 1000n) - 1, endUs: Number(T0 / 1000n) + 3600e6, limit: 5 };
    const found = await findTraces(smartStore, q);
    expect(found.length).toBeGreaterThan(0);
    expect(found).toEqual(await findTraces(plainStore, q));
    // Tags on an encoded span attribute and on a resource label, and a key that must stay a parameter.
    const tagSets: Array<Record<string, string>> = [{ 'metaflow.server.k8s.deployment.name': 'svc-02', 'metaflow.l7_protocol': 'HTTP' }, { 'k8s.pod.label.tier': 'data' }, { "odd'key": 'x' }];
    for (const tags of tagSets) {
      const tq = { ...q, service: undefined, tags };
      const a = await findTraces(smartStore, tq);
      expect(a).toEqual(await findTraces(plainStore, tq));
      if (!("odd'key" in tags)) expect(a.length).toBeGreaterThan(0);
    }
    const one = await traceById(smartStore, found[0].traceID);
    expect(one).toEqual(await traceById(plainStore, found[0].traceID));
    expect(one?.spans.length).toBeGreaterThan(1);
  });

  test('spans sent after the first batches resolve to their names at once (dictionaries reloaded before the spans land)', async () => {
    const late: Traces = {
      resourceSpans: [
        {
          resource: { attributes: { 'service.name': 'late-comer', 'k8s.pod.label.app': 'late' }, droppedAttributesCount: 0 },
          schemaUrl: '',
          scopeSpans: [{ scope: { name: 's', version: 'v', attributes: {}, droppedAttributesCount: 0 }, schemaUrl: '', spans: [oddSpan(9000, 'late op')] }],
        },
      ],
    };
    await send(smart, [late]);
    const r = await smartStore.query("SELECT ServiceName, SpanName, ScopeName, ResourceAttributes['k8s.pod.label.app'] FROM otel_traces WHERE ServiceName = 'late-comer'");
    expect(r.rows).toEqual([['late-comer', 'late op', 's', 'late']]);
  });
});

describe('SmartEncoding migration and switch', () => {
  test('a database written with plain strings is converted on start with SmartEncoding; its history answers the same', async () => {
    const before = await start('se_convert', false);
    const batches = data();
    await send(before, batches);
    await sendLogs(before, logData());
    await sendMetrics(before, metricData());
    await before.shutdown();
    const after = await start('se_convert', true);
    const st = after.store()!;
    const layout = await st.query("SELECT name, engine FROM system.tables WHERE database = 'se_convert' AND name LIKE 'otel_traces%' ORDER BY name");
    const logLayout = await st.query("SELECT name, engine FROM system.tables WHERE database = 'se_convert' AND name LIKE 'otel_logs%' ORDER BY name");
    expect(logLayout.rows).toEqual([
      ['otel_logs', 'View'],
      ['otel_logs_encoded', 'MergeTree'],
    ]);
    const metricLayout = await st.query("SELECT name, engine FROM system.tables WHERE database = 'se_convert' AND name LIKE 'otel_metrics_%' ORDER BY name");
    expect(metricLayout.rows).toEqual(METRIC_KINDS.flatMap((k) => [[`otel_metrics_${k}`, 'View'], [`otel_metrics_${k}_encoded`, 'MergeTree']]).sort((x, y) => (x[0] < y[0] ? -1 : 1)));
    expect(layout.rows).toEqual([
      ['otel_traces', 'View'],
      ['otel_traces_encoded', 'MergeTree'],
      ['otel_traces_trace_id_ts', 'AggregatingMergeTree'],
      ['otel_traces_trace_id_ts_mv', 'MaterializedView'],
    ]);
    for (const [, sql, , params] of SUITE) {
      const a = await st.query(sql, { params });
      const b = await plainStore.query(sql, { params });
      // se_plain also holds the late span of the test above; compare without it.
      const drop = (rows: unknown[][]) => rows.filter((r) => !JSON.stringify(r).includes('late'));
      expect(drop(a.rows)).toEqual(drop(b.rows));
    }
    // New spans go on being stored, next to the converted ones.
    await send(after, [oddBatch()]);
    const n = await st.query("SELECT count() FROM otel_traces WHERE ServiceName = 'huge'");
    expect(n.rows).toEqual([['2']]);
  });

  test('a database SmartEncoded before span attributes were (version 200) is brought up to date on start; its history answers the same', async () => {
    // Build the version-200 layout from the plain database's spans: encoded
    // tables with every span attribute in the SpanAttributes map, the old view.
    const e = await start('se_v200', true);
    const st = e.store() as SqlStore & { command(sql: string): Promise<void> };
    const exec = { command: (sql: string) => st.command(sql), select: async (sql: string) => (await st.query(sql)).rows };
    const o = { database: 'se_v200', tables: st.tables, ttlMs: 0, cluster: '', engine: { name: 'MergeTree', params: '' } };
    await st.command('CREATE TABLE se_v200.otel_traces_plain AS se_plain.otel_traces');
    await st.command("INSERT INTO se_v200.otel_traces_plain SELECT * FROM se_plain.otel_traces WHERE ServiceName != 'late-comer'");
    for (const sql of backfillStatements(o, 'otel_traces_plain')) await st.command(sql);
    await st.command('SYSTEM RELOAD DICTIONARY se_v200.otel_tags_dict');
    await st.command(
      "ALTER TABLE se_v200.otel_traces_encoded UPDATE SpanAttributes = mapUpdate(SpanAttributes, mapApply((k, v) -> (k, dictGet('se_v200.otel_tags_dict', 'Value', v)), SpanTagIds)) WHERE 1 SETTINGS mutations_sync = 2",
    );
    await st.command('DROP TABLE se_v200.otel_traces_plain');
    await st.command('CREATE TABLE se_v200.otel_logs_plain AS se_plain.otel_logs');
    await st.command('INSERT INTO se_v200.otel_logs_plain SELECT * FROM se_plain.otel_logs');
    for (const sql of backfillLogStatements(o, 'otel_logs_plain')) await st.command(sql);
    await st.command('DROP TABLE se_v200.otel_logs_plain');
    for (const kind of METRIC_KINDS) {
      await st.command(`CREATE TABLE se_v200.m_plain AS se_plain.otel_metrics_${kind}`);
      await st.command(`INSERT INTO se_v200.m_plain SELECT * FROM se_plain.otel_metrics_${kind}`);
      for (const sql of backfillMetricStatements(o, kind, 'm_plain')) await st.command(sql);
      await st.command('DROP TABLE se_v200.m_plain');
    }
    await st.command('SYSTEM RELOAD DICTIONARY se_v200.otel_resources_dict');
    await st.command('SYSTEM RELOAD DICTIONARY se_v200.otel_tags_dict');
    await st.command('DROP VIEW se_v200.otel_traces');
    await st.command('ALTER TABLE se_v200.otel_traces_encoded DROP COLUMN SpanTagIds');
    const oldView = tracesView(o).replace(/mapUpdate\(SpanAttributes, .*\) AS SpanAttributes/, 'SpanAttributes').replace(',\n    SpanTagIds', '');
    expect(oldView).not.toMatch(/SpanTagIds/);
    await st.command(oldView);
    await st.command('ALTER TABLE se_v200.smart_schema_migrations DELETE WHERE version = 201 SETTINGS mutations_sync = 2');
    const before = await st.query("SELECT count() FROM se_v200.otel_traces_encoded WHERE mapContains(SpanAttributes, 'http.route')");
    expect(Number(before.rows[0][0])).toBeGreaterThan(50);

    expect(await migrateSmart(exec, o)).toEqual([201]);
    const moved = await st.query(
      "SELECT countIf(mapContains(SpanAttributes, 'http.route')), countIf(mapContains(SpanTagIds, 'http.route')), countIf(mapContains(SpanAttributes, 'server.address')) FROM se_v200.otel_traces_encoded",
    );
    // Encoded keys left the string map; empty values (two odd spans' routes, every odd span's server.address) stayed in it.
    expect(moved.rows[0].map(Number)).toEqual([2, Number(before.rows[0][0]) - 2, 10]);
    for (const [what, sql, , params] of SUITE) {
      const a = await st.query(sql, { params });
      const b = await plainStore.query(sql, { params });
      const drop = (rows: unknown[][]) => rows.filter((r) => !JSON.stringify(r).includes('late'));
      expect([what, drop(a.rows)]).toEqual([what, drop(b.rows)]);
    }
    expect(await migrateSmart(exec, o)).toEqual([]);
  });

  test('a database from before resources were read through JSON (version 230) is brought up to date; a resource JSON cannot carry reads back exactly', async () => {
    const e = await start('se_v230', true);
    await sendLogs(e, logData());
    const st = e.store() as SqlStore & { command(sql: string): Promise<void> };
    const exec = { command: (sql: string) => st.command(sql), select: async (sql: string) => (await st.query(sql)).rows };
    const o = { database: 'se_v230', tables: st.tables, ttlMs: 0, cluster: '', engine: { name: 'MergeTree', params: '' } };
    const q = 'SELECT Body, ServiceName, ResourceAttributes FROM otel_logs ORDER BY Timestamp, Body';
    const want = await plainStore.query(q);
    // The version-230 objects: the dictionary without AttributesJson, the logs view reading the Map attribute.
    await st.command('DROP DICTIONARY se_v230.otel_resources_dict');
    await st.command(
      "CREATE DICTIONARY se_v230.otel_resources_dict (ResourceId UInt64, ServiceName String, Attributes Map(String, String)) PRIMARY KEY ResourceId SOURCE(CLICKHOUSE(DB 'se_v230' TABLE 'otel_resources')) LAYOUT(HASHED()) LIFETIME(MIN 1 MAX 10)",
    );
    await st.command('DROP VIEW se_v230.otel_logs');
    await st.command(logsView(o).replace(/if\(dictGet.*\) AS ResourceAttributes/, "dictGet('se_v230.otel_resources_dict', 'Attributes', ResourceId) AS ResourceAttributes"));
    await st.command('ALTER TABLE se_v230.smart_schema_migrations DELETE WHERE version = 240 SETTINGS mutations_sync = 2');
    const viewSql = async () => String((await st.query("SELECT create_table_query FROM system.tables WHERE database = 'se_v230' AND name = 'otel_logs'")).rows[0][0]);
    expect(await viewSql()).not.toMatch(/AttributesJson/);
    expect((await st.query(q)).rows).toEqual(want.rows);
    expect(await migrateSmart(exec, o)).toEqual([240]);
    expect(await viewSql()).toMatch(/AttributesJson/);
    expect((await st.query(q)).rows).toEqual(want.rows);
    const attrs = await st.query("SELECT attribute.names FROM system.dictionaries WHERE database = 'se_v230' AND name = 'otel_resources_dict'");
    expect(attrs.rows).toEqual([[['ServiceName', 'Attributes', 'AttributesJson']]]);
    // A resource written by another producer with bytes that are not UTF-8: read back byte for byte (the Map fallback).
    await st.command("INSERT INTO se_v230.otel_resources (ResourceId, ServiceName, Attributes) VALUES (7, 'raw', map('k', unhex('FF61'), 'n', 'plain'))");
    await st.command("INSERT INTO se_v230.otel_logs_encoded (Timestamp, ServiceNameId, ResourceId, Body) VALUES ('2026-01-01 00:00:00', sipHash64('raw'), 7, 'raw bytes')");
    await st.command('SYSTEM RELOAD DICTIONARY se_v230.otel_resources_dict');
    const raw = await st.query("SELECT hex(ResourceAttributes['k']), ResourceAttributes['n'], mapKeys(ResourceAttributes), dictGet('se_v230.otel_resources_dict', 'AttributesJson', ResourceId) FROM otel_logs WHERE Body = 'raw bytes'");
    expect(raw.rows).toEqual([['FF61', 'plain', ['k', 'n'], '']]);
  });

  test('smart_encoding: false on a SmartEncoded database fails start with the key and the way out', async () => {
    const e = create('se_smart', false);
    started.push(e);
    let err: unknown;
    try {
      await e.start(host);
    } catch (x) {
      err = x;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(String((err as Error).message)).toMatch(/smart_encoding: database "se_smart" stores telemetry SmartEncoded.*otel_logs is a view over otel_logs_encoded.*keep smart_encoding: true/);
  });
});

describe('SmartEncoding ids on a real clickhouse-server', () => {
  test('Debian’s clickhouse-server computes the same sipHash64 ids as the exporter, for odd strings too', async () => {
    const server = await startClickHouseServer();
    const store = RemoteStore.open({
      endpoint: server.url,
      username: server.username,
      password: server.password,
      database: 'default',
      tables: tableNames('otel_traces', 'otel_logs', { gauge: 'g', sum: 's', histogram: 'h', exponentialHistogram: 'e', summary: 'q' }),
      timeoutMs: 10000,
    });
    try {
      const strings = ['', 'cart', 'ünïcødé 日本 🚀', 'nul\u0000byte', "quote'd \\ back\\slash", 'x'.repeat(70_000), 'svc-01', '12345678', '123456789'];
      for (const s of strings) {
        // 18.16 has no query parameters: the exact bytes go in as hex.
        const r = await store.query(`SELECT toString(sipHash64(unhex('${Buffer.from(s, 'utf8').toString('hex')}')))`);
        expect([s.slice(0, 20), r.rows[0][0]]).toEqual([s.slice(0, 20), sipHash64(s).toString()]);
      }
    } finally {
      await store.close();
      await server.destroy();
    }
  }, 120_000);
});
