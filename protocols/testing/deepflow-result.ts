/**
 * Reading DeepFlow's `.result` files: the expected parse results of its
 * conformance captures, printed with Rust's `Debug` formatting (`{:?}` on one
 * line, or `{:#?}` over several), sometimes as JSON.
 *
 * JS representation of a Rust `Debug` value ({@link RustValue}):
 * - struct `Name { a: 1, b: "x" }` → `{ $type: 'Name', a: 1, b: 'x' }`
 *   (a `..` of a non-exhaustive struct is ignored);
 * - `None` → null; `Some(x)` → x;
 * - any other tuple struct or variant with one value `Name(x)` →
 *   `{ $type: 'Name', $value: x }`; with several values `$value: [x, y]`;
 *   with none `Name()` → `{ $type: 'Name', $value: [] }`;
 * - bare identifiers (unit variants such as `Request`, `V1_1`, `Post`) →
 *   the identifier string; `true`/`false` → booleans; `null` → null (JSON);
 * - numbers → number, or the decimal string when beyond ±2^53; a number with
 *   a unit suffix (`Duration` debug: `0ns`, `9.1ms`, `18µs`, `1.5s`) and
 *   dotted quads (`Ipv4Addr`: `10.0.0.1`) → the text as written;
 * - `"…"` strings with Rust escapes decoded (`\n \r \t \0 \\ \" \' \u{…}`,
 *   `\xNN`); `'c'` chars → string; `b"…"` byte strings → a string of one
 *   char per byte (latin1, so bytes survive);
 * - lists `[…]` and tuples `(…)` → arrays;
 * - maps `{k: v, …}` → `{ $map: [[k, v], …] }`; sets `{a, b}` → `{ $set: [a, b] }`.
 *
 * {@link parseResultFile} returns one record per line that starts with a
 * struct (`Name {` or `Name(`) or a JSON object (`{"`); the value may span
 * several lines; text after it on its last line (` is_http: true`) is
 * ignored, and so are lines that start otherwise (headings, `None`, log
 * text). JSON-object lines become `{ $type: 'json', …fields }` with nested
 * objects as plain objects (JSON `\uXXXX` escapes are decoded too). A
 * one-line struct printed by a custom Display instead of Debug (fields
 * without commas, unquoted text: DeepFlow's memcached results) is read
 * loosely: each `name: ` starts a field, its value is the text up to the
 * next one (a number when numeric).
 */
import { MetaflowError } from '../../pipeline/errors';

/** A value of Rust Debug notation, as described in the module doc. */
export type RustValue = null | boolean | number | string | RustValue[] | RustStruct | RustMap | RustSet;

/** A struct, tuple struct or variant with data. */
export interface RustStruct {
  $type: string;
  [field: string]: RustValue;
}

/** A map (`HashMap`/`BTreeMap` debug). */
export interface RustMap {
  $map: Array<[RustValue, RustValue]>;
}

/** A set (`HashSet`/`BTreeSet` debug). */
export interface RustSet {
  $set: RustValue[];
}

/** One record of a `.result` file. */
export type ResultRecord = RustStruct;

/** The text is not valid Debug notation; `offset` is where in the text. */
export class RustDebugSyntaxError extends MetaflowError {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super('ERR_RUST_DEBUG_SYNTAX', message);
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

class Parser {
  pos = 0;
  constructor(readonly s: string) {}

  fail(what: string): never {
    const near = this.s.slice(this.pos, this.pos + 30).replace(/\n/g, '\\n');
    throw new RustDebugSyntaxError(`${what} at offset ${this.pos} (near "${near}")`, this.pos);
  }

  ws(): void {
    const s = this.s;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c === 32 || c === 9 || c === 10 || c === 13) this.pos++;
      else break;
    }
  }

  peek(): string {
    return this.s[this.pos] ?? '';
  }

  eat(ch: string): boolean {
    this.ws();
    if (this.s[this.pos] === ch) {
      this.pos++;
      return true;
    }
    return false;
  }

  expect(ch: string): void {
    if (!this.eat(ch)) this.fail(`expected '${ch}'`);
  }

  value(): RustValue {
    this.ws();
    const c = this.peek();
    if (c === '"') return this.string();
    if (c === "'") return this.char();
    if (c === '[') return this.seq('[', ']');
    if (c === '(') return this.seq('(', ')');
    if (c === '{') return this.braces();
    if (c === 'b' && this.s[this.pos + 1] === '"') {
      this.pos++;
      return this.string();
    }
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    if (isIdentStart(c)) return this.named();
    if (c === '') this.fail('unexpected end of text');
    return this.fail(`unexpected '${c}'`);
  }

  ident(): string {
    const s = this.s;
    const start = this.pos;
    for (;;) {
      while (this.pos < s.length && isIdentChar(s[this.pos])) this.pos++;
      // Paths (`Foo::Bar`) and generics are part of the name.
      if (s[this.pos] === ':' && s[this.pos + 1] === ':' && isIdentStart(s[this.pos + 2] ?? '')) {
        this.pos += 2;
        continue;
      }
      break;
    }
    return s.slice(start, this.pos);
  }

  named(): RustValue {
    const name = this.ident();
    const save = this.pos;
    this.ws();
    const c = this.peek();
    if (c === '{') {
      this.pos++;
      return this.structBody(name);
    }
    if (c === '(') {
      const items = this.seq('(', ')');
      if (name === 'Some' && items.length === 1) return items[0];
      return { $type: name, $value: items.length === 1 ? items[0] : items };
    }
    this.pos = save;
    switch (name) {
      case 'None':
      case 'null':
        return null;
      case 'true':
        return true;
      case 'false':
        return false;
      default:
        return name;
    }
  }

  structBody(name: string): RustStruct {
    const out: RustStruct = { $type: name };
    for (;;) {
      if (this.eat('}')) return out;
      this.ws();
      if (this.s.startsWith('..', this.pos)) {
        this.pos += 2;
        this.expect('}');
        return out;
      }
      const k = this.fieldName();
      this.expect(':');
      out[k] = this.value();
      if (!this.eat(',')) {
        this.expect('}');
        return out;
      }
    }
  }

  fieldName(): string {
    this.ws();
    const c = this.peek();
    if (c === '"') return this.string();
    if (c >= '0' && c <= '9') {
      const start = this.pos;
      while (/[0-9]/.test(this.peek())) this.pos++;
      return this.s.slice(start, this.pos);
    }
    if (!isIdentStart(c)) this.fail('expected a field name');
    // r#type style raw identifiers.
    if (c === 'r' && this.s[this.pos + 1] === '#') this.pos += 2;
    return this.ident();
  }

  seq(open: string, close: string): RustValue[] {
    this.expect(open);
    const out: RustValue[] = [];
    for (;;) {
      if (this.eat(close)) return out;
      out.push(this.value());
      if (!this.eat(',')) {
        this.expect(close);
        return out;
      }
    }
  }

  braces(): RustMap | RustSet {
    this.expect('{');
    if (this.eat('}')) return { $map: [] };
    const first = this.value();
    if (this.eat(':')) {
      const map: Array<[RustValue, RustValue]> = [[first, this.value()]];
      while (this.eat(',')) {
        if (this.eat('}')) return { $map: map };
        const k = this.value();
        this.expect(':');
        map.push([k, this.value()]);
      }
      this.expect('}');
      return { $map: map };
    }
    const set: RustValue[] = [first];
    while (this.eat(',')) {
      if (this.eat('}')) return { $set: set };
      set.push(this.value());
    }
    this.expect('}');
    return { $set: set };
  }

  number(): number | string {
    const s = this.s;
    const start = this.pos;
    if (s[this.pos] === '-') this.pos++;
    if (!/[0-9]/.test(s[this.pos] ?? '')) this.fail('expected a digit');
    let dots = 0;
    let exp = false;
    while (this.pos < s.length) {
      const c = s[this.pos];
      if (c >= '0' && c <= '9') this.pos++;
      else if (c === '.' && /[0-9]/.test(s[this.pos + 1] ?? '')) {
        dots++;
        this.pos++;
      } else if ((c === 'e' || c === 'E') && /[-+0-9]/.test(s[this.pos + 1] ?? '') && dots <= 1 && !exp) {
        // 1e-7 (f64 debug) but not a unit like 'e' alone.
        const m = /^[eE][-+]?[0-9]+/.exec(s.slice(this.pos));
        if (!m) break;
        exp = true;
        this.pos += m[0].length;
      } else break;
    }
    const numText = s.slice(start, this.pos);
    // A unit suffix (Duration debug) makes it text: 9.1ms, 18µs, 0ns, 1.5s.
    const unit = /^(ns|µs|us|ms|s|m|h|d)(?![A-Za-z0-9_])/.exec(s.slice(this.pos, this.pos + 3));
    if (unit) {
      this.pos += unit[1].length;
      return numText + unit[1];
    }
    if (dots > 1) return numText; // dotted quad (Ipv4Addr) or version
    if (dots === 0 && !exp) {
      const big = BigInt(numText);
      if (big > MAX_SAFE || big < -MAX_SAFE) return numText;
      return Number(big);
    }
    return Number(numText);
  }

  /** A string literal; `b"…"` byte strings use the same escapes, `\xNN` giving the byte as one char. */
  string(): string {
    const s = this.s;
    if (s[this.pos] !== '"') this.fail('expected a string');
    this.pos++;
    let out = '';
    for (;;) {
      if (this.pos >= s.length) this.fail('unterminated string');
      const c = s[this.pos++];
      if (c === '"') return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      out += this.escape();
    }
  }

  char(): string {
    this.pos++;
    const c = this.s[this.pos++];
    const v = c === '\\' ? this.escape() : c;
    if (this.s[this.pos] !== "'") this.fail('unterminated char');
    this.pos++;
    return v;
  }

  escape(): string {
    const s = this.s;
    const e = s[this.pos++];
    switch (e) {
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 't':
        return '\t';
      case '0':
        return '\0';
      case '\\':
      case '"':
      case "'":
        return e;
      case 'x': {
        const hex = s.slice(this.pos, this.pos + 2);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) this.fail('bad \\x escape');
        this.pos += 2;
        return String.fromCharCode(parseInt(hex, 16));
      }
      case 'u': {
        const m = /^\{([0-9a-fA-F]{1,6})\}/.exec(s.slice(this.pos, this.pos + 8));
        if (m) {
          this.pos += m[0].length;
          return String.fromCodePoint(parseInt(m[1], 16));
        }
        // JSON's \uXXXX (surrogate halves concatenate into the right pair).
        const j = /^[0-9a-fA-F]{4}/.exec(s.slice(this.pos, this.pos + 4));
        if (!j) this.fail('bad \\u escape');
        this.pos += 4;
        return String.fromCharCode(parseInt(j[0], 16));
      }
      case '/':
        return '/';
      default:
        return this.fail(`unknown escape \\${e}`);
    }
  }
}

function isIdentStart(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_';
}

function isIdentChar(c: string): boolean {
  return isIdentStart(c) || (c >= '0' && c <= '9');
}

/** Parses one Debug-notation value; text after it is an error (use parseResultFile for lines with trailers). */
export function parseRustDebug(text: string): RustValue {
  const p = new Parser(text);
  const v = p.value();
  p.ws();
  if (p.pos < text.length) p.fail('text after the value');
  return v;
}

/** A `$map` with string keys as a plain object, recursively (JSON lines). */
function jsonish(v: RustValue): RustValue {
  if (Array.isArray(v)) return v.map(jsonish);
  if (v && typeof v === 'object' && '$map' in v) {
    const map = (v as RustMap).$map;
    if (map.every(([k]) => typeof k === 'string')) {
      const o: RustStruct = { $type: '' };
      delete (o as Partial<RustStruct>).$type;
      for (const [k, val] of map) o[k as string] = jsonish(val);
      return o;
    }
  }
  return v;
}

/**
 * A one-line struct in a custom Display format rather than Debug
 * (`MemcachedInfo { msg_type: Request request: get foo req_size: 9 }`): each
 * `name: ` starts a field whose value is the text up to the next one;
 * numeric values become numbers. Undefined when the line is not of that shape.
 */
function looseStruct(line: string): RustStruct | undefined {
  const m = /^[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*\{(.*)\}/.exec(line);
  if (!m) return undefined;
  const body = m[2];
  // Debug output always separates fields with commas and quotes strings: those are real syntax errors.
  if (/[",]/.test(body)) return undefined;
  const keys = [...body.matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*): ?/g)];
  if (keys.length === 0) return undefined;
  const out: RustStruct = { $type: m[1] };
  keys.forEach((k, i) => {
    const from = (k.index ?? 0) + k[0].length;
    const to = i + 1 < keys.length ? (keys[i + 1].index ?? body.length) : body.length;
    const text = body.slice(from, to).trim();
    out[k[1]] = /^-?[0-9]{1,15}$/.test(text) ? Number(text) : text;
  });
  return out;
}

const RECORD_START = /^[ \t]*(?:[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*[ \t]*[({]|\{[ \t]*")/;

/**
 * The records of a `.result` file (see the module doc). Throws
 * {@link RustDebugSyntaxError} naming the line when a record does not parse.
 */
export function parseResultFile(text: string): ResultRecord[] {
  const out: ResultRecord[] = [];
  let lineStart = 0;
  let lineNo = 1;
  const p = new Parser(text);
  while (lineStart < text.length) {
    let lineEnd = text.indexOf('\n', lineStart);
    if (lineEnd < 0) lineEnd = text.length;
    const line = text.slice(lineStart, lineEnd);
    if (RECORD_START.test(line)) {
      p.pos = lineStart;
      let v: RustValue;
      try {
        v = p.value();
      } catch (err) {
        if (!(err instanceof RustDebugSyntaxError)) throw err;
        const loose = looseStruct(line);
        if (!loose) throw new RustDebugSyntaxError(`line ${lineNo}: ${err.message}`, err.offset);
        out.push(loose);
        lineStart = lineEnd + 1;
        lineNo++;
        continue;
      }
      if (v && typeof v === 'object' && '$map' in v) {
        out.push(Object.assign({ $type: 'json' }, jsonish(v) as Record<string, RustValue>));
      } else if (v && typeof v === 'object' && '$type' in v) {
        // A struct, a tuple variant `Name(…)`, or `Some(struct)` (already unwrapped).
        out.push(v as RustStruct);
      }
      // Continue after the value's last line (a pretty-printed value spans several).
      const end = text.indexOf('\n', p.pos);
      for (let i = lineStart; i < p.pos; i++) if (text.charCodeAt(i) === 10) lineNo++;
      lineStart = end < 0 ? text.length : end + 1;
      lineNo++;
      continue;
    }
    lineStart = lineEnd + 1;
    lineNo++;
  }
  return out;
}
