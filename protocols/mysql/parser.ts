/**
 * MySQL (and MariaDB, TiDB, OceanBase…) client/server protocol: one
 * {@link ConnectionParser} per connection, fed ordered chunks of each
 * direction.
 *
 * Layers, bottom up:
 * - compressed frames (when CLIENT_COMPRESS was negotiated, or when a
 *   mid-stream connection's first bytes are frames): 7-byte header, then the
 *   payload raw (uncompressed length 0) or zlib-deflated; a frame is buffered
 *   whole (bounded by maxBufferBytes) before it is inflated, and the inflated
 *   bytes feed the packet layer — frames do not respect packet boundaries;
 * - packets: 3-byte length, 1-byte sequence id, payload; a 0xFFFFFF length
 *   continues the payload in the next packet (16 MB multi-packet payloads).
 *   Only a payload's first bytes are kept (SQL up to maxBufferBytes, a few
 *   bytes of result-set packets): the rest is skipped by length without
 *   buffering;
 * - messages: the connection phase (server greeting, HandshakeResponse,
 *   SSLRequest, authentication exchange) and the command phase (COM_* and
 *   their responses: OK, ERR, EOF, result sets, prepared-statement replies).
 *
 * Pairing is in order: MySQL answers commands one at a time, so pending
 * requests form a FIFO and responses complete its head. A response packet
 * whose sequence id does not follow the one expected and is 1 starts a new
 * response: the current one lost packets and ends truncated.
 *
 * Sessions: request_type is the command name (`COM_QUERY`, …; `LOGIN` for
 * the handshake), request_domain the current database, request_resource the
 * SQL (obfuscated unless options say not), `COM_STMT_EXECUTE` showing the SQL
 * its statement was prepared with, endpoint `VERB table`, request_id the
 * statement id of COM_STMT_*; response_code is the ERR error number,
 * response_exception its message, response_result the affected rows (OK) or
 * the rows returned (result set). Status: ERR 2000–2999 (client library
 * range) is client_error, every other ERR server_error — DeepFlow's rule.
 * version is the protocol version of the greeting (`10`), the server's own
 * version string goes to `db.server_version`. On compressed connections the
 * lengths and captured byte counts are those of the uncompressed packets.
 */
import { inflateSync } from 'node:zlib';
import { utf8 as utf8Text } from '../framing';
import type { ConnectionParser, Dir, FeedFlags, L7Session, ParserContext, ResponseStatus } from '../types';
import { newSession } from '../types';
import { sqlFacts } from '../sql';
import {
  CLIENT_COMPRESS,
  CLIENT_CONNECT_WITH_DB,
  CLIENT_DEPRECATE_EOF,
  CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA,
  CLIENT_PROTOCOL_41,
  CLIENT_QUERY_ATTRIBUTES,
  CLIENT_SECURE_CONNECTION,
  CLIENT_SSL,
  CLIENT_ZSTD_COMPRESSION_ALGORITHM,
  COM_BINLOG_DUMP,
  COM_BINLOG_DUMP_GTID,
  COM_CHANGE_USER,
  COM_FIELD_LIST,
  COM_INIT_DB,
  COM_PROCESS_INFO,
  COM_PROCESS_KILL,
  COM_QUERY,
  COM_QUIT,
  COM_STMT_BULK_EXECUTE,
  COM_STMT_CLOSE,
  COM_STMT_EXECUTE,
  COM_STMT_FETCH,
  COM_STMT_PREPARE,
  COM_STMT_RESET,
  COM_STMT_SEND_LONG_DATA,
  COM_TABLE_DUMP,
  EOF,
  ERR,
  LOCAL_INFILE,
  MAX_PACKET,
  OK,
  SERVER_MORE_RESULTS_EXISTS,
  SERVER_STATUS_CURSOR_EXISTS,
  commandName,
  isClientCommand,
} from './constants';

/** The `l7_protocol` of MySQL sessions. */
export const MYSQL = 'MySQL';

/**
 * Process-wide counters of the bounds that bit, for the receivers' metrics
 * (never per-item logs).
 */
export const mysqlCounters = {
  /** Prepared statements forgotten because a connection held too many. */
  statementsEvicted: 0,
  /** Requests whose payload was longer than what the parser keeps (maxBufferBytes). */
  requestsClipped: 0,
  /** Compressed frames skipped: longer than maxBufferBytes, or inflating past the bound. */
  framesDropped: 0,
  /** Chunks skipped while looking for a packet boundary after a gap or a mid-stream start. */
  resyncChunksSkipped: 0,
  /** Requests timed out because too many were pending. */
  pendingOverflow: 0,
};

/** Prepared statements remembered per connection (COM_STMT_PREPARE id → SQL). */
export const MAX_PREPARED_STATEMENTS = 1024;
/** Most bytes one compressed frame may inflate to (a transient buffer, not kept). */
const MAX_INFLATED = 16 * 1024 * 1024 + 64;

// Which response a request waits for.
const K_LOGIN = 0;
const K_QUERY = 1; // OK | ERR | LOCAL INFILE | result set(s); also responses without request
const K_PREPARE = 2;
const K_FETCH = 3;
const K_FIELD_LIST = 4;
const K_CHANGE_USER = 5;
const K_BINLOG = 6;
const K_GENERIC = 7; // one packet: OK | ERR | EOF | anything
const K_NONE = 8; // no response (COM_QUIT, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA)

// Where a response is.
const S_FIRST = 0;
const S_COLDEFS = 1;
const S_COLEOF = 2;
const S_ROWS = 3;
const S_PREPDEFS = 4;
const S_INFILE = 5;
const S_DEFS_UNTIL_EOF = 6;

// Connection phases.
const P_INIT = 0; // nothing decided yet (mid-stream start possible)
const P_AUTH = 1; // greeting seen, authentication in progress
const P_COMMAND = 2;
const P_STOPPED = 3; // TLS or an unsupported compression: nothing more to parse

const EMPTY = new Uint8Array(0);
/** Bytes needed to judge whether a packet or frame starts somewhere (a HandshakeResponse needs 36). */
const PROBE = 48;

/** What a prepared statement showed when it was prepared. */
interface Prepared {
  resource: string;
  endpoint: string;
  operation: string;
  table: string;
}

/** One request waiting for (or receiving) its response. */
class Request {
  kind = K_GENERIC;
  type = '';
  domain = '';
  resource = '';
  endpoint = '';
  operation = '';
  table = '';
  stmtId = -1;
  user = '';
  initDb = '';
  traceId = '';
  spanId = '';
  parentSpanId = '';
  start = 0n;
  end = 0n;
  reqLen = 0;
  respLen = 0;
  reqBytes = 0;
  respBytes = 0;
  truncated = false;
  stage = S_FIRST;
  respStarted = false;
  expectSeq = 1;
  colsLeft = 0;
  defsLeft = 0;
  rows = 0;
  resultSets = 0;
  affected = -1;
  errCode = -1;
  errMsg = '';
  sqlState = '';
  tls = false;
  /** A request made up by a response that had none. */
  orphan = false;
}

/** One direction's framing state (packets, and compressed frames around them). */
class Direction {
  // Packet layer.
  readonly hdr = new Uint8Array(4);
  hdrLen = 0;
  inBody = false;
  remaining = 0;
  continued = false;
  active = false;
  body: Uint8Array = EMPTY;
  bodyLen = 0;
  keep = -1;
  clipped = false;
  payloadLen = 0;
  wireLen = 0;
  seen = 0;
  seq = 0;
  firstSeq = 0;
  startTime = 0n;
  endTime = 0n;
  truncated = false;
  /** Looking for a packet boundary (start of stream, after a gap or lost framing). */
  resync = true;
  // Compressed-frame layer.
  compressed = false;
  readonly chdr = new Uint8Array(7);
  chdrLen = 0;
  cInBody = false;
  cRemaining = 0;
  cRaw = false;
  cDrop = false;
  cBuf: Uint8Array = EMPTY;
  cBufLen = 0;
  cUncomp = 0;
  cResync = true;
  /** Compressed bytes of the frame being assembled, attributed when its packets complete. */
  cSeen = 0;
  /** While resynchronising: a chunk too short to judge, held to be judged with the next one. */
  readonly stash = new Uint8Array(PROBE);
  stashLen = 0;
}

/** Little-endian reads within `len`; 0 past the end. */
function u16(b: Uint8Array, off: number, len: number): number {
  return off + 2 <= len ? b[off] | (b[off + 1] << 8) : 0;
}
function u24(b: Uint8Array, off: number): number {
  return b[off] | (b[off + 1] << 8) | (b[off + 2] << 16);
}
function u32(b: Uint8Array, off: number, len: number): number {
  return off + 4 <= len ? (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0 : 0;
}

/** Size in bytes of the last {@link lenenc} read (0 when it ran past the end). */
let lenencSize = 0;
/** A length-encoded integer at `off`; its size goes to {@link lenencSize}. */
function lenenc(b: Uint8Array, off: number, len: number): number {
  lenencSize = 0;
  if (off >= len) return 0;
  const c = b[off];
  if (c < 0xfb) {
    lenencSize = 1;
    return c;
  }
  if (c === 0xfc && off + 3 <= len) {
    lenencSize = 3;
    return b[off + 1] | (b[off + 2] << 8);
  }
  if (c === 0xfd && off + 4 <= len) {
    lenencSize = 4;
    return u24(b, off + 1);
  }
  if (c === 0xfe && off + 9 <= len) {
    lenencSize = 9;
    return u32(b, off + 1, len) + u32(b, off + 5, len) * 4294967296;
  }
  return 0;
}

/** End of a NUL-terminated string at `off` (index of the NUL, or `len`). */
function cstrEnd(b: Uint8Array, off: number, len: number): number {
  let j = off;
  while (j < len && b[j] !== 0) j++;
  return j;
}

/** UTF-8 text of `b[from, to)`: framing's native decoder, without a Buffer view per string. */
function utf8(b: Uint8Array, from: number, to: number): string {
  return utf8Text(b, from, to);
}

/** Whether the first bytes at `off` look like text (SQL), to accept a command mid-stream. */
function textLike(b: Uint8Array, off: number, end: number): boolean {
  const stop = Math.min(end, off + 16);
  if (stop <= off) return true;
  for (let j = off; j < stop; j++) {
    const c = b[j];
    if (c < 0x09 || (c > 0x0d && c < 0x20) || c === 0x7f) return false;
  }
  return true;
}

/** Whether bytes at `off` look like a protocol-4.1 HandshakeResponse or SSLRequest payload of `len` bytes. */
function handshakeResponseLike(b: Uint8Array, off: number, avail: number, len: number): boolean {
  if (len < 32 || avail < 32) return false;
  const caps = (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
  if (!(caps & CLIENT_PROTOCOL_41)) return false;
  // 23 filler bytes, zero — except the last 4, where MariaDB clients put their extended capabilities.
  for (let j = off + 9; j < off + 28; j++) if (b[j] !== 0) return false;
  return true;
}

/** Whether bytes at `off` look like a server greeting payload. */
function greetingLike(b: Uint8Array, off: number, avail: number): boolean {
  if (avail < 2 || (b[off] !== 10 && b[off] !== 9)) return false;
  const stop = Math.min(off + avail, off + 80);
  let j = off + 1;
  if (j >= stop || b[j] < 0x30 || b[j] > 0x39) return false; // versions start with a digit
  for (; j < stop; j++) {
    const c = b[j];
    if (c === 0) return j > off + 1;
    if (c < 0x20 || c > 0x7e) return false;
  }
  return avail < 80;
}

/** A MySQL connection parser. */
export class MysqlParser implements ConnectionParser {
  private readonly dirs: [Direction, Direction] = [new Direction(), new Direction()];
  private readonly pending: Request[] = [];
  private readonly statements = new Map<number, Prepared>();
  private phase = P_INIT;
  private modeKnown = false;
  private version = '';
  private serverVersion = '';
  private serverCaps = -1;
  private compressAfterLogin = false;
  private zstd = false;
  /** CLIENT_DEPRECATE_EOF: true/false when negotiated or learned, undefined when unknown. */
  private deprecateEof: boolean | undefined = undefined;
  private queryAttributes = false;
  private database = '';
  private user = '';
  /** Response packets are binlog events until the next command. */
  private streaming = false;
  /** Sequence id of an EOF that may still follow a finished COM_STMT_PREPARE reply (EOF mode unknown); -1 none. */
  private swallowEofSeq = -1;
  /** Set when a dispatch switched the framing (compression on): the push loop hands over. */
  private switched = false;
  private readonly keepRequest: number;
  private readonly keepResponse: number;

  constructor(private readonly ctx: ParserContext) {
    const max = Math.max(64, ctx.options.maxBufferBytes | 0);
    this.keepRequest = max;
    this.keepResponse = Math.min(max, 1024);
  }

  /** See {@link ConnectionParser.feed}. */
  feed(dir: Dir, data: Uint8Array, timeNs: bigint, flags: FeedFlags): void {
    if (this.phase === P_STOPPED) return;
    const d = this.dirs[dir];
    const fed = data.length;
    if (flags.gap) this.gap(dir, d);
    if (d.stashLen > 0) {
      // Bytes held while resynchronising (eBPF reads headers and payloads separately): judge them
      // with these, unless only the new chunk starts believably.
      const merged = new Uint8Array(d.stashLen + data.length);
      merged.set(d.stash.subarray(0, d.stashLen));
      merged.set(data, d.stashLen);
      d.stashLen = 0;
      if (this.believable(dir, d, merged) || !this.believable(dir, d, data)) data = merged;
    }
    if (!this.modeKnown) this.guessFraming(dir, data);
    let i = 0;
    const n = data.length;
    let guard = 0;
    while (i < n && this.phase !== P_STOPPED && guard++ < 4) {
      this.switched = false;
      i = d.compressed ? this.pushFrames(dir, d, data, i, n, timeNs) : this.pushPackets(dir, d, data, i, n, timeNs);
    }
    const missing = flags.messageLength !== undefined ? flags.messageLength - fed : 0;
    if (missing > 0 && this.phase !== P_STOPPED) {
      // Held bytes followed by a hole are no help.
      d.stashLen = 0;
      this.skipMissing(dir, d, missing, timeNs);
    }
  }

  /** See {@link ConnectionParser.expire}. */
  expire(nowNs: bigint): void {
    const limit = this.ctx.options.requestTimeoutNs;
    for (let k = 0; k < this.pending.length; ) {
      const r = this.pending[k];
      if (!r.respStarted && nowNs - r.start >= limit) {
        this.pending.splice(k, 1);
        this.emit(r, 'timeout');
      } else k++;
    }
  }

  /** See {@link ConnectionParser.close}. */
  close(nowNs: bigint): void {
    const d = this.dirs[0];
    // A request whose end never came is still worth reporting.
    if (d.active && d.bodyLen > 0 && this.phase !== P_STOPPED) {
      d.truncated = true;
      d.endTime = nowNs;
      d.active = false;
      this.onRequest(d);
    }
    while (this.pending.length > 0) {
      const r = this.pending.shift() as Request;
      if (r.respStarted) {
        r.truncated = true;
        this.emit(r, this.statusOf(r));
      } else this.emit(r, 'timeout');
    }
  }

  // ---- framing ----------------------------------------------------------

  /**
   * Packet layer over [start, end): returns where it stopped (end, or
   * earlier when a dispatch switched the framing to compressed frames).
   */
  private pushPackets(dir: Dir, d: Direction, data: Uint8Array, start: number, end: number, time: bigint): number {
    let i = start;
    while (i < end) {
      if (!d.inBody) {
        if (d.hdrLen === 0 && d.resync) {
          if (end - i < PROBE && !d.compressed && i === 0 && end === data.length) {
            if (this.holdProbe(dir, d, data, i, end)) return end;
          }
          if (!this.plausiblePacket(dir, data, i, end)) {
            mysqlCounters.resyncChunksSkipped++;
            return end;
          }
          d.resync = false;
        }
        let len: number;
        let seq: number;
        if (d.hdrLen === 0 && end - i >= 4) {
          // The common case: the whole header is in this chunk.
          len = u24(data, i);
          seq = data[i + 3];
          i += 4;
        } else {
          while (d.hdrLen < 4 && i < end) d.hdr[d.hdrLen++] = data[i++];
          if (d.hdrLen < 4) break;
          d.hdrLen = 0;
          len = u24(d.hdr, 0);
          seq = d.hdr[3];
        }
        if (!d.continued) {
          d.active = true;
          d.bodyLen = 0;
          d.payloadLen = 0;
          d.wireLen = 0;
          d.seen = 0;
          d.firstSeq = seq;
          d.startTime = time;
          d.truncated = false;
          d.clipped = false;
          d.keep = -1;
        }
        d.seq = seq;
        d.remaining = len;
        d.payloadLen += len;
        d.wireLen += 4 + len;
        d.seen += 4;
        d.continued = len === MAX_PACKET;
        d.inBody = len > 0;
        if (len === 0 && !d.continued) {
          this.dispatch(dir, d, time);
          if (this.switched) return i;
        }
        continue;
      }
      const n = Math.min(d.remaining, end - i);
      if (d.keep < 0) d.keep = this.keepLimit(dir, data[i], d.firstSeq);
      const room = d.keep - d.bodyLen;
      if (room > 0) {
        const k = n < room ? n : room;
        if (d.body.length < d.bodyLen + k) d.body = grow(d.body, d.bodyLen, d.bodyLen + k, d.keep);
        if (k < 32) for (let j = 0; j < k; j++) d.body[d.bodyLen + j] = data[i + j];
        else d.body.set(data.subarray(i, i + k), d.bodyLen);
        d.bodyLen += k;
      }
      if (n > room) d.clipped = true;
      d.remaining -= n;
      d.seen += n;
      i += n;
      if (d.remaining === 0) {
        d.inBody = false;
        if (!d.continued) {
          this.dispatch(dir, d, time);
          if (this.switched) return i;
        }
      }
    }
    return i;
  }

  /** Compressed-frame layer over [start, end). */
  private pushFrames(dir: Dir, d: Direction, data: Uint8Array, start: number, end: number, time: bigint): number {
    let i = start;
    while (i < end && this.phase !== P_STOPPED) {
      if (!d.cInBody) {
        if (d.chdrLen === 0 && d.cResync) {
          if (end - i < PROBE && i === 0 && end === data.length && this.holdProbe(dir, d, data, i, end)) return end;
          if (!this.plausibleFrame(dir, data, i, end)) {
            mysqlCounters.resyncChunksSkipped++;
            return end;
          }
          d.cResync = false;
        }
        while (d.chdrLen < 7 && i < end) d.chdr[d.chdrLen++] = data[i++];
        if (d.chdrLen < 7) break;
        d.chdrLen = 0;
        const compLen = u24(d.chdr, 0);
        const uncomp = u24(d.chdr, 4);
        d.cRemaining = compLen;
        d.cUncomp = uncomp;
        d.cRaw = uncomp === 0;
        d.cBufLen = 0;
        d.cSeen = 7;
        d.cDrop = !d.cRaw && (compLen > this.ctx.options.maxBufferBytes || uncomp > MAX_INFLATED);
        if (d.cDrop) mysqlCounters.framesDropped++;
        d.cInBody = compLen > 0;
        continue;
      }
      const n = Math.min(d.cRemaining, end - i);
      if (d.cRaw) this.pushPackets(dir, d, data, i, i + n, time);
      else if (!d.cDrop) {
        if (d.cBuf.length < d.cBufLen + n) d.cBuf = grow(d.cBuf, d.cBufLen, d.cBufLen + n, this.ctx.options.maxBufferBytes);
        d.cBuf.set(data.subarray(i, i + n), d.cBufLen);
        d.cBufLen += n;
      }
      d.cRemaining -= n;
      i += n;
      if (d.cRemaining === 0) {
        d.cInBody = false;
        if (!d.cRaw) {
          if (d.cDrop) {
            if (dir === 1) this.responseLost();
            this.lose(dir, d, time);
          } else this.inflateFrame(dir, d, time);
        }
      }
    }
    return i;
  }

  private inflateFrame(dir: Dir, d: Direction, time: bigint): void {
    let out: Buffer;
    try {
      out = inflateSync(d.cBuf.subarray(0, d.cBufLen), { maxOutputLength: MAX_INFLATED });
    } catch {
      this.ctx.malformed('MySQL: compressed frame does not inflate');
      this.lose(dir, d, time);
      return;
    }
    if (out.length !== d.cUncomp) this.ctx.malformed('MySQL: compressed frame length mismatch');
    this.pushPackets(dir, d, out, 0, out.length, time);
  }

  private believable(dir: Dir, d: Direction, b: Uint8Array): boolean {
    return d.compressed || (!this.modeKnown && this.plausibleFrame(dir, b, 0, b.length)) ? this.plausibleFrame(dir, b, 0, b.length) : this.plausiblePacket(dir, b, 0, b.length);
  }

  /**
   * A whole chunk shorter than a probe while resynchronising: keep it for the
   * next chunk unless it is already a complete packet we can judge.
   */
  private holdProbe(dir: Dir, d: Direction, data: Uint8Array, i: number, end: number): boolean {
    const whole = d.compressed ? end - i >= 9 && u24(data, i) + 7 === end - i : end - i >= 5 && u24(data, i) + 4 === end - i;
    if (whole && (d.compressed ? this.plausibleFrame(dir, data, i, end) : this.plausiblePacket(dir, data, i, end))) return false;
    d.stash.set(data.subarray(i, end));
    d.stashLen = end - i;
    return true;
  }

  /** Bytes the capture did not keep (eBPF prefix): skip them, or lose the framing when they hide headers. */
  private skipMissing(dir: Dir, d: Direction, missing: number, time: bigint): void {
    if (d.compressed) {
      if (d.cInBody) {
        const k = Math.min(missing, d.cRemaining);
        if (d.cRaw) this.skipPackets(dir, d, k, time);
        else d.cDrop = true;
        d.cRemaining -= k;
        missing -= k;
        if (d.cRemaining === 0) {
          d.cInBody = false;
          if (!d.cRaw) this.lose(dir, d, time);
        }
      }
      if (missing > 0) {
        this.lose(dir, d, time);
        d.cResync = true;
        d.chdrLen = 0;
        d.cInBody = false;
      }
      return;
    }
    this.skipPackets(dir, d, missing, time);
  }

  private skipPackets(dir: Dir, d: Direction, missing: number, time: bigint): void {
    if (d.inBody) {
      const k = Math.min(missing, d.remaining);
      d.remaining -= k;
      d.truncated = true;
      missing -= k;
      if (d.remaining === 0) {
        d.inBody = false;
        if (!d.continued) this.dispatch(dir, d, time);
      }
    }
    if (missing > 0) this.lose(dir, d, time);
  }

  /**
   * Response bytes we know were skipped (a dropped frame): the head request's
   * response started there; the next response start (sequence 1) ends it.
   */
  private responseLost(): void {
    const r = this.pending[0];
    if (r && !r.respStarted) {
      r.respStarted = true;
      r.truncated = true;
      r.expectSeq = -1;
      r.stage = S_ROWS;
    }
  }

  /** A gap: what was in flight is cut; look for the next boundary. */
  private gap(dir: Dir, d: Direction): void {
    d.stashLen = 0;
    this.lose(dir, d, d.endTime);
    if (d.compressed) {
      d.cResync = true;
      d.chdrLen = 0;
      d.cInBody = false;
    }
  }

  /** The packet framing of `d` is lost: report what was in flight, then resynchronise. */
  private lose(dir: Dir, d: Direction, time: bigint): void {
    if (d.active && dir === 0 && d.bodyLen > 0 && this.phase === P_COMMAND && d.firstSeq === 0) {
      d.truncated = true;
      d.active = false;
      d.endTime = time;
      this.onRequest(d);
    }
    if (dir === 1) {
      const r = this.pending[0];
      // A response packet was in flight: the head's response had started, and the rest of it is lost.
      if (r && d.active && this.phase === P_COMMAND) r.respStarted = true;
      if (r && r.respStarted) {
        r.truncated = true;
        this.finish(r);
      }
    }
    d.active = false;
    d.inBody = false;
    d.continued = false;
    d.hdrLen = 0;
    d.resync = true;
  }

  private keepLimit(dir: Dir, first: number, seq: number): number {
    if (dir === 0) {
      if (seq === 1 && this.phase !== P_COMMAND) return Math.min(this.keepRequest, 4096);
      if (seq !== 0) return 0;
      switch (first) {
        case COM_QUERY:
        case COM_STMT_PREPARE:
        case COM_INIT_DB:
        case COM_FIELD_LIST:
        case COM_CHANGE_USER:
          return this.keepRequest;
        default:
          return 16;
      }
    }
    if (first === ERR || seq === 0) return this.keepResponse;
    if (first === OK || first === EOF) return Math.min(this.keepResponse, 64);
    return 16;
  }

  /** Whether a packet header at `i` is a believable place to (re)start parsing. */
  private plausiblePacket(dir: Dir, b: Uint8Array, i: number, end: number): boolean {
    const avail = end - i;
    if (avail < 5) return false;
    const len = u24(b, i);
    const seq = b[i + 3];
    const b0 = b[i + 4];
    if (len === 0) return false;
    if (dir === 0) {
      if (seq === 0) {
        if (!isClientCommand(b0)) return false;
        if (len + 4 <= avail) return true;
        // A long command split over segments: only text commands are that long.
        return (b0 === COM_QUERY || b0 === COM_STMT_PREPARE || b0 === COM_STMT_EXECUTE || b0 === COM_STMT_SEND_LONG_DATA) && (b0 !== COM_QUERY || textLike(b, i + 5, end));
      }
      if (seq === 1) return this.phase !== P_COMMAND && handshakeResponseLike(b, i + 4, avail - 4, len);
      return this.phase === P_AUTH && len + 4 === avail;
    }
    if (seq === 0) return greetingLike(b, i + 4, avail - 4) || b0 === ERR;
    if (seq === 1 || (this.phase === P_AUTH && seq <= 4)) {
      if (b0 === OK || b0 === ERR || b0 === EOF || b0 === LOCAL_INFILE) return true;
      return b0 >= 1 && b0 < 0xfb && len <= 9;
    }
    return false;
  }

  /** Whether a compressed-frame header at `i` is believable. */
  private plausibleFrame(dir: Dir, b: Uint8Array, i: number, end: number): boolean {
    const avail = end - i;
    if (avail < 9) return false;
    const compLen = u24(b, i);
    const uncomp = u24(b, i + 4);
    if (compLen === 0) return false;
    if (uncomp === 0) {
      const inner = u24(b, i + 7);
      return inner + 4 <= compLen && this.plausiblePacket(dir, b, i + 7, Math.min(end, i + 7 + compLen));
    }
    // A zlib stream: CMF 0x78 and a header checksum multiple of 31.
    return b[i + 7] === 0x78 && ((b[i + 7] << 8) | b[i + 8]) % 31 === 0 && uncomp <= MAX_INFLATED;
  }

  /** Mid-stream connections: plain packets or compressed frames? Decided on the first believable chunk. */
  private guessFraming(dir: Dir, data: Uint8Array): void {
    const plain = this.plausiblePacket(dir, data, 0, data.length);
    const framed = this.plausibleFrame(dir, data, 0, data.length);
    if (plain) this.modeKnown = true;
    else if (framed) {
      this.modeKnown = true;
      this.phase = P_COMMAND;
      this.dirs[0].compressed = true;
      this.dirs[1].compressed = true;
    }
  }

  // ---- messages ---------------------------------------------------------

  private dispatch(dir: Dir, d: Direction, time: bigint): void {
    d.endTime = time;
    d.active = false;
    // Only text payloads (SQL, names) are kept whole; other commands keep their first bytes by design.
    if (d.clipped && dir === 0 && d.keep >= this.keepRequest) mysqlCounters.requestsClipped++;
    if (dir === 0) this.onRequest(d);
    else this.onResponse(d);
  }

  private onRequest(d: Direction): void {
    const b = d.body;
    const len = d.bodyLen;
    if (this.phase === P_STOPPED) return;
    if (this.phase !== P_COMMAND) {
      if (d.firstSeq === 1 && (this.phase === P_AUTH || handshakeResponseLike(b, 0, len, d.payloadLen))) {
        this.login(d);
        return;
      }
      if (this.phase === P_AUTH) {
        // Authentication data (seq ≥ 2): never kept, only counted.
        const head = this.pending[0];
        if (head) head.reqBytes += d.seen;
        return;
      }
      this.phase = P_COMMAND;
    }
    if (d.firstSeq !== 0) {
      // LOCAL INFILE content or COM_CHANGE_USER authentication data.
      const head = this.pending[0];
      if (head) head.reqBytes += d.seen;
      return;
    }
    if (len === 0) {
      this.ctx.malformed('MySQL: empty command packet');
      return;
    }
    this.command(d);
  }

  private newRequest(d: Direction, type: string, kind: number): Request {
    const r = new Request();
    r.type = type;
    r.kind = kind;
    r.domain = this.database;
    r.start = d.startTime;
    r.end = d.endTime;
    r.reqLen = d.wireLen;
    r.reqBytes = d.seen;
    r.truncated = d.truncated || (d.clipped && d.keep >= this.keepRequest);
    r.expectSeq = (d.seq + 1) & 0xff;
    return r;
  }

  private login(d: Direction): void {
    const b = d.body;
    const len = d.bodyLen;
    this.modeKnown = true;
    const caps = u32(b, 0, len) || u16(b, 0, len);
    const r = this.newRequest(d, 'LOGIN', K_LOGIN);
    if (caps & CLIENT_PROTOCOL_41 && d.payloadLen === 32 && caps & CLIENT_SSL) {
      // SSLRequest: TLS follows; nothing more is readable on this connection.
      r.tls = true;
      this.emit(r, 'unknown');
      this.phase = P_STOPPED;
      return;
    }
    let off: number;
    if (caps & CLIENT_PROTOCOL_41) {
      const userEnd = cstrEnd(b, 32, len);
      r.user = utf8(b, 32, userEnd);
      off = userEnd + 1;
      if (caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
        const n = lenenc(b, off, len);
        off += lenencSize + n;
      } else if (caps & CLIENT_SECURE_CONNECTION) off += 1 + (off < len ? b[off] : 0);
      else off = cstrEnd(b, off, len) + 1;
    } else {
      // Protocol 3.20: caps(2) max-packet(3) user NUL auth NUL.
      const userEnd = cstrEnd(b, 5, len);
      r.user = utf8(b, 5, userEnd);
      off = cstrEnd(b, userEnd + 1, len) + 1;
    }
    if (caps & CLIENT_CONNECT_WITH_DB && off < len) r.domain = utf8(b, off, cstrEnd(b, off, len));
    this.user = r.user;
    this.database = r.domain;
    const both = this.serverCaps >= 0 ? this.serverCaps & caps : caps;
    this.compressAfterLogin = (both & CLIENT_COMPRESS) !== 0;
    this.zstd = (both & CLIENT_ZSTD_COMPRESSION_ALGORITHM) !== 0 && !this.compressAfterLogin;
    this.deprecateEof = (both & CLIENT_DEPRECATE_EOF) !== 0;
    this.queryAttributes = (both & CLIENT_QUERY_ATTRIBUTES) !== 0;
    this.phase = P_AUTH;
    this.enqueue(r);
  }

  private command(d: Direction): void {
    const b = d.body;
    const len = d.bodyLen;
    const cmd = b[0];
    if (!isClientCommand(cmd)) {
      this.ctx.malformed('MySQL: unknown command');
      d.resync = true;
      return;
    }
    const r = this.newRequest(d, commandName(cmd), K_GENERIC);
    switch (cmd) {
      case COM_QUERY:
        r.kind = K_QUERY;
        this.setSql(r, this.querySql(b, len), true);
        break;
      case COM_STMT_PREPARE:
        r.kind = K_PREPARE;
        this.setSql(r, utf8(b, 1, len), true);
        break;
      case COM_STMT_EXECUTE:
      case COM_STMT_BULK_EXECUTE:
        r.kind = K_QUERY;
        this.usePrepared(r, u32(b, 1, len));
        break;
      case COM_STMT_FETCH:
        r.kind = K_FETCH;
        this.usePrepared(r, u32(b, 1, len));
        break;
      case COM_STMT_CLOSE:
        r.kind = K_NONE;
        this.usePrepared(r, u32(b, 1, len));
        this.statements.delete(r.stmtId);
        break;
      case COM_STMT_SEND_LONG_DATA:
        r.kind = K_NONE;
        this.usePrepared(r, u32(b, 1, len));
        break;
      case COM_STMT_RESET:
        this.usePrepared(r, u32(b, 1, len));
        break;
      case COM_INIT_DB:
        r.initDb = utf8(b, 1, len);
        r.resource = r.initDb;
        break;
      case COM_FIELD_LIST:
        r.kind = K_FIELD_LIST;
        r.resource = utf8(b, 1, cstrEnd(b, 1, len));
        break;
      case COM_QUIT:
        r.kind = K_NONE;
        break;
      case COM_CHANGE_USER: {
        r.kind = K_CHANGE_USER;
        const userEnd = cstrEnd(b, 1, len);
        r.user = utf8(b, 1, userEnd);
        // user NUL, auth data (1-byte length with 4.1 secure connections), database NUL.
        const authAt = userEnd + 1;
        const dbAt = authAt < len ? authAt + 1 + b[authAt] : len;
        if (dbAt < len) r.initDb = utf8(b, dbAt, cstrEnd(b, dbAt, len));
        break;
      }
      case COM_PROCESS_KILL:
        r.resource = String(u32(b, 1, len));
        break;
      case COM_BINLOG_DUMP:
      case COM_BINLOG_DUMP_GTID:
      case COM_TABLE_DUMP:
        r.kind = K_BINLOG;
        break;
      case COM_PROCESS_INFO:
        r.kind = K_QUERY;
        break;
      default:
        break;
    }
    this.streaming = false;
    if (r.kind === K_NONE) {
      this.emit(r, 'ok');
      return;
    }
    this.enqueue(r);
  }

  /** The SQL of a COM_QUERY payload, past query attributes when there are any. */
  private querySql(b: Uint8Array, len: number): string {
    let off = 1;
    if (this.queryAttributes) {
      const count = lenenc(b, off, len);
      off += lenencSize;
      off += lenencSize > 0 ? 1 : 0; // parameter_set_count, always 1
      if (count > 0) off = skipQueryAttributes(b, off, len, count);
    } else if (len > 3 && b[1] === 0 && b[2] === 1) {
      // Query attributes negotiated where we did not see the handshake: no parameters, one set.
      off = 3;
    }
    return utf8(b, off, len);
  }

  private setSql(r: Request, sql: string, withTrace: boolean): void {
    const f = sqlFacts(sql, 'mysql', this.ctx.options.obfuscateSql);
    if (withTrace && f.traceId) {
      r.traceId = f.traceId;
      r.spanId = f.spanId;
      r.parentSpanId = f.parentSpanId;
    }
    if (f.operation === 'USE') r.initDb = useTarget(sql);
    r.operation = f.operation;
    r.table = f.table;
    r.endpoint = f.endpoint;
    r.resource = f.resource;
    if (r.resource.length < sql.length && !this.ctx.options.obfuscateSql) r.truncated = true;
  }

  private usePrepared(r: Request, id: number): void {
    r.stmtId = id;
    const p = this.statements.get(id);
    if (!p) return;
    r.resource = p.resource;
    r.endpoint = p.endpoint;
    r.operation = p.operation;
    r.table = p.table;
  }

  private enqueue(r: Request): void {
    const max = Math.max(1, this.ctx.options.maxPendingRequests | 0);
    while (this.pending.length >= max) {
      mysqlCounters.pendingOverflow++;
      const old = this.pending.shift() as Request;
      this.emit(old, 'timeout');
    }
    this.pending.push(r);
  }

  private onResponse(d: Direction): void {
    const b = d.body;
    const len = d.bodyLen;
    const b0 = len > 0 ? b[0] : -1;
    if (this.phase === P_INIT || (this.phase === P_AUTH && this.pending.length === 0)) {
      if (d.firstSeq === 0 && b0 >= 9 && b0 <= 10 && greetingLike(b, 0, len)) {
        this.greeting(d);
        return;
      }
      if (this.phase === P_AUTH && b0 === OK && d.firstSeq >= 2) {
        // The end of an authentication we did not see the start of.
        this.phase = P_COMMAND;
        return;
      }
      if (this.phase === P_INIT) this.phase = P_COMMAND;
    }
    if (this.swallowEofSeq >= 0) {
      const s = this.swallowEofSeq;
      this.swallowEofSeq = -1;
      if (d.firstSeq === s && b0 === EOF && d.payloadLen < 9) {
        this.deprecateEof = false;
        return;
      }
    }
    let r: Request | undefined = this.pending[0];
    if (r && r.respStarted && d.firstSeq !== r.expectSeq && d.firstSeq === 1 && r.kind !== K_LOGIN) {
      // A new response begins while the current one was not complete: packets were lost.
      r.truncated = true;
      this.finish(r);
      r = this.pending[0];
    }
    if (!r) {
      if (this.streaming) return;
      if (d.firstSeq !== 1 && !(d.firstSeq === 0 && b0 === ERR)) return;
      r = new Request();
      r.orphan = true;
      r.kind = K_QUERY;
      r.domain = this.database;
      r.start = d.startTime;
      this.pending.push(r);
    }
    r.respStarted = true;
    r.respLen += d.wireLen;
    r.respBytes += d.seen;
    r.end = d.endTime;
    if (d.truncated) r.truncated = true;
    r.expectSeq = (d.seq + 1) & 0xff;
    this.step(r, b, len, b0, d.payloadLen);
  }

  private greeting(d: Direction): void {
    const b = d.body;
    const len = d.bodyLen;
    this.modeKnown = true;
    this.version = String(b[0]);
    const verEnd = cstrEnd(b, 1, len);
    this.serverVersion = utf8(b, 1, verEnd);
    // thread id(4), auth-plugin-data part 1(8), filler(1), capabilities low(2), charset(1), status(2), capabilities high(2).
    const capsOff = verEnd + 1 + 4 + 8 + 1;
    const low = u16(b, capsOff, len);
    const high = u16(b, capsOff + 5, len);
    this.serverCaps = (low | (high << 16)) >>> 0;
    this.phase = P_AUTH;
  }

  /** One response packet for request `r`. */
  private step(r: Request, b: Uint8Array, len: number, b0: number, payloadLen: number): void {
    switch (r.stage) {
      case S_FIRST:
        if (b0 === ERR) {
          this.error(r, b, len);
          return;
        }
        switch (r.kind) {
          case K_LOGIN:
          case K_CHANGE_USER:
            // 0xFE AuthSwitchRequest and 0x01 AuthMoreData continue the exchange.
            if (b0 === OK) {
              this.readOk(r, b, len);
              if (r.kind === K_LOGIN) this.loggedIn();
              else {
                this.user = r.user;
                this.database = r.initDb;
              }
              this.finish(r);
            }
            return;
          case K_QUERY:
            if (b0 === OK) {
              const status = this.readOk(r, b, len);
              if (r.initDb) this.database = r.initDb;
              if (!(status & SERVER_MORE_RESULTS_EXISTS)) this.finish(r);
              return;
            }
            if (b0 === LOCAL_INFILE) {
              r.stage = S_INFILE;
              r.expectSeq = -1;
              return;
            }
            if (b0 === EOF) {
              this.finish(r);
              return;
            }
            r.colsLeft = lenenc(b, 0, len);
            if (r.colsLeft <= 0) {
              this.ctx.malformed('MySQL: bad result set header');
              this.finish(r);
              return;
            }
            r.resultSets++;
            r.stage = S_COLDEFS;
            return;
          case K_PREPARE: {
            if (b0 !== OK || len < 9) {
              this.finish(r);
              return;
            }
            const id = u32(b, 1, len);
            const cols = u16(b, 5, len);
            const params = u16(b, 7, len);
            r.stmtId = id;
            this.remember(id, r);
            r.defsLeft = cols + params;
            if (r.defsLeft === 0) {
              this.finish(r);
              return;
            }
            r.stage = S_PREPDEFS;
            return;
          }
          case K_FETCH:
            r.stage = S_ROWS;
            this.row(r, b, len, b0, payloadLen);
            return;
          case K_FIELD_LIST:
            if (b0 === EOF && payloadLen < 9) this.finish(r);
            else r.stage = S_DEFS_UNTIL_EOF;
            return;
          case K_BINLOG:
            // The first event (or OK) answers; then events stream until the next command.
            this.streaming = true;
            this.finish(r);
            return;
          default:
            // OK, EOF (COM_SET_OPTION, COM_DEBUG) or a text reply (COM_STATISTICS).
            if (b0 === OK) this.readOk(r, b, len);
            if (r.initDb && b0 === OK) this.database = r.initDb;
            this.finish(r);
            return;
        }
      case S_COLDEFS:
        if (b0 === ERR) {
          this.error(r, b, len);
          return;
        }
        if (--r.colsLeft <= 0) r.stage = S_COLEOF;
        return;
      case S_COLEOF:
        // A protocol-4.1 EOF is 5 bytes; a longer 0xFE packet is the OK that ends an
        // empty result set under CLIENT_DEPRECATE_EOF.
        if (b0 === EOF && payloadLen <= 5) {
          this.deprecateEof = false;
          const status = u16(b, 3, len);
          if (status & SERVER_STATUS_CURSOR_EXISTS) this.finish(r);
          else r.stage = S_ROWS;
          return;
        }
        if (b0 === ERR) {
          this.error(r, b, len);
          return;
        }
        this.deprecateEof = true;
        r.stage = S_ROWS;
        this.row(r, b, len, b0, payloadLen);
        return;
      case S_ROWS:
        this.row(r, b, len, b0, payloadLen);
        return;
      case S_PREPDEFS:
        if (b0 === EOF && payloadLen < 9) {
          this.deprecateEof = false;
          if (r.defsLeft <= 0) this.finish(r);
          return;
        }
        if (b0 === ERR) {
          this.error(r, b, len);
          return;
        }
        if (--r.defsLeft <= 0 && this.deprecateEof !== false) {
          if (this.deprecateEof === undefined) this.swallowEofSeq = r.expectSeq;
          this.finish(r);
        }
        return;
      case S_INFILE:
        if (b0 === ERR) this.error(r, b, len);
        else {
          if (b0 === OK) this.readOk(r, b, len);
          this.finish(r);
        }
        return;
      case S_DEFS_UNTIL_EOF:
        if (b0 === ERR) this.error(r, b, len);
        else if (b0 === EOF && payloadLen < 9) this.finish(r);
        return;
      default:
        return;
    }
  }

  private row(r: Request, b: Uint8Array, len: number, b0: number, payloadLen: number): void {
    if (b0 === ERR) {
      this.error(r, b, len);
      return;
    }
    if (b0 === EOF && payloadLen < MAX_PACKET) {
      // The terminator: EOF (warnings, status) or, with DEPRECATE_EOF, an OK packet with the 0xFE header.
      const status = payloadLen <= 5 ? u16(b, 3, len) : this.readOk(r, b, len);
      if (status & SERVER_MORE_RESULTS_EXISTS) r.stage = S_FIRST;
      else this.finish(r);
      return;
    }
    r.rows++;
  }

  /** Reads an OK packet (header 0x00 or 0xFE): affected rows; returns the status flags. */
  private readOk(r: Request, b: Uint8Array, len: number): number {
    let off = 1;
    const affected = lenenc(b, off, len);
    if (lenencSize === 0) return 0;
    off += lenencSize;
    // Affected rows mean something for statements only (COM_PING's OK says 0 too).
    if (b[0] === OK && r.kind === K_QUERY) r.affected = (r.affected > 0 ? r.affected : 0) + affected;
    lenenc(b, off, len); // last insert id
    if (lenencSize === 0) return 0;
    off += lenencSize;
    return u16(b, off, len);
  }

  private error(r: Request, b: Uint8Array, len: number): void {
    r.errCode = u16(b, 1, len);
    let off = 3;
    if (off < len && b[off] === 0x23 /* # */ && off + 6 <= len) {
      r.sqlState = utf8(b, off + 1, off + 6);
      off += 6;
    }
    r.errMsg = utf8(b, off, len);
    this.finish(r);
  }

  private loggedIn(): void {
    this.phase = P_COMMAND;
    if (this.zstd) {
      // zstd compression (MySQL 8.0.18+) is not something we can inflate.
      this.ctx.malformed('MySQL: zstd compression not supported');
      this.phase = P_STOPPED;
      return;
    }
    if (this.compressAfterLogin) {
      for (const d of this.dirs) {
        d.compressed = true;
        d.cResync = false;
        d.chdrLen = 0;
        d.cInBody = false;
      }
      this.switched = true;
    }
  }

  private remember(id: number, r: Request): void {
    if (this.statements.size >= MAX_PREPARED_STATEMENTS && !this.statements.has(id)) {
      const oldest = this.statements.keys().next();
      if (!oldest.done) this.statements.delete(oldest.value);
      mysqlCounters.statementsEvicted++;
    }
    this.statements.set(id, { resource: r.resource, endpoint: r.endpoint, operation: r.operation, table: r.table });
  }

  private statusOf(r: Request): ResponseStatus {
    if (r.errCode < 0) return 'ok';
    return r.errCode >= 2000 && r.errCode <= 2999 ? 'client_error' : 'server_error';
  }

  /** The response of `r` is complete. */
  private finish(r: Request): void {
    const k = this.pending.indexOf(r);
    if (k >= 0) this.pending.splice(k, 1);
    this.emit(r, this.statusOf(r));
  }

  private emit(r: Request, status: ResponseStatus): void {
    const s: L7Session = newSession(MYSQL, r.start);
    s.version = this.version;
    s.request_type = r.type;
    s.request_domain = r.domain;
    s.request_resource = r.resource;
    s.endpoint = r.endpoint;
    s.request_id = r.stmtId >= 0 ? String(r.stmtId) : '';
    s.response_status = status;
    if (r.errCode >= 0) {
      s.response_code = r.errCode;
      s.response_exception = r.errMsg;
    }
    const auth = r.kind === K_LOGIN || r.kind === K_CHANGE_USER;
    if (r.resultSets > 0) s.response_result = String(r.rows);
    else if (r.affected >= 0 && !auth) s.response_result = String(r.affected);
    s.trace_id = r.traceId;
    s.span_id = r.spanId;
    s.parent_span_id = r.parentSpanId;
    s.request_length = r.orphan ? null : r.reqLen;
    s.response_length = r.respStarted ? r.respLen : null;
    s.captured_request_bytes = r.reqBytes;
    s.captured_response_bytes = r.respBytes;
    s.end_time = r.end > r.start ? r.end : r.start;
    s.duration_ns = s.end_time - s.start_time;
    s.truncated = r.truncated;
    const a = s.attributes;
    if (r.operation) a['sql.operation'] = r.operation;
    if (r.table) a['sql.table'] = r.table;
    if (r.affected >= 0 && !auth) a['sql.rows_affected'] = String(r.affected);
    if (r.resultSets > 0) a['sql.rows_returned'] = String(r.rows);
    if (r.sqlState) a['sql.state'] = r.sqlState;
    const user = r.user || this.user;
    if (user) a['db.user'] = user;
    if (this.serverVersion) a['db.server_version'] = this.serverVersion;
    if (r.tls) a['tls'] = 'true';
    if (this.dirs[0].compressed) a['mysql.compressed'] = 'true';
    this.ctx.emit(s);
  }
}

function grow(buf: Uint8Array, used: number, need: number, cap: number): Uint8Array {
  let size = Math.max(256, buf.length * 2);
  while (size < need) size *= 2;
  const next = new Uint8Array(Math.max(need, Math.min(size, Math.max(cap, need))));
  if (used > 0) next.set(buf.subarray(0, used));
  return next;
}

/**
 * Skips the parameters of a COM_QUERY with query attributes (MySQL 8.0.23+):
 * null bitmap, new-params-bound flag, types and names, then binary values.
 * Returns the offset of the SQL, or `len` when the layout is not understood.
 */
function skipQueryAttributes(b: Uint8Array, off: number, len: number, count: number): number {
  off += (count + 7) >> 3; // null bitmap
  if (off >= len) return len;
  const bound = b[off++];
  if (bound !== 1) return len;
  const types = new Uint8Array(Math.min(count, 1024));
  if (count > 1024) return len;
  for (let k = 0; k < count; k++) {
    if (off + 2 > len) return len;
    types[k] = b[off];
    off += 2;
    const nameLen = lenenc(b, off, len);
    off += lenencSize + nameLen;
  }
  for (let k = 0; k < count; k++) {
    const size = binaryValueSize(types[k], b, off, len);
    if (size < 0) return len;
    off += size;
  }
  return Math.min(off, len);
}

/** Size of a binary-protocol value of `type` at `off`, or -1 when unknown. */
function binaryValueSize(type: number, b: Uint8Array, off: number, len: number): number {
  switch (type) {
    case 0x06: // NULL
      return 0;
    case 0x01: // TINY
      return 1;
    case 0x02: // SHORT
    case 0x0d: // YEAR
      return 2;
    case 0x03: // LONG
    case 0x09: // INT24
    case 0x04: // FLOAT
      return 4;
    case 0x08: // LONGLONG
    case 0x05: // DOUBLE
      return 8;
    case 0x07: // TIMESTAMP
    case 0x0a: // DATE
    case 0x0b: // TIME
    case 0x0c: // DATETIME
      return off < len ? 1 + b[off] : -1;
    default: {
      const n = lenenc(b, off, len);
      return lenencSize === 0 ? -1 : lenencSize + n;
    }
  }
}

/** The database of a `USE db` statement (unquoted), '' when not one. */
function useTarget(sql: string): string {
  const m = /^\s*use\s+(`(?:[^`]|``)+`|[^\s;]+)/i.exec(sql);
  if (!m) return '';
  const name = m[1];
  return name.startsWith('`') ? name.slice(1, -1).replace(/``/g, '`') : name;
}
