/**
 * Workloads of the Kafka, Dubbo, MongoDB, AMQP and TLS parsers for
 * `bench/protocols.ts` (the machinery is `bench/lib/protocol-bench.ts`).
 * Definitions only: run them with
 * `node dist/bench/protocols.js [seconds] Kafka,Dubbo,MongoDB,AMQP,TLS`.
 *
 * Per protocol:
 * - the DeepFlow conformance captures (flow_generator/{kafka,dubbo,mongo,
 *   amqp}; there are none for TLS);
 * - a synthetic capture large enough for a steady-state figure: Kafka
 *   Produce v3 with record headers and Fetch v4 with 4 KB of records; Dubbo
 *   Hessian2 calls with attachments; MongoDB OP_MSG find/insert with
 *   replies; AMQP publishes with trace headers and deliveries; TLS 1.2
 *   handshakes with a real certificate (made with openssl), then 16 KB of
 *   application data each way.
 *
 * tshark has no Dubbo dissector: its Dubbo figure is `tcp.len`, i.e. TCP
 * only, which the table's notes say.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BSON, Long } from 'bson';
import { spec as amqpSpec } from '../protocols/amqp';
import { spec as dubboSpec } from '../protocols/dubbo';
import { spec as kafkaSpec } from '../protocols/kafka';
import { spec as mongoSpec } from '../protocols/mongo';
import { spec as tlsSpec } from '../protocols/tls';
import type { Dir } from '../protocols/types';
import { printDefinitionsOnly, writeConversations, type Conversation, type ProtocolWorkload, type TsharkQuery } from './lib/protocol-bench';

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

/** A Kafka message: 32-bit size, then the body. */
const sized = (body: Uint8Array) => new B().u32(body.length).bytes(body).out;
/** A W3C traceparent with trace id `n`. */
const tp = (n: number) => `00-${n.toString(16).padStart(32, '0')}-00f067aa0ba902b7-01`;

/** Kafka connections, `perConn` requests each: Produce v3 (a 400-byte record with a traceparent header) and Fetch v4 (4 KB of records) in turn. */
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

/** A Dubbo frame: magic, flags, status, request id, body length, body. */
function dubboFrame(flags: number, status: number, id: number, body: Uint8Array): Uint8Array {
  return new B().u16(0xdabb).u8(flags).u8(status).u64(id).u32(body.length).bytes(body).out;
}

/** Dubbo connections, `perConn` Hessian2 calls each with five attachments (path, traceparent, …), answered with a 600-character string. */
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

/** An OP_MSG with one body section holding `doc`. */
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

/** MongoDB connections, `perConn` OP_MSG commands each: find with a 10-document batch and insert, in turn. */
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

/** An AMQP 0-9-1 frame: type, channel, size, payload, frame-end. */
function amqpFrame(type: number, channel: number, payload: Uint8Array): Uint8Array {
  return new B().u8(type).u16(channel).u32(payload.length).bytes(payload).u8(0xce).out;
}
/** An AMQP short string: 8-bit length, bytes. */
const shortstr = (b: B, s: string) => b.u8(Buffer.byteLength(s)).bytes(s);

/** AMQP connections: connection and channel set-up, then `perConn` messages of 300 bytes with a traceparent header, Basic.Publish and Basic.Deliver in turn. */
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

/** A TLS 1.2 record. */
function tlsRecord(type: number, payload: Uint8Array): Uint8Array {
  return new B().u8(type).u16(0x0303).u16(payload.length).bytes(payload).out;
}
/** A TLS handshake message: type, 24-bit length, body. */
const handshake = (type: number, body: Uint8Array) => new B().u8(type).u8(body.length >> 16).u16(body.length & 0xffff).bytes(body).out;

/** TLS connections: ClientHello (SNI, ALPN), the server's flight with `cert`, Finished both ways, then 16 KB of application data each way. */
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


/**
 * A self-signed RSA certificate (DER) made by openssl in `dir`, so the
 * Certificate message has a real X.509 body for both parsers to walk.
 */
function selfSignedCertificate(dir: string): Uint8Array {
  const keyDir = fs.mkdtempSync(path.join(dir, 'cert-'));
  try {
    const pem = path.join(keyDir, 'c.pem');
    spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=api.example.com', '-keyout', path.join(keyDir, 'k.pem'), '-out', pem], { stdio: 'ignore' });
    const der = spawnSync('openssl', ['x509', '-in', pem, '-outform', 'DER'], { stdio: ['ignore', 'pipe', 'ignore'] }).stdout;
    if (!der || der.length === 0) throw new Error('openssl could not make a certificate for the TLS workload');
    return new Uint8Array(der);
  } finally {
    fs.rmSync(keyDir, { recursive: true, force: true });
  }
}

const KAFKA: TsharkQuery = { fields: ['kafka.api_key', 'kafka.correlation_id', 'kafka.topic_name'], dissector: 'kafka' };
const DUBBO: TsharkQuery = { fields: ['tcp.len'], note: 'tshark has no Dubbo dissector: its figure is TCP only (tcp.len)' };
const MONGO: TsharkQuery = { fields: ['mongo.opcode', 'mongo.request_id'], dissector: 'mongo' };
const AMQP: TsharkQuery = { fields: ['amqp.method.class', 'amqp.method.method', 'amqp.method.arguments.exchange'], dissector: 'amqp' };
const TLS: TsharkQuery = { fields: ['tls.handshake.type', 'tls.handshake.extensions_server_name'], dissector: 'tls' };

/** The Kafka, Dubbo, MongoDB, AMQP and TLS workloads: conformance (none for TLS), then synthetic, per protocol. */
export const mqWorkloads: readonly ProtocolWorkload[] = [
  { spec: kafkaSpec, name: 'conformance', capture: { kind: 'conformance', folder: 'kafka' }, tshark: KAFKA },
  { spec: kafkaSpec, name: 'synthetic produce/fetch, 4,000 requests', capture: { kind: 'synthetic', write: (f) => writeConversations(f, 9092, kafkaConversations(20, 200)) }, tshark: KAFKA },
  { spec: dubboSpec, name: 'conformance', capture: { kind: 'conformance', folder: 'dubbo' }, tshark: DUBBO },
  { spec: dubboSpec, name: 'synthetic Hessian2 calls, 4,000', capture: { kind: 'synthetic', write: (f) => writeConversations(f, 20880, dubboConversations(20, 200)) }, tshark: DUBBO },
  { spec: mongoSpec, name: 'conformance', capture: { kind: 'conformance', folder: 'mongo' }, tshark: MONGO },
  { spec: mongoSpec, name: 'synthetic find/insert, 4,000', capture: { kind: 'synthetic', write: (f) => writeConversations(f, 27017, mongoConversations(20, 200)) }, tshark: MONGO },
  { spec: amqpSpec, name: 'conformance', capture: { kind: 'conformance', folder: 'amqp' }, tshark: AMQP },
  { spec: amqpSpec, name: 'synthetic publish/deliver, 4,000', capture: { kind: 'synthetic', write: (f) => writeConversations(f, 5672, amqpConversations(10, 400)) }, tshark: AMQP },
  {
    spec: tlsSpec,
    name: 'synthetic TLS 1.2 handshakes + 32 KB data, 300 connections',
    capture: { kind: 'synthetic', write: (f) => writeConversations(f, 443, tlsConversations(300, selfSignedCertificate(path.dirname(f)))) },
    tshark: TLS,
  },
];

if (require.main === module) printDefinitionsOnly('Kafka,Dubbo,MongoDB,AMQP,TLS');
