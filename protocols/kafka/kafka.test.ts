/**
 * Kafka parser on hand-built bytes: headers v0–v2, pairing by correlation
 * id, the API bodies it reads, record-batch headers → trace context, error
 * codes, acks=0, timeouts, unsolicited responses, chunking, gaps, prefix
 * captures, the buffer bound, garbage, inference, and a fuzz run.
 */
import { L7Connection } from '../detector';
import type { L7Session } from '../types';
import { DEFAULT_PARSER_OPTIONS } from '../types';
import { errorName, errorStatus, isFlexible, responseHeaderFlexible } from './apis';
import { spec } from './index';
import { concat, fuzz, runParser, split } from '../testing/testkit';
import type { Step } from '../testing/testkit';

/** A tiny Kafka encoder for the tests. */
class W {
  private b: number[] = [];
  i8(v: number): this {
    this.b.push(v & 0xff);
    return this;
  }
  i16(v: number): this {
    return this.i8(v >> 8).i8(v);
  }
  i32(v: number): this {
    return this.i16(v >> 16).i16(v);
  }
  i64(v: number): this {
    return this.i32(Math.floor(v / 4294967296)).i32(v >>> 0);
  }
  uvarint(v: number): this {
    while (v >= 0x80) {
      this.b.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    this.b.push(v);
    return this;
  }
  varint(v: number): this {
    return this.uvarint(v >= 0 ? v * 2 : -v * 2 - 1);
  }
  bytes(d: Uint8Array | number[]): this {
    for (const x of d) this.b.push(x);
    return this;
  }
  str(s: string | null): this {
    if (s === null) return this.i16(-1);
    const d = Buffer.from(s);
    return this.i16(d.length).bytes(d);
  }
  cstr(s: string | null): this {
    if (s === null) return this.uvarint(0);
    const d = Buffer.from(s);
    return this.uvarint(d.length + 1).bytes(d);
  }
  tags(): this {
    return this.uvarint(0);
  }
  get out(): Uint8Array {
    return Uint8Array.from(this.b);
  }
}

function frame(body: Uint8Array): Uint8Array {
  return concat(new W().i32(body.length).out, body);
}

function request(apiKey: number, ver: number, corr: number, clientId: string | null, body: (w: W) => void): Uint8Array {
  const w = new W().i16(apiKey).i16(ver).i32(corr).str(clientId);
  if (isFlexible(apiKey, ver)) w.tags();
  body(w);
  return frame(w.out);
}

function response(apiKey: number, ver: number, corr: number, body: (w: W) => void): Uint8Array {
  const w = new W().i32(corr);
  if (responseHeaderFlexible(apiKey, ver)) w.tags();
  body(w);
  return frame(w.out);
}

/** A v2 record batch with one record and its headers. */
function recordBatch(headers: Array<[string, string]>, attributes = 0): Uint8Array {
  const rec = new W().i8(0).varint(0).varint(0).varint(-1);
  const value = Buffer.from('hello');
  rec.varint(value.length).bytes(value).varint(headers.length);
  for (const [k, v] of headers) {
    const kb = Buffer.from(k);
    const vb = Buffer.from(v);
    rec.varint(kb.length).bytes(kb).varint(vb.length).bytes(vb);
  }
  const recBytes = rec.out;
  const records = new W().varint(recBytes.length).bytes(recBytes).out;
  const afterLength = new W().i32(0).i8(2).i32(0).i16(attributes).i32(0).i64(0).i64(0).i64(-1).i16(-1).i32(-1).i32(1).bytes(records).out;
  return new W().i64(0).i32(afterLength.length).bytes(afterLength).out;
}

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

function produceV3(corr: number, topic: string, partition: number, acks = -1, headers: Array<[string, string]> = [['traceparent', TRACEPARENT]]): Uint8Array {
  const batch = recordBatch(headers);
  return request(0, 3, corr, 'producer-1', (w) =>
    w.str(null).i16(acks).i32(30000).i32(1).str(topic).i32(1).i32(partition).i32(batch.length).bytes(batch),
  );
}

function produceResponseV3(corr: number, topic: string, partition: number, error: number, baseOffset: number): Uint8Array {
  return response(0, 3, corr, (w) => w.i32(1).str(topic).i32(1).i32(partition).i16(error).i64(baseOffset).i64(-1).i32(0));
}

const one = (steps: Step[], opts = {}): L7Session => {
  const { sessions, malformed } = runParser(spec, steps, opts);
  expect(malformed).toEqual([]);
  expect(sessions).toHaveLength(1);
  return sessions[0];
};

describe('Kafka parser', () => {
  test('Produce v3: topic, partition, base offset, record-header trace context, paired by correlation id', () => {
    const s = one([
      { dir: 0, data: produceV3(7, 'orders', 2), time: 1_000n },
      { dir: 1, data: produceResponseV3(7, 'orders', 2, 0, 41), time: 3_500n },
    ]);
    expect(s).toMatchObject({
      l7_protocol: 'Kafka',
      version: '3',
      request_type: 'Produce',
      request_domain: 'orders',
      endpoint: 'orders-2',
      request_resource: 'orders-2:41',
      request_id: '7',
      response_code: 0,
      response_status: 'ok',
      response_exception: '',
      trace_id: '0af7651916cd43dd8448eb211c80319c',
      span_id: 'b7ad6b7169203331',
      start_time: 1_000n,
      end_time: 3_500n,
      duration_ns: 2_500n,
      truncated: false,
    });
    expect(s.attributes['kafka.client_id']).toBe('producer-1');
    const req = produceV3(7, 'orders', 2);
    expect(s.request_length).toBe(req.length - 4);
    expect(s.captured_request_bytes).toBe(req.length);
  });

  test('x-request-id and b3 record headers; compressed batches are marked, not read', () => {
    const s = one([
      { dir: 0, data: produceV3(1, 't', 0, 1, [['X-Request-Id', 'req-42'], ['b3', '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1']]) },
      { dir: 1, data: produceResponseV3(1, 't', 0, 0, 0) },
    ]);
    expect(s.x_request_id).toBe('req-42');
    expect(s.trace_id).toBe('80f198ee56343ba864fe8b2a57d3eff7');
    const gz = recordBatch([['traceparent', TRACEPARENT]], 1);
    const c = one([
      { dir: 0, data: request(0, 3, 2, 'p', (w) => w.str(null).i16(1).i32(1).i32(1).str('t').i32(1).i32(0).i32(gz.length).bytes(gz)) },
      { dir: 1, data: produceResponseV3(2, 't', 0, 0, 0) },
    ]);
    expect(c.trace_id).toBe('');
    expect(c.attributes['kafka.compression']).toBe('gzip');
  });

  test('Produce with acks=0 is emitted at once: the broker never answers', () => {
    const { sessions } = runParser(spec, [{ dir: 0, data: produceV3(9, 'logs', 0, 0), time: 5n }], {}, 10n ** 12n);
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ request_type: 'Produce', response_status: 'ok', duration_ns: 0n });
    expect(sessions[0].attributes['kafka.acks']).toBe('0');
  });

  test('flexible versions: Metadata v9 request header v2 and response header v1 with tagged fields, topic error code', () => {
    const req = request(3, 9, 11, 'admin', (w) => w.uvarint(2).cstr('payments').tags().i8(1).i8(0).i8(0).tags());
    const resp = response(3, 9, 11, (w) =>
      w.i32(0).uvarint(2).i32(1).cstr('localhost').i32(9092).cstr(null).tags().cstr('cluster').i32(1).uvarint(2).i16(3).cstr('payments').i8(0).uvarint(1).i32(0).tags().tags(),
    );
    const s = one([{ dir: 0, data: req }, { dir: 1, data: resp }]);
    expect(s).toMatchObject({
      request_type: 'Metadata',
      version: '9',
      request_domain: 'payments',
      endpoint: 'payments',
      response_code: 3,
      response_status: 'client_error',
      response_exception: 'UNKNOWN_TOPIC_OR_PARTITION',
    });
  });

  test('ApiVersions v3: flexible request header, but the response header stays v0', () => {
    expect(responseHeaderFlexible(18, 3)).toBe(false);
    const req = request(18, 3, 1, 'c', (w) => w.cstr('kafkajs').cstr('2.2.4').tags());
    // error_code first, right after the correlation id (no tag buffer).
    const resp = response(18, 3, 1, (w) => w.i16(35).uvarint(1).i32(0).tags());
    const s = one([{ dir: 0, data: req }, { dir: 1, data: resp }]);
    expect(s).toMatchObject({ request_type: 'ApiVersions', response_code: 35, response_status: 'client_error', response_exception: 'UNSUPPORTED_VERSION' });
  });

  test('Fetch v4: fetch offset in the resource, the first partition error code', () => {
    const req = request(1, 4, 5, 'consumer', (w) => w.i32(-1).i32(500).i32(1).i32(1 << 20).i8(0).i32(1).str('clicks').i32(1).i32(3).i64(1234).i32(1 << 20));
    const resp = response(1, 4, 5, (w) => w.i32(0).i32(1).str('clicks').i32(1).i32(3).i16(1).i64(0).i64(0).i32(-1).i32(0));
    const s = one([{ dir: 0, data: req }, { dir: 1, data: resp }]);
    expect(s).toMatchObject({
      request_type: 'Fetch',
      request_domain: 'clicks',
      endpoint: 'clicks-3',
      request_resource: 'clicks-3:1234',
      response_code: 1,
      response_status: 'client_error',
      response_exception: 'OFFSET_OUT_OF_RANGE',
    });
  });

  test('group APIs: JoinGroup v5 group id, throttle then error code; Heartbeat v0 error first', () => {
    const join = request(11, 5, 3, 'c1', (w) => w.str('group-a').i32(10000).i32(300000).str('').str(null).str('consumer').i32(0));
    const joinResp = response(11, 5, 3, (w) => w.i32(0).i16(27).i32(-1).str('').str('').str('m').i32(0));
    const hb = request(12, 0, 4, 'c1', (w) => w.str('group-a').i32(1).str('m'));
    const hbResp = response(12, 0, 4, (w) => w.i16(0));
    const { sessions } = runParser(spec, [
      { dir: 0, data: join },
      { dir: 1, data: joinResp },
      { dir: 0, data: hb },
      { dir: 1, data: hbResp },
    ]);
    expect(sessions.map((s) => [s.request_type, s.attributes['kafka.group_id'], s.response_code, s.response_status])).toEqual([
      ['JoinGroup', 'group-a', 27, 'server_error'],
      ['Heartbeat', 'group-a', 0, 'ok'],
    ]);
    expect(sessions[0].response_exception).toBe('REBALANCE_IN_PROGRESS');
  });

  test('responses pair by correlation id, whatever their order', () => {
    const { sessions } = runParser(spec, [
      { dir: 0, data: concat(produceV3(1, 'a', 0), produceV3(2, 'b', 1)) },
      { dir: 1, data: produceResponseV3(2, 'b', 1, 0, 20) },
      { dir: 1, data: produceResponseV3(1, 'a', 0, 6, -1) },
    ]);
    expect(sessions.map((s) => [s.request_id, s.request_domain, s.response_code, s.response_status])).toEqual([
      ['2', 'b', 0, 'ok'],
      ['1', 'a', 6, 'server_error'],
    ]);
    expect(sessions[1].response_exception).toBe('NOT_LEADER_OR_FOLLOWER');
  });

  test('messages split at every byte boundary give the same session', () => {
    const req = produceV3(3, 'split', 1);
    const resp = produceResponseV3(3, 'split', 1, 0, 99);
    for (let cut = 1; cut < req.length; cut += 3) {
      const s = one([...split(0, req, cut), ...split(1, resp, Math.min(cut, resp.length - 1))]);
      expect([s.request_resource, s.trace_id, s.captured_request_bytes]).toEqual(['split-1:99', '0af7651916cd43dd8448eb211c80319c', req.length]);
    }
  });

  test('unanswered requests time out through expire, and at close', () => {
    const sessions: L7Session[] = [];
    const p = spec.create({ options: { ...DEFAULT_PARSER_OPTIONS, requestTimeoutNs: 1000n }, emit: (s) => sessions.push(s), malformed: () => undefined });
    p.feed(0, produceV3(1, 'a', 0), 100n, {});
    p.feed(0, produceV3(2, 'a', 0), 900n, {});
    p.expire(1150n);
    expect(sessions.map((s) => [s.request_id, s.response_status])).toEqual([['1', 'timeout']]);
    p.close(1300n);
    expect(sessions.map((s) => [s.request_id, s.response_status])).toEqual([
      ['1', 'timeout'],
      ['2', 'timeout'],
    ]);
  });

  test('beyond maxPendingRequests the oldest request is emitted as timed out', () => {
    const steps: Step[] = [1, 2, 3].map((i) => ({ dir: 0, data: produceV3(i, 't', 0) }));
    const { sessions, malformed } = runParser(spec, [...steps, { dir: 1, data: produceResponseV3(3, 't', 0, 0, 1) }], { maxPendingRequests: 2 });
    expect(malformed).toEqual(['kafka: pending request limit reached']);
    expect(sessions.map((s) => [s.request_id, s.response_status])).toEqual([
      ['1', 'timeout'],
      ['3', 'ok'],
      ['2', 'timeout'],
    ]);
  });

  test('a response without its request is a response-only session', () => {
    const s = one([{ dir: 1, data: produceResponseV3(77, 't', 0, 0, 1), time: 50n }]);
    expect(s).toMatchObject({ request_type: '', request_id: '77', response_status: 'unknown', captured_request_bytes: 0 });
  });

  test('prefix capture: fields come from the prefix, the session is truncated, the next message parses', () => {
    const req = produceV3(4, 'prefix-topic', 5);
    const { sessions, malformed } = runParser(spec, [
      { dir: 0, data: req.subarray(0, 40), flags: { messageLength: req.length } },
      { dir: 1, data: produceResponseV3(4, 'prefix-topic', 5, 0, 8) },
      { dir: 0, data: produceV3(5, 'next', 0) },
      { dir: 1, data: produceResponseV3(5, 'next', 0, 0, 9) },
    ]);
    expect(malformed).toEqual([]);
    expect(sessions.map((s) => [s.request_id, s.request_domain, s.truncated, s.captured_request_bytes, s.request_length])).toEqual([
      ['4', 'prefix-topic', true, 40, req.length - 4],
      ['5', 'next', false, produceV3(5, 'next', 0).length, produceV3(5, 'next', 0).length - 4],
    ]);
  });

  test('a gap inside a request ends it truncated; the stream resynchronises at the next chunk', () => {
    const req = produceV3(6, 'gappy', 0);
    const next = produceV3(7, 'after', 0);
    const { sessions } = runParser(spec, [
      { dir: 0, data: req.subarray(0, 30) },
      { dir: 0, data: next, flags: { gap: true } },
      { dir: 1, data: concat(produceResponseV3(6, 'gappy', 0, 0, 1), produceResponseV3(7, 'after', 0, 0, 2)) },
    ]);
    expect(sessions.map((s) => [s.request_id, s.request_domain, s.truncated, s.response_status])).toEqual([
      ['6', 'gappy', true, 'ok'],
      ['7', 'after', false, 'ok'],
    ]);
  });

  test('a response larger than maxBufferBytes is counted, not buffered, and still parsed from its start', () => {
    const records = new Uint8Array(200_000).fill(7);
    const resp = response(1, 4, 8, (w) => w.i32(0).i32(1).str('big').i32(1).i32(0).i16(0).i64(5).i64(5).i32(-1).i32(records.length).bytes(records));
    const req = request(1, 4, 8, 'c', (w) => w.i32(-1).i32(500).i32(1).i32(1 << 20).i8(0).i32(1).str('big').i32(1).i32(0).i64(0).i32(1 << 20));
    const chunks: Step[] = [];
    for (let o = 0; o < resp.length; o += 1448) chunks.push({ dir: 1, data: resp.subarray(o, o + 1448) });
    const s = one([{ dir: 0, data: req }, ...chunks], { maxBufferBytes: 4096 });
    expect(s).toMatchObject({ response_code: 0, response_status: 'ok', response_length: resp.length - 4, captured_response_bytes: resp.length });
  });

  test('garbage is counted as malformed and never throws; a valid request after it parses', () => {
    const { sessions, malformed } = runParser(spec, [
      { dir: 0, data: Uint8Array.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6]) },
      { dir: 0, data: produceV3(1, 'ok', 0) },
      { dir: 1, data: produceResponseV3(1, 'ok', 0, 0, 0) },
    ]);
    expect(malformed).toEqual(['kafka: bad frame header (request)']);
    expect(sessions.map((s) => s.request_domain)).toEqual(['ok']);
  });

  test('inference: certain on a whole request with a client id, nothing on responses or text', () => {
    expect(spec.infer(produceV3(1, 't', 0), 0, 9092)).toBe(2);
    expect(spec.infer(produceV3(1, 't', 0).subarray(0, 30), 0, 9092)).toBe(1);
    expect(spec.infer(produceResponseV3(1, 't', 0, 0, 0), 1, 9092)).toBe(0);
    expect(spec.infer(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 0, 9092)).toBe(0);
    expect(spec.infer(request(99, 0, 1, 'c', () => undefined), 0, 9092)).toBe(0);
  });

  test('through L7Connection: detected from the request and parsed', () => {
    const sessions: L7Session[] = [];
    const conn = new L7Connection([spec], 9092, { options: DEFAULT_PARSER_OPTIONS, emit: (s) => sessions.push(s), malformed: () => undefined });
    conn.feed(0, produceV3(1, 'detected', 0), 1n);
    conn.feed(1, produceResponseV3(1, 'detected', 0, 0, 3), 2n);
    conn.close(3n);
    expect(conn.protocol).toBe('Kafka');
    expect(sessions.map((s) => s.request_resource)).toEqual(['detected-0:3']);
  });

  test('error code tables', () => {
    expect([errorName(0), errorName(-1), errorName(3), errorName(5120)]).toEqual(['', 'UNKNOWN_SERVER_ERROR', 'UNKNOWN_TOPIC_OR_PARTITION', 'ERROR_5120']);
    expect([errorStatus(0), errorStatus(-1), errorStatus(29), errorStatus(7)]).toEqual(['ok', 'server_error', 'client_error', 'server_error']);
    expect([isFlexible(0, 8), isFlexible(0, 9), isFlexible(17, 1), isFlexible(70, 0)]).toEqual([false, true, false, true]);
  });

  test('fuzz: 20,000 mutated and random inputs never throw and emit well-formed sessions', () => {
    const seeds = [
      [
        { dir: 0 as const, data: produceV3(1, 'orders', 2) },
        { dir: 1 as const, data: produceResponseV3(1, 'orders', 2, 0, 41) },
      ],
      [
        { dir: 0 as const, data: request(3, 9, 11, 'admin', (w) => w.uvarint(2).cstr('payments').tags().i8(1).i8(0).i8(0).tags()) },
        { dir: 1 as const, data: response(3, 9, 11, (w) => w.i32(0).uvarint(1).cstr('c').i32(1).uvarint(1).tags()) },
      ],
      [
        { dir: 0 as const, data: request(1, 12, 5, 'c', (w) => w.i32(-1).i32(500).i32(1).i32(1).i8(0).i32(0).i32(0).uvarint(2).cstr('x').uvarint(2).i32(0).i32(0).i64(36).i32(-1).i64(0).i32(1).tags().tags().uvarint(1).uvarint(1).tags()) },
        { dir: 1 as const, data: response(1, 12, 5, (w) => w.i32(0).i16(0).i32(1).uvarint(1).tags()) },
      ],
    ];
    const stats = fuzz(spec, seeds, 20_000, 0x6b61666b);
    expect(stats.firstThrow).toBe('');
    expect(stats.threw).toBe(0);
    expect(stats.badSessions).toBe(0);
    expect(stats.inputs).toBe(20_000);
    // The mutations must reach the parser: sessions and malformed input both occur.
    expect(stats.sessions).toBeGreaterThan(5_000);
    expect(stats.malformed).toBeGreaterThan(1_000);
  });
});
