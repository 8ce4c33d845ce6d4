import { L7Connection } from '../detector';
import { spec as http1Spec } from '../http1';
import type { L7Session, ParserContext } from '../types';
import { DEFAULT_PARSER_OPTIONS } from '../types';
import { spec } from './index';
import {
  CONTINUATION,
  DATA,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  FLAG_PADDED,
  FLAG_PRIORITY,
  GOAWAY,
  HEADERS,
  Http2Parser,
  inferHttp2,
  PING,
  PREFACE,
  PUSH_PROMISE,
  RST_STREAM,
  SETTINGS,
  WINDOW_UPDATE,
} from './parser';
import { essentials, frame, hpackBlock, literalBlock, runSteps, splitSteps, type Step } from './testkit';

const create = (ctx: ParserContext) => new Http2Parser(ctx);
const run = (steps: Step[], options = {}) => runSteps(create, steps, options);

const u32 = (...n: number[]) => {
  const b = Buffer.alloc(4 * n.length);
  n.forEach((v, i) => b.writeUInt32BE(v >>> 0, 4 * i));
  return b;
};
const settings = (...pairs: Array<[number, number]>) => {
  const b = Buffer.alloc(6 * pairs.length);
  pairs.forEach(([id, v], i) => {
    b.writeUInt16BE(id, 6 * i);
    b.writeUInt32BE(v, 6 * i + 2);
  });
  return frame(SETTINGS, 0, 0, b);
};
const clientStart = () => Buffer.concat([PREFACE, settings([3, 100], [4, 65535]), frame(WINDOW_UPDATE, 0, 0, u32(1 << 20))]);
const serverStart = () => Buffer.concat([settings([3, 250]), frame(SETTINGS, 1, 0)]);
const reqBlock = (path: string, extra: Array<[string, string]> = [], method = 'GET') =>
  literalBlock([[':method', method], [':scheme', 'http'], [':path', path], [':authority', 'svc.example:8080'], ...extra]);
const grpcReq = (path: string, extra: Array<[string, string]> = []) =>
  literalBlock([[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', 'grpc.example:50051'], ['content-type', 'application/grpc'], ['te', 'trailers'], ...extra]);
const grpcMsg = (bytes: number) => Buffer.concat([Buffer.from([0]), u32(bytes), Buffer.alloc(bytes, 7)]);
const grpcRespHeaders = () => literalBlock([[':status', '200'], ['content-type', 'application/grpc']]);
const trailers = (code: number, message?: string) => literalBlock([['grpc-status', String(code)], ...(message !== undefined ? ([['grpc-message', message]] as Array<[string, string]>) : [])]);

describe('HTTP/2 streams', () => {
  it('parses a request and response with every session field', () => {
    const steps: Step[] = [
      [0, Buffer.concat([clientStart(), frame(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, reqBlock('/api/items/77?page=2', [['user-agent', 'h2load'], ['traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'], ['x-request-id', 'abc']]))])],
      [1, Buffer.concat([serverStart(), frame(HEADERS, FLAG_END_HEADERS, 1, literalBlock([[':status', '200'], ['content-type', 'text/html'], ['content-length', '11']])), frame(DATA, 0, 1, Buffer.from('hello '))])],
      [1, frame(DATA, FLAG_END_STREAM, 1, Buffer.from('world'))],
    ];
    const { sessions, malformed } = run(steps);
    expect(malformed).toEqual({});
    expect(sessions.map(essentials)).toEqual([
      {
        l7_protocol: 'HTTP2',
        version: '2',
        request_type: 'GET',
        request_domain: 'svc.example:8080',
        request_resource: '/api/items/77?page=2',
        endpoint: '/api/items/{id}',
        request_id: '1',
        response_code: 200,
        response_status: 'ok',
        response_exception: '',
        trace_id: '0af7651916cd43dd8448eb211c80319c',
        span_id: 'b7ad6b7169203331',
        x_request_id: 'abc',
        request_length: 0,
        response_length: 11,
        captured_request_bytes: (steps[0][1] as Buffer).length - clientStart().length,
        captured_response_bytes: (steps[1][1] as Buffer).length - serverStart().length + 9 + 5,
        truncated: false,
        attributes: { user_agent: 'h2load', content_type: 'text/html' },
      },
    ]);
    expect(sessions[0].start_time).toBe(1_001_000_000n);
    expect(sessions[0].end_time).toBe(1_003_000_000n);
    // Byte-by-byte and odd chunk sizes give the same result.
    expect(run(splitSteps(steps, 1)).sessions.map(essentials)).toEqual(sessions.map(essentials));
    expect(run(splitSteps(steps, 13)).sessions.map(essentials)).toEqual(sessions.map(essentials));
  });

  it('assembles header blocks from HEADERS + CONTINUATION frames, with padding and priority', () => {
    const block = reqBlock('/continued', [['x-long', 'v'.repeat(300)], ['x-request-id', 'cont-1']]);
    const a = block.subarray(0, 10);
    const b = block.subarray(10, 200);
    const c = block.subarray(200);
    const padded = Buffer.concat([Buffer.from([3]), Buffer.from([0x80, 0, 0, 0, 15]), a, Buffer.alloc(3)]);
    const steps: Step[] = [
      [0, Buffer.concat([PREFACE, frame(HEADERS, FLAG_PADDED | FLAG_PRIORITY | FLAG_END_STREAM, 1, padded), frame(CONTINUATION, 0, 1, b), frame(CONTINUATION, FLAG_END_HEADERS, 1, c)])],
      [1, Buffer.concat([frame(HEADERS, FLAG_END_HEADERS, 1, hpackBlock([{ indexed: 8 }])), frame(DATA, FLAG_PADDED | FLAG_END_STREAM, 1, Buffer.concat([Buffer.from([4]), Buffer.from('body'), Buffer.alloc(4)]))])],
    ];
    const { sessions, malformed } = run(steps);
    expect(malformed).toEqual({});
    expect(sessions.map((s) => [s.request_resource, s.x_request_id, s.response_code, s.response_length, s.request_length])).toEqual([['/continued', 'cont-1', 200, 4, 0]]);
    expect(run(splitSteps(steps, 3)).sessions.map(essentials)).toEqual(sessions.map(essentials));
  });

  it('pairs many concurrent interleaved streams by stream id', () => {
    const n = 60;
    const ids = Array.from({ length: n }, (_, i) => 1 + 2 * i);
    const reqs = Buffer.concat([clientStart(), ...ids.map((id) => frame(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, id, reqBlock(`/stream/${id}`)))]);
    // Responses in reverse order, their DATA interleaved across streams.
    const rev = [...ids].reverse();
    const heads = rev.map((id) => frame(HEADERS, FLAG_END_HEADERS, id, literalBlock([[':status', String(200 + (id % 7))]])));
    const data1 = rev.map((id) => frame(DATA, 0, id, Buffer.alloc(id % 5)));
    const data2 = ids.map((id) => frame(DATA, FLAG_END_STREAM, id, Buffer.alloc(3)));
    const { sessions, malformed } = run([
      [0, reqs],
      [1, Buffer.concat([serverStart(), ...heads, ...data1])],
      [1, Buffer.concat(data2)],
    ]);
    expect(malformed).toEqual({});
    expect(sessions).toHaveLength(n);
    const byId = new Map(sessions.map((s) => [s.request_id, s]));
    for (const id of ids) {
      const s = byId.get(String(id))!;
      expect([s.request_resource, s.response_code, s.response_length]).toEqual([`/stream/${id}`, 200 + (id % 7), (id % 5) + 3]);
    }
  });

  it('follows the dynamic table across requests (incremental indexing, Huffman)', () => {
    const first = hpackBlock([
      { indexed: 2 },
      { indexed: 6 },
      { name: 4, value: '/users/1', index: 'incremental', huffman: true },
      { name: 1, value: 'dyn.example', index: 'incremental', huffman: true },
      { name: 'x-tenant', value: 'acme', index: 'incremental', huffman: true },
    ]);
    // Second request: :authority and x-tenant from the table (62 = x-tenant, 63 = authority, 64 = path).
    const second = hpackBlock([{ indexed: 2 }, { indexed: 6 }, { name: 4, value: '/users/2', huffman: true }, { indexed: 63 }, { indexed: 62 }]);
    const third = hpackBlock([{ indexed: 2 }, { indexed: 6 }, { indexed: 64 }, { indexed: 63 }]);
    const { sessions } = run([
      [0, Buffer.concat([PREFACE, frame(HEADERS, 5, 1, first), frame(HEADERS, 5, 3, second), frame(HEADERS, 5, 5, third)])],
      [1, Buffer.concat([1, 3, 5].map((id) => frame(HEADERS, 5, id, hpackBlock([{ indexed: 13 }]))))],
    ]);
    expect(sessions.map((s) => [s.request_id, s.request_domain, s.request_resource, s.response_code, s.response_status])).toEqual([
      ['1', 'dyn.example', '/users/1', 404, 'client_error'],
      ['3', 'dyn.example', '/users/2', 404, 'client_error'],
      ['5', 'dyn.example', '/users/1', 404, 'client_error'],
    ]);
  });

  it('ends streams at RST_STREAM: a client cancel is a client error, a server refusal a server error', () => {
    const { sessions } = run([
      [0, Buffer.concat([PREFACE, frame(HEADERS, 5, 1, reqBlock('/cancelled')), frame(HEADERS, 5, 3, reqBlock('/refused')), frame(HEADERS, 5, 5, reqBlock('/done'))])],
      [0, frame(RST_STREAM, 0, 1, u32(8))],
      [1, Buffer.concat([frame(RST_STREAM, 0, 3, u32(7)), frame(HEADERS, 5, 5, hpackBlock([{ indexed: 8 }])), frame(RST_STREAM, 0, 5, u32(0))])],
    ]);
    expect(sessions.map((s) => [s.request_resource, s.response_code, s.response_status, s.response_exception])).toEqual([
      ['/cancelled', null, 'client_error', 'RST_STREAM CANCEL'],
      ['/refused', null, 'server_error', 'RST_STREAM REFUSED_STREAM'],
      ['/done', 200, 'ok', ''],
    ]);
  });

  it('reports streams above GOAWAY last-stream-id as not processed', () => {
    const { sessions } = run([
      [0, Buffer.concat([PREFACE, ...[1, 3, 5, 7].map((id) => frame(HEADERS, 5, id, reqBlock(`/g${id}`)))])],
      [1, Buffer.concat([frame(GOAWAY, 0, 0, u32(3, 0)), frame(HEADERS, 5, 1, hpackBlock([{ indexed: 8 }])), frame(HEADERS, 5, 3, hpackBlock([{ indexed: 14 }]))])],
      [0, frame(GOAWAY, 0, 0, u32(0, 2))],
    ]);
    expect(sessions.map((s) => [s.request_resource, s.response_code, s.response_status, s.response_exception])).toEqual([
      ['/g5', null, 'unknown', 'GOAWAY NO_ERROR'],
      ['/g7', null, 'unknown', 'GOAWAY NO_ERROR'],
      ['/g1', 200, 'ok', ''],
      ['/g3', 500, 'server_error', ''],
    ]);
  });

  it('records server push as a session of the promised stream', () => {
    const { sessions } = run([
      [0, Buffer.concat([PREFACE, frame(HEADERS, 5, 1, reqBlock('/index.html'))])],
      [
        1,
        Buffer.concat([
          frame(PUSH_PROMISE, FLAG_END_HEADERS, 1, Buffer.concat([u32(2), reqBlock('/style.css')])),
          frame(HEADERS, 4, 1, hpackBlock([{ indexed: 8 }])),
          frame(DATA, 1, 1, Buffer.from('<html>')),
          frame(HEADERS, 4, 2, hpackBlock([{ indexed: 8 }])),
          frame(DATA, 1, 2, Buffer.from('body{}')),
        ]),
      ],
    ]);
    expect(sessions.map((s) => [s.request_id, s.request_resource, s.response_code, s.response_length])).toEqual([
      ['1', '/index.html', 200, 6],
      ['2', '/style.css', 200, 6],
    ]);
  });

  it('times out streams without response and closes streams whose response never ended', () => {
    const sessions: L7Session[] = [];
    const p = new Http2Parser({ options: { ...DEFAULT_PARSER_OPTIONS, requestTimeoutNs: 1_000_000_000n }, emit: (s) => sessions.push(s), malformed: () => undefined });
    p.feed(0, Buffer.concat([PREFACE, frame(HEADERS, 5, 1, reqBlock('/slow')), frame(HEADERS, 5, 3, reqBlock('/half'))]), 1_000_000_000n, {});
    p.feed(1, Buffer.concat([frame(HEADERS, 4, 3, hpackBlock([{ indexed: 8 }])), frame(DATA, 0, 3, Buffer.from('par'))]), 1_500_000_000n, {});
    p.expire(2_100_000_000n);
    expect(sessions.map((s) => [s.request_resource, s.response_status, s.truncated])).toEqual([['/slow', 'timeout', false]]);
    p.close(2_200_000_000n);
    expect(sessions.map((s) => [s.request_resource, s.response_status, s.response_length, s.truncated])).toEqual([
      ['/slow', 'timeout', null, false],
      ['/half', 'ok', 3, true],
    ]);
  });

  it('bounds open streams: the oldest gives way', () => {
    const { sessions, malformed } = run([[0, Buffer.concat([PREFACE, ...[1, 3, 5, 7, 9].map((id) => frame(HEADERS, 5, id, reqBlock(`/b${id}`)))])]], { maxPendingRequests: 2 });
    expect(malformed['http2: too many open streams']).toBe(3);
    expect(sessions.map((s) => s.request_resource)).toEqual(['/b1', '/b3', '/b5', '/b7', '/b9']);
  });
});

describe('gRPC', () => {
  it('reports unary calls with package.Service/Method and grpc-status from trailers', () => {
    const steps: Step[] = [
      [0, Buffer.concat([clientStart(), frame(HEADERS, FLAG_END_HEADERS, 1, grpcReq('/helloworld.Greeter/SayHello')), frame(DATA, FLAG_END_STREAM, 1, grpcMsg(10))])],
      [1, Buffer.concat([serverStart(), frame(HEADERS, FLAG_END_HEADERS, 1, grpcRespHeaders()), frame(DATA, 0, 1, grpcMsg(20)), frame(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, trailers(0))])],
      [0, Buffer.concat([frame(HEADERS, FLAG_END_HEADERS, 3, grpcReq('/helloworld.Greeter/SayHello')), frame(DATA, FLAG_END_STREAM, 3, grpcMsg(1))])],
      [1, Buffer.concat([frame(HEADERS, FLAG_END_HEADERS, 3, grpcRespHeaders()), frame(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 3, trailers(5, 'user%20not%20found'))])],
      [0, Buffer.concat([frame(HEADERS, FLAG_END_HEADERS, 5, grpcReq('/helloworld.Greeter/SayHello')), frame(DATA, FLAG_END_STREAM, 5, grpcMsg(1))])],
      [1, Buffer.concat([frame(HEADERS, FLAG_END_HEADERS, 5, grpcRespHeaders()), frame(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 5, trailers(13))])],
    ];
    const { sessions, malformed } = run(steps);
    expect(malformed).toEqual({});
    expect(sessions.map((s) => [s.l7_protocol, s.request_type, s.endpoint, s.response_code, s.response_status, s.response_exception, s.request_length, s.response_length, s.attributes['grpc.status']])).toEqual([
      ['gRPC', 'POST', 'helloworld.Greeter/SayHello', 0, 'ok', '', 15, 25, '0'],
      ['gRPC', 'POST', 'helloworld.Greeter/SayHello', 5, 'client_error', 'user not found', 6, 0, '5'],
      ['gRPC', 'POST', 'helloworld.Greeter/SayHello', 13, 'server_error', 'INTERNAL', 6, 0, '13'],
    ]);
    expect(sessions[0].attributes).toMatchObject({ 'rpc.service': 'helloworld.Greeter', 'rpc.method': 'SayHello', content_type: 'application/grpc' });
  });

  it('reads trailers-only responses (one HEADERS with status and grpc-status)', () => {
    const { sessions } = run([
      [0, Buffer.concat([PREFACE, frame(HEADERS, 4, 1, grpcReq('/pkg.Svc/Missing')), frame(DATA, 1, 1, grpcMsg(0))])],
      [1, frame(HEADERS, 5, 1, literalBlock([[':status', '200'], ['content-type', 'application/grpc'], ['grpc-status', '12'], ['grpc-message', 'unknown method Missing']]))],
    ]);
    expect(sessions.map((s) => [s.l7_protocol, s.endpoint, s.response_code, s.response_status, s.response_exception])).toEqual([['gRPC', 'pkg.Svc/Missing', 12, 'server_error', 'unknown method Missing']]);
  });

  it('keeps a server stream open until its trailers', () => {
    const { sessions } = run([
      [0, Buffer.concat([PREFACE, frame(HEADERS, 4, 1, grpcReq('/ts.Query/Stream')), frame(DATA, 1, 1, grpcMsg(4))])],
      [1, Buffer.concat([frame(HEADERS, 4, 1, grpcRespHeaders()), frame(DATA, 0, 1, grpcMsg(100))])],
      [1, frame(DATA, 0, 1, grpcMsg(100))],
      [1, frame(PING, 0, 0, Buffer.alloc(8))],
      [1, Buffer.concat([frame(DATA, 0, 1, grpcMsg(100)), frame(HEADERS, 5, 1, trailers(0))])],
    ]);
    expect(sessions.map((s) => [s.response_code, s.response_length, s.end_time - s.start_time])).toEqual([[0, 315, 4_000_000n]]);
  });

  it('recognises gRPC from the response when the request headers were not seen', () => {
    const { sessions } = run([[1, Buffer.concat([frame(HEADERS, 4, 7, grpcRespHeaders()), frame(DATA, 0, 7, grpcMsg(2)), frame(HEADERS, 5, 7, trailers(7, 'denied'))])]]);
    expect(sessions.map((s) => [s.l7_protocol, s.request_type, s.response_code, s.response_status, s.response_exception])).toEqual([['gRPC', '', 7, 'client_error', 'denied']]);
  });
});

describe('HTTP/2 lost bytes and mid-connection captures', () => {
  it('starts mid-connection: unknown table entries, path taken from an unnamed literal', () => {
    // :method POST, :scheme http, a dynamic reference (unknown), then `:path` as a literal whose
    // name index (67) is a table entry we never saw.
    const block = Buffer.concat([Buffer.from([0x83, 0x86, 0xc4, 0x0f, 67 - 15, 17]), Buffer.from('/pkg.Svc/DoThings')]);
    const { sessions, malformed } = run([
      [0, frame(HEADERS, 5, 1001, block)],
      [1, frame(HEADERS, 5, 1001, hpackBlock([{ indexed: 8 }, { indexed: 70 }]))],
    ]);
    expect(malformed).toEqual({});
    expect(sessions.map((s) => [s.request_id, s.request_type, s.request_resource, s.endpoint, s.response_code, s.attributes['http2.path_inferred']])).toEqual([['1001', 'POST', '/pkg.Svc/DoThings', '/pkg.Svc/DoThings', 200, 'true']]);
  });

  it('resynchronises after a gap, marks the stream truncated and still reads the trailers', () => {
    const { sessions } = run([
      [0, Buffer.concat([PREFACE, frame(HEADERS, 4, 1, grpcReq('/s.S/M')), frame(DATA, 1, 1, grpcMsg(3))])],
      [1, Buffer.concat([frame(HEADERS, 4, 1, grpcRespHeaders()), frame(DATA, 0, 1, grpcMsg(50)).subarray(0, 30)])],
      // The rest of that DATA frame and a whole frame were lost.
      [1, Buffer.concat([frame(DATA, 0, 1, grpcMsg(10)), frame(HEADERS, 5, 1, trailers(0))]), { gap: true }],
    ]);
    expect(sessions.map((s) => [s.endpoint, s.response_code, s.response_status, s.truncated])).toEqual([['s.S/M', 0, 'ok', true]]);
  });

  it('keeps the framing when a prefix capture loses only DATA payload', () => {
    const big = frame(DATA, 0, 1, grpcMsg(5000));
    const { sessions, malformed } = run([
      [0, Buffer.concat([PREFACE, frame(HEADERS, 4, 1, grpcReq('/p.P/Up')), frame(DATA, 1, 1, grpcMsg(1))])],
      [1, frame(HEADERS, 4, 1, grpcRespHeaders())],
      [1, big.subarray(0, 100), { messageLength: big.length }],
      [1, frame(HEADERS, 5, 1, trailers(0))],
    ]);
    expect(malformed).toEqual({});
    expect(sessions.map((s) => [s.response_code, s.response_length, s.truncated])).toEqual([[0, 5005, true]]);
  });

  it('counts implausible frames as malformed and finds the next frame', () => {
    const { sessions, malformed } = run([
      [0, Buffer.concat([PREFACE, frame(PING, 0, 5, Buffer.alloc(8)), frame(HEADERS, 5, 1, reqBlock('/after-junk'))])],
      [1, frame(HEADERS, 5, 1, hpackBlock([{ indexed: 8 }]))],
    ]);
    expect(malformed['http2: implausible frame header']).toBe(1);
    expect(sessions.map((s) => s.request_resource)).toEqual(['/after-junk']);
  });

  it('forgets the dynamic table after a gap rather than resolving indexes wrongly', () => {
    const withIndex = hpackBlock([{ indexed: 2 }, { name: 4, value: '/first', index: 'incremental' }]);
    const reuse = hpackBlock([{ indexed: 2 }, { indexed: 62 }]);
    const { sessions } = run([
      [0, Buffer.concat([PREFACE, frame(HEADERS, 5, 1, withIndex)])],
      [0, frame(HEADERS, 5, 3, reuse), { gap: true }],
      [1, Buffer.concat([frame(HEADERS, 5, 1, hpackBlock([{ indexed: 8 }])), frame(HEADERS, 5, 3, hpackBlock([{ indexed: 8 }]))])],
    ]);
    expect(sessions.map((s) => [s.request_id, s.request_resource])).toEqual([
      ['1', '/first'],
      ['3', ''],
    ]);
  });
});

describe('HTTP/2 inference and spec', () => {
  it('is certain of the preface, a SETTINGS-first or pseudo-header HEADERS-first run of frames', () => {
    expect(inferHttp2(PREFACE)).toBe(2);
    expect(inferHttp2(PREFACE.subarray(0, 10))).toBe(1);
    expect(inferHttp2(serverStart())).toBe(2);
    expect(inferHttp2(frame(HEADERS, 5, 1, reqBlock('/x')))).toBe(2);
    expect(inferHttp2(Buffer.concat([frame(WINDOW_UPDATE, 0, 0, u32(5)), frame(PING, 0, 0, Buffer.alloc(8))]))).toBe(1);
    expect(inferHttp2(frame(WINDOW_UPDATE, 0, 0, u32(5)))).toBe(0);
    expect(inferHttp2(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toBe(0);
    expect(inferHttp2(Buffer.from([0, 0, 1, 0x23, 0, 0, 0, 0, 1, 9]))).toBe(0);
    expect(inferHttp2(frame(SETTINGS, 0, 3, Buffer.alloc(6)))).toBe(0);
  });

  it('wins detection over HTTP/1 for prior-knowledge h2c', () => {
    const sessions: L7Session[] = [];
    const conn = new L7Connection([http1Spec, spec], 80, { options: DEFAULT_PARSER_OPTIONS, emit: (s) => sessions.push(s), malformed: () => undefined });
    conn.feed(0, Buffer.concat([PREFACE, frame(HEADERS, 5, 1, reqBlock('/h2'))]), 1n);
    conn.feed(1, frame(HEADERS, 5, 1, hpackBlock([{ indexed: 8 }])), 2n);
    expect(conn.protocol).toBe('HTTP2');
    expect(sessions.map((s) => [s.l7_protocol, s.request_resource, s.response_code])).toEqual([['HTTP2', '/h2', 200]]);
  });
});
