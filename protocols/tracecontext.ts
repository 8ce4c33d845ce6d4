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

function hex(v: string, lengths: readonly number[]): string | undefined {
  const s = v.trim().toLowerCase();
  return lengths.includes(s.length) && HEX.test(s) ? s : undefined;
}

/** W3C traceparent. */
export function parseTraceparent(value: string): TraceContext | undefined {
  const parts = value.trim().split('-');
  if (parts.length < 4) return undefined;
  const trace = hex(parts[1], [32]);
  const span = hex(parts[2], [16]);
  if (!trace || !span || /^0+$/.test(trace) || /^0+$/.test(span)) return undefined;
  return { trace_id: trace, span_id: span, parent_span_id: '' };
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
  for (const name of ['x-request-id', ...extraHeaders]) {
    const v = get(name)?.trim();
    if (v) return v;
  }
  return '';
}

const SQL_COMMENT = /\/\*([^*]|\*(?!\/))*\*\//g;

/**
 * The trace context in a sqlcommenter comment of a SQL statement
 * (`/*traceparent='00-…-…-01',…*\/`, values URL-encoded).
 */
export function traceContextFromSql(sql: string): TraceContext | undefined {
  if (!sql.includes('traceparent')) return undefined;
  for (const m of sql.matchAll(SQL_COMMENT)) {
    const body = m[0].slice(2, -2);
    for (const pair of body.split(',')) {
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      const key = pair.slice(0, eq).trim();
      if (key !== 'traceparent') continue;
      let value = pair.slice(eq + 1).trim().replace(/^'(.*)'$/, '$1');
      try {
        value = decodeURIComponent(value);
      } catch {
        continue;
      }
      const c = parseTraceparent(value);
      if (c) return c;
    }
  }
  return undefined;
}
