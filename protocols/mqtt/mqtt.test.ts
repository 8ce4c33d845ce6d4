import { harness as newHarness } from '../testing/testkit';
import { type L7Session, type ParserOptions } from '../types';
import { MQTT_MALFORMED, spec } from './index';

const harness = (options: Partial<ParserOptions> = {}) => newHarness(spec, options);

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}
const str = (s: string) => {
  const b = Buffer.from(s);
  return [b.length >> 8, b.length & 0xff, ...b];
};
const u16 = (v: number) => [v >> 8, v & 0xff];
function pkt(first: number, body: number[] | Buffer): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  return Buffer.concat([Buffer.from([first, ...varint(b.length)]), b]);
}
/** MQTT 5 properties: [id, ...value bytes]. */
function props(...items: number[][]): number[] {
  const flat = items.flat();
  return [...varint(flat.length), ...flat];
}

const CONNECT_V4 = pkt(0x10, [...str('MQTT'), 4, 0xc2, ...u16(60), ...str('client-7'), ...str('alice'), ...str('hunter2')]);
const CONNECT_V5 = pkt(0x10, [...str('MQTT'), 5, 0xc2, ...u16(30), ...props(), ...str('v5-client'), ...str('bob'), ...str('pa55word')]);

function row(s: L7Session) {
  return [s.request_type, s.request_resource, s.request_id, s.response_status, s.response_code];
}

describe('MQTT parser', () => {
  test('a 3.1.1 session: connect, subscribe, QoS 0/1/2 publishes, ping, unsubscribe, disconnect', () => {
    const h = harness();
    const c = Buffer.concat([
      CONNECT_V4,
      pkt(0x82, [...u16(1), ...str('a/+'), 1, ...str('b/#'), 0]),
      pkt(0x30, [...str('a/x'), ...Buffer.from('zero')]),
      pkt(0x32, [...str('a/y'), ...u16(2), ...Buffer.from('one')]),
      pkt(0x34, [...str('a/z'), ...u16(3), ...Buffer.from('two')]),
    ]);
    const s = Buffer.concat([pkt(0x20, [0, 0]), pkt(0x90, [...u16(1), 1, 0]), pkt(0x40, u16(2)), pkt(0x50, u16(3))]);
    // Every byte its own chunk: framing must not depend on chunk boundaries.
    let t = 1n;
    for (let i = 0; i < c.length; i++) h.p.feed(0, c.subarray(i, i + 1), t++, {});
    for (let i = 0; i < s.length; i++) h.p.feed(1, s.subarray(i, i + 1), t++, {});
    h.p.feed(0, Buffer.concat([pkt(0x62, u16(3)), pkt(0xc0, []), pkt(0xa2, [...u16(4), ...str('a/+')])]), t++, {});
    h.p.feed(1, Buffer.concat([pkt(0x70, u16(3)), pkt(0xd0, []), pkt(0xb0, u16(4))]), t++, {});
    h.p.feed(0, pkt(0xe0, []), t++, {});
    expect(h.malformed).toEqual({});
    expect(h.sessions.map(row)).toEqual([
      ['PUBLISH', 'a/x', '', 'ok', null],
      ['CONNECT', '', '', 'ok', 0],
      ['SUBSCRIBE', 'a/+,b/#', '1', 'ok', null],
      ['PUBLISH', 'a/y', '2', 'ok', null],
      ['PUBLISH', 'a/z', '3', 'ok', null],
      ['PUBREL', '', '3', 'ok', null],
      ['PINGREQ', '', '', 'ok', null],
      ['UNSUBSCRIBE', 'a/+', '4', 'ok', null],
      ['DISCONNECT', '', '', 'ok', null],
    ]);
    const connect = h.sessions[1];
    expect(connect).toMatchObject({ request_domain: 'client-7', version: '3.1.1', request_length: CONNECT_V4.length - 2, response_length: 2 });
    expect(h.sessions.every((x) => x.version === '3.1.1' && x.attributes['mqtt.client_id'] === 'client-7')).toBe(true);
    expect(h.sessions.filter((x) => x.request_domain !== '').map((x) => x.request_type)).toEqual(['CONNECT']);
    expect(h.sessions[2].response_result).toBe('1,0');
    expect(h.sessions[3].attributes['mqtt.qos']).toBe('1');
    // Credentials are never kept.
    const all = JSON.stringify(h.sessions, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
    expect(all).not.toContain('hunter2');
    expect(all).not.toContain('alice');
  });

  test('CONNACK return codes of 3.1.1: 5 is a client error, 3 a server error', () => {
    for (const [code, status, text] of [
      [5, 'client_error', 'not authorized'],
      [3, 'server_error', 'server unavailable'],
      [1, 'client_error', 'unacceptable protocol version'],
    ] as const) {
      const h = harness();
      h.p.feed(0, CONNECT_V4, 1n, {});
      h.p.feed(1, pkt(0x20, [0, code]), 2n, {});
      expect(h.sessions[0]).toMatchObject({ request_type: 'CONNECT', response_code: code, response_status: status, response_exception: text });
    }
  });

  test('MQTT 5: reason codes and strings, user properties carrying a traceparent, topic aliases', () => {
    const h = harness();
    h.p.feed(0, CONNECT_V5, 1n, {});
    h.p.feed(1, pkt(0x20, [0, 0, ...props([0x22, ...u16(10)])]), 2n, {});
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    h.p.feed(0, pkt(0x32, [...str('sensors/t1'), ...u16(7), ...props([0x23, ...u16(1)], [0x26, ...str('traceparent'), ...str(tp)], [0x26, ...str('x-request-id'), ...str('req-42')]), ...Buffer.from('21.5')]), 3n, {});
    h.p.feed(1, pkt(0x40, [...u16(7), 0x10, ...props()]), 4n, {});
    // The alias alone names the topic now.
    h.p.feed(0, pkt(0x32, [...str(''), ...u16(8), ...props([0x23, ...u16(1)]), ...Buffer.from('21.6')]), 5n, {});
    h.p.feed(1, pkt(0x40, [...u16(8), 0x87, ...props([0x1f, ...str('no publish rights')])]), 6n, {});
    h.p.feed(0, pkt(0x82, [...u16(9), ...props(), ...str('secret/#'), 1]), 7n, {});
    h.p.feed(1, pkt(0x90, [...u16(9), ...props(), 0x97]), 8n, {});
    h.p.feed(1, pkt(0xe0, [0x8b, ...props()]), 9n, {});
    expect(h.malformed).toEqual({});
    expect(h.sessions.map((s) => [...row(s), s.response_exception, s.version])).toEqual([
      ['CONNECT', '', '', 'ok', 0, '', '5.0'],
      ['PUBLISH', 'sensors/t1', '7', 'ok', 16, '', '5.0'],
      ['PUBLISH', 'sensors/t1', '8', 'client_error', 0x87, 'no publish rights', '5.0'],
      ['SUBSCRIBE', 'secret/#', '9', 'client_error', 0x97, 'Quota exceeded', '5.0'],
      ['DISCONNECT', '', '', 'server_error', 0x8b, 'Server shutting down', '5.0'],
    ]);
    expect(h.sessions[1]).toMatchObject({ trace_id: '0af7651916cd43dd8448eb211c80319c', span_id: 'b7ad6b7169203331', x_request_id: 'req-42' });
    expect(h.sessions[2].attributes['mqtt.topic_alias']).toBe('1');
    expect(h.sessions[4].attributes['mqtt.from_server']).toBe('true');
    const all = JSON.stringify(h.sessions, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
    expect(all).not.toContain('pa55word');
  });

  test('a broker publish to the client is paired with the client ack', () => {
    const h = harness();
    h.p.feed(0, CONNECT_V4, 1n, {});
    h.p.feed(1, Buffer.concat([pkt(0x20, [0, 0]), pkt(0x32, [...str('news'), ...u16(5), ...Buffer.from('hi')])]), 2n, {});
    h.p.feed(0, pkt(0x40, u16(5)), 3n, {});
    expect(h.sessions[1]).toMatchObject({ request_type: 'PUBLISH', request_resource: 'news', request_id: '5', response_status: 'ok', start_time: 2n, end_time: 3n });
    expect(h.sessions[1].attributes['mqtt.from_server']).toBe('true');
  });

  test('a 1 MB publish streams through a 4 KB buffer limit; a prefix capture keeps its topic', () => {
    const h = harness({ maxBufferBytes: 4096 });
    const big = pkt(0x32, Buffer.concat([Buffer.from([...str('big/topic'), ...u16(1)]), Buffer.alloc(1 << 20, 0x55)]));
    for (let i = 0, t = 1n; i < big.length; i += 1400, t++) h.p.feed(0, big.subarray(i, i + 1400), t, {});
    h.p.feed(1, pkt(0x40, u16(1)), 10_000n, {});
    const cut = pkt(0x30, Buffer.concat([Buffer.from(str('cut/topic')), Buffer.alloc(50_000)]));
    h.p.feed(0, cut.subarray(0, 300), 10_001n, { messageLength: cut.length });
    h.p.feed(0, pkt(0xc0, []), 10_002n, {});
    h.p.feed(1, pkt(0xd0, []), 10_003n, {});
    expect(h.malformed).toEqual({});
    expect(h.sessions.map((s) => [s.request_type, s.request_resource, s.truncated, s.captured_request_bytes])).toEqual([
      ['PUBLISH', 'big/topic', false, big.length],
      ['PUBLISH', 'cut/topic', true, 300],
      ['PINGREQ', '', false, 2],
    ]);
  });

  test('unacknowledged QoS 1 publishes time out; an ack without its publish is reported alone', () => {
    const h = harness({ requestTimeoutNs: 100n });
    h.p.feed(0, pkt(0x32, [...str('t'), ...u16(1)]), 10n, {});
    h.p.feed(0, pkt(0x32, [...str('t'), ...u16(2)]), 50n, {});
    h.p.expire(110n);
    h.p.feed(1, pkt(0x40, u16(99)), 120n, {});
    h.p.close(200n);
    expect(h.sessions.map(row)).toEqual([
      ['PUBLISH', 't', '1', 'timeout', null],
      ['PUBACK', '', '99', 'ok', null],
      ['PUBLISH', 't', '2', 'timeout', null],
    ]);
  });

  test('garbage is counted and the parser resumes at the next chunk that starts with a packet', () => {
    const h = harness();
    h.p.feed(0, Buffer.from([0x00, 1, 2, 3]), 1n, {});
    h.p.feed(0, Buffer.from([0xff, 0xff]), 2n, {});
    h.p.feed(0, pkt(0xc0, []), 3n, {});
    h.p.feed(1, pkt(0xd0, []), 4n, {});
    expect(h.malformed[MQTT_MALFORMED.header]).toBe(2);
    expect(h.sessions.map((s) => s.request_type)).toEqual(['PINGREQ']);
  });
});

describe('MQTT inference', () => {
  test('CONNECT is certain; well-formed later packets plausible; DNS over TCP is not MQTT', () => {
    expect(spec.infer(CONNECT_V4, 0, 1883)).toBe(2);
    expect(spec.infer(CONNECT_V5, 0, 1883)).toBe(2);
    expect(spec.infer(pkt(0x30, [...str('a/b'), 1, 2]), 0, 1883)).toBe(1);
    expect(spec.infer(pkt(0x20, [0, 0]), 0, 1883)).toBe(0);
    // deepflow mqtt_error.pcap: a DNS query that DeepFlow took for a CONNACK.
    const dns = Buffer.from('209c01000001000000000000067a69706b696e0c697374696f2d73797374656d0764656661756c740373766307636c7573746572056c6f63616c0000010001', 'hex');
    expect(spec.infer(dns, 0, 53)).toBe(0);
    expect(spec.infer(dns, 1, 53)).toBe(0);
  });
});
