/**
 * The agent's default configuration: OTLP from local apps, batched and
 * forwarded over OTLP/gRPC to a MetaFlow server (METAFLOW_SERVER, default
 * localhost:4317). Later issues add the zero-code receivers (ebpf, pcap) to it.
 */
export const agentDefaultConfig = `
receivers:
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
      receivers: [otlp]
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
