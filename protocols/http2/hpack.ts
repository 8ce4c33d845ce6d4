/**
 * HPACK (RFC 7541) header decoding for the HTTP/2 parser: integers, string
 * literals (raw or Huffman-coded), the static table, and a dynamic table per
 * decoding context with size updates and eviction.
 *
 * The decoder is built for passive observation rather than for an endpoint:
 * - it never throws; a block it cannot decode is reported as an error code
 *   and whatever was decoded before the error is kept;
 * - a capture may start mid-connection, after entries were inserted that we
 *   never saw: a reference to an index we do not have yields the header name
 *   `''` (unknown) instead of failing the block, and literals that were
 *   inserted with an unknown name still occupy table space so that later
 *   indexes stay aligned as far as possible;
 * - decoded headers land in two reusable arrays (`names`, `values`) instead of
 *   a callback or a fresh array per block.
 *
 * The static table (Appendix A) and the Huffman code (Appendix B) are typed in
 * from the RFC as data; the Huffman decoding automaton is derived from that
 * code table when the module loads.
 */

/** The static table of RFC 7541 Appendix A: index i (1-based) is at [i - 1]. */
export const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/**
 * The Huffman code of RFC 7541 Appendix B: for symbol s (0–255, and 256 =
 * EOS), the code aligned to the least significant bit is at [2s] and its
 * length in bits at [2s + 1].
 */
export const HUFFMAN_CODES: readonly number[] = [
  // 0–15
  0x1ff8, 13, 0x7fffd8, 23, 0xfffffe2, 28, 0xfffffe3, 28, 0xfffffe4, 28, 0xfffffe5, 28, 0xfffffe6, 28, 0xfffffe7, 28,
  0xfffffe8, 28, 0xffffea, 24, 0x3ffffffc, 30, 0xfffffe9, 28, 0xfffffea, 28, 0x3ffffffd, 30, 0xfffffeb, 28, 0xfffffec, 28,
  // 16–31
  0xfffffed, 28, 0xfffffee, 28, 0xfffffef, 28, 0xffffff0, 28, 0xffffff1, 28, 0xffffff2, 28, 0x3ffffffe, 30, 0xffffff3, 28,
  0xffffff4, 28, 0xffffff5, 28, 0xffffff6, 28, 0xffffff7, 28, 0xffffff8, 28, 0xffffff9, 28, 0xffffffa, 28, 0xffffffb, 28,
  // 32–47: ' ' ! " # $ % & ' ( ) * + , - . /
  0x14, 6, 0x3f8, 10, 0x3f9, 10, 0xffa, 12, 0x1ff9, 13, 0x15, 6, 0xf8, 8, 0x7fa, 11,
  0x3fa, 10, 0x3fb, 10, 0xf9, 8, 0x7fb, 11, 0xfa, 8, 0x16, 6, 0x17, 6, 0x18, 6,
  // 48–63: 0–9 : ; < = > ?
  0x0, 5, 0x1, 5, 0x2, 5, 0x19, 6, 0x1a, 6, 0x1b, 6, 0x1c, 6, 0x1d, 6,
  0x1e, 6, 0x1f, 6, 0x5c, 7, 0xfb, 8, 0x7ffc, 15, 0x20, 6, 0xffb, 12, 0x3fc, 10,
  // 64–79: @ A–O
  0x1ffa, 13, 0x21, 6, 0x5d, 7, 0x5e, 7, 0x5f, 7, 0x60, 7, 0x61, 7, 0x62, 7,
  0x63, 7, 0x64, 7, 0x65, 7, 0x66, 7, 0x67, 7, 0x68, 7, 0x69, 7, 0x6a, 7,
  // 80–95: P–Z [ \ ] ^ _
  0x6b, 7, 0x6c, 7, 0x6d, 7, 0x6e, 7, 0x6f, 7, 0x70, 7, 0x71, 7, 0x72, 7,
  0xfc, 8, 0x73, 7, 0xfd, 8, 0x1ffb, 13, 0x7fff0, 19, 0x1ffc, 13, 0x3ffc, 14, 0x22, 6,
  // 96–111: ` a–o
  0x7ffd, 15, 0x3, 5, 0x23, 6, 0x4, 5, 0x24, 6, 0x5, 5, 0x25, 6, 0x26, 6,
  0x27, 6, 0x6, 5, 0x74, 7, 0x75, 7, 0x28, 6, 0x29, 6, 0x2a, 6, 0x7, 5,
  // 112–127: p–z { | } ~ DEL
  0x2b, 6, 0x76, 7, 0x2c, 6, 0x8, 5, 0x9, 5, 0x2d, 6, 0x77, 7, 0x78, 7,
  0x79, 7, 0x7a, 7, 0x7b, 7, 0x7ffe, 15, 0x7fc, 11, 0x3ffd, 14, 0x1ffd, 13, 0xffffffc, 28,
  // 128–143
  0xfffe6, 20, 0x3fffd2, 22, 0xfffe7, 20, 0xfffe8, 20, 0x3fffd3, 22, 0x3fffd4, 22, 0x3fffd5, 22, 0x7fffd9, 23,
  0x3fffd6, 22, 0x7fffda, 23, 0x7fffdb, 23, 0x7fffdc, 23, 0x7fffdd, 23, 0x7fffde, 23, 0xffffeb, 24, 0x7fffdf, 23,
  // 144–159
  0xffffec, 24, 0xffffed, 24, 0x3fffd7, 22, 0x7fffe0, 23, 0xffffee, 24, 0x7fffe1, 23, 0x7fffe2, 23, 0x7fffe3, 23,
  0x7fffe4, 23, 0x1fffdc, 21, 0x3fffd8, 22, 0x7fffe5, 23, 0x3fffd9, 22, 0x7fffe6, 23, 0x7fffe7, 23, 0xffffef, 24,
  // 160–175
  0x3fffda, 22, 0x1fffdd, 21, 0xfffe9, 20, 0x3fffdb, 22, 0x3fffdc, 22, 0x7fffe8, 23, 0x7fffe9, 23, 0x1fffde, 21,
  0x7fffea, 23, 0x3fffdd, 22, 0x3fffde, 22, 0xfffff0, 24, 0x1fffdf, 21, 0x3fffdf, 22, 0x7fffeb, 23, 0x7fffec, 23,
  // 176–191
  0x1fffe0, 21, 0x1fffe1, 21, 0x3fffe0, 22, 0x1fffe2, 21, 0x7fffed, 23, 0x3fffe1, 22, 0x7fffee, 23, 0x7fffef, 23,
  0xfffea, 20, 0x3fffe2, 22, 0x3fffe3, 22, 0x3fffe4, 22, 0x7ffff0, 23, 0x3fffe5, 22, 0x3fffe6, 22, 0x7ffff1, 23,
  // 192–207
  0x3ffffe0, 26, 0x3ffffe1, 26, 0xfffeb, 20, 0x7fff1, 19, 0x3fffe7, 22, 0x7ffff2, 23, 0x3fffe8, 22, 0x1ffffec, 25,
  0x3ffffe2, 26, 0x3ffffe3, 26, 0x3ffffe4, 26, 0x7ffffde, 27, 0x7ffffdf, 27, 0x3ffffe5, 26, 0xfffff1, 24, 0x1ffffed, 25,
  // 208–223
  0x7fff2, 19, 0x1fffe3, 21, 0x3ffffe6, 26, 0x7ffffe0, 27, 0x7ffffe1, 27, 0x3ffffe7, 26, 0x7ffffe2, 27, 0xfffff2, 24,
  0x1fffe4, 21, 0x1fffe5, 21, 0x3ffffe8, 26, 0x3ffffe9, 26, 0xffffffd, 28, 0x7ffffe3, 27, 0x7ffffe4, 27, 0x7ffffe5, 27,
  // 224–239
  0xfffec, 20, 0xfffff3, 24, 0xfffed, 20, 0x1fffe6, 21, 0x3fffe9, 22, 0x1fffe7, 21, 0x1fffe8, 21, 0x7ffff3, 23,
  0x3fffea, 22, 0x3fffeb, 22, 0x1ffffee, 25, 0x1ffffef, 25, 0xfffff4, 24, 0xfffff5, 24, 0x3ffffea, 26, 0x7ffff4, 23,
  // 240–255
  0x3ffffeb, 26, 0x7ffffe6, 27, 0x3ffffec, 26, 0x3ffffed, 26, 0x7ffffe7, 27, 0x7ffffe8, 27, 0x7ffffe9, 27, 0x7ffffea, 27,
  0x7ffffeb, 27, 0xffffffe, 28, 0x7ffffec, 27, 0x7ffffed, 27, 0x7ffffee, 27, 0x7ffffef, 27, 0x7fffff0, 27, 0x3ffffee, 26,
  // 256: EOS
  0x3fffffff, 30,
];

/*
 * Huffman decoding automaton, four bits at a time. States are the internal
 * nodes of the code tree (node 0 is the root). For each state and nibble,
 * HUFF_NEXT holds the state reached after consuming the four bits and
 * HUFF_EMIT the symbol completed on the way (-1 none, 256 = EOS, which is a
 * decoding error). No symbol is shorter than five bits, so at most one symbol
 * completes per nibble. HUFF_ACCEPT marks states where the input may end: the
 * bits consumed since the last symbol are all ones and fewer than eight
 * (RFC 7541 §5.2 padding).
 */
const HUFF_NODES = 256;
const HUFF_NEXT = new Uint8Array(HUFF_NODES * 16);
const HUFF_EMIT = new Int16Array(HUFF_NODES * 16);
const HUFF_ACCEPT = new Uint8Array(HUFF_NODES);

function buildHuffman(): void {
  // Tree: child[node * 2 + bit] = next internal node, or -(symbol + 1) for a leaf.
  const child = new Int32Array(HUFF_NODES * 2);
  let nodes = 1;
  for (let sym = 0; sym <= 256; sym++) {
    const code = HUFFMAN_CODES[sym * 2];
    const len = HUFFMAN_CODES[sym * 2 + 1];
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = (code >>> i) & 1;
      const slot = node * 2 + bit;
      if (i === 0) {
        if (child[slot] !== 0) throw new Error(`HPACK Huffman table: code of symbol ${sym} collides`);
        child[slot] = -(sym + 1);
      } else {
        if (child[slot] < 0) throw new Error(`HPACK Huffman table: code of symbol ${sym} is not prefix-free`);
        if (child[slot] === 0) {
          if (nodes >= HUFF_NODES) throw new Error('HPACK Huffman table: too many nodes');
          child[slot] = nodes++;
        }
        node = child[slot];
      }
    }
  }
  // Depth and all-ones property of each internal node, for padding acceptance.
  const depth = new Int32Array(HUFF_NODES).fill(-1);
  const ones = new Uint8Array(HUFF_NODES);
  depth[0] = 0;
  ones[0] = 1;
  for (let n = 0; n < nodes; n++) {
    for (let bit = 0; bit < 2; bit++) {
      const c = child[n * 2 + bit];
      if (c > 0) {
        depth[c] = depth[n] + 1;
        ones[c] = ones[n] && bit === 1 ? 1 : 0;
      }
    }
  }
  for (let n = 0; n < nodes; n++) HUFF_ACCEPT[n] = ones[n] && depth[n] < 8 ? 1 : 0;
  for (let n = 0; n < nodes; n++) {
    for (let nib = 0; nib < 16; nib++) {
      let node = n;
      let emit = -1;
      for (let i = 3; i >= 0; i--) {
        const c = child[node * 2 + ((nib >> i) & 1)];
        if (c < 0) {
          // A second symbol in one nibble cannot happen (codes are ≥ 5 bits).
          emit = -c - 1;
          node = 0;
        } else {
          node = c;
        }
      }
      HUFF_NEXT[n * 16 + nib] = node;
      HUFF_EMIT[n * 16 + nib] = emit;
    }
  }
}

buildHuffman();

/**
 * Decodes `src[start, end)` as a Huffman-coded string into `out` from offset
 * 0. Returns the number of octets written, or -1 when the input is invalid
 * (EOS inside, padding longer than seven bits or not all ones) or `out` is too
 * small.
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number, out: Uint8Array): number {
  let state = 0;
  let n = 0;
  const cap = out.length;
  for (let i = start; i < end; i++) {
    const b = src[i];
    let t = state * 16 + (b >> 4);
    let sym = HUFF_EMIT[t];
    state = HUFF_NEXT[t];
    if (sym >= 0) {
      if (sym === 256 || n >= cap) return -1;
      out[n++] = sym;
    }
    t = state * 16 + (b & 15);
    sym = HUFF_EMIT[t];
    state = HUFF_NEXT[t];
    if (sym >= 0) {
      if (sym === 256 || n >= cap) return -1;
      out[n++] = sym;
    }
  }
  return HUFF_ACCEPT[state] ? n : -1;
}

/** Why a header block could not be decoded completely. */
export type HpackError = '' | 'truncated' | 'bad-integer' | 'bad-huffman' | 'too-long' | 'zero-index' | 'table-size' | 'too-many-headers';

/** Most headers one block may yield; beyond it the rest of the block is ignored. */
export const MAX_HEADERS_PER_BLOCK = 256;
/** The dynamic table size a decoder starts with (SETTINGS_HEADER_TABLE_SIZE default). */
export const DEFAULT_TABLE_SIZE = 4096;
/** The largest dynamic table a size update may ask for: a memory bound, not a protocol limit. */
export const MAX_TABLE_SIZE = 1 << 20;
/** The longest string literal decoded; longer ones make the block fail (memory bound). */
export const MAX_STRING_LENGTH = 1 << 20;

/**
 * One HPACK decoding context (one direction of one connection).
 *
 * After {@link decode}, `names[0..count)` and `values[0..count)` hold the
 * header list; a name of `''` marks a header whose name came from a dynamic
 * table entry we never saw (capture started mid-connection).
 */
export class HpackDecoder {
  /** Decoded header names of the last block (reused). */
  readonly names: string[] = [];
  /** Decoded header values of the last block (reused). */
  readonly values: string[] = [];
  /** Headers in the last block. */
  count = 0;
  /** References to dynamic entries we do not have, since creation (mid-connection start or lost blocks). */
  unknownReferences = 0;
  /** References to dynamic entries we do not have, in the last block. */
  blockUnknown = 0;

  // Dynamic table as a ring: the newest entry is at (head - 1), index 62 of the HPACK address space.
  // Small at first (a parser per connection, most with few entries); grows by doubling.
  private tNames: string[] = new Array(16);
  private tValues: string[] = new Array(16);
  private tSizes = new Int32Array(16);
  private head = 0;
  private len = 0;
  private size = 0;
  private maxSize = DEFAULT_TABLE_SIZE;
  // Huffman output, allocated on the first Huffman-coded string.
  private scratch: Buffer | null = null;
  // Set by readString: the end offset of the literal just read.
  private strEnd = 0;
  // Set by readInt: the end offset of the integer just read.
  private intEnd = 0;
  // Set by readString when it returns null.
  private strError: HpackError = '';

  private fail(e: HpackError): null {
    this.strError = e;
    return null;
  }

  /** Current dynamic table size in octets (RFC 7541 §4.1). */
  get tableSize(): number {
    return this.size;
  }

  /** Current maximum dynamic table size. */
  get tableMaxSize(): number {
    return this.maxSize;
  }

  /** Entries in the dynamic table. */
  get tableLength(): number {
    return this.len;
  }

  /** The dynamic entry at HPACK index `62 + i` (i = 0 is the newest), or undefined. */
  dynamicEntry(i: number): [string, string] | undefined {
    if (i < 0 || i >= this.len) return undefined;
    const slot = (this.head - 1 - i) & (this.tSizes.length - 1);
    return [this.tNames[slot], this.tValues[slot]];
  }

  /**
   * Decodes one complete header block. Returns '' on success or the reason
   * it stopped; headers decoded before the stop are in `names`/`values`.
   */
  decode(src: Uint8Array, start: number, end: number): HpackError {
    this.count = 0;
    this.blockUnknown = 0;
    let p = start;
    while (p < end) {
      const b = src[p];
      if (b & 0x80) {
        // Indexed header field (§6.1).
        const idx = this.readInt(src, p, end, 7);
        if (idx < 0) return 'bad-integer';
        p = this.intEnd;
        if (idx === 0) return 'zero-index';
        if (!this.pushIndexed(idx)) return 'too-many-headers';
      } else if ((b & 0xe0) === 0x20) {
        // Dynamic table size update (§6.3).
        const sz = this.readInt(src, p, end, 5);
        if (sz < 0) return 'bad-integer';
        p = this.intEnd;
        if (sz > MAX_TABLE_SIZE) return 'table-size';
        this.maxSize = sz;
        this.evict(0);
      } else {
        // Literal: with incremental indexing (01xxxxxx, 6-bit index), without
        // (0000xxxx) or never indexed (0001xxxx), both with a 4-bit index.
        const indexing = (b & 0xc0) === 0x40;
        const idx = this.readInt(src, p, end, indexing ? 6 : 4);
        if (idx < 0) return 'bad-integer';
        p = this.intEnd;
        let name: string;
        if (idx === 0) {
          const r = this.readString(src, p, end);
          if (r === null) return this.strError;
          name = r;
          p = this.strEnd;
        } else {
          name = this.nameAt(idx);
        }
        const value = this.readString(src, p, end);
        if (value === null) return this.strError;
        p = this.strEnd;
        if (indexing) this.insert(name, value);
        if (this.count >= MAX_HEADERS_PER_BLOCK) return 'too-many-headers';
        this.names[this.count] = name;
        this.values[this.count] = value;
        this.count++;
      }
    }
    return '';
  }

  /**
   * Sets the maximum table size without a size update in the block, as when
   * SETTINGS_HEADER_TABLE_SIZE is known (RFC 7541 Appendix C.5 assumes 256).
   * The parser does not call it: a decoder whose table is larger than the
   * encoder's still resolves every index the encoder can send, so keeping the
   * default (or what size updates say) is the safe choice.
   */
  setMaxTableSize(size: number): void {
    this.maxSize = Math.max(0, Math.min(size, MAX_TABLE_SIZE));
    this.evict(0);
  }

  /** Forgets the dynamic table (used when a block was lost and the table can no longer be trusted). */
  reset(): void {
    this.head = 0;
    this.len = 0;
    this.size = 0;
  }

  private pushIndexed(idx: number): boolean {
    if (this.count >= MAX_HEADERS_PER_BLOCK) return false;
    if (idx <= STATIC_TABLE.length) {
      const e = STATIC_TABLE[idx - 1];
      this.names[this.count] = e[0];
      this.values[this.count] = e[1];
    } else {
      const i = idx - STATIC_TABLE.length - 1;
      if (i < this.len) {
        const slot = (this.head - 1 - i) & (this.tSizes.length - 1);
        this.names[this.count] = this.tNames[slot];
        this.values[this.count] = this.tValues[slot];
      } else {
        this.unknownReferences++;
        this.blockUnknown++;
        this.names[this.count] = '';
        this.values[this.count] = '';
      }
    }
    this.count++;
    return true;
  }

  private nameAt(idx: number): string {
    if (idx <= STATIC_TABLE.length) return STATIC_TABLE[idx - 1][0];
    const i = idx - STATIC_TABLE.length - 1;
    if (i < this.len) return this.tNames[(this.head - 1 - i) & (this.tSizes.length - 1)];
    this.unknownReferences++;
    this.blockUnknown++;
    return '';
  }

  /**
   * Inserts an entry (§4.4). An entry whose name we could not resolve still
   * takes its value's space (its name's length is unknown, counted as 0) so
   * that the table's indexes stay as close to the encoder's as we can.
   */
  private insert(name: string, value: string): void {
    const entrySize = name.length + value.length + 32;
    if (entrySize > this.maxSize) {
      // An entry larger than the table empties it and is not added.
      this.evict(this.maxSize + 1);
      return;
    }
    this.evict(entrySize);
    if (this.len === this.tSizes.length) this.grow();
    const mask = this.tSizes.length - 1;
    const slot = this.head & mask;
    this.tNames[slot] = name;
    this.tValues[slot] = value;
    this.tSizes[slot] = entrySize;
    this.head = (this.head + 1) & mask;
    this.len++;
    this.size += entrySize;
  }

  /** Evicts oldest entries until `incoming` more octets fit under maxSize. */
  private evict(incoming: number): void {
    const mask = this.tSizes.length - 1;
    while (this.len > 0 && this.size + incoming > this.maxSize) {
      const oldest = (this.head - this.len) & mask;
      this.size -= this.tSizes[oldest];
      this.tNames[oldest] = '';
      this.tValues[oldest] = '';
      this.len--;
    }
    if (this.len === 0) this.size = 0;
  }

  private grow(): void {
    const oldCap = this.tSizes.length;
    const cap = oldCap * 2;
    const names: string[] = new Array(cap);
    const values: string[] = new Array(cap);
    const sizes = new Int32Array(cap);
    for (let i = 0; i < this.len; i++) {
      const from = (this.head - this.len + i) & (oldCap - 1);
      names[i] = this.tNames[from];
      values[i] = this.tValues[from];
      sizes[i] = this.tSizes[from];
    }
    this.tNames = names;
    this.tValues = values;
    this.tSizes = sizes;
    this.head = this.len & (cap - 1);
  }

  /** Reads a prefix-coded integer (§5.1) at `p`; returns it (end in intEnd) or -1. */
  private readInt(src: Uint8Array, p: number, end: number, prefixBits: number): number {
    const max = (1 << prefixBits) - 1;
    let v = src[p] & max;
    p++;
    if (v < max) {
      this.intEnd = p;
      return v;
    }
    let m = 1;
    for (;;) {
      if (p >= end) return -1;
      const b = src[p++];
      v += (b & 0x7f) * m;
      if ((b & 0x80) === 0) break;
      m *= 128;
      // Integers past 2^28 are never legitimate here (lengths, indexes, sizes).
      if (m > 2 ** 28) return -1;
    }
    this.intEnd = p;
    return v;
  }

  /** Reads a string literal (§5.2) at `p`; returns it (end in strEnd), or null (reason in strError). */
  private readString(src: Uint8Array, p: number, end: number): string | null {
    if (p >= end) return this.fail('truncated');
    const huffman = (src[p] & 0x80) !== 0;
    const len = this.readInt(src, p, end, 7);
    if (len < 0) return this.fail('bad-integer');
    p = this.intEnd;
    if (len > MAX_STRING_LENGTH) return this.fail('too-long');
    if (len > end - p) return this.fail('truncated');
    this.strEnd = p + len;
    if (!huffman) return latin1(src, p, p + len);
    // Huffman output is at most 8/5 of the input.
    const need = Math.ceil((len * 8) / 5) + 1;
    let out = this.scratch;
    if (out === null || out.length < need) this.scratch = out = Buffer.allocUnsafe(Math.max(need, 256, out === null ? 0 : out.length * 2));
    const n = huffmanDecode(src, p, p + len, out);
    if (n < 0) return this.fail('bad-huffman');
    return latin1(out, 0, n);
  }
}

/**
 * Node's own Latin-1 slicer, called on any Uint8Array: what
 * `buf.toString('latin1', s, e)` runs underneath, without the Buffer view
 * and argument handling around it.
 */
const LATIN1_SLICE = (Buffer.prototype as unknown as { latin1Slice: (this: Uint8Array, start: number, end: number) => string }).latin1Slice;

/**
 * Bytes as a Latin-1 string (HTTP field octets map one to one). Bounds are
 * clamped as `buf.toString('latin1', start, end)` clamps them.
 */
export function latin1(src: Uint8Array, start: number, end: number): string {
  if (start < 0) start = 0;
  if (end > src.length) end = src.length;
  if (start >= end) return '';
  return LATIN1_SLICE.call(src, start, end);
}
