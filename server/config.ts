/**
 * The server's default configuration: OTLP and Prometheus remote write in,
 * batching under a memory limit, RED metrics and the service graph computed
 * from every span (the redmetrics and servicegraph connectors feed the
 * metrics pipeline, so `/api/v1/red` and `/api/v1/service-map` answer out of
 * the box), the embedded ClickHouse store, and the query service. `metaflow server`
 * runs it when no --config is given; `metaflow start` runs it together with
 * the agent's local receivers. Values can be overridden by --config files,
 * which merge over it key by key.
 */
export const serverDefaultConfig = `
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: \${env:METAFLOW_OTLP_GRPC_ENDPOINT:-0.0.0.0:4317}
      http:
        endpoint: \${env:METAFLOW_OTLP_HTTP_ENDPOINT:-0.0.0.0:4318}
  prometheusremotewrite:
    endpoint: \${env:METAFLOW_REMOTE_WRITE_ENDPOINT:-0.0.0.0:9201}
connectors:
  redmetrics: {}
  # More halves may wait for their other half than the Collector's 1000: a
  # server sees every service's spans at tens of thousands per second.
  servicegraph:
    store:
      max_items: 50000
processors:
  # Kubernetes and process facts for everything; no host detection here: the
  # server's own host facts must not land on remote apps' data (agents send theirs).
  autotagging:
    detectors: []
  memory_limiter:
    check_interval: 1s
    limit_percentage: 80
    spike_limit_percentage: 20
  # Large batches: ClickHouse stores big inserts far more cheaply (fewer parts
  # to merge). Measured with bench/otlp-ingest on 2 cores: 50000/1s sustained
  # 27-30k spans/s at 43-52 µs of CPU per span, 8192/200ms 21-26k at 68-71 µs.
  batch:
    send_batch_size: 50000
    send_batch_max_size: 100000
    timeout: 1s
exporters:
  clickhouse:
    data_dir: \${env:METAFLOW_DATA_DIR:-./data}
extensions:
  query:
    endpoint: \${env:METAFLOW_QUERY_ENDPOINT:-0.0.0.0:20416}
service:
  extensions: [query]
  telemetry:
    metrics:
      address: \${env:METAFLOW_TELEMETRY_ENDPOINT:-0.0.0.0:8888}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, autotagging, batch]
      exporters: [clickhouse, redmetrics, servicegraph]
    metrics:
      receivers: [otlp, prometheusremotewrite, redmetrics, servicegraph]
      processors: [memory_limiter, autotagging, batch]
      exporters: [clickhouse]
    logs:
      receivers: [otlp]
      processors: [memory_limiter, autotagging, batch]
      exporters: [clickhouse]
`;
