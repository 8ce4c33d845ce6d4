/**
 * The embedded store's own contract: concurrency on the shared engine,
 * per-query options, typed errors, and the one-folder-per-process rule.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChdbStore, openDataDir } from './store-chdb';
import { NativeBlock, StringColumn, Int64Column } from './native';
import { StoreError } from './store';
import { tableNames } from './schema';

const TABLES = tableNames('otel_traces', 'otel_logs', {
  gauge: 'g',
  sum: 's',
  histogram: 'h',
  exponentialHistogram: 'e',
  summary: 'q',
});

let dir: string;
let store: ChdbStore;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-store-'));
  store = ChdbStore.open({ dataDir: path.join(dir, 'data'), database: 'st', tables: TABLES });
  await store.command('CREATE DATABASE IF NOT EXISTS st');
  await store.command('CREATE TABLE st.kv (k String, n UInt64) ENGINE = MergeTree ORDER BY k');
});

afterAll(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function block(prefix: string, rows: number): NativeBlock {
  const k = new StringColumn('k');
  const n = new Int64Column('n', 'UInt64');
  for (let i = 0; i < rows; i++) {
    k.put(`${prefix}-${i}`);
    n.putUnsigned(i);
  }
  return new NativeBlock([k, n]);
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

describe('embedded chDB store', () => {
  test('concurrent inserts and queries on one engine all succeed with the right results', async () => {
    const inserts = Array.from({ length: 8 }, (_, i) => store.insert('kv', block(`c${i}`, 1000)));
    const queries = Array.from({ length: 16 }, () => store.query('SELECT count() FROM st.kv'));
    await Promise.all(inserts);
    for (const r of await Promise.all(queries)) {
      const n = Number(r.rows[0][0]);
      expect(n % 1000).toBe(0);
      expect(n).toBeLessThanOrEqual(8000);
    }
    expect((await store.query("SELECT count(), uniqExact(k), sum(n) FROM st.kv WHERE k LIKE 'c%'")).rows).toEqual([['8000', '8000', String(8 * 499500)]]);
    expect(fs.readdirSync(store.tmpDir)).toEqual([]);
  });

  test('a query does not wait behind a long-running write', async () => {
    let writeDone = false;
    const write = store.command('INSERT INTO st.kv SELECT toString(number), number FROM numbers(40000000) WHERE sipHash64(number) = 0').then(() => {
      writeDone = true;
    });
    const r = await store.query('SELECT 1 AS one');
    expect(r.rows).toEqual([[1]]);
    expect(writeDone).toBe(false);
    await write;
  });

  test('inserts waiting for the writer are combined into one statement, and all rows arrive', async () => {
    await store.command('CREATE TABLE st.co (k String, n UInt64) ENGINE = MergeTree ORDER BY k');
    const before = store.insertStats;
    const busy = store.command('INSERT INTO st.kv SELECT toString(number), number FROM numbers(40000000) WHERE sipHash64(number) = 0');
    const inserts = Array.from({ length: 5 }, (_, i) => store.insert('co', block(`w${i}`, 100 + i)));
    await Promise.all([busy, ...inserts]);
    const after = store.insertStats;
    expect([after.statements - before.statements, after.blocks - before.blocks]).toEqual([1, 5]);
    expect((await store.query('SELECT count(), uniqExact(k) FROM st.co')).rows).toEqual([['510', '510']]);
    expect(fs.readdirSync(store.tmpDir)).toEqual([]);
  });

  test('a bad block combined with good ones fails alone; its neighbours are stored', async () => {
    await store.command('CREATE TABLE st.poison (k String, n UInt64) ENGINE = MergeTree ORDER BY k');
    const bad = () => {
      const k = new StringColumn('k');
      const n = new StringColumn('n'); // not a number: the cast to UInt64 fails
      k.put('bad');
      n.put('not a number');
      return new NativeBlock([k, n]);
    };
    const busy = store.command('INSERT INTO st.kv SELECT toString(number), number FROM numbers(40000000) WHERE sipHash64(number) = 0');
    const results = await Promise.allSettled([store.insert('poison', block('p0', 10)), store.insert('poison', bad()), store.insert('poison', block('p2', 10))]);
    await busy;
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const err = (results[1] as PromiseRejectedResult).reason as StoreError;
    expect([err.code, err.retryable]).toEqual(['STORE_QUERY', false]);
    expect((await store.query('SELECT count() FROM st.poison')).rows).toEqual([['20']]);
  });

  test('query options: database, bound parameters, settings that do not leak, 64-bit integers as strings', async () => {
    const r = await store.query('SELECT currentDatabase() AS db, {x:UInt64} + 1 AS big, getSetting(\'max_threads\') AS mt', {
      database: 'system',
      params: { x: '18446744073709551614' },
      settings: { max_threads: 1 },
    });
    expect(r.columns.map((c) => c.name)).toEqual(['db', 'big', 'mt']);
    expect(r.rows).toEqual([['system', '18446744073709551615', 1]]);
    const after = await Promise.all([store.query("SELECT getSetting('max_threads'), currentDatabase()"), store.query("SELECT getSetting('max_threads'), currentDatabase()")]);
    for (const a of after) {
      expect(a.rows[0][0]).not.toBe(1);
      expect(a.rows[0][1]).toBe('st');
    }
  });

  test('a statement without a result gives no columns and no rows', async () => {
    expect(await store.query('CREATE TABLE IF NOT EXISTS st.empty (x UInt8) ENGINE = Memory')).toEqual({ columns: [], rows: [] });
  });

  test('errors are typed: a bad statement is a permanent STORE_QUERY with the ClickHouse code', async () => {
    const syntax = await caught(store.query('SELEC 1'));
    expect([syntax.code, syntax.retryable, syntax.clickhouseCode]).toEqual(['STORE_QUERY', false, 62]);
    const unknown = await caught(store.query('SELECT * FROM st.nope'));
    expect([unknown.code, unknown.retryable, unknown.clickhouseCode]).toEqual(['STORE_QUERY', false, 60]);
    const badSetting = await caught(store.query('SELECT 1', { settings: { 'x; DROP': 1 } }));
    expect(badSetting.code).toBe('STORE_QUERY');
    const format = await caught(store.query('SELECT 1 FORMAT CSV'));
    expect(format.message).toMatch(/leave out the FORMAT clause/);
  });

  test('an insert whose block file cannot be written fails with a retryable STORE_IO', async () => {
    const tmp = store.tmpDir;
    fs.rmSync(tmp, { recursive: true });
    fs.writeFileSync(tmp, 'x');
    try {
      const err = await caught(store.insert('kv', block('io', 3)));
      expect([err.code, err.retryable]).toEqual(['STORE_IO', true]);
    } finally {
      fs.rmSync(tmp);
      fs.mkdirSync(tmp);
    }
    await store.insert('kv', block('io', 3));
    expect((await store.query("SELECT count() FROM st.kv WHERE k LIKE 'io-%'")).rows).toEqual([['3']]);
  });

  test('an aborted insert does not start, and is retryable', async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await caught(store.insert('kv', block('ab', 3), ac.signal));
    expect([err.code, err.retryable]).toEqual(['STORE_TIMEOUT', true]);
    expect((await store.query("SELECT count() FROM st.kv WHERE k LIKE 'ab-%'")).rows).toEqual([['0']]);
  });

  test('a second data folder is refused while one is open; the same folder is shared', async () => {
    const other = path.join(dir, 'other');
    const err = await caught(Promise.resolve().then(() => ChdbStore.open({ dataDir: other, database: 'x', tables: TABLES })));
    expect([err.code, err.retryable]).toEqual(['STORE_DATA_DIR_CONFLICT', false]);
    const same = ChdbStore.open({ dataDir: path.join(dir, 'data', '.', ''), database: 'st', tables: TABLES });
    expect((await same.query('SELECT count() > 0 AS nonEmpty FROM st.kv')).rows).toEqual([[1]]);
    await same.close();
    await same.close();
    // The first store still works: the engine is reference counted.
    expect((await store.query('SELECT 1')).rows).toEqual([[1]]);
    expect(openDataDir()).toBe(path.join(dir, 'data'));
    const closed = await caught(same.query('SELECT 1'));
    expect(closed.code).toBe('STORE_CLOSED');
  });
});
