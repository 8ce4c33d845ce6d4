import { recording } from '../testing/testkit';
import { createDnsSpec, DNS_MALFORMED, spec } from './index';
import { decodeDnsMessage, ipv6, newDnsMessage } from './message';

const harness = recording;

/** Encodes a name without compression. */
function name(n: string): number[] {
  if (n === '.') return [0];
  const out: number[] = [];
  for (const l of n.split('.')) out.push(l.length, ...Buffer.from(l, 'latin1'));
  out.push(0);
  return out;
}

const u16 = (v: number) => [v >> 8, v & 0xff];
const u32 = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

interface Rr {
  name?: number[];
  type: number;
  ttl?: number;
  cls?: number;
  rdata: number[];
}

function message(o: { id: number; qr?: boolean; rcode?: number; opcode?: number; qname?: string; qtype?: number; an?: Rr[]; ns?: Rr[]; ar?: Rr[]; tc?: boolean }): Uint8Array {
  const an = o.an ?? [];
  const ns = o.ns ?? [];
  const ar = o.ar ?? [];
  const qd = o.qname === undefined ? 0 : 1;
  const f1 = (o.qr ? 0x80 : 0) | ((o.opcode ?? 0) << 3) | (o.tc ? 2 : 0) | 1;
  const f2 = (o.qr ? 0x80 : 0) | ((o.rcode ?? 0) & 0xf);
  const out = [...u16(o.id), f1, f2, ...u16(qd), ...u16(an.length), ...u16(ns.length), ...u16(ar.length)];
  if (qd) out.push(...name(o.qname!), ...u16(o.qtype ?? 1), ...u16(1));
  for (const r of [...an, ...ns, ...ar]) {
    out.push(...(r.name ?? [0xc0, 12]), ...u16(r.type), ...u16(r.cls ?? 1), ...u32(r.ttl ?? 300), ...u16(r.rdata.length), ...r.rdata);
  }
  return Uint8Array.from(out);
}

function tcp(m: Uint8Array): Uint8Array {
  const out = new Uint8Array(m.length + 2);
  out[0] = m.length >> 8;
  out[1] = m.length & 0xff;
  out.set(m, 2);
  return out;
}

describe('DNS message decoding', () => {
  test('IPv6 text follows RFC 5952 (longest zero run compressed, lowercase)', () => {
    const a = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(ipv6(a, 0)).toBe('2001:db8::1');
    const b = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(ipv6(b, 0)).toBe('2001:db8:0:1::1');
    expect(ipv6(new Uint8Array(16), 0)).toBe('::');
    const c = Uint8Array.from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x42, 0xac, 0xff, 0xfe, 0x11, 0, 2]);
    expect(ipv6(c, 0)).toBe('fe80::242:acff:fe11:2');
  });

  test('a compression pointer to itself is rejected, not followed forever', () => {
    const m = Uint8Array.from([0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
    const d = newDnsMessage();
    expect(decodeDnsMessage(m, 0, m.length, d)).toBe(false);
  });

  test('a forward pointer and a two-pointer loop are rejected', () => {
    // Question name at 12 is a pointer to 14, which points back to 12.
    const loop = Uint8Array.from([0, 1, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 14, 0xc0, 12, 0, 1, 0, 1]);
    expect(decodeDnsMessage(loop, 0, loop.length, newDnsMessage())).toBe(false);
  });

  test('names with odd bytes are escaped as dig shows them', () => {
    const m = message({ id: 1, qname: 'a', qtype: 1 });
    // Replace label "a" with "a.b\\" bytes: length 4.
    const raw = [...m.subarray(0, 12), 4, 0x61, 0x2e, 0x00, 0x5c, 0, 0, 1, 0, 1];
    const d = newDnsMessage();
    expect(decodeDnsMessage(Uint8Array.from(raw), 0, raw.length, d)).toBe(true);
    expect(d.qname).toBe('a\\.\\000\\\\');
  });
});

describe('DNS parser', () => {
  test('pairs an A query with its answer over UDP and fills every field', () => {
    const h = harness();
    const p = spec.create(h.ctx);
    const q = message({ id: 0x1234, qname: 'www.example.com', qtype: 1, ar: [{ name: [0], type: 41, cls: 1232, ttl: 0, rdata: [] }] });
    const r = message({
      id: 0x1234,
      qr: true,
      qname: 'www.example.com',
      qtype: 1,
      an: [
        { type: 5, ttl: 60, rdata: [...name('edge.example.net')] },
        { name: name('edge.example.net'), type: 1, ttl: 30, rdata: [10, 1, 2, 3] },
      ],
    });
    p.feed(0, q, 1_000n, { datagram: true });
    p.feed(1, r, 3_500n, { datagram: true });
    expect(h.sessions).toHaveLength(1);
    const s = h.sessions[0];
    expect(s).toMatchObject({
      l7_protocol: 'DNS',
      request_type: 'A',
      request_resource: 'www.example.com',
      request_domain: 'www.example.com',
      endpoint: 'www.example.com',
      request_id: String(0x1234),
      response_code: 0,
      response_status: 'ok',
      response_exception: '',
      response_result: 'CNAME=edge.example.net TTL=60; A=10.1.2.3 TTL=30',
      request_length: q.length,
      response_length: r.length,
      captured_request_bytes: q.length,
      captured_response_bytes: r.length,
      start_time: 1_000n,
      end_time: 3_500n,
      duration_ns: 2_500n,
      truncated: false,
    });
    expect(s.attributes).toEqual({ 'dns.opcode': 'QUERY', 'dns.edns_udp_size': '1232' });
  });

  test('AAAA answers and a non-address query leave request_domain empty for SRV', () => {
    const h = harness();
    const p = spec.create(h.ctx);
    const addr = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10];
    p.feed(0, message({ id: 7, qname: 'v6.test', qtype: 28 }), 1n, { datagram: true });
    p.feed(1, message({ id: 7, qr: true, qname: 'v6.test', qtype: 28, an: [{ type: 28, ttl: 5, rdata: addr }] }), 2n, { datagram: true });
    p.feed(0, message({ id: 8, qname: '_sip._tcp.test', qtype: 33 }), 3n, { datagram: true });
    p.feed(1, message({ id: 8, qr: true, qname: '_sip._tcp.test', qtype: 33, an: [{ type: 33, ttl: 9, rdata: [0, 1, 0, 2, 0x13, 0xc4, ...name('sip.test')] }] }), 4n, { datagram: true });
    expect(h.sessions.map((s) => [s.request_type, s.request_domain, s.response_result])).toEqual([
      ['AAAA', 'v6.test', 'AAAA=2001:db8::10 TTL=5'],
      ['SRV', '', 'SRV=sip.test TTL=9'],
    ]);
  });

  test('NXDOMAIN is a client error with the SOA of the authority section; SERVFAIL and REFUSED are server errors', () => {
    const h = harness();
    const p = spec.create(h.ctx);
    const soa = [...name('ns.test'), ...name('admin.test'), ...u32(1), ...u32(2), ...u32(3), ...u32(4), ...u32(5)];
    p.feed(0, message({ id: 1, qname: 'nope.test', qtype: 1 }), 1n, { datagram: true });
    p.feed(1, message({ id: 1, qr: true, rcode: 3, qname: 'nope.test', qtype: 1, ns: [{ name: name('test'), type: 6, ttl: 900, rdata: soa }] }), 2n, { datagram: true });
    p.feed(0, message({ id: 2, qname: 'x.test', qtype: 1 }), 3n, { datagram: true });
    p.feed(1, message({ id: 2, qr: true, rcode: 2, qname: 'x.test', qtype: 1 }), 4n, { datagram: true });
    p.feed(0, message({ id: 3, qname: 'y.test', qtype: 1 }), 5n, { datagram: true });
    p.feed(1, message({ id: 3, qr: true, rcode: 5, qname: 'y.test', qtype: 1 }), 6n, { datagram: true });
    expect(h.sessions.map((s) => [s.response_code, s.response_status, s.response_exception, s.response_result])).toEqual([
      [3, 'client_error', 'NXDOMAIN', 'SOA=ns.test TTL=900'],
      [2, 'server_error', 'SERVFAIL', ''],
      [5, 'server_error', 'REFUSED', ''],
    ]);
  });

  test('NXDOMAIN under a configured suffix is ok', () => {
    const h = harness();
    const p = createDnsSpec({ nxdomainOkSuffixes: ['.svc.cluster.local'] }).create(h.ctx);
    p.feed(0, message({ id: 1, qname: 'redis.default.svc.cluster.local', qtype: 1 }), 1n, { datagram: true });
    p.feed(1, message({ id: 1, qr: true, rcode: 3, qname: 'redis.default.svc.cluster.local', qtype: 1 }), 2n, { datagram: true });
    p.feed(0, message({ id: 2, qname: 'example.com', qtype: 1 }), 3n, { datagram: true });
    p.feed(1, message({ id: 2, qr: true, rcode: 3, qname: 'example.com', qtype: 1 }), 4n, { datagram: true });
    expect(h.sessions.map((s) => [s.response_code, s.response_status])).toEqual([
      [3, 'ok'],
      [3, 'client_error'],
    ]);
  });

  test('EDNS extended RCODE bits make BADVERS (16)', () => {
    const h = harness();
    const p = spec.create(h.ctx);
    p.feed(0, message({ id: 9, qname: 'a.test', qtype: 1 }), 1n, { datagram: true });
    // OPT TTL: extended rcode 1 (<<4) → 16 with header rcode 0.
    p.feed(1, message({ id: 9, qr: true, qname: 'a.test', qtype: 1, ar: [{ name: [0], type: 41, cls: 4096, ttl: 0x01000000, rdata: [] }] }), 2n, { datagram: true });
    expect(h.sessions[0]).toMatchObject({ response_code: 16, response_status: 'server_error', response_exception: 'BADVERS' });
  });

  test('TCP: length-prefixed messages split at every byte, two queries answered out of order', () => {
    const q1 = tcp(message({ id: 11, qname: 'one.test', qtype: 1 }));
    const q2 = tcp(message({ id: 12, qname: 'two.test', qtype: 28 }));
    const r2 = tcp(message({ id: 12, qr: true, qname: 'two.test', qtype: 28 }));
    const r1 = tcp(message({ id: 11, qr: true, qname: 'one.test', qtype: 1, an: [{ type: 1, rdata: [1, 2, 3, 4] }] }));
    const h = harness();
    const p = spec.create(h.ctx);
    const reqs = Buffer.concat([q1, q2]);
    const resps = Buffer.concat([r2, r1]);
    for (let i = 0; i < reqs.length; i++) p.feed(0, reqs.subarray(i, i + 1), BigInt(i + 1), {});
    for (let i = 0; i < resps.length; i++) p.feed(1, resps.subarray(i, i + 1), 1000n + BigInt(i), {});
    expect(h.sessions.map((s) => [s.request_id, s.request_type, s.request_resource, s.response_result, s.start_time, s.captured_request_bytes])).toEqual([
      ['12', 'AAAA', 'two.test', '', BigInt(q1.length + 1), q2.length],
      ['11', 'A', 'one.test', 'A=1.2.3.4 TTL=300', 1n, q1.length],
    ]);
    expect(h.sessions[1].end_time).toBe(1000n + BigInt(resps.length - 1));
    expect(h.malformed).toEqual({});
  });

  test('an unanswered query times out after requestTimeoutNs, not before', () => {
    const h = harness({ requestTimeoutNs: 1000n });
    const p = spec.create(h.ctx);
    p.feed(0, message({ id: 5, qname: 'slow.test', qtype: 1 }), 100n, { datagram: true });
    p.expire(1099n);
    expect(h.sessions).toHaveLength(0);
    p.expire(1100n);
    expect(h.sessions).toHaveLength(1);
    expect(h.sessions[0]).toMatchObject({ response_status: 'timeout', request_resource: 'slow.test', response_code: null });
    // A late answer is then a response-only session.
    p.feed(1, message({ id: 5, qr: true, qname: 'slow.test', qtype: 1 }), 5000n, { datagram: true });
    expect(h.sessions[1]).toMatchObject({ response_status: 'ok', request_resource: 'slow.test', captured_request_bytes: 0 });
  });

  test('close turns pending queries into timeouts; overflow times out the oldest', () => {
    const h = harness({ maxPendingRequests: 2 });
    const p = spec.create(h.ctx);
    for (let i = 1; i <= 3; i++) p.feed(0, message({ id: i, qname: `q${i}.test`, qtype: 1 }), BigInt(i), { datagram: true });
    expect(h.sessions.map((s) => [s.request_id, s.response_status])).toEqual([['1', 'timeout']]);
    p.close(10n);
    expect(h.sessions.map((s) => s.request_id)).toEqual(['1', '2', '3']);
  });

  test('a query cut by the capture (messageLength) is marked truncated', () => {
    const h = harness();
    const p = spec.create(h.ctx);
    const full = message({ id: 77, qname: 'long.name.test', qtype: 16, ar: [{ name: [0], type: 41, cls: 512, rdata: [] }] });
    p.feed(0, full.subarray(0, full.length - 5), 1n, { datagram: true, messageLength: full.length });
    p.close(2n);
    expect(h.sessions[0]).toMatchObject({ request_type: 'TXT', request_resource: 'long.name.test', truncated: true, request_length: full.length, captured_request_bytes: full.length - 5 });
  });

  test('a TCP gap drops the frame in progress and resynchronises on the next frame', () => {
    const h = harness();
    const p = spec.create(h.ctx);
    const q1 = tcp(message({ id: 1, qname: 'a.test', qtype: 1, ar: [{ name: [0], type: 41, cls: 1232, rdata: [] }] }));
    const q2 = tcp(message({ id: 2, qname: 'b.test', qtype: 1 }));
    // The question arrived, the OPT record did not.
    p.feed(0, q1.subarray(0, q1.length - 5), 1n, {});
    // Bytes lost; this chunk starts in the middle of nothing useful.
    p.feed(0, Uint8Array.from([1, 2, 3]), 2n, { gap: true });
    p.feed(0, q2, 3n, {});
    p.feed(1, tcp(message({ id: 2, qr: true, qname: 'b.test', qtype: 1 })), 4n, {});
    p.close(5n);
    expect(h.sessions.map((s) => [s.request_id, s.response_status, s.truncated])).toEqual([
      ['2', 'ok', false],
      ['1', 'timeout', true],
    ]);
    expect(h.malformed[DNS_MALFORMED.frame]).toBe(1);
  });

  test('garbage is counted, not thrown', () => {
    const h = harness();
    const p = spec.create(h.ctx);
    p.feed(0, Uint8Array.from([1, 2, 3, 4]), 1n, { datagram: true });
    expect(h.malformed).toEqual({ [DNS_MALFORMED.message]: 1 });
    expect(h.sessions).toEqual([]);
  });
});

describe('DNS inference', () => {
  const q = message({ id: 3, qname: 'example.com', qtype: 1 });
  test('a UDP query is certain, a TCP-framed query too, each in its own direction only', () => {
    expect(spec.infer(q, 0, 53)).toBe(2);
    expect(spec.infer(tcp(q), 0, 53)).toBe(2);
    expect(spec.infer(q, 1, 53)).toBe(0);
    expect(spec.infer(message({ id: 3, qr: true, qname: 'example.com', qtype: 1 }), 1, 53)).toBe(2);
  });
  test('an unknown QTYPE is plausible; text and short data are not DNS', () => {
    expect(spec.infer(message({ id: 3, qname: 'example.com', qtype: 4242 }), 0, 53)).toBe(1);
    expect(spec.infer(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 0, 53)).toBe(0);
    expect(spec.infer(Uint8Array.from([0, 1, 2]), 0, 53)).toBe(0);
  });
});
