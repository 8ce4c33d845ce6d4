import { extractRequestId, extractTraceContext, parseB3, parseSw8, parseTraceparent, parseUberTraceId, traceContextFromSql } from './tracecontext';

const headers = (h: Record<string, string>) => (name: string) => h[name];

describe('trace context in payloads', () => {
  it('reads W3C traceparent', () => {
    expect(parseTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')).toEqual({ trace_id: '0af7651916cd43dd8448eb211c80319c', span_id: 'b7ad6b7169203331', parent_span_id: '' });
    expect(parseTraceparent('00-00000000000000000000000000000000-b7ad6b7169203331-01')).toBeUndefined();
    expect(parseTraceparent('garbage')).toBeUndefined();
  });

  it('reads B3 single and multi headers', () => {
    expect(parseB3('80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90')).toEqual({ trace_id: '80f198ee56343ba864fe8b2a57d3eff7', span_id: 'e457b5a2e4d86bd1', parent_span_id: '05e3ac9a4f6e3b90' });
    expect(extractTraceContext(headers({ 'x-b3-traceid': '463ac35c9f6413ad', 'x-b3-spanid': '72485a3953bb6124', 'x-b3-parentspanid': '0020000000000001' }))).toEqual({
      trace_id: '463ac35c9f6413ad',
      span_id: '72485a3953bb6124',
      parent_span_id: '0020000000000001',
    });
  });

  it('reads Jaeger uber-trace-id, URL-encoded too', () => {
    expect(parseUberTraceId('5b1d7d1c4f0c7e7a:2f0e2e7a1b3c4d5e:0:1')).toEqual({ trace_id: '5b1d7d1c4f0c7e7a', span_id: '2f0e2e7a1b3c4d5e', parent_span_id: '' });
    expect(parseUberTraceId('abc%3Adef%3A12%3A1')).toEqual({ trace_id: '0000000000000abc', span_id: '0000000000000def', parent_span_id: '0000000000000012' });
  });

  it('reads SkyWalking sw8 as DeepFlow reports it', () => {
    const trace = Buffer.from('6d4ae9e1fb8a4399aba252d65b5a83c9.76.17016891360410347').toString('base64');
    const segment = Buffer.from('6d4ae9e1fb8a4399aba252d65b5a83c9.76.17016891360410346').toString('base64');
    expect(parseSw8(`1-${trace}-${segment}-6-${Buffer.from('svc').toString('base64')}-x-y-z`)).toEqual({
      trace_id: '6d4ae9e1fb8a4399aba252d65b5a83c9.76.17016891360410347',
      span_id: '6d4ae9e1fb8a4399aba252d65b5a83c9.76.17016891360410346-6',
      parent_span_id: '',
    });
  });

  it('prefers traceparent, falls back to extra headers, and reads x-request-id', () => {
    expect(extractTraceContext(headers({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1' }))?.trace_id).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(extractTraceContext(headers({ 'x-my-trace': ' abc123 ' }), ['x-my-trace'])).toEqual({ trace_id: 'abc123', span_id: '', parent_span_id: '' });
    expect(extractTraceContext(headers({}))).toBeUndefined();
    expect(extractRequestId(headers({ 'x-request-id': 'req-1' }))).toBe('req-1');
    expect(extractRequestId(headers({ 'x-correlation-id': 'c-9' }), ['x-correlation-id'])).toBe('c-9');
  });

  it('reads sqlcommenter traceparent comments', () => {
    const sql = "SELECT * FROM t /*action='run',traceparent='00-5bd66ef5095369c7b0d1f8f4bd33716a-c532cb4098ac3dd2-01'*/";
    expect(traceContextFromSql(sql)).toEqual({ trace_id: '5bd66ef5095369c7b0d1f8f4bd33716a', span_id: 'c532cb4098ac3dd2', parent_span_id: '' });
    expect(traceContextFromSql("SELECT 1 /*traceparent='00-5bd66ef5095369c7b0d1f8f4bd33716a-c532cb4098ac3dd2-01'")).toBeUndefined();
    expect(traceContextFromSql("SELECT '/*traceparent=bad*/'")).toBeUndefined();
  });
});
