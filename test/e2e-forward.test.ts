/**
 * End to end: a first MetaFlow forwards what it receives to a second one with
 * the otlp (gRPC) and otlphttp exporters; the second stores it. What an SDK
 * app sent to the first arrives intact in the second's store.
 */
import fs from 'node:fs';
import { eventually, rows, runOtelApp, startMetaflow, type Metaflow } from './helpers/metaflow';

let store: Metaflow;

beforeAll(async () => {
  store = await startMetaflow();
}, 120000);

afterAll(async () => {
  await store?.stop();
  if (store) fs.rmSync(store.dataDir, { recursive: true, force: true });
});

function forwarderConfig(exporter: string): string {
  return `yaml:
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "\${env:METAFLOW_OTLP_GRPC_ENDPOINT}" }
      http: { endpoint: "\${env:METAFLOW_OTLP_HTTP_ENDPOINT}" }
processors:
  batch: { timeout: 100ms }
exporters:
  ${exporter}
service:
  telemetry: { metrics: { address: "\${env:METAFLOW_TELEMETRY_ENDPOINT}" } }
  pipelines:
    traces: { receivers: [otlp], processors: [batch], exporters: [forward] }
    metrics: { receivers: [otlp], processors: [batch], exporters: [forward] }
    logs: { receivers: [otlp], processors: [batch], exporters: [forward] }
`;
}

describe.each([
  ['otlp (gRPC)', () => `otlp/forward: { endpoint: "127.0.0.1:${store.grpcPort}", tls: { insecure: true } }`],
  ['otlphttp (protobuf)', () => `otlphttp/forward: { endpoint: "http://127.0.0.1:${store.httpPort}" }`],
  ['otlp_http (JSON, the new type name)', () => `otlp_http/forward: { endpoint: "http://127.0.0.1:${store.httpPort}", encoding: json, compression: none }`],
])('forwarding with the %s exporter', (_name, exporter) => {
  it('delivers traces, metrics and logs intact to the second instance', async () => {
    const cfg = exporter();
    const id = cfg.slice(0, cfg.indexOf(':'));
    const forwarder = await startMetaflow({ command: 'server', configs: [forwarderConfig(cfg).replace(/exporters: \[forward\]/g, `exporters: [${id}]`)], waitForQuery: false });
    try {
      const service = `fwd-${id.replace('/', '-')}`;
      const app = await runOtelApp('grpc', `http://127.0.0.1:${forwarder.grpcPort}`, { OTEL_SERVICE_NAME: service });
      const spans = await eventually(async () => {
        const r = await rows(store.queryPort, `SELECT SpanName, SpanId, ParentSpanId, SpanKind, SpanAttributes, StatusCode, Events.Name AS ev, Links.SpanId AS links, ResourceAttributes['run.id'] AS run FROM otel_traces WHERE TraceId = '${app.traceId}' ORDER BY SpanName`);
        return r.length === 4 && r;
      }, 30000, 'forwarded spans');
      expect(spans.map((s) => [s.SpanName, s.SpanId, s.ParentSpanId, s.SpanKind, s.run])).toEqual([
        ['GET /checkout', app.spans['GET /checkout'], '', 'Server', app.runId],
        ['SELECT orders', app.spans['SELECT orders'], app.spans['GET /checkout'], 'Client', app.runId],
        ['compute total', app.spans['compute total'], app.spans['GET /checkout'], 'Internal', app.runId],
        ['publish order', app.spans['publish order'], app.spans['GET /checkout'], 'Producer', app.runId],
      ]);
      expect(spans[0]).toMatchObject({ StatusCode: 'Error', ev: ['exception'], links: [app.spans['background job']] });
      expect(spans[0].SpanAttributes).toMatchObject({ 'http.response.status_code': '500', 'cart.value': '12.5', 'user.vip': 'true', 'cart.items': '["apple","pear"]' });
      expect(spans[1].ev).toEqual(['query.start', 'query.end']);
      const hist = await eventually(async () => {
        const r = await rows(store.queryPort, `SELECT DISTINCT Count, Sum, BucketCounts, ExplicitBounds FROM otel_metrics_histogram WHERE ServiceName = '${service}' AND MetricName = 'checkout_duration'`);
        return r.length > 0 && r;
      }, 30000, 'forwarded metrics');
      expect(hist).toEqual([{ Count: '5', Sum: 325, BucketCounts: ['1', '2', '1', '1'], ExplicitBounds: [10, 50, 100] }]);
      const logs = await eventually(async () => {
        const r = await rows(store.queryPort, `SELECT Body, SeverityNumber, TraceId, LogAttributes FROM otel_logs WHERE ServiceName = '${service}'`);
        return r.length > 0 && r;
      }, 30000, 'forwarded logs');
      expect(logs).toEqual([{ Body: 'payment declined for order 42', SeverityNumber: 13, TraceId: app.traceId, LogAttributes: { 'order.id': '42', 'payment.provider': 'acme' } }]);
      const metrics = await (await fetch(`http://127.0.0.1:${forwarder.telemetryPort}/metrics`)).text();
      expect(metrics).toMatch(new RegExp(`otelcol_exporter_sent_spans_total\\{exporter="${id.replace('/', '\\/')}"\\} 5`));
    } finally {
      expect(await forwarder.stop()).toBe(0);
    }
  }, 120000);
});
