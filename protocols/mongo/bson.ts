/**
 * A minimal BSON reader (bsonspec.org): walk the elements of a document,
 * find a key, read strings, numbers and booleans — enough for the command
 * name, the collection, `$db`, and `ok` / `errmsg` / `code` of replies.
 *
 * Offsets are into the caller's buffer; nothing is copied and no object is
 * built. Malformed or truncated documents end the walk (never throw).
 */
import { i32le, utf8 } from '../framing';

/** BSON element type: double (the reader distinguishes the types below). */
export const T_DOUBLE = 0x01;
/** BSON element type: UTF-8 string. */
export const T_STRING = 0x02;
/** BSON element type: embedded document. */
export const T_DOCUMENT = 0x03;
/** BSON element type: array. */
export const T_ARRAY = 0x04;
/** BSON element type: boolean. */
export const T_BOOL = 0x08;
/** BSON element type: 32-bit integer. */
export const T_INT32 = 0x10;
/** BSON element type: 64-bit integer. */
export const T_INT64 = 0x12;

/** One element: where its key and value are. Reused by the caller. */
export class BsonElement {
  type = 0;
  keyStart = 0;
  keyEnd = 0;
  valueStart = 0;
  valueEnd = 0;
  /** The value runs past the bytes available (a prefix capture): only its start is here. */
  cut = false;
}

/** {@link valueSize}: the value's length prefix itself is past the bytes available. */
const CUT = -2;

/**
 * Size of the value of type `type` at `p` (within `end`): -1 for an
 * unknown type or impossible length, {@link CUT} when the length prefix is
 * not within `end`.
 */
function valueSize(b: Uint8Array, type: number, p: number, end: number): number {
  switch (type) {
    case 0x01: // double
    case 0x09: // UTC datetime
    case 0x11: // timestamp
    case 0x12: // int64
      return 8;
    case 0x02: // string
    case 0x0d: // JavaScript code
    case 0x0e: {
      // symbol
      if (p + 4 > end) return CUT;
      const n = i32le(b, p);
      return n < 1 ? -1 : 4 + n;
    }
    case 0x03: // document
    case 0x04: // array
    case 0x0f: {
      // code with scope
      if (p + 4 > end) return CUT;
      const n = i32le(b, p);
      return n < 5 ? -1 : n;
    }
    case 0x05: {
      // binary
      if (p + 4 > end) return CUT;
      const n = i32le(b, p);
      return n < 0 ? -1 : 5 + n;
    }
    case 0x06: // undefined
    case 0x0a: // null
    case 0x7f: // max key
    case 0xff: // min key
      return 0;
    case 0x07: // ObjectId
      return 12;
    case 0x08: // boolean
      return 1;
    case 0x0b: {
      // regex: two cstrings
      let q = p;
      for (let k = 0; k < 2; k++) {
        while (q < end && b[q] !== 0) q++;
        if (q >= end) return -1;
        q++;
      }
      return q - p;
    }
    case 0x0c: {
      // DBPointer: string + 12
      if (p + 4 > end) return -1;
      const n = i32le(b, p);
      return n < 1 ? -1 : 4 + n + 12;
    }
    case 0x10: // int32
      return 4;
    case 0x13: // decimal128
      return 16;
    default:
      return -1;
  }
}

/**
 * Iterates the elements of the document at `docStart`:
 * `for (let p = w.first(b, start, limit), q; p >= 0 && (q = w.next(p, el)) >= 0; p = q) { use el }`.
 * `next` fills `el` with the element at `p` and returns the position after
 * it, or -1 at the end of the document or on malformed bytes.
 */
export class BsonWalker {
  buf: Uint8Array = new Uint8Array(0);
  /** End of the document (exclusive, clamped to the bytes available). */
  end = 0;
  /** The document's stated end was past the bytes available (prefix capture). */
  clipped = false;

  /** Starts a walk; returns the position of the first element or -1. */
  first(b: Uint8Array, docStart: number, limit: number): number {
    this.buf = b;
    if (docStart + 5 > limit) return -1;
    const len = i32le(b, docStart);
    if (len < 5) return -1;
    this.clipped = docStart + len > limit;
    this.end = Math.min(docStart + len - 1, limit); // last byte is the terminating 0
    return docStart + 4;
  }

  /** Reads the element at `p` into `el`; returns the next position or -1. */
  next(p: number, el: BsonElement): number {
    const b = this.buf;
    const end = this.end;
    if (p < 0 || p >= end) return -1;
    const type = b[p];
    if (type === 0) return -1;
    let q = p + 1;
    const keyStart = q;
    while (q < end && b[q] !== 0) q++;
    if (q >= end) return -1;
    el.type = type;
    el.keyStart = keyStart;
    el.keyEnd = q;
    q++;
    const size = valueSize(b, type, q, end);
    if (size === -1) return -1;
    el.valueStart = q;
    if (size === CUT || q + size > end) {
      // A value cut off by the end of the captured bytes: the key and the
      // start of the value are still usable; the walk ends after it.
      el.valueEnd = end;
      el.cut = true;
      return end;
    }
    el.valueEnd = q + size;
    el.cut = false;
    return q + size;
  }
}

// Float64Array uses the platform's byte order; BSON doubles are little-endian,
// as is every platform Node runs on.
const SCRATCH_F64 = new Float64Array(1);
const SCRATCH_BYTES = new Uint8Array(SCRATCH_F64.buffer);

/** The key of an element as a string. */
export function keyOf(b: Uint8Array, el: BsonElement): string {
  return utf8(b, el.keyStart, el.keyEnd);
}

/** Whether the element's key equals `key` (ASCII), compared without allocating. */
export function keyIs(b: Uint8Array, el: BsonElement, key: string): boolean {
  const n = el.keyEnd - el.keyStart;
  if (n !== key.length) return false;
  for (let i = 0; i < n; i++) if (b[el.keyStart + i] !== key.charCodeAt(i)) return false;
  return true;
}

/** The string value of a string element; null for other types. */
export function stringOf(b: Uint8Array, el: BsonElement): string | null {
  if (el.type !== T_STRING || el.valueEnd - el.valueStart < 5) return null;
  const n = i32le(b, el.valueStart);
  const start = el.valueStart + 4;
  const end = Math.min(start + n - 1, el.valueEnd);
  return utf8(b, start, end);
}

/** The numeric value of a double, int32, int64 or boolean element; null otherwise. */
export function numberOf(b: Uint8Array, el: BsonElement): number | null {
  const p = el.valueStart;
  switch (el.type) {
    case T_INT32:
      return el.valueEnd - p >= 4 ? i32le(b, p) : null;
    case T_INT64:
      return el.valueEnd - p >= 8 ? i32le(b, p + 4) * 4294967296 + (i32le(b, p) >>> 0) : null;
    case T_DOUBLE: {
      if (el.valueEnd - p < 8) return null;
      // Through a scratch array: no DataView per read.
      for (let i = 0; i < 8; i++) SCRATCH_BYTES[i] = b[p + i];
      return SCRATCH_F64[0];
    }
    case T_BOOL:
      return el.valueEnd - p >= 1 ? (b[p] ? 1 : 0) : null;
    default:
      return null;
  }
}
