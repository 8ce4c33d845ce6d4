/**
 * Fuzzing the packet layer with a fixed seed: random bytes, truncations and
 * bit flips of real packets (the conformance captures and built tunnel,
 * fragment and option-laden packets), under every link type. Nothing throws,
 * every packet that is not decoded is counted under a reason, result offsets
 * stay inside the buffer, and the fragment table and reassembly buffers stay
 * within their bounds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ReassemblyPool, TcpReassembler } from '../stream/tcp';
import { buildIp, buildPacket, pcapBytes, wrapLink } from '../testing/pcap-writer';
import { DecodeStatus, DROP_REASONS, PacketDecoder } from './decode';
import { CaptureFormatError, CaptureReader, LinkType } from './pcap';
import { conformancePath } from '../testing/conformance';

const ROOT = conformancePath('deepflow');

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function capturesIn(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...capturesIn(p));
    else if (e.name.endsWith('.pcap')) out.push(p);
  }
  return out.sort();
}

/** Real packets to mutate: one in a few of every conformance capture, plus built corner cases. */
function seeds(): Array<{ data: Uint8Array; linkType: number }> {
  const out: Array<{ data: Uint8Array; linkType: number }> = [];
  for (const f of capturesIn(ROOT)) {
    let i = 0;
    for (const p of CaptureReader.readFile(f)) if (i++ % 5 === 0) out.push({ data: Uint8Array.from(p.data), linkType: p.linkType });
  }
  const eth = LinkType.ETHERNET;
  const opts = Uint8Array.from([2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 7, 5, 10, 0, 0, 0, 1, 0, 0, 0, 9]);
  out.push({ data: buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 'tcp', sport: 1, dport: 2, flags: 'S', tcpOptions: opts }), linkType: eth });
  for (const link of ['raw', 'sll', 'sll2', 'null', 'loop'] as const) {
    out.push({ data: buildPacket({ src: 'fe80::1', dst: 'ff02::1', protocol: 'udp', sport: 546, dport: 547, payload: Buffer.from('abc'), link }), linkType: { raw: 101, sll: 113, sll2: 276, null: 0, loop: 108 }[link] });
  }
  out.push({ data: buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 'udp', sport: 1, dport: 2, vlans: [100, 200] }), linkType: eth });
  // IPv4 and IPv6 fragments of one datagram.
  const body = new Uint8Array(64).fill(1);
  out.push({ data: wrapLink(buildIp('10.0.0.1', '10.0.0.2', 17, body.subarray(0, 32), { ipId: 9, fragment: { offset: 0, more: true } })), linkType: eth });
  out.push({ data: wrapLink(buildIp('10.0.0.1', '10.0.0.2', 17, body.subarray(32), { ipId: 9, fragment: { offset: 32, more: false } })), linkType: eth });
  out.push({ data: wrapLink(buildIp('fd00::1', 'fd00::2', 17, body.subarray(0, 32), { ipId: 9, fragment: { offset: 0, more: true } })), linkType: eth });
  // IP-in-IP and 6in4.
  out.push({ data: wrapLink(buildIp('1.1.1.1', '2.2.2.2', 4, buildIp('10.0.0.1', '10.0.0.2', 17, new Uint8Array(8)))), linkType: eth });
  out.push({ data: wrapLink(buildIp('1.1.1.1', '2.2.2.2', 41, buildIp('fd00::1', 'fd00::2', 17, new Uint8Array(8)))), linkType: eth });
  return out;
}

const LINKS = [LinkType.ETHERNET, LinkType.RAW, LinkType.LINUX_SLL, LinkType.LINUX_SLL2, LinkType.NULL, LinkType.LOOP, LinkType.IPV4, LinkType.IPV6, 147];

describe('fuzzing the decoder and the reassembler (seed 0x5eed)', () => {
  it('decodes 120,000 random, truncated and bit-flipped packets without throwing; every drop counted by reason', () => {
    const rnd = prng(0x5eed);
    const base = seeds();
    expect(base.length).toBeGreaterThan(300);
    const dec = new PacketDecoder({ fragments: { maxDatagrams: 64, maxBytes: 64 * 1024, maxFragmentsPerDatagram: 16, timeoutNs: 1_000_000n } });
    const pool = new ReassemblyPool(256 * 1024, { maxBufferedBytes: 16 * 1024, maxBufferedSegments: 64 });
    const conns = new Map<number, TcpReassembler>();
    let delivered = 0;
    const sink = (_d: number, data: Uint8Array) => {
      delivered += data.length;
    };
    const N = 120_000;
    const byStatus = [0, 0, 0, 0];
    const kinds = [0, 0, 0, 0];
    for (let i = 0; i < N; i++) {
      // 20% random bytes, 30% truncations, 35% bit flips, 15% another link type.
      const x = rnd();
      const kind = x < 0.2 ? 0 : x < 0.5 ? 1 : x < 0.85 ? 2 : 3;
      kinds[kind]++;
      let data: Uint8Array;
      let linkType: number;
      const s = base[Math.floor(rnd() * base.length)];
      if (kind === 0) {
        // Random bytes of random length.
        data = new Uint8Array(Math.floor(rnd() * 300));
        for (let j = 0; j < data.length; j++) data[j] = Math.floor(rnd() * 256);
        linkType = LINKS[Math.floor(rnd() * LINKS.length)];
      } else if (kind === 1) {
        // A real packet cut short.
        data = Uint8Array.prototype.slice.call(s.data, 0, Math.floor(rnd() * s.data.length));
        linkType = s.linkType;
      } else if (kind === 2) {
        // A real packet with 1-4 bits flipped, mostly in the headers.
        data = Uint8Array.from(s.data);
        const flips = 1 + Math.floor(rnd() * 4);
        for (let f = 0; f < flips && data.length > 0; f++) {
          const at = rnd() < 0.8 ? Math.floor(rnd() * Math.min(data.length, 80)) : Math.floor(rnd() * data.length);
          data[at] ^= 1 << Math.floor(rnd() * 8);
        }
        linkType = s.linkType;
      } else {
        // A real packet read under another link type.
        data = s.data;
        linkType = LINKS[Math.floor(rnd() * LINKS.length)];
      }
      const d = dec.decode(data, linkType, BigInt(i) * 1000n);
      byStatus[d.status]++;
      if (d.status === DecodeStatus.OK) {
        if (d.reason !== 0 || d.payloadOffset < 0 || d.payloadLength < 0 || d.payloadOffset + d.payloadLength > d.data.length || (d.ipVersion !== 4 && d.ipVersion !== 6)) {
          throw new Error(`packet ${i}: bad result ${d.payloadOffset}+${d.payloadLength}/${d.data.length} v${d.ipVersion}`);
        }
        if (d.protocol === 6) {
          // Random TCP into a handful of reassemblers: bounds must hold whatever the numbers.
          const key = (d.srcPort ^ d.dstPort) & 7;
          let r = conns.get(key);
          if (!r) conns.set(key, (r = new TcpReassembler(sink, pool)));
          r.segment((d.srcPort & 1) as 0 | 1, d.seq, d.ack, d.tcpFlags, d.payload(), BigInt(i), d.payloadWireLength);
          if (r.bufferedBytes > 2 * 16 * 1024) throw new Error('per-connection bound exceeded');
          if (pool.bufferedBytes > 256 * 1024) throw new Error('overall bound exceeded');
        }
      } else if (d.status === DecodeStatus.SKIPPED || d.status === DecodeStatus.DROPPED) {
        if (d.reason <= 0 || d.reason >= DROP_REASONS.length) throw new Error(`packet ${i}: no reason`);
      }
      if (dec.pendingFragments > 64) throw new Error('fragment table bound exceeded');
    }
    expect(kinds.every((k) => k > N / 10)).toBe(true);
    const counts = dec.dropCounts();
    const counted = Object.values(counts).reduce((a, b) => a + b, 0);
    expect(counted).toBe(byStatus[DecodeStatus.SKIPPED] + byStatus[DecodeStatus.DROPPED]);
    expect(dec.counters.packets).toBe(N);
    expect(dec.counters.ok).toBe(byStatus[DecodeStatus.OK]);
    // The fuzz reached the interesting places: many distinct reasons, and still plenty decoded.
    for (const reason of ['truncated-link', 'truncated-ip', 'bad-ip-version', 'bad-ip-header-length', 'bad-ip-total-length', 'truncated-tcp', 'bad-tcp-header-length', 'truncated-udp', 'bad-udp-length', 'not-ip', 'unsupported-link-type']) {
      expect({ reason, seen: (counts[reason] ?? 0) > 0 }).toEqual({ reason, seen: true });
    }
    // Headers are most of a small packet: about one mutated packet in six still decodes.
    expect(byStatus[DecodeStatus.OK]).toBeGreaterThan(N / 10);
    expect(dec.counters.tunneled).toBeGreaterThan(200);
    expect(dec.counters.fragments).toBeGreaterThan(100);
    expect(delivered).toBeGreaterThan(0);
    for (const r of conns.values()) r.close();
    expect(pool.bufferedBytes).toBe(0);
  });

  it('reads 2,000 corrupted capture files without throwing beyond a typed error at open', () => {
    const rnd = prng(0xf11e);
    const good = pcapBytes(
      Array.from({ length: 20 }, (_, i) => ({ tsNs: BigInt(i) * 1000n, data: buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 'udp', sport: i, dport: 53, payload: new Uint8Array(i * 3) }) })),
    );
    let opened = 0;
    let rejected = 0;
    let packets = 0;
    for (let i = 0; i < 2000; i++) {
      const bytes = good.slice(0, Math.floor(rnd() * good.length) + 1);
      for (let f = 0; f < 4; f++) bytes[Math.floor(rnd() * bytes.length)] ^= 1 << Math.floor(rnd() * 8);
      let r: CaptureReader;
      try {
        r = new CaptureReader(bytes);
      } catch (err) {
        expect(err).toBeInstanceOf(CaptureFormatError);
        rejected++;
        continue;
      }
      opened++;
      for (let p = r.next(); p; p = r.next()) packets++;
    }
    expect(opened).toBeGreaterThan(1000);
    expect(rejected).toBeGreaterThan(0);
    expect(packets).toBeGreaterThan(1000);
  });
});
