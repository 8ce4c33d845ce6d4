/**
 * PostgreSQL frontend/backend protocol 3.0: one {@link ConnectionParser} per
 * connection, fed ordered chunks of each direction.
 *
 * Framing: typed messages (1-byte type, 4-byte big-endian length counting
 * itself, body); the client's first message is untyped (length, code:
 * StartupMessage, SSLRequest, GSSENCRequest, CancelRequest), and the server
 * answers SSLRequest/GSSENCRequest with one byte (`S`/`G` accept: encryption
 * follows and parsing stops; `N` refuse: the startup follows in clear). Only
 * a message's first bytes are kept (SQL up to maxBufferBytes; nothing of
 * DataRow, passwords or keys); the rest is skipped by length.
 *
 * Pairing: client messages become a FIFO of operations (Query, Parse, Bind,
 * Describe, Execute, Close, Sync, FunctionCall); server messages complete
 * them in order:
 * - a simple Query is one session, ended by ReadyForQuery; its result is the
 *   last CommandComplete tag (`SELECT 3`), DataRows counted;
 * - in the extended protocol each Execute is one session, ended by
 *   CommandComplete / EmptyQueryResponse / PortalSuspended, showing the SQL
 *   of the Parse its portal was bound from (statement and portal names
 *   tracked); a Parse with no Execute before its Sync (a prepare) is a
 *   session of its own; an ErrorResponse ends the batch's first Execute (or
 *   the failing message) with the error, and the server skips the rest up to
 *   Sync, so do we;
 * - bytes and start time of messages without a session of their own (Parse,
 *   Bind, Describe, Sync, …) go to the next session of the batch.
 *
 * Errors: response_code stays null (the contract's code is a number, a
 * SQLSTATE is five characters), the SQLSTATE is response_result and the
 * `sql.state` attribute, the message field (M) response_exception. Status by
 * SQLSTATE, as DeepFlow does: classes 03 0A 0B 0F 0L 0P 20 22 23 26 2F 34 3D
 * 3F 42 and codes 40001 40003 40P01 are client errors (the statement or its
 * data), everything else (08 connection, 53 resources, 57 operator, 58
 * system, XX internal, 28 authorization, …) server errors.
 */
import { utf8 } from '../framing';
import type { ConnectionParser, Dir, FeedFlags, L7Session, ParserContext, ResponseStatus } from '../types';
import { newSession } from '../types';
import { sqlFacts } from '../sql';

/** The `l7_protocol` of PostgreSQL sessions. */
export const POSTGRESQL = 'PostgreSQL';

/** SSLRequest's code (untyped startup-phase message). */
export const SSL_REQUEST_CODE = 80877103;
/** GSSENCRequest's code. */
export const GSSENC_REQUEST_CODE = 80877104;
/** CancelRequest's code. */
export const CANCEL_REQUEST_CODE = 80877102;

/** Process-wide counters of the bounds that bit (never per-item logs). */
export const postgresqlCounters = {
  /** Prepared statements or portals forgotten because a connection held too many. */
  statementsEvicted: 0,
  /** Query/Parse messages longer than what the parser keeps (maxBufferBytes). */
  requestsClipped: 0,
  /** Chunks skipped while looking for a message boundary. */
  resyncChunksSkipped: 0,
  /** Operations dropped because too many were pending. */
  pendingOverflow: 0,
};

/** Named prepared statements (and portals) remembered per connection. */
export const MAX_STATEMENTS = 1024;
/** Longest message we believe in (the server's own limit is 1 GB). */
const MAX_MESSAGE = 0x40000000;

// Operations (client messages waiting for their server reply).
const O_STARTUP = 0;
const O_QUERY = 1;
const O_PARSE = 2;
const O_BIND = 3;
const O_DESCRIBE = 4;
const O_CLOSE = 5;
const O_EXECUTE = 6;
const O_SYNC = 7;
const O_FUNCTION = 8;
const O_ORPHAN = 9;

const OP_NAMES = ['Startup', 'Query', 'Parse', 'Bind', 'Describe', 'Close', 'Execute', 'Sync', 'FunctionCall', ''];

const P_STARTING = 0; // expecting untyped messages from the client
const P_READY = 1;
const P_STOPPED = 2;

const EMPTY = new Uint8Array(0);
/** Bytes needed to judge whether a message starts somewhere (a header and the next one's). */
const PROBE = 16;

/** Message types of each side (ASCII codes), for framing checks. */
const FRONTEND = new Uint8Array(128);
const BACKEND = new Uint8Array(128);
for (const c of 'BCDEFHPQSXcdfp') FRONTEND[c.charCodeAt(0)] = 1;
for (const c of 'RKSZTDCENI123ntsGHWdcAVv') BACKEND[c.charCodeAt(0)] = 1;

const T_Q = 0x51;
const T_P = 0x50;
const T_B = 0x42;
const T_D = 0x44;
const T_E = 0x45;
const T_C = 0x43;
const T_S = 0x53;
const T_H = 0x48;
const T_F = 0x46;
const T_X = 0x58;
const T_R = 0x52;
const T_K = 0x4b;
const T_Z = 0x5a;
const T_T = 0x54;
const T_N = 0x4e;
const T_I = 0x49;
const T_A = 0x41;
const T_V = 0x56;
const T_G = 0x47;
const T_W = 0x57;
const T_1 = 0x31;
const T_2 = 0x32;
const T_3 = 0x33;
const T_n = 0x6e;
const T_s = 0x73;

/** What a Parse showed, for the Executes of its statement. */
interface Prepared {
  resource: string;
  endpoint: string;
  operation: string;
  table: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
}

/** One client message waiting for its reply. */
class Op {
  kind = O_QUERY;
  resource = '';
  endpoint = '';
  operation = '';
  table = '';
  traceId = '';
  spanId = '';
  parentSpanId = '';
  user = '';
  domain = '';
  start = 0n;
  end = 0n;
  reqLen = 0;
  respLen = 0;
  reqBytes = 0;
  respBytes = 0;
  respStarted = false;
  truncated = false;
  rows = 0;
  sawRows = false;
  tag = '';
  code = '';
  message = '';
  severity = '';
  /** Execute: whether the batch it belongs to contained its Parse. */
  parsed = false;
}

/** One direction's framing state. */
class Direction {
  readonly hdr = new Uint8Array(5);
  hdrLen = 0;
  /** Header size of the next message: 5 typed, 4 untyped (client startup phase), 1 single byte (server SSL answer). */
  need = 5;
  inBody = false;
  remaining = 0;
  type = 0;
  body: Uint8Array = EMPTY;
  bodyLen = 0;
  keep = 0;
  clipped = false;
  wireLen = 0;
  seen = 0;
  startTime = 0n;
  endTime = 0n;
  truncated = false;
  active = false;
  resync = true;
  /** While resynchronising: a chunk too short to judge, held to be judged with the next one. */
  readonly stash = new Uint8Array(PROBE);
  stashLen = 0;
}

function u32be(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}

function cstrEnd(b: Uint8Array, off: number, len: number): number {
  let j = off;
  while (j < len && b[j] !== 0) j++;
  return j;
}

/** UTF-8 text of `b[from, to)`: framing's native decoder, without a Buffer view per string. */
function text(b: Uint8Array, from: number, to: number): string {
  return utf8(b, from, to);
}

/** The status an ErrorResponse's SQLSTATE stands for (see the file comment). */
export function sqlStateStatus(code: string): ResponseStatus {
  if (code.length !== 5) return 'server_error';
  if (code === '40001' || code === '40003' || code === '40P01') return 'client_error';
  switch (code.slice(0, 2)) {
    case '03':
    case '0A':
    case '0B':
    case '0F':
    case '0L':
    case '0P':
    case '20':
    case '22':
    case '23':
    case '26':
    case '2F':
    case '34':
    case '3D':
    case '3F':
    case '42':
      return 'client_error';
    default:
      return 'server_error';
  }
}

/** Whether a typed message of `type` and `len` at a chunk start is believable on side `dir`. */
function plausibleTyped(dir: Dir, b: Uint8Array, i: number, end: number): boolean {
  const avail = end - i;
  if (avail < 5) return false;
  const type = b[i];
  const set = dir === 0 ? FRONTEND : BACKEND;
  if (type >= 128 || !set[type]) return false;
  const len = u32be(b, i + 1);
  if (len < 4 || len > MAX_MESSAGE) return false;
  if (len + 1 === avail) return true;
  if (len + 1 < avail) {
    // The next message must start right after this one.
    if (len + 1 + 5 > avail) return true;
    const next = b[i + len + 1];
    const nlen = u32be(b, i + len + 2);
    return next < 128 && set[next] === 1 && nlen >= 4 && nlen <= MAX_MESSAGE;
  }
  // Longer than the chunk: only messages that can be long.
  return dir === 0 ? type === T_Q || type === T_P || type === T_B || type === 0x64 : type === T_D || type === T_T || type === 0x64 || type === T_E;
}

/** Whether an untyped client message (startup phase) at `i` is believable. */
function plausibleUntyped(b: Uint8Array, i: number, end: number): boolean {
  if (end - i < 8) return false;
  const len = u32be(b, i);
  const code = u32be(b, i + 4);
  if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) return len === 8;
  if (code === CANCEL_REQUEST_CODE) return len === 16;
  return code >>> 16 === 3 && len >= 8 && len <= 10000;
}

/** A PostgreSQL connection parser. */
export class PostgresqlParser implements ConnectionParser {
  private readonly dirs: [Direction, Direction] = [new Direction(), new Direction()];
  private readonly ops: Op[] = [];
  private readonly statements = new Map<string, Prepared>();
  private readonly portals = new Map<string, Prepared>();
  private phase = P_STARTING;
  private decided = false;
  private version = '';
  private serverVersion = '';
  private database = '';
  private user = '';
  private application = '';
  /** Bytes and start of client messages without a session of their own, for the next operation. */
  private carryReqBytes = 0;
  private carryReqLen = 0;
  private carryStart = -1n;
  /** Server bytes of replies to such messages, for the next session. */
  private carryRespBytes = 0;
  private carryRespLen = 0;
  /** The client asked for SSL/GSS encryption: the server answers with one byte. */
  private encryptionAsked = 0;
  private readonly keepSql: number;

  constructor(private readonly ctx: ParserContext) {
    this.keepSql = Math.max(64, ctx.options.maxBufferBytes | 0);
  }

  /** See {@link ConnectionParser.feed}. */
  feed(dir: Dir, data: Uint8Array, timeNs: bigint, flags: FeedFlags): void {
    if (this.phase === P_STOPPED) return;
    const d = this.dirs[dir];
    const fed = data.length;
    if (flags.gap) {
      d.stashLen = 0;
      this.lose(dir, d, timeNs);
    }
    if (d.stashLen > 0) {
      // Bytes held while resynchronising (readers that take the 5-byte header first): judge them
      // with these, unless only the new chunk starts believably.
      const merged = new Uint8Array(d.stashLen + data.length);
      merged.set(d.stash.subarray(0, d.stashLen));
      merged.set(data, d.stashLen);
      d.stashLen = 0;
      if (this.believable(dir, d, merged) || !this.believable(dir, d, data)) data = merged;
    }
    if (!this.decided) this.decide(dir, data);
    this.push(dir, d, data, 0, data.length, timeNs);
    const missing = flags.messageLength !== undefined ? flags.messageLength - fed : 0;
    if (missing > 0 && this.phase !== P_STOPPED) {
      d.stashLen = 0;
      this.skipMissing(dir, d, missing, timeNs);
    }
  }

  private believable(dir: Dir, d: Direction, b: Uint8Array): boolean {
    if (dir === 0 && (d.need === 4 || !this.decided) && plausibleUntyped(b, 0, b.length)) return true;
    return plausibleTyped(dir, b, 0, b.length);
  }

  /** See {@link ConnectionParser.expire}. */
  expire(nowNs: bigint): void {
    const limit = this.ctx.options.requestTimeoutNs;
    for (let k = 0; k < this.ops.length; ) {
      const op = this.ops[k];
      if (!op.respStarted && nowNs - op.start >= limit) {
        this.ops.splice(k, 1);
        if (hasSession(op.kind)) this.emit(op, 'timeout');
      } else k++;
    }
  }

  /** See {@link ConnectionParser.close}. */
  close(nowNs: bigint): void {
    const d = this.dirs[0];
    if (d.active && d.bodyLen > 0 && this.phase !== P_STOPPED && (d.type === T_Q || d.type === T_P)) {
      d.truncated = true;
      d.endTime = nowNs;
      d.active = false;
      this.onClient(d);
    }
    while (this.ops.length > 0) {
      const op = this.ops.shift() as Op;
      if (!hasSession(op.kind)) continue;
      if (op.respStarted) {
        op.truncated = true;
        this.emit(op, this.statusOf(op));
      } else this.emit(op, 'timeout');
    }
  }

  // ---- framing ----------------------------------------------------------

  /** First bytes of a connection: startup (untyped) or mid-stream (typed)? */
  private decide(dir: Dir, data: Uint8Array): void {
    if (dir === 0) {
      if (plausibleUntyped(data, 0, data.length)) {
        this.decided = true;
        this.dirs[0].need = 4;
      } else if (plausibleTyped(0, data, 0, data.length)) {
        this.decided = true;
        this.phase = P_READY;
        this.dirs[0].need = 5;
      }
    } else if (plausibleTyped(1, data, 0, data.length)) {
      this.decided = true;
      this.phase = P_READY;
      this.dirs[0].need = 5;
    }
  }

  private push(dir: Dir, d: Direction, data: Uint8Array, start: number, end: number, time: bigint): void {
    let i = start;
    while (i < end && this.phase !== P_STOPPED) {
      if (!d.inBody) {
        if (d.hdrLen === 0) {
          if (dir === 1 && this.encryptionAsked > 0) {
            // One byte answers SSLRequest / GSSENCRequest.
            this.encryptionAnswer(data[i], time);
            i++;
            continue;
          }
          if (d.resync) {
            const avail = end - i;
            if (avail < PROBE && i === 0 && end === data.length) {
              // Too short to judge, unless it is exactly one message: hold it for the next chunk.
              const whole = d.need === 4 ? avail >= 8 && u32be(data, i) === avail : avail >= 5 && u32be(data, i + 1) + 1 === avail;
              if (!whole) {
                d.stash.set(data.subarray(i, end));
                d.stashLen = avail;
                return;
              }
            }
            const ok = d.need === 4 ? plausibleUntyped(data, i, end) : plausibleTyped(dir, data, i, end);
            if (!ok) {
              postgresqlCounters.resyncChunksSkipped++;
              return;
            }
            d.resync = false;
          }
        }
        const typed = d.need === 5;
        let len: number;
        if (d.hdrLen === 0 && end - i >= d.need) {
          // The common case: the whole header is in this chunk.
          d.type = typed ? data[i] : 0;
          len = u32be(data, typed ? i + 1 : i);
          i += d.need;
        } else {
          while (d.hdrLen < d.need && i < end) d.hdr[d.hdrLen++] = data[i++];
          if (d.hdrLen < d.need) break;
          len = u32be(d.hdr, typed ? 1 : 0);
          d.type = typed ? d.hdr[0] : 0;
          d.hdrLen = 0;
        }
        if (len < 4 || len > MAX_MESSAGE || (typed && (d.type >= 128 || !(dir === 0 ? FRONTEND : BACKEND)[d.type]))) {
          this.ctx.malformed('PostgreSQL: bad message header');
          this.lose(dir, d, time);
          return;
        }
        d.active = true;
        d.remaining = len - 4;
        d.bodyLen = 0;
        d.wireLen = len + (typed ? 1 : 0);
        d.seen = d.need;
        d.startTime = time;
        d.truncated = false;
        d.clipped = false;
        d.keep = typed ? this.keepLimit(dir, d.type) : 1024;
        d.inBody = d.remaining > 0;
        if (!d.inBody) this.dispatch(dir, d, time);
        continue;
      }
      const n = Math.min(d.remaining, end - i);
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
        this.dispatch(dir, d, time);
      }
    }
  }

  private keepLimit(dir: Dir, type: number): number {
    if (dir === 0) {
      switch (type) {
        case T_Q:
        case T_P:
          return this.keepSql;
        case T_B:
        case T_E:
        case T_D:
        case T_C:
          return 256;
        default:
          // Passwords ('p') and copy data are never kept.
          return 0;
      }
    }
    switch (type) {
      case T_E:
      case T_N:
        return Math.min(this.keepSql, 2048);
      case T_C:
      case T_S:
        return 256;
      case T_R:
        return 4;
      case T_Z:
        return 1;
      default:
        // DataRow, RowDescription, BackendKeyData (a secret), copy data: not needed.
        return 0;
    }
  }

  private skipMissing(dir: Dir, d: Direction, missing: number, time: bigint): void {
    if (d.inBody) {
      const k = Math.min(missing, d.remaining);
      d.remaining -= k;
      d.truncated = true;
      missing -= k;
      if (d.remaining === 0) {
        d.inBody = false;
        this.dispatch(dir, d, time);
      }
    }
    if (missing > 0) this.lose(dir, d, time);
  }

  /** The framing of `d` is lost (gap, bad header, missing bytes): report what was in flight, resynchronise. */
  private lose(dir: Dir, d: Direction, time: bigint): void {
    if (d.active && dir === 0 && d.bodyLen > 0 && (d.type === T_Q || d.type === T_P) && d.inBody) {
      d.truncated = true;
      d.inBody = false;
      d.endTime = time;
      d.active = false;
      this.onClient(d);
    }
    if (dir === 1) {
      const op = this.ops[0];
      // A reply message was in flight: the head's reply had started, and the rest of it is lost.
      if (op && d.active) op.respStarted = true;
      if (op && op.respStarted && hasSession(op.kind)) {
        op.truncated = true;
        this.finish(op);
      }
    }
    d.active = false;
    d.inBody = false;
    d.hdrLen = 0;
    d.resync = true;
  }

  private dispatch(dir: Dir, d: Direction, time: bigint): void {
    d.endTime = time;
    d.active = false;
    if (dir === 0) this.onClient(d);
    else this.onServer(d);
  }

  // ---- client -----------------------------------------------------------

  private newOp(kind: number, d: Direction): Op {
    const op = new Op();
    op.kind = kind;
    op.domain = this.database;
    op.start = this.carryStart >= 0n && this.carryStart < d.startTime ? this.carryStart : d.startTime;
    op.end = d.endTime;
    op.reqLen = d.wireLen + this.carryReqLen;
    op.reqBytes = d.seen + this.carryReqBytes;
    op.truncated = d.truncated;
    this.carryReqBytes = 0;
    this.carryReqLen = 0;
    this.carryStart = -1n;
    return op;
  }

  /** A client message without an operation of its own: its bytes go to the next one. */
  private carryRequest(d: Direction): void {
    this.carryReqBytes += d.seen;
    this.carryReqLen += d.wireLen;
    if (this.carryStart < 0n) this.carryStart = d.startTime;
  }

  private onClient(d: Direction): void {
    const b = d.body;
    const len = d.bodyLen;
    if (d.type === 0) {
      this.untyped(d);
      return;
    }
    if (this.phase === P_STARTING) this.phase = P_READY;
    if (d.clipped && (d.type === T_Q || d.type === T_P)) postgresqlCounters.requestsClipped++;
    const clipped = d.clipped && (d.type === T_Q || d.type === T_P);
    switch (d.type) {
      case T_Q: {
        const op = this.newOp(O_QUERY, d);
        op.truncated ||= clipped;
        this.applySql(op, this.prepare(text(b, 0, cstrEnd(b, 0, len))));
        this.enqueue(op);
        return;
      }
      case T_P: {
        const nameEnd = cstrEnd(b, 0, len);
        const name = text(b, 0, nameEnd);
        const info = this.prepare(text(b, nameEnd + 1, cstrEnd(b, nameEnd + 1, len)));
        this.rememberIn(this.statements, name, info);
        const op = this.newOp(O_PARSE, d);
        op.truncated ||= clipped;
        this.applySql(op, info);
        this.enqueue(op);
        return;
      }
      case T_B: {
        const portalEnd = cstrEnd(b, 0, len);
        const portal = text(b, 0, portalEnd);
        const stmt = text(b, portalEnd + 1, cstrEnd(b, portalEnd + 1, len));
        const info = this.statements.get(stmt);
        if (info) this.rememberIn(this.portals, portal, info);
        else this.portals.delete(portal);
        this.enqueue(this.newOp(O_BIND, d));
        return;
      }
      case T_E: {
        const op = this.newOp(O_EXECUTE, d);
        const info = this.portals.get(text(b, 0, cstrEnd(b, 0, len)));
        if (info) this.applySql(op, info);
        // Whether this batch parsed the statement itself (DeepFlow reports those as Parse).
        for (let k = this.ops.length - 1; k >= 0 && this.ops[k].kind !== O_SYNC; k--) if (this.ops[k].kind === O_PARSE) op.parsed = true;
        this.enqueue(op);
        return;
      }
      case T_D:
        this.enqueue(this.newOp(O_DESCRIBE, d));
        return;
      case T_C: {
        const name = text(b, 1, cstrEnd(b, 1, len));
        if (b[0] === T_S) this.statements.delete(name);
        else this.portals.delete(name);
        this.enqueue(this.newOp(O_CLOSE, d));
        return;
      }
      case T_S:
        this.enqueue(this.newOp(O_SYNC, d));
        return;
      case T_F:
        this.enqueue(this.newOp(O_FUNCTION, d));
        return;
      case T_X: {
        const op = this.newOp(O_QUERY, d);
        this.emitNamed(op, 'Terminate', 'ok');
        return;
      }
      default: {
        // Flush, copy data from the client, password/SASL messages: no reply of their own.
        const head = this.ops[0];
        if (head && d.type !== T_H) {
          head.reqBytes += d.seen;
          head.reqLen += d.wireLen;
        } else this.carryRequest(d);
        return;
      }
    }
  }

  private untyped(d: Direction): void {
    const b = d.body;
    const len = d.bodyLen;
    const code = len >= 4 ? u32be(b, 0) : 0;
    if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
      this.encryptionAsked = code;
      this.carryRequest(d);
      return;
    }
    if (code === CANCEL_REQUEST_CODE) {
      // Process id and secret key follow: never kept.
      this.emitNamed(this.newOp(O_QUERY, d), 'CancelRequest', 'ok');
      return;
    }
    if (code >>> 16 !== 3) {
      this.ctx.malformed('PostgreSQL: unsupported protocol version');
      this.phase = P_STOPPED;
      return;
    }
    this.version = `3.${code & 0xffff}`;
    let off = 4;
    let user = '';
    let database = '';
    while (off < len && b[off] !== 0) {
      const kEnd = cstrEnd(b, off, len);
      const vEnd = cstrEnd(b, kEnd + 1, len);
      const key = text(b, off, kEnd);
      if (key === 'user') user = text(b, kEnd + 1, vEnd);
      else if (key === 'database') database = text(b, kEnd + 1, vEnd);
      else if (key === 'application_name') this.application = text(b, kEnd + 1, vEnd);
      off = vEnd + 1;
    }
    this.user = user;
    // The server's default database is the user's name.
    this.database = database || user;
    const op = this.newOp(O_STARTUP, d);
    op.user = user;
    this.dirs[0].need = 5;
    this.phase = P_READY;
    this.enqueue(op);
  }

  /** The statement's facts (possibly remembered from an identical text: they are read-only). */
  private prepare(sql: string): Prepared {
    return sqlFacts(sql, 'postgresql', this.ctx.options.obfuscateSql);
  }

  private applySql(op: Op, p: Prepared): void {
    op.resource = p.resource;
    op.endpoint = p.endpoint;
    op.operation = p.operation;
    op.table = p.table;
    op.traceId = p.traceId;
    op.spanId = p.spanId;
    op.parentSpanId = p.parentSpanId;
  }

  private rememberIn(map: Map<string, Prepared>, name: string, p: Prepared): void {
    if (map.size >= MAX_STATEMENTS && !map.has(name)) {
      const oldest = map.keys().next();
      if (!oldest.done) map.delete(oldest.value);
      postgresqlCounters.statementsEvicted++;
    }
    map.set(name, p);
  }

  private enqueue(op: Op): void {
    const max = Math.max(8, (this.ctx.options.maxPendingRequests | 0) * 4);
    while (this.ops.length >= max) {
      postgresqlCounters.pendingOverflow++;
      const old = this.ops.shift() as Op;
      if (hasSession(old.kind)) this.emit(old, 'timeout');
    }
    this.ops.push(op);
  }

  // ---- server -----------------------------------------------------------

  private encryptionAnswer(byte: number, time: bigint): void {
    const asked = this.encryptionAsked;
    this.encryptionAsked = 0;
    if (byte === T_S || byte === T_G) {
      // Encryption accepted: the rest is TLS or GSSAPI.
      const op = new Op();
      op.start = this.carryStart >= 0n ? this.carryStart : time;
      op.end = time;
      op.reqBytes = this.carryReqBytes;
      op.reqLen = this.carryReqLen;
      op.respStarted = true;
      op.respBytes = 1;
      op.respLen = 1;
      this.emitNamed(op, asked === SSL_REQUEST_CODE ? 'SSLRequest' : 'GSSENCRequest', 'ok', byte === T_S ? 'tls' : 'gss');
      this.phase = P_STOPPED;
    }
    // 'N': refused; the client goes on in clear with another untyped message.
  }

  private onServer(d: Direction): void {
    const b = d.body;
    const len = d.bodyLen;
    const type = d.type;
    if (this.phase === P_STARTING) this.phase = P_READY;
    let op: Op | undefined = this.ops[0];
    if (op) {
      op.respStarted = true;
      op.respBytes += d.seen;
      op.respLen += d.wireLen;
      op.end = d.endTime;
      if (d.truncated) op.truncated = true;
    }
    switch (type) {
      case T_S: {
        const kEnd = cstrEnd(b, 0, len);
        if (text(b, 0, kEnd) === 'server_version') this.serverVersion = text(b, kEnd + 1, cstrEnd(b, kEnd + 1, len));
        return;
      }
      case T_Z:
        this.readyForQuery();
        return;
      case T_E:
        this.errorResponse(d, op);
        return;
      case T_1:
        this.completeSilent(O_PARSE, true);
        return;
      case T_2:
        this.completeSilent(O_BIND, false);
        return;
      case T_3:
        this.completeSilent(O_CLOSE, false);
        return;
      case T_T:
      case T_n:
        if (op && op.kind === O_DESCRIBE) this.completeSilent(O_DESCRIBE, false);
        return;
      case T_D:
        if (op && (op.kind === O_QUERY || op.kind === O_EXECUTE)) {
          op.rows++;
          op.sawRows = true;
        }
        return;
      case T_C:
      case T_I:
      case T_s:
        if (!op) return;
        if (op.kind !== O_EXECUTE && op.kind !== O_QUERY) {
          // Out of step with our queue (lost messages): the reply belongs to the batch's Execute if we saw one.
          for (let k = 1; k < this.ops.length && this.ops[k].kind !== O_SYNC; k++) {
            if (this.ops[k].kind === O_EXECUTE) {
              const target = this.ops[k];
              while (this.ops[0] !== target) this.carryToNext(this.ops.shift() as Op);
              op = target;
              break;
            }
          }
        }
        if (type === T_C) op.tag = text(b, 0, cstrEnd(b, 0, len));
        if (op.kind === O_EXECUTE) this.finish(op);
        return;
      case T_V:
        if (op && op.kind === O_FUNCTION) this.finish(op);
        return;
      case T_R:
      case T_K:
      case T_N:
      case T_A:
      case T_G:
      case T_W:
      case T_H:
      default:
        // Authentication, keys, notices, notifications, COPY: part of the current reply.
        return;
    }
  }

  /**
   * A reply to a message without a session of its own: pop it (with what
   * preceded it). For a Parse with no Execute before its Sync, the Parse is
   * the session (a prepare).
   */
  private completeSilent(kind: number, parse: boolean): void {
    const op = this.ops[0];
    if (!op || op.kind !== kind) return;
    this.ops.shift();
    if (parse) {
      let executes = false;
      for (let k = 0; k < this.ops.length && this.ops[k].kind !== O_SYNC; k++) if (this.ops[k].kind === O_EXECUTE) executes = true;
      if (!executes) {
        this.emit(op, 'ok');
        return;
      }
    }
    this.carryToNext(op);
  }

  /** The next operation inherits `op`'s start and bytes (one batch, one session). */
  private carryToNext(op: Op): void {
    const next = this.ops[0];
    if (next && next.kind !== O_SYNC) {
      if (op.start < next.start) next.start = op.start;
      next.reqBytes += op.reqBytes;
      next.reqLen += op.reqLen;
      next.respBytes += op.respBytes;
      next.respLen += op.respLen;
      if (op.respStarted) next.respStarted = true;
    } else {
      this.carryRespBytes += op.respBytes;
      this.carryRespLen += op.respLen;
    }
  }

  private readyForQuery(): void {
    while (this.ops.length > 0) {
      const op = this.ops[0];
      if (op.kind === O_QUERY || op.kind === O_STARTUP) {
        this.finish(op);
        return;
      }
      this.ops.shift();
      if (op.kind === O_SYNC) {
        this.carryToNext(op);
        return;
      }
      // Left incomplete before the Sync: skipped after an error, or part of its reply was lost.
      // What did arrive (a CommandComplete for a Parse we saw the Bind/Execute of only partly) is kept.
      if ((hasSession(op.kind) || op.tag) && op.respStarted) this.emit(op, this.statusOf(op));
      else this.carryToNext(op);
    }
  }

  private errorResponse(d: Direction, head: Op | undefined): void {
    const b = d.body;
    const len = d.bodyLen;
    let code = '';
    let message = '';
    let severity = '';
    // Fields: a type byte and a string each, ended by a zero byte.
    let off = 0;
    while (off < len && b[off] !== 0) {
      const f = b[off];
      const end = cstrEnd(b, off + 1, len);
      if (f === 0x43 /* C */) code = text(b, off + 1, end);
      else if (f === 0x4d /* M */) message = text(b, off + 1, end);
      else if (f === 0x56 /* V */ || (f === T_S && !severity)) severity = text(b, off + 1, end);
      off = end + 1;
    }
    let target = head;
    if (!target || target.kind === O_SYNC) {
      // No request waits for it: an error the server sent on its own (e.g. shutdown).
      const op = new Op();
      op.kind = O_ORPHAN;
      op.domain = this.database;
      op.start = d.startTime;
      op.end = d.endTime;
      op.respStarted = true;
      op.respBytes = d.seen;
      op.respLen = d.wireLen;
      op.code = code;
      op.message = message;
      op.severity = severity;
      this.emit(op, sqlStateStatus(code));
      return;
    }
    if (target.kind !== O_QUERY && target.kind !== O_STARTUP && target.kind !== O_FUNCTION) {
      // Extended protocol: the error ends the batch at its first Execute, or at the failing message.
      for (let k = 0; k < this.ops.length && this.ops[k].kind !== O_SYNC; k++) {
        if (this.ops[k].kind === O_EXECUTE) {
          target = this.ops[k];
          break;
        }
      }
      // Everything before the target is part of its batch.
      while (this.ops[0] !== target) this.carryToNext(this.ops.shift() as Op);
    }
    target.code = code;
    target.message = message;
    target.severity = severity;
    if (target.kind === O_QUERY) return; // ended by ReadyForQuery
    this.finish(target);
    if (target.kind !== O_STARTUP && target.kind !== O_FUNCTION) {
      // The server ignores messages up to Sync.
      while (this.ops.length > 0 && this.ops[0].kind !== O_SYNC) {
        const skipped = this.ops.shift() as Op;
        this.carryRespBytes += skipped.respBytes;
      }
    }
  }

  private statusOf(op: Op): ResponseStatus {
    return op.code ? sqlStateStatus(op.code) : 'ok';
  }

  private finish(op: Op): void {
    const k = this.ops.indexOf(op);
    if (k >= 0) this.ops.splice(k, 1);
    this.emit(op, this.statusOf(op));
  }

  private emitNamed(op: Op, type: string, status: ResponseStatus, encryption = ''): void {
    const s = this.session(op, status);
    s.request_type = type;
    if (encryption) s.attributes[encryption] = 'true';
    this.ctx.emit(s);
  }

  private emit(op: Op, status: ResponseStatus): void {
    const s = this.session(op, status);
    this.ctx.emit(s);
  }

  private session(op: Op, status: ResponseStatus): L7Session {
    const s: L7Session = newSession(POSTGRESQL, op.start);
    s.version = this.version;
    s.request_type = OP_NAMES[op.kind];
    s.request_domain = op.domain;
    s.request_resource = op.resource;
    s.endpoint = op.endpoint;
    s.response_status = status;
    if (op.code) {
      s.response_result = op.code;
      s.response_exception = op.message;
    } else s.response_result = op.tag;
    s.trace_id = op.traceId;
    s.span_id = op.spanId;
    s.parent_span_id = op.parentSpanId;
    s.request_length = op.kind === O_ORPHAN ? null : op.reqLen;
    s.response_length = op.respStarted ? op.respLen + this.carryRespLen : null;
    s.captured_request_bytes = op.reqBytes;
    s.captured_response_bytes = op.respBytes + (op.respStarted ? this.carryRespBytes : 0);
    if (op.respStarted) {
      this.carryRespBytes = 0;
      this.carryRespLen = 0;
    }
    s.end_time = op.end > op.start ? op.end : op.start;
    s.duration_ns = s.end_time - s.start_time;
    s.truncated = op.truncated;
    const a = s.attributes;
    if (op.operation) a['sql.operation'] = op.operation;
    if (op.table) a['sql.table'] = op.table;
    if (op.sawRows || op.tag.startsWith('SELECT ')) a['sql.rows_returned'] = String(op.rows);
    const affected = affectedRows(op.tag);
    if (affected >= 0) a['sql.rows_affected'] = String(affected);
    if (op.code) a['sql.state'] = op.code;
    if (op.severity) a['db.error_severity'] = op.severity;
    const user = op.user || this.user;
    if (user) a['db.user'] = user;
    if (this.application && op.kind === O_STARTUP) a['db.application_name'] = this.application;
    if (this.serverVersion) a['db.server_version'] = this.serverVersion;
    if (op.kind === O_EXECUTE && op.parsed) a['pg.parsed'] = 'true';
    return s;
  }
}

/** Rows a CommandComplete tag reports for data-changing commands (`INSERT 0 5` → 5), else -1. */
export function affectedRows(tag: string): number {
  const sp = tag.indexOf(' ');
  if (sp < 0) return -1;
  const verb = tag.slice(0, sp);
  if (verb !== 'INSERT' && verb !== 'UPDATE' && verb !== 'DELETE' && verb !== 'MERGE' && verb !== 'COPY') return -1;
  const last = tag.lastIndexOf(' ');
  const n = Number(tag.slice(last + 1));
  return Number.isFinite(n) ? n : -1;
}

function hasSession(kind: number): boolean {
  return kind === O_STARTUP || kind === O_QUERY || kind === O_EXECUTE || kind === O_FUNCTION || kind === O_ORPHAN;
}

function grow(buf: Uint8Array, used: number, need: number, cap: number): Uint8Array {
  let size = Math.max(256, buf.length * 2);
  while (size < need) size *= 2;
  const next = new Uint8Array(Math.max(need, Math.min(size, Math.max(cap, need))));
  if (used > 0) next.set(buf.subarray(0, used));
  return next;
}
