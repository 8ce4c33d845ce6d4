/**
 * Live packet sources for the pcap receiver: one per interface, each
 * calling a handler with every packet (the bytes are only valid during the
 * call).
 *
 * Two engines, both over libpcap:
 * - `cap` (npm `cap` 0.2, in process): one JavaScript callback per packet.
 *   Its binding hands over neither the kernel's timestamp nor the wire
 *   length nor pcap_stats, and always opens interfaces promiscuous with a
 *   65535-byte snap length. So packets are timed when JavaScript sees them
 *   (sub-microsecond clock, but a busy event loop delays them), `snaplen` is
 *   applied here, and kernel drops are unknown.
 * - `tcpdump` (Debian's tcpdump as a child process writing pcap to a pipe,
 *   read in chunks): kernel timestamps in nanoseconds, wire lengths, the snap
 *   length, promiscuous on or off and the buffer size all honoured, and
 *   kernel drop counts read from its statistics (SIGUSR1).
 *
 * The kernel ring: cap asks libpcap for immediate delivery, which on Linux
 * means TPACKET_V2 with one fixed slot of the snap length per packet, so a
 * 16 MiB buffer holds only about 250 packets of a 65535-byte snap length and
 * a short stall of the event loop drops packets (raise `buffer_size_mib` for
 * busy links). tcpdump runs without immediate mode: TPACKET_V3 packs
 * packets into blocks (16 MiB holds thousands), handed over when full or
 * after libpcap's 1 s timeout; packets are therefore up to about a second
 * late, which the receiver allows for (it reports a second only after
 * {@link LIVE_LAG_MS}), and `stop()` waits for the last block.
 *
 * `auto` picks tcpdump when it is installed, else cap.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { MetaflowError } from '../../pipeline/errors';
import { LinkType } from '../../protocols/packet/pcap';

/**
 * Receives one packet: `buf[offset, offset + length)` captured at
 * `tsSec`/`tsNsFrac`, `origLen` bytes on the wire. The bytes are the
 * source's buffer: valid only during the call.
 */
export type PacketHandler = (buf: Uint8Array, offset: number, length: number, tsSec: number, tsNsFrac: number, origLen: number, linkType: number) => void;

/** What a source counted. */
export interface SourceStats {
  /** Packets handed to the handler. */
  packets: number;
  /** Packets the kernel dropped (its buffer was full); -1 when the engine cannot tell. */
  kernelDrops: number;
  /** Packets cut by the snap length. */
  truncated: number;
}

/** A live capture on one interface. */
export interface CaptureSource {
  readonly iface: string;
  readonly engine: 'cap' | 'tcpdump';
  /** Starts delivering packets; rejects when the interface cannot be opened. */
  start(handler: PacketHandler): Promise<void>;
  /** Stops; packets already read are delivered before it resolves. Safe to repeat. */
  stop(): Promise<void>;
  stats(): SourceStats;
  /** Asks the engine to refresh its kernel statistics (tcpdump), if it can. */
  refreshStats(): void;
}

/** Settings of a live capture. */
export interface CaptureOptions {
  filter: string;
  snaplen: number;
  promiscuous: boolean;
  bufferBytes: number;
}

/** A capture could not start (no permission, no such interface, bad filter, engine missing). */
export class CaptureError extends MetaflowError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CAPTURE', message, options);
  }
}

const TCPDUMP_PATHS = ['/usr/bin/tcpdump', '/usr/sbin/tcpdump'];

/** How late a live packet may reach the receiver (tcpdump's block timeout, plus the pipe). */
export const LIVE_LAG_MS = 2000;
/** libpcap's read timeout in tcpdump: a partly filled block is handed over after this long. */
const BLOCK_TIMEOUT_MS = 1000;

/** The tcpdump executable, or '' when not installed. */
export function findTcpdump(): string {
  for (const p of TCPDUMP_PATHS) {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return '';
}

/** Whether the `cap` binding loads here. */
export function capAvailable(): boolean {
  try {
    loadCap();
    return true;
  } catch {
    return false;
  }
}

/** The engine `auto` resolves to. */
export function resolveEngine(engine: 'auto' | 'cap' | 'tcpdump'): 'cap' | 'tcpdump' {
  if (engine !== 'auto') return engine;
  return findTcpdump() ? 'tcpdump' : 'cap';
}

/** Creates a source for `iface` with `engine`. */
export function createSource(engine: 'cap' | 'tcpdump', iface: string, opts: CaptureOptions): CaptureSource {
  return engine === 'cap' ? new CapSource(iface, opts) : new TcpdumpSource(iface, opts);
}

// Linux interface flags (include/uapi/linux/if.h).
const IFF_UP = 0x1;
const IFF_LOOPBACK = 0x8;

/** Interfaces that are up, loopback excluded: the default capture set. */
export function defaultInterfaces(sysClassNet = '/sys/class/net'): string[] {
  const out: string[] = [];
  let names: string[] = [];
  try {
    names = fs.readdirSync(sysClassNet);
  } catch {
    return out;
  }
  for (const name of names.sort()) {
    try {
      const flags = parseInt(fs.readFileSync(`${sysClassNet}/${name}/flags`, 'utf8').trim(), 16);
      if ((flags & IFF_UP) !== 0 && (flags & IFF_LOOPBACK) === 0) out.push(name);
    } catch {
      // Gone or unreadable: skip.
    }
  }
  return out;
}

// ---------------------------------------------------------------- cap

interface CapBinding {
  Cap: new () => CapHandle;
}
interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  close(): void;
  on(event: 'packet', fn: (nbytes: number, truncated: boolean) => void): void;
  removeAllListeners(event?: string): void;
}

let capBinding: CapBinding | undefined;
function loadCap(): CapBinding {
  // Lazily, and through require: a platform without libpcap fails only when cap is asked for.
  if (!capBinding) capBinding = createRequire(__filename)('cap') as CapBinding;
  return capBinding;
}

/** cap's link type names → LINKTYPE numbers. */
function capLinkType(name: string): number {
  switch (name) {
    case 'ETHERNET':
      return LinkType.ETHERNET;
    case 'NULL':
      return LinkType.NULL;
    case 'LINKTYPE_LINUX_SLL':
      return LinkType.LINUX_SLL;
    case 'RAW':
      // DLT_RAW as Linux libpcap numbers it.
      return LinkType.RAW_BSD;
    default: {
      // "Unknown linktype 276": the number itself (SLL2 on newer libpcap for `any`).
      const m = /(\d+)/.exec(name);
      return m ? Number(m[1]) : -1;
    }
  }
}

/**
 * Every cap handle ever created, never released. cap 0.2 frees its libuv
 * poll handle with the JavaScript object without closing it in libuv (which
 * still lists it: a use after free, a crash at a later loop turn), and a
 * handle whose open failed has a poll handle that was never started, which
 * its destructor stops (an assertion that aborts the process). Keeping the
 * objects alive means their destructors never run: one small object and
 * its 64 KiB buffer per capture started, for the life of the process.
 */
const KEPT_CAP_HANDLES: Array<{ handle: CapHandle; buffer: Buffer }> = [];

/** The `cap` engine; see the module doc. */
class CapSource implements CaptureSource {
  readonly engine = 'cap' as const;
  private handle: CapHandle | undefined;
  /**
   * The buffer cap copies each packet into. Kept referenced here for as long
   * as the handle is open: the binding holds only a raw pointer to it, and a
   * collected buffer would be written after free.
   */
  /** @internal */ buffer: Buffer | undefined;
  private readonly counts: SourceStats = { packets: 0, kernelDrops: -1, truncated: 0 };

  constructor(
    readonly iface: string,
    private readonly opts: CaptureOptions,
  ) {}

  async start(handler: PacketHandler): Promise<void> {
    if (this.handle) return;
    let binding: CapBinding;
    try {
      binding = loadCap();
    } catch (err) {
      throw new CaptureError(`the cap binding does not load here: ${(err as Error).message}`, { cause: err });
    }
    if (this.iface !== 'any' && !fs.existsSync(`/sys/class/net/${this.iface}`)) throw new CaptureError(`cannot capture on ${this.iface}: no such interface`);
    const handle = new binding.Cap();
    const buffer = Buffer.alloc(65536);
    let link: string;
    try {
      link = handle.open(this.iface, this.opts.filter, this.opts.bufferBytes, buffer);
    } catch (err) {
      KEPT_CAP_HANDLES.push({ handle, buffer });
      throw new CaptureError(`cannot capture on ${this.iface}: ${(err as Error).message}`, { cause: err });
    }
    const linkType = capLinkType(link);
    KEPT_CAP_HANDLES.push({ handle, buffer });
    this.handle = handle;
    this.buffer = buffer;
    const data = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    const snaplen = this.opts.snaplen;
    const counts = this.counts;
    const origin = performance.timeOrigin;
    handle.on('packet', (nbytes: number, truncated: boolean) => {
      // The binding gives no timestamp: the time JavaScript sees the packet (ms with sub-µs digits).
      const ms = origin + performance.now();
      const sec = Math.floor(ms / 1000);
      const frac = Math.round((ms - sec * 1000) * 1e6);
      counts.packets++;
      let len = nbytes;
      if (len > snaplen) len = snaplen;
      if (truncated || len < nbytes) counts.truncated++;
      handler(data, 0, len, sec, frac < 1e9 ? frac : 999_999_999, nbytes, linkType);
    });
  }

  async stop(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    if (!h) return;
    try {
      h.close();
    } finally {
      h.removeAllListeners('packet');
      // Released only after close: the binding no longer writes into it.
      this.buffer = undefined;
    }
  }

  stats(): SourceStats {
    return { ...this.counts };
  }

  refreshStats(): void {
    // cap 0.2 has no pcap_stats.
  }
}

// ---------------------------------------------------------------- tcpdump

const PCAP_US = 0xa1b2c3d4;
const PCAP_NS = 0xa1b23c4d;

/**
 * Parses a pcap byte stream that arrives in chunks (tcpdump's stdout):
 * records wholly inside a chunk are handed over in place; a record split
 * across chunks is gathered in a carry buffer that grows by doubling, so
 * any chunking (down to single bytes) costs time linear in the stream.
 */
export class PcapStreamParser {
  private header = true;
  private le = true;
  private nsRes = false;
  linkType = -1;
  private carry = new Uint8Array(256);
  private carryLen = 0;
  /** Set when the stream is not pcap (parsing stops). */
  error = '';
  /** Packets delivered. */
  packets = 0;

  constructor(private readonly handler: PacketHandler) {}

  /** Feeds the next chunk. */
  push(chunk: Uint8Array): void {
    if (this.error) return;
    let pos = 0;
    const end = chunk.length;
    // First complete what the carry holds (a file header or one record), from the front of this chunk.
    while (this.carryLen > 0) {
      const need = this.needed(this.carry, 0, this.carryLen);
      if (need < 0) return;
      const take = Math.min(need - this.carryLen, end - pos);
      this.append(chunk, pos, take);
      pos += take;
      if (this.carryLen < need) {
        if (pos >= end) return;
        continue;
      }
      if (this.needed(this.carry, 0, this.carryLen) > this.carryLen) continue;
      const used = this.consume(this.carry, 0, this.carryLen);
      if (this.error) return;
      this.carryLen -= used;
      if (this.carryLen > 0) this.carry.copyWithin(0, used, used + this.carryLen);
    }
    pos += this.consume(chunk, pos, end);
    if (this.error) return;
    // Keep what is left: the chunk's memory is not ours after this call.
    if (pos < end) this.append(chunk, pos, end - pos);
  }

  /** Bytes the next unit at `buf[pos..end)` needs in all (file header, record header, or record); -1 on error. */
  private needed(buf: Uint8Array, pos: number, end: number): number {
    if (this.header) return 24;
    if (end - pos < 16) return 16;
    const incl = this.u32(buf, pos + 8);
    if (incl > 0x4000000) {
      this.error = `impossible record length ${incl}`;
      return -1;
    }
    return 16 + incl;
  }

  /** Handles the complete units in `buf[pos..end)`; returns the bytes used. */
  private consume(buf: Uint8Array, pos: number, end: number): number {
    const from = pos;
    if (this.header) {
      if (end - pos < 24) return 0;
      const magicLe = (buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16) | (buf[pos + 3] << 24)) >>> 0;
      const magicBe = ((buf[pos] << 24) | (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]) >>> 0;
      if (magicLe === PCAP_US || magicLe === PCAP_NS) {
        this.le = true;
        this.nsRes = magicLe === PCAP_NS;
      } else if (magicBe === PCAP_US || magicBe === PCAP_NS) {
        this.le = false;
        this.nsRes = magicBe === PCAP_NS;
      } else {
        this.error = `not a pcap stream (magic 0x${magicBe.toString(16)})`;
        return 0;
      }
      this.linkType = this.u32(buf, pos + 20) & 0xffff;
      this.header = false;
      pos += 24;
    }
    const mul = this.nsRes ? 1 : 1000;
    while (pos + 16 <= end) {
      const incl = this.u32(buf, pos + 8);
      if (incl > 0x4000000) {
        this.error = `impossible record length ${incl}`;
        return pos - from;
      }
      if (pos + 16 + incl > end) break;
      this.packets++;
      this.handler(buf, pos + 16, incl, this.u32(buf, pos), this.u32(buf, pos + 4) * mul, this.u32(buf, pos + 12), this.linkType);
      pos += 16 + incl;
    }
    return pos - from;
  }

  private append(src: Uint8Array, pos: number, n: number): void {
    if (n <= 0) return;
    if (this.carryLen + n > this.carry.length) {
      let cap = this.carry.length * 2;
      while (cap < this.carryLen + n) cap *= 2;
      const grown = new Uint8Array(cap);
      grown.set(this.carry.subarray(0, this.carryLen));
      this.carry = grown;
    }
    this.carry.set(src.subarray(pos, pos + n), this.carryLen);
    this.carryLen += n;
  }

  private u32(b: Uint8Array, at: number): number {
    return this.le ? (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0 : ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
  }
}

/** The `tcpdump` engine; see the module doc. */
class TcpdumpSource implements CaptureSource {
  readonly engine = 'tcpdump' as const;
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private parser: PcapStreamParser | undefined;
  private stderr = '';
  private kernelDrops = 0;
  private truncated = 0;

  constructor(
    readonly iface: string,
    private readonly opts: CaptureOptions,
  ) {}

  async start(handler: PacketHandler): Promise<void> {
    if (this.child) return;
    const bin = findTcpdump();
    if (!bin) throw new CaptureError('tcpdump is not installed (apt-get install tcpdump), or use engine: cap');
    const o = this.opts;
    const args = ['-i', this.iface, '-w', '-', '-U', '-n', '--time-stamp-precision=nano', '-s', String(o.snaplen), '-B', String(Math.max(1, Math.ceil(o.bufferBytes / 1024)))];
    if (!o.promiscuous) args.push('-p');
    // Keep root: tcpdump would otherwise switch to its own user after opening the interface.
    args.push('-Z', 'root');
    if (o.filter) args.push(o.filter);
    const snaplen = o.snaplen;
    const wrapped: PacketHandler = (buf, off, len, sec, frac, orig, link) => {
      if (orig > len && len >= snaplen) this.truncated++;
      handler(buf, off, len, sec, frac, orig, link);
    };
    const parser = new PcapStreamParser(wrapped);
    this.parser = parser;
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
    child.stdout?.on('data', (chunk: Buffer) => parser.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => finish(new CaptureError(`tcpdump did not start on ${this.iface} within 10 s: ${this.stderr.trim()}`)), 10_000);
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      child.stderr?.on('data', (c: Buffer) => {
        this.onStderr(c.toString());
        if (this.stderr.includes('listening on')) finish();
      });
      child.once('error', (err) => finish(new CaptureError(`cannot run tcpdump: ${err.message}`, { cause: err })));
      child.once('exit', (code) => finish(new CaptureError(`cannot capture on ${this.iface}: tcpdump exited with ${code}: ${this.stderr.trim().split('\n').pop() ?? ''}`)));
    });
  }

  private onStderr(text: string): void {
    // Bounded: only the recent text matters (startup errors, the latest statistics).
    this.stderr = (this.stderr + text).slice(-4096);
    const m = /(\d+) packets? dropped by kernel/g;
    let last: RegExpExecArray | null = null;
    for (let r = m.exec(this.stderr); r; r = m.exec(this.stderr)) last = r;
    if (last) this.kernelDrops = Number(last[1]);
  }

  refreshStats(): void {
    const c = this.child;
    // tcpdump prints its statistics on SIGUSR1 and keeps running.
    if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGUSR1');
  }

  async stop(): Promise<void> {
    const c = this.child;
    const exited = this.exited;
    this.child = undefined;
    if (!c || !exited) return;
    if (c.exitCode === null && c.signalCode === null) {
      // Packets of the block the kernel has not handed over yet would be lost: wait for its timeout first.
      await Promise.race([exited, new Promise((r) => setTimeout(r, BLOCK_TIMEOUT_MS + 200))]);
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGINT');
    }
    const killer = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(killer);
  }

  stats(): SourceStats {
    return { packets: this.parser?.packets ?? 0, kernelDrops: this.kernelDrops, truncated: this.truncated };
  }
}

/** Whether this process may capture (root, or CAP_NET_RAW via tcpdump's own capabilities). */
export function mayCapture(): boolean {
  if (process.getuid?.() === 0) return true;
  // tcpdump may carry file capabilities; a quick try tells.
  const bin = findTcpdump();
  if (!bin) return false;
  return spawnSync(bin, ['-D'], { stdio: 'ignore', timeout: 5000 }).status === 0;
}
