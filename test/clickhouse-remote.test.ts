/**
 * The clickhouse exporter's remote transport against a real ClickHouse
 * server (Debian's clickhouse-server 18.16, started by the helper).
 *
 * 18.16 has no DateTime64, Map, TTL or (without a setting) LowCardinality,
 * so the telemetry schema cannot be created there; the transport is tested
 * with a plain table through the remote store and the same Native encoder
 * the embedded store uses. The telemetry SQL itself (DDL, inserts, queries)
 * is the same text for both stores and is exercised against the modern
 * engine by the embedded tests in exporters/clickhouse/.
 */
import net from 'node:net';
import { ComponentID, type Host } from '../pipeline/component';
import { PermanentError, RetryableError } from '../pipeline/errors';
import { ExportQueue } from '../pipeline/exporterhelper';
import { Logger } from '../pipeline/logger';
import type { Logs } from '../pipeline/pdata';
import { Telemetry } from '../pipeline/telemetry';
import { factory } from '../exporters/clickhouse';
import type { ClickHouseExporter } from '../exporters/clickhouse/exporter';
import { toExportError } from '../exporters/clickhouse/exporter';
import { Int64Column, NativeBlock, StringColumn, UInt32Column } from '../exporters/clickhouse/native';
import { StoreError } from '../exporters/clickhouse/store';
import { RemoteStore } from '../exporters/clickhouse/store-remote';
import { tableNames } from '../exporters/clickhouse/schema';
import { ClickHouseServer, startClickHouseServer } from './helpers/clickhouse-server';
import { freePort } from './helpers/ports';

const TABLES = tableNames('otel_traces', 'otel_logs', {
  gauge: 'otel_metrics_gauge',
  sum: 'otel_metrics_sum',
  histogram: 'otel_metrics_histogram',
  exponentialHistogram: 'otel_metrics_exponential_histogram',
  summary: 'otel_metrics_summary',
});

const host: Host = { getExtension: () => undefined, getComponent: () => undefined, listComponents: () => [] };

let server: ClickHouseServer;
let store: RemoteStore;

function open(password = server.password, endpoint = server.url): RemoteStore {
  return RemoteStore.open({ endpoint, username: server.username, password, database: 'mf', tables: TABLES, timeoutMs: 5000 });
}

/** A block for `mf.plain (s String, n UInt64, d DateTime)`. */
function plainBlock(rows: Array<[string, bigint, number]>): NativeBlock {
  const s = new StringColumn('s');
  const n = new Int64Column('n', 'UInt64');
  const d = new UInt32Column('d', 'DateTime');
  for (const [a, b, c] of rows) {
    s.put(a);
    n.putBigInt(b);
    d.put(c);
  }
  return new NativeBlock([s, n, d]);
}

async function caught(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(StoreError);
    return err as StoreError;
  }
  throw new Error('expected a StoreError');
}

beforeAll(async () => {
  server = await startClickHouseServer();
  store = open();
  await store.command('CREATE DATABASE IF NOT EXISTS mf');
  await store.command('CREATE TABLE IF NOT EXISTS mf.plain (s String, n UInt64, d DateTime) ENGINE = MergeTree ORDER BY n');
}, 120_000);

afterAll(async () => {
  await store?.close();
  await server?.destroy();
});

describe('clickhouse exporter, remote store (clickhouse-server 18.16)', () => {
  test('a Native block is inserted and read back exactly', async () => {
    const rows: Array<[string, bigint, number]> = [
      ['', 0n, 0],
      ['héllo wörld 😀', 18446744073709551615n, 1700000000],
      ['nul\u0000byte', 9007199254740993n, 4294967295],
      ['x'.repeat(100000), 42n, 86400],
    ];
    await store.insert('plain', plainBlock(rows));
    const r = await store.query('SELECT s, n, toUnixTimestamp(d) AS d FROM plain ORDER BY n');
    expect(r.columns).toEqual([
      { name: 's', type: 'String' },
      { name: 'n', type: 'UInt64' },
      { name: 'd', type: 'UInt32' },
    ]);
    expect(r.rows).toEqual(
      [...rows].sort((a, b) => (a[1] < b[1] ? -1 : 1)).map(([s, n, d]) => [s, String(n), d]),
    );
  });

  test('a wrong password is a permanent authentication error that names the user', async () => {
    const bad = open('not-the-password');
    try {
      const q = await caught(bad.query('SELECT 1'));
      expect([q.code, q.retryable, q.clickhouseCode]).toEqual(['STORE_AUTH', false, 193]);
      expect(q.message).toMatch(/refused user "metaflow" \(check username and password\)/);
      const i = await caught(bad.insert('plain', plainBlock([['a', 1n, 1]])));
      expect([i.code, i.retryable]).toEqual(['STORE_AUTH', false]);
      expect(toExportError(i)).toBeInstanceOf(PermanentError);
    } finally {
      await bad.close();
    }
  });

  test('a refused connection is a retryable STORE_UNAVAILABLE', async () => {
    const nobody = open(server.password, `http://127.0.0.1:${await freePort()}`);
    try {
      const e = await caught(nobody.insert('plain', plainBlock([['a', 1n, 1]])));
      expect([e.code, e.retryable]).toEqual(['STORE_UNAVAILABLE', true]);
      expect(e.message).toMatch(/cannot reach ClickHouse at http:\/\/127\.0\.0\.1:\d+: .*connect ECONNREFUSED/);
      expect(toExportError(e)).toBeInstanceOf(RetryableError);
    } finally {
      await nobody.close();
    }
  });

  test('a server that does not answer in time gives a retryable STORE_TIMEOUT', async () => {
    // Accepts connections and never replies.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((sock) => sockets.push(sock));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const slow = RemoteStore.open({ endpoint: `http://127.0.0.1:${port}`, username: 'u', password: 'p', database: 'mf', tables: TABLES, timeoutMs: 300 });
    try {
      const e = await caught(slow.insert('plain', plainBlock([['a', 1n, 1]])));
      expect([e.code, e.retryable]).toEqual(['STORE_TIMEOUT', true]);
      expect(e.message).toMatch(/did not answer in time/);
      expect(toExportError(e)).toBeInstanceOf(RetryableError);
    } finally {
      await slow.close();
      for (const sock of sockets) sock.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test('a bad statement is a permanent STORE_QUERY with the server code', async () => {
    const e = await caught(store.query('SELECT * FROM mf.missing'));
    expect([e.code, e.retryable, e.clickhouseCode]).toEqual(['STORE_QUERY', false, 60]);
  });

  test('inserts fail retryably while the server is down, and the queue delivers every row once it is back', async () => {
    await store.command('CREATE TABLE IF NOT EXISTS mf.outage (s String, n UInt64, d DateTime) ENGINE = MergeTree ORDER BY n');
    const telemetry = new Telemetry('normal');
    const failures: string[] = [];
    // One row per log record: the body, its index and its time in seconds.
    const queue = new ExportQueue<'logs'>({
      signal: 'logs',
      send: async (data) => {
        const rows: Array<[string, bigint, number]> = [];
        for (const rl of data.resourceLogs) for (const sl of rl.scopeLogs) for (const r of sl.logRecords) rows.push([String(r.body), BigInt(rows.length), Number(r.timeUnixNano / 1_000_000_000n)]);
        try {
          await store.insert('outage', plainBlock(rows));
        } catch (err) {
          failures.push((err as StoreError).code);
          throw toExportError(err);
        }
      },
      queue: { enabled: true, num_consumers: 1, queue_size: 100, block_on_overflow: false },
      retry: { enabled: true, initial_interval: 100, randomization_factor: 0, multiplier: 1.5, max_interval: 400, max_elapsed_time: 120_000 },
      timeoutMs: 5000,
      telemetry: telemetry.forComponent('exporter', 'clickhouse'),
      logger: new Logger('error', {}, () => undefined),
    });
    const batch = (tag: string, n: number): Logs => ({
      resourceLogs: [
        {
          resource: { attributes: {}, droppedAttributesCount: 0 },
          schemaUrl: '',
          scopeLogs: [
            {
              scope: { name: '', version: '', attributes: {}, droppedAttributesCount: 0 },
              schemaUrl: '',
              logRecords: Array.from({ length: n }, (_, i) => ({
                timeUnixNano: 1_700_000_000_000_000_000n + BigInt(i) * 1_000_000_000n,
                observedTimeUnixNano: 0n,
                severityNumber: 9,
                severityText: 'INFO',
                body: `${tag}-${i}`,
                attributes: {},
                droppedAttributesCount: 0,
                flags: 0,
                traceId: '',
                spanId: '',
                eventName: '',
              })),
            },
          ],
        },
      ],
    });
    await queue.consume(batch('before', 10));
    await queue.idle();
    await server.stop();
    await server.stop(); // stopping twice is harmless
    await queue.consume(batch('during', 20));
    await queue.consume(batch('during2', 5));
    while (failures.length < 3) await new Promise((r) => setTimeout(r, 20));
    expect(new Set(failures)).toEqual(new Set(['STORE_UNAVAILABLE']));
    await server.start();
    await queue.idle();
    await queue.shutdown();
    const r = await store.query("SELECT splitByChar('-', s)[1] AS tag, count(), min(toUnixTimestamp(d)) FROM outage GROUP BY tag ORDER BY tag");
    expect(r.rows).toEqual([
      ['before', '10', 1700000000],
      ['during', '20', 1700000000],
      ['during2', '5', 1700000000],
    ]);
    expect(await telemetry.value('otelcol_exporter_sent_log_records_total')).toBe(35);
    expect(await telemetry.value('otelcol_exporter_send_failed_log_records_total')).toBe(0);
  }, 120_000);

  test('the exporter in remote mode offers the server as its store; without create_schema start makes no DDL', async () => {
    const cfg = factory.config.parseOrThrow({ endpoint: server.url, username: server.username, password: server.password, database: 'mf', create_schema: false });
    expect(factory.validate?.(cfg)).toEqual([]);
    const settings = { id: new ComponentID('clickhouse'), kind: 'exporter' as const, logger: new Logger('error'), telemetry: new Telemetry('none').forComponent('exporter', 'clickhouse') };
    const exp = factory.create(settings, cfg, new Set(['logs'])) as ClickHouseExporter;
    await exp.start(host);
    try {
      const s = exp.store()!;
      expect([s.kind, s.database]).toEqual(['remote', 'mf']);
      expect((await s.query('SELECT count() FROM plain')).rows).toEqual([['4']]);
      expect((await s.query("SELECT count() FROM system.tables WHERE database = 'mf' AND name LIKE 'otel%'")).rows).toEqual([['0']]);
    } finally {
      await exp.shutdown();
    }
  });

  test('creating the telemetry schema on a server without DateTime64 fails start with a clear, permanent error', async () => {
    const cfg = factory.config.parseOrThrow({ endpoint: server.url, username: server.username, password: server.password, database: 'mf_schema' });
    const settings = { id: new ComponentID('clickhouse'), kind: 'exporter' as const, logger: new Logger('error'), telemetry: new Telemetry('none').forComponent('exporter', 'clickhouse') };
    const exp = factory.create(settings, cfg, new Set(['traces']));
    const err = await caught(exp.start(host));
    expect([err.code, err.retryable]).toEqual(['STORE_QUERY', false]);
    expect(err.message).toMatch(/^schema migration 1 \(traces tables\) failed on "CREATE TABLE IF NOT EXISTS `mf_schema`\.`otel_traces` .*": statement failed: Code: 62.*server version 18\.16\.1\)$/s);
    await exp.shutdown();
  });
});
