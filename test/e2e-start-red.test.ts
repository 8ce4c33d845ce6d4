/**
 * End to end with the real `metaflow start` and its default config, nothing
 * added: an @opentelemetry/sdk-node app (examples/otel-app.js) sends spans
 * over OTLP; the default redmetrics and servicegraph connectors turn them into
 * metrics in the embedded store; the RED and service-map APIs answer from
 * them; a real Prometheus (Debian's 2.42) reads them with `remote_read`
 * pointing at the query service and runs PromQL over them, and remote-writes
 * what it scrapes into the default remote-write receiver.
 */
import fs from 'node:fs';
import http from 'node:http';
import { eventually, rows, runOtelApp, startMetaflow, type Metaflow } from './helpers/metaflow';
import { freePort } from './helpers/ports';
import { startPrometheus, type Prometheus } from './helpers/prometheus';

const RUNS = 3;
const EXPOSITION = `# HELP shop_orders_total Orders taken.
# TYPE shop_orders_total counter
shop_orders_total{shop="north"} 17
`;

let mf: Metaflow;
let prom: Prometheus | undefined;
let target: http.Server;
let firstRunAt = 0;

beforeAll(async () => {
  mf = await startMetaflow();
  const targetPort = await freePort();
  target = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(EXPOSITION));
  await new Promise<void>((resolve) => target.listen(targetPort, '127.0.0.1', resolve));
  // The two lines of Prometheus config the README documents, with this run's ports.
  prom = await startPrometheus({
    config: `
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: shop
    static_configs:
      - targets: ['127.0.0.1:${targetPort}']
remote_write:
  - url: http://127.0.0.1:${mf.remoteWritePort}/api/v1/write
    queue_config: { batch_send_deadline: 1s }
remote_read:
  - url: http://127.0.0.1:${mf.queryPort}/api/v1/read
    read_recent: true
`,
  });
  firstRunAt = Date.now();
  for (let i = 0; i < RUNS; i++) await runOtelApp('grpc', `http://127.0.0.1:${mf.grpcPort}`, { OTEL_SERVICE_NAME: 'shop-checkout', RUN_ID: `e2e-red-${i}` });
}, 180000);

afterAll(async () => {
  await prom?.stop();
  await new Promise<void>((resolve) => (target ? target.close(() => resolve()) : resolve()));
  const code = await mf?.stop();
  expect(code).toBe(0);
  if (mf) fs.rmSync(mf.dataDir, { recursive: true, force: true });
});

describe('metaflow start, default config', () => {
  it('answers GET /api/v1/red with the requests, errors and latency of the SDK app', async () => {
    const end = Date.now() + 60000;
    const body = await eventually(
      async () => {
        const res = await fetch(`http://127.0.0.1:${mf.queryPort}/api/v1/red?service=shop-checkout&endpoint=${encodeURIComponent('GET /checkout')}&start=${firstRunAt - 5000}&end=${end}`);
        const b = (await res.json()) as { total: Record<string, number | null> };
        return b.total?.requests === RUNS ? b : undefined;
      },
      60000,
      `${RUNS} GET /checkout requests in the RED API`,
    );
    expect(body.total.errors).toBe(RUNS);
    expect(body.total.error_ratio).toBe(1);
    // The root span waits 5 ms for its database child.
    expect(body.total.p50 as number).toBeGreaterThanOrEqual(5);
    expect(body.total.p99 as number).toBeGreaterThanOrEqual(body.total.p50 as number);
    // The spans themselves are stored too (the connectors are beside the store, not instead of it).
    const spans = await rows(mf.queryPort, `SELECT count() AS n FROM otel_traces WHERE ServiceName = 'shop-checkout' AND SpanName = 'GET /checkout'`);
    expect(Number(spans[0].n)).toBe(RUNS);
  });

  it('answers GET /api/v1/service-map with the checkout → postgresql edge', async () => {
    const body = await eventually(
      async () => {
        const res = await fetch(`http://127.0.0.1:${mf.queryPort}/api/v1/service-map?start=${firstRunAt - 5000}&end=${Date.now() + 60000}`);
        const b = (await res.json()) as { nodes: Array<Record<string, unknown>>; edges: Array<Record<string, unknown>> };
        const edge = b.edges?.find((e) => e.source === 'shop-checkout' && e.target === 'postgresql');
        return edge?.requests === RUNS ? b : undefined;
      },
      60000,
      'the shop-checkout → postgresql edge',
    );
    expect(body.nodes.find((n) => n.id === 'shop-checkout')).toMatchObject({ type: 'service', errors: RUNS });
    expect(body.nodes.find((n) => n.id === 'postgresql')?.type).toBe('virtual');
  });

  it('lets Prometheus run PromQL over the RED metrics through remote_read', async () => {
    const p = prom as Prometheus;
    const selector = 'metaflow_red_requests_total{service_name="shop-checkout",endpoint="GET /checkout",span_kind="SPAN_KIND_SERVER"}';
    const got = await eventually(
      async () => {
        const r = await p.query(selector);
        return r.length === 1 && Number(r[0].value[1]) === RUNS ? r : undefined;
      },
      60000,
      'the RED counter through remote read',
    );
    expect(got[0].metric).toMatchObject({ job: 'shop-checkout', status_code: 'STATUS_CODE_ERROR', l7_protocol: 'HTTP' });
    const t = Date.now() / 1000;
    const increase = Number((await p.query(`sum(increase(${selector}[10m]))`, t))[0].value[1]);
    expect(increase).toBeGreaterThanOrEqual(RUNS);
    const rate = Number((await p.query(`sum(rate(${selector}[10m]))`, t))[0].value[1]);
    expect(rate).toBeCloseTo(increase / 600, 6);
  });

  it('stores what Prometheus remote-writes to the default receiver, names and labels intact', async () => {
    const got = await eventually(
      async () => {
        const r = await rows(
          mf.queryPort,
          `SELECT Value AS v, Attributes['job'] AS job, Attributes['shop'] AS shop FROM otel_metrics_sum WHERE MetricName = 'shop_orders_total' ORDER BY TimeUnix DESC LIMIT 1`,
        );
        return r.length ? r[0] : undefined;
      },
      60000,
      'shop_orders_total remote-written by Prometheus',
    );
    expect(got).toEqual({ v: 17, job: 'shop', shop: 'north' });
  });
});
