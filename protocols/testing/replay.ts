/**
 * The conformance harness: replays a capture file through protocol specs the
 * way the pcap receiver will, and returns the sessions they emit.
 *
 * Contract of {@link replayPcap}:
 * - Reads the whole file (pcap or pcapng), decodes each packet (tunnels
 *   removed, IP fragments reassembled) and groups TCP and UDP packets into
 *   connections by 5-tuple (both directions are one connection; the
 *   outermost tunnel id is part of the key, so equal inner tuples in
 *   different VNIs stay apart).
 * - Client and server: for TCP, the sender of the SYN (or the receiver of the
 *   SYN-ACK) is the client when the connection's first packet is one of
 *   those. Otherwise the conformance README's rule: the destination port of
 *   the capture's first TCP/UDP packet is the server port when it is one of
 *   the connection's ports; else the connection's own first packet goes
 *   client → server.
 * - TCP is reassembled ({@link TcpReassembler}); chunks after a hole carry
 *   `{ gap: true }`. A SYN (without ACK) on a connection that saw FIN or RST,
 *   or with another initial sequence number, starts a new connection (port
 *   reuse). UDP: each datagram with a payload is one chunk `{ datagram: true }`.
 * - Each connection feeds an {@link L7Connection} with the specs of its
 *   transport and {@link DEFAULT_PARSER_OPTIONS} overridden by `options`;
 *   `expire` is called as capture time passes (every second of it), and at
 *   the end every reassembler is flushed and every connection closed with the
 *   time of its last packet.
 * - Sessions are sorted by start_time (stable); `malformed` counts the
 *   reasons parsers gave to `ParserContext.malformed`; `packets` counts the
 *   packets read. Synchronous; never throws for bad packets (a file that is
 *   not a capture throws CaptureFormatError).
 */
import { L7Connection } from '../detector';
import type { Dir, FeedFlags, L7Session, ParserContext, ParserOptions, ProtocolSpec } from '../types';
import { DEFAULT_PARSER_OPTIONS } from '../types';
import { DecodeStatus, PacketDecoder, TcpFlag } from '../packet/decode';
import type { DecodeOptions } from '../packet/decode';
import { CaptureReader } from '../packet/pcap';
import type { CaptureStats } from '../packet/pcap';
import { ReassemblyPool, TcpReassembler } from '../stream/tcp';
import type { ReassemblyCounters, ReassemblyLimits } from '../stream/tcp';

/** A session with the connection it came from. */
export interface ReplayedSession extends L7Session {
  transport: 'tcp' | 'udp';
  client_ip: string;
  client_port: number;
  server_ip: string;
  server_port: number;
}

/** What {@link replayPcap} returns. */
export interface ReplayResult {
  sessions: ReplayedSession[];
  malformed: Record<string, number>;
  packets: number;
}

/** {@link ReplayResult} with the packet layer's own counters. */
export interface ReplayDetails extends ReplayResult {
  /** Packets the decoder skipped or dropped, by reason. */
  dropped: Record<string, number>;
  /** TCP and UDP connections seen. */
  connections: number;
  capture: CaptureStats;
  reassembly: ReassemblyCounters;
}

/** Packet-layer settings of {@link replayPcapDetailed}. */
export interface ReplayOptions {
  decode: Partial<DecodeOptions>;
  reassembly: Partial<ReassemblyLimits>;
}

/**
 * Reads a capture, groups packets into connections (5-tuple, both
 * directions), reassembles TCP, feeds each connection through an
 * L7Connection with `specs`, closes everything at the end; sessions sorted by
 * start_time. Synchronous.
 */
export function replayPcap(file: string, specs: readonly ProtocolSpec[], options?: Partial<ParserOptions>): ReplayResult {
  const r = replayPcapDetailed(file, specs, options);
  return { sessions: r.sessions, malformed: r.malformed, packets: r.packets };
}

interface Conn {
  transport: 'tcp' | 'udp';
  clientIp: string;
  clientPort: number;
  serverIp: string;
  serverPort: number;
  l7: L7Connection;
  tcp: TcpReassembler | undefined;
  /** The client's SYN sequence number, -1 when no SYN was seen. */
  synSeq: number;
  lastNs: bigint;
}

const SECOND = 1_000_000_000n;

/** {@link replayPcap} with packet-layer options and counters. */
export function replayPcapDetailed(
  file: string,
  specs: readonly ProtocolSpec[],
  options?: Partial<ParserOptions>,
  replayOptions: Partial<ReplayOptions> = {},
): ReplayDetails {
  const parserOptions: ParserOptions = { ...DEFAULT_PARSER_OPTIONS, ...options };
  const tcpSpecs = specs.filter((s) => s.transport !== 'udp');
  const udpSpecs = specs.filter((s) => s.transport !== 'tcp');
  const reader = CaptureReader.readFile(file);
  const decoder = new PacketDecoder(replayOptions.decode);
  const pool = new ReassemblyPool(undefined, replayOptions.reassembly);
  const sessions: ReplayedSession[] = [];
  const malformed: Record<string, number> = {};
  const conns = new Map<string, Conn>();
  const all: Conn[] = [];
  let firstDstPort = -1;
  let lastExpire = -1n;

  const open = (transport: 'tcp' | 'udp', clientIp: string, clientPort: number, serverIp: string, serverPort: number): Conn => {
    const ctx: ParserContext = {
      options: parserOptions,
      emit(s: L7Session) {
        sessions.push({ ...s, transport, client_ip: clientIp, client_port: clientPort, server_ip: serverIp, server_port: serverPort });
      },
      malformed(reason: string) {
        malformed[reason] = (malformed[reason] ?? 0) + 1;
      },
    };
    const l7 = new L7Connection(transport === 'tcp' ? tcpSpecs : udpSpecs, serverPort, ctx);
    const conn: Conn = { transport, clientIp, clientPort, serverIp, serverPort, l7, tcp: undefined, synSeq: -1, lastNs: 0n };
    if (transport === 'tcp') {
      conn.tcp = new TcpReassembler((dir: Dir, data: Uint8Array, t: bigint, gap: boolean) => l7.feed(dir, data, t, gap ? { gap: true } : {}), pool);
    }
    all.push(conn);
    return conn;
  };
  const finish = (conn: Conn): void => {
    conn.tcp?.close();
    conn.l7.close(conn.lastNs);
  };

  for (let p = reader.next(); p; p = reader.next()) {
    const d = decoder.decodePacket(p);
    if (d.status !== DecodeStatus.OK || (d.protocol !== 6 && d.protocol !== 17)) continue;
    const ts = p.tsNs;
    if (firstDstPort < 0) firstDstPort = d.dstPort;
    const tcp = d.protocol === 6;
    const srcFirst = d.srcIp < d.dstIp || (d.srcIp === d.dstIp && d.srcPort <= d.dstPort);
    const key = srcFirst
      ? `${d.protocol}|${d.tunnelId}|${d.srcIp}|${d.srcPort}|${d.dstIp}|${d.dstPort}`
      : `${d.protocol}|${d.tunnelId}|${d.dstIp}|${d.dstPort}|${d.srcIp}|${d.srcPort}`;
    let conn = conns.get(key);
    const flags = d.tcpFlags;
    const pureSyn = tcp && (flags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN;
    if (conn && pureSyn) {
      const t = conn.tcp as TcpReassembler;
      const reused = t.reset || t.finSeen(0) || t.finSeen(1) || (conn.synSeq >= 0 && conn.synSeq !== d.seq);
      if (reused) {
        finish(conn);
        conn = undefined;
      }
    }
    if (!conn) {
      let clientIsSrc: boolean;
      if (tcp && (flags & TcpFlag.SYN) !== 0) clientIsSrc = (flags & TcpFlag.ACK) === 0;
      else if (d.dstPort === firstDstPort && d.srcPort !== firstDstPort) clientIsSrc = true;
      else if (d.srcPort === firstDstPort && d.dstPort !== firstDstPort) clientIsSrc = false;
      else clientIsSrc = true;
      conn = clientIsSrc ? open(tcp ? 'tcp' : 'udp', d.srcIp, d.srcPort, d.dstIp, d.dstPort) : open(tcp ? 'tcp' : 'udp', d.dstIp, d.dstPort, d.srcIp, d.srcPort);
      conns.set(key, conn);
    }
    conn.lastNs = ts;
    const dir: Dir = d.srcPort === conn.clientPort && d.srcIp === conn.clientIp ? 0 : 1;
    if (tcp) {
      if (pureSyn && dir === 0) conn.synSeq = d.seq;
      (conn.tcp as TcpReassembler).segmentPacket(dir, d, p);
    } else if (d.payloadLength > 0) {
      const flagsUdp: FeedFlags = { datagram: true };
      conn.l7.feed(dir, d.payload(), ts, flagsUdp);
    }
    if (lastExpire < 0n) lastExpire = ts;
    else if (ts - lastExpire >= SECOND) {
      lastExpire = ts;
      for (const c of conns.values()) {
        c.tcp?.expire(ts);
        c.l7.expire(ts);
      }
    }
  }
  for (const conn of conns.values()) finish(conn);
  sessions.sort((a, b) => (a.start_time < b.start_time ? -1 : a.start_time > b.start_time ? 1 : 0));
  return {
    sessions,
    malformed,
    packets: reader.stats.packets,
    dropped: decoder.dropCounts(),
    connections: all.length,
    capture: reader.stats,
    reassembly: pool.counters,
  };
}
