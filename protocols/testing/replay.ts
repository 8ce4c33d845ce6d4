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
import type { L7Session, ParserOptions, ProtocolSpec } from '../types';
import { DEFAULT_PARSER_OPTIONS } from '../types';
import { PacketDecoder } from '../packet/decode';
import type { DecodeOptions } from '../packet/decode';
import { CaptureReader } from '../packet/pcap';
import type { CaptureStats } from '../packet/pcap';
import { ReassemblyPool } from '../stream/tcp';
import type { ReassemblyCounters, ReassemblyLimits } from '../stream/tcp';
import { FlowTable } from '../flow/table';

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

/** {@link replayPcap} with packet-layer options and counters. */
export function replayPcapDetailed(
  file: string,
  specs: readonly ProtocolSpec[],
  options?: Partial<ParserOptions>,
  replayOptions: Partial<ReplayOptions> = {},
): ReplayDetails {
  const parserOptions: ParserOptions = { ...DEFAULT_PARSER_OPTIONS, ...options };
  const reader = CaptureReader.readFile(file);
  const decoder = new PacketDecoder(replayOptions.decode);
  const pool = new ReassemblyPool(undefined, replayOptions.reassembly);
  const sessions: ReplayedSession[] = [];
  const malformed: Record<string, number> = {};
  // The flow table with the harness's rules: the capture's first destination
  // port decides direction, TCP/UDP only, nothing times out or is evicted
  // (connections end at port reuse or at the end of the file).
  const table = new FlowTable(
    {
      direction: 'capture',
      transportOnly: true,
      maxFlows: Infinity,
      timeouts: { opening: Infinity, established: Infinity, closing: Infinity, closed: Infinity, datagram: Infinity },
      flowLogIntervalNs: Infinity,
      maxServers: 1,
      l7: { specs, parser: parserOptions, keepUnknown: true },
      reassembly: pool,
    },
    {
      session(s: L7Session, f) {
        sessions.push({
          ...s,
          transport: f.protocol === 6 ? 'tcp' : 'udp',
          client_ip: f.client_ip,
          client_port: f.client_port,
          server_ip: f.server_ip,
          server_port: f.server_port,
        });
      },
      malformed(reason: string) {
        malformed[reason] = (malformed[reason] ?? 0) + 1;
      },
    },
  );
  for (let p = reader.next(); p; p = reader.next()) {
    const d = decoder.decodePacket(p);
    table.packet(d, p);
  }
  table.flush();
  sessions.sort((a, b) => (a.start_time < b.start_time ? -1 : a.start_time > b.start_time ? 1 : 0));
  return {
    sessions,
    malformed,
    packets: reader.stats.packets,
    dropped: decoder.dropCounts(),
    connections: table.counters.flowsCreated,
    capture: reader.stats,
    reassembly: pool.counters,
  };
}
