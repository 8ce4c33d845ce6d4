/**
 * Config of the `query` extension: the query service (SQL, Jaeger API, health).
 */
import { checkEndpoint, s, type Infer } from '../../pipeline/config/schema';

/** `extensions::query`. */
export const config = s
  .object({
    endpoint: s.string().default('0.0.0.0:20416').check(checkEndpoint).doc('where the HTTP API listens'),
    storage: s
      .optional(s.string())
      .doc('id of the exporter whose store is read (e.g. clickhouse); default: the one exporter that has a store'),
    max_rows: s.int().min(1).default(100000).doc('rows returned by /api/v1/sql at most; more are cut and flagged'),
    max_request_size_mib: s.number().min(0.001).default(1).doc('largest request body accepted'),
    query_timeout: s.duration().default('60s').doc('a query running longer is cancelled'),
  })
  .withDefaults();

/** Parsed `query` config. */
export type QueryConfig = Infer<typeof config>;
