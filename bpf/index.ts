/**
 * The typed bindings of MetaFlow's eBPF part: the one module through which
 * TypeScript reaches the native addon (bpf/src/addon.cc) and the BPF object
 * (bpf/src/metaflow.bpf.c).
 *
 * - Nothing native is loaded until {@link EbpfTracer.open} (or
 *   {@link checkSupport}) is called, so importing this module is free and
 *   safe on any platform.
 * - Where eBPF cannot run (not Linux, not root, no kernel BTF, the addon or
 *   the object not built) the failure is an {@link EbpfError} with a stable
 *   code and a reason a user can act on.
 * - Events arrive in batches (one JavaScript call per batch); {@link EventCursor}
 *   walks a batch reading fields in place, without allocating per event.
 *
 * The event and config layouts mirror bpf/src/metaflow.h; change both together.
 */
import fs from 'node:fs';
import path from 'node:path';

// ------------------------------------------------------------------ errors

/** Why eBPF is unavailable or an operation failed. */
export type EbpfErrorCode =
  | 'EBPF_UNSUPPORTED_PLATFORM'
  | 'EBPF_NOT_ROOT'
  | 'EBPF_NO_BTF'
  | 'EBPF_NOT_BUILT'
  | 'EBPF_ADDON_LOAD_FAILED'
  | 'EBPF_NO_TRACEFS'
  | 'EBPF_OPEN_FAILED'
  | 'EBPF_LOAD_FAILED'
  | 'EBPF_ATTACH_FAILED'
  | 'EBPF_MAP_UPDATE_FAILED'
  | 'EBPF_RINGBUF_FAILED'
  | 'EBPF_CLOSED'
  | 'EBPF_FAILED';

/** An eBPF failure with a stable code. */
export class EbpfError extends Error {
  constructor(
    readonly code: EbpfErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'EbpfError';
  }
}

function wrap(err: unknown, fallback: EbpfErrorCode): EbpfError {
  if (err instanceof EbpfError) return err;
  const e = err as { code?: string; message?: string };
  const code = typeof e?.code === 'string' && e.code.startsWith('EBPF_') ? (e.code as EbpfErrorCode) : fallback;
  return new EbpfError(code, e?.message ?? String(err), { cause: err });
}

// ------------------------------------------------------------------ layout

/** Event types (MF_EV_*). */
export const EventType = { DATA: 1, CLOSE: 2, EXEC: 3, EXIT: 4 } as const;
/** Directions from the traced process's view (MF_EGRESS / MF_INGRESS). */
export const Direction = { EGRESS: 0, INGRESS: 1 } as const;
/** Where the bytes were seen (MF_SRC_*). */
export const Source = { SYSCALL: 0, OPENSSL: 1 } as const;
/** The process's role on the socket (MF_ROLE_*). */
export const Role = { UNKNOWN: 0, CLIENT: 1, SERVER: 2 } as const;
/** Event flags (MF_F_*). */
export const EventFlag = { PEER_FROM_MSG: 1, TLS: 2 } as const;

/** The call an event came from, by MF_SC_* number. */
export const SYSCALL_NAMES: readonly string[] = [
  '',
  'read',
  'write',
  'readv',
  'writev',
  'sendto',
  'recvfrom',
  'sendmsg',
  'recvmsg',
  'sendmmsg',
  'recvmmsg',
  'sendfile',
  'SSL_write',
  'SSL_read',
  'connect',
];

/** Largest capture per message the programs support. */
export const MAX_CAPTURE_BYTES = 16384;
/** Bytes of the event header; the captured data follows it. */
export const EVENT_HEADER_BYTES = 128;

/** Byte offsets in struct mf_event. */
const O = {
  tsEnter: 0,
  tsExit: 8,
  sockId: 16,
  traceId: 24,
  cgroupId: 32,
  tgid: 40,
  tid: 44,
  fd: 48,
  tcpSeq: 52,
  dataLen: 56,
  capLen: 60,
  lport: 64,
  rport: 66,
  type: 68,
  dir: 69,
  source: 70,
  role: 71,
  family: 72,
  l4: 73,
  syscall: 74,
  flags: 75,
  laddr: 80,
  raddr: 96,
  comm: 112,
} as const;

/** Filter flag bits (MF_FILTER_*). */
const FILTER = {
  PID_ALLOW: 0x01,
  PID_DENY: 0x02,
  COMM_ALLOW: 0x04,
  COMM_DENY: 0x08,
  CGROUP_ALLOW: 0x10,
  CGROUP_DENY: 0x20,
  PORT_ALLOW: 0x40,
  PORT_DENY: 0x80,
} as const;
const ALLOW = 1;
const DENY = 2;

/** Indices of the kernel-side counters (MF_CNT_*). */
const COUNTER = { LOST_RINGBUF: 0, LOST_SCRATCH: 1, SSL_NO_FD: 2, EVENTS: 3 } as const;

// ------------------------------------------------------------------ cursor

/**
 * Walks a batch as the addon delivers it: records packed as
 * `[u32 length][u32 0][record padded to 8 bytes]`. Fields are read from the
 * batch on access; nothing is allocated per event except what a caller asks
 * for (`data()`, `comm()`, addresses, bigint timestamps).
 */
export class EventCursor {
  private buf: Buffer = Buffer.alloc(0);
  private next_ = 0;
  /** Offset of the current record in the batch. */
  off = 0;
  /** Length of the current record. */
  len = 0;

  /** Starts walking `buf`. */
  reset(buf: Buffer): this {
    this.buf = buf;
    this.next_ = 0;
    this.off = 0;
    this.len = 0;
    return this;
  }

  /** Moves to the next record; false at the end of the batch. */
  next(): boolean {
    const b = this.buf;
    const at = this.next_;
    if (at + 8 > b.length) return false;
    const len = b.readUInt32LE(at);
    if (len < EVENT_HEADER_BYTES || at + 8 + len > b.length) return false;
    this.off = at + 8;
    this.len = len;
    this.next_ = at + 8 + ((len + 7) & ~7);
    return true;
  }

  get type(): number {
    return this.buf[this.off + O.type];
  }
  get dir(): number {
    return this.buf[this.off + O.dir];
  }
  get source(): number {
    return this.buf[this.off + O.source];
  }
  get role(): number {
    return this.buf[this.off + O.role];
  }
  get family(): number {
    return this.buf[this.off + O.family];
  }
  get l4(): number {
    return this.buf[this.off + O.l4];
  }
  get syscall(): number {
    return this.buf[this.off + O.syscall];
  }
  get flags(): number {
    return this.buf[this.off + O.flags];
  }
  get tgid(): number {
    return this.buf.readUInt32LE(this.off + O.tgid);
  }
  get tid(): number {
    return this.buf.readUInt32LE(this.off + O.tid);
  }
  get fd(): number {
    return this.buf.readInt32LE(this.off + O.fd);
  }
  get tcpSeq(): number {
    return this.buf.readUInt32LE(this.off + O.tcpSeq);
  }
  get dataLen(): number {
    return this.buf.readUInt32LE(this.off + O.dataLen);
  }
  get capLen(): number {
    return Math.min(this.buf.readUInt32LE(this.off + O.capLen), this.len - EVENT_HEADER_BYTES);
  }
  get lport(): number {
    return this.buf.readUInt16LE(this.off + O.lport);
  }
  get rport(): number {
    return this.buf.readUInt16LE(this.off + O.rport);
  }
  /** Socket id: unique per socket, < 2^53. */
  get sockId(): number {
    return readU53(this.buf, this.off + O.sockId);
  }
  /** Syscall trace id, 0 when none; < 2^53. */
  get traceId(): number {
    return readU53(this.buf, this.off + O.traceId);
  }
  get cgroupId(): bigint {
    return this.buf.readBigUInt64LE(this.off + O.cgroupId);
  }
  /** CLOCK_MONOTONIC ns at the call's entry. */
  get tsEnter(): bigint {
    return this.buf.readBigUInt64LE(this.off + O.tsEnter);
  }
  /** CLOCK_MONOTONIC ns at its return. */
  get tsExit(): bigint {
    return this.buf.readBigUInt64LE(this.off + O.tsExit);
  }
  /** CLOCK_MONOTONIC ns at its return as a number (exact to the µs; no allocation). */
  get tsExitNumber(): number {
    return readU53(this.buf, this.off + O.tsExit);
  }
  /** The captured bytes: a view into the batch (valid as long as the batch). */
  data(): Buffer {
    const start = this.off + EVENT_HEADER_BYTES;
    return this.buf.subarray(start, start + this.capLen);
  }
  /** The thread's command name. */
  comm(): string {
    return cString(this.buf, this.off + O.comm, 16);
  }
  /** Local address as text. */
  localAddress(): string {
    return formatAddress(this.buf, this.off + O.laddr, this.family);
  }
  /** Remote address as text. */
  remoteAddress(): string {
    return formatAddress(this.buf, this.off + O.raddr, this.family);
  }
}

function readU53(b: Buffer, off: number): number {
  return b.readUInt32LE(off) + b.readUInt32LE(off + 4) * 4294967296;
}

function cString(b: Buffer, off: number, max: number): string {
  let end = off;
  while (end < off + max && b[end] !== 0) end++;
  return b.toString('utf8', off, end);
}

/**
 * An address from an event as text: dotted IPv4, or IPv6 in its compressed
 * form (an IPv4-mapped IPv6 address is shown as the IPv4 address).
 */
export function formatAddress(b: Uint8Array, off: number, family: number): string {
  if (family === 2) return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
  let mapped = true;
  for (let i = 0; i < 10; i++) if (b[off + i] !== 0) mapped = false;
  if (mapped && b[off + 10] === 0xff && b[off + 11] === 0xff) return `${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[off + i] << 8) | b[off + i + 1]);
  // Compress the longest run of zero groups (RFC 5952).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Fields of an event, for {@link encodeEvent}. */
export interface EventFields {
  type: number;
  tsEnter?: bigint;
  tsExit?: bigint;
  sockId?: number;
  traceId?: number;
  cgroupId?: bigint;
  tgid: number;
  tid?: number;
  fd?: number;
  tcpSeq?: number;
  dataLen?: number;
  lport?: number;
  rport?: number;
  dir?: number;
  source?: number;
  role?: number;
  /** 2 or 10; default 2. */
  family?: number;
  /** 6 or 17; default 6. */
  l4?: number;
  syscall?: number;
  flags?: number;
  /** IPv4 dotted text, or 16 bytes. */
  laddr?: string | Uint8Array;
  raddr?: string | Uint8Array;
  comm?: string;
  data?: Uint8Array;
}

function putAddr(b: Buffer, off: number, a: string | Uint8Array | undefined): void {
  if (a === undefined) return;
  if (typeof a === 'string') a.split('.').forEach((p, i) => (b[off + i] = Number(p)));
  else b.set(a.subarray(0, 16), off);
}

/**
 * An event as the BPF programs write it. For tests and replays of the
 * receiver without a kernel; the kernel never reads these.
 */
export function encodeEvent(f: EventFields): Buffer {
  const data = f.data ?? new Uint8Array(0);
  const b = Buffer.alloc(EVENT_HEADER_BYTES + data.length);
  b.writeBigUInt64LE(f.tsEnter ?? 0n, O.tsEnter);
  b.writeBigUInt64LE(f.tsExit ?? f.tsEnter ?? 0n, O.tsExit);
  b.writeBigUInt64LE(BigInt(f.sockId ?? 0), O.sockId);
  b.writeBigUInt64LE(BigInt(f.traceId ?? 0), O.traceId);
  b.writeBigUInt64LE(f.cgroupId ?? 0n, O.cgroupId);
  b.writeUInt32LE(f.tgid, O.tgid);
  b.writeUInt32LE(f.tid ?? f.tgid, O.tid);
  b.writeInt32LE(f.fd ?? 3, O.fd);
  b.writeUInt32LE((f.tcpSeq ?? 0) >>> 0, O.tcpSeq);
  b.writeUInt32LE(f.dataLen ?? data.length, O.dataLen);
  b.writeUInt32LE(data.length, O.capLen);
  b.writeUInt16LE(f.lport ?? 0, O.lport);
  b.writeUInt16LE(f.rport ?? 0, O.rport);
  b[O.type] = f.type;
  b[O.dir] = f.dir ?? 0;
  b[O.source] = f.source ?? 0;
  b[O.role] = f.role ?? 0;
  b[O.family] = f.family ?? 2;
  b[O.l4] = f.l4 ?? 6;
  b[O.syscall] = f.syscall ?? 0;
  b[O.flags] = f.flags ?? 0;
  putAddr(b, O.laddr, f.laddr);
  putAddr(b, O.raddr, f.raddr);
  b.write((f.comm ?? '').slice(0, 15), O.comm, 'utf8');
  b.set(data, EVENT_HEADER_BYTES);
  return b;
}

/** Packs records into a batch as the addon delivers them. */
export function packBatch(records: readonly Uint8Array[]): Buffer {
  let size = 0;
  for (const r of records) size += 8 + ((r.length + 7) & ~7);
  const b = Buffer.alloc(size);
  let off = 0;
  for (const r of records) {
    b.writeUInt32LE(r.length, off);
    b.set(r, off + 8);
    off += 8 + ((r.length + 7) & ~7);
  }
  return b;
}

// ------------------------------------------------------------------ addon

/** The native addon's surface (bpf/src/addon.cc). */
interface NativeTracer {
  attachTracepoints(): string[];
  attachUprobe(program: string, binary: string, func: string, retprobe: boolean, pid: number): number;
  detach(link: number): boolean;
  updateMap(name: string, key: Buffer, value: Buffer): void;
  deleteMapKey(name: string, key: Buffer): boolean;
  clearMap(name: string): number;
  counters(): number[];
  start(onBatch: (batch: Buffer, count: number) => void, opts: { batchBytes: number; flushMs: number; maxPending: number }): void;
  stop(): void;
  close(): void;
  stats(): NativeStats;
  programs(): Array<{ name: string; section: string }>;
  kernelIds(): KernelIds;
}

/** The kernel's ids of a tracer's programs and links (as `bpftool prog show` / `bpftool link show` list them). */
export interface KernelIds {
  programs: number[];
  links: number[];
}

/** The consumer's counters. */
export interface NativeStats {
  /** Records read from the ring buffer. */
  events: number;
  bytes: number;
  /** Batches handed to JavaScript. */
  batches: number;
  /** Times the consumer waited because JavaScript had not taken earlier batches. */
  waits: number;
  /** Probes attached. */
  links: number;
}

interface Addon {
  Tracer: new (objectPath: string, opts: { ringBytes: number }) => NativeTracer;
  clockOffsetNs(): bigint;
  possibleCpus(): number;
  ensureTracefs(): string;
  libbpfVersion(): string;
}

/** The project root, whether this runs from the sources or from dist/. */
function projectRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 8; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && path.basename(dir) !== 'dist') return dir;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return path.resolve(__dirname, '..');
}

/** Where the built addon and BPF object are: METAFLOW_BPF_DIR, else <root>/bpf/build. */
export function buildDir(): string {
  return process.env.METAFLOW_BPF_DIR ?? path.join(projectRoot(), 'bpf', 'build');
}

/** Path of the BPF object. */
export function objectPath(): string {
  return path.join(buildDir(), 'metaflow.bpf.o');
}

function addonPath(): string {
  return path.join(buildDir(), 'Release', 'metaflow_bpf.node');
}

let addon: Addon | undefined;

function loadAddon(): Addon {
  if (addon) return addon;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a native addon loads only through require
    addon = require(addonPath()) as Addon;
  } catch (err) {
    throw new EbpfError('EBPF_ADDON_LOAD_FAILED', `cannot load the eBPF addon ${addonPath()}: ${(err as Error).message}`, { cause: err });
  }
  return addon;
}

/** Whether the process may load BPF programs: root, or CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON. */
function privileged(): boolean {
  if (process.getuid?.() === 0) return true;
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (!m) return false;
    const caps = BigInt(`0x${m[1]}`);
    const has = (bit: number) => (caps >> BigInt(bit)) & 1n;
    return has(21) === 1n || (has(39) === 1n && has(38) === 1n);
  } catch {
    return false;
  }
}

/** The outcome of {@link checkSupport}. */
export type Support = { ok: true } | { ok: false; error: EbpfError };

/**
 * Whether eBPF tracing can run here, and if not, why: checked in the order a
 * user would fix things (platform, privileges, kernel BTF, the build).
 * Loads the addon when everything else is in place.
 */
export function checkSupport(): Support {
  const fail = (code: EbpfErrorCode, message: string): Support => ({ ok: false, error: new EbpfError(code, message) });
  if (process.platform !== 'linux') return fail('EBPF_UNSUPPORTED_PLATFORM', `eBPF needs Linux; this is ${process.platform}`);
  if (!privileged()) return fail('EBPF_NOT_ROOT', 'eBPF needs root (or CAP_BPF with CAP_PERFMON, or CAP_SYS_ADMIN)');
  if (!fs.existsSync('/sys/kernel/btf/vmlinux')) return fail('EBPF_NO_BTF', 'the kernel has no BTF (/sys/kernel/btf/vmlinux is missing; CONFIG_DEBUG_INFO_BTF is needed)');
  if (!fs.existsSync(objectPath()) || !fs.existsSync(addonPath())) {
    return fail('EBPF_NOT_BUILT', `the eBPF programs or addon are not built (${buildDir()}); run \`make -C bpf\` (needs clang, bpftool, libbpf-dev)`);
  }
  try {
    loadAddon();
  } catch (err) {
    return { ok: false, error: wrap(err, 'EBPF_ADDON_LOAD_FAILED') };
  }
  return { ok: true };
}

// ------------------------------------------------------------------ tracer

/** Settings written to the programs' config map. */
export interface TracerConfig {
  /** Bytes captured per message (0..16384). */
  captureBytes: number;
  /** Wake the consumer once this many bytes wait in the ring buffer. */
  wakeupBytes: number;
  /** The process never traced (the agent). */
  selfPid: number;
  /** Ephemeral port range, to guess roles of sockets opened before tracing started. */
  ephemeralPorts: [number, number];
}

/** Allow and deny lists; allow lists of processes (pids, names, cgroups) are a union, ports must also match. */
export interface TracerFilters {
  allow: { pids: number[]; comms: string[]; cgroupIds: bigint[]; ports: number[] };
  deny: { pids: number[]; comms: string[]; cgroupIds: bigint[]; ports: number[] };
}

/** Kernel-side counters. */
export interface KernelCounters {
  /** Events dropped because the ring buffer was full. */
  lostRingbuf: number;
  /** Events dropped for lack of a scratch buffer. */
  lostScratch: number;
  /** SSL calls on objects whose socket was never seen. */
  sslNoFd: number;
  /** Events written. */
  events: number;
}

/** Options of {@link EbpfTracer.start}. */
export interface ConsumeOptions {
  /** Bytes per batch handed to JavaScript. */
  batchBytes: number;
  /** Longest time an event waits in the ring buffer before it is read. */
  flushMs: number;
  /** Batches that may wait for JavaScript; beyond, the kernel buffer absorbs and then drops. */
  maxPending: number;
}

/** The OpenSSL functions probed, with the programs for their entry and return. */
export const OPENSSL_PROBES: ReadonlyArray<{ func: string; enter: string; exit: string; required: boolean }> = [
  { func: 'SSL_write', enter: 'mf_ssl_write_enter', exit: 'mf_ssl_write_exit', required: true },
  { func: 'SSL_read', enter: 'mf_ssl_read_enter', exit: 'mf_ssl_read_exit', required: true },
  { func: 'SSL_write_ex', enter: 'mf_ssl_write_ex_enter', exit: 'mf_ssl_write_ex_exit', required: false },
  { func: 'SSL_read_ex', enter: 'mf_ssl_read_ex_enter', exit: 'mf_ssl_read_ex_exit', required: false },
];

/**
 * The loaded BPF object: attach, configure, consume, close. Every method
 * throws {@link EbpfError}. `close()` detaches every probe; the kernel also
 * detaches them if the process dies first (they are file descriptors).
 */
export class EbpfTracer {
  private closed = false;

  private constructor(
    private readonly native: NativeTracer,
    /** CLOCK_REALTIME − CLOCK_MONOTONIC at open, to turn event times into Unix ns. */
    readonly clockOffsetNs: bigint,
  ) {}

  /** Loads the programs into the kernel (nothing attached yet). */
  static open(opts: { ringBytes: number }): EbpfTracer {
    const support = checkSupport();
    if (!support.ok) throw support.error;
    const a = loadAddon();
    try {
      a.ensureTracefs();
      return new EbpfTracer(new a.Tracer(objectPath(), { ringBytes: ringSize(opts.ringBytes) }), a.clockOffsetNs());
    } catch (err) {
      throw wrap(err, 'EBPF_LOAD_FAILED');
    }
  }

  private call<T>(fn: () => T, code: EbpfErrorCode): T {
    if (this.closed) throw new EbpfError('EBPF_CLOSED', 'the tracer is closed');
    try {
      return fn();
    } catch (err) {
      throw wrap(err, code);
    }
  }

  /** Attaches the syscall and process tracepoints; returns the program names. All or nothing. */
  attachSyscalls(): string[] {
    return this.call(() => this.native.attachTracepoints(), 'EBPF_ATTACH_FAILED');
  }

  /**
   * Attaches the OpenSSL probes to a library or executable (every process
   * that maps it, now or later, when `pid` is -1). Returns the link ids.
   * Optional functions missing from the binary (`SSL_read_ex` before
   * OpenSSL 1.1.1) are skipped; a binary without SSL_read/SSL_write fails.
   */
  attachOpenssl(binary: string, pid = -1): number[] {
    const links: number[] = [];
    try {
      for (const p of OPENSSL_PROBES) {
        try {
          links.push(this.call(() => this.native.attachUprobe(p.enter, binary, p.func, false, pid), 'EBPF_ATTACH_FAILED'));
          links.push(this.call(() => this.native.attachUprobe(p.exit, binary, p.func, true, pid), 'EBPF_ATTACH_FAILED'));
        } catch (err) {
          if (p.required) throw err;
        }
      }
    } catch (err) {
      for (const l of links) this.native.detach(l);
      throw err;
    }
    return links;
  }

  /**
   * Stops copying a socket's bytes from `source` (Source.SYSCALL or
   * Source.OPENSSL): user space found no protocol it parses on it.
   */
  ignoreSocket(sockId: number, source: number): void {
    const key = Buffer.alloc(8);
    key.writeBigUInt64LE(BigInt(sockId));
    this.call(() => this.native.updateMap('mf_ignore', key, Buffer.from([1 << source])), 'EBPF_MAP_UPDATE_FAILED');
  }

  /**
   * Leaves the far end of the agent's own sockets untraced: other processes'
   * messages whose remote port is one of these local ports are skipped in
   * the kernel (as for the connections the agent opens while tracing). The
   * entry is dropped when the agent closes `fd`.
   */
  excludePeersOf(sockets: ReadonlyArray<{ fd: number; port: number }>): void {
    for (const { fd, port } of sockets) {
      const p = Buffer.alloc(2);
      p.writeUInt16LE(port & 0xffff);
      const f = Buffer.alloc(4);
      f.writeUInt32LE(fd >>> 0);
      this.call(() => this.native.updateMap('mf_self_ports', p, Buffer.from([1])), 'EBPF_MAP_UPDATE_FAILED');
      this.call(() => this.native.updateMap('mf_self_fds', f, p), 'EBPF_MAP_UPDATE_FAILED');
    }
  }

  /** Detaches one probe. */
  detach(link: number): boolean {
    return this.call(() => this.native.detach(link), 'EBPF_FAILED');
  }

  /** Writes the config map; tracing starts once `enabled` is written true. */
  configure(cfg: TracerConfig, enabled: boolean, filterFlags: number): void {
    const b = Buffer.alloc(24);
    b.writeUInt32LE(enabled ? 1 : 0, 0);
    b.writeUInt32LE(cfg.selfPid >>> 0, 4);
    b.writeUInt32LE(Math.max(0, Math.min(MAX_CAPTURE_BYTES, cfg.captureBytes)), 8);
    b.writeUInt32LE(cfg.wakeupBytes >>> 0, 12);
    b.writeUInt32LE(filterFlags >>> 0, 16);
    b.writeUInt16LE(cfg.ephemeralPorts[0], 20);
    b.writeUInt16LE(cfg.ephemeralPorts[1], 22);
    this.call(() => this.native.updateMap('mf_config', Buffer.alloc(4), b), 'EBPF_MAP_UPDATE_FAILED');
  }

  /** Replaces the filter maps' contents; returns the filter flags for {@link configure}. */
  setFilters(f: TracerFilters): number {
    let flags = 0;
    const maps = ['mf_filter_pid', 'mf_filter_comm', 'mf_filter_cgroup', 'mf_filter_port'];
    this.call(() => maps.forEach((m) => this.native.clearMap(m)), 'EBPF_MAP_UPDATE_FAILED');
    const put = (map: string, entries: Map<string, { key: Buffer; v: number }>) => {
      for (const { key, v } of entries.values()) this.call(() => this.native.updateMap(map, key, Buffer.from([v])), 'EBPF_MAP_UPDATE_FAILED');
    };
    const collect = <T>(allow: T[], deny: T[], keyOf: (x: T) => Buffer) => {
      const m = new Map<string, { key: Buffer; v: number }>();
      for (const [list, bit] of [
        [allow, ALLOW],
        [deny, DENY],
      ] as Array<[T[], number]>) {
        for (const x of list) {
          const key = keyOf(x);
          const id = key.toString('hex');
          const e = m.get(id) ?? { key, v: 0 };
          e.v |= bit;
          m.set(id, e);
        }
      }
      return m;
    };
    const u32 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n >>> 0);
      return b;
    };
    const u16 = (n: number) => {
      const b = Buffer.alloc(2);
      b.writeUInt16LE(n & 0xffff);
      return b;
    };
    const u64 = (n: bigint) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(n);
      return b;
    };
    const comm = (s: string) => {
      // The kernel keeps 15 bytes of a command name.
      const b = Buffer.alloc(16);
      Buffer.from(s, 'utf8').subarray(0, 15).copy(b);
      return b;
    };
    put('mf_filter_pid', collect(f.allow.pids, f.deny.pids, u32));
    put('mf_filter_comm', collect(f.allow.comms, f.deny.comms, comm));
    put('mf_filter_cgroup', collect(f.allow.cgroupIds, f.deny.cgroupIds, u64));
    put('mf_filter_port', collect(f.allow.ports, f.deny.ports, u16));
    if (f.allow.pids.length) flags |= FILTER.PID_ALLOW;
    if (f.deny.pids.length) flags |= FILTER.PID_DENY;
    if (f.allow.comms.length) flags |= FILTER.COMM_ALLOW;
    if (f.deny.comms.length) flags |= FILTER.COMM_DENY;
    if (f.allow.cgroupIds.length) flags |= FILTER.CGROUP_ALLOW;
    if (f.deny.cgroupIds.length) flags |= FILTER.CGROUP_DENY;
    if (f.allow.ports.length) flags |= FILTER.PORT_ALLOW;
    if (f.deny.ports.length) flags |= FILTER.PORT_DENY;
    return flags;
  }

  /** The kernel-side counters, summed over CPUs. */
  counters(): KernelCounters {
    const c = this.call(() => this.native.counters(), 'EBPF_FAILED');
    return { lostRingbuf: c[COUNTER.LOST_RINGBUF], lostScratch: c[COUNTER.LOST_SCRATCH], sslNoFd: c[COUNTER.SSL_NO_FD], events: c[COUNTER.EVENTS] };
  }

  /**
   * Starts the native consumer. `onBatch` runs on the JavaScript thread once
   * per batch; it must not throw (an exception there is the process's
   * uncaught exception). Walk the batch with an {@link EventCursor}.
   */
  start(onBatch: (batch: Buffer, count: number) => void, opts: ConsumeOptions): void {
    this.call(() => this.native.start(onBatch, opts), 'EBPF_RINGBUF_FAILED');
  }

  /** Stops the consumer thread (batches already handed over are still delivered). */
  stop(): void {
    if (!this.closed) this.native.stop();
  }

  /** The consumer's counters. */
  stats(): NativeStats {
    return this.closed ? { events: 0, bytes: 0, batches: 0, waits: 0, links: 0 } : this.native.stats();
  }

  /** The programs in the object. */
  programs(): Array<{ name: string; section: string }> {
    return this.call(() => this.native.programs(), 'EBPF_FAILED');
  }

  /** The kernel's ids of the loaded programs and of the attached links; empty once closed. */
  kernelIds(): KernelIds {
    return this.closed ? { programs: [], links: [] } : this.native.kernelIds();
  }

  /** Stops, detaches every probe and unloads the programs. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
  }
}

/** A ring buffer size the kernel accepts: a power of two, at least one page. */
function ringSize(bytes: number): number {
  let n = 4096;
  while (n < bytes && n < 1 << 30) n *= 2;
  return n;
}
