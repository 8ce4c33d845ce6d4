/**
 * MongoDB parser on wire messages built with the `bson` package as an
 * oracle (the parser has its own reader): OP_MSG sections, replies, error
 * classes, write errors, legacy opcodes, OP_COMPRESSED, moreToCome and
 * exhaust, chunking, prefix captures, timeouts, inference, fuzz.
 */
import { deflateSync } from 'node:zlib';
import { BSON, Binary, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp, Code, BSONRegExp } from 'bson';
import type { L7Session } from '../types';
import { DEFAULT_PARSER_OPTIONS } from '../types';
import { concat, fuzz, runParser, split } from '../testing/testkit';
import type { Step } from '../testing/testkit';
import { BsonElement, BsonWalker, keyOf, numberOf, stringOf } from './bson';
import { mongoStatus, spec } from './index';

const doc = (d: Record<string, unknown>) => new Uint8Array(BSON.serialize(d));

function header(len: number, requestId: number, responseTo: number, op: number): Uint8Array {
  const h = new Uint8Array(16);
  const v = new DataView(h.buffer);
  v.setInt32(0, len, true);
  v.setInt32(4, requestId, true);
  v.setInt32(8, responseTo, true);
  v.setInt32(12, op, true);
  return h;
}

function le32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, n, true);
  return b;
}

function message(requestId: number, responseTo: number, op: number, body: Uint8Array): Uint8Array {
  return concat(header(16 + body.length, requestId, responseTo, op), body);
}

/** OP_MSG with a body section and optional document sequences. */
function opMsg(requestId: number, responseTo: number, body: Record<string, unknown>, flags = 0, seqs: Array<[string, Array<Record<string, unknown>>]> = []): Uint8Array {
  const parts: Uint8Array[] = [le32(flags), Uint8Array.of(0), doc(body)];
  for (const [id, docs] of seqs) {
    const payload = concat(Buffer.from(`${id}\0`), ...docs.map(doc));
    parts.push(Uint8Array.of(1), le32(4 + payload.length), payload);
  }
  if (flags & 1) parts.push(le32(0x12345678)); // checksum
  return message(requestId, responseTo, 2013, concat(...parts));
}

function opQuery(requestId: number, ns: string, query: Record<string, unknown>): Uint8Array {
  return message(requestId, 0, 2004, concat(le32(0), Buffer.from(`${ns}\0`), le32(0), le32(-1), doc(query)));
}

function opReply(requestId: number, responseTo: number, flags: number, reply: Record<string, unknown>): Uint8Array {
  return message(requestId, responseTo, 1, concat(le32(flags), new Uint8Array(8), le32(0), le32(1), doc(reply)));
}

const one = (steps: Step[], opts = {}): L7Session => {
  const { sessions, malformed } = runParser(spec, steps, opts);
  expect(malformed).toEqual([]);
  expect(sessions).toHaveLength(1);
  return sessions[0];
};

describe('BSON reader', () => {
  test('walks every element type the bson package writes and reads keys, strings and numbers', () => {
    const d = doc({
      s: 'text',
      d: new Double(2.5),
      i: new Int32(-7),
      l: Long.fromNumber(2 ** 40),
      t: true,
      o: new ObjectId('652213ba46c335fa2820b0dc'),
      b: new Binary(Buffer.from('xyz'), 4),
      date: new Date(0),
      n: null,
      re: new BSONRegExp('a.*', 'i'),
      dec: Decimal128.fromString('1.5'),
      ts: new Timestamp({ t: 1, i: 2 }),
      min: new MinKey(),
      max: new MaxKey(),
      code: new Code('function(){}'),
      arr: [1, 'two', { three: 3 }],
      sub: { x: 1 },
      last: 'end',
    });
    const w = new BsonWalker();
    const el = new BsonElement();
    const keys: string[] = [];
    const values: Record<string, unknown> = {};
    for (let p = w.first(d, 0, d.length), q; p >= 0 && (q = w.next(p, el)) >= 0; p = q) {
      const k = keyOf(d, el);
      keys.push(k);
      values[k] = stringOf(d, el) ?? numberOf(d, el);
    }
    expect(keys).toEqual(['s', 'd', 'i', 'l', 't', 'o', 'b', 'date', 'n', 're', 'dec', 'ts', 'min', 'max', 'code', 'arr', 'sub', 'last']);
    expect(values).toMatchObject({ s: 'text', d: 2.5, i: -7, l: 2 ** 40, t: 1, last: 'end', o: null });
  });

  test('a truncated document still yields its first elements, and a cut value is marked', () => {
    const d = doc({ find: 'users', filter: { a: 'x'.repeat(100) }, $db: 'shop' });
    const w = new BsonWalker();
    const el = new BsonElement();
    const keys: string[] = [];
    let cut = false;
    for (let p = w.first(d, 0, 30), q; p >= 0 && (q = w.next(p, el)) >= 0; p = q) {
      keys.push(keyOf(d, el));
      cut ||= el.cut;
    }
    expect(keys).toEqual(['find', 'filter']);
    expect(cut).toBe(true);
    expect(w.clipped).toBe(true);
  });
});

describe('MongoDB parser', () => {
  test('OP_MSG find: command, collection, $db; ok reply', () => {
    const req = opMsg(7, 0, { find: 'users', filter: { age: { $gt: 21 } }, lsid: { id: new Binary(Buffer.alloc(16), 4) }, $db: 'shop' });
    const resp = opMsg(100, 7, { cursor: { firstBatch: [], id: Long.ZERO, ns: 'shop.users' }, ok: 1 });
    const s = one([
      { dir: 0, data: req, time: 10n },
      { dir: 1, data: resp, time: 70n },
    ]);
    expect(s).toMatchObject({
      l7_protocol: 'MongoDB',
      request_type: 'find',
      request_resource: 'users',
      request_domain: 'shop',
      request_id: '7',
      response_code: 0,
      response_status: 'ok',
      response_exception: '',
      request_length: req.length,
      response_length: resp.length,
      captured_request_bytes: req.length,
      duration_ns: 60n,
    });
    expect(s.attributes['mongodb.op']).toBe('OP_MSG');
  });

  test('insert with a document-sequence section and a checksum; n in the result', () => {
    const req = opMsg(8, 0, { insert: 'orders', ordered: true, $db: 'shop' }, 1, [['documents', [{ a: 1 }, { a: 2 }]]]);
    const s = one([{ dir: 0, data: req }, { dir: 1, data: opMsg(101, 8, { n: 2, ok: 1 }) }]);
    expect(s).toMatchObject({ request_type: 'insert', request_resource: 'orders', request_domain: 'shop', response_result: 'n=2', response_status: 'ok' });
  });

  test('a failed command: code, errmsg, codeName; client and server error classes', () => {
    const s = one([
      { dir: 0, data: opMsg(9, 0, { drop: 'nope', $db: 'shop' }) },
      { dir: 1, data: opMsg(102, 9, { ok: 0, errmsg: 'ns not found', code: 26, codeName: 'NamespaceNotFound' }) },
    ]);
    expect(s).toMatchObject({ response_code: 26, response_status: 'client_error', response_exception: 'ns not found' });
    expect(s.attributes['mongodb.code_name']).toBe('NamespaceNotFound');
    expect([mongoStatus(91), mongoStatus(10107), mongoStatus(13), mongoStatus(null)]).toEqual(['server_error', 'server_error', 'client_error', 'client_error']);
  });

  test('write errors with ok: 1 still fail the session; a write concern error is the server’s', () => {
    const dup = one([
      { dir: 0, data: opMsg(10, 0, { insert: 'users', $db: 'shop' }, 0, [['documents', [{ _id: 1 }]]]) },
      { dir: 1, data: opMsg(103, 10, { n: 0, writeErrors: [{ index: 0, code: 11000, errmsg: 'E11000 duplicate key error' }], ok: 1 }) },
    ]);
    expect(dup).toMatchObject({ response_code: 11000, response_status: 'client_error', response_exception: 'E11000 duplicate key error', response_result: 'n=0' });
    const wc = one([
      { dir: 0, data: opMsg(11, 0, { update: 'users', $db: 'shop' }) },
      { dir: 1, data: opMsg(104, 11, { n: 1, writeConcernError: { code: 64, errmsg: 'waiting for replication timed out' }, ok: 1 }) },
    ]);
    expect(wc).toMatchObject({ response_code: 64, response_status: 'server_error', response_exception: 'waiting for replication timed out' });
  });

  test('getMore names its collection in a field', () => {
    const s = one([{ dir: 0, data: opMsg(12, 0, { getMore: Long.fromNumber(123), collection: 'events', $db: 'logs' }) }, { dir: 1, data: opMsg(105, 12, { ok: 1 }) }]);
    expect([s.request_type, s.request_resource, s.request_domain]).toEqual(['getMore', 'events', 'logs']);
  });

  test('legacy OP_QUERY: commands on $cmd, queries on collections; OP_REPLY with QueryFailure', () => {
    const { sessions } = runParser(spec, [
      { dir: 0, data: opQuery(1, 'admin.$cmd', { isMaster: 1, client: { app: 'x' } }) },
      { dir: 1, data: opReply(50, 1, 8, { ismaster: true, ok: 1 }) },
      { dir: 0, data: opQuery(2, 'test.users', { $query: { a: 1 } }) },
      { dir: 1, data: opReply(51, 2, 2, { $err: 'bad query', code: 2 }) },
    ]);
    expect(sessions.map((s) => [s.request_type, s.request_domain, s.request_resource, s.response_status, s.response_code, s.response_exception, s.attributes['mongodb.op']])).toEqual([
      ['isMaster', 'admin', '', 'ok', 0, '', 'OP_QUERY'],
      ['find', 'test', 'users', 'client_error', 2, 'bad query', 'OP_QUERY'],
    ]);
  });

  test('legacy writes and moreToCome requests get no reply: emitted at once', () => {
    const ins = message(3, 0, 2002, concat(le32(0), Buffer.from('shop.items\0'), doc({ a: 1 })));
    const { sessions } = runParser(spec, [{ dir: 0, data: ins }, { dir: 0, data: opMsg(4, 0, { insert: 'x', $db: 'y', writeConcern: { w: 0 } }, 2) }], {}, 10n ** 15n);
    expect(sessions.map((s) => [s.request_type, s.request_resource, s.request_domain, s.response_status])).toEqual([
      ['insert', 'items', 'shop', 'ok'],
      ['insert', 'x', 'y', 'ok'],
    ]);
  });

  test('OP_COMPRESSED: zlib is inflated; snappy is marked', () => {
    const inner = opMsg(20, 0, { count: 'things', $db: 'inv' });
    const body = inner.subarray(16);
    const z = deflateSync(body);
    const zmsg = message(20, 0, 2012, concat(le32(2013), le32(body.length), Uint8Array.of(2), z));
    const reply = opMsg(200, 20, { n: 5, ok: 1 }).subarray(16);
    const zreply = message(200, 20, 2012, concat(le32(2013), le32(reply.length), Uint8Array.of(2), deflateSync(reply)));
    const s = one([{ dir: 0, data: zmsg }, { dir: 1, data: zreply }]);
    expect(s).toMatchObject({ request_type: 'count', request_resource: 'things', request_domain: 'inv', response_result: 'n=5', response_status: 'ok' });
    expect(s.attributes['mongodb.compressor']).toBe('zlib');
    // Larger than the buffer bound once inflated (transiently): still read.
    const big = opMsg(22, 0, { insert: 'logs', documents: Array.from({ length: 500 }, (_, i) => ({ i, line: 'y'.repeat(400) })), $db: 'ops' }).subarray(16);
    const zbig = message(22, 0, 2012, concat(le32(2013), le32(big.length), Uint8Array.of(2), deflateSync(big)));
    const b = one([{ dir: 0, data: zbig }, { dir: 1, data: opMsg(202, 22, { n: 500, ok: 1 }) }], { maxBufferBytes: 4096 });
    expect([b.request_type, b.request_resource, b.response_result]).toEqual(['insert', 'logs', 'n=500']);
    const snappy = message(21, 0, 2012, concat(le32(2013), le32(10), Uint8Array.of(1), new Uint8Array(10)));
    const t = one([{ dir: 0, data: snappy }, { dir: 1, data: opMsg(201, 21, { ok: 1 }) }]);
    expect([t.request_type, t.attributes['mongodb.compressor'], t.response_status]).toEqual(['', 'snappy', 'ok']);
  });

  test('exhaust: each streamed reply becomes a session carrying the original command', () => {
    const { sessions } = runParser(spec, [
      { dir: 0, data: opMsg(30, 0, { hello: 1, topologyVersion: {}, maxAwaitTimeMS: 10000, $db: 'admin' }, 1 << 16), time: 1n },
      { dir: 1, data: opMsg(300, 30, { isWritablePrimary: true, ok: 1 }, 2), time: 2n },
      { dir: 1, data: opMsg(301, 300, { isWritablePrimary: true, ok: 1 }, 2), time: 10n },
    ]);
    expect(sessions.map((s) => [s.request_type, s.request_domain, s.response_status, s.duration_ns])).toEqual([
      ['hello', 'admin', 'ok', 1n],
      ['hello', 'admin', 'ok', 8n],
    ]);
  });

  test('split at every boundary; prefix capture keeps the command name', () => {
    const req = opMsg(40, 0, { aggregate: 'sales', pipeline: [{ $match: { x: 'y'.repeat(200) } }], cursor: {}, $db: 'bi' });
    const resp = opMsg(400, 40, { ok: 1 });
    for (let cut = 1; cut < req.length; cut += 17) {
      const s = one([...split(0, req, cut), ...split(1, resp, 5)]);
      expect([s.request_type, s.request_resource, s.request_domain]).toEqual(['aggregate', 'sales', 'bi']);
    }
    const s = one([{ dir: 0, data: req.subarray(0, 60), flags: { messageLength: req.length } }, { dir: 1, data: resp }]);
    expect([s.request_type, s.request_resource, s.request_domain, s.truncated, s.captured_request_bytes]).toEqual(['aggregate', 'sales', '', true, 60]);
  });

  test('timeouts and unsolicited replies', () => {
    const sessions: L7Session[] = [];
    const p = spec.create({ options: { ...DEFAULT_PARSER_OPTIONS, requestTimeoutNs: 100n }, emit: (s) => sessions.push(s), malformed: () => undefined });
    p.feed(0, opMsg(1, 0, { ping: 1, $db: 'admin' }), 10n, {});
    p.feed(1, opMsg(9, 77, { ok: 0, errmsg: 'x', code: 8 }), 20n, {});
    p.expire(500n);
    expect(sessions.map((s) => [s.request_type, s.request_id, s.response_status])).toEqual([
      ['', '77', 'server_error'],
      ['ping', '1', 'timeout'],
    ]);
    p.close(600n);
  });

  test('garbage is malformed; inference', () => {
    const { malformed } = runParser(spec, [{ dir: 0, data: Buffer.from('\x05\x00\x00\x00garbage-garbage!!') }]);
    expect(malformed).toEqual(['mongodb: bad frame header (request)']);
    expect(spec.infer(opMsg(1, 0, { ping: 1, $db: 'admin' }), 0, 27017)).toBe(2);
    expect(spec.infer(opQuery(1, 'admin.$cmd', { isMaster: 1 }), 0, 27017)).toBe(2);
    expect(spec.infer(opMsg(1, 5, { ok: 1 }), 1, 27017)).toBe(1);
    expect(spec.infer(opMsg(1, 5, { ok: 1 }), 0, 27017)).toBe(0);
    expect(spec.infer(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), 0, 27017)).toBe(0);
  });

  test('fuzz: 20,000 mutated and random inputs never throw and emit well-formed sessions', () => {
    const z = opMsg(20, 0, { count: 'things', $db: 'inv' }).subarray(16);
    const seeds = [
      [
        { dir: 0 as const, data: opMsg(7, 0, { find: 'users', filter: { a: [1, 'b', { c: null }] }, $db: 'shop' }, 1, [['documents', [{ a: 1 }]]]) },
        { dir: 1 as const, data: opMsg(100, 7, { n: 0, writeErrors: [{ code: 11000, errmsg: 'dup' }], ok: 1 }) },
      ],
      [
        { dir: 0 as const, data: opQuery(1, 'admin.$cmd', { isMaster: 1 }) },
        { dir: 1 as const, data: opReply(50, 1, 2, { $err: 'e', code: 2 }) },
      ],
      [{ dir: 0 as const, data: message(20, 0, 2012, concat(le32(2013), le32(z.length), Uint8Array.of(2), deflateSync(z))) }],
    ];
    const stats = fuzz(spec, seeds, 20_000, 0x6d6f6e67);
    expect(stats.firstThrow).toBe('');
    expect(stats.threw).toBe(0);
    expect(stats.badSessions).toBe(0);
    expect(stats.sessions).toBeGreaterThan(5_000);
    expect(stats.malformed).toBeGreaterThan(1_000);
  });
});
