/**
 * The JavaScript sipHash64 against the engine's own: SmartEncoding ids are
 * computed in JS at insert time and by ClickHouse at query time, so the two
 * must agree on every byte string, odd ones included.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChdbStore } from './store-chdb';
import { tableNames } from './schema';
import { sipHash64 } from './siphash';

const TABLES = tableNames('otel_traces', 'otel_logs', { gauge: 'g', sum: 's', histogram: 'h', exponentialHistogram: 'e', summary: 'q' });

let dir: string;
let store: ChdbStore;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-siphash-'));
  store = ChdbStore.open({ dataDir: path.join(dir, 'data'), database: 'default', tables: TABLES });
});

afterAll(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Deterministic pseudo-random strings: every length 0..40, ASCII, multi-byte, control bytes, lone surrogates. */
export function oddStrings(): string[] {
  const out = ['', 'a', 'cart', '12345678', '123456789', 'ü', '日本語のサービス', '🚀 rocket', '\u0000', 'a\u0000b', "quote ' and \\ backslash", 'x'.repeat(255), 'y'.repeat(256), 'z'.repeat(70000), '\ud800', 'a\udfffb'];
  let x = 0x9e3779b9;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  const alphabet = ['a', 'Z', '0', ' ', '\t', '\n', "'", '\\', 'é', 'ß', '中', '😀', '\u0001', '\u007f', '\u00ff'];
  for (let len = 0; len <= 40; len++) {
    for (let k = 0; k < 3; k++) {
      let s = '';
      for (let i = 0; i < len; i++) s += alphabet[Math.floor(rnd() * alphabet.length)];
      out.push(s);
    }
  }
  return out;
}

describe('sipHash64 in JavaScript', () => {
  test('matches ClickHouse sipHash64 bit for bit on odd, empty, huge and unicode strings', async () => {
    const strings = oddStrings();
    const r = await store.query('SELECT toString(sipHash64(s)) FROM (SELECT arrayJoin({list:Array(String)}) AS s, rowNumberInAllBlocks() AS n) ORDER BY n', {
      params: { list: strings },
    });
    const engine = r.rows.map((row) => String(row[0]));
    expect(engine).toHaveLength(strings.length);
    const js = strings.map((s) => sipHash64(s).toString());
    // Lone surrogates reach the engine as U+FFFD (the query is UTF-8 too), as they are stored.
    expect(js).toEqual(engine);
  });

  test('known values: the reference SipHash-2-4 with a zero key', () => {
    expect(sipHash64('').toString(16)).toBe('1e924b9d737700d7');
    expect(sipHash64('cart')).toBe(895353130889249712n);
  });
});
