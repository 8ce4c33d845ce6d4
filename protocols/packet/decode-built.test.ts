/**
 * The decoder on hand-built packets for what the DeepFlow captures do not
 * contain: IPv6 extension headers and fragments, IPv4 options, QinQ and MPLS,
 * TCP SACK, ICMP/ICMPv6, VXLAN-GPE with Ethernet, GENEVE options, ERSPAN III
 * carrying IP, GRE with a key, 6in4, nested tunnels, and the fragment
 * table's bounds. Addresses and ports are checked against tshark where it
 * dissects the same bytes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tsharkAvailable, tsharkFields } from '../../test/helpers/tshark';
import { buildIp, buildPacket, pcapBytes, wrapLink } from '../testing/pcap-writer';
import { DecodeStatus, PacketDecoder, TcpFlag, TUNNEL_NAMES } from './decode';
import { LinkType } from './pcap';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-decode-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));
const u16 = (v: number) => Uint8Array.of(v >> 8, v & 0xff);
const u32 = (v: number) => Uint8Array.of(v >>> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
/** A UDP header (checksum 0: none) and payload. */
const udp = (sport: number, dport: number, payload: Uint8Array) => cat(u16(sport), u16(dport), u16(8 + payload.length), u16(0), payload);
/** An Ethernet frame of `type`. */
const eth = (type: number, payload: Uint8Array) => cat(Uint8Array.of(2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1), u16(type), payload);
const innerTcp = (src: string, dst: string, sport: number, dport: number) => buildPacket({ src, dst, protocol: 'tcp', sport, dport, seq: 1, flags: 'PA', payload: Buffer.from('inner') });

/** Each built packet with what the decoder must find. */
interface Case {
  name: string;
  data: Uint8Array;
  linkType?: number;
  expect: Record<string, unknown>;
  /** tshark fields to compare with (innermost occurrence) when it dissects this case the same. */
  tshark?: boolean;
}

const cases: Case[] = [
  {
    name: 'IPv6 with hop-by-hop, destination options and routing headers',
    data: (() => {
      const tcpSeg = buildPacket({ src: 'fd00::1', dst: 'fd00::2', protocol: 'tcp', sport: 4321, dport: 80, seq: 9, flags: 'S', link: 'raw' }).subarray(40);
      const hbh = Uint8Array.of(60, 0, 1, 4, 0, 0, 0, 0); // next: dest opts; PadN
      const dst = Uint8Array.of(43, 0, 1, 4, 0, 0, 0, 0); // next: routing
      const rt = Uint8Array.of(6, 0, 0, 0, 0, 0, 0, 0); // next: TCP; type 0, segments left 0
      const ext = cat(hbh, dst, rt, tcpSeg);
      const ip = buildIp('fd00::1', 'fd00::2', 0, ext);
      return wrapLink(ip);
    })(),
    expect: { ipVersion: 6, srcIp: 'fd00::1', dstIp: 'fd00::2', protocol: 6, srcPort: 4321, dstPort: 80, tcpFlags: TcpFlag.SYN },
    tshark: true,
  },
  {
    name: 'IPv4 with options (IHL 6)',
    data: (() => {
      const ip = buildIp('10.0.0.1', '10.0.0.2', 17, udp(53, 5353, Buffer.from('dns')));
      const withOpts = cat(ip.subarray(0, 20), Uint8Array.of(1, 1, 1, 0), ip.subarray(20));
      withOpts[0] = 0x46;
      withOpts[2] = 0;
      withOpts[3] = withOpts.length;
      return wrapLink(withOpts);
    })(),
    expect: { srcIp: '10.0.0.1', protocol: 17, srcPort: 53, dstPort: 5353, payloadLength: 3 },
    tshark: true,
  },
  {
    name: 'QinQ (802.1ad outer, 802.1Q inner): outer VLAN recorded',
    data: (() => {
      const f = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 'udp', sport: 1, dport: 2, vlans: [300, 42] });
      f[12] = 0x88;
      f[13] = 0xa8;
      return f;
    })(),
    expect: { vlan: 300, srcIp: '10.0.0.1', dstPort: 2 },
    tshark: true,
  },
  {
    name: 'MPLS label stack (two labels) over Ethernet',
    data: eth(0x8847, cat(u32((100 << 12) | (0 << 8) | 64), u32((200 << 12) | (1 << 8) | 64), buildIp('10.9.0.1', '10.9.0.2', 17, udp(7, 9, new Uint8Array(4))))),
    expect: { srcIp: '10.9.0.1', dstIp: '10.9.0.2', srcPort: 7, dstPort: 9 },
    tshark: true,
  },
  {
    name: 'TCP with SACK blocks and every common option',
    data: buildPacket({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      protocol: 'tcp',
      sport: 1,
      dport: 2,
      flags: 'A',
      // MSS 1460, NOP, WS 7, SACK-permitted, timestamps, SACK 2 blocks
      tcpOptions: cat(Uint8Array.of(2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10), u32(111), u32(222), Uint8Array.of(1, 1, 5, 18), u32(1000), u32(2000), u32(3000), u32(4000)),
    }),
    expect: { mss: 1460, windowScale: 7, sackPermitted: true, hasTimestamps: true, tsVal: 111, tsEcr: 222, sackCount: 2, sack: [1000, 2000, 3000, 4000] },
  },
  {
    name: 'ICMP echo request',
    data: wrapLink(buildIp('10.0.0.1', '10.0.0.2', 1, Uint8Array.of(8, 0, 0, 0, 0, 1, 0, 2, 0x61, 0x62))),
    expect: { protocol: 1, icmpType: 8, icmpCode: 0, payloadLength: 2 },
  },
  {
    name: 'ICMPv6 echo request',
    data: wrapLink(buildIp('fd00::1', 'fd00::2', 58, Uint8Array.of(128, 0, 0, 0, 0, 1, 0, 1))),
    expect: { protocol: 58, icmpType: 128, icmpCode: 0, ipVersion: 6 },
  },
  {
    name: 'VXLAN-GPE carrying Ethernet (next protocol 3)',
    data: wrapLink(buildIp('1.1.1.1', '2.2.2.2', 17, udp(40000, 4790, cat(Uint8Array.of(0x0c, 0, 0, 3), u32(77 << 8), innerTcp('192.168.0.1', '192.168.0.2', 1234, 80))))),
    expect: { tunnel: 'vxlan-gpe', tunnelId: 77, outerSrcIp: '1.1.1.1', outerDstPort: 4790, srcIp: '192.168.0.1', srcPort: 1234, dstPort: 80 },
  },
  {
    name: 'GENEVE with 8 bytes of options',
    data: wrapLink(buildIp('1.1.1.1', '2.2.2.2', 17, udp(40000, 6081, cat(Uint8Array.of(0x02, 0, 0x65, 0x58), u32(5000 << 8), new Uint8Array(8), innerTcp('192.168.0.3', '192.168.0.4', 555, 443))))),
    expect: { tunnel: 'geneve', tunnelId: 5000, srcIp: '192.168.0.3', dstIp: '192.168.0.4', srcPort: 555 },
    tshark: true,
  },
  {
    name: 'ERSPAN type III carrying an IP packet (frame type 2)',
    data: wrapLink(
      buildIp(
        '3.3.3.3',
        '4.4.4.4',
        47,
        // GRE with sequence number, protocol ERSPAN III; header: ver 2, session 513, timestamp, FT=2 (bits 2-6 of byte 10)
        cat(u16(0x1000), u16(0x22eb), u32(1), Uint8Array.of(0x20, 0x00, 0x02, 0x01), u32(0), Uint8Array.of(0, 0, 2 << 2, 0), buildIp('10.1.1.1', '10.1.1.2', 17, udp(9, 10, new Uint8Array(1)))),
      ),
    ),
    expect: { tunnel: 'erspan', erspanVersion: 2, tunnelId: 513, srcIp: '10.1.1.1', srcPort: 9, outerProtocol: 47 },
  },
  {
    name: 'GRE with a key carrying IPv4',
    data: wrapLink(buildIp('5.5.5.5', '6.6.6.6', 47, cat(u16(0x2000), u16(0x0800), u32(0xabcdef), buildIp('10.2.2.1', '10.2.2.2', 17, udp(11, 12, new Uint8Array(2)))))),
    expect: { tunnel: 'gre', tunnelId: 0xabcdef, outerSrcIp: '5.5.5.5', srcIp: '10.2.2.1', dstPort: 12 },
    tshark: true,
  },
  {
    name: 'IPv6 in IPv4 (6in4, protocol 41)',
    data: wrapLink(buildIp('7.7.7.7', '8.8.8.8', 41, buildIp('2001:db8::7', '2001:db8::8', 17, udp(33, 44, new Uint8Array(3))))),
    expect: { tunnel: 'ip6ip', outerSrcIp: '7.7.7.7', outerIpVersion: 4, ipVersion: 6, srcIp: '2001:db8::7', srcPort: 33 },
    tshark: true,
  },
  {
    name: 'IPv4-mapped IPv6 addresses print like tshark',
    data: wrapLink(buildIp('::ffff:10.0.0.1', '::1', 17, udp(1, 2, new Uint8Array(0)))),
    expect: { srcIp: '::ffff:10.0.0.1', dstIp: '::1' },
    tshark: true,
  },
  {
    name: 'a VXLAN header without the I flag is not a tunnel: the packet stays UDP',
    data: wrapLink(buildIp('1.1.1.1', '2.2.2.2', 17, udp(40000, 4789, cat(Uint8Array.of(0, 0, 0, 0), u32(0), innerTcp('192.168.0.1', '192.168.0.2', 1, 2))))),
    expect: { tunnel: '', srcIp: '1.1.1.1', dstPort: 4789, protocol: 17 },
  },
];

/** The decoder's view of a case, as the fields named in its expectation. */
function decodeCase(c: Case, dec = new PacketDecoder()): Record<string, unknown> {
  const d = dec.decode(c.data, c.linkType ?? LinkType.ETHERNET);
  const got: Record<string, unknown> = { status: d.status, reason: d.reasonName };
  for (const k of Object.keys(c.expect)) {
    if (k === 'tunnel') got[k] = TUNNEL_NAMES[d.tunnelType];
    else if (k === 'sack') got[k] = Array.from(d.sack.subarray(0, d.sackCount * 2));
    else got[k] = (d as unknown as Record<string, unknown>)[k];
  }
  return got;
}

describe('decoding built packets', () => {
  it.each(cases.map((c) => [c.name, c]))('%s', (_name, c) => {
    expect(decodeCase(c)).toEqual({ status: DecodeStatus.OK, reason: '', ...c.expect });
  });

  (tsharkAvailable() ? it : it.skip)('tshark finds the same innermost addresses and ports', async () => {
    const sel = cases.filter((c) => c.tshark);
    const file = path.join(tmp, 'built.pcap');
    fs.writeFileSync(file, pcapBytes(sel.map((c, i) => ({ tsNs: BigInt(i) * 1000n, data: c.data }))));
    const recs = await tsharkFields(file, ['ip.src', 'ipv6.src', 'tcp.srcport', 'udp.srcport', 'vlan.id', 'ieee8021ad.id']);
    const last = (v: string[]) => v[v.length - 1];
    const dec = new PacketDecoder();
    sel.forEach((c, i) => {
      const d = dec.decode(c.data, LinkType.ETHERNET);
      const r = recs[i];
      const theirSrc = d.ipVersion === 6 ? last(r['ipv6.src']) : last(r['ip.src']);
      const theirPort = Number(d.protocol === 6 ? last(r['tcp.srcport']) : last(r['udp.srcport']));
      expect({ name: c.name, src: d.srcIp, port: d.srcPort }).toEqual({ name: c.name, src: theirSrc, port: theirPort });
      // An 802.1ad outer tag is tshark's ieee8021ad layer; then comes 802.1Q.
      const outerVlan = r['ieee8021ad.id'][0] ?? r['vlan.id'][0];
      if (outerVlan !== undefined) expect(d.vlan).toBe(Number(outerVlan));
    });
  });

  it('nested tunnels: the outermost is recorded, the depth limit keeps deeper layers as the flow', () => {
    const inner = innerTcp('10.10.0.1', '10.10.0.2', 7000, 80);
    const wrap = (frame: Uint8Array, vni: number, n: number) => wrapLink(buildIp(`1.1.1.${n}`, `2.2.2.${n}`, 17, udp(50000 + n, 4789, cat(Uint8Array.of(8, 0, 0, 0), u32(vni << 8), frame))));
    const two = wrap(wrap(inner, 2, 2), 1, 1);
    const d2 = new PacketDecoder().decode(two, LinkType.ETHERNET);
    expect([d2.tunnelDepth, d2.tunnelId, d2.outerSrcIp, d2.srcIp, d2.srcPort]).toEqual([2, 1, '1.1.1.1', '10.10.0.1', 7000]);
    const four = wrap(wrap(wrap(wrap(inner, 4, 4), 3, 3), 2, 2), 1, 1);
    const dec = new PacketDecoder({ maxTunnelDepth: 3 });
    const d4 = dec.decode(four, LinkType.ETHERNET);
    // Three layers removed; the fourth VXLAN stays the flow.
    expect([d4.status, d4.tunnelDepth, d4.srcIp, d4.dstPort, d4.protocol]).toEqual([DecodeStatus.OK, 3, '1.1.1.4', 4789, 17]);
    expect(dec.counters.tunnelDepthLimit).toBe(1);
  });

  it('IPv6 fragments out of order are reassembled; the datagram decodes whole', () => {
    const body = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);
    const datagram = udp(7777, 8888, body);
    const frag = (off: number, end: number, more: boolean) => wrapLink(buildIp('fd00::a', 'fd00::b', 17, datagram.subarray(off, end), { ipId: 0x12345678, fragment: { offset: off, more } }));
    const dec = new PacketDecoder();
    expect(dec.decode(frag(1232, 2464, true), LinkType.ETHERNET).status).toBe(DecodeStatus.HELD);
    expect(dec.decode(frag(2464, datagram.length, false), LinkType.ETHERNET).status).toBe(DecodeStatus.HELD);
    const d = dec.decode(frag(0, 1232, true), LinkType.ETHERNET);
    expect([d.status, d.reassembled, d.ipId, d.srcIp, d.srcPort, d.dstPort, d.payloadLength]).toEqual([DecodeStatus.OK, true, 0x12345678, 'fd00::a', 7777, 8888, 3000]);
    expect(Buffer.from(d.payload()).equals(Buffer.from(body))).toBe(true);
    expect(dec.pendingFragments).toBe(0);
  });

  it('overlapping IPv4 fragments: the first bytes received win; fragment copies survive buffer reuse', () => {
    const datagram = udp(1, 2, Buffer.from('AAAAAAAABBBBBBBBCCCCCCCC'));
    const reused = Buffer.alloc(200);
    const dec = new PacketDecoder();
    const send = (off: number, bytes: Uint8Array, more: boolean) => {
      const f = wrapLink(buildIp('10.0.0.1', '10.0.0.2', 17, bytes, { ipId: 77, fragment: { offset: off, more } }));
      reused.fill(0);
      reused.set(f);
      // A Buffer view, overwritten after each call, as a live capture's ring would be.
      return dec.decode(reused.subarray(0, f.length), LinkType.ETHERNET);
    };
    expect(send(8, Buffer.from('AAAAAAAABBBBBBBB'), true).status).toBe(DecodeStatus.HELD);
    // Overlaps bytes 8..24 with different content: the earlier copy wins.
    expect(send(8, Buffer.from('xxxxxxxxyyyyyyyyCCCCCCCC'), false).status).toBe(DecodeStatus.HELD);
    const d = send(0, datagram.subarray(0, 8), true);
    expect(d.status).toBe(DecodeStatus.OK);
    expect(Buffer.from(d.payload()).toString()).toBe('AAAAAAAABBBBBBBBCCCCCCCC');
  });

  it('the fragment table is bounded: oldest evicted, incomplete datagrams time out, bad fragments dropped', () => {
    const dec = new PacketDecoder({ fragments: { maxDatagrams: 2, maxBytes: 1 << 20, maxFragmentsPerDatagram: 4, timeoutNs: 1_000_000_000n } });
    const first = (id: number) => wrapLink(buildIp('10.0.0.1', '10.0.0.2', 17, new Uint8Array(16), { ipId: id, fragment: { offset: 0, more: true } }));
    dec.decode(first(1), LinkType.ETHERNET, 0n);
    dec.decode(first(2), LinkType.ETHERNET, 0n);
    dec.decode(first(3), LinkType.ETHERNET, 0n);
    expect(dec.pendingFragments).toBe(2);
    expect(dec.counters.fragmentEvictions).toBe(1);
    dec.expireFragments(2_000_000_000n);
    expect(dec.pendingFragments).toBe(0);
    expect(dec.counters.fragmentTimeouts).toBe(2);
    // A non-final fragment whose length is not a multiple of 8 is malformed.
    const bad = wrapLink(buildIp('10.0.0.1', '10.0.0.2', 17, new Uint8Array(13), { ipId: 9, fragment: { offset: 0, more: true } }));
    const d = dec.decode(bad, LinkType.ETHERNET, 3_000_000_000n);
    expect([d.status, d.reasonName]).toEqual([DecodeStatus.DROPPED, 'bad-fragment']);
    // Beyond 64 KiB.
    const big = wrapLink(buildIp('10.0.0.1', '10.0.0.2', 17, new Uint8Array(16), { ipId: 10, fragment: { offset: 65528, more: false } }));
    expect(dec.decode(big, LinkType.ETHERNET, 3_000_000_000n).reasonName).toBe('fragment-too-big');
    expect(dec.dropCounts()).toEqual({ 'bad-fragment': 1, 'fragment-too-big': 1 });
  });

  it('non-IP frames are skipped with a reason, not dropped', () => {
    const dec = new PacketDecoder();
    const arp = eth(0x0806, new Uint8Array(28));
    expect([dec.decode(arp, LinkType.ETHERNET).status, dec.out.reasonName]).toEqual([DecodeStatus.SKIPPED, 'not-ip']);
    expect(dec.decode(new Uint8Array(40), 9999).reasonName).toBe('unsupported-link-type');
    expect(dec.dropCounts()).toEqual({ 'not-ip': 1, 'unsupported-link-type': 1 });
  });

  it('interns address strings: the same address gives the same string, misses are counted', () => {
    const dec = new PacketDecoder();
    const p = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 'udp', sport: 1, dport: 2 });
    dec.decode(p, LinkType.ETHERNET);
    const misses = dec.counters.addressCacheMisses;
    const s1 = dec.out.srcIp;
    dec.decode(p, LinkType.ETHERNET);
    expect(dec.out.srcIp).toBe(s1);
    expect(dec.counters.addressCacheMisses).toBe(misses);
    expect(misses).toBe(2);
  });
});
