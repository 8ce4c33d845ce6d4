/**
 * NATS client protocol (docs.nats.io/reference/reference-protocols/nats-protocol):
 * INFO, CONNECT, PUB, HPUB, SUB, UNSUB, MSG, HMSG, PING, PONG, +OK, -ERR.
 *
 * Pairing, as DeepFlow does: the server's INFO with the client's CONNECT
 * (one `INFO` session: the handshake), PING with PONG (either side may
 * ping); every other operation is a session of its own (`PUB`, `MSG`, `SUB`,
 * `+OK`, `-ERR`, …: NATS does not answer them, except +OK/-ERR in verbose
 * mode, reported on their own as DeepFlow does).
 *
 * Fields (decisions):
 * - request_type: the operation (`PUB`, `HPUB`, `SUB`, `UNSUB`, `MSG`, `HMSG`,
 *   `INFO`, `CONNECT`, `PING`, `PONG`, `OK`, `ERR` — DeepFlow's names);
 *   request_resource: the subject (UNSUB: the subject its sid subscribed
 *   to, when seen — DeepFlow leaves it empty); endpoint: the subject's first
 *   token (DeepFlow); request_domain: the server name from INFO; version: the
 *   server version from INFO.
 * - Bytes of a paired session's first message (INFO, PING) count as its
 *   request, those of the answer (CONNECT, PONG) as its response; a one-way
 *   message counts on the side it came from (PUB: request, MSG: response),
 *   as DeepFlow counts them. request_length / response_length: the declared
 *   payload size (PUB, MSG, …) or the line size.
 * - response_status: ok, except -ERR (client_error: NATS errors answer what
 *   the client sent) and HMSG status headers (`NATS/1.0 503` no responders:
 *   ≥ 500 server_error, 4xx client_error) with response_code the status.
 * - Trace context from HPUB/HMSG headers (`traceparent`, `sw8`, …).
 * - CONNECT's credentials (user, pass, auth_token, jwt, nkey, sig) are never kept.
 */
import { extractRequestId, extractTraceContext } from '../tracecontext';
import { newSession, type ConnectionParser, type Dir, type FeedFlags, type L7Session, type ParserContext } from '../types';

/** Header bytes kept of an HPUB/HMSG (trace headers come first in practice). */
const HDR_CAP = 8 * 1024;
/** Most headers looked at per message. */
const MAX_HEADERS = 64;
/** sid → subject entries kept per connection (UNSUB names its subject with them). */
const MAX_SIDS = 4096;
/** Tokens of an operation line looked at. */
const MAX_TOKENS = 8;

/** Reasons counted through `ctx.malformed` (a closed set). */
export const NATS_MALFORMED = {
  line: 'NATS: line longer than the buffer limit',
  op: 'NATS: unknown operation',
  args: 'NATS: bad operation arguments',
  terminator: 'NATS: payload not followed by CRLF',
  internal: 'NATS: internal parser error',
} as const;

interface Side {
  /** Partial line bytes; grows on demand up to `lineCap`. */
  line: Uint8Array;
  lineLen: number;
  lineCap: number;
  payloadLeft: number;
  hdrLeft: number;
  hdr: Uint8Array | undefined;
  hdrHave: number;
  terminator: boolean;
  resync: boolean;
  inMsg: boolean;
  start: bigint;
  bytes: number;
  /** The operation whose payload is being read. */
  op: L7Session | undefined;
  hdrSize: number;
}

function newSide(cap: number): Side {
  return {
    line: new Uint8Array(128), lineLen: 0, lineCap: Math.max(1024, cap), payloadLeft: 0, hdrLeft: 0, hdr: undefined, hdrHave: 0, terminator: false,
    resync: false, inMsg: false, start: 0n, bytes: 0, op: undefined, hdrSize: 0,
  };
}

/** Appends `d[s, e)` to the side's partial line, growing it up to its cap; false when it would exceed the cap. */
function appendLine(side: Side, d: Uint8Array, s: number, e: number): boolean {
  const need = side.lineLen + (e - s);
  if (need > side.lineCap) return false;
  if (need > side.line.length) {
    const grown = new Uint8Array(Math.min(side.lineCap, Math.max(need, 2 * side.line.length)));
    grown.set(side.line.subarray(0, side.lineLen));
    side.line = grown;
  }
  side.line.set(d.subarray(s, e), side.lineLen);
  side.lineLen = need;
  return true;
}

const tok = new Int32Array(2 * MAX_TOKENS);
let tokCount = 0;

function tokenize(b: Uint8Array, s: number, e: number): void {
  tokCount = 0;
  let i = s;
  while (i < e && tokCount < MAX_TOKENS) {
    while (i < e && (b[i] === 0x20 || b[i] === 0x09)) i++;
    if (i >= e) break;
    const j = i;
    while (i < e && b[i] !== 0x20 && b[i] !== 0x09) i++;
    tok[2 * tokCount] = j;
    tok[2 * tokCount + 1] = i;
    tokCount++;
  }
  // More tokens than any operation has: mark as too many.
  while (i < e && (b[i] === 0x20 || b[i] === 0x09)) i++;
  if (i < e) tokCount = MAX_TOKENS + 1;
}

/**
 * Node's own Buffer slicers, called on a plain Uint8Array: no Buffer view
 * object per string (these are what `buf.toString('latin1' | 'utf8', s, e)`
 * run underneath).
 */
type Slicer = (this: Uint8Array, start: number, end: number) => string;
const LATIN1 = (Buffer.prototype as unknown as { latin1Slice: Slicer }).latin1Slice;
const UTF8 = (Buffer.prototype as unknown as { utf8Slice: Slicer }).utf8Slice;

/** `b[s, e)` as UTF-8 text; ASCII (most keys, commands, subjects) takes the cheaper one-byte path. */
function utf8(b: Uint8Array, s: number, e: number): string {
  for (let i = s; i < e; i++) if (b[i] >= 0x80) return UTF8.call(b, s, e);
  return LATIN1.call(b, s, e);
}

function str(b: Uint8Array, i: number): string {
  return utf8(b, tok[2 * i], tok[2 * i + 1]);
}

function num(b: Uint8Array, i: number): number {
  const s = tok[2 * i];
  const e = tok[2 * i + 1];
  if (e - s > 15 || e === s) return -1;
  let v = 0;
  for (let k = s; k < e; k++) {
    const c = b[k] - 0x30;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** The operation at `b[s, e)`, upper-cased, if it is a short word; else ''. */
function opName(b: Uint8Array, s: number, e: number): string {
  if (e - s > 8) return '';
  let out = '';
  for (let i = s; i < e; i++) {
    let c = b[i];
    if (c >= 0x61 && c <= 0x7a) c -= 0x20;
    out += String.fromCharCode(c);
  }
  return out;
}

function firstToken(subject: string): string {
  const dot = subject.indexOf('.');
  return dot < 0 ? subject : subject.slice(0, dot);
}

/**
 * Index of the next LF at or after `p`, -1 when none. A plain loop: lines
 * here are a few bytes to a few hundred, where the builtin indexOf's call
 * overhead costs more than the scan.
 */
function nextLf(d: Uint8Array, p: number, n: number): number {
  while (p < n && d[p] !== 10) p++;
  return p < n ? p : -1;
}

/** Parser of one NATS connection. */
export class NatsParser implements ConnectionParser {
  private readonly sides: [Side, Side];
  private serverName = '';
  private version = '';
  private info: L7Session | undefined;
  private connected = false;
  /** PINGs awaiting a PONG, by the direction that pinged. */
  private readonly pings: [L7Session[], L7Session[]] = [[], []];
  private readonly sids = new Map<string, string>();
  private hdrCount = 0;
  private readonly hdrNames: string[] = new Array<string>(MAX_HEADERS).fill('');
  private readonly hdrValues: string[] = new Array<string>(MAX_HEADERS).fill('');
  private readonly header: (name: string) => string | undefined;
  /** Header bytes kept per message: {@link HDR_CAP}, or less under a smaller buffer limit. */
  private readonly hdrCap: number;

  constructor(private readonly ctx: ParserContext) {
    const cap = ctx.options.maxBufferBytes;
    this.hdrCap = Math.max(64, Math.min(HDR_CAP, cap));
    this.sides = [newSide(cap), newSide(cap)];
    // One lookup function per connection over the current message's headers.
    this.header = (name: string) => {
      for (let i = 0; i < this.hdrCount; i++) if (this.hdrNames[i] === name) return this.hdrValues[i];
      return undefined;
    };
  }

  feed(dir: Dir, data: Uint8Array, timeNs: bigint, flags: FeedFlags): void {
    try {
      const side = this.sides[dir];
      if (flags.gap) {
        this.abort(dir, timeNs);
        side.resync = true;
      }
      this.consume(dir, side, data, timeNs);
      if (flags.messageLength !== undefined && flags.messageLength > data.length) this.abort(dir, timeNs);
    } catch {
      this.ctx.malformed(NATS_MALFORMED.internal);
      const cap = this.ctx.options.maxBufferBytes;
      this.sides[0] = newSide(cap);
      this.sides[1] = newSide(cap);
    }
  }

  expire(nowNs: bigint): void {
    const timeout = this.ctx.options.requestTimeoutNs;
    if (this.info && nowNs - this.info.start_time >= timeout) {
      this.timeout(this.info);
      this.info = undefined;
    }
    for (const q of this.pings) while (q.length && nowNs - q[0].start_time >= timeout) this.timeout(q.shift()!);
  }

  close(nowNs: bigint): void {
    this.abort(0, nowNs);
    this.abort(1, nowNs);
    if (this.info) this.timeout(this.info);
    this.info = undefined;
    for (const q of this.pings) {
      for (const s of q) this.timeout(s);
      q.length = 0;
    }
  }

  /** Ends a message in progress as truncated (its rest will not come). */
  private abort(dir: Dir, t: bigint): void {
    const side = this.sides[dir];
    if (side.op) {
      side.op.truncated = true;
      this.finishPayload(dir, side, t);
    }
    side.lineLen = 0;
    side.payloadLeft = 0;
    side.hdrLeft = 0;
    side.terminator = false;
    side.inMsg = false;
  }

  private consume(dir: Dir, side: Side, d: Uint8Array, t: bigint): void {
    const n = d.length;
    let p = 0;
    while (p < n) {
      if (side.payloadLeft > 0) {
        const k = Math.min(side.payloadLeft, n - p);
        if (side.hdrLeft > 0) {
          const c = Math.min(side.hdrLeft, k);
          const room = Math.min(this.hdrCap, side.hdrSize) - side.hdrHave;
          if (room > 0) {
            if (!side.hdr) side.hdr = new Uint8Array(this.hdrCap);
            const m = Math.min(room, c);
            side.hdr.set(d.subarray(p, p + m), side.hdrHave);
            side.hdrHave += m;
          }
          side.hdrLeft -= c;
        }
        side.payloadLeft -= k;
        side.bytes += k;
        p += k;
        if (side.payloadLeft > 0) return;
        side.terminator = true;
        continue;
      }
      const lf = nextLf(d, p, n);
      if (lf < 0) {
        if (side.resync) return;
        const k = n - p;
        if (!appendLine(side, d, p, n)) {
          this.ctx.malformed(NATS_MALFORMED.line);
          this.abort(dir, t);
          side.resync = true;
          return;
        }
        if (!side.inMsg) {
          side.inMsg = true;
          side.start = t;
          side.bytes = 0;
        }
        side.bytes += k;
        return;
      }
      if (side.resync) {
        side.resync = false;
        p = lf + 1;
        continue;
      }
      if (!side.inMsg) {
        side.inMsg = true;
        side.start = t;
        side.bytes = 0;
      }
      side.bytes += lf + 1 - p;
      if (side.lineLen > 0) {
        if (!appendLine(side, d, p, lf)) {
          this.ctx.malformed(NATS_MALFORMED.line);
          this.abort(dir, t);
          p = lf + 1;
          continue;
        }
        const len = side.lineLen;
        side.lineLen = 0;
        this.onLine(dir, side, side.line, 0, len, t);
      } else this.onLine(dir, side, d, p, lf, t);
      p = lf + 1;
    }
  }

  private onLine(dir: Dir, side: Side, b: Uint8Array, s: number, e: number, t: bigint): void {
    if (e > s && b[e - 1] === 13) e--;
    if (side.terminator) {
      side.terminator = false;
      if (s === e) {
        this.finishPayload(dir, side, t);
        return;
      }
      this.ctx.malformed(NATS_MALFORMED.terminator);
      if (side.op) side.op.truncated = true;
      this.finishPayload(dir, side, t);
      side.inMsg = true;
      side.start = t;
      side.bytes = e - s + 2;
    }
    if (s === e) {
      side.inMsg = false;
      return;
    }
    let opEnd = s;
    while (opEnd < e && b[opEnd] !== 0x20 && b[opEnd] !== 0x09) opEnd++;
    const op = opName(b, s, opEnd);
    switch (op) {
      case 'INFO':
      case 'CONNECT':
        this.onJson(dir, side, op, b, opEnd, e, t);
        return;
      case 'PUB':
      case 'HPUB':
      case 'MSG':
      case 'HMSG':
        this.onMessageLine(dir, side, op, b, opEnd, e, t);
        return;
      case 'SUB':
      case 'UNSUB': {
        tokenize(b, opEnd, e);
        const sess = this.session(op, dir, side.start);
        if (op === 'SUB') {
          // SUB <subject> [queue group] <sid>
          if (tokCount < 2 || tokCount > 3) return this.bad(side, NATS_MALFORMED.args);
          const subject = str(b, 0);
          const sid = str(b, tokCount - 1);
          this.subject(sess, subject);
          sess.attributes['nats.sid'] = sid;
          if (tokCount === 3) sess.attributes['nats.queue_group'] = str(b, 1);
          if (this.sids.size < MAX_SIDS || this.sids.has(sid)) this.sids.set(sid, subject);
        } else {
          // UNSUB <sid> [max_msgs]
          if (tokCount < 1 || tokCount > 2) return this.bad(side, NATS_MALFORMED.args);
          const sid = str(b, 0);
          sess.attributes['nats.sid'] = sid;
          if (tokCount === 2) sess.attributes['nats.max_msgs'] = str(b, 1);
          const subject = this.sids.get(sid);
          if (subject !== undefined) this.subject(sess, subject);
        }
        this.oneWay(dir, side, sess, null, t);
        return;
      }
      case 'PING': {
        const sess = this.session(op, dir, side.start);
        this.count(true, sess, side.bytes, side.bytes);
        side.inMsg = false;
        const q = this.pings[dir];
        if (q.length >= this.ctx.options.maxPendingRequests) this.timeout(q.shift()!);
        q.push(sess);
        return;
      }
      case 'PONG': {
        const other = this.pings[dir === 0 ? 1 : 0];
        const ping = other.shift();
        if (!ping) {
          this.oneWay(dir, side, this.session(op, dir, side.start), side.bytes, t);
          return;
        }
        this.answer(ping, side, side.bytes, t, 'ok', '');
        return;
      }
      case '+OK':
        this.oneWay(dir, side, this.session('OK', dir, side.start), null, t);
        return;
      case '-ERR': {
        const sess = this.session('ERR', dir, side.start);
        let m = Buffer.from(b.buffer, b.byteOffset + opEnd, e - opEnd).toString('utf8').trim();
        if (m.length >= 2 && m.startsWith("'") && m.endsWith("'")) m = m.slice(1, -1);
        sess.response_exception = m.length > 256 ? m.slice(0, 256) : m;
        sess.response_status = 'client_error';
        this.oneWay(dir, side, sess, null, t);
        return;
      }
      default:
        this.bad(side, NATS_MALFORMED.op);
    }
  }

  private bad(side: Side, reason: string): void {
    this.ctx.malformed(reason);
    side.inMsg = false;
  }

  private session(type: string, dir: Dir, start: bigint): L7Session {
    const s = newSession('NATS', start);
    s.request_type = type;
    s.request_domain = this.serverName;
    s.version = this.version;
    if (dir === 1) s.attributes['nats.from_server'] = 'true';
    return s;
  }

  private subject(s: L7Session, subject: string): void {
    s.request_resource = subject;
    s.endpoint = firstToken(subject);
  }

  /**
   * Counts a message's bytes on the request side (`asRequest`: the first
   * message of a session, or a one-way message from the client) or the
   * response side (an answer, or a one-way message from the server).
   */
  private count(asRequest: boolean, s: L7Session, bytes: number, length: number | null): void {
    if (asRequest) {
      s.captured_request_bytes = bytes;
      s.request_length = length;
    } else {
      s.captured_response_bytes = bytes;
      s.response_length = length;
    }
  }

  /** A session with no answer: reported once its bytes are in. */
  private oneWay(dir: Dir, side: Side, s: L7Session, length: number | null, t: bigint): void {
    this.count(dir === 0, s, side.bytes, length);
    side.inMsg = false;
    if (s.response_status === 'unknown') s.response_status = 'ok';
    s.end_time = t > s.start_time ? t : s.start_time;
    s.duration_ns = s.end_time - s.start_time;
    this.ctx.emit(s);
  }

  private answer(s: L7Session, side: Side, length: number | null, t: bigint, status: L7Session['response_status'], exception: string): void {
    this.count(false, s, side.bytes, length);
    side.inMsg = false;
    s.response_status = status;
    s.response_exception = exception;
    s.end_time = t > s.start_time ? t : s.start_time;
    s.duration_ns = s.end_time - s.start_time;
    this.ctx.emit(s);
  }

  private onJson(dir: Dir, side: Side, op: string, b: Uint8Array, s: number, e: number, t: bigint): void {
    let json: Record<string, unknown> | undefined;
    try {
      const v = JSON.parse(Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('utf8')) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) json = v as Record<string, unknown>;
    } catch {
      json = undefined;
    }
    if (!json) return this.bad(side, NATS_MALFORMED.args);
    const bytes = side.bytes;
    if (op === 'INFO') {
      if (typeof json.server_name === 'string') this.serverName = json.server_name;
      if (typeof json.version === 'string') this.version = json.version;
      const sess = this.session(op, dir, side.start);
      if (typeof json.server_id === 'string') sess.attributes['nats.server_id'] = json.server_id;
      if (this.connected) {
        // An INFO after the handshake (cluster update): nothing answers it.
        this.oneWay(dir, side, sess, bytes, t);
        return;
      }
      this.count(true, sess, bytes, bytes);
      side.inMsg = false;
      if (this.info) this.timeout(this.info);
      this.info = sess;
      return;
    }
    // CONNECT: only descriptive fields are read; credentials stay in the JSON that is dropped.
    this.connected = true;
    const info = this.info;
    this.info = undefined;
    const sess = info ?? this.session(op, dir, side.start);
    if (typeof json.name === 'string' && json.name) sess.attributes['nats.client_name'] = json.name;
    if (typeof json.lang === 'string') sess.attributes['nats.client_lang'] = json.lang;
    if (typeof json.version === 'string') sess.attributes['nats.client_version'] = json.version;
    if (json.verbose === true) sess.attributes['nats.verbose'] = 'true';
    if (info) this.answer(info, side, bytes, t, 'ok', '');
    else this.oneWay(dir, side, sess, bytes, t);
  }

  private onMessageLine(dir: Dir, side: Side, op: string, b: Uint8Array, s: number, e: number, t: bigint): void {
    tokenize(b, s, e);
    const isMsg = op === 'MSG' || op === 'HMSG';
    const hasHdr = op === 'HPUB' || op === 'HMSG';
    // PUB <subj> [reply] <size>; HPUB <subj> [reply] <hdr> <total>;
    // MSG <subj> <sid> [reply] <size>; HMSG <subj> <sid> [reply] <hdr> <total>.
    const fixed = 1 + (isMsg ? 1 : 0) + (hasHdr ? 2 : 1);
    if (tokCount !== fixed && tokCount !== fixed + 1) return this.bad(side, NATS_MALFORMED.args);
    const withReply = tokCount === fixed + 1;
    const total = num(b, tokCount - 1);
    const hdrSize = hasHdr ? num(b, tokCount - 2) : 0;
    if (total < 0 || hdrSize < 0 || hdrSize > total) return this.bad(side, NATS_MALFORMED.args);
    const sess = this.session(op, dir, side.start);
    this.subject(sess, str(b, 0));
    if (isMsg) sess.attributes['nats.sid'] = str(b, 1);
    if (withReply) sess.attributes['nats.reply_to'] = str(b, isMsg ? 2 : 1);
    if (hasHdr) sess.attributes['nats.header_bytes'] = String(hdrSize);
    if (dir === 0) sess.request_length = total;
    else sess.response_length = total;
    side.op = sess;
    side.payloadLeft = total;
    side.hdrLeft = hdrSize;
    side.hdrSize = hdrSize;
    side.hdrHave = 0;
    if (total === 0) side.terminator = true;
  }

  private finishPayload(dir: Dir, side: Side, t: bigint): void {
    const sess = side.op;
    side.op = undefined;
    if (!sess) {
      side.inMsg = false;
      return;
    }
    if (side.hdrSize > 0 && side.hdr) this.applyHeaders(sess, side.hdr, Math.min(side.hdrHave, side.hdrSize));
    side.hdrSize = 0;
    const length = dir === 0 ? sess.request_length : sess.response_length;
    this.oneWay(dir, side, sess, length, t);
  }

  /** `NATS/1.0[ status[ description]]` then `Name: value` lines. */
  private applyHeaders(sess: L7Session, h: Uint8Array, n: number): void {
    this.hdrCount = 0;
    let p = 0;
    let first = true;
    while (p < n) {
      let lf = h.indexOf(10, p);
      if (lf < 0 || lf >= n) lf = n;
      let e = lf;
      if (e > p && h[e - 1] === 13) e--;
      if (first) {
        first = false;
        const line = Buffer.from(h.buffer, h.byteOffset + p, e - p).toString('latin1');
        const m = /^NATS\/\d+\.\d+(?:\s+(\d{3})(?:\s+(.*))?)?$/.exec(line);
        if (m && m[1]) {
          const code = Number(m[1]);
          sess.response_code = code;
          if (code >= 500) sess.response_status = 'server_error';
          else if (code >= 400) sess.response_status = 'client_error';
          if (m[2]) sess.response_exception = m[2].trim();
        }
      } else if (e > p) {
        const colon = h.indexOf(0x3a, p);
        if (colon > p && colon < e && this.hdrCount < MAX_HEADERS) {
          this.hdrNames[this.hdrCount] = Buffer.from(h.buffer, h.byteOffset + p, colon - p).toString('latin1').trim().toLowerCase();
          this.hdrValues[this.hdrCount] = Buffer.from(h.buffer, h.byteOffset + colon + 1, e - colon - 1).toString('utf8').trim();
          this.hdrCount++;
        }
      }
      p = lf + 1;
    }
    if (this.hdrCount === 0) return;
    const tc = extractTraceContext(this.header, this.ctx.options.traceIdHeaders);
    if (tc) {
      sess.trace_id = tc.trace_id;
      sess.span_id = tc.span_id;
      sess.parent_span_id = tc.parent_span_id;
    }
    const rid = extractRequestId(this.header, this.ctx.options.requestIdHeaders);
    if (rid) sess.x_request_id = rid;
  }

  private timeout(s: L7Session): void {
    s.response_status = 'timeout';
    this.ctx.emit(s);
  }
}
