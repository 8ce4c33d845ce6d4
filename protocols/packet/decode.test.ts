/**
 * The decoder against tshark on the DeepFlow conformance captures: tunnels
 * (common/) and flow cases (flow_generator/*.pcap), per packet, inner and
 * outer addresses, ports, protocol and tunnel id.
 */
import fs from 'node:fs';
import path from 'node:path';
import { tsharkAvailable, tsharkFields } from '../../test/helpers/tshark';
import { DecodeStatus, PacketDecoder, TUNNEL_NAMES, TunnelType } from './decode';
import { CaptureReader } from './pcap';
import { conformancePath } from '../testing/conformance';

const ROOT = conformancePath('deepflow');
const COMMON = path.join(ROOT, 'common');
const FLOWS = path.join(ROOT, 'flow_generator');

const FIELDS = [
  'frame.protocols',
  'ip.src',
  'ip.dst',
  'ipv6.src',
  'ipv6.dst',
  'ip.proto',
  'ipv6.nxt',
  'tcp.srcport',
  'tcp.dstport',
  'udp.srcport',
  'udp.dstport',
  'vxlan.vni',
  'geneve.vni',
  'gre.key',
  'erspan.spanid',
  'tcp.seq_raw',
  'tcp.ack_raw',
  'tcp.flags',
  'tcp.window_size_value',
  'tcp.options.mss_val',
  'tcp.options.wscale.shift',
  'tcp.options.timestamp.tsval',
  'icmp.type',
  'icmpv6.type',
];

/** What tshark says the packet's innermost flow and its outermost tunnel are. */
interface Expected {
  frame: number;
  /** No IP packet to decode (an inner ARP/CDP/LLDP frame). */
  notIp: boolean;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: string;
  outerSrc?: string;
  outerDst?: string;
  tunnel: number;
  tunnelId?: number;
}

/**
 * Walks tshark's protocol stack: each `ip`/`ipv6` token is one occurrence of
 * its address fields, each `tcp`/`udp` one of its port fields; the innermost
 * IP is the last one not quoted inside an ICMP error.
 */
function expected(rec: Record<string, string[]>): Expected {
  const tokens = rec['frame.protocols'][0].split(':');
  const counters: Record<string, number> = { ip: 0, ipv6: 0, tcp: 0, udp: 0 };
  const events: Array<{ kind: string; idx: number; pos: number }> = [];
  let icmpAt = -1;
  let lastEth = -1;
  tokens.forEach((t, pos) => {
    if (t in counters && icmpAt < 0) events.push({ kind: t, idx: counters[t]++, pos });
    if ((t === 'icmp' || t === 'icmpv6') && icmpAt < 0) icmpAt = pos;
    if (t === 'eth') lastEth = pos;
  });
  const ips = events.filter((e) => e.kind === 'ip' || e.kind === 'ipv6');
  const addr = (e: { kind: string; idx: number }, f: 'src' | 'dst'): string => rec[`${e.kind}.${f}`][e.idx];
  const inner = ips[ips.length - 1];
  const outer = ips[0];
  const out: Expected = {
    frame: Number(rec.frame[0]),
    notIp: !inner || lastEth > inner.pos,
    src: inner ? addr(inner, 'src') : '',
    dst: inner ? addr(inner, 'dst') : '',
    sport: 0,
    dport: 0,
    proto: '',
    tunnel: TunnelType.NONE,
  };
  if (!inner) return out;
  const l4 = events.find((e) => e.pos > inner.pos && (e.kind === 'tcp' || e.kind === 'udp'));
  if (l4) {
    out.sport = Number(rec[`${l4.kind}.srcport`][l4.idx]);
    out.dport = Number(rec[`${l4.kind}.dstport`][l4.idx]);
    out.proto = l4.kind;
  } else if (icmpAt > inner.pos) out.proto = tokens[icmpAt];
  if (ips.length > 1 || (tokens.includes('gre') && lastEth > outer.pos)) {
    out.outerSrc = addr(outer, 'src');
    out.outerDst = addr(outer, 'dst');
    const stack = tokens.join(':');
    if (stack.includes(':nsh:')) out.tunnel = TunnelType.VXLAN_GPE;
    else if (stack.includes(':vxlan:')) out.tunnel = TunnelType.VXLAN;
    else if (stack.includes(':geneve:')) out.tunnel = TunnelType.GENEVE;
    else if (stack.includes(':erspan:')) out.tunnel = TunnelType.ERSPAN;
    else if (stack.includes(':gre:eth:')) out.tunnel = TunnelType.GRE_TEB;
    else if (stack.includes(':gre:')) out.tunnel = TunnelType.GRE;
    else if (/:ip:ip:/.test(stack)) out.tunnel = TunnelType.IPIP;
    else if (/:ip:ipv6:/.test(stack) || /:ipv6:ipv6:/.test(stack)) out.tunnel = TunnelType.IP6IP;
    const id = rec['vxlan.vni'][0] ?? rec['geneve.vni'][0] ?? rec['erspan.spanid'][0] ?? rec['gre.key'][0];
    if (id !== undefined) out.tunnelId = Number(id);
  }
  return out;
}

function decodeAll(file: string): Array<{ status: number; reason: string; src: string; dst: string; sport: number; dport: number; proto: number; outerSrc: string; outerDst: string; tunnel: number; tunnelId: number; depth: number }> {
  const r = CaptureReader.readFile(file);
  const dec = new PacketDecoder();
  const out = [];
  for (let p = r.next(); p; p = r.next()) {
    const d = dec.decode(p.data, p.linkType, p.tsNs);
    out.push({
      status: d.status,
      reason: d.reasonName,
      src: d.srcIp,
      dst: d.dstIp,
      sport: d.srcPort,
      dport: d.dstPort,
      proto: d.protocol,
      outerSrc: d.outerSrcIp,
      outerDst: d.outerDstIp,
      tunnel: d.tunnelType,
      tunnelId: d.tunnelId,
      depth: d.tunnelDepth,
    });
  }
  return out;
}

/** tshark runs once per file and field list: several tests read the same output. */
const tsharkCache = new Map<string, Promise<Array<Record<string, string[]>>>>();
function tshark(file: string, decodeAs: string[] = []): Promise<Array<Record<string, string[]>>> {
  const key = `${file}|${decodeAs.join(',')}`;
  let p = tsharkCache.get(key);
  if (!p) tsharkCache.set(key, (p = tsharkFields(file, FIELDS, { decodeAs })));
  return p;
}

const PROTO: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58 };

/** Compares every packet of `file` with tshark; returns how many were tunneled. */
async function compareWithTshark(file: string, decodeAs: string[] = []): Promise<{ packets: number; tunneled: number; notIp: number }> {
  const recs = await tshark(file, decodeAs);
  const ours = decodeAll(file);
  expect(ours.length).toBe(recs.length);
  let tunneled = 0;
  let notIp = 0;
  recs.forEach((rec, i) => {
    const exp = expected(rec);
    const got = ours[i];
    const where = `${path.basename(file)} frame ${exp.frame}`;
    if (exp.notIp) {
      notIp++;
      expect({ where, status: got.status, reason: got.reason }).toEqual({ where, status: DecodeStatus.SKIPPED, reason: 'not-ip' });
      return;
    }
    expect({ where, status: got.status, src: got.src, dst: got.dst }).toEqual({ where, status: DecodeStatus.OK, src: exp.src, dst: exp.dst });
    if (exp.proto) expect({ where, proto: got.proto }).toEqual({ where, proto: PROTO[exp.proto] });
    if (exp.proto === 'tcp' || exp.proto === 'udp') expect({ where, sport: got.sport, dport: got.dport }).toEqual({ where, sport: exp.sport, dport: exp.dport });
    expect({ where, tunnel: TUNNEL_NAMES[got.tunnel] }).toEqual({ where, tunnel: TUNNEL_NAMES[exp.tunnel] });
    if (exp.tunnel !== TunnelType.NONE) {
      tunneled++;
      expect({ where, outerSrc: got.outerSrc, outerDst: got.outerDst, depth: got.depth }).toEqual({ where, outerSrc: exp.outerSrc, outerDst: exp.outerDst, depth: 1 });
      if (exp.tunnelId !== undefined) expect({ where, id: got.tunnelId }).toEqual({ where, id: exp.tunnelId });
    }
  });
  return { packets: recs.length, tunneled, notIp };
}

const haveTshark = tsharkAvailable();
const itTshark = haveTshark ? it : it.skip;

describe('decapsulation of the DeepFlow tunnel captures (checked against tshark)', () => {
  const cases: Array<[string, string[], number, number]> = [
    // file, decode-as, tunneled packets, non-IP inner frames
    ['decapsulate_erspan1.pcap', [], 1029, 0],
    ['decapsulate_test.pcap', [], 3, 1],
    ['ff-vxlan.pcap', ['udp.port==58678,vxlan'], 1, 0],
    ['geneve.pcap', [], 4, 0],
    ['ip6-vxlan.pcap', [], 1, 0],
    ['ipip.pcap', [], 5, 0],
    ['vmware-gre-teb.pcap', [], 56, 1],
    ['vxlan-nsh.pcap', [], 1, 0],
  ];
  it.each(cases)('%s: every packet decapsulates to tshark’s inner flow', async (file, decodeAs, tunneled, notIp) => {
    if (!haveTshark) return;
    const r = await compareWithTshark(path.join(COMMON, file), decodeAs);
    expect({ tunneled: r.tunneled, notIp: r.notIp }).toEqual({ tunneled, notIp });
  });

  it('records the tunnel ids DeepFlow’s own tests expect', () => {
    const erspan2 = decodeAll(path.join(COMMON, 'decapsulate_test.pcap'));
    // ERSPAN II session 100, VXLAN VNI 123, ERSPAN III.
    expect(erspan2.map((p) => [TUNNEL_NAMES[p.tunnel], p.tunnelId, p.outerSrc, p.outerDst])).toEqual([
      ['erspan', 100, '2.2.2.2', '1.1.1.1'],
      ['erspan', 100, '2.2.2.2', '1.1.1.1'],
      ['vxlan', 123, '172.16.1.103', '172.20.1.171'],
      ['erspan', expect.any(Number), '172.16.1.103', '10.30.101.132'],
    ]);
    const teb = decodeAll(path.join(COMMON, 'vmware-gre-teb.pcap'))[2];
    expect([TUNNEL_NAMES[teb.tunnel], teb.tunnelId, teb.outerSrc, teb.outerDst]).toEqual(['gre-teb', 0x2000000, '10.25.6.6', '10.25.59.67']);
    const ff = decodeAll(path.join(COMMON, 'ff-vxlan.pcap'))[0];
    expect([TUNNEL_NAMES[ff.tunnel], ff.tunnelId, ff.outerSrc, ff.outerDst]).toEqual(['vxlan', 1, '10.50.15.7', '10.50.15.20']);
    const v6 = decodeAll(path.join(COMMON, 'ip6-vxlan.pcap'))[0];
    expect([TUNNEL_NAMES[v6.tunnel], v6.tunnelId, v6.src, v6.sport, v6.dport]).toEqual(['vxlan', 27, '2409:8086:8911:3123::7e3', 30100, 47202]);
    const nsh = decodeAll(path.join(COMMON, 'vxlan-nsh.pcap'))[0];
    expect([TUNNEL_NAMES[nsh.tunnel], nsh.src, nsh.dst, nsh.proto]).toEqual(['vxlan-gpe', '172.16.3.10', '172.16.3.11', 1]);
  });

  it('keeps the outer flow when decapsulation is off', () => {
    const r = CaptureReader.readFile(path.join(COMMON, 'geneve.pcap'));
    const dec = new PacketDecoder({ decapsulate: false });
    const p = r.next();
    const d = dec.decode(p!.data, p!.linkType);
    expect([d.status, d.srcIp, d.dstIp, d.protocol, d.dstPort, d.tunnelType]).toEqual([DecodeStatus.OK, '158.243.143.4', '158.243.143.3', 17, 6081, TunnelType.NONE]);
  });
});

describe('flow_generator captures (checked against tshark)', () => {
  const files = fs.readdirSync(FLOWS).filter((f) => f.endsWith('.pcap'));
  it.each(files)('%s decodes like tshark', async (file) => {
    if (!haveTshark) return;
    if (file === 'ip-fragment.pcap') return; // below: tshark shows fragments unreassembled
    const r = await compareWithTshark(path.join(FLOWS, file));
    expect(r.packets).toBeGreaterThan(0);
  });

  itTshark('tcp fields agree with tshark on every TCP packet of the flow captures', async () => {
    let checked = 0;
    for (const file of files) {
      const recs = await tshark(path.join(FLOWS, file));
      const r = CaptureReader.readFile(path.join(FLOWS, file));
      const dec = new PacketDecoder();
      for (const rec of recs) {
        const p = r.next()!;
        const d = dec.decode(p.data, p.linkType, p.tsNs);
        if (rec['tcp.seq_raw'].length !== 1) continue;
        checked++;
        const where = `${file} frame ${rec.frame[0]}`;
        expect({ where, seq: d.seq, ack: d.ack, flags: d.tcpFlags, win: d.window }).toEqual({
          where,
          seq: Number(rec['tcp.seq_raw'][0]),
          ack: Number(rec['tcp.ack_raw'][0]),
          flags: Number(rec['tcp.flags'][0]),
          win: Number(rec['tcp.window_size_value'][0]),
        });
        expect({ where, mss: d.mss, ws: d.windowScale, tsval: d.hasTimestamps ? d.tsVal : undefined }).toEqual({
          where,
          mss: rec['tcp.options.mss_val'].length ? Number(rec['tcp.options.mss_val'][0]) : -1,
          ws: rec['tcp.options.wscale.shift'].length ? Number(rec['tcp.options.wscale.shift'][0]) : -1,
          tsval: rec['tcp.options.timestamp.tsval'].length ? Number(rec['tcp.options.timestamp.tsval'][0]) : undefined,
        });
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('ip-fragment.pcap: each 3-fragment UDP datagram is held twice, then reassembled whole', () => {
    const r = CaptureReader.readFile(path.join(FLOWS, 'ip-fragment.pcap'));
    const dec = new PacketDecoder();
    const seen: Array<[number, number, number, boolean]> = [];
    for (let p = r.next(); p; p = r.next()) {
      const d = dec.decode(p.data, p.linkType, p.tsNs);
      seen.push([d.status, d.dstPort, d.payloadLength, d.reassembled]);
      if (d.status === DecodeStatus.OK) {
        expect([d.srcIp, d.dstIp, d.protocol, d.srcPort]).toEqual(['10.1.6.92', '10.1.4.2', 17, 1000]);
        // 1480 + 1480 + 48 bytes of UDP datagram, minus its 8-byte header.
        expect(d.payloadWireLength).toBe(3000);
      }
    }
    expect(seen).toHaveLength(18);
    for (let i = 0; i < 18; i += 3) {
      expect(seen[i][0]).toBe(DecodeStatus.HELD);
      expect(seen[i + 1][0]).toBe(DecodeStatus.HELD);
      expect(seen[i + 2][0]).toBe(DecodeStatus.OK);
      expect(seen[i + 2][2]).toBe(3000);
      expect(seen[i + 2][3]).toBe(true);
    }
    expect(dec.counters.reassembled).toBe(6);
    expect(dec.pendingFragments).toBe(0);
  });
});
