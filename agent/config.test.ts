/**
 * The default configs with the ebpf receiver: the agent's always has it in
 * its traces pipeline; `metaflow start` adds it on Linux as root unless
 * METAFLOW_EBPF=off; and where eBPF cannot run, the agent's default
 * pipeline still starts and carries data, with the reason logged.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildRegistry, configSources } from '../cli/commands';
import { factories } from '../cli/components.generated';
import { Registry } from '../pipeline/registry';
import { Service } from '../pipeline/service';
import { exported, receivers, testExporter, testReceiver, tracesOf } from '../pipeline/testing/factories';
import { freePorts } from '../test/helpers/ports';
import { agentDefaultConfig, ebpfLayer, startTracesWithEbpf } from './config';

const tracesReceivers = (sources: string[], env: NodeJS.ProcessEnv = process.env) => {
  const { config, errors } = Service.load(sources, buildRegistry(), env);
  expect(errors).toEqual([]);
  return config!.pipelines.find((p) => p.key === 'traces')!.receivers;
};

describe('default configs and the ebpf receiver', () => {
  const saved = process.env.METAFLOW_EBPF;
  afterEach(() => {
    if (saved === undefined) delete process.env.METAFLOW_EBPF;
    else process.env.METAFLOW_EBPF = saved;
  });

  it('has ebpf in the agent’s traces pipeline', () => {
    expect(tracesReceivers(configSources('agent', []))).toEqual(['otlp', 'ebpf']);
  });

  it('adds ebpf to metaflow start on Linux as root, and not with METAFLOW_EBPF=off', () => {
    delete process.env.METAFLOW_EBPF;
    const rootOnLinux = process.platform === 'linux' && process.getuid?.() === 0;
    expect(startTracesWithEbpf()).toBe(rootOnLinux);
    expect(tracesReceivers(configSources('start', []))).toEqual(rootOnLinux ? ['otlp', 'ebpf'] : ['otlp']);
    for (const off of ['off', 'false', '0', 'OFF']) {
      process.env.METAFLOW_EBPF = off;
      expect(startTracesWithEbpf()).toBe(false);
      expect(tracesReceivers(configSources('start', []))).toEqual(['otlp']);
    }
  });

  it('lets a user config take ebpf out of metaflow start again', () => {
    process.env.METAFLOW_EBPF = 'on';
    const user = 'yaml:service: { pipelines: { traces: { receivers: [otlp] } } }';
    const sources = configSources('start', [user]);
    expect(tracesReceivers(sources)).toEqual(['otlp']);
  });

  it('builds the layer from the base pipeline, keeping its receivers', () => {
    expect(ebpfLayer('service: { pipelines: { traces: { receivers: [otlp, kafka] } } }')).toBe('receivers:\n  ebpf: {}\nservice:\n  pipelines:\n    traces:\n      receivers:\n        - otlp\n        - kafka\n        - ebpf\n');
    expect(ebpfLayer('service: { pipelines: { traces: { receivers: [otlp, ebpf] } } }')).toContain('receivers:\n        - otlp\n        - ebpf\n');
  });
});

describe('the agent’s default pipeline where eBPF cannot run', () => {
  const saved = process.env.METAFLOW_BPF_DIR;
  let empty: string;
  beforeAll(() => {
    // No addon and no BPF object here: the ebpf receiver cannot start.
    empty = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-nobpf-'));
    process.env.METAFLOW_BPF_DIR = empty;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.METAFLOW_BPF_DIR;
    else process.env.METAFLOW_BPF_DIR = saved;
    fs.rmSync(empty, { recursive: true, force: true });
  });

  it('starts, logs why ebpf is idle, and carries spans through the rest of the pipeline', async () => {
    const [grpc, http, telemetry] = await freePorts(3);
    const env = {
      ...process.env,
      METAFLOW_AGENT_OTLP_GRPC_ENDPOINT: `127.0.0.1:${grpc}`,
      METAFLOW_AGENT_OTLP_HTTP_ENDPOINT: `127.0.0.1:${http}`,
      METAFLOW_AGENT_TELEMETRY_ENDPOINT: `127.0.0.1:${telemetry}`,
    };
    // The agent's default config as is, with a recording exporter beside its otlp exporter.
    const layer = `yaml:
receivers: { testrcv: {} }
exporters: { testexp: {} }
service:
  pipelines:
    traces: { receivers: [otlp, ebpf, testrcv], exporters: [otlp, testexp] }
`;
    const logs: string[] = [];
    const registry = new Registry([...factories, testReceiver, testExporter]);
    const service = Service.fromSources([`yaml:${agentDefaultConfig}`, layer], registry, { logSink: (l) => logs.push(l) }, env);
    await service.start();
    try {
      expect(logs.join('\n')).toMatch(/ebpf receiver unavailable, not tracing \(the rest of the pipeline runs\): .*make -C bpf/);
      await receivers.get('testrcv')!.traces!.consume(tracesOf('through-the-agent'));
      const names = () => (exported.get('testexp') ?? []).flatMap((e) => (e.data as ReturnType<typeof tracesOf>).resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((sp) => sp.name))));
      // The batch processor sends within its timeout (200 ms).
      for (let i = 0; i < 600 && !names().includes('through-the-agent'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(names()).toContain('through-the-agent');
    } finally {
      await service.shutdown();
    }
  });
});
