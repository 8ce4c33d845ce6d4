/**
 * RED metrics end to end: an @opentelemetry/sdk-node app (examples/otel-app.js)
 * sends spans over OTLP; the redmetrics and servicegraph connectors turn them
 * into metrics stored in the embedded ClickHouse; the query service answers
 * the RED and service-map APIs from them, and a real Prometheus (Debian's
 * 2.42) configured with remote_read pointing at the query service runs PromQL
 * — rate() and increase() included — over the RED metrics.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { factory as redmetrics } from '../connectors/redmetrics';
import { factory as servicegraph } from '../connectors/servicegraph';
import { factory as clickhouse } from '../exporters/clickhouse';
import { factory as otlp } from '../receivers/otlp';
import { factory as query } from '../server/query';
import { Registry } from '../pipeline/registry';
import { Service } from '../pipeline/service';
import { encodeReadRequest, decodeReadResponse, MatchType } from '../pipeline/prometheus/prompb';
import { snappyCompress, snappyUncompressSync } from '../pipeline/prometheus/snappy';
import { eventually, rows, runOtelApp } from './helpers/metaflow';
import { freePorts } from './helpers/ports';
import { startPrometheus, type Prometheus } from './helpers/prometheus';

const RUNS = 3;

let dir: string;
let svc: Service | undefined;
let prom: Prometheus | undefined;
let queryPort: number;
let firstRunAt = 0;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-red-e2e-'));
  const [grpc, http, qp] = await freePorts(3);
  queryPort = qp;
  const registry = new Registry([otlp, redmetrics, servicegraph, clickhouse, query]);
  svc = Service.fromSources(
    [
      `yaml:
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:${grpc} }
      http: { endpoint: 127.0.0.1:${http} }
connectors:
  redmetrics: { flush_delay: 500ms, metrics_flush_interval: 250ms }
  servicegraph: { metrics_flush_interval: 500ms, store: { ttl: 500ms }, store_expiration_loop: 100ms }
exporters:
  clickhouse:
    data_dir: ${path.join(dir, 'data')}
extensions:
  query: { endpoint: 127.0.0.1:${qp} }
service:
  extensions: [query]
  telemetry: { metrics: { level: none }, logs: { level: error } }
  pipelines:
    traces: { receivers: [otlp], exporters: [redmetrics, servicegraph, clickhouse] }
    metrics: { receivers: [otlp, redmetrics, servicegraph], exporters: [clickhouse] }
`,
    ],
    registry,
  );
  await svc.start();
  prom = await startPrometheus({
    config: `
global:
  scrape_interval: 15s
remote_read:
  - url: http://127.0.0.1:${qp}/api/v1/read
    read_recent: true
`,
  });
  // Three runs of the app, a second or more apart: three GET /checkout server spans (status ERROR).
  firstRunAt = Date.now();
  for (let i = 0; i < RUNS; i++) {
    await runOtelApp('grpc', `http://127.0.0.1:${grpc}`, { RUN_ID: `red-${i}` });
    await new Promise((r) => setTimeout(r, 1100));
  }
}, 180000);

afterAll(async () => {
  await prom?.stop();
  await svc?.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
});

const checkoutFilter = `ServiceName = 'checkout' AND Attributes['endpoint'] = 'GET /checkout' AND Attributes['span.kind'] = 'SPAN_KIND_SERVER'`;

describe('RED metrics from SDK spans', () => {
  it('stores 1 s request, error and duration points per endpoint and span kind', async () => {
    const got = await eventually(
      async () => {
        const r = await rows(
          queryPort,
          `SELECT sumIf(Value, MetricName = 'metaflow.red.requests') AS requests, sumIf(Value, MetricName = 'metaflow.red.errors') AS errors,
                  any(Attributes['status.code']) AS status, any(AggregationTemporality) AS temporality
           FROM otel_metrics_sum WHERE ${checkoutFilter} AND ScopeAttributes['metaflow.resolution'] = '1s'`,
        );
        return Number(r[0].requests) === RUNS ? r[0] : undefined;
      },
      30000,
      `${RUNS} GET /checkout requests`,
    );
    expect(got).toEqual({ requests: RUNS, errors: RUNS, status: 'STATUS_CODE_ERROR', temporality: 1 });
    // Each metric table gets its own insert: the last window's histogram and
    // client rows may land after the sums seen above, so they are awaited too.
    const h = await eventually(
      async () => {
        const r = await rows(
          queryPort,
          `SELECT sum(Count) AS n, MetricUnit AS unit, min(Min) AS min FROM otel_metrics_histogram
           WHERE MetricName = 'metaflow.red.duration' AND ${checkoutFilter} AND ScopeAttributes['metaflow.resolution'] = '1s' GROUP BY unit`,
        );
        return r.length !== 1 || Number(r[0].n) >= RUNS ? r : undefined;
      },
      30000,
      `${RUNS} GET /checkout durations`,
    );
    expect(h).toHaveLength(1);
    expect(Number(h[0].n)).toBe(RUNS);
    expect(h[0].unit).toBe('ms');
    // The root span waits 5 ms for its database child.
    expect(Number(h[0].min)).toBeGreaterThanOrEqual(5);
    // Client and server views apart: the database call is a CLIENT series of its own.
    const client = await eventually(
      async () => {
        const r = await rows(
          queryPort,
          `SELECT sum(Value) AS n, any(Attributes['l7.protocol']) AS proto FROM otel_metrics_sum
           WHERE MetricName = 'metaflow.red.requests' AND ServiceName = 'checkout' AND Attributes['endpoint'] = 'SELECT orders'
             AND Attributes['span.kind'] = 'SPAN_KIND_CLIENT' AND ScopeAttributes['metaflow.resolution'] = '1s'`,
        );
        return Number(r[0]?.n) >= RUNS ? r : undefined;
      },
      30000,
      `${RUNS} SELECT orders client requests`,
    );
    expect(client[0]).toEqual({ n: RUNS, proto: 'PostgreSQL' });
  });

  it('answers the RED API: rate, error ratio and percentiles', async () => {
    const end = Date.now() + 1000;
    const body = await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${queryPort}/api/v1/red?service=checkout&endpoint=${encodeURIComponent('GET /checkout')}&start=${firstRunAt - 5000}&end=${end}&step=5s`);
      const b = (await res.json()) as { total: Record<string, number | null>; series: Array<Record<string, number | null>>; resolution: string; step: number };
      return b.total?.requests === RUNS ? b : undefined;
    });
    expect(body.resolution).toBe('1s');
    expect(body.step).toBe(5);
    expect(body.total.errors).toBe(RUNS);
    expect(body.total.error_ratio).toBe(1);
    expect(body.total.rate).toBeCloseTo(RUNS / ((end - (firstRunAt - 5000)) / 1000), 5);
    const p50 = body.total.p50 as number;
    const p99 = body.total.p99 as number;
    expect(p50).toBeGreaterThanOrEqual(5);
    expect(p99).toBeGreaterThanOrEqual(p50);
    expect(p99).toBeLessThan(10000);
    expect(body.series.reduce((a, s) => a + (s.requests as number), 0)).toBe(RUNS);
    const bad = await fetch(`http://127.0.0.1:${queryPort}/api/v1/red?endpoint=x`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe('service: required');
  });

  it('answers the service map: the user → checkout → postgresql edges and the checkout node', async () => {
    const body = await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${queryPort}/api/v1/service-map?start=${firstRunAt - 5000}&end=${Date.now() + 1000}`);
      const b = (await res.json()) as { nodes: Array<Record<string, unknown>>; edges: Array<Record<string, unknown>> };
      const db = b.edges?.find((e) => e.source === 'checkout' && e.target === 'postgresql');
      return db && db.requests === RUNS ? b : undefined;
    });
    const user = body.edges.find((e) => e.source === 'user' && e.target === 'checkout');
    // The GET /checkout root span and the background-job consumer span of each run.
    expect(user).toMatchObject({ connection_type: 'virtual_node', requests: 2 * RUNS, errors: RUNS });
    const db = body.edges.find((e) => e.target === 'postgresql') as Record<string, number>;
    expect(db.p50).toBeGreaterThanOrEqual(5);
    const checkout = body.nodes.find((n) => n.id === 'checkout') as Record<string, unknown>;
    expect(checkout).toMatchObject({ type: 'service', errors: RUNS });
    expect(body.nodes.find((n) => n.id === 'postgresql')?.type).toBe('virtual');
  });
});

describe('Prometheus remote read of RED metrics', () => {
  const selector = 'metaflow_red_requests_total{service_name="checkout",endpoint="GET /checkout",span_kind="SPAN_KIND_SERVER"}';

  it('gives Prometheus the counter with OpenTelemetry-to-Prometheus names and labels', async () => {
    const p = prom as Prometheus;
    const r = await eventually(async () => {
      const x = await p.query(selector);
      return x.length === 1 && Number(x[0].value[1]) === RUNS ? x : undefined;
    }, 30000, 'the RED counter through remote read');
    expect(r[0].metric).toEqual({
      __name__: 'metaflow_red_requests_total',
      endpoint: 'GET /checkout',
      job: 'checkout',
      l7_protocol: 'HTTP',
      service_name: 'checkout',
      span_kind: 'SPAN_KIND_SERVER',
      status_code: 'STATUS_CODE_ERROR',
    });
  });

  it('runs rate() and increase() over them', async () => {
    const p = prom as Prometheus;
    // One evaluation time for every query, so their extrapolations agree.
    const t = Date.now() / 1000;
    const inc = await p.query(`sum(increase(${selector}[5m]))`, t);
    const v = Number(inc[0].value[1]);
    // All three requests, plus Prometheus's extrapolation towards the window's end (never below the zero start).
    expect(v).toBeGreaterThanOrEqual(RUNS);
    expect(v).toBeLessThanOrEqual(RUNS * 1.6);
    const rate = await p.query(`sum(rate(metaflow_red_errors_total{service_name="checkout",endpoint="GET /checkout"}[5m]))`, t);
    expect(Number(rate[0].value[1])).toBeCloseTo(Number(inc[0].value[1]) / 300, 6);
    const ratio = await p.query(
      `sum(rate(metaflow_red_errors_total{service_name="checkout",span_kind="SPAN_KIND_SERVER"}[5m])) / sum(rate(metaflow_red_requests_total{service_name="checkout",span_kind="SPAN_KIND_SERVER"}[5m]))`,
      t,
    );
    expect(Number(ratio[0].value[1])).toBe(1);
    const p99 = await p.query(`histogram_quantile(0.99, sum by (le) (rate(metaflow_red_duration_milliseconds_bucket{service_name="checkout",endpoint="GET /checkout"}[5m])))`, t);
    expect(Number(p99[0].value[1])).toBeGreaterThan(4);
  });

  it('answers remote-read requests itself: matchers, and refusals', async () => {
    const now = Date.now();
    const post = (body: Buffer, headers: Record<string, string> = { 'content-encoding': 'snappy', 'content-type': 'application/x-protobuf' }) =>
      fetch(`http://127.0.0.1:${queryPort}/api/v1/read`, { method: 'POST', body, headers });
    const req = encodeReadRequest({
      queries: [
        {
          startMs: firstRunAt - 60000,
          endMs: now,
          matchers: [
            { type: MatchType.RE, name: '__name__', value: 'metaflow_red_(requests|errors)_total' },
            { type: MatchType.EQ, name: 'endpoint', value: 'GET /checkout' },
            { type: MatchType.NEQ, name: 'span_kind', value: 'SPAN_KIND_CLIENT' },
          ],
          hints: undefined,
        },
      ],
      acceptedResponseTypes: [0],
    });
    const res = await post(snappyCompress(req));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-encoding')).toBe('snappy');
    const [series] = decodeReadResponse(snappyUncompressSync(Buffer.from(await res.arrayBuffer()), 1 << 26));
    const names = series.map((s) => s.labels.find((l) => l.name === '__name__')?.value).sort();
    expect(names).toEqual(['metaflow_red_errors_total', 'metaflow_red_requests_total']);
    for (const s of series) {
      // A zero at the first window's start, then the running total; timestamps increase.
      expect(s.samples[0].value).toBe(0);
      expect(s.samples[s.samples.length - 1].value).toBe(RUNS);
      for (let i = 1; i < s.samples.length; i++) expect(s.samples[i].timestamp).toBeGreaterThan(s.samples[i - 1].timestamp);
    }
    expect((await post(snappyCompress(req), { 'content-encoding': 'gzip' })).status).toBe(415);
    expect((await post(Buffer.from([1, 2, 3]))).status).toBe(400);
    const chunked = encodeReadRequest({ queries: [], acceptedResponseTypes: [1] });
    const refused = await post(snappyCompress(chunked));
    expect(refused.status).toBe(400);
    expect(await refused.text()).toMatch(/only the SAMPLES response type/);
  });
});
