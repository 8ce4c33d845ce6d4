/**
 * The Native writer against the real engine: every column type is written
 * by our encoder, read back by chDB from the file, and compared value by value.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Session } from 'chdb';
import {
  ArrayColumn,
  Float64Column,
  Int32Column,
  Int64Column,
  MapColumn,
  NativeBlock,
  StringColumn,
  UInt32Column,
  UInt8Column,
  encodeStrings,
  type Column,
} from './native';

let dir: string;
let session: Session;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-native-'));
  session = new Session(path.join(dir, 'db'));
});

afterAll(() => {
  session.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

let fileSeq = 0;

/** Writes the block to a file and returns `select` evaluated over it, as JSONCompact rows. */
async function readBack(block: NativeBlock, select = '*'): Promise<unknown[][]> {
  const file = path.join(dir, `b${fileSeq++}.native`);
  fs.writeFileSync(file, Buffer.concat(block.chunks()));
  const r = await session.queryAsync(`SELECT ${select} FROM file('${file}', 'Native') SETTINGS output_format_json_quote_64bit_integers = 1`, { format: 'JSONCompact' });
  return r.json<{ data: unknown[][] }>().data;
}

function column(data: unknown[][], i: number): unknown[] {
  return data.map((row) => row[i]);
}

describe('Native block writer', () => {
  test('String values round-trip byte-exact, including UTF-8, NUL, empty and long values', async () => {
    const values = [
      '',
      'a',
      'héllo wörld',
      '😀 emoji and 中文',
      'nul\u0000inside',
      'a'.repeat(42),
      'a'.repeat(43),
      'a'.repeat(127),
      'a'.repeat(128),
      'a'.repeat(20000),
      'é'.repeat(42), // short path, falls back to the UTF-8 writer
      'é'.repeat(64), // 128 bytes: the length prefix grows from the guessed 1 byte to 2
      '€'.repeat(50), // 150 bytes from 50 units
      '€'.repeat(30000), // 90000 bytes: 3-byte length prefix
    ];
    const s = new StringColumn('s');
    for (const v of values) s.put(v);
    const block = new NativeBlock([s]);
    const data = await readBack(block, 's, length(s), hex(s)');
    expect(column(data, 0)).toEqual(values);
    expect(column(data, 1)).toEqual(values.map((v) => String(Buffer.byteLength(v))));
    expect(column(data, 2)).toEqual(values.map((v) => Buffer.from(v).toString('hex').toUpperCase()));
  });

  test('a lone surrogate is stored as U+FFFD, so any JS string becomes valid UTF-8', async () => {
    const s = new StringColumn('s');
    s.put('a\ud800b');
    s.put('x'.repeat(50) + '\udfff');
    const data = await readBack(new NativeBlock([s]), 'hex(s), isValidUTF8(s)');
    expect(data).toEqual([
      [Buffer.from('a\ufffdb').toString('hex').toUpperCase(), 1],
      [Buffer.from('x'.repeat(50) + '\ufffd').toString('hex').toUpperCase(), 1],
    ]);
  });

  test('putInteger writes the same digits as String(n)', async () => {
    const values = [0, -0, 1, -1, 7, 10, 99, 100, 123456789, -987654321, 2 ** 32, 2 ** 53 - 1, -(2 ** 53 - 1), 1e21, -1e22];
    const s = new StringColumn('s');
    for (const v of values) s.putInteger(v);
    const data = await readBack(new NativeBlock([s]));
    expect(column(data, 0)).toEqual(values.map((v) => String(v)));
  });

  test('fixed-width numbers round-trip at their limits', async () => {
    const u8 = new UInt8Column('u8');
    const b = new UInt8Column('b', 'Bool');
    const u32 = new UInt32Column('u32');
    const i32 = new Int32Column('i32');
    const f64 = new Float64Column('f64');
    const rows: Array<[number, number, number, number, number]> = [
      [0, 0, 0, 0, 0],
      [255, 1, 4294967295, -2147483648, -1.5],
      [7, 0, 123456, 2147483647, 1e308],
      [1, 1, 1, -1, 5e-324],
    ];
    for (const [a, c, d, e, f] of rows) {
      u8.put(a);
      b.put(c);
      u32.put(d);
      i32.put(e);
      f64.put(f);
    }
    const data = await readBack(new NativeBlock([u8, b, u32, i32, f64]));
    expect(data).toEqual(rows.map(([a, c, d, e, f]) => [a, c === 1, d, e, f]));
  });

  test('64-bit integers beyond 2^53 and nanosecond timestamps round-trip exactly', async () => {
    const i64 = new Int64Column('i64', 'Int64');
    const u64 = new Int64Column('u64', 'UInt64');
    const ts = new Int64Column('ts', 'DateTime64(9)');
    i64.putBigInt(-5n);
    u64.putBigInt(2n ** 64n - 1n);
    ts.putTime(1700000000123456789n);
    i64.putBigInt(2n ** 63n - 1n);
    u64.putUnsigned(2 ** 53 - 1);
    ts.putTime(0n);
    i64.putBigInt(-(2n ** 63n));
    u64.putUnsigned(2 ** 32 + 5);
    ts.putTime(-5n); // clamped to the epoch
    i64.putBigInt(9007199254740993n);
    u64.putBigInt(9007199254740993n);
    ts.putTime(2n ** 64n); // clamped to the DateTime64(9) maximum
    const data = await readBack(new NativeBlock([i64, u64, ts]), 'i64, u64, toUnixTimestamp64Nano(ts), toTypeName(ts)');
    expect(data).toEqual([
      ['-5', '18446744073709551615', '1700000000123456789', 'DateTime64(9)'],
      ['9223372036854775807', '9007199254740991', '0', 'DateTime64(9)'],
      ['-9223372036854775808', '4294967301', '0', 'DateTime64(9)'],
      ['9007199254740993', '9007199254740993', '9223372036854775807', 'DateTime64(9)'],
    ]);
  });

  test('putDuration subtracts nanosecond timestamps exactly, across 32-bit borrows, and floors at 0', async () => {
    const d = new Int64Column('d', 'UInt64');
    const cases: Array<[bigint, bigint]> = [
      [1700000000000000000n, 1700000000123456789n],
      [0xffffffffn, 0x100000000n], // borrow from the high word
      [5n, 3n], // end before start
      [0n, 2n ** 63n - 1n],
      [1700000000999999999n, 1700000001000000000n],
      [42n, 42n],
    ];
    for (const [start, end] of cases) d.putDuration(start, end);
    const data = await readBack(new NativeBlock([d]));
    expect(column(data, 0)).toEqual(cases.map(([s, e]) => String(e > s ? e - s : 0n)));
  });

  test('Array columns, including empty arrays and arrays of maps, round-trip', async () => {
    const nums = new ArrayColumn('nums', new Int64Column('', 'UInt64'));
    const strs = new ArrayColumn('strs', new StringColumn(''));
    const times = new ArrayColumn('times', new Int64Column('', 'DateTime64(9)'));
    const floats = new ArrayColumn('floats', new Float64Column(''));
    const maps = new ArrayColumn('maps', new MapColumn(''));
    // row 0: everything empty
    nums.endRow();
    strs.endRow();
    times.endRow();
    floats.endRow();
    maps.endRow();
    // row 1: values
    nums.inner.putBigInt(2n ** 64n - 2n);
    nums.inner.putUnsigned(3);
    nums.endRow();
    strs.inner.put('');
    strs.inner.put('ü');
    strs.endRow();
    times.inner.putTime(1n);
    times.inner.putTime(1700000000000000001n);
    times.endRow();
    floats.inner.put(0.1);
    floats.inner.put(-2);
    floats.endRow();
    maps.inner.endRow(); // an empty map
    maps.inner.put('k', 'v');
    maps.inner.put('ключ', '');
    maps.inner.endRow();
    maps.endRow();
    // row 2: one element each
    nums.inner.putUnsigned(0);
    nums.endRow();
    strs.inner.put('x');
    strs.endRow();
    times.inner.putTime(0n);
    times.endRow();
    floats.inner.put(1e-9);
    floats.endRow();
    maps.inner.put('a', 'b');
    maps.inner.endRow();
    maps.endRow();
    const cols: Column[] = [nums, strs, times, floats, maps];
    const data = await readBack(new NativeBlock(cols), 'nums, strs, arrayMap(t -> toUnixTimestamp64Nano(t), times), floats, maps');
    expect(data).toEqual([
      [[], [], [], [], []],
      [['18446744073709551614', '3'], ['', 'ü'], ['1', '1700000000000000001'], [0.1, -2], [{}, { k: 'v', ключ: '' }]],
      [['0'], ['x'], ['0'], [1e-9], [{ a: 'b' }]],
    ]);
  });

  test('Map columns with empty maps and pre-encoded entries round-trip', async () => {
    const m = new MapColumn('m');
    const name = new StringColumn('name');
    m.endRow();
    name.put('plain');
    m.put('service.name', 'checkout');
    m.put('empty', '');
    m.endRow();
    name.put('second');
    // A resource's attributes are encoded once and copied per row.
    const keys = encodeStrings(['host', 'zone']);
    const values = encodeStrings(['h1', 'eu-1']);
    const service = encodeStrings(['svc']);
    for (let i = 0; i < 3; i++) {
      m.keys.putEncodedValues(keys, 2);
      m.values.putEncodedValues(values, 2);
      m.endRow();
      name.putEncodedValues(service, 1);
    }
    const data = await readBack(new NativeBlock([m, name]));
    expect(data).toEqual([
      [{}, 'plain'],
      [{ 'service.name': 'checkout', empty: '' }, 'second'],
      [{ host: 'h1', zone: 'eu-1' }, 'svc'],
      [{ host: 'h1', zone: 'eu-1' }, 'svc'],
      [{ host: 'h1', zone: 'eu-1' }, 'svc'],
    ]);
  });

  test('reset empties a block so the same columns encode the next batch', async () => {
    const s = new StringColumn('s');
    const n = new Int64Column('n', 'UInt64');
    const block = new NativeBlock([s, n]);
    for (let i = 0; i < 10000; i++) {
      s.put(`first-${i}`);
      n.putUnsigned(i);
    }
    expect(block.rows).toBe(10000);
    block.reset();
    expect(block.rows).toBe(0);
    s.put('second');
    n.putUnsigned(99);
    expect(await readBack(block)).toEqual([['second', '99']]);
    expect(block.byteLength()).toBe(Buffer.concat(block.chunks()).length);
  });

  test('a block whose columns disagree on the row count is refused', () => {
    const a = new StringColumn('a');
    const b = new StringColumn('b');
    a.put('x');
    expect(() => new NativeBlock([a, b]).chunks()).toThrow(/column b has 0 rows, expected 1/);
  });
});
