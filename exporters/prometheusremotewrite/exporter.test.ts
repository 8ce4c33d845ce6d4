/**
 * The prometheusremotewrite exporter against a recording HTTP receiver:
 * protocol headers, what the requests contain, splitting, and how answers
 * are treated (2xx written, 4xx permanent, 429/5xx retried without adding
 * deltas twice). The real-Prometheus test is test/prometheus-exporters.test.ts.
 */
import http from 'node:http';
import { ComponentID, type CreateSettings } from '../../pipeline/component';
import { nopLogger } from '../../pipeline/logger';
import { AggregationTemporality, type Metrics } from '../../pipeline/pdata';
import { decodeWriteRequestObjects, type WriteRequest } from '../../pipeline/prometheus/prompb';
import { snappyUncompressSync } from '../../pipeline/prometheus/snappy';
import { Telemetry } from '../../pipeline/telemetry';
import { config, validate, type PrwExporterConfig } from './config';
import { PrometheusRemoteWriteExporter } from './exporter';

let server: http.Server;
let port: number;
const received: Array<{ headers: http.IncomingHttpHeaders; req: WriteRequest }> = [];
let answers: Array<{ status: number; headers?: Record<string, string>; body?: string }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const a = answers.shift() ?? { status: 204 };
      if (a.status < 300) received.push({ headers: req.headers, req: decodeWriteRequestObjects(snappyUncompressSync(Buffer.concat(chunks), 1 << 26)) });
      res.writeHead(a.status, a.headers).end(a.body ?? '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

beforeEach(() => {
  received.length = 0;
  answers = [];
});

let telemetry: Telemetry;
function make(extra: Record<string, unknown> = {}): PrometheusRemoteWriteExporter {
  const cfg = config.parseOrThrow({
    endpoint: `http://127.0.0.1:${port}/api/v1/write`,
    retry_on_failure: { initial_interval: '10ms', max_interval: '50ms', max_elapsed_time: '5s' },
    ...extra,
  }) as PrwExporterConfig;
  expect(validate(cfg)).toEqual([]);
  telemetry = new Telemetry('normal');
  const settings: CreateSettings = { id: new ComponentID('prometheusremotewrite'), kind: 'exporter', logger: nopLogger, telemetry: telemetry.forComponent('exporter', 'prometheusremotewrite') };
  return new PrometheusRemoteWriteExporter(cfg, settings);
}

function batch(value: number, timeMs: number, series = 1): Metrics {
  return {
    resourceMetrics: [
      {
        resource: { attributes: { 'service.name': 'checkout', 'service.instance.id': 'pod-1', 'k8s.namespace.name': 'shop' }, droppedAttributesCount: 0 },
        scopeMetrics: [
          {
            scope: { name: 's', version: '', attributes: {}, droppedAttributesCount: 0 },
            metrics: [
              {
                name: 'orders',
                description: 'Orders placed.',
                unit: '{order}',
                metadata: {},
                data: {
                  type: 'sum',
                  aggregationTemporality: AggregationTemporality.DELTA,
                  isMonotonic: true,
                  dataPoints: Array.from({ length: series }, (_, i) => ({
                    attributes: { 'order.type': `t${i}` },
                    startTimeUnixNano: BigInt(timeMs - 1000) * 1000000n,
                    timeUnixNano: BigInt(timeMs) * 1000000n,
                    exemplars: [],
                    flags: 0,
                    value,
                    isInt: true,
                  })),
                },
              },
            ],
            schemaUrl: '',
          },
        ],
        schemaUrl: '',
      },
    ],
  };
}

function labels(ts: WriteRequest['timeseries'][number]): Record<string, string> {
  return Object.fromEntries(ts.labels.map((l) => [l.name, l.value]));
}

describe('prometheusremotewrite exporter', () => {
  it('POSTs snappy protobuf with the remote-write 1.0 headers, counters from deltas, target_info and metadata', async () => {
    const e = make({ send_metadata: true, external_labels: { cluster: 'c1' } });
    await e.consumers.metrics?.consume(batch(3, 1700000000000));
    await e.consumers.metrics?.consume(batch(2, 1700000001000));
    await e.shutdown();
    expect(received).toHaveLength(2);
    const h = received[0].headers;
    expect([h['content-type'], h['content-encoding'], h['x-prometheus-remote-write-version']]).toEqual(['application/x-protobuf', 'snappy', '0.1.0']);
    const orders = received.map((r) => r.req.timeseries.find((t) => labels(t).__name__ === 'orders_total'));
    expect(labels(orders[0] as never)).toEqual({ __name__: 'orders_total', cluster: 'c1', instance: 'pod-1', job: 'checkout', order_type: 't0' });
    expect(orders.map((o) => o?.samples)).toEqual([[{ value: 3, timestamp: 1700000000000 }], [{ value: 5, timestamp: 1700000001000 }]]);
    const info = received[0].req.timeseries.find((t) => labels(t).__name__ === 'target_info');
    expect(labels(info as never)).toEqual({ __name__: 'target_info', cluster: 'c1', instance: 'pod-1', job: 'checkout', k8s_namespace_name: 'shop' });
    expect(received[0].req.metadata).toEqual([{ type: 1, metricFamilyName: 'orders_total', help: 'Orders placed.', unit: '{order}' }]);
  });

  it('retries 5xx and 429 (after Retry-After) with the same requests, never adding a delta twice', async () => {
    // Without the queue, consume waits for the send and its retries.
    const e = make({ remote_write_queue: { enabled: false } });
    answers = [{ status: 503, body: 'busy' }, { status: 429, headers: { 'retry-after': '1' } }, { status: 204 }];
    const t0 = Date.now();
    await e.consumers.metrics?.consume(batch(3, 1700000000000));
    await e.shutdown();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(received).toHaveLength(1);
    expect(received[0].req.timeseries.find((t) => labels(t).__name__ === 'orders_total')?.samples).toEqual([{ value: 3, timestamp: 1700000000000 }]);
    expect(await telemetry.value('otelcol_exporter_sent_metric_points_total')).toBe(1);
  });

  it('does not retry a 400 (permanent) and counts the points as failed', async () => {
    const e = make({ remote_write_queue: { enabled: false } });
    answers = [{ status: 400, body: 'out of order sample' }];
    await expect(e.consumers.metrics?.consume(batch(3, 1700000000000))).rejects.toThrow(/answered 400: out of order sample/);
    await e.shutdown();
    expect(received).toHaveLength(0);
    expect(answers).toHaveLength(0);
    expect(await telemetry.value('otelcol_exporter_send_failed_metric_points_total')).toBe(1);
  });

  it('splits a batch into requests of at most max_batch_size_bytes', async () => {
    const e = make({ max_batch_size_bytes: 2048, target_info: { enabled: false } });
    await e.consumers.metrics?.consume(batch(1, 1700000000000, 200));
    await e.shutdown();
    expect(received.length).toBeGreaterThan(2);
    const all = received.flatMap((r) => r.req.timeseries.map((t) => labels(t).order_type)).sort();
    expect(all).toHaveLength(200);
    expect(new Set(all).size).toBe(200);
  });

  it('refuses protocol headers in headers', () => {
    const cfg = config.parseOrThrow({ endpoint: 'http://x/api/v1/write', headers: { 'Content-Encoding': 'gzip', 'X-Scope-OrgID': 'team' } }) as PrwExporterConfig;
    expect(validate(cfg)).toEqual([['headers::Content-Encoding', 'is set by the remote-write protocol and cannot be configured']]);
    expect(config.parse({ endpoint: 'prometheus:9090' }).issues[0].message).toMatch(/is not an http\(s\) URL/);
  });
});
