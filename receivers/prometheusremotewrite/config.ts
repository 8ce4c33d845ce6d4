/**
 * Config of the `prometheusremotewrite` receiver: where it listens and the
 * limits that keep a burst of writes from taking the process's memory.
 */
import { checkEndpoint, s, type Infer } from '../../pipeline/config/schema';
import { serverTlsSchema } from '../../pipeline/net/tls';

/** `receivers::prometheusremotewrite`. */
export const config = s
  .object({
    endpoint: s.string().default('0.0.0.0:9201').check(checkEndpoint).doc('host:port the remote-write endpoint listens on'),
    path: s
      .string()
      .default('/api/v1/write')
      .check((v) => (v.startsWith('/') ? undefined : `must start with "/", got "${v}"`))
      .doc('URL path of the endpoint (Prometheus: remote_write url http://host:9201/api/v1/write)'),
    max_request_body_size: s
      .int()
      .min(1)
      .default(32 * 1024 * 1024)
      .doc('bytes, compressed and uncompressed (checked against the snappy length preamble before inflating); larger bodies get 413'),
    max_concurrent_requests: s
      .int()
      .min(0)
      .default(256)
      .doc('requests decoded or waiting on the pipeline at once; more get 503 with Retry-After (Prometheus always retries 5xx). 0 = unlimited'),
    metadata_cache_size: s
      .int()
      .min(0)
      .default(10000)
      .doc('metric families whose type, help and unit (sent by 1.0 senders in separate requests) are remembered; the oldest is forgotten when full'),
    series_cache_size: s
      .int()
      .min(0)
      .default(100000)
      .doc('series (label sets) whose decoded labels are reused when they come again, as they do every scrape; about 0.5 KiB each. 0 disables'),
    tls: s.optional(serverTlsSchema).doc('serve HTTPS with these files'),
  })
  .withDefaults();

/** Parsed `prometheusremotewrite` receiver config. */
export type PrwReceiverConfig = Infer<typeof config>;
