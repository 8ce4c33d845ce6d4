import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { factory as forward } from '../../connectors/forward';
import { Registry } from '../registry';
import { Service } from '../service';
import { testExporter, testProcessor, testReceiver } from '../testing/factories';
import { loadSources } from './load';
import { parseDuration } from './schema';

const registry = new Registry([testReceiver, testProcessor, testExporter, forward]);
const load = (...yaml: string[]) => Service.load(yaml.map((y) => `yaml:${y}`), registry, {});

const minimal = `
receivers: { testrcv: {} }
exporters: { testexp: {} }
service:
  telemetry: { metrics: { level: none } }
  pipelines:
    traces: { receivers: [testrcv], exporters: [testexp] }
`;

describe('config validation', () => {
  it('accepts a minimal config and lays defaults under it', () => {
    const r = load(minimal);
    expect(r.errors).toEqual([]);
    expect(r.config?.components.receiver.get('testrcv')?.config).toEqual({ fail_start: false });
    expect(r.config?.telemetry.logs.level).toBe('info');
    expect(r.config?.pipelines).toEqual([{ key: 'traces', signal: 'traces', receivers: ['testrcv'], processors: [], exporters: ['testexp'] }]);
  });

  it('lists every mistake with its path, three mistakes giving three lines', () => {
    const r = load(`
receivers:
  testrcv: { endpoint: 7 , bogus: 1 }
processors:
  testproc: { mutate: maybe }
exporters: { testexp: {} }
service:
  pipelines:
    traces: { receivers: [testrcv], processors: [testproc, x], exporters: [testexp] }
`);
    expect(r.errors).toEqual([
      'receivers::testrcv::bogus: unknown key; valid keys are: endpoint, fail_start',
      'processors::testproc::mutate: expected true or false, got "maybe"',
      'service::pipelines::traces: references processor "x" which is not configured',
    ]);
    expect(r.config).toBeUndefined();
  });

  it('names the types this build has for an unknown type', () => {
    const r = load(minimal, 'exporters: { kafka: {} , testexp: {} }');
    expect(r.errors).toEqual(['exporters::kafka: unknown type "kafka"; this build has exporters: testexp']);
  });

  it('rejects unknown sections and bad component ids', () => {
    const r = load(minimal, 'recievers: {}\nprocessors: { "1bad": {}, "testproc/": {} }');
    expect(r.errors).toEqual([
      'recievers: unknown section; valid sections are: receivers, processors, exporters, connectors, extensions, service',
      'processors::1bad: invalid component type "1bad": it must start with a letter and contain only letters, digits and underscores',
      'processors::testproc/: invalid component name "": it must be non-empty and contain no spaces or slashes',
    ]);
  });

  it('accepts an alternative type name (the Collector renamed some types)', () => {
    const r = load(minimal.replace('receivers: { testrcv: {} }', 'receivers: { test_receiver/a: {} }').replace('[testrcv]', '[test_receiver/a]'));
    expect(r.errors).toEqual([]);
    expect(r.config?.components.receiver.get('test_receiver/a')?.factory).toBe(testReceiver);
  });

  it('checks pipelines: signal names, required parts, duplicates, missing references', () => {
    const r = load(`
receivers: { testrcv: {} }
processors: { testproc: {} }
exporters: { testexp: {} }
service:
  pipelines:
    spans: { receivers: [testrcv], exporters: [testexp] }
    traces: { receivers: [], exporters: [testexp] }
    metrics: { receivers: [testrcv, nope], processors: [testproc, testproc], exporters: [] }
`);
    expect(r.errors).toEqual([
      'service::pipelines::spans: unknown signal "spans"; pipeline ids are traces, metrics or logs, optionally followed by /name',
      'service::pipelines::traces: must have at least one receiver',
      'service::pipelines::metrics: must have at least one exporter',
      'service::pipelines::metrics: references receiver "nope" which is not configured',
      'service::pipelines::metrics: references processor "testproc" multiple times',
    ]);
  });

  it('requires a service section with at least one pipeline', () => {
    expect(load('receivers: { testrcv: {} }').errors).toEqual(['service: is required; it lists the pipelines to run']);
    expect(load('service: { pipelines: {} }').errors).toEqual(['service::pipelines: must have at least one pipeline']);
  });

  it('names a cycle through connectors', () => {
    const r = load(`
receivers: { testrcv: {} }
exporters: { testexp: {} }
connectors: { forward/a: {}, forward/b: {} }
service:
  pipelines:
    traces: { receivers: [testrcv, forward/b], exporters: [forward/a] }
    traces/2: { receivers: [forward/a], exporters: [testexp, forward/b] }
`);
    expect(r.errors).toEqual(['service::pipelines: connectors form a cycle: traces → forward/a → traces/2 → forward/b → traces']);
  });

  it('requires a connector on both sides with a supported signal pair', () => {
    const r = load(`
receivers: { testrcv: {} }
exporters: { testexp: {} }
connectors: { forward: {} }
service:
  pipelines:
    traces: { receivers: [testrcv], exporters: [forward] }
    metrics: { receivers: [forward], exporters: [testexp] }
`);
    expect(r.errors).toEqual([
      'connectors::forward: used as exporter in traces pipeline "traces" but not used in any supported receiver pipeline',
      'connectors::forward: used as receiver in metrics pipeline "metrics" but not used in any supported exporter pipeline',
    ]);
  });

  it('fails when two receivers claim one port, and with the telemetry endpoint', () => {
    const r = load(`
receivers:
  testrcv/a: { endpoint: "0.0.0.0:4317" }
  testrcv/b: { endpoint: "127.0.0.1:4317" }
  testrcv/c: { endpoint: "localhost:8888" }
  testrcv/d: { endpoint: "127.0.0.1:0" }
  testrcv/e: { endpoint: "127.0.0.1:0" }
exporters: { testexp: {} }
service:
  pipelines:
    traces: { receivers: [testrcv/a, testrcv/b, testrcv/c, testrcv/d, testrcv/e], exporters: [testexp] }
`);
    expect(r.errors).toEqual([
      'receivers::testrcv/b::endpoint: port 4317 is already claimed by receivers::testrcv/a::endpoint',
      'service::telemetry::metrics::address: port 8888 is already claimed by receivers::testrcv/c::endpoint',
    ]);
  });

  it('warns about components configured but not used', () => {
    const r = load(minimal, 'processors: { testproc: {} }\nconnectors: { forward: {} }');
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([
      'processors::testproc: configured but not used by the service',
      'connectors::forward: configured but not used by the service',
    ]);
  });

  it('never throws on random or malformed configs, reporting problems instead', () => {
    const samples = ['[1,2]', '42', '{{{', 'receivers: 5', 'service: []', 'service: { pipelines: [1] }', 'service: { pipelines: { traces: 7 } }', 'exporters: { testexp: [] }', '\t\t: :', '&a [*a]'];
    for (const yaml of samples) {
      const r = load(yaml);
      expect(r.errors.length).toBeGreaterThan(0);
    }
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 2000; i++) {
      const chars = Array.from({ length: Math.floor(rand() * 80) }, () => String.fromCharCode(9 + Math.floor(rand() * 118)));
      const r = load(minimal.slice(0, Math.floor(rand() * minimal.length)) + chars.join(''));
      expect(Array.isArray(r.errors)).toBe(true);
    }
  });
});

describe('config sources', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-config-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('merges several files in order: maps merge, lists are replaced', () => {
    const a = path.join(dir, 'a.yaml');
    const b = path.join(dir, 'b.yaml');
    fs.writeFileSync(a, minimal + '\nprocessors: { testproc: { tag: one } }\n');
    fs.writeFileSync(b, 'processors: { testproc: { mutate: false } }\nservice: { pipelines: { traces: { processors: [testproc] } } }\n');
    const r = Service.load([a, b], registry, {});
    expect(r.errors).toEqual([]);
    expect(r.config?.components.processor.get('testproc')?.config).toEqual({ tag: 'one', mutate: false });
    expect(r.config?.pipelines[0]).toMatchObject({ receivers: ['testrcv'], processors: ['testproc'], exporters: ['testexp'] });
  });

  it('expands ${env:VAR} and ${env:VAR:-default}, typing whole-value references', () => {
    const raw = loadSources(['yaml:a: ${env:PORT}\nb: "x-${env:NAME}-y"\nc: ${env:MISSING:-fallback}\nd: $${env:NAME}\ne: ${env:UNSET}\nf: ${NAME}'], {
      PORT: '4317',
      NAME: 'svc',
    });
    expect(raw.value).toEqual({ a: 4317, b: 'x-svc-y', c: 'fallback', d: '${env:NAME}', e: '', f: 'svc' });
    expect(raw.warnings).toEqual(['e: environment variable UNSET is not set; using ""']);
    expect(raw.errors).toEqual([]);
  });

  it('reports unreadable files and YAML errors with the source', () => {
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, 'a: [1, 2\n');
    const r = loadSources([path.join(dir, 'missing.yaml'), bad, 'env:NOPE'], {});
    expect(r.errors[0]).toBe(`cannot read config file ${path.join(dir, 'missing.yaml')}: no such file`);
    expect(r.errors[1]).toMatch(new RegExp(`^cannot parse ${bad} as YAML: `));
    expect(r.errors[2]).toBe('config source "env:NOPE": environment variable NOPE is not set');
  });

  it('takes inline key::path sources and env sources', () => {
    const r = loadSources([`yaml:${minimal}`, 'yaml:processors::testproc::tag: inline', 'env:EXTRA'], { EXTRA: 'processors: { testproc: { mutate: false } }' });
    expect(r.value.processors).toEqual({ testproc: { tag: 'inline', mutate: false } });
  });
});

describe('durations', () => {
  it('parses Go durations to milliseconds', () => {
    expect(parseDuration('200ms')).toBe(200);
    expect(parseDuration('1m30s')).toBe(90000);
    expect(parseDuration('1.5h')).toBe(5400000);
    expect(parseDuration('500us')).toBe(0.5);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('5')).toBeUndefined();
    expect(parseDuration('5 s')).toBeUndefined();
    expect(parseDuration('')).toBeUndefined();
  });
});
