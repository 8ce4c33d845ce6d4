/**
 * Throughput of the DNS, Redis, Memcached, MQTT and NATS parsers on one core,
 * against tshark on the same captures.
 *
 * Run: `npx tsc -p . && node dist/bench/protocols-kv.js [seconds]`
 *
 * Workloads, per protocol:
 * - the DeepFlow conformance captures (../shared/conformance/deepflow/
 *   flow_generator/<protocol>);
 * - a synthetic capture written to a temporary folder, large enough for
 *   steady-state figures: DNS over UDP (A/AAAA/CNAME answers), Redis with
 *   pipelined commands, memcached set/get with values, MQTT QoS 1 publishes
 *   with their acks, NATS publishes and deliveries.
 *
 * Each capture is replayed once through replayPcap with recording specs,
 * which keeps the exact chunks (and flags) every connection's parser gets.
 * The timed loop feeds those chunks from memory to fresh parsers — packet
 * decoding and reassembly are not measured — for the given duration
 * (default 3 s per workload) and prints sessions/s and MB/s of L7 payload.
 * The baseline is `tshark -r FILE -T fields -e <field>` on the same file
 * (wall time, best of three, start-up included: its time on an empty capture
 * is printed too), and the ratio of our MB/s to tshark's. tshark 4.0 has no
 * NATS dissector: for NATS it dissects TCP only (`-e tcp.len`), which the
 * output says.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spec as dnsSpec } from '../protocols/dns';
import { spec as memcachedSpec } from '../protocols/memcached';
import { spec as mqttSpec } from '../protocols/mqtt';
import { spec as natsSpec } from '../protocols/nats';
import { spec as redisSpec } from '../protocols/redis';
import { buildPacket, writePcap, type WrittenPacket } from '../protocols/testing/pcap-writer';
import { replayPcap } from '../protocols/testing/replay';
import type { ConnectionParser, Dir, FeedFlags, ParserContext, ProtocolSpec } from '../protocols/types';
import { DEFAULT_PARSER_OPTIONS } from '../protocols/types';

interface Chunk {
  dir: Dir;
  data: Uint8Array;
  time: bigint;
  flags: FeedFlags;
}

interface Recorded {
  spec: ProtocolSpec;
  chunks: Chunk[];
  closeAt: bigint;
}

/** Replays a capture once with `spec`, keeping every chunk each connection's parser gets. */
function record(file: string, spec: ProtocolSpec): Recorded[] {
  const out: Recorded[] = [];
  const recording: ProtocolSpec = {
    name: spec.name,
    transport: spec.transport,
    ports: spec.ports,
    infer: (d, dir, port) => spec.infer(d, dir, port),
    create(ctx: ParserContext): ConnectionParser {
      const inner = spec.create(ctx);
      const rec: Recorded = { spec, chunks: [], closeAt: 0n };
      out.push(rec);
      return {
        feed(dir, data, time, flags) {
          rec.chunks.push({ dir, data: Uint8Array.from(data), time, flags: { ...flags } });
          inner.feed(dir, data, time, flags);
        },
        expire: (now) => inner.expire(now),
        close(now) {
          rec.closeAt = now;
          inner.close(now);
        },
      };
    },
  };
  replayPcap(file, [recording]);
  return out;
}

interface Measured {
  sessionsPerSec: number;
  mbPerSec: number;
  sessionsPerPass: number;
  bytesPerPass: number;
}

/** Feeds recorded connections to fresh parsers for `seconds`. */
function measure(conns: Recorded[], seconds: number): Measured {
  let sessions = 0;
  const ctx: ParserContext = {
    options: DEFAULT_PARSER_OPTIONS,
    emit: () => {
      sessions++;
    },
    malformed: () => undefined,
  };
  let bytesPerPass = 0;
  for (const c of conns) for (const ch of c.chunks) bytesPerPass += ch.data.length;
  const pass = () => {
    for (const c of conns) {
      const p = c.spec.create(ctx);
      for (const ch of c.chunks) p.feed(ch.dir, ch.data, ch.time, ch.flags);
      p.close(c.closeAt);
    }
  };
  const warm = Date.now();
  while (Date.now() - warm < 300) pass();
  sessions = 0;
  let passes = 0;
  const start = process.hrtime.bigint();
  const limit = BigInt(Math.round(seconds * 1e9));
  let elapsed = 0n;
  while (elapsed < limit) {
    pass();
    passes++;
    elapsed = process.hrtime.bigint() - start;
  }
  const secs = Number(elapsed) / 1e9;
  return { sessionsPerSec: sessions / secs, mbPerSec: (bytesPerPass * passes) / secs / 1e6, sessionsPerPass: sessions / passes, bytesPerPass };
}

/** Wall time of `tshark -r file -T fields -e field…`, best of three, and the values it printed. */
function tshark(file: string, fields: string[], decodeAs: string[] = []): { seconds: number; values: number } {
  let best = Infinity;
  let values = 0;
  for (let i = 0; i < 3; i++) {
    const args = ['-r', file, '-n', '-T', 'fields', '-E', 'occurrence=a'];
    for (const f of fields) args.push('-e', f);
    for (const d of decodeAs) args.push('-d', d);
    const t0 = process.hrtime.bigint();
    const r = spawnSync('tshark', args, { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 30 });
    const t = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`tshark failed on ${file}`);
    best = Math.min(best, t);
    values = r.stdout.toString().split(/[\t\n,]/).filter((v) => v !== '').length;
  }
  return { seconds: best, values };
}

// ---- synthetic captures -----------------------------------------------------

let clock = 1_700_000_000_000_000_000n;
const tick = () => (clock += 20_000n);

/** TCP conversations (payload steps per connection) with handshakes and 1448-byte segments. */
function writeTcp(file: string, serverPort: number, convs: Array<Array<[Dir, Uint8Array]>>): void {
  const packets: WrittenPacket[] = [];
  convs.forEach((steps, i) => {
    const client = `10.1.${(i >> 8) & 255}.${(i & 255) + 1}`;
    const server = '10.2.0.1';
    const cport = 30000 + i;
    const seq = [1000, 5000];
    const pkt = (dir: Dir, flags: string, payload?: Uint8Array) => {
      const data = buildPacket({
        src: dir === 0 ? client : server,
        dst: dir === 0 ? server : client,
        protocol: 'tcp',
        sport: dir === 0 ? cport : serverPort,
        dport: dir === 0 ? serverPort : cport,
        seq: seq[dir],
        ack: seq[1 - dir],
        flags,
        payload,
      });
      packets.push({ tsNs: tick(), data });
    };
    pkt(0, 'S');
    seq[0]++;
    pkt(1, 'SA');
    seq[1]++;
    pkt(0, 'A');
    for (const [dir, data] of steps) {
      for (let o = 0; o < data.length; o += 1448) {
        const seg = data.subarray(o, Math.min(data.length, o + 1448));
        pkt(dir, 'PA', seg);
        seq[dir] += seg.length;
      }
    }
    pkt(0, 'FA');
    seq[0]++;
    pkt(1, 'FA');
    seq[1]++;
    pkt(0, 'A');
  });
  writePcap(file, packets);
}

function dnsName(name: string): number[] {
  const out: number[] = [];
  for (const l of name.split('.')) out.push(l.length, ...Buffer.from(l));
  out.push(0);
  return out;
}

/** 10,000 UDP queries with answers: A, AAAA and CNAME → A, from 100 client ports. */
function writeDns(file: string): void {
  const packets: WrittenPacket[] = [];
  for (let i = 0; i < 10_000; i++) {
    const id = i & 0xffff;
    const kind = i % 3;
    const qname = dnsName(`svc-${i % 500}.ns-${i % 7}.svc.cluster.local`);
    const qtype = kind === 1 ? 28 : 1;
    const q = [id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...qname, 0, qtype, 0, 1];
    let answers: number[];
    let an = 1;
    if (kind === 0) answers = [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 0, i & 255, (i >> 8) & 255];
    else if (kind === 1) answers = [0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 30, 0, 16, 0xfd, 0, ...new Array<number>(13).fill(0), i & 255];
    else {
      const target = dnsName(`edge-${i % 9}.cdn.example.net`);
      answers = [0xc0, 12, 0, 5, 0, 1, 0, 0, 1, 44, 0, target.length, ...target, 0xc0, 12 + qname.length + 4 + 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 93, 184, 216, i & 255];
      an = 2;
    }
    const r = [id >> 8, id & 255, 0x81, 0x80, 0, 1, 0, an, 0, 0, 0, 0, ...qname, 0, qtype, 0, 1, ...answers];
    const cport = 40000 + (i % 100);
    packets.push({ tsNs: tick(), data: buildPacket({ src: '10.1.0.5', dst: '10.96.0.10', protocol: 'udp', sport: cport, dport: 53, payload: Uint8Array.from(q) }) });
    packets.push({ tsNs: tick(), data: buildPacket({ src: '10.96.0.10', dst: '10.1.0.5', protocol: 'udp', sport: 53, dport: cport, payload: Uint8Array.from(r) }) });
  }
  writePcap(file, packets);
}

const B = (s: string) => Buffer.from(s);
const resp = (...a: string[]) => `*${a.length}\r\n` + a.map((x) => `$${Buffer.byteLength(x)}\r\n${x}\r\n`).join('');

/** 20 connections × 1,000 Redis commands, pipelined 50 at a time (SET, GET, HGETALL, INCR). */
function redisConversations(): Array<Array<[Dir, Uint8Array]>> {
  const convs: Array<Array<[Dir, Uint8Array]>> = [];
  for (let c = 0; c < 20; c++) {
    const steps: Array<[Dir, Uint8Array]> = [];
    for (let b = 0; b < 20; b++) {
      let req = '';
      let rep = '';
      for (let i = 0; i < 50; i++) {
        const n = c * 1000 + b * 50 + i;
        switch (n % 4) {
          case 0:
            req += resp('SET', `session:${n}`, 'v'.repeat(100), 'EX', '3600');
            rep += '+OK\r\n';
            break;
          case 1:
            req += resp('GET', `session:${n - 1}`);
            rep += `$100\r\n${'v'.repeat(100)}\r\n`;
            break;
          case 2:
            req += resp('HGETALL', `user:${n % 100}`);
            rep += '*4\r\n$4\r\nname\r\n$5\r\nalice\r\n$3\r\nage\r\n$2\r\n42\r\n';
            break;
          default:
            req += resp('INCR', `hits:${n % 10}`);
            rep += `:${n}\r\n`;
        }
      }
      steps.push([0, B(req)], [1, B(rep)]);
    }
    convs.push(steps);
  }
  return convs;
}

/** 20 connections × 500 set + get pairs with 200-byte values. */
function memcachedConversations(): Array<Array<[Dir, Uint8Array]>> {
  const value = 'm'.repeat(200);
  const convs: Array<Array<[Dir, Uint8Array]>> = [];
  for (let c = 0; c < 20; c++) {
    const steps: Array<[Dir, Uint8Array]> = [];
    for (let i = 0; i < 500; i++) {
      const key = `item:${c}:${i}`;
      steps.push([0, B(`set ${key} 0 300 ${value.length}\r\n${value}\r\n`)], [1, B('STORED\r\n')]);
      steps.push([0, B(`get ${key}\r\n`)], [1, B(`VALUE ${key} 0 ${value.length}\r\n${value}\r\nEND\r\n`)]);
    }
    convs.push(steps);
  }
  return convs;
}

function mqttPacket(first: number, body: number[]): Uint8Array {
  const len: number[] = [];
  let n = body.length;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    len.push(b);
  } while (n);
  return Uint8Array.from([first, ...len, ...body]);
}
const mstr = (s: string) => [s.length >> 8, s.length & 255, ...Buffer.from(s)];

/** 20 connections: CONNECT, then 1,000 QoS 1 PUBLISH (100-byte payloads) with PUBACK. */
function mqttConversations(): Array<Array<[Dir, Uint8Array]>> {
  const convs: Array<Array<[Dir, Uint8Array]>> = [];
  for (let c = 0; c < 20; c++) {
    const steps: Array<[Dir, Uint8Array]> = [
      [0, mqttPacket(0x10, [...mstr('MQTT'), 4, 2, 0, 60, ...mstr(`sensor-${c}`)])],
      [1, mqttPacket(0x20, [0, 0])],
    ];
    for (let i = 1; i <= 1000; i++) {
      steps.push([0, mqttPacket(0x32, [...mstr(`plant/${c}/line/${i % 8}/temp`), i >> 8, i & 255, ...Buffer.alloc(100, 0x31)])]);
      steps.push([1, mqttPacket(0x40, [i >> 8, i & 255])]);
    }
    convs.push(steps);
  }
  return convs;
}

/** 20 connections: INFO/CONNECT, then 1,000 PUB (100-byte payloads) each echoed back as MSG. */
function natsConversations(): Array<Array<[Dir, Uint8Array]>> {
  const convs: Array<Array<[Dir, Uint8Array]>> = [];
  const payload = 'n'.repeat(100);
  for (let c = 0; c < 20; c++) {
    const steps: Array<[Dir, Uint8Array]> = [
      [1, B('INFO {"server_id":"NBENCH","server_name":"bench","version":"2.10.7","go":"go1.21","host":"0.0.0.0","port":4222,"headers":true,"max_payload":1048576,"proto":1}\r\n')],
      [0, B('CONNECT {"verbose":false,"pedantic":false,"name":"bench","lang":"go","version":"1.31.0","protocol":1,"headers":true}\r\nSUB orders.> 1\r\n')],
    ];
    for (let i = 0; i < 1000; i++) {
      steps.push([0, B(`PUB orders.${c}.${i % 16} ${payload.length}\r\n${payload}\r\n`)]);
      steps.push([1, B(`MSG orders.${c}.${i % 16} 1 ${payload.length}\r\n${payload}\r\n`)]);
    }
    convs.push(steps);
  }
  return convs;
}

// ---- main -------------------------------------------------------------------

interface Workload {
  name: string;
  spec: ProtocolSpec;
  files: string[];
  fields: string[];
  decodeAs: string[];
}

function main(): void {
  const seconds = Number(process.argv[2] ?? 3);
  const rel = path.join('shared', 'conformance', 'deepflow', 'flow_generator');
  const near = path.resolve(__dirname, '..', '..', '..', rel);
  const root = fs.existsSync(near) ? near : path.resolve(process.cwd(), '..', rel);
  const conformance = (dir: string) =>
    fs
      .readdirSync(path.join(root, dir))
      .filter((f) => f.endsWith('.pcap'))
      .map((f) => path.join(root, dir, f));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-bench-kv-'));
  try {
    const file = (name: string) => path.join(tmp, name);
    writeDns(file('dns.pcap'));
    writeTcp(file('redis.pcap'), 6379, redisConversations());
    writeTcp(file('memcached.pcap'), 11211, memcachedConversations());
    writeTcp(file('mqtt.pcap'), 1883, mqttConversations());
    writeTcp(file('nats.pcap'), 4222, natsConversations());
    const natsNote = 'tcp.len (tshark has no NATS dissector)';
    const workloads: Workload[] = [
      { name: 'conformance DNS (4 captures)', spec: dnsSpec, files: conformance('dns'), fields: ['dns.qry.name'], decodeAs: [] },
      { name: 'synthetic DNS/UDP (10,000 queries)', spec: dnsSpec, files: [file('dns.pcap')], fields: ['dns.qry.name'], decodeAs: [] },
      { name: 'conformance Redis (2 captures)', spec: redisSpec, files: conformance('redis'), fields: ['resp.array.length'], decodeAs: ['tcp.port==6379,resp'] },
      { name: 'synthetic Redis pipelined (20,000 commands)', spec: redisSpec, files: [file('redis.pcap')], fields: ['resp.array.length'], decodeAs: ['tcp.port==6379,resp'] },
      { name: 'conformance Memcached (1 capture)', spec: memcachedSpec, files: conformance('memcached'), fields: ['memcache.command'], decodeAs: [] },
      { name: 'synthetic Memcached (20,000 commands)', spec: memcachedSpec, files: [file('memcached.pcap')], fields: ['memcache.command'], decodeAs: [] },
      { name: 'conformance MQTT (5 captures)', spec: mqttSpec, files: conformance('mqtt'), fields: ['mqtt.msgtype'], decodeAs: [] },
      { name: 'synthetic MQTT QoS 1 (20,000 publishes)', spec: mqttSpec, files: [file('mqtt.pcap')], fields: ['mqtt.topic'], decodeAs: [] },
      { name: 'conformance NATS (6 captures)', spec: natsSpec, files: conformance('nats'), fields: ['tcp.len'], decodeAs: [] },
      { name: 'synthetic NATS (40,000 operations)', spec: natsSpec, files: [file('nats.pcap')], fields: ['tcp.len'], decodeAs: [] },
    ];
    const empty = file('empty.pcap');
    writePcap(empty, []);
    console.log(`tshark start-up (empty capture): ${(tshark(empty, ['dns.qry.name']).seconds * 1000).toFixed(0)} ms`);
    console.log('workload | sessions/pass | L7 MB/pass | ours sessions/s | ours MB/s | tshark field | tshark s (values) | tshark MB/s | ours/tshark');
    for (const w of workloads) {
      const conns = w.files.flatMap((f) => record(f, w.spec));
      const m = measure(conns, seconds);
      let ts = 0;
      let values = 0;
      for (const f of w.files) {
        const r = tshark(f, w.fields, w.decodeAs);
        ts += r.seconds;
        values += r.values;
      }
      const tsMb = m.bytesPerPass / ts / 1e6;
      const field = w.fields[0] === 'tcp.len' ? natsNote : w.fields.join(',');
      console.log(
        `${w.name} | ${m.sessionsPerPass.toFixed(0)} | ${(m.bytesPerPass / 1e6).toFixed(3)} | ${m.sessionsPerSec.toFixed(0)} | ${m.mbPerSec.toFixed(1)} | ${field} | ${ts.toFixed(2)} (${values}) | ${tsMb.toFixed(2)} | ${(m.mbPerSec / tsMb).toFixed(0)}x`,
      );
    }
  } finally {
    // MF_BENCH_KEEP=1 keeps the synthetic captures (to look at them with tshark).
    if (process.env.MF_BENCH_KEEP) console.log(`captures kept in ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main();
