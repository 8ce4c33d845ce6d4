/**
 * Throughput of the packet layer (protocols/packet, protocols/stream): what a
 * pcap receiver's hot loop can do per core.
 *
 * Run: `npx tsc -p . && node dist/bench/packet-decode.js [loops] [passes]`
 *
 * Builds one large capture in memory by replaying every DeepFlow conformance
 * capture (tunnels, fragments, ~30 L7 protocols) `loops` times (default 60),
 * each copy with its IP addresses shifted so it is a new set of flows and its
 * timestamps moved on. Then, `passes` times (default 5), times:
 *
 * - read: CaptureReader.next() over the pcap bytes;
 * - read + decode: PacketDecoder.decode() of every packet;
 * - read + decode + reassembly: plus a flow table (Map keyed by a number
 *   built from the 5-tuple) and a TcpReassembler per TCP connection, the
 *   sink touching every delivered chunk (whose bigint time it is given).
 *
 * Prints packets per CPU-second (best pass; CPU time of this process, so a
 * busy machine skews it less than wall time) and MB/s of each, and the target
 * it is compared with: 1,000,000 packets/s per core for decode + reassembly.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DecodeStatus, PacketDecoder } from '../protocols/packet/decode';
import { CaptureReader } from '../protocols/packet/pcap';
import { ReassemblyPool, TcpReassembler } from '../protocols/stream/tcp';
import type { Dir } from '../protocols/types';
import { pcapBytes } from '../protocols/testing/pcap-writer';
import type { WrittenPacket } from '../protocols/testing/pcap-writer';

const TARGET_PPS = 1_000_000;
/** The project root (where package.json is), from bench/ or dist/bench/. */
function projectRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}
const ROOT = path.resolve(projectRoot(), '../shared/conformance/deepflow');

function capturesIn(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...capturesIn(p));
    else if (e.name.endsWith('.pcap')) out.push(p);
  }
  return out.sort();
}

/** Every Ethernet packet of the conformance captures, with where its innermost IP addresses are. */
function loadSeeds(): Array<{ data: Uint8Array; tsNs: bigint; ipOff: number; ipVersion: number }> {
  const dec = new PacketDecoder();
  const out: Array<{ data: Uint8Array; tsNs: bigint; ipOff: number; ipVersion: number }> = [];
  let t = 0n;
  for (const f of capturesIn(ROOT)) {
    let first = -1n;
    for (const p of CaptureReader.readFile(f)) {
      if (p.linkType !== 1) continue;
      if (first < 0n) first = p.tsNs;
      const d = dec.decode(p.data, p.linkType, p.tsNs);
      // Relative times, files one after another.
      out.push({ data: Uint8Array.from(p.data), tsNs: t + (p.tsNs - first), ipOff: d.status === DecodeStatus.OK ? d.ipOffset : -1, ipVersion: d.ipVersion });
    }
    t += 10_000_000_000n;
  }
  return out;
}

/** The seeds `loops` times, addresses XORed with the loop number so each copy is new flows. */
function buildCapture(loops: number): { bytes: Uint8Array; packets: number } {
  const seeds = loadSeeds();
  const packets: WrittenPacket[] = [];
  const span = seeds.reduce((m, s) => (s.tsNs > m ? s.tsNs : m), 0n) + 1_000_000_000n;
  const base = 1_700_000_000_000_000_000n;
  for (let k = 0; k < loops; k++) {
    for (const s of seeds) {
      const data = Uint8Array.from(s.data);
      if (s.ipOff >= 0) {
        // The same change on source and destination keeps both directions one flow.
        if (s.ipVersion === 4) {
          data[s.ipOff + 13] ^= k & 0xff;
          data[s.ipOff + 17] ^= k & 0xff;
          data[s.ipOff + 14] ^= (k >> 8) & 0xff;
          data[s.ipOff + 18] ^= (k >> 8) & 0xff;
        } else {
          data[s.ipOff + 8 + 9] ^= k & 0xff;
          data[s.ipOff + 24 + 9] ^= k & 0xff;
        }
      }
      packets.push({ tsNs: base + BigInt(k) * span + s.tsNs, data });
    }
  }
  return { bytes: pcapBytes(packets, { nanos: true }), packets: packets.length };
}

interface Conn {
  r: TcpReassembler;
  a: string;
  aPort: number;
}

function run(bytes: Uint8Array, mode: 0 | 1 | 2): { packets: number; ns: number; delivered: number; flows: number } {
  let delivered = 0;
  const sink = (_dir: Dir, data: Uint8Array): void => {
    delivered += data.length;
  };
  // CPU time of this process, not wall time: the figure is per core even on a busy machine.
  const c0 = process.cpuUsage();
  const reader = new CaptureReader(bytes);
  const dec = new PacketDecoder();
  const pool = new ReassemblyPool();
  const flows = new Map<number, Conn>();
  let n = 0;
  for (let p = reader.next(); p; p = reader.next()) {
    n++;
    if (mode === 0) continue;
    const d = dec.decodePacket(p);
    if (mode === 1 || d.status !== DecodeStatus.OK || d.protocol !== 6) continue;
    // A symmetric small-integer key of the 5-tuple (Map is fastest with small integers); a real
    // flow table also compares the tuple on a hit, as done here.
    const ha = d.ipVersion === 4 ? d.src4 : hashString(d.srcIp);
    const hb = d.ipVersion === 4 ? d.dst4 : hashString(d.dstIp);
    const ea = Math.imul(ha ^ Math.imul(d.srcPort, 0x85ebca6b), 0x9e3779b1);
    const eb = Math.imul(hb ^ Math.imul(d.dstPort, 0x85ebca6b), 0x9e3779b1);
    const key = ((ea ^ eb) + Math.imul(ea + eb, 0x27d4eb2f) + d.tunnelId) >> 1;
    let c = flows.get(key);
    if (!c || !((c.aPort === d.srcPort && c.a === d.srcIp) || (c.aPort === d.dstPort && c.a === d.dstIp))) {
      c = { r: new TcpReassembler(sink, pool), a: d.srcIp, aPort: d.srcPort };
      flows.set(key, c);
    }
    const dir: Dir = d.srcPort === c.aPort && d.srcIp === c.a ? 0 : 1;
    c.r.segmentPacket(dir, d, p);
  }
  for (const c of flows.values()) c.r.close();
  const cpu = process.cpuUsage(c0);
  return { packets: n, ns: (cpu.user + cpu.system) * 1000, delivered, flows: flows.size };
}

/** IPv6 flows in the bench are few: a string hash is enough for their key. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function main(): void {
  const loops = Number(process.argv[2] ?? 60);
  const passes = Number(process.argv[3] ?? 5);
  const { bytes, packets } = buildCapture(loops);
  console.log(`capture: ${packets.toLocaleString('en-US')} packets, ${(bytes.length / 1e6).toFixed(1)} MB (${loops} copies of the DeepFlow conformance captures)`);
  const names = ['read', 'read + decode', 'read + decode + TCP reassembly'];
  let last = 0;
  for (const mode of [0, 1, 2] as const) {
    let best = Infinity;
    let info = { packets: 0, ns: 0, delivered: 0, flows: 0 };
    for (let i = 0; i < passes; i++) {
      info = run(bytes, mode);
      best = Math.min(best, info.ns);
    }
    const pps = (info.packets / best) * 1e9;
    const mbps = (bytes.length / best) * 1e3;
    const extra = mode === 2 ? `  (${info.flows.toLocaleString('en-US')} TCP flows, ${(info.delivered / 1e6).toFixed(1)} MB delivered)` : '';
    console.log(`${names[mode].padEnd(32)} ${Math.round(pps).toLocaleString('en-US').padStart(12)} packets/s ${mbps.toFixed(0).padStart(6)} MB/s${extra}`);
    last = pps;
  }
  console.log(`target: ${TARGET_PPS.toLocaleString('en-US')} packets/s per core for decode + reassembly → ${(last / TARGET_PPS).toFixed(2)}x`);
}

main();
