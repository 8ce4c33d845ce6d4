import { harness as newHarness } from '../testing/testkit';
import { type L7Session, type ParserOptions } from '../types';
import { NATS_MALFORMED, spec } from './index';

const harness = (options: Partial<ParserOptions> = {}) => newHarness(spec, options);

const B = (s: string) => Buffer.from(s);
const INFO = 'INFO {"server_id":"NABC","server_name":"nats-1","version":"2.10.7","go":"go1.21","host":"0.0.0.0","port":4222,"headers":true,"max_payload":1048576,"proto":1}\r\n';
const CONNECT = 'CONNECT {"verbose":true,"pedantic":false,"user":"app","pass":"s3cret-pw","name":"orders","lang":"node","version":"2.29.3","protocol":1,"headers":true}\r\n';

function row(s: L7Session) {
  return [s.request_type, s.request_resource, s.endpoint, s.response_status];
}

describe('NATS parser', () => {
  test('handshake, ping, subscribe, publish, deliver, headers with trace context, unsubscribe, errors', () => {
    const h = harness();
    h.p.feed(1, B(INFO), 1n, {});
    h.p.feed(0, B(CONNECT + 'PING\r\n'), 2n, {});
    h.p.feed(1, B('+OK\r\nPONG\r\n'), 3n, {});
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const hdr = `NATS/1.0\r\ntraceparent: ${tp}\r\nX-Request-Id: r-1\r\n\r\n`;
    const hl = Buffer.byteLength(hdr);
    h.p.feed(0, B(`SUB orders.* q1 7\r\nPUB orders.new _INBOX.abc 5\r\nhello\r\nHPUB orders.paid ${hl} ${hl + 2}\r\n${hdr}ok\r\n`), 4n, {});
    h.p.feed(1, B(`MSG orders.new 7 _INBOX.abc 5\r\nhello\r\nHMSG orders.paid 7 ${hl} ${hl + 2}\r\n${hdr}ok\r\n`), 5n, {});
    h.p.feed(0, B('UNSUB 7 10\r\nFOO bar\r\n'), 6n, {});
    h.p.feed(1, B("-ERR 'Unknown Protocol Operation'\r\n"), 7n, {});
    expect(h.malformed).toEqual({ [NATS_MALFORMED.op]: 1 });
    expect(h.sessions.map(row)).toEqual([
      ['INFO', '', '', 'ok'],
      ['OK', '', '', 'ok'],
      ['PING', '', '', 'ok'],
      ['SUB', 'orders.*', 'orders', 'ok'],
      ['PUB', 'orders.new', 'orders', 'ok'],
      ['HPUB', 'orders.paid', 'orders', 'ok'],
      ['MSG', 'orders.new', 'orders', 'ok'],
      ['HMSG', 'orders.paid', 'orders', 'ok'],
      ['UNSUB', 'orders.*', 'orders', 'ok'],
      ['ERR', '', '', 'client_error'],
    ]);
    const [info, , ping, sub, pub, hpub, msg, hmsg, unsub, err] = h.sessions;
    // INFO (from the server) is the request, CONNECT (from the client) its answer: DeepFlow's handshake pairing.
    expect(info).toMatchObject({
      request_domain: 'nats-1',
      version: '2.10.7',
      captured_request_bytes: INFO.length,
      request_length: INFO.length,
      captured_response_bytes: CONNECT.length,
      response_length: CONNECT.length,
      start_time: 1n,
      end_time: 2n,
    });
    expect(info.attributes).toMatchObject({ 'nats.client_name': 'orders', 'nats.client_lang': 'node', 'nats.verbose': 'true' });
    expect(JSON.stringify(h.sessions, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain('s3cret');
    expect(ping).toMatchObject({ start_time: 2n, end_time: 3n, captured_request_bytes: 6, captured_response_bytes: 6 });
    expect(sub.attributes).toMatchObject({ 'nats.sid': '7', 'nats.queue_group': 'q1' });
    expect(pub).toMatchObject({ request_length: 5, captured_request_bytes: Buffer.byteLength('PUB orders.new _INBOX.abc 5\r\nhello\r\n') });
    expect(pub.attributes['nats.reply_to']).toBe('_INBOX.abc');
    expect(hpub).toMatchObject({ trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7', x_request_id: 'r-1' });
    expect(msg).toMatchObject({ response_length: 5, captured_request_bytes: 0 });
    expect(msg.attributes).toMatchObject({ 'nats.sid': '7', 'nats.from_server': 'true' });
    expect(hmsg.trace_id).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(unsub.attributes['nats.max_msgs']).toBe('10');
    expect(err.response_exception).toBe('Unknown Protocol Operation');
  });

  test('a server PING is answered by the client PONG; an HMSG 503 is a server error', () => {
    const h = harness();
    h.p.feed(1, B('PING\r\n'), 1n, {});
    h.p.feed(0, B('PONG\r\n'), 2n, {});
    h.p.feed(1, B('HMSG _INBOX.x 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n'), 3n, {});
    const h408 = 'NATS/1.0 408 Request Timeout\r\n\r\n';
    h.p.feed(1, B(`HMSG _INBOX.y 1 ${h408.length} ${h408.length}\r\n${h408}\r\n`), 4n, {});
    expect(h.sessions.map((s) => [s.request_type, s.response_status, s.response_code, s.response_exception])).toEqual([
      ['PING', 'ok', null, ''],
      ['HMSG', 'server_error', 503, ''],
      ['HMSG', 'client_error', 408, 'Request Timeout'],
    ]);
    expect(h.sessions[0].attributes['nats.from_server']).toBe('true');
  });

  test('payloads split at every byte, and a 1 MB payload through a 4 KB buffer limit', () => {
    const h = harness({ maxBufferBytes: 4096 });
    const small = B('PUB a.b 11\r\nhello world\r\n');
    for (let i = 0; i < small.length; i++) h.p.feed(0, small.subarray(i, i + 1), BigInt(i + 1), {});
    const big = Buffer.concat([B('PUB big 1048576\r\n'), Buffer.alloc(1048576, 0x7a), B('\r\nPING\r\n')]);
    for (let i = 0; i < big.length; i += 1460) h.p.feed(0, big.subarray(i, i + 1460), 100n, {});
    h.p.feed(1, B('PONG\r\n'), 200n, {});
    expect(h.malformed).toEqual({});
    expect(h.sessions.map((s) => [s.request_type, s.request_resource, s.request_length, s.captured_request_bytes])).toEqual([
      ['PUB', 'a.b', 11, small.length],
      ['PUB', 'big', 1048576, big.length - 6],
      ['PING', '', 6, 6],
    ]);
    expect(h.sessions[0]).toMatchObject({ start_time: 1n, end_time: BigInt(small.length) });
  });

  test('a payload cut by the capture is truncated; a payload longer than declared is malformed', () => {
    const h = harness();
    const full = Buffer.concat([B('PUB cut 5000\r\n'), Buffer.alloc(5000), B('\r\n')]);
    h.p.feed(0, full.subarray(0, 100), 1n, { messageLength: full.length });
    h.p.feed(0, B('PUB x 2\r\nabc\r\nPING\r\n'), 2n, {});
    expect(h.malformed[NATS_MALFORMED.terminator]).toBe(1);
    h.p.close(3n);
    expect(h.sessions.map((s) => [s.request_type, s.request_resource, s.truncated, s.response_status])).toEqual([
      ['PUB', 'cut', true, 'ok'],
      ['PUB', 'x', true, 'ok'],
      ['PING', '', false, 'timeout'],
    ]);
  });

  test('after a gap the parser resumes at the next line', () => {
    const h = harness();
    h.p.feed(0, B('PUB a 100\r\npartial'), 1n, {});
    h.p.feed(0, B('tail of lost bytes\r\nPUB b 1\r\nx\r\n'), 2n, { gap: true });
    expect(h.sessions.map((s) => [s.request_resource, s.truncated])).toEqual([
      ['a', true],
      ['b', false],
    ]);
  });
});

describe('NATS inference', () => {
  test('INFO and CONNECT are certain, other operations plausible', () => {
    expect(spec.infer(B(INFO), 1, 4222)).toBe(2);
    expect(spec.infer(B(CONNECT), 0, 4222)).toBe(2);
    expect(spec.infer(B('PUB a.b 5\r\nhello\r\n'), 0, 4222)).toBe(1);
    expect(spec.infer(B('MSG a.b 1 5\r\nhello\r\n'), 1, 4222)).toBe(1);
    expect(spec.infer(B('+OK\r\n'), 1, 4222)).toBe(1);
    expect(spec.infer(B('GET / HTTP/1.1\r\n\r\n'), 0, 4222)).toBe(0);
    expect(spec.infer(B('*2\r\n$3\r\nGET\r\n'), 0, 4222)).toBe(0);
  });
});
