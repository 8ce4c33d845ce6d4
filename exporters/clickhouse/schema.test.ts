/**
 * The schema against the real engine: contrib-compatible column names and
 * types (as system.columns reports them), idempotent migrations, TTL, the
 * trace-id lookup table and its view.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChdbStore } from './store-chdb';
import { MIGRATIONS, migrate, tableNames, ttlClause, type SchemaOptions } from './schema';

const TABLES = tableNames('otel_traces', 'otel_logs', {
  gauge: 'otel_metrics_gauge',
  sum: 'otel_metrics_sum',
  histogram: 'otel_metrics_histogram',
  exponentialHistogram: 'otel_metrics_exponential_histogram',
  summary: 'otel_metrics_summary',
});

let dir: string;
let store: ChdbStore;

function options(database: string, ttlMs = 0): SchemaOptions {
  return { database, tables: TABLES, ttlMs, cluster: '', engine: { name: 'MergeTree', params: '' } };
}

function executor(s: ChdbStore) {
  return { command: (sql: string) => s.command(sql), select: async (sql: string) => (await s.query(sql)).rows };
}

async function columns(database: string, table: string): Promise<Array<[string, string]>> {
  const r = await store.query(`SELECT name, type FROM system.columns WHERE database = '${database}' AND table = '${table}' ORDER BY position`);
  return r.rows as Array<[string, string]>;
}

const MAP = 'Map(LowCardinality(String), String)';

/** The contrib exporter's metric columns, shared by all five tables. */
const METRIC_HEAD: Array<[string, string]> = [
  ['ResourceAttributes', MAP],
  ['ResourceSchemaUrl', 'String'],
  ['ScopeName', 'String'],
  ['ScopeVersion', 'String'],
  ['ScopeAttributes', MAP],
  ['ScopeDroppedAttrCount', 'UInt32'],
  ['ScopeSchemaUrl', 'String'],
  ['ServiceName', 'LowCardinality(String)'],
  ['MetricName', 'String'],
  ['MetricDescription', 'String'],
  ['MetricUnit', 'String'],
  ['Attributes', MAP],
  ['StartTimeUnix', 'DateTime64(9)'],
  ['TimeUnix', 'DateTime64(9)'],
];

const EXEMPLARS: Array<[string, string]> = [
  ['Exemplars.FilteredAttributes', `Array(${MAP})`],
  ['Exemplars.TimeUnix', 'Array(DateTime64(9))'],
  ['Exemplars.Value', 'Array(Float64)'],
  ['Exemplars.SpanId', 'Array(String)'],
  ['Exemplars.TraceId', 'Array(String)'],
];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-schema-'));
  store = ChdbStore.open({ dataDir: path.join(dir, 'data'), database: 'metaflow', tables: TABLES });
  await migrate(executor(store), options('metaflow'));
});

afterAll(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('telemetry schema', () => {
  test('otel_traces has the contrib columns and types', async () => {
    expect(await columns('metaflow', 'otel_traces')).toEqual([
      ['Timestamp', 'DateTime64(9)'],
      ['TraceId', 'String'],
      ['SpanId', 'String'],
      ['ParentSpanId', 'String'],
      ['TraceState', 'String'],
      ['SpanName', 'LowCardinality(String)'],
      ['SpanKind', 'LowCardinality(String)'],
      ['ServiceName', 'LowCardinality(String)'],
      ['ResourceAttributes', MAP],
      ['ScopeName', 'String'],
      ['ScopeVersion', 'String'],
      ['SpanAttributes', MAP],
      ['Duration', 'UInt64'],
      ['StatusCode', 'LowCardinality(String)'],
      ['StatusMessage', 'String'],
      ['Events.Timestamp', 'Array(DateTime64(9))'],
      ['Events.Name', 'Array(LowCardinality(String))'],
      ['Events.Attributes', `Array(${MAP})`],
      ['Links.TraceId', 'Array(String)'],
      ['Links.SpanId', 'Array(String)'],
      ['Links.TraceState', 'Array(String)'],
      ['Links.Attributes', `Array(${MAP})`],
    ]);
  });

  test('otel_traces has the bloom-filter skip indexes, partitioning and sort key of the contrib table', async () => {
    const idx = await store.query(`SELECT name, type_full FROM system.data_skipping_indices WHERE database = 'metaflow' AND table = 'otel_traces' ORDER BY name`);
    expect(idx.rows).toEqual([
      ['idx_duration', 'minmax'],
      ['idx_lower_span_name', 'tokenbf_v1(32768, 3, 0)'],
      ['idx_res_attr_key', 'bloom_filter(0.01)'],
      ['idx_res_attr_value', 'bloom_filter(0.01)'],
      ['idx_span_attr_key', 'bloom_filter(0.01)'],
      ['idx_span_attr_value', 'bloom_filter(0.01)'],
      ['idx_trace_id', 'bloom_filter(0.001)'],
    ]);
    const t = await store.query(`SELECT engine, partition_key, sorting_key, primary_key FROM system.tables WHERE database = 'metaflow' AND name = 'otel_traces'`);
    expect(t.rows).toEqual([
      ['MergeTree', 'toDate(Timestamp)', 'ServiceName, SpanName, toDateTime(Timestamp), Timestamp', 'ServiceName, SpanName, toDateTime(Timestamp)'],
    ]);
  });

  test('the trace id lookup table and its materialized view exist with the contrib shape', async () => {
    expect(await columns('metaflow', 'otel_traces_trace_id_ts')).toEqual([
      ['TraceId', 'String'],
      ['Start', 'SimpleAggregateFunction(min, DateTime)'],
      ['End', 'SimpleAggregateFunction(max, DateTime)'],
    ]);
    const t = await store.query(
      `SELECT name, engine FROM system.tables WHERE database = 'metaflow' AND name LIKE 'otel_traces_trace_id_ts%' ORDER BY name`,
    );
    expect(t.rows).toEqual([
      ['otel_traces_trace_id_ts', 'AggregatingMergeTree'],
      ['otel_traces_trace_id_ts_mv', 'MaterializedView'],
    ]);
  });

  test('otel_logs has the contrib columns and types', async () => {
    expect(await columns('metaflow', 'otel_logs')).toEqual([
      ['Timestamp', 'DateTime64(9)'],
      ['TimestampTime', 'DateTime'],
      ['TraceId', 'String'],
      ['SpanId', 'String'],
      ['TraceFlags', 'UInt8'],
      ['SeverityText', 'LowCardinality(String)'],
      ['SeverityNumber', 'UInt8'],
      ['ServiceName', 'LowCardinality(String)'],
      ['Body', 'String'],
      ['ResourceSchemaUrl', 'LowCardinality(String)'],
      ['ResourceAttributes', MAP],
      ['ScopeSchemaUrl', 'LowCardinality(String)'],
      ['ScopeName', 'String'],
      ['ScopeVersion', 'LowCardinality(String)'],
      ['ScopeAttributes', MAP],
      ['LogAttributes', MAP],
      ['EventName', 'String'],
    ]);
  });

  test('the five metrics tables have the contrib columns and types', async () => {
    expect(await columns('metaflow', 'otel_metrics_gauge')).toEqual([...METRIC_HEAD, ['Value', 'Float64'], ['Flags', 'UInt32'], ...EXEMPLARS]);
    expect(await columns('metaflow', 'otel_metrics_sum')).toEqual([
      ...METRIC_HEAD,
      ['Value', 'Float64'],
      ['Flags', 'UInt32'],
      ...EXEMPLARS,
      ['AggregationTemporality', 'Int32'],
      ['IsMonotonic', 'Bool'],
    ]);
    expect(await columns('metaflow', 'otel_metrics_histogram')).toEqual([
      ...METRIC_HEAD,
      ['Count', 'UInt64'],
      ['Sum', 'Float64'],
      ['BucketCounts', 'Array(UInt64)'],
      ['ExplicitBounds', 'Array(Float64)'],
      ...EXEMPLARS,
      ['Flags', 'UInt32'],
      ['Min', 'Float64'],
      ['Max', 'Float64'],
      ['AggregationTemporality', 'Int32'],
    ]);
    expect(await columns('metaflow', 'otel_metrics_exponential_histogram')).toEqual([
      ...METRIC_HEAD,
      ['Count', 'UInt64'],
      ['Sum', 'Float64'],
      ['Scale', 'Int32'],
      ['ZeroCount', 'UInt64'],
      ['PositiveOffset', 'Int32'],
      ['PositiveBucketCounts', 'Array(UInt64)'],
      ['NegativeOffset', 'Int32'],
      ['NegativeBucketCounts', 'Array(UInt64)'],
      ...EXEMPLARS,
      ['Flags', 'UInt32'],
      ['Min', 'Float64'],
      ['Max', 'Float64'],
      ['AggregationTemporality', 'Int32'],
    ]);
    expect(await columns('metaflow', 'otel_metrics_summary')).toEqual([
      ...METRIC_HEAD,
      ['Count', 'UInt64'],
      ['Sum', 'Float64'],
      ['ValueAtQuantiles.Quantile', 'Array(Float64)'],
      ['ValueAtQuantiles.Value', 'Array(Float64)'],
      ['Flags', 'UInt32'],
    ]);
  });

  test('migrating again applies nothing and records each version once', async () => {
    expect(await migrate(executor(store), options('metaflow'))).toEqual([]);
    const r = await store.query('SELECT version, name FROM metaflow.schema_migrations FINAL ORDER BY version');
    expect(r.rows).toEqual(MIGRATIONS.map((m) => [m.version, m.name]));
  });

  test('a new migration is applied once, after the recorded ones', async () => {
    const next = [
      ...MIGRATIONS,
      {
        version: MIGRATIONS.length + 1,
        name: 'test column',
        statements: (o: SchemaOptions) => [`ALTER TABLE ${o.database}.${o.tables.traces} ADD COLUMN IF NOT EXISTS TestColumn String DEFAULT 'x'`],
      },
    ];
    expect(await migrate(executor(store), options('metaflow_next'), next)).toEqual([1, 2, 3, 4]);
    expect(await migrate(executor(store), options('metaflow_next'), next)).toEqual([]);
    const cols = await columns('metaflow_next', 'otel_traces');
    expect(cols[cols.length - 1]).toEqual(['TestColumn', 'String']);
  });

  test('a configured TTL is part of every data table, in the coarsest whole unit', async () => {
    await migrate(executor(store), options('metaflow_ttl', 72 * 3600 * 1000));
    const r = await store.query(`SELECT name, create_table_query FROM system.tables WHERE database = 'metaflow_ttl' AND engine LIKE '%MergeTree' AND name != 'schema_migrations' ORDER BY name`);
    const ttl = Object.fromEntries(r.rows.map(([name, q]) => [name, /TTL (.*?) SETTINGS/.exec(String(q))?.[1]]));
    expect(ttl).toEqual({
      otel_logs: 'TimestampTime + toIntervalDay(3)',
      otel_metrics_exponential_histogram: 'toDateTime(TimeUnix) + toIntervalDay(3)',
      otel_metrics_gauge: 'toDateTime(TimeUnix) + toIntervalDay(3)',
      otel_metrics_histogram: 'toDateTime(TimeUnix) + toIntervalDay(3)',
      otel_metrics_sum: 'toDateTime(TimeUnix) + toIntervalDay(3)',
      otel_metrics_summary: 'toDateTime(TimeUnix) + toIntervalDay(3)',
      otel_traces: 'toDateTime(Timestamp) + toIntervalDay(3)',
      otel_traces_trace_id_ts: 'toDateTime(Start) + toIntervalDay(3)',
    });
    const none = await store.query(`SELECT count() FROM system.tables WHERE database = 'metaflow' AND create_table_query LIKE '% TTL %'`);
    expect(none.rows).toEqual([['0']]);
  });

  test('ttlClause picks days, hours, minutes or seconds', () => {
    expect(ttlClause(0, 'x')).toBe('');
    expect(ttlClause(48 * 3600e3, 'x')).toBe('TTL x + toIntervalDay(2)');
    expect(ttlClause(90 * 60e3, 'x')).toBe('TTL x + toIntervalMinute(90)');
    expect(ttlClause(5 * 3600e3, 'x')).toBe('TTL x + toIntervalHour(5)');
    expect(ttlClause(61e3, 'x')).toBe('TTL x + toIntervalSecond(61)');
  });
});
