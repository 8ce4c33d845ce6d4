/**
 * The redmetrics connector with a controlled clock: what it counts, the
 * windows it emits at each resolution, how client and server views stay
 * apart, zero-code span attributes, the endpoint budget with its overflow
 * bucket and counter, late spans, histograms, temporality, and shutdown.
 */
import type { Consumer, CreateSettings } from '../../pipeline/component';
import { ComponentID } from '../../pipeline/component';
import { nopLogger } from '../../pipeline/logger';
import {
  SpanKind,
  StatusCode,
  type Attributes,
  type ExponentialHistogramDataPoint,
  type HistogramDataPoint,
  type Metrics,
  type NumberDataPoint,
  type Span,
  type Traces,
} from '../../pipeline/pdata';
import { Telemetry } from '../../pipeline/telemetry';
import { config, validate, type RedConfig } from './config';
import { factory } from './factory';
import { l7Protocol, RedMetricsConnector } from './redmetrics';

const T0 = 1_700_000_000_000; // ms, a whole second (and minute: 1700000000 % 60 = 20 → not; see minute())

let clock = T0;
let emitted: Metrics[] = [];
const sink: Consumer<'metrics'> = {
  async consume(m: Metrics) {
    emitted.push(m);
  },
};

function settings(telemetry = new Telemetry('normal')): CreateSettings {
  return { id: new ComponentID('redmetrics'), kind: 'connector', logger: nopLogger, telemetry: telemetry.forComponent('connector', 'redmetrics') };
}

function make(cfg: Record<string, unknown> = {}, telemetry?: Telemetry): RedMetricsConnector {
  const parsed = config.parseOrThrow(cfg) as RedConfig;
  expect(validate(parsed)).toEqual([]);
  return new RedMetricsConnector(parsed, settings(telemetry), sink, { now: () => clock });
}

interface SpanSpec {
  service?: string;
  name?: string;
  kind?: SpanKind;
  status?: StatusCode;
  /** End time in ms since epoch. */
  end?: number;
  durMs?: number;
  attrs?: Attributes;
  resource?: Attributes;
}

function traces(specs: SpanSpec[]): Traces {
  return {
    resourceSpans: specs.map((s) => {
      const end = BigInt(Math.round((s.end ?? clock) * 1e6));
      const span: Span = {
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: 'b7ad6b7169203331',
        traceState: '',
        parentSpanId: '',
        flags: 0,
        name: s.name ?? 'GET /users',
        kind: s.kind ?? SpanKind.SERVER,
        startTimeUnixNano: end - BigInt(Math.round((s.durMs ?? 5) * 1e6)),
        endTimeUnixNano: end,
        attributes: s.attrs ?? {},
        droppedAttributesCount: 0,
        events: [],
        droppedEventsCount: 0,
        links: [],
        droppedLinksCount: 0,
        status: { code: s.status ?? StatusCode.UNSET, message: '' },
      };
      return {
        resource: { attributes: { 'service.name': s.service ?? 'api', ...s.resource }, droppedAttributesCount: 0 },
        scopeSpans: [{ scope: { name: 't', version: '', attributes: {}, droppedAttributesCount: 0 }, spans: [span], schemaUrl: '' }],
        schemaUrl: '',
      };
    }),
  };
}

interface Row {
  service: string;
  resolution: string;
  metric: string;
  attrs: Attributes;
  start: number;
  time: number;
  value?: number;
  count?: number;
  sum?: number;
  buckets?: number[];
  point: NumberDataPoint | HistogramDataPoint | ExponentialHistogramDataPoint;
}

/** Every emitted point, flattened. */
function rows(batches = emitted): Row[] {
  const out: Row[] = [];
  for (const b of batches)
    for (const rm of b.resourceMetrics)
      for (const sm of rm.scopeMetrics)
        for (const m of sm.metrics) {
          if (m.data.type === 'empty') continue;
          for (const p of m.data.dataPoints as Array<NumberDataPoint | HistogramDataPoint>) {
            out.push({
              service: String(rm.resource.attributes['service.name']),
              resolution: String(sm.scope.attributes['metaflow.resolution']),
              metric: m.name,
              attrs: p.attributes,
              start: Number(p.startTimeUnixNano / 1000000n),
              time: Number(p.timeUnixNano / 1000000n),
              value: 'value' in p ? Number(p.value) : undefined,
              count: 'count' in p ? p.count : undefined,
              sum: 'sum' in p ? p.sum : undefined,
              buckets: 'bucketCounts' in p ? p.bucketCounts : undefined,
              point: p,
            });
          }
        }
  return out;
}

beforeEach(() => {
  clock = T0;
  emitted = [];
});

describe('RED from spans', () => {
  it('counts requests, errors and durations per service, endpoint, kind, status and protocol, in 1 s windows', async () => {
    const c = make();
    await c.consume(
      traces([
        { service: 'api', name: 'GET /users', kind: SpanKind.SERVER, durMs: 3, attrs: { 'http.request.method': 'GET' } },
        { service: 'api', name: 'GET /users', kind: SpanKind.SERVER, durMs: 30, attrs: { 'http.request.method': 'GET' } },
        { service: 'api', name: 'GET /users', kind: SpanKind.SERVER, durMs: 300, status: StatusCode.ERROR, attrs: { 'http.request.method': 'GET' } },
        // The same call seen from the caller: another series (client kind, other service).
        { service: 'web', name: 'GET /users', kind: SpanKind.CLIENT, durMs: 310, attrs: { 'http.request.method': 'GET' } },
      ]),
    );
    clock += 3500; // past the window and the 2 s flush delay
    await c.flush(false);
    const r = rows().filter((x) => x.resolution === '1s');
    const requests = r.filter((x) => x.metric === 'metaflow.red.requests');
    expect(requests.map((x) => [x.service, x.attrs, x.value])).toEqual([
      ['api', { 'service.name': 'api', endpoint: 'GET /users', 'span.kind': 'SPAN_KIND_SERVER', 'status.code': 'STATUS_CODE_UNSET', 'l7.protocol': 'HTTP' }, 2],
      ['api', { 'service.name': 'api', endpoint: 'GET /users', 'span.kind': 'SPAN_KIND_SERVER', 'status.code': 'STATUS_CODE_ERROR', 'l7.protocol': 'HTTP' }, 1],
      ['web', { 'service.name': 'web', endpoint: 'GET /users', 'span.kind': 'SPAN_KIND_CLIENT', 'status.code': 'STATUS_CODE_UNSET', 'l7.protocol': 'HTTP' }, 1],
    ]);
    expect(requests[0].start).toBe(T0);
    expect(requests[0].time).toBe(T0 + 1000);
    expect(r.filter((x) => x.metric === 'metaflow.red.errors').map((x) => x.value)).toEqual([0, 1, 0]);
    const dur = r.filter((x) => x.metric === 'metaflow.red.duration');
    expect(dur.map((x) => x.count)).toEqual([2, 1, 1]);
    // Durations are good to ±0.5 µs (double arithmetic on nanosecond timestamps).
    dur.forEach((x, i) => expect(x.sum).toBeCloseTo([33, 300, 310][i], 3));
    // Default buckets (ms): 2,4,6,8,10,50,100,200,400,800,… → 3 in (2,4], 30 in (10,50], 300 in (200,400].
    expect(dur[0].buckets?.slice(0, 7)).toEqual([0, 1, 0, 0, 0, 1, 0]);
    expect((dur[0].point as HistogramDataPoint).min).toBeCloseTo(3, 3);
    expect((dur[0].point as HistogramDataPoint).max).toBeCloseTo(30, 3);
    expect(dur[1].buckets?.[8]).toBe(1);
    // The minute window is not complete yet.
    expect(rows().filter((x) => x.resolution === '1m')).toEqual([]);
  });

  it('merges seconds into the minute window and emits it once the minute is over', async () => {
    const c = make();
    const minuteStart = Math.floor(T0 / 60000) * 60000 + 60000;
    clock = minuteStart + 500;
    await c.consume(traces([{ end: minuteStart + 500 }]));
    clock = minuteStart + 10500;
    await c.consume(traces([{ end: minuteStart + 10500 }, { end: minuteStart + 10600 }]));
    clock = minuteStart + 30000;
    await c.flush(false);
    expect(rows().filter((x) => x.resolution === '1s' && x.metric.endsWith('requests')).map((x) => [x.start - minuteStart, x.value])).toEqual([
      [0, 1],
      [10000, 2],
    ]);
    expect(rows().filter((x) => x.resolution === '1m')).toEqual([]);
    clock = minuteStart + 62500;
    await c.flush(false);
    const m = rows().filter((x) => x.resolution === '1m' && x.metric.endsWith('requests'));
    expect(m.map((x) => [x.start, x.time, x.value])).toEqual([[minuteStart, minuteStart + 60000, 3]]);
    const d = rows().filter((x) => x.resolution === '1m' && x.metric.endsWith('duration'));
    expect(d.map((x) => x.count)).toEqual([3]);
  });

  it('uses the zero-code attributes: metaflow.endpoint, metaflow.l7_protocol, metaflow.response_status', async () => {
    const c = make();
    await c.consume(
      traces([
        { name: 'HTTP GET', attrs: { 'metaflow.endpoint': '/orders/{id}', 'metaflow.l7_protocol': 'HTTP2', 'metaflow.response_status': 'server_error' } },
        { name: 'HTTP GET', attrs: { 'metaflow.endpoint': '/orders/{id}', 'metaflow.l7_protocol': 'HTTP2', 'metaflow.response_status': 'timeout' } },
        { name: 'HTTP GET', attrs: { 'metaflow.endpoint': '/orders/{id}', 'metaflow.l7_protocol': 'HTTP2', 'metaflow.response_status': 'normal' } },
        { name: 'SELECT', kind: SpanKind.CLIENT, attrs: { 'metaflow.l7_protocol': 'MySQL', 'metaflow.response_status': 'client_error' } },
      ]),
    );
    await c.shutdown();
    const req = rows().filter((x) => x.resolution === '1s' && x.metric.endsWith('requests'));
    expect(req.map((x) => [x.attrs.endpoint, x.attrs['l7.protocol'], x.value])).toEqual([
      ['/orders/{id}', 'HTTP2', 3],
      ['SELECT', 'MySQL', 1],
    ]);
    expect(rows().filter((x) => x.resolution === '1s' && x.metric.endsWith('errors')).map((x) => x.value)).toEqual([2, 1]);
  });

  it('derives the L7 protocol from semantic conventions', () => {
    expect(l7Protocol({ 'rpc.system': 'grpc', 'http.method': 'POST' })).toBe('gRPC');
    expect(l7Protocol({ 'http.method': 'GET' })).toBe('HTTP');
    expect(l7Protocol({ 'db.system': 'postgresql' })).toBe('PostgreSQL');
    expect(l7Protocol({ 'db.system.name': 'redis' })).toBe('Redis');
    expect(l7Protocol({ 'messaging.system': 'kafka' })).toBe('Kafka');
    expect(l7Protocol({ 'db.system': 'cassandra' })).toBe('cassandra');
    expect(l7Protocol({})).toBe('');
  });

  it('keeps a per-service endpoint budget: further endpoints count under __overflow__, with a counter', async () => {
    const telemetry = new Telemetry('normal');
    const c = make({ max_endpoints_per_service: 3 }, telemetry);
    const specs: SpanSpec[] = [];
    for (let i = 0; i < 20; i++) specs.push({ name: `GET /users/${i}` });
    specs.push({ service: 'other', name: 'GET /users/99' });
    await c.consume(traces(specs));
    await c.consume(traces([{ name: 'GET /users/1' }, { name: 'GET /users/42' }]));
    await c.shutdown();
    const req = rows().filter((x) => x.resolution === '1s' && x.metric.endsWith('requests'));
    expect(req.filter((x) => x.service === 'api').map((x) => [x.attrs.endpoint, x.value])).toEqual([
      ['GET /users/0', 1],
      ['GET /users/1', 2],
      ['GET /users/2', 1],
      ['__overflow__', 18],
    ]);
    // The budget is per service.
    expect(req.filter((x) => x.service === 'other').map((x) => x.attrs.endpoint)).toEqual(['GET /users/99']);
    expect(await telemetry.value('metaflow_redmetrics_endpoint_overflow_spans_total')).toBe(18);
    expect(c.seriesCount).toBe(5);
  });

  it('bounds the number of series: beyond aggregation_cardinality_limit, one overflow series per service', async () => {
    const c = make({ aggregation_cardinality_limit: 2 });
    await c.consume(traces([{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }]));
    await c.shutdown();
    const req = rows().filter((x) => x.resolution === '1s' && x.metric.endsWith('requests'));
    expect(req.map((x) => [x.attrs.endpoint ?? null, x.attrs['otel.metric.overflow'] ?? null, x.value])).toEqual([
      ['a', null, 1],
      ['b', null, 1],
      [null, true, 2],
    ]);
  });

  it('emits a span for a window already emitted as an extra delta, not lost', async () => {
    const c = make({ resolutions: ['1s'] });
    await c.consume(traces([{ end: T0 + 100 }]));
    clock = T0 + 5000;
    await c.flush(false);
    // Arrives late for the first second.
    await c.consume(traces([{ end: T0 + 200 }]));
    clock = T0 + 6000;
    await c.flush(false);
    const req = rows().filter((x) => x.metric.endsWith('requests'));
    expect(req.map((x) => [x.start, x.value])).toEqual([
      [T0, 1],
      [T0, 1],
    ]);
  });

  it('counts a span whose end is far from now in the current second', async () => {
    const c = make();
    await c.consume(traces([{ end: T0 - 3600_000 }]));
    await c.shutdown();
    expect(rows().filter((x) => x.resolution === '1s' && x.metric.endsWith('requests')).map((x) => x.start)).toEqual([T0]);
  });

  it('records an exponential histogram when configured', async () => {
    const c = make({ histogram: { exponential: { max_size: 10 } } });
    const specs: SpanSpec[] = [1, 2, 4, 8, 1000, 0].map((d) => ({ durMs: d }));
    await c.consume(traces(specs));
    await c.shutdown();
    const d = rows().find((x) => x.resolution === '1s' && x.metric.endsWith('duration')) as Row;
    const p = d.point as ExponentialHistogramDataPoint;
    expect(p.count).toBe(6);
    expect(p.zeroCount).toBe(1);
    expect(p.positive.bucketCounts.reduce((a, b) => a + b, 0)).toBe(5);
    expect(p.positive.bucketCounts.length).toBeLessThanOrEqual(10);
    // Every value lies in its bucket: (base^i, base^(i+1)].
    const base = 2 ** (2 ** -p.scale);
    const idx = (v: number) => Math.ceil(Math.log(v) / Math.log(base)) - 1;
    for (const v of [1, 2, 4, 8, 1000]) expect(p.positive.bucketCounts[idx(v) - p.positive.offset]).toBeGreaterThan(0);
  });

  it('emits running totals with cumulative temporality', async () => {
    const c = make({ aggregation_temporality: 'AGGREGATION_TEMPORALITY_CUMULATIVE', resolutions: ['1s'] });
    await c.consume(traces([{ end: T0 + 100 }, { end: T0 + 200 }]));
    clock = T0 + 1000;
    await c.consume(traces([{ end: T0 + 1100 }]));
    clock = T0 + 5000;
    await c.flush(false);
    const req = rows().filter((x) => x.metric.endsWith('requests'));
    expect(req.map((x) => [x.time - T0, x.value, x.start])).toEqual([
      [1000, 2, T0],
      [2000, 3, T0],
    ]);
  });

  it('adds configured dimensions from span or resource attributes, with defaults, and leaves out excluded ones', async () => {
    const c = make({ dimensions: [{ name: 'http.route' }, { name: 'region', default: 'none' }, { name: 'cloud.zone' }], exclude_dimensions: ['status.code', 'l7.protocol'] });
    await c.consume(traces([{ attrs: { 'http.route': '/users/:id' }, resource: { 'cloud.zone': 'z1' } }, { attrs: { 'http.route': '/users/:id', region: 'eu' } }]));
    await c.shutdown();
    const req = rows().filter((x) => x.resolution === '1s' && x.metric.endsWith('requests'));
    expect(req.map((x) => x.attrs)).toEqual([
      { 'service.name': 'api', endpoint: 'GET /users', 'span.kind': 'SPAN_KIND_SERVER', 'http.route': '/users/:id', region: 'none', 'cloud.zone': 'z1' },
      { 'service.name': 'api', endpoint: 'GET /users', 'span.kind': 'SPAN_KIND_SERVER', 'http.route': '/users/:id', region: 'eu' },
    ]);
  });

  it('flushes every open window at shutdown and stops', async () => {
    const c = make();
    await c.start();
    await c.consume(traces([{}, {}]));
    await c.shutdown();
    await c.shutdown();
    expect(rows().filter((x) => x.metric.endsWith('requests')).map((x) => [x.resolution, x.value])).toEqual([
      ['1s', 2],
      ['1m', 2],
    ]);
  });

  it('still emits after flushes that had nothing to emit', async () => {
    const c = make({ resolutions: ['1s'] });
    await c.flush(false);
    await c.flush(false);
    await c.consume(traces([{}]));
    clock += 4000;
    await c.flush(false);
    expect(rows().filter((x) => x.metric.endsWith('requests')).map((x) => x.value)).toEqual([1]);
  });

  it('keeps refused batches and sends them with the next flush', async () => {
    let refuse = true;
    const got: Metrics[] = [];
    const parsed = config.parseOrThrow({ resolutions: ['1s'] }) as RedConfig;
    const c = new RedMetricsConnector(
      parsed,
      settings(),
      {
        async consume(m) {
          if (refuse) throw new Error('queue full');
          got.push(m);
        },
      },
      { now: () => clock },
    );
    await c.consume(traces([{}]));
    clock += 4000;
    await c.flush(false);
    expect(got).toHaveLength(0);
    refuse = false;
    await c.consume(traces([{ end: clock }]));
    clock += 4000;
    await c.flush(false);
    expect(rows(got).filter((x) => x.metric.endsWith('requests')).map((x) => x.value)).toEqual([1, 1]);
  });
});

describe('config', () => {
  it('accepts a Collector spanmetrics config under the spanmetrics type names', () => {
    expect(factory.aliases).toEqual(['spanmetrics', 'span_metrics']);
    const { value, issues } = config.parse({
      histogram: { unit: 's', explicit: { buckets: ['100us', '1ms', '2ms', '6ms', '10ms', '100ms', '250ms'] } },
      dimensions: [{ name: 'http.method', default: 'GET' }, { name: 'http.status_code' }],
      exemplars: { enabled: true },
      exclude_dimensions: ['status.code'],
      dimensions_cache_size: 1000,
      aggregation_temporality: 'AGGREGATION_TEMPORALITY_CUMULATIVE',
      metrics_flush_interval: '15s',
      metrics_expiration: '5m',
      resource_metrics_key_attributes: ['service.name', 'telemetry.sdk.language'],
    });
    expect(issues).toEqual([]);
    expect(validate(value as RedConfig)).toEqual([]);
  });

  it('reports bad settings with their paths', () => {
    const parsed = config.parseOrThrow({
      histogram: { explicit: { buckets: ['10ms', '5ms'] }, exponential: {} },
      resolutions: ['1500ms', '1m', '1m'],
      exclude_dimensions: ['nope'],
      events: { enabled: true },
    }) as RedConfig;
    expect(validate(parsed)).toEqual([
      ['histogram', 'use either explicit or exponential, not both'],
      ['histogram::explicit::buckets', 'must increase; 5ms follows 10ms'],
      ['resolutions::0', 'must be a whole number of seconds (1s, 10s, 1m, …)'],
      ['resolutions::2', 'is listed twice'],
      ['events::enabled', 'the events metric is not supported'],
      ['exclude_dimensions::0', '"nope" is not a default dimension (service.name, endpoint, span.name, span.kind, status.code, l7.protocol)'],
    ]);
  });
});
