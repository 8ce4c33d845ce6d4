/**
 * Config of the `otlp` receiver, with the Collector's keys. At least one of
 * `protocols::grpc` and `protocols::http` must be present; `grpc:` with no
 * value enables it with the defaults.
 */
import { checkEndpoint, s, type Infer } from '../../pipeline/config/schema';
import { serverTlsSchema } from '../../pipeline/net/tls';

const grpc = s.object({
  endpoint: s.string().default('0.0.0.0:4317').check(checkEndpoint),
  max_recv_msg_size_mib: s.number().min(0.001).default(4).doc('larger messages are refused with RESOURCE_EXHAUSTED'),
  max_concurrent_streams: s.int().min(0).default(0).doc('0 = unlimited'),
  read_buffer_size: s.int().min(0).default(524288).doc('accepted for compatibility; no effect'),
  write_buffer_size: s.int().min(0).default(0).doc('accepted for compatibility; no effect'),
  keepalive: s.optional(s.any()).doc('accepted for compatibility; grpc-js defaults apply'),
  include_metadata: s.boolean().default(false).doc('accepted for compatibility; no effect'),
  tls: s.optional(serverTlsSchema),
});

const cors = s.object({
  allowed_origins: s.array(s.string()).default([]),
  allowed_headers: s.array(s.string()).default([]),
  max_age: s.int().min(0).default(0),
});

const http = s.object({
  endpoint: s.string().default('0.0.0.0:4318').check(checkEndpoint),
  max_request_body_size: s.int().min(1).default(20 * 1024 * 1024).doc('bytes, after decompression; larger bodies get 413'),
  max_recv_msg_size_mib: s.optional(s.number().min(0.001)).doc('the same limit in MiB, as gRPC names it; overrides max_request_body_size'),
  traces_url_path: s.string().default('/v1/traces'),
  metrics_url_path: s.string().default('/v1/metrics'),
  logs_url_path: s.string().default('/v1/logs'),
  include_metadata: s.boolean().default(false).doc('accepted for compatibility; no effect'),
  cors: s.optional(cors),
  tls: s.optional(serverTlsSchema),
});

/** `receivers::otlp`. */
export const config = s
  .object({
    protocols: s.object({ grpc: s.optional(grpc), http: s.optional(http) }).default({ grpc: grpc.parseOrThrow({}), http: http.parseOrThrow({}) }),
  })
  .withDefaults();

/** Parsed `otlp` receiver config. */
export type OtlpReceiverConfig = Infer<typeof config>;
/** Parsed `protocols::grpc`. */
export type GrpcConfig = Infer<typeof grpc>;
/** Parsed `protocols::http`. */
export type HttpConfig = Infer<typeof http>;

/** Cross-field checks. */
export function validate(cfg: OtlpReceiverConfig): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  if (!cfg.protocols.grpc && !cfg.protocols.http) {
    problems.push(['protocols', 'must specify at least one protocol (grpc or http) when using the otlp receiver']);
  }
  const h = cfg.protocols.http;
  if (h) {
    for (const key of ['traces_url_path', 'metrics_url_path', 'logs_url_path'] as const) {
      if (!h[key].startsWith('/')) problems.push([`protocols::http::${key}`, `must start with "/", got "${h[key]}"`]);
    }
  }
  return problems;
}
