/**
 * Dubbo parser on hand-built bytes: header, Hessian2 request bodies with
 * every kind of argument skipped on the way to the attachments, trace
 * context, Kryo and FastJson bodies, status codes, exceptions, heartbeats,
 * one-way calls, pairing, timeouts, chunking, prefix captures, inference,
 * and a fuzz run.
 */
import type { L7Session } from '../types';
import { DEFAULT_PARSER_OPTIONS } from '../types';
import { concat, fuzz, runParser, split } from '../testing/testkit';
import type { Step } from '../testing/testkit';
import { countParameterTypes, HessianReader } from './hessian';
import { dubboStatus, spec } from './index';

/** A tiny Hessian 2.0 encoder for the tests. */
class H {
  b: number[] = [];
  raw(...x: number[]): this {
    this.b.push(...x);
    return this;
  }
  str(s: string): this {
    const d = [...Buffer.from(s, 'utf8')];
    const n = s.length; // UTF-16 units
    if (n < 32) this.b.push(n);
    else if (n < 1024) this.b.push(0x30 + (n >> 8), n & 0xff);
    else this.b.push(0x53, n >> 8, n & 0xff);
    this.b.push(...d);
    return this;
  }
  int(v: number): this {
    if (v >= -16 && v <= 47) this.b.push(0x90 + v);
    else this.b.push(0x49, (v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
    return this;
  }
  map(entries: Array<[string, string]>): this {
    this.b.push(0x48);
    for (const [k, v] of entries) this.str(k).str(v);
    this.b.push(0x5a);
    return this;
  }
  get out(): Uint8Array {
    return Uint8Array.from(this.b);
  }
}

function header(flags: number, status: number, id: bigint, body: Uint8Array): Uint8Array {
  const h = new Uint8Array(16);
  h[0] = 0xda;
  h[1] = 0xbb;
  h[2] = flags;
  h[3] = status;
  new DataView(h.buffer).setBigUint64(4, id);
  new DataView(h.buffer).setUint32(12, body.length);
  return concat(h, body);
}

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** A Hessian2 request: version, service, service version, method, types, args, attachments. */
function hessianRequest(id: bigint, method: string, desc: string, args: (h: H) => void, attachments: Array<[string, string]>, flags = 0xc2): Uint8Array {
  const h = new H().str('2.0.2').str('org.example.DemoService').str('1.0.0').str(method).str(desc);
  args(h);
  h.map(attachments);
  return header(flags, 0, id, h.out);
}

function hessianResponse(id: bigint, status: number, body: (h: H) => void): Uint8Array {
  const h = new H();
  body(h);
  return header(0x02, status, id, h.out);
}

const okValue = (id: bigint) => hessianResponse(id, 20, (h) => h.raw(0x91).str('done'));

const one = (steps: Step[], opts = {}): L7Session => {
  const { sessions, malformed } = runParser(spec, steps, opts);
  expect(malformed).toEqual([]);
  expect(sessions).toHaveLength(1);
  return sessions[0];
};

describe('Dubbo parser', () => {
  test('Hessian2 request: service, method, version, attachments → trace context; paired with its OK response', () => {
    const req = hessianRequest(42n, 'sayHello', 'Ljava/lang/String;', (h) => h.str('world'), [
      ['path', 'org.example.DemoService'],
      ['traceparent', TRACEPARENT],
      ['X-Request-Id', 'rid-1'],
    ]);
    const s = one([
      { dir: 0, data: req, time: 100n },
      { dir: 1, data: okValue(42n), time: 350n },
    ]);
    expect(s).toMatchObject({
      l7_protocol: 'Dubbo',
      version: '2.0.2',
      request_type: 'sayHello',
      request_domain: 'org.example.DemoService',
      request_resource: 'org.example.DemoService',
      endpoint: 'org.example.DemoService/sayHello',
      request_id: '42',
      response_code: 20,
      response_status: 'ok',
      response_exception: '',
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      span_id: '00f067aa0ba902b7',
      x_request_id: 'rid-1',
      request_length: req.length - 16,
      captured_request_bytes: req.length,
      duration_ns: 250n,
    });
    expect(s.attributes).toMatchObject({ 'dubbo.serialization': 'hessian2', 'dubbo.service_version': '1.0.0' });
  });

  test('every kind of argument is skipped exactly: the attachments after them are the ones read', () => {
    // Argument 1 is a map holding a decoy "traceparent": a scan would find it first.
    const args = (h: H) => {
      h.raw(0x48).str('traceparent').str('decoy').raw(0x5a); // Map
      h.int(7).int(100000); // int, int
      h.raw(0x4c, 0, 0, 0, 0, 0, 0, 0, 9); // long
      h.raw(0xe5).raw(0xf8, 0x10).raw(0x3c, 1, 2).raw(0x59, 0, 0, 0, 1); // compact longs
      h.raw(0x44, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18).raw(0x5b).raw(0x5d, 3).raw(0x5e, 1, 2).raw(0x5f, 0, 0, 0, 1); // doubles
      h.raw(0x54).raw(0x46).raw(0x4e); // true, false, null
      h.raw(0x4a, 0, 0, 1, 0x7c, 0xdc, 0xce, 0x0e, 0).raw(0x4b, 0, 0, 0, 1); // dates
      h.raw(0x23, 1, 2, 3).raw(0x34, 0x02, ...new Array(2).fill(9)).raw(0x41, 0, 1, 7, 0x42, 0, 1, 8); // binaries
      h.raw(0x43).str('org.example.User').int(2).str('name').str('age'); // class def …
      h.raw(0x60).str('ann').int(30); // … and an instance by direct ref
      h.raw(0x4f, 0x90).str('bob').int(40); // 'O' instance by ref
      h.raw(0x72).str('[int').int(1).int(2); // fixed typed list of 2
      h.raw(0x79).str('x'); // fixed untyped list of 1
      h.raw(0x55).str('java.util.List').int(1).raw(0x5a); // variable typed list
      h.raw(0x57).int(1).int(2).raw(0x5a); // variable untyped list
      h.raw(0x56).str('[string').int(1).str('v').raw(0x58, 0x91).raw(0x4e); // 'V' list, 'X' list
      h.raw(0x4d).str('java.util.HashMap').str('k').raw(0x51, 0x90).raw(0x5a); // typed map with a ref value
      h.raw(0x52, 0, 2).raw(0x61, 0x62).str('cd'); // chunked string "abcd"
    };
    expect(countParameterTypes('Ljava/lang/String;I[J[[Ljava/lang/Object;Z')).toBe(5);
    expect(countParameterTypes('Ljava/lang/String')).toBe(-1);
    // Count the values written by `args` to build a matching descriptor.
    const h = new HessianReader();
    const argBytes = new H();
    args(argBytes);
    h.reset(argBytes.out, 0, argBytes.out.length);
    let values = 0;
    while (h.ok && h.pos < h.end) {
      h.skipValue();
      values++;
    }
    expect(h.ok).toBe(true);
    const exactDesc = 'Ljava/lang/Object;'.repeat(values);
    const s = one([
      { dir: 0, data: hessianRequest(1n, 'save', exactDesc, args, [['traceparent', TRACEPARENT]]) },
      { dir: 1, data: okValue(1n) },
    ]);
    expect(s.trace_id).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  test('arguments that cannot be skipped: the attachments are found by name', () => {
    // 0x40 is a reserved Hessian code: the structured walk stops there.
    const req = hessianRequest(2n, 'm', 'Ljava/lang/Object;', (h) => h.raw(0x40), [['sw8', '1-YmY5MmYzNTc3YjM0ZGE2YQ==-ZjAwNjdhYTBiYTkwMmI3-3-c2VydmljZQ==-aW5zdGFuY2U=-L2FwaQ==-YWRkcg==']]);
    const s = one([{ dir: 0, data: req }, { dir: 1, data: okValue(2n) }]);
    expect([s.trace_id, s.span_id]).toEqual(['bf92f3577b34da6a', 'f0067aa0ba902b7-3']);
  });

  test('configured extra trace headers, in any case', () => {
    const req = hessianRequest(3n, 'm', '', () => undefined, [['EagleEye-TraceID', 'abc123trace']]);
    const s = one([{ dir: 0, data: req }, { dir: 1, data: okValue(3n) }], { traceIdHeaders: ['eagleeye-traceid'] });
    expect(s.trace_id).toBe('abc123trace');
  });

  test('status codes: 20 ok, 30/40/90 client errors, 31/50/60/70/80/100 server errors; the error message is the exception', () => {
    expect([20, 30, 31, 40, 50, 60, 70, 80, 90, 100, 7].map(dubboStatus)).toEqual([
      'ok', 'client_error', 'server_error', 'client_error', 'server_error', 'server_error', 'server_error', 'server_error', 'client_error', 'server_error', 'unknown',
    ]);
    const s = one([
      { dir: 0, data: hessianRequest(5n, 'm', '', () => undefined, []) },
      { dir: 1, data: hessianResponse(5n, 70, (h) => h.str('java.lang.RuntimeException: boom')) },
    ]);
    expect(s).toMatchObject({ response_code: 70, response_status: 'server_error', response_exception: 'java.lang.RuntimeException: boom' });
    const t = one([
      { dir: 0, data: hessianRequest(6n, 'm', '', () => undefined, []) },
      { dir: 1, data: header(0x02, 40, 6n, new Uint8Array(0)) },
    ]);
    expect(t).toMatchObject({ response_code: 40, response_status: 'client_error', response_exception: 'BAD_REQUEST' });
  });

  test('status 20 carrying an exception: the provider threw — server_error with the exception class', () => {
    const s = one([
      { dir: 0, data: hessianRequest(7n, 'm', '', () => undefined, []) },
      { dir: 1, data: hessianResponse(7n, 20, (h) => h.raw(0x90).raw(0x43).str('java.lang.IllegalStateException').int(1).str('detailMessage').raw(0x60).str('bad state')) },
    ]);
    expect(s).toMatchObject({ response_code: 20, response_status: 'server_error', response_exception: 'java.lang.IllegalStateException' });
  });

  test('heartbeats (event flag) and one-way calls', () => {
    const { sessions } = runParser(spec, [
      { dir: 0, data: header(0xe2, 0, 9n, Uint8Array.of(0x4e)) },
      { dir: 1, data: header(0x22, 20, 9n, Uint8Array.of(0x4e)) },
      { dir: 0, data: hessianRequest(10n, 'notify', '', () => undefined, [], 0x82) },
    ]);
    expect(sessions.map((s) => [s.request_type, s.response_status, s.response_code, s.attributes['dubbo.event'] ?? ''])).toEqual([
      ['Heartbeat', 'ok', 20, '1'],
      ['notify', 'ok', null, ''],
    ]);
  });

  test('Kryo and FastJson bodies give service, method and version', () => {
    const ascii = (s: string) => [...Buffer.from(s.slice(0, -1)), s.charCodeAt(s.length - 1) | 0x80];
    const kryo = header(0xc8, 0, 11n, Uint8Array.from([...ascii('2.8.4'), ...ascii('com.a.Svc'), ...ascii('1.0.0'), ...ascii('doIt'), 0x01]));
    const json = header(0xc6, 0, 12n, Buffer.from('"2.0.2"\n"com.b.Svc"\n"0.0.0"\n"run"\n"[]"\n'));
    const { sessions } = runParser(spec, [
      { dir: 0, data: kryo },
      { dir: 1, data: header(0x08, 20, 11n, Uint8Array.of(1)) },
      { dir: 0, data: json },
      { dir: 1, data: header(0x06, 20, 12n, Buffer.from('1\n')) },
    ]);
    expect(sessions.map((s) => [s.version, s.request_domain, s.request_type, s.attributes['dubbo.serialization'], s.attributes['dubbo.service_version']])).toEqual([
      ['2.8.4', 'com.a.Svc', 'doIt', 'kryo', '1.0.0'],
      ['2.0.2', 'com.b.Svc', 'run', 'fastjson', '0.0.0'],
    ]);
  });

  test('request ids beyond 2^53 print exactly', () => {
    const id = 0x7fff_ffff_ffff_fff0n;
    const s = one([{ dir: 0, data: hessianRequest(id, 'm', '', () => undefined, []) }, { dir: 1, data: okValue(id) }]);
    expect(s.request_id).toBe(id.toString());
  });

  test('pairing by request id, timeouts, unsolicited responses', () => {
    const sessions: L7Session[] = [];
    const p = spec.create({ options: { ...DEFAULT_PARSER_OPTIONS, requestTimeoutNs: 1000n }, emit: (s) => sessions.push(s), malformed: () => undefined });
    p.feed(0, concat(hessianRequest(1n, 'a', '', () => undefined, []), hessianRequest(2n, 'b', '', () => undefined, [])), 10n, {});
    p.feed(1, okValue(2n), 20n, {});
    p.feed(1, okValue(99n), 30n, {});
    p.expire(2000n);
    p.close(2001n);
    expect(sessions.map((s) => [s.request_id, s.request_type, s.response_status])).toEqual([
      ['2', 'b', 'ok'],
      ['99', '', 'ok'],
      ['1', 'a', 'timeout'],
    ]);
  });

  test('split at every boundary, and prefix captures', () => {
    const req = hessianRequest(4n, 'chunky', 'I', (h) => h.int(1), [['traceparent', TRACEPARENT]]);
    for (let cut = 1; cut < req.length; cut += 5) {
      const s = one([...split(0, req, cut), { dir: 1, data: okValue(4n) }]);
      expect([s.request_type, s.trace_id]).toEqual(['chunky', '4bf92f3577b34da6a3ce929d0e0e4736']);
    }
    const s = one([{ dir: 0, data: req.subarray(0, 60), flags: { messageLength: req.length } }, { dir: 1, data: okValue(4n) }]);
    expect([s.request_type, s.truncated, s.captured_request_bytes, s.trace_id]).toEqual(['chunky', true, 60, '']);
  });

  test('garbage is malformed, never a throw; inference wants the magic', () => {
    const { sessions, malformed } = runParser(spec, [{ dir: 0, data: Buffer.from('hello world, not dubbo') }]);
    expect(sessions).toEqual([]);
    expect(malformed).toEqual(['dubbo: bad frame header (request)']);
    expect(spec.infer(hessianRequest(1n, 'm', '', () => undefined, []), 0, 20880)).toBe(2);
    expect(spec.infer(okValue(1n), 1, 20880)).toBe(2);
    expect(spec.infer(Buffer.from('GET / HTTP/1.1\r\n\r\n'), 0, 20880)).toBe(0);
  });

  test('fuzz: 20,000 mutated and random inputs never throw and emit well-formed sessions', () => {
    const seeds = [
      [
        { dir: 0 as const, data: hessianRequest(42n, 'sayHello', 'Ljava/lang/String;I', (h) => h.str('w').int(3), [['traceparent', TRACEPARENT]]) },
        { dir: 1 as const, data: okValue(42n) },
      ],
      [
        { dir: 0 as const, data: hessianRequest(1n, 'm', 'Ljava/lang/Object;', (h) => h.raw(0x43).str('C').int(1).str('f').raw(0x60).raw(0x72).str('[int').int(1).int(2), [['sw8', 'x']]) },
        { dir: 1 as const, data: hessianResponse(1n, 20, (h) => h.raw(0x90).raw(0x43).str('E').int(0).raw(0x60)) },
      ],
      [{ dir: 0 as const, data: header(0xc8, 0, 11n, Buffer.from('2.8.\xb4com.Sv\xe3')) }],
    ];
    const stats = fuzz(spec, seeds, 20_000, 0xd0bb0);
    expect(stats.firstThrow).toBe('');
    expect(stats.threw).toBe(0);
    expect(stats.badSessions).toBe(0);
    expect(stats.sessions).toBeGreaterThan(5_000);
    expect(stats.malformed).toBeGreaterThan(1_000);
  });
});
