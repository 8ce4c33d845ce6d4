/**
 * The capture reader: pcap (µs, ns, modified; both byte orders) and pcapng
 * (sections, interfaces with their own link types and resolutions, EPB, SPB),
 * checked against tshark and editcap's conversions of the same packets, and
 * truncated or corrupt files ending cleanly.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tsharkAvailable, tsharkFields } from '../../test/helpers/tshark';
import { buildPacket, linkTypeOf, pcapBytes, pcapngBytes } from '../testing/pcap-writer';
import type { PacketSpec, WrittenPacket } from '../testing/pcap-writer';
import { DecodeStatus, PacketDecoder } from './decode';
import { CaptureFormatError, CaptureReader, forEachPacket, LinkType } from './pcap';
import { conformancePath } from '../testing/conformance';

const FLOWS = conformancePath('deepflow/flow_generator');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-pcap-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const haveTshark = tsharkAvailable();
const itTshark = haveTshark ? it : it.skip;

interface Seen {
  tsNs: bigint;
  linkType: number;
  len: number;
  origLen: number;
  iface: number;
  hex: string;
}

function readAll(r: CaptureReader): Seen[] {
  const out: Seen[] = [];
  for (const p of r) out.push({ tsNs: p.tsNs, linkType: p.linkType, len: p.data.length, origLen: p.origLen, iface: p.interfaceId, hex: Buffer.from(p.data).toString('hex') });
  return out;
}

/** tshark's view of every frame: epoch time in ns, captured and wire length. */
async function tsharkFrames(file: string): Promise<Array<{ tsNs: bigint; len: number; origLen: number }>> {
  const recs = await tsharkFields(file, ['frame.time_epoch', 'frame.cap_len', 'frame.len']);
  return recs.map((r) => {
    const [sec, frac = ''] = r['frame.time_epoch'][0].split('.');
    return { tsNs: BigInt(sec) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9)), len: Number(r['frame.cap_len'][0]), origLen: Number(r['frame.len'][0]) };
  });
}

const pkts = (n: number, link: PacketSpec['link'] = 'ethernet'): WrittenPacket[] =>
  Array.from({ length: n }, (_, i) => ({
    tsNs: 1_700_000_000_123_456_789n + BigInt(i) * 1_000_001_001n,
    data: buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 'udp', sport: 1000 + i, dport: 53, payload: Buffer.from(`packet ${i}`), link }),
  }));

describe('classic pcap', () => {
  it.each([
    ['µs little-endian', { nanos: false, bigEndian: false }],
    ['µs big-endian', { nanos: false, bigEndian: true }],
    ['ns little-endian', { nanos: true, bigEndian: false }],
    ['ns big-endian', { nanos: true, bigEndian: true }],
  ])('%s: timestamps, lengths, link type and bytes', (_name, opts) => {
    const written = pkts(3);
    const r = new CaptureReader(pcapBytes(written, { ...opts, linkType: LinkType.ETHERNET }));
    expect(r.format).toBe('pcap');
    const got = readAll(r);
    expect(got.map((g) => g.tsNs)).toEqual(written.map((w) => (opts.nanos ? w.tsNs : (w.tsNs / 1000n) * 1000n)));
    expect(got.map((g) => g.hex)).toEqual(written.map((w) => Buffer.from(w.data).toString('hex')));
    expect(got.every((g) => g.linkType === LinkType.ETHERNET && g.origLen === g.len)).toBe(true);
    expect(r.stats).toEqual({ packets: 3, skippedBlocks: 0, unknownInterface: 0, truncated: false, corrupt: false });
  });

  itTshark('the DeepFlow captures read like tshark reads them (µs, ns and modified pcap)', async () => {
    for (const name of ['http.pcap', 'kafka/01-fetch-v12-unknown.pcap', 'nats/nats-nrpc1.pcap', 'ip-fragment.pcap']) {
      const file = path.join(FLOWS, name);
      const ours = readAll(CaptureReader.readFile(file));
      const theirs = await tsharkFrames(file);
      expect({ name, frames: ours.map((o) => ({ tsNs: o.tsNs, len: o.len, origLen: o.origLen })) }).toEqual({ name, frames: theirs });
    }
    expect(CaptureReader.readFile(path.join(FLOWS, 'nats/nats-nrpc1.pcap')).format).toBe('pcap-modified');
  });

  it('snap length: a cut packet keeps its wire length; the decoder marks it truncated', () => {
    const full = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 'tcp', sport: 1, dport: 2, seq: 7, payload: Buffer.alloc(100, 0x61) });
    const r = new CaptureReader(pcapBytes([{ tsNs: 0n, data: full.subarray(0, 14 + 20 + 20 + 30), origLen: full.length }], { snaplen: 84 }));
    const p = r.next()!;
    expect([p.data.length, p.origLen]).toEqual([84, full.length]);
    expect(r.interfaces[0].snaplen).toBe(84);
    const d = new PacketDecoder().decode(p.data, p.linkType);
    expect([d.status, d.truncated, d.payloadLength, d.payloadWireLength]).toEqual([DecodeStatus.OK, true, 30, 100]);
  });

  it('a file cut inside a record or its header ends cleanly, marked truncated', () => {
    const bytes = pcapBytes(pkts(3));
    for (const cut of [1, 10, 17, 30]) {
      const r = new CaptureReader(bytes.subarray(0, bytes.length - cut));
      expect(readAll(r)).toHaveLength(2);
      expect(r.stats.truncated).toBe(true);
    }
    const headerOnly = new CaptureReader(bytes.subarray(0, 24));
    expect(readAll(headerOnly)).toHaveLength(0);
    expect(headerOnly.stats.truncated).toBe(false);
    const r = new CaptureReader(bytes.subarray(0, 20));
    expect(readAll(r)).toHaveLength(0);
    expect(r.stats.truncated).toBe(true);
  });

  it('an impossible record length stops reading, marked corrupt', () => {
    const bytes = pcapBytes(pkts(2));
    new DataView(bytes.buffer).setUint32(24 + 16 + bytes.length / 2, 0, true);
    const b2 = pcapBytes(pkts(2));
    const second = 24 + 16 + pkts(1)[0].data.length;
    new DataView(b2.buffer).setUint32(second + 8, 0x7fffffff, true);
    const r = new CaptureReader(b2);
    expect(readAll(r)).toHaveLength(1);
    expect(r.stats.corrupt).toBe(true);
  });

  it('rejects what is not a capture with a typed error', () => {
    expect(() => new CaptureReader(Buffer.from('GET / HTTP/1.1\r\n'))).toThrow(CaptureFormatError);
    expect(() => new CaptureReader(new Uint8Array(2))).toThrow(/too short/);
    try {
      new CaptureReader(new Uint8Array(64));
    } catch (err) {
      expect((err as CaptureFormatError).code).toBe('ERR_CAPTURE_FORMAT');
    }
  });

  it('a file reader with a small window gives the same packets as reading the file whole', () => {
    const file = path.join(tmp, 'window.pcap');
    const written = Array.from({ length: 200 }, (_, i) => ({ tsNs: BigInt(i) * 1000n, data: buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 'tcp', sport: 1, dport: 2, seq: i, payload: Buffer.alloc(i * 7, i) }) }));
    fs.writeFileSync(file, pcapBytes(written));
    const whole = readAll(CaptureReader.readFile(file));
    const windowed = readAll(CaptureReader.openFile(file, 1));
    expect(windowed).toEqual(whole);
    expect(windowed).toHaveLength(200);
    // One record larger than the window grows it.
    const big = path.join(tmp, 'big.pcap');
    fs.writeFileSync(big, pcapBytes([{ tsNs: 0n, data: new Uint8Array(200_000).fill(7) }, ...written.slice(0, 3)]));
    expect(readAll(CaptureReader.openFile(big, 65536)).map((p) => p.len)).toEqual([200_000, ...written.slice(0, 3).map((w) => w.data.length)]);
    expect(forEachPacket(file, () => {}).packets).toBe(200);
  });
});

describe('pcapng', () => {
  itTshark('editcap’s pcapng conversion of a DeepFlow capture reads the same as the pcap', async () => {
    const src = path.join(FLOWS, 'http.pcap');
    const ng = path.join(tmp, 'http.pcapng');
    execFileSync('editcap', ['-F', 'pcapng', src, ng]);
    const r = CaptureReader.readFile(ng);
    expect(r.format).toBe('pcapng');
    const a = readAll(r);
    expect(a).toEqual(readAll(CaptureReader.readFile(src)));
    expect(a.map((p) => ({ tsNs: p.tsNs, len: p.len, origLen: p.origLen }))).toEqual(await tsharkFrames(ng));
    // editcap adds name resolution / statistics blocks: skipped, not packets.
    expect(r.stats.packets).toBe(13);
  });

  itTshark('several interfaces with different link types and resolutions, both byte orders (as tshark reads them)', async () => {
    const eth = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 'tcp', sport: 1111, dport: 80, seq: 5, flags: 'S' });
    const raw = buildPacket({ src: 'fd00::1', dst: 'fd00::2', protocol: 'udp', sport: 2222, dport: 53, payload: Buffer.from('q'), link: 'raw' });
    const sll2 = buildPacket({ src: '10.1.0.1', dst: '10.1.0.2', protocol: 'udp', sport: 3333, dport: 5353, payload: Buffer.from('x'), link: 'sll2' });
    const ifaces = [
      { linkType: LinkType.ETHERNET, tsresol: 9 },
      { linkType: LinkType.RAW, tsresol: 6 },
      { linkType: LinkType.LINUX_SLL2, tsresol: 0x80 | 20, tsOffsetSec: 1_000n },
    ];
    const packets: WrittenPacket[] = [
      { tsNs: 1_700_000_000_123_456_789n, data: eth, interfaceId: 0 },
      { tsNs: 1_700_000_001_000_001_000n, data: raw, interfaceId: 1 },
      { tsNs: 1_700_000_002_500_000_000n, data: sll2, interfaceId: 2, origLen: sll2.length + 100 },
    ];
    for (const bigEndian of [false, true]) {
      const file = path.join(tmp, `multi-${bigEndian}.pcapng`);
      fs.writeFileSync(file, pcapngBytes(ifaces, packets, { bigEndian }));
      const got = readAll(CaptureReader.readFile(file));
      expect(got.map((g) => [g.iface, g.linkType, g.len, g.origLen])).toEqual([
        [0, LinkType.ETHERNET, eth.length, eth.length],
        [1, LinkType.RAW, raw.length, raw.length],
        [2, LinkType.LINUX_SLL2, sll2.length, sll2.length + 100],
      ]);
      const theirs = await tsharkFrames(file);
      expect(got.map((g) => g.tsNs)).toEqual(theirs.map((t) => t.tsNs));
      expect(got[0].tsNs).toBe(1_700_000_000_123_456_789n);
      expect(got[1].tsNs).toBe(1_700_000_001_000_001_000n);
      // 2^-20 s units: within a microsecond of what was written.
      expect(Number(got[2].tsNs - 1_700_000_002_500_000_000n)).toBeLessThanOrEqual(1000);
      const dec = new PacketDecoder();
      const flows = got.map((g) => {
        const d = dec.decode(Buffer.from(g.hex, 'hex'), g.linkType);
        return [d.status, d.srcIp, d.srcPort];
      });
      expect(flows).toEqual([
        [DecodeStatus.OK, '10.0.0.1', 1111],
        [DecodeStatus.OK, 'fd00::1', 2222],
        [DecodeStatus.OK, '10.1.0.1', 3333],
      ]);
    }
  });

  it('simple packet blocks (no timestamp), several sections, unknown interfaces and blocks', () => {
    const p = pkts(2);
    const a = pcapngBytes([{ linkType: LinkType.ETHERNET, snaplen: 20 }], p, { simple: true });
    const b = pcapngBytes([{ linkType: LinkType.RAW }], [{ tsNs: 5_000_000_000n, data: buildPacket({ src: '1.1.1.1', dst: '2.2.2.2', protocol: 'udp', sport: 1, dport: 2, link: 'raw' }) }], { bigEndian: true });
    // A custom block (type 0x00000BAD) and an EPB for interface 7 appended to the second section.
    const custom = new Uint8Array(16);
    const cv = new DataView(custom.buffer);
    cv.setUint32(0, 0xbad, false);
    cv.setUint32(4, 16, false);
    cv.setUint32(12, 16, false);
    const orphan = pcapngBytes([{ linkType: LinkType.RAW }], [{ tsNs: 0n, data: new Uint8Array(20), interfaceId: 0 }], { bigEndian: true });
    // Take only its EPB (after SHB 28 bytes and IDB) and point it at interface 7.
    const epb = orphan.subarray(orphan.length - (12 + 20 + 20));
    const epbCopy = epb.slice();
    new DataView(epbCopy.buffer).setUint32(8, 7, false);
    const all = Buffer.concat([a, b, custom, epbCopy]);
    const r = new CaptureReader(all);
    const got = readAll(r);
    expect(got.map((g) => [g.tsNs, g.linkType, g.len, g.origLen])).toEqual([
      [0n, LinkType.ETHERNET, 20, p[0].data.length],
      [0n, LinkType.ETHERNET, 20, p[1].data.length],
      [5_000_000_000n, LinkType.RAW, 28, 28],
    ]);
    expect(r.stats).toEqual({ packets: 3, skippedBlocks: 1, unknownInterface: 1, truncated: false, corrupt: false });
  });

  it('a truncated pcapng ends cleanly', () => {
    const bytes = pcapngBytes([{ linkType: LinkType.ETHERNET }], pkts(3));
    const r = new CaptureReader(bytes.subarray(0, bytes.length - 5));
    expect(readAll(r)).toHaveLength(2);
    expect(r.stats.truncated).toBe(true);
  });
});

describe('link types the decoder reads (checked against tshark)', () => {
  const links: Array<PacketSpec['link']> = ['ethernet', 'raw', 'sll', 'sll2', 'null', 'loop'];
  itTshark.each(links)('%s: v4 TCP and v6 UDP decode to tshark’s addresses and ports', async (link) => {
    const file = path.join(tmp, `${link}.pcap`);
    const data = [
      buildPacket({ src: '192.168.1.10', dst: '192.168.1.20', protocol: 'tcp', sport: 40000, dport: 443, seq: 1, flags: 'PA', payload: Buffer.from('hi'), link }),
      buildPacket({ src: '2001:db8::10', dst: '2001:db8:0:1::20', protocol: 'udp', sport: 5353, dport: 53, payload: Buffer.from('q'), link }),
    ];
    fs.writeFileSync(file, pcapBytes(data.map((d, i) => ({ tsNs: BigInt(i), data: d })), { linkType: linkTypeOf(link) }));
    const theirs = await tsharkFields(file, ['ip.src', 'ipv6.src', 'ipv6.dst', 'tcp.srcport', 'udp.srcport']);
    expect(theirs.map((t) => [t['ip.src'][0] ?? t['ipv6.src'][0], t['tcp.srcport'][0] ?? t['udp.srcport'][0]])).toEqual([
      ['192.168.1.10', '40000'],
      ['2001:db8::10', '5353'],
    ]);
    const dec = new PacketDecoder();
    const ours = readAll(CaptureReader.readFile(file)).map((g) => {
      const d = dec.decode(Buffer.from(g.hex, 'hex'), g.linkType);
      return [d.status, d.srcIp, d.dstIp, d.srcPort, d.payloadLength];
    });
    expect(ours).toEqual([
      [DecodeStatus.OK, '192.168.1.10', '192.168.1.20', 40000, 2],
      [DecodeStatus.OK, '2001:db8::10', theirs[1]['ipv6.dst'][0], 5353, 1],
    ]);
  });
});
