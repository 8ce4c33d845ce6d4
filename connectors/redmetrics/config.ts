/**
 * Config of the `redmetrics` connector. Keys are the Collector spanmetrics
 * connector's where they apply (`histogram`, `dimensions`,
 * `exclude_dimensions`, `namespace`, `aggregation_temporality`,
 * `metrics_flush_interval`, `metrics_expiration`, `exemplars`,
 * `aggregation_cardinality_limit`, `resource_metrics_key_attributes`), so a
 * spanmetrics config works under the type names `spanmetrics` and
 * `span_metrics`; the rest (`resolutions`, `max_endpoints_per_service`, …) is
 * ours. Durations in `histogram.explicit.buckets` are Go durations, as there.
 */
import { parseDuration, s, type Infer } from '../../pipeline/config/schema';
import { RED_NAMESPACE } from '../../pipeline/prometheus/red';

/** The Collector's default duration buckets. */
export const DEFAULT_BUCKETS = ['2ms', '4ms', '6ms', '8ms', '10ms', '50ms', '100ms', '200ms', '400ms', '800ms', '1s', '1400ms', '2s', '5s', '10s', '15s'];

const bucket = s.string().check((v) => (parseDuration(v) === undefined ? `"${v}" is not a duration such as "100ms"` : undefined));

const dimension = s.object({
  name: s.string().nonEmpty().doc('span attribute (or, when the span lacks it, resource attribute) to group by'),
  default: s.optional(s.string()).doc('value used when neither has the attribute; without it the dimension is left out'),
});

/** `connectors::redmetrics`. */
export const config = s
  .object({
    histogram: s
      .object({
        disable: s.boolean().default(false).doc('emit no duration histogram'),
        unit: s.enum(['ms', 's'] as const).default('ms').doc('unit of the duration histogram'),
        explicit: s
          .optional(s.object({ buckets: s.array(bucket).default(DEFAULT_BUCKETS).doc('upper bounds of the buckets, as durations') }))
          .doc(`explicit-bucket histogram (the default; buckets ${DEFAULT_BUCKETS.join(', ')})`),
        exponential: s
          .optional(s.object({ max_size: s.int().min(4).max(16384).default(160).doc('buckets per sign at most; the scale drops to fit') }))
          .doc('base-2 exponential histogram instead of explicit buckets'),
      })
      .withDefaults(),
    dimensions: s.array(dimension).default([]).doc('extra dimensions on top of service.name, endpoint, span.kind, status.code, l7.protocol'),
    exclude_dimensions: s
      .array(s.string())
      .default([])
      .doc('default dimensions to leave out (service.name, endpoint, span.kind, status.code, l7.protocol; span.name means endpoint)'),
    namespace: s.string().default(RED_NAMESPACE).doc('prefix of the metric names: <namespace>.requests, .errors, .duration'),
    aggregation_temporality: s
      .enum(['AGGREGATION_TEMPORALITY_DELTA', 'AGGREGATION_TEMPORALITY_CUMULATIVE'] as const)
      .default('AGGREGATION_TEMPORALITY_DELTA')
      .doc('delta: each point counts its window (what the RED API and SQL sum); cumulative: running totals (the Collector default)'),
    resolutions: s
      .array(bucket)
      .default(['1s', '1m'])
      .doc('windows the metrics are emitted at, whole seconds; each point carries its window in scope attribute metaflow.resolution'),
    metrics_flush_interval: s.duration().default('1s').min(100, '100ms').doc('how often closed windows are emitted'),
    flush_delay: s.duration().default('2s').doc('how long a window stays open after it ends, for spans that arrive late; later ones are emitted as extra deltas'),
    metrics_expiration: s
      .duration()
      .default('5m')
      .doc('series (and endpoints counted against a budget) not seen for this long are forgotten; 0 = never'),
    max_endpoints_per_service: s
      .int()
      .min(1)
      .default(500)
      .doc(`distinct endpoints per service; spans of further endpoints count under endpoint "__overflow__"`),
    max_services: s.int().min(1).default(10000).doc('distinct services; spans of further services count under service "__overflow__"'),
    aggregation_cardinality_limit: s
      .int()
      .min(0)
      .default(200000)
      .doc('series at most; further series count under one series per service with attribute otel.metric.overflow=true. 0 = unlimited'),
    max_clock_skew: s
      .duration()
      .default('5m')
      .doc('a span ending further than this from now (clock skew, bad data) is counted in the current second'),
    exemplars: s
      .object({
        enabled: s.boolean().default(false).doc('attach trace and span ids of spans as exemplars to the duration histogram'),
        max_per_data_point: s.int().min(1).default(5).doc('exemplars per point at most'),
      })
      .withDefaults(),
    resource_metrics_key_attributes: s
      .array(s.string())
      .default([])
      .doc('resource attributes copied to the metrics\' resource besides service.name (each distinct combination is its own resource)'),
    dimensions_cache_size: s.optional(s.int()).doc('accepted for compatibility; no effect'),
    resource_metrics_cache_size: s.optional(s.int()).doc('accepted for compatibility; no effect'),
    metric_timestamp_cache_size: s.optional(s.int()).doc('accepted for compatibility; no effect'),
    delta_temporality: s.optional(s.any()).doc('accepted for compatibility; no effect'),
    events: s
      .optional(s.object({ enabled: s.boolean().default(false), dimensions: s.array(dimension).default([]) }))
      .doc('accepted for compatibility; enabled: true is not supported'),
  })
  .withDefaults();

/** Parsed `redmetrics` config. */
export type RedConfig = Infer<typeof config>;

/** The configured resolutions in whole seconds, ascending. */
export function resolutionSeconds(cfg: RedConfig): number[] {
  return [...new Set(cfg.resolutions.map((r) => Math.round((parseDuration(r) as number) / 1000)))].sort((a, b) => a - b);
}

/** The resolution label of a window of `sec` seconds: `1s`, `10s`, `1m`, `1h`. */
export function resolutionLabel(sec: number): string {
  if (sec % 3600 === 0) return `${sec / 3600}h`;
  if (sec % 60 === 0) return `${sec / 60}m`;
  return `${sec}s`;
}

/** Cross-field checks. */
export function validate(cfg: RedConfig): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  const h = cfg.histogram;
  if (h.explicit && h.exponential) problems.push(['histogram', 'use either explicit or exponential, not both']);
  if (h.explicit) {
    const ms = h.explicit.buckets.map((b) => parseDuration(b) as number);
    for (let i = 1; i < ms.length; i++) {
      if (!(ms[i] > ms[i - 1])) problems.push(['histogram::explicit::buckets', `must increase; ${h.explicit.buckets[i]} follows ${h.explicit.buckets[i - 1]}`]);
    }
  }
  if (cfg.resolutions.length === 0) problems.push(['resolutions', 'must list at least one window, e.g. [1s, 1m]']);
  const seen = new Set<number>();
  cfg.resolutions.forEach((text, i) => {
    const r = parseDuration(text) as number;
    if (r < 1000 || r % 1000 !== 0) problems.push([`resolutions::${i}`, 'must be a whole number of seconds (1s, 10s, 1m, …)']);
    if (seen.has(r)) problems.push([`resolutions::${i}`, 'is listed twice']);
    seen.add(r);
  });
  if (cfg.events?.enabled) problems.push(['events::enabled', 'the events metric is not supported']);
  const known = new Set(['service.name', 'endpoint', 'span.name', 'span.kind', 'status.code', 'l7.protocol']);
  cfg.exclude_dimensions.forEach((d, i) => {
    if (!known.has(d)) problems.push([`exclude_dimensions::${i}`, `"${d}" is not a default dimension (${[...known].join(', ')})`]);
  });
  return problems;
}
