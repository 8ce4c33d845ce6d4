/**
 * The wire primitives: every value the writer writes, the reader reads back
 * identically, at the boundaries where encodings change size; the string
 * cache never returns a string for the wrong bytes.
 */

import { int64Value, OtlpDecodeError, ProtoReader } from './protobuf-reader';
import { isHexId, ProtoWriter, varint32Size } from './protobuf-writer';

function write(fn: (w: ProtoWriter) => void): Buffer {
  const w = new ProtoWriter(16);
  fn(w);
  return w.finish();
}

describe('varints', () => {
  const u32 = [0, 1, 127, 128, 255, 300, 16383, 16384, 2097151, 2097152, 268435455, 268435456, 0x7fffffff, 0x80000000, 0xffffffff];

  test.each(u32)('uint32 %d round-trips in the minimal number of bytes', (v) => {
    const bytes = write((w) => w.varint32(v));
    expect(bytes.length).toBe(varint32Size(v));
    const r = new ProtoReader(bytes);
    expect(r.varint32('test')).toBe(v);
    expect(r.pos).toBe(bytes.length);
  });

  test('the known encoding of 300 is ac 02', () => {
    expect(Array.from(write((w) => w.varint32(300)))).toEqual([0xac, 0x02]);
  });

  const i64: bigint[] = [0n, 1n, -1n, 127n, 128n, 2n ** 31n - 1n, -(2n ** 31n), 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, -(2n ** 53n), 2n ** 63n - 1n, -(2n ** 63n)];

  test.each(i64)('int64 %p round-trips; numbers within the safe range come back as numbers', (v) => {
    const bytes = write((w) => w.int64(v));
    const r = new ProtoReader(bytes);
    r.varint64('test');
    const back = int64Value(r.lo, r.hi);
    const safe = v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER);
    expect(back).toBe(safe ? Number(v) : v);
    if (safe) expect(write((w) => w.int64(Number(v)))).toEqual(bytes);
  });

  test('negative int64 takes 10 bytes; -1 is nine ff and 01', () => {
    expect(Array.from(write((w) => w.int64(-1)))).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  });

  test('a 10-byte varint read as uint32 keeps the low 32 bits (protobuf int32 semantics)', () => {
    const r = new ProtoReader(write((w) => w.int32(-2)));
    expect(r.varint32('test') | 0).toBe(-2);
    expect(r.pos).toBe(10);
  });

  test.each([0, 1, -1, 2, -2, 2147483647, -2147483648])('sint32 %d zigzag round-trips', (v) => {
    const bytes = write((w) => w.sint32(v));
    expect(new ProtoReader(bytes).sint32('test')).toBe(v);
  });

  test('zigzag maps -1 to 1 and 1 to 2', () => {
    expect(Array.from(write((w) => w.sint32(-1)))).toEqual([1]);
    expect(Array.from(write((w) => w.sint32(1)))).toEqual([2]);
  });

  test('uint64 numbers up to 2^53 round-trip', () => {
    for (const v of [0, 1, 2 ** 32, 2 ** 40 + 3, 2 ** 53 - 1]) {
      expect(new ProtoReader(write((w) => w.uint64Number(v))).uint64Number('test')).toBe(v);
    }
  });

  test('a varint cut by the end of the input fails, reporting where the varint began', () => {
    const r = new ProtoReader(Uint8Array.from([0x80, 0x80]));
    expect(() => r.varint32('X.y')).toThrow(new OtlpDecodeError('truncated message at offset 0 while reading X.y'));
    expect(() => new ProtoReader(Uint8Array.from([0xff])).varint64('X.z')).toThrow(OtlpDecodeError);
  });
});

describe('fixed-width values', () => {
  test('fixed32, fixed64 and doubles round-trip', () => {
    const doubles = [0, -0, 1.5, -1e300, Number.MIN_VALUE, Infinity, -Infinity, NaN];
    const bytes = write((w) => {
      w.fixed32(0xdeadbeef);
      w.fixed64Big(18446744073709551615n);
      w.fixed64Big(1700000000123456789n);
      w.sfixed64(-5);
      w.sfixed64(-(2n ** 63n));
      for (const d of doubles) w.double(d);
    });
    const r = new ProtoReader(bytes);
    expect(r.fixed32('t')).toBe(0xdeadbeef);
    expect(r.fixed64Big('t')).toBe(18446744073709551615n);
    expect(r.fixed64Big('t')).toBe(1700000000123456789n);
    r.fixed64('t');
    expect(int64Value(r.lo, r.hi)).toBe(-5);
    r.fixed64('t');
    expect(int64Value(r.lo, r.hi)).toBe(-(2n ** 63n));
    for (const d of doubles) expect(Object.is(r.double('t'), d)).toBe(true);
    expect(r.pos).toBe(bytes.length);
  });

  test('fixed64 timestamps are little-endian', () => {
    expect(Array.from(write((w) => w.fixed64Big(0x0102030405060708n)))).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
  });
});

describe('strings and bytes', () => {
  const strings = [
    '',
    'a',
    'x'.repeat(42),
    'x'.repeat(43),
    'é'.repeat(42), // 84 bytes, takes the non-ASCII branch of the short path
    '✓'.repeat(42), // 126 bytes, the most the 1-byte length of the short path can see
    `${'a'.repeat(41)}🎉`, // a surrogate pair at the end of the short path
    'x'.repeat(127),
    'x'.repeat(128),
    'ü'.repeat(10000),
    '日本語のテキスト',
  ];

  test.each(strings.map((s) => [s.length, s]))('a string of %d UTF-16 units round-trips', (_n, s) => {
    const bytes = write((w) => w.string(s));
    const r = new ProtoReader(bytes);
    expect(r.string(bytes.length, 't')).toBe(s);
    expect(r.pos).toBe(bytes.length);
    expect(bytes.length).toBe(varint32Size(Buffer.byteLength(s)) + Buffer.byteLength(s));
  });

  test('invalid UTF-8 is replaced with U+FFFD, not an error', () => {
    const r = new ProtoReader(Uint8Array.from([3, 0x61, 0xff, 0x62]));
    expect(r.string(4, 't')).toBe('a\ufffdb');
  });

  test('the string cache returns the right string for 20 000 distinct keys of equal length', () => {
    const keys: string[] = [];
    for (let i = 0; i < 20000; i++) keys.push(`k.${i.toString(36).padStart(6, '0')}.x`);
    const bytes = write((w) => {
      for (const k of keys) w.string(k);
      for (const k of keys) w.string(k);
    });
    const r = new ProtoReader(bytes);
    for (let round = 0; round < 2; round++) {
      for (const k of keys) {
        expect(r.key(bytes.length, 't')).toBe(k);
      }
    }
  });

  test('a cached key and a value with the same bytes are the same string', () => {
    const bytes = write((w) => {
      w.string('http.request.method');
      w.string('http.request.method');
    });
    const r = new ProtoReader(bytes);
    const a = r.key(bytes.length, 't');
    const b = r.string(bytes.length, 't');
    expect(b).toBe(a);
  });

  test('bytes round-trip as a copy', () => {
    const data = Uint8Array.from([0, 1, 2, 255]);
    const bytes = write((w) => w.bytes(data));
    const out = new ProtoReader(bytes).bytes(bytes.length, 't');
    expect(out).toEqual(data);
    expect(out.buffer).not.toBe(bytes.buffer);
  });

  test('ids round-trip as lowercase hex; hex validation', () => {
    const bytes = write((w) => w.hexId('0AF7651916CD43DD8448EB211C80319C', 32, 't'));
    expect(bytes.length).toBe(17);
    expect(new ProtoReader(bytes).id(bytes.length, 16, 't')).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(isHexId('0af7651916cd43dd', 16)).toBe(true);
    expect(isHexId('0af7651916cd43dg', 16)).toBe(false);
    expect(isHexId('0af7651916cd43d', 16)).toBe(false);
    expect(isHexId('0af7651916cd43d\u0130', 16)).toBe(false);
  });

  test('the id cache never confuses ids that share their hashed bytes', () => {
    const a = Buffer.from('0102030405060708', 'hex');
    const b = Buffer.from('01ff030405060708', 'hex'); // same first and eighth byte
    const bytes = write((w) => {
      w.bytes(a);
      w.bytes(b);
      w.bytes(a);
    });
    const r = new ProtoReader(bytes);
    expect([r.id(bytes.length, 8, 't'), r.id(bytes.length, 8, 't'), r.id(bytes.length, 8, 't')]).toEqual([
      '0102030405060708',
      '01ff030405060708',
      '0102030405060708',
    ]);
  });
});

describe('nested message lengths', () => {
  // Content sizes around the points where the length varint grows.
  const sizes = [0, 1, 127, 128, 16383, 16384, 2097151, 2097152];

  test.each(sizes.flatMap((n) => [1, 2, 3].map((reserve) => [n, reserve])))(
    'content of %d bytes with %d byte(s) reserved gets a minimal length prefix',
    (n, reserve) => {
      const content = Buffer.alloc(n, 0x5a);
      const bytes = write((w) => {
        w.varint32(0x08);
        w.varint32(1);
        w.begin(0x12, reserve);
        w.ensure(n);
        content.copy(w.buf, w.pos);
        w.pos += n;
        w.end();
        w.varint32(0x18);
        w.varint32(2);
      });
      const r = new ProtoReader(bytes);
      expect(r.varint32('t')).toBe(0x08);
      expect(r.varint32('t')).toBe(1);
      expect(r.varint32('t')).toBe(0x12);
      const start = r.pos;
      const end = r.lenEnd(bytes.length, 't');
      expect(end - r.pos).toBe(n);
      expect(r.pos - start).toBe(varint32Size(n));
      expect(bytes.subarray(r.pos, end).equals(content)).toBe(true);
      r.pos = end;
      expect(r.varint32('t')).toBe(0x18);
      expect(r.varint32('t')).toBe(2);
    },
  );

  test('nesting deeper than the initial stack (64) grows it', () => {
    const bytes = write((w) => {
      for (let i = 0; i < 200; i++) w.begin(0x0a, 1);
      for (let i = 0; i < 200; i++) w.end();
    });
    // Each level is a tag and a length; the innermost is empty.
    expect(bytes.length).toBeGreaterThan(400);
    const r = new ProtoReader(bytes);
    let end = bytes.length;
    for (let i = 0; i < 200; i++) {
      expect(r.varint32('t')).toBe(0x0a);
      end = r.lenEnd(end, 't');
    }
    expect(r.pos).toBe(end);
  });

  test('finish() returns a copy and leaves the writer reusable', () => {
    const w = new ProtoWriter(4, 8);
    w.string('a long string that grows the buffer');
    const first = w.finish();
    w.string('b');
    const second = w.finish();
    expect(first.toString('latin1', 1)).toBe('a long string that grows the buffer');
    expect(Array.from(second)).toEqual([1, 0x62]);
  });
});
