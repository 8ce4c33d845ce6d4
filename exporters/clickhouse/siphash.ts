/**
 * SipHash-2-4 with a zero key over a string's UTF-8 bytes: the value
 * ClickHouse's `sipHash64(s)` returns for a String argument (checked
 * bit-for-bit against chDB and Debian's clickhouse-server in the tests).
 *
 * SmartEncoding uses it to derive a tag's id from the tag itself, so every
 * MetaFlow server writing to one ClickHouse gets the same id for the same
 * string without talking to the others, and a query can turn
 * `ServiceName = 'cart'` into `ServiceNameId = sipHash64('cart')` without a
 * lookup. 64-bit state is kept in 32-bit halves, so hashing allocates no
 * BigInt until the result.
 *
 * Strings go through Node's UTF-8 encoder, which turns lone surrogates into
 * U+FFFD, exactly as the Native String column stores them: the id is always
 * the hash of the bytes ClickHouse holds.
 */

// State v0..v3 as [hi, lo] pairs in one typed array: v0h v0l v1h v1l v2h v2l v3h v3l.
const v = new Uint32Array(8);

function rotl(i: number, b: number): void {
  let hi = v[i];
  let lo = v[i + 1];
  if (b >= 32) {
    const t = hi;
    hi = lo;
    lo = t;
    b -= 32;
  }
  if (b > 0) {
    const nh = (hi << b) | (lo >>> (32 - b));
    const nl = (lo << b) | (hi >>> (32 - b));
    hi = nh;
    lo = nl;
  }
  v[i] = hi;
  v[i + 1] = lo;
}

/** v[a] += v[b] (mod 2^64). */
function add(a: number, b: number): void {
  const lo = (v[a + 1] + v[b + 1]) >>> 0;
  const carry = lo < v[a + 1] ? 1 : 0;
  v[a] = (v[a] + v[b] + carry) >>> 0;
  v[a + 1] = lo;
}

/** v[a] ^= v[b]. */
function xor(a: number, b: number): void {
  v[a] ^= v[b];
  v[a + 1] ^= v[b + 1];
}

const V0 = 0;
const V1 = 2;
const V2 = 4;
const V3 = 6;

function round(): void {
  add(V0, V1);
  rotl(V1, 13);
  xor(V1, V0);
  rotl(V0, 32);
  add(V2, V3);
  rotl(V3, 16);
  xor(V3, V2);
  add(V0, V3);
  rotl(V3, 21);
  xor(V3, V0);
  add(V2, V1);
  rotl(V1, 17);
  xor(V1, V2);
  rotl(V2, 32);
}

function compress(hi: number, lo: number): void {
  v[V3] ^= hi;
  v[V3 + 1] ^= lo;
  round();
  round();
  v[V0] ^= hi;
  v[V0 + 1] ^= lo;
}

/** sipHash64 of raw bytes, as a [hi, lo] pair of unsigned 32-bit words. */
export function sipHash64Words(bytes: Uint8Array, out: Uint32Array): void {
  v[0] = 0x736f6d65;
  v[1] = 0x70736575;
  v[2] = 0x646f7261;
  v[3] = 0x6e646f6d;
  v[4] = 0x6c796765;
  v[5] = 0x6e657261;
  v[6] = 0x74656462;
  v[7] = 0x79746573;
  const n = bytes.length;
  const end = n - (n % 8);
  for (let i = 0; i < end; i += 8) {
    const lo = (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)) >>> 0;
    const hi = (bytes[i + 4] | (bytes[i + 5] << 8) | (bytes[i + 6] << 16) | (bytes[i + 7] << 24)) >>> 0;
    compress(hi, lo);
  }
  // The last word: the remaining bytes, little-endian, with the length (mod 256) in the top byte.
  let lo = 0;
  let hi = (n & 0xff) << 24;
  const rest = n - end;
  for (let j = 0; j < rest; j++) {
    const b = bytes[end + j];
    if (j < 4) lo |= b << (8 * j);
    else hi |= b << (8 * (j - 4));
  }
  compress(hi >>> 0, lo >>> 0);
  v[V2 + 1] ^= 0xff;
  round();
  round();
  round();
  round();
  out[0] = (v[0] ^ v[2] ^ v[4] ^ v[6]) >>> 0;
  out[1] = (v[1] ^ v[3] ^ v[5] ^ v[7]) >>> 0;
}

const words = new Uint32Array(2);

/** ClickHouse's `sipHash64(bytes)` as an unsigned 64-bit BigInt. */
export function sipHash64Bytes(bytes: Uint8Array): bigint {
  sipHash64Words(bytes, words);
  return (BigInt(words[0]) << 32n) | BigInt(words[1]);
}

/** ClickHouse's `sipHash64(s)` of a String holding `s` as UTF-8. */
export function sipHash64(s: string): bigint {
  return sipHash64Bytes(Buffer.from(s, 'utf8'));
}
