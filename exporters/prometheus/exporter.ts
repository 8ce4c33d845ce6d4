/**
 * The `prometheus` exporter: a scrape endpoint (`GET /metrics`) exposing the
 * metrics it receives, named by the OpenTelemetry-to-Prometheus rules
 * (pipeline/prometheus/naming.ts, convert.ts), formatted by prom-client.
 *
 * - The latest value of every series is kept; delta sums and histograms are
 *   added up into cumulative ones. Series not updated for
 *   `metric_expiration` disappear; at most `max_series` are kept (further
 *   ones are dropped and counted).
 * - Each resource's attributes other than `service.*` become a `target_info`
 *   series labelled with `job` and `instance` (unless
 *   `resource_to_telemetry_conversion` puts them on every series).
 * - A family keeps the first type it was seen with; points that would give
 *   it another TYPE are dropped (the spec: conflicting TYPE lines must not
 *   be exposed).
 * - A stale point (no recorded value) removes its series.
 * - With `enable_open_metrics`, a scraper that accepts OpenMetrics gets it.
 */
import http from 'node:http';
import * as prom from 'prom-client';
import { once, type Consumers, type CreateSettings, type Exporter } from '../../pipeline/component';
import type { Logger } from '../../pipeline/logger';
import { closeHttpServer, serverPort, startHttpServer } from '../../pipeline/net/http-server';
import { anyValueToString, type Metrics } from '../../pipeline/pdata';
import { PromConverter, type PromPoint } from '../../pipeline/prometheus/convert';
import { jobAndInstance, labelName, type PromType } from '../../pipeline/prometheus/naming';
import type { Label } from '../../pipeline/prometheus/prompb';
import type { ComponentTelemetry } from '../../pipeline/telemetry';
import type { PrometheusExporterConfig } from './config';

interface Kept {
  point: PromPoint;
  seenMs: number;
}

interface Family {
  type: PromType;
  help: string;
}

/** The prometheus exporter; see the module doc. */
export class PrometheusExporter implements Exporter {
  readonly consumers: Consumers = {};
  private readonly converter: PromConverter;
  private readonly samples = new Map<string, Kept>();
  private readonly families = new Map<string, Family>();
  private readonly targets = new Map<string, { labels: Record<string, string>; seenMs: number }>();
  private server: http.Server | undefined;
  private readonly logger: Logger;
  private readonly telemetry: ComponentTelemetry;
  private dropped = 0;
  readonly shutdown: () => Promise<void>;

  constructor(
    private readonly cfg: PrometheusExporterConfig,
    settings: CreateSettings,
  ) {
    this.logger = settings.logger;
    this.telemetry = settings.telemetry;
    this.converter = new PromConverter({
      addSuffixes: cfg.add_metric_suffixes,
      namespace: cfg.namespace,
      constLabels: cfg.const_labels,
      resourceToLabels: cfg.resource_to_telemetry_conversion.enabled,
      maxSeries: cfg.max_series,
    });
    this.consumers.metrics = { consume: async (m: Metrics) => this.consume(m) };
    this.telemetry.gauge('metaflow_prometheus_exporter_series', 'Series the scrape endpoint exposes.', () => this.samples.size);
    this.shutdown = once(async () => {
      const s = this.server;
      this.server = undefined;
      if (s) await closeHttpServer(s);
    });
  }

  /** The bound port (after start). */
  get port(): number {
    return serverPort(this.server) ?? 0;
  }

  async start(): Promise<void> {
    if (this.server) return;
    this.server = await startHttpServer({
      endpoint: this.cfg.endpoint,
      tls: this.cfg.tls,
      errorPrefix: 'endpoint',
      handler: (req, res) => void this.handle(req, res),
      onError: (err) => this.logger.every('prom-exporter-server', 60000, 'error', 'scrape endpoint error', { error: err.message }),
    });
  }

  /** Takes a batch: converts and keeps the latest value of every series. */
  consume(metrics: Metrics): void {
    const now = Date.now();
    const before = this.dropped;
    this.converter.convert(metrics, (p) => {
      const fam = this.families.get(p.family);
      if (fam && fam.type !== p.type) {
        this.dropped++;
        this.logger.every(`prom-type-${p.family}`, 60000, 'warn', 'dropping points that would give a metric family a second type', { family: p.family, kept: fam.type, dropped: p.type });
        return;
      }
      if (!fam) this.families.set(p.family, { type: p.type, help: p.help });
      if (p.stale) {
        this.samples.delete(p.key);
        return;
      }
      const kept = this.samples.get(p.key);
      if (kept) {
        kept.point = p;
        kept.seenMs = now;
      } else if (this.samples.size < this.cfg.max_series) {
        this.samples.set(p.key, { point: p, seenMs: now });
      } else {
        this.dropped++;
      }
    });
    if (!this.cfg.resource_to_telemetry_conversion.enabled) {
      for (const rm of metrics.resourceMetrics) {
        const attrs = rm.resource.attributes;
        const { job, instance } = jobAndInstance(attrs);
        const labels: Record<string, string> = {};
        for (const k in attrs) {
          if (k === 'service.name' || k === 'service.namespace' || k === 'service.instance.id') continue;
          const v = anyValueToString(attrs[k]);
          if (v !== '') labels[labelName(k)] = v;
        }
        if (!Object.keys(labels).length) continue;
        if (job) labels.job = job;
        if (instance) labels.instance = instance;
        const key = `${job}\u0000${instance}`;
        if (this.targets.has(key) || this.targets.size < this.cfg.max_series) this.targets.set(key, { labels, seenMs: now });
      }
    }
    const d = this.converter.drops;
    this.dropped += d.seriesLimit;
    d.seriesLimit = 0;
    if (this.dropped > before) this.telemetry.dropped('metrics', this.dropped - before, 'series_limit');
    this.dropped = 0;
  }

  /** Forgets series older than metric_expiration. */
  private expire(now: number): void {
    const before = now - this.cfg.metric_expiration;
    for (const [k, v] of this.samples) if (v.seenMs < before) this.samples.delete(k);
    for (const [k, v] of this.targets) if (v.seenMs < before) this.targets.delete(k);
    this.converter.expire(before);
  }

  /** The exposition text, in the Prometheus (or OpenMetrics) text format. */
  async render(openMetrics: boolean): Promise<{ contentType: string; body: string }> {
    this.expire(Date.now());
    // The runtime constructor takes the content type; its type declarations omit it.
    const RegistryWithType = prom.Registry as unknown as new (contentType: string) => prom.Registry;
    const registry = new RegistryWithType(openMetrics ? prom.Registry.OPENMETRICS_CONTENT_TYPE : prom.Registry.PROMETHEUS_CONTENT_TYPE);
    const byFamily = new Map<string, Array<{ value: number; labels: Record<string, string>; metricName?: string }>>();
    for (const { point: p } of this.samples.values()) {
      let values = byFamily.get(p.family);
      if (!values) byFamily.set(p.family, (values = []));
      const labels: Record<string, string> = {};
      for (const l of p.labels) if (l.name !== '__name__') labels[l.name] = l.value;
      // OpenMetrics counters: prom-client names the sample `<family>_total` itself.
      const counterOm = openMetrics && p.type === 'counter';
      values.push(counterOm ? { value: p.value, labels } : { value: p.value, labels, metricName: p.name });
    }
    if (this.targets.size) byFamily.set('target_info', [...this.targets.values()].map((t) => ({ value: 1, labels: t.labels })));
    for (const [name, values] of byFamily) {
      const fam = this.families.get(name) ?? { type: 'gauge' as PromType, help: 'Target metadata (resource attributes).' };
      const type = fam.type === 'unknown' ? (openMetrics ? 'unknown' : 'untyped') : fam.type;
      const help = fam.help || name;
      // prom-client renames OpenMetrics counter families (drops `_total`) on the object before get().
      const metric = {
        name,
        help,
        type,
        aggregator: 'sum',
        get: async () => ({ name: metric.name, help, type, aggregator: 'sum', values }),
      };
      registry.registerMetric(metric as unknown as prom.Metric);
    }
    return { contentType: registry.contentType, body: await registry.metrics() };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET', 'content-type': 'text/plain' }).end(`${req.method} is not allowed\n`);
      return;
    }
    const accept = String(req.headers.accept ?? '');
    const om = this.cfg.enable_open_metrics && accept.includes('application/openmetrics-text');
    try {
      const { contentType, body } = await this.render(om);
      res.writeHead(200, { 'content-type': contentType }).end(req.method === 'HEAD' ? undefined : body);
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
    }
  }
}

/** Labels as a record (tests). */
export function labelsRecord(labels: readonly Label[]): Record<string, string> {
  return Object.fromEntries(labels.map((l) => [l.name, l.value]));
}
