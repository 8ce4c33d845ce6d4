/** Config of the `otlphttp` exporter, with the Collector's keys. */
import { s, type Infer } from '../../pipeline/config/schema';
import { queueSchema, retrySchema } from '../../pipeline/exporterhelper';
import { clientTlsSchema } from '../../pipeline/net/tls';

const url = () =>
  s.string().check((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'http:' || u.protocol === 'https:' ? undefined : `"${v}" must be an http:// or https:// URL`;
    } catch {
      return `"${v}" is not a URL`;
    }
  });

/** `exporters::otlphttp`. */
export const config = s.object({
  endpoint: s.optional(url()).doc('base URL; /v1/traces, /v1/metrics, /v1/logs are appended'),
  traces_endpoint: s.optional(url()).doc('full URL for traces, overriding endpoint'),
  metrics_endpoint: s.optional(url()),
  logs_endpoint: s.optional(url()),
  encoding: s.enum(['proto', 'json'] as const).default('proto'),
  compression: s.enum(['gzip', 'none', ''] as const).default('gzip'),
  headers: s.record(s.string()).default({}),
  timeout: s.duration().default('30s'),
  tls: clientTlsSchema,
  read_buffer_size: s.optional(s.int()).doc('accepted for compatibility'),
  write_buffer_size: s.optional(s.int()).doc('accepted for compatibility'),
  sending_queue: queueSchema,
  retry_on_failure: retrySchema,
});

/** Parsed `otlphttp` config. */
export type OtlpHttpConfig = Infer<typeof config>;

/** Every used signal needs a URL. */
export function validate(cfg: OtlpHttpConfig): Array<[string, string]> {
  if (!cfg.endpoint && !(cfg.traces_endpoint || cfg.metrics_endpoint || cfg.logs_endpoint)) {
    return [['endpoint', 'is required (or traces_endpoint, metrics_endpoint, logs_endpoint)']];
  }
  return [];
}
