import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { formatIssue } from '../../pipeline/config/schema';
import { ConfigError } from '../../pipeline/errors';
import {
  AggregationTemporality,
  SIGNALS,
  SpanKind,
  type Attributes,
  type Logs,
  type Metric,
  type Metrics,
  type Signal,
  type SignalData,
  type Traces,
} from '../../pipeline/pdata';
import {
  RecordingConsumer,
  fuzzAction,
  fuzzPick,
  gauge,
  logRecord,
  logs,
  metrics,
  point,
  seededRandom,
  span,
  sum,
  testSettings,
  traces,
} from '../internal/testing';
import { factory } from '.';

function create<S extends Signal>(signal: S, raw: unknown) {
  const { value, issues } = factory.config.parse(raw);
  expect(issues.map(formatIssue)).toEqual([]);
  expect(factory.validate!(value!)).toEqual([]);
  const next = new RecordingConsumer<S>();
  return { proc: factory.create(testSettings('attributes'), value!, signal, next), next };
}

async function process<S extends Signal>(signal: S, raw: unknown, data: SignalData[S]): Promise<SignalData[S]> {
  const { proc, next } = create(signal, raw);
  await proc.consume(data);
  expect(next.received).toEqual([data]);
  return data;
}

const spanAttrs = (t: Traces) => t.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => s.attributes)));
const logAttrs = (l: Logs) => l.resourceLogs.flatMap((rl) => rl.scopeLogs.flatMap((sl) => sl.logRecords.map((r) => r.attributes)));
const pointAttrs = (m: Metrics) =>
  m.resourceMetrics.flatMap((rm) =>
    rm.scopeMetrics.flatMap((sm) => sm.metrics.flatMap((x) => (x.data.type === 'empty' ? [] : x.data.dataPoints.map((p) => p.attributes as Attributes)))),
  );

/** One metric of every type, each with one data point carrying `attrs`. */
function allMetricTypes(attrs: () => Attributes): Metric[] {
  const base = { attributes: attrs(), startTimeUnixNano: 1n, timeUnixNano: 2n, exemplars: [], flags: 0 };
  return [
    gauge('g', [attrs()]),
    sum('s', [attrs()]),
    {
      name: 'h',
      description: '',
      unit: 'ms',
      metadata: {},
      data: { type: 'histogram', aggregationTemporality: AggregationTemporality.DELTA, dataPoints: [{ ...base, count: 1, sum: 5, bucketCounts: [1, 0], explicitBounds: [10] }] },
    },
    {
      name: 'e',
      description: '',
      unit: 'ms',
      metadata: {},
      data: {
        type: 'exponentialHistogram',
        aggregationTemporality: AggregationTemporality.DELTA,
        dataPoints: [{ ...base, attributes: attrs(), count: 1, scale: 0, zeroCount: 0, positive: { offset: 0, bucketCounts: [1] }, negative: { offset: 0, bucketCounts: [] }, zeroThreshold: 0 }],
      },
    },
    {
      name: 'q',
      description: '',
      unit: 'ms',
      metadata: {},
      data: { type: 'summary', dataPoints: [{ ...base, attributes: attrs(), count: 1, sum: 5, quantileValues: [{ quantile: 0.5, value: 5 }] }] },
    },
    { name: 'empty', description: '', unit: '', metadata: {}, data: { type: 'empty' } },
  ];
}

/** A batch of `signal` whose items all carry a copy of `attrs`. */
function batchWith<S extends Signal>(signal: S, attrs: Attributes): SignalData[S] {
  const a = () => structuredClone(attrs);
  switch (signal) {
    case 'traces':
      return traces({ scopes: [{ items: [span('one', a()), span('two', a())] }] }) as SignalData[S];
    case 'metrics':
      return metrics({ scopes: [{ items: allMetricTypes(a) }] }) as SignalData[S];
    default:
      return logs({ scopes: [{ items: [logRecord('one', a()), logRecord('two', a())] }] }) as SignalData[S];
  }
}

function itemAttrs(signal: Signal, data: SignalData[Signal]): Attributes[] {
  if (signal === 'traces') return spanAttrs(data as Traces);
  if (signal === 'metrics') return pointAttrs(data as Metrics);
  return logAttrs(data as Logs);
}

describe.each(SIGNALS.map((s) => [s]))('attributes processor actions on %s', (signal) => {
  const items = signal === 'metrics' ? 5 : 2;
  const base = { 'http.method': 'GET', 'user.email': 'abc', 'user.name': 'foo', status: '200', keep: true };
  const expectAll = async (actions: unknown[], attrs: Attributes, want: Attributes) => {
    const out = await process(signal, { actions }, batchWith(signal, attrs));
    expect(itemAttrs(signal, out)).toEqual(Array(items).fill(want));
  };

  test('insert, update, upsert', () =>
    expectAll(
      [
        { key: 'http.method', value: 'POST', action: 'insert' },
        { key: 'env', value: 'prod', action: 'insert' },
        { key: 'keep', value: false, action: 'update' },
        { key: 'absent', value: 1, action: 'update' },
        { key: 'ratio', value: 0.25, action: 'upsert' },
        { key: 'method.copy', from_attribute: 'http.method', action: 'upsert' },
      ],
      base,
      { ...base, env: 'prod', keep: false, ratio: 0.25, 'method.copy': 'GET' },
    ));

  test('delete by key and by pattern', () =>
    expectAll([{ key: 'status', action: 'delete' }, { pattern: '^user\\.', action: 'delete' }], base, { 'http.method': 'GET', keep: true }));

  test('hash by key and by pattern, each key once', () =>
    expectAll([{ key: 'user.email', pattern: '^user\\.', action: 'hash' }], base, {
      ...base,
      'user.email': 'a9993e364706816aba3e25717850c26c9cd0d89d',
      'user.name': '0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33',
    }));

  test('extract and convert', () =>
    expectAll(
      [
        { key: 'user.email', pattern: '^(?P<first>a)(?P<rest>.*)$', action: 'extract' },
        { key: 'status', converted_type: 'int', action: 'convert' },
        { key: 'keep', converted_type: 'string', action: 'convert' },
      ],
      base,
      { ...base, first: 'a', rest: 'bc', status: 200, keep: 'true' },
    ));
});

describe('attributes processor', () => {
  test('declares that it mutates data', () => {
    expect(create('traces', { actions: [{ key: 'a', action: 'delete' }] }).proc.mutatesData).toBe(true);
  });

  test('hash follows the Collector byte encoding of each type', async () => {
    const out = await process(
      'traces',
      { actions: [{ pattern: '.', action: 'hash' }] },
      traces({ scopes: [{ items: [span('s', { t: true, f: false, i: 24, neg: -1, d: 2.4, u: 'héllo', b: new Uint8Array([1]), l: ['x'] })] }] }),
    );
    expect(spanAttrs(out)[0]).toEqual({
      t: 'bf8b4530d8d246dd74ac53a13471bba17941dff7',
      f: '5ba93c9db0cff93f52b521d7420e43f6eda2784f',
      i: 'a03371b59561ca253ea7c4a9061da0ac80b264af',
      neg: 'be673e8a56eaa9d8c1d35064866701c11ef8e089',
      d: '9ddf5609cc511ef2e860a924234e3577579a0bfe',
      u: '35b5ea45c5e41f78b46a937cc74d41dfea920890',
      b: '',
      l: '',
    });
  });

  test('convert leaves values it cannot convert as they are', async () => {
    const out = await process(
      'logs',
      {
        actions: [
          { key: 'a', converted_type: 'int', action: 'convert' },
          { key: 'b', converted_type: 'int', action: 'convert' },
          { key: 'c', converted_type: 'double', action: 'convert' },
          { key: 'd', converted_type: 'double', action: 'convert' },
          { key: 'e', converted_type: 'int', action: 'convert' },
          { key: 'f', converted_type: 'string', action: 'convert' },
          { key: 'g', converted_type: 'int', action: 'convert' },
        ],
      },
      logs({ scopes: [{ items: [logRecord('x', { a: '12x', b: 7.9, c: 'abc', d: '1e3', e: '9223372036854775807', f: { k: [1, 'two'] }, g: -3.7 })] }] }),
    );
    expect(logAttrs(out)[0]).toEqual({ a: '12x', b: 7, c: 'abc', d: 1000, e: 9223372036854775807n, f: '{"k":[1,"two"]}', g: -3 });
  });

  test('keys such as __proto__ and constructor are plain attribute keys', async () => {
    const out = await process(
      'traces',
      {
        actions: [
          { key: '__proto__', value: 'p', action: 'insert' },
          { key: 'constructor', value: 'c', action: 'insert' },
          { key: 'toString', value: 'x', action: 'update' },
        ],
      },
      traces({ scopes: [{ items: [span('s', {})] }] }),
    );
    const attrs = spanAttrs(out)[0];
    expect(Object.keys(attrs).sort()).toEqual(['__proto__', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(attrs, '__proto__')?.value).toBe('p');
    expect(Object.getPrototypeOf(attrs)).toBe(Object.prototype);
  });

  test('span events and resources are left alone', async () => {
    const t = traces({ resource: { 'user.id': 'r' }, scopes: [{ items: [span('s', { 'user.id': 'x' })] }] });
    t.resourceSpans[0].scopeSpans[0].spans[0].events.push({ name: 'e', timeUnixNano: 1n, attributes: { 'user.id': 'e' }, droppedAttributesCount: 0 });
    const out = await process('traces', { actions: [{ key: 'user.id', action: 'delete' }] }, t);
    expect(out.resourceSpans[0].resource.attributes).toEqual({ 'user.id': 'r' });
    expect(out.resourceSpans[0].scopeSpans[0].spans[0].events[0].attributes).toEqual({ 'user.id': 'e' });
    expect(spanAttrs(out)).toEqual([{}]);
  });
});

describe('include / exclude', () => {
  const tag = { key: 'tagged', value: true, action: 'insert' };
  const tagged = (attrs: Attributes[]) => attrs.map((a) => a.tagged === true);

  function spansBatch(): Traces {
    return traces(
      {
        resource: { 'service.name': 'checkout', env: 'prod' },
        scopes: [
          {
            name: 'io.opentelemetry.http',
            version: '1.2.0',
            items: [span('GET /cart', { 'http.request.method': 'GET', code: 200 }, SpanKind.SERVER), span('login', { 'http.request.method': 'POST', code: 500 }, SpanKind.CLIENT)],
          },
        ],
      },
      { resource: { 'service.name': 'payments' }, scopes: [{ name: 'mongo-java-driver', version: '3.8.0', items: [span('find', { 'db.system': 'mongodb' }, SpanKind.INTERNAL)] }] },
      { resource: {}, scopes: [{ name: 'other', version: '', items: [span('orphan', {}, SpanKind.UNSPECIFIED)] }] },
    );
  }

  const run = async (match: Record<string, unknown>) => tagged(spanAttrs(await process('traces', { ...match, actions: [tag] }, spansBatch())));

  test('strict services', async () => {
    expect(await run({ include: { match_type: 'strict', services: ['checkout', 'nope'] } })).toEqual([true, true, false, false]);
    expect(await run({ exclude: { match_type: 'strict', services: ['checkout'] } })).toEqual([false, false, true, true]);
  });

  test('regexp span names are unanchored, as Go', async () => {
    expect(await run({ include: { match_type: 'regexp', span_names: ['^GET', 'in'] } })).toEqual([true, true, true, false]);
  });

  test('span kinds', async () => {
    expect(await run({ include: { match_type: 'strict', span_kinds: ['SPAN_KIND_CLIENT', 'SPAN_KIND_INTERNAL'] } })).toEqual([false, true, true, false]);
  });

  test('attributes: all must match; strict values are type-aware', async () => {
    expect(await run({ include: { match_type: 'strict', attributes: [{ key: 'http.request.method', value: 'GET' }, { key: 'code', value: 200 }] } })).toEqual([
      true,
      false,
      false,
      false,
    ]);
    expect(await run({ include: { match_type: 'strict', attributes: [{ key: 'code', value: '200' }] } })).toEqual([false, false, false, false]);
    expect(await run({ include: { match_type: 'strict', attributes: [{ key: 'code' }] } })).toEqual([true, true, false, false]);
  });

  test('regexp attribute values match the string form of scalars', async () => {
    expect(await run({ include: { match_type: 'regexp', attributes: [{ key: 'code', value: '^5\\d\\d$' }] } })).toEqual([false, true, false, false]);
  });

  test('resources and libraries', async () => {
    expect(await run({ include: { match_type: 'strict', resources: [{ key: 'env', value: 'prod' }] } })).toEqual([true, true, false, false]);
    expect(await run({ include: { match_type: 'strict', libraries: [{ name: 'mongo-java-driver', version: '3.8.0' }] } })).toEqual([false, false, true, false]);
    expect(await run({ include: { match_type: 'strict', libraries: [{ name: 'mongo-java-driver', version: '4.0' }] } })).toEqual([false, false, false, false]);
    // An absent version matches any version; an empty one only an empty version.
    expect(await run({ include: { match_type: 'strict', libraries: [{ name: 'other' }] } })).toEqual([false, false, false, true]);
    expect(await run({ include: { match_type: 'strict', libraries: [{ name: 'other', version: '' }] } })).toEqual([false, false, false, true]);
    expect(await run({ include: { match_type: 'regexp', libraries: [{ name: '^io\\.opentelemetry' }] } })).toEqual([true, true, false, false]);
  });

  test('include and exclude together: included and not excluded', async () => {
    expect(
      await run({
        include: { match_type: 'strict', services: ['checkout', 'payments'] },
        exclude: { match_type: 'regexp', span_names: ['^login$'] },
      }),
    ).toEqual([true, false, true, false]);
  });

  test('logs: bodies, severity texts, attributes', async () => {
    const batch = () =>
      logs({
        resource: { 'service.name': 'api' },
        scopes: [{ items: [logRecord('user logged in', { u: 1 }, 'INFO'), logRecord('disk full', { u: 2 }, 'ERROR'), logRecord({ k: 'v' }, {}, 'WARN')] }],
      });
    const runLogs = async (match: Record<string, unknown>) => tagged(logAttrs(await process('logs', { ...match, actions: [tag] }, batch())));
    expect(await runLogs({ include: { match_type: 'regexp', log_bodies: ['logged'] } })).toEqual([true, false, false]);
    expect(await runLogs({ include: { match_type: 'strict', log_bodies: ['{"k":"v"}'] } })).toEqual([false, false, true]);
    expect(await runLogs({ exclude: { match_type: 'strict', log_severity_texts: ['ERROR', 'WARN'] } })).toEqual([true, false, false]);
    expect(await runLogs({ include: { match_type: 'strict', attributes: [{ key: 'u', value: 2 }] } })).toEqual([false, true, false]);
  });

  test('metrics: names and resources select whole metrics', async () => {
    const batch = () =>
      metrics(
        { resource: { env: 'prod' }, scopes: [{ items: [gauge('http.duration', [{}, {}]), sum('db.calls', [{}])] }] },
        { resource: { env: 'dev' }, scopes: [{ items: [gauge('http.duration', [{}])] }] },
      );
    const runMetrics = async (match: Record<string, unknown>) => tagged(pointAttrs(await process('metrics', { ...match, actions: [tag] }, batch())));
    expect(await runMetrics({ include: { match_type: 'regexp', metric_names: ['^http\\.'] } })).toEqual([true, true, false, true]);
    expect(await runMetrics({ include: { match_type: 'strict', metric_names: ['http.duration'], resources: [{ key: 'env', value: 'prod' }] } })).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect(await runMetrics({ exclude: { match_type: 'strict', resources: [{ key: 'env', value: 'dev' }] } })).toEqual([true, true, true, false]);
  });

  test('properties a signal lacks are a ConfigError at create, as the Collector rejects them', () => {
    const cfg = factory.config.parseOrThrow({ include: { match_type: 'strict', span_names: ['x'] }, actions: [tag] });
    expect(factory.validate!(cfg)).toEqual([]);
    expect(() => factory.create(testSettings('attributes'), cfg, 'traces', new RecordingConsumer())).not.toThrow();
    let err: unknown;
    try {
      factory.create(testSettings('attributes'), cfg, 'logs', new RecordingConsumer());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      'include::span_names: cannot be used for log records; valid properties are log_bodies, log_severity_texts, attributes, resources, libraries',
    ]);
    const none = factory.config.parseOrThrow({ include: { match_type: 'strict', services: ['x'] }, actions: [tag] });
    expect(() => factory.create(testSettings('attributes'), none, 'metrics', new RecordingConsumer())).toThrow(
      'include::services: cannot be used for metrics; valid properties are metric_names, resources',
    );
    expect(() => factory.create(testSettings('attributes'), factory.config.parseOrThrow({ exclude: { match_type: 'strict', attributes: [{ key: 'a' }] }, actions: [tag] }), 'metrics', new RecordingConsumer())).toThrow(
      'exclude::attributes: cannot be used for metrics; valid properties are metric_names, resources',
    );
  });
});

describe('attributes config validation', () => {
  const problems = (raw: unknown) => {
    const { value, issues } = factory.config.parse(raw);
    if (issues.length) return issues.map(formatIssue);
    return factory.validate!(value!).map(([p, m]) => `${p}: ${m}`);
  };

  test('actions are required', () => {
    expect(problems({})).toEqual(['actions: at least one action is required']);
  });

  test('action problems carry the actions path', () => {
    expect(problems({ actions: [{ key: 'a', action: 'insert' }, { action: 'frobnicate' }] })).toEqual([
      'actions::1::action: expected one of "insert", "update", "upsert", "delete", "hash", "extract", "convert", got "frobnicate"',
    ]);
    expect(problems({ actions: [{ key: 'a', action: 'insert' }] })).toEqual(['actions::0::value: action "insert" needs "value" or "from_attribute"']);
  });

  test('match_type is required and must be known', () => {
    expect(problems({ include: { services: ['a'] }, actions: [{ key: 'a', action: 'delete' }] })).toEqual(['include::match_type: is required']);
    expect(problems({ include: { match_type: 'expr', services: ['a'] }, actions: [{ key: 'a', action: 'delete' }] })).toEqual([
      'include::match_type: expected one of "strict", "regexp", got "expr"',
    ]);
  });

  test('match properties are checked with their paths', () => {
    expect(
      problems({
        include: {
          match_type: 'regexp',
          span_names: ['ok', '(bad'],
          attributes: [{ key: 'a', value: 5 }],
          libraries: [{ name: '[', version: '1' }],
        },
        exclude: { match_type: 'strict', span_kinds: ['server'] },
        actions: [{ key: 'a', action: 'delete' }],
      }),
    ).toEqual([
      'include::span_names::1: invalid regular expression "(bad": /(bad/: Unterminated group',
      'include::attributes::0::value: must be a string when match_type is regexp',
      'include::libraries::0::name: invalid regular expression "[": /[/: Unterminated character class',
      'exclude::span_kinds::0: "server" is not a span kind; valid kinds are SPAN_KIND_CLIENT, SPAN_KIND_CONSUMER, SPAN_KIND_INTERNAL, SPAN_KIND_PRODUCER, SPAN_KIND_SERVER',
    ]);
  });

  test('a match with no property, and an empty attribute key', () => {
    expect(problems({ include: { match_type: 'strict' }, actions: [{ key: 'a', action: 'delete' }] })).toEqual([
      'include: at least one of "services", "span_names", "span_kinds", "metric_names", "log_bodies", "log_severity_texts", "attributes", "resources", "libraries" must be set',
    ]);
    expect(problems({ include: { match_type: 'strict', attributes: [{ key: '' }] }, actions: [{ key: 'a', action: 'delete' }] })).toEqual([
      'include::attributes::0::key: must not be empty',
    ]);
  });

  test('unsupported filter keys are rejected by the schema', () => {
    expect(problems({ include: { match_type: 'strict', services: ['a'], log_severity_number: { min: 9 } }, actions: [{ key: 'a', action: 'delete' }] })).toEqual([
      'include::log_severity_number: unknown key; valid keys are: match_type, services, span_names, span_kinds, metric_names, log_bodies, log_severity_texts, attributes, resources, libraries',
    ]);
  });

  test('the Collector README examples in testdata load and validate', () => {
    const doc = YAML.parse(fs.readFileSync(path.join(__dirname, 'testdata', 'config.yaml'), 'utf8')) as { processors: Record<string, unknown> };
    const ids = Object.keys(doc.processors);
    expect(ids).toHaveLength(5);
    for (const id of ids) expect([id, problems(doc.processors[id])]).toEqual([id, []]);
  });

  test('the README extract pattern splits a URL (greedy groups, leftmost-first as in Go)', async () => {
    const doc = YAML.parse(fs.readFileSync(path.join(__dirname, 'testdata', 'config.yaml'), 'utf8')) as { processors: Record<string, { actions: unknown[] }> };
    const out = await process(
      'traces',
      { actions: doc.processors['attributes/regexp'].actions },
      traces({ scopes: [{ items: [span('login', { 'http.url': 'https://example.com/path/to?x=1' })] }] }),
    );
    expect(spanAttrs(out)[0]).toEqual({
      'http.url': 'https://example.com/path/to?x=1',
      http_protocol: 'https',
      http_domain: 'example.com/path',
      http_path: 'to',
      http_query_params: 'x=1',
    });
  });

  test('random and malformed configs only ever produce reported problems', async () => {
    const rand = seededRandom(777);
    const matchPool = [
      { match_type: 'strict', services: ['svc'] },
      { match_type: 'regexp', span_names: ['^s'] },
      { match_type: 'strict', attributes: [{ key: 'k', value: 'v' }] },
      { match_type: 'regexp', attributes: [{ key: 'k', value: 5 }] },
      { match_type: 'strict', metric_names: ['g'] },
      { match_type: 'strict', resources: [{ key: 'service.name' }] },
      { match_type: 'regexp', log_bodies: ['('] },
      { match_type: 'strict', libraries: [{ name: 'lib', version: null }] },
      { services: ['x'] },
    ];
    let valid = 0;
    let created = 0;
    for (let i = 0; i < 4000; i++) {
      const raw: Record<string, unknown> = { actions: Array.from({ length: Math.floor(rand() * 3) }, () => fuzzAction(rand)) };
      if (rand() < 0.5) raw.include = fuzzPick(rand, matchPool);
      if (rand() < 0.3) raw.exclude = fuzzPick(rand, matchPool);
      const { value, issues } = factory.config.parse(rand() < 0.05 ? fuzzPick(rand) : raw);
      if (issues.length || value === undefined) continue;
      const problems = factory.validate!(value);
      for (const [p, m] of problems) {
        expect(p).toMatch(/^(actions|include|exclude)(::[\w.]+)*$/);
        expect(typeof m).toBe('string');
      }
      if (problems.length) continue;
      valid++;
      for (const signal of SIGNALS) {
        const next = new RecordingConsumer<Signal>();
        let proc;
        try {
          proc = factory.create(testSettings('attributes'), value, signal, next);
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          continue;
        }
        created++;
        await proc.consume(batchWith(signal, { k: 'v', n: '7', 'user.id': 'u1', 'service.name': 'svc' }));
        expect(next.received).toHaveLength(1);
      }
    }
    expect(valid).toBeGreaterThan(50);
    expect(created).toBeGreaterThan(100);
  });
});

describe('point helper sanity', () => {
  test('test data builders give one attribute set per data point', () => {
    expect(pointAttrs(metrics({ scopes: [{ items: [gauge('g', [{ a: 1 }, { a: 2 }])] }] }))).toEqual([{ a: 1 }, { a: 2 }]);
    expect(point({ x: 1 }, 2.5).isInt).toBe(false);
  });
});
