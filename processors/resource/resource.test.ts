import { ConfigError } from '../../pipeline/errors';
import { SIGNALS, type Attributes, type Signal, type SignalData } from '../../pipeline/pdata';
import { formatIssue } from '../../pipeline/config/schema';
import {
  RecordingConsumer,
  fuzzAction,
  fuzzPick,
  gauge,
  logRecord,
  logs,
  metrics,
  seededRandom,
  span,
  testSettings,
  traces,
} from '../internal/testing';
import { factory } from '.';

/** A batch of `signal` with two resource groups carrying copies of `attrs`. */
function batchWith<S extends Signal>(signal: S, attrs: Attributes): SignalData[S] {
  const a = () => structuredClone(attrs);
  switch (signal) {
    case 'traces':
      return traces({ resource: a(), scopes: [{ items: [span('s')] }] }, { resource: a(), scopes: [] }) as SignalData[S];
    case 'metrics':
      return metrics({ resource: a(), scopes: [{ items: [gauge('g', [{}])] }] }, { resource: a(), scopes: [] }) as SignalData[S];
    default:
      return logs({ resource: a(), scopes: [{ items: [logRecord('l')] }] }, { resource: a(), scopes: [] }) as SignalData[S];
  }
}

function resourceAttrs(signal: Signal, data: SignalData[Signal]): Attributes[] {
  if (signal === 'traces') return (data as SignalData['traces']).resourceSpans.map((g) => g.resource.attributes);
  if (signal === 'metrics') return (data as SignalData['metrics']).resourceMetrics.map((g) => g.resource.attributes);
  return (data as SignalData['logs']).resourceLogs.map((g) => g.resource.attributes);
}

/** Runs the processor with `attributes` actions over resources with `attrs`; returns the resulting attributes of both groups. */
async function run(signal: Signal, actions: unknown[], attrs: Attributes): Promise<Attributes[]> {
  const { value, issues } = factory.config.parse({ attributes: actions });
  expect(issues.map(formatIssue)).toEqual([]);
  expect(factory.validate!(value!)).toEqual([]);
  const next = new RecordingConsumer<Signal>();
  const proc = factory.create(testSettings('resource'), value!, signal, next);
  const data = batchWith(signal, attrs);
  await proc.consume(data);
  expect(next.received).toHaveLength(1);
  expect(next.received[0]).toBe(data);
  return resourceAttrs(signal, next.received[0]);
}

describe.each(SIGNALS.map((s) => [s]))('resource processor on %s', (signal) => {
  const base = { 'service.name': 'checkout', 'host.name': 'web-1', 'k8s.pod.uid': 'abc', count: '42', ratio: '0.5' };

  test('insert adds only missing keys', async () => {
    const out = await run(signal, [
      { key: 'host.name', value: 'other', action: 'insert' },
      { key: 'deployment.environment', value: 'prod', action: 'insert' },
      { key: 'replicas', value: 3, action: 'insert' },
    ], base);
    expect(out).toEqual([
      { ...base, 'deployment.environment': 'prod', replicas: 3 },
      { ...base, 'deployment.environment': 'prod', replicas: 3 },
    ]);
  });

  test('update changes only existing keys', async () => {
    const [out] = await run(signal, [
      { key: 'host.name', value: 'web-2', action: 'update' },
      { key: 'absent', value: 'x', action: 'update' },
    ], base);
    expect(out).toEqual({ ...base, 'host.name': 'web-2' });
  });

  test('upsert sets either way, and from_attribute copies a value', async () => {
    const [out] = await run(signal, [
      { key: 'host.name', value: 'web-3', action: 'upsert' },
      { key: 'cloud.region', value: 'eu-west-1', action: 'upsert' },
      { key: 'service.instance.id', from_attribute: 'k8s.pod.uid', action: 'upsert' },
      { key: 'nothing', from_attribute: 'absent', action: 'upsert' },
    ], base);
    expect(out).toEqual({ ...base, 'host.name': 'web-3', 'cloud.region': 'eu-west-1', 'service.instance.id': 'abc' });
  });

  test('delete removes a key', async () => {
    const [out] = await run(signal, [{ key: 'k8s.pod.uid', action: 'delete' }], base);
    expect(out).toEqual({ 'service.name': 'checkout', 'host.name': 'web-1', count: '42', ratio: '0.5' });
  });

  test('hash replaces the value with its SHA-1 hex', async () => {
    const [out] = await run(signal, [{ key: 'host.name', action: 'hash' }, { key: 'absent', action: 'hash' }], { ...base, 'host.name': 'abc' });
    expect(out).toEqual({ ...base, 'host.name': 'a9993e364706816aba3e25717850c26c9cd0d89d' });
  });

  test('convert changes types', async () => {
    const [out] = await run(signal, [
      { key: 'count', action: 'convert', converted_type: 'int' },
      { key: 'ratio', action: 'convert', converted_type: 'double' },
      { key: 'service.name', action: 'convert', converted_type: 'int' },
    ], base);
    expect(out).toEqual({ ...base, count: 42, ratio: 0.5 });
  });

  test('extract sets one attribute per named group', async () => {
    const [out] = await run(signal, [{ key: 'host.name', pattern: '^(?P<role>[a-z]+)-(?P<index>\\d+)$', action: 'extract' }], base);
    expect(out).toEqual({ ...base, role: 'web', index: '1' });
  });

  test('actions apply in order', async () => {
    const [out] = await run(signal, [
      { key: 'secret', value: 'foo', action: 'upsert' },
      { key: 'secret', action: 'hash' },
      { key: 'copy', from_attribute: 'secret', action: 'insert' },
      { key: 'secret', action: 'delete' },
    ], {});
    expect(out).toEqual({ copy: '0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33' });
  });
});

describe('resource processor', () => {
  test('declares that it mutates data', () => {
    const cfg = factory.config.parseOrThrow({ attributes: [{ key: 'a', value: 1, action: 'upsert' }] });
    expect(factory.create(testSettings('resource'), cfg, 'traces', new RecordingConsumer()).mutatesData).toBe(true);
  });

  test('values from config are copied per resource, never shared', async () => {
    const out = await run('traces', [{ key: 'tags', value: ['a', 'b'], action: 'insert' }], {});
    expect(out[0].tags).toEqual(['a', 'b']);
    expect(out[0].tags).not.toBe(out[1].tags);
  });

  test('errors from next propagate to the caller', async () => {
    const cfg = factory.config.parseOrThrow({ attributes: [{ key: 'a', value: 1, action: 'upsert' }] });
    const next = new RecordingConsumer<'logs'>();
    next.fail = new Error('down');
    const proc = factory.create(testSettings('resource'), cfg, 'logs', next);
    await expect(proc.consume(batchWith('logs', {}))).rejects.toThrow('down');
  });

  test('create refuses an invalid config with a ConfigError rather than misbehaving', () => {
    const cfg = factory.config.parseOrThrow({ attributes: [{ action: 'insert' }] });
    expect(() => factory.create(testSettings('resource'), cfg, 'traces', new RecordingConsumer())).toThrow(ConfigError);
  });
});

describe('resource config validation', () => {
  const problems = (raw: unknown) => {
    const { value, issues } = factory.config.parse(raw);
    if (issues.length) return issues.map(formatIssue);
    return factory.validate!(value!).map(([p, m]) => `${p}: ${m}`);
  };

  test('an empty action list', () => {
    expect(problems({})).toEqual(['attributes: at least one action is required']);
    expect(problems({ attributes: [] })).toEqual(['attributes: at least one action is required']);
  });

  test('an unknown action', () => {
    expect(problems({ attributes: [{ key: 'a', value: 1, action: 'insert' }, { key: 'b', action: 'rename' }] })).toEqual([
      'attributes::1::action: expected one of "insert", "update", "upsert", "delete", "hash", "extract", "convert", got "rename"',
    ]);
  });

  test('actions are case-insensitive, as in the Collector', () => {
    expect(problems({ attributes: [{ key: 'a', value: 1, action: 'UPSERT' }] })).toEqual([]);
  });

  test('missing key and value source', () => {
    expect(problems({ attributes: [{ action: 'insert' }, { key: 'x', action: 'update' }] })).toEqual([
      'attributes::0::key: is required for action "insert"',
      'attributes::0::value: action "insert" needs "value" or "from_attribute"',
      'attributes::1::value: action "update" needs "value" or "from_attribute"',
    ]);
  });

  test('both value and from_attribute', () => {
    expect(problems({ attributes: [{ key: 'x', value: 1, from_attribute: 'y', action: 'upsert' }] })).toEqual([
      'attributes::0::from_attribute: cannot be combined with "value"; set only one',
    ]);
  });

  test('fields an action does not use', () => {
    expect(problems({ attributes: [{ key: 'x', value: 1, pattern: 'a', action: 'delete' }, { key: 'x', value: 1, converted_type: 'int', action: 'insert' }] })).toEqual([
      'attributes::0::value: is not used by action "delete"; remove it',
      'attributes::1::converted_type: is not used by action "insert"; remove it',
    ]);
  });

  test('delete and hash need a key or a pattern; patterns must compile', () => {
    expect(problems({ attributes: [{ action: 'delete' }, { pattern: '(unclosed', action: 'hash' }] })).toEqual([
      'attributes::0::key: action "delete" needs "key" or "pattern"',
      'attributes::1::pattern: invalid regular expression "(unclosed": /(unclosed/: Unterminated group',
    ]);
  });

  test('extract needs a pattern whose groups are all named', () => {
    expect(problems({ attributes: [{ key: 'a', action: 'extract' }, { key: 'a', pattern: '(\\d+)', action: 'extract' }, { key: 'a', pattern: '(?P<x>\\d+)-(\\d+)', action: 'extract' }] })).toEqual([
      'attributes::0::pattern: is required for action "extract"',
      'attributes::1::pattern: contains no named groups such as (?P<name>...); extract sets one attribute per named group',
      'attributes::2::pattern: contains an unnamed group; every group must be named (use (?:...) for grouping)',
    ]);
  });

  test('convert needs a valid converted_type', () => {
    expect(problems({ attributes: [{ key: 'a', action: 'convert' }] })).toEqual(['attributes::0::converted_type: is required for action "convert" (int, double or string)']);
    expect(problems({ attributes: [{ key: 'a', action: 'convert', converted_type: 'float' }] })).toEqual([
      'attributes::0::converted_type: expected one of "int", "double", "string", got "float"',
    ]);
  });

  test('from_context is reported as unsupported', () => {
    expect(problems({ attributes: [{ key: 'a', from_context: 'metadata.tenant', action: 'insert' }] })).toEqual([
      'attributes::0::from_context: is not supported: MetaFlow pipelines carry no client metadata; use from_attribute or value',
      'attributes::0::value: action "insert" needs "value" or "from_attribute"',
    ]);
  });

  test('unknown keys are rejected by the schema', () => {
    expect(problems({ attributes: [{ key: 'a', value: 1, action: 'insert', actions: 1 }] })).toEqual([
      'attributes::0::actions: unknown key; valid keys are: key, action, value, from_attribute, from_context, pattern, converted_type',
    ]);
  });

  test('random and malformed configs only ever produce reported problems', async () => {
    const rand = seededRandom(12345);
    let valid = 0;
    let invalid = 0;
    for (let i = 0; i < 4000; i++) {
      const raw =
        rand() < 0.1
          ? fuzzPick(rand)
          : { attributes: rand() < 0.1 ? fuzzPick(rand) : Array.from({ length: Math.floor(rand() * 3) }, () => fuzzAction(rand)) };
      const { value, issues } = factory.config.parse(raw);
      if (issues.length || value === undefined) {
        invalid++;
        continue;
      }
      const problems = factory.validate!(value);
      for (const [p, m] of problems) {
        expect(p).toMatch(/^attributes(::\d+::\w+)?$/);
        expect(typeof m).toBe('string');
      }
      if (problems.length) {
        invalid++;
        continue;
      }
      valid++;
      for (const signal of SIGNALS) {
        const next = new RecordingConsumer<Signal>();
        const proc = factory.create(testSettings('resource'), value, signal, next);
        await proc.consume(batchWith(signal, { k: 'v', n: '7', 'user.id': 'u1', 'service.name': 'svc' }));
        expect(next.received).toHaveLength(1);
      }
    }
    // The generator must exercise both sides.
    expect(valid).toBeGreaterThan(100);
    expect(invalid).toBeGreaterThan(100);
  });
});
