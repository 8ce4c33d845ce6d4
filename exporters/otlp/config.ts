/** Config of the `otlp` (gRPC) exporter, with the Collector's keys. */
import { s, type Infer } from '../../pipeline/config/schema';
import { queueSchema, retrySchema } from '../../pipeline/exporterhelper';
import { clientTlsSchema } from '../../pipeline/net/tls';

/** `exporters::otlp`. */
export const config = s.object({
  endpoint: s.string().nonEmpty().doc('host:port of the OTLP/gRPC server; an http:// or https:// prefix sets TLS off or on'),
  tls: clientTlsSchema,
  headers: s.record(s.string()).default({}).doc('sent as gRPC metadata with every request'),
  compression: s.enum(['gzip', 'none', ''] as const).default('gzip'),
  timeout: s.duration().default('5s'),
  balancer_name: s.optional(s.string()).doc('accepted for compatibility; grpc-js picks the first address'),
  keepalive: s.optional(s.any()).doc('accepted for compatibility'),
  sending_queue: queueSchema,
  retry_on_failure: retrySchema,
});

/** Parsed `otlp` exporter config. */
export type OtlpExporterConfig = Infer<typeof config>;

/** Cross-field checks. */
export function validate(cfg: OtlpExporterConfig): Array<[string, string]> {
  const target = cfg.endpoint.replace(/^https?:\/\//, '');
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:/\s]+)(:\d+)?$/.test(target) && !target.startsWith('unix:') && !target.startsWith('dns:')) {
    return [['endpoint', `"${cfg.endpoint}" is not host:port`]];
  }
  return [];
}
