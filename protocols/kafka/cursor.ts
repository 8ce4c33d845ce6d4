/**
 * A bounds-checked reader over a byte view for the Kafka wire types
 * (INT8…INT64, STRING / COMPACT_STRING, arrays, unsigned varints, tagged
 * fields, zig-zag varints of record batches).
 *
 * Reads past the end never throw: they return 0 / '' and clear `ok`, so a
 * parser can read a message prefix (a truncated capture, or the part of a
 * large message we buffered) and keep what it got before the end.
 * One instance per parser, reset per message: no allocation per read.
 */
import { utf8 } from '../framing';

/** Cursor over `buf[pos..end)`. */
export class Cursor {
  buf: Uint8Array = new Uint8Array(0);
  pos = 0;
  end = 0;
  /** False once a read ran past `end` or met an impossible value. */
  ok = true;

  /** Points the cursor at `buf[pos..end)`. */
  reset(buf: Uint8Array, pos: number, end: number): this {
    this.buf = buf;
    this.pos = pos;
    this.end = Math.min(end, buf.length);
    this.ok = pos <= this.end;
    return this;
  }

  /** Bytes left. */
  get left(): number {
    return this.end - this.pos;
  }

  private need(n: number): boolean {
    if (!this.ok || this.pos + n > this.end) {
      this.ok = false;
      this.pos = this.end;
      return false;
    }
    return true;
  }

  /** Marks the message as unreadable from here on. */
  fail(): void {
    this.ok = false;
    this.pos = this.end;
  }

  u8(): number {
    if (!this.need(1)) return 0;
    return this.buf[this.pos++];
  }

  i16(): number {
    if (!this.need(2)) return 0;
    const b = this.buf;
    const v = (b[this.pos] << 8) | b[this.pos + 1];
    this.pos += 2;
    return (v << 16) >> 16;
  }

  i32(): number {
    if (!this.need(4)) return 0;
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3];
  }

  /** INT64 as a number (exact up to 2^53, which offsets and ids stay below). */
  i64(): number {
    if (!this.need(8)) return 0;
    const b = this.buf;
    const p = this.pos;
    this.pos += 8;
    const hi = (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3];
    const lo = ((b[p + 4] << 24) >>> 0) + ((b[p + 5] << 16) | (b[p + 6] << 8) | b[p + 7]);
    return hi * 4294967296 + lo;
  }

  skip(n: number): void {
    if (n < 0) this.fail();
    else if (this.need(n)) this.pos += n;
  }

  /** Unsigned varint (UNSIGNED_VARINT), at most 5 bytes. */
  uvarint(): number {
    let v = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      if (!this.need(1)) return 0;
      const b = this.buf[this.pos++];
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
      shift += 7;
    }
    this.fail();
    return 0;
  }

  /** Zig-zag varint (VARINT of record batches), 32-bit. */
  varint(): number {
    const u = this.uvarint();
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  }

  /** Skips a zig-zag VARLONG (up to 10 bytes). */
  skipVarlong(): void {
    for (let i = 0; i < 10; i++) {
      if (!this.need(1)) return;
      if ((this.buf[this.pos++] & 0x80) === 0) return;
    }
    this.fail();
  }

  /** STRING / NULLABLE_STRING (INT16 length) or COMPACT_(NULLABLE_)STRING; null for null. */
  str(compact: boolean): string | null {
    const n = compact ? this.uvarint() - 1 : this.i16();
    if (n < 0) return null;
    if (!this.need(n)) return null;
    const s = utf8(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  /** Skips a string of either encoding. */
  skipStr(compact: boolean): void {
    const n = compact ? this.uvarint() - 1 : this.i16();
    if (n > 0) this.skip(n);
  }

  /** Length of BYTES / COMPACT_BYTES / RECORDS (-1 for null). */
  bytesLen(compact: boolean): number {
    return compact ? this.uvarint() - 1 : this.i32();
  }

  /** ARRAY / COMPACT_ARRAY length; -1 for null. */
  arrayLen(compact: boolean): number {
    const n = compact ? this.uvarint() - 1 : this.i32();
    if (n > this.end - this.pos) {
      // Each element takes at least one byte: a larger count is garbage.
      this.fail();
      return -1;
    }
    return n;
  }

  /** Skips a TAG_BUFFER. */
  skipTags(): void {
    const n = this.uvarint();
    for (let i = 0; i < n && this.ok; i++) {
      this.uvarint();
      this.skip(this.uvarint());
    }
  }
}
