import { SpanKind, StatusCode } from '../pipeline/pdata';
import { sessionToSpan, spanName } from './span';
import { newSession } from './types';

const flow = { transport: 'tcp' as const, client_ip: '10.0.0.1', client_port: 40000, server_ip: '10.0.0.2', server_port: 8080 };

function http() {
  const s = newSession('HTTP', 1_000n);
  Object.assign(s, { version: '1.1', request_type: 'GET', request_domain: 'shop:8080', request_resource: '/items/42?x=1', endpoint: '/items/{id}', response_code: 503, response_status: 'server_error', response_exception: 'Service Unavailable', end_time: 5_000n, duration_ns: 4_000n, trace_id: '0af7651916cd43dd8448eb211c80319c', span_id: 'b7ad6b7169203331', attributes: { user_agent: 'curl/8' } });
  return s;
}

describe('sessions as spans', () => {
  it('follows the HTTP conventions, joins the caller’s trace and keeps every L7 field under metaflow.', () => {
    const span = sessionToSpan(http(), flow, { kind: SpanKind.SERVER, source: 'packet', extra: { 'process.pid': 7 } });
    expect(span.name).toBe('GET /items/{id}');
    expect(span.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(span.parentSpanId).toBe('b7ad6b7169203331');
    expect(span.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect([span.startTimeUnixNano, span.endTimeUnixNano]).toEqual([1_000n, 5_000n]);
    expect(span.status).toEqual({ code: StatusCode.ERROR, message: 'Service Unavailable' });
    expect(span.attributes).toMatchObject({
      'http.request.method': 'GET',
      'url.path': '/items/42',
      'url.query': 'x=1',
      'http.route': '/items/{id}',
      'http.response.status_code': 503,
      'server.address': 'shop',
      'server.port': 8080,
      'client.address': '10.0.0.1',
      'user_agent.original': 'curl/8',
      'error.type': '503',
      'metaflow.signal_source': 'packet',
      'metaflow.l7_protocol': 'HTTP',
      'metaflow.endpoint': '/items/{id}',
      'metaflow.response_status': 'server_error',
      'metaflow.client.ip': '10.0.0.1',
      'metaflow.server.port': 8080,
      'metaflow.l7.user_agent': 'curl/8',
      'process.pid': 7,
    });
  });

  it('starts a new trace without context and treats 4xx as an error only on client spans', () => {
    const s = newSession('HTTP', 1n);
    Object.assign(s, { request_type: 'GET', request_resource: '/x', response_code: 404, response_status: 'client_error' });
    const server = sessionToSpan(s, flow, { kind: SpanKind.SERVER, source: 'ebpf' });
    const client = sessionToSpan(s, flow, { kind: SpanKind.CLIENT, source: 'ebpf' });
    expect(server.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(server.traceId).not.toBe(client.traceId);
    expect(server.parentSpanId).toBe('');
    expect(server.status.code).toBe(StatusCode.UNSET);
    expect(client.status.code).toBe(StatusCode.ERROR);
  });

  it('names database, RPC, messaging and DNS spans by their conventions', () => {
    const db = Object.assign(newSession('MySQL', 1n), { request_type: 'COM_QUERY', request_domain: 'shop', request_resource: 'SELECT * FROM t WHERE id = ?' });
    expect(spanName(db)).toBe('COM_QUERY shop');
    const parsed = Object.assign(newSession('PostgreSQL', 1n), { request_type: 'Query', request_domain: 'shop', attributes: { 'sql.operation': 'SELECT', 'sql.table': 'orders' } });
    expect(spanName(parsed)).toBe('SELECT orders');
    expect(sessionToSpan(parsed, flow, { kind: SpanKind.CLIENT, source: 'ebpf' }).attributes).toMatchObject({ 'db.operation.name': 'SELECT', 'db.collection.name': 'orders' });
    expect(sessionToSpan(db, flow, { kind: SpanKind.CLIENT, source: 'ebpf' }).attributes).toMatchObject({ 'db.system': 'mysql', 'db.namespace': 'shop', 'db.query.text': 'SELECT * FROM t WHERE id = ?' });
    const grpc = Object.assign(newSession('gRPC', 1n), { endpoint: 'helloworld.Greeter/SayHello', response_code: 0, response_status: 'ok' });
    expect(sessionToSpan(grpc, flow, { kind: SpanKind.CLIENT, source: 'packet' }).attributes).toMatchObject({ 'rpc.system': 'grpc', 'rpc.service': 'helloworld.Greeter', 'rpc.method': 'SayHello', 'rpc.grpc.status_code': 0 });
    const kafka = Object.assign(newSession('Kafka', 1n), { request_type: 'Produce', request_resource: 'orders' });
    expect(spanName(kafka)).toBe('Produce orders');
    const dns = Object.assign(newSession('DNS', 1n), { request_type: 'A', request_resource: 'example.com' });
    expect(spanName(dns)).toBe('DNS A example.com');
    expect(sessionToSpan(dns, { ...flow, transport: 'udp' }, { kind: SpanKind.CLIENT, source: 'packet' }).attributes['dns.question.name']).toBe('example.com');
  });
});
