/**
 * Memcached text protocol (github.com/memcached/memcached doc/protocol.txt):
 * classic commands and the meta commands, requests paired with responses in
 * order, data blocks skipped by their declared length (never buffered).
 *
 * Fields (decisions):
 * - request_type: the command as sent (`get`, `set`, `mg`, … — memcached
 *   commands are lower-case, as DeepFlow reports them).
 * - request_resource: the key(s), space-separated (at most {@link MAX_KEYS}
 *   shown); for `stats` its argument. DeepFlow shows the whole command line
 *   (`set foo 0 0 3`); keys alone leave out flags and expiry, which are not
 *   what a user searches by.
 * - response_result: the first response line (`STORED`, `VALUE foo 0 3`,
 *   `END` for a miss, `NOT_FOUND`, the new value of incr/decr, `HD`, …);
 *   attribute `memcached.hits`: values returned by a retrieval.
 * - response_status: ERROR and CLIENT_ERROR are client_error, SERVER_ERROR
 *   server_error, the rest ok — NOT_FOUND, NOT_STORED and EXISTS are
 *   outcomes the command asked about, like a miss (DeepFlow reports
 *   NOT_FOUND as unknown). response_exception: the error text.
 * - request_length: the declared data bytes of a storage command;
 *   response_length: the declared bytes of the values returned.
 * - `noreply` commands, quiet meta commands (`q` flag) and `quit` get no
 *   response by design: they are reported at once with status `unknown`
 *   (never as timeouts) and attribute `memcached.noreply`. Quiet meta
 *   commands do answer failures; such an answer then pairs with the next
 *   command (a limitation: pairing them needs the opaque token).
 */
import { newSession, type ConnectionParser, type Dir, type FeedFlags, type L7Session, type ParserContext } from '../types';

/** Keys shown in request_resource. */
export const MAX_KEYS = 16;
/** Tokens of a command line looked at (memcached allows 24 keys per get by default and more with a flag). */
const MAX_TOKENS = 64;
/** Characters kept of a response line or an error text. */
const MAX_TEXT = 256;

/** Reasons counted through `ctx.malformed` (a closed set). */
export const MEMCACHED_MALFORMED = {
  line: 'Memcached: line longer than the buffer limit',
  command: 'Memcached: not a command line',
  length: 'Memcached: bad data length',
  terminator: 'Memcached: data block not followed by CRLF',
  internal: 'Memcached: internal parser error',
} as const;

/** What ends the response to a command. */
enum Shape {
  /** One line (or a meta `VA` line and its data). */
  One,
  /** VALUE lines with data, then END. */
  Values,
  /** Any lines until END (stats, lru_crawler metadump). */
  Lines,
}

const STORAGE = new Set(['set', 'add', 'replace', 'append', 'prepend', 'cas']);
const RETRIEVAL = new Set(['get', 'gets', 'gat', 'gats']);
const KEYED = new Set(['delete', 'incr', 'decr', 'touch', 'mg', 'ms', 'md', 'ma', 'me']);
const KNOWN = new Set([
  ...STORAGE, ...RETRIEVAL, ...KEYED, 'stats', 'flush_all', 'version', 'verbosity', 'quit', 'shutdown', 'cache_memlimit',
  'lru_crawler', 'slabs', 'watch', 'lru', 'mn', 'misbehave', 'debugtime', 'extstore', 'verify_key',
]);

/** Whether a command name is one memcached knows (inference). */
export function isMemcachedCommand(c: string): boolean {
  return KNOWN.has(c);
}

interface Pending {
  session: L7Session;
  shape: Shape;
}

/** Streaming state of one direction. */
interface Side {
  /** Partial line bytes; grows on demand up to `lineCap`. */
  line: Uint8Array;
  lineLen: number;
  lineCap: number;
  /** Data block bytes still to skip. */
  skip: number;
  /** The next line must be the empty line after a data block. */
  terminator: boolean;
  /** Skipping to the next line after a gap or garbage. */
  resync: boolean;
  /** A message in progress. */
  inMsg: boolean;
  start: bigint;
  bytes: number;
}

function newSide(cap: number): Side {
  return { line: new Uint8Array(128), lineLen: 0, lineCap: Math.max(256, cap), skip: 0, terminator: false, resync: false, inMsg: false, start: 0n, bytes: 0 };
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

/** Token boundaries of the current line: [start0, end0, start1, end1, …]. */
const tok = new Int32Array(2 * MAX_TOKENS);
let tokCount = 0;
/** Tokens on the line beyond MAX_TOKENS. */
let tokExtra = 0;

function tokenize(b: Uint8Array, s: number, e: number): void {
  tokCount = 0;
  tokExtra = 0;
  let i = s;
  while (i < e) {
    while (i < e && b[i] === 0x20) i++;
    if (i >= e) break;
    const j0 = i;
    while (i < e && b[i] !== 0x20) i++;
    if (tokCount < MAX_TOKENS) {
      tok[2 * tokCount] = j0;
      tok[2 * tokCount + 1] = i;
      tokCount++;
    } else tokExtra++;
  }
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

function text(b: Uint8Array, s: number, e: number): string {
  return utf8(b, s, Math.min(e, s + MAX_TEXT));
}

function token(b: Uint8Array, i: number): string {
  return text(b, tok[2 * i], tok[2 * i + 1]);
}

/** Token `i` as a non-negative decimal, -1 when it is not one. */
function tokenNum(b: Uint8Array, i: number): number {
  if (i >= tokCount) return -1;
  const s = tok[2 * i];
  const e = tok[2 * i + 1];
  if (e - s > 15) return -1;
  let v = 0;
  for (let k = s; k < e; k++) {
    const c = b[k] - 0x30;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

function tokenIs(b: Uint8Array, i: number, word: string): boolean {
  if (i >= tokCount) return false;
  const s = tok[2 * i];
  if (tok[2 * i + 1] - s !== word.length) return false;
  for (let k = 0; k < word.length; k++) if (b[s + k] !== word.charCodeAt(k)) return false;
  return true;
}

/** Whether a meta command's flags (tokens from `from`) include the quiet flag `q`. */
function quietMeta(b: Uint8Array, from: number): boolean {
  for (let i = from; i < tokCount; i++) if (tok[2 * i + 1] - tok[2 * i] === 1 && b[tok[2 * i]] === 0x71) return true;
  return false;
}

/** Whether a line starts like a command word (lower-case letters and `_`). */
function isWord(b: Uint8Array, s: number, e: number): boolean {
  if (s >= e) return false;
  for (let i = s; i < e; i++) {
    const c = b[i];
    if (!((c >= 0x61 && c <= 0x7a) || c === 0x5f)) return false;
  }
  return true;
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

/** Parser of one memcached connection. */
export class MemcachedParser implements ConnectionParser {
  private readonly sides: [Side, Side];
  private pending: Pending[] = [];
  private head = 0;
  /** Request being read (a storage command waits for its data block). */
  private req: L7Session | undefined;
  private reqNoreply = false;
  private reqShape: Shape = Shape.One;
  /** The line being read was cut before its end (prefix capture). */
  private cutLine = false;
  /** Response being read. */
  private resp: L7Session | undefined;
  private respShape: Shape = Shape.One;
  private respHits = 0;
  private respValueBytes = 0;
  /** The response ends after the current data block (meta VA). */
  private respEndsAfterData = false;

  constructor(private readonly ctx: ParserContext) {
    const cap = ctx.options.maxBufferBytes;
    this.sides = [newSide(cap), newSide(cap)];
  }

  feed(dir: Dir, data: Uint8Array, timeNs: bigint, flags: FeedFlags): void {
    try {
      const side = this.sides[dir];
      if (flags.gap) {
        this.abort(dir, timeNs);
        side.resync = true;
      }
      this.consume(dir, side, data, timeNs);
      if (flags.messageLength !== undefined && flags.messageLength > data.length) {
        // The rest of what was written never arrives: end the message here.
        this.abort(dir, timeNs);
      }
    } catch {
      this.ctx.malformed(MEMCACHED_MALFORMED.internal);
      this.abort(0, timeNs);
      this.abort(1, timeNs);
    }
  }

  expire(nowNs: bigint): void {
    const timeout = this.ctx.options.requestTimeoutNs;
    while (this.head < this.pending.length && nowNs - this.pending[this.head].session.start_time >= timeout) {
      const s = this.shift().session;
      s.response_status = 'timeout';
      this.ctx.emit(s);
    }
  }

  close(nowNs: bigint): void {
    this.abort(0, nowNs);
    this.abort(1, nowNs);
    while (this.head < this.pending.length) {
      const s = this.shift().session;
      s.response_status = 'timeout';
      this.ctx.emit(s);
    }
  }

  private shift(): Pending {
    const p = this.pending[this.head++];
    if (this.head > 64 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
    return p;
  }

  /** Ends what is in progress in a direction as truncated and resets its stream state. */
  private abort(dir: Dir, timeNs: bigint): void {
    const side = this.sides[dir];
    if (dir === 0 && side.lineLen > 0 && side.skip === 0 && !side.terminator && !side.resync) {
      // A command line cut before its end: what arrived still names the command.
      const len = side.lineLen;
      side.lineLen = 0;
      this.cutLine = true;
      this.onLine(0, side, side.line, 0, len, timeNs);
      this.cutLine = false;
    }
    if (dir === 0 && this.req) {
      this.req.truncated = true;
      this.req.captured_request_bytes = side.bytes;
      this.finishRequest(timeNs);
    } else if (dir === 1 && this.resp) {
      this.resp.truncated = true;
      this.finishResponse(timeNs);
    }
    side.lineLen = 0;
    side.skip = 0;
    side.terminator = false;
    side.inMsg = false;
  }

  private consume(dir: Dir, side: Side, d: Uint8Array, t: bigint): void {
    const n = d.length;
    let p = 0;
    while (p < n) {
      if (side.skip > 0) {
        const k = Math.min(side.skip, n - p);
        side.skip -= k;
        side.bytes += k;
        p += k;
        if (side.skip > 0) return;
        side.terminator = true;
        continue;
      }
      const lf = nextLf(d, p, n);
      if (lf < 0) {
        if (side.resync) return;
        const k = n - p;
        if (!appendLine(side, d, p, n)) {
          this.ctx.malformed(MEMCACHED_MALFORMED.line);
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
        // Bytes lost: the next whole line is the first we trust.
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
          this.ctx.malformed(MEMCACHED_MALFORMED.line);
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
        if (dir === 0) this.finishRequest(t);
        else if (this.respEndsAfterData) this.finishResponse(t);
        return;
      }
      // The data block was not as long as declared; read this line afresh.
      this.ctx.malformed(MEMCACHED_MALFORMED.terminator);
      if (dir === 0 && this.req) {
        this.req.truncated = true;
        this.finishRequest(t);
        side.inMsg = true;
        side.start = t;
        side.bytes = e - s + 2;
      } else if (dir === 1 && this.resp) {
        this.resp.truncated = true;
        this.finishResponse(t);
        side.inMsg = true;
        side.start = t;
        side.bytes = e - s + 2;
      }
    }
    if (dir === 0) this.onRequestLine(side, b, s, e, t);
    else this.onResponseLine(side, b, s, e, t);
  }

  private onRequestLine(side: Side, b: Uint8Array, s: number, e: number, t: bigint): void {
    tokenize(b, s, e);
    if (tokCount === 0) {
      // Memcached answers an empty line with ERROR; nothing to report.
      side.inMsg = false;
      return;
    }
    if (!isWord(b, tok[0], tok[1]) || tok[1] - tok[0] > 32) {
      this.ctx.malformed(MEMCACHED_MALFORMED.command);
      side.inMsg = false;
      return;
    }
    const cmd = token(b, 0);
    const sess = newSession('Memcached', side.start);
    sess.request_type = cmd;
    let shape = Shape.One;
    let noreply = false;
    let dataLen = -1;
    let keysFrom = 1;
    let keysTo = 1;
    if (STORAGE.has(cmd)) {
      // <cmd> <key> <flags> <exptime> <bytes> [<cas unique>] [noreply]
      keysTo = 2;
      dataLen = tokenNum(b, 4);
      noreply = tokenIs(b, tokCount - 1, 'noreply') && tokCount > (cmd === 'cas' ? 6 : 5);
    } else if (RETRIEVAL.has(cmd)) {
      shape = Shape.Values;
      keysFrom = cmd === 'gat' || cmd === 'gats' ? 2 : 1;
      keysTo = tokCount;
    } else if (KEYED.has(cmd)) {
      keysTo = 2;
      if (cmd === 'ms') dataLen = tokenNum(b, 2);
      if (cmd.length === 2) noreply = quietMeta(b, 2);
      else noreply = tokenIs(b, tokCount - 1, 'noreply');
    } else if (cmd === 'stats') {
      shape = tokenIs(b, 1, 'detail') && tokenIs(b, 2, 'dump') ? Shape.One : Shape.Lines;
      sess.request_resource = tokCount > 1 ? token(b, 1) : '';
    } else if (cmd === 'lru_crawler' && tokenIs(b, 1, 'metadump')) {
      shape = Shape.Lines;
    } else if (cmd === 'quit') {
      noreply = true;
    } else {
      noreply = tokenIs(b, tokCount - 1, 'noreply');
    }
    if (keysTo > keysFrom) {
      let keys = '';
      const last = Math.min(keysTo, tokCount, keysFrom + MAX_KEYS);
      for (let i = keysFrom; i < last; i++) keys += (i === keysFrom ? '' : ' ') + token(b, i);
      if (keysTo - keysFrom > MAX_KEYS || (keysTo === tokCount && tokExtra > 0)) keys += ' ...';
      sess.request_resource = keys;
    }
    if (this.cutLine) sess.truncated = true;
    this.req = sess;
    this.reqNoreply = noreply;
    this.reqShape = shape;
    if (dataLen >= 0) {
      sess.request_length = dataLen;
      side.skip = dataLen;
      if (dataLen === 0) side.terminator = true;
      return;
    }
    if (STORAGE.has(cmd) || cmd === 'ms') this.ctx.malformed(MEMCACHED_MALFORMED.length);
    this.finishRequest(t);
  }

  private finishRequest(_t: bigint): void {
    const side = this.sides[0];
    const s = this.req;
    side.inMsg = false;
    if (!s) return;
    this.req = undefined;
    s.captured_request_bytes = side.bytes;
    if (this.reqNoreply) {
      // No response will come; that is not a failure.
      s.attributes['memcached.noreply'] = 'true';
      this.ctx.emit(s);
      return;
    }
    if (this.pending.length - this.head >= this.ctx.options.maxPendingRequests) {
      const old = this.shift().session;
      old.response_status = 'timeout';
      this.ctx.emit(old);
    }
    this.pending.push({ session: s, shape: this.reqShape });
  }

  private onResponseLine(side: Side, b: Uint8Array, s: number, e: number, t: bigint): void {
    if (!this.resp) {
      if (s === e) {
        side.inMsg = false;
        return;
      }
      const p = this.head < this.pending.length ? this.shift() : undefined;
      this.resp = p ? p.session : newSession('Memcached', side.start);
      this.respShape = p ? p.shape : this.shapeOfFirstLine(b, s, e);
      this.respHits = 0;
      this.respValueBytes = 0;
      this.respEndsAfterData = false;
      this.resp.response_result = tokenFirstIs(b, s, e, 'STAT') ? '' : text(b, s, e);
    }
    const r = this.resp;
    tokenize(b, s, e);
    if (tokCount === 0) return;
    if (tokenIs(b, 0, 'ERROR') || tokenIs(b, 0, 'CLIENT_ERROR') || tokenIs(b, 0, 'SERVER_ERROR')) {
      r.response_status = tokenIs(b, 0, 'SERVER_ERROR') ? 'server_error' : 'client_error';
      r.response_exception = tokCount > 1 ? text(b, tok[2], e) : token(b, 0);
      this.finishResponse(t);
      return;
    }
    if (tokenIs(b, 0, 'VALUE')) {
      // VALUE <key> <flags> <bytes> [<cas unique>]
      const n = tokenNum(b, 3);
      if (n < 0) {
        this.ctx.malformed(MEMCACHED_MALFORMED.length);
        this.finishResponse(t);
        return;
      }
      this.respHits++;
      this.respValueBytes += n;
      side.skip = n;
      if (n === 0) side.terminator = true;
      return;
    }
    if (tokenIs(b, 0, 'VA')) {
      // Meta: VA <size> <flags>*
      const n = tokenNum(b, 1);
      if (n < 0) {
        this.ctx.malformed(MEMCACHED_MALFORMED.length);
        this.finishResponse(t);
        return;
      }
      this.respHits++;
      this.respValueBytes += n;
      this.respEndsAfterData = true;
      side.skip = n;
      if (n === 0) side.terminator = true;
      return;
    }
    // Lines (stats) continue until END; anything else ends the response
    // (a retrieval answered by another line means pairing went astray).
    if (this.respShape !== Shape.Lines || tokenIs(b, 0, 'END')) this.finishResponse(t);
  }

  private shapeOfFirstLine(b: Uint8Array, s: number, e: number): Shape {
    if (tokenFirstIs(b, s, e, 'VALUE')) return Shape.Values;
    if (tokenFirstIs(b, s, e, 'STAT')) return Shape.Lines;
    return Shape.One;
  }

  private finishResponse(t: bigint): void {
    const side = this.sides[1];
    side.inMsg = false;
    const s = this.resp;
    if (!s) return;
    this.resp = undefined;
    if (s.response_status === 'unknown') s.response_status = 'ok';
    if (this.respShape === Shape.Values || this.respHits > 0) {
      s.attributes['memcached.hits'] = String(this.respHits);
      s.response_length = this.respValueBytes;
    }
    s.captured_response_bytes = side.bytes;
    s.end_time = t > s.start_time ? t : s.start_time;
    s.duration_ns = s.end_time - s.start_time;
    this.ctx.emit(s);
  }
}

function tokenFirstIs(b: Uint8Array, s: number, e: number, word: string): boolean {
  if (e - s < word.length) return false;
  for (let k = 0; k < word.length; k++) if (b[s + k] !== word.charCodeAt(k)) return false;
  return e - s === word.length || b[s + word.length] === 0x20;
}
