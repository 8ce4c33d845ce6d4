/**
 * The `prometheusremotewrite` exporter: metrics to any Prometheus
 * remote-write 1.0 receiver (Prometheus with
 * `--web.enable-remote-write-receiver`, Mimir, Thanos, VictoriaMetrics, …).
 *
 * - Names and labels per the OpenTelemetry-to-Prometheus rules (convert.ts);
 *   delta sums and histograms are added up into counters.
 * - A batch becomes one or more `prometheus.WriteRequest`s of at most
 *   `max_batch_size_bytes` (uncompressed), snappy-compressed, POSTed with the
 *   protocol's headers. Queue, retry and timeout are the shared ExportQueue
 *   (`remote_write_queue`, `retry_on_failure`, `timeout`).
 * - Answers: 2xx written; 429 retried after Retry-After; 5xx and network
 *   errors retried with backoff; other 4xx are permanent (never retried, as
 *   the spec requires).
 * - A batch is converted once, when first sent: a retry resends the same
 *   requests (and only those not yet written), so delta sums are never added
 *   twice.
 * - Samples of one series must reach the receiver in time order; with the
 *   default single consumer they do.
 */
import http from 'node:http';
import https from 'node:https';
import type { Consumers, CreateSettings, Exporter } from '../../pipeline/component';
import { PermanentError, RetryableError, errorMessage } from '../../pipeline/errors';
import { ExportQueue } from '../../pipeline/exporterhelper';
import { readTlsFile } from '../../pipeline/net/tls';
import { anyValueToString, type Metrics } from '../../pipeline/pdata';
import { PromConverter } from '../../pipeline/prometheus/convert';
import { jobAndInstance, labelName, type PromType } from '../../pipeline/prometheus/naming';
import { encodeWriteRequestV1, PromMetricType, type Label, type MetricMetadata, type TimeSeries } from '../../pipeline/prometheus/prompb';
import { snappyCompress } from '../../pipeline/prometheus/snappy';
import type { PrwExporterConfig } from './config';

/** A batch converted to requests, and which of them were written. */
interface Prepared {
  bodies: Buffer[];
  written: boolean[];
  samples: number;
}

const TYPE: Record<PromType, number> = {
  counter: PromMetricType.COUNTER,
  gauge: PromMetricType.GAUGE,
  histogram: PromMetricType.HISTOGRAM,
  summary: PromMetricType.SUMMARY,
  unknown: PromMetricType.UNKNOWN,
};

/** The prometheusremotewrite exporter; see the module doc. */
export class PrometheusRemoteWriteExporter implements Exporter {
  readonly consumers: Consumers = {};
  private readonly queue: ExportQueue<'metrics'>;
  private readonly converter: PromConverter;
  private readonly prepared = new WeakMap<Metrics, Prepared>();
  private readonly url: URL;
  private readonly agent: http.Agent;

  constructor(
    private readonly cfg: PrwExporterConfig,
    private readonly settings: CreateSettings,
  ) {
    this.url = new URL(cfg.endpoint);
    this.converter = new PromConverter({
      addSuffixes: cfg.add_metric_suffixes,
      namespace: cfg.namespace,
      constLabels: cfg.external_labels,
      resourceToLabels: cfg.resource_to_telemetry_conversion.enabled,
      maxSeries: cfg.max_series,
    });
    const tls = cfg.tls;
    this.agent =
      this.url.protocol === 'https:'
        ? new https.Agent({
            keepAlive: true,
            rejectUnauthorized: !tls.insecure_skip_verify,
            ca: tls.ca_file ? readTlsFile('ca_file', tls.ca_file) : undefined,
            cert: tls.cert_file ? readTlsFile('cert_file', tls.cert_file) : undefined,
            key: tls.key_file ? readTlsFile('key_file', tls.key_file) : undefined,
            servername: tls.server_name_override,
            minVersion: tls.min_version === '1.3' ? 'TLSv1.3' : 'TLSv1.2',
          })
        : new http.Agent({ keepAlive: true });
    const q = cfg.remote_write_queue;
    this.queue = new ExportQueue({
      signal: 'metrics',
      send: (m: Metrics, abort: AbortSignal) => this.send(m, abort),
      queue: { enabled: q.enabled, queue_size: q.queue_size, num_consumers: q.num_consumers, block_on_overflow: false },
      retry: cfg.retry_on_failure,
      timeoutMs: cfg.timeout,
      telemetry: settings.telemetry,
      logger: settings.logger,
    });
    this.consumers.metrics = this.queue;
  }

  async start(): Promise<void> {
    // Nothing to open: connections are made per request (kept alive).
  }

  async shutdown(): Promise<void> {
    await this.queue.shutdown();
    this.agent.destroy();
  }

  /** Converts a batch into write requests (once per batch). */
  prepare(metrics: Metrics): Prepared {
    const done = this.prepared.get(metrics);
    if (done) return done;
    const series = new Map<string, TimeSeries>();
    const meta = new Map<string, MetricMetadata>();
    let samples = 0;
    let latest = 0;
    this.converter.convert(metrics, (p) => {
      let ts = series.get(p.key);
      if (!ts) series.set(p.key, (ts = { labels: p.labels, samples: [] }));
      const last = ts.samples[ts.samples.length - 1];
      // Receivers need each series in time order, one sample per timestamp.
      if (last && p.timestamp < last.timestamp) return;
      const sample = p.stale ? { value: NaN, timestamp: p.timestamp, stale: true } : { value: p.value, timestamp: p.timestamp };
      if (last && p.timestamp === last.timestamp) ts.samples[ts.samples.length - 1] = sample;
      else {
        ts.samples.push(sample);
        samples++;
      }
      if (p.exemplars) (ts.exemplars ??= []).push(...p.exemplars);
      if (p.timestamp > latest) latest = p.timestamp;
      if (this.cfg.send_metadata && !meta.has(p.family)) meta.set(p.family, { type: TYPE[p.type], metricFamilyName: p.family, help: p.help, unit: p.unit });
    });
    const drops = this.converter.drops;
    if (drops.seriesLimit) {
      this.settings.telemetry.dropped('metrics', drops.seriesLimit, 'series_limit');
      drops.seriesLimit = 0;
    }
    if (this.cfg.target_info.enabled) {
      for (const ts of this.targetInfo(metrics, latest || Date.now())) series.set(`target_info\u0000${ts.labels.map((l) => l.value).join('\u0000')}`, ts);
    }
    const prepared: Prepared = { bodies: this.split([...series.values()], [...meta.values()]), written: [], samples };
    prepared.written = prepared.bodies.map(() => false);
    this.prepared.set(metrics, prepared);
    return prepared;
  }

  /** One `target_info` series per resource with attributes beyond job/instance. */
  private targetInfo(metrics: Metrics, timestamp: number): TimeSeries[] {
    const out: TimeSeries[] = [];
    const seen = new Set<string>();
    for (const rm of metrics.resourceMetrics) {
      const attrs = rm.resource.attributes;
      const { job, instance } = jobAndInstance(attrs);
      const byName = new Map<string, string>([['__name__', 'target_info']]);
      if (job) byName.set('job', job);
      if (instance) byName.set('instance', instance);
      let extra = 0;
      for (const k in attrs) {
        if (k === 'service.name' || k === 'service.namespace' || k === 'service.instance.id') continue;
        const v = anyValueToString(attrs[k]);
        if (v === '') continue;
        byName.set(labelName(k), v);
        extra++;
      }
      for (const [k, v] of Object.entries(this.cfg.external_labels)) if (v !== '') byName.set(labelName(k), v);
      if (!extra) continue;
      const labels: Label[] = [...byName].map(([name, value]) => ({ name, value })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const key = labels.map((l) => `${l.name}=${l.value}`).join(',');
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ labels, samples: [{ value: 1, timestamp }] });
    }
    return out;
  }

  /** Encodes series into compressed requests of at most max_batch_size_bytes each. */
  private split(series: TimeSeries[], meta: MetricMetadata[]): Buffer[] {
    const limit = this.cfg.max_batch_size_bytes;
    const out: Buffer[] = [];
    const encode = (list: TimeSeries[], md: MetricMetadata[]): void => {
      if (!list.length && !md.length) return;
      const raw = encodeWriteRequestV1({ timeseries: list, metadata: md });
      if (raw.length <= limit || list.length <= 1) {
        out.push(snappyCompress(raw));
        return;
      }
      const half = list.length >> 1;
      encode(list.slice(0, half), md);
      encode(list.slice(half), []);
    };
    encode(series, meta);
    return out;
  }

  private async send(metrics: Metrics, abort: AbortSignal): Promise<void> {
    const p = this.prepare(metrics);
    for (let i = 0; i < p.bodies.length; i++) {
      if (p.written[i]) continue;
      await this.post(p.bodies[i], abort);
      p.written[i] = true;
    }
  }

  /** POSTs one compressed request; classifies the answer. */
  private post(body: Buffer, abort: AbortSignal): Promise<void> {
    const url = this.url;
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise<void>((resolve, reject) => {
      const req = mod.request(
        {
          protocol: url.protocol,
          hostname: url.hostname,
          port: url.port,
          path: `${url.pathname}${url.search}`,
          method: 'POST',
          agent: this.agent,
          signal: abort,
          headers: {
            ...this.cfg.headers,
            'content-type': 'application/x-protobuf',
            'content-encoding': 'snappy',
            'x-prometheus-remote-write-version': '0.1.0',
            'user-agent': 'metaflow-prometheusremotewrite/0.1.0',
            'content-length': String(body.length),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            if (text.length < 1024) text += c;
          });
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve();
            const msg = `remote write to ${url.host} answered ${status}: ${text.trim().slice(0, 512)}`;
            if (status === 429) {
              const after = Number(res.headers['retry-after']);
              return reject(new RetryableError('exhausted', msg, { retryAfterMs: Number.isFinite(after) ? after * 1000 : 0 }));
            }
            if (status >= 500) return reject(new RetryableError('unavailable', msg));
            reject(new PermanentError(msg, { code: 'PRW_REJECTED' }));
          });
          res.on('error', (err) => reject(new RetryableError('unavailable', `remote write to ${url.host}: ${errorMessage(err)}`)));
        },
      );
      req.on('error', (err) => reject(abort.aborted ? (abort.reason ?? err) : new RetryableError('unavailable', `remote write to ${url.host}: ${errorMessage(err)}`)));
      req.end(body);
    });
  }
}
