/**
 * The telemetry schema: DDL for the tables, named and shaped like the
 * OpenTelemetry Collector contrib ClickHouse exporter's (`otel_traces`,
 * `otel_traces_trace_id_ts` + `_mv`, `otel_logs`, `otel_metrics_*`), so
 * queries written for that exporter and Grafana's ClickHouse data source
 * (its OTel mode) work unchanged — and migrations that evolve it.
 *
 * Migrations
 * ----------
 * {@link MIGRATIONS} is an ordered list. `<database>.schema_migrations`
 * records which versions were applied to which set of table names
 * (`tables` = the configured names joined with `|`); on start the missing
 * ones run in order. Every statement must be idempotent (`IF NOT EXISTS`,
 * `ADD COLUMN IF NOT EXISTS`): a crash between a statement and its record,
 * or two processes migrating the same server, then only repeats no-ops.
 * Migrations are append-only: never edit one that has shipped, add the next.
 *
 * Room left for later issues (not built yet):
 *
 * - Zero-code span columns: an additive migration will materialize the
 *   `metaflow.*` span attributes the agent adds (capture source, syscall
 *   trace ids, TCP sequence numbers, process/thread ids, L4 tuple) as real
 *   columns, e.g. `ALTER TABLE otel_traces ADD COLUMN IF NOT EXISTS
 *   MetaflowCaptureSource LowCardinality(String) DEFAULT
 *   SpanAttributes['metaflow.capture.source']`. The row builder then writes
 *   them when the block declares them; older rows get the DEFAULT.
 * - SmartEncoding: tag columns stored as integer ids (`UInt32`) with
 *   dictionary tables (`<db>.tag_dict_<tag>`: id → value) created by their
 *   own migration, and views that join the ids back to strings under the
 *   contrib column names so existing queries keep working.
 */
import type { TableNames } from '../../pipeline/storage';
import type { NativeBlock } from './native';
import type { MetricKind } from './rows-metrics';
import { StoreError } from './store';

/** What the DDL depends on. */
export interface SchemaOptions {
  database: string;
  tables: TableNames;
  /** Data older than this is dropped; 0 keeps everything. */
  ttlMs: number;
  /** `ON CLUSTER` target; empty for a single server or the embedded store. */
  cluster: string;
  /** Table engine of the data tables, e.g. `{ name: 'MergeTree', params: '' }`. */
  engine: { name: string; params: string };
  /**
   * Extra MergeTree settings of the data tables (`name = value, …`), after
   * the contrib ones. The embedded store uses {@link EMBEDDED_TABLE_SETTINGS}.
   */
  tableSettings?: string;
}

/**
 * Settings the embedded store adds to its data tables. A batch-sized insert
 * (8k spans ≈ 10 MB uncompressed) is just over MergeTree's default 10 MB
 * threshold for the Wide part format, i.e. one file pair per column and
 * sub-column, ~100 files per insert; in the Compact format (one file) the
 * same inserts ran 2–3x faster on a 2-core machine. Parts grow back to Wide
 * when merges take them past 128 MiB, so large parts keep per-column reads.
 * Servers keep the contrib table settings.
 */
export const EMBEDDED_TABLE_SETTINGS = 'min_bytes_for_wide_part = 134217728';

/** The SETTINGS clause of a data table: the contrib settings, then {@link SchemaOptions.tableSettings}. */
export function settings(o: SchemaOptions): string {
  return `SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1${o.tableSettings ? `, ${o.tableSettings}` : ''}`;
}

/** Runs statements against a store (DDL and small selects). */
export interface SchemaExecutor {
  command(sql: string): Promise<void>;
  select(sql: string): Promise<unknown[][]>;
}

/** Quotes an identifier (names are validated by the config, this guards the rest). */
export function ident(name: string): string {
  return '`' + name.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
}

/** Quotes a string literal. */
export function literal(value: string): string {
  return "'" + value.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
}

/** `db`.`table`. */
export function qualified(database: string, table: string): string {
  return `${ident(database)}.${ident(table)}`;
}

/**
 * `INSERT INTO db.table (columns)`: the head both stores put before their
 * Native source (`SELECT * FROM file(…)` embedded, `FORMAT Native` remote).
 */
export function insertHead(database: string, table: string, block: NativeBlock): string {
  return `INSERT INTO ${qualified(database, table)} (${block.names.map(ident).join(', ')})`;
}

/** ` ON CLUSTER name`, or '' without a cluster. */
export function onCluster(o: SchemaOptions): string {
  return o.cluster ? ` ON CLUSTER ${ident(o.cluster)}` : '';
}

function engine(o: SchemaOptions): string {
  return `${o.engine.name}(${o.engine.params})`;
}

/**
 * The `flavour` (Aggregating, Replacing) of whichever MergeTree family the
 * user configured (Replicated… stays replicated); other engines as given.
 */
export function flavouredEngine(o: SchemaOptions, flavour: 'Aggregating' | 'Replacing'): string {
  const m = /^(Replicated|Shared)?MergeTree$/.exec(o.engine.name);
  const name = m ? `${m[1] ?? ''}${flavour}MergeTree` : o.engine.name;
  return `${name}(${o.engine.params})`;
}

/**
 * The TTL clause for `expr` (a DateTime expression), in the coarsest whole
 * unit that expresses the configured duration, as the contrib exporter does.
 */
export function ttlClause(ttlMs: number, expr: string): string {
  const seconds = Math.floor(ttlMs / 1000);
  if (seconds <= 0) return '';
  if (seconds % 86400 === 0) return `TTL ${expr} + toIntervalDay(${seconds / 86400})`;
  if (seconds % 3600 === 0) return `TTL ${expr} + toIntervalHour(${seconds / 3600})`;
  if (seconds % 60 === 0) return `TTL ${expr} + toIntervalMinute(${seconds / 60})`;
  return `TTL ${expr} + toIntervalSecond(${seconds})`;
}

/** The type of every attribute map column. */
export const ATTR_MAP = 'Map(LowCardinality(String), String)';

/** Bloom-filter indexes on the keys and values of attribute maps. */
export function attrIndexes(prefix: string, column: string): string[] {
  return [
    `INDEX idx_${prefix}_key mapKeys(${column}) TYPE bloom_filter(0.01) GRANULARITY 1`,
    `INDEX idx_${prefix}_value mapValues(${column}) TYPE bloom_filter(0.01) GRANULARITY 1`,
  ];
}

/** `CREATE TABLE` of a data table: columns, the configured engine, then the non-empty `tail` clauses. */
export function table(o: SchemaOptions, name: string, columns: readonly string[], tail: readonly string[]): string {
  return (
    `CREATE TABLE IF NOT EXISTS ${qualified(o.database, name)}${onCluster(o)} (\n    ` +
    columns.join(',\n    ') +
    `\n) ENGINE = ${engine(o)}\n` +
    tail.filter((l) => l !== '').join('\n')
  );
}

/**
 * Span columns that `otel_traces` and the SmartEncoding table share (the
 * row builders' `SpanColumns`): those before the table's own name and
 * resource columns…
 */
export const SPAN_HEAD_COLUMNS: readonly string[] = [
  'Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1))',
  'TraceId String CODEC(ZSTD(1))',
  'SpanId String CODEC(ZSTD(1))',
  'ParentSpanId String CODEC(ZSTD(1))',
  'TraceState String CODEC(ZSTD(1))',
];

/** …`SpanKind`, placed among them… */
export const SPAN_KIND_COLUMN = 'SpanKind LowCardinality(String) CODEC(ZSTD(1))';

/** …and those after them. */
export const SPAN_TAIL_COLUMNS: readonly string[] = [
  `SpanAttributes ${ATTR_MAP} CODEC(ZSTD(1))`,
  'Duration UInt64 CODEC(T64, ZSTD(1))',
  'StatusCode LowCardinality(String) CODEC(ZSTD(1))',
  'StatusMessage String CODEC(ZSTD(1))',
  `Events Nested (Timestamp DateTime64(9), Name LowCardinality(String), Attributes ${ATTR_MAP}) CODEC(ZSTD(1))`,
  `Links Nested (TraceId String, SpanId String, TraceState String, Attributes ${ATTR_MAP}) CODEC(ZSTD(1))`,
];

/** `otel_traces`: one row per span. */
export function tracesTable(o: SchemaOptions): string {
  return table(
    o,
    o.tables.traces,
    [
      ...SPAN_HEAD_COLUMNS,
      'SpanName LowCardinality(String) CODEC(ZSTD(1))',
      SPAN_KIND_COLUMN,
      'ServiceName LowCardinality(String) CODEC(ZSTD(1))',
      `ResourceAttributes ${ATTR_MAP} CODEC(ZSTD(1))`,
      'ScopeName String CODEC(ZSTD(1))',
      'ScopeVersion String CODEC(ZSTD(1))',
      ...SPAN_TAIL_COLUMNS,
      'INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1',
      ...attrIndexes('res_attr', 'ResourceAttributes'),
      ...attrIndexes('span_attr', 'SpanAttributes'),
      'INDEX idx_duration Duration TYPE minmax GRANULARITY 1',
      'INDEX idx_lower_span_name lower(SpanName) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8',
    ],
    [
      'PARTITION BY toDate(Timestamp)',
      'PRIMARY KEY (ServiceName, SpanName, toDateTime(Timestamp))',
      'ORDER BY (ServiceName, SpanName, toDateTime(Timestamp), Timestamp)',
      ttlClause(o.ttlMs, 'toDateTime(Timestamp)'),
      settings(o),
    ],
  );
}

/** `otel_traces_trace_id_ts`: the time range of each trace, for fast lookup by id. */
export function traceIdTsTable(o: SchemaOptions): string {
  return (
    `CREATE TABLE IF NOT EXISTS ${qualified(o.database, o.tables.traceIdTs)}${onCluster(o)} (\n` +
    '    TraceId String CODEC(ZSTD(1)),\n' +
    '    Start SimpleAggregateFunction(min, DateTime) CODEC(ZSTD(1)),\n' +
    '    End SimpleAggregateFunction(max, DateTime) CODEC(ZSTD(1))\n' +
    `) ENGINE = ${flavouredEngine(o, 'Aggregating')}\n` +
    ['PARTITION BY toStartOfWeek(Start)', 'ORDER BY (TraceId)', ttlClause(o.ttlMs, 'toDateTime(Start)'), 'SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1']
      .filter((l) => l !== '')
      .join('\n')
  );
}

/** The materialized view that feeds the trace id lookup table from every span insert. */
export function traceIdTsView(o: SchemaOptions): string {
  return (
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${qualified(o.database, `${o.tables.traceIdTs}_mv`)}${onCluster(o)}\n` +
    `TO ${qualified(o.database, o.tables.traceIdTs)}\n` +
    'AS SELECT TraceId, min(Timestamp) AS Start, max(Timestamp) AS End\n' +
    `FROM ${qualified(o.database, o.tables.traces)}\n` +
    "WHERE TraceId != ''\n" +
    'GROUP BY TraceId'
  );
}

/** The columns of `otel_logs`, in contrib order (the SmartEncoding table derives its own from them). */
export const LOG_COLUMNS: readonly string[] = [
  'Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1))',
  'TimestampTime DateTime DEFAULT toDateTime(Timestamp)',
  'TraceId String CODEC(ZSTD(1))',
  'SpanId String CODEC(ZSTD(1))',
  'TraceFlags UInt8',
  'SeverityText LowCardinality(String) CODEC(ZSTD(1))',
  'SeverityNumber UInt8',
  'ServiceName LowCardinality(String) CODEC(ZSTD(1))',
  'Body String CODEC(ZSTD(1))',
  'ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1))',
  `ResourceAttributes ${ATTR_MAP} CODEC(ZSTD(1))`,
  'ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1))',
  'ScopeName String CODEC(ZSTD(1))',
  'ScopeVersion LowCardinality(String) CODEC(ZSTD(1))',
  `ScopeAttributes ${ATTR_MAP} CODEC(ZSTD(1))`,
  `LogAttributes ${ATTR_MAP} CODEC(ZSTD(1))`,
  'EventName String CODEC(ZSTD(1))',
];

/** The indexes of `otel_logs` other than on its resource. */
export const LOG_INDEXES: readonly string[] = [
  'INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1',
  ...attrIndexes('scope_attr', 'ScopeAttributes'),
  ...attrIndexes('log_attr', 'LogAttributes'),
  'INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8',
];

/** `otel_logs`: one row per log record. */
export function logsTable(o: SchemaOptions): string {
  return table(
    o,
    o.tables.logs,
    [...LOG_COLUMNS, LOG_INDEXES[0], ...attrIndexes('res_attr', 'ResourceAttributes'), ...LOG_INDEXES.slice(1)],
    [
      'PARTITION BY toDate(TimestampTime)',
      'PRIMARY KEY (ServiceName, TimestampTime)',
      'ORDER BY (ServiceName, TimestampTime, Timestamp)',
      ttlClause(o.ttlMs, 'TimestampTime'),
      settings(o),
    ],
  );
}

/** Columns every metrics table starts with, in contrib order. */
export const METRIC_HEAD: readonly string[] = [
  `ResourceAttributes ${ATTR_MAP} CODEC(ZSTD(1))`,
  'ResourceSchemaUrl String CODEC(ZSTD(1))',
  'ScopeName String CODEC(ZSTD(1))',
  'ScopeVersion String CODEC(ZSTD(1))',
  `ScopeAttributes ${ATTR_MAP} CODEC(ZSTD(1))`,
  'ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1))',
  'ScopeSchemaUrl String CODEC(ZSTD(1))',
  'ServiceName LowCardinality(String) CODEC(ZSTD(1))',
  'MetricName String CODEC(ZSTD(1))',
  'MetricDescription String CODEC(ZSTD(1))',
  'MetricUnit String CODEC(ZSTD(1))',
  `Attributes ${ATTR_MAP} CODEC(ZSTD(1))`,
  'StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1))',
  'TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1))',
];

const EXEMPLARS = `Exemplars Nested (FilteredAttributes ${ATTR_MAP}, TimeUnix DateTime64(9), Value Float64, SpanId String, TraceId String) CODEC(ZSTD(1))`;

/** Each metrics table's columns after {@link METRIC_HEAD}, in contrib order. */
export const METRIC_COLUMNS: Readonly<Record<MetricKind, readonly string[]>> = {
  gauge: ['Value Float64 CODEC(ZSTD(1))', 'Flags UInt32 CODEC(ZSTD(1))', EXEMPLARS],
  sum: [
    'Value Float64 CODEC(ZSTD(1))',
    'Flags UInt32 CODEC(ZSTD(1))',
    EXEMPLARS,
    'AggregationTemporality Int32 CODEC(ZSTD(1))',
    'IsMonotonic Boolean CODEC(Delta, ZSTD(1))',
  ],
  histogram: [
    'Count UInt64 CODEC(Delta, ZSTD(1))',
    'Sum Float64 CODEC(ZSTD(1))',
    'BucketCounts Array(UInt64) CODEC(ZSTD(1))',
    'ExplicitBounds Array(Float64) CODEC(ZSTD(1))',
    EXEMPLARS,
    'Flags UInt32 CODEC(ZSTD(1))',
    'Min Float64 CODEC(ZSTD(1))',
    'Max Float64 CODEC(ZSTD(1))',
    'AggregationTemporality Int32 CODEC(ZSTD(1))',
  ],
  exponential_histogram: [
    'Count UInt64 CODEC(Delta, ZSTD(1))',
    'Sum Float64 CODEC(ZSTD(1))',
    'Scale Int32 CODEC(ZSTD(1))',
    'ZeroCount UInt64 CODEC(ZSTD(1))',
    'PositiveOffset Int32 CODEC(ZSTD(1))',
    'PositiveBucketCounts Array(UInt64) CODEC(ZSTD(1))',
    'NegativeOffset Int32 CODEC(ZSTD(1))',
    'NegativeBucketCounts Array(UInt64) CODEC(ZSTD(1))',
    EXEMPLARS,
    'Flags UInt32 CODEC(ZSTD(1))',
    'Min Float64 CODEC(ZSTD(1))',
    'Max Float64 CODEC(ZSTD(1))',
    'AggregationTemporality Int32 CODEC(ZSTD(1))',
  ],
  summary: [
    'Count UInt64 CODEC(Delta, ZSTD(1))',
    'Sum Float64 CODEC(ZSTD(1))',
    'ValueAtQuantiles Nested (Quantile Float64, Value Float64) CODEC(ZSTD(1))',
    'Flags UInt32 CODEC(ZSTD(1))',
  ],
};

/** The indexes of a metrics table other than on its resource. */
export const METRIC_INDEXES: readonly string[] = [...attrIndexes('scope_attr', 'ScopeAttributes'), ...attrIndexes('attr', 'Attributes')];

/** The metrics tables' clauses after the columns; `service` is the column the sort key starts with. */
export function metricTail(o: SchemaOptions, service: string): string[] {
  return [
    'PARTITION BY toDate(TimeUnix)',
    `ORDER BY (${service}, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))`,
    ttlClause(o.ttlMs, 'toDateTime(TimeUnix)'),
    settings(o),
  ];
}

/** The table name of each metric kind. */
export function metricTableNames(t: TableNames): Record<MetricKind, string> {
  return {
    gauge: t.metricsGauge,
    sum: t.metricsSum,
    histogram: t.metricsHistogram,
    exponential_histogram: t.metricsExponentialHistogram,
    summary: t.metricsSummary,
  };
}

/** A contrib metrics table. */
function metricTable(o: SchemaOptions, kind: MetricKind): string {
  return table(
    o,
    metricTableNames(o.tables)[kind],
    [...METRIC_HEAD, ...METRIC_COLUMNS[kind], ...attrIndexes('res_attr', 'ResourceAttributes'), ...METRIC_INDEXES],
    metricTail(o, 'ServiceName'),
  );
}

/** `otel_metrics_gauge`. */
export function gaugeTable(o: SchemaOptions): string {
  return metricTable(o, 'gauge');
}

/** `otel_metrics_sum`. */
export function sumTable(o: SchemaOptions): string {
  return metricTable(o, 'sum');
}

/** `otel_metrics_histogram`. */
export function histogramTable(o: SchemaOptions): string {
  return metricTable(o, 'histogram');
}

/** `otel_metrics_exponential_histogram`. */
export function exponentialHistogramTable(o: SchemaOptions): string {
  return metricTable(o, 'exponential_histogram');
}

/** `otel_metrics_summary`. */
export function summaryTable(o: SchemaOptions): string {
  return metricTable(o, 'summary');
}

/** One schema change. `statements` must be idempotent (see the module doc). */
export interface Migration {
  readonly version: number;
  readonly name: string;
  statements(o: SchemaOptions): string[];
}

/** Every migration, in order. Append only. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'traces tables', statements: (o) => [tracesTable(o), traceIdTsTable(o), traceIdTsView(o)] },
  { version: 2, name: 'logs table', statements: (o) => [logsTable(o)] },
  {
    version: 3,
    name: 'metrics tables',
    statements: (o) => [gaugeTable(o), sumTable(o), histogramTable(o), exponentialHistogramTable(o), summaryTable(o)],
  },
];

/** The bookkeeping table's name inside the telemetry database. */
export const MIGRATIONS_TABLE = 'schema_migrations';

/** The key under which migrations of one set of table names are recorded. */
export function tablesKey(t: TableNames): string {
  return [t.traces, t.traceIdTs, t.logs, t.metricsGauge, t.metricsSum, t.metricsHistogram, t.metricsExponentialHistogram, t.metricsSummary].join('|');
}

/** Table names derived from the configured ones. */
export function tableNames(traces: string, logs: string, metrics: { gauge: string; sum: string; histogram: string; exponentialHistogram: string; summary: string }): TableNames {
  return {
    traces,
    traceIdTs: `${traces}_trace_id_ts`,
    logs,
    metricsGauge: metrics.gauge,
    metricsSum: metrics.sum,
    metricsHistogram: metrics.histogram,
    metricsExponentialHistogram: metrics.exponentialHistogram,
    metricsSummary: metrics.summary,
  };
}

/**
 * Creates the database and bookkeeping table, then applies the migrations
 * not yet recorded for these table names. Returns the versions applied.
 */
export async function migrate(exec: SchemaExecutor, o: SchemaOptions, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const cluster = onCluster(o);
  const bookkeeping = qualified(o.database, MIGRATIONS_TABLE);
  await exec.command(`CREATE DATABASE IF NOT EXISTS ${ident(o.database)}${cluster}`);
  await exec.command(
    `CREATE TABLE IF NOT EXISTS ${bookkeeping}${cluster} (version UInt32, name String, tables String, applied_at DateTime DEFAULT now()) ` +
      'ENGINE = ReplacingMergeTree ORDER BY (tables, version)',
  );
  const key = tablesKey(o.tables);
  const rows = await exec.select(`SELECT DISTINCT version FROM ${bookkeeping} WHERE tables = ${literal(key)}`);
  const done = new Set(rows.map((r) => Number(r[0])));
  const applied: number[] = [];
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    for (const sql of m.statements(o)) {
      try {
        await exec.command(sql);
      } catch (err) {
        throw await migrationError(exec, m, sql, err);
      }
    }
    await exec.command(`INSERT INTO ${bookkeeping} (version, name, tables) VALUES (${m.version}, ${literal(m.name)}, ${literal(key)})`);
    applied.push(m.version);
  }
  return applied;
}

/** Wraps a failed migration statement's error with which migration and statement failed, and the server version. */
async function migrationError(exec: SchemaExecutor, m: Migration, sql: string, err: unknown): Promise<unknown> {
  if (!(err instanceof StoreError)) return err;
  let version = 'unknown';
  try {
    version = String((await exec.select('SELECT version()'))[0]?.[0] ?? 'unknown');
  } catch {
    // Keep the original error; the version is only a hint.
  }
  const statement = sql.replace(/\s+/g, ' ').slice(0, 100);
  return new StoreError(
    err.code,
    `schema migration ${m.version} (${m.name}) failed on "${statement}…": ${err.message} ` +
      `(the schema is the contrib exporter's and needs DateTime64, Map, Bool and column CODECs; server version ${version})`,
    { retryable: err.retryable, clickhouseCode: err.clickhouseCode, cause: err },
  );
}

/**
 * The spans of one trace, bounded by the trace's time range from the lookup
 * table so only the partitions and granules of that range are read. Bind
 * `{trace_id:String}`. Start/End have second precision, hence the one-second
 * widening of the upper bound. The bounds are converted to DateTime64(9)
 * explicitly: the engine (chDB 3.4 / ClickHouse 26.7) drops matching rows
 * when a DateTime64 key column is compared with a plain DateTime with `<`.
 */
export function traceByIdSQL(database: string, tables: TableNames): string {
  const ts = qualified(database, tables.traceIdTs);
  return (
    `WITH (SELECT (min(Start), max(End)) FROM ${ts} WHERE TraceId = {trace_id:String}) AS range\n` +
    `SELECT * FROM ${qualified(database, tables.traces)}\n` +
    'WHERE TraceId = {trace_id:String} AND Timestamp >= toDateTime64(range.1, 9) AND Timestamp < toDateTime64(range.2 + 1, 9)\n' +
    'ORDER BY Timestamp'
  );
}
