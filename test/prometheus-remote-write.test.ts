/**
 * A real Prometheus (Debian's 2.42) scrapes a target and remote-writes (1.0)
 * to our prometheusremotewrite receiver; the samples land in the embedded
 * store through the metrics pipeline with Prometheus names, labels and values
 * intact, and with the types Prometheus's metadata declares.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { factory as clickhouse } from '../exporters/clickhouse';
import { factory as prwReceiver } from '../receivers/prometheusremotewrite';
import { Registry } from '../pipeline/registry';
import { Service } from '../pipeline/service';
import { isStoreProvider, type SqlStore } from '../pipeline/storage';
import { eventually } from './helpers/metaflow';
import { freePorts } from './helpers/ports';
import { startPrometheus, type Prometheus } from './helpers/prometheus';

const EXPOSITION = `# HELP test_requests_total Requests served.
# TYPE test_requests_total counter
test_requests_total{path="/a",code="200"} 42
test_requests_total{path="/b",code="500"} 7
# HELP test_temperature_celsius Room temperature.
# TYPE test_temperature_celsius gauge
test_temperature_celsius{room="lab"} 21.5
# HELP test_latency_seconds Request latency.
# TYPE test_latency_seconds histogram
test_latency_seconds_bucket{le="0.1"} 3
test_latency_seconds_bucket{le="1"} 5
test_latency_seconds_bucket{le="+Inf"} 6
test_latency_seconds_sum 2.5
test_latency_seconds_count 6
`;

let dir: string;
let target: http.Server;
let svc: Service | undefined;
let prom: Prometheus | undefined;
let store: SqlStore;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-prw-e2e-'));
  const [targetPort, rwPort] = await freePorts(2);
  target = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(EXPOSITION));
  await new Promise<void>((resolve) => target.listen(targetPort, '127.0.0.1', resolve));
  const registry = new Registry([prwReceiver, clickhouse]);
  svc = Service.fromSources(
    [
      `yaml:
receivers:
  prometheusremotewrite:
    endpoint: 127.0.0.1:${rwPort}
exporters:
  clickhouse:
    data_dir: ${path.join(dir, 'data')}
    sending_queue: { enabled: false }
service:
  telemetry: { metrics: { level: none }, logs: { level: error } }
  pipelines:
    metrics: { receivers: [prometheusremotewrite], exporters: [clickhouse] }
`,
    ],
    registry,
  );
  await svc.start();
  const exp = svc.host?.getComponent('exporter', 'clickhouse');
  if (!isStoreProvider(exp)) throw new Error('no store');
  store = exp.store() as SqlStore;
  prom = await startPrometheus({
    config: `
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: testapp
    static_configs:
      - targets: ['127.0.0.1:${targetPort}']
        labels: { env: e2e }
remote_write:
  - url: http://127.0.0.1:${rwPort}/api/v1/write
    queue_config: { batch_send_deadline: 1s, max_samples_per_send: 500 }
    metadata_config: { send: true, send_interval: 1s }
`,
  });
}, 120000);

afterAll(async () => {
  await prom?.stop();
  await svc?.shutdown();
  await new Promise<void>((resolve) => target?.close(() => resolve()));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function rows(sql: string): Promise<unknown[][]> {
  return (await store.query(sql)).rows;
}

describe('Prometheus remote write (1.0) into the store', () => {
  it('stores scraped counters with their Prometheus name, labels and value', async () => {
    const got = await eventually(
      async () => {
        const r = await rows(
          `SELECT Value, ServiceName, Attributes['job'], Attributes['instance'], Attributes['env'], Attributes['code'], IsMonotonic, AggregationTemporality
           FROM otel_metrics_sum WHERE MetricName = 'test_requests_total' AND Attributes['path'] = '/a' ORDER BY TimeUnix DESC LIMIT 1`,
        );
        return r.length ? r[0] : undefined;
      },
      60000,
      'test_requests_total in otel_metrics_sum',
    );
    expect(got[0]).toBe(42);
    expect(got[1]).toBe('testapp');
    expect(got[2]).toBe('testapp');
    expect(String(got[3])).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(got[4]).toBe('e2e');
    expect(got[5]).toBe('200');
    expect(got[6]).toBe(true);
    expect(got[7]).toBe(2);
    const b = await rows(`SELECT Value FROM otel_metrics_sum WHERE MetricName = 'test_requests_total' AND Attributes['path'] = '/b' ORDER BY TimeUnix DESC LIMIT 1`);
    expect(b[0][0]).toBe(7);
  });

  it('stores gauges as gauges, and the series Prometheus makes itself (up)', async () => {
    const t = await eventually(async () => {
      const r = await rows(`SELECT Value, Attributes['room'] FROM otel_metrics_gauge WHERE MetricName = 'test_temperature_celsius' ORDER BY TimeUnix DESC LIMIT 1`);
      return r.length ? r[0] : undefined;
    });
    expect(t).toEqual([21.5, 'lab']);
    const up = await eventually(async () => {
      const r = await rows(`SELECT Value FROM otel_metrics_gauge WHERE MetricName = 'up' AND ServiceName = 'testapp' ORDER BY TimeUnix DESC LIMIT 1`);
      return r.length ? r[0] : undefined;
    });
    expect(up[0]).toBe(1);
  });

  it('uses the metadata Prometheus sends: histogram series become counters with the family help text', async () => {
    const got = await eventually(
      async () => {
        const r = await rows(
          `SELECT Value, MetricDescription FROM otel_metrics_sum WHERE MetricName = 'test_latency_seconds_count' AND MetricDescription != '' ORDER BY TimeUnix DESC LIMIT 1`,
        );
        return r.length ? r[0] : undefined;
      },
      60000,
      'test_latency_seconds_count with metadata',
    );
    expect(got).toEqual([6, 'Request latency.']);
    const buckets = await eventually(async () => {
      const r = await rows(
        `SELECT Attributes['le'] AS le, argMax(Value, TimeUnix) FROM otel_metrics_sum WHERE MetricName = 'test_latency_seconds_bucket' GROUP BY le ORDER BY le`,
      );
      return r.length === 3 ? r : undefined;
    });
    expect(buckets).toEqual([
      ['+Inf', 6],
      ['0.1', 3],
      ['1', 5],
    ]);
  });

  it('keeps every sample Prometheus sent: the stored count of a series matches Prometheus\'s own', async () => {
    // Prometheus scrapes every second; compare the number of samples of one series in a closed window.
    const p = prom as Prometheus;
    // A closed 5 s window that Prometheus has fully scraped (and remote-written: its queue sends within a second).
    const { end, theirs } = await eventually(async () => {
      const end = Math.floor(Date.now() / 1000) - 3;
      const r = await p.query(`count_over_time(test_requests_total{path="/a"}[5s])`, end);
      return r.length && Number(r[0].value[1]) >= 4 ? { end, theirs: r } : undefined;
    }, 60000, 'five seconds of scrapes');
    const start = end - 5;
    const ours = await eventually(async () => {
      const r = await rows(
        `SELECT count() FROM otel_metrics_sum WHERE MetricName = 'test_requests_total' AND Attributes['path'] = '/a'
         AND TimeUnix > toDateTime64(${start}, 9) AND TimeUnix <= toDateTime64(${end}, 9)`,
      );
      return Number(r[0][0]) === Number(theirs[0].value[1]) ? Number(r[0][0]) : undefined;
    }, 15000, 'the same number of stored samples');
    expect(ours).toBe(Number(theirs[0].value[1]));
  });
});
