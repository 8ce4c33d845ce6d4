/**
 * AMQP 0-9-1 parser on hand-built frames: the connection handshake (server
 * requests), synchronous methods and their -Ok replies per channel, content
 * with trace headers, Close answering the request it interrupts, no-wait,
 * Basic.Get/GetOk/GetEmpty, Return, unsolicited replies, heartbeats, a
 * refused protocol version, timeouts, chunking, prefix captures, inference
 * and a fuzz run.
 */
import type { L7Session } from '../types';
import { DEFAULT_PARSER_OPTIONS } from '../types';
import { concat, fuzz, runParser, split } from '../testing/testkit';
import type { Step } from '../testing/testkit';
import { method } from './methods';
import { replyStatus, spec } from './index';

const enc = (s: string) => new Uint8Array(Buffer.from(s));
const u16 = (v: number) => Uint8Array.of(v >> 8, v & 0xff);
const u32 = (v: number) => Uint8Array.of(v >>> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
const u64 = (v: number) => concat(u32(Math.floor(v / 2 ** 32)), u32(v >>> 0));
const shortstr = (s: string) => concat(Uint8Array.of(Buffer.byteLength(s)), enc(s));
const longstr = (s: string) => concat(u32(Buffer.byteLength(s)), enc(s));
/** A field table of long strings (and one int, one nested table, to be skipped). */
function table(entries: Array<[string, string]>): Uint8Array {
  const parts: Uint8Array[] = [shortstr('x-int'), enc('I'), u32(7), shortstr('x-nested'), enc('F'), u32(0)];
  for (const [k, v] of entries) parts.push(shortstr(k), enc('S'), longstr(v));
  const body = concat(...parts);
  return concat(u32(body.length), body);
}

function frame(type: number, channel: number, payload: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(type), u16(channel), u32(payload.length), payload, Uint8Array.of(0xce));
}
const m = (channel: number, cls: number, mth: number, ...args: Uint8Array[]) => frame(1, channel, concat(u16(cls), u16(mth), ...args));
/** Content header: class 60, body size, flags with content-type and headers. */
const contentHeader = (channel: number, bodySize: number, headers: Array<[string, string]>) =>
  frame(2, channel, concat(u16(60), u16(0), u64(bodySize), u16(0x8000 | 0x2000), shortstr('text/plain'), table(headers)));
const body = (channel: number, text: string) => frame(3, channel, enc(text));

const PROTOCOL_HEADER = Uint8Array.of(0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1);
const TRACEPARENT = '00-55a4bf6fd4f855f258c2c1b3cdb28c83-a0e79d6007c4e7c2-01';

/** The client/server handshake up to an open channel 1 on vhost /shop. */
function handshake(): Step[] {
  return [
    { dir: 0, data: PROTOCOL_HEADER },
    { dir: 1, data: m(0, 10, 10, Uint8Array.of(0, 9), table([]), longstr('PLAIN'), longstr('en_US')) },
    { dir: 0, data: m(0, 10, 11, table([]), shortstr('PLAIN'), longstr('\0guest\0guest'), shortstr('en_US')) },
    { dir: 1, data: m(0, 10, 30, u16(2047), u32(131072), u16(60)) },
    { dir: 0, data: m(0, 10, 31, u16(2047), u32(131072), u16(60)) },
    { dir: 0, data: m(0, 10, 40, shortstr('/shop'), shortstr(''), Uint8Array.of(0)) },
    { dir: 1, data: m(0, 10, 41, shortstr('')) },
    { dir: 0, data: m(1, 20, 10, shortstr('')) },
    { dir: 1, data: m(1, 20, 11, longstr('')) },
  ];
}

const view = (s: L7Session) => [s.request_type, s.request_domain, s.request_resource, s.endpoint, s.response_code, s.response_status];

describe('AMQP parser', () => {
  test('handshake: the server asks (Start, Tune), the client answers; vhost and version recorded', () => {
    const { sessions, malformed } = runParser(spec, handshake());
    expect(malformed).toEqual([]);
    expect(sessions.map((s) => [s.request_type, s.response_status, s.attributes['amqp.sender'] ?? 'client', s.version])).toEqual([
      ['Connection.Start', 'ok', 'server', '0.9.1'],
      ['Connection.Tune', 'ok', 'server', '0.9.1'],
      ['Connection.Open', 'ok', 'client', '0.9.1'],
      ['Channel.Open', 'ok', 'client', '0.9.1'],
    ]);
    expect(sessions[3].attributes).toMatchObject({ 'amqp.vhost': '/shop', 'amqp.channel': '1' });
  });

  test('Queue.Declare with a server-named queue: the reply names it; Exchange.Declare and Queue.Bind', () => {
    const { sessions } = runParser(spec, [
      ...handshake(),
      { dir: 0, data: m(1, 50, 10, u16(0), shortstr(''), Uint8Array.of(0), table([])) },
      { dir: 1, data: m(1, 50, 11, shortstr('amq.gen-abc'), u32(0), u32(0)) },
      { dir: 0, data: m(1, 40, 10, u16(0), shortstr('orders'), shortstr('topic'), Uint8Array.of(2), table([])) },
      { dir: 1, data: m(1, 40, 11) },
      { dir: 0, data: m(1, 50, 20, u16(0), shortstr('amq.gen-abc'), shortstr('orders'), shortstr('eu.#'), Uint8Array.of(0), table([])) },
      { dir: 1, data: m(1, 50, 21) },
    ]);
    expect(sessions.slice(4).map(view)).toEqual([
      ['Queue.Declare', '', 'amq.gen-abc', 'amq.gen-abc', null, 'ok'],
      ['Exchange.Declare', 'orders', '', 'orders.', null, 'ok'],
      ['Queue.Bind', 'orders', 'amq.gen-abc', 'orders.eu.#', null, 'ok'],
    ]);
  });

  test('Basic.Publish with content: one session, trace context from the headers table, body over two frames', () => {
    const pub = m(1, 60, 40, u16(0), shortstr('orders'), shortstr('eu.new'), Uint8Array.of(0));
    const hdr = contentHeader(1, 11, [['traceparent', TRACEPARENT], ['x-request-id', 'r-9']]);
    const { sessions } = runParser(spec, [
      ...handshake(),
      { dir: 0, data: pub, time: 100_000n },
      { dir: 0, data: hdr, time: 100_100n },
      { dir: 0, data: body(1, 'hello '), time: 100_200n },
      { dir: 0, data: body(1, 'world'), time: 100_300n },
    ]);
    const s = sessions[4];
    expect(view(s)).toEqual(['Basic.Publish', 'orders', 'eu.new', 'orders.eu.new', null, 'ok']);
    expect(s).toMatchObject({
      trace_id: '55a4bf6fd4f855f258c2c1b3cdb28c83',
      span_id: 'a0e79d6007c4e7c2',
      x_request_id: 'r-9',
      request_length: pub.length + hdr.length + body(1, 'hello ').length + body(1, 'world').length,
      start_time: 100_000n,
      end_time: 100_300n,
      truncated: false,
    });
    expect(s.attributes).toMatchObject({ 'amqp.body_size': '11', 'amqp.routing_key': 'eu.new' });
  });

  test('Basic.Deliver from the server, with an empty body', () => {
    const { sessions } = runParser(spec, [
      ...handshake(),
      { dir: 1, data: concat(m(1, 60, 60, shortstr('ctag-1'), u64(1), Uint8Array.of(0), shortstr('orders'), shortstr('eu.new')), contentHeader(1, 0, [['traceparent', TRACEPARENT]])) },
    ]);
    expect(view(sessions[4])).toEqual(['Basic.Deliver', 'orders', 'eu.new', 'orders.eu.new', null, 'ok']);
    expect(sessions[4].attributes['amqp.sender']).toBe('server');
    expect(sessions[4].trace_id).toBe('55a4bf6fd4f855f258c2c1b3cdb28c83');
  });

  test('a Channel.Close with an error answers the request it interrupts; its own session then waits for CloseOk', () => {
    const closeFrame = m(1, 20, 40, u16(406), shortstr("PRECONDITION_FAILED - inequivalent arg 'type'"), u16(40), u16(10));
    const { sessions } = runParser(spec, [
      ...handshake(),
      { dir: 0, data: m(1, 40, 10, u16(0), shortstr('orders'), shortstr('direct'), Uint8Array.of(0), table([])) },
      { dir: 1, data: closeFrame },
      { dir: 0, data: m(1, 20, 41) },
    ]);
    expect(sessions.slice(4).map((s) => [...view(s), s.response_exception, s.response_result, s.attributes['amqp.sender'] ?? 'client'])).toEqual([
      ['Exchange.Declare', 'orders', '', 'orders.', 406, 'client_error', "PRECONDITION_FAILED - inequivalent arg 'type'", '', 'client'],
      ['Channel.Close', '', '', '', 406, 'ok', '', "PRECONDITION_FAILED - inequivalent arg 'type'", 'server'],
    ]);
    expect(sessions[4].response_length).toBe(closeFrame.length);
  });

  test('an error Close with nothing to blame (publish to a missing exchange) is itself the error', () => {
    const { sessions } = runParser(spec, [
      ...handshake(),
      { dir: 0, data: concat(m(1, 60, 40, u16(0), shortstr('nope'), shortstr('k'), Uint8Array.of(0)), contentHeader(1, 1, []), body(1, 'x')) },
      { dir: 1, data: m(1, 20, 40, u16(404), shortstr("NOT_FOUND - no exchange 'nope' in vhost '/shop'"), u16(60), u16(40)) },
      { dir: 0, data: m(1, 20, 41) },
    ]);
    expect(sessions.slice(4).map((s) => [s.request_type, s.response_code, s.response_status, s.response_exception])).toEqual([
      ['Basic.Publish', null, 'ok', ''],
      ['Channel.Close', 404, 'client_error', "NOT_FOUND - no exchange 'nope' in vhost '/shop'"],
    ]);
  });

  test('a Connection.Close with an error fails the requests pending on every channel', () => {
    const { sessions } = runParser(spec, [
      ...handshake(),
      { dir: 0, data: m(2, 20, 10, shortstr('')) },
      { dir: 0, data: m(1, 50, 30, u16(0), shortstr('q'), Uint8Array.of(0)) },
      { dir: 1, data: m(0, 10, 50, u16(541), shortstr('INTERNAL_ERROR'), u16(0), u16(0)) },
    ]);
    expect(sessions.slice(4).map((s) => [s.request_type, s.response_code, s.response_status])).toEqual([
      ['Channel.Open', 541, 'server_error'],
      ['Queue.Purge', 541, 'server_error'],
      ['Connection.Close', 541, 'ok'],
    ]);
  });

  test('no-wait methods get no reply: emitted at once', () => {
    const { sessions } = runParser(spec, [
      ...handshake(),
      { dir: 0, data: m(1, 50, 10, u16(0), shortstr('fast'), Uint8Array.of(0x10), table([])) },
      { dir: 0, data: m(1, 60, 20, u16(0), shortstr('fast'), shortstr('c1'), Uint8Array.of(0x08), table([])) },
      { dir: 0, data: m(1, 60, 80, u64(1), Uint8Array.of(0)) },
    ]);
    expect(sessions.slice(4).map((s) => [s.request_type, s.request_resource, s.response_status, s.response_length])).toEqual([
      ['Queue.Declare', 'fast', 'ok', null],
      ['Basic.Consume', 'fast', 'ok', null],
      ['Basic.Ack', '', 'ok', null],
    ]);
  });

  test('Basic.Get answered by GetOk with content, and by GetEmpty', () => {
    const getOk = concat(m(1, 60, 71, u64(5), Uint8Array.of(0), shortstr('ex'), shortstr('rk'), u32(3)), contentHeader(1, 2, [['traceparent', TRACEPARENT]]), body(1, 'hi'));
    const { sessions } = runParser(spec, [
      ...handshake(),
      { dir: 0, data: m(1, 60, 70, u16(0), shortstr('jobs'), Uint8Array.of(0)) },
      { dir: 1, data: getOk },
      { dir: 0, data: m(1, 60, 70, u16(0), shortstr('jobs'), Uint8Array.of(0)) },
      { dir: 1, data: m(1, 60, 72, shortstr('')) },
    ]);
    expect(sessions.slice(4).map((s) => [s.request_type, s.request_resource, s.request_domain, s.response_status, s.trace_id, s.response_length])).toEqual([
      ['Basic.Get', 'jobs', 'ex', 'ok', '55a4bf6fd4f855f258c2c1b3cdb28c83', getOk.length],
      ['Basic.Get', 'jobs', '', 'ok', '', m(1, 60, 72, shortstr('')).length],
    ]);
  });

  test('Basic.Return carries its reply code; reply-code classes', () => {
    const { sessions } = runParser(spec, [
      ...handshake(),
      { dir: 1, data: concat(m(1, 60, 50, u16(312), shortstr('NO_ROUTE'), shortstr('ex'), shortstr('nowhere')), contentHeader(1, 1, []), body(1, 'x')) },
    ]);
    expect([...view(sessions[4]), sessions[4].response_exception]).toEqual(['Basic.Return', 'ex', 'nowhere', 'ex.nowhere', 312, 'client_error', 'NO_ROUTE']);
    expect([200, 312, 404, 406, 320, 501, 530, 541].map(replyStatus)).toEqual(['ok', 'client_error', 'client_error', 'client_error', 'server_error', 'client_error', 'client_error', 'server_error']);
  });

  test('a reply without its request; heartbeats; a missing frame end; the server refusing our version', () => {
    const bad = m(1, 20, 10, shortstr(''));
    bad[bad.length - 1] = 0;
    const { sessions, malformed } = runParser(spec, [
      { dir: 1, data: m(3, 50, 11, shortstr('q9'), u32(1), u32(0)) },
      { dir: 0, data: frame(8, 0, new Uint8Array(0)) },
      { dir: 0, data: bad },
      { dir: 1, data: Uint8Array.of(0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1) },
    ]);
    expect(malformed).toEqual(['amqp: missing frame end']);
    expect(sessions.map((s) => [s.request_type, s.request_resource, s.response_status])).toEqual([
      ['Queue.Declare', 'q9', 'ok'],
      ['Protocol-Header', '', 'client_error'],
    ]);
  });

  test('timeouts: expire and close; a pending Close at the end of the connection is not a timeout', () => {
    const sessions: L7Session[] = [];
    const p = spec.create({ options: { ...DEFAULT_PARSER_OPTIONS, requestTimeoutNs: 100n }, emit: (s) => sessions.push(s), malformed: () => undefined });
    p.feed(0, m(1, 20, 10, shortstr('')), 10n, {});
    p.feed(0, m(0, 10, 50, u16(200), shortstr('bye'), u16(0), u16(0)), 150n, {});
    p.expire(200n);
    p.close(220n);
    expect(sessions.map((s) => [s.request_type, s.response_status, s.response_result])).toEqual([
      ['Channel.Open', 'timeout', ''],
      ['Connection.Close', 'ok', 'bye'],
    ]);
  });

  test('at most maxPendingRequests channels wait for replies: beyond, the oldest times out', () => {
    const opens = [1, 2, 3].map((ch) => ({ dir: 0 as const, data: m(ch, 20, 10, shortstr('')) }));
    const { sessions, malformed } = runParser(spec, [...opens, { dir: 1, data: m(3, 20, 11, longstr('')) }], { maxPendingRequests: 2 });
    expect(malformed).toEqual(['amqp: pending request limit reached']);
    expect(sessions.map((s) => [s.attributes['amqp.channel'], s.response_status])).toEqual([
      ['1', 'timeout'],
      ['3', 'ok'],
      ['2', 'timeout'],
    ]);
  });

  test('split at every boundary and a prefix-captured body', () => {
    const pub = concat(m(1, 60, 40, u16(0), shortstr('x'), shortstr('y'), Uint8Array.of(0)), contentHeader(1, 5000, [['traceparent', TRACEPARENT]]), body(1, 'z'.repeat(5000)));
    for (let cut = 1; cut < 200; cut += 7) {
      const s = runParser(spec, [...handshake(), ...split(0, pub, cut)]).sessions[4];
      expect([s.request_type, s.trace_id, s.truncated]).toEqual(['Basic.Publish', '55a4bf6fd4f855f258c2c1b3cdb28c83', false]);
    }
    const prefix = runParser(spec, [...handshake(), { dir: 0, data: pub.subarray(0, 400), flags: { messageLength: pub.length } }]).sessions[4];
    expect([prefix.request_type, prefix.trace_id, prefix.truncated]).toEqual(['Basic.Publish', '55a4bf6fd4f855f258c2c1b3cdb28c83', true]);
  });

  test('method table and inference', () => {
    expect(method(40, 40)?.reply).toBe(51);
    expect(method(60, 72)?.request).toBe(70);
    expect(method(60, 999)).toBeUndefined();
    expect(spec.infer(PROTOCOL_HEADER, 0, 5672)).toBe(2);
    expect(spec.infer(Uint8Array.of(0x41, 0x4d, 0x51, 0x50, 0, 1, 0, 0), 0, 5672)).toBe(0); // AMQP 1.0
    expect(spec.infer(m(0, 10, 10, Uint8Array.of(0, 9), table([]), longstr('PLAIN'), longstr('en_US')), 1, 5672)).toBe(2);
    expect(spec.infer(enc('GET / HTTP/1.1\r\n\r\n'), 0, 5672)).toBe(0);
  });

  test('fuzz: 20,000 mutated and random inputs never throw and emit well-formed sessions', () => {
    const hs = handshake().map((s) => ({ dir: s.dir, data: s.data }));
    const seeds = [
      hs,
      [
        { dir: 0 as const, data: concat(m(1, 60, 40, u16(0), shortstr('o'), shortstr('k'), Uint8Array.of(0)), contentHeader(1, 3, [['traceparent', TRACEPARENT]]), body(1, 'abc')) },
        { dir: 1 as const, data: m(1, 20, 40, u16(404), shortstr('NOT_FOUND'), u16(60), u16(40)) },
        { dir: 0 as const, data: m(1, 20, 41) },
      ],
      [
        { dir: 0 as const, data: m(1, 60, 70, u16(0), shortstr('jobs'), Uint8Array.of(0)) },
        { dir: 1 as const, data: concat(m(1, 60, 71, u64(5), Uint8Array.of(0), shortstr('ex'), shortstr('rk'), u32(3)), contentHeader(1, 2, []), body(1, 'hi')) },
      ],
    ];
    const stats = fuzz(spec, seeds, 20_000, 0xa3a9);
    expect(stats.firstThrow).toBe('');
    expect(stats.threw).toBe(0);
    expect(stats.badSessions).toBe(0);
    expect(stats.sessions).toBeGreaterThan(5_000);
    expect(stats.malformed).toBeGreaterThan(1_000);
  });
});
