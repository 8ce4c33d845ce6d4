/**
 * Bad input on every Prometheus and RED input path of a running server (real
 * HTTP, embedded store): the remote-write receiver, remote read, the RED and
 * service-map APIs, and odd spans reaching the redmetrics and servicegraph
 * connectors. Every bad request gets its 4xx with a reason, the process keeps
 * serving, and everything accepted — interleaved with the garbage — is stored.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { factory as redmetrics } from '../connectors/redmetrics';
import { factory as servicegraph } from '../connectors/servicegraph';
import { factory as clickhouse } from '../exporters/clickhouse';
import { factory as otlp } from '../receivers/otlp';
import { factory as prw } from '../receivers/prometheusremotewrite';
import { factory as query } from '../server/query';
import { Registry } from '../pipeline/registry';
import { Service } from '../pipeline/service';
import { decodeReadResponse, encodeReadRequest, encodeWriteRequestV1, encodeWriteRequestV2, MatchType, type TimeSeries } from '../pipeline/prometheus/prompb';
import { snappyCompress, snappyUncompressSync } from '../pipeline/prometheus/snappy';
import { eventually, rows } from './helpers/metaflow';
import { freePorts } from './helpers/ports';

const V1 = 'application/x-protobuf';
const V2 = 'application/x-protobuf;proto=io.prometheus.write.v2.Request';

let dir: string;
let svc: Service | undefined;
let writeUrl: string;
let queryPort: number;
let otlpHttp: number;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-prom-bad-'));
  const [rw, qp, http] = await freePorts(3);
  queryPort = qp;
  otlpHttp = http;
  writeUrl = `http://127.0.0.1:${rw}/api/v1/write`;
  svc = Service.fromSources(
    [
      `yaml:
receivers:
  otlp: { protocols: { http: { endpoint: 127.0.0.1:${http} } } }
  prometheusremotewrite: { endpoint: 127.0.0.1:${rw}, max_request_body_size: 1048576 }
connectors:
  redmetrics: { flush_delay: 500ms, metrics_flush_interval: 250ms }
  servicegraph: { metrics_flush_interval: 500ms, store: { ttl: 500ms }, store_expiration_loop: 100ms }
exporters:
  clickhouse: { data_dir: ${path.join(dir, 'data')} }
extensions:
  query: { endpoint: 127.0.0.1:${qp} }
service:
  extensions: [query]
  telemetry: { metrics: { level: none }, logs: { level: error } }
  pipelines:
    traces: { receivers: [otlp], exporters: [clickhouse, redmetrics, servicegraph] }
    metrics: { receivers: [prometheusremotewrite, redmetrics, servicegraph], exporters: [clickhouse] }
`,
    ],
    new Registry([otlp, prw, redmetrics, servicegraph, clickhouse, query]),
  );
  await svc.start();
}, 120000);

afterAll(async () => {
  await svc?.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Deterministic pseudo-random bytes (mulberry32). */
function randomBytes(seed: number, n: number): Buffer {
  let a = seed >>> 0;
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    b[i] = (t ^ (t >>> 14)) & 0xff;
  }
  return b;
}

function series(i: number, phase: string): TimeSeries[] {
  return [
    {
      labels: [
        { name: '__name__', value: 'bad_input_probe_total' },
        { name: 'job', value: 'probe' },
        { name: 'phase', value: phase },
        { name: 'seq', value: String(i) },
      ],
      samples: [{ value: i + 0.5, timestamp: Date.now() }],
    },
  ];
}

async function post(url: string, body: Uint8Array, headers: Record<string, string>): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(url, { method: 'POST', body, headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('remote-write receiver under bad input', () => {
  it('answers every bad request with its 4xx while the valid ones around them are all stored', async () => {
    const valid1 = encodeWriteRequestV1({ timeseries: series(0, 'x') });
    const valid2 = encodeWriteRequestV2(series(0, 'x'));
    const bad: Array<[string, Uint8Array, Record<string, string>, number[]]> = [];
    for (let s = 1; s <= 20; s++) {
      const raw = randomBytes(s, 1 + ((s * 37) % 400));
      bad.push([`random bytes #${s} (1.0)`, raw, { 'content-type': V1, 'content-encoding': 'snappy' }, [400, 413]]);
      bad.push([`random bytes #${s} (2.0)`, raw, { 'content-type': V2, 'content-encoding': 'snappy' }, [400, 413]]);
      bad.push([`snappy around random bytes #${s}`, snappyCompress(raw), { 'content-type': V1, 'content-encoding': 'snappy' }, [400]]);
    }
    for (const cut of [1, 3, 7, 12, valid1.length - 2]) {
      bad.push([`1.0 protobuf cut at ${cut}`, snappyCompress(valid1.subarray(0, cut)), { 'content-type': V1, 'content-encoding': 'snappy' }, [400]]);
    }
    // A 2.0 request starts with its symbol table: a cut just after a whole symbol is a valid request with no series (204, nothing written).
    for (const cut of [1, 3, 7, 12, valid2.length - 2]) {
      bad.push([`2.0 protobuf cut at ${cut}`, snappyCompress(valid2.subarray(0, cut)), { 'content-type': V2, 'content-encoding': 'snappy' }, [400, 204]]);
    }
    const block = snappyCompress(valid1);
    bad.push(['truncated snappy block', block.subarray(0, block.length - 3), { 'content-type': V1, 'content-encoding': 'snappy' }, [400]]);
    bad.push(['gzip encoding', block, { 'content-type': V1, 'content-encoding': 'gzip' }, [415]]);
    bad.push(['zstd encoding', block, { 'content-type': V2, 'content-encoding': 'zstd' }, [415]]);
    bad.push(['JSON content type', Buffer.from('{"series":[]}'), { 'content-type': 'application/json' }, [415]]);
    bad.push(['text content type', Buffer.from('up 1'), { 'content-type': 'text/plain' }, [415]]);
    bad.push(['unknown proto', block, { 'content-type': 'application/x-protobuf;proto=foo.Bar', 'content-encoding': 'snappy' }, [415]]);
    bad.push(['empty body', Buffer.alloc(0), { 'content-type': V2, 'content-encoding': 'snappy' }, [400]]);
    bad.push(['preamble claiming 4 GiB', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]), { 'content-type': V1, 'content-encoding': 'snappy' }, [413]]);

    // Valid writes interleaved with the garbage, sent concurrently.
    const VALID = 24;
    const sends: Array<Promise<{ what: string; status: number; expected: number[]; headers: Headers; text: string }>> = [];
    let seq = 0;
    bad.forEach(([what, body, headers, expected], i) => {
      sends.push(post(writeUrl, body, headers).then((r) => ({ what, expected, ...r })));
      if (i % 3 === 0 && seq < VALID) {
        const n = seq++;
        const useV2 = n % 2 === 1;
        const body2 = snappyCompress(useV2 ? encodeWriteRequestV2(series(n, 'mixed')) : encodeWriteRequestV1({ timeseries: series(n, 'mixed') }));
        sends.push(post(writeUrl, body2, { 'content-type': useV2 ? V2 : V1, 'content-encoding': 'snappy' }).then((r) => ({ what: `valid #${n}`, expected: [204], ...r })));
      }
    });
    while (seq < VALID) {
      const n = seq++;
      sends.push(post(writeUrl, snappyCompress(encodeWriteRequestV1({ timeseries: series(n, 'mixed') })), { 'content-type': V1, 'content-encoding': 'snappy' }).then((r) => ({ what: `valid #${n}`, expected: [204], ...r })));
    }
    const results = await Promise.all(sends);
    const wrong = results.filter((r) => !r.expected.includes(r.status)).map((r) => `${r.what}: ${r.status} ${r.text}`);
    expect(wrong).toEqual([]);
    // Refusals say why.
    for (const r of results) if (r.status >= 400) expect(r.text.trim().length).toBeGreaterThan(5);
    // A cut 2.0 request, refused or empty, reports that nothing was written.
    const v2Cut = results.filter((r) => r.what.startsWith('2.0 protobuf cut'));
    expect(v2Cut.filter((r) => r.status === 400).length).toBeGreaterThan(0);
    for (const r of v2Cut) expect(r.headers.get('x-prometheus-remote-write-samples-written')).toBe('0');

    const stored = await eventually(
      async () => {
        const r = await rows(queryPort, `SELECT groupArray(toUInt32(Attributes['seq'])) AS seqs, sum(Value) AS total FROM otel_metrics_sum WHERE MetricName = 'bad_input_probe_total' AND Attributes['phase'] = 'mixed'`);
        return (r[0].seqs as number[]).length >= VALID ? r[0] : undefined;
      },
      30000,
      `${VALID} valid writes stored`,
    );
    expect((stored.seqs as number[]).sort((a, b) => a - b)).toEqual(Array.from({ length: VALID }, (_, i) => i));
    expect(stored.total).toBe(Array.from({ length: VALID }, (_, i) => i + 0.5).reduce((a, b) => a + b, 0));
    // No part of a cut or corrupt request was stored.
    expect((await rows(queryPort, `SELECT count() AS n FROM otel_metrics_sum WHERE MetricName = 'bad_input_probe_total' AND Attributes['phase'] != 'mixed'`))[0].n).toBe('0');
  });
});

describe('remote read under bad input', () => {
  const readUrl = () => `http://127.0.0.1:${queryPort}/api/v1/read`;
  const headers = { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy' };

  it('refuses random, truncated and mis-encoded requests with 400/413/415 and still answers a valid one', async () => {
    const valid = encodeReadRequest({
      queries: [{ startMs: Date.now() - 3600000, endMs: Date.now() + 60000, matchers: [{ type: MatchType.EQ, name: '__name__', value: 'bad_input_probe_total' }], hints: undefined }],
      acceptedResponseTypes: [0],
    });
    const cases: Array<[string, Uint8Array, Record<string, string>, number]> = [];
    for (let s = 1; s <= 10; s++) cases.push([`random #${s}`, randomBytes(100 + s, 5 + s * 13), headers, 400]);
    for (let s = 1; s <= 10; s++) cases.push([`snappy(random) #${s}`, snappyCompress(randomBytes(200 + s, 5 + s * 13)), headers, 400]);
    for (const cut of [1, 4, 9, valid.length - 1]) cases.push([`cut at ${cut}`, snappyCompress(valid.subarray(0, cut)), headers, 400]);
    cases.push(['gzip', snappyCompress(valid), { ...headers, 'content-encoding': 'gzip' }, 415]);
    cases.push(['empty', Buffer.alloc(0), headers, 400]);
    cases.push(['4 GiB preamble', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), headers, 413]);
    const wrong: string[] = [];
    for (const [what, body, h, status] of cases) {
      const r = await post(readUrl(), body, h);
      if (r.status !== status) wrong.push(`${what}: ${r.status} ${r.text}`);
    }
    expect(wrong).toEqual([]);
    const ok = await fetch(readUrl(), { method: 'POST', body: snappyCompress(valid), headers });
    expect(ok.status).toBe(200);
    const [res] = decodeReadResponse(snappyUncompressSync(Buffer.from(await ok.arrayBuffer()), 1 << 26));
    // The probe series written by the test above, each with its one sample (plus the zero a counter starts from).
    expect(res.filter((s) => s.labels.some((l) => l.name === 'phase' && l.value === 'mixed'))).toHaveLength(24);
  });
});

describe('RED and service-map APIs under bad parameters', () => {
  it('answer 400 with the reason, never 500, and treat hostile values as data', async () => {
    const base = `http://127.0.0.1:${queryPort}`;
    const bad = [
      '/api/v1/red',
      '/api/v1/red?service=',
      '/api/v1/red?service=a&start=yesterday',
      '/api/v1/red?service=a&start=2024-13-45T99:00:00Z',
      '/api/v1/red?service=a&step=-5s',
      '/api/v1/red?service=a&step=0',
      '/api/v1/red?service=a&step=banana',
      '/api/v1/red?service=a&start=2000&end=1000',
      '/api/v1/red?service=a&start=0&end=9999999999999&step=1s',
      '/api/v1/red?service=a&kind=sideways',
      '/api/v1/red?service=a&service=b',
      '/api/v1/service-map?start=nope',
      '/api/v1/service-map?start=2000&end=1000',
    ];
    const wrong: string[] = [];
    for (const p of bad) {
      const r = await fetch(base + p);
      const text = await r.text();
      if (r.status !== 400 || !/"error"/.test(text)) wrong.push(`${p}: ${r.status} ${text.slice(0, 200)}`);
    }
    expect(wrong).toEqual([]);
    // Quotes and SQL in values are parameters, not SQL: an empty answer, not an error.
    const hostile = await fetch(`${base}/api/v1/red?service=${encodeURIComponent("x' OR 1=1 --")}&endpoint=${encodeURIComponent("');DROP TABLE otel_traces;--")}`);
    expect(hostile.status).toBe(200);
    expect(((await hostile.json()) as { total: { requests: number } }).total.requests).toBe(0);
    expect((await rows(queryPort, 'SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name = \'otel_traces\''))[0].n).toBe('1');
  });
});

describe('odd spans reaching the connectors', () => {
  it('counts every accepted span once in RED, whatever its times, kind, name or attributes', async () => {
    const now = BigInt(Date.now()) * 1000000n;
    const span = (i: number, over: Record<string, unknown>) => ({
      traceId: (i + 1).toString(16).padStart(32, '0'),
      spanId: (i + 1).toString(16).padStart(16, '0'),
      name: 'GET /odd',
      kind: 2,
      startTimeUnixNano: String(now - 5000000n),
      endTimeUnixNano: String(now),
      ...over,
    });
    const odd = [
      span(0, {}),
      span(1, { startTimeUnixNano: String(now), endTimeUnixNano: String(now - 1000000000n) }), // ends before it starts
      span(2, { startTimeUnixNano: '0', endTimeUnixNano: '0' }), // 1970
      span(3, { endTimeUnixNano: '18446744073709551615' }), // the far future
      span(4, { name: '' }),
      span(5, { name: 'x'.repeat(20000) }),
      span(6, { kind: 0 }),
      span(7, { kind: 5, parentSpanId: 'ffffffffffffffff' }), // consumer with a parent never seen
      span(8, { kind: 3, attributes: [{ key: 'metaflow.endpoint', value: { arrayValue: { values: [{ intValue: '1' }] } } }] }),
      span(9, { status: { code: 2 }, attributes: [{ key: 'metaflow.response_status', value: { stringValue: 'no-such-status' } }] }),
      span(10, { attributes: [{ key: 'metaflow.l7_protocol', value: { stringValue: '\u0000\uffff' } }, { key: 'server.address', value: { stringValue: '' } }] }),
    ];
    const send = (resource: Record<string, unknown>, spans: unknown[]) =>
      fetch(`http://127.0.0.1:${otlpHttp}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ resourceSpans: [{ resource, scopeSpans: [{ scope: {}, spans }] }] }),
      });
    const r1 = await send({ attributes: [{ key: 'service.name', value: { stringValue: 'odd-svc' } }] }, odd);
    expect(r1.status).toBe(200);
    // No service.name at all: stored with an empty ServiceName, counted in RED as unknown_service (the SDKs' name for it).
    const r2 = await send({}, [span(11, {})]);
    expect(r2.status).toBe(200);
    const stored = await eventually(async () => {
      const r = await rows(queryPort, `SELECT ServiceName AS s, count() AS n FROM otel_traces WHERE SpanName = 'GET /odd' OR TraceId IN ('${odd.map((s) => s.traceId).join("','")}') GROUP BY s ORDER BY s`);
      return r.reduce((a, x) => a + Number(x.n), 0) === odd.length + 1 ? r : undefined;
    }, 30000, 'the odd spans stored');
    const red = await eventually(async () => {
      const r = await rows(
        queryPort,
        `SELECT ServiceName AS s, sum(Value) AS n FROM otel_metrics_sum WHERE MetricName = 'metaflow.red.requests' AND ScopeAttributes['metaflow.resolution'] = '1s' GROUP BY s ORDER BY s`,
      );
      return r.reduce((a, x) => a + Number(x.n), 0) === odd.length + 1 ? r : undefined;
    }, 30000, 'every accepted span counted in RED');
    expect(red.map((x) => [x.s, Number(x.n)])).toEqual([
      ['odd-svc', odd.length],
      ['unknown_service', 1],
    ]);
    expect(stored.map((x) => [x.s, Number(x.n)])).toEqual([
      ['', 1],
      ['odd-svc', odd.length],
    ]);
    // The server keeps serving the APIs afterwards.
    const api = await fetch(`http://127.0.0.1:${queryPort}/api/v1/red?service=odd-svc&kind=all`);
    expect(api.status).toBe(200);
    expect(((await api.json()) as { total: { requests: number } }).total.requests).toBe(odd.length);
    expect((await fetch(`http://127.0.0.1:${queryPort}/api/v1/service-map`)).status).toBe(200);
  });
});
