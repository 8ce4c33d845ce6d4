/**
 * Dubbo (the dubbo2 TCP protocol) connection parser.
 *
 * Header (16 bytes): magic 0xdabb; flags (0x80 request, 0x40 two-way,
 * 0x20 event, low 5 bits serialization id); status (responses); request id
 * (int64); body length (int32). Requests and responses pair by request id.
 *
 * Request body, read for Hessian2 (id 2), Kryo (8, 25) and FastJson (6):
 * dubbo version, service path, service version, method, parameter types,
 * arguments, attachments. Fields, as DeepFlow reports Dubbo:
 * - request_type: the method; request_domain and request_resource: the
 *   service; endpoint: `<service>/<method>`; version: the dubbo version;
 *   request_id: the request id;
 * - trace ids from the attachments (`traceparent`, `sw8`, `b3`, … and the
 *   configured extra names), x_request_id likewise;
 * - response_code: the status byte (20 OK); response_status: 20 ok,
 *   30/40/90 client_error, 31/50/60/70/80/100 server_error;
 *   response_exception: the status name or the error message of the body,
 *   or the exception class when a Hessian2 response carries an exception
 *   (then response_status is server_error: the provider threw);
 * - attributes: `dubbo.service_version`, `dubbo.serialization`,
 *   `dubbo.event` (heartbeats, request_type `Heartbeat`).
 * One-way requests (two-way flag clear) get no response by design and are
 * emitted at once.
 */
import type { ConnectionParser, Dir, FeedFlags, L7Session, ParserContext, ResponseStatus } from '../types';
import { newSession } from '../types';
import { finishTimes, Framer, PendingMap, u32, utf8 } from '../framing';
import type { FrameHandler } from '../framing';
import { HeaderTable } from '../headers';
import { countParameterTypes, HessianReader } from './hessian';

const HEADER = 16;
/** Largest body we accept (Dubbo's default payload limit is 8 MiB; allow for raised limits). */
const MAX_BODY = 64 * 1024 * 1024;
/** Body bytes of a response worth keeping (status kind, exception class, error message). */
const RESPONSE_KEEP = 2048;

const SERIALIZATIONS: Record<number, string> = {
  2: 'hessian2', 3: 'java', 4: 'compactedjava', 6: 'fastjson', 7: 'nativejava', 8: 'kryo', 9: 'fst',
  10: 'native-hessian', 11: 'avro', 12: 'protostuff', 16: 'gson', 21: 'protobuf-json', 22: 'protobuf',
  23: 'fastjson2', 25: 'kryo2', 31: 'msgpack',
};

const STATUS_NAMES: Record<number, string> = {
  20: 'OK', 30: 'CLIENT_TIMEOUT', 31: 'SERVER_TIMEOUT', 35: 'CHANNEL_INACTIVE', 40: 'BAD_REQUEST', 50: 'BAD_RESPONSE',
  60: 'SERVICE_NOT_FOUND', 70: 'SERVICE_ERROR', 80: 'SERVER_ERROR', 90: 'CLIENT_ERROR',
  100: 'SERVER_THREADPOOL_EXHAUSTED_ERROR',
};

/** Response status of a Dubbo status byte (as DeepFlow classifies them). */
export function dubboStatus(code: number): ResponseStatus {
  switch (code) {
    case 20:
      return 'ok';
    case 30:
    case 40:
    case 90:
      return 'client_error';
    case 31:
    case 50:
    case 60:
    case 70:
    case 80:
    case 100:
      return 'server_error';
    default:
      return 'unknown';
  }
}

interface Waiting {
  start_time: bigint;
  session: L7Session;
  serialization: number;
}

/** Parser for one Dubbo connection. */
export class DubboParser implements ConnectionParser, FrameHandler {
  readonly headerBytes = HEADER;
  private readonly framer: Framer;
  private readonly pending: PendingMap<number, Waiting>;
  private readonly h = new HessianReader();
  private readonly headers: HeaderTable;

  constructor(private readonly ctx: ParserContext) {
    this.framer = new Framer(this, ctx.options.maxBufferBytes);
    this.pending = new PendingMap(ctx.options.maxPendingRequests);
    this.headers = new HeaderTable(ctx.options);
  }

  feed(dir: Dir, data: Uint8Array, timeNs: bigint, flags: FeedFlags): void {
    this.framer.feed(dir, data, timeNs, flags);
  }

  expire(nowNs: bigint): void {
    for (const w of this.pending.takeOlderThan(nowNs - this.ctx.options.requestTimeoutNs)) this.timeout(w.session);
  }

  close(nowNs: bigint): void {
    this.framer.flush(nowNs);
    for (const w of this.pending.takeAll()) this.timeout(w.session);
  }

  frameLength(_dir: Dir, buf: Uint8Array, off: number): number {
    if (buf[off] !== 0xda || buf[off + 1] !== 0xbb) return -1;
    const len = u32(buf, off + 12);
    return len > MAX_BODY ? -1 : HEADER + len;
  }

  keepBytes(_dir: Dir, buf: Uint8Array, off: number, total: number): number {
    // A response is read for its status, result kind and exception class or
    // message, all at its start: its value is never copied.
    return buf[off + 2] & 0x80 ? total : Math.min(total, HEADER + RESPONSE_KEEP);
  }

  onDesync(dir: Dir, reason: string): void {
    this.ctx.malformed(`dubbo: ${reason} (${dir === 0 ? 'request' : 'response'})`);
  }

  onFrame(_dir: Dir, data: Uint8Array, total: number, seen: number, startNs: bigint, endNs: bigint): void {
    // The flag, not the direction, says what a message is: providers may
    // also call back consumers over the same connection.
    if (data[2] & 0x80) this.request(data, total, seen, startNs, endNs);
    else this.response(data, total, seen, endNs);
  }

  private request(data: Uint8Array, total: number, seen: number, startNs: bigint, endNs: bigint): void {
    const flags = data[2];
    const serialization = flags & 0x1f;
    const id = requestId(data);
    const s = newSession('Dubbo', startNs);
    s.request_id = idString(data);
    s.request_length = total - HEADER;
    s.captured_request_bytes = seen;
    s.truncated = seen < total;
    s.end_time = endNs;
    s.attributes['dubbo.serialization'] = SERIALIZATIONS[serialization] ?? String(serialization);
    if (flags & 0x20) {
      s.request_type = 'Heartbeat';
      s.attributes['dubbo.event'] = '1';
    } else {
      this.headers.clear();
      this.requestBody(s, data, serialization);
      this.headers.applyTo(s);
    }
    if ((flags & 0x40) === 0) {
      // One-way: the provider never answers.
      s.response_status = 'ok';
      this.emit(s);
      return;
    }
    const evicted = this.pending.evicted;
    const old = this.pending.add(id, { start_time: startNs, session: s, serialization });
    if (this.pending.evicted !== evicted) this.ctx.malformed('dubbo: pending request limit reached');
    if (old) this.timeout(old.session);
  }

  private requestBody(s: L7Session, data: Uint8Array, serialization: number): void {
    let version: string | null = null;
    let service: string | null = null;
    let serviceVersion: string | null = null;
    let method: string | null = null;
    if (serialization === 2) {
      const h = this.h.reset(data, HEADER, data.length);
      version = h.readString();
      service = h.readString();
      serviceVersion = h.readString();
      method = h.readString();
      const desc = h.readString();
      if (h.ok) {
        const argsStart = h.pos;
        const n = countParameterTypes(desc ?? '');
        for (let i = 0; i < n && h.ok; i++) h.skipValue();
        if (n < 0 || !h.ok || !h.readStringMap(this.headers)) {
          this.headers.clear();
          this.scanAttachments(data, argsStart);
        }
      } else if (method) this.scanAttachments(data, HEADER);
    } else if (serialization === 8 || serialization === 25) {
      let p = HEADER;
      const out: Array<string | null> = [null, null, null, null];
      for (let i = 0; i < 4 && p >= 0; i++) {
        p = kryoString(data, p, out, i);
      }
      [version, service, serviceVersion, method] = out;
    } else if (serialization === 6) {
      let p = HEADER;
      const out: Array<string | null> = [null, null, null, null];
      for (let i = 0; i < 4 && p >= 0; i++) p = jsonLine(data, p, out, i);
      [version, service, serviceVersion, method] = out;
    }
    if (version) s.version = version;
    if (service) {
      s.request_domain = service;
      s.request_resource = service;
    }
    if (method) s.request_type = method;
    if (service || method) s.endpoint = `${service ?? ''}/${method ?? ''}`;
    if (serviceVersion) s.attributes['dubbo.service_version'] = serviceVersion;
  }

  /**
   * Fallback when the arguments could not be skipped: look for the trace
   * attachments by name (a Hessian short string of the name followed by a
   * string value).
   */
  private scanAttachments(data: Uint8Array, from: number): void {
    for (const name of SCAN_NAMES) this.scanOne(data, from, name);
    for (const name of this.ctx.options.traceIdHeaders) this.scanOne(data, from, name);
  }

  private scanOne(data: Uint8Array, from: number, anyCase: string): void {
    const name = anyCase.toLowerCase();
    const n = name.length;
    if (n === 0 || n > 31) return;
    const first = name.charCodeAt(0);
    outer: for (let i = from + 1; i + n < data.length; i++) {
      if (lower(data[i]) !== first || data[i - 1] !== n) continue;
      for (let k = 1; k < n; k++) if (lower(data[i + k]) !== name.charCodeAt(k)) continue outer;
      const h = this.h.reset(data, i + n, data.length);
      if (!h.atString()) continue;
      const v = h.readString();
      if (v) this.headers.add(name, v);
      return;
    }
  }

  private response(data: Uint8Array, total: number, seen: number, endNs: bigint): void {
    const status = data[3];
    const id = requestId(data);
    const w = this.pending.take(id);
    const s = w ? w.session : newSession('Dubbo', endNs);
    if (!w) {
      s.request_id = idString(data);
      if (data[2] & 0x20) s.request_type = 'Heartbeat';
    }
    s.response_length = total - HEADER;
    s.captured_response_bytes = seen;
    if (seen < total) s.truncated = true;
    s.end_time = endNs;
    s.response_code = status;
    s.response_status = dubboStatus(status);
    if (status !== 20) s.response_exception = STATUS_NAMES[status] ?? `STATUS_${status}`;
    const serialization = data[2] & 0x1f;
    if (serialization === 2 && !(data[2] & 0x20)) this.responseBody(s, data, status);
    this.emit(s);
  }

  private responseBody(s: L7Session, data: Uint8Array, status: number): void {
    const h = this.h.reset(data, HEADER, data.length);
    if (status !== 20) {
      // The body of an error response is its message.
      if (h.atString()) {
        const msg = h.readString();
        if (msg) s.response_exception = msg.length > 256 ? msg.slice(0, 256) : msg;
      }
      return;
    }
    const kind = h.readInt();
    if (kind === 0 || kind === 3) {
      // RESPONSE_WITH_EXCEPTION(_WITH_ATTACHMENTS): the provider threw.
      h.skipValue();
      s.response_status = 'server_error';
      s.response_exception = h.lastClassName || 'exception';
    }
  }

  private timeout(s: L7Session): void {
    s.response_status = 'timeout';
    this.emit(s);
  }

  private emit(s: L7Session): void {
    finishTimes(s);
    this.ctx.emit(s);
  }
}

const SCAN_NAMES = ['traceparent', 'sw8', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'uber-trace-id', 'x-request-id'];

function lower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 32 : c;
}

/** The request id as a map key (exact below 2^53, which counters stay under). */
function requestId(b: Uint8Array): number {
  return u32(b, 4) * 4294967296 + u32(b, 8);
}

function idString(b: Uint8Array): string {
  const hi = u32(b, 4);
  if (hi < 0x200000) return String(hi * 4294967296 + u32(b, 8));
  return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(u32(b, 8))).toString();
}

/**
 * One Kryo string at `p` into `out[i]`; returns the next position or -1.
 * ASCII strings end at the byte with the high bit set; others carry a
 * varint character count whose first byte has the high bit set.
 */
function kryoString(b: Uint8Array, p: number, out: Array<string | null>, i: number): number {
  if (p >= b.length) return -1;
  const first = b[p];
  if (first & 0x80) {
    let v = first & 0x3f;
    let q = p + 1;
    if (first & 0x40) {
      let shift = 6;
      for (;;) {
        if (q >= b.length || shift > 27) return -1;
        const x = b[q++];
        v |= (x & 0x7f) << shift;
        if (!(x & 0x80)) break;
        shift += 7;
      }
    }
    if (v === 0) {
      out[i] = null;
      return q;
    }
    const chars = v - 1;
    let e = q;
    for (let k = 0; k < chars; k++) {
      if (e >= b.length) return -1;
      const c = b[e];
      e += c < 0x80 ? 1 : (c & 0xe0) === 0xc0 ? 2 : 3;
    }
    if (e > b.length) return -1;
    out[i] = utf8(b, q, e);
    return e;
  }
  let s = '';
  for (let q = p; q < b.length && q - p < 4096; q++) {
    const c = b[q];
    s += String.fromCharCode(c & 0x7f);
    if (c & 0x80) {
      out[i] = s;
      return q + 1;
    }
  }
  return -1;
}

/** One FastJson line (a JSON string and a newline) at `p` into `out[i]`. */
function jsonLine(b: Uint8Array, p: number, out: Array<string | null>, i: number): number {
  let e = p;
  while (e < b.length && b[e] !== 0x0a && e - p < 4096) e++;
  if (e >= b.length || b[p] !== 0x22) return -1;
  try {
    const v: unknown = JSON.parse(utf8(b, p, e));
    out[i] = typeof v === 'string' ? v : null;
  } catch {
    return -1;
  }
  return e + 1;
}

/** Whether the first bytes look like Dubbo: the magic and a plausible flag/status byte. */
export function inferDubbo(data: Uint8Array): 0 | 1 | 2 {
  if (data.length < HEADER || data[0] !== 0xda || data[1] !== 0xbb) return 0;
  const flags = data[2];
  if (u32(data, 12) > MAX_BODY) return 0;
  if (flags & 0x80) return SERIALIZATIONS[flags & 0x1f] !== undefined ? 2 : 1;
  return STATUS_NAMES[data[3]] !== undefined ? 2 : 1;
}
