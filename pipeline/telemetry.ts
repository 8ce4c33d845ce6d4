/**
 * Self-telemetry: every component's counters on the process's Prometheus
 * endpoint (`service::telemetry::metrics::address`, default `localhost:8888`).
 *
 * Names follow the OpenTelemetry Collector's own metrics, so existing
 * dashboards work: `otelcol_receiver_accepted_spans_total{receiver,transport}`,
 * `otelcol_exporter_sent_spans_total{exporter}`, `otelcol_exporter_queue_size`,
 * `otelcol_processor_incoming_items_total{processor,otel_signal}`, … Drops
 * anywhere are `metaflow_component_dropped_items_total{kind,id,signal,reason}`
 * with a bounded `reason`. Process CPU and memory come from prom-client's
 * default metrics (`process_resident_memory_bytes`, …).
 */
import http from 'node:http';
import * as prom from 'prom-client';
import type { Kind } from './component';
import { listen, serverPort } from './net/http-server';
import type { Signal } from './pdata';

/** What the Collector calls the items of each signal in metric names. */
const ITEM: Record<Signal, string> = { traces: 'spans', metrics: 'metric_points', logs: 'log_records' };

/** Telemetry verbosity, as `service::telemetry::metrics::level`. */
export type TelemetryLevel = 'none' | 'basic' | 'normal' | 'detailed';

/** The metrics registry of one running service. */
export class Telemetry {
  readonly registry = new prom.Registry();
  private readonly counters = new Map<string, prom.Counter<string>>();
  private readonly gauges = new Map<string, prom.Gauge<string>>();
  private readonly gaugeSources = new Map<string, Map<string, () => number>>();
  private server: http.Server | undefined;

  constructor(readonly level: TelemetryLevel = 'normal') {
    if (level !== 'none') prom.collectDefaultMetrics({ register: this.registry });
  }

  /** The telemetry handle a component reports through. */
  forComponent(kind: Kind, id: string): ComponentTelemetry {
    return new ComponentTelemetry(this, kind, id);
  }

  /** A counter family, created on first use. */
  counter(name: string, help: string, labelNames: readonly string[]): prom.Counter<string> {
    let c = this.counters.get(name);
    if (!c) {
      c = new prom.Counter({ name, help, labelNames: [...labelNames], registers: [this.registry] });
      this.counters.set(name, c);
    }
    return c;
  }

  /**
   * A gauge family whose series are read from callbacks at scrape time;
   * `labels` identifies the series.
   */
  gauge(name: string, help: string, labels: Record<string, string>, read: () => number): void {
    let sources = this.gaugeSources.get(name);
    if (!sources) {
      const src = new Map<string, () => number>();
      sources = src;
      this.gaugeSources.set(name, src);
      const g = new prom.Gauge({
        name,
        help,
        labelNames: Object.keys(labels),
        registers: [this.registry],
        collect() {
          for (const [key, fn] of src) {
            let v = 0;
            try {
              v = fn();
            } catch {
              v = NaN;
            }
            this.set(JSON.parse(key) as Record<string, string>, v);
          }
        },
      });
      this.gauges.set(name, g);
    }
    sources.set(JSON.stringify(labels), read);
  }

  /** Current value of a counter series, for tests and summaries. */
  async value(name: string, labels: Record<string, string> = {}): Promise<number> {
    const metric = this.registry.getSingleMetric(name);
    if (!metric) return 0;
    const data = await metric.get();
    let sum = 0;
    for (const v of data.values) {
      if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) sum += v.value;
    }
    return sum;
  }

  /** Serves `/metrics` on `host:port`; resolves once listening. */
  async serve(host: string, port: number): Promise<void> {
    if (this.level === 'none') return;
    const server = http.createServer((req, res) => {
      if (req.url !== '/metrics' && req.url !== '/') {
        res.writeHead(404).end('not found; metrics are at /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    });
    await listen(server, port, host);
    this.server = server;
  }

  /** The port the metrics endpoint listens on (after serve). */
  get port(): number | undefined {
    return serverPort(this.server);
  }

  /** Stops serving. Safe to call repeatedly. */
  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/**
 * One component's view of the telemetry: the standard counters for its kind,
 * already labelled with its id.
 */
export class ComponentTelemetry {
  constructor(
    readonly telemetry: Telemetry,
    readonly kind: Kind,
    readonly id: string,
  ) {}

  /** Receiver: items accepted into the pipeline. */
  accepted(signal: Signal, n: number, transport = ''): void {
    this.count(`otelcol_receiver_accepted_${ITEM[signal]}_total`, `Items successfully pushed into the pipeline.`, n, { receiver: this.id, transport });
  }

  /** Receiver: items the pipeline refused (the sender got an error). */
  refused(signal: Signal, n: number, transport = ''): void {
    this.count(`otelcol_receiver_refused_${ITEM[signal]}_total`, `Items that could not be pushed into the pipeline.`, n, { receiver: this.id, transport });
  }

  /** Processor: items that came in. */
  incoming(signal: Signal, n: number): void {
    this.count('otelcol_processor_incoming_items_total', 'Items passed to the processor.', n, { processor: this.id, otel_signal: signal });
  }

  /** Processor: items passed on. */
  outgoing(signal: Signal, n: number): void {
    this.count('otelcol_processor_outgoing_items_total', 'Items emitted by the processor.', n, { processor: this.id, otel_signal: signal });
  }

  /** Exporter: items delivered to the destination. */
  sent(signal: Signal, n: number): void {
    this.count(`otelcol_exporter_sent_${ITEM[signal]}_total`, 'Items successfully sent to the destination.', n, { exporter: this.id });
  }

  /** Exporter: items that failed to be sent for good (after retries). */
  sendFailed(signal: Signal, n: number): void {
    this.count(`otelcol_exporter_send_failed_${ITEM[signal]}_total`, 'Items that failed to be sent to the destination.', n, { exporter: this.id });
  }

  /** Exporter: items refused because the sending queue was full. */
  enqueueFailed(signal: Signal, n: number): void {
    this.count(`otelcol_exporter_enqueue_failed_${ITEM[signal]}_total`, 'Items that failed to be added to the sending queue.', n, { exporter: this.id });
  }

  /** Exporter: the sending queue's size and capacity, read at scrape time. */
  queue(signal: Signal, size: () => number, capacity: number): void {
    this.telemetry.gauge('otelcol_exporter_queue_size', 'Current size of the retry queue (in batches).', { exporter: this.id, data_type: signal }, size);
    this.telemetry.gauge('otelcol_exporter_queue_capacity', 'Fixed capacity of the retry queue (in batches).', { exporter: this.id, data_type: signal }, () => capacity);
  }

  /** Any component: items dropped, with a bounded reason (`queue_full`, `memory_limit`, `malformed`, …). */
  dropped(signal: Signal, n: number, reason: string): void {
    this.count('metaflow_component_dropped_items_total', 'Items a component dropped, by reason.', n, { kind: this.kind, id: this.id, signal, reason });
  }

  /** A component-specific counter, labelled with the component id plus `labels`. */
  counter(name: string, help: string, n: number, labels: Record<string, string> = {}): void {
    this.count(name, help, n, { [this.kind]: this.id, ...labels });
  }

  /** A component-specific gauge read at scrape time. */
  gauge(name: string, help: string, read: () => number, labels: Record<string, string> = {}): void {
    this.telemetry.gauge(name, help, { [this.kind]: this.id, ...labels }, read);
  }

  private count(name: string, help: string, n: number, labels: Record<string, string>): void {
    if (n <= 0 || this.telemetry.level === 'none') return;
    this.telemetry.counter(name, help, Object.keys(labels)).inc(labels, n);
  }
}

/** Telemetry that records nothing (tests, benchmarks). */
export function nopTelemetry(kind: Kind = 'receiver', id = 'nop'): ComponentTelemetry {
  return new Telemetry('none').forComponent(kind, id);
}
