/**
 * OpenTelemetry → Prometheus names and samples, as the specification's
 * compatibility rules set them: sanitizing, unit and type suffixes, job and
 * instance, histogram and summary families, delta accumulation, staleness.
 */
import { AggregationTemporality, type Metric, type Metrics } from '../pdata';
import { PromConverter, type PromPoint } from './convert';
import { isValidLabelName, jobAndInstance, labelName, metricName, unitSuffix } from './naming';

describe('names', () => {
  it.each([
    ['http.server.duration', 'ms', 'histogram', 'http_server_duration_milliseconds'],
    ['http.server.request.size', 'By', 'histogram', 'http_server_request_size_bytes'],
    ['process.cpu.time', 's', 'counter', 'process_cpu_time_seconds_total'],
    ['requests', '{request}', 'counter', 'requests_total'],
    ['requests_total', '{request}', 'counter', 'requests_total'],
    ['cpu.utilization', '1', 'gauge', 'cpu_utilization_ratio'],
    ['network.io', 'By/s', 'gauge', 'network_io_bytes_per_second'],
    ['queue_depth', '', 'gauge', 'queue_depth'],
    ['latency_seconds', 's', 'histogram', 'latency_seconds'],
    ['bytes_total', 'By', 'counter', 'bytes_total'],
    ['metaflow.red.duration', 'ms', 'histogram', 'metaflow_red_duration_milliseconds'],
    ['metaflow.red.requests', '{request}', 'counter', 'metaflow_red_requests_total'],
    ['1st-metric!', '', 'gauge', '_1st_metric_'],
    ['foo__bar', '', 'gauge', 'foo__bar'],
    ['temp', 'Cel', 'gauge', 'temp_celsius'],
  ] as const)('%s [%s, %s] → %s', (name, unit, type, want) => {
    expect(metricName(name, unit, type)).toBe(want);
  });

  it('adds no suffixes when told not to, and prefixes the namespace', () => {
    expect(metricName('http.server.duration', 'ms', 'histogram', false)).toBe('http_server_duration');
    expect(metricName('requests', '', 'counter', true, 'my.app')).toBe('my_app_requests_total');
  });

  it('sanitizes label names, leaving valid ones exactly as they are', () => {
    expect(labelName('http.request.method')).toBe('http_request_method');
    expect(labelName('a..b--c')).toBe('a_b_c');
    expect(labelName('2xx')).toBe('key_2xx');
    expect(labelName('__name__')).toBe('__name__');
    expect(labelName('foo__bar')).toBe('foo__bar');
    expect(isValidLabelName('le')).toBe(true);
    expect(isValidLabelName('a.b')).toBe(false);
  });

  it('makes job from service.namespace/service.name and instance from service.instance.id', () => {
    expect(jobAndInstance({ 'service.name': 'cart', 'service.namespace': 'shop', 'service.instance.id': 'pod-1' })).toEqual({ job: 'shop/cart', instance: 'pod-1' });
    expect(jobAndInstance({ 'service.name': 'cart' })).toEqual({ job: 'cart', instance: '' });
    expect(unitSuffix('{packet}/s', 'gauge')).toBe('per_second');
  });
});

function metrics(list: Metric[], resource: Record<string, string> = { 'service.name': 'api', 'service.instance.id': 'i-1' }): Metrics {
  return {
    resourceMetrics: [
      {
        resource: { attributes: resource, droppedAttributesCount: 0 },
        scopeMetrics: [{ scope: { name: 's', version: '', attributes: {}, droppedAttributesCount: 0 }, metrics: list, schemaUrl: '' }],
        schemaUrl: '',
      },
    ],
  };
}

const ns = (ms: number) => BigInt(ms) * 1000000n;

function convert(c: PromConverter, m: Metrics): Array<[string, Record<string, string>, number, number]> {
  const out: PromPoint[] = [];
  c.convert(m, (p) => out.push(p));
  return out.map((p) => [p.name, Object.fromEntries(p.labels.filter((l) => l.name !== '__name__').map((l) => [l.name, l.value])), p.value, p.timestamp]);
}

const opts = { addSuffixes: true, namespace: '', constLabels: {}, resourceToLabels: false, maxSeries: 1000 };

describe('samples', () => {
  it('adds delta sums up into a counter, with job/instance and sanitized attributes', () => {
    const c = new PromConverter(opts);
    const sum = (v: number, t: number): Metric => ({
      name: 'metaflow.red.requests',
      description: '',
      unit: '{request}',
      metadata: {},
      data: {
        type: 'sum',
        aggregationTemporality: AggregationTemporality.DELTA,
        isMonotonic: true,
        dataPoints: [{ attributes: { 'span.kind': 'SPAN_KIND_SERVER' }, startTimeUnixNano: ns(t - 1000), timeUnixNano: ns(t), exemplars: [], flags: 0, value: v, isInt: true }],
      },
    });
    const labels = { instance: 'i-1', job: 'api', span_kind: 'SPAN_KIND_SERVER' };
    expect(convert(c, metrics([sum(3, 2000)]))).toEqual([['metaflow_red_requests_total', labels, 3, 2000]]);
    expect(convert(c, metrics([sum(4, 3000)]))).toEqual([['metaflow_red_requests_total', labels, 7, 3000]]);
  });

  it('emits a zero at the start of a delta series when asked (remote read), so one point makes a usable counter', () => {
    const c = new PromConverter({ ...opts, zeroAtStart: true });
    const m: Metric = {
      name: 'x',
      description: '',
      unit: '',
      metadata: {},
      data: { type: 'sum', aggregationTemporality: AggregationTemporality.DELTA, isMonotonic: true, dataPoints: [{ attributes: {}, startTimeUnixNano: ns(1000), timeUnixNano: ns(2000), exemplars: [], flags: 0, value: 5, isInt: true }] },
    };
    expect(convert(c, metrics([m], {})).map((r) => [r[2], r[3]])).toEqual([
      [0, 1000],
      [5, 2000],
    ]);
  });

  it('turns a histogram into cumulative _bucket series ending in +Inf, _sum and _count', () => {
    const c = new PromConverter(opts);
    const h: Metric = {
      name: 'http.server.duration',
      description: 'd',
      unit: 'ms',
      metadata: {},
      data: {
        type: 'histogram',
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPoints: [{ attributes: { route: '/a' }, startTimeUnixNano: 0n, timeUnixNano: ns(5000), exemplars: [], flags: 0, count: 6, sum: 120, bucketCounts: [1, 2, 3], explicitBounds: [10, 50] }],
      },
    };
    expect(convert(c, metrics([h], { 'service.name': 'api' })).map((r) => [r[0], r[1].le ?? '', r[2]])).toEqual([
      ['http_server_duration_milliseconds_bucket', '10', 1],
      ['http_server_duration_milliseconds_bucket', '50', 3],
      ['http_server_duration_milliseconds_bucket', '+Inf', 6],
      ['http_server_duration_milliseconds_sum', '', 120],
      ['http_server_duration_milliseconds_count', '', 6],
    ]);
  });

  it('turns a summary into quantile series, _sum and _count; a stale point into the stale marker', () => {
    const c = new PromConverter(opts);
    const s: Metric = {
      name: 'rpc.latency',
      description: '',
      unit: 's',
      metadata: {},
      data: {
        type: 'summary',
        dataPoints: [
          { attributes: {}, startTimeUnixNano: 0n, timeUnixNano: ns(1000), exemplars: [], flags: 0, count: 4, sum: 2, quantileValues: [{ quantile: 0.5, value: 0.4 }, { quantile: 0.99, value: 0.9 }] },
        ],
      },
    };
    expect(convert(c, metrics([s], {})).map((r) => [r[0], r[1].quantile ?? '', r[2]])).toEqual([
      ['rpc_latency_seconds', '0.5', 0.4],
      ['rpc_latency_seconds', '0.99', 0.9],
      ['rpc_latency_seconds_sum', '', 2],
      ['rpc_latency_seconds_count', '', 4],
    ]);
    const g: Metric = { name: 'g', description: '', unit: '', metadata: {}, data: { type: 'gauge', dataPoints: [{ attributes: {}, startTimeUnixNano: 0n, timeUnixNano: ns(1), exemplars: [], flags: 1, value: 0, isInt: false }] } };
    const out: PromPoint[] = [];
    c.convert(metrics([g], {}), (p) => out.push(p));
    expect(out[0].stale).toBe(true);
  });

  it('keeps labels of series that came in through remote write exactly (job/instance attributes win)', () => {
    const c = new PromConverter(opts);
    const g: Metric = {
      name: 'up',
      description: '',
      unit: '',
      metadata: {},
      data: { type: 'gauge', dataPoints: [{ attributes: { job: 'node', instance: 'h:9100', le_weird: 'x' }, startTimeUnixNano: 0n, timeUnixNano: ns(1), exemplars: [], flags: 0, value: 1, isInt: false }] },
    };
    expect(convert(c, metrics([g], { 'service.name': 'node', 'service.instance.id': 'h:9100' }))).toEqual([['up', { instance: 'h:9100', job: 'node', le_weird: 'x' }, 1, 1]]);
  });

  it('joins attributes that map to one label name with ";" in key order', () => {
    const c = new PromConverter(opts);
    const g: Metric = {
      name: 'g',
      description: '',
      unit: '',
      metadata: {},
      data: { type: 'gauge', dataPoints: [{ attributes: { 'a.b': '2', 'a_b': '1' }, startTimeUnixNano: 0n, timeUnixNano: ns(1), exemplars: [], flags: 0, value: 1, isInt: false }] },
    };
    expect(convert(c, metrics([g], {}))[0][1]).toEqual({ a_b: '2;1' });
  });

  it('keeps one resolution per RED metric so windows are not counted twice', () => {
    const c = new PromConverter(opts);
    const sum = (res: string, v: number): Metrics => ({
      resourceMetrics: [
        {
          resource: { attributes: {}, droppedAttributesCount: 0 },
          scopeMetrics: [
            {
              scope: { name: 'metaflow/redmetrics', version: '', attributes: { 'metaflow.resolution': res }, droppedAttributesCount: 0 },
              metrics: [
                {
                  name: 'r',
                  description: '',
                  unit: '',
                  metadata: {},
                  data: { type: 'sum', aggregationTemporality: 1, isMonotonic: true, dataPoints: [{ attributes: {}, startTimeUnixNano: 0n, timeUnixNano: ns(1000), exemplars: [], flags: 0, value: v, isInt: true }] },
                },
              ],
              schemaUrl: '',
            },
          ],
          schemaUrl: '',
        },
      ],
    });
    expect(convert(c, sum('1s', 2)).map((r) => r[2])).toEqual([2]);
    expect(convert(c, sum('1m', 2))).toEqual([]);
    expect(c.drops.otherResolution).toBe(1);
  });

  it('refuses new series beyond maxSeries and counts them', () => {
    const c = new PromConverter({ ...opts, maxSeries: 1 });
    const g = (k: string): Metric => ({ name: 'g', description: '', unit: '', metadata: {}, data: { type: 'gauge', dataPoints: [{ attributes: { k }, startTimeUnixNano: 0n, timeUnixNano: ns(1), exemplars: [], flags: 0, value: 1, isInt: false }] } });
    expect(convert(c, metrics([g('a'), g('b')], {}))).toHaveLength(1);
    expect(c.drops.seriesLimit).toBe(1);
  });
});
