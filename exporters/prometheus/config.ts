/**
 * Config of the `prometheus` exporter, with the Collector prometheusexporter's
 * keys: `endpoint`, `namespace`, `const_labels`, `send_timestamps`,
 * `metric_expiration`, `resource_to_telemetry_conversion`,
 * `enable_open_metrics`, `add_metric_suffixes`, `tls`; plus `max_series`.
 */
import { checkEndpoint, s, type Infer } from '../../pipeline/config/schema';
import { serverTlsSchema } from '../../pipeline/net/tls';

/** `exporters::prometheus`. */
export const config = s
  .object({
    endpoint: s.string().default('0.0.0.0:8889').check(checkEndpoint).doc('host:port of the scrape endpoint; metrics are at /metrics'),
    namespace: s.string().default('').doc('prefix of every metric name (namespace_name)'),
    const_labels: s.record(s.string()).default({}).doc('labels added to every series'),
    send_timestamps: s.boolean().default(false).doc('not supported (the exposition has no sample timestamps); must be false'),
    metric_expiration: s.duration().default('5m').doc('series not updated for this long are no longer exposed'),
    resource_to_telemetry_conversion: s
      .object({ enabled: s.boolean().default(false).doc('copy every resource attribute to a label of every series (otherwise they go to target_info)') })
      .withDefaults(),
    enable_open_metrics: s.boolean().default(false).doc('answer in the OpenMetrics text format when the scraper accepts it'),
    add_metric_suffixes: s.boolean().default(true).doc('add unit and _total suffixes to metric names, as the OpenTelemetry rules say'),
    max_series: s.int().min(1).default(100000).doc('series exposed at most; further ones are dropped and counted'),
    tls: s.optional(serverTlsSchema).doc('serve the endpoint over HTTPS'),
  })
  .withDefaults();

/** Parsed `prometheus` exporter config. */
export type PrometheusExporterConfig = Infer<typeof config>;

/** Cross-field checks. */
export function validate(cfg: PrometheusExporterConfig): Array<[string, string]> {
  return cfg.send_timestamps ? [['send_timestamps', 'is not supported: scrapes carry no sample timestamps; remove it or set it to false']] : [];
}
