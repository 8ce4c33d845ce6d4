import { factory as forward } from '../connectors/forward';
import type { Consumer } from './component';
import { Registry } from './registry';
import { Service } from './service';
import { exported, journal, receivers, testExporter, testProcessor, testReceiver, tracesOf } from './testing/factories';
import type { Traces } from './pdata';
import { clientInfo, setClientInfo } from './clientinfo';

const registry = new Registry([testReceiver, testProcessor, testExporter, forward]);

function service(yaml: string): Service {
  return Service.fromSources([`yaml:${yaml}`, 'yaml:service::telemetry::metrics::level: none', 'yaml:service::telemetry::logs::level: error'], registry, {}, {});
}

function spanAttrs(t: Traces): Array<Record<string, unknown>> {
  return t.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => s.attributes)));
}

beforeEach(() => {
  journal.length = 0;
  exported.clear();
});

describe('pipeline graph', () => {
  it('carries data from a receiver through processors to every exporter', async () => {
    const svc = service(`
receivers: { testrcv: {} }
processors: { testproc/1: { tag: a }, testproc/2: { tag: b } }
exporters: { testexp/x: {}, testexp/y: {} }
service:
  pipelines:
    traces: { receivers: [testrcv], processors: [testproc/1, testproc/2], exporters: [testexp/x, testexp/y] }
`);
    await svc.start();
    await (receivers.get('testrcv')?.traces as Consumer<'traces'>).consume(tracesOf('GET /'));
    await svc.shutdown();
    const x = exported.get('testexp/x') ?? [];
    expect(x).toHaveLength(1);
    expect(spanAttrs(x[0].data as Traces)).toEqual([{ a: 'testproc/1', b: 'testproc/2' }]);
    expect(exported.get('testexp/y')?.[0].data).toBe(x[0].data);
  });

  it('gives each pipeline its own copy when a processor mutates shared data', async () => {
    const svc = service(`
receivers: { testrcv: {} }
processors: { testproc/m: { tag: m }, testproc/n: { tag: n } }
exporters: { testexp/1: {}, testexp/2: {}, testexp/3: {} }
service:
  pipelines:
    traces/1: { receivers: [testrcv], processors: [testproc/m], exporters: [testexp/1] }
    traces/2: { receivers: [testrcv], processors: [testproc/n], exporters: [testexp/2] }
    traces/3: { receivers: [testrcv], exporters: [testexp/3] }
`);
    await svc.start();
    const original = tracesOf('op');
    setClientInfo(original, { address: '10.9.8.7' });
    await (receivers.get('testrcv')?.traces as Consumer<'traces'>).consume(original);
    await svc.shutdown();
    expect(spanAttrs(exported.get('testexp/1')?.[0].data as Traces)).toEqual([{ m: 'testproc/m' }]);
    expect(spanAttrs(exported.get('testexp/2')?.[0].data as Traces)).toEqual([{ n: 'testproc/n' }]);
    // The read-only pipeline sees the data untouched.
    expect(spanAttrs(exported.get('testexp/3')?.[0].data as Traces)).toEqual([{}]);
    expect(spanAttrs(original)).toEqual([{}]);
    // Copies keep the sender, for tagging by connection.
    expect(clientInfo(exported.get('testexp/1')?.[0].data as Traces)).toEqual({ address: '10.9.8.7' });
  });

  it('starts exporters before receivers and shuts receivers down first', async () => {
    const svc = service(`
receivers: { testrcv: {} }
processors: { testproc: {} }
exporters: { testexp: {} }
service:
  pipelines:
    traces: { receivers: [testrcv], processors: [testproc], exporters: [testexp] }
    metrics: { receivers: [testrcv], exporters: [testexp] }
`);
    await svc.start();
    await svc.shutdown();
    await svc.shutdown(); // a second shutdown is a no-op
    expect(journal).toEqual([
      'start exporter:testexp',
      'start processor:testproc',
      'start receiver:testrcv',
      'shutdown receiver:testrcv',
      'shutdown processor:testproc',
      'shutdown exporter:testexp',
    ]);
  });

  it('joins pipelines through a connector and orders start across it', async () => {
    const svc = service(`
receivers: { testrcv/a: {}, testrcv/b: {} }
processors: { testproc: { tag: joined } }
exporters: { testexp: {} }
connectors: { forward: {} }
service:
  pipelines:
    traces/a: { receivers: [testrcv/a], exporters: [forward] }
    traces/b: { receivers: [testrcv/b], exporters: [forward] }
    traces: { receivers: [forward], processors: [testproc], exporters: [testexp] }
`);
    await svc.start();
    await (receivers.get('testrcv/a')?.traces as Consumer<'traces'>).consume(tracesOf('from-a'));
    await (receivers.get('testrcv/b')?.traces as Consumer<'traces'>).consume(tracesOf('from-b'));
    await svc.shutdown();
    const got = (exported.get('testexp') ?? []).map((e) => (e.data as Traces).resourceSpans[0].scopeSpans[0].spans[0]);
    expect(got.map((s) => [s.name, s.attributes.joined])).toEqual([
      ['from-a', 'testproc'],
      ['from-b', 'testproc'],
    ]);
    const starts = journal.filter((j) => j.startsWith('start'));
    expect(starts.indexOf('start exporter:testexp')).toBeLessThan(starts.indexOf('start processor:testproc'));
    expect(starts.indexOf('start processor:testproc')).toBeLessThan(starts.indexOf('start receiver:testrcv/a'));
  });

  it('stops what started when a component fails to start, naming it', async () => {
    const svc = service(`
receivers: { testrcv: { fail_start: true } }
exporters: { testexp: {} }
service:
  pipelines:
    logs: { receivers: [testrcv], exporters: [testexp] }
`);
    await expect(svc.start()).rejects.toThrow('receivers::testrcv: failed to start: told to fail');
    expect(journal).toEqual(['start exporter:testexp', 'start receiver:testrcv', 'shutdown receiver:testrcv', 'shutdown exporter:testexp']);
  });

  it('returns an exporter error to the sender', async () => {
    const svc = service(`
receivers: { testrcv: {} }
exporters: { testexp: { fail: true } }
service:
  pipelines:
    traces: { receivers: [testrcv], exporters: [testexp] }
`);
    await svc.start();
    await expect((receivers.get('testrcv')?.traces as Consumer<'traces'>).consume(tracesOf('x'))).rejects.toThrow('export failed');
    await svc.shutdown();
  });

  it('throws a ConfigError listing problems from fromSources', () => {
    expect(() => service('service: { pipelines: { traces: { receivers: [a], exporters: [b] } } }')).toThrow(
      'invalid configuration:\n  service::pipelines::traces: references receiver "a" which is not configured\n  service::pipelines::traces: references exporter "b" which is not configured',
    );
  });
});
