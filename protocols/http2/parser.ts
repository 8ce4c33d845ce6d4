/**
 * HTTP/2 (RFC 9113) connection parser, with gRPC (gRPC over HTTP/2) on top.
 *
 * Each direction is a frame reader: the 9-byte frame header, then the
 * payload. DATA payloads are counted and skipped, never copied; other frames
 * are handled in place when whole in the chunk and buffered (bounded by
 * `maxBufferBytes`) otherwise. Header blocks (HEADERS or PUSH_PROMISE plus
 * CONTINUATION frames) are decoded with one HPACK context per direction, so
 * the dynamic table stays in step even for streams we do not report.
 *
 * One session per stream: request headers (`:method`, `:path`, `:authority`),
 * response headers (`:status`), trailers (`grpc-status`, `grpc-message`); it
 * is emitted when the response ends (END_STREAM), when the stream is reset
 * (RST_STREAM), refused by GOAWAY, times out, or the connection closes. A
 * stream whose request or response carries `content-type: application/grpc…`
 * is reported as `gRPC` (endpoint `package.Service/Method`, response code =
 * grpc-status); any other as `HTTP2`.
 *
 * Captures that begin mid-connection have no preface and an HPACK dynamic
 * table we never saw: the reader starts at the first plausible frame header
 * and references to unknown table entries decode as unknown headers (see
 * hpack.ts). After a gap it resynchronises on a plausible frame header and
 * forgets the dynamic table (entries inserted in the lost bytes would shift
 * every index: unknown is better than wrong).
 */
import type { Confidence, ConnectionParser, Dir, FeedFlags, L7Session, ParserContext } from '../types';
import { newSession } from '../types';
import {
  applyRequestHeaders,
  applyResponseHeaders,
  decodeGrpcMessage,
  GRPC_CODE_NAMES,
  grpcRoute,
  grpcStatus,
  H_AUTHORITY,
  H_CONTENT_LENGTH,
  H_CONTENT_TYPE,
  H_GRPC_MESSAGE,
  H_GRPC_STATUS,
  H_HOST,
  H_METHOD,
  H_PATH,
  H_STATUS,
  HeaderNames,
  HeaderValues,
  httpEndpoint,
  httpStatus,
  parseDecimal,
} from '../http1/semantics';
import { HpackDecoder } from './hpack';

/* Frame types (RFC 9113 §6) and flags. */
/** DATA frame. */
export const DATA = 0;
/** HEADERS frame. */
export const HEADERS = 1;
/** PRIORITY frame. */
export const PRIORITY = 2;
/** RST_STREAM frame. */
export const RST_STREAM = 3;
/** SETTINGS frame. */
export const SETTINGS = 4;
/** PUSH_PROMISE frame. */
export const PUSH_PROMISE = 5;
/** PING frame. */
export const PING = 6;
/** GOAWAY frame. */
export const GOAWAY = 7;
/** WINDOW_UPDATE frame. */
export const WINDOW_UPDATE = 8;
/** CONTINUATION frame. */
export const CONTINUATION = 9;

/** END_STREAM (DATA, HEADERS). */
export const FLAG_END_STREAM = 0x1;
/** ACK (SETTINGS, PING). */
export const FLAG_ACK = 0x1;
/** END_HEADERS (HEADERS, PUSH_PROMISE, CONTINUATION). */
export const FLAG_END_HEADERS = 0x4;
/** PADDED (DATA, HEADERS, PUSH_PROMISE). */
export const FLAG_PADDED = 0x8;
/** PRIORITY (HEADERS). */
export const FLAG_PRIORITY = 0x20;

/** The client connection preface (RFC 9113 §3.4). */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Error code names (RFC 9113 §7). */
export const ERROR_NAMES: readonly string[] = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
];

/** Flags defined per frame type: anything else marks a header we are not aligned on. */
const VALID_FLAGS = [0x09, 0x2d, 0x00, 0x00, 0x01, 0x0c, 0x01, 0x00, 0x00, 0x04];

/** Frames longer than this are taken as a sign of lost alignment (SETTINGS_MAX_FRAME_SIZE is rarely raised further). */
const MAX_PLAUSIBLE_FRAME = 1 << 20;

/**
 * Whether the 9 bytes at `src[p]` are a frame header a real endpoint would
 * send: known type, only defined flags, reserved bit clear, stream id and
 * length consistent with the type.
 */
export function plausibleFrameHeader(src: Uint8Array, p: number): boolean {
  const len = (src[p] << 16) | (src[p + 1] << 8) | src[p + 2];
  const type = src[p + 3];
  const flags = src[p + 4];
  if (type > CONTINUATION || (flags & ~VALID_FLAGS[type]) !== 0 || (src[p + 5] & 0x80) !== 0) return false;
  if (len > MAX_PLAUSIBLE_FRAME) return false;
  const sid = ((src[p + 5] & 0x7f) << 24) | (src[p + 6] << 16) | (src[p + 7] << 8) | src[p + 8];
  switch (type) {
    case DATA:
      // An empty DATA frame only makes sense to end a stream.
      return sid !== 0 && (len > 0 || (flags & FLAG_END_STREAM) !== 0);
    case HEADERS:
    case CONTINUATION:
      // A header block always holds something (at least one field).
      return sid !== 0 && len > 0;
    case PUSH_PROMISE:
      return sid !== 0 && len >= 5;
    case PRIORITY:
      return sid !== 0 && len === 5;
    case RST_STREAM:
      return sid !== 0 && len === 4;
    case SETTINGS:
      return sid === 0 && len % 6 === 0 && ((flags & FLAG_ACK) === 0 || len === 0);
    case PING:
      return sid === 0 && len === 8;
    case GOAWAY:
      return sid === 0 && len >= 8;
    case WINDOW_UPDATE:
      return len === 4;
    default:
      return false;
  }
}

/**
 * How sure we are that `data` (the first bytes of one direction) is HTTP/2:
 * the client preface is certain; a run of plausible frames that starts with
 * SETTINGS, or with a HEADERS frame whose block opens with a pseudo-header,
 * is certain when at least one whole frame is there and the run is consistent
 * to the end of the bytes; other plausible runs are plausible.
 */
export function inferHttp2(data: Uint8Array): Confidence {
  const n = data.length;
  if (n === 0) return 0;
  if (data[0] === 0x50 /* P */) {
    const m = Math.min(n, PREFACE.length);
    for (let i = 0; i < m; i++) if (data[i] !== PREFACE[i]) return 0;
    return m === PREFACE.length ? 2 : m >= 4 ? 1 : 0;
  }
  if (n < 9 || data[0] !== 0) return 0;
  let p = 0;
  let whole = 0;
  while (p + 9 <= n) {
    if (!plausibleFrameHeader(data, p)) return 0;
    const len = (data[p] << 16) | (data[p + 1] << 8) | data[p + 2];
    if (p + 9 + len > n) break;
    whole++;
    p += 9 + len;
    if (whole >= 8) break;
  }
  if (whole === 0) return 0;
  const type = data[3];
  if (type === SETTINGS) return 2;
  if (type === HEADERS && (data[4] & FLAG_END_HEADERS) !== 0) {
    let q = 9;
    if (data[4] & FLAG_PADDED) q++;
    if (data[4] & FLAG_PRIORITY) q += 5;
    if (q < n && opensWithPseudoHeader(data, q)) return 2;
  }
  return whole >= 2 ? 1 : 0;
}

/**
 * Whether the HPACK representation at `data[q]` names a pseudo-header: a
 * static index 1–14, or a literal name starting with ':' (raw, or Huffman
 * where ':' is 1011100).
 */
function opensWithPseudoHeader(data: Uint8Array, q: number): boolean {
  const b = data[q];
  if (b & 0x80) return (b & 0x7f) >= 1 && (b & 0x7f) <= 14; // indexed
  if ((b & 0xe0) === 0x20) return true; // table size update: only ever first in a block
  const idx = (b & 0xc0) === 0x40 ? b & 0x3f : (b & 0xe0) === 0 ? b & 0x0f : -1;
  if (idx > 0) return idx <= 14;
  if (idx < 0 || q + 2 >= data.length) return false;
  // New name: a string literal follows.
  const lenByte = data[q + 1];
  const first = data[q + 2];
  return (lenByte & 0x80) !== 0 ? (first & 0xfe) === 0xb8 : first === 0x3a;
}

/** One stream: the request/response pair it carries. */
interface Stream {
  id: number;
  s: L7Session;
  /** Byte direction of the request (the client's). */
  reqDir: Dir;
  reqHeaders: boolean;
  respHeaders: boolean;
  reqEnd: boolean;
  respEnd: boolean;
  reqData: number;
  respData: number;
  reqContentLength: number;
  respContentLength: number;
  grpc: boolean;
  grpcStatus: number;
  grpcMessage: string;
  lastTime: bigint;
  /** Emitted: nothing may change it any more. */
  done: boolean;
}

/** Reader state of one direction. */
class Reader {
  /** Preface bytes still to match at the start of this direction; -1 once past. */
  preface = 0;
  /** Aligned on frame boundaries (false after a gap until a plausible header is found). */
  synced = true;
  /** Alignment was lost inside the current chunk: only confirmed headers will do. */
  strict = false;
  /** Bytes of the current frame header collected. */
  hdrLen = 0;
  readonly hdr = Buffer.allocUnsafe(9);
  /** Inside a frame's payload. */
  inFrame = false;
  type = 0;
  flags = 0;
  sid = 0;
  length = 0;
  remaining = 0;
  frameTime = 0n;
  /** Whether the current frame's payload is read (header blocks, RST_STREAM, GOAWAY); false to skip it. */
  keepPayload = false;
  payload: Buffer | null = null;
  payLen = 0;
  /** DATA: pad length once read (-1 before the first payload byte of a PADDED frame). */
  pad = 0;
  /** DATA: the stream the frame belongs to, if we know it. */
  dataStream: Stream | null = null;
  /** Header block being assembled from HEADERS/PUSH_PROMISE + CONTINUATION. */
  blockActive = false;
  blockSid = 0;
  blockEndStream = false;
  blockPromised = 0;
  block: Buffer | null = null;
  blockLen = 0;
  blockTime = 0n;
  /** Frame bytes of the block in progress, counted once its stream is known. */
  blockFrameBytes = 0;
  readonly decoder = new HpackDecoder();
  readonly h: HeaderValues;

  constructor(names: HeaderNames) {
    this.h = new HeaderValues(names);
  }
}

/** Options of {@link Http2Parser} beyond the context. */
export interface Http2ParserOptions {
  /** The HTTP/1.1 request that was upgraded to h2c: it becomes stream 1 (RFC 7540 §3.2). */
  upgradedRequest?: L7Session;
  /** The byte direction of the client, when known (default 0, or learnt from the preface). */
  requestDir?: Dir;
  /** Bytes of the `101` response, counted into stream 1's captured response bytes. */
  upgradeResponseBytes?: number;
}

/** The HTTP/2 parser of one connection. */
export class Http2Parser implements ConnectionParser {
  private readonly readers: [Reader, Reader];
  private readonly streams = new Map<number, Stream>();
  /** Highest stream id seen per parity (0 even: server-initiated, 1 odd: client-initiated). */
  private readonly highest = [0, 0];
  private clientDir: Dir;
  private readonly maxBuffer: number;
  private readonly maxStreams: number;
  private time = 0n;

  constructor(
    private readonly ctx: ParserContext,
    opts: Http2ParserOptions = {},
  ) {
    const names = HeaderNames.for(ctx.options);
    this.readers = [new Reader(names), new Reader(names)];
    this.clientDir = opts.requestDir ?? 0;
    this.maxBuffer = Math.max(1024, ctx.options.maxBufferBytes);
    this.maxStreams = Math.max(1, ctx.options.maxPendingRequests);
    const up = opts.upgradedRequest;
    if (up) {
      up.l7_protocol = 'HTTP2';
      up.version = '2';
      up.request_id = '1';
      const st = this.newStream(1, up, this.clientDir);
      st.reqHeaders = true;
      st.reqEnd = true;
      st.s.captured_response_bytes = opts.upgradeResponseBytes ?? 0;
      this.highest[1] = 1;
    }
  }

  feed(dir: Dir, data: Uint8Array, timeNs: bigint, flags: FeedFlags): void {
    this.time = timeNs;
    const r = this.readers[dir];
    if (flags.gap) this.lost(dir, r, -1);
    if (data.length > 0) {
      const src = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      this.input(dir, r, src, 0, src.length);
    }
    const missing = flags.messageLength !== undefined ? flags.messageLength - data.length : 0;
    if (missing > 0) this.lost(dir, r, missing);
  }

  expire(nowNs: bigint): void {
    const timeout = this.ctx.options.requestTimeoutNs;
    for (const st of this.streams.values()) {
      if (!st.respHeaders && nowNs - st.s.start_time >= timeout) this.timeoutStream(st, nowNs);
      else if (st.respHeaders && nowNs - st.lastTime >= timeout) {
        st.s.truncated = true;
        this.finish(st);
      }
    }
  }

  close(nowNs: bigint): void {
    this.time = nowNs;
    for (const st of [...this.streams.values()]) {
      if (!st.respHeaders) this.timeoutStream(st, nowNs);
      else {
        // The response never ended: report what we saw of it.
        st.s.truncated = true;
        this.finish(st);
      }
    }
  }

  // ---- frame reading --------------------------------------------------------

  private input(dir: Dir, r: Reader, src: Buffer, off: number, end: number): void {
    const chunkStart = off;
    r.strict = false;
    if (r.preface >= 0 && r.preface < PREFACE.length && off < end) {
      // Match (and skip) the client preface at the very start of a direction.
      while (off < end && r.preface < PREFACE.length && src[off] === PREFACE[r.preface]) {
        off++;
        r.preface++;
      }
      if (r.preface === PREFACE.length) {
        this.clientDir = dir;
        r.preface = -1;
      } else if (off < end) {
        r.preface = -1; // not a preface: frames from here on (a mid-connection capture)
      }
    }
    while (off < end) {
      if (!r.synced) {
        const p = findFrameStart(src, off, end, !r.strict && off === chunkStart);
        if (p < 0) return;
        r.synced = true;
        r.hdrLen = 0;
        r.inFrame = false;
        off = p;
      }
      if (!r.inFrame) {
        if (r.hdrLen === 0 && end - off >= 9) {
          this.startFrame(dir, r, src, off);
          if (!r.synced) {
            // Not a frame header after all: look again from the next byte.
            off++;
            continue;
          }
          off += 9;
        } else {
          const n = Math.min(9 - r.hdrLen, end - off);
          src.copy(r.hdr, r.hdrLen, off, off + n);
          r.hdrLen += n;
          off += n;
          if (r.hdrLen < 9) return;
          r.hdrLen = 0;
          this.startFrame(dir, r, r.hdr, 0);
          if (!r.synced) continue;
        }
        if (r.remaining === 0) {
          this.endFrame(dir, r, src, off, off);
          continue;
        }
        // A whole non-DATA payload in this chunk is handled in place.
        if (r.type !== DATA && end - off >= r.remaining) {
          const pend = off + r.remaining;
          r.remaining = 0;
          this.endFrame(dir, r, src, off, pend);
          off = pend;
          continue;
        }
      }
      const n = Math.min(end - off, r.remaining);
      if (r.type === DATA) {
        if (r.pad < 0) r.pad = src[off];
        if (r.dataStream !== null) this.account(r.dataStream, dir, n, n);
      } else if (r.keepPayload) {
        if (r.payLen === 0 && r.length > this.maxBuffer) {
          // Too large to keep across chunks: skip it.
          r.keepPayload = false;
          this.ctx.malformed('http2: frame exceeds maxBufferBytes');
          if (r.type === HEADERS || r.type === CONTINUATION || r.type === PUSH_PROMISE) {
            // The block cannot be decoded, and it may have changed the dynamic table.
            r.decoder.reset();
            r.blockActive = false;
            r.blockFrameBytes = 0;
          }
        } else {
          if (r.payload === null || r.payload.length < r.length) r.payload = Buffer.allocUnsafe(Math.max(r.length, 256));
          src.copy(r.payload, r.payLen, off, off + n);
          r.payLen += n;
        }
      }
      r.remaining -= n;
      off += n;
      if (r.remaining === 0) {
        if (r.type !== DATA && r.keepPayload) this.endFrame(dir, r, r.payload!, 0, r.payLen);
        else this.endFrame(dir, r, src, off, off);
      }
    }
  }

  /** Reads a frame header at `h[p]`; unsynchronises the reader when it cannot be one. */
  private startFrame(dir: Dir, r: Reader, h: Uint8Array, p: number): void {
    const len = (h[p] << 16) | (h[p + 1] << 8) | h[p + 2];
    const type = h[p + 3];
    const flags = h[p + 4];
    const sid = ((h[p + 5] & 0x7f) << 24) | (h[p + 6] << 16) | (h[p + 7] << 8) | h[p + 8];
    if (!frameConsistent(type, flags, sid, len) || (r.blockActive && type !== CONTINUATION)) {
      this.ctx.malformed(r.blockActive && type !== CONTINUATION ? 'http2: header block interrupted' : 'http2: implausible frame header');
      this.desync(dir, r);
      return;
    }
    r.type = type;
    r.flags = flags;
    r.sid = sid;
    r.length = len;
    r.remaining = len;
    r.inFrame = true;
    r.frameTime = this.time;
    r.payLen = 0;
    r.pad = type === DATA && (flags & FLAG_PADDED) !== 0 ? -1 : 0;
    // Only frames whose content we read are kept; SETTINGS, PING, WINDOW_UPDATE,
    // PRIORITY and unknown types are skipped like DATA.
    r.keepPayload = type === HEADERS || type === CONTINUATION || type === PUSH_PROMISE || type === RST_STREAM || type === GOAWAY;
    if (type === DATA) {
      const st = this.streams.get(sid);
      r.dataStream = st ?? null;
      if (st) this.account(st, dir, 9, 0);
    }
  }

  /** A frame is complete; its payload (if kept) is `p[start, end)`. */
  private endFrame(dir: Dir, r: Reader, p: Uint8Array, start: number, end: number): void {
    r.inFrame = false;
    const type = r.type;
    const flags = r.flags;
    const sid = r.sid;
    const frameBytes = 9 + r.length;
    const kept = type === DATA || r.keepPayload;
    switch (type) {
      case DATA: {
        const st = r.dataStream;
        r.dataStream = null;
        if (st !== null && !st.done) {
          // Payload bytes were counted as they came; padding is not data.
          if (flags & FLAG_PADDED) this.account(st, dir, 0, -Math.min(r.length, 1 + Math.max(0, r.pad)));
          if (flags & FLAG_END_STREAM) this.endOfStream(st, dir);
        }
        return;
      }
      case HEADERS:
      case PUSH_PROMISE: {
        if (!kept) return;
        let q = start;
        let tail = end;
        if (flags & FLAG_PADDED) {
          if (q >= end) return this.badFrame(r, 'http2: padded frame without pad length');
          tail -= p[q];
          q++;
        }
        let promised = 0;
        if (type === PUSH_PROMISE) {
          if (q + 4 > tail) return this.badFrame(r, 'http2: short PUSH_PROMISE');
          promised = ((p[q] & 0x7f) << 24) | (p[q + 1] << 16) | (p[q + 2] << 8) | p[q + 3];
          q += 4;
        } else if (flags & FLAG_PRIORITY) {
          q += 5;
        }
        if (q > tail) return this.badFrame(r, 'http2: padding exceeds frame');
        if (flags & FLAG_END_HEADERS) {
          this.headerBlock(dir, r, p, q, tail, sid, type === HEADERS && (flags & FLAG_END_STREAM) !== 0, promised, this.time, frameBytes);
        } else {
          r.blockActive = true;
          r.blockSid = sid;
          r.blockEndStream = type === HEADERS && (flags & FLAG_END_STREAM) !== 0;
          r.blockPromised = promised;
          r.blockTime = r.frameTime;
          r.blockLen = 0;
          r.blockFrameBytes = 0;
          this.appendBlock(dir, r, p, q, tail, frameBytes);
        }
        return;
      }
      case CONTINUATION: {
        if (!r.blockActive || r.blockSid !== sid) {
          if (kept) this.ctx.malformed('http2: CONTINUATION without a header block');
          return;
        }
        if (!kept) return;
        this.appendBlock(dir, r, p, start, end, frameBytes);
        if (r.blockActive && (flags & FLAG_END_HEADERS) !== 0) {
          r.blockActive = false;
          const fb = r.blockFrameBytes;
          r.blockFrameBytes = 0;
          this.headerBlock(dir, r, r.block!, 0, r.blockLen, sid, r.blockEndStream, r.blockPromised, r.blockTime, fb);
        }
        return;
      }
      case RST_STREAM: {
        const st = this.streams.get(sid);
        if (st && kept && end - start >= 4) {
          const code = ((p[start] << 24) | (p[start + 1] << 16) | (p[start + 2] << 8) | p[start + 3]) >>> 0;
          this.account(st, dir, frameBytes, 0);
          this.reset(st, dir, code);
        }
        return;
      }
      case GOAWAY: {
        if (kept && end - start >= 8) {
          const last = ((p[start] & 0x7f) << 24) | (p[start + 1] << 16) | (p[start + 2] << 8) | p[start + 3];
          const code = ((p[start + 4] << 24) | (p[start + 5] << 16) | (p[start + 6] << 8) | p[start + 7]) >>> 0;
          this.goaway(dir, last, code);
        }
        return;
      }
      default:
        // SETTINGS, PING, PRIORITY, WINDOW_UPDATE and unknown types carry nothing we report.
        return;
    }
  }

  private badFrame(r: Reader, reason: string): void {
    this.ctx.malformed(reason);
    r.decoder.reset();
    r.blockActive = false;
    r.blockFrameBytes = 0;
  }

  private appendBlock(dir: Dir, r: Reader, p: Uint8Array, start: number, end: number, frameBytes: number): void {
    const n = end - start;
    if (r.blockLen + n > this.maxBuffer) {
      this.ctx.malformed('http2: header block exceeds maxBufferBytes');
      r.blockActive = false;
      r.blockFrameBytes = 0;
      r.decoder.reset();
      return;
    }
    if (r.block === null || r.block.length < r.blockLen + n) {
      const grown = Buffer.allocUnsafe(Math.min(this.maxBuffer, Math.max(1024, (r.blockLen + n) * 2)));
      if (r.block !== null) r.block.copy(grown, 0, 0, r.blockLen);
      r.block = grown;
    }
    r.block.set(p.subarray(start, end), r.blockLen);
    r.blockLen += n;
    // Frame bytes of a block in progress count once the block says which stream they belong to.
    const st = this.streams.get(r.blockSid);
    if (st) this.account(st, dir, frameBytes, 0);
    else r.blockFrameBytes += frameBytes;
  }

  // ---- header blocks and streams --------------------------------------------

  private headerBlock(dir: Dir, r: Reader, p: Uint8Array, start: number, end: number, sid: number, endStream: boolean, promised: number, time: bigint, frameBytes: number): void {
    const dec = r.decoder;
    const err = dec.decode(p, start, end);
    if (err !== '') {
      this.ctx.malformed(`http2: hpack ${err}`);
      // The rest of the block may have changed the table in ways we cannot know.
      dec.reset();
    }
    const h = r.h;
    h.reset();
    for (let i = 0; i < dec.count; i++) {
      const name = dec.names[i];
      if (name !== '') h.setByName(name, dec.values[i]);
    }
    const v = h.values;
    let pathInferred = false;
    if (v[H_METHOD] !== '' && v[H_PATH] === '' && dec.blockUnknown > 0) {
      // Mid-connection: `:path` often comes as a literal whose name is a table entry we
      // never saw. No other request header value starts with '/', so take it as the path.
      for (let i = 0; i < dec.count; i++) {
        if (dec.names[i] === '' && dec.values[i].charCodeAt(0) === 0x2f) {
          h.set(H_PATH, dec.values[i]);
          pathInferred = true;
          break;
        }
      }
    }
    const isReqHead = v[H_METHOD] !== '' || v[H_PATH] !== '';
    const isRespHead = v[H_STATUS] !== '';
    const pendingBytes = frameBytes;

    if (promised !== 0) {
      // Server push: the promise is the request of the promised stream, answered on the same direction.
      if (this.streams.has(promised)) return;
      const st = this.newStream(promised, newSession('HTTP2', time), dir === 0 ? 1 : 0);
      this.requestHeaders(st, h);
      st.reqEnd = true;
      this.highest[promised & 1] = Math.max(this.highest[promised & 1], promised);
      return;
    }

    let st = this.streams.get(sid);
    if (st === undefined) {
      if (sid <= this.highest[sid & 1] && !isReqHead && !isRespHead) return; // trailers of a stream already reported
      if (!isReqHead && !isRespHead && dec.blockUnknown === 0 && dec.count > 0) {
        // Neither request nor response headers, decoded fully: trailers of a stream we never saw start.
        return;
      }
      const reqDir: Dir = isReqHead ? dir : isRespHead ? (dir === 0 ? 1 : 0) : this.clientDir;
      st = this.newStream(sid, newSession('HTTP2', time), reqDir);
      this.highest[sid & 1] = Math.max(this.highest[sid & 1], sid);
    }
    const asRequest = isReqHead || (!isRespHead && dir === st.reqDir);
    if (pendingBytes > 0) this.account(st, dir, pendingBytes, 0);
    st.lastTime = this.time;
    if (asRequest) {
      if (!st.reqHeaders) {
        this.requestHeaders(st, h);
        if (pathInferred) st.s.attributes['http2.path_inferred'] = 'true';
      }
      if (endStream) st.reqEnd = true;
      return;
    }
    if (isRespHead) {
      const code = parseDecimal(v[H_STATUS]);
      if (code >= 100 && code < 200) return; // interim response: the final one follows
      if (!st.respHeaders) this.responseHeaders(st, h, code);
    }
    // Trailers (or a trailers-only response) carry the gRPC status.
    if (v[H_GRPC_STATUS] !== '') {
      st.grpcStatus = parseDecimal(v[H_GRPC_STATUS]);
      st.grpcMessage = decodeGrpcMessage(v[H_GRPC_MESSAGE]);
    }
    if (!st.respHeaders && !isRespHead) {
      // Response headers without :status (table entries we could not resolve).
      st.respHeaders = true;
    }
    if (endStream) this.endOfStream(st, dir);
  }

  private requestHeaders(st: Stream, h: HeaderValues): void {
    const s = st.s;
    const v = h.values;
    st.reqHeaders = true;
    s.request_type = v[H_METHOD];
    s.request_resource = v[H_PATH];
    s.request_domain = v[H_AUTHORITY] !== '' ? v[H_AUTHORITY] : v[H_HOST];
    const ct = v[H_CONTENT_TYPE];
    if (isGrpc(ct)) st.grpc = true;
    if (st.grpc) {
      const route = grpcRoute(s.request_resource);
      s.endpoint = route.endpoint;
      if (route.service !== '') {
        s.attributes['rpc.service'] = route.service;
        s.attributes['rpc.method'] = route.method;
      }
    } else {
      s.endpoint = s.request_type === 'CONNECT' ? s.request_domain : httpEndpoint(s.request_resource, s.request_type);
    }
    const cl = v[H_CONTENT_LENGTH];
    if (cl !== '') st.reqContentLength = parseDecimal(cl);
    applyRequestHeaders(s, h);
  }

  private responseHeaders(st: Stream, h: HeaderValues, code: number): void {
    const s = st.s;
    const v = h.values;
    st.respHeaders = true;
    if (code >= 0) {
      s.response_code = code;
      s.response_status = httpStatus(code);
      // gRPC replaces response_code with grpc-status; the HTTP status stays visible here.
      s.attributes['http.response.status_code'] = String(code);
    }
    if (isGrpc(v[H_CONTENT_TYPE]) && !st.grpc) {
      st.grpc = true;
      const route = grpcRoute(s.request_resource);
      if (s.request_resource !== '') s.endpoint = route.endpoint;
      if (route.service !== '') {
        s.attributes['rpc.service'] = route.service;
        s.attributes['rpc.method'] = route.method;
      }
    }
    const cl = v[H_CONTENT_LENGTH];
    if (cl !== '') st.respContentLength = parseDecimal(cl);
    applyResponseHeaders(s, h);
  }

  private newStream(id: number, s: L7Session, reqDir: Dir): Stream {
    if (this.streams.size >= this.maxStreams) {
      // Bounded: the oldest stream gives way.
      const oldest = this.streams.values().next().value as Stream;
      this.ctx.malformed('http2: too many open streams');
      if (oldest.respHeaders) {
        oldest.s.truncated = true;
        this.finish(oldest);
      } else {
        this.timeoutStream(oldest, this.time);
      }
    }
    s.version = '2';
    s.request_id = String(id);
    const st: Stream = {
      id,
      s,
      reqDir,
      reqHeaders: false,
      respHeaders: false,
      reqEnd: false,
      respEnd: false,
      reqData: 0,
      respData: 0,
      reqContentLength: -1,
      respContentLength: -1,
      grpc: false,
      grpcStatus: -1,
      grpcMessage: '',
      lastTime: s.start_time,
      done: false,
    };
    this.streams.set(id, st);
    return st;
  }

  /** Counts a frame of a stream, in the direction it travelled. */
  private account(st: Stream, dir: Dir, frameBytes: number, dataBytes: number): void {
    if (st.done) return;
    const s = st.s;
    st.lastTime = this.time;
    if (dir === st.reqDir) {
      s.captured_request_bytes += frameBytes;
      st.reqData += dataBytes;
    } else {
      s.captured_response_bytes += frameBytes;
      st.respData += dataBytes;
      s.end_time = this.time;
    }
  }

  private endOfStream(st: Stream, dir: Dir): void {
    if (dir === st.reqDir) {
      st.reqEnd = true;
      return;
    }
    st.respEnd = true;
    this.finish(st);
  }

  /** RST_STREAM: the stream ends here, with an error unless NO_ERROR. */
  private reset(st: Stream, dir: Dir, code: number): void {
    const s = st.s;
    const name = code < ERROR_NAMES.length ? ERROR_NAMES[code] : `0x${code.toString(16)}`;
    if (code !== 0) {
      s.response_exception = `RST_STREAM ${name}`;
      s.attributes['http2.rst_stream'] = name;
      // Who reset decides who is to blame: a client cancelling, or a server refusing or failing.
      if (!st.respEnd) s.response_status = dir === st.reqDir ? 'client_error' : 'server_error';
    }
    this.finish(st);
  }

  /** GOAWAY from `dir`: streams the other side opened above `last` were not processed. */
  private goaway(dir: Dir, last: number, code: number): void {
    const name = code < ERROR_NAMES.length ? ERROR_NAMES[code] : `0x${code.toString(16)}`;
    for (const st of [...this.streams.values()]) {
      // Streams initiated by the peer of the GOAWAY sender: odd ids if the server sent it.
      const peerOpened = dir === this.clientDir ? st.id % 2 === 0 : st.id % 2 === 1;
      if (!peerOpened || st.id <= last || st.respHeaders) continue;
      st.s.response_exception = `GOAWAY ${name}`;
      st.s.response_status = code === 0 ? 'unknown' : 'server_error';
      st.s.attributes['http2.goaway'] = name;
      this.finish(st);
    }
  }

  /** Emits a stream's session and forgets the stream. */
  private finish(st: Stream): void {
    if (st.done) return;
    st.done = true;
    this.streams.delete(st.id);
    const s = st.s;
    if (!st.grpc) delete s.attributes['http.response.status_code'];
    if (st.grpc) {
      s.l7_protocol = 'gRPC';
      if (st.grpcStatus >= 0) {
        s.response_code = st.grpcStatus;
        s.response_status = grpcStatus(st.grpcStatus);
        s.attributes['grpc.status'] = String(st.grpcStatus);
        if (st.grpcStatus !== 0) {
          s.response_exception = st.grpcMessage !== '' ? st.grpcMessage : (GRPC_CODE_NAMES[st.grpcStatus] ?? '');
        }
      }
    }
    s.request_length = st.reqContentLength >= 0 ? st.reqContentLength : st.reqHeaders && (st.reqEnd || st.reqData > 0) ? st.reqData : null;
    s.response_length = st.respContentLength >= 0 ? st.respContentLength : st.respHeaders && (st.respEnd || st.respData > 0) ? st.respData : null;
    if (s.end_time < s.start_time) s.end_time = s.start_time;
    s.duration_ns = s.end_time - s.start_time;
    this.ctx.emit(s);
  }

  private timeoutStream(st: Stream, nowNs: bigint): void {
    if (st.done) return;
    st.done = true;
    const s = st.s;
    if (st.grpc) s.l7_protocol = 'gRPC';
    s.response_status = 'timeout';
    s.end_time = nowNs > s.start_time ? nowNs : s.start_time;
    this.streams.delete(st.id);
    s.request_length = st.reqContentLength >= 0 ? st.reqContentLength : st.reqEnd || st.reqData > 0 ? st.reqData : null;
    s.duration_ns = s.end_time - s.start_time;
    this.ctx.emit(s);
  }

  // ---- lost bytes -----------------------------------------------------------

  /** Bytes were lost in direction `dir` (`missing` of them, or -1 for an unknown number). */
  private lost(dir: Dir, r: Reader, missing: number): void {
    r.preface = -1;
    if (r.inFrame && r.type === DATA && missing >= 0 && missing <= r.remaining) {
      // Only DATA payload was lost: the frame framing holds.
      r.remaining -= missing;
      const st = r.dataStream;
      if (st !== null && !st.done) {
        st.s.truncated = true;
        // Lost payload is still data the stream carried, though not captured.
        if (dir === st.reqDir) st.reqData += missing;
        else st.respData += missing;
      }
      if (r.remaining === 0) this.endFrame(dir, r, PREFACE, 0, 0);
      return;
    }
    this.desync(dir, r);
  }

  /** Alignment lost: mark what was in flight truncated, forget the table, look for a frame header. */
  private desync(dir: Dir, r: Reader): void {
    if (r.inFrame || r.blockActive) {
      const st = this.streams.get(r.blockActive ? r.blockSid : r.sid);
      if (st) st.s.truncated = true;
    }
    r.synced = false;
    r.strict = true;
    r.inFrame = false;
    r.hdrLen = 0;
    r.blockActive = false;
    r.blockFrameBytes = 0;
    r.decoder.reset();
    // Streams with data in flight in this direction may have lost bytes.
    for (const st of this.streams.values()) {
      if ((dir === st.reqDir && !st.reqEnd) || (dir !== st.reqDir && st.respHeaders && !st.respEnd)) st.s.truncated = true;
    }
  }
}

/** Whether a frame header is one an aligned reader can accept (the loose checks of RFC 9113). */
function frameConsistent(type: number, flags: number, sid: number, len: number): boolean {
  if (len > MAX_PLAUSIBLE_FRAME) return false;
  switch (type) {
    case DATA:
    case HEADERS:
    case CONTINUATION:
    case PUSH_PROMISE:
      return sid !== 0;
    case PRIORITY:
      return sid !== 0 && len === 5;
    case RST_STREAM:
      return sid !== 0 && len === 4;
    case SETTINGS:
      return sid === 0 && len % 6 === 0 && ((flags & FLAG_ACK) === 0 || len === 0);
    case PING:
      return sid === 0 && len === 8;
    case GOAWAY:
      return sid === 0 && len >= 8;
    case WINDOW_UPDATE:
      return len === 4;
    default:
      return true; // unknown frame types are ignored, not errors (RFC 9113 §4.1)
  }
}

/**
 * The offset of the first plausible frame header in `src[off, end)`, or -1.
 * A header is confirmed when the frame it announces ends exactly at `end` or
 * is followed by another plausible header. At `off` itself (a chunk after a
 * gap usually starts a TCP segment, often a frame) an unconfirmable header —
 * its frame runs past the bytes we have — is accepted too when `lenientAtOff`;
 * further in, only confirmed ones are, so that payload bytes are not mistaken
 * for a header.
 */
export function findFrameStart(src: Uint8Array, off: number, end: number, lenientAtOff = true): number {
  for (let p = off; p + 9 <= end; p++) {
    if (src[p] !== 0 || !plausibleFrameHeader(src, p)) continue;
    const c = chainEnd(src, p, end);
    if (c === 0) continue;
    if (c === 2 || (p === off && lenientAtOff)) return p;
  }
  return -1;
}

/**
 * Follows up to three frames from `p`: 2 when they are confirmed (each next
 * header plausible, or a frame ending exactly at `end`), 1 when a frame runs
 * past `end` before anything contradicts them, 0 when a header after the
 * first is not plausible.
 */
function chainEnd(src: Uint8Array, p: number, end: number): 0 | 1 | 2 {
  for (let i = 0; i < 3; i++) {
    const next = p + 9 + ((src[p] << 16) | (src[p + 1] << 8) | src[p + 2]);
    if (next === end) return 2;
    if (next > end) return i > 0 ? 2 : 1;
    if (next + 9 > end) return src[next] === 0 ? (i > 0 ? 2 : 1) : 0;
    if (!plausibleFrameHeader(src, next)) return 0;
    p = next;
  }
  return 2;
}

function isGrpc(contentType: string): boolean {
  return contentType.startsWith('application/grpc');
}
