/**
 * Per-socket stream assembly: socket events in, OTel spans out.
 *
 * Each socket (and, for TLS, its plaintext seen through OpenSSL, kept apart
 * from its ciphertext) is one connection with its own protocol detection and
 * parser (protocols/detector.ts). Reads and writes become the parser's
 * request and response directions according to the process's role on the
 * socket: the kernel knows it from connect/accept; for sockets opened before
 * tracing started it guesses from the ports, and when even that fails the
 * first bytes decide (whichever reading the protocols recognise).
 *
 * Every finished L7 session becomes a span (protocols/span.ts) with kind
 * SERVER or CLIENT from the role, plus what only the kernel knows: process,
 * thread, syscall trace ids and TCP sequence numbers of the request and the
 * response. Those come from the first chunk of each message: a chunk is
 * taken as a message start when the direction changed since the previous
 * chunk (requests and responses alternate on a connection).
 *
 * Bounded: at most `maxConnections` connections (the oldest are closed
 * beyond it), idle connections closed after `idleTimeoutNs`, and the
 * parsers' own buffers bounded by the parser options.
 */
import { SpanKind, type Attributes, type Span } from '../../pipeline/pdata';
import { L7Connection } from '../../protocols/detector';
import { sessionToSpan, type SessionFlow } from '../../protocols/span';
import type { Confidence, Dir, FeedFlags, L7Session, ParserContext, ParserOptions, ProtocolSpec } from '../../protocols/types';
import { Direction, EventFlag, EventType, Role, Source, type EventCursor } from '../../bpf/index';
import type { ProcessInfo, ProcessTable } from './process';

/** Where spans and parse failures go. */
export interface StreamsSink {
  span(proc: ProcessInfo, span: Span): void;
  /** A parser could not make sense of a message of `protocol`. */
  malformed(protocol: string): void;
  /** No protocol was recognised on a socket: its bytes from `source` need not be sent any more. */
  ignore?(sockId: number, source: number): void;
}

/** Settings of {@link SocketStreams}. */
export interface StreamsOptions {
  specs: readonly ProtocolSpec[];
  parser: ParserOptions;
  maxConnections: number;
  idleTimeoutNs: bigint;
  /** Added to the events' CLOCK_MONOTONIC times to get Unix ns. */
  clockOffsetNs: bigint;
}

/** Counters of the assembly. */
export interface StreamsCounters {
  dataEvents: number;
  closeEvents: number;
  execEvents: number;
  exitEvents: number;
  /** Connections closed because the table was full. */
  evicted: number;
  /** Connections closed for inactivity. */
  idleClosed: number;
  /** Connections whose protocol was not recognised (the kernel stops sending them). */
  ignored: number;
  spans: number;
}

/** Message starts remembered per direction of a connection. */
const META_SLOTS = 8;

/** The facts of the first chunk of a message. */
class MessageMeta {
  time = 0n;
  tid = 0;
  traceId = 0;
  tcpSeq = 0;
}

/** Tuples remembered for local-peer lookup (oldest forgotten first). */
const MAX_TUPLES = 16384;

const NO_FLAGS: FeedFlags = Object.freeze({});
const DATAGRAM: FeedFlags = Object.freeze({ datagram: true });

/** One traced connection (one socket and source, or one UDP peer of an unconnected socket). */
class Conn implements ParserContext {
  readonly l7: L7Connection;
  readonly options: ParserOptions;
  /** CLOCK_MONOTONIC ns of the last event, for idleness (a number: no allocation per event). */
  lastMono = 0;
  /** The kernel was told to stop sending this connection's bytes. */
  ignored = false;
  private lastDir = -1;
  /** `local|lport|remote|rport` of a TCP connection ('' otherwise), for finding a traced local peer. */
  tuple = '';
  /** The same tuple seen from the other end. */
  peerTuple = '';
  private readonly meta: [MessageMeta[], MessageMeta[]] = [[], []];
  private readonly metaNext = [0, 0];

  constructor(
    private readonly owner: SocketStreams,
    readonly key: number | string,
    readonly tgid: number,
    readonly sockId: number,
    readonly fd: number,
    readonly tls: boolean,
    readonly role: number,
    readonly flow: SessionFlow,
    readonly proc: ProcessInfo,
    specs: readonly ProtocolSpec[],
    options: ParserOptions,
  ) {
    this.options = options;
    for (let d = 0; d < 2; d++) for (let i = 0; i < META_SLOTS; i++) this.meta[d].push(new MessageMeta());
    this.l7 = new L7Connection(specs, flow.server_port, this);
  }

  /** ParserContext: a finished session. */
  emit(session: L7Session): void {
    this.owner.onSession(this, session);
  }

  /** ParserContext: a message the parser could not read. */
  malformed(): void {
    this.owner.onMalformed(this.l7.protocol ?? 'unknown');
  }

  /** Records a chunk's facts when it starts a message, then feeds it. */
  feed(dir: Dir, data: Uint8Array, time: bigint, tid: number, traceId: number, tcpSeq: number, flags: FeedFlags): void {
    if (dir !== this.lastDir) {
      const slot = this.metaNext[dir];
      const m = this.meta[dir][slot];
      m.time = time;
      m.tid = tid;
      m.traceId = traceId;
      m.tcpSeq = tcpSeq;
      this.metaNext[dir] = (slot + 1) % META_SLOTS;
      this.lastDir = dir;
    }
    this.l7.feed(dir, data, time, flags);
  }

  /** The request's first chunk: the one at `start`, else the latest before it. */
  requestMeta(start: bigint): MessageMeta | undefined {
    let best: MessageMeta | undefined;
    for (const m of this.meta[0]) {
      if (m.time === 0n || m.time > start) continue;
      if (m.time === start) return m;
      if (!best || m.time > best.time) best = m;
    }
    return best;
  }

  /** The response's first chunk: the earliest within [start, end]. */
  responseMeta(start: bigint, end: bigint): MessageMeta | undefined {
    let best: MessageMeta | undefined;
    for (const m of this.meta[1]) {
      if (m.time === 0n || m.time < start || m.time > end) continue;
      if (!best || m.time < best.time) best = m;
    }
    return best;
  }
}

/** See the module doc. */
export class SocketStreams {
  /** Connections by socket id (syscall bytes) or its negative (OpenSSL plaintext). */
  private readonly conns = new Map<number, Conn>();
  /** Unconnected UDP sockets, one connection per peer. */
  private readonly peers = new Map<string, Conn>();
  /**
   * Recently traced TCP connections by tuple → process, so a span can name a
   * local peer's process (curl → nginx on one host: both sockets are traced).
   * Kept past close (the peer's session may come later), bounded.
   */
  private readonly tuples = new Map<string, number>();
  private readonly exited = new Set<number>();
  private readonly tcpSpecs: readonly ProtocolSpec[];
  private readonly udpSpecs: readonly ProtocolSpec[];
  readonly counters: StreamsCounters = { dataEvents: 0, closeEvents: 0, execEvents: 0, exitEvents: 0, evicted: 0, idleClosed: 0, ignored: 0, spans: 0 };
  /** Called for every exec event (after the process table forgot the old image). */
  onExec: ((pid: number, file: string) => void) | undefined;

  constructor(
    private readonly opts: StreamsOptions,
    private readonly procs: ProcessTable,
    private readonly sink: StreamsSink,
  ) {
    this.tcpSpecs = opts.specs.filter((s) => s.transport !== 'udp');
    this.udpSpecs = opts.specs.filter((s) => s.transport !== 'tcp');
  }

  /** Connections tracked now. */
  get activeConnections(): number {
    return this.conns.size + this.peers.size;
  }

  /** Handles the event under the cursor. */
  handle(ev: EventCursor): void {
    switch (ev.type) {
      case EventType.DATA:
        this.counters.dataEvents++;
        this.data(ev);
        break;
      case EventType.CLOSE:
        this.counters.closeEvents++;
        this.close(ev.sockId, this.time(ev.tsExit));
        break;
      case EventType.EXEC: {
        this.counters.execEvents++;
        const pid = ev.tgid;
        const file = ev.data().toString('utf8');
        this.procs.exec(pid, file);
        this.onExec?.(pid, file);
        break;
      }
      case EventType.EXIT:
        this.counters.exitEvents++;
        this.procs.exit(ev.tgid);
        this.exited.add(ev.tgid);
        break;
      default:
        break;
    }
  }

  private time(mono: bigint): bigint {
    return this.opts.clockOffsetNs + mono;
  }

  private data(ev: EventCursor): void {
    const tls = ev.source === Source.OPENSSL;
    const sockId = ev.sockId;
    const udp = ev.l4 === 17;
    let conn: Conn | undefined;
    let peerKey = '';
    if (udp && ev.flags & EventFlag.PEER_FROM_MSG) {
      peerKey = `${sockId}|${ev.remoteAddress()}|${ev.rport}`;
      conn = this.peers.get(peerKey);
    } else {
      conn = this.conns.get(tls ? -sockId : sockId);
    }
    const egress = ev.dir === Direction.EGRESS;
    const data = ev.data();
    if (!conn) {
      conn = this.open(ev, tls, udp, egress, data, peerKey);
      if (!conn) return;
    }
    conn.lastMono = ev.tsExitNumber;
    // Requests flow from the client: the client's writes, the server's reads.
    const dir: Dir = egress === (conn.role === Role.CLIENT) ? 0 : 1;
    // A write is timed when it starts, a read when its bytes arrived.
    const time = this.time(egress ? ev.tsEnter : ev.tsExit);
    const dataLen = ev.dataLen;
    let flags = udp ? DATAGRAM : NO_FLAGS;
    if (data.length < dataLen) flags = udp ? { datagram: true, messageLength: dataLen } : { messageLength: dataLen };
    conn.feed(dir, data, time, ev.tid, ev.traceId, ev.tcpSeq, flags);
    if (conn.l7.unknown && !conn.ignored && !peerKey) {
      // Detection gave up: nothing on this socket will become a span.
      conn.ignored = true;
      this.counters.ignored++;
      this.sink.ignore?.(sockId, tls ? Source.OPENSSL : Source.SYSCALL);
    }
  }

  private open(ev: EventCursor, tls: boolean, udp: boolean, egress: boolean, data: Uint8Array, peerKey: string): Conn | undefined {
    const lport = ev.lport;
    const rport = ev.rport;
    const specs = udp ? this.udpSpecs : this.tcpSpecs;
    let role: number = ev.role;
    if (role === Role.UNKNOWN) role = inferRole(specs, data, egress, lport, rport);
    const local = ev.localAddress();
    const remote = ev.remoteAddress();
    const client = role === Role.CLIENT;
    const flow: SessionFlow = {
      transport: udp ? 'udp' : 'tcp',
      client_ip: client ? local : remote,
      client_port: client ? lport : rport,
      server_ip: client ? remote : local,
      server_port: client ? rport : lport,
    };
    const proc = this.procs.get(ev.tgid, ev.comm());
    const sockId = ev.sockId;
    const key = peerKey || (tls ? -sockId : sockId);
    if (this.activeConnections >= this.opts.maxConnections) this.evictOldest(this.time(ev.tsExit));
    const conn = new Conn(this, key, ev.tgid, sockId, ev.fd, tls, role, flow, proc, specs, this.opts.parser);
    if (peerKey) this.peers.set(peerKey, conn);
    else this.conns.set(key as number, conn);
    if (!udp) {
      conn.tuple = `${local}|${lport}|${remote}|${rport}`;
      conn.peerTuple = `${remote}|${rport}|${local}|${lport}`;
      if (this.tuples.size >= MAX_TUPLES && !this.tuples.has(conn.tuple)) this.tuples.delete(this.tuples.keys().next().value as string);
      this.tuples.set(conn.tuple, ev.tgid);
    }
    return conn;
  }

  private evictOldest(now: bigint): void {
    const map = this.peers.size > this.conns.size ? this.peers : this.conns;
    const first = map.values().next().value as Conn | undefined;
    if (!first) return;
    this.counters.evicted++;
    this.drop(first, now);
  }

  private drop(conn: Conn, now: bigint): void {
    if (typeof conn.key === 'string') this.peers.delete(conn.key);
    else this.conns.delete(conn.key);
    conn.l7.close(now);
  }

  /** A socket closed: its connections end (pending requests become timeouts). */
  close(sockId: number, now: bigint): void {
    const a = this.conns.get(sockId);
    if (a) this.drop(a, now);
    const b = this.conns.get(-sockId);
    if (b) this.drop(b, now);
  }

  /**
   * Periodic work: request timeouts, idle connections, connections of exited
   * processes. `monoNow` is CLOCK_MONOTONIC ns.
   */
  housekeeping(monoNow: bigint): void {
    const now = this.time(monoNow);
    const idleBefore = Number(monoNow - this.opts.idleTimeoutNs);
    const exited = this.exited;
    for (const map of [this.conns, this.peers] as Array<Map<number | string, Conn>>) {
      for (const conn of map.values()) {
        if (exited.has(conn.tgid)) {
          this.drop(conn, now);
        } else if (conn.lastMono < idleBefore) {
          this.counters.idleClosed++;
          this.drop(conn, now);
        } else {
          conn.l7.expire(now);
        }
      }
    }
    exited.clear();
  }

  /** Ends every connection (shutdown): their pending sessions are emitted. */
  closeAll(monoNow: bigint): void {
    const now = this.time(monoNow);
    for (const conn of [...this.conns.values(), ...this.peers.values()]) this.drop(conn, now);
  }

  /** A parser finished a session on `conn`. */
  onSession(conn: Conn, s: L7Session): void {
    const req = conn.requestMeta(s.start_time);
    const resp = conn.responseMeta(s.start_time, s.end_time);
    const proc = conn.proc;
    // The process's name, executable and container id are on the resource;
    // every key here costs on the hot path, so only what varies per span.
    const extra: Attributes = {
      'metaflow.process.pid': conn.tgid,
      'metaflow.socket.id': conn.sockId,
    };
    // TCP sequences: of the message's first byte; for TLS plaintext, of the
    // TCP byte after the record that carried it (the same on both ends).
    const tcp = conn.flow.transport === 'tcp';
    if (req) {
      extra['metaflow.thread.id'] = req.tid;
      if (req.traceId) extra['metaflow.syscall.trace_id.request'] = req.traceId;
      if (tcp) extra['metaflow.tcp.seq.request'] = req.tcpSeq;
    }
    if (resp) {
      extra['metaflow.thread.id.response'] = resp.tid;
      if (resp.traceId) extra['metaflow.syscall.trace_id.response'] = resp.traceId;
      if (tcp) extra['metaflow.tcp.seq.response'] = resp.tcpSeq;
    }
    if (conn.tls) extra['metaflow.tls'] = true;
    // A traced socket at the other end (same host): name its process, for autotagging's end facts.
    // Its name too when known: a short-lived client may be gone before autotagging reads /proc.
    const peerPid = conn.peerTuple ? this.tuples.get(conn.peerTuple) : undefined;
    if (peerPid !== undefined) {
      const server = conn.role === Role.SERVER;
      extra[server ? 'metaflow.client.process.pid' : 'metaflow.server.process.pid'] = peerPid;
      const peer = this.procs.peek(peerPid);
      if (peer) extra[server ? 'metaflow.client.process.executable.name' : 'metaflow.server.process.executable.name'] = peer.comm;
    }
    const span = sessionToSpan(s, conn.flow, { kind: conn.role === Role.SERVER ? SpanKind.SERVER : SpanKind.CLIENT, source: 'ebpf', extra });
    this.counters.spans++;
    this.sink.span(proc, span);
  }

  /** A parser reported a message it could not read. */
  onMalformed(protocol: string): void {
    this.sink.malformed(protocol);
  }
}

/**
 * The role of a process on a socket whose connect/accept was not seen: the
 * reading of the first chunk the protocols recognise with more confidence
 * (as a request, or as a response), else the side with the lower port is the
 * server.
 */
export function inferRole(specs: readonly ProtocolSpec[], data: Uint8Array, egress: boolean, lport: number, rport: number): number {
  let asRequest: Confidence = 0;
  let asResponse: Confidence = 0;
  if (data.length) {
    for (const spec of specs) {
      try {
        const q = spec.infer(data, 0, egress ? rport : lport);
        const r = spec.infer(data, 1, egress ? lport : rport);
        if (q > asRequest) asRequest = q;
        if (r > asResponse) asResponse = r;
      } catch {
        // A spec that throws says nothing.
      }
    }
  }
  if (asRequest !== asResponse) {
    const isRequest = asRequest > asResponse;
    return isRequest === egress ? Role.CLIENT : Role.SERVER;
  }
  return lport !== 0 && lport < rport ? Role.SERVER : Role.CLIENT;
}
