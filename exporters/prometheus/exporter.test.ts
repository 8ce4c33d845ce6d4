/**
 * The prometheus exporter's scrape endpoint over HTTP: exposition text with
 * OpenTelemetry-to-Prometheus names, delta accumulation, target_info, stale
 * points, conflicting types, OpenMetrics negotiation. Real Prometheus
 * scraping it: test/prometheus-exporters.test.ts.
 */
import { ComponentID, type CreateSettings } from '../../pipeline/component';
import { nopLogger } from '../../pipeline/logger';
import { AggregationTemporality, type Metric, type Metrics } from '../../pipeline/pdata';
import { Telemetry } from '../../pipeline/telemetry';
import { config, validate, type PrometheusExporterConfig } from './config';
import { PrometheusExporter } from './exporter';

let exporter: PrometheusExporter;

function make(extra: Record<string, unknown> = {}): PrometheusExporter {
  const cfg = config.parseOrThrow({ endpoint: '127.0.0.1:0', ...extra }) as PrometheusExporterConfig;
  const settings: CreateSettings = { id: new ComponentID('prometheus'), kind: 'exporter', logger: nopLogger, telemetry: new Telemetry('none').forComponent('exporter', 'prometheus') };
  return new PrometheusExporter(cfg, settings);
}

afterEach(() => exporter?.shutdown());

const ns = (ms: number) => BigInt(ms) * 1000000n;

function batch(list: Metric[]): Metrics {
  return {
    resourceMetrics: [
      {
        resource: { attributes: { 'service.name': 'checkout', 'service.namespace': 'shop', 'service.instance.id': 'pod-1', 'host.name': 'node-3' }, droppedAttributesCount: 0 },
        scopeMetrics: [{ scope: { name: 's', version: '', attributes: {}, droppedAttributesCount: 0 }, metrics: list, schemaUrl: '' }],
        schemaUrl: '',
      },
    ],
  };
}

const requests = (v: number, t: number): Metric => ({
  name: 'http.server.requests',
  description: 'Requests served.',
  unit: '{request}',
  metadata: {},
  data: {
    type: 'sum',
    aggregationTemporality: AggregationTemporality.DELTA,
    isMonotonic: true,
    dataPoints: [{ attributes: { 'http.route': '/cart', code: 200 }, startTimeUnixNano: ns(t - 1000), timeUnixNano: ns(t), exemplars: [], flags: 0, value: v, isInt: true }],
  },
});

const duration: Metric = {
  name: 'http.server.duration',
  description: 'Request duration.',
  unit: 'ms',
  metadata: {},
  data: {
    type: 'histogram',
    aggregationTemporality: AggregationTemporality.CUMULATIVE,
    dataPoints: [{ attributes: { 'http.route': '/cart' }, startTimeUnixNano: 0n, timeUnixNano: ns(2000), exemplars: [], flags: 0, count: 4, sum: 70, bucketCounts: [1, 2, 1], explicitBounds: [10, 50] }],
  },
};

async function scrape(accept?: string): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(`http://127.0.0.1:${exporter.port}/metrics`, { headers: accept ? { accept } : {} });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

describe('prometheus exporter', () => {
  it('exposes counters (deltas added up), histograms and target_info with Prometheus names', async () => {
    exporter = make();
    await exporter.start();
    exporter.consume(batch([requests(3, 1000), duration]));
    exporter.consume(batch([requests(4, 2000)]));
    const { status, type, text } = await scrape();
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(text).toContain('# HELP http_server_requests_total Requests served.\n# TYPE http_server_requests_total counter\n');
    expect(text).toContain('http_server_requests_total{code="200",http_route="/cart",instance="pod-1",job="shop/checkout"} 7\n');
    expect(text).toContain('# TYPE http_server_duration_milliseconds histogram\n');
    expect(text).toContain('http_server_duration_milliseconds_bucket{http_route="/cart",instance="pod-1",job="shop/checkout",le="10"} 1\n');
    expect(text).toContain('http_server_duration_milliseconds_bucket{http_route="/cart",instance="pod-1",job="shop/checkout",le="50"} 3\n');
    expect(text).toContain('http_server_duration_milliseconds_bucket{http_route="/cart",instance="pod-1",job="shop/checkout",le="+Inf"} 4\n');
    expect(text).toContain('http_server_duration_milliseconds_sum{http_route="/cart",instance="pod-1",job="shop/checkout"} 70\n');
    expect(text).toContain('http_server_duration_milliseconds_count{http_route="/cart",instance="pod-1",job="shop/checkout"} 4\n');
    expect(text).toMatch(/target_info\{host_name="node-3",job="shop\/checkout",instance="pod-1"\} 1/);
  });

  it('puts resource attributes on every series with resource_to_telemetry_conversion, plus const labels', async () => {
    exporter = make({ resource_to_telemetry_conversion: { enabled: true }, const_labels: { region: 'eu' }, namespace: 'app' });
    await exporter.start();
    exporter.consume(batch([requests(1, 1000)]));
    const { text } = await scrape();
    expect(text).toContain('app_http_server_requests_total{code="200",host_name="node-3",http_route="/cart",instance="pod-1",job="shop/checkout",region="eu"} 1\n');
    expect(text).not.toContain('target_info');
  });

  it('removes a series on a stale point and drops points that would change a family type', async () => {
    exporter = make();
    await exporter.start();
    const gauge = (flags: number, v: number, name = 'queue.depth'): Metric => ({
      name,
      description: '',
      unit: '',
      metadata: {},
      data: { type: 'gauge', dataPoints: [{ attributes: {}, startTimeUnixNano: 0n, timeUnixNano: ns(1000), exemplars: [], flags, value: v, isInt: false }] },
    });
    exporter.consume(batch([gauge(0, 5)]));
    expect((await scrape()).text).toContain('queue_depth{instance="pod-1",job="shop/checkout"} 5\n');
    exporter.consume(batch([gauge(1, 0)]));
    expect((await scrape()).text).not.toContain('queue_depth{');
    // A counter named like an existing gauge family is dropped.
    exporter.consume(batch([gauge(0, 2, 'temp')]));
    exporter.consume(
      batch([{ name: 'temp', description: '', unit: '', metadata: {}, data: { type: 'sum', aggregationTemporality: 2, isMonotonic: false, dataPoints: [{ attributes: { x: '1' }, startTimeUnixNano: 0n, timeUnixNano: ns(1000), exemplars: [], flags: 0, value: 9, isInt: false }] } }]),
    );
    const text = (await scrape()).text;
    expect(text).toContain('temp{instance="pod-1",job="shop/checkout"} 2\n');
    // A non-monotonic cumulative sum is a gauge too: same type, kept.
    expect(text).toContain('temp{instance="pod-1",job="shop/checkout",x="1"} 9\n');
  });

  it('answers OpenMetrics to a scraper that asks, when enabled', async () => {
    exporter = make({ enable_open_metrics: true });
    await exporter.start();
    exporter.consume(batch([requests(2, 1000)]));
    const { type, text } = await scrape('application/openmetrics-text; version=1.0.0,text/plain;q=0.5');
    expect(type).toMatch(/^application\/openmetrics-text/);
    expect(text).toContain('# TYPE http_server_requests counter\n');
    expect(text).toContain('http_server_requests_total{code="200",http_route="/cart",instance="pod-1",job="shop/checkout"} 2\n');
    expect(text.endsWith('# EOF\n')).toBe(true);
  });

  it('serves only /metrics and refuses send_timestamps', async () => {
    exporter = make();
    await exporter.start();
    expect((await fetch(`http://127.0.0.1:${exporter.port}/`)).status).toBe(404);
    expect(validate(config.parseOrThrow({ send_timestamps: true }) as PrometheusExporterConfig)[0][0]).toBe('send_timestamps');
  });
});
