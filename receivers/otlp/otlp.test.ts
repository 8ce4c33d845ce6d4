import http from 'node:http';
import zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { trace, SpanKind as ApiSpanKind, SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { ComponentID, type Consumer, type Consumers } from '../../pipeline/component';
import { PermanentError, RetryableError } from '../../pipeline/errors';
import { nopLogger } from '../../pipeline/logger';
import { encodeTracesRequest, decodeTracesResponse } from '../../pipeline/otlp';
import { clientInfo } from '../../pipeline/clientinfo';
import { SpanKind, StatusCode, type Signal, type SignalData, type Traces } from '../../pipeline/pdata';
import { Telemetry } from '../../pipeline/telemetry';
import { tracesOf } from '../../pipeline/testing/factories';
import { freePorts } from '../../test/helpers/ports';
import { retryDelayFromStatus } from '../../exporters/otlp/retryinfo';
import { factory, type OtlpReceiver } from './factory';

/** A consumer whose behaviour each test sets. */
class Sink<S extends Signal> implements Consumer<S> {
  received: SignalData[S][] = [];
  fail: Error | undefined;
  async consume(data: SignalData[S]): Promise<void> {
    if (this.fail) throw this.fail;
    this.received.push(data);
  }
}

let grpcPort: number;
let httpPort: number;
let receiver: OtlpReceiver;
let telemetry: Telemetry;
const sinks = { traces: new Sink<'traces'>(), metrics: new Sink<'metrics'>(), logs: new Sink<'logs'>() };

beforeAll(async () => {
  [grpcPort, httpPort] = await freePorts(2);
  telemetry = new Telemetry('normal');
  const cfg = factory.config.parseOrThrow({
    protocols: { grpc: { endpoint: `127.0.0.1:${grpcPort}`, max_recv_msg_size_mib: 1 }, http: { endpoint: `127.0.0.1:${httpPort}`, max_request_body_size: 1 << 20 } },
  });
  receiver = factory.create(
    { id: new ComponentID('otlp'), kind: 'receiver', logger: nopLogger, telemetry: telemetry.forComponent('receiver', 'otlp') },
    cfg,
    sinks as Consumers,
  ) as OtlpReceiver;
  await receiver.start();
});

afterAll(async () => {
  await receiver.shutdown();
  await receiver.shutdown();
});

beforeEach(() => {
  for (const s of Object.values(sinks)) {
    s.received = [];
    s.fail = undefined;
  }
});

function spansOf(batches: Traces[]) {
  return batches.flatMap((t) => t.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((span) => ({ span, resource: rs.resource, scope: ss.scope })))));
}

async function sendWithSdk(exporter: GrpcTraceExporter | JsonTraceExporter | ProtoTraceExporter): Promise<{ traceId: string; rootId: string; childId: string }> {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'shop', 'host.name': 'h1' }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('test-lib', '1.0.0');
  const root = tracer.startSpan('GET /cart', { kind: ApiSpanKind.SERVER, attributes: { 'http.response.status_code': 200, ratio: 0.5, tags: ['a', 'b'], ok: true } });
  const ctx = trace.setSpan(require('@opentelemetry/api').context.active(), root);
  const child = tracer.startSpan('SELECT', { kind: ApiSpanKind.CLIENT }, ctx);
  child.addEvent('rows', { n: 3 });
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
  child.end();
  root.end();
  await provider.forceFlush();
  await provider.shutdown();
  return { traceId: root.spanContext().traceId, rootId: root.spanContext().spanId, childId: child.spanContext().spanId };
}

describe('otlp receiver with real OpenTelemetry SDK exporters', () => {
  it.each([
    ['gRPC', () => new GrpcTraceExporter({ url: `http://127.0.0.1:${grpcPort}` })],
    ['HTTP protobuf', () => new ProtoTraceExporter({ url: `http://127.0.0.1:${httpPort}/v1/traces` })],
    ['HTTP JSON', () => new JsonTraceExporter({ url: `http://127.0.0.1:${httpPort}/v1/traces` })],
    ['gRPC with gzip', () => new GrpcTraceExporter({ url: `http://127.0.0.1:${grpcPort}`, compression: 'gzip' as never })],
  ])('takes spans over %s intact', async (_name, make) => {
    const ids = await sendWithSdk(make());
    const spans = spansOf(sinks.traces.received);
    expect(spans).toHaveLength(2);
    const root = spans.find((s) => s.span.name === 'GET /cart');
    const child = spans.find((s) => s.span.name === 'SELECT');
    expect(root?.span).toMatchObject({ traceId: ids.traceId, spanId: ids.rootId, parentSpanId: '', kind: SpanKind.SERVER });
    expect(root?.span.attributes).toEqual({ 'http.response.status_code': 200, ratio: 0.5, tags: ['a', 'b'], ok: true });
    expect(root?.resource.attributes).toMatchObject({ 'service.name': 'shop', 'host.name': 'h1' });
    expect(root?.scope).toMatchObject({ name: 'test-lib', version: '1.0.0' });
    expect(child?.span).toMatchObject({ traceId: ids.traceId, spanId: ids.childId, parentSpanId: ids.rootId, kind: SpanKind.CLIENT, status: { code: StatusCode.ERROR, message: 'boom' } });
    expect(child?.span.events.map((e) => [e.name, e.attributes])).toEqual([['rows', { n: 3 }]]);
    expect(child?.span.endTimeUnixNano).toBeGreaterThan(child?.span.startTimeUnixNano ?? 0n);
    // The sender's address travels beside the batch, for tagging by connection.
    expect(clientInfo(sinks.traces.received[0])?.address).toBe('127.0.0.1');
  });
});

function post(path: string, body: Buffer | string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: httpPort, path, method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const PROTO = { 'content-type': 'application/x-protobuf' };
const JSON_CT = { 'content-type': 'application/json' };

describe('otlp/http answers per the OTLP spec', () => {
  it('accepts a gzip-encoded protobuf body and answers with an ExportTraceServiceResponse', async () => {
    const res = await post('/v1/traces', zlib.gzipSync(encodeTracesRequest(tracesOf('a', 'b'))), { ...PROTO, 'content-encoding': 'gzip' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-protobuf');
    expect(decodeTracesResponse(res.body)).toEqual({ rejected: 0, errorMessage: '' });
    expect(spansOf(sinks.traces.received).map((s) => s.span.name)).toEqual(['a', 'b']);
  });

  it('answers 415 for another content type or encoding', async () => {
    const a = await post('/v1/traces', 'x', { 'content-type': 'text/plain' });
    expect(a.status).toBe(415);
    expect(JSON.parse(a.body.toString()).message).toBe('unsupported content type "text/plain"; use application/x-protobuf or application/json');
    const b = await post('/v1/traces', 'x', { ...PROTO, 'content-encoding': 'br' });
    expect(b.status).toBe(415);
  });

  it('answers 400 with a Status naming the problem for a malformed body, and keeps serving', async () => {
    const bad = await post('/v1/traces', Buffer.from([0x0a, 0x05, 0x01]), PROTO);
    expect(bad.status).toBe(400);
    expect(bad.headers['content-type']).toBe('application/x-protobuf');
    expect(bad.body.toString('latin1')).toMatch(/truncated|past the end|length/i);
    const badJson = await post('/v1/traces', '{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}', JSON_CT);
    expect(badJson.status).toBe(400);
    expect(JSON.parse(badJson.body.toString()).message).toMatch(/traceId/);
    const notJson = await post('/v1/traces', '{not json', JSON_CT);
    expect(notJson.status).toBe(400);
    const badGzip = await post('/v1/traces', Buffer.from('not gzip'), { ...PROTO, 'content-encoding': 'gzip' });
    expect(badGzip.status).toBe(400);
    const good = await post('/v1/traces', encodeTracesRequest(tracesOf('after')), PROTO);
    expect(good.status).toBe(200);
    expect(spansOf(sinks.traces.received).map((s) => s.span.name)).toEqual(['after']);
    expect(await telemetry.value('metaflow_component_dropped_items_total', { reason: 'malformed' })).toBeGreaterThanOrEqual(4);
  });

  it('answers 413 over the size limit, also after decompression (a gzip bomb)', async () => {
    const big = await post('/v1/traces', Buffer.alloc(2 << 20), PROTO);
    expect(big.status).toBe(413);
    const bomb = zlib.gzipSync(Buffer.alloc(8 << 20));
    expect(bomb.length).toBeLessThan(1 << 20);
    const res = await post('/v1/traces', bomb, { ...PROTO, 'content-encoding': 'gzip' });
    expect(res.status).toBe(413);
    expect(sinks.traces.received).toEqual([]);
  });

  it('answers 405 for GET and 404 elsewhere', async () => {
    const get = await new Promise<number>((resolve) => http.get({ host: '127.0.0.1', port: httpPort, path: '/v1/traces' }, (r) => {
      r.resume();
      resolve(r.statusCode ?? 0);
    }));
    expect(get).toBe(405);
    expect((await post('/v2/traces', 'x', PROTO)).status).toBe(404);
  });

  it('answers 429 with Retry-After when the pipeline is full and 503 when it is unavailable', async () => {
    sinks.traces.fail = new RetryableError('exhausted', 'sending queue is full', { retryAfterMs: 2000 });
    const full = await post('/v1/traces', encodeTracesRequest(tracesOf('x')), PROTO);
    expect(full.status).toBe(429);
    expect(full.headers['retry-after']).toBe('2');
    expect(retryDelayFromStatus(full.body)).toBe(2000);
    sinks.traces.fail = new RetryableError('unavailable', 'data refused due to high memory usage', { retryAfterMs: 1000 });
    const mem = await post('/v1/traces', JSON.stringify({ resourceSpans: [] }), JSON_CT);
    // An empty request never reaches the pipeline.
    expect(mem.status).toBe(200);
    const mem2 = await post('/v1/traces', encodeTracesRequest(tracesOf('x')), PROTO);
    expect(mem2.status).toBe(503);
    expect(mem2.headers['retry-after']).toBe('1');
    expect(await telemetry.value('otelcol_receiver_refused_spans_total', { transport: 'http' })).toBeGreaterThanOrEqual(2);
  });

  it('answers a partial success when the pipeline rejects part of a batch', async () => {
    sinks.traces.fail = new PermanentError('2 spans had no name', { rejected: 2 });
    const res = await post('/v1/traces', encodeTracesRequest(tracesOf('a', 'b', 'c')), PROTO);
    expect(res.status).toBe(200);
    expect(decodeTracesResponse(res.body)).toEqual({ rejected: 2, errorMessage: '2 spans had no name' });
  });

  it('survives 2,000 random and mutated bodies with 400s, never a crash', async () => {
    const valid = encodeTracesRequest(tracesOf('a', 'b'));
    let seed = 1;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const statuses = new Map<number, number>();
    for (let i = 0; i < 2000; i++) {
      let body: Buffer;
      if (i % 2) {
        body = Buffer.from(Array.from({ length: Math.floor(rand() * 200) }, () => Math.floor(rand() * 256)));
      } else {
        body = Buffer.from(valid);
        for (let k = 0; k < 3; k++) body[Math.floor(rand() * body.length)] = Math.floor(rand() * 256);
      }
      const res = await post(i % 5 === 0 ? '/v1/logs' : '/v1/traces', body, i % 7 === 0 ? JSON_CT : PROTO);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    }
    expect([...statuses.keys()].every((s) => s === 200 || s === 400)).toBe(true);
    expect(statuses.get(400)).toBeGreaterThan(1000);
    const good = await post('/v1/traces', valid, PROTO);
    expect(good.status).toBe(200);
  });
});

function grpcCall(path: string, body: Buffer): Promise<{ err: grpc.ServiceError | null; res?: Buffer }> {
  const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest<Buffer, Buffer>(path, (b) => b, (b) => b, body, (err, res) => {
      client.close();
      resolve({ err, res });
    });
  });
}

const TRACE_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

describe('otlp/grpc answers per the OTLP spec', () => {
  it('answers INVALID_ARGUMENT for a malformed message and keeps serving', async () => {
    const bad = await grpcCall(TRACE_PATH, Buffer.from([0x0a, 0xff, 0xff, 0xff]));
    expect(bad.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    const good = await grpcCall(TRACE_PATH, encodeTracesRequest(tracesOf('ok')));
    expect(good.err).toBeNull();
    expect(decodeTracesResponse(good.res as Buffer)).toEqual({ rejected: 0, errorMessage: '' });
  });

  it('answers RESOURCE_EXHAUSTED with a RetryInfo when the pipeline is full, UNAVAILABLE when it is unavailable', async () => {
    sinks.traces.fail = new RetryableError('exhausted', 'sending queue is full', { retryAfterMs: 1500 });
    const full = await grpcCall(TRACE_PATH, encodeTracesRequest(tracesOf('x')));
    expect(full.err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(full.err?.details).toBe('sending queue is full');
    expect(retryDelayFromStatus(full.err?.metadata.get('grpc-status-details-bin')[0] as Buffer)).toBe(1500);
    sinks.traces.fail = new Error('disk full');
    const down = await grpcCall(TRACE_PATH, encodeTracesRequest(tracesOf('x')));
    expect(down.err?.code).toBe(grpc.status.UNAVAILABLE);
    expect(down.err?.details).toBe('pipeline failed: disk full');
  });

  it('refuses a message over max_recv_msg_size_mib with RESOURCE_EXHAUSTED', async () => {
    const names = Array.from({ length: 30 }, (_, i) => 'x'.repeat(40000) + i);
    const r = await grpcCall(TRACE_PATH, encodeTracesRequest(tracesOf(...names)));
    expect(r.err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(sinks.traces.received).toEqual([]);
  });
});

describe('otlp receiver config', () => {
  it('requires a protocol and checks paths', () => {
    const cfg = factory.config.parseOrThrow({ protocols: {} });
    expect(factory.validate?.(cfg)).toEqual([['protocols', 'must specify at least one protocol (grpc or http) when using the otlp receiver']]);
    const bad = factory.config.parseOrThrow({ protocols: { http: { traces_url_path: 'v1/t' } } });
    expect(factory.validate?.(bad)).toEqual([['protocols::http::traces_url_path', 'must start with "/", got "v1/t"']]);
  });

  it('enables only the protocols given, with defaults', () => {
    const cfg = factory.config.parseOrThrow({ protocols: { grpc: null } });
    expect(cfg.protocols.http).toBeUndefined();
    expect(cfg.protocols.grpc?.endpoint).toBe('0.0.0.0:4317');
    expect(factory.endpoints?.(cfg)).toEqual([{ path: 'protocols::grpc::endpoint', endpoint: '0.0.0.0:4317' }]);
  });
});
