/**
 * Feeding hand-made packets to a flow table in tests: each packet is built
 * with the pcap writer, decoded, and given to the table with its time.
 * Test code, not a hot path.
 */
import { PacketDecoder } from '../packet/decode';
import { CapturedPacket } from '../packet/pcap';
import { buildPacket, type PacketSpec } from '../testing/pcap-writer';
import { LinkType } from '../packet/pcap';
import type { Flow, FlowTable } from './table';

/** A packet at `ms` milliseconds after `BASE_SEC`. */
export interface TimedPacket extends PacketSpec {
  ms: number;
}

/** The epoch second the test packets count from (a whole minute, so reports align predictably). */
export const BASE_SEC = 1_700_000_040;

/** Feeds packets to `table` in order. */
export function feed(table: FlowTable, packets: readonly TimedPacket[], decoder = new PacketDecoder()): void {
  const p = new CapturedPacket();
  for (const spec of packets) {
    const data = buildPacket(spec);
    const sec = BASE_SEC + Math.floor(spec.ms / 1000);
    const frac = Math.round((spec.ms - Math.floor(spec.ms / 1000) * 1000) * 1e6);
    p.set(data, 0, data.length, sec, frac, LinkType.ETHERNET, data.length, 0);
    table.packet(decoder.decodePacket(p), p);
  }
}

/** A TCP packet from a to b (`a`/`b` as `ip:port`). */
export function tcp(ms: number, from: string, to: string, flags: string, seq: number, ack: number, payload = 0, window = 1000): TimedPacket {
  const [src, sport] = split(from);
  const [dst, dport] = split(to);
  return { ms, src, dst, sport, dport, protocol: 'tcp', flags, seq, ack, window, payload: payload ? new Uint8Array(payload).fill(0x61) : undefined };
}

/** A UDP datagram from a to b. */
export function udp(ms: number, from: string, to: string, payload = 8): TimedPacket {
  const [src, sport] = split(from);
  const [dst, dport] = split(to);
  return { ms, src, dst, sport, dport, protocol: 'udp', payload: new Uint8Array(payload).fill(0x62) };
}

function split(endpoint: string): [string, number] {
  const i = endpoint.lastIndexOf(':');
  return [endpoint.slice(0, i).replace(/^\[|\]$/g, ''), Number(endpoint.slice(i + 1))];
}

/**
 * A whole TCP connection: handshake at `ms` (server side answers after
 * `rttServer` ms, client after `rttClient`), one request of `req` bytes,
 * the server's ACK after `srt` ms and a response of `res` bytes `art` ms
 * after the request, then FINs.
 */
export function connection(ms: number, client: string, server: string, o: { rttServer?: number; rttClient?: number; srt?: number; art?: number; req?: number; res?: number } = {}): TimedPacket[] {
  const rs = o.rttServer ?? 1;
  const rc = o.rttClient ?? 2;
  const req = o.req ?? 100;
  const res = o.res ?? 300;
  const srt = o.srt ?? 1;
  const art = o.art ?? 5;
  const c = 1000;
  const s = 5000;
  let t = ms;
  const out: TimedPacket[] = [];
  out.push(tcp(t, client, server, 'S', c, 0));
  out.push(tcp((t += rs), server, client, 'SA', s, c + 1));
  out.push(tcp((t += rc), client, server, 'A', c + 1, s + 1));
  const reqAt = (t += 1);
  out.push(tcp(reqAt, client, server, 'PA', c + 1, s + 1, req));
  out.push(tcp(reqAt + srt, server, client, 'A', s + 1, c + 1 + req));
  out.push(tcp((t = reqAt + art), server, client, 'PA', s + 1, c + 1 + req, res));
  out.push(tcp((t += 1), client, server, 'A', c + 1 + req, s + 1 + res));
  out.push(tcp((t += 1), client, server, 'FA', c + 1 + req, s + 1 + res));
  out.push(tcp((t += 1), server, client, 'FA', s + 1 + res, c + 2 + req));
  out.push(tcp((t += 1), client, server, 'A', c + 2 + req, s + 2 + res));
  return out;
}

/** Collects the final flow logs (flows at close) of a table's events. */
export function closedFlows(): { flows: Flow[]; counters: Float64Array[]; onFlowLog: (f: Flow, s: number, e: number, final: boolean) => void } {
  const flows: Flow[] = [];
  const counters: Float64Array[] = [];
  return {
    flows,
    counters,
    onFlowLog(f, _s, _e, final) {
      if (!final) return;
      flows.push(f);
      counters.push(f.interval.slice());
    },
  };
}
