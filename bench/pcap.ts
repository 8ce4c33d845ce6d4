/**
 * The pcap receiver's offline path on one core, against tshark and tcpdump
 * on the same file, in one run.
 *
 * Run (not part of the tests; needs tshark and tcpdump):
 *
 *     npx tsc -p tsconfig.json
 *     node dist/bench/pcap.js [packets=1200000] [--keep]
 *
 * 1. Builds a capture (in a child process, so its memory does not count) of
 *    at least `packets` packets: interleaved TCP connections with handshake
 *    and FIN close — HTTP/1.1 keep-alive (70%, ten requests each, every
 *    tenth response 4 KiB in three segments), Redis (15%), an opaque binary
 *    protocol (5%) — and DNS queries and answers over UDP (10%).
 * 2. ours: the file through CaptureReader → PacketDecoder → FlowTable (flow
 *    states, L4 performance, TCP reassembly, protocol inference and parsing
 *    with every protocol of the build, as the receiver runs it), on this
 *    thread; then the same plus building the OTel spans, flow-log records
 *    and network metrics the receiver hands on; and without L7 (decode,
 *    flows and L4 metrics only) to show where the time goes. Packets/s and
 *    Gbit/s (frame bytes) over wall time, CPU time, peak RSS, the bounds.
 * 3. tshark -r FILE -T fields -e http.request.method -e http.response.code
 *    (the issue's baseline) and tcpdump -r FILE -w /dev/null (a read
 *    ceiling), wall time each, and the ratios.
 *
 * Aim (issue 3): at least 1,000,000 packets/s per core and at least 20× tshark,
 * memory bounded by the configured limits.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { flowLogRecord, networkMetrics } from '../protocols/flow/signals';
import { FlowTable } from '../protocols/flow/table';
import { PROTOCOLS } from '../protocols/index';
import { PacketDecoder } from '../protocols/packet/decode';
import { CaptureReader } from '../protocols/packet/pcap';
import { sessionToSpan, type SessionFlow } from '../protocols/span';
import { ReassemblyPool } from '../protocols/stream/tcp';
import { DEFAULT_PARSER_OPTIONS } from '../protocols/types';
import { buildPacket } from '../protocols/testing/pcap-writer';
import { SpanKind } from '../pipeline/pdata';

const TARGET_PPS = 1_000_000;
const TARGET_TSHARK_RATIO = 20;

// ---------------------------------------------------------------- the capture

/** xorshift32. */
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

interface Pkt {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  protocol: 'tcp' | 'udp';
  flags?: string;
  seq?: number;
  ack?: number;
  payload?: Uint8Array;
}

const enc = new TextEncoder();

/** The packets of one TCP connection exchanging `exchanges` (request, response) pairs, then closing. */
function* tcpConversation(c: string, cp: number, s: string, sp: number, exchanges: Array<[Uint8Array, Uint8Array]>): Generator<Pkt> {
  let cs = 1000;
  let ss = 500000;
  const t = (from: 'c' | 's', flags: string, payload?: Uint8Array): Pkt =>
    from === 'c'
      ? { src: c, dst: s, sport: cp, dport: sp, protocol: 'tcp', flags, seq: cs, ack: ss, payload }
      : { src: s, dst: c, sport: sp, dport: cp, protocol: 'tcp', flags, seq: ss, ack: cs, payload };
  yield { src: c, dst: s, sport: cp, dport: sp, protocol: 'tcp', flags: 'S', seq: cs - 1, ack: 0 };
  yield { src: s, dst: c, sport: sp, dport: cp, protocol: 'tcp', flags: 'SA', seq: ss - 1, ack: cs };
  yield t('c', 'A');
  for (const [req, resp] of exchanges) {
    yield t('c', 'PA', req);
    cs += req.length;
    for (let off = 0; off < resp.length; off += 1448) {
      const seg = resp.subarray(off, Math.min(resp.length, off + 1448));
      yield t('s', 'PA', seg);
      ss += seg.length;
    }
    yield t('c', 'A');
  }
  yield t('c', 'FA');
  cs += 1;
  yield t('s', 'FA');
  ss += 1;
  yield t('c', 'A');
}

function dnsName(name: string): number[] {
  const out: number[] = [];
  for (const label of name.split('.')) out.push(label.length, ...enc.encode(label));
  out.push(0);
  return out;
}

function* dnsExchange(c: string, cp: number, s: string, id: number, name: string): Generator<Pkt> {
  const q = [id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...dnsName(name), 0, 1, 0, 1];
  const a = [id >> 8, id & 0xff, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, ...dnsName(name), 0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 9, 8, 7];
  yield { src: c, dst: s, sport: cp, dport: 53, protocol: 'udp', payload: Uint8Array.from(q) };
  yield { src: s, dst: c, sport: 53, dport: cp, protocol: 'udp', payload: Uint8Array.from(a) };
}

/** Writes the benchmark capture; returns its packet count. */
function generate(file: string, want: number): number {
  const rand = rng(0xbe9c4);
  const fd = fs.openSync(file, 'w');
  const out = Buffer.alloc(8 * 1024 * 1024);
  let o = 0;
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b23c4d, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262144, 16);
  header.writeUInt32LE(1, 20);
  fs.writeSync(fd, header);
  let n = 0;
  let tNs = 1_700_000_000_000_000_000n;
  const write = (p: Pkt) => {
    const data = buildPacket(p);
    if (o + 16 + data.length > out.length) {
      fs.writeSync(fd, out, 0, o);
      o = 0;
    }
    tNs += BigInt(5000 + Math.floor(rand() * 10000));
    out.writeUInt32LE(Number(tNs / 1_000_000_000n), o);
    out.writeUInt32LE(Number(tNs % 1_000_000_000n), o + 4);
    out.writeUInt32LE(data.length, o + 8);
    out.writeUInt32LE(data.length, o + 12);
    out.set(data, o + 16);
    o += 16 + data.length;
    n++;
  };
  const body = 'x'.repeat(420);
  const big = 'y'.repeat(4096);
  let conn = 0;
  const next = (): Generator<Pkt> => {
    conn++;
    const c = `10.${(conn >> 16) & 0xff}.${(conn >> 8) & 0xff}.${conn & 0xff}`;
    const cp = 10000 + (conn % 50000);
    const r = rand();
    if (r < 0.7) {
      const ex: Array<[Uint8Array, Uint8Array]> = [];
      for (let i = 0; i < 10; i++) {
        const b = i === 9 ? big : body;
        const status = rand() < 0.05 ? '404 Not Found' : '200 OK';
        ex.push([
          enc.encode(`GET /api/items/${conn}/${i}?q=${i} HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: bench/1.0\r\nAccept: */*\r\n\r\n`),
          enc.encode(`HTTP/1.1 ${status}\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: ${b.length}\r\n\r\n${b}`),
        ]);
      }
      return tcpConversation(c, cp, '192.168.1.10', 80, ex);
    }
    if (r < 0.85) {
      const ex: Array<[Uint8Array, Uint8Array]> = [];
      for (let i = 0; i < 8; i++) {
        const key = `user:${conn}:${i}`;
        ex.push([enc.encode(`*2\r\n$3\r\nGET\r\n$${key.length}\r\n${key}\r\n`), enc.encode('$5\r\nhello\r\n')]);
      }
      return tcpConversation(c, cp, '192.168.1.20', 6379, ex);
    }
    if (r < 0.9) {
      const ex: Array<[Uint8Array, Uint8Array]> = [];
      for (let i = 0; i < 6; i++) {
        const a = new Uint8Array(200);
        const b = new Uint8Array(600);
        for (let j = 0; j < a.length; j++) a[j] = rand() * 256;
        for (let j = 0; j < b.length; j++) b[j] = rand() * 256;
        ex.push([a, b]);
      }
      return tcpConversation(c, cp, '192.168.1.30', 9000, ex);
    }
    return dnsExchange(c, cp, '192.168.1.53', conn & 0xffff, `host${conn}.svc.example`);
  };
  // 256 conversations at a time, a packet from each in turn.
  const active: Array<Generator<Pkt>> = [];
  for (let i = 0; i < 256; i++) active.push(next());
  let i = 0;
  while (active.length) {
    const g = active[i];
    const r = g.next();
    if (r.done) {
      if (n < want) active[i] = next();
      else {
        active.splice(i, 1);
        if (i >= active.length) i = 0;
        continue;
      }
    } else write(r.value);
    i = (i + 1) % active.length;
  }
  fs.writeSync(fd, out, 0, o);
  fs.closeSync(fd);
  return n;
}

// ---------------------------------------------------------------- measurements

interface Ours {
  packets: number;
  bytes: number;
  sessions: number;
  httpSessions: number;
  flows: number;
  wallS: number;
  cpuS: number;
  maxActive: number;
}

function ours(file: string, signals: boolean, l7 = true): Ours {
  const started = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const reader = CaptureReader.openFile(file);
  const decoder = new PacketDecoder();
  let sessions = 0;
  let httpSessions = 0;
  let sink = 0;
  const table: FlowTable = new FlowTable(
    { direction: 'ports', l7: l7 ? { specs: PROTOCOLS, parser: DEFAULT_PARSER_OPTIONS } : undefined, reassembly: l7 ? new ReassemblyPool() : undefined },
    {
      session(s, f) {
        sessions++;
        if (s.l7_protocol === 'HTTP') httpSessions++;
        if (signals) sink += sessionToSpan(s, f as unknown as SessionFlow, { kind: SpanKind.SERVER, source: 'packet' }).name.length;
      },
      flowLog: signals ? (f, st, e, final) => (sink += flowLogRecord(f, table.absNs(f.startT), table.absNs(st), table.absNs(e), final, 0n).body === '' ? 1 : 0) : undefined,
      metrics: signals ? (g, s, e, aggs) => (sink += networkMetrics(g, s, e, aggs, g === '1s' ? 'second' : 'minute').length) : undefined,
    },
  );
  let bytes = 0;
  let maxActive = 0;
  let k = 0;
  for (let p = reader.next(); p; p = reader.next()) {
    bytes += p.origLen;
    table.packet(decoder.decodePacket(p), p);
    if ((++k & 0xfff) === 0 && table.activeFlows > maxActive) maxActive = table.activeFlows;
  }
  table.flush();
  reader.close();
  const cpu = process.cpuUsage(cpu0);
  if (sink < 0) console.log(sink);
  return {
    packets: reader.stats.packets,
    bytes,
    sessions,
    httpSessions,
    flows: table.counters.flowsCreated,
    wallS: Number(process.hrtime.bigint() - started) / 1e9,
    cpuS: (cpu.user + cpu.system) / 1e6,
    maxActive,
  };
}

/** Runs a command; wall time, and its CPU time (user + system, from bash's `time`) so a busy machine skews the ratio less. */
function timed(cmd: string, args: string[]): { wallS: number; cpuS: number; stdout: string; ok: boolean; err: string } {
  const quoted = [cmd, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const t0 = process.hrtime.bigint();
  const r = spawnSync('bash', ['-c', `TIMEFORMAT='cpu %3U %3S'; time ${quoted}`], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const m = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr ?? '');
  return { wallS, cpuS: m ? Number(m[1]) + Number(m[2]) : NaN, stdout: r.stdout ?? '', ok: r.status === 0, err: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function main(): void {
  const args = process.argv.slice(2);
  if (args[0] === '--generate') {
    const n = generate(args[1], Number(args[2]));
    process.stdout.write(String(n));
    return;
  }
  const want = Number(args.find((a) => /^\d+$/.test(a)) ?? 1_200_000);
  const keep = args.includes('--keep');
  const file = path.join(os.tmpdir(), `metaflow-bench-pcap-${want}.pcap`);
  let packets: number;
  if (fs.existsSync(file) && keep) {
    packets = CaptureReader.readFile(file).stats.packets;
  } else {
    const g = spawnSync(process.execPath, [__filename, '--generate', file, String(want)], { encoding: 'utf8' });
    if (g.status !== 0) throw new Error(`generating the capture failed: ${g.stderr}`);
    packets = Number(g.stdout);
  }
  const size = fs.statSync(file).size;
  console.log(`capture: ${file}, ${fmt(packets)} packets, ${(size / 1048576).toFixed(0)} MiB (HTTP/1 70%, Redis 15%, opaque TCP 5%, DNS 10% of connections)`);
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, node ${process.version}`);

  // Warm-up on the file's first part is not needed: one full pass each, the first includes JIT.
  const a = ours(file, false);
  const rssAfterOurs = process.resourceUsage().maxRSS * 1024;
  const b = ours(file, true);
  const rssAfterSignals = process.resourceUsage().maxRSS * 1024;
  const c = ours(file, false, false);
  const tshark = timed('tshark', ['-r', file, '-T', 'fields', '-e', 'http.request.method', '-e', 'http.response.code']);
  const tcpdump = timed('tcpdump', ['-r', file, '-w', '/dev/null']);
  const tsharkRequests = tshark.stdout.split('\n').filter((l) => /^[A-Z]+\t/.test(l)).length;

  const pps = (p: number, s: number) => p / s;
  const gbps = (bytes: number, s: number) => (bytes * 8) / s / 1e9;
  console.log('');
  console.log(`ours: decode + flows + L4 metrics + reassembly + parsing (all ${PROTOCOLS.length} protocols), one thread`);
  console.log(`  ${fmt(pps(a.packets, a.wallS))} packets/s, ${gbps(a.bytes, a.wallS).toFixed(2)} Gbit/s (wall ${a.wallS.toFixed(2)} s, CPU ${a.cpuS.toFixed(2)} s: ${fmt(pps(a.packets, a.cpuS))} packets per CPU-second)`);
  console.log(`  ${fmt(a.sessions)} sessions (${fmt(a.httpSessions)} HTTP), ${fmt(a.flows)} flows, at most ${fmt(a.maxActive)} flows at once (bound 65,536; reassembly bound 64 MiB)`);
  console.log(`  peak RSS ${(rssAfterOurs / 1048576).toFixed(0)} MiB`);
  console.log(`ours + OTel signals (spans, flow logs, network metrics built as the receiver hands them on)`);
  console.log(`  ${fmt(pps(b.packets, b.wallS))} packets/s, ${gbps(b.bytes, b.wallS).toFixed(2)} Gbit/s (wall ${b.wallS.toFixed(2)} s, CPU ${b.cpuS.toFixed(2)} s), peak RSS ${(rssAfterSignals / 1048576).toFixed(0)} MiB`);
  console.log(`ours without L7 (decode + flows + L4 metrics only: where the time goes)`);
  console.log(`  ${fmt(pps(c.packets, c.wallS))} packets/s, ${gbps(c.bytes, c.wallS).toFixed(2)} Gbit/s (wall ${c.wallS.toFixed(2)} s, CPU ${c.cpuS.toFixed(2)} s: ${fmt(pps(c.packets, c.cpuS))} packets per CPU-second)`);
  console.log(`tshark -T fields -e http.request.method -e http.response.code: ${tshark.ok ? '' : `FAILED (${tshark.err.trim().slice(0, 200)}) `}wall ${tshark.wallS.toFixed(2)} s (${fmt(pps(packets, tshark.wallS))} packets/s), CPU ${tshark.cpuS.toFixed(2)} s (${fmt(pps(packets, tshark.cpuS))} packets per CPU-second), ${fmt(tsharkRequests)} HTTP requests`);
  console.log(`tcpdump -r -w /dev/null (read ceiling): ${tcpdump.ok ? '' : 'FAILED '}wall ${tcpdump.wallS.toFixed(2)} s (${fmt(pps(packets, tcpdump.wallS))} packets/s), CPU ${tcpdump.cpuS.toFixed(2)} s (${fmt(pps(packets, tcpdump.cpuS))} packets per CPU-second)`);
  console.log('');
  console.log(`ratio ours / tshark: ${(tshark.wallS / a.wallS).toFixed(1)}× by wall time, ${(tshark.cpuS / a.cpuS).toFixed(1)}× by CPU time (aim ≥ ${TARGET_TSHARK_RATIO}×)`);
  console.log(`ratio ours / tcpdump read: ${(tcpdump.wallS / a.wallS).toFixed(2)}× by wall time, ${(tcpdump.cpuS / a.cpuS).toFixed(2)}× by CPU time`);
  console.log(`ours vs the per-core aim: ${(pps(a.packets, a.cpuS) / TARGET_PPS).toFixed(2)}× of ${fmt(TARGET_PPS)} packets/s per core`);
  console.log(`HTTP requests: ours ${fmt(a.httpSessions)}, tshark ${fmt(tsharkRequests)}${a.httpSessions === tsharkRequests ? ' (equal)' : ' (DIFFER)'}`);
  if (!keep) fs.rmSync(file, { force: true });
}

main();
