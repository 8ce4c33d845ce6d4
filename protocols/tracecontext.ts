/**
 * Trace context found in payloads: the headers (HTTP, gRPC metadata, Kafka
 * record headers, MQTT 5 user properties) and SQL comments that carry a
 * trace id, so zero-code spans join traces without code changes.
 *
 * Formats, in order of preference when several are present:
 * - W3C `traceparent`: `00-<trace 32 hex>-<span 16 hex>-<flags>`;
 * - B3 single `b3`: `<trace>-<span>[-<sampled>[-<parent>]]`, or the multi
 *   headers `x-b3-traceid`, `x-b3-spanid`, `x-b3-parentspanid`;
 * - Jaeger `uber-trace-id`: `<trace>:<span>:<parent>:<flags>` (`%3A` too);
 * - SkyWalking `sw8`: `<sample>-<b64 trace>-<b64 segment>-<span>-…`, giving
 *   trace id = trace and span id = `<segment>-<span>` (as DeepFlow reports it);
 * - any configured extra header: its value verbatim as the trace id.
 *
 * The span id is the one in the header: the caller's span, i.e. the parent
 * of the span the receiving side would create.
 */

/** Ids found in a payload; '' where absent. */
export interface TraceContext {
  trace_id: string;
  span_id: string;
  parent_span_id: string;
}

const HEX = /^[0-9a-f]+$/;

/** 0: not a hex digit, 1: `0-9a-f`, 2: `A-F`. */
function hexClass(c: number): number {
  if ((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66)) return 1;
  return c >= 0x41 && c <= 0x46 ? 2 : 0;
}

/**
 * `v` trimmed and lower-cased when it is hex of one of the `lengths`, else
 * undefined. The usual value (hex digits only) is checked with a loop; any
 * other goes through trim, toLowerCase and the regex, which give the same
 * answer for it.
 */
function hex(v: string, lengths: readonly number[]): string | undefined {
  const n = v.length;
  let upper = false;
  let i = 0;
  for (; i < n; i++) {
    const k = hexClass(v.charCodeAt(i));
    if (k === 0) break;
    if (k === 2) upper = true;
  }
  if (i === n && n > 0) return lengths.includes(n) ? (upper ? v.toLowerCase() : v) : undefined;
  const s = v.trim().toLowerCase();
  return lengths.includes(s.length) && HEX.test(s) ? s : undefined;
}

const TRACE_LENGTHS: readonly number[] = [32];
const SPAN_LENGTHS: readonly number[] = [16];

/** Whether `v` is all `0` (and not empty). */
function allZeros(v: string): boolean {
  for (let i = 0; i < v.length; i++) if (v.charCodeAt(i) !== 0x30) return false;
  return v.length > 0;
}

/** W3C traceparent. */
export function parseTraceparent(value: string): TraceContext | undefined {
  const v = value.trim();
  // The first four `-`-separated parts (more may follow): version-trace-span-flags.
  const d1 = v.indexOf('-');
  if (d1 < 0) return undefined;
  const d2 = v.indexOf('-', d1 + 1);
  if (d2 < 0) return undefined;
  const d3 = v.indexOf('-', d2 + 1);
  if (d3 < 0) return undefined;
  // The usual value: lower-case hex of the right lengths, checked in place.
  const t = hexRun(v, d1 + 1, d2);
  const sp = hexRun(v, d2 + 1, d3);
  if (t !== RUN_OTHER && sp !== RUN_OTHER && d2 - d1 - 1 === 32 && d3 - d2 - 1 === 16) {
    if (t === RUN_ZEROS || sp === RUN_ZEROS) return undefined;
    return { trace_id: v.slice(d1 + 1, d2), span_id: v.slice(d2 + 1, d3), parent_span_id: '' };
  }
  const trace = hex(v.slice(d1 + 1, d2), TRACE_LENGTHS);
  const span = hex(v.slice(d2 + 1, d3), SPAN_LENGTHS);
  if (!trace || !span || allZeros(trace) || allZeros(span)) return undefined;
  return { trace_id: trace, span_id: span, parent_span_id: '' };
}

/** {@link hexRun}: not (only) lower-case hex digits, or empty. */
const RUN_OTHER = 0;
/** {@link hexRun}: lower-case hex digits, not all `0`. */
const RUN_HEX = 1;
/** {@link hexRun}: all `0`. */
const RUN_ZEROS = 2;

/** What `v[from, to)` is: see RUN_OTHER, RUN_HEX, RUN_ZEROS. */
function hexRun(v: string, from: number, to: number): number {
  if (to <= from) return RUN_OTHER;
  let zeros = true;
  for (let i = from; i < to; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x30) continue;
    zeros = false;
    if (!((c >= 0x31 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return RUN_OTHER;
  }
  return zeros ? RUN_ZEROS : RUN_HEX;
}

/** B3 single header. */
export function parseB3(value: string): TraceContext | undefined {
  const parts = value.trim().split('-');
  if (parts.length < 2) return undefined;
  const trace = hex(parts[0], [16, 32]);
  const span = hex(parts[1], [16]);
  if (!trace || !span) return undefined;
  return { trace_id: trace, span_id: span, parent_span_id: (parts[3] && hex(parts[3], [16])) || '' };
}

/** Jaeger uber-trace-id. */
export function parseUberTraceId(value: string): TraceContext | undefined {
  let v = value.trim();
  if (v.includes('%')) {
    try {
      v = decodeURIComponent(v);
    } catch {
      return undefined;
    }
  }
  const parts = v.split(':');
  if (parts.length !== 4) return undefined;
  const trace = hex(parts[0], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32]);
  const span = hex(parts[1], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
  if (!trace || !span) return undefined;
  const parent = parts[2] && parts[2] !== '0' ? hex(parts[2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]) : '';
  return { trace_id: trace.padStart(trace.length > 16 ? 32 : 16, '0'), span_id: span.padStart(16, '0'), parent_span_id: parent ? parent.padStart(16, '0') : '' };
}

function base64Text(s: string): string | undefined {
  if (!/^[A-Za-z0-9+/=_-]+$/.test(s)) return undefined;
  const text = Buffer.from(s, 'base64').toString('utf8');
  return text && !/[\u0000-\u001f\ufffd]/.test(text) ? text : undefined;
}

/** SkyWalking sw8. */
export function parseSw8(value: string): TraceContext | undefined {
  const parts = value.trim().split('-');
  if (parts.length < 4 || (parts[0] !== '0' && parts[0] !== '1')) return undefined;
  const trace = base64Text(parts[1]);
  const segment = base64Text(parts[2]);
  if (!trace || !segment || !/^\d+$/.test(parts[3])) return undefined;
  return { trace_id: trace, span_id: `${segment}-${parts[3]}`, parent_span_id: '' };
}

/**
 * The trace context in a set of headers. `get` looks a header up by its
 * lowercase name (return the first value). Extra header names (lowercase)
 * are tried last, their value taken as the trace id.
 */
export function extractTraceContext(get: (lowercaseName: string) => string | undefined, extraTraceHeaders: readonly string[] = []): TraceContext | undefined {
  const tp = get('traceparent');
  if (tp) {
    const c = parseTraceparent(tp);
    if (c) return c;
  }
  const b3 = get('b3');
  if (b3) {
    const c = parseB3(b3);
    if (c) return c;
  }
  const b3t = get('x-b3-traceid');
  if (b3t) {
    const trace = hex(b3t, [16, 32]);
    const span = hex(get('x-b3-spanid') ?? '', [16]);
    if (trace) return { trace_id: trace, span_id: span ?? '', parent_span_id: hex(get('x-b3-parentspanid') ?? '', [16]) ?? '' };
  }
  const uber = get('uber-trace-id');
  if (uber) {
    const c = parseUberTraceId(uber);
    if (c) return c;
  }
  const sw8 = get('sw8');
  if (sw8) {
    const c = parseSw8(sw8);
    if (c) return c;
  }
  for (const name of extraTraceHeaders) {
    const v = get(name)?.trim();
    if (v) return { trace_id: v, span_id: '', parent_span_id: '' };
  }
  return undefined;
}

/** The request id in a set of headers: `x-request-id`, then the extra names given. */
export function extractRequestId(get: (lowercaseName: string) => string | undefined, extraHeaders: readonly string[] = []): string {
  const v = get('x-request-id')?.trim();
  if (v) return v;
  for (const name of extraHeaders) {
    const x = get(name)?.trim();
    if (x) return x;
  }
  return '';
}

/** Whether `s[from, to)` holds a line terminator (what a regex `.` does not match). */
function hasLineTerminator(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x0a || c === 0x0d || c === 0x2028 || c === 0x2029) return true;
  }
  return false;
}

/**
 * The trace context in a sqlcommenter comment of a SQL statement
 * (`/*traceparent='00-…-…-01',…*\/`, values URL-encoded). Comments are
 * `/*` to the first `*\/` after it, taken left to right.
 */
export function traceContextFromSql(sql: string): TraceContext | undefined {
  if (!sql.includes('traceparent')) return undefined;
  for (let from = 0; ; ) {
    const open = sql.indexOf('/*', from);
    if (open < 0) return undefined;
    const close = sql.indexOf('*/', open + 2);
    if (close < 0) return undefined;
    from = close + 2;
    const body = sql.slice(open + 2, close);
    if (!body.includes('traceparent')) continue;
    // The `,`-separated pairs of the body, each `key=value`.
    for (let p = 0; p <= body.length; ) {
      const comma = body.indexOf(',', p);
      const end = comma < 0 ? body.length : comma;
      const start = p;
      p = end + 1;
      const eq = body.indexOf('=', start);
      if (eq < 0 || eq >= end) continue;
      const key = body.slice(start, eq).trim();
      if (key !== 'traceparent') continue;
      let value = body.slice(eq + 1, end).trim();
      // A value in single quotes (on one line) loses them.
      const last = value.length - 1;
      if (last >= 1 && value.charCodeAt(0) === 0x27 && value.charCodeAt(last) === 0x27 && !hasLineTerminator(value, 1, last)) value = value.slice(1, last);
      if (value.includes('%')) {
        try {
          value = decodeURIComponent(value);
        } catch {
          continue;
        }
      }
      const c = parseTraceparent(value);
      if (c) return c;
    }
  }
}
