/**
 * The names RED and service-graph metrics are stored under, shared by the
 * connectors that produce them (`connectors/redmetrics`,
 * `connectors/servicegraph`) and the readers that query them (the query
 * service's RED, service-map and remote-read APIs), which must not import
 * each other.
 *
 * How RED metrics are stored: they are ordinary OpenTelemetry metrics that go
 * through a metrics pipeline into the `otel_metrics_*` tables —
 * `metaflow.red.requests` and `metaflow.red.errors` as monotonic sums in
 * `otel_metrics_sum`, `metaflow.red.duration` as an explicit-bucket histogram
 * in `otel_metrics_histogram` (or `otel_metrics_exponential_histogram`), one
 * row per series per window. The window is the scope attribute
 * `metaflow.resolution` (`1s` or `1m`); rows are deltas over the window by
 * default (AggregationTemporality 1), so any time range sums up with plain
 * SQL. `ServiceName` is the service; the data point attributes are the
 * dimensions below.
 */

/** Scope attribute carrying a RED point's window (`1s`, `1m`). */
export const RESOLUTION_SCOPE_ATTRIBUTE = 'metaflow.resolution';

/** Instrumentation scope of the metrics the redmetrics connector emits. */
export const RED_SCOPE_NAME = 'metaflow/redmetrics';

/** Instrumentation scope of the metrics the servicegraph connector emits. */
export const SERVICE_GRAPH_SCOPE_NAME = 'metaflow/servicegraph';

/** Default namespace (name prefix) of the RED metrics. */
export const RED_NAMESPACE = 'metaflow.red';

/** RED metric names (without the namespace). */
export const RED_METRIC = {
  requests: 'requests',
  errors: 'errors',
  duration: 'duration',
} as const;

/** Data point attributes (dimensions) of RED metrics. */
export const RED_ATTR = {
  service: 'service.name',
  endpoint: 'endpoint',
  kind: 'span.kind',
  status: 'status.code',
  protocol: 'l7.protocol',
} as const;

/** The endpoint value that stands for every endpoint over a service's budget. */
export const OVERFLOW_ENDPOINT = '__overflow__';

/** Span kinds as the Collector's spanmetrics connector writes them, indexed by kind number. */
export const SPAN_KIND_NAMES: readonly string[] = [
  'SPAN_KIND_UNSPECIFIED',
  'SPAN_KIND_INTERNAL',
  'SPAN_KIND_SERVER',
  'SPAN_KIND_CLIENT',
  'SPAN_KIND_PRODUCER',
  'SPAN_KIND_CONSUMER',
];

/** Status codes as the Collector's spanmetrics connector writes them, indexed by code. */
export const STATUS_CODE_NAMES: readonly string[] = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];

/** Service-graph metric names, the Collector's (so Grafana's service graph reads them). */
export const SERVICE_GRAPH_METRIC = {
  requests: 'traces_service_graph_request_total',
  failed: 'traces_service_graph_request_failed_total',
  serverSeconds: 'traces_service_graph_request_server_seconds',
  clientSeconds: 'traces_service_graph_request_client_seconds',
} as const;

/** Attributes the zero-code agent puts on the spans it makes (eBPF, packet capture). */
export const ZERO_CODE_ATTR = {
  l7Protocol: 'metaflow.l7_protocol',
  endpoint: 'metaflow.endpoint',
  responseStatus: 'metaflow.response_status',
  clientIp: 'metaflow.client.ip',
  clientPort: 'metaflow.client.port',
  serverIp: 'metaflow.server.ip',
  serverPort: 'metaflow.server.port',
} as const;

/** `metaflow.response_status` values that count as errors. */
export const ERROR_RESPONSE_STATUSES: ReadonlySet<string> = new Set(['client_error', 'server_error', 'timeout']);
