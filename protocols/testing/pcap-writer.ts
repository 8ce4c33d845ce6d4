/**
 * Building packets and capture files in tests: hand-made TCP/UDP packets over
 * any link type the decoder reads, written as pcap (µs or ns, either byte
 * order) or pcapng (several interfaces, any `if_tsresol`).
 *
 * Contract: the output is what libpcap/Wireshark write (tshark reads it);
 * checksums are computed, so tshark shows them valid. Test code, not a hot
 * path.
 */
import fs from 'node:fs';
import net from 'node:net';
import { LinkType } from '../packet/pcap';

/** What {@link buildPacket} puts in a packet. */
export interface PacketSpec {
  src: string;
  dst: string;
  protocol: 'tcp' | 'udp';
  sport: number;
  dport: number;
  /** TCP only. */
  seq?: number;
  ack?: number;
  /** TCP flags as letters: S(YN) A(CK) F(IN) R(ST) P(SH) U(RG). */
  flags?: string;
  window?: number;
  /** Raw TCP option bytes (padded to 4 by the builder). */
  tcpOptions?: Uint8Array;
  payload?: Uint8Array;
  ttl?: number;
  ipId?: number;
  /** Link layer (default Ethernet). */
  link?: 'ethernet' | 'raw' | 'sll' | 'sll2' | 'null' | 'loop';
  /** 802.1Q tags, outermost first (Ethernet only). */
  vlans?: number[];
}

function ipBytes(addr: string): Uint8Array {
  if (net.isIPv4(addr)) return Uint8Array.from(addr.split('.').map(Number));
  if (!net.isIPv6(addr)) throw new Error(`not an IP address: ${addr}`);
  // A trailing dotted quad (::ffff:10.0.0.1) is the last two groups.
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(addr);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number);
    addr = addr.slice(0, quad.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = addr.includes('::') ? addr.split('::') : [addr, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

/** The Internet checksum of `parts` concatenated. */
function checksum(parts: Uint8Array[]): number {
  let sum = 0;
  let odd = false;
  let prev = 0;
  for (const p of parts) {
    for (const byte of p) {
      if (odd) sum += (prev << 8) | byte;
      else prev = byte;
      odd = !odd;
    }
  }
  if (odd) sum += prev << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

const FLAG_BITS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, U: 0x20 };

/** The transport header and payload of `spec` (with checksum over the pseudo-header). */
function transport(spec: PacketSpec, src: Uint8Array, dst: Uint8Array): Uint8Array {
  const payload = spec.payload ?? new Uint8Array(0);
  let seg: Uint8Array;
  const proto = spec.protocol === 'tcp' ? 6 : 17;
  if (spec.protocol === 'tcp') {
    const opts = spec.tcpOptions ?? new Uint8Array(0);
    const optLen = (opts.length + 3) & ~3;
    const hl = 20 + optLen;
    seg = new Uint8Array(hl + payload.length);
    const v = new DataView(seg.buffer);
    v.setUint16(0, spec.sport);
    v.setUint16(2, spec.dport);
    v.setUint32(4, (spec.seq ?? 0) >>> 0);
    v.setUint32(8, (spec.ack ?? 0) >>> 0);
    seg[12] = (hl / 4) << 4;
    let f = 0;
    for (const c of spec.flags ?? '') f |= FLAG_BITS[c] ?? 0;
    seg[13] = f;
    v.setUint16(14, spec.window ?? 65535);
    seg.set(opts, 20);
    seg.set(payload, hl);
  } else {
    seg = new Uint8Array(8 + payload.length);
    const v = new DataView(seg.buffer);
    v.setUint16(0, spec.sport);
    v.setUint16(2, spec.dport);
    v.setUint16(4, seg.length);
    seg.set(payload, 8);
  }
  const pseudo = new Uint8Array(src.length * 2 + (src.length === 4 ? 4 : 8));
  pseudo.set(src, 0);
  pseudo.set(dst, src.length);
  const pv = new DataView(pseudo.buffer);
  if (src.length === 4) {
    pseudo[9] = proto;
    pv.setUint16(10, seg.length);
  } else {
    pv.setUint32(32, seg.length);
    pseudo[39] = proto;
  }
  let sum = checksum([pseudo, seg]);
  if (proto === 17 && sum === 0) sum = 0xffff;
  new DataView(seg.buffer).setUint16(proto === 6 ? 16 : 6, sum);
  return seg;
}

/** An IPv4 or IPv6 packet (by the address family) carrying `l4` as protocol `proto`. */
export function buildIp(src: string, dst: string, proto: number, l4: Uint8Array, opts: { ttl?: number; ipId?: number; fragment?: { offset: number; more: boolean } } = {}): Uint8Array {
  const s = ipBytes(src);
  const d = ipBytes(dst);
  if (s.length === 4) {
    const ip = new Uint8Array(20 + l4.length);
    const v = new DataView(ip.buffer);
    ip[0] = 0x45;
    v.setUint16(2, ip.length);
    v.setUint16(4, opts.ipId ?? 1);
    if (opts.fragment) v.setUint16(6, (opts.fragment.more ? 0x2000 : 0) | (opts.fragment.offset >> 3));
    else v.setUint16(6, 0x4000);
    ip[8] = opts.ttl ?? 64;
    ip[9] = proto;
    ip.set(s, 12);
    ip.set(d, 16);
    v.setUint16(10, checksum([ip.subarray(0, 20)]));
    ip.set(l4, 20);
    return ip;
  }
  const frag = opts.fragment ? 8 : 0;
  const ip = new Uint8Array(40 + frag + l4.length);
  const v = new DataView(ip.buffer);
  v.setUint32(0, 0x60000000);
  v.setUint16(4, frag + l4.length);
  ip[6] = opts.fragment ? 44 : proto;
  ip[7] = opts.ttl ?? 64;
  ip.set(s, 8);
  ip.set(d, 24);
  if (opts.fragment) {
    ip[40] = proto;
    v.setUint16(42, opts.fragment.offset | (opts.fragment.more ? 1 : 0));
    v.setUint32(44, opts.ipId ?? 1);
  }
  ip.set(l4, 40 + frag);
  return ip;
}

/** Prepends the link header of `link` to an IP packet. */
export function wrapLink(ip: Uint8Array, link: PacketSpec['link'] = 'ethernet', vlans: number[] = []): Uint8Array {
  const v6 = ip[0] >> 4 === 6;
  const etherType = v6 ? 0x86dd : 0x0800;
  switch (link) {
    case 'raw':
      return ip;
    case 'null':
    case 'loop': {
      const out = new Uint8Array(4 + ip.length);
      const fam = v6 ? 30 : 2;
      // NULL: host byte order (little-endian here); LOOP: network byte order.
      if (link === 'null') out[0] = fam;
      else out[3] = fam;
      out.set(ip, 4);
      return out;
    }
    case 'sll': {
      const out = new Uint8Array(16 + ip.length);
      const dv = new DataView(out.buffer);
      dv.setUint16(0, 0); // to us
      dv.setUint16(2, 1); // ARPHRD_ETHER
      dv.setUint16(4, 6);
      out.set([2, 0, 0, 0, 0, 1], 6);
      dv.setUint16(14, etherType);
      out.set(ip, 16);
      return out;
    }
    case 'sll2': {
      const out = new Uint8Array(20 + ip.length);
      const dv = new DataView(out.buffer);
      dv.setUint16(0, etherType);
      dv.setUint32(4, 1); // interface index
      dv.setUint16(8, 1); // ARPHRD_ETHER
      out[10] = 0;
      out[11] = 6;
      out.set([2, 0, 0, 0, 0, 1], 12);
      out.set(ip, 20);
      return out;
    }
    default: {
      const out = new Uint8Array(14 + 4 * vlans.length + ip.length);
      const dv = new DataView(out.buffer);
      out.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1], 0);
      let o = 12;
      for (const id of vlans) {
        dv.setUint16(o, 0x8100);
        dv.setUint16(o + 2, id);
        o += 4;
      }
      dv.setUint16(o, etherType);
      out.set(ip, o + 2);
      return out;
    }
  }
}

/** A whole packet (link header, IP, TCP/UDP, payload) per `spec`. */
export function buildPacket(spec: PacketSpec): Uint8Array {
  const s = ipBytes(spec.src);
  const d = ipBytes(spec.dst);
  const l4 = transport(spec, s, d);
  const ip = buildIp(spec.src, spec.dst, spec.protocol === 'tcp' ? 6 : 17, l4, { ttl: spec.ttl, ipId: spec.ipId });
  return wrapLink(ip, spec.link, spec.vlans);
}

/** The link type that matches {@link PacketSpec.link}. */
export function linkTypeOf(link: PacketSpec['link'] = 'ethernet'): number {
  return { ethernet: LinkType.ETHERNET, raw: LinkType.RAW, sll: LinkType.LINUX_SLL, sll2: LinkType.LINUX_SLL2, null: LinkType.NULL, loop: LinkType.LOOP }[link];
}

/** One packet to write. */
export interface WrittenPacket {
  tsNs: bigint;
  data: Uint8Array;
  /** Wire length (default data.length). */
  origLen?: number;
  /** pcapng interface (default 0). */
  interfaceId?: number;
}

/** A classic pcap file as bytes. */
export function pcapBytes(packets: WrittenPacket[], opts: { linkType?: number; nanos?: boolean; bigEndian?: boolean; snaplen?: number } = {}): Uint8Array {
  const le = !opts.bigEndian;
  const size = 24 + packets.reduce((n, p) => n + 16 + p.data.length, 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, opts.nanos ? 0xa1b23c4d : 0xa1b2c3d4, le);
  v.setUint16(4, 2, le);
  v.setUint16(6, 4, le);
  v.setUint32(16, opts.snaplen ?? 262144, le);
  v.setUint32(20, opts.linkType ?? LinkType.ETHERNET, le);
  let o = 24;
  const unit = opts.nanos ? 1n : 1000n;
  for (const p of packets) {
    v.setUint32(o, Number(p.tsNs / 1_000_000_000n), le);
    v.setUint32(o + 4, Number((p.tsNs % 1_000_000_000n) / unit), le);
    v.setUint32(o + 8, p.data.length, le);
    v.setUint32(o + 12, p.origLen ?? p.data.length, le);
    out.set(p.data, o + 16);
    o += 16 + p.data.length;
  }
  return out;
}

/** Writes a classic pcap file. */
export function writePcap(file: string, packets: WrittenPacket[], opts: { linkType?: number; nanos?: boolean; bigEndian?: boolean; snaplen?: number } = {}): void {
  fs.writeFileSync(file, pcapBytes(packets, opts));
}

/** One pcapng interface: link type and timestamp resolution (if_tsresol byte; default 6 = µs). */
export interface NgInterface {
  linkType: number;
  snaplen?: number;
  tsresol?: number;
  /** if_tsoffset in seconds. */
  tsOffsetSec?: bigint;
}

/** A pcapng file as bytes: one section, the interfaces, then one EPB per packet (or SPB when `simple`). */
export function pcapngBytes(interfaces: NgInterface[], packets: WrittenPacket[], opts: { bigEndian?: boolean; simple?: boolean } = {}): Uint8Array {
  const le = !opts.bigEndian;
  const blocks: Uint8Array[] = [];
  const block = (type: number, body: Uint8Array): void => {
    const len = 12 + ((body.length + 3) & ~3);
    const b = new Uint8Array(len);
    const v = new DataView(b.buffer);
    v.setUint32(0, type, le);
    v.setUint32(4, len, le);
    b.set(body, 8);
    v.setUint32(len - 4, len, le);
    blocks.push(b);
  };
  const shb = new Uint8Array(16);
  const sv = new DataView(shb.buffer);
  sv.setUint32(0, 0x1a2b3c4d, le);
  sv.setUint16(4, 1, le);
  sv.setUint16(6, 0, le);
  sv.setBigInt64(8, -1n, le);
  block(0x0a0d0d0a, shb);
  for (const itf of interfaces) {
    const body = new Uint8Array(8 + 8 + 12 + 4);
    const v = new DataView(body.buffer);
    v.setUint16(0, itf.linkType, le);
    v.setUint32(4, itf.snaplen ?? 0, le);
    let o = 8;
    v.setUint16(o, 9, le);
    v.setUint16(o + 2, 1, le);
    body[o + 4] = itf.tsresol ?? 6;
    o += 8;
    if (itf.tsOffsetSec !== undefined) {
      v.setUint16(o, 14, le);
      v.setUint16(o + 2, 8, le);
      v.setBigInt64(o + 4, itf.tsOffsetSec, le);
      o += 12;
    }
    // opt_endofopt
    v.setUint32(o, 0, le);
    block(1, body.subarray(0, o + 4));
  }
  for (const p of packets) {
    if (opts.simple) {
      const body = new Uint8Array(4 + p.data.length);
      new DataView(body.buffer).setUint32(0, p.origLen ?? p.data.length, le);
      body.set(p.data, 4);
      block(3, body);
      continue;
    }
    const itf = interfaces[p.interfaceId ?? 0];
    const res = itf.tsresol ?? 6;
    const ns = p.tsNs - (itf.tsOffsetSec ?? 0n) * 1_000_000_000n;
    let units: bigint;
    if (res & 0x80) units = (ns << BigInt(res & 0x7f)) / 1_000_000_000n;
    else if (res <= 9) units = ns / 10n ** BigInt(9 - res);
    else units = ns * 10n ** BigInt(res - 9);
    const body = new Uint8Array(20 + p.data.length);
    const v = new DataView(body.buffer);
    v.setUint32(0, p.interfaceId ?? 0, le);
    v.setUint32(4, Number(units >> 32n), le);
    v.setUint32(8, Number(units & 0xffffffffn), le);
    v.setUint32(12, p.data.length, le);
    v.setUint32(16, p.origLen ?? p.data.length, le);
    body.set(p.data, 20);
    block(6, body);
  }
  const total = blocks.reduce((n, b) => n + b.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const b of blocks) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}
