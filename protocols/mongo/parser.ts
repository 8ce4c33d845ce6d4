/**
 * MongoDB wire protocol connection parser.
 *
 * Message header: messageLength, requestID, responseTo, opCode (int32 LE).
 * Replies pair with requests by `responseTo`. Opcodes: OP_MSG (sections of
 * kind 0 and 1), the legacy OP_QUERY / OP_GET_MORE / OP_INSERT / OP_UPDATE /
 * OP_DELETE / OP_KILL_CURSORS with OP_REPLY, OP_COMMAND / OP_COMMANDREPLY, and
 * OP_COMPRESSED (noop and zlib — up to 1 MiB uncompressed, transiently — are
 * decompressed; snappy and zstd are marked in `mongodb.compressor`).
 *
 * Fields:
 * - request_type: the command — the first key of the command document
 *   (`find`, `insert`, `isMaster`, …); for legacy queries on a collection
 *   `find`, for legacy writes `insert` / `update` / `delete`;
 * - request_resource: the collection — the command's value when it is a
 *   string (`{find: "users"}`), `collection` of a getMore, or the collection
 *   of a legacy message;
 * - request_domain: the database (`$db`, or the namespace of legacy messages);
 * - request_id: the requestID;
 * - response_code: `code` of a failed reply (or of its first write error),
 *   0 for `ok: 1`; response_status: ok, or client_error / server_error by
 *   code; response_exception: `errmsg` (`$err` of legacy replies) or
 *   `codeName`; response_result: `n=<n>` when the reply counts documents;
 * - attributes: `mongodb.op` (opcode name), `mongodb.code_name`,
 *   `mongodb.compressor`.
 * Requests that expect no reply (OP_MSG with moreToCome, legacy writes) are
 * emitted at once. Exhaust replies (moreToCome from the server) each become
 * a session carrying the original command.
 */
import { inflateSync, constants as zlibConstants } from 'node:zlib';
import type { ConnectionParser, Dir, FeedFlags, L7Session, ParserContext, ResponseStatus } from '../types';
import { newSession } from '../types';
import { finishTimes, Framer, i32le, PendingMap, utf8 } from '../framing';
import type { FrameHandler } from '../framing';
import { BsonElement, BsonWalker, keyIs, keyOf, numberOf, stringOf, T_ARRAY, T_DOCUMENT } from './bson';

/** Opcode of a legacy reply (the opcodes follow). */
export const OP_REPLY = 1;
/** Opcode of a legacy update. */
export const OP_UPDATE = 2001;
/** Opcode of a legacy insert. */
export const OP_INSERT = 2002;
/** Opcode of a legacy query. */
export const OP_QUERY = 2004;
/** Opcode of a legacy getMore. */
export const OP_GET_MORE = 2005;
/** Opcode of a legacy delete. */
export const OP_DELETE = 2006;
/** Opcode of a legacy killCursors. */
export const OP_KILL_CURSORS = 2007;
/** Opcode of the deprecated command message. */
export const OP_COMMAND = 2010;
/** Opcode of its reply. */
export const OP_COMMANDREPLY = 2011;
/** Opcode of a compressed message. */
export const OP_COMPRESSED = 2012;
/** Opcode of the extensible message of MongoDB 3.6+. */
export const OP_MSG = 2013;

const OP_NAMES: Record<number, string> = {
  1: 'OP_REPLY', 2001: 'OP_UPDATE', 2002: 'OP_INSERT', 2004: 'OP_QUERY', 2005: 'OP_GET_MORE', 2006: 'OP_DELETE',
  2007: 'OP_KILL_CURSORS', 2010: 'OP_COMMAND', 2011: 'OP_COMMANDREPLY', 2012: 'OP_COMPRESSED', 2013: 'OP_MSG',
};

const COMPRESSORS = ['noop', 'snappy', 'zlib', 'zstd'];

/** Largest message we accept (the server's maxMessageSizeBytes is 48 MB). */
const MAX_MESSAGE = 64 * 1024 * 1024;
/** Largest compressed message inflated (transiently, then dropped): 1 MiB. */
const MAX_INFLATE = 1024 * 1024;
/** Bound on exhaust-stream continuations remembered per connection. */
const MAX_CONTINUATIONS = 16;

// Codes that say the server (or the replica set) could not serve the request,
// rather than the request being wrong.
const SERVER_CODES = new Set([1, 6, 7, 8, 24, 46, 64, 89, 91, 112, 133, 189, 202, 262, 9001, 10107, 11600, 11602, 13435, 13436]);

/** Response status of a failed reply's code (null: no code given). */
export function mongoStatus(code: number | null): ResponseStatus {
  return code !== null && SERVER_CODES.has(code) ? 'server_error' : 'client_error';
}

interface Waiting {
  start_time: bigint;
  session: L7Session;
}

/** Facts of a reply document, reset per reply. */
class ReplyFacts {
  ok: number | null = null;
  code: number | null = null;
  errmsg: string | null = null;
  codeName: string | null = null;
  n: number | null = null;
  writeCode: number | null = null;
  writeMsg: string | null = null;

  reset(): void {
    this.ok = this.code = this.n = this.writeCode = null;
    this.errmsg = this.codeName = this.writeMsg = null;
  }
}

/** Parser for one MongoDB connection. */
export class MongoParser implements ConnectionParser, FrameHandler {
  readonly headerBytes = 16;
  private readonly framer: Framer;
  private readonly pending: PendingMap<number, Waiting>;
  /** Exhaust streams: the next reply's responseTo → the command it continues. */
  private readonly continuations = new Map<number, L7Session>();
  private readonly walker = new BsonWalker();
  private readonly innerWalker = new BsonWalker();
  private readonly el = new BsonElement();
  private readonly inner = new BsonElement();
  private readonly reply = new ReplyFacts();

  constructor(private readonly ctx: ParserContext) {
    this.framer = new Framer(this, ctx.options.maxBufferBytes);
    this.pending = new PendingMap(ctx.options.maxPendingRequests);
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
    this.continuations.clear();
  }

  frameLength(_dir: Dir, buf: Uint8Array, off: number): number {
    const len = i32le(buf, off);
    if (len < 16 || len > MAX_MESSAGE) return -1;
    return OP_NAMES[i32le(buf, off + 12)] === undefined ? -1 : len;
  }

  onDesync(dir: Dir, reason: string): void {
    this.ctx.malformed(`mongodb: ${reason} (${dir === 0 ? 'request' : 'response'})`);
  }

  onFrame(dir: Dir, data: Uint8Array, total: number, seen: number, startNs: bigint, endNs: bigint): void {
    const requestId = i32le(data, 4);
    const responseTo = i32le(data, 8);
    let op = i32le(data, 12);
    let body = data;
    let bodyStart = 16;
    let compressor = '';
    if (op === OP_COMPRESSED) {
      if (data.length < 25) return this.ctx.malformed('mongodb: short OP_COMPRESSED');
      op = i32le(data, 16);
      const id = data[24];
      compressor = COMPRESSORS[id] ?? String(id);
      const inflated = this.decompress(id, data, i32le(data, 20));
      if (inflated) {
        body = inflated;
        bodyStart = 0;
      } else {
        bodyStart = -1; // the body cannot be read; the header still pairs
      }
    }
    if (dir === 0) this.request(op, requestId, body, bodyStart, compressor, total, seen, startNs, endNs);
    else this.response(op, requestId, responseTo, body, bodyStart, compressor, total, seen, endNs);
  }

  private decompress(id: number, data: Uint8Array, size: number): Uint8Array | undefined {
    if (id === 0) return data.subarray(25);
    if (id !== 2 || size <= 0) return undefined;
    if (size > MAX_INFLATE) {
      // zlib cannot stop at a prefix of its output, and BSON compresses so
      // well that no prefix of the input is safe: marked, not read.
      this.ctx.malformed('mongodb: compressed message too large to inflate');
      return undefined;
    }
    try {
      // The whole message, transiently (at most MAX_INFLATE); a prefix
      // capture inflates partially (SYNC_FLUSH does not insist on the end).
      return inflateSync(data.subarray(25), { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: size });
    } catch {
      this.ctx.malformed('mongodb: bad zlib body');
      return undefined;
    }
  }

  private request(
    op: number, requestId: number, b: Uint8Array, p: number, compressor: string,
    total: number, seen: number, startNs: bigint, endNs: bigint,
  ): void {
    const s = newSession('MongoDB', startNs);
    s.request_id = String(requestId);
    s.request_length = total;
    s.captured_request_bytes = seen;
    s.truncated = seen < total;
    s.end_time = endNs;
    s.attributes['mongodb.op'] = OP_NAMES[op] ?? String(op);
    if (compressor) s.attributes['mongodb.compressor'] = compressor;
    let oneWay = false;
    if (p >= 0) {
      switch (op) {
        case OP_MSG: {
          const flags = b.length >= p + 4 ? i32le(b, p) : 0;
          oneWay = (flags & 2) !== 0; // moreToCome: no reply will follow
          this.msgCommand(s, b, p + 4, flags & 1 ? b.length - 4 : b.length);
          break;
        }
        case OP_QUERY:
          this.legacy(s, b, p + 4, 8, true);
          break;
        case OP_GET_MORE:
          s.request_type = 'getMore';
          this.legacy(s, b, p + 4, 0, false);
          break;
        case OP_INSERT:
          s.request_type = 'insert';
          this.legacy(s, b, p + 4, 0, false);
          oneWay = true;
          break;
        case OP_UPDATE:
          s.request_type = 'update';
          this.legacy(s, b, p + 4, 0, false);
          oneWay = true;
          break;
        case OP_DELETE:
          s.request_type = 'delete';
          this.legacy(s, b, p + 4, 0, false);
          oneWay = true;
          break;
        case OP_KILL_CURSORS:
          s.request_type = 'killCursors';
          oneWay = true;
          break;
        case OP_COMMAND: {
          const db = cstring(b, p);
          const name = db ? cstring(b, db.end) : undefined;
          if (db) s.request_domain = db.value;
          if (name) s.request_type = name.value;
          break;
        }
        default:
      }
    }
    if (oneWay) {
      s.response_status = 'ok';
      this.emit(s);
      return;
    }
    const evicted = this.pending.evicted;
    const old = this.pending.add(requestId, { start_time: startNs, session: s });
    if (this.pending.evicted !== evicted) this.ctx.malformed('mongodb: pending request limit reached');
    if (old) this.timeout(old.session);
  }

  /** The command document of an OP_MSG: the kind-0 section. */
  private msgCommand(s: L7Session, b: Uint8Array, p: number, end: number): void {
    while (p < end) {
      const kind = b[p];
      if (kind === 0) {
        this.command(s, b, p + 1, end);
        return;
      }
      if (kind !== 1 || p + 5 > end) return;
      const size = i32le(b, p + 1);
      if (size < 5) return;
      p += 1 + size;
    }
  }

  /** Command name, collection and `$db` of a command document at `p`. */
  private command(s: L7Session, b: Uint8Array, p: number, end: number): void {
    const w = this.walker;
    const el = this.el;
    let first = true;
    let isGetMore = false;
    for (let q = w.first(b, p, end), r; q >= 0 && (r = w.next(q, el)) >= 0; q = r) {
      if (first) {
        first = false;
        s.request_type = keyOf(b, el);
        isGetMore = s.request_type === 'getMore';
        if (s.request_type === '$query' && el.type === T_DOCUMENT) {
          // Legacy wrapped query: the command is the inner document's first key.
          this.command(s, b, el.valueStart, el.valueEnd);
          return;
        }
        const v = stringOf(b, el);
        if (v !== null) s.request_resource = v;
        continue;
      }
      if (keyIs(b, el, '$db')) s.request_domain = stringOf(b, el) ?? '';
      else if (isGetMore && keyIs(b, el, 'collection')) s.request_resource = stringOf(b, el) ?? '';
    }
  }

  /**
   * Legacy messages: `fullCollectionName` at `p`; for queries it is followed
   * by `skipAfter` bytes and the query document.
   */
  private legacy(s: L7Session, b: Uint8Array, p: number, skipAfter: number, query: boolean): void {
    const ns = cstring(b, p);
    if (!ns) return;
    const dot = ns.value.indexOf('.');
    const db = dot >= 0 ? ns.value.slice(0, dot) : ns.value;
    const coll = dot >= 0 ? ns.value.slice(dot + 1) : '';
    s.request_domain = db;
    if (!query) {
      s.request_resource = coll;
      return;
    }
    if (coll === '$cmd') this.command(s, b, ns.end + skipAfter, b.length);
    else {
      s.request_type = 'find';
      s.request_resource = coll;
    }
    // Legacy commands carry no `$db`: the namespace decides.
    s.request_domain = db;
  }

  private response(
    op: number, requestId: number, responseTo: number, b: Uint8Array, p: number, compressor: string,
    total: number, seen: number, endNs: bigint,
  ): void {
    const w = this.pending.take(responseTo);
    let s: L7Session;
    if (w) s = w.session;
    else {
      const cont = this.continuations.get(responseTo);
      if (cont) this.continuations.delete(responseTo);
      s = newSession('MongoDB', cont ? cont.end_time : endNs);
      if (cont) {
        s.request_type = cont.request_type;
        s.request_domain = cont.request_domain;
        s.request_resource = cont.request_resource;
        s.request_id = cont.request_id;
        s.attributes['mongodb.op'] = cont.attributes['mongodb.op'] ?? OP_NAMES[op] ?? String(op);
      } else {
        s.request_id = String(responseTo);
        s.attributes['mongodb.op'] = OP_NAMES[op] ?? String(op);
      }
    }
    s.response_length = total;
    s.captured_response_bytes = seen;
    if (seen < total) s.truncated = true;
    s.end_time = endNs;
    if (compressor) s.attributes['mongodb.compressor'] = compressor;
    const r = this.reply;
    r.reset();
    let moreToCome = false;
    if (p >= 0) {
      if (op === OP_MSG) {
        const flags = b.length >= p + 4 ? i32le(b, p) : 0;
        moreToCome = (flags & 2) !== 0;
        if (b[p + 4] === 0) this.replyDoc(b, p + 5, flags & 1 ? b.length - 4 : b.length);
      } else if (op === OP_REPLY) {
        if (b.length >= p + 20) {
          const flags = i32le(b, p);
          this.replyDoc(b, p + 20, b.length);
          if (flags & 2 && r.ok === null) r.ok = 0; // QueryFailure
        }
      } else if (op === OP_COMMANDREPLY) {
        // metadata document, then the command reply.
        if (b.length >= p + 4) this.replyDoc(b, p + i32le(b, p), b.length);
      }
    }
    this.applyReply(s);
    if (moreToCome && this.continuations.size < MAX_CONTINUATIONS) this.continuations.set(requestId, s);
    this.emit(s);
  }

  private replyDoc(b: Uint8Array, p: number, end: number): void {
    const w = this.walker;
    const el = this.el;
    const r = this.reply;
    for (let q = w.first(b, p, end), nx; q >= 0 && (nx = w.next(q, el)) >= 0; q = nx) {
      if (keyIs(b, el, 'ok')) r.ok = numberOf(b, el);
      else if (keyIs(b, el, 'code')) r.code = numberOf(b, el);
      else if (keyIs(b, el, 'errmsg') || keyIs(b, el, '$err')) r.errmsg = stringOf(b, el);
      else if (keyIs(b, el, 'codeName')) r.codeName = stringOf(b, el);
      else if (keyIs(b, el, 'n')) r.n = numberOf(b, el);
      else if (r.writeCode === null && el.type === T_ARRAY && keyIs(b, el, 'writeErrors')) this.writeError(b, el.valueStart, el.valueEnd, true);
      else if (r.writeCode === null && el.type === T_DOCUMENT && keyIs(b, el, 'writeConcernError')) this.writeError(b, el.valueStart, el.valueEnd, false);
    }
  }

  /** `code` and `errmsg` of the first write error (an array of documents) or of the write concern error. */
  private writeError(b: Uint8Array, start: number, end: number, array: boolean): void {
    const w = this.innerWalker;
    const el = this.inner;
    let docStart = start;
    let docEnd = end;
    if (array) {
      const q = w.first(b, start, end);
      if (q < 0 || w.next(q, el) < 0 || el.type !== T_DOCUMENT) return;
      docStart = el.valueStart;
      docEnd = el.valueEnd;
    }
    for (let q = w.first(b, docStart, docEnd), nx; q >= 0 && (nx = w.next(q, el)) >= 0; q = nx) {
      if (keyIs(b, el, 'code')) this.reply.writeCode = numberOf(b, el);
      else if (keyIs(b, el, 'errmsg')) this.reply.writeMsg = stringOf(b, el);
    }
  }

  private applyReply(s: L7Session): void {
    const r = this.reply;
    if (r.ok === null && r.code === null && r.errmsg === null) {
      s.response_status = r.writeCode !== null ? mongoStatus(r.writeCode) : 'unknown';
      return;
    }
    if (r.n !== null) s.response_result = `n=${r.n}`;
    if (r.codeName) s.attributes['mongodb.code_name'] = r.codeName;
    if (r.ok === 1 && r.writeCode === null && r.errmsg === null) {
      s.response_code = 0;
      s.response_status = 'ok';
      return;
    }
    const code = r.ok === 1 && r.writeCode !== null ? r.writeCode : r.code ?? r.writeCode;
    s.response_code = code;
    s.response_status = mongoStatus(code);
    s.response_exception = (r.ok === 1 ? r.writeMsg : r.errmsg ?? r.writeMsg) ?? r.codeName ?? '';
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

/** A NUL-terminated string at `p`: its value and the position after the NUL. */
function cstring(b: Uint8Array, p: number): { value: string; end: number } | undefined {
  let q = p;
  while (q < b.length && b[q] !== 0) q++;
  if (q >= b.length || q - p > 1024) return undefined;
  return { value: utf8(b, p, q), end: q + 1 };
}

/**
 * Whether the first bytes look like MongoDB: a sane length, a known opcode,
 * and for requests no responseTo. Certain for an OP_MSG / OP_QUERY request
 * whose length matches the bytes and whose document length fits.
 */
export function inferMongo(data: Uint8Array, dir: Dir): 0 | 1 | 2 {
  if (data.length < 21) return 0;
  const len = i32le(data, 0);
  if (len < 16 || len > MAX_MESSAGE) return 0;
  const op = i32le(data, 12);
  if (OP_NAMES[op] === undefined) return 0;
  const responseTo = i32le(data, 8);
  if (dir === 0) {
    if (op === OP_REPLY || op === OP_COMMANDREPLY || responseTo !== 0) return 0;
    if (len === data.length && op === OP_MSG && data[20] === 0 && data.length >= 26) {
      const docLen = i32le(data, 21);
      if (docLen >= 5 && 21 + docLen <= len && data[21 + docLen - 1] === 0) return 2;
    }
    if (len === data.length && op === OP_QUERY) return 2;
    return 1;
  }
  if (op !== OP_REPLY && op !== OP_MSG && op !== OP_COMPRESSED) return 0;
  return responseTo !== 0 ? 1 : 0;
}
