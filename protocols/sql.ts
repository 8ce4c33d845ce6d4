/**
 * SQL text helpers shared by the MySQL and PostgreSQL parsers: obfuscation of
 * literals for `request_resource`, and the statement's operation and first
 * table for `endpoint`.
 *
 * Obfuscation rules (one pass, linear time, never throws, output bounded):
 * - string literals become `?`: single-quoted (`''` doubled quotes; backslash
 *   escapes in MySQL and in PostgreSQL `E'…'`), PostgreSQL dollar-quoted
 *   (`$$…$$`, `$tag$…$tag$`), the prefixed forms `X'…'`, `B'…'`, `N'…'`,
 *   `U&'…'`, and double-quoted text in MySQL — its default sql_mode reads
 *   `"…"` as a string; under ANSI_QUOTES it would be an identifier that we
 *   hide too, which loses a name but never leaks a value. In PostgreSQL `"…"`
 *   is always an identifier and is kept;
 * - numbers (`42`, `-` stays an operator, `3.14`, `.5`, `1e-3`), hex and
 *   binary literals (`0x1F`, `0b101`) become `?`; digits inside identifiers
 *   (`t1`, `col_2`, MySQL's `1abc`) are kept;
 * - TRUE, FALSE and NULL are kept: they are keywords of the statement's shape,
 *   not data, and carry no cardinality;
 * - placeholders are kept (`?`, `$1`, `:name`, `@var`), except inside an IN
 *   list: `IN (1, 2, 3)`, `IN ('a', ?)` and `IN ($1, $2)` all become `IN (?)`
 *   so a list's length does not make a new statement shape; IN with a
 *   subquery or expressions is obfuscated element by element;
 * - comments are removed (`-- …`, `/* … *\/` — nested in PostgreSQL — and
 *   MySQL's `# …`): callers read sqlcommenter trace context first
 *   (`traceContextFromSql`). MySQL executable comments `/*!80000 … *\/` are
 *   SQL the server runs, so their markers go and their content is kept;
 * - whitespace runs (newlines included) collapse to one space, trimmed.
 *
 * The output is at most `maxLength` characters (cut, not marked: the caller
 * knows whether it fed a prefix and sets `truncated`).
 */

import { traceContextFromSql } from './tracecontext';

/** Which server's lexical rules apply. */
export type SqlDialect = 'mysql' | 'postgresql';

/** Default bound of {@link obfuscateSql}'s output, in characters. */
export const DEFAULT_MAX_SQL_LENGTH = 8192;

const SPACE = 32;
const TAB = 9;
const LF = 10;
const VT = 11;
const FF = 12;
const CR = 13;
const QUOTE = 39; // '
const DQUOTE = 34; // "
const BACKTICK = 96; // `
const BACKSLASH = 92;
const DOLLAR = 36;
const HASH = 35;
const DASH = 45;
const SLASH = 47;
const STAR = 42;
const BANG = 33;
const DOT = 46;
const LPAREN = 40;
const RPAREN = 41;
const COMMA = 44;
const QMARK = 63;
const AT = 64;
const COLON = 58;
const AMP = 38;
const PLUS = 43;
const ZERO = 48;
const NINE = 57;

function isSpace(c: number): boolean {
  return c === SPACE || c === TAB || c === LF || c === CR || c === VT || c === FF;
}

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

function isHex(c: number): boolean {
  return (c >= ZERO && c <= NINE) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 128;
}

/** Characters that continue an identifier (both dialects allow `$` after the first character). */
function isIdent(c: number): boolean {
  return isLetter(c) || isDigit(c) || c === DOLLAR;
}

/** End (exclusive) of a quoted run starting at `i` (the opening quote); unterminated runs end at the text's end. */
function skipQuoted(s: string, i: number, quote: number, backslash: boolean): number {
  const n = s.length;
  let j = i + 1;
  while (j < n) {
    const c = s.charCodeAt(j);
    if (backslash && c === BACKSLASH) {
      j += 2;
      continue;
    }
    if (c === quote) {
      if (j + 1 < n && s.charCodeAt(j + 1) === quote) {
        j += 2;
        continue;
      }
      return j + 1;
    }
    j++;
  }
  return n;
}

/**
 * A PostgreSQL dollar-quoted string at `i` (`$$…$$` or `$tag$…$tag$`): its
 * end, or -1 when `$` does not open one (e.g. the placeholder `$1`).
 */
function skipDollarQuote(s: string, i: number): number {
  const n = s.length;
  let j = i + 1;
  if (j < n && isDigit(s.charCodeAt(j))) return -1;
  while (j < n && s.charCodeAt(j) !== DOLLAR) {
    const c = s.charCodeAt(j);
    if (!isLetter(c) && !isDigit(c)) return -1;
    j++;
  }
  if (j >= n) return -1;
  const tagLen = j - i + 1;
  const close = s.indexOf(s.slice(i, j + 1), j + 1);
  return close < 0 ? n : close + tagLen;
}

/**
 * The end of a comment starting at `i`, or -1 when none starts there.
 * MySQL executable comments (`/*!`) are not handled here.
 */
function skipComment(s: string, i: number, pg: boolean): number {
  const n = s.length;
  const c = s.charCodeAt(i);
  const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
  if (c === DASH && d === DASH) {
    // MySQL wants whitespace or a control character after `--` (`1--2` is arithmetic).
    if (!pg && i + 2 < n && s.charCodeAt(i + 2) > SPACE) return -1;
    const eol = s.indexOf('\n', i + 2);
    return eol < 0 ? n : eol + 1;
  }
  if (c === HASH && !pg) {
    const eol = s.indexOf('\n', i + 1);
    return eol < 0 ? n : eol + 1;
  }
  if (c === SLASH && d === STAR) {
    if (!pg) {
      const end = s.indexOf('*/', i + 2);
      return end < 0 ? n : end + 2;
    }
    // PostgreSQL nests block comments.
    let depth = 1;
    let j = i + 2;
    while (j < n) {
      const a = s.charCodeAt(j);
      const b = j + 1 < n ? s.charCodeAt(j + 1) : 0;
      if (a === SLASH && b === STAR) {
        depth++;
        j += 2;
      } else if (a === STAR && b === SLASH) {
        depth--;
        j += 2;
        if (depth === 0) return j;
      } else j++;
    }
    return n;
  }
  return -1;
}

/** End of a number at `i` (a digit, or `.` before a digit); hex/binary forms included. */
function skipNumber(s: string, i: number): number {
  const n = s.length;
  let j = i;
  if (s.charCodeAt(j) === ZERO && j + 2 <= n) {
    const x = j + 1 < n ? s.charCodeAt(j + 1) | 0x20 : 0;
    if (x === 120 /* x */ && j + 2 < n && isHex(s.charCodeAt(j + 2))) {
      j += 2;
      while (j < n && isHex(s.charCodeAt(j))) j++;
      return j;
    }
    if (x === 98 /* b */ && j + 2 < n && (s.charCodeAt(j + 2) === ZERO || s.charCodeAt(j + 2) === ZERO + 1)) {
      j += 2;
      while (j < n && (s.charCodeAt(j) === ZERO || s.charCodeAt(j) === ZERO + 1)) j++;
      return j;
    }
  }
  while (j < n && isDigit(s.charCodeAt(j))) j++;
  if (j < n && s.charCodeAt(j) === DOT) {
    j++;
    while (j < n && isDigit(s.charCodeAt(j))) j++;
  }
  if (j < n && (s.charCodeAt(j) | 0x20) === 101 /* e */) {
    let k = j + 1;
    if (k < n && (s.charCodeAt(k) === PLUS || s.charCodeAt(k) === DASH)) k++;
    if (k < n && isDigit(s.charCodeAt(k))) {
      while (k < n && isDigit(s.charCodeAt(k))) k++;
      j = k;
    }
  }
  return j;
}

/**
 * A literal at `i` for the IN-list look-ahead: its end, or -1 when the token
 * there is not a literal or placeholder.
 */
function skipLiteral(s: string, i: number, pg: boolean): number {
  const n = s.length;
  const c = s.charCodeAt(i);
  if (c === QUOTE) return skipQuoted(s, i, QUOTE, !pg);
  if (c === DQUOTE) return pg ? -1 : skipQuoted(s, i, DQUOTE, true);
  if (isDigit(c) || (c === DOT && i + 1 < n && isDigit(s.charCodeAt(i + 1)))) {
    const j = skipNumber(s, i);
    return j < n && isLetter(s.charCodeAt(j)) ? -1 : j;
  }
  if (c === QMARK) return i + 1;
  if (c === DASH || c === PLUS) {
    // A signed number.
    const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
    return isDigit(d) || d === DOT ? skipLiteral(s, i + 1, pg) : -1;
  }
  if (c === DOLLAR) {
    if (!pg) return -1;
    if (i + 1 < n && isDigit(s.charCodeAt(i + 1))) {
      let j = i + 1;
      while (j < n && isDigit(s.charCodeAt(j))) j++;
      return j;
    }
    return skipDollarQuote(s, i);
  }
  if (c === COLON && i + 1 < n && isLetter(s.charCodeAt(i + 1))) {
    let j = i + 1;
    while (j < n && isIdent(s.charCodeAt(j))) j++;
    return j;
  }
  if (isLetter(c)) {
    let j = i;
    while (j < n && isIdent(s.charCodeAt(j))) j++;
    const len = j - i;
    if (j < n && s.charCodeAt(j) === QUOTE && len === 1) {
      const p = c | 0x20;
      if (p === 120 || p === 98 || p === 110) return skipQuoted(s, j, QUOTE, !pg);
      if (p === 101 && pg) return skipQuoted(s, j, QUOTE, true);
    }
    if (pg && len === 1 && (c | 0x20) === 117 && j + 1 < n && s.charCodeAt(j) === AMP && s.charCodeAt(j + 1) === QUOTE) {
      return skipQuoted(s, j + 1, QUOTE, false);
    }
    if (c === 95 /* _ */ && !pg) {
      // A charset introducer: `_utf8mb4'…'` or `_binary '…'`.
      let k = j;
      while (k < n && isSpace(s.charCodeAt(k))) k++;
      if (k < n && s.charCodeAt(k) === QUOTE) return skipQuoted(s, k, QUOTE, true);
    }
    const w = s.slice(i, j).toUpperCase();
    if (w === 'NULL' || w === 'TRUE' || w === 'FALSE') return j;
    return -1;
  }
  return -1;
}

/** The end of a space-or-comment run at `i` (== i when none). */
function skipBlank(s: string, i: number, pg: boolean): number {
  const n = s.length;
  let j = i;
  while (j < n) {
    const c = s.charCodeAt(j);
    if (isSpace(c)) {
      j++;
      continue;
    }
    const e = c === DASH || c === SLASH || c === HASH ? skipComment(s, j, pg) : -1;
    if (e < 0) break;
    j = e;
  }
  return j;
}

/**
 * After the keyword IN ending at `i`: when a parenthesised list of only
 * literals and placeholders follows, the index after its `)`; else -1.
 */
function inListEnd(s: string, i: number, pg: boolean): number {
  const n = s.length;
  let j = skipBlank(s, i, pg);
  if (j >= n || s.charCodeAt(j) !== LPAREN) return -1;
  j++;
  let items = 0;
  for (;;) {
    j = skipBlank(s, j, pg);
    if (j >= n) return -1;
    const c = s.charCodeAt(j);
    if (c === RPAREN) return items > 0 ? j + 1 : -1;
    if (c === COMMA) {
      j++;
      continue;
    }
    const e = skipLiteral(s, j, pg);
    if (e < 0) return -1;
    items++;
    j = e;
  }
}

/**
 * `sql` with its literals replaced by `?` after the rules above, for one
 * dialect, at most `maxLength` characters long. Never throws.
 */
export function obfuscateSql(sql: string, dialect: SqlDialect = 'mysql', maxLength = DEFAULT_MAX_SQL_LENGTH): string {
  try {
    return obfuscate(sql, dialect === 'postgresql', maxLength);
  } catch {
    // Defensive only: the scanner works on indexes and cannot throw on any text.
    W.replaced = -1;
    return '';
  }
}

/** What the MySQL and PostgreSQL parsers take from a statement's text (see {@link sqlFacts}). */
export interface SqlFacts {
  /** The SQL for `request_resource`: obfuscated, or cut to DEFAULT_MAX_SQL_LENGTH. */
  readonly resource: string;
  readonly operation: string;
  readonly table: string;
  /** {@link sqlEndpoint} of the operation. */
  readonly endpoint: string;
  /** The sqlcommenter trace context ('' when none). */
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
}

/** Statements {@link sqlFacts} remembers per dialect. */
export const SQL_FACTS_MAX_ENTRIES = 2048;
/** Longest statement text remembered (characters): bounds the cache's memory with the entry count. */
export const SQL_FACTS_MAX_KEY = 1024;

/** Counters of the statement cache, for metrics and tests. */
export const sqlFactsCounters = {
  /** Statements answered from the cache. */
  hits: 0,
  /** Statements forgotten to make room (oldest first). */
  evicted: 0,
};

/** Remembered facts by statement text: [mysql, postgresql]; obfuscation on only. */
const FACTS: [Map<string, SqlFacts>, Map<string, SqlFacts>] = [new Map(), new Map()];

/**
 * The facts of a statement: sqlcommenter trace context, operation and
 * table, and the text for `request_resource` (obfuscated when `obfuscate`).
 *
 * Parameterised statements repeat verbatim (prepared statements, `$1` and
 * `?` placeholders, ORM queries), so with obfuscation on a statement that
 * had no literal to hide and no trace context is remembered (bounded:
 * {@link SQL_FACTS_MAX_ENTRIES} per dialect, texts up to
 * {@link SQL_FACTS_MAX_KEY} characters, oldest forgotten first) and the
 * next identical text takes the remembered facts. Statements with literals
 * are not remembered: their values rarely repeat. Every function involved is
 * pure, so a remembered answer is the one a new computation would give.
 */
export function sqlFacts(sql: string, dialect: SqlDialect, obfuscate: boolean): SqlFacts {
  const cache = obfuscate && sql.length <= SQL_FACTS_MAX_KEY ? FACTS[dialect === 'postgresql' ? 1 : 0] : undefined;
  if (cache !== undefined) {
    const hit = cache.get(sql);
    if (hit !== undefined) {
      sqlFactsCounters.hits++;
      return hit;
    }
  }
  const tc = traceContextFromSql(sql);
  const op = sqlOperation(sql, dialect);
  const resource = obfuscate ? obfuscateSql(sql, dialect) : sql.length > DEFAULT_MAX_SQL_LENGTH ? sql.slice(0, DEFAULT_MAX_SQL_LENGTH) : sql;
  const facts: SqlFacts = {
    resource,
    operation: op.operation,
    table: op.table,
    endpoint: sqlEndpoint(op),
    traceId: tc?.trace_id ?? '',
    spanId: tc?.span_id ?? '',
    parentSpanId: tc?.parent_span_id ?? '',
  };
  if (cache !== undefined && W.replaced === 0 && tc === undefined) {
    if (cache.size >= SQL_FACTS_MAX_ENTRIES) {
      const oldest = cache.keys().next();
      if (!oldest.done) cache.delete(oldest.value);
      sqlFactsCounters.evicted++;
    }
    cache.set(sql, facts);
  }
  return facts;
}

/**
 * The output being built by {@link obfuscate}: module state rather than
 * closures, so a call allocates nothing but the output (JS is single-threaded
 * and obfuscate does not re-enter).
 */
const W = { out: '', from: 0, pendingSpace: false, last: -1, replaced: 0 };

/** Copies the verbatim run [W.from, to) of `s`, with the pending separator first. */
function flushRun(s: string, to: number): void {
  if (to > W.from) {
    separate();
    W.out += s.slice(W.from, to);
    W.last = s.charCodeAt(to - 1);
  }
}

function separate(): void {
  // The last character is tracked, not read back: reading it would flatten the growing string each time.
  if (W.pendingSpace && W.out.length > 0 && W.last !== SPACE) {
    W.out += ' ';
    W.last = SPACE;
  }
  W.pendingSpace = false;
}

/** Replaces [at, end) of `s` by `?`. */
function replaceLiteral(s: string, at: number, end: number): void {
  flushRun(s, at);
  separate();
  W.out += '?';
  W.last = QMARK;
  W.from = end;
  W.replaced++;
}

/**
 * ASCII characters {@link obfuscate} copies as they are, whatever their
 * context (punctuation and operators): 1 in this table. Every other
 * character takes the scanner's rules.
 */
const PLAIN = (() => {
  const t = new Uint8Array(128);
  for (let c = 0; c < 128; c++) {
    const special =
      isSpace(c) || c === DASH || c === SLASH || c === HASH || c === STAR || c === QUOTE || c === DQUOTE || c === BACKTICK || c === DOLLAR || c === DOT || c === AT || isDigit(c) || isLetter(c);
    t[c] = special ? 0 : 1;
  }
  return t;
})();

/** {@link isIdent} as a table for ASCII (every character from 128 on continues an identifier). */
const IDENT = (() => {
  const t = new Uint8Array(128);
  for (let c = 0; c < 128; c++) t[c] = isIdent(c) ? 1 : 0;
  return t;
})();

function obfuscate(s: string, pg: boolean, max: number): string {
  const n = s.length;
  W.out = '';
  W.from = 0;
  W.pendingSpace = false;
  W.last = -1;
  W.replaced = 0;
  // The output never exceeds twice the input read (` (?)` for `(1)` is the
  // worst), so the length bound needs no check for texts up to half of it.
  const bounded = 2 * n > max;
  let execComments = 0; // open MySQL `/*!` comments whose `*/` is to be dropped
  let i = 0;
  while (i < n) {
    if (bounded && W.out.length + (i - W.from) > max) break;
    const c = s.charCodeAt(i);
    if (c < 128 && PLAIN[c] === 1) {
      i++;
      continue;
    }
    if (isSpace(c)) {
      // A lone space inside a run stays in the run; other whitespace is normalised.
      if (c === SPACE && i > W.from && i + 1 < n) {
        const d = s.charCodeAt(i + 1);
        if (!isSpace(d) && d !== DASH && d !== SLASH && d !== HASH) {
          i++;
          continue;
        }
      }
      flushRun(s, i);
      i++;
      while (i < n && isSpace(s.charCodeAt(i))) i++;
      W.from = i;
      W.pendingSpace = true;
      continue;
    }
    if (c === DASH || c === SLASH || c === HASH) {
      if (!pg && c === SLASH && i + 2 < n && s.charCodeAt(i + 1) === STAR && s.charCodeAt(i + 2) === BANG) {
        // MySQL executable comment: drop `/*!` and its version number, keep the SQL.
        flushRun(s, i);
        i += 3;
        while (i < n && isDigit(s.charCodeAt(i))) i++;
        W.from = i;
        W.pendingSpace = true;
        execComments++;
        continue;
      }
      const e = skipComment(s, i, pg);
      if (e >= 0) {
        flushRun(s, i);
        i = e;
        W.from = i;
        W.pendingSpace = true;
        continue;
      }
      i++;
      continue;
    }
    if (c === STAR && execComments > 0 && i + 1 < n && s.charCodeAt(i + 1) === SLASH) {
      flushRun(s, i);
      i += 2;
      W.from = i;
      W.pendingSpace = true;
      execComments--;
      continue;
    }
    if (c === QUOTE) {
      const e = skipQuoted(s, i, QUOTE, !pg);
      replaceLiteral(s, i, e);
      i = e;
      continue;
    }
    if (c === DQUOTE) {
      const e = skipQuoted(s, i, DQUOTE, !pg);
      if (!pg) replaceLiteral(s, i, e);
      i = e;
      continue;
    }
    if (c === BACKTICK) {
      i = skipQuoted(s, i, BACKTICK, false);
      continue;
    }
    if (c === DOLLAR && pg) {
      const e = skipDollarQuote(s, i);
      if (e >= 0) {
        replaceLiteral(s, i, e);
        i = e;
        continue;
      }
      // `$1`: a placeholder, kept.
      i++;
      while (i < n && isDigit(s.charCodeAt(i))) i++;
      continue;
    }
    if (isDigit(c) || (c === DOT && i + 1 < n && isDigit(s.charCodeAt(i + 1)) && !(i > 0 && isIdent(s.charCodeAt(i - 1))))) {
      const e = skipNumber(s, i);
      if (e < n && isLetter(s.charCodeAt(e))) {
        // MySQL allows identifiers that start with digits (`1abc`): keep the word.
        i = e;
        while (i < n && isIdent(s.charCodeAt(i))) i++;
        continue;
      }
      replaceLiteral(s, i, e);
      i = e;
      continue;
    }
    if (isLetter(c) || c === AT) {
      let j = i + 1;
      if (c !== AT) {
        for (; j < n; j++) {
          const d = s.charCodeAt(j);
          if (d < 128 && IDENT[d] === 0) break;
        }
      } else while (j < n && (isIdent(s.charCodeAt(j)) || s.charCodeAt(j) === AT || s.charCodeAt(j) === DOT)) j++;
      const len = j - i;
      if (len === 1 && j < n && s.charCodeAt(j) === QUOTE) {
        const p = c | 0x20;
        // X'…', B'…', N'…' (and E'…' with backslash escapes in PostgreSQL).
        if (p === 120 || p === 98 || p === 110 || (p === 101 && pg)) {
          const e = skipQuoted(s, j, QUOTE, !pg || p === 101);
          replaceLiteral(s, i, e);
          i = e;
          continue;
        }
      }
      if (pg && len === 1 && (c | 0x20) === 117 && j + 1 < n && s.charCodeAt(j) === AMP && s.charCodeAt(j + 1) === QUOTE) {
        const e = skipQuoted(s, j + 1, QUOTE, false);
        replaceLiteral(s, i, e);
        i = e;
        continue;
      }
      if (len === 2 && (c | 0x20) === 105 && (s.charCodeAt(i + 1) | 0x20) === 110) {
        // IN: collapse a list of literals to one placeholder.
        const e = inListEnd(s, j, pg);
        if (e >= 0) {
          flushRun(s, j);
          W.out += ' (?)';
          W.last = RPAREN;
          W.replaced++;
          i = e;
          W.from = e;
          continue;
        }
      }
      i = j;
      continue;
    }
    i++;
  }
  if (i > n) i = n;
  flushRun(s, Math.min(i, W.from + Math.max(0, max - W.out.length)));
  let out = W.out;
  W.out = '';
  if (out.length > max) out = out.slice(0, max);
  return out.trim();
}

/** What a statement does, for `endpoint` and span attributes. */
export interface SqlOperation {
  /** The statement's verb, upper case (`SELECT`, `INSERT`, `CREATE`, …); '' when none. */
  operation: string;
  /** The first table it names (unquoted, schema-qualified as written), or ''. */
  table: string;
}

/** How far into a statement {@link sqlOperation} looks for its table. */
const OPERATION_SCAN_LIMIT = 8192;

/** A token of the operation scanner: [start, end) and its kind. */
interface Tok {
  start: number;
  end: number;
  /** 'w' word, 'q' quoted identifier, 's' string, 'p' punctuation, '' end. */
  kind: 'w' | 'q' | 's' | 'p' | '';
}

/** The next token at or after `i`, skipping blanks and comments (and MySQL's `/*!` markers). */
function token(s: string, i: number, pg: boolean, t: Tok): Tok {
  const n = Math.min(s.length, OPERATION_SCAN_LIMIT);
  let j = i;
  while (j < n) {
    const c = s.charCodeAt(j);
    if (isSpace(c)) {
      j++;
      continue;
    }
    if (!pg && c === SLASH && j + 2 < n && s.charCodeAt(j + 1) === STAR && s.charCodeAt(j + 2) === BANG) {
      // MySQL executable comment: its content is SQL.
      j += 3;
      while (j < n && isDigit(s.charCodeAt(j))) j++;
      continue;
    }
    if (!pg && c === STAR && j + 1 < n && s.charCodeAt(j + 1) === SLASH) {
      j += 2;
      continue;
    }
    const e = c === DASH || c === SLASH || c === HASH ? skipComment(s, j, pg) : -1;
    if (e < 0) break;
    j = e;
  }
  t.start = j;
  if (j >= n) {
    t.end = j;
    t.kind = '';
    return t;
  }
  const c = s.charCodeAt(j);
  if (c === BACKTICK || (c === DQUOTE && pg)) {
    t.end = skipQuoted(s, j, c, false);
    t.kind = 'q';
  } else if (c === DQUOTE || c === QUOTE) {
    t.end = skipQuoted(s, j, c, !pg);
    t.kind = 's';
  } else if (isIdent(c) || c === AT) {
    let e = j + 1;
    while (e < n && (isIdent(s.charCodeAt(e)) || s.charCodeAt(e) === AT)) e++;
    t.end = e;
    t.kind = 'w';
  } else {
    t.end = j + 1;
    t.kind = 'p';
  }
  return t;
}

function upperWord(s: string, t: Tok): string {
  return t.kind === 'w' && t.end - t.start <= 24 ? s.slice(t.start, t.end).toUpperCase() : '';
}

/**
 * `upperWord(s, t) === word` for an upper-case ASCII `word`, without a
 * string per token when the token is ASCII (then upper-casing maps letters
 * one to one); a token with other characters takes upperWord itself, whose
 * upper-casing may change lengths (`ﬁ` → `FI`).
 */
function isWord(s: string, t: Tok, word: string): boolean {
  if (t.kind !== 'w') return false;
  const n = t.end - t.start;
  if (n > 24) return false;
  let ascii = true;
  for (let i = 0; i < n; i++) {
    if (s.charCodeAt(t.start + i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (!ascii) return upperWord(s, t) === word;
  if (n !== word.length) return false;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(t.start + i);
    if (c >= 0x61 && c <= 0x7a) c -= 0x20;
    if (c !== word.charCodeAt(i)) return false;
  }
  return true;
}

/** A possibly qualified table name at token `t` (`db.t`, `` `db`.`t` ``, `"s"."t"`), unquoted; '' when none. */
function tableName(s: string, t: Tok, pg: boolean): string {
  let name = '';
  for (let parts = 0; parts < 3; parts++) {
    if (t.kind === 'q') name += s.slice(t.start + 1, Math.max(t.start + 1, t.end - 1));
    else if (t.kind === 'w' && s.charCodeAt(t.start) !== AT) name += s.slice(t.start, t.end);
    else return name.endsWith('.') ? name.slice(0, -1) : name;
    const dot = t.end;
    if (dot < s.length && s.charCodeAt(dot) === DOT) {
      token(s, dot + 1, pg, t);
      name += '.';
      continue;
    }
    break;
  }
  return name;
}

const TABLE_MODIFIERS = new Set(['TEMPORARY', 'TEMP', 'UNLOGGED', 'GLOBAL', 'LOCAL', 'OR', 'REPLACE', 'ONLINE', 'OFFLINE', 'IGNORE', 'EXTERNAL', 'FOREIGN']);
const DML_MODIFIERS = new Set(['LOW_PRIORITY', 'DELAYED', 'HIGH_PRIORITY', 'IGNORE', 'QUICK', 'ONLY', 'INTO']);

/**
 * The statement's verb and the first table it names: the table after FROM in
 * SELECT (the first FROM outside parentheses, else the first FROM followed by
 * a name), after INSERT/REPLACE [INTO], UPDATE, DELETE … FROM, and after
 * `CREATE/DROP/ALTER/TRUNCATE [modifiers] TABLE [IF [NOT] EXISTS]`. WITH
 * statements report their main verb. Leading comments and parentheses are
 * skipped. Other statements (SET, SHOW, USE, CREATE DATABASE, …) have no
 * table. Never throws; looks at most at the first 8 KiB.
 */
export function sqlOperation(sql: string, dialect: SqlDialect = 'mysql'): SqlOperation {
  try {
    return operationOf(sql, dialect === 'postgresql');
  } catch {
    return { operation: '', table: '' };
  }
}

function operationOf(s: string, pg: boolean): SqlOperation {
  const t: Tok = { start: 0, end: 0, kind: '' };
  token(s, 0, pg, t);
  while (t.kind === 'p' && s.charCodeAt(t.start) === LPAREN) token(s, t.end, pg, t);
  let op = upperWord(s, t);
  // Only statement verbs: garbage must not become a high-cardinality operation.
  if (!op || !SQL_VERBS.has(op)) return { operation: '', table: '' };
  if (op === 'WITH') {
    // Skip the common table expressions to the main statement at depth 0.
    let depth = 0;
    for (token(s, t.end, pg, t); t.kind !== ''; token(s, t.end, pg, t)) {
      if (t.kind === 'p') {
        const c = s.charCodeAt(t.start);
        if (c === LPAREN) depth++;
        else if (c === RPAREN) depth--;
        continue;
      }
      if (depth !== 0) continue;
      const w = upperWord(s, t);
      if (w === 'SELECT' || w === 'INSERT' || w === 'UPDATE' || w === 'DELETE' || w === 'MERGE') {
        op = w;
        break;
      }
    }
    if (t.kind === '') return { operation: 'WITH', table: '' };
  }
  let table = '';
  switch (op) {
    case 'SELECT':
      table = fromTable(s, t.end, pg, t);
      break;
    case 'INSERT':
    case 'REPLACE':
    case 'UPDATE': {
      token(s, t.end, pg, t);
      while (DML_MODIFIERS.has(upperWord(s, t))) token(s, t.end, pg, t);
      table = tableName(s, t, pg);
      break;
    }
    case 'DELETE':
      table = fromTable(s, t.end, pg, t);
      break;
    case 'CREATE':
    case 'DROP':
    case 'ALTER':
    case 'TRUNCATE': {
      token(s, t.end, pg, t);
      let w = upperWord(s, t);
      while (TABLE_MODIFIERS.has(w)) {
        token(s, t.end, pg, t);
        w = upperWord(s, t);
      }
      if (w === 'TABLE') {
        token(s, t.end, pg, t);
        w = upperWord(s, t);
      } else if (op !== 'TRUNCATE') break;
      if (w === 'IF') {
        token(s, t.end, pg, t);
        if (isWord(s, t, 'NOT')) token(s, t.end, pg, t);
        if (isWord(s, t, 'EXISTS')) token(s, t.end, pg, t);
      }
      if (isWord(s, t, 'ONLY')) token(s, t.end, pg, t);
      table = tableName(s, t, pg);
      break;
    }
    default:
      break;
  }
  return { operation: op, table };
}

/** The table after FROM, scanning from `i` (see {@link sqlOperation}). */
function fromTable(s: string, i: number, pg: boolean, t: Tok): string {
  let depth = 0;
  let firstAnyDepth = '';
  for (token(s, i, pg, t); t.kind !== ''; token(s, t.end, pg, t)) {
    if (t.kind === 'p') {
      const c = s.charCodeAt(t.start);
      if (c === LPAREN) depth++;
      else if (c === RPAREN) depth--;
      continue;
    }
    if (!isWord(s, t, 'FROM')) continue;
    const atDepth = depth;
    token(s, t.end, pg, t);
    if (isWord(s, t, 'ONLY')) token(s, t.end, pg, t);
    const name = tableName(s, t, pg);
    if (name && atDepth <= 0) return name;
    if (name && !firstAnyDepth) firstAnyDepth = name;
    // tableName moved `t`: a derived table opens a parenthesis.
    if ((t.kind as string) === 'p' && s.charCodeAt(t.start) === LPAREN) depth++;
  }
  return firstAnyDepth;
}

/** `OPERATION table` for `endpoint` when the statement names a table, else ''. */
export function sqlEndpoint(op: SqlOperation): string {
  return op.table ? `${op.operation} ${op.table}` : '';
}

/** Statement verbs of MySQL and PostgreSQL: a text starting with one of them is SQL (protocol inference). */
const SQL_VERBS = new Set([
  'ABORT', 'ALTER', 'ANALYZE', 'BEGIN', 'BINLOG', 'CACHE', 'CALL', 'CHANGE', 'CHECK', 'CHECKPOINT', 'CHECKSUM', 'CLOSE', 'CLUSTER',
  'COMMENT', 'COMMIT', 'COPY', 'CREATE', 'DEALLOCATE', 'DECLARE', 'DELETE', 'DESC', 'DESCRIBE', 'DISCARD', 'DO', 'DROP', 'END',
  'EXECUTE', 'EXPLAIN', 'FETCH', 'FLUSH', 'GET', 'GRANT', 'HANDLER', 'HELP', 'IMPORT', 'INSERT', 'INSTALL', 'KILL', 'LISTEN',
  'LOAD', 'LOCK', 'MERGE', 'MOVE', 'NOTIFY', 'OPTIMIZE', 'PREPARE', 'PURGE', 'REASSIGN', 'REFRESH', 'REINDEX', 'RELEASE', 'RENAME',
  'REPAIR', 'REPLACE', 'RESET', 'RESIGNAL', 'REVOKE', 'ROLLBACK', 'SAVEPOINT', 'SECURITY', 'SELECT', 'SET', 'SHOW', 'SHUTDOWN',
  'SIGNAL', 'START', 'STOP', 'TABLE', 'TRUNCATE', 'UNINSTALL', 'UNLISTEN', 'UNLOCK', 'UPDATE', 'USE', 'VACUUM', 'VALUES', 'WITH', 'XA',
]);

/**
 * Whether the bytes at [from, to) start like a SQL statement: optional
 * blanks, comments or `(`, then a statement verb. For protocol inference on
 * first bytes, so it only looks at a short prefix and never throws.
 */
export function looksLikeSql(b: Uint8Array, from: number, to: number): boolean {
  let i = from;
  const end = Math.min(to, from + 256);
  for (;;) {
    while (i < end && (isSpace(b[i]) || b[i] === LPAREN)) i++;
    if (i + 1 < end && b[i] === SLASH && b[i + 1] === STAR) {
      let j = i + 2;
      while (j + 1 < end && !(b[j] === STAR && b[j + 1] === SLASH)) j++;
      if (j + 1 >= end) return false;
      i = j + 2;
      continue;
    }
    if (i + 1 < end && b[i] === DASH && b[i + 1] === DASH) {
      while (i < end && b[i] !== LF) i++;
      continue;
    }
    break;
  }
  let w = '';
  while (i < end && w.length <= 12) {
    const c = b[i] | 0x20;
    if (c < 97 || c > 122) break;
    w += String.fromCharCode(c - 32);
    i++;
  }
  if (w.length === 0 || w.length > 12) return false;
  if (i < end) {
    const c = b[i];
    // The verb must end the word.
    if ((c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 122) || c === 95) return false;
  }
  return SQL_VERBS.has(w);
}
