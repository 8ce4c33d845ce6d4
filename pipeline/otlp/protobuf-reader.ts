/**
 * Protobuf wire-format primitives for the OTLP decoders.
 *
 * The reader is a cursor over one input buffer. It never allocates except for
 * the values it returns, and every read is bounds-checked so that malformed
 * input ends in an {@link OtlpDecodeError} instead of a RangeError, a garbage
 * value or a read past the end.
 *
 * Contract shared with the message decoders (`decode.ts`): primitive reads are
 * checked against the end of the *buffer*; a message decoder checks after its
 * field loop that it stopped exactly at the end of its *message*, which catches
 * a fixed-width field that ran into the parent's bytes. Length-delimited
 * fields are checked against the end of the enclosing message directly, so a
 * nested message can never claim bytes of its parent.
 */

import { PermanentError } from '../errors';

/**
 * Malformed OTLP input (protobuf or JSON). `code` is always `OTLP_DECODE`.
 * It is a {@link PermanentError}: a receiver answers it with
 * INVALID_ARGUMENT / HTTP 400 and the message, and never retries it.
 */
export class OtlpDecodeError extends PermanentError {
  constructor(message: string) {
    super(message, { code: 'OTLP_DECODE' });
  }
}

/**
 * How deeply arrays and key/value lists may nest inside one attribute or log
 * body, in both directions. Without a limit, a few megabytes of nested
 * `array_value` would overflow the stack.
 */
export const MAX_ANY_VALUE_DEPTH = 64;

/** Protobuf wire types. Groups (3, 4) are obsolete and rejected. */
const enum WireType {
  VARINT = 0,
  FIXED64 = 1,
  LEN = 2,
  START_GROUP = 3,
  END_GROUP = 4,
  FIXED32 = 5,
}

/** Node's Buffer methods that @types/node does not declare. */
interface NodeBufferInternals {
  utf8Slice(start: number, end: number): string;
}

/** Field names of one message, indexed by field number, for error messages. */
export type FieldNames = readonly (string | undefined)[];

// Doubles are read through an 8-byte scratch array: copying 8 bytes and
// reading a Float64Array element is what Buffer#readDoubleLE does too, minus
// its argument validation.
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);

// ------------------------------------------------------------- string cache

// Attribute keys, span names and many attribute values repeat across spans
// and requests. Returning the same string object for the same bytes saves the
// UTF-8 decode (a native call), and for keys also V8's internalization of a
// fresh string on every property store; building 20-key objects measured
// 1.7-2.8x faster with cached keys than with freshly decoded ones. The cache is a fixed, direct-mapped table: bounded memory, a
// collision simply replaces the slot.
const CACHE_SLOTS = 4096;
/** Strings up to this many bytes are looked up in the cache. */
const CACHE_MAX_BYTES = 48;
const cacheBytes = new Uint8Array(CACHE_SLOTS * CACHE_MAX_BYTES);
const cacheView = new DataView(cacheBytes.buffer);
const cacheLens = new Int32Array(CACHE_SLOTS).fill(-1);
const cacheStrings: string[] = new Array<string>(CACHE_SLOTS).fill('');

// Trace and span ids: unique per span, but a batch usually holds several
// spans of each trace and children of each parent, so a small cache of recent
// ids avoids most hex conversions of trace ids and parent ids.
const ID_SLOTS = 512;
const idBytes = new Uint8Array(ID_SLOTS * 16);
const idLens = new Int32Array(ID_SLOTS);
const idStrings: string[] = new Array<string>(ID_SLOTS).fill('');

/** Lowercase hex digits as char codes, indexed by byte: high and low nibble. */
const HEX_HI = new Uint8Array(256);
const HEX_LO = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  HEX_HI[i] = '0123456789abcdef'.charCodeAt(i >> 4);
  HEX_LO[i] = '0123456789abcdef'.charCodeAt(i & 15);
}
// String.fromCharCode.apply over a reused array was the fastest id→hex
// conversion measured (faster than Buffer#toString('hex') or concatenating
// table entries): one call, one flat string, no intermediate allocation.
const hex16: number[] = new Array<number>(16).fill(0);
const hex32: number[] = new Array<number>(32).fill(0);

// Timestamps: the high 32 bits of nanosecond times change every ~4.3 s, so the
// BigInt of the high half is cached and only the low half is converted.
let lastHi = -1;
let lastHiBig = 0n;

/**
 * V8's internalized copy of `s`: the key of an object property is always
 * internalized, and reading it back returns that copy.
 */
function internalize(s: string): string {
  const o: Record<string, number> = {};
  o[s] = 0;
  for (const k in o) return k;
  return s;
}

/** 2^32 as a number. */
const TWO_32 = 4294967296;

/**
 * A bounds-checked cursor over one protobuf message buffer.
 *
 * Every read takes `what`, a constant naming the field being read
 * (`Span.attributes`), which only ends up in the error message; passing a
 * constant costs nothing on the success path.
 */
export class ProtoReader {
  /** The input. */
  buf: Buffer;
  /** Offset of the next byte to read. */
  pos: number;
  /** Length of the input. */
  len: number;
  /** The input as a DataView, for word-wise comparisons. */
  private view: DataView;
  /** Low 32 bits (unsigned) of the last {@link varint64} or {@link fixed64} read. */
  lo: number;
  /** High 32 bits (unsigned) of the last {@link varint64} or {@link fixed64} read. */
  hi: number;

  constructor(input: Uint8Array) {
    // A Buffer view (no copy) gives access to the native UTF-8 slicer.
    this.buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    this.pos = 0;
    this.len = this.buf.length;
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.lo = 0;
    this.hi = 0;
  }

  // --------------------------------------------------------------- errors

  /**
   * Throws an {@link OtlpDecodeError}. `at` is the offset of the value that
   * failed (by default the cursor, which read methods leave at the start of
   * the value they could not read).
   */
  fail(reason: string, what: string, at: number = this.pos): never {
    throw new OtlpDecodeError(`${reason} at offset ${at} while reading ${what}`);
  }

  /** Throws the error for input that ends in the middle of a field. */
  truncated(what: string): never {
    this.fail('truncated message', what);
  }

  /**
   * Called by a message decoder whose field loop stopped past its message end:
   * a fixed-width or varint field ran into the bytes after the message.
   */
  overrun(end: number, what: string): never {
    this.fail(`field runs ${this.pos - end} byte(s) past the end of the enclosing message`, what, end);
  }

  // --------------------------------------------------------------- varints

  /**
   * A varint as an unsigned 32-bit number (higher bits of a longer varint are
   * dropped, as protobuf does for uint32/int32 and tags). Used for tags,
   * lengths, counts and enums; an int32 field wants `| 0` on the result.
   */
  varint32(what: string): number {
    const buf = this.buf;
    let pos = this.pos;
    if (pos + 5 <= this.len) {
      // Fast path: enough bytes for a 5-byte varint, so no per-byte check.
      let b = buf[pos++];
      let v = b & 0x7f;
      if (b < 0x80) {
        this.pos = pos;
        return v;
      }
      b = buf[pos++];
      v |= (b & 0x7f) << 7;
      if (b < 0x80) {
        this.pos = pos;
        return v;
      }
      b = buf[pos++];
      v |= (b & 0x7f) << 14;
      if (b < 0x80) {
        this.pos = pos;
        return v;
      }
      b = buf[pos++];
      v |= (b & 0x7f) << 21;
      if (b < 0x80) {
        this.pos = pos;
        return v;
      }
      b = buf[pos++];
      v |= b << 28;
      this.pos = pos;
      if (b < 0x80) return v >>> 0;
      this.skipVarintTail(what);
      return v >>> 0;
    }
    return this.varint32Checked(what);
  }

  /** {@link varint32} near the end of the buffer, checking every byte. */
  private varint32Checked(what: string): number {
    const buf = this.buf;
    const len = this.len;
    let pos = this.pos;
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (pos >= len) this.truncated(what);
      const b = buf[pos++];
      v |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return v >>> 0;
      }
    }
    this.pos = pos;
    this.skipVarintTail(what);
    return v >>> 0;
  }

  /** Consumes bytes 6..10 of a varint whose first 5 bytes were read. */
  private skipVarintTail(what: string): void {
    const buf = this.buf;
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.len) this.truncated(what);
      if (buf[this.pos++] < 0x80) return;
    }
    this.fail('varint longer than 10 bytes', what, this.pos - 10);
  }

  /** A 64-bit varint into {@link lo} and {@link hi} (both unsigned 32-bit). */
  varint64(what: string): void {
    const buf = this.buf;
    const len = this.len;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    let b = 0;
    // Bytes 0..3 carry bits 0..27.
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= len) this.truncated(what);
      b = buf[pos++];
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        this.lo = lo >>> 0;
        this.hi = 0;
        return;
      }
    }
    // Byte 4 carries bits 28..34: four into lo, three into hi.
    if (pos >= len) this.truncated(what);
    b = buf[pos++];
    lo |= (b & 0x7f) << 28;
    hi = (b & 0x7f) >> 4;
    if (b >= 0x80) {
      // Bytes 5..9 carry bits 35..63.
      let shift = 3;
      for (;;) {
        if (shift > 31) this.fail('varint longer than 10 bytes', what, this.pos);
        if (pos >= len) this.truncated(what);
        b = buf[pos++];
        hi |= (b & 0x7f) << shift;
        if (b < 0x80) break;
        shift += 7;
      }
    }
    this.pos = pos;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  /** A bool field: any non-zero varint is true. */
  bool(what: string): boolean {
    this.varint64(what);
    return (this.lo | this.hi) !== 0;
  }

  /** A sint32 field (zigzag-encoded). */
  sint32(what: string): number {
    const n = this.varint32(what);
    return (n >>> 1) ^ -(n & 1);
  }

  /** A uint64 varint as a number; values beyond 2^53 lose precision. */
  uint64Number(what: string): number {
    this.varint64(what);
    return this.hi * TWO_32 + this.lo;
  }

  // ----------------------------------------------------------- fixed width

  /** A fixed32 field (unsigned). */
  fixed32(what: string): number {
    const pos = this.pos;
    if (pos + 4 > this.len) this.truncated(what);
    const buf = this.buf;
    this.pos = pos + 4;
    return (buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16) | (buf[pos + 3] << 24)) >>> 0;
  }

  /** A fixed64/sfixed64 field into {@link lo} and {@link hi}. */
  fixed64(what: string): void {
    const pos = this.pos;
    if (pos + 8 > this.len) this.truncated(what);
    const buf = this.buf;
    this.pos = pos + 8;
    this.lo = (buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16) | (buf[pos + 3] << 24)) >>> 0;
    this.hi = (buf[pos + 4] | (buf[pos + 5] << 8) | (buf[pos + 6] << 16) | (buf[pos + 7] << 24)) >>> 0;
  }

  /** A fixed64 timestamp as an unsigned bigint. */
  fixed64Big(what: string): bigint {
    this.fixed64(what);
    const hi = this.hi;
    if (hi === 0) return BigInt(this.lo);
    if (hi !== lastHi) {
      lastHi = hi;
      lastHiBig = BigInt(hi) << 32n;
    }
    return lastHiBig + BigInt(this.lo);
  }

  /** A fixed64 count as a number; values beyond 2^53 lose precision. */
  fixed64Number(what: string): number {
    this.fixed64(what);
    return this.hi * TWO_32 + this.lo;
  }

  /** A double field. */
  double(what: string): number {
    const pos = this.pos;
    if (pos + 8 > this.len) this.truncated(what);
    const buf = this.buf;
    f64Bytes[0] = buf[pos];
    f64Bytes[1] = buf[pos + 1];
    f64Bytes[2] = buf[pos + 2];
    f64Bytes[3] = buf[pos + 3];
    f64Bytes[4] = buf[pos + 4];
    f64Bytes[5] = buf[pos + 5];
    f64Bytes[6] = buf[pos + 6];
    f64Bytes[7] = buf[pos + 7];
    this.pos = pos + 8;
    return f64[0];
  }

  // ------------------------------------------------------- length-delimited

  /**
   * Reads the length of a length-delimited field and returns the offset just
   * past its content, after checking that it ends within `end` (the end of
   * the enclosing message). The cursor is left at the start of the content.
   */
  lenEnd(end: number, what: string): number {
    const at = this.pos;
    const n = this.varint32(what);
    const e = this.pos + n;
    if (e > end) {
      const left = end - this.pos;
      this.fail(
        end === this.len
          ? `truncated message: length ${n} runs past the end of the input (${left} byte(s) left)`
          : `length ${n} runs past the end of the enclosing message (${left} byte(s) left)`,
        what,
        at,
      );
    }
    return e;
  }

  /**
   * A string field. Short strings come from the cache (same bytes, same
   * string object); others are decoded natively. Invalid UTF-8 is replaced
   * with U+FFFD, as protobuf runtimes in JavaScript do.
   */
  string(end: number, what: string): string {
    const e = this.lenEnd(end, what);
    const start = this.pos;
    this.pos = e;
    const n = e - start;
    if (n === 0) return '';
    if (n <= CACHE_MAX_BYTES) return this.cachedString(start, n, false);
    return (this.buf as unknown as NodeBufferInternals).utf8Slice(start, e);
  }

  /**
   * An attribute key: always looked up in the cache, and stored there
   * internalized, so that property stores with it need no string-table lookup.
   */
  key(end: number, what: string): string {
    const e = this.lenEnd(end, what);
    const start = this.pos;
    this.pos = e;
    const n = e - start;
    if (n === 0) return '';
    if (n <= CACHE_MAX_BYTES) return this.cachedString(start, n, true);
    return (this.buf as unknown as NodeBufferInternals).utf8Slice(start, e);
  }

  /** A string field that is never cached (long, unique values such as log bodies). */
  stringUncached(end: number, what: string): string {
    const e = this.lenEnd(end, what);
    const start = this.pos;
    this.pos = e;
    if (e === start) return '';
    return (this.buf as unknown as NodeBufferInternals).utf8Slice(start, e);
  }

  /** Looks up (or decodes and stores) the `n` bytes at `start`; `n` ≤ {@link CACHE_MAX_BYTES}. */
  private cachedString(start: number, n: number, intern: boolean): string {
    const buf = this.buf;
    const e = start + n;
    // The hash samples six bytes and the length instead of reading every
    // byte: keys differ mostly at their ends and in length, and a collision
    // costs only a miss (the comparison below decides).
    let h = Math.imul(n ^ (buf[start] << 8) ^ (buf[e - 1] << 16) ^ (buf[start + (n >> 1)] << 24), 0x9e3779b1);
    h = Math.imul(h ^ buf[e - 2] ^ (buf[start + (n >> 2)] << 8) ^ (buf[e - 1 - (n >> 2)] << 16), 0x85ebca6b);
    const slot = (h ^ (h >>> 15)) & (CACHE_SLOTS - 1);
    const base = slot * CACHE_MAX_BYTES;
    if (cacheLens[slot] === n) {
      // Four bytes per step: TurboFan compiles DataView reads to plain loads.
      const view = this.view;
      let i = 0;
      const n4 = n - 3;
      while (i < n4 && cacheView.getInt32(base + i) === view.getInt32(start + i)) i += 4;
      while (i < n && cacheBytes[base + i] === buf[start + i]) i++;
      if (i === n) return cacheStrings[slot];
    }
    let s = (buf as unknown as NodeBufferInternals).utf8Slice(start, e);
    if (intern) s = internalize(s);
    for (let i = 0; i < n; i++) cacheBytes[base + i] = buf[start + i];
    cacheLens[slot] = n;
    cacheStrings[slot] = s;
    return s;
  }

  /** A bytes field, copied (so the result does not pin the request buffer). */
  bytes(end: number, what: string): Uint8Array {
    const e = this.lenEnd(end, what);
    const start = this.pos;
    this.pos = e;
    const out = new Uint8Array(e - start);
    out.set(this.buf.subarray(start, e));
    return out;
  }

  /**
   * A trace id (`size` 16) or span id (`size` 8) as lowercase hex. A zero-length
   * or all-zero id is the empty string (OTLP calls both "invalid", the Collector
   * treats them as absent); any other length is an error.
   */
  id(end: number, size: 8 | 16, what: string): string {
    const e = this.lenEnd(end, what);
    const start = this.pos;
    const n = e - start;
    this.pos = e;
    if (n === 0) return '';
    if (n !== size) this.fail(`invalid id length ${n} (expected 0 or ${size} bytes)`, what, start);
    const buf = this.buf;
    let any = 0;
    for (let i = start; i < e; i++) any |= buf[i];
    if (any === 0) return '';
    // Random ids: two bytes are an even hash.
    const slot = ((buf[start] << 1) ^ buf[start + 7] ^ (n << 5)) & (ID_SLOTS - 1);
    const base = slot * 16;
    if (idLens[slot] === n) {
      let i = 0;
      while (i < n && idBytes[base + i] === buf[start + i]) i++;
      if (i === n) return idStrings[slot];
    }
    const chars = n === 16 ? hex32 : hex16;
    for (let i = 0; i < n; i++) {
      const b = buf[start + i];
      chars[2 * i] = HEX_HI[b];
      chars[2 * i + 1] = HEX_LO[b];
      idBytes[base + i] = b;
    }
    const s = String.fromCharCode.apply(null, chars);
    idLens[slot] = n;
    idStrings[slot] = s;
    return s;
  }

  // --------------------------------------------------------------- skipping

  /**
   * Skips a field this decoder does not know (forward compatibility), or fails
   * when the field *is* known (`names[field]` is set) but came with the wrong
   * wire type. `msg` names the message for the error.
   */
  skipUnknown(tag: number, end: number, names: FieldNames, msg: string): void {
    const field = tag >>> 3;
    const wt = tag & 7;
    // Errors point at the tag, not past it.
    const at = this.pos - tagSize(tag);
    if (field === 0) this.fail('invalid field number 0', msg, at);
    const name = field < names.length ? names[field] : undefined;
    if (name !== undefined) this.fail(`wrong wire type ${wt} for field ${field}`, `${msg}.${name}`, at);
    if (wt === WireType.START_GROUP || wt === WireType.END_GROUP) this.fail('unsupported group wire type', msg, at);
    if (wt > WireType.FIXED32) this.fail(`invalid wire type ${wt}`, msg, at);
    this.skip(wt, end, msg);
  }

  /** Skips the value of a field of wire type `wt`. Groups and wire types 6/7 are errors. */
  skip(wt: number, end: number, what: string): void {
    switch (wt) {
      case WireType.VARINT:
        this.varint64(what);
        return;
      case WireType.FIXED64:
        if (this.pos + 8 > this.len) this.truncated(what);
        this.pos += 8;
        return;
      case WireType.LEN:
        this.pos = this.lenEnd(end, what);
        return;
      case WireType.FIXED32:
        if (this.pos + 4 > this.len) this.truncated(what);
        this.pos += 4;
        return;
      case WireType.START_GROUP:
      case WireType.END_GROUP:
        this.fail('unsupported group wire type', what);
      default:
        this.fail(`invalid wire type ${wt}`, what);
    }
  }
}

/** Bytes the tag took as a varint (tags are at most 5 bytes long). */
function tagSize(tag: number): number {
  return tag < 0x80 ? 1 : tag < 0x4000 ? 2 : tag < 0x200000 ? 3 : tag < 0x10000000 ? 4 : 5;
}

/**
 * Converts the signed 64-bit integer `hi:lo` (two unsigned halves) to a number
 * when it is a safe integer, else to a bigint — the rule of pdata's AnyValue.
 */
export function int64Value(lo: number, hi: number): number | bigint {
  const shi = hi | 0;
  // |shi| < 2^21 keeps |value| within 2^53; -2^53 itself is not safe.
  if (shi >= -0x200000 && shi < 0x200000) {
    const v = shi * TWO_32 + lo;
    if (v >= -Number.MAX_SAFE_INTEGER) return v;
  }
  return (BigInt(shi) << 32n) + BigInt(lo);
}
