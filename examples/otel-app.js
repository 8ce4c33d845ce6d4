#!/usr/bin/env node
/**
 * A small app instrumented with the OpenTelemetry JS SDK (@opentelemetry/sdk-node),
 * sending traces, metrics and logs to MetaFlow over OTLP — unchanged, as any
 * instrumented app would.
 *
 *   node examples/otel-app.js [grpc|http/protobuf|http/json] [endpoint]
 *
 * Defaults: grpc to http://localhost:4317 (http/* to http://localhost:4318).
 * It prints one JSON line with the ids of what it sent, e.g.
 *   {"traceId":"…","spans":{"GET /checkout":"…",…},"service":"checkout"}
 * so you can look the trace up:
 *   metaflow query "SELECT SpanName, SpanKind, Duration FROM otel_traces WHERE TraceId = '<traceId>'"
 *   curl localhost:20416/api/traces/<traceId>
 */
'use strict';
const { NodeSDK } = require('@opentelemetry/sdk-node');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { PeriodicExportingMetricReader, AggregationTemporality } = require('@opentelemetry/sdk-metrics');
const { BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const api = require('@opentelemetry/api');
const { logs, SeverityNumber } = require('@opentelemetry/api-logs');

const protocol = process.argv[2] || process.env.OTEL_EXPORTER_OTLP_PROTOCOL || 'grpc';
const endpoint = process.argv[3] || (protocol === 'grpc' ? 'http://localhost:4317' : 'http://localhost:4318');
const service = process.env.OTEL_SERVICE_NAME || 'checkout';
const runId = process.env.RUN_ID || String(Date.now());

function exporters() {
  if (protocol === 'grpc') {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
    const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-grpc');
    const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-grpc');
    return { trace: new OTLPTraceExporter({ url: endpoint }), metric: new OTLPMetricExporter({ url: endpoint, temporalityPreference: AggregationTemporality.CUMULATIVE }), log: new OTLPLogExporter({ url: endpoint }) };
  }
  const pkg = protocol === 'http/json' ? 'http' : 'proto';
  const { OTLPTraceExporter } = require(`@opentelemetry/exporter-trace-otlp-${pkg}`);
  const { OTLPMetricExporter } = require(`@opentelemetry/exporter-metrics-otlp-${pkg}`);
  const { OTLPLogExporter } = require(`@opentelemetry/exporter-logs-otlp-${pkg}`);
  return {
    trace: new OTLPTraceExporter({ url: `${endpoint}/v1/traces` }),
    metric: new OTLPMetricExporter({ url: `${endpoint}/v1/metrics` }),
    log: new OTLPLogExporter({ url: `${endpoint}/v1/logs` }),
  };
}

async function main() {
  const exp = exporters();
  const reader = new PeriodicExportingMetricReader({ exporter: exp.metric, exportIntervalMillis: 60000 });
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ 'service.name': service, 'service.version': '1.2.3', 'deployment.environment': 'test', 'run.id': runId }),
    traceExporter: exp.trace,
    metricReader: reader,
    logRecordProcessors: [new BatchLogRecordProcessor({ exporter: exp.log })],
    instrumentations: [],
  });
  sdk.start();

  const tracer = api.trace.getTracer('example-tracer', '0.1.0');
  const out = { service, runId, protocol, spans: {} };

  // A span in another trace, to link to.
  const other = tracer.startSpan('background job', { kind: api.SpanKind.CONSUMER });
  const otherCtx = other.spanContext();
  other.end();
  out.linkedTraceId = otherCtx.traceId;
  out.spans['background job'] = otherCtx.spanId;

  await tracer.startActiveSpan(
    'GET /checkout',
    {
      kind: api.SpanKind.SERVER,
      attributes: { 'http.request.method': 'GET', 'url.path': '/checkout', 'http.response.status_code': 500, 'cart.value': 12.5, 'cart.items': ['apple', 'pear'], 'user.vip': true },
      links: [{ context: otherCtx, attributes: { 'link.reason': 'triggered-by' } }],
    },
    async (root) => {
      out.traceId = root.spanContext().traceId;
      out.spans['GET /checkout'] = root.spanContext().spanId;
      await tracer.startActiveSpan('SELECT orders', { kind: api.SpanKind.CLIENT, attributes: { 'db.system': 'postgresql', 'db.statement': 'SELECT * FROM orders WHERE id = $1' } }, async (db) => {
        db.addEvent('query.start', { 'rows.expected': 3 });
        await new Promise((r) => setTimeout(r, 5));
        db.addEvent('query.end', { 'rows.returned': 2 });
        out.spans['SELECT orders'] = db.spanContext().spanId;
        db.end();
      });
      const work = tracer.startSpan('compute total', { kind: api.SpanKind.INTERNAL });
      out.spans['compute total'] = work.spanContext().spanId;
      work.setStatus({ code: api.SpanStatusCode.OK });
      work.end();
      const publish = tracer.startSpan('publish order', { kind: api.SpanKind.PRODUCER });
      out.spans['publish order'] = publish.spanContext().spanId;
      publish.end();
      root.recordException(new Error('payment declined'));
      root.setStatus({ code: api.SpanStatusCode.ERROR, message: 'payment declined' });
      // A log record in the span's context.
      logs.getLogger('example-logger', '0.1.0').emit({
        severityNumber: SeverityNumber.WARN,
        severityText: 'WARN',
        body: 'payment declined for order 42',
        attributes: { 'order.id': 42, 'payment.provider': 'acme' },
      });
      root.end();
    },
  );

  const meter = api.metrics.getMeter('example-meter', '0.1.0');
  const orders = meter.createCounter('orders_total', { description: 'Orders placed', unit: '{order}' });
  orders.add(3, { 'order.type': 'online' });
  orders.add(2, { 'order.type': 'store' });
  const latency = meter.createHistogram('checkout_duration', { description: 'Checkout duration', unit: 'ms', advice: { explicitBucketBoundaries: [10, 50, 100] } });
  for (const v of [5, 20, 30, 70, 200]) latency.record(v, { route: '/checkout' });
  meter.createObservableGauge('queue_depth', { description: 'Queue depth' }).addCallback((r) => r.observe(7, { queue: 'payments' }));

  await reader.forceFlush();
  await sdk.shutdown();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stderr.write(`otel-app: ${err.stack || err}\n`);
  process.exit(1);
});
