/**
 * Config of the `prometheusremotewrite` exporter, with the Collector
 * prometheusremotewriteexporter's keys: `endpoint`, `headers`, `namespace`,
 * `external_labels`, `resource_to_telemetry_conversion`,
 * `add_metric_suffixes`, `send_metadata`, `target_info`,
 * `max_batch_size_bytes`, `timeout`, `remote_write_queue`,
 * `retry_on_failure`, `tls`; plus `max_series`.
 */
import { s, type Infer } from '../../pipeline/config/schema';
import { retrySchema } from '../../pipeline/exporterhelper';
import { clientTlsSchema } from '../../pipeline/net/tls';

/** `exporters::prometheusremotewrite`. */
export const config = s
  .object({
    endpoint: s
      .string()
      .check((v) => (/^https?:\/\/[^/]+/.test(v) ? undefined : `"${v}" is not an http(s) URL such as http://prometheus:9090/api/v1/write`))
      .doc('remote-write URL, e.g. http://prometheus:9090/api/v1/write'),
    headers: s.record(s.string()).default({}).doc('extra HTTP headers (not the protocol\'s own: Content-Type, Content-Encoding, X-Prometheus-Remote-Write-Version)'),
    namespace: s.string().default('').doc('prefix of every metric name (namespace_name)'),
    external_labels: s.record(s.string()).default({}).doc('labels added to every series'),
    resource_to_telemetry_conversion: s
      .object({ enabled: s.boolean().default(false).doc('copy every resource attribute to a label of every series') })
      .withDefaults(),
    add_metric_suffixes: s.boolean().default(true).doc('add unit and _total suffixes to metric names, as the OpenTelemetry rules say'),
    send_metadata: s.boolean().default(false).doc('send each family\'s type, help and unit (MetricMetadata) with the series'),
    target_info: s.object({ enabled: s.boolean().default(true).doc('send a target_info series per resource with its attributes') }).withDefaults(),
    export_created_metric: s.object({ enabled: s.boolean().default(false).doc('accepted for compatibility; no effect') }).withDefaults(),
    protobuf_message: s.enum(['prometheus.WriteRequest'] as const).default('prometheus.WriteRequest').doc('remote-write 1.0 only'),
    max_batch_size_bytes: s.int().min(1024).default(3000000).doc('uncompressed size of one request at most; larger batches are split'),
    timeout: s.duration().default('5s').doc('per-request timeout'),
    remote_write_queue: s
      .object({
        enabled: s.boolean().default(true),
        queue_size: s.int().min(1).default(10000).doc('batches waiting at most; further ones are refused (back-pressure)'),
        num_consumers: s.int().min(1).default(1).doc('parallel requests; more than 1 can reorder samples of a series, which Prometheus rejects'),
      })
      .withDefaults(),
    retry_on_failure: retrySchema,
    tls: clientTlsSchema,
    max_series: s.int().min(1).default(100000).doc('series whose delta sums are added up into counters at most; further ones are dropped and counted'),
  })
  .withDefaults();

/** Parsed `prometheusremotewrite` exporter config. */
export type PrwExporterConfig = Infer<typeof config>;

/** Headers the protocol sets itself (the spec forbids overriding them). */
export const RESERVED_HEADERS = ['content-type', 'content-encoding', 'x-prometheus-remote-write-version', 'content-length'];

/** Cross-field checks. */
export function validate(cfg: PrwExporterConfig): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  for (const h of Object.keys(cfg.headers)) {
    if (RESERVED_HEADERS.includes(h.toLowerCase())) problems.push([`headers::${h}`, 'is set by the remote-write protocol and cannot be configured']);
  }
  return problems;
}
