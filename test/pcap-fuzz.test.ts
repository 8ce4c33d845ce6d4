/**
 * Malformed, truncated and random packets through the whole packet path —
 * decode, flow table, TCP reassembly, L7 detection and parsing — never
 * throw: every one is counted (decoded, held, skipped or dropped by reason)
 * and the flow table stays within its bound.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PROTOCOLS } from '../protocols/index';
import { FlowTable } from '../protocols/flow/table';
import { DecodeStatus, DROP_REASONS, PacketDecoder } from '../protocols/packet/decode';
import { CapturedPacket, CaptureReader, LinkType } from '../protocols/packet/pcap';
import { buildPacket } from '../protocols/testing/pcap-writer';
import { DEFAULT_PARSER_OPTIONS, type ProtocolSpec } from '../protocols/types';
import { conformancePath } from '../protocols/testing/conformance';

const ROOT = conformancePath('deepflow');
const CASES = 100_000;
/**
 * The flow bound under test. Small on purpose: time jumps 400 s ahead at
 * about one packet in a hundred, which times every flow out, so between two
 * jumps only some hundred flows can accumulate (192 at most with this seed);
 * a bound of 512 would never bite and eviction would go untested.
 */
const MAX_FLOWS = 64;

/** Every spec this tree has (the build's list plus parsers that exist but are not registered yet). */
function allSpecs(): ProtocolSpec[] {
  const specs = [...PROTOCOLS];
  for (const dir of fs.readdirSync(path.join(__dirname, '../protocols'))) {
    const index = path.join(__dirname, '../protocols', dir, 'index.ts');
    if (!fs.existsSync(index)) continue;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const spec = (require(index) as { spec?: ProtocolSpec }).spec;
      if (spec && !specs.some((s) => s.name === spec.name)) specs.push(spec);
    } catch {
      // A parser being written right now may not load: fuzz the others.
    }
  }
  return specs;
}

/** xorshift32: reproducible randomness. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

/** Real packets to mutate: every conformance capture plus hand-made ones. */
function seeds(): Array<{ data: Uint8Array; linkType: number }> {
  const out: Array<{ data: Uint8Array; linkType: number }> = [];
  const walk = (dir: string) => {
    for (const f of fs.readdirSync(dir)) {
      const p = path.join(dir, f);
      if (fs.statSync(p).isDirectory()) walk(p);
      else if (/\.(pcap|pcapng)$/.test(f)) {
        try {
          const r = CaptureReader.readFile(p);
          let n = 0;
          for (let pkt = r.next(); pkt && n < 50; pkt = r.next(), n++) out.push({ data: pkt.data.slice(), linkType: pkt.linkType });
        } catch {
          // not a capture
        }
      }
    }
  };
  walk(ROOT);
  for (const flags of ['S', 'SA', 'A', 'PA', 'FA', 'R', 'RA', 'SF', 'U', '']) {
    const payload = new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    out.push({ data: buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 'tcp', sport: 40000, dport: 80, seq: 1, ack: 1, flags, payload }), linkType: LinkType.ETHERNET });
    out.push({ data: buildPacket({ src: 'fd00::1', dst: 'fd00::2', protocol: 'udp', sport: 5353, dport: 53, payload }), linkType: LinkType.ETHERNET });
  }
  return out;
}

const LINK_TYPES = [LinkType.ETHERNET, LinkType.RAW, LinkType.LINUX_SLL, LinkType.LINUX_SLL2, LinkType.NULL, LinkType.LOOP, LinkType.IPV4, LinkType.IPV6, 12, 147];

test(`${CASES} malformed, truncated and random packets are counted and dropped, never thrown`, () => {
  const specs = allSpecs();
  expect(specs.length).toBeGreaterThan(0);
  const table = new FlowTable({ maxFlows: MAX_FLOWS, l7: { specs, parser: DEFAULT_PARSER_OPTIONS } });
  const decoder = new PacketDecoder({ fragments: { maxDatagrams: 64, maxBytes: 1 << 20, maxFragmentsPerDatagram: 64, timeoutNs: 5_000_000_000n } });
  const pkt = new CapturedPacket();
  const base = seeds();
  const rand = rng(0x5eed);
  const kinds = { random: 0, truncated: 0, flipped: 0, spliced: 0 };
  let sec = 1_700_000_000;
  let frac = 0;
  const status = [0, 0, 0, 0];
  for (let i = 0; i < CASES; i++) {
    const pick = base[Math.floor(rand() * base.length)];
    let data: Uint8Array;
    let linkType = pick.linkType;
    const kind = i % 4;
    if (kind === 0) {
      kinds.random++;
      data = new Uint8Array(Math.floor(rand() * 200));
      for (let j = 0; j < data.length; j++) data[j] = rand() * 256;
      linkType = LINK_TYPES[Math.floor(rand() * LINK_TYPES.length)];
    } else if (kind === 1) {
      kinds.truncated++;
      data = pick.data.slice(0, Math.floor(rand() * pick.data.length));
    } else if (kind === 2) {
      kinds.flipped++;
      data = pick.data.slice();
      const flips = 1 + Math.floor(rand() * 8);
      for (let j = 0; j < flips && data.length; j++) data[Math.floor(rand() * data.length)] = rand() * 256;
    } else {
      // A valid header with another packet's bytes as its payload.
      kinds.spliced++;
      const other = base[Math.floor(rand() * base.length)].data;
      const cut = Math.min(pick.data.length, 14 + Math.floor(rand() * 60));
      data = new Uint8Array(cut + other.length);
      data.set(pick.data.subarray(0, cut));
      data.set(other, cut);
    }
    // Time mostly moves on, sometimes jumps back or far ahead.
    const r = rand();
    if (r < 0.01) sec -= 2;
    else if (r < 0.02) sec += 400;
    else frac += 1e5;
    if (frac >= 1e9) {
      sec++;
      frac -= 1e9;
    }
    pkt.set(data, 0, data.length, sec, frac, linkType, data.length + (rand() < 0.1 ? 100 : 0), 0);
    const d = decoder.decodePacket(pkt);
    status[d.status]++;
    table.packet(d, pkt);
    expect(table.activeFlows).toBeLessThanOrEqual(MAX_FLOWS);
  }
  table.flush();
  expect(table.counters.packets).toBe(CASES);
  expect(status.reduce((a, b) => a + b, 0)).toBe(CASES);
  // Every packet not decoded is counted under a reason.
  const drops = decoder.dropCounts();
  const dropped = Object.values(drops).reduce((a, b) => a + b, 0);
  expect(dropped).toBe(status[DecodeStatus.SKIPPED] + status[DecodeStatus.DROPPED]);
  expect(Object.keys(drops).every((k) => (DROP_REASONS as readonly string[]).includes(k))).toBe(true);
  // A real mix: plenty decoded, plenty dropped, flows made, the bound bit.
  expect(status[DecodeStatus.OK]).toBeGreaterThan(CASES / 10);
  expect(dropped).toBeGreaterThan(CASES / 10);
  expect(table.counters.flowsCreated).toBeGreaterThan(MAX_FLOWS * 10);
  expect(table.counters.flowsEvicted).toBeGreaterThan(0);
  expect(table.activeFlows).toBe(0);
  expect(table.counters.callbackErrors).toBe(0);
  expect(kinds).toEqual({ random: CASES / 4, truncated: CASES / 4, flipped: CASES / 4, spliced: CASES / 4 });
});
