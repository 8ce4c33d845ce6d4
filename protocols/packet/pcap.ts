/**
 * Reading capture files: classic pcap and pcapng.
 *
 * Contract:
 * - Formats: pcap with microsecond (`a1b2c3d4`) or nanosecond (`a1b23c4d`)
 *   timestamps and the "modified" Kuznetsov variant (`a1b2cd34`, 24-byte
 *   record headers), in either byte order; pcapng with any number of sections
 *   (each with its own byte order) and interfaces (each with its own link
 *   type, snap length, `if_tsresol` and `if_tsoffset`), reading Enhanced,
 *   Simple and the obsolete Packet blocks and skipping every other block.
 * - One {@link CapturedPacket} object is reused for every packet: `data` is a
 *   view into the reader's buffer (no copy; hot loops use `buffer`/`offset`/
 *   `length` and `tsSec`/`tsNsFrac` and allocate nothing). With an in-memory reader the
 *   view stays valid as long as the buffer; with a file reader
 *   ({@link CaptureReader.openFile}) it is valid only until the next call to
 *   `next()`. Copy what you keep.
 * - A file that ends in the middle of a record, or whose record lengths are
 *   impossible, ends the iteration cleanly: `stats.truncated` /
 *   `stats.corrupt` say so, nothing throws. Only a file that is not a capture
 *   at all (unknown magic) throws {@link CaptureFormatError} at open.
 */
import fs from 'node:fs';
import { MetaflowError } from '../../pipeline/errors';

/** Link types (LINKTYPE_* of the tcpdump.org registry) the decoder knows. */
export const LinkType = {
  /** BSD loopback: 4-byte address family in the capturing host's byte order. */
  NULL: 0,
  ETHERNET: 1,
  /** DLT_RAW as most BSDs and libpcap on Linux define it in the file header. */
  RAW_BSD: 12,
  /** DLT_RAW on OpenBSD. */
  RAW_OPENBSD: 14,
  /** LINKTYPE_RAW: an IPv4 or IPv6 packet, no link header. */
  RAW: 101,
  /** OpenBSD loopback: 4-byte address family in network byte order. */
  LOOP: 108,
  /** Linux cooked capture v1 (`-i any` on older libpcap). */
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  /** Linux cooked capture v2 (`-i any` on libpcap ≥ 1.10). */
  LINUX_SLL2: 276,
} as const;

/**
 * One packet of a capture. The reader reuses this object for every packet.
 *
 * Hot loops read `buffer`/`offset`/`length` and `tsSec`/`tsNsFrac`, which
 * cost nothing; `data` and `tsNs` are built on first use for each packet (a
 * view object and a bigint: allocations).
 */
export class CapturedPacket {
  /** The reader's buffer; this packet is `buffer[offset .. offset + length)`. */
  buffer: Uint8Array = EMPTY;
  offset = 0;
  length = 0;
  /** LINKTYPE_* of the packet's interface. */
  linkType = 0;
  /** Length of the packet on the wire (≥ length when the snap length cut it). */
  origLen = 0;
  /** pcapng interface id (0 for pcap). */
  interfaceId = 0;
  /** Capture time: whole seconds since the Unix epoch, and nanoseconds within that second. */
  tsSec = 0;
  tsNsFrac = 0;
  private view: Uint8Array | undefined;
  private ts: bigint | undefined;
  private secOf = -1;
  private secNs = 0n;

  /** The captured bytes: a view into the reader's buffer, not a copy. */
  get data(): Uint8Array {
    return (this.view ??= this.buffer.subarray(this.offset, this.offset + this.length));
  }

  /** Capture time, nanoseconds since the Unix epoch. */
  get tsNs(): bigint {
    if (this.ts === undefined) {
      // Consecutive packets mostly share their second: convert it once.
      if (this.tsSec !== this.secOf) {
        this.secOf = this.tsSec;
        this.secNs = BigInt(this.tsSec) * NS_PER_SEC;
      }
      this.ts = this.secNs + BigInt(this.tsNsFrac);
    }
    return this.ts;
  }

  /** Capture time in seconds as a float (sub-microsecond precision is lost): for timeouts. */
  get timeSec(): number {
    return this.tsSec + this.tsNsFrac / 1e9;
  }

  /** @internal Points the object at the next packet. */
  set(buffer: Uint8Array, offset: number, length: number, tsSec: number, tsNsFrac: number, linkType: number, origLen: number, interfaceId: number): void {
    this.buffer = buffer;
    this.offset = offset;
    this.length = length;
    this.tsSec = tsSec;
    this.tsNsFrac = tsNsFrac;
    this.linkType = linkType;
    this.origLen = origLen;
    this.interfaceId = interfaceId;
    this.view = undefined;
    this.ts = undefined;
  }
}

const EMPTY = new Uint8Array(0);

/** What happened while reading; never reset. */
export interface CaptureStats {
  /** Packets returned. */
  packets: number;
  /** pcapng blocks skipped (name resolution, statistics, custom, …) plus packet blocks for unknown interfaces. */
  skippedBlocks: number;
  /** Packet blocks referring to an interface that was never described (dropped). */
  unknownInterface: number;
  /** The file ended inside a record: the partial record was not returned. */
  truncated: boolean;
  /** A record had an impossible length; reading stopped there. */
  corrupt: boolean;
}

/** Description of one capture interface (pcap has exactly one). */
export interface CaptureInterface {
  linkType: number;
  snaplen: number;
  /** Timestamp units per second as a power: units are 10^-exp (base 10) or 2^-exp (base 2). */
  tsBase: 10 | 2;
  tsExp: number;
  /** Seconds added to every timestamp (pcapng `if_tsoffset`). */
  tsOffsetSec: bigint;
}

/** The file is not a capture this reader understands. */
export class CaptureFormatError extends MetaflowError {
  constructor(message: string) {
    super('ERR_CAPTURE_FORMAT', message);
  }
}

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAP_MAGIC_MODIFIED = 0xa1b2cd34;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;
const BLOCK_IDB = 1;
const BLOCK_PB = 2;
const BLOCK_SPB = 3;
const BLOCK_EPB = 6;
/** Larger records than this are taken as corruption, not as packets (jumbo/TSO frames are ≤ 256 KiB). */
const MAX_RECORD = 64 * 1024 * 1024;
const NS_PER_SEC = 1_000_000_000n;

/** Where the bytes come from: an in-memory buffer, or a file read in windows. */
interface Source {
  buf: Uint8Array;
  /** Valid bytes in buf. */
  end: number;
  /**
   * Makes `need` bytes from `pos` available; returns the (possibly moved)
   * position of those bytes, or -1 when the file ends first.
   */
  ensure(pos: number, need: number): number;
  close(): void;
}

function memorySource(buf: Uint8Array): Source {
  return {
    buf,
    end: buf.length,
    ensure(pos, need) {
      return pos + need <= buf.length ? pos : -1;
    },
    close() {},
  };
}

/**
 * A window over a file: bytes before the current record are dropped when more
 * room is needed, so memory stays at about `chunk` bytes (or one record).
 */
function fileSource(file: string, chunk: number): Source {
  const fd = fs.openSync(file, 'r');
  let eof = false;
  let closed = false;
  const src: Source = {
    buf: new Uint8Array(chunk),
    end: 0,
    ensure(pos, need) {
      if (pos + need <= src.end) return pos;
      if (eof) return -1;
      // Move what is left of the window to the front, grow when one record is bigger.
      const keep = src.end - pos;
      if (need > src.buf.length) {
        const bigger = new Uint8Array(Math.max(need, src.buf.length * 2));
        bigger.set(src.buf.subarray(pos, src.end));
        src.buf = bigger;
      } else {
        src.buf.copyWithin(0, pos, src.end);
      }
      src.end = keep;
      while (src.end < need && !eof) {
        const n = fs.readSync(fd, src.buf, src.end, src.buf.length - src.end, null);
        if (n === 0) eof = true;
        src.end += n;
      }
      return src.end >= need ? 0 : -1;
    },
    close() {
      if (!closed) fs.closeSync(fd);
      closed = true;
    },
  };
  return src;
}

/**
 * Reads packets of a pcap or pcapng capture. Use `next()` in a hot loop (it
 * returns the same reused object each time) or iterate with `for…of`.
 */
export class CaptureReader implements Iterable<CapturedPacket> {
  /** The file's format. */
  readonly format: 'pcap' | 'pcap-modified' | 'pcapng';
  /** Counters of what was read and skipped. */
  readonly stats: CaptureStats = { packets: 0, skippedBlocks: 0, unknownInterface: 0, truncated: false, corrupt: false };
  /** The interfaces described so far (of the current pcapng section). */
  interfaces: CaptureInterface[] = [];

  private readonly src: Source;
  private pos = 0;
  private le = true;
  private done = false;
  private readonly pkt = new CapturedPacket();
  /** pcap: nanoseconds per fractional unit (1000 for µs files, 1 for ns). */
  private fracMul = 1000;
  private recordHeader = 16;

  /** A reader over bytes already in memory (views stay valid as long as `buf`). */
  constructor(buf: Uint8Array);
  /** @internal */
  constructor(buf: Uint8Array, src: Source);
  constructor(buf: Uint8Array, src?: Source) {
    // Packets are plain Uint8Array views even over a Buffer, so that a consumer's
    // `data.slice()` copies (Buffer#slice would return another view).
    this.src = src ?? memorySource(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
    const at = this.src.ensure(0, 4);
    if (at < 0) throw new CaptureFormatError('file too short to be a capture');
    const b = this.src.buf;
    const magicLe = (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
    const magicBe = ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
    if (magicLe === PCAPNG_SHB) {
      this.format = 'pcapng';
      // The section header is read by next(), which handles every SHB alike.
      return;
    }
    let magic: number;
    if (magicLe === PCAP_MAGIC_US || magicLe === PCAP_MAGIC_NS || magicLe === PCAP_MAGIC_MODIFIED) {
      this.le = true;
      magic = magicLe;
    } else if (magicBe === PCAP_MAGIC_US || magicBe === PCAP_MAGIC_NS || magicBe === PCAP_MAGIC_MODIFIED) {
      this.le = false;
      magic = magicBe;
    } else {
      throw new CaptureFormatError(`unknown capture magic 0x${magicBe.toString(16).padStart(8, '0')}`);
    }
    this.format = magic === PCAP_MAGIC_MODIFIED ? 'pcap-modified' : 'pcap';
    this.fracMul = magic === PCAP_MAGIC_NS ? 1 : 1000;
    this.recordHeader = magic === PCAP_MAGIC_MODIFIED ? 24 : 16;
    const h = this.src.ensure(0, 24);
    if (h < 0) {
      this.stats.truncated = true;
      this.done = true;
      return;
    }
    const snaplen = this.u32(h + 16);
    // Upper bits of the link type field carry FCS information, not the type.
    const linkType = this.u32(h + 20) & 0xffff;
    this.interfaces = [{ linkType, snaplen, tsBase: 10, tsExp: magic === PCAP_MAGIC_NS ? 9 : 6, tsOffsetSec: 0n }];
    this.pos = 24;
  }

  /**
   * A reader that reads `file` in windows of `chunkBytes` (default 4 MiB), for
   * captures larger than memory. Packet views are valid until the next `next()`.
   * Call `close()` when done (iteration to the end closes it too).
   */
  static openFile(file: string, chunkBytes = 4 * 1024 * 1024): CaptureReader {
    const src = fileSource(file, Math.max(65536, chunkBytes));
    try {
      return new CaptureReader(src.buf, src);
    } catch (err) {
      src.close();
      throw err;
    }
  }

  /** A reader over the whole file read into memory. */
  static readFile(file: string): CaptureReader {
    return new CaptureReader(fs.readFileSync(file));
  }

  /** The next packet (the same reused object each time), or null at the end. */
  next(): CapturedPacket | null {
    if (this.done) return null;
    const p = this.format === 'pcapng' ? this.nextNg() : this.nextPcap();
    if (p) {
      this.stats.packets++;
      return p;
    }
    this.done = true;
    this.src.close();
    return null;
  }

  /** Releases the file of a file reader (safe to call more than once). */
  close(): void {
    this.done = true;
    this.src.close();
  }

  /** Iterates the packets; each step yields the same reused object. */
  *[Symbol.iterator](): Iterator<CapturedPacket> {
    for (let p = this.next(); p; p = this.next()) yield p;
  }

  private u16(at: number): number {
    const b = this.src.buf;
    return this.le ? b[at] | (b[at + 1] << 8) : (b[at] << 8) | b[at + 1];
  }

  private u32(at: number): number {
    const b = this.src.buf;
    return this.le
      ? (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0
      : ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
  }

  private nextPcap(): CapturedPacket | null {
    const hl = this.recordHeader;
    let at = this.src.ensure(this.pos, hl);
    if (at < 0) {
      this.stats.truncated = this.remainingAfter(this.pos);
      return null;
    }
    const inclLen = this.u32(at + 8);
    const origLen = this.u32(at + 12);
    if (inclLen > MAX_RECORD) {
      this.stats.corrupt = true;
      return null;
    }
    at = this.src.ensure(at, hl + inclLen);
    if (at < 0) {
      this.stats.truncated = true;
      return null;
    }
    const p = this.pkt;
    p.set(this.src.buf, at + hl, inclLen, this.u32(at), this.u32(at + 4) * this.fracMul, this.interfaces[0].linkType, origLen, 0);
    this.pos = at + hl + inclLen;
    return p;
  }

  /** Whether bytes remain from `pos` (a partial record) rather than a clean end. */
  private remainingAfter(pos: number): boolean {
    return this.src.ensure(pos, 1) >= 0;
  }

  private nextNg(): CapturedPacket | null {
    for (;;) {
      let at = this.src.ensure(this.pos, 12);
      if (at < 0) {
        this.stats.truncated = this.remainingAfter(this.pos);
        return null;
      }
      const b = this.src.buf;
      const typeLe = (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
      if (typeLe === PCAPNG_SHB) {
        // The byte-order magic decides the order of this whole section.
        const bomLe = (b[at + 8] | (b[at + 9] << 8) | (b[at + 10] << 16) | (b[at + 11] << 24)) >>> 0;
        const bomBe = ((b[at + 8] << 24) | (b[at + 9] << 16) | (b[at + 10] << 8) | b[at + 11]) >>> 0;
        if (bomLe === PCAPNG_BOM) this.le = true;
        else if (bomBe === PCAPNG_BOM) this.le = false;
        else {
          this.stats.corrupt = true;
          return null;
        }
        this.interfaces = [];
      }
      const type = this.u32(at);
      const len = this.u32(at + 4);
      if (len < 12 || len > MAX_RECORD) {
        this.stats.corrupt = true;
        return null;
      }
      at = this.src.ensure(at, len);
      if (at < 0) {
        this.stats.truncated = true;
        return null;
      }
      this.pos = at + len;
      // Lengths not a multiple of 4 violate the spec; the block is still usable as written.
      switch (type) {
        case PCAPNG_SHB:
          break;
        case BLOCK_IDB:
          if (len >= 20) this.interfaces.push(this.readIdb(at, len));
          else this.stats.skippedBlocks++;
          break;
        case BLOCK_EPB:
        case BLOCK_PB: {
          if (len < 32) {
            this.stats.skippedBlocks++;
            break;
          }
          const ifId = type === BLOCK_EPB ? this.u32(at + 8) : this.u16(at + 8);
          const iface = this.interfaces[ifId];
          if (!iface) {
            this.stats.unknownInterface++;
            break;
          }
          const capLen = this.u32(at + 20);
          if (capLen > len - 32) {
            this.stats.corrupt = true;
            return null;
          }
          const p = this.pkt;
          setTime(p, this.u32(at + 12), this.u32(at + 16), iface);
          p.set(this.src.buf, at + 28, capLen, p.tsSec, p.tsNsFrac, iface.linkType, this.u32(at + 24), ifId);
          return p;
        }
        case BLOCK_SPB: {
          const iface = this.interfaces[0];
          if (!iface || len < 16) {
            if (!iface) this.stats.unknownInterface++;
            else this.stats.skippedBlocks++;
            break;
          }
          const origLen = this.u32(at + 8);
          let capLen = Math.min(origLen, len - 16);
          if (iface.snaplen > 0) capLen = Math.min(capLen, iface.snaplen);
          const p = this.pkt;
          // Simple packet blocks carry no timestamp.
          p.set(this.src.buf, at + 12, capLen, 0, 0, iface.linkType, origLen, 0);
          return p;
        }
        default:
          this.stats.skippedBlocks++;
      }
    }
  }

  private readIdb(at: number, len: number): CaptureInterface {
    const iface: CaptureInterface = { linkType: this.u16(at + 8), snaplen: this.u32(at + 12), tsBase: 10, tsExp: 6, tsOffsetSec: 0n };
    const b = this.src.buf;
    let o = at + 16;
    const end = at + len - 4;
    while (o + 4 <= end) {
      const code = this.u16(o);
      const olen = this.u16(o + 2);
      if (code === 0 || o + 4 + olen > end) break;
      if (code === 9 && olen >= 1) {
        // if_tsresol: high bit set → negative power of 2, else of 10.
        const v = b[o + 4];
        iface.tsBase = v & 0x80 ? 2 : 10;
        iface.tsExp = v & 0x7f;
      } else if (code === 14 && olen >= 8) {
        const hi = this.u32(o + 4 + (this.le ? 4 : 0));
        const lo = this.u32(o + 4 + (this.le ? 0 : 4));
        iface.tsOffsetSec = BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
      }
      o += 4 + ((olen + 3) & ~3);
    }
    return iface;
  }
}

/** Sets `p.tsSec`/`p.tsNsFrac` from a pcapng timestamp in the interface's units. */
function setTime(p: CapturedPacket, hi: number, lo: number, iface: CaptureInterface): void {
  const off = Number(iface.tsOffsetSec);
  if (iface.tsBase === 10 && iface.tsExp <= 6) {
    // Up to µs, the unit count fits a double exactly (2^53 µs is 285 years): no bigint.
    const units = hi * 4294967296 + lo;
    const perSec = POW10[iface.tsExp];
    const sec = Math.floor(units / perSec);
    p.tsSec = sec + off;
    p.tsNsFrac = (units - sec * perSec) * POW10[9 - iface.tsExp];
    return;
  }
  const units = (BigInt(hi) << 32n) | BigInt(lo);
  let ns: bigint;
  if (iface.tsBase === 10) {
    const e = iface.tsExp;
    ns = e === 9 ? units : e < 9 ? units * 10n ** BigInt(9 - e) : units / 10n ** BigInt(e - 9);
  } else {
    ns = (units * NS_PER_SEC) >> BigInt(iface.tsExp);
  }
  p.tsSec = Number(ns / NS_PER_SEC) + off;
  p.tsNsFrac = Number(ns % NS_PER_SEC);
}

const POW10 = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000];

/**
 * Calls `onPacket` for every packet of `file` (read into memory whole), with
 * the reused packet object; returns the reader's stats.
 */
export function forEachPacket(file: string, onPacket: (p: CapturedPacket) => void): CaptureStats {
  const r = CaptureReader.readFile(file);
  for (let p = r.next(); p; p = r.next()) onPacket(p);
  return r.stats;
}
