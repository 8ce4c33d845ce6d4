/**
 * HTTP semantics shared by the HTTP/1.x and HTTP/2 (+ gRPC) parsers: which
 * header fields we keep, how they become {@link L7Session} fields, the
 * endpoint (low-cardinality route) rules, and how status codes map to
 * `response_status`.
 *
 * Endpoint rules:
 * - HTTP: the path of the request target without query or fragment; empty
 *   segments (`//`) and `.` dropped; a segment that looks like an identifier
 *   is replaced by `{id}`: all digits, a UUID (8-4-4-4-12 hex), a hex string
 *   of 16 or more characters (object ids, hashes), or a token of 24 or more
 *   characters mixing letters and digits (opaque keys, base64 ids). At most
 *   {@link MAX_ENDPOINT_SEGMENTS} segments are kept, so a path cannot blow up
 *   the cardinality through depth. The absolute form
 *   (`http://host/p?q`) contributes its path; `*` stays `*`; CONNECT's
 *   authority form is kept as is.
 * - gRPC: `package.Service/Method`, i.e. `:path` without its leading slash.
 *
 * DeepFlow instead keeps the first two path segments without any id
 * replacement (its default `http_endpoint` rule) and the gRPC path with its
 * slash; the conformance tests list where that differs.
 */
import { extractRequestId, extractTraceContext } from '../tracecontext';
import type { L7Session, ParserOptions, ResponseStatus } from '../types';

/* Slots of the header fields both parsers keep: indexes into HeaderValues.values. */
/** Slot of Host (HTTP/1). */
export const H_HOST = 0;
/** Slot of Content-Length. */
export const H_CONTENT_LENGTH = 1;
/** Slot of Transfer-Encoding. */
export const H_TRANSFER_ENCODING = 2;
/** Slot of Content-Type. */
export const H_CONTENT_TYPE = 3;
/** Slot of User-Agent. */
export const H_USER_AGENT = 4;
/** Slot of Referer. */
export const H_REFERER = 5;
/** Slot of X-Forwarded-For. */
export const H_X_FORWARDED_FOR = 6;
/** Slot of X-Real-IP. */
export const H_X_REAL_IP = 7;
/** Slot of Upgrade. */
export const H_UPGRADE = 8;
/** Slot of Connection. */
export const H_CONNECTION = 9;
/** Slot of grpc-status (trailers). */
export const H_GRPC_STATUS = 10;
/** Slot of grpc-message (trailers). */
export const H_GRPC_MESSAGE = 11;
/** Slot of HTTP/2 `:method`. */
export const H_METHOD = 12;
/** Slot of HTTP/2 `:path`. */
export const H_PATH = 13;
/** Slot of HTTP/2 `:authority`. */
export const H_AUTHORITY = 14;
/** Slot of HTTP/2 `:status`. */
export const H_STATUS = 15;

/** Names of the fixed slots, in slot order; trace and request-id headers follow. */
const FIXED_NAMES = [
  'host',
  'content-length',
  'transfer-encoding',
  'content-type',
  'user-agent',
  'referer',
  'x-forwarded-for',
  'x-real-ip',
  'upgrade',
  'connection',
  'grpc-status',
  'grpc-message',
  ':method',
  ':path',
  ':authority',
  ':status',
];

/** Header names tracecontext.ts reads (besides configured extras). */
const TRACE_NAMES = ['traceparent', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'uber-trace-id', 'sw8', 'x-request-id'];

/**
 * The set of header names a parser keeps for one {@link ParserOptions}: the
 * fixed slots, the trace headers, and the configured extra trace and
 * request-id headers. Built once per options object.
 */
export class HeaderNames {
  /** Lowercase names by slot. */
  readonly names: string[];
  /** Slot of each lowercase name. */
  readonly slots = new Map<string, number>();
  /** Lowercase extra trace-id header names (options.traceIdHeaders). */
  readonly traceExtras: string[];
  /** Lowercase extra request-id header names (options.requestIdHeaders). */
  readonly requestIdExtras: string[];
  // Slots by name length, and each name's bytes, for matching raw HTTP/1 bytes without a string.
  private readonly byLength: number[][] = [];
  private readonly bytes: Uint8Array[] = [];

  constructor(options: ParserOptions) {
    this.traceExtras = options.traceIdHeaders.map((n) => n.toLowerCase().trim()).filter((n) => n !== '');
    this.requestIdExtras = options.requestIdHeaders.map((n) => n.toLowerCase().trim()).filter((n) => n !== '');
    this.names = [];
    for (const n of [...FIXED_NAMES, ...TRACE_NAMES, ...this.traceExtras, ...this.requestIdExtras]) {
      if (this.slots.has(n)) continue;
      this.slots.set(n, this.names.length);
      this.names.push(n);
    }
    for (let slot = 0; slot < this.names.length; slot++) {
      const b = Buffer.from(this.names[slot], 'latin1');
      this.bytes.push(b);
      (this.byLength[b.length] ??= []).push(slot);
    }
  }

  /** The slot of the header whose name is `src[start, end)` (any case), or -1. */
  slotOfBytes(src: Uint8Array, start: number, end: number): number {
    const cands = this.byLength[end - start];
    if (cands === undefined) return -1;
    for (let c = 0; c < cands.length; c++) {
      const want = this.bytes[cands[c]];
      let i = 0;
      for (; i < want.length; i++) {
        let ch = src[start + i];
        if (ch >= 0x41 && ch <= 0x5a) ch += 0x20;
        if (ch !== want[i]) break;
      }
      if (i === want.length) return cands[c];
    }
    return -1;
  }

  private static cache = new WeakMap<ParserOptions, HeaderNames>();

  /** The shared instance for an options object. */
  static for(options: ParserOptions): HeaderNames {
    let h = HeaderNames.cache.get(options);
    if (!h) {
      h = new HeaderNames(options);
      HeaderNames.cache.set(options, h);
    }
    return h;
  }
}

/**
 * The kept header values of one message (first occurrence wins), reused from
 * message to message. `get` is what tracecontext.ts expects.
 */
export class HeaderValues {
  /** Values by slot; '' when absent. */
  readonly values: string[];
  /** Looks a kept header up by lowercase name (bound once, passed to extractTraceContext). */
  readonly get: (lowercaseName: string) => string | undefined;

  /** Slots written since the last reset (each once: a slot is written only while ''). */
  private readonly written: Int32Array;
  private writtenCount = 0;

  constructor(readonly names: HeaderNames) {
    this.values = new Array<string>(names.names.length).fill('');
    this.written = new Int32Array(names.names.length);
    this.get = (name) => {
      const slot = this.names.slots.get(name);
      if (slot === undefined) return undefined;
      const v = this.values[slot];
      return v === '' ? undefined : v;
    };
  }

  /** Clears every value for the next message (only the slots written: most messages set a few of them). */
  reset(): void {
    const v = this.values;
    const w = this.written;
    for (let i = 0; i < this.writtenCount; i++) v[w[i]] = '';
    this.writtenCount = 0;
  }

  /** Keeps `value` for `slot` unless the header already appeared. */
  set(slot: number, value: string): void {
    if (this.values[slot] === '' && value !== '') {
      this.values[slot] = value;
      this.written[this.writtenCount++] = slot;
    }
  }

  /** Keeps a header given by lowercase name (HTTP/2); ignores names not kept. */
  setByName(name: string, value: string): void {
    const slot = this.names.slots.get(name);
    if (slot !== undefined) this.set(slot, value);
  }
}

/**
 * Fills the trace ids, x-request-id and request attributes of a session from
 * request headers. Trace ids already set (none are, for a request) win.
 */
export function applyRequestHeaders(s: L7Session, h: HeaderValues): void {
  applyTrace(s, h);
  const v = h.values;
  if (v[H_USER_AGENT] !== '') s.attributes.user_agent = v[H_USER_AGENT];
  if (v[H_REFERER] !== '') s.attributes.referer = v[H_REFERER];
  const client = clientIp(v[H_X_FORWARDED_FOR], v[H_X_REAL_IP]);
  if (client !== '') s.attributes.client_ip = client;
  if (v[H_CONTENT_TYPE] !== '') s.attributes.content_type = v[H_CONTENT_TYPE];
}

/**
 * Fills what response headers add: trace ids and x-request-id when the
 * request carried none, and the content type (the response's describes what
 * came back, so it replaces the request's).
 */
export function applyResponseHeaders(s: L7Session, h: HeaderValues): void {
  applyTrace(s, h);
  const ct = h.values[H_CONTENT_TYPE];
  if (ct !== '') s.attributes.content_type = ct;
}

function applyTrace(s: L7Session, h: HeaderValues): void {
  if (s.trace_id === '') {
    const tc = extractTraceContext(h.get, h.names.traceExtras);
    if (tc) {
      s.trace_id = tc.trace_id;
      s.span_id = tc.span_id;
      s.parent_span_id = tc.parent_span_id;
    }
  }
  if (s.x_request_id === '') s.x_request_id = extractRequestId(h.get, h.names.requestIdExtras);
}

/** The original client of a proxied request: the first X-Forwarded-For entry, else X-Real-IP. */
export function clientIp(xff: string, realIp: string): string {
  if (xff !== '') {
    const comma = xff.indexOf(',');
    const first = (comma < 0 ? xff : xff.slice(0, comma)).trim();
    if (first !== '') return first;
  }
  return realIp.trim();
}

/** `response_status` of an HTTP status code. */
export function httpStatus(code: number): ResponseStatus {
  if (code >= 400 && code <= 499) return 'client_error';
  if (code >= 500 && code <= 599) return 'server_error';
  if (code >= 100 && code <= 399) return 'ok';
  return 'unknown';
}

/** gRPC status code names (grpc/doc/statuscodes.md). */
export const GRPC_CODE_NAMES: readonly string[] = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

/**
 * `response_status` of a gRPC status code. Client errors are the codes that
 * say the caller's request was at fault or that the caller gave up:
 * CANCELLED, INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED,
 * FAILED_PRECONDITION, OUT_OF_RANGE, UNAUTHENTICATED (the same split DeepFlow
 * makes); every other non-zero code is a server error.
 */
export function grpcStatus(code: number): ResponseStatus {
  switch (code) {
    case 0:
      return 'ok';
    case 1:
    case 3:
    case 5:
    case 6:
    case 7:
    case 9:
    case 11:
    case 16:
      return 'client_error';
    default:
      return 'server_error';
  }
}

/** Most path segments an endpoint keeps. */
export const MAX_ENDPOINT_SEGMENTS = 10;

/** The endpoint of an HTTP request target (see the module comment for the rules). */
export function httpEndpoint(target: string, method = ''): string {
  if (target === '') return '';
  if (target === '*') return '*';
  if (method === 'CONNECT') return target;
  let start = 0;
  const c0 = target.charCodeAt(0);
  if (c0 !== 0x2f /* / */) {
    // Absolute form: skip scheme://authority.
    const scheme = target.indexOf('://');
    if (scheme < 0) return target.length > 128 ? target.slice(0, 128) : target;
    const slash = target.indexOf('/', scheme + 3);
    if (slash < 0) return '/';
    start = slash;
  }
  let end = target.length;
  for (let i = start; i < end; i++) {
    const c = target.charCodeAt(i);
    if (c === 0x3f /* ? */ || c === 0x23 /* # */) {
      end = i;
      break;
    }
  }
  let out = '';
  let segments = 0;
  let i = start;
  while (i < end && segments < MAX_ENDPOINT_SEGMENTS) {
    while (i < end && target.charCodeAt(i) === 0x2f) i++;
    if (i >= end) break;
    let j = i;
    while (j < end && target.charCodeAt(j) !== 0x2f) j++;
    if (!(j - i === 1 && target.charCodeAt(i) === 0x2e)) {
      out += '/';
      out += isIdSegment(target, i, j) ? '{id}' : target.slice(i, j);
      segments++;
    }
    i = j;
  }
  return out === '' ? '/' : out;
}

/** Whether `s[start, end)` looks like an identifier rather than a route word. */
export function isIdSegment(s: string, start: number, end: number): boolean {
  const n = end - start;
  if (n === 0) return false;
  let digits = 0;
  let hexLetters = 0;
  let letters = 0;
  let dashes = 0;
  let other = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) digits++;
    else if ((c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)) {
      hexLetters++;
      letters++;
    } else if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a)) letters++;
    else if (c === 0x2d) dashes++;
    else if (c === 0x5f || c === 0x3d || c === 0x2e || c === 0x7e) other++;
    else return false;
  }
  if (digits === n) return true;
  if (n === 36 && dashes === 4 && digits + hexLetters === 32) {
    return s.charCodeAt(start + 8) === 0x2d && s.charCodeAt(start + 13) === 0x2d && s.charCodeAt(start + 18) === 0x2d && s.charCodeAt(start + 23) === 0x2d;
  }
  if (n >= 16 && digits + hexLetters === n) return true;
  return n >= 24 && digits > 0 && letters > 0;
}

/** gRPC endpoint, service and method of a `:path` (`/pkg.Service/Method`); endpoint '' when not of that form. */
export function grpcRoute(path: string): { endpoint: string; service: string; method: string } {
  const body = path.charCodeAt(0) === 0x2f ? path.slice(1) : path;
  const slash = body.indexOf('/');
  if (slash <= 0 || slash === body.length - 1 || body.indexOf('/', slash + 1) >= 0) {
    return { endpoint: body, service: '', method: '' };
  }
  return { endpoint: body, service: body.slice(0, slash), method: body.slice(slash + 1) };
}

/** Decodes a percent-encoded grpc-message (gRPC over HTTP/2 spec); the raw text when it is not valid. */
export function decodeGrpcMessage(v: string): string {
  if (v.indexOf('%') < 0) return v;
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** Parses a non-negative decimal (Content-Length, grpc-status); -1 when not one. */
export function parseDecimal(v: string): number {
  const t = v.trim();
  if (t === '' || t.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c < 0x30 || c > 0x39) {
      // A list of equal values ("42, 42") is allowed by RFC 9110 §8.6.
      if (c === 0x2c) {
        const rest = parseDecimal(t.slice(i + 1));
        return rest === n ? n : -1;
      }
      return -1;
    }
    n = n * 10 + (c - 0x30);
  }
  return n;
}
