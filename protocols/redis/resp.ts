/**
 * A streaming reader of RESP2/RESP3 values (redis.io/docs/reference/protocol-spec)
 * for one direction of a connection.
 *
 * Bytes go through once: type lines are read (a partial line is kept, bounded
 * by the line cap), bulk payloads are skipped by their declared length and
 * only their first bytes kept when wanted, aggregates are counted on a small
 * fixed stack (no recursion, no per-value objects). Whole values are never
 * buffered, so a 500 MB reply costs no more memory than `PING`.
 *
 * Per message the reader keeps what the Redis parser needs: the top-level
 * type, its line text (status, error, integer), and the first
 * {@link RespReader.maxArgs} elements of a top-level aggregate (each cut to
 * {@link RespReader.argCap} bytes) — the command and its arguments of a
 * request, the kind and channel of a pub/sub push.
 *
 * RESP3 attributes (`|`) are read and dropped: they annotate the value that
 * follows and are not a reply themselves.
 */

import { lookupCommand, type CommandInfo } from './commands';

/** Deepest aggregate nesting followed; deeper is malformed (real replies nest a few levels). */
export const MAX_DEPTH = 64;
/** Bulk strings longer than this are malformed (Redis' proto-max-bulk-len tops at 512 MB by default; allow 4 GB). */
const MAX_BULK = 2 ** 32;

/** Where a reader reports. Implemented by the parser (no closures per message). */
export interface RespSink {
  /** A whole top-level value (or, when `truncated`, what arrived of it). */
  onRespValue(reader: RespReader, endTime: bigint, truncated: boolean): void;
  /**
   * Optional, asked once per request array when its first element (the
   * command) is complete: a bit mask of the element slots (1…31) whose
   * bytes will never be read (values the parser elides whatever they
   * hold). Those slots count as elements but keep no bytes.
   */
  argsToSkip?(reader: RespReader): number;
  /** Bytes that are not RESP; the reader resynchronises after it. */
  onRespMalformed(reason: string): void;
}

/** Reasons a reader reports (a closed set). */
export const RESP_MALFORMED = {
  type: 'Redis: unknown RESP type byte',
  number: 'Redis: bad length or integer line',
  line: 'Redis: line longer than the buffer limit',
  crlf: 'Redis: bulk string not followed by CRLF',
  depth: 'Redis: aggregates nested too deep',
} as const;

/** The byte that starts an inline command (anything that is not a RESP type). */
export const INLINE = 0;

function isTypeByte(c: number): boolean {
  // + - : $ * _ # , ( ! = % ~ > |
  return (
    c === 0x2b || c === 0x2d || c === 0x3a || c === 0x24 || c === 0x2a || c === 0x5f || c === 0x23 || c === 0x2c ||
    c === 0x28 || c === 0x21 || c === 0x3d || c === 0x25 || c === 0x7e || c === 0x3e || c === 0x7c
  );
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

/**
 * Copies `n` bytes; a loop for the short runs the reader keeps (arguments
 * of at most argCap bytes, 65 for requests and 256 for replies), which costs
 * less than the subarray view `set` needs.
 */
function copy(src: Uint8Array, s: number, n: number, dst: Uint8Array, o: number): void {
  if (n > 256) {
    dst.set(src.subarray(s, s + n), o);
    return;
  }
  for (let i = 0; i < n; i++) dst[o + i] = src[s + i];
}

/** Whether `b[s, e)` is a signed decimal of at most `max` digits. */
function isInteger(b: Uint8Array, s: number, e: number, max: number): boolean {
  if (s < e && (b[s] === 0x2d || b[s] === 0x2b)) s++;
  if (s === e || e - s > max) return false;
  for (let i = s; i < e; i++) if (b[i] < 0x30 || b[i] > 0x39) return false;
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

/** One direction's reader. Public fields describe the message just completed. */
export class RespReader {
  /** Elements of a top-level aggregate kept (the command and its first arguments). */
  readonly maxArgs: number;
  /** Bytes kept of each element. */
  readonly argCap: number;
  /** Kept element bytes: slot i at `i * argCap`. */
  readonly argBuf: Uint8Array;
  /** Bytes kept per slot. */
  readonly argLen: Int32Array;
  /** Declared length per slot (to tell a cut argument). */
  readonly argFull: Float64Array;
  /** Slots filled. */
  argCount = 0;
  /** Top-level elements (all, not only the kept ones). */
  elements = 0;
  /** Type byte of the top-level value ({@link INLINE} for an inline command). */
  topType = 0;
  /** Declared size of the top-level value: bulk length or element count (-1: null). */
  declared = 0;
  /**
   * Text of a top-level status (`+`) or error (`-`) line, cut to the line
   * cap; '' for every other type (the parser uses no other line's text, so
   * none is decoded).
   */
  text = '';
  /** Bytes of the message so far (line terminators and payloads included). */
  msgBytes = 0;
  /** Capture time of the message's first byte. */
  msgStart = 0n;
  /** Whether a message has started and not finished. */
  inMessage = false;
  /** Counts the messages started: tells whether a fact learnt during a message belongs to the current one. */
  msgSeq = 0;

  private readonly stack = new Float64Array(MAX_DEPTH);
  private readonly attr = new Uint8Array(MAX_DEPTH);
  private depth = 0;
  private topIndex = 0;
  private bulkLeft = 0;
  private crlfLeft = 0;
  private bulkSlot = -1;
  /** Partial line bytes; grows on demand up to `lineCap` (most lines are short). */
  private line: Uint8Array;
  private lineLen = 0;
  private readonly lineCap: number;
  private resync = false;
  /** Slots of the current message whose bytes are not kept (see {@link RespSink.argsToSkip}). */
  private skip = 0;

  constructor(
    private readonly sink: RespSink,
    /** Requests may be inline commands; replies never are. */
    readonly isRequest: boolean,
    lineCap: number,
    maxArgs: number,
    argCap: number,
  ) {
    this.lineCap = Math.max(64, lineCap);
    this.line = new Uint8Array(Math.min(256, this.lineCap));
    this.maxArgs = maxArgs;
    this.argCap = argCap;
    this.argBuf = new Uint8Array(maxArgs * argCap);
    this.argLen = new Int32Array(maxArgs);
    this.argFull = new Float64Array(maxArgs);
  }

  /** Whether the reader waits for a plausible message start. */
  get resynchronising(): boolean {
    return this.resync;
  }

  /** Bytes lost before the next chunk: finish what is in progress as truncated, then resynchronise. */
  gap(time: bigint): void {
    if (this.inMessage && this.msgBytes > 0) this.sink.onRespValue(this, time, true);
    this.reset();
    this.resync = true;
  }

  /** The message in progress will not get its remaining bytes (a prefix capture): finish it as truncated. */
  cut(time: bigint): void {
    if (this.inMessage && this.msgBytes > 0) this.sink.onRespValue(this, time, true);
    this.reset();
  }

  /** The kept bytes of element `i` as text. */
  arg(i: number): string {
    const base = i * this.argCap;
    return utf8(this.argBuf, base, base + this.argLen[i]);
  }

  /** Whether element `i` was longer than what was kept. */
  argCut(i: number): boolean {
    return this.argFull[i] > this.argLen[i];
  }

  /** The command table entry of element `i` (see {@link lookupCommand}), or undefined. */
  argCommand(i: number): CommandInfo | undefined {
    if (i >= this.argCount || this.argCut(i)) return undefined;
    return lookupCommand(this.argBuf, i * this.argCap, this.argLen[i]);
  }

  /** Whether element `i` is kept whole and all ASCII (then its text is its bytes). */
  argAscii(i: number): boolean {
    const base = i * this.argCap;
    const end = base + this.argLen[i];
    const b = this.argBuf;
    for (let k = base; k < end; k++) if (b[k] >= 0x80) return false;
    return true;
  }

  /** Element `i` upper-cased when it is a short ASCII word, else ''. */
  argUpper(i: number): string {
    const n = this.argLen[i];
    if (i >= this.argCount || n === 0 || n > 40 || this.argCut(i)) return '';
    const base = i * this.argCap;
    let out = '';
    for (let k = 0; k < n; k++) {
      let c = this.argBuf[base + k];
      if (c <= 0x20 || c >= 0x7f) return '';
      if (c >= 0x61 && c <= 0x7a) c -= 0x20;
      out += String.fromCharCode(c);
    }
    return out;
  }

  /** Feeds one chunk. Never throws on any bytes. */
  feed(d: Uint8Array, time: bigint): void {
    const n = d.length;
    let p = 0;
    if (this.resync) {
      p = this.syncPoint(d, 0);
      if (p < 0) return;
      this.resync = false;
    }
    while (p < n) {
      if (this.bulkLeft > 0 || this.crlfLeft > 0) {
        if (this.bulkLeft > 0) {
          const k = Math.min(this.bulkLeft, n - p);
          const slot = this.bulkSlot;
          if (slot >= 0) {
            const room = this.argCap - this.argLen[slot];
            if (room > 0) {
              const c = Math.min(room, k);
              copy(d, p, c, this.argBuf, slot * this.argCap + this.argLen[slot]);
              this.argLen[slot] += c;
            }
          }
          this.bulkLeft -= k;
          this.msgBytes += k;
          p += k;
          if (this.bulkLeft > 0) return;
        }
        let bad = false;
        while (this.crlfLeft > 0 && p < n) {
          if (d[p] !== (this.crlfLeft === 2 ? 13 : 10)) {
            bad = true;
            break;
          }
          this.crlfLeft--;
          this.msgBytes++;
          p++;
        }
        if (bad) {
          this.malformed(RESP_MALFORMED.crlf);
          p = this.syncPoint(d, p);
          if (p < 0) return;
          this.resync = false;
          continue;
        }
        if (this.crlfLeft > 0) return;
        this.valueDone(time);
        continue;
      }
      if (!this.inMessage) {
        this.inMessage = true;
        this.msgSeq++;
        this.msgStart = time;
        this.msgBytes = 0;
        this.argCount = 0;
        this.skip = 0;
        this.elements = 0;
        this.topIndex = 0;
        this.text = '';
        this.topType = 0;
        this.declared = 0;
      }
      const lf = nextLf(d, p, n);
      if (lf < 0) {
        const k = n - p;
        if (!this.appendLine(d, p, n)) {
          this.malformed(RESP_MALFORMED.line);
          return;
        }
        this.msgBytes += k;
        return;
      }
      this.msgBytes += lf + 1 - p;
      let ok: boolean;
      if (this.lineLen > 0) {
        if (!this.appendLine(d, p, lf)) {
          this.malformed(RESP_MALFORMED.line);
          return;
        }
        const len = this.lineLen;
        this.lineLen = 0;
        ok = this.onLine(this.line, 0, len, time);
      } else {
        ok = this.onLine(d, p, lf, time);
      }
      p = lf + 1;
      if (!ok) {
        // Not RESP: look for the next plausible message in the rest of the chunk.
        p = this.syncPoint(d, p);
        if (p < 0) return;
        this.resync = false;
      }
    }
  }

  /** Appends `d[s, e)` to the partial line, growing it up to the cap; false when it would exceed the cap. */
  private appendLine(d: Uint8Array, s: number, e: number): boolean {
    const need = this.lineLen + (e - s);
    if (need > this.lineCap) return false;
    if (need > this.line.length) {
      const grown = new Uint8Array(Math.min(this.lineCap, Math.max(need, 2 * this.line.length)));
      grown.set(this.line.subarray(0, this.lineLen));
      this.line = grown;
    }
    this.line.set(d.subarray(s, e), this.lineLen);
    this.lineLen = need;
    return true;
  }

  private reset(): void {
    this.depth = 0;
    this.bulkLeft = 0;
    this.crlfLeft = 0;
    this.bulkSlot = -1;
    this.lineLen = 0;
    this.inMessage = false;
  }

  private malformed(reason: string): void {
    this.sink.onRespMalformed(reason);
    this.reset();
    this.resync = true;
  }

  /**
   * Where a message plausibly starts in a chunk read after a gap or garbage:
   * at the chunk start or right after a line end, a request array (`*<n>`)
   * for requests, any type byte with a line end for replies. -1: none.
   */
  private syncPoint(d: Uint8Array, from: number): number {
    let p = from;
    while (p < d.length) {
      const c = d[p];
      const next = p + 1 < d.length ? d[p + 1] : -1;
      if (this.isRequest) {
        if (c === 0x2a && next >= 0x30 && next <= 0x39) return p;
      } else if (isTypeByte(c) && next >= 0x20 && d.indexOf(10, p) > 0) return p;
      const lf = d.indexOf(10, p);
      if (lf < 0) return -1;
      p = lf + 1;
    }
    return -1;
  }

  /** Parses a signed decimal in `b[s, e)`; NaN when not one. */
  private num(b: Uint8Array, s: number, e: number): number {
    let i = s;
    let neg = false;
    if (i < e && (b[i] === 0x2d || b[i] === 0x2b)) {
      neg = b[i] === 0x2d;
      i++;
    }
    if (i === e || e - i > 15) return NaN;
    let v = 0;
    for (; i < e; i++) {
      const c = b[i] - 0x30;
      if (c < 0 || c > 9) return NaN;
      v = v * 10 + c;
    }
    return neg ? -v : v;
  }

  /** The slot a value starting now is kept in, or -1. */
  private slotForElement(): number {
    if (this.depth === 1 && this.attr[0] === 0 && this.topIndex < this.maxArgs) {
      const slot = this.topIndex;
      this.argLen[slot] = 0;
      this.argFull[slot] = 0;
      this.argCount = slot + 1;
      if (slot === 1 && this.isRequest && this.sink.argsToSkip !== undefined) this.skip = this.sink.argsToSkip(this);
      if (slot < 32 && ((this.skip >>> slot) & 1) === 1) return -1;
      return slot;
    }
    return -1;
  }

  private keep(slot: number, b: Uint8Array, s: number, e: number): void {
    const c = Math.min(this.argCap, e - s);
    copy(b, s, c, this.argBuf, slot * this.argCap);
    this.argLen[slot] = c;
    this.argFull[slot] = e - s;
  }

  private onLine(b: Uint8Array, s: number, e: number, time: bigint): boolean {
    if (e > s && b[e - 1] === 13) e--;
    if (s === e) {
      // An empty line between messages is an empty inline command: Redis skips it.
      if (this.depth === 0 && this.isRequest) {
        this.inMessage = false;
        return true;
      }
      this.malformed(RESP_MALFORMED.type);
      return false;
    }
    const t = b[s];
    const top = this.depth === 0;
    switch (t) {
      case 0x2a: // * array
      case 0x7e: // ~ set
      case 0x3e: // > push
      case 0x25: // % map
      case 0x7c: {
        // | attribute
        const v = this.num(b, s + 1, e);
        if (Number.isNaN(v) || v > 2 ** 31) {
          this.malformed(RESP_MALFORMED.number);
          return false;
        }
        if (t === 0x7c) {
          if (v <= 0) return true; // an empty attribute annotates nothing
          return this.push(2 * v, 1);
        }
        if (top) {
          this.topType = t;
          this.declared = v;
        } else this.slotForElement();
        if (v <= 0) {
          this.valueDone(time);
          return true;
        }
        return this.push(t === 0x25 ? 2 * v : v, 0);
      }
      case 0x24: // $ bulk string
      case 0x3d: // = verbatim string
      case 0x21: {
        // ! bulk error
        const v = this.num(b, s + 1, e);
        if (Number.isNaN(v) || v > MAX_BULK) {
          this.malformed(RESP_MALFORMED.number);
          return false;
        }
        let slot = -1;
        if (top) {
          this.topType = t;
          this.declared = v;
          // A bulk reply is kept only when it is an error: values are data.
          if (t === 0x21 && v > 0) {
            slot = 0;
            this.argLen[0] = 0;
            this.argFull[0] = v;
            this.argCount = 1;
          }
        } else {
          slot = this.slotForElement();
          if (slot >= 0) this.argFull[slot] = Math.max(0, v);
        }
        if (v < 0) {
          // RESP2 null bulk string.
          this.valueDone(time);
          return true;
        }
        this.bulkLeft = v;
        this.crlfLeft = 2;
        this.bulkSlot = slot;
        return true;
      }
      case 0x2b: // + simple string
      case 0x2d: // - simple error
      case 0x3a: // : integer
      case 0x5f: // _ null
      case 0x23: // # boolean
      case 0x2c: // , double
      case 0x28: {
        // ( big number
        if ((t === 0x3a || t === 0x28) && !isInteger(b, s + 1, e, t === 0x3a ? 20 : this.line.length)) {
          this.malformed(RESP_MALFORMED.number);
          return false;
        }
        if (top) {
          this.topType = t;
          if (t === 0x2b || t === 0x2d) {
            const te = Math.min(e, s + 1 + this.lineCap);
            // `+OK`, by far the most common status, without a string per reply.
            this.text = te - s === 3 && t === 0x2b && b[s + 1] === 0x4f && b[s + 2] === 0x4b ? 'OK' : utf8(b, s + 1, te);
          }
        } else {
          const slot = this.slotForElement();
          if (slot >= 0) this.keep(slot, b, s + 1, e);
        }
        this.valueDone(time);
        return true;
      }
      default:
        if (top && this.isRequest) {
          this.inline(b, s, e);
          this.valueDone(time);
          return true;
        }
        this.malformed(RESP_MALFORMED.type);
        return false;
    }
  }

  /** An inline command: words split on blanks, double quotes stripped. */
  private inline(b: Uint8Array, s: number, e: number): void {
    this.topType = INLINE;
    let i = s;
    let count = 0;
    while (i < e) {
      while (i < e && (b[i] === 0x20 || b[i] === 0x09)) i++;
      if (i >= e) break;
      let j = i;
      if (b[i] === 0x22) {
        j = i + 1;
        while (j < e && b[j] !== 0x22) j++;
        if (count < this.maxArgs) this.keep(count, b, i + 1, j);
        j++;
      } else {
        while (j < e && b[j] !== 0x20 && b[j] !== 0x09) j++;
        if (count < this.maxArgs) this.keep(count, b, i, j);
      }
      count++;
      i = j;
    }
    this.argCount = Math.min(count, this.maxArgs);
    this.elements = count;
    this.declared = count;
  }

  private push(count: number, isAttr: number): boolean {
    if (this.depth >= MAX_DEPTH) {
      this.malformed(RESP_MALFORMED.depth);
      return false;
    }
    this.stack[this.depth] = count;
    this.attr[this.depth] = isAttr;
    this.depth++;
    return true;
  }

  /** A value ended: count it in its aggregate, close finished aggregates, finish the message at the top. */
  private valueDone(time: bigint): void {
    this.bulkSlot = -1;
    for (;;) {
      if (this.depth === 0) {
        this.inMessage = false;
        this.sink.onRespValue(this, time, false);
        return;
      }
      const d = this.depth - 1;
      this.stack[d]--;
      if (d === 0 && this.attr[0] === 0) {
        this.topIndex++;
        this.elements = this.topIndex;
      }
      if (this.stack[d] > 0) return;
      this.depth--;
      // A finished attribute is not a value: the one it annotates follows.
      if (this.attr[d] === 1) return;
    }
  }
}
