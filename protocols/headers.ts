/**
 * A small reusable table of message headers (Kafka record headers, Dubbo
 * attachments, AMQP message headers) for trace-context and request-id
 * lookups through `extractTraceContext` / `extractRequestId`.
 *
 * One instance per parser, cleared per message; `get` is bound once so the
 * lookups create no closures per message. Bounded: at most `MAX_HEADERS`
 * entries and `MAX_VALUE` characters per value (trace headers are short;
 * anything else is irrelevant here).
 */
import type { L7Session, ParserOptions } from './types';
import { extractRequestId, extractTraceContext } from './tracecontext';

const MAX_HEADERS = 64;
const MAX_VALUE = 512;

/** Header names (lowercase) worth keeping: trace context and request ids. */
const WANTED = new Set(['traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'uber-trace-id', 'sw8', 'x-request-id']);

/** Headers of one message. */
export class HeaderTable {
  private readonly keys: string[] = [];
  private readonly values: string[] = [];
  private n = 0;
  /** Headers dropped because the table was full. */
  dropped = 0;
  private extra: ReadonlySet<string> = new Set();
  private traceNames: readonly string[] = [];
  private requestIdNames: readonly string[] = [];

  /** Looks a header up by lowercase name (first value). */
  readonly get = (name: string): string | undefined => {
    for (let i = 0; i < this.n; i++) if (this.keys[i] === name) return this.values[i];
    return undefined;
  };

  constructor(options?: ParserOptions) {
    if (options) {
      // Configured names may come in any case; header keys are compared lowercased.
      this.traceNames = options.traceIdHeaders.map((h) => h.toLowerCase());
      this.requestIdNames = options.requestIdHeaders.map((h) => h.toLowerCase());
      this.extra = new Set([...this.traceNames, ...this.requestIdNames]);
    }
  }

  /** Empties the table. */
  clear(): void {
    this.n = 0;
  }

  /** Number of headers held. */
  get size(): number {
    return this.n;
  }

  /** Whether a header of this (lowercase) name is worth decoding. */
  wants(lowercaseName: string): boolean {
    return WANTED.has(lowercaseName) || this.extra.has(lowercaseName);
  }

  /** Adds a header (name lowercased); ignored when the table is full. */
  add(name: string, value: string): void {
    if (this.n >= MAX_HEADERS) {
      this.dropped++;
      return;
    }
    this.keys[this.n] = name.toLowerCase();
    this.values[this.n] = value.length > MAX_VALUE ? value.slice(0, MAX_VALUE) : value;
    this.n++;
  }

  /** Sets the session's trace ids and x_request_id from the headers held. */
  applyTo(s: L7Session): void {
    if (this.n === 0) return;
    const tc = extractTraceContext(this.get, this.traceNames);
    if (tc) {
      s.trace_id = tc.trace_id;
      s.span_id = tc.span_id;
      s.parent_span_id = tc.parent_span_id;
    }
    const rid = extractRequestId(this.get, this.requestIdNames);
    if (rid) s.x_request_id = rid;
  }
}
