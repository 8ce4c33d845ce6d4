import { L7Connection } from '../detector';
import { spec as http2Spec } from '../http2';
import { FLAG_END_HEADERS, FLAG_END_STREAM, DATA, HEADERS, PREFACE, SETTINGS } from '../http2/parser';
import { essentials, frame, hpackBlock, literalBlock, runSteps, splitSteps, type Step } from '../http2/testkit';
import type { L7Session, ParserContext } from '../types';
import { DEFAULT_PARSER_OPTIONS } from '../types';
import { inferHttp1, spec } from './index';
import { Http1Parser } from './parser';
import { clientIp, grpcRoute, grpcStatus, httpEndpoint, httpStatus, parseDecimal } from './semantics';

const create = (ctx: ParserContext) => new Http1Parser(ctx);
const run = (steps: Step[], options = {}) => runSteps(create, steps, options);

const GET = 'GET /api/v1/users/42?verbose=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.0\r\nReferer: http://r.example/\r\nX-Forwarded-For: 203.0.113.7, 10.0.0.1\r\nAccept: */*\r\n\r\n';
const OK = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"id":42,"a":1}'.replace('{"id":42,"a":1}', '{"id":42,"a"}');

describe('HTTP/1 request/response pairing', () => {
  it('parses a GET and its 200 with every session field', () => {
    const { sessions, malformed } = run([
      [0, GET],
      [1, OK],
    ]);
    expect(malformed).toEqual({});
    expect(sessions).toHaveLength(1);
    const s = sessions[0];
    expect(essentials(s)).toEqual({
      l7_protocol: 'HTTP',
      version: '1.1',
      request_type: 'GET',
      request_domain: 'example.com',
      request_resource: '/api/v1/users/42?verbose=1',
      endpoint: '/api/v1/users/{id}',
      request_id: '',
      response_code: 200,
      response_status: 'ok',
      response_exception: '',
      trace_id: '',
      span_id: '',
      x_request_id: '',
      request_length: null,
      response_length: 13,
      captured_request_bytes: GET.length,
      captured_response_bytes: OK.length,
      truncated: false,
      attributes: { user_agent: 'curl/8.0', referer: 'http://r.example/', client_ip: '203.0.113.7', content_type: 'application/json' },
    });
    expect(s.start_time).toBe(1_001_000_000n);
    expect(s.end_time).toBe(1_002_000_000n);
    expect(s.duration_ns).toBe(1_000_000n);
  });

  it('gives the same sessions whatever the chunking (byte by byte, 7-byte chunks)', () => {
    const steps: Step[] = [
      [0, 'POST /submit HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello'],
      [1, 'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
      [0, 'GET /b HTTP/1.1\r\nHost: h\r\n\r\n'],
      [1, 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'],
    ];
    const whole = run(steps).sessions.map(essentials);
    expect(whole).toHaveLength(2);
    expect(run(splitSteps(steps, 1)).sessions.map(essentials)).toEqual(whole);
    expect(run(splitSteps(steps, 7)).sessions.map(essentials)).toEqual(whole);
  });

  it('reads a large head arriving a byte at a time (the search resumes where it stopped)', () => {
    const lines = Array.from({ length: 300 }, (_, i) => `X-Filler-${i}: ${'v'.repeat(i % 40)}\r\n`).join('');
    const steps: Step[] = [
      [0, `GET /big-head HTTP/1.1\r\nHost: big.example\r\n${lines}X-Request-ID: last-line\r\n\r\n`],
      [1, `HTTP/1.1 200 OK\r\n${lines}Content-Length: 2\r\n\r\nok`],
    ];
    const whole = run(steps).sessions.map(essentials);
    expect(whole.map((s) => [s.request_domain, s.x_request_id, s.response_length])).toEqual([['big.example', 'last-line', 2]]);
    expect(run(splitSteps(steps, 1)).sessions.map(essentials)).toEqual(whole);
    expect(run(splitSteps(steps, 3)).sessions.map(essentials)).toEqual(whole);
  });

  it('keeps a connection alive over several requests', () => {
    const steps: Step[] = [];
    for (let i = 0; i < 5; i++) {
      steps.push([0, `GET /item/${i} HTTP/1.1\r\nHost: h\r\n\r\n`]);
      steps.push([1, `HTTP/1.1 200 OK\r\nContent-Length: ${i}\r\n\r\n${'x'.repeat(i)}`]);
    }
    const { sessions } = run(steps);
    expect(sessions.map((s) => [s.request_resource, s.endpoint, s.response_length])).toEqual([0, 1, 2, 3, 4].map((i) => [`/item/${i}`, '/item/{id}', i]));
  });

  it('pairs pipelined requests with responses in order', () => {
    const reqs = ['/a', '/b', '/c'].map((p) => `GET ${p} HTTP/1.1\r\nHost: h\r\n\r\n`).join('');
    const resps = [200, 404, 500].map((c) => `HTTP/1.1 ${c} X\r\nContent-Length: 2\r\n\r\nok`).join('');
    const { sessions } = run([
      [0, reqs],
      [1, resps],
    ]);
    expect(sessions.map((s) => [s.request_resource, s.response_code, s.response_status])).toEqual([
      ['/a', 200, 'ok'],
      ['/b', 404, 'client_error'],
      ['/c', 500, 'server_error'],
    ]);
    expect(sessions[2].response_exception).toBe('X');
  });

  it('reads chunked bodies with extensions and trailers, requests and responses', () => {
    const { sessions, malformed } = run([
      [0, 'PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4;ext=1\r\nabcd\r\n2\r\nef\r\n0\r\nX-Checksum: 1\r\n\r\n'],
      [1, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\nServer-Timing: db;dur=3\r\n\r\n'],
      [0, 'GET /next HTTP/1.1\r\nHost: h\r\n\r\n'],
      [1, 'HTTP/1.1 204 No Content\r\n\r\n'],
    ]);
    expect(malformed).toEqual({});
    expect(sessions.map((s) => [s.request_type, s.request_length, s.response_length, s.response_code])).toEqual([
      ['PUT', 6, 10, 200],
      ['GET', null, null, 204],
    ]);
  });

  it('expects no body after HEAD, 204 and 304 even with Content-Length', () => {
    const { sessions, malformed } = run([
      [0, 'HEAD /big HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\nGET /d HTTP/1.1\r\nHost: h\r\n\r\n'],
      [1, 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n'],
    ]);
    expect(malformed).toEqual({});
    expect(sessions.map((s) => [s.request_type, s.request_resource, s.response_code, s.response_length])).toEqual([
      ['HEAD', '/big', 200, 1000],
      ['GET', '/c', 304, 50],
      ['GET', '/d', 204, null],
    ]);
  });

  it('skips interim 1xx responses (100 Continue) and pairs the final one', () => {
    const { sessions } = run([
      [0, 'POST /upload HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n'],
      [1, 'HTTP/1.1 100 Continue\r\n\r\n'],
      [0, 'abc'],
      [1, 'HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n'],
    ]);
    expect(sessions).toHaveLength(1);
    expect(sessions[0].response_code).toBe(201);
    expect(sessions[0].request_length).toBe(3);
    expect(sessions[0].captured_response_bytes).toBe('HTTP/1.1 100 Continue\r\n\r\n'.length + 'HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n'.length);
  });

  it('reads a body delimited by the end of the connection (HTTP/1.0)', () => {
    const { sessions } = run([
      [0, 'GET /old HTTP/1.0\r\n\r\n'],
      [1, 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nsome'],
      [1, ' more'],
    ]);
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ version: '1.0', response_length: 9, truncated: false, request_domain: '' });
  });

  it('takes the host from an absolute-form target and keeps CONNECT as a tunnel', () => {
    const { sessions, malformed } = run([
      [0, 'GET http://proxy.example:8080/p/123?q HTTP/1.1\r\n\r\n'],
      [1, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
      [0, 'CONNECT db.example:443 HTTP/1.1\r\nHost: db.example:443\r\n\r\n'],
      [1, 'HTTP/1.1 200 Connection established\r\n\r\n'],
      [0, '\x16\x03\x01\x02\x00binary tls'],
      [1, '\x16\x03\x03 more binary'],
    ]);
    expect(malformed).toEqual({});
    expect(sessions.map((s) => [s.request_type, s.request_domain, s.endpoint])).toEqual([
      ['GET', 'proxy.example:8080', '/p/{id}'],
      ['CONNECT', 'db.example:443', 'db.example:443'],
    ]);
  });
});

describe('HTTP/1 upgrade', () => {
  it('stops parsing after 101 Switching Protocols to WebSocket', () => {
    const { sessions, malformed } = run([
      [0, 'GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'],
      [1, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello'],
      [0, '\x81\x85abcdGET / HTTP/1.1\r\n\r\n'],
      [1, 'HTTP/1.1 200 OK\r\n\r\n'],
    ]);
    expect(malformed).toEqual({});
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ response_code: 101, response_status: 'ok', attributes: { upgrade: 'websocket' } });
  });

  it('hands an h2c upgrade over to HTTP/2: the upgraded request is stream 1', () => {
    const resp = hpackBlock([{ indexed: 8 }, { name: 'content-type', value: 'text/plain' }]);
    const steps: Step[] = [
      [0, 'GET /h2/page HTTP/1.1\r\nHost: up.example\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n'],
      [1, Buffer.concat([Buffer.from('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n'), frame(SETTINGS, 0, 0)])],
      [0, Buffer.concat([PREFACE, frame(SETTINGS, 0, 0), frame(SETTINGS, 1, 0)])],
      [1, Buffer.concat([frame(HEADERS, FLAG_END_HEADERS, 1, resp), frame(DATA, FLAG_END_STREAM, 1, Buffer.from('hi there'))])],
      [0, Buffer.concat([frame(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 3, literalBlock([[':method', 'GET'], [':path', '/second'], [':scheme', 'http'], [':authority', 'up.example']]))])],
      [1, Buffer.concat([frame(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 3, hpackBlock([{ indexed: 13 }]))])],
    ];
    for (const st of [steps, splitSteps(steps, 5)]) {
      const { sessions, malformed } = run(st);
      expect(malformed).toEqual({});
      expect(sessions.map((s) => [s.l7_protocol, s.version, s.request_id, s.request_type, s.request_domain, s.request_resource, s.response_code, s.response_length])).toEqual([
        ['HTTP2', '2', '1', 'GET', 'up.example', '/h2/page', 200, 8],
        // END_STREAM on the response HEADERS: a body of zero bytes, known for certain.
        ['HTTP2', '2', '3', 'GET', 'up.example', '/second', 404, 0],
      ]);
      expect(sessions[0].attributes).toMatchObject({ upgrade: 'h2c', content_type: 'text/plain' });
    }
  });
});

describe('HTTP/1 incomplete conversations', () => {
  it('reports a response without request as response-only', () => {
    const { sessions } = run([[1, 'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n']]);
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ request_type: '', response_code: 503, response_status: 'server_error', response_exception: 'Service Unavailable' });
  });

  it('times unanswered requests out on expire and on close', () => {
    const sessions: L7Session[] = [];
    const p = new Http1Parser({ options: { ...DEFAULT_PARSER_OPTIONS, requestTimeoutNs: 5_000_000_000n }, emit: (s) => sessions.push(s), malformed: () => undefined });
    p.feed(0, Buffer.from('GET /slow HTTP/1.1\r\n\r\n'), 1_000_000_000n, {});
    p.expire(5_000_000_000n);
    expect(sessions).toHaveLength(0);
    p.expire(6_000_000_000n);
    expect(sessions.map((s) => [s.request_resource, s.response_status, s.duration_ns])).toEqual([['/slow', 'timeout', 5_000_000_000n]]);
    p.feed(0, Buffer.from('GET /never HTTP/1.1\r\n\r\n'), 7_000_000_000n, {});
    p.close(8_000_000_000n);
    expect(sessions.map((s) => [s.request_resource, s.response_status])).toEqual([
      ['/slow', 'timeout'],
      ['/never', 'timeout'],
    ]);
  });

  it('times the oldest request out when more than maxPendingRequests wait', () => {
    const reqs = Array.from({ length: 5 }, (_, i) => `GET /${i} HTTP/1.1\r\n\r\n`).join('');
    const { sessions } = run([[0, reqs]], { maxPendingRequests: 3 });
    expect(sessions.map((s) => s.request_resource)).toEqual(['/0', '/1', '/2', '/3', '/4']);
    expect(sessions.every((s) => s.response_status === 'timeout')).toBe(true);
  });

  it('marks a prefix-captured message truncated and keeps the framing when the missing bytes are body', () => {
    const body = 'x'.repeat(1000);
    const req = `POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n${body}`;
    const prefix = req.slice(0, 200);
    const { sessions, malformed } = run([
      [0, prefix, { messageLength: req.length }],
      [1, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'],
      [0, 'GET /after HTTP/1.1\r\n\r\n'],
      [1, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ]);
    expect(malformed).toEqual({});
    expect(sessions.map((s) => [s.request_resource, s.request_length, s.captured_request_bytes, s.truncated])).toEqual([
      ['/big', 1000, 200, true],
      ['/after', null, 'GET /after HTTP/1.1\r\n\r\n'.length, false],
    ]);
  });

  it('keeps what a prefix cut inside the header section says, then resynchronises', () => {
    const req = 'GET /cut HTTP/1.1\r\nHost: cut.example\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\nUser-Agent: very-long-agent-string\r\n\r\n';
    const { sessions } = run([
      [0, req.slice(0, 110), { messageLength: req.length }],
      [1, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
      [0, 'GET /next HTTP/1.1\r\n\r\n'],
      [1, 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'],
    ]);
    expect(sessions.map((s) => [s.request_resource, s.request_domain, s.trace_id, s.attributes.user_agent, s.response_code, s.truncated])).toEqual([
      ['/cut', 'cut.example', '0af7651916cd43dd8448eb211c80319c', undefined, 200, true],
      ['/next', '', '', undefined, 404, false],
    ]);
  });

  it('marks a response truncated at a gap and resynchronises at the next status line', () => {
    const { sessions } = run([
      [0, 'GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n'],
      [1, 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'],
      [1, '56789HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nz', { gap: true }],
    ]);
    expect(sessions.map((s) => [s.request_resource, s.response_code, s.truncated, s.captured_response_bytes])).toEqual([
      ['/1', 200, true, 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'.length],
      ['/2', 201, false, 'HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nz'.length],
    ]);
  });

  it('pairs a response with a request whose head never completed (the rest was not captured)', () => {
    const { sessions } = run([
      [0, 'POST /partial HTTP/1.1\r\nHost: p.example\r\nContent-Length: 50\r\nX-Cut: abc'],
      [1, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n'],
    ]);
    expect(sessions.map((s) => [s.request_resource, s.request_domain, s.request_length, s.response_code, s.response_length, s.truncated])).toEqual([['/partial', 'p.example', 50, 200, 5, true]]);
  });

  it('counts oversized heads as malformed and recovers at the next message', () => {
    const huge = `GET /huge HTTP/1.1\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n`;
    // A head arriving in pieces must be buffered: beyond maxBufferBytes it is given up.
    const { sessions, malformed } = run(
      [
        ...splitSteps([[0, huge]], 500),
        [1, 'HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n'],
        [0, 'GET /small HTTP/1.1\r\n\r\n'],
        [1, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
      ],
      { maxBufferBytes: 1024 },
    );
    expect(malformed['http1: header section exceeds maxBufferBytes']).toBe(1);
    expect(sessions.map((s) => [s.request_resource, s.response_code])).toEqual([
      ['/huge', 431],
      ['/small', 200],
    ]);
    expect(sessions[0].truncated).toBe(true);
  });

  it('counts garbage as malformed and finds the next request line after it', () => {
    const { sessions, malformed } = run([
      [0, '\x00\x01garbage\r\n\r\nGET /ok HTTP/1.1\r\n\r\n'],
      [1, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ]);
    expect(malformed['http1: bad request line']).toBe(1);
    expect(sessions.map((s) => s.request_resource)).toEqual(['/ok']);
  });

  it('swaps roles when the capture has the directions the other way round', () => {
    const { sessions } = run([
      [0, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'],
      [1, 'GET /x HTTP/1.1\r\n\r\n'],
      [0, 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'],
    ]);
    expect(sessions.map((s) => [s.request_resource, s.response_code])).toEqual([
      ['', 200],
      ['/x', 404],
    ]);
  });
});

describe('HTTP/1 trace context', () => {
  it('reads traceparent, x-request-id and configured headers, preferring the request', () => {
    const { sessions } = run(
      [
        [0, 'GET /t HTTP/1.1\r\nTraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nX-Request-ID: req-1\r\n\r\n'],
        [1, 'HTTP/1.1 200 OK\r\nX-Request-Id: resp-1\r\nContent-Length: 0\r\n\r\n'],
        [0, 'GET /c HTTP/1.1\r\nMy-Trace: abc123\r\nMy-Req: r-9\r\n\r\n'],
        [1, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
        [0, 'GET /r HTTP/1.1\r\n\r\n'],
        [1, 'HTTP/1.1 200 OK\r\nb3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90\r\nContent-Length: 0\r\n\r\n'],
      ],
      { traceIdHeaders: ['My-Trace'], requestIdHeaders: ['my-req'] },
    );
    expect(sessions.map((s) => [s.trace_id, s.span_id, s.parent_span_id, s.x_request_id])).toEqual([
      ['4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', '', 'req-1'],
      ['abc123', '', '', 'r-9'],
      ['80f198ee56343ba864fe8b2a57d3eff7', 'e457b5a2e4d86bd1', '05e3ac9a4f6e3b90', ''],
    ]);
  });
});

describe('HTTP/1 inference and spec', () => {
  it('is certain of status lines and request lines with known methods', () => {
    const b = (s: string) => Buffer.from(s, 'latin1');
    expect(inferHttp1(b('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))).toBe(2);
    expect(inferHttp1(b('HTTP/1.0 404 Not Found\r\n'))).toBe(2);
    expect(inferHttp1(b('PROPFIND /dav HTTP/1.1\r\n'))).toBe(2);
    expect(inferHttp1(b('FOOBAR /x HTTP/1.1\r\n'))).toBe(1);
    expect(inferHttp1(b('POST /upl'))).toBe(1);
    expect(inferHttp1(b('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'))).toBe(0);
    expect(inferHttp1(b('SSH-2.0-OpenSSH_9.2\r\n'))).toBe(0);
    expect(inferHttp1(b('*3\r\n$3\r\nSET\r\n'))).toBe(0);
    expect(inferHttp1(b('GET /x HTTP/2\r\n'))).toBe(0);
    expect(inferHttp1(new Uint8Array([0x16, 3, 1, 0, 0xa5]))).toBe(0);
  });

  it('is chosen by the detector and emits through it', () => {
    const sessions: L7Session[] = [];
    const conn = new L7Connection([http2Spec, spec], 8080, { options: DEFAULT_PARSER_OPTIONS, emit: (s) => sessions.push(s), malformed: () => undefined });
    conn.feed(0, Buffer.from('GET /d HTTP/1.1\r\nHost: d\r\n\r\n'), 1n);
    conn.feed(1, Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 2n);
    expect(conn.protocol).toBe('HTTP');
    expect(sessions.map((s) => s.request_resource)).toEqual(['/d']);
  });
});

describe('HTTP semantics', () => {
  it('derives low-cardinality endpoints', () => {
    const cases: Array<[string, string]> = [
      ['/', '/'],
      ['/api/v1/users', '/api/v1/users'],
      ['/api/v1/users/12345', '/api/v1/users/{id}'],
      ['/api/v1/users/12345/orders/987?x=1#frag', '/api/v1/users/{id}/orders/{id}'],
      ['/u/123e4567-e89b-12d3-a456-426614174000/profile', '/u/{id}/profile'],
      ['/objects/507f1f77bcf86cd799439011', '/objects/{id}'],
      ['/blob/sha/da39a3ee5e6b4b0d3255bfef95601890afd80709', '/blob/sha/{id}'],
      ['/t/AbCdEf123456GhIjKl7890MnOp', '/t/{id}'],
      ['/static//css/./site.css', '/static/css/site.css'],
      ['/v2/deadbeef', '/v2/deadbeef'],
      ['/a/b/c/d/e/f/g/h/i/j/k/l', '/a/b/c/d/e/f/g/h/i/j'],
      ['http://h.example:81/x/7?q', '/x/{id}'],
      ['http://h.example', '/'],
      ['*', '*'],
    ];
    for (const [target, endpoint] of cases) expect([target, httpEndpoint(target)]).toEqual([target, endpoint]);
    expect(httpEndpoint('db:5432', 'CONNECT')).toBe('db:5432');
  });

  it('maps status codes and gRPC codes to response_status', () => {
    expect([200, 302, 404, 499, 500, 503, 99, 600].map(httpStatus)).toEqual(['ok', 'ok', 'client_error', 'client_error', 'server_error', 'server_error', 'unknown', 'unknown']);
    const client = [1, 3, 5, 6, 7, 9, 11, 16];
    const server = [2, 4, 8, 10, 12, 13, 14, 15, 17];
    expect(grpcStatus(0)).toBe('ok');
    for (const c of client) expect([c, grpcStatus(c)]).toEqual([c, 'client_error']);
    for (const c of server) expect([c, grpcStatus(c)]).toEqual([c, 'server_error']);
  });

  it('splits gRPC paths, reads client IPs and decimals', () => {
    expect(grpcRoute('/helloworld.Greeter/SayHello')).toEqual({ endpoint: 'helloworld.Greeter/SayHello', service: 'helloworld.Greeter', method: 'SayHello' });
    expect(grpcRoute('/odd')).toEqual({ endpoint: 'odd', service: '', method: '' });
    expect(clientIp(' 198.51.100.1 , 10.0.0.1', '10.9.9.9')).toBe('198.51.100.1');
    expect(clientIp('', '10.9.9.9')).toBe('10.9.9.9');
    expect(parseDecimal('42')).toBe(42);
    expect(parseDecimal('42, 42')).toBe(42);
    expect(parseDecimal('42, 43')).toBe(-1);
    expect(parseDecimal('-1')).toBe(-1);
    expect(parseDecimal('')).toBe(-1);
  });
});
