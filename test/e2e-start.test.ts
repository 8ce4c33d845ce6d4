/**
 * End to end: the real `metaflow start` (embedded chDB, query service) fed
 * by a real OpenTelemetry SDK app over OTLP/gRPC, OTLP/HTTP protobuf and
 * OTLP/HTTP JSON; everything read back through the SQL API, the Jaeger API
 * and the `metaflow query` command.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeTracesRequest } from '../pipeline/otlp';
import { tracesOf } from '../pipeline/testing/factories';
import { eventually, rows, runCli, runOtelApp, sql, startMetaflow, type Metaflow, type OtelAppOutput } from './helpers/metaflow';

let mf: Metaflow;
const sent: Record<string, OtelAppOutput> = {};

beforeAll(async () => {
  mf = await startMetaflow();
  for (const [protocol, endpoint] of [
    ['grpc', `http://127.0.0.1:${mf.grpcPort}`],
    ['http/protobuf', `http://127.0.0.1:${mf.httpPort}`],
    ['http/json', `http://127.0.0.1:${mf.httpPort}`],
  ] as const) {
    sent[protocol] = await runOtelApp(protocol, endpoint, { OTEL_SERVICE_NAME: `checkout-${protocol.replace('/', '-')}` });
  }
  // The batch processor sends within its 200 ms timeout; wait until all arrived.
  await eventually(async () => (await rows(mf.queryPort, 'SELECT count() AS n FROM otel_traces'))[0].n === '15', 30000, '15 spans');
}, 180000);

afterAll(async () => {
  const code = await mf?.stop();
  expect(code).toBe(0);
  fs.rmSync(mf.dataDir, { recursive: true, force: true });
});

describe.each(['grpc', 'http/protobuf', 'http/json'])('spans sent over %s', (protocol) => {
  it('come back through SQL with ids, parents, kinds, attributes, events, links, status and resource intact', async () => {
    const app = sent[protocol];
    const spans = await rows(
      mf.queryPort,
      `SELECT SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, StatusCode, StatusMessage,
              Events.Name, Events.Attributes, Links.TraceId, Links.SpanId, Links.Attributes, Duration
       FROM otel_traces WHERE TraceId = '${app.traceId}' ORDER BY SpanName`,
    );
    expect(spans.map((s) => [s.SpanName, s.SpanId, s.ParentSpanId, s.SpanKind])).toEqual([
      ['GET /checkout', app.spans['GET /checkout'], '', 'Server'],
      ['SELECT orders', app.spans['SELECT orders'], app.spans['GET /checkout'], 'Client'],
      ['compute total', app.spans['compute total'], app.spans['GET /checkout'], 'Internal'],
      ['publish order', app.spans['publish order'], app.spans['GET /checkout'], 'Producer'],
    ]);
    const root = spans[0];
    expect(root.ServiceName).toBe(app.service);
    expect(root.ResourceAttributes).toMatchObject({ 'service.name': app.service, 'service.version': '1.2.3', 'deployment.environment': 'test', 'run.id': app.runId });
    expect(root.ScopeName).toBe('example-tracer');
    expect(root.ScopeVersion).toBe('0.1.0');
    expect(root.SpanAttributes).toEqual({
      'http.request.method': 'GET',
      'url.path': '/checkout',
      'http.response.status_code': '500',
      'cart.value': '12.5',
      'cart.items': '["apple","pear"]',
      'user.vip': 'true',
    });
    expect([root.StatusCode, root.StatusMessage]).toEqual(['Error', 'payment declined']);
    // recordException adds an "exception" event.
    expect(root['Events.Name']).toEqual(['exception']);
    expect((root['Events.Attributes'] as Array<Record<string, string>>)[0]).toMatchObject({ 'exception.type': 'Error', 'exception.message': 'payment declined' });
    expect([root['Links.TraceId'], root['Links.SpanId'], root['Links.Attributes']]).toEqual([[app.linkedTraceId], [app.spans['background job']], [{ 'link.reason': 'triggered-by' }]]);
    const db = spans[1];
    expect(db.SpanAttributes).toEqual({ 'db.system': 'postgresql', 'db.statement': 'SELECT * FROM orders WHERE id = $1' });
    expect(db['Events.Name']).toEqual(['query.start', 'query.end']);
    expect(db['Events.Attributes']).toEqual([{ 'rows.expected': '3' }, { 'rows.returned': '2' }]);
    expect(Number(db.Duration)).toBeGreaterThanOrEqual(4_000_000);
    expect(spans[2].StatusCode).toBe('Ok');
  });

  it('come back through the Jaeger API in its trace shape', async () => {
    const app = sent[protocol];
    const res = await fetch(`http://127.0.0.1:${mf.queryPort}/api/traces/${app.traceId}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: Array<{ traceID: string; spans: Array<Record<string, unknown>>; processes: Record<string, { serviceName: string; tags: Array<{ key: string; value: unknown }> }> }> };
    const trace = body.data[0];
    expect(trace.traceID).toBe(app.traceId);
    const byName = new Map(trace.spans.map((s) => [s.operationName as string, s]));
    const root = byName.get('GET /checkout') as Record<string, unknown>;
    const tags = Object.fromEntries((root.tags as Array<{ key: string; value: unknown }>).map((t) => [t.key, t.value]));
    expect(tags).toMatchObject({ 'span.kind': 'server', 'otel.status_code': 'ERROR', error: true, 'otel.status_description': 'payment declined', 'http.request.method': 'GET', 'otel.scope.name': 'example-tracer' });
    expect(root.references).toEqual([{ refType: 'FOLLOWS_FROM', traceID: app.linkedTraceId, spanID: app.spans['background job'] }]);
    const db = byName.get('SELECT orders') as Record<string, unknown>;
    expect(db.references).toEqual([{ refType: 'CHILD_OF', traceID: app.traceId, spanID: app.spans['GET /checkout'] }]);
    expect((db.logs as Array<{ fields: Array<{ key: string; value: unknown }> }>).map((l) => l.fields[0])).toEqual([
      { key: 'event', type: 'string', value: 'query.start' },
      { key: 'event', type: 'string', value: 'query.end' },
    ]);
    expect(db.duration as number).toBeGreaterThanOrEqual(4000);
    const process = trace.processes[root.processID as string];
    expect(process.serviceName).toBe(app.service);
    expect(Object.fromEntries(process.tags.map((t) => [t.key, t.value]))).toMatchObject({ 'service.version': '1.2.3', 'run.id': app.runId });
  });

  it('have their metrics (sum, gauge, histogram) and logs stored', async () => {
    const app = sent[protocol];
    const svc = app.service;
    const sums = await rows(mf.queryPort, `SELECT Attributes['order.type'] AS t, max(Value) AS v, any(IsMonotonic) AS m FROM otel_metrics_sum WHERE ServiceName = '${svc}' AND MetricName = 'orders_total' GROUP BY t ORDER BY t`);
    expect(sums).toEqual([
      { t: 'online', v: 3, m: true },
      { t: 'store', v: 2, m: true },
    ]);
    const gauge = await rows(mf.queryPort, `SELECT DISTINCT Value, Attributes FROM otel_metrics_gauge WHERE ServiceName = '${svc}' AND MetricName = 'queue_depth'`);
    expect(gauge).toEqual([{ Value: 7, Attributes: { queue: 'payments' } }]);
    const hist = await rows(mf.queryPort, `SELECT DISTINCT Count, Sum, Min, Max, BucketCounts, ExplicitBounds, MetricUnit FROM otel_metrics_histogram WHERE ServiceName = '${svc}' AND MetricName = 'checkout_duration'`);
    expect(hist).toEqual([{ Count: '5', Sum: 325, Min: 5, Max: 200, BucketCounts: ['1', '2', '1', '1'], ExplicitBounds: [10, 50, 100], MetricUnit: 'ms' }]);
    const logs = await rows(mf.queryPort, `SELECT SeverityText, SeverityNumber, Body, LogAttributes, TraceId, SpanId, ScopeName FROM otel_logs WHERE ServiceName = '${svc}'`);
    expect(logs).toEqual([
      {
        SeverityText: 'WARN',
        SeverityNumber: 13,
        Body: 'payment declined for order 42',
        LogAttributes: { 'order.id': '42', 'payment.provider': 'acme' },
        TraceId: app.traceId,
        SpanId: app.spans['GET /checkout'],
        ScopeName: 'example-logger',
      },
    ]);
  });
});

describe('the Jaeger API', () => {
  it('lists services and operations and finds traces by service, operation, tags and duration', async () => {
    const api = (p: string) => fetch(`http://127.0.0.1:${mf.queryPort}${p}`).then(async (r) => ({ status: r.status, body: (await r.json()) as { data: unknown; errors: unknown } }));
    const services = await api('/api/services');
    expect(services.body.data).toEqual(expect.arrayContaining(['checkout-grpc', 'checkout-http-protobuf', 'checkout-http-json']));
    const ops = await api('/api/services/checkout-grpc/operations');
    expect(ops.body.data).toEqual(['GET /checkout', 'SELECT orders', 'background job', 'compute total', 'publish order']);
    const kinds = await api('/api/operations?service=checkout-grpc&spanKind=client');
    expect(kinds.body.data).toEqual([{ name: 'SELECT orders', spanKind: 'client' }]);
    const found = await api(`/api/traces?service=checkout-http-json&operation=SELECT%20orders&tags=${encodeURIComponent('{"db.system":"postgresql"}')}&minDuration=1ms&lookback=1h&limit=10`);
    const traces = found.body.data as Array<{ traceID: string; spans: unknown[] }>;
    expect(traces.map((t) => t.traceID)).toEqual([sent['http/json'].traceId]);
    expect(traces[0].spans).toHaveLength(4);
    const errors = await api(`/api/traces?service=checkout-grpc&tags=${encodeURIComponent('{"error":"true"}')}`);
    expect((errors.body.data as Array<{ traceID: string }>).map((t) => t.traceID)).toEqual([sent.grpc.traceId]);
    const none = await api('/api/traces?service=checkout-grpc&minDuration=1h');
    expect(none.body.data).toEqual([]);
  });

  it('answers 404 for an unknown trace and 400 for malformed parameters', async () => {
    const missing = await fetch(`http://127.0.0.1:${mf.queryPort}/api/traces/00000000000000000000000000000001`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ data: null, errors: [{ code: 404, msg: 'trace not found' }] });
    const bad = await fetch(`http://127.0.0.1:${mf.queryPort}/api/traces/not-hex`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: Array<{ msg: string }> }).errors[0].msg).toBe('invalid trace id "not-hex": expected up to 32 hex characters');
    const badDur = await fetch(`http://127.0.0.1:${mf.queryPort}/api/traces?service=x&minDuration=fast`);
    expect(badDur.status).toBe(400);
    const badTags = await fetch(`http://127.0.0.1:${mf.queryPort}/api/traces?service=x&tags=%7Bnope`);
    expect(badTags.status).toBe(400);
  });
});

describe('the SQL API', () => {
  it('refuses writes with 403 and the reason, and bad SQL with 400 and ClickHouse’s message', async () => {
    const insert = await sql(mf.queryPort, "INSERT INTO otel_traces (TraceId) VALUES ('x')");
    expect(insert.status).toBe(403);
    expect(insert.body.error).toBe('INSERT statements are not allowed: the SQL API is read-only (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS)');
    const file = await sql(mf.queryPort, "SELECT * FROM file('/etc/passwd', 'LineAsString')");
    expect(file.status).toBe(403);
    const bad = await sql(mf.queryPort, 'SELECT nope FROM otel_traces');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/nope/);
    const show = await sql(mf.queryPort, 'SHOW TABLES');
    expect(show.status).toBe(200);
    expect(show.body.rows.map((r) => r[0])).toEqual(expect.arrayContaining(['otel_traces', 'otel_logs', 'otel_metrics_sum', 'otel_traces_trace_id_ts']));
  });

  it('answers 400 for a malformed or oversized body and keeps serving', async () => {
    const post = (body: string) => fetch(`http://127.0.0.1:${mf.queryPort}/api/v1/sql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const malformed = await post('{"sql": ');
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: string }).error).toMatch(/^malformed JSON/);
    const wrongShape = await post('{"query": "SELECT 1"}');
    expect(wrongShape.status).toBe(400);
    const huge = await post(JSON.stringify({ sql: `SELECT '${'x'.repeat(2 << 20)}'` }));
    expect(huge.status).toBe(413);
    const ok = await sql(mf.queryPort, 'SELECT 1 AS one');
    expect(ok).toEqual({ status: 200, body: { columns: [{ name: 'one', type: 'UInt8' }], rows: [[1]] } });
  });
});

describe('the metaflow command', () => {
  it('query prints a table or JSON', async () => {
    const url = `http://127.0.0.1:${mf.queryPort}`;
    const table = await runCli(['query', `SELECT SpanName, SpanKind FROM otel_traces WHERE TraceId = '${sent.grpc.traceId}' ORDER BY SpanName LIMIT 2`, '--server', url]);
    expect(table.code).toBe(0);
    expect(table.stdout).toBe('SpanName       SpanKind\n─────────────  ────────\nGET /checkout  Server\nSELECT orders  Client\n(2 rows)\n');
    const json = await runCli(['query', 'SELECT 1 AS one', '--format', 'json', '--server', url]);
    expect(JSON.parse(json.stdout)).toEqual({ columns: [{ name: 'one', type: 'UInt8' }], rows: [[1]] });
    const refused = await runCli(['query', 'DROP TABLE otel_traces', '--server', url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('DROP statements are not allowed');
  });

  it('serves its own metrics on the telemetry endpoint', async () => {
    const text = await (await fetch(`http://127.0.0.1:${mf.telemetryPort}/metrics`)).text();
    expect(text).toMatch(/otelcol_receiver_accepted_spans_total\{receiver="otlp",transport="grpc"\} 5/);
    expect(text).toMatch(/otelcol_exporter_sent_spans_total\{exporter="clickhouse"\} 15/);
    expect(text).toMatch(/process_resident_memory_bytes \d+/);
    expect(text).toMatch(/otelcol_exporter_queue_size\{exporter="clickhouse",data_type="traces"\} 0/);
  });
});

describe('shutdown and persistence', () => {
  it('flushes batched data on SIGTERM and finds it after a restart', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaflow-restart-'));
    // A long batch timeout: the spans are still in the batch processor when SIGTERM arrives.
    const first = await startMetaflow({ dataDir, configs: ['yaml:processors::batch::timeout: 1h'] });
    const res = await fetch(`http://127.0.0.1:${first.httpPort}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: encodeTracesRequest(tracesOf('flushed-1', 'flushed-2')),
    });
    expect(res.status).toBe(200);
    expect(await first.stop()).toBe(0);
    const second = await startMetaflow({ dataDir });
    try {
      const found = await rows(second.queryPort, "SELECT SpanName FROM otel_traces WHERE SpanName LIKE 'flushed-%' ORDER BY SpanName");
      expect(found).toEqual([{ SpanName: 'flushed-1' }, { SpanName: 'flushed-2' }]);
    } finally {
      await second.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120000);
});
