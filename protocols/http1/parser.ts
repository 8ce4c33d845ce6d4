/**
 * HTTP/1.0 and HTTP/1.1 (RFC 9112) connection parser.
 *
 * Each direction runs a small state machine over the bytes as they come:
 * start line and header section (the only part ever buffered, bounded by
 * `maxBufferBytes`), then the body framed by Content-Length, chunked coding
 * (with trailers) or the end of the connection. Body bytes are counted, never
 * copied. Requests queue in order and pair with responses in order
 * (pipelining, keep-alive). HEAD, 1xx, 204 and 304 responses have no body;
 * 1xx other than 101 are interim and pair with nothing.
 *
 * After `101 Switching Protocols` the connection is no longer HTTP/1: an
 * `Upgrade: h2c` connection is handed to the HTTP/2 parser (the upgraded
 * request becomes stream 1, RFC 7540 §3.2); any other upgrade (WebSocket, …)
 * and a successful CONNECT make the parser ignore the rest of the connection.
 *
 * Lost bytes: a chunk flagged `gap`, or an eBPF prefix (`messageLength` larger
 * than the chunk) ends the message in progress as `truncated` — when the
 * missing byte count is known and falls inside a Content-Length or chunk
 * body, the framing survives and parsing simply continues; otherwise the
 * parser resynchronises at the next plausible request or status line.
 *
 * Which side carries requests is taken from `dir`, unless the first start
 * line says otherwise (a capture that starts with the server's bytes).
 */
import { latin1 } from '../http2/hpack';
import { Http2Parser } from '../http2/parser';
import type { ConnectionParser, Dir, FeedFlags, L7Session, ParserContext } from '../types';
import { newSession } from '../types';
import {
  applyRequestHeaders,
  applyResponseHeaders,
  H_CONTENT_LENGTH,
  H_HOST,
  H_TRANSFER_ENCODING,
  H_UPGRADE,
  HeaderNames,
  HeaderValues,
  httpEndpoint,
  httpStatus,
  parseDecimal,
} from './semantics';

const S_START = 0; // between messages: expecting a start line and header section
const S_BODY_LENGTH = 1; // Content-Length body: `remaining` bytes left
const S_CHUNK_SIZE = 2; // expecting a chunk-size line
const S_CHUNK_DATA = 3; // inside chunk data: `remaining` bytes left
const S_CHUNK_CRLF = 4; // expecting the CRLF that ends chunk data
const S_TRAILERS = 5; // trailer section after the last chunk
const S_BODY_CLOSE = 6; // body delimited by the end of the connection
const S_TUNNEL = 7; // no longer HTTP/1 (upgrade, CONNECT): bytes are ignored
const S_RESYNC = 8; // framing lost: looking for the next start line
const S_H2 = 9; // upgraded to h2c: bytes go to the HTTP/2 parser

const LF = 10;
const CR = 13;
const SP = 32;

/** Longest chunk-size line (with extensions) accepted before giving up on the framing. */
const MAX_CHUNK_LINE = 4096;

const NEEDLE_STATUS = Buffer.from('HTTP/1.', 'latin1');
const NEEDLE_REQUEST = Buffer.from(' HTTP/1.', 'latin1');

/** Methods recognised with certainty (inference) and interned (no string per request). */
export const KNOWN_METHODS: readonly string[] = [
  'GET',
  'POST',
  'PUT',
  'DELETE',
  'HEAD',
  'OPTIONS',
  'PATCH',
  'CONNECT',
  'TRACE',
  'PROPFIND',
  'PROPPATCH',
  'MKCOL',
  'COPY',
  'MOVE',
  'LOCK',
  'UNLOCK',
  'REPORT',
  'SEARCH',
  'PURGE',
];
const METHOD_BYTES = KNOWN_METHODS.map((m) => Buffer.from(m, 'latin1'));

/** The interned method name of `src[start, end)`, or '' when it is not a known method. */
export function knownMethod(src: Uint8Array, start: number, end: number): string {
  const n = end - start;
  for (let m = 0; m < METHOD_BYTES.length; m++) {
    const b = METHOD_BYTES[m];
    if (b.length !== n) continue;
    let i = 0;
    while (i < n && src[start + i] === b[i]) i++;
    if (i === n) return KNOWN_METHODS[m];
  }
  return '';
}

/** Whether `src[start, end)` is a plausible method token (uppercase letters, digits, `-`, `_`). */
function isMethodToken(src: Uint8Array, start: number, end: number): boolean {
  const n = end - start;
  if (n < 3 || n > 20) return false;
  for (let i = start; i < end; i++) {
    const c = src[i];
    if (!((c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39 && i > start) || c === 0x2d || c === 0x5f)) return false;
  }
  return true;
}

/**
 * Where the start line at `src[start, lineEnd)` (CR excluded) is a request
 * line, the offsets of its parts; -1 in {@link reqLine}[0] when it is not.
 * Written into a shared array: the hot path makes no object per line.
 */
const reqLine = new Int32Array(4); // methodEnd, targetStart, targetEnd, minorVersion

function parseRequestLine(src: Uint8Array, start: number, lineEnd: number): boolean {
  // Ends with " HTTP/1.d".
  if (lineEnd - start < 14) return false;
  const v = lineEnd - 9;
  if (src[v] !== SP || src[v + 1] !== 0x48 || src[v + 2] !== 0x54 || src[v + 3] !== 0x54 || src[v + 4] !== 0x50) return false;
  if (src[v + 5] !== 0x2f || src[v + 6] !== 0x31 || src[v + 7] !== 0x2e) return false;
  const minor = src[v + 8] - 0x30;
  if (minor < 0 || minor > 9) return false;
  let sp = start;
  while (sp < v && src[sp] !== SP) sp++;
  if (sp >= v || !isMethodToken(src, start, sp)) return false;
  let ts = sp + 1;
  while (ts < v && src[ts] === SP) ts++;
  let te = v;
  while (te > ts && src[te - 1] === SP) te--;
  if (te <= ts) return false;
  reqLine[0] = sp;
  reqLine[1] = ts;
  reqLine[2] = te;
  reqLine[3] = minor;
  return true;
}

/** The status code of a status line at `src[start, lineEnd)`, or -1 (minor version in statusMinor). */
let statusMinor = 1;
function parseStatusLine(src: Uint8Array, start: number, lineEnd: number): number {
  if (lineEnd - start < 12) return -1;
  if (src[start] !== 0x48 || src[start + 1] !== 0x54 || src[start + 2] !== 0x54 || src[start + 3] !== 0x50) return -1;
  if (src[start + 4] !== 0x2f || src[start + 5] !== 0x31 || src[start + 6] !== 0x2e) return -1;
  const minor = src[start + 7] - 0x30;
  if (minor < 0 || minor > 9 || src[start + 8] !== SP) return -1;
  let code = 0;
  for (let i = start + 9; i < start + 12; i++) {
    const d = src[i] - 0x30;
    if (d < 0 || d > 9) return -1;
    code = code * 10 + d;
  }
  if (lineEnd > start + 12 && src[start + 12] !== SP) return -1;
  if (code < 100) return -1;
  statusMinor = minor;
  return code;
}

/** One request with its response, as it travels through the parser. */
interface Exchange {
  s: L7Session;
  method: string;
  /** Content-Length of the request, -1 when none. */
  reqContentLength: number;
  reqBody: number;
  reqChunked: boolean;
  /** Asked to switch protocols (Upgrade header), and to which. */
  upgrade: string;
  respContentLength: number;
  respBody: number;
  respChunked: boolean;
  /** Response status line seen. */
  answered: boolean;
  emitted: boolean;
}

/** One direction of the connection. */
class Side {
  state = S_START;
  buf: Buffer | null = null;
  bufLen = 0;
  /** Capture time of the first byte in `buf`. */
  bufTime = 0n;
  /**
   * Progress of the search for the end of an incomplete head held in `buf`,
   * so that each appended chunk is scanned once rather than the whole head
   * again: the first LF (-1 unknown), where to resume looking for it, and the
   * line start from which to resume looking for the empty line.
   */
  firstLf = -1;
  lfFrom = 0;
  lineFrom = 0;
  remaining = 0;
  ex: Exchange | null = null;
  /** 0: this side carries requests; 1: responses. */
  role: Dir;
  /** Start lines parsed on this side. */
  messages = 0;
  readonly h: HeaderValues;

  constructor(role: Dir, names: HeaderNames) {
    this.role = role;
    this.h = new HeaderValues(names);
  }
}

/** The HTTP/1.x parser of one connection. */
export class Http1Parser implements ConnectionParser {
  private readonly sides: [Side, Side];
  private readonly pending: Exchange[] = [];
  private readonly max: number;
  private h2: Http2Parser | null = null;
  private time = 0n;

  constructor(private readonly ctx: ParserContext) {
    const names = HeaderNames.for(ctx.options);
    this.sides = [new Side(0, names), new Side(1, names)];
    this.max = Math.max(256, ctx.options.maxBufferBytes);
  }

  feed(dir: Dir, data: Uint8Array, timeNs: bigint, flags: FeedFlags): void {
    if (this.h2) {
      this.h2.feed(dir, data, timeNs, flags);
      return;
    }
    const side = this.sides[dir];
    this.time = timeNs;
    if (flags.gap) this.lost(side, -1);
    if (data.length > 0) {
      const src = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      this.input(side, src);
      if (this.h2) return;
    }
    const missing = flags.messageLength !== undefined ? flags.messageLength - data.length : 0;
    if (missing > 0) this.lost(side, missing);
  }

  expire(nowNs: bigint): void {
    if (this.h2) {
      this.h2.expire(nowNs);
      return;
    }
    const timeout = this.ctx.options.requestTimeoutNs;
    while (this.pending.length > 0) {
      const ex = this.pending[0];
      if (ex.answered || nowNs - ex.s.start_time < timeout) break;
      this.pending.shift();
      this.emitTimeout(ex, nowNs);
    }
  }

  close(nowNs: bigint): void {
    if (this.h2) {
      this.h2.close(nowNs);
      return;
    }
    this.time = nowNs;
    const [a, b] = this.sides;
    const req = a.role === 0 ? a : b;
    const resp = a.role === 0 ? b : a;
    if (req.state === S_START && req.bufLen > 0) this.flushPartialHead(req);
    if (resp.state === S_START && resp.bufLen > 0) this.flushPartialHead(resp);
    // A request still inside its body when the connection ends did not arrive whole.
    if (req.ex && !req.ex.emitted && req.state !== S_START) req.ex.s.truncated = true;
    const ex = resp.ex;
    if (ex && !ex.emitted) {
      // A body delimited by the close ends here complete; any other is cut short.
      if (resp.state !== S_BODY_CLOSE) ex.s.truncated = true;
      this.finishResponse(ex);
    }
    resp.ex = null;
    while (this.pending.length > 0) {
      const p = this.pending.shift()!;
      if (!p.emitted) this.emitTimeout(p, nowNs);
    }
  }

  // ---- input handling -------------------------------------------------

  /** Runs the state machine over `src`, buffering only an incomplete head or line. */
  private input(side: Side, src: Buffer): void {
    let off = 0;
    const end = src.length;
    while (off < end) {
      if (side.bufLen === 0) {
        const used = this.run(side, src, off, end, true);
        if (this.h2 !== null) {
          if (used < end) this.h2.feed(side === this.sides[0] ? 0 : 1, src.subarray(used), this.time, {});
          return;
        }
        if (used >= end) return;
        this.keep(side, src, used, end);
        return;
      }
      // Continue an incomplete head or line: append what fits, then run on the buffer.
      let buf = side.buf!;
      if (buf.length < this.max && buf.length - side.bufLen < end - off) {
        const grown = Buffer.allocUnsafe(Math.min(this.max, Math.max(buf.length * 2, side.bufLen + end - off)));
        buf.copy(grown, 0, 0, side.bufLen);
        side.buf = buf = grown;
      }
      const n = Math.min(end - off, buf.length - side.bufLen);
      src.copy(buf, side.bufLen, off, off + n);
      side.bufLen += n;
      off += n;
      const view = buf.subarray(0, side.bufLen);
      const used = this.run(side, view, 0, side.bufLen, false);
      if (this.h2 !== null) {
        const rest = Buffer.concat([view.subarray(used), src.subarray(off)]);
        side.bufLen = 0;
        if (rest.length > 0) this.h2.feed(side === this.sides[0] ? 0 : 1, rest, this.time, {});
        return;
      }
      if (used >= side.bufLen) {
        side.bufLen = 0;
        resetScan(side);
      } else if (used > 0) {
        buf.copy(buf, 0, used, side.bufLen);
        side.bufLen -= used;
        resetScan(side);
        // What is left began in this chunk (the older bytes were consumed).
        side.bufTime = this.time;
      } else if (side.bufLen >= this.max) {
        // Nothing consumed and the buffer is full: a head (or chunk line) too long to keep.
        this.ctx.malformed('http1: header section exceeds maxBufferBytes');
        if (side.state === S_START) this.flushPartialHead(side);
        else this.endMessageTruncated(side);
        side.bufLen = 0;
        resetScan(side);
        side.state = S_RESYNC;
      }
    }
  }

  /** Keeps `src[from, end)` (the start of an incomplete head or line) for the next chunk. */
  private keep(side: Side, src: Buffer, from: number, end: number): void {
    const n = end - from;
    if (n > this.max) {
      this.ctx.malformed('http1: header section exceeds maxBufferBytes');
      side.bufLen = 0;
      if (side.state === S_START) {
        // Parse what fits as a truncated head, then look for the next message.
        side.buf = Buffer.allocUnsafe(this.max);
        src.copy(side.buf, 0, from, from + this.max);
        side.bufLen = this.max;
        side.bufTime = this.time;
        this.flushPartialHead(side);
        side.bufLen = 0;
      } else {
        this.endMessageTruncated(side);
      }
      side.state = S_RESYNC;
      return;
    }
    if (!side.buf || side.buf.length < n) side.buf = Buffer.allocUnsafe(Math.min(this.max, Math.max(n, 1024)));
    src.copy(side.buf, 0, from, end);
    side.bufLen = n;
    side.bufTime = this.time;
    resetScan(side);
  }

  /**
   * The state machine over `src[off, end)`. Returns the offset of the first
   * byte not consumed: less than `end` only when an incomplete head or line
   * needs more bytes. `direct` says whether `src` is the chunk itself (its
   * first byte arrived now) or the side's buffer.
   */
  private run(side: Side, src: Buffer, off: number, end: number, direct: boolean): number {
    while (off < end) {
      switch (side.state) {
        case S_START: {
          // RFC 9112 §2.2: empty lines before a start line are ignored.
          while (off < end && (src[off] === CR || src[off] === LF)) off++;
          if (off >= end) return end;
          const next = this.head(side, src, off, end, direct ? this.time : side.bufTime, !direct);
          if (next === -1) return off;
          if (next === -2) {
            side.state = S_RESYNC;
            // The start line was not one: skip its first byte and look further.
            off++;
            continue;
          }
          off = next;
          break;
        }
        case S_BODY_LENGTH: {
          const n = Math.min(end - off, side.remaining);
          side.remaining -= n;
          off += n;
          this.countBody(side, n);
          if (side.remaining === 0) this.endMessage(side);
          break;
        }
        case S_CHUNK_SIZE: {
          const lf = src.indexOf(LF, off);
          if (lf < 0 || lf >= end) {
            if (end - off > MAX_CHUNK_LINE) {
              this.ctx.malformed('http1: chunk-size line too long');
              this.endMessageTruncated(side);
              side.state = S_RESYNC;
              continue;
            }
            return off;
          }
          let size = 0;
          let digits = 0;
          let p = off;
          for (; p < lf; p++) {
            const c = src[p];
            const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
            if (d < 0) break;
            size = size * 16 + d;
            digits++;
          }
          if (digits === 0 || digits > 12 || (p < lf && src[p] !== 0x3b && src[p] !== SP && src[p] !== 0x09 && src[p] !== CR)) {
            this.ctx.malformed('http1: bad chunk size');
            this.countHead(side, 0);
            this.endMessageTruncated(side);
            side.state = S_RESYNC;
            continue;
          }
          this.countHead(side, lf + 1 - off);
          off = lf + 1;
          if (size === 0) {
            side.state = S_TRAILERS;
          } else {
            side.remaining = size;
            side.state = S_CHUNK_DATA;
          }
          break;
        }
        case S_CHUNK_DATA: {
          const n = Math.min(end - off, side.remaining);
          side.remaining -= n;
          off += n;
          this.countBody(side, n);
          if (side.remaining === 0) side.state = S_CHUNK_CRLF;
          break;
        }
        case S_CHUNK_CRLF: {
          if (src[off] === CR) {
            if (off + 1 >= end) return off;
            if (src[off + 1] === LF) {
              this.countHead(side, 2);
              off += 2;
            } else {
              this.ctx.malformed('http1: chunk data not followed by CRLF');
            }
          } else if (src[off] === LF) {
            this.countHead(side, 1);
            off += 1;
          } else {
            this.ctx.malformed('http1: chunk data not followed by CRLF');
          }
          side.state = S_CHUNK_SIZE;
          break;
        }
        case S_TRAILERS: {
          const lf = src.indexOf(LF, off);
          if (lf < 0 || lf >= end) {
            if (end - off > MAX_CHUNK_LINE * 4) {
              this.ctx.malformed('http1: trailer section too long');
              this.endMessageTruncated(side);
              side.state = S_RESYNC;
              continue;
            }
            return off;
          }
          const empty = lf === off || (lf === off + 1 && src[off] === CR);
          this.countHead(side, lf + 1 - off);
          off = lf + 1;
          if (empty) this.endMessage(side);
          break;
        }
        case S_BODY_CLOSE: {
          this.countBody(side, end - off);
          return end;
        }
        case S_TUNNEL:
          return end;
        case S_H2:
          return off;
        case S_RESYNC: {
          const p = findStartLine(src, off, end, side.role);
          if (p < 0) return end;
          side.state = S_START;
          off = p;
          break;
        }
        default:
          return end;
      }
      if (this.h2 !== null) return off;
    }
    return off;
  }

  /**
   * Parses a complete head at `src[off, …)`. Returns the offset after it, -1
   * when the head is not complete yet, -2 when the start line is not HTTP/1.
   */
  private head(side: Side, src: Buffer, off: number, end: number, startTime: bigint, buffered: boolean): number {
    const firstLf = buffered && side.firstLf >= 0 ? side.firstLf : src.indexOf(LF, buffered ? Math.max(off, side.lfFrom) : off);
    if (firstLf < 0 || firstLf >= end) {
      // Not even a start line yet: reject early what can never become one.
      if (!this.couldBeStartLine(src, off, end)) return -2;
      if (buffered) side.lfFrom = end;
      return -1;
    }
    const lineEnd = firstLf > off && src[firstLf - 1] === CR ? firstLf - 1 : firstLf;
    let role = side.role;
    let ok = role === 0 ? parseRequestLine(src, off, lineEnd) : parseStatusLine(src, off, lineEnd) >= 0;
    if (!ok && this.sides[0].messages === 0 && this.sides[1].messages === 0) {
      // Nothing parsed yet: the capture may have the directions the other way round.
      const other: Dir = role === 0 ? 1 : 0;
      if (other === 0 ? parseRequestLine(src, off, lineEnd) : parseStatusLine(src, off, lineEnd) >= 0) {
        this.sides[0].role = this.sides[0].role === 0 ? 1 : 0;
        this.sides[1].role = this.sides[1].role === 0 ? 1 : 0;
        role = other;
        ok = true;
      }
    }
    if (!ok) {
      this.ctx.malformed(role === 0 ? 'http1: bad request line' : 'http1: bad status line');
      return -2;
    }
    const headEnd = findHeadEnd(src, buffered ? Math.max(firstLf + 1, side.lineFrom) : firstLf + 1, end);
    if (headEnd < 0) {
      if (buffered) {
        side.firstLf = firstLf;
        side.lineFrom = lastLineStart;
      }
      return -1;
    }
    resetScan(side);
    side.messages++;
    const h = side.h;
    h.reset();
    readFields(h, src, firstLf + 1, headEnd);
    if (role === 0) this.request(side, src, off, lineEnd, headEnd - off, startTime, false);
    else this.response(side, src, off, lineEnd, headEnd - off, startTime, false);
    return headEnd;
  }

  /** Whether an unterminated first line could still become a start line. */
  private couldBeStartLine(src: Buffer, off: number, end: number): boolean {
    const n = Math.min(end - off, 24);
    // A start line begins with a token of uppercase letters ("GET", "HTTP/1.1").
    for (let i = off; i < off + n; i++) {
      const c = src[i];
      if (c === SP || c === 0x2f) return i > off;
      if (!((c >= 0x41 && c <= 0x5a) || c === 0x2d || c === 0x5f)) return false;
    }
    return end - off <= this.max;
  }

  /** A request head was parsed: queue its exchange. */
  private request(side: Side, src: Buffer, off: number, lineEnd: number, headBytes: number, startTime: bigint, truncated: boolean): void {
    const sp = reqLine[0];
    const method = knownMethod(src, off, sp) || latin1(src, off, sp);
    const target = latin1(src, reqLine[1], reqLine[2]);
    const s = newSession('HTTP', startTime);
    const h = side.h;
    const v = h.values;
    s.version = reqLine[3] === 0 ? '1.0' : '1.1';
    s.request_type = method;
    s.request_resource = target;
    s.request_domain = v[H_HOST];
    if (s.request_domain === '' && target.charCodeAt(0) !== 0x2f) s.request_domain = authorityOf(target, method);
    s.endpoint = httpEndpoint(target, method);
    s.captured_request_bytes = headBytes;
    s.truncated = truncated;
    applyRequestHeaders(s, h);
    const ex: Exchange = {
      s,
      method,
      reqContentLength: -1,
      reqBody: 0,
      reqChunked: false,
      upgrade: v[H_UPGRADE],
      respContentLength: -1,
      respBody: 0,
      respChunked: false,
      answered: false,
      emitted: false,
    };
    if (this.pending.length >= this.ctx.options.maxPendingRequests) {
      const old = this.pending.shift()!;
      if (!old.emitted) this.emitTimeout(old, startTime);
    }
    this.pending.push(ex);
    side.ex = ex;
    const te = v[H_TRANSFER_ENCODING];
    const cl = v[H_CONTENT_LENGTH];
    if (truncated) {
      // The head was cut: its Content-Length (if that line made it) is all we know of the body.
      if (cl !== '') ex.reqContentLength = parseDecimal(cl);
      side.ex = null;
      return;
    }
    if (te !== '') {
      if (isChunked(te)) {
        ex.reqChunked = true;
        side.state = S_CHUNK_SIZE;
        return;
      }
      // RFC 9112 §6.3: a request with another transfer coding cannot be framed.
      this.ctx.malformed('http1: request transfer-encoding without chunked');
      this.endMessage(side);
      side.state = S_RESYNC;
      return;
    }
    if (cl !== '') {
      const n = parseDecimal(cl);
      if (n < 0) {
        this.ctx.malformed('http1: bad content-length');
        this.endMessage(side);
        side.state = S_RESYNC;
        return;
      }
      ex.reqContentLength = n;
      if (n > 0) {
        side.remaining = n;
        side.state = S_BODY_LENGTH;
        return;
      }
    }
    this.endMessage(side);
  }

  /** A response head was parsed: pair it and set up its body. */
  private response(side: Side, src: Buffer, off: number, lineEnd: number, headBytes: number, startTime: bigint, truncated: boolean): void {
    const code = parseStatusLine(src, off, lineEnd);
    const minor = statusMinor;
    const h = side.h;
    const v = h.values;
    const reqSide = this.sides[0].role === 0 ? this.sides[0] : this.sides[1];
    if (code >= 100 && code < 200 && code !== 101) {
      // Interim response (100 Continue, 103 Early Hints): the final one follows.
      const head = this.pending[0];
      if (head && !head.emitted) head.s.captured_response_bytes += headBytes;
      return;
    }
    // A request whose head is still incomplete when its response starts is as complete as it will get.
    if (reqSide.state === S_START && reqSide.bufLen > 0) this.flushPartialHead(reqSide);
    let ex = this.pending.shift();
    if (ex === undefined) {
      // A response without request (the capture started after it was sent).
      const s = newSession('HTTP', startTime);
      s.version = minor === 0 ? '1.0' : '1.1';
      ex = {
        s,
        method: '',
        reqContentLength: -1,
        reqBody: 0,
        reqChunked: false,
        upgrade: '',
        respContentLength: -1,
        respBody: 0,
        respChunked: false,
        answered: false,
        emitted: false,
      };
    }
    const s = ex.s;
    ex.answered = true;
    s.response_code = code;
    s.response_status = httpStatus(code);
    if (code >= 400) {
      let rs = off + 12;
      while (rs < lineEnd && src[rs] === SP) rs++;
      s.response_exception = latin1(src, rs, lineEnd);
    }
    s.captured_response_bytes += headBytes;
    s.end_time = truncated ? startTime : this.time;
    if (truncated) s.truncated = true;
    applyResponseHeaders(s, h);
    side.ex = ex;
    if (truncated) {
      this.finishResponse(ex);
      side.ex = null;
      return;
    }
    if (code === 101) {
      this.switchProtocols(side, ex, v[H_UPGRADE]);
      return;
    }
    if (ex.method === 'CONNECT' && code >= 200 && code < 300) {
      // A tunnel: whatever follows is not HTTP/1 (RFC 9110 §9.3.6).
      this.finishResponse(ex);
      side.ex = null;
      this.tunnel();
      return;
    }
    const te = v[H_TRANSFER_ENCODING];
    const cl = v[H_CONTENT_LENGTH];
    if (ex.method === 'HEAD' || code === 204 || code === 304) {
      // No body; a Content-Length states the size of what a GET would have returned.
      if (cl !== '') ex.respContentLength = parseDecimal(cl);
      this.finishResponse(ex);
      side.ex = null;
      return;
    }
    if (te !== '') {
      if (isChunked(te)) {
        ex.respChunked = true;
        side.state = S_CHUNK_SIZE;
      } else {
        side.state = S_BODY_CLOSE;
      }
      return;
    }
    if (cl !== '') {
      const n = parseDecimal(cl);
      if (n >= 0) {
        ex.respContentLength = n;
        if (n === 0) {
          this.finishResponse(ex);
          side.ex = null;
          return;
        }
        side.remaining = n;
        side.state = S_BODY_LENGTH;
        return;
      }
      this.ctx.malformed('http1: bad content-length');
    }
    // RFC 9112 §6.3: otherwise the body runs until the connection closes.
    side.state = S_BODY_CLOSE;
  }

  /** `101 Switching Protocols`: h2c goes to the HTTP/2 parser, anything else stops parsing. */
  private switchProtocols(side: Side, ex: Exchange, upgrade: string): void {
    side.ex = null;
    const proto = (upgrade || ex.upgrade).trim().toLowerCase();
    if (proto === 'h2c' && ex.method !== '') {
      // RFC 7540 §3.2: the upgraded request is stream 1, answered in HTTP/2.
      const s = ex.s;
      s.attributes.upgrade = 'h2c';
      const reqDir: Dir = this.sides[0].role === 0 ? 0 : 1;
      this.h2 = new Http2Parser(this.ctx, { upgradedRequest: s, requestDir: reqDir, upgradeResponseBytes: s.captured_response_bytes });
      this.sides[0].state = S_H2;
      this.sides[1].state = S_H2;
      // Request bytes already buffered after the upgrade request belong to HTTP/2.
      const reqSide = this.sides[reqDir];
      if (reqSide.bufLen > 0) {
        const rest = Buffer.from(reqSide.buf!.subarray(0, reqSide.bufLen));
        reqSide.bufLen = 0;
        this.h2.feed(reqDir, rest, this.time, {});
      }
      return;
    }
    ex.s.attributes.upgrade = proto;
    this.finishResponse(ex);
    this.tunnel();
  }

  private tunnel(): void {
    for (const side of this.sides) {
      side.state = S_TUNNEL;
      side.bufLen = 0;
      side.ex = null;
    }
    for (const p of this.pending) if (!p.emitted) this.emitTimeout(p, this.time);
    this.pending.length = 0;
  }

  /**
   * Parses an incomplete head held in the side's buffer as far as it goes:
   * the start line and every complete header line. The message is marked
   * truncated; the side then looks for the next start line.
   */
  private flushPartialHead(side: Side): void {
    const src = side.buf!;
    const end = side.bufLen;
    side.bufLen = 0;
    resetScan(side);
    let off = 0;
    while (off < end && (src[off] === CR || src[off] === LF)) off++;
    const firstLf = src.indexOf(LF, off);
    if (firstLf < 0 || firstLf >= end) {
      side.state = S_RESYNC;
      return;
    }
    const lineEnd = firstLf > off && src[firstLf - 1] === CR ? firstLf - 1 : firstLf;
    const isReq = side.role === 0 ? parseRequestLine(src, off, lineEnd) : parseStatusLine(src, off, lineEnd) >= 0;
    if (!isReq) {
      side.state = S_RESYNC;
      return;
    }
    // Complete header lines only: the last one may be cut in the middle of its value.
    let lastLf = end - 1;
    while (lastLf > firstLf && src[lastLf] !== LF) lastLf--;
    side.messages++;
    side.h.reset();
    readFields(side.h, src, firstLf + 1, lastLf + 1);
    if (side.role === 0) this.request(side, src, off, lineEnd, end - off, side.bufTime, true);
    else this.response(side, src, off, lineEnd, end - off, side.bufTime, true);
    side.state = S_RESYNC;
  }

  /** Bytes were lost on this side (`missing` of them, or -1 for an unknown number). */
  private lost(side: Side, missing: number): void {
    switch (side.state) {
      case S_START:
        if (side.bufLen > 0) this.flushPartialHead(side);
        side.state = S_RESYNC;
        return;
      case S_BODY_LENGTH:
      case S_CHUNK_DATA:
        if (side.ex && !side.ex.emitted) side.ex.s.truncated = true;
        if (missing >= 0 && missing <= side.remaining) {
          // The lost bytes are all body: the framing holds.
          side.remaining -= missing;
          this.countLostBody(side, missing);
          if (side.remaining === 0) {
            if (side.state === S_BODY_LENGTH) this.endMessage(side);
            else side.state = S_CHUNK_CRLF;
          }
          return;
        }
        this.endMessageTruncated(side);
        side.state = S_RESYNC;
        return;
      case S_CHUNK_SIZE:
      case S_CHUNK_CRLF:
      case S_TRAILERS:
        side.bufLen = 0;
        this.endMessageTruncated(side);
        side.state = S_RESYNC;
        return;
      case S_BODY_CLOSE:
        if (side.ex && !side.ex.emitted) side.ex.s.truncated = true;
        return;
      default:
        return;
    }
  }

  private countHead(side: Side, n: number): void {
    const ex = side.ex;
    if (!ex || ex.emitted) return;
    if (side.role === 0) {
      ex.s.captured_request_bytes += n;
    } else {
      ex.s.captured_response_bytes += n;
      ex.s.end_time = this.time;
    }
  }

  private countBody(side: Side, n: number): void {
    const ex = side.ex;
    if (!ex) return;
    if (side.role === 0) {
      ex.reqBody += n;
      if (!ex.emitted) ex.s.captured_request_bytes += n;
    } else {
      ex.respBody += n;
      ex.s.captured_response_bytes += n;
      ex.s.end_time = this.time;
    }
  }

  private countLostBody(side: Side, n: number): void {
    const ex = side.ex;
    if (!ex) return;
    if (side.role === 0) ex.reqBody += n;
    else ex.respBody += n;
  }

  /** The message on this side is complete. */
  private endMessage(side: Side): void {
    const ex = side.ex;
    side.state = S_START;
    side.ex = null;
    if (!ex) return;
    if (side.role === 0) {
      if (!ex.emitted) {
        const s = ex.s;
        s.request_length = ex.reqContentLength >= 0 ? ex.reqContentLength : ex.reqChunked ? ex.reqBody : null;
      }
    } else {
      this.finishResponse(ex);
    }
  }

  /** The message on this side ends early (lost bytes, broken framing). */
  private endMessageTruncated(side: Side): void {
    const ex = side.ex;
    if (ex && !ex.emitted) ex.s.truncated = true;
    this.endMessage(side);
  }

  /** Completes and emits an exchange whose response ended. */
  private finishResponse(ex: Exchange): void {
    if (ex.emitted) return;
    ex.emitted = true;
    const s = ex.s;
    if (s.request_length === null && ex.method !== '') {
      s.request_length = ex.reqContentLength >= 0 ? ex.reqContentLength : ex.reqChunked ? ex.reqBody : null;
    }
    s.response_length = ex.respContentLength >= 0 ? ex.respContentLength : ex.respChunked || ex.respBody > 0 ? ex.respBody : null;
    if (s.end_time < s.start_time) s.end_time = s.start_time;
    s.duration_ns = s.end_time > s.start_time ? s.end_time - s.start_time : 0n;
    this.ctx.emit(s);
  }

  private emitTimeout(ex: Exchange, nowNs: bigint): void {
    if (ex.emitted) return;
    ex.emitted = true;
    const s = ex.s;
    s.response_status = 'timeout';
    s.request_length = ex.reqContentLength >= 0 ? ex.reqContentLength : ex.reqChunked ? ex.reqBody : null;
    s.end_time = nowNs > s.start_time ? nowNs : s.start_time;
    s.duration_ns = s.end_time - s.start_time;
    this.ctx.emit(s);
  }
}

/** Whether the last transfer coding of a Transfer-Encoding value is chunked. */
function isChunked(te: string): boolean {
  const t = te.trim().toLowerCase();
  return t === 'chunked' || t.endsWith(',chunked') || t.endsWith(' chunked');
}

/** The host of an absolute-form or authority-form target. */
function authorityOf(target: string, method: string): string {
  if (method === 'CONNECT') return target;
  const scheme = target.indexOf('://');
  if (scheme < 0) return '';
  const start = scheme + 3;
  let end = start;
  while (end < target.length) {
    const c = target.charCodeAt(end);
    if (c === 0x2f || c === 0x3f || c === 0x23) break;
    end++;
  }
  return target.slice(start, end);
}

/** Set by {@link findHeadEnd} when it returns -1: the start of the last, incomplete line. */
let lastLineStart = 0;

/**
 * The offset just after the empty line ending a header section whose lines
 * start at `off` (a line start), or -1 (then {@link lastLineStart} tells where
 * to resume).
 */
function findHeadEnd(src: Buffer, off: number, end: number): number {
  let p = off;
  for (;;) {
    if (p < end && (src[p] === LF || (src[p] === CR && p + 1 < end && src[p + 1] === LF))) {
      return src[p] === LF ? p + 1 : p + 2;
    }
    const lf = src.indexOf(LF, p);
    if (lf < 0 || lf >= end) {
      lastLineStart = p;
      return -1;
    }
    p = lf + 1;
  }
}

/** Forgets the progress of a head search (the buffer changed under it). */
function resetScan(side: Side): void {
  side.firstLf = -1;
  side.lfFrom = 0;
  side.lineFrom = 0;
}

/** Reads the header lines of `src[off, end)` into the kept slots of `h`. */
function readFields(h: HeaderValues, src: Buffer, off: number, end: number): void {
  const names = h.names;
  let p = off;
  while (p < end) {
    let lf = src.indexOf(LF, p);
    if (lf < 0 || lf >= end) lf = end;
    let lineEnd = lf;
    if (lineEnd > p && src[lineEnd - 1] === CR) lineEnd--;
    const c0 = src[p];
    // Skip empty lines and obsolete line folding (RFC 9112 §5.2).
    if (lineEnd > p && c0 !== SP && c0 !== 0x09) {
      let colon = p;
      while (colon < lineEnd && src[colon] !== 0x3a) colon++;
      if (colon < lineEnd) {
        let ne = colon;
        while (ne > p && (src[ne - 1] === SP || src[ne - 1] === 0x09)) ne--;
        const slot = names.slotOfBytes(src, p, ne);
        if (slot >= 0) {
          let vs = colon + 1;
          let ve = lineEnd;
          while (vs < ve && (src[vs] === SP || src[vs] === 0x09)) vs++;
          while (ve > vs && (src[ve - 1] === SP || src[ve - 1] === 0x09)) ve--;
          if (ve > vs) h.set(slot, latin1(src, vs, ve));
        }
      }
    }
    p = lf + 1;
  }
}

/**
 * The offset of the first plausible start line for `role` (0 request line,
 * 1 status line) in `src[off, end)`, or -1. After lost bytes the next message
 * need not begin a line (the tail of a body may precede it), so a status line
 * is taken anywhere, and a request line is a known method right before the
 * target of a line ending in ` HTTP/1.d`.
 */
export function findStartLine(src: Buffer, off: number, end: number, role: Dir): number {
  const view = end === src.length ? src : src.subarray(0, end);
  if (role === 1) {
    let p = view.indexOf(NEEDLE_STATUS, off);
    while (p >= 0) {
      if (p + 12 <= end) {
        const lf = src.indexOf(LF, p);
        const lineEnd = lf < 0 || lf >= end ? end : lf > p && src[lf - 1] === CR ? lf - 1 : lf;
        if (parseStatusLine(src, p, lineEnd) >= 0) return p;
      }
      p = view.indexOf(NEEDLE_STATUS, p + 1);
    }
    return -1;
  }
  let p = view.indexOf(NEEDLE_REQUEST, off);
  while (p >= 0) {
    const lineEnd = p + 9;
    if (lineEnd <= end && (lineEnd === end || src[lineEnd] === CR || src[lineEnd] === LF)) {
      // The line's first space ends the method; the method starts where uppercase letters begin.
      let ls = p;
      while (ls > off && src[ls - 1] !== LF && p - ls < 8192) ls--;
      let sp = ls;
      while (sp < p && src[sp] !== SP) sp++;
      let ms = sp;
      while (ms > ls && src[ms - 1] >= 0x41 && src[ms - 1] <= 0x5a) ms--;
      if (sp < p && knownMethod(src, ms, sp) !== '' && parseRequestLine(src, ms, lineEnd)) return ms;
    }
    p = view.indexOf(NEEDLE_REQUEST, p + 1);
  }
  return -1;
}
