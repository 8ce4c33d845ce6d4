/**
 * The remote-write endpoint over real HTTP: 2.0 requests and their
 * `X-Prometheus-Remote-Write-*-Written` headers, content negotiation (415),
 * corrupt and empty bodies (400), size limits (413), back-pressure (429/503
 * with Retry-After), and what the metrics pipeline receives.
 */
import type { Consumer } from '../../pipeline/component';
import { RetryableError, PermanentError } from '../../pipeline/errors';
import { nopLogger } from '../../pipeline/logger';
import type {
  ExponentialHistogramDataPoint,
  HistogramDataPoint,
  Metric,
  Metrics,
  NumberDataPoint,
} from '../../pipeline/pdata';
import { encodeWriteRequestV1, encodeWriteRequestV2, type NativeHistogram, type TimeSeries } from '../../pipeline/prometheus/prompb';
import { snappyCompress } from '../../pipeline/prometheus/snappy';
import { nopTelemetry } from '../../pipeline/telemetry';
import { config } from './config';
import { negotiate, RemoteWriteServer } from './receiver';

const V2 = 'application/x-protobuf;proto=io.prometheus.write.v2.Request';
const V1 = 'application/x-protobuf';

let server: RemoteWriteServer;
let received: Metrics[] = [];
let fail: Error | undefined;
let url: string;

const consumer: Consumer<'metrics'> = {
  async consume(m: Metrics) {
    if (fail) throw fail;
    received.push(m);
  },
};

beforeAll(async () => {
  server = new RemoteWriteServer(config.parseOrThrow({ endpoint: '127.0.0.1:0', max_request_body_size: 1024 * 1024 }), { metrics: consumer }, nopTelemetry(), nopLogger);
  await server.start();
  url = `http://127.0.0.1:${server.port}/api/v1/write`;
});

afterAll(() => server.shutdown());

beforeEach(() => {
  received = [];
  fail = undefined;
});

async function post(body: Uint8Array, headers: Record<string, string>, path = url): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(path, { method: 'POST', body, headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function written(h: Headers): [string | null, string | null, string | null] {
  return [
    h.get('x-prometheus-remote-write-samples-written'),
    h.get('x-prometheus-remote-write-histograms-written'),
    h.get('x-prometheus-remote-write-exemplars-written'),
  ];
}

function metricsByName(batches: Metrics[]): Map<string, Metric> {
  const out = new Map<string, Metric>();
  for (const m of batches) for (const rm of m.resourceMetrics) for (const sm of rm.scopeMetrics) for (const metric of sm.metrics) out.set(metric.name, metric);
  return out;
}

const expHistogram: NativeHistogram = {
  isFloat: false,
  count: 9,
  sum: 12.5,
  schema: 0,
  zeroThreshold: 1e-128,
  zeroCount: 1,
  negativeSpans: [],
  negativeDeltas: [],
  negativeCounts: [],
  // Buckets 1, 2 (counts 2, 3), a gap of one, then bucket 4 (count 3).
  positiveSpans: [
    { offset: 1, length: 2 },
    { offset: 1, length: 1 },
  ],
  positiveDeltas: [2, 1, 0],
  positiveCounts: [],
  resetHint: 0,
  timestamp: 1700000000000,
  customValues: [],
};

const customHistogram: NativeHistogram = {
  ...expHistogram,
  schema: -53,
  count: 6,
  sum: 3,
  zeroCount: 0,
  customValues: [0.1, 1, 10],
  // Buckets 0 and 2 of four (le 0.1, 1, 10, +Inf).
  positiveSpans: [
    { offset: 0, length: 1 },
    { offset: 1, length: 1 },
  ],
  positiveDeltas: [4, -2],
};

const v2series: TimeSeries[] = [
  {
    labels: [
      { name: '__name__', value: 'http_requests_total' },
      { name: 'instance', value: 'api-1:8080' },
      { name: 'job', value: 'api' },
      { name: 'path', value: '/users' },
    ],
    samples: [
      { value: 10, timestamp: 1700000000000 },
      { value: 12, timestamp: 1700000015000 },
    ],
    exemplars: [
      {
        labels: [
          { name: 'span_id', value: '00f067aa0ba902b7' },
          { name: 'trace_id', value: '4BF92F3577B34DA6A3CE929D0E0E4736' },
          { name: 'user', value: 'u1' },
        ],
        value: 1,
        timestamp: 1700000014000,
      },
    ],
    metadata: { type: 1, help: 'HTTP requests.', unit: '' },
    createdTimestamp: 1699999990000,
  },
  {
    labels: [
      { name: '__name__', value: 'queue_depth' },
      { name: 'job', value: 'api' },
    ],
    samples: [{ value: NaN, timestamp: 1700000015000, stale: true }],
    metadata: { type: 2, help: '', unit: '' },
  },
  { labels: [{ name: '__name__', value: 'rpc_duration_seconds' }, { name: 'job', value: 'api' }], samples: [], histograms: [expHistogram], metadata: { type: 3, help: 'RPC latency.', unit: 'seconds' } },
  { labels: [{ name: '__name__', value: 'db_duration_seconds' }, { name: 'job', value: 'db' }], samples: [], histograms: [customHistogram], metadata: { type: 3, help: '', unit: 'seconds' } },
];

describe('content negotiation', () => {
  it('reads the message from the content type', () => {
    expect(negotiate('application/x-protobuf')).toBe('1.0');
    expect(negotiate('application/x-protobuf;proto=prometheus.WriteRequest')).toBe('1.0');
    expect(negotiate('application/x-protobuf; proto=io.prometheus.write.v2.Request')).toBe('2.0');
    expect(negotiate('application/x-protobuf;proto=io.prometheus.write.v3.Request')).toMatch(/unsupported proto/);
    expect(negotiate('application/json')).toMatch(/unsupported content type/);
    expect(negotiate(undefined)).toMatch(/unsupported content type/);
  });
});

describe('remote write 2.0', () => {
  it('writes samples, native histograms, exemplars and metadata, and says how many in the -Written headers', async () => {
    const r = await post(snappyCompress(encodeWriteRequestV2(v2series)), { 'content-type': V2, 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '2.0.0' });
    expect(r.status).toBe(204);
    expect(written(r.headers)).toEqual(['3', '2', '1']);
    expect(received).toHaveLength(1);
    const byName = metricsByName(received);

    const counter = byName.get('http_requests_total') as Metric;
    expect(counter.description).toBe('HTTP requests.');
    expect(counter.data).toMatchObject({ type: 'sum', isMonotonic: true, aggregationTemporality: 2 });
    const points = (counter.data as { dataPoints: NumberDataPoint[] }).dataPoints;
    expect(points.map((p) => [p.value, p.timeUnixNano, p.startTimeUnixNano])).toEqual([
      [10, 1700000000000000000n, 1699999990000000000n],
      [12, 1700000015000000000n, 1699999990000000000n],
    ]);
    expect(points[0].attributes).toEqual({ instance: 'api-1:8080', job: 'api', path: '/users' });
    expect(points[1].exemplars).toEqual([
      { filteredAttributes: { user: 'u1' }, timeUnixNano: 1700000014000000000n, value: 1, isInt: false, spanId: '00f067aa0ba902b7', traceId: '4bf92f3577b34da6a3ce929d0e0e4736' },
    ]);
    const rm = received[0].resourceMetrics.find((x) => x.resource.attributes['service.instance.id'] === 'api-1:8080');
    expect(rm?.resource.attributes).toEqual({ 'service.name': 'api', 'service.instance.id': 'api-1:8080' });

    const gauge = byName.get('queue_depth') as Metric;
    expect(gauge.data.type).toBe('gauge');
    const stale = (gauge.data as { dataPoints: NumberDataPoint[] }).dataPoints[0];
    expect(stale.flags).toBe(1);
    expect(stale.value).toBeNaN();

    const exp = byName.get('rpc_duration_seconds') as Metric;
    expect(exp.unit).toBe('seconds');
    const ep = (exp.data as { dataPoints: ExponentialHistogramDataPoint[] }).dataPoints[0];
    // Prometheus bucket 1 is (1, 2]: OpenTelemetry's bucket 0 at scale 0.
    expect([ep.scale, ep.count, ep.sum, ep.zeroCount, ep.positive.offset, ep.positive.bucketCounts]).toEqual([0, 9, 12.5, 1, 0, [2, 3, 0, 3]]);

    const custom = byName.get('db_duration_seconds') as Metric;
    const hp = (custom.data as { dataPoints: HistogramDataPoint[] }).dataPoints[0];
    expect([hp.explicitBounds, hp.bucketCounts, hp.count, hp.sum]).toEqual([[0.1, 1, 10], [4, 0, 2, 0], 6, 3]);
  });

  it('takes a missing Content-Encoding as snappy', async () => {
    const r = await post(snappyCompress(encodeWriteRequestV2(v2series.slice(0, 1))), { 'content-type': V2 });
    expect(r.status).toBe(204);
    expect(written(r.headers)).toEqual(['2', '0', '1']);
  });

  it('answers an empty request (no series) with 204 and zero counts', async () => {
    const r = await post(snappyCompress(encodeWriteRequestV2([])), { 'content-type': V2, 'content-encoding': 'snappy' });
    expect(r.status).toBe(204);
    expect(written(r.headers)).toEqual(['0', '0', '0']);
    expect(received).toHaveLength(0);
  });
});

describe('refused requests', () => {
  const body = () => snappyCompress(encodeWriteRequestV2(v2series));

  it('415 for another content type, without -Written headers (negotiation failed)', async () => {
    const r = await post(body(), { 'content-type': 'application/json', 'content-encoding': 'snappy' });
    expect(r.status).toBe(415);
    expect(r.text).toMatch(/unsupported content type/);
    expect(written(r.headers)).toEqual([null, null, null]);
  });

  it('415 for an unknown proto message', async () => {
    const r = await post(body(), { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v3.Request', 'content-encoding': 'snappy' });
    expect(r.status).toBe(415);
    expect(r.text).toMatch(/unsupported proto/);
  });

  it('415 for gzip encoding', async () => {
    const r = await post(body(), { 'content-type': V2, 'content-encoding': 'gzip' });
    expect(r.status).toBe(415);
    expect(r.text).toMatch(/unsupported content encoding "gzip"/);
    expect(written(r.headers)).toEqual([null, null, null]);
    expect(received).toHaveLength(0);
  });

  it('400 for a corrupt snappy body, with zero -Written counts', async () => {
    const r = await post(Buffer.from([0x20, 0x01, 0x02, 0x03, 0x04]), { 'content-type': V2, 'content-encoding': 'snappy' });
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/corrupt snappy block/);
    expect(written(r.headers)).toEqual(['0', '0', '0']);
  });

  it('400 for an empty body', async () => {
    const r = await post(new Uint8Array(0), { 'content-type': V2, 'content-encoding': 'snappy' });
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/empty body/);
    expect(written(r.headers)).toEqual(['0', '0', '0']);
  });

  it('400 for valid snappy around a malformed protobuf, naming the problem', async () => {
    const raw = encodeWriteRequestV2(v2series);
    const r = await post(snappyCompress(raw.subarray(0, raw.length - 7)), { 'content-type': V2, 'content-encoding': 'snappy' });
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/^malformed io\.prometheus\.write\.v2\.Request: .*truncated/);
    expect(written(r.headers)).toEqual(['0', '0', '0']);
    expect(received).toHaveLength(0);
  });

  it('400 for a series with samples but no __name__', async () => {
    const r = await post(snappyCompress(encodeWriteRequestV2([{ labels: [{ name: 'job', value: 'x' }], samples: [{ value: 1, timestamp: 1 }] }])), { 'content-type': V2 });
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/no __name__ label/);
  });

  it('413 when the snappy preamble claims more than the limit, before inflating', async () => {
    // Preamble: 2^30 bytes uncompressed.
    const r = await post(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x04, 0x00]), { 'content-type': V2, 'content-encoding': 'snappy' });
    expect(r.status).toBe(413);
    expect(r.text).toMatch(/1073741824 bytes exceeds the limit of 1048576/);
  });

  it('404 for another path, 405 for another method', async () => {
    expect((await post(body(), { 'content-type': V2 }, url.replace('/api/v1/write', '/write'))).status).toBe(404);
    const res = await fetch(url);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });
});

describe('back-pressure', () => {
  it('429 with Retry-After when the pipeline queue is full', async () => {
    fail = new RetryableError('exhausted', 'sending queue is full (1000 batches)', { retryAfterMs: 2500 });
    const r = await post(snappyCompress(encodeWriteRequestV2(v2series)), { 'content-type': V2, 'content-encoding': 'snappy' });
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('3');
    expect(r.text).toMatch(/sending queue is full/);
    expect(written(r.headers)).toEqual(['0', '0', '0']);
  });

  it('503 with Retry-After when memory is over the limit', async () => {
    fail = new RetryableError('unavailable', 'memory usage is above the hard limit');
    const r = await post(snappyCompress(encodeWriteRequestV1({ timeseries: [v2series[0]] })), { 'content-type': V1, 'content-encoding': 'snappy' });
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('1');
    // 1.0 answers carry no -Written headers (1.0 senders must not rely on them).
    expect(written(r.headers)).toEqual([null, null, null]);
  });

  it('400 with the written counts for a partial write', async () => {
    fail = new PermanentError('2 points are out of range', { rejected: 2 });
    const r = await post(snappyCompress(encodeWriteRequestV2(v2series)), { 'content-type': V2, 'content-encoding': 'snappy' });
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/2 of 5 points rejected/);
    expect(Number(r.headers.get('x-prometheus-remote-write-samples-written'))).toBeGreaterThan(0);
  });
});

describe('remote write 1.0', () => {
  it('remembers metadata sent in a request of its own and types later series with it', async () => {
    const meta = await post(snappyCompress(encodeWriteRequestV1({ timeseries: [], metadata: [{ type: 1, metricFamilyName: 'jobs_processed', help: 'Jobs.', unit: '' }] })), {
      'content-type': V1,
      'content-encoding': 'snappy',
    });
    expect(meta.status).toBe(204);
    const r = await post(
      snappyCompress(
        encodeWriteRequestV1({
          timeseries: [
            { labels: [{ name: '__name__', value: 'jobs_processed' }], samples: [{ value: 5, timestamp: 1700000000000 }] },
            { labels: [{ name: '__name__', value: 'temperature' }], samples: [{ value: 20, timestamp: 1700000000000 }] },
            { labels: [{ name: '__name__', value: 'errors_total' }], samples: [{ value: 1, timestamp: 1700000000000 }] },
          ],
        }),
      ),
      { 'content-type': V1, 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' },
    );
    expect(r.status).toBe(204);
    const byName = metricsByName(received);
    expect(byName.get('jobs_processed')?.data.type).toBe('sum');
    expect(byName.get('jobs_processed')?.description).toBe('Jobs.');
    expect(byName.get('temperature')?.data.type).toBe('gauge');
    expect(byName.get('errors_total')?.data.type).toBe('sum');
  });
});
