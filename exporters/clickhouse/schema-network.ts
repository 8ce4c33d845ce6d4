/**
 * The network tables: `flow_log` (one row per flow log, the pcap receiver's
 * log records with eventName `metaflow.flow_log`) and `network_metrics` (one
 * row per server endpoint, granularity and interval, pivoted from the
 * `metaflow.network.*` metrics). Column sets come from the contract in
 * protocols/flow/signals.ts.
 *
 * Migrations of these tables are their own series, recorded in
 * `<database>.network_schema_migrations` (the core series and its
 * bookkeeping in schema.ts stay as they are). The same rules apply: ordered,
 * append-only, every statement idempotent. Versions start at 100 so they can
 * never be mistaken for core versions.
 */
import { FLOW_LOG_COUNTERS, NETWORK_METRICS } from '../../protocols/flow/signals';
import { ident, literal, qualified, ttlClause, type Migration, type SchemaExecutor, type SchemaOptions } from './schema';

/** Name of the flow-log table. */
export const FLOW_LOG_TABLE = 'flow_log';
/** Name of the network-metrics table. */
export const NETWORK_METRICS_TABLE = 'network_metrics';
/** The bookkeeping table of this series. */
export const NETWORK_MIGRATIONS_TABLE = 'network_schema_migrations';

const ATTR_MAP = 'Map(LowCardinality(String), String)';

function onCluster(o: SchemaOptions): string {
  return o.cluster ? ` ON CLUSTER ${ident(o.cluster)}` : '';
}

/** `CREATE TABLE` of a network table (SmartEncoding's `flow_log_encoded` too). */
export function networkTable(o: SchemaOptions, name: string, columns: readonly string[], tail: readonly string[]): string {
  const settings = `SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1${o.tableSettings ? `, ${o.tableSettings}` : ''}`;
  return (
    `CREATE TABLE IF NOT EXISTS ${qualified(o.database, name)}${onCluster(o)} (\n    ` +
    columns.join(',\n    ') +
    `\n) ENGINE = ${o.engine.name}(${o.engine.params})\n` +
    [...tail, settings].filter((l) => l !== '').join('\n')
  );
}

/** Counter columns of `flow_log`: counts UInt64, times (µs) Float64. */
export function flowLogCounterColumns(): Array<[string, string]> {
  return FLOW_LOG_COUNTERS.map((k) => [k.column, k.time ? 'Float64' : 'UInt64']);
}

/** Counter columns of `network_metrics`, from the metric definitions. */
export function networkCounterColumns(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const def of NETWORK_METRICS) {
    if (def.kind === 'time') {
      out.push([`${def.column}Sum`, 'Float64'], [`${def.column}Count`, 'UInt64'], [`${def.column}Max`, 'Float64']);
    } else if (def.serverSlot >= 0) {
      out.push([`Client${def.column}`, 'UInt64'], [`Server${def.column}`, 'UInt64']);
    } else {
      out.push([def.column, 'UInt64']);
    }
  }
  return out;
}

/** The columns of `flow_log`, in order (SmartEncoding's table derives its own from them). */
export const FLOW_LOG_COLUMNS: readonly string[] = [
  'Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1))',
  'IntervalStart DateTime64(9) CODEC(Delta(8), ZSTD(1))',
  'StartTime DateTime64(9) CODEC(Delta(8), ZSTD(1))',
  'Duration UInt64 CODEC(T64, ZSTD(1))',
  'HostName LowCardinality(String) CODEC(ZSTD(1))',
  'FlowId UInt64 CODEC(ZSTD(1))',
  'Interface LowCardinality(String) CODEC(ZSTD(1))',
  'Transport LowCardinality(String) CODEC(ZSTD(1))',
  'IpVersion UInt8',
  'ClientIp String CODEC(ZSTD(1))',
  'ClientPort UInt32 CODEC(ZSTD(1))',
  'ServerIp String CODEC(ZSTD(1))',
  'ServerPort UInt32 CODEC(ZSTD(1))',
  'L7Protocol LowCardinality(String) CODEC(ZSTD(1))',
  'TunnelType LowCardinality(String) CODEC(ZSTD(1))',
  'TunnelId UInt32 CODEC(ZSTD(1))',
  'Vlan Int32 CODEC(ZSTD(1))',
  'State LowCardinality(String) CODEC(ZSTD(1))',
  'Closed Bool',
  'CloseType LowCardinality(String) CODEC(ZSTD(1))',
  'TcpFlagsClient UInt32 CODEC(ZSTD(1))',
  'TcpFlagsServer UInt32 CODEC(ZSTD(1))',
  ...flowLogCounterColumns().map(([n, t]) => `${n} ${t} CODEC(ZSTD(1))`),
  `ResourceAttributes ${ATTR_MAP} CODEC(ZSTD(1))`,
  `Attributes ${ATTR_MAP} CODEC(ZSTD(1))`,
];

/** The indexes of `flow_log`. */
export const FLOW_LOG_INDEXES: readonly string[] = [
  'INDEX idx_client_ip ClientIp TYPE bloom_filter(0.01) GRANULARITY 1',
  'INDEX idx_server_ip ServerIp TYPE bloom_filter(0.01) GRANULARITY 1',
];

/** The clauses of `flow_log` after its columns. */
export function flowLogTail(o: SchemaOptions): string[] {
  return ['PARTITION BY toDate(Timestamp)', 'ORDER BY (ServerIp, ServerPort, toDateTime(Timestamp), Timestamp)', ttlClause(o.ttlMs, 'toDateTime(Timestamp)')];
}

/** `flow_log`: one row per flow and interval (and one when the flow ended). */
export function flowLogTable(o: SchemaOptions): string {
  return networkTable(o, FLOW_LOG_TABLE, [...FLOW_LOG_COLUMNS, ...FLOW_LOG_INDEXES], flowLogTail(o));
}

/**
 * `network_metrics`: one row per server endpoint, granularity (`1s`, `1m`)
 * and interval start. Rows of one interval may arrive in several parts
 * (batches split metrics): query with sum() and max() grouped by the key.
 */
export function networkMetricsTable(o: SchemaOptions): string {
  return networkTable(
    o,
    NETWORK_METRICS_TABLE,
    [
      'Timestamp DateTime CODEC(Delta, ZSTD(1))',
      'Granularity LowCardinality(String) CODEC(ZSTD(1))',
      'HostName LowCardinality(String) CODEC(ZSTD(1))',
      'ServerIp String CODEC(ZSTD(1))',
      'ServerPort UInt32 CODEC(ZSTD(1))',
      'Transport LowCardinality(String) CODEC(ZSTD(1))',
      'Overflow Bool',
      ...networkCounterColumns().map(([n, t]) => `${n} ${t} CODEC(ZSTD(1))`),
      'INDEX idx_server_ip ServerIp TYPE bloom_filter(0.01) GRANULARITY 1',
    ],
    ['PARTITION BY toDate(Timestamp)', 'ORDER BY (Granularity, ServerIp, ServerPort, Transport, Timestamp)', ttlClause(o.ttlMs, 'Timestamp')],
  );
}

/** The network series, in order. Append only. */
export const NETWORK_MIGRATIONS: readonly Migration[] = [{ version: 100, name: 'flow_log and network_metrics tables', statements: (o) => [flowLogTable(o), networkMetricsTable(o)] }];

/**
 * Applies the network migrations not yet recorded in this database; returns
 * the versions applied.
 */
export async function migrateNetwork(exec: SchemaExecutor, o: SchemaOptions, migrations: readonly Migration[] = NETWORK_MIGRATIONS): Promise<number[]> {
  const cluster = onCluster(o);
  const bookkeeping = qualified(o.database, NETWORK_MIGRATIONS_TABLE);
  await exec.command(`CREATE DATABASE IF NOT EXISTS ${ident(o.database)}${cluster}`);
  await exec.command(`CREATE TABLE IF NOT EXISTS ${bookkeeping}${cluster} (version UInt32, name String, applied_at DateTime DEFAULT now()) ENGINE = ReplacingMergeTree ORDER BY version`);
  const rows = await exec.select(`SELECT DISTINCT version FROM ${bookkeeping}`);
  const done = new Set(rows.map((r) => Number(r[0])));
  const applied: number[] = [];
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    for (const sql of m.statements(o)) await exec.command(sql);
    await exec.command(`INSERT INTO ${bookkeeping} (version, name) VALUES (${m.version}, ${literal(m.name)})`);
    applied.push(m.version);
  }
  return applied;
}
