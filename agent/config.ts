import YAML from 'yaml';

/**
 * The agent's default configuration: OTLP from local apps and zero-code
 * spans of every process on the host from eBPF (receivers/ebpf), batched
 * and forwarded over OTLP/gRPC to a MetaFlow server (METAFLOW_SERVER,
 * default localhost:4317). Where eBPF cannot run (not Linux, not root, no
 * kernel BTF, bpf/ not built) the ebpf receiver logs why and stays idle; the
 * rest of the pipeline runs.
 */
export const agentDefaultConfig = `
receivers:
  # Every process's requests from system calls and OpenSSL; never the agent's own traffic.
  ebpf: {}
  otlp:
    protocols:
      grpc:
        endpoint: \${env:METAFLOW_AGENT_OTLP_GRPC_ENDPOINT:-127.0.0.1:4317}
      http:
        endpoint: \${env:METAFLOW_AGENT_OTLP_HTTP_ENDPOINT:-127.0.0.1:4318}
processors:
  # Host, process and (in a cluster) Kubernetes facts, before batch: batching
  # drops the sender address that tagging by connection needs.
  autotagging: {}
  memory_limiter:
    check_interval: 1s
    limit_percentage: 20
    spike_limit_percentage: 5
  batch: {}
exporters:
  otlp:
    endpoint: \${env:METAFLOW_SERVER:-localhost:4317}
    tls:
      insecure: true
service:
  telemetry:
    metrics:
      address: \${env:METAFLOW_AGENT_TELEMETRY_ENDPOINT:-127.0.0.1:8889}
  pipelines:
    traces:
      receivers: [otlp, ebpf]
      processors: [memory_limiter, autotagging, batch]
      exporters: [otlp]
    metrics:
      receivers: [otlp]
      processors: [memory_limiter, autotagging, batch]
      exporters: [otlp]
    logs:
      receivers: [otlp]
      processors: [memory_limiter, autotagging, batch]
      exporters: [otlp]
`;

/**
 * Whether `metaflow start` traces this host with eBPF by default: on Linux,
 * running as root, unless METAFLOW_EBPF is `off` (or `false`, `0`).
 */
export function startTracesWithEbpf(env: NodeJS.ProcessEnv = process.env): boolean {
  if (/^(off|false|0|no)$/i.test(env.METAFLOW_EBPF ?? '')) return false;
  return process.platform === 'linux' && process.getuid?.() === 0;
}

/**
 * The config layer that adds the ebpf receiver to the traces pipeline of
 * `base` (a default config's YAML): `receivers: { ebpf: {} }` and the
 * pipeline's receivers with `ebpf` appended. A layer rather than an edited
 * copy, so the user's --config files still merge over it (and can take
 * ebpf out of the pipeline again).
 */
export function ebpfLayer(base: string): string {
  const doc = (YAML.parse(base) ?? {}) as { service?: { pipelines?: Record<string, { receivers?: string[] }> } };
  const receivers = doc.service?.pipelines?.traces?.receivers ?? [];
  const list = receivers.includes('ebpf') ? receivers : [...receivers, 'ebpf'];
  return YAML.stringify({ receivers: { ebpf: {} }, service: { pipelines: { traces: { receivers: list } } } });
}
