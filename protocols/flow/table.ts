/**
 * The flow table: decoded packets → bidirectional flows, with TCP states,
 * L4 performance, reassembly and L7 parsing, and per-interval reports.
 *
 * Contract:
 * - A flow is a 5-tuple in both directions (protocol, addresses, ports) plus
 *   the outermost tunnel id, so equal inner tuples in different VNIs stay
 *   apart. ICMP and other IP protocols are flows with ports 0 unless
 *   `transportOnly`.
 * - Client and server: for TCP the SYN's sender (or the SYN-ACK's receiver)
 *   is the client when the flow starts with one of those. Otherwise, with
 *   `direction: 'capture'` (replay, the conformance README's rule), the
 *   destination port of the table's first TCP/UDP packet is the server port
 *   when it is one of the flow's ports; with `direction: 'ports'` (live), an
 *   endpoint seen answering a handshake, then a well-known port (below 1024
 *   or a parser's port) against one that is not, then the lower port, is the
 *   server. Failing all that, the first packet goes client → server.
 * - TCP states: opening (SYN sent, SYN-ACK sent), established, closing (one
 *   or both FINs), closed (both FINs acknowledged, or a RST). The close type
 *   is decided when the flow closes or times out (see {@link CLOSE_TYPES});
 *   flows that never completed a handshake they started count as connection
 *   failures. A pure SYN on a flow that saw FIN or RST, or whose client SYN
 *   had another initial sequence number, ends that flow and starts a new one
 *   (port reuse).
 * - Timeouts run on capture time ({@link FlowTimeouts}); a closed flow
 *   lingers `closed` ns to absorb stray packets. At most `maxFlows` flows
 *   live at once: beyond, the least recently active one is closed
 *   (`evicted`, counted).
 * - Per-packet work increments counters in place ({@link Counters}); the
 *   table allocates per new flow, never per packet (L7 parsing and
 *   reassembly allocate what their own contracts say).
 * - Reports: every second of capture time, the counters of the flows active
 *   in it are added to their server's aggregate (server ip, port,
 *   transport; at most `maxServers`, then one overflow aggregate) and to the
 *   flow's interval; `metrics` is called for each second and each minute
 *   (aligned to wall-clock seconds and minutes) with the aggregates that saw
 *   traffic; `flowLog` once per flow and flow-log interval with traffic, and
 *   once more when the flow closes (`Infinity` as the interval: only at close).
 * - L7: with `l7` set, TCP is reassembled and each TCP and UDP flow feeds an
 *   {@link L7Connection}; sessions go to `session` with their flow. `expire`
 *   reaches parsers and reassemblers every second of capture time, and a
 *   flow's L7 state is closed with the time of its last packet.
 * - Nothing here throws for any packet.
 */
import { L7Connection } from '../detector';
import type { DecodedPacket } from '../packet/decode';
import { DecodeStatus, TcpFlag, TUNNEL_NAMES } from '../packet/decode';
import type { PacketTime } from '../stream/tcp';
import { ReassemblyPool, TcpReassembler } from '../stream/tcp';
import type { Dir, L7Session, ParserContext, ParserOptions, ProtocolSpec } from '../types';
import {
  addCounters,
  BYTE_TX,
  CLOSED_FLOWS,
  FAILED_FLOWS,
  FIN,
  newCounters,
  NEW_FLOWS,
  PAYLOAD_TX,
  PKT_TX,
  RESET_FLOWS,
  RST_TX,
  TIMEOUT_FLOWS,
  type Counters,
} from './counters';
import { TcpPerf, UdpPerf } from './perf';

/** A packet's time as the table needs it (a CapturedPacket is one). */
export interface FlowPacketTime extends PacketTime {
  /** Whole seconds since the epoch, and nanoseconds within the second. */
  readonly tsSec: number;
  readonly tsNsFrac: number;
  /** Length of the frame on the wire. */
  readonly origLen: number;
}

/** TCP states of a flow (`Flow.state`). */
export const FlowState = {
  /** Joined without seeing a handshake; no classifying packet yet. */
  NEW: 0,
  /** The client's SYN, no SYN-ACK yet. */
  SYN_SENT: 1,
  /** The server's SYN-ACK, no final ACK yet. */
  SYN_RECEIVED: 2,
  ESTABLISHED: 3,
  /** One or both FINs (`finMask`), not yet acknowledged. */
  CLOSING: 4,
  /** Both FINs acknowledged, or reset; lingering before removal. */
  CLOSED: 5,
} as const;

/** State names by value (flow logs). */
export const STATE_NAMES = ['new', 'syn_sent', 'syn_received', 'established', 'closing', 'closed'] as const;

/**
 * Why a flow ended (`Flow.closeType`, index into this list). The TCP ones
 * follow DeepFlow's close types:
 * - `fin`: both FINs; `client_rst`/`server_rst`: reset while established;
 *   `fin_client_rst`: the client reset while closing, or reset a handshake
 *   the server had answered;
 * - `timeout`: idle while established (or any UDP/other flow);
 *   `client_half_close`/`server_half_close`: only that side's FIN, then idle;
 * - failures to connect: `client_syn_repeat` (SYNs unanswered),
 *   `server_synack_repeat` (SYN-ACKs never acknowledged), `server_reset`
 *   (the server reset the SYN: refused), `client_establish_reset` /
 *   `server_establish_reset` (reset during the handshake),
 *   `client_port_reuse` (the server answered the SYN as if for an older
 *   connection on the same ports), `server_queue_lack` (the server repeated
 *   its SYN-ACK after the handshake completed: its accept queue dropped it);
 * - `evicted`: the table's flow bound bit.
 */
export const CLOSE_TYPES = [
  '',
  'fin',
  'client_rst',
  'server_rst',
  'fin_client_rst',
  'timeout',
  'client_half_close',
  'server_half_close',
  'client_syn_repeat',
  'server_synack_repeat',
  'server_reset',
  'client_establish_reset',
  'server_establish_reset',
  'client_port_reuse',
  'server_queue_lack',
  'evicted',
] as const;

const CT_FIN = 1;
const CT_CLIENT_RST = 2;
const CT_SERVER_RST = 3;
const CT_FIN_CLIENT_RST = 4;
const CT_TIMEOUT = 5;
const CT_CLIENT_HALF = 6;
const CT_SERVER_HALF = 7;
const CT_SYN_REPEAT = 8;
const CT_SYNACK_REPEAT = 9;
const CT_SERVER_RESET = 10;
const CT_CLIENT_EST_RESET = 11;
const CT_SERVER_EST_RESET = 12;
const CT_PORT_REUSE = 13;
const CT_QUEUE_LACK = 14;
const CT_EVICTED = 15;

/** Idle times (ns of capture time) after which a flow is closed. `Infinity` disables one. */
export interface FlowTimeouts {
  /** TCP flows still in the handshake. */
  opening: number;
  /** Established TCP flows. */
  established: number;
  /** TCP flows with a FIN from one side only (half-closed), or both FINs unacknowledged. */
  closing: number;
  /** Closed TCP flows (FINs acknowledged or reset), lingering for stray packets. */
  closed: number;
  /** UDP and other flows. */
  datagram: number;
}

/** Defaults of {@link FlowTimeouts}. */
export const DEFAULT_FLOW_TIMEOUTS: FlowTimeouts = { opening: 5e9, established: 300e9, closing: 35e9, closed: 2e9, datagram: 30e9 };

/** L7 parsing settings of a table. */
export interface FlowL7Options {
  specs: readonly ProtocolSpec[];
  parser: ParserOptions;
  /** Keep reassembling a TCP flow whose protocol could not be detected (replay does, for its port-reuse rule). */
  keepUnknown?: boolean;
}

/** Options of {@link FlowTable}. */
export interface FlowTableOptions {
  /** Flows alive at once; the least recently active is evicted beyond. */
  maxFlows: number;
  timeouts: FlowTimeouts;
  /** How client and server are told apart without a handshake (see the module doc). */
  direction: 'capture' | 'ports';
  /** Only TCP and UDP make flows (other packets are counted and ignored). */
  transportOnly: boolean;
  /** L7 parsing; undefined for flows and L4 metrics only. */
  l7?: FlowL7Options;
  /** Reassembly bounds shared by the table's TCP flows (created when absent and `l7` is set). */
  reassembly?: ReassemblyPool;
  /** Flow-log interval in ns (aligned to multiples of it since the epoch); `Infinity`: one flow log per flow, at close. */
  flowLogIntervalNs: number;
  /** Server aggregates kept; beyond, flows count toward one overflow aggregate. */
  maxServers: number;
  /** Server endpoints learned from handshakes, kept for the `ports` rule. */
  maxLearnedServers: number;
}

/** Defaults of {@link FlowTableOptions}. */
export const DEFAULT_FLOW_TABLE_OPTIONS: FlowTableOptions = {
  maxFlows: 65536,
  timeouts: DEFAULT_FLOW_TIMEOUTS,
  direction: 'ports',
  transportOnly: false,
  flowLogIntervalNs: 60e9,
  maxServers: 10000,
  maxLearnedServers: 65536,
};

/** One flow. Fields are read by reports; only the table writes them. */
export class Flow {
  /** Unique within the table, increasing. */
  readonly id: number;
  /** 6 TCP, 17 UDP, else the IP protocol. */
  readonly protocol: number;
  /** `tcp`, `udp`, `icmp`, `ipv6-icmp` or `ip-<n>`. */
  readonly transport: string;
  readonly ipVersion: number;
  client_ip = '';
  client_port = 0;
  server_ip = '';
  server_port = 0;
  /** The outermost tunnel (0 / '' when none). */
  readonly tunnelType: number;
  readonly tunnelId: number;
  readonly vlan: number;
  /** Capture interface name ('' when unknown). */
  readonly iface: string;
  /** Times of the first and last packets, ns relative to the table's base. */
  startT = 0;
  lastT = 0;
  state: number = FlowState.NEW;
  /** FINs seen: 1 client, 2 server. */
  finMask = 0;
  rstMask = 0;
  /** Index into {@link CLOSE_TYPES}; 0 while open. */
  closeType = 0;
  /** The flow reached the established state at some point. */
  everEstablished = false;
  /** OR of the TCP flags each side sent. */
  flagsTx = 0;
  flagsRx = 0;
  /** Counters since the last second boundary (folded into `interval` and the server aggregate every second). */
  readonly pending: Counters = newCounters();
  /** Counters of the current flow-log interval. */
  readonly interval: Counters = newCounters();
  /** Start of the current flow-log interval (relative ns). */
  intervalStartT = 0;
  /** The L7 protocol detected ('' until then). */
  get l7Protocol(): string {
    return this.l7?.protocol ?? '';
  }

  // ---- table internals
  /** @internal */ hash = 0;
  /** @internal */ hnext: Flow | undefined = undefined;
  /** @internal */ lprev: Flow | undefined = undefined;
  /** @internal */ lnext: Flow | undefined = undefined;
  /** @internal Key: endpoint A (the lower one) and B. */ a4 = 0;
  /** @internal */ b4 = 0;
  /** @internal */ aIp = '';
  /** @internal */ bIp = '';
  /** @internal */ aPort = 0;
  /** @internal */ bPort = 0;
  /** @internal Endpoint A is the client. */ clientIsA = true;
  /** @internal */ touched = false;
  /** @internal */ inInterval = false;
  /** @internal */ removed = false;
  /** @internal */ serverData = false;
  /** @internal */ queueLack = false;
  /** @internal */ portReuse = false;
  /** @internal The client SYN's sequence number, -1 when none. */ synSeq = -1;
  /** @internal */ perf: TcpPerf | UdpPerf | undefined = undefined;
  /** @internal */ tcp: TcpReassembler | undefined = undefined;
  /** @internal */ l7: L7Connection | undefined = undefined;
  /** @internal */ agg: ServerAggregate | undefined = undefined;

  constructor(id: number, protocol: number, ipVersion: number, tunnelType: number, tunnelId: number, vlan: number, iface: string) {
    this.id = id;
    this.protocol = protocol;
    this.transport = protocol === 6 ? 'tcp' : protocol === 17 ? 'udp' : protocol === 1 ? 'icmp' : protocol === 58 ? 'ipv6-icmp' : `ip-${protocol}`;
    this.ipVersion = ipVersion;
    this.tunnelType = tunnelType;
    this.tunnelId = tunnelId;
    this.vlan = vlan;
    this.iface = iface;
  }

  /** The close type's name ('' while open). */
  get closeTypeName(): string {
    return CLOSE_TYPES[this.closeType];
  }

  /** The state's name. */
  get stateName(): string {
    return STATE_NAMES[this.state];
  }

  /** The tunnel type's name ('' when none). */
  get tunnelName(): string {
    return TUNNEL_NAMES[this.tunnelType] ?? '';
  }

  /** Whether the flow has been closed and removed from its table. */
  get closed(): boolean {
    return this.removed;
  }
}

/** The counters of one server endpoint (ip, port, transport) over a second and a minute. */
export class ServerAggregate {
  /** Counters of the current second. */
  readonly second: Counters = newCounters();
  /** Counters of the current minute (the seconds already folded). */
  readonly minute: Counters = newCounters();
  /** @internal */ inSecond = false;
  /** @internal */ inMinute = false;
  /** @internal */ alive = true;
  /** @internal Relative second of the last traffic. */ lastSecond = 0;

  constructor(
    readonly key: string,
    readonly serverIp: string,
    readonly serverPort: number,
    readonly transport: string,
    /** The aggregate of flows beyond `maxServers` (server fields empty). */
    readonly overflow: boolean,
  ) {}
}

/** What a table reports. Callbacks must not throw (their errors are counted and swallowed). */
export interface FlowEvents {
  /** An L7 session of a flow. */
  session?(s: L7Session, flow: Flow): void;
  /** A parser's malformed-input report. */
  malformed?(reason: string, flow: Flow): void;
  /**
   * A flow log: `flow.interval` holds the counters of [startT, endT)
   * (relative ns; absolute with {@link FlowTable.absNs}); `final` when the
   * flow closed (its close type is set).
   */
  flowLog?(flow: Flow, startT: number, endT: number, final: boolean): void;
  /**
   * Server aggregates of one second or minute [startNs, endNs): `second` or
   * `minute` counters of each, depending on `granularity`.
   */
  metrics?(granularity: '1s' | '1m', startNs: bigint, endNs: bigint, aggregates: readonly ServerAggregate[]): void;
}

/** What the table counted; never reset. */
export interface FlowTableCounters {
  /** Packets given to the table. */
  packets: number;
  /** Packets not made into flows (not decoded OK, or not TCP/UDP with `transportOnly`). */
  ignored: number;
  flowsCreated: number;
  flowsClosed: number;
  /** Flows closed early because `maxFlows` was reached. */
  flowsEvicted: number;
  /** Flows ended by a new SYN on their 5-tuple. */
  portReuses: number;
  /** Flows that went to the overflow aggregate because `maxServers` was reached. */
  serverOverflow: number;
  /** Packets the L4 performance rules ignored (impossible flags, time going backwards). */
  perfIgnored: number;
  /** Packets older than the table's clock (counted, processed with their own time). */
  timeBackwards: number;
  /** Report callbacks that threw (swallowed). */
  callbackErrors: number;
}

const SEC = 1e9;
const SYN = TcpFlag.SYN;
const ACK = TcpFlag.ACK;
const RST = TcpFlag.RST;
const FINF = TcpFlag.FIN;

/** See the module doc. */
export class FlowTable {
  readonly options: FlowTableOptions;
  readonly counters: FlowTableCounters = {
    packets: 0,
    ignored: 0,
    flowsCreated: 0,
    flowsClosed: 0,
    flowsEvicted: 0,
    portReuses: 0,
    serverOverflow: 0,
    perfIgnored: 0,
    timeBackwards: 0,
    callbackErrors: 0,
  };
  /** The reassembly pool (its counters), when L7 is on. */
  readonly reassembly: ReassemblyPool | undefined;
  private readonly buckets = new Map<number, Flow>();
  private size = 0;
  private head: Flow | undefined;
  private tail: Flow | undefined;
  private nextId = 1;
  /** Whole seconds since the epoch that relative time 0 stands for; -1 until the first packet. */
  private baseSec = -1;
  private baseNs = 0n;
  /** The table's clock: the latest packet or tick time (relative ns). */
  private now = 0;
  /** Relative time of the next second boundary. */
  private nextSecond = 0;
  private readonly touched: Flow[] = [];
  private readonly intervalFlows: Flow[] = [];
  private readonly secondAggs: ServerAggregate[] = [];
  private readonly minuteAggs: ServerAggregate[] = [];
  private readonly aggs = new Map<string, ServerAggregate>();
  private overflowAgg: ServerAggregate | undefined;
  /** Server endpoints seen answering handshakes (`ip|port` → true), for the `ports` rule. */
  private readonly learned = new Map<string, true>();
  private readonly wellKnown = new Uint8Array(65536);
  private firstDstPort = -1;
  private lastL7Expire = -1;
  private readonly tcpSpecs: readonly ProtocolSpec[] = [];
  private readonly udpSpecs: readonly ProtocolSpec[] = [];
  private readonly minTimeout: number;
  /** Flow-log interval in whole seconds, 0 for none (logs at close only). */
  private readonly intervalSec: number;

  constructor(
    options: Partial<FlowTableOptions> = {},
    private readonly events: FlowEvents = {},
  ) {
    this.options = { ...DEFAULT_FLOW_TABLE_OPTIONS, ...options, timeouts: { ...DEFAULT_FLOW_TIMEOUTS, ...options.timeouts } };
    const t = this.options.timeouts;
    this.minTimeout = Math.min(t.opening, t.established, t.closing, t.closed, t.datagram);
    const iv = this.options.flowLogIntervalNs;
    this.intervalSec = Number.isFinite(iv) ? Math.max(1, Math.round(iv / SEC)) : 0;
    const l7 = this.options.l7;
    if (l7) {
      this.tcpSpecs = l7.specs.filter((s) => s.transport !== 'udp');
      this.udpSpecs = l7.specs.filter((s) => s.transport !== 'tcp');
      this.reassembly = this.options.reassembly ?? new ReassemblyPool();
      for (const s of l7.specs) for (const p of s.ports) this.wellKnown[p & 0xffff] = 1;
    }
    for (let p = 1; p < 1024; p++) this.wellKnown[p] = 1;
  }

  /** Flows alive now. */
  get activeFlows(): number {
    return this.size;
  }

  /** Server aggregates kept now. */
  get servers(): number {
    return this.aggs.size;
  }

  /** Absolute capture time (ns since the epoch) of a relative time. */
  absNs(t: number): bigint {
    return this.baseNs + BigInt(Math.round(t));
  }

  /** Relative time of an absolute one in seconds + ns (the table's base is set by its first use). */
  private rel(tsSec: number, tsNsFrac: number): number {
    if (this.baseSec < 0) this.setBase(tsSec);
    return (tsSec - this.baseSec) * SEC + tsNsFrac;
  }

  private setBase(sec: number): void {
    this.baseSec = sec;
    this.baseNs = BigInt(sec) * 1_000_000_000n;
    this.now = 0;
    this.nextSecond = SEC;
  }

  /**
   * One decoded packet with its capture time. `iface` names the capture
   * interface for new flows. Never throws.
   */
  packet(d: DecodedPacket, p: FlowPacketTime, iface = ''): void {
    this.counters.packets++;
    if (d.status !== DecodeStatus.OK) {
      this.counters.ignored++;
      return;
    }
    const proto = d.protocol;
    const tcp = proto === 6;
    if (this.options.transportOnly && !tcp && proto !== 17) {
      this.counters.ignored++;
      return;
    }
    const t = this.rel(p.tsSec, p.tsNsFrac);
    if (t < this.now) this.counters.timeBackwards++;
    else if (t >= this.nextSecond) this.advance(t);
    else this.now = t;
    if (this.firstDstPort < 0 && (tcp || proto === 17)) this.firstDstPort = d.dstPort;

    // The key: endpoint A is the lower (address, port).
    const v4 = d.ipVersion === 4;
    const srcFirst = v4
      ? d.src4 < d.dst4 || (d.src4 === d.dst4 && d.srcPort <= d.dstPort)
      : d.srcIp < d.dstIp || (d.srcIp === d.dstIp && d.srcPort <= d.dstPort);
    const aPort = srcFirst ? d.srcPort : d.dstPort;
    const bPort = srcFirst ? d.dstPort : d.srcPort;
    let h: number;
    if (v4) {
      const a4 = srcFirst ? d.src4 : d.dst4;
      const b4 = srcFirst ? d.dst4 : d.src4;
      h = mix(a4, b4, (aPort << 16) | bPort, proto ^ (d.tunnelId << 8));
    } else {
      h = mix(strHash(srcFirst ? d.srcIp : d.dstIp), strHash(srcFirst ? d.dstIp : d.srcIp), (aPort << 16) | bPort, proto ^ (d.tunnelId << 8) ^ 0x5bd1e995);
    }
    let f = this.buckets.get(h);
    while (f !== undefined) {
      if (
        f.protocol === proto &&
        f.aPort === aPort &&
        f.bPort === bPort &&
        f.tunnelId === d.tunnelId &&
        (v4 ? f.ipVersion === 4 && f.a4 === (srcFirst ? d.src4 : d.dst4) && f.b4 === (srcFirst ? d.dst4 : d.src4) : f.ipVersion === 6 && f.aIp === (srcFirst ? d.srcIp : d.dstIp) && f.bIp === (srcFirst ? d.dstIp : d.srcIp))
      )
        break;
      f = f.hnext;
    }
    const flags = d.tcpFlags;
    const pureSyn = tcp && (flags & (SYN | ACK)) === SYN;
    if (f !== undefined && pureSyn && this.reused(f, d.seq)) {
      this.counters.portReuses++;
      this.close(f, 0);
      f = undefined;
    }
    if (f === undefined) f = this.create(d, t, h, srcFirst, aPort, bPort, iface);
    else if (f !== this.tail) this.toTail(f);

    const srcIsA = srcFirst;
    const dir: Dir = srcIsA === f.clientIsA ? 0 : 1;
    f.lastT = t;
    const c = f.pending;
    c[PKT_TX + dir]++;
    c[BYTE_TX + dir] += p.origLen;
    c[PAYLOAD_TX + dir] += d.payloadWireLength;
    if (!f.touched) {
      f.touched = true;
      this.touched.push(f);
    }
    if (tcp) {
      if (dir === 0) f.flagsTx |= flags;
      else f.flagsRx |= flags;
      if (flags & RST) c[RST_TX + dir]++;
      if (flags & FINF) c[FIN]++;
      if (pureSyn && dir === 0) f.synSeq = d.seq;
      this.tcpState(f, d, dir, flags);
      const perf = f.perf as TcpPerf | undefined;
      if (perf !== undefined) {
        const before = perf.invalid;
        perf.packet(d, dir, t, c);
        if (perf.invalid !== before) this.counters.perfIgnored++;
      }
      const r = f.tcp;
      if (r !== undefined) {
        r.segmentPacket(dir, d, p);
        if (f.l7 !== undefined && f.l7.unknown && !this.options.l7?.keepUnknown) {
          // Nothing will parse this flow: stop reassembling it.
          r.close();
          f.tcp = undefined;
        }
      }
    } else {
      if (proto === 17) (f.perf as UdpPerf | undefined)?.packet(dir, t, c);
      const l7 = f.l7;
      if (l7 !== undefined && d.payloadLength > 0 && !l7.unknown) l7.feed(dir, d.payload(), p.tsNs, { datagram: true });
    }
    if (this.options.l7 !== undefined) {
      // Parsers and reassemblers learn the time every second of capture time.
      if (this.lastL7Expire < 0) this.lastL7Expire = t;
      else if (t - this.lastL7Expire >= SEC) {
        this.lastL7Expire = t;
        this.expireL7(p.tsNs);
      }
    }
  }

  /**
   * Moves the table's clock to `tsSec`/`tsNsFrac` without a packet (live
   * capture calls this every second so quiet flows time out and reports
   * go out). Earlier times are ignored.
   */
  tick(tsSec: number, tsNsFrac = 0): void {
    if (this.baseSec < 0) return;
    const t = this.rel(tsSec, tsNsFrac);
    if (t >= this.nextSecond) this.advance(t);
    if (this.options.l7 !== undefined && this.lastL7Expire >= 0 && t - this.lastL7Expire >= SEC) {
      this.lastL7Expire = t;
      this.expireL7(this.absNs(t));
    }
  }

  /** Lets parsers and reassemblers time out what waited too long at `ns`. */
  private expireL7(ns: bigint): void {
    for (let g = this.head; g !== undefined; g = g.lnext) {
      g.tcp?.expire(ns);
      g.l7?.expire(ns);
    }
  }

  /**
   * Closes every flow (as if it timed out: the close type follows its
   * state) and sends the last reports. For the end of a file or a shutdown.
   */
  flush(): void {
    if (this.baseSec < 0) return;
    const all: Flow[] = [];
    for (let f = this.head; f !== undefined; f = f.lnext) all.push(f);
    all.sort((x, y) => x.id - y.id);
    for (const f of all) this.close(f, 0);
    // The partial second and minute: reported with the time reached.
    this.foldTouched();
    const end = this.absNs(Math.max(this.now, this.nextSecond - SEC));
    this.emitSecond(this.absNs(this.nextSecond - SEC), end);
    this.emitMinute(this.absNs(this.minuteStart(this.nextSecond - SEC)), end);
    this.emitIntervals(this.now);
  }

  // ------------------------------------------------------------------ flows

  private create(d: DecodedPacket, t: number, h: number, srcFirst: boolean, aPort: number, bPort: number, iface: string): Flow {
    if (this.size >= this.options.maxFlows && this.head !== undefined) {
      this.counters.flowsEvicted++;
      this.close(this.head, CT_EVICTED);
    }
    const tcp = d.protocol === 6;
    const f = new Flow(this.nextId++, d.protocol, d.ipVersion, d.tunnelType, d.tunnelId, d.vlan, iface);
    f.hash = h;
    f.aPort = aPort;
    f.bPort = bPort;
    if (d.ipVersion === 4) {
      f.a4 = srcFirst ? d.src4 : d.dst4;
      f.b4 = srcFirst ? d.dst4 : d.src4;
    }
    f.aIp = srcFirst ? d.srcIp : d.dstIp;
    f.bIp = srcFirst ? d.dstIp : d.srcIp;
    const clientIsSrc = this.clientIsSrc(d);
    f.clientIsA = clientIsSrc === srcFirst;
    f.client_ip = clientIsSrc ? d.srcIp : d.dstIp;
    f.client_port = clientIsSrc ? d.srcPort : d.dstPort;
    f.server_ip = clientIsSrc ? d.dstIp : d.srcIp;
    f.server_port = clientIsSrc ? d.dstPort : d.srcPort;
    f.startT = t;
    f.intervalStartT = t;
    if (tcp) f.perf = new TcpPerf();
    else if (d.protocol === 17) f.perf = new UdpPerf();
    else f.state = FlowState.ESTABLISHED;
    const l7 = this.options.l7;
    if (l7 !== undefined && (tcp || d.protocol === 17)) {
      const table = this;
      const ctx: ParserContext = {
        options: l7.parser,
        emit(s: L7Session) {
          table.emitSession(s, f);
        },
        malformed(reason: string) {
          table.emitMalformed(reason, f);
        },
      };
      const conn = new L7Connection(tcp ? this.tcpSpecs : this.udpSpecs, f.server_port, ctx);
      f.l7 = conn;
      if (tcp) f.tcp = new TcpReassembler((dir: Dir, data: Uint8Array, t: bigint, gap: boolean) => conn.feed(dir, data, t, gap ? GAP : NO_FLAGS), this.reassembly);
    }
    f.pending[NEW_FLOWS] = 1;
    // Link into the bucket chain and the tail of the activity list.
    f.hnext = this.buckets.get(h);
    this.buckets.set(h, f);
    f.lprev = this.tail;
    if (this.tail !== undefined) this.tail.lnext = f;
    else this.head = f;
    this.tail = f;
    this.size++;
    this.counters.flowsCreated++;
    return f;
  }

  /** Whether the packet's source is the client of a new flow (see the module doc). */
  private clientIsSrc(d: DecodedPacket): boolean {
    const flags = d.tcpFlags;
    if (d.protocol === 6 && (flags & SYN) !== 0) return (flags & ACK) === 0;
    const sp = d.srcPort;
    const dp = d.dstPort;
    if (this.options.direction === 'capture') {
      const fp = this.firstDstPort;
      if (dp === fp && sp !== fp) return true;
      if (sp === fp && dp !== fp) return false;
      return true;
    }
    if (this.learned.size > 0) {
      if (this.learned.has(`${d.dstIp}|${dp}`)) return true;
      if (this.learned.has(`${d.srcIp}|${sp}`)) return false;
    }
    const wk = this.wellKnown;
    if (wk[dp] === 1 && wk[sp] === 0) return true;
    if (wk[sp] === 1 && wk[dp] === 0) return false;
    if (sp !== dp && sp !== 0 && dp !== 0) return dp < sp;
    return true;
  }

  /** Remembers a server endpoint that answered a handshake. */
  private learn(f: Flow): void {
    if (this.options.direction !== 'ports') return;
    const key = `${f.server_ip}|${f.server_port}`;
    if (this.learned.has(key)) return;
    if (this.learned.size >= this.options.maxLearnedServers) this.learned.clear();
    this.learned.set(key, true);
  }

  /** Whether a pure SYN with sequence `seq` starts a new connection on flow `f` (port reuse). */
  private reused(f: Flow, seq: number): boolean {
    const r = f.tcp;
    const ended = r !== undefined ? r.reset || r.finSeen(0) || r.finSeen(1) : f.rstMask !== 0 || f.finMask !== 0 || f.state === FlowState.CLOSED;
    return ended || (f.synSeq >= 0 && f.synSeq !== seq);
  }

  /** The TCP state machine (see {@link FlowState} and {@link CLOSE_TYPES}). */
  private tcpState(f: Flow, d: DecodedPacket, dir: Dir, flags: number): void {
    const bit = dir === 0 ? 1 : 2;
    if (dir === 1 && d.payloadWireLength > 0) f.serverData = true;
    const s = f.state;
    if (s === FlowState.CLOSED) return;
    if (flags & RST) {
      f.rstMask |= bit;
      if (f.closeType === 0) f.closeType = this.resetType(f, dir);
      f.state = FlowState.CLOSED;
      return;
    }
    if (flags & SYN) {
      if (flags & ACK) {
        if (dir === 1 && s <= FlowState.SYN_SENT) {
          f.state = FlowState.SYN_RECEIVED;
          this.learn(f);
        } else if (dir === 1 && f.everEstablished && !f.serverData) f.queueLack = true;
      } else if (dir === 0 && s === FlowState.NEW) f.state = FlowState.SYN_SENT;
      return;
    }
    if (flags & FINF) {
      f.finMask |= bit;
      if (s < FlowState.CLOSING) {
        if (s === FlowState.ESTABLISHED || d.payloadWireLength > 0 || (flags & ACK) !== 0) this.establish(f);
        f.state = FlowState.CLOSING;
      }
      return;
    }
    if (s === FlowState.CLOSING) {
      if (f.finMask === 3 && (flags & ACK) !== 0) {
        f.closeType = CT_FIN;
        f.state = FlowState.CLOSED;
      }
      return;
    }
    if (s === FlowState.SYN_SENT) {
      if (dir === 1 && (flags & ACK) !== 0) {
        // The server acknowledges something other than our SYN: it holds an older connection.
        if (f.synSeq >= 0 && d.ack !== ((f.synSeq + 1) >>> 0)) f.portReuse = true;
        else this.establish(f);
      } else if (dir === 0 && ((flags & ACK) !== 0 || d.payloadWireLength > 0) && !f.portReuse) this.establish(f);
      return;
    }
    if (s === FlowState.SYN_RECEIVED) {
      if (dir === 0 && (flags & ACK) !== 0) this.establish(f);
      return;
    }
    if (s === FlowState.NEW && ((flags & ACK) !== 0 || d.payloadWireLength > 0)) this.establish(f);
  }

  private establish(f: Flow): void {
    f.state = FlowState.ESTABLISHED;
    f.everEstablished = true;
  }

  /** The close type of a reset from `dir`. */
  private resetType(f: Flow, dir: Dir): number {
    const s = f.state;
    if (s === FlowState.SYN_SENT || s === FlowState.SYN_RECEIVED || (s === FlowState.NEW && !f.everEstablished && f.synSeq >= 0)) {
      if (f.portReuse) return CT_PORT_REUSE;
      if (dir === 1) return s === FlowState.SYN_RECEIVED ? CT_SERVER_EST_RESET : CT_SERVER_RESET;
      return s === FlowState.SYN_RECEIVED ? CT_FIN_CLIENT_RST : CT_CLIENT_EST_RESET;
    }
    if (f.queueLack) return CT_QUEUE_LACK;
    if (dir === 0) return f.finMask !== 0 ? CT_FIN_CLIENT_RST : CT_CLIENT_RST;
    return CT_SERVER_RST;
  }

  /** The close type of a flow that timed out (or is flushed) in its state. */
  private timeoutType(f: Flow): number {
    if (f.protocol !== 6) return CT_TIMEOUT;
    switch (f.state) {
      case FlowState.SYN_SENT:
        return f.portReuse ? CT_PORT_REUSE : CT_SYN_REPEAT;
      case FlowState.SYN_RECEIVED:
        return CT_SYNACK_REPEAT;
      case FlowState.CLOSING:
        return f.finMask === 3 ? CT_FIN : f.finMask === 1 ? CT_CLIENT_HALF : CT_SERVER_HALF;
      default:
        return f.queueLack ? CT_QUEUE_LACK : f.portReuse ? CT_PORT_REUSE : CT_TIMEOUT;
    }
  }

  /** Idle time after which `f` times out. */
  private timeoutOf(f: Flow): number {
    const t = this.options.timeouts;
    if (f.protocol !== 6) return t.datagram;
    switch (f.state) {
      case FlowState.SYN_SENT:
      case FlowState.SYN_RECEIVED:
        return t.opening;
      case FlowState.CLOSING:
        return t.closing;
      case FlowState.CLOSED:
        return t.closed;
      default:
        return t.established;
    }
  }

  /**
   * Ends a flow: its close type (`type`, or the one it has, or the one its
   * state implies), L7 finished with its last packet's time, final
   * counters folded and reported, then removed.
   */
  private close(f: Flow, type: number): void {
    if (f.removed) return;
    if (type !== 0) f.closeType = type;
    else if (f.closeType === 0) f.closeType = this.timeoutType(f);
    const c = f.pending;
    c[CLOSED_FLOWS] = 1;
    if (f.protocol === 6) {
      const ct = f.closeType;
      if (ct === CT_TIMEOUT) c[TIMEOUT_FLOWS] = 1;
      if (f.rstMask !== 0) c[RESET_FLOWS] = 1;
      if ((!f.everEstablished && f.synSeq >= 0 && ct !== CT_EVICTED) || ct === CT_QUEUE_LACK || ct === CT_PORT_REUSE || ct === CT_SYNACK_REPEAT) c[FAILED_FLOWS] = 1;
    } else if (f.closeType === CT_TIMEOUT) c[TIMEOUT_FLOWS] = 1;
    if (f.tcp !== undefined) f.tcp.close();
    if (f.l7 !== undefined) f.l7.close(this.absNs(f.lastT));
    this.fold(f);
    this.unlink(f);
    f.removed = true;
    this.counters.flowsClosed++;
    if (this.events.flowLog) this.call(() => this.events.flowLog?.(f, f.intervalStartT, Math.max(f.lastT, f.intervalStartT), true));
  }

  private unlink(f: Flow): void {
    // Bucket chain.
    const first = this.buckets.get(f.hash);
    if (first === f) {
      if (f.hnext !== undefined) this.buckets.set(f.hash, f.hnext);
      else this.buckets.delete(f.hash);
    } else {
      let g = first;
      while (g !== undefined && g.hnext !== f) g = g.hnext;
      if (g !== undefined) g.hnext = f.hnext;
    }
    f.hnext = undefined;
    // Activity list.
    if (f.lprev !== undefined) f.lprev.lnext = f.lnext;
    else this.head = f.lnext;
    if (f.lnext !== undefined) f.lnext.lprev = f.lprev;
    else this.tail = f.lprev;
    f.lprev = undefined;
    f.lnext = undefined;
    this.size--;
  }

  private toTail(f: Flow): void {
    if (f.lprev !== undefined) f.lprev.lnext = f.lnext;
    else this.head = f.lnext;
    if (f.lnext !== undefined) f.lnext.lprev = f.lprev;
    f.lprev = this.tail;
    f.lnext = undefined;
    if (this.tail !== undefined) this.tail.lnext = f;
    this.tail = f;
  }

  // ------------------------------------------------------------------ time and reports

  /** Processes every second boundary up to `t`: folds, timeouts, reports. */
  private advance(t: number): void {
    while (this.nextSecond <= t) {
      const end = this.nextSecond;
      this.now = end;
      this.foldTouched();
      this.expireFlows(end);
      this.foldTouched();
      this.emitSecond(this.absNs(end - SEC), this.absNs(end));
      const endSec = this.baseSec + end / SEC;
      if (endSec % 60 === 0) this.emitMinute(this.absNs(end - 60 * SEC), this.absNs(end));
      if (this.intervalSec > 0 && endSec % this.intervalSec === 0) this.emitIntervals(end);
      this.nextSecond = end + SEC;
      // Nothing pending and a long gap: jump to the last boundary before t.
      if (this.nextSecond + SEC <= t && this.quiet()) {
        let skip = Math.floor((t - this.nextSecond) / SEC) * SEC;
        // Stop at the next minute boundary so minute reports keep their place.
        const secs = this.baseSec + this.nextSecond / SEC;
        if (this.minuteAggs.length > 0) skip = Math.min(skip, ((60 - (secs % 60)) % 60) * SEC);
        if (this.intervalFlows.length > 0) skip = Math.min(skip, ((this.intervalSec - (secs % this.intervalSec)) % this.intervalSec) * SEC);
        if (skip > 0) {
          this.nextSecond += skip;
          this.expireFlows(this.nextSecond - SEC);
        }
      }
    }
    this.now = t;
  }

  private quiet(): boolean {
    return this.touched.length === 0 && this.secondAggs.length === 0;
  }

  /** Start (relative ns) of the minute that contains `t`. */
  private minuteStart(t: number): number {
    const abs = this.baseSec + Math.floor(t / SEC);
    return (abs - (abs % 60) - this.baseSec) * SEC;
  }

  /** Closes flows idle beyond their timeout at `now`. */
  private expireFlows(now: number): void {
    let f = this.head;
    while (f !== undefined) {
      const next = f.lnext;
      const idle = now - f.lastT;
      // The list is ordered by activity: nothing after this can be idle long enough.
      if (idle < this.minTimeout) break;
      if (idle >= this.timeoutOf(f)) this.close(f, 0);
      f = next;
    }
  }

  /** Folds the pending counters of the flows active since the last second boundary. */
  private foldTouched(): void {
    const list = this.touched;
    for (let i = 0; i < list.length; i++) {
      const f = list[i];
      f.touched = false;
      if (!f.removed) this.fold(f);
    }
    list.length = 0;
  }

  /** Adds a flow's pending counters to its interval and its server aggregate. */
  private fold(f: Flow): void {
    const c = f.pending;
    if (c[PKT_TX] === 0 && c[PKT_TX + 1] === 0 && c[CLOSED_FLOWS] === 0 && c[NEW_FLOWS] === 0) return;
    addCounters(f.interval, c);
    if (!f.inInterval && this.intervalSec > 0) {
      f.inInterval = true;
      this.intervalFlows.push(f);
    }
    const agg = this.aggregateOf(f);
    addCounters(agg.second, c);
    agg.lastSecond = this.nextSecond;
    if (!agg.inSecond) {
      agg.inSecond = true;
      this.secondAggs.push(agg);
    }
    c.fill(0);
  }

  private aggregateOf(f: Flow): ServerAggregate {
    const cached = f.agg;
    if (cached !== undefined && cached.alive) return cached;
    const key = `${f.server_ip}|${f.server_port}|${f.transport}`;
    let agg = this.aggs.get(key);
    if (agg === undefined) {
      if (this.aggs.size >= this.options.maxServers) {
        this.counters.serverOverflow++;
        agg = this.overflowAgg ??= new ServerAggregate('', '', 0, '', true);
        f.agg = agg;
        return agg;
      }
      agg = new ServerAggregate(key, f.server_ip, f.server_port, f.transport, false);
      this.aggs.set(key, agg);
    }
    f.agg = agg;
    return agg;
  }

  private emitSecond(start: bigint, end: bigint): void {
    const list = this.secondAggs;
    if (list.length === 0) return;
    if (this.events.metrics) this.call(() => this.events.metrics?.('1s', start, end, list));
    for (let i = 0; i < list.length; i++) {
      const agg = list[i];
      agg.inSecond = false;
      addCounters(agg.minute, agg.second);
      agg.second.fill(0);
      if (!agg.inMinute) {
        agg.inMinute = true;
        this.minuteAggs.push(agg);
      }
    }
    list.length = 0;
  }

  private emitMinute(start: bigint, end: bigint): void {
    const list = this.minuteAggs;
    if (list.length > 0 && this.events.metrics) this.call(() => this.events.metrics?.('1m', start, end, list));
    for (let i = 0; i < list.length; i++) {
      list[i].inMinute = false;
      list[i].minute.fill(0);
    }
    list.length = 0;
    // Aggregates without traffic for two minutes are dropped (flows re-resolve theirs).
    const stale = this.nextSecond - 120 * SEC;
    for (const [key, agg] of this.aggs) {
      if (agg.lastSecond < stale && !agg.inSecond && !agg.inMinute) {
        agg.alive = false;
        this.aggs.delete(key);
      }
    }
  }

  /** Flow logs of the interval ending at `end` (relative ns). */
  private emitIntervals(end: number): void {
    const list = this.intervalFlows;
    for (let i = 0; i < list.length; i++) {
      const f = list[i];
      f.inInterval = false;
      if (f.removed) continue;
      if (this.events.flowLog) this.call(() => this.events.flowLog?.(f, f.intervalStartT, end, false));
      f.interval.fill(0);
      f.intervalStartT = end;
    }
    list.length = 0;
  }

  private emitSession(s: L7Session, f: Flow): void {
    if (this.events.session) this.call(() => this.events.session?.(s, f));
  }

  private emitMalformed(reason: string, f: Flow): void {
    if (this.events.malformed) this.call(() => this.events.malformed?.(reason, f));
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch {
      this.counters.callbackErrors++;
    }
  }
}

const GAP = { gap: true } as const;
const NO_FLAGS = {} as const;

/** A 31-bit hash of four 32-bit words (murmur3-style finalisation; stays a small integer for Map keys). */
function mix(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ b, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ c, 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 15) ^ d, 0x165667b1);
  h ^= h >>> 16;
  return h & 0x3fffffff;
}

/** A hash of an address string (IPv6 keys only). */
function strHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
