/**
 * SmartEncoding against plain String and LowCardinality(String) tag columns
 * (issue 6), in one run, on the same spans, in embedded chDB.
 *
 * Run (not part of the tests):
 *
 *     npx tsc -p tsconfig.json
 *     node dist/bench/smartencoding.js [--spans 10000000] [--rate 200000] [--zero-code] [--columns]
 *
 * `--columns` also prints each layout's span table column by column.
 *
 * Data: test/helpers/tagged-spans.ts — 50 services, 2,000 pods, 200
 * endpoints, 40 resource attributes per pod (32 service/host/process/
 * container/Kubernetes/cloud attributes, 5 pod labels, 3 annotations), 4
 * span attributes, traces of five spans, start times spread over two hours.
 *
 * Layouts, each in its own database, each written by the real clickhouse
 * exporter (queue, Native block, temp file, INSERT … SELECT FROM file):
 *
 * - smart: `smart_encoding: true` (schema-smart.ts).
 * - string: the contrib table with every LowCardinality(String) as String
 *   (ServiceName, SpanName, SpanKind, StatusCode, map keys).
 * - lowcardinality: the contrib table with the resource and span attribute
 *   values LowCardinality(String) too (names and keys already are).
 *
 * `--zero-code` gives every span the ~30 extra attributes of an eBPF span
 * after AutoTagging (tagged-spans.ts), most of which SmartEncoding stores as
 * ids; without it the spans look like an OTel SDK's (4 attributes).
 *
 * Disk is also split into the columns every layout stores alike (trace,
 * span and parent ids, timestamp, duration: random or near-random, the same
 * bytes in all three) and the rest (the tags, attributes, status, …), the
 * part the layouts differ in: the span table's bytes on disk times the
 * shared columns' share of a copy of the table in one wide part (small
 * parts are compact and have no per-column sizes). Every layout gets the same spans at
 * a fixed offered rate (`--rate`, default 200,000 spans/s; when the store
 * cannot keep up the queue blocks and the achieved rate is printed).
 *
 * Figures per layout: bytes on disk of the span tables (system.parts,
 * active parts, with the tag and resource tables for smart; the trace-id
 * lookup table is the same in all and left out), process CPU seconds from
 * the first batch until the inserts and merges have settled (the engine
 * runs in this process, so that is encoding plus storing), peak RSS during
 * that time, and the median of 5 runs of three queries through the store
 * the query service uses: a service's endpoints over one hour grouped, a
 * trace by id (with its lookup table, as the Jaeger API does), and a pod
 * label filter. The answers of the three layouts are checked to be equal.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ComponentID, type Host } from '../pipeline/component';
import { nopLogger } from '../pipeline/logger';
import type { SqlStore } from '../pipeline/storage';
import { nopTelemetry } from '../pipeline/telemetry';
import { factory } from '../exporters/clickhouse';
import type { ClickHouseExporter } from '../exporters/clickhouse/exporter';
import { tracesTable, type SchemaOptions, tableNames } from '../exporters/clickhouse/schema';
import { TaggedSpans } from '../test/helpers/tagged-spans';

const host: Host = { getExtension: () => undefined, getComponent: () => undefined, listComponents: () => [] };

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} needs a positive number`);
  return v;
}

const SPANS = arg('spans', 10_000_000);
const RATE = arg('rate', 200_000);
const ZERO_CODE = process.argv.includes('--zero-code');
const COLUMNS = process.argv.includes('--columns');
/** The span columns every layout stores alike: random ids and times. */
const COMMON_COLUMNS = ['TraceId', 'SpanId', 'ParentSpanId', 'Timestamp', 'Duration'];

type Layout = 'smart' | 'string' | 'lowcardinality';
const LAYOUTS: Layout[] = ['smart', 'string', 'lowcardinality'];

interface Result {
  layout: Layout;
  bytes: number;
  /** Of `bytes`, the columns every layout stores alike. */
  common: number;
  uncompressed: number;
  cpuS: number;
  wallS: number;
  peakRssMB: number;
  q: number[];
  answers: unknown[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The contrib DDL of `otel_traces` turned into a baseline layout. */
function baselineDDL(layout: Exclude<Layout, 'smart'>, o: SchemaOptions): string {
  const ddl = tracesTable(o);
  if (layout === 'string') {
    return ddl.replace(/LowCardinality\(String\)/g, 'String');
  }
  return ddl
    .replace('ResourceAttributes Map(LowCardinality(String), String)', 'ResourceAttributes Map(LowCardinality(String), LowCardinality(String))')
    .replace('SpanAttributes Map(LowCardinality(String), String)', 'SpanAttributes Map(LowCardinality(String), LowCardinality(String))');
}

async function settle(store: SqlStore, database: string): Promise<void> {
  // Merges of the inserted parts are part of the cost of storing.
  for (let quiet = 0; quiet < 3; ) {
    const r = await store.query(`SELECT count() FROM system.merges WHERE database = '${database}'`);
    quiet = Number(r.rows[0][0]) === 0 ? quiet + 1 : 0;
    await sleep(500);
  }
}

async function bytesOnDisk(store: SqlStore, database: string, lookup: string): Promise<[number, number]> {
  const r = await store.query(
    `SELECT sum(bytes_on_disk), sum(data_uncompressed_bytes) FROM system.parts WHERE active AND database = '${database}' AND table != '${lookup}' AND table NOT LIKE '%migrations'`,
  );
  return [Number(r.rows[0][0]), Number(r.rows[0][1])];
}

/**
 * Compressed bytes per column of the span table. Small parts are compact
 * (one file, no per-column sizes), so the rows are copied, in the table's
 * sort order and with its codecs, into one wide part of a scratch table,
 * which is measured and dropped.
 */
async function columnBytes(store: SqlStore & { command(sql: string): Promise<void> }, database: string, table: string): Promise<Array<[string, number, number]>> {
  const key = await store.query(`SELECT sorting_key FROM system.tables WHERE database = '${database}' AND name = '${table}'`);
  const scratch = `${database}.column_sizes`;
  await store.command(`DROP TABLE IF EXISTS ${scratch}`);
  await store.command(`CREATE TABLE ${scratch} AS ${database}.${table} ENGINE = MergeTree ORDER BY (${String(key.rows[0][0])}) SETTINGS min_bytes_for_wide_part = 0, min_rows_for_wide_part = 0`);
  await store.command(`INSERT INTO ${scratch} SELECT * FROM ${database}.${table}`);
  await store.command(`OPTIMIZE TABLE ${scratch} FINAL`);
  const r = await store.query(`SELECT name, data_compressed_bytes, data_uncompressed_bytes FROM system.columns WHERE database = '${database}' AND table = 'column_sizes' ORDER BY data_compressed_bytes DESC`);
  await store.command(`DROP TABLE ${scratch}`);
  return r.rows.map((x) => [String(x[0]), Number(x[1]), Number(x[2])]);
}

async function timed(store: SqlStore, sql: string, params?: Record<string, string>): Promise<{ ms: number; rows: unknown[][] }> {
  const times: number[] = [];
  let rows: unknown[][] = [];
  for (let i = 0; i < 5; i++) {
    const t = process.hrtime.bigint();
    rows = (await store.query(sql, { params })).rows;
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { ms: times[2], rows };
}

async function run(layout: Layout, dataDir: string): Promise<Result> {
  const database = `bench_${layout}`;
  const cfg = factory.config.parseOrThrow({
    data_dir: dataDir,
    database,
    smart_encoding: layout === 'smart',
    sending_queue: { queue_size: 4, block_on_overflow: true },
  });
  const exp = factory.create({ id: new ComponentID('clickhouse', layout), kind: 'exporter', logger: nopLogger, telemetry: nopTelemetry() }, cfg, new Set(['traces'])) as ClickHouseExporter;
  if (layout !== 'smart') {
    // Create the baseline table first; the exporter's migration then keeps it (CREATE … IF NOT EXISTS).
    const { ChdbStore } = await import('../exporters/clickhouse/store-chdb');
    const tables = tableNames('otel_traces', 'otel_logs', {
      gauge: 'otel_metrics_gauge',
      sum: 'otel_metrics_sum',
      histogram: 'otel_metrics_histogram',
      exponentialHistogram: 'otel_metrics_exponential_histogram',
      summary: 'otel_metrics_summary',
    });
    const st = ChdbStore.open({ dataDir, database, tables });
    await st.command(`CREATE DATABASE IF NOT EXISTS ${database}`);
    await st.command(baselineDDL(layout, { database, tables, ttlMs: 0, cluster: '', engine: { name: 'MergeTree', params: '' }, tableSettings: 'min_bytes_for_wide_part = 134217728' }));
    await st.close();
  }
  await exp.start(host);
  const store = exp.store()!;
  const gen = new TaggedSpans({ zeroCode: ZERO_CODE });
  const consumer = exp.consumers.traces!;
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 100);
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  let sent = 0;
  while (sent < SPANS) {
    const due = t0 + (sent / RATE) * 1000;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    const batch = gen.batch();
    await consumer.consume(batch);
    sent += gen.batchSize;
  }
  await (consumer as unknown as { idle(): Promise<void> }).idle();
  const insertWall = (Date.now() - t0) / 1000;
  await settle(store, database);
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  const [bytes, uncompressed] = await bytesOnDisk(store, database, 'otel_traces_trace_id_ts');
  const spanTable = layout === 'smart' ? 'otel_traces_encoded' : 'otel_traces';
  const cols = await columnBytes(store as SqlStore & { command(sql: string): Promise<void> }, database, spanTable);
  // The shared columns' share of the span table, applied to its bytes on disk.
  const measured = cols.reduce((a, c) => a + c[1], 0);
  const shared = cols.filter((c) => COMMON_COLUMNS.includes(c[0])).reduce((a, c) => a + c[1], 0);
  const tableBytes = Number((await store.query(`SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = '${database}' AND table = '${spanTable}'`)).rows[0][0]);
  const common = measured > 0 ? (tableBytes * shared) / measured : 0;
  if (COLUMNS) {
    const others = await store.query(
      `SELECT table, sum(bytes_on_disk) FROM system.parts WHERE active AND database = '${database}' AND table NOT IN ('${spanTable}', 'otel_traces_trace_id_ts') AND table NOT LIKE '%migrations' GROUP BY table`,
    );
    console.log(`  ${layout} by column (compressed / raw MB, one wide part): ${cols.map((c) => `${c[0]} ${(c[1] / 1e6).toFixed(1)}/${(c[2] / 1e6).toFixed(0)}`).join(', ')}`);
    if (others.rows.length) console.log(`  ${layout} other tables (MB on disk): ${others.rows.map((r) => `${String(r[0])} ${(Number(r[1]) / 1e6).toFixed(2)}`).join(', ')}`);
  }

  // Queries: the middle hour of the data, the busiest service, a trace from the middle, a label.
  const from = gen.startNs + (BigInt(sent) * gen.stepNs) / 4n;
  const to = from + 3_600_000_000_000n;
  const fromS = `toDateTime64(${(Number(from / 1000n) / 1e6).toFixed(6)}, 9)`;
  const toS = `toDateTime64(${(Number(to / 1000n) / 1e6).toFixed(6)}, 9)`;
  const q1 = await timed(
    store,
    `SELECT SpanName, count() AS spans, round(avg(Duration)) AS avg_ns FROM otel_traces WHERE ServiceName = 'svc-07' AND Timestamp >= ${fromS} AND Timestamp < ${toS} GROUP BY SpanName ORDER BY SpanName`,
  );
  const someTrace = await store.query(`SELECT TraceId FROM otel_traces_trace_id_ts ORDER BY TraceId LIMIT 1 OFFSET 1000`);
  const traceId = String(someTrace.rows[0]?.[0] ?? '');
  const q2 = await timed(
    store,
    `WITH (SELECT (min(Start), max(End)) FROM otel_traces_trace_id_ts WHERE TraceId = {id:String}) AS range
     SELECT TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, toString(toUnixTimestamp64Nano(Timestamp)) AS ts, Duration, ResourceAttributes, SpanAttributes, StatusCode
     FROM otel_traces WHERE TraceId = {id:String} AND Timestamp >= toDateTime64(range.1, 9) AND Timestamp < toDateTime64(range.2 + 1, 9) ORDER BY Timestamp, SpanId`,
    { id: traceId },
  );
  const q3 = await timed(
    store,
    `SELECT ServiceName, count() AS spans FROM otel_traces WHERE ResourceAttributes['k8s.pod.label.team'] = 'team-3' AND ResourceAttributes['k8s.pod.label.version'] = 'v2' AND Timestamp >= ${fromS} AND Timestamp < ${toS} GROUP BY ServiceName ORDER BY ServiceName`,
  );
  await exp.shutdown();
  return {
    layout,
    bytes,
    common,
    uncompressed,
    cpuS: (cpu.user + cpu.system) / 1e6,
    wallS: insertWall,
    peakRssMB: peakRss / 2 ** 20,
    q: [q1.ms, q2.ms, q3.ms],
    answers: [q1.rows, q2.rows.map((r) => r.map((v) => (v && typeof v === 'object' && !Array.isArray(v) ? JSON.stringify(Object.entries(v).sort()) : v))), q3.rows],
  };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-bench-smart-'));
  const dataDir = path.join(dir, 'data');
  console.log(`smartencoding: ${SPANS.toLocaleString('en')} ${ZERO_CODE ? 'zero-code (eBPF-shaped, ~35 attributes)' : 'OTel SDK-shaped (4 attributes)'} spans per layout at ${RATE.toLocaleString('en')} spans/s offered; ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load ${os.loadavg()[0].toFixed(2)}`);
  const results: Result[] = [];
  try {
    for (const layout of LAYOUTS) {
      results.push(await run(layout, dataDir));
      const r = results[results.length - 1];
      console.log(`  ${layout}: done in ${r.wallS.toFixed(1)}s`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const same = results.every((r) => JSON.stringify(r.answers) === JSON.stringify(results[0].answers));
  const rows = [
    ['layout', 'disk MB', 'ids+times MB', 'tags+rest MB', 'raw MB', 'insert CPU s', 'achieved spans/s', 'peak RSS MB', 'endpoints/hour ms', 'trace by id ms', 'label filter ms'],
    ...results.map((r) => [
      r.layout,
      (r.bytes / 1e6).toFixed(1),
      (r.common / 1e6).toFixed(1),
      ((r.bytes - r.common) / 1e6).toFixed(1),
      (r.uncompressed / 1e6).toFixed(1),
      r.cpuS.toFixed(1),
      Math.round(SPANS / r.wallS).toLocaleString('en'),
      r.peakRssMB.toFixed(0),
      r.q[0].toFixed(1),
      r.q[1].toFixed(1),
      r.q[2].toFixed(1),
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(r.map((c, i) => c.padStart(widths[i])).join('  '));
  const smart = results[0];
  for (const r of results.slice(1)) {
    console.log(
      `${r.layout} / smart: disk ${(r.bytes / smart.bytes).toFixed(2)}x (without the ids and times all layouts share: ${((r.bytes - r.common) / (smart.bytes - smart.common)).toFixed(2)}x), insert CPU ${(r.cpuS / smart.cpuS).toFixed(2)}x, ` +
        `queries ${r.q.map((q, i) => (q / smart.q[i]).toFixed(2) + 'x').join(' / ')}`,
    );
  }
  console.log(`aim (issue 6): string/smart disk >= 4x, lowcardinality/smart disk >= 2x, insert CPU > 1x for both, queries >= 1x vs string`);
  console.log(`answers of the three layouts ${same ? 'are identical' : 'DIFFER'}`);
  if (!same) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
