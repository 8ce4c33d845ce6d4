/**
 * A minimal Hessian 2.0 reader for Dubbo bodies: strings, ints, the
 * attachment map, and skipping any other value (objects with their class
 * definitions, lists, maps, binaries, dates, doubles, refs) to reach it.
 *
 * Grammar: the Hessian 2.0 serialization protocol (hessian.caucho.com).
 * Reads past the end or unknown codes never throw: they clear `ok`.
 * Recursion is bounded by {@link MAX_DEPTH}; class definitions by
 * {@link MAX_CLASSES}. One reader per parser, reset per message.
 */
import { utf8 } from '../framing';

const MAX_DEPTH = 32;
const MAX_CLASSES = 256;
/** Longest string we materialise (service and method names are far shorter). */
const MAX_STRING_CHARS = 4096;

/** Hessian 2.0 reader over `buf[pos..end)`. */
export class HessianReader {
  buf: Uint8Array = new Uint8Array(0);
  pos = 0;
  end = 0;
  ok = true;
  /** Field counts of the class definitions seen in this message, by index. */
  private readonly classFields: number[] = [];
  private classCount = 0;
  /** Class name of the last object definition read (exception types). */
  lastClassName = '';

  /** Points the reader at a message body. */
  reset(buf: Uint8Array, pos: number, end: number): this {
    this.buf = buf;
    this.pos = pos;
    this.end = Math.min(end, buf.length);
    this.ok = pos <= this.end;
    this.classCount = 0;
    this.lastClassName = '';
    return this;
  }

  /** Code of the next value without consuming it; -1 at the end. */
  peek(): number {
    return this.pos < this.end ? this.buf[this.pos] : -1;
  }

  private fail(): void {
    this.ok = false;
    this.pos = this.end;
  }

  private take(n: number): boolean {
    if (!this.ok || n < 0 || this.pos + n > this.end) {
      this.fail();
      return false;
    }
    this.pos += n;
    return true;
  }

  private byte(): number {
    if (!this.ok || this.pos >= this.end) {
      this.fail();
      return 0;
    }
    return this.buf[this.pos++];
  }

  /** Whether the next value is a string (or null). */
  atString(): boolean {
    const b = this.peek();
    return b >= 0 && (b <= 0x1f || (b >= 0x30 && b <= 0x33) || b === 0x52 || b === 0x53 || b === 0x4e);
  }

  /** A string value; null for `N` or when the next value is not a string. */
  readString(): string | null {
    const b = this.peek();
    if (b === 0x4e) {
      this.pos++;
      return null;
    }
    if (!this.atString()) {
      this.fail();
      return null;
    }
    let out = '';
    for (;;) {
      const code = this.byte();
      let chars: number;
      let final = true;
      if (code <= 0x1f) chars = code;
      else if (code >= 0x30 && code <= 0x33) chars = ((code - 0x30) << 8) | this.byte();
      else if (code === 0x53 || code === 0x52) {
        chars = (this.byte() << 8) | this.byte();
        final = code === 0x53;
      } else {
        this.fail();
        return null;
      }
      const start = this.pos;
      if (!this.skipChars(chars)) return null;
      if (out.length < MAX_STRING_CHARS) out += utf8(this.buf, start, this.pos);
      if (final) return out;
      if (!this.atString() || this.peek() === 0x4e) {
        this.fail();
        return null;
      }
    }
  }

  /** Skips a string value without decoding it. */
  skipString(): void {
    for (;;) {
      const code = this.byte();
      if (code === 0x4e) return; // null
      let chars: number;
      let final = true;
      if (code <= 0x1f) chars = code;
      else if (code >= 0x30 && code <= 0x33) chars = ((code - 0x30) << 8) | this.byte();
      else if (code === 0x53 || code === 0x52) {
        chars = (this.byte() << 8) | this.byte();
        final = code === 0x53;
      } else return this.fail();
      if (!this.skipChars(chars) || final) return;
      if (!this.atString() || this.peek() === 0x4e) return this.fail();
    }
  }

  /** Skips `n` characters of Hessian's UTF-8 (lengths count UTF-16 units). */
  private skipChars(n: number): boolean {
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) {
      if (p >= this.end) {
        this.fail();
        return false;
      }
      const c = b[p];
      if (c < 0x80) p += 1;
      else if ((c & 0xe0) === 0xc0) p += 2;
      else if ((c & 0xf0) === 0xe0) p += 3;
      else {
        p += 4;
        i++; // a 4-byte sequence is a surrogate pair: two units
      }
    }
    if (p > this.end) {
      this.fail();
      return false;
    }
    this.pos = p;
    return true;
  }

  /** An int value (any of Hessian's int encodings); null when the next value is not an int. */
  readInt(): number | null {
    const b = this.peek();
    if (b >= 0x80 && b <= 0xbf) {
      this.pos++;
      return b - 0x90;
    }
    if (b >= 0xc0 && b <= 0xcf) {
      this.pos++;
      return ((b - 0xc8) << 8) | this.byte();
    }
    if (b >= 0xd0 && b <= 0xd7) {
      this.pos++;
      return ((b - 0xd4) << 16) | (this.byte() << 8) | this.byte();
    }
    if (b === 0x49) {
      this.pos++;
      return (this.byte() << 24) | (this.byte() << 16) | (this.byte() << 8) | this.byte();
    }
    return null;
  }

  /** Skips one value of any type. */
  skipValue(depth = 0): void {
    if (depth > MAX_DEPTH) {
      this.fail();
      return;
    }
    const b = this.byte();
    if (!this.ok) return;
    if (b <= 0x1f || (b >= 0x30 && b <= 0x33) || b === 0x52 || b === 0x53) {
      this.pos--;
      this.skipString();
      return;
    }
    if (b >= 0x20 && b <= 0x2f) return void this.take(b - 0x20); // short binary
    if (b >= 0x34 && b <= 0x37) return void this.take(((b - 0x34) << 8) | this.byte());
    if (b >= 0x38 && b <= 0x3f) return void this.take(2); // 3-byte long
    if (b >= 0x60 && b <= 0x6f) return this.skipFields(b - 0x60, depth);
    if (b >= 0x70 && b <= 0x77) {
      this.skipType();
      return this.skipValues(b - 0x70, depth);
    }
    if (b >= 0x78 && b <= 0x7f) return this.skipValues(b - 0x78, depth);
    if (b >= 0x80 && b <= 0xbf) return; // 1-byte int
    if (b >= 0xc0 && b <= 0xcf) return void this.take(1);
    if (b >= 0xd0 && b <= 0xd7) return void this.take(2);
    if (b >= 0xd8 && b <= 0xef) return; // 1-byte long
    if (b >= 0xf0) return void this.take(1);
    switch (b) {
      case 0x41: // 'A' binary chunk
      case 0x42: {
        // 'B' final binary chunk
        this.take((this.byte() << 8) | this.byte());
        if (b === 0x41 && this.ok) this.skipValue(depth + 1);
        return;
      }
      case 0x43: // 'C' class definition, then the value that uses it
        this.classDef();
        this.skipValue(depth + 1);
        return;
      case 0x44: // 'D' double
      case 0x4a: // 'J' date
      case 0x4c: // 'L' long
        this.take(8);
        return;
      case 0x46: // 'F'
      case 0x4e: // 'N'
      case 0x54: // 'T'
      case 0x5b: // double 0.0
      case 0x5c: // double 1.0
        return;
      case 0x48: // 'H' untyped map
        return this.skipPairs(depth);
      case 0x49: // 'I' int
      case 0x4b: // 'K' date in minutes
      case 0x59: // 'Y' 4-byte long
      case 0x5f: // double as int/1000
        this.take(4);
        return;
      case 0x4d: // 'M' typed map
        this.skipType();
        return this.skipPairs(depth);
      case 0x4f: {
        // 'O' object instance
        const ref = this.readInt();
        if (ref === null) return this.fail();
        return this.skipFields(ref, depth);
      }
      case 0x51: // 'Q' reference
        if (this.readInt() === null) this.fail();
        return;
      case 0x55: // 'U' variable-length typed list
        this.skipType();
        return this.skipUntilEnd(depth);
      case 0x56: {
        // 'V' fixed-length typed list
        this.skipType();
        const n = this.readInt();
        return n === null ? this.fail() : this.skipValues(n, depth);
      }
      case 0x57: // 'W' variable-length untyped list
        return this.skipUntilEnd(depth);
      case 0x58: {
        // 'X' fixed-length untyped list
        const n = this.readInt();
        return n === null ? this.fail() : this.skipValues(n, depth);
      }
      case 0x5d: // double as byte
        this.take(1);
        return;
      case 0x5e: // double as short
        this.take(2);
        return;
      default:
        this.fail(); // reserved codes
    }
  }

  /** Reads a class definition: name, field count, field names. */
  private classDef(): void {
    const name = this.readString();
    const n = this.readInt();
    if (name === null || n === null || n < 0 || n > 4096) return this.fail();
    for (let i = 0; i < n && this.ok; i++) this.skipString();
    if (this.classCount >= MAX_CLASSES) return this.fail();
    this.classFields[this.classCount++] = n;
    this.lastClassName = name;
  }

  private skipType(): void {
    if (this.atString()) this.skipString();
    else if (this.readInt() === null) this.fail();
  }

  private skipFields(classRef: number, depth: number): void {
    if (classRef < 0 || classRef >= this.classCount) return this.fail();
    this.skipValues(this.classFields[classRef], depth);
  }

  private skipValues(n: number, depth: number): void {
    if (n < 0 || n > this.end - this.pos) return this.fail();
    for (let i = 0; i < n && this.ok; i++) this.skipValue(depth + 1);
  }

  private skipPairs(depth: number): void {
    while (this.ok && this.peek() !== 0x5a) {
      this.skipValue(depth + 1);
      this.skipValue(depth + 1);
    }
    this.take(1); // 'Z'
  }

  private skipUntilEnd(depth: number): void {
    while (this.ok && this.peek() !== 0x5a) this.skipValue(depth + 1);
    this.take(1);
  }

  /**
   * Reads a map of string keys, calling `onEntry(key, value)` for entries
   * whose value is a string; other entries are skipped. Returns false when
   * the next value is not a map or the map is malformed.
   */
  readStringMap(sink: { add(key: string, value: string): void; wants(lowercaseKey: string): boolean }): boolean {
    const b = this.peek();
    if (b !== 0x48 && b !== 0x4d) return false;
    this.pos++;
    if (b === 0x4d) this.skipType();
    while (this.ok && this.peek() !== 0x5a) {
      if (!this.atString() || this.peek() === 0x4e) {
        this.skipValue(1);
        this.skipValue(1);
        continue;
      }
      const key = this.readString();
      const lower = key === null ? '' : key.toLowerCase();
      if (key !== null && sink.wants(lower) && this.atString() && this.peek() !== 0x4e) {
        const value = this.readString();
        if (value !== null) sink.add(lower, value);
      } else this.skipValue(1); // attachments we do not report are skipped, not decoded
    }
    this.take(1);
    return this.ok;
  }
}

/** Number of parameter types in a JVM method descriptor (`Ljava/lang/String;I[J` → 3). */
export function countParameterTypes(desc: string): number {
  let n = 0;
  for (let i = 0; i < desc.length; i++) {
    const ch = desc.charCodeAt(i);
    if (ch === 0x5b) continue; // '[' array prefix
    if (ch === 0x4c) {
      // 'L' class name up to ';'
      const end = desc.indexOf(';', i);
      if (end < 0) return -1;
      i = end;
      n++;
    } else if ('ZBCSIJFD'.includes(desc[i])) n++;
    else return -1;
  }
  return n;
}
