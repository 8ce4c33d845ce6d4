/**
 * Throughput of the Kafka, Dubbo, MongoDB, AMQP and TLS parsers on one core,
 * against tshark on the same captures.
 *
 * Run: `npx tsc -p . && node dist/bench/protocols-mq.js [seconds]`
 *
 * Workloads, per protocol:
 * - the DeepFlow conformance captures (../shared/conformance/deepflow/
 *   flow_generator/{kafka,dubbo,mongo,amqp}; there are no TLS ones), all of
 *   a protocol's files together;
 * - a synthetic capture written to a temporary folder, large enough for a
 *   steady-state figure: Kafka Produce v3 with record headers and Fetch v4
 *   with 4 KB of records; Dubbo Hessian2 calls with attachments; MongoDB
 *   OP_MSG find/insert with replies; AMQP publishes with trace headers and
 *   deliveries; TLS 1.2 handshakes with a certificate, then 16 KB of
 *   application data each way.
 *
 * Each capture is replayed once through replayPcap with recording specs,
 * which keeps the exact chunks (and flags) every connection's parser gets.
 * The timed loop then feeds those chunks from memory to fresh parsers —
 * packet decoding and TCP reassembly are not measured — for the given
 * duration (default 3 s per workload), and prints sessions/s and MB/s of L7
 * payload. The baseline is `tshark -r FILE -T fields -e <field>` on the same
 * file (wall time including start-up, which dominates the tiny conformance
 * files; its time on an empty capture is printed), and the ratio of our MB/s
 * to tshark's. tshark has no Dubbo dissector: its Dubbo figure is `tcp.len`,
 * i.e. TCP only.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BSON, Long } from 'bson';
import { spec as amqpSpec } from '../protocols/amqp';
import { spec as dubboSpec } from '../protocols/dubbo';
import { spec as kafkaSpec } from '../protocols/kafka';
import { spec as mongoSpec } from '../protocols/mongo';
import { spec as tlsSpec } from '../protocols/tls';
import { replayPcap } from '../protocols/testing/replay';
import { buildPacket, writePcap, type WrittenPacket } from '../protocols/testing/pcap-writer';
import type { ConnectionParser, Dir, FeedFlags, L7Session, ParserContext, ProtocolSpec } from '../protocols/types';
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

/** Replays captures once, keeping every chunk each connection's parser gets. */
function record(files: string[], spec: ProtocolSpec): Recorded[] {
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
  for (const f of files) replayPcap(f, [recording]);
  return out;
}

/** Feeds recorded connections to fresh parsers for `seconds`. */
function measure(conns: Recorded[], seconds: number): { sessionsPerSec: number; mbPerSec: number; sessionsPerPass: number; bytesPerPass: number } {
  let sessions = 0;
  const ctx: ParserContext = {
    options: DEFAULT_PARSER_OPTIONS,
    emit: (_s: L7Session) => {
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

/** Wall time of `tshark -T fields -e field` over `files` (best of three), and how many values it printed. */
function tshark(files: string[], field: string, decodeAs: string[]): { seconds: number; values: number } {
  let best = Infinity;
  let values = 0;
  for (let i = 0; i < 3; i++) {
    let t = 0;
    let v = 0;
    for (const file of files) {
      const args = ['-r', file, '-n', '-T', 'fields', '-E', 'occurrence=a', '-e', field];
      for (const d of decodeAs) args.push('-d', d);
      const t0 = process.hrtime.bigint();
      const r = spawnSync('tshark', args, { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 30 });
      t += Number(process.hrtime.bigint() - t0) / 1e9;
      if (r.status !== 0) throw new Error(`tshark failed on ${file}`);
      v += r.stdout.toString().split(/[\t\n,]/).filter((x) => x !== '').length;
    }
    best = Math.min(best, t);
    values = v;
  }
  return { seconds: best, values };
}

// ---- synthetic captures -------------------------------------------------------

type Conversation = Array<[Dir, Uint8Array]>;

/** Writes TCP conversations as a pcap: handshake, MSS-sized segments, FIN. */
function writeConversations(file: string, serverPort: number, convs: Conversation[]): void {
  const packets: WrittenPacket[] = [];
  let t = 1_700_000_000_000_000_000n;
  convs.forEach((steps, i) => {
    const client = `10.3.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    const server = '10.4.0.1';
    const cport = 40000 + i;
    const seq = [7000, 9000];
    const pkt = (dir: Dir, flags: string, payload?: Uint8Array) => {
      t += 15_000n;
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
      packets.push({ tsNs: t, data });
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

/** Big-endian byte builder for the synthetic messages. */
class B {
  private a: number[] = [];
  u8(v: number): this {
    this.a.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v >> 8).u8(v);
  }
  u32(v: number): this {
    return this.u16(v >>> 16).u16(v & 0xffff);
  }
  u64(v: number): this {
    return this.u32(Math.floor(v / 2 ** 32)).u32(v >>> 0);
  }
  varint(v: number): this {
    let z = v >= 0 ? v * 2 : -v * 2 - 1;
    while (z >= 0x80) {
      this.a.push((z & 0x7f) | 0x80);
      z = Math.floor(z / 128);
    }
    return this.u8(z);
  }
  bytes(d: Uint8Array | number[] | string): this {
    for (const x of typeof d === 'string' ? Buffer.from(d) : d) this.a.push(x);
    return this;
  }
  str16(s: string): this {
    return this.u16(Buffer.byteLength(s)).bytes(s);
  }
  get out(): Uint8Array {
    return Uint8Array.from(this.a);
  }
}

const sized = (body: Uint8Array) => new B().u32(body.length).bytes(body).out;
const tp = (n: number) => `00-${n.toString(16).padStart(32, '0')}-00f067aa0ba902b7-01`;

function kafkaConversations(connections: number, perConn: number): Conversation[] {
  const convs: Conversation[] = [];
  const value = 'v'.repeat(400);
  for (let c = 0; c < connections; c++) {
    const steps: Conversation = [];
    for (let i = 0; i < perConn; i++) {
      const n = c * perConn + i;
      const topic = `orders-${n % 8}`;
      if (i % 2 === 0) {
        const rec = new B().u8(0).varint(0).varint(0).varint(-1).varint(value.length).bytes(value).varint(1).varint(11).bytes('traceparent').varint(55).bytes(tp(n)).out;
        const records = new B().varint(rec.length).bytes(rec).out;
        const after = new B().u32(0).u8(2).u32(0).u16(0).u32(0).u64(0).u64(0).u32(0xffffffff).u32(0xffffffff).u16(0xffff).u32(0xffffffff).u32(1).bytes(records).out;
        const batch = new B().u64(0).u32(after.length).bytes(after).out;
        steps.push([0, sized(new B().u16(0).u16(3).u32(n).str16('producer-1').u16(0xffff).u16(1).u32(30000).u32(1).str16(topic).u32(1).u32(n % 3).u32(batch.length).bytes(batch).out)]);
        steps.push([1, sized(new B().u32(n).u32(1).str16(topic).u32(1).u32(n % 3).u16(0).u64(n).u64(0xffffffff).u32(0).out)]);
      } else {
        steps.push([0, sized(new B().u16(1).u16(4).u32(n).str16('consumer-1').u32(0xffffffff).u32(500).u32(1).u32(1 << 20).u8(0).u32(1).str16(topic).u32(1).u32(n % 3).u64(n).u32(1 << 20).out)]);
        const records = new Uint8Array(4096).fill(1);
        steps.push([1, sized(new B().u32(n).u32(0).u32(1).str16(topic).u32(1).u32(n % 3).u16(0).u64(n).u64(n).u32(0).u32(records.length).bytes(records).out)]);
      }
    }
    convs.push(steps);
  }
  return convs;
}

/** Hessian2 short or medium string. */
function hs(b: B, s: string): B {
  const d = Buffer.from(s);
  if (s.length < 32) b.u8(s.length);
  else b.u8(0x30 + (s.length >> 8)).u8(s.length & 0xff);
  return b.bytes(d);
}

function dubboFrame(flags: number, status: number, id: number, body: Uint8Array): Uint8Array {
  return new B().u16(0xdabb).u8(flags).u8(status).u64(id).u32(body.length).bytes(body).out;
}

function dubboConversations(connections: number, perConn: number): Conversation[] {
  const convs: Conversation[] = [];
  for (let c = 0; c < connections; c++) {
    const steps: Conversation = [];
    for (let i = 0; i < perConn; i++) {
      const n = c * perConn + i;
      const b = new B();
      for (const s of ['2.0.2', `com.example.Service${n % 10}`, '1.0.0', 'findOrders', 'Ljava/lang/String;I']) hs(b, s);
      hs(b, `customer-${n}`).u8(0x49).u32(n);
      b.u8(0x48);
      for (const [k, v] of [['path', `com.example.Service${n % 10}`], ['traceparent', tp(n)], ['interface', `com.example.Service${n % 10}`], ['version', '1.0.0'], ['timeout', '3000']]) hs(hs(b, k), v);
      b.u8(0x5a);
      steps.push([0, dubboFrame(0xc2, 0, n, b.out)]);
      const r = new B().u8(0x91);
      hs(r, 'x'.repeat(600));
      steps.push([1, dubboFrame(0x02, 20, n, r.out)]);
    }
    convs.push(steps);
  }
  return convs;
}

function mongoMsg(requestId: number, responseTo: number, doc: Record<string, unknown>): Uint8Array {
  const d = BSON.serialize(doc);
  const len = 16 + 4 + 1 + d.length;
  const h = Buffer.alloc(21);
  h.writeInt32LE(len, 0);
  h.writeInt32LE(requestId, 4);
  h.writeInt32LE(responseTo, 8);
  h.writeInt32LE(2013, 12);
  h.writeInt32LE(0, 16);
  h.writeUInt8(0, 20);
  return Buffer.concat([h, d]);
}

function mongoConversations(connections: number, perConn: number): Conversation[] {
  const convs: Conversation[] = [];
  for (let c = 0; c < connections; c++) {
    const steps: Conversation = [];
    for (let i = 0; i < perConn; i++) {
      const n = c * perConn + i;
      if (i % 2 === 0) {
        steps.push([0, mongoMsg(n, 0, { find: `users${n % 5}`, filter: { age: { $gt: n % 90 }, city: 'Berlin' }, limit: 20, lsid: { id: n }, $db: 'shop' })]);
        steps.push([1, mongoMsg(100000 + n, n, { cursor: { firstBatch: Array.from({ length: 10 }, (_, k) => ({ _id: k, name: `user-${k}`, age: 30 + k })), id: Long.ZERO, ns: 'shop.users' }, ok: 1 })]);
      } else {
        steps.push([0, mongoMsg(n, 0, { insert: 'orders', documents: [{ item: n, qty: 2, note: 'x'.repeat(100) }], ordered: true, $db: 'shop' })]);
        steps.push([1, mongoMsg(100000 + n, n, { n: 1, ok: 1 })]);
      }
    }
    convs.push(steps);
  }
  return convs;
}

function amqpFrame(type: number, channel: number, payload: Uint8Array): Uint8Array {
  return new B().u8(type).u16(channel).u32(payload.length).bytes(payload).u8(0xce).out;
}
const shortstr = (b: B, s: string) => b.u8(Buffer.byteLength(s)).bytes(s);

function amqpConversations(connections: number, perConn: number): Conversation[] {
  const convs: Conversation[] = [];
  for (let c = 0; c < connections; c++) {
    const steps: Conversation = [[0, Buffer.from('AMQP\x00\x00\x09\x01', 'latin1')]];
    steps.push([1, amqpFrame(1, 0, new B().u16(10).u16(10).u8(0).u8(9).u32(0).u32(5).bytes('PLAIN').u32(5).bytes('en_US').out)]);
    steps.push([0, amqpFrame(1, 0, shortstr(new B().u16(10).u16(11).u32(0), 'PLAIN').u32(12).bytes('\0guest\0guest').u8(5).bytes('en_US').out)]);
    steps.push([0, amqpFrame(1, 0, shortstr(new B().u16(10).u16(40), '/').u8(0).u8(0).out)]);
    steps.push([1, amqpFrame(1, 0, new B().u16(10).u16(41).u8(0).out)]);
    steps.push([0, amqpFrame(1, 1, new B().u16(20).u16(10).u8(0).out)]);
    steps.push([1, amqpFrame(1, 1, new B().u16(20).u16(11).u32(0).out)]);
    for (let i = 0; i < perConn; i++) {
      const n = c * perConn + i;
      const headers = new B();
      shortstr(headers, 'traceparent').u8(0x53).u32(55).bytes(tp(n));
      const h = headers.out;
      const body = 'm'.repeat(300);
      const props = shortstr(new B().u16(60).u16(0).u64(body.length).u16(0xa000), 'application/json').u32(h.length).bytes(h).out;
      const dir: Dir = i % 2 === 0 ? 0 : 1;
      const m =
        dir === 0
          ? shortstr(shortstr(new B().u16(60).u16(40).u16(0), 'orders'), `eu.${n % 4}`).u8(0).out
          : shortstr(shortstr(shortstr(new B().u16(60).u16(60), 'ctag').u64(n).u8(0), 'orders'), `eu.${n % 4}`).out;
      steps.push([dir, Buffer.concat([amqpFrame(1, 1, m), amqpFrame(2, 1, props), amqpFrame(3, 1, Buffer.from(body))])]);
    }
    convs.push(steps);
  }
  return convs;
}

function tlsRecord(type: number, payload: Uint8Array): Uint8Array {
  return new B().u8(type).u16(0x0303).u16(payload.length).bytes(payload).out;
}
const handshake = (type: number, body: Uint8Array) => new B().u8(type).u8(body.length >> 16).u16(body.length & 0xffff).bytes(body).out;

function tlsConversations(connections: number, cert: Uint8Array): Conversation[] {
  const convs: Conversation[] = [];
  for (let c = 0; c < connections; c++) {
    const sni = `api${c % 20}.example.com`;
    const ext = new B().u16(0).u16(sni.length + 5).u16(sni.length + 3).u8(0).str16(sni).u16(16).u16(14).u16(12).u8(2).bytes('h2').u8(8).bytes('http/1.1').u16(43).u16(5).u8(4).u16(0x0304).u16(0x0303).out;
    const ch = new B().u16(0x0303).bytes(new Uint8Array(32)).u8(32).bytes(new Uint8Array(32)).u16(8).u16(0x1301).u16(0x1302).u16(0xc02f).u16(0xc030).u8(1).u8(0).u16(ext.length).bytes(ext).out;
    const sh = new B().u16(0x0303).bytes(new Uint8Array(32).fill(5)).u8(32).bytes(new Uint8Array(32)).u16(0xc02f).u8(0).u16(9).u16(16).u16(5).u16(3).u8(2).bytes('h2').out;
    const certMsg = new B().u8(0).u16(cert.length + 3).u8(0).u16(cert.length).bytes(cert).out;
    const flight = Buffer.concat([handshake(2, sh), handshake(11, certMsg), handshake(12, new Uint8Array(300)), handshake(14, new Uint8Array(0))]);
    const steps: Conversation = [
      [0, tlsRecord(22, handshake(1, ch))],
      [1, tlsRecord(22, flight)],
      [0, Buffer.concat([tlsRecord(22, handshake(16, new Uint8Array(66))), tlsRecord(20, Uint8Array.of(1)), tlsRecord(22, new Uint8Array(40))])],
      [1, Buffer.concat([tlsRecord(20, Uint8Array.of(1)), tlsRecord(22, new Uint8Array(40))])],
      [0, tlsRecord(23, new Uint8Array(16000))],
      [1, tlsRecord(23, new Uint8Array(16000))],
    ];
    convs.push(steps);
  }
  return convs;
}

// ---- run -----------------------------------------------------------------------

interface Workload {
  protocol: string;
  label: string;
  files: string[];
  spec: ProtocolSpec;
  field: string;
  decodeAs: string[];
}

function main(): void {
  const seconds = Number(process.argv[2] ?? 3);
  const flows = path.resolve(__dirname, '../../../shared/conformance/deepflow/flow_generator');
  const conf = (dir: string) => (fs.existsSync(path.join(flows, dir)) ? fs.readdirSync(path.join(flows, dir)).filter((f) => f.endsWith('.pcap')).map((f) => path.join(flows, dir, f)) : []);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-bench-mq-'));
  try {
    const synth = (name: string, port: number, convs: Conversation[]) => {
      const f = path.join(tmp, name);
      writeConversations(f, port, convs);
      return [f];
    };
    const keyDir = fs.mkdtempSync(path.join(tmp, 'cert-'));
    spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=api.example.com', '-keyout', path.join(keyDir, 'k.pem'), '-out', path.join(keyDir, 'c.pem')], { stdio: 'ignore' });
    const cert = new Uint8Array(spawnSync('openssl', ['x509', '-in', path.join(keyDir, 'c.pem'), '-outform', 'DER']).stdout);
    const workloads: Workload[] = [
      { protocol: 'Kafka', label: 'conformance (9 files)', files: conf('kafka'), spec: kafkaSpec, field: 'kafka.api_key', decodeAs: ['tcp.port==36333,kafka'] },
      { protocol: 'Kafka', label: 'synthetic produce/fetch', files: synth('kafka.pcap', 9092, kafkaConversations(20, 200)), spec: kafkaSpec, field: 'kafka.api_key', decodeAs: [] },
      { protocol: 'Dubbo', label: 'conformance (3 files)', files: conf('dubbo'), spec: dubboSpec, field: 'tcp.len', decodeAs: [] },
      { protocol: 'Dubbo', label: 'synthetic hessian2 calls', files: synth('dubbo.pcap', 20880, dubboConversations(20, 200)), spec: dubboSpec, field: 'tcp.len', decodeAs: [] },
      { protocol: 'MongoDB', label: 'conformance (1 file)', files: conf('mongo'), spec: mongoSpec, field: 'mongo.opcode', decodeAs: ['tcp.port==27017,mongo'] },
      { protocol: 'MongoDB', label: 'synthetic find/insert', files: synth('mongo.pcap', 27017, mongoConversations(20, 200)), spec: mongoSpec, field: 'mongo.opcode', decodeAs: ['tcp.port==27017,mongo'] },
      { protocol: 'AMQP', label: 'conformance (3 files)', files: conf('amqp'), spec: amqpSpec, field: 'amqp.method.method', decodeAs: [] },
      { protocol: 'AMQP', label: 'synthetic publish/deliver', files: synth('amqp.pcap', 5672, amqpConversations(10, 400)), spec: amqpSpec, field: 'amqp.method.method', decodeAs: [] },
      { protocol: 'TLS', label: 'synthetic TLS 1.2 handshakes + 32 KB data', files: synth('tls.pcap', 443, tlsConversations(300, cert)), spec: tlsSpec, field: 'tls.handshake.type', decodeAs: [] },
    ];
    const empty = path.join(tmp, 'empty.pcap');
    writePcap(empty, []);
    const startup = tshark([empty], 'frame.number', []).seconds;
    console.log(`protocols-mq: ${seconds} s per workload, one core; tshark start-up on an empty capture: ${(startup * 1000).toFixed(0)} ms`);
    console.log('protocol | workload | sessions/pass | MB/pass | sessions/s | MB/s | tshark s (values) | tshark MB/s | ours/tshark | ours/tshark without its start-up');
    for (const w of workloads) {
      if (w.files.length === 0) continue;
      const conns = record(w.files, w.spec);
      const m = measure(conns, seconds);
      const t = tshark(w.files, w.field, w.decodeAs);
      const theirs = m.bytesPerPass / t.seconds / 1e6;
      // tshark starts once per file; what is left is its decoding time.
      const decoding = t.seconds - startup * w.files.length;
      // Below a quarter of its wall time, what is left is start-up noise.
      const net = decoding > Math.max(0.05, t.seconds / 4) ? `${(m.mbPerSec / (m.bytesPerPass / decoding / 1e6)).toFixed(0)}×` : 'start-up bound';
      console.log(
        `${w.protocol} | ${w.label} | ${m.sessionsPerPass.toFixed(0)} | ${(m.bytesPerPass / 1e6).toFixed(2)} | ${Math.round(m.sessionsPerSec).toLocaleString('en')} | ${m.mbPerSec.toFixed(1)} | ${t.seconds.toFixed(2)} (${t.values}) | ${theirs.toFixed(2)} | ${(m.mbPerSec / theirs).toFixed(0)}× | ${net}`,
      );
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main();
