/**
 * Configuration of the `clickhouse` exporter. Key names are the Collector
 * contrib clickhouseexporter's where it has them (`endpoint`, `username`,
 * `password`, `database`, `ttl`, `create_schema`, `traces_table_name`,
 * `logs_table_name`, `metrics_tables`, `cluster_name`, `table_engine`,
 * `timeout`, `sending_queue`, `retry_on_failure`); `data_dir` is ours, for
 * the embedded store, and so is `smart_encoding` (schema-smart.ts: spans
 * stored with integer tag ids behind an `otel_traces` view; on by default,
 * since queries see the same table either way). An empty `endpoint`
 * selects the embedded store.
 */
import { s, type Infer } from '../../pipeline/config/schema';
import { queueSchema, retrySchema, type QueueConfig } from '../../pipeline/exporterhelper';
import type { TableNames } from '../../pipeline/storage';
import { tableNames } from './schema';

/** Default per-attempt timeout of the remote store (the contrib default). */
export const REMOTE_TIMEOUT_MS = 5000;

/**
 * Default per-attempt timeout of the embedded store. Longer than the remote
 * one: a started embedded insert cannot be cancelled, so a timeout that fires
 * while the engine is still writing leads to a retry of data that may land
 * twice; the engine writes a large batch (plus merges) in seconds.
 */
export const EMBEDDED_TIMEOUT_MS = 60000;

/** Default `data_dir` of the embedded store. */
export const DEFAULT_DATA_DIR = './data';

/**
 * Default consumers: the embedded engine inserts one block at a time, so two
 * consumers are enough to encode the next batch while one is inserted; a
 * server takes more in parallel.
 */
export const EMBEDDED_CONSUMERS = 2;
/** Default consumers of the remote store (the shared queue's default). */
export const REMOTE_CONSUMERS = 10;

const metricTable = (name: string) => s.object({ name: s.string().nonEmpty().default(name) }).withDefaults();

/** The config schema; `configSchema.parse(undefined)` gives the defaults. */
export const configSchema = s
  .object({
    endpoint: s.string().default('').doc('ClickHouse HTTP(S) URL such as http://host:8123; empty stores in the embedded chDB engine'),
    username: s.string().default('').doc('user of the remote server (empty = "default")'),
    password: s.string().default('').doc('password of the remote user'),
    database: s.string().nonEmpty().default('metaflow').doc('database holding the telemetry tables'),
    data_dir: s.optional(s.string().nonEmpty()).doc(`folder of the embedded store (default ${DEFAULT_DATA_DIR}); embedded only`),
    ttl: s.duration().default(0).doc('drop data older than this (e.g. 72h); 0 keeps everything'),
    create_schema: s.boolean().default(true).doc('create the database and tables (and apply migrations) on start'),
    smart_encoding: s
      .boolean()
      .default(true)
      .doc('store span, log, metric and flow-log tags (service, span name, scope, resource attributes, repeating span attributes, the tags of both ends) as integer ids with dictionaries; otel_traces, otel_logs, otel_metrics_* and flow_log become views with the same columns'),
    traces_table_name: s.string().nonEmpty().default('otel_traces'),
    logs_table_name: s.string().nonEmpty().default('otel_logs'),
    metrics_tables: s
      .object({
        gauge: metricTable('otel_metrics_gauge'),
        sum: metricTable('otel_metrics_sum'),
        summary: metricTable('otel_metrics_summary'),
        histogram: metricTable('otel_metrics_histogram'),
        exponential_histogram: metricTable('otel_metrics_exponential_histogram'),
      })
      .withDefaults(),
    cluster_name: s.string().default('').doc('run DDL ON CLUSTER this cluster (remote only)'),
    table_engine: s
      .object({
        name: s.string().nonEmpty().default('MergeTree'),
        params: s.string().default(''),
      })
      .withDefaults()
      .doc('engine of the data tables, e.g. {name: ReplicatedMergeTree, params: "..."}'),
    timeout: s.optional(s.duration()).doc(`per-attempt timeout (default ${REMOTE_TIMEOUT_MS / 1000}s remote, ${EMBEDDED_TIMEOUT_MS / 1000}s embedded); 0 disables`),
    sending_queue: s
      .object({
        ...queueSchema.shape,
        num_consumers: s.optional(s.int().min(1)).doc(`parallel sends (default ${EMBEDDED_CONSUMERS} embedded, ${REMOTE_CONSUMERS} remote)`),
      })
      .withDefaults(),
    retry_on_failure: retrySchema,
  })
  .withDefaults();

/** The parsed config, as the schema produces it. */
export type Config = Infer<typeof configSchema>;

/** The config with mode-dependent defaults filled in. */
export interface ResolvedConfig {
  mode: 'embedded' | 'remote';
  endpoint: string;
  username: string;
  password: string;
  database: string;
  dataDir: string;
  ttlMs: number;
  createSchema: boolean;
  /** Spans SmartEncoded (schema-smart.ts) rather than in the contrib table. */
  smartEncoding: boolean;
  tables: TableNames;
  cluster: string;
  engine: { name: string; params: string };
  timeoutMs: number;
  queue: QueueConfig;
  retry: Config['retry_on_failure'];
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks beyond the schema; returns `[relativePath, problem]` pairs (the
 * graph prefixes the component's path).
 */
export function validate(cfg: Config): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  const remote = cfg.endpoint !== '';
  if (remote) {
    let url: URL | undefined;
    try {
      url = new URL(cfg.endpoint);
    } catch {
      problems.push(['endpoint', `"${cfg.endpoint}" is not a URL; expected http://host:8123 or https://host:8443`]);
    }
    if (url && url.protocol !== 'http:' && url.protocol !== 'https:') {
      problems.push(['endpoint', `scheme "${url.protocol.replace(':', '')}" is not supported; use http:// or https:// (the HTTP interface, port 8123/8443)`]);
    }
    if (cfg.data_dir !== undefined) problems.push(['data_dir', 'is only valid for the embedded store (endpoint is set)']);
  } else {
    if (cfg.username !== '') problems.push(['username', 'is only valid for a remote store (endpoint is empty)']);
    if (cfg.password !== '') problems.push(['password', 'is only valid for a remote store (endpoint is empty)']);
    if (cfg.cluster_name !== '') problems.push(['cluster_name', 'is only valid for a remote store (endpoint is empty)']);
  }
  const names: Array<[string, string]> = [
    ['database', cfg.database],
    ['traces_table_name', cfg.traces_table_name],
    ['logs_table_name', cfg.logs_table_name],
    ['metrics_tables::gauge::name', cfg.metrics_tables.gauge.name],
    ['metrics_tables::sum::name', cfg.metrics_tables.sum.name],
    ['metrics_tables::summary::name', cfg.metrics_tables.summary.name],
    ['metrics_tables::histogram::name', cfg.metrics_tables.histogram.name],
    ['metrics_tables::exponential_histogram::name', cfg.metrics_tables.exponential_histogram.name],
    ['table_engine::name', cfg.table_engine.name],
  ];
  if (cfg.cluster_name !== '') names.push(['cluster_name', cfg.cluster_name]);
  for (const [p, v] of names) {
    if (!IDENT.test(v)) problems.push([p, `"${v}" is not a valid name: use letters, digits and underscores, starting with a letter or underscore`]);
  }
  const tables: Array<[string, string]> = [
    ['traces_table_name', cfg.traces_table_name],
    ['traces_table_name', `${cfg.traces_table_name}_trace_id_ts`],
    ['logs_table_name', cfg.logs_table_name],
    ['metrics_tables::gauge::name', cfg.metrics_tables.gauge.name],
    ['metrics_tables::sum::name', cfg.metrics_tables.sum.name],
    ['metrics_tables::summary::name', cfg.metrics_tables.summary.name],
    ['metrics_tables::histogram::name', cfg.metrics_tables.histogram.name],
    ['metrics_tables::exponential_histogram::name', cfg.metrics_tables.exponential_histogram.name],
  ];
  const seen = new Set<string>();
  for (const [p, t] of tables) {
    if (seen.has(t)) problems.push([p, `table name "${t}" is already used by another signal; every signal needs its own table`]);
    seen.add(t);
  }
  if (/[;\n\r]/.test(cfg.table_engine.params)) problems.push(['table_engine::params', 'must be a single parameter list without ";" or line breaks']);
  if (cfg.ttl > 0 && cfg.ttl < 1000) problems.push(['ttl', 'must be 0 (keep everything) or at least 1s']);
  return problems;
}

/** Fills in the defaults that depend on the mode. Call after {@link validate} passed. */
export function resolve(cfg: Config): ResolvedConfig {
  const remote = cfg.endpoint !== '';
  const m = cfg.metrics_tables;
  return {
    mode: remote ? 'remote' : 'embedded',
    endpoint: cfg.endpoint,
    username: cfg.username,
    password: cfg.password,
    database: cfg.database,
    dataDir: cfg.data_dir ?? DEFAULT_DATA_DIR,
    ttlMs: cfg.ttl,
    createSchema: cfg.create_schema,
    smartEncoding: cfg.smart_encoding,
    tables: tableNames(cfg.traces_table_name, cfg.logs_table_name, {
      gauge: m.gauge.name,
      sum: m.sum.name,
      histogram: m.histogram.name,
      exponentialHistogram: m.exponential_histogram.name,
      summary: m.summary.name,
    }),
    cluster: cfg.cluster_name,
    engine: { name: cfg.table_engine.name, params: cfg.table_engine.params },
    timeoutMs: cfg.timeout ?? (remote ? REMOTE_TIMEOUT_MS : EMBEDDED_TIMEOUT_MS),
    queue: { ...cfg.sending_queue, num_consumers: cfg.sending_queue.num_consumers ?? (remote ? REMOTE_CONSUMERS : EMBEDDED_CONSUMERS) },
    retry: cfg.retry_on_failure,
  };
}
