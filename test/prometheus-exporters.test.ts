/**
 * Our Prometheus exporters against Debian's Prometheus (2.42):
 *
 * - `prometheusremotewrite` writes into a Prometheus started with
 *   `--web.enable-remote-write-receiver`; its HTTP API returns the series,
 *   with the OpenTelemetry-to-Prometheus names, labels and values.
 * - `prometheus` (the scrape endpoint) is scraped by a Prometheus; PromQL
 *   sees the same.
 */
import { ComponentID, type CreateSettings, type Exporter } from '../pipeline/component';
import { nopLogger } from '../pipeline/logger';
import { AggregationTemporality, type Metrics } from '../pipeline/pdata';
import { Telemetry } from '../pipeline/telemetry';
import { factory as prwExporter } from '../exporters/prometheusremotewrite';
import { factory as promExporter } from '../exporters/prometheus';
import { eventually } from './helpers/metaflow';
import { freePort } from './helpers/ports';
import { startPrometheus, type Prometheus } from './helpers/prometheus';

function settings(type: string): CreateSettings {
  return { id: new ComponentID(type), kind: 'exporter', logger: nopLogger, telemetry: new Telemetry('none').forComponent('exporter', type) };
}

/** A batch like an instrumented service sends: a delta counter, a gauge and a histogram at `timeMs`. */
function batch(timeMs: number, orders: number): Metrics {
  const t = BigInt(timeMs) * 1000000n;
  return {
    resourceMetrics: [
      {
        resource: { attributes: { 'service.name': 'checkout', 'service.instance.id': 'pod-7', 'deployment.environment': 'e2e' }, droppedAttributesCount: 0 },
        scopeMetrics: [
          {
            scope: { name: 'app', version: '1.0', attributes: {}, droppedAttributesCount: 0 },
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
                  dataPoints: [{ attributes: { 'order.type': 'online' }, startTimeUnixNano: t - 1000000000n, timeUnixNano: t, exemplars: [], flags: 0, value: orders, isInt: true }],
                },
              },
              {
                name: 'queue.depth',
                description: 'Jobs waiting.',
                unit: '',
                metadata: {},
                data: { type: 'gauge', dataPoints: [{ attributes: { queue: 'payments' }, startTimeUnixNano: 0n, timeUnixNano: t, exemplars: [], flags: 0, value: 7, isInt: false }] },
              },
              {
                name: 'http.server.duration',
                description: 'Request duration.',
                unit: 'ms',
                metadata: {},
                data: {
                  type: 'histogram',
                  aggregationTemporality: AggregationTemporality.CUMULATIVE,
                  dataPoints: [
                    { attributes: { 'http.route': '/checkout' }, startTimeUnixNano: 0n, timeUnixNano: t, exemplars: [], flags: 0, count: 5, sum: 325, bucketCounts: [1, 2, 1, 1], explicitBounds: [10, 50, 100] },
                  ],
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

describe('prometheusremotewrite exporter → Prometheus --web.enable-remote-write-receiver', () => {
  let prom: Prometheus | undefined;
  let exporter: Exporter | undefined;

  beforeAll(async () => {
    prom = await startPrometheus({ flags: ['--web.enable-remote-write-receiver'] });
  });

  afterAll(async () => {
    await exporter?.shutdown();
    await prom?.stop();
  });

  it('writes series that Prometheus returns with the right names, labels and values', async () => {
    const p = prom as Prometheus;
    const cfg = prwExporter.config.parseOrThrow({ endpoint: `${p.url}/api/v1/write`, send_metadata: true });
    exporter = prwExporter.create(settings('prometheusremotewrite'), cfg, new Set(['metrics'])) as Exporter;
    await exporter.start({} as never);
    const now = Date.now();
    await exporter.consumers.metrics?.consume(batch(now - 2000, 3));
    await exporter.consumers.metrics?.consume(batch(now - 1000, 4));
    // The exporter queues: wait for both batches.
    const orders = await eventually(async () => {
      const r = await p.query('orders_total');
      return r.length && r[0].value[1] === '7' ? r : undefined;
    }, 20000, 'orders_total at 7 in Prometheus');
    expect(orders[0].metric).toEqual({ __name__: 'orders_total', instance: 'pod-7', job: 'checkout', order_type: 'online' });
    // Deltas 3 then 4: a counter at 7.
    expect(orders[0].value[1]).toBe('7');
    expect((await p.query('queue_depth{queue="payments"}'))[0].value[1]).toBe('7');
    const buckets = await p.query('http_server_duration_milliseconds_bucket{http_route="/checkout"}');
    expect(Object.fromEntries(buckets.map((b) => [b.metric.le, b.value[1]]))).toEqual({ '10': '1', '50': '3', '100': '4', '+Inf': '5' });
    expect((await p.query('http_server_duration_milliseconds_count'))[0].value[1]).toBe('5');
    // Prometheus's own histogram_quantile over what we sent: the median falls in (10, 50].
    const median = Number((await p.query('histogram_quantile(0.5, http_server_duration_milliseconds_bucket)'))[0].value[1]);
    expect(median).toBeGreaterThan(10);
    expect(median).toBeLessThanOrEqual(50);
    const info = await p.series('target_info');
    expect(info).toEqual([{ __name__: 'target_info', deployment_environment: 'e2e', instance: 'pod-7', job: 'checkout' }]);
    // Both samples are stored, in order.
    const range = await p.query('orders_total[1m]');
    expect((range as unknown as Array<{ values: Array<[number, string]> }>)[0].values.map((v) => v[1])).toEqual(['3', '7']);
  });
});

describe('prometheus exporter scraped by Prometheus', () => {
  let prom: Prometheus | undefined;
  let exporter: Exporter | undefined;

  afterAll(async () => {
    await prom?.stop();
    await exporter?.shutdown();
  });

  it('exposes what Prometheus scrapes and PromQL reads back', async () => {
    const port = await freePort();
    const cfg = promExporter.config.parseOrThrow({ endpoint: `127.0.0.1:${port}` });
    exporter = promExporter.create(settings('prometheus'), cfg, new Set(['metrics'])) as Exporter;
    await exporter.start({} as never);
    await exporter.consumers.metrics?.consume(batch(Date.now(), 3));
    await exporter.consumers.metrics?.consume(batch(Date.now(), 2));
    prom = await startPrometheus({
      config: `
global: { scrape_interval: 1s }
scrape_configs:
  - job_name: metaflow-exporter
    honor_labels: true
    static_configs: [{ targets: ['127.0.0.1:${port}'] }]
`,
    });
    const p = prom;
    const orders = await eventually(async () => {
      const r = await p.query('orders_total');
      return r.length ? r : undefined;
    }, 20000, 'a scrape');
    expect(orders[0].metric).toEqual({ __name__: 'orders_total', instance: 'pod-7', job: 'checkout', order_type: 'online' });
    expect(orders[0].value[1]).toBe('5');
    expect((await p.query('up{job="metaflow-exporter"}'))[0].value[1]).toBe('1');
    expect((await p.query('http_server_duration_milliseconds_bucket{le="+Inf"}'))[0].value[1]).toBe('5');
    expect((await p.query('target_info'))[0].metric).toEqual({ __name__: 'target_info', deployment_environment: 'e2e', instance: 'pod-7', job: 'checkout' });
  });
});
