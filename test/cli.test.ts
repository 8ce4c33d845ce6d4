/**
 * The metaflow command's offline commands: validate and components.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './helpers/metaflow';

describe('metaflow validate', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-validate-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('prints all three mistakes of a config with their paths and exits non-zero', async () => {
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(
      file,
      `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: "localhost:99999"
processors:
  batch:
    send_batch_size: lots
exporters:
  clickhouse: {}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch, transform]
      exporters: [clickhouse]
`,
    );
    const r = await runCli(['validate', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'invalid configuration (3 problems):\n' +
        '  receivers::otlp::protocols::grpc::endpoint: port 99999 is out of range (0-65535)\n' +
        '  processors::batch::send_batch_size: expected an integer, got "lots"\n' +
        '  service::pipelines::traces: references processor "transform" which is not configured\n',
    );
  });

  it('accepts the default server config and a Collector-style config with the new type names', async () => {
    const file = path.join(dir, 'good.yaml');
    fs.writeFileSync(
      file,
      `receivers:
  otlp:
    protocols: { grpc: {}, http: {} }
processors:
  batch: { send_batch_size: 1000, timeout: 5s }
  memory_limiter: { check_interval: 1s, limit_mib: 512 }
exporters:
  otlp_grpc: { endpoint: "collector:4317", tls: { insecure: true } }
  otlphttp: { endpoint: "https://collector:4318" }
  debug: { verbosity: detailed }
service:
  telemetry: { logs: { level: debug }, metrics: { level: none } }
  pipelines:
    traces: { receivers: [otlp], processors: [memory_limiter, batch], exporters: [otlp_grpc, debug] }
    logs: { receivers: [otlp], processors: [batch], exporters: [otlphttp] }
`,
    );
    const r = await runCli(['validate', '--config', file]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('configuration is valid: 2 pipeline(s): traces, logs\n');
    expect(r.code).toBe(0);
  });

  it('names the types this build has for an unknown one', async () => {
    const r = await runCli(['validate', '--config', 'yaml:exporters: { kafka: {} }\nreceivers: { otlp: {} }\nservice: { pipelines: { traces: { receivers: [otlp], exporters: [kafka] } } }']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('exporters::kafka: unknown type "kafka"; this build has exporters: clickhouse, debug, otlp, otlphttp');
  });
});

describe('metaflow components', () => {
  it('lists the build’s components by kind with their stability', async () => {
    const r = await runCli(['components']);
    expect(r.code).toBe(0);
    // Sorted by type: the receivers of this build, each with its description and stability.
    expect(r.stdout).toMatch(/receivers:\n {2}ebpf\n[^]*?\n {2}otlp\n {4}OTLP over gRPC \(4317\) and HTTP \(4318\): traces, metrics, logs\n {4}stability: traces: beta, metrics: beta, logs: beta\n {2}pcap\n {4}Packet capture [^]*?\n {2}prometheusremotewrite /);
    expect(r.stdout).toContain('  otlp (also: otlp_grpc)\n');
    expect(r.stdout).toContain('  otlphttp (also: otlp_http)\n');
    expect(r.stdout).toMatch(/processors:\n {2}attributes[\s\S]*batch[\s\S]*memory_limiter[\s\S]*resource/);
    expect(r.stdout).toContain('extensions:\n  health_check\n');
    expect(r.stdout).toContain('\n  query\n    The query service');
  });

  it('exits 2 with usage for an unknown command', async () => {
    const r = await runCli(['launch']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('metaflow: unknown command "launch"');
  });
});
