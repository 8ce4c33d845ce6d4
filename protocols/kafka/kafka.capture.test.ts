/**
 * Kafka on a real client: kafkajs (producer with a traceparent record
 * header, consumer group reading it back) against a small broker of our own
 * that answers the API versions it advertises (there is no Kafka broker on
 * this machine). The capture is parsed by our spec and by tshark's kafka
 * dissector; api key, version, correlation id, client id, topic and error
 * codes must agree.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { captureAvailable, captureLoopback } from '../../test/helpers/capture';
import { freePort } from '../../test/helpers/ports';
import { tsharkAvailable, tsharkFields } from '../../test/helpers/tshark';
import { replayPcap } from '../testing/replay';
import type { ReplayedSession } from '../testing/replay';
import { API_NAMES } from './apis';
import { spec } from './index';

const ready = captureAvailable() && tsharkAvailable();
const maybe = ready ? describe : describe.skip;
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

/** Big-endian writer for broker responses. */
class Out {
  private parts: Buffer[] = [];
  i8(v: number): this {
    const b = Buffer.alloc(1);
    b.writeInt8(v);
    this.parts.push(b);
    return this;
  }
  i16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeInt16BE(v);
    this.parts.push(b);
    return this;
  }
  i32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    this.parts.push(b);
    return this;
  }
  i64(v: number): this {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(BigInt(v));
    this.parts.push(b);
    return this;
  }
  str(s: string | null): this {
    if (s === null) return this.i16(-1);
    const d = Buffer.from(s);
    return this.i16(d.length).raw(d);
  }
  bytes(d: Buffer | null): this {
    if (d === null) return this.i32(-1);
    return this.i32(d.length).raw(d);
  }
  raw(d: Buffer): this {
    this.parts.push(d);
    return this;
  }
  array<T>(items: T[], each: (o: this, item: T) => void): this {
    this.i32(items.length);
    for (const it of items) each(this, it);
    return this;
  }
  get buf(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Big-endian reader for broker requests. */
class In {
  constructor(
    private b: Buffer,
    public p = 0,
  ) {}
  i8(): number {
    return this.b.readInt8(this.p++);
  }
  i16(): number {
    const v = this.b.readInt16BE(this.p);
    this.p += 2;
    return v;
  }
  i32(): number {
    const v = this.b.readInt32BE(this.p);
    this.p += 4;
    return v;
  }
  i64(): number {
    const v = Number(this.b.readBigInt64BE(this.p));
    this.p += 8;
    return v;
  }
  str(): string | null {
    const n = this.i16();
    if (n < 0) return null;
    const s = this.b.toString('utf8', this.p, this.p + n);
    this.p += n;
    return s;
  }
  bytes(): Buffer | null {
    const n = this.i32();
    if (n < 0) return null;
    const d = this.b.subarray(this.p, this.p + n);
    this.p += n;
    return d;
  }
  array<T>(each: (i: this) => T): T[] {
    const n = this.i32();
    const out: T[] = [];
    for (let k = 0; k < n; k++) out.push(each(this));
    return out;
  }
}

/** Api key → highest version the broker speaks (the oldest non-flexible ones kafkajs still uses). */
const SUPPORTED: Record<number, number> = { 0: 3, 1: 4, 2: 1, 3: 1, 8: 2, 9: 1, 10: 0, 11: 1, 12: 0, 13: 0, 14: 0, 18: 2 };

/**
 * A one-partition, one-node broker kept in memory: enough of ApiVersions,
 * Metadata, Produce, ListOffsets, Fetch and the group APIs for a kafkajs
 * producer and consumer group to run.
 */
class MiniBroker {
  readonly server = net.createServer((s) => this.serve(s));
  port = 0;
  /** Stored batches per topic, and the next offset. */
  private readonly log = new Map<string, { batches: Array<{ base: number; data: Buffer }>; next: number }>();
  private readonly assignments = new Map<string, Buffer>();
  private generation = 0;
  readonly unknown: number[] = [];

  async start(): Promise<void> {
    this.port = await freePort();
    await new Promise<void>((r) => this.server.listen(this.port, '127.0.0.1', r));
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private serve(sock: net.Socket): void {
    let pending = Buffer.alloc(0);
    sock.on('error', () => undefined);
    sock.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
        const msg = pending.subarray(4, 4 + pending.readInt32BE(0));
        pending = pending.subarray(4 + msg.length);
        void this.handle(sock, msg);
      }
    });
  }

  private async handle(sock: net.Socket, msg: Buffer): Promise<void> {
    const r = new In(msg);
    const apiKey = r.i16();
    const ver = r.i16();
    const corr = r.i32();
    r.str(); // client id
    const body = await this.answer(apiKey, ver, r);
    if (!body) return;
    const out = new Out().i32(corr).raw(body).buf;
    sock.write(Buffer.concat([new Out().i32(out.length).buf, out]));
  }

  private topicLog(topic: string) {
    let t = this.log.get(topic);
    if (!t) this.log.set(topic, (t = { batches: [], next: 0 }));
    return t;
  }

  private async answer(apiKey: number, ver: number, r: In): Promise<Buffer | undefined> {
    const o = new Out();
    switch (apiKey) {
      case 18: // ApiVersions
        o.i16(0).array(Object.entries(SUPPORTED), (w, [k, max]) => w.i16(Number(k)).i16(0).i16(max));
        if (ver >= 1) o.i32(0);
        return o.buf;
      case 3: {
        // Metadata v0/v1
        const topics = r.array((i) => i.str() ?? '');
        const names = topics.length ? topics : [...this.log.keys()];
        o.array([0], (w) => {
          w.i32(0).str('127.0.0.1').i32(this.port);
          if (ver >= 1) w.str(null);
        });
        if (ver >= 1) o.i32(0);
        o.array(names, (w, name) => {
          w.i16(0).str(name);
          if (ver >= 1) w.i8(0);
          w.array([0], (p) => p.i16(0).i32(0).i32(0).array([0], (x) => x.i32(0)).array([0], (x) => x.i32(0)));
        });
        return o.buf;
      }
      case 0: {
        // Produce v3
        r.str();
        r.i16();
        r.i32();
        const topics = r.array((i) => ({ name: i.str() ?? '', parts: i.array((p) => ({ partition: p.i32(), records: p.bytes() })) }));
        o.array(topics, (w, t) =>
          w.str(t.name).array(t.parts, (p, part) => {
            const log = this.topicLog(t.name);
            const base = log.next;
            const data = Buffer.from(part.records ?? Buffer.alloc(0));
            if (data.length >= 61) {
              data.writeBigInt64BE(BigInt(base), 0);
              log.batches.push({ base, data });
              log.next += data.readInt32BE(57);
            }
            p.i32(part.partition).i16(0).i64(base).i64(-1);
          }),
        );
        o.i32(0);
        return o.buf;
      }
      case 2: {
        // ListOffsets v1
        r.i32();
        const topics = r.array((i) => ({ name: i.str() ?? '', parts: i.array((p) => ({ partition: p.i32(), ts: p.i64() })) }));
        o.array(topics, (w, t) => w.str(t.name).array(t.parts, (p, part) => p.i32(part.partition).i16(0).i64(-1).i64(part.ts === -2 ? 0 : this.topicLog(t.name).next)));
        return o.buf;
      }
      case 1: {
        // Fetch v4
        r.i32();
        const maxWait = r.i32();
        r.i32();
        r.i32();
        r.i8();
        const topics = r.array((i) => ({ name: i.str() ?? '', parts: i.array((p) => ({ partition: p.i32(), offset: p.i64(), max: p.i32() })) }));
        const found = topics.map((t) => ({ t, batches: this.topicLog(t.name).batches.filter((b) => b.base >= t.parts[0].offset) }));
        // Nothing new: wait (a little) as a broker does, so the consumer does not spin.
        if (found.every((f) => f.batches.length === 0)) await new Promise((res) => setTimeout(res, Math.min(maxWait, 200)));
        o.i32(0).array(found, (w, f) =>
          w.str(f.t.name).array(f.t.parts, (p, part) => p.i32(part.partition).i16(0).i64(this.topicLog(f.t.name).next).i64(this.topicLog(f.t.name).next).i32(0).bytes(Buffer.concat(f.batches.map((b) => b.data)))),
        );
        return o.buf;
      }
      case 10: // FindCoordinator v0
        r.str();
        return o.i16(0).i32(0).str('127.0.0.1').i32(this.port).buf;
      case 11: {
        // JoinGroup v0/v1: this member leads a group of one
        r.str();
        r.i32();
        if (ver >= 1) r.i32();
        const member = r.str() || 'member-1';
        r.str();
        const protocols = r.array((i) => ({ name: i.str() ?? '', meta: i.bytes() ?? Buffer.alloc(0) }));
        this.generation++;
        return o.i16(0).i32(this.generation).str(protocols[0].name).str(member).str(member).array([protocols[0]], (w, p) => w.str(member).bytes(p.meta)).buf;
      }
      case 14: {
        // SyncGroup v0: hand the leader's assignment back to the member
        r.str();
        r.i32();
        const member = r.str() ?? '';
        for (const a of r.array((i) => ({ member: i.str() ?? '', data: i.bytes() ?? Buffer.alloc(0) }))) this.assignments.set(a.member, Buffer.from(a.data));
        return o.i16(0).bytes(this.assignments.get(member) ?? Buffer.alloc(0)).buf;
      }
      case 9: {
        // OffsetFetch v1: nothing committed yet
        r.str();
        const topics = r.array((i) => ({ name: i.str() ?? '', parts: i.array((p) => p.i32()) }));
        return o.array(topics, (w, t) => w.str(t.name).array(t.parts, (p, part) => p.i32(part).i64(-1).str('').i16(0))).buf;
      }
      case 8: {
        // OffsetCommit v2
        r.str();
        r.i32();
        r.str();
        r.i64();
        const topics = r.array((i) => ({ name: i.str() ?? '', parts: i.array((p) => ({ partition: p.i32(), offset: p.i64(), meta: p.str() })) }));
        return o.array(topics, (w, t) => w.str(t.name).array(t.parts, (p, part) => p.i32(part.partition).i16(0))).buf;
      }
      case 12: // Heartbeat v0
      case 13: // LeaveGroup v0
        return o.i16(0).buf;
      default:
        this.unknown.push(apiKey);
        return undefined;
    }
  }
}

maybe('Kafka: kafkajs against a mini broker, checked with tshark', () => {
  const broker = new MiniBroker();
  let file = '';
  let sessions: ReplayedSession[] = [];
  let frames: Array<Record<string, string[]>> = [];
  let received: { value: string; traceparent: string } | undefined;

  beforeAll(async () => {
    await broker.start();
    const cap = await captureLoopback(`tcp port ${broker.port}`);
    try {
      const kafka = new Kafka({ clientId: 'mf-capture', brokers: [`127.0.0.1:${broker.port}`], logLevel: logLevel.NOTHING, retry: { retries: 2 } });
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic: 'orders', messages: [{ key: 'k1', value: 'order #1', headers: { traceparent: TRACEPARENT } }] });
      const consumer = kafka.consumer({ groupId: 'mf-group', maxWaitTimeInMs: 200 });
      await consumer.connect();
      await consumer.subscribe({ topic: 'orders', fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no message consumed')), 30_000);
        void consumer.run({
          eachMessage: async ({ message }) => {
            received = { value: String(message.value), traceparent: String(message.headers?.traceparent) };
            clearTimeout(t);
            resolve();
          },
        });
      });
      await consumer.disconnect();
      await producer.disconnect();
    } finally {
      file = await cap.stop();
    }
    sessions = replayPcap(file, [spec]).sessions;
    frames = await tsharkFields(file, ['tcp.srcport', 'tcp.dstport', 'kafka.api_key', 'kafka.api_version', 'kafka.correlation_id', 'kafka.client_id', 'kafka.topic_name', 'kafka.error', 'kafka.header_key', 'kafka.header_value'], {
      decodeAs: [`tcp.port==${broker.port},kafka`],
    });
  }, 120_000);

  afterAll(async () => {
    await broker.stop();
    if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });

  test('kafkajs ran end to end against the broker', () => {
    expect(broker.unknown).toEqual([]);
    expect(received).toEqual({ value: 'order #1', traceparent: TRACEPARENT });
  });

  test('every request tshark decodes is one of our sessions with the same api, version, correlation id, client id and topic', () => {
    const requests = frames.filter((f) => f['tcp.dstport'][0] === String(broker.port) && f['kafka.api_key'].length);
    let compared = 0;
    const apis = new Set<string>();
    for (const f of requests) {
      f['kafka.correlation_id'].forEach((corr, i) => {
        const s = sessions.find((x) => x.client_port === Number(f['tcp.srcport'][0]) && x.request_id === corr);
        expect(s).toBeDefined();
        if (!s) return;
        expect([s.request_type, s.version, s.attributes['kafka.client_id']]).toEqual([API_NAMES[Number(f['kafka.api_key'][i])], f['kafka.api_version'][i], f['kafka.client_id'][i]]);
        compared += 3;
        apis.add(s.request_type);
        if (s.request_domain && requests.filter((x) => x['kafka.correlation_id'].length === 1).includes(f)) {
          expect(f['kafka.topic_name']).toContain(s.request_domain);
          compared++;
        }
      });
    }
    expect(sessions).toHaveLength(requests.reduce((n, f) => n + f['kafka.correlation_id'].length, 0));
    // Heartbeat and OffsetCommit depend on timing; the rest happen every run.
    expect([...apis]).toEqual(expect.arrayContaining(['ApiVersions', 'Metadata', 'Produce', 'FindCoordinator', 'JoinGroup', 'SyncGroup', 'OffsetFetch', 'ListOffsets', 'Fetch', 'LeaveGroup']));
    console.log(`Kafka: ${sessions.length} sessions, ${compared} field comparisons with tshark, APIs ${[...apis].join(', ')}`);
  });

  test('Produce: topic, partition, base offset, trace context from the record header tshark shows; errors agree', () => {
    const produce = sessions.find((s) => s.request_type === 'Produce')!;
    expect([produce.request_domain, produce.endpoint, produce.request_resource]).toEqual(['orders', 'orders-0', 'orders-0:0']);
    const headerFrame = frames.find((f) => f['kafka.header_key'].includes('traceparent'))!;
    expect(headerFrame['kafka.header_value']).toContain(Buffer.from(TRACEPARENT).toString('hex'));
    expect([produce.trace_id, produce.span_id]).toEqual(['0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331']);
    const fetches = sessions.filter((s) => s.request_type === 'Fetch');
    expect(fetches.length).toBeGreaterThan(0);
    expect(fetches[0].request_resource).toBe('orders-0:0');
    // Error codes tshark decoded in responses are ours too (all 0 here), and every session completed.
    const responseErrors = frames.filter((f) => f['tcp.srcport'][0] === String(broker.port)).flatMap((f) => f['kafka.error']);
    expect(new Set(responseErrors)).toEqual(new Set(['0']));
    expect(sessions.filter((s) => s.response_status !== 'ok').map((s) => [s.request_type, s.response_status])).toEqual([]);
  });
});
