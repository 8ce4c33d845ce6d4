/**
 * Spans with the tag cardinalities of a Kubernetes cluster, for the
 * SmartEncoding tests and bench/smartencoding: `services` services with
 * `pods` pods between them, `endpoints` span names spread over the
 * services, every pod's resource carrying ~30 attributes (service, host,
 * process, container, Kubernetes, cloud) plus pod labels and annotations,
 * as AutoTagging would attach them. Deterministic for a seed.
 *
 * {@link TaggedSpans.batch} builds one batch from per-pod templates: new
 * span objects (ids, times) around shared resource objects, so generating
 * costs little next to storing.
 */
import { SpanKind, StatusCode, type Attributes, type ResourceSpans, type Span, type Traces } from '../../pipeline/pdata';

/** Shape of the generated data. */
export interface TaggedSpansOptions {
  services?: number;
  pods?: number;
  endpoints?: number;
  /** Spans per resource group in a batch. */
  spansPerResource?: number;
  /** Resource groups per batch. */
  resourcesPerBatch?: number;
  /**
   * Give every span the attributes a zero-code (eBPF) span carries after
   * AutoTagging: the `metaflow.` L7 fields, the tuple, and both ends' host,
   * process and Kubernetes facts (`metaflow.client.*`, `metaflow.server.*`),
   * about 30 more per span. Off: the spans look like an OTel SDK's.
   */
  zeroCode?: boolean;
  /** First span's start, ns since the epoch. */
  startNs?: bigint;
  /** Time between consecutive spans' starts, ns. */
  stepNs?: bigint;
  seed?: number;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** The generator; see the module doc. */
export class TaggedSpans {
  readonly services: number;
  readonly pods: number;
  readonly endpoints: number;
  readonly spansPerResource: number;
  readonly resourcesPerBatch: number;
  readonly startNs: bigint;
  readonly stepNs: bigint;
  readonly zeroCode: boolean;
  /** Resource attributes of each pod. */
  readonly resources: Attributes[] = [];
  /** Span names each service serves. */
  readonly serviceEndpoints: string[][] = [];
  private seq = 0;
  private podCursor = 0;
  private x: number;

  constructor(o: TaggedSpansOptions = {}) {
    this.services = o.services ?? 50;
    this.pods = o.pods ?? 2000;
    this.endpoints = o.endpoints ?? 200;
    this.spansPerResource = o.spansPerResource ?? 200;
    this.resourcesPerBatch = o.resourcesPerBatch ?? 41;
    this.startNs = o.startNs ?? 1_767_225_600_000_000_000n; // 2026-01-01T00:00:00Z
    this.stepNs = o.stepNs ?? 720_000n;
    this.zeroCode = o.zeroCode ?? false;
    this.x = (o.seed ?? 1) >>> 0 || 1;
    for (let s = 0; s < this.services; s++) this.serviceEndpoints.push([]);
    const verbs = ['GET', 'POST', 'PUT', 'DELETE'];
    for (let e = 0; e < this.endpoints; e++) {
      this.serviceEndpoints[e % this.services].push(`${verbs[e % 4]} /api/v${1 + (e % 3)}/${['cart', 'orders', 'users', 'items', 'payments'][e % 5]}/{id}/r${e}`);
    }
    for (let p = 0; p < this.pods; p++) this.resources.push(this.podResource(p));
  }

  /** The service of a pod. */
  serviceOf(pod: number): string {
    return `svc-${pad(pod % this.services)}`;
  }

  private podResource(p: number): Attributes {
    const s = p % this.services;
    const service = this.serviceOf(p);
    const hash = (this.rand() * 0xffffffff).toString(16).padStart(8, '0');
    const node = `node-${pad(p % 40, 3)}`;
    return {
      'service.name': service,
      'service.namespace': `ns-${s % 8}`,
      'service.version': `1.${s % 5}.${p % 3}`,
      'service.instance.id': `${service}-${hash}-${p}`,
      'telemetry.sdk.name': 'opentelemetry',
      'telemetry.sdk.language': ['nodejs', 'java', 'go', 'python'][s % 4],
      'telemetry.sdk.version': '1.30.0',
      'host.name': node,
      'host.id': `i-0${hash}${pad(p % 40, 4)}`,
      'host.arch': 'amd64',
      'os.type': 'linux',
      'os.description': 'Debian GNU/Linux 12 (bookworm)',
      'process.pid': 1 + (p % 7),
      'process.executable.name': ['node', 'java', 'app', 'python3'][s % 4],
      'process.runtime.name': ['nodejs', 'OpenJDK Runtime Environment', 'go', 'CPython'][s % 4],
      'process.runtime.version': ['20.18.1', '21.0.5', 'go1.23.4', '3.12.8'][s % 4],
      'container.id': `${hash}${hash}${hash}${pad(p, 8)}${hash}${hash}${hash}`.slice(0, 64),
      'container.name': service,
      'container.image.name': `registry.example.com/shop/${service}`,
      'container.image.tag': `v1.${s % 5}.${p % 3}`,
      'k8s.cluster.name': 'prod-eu-1',
      'k8s.namespace.name': `ns-${s % 8}`,
      'k8s.node.name': node,
      'k8s.pod.name': `${service}-7d9f8c${hash.slice(0, 4)}-${pad(p, 4)}`,
      'k8s.pod.uid': `${hash}-${pad(p, 4)}-4e6f-9a1b-${hash}${pad(p, 4)}`,
      'k8s.pod.ip': `10.${(p >> 16) & 255}.${(p >> 8) & 255}.${p & 255}`,
      'k8s.deployment.name': service,
      'k8s.replicaset.name': `${service}-7d9f8c${hash.slice(0, 4)}`,
      'cloud.provider': 'aws',
      'cloud.region': 'eu-west-1',
      'cloud.availability_zone': `eu-west-1${'abc'[p % 3]}`,
      'deployment.environment': 'production',
      'k8s.pod.label.app': service,
      'k8s.pod.label.version': `v${1 + (p % 3)}`,
      'k8s.pod.label.team': `team-${s % 10}`,
      'k8s.pod.label.tier': ['frontend', 'backend', 'data'][s % 3],
      'k8s.pod.label.pod-template-hash': `7d9f8c${hash.slice(0, 4)}`,
      'k8s.pod.annotation.prometheus.io/scrape': 'true',
      'k8s.pod.annotation.prometheus.io/port': '9464',
      'k8s.pod.annotation.checksum/config': `${hash}${hash}${hash}${hash}${hash}${hash}${hash}${hash}`,
    };
  }

  private rand(): number {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x >>> 0;
    return this.x / 2 ** 32;
  }

  private hex(n: number): string {
    let s = '';
    for (let i = 0; i < n; i += 8) s += ((this.rand() * 0x100000000) >>> 0).toString(16).padStart(8, '0');
    return s.slice(0, n);
  }

  /** A span's attributes: the OTel SDK's few, plus the zero-code ones when asked for. */
  private attributes(pod: number, n: number, server: boolean, ep: string, error: boolean): Attributes {
    const method = ep.slice(0, ep.indexOf(' '));
    const route = ep.slice(ep.indexOf(' ') + 1);
    const a: Attributes = server
      ? { 'http.request.method': method, 'http.route': route, 'http.response.status_code': error ? 500 : 200, 'url.path': `/x/${n % 1000}` }
      : { 'db.system': 'postgresql', 'db.operation.name': 'SELECT', 'server.address': 'pg-main', 'server.port': 5432 };
    if (!this.zeroCode) return a;
    const self = this.resources[pod];
    // The peer: a pod of another service calling in (server span), or the database (client span).
    const peer = this.resources[(pod * 7 + 13 + (n % 5)) % this.pods];
    const client = server ? peer : self;
    const srv = server ? self : undefined;
    a['metaflow.signal_source'] = 'ebpf';
    a['metaflow.l7_protocol'] = server ? 'HTTP' : 'PostgreSQL';
    a['metaflow.response_status'] = error ? 'server_error' : 'ok';
    a['metaflow.version'] = server ? '1.1' : '3.0';
    a['metaflow.request_type'] = server ? method : 'SELECT';
    a['metaflow.request_domain'] = server ? `${String(self['service.name'])}:8080` : 'shop';
    a['metaflow.request_resource'] = server ? `/x/${n % 1000}` : `SELECT * FROM t${n % 50} WHERE id = ?`;
    a['metaflow.endpoint'] = server ? route : 'SELECT';
    a['metaflow.response_code'] = server ? (error ? 500 : 200) : 0;
    a['metaflow.request_length'] = 200 + (n % 300);
    a['metaflow.response_length'] = 500 + ((n * 37) % 4000);
    a['metaflow.captured_request_bytes'] = 200 + (n % 300);
    a['metaflow.captured_response_bytes'] = Math.min(1024, 500 + ((n * 37) % 4000));
    a['metaflow.client.ip'] = String(client['k8s.pod.ip']);
    a['metaflow.client.port'] = 32768 + ((n * 7919) % 28000);
    a['metaflow.server.ip'] = srv ? String(srv['k8s.pod.ip']) : '10.96.0.20';
    a['metaflow.server.port'] = server ? 8080 : 5432;
    a['metaflow.transport'] = 'tcp';
    for (const [end, r] of [['client', client], ['server', srv]] as const) {
      if (!r) continue;
      a[`metaflow.${end}.host.name`] = r['host.name'];
      a[`metaflow.${end}.process.pid`] = r['process.pid'];
      a[`metaflow.${end}.process.executable.name`] = r['process.executable.name'];
      a[`metaflow.${end}.container.id`] = r['container.id'];
      a[`metaflow.${end}.k8s.namespace.name`] = r['k8s.namespace.name'];
      a[`metaflow.${end}.k8s.pod.name`] = r['k8s.pod.name'];
      a[`metaflow.${end}.k8s.deployment.name`] = r['k8s.deployment.name'];
      a[`metaflow.${end}.service.name`] = r['service.name'];
    }
    if (!srv) a['metaflow.server.service.name'] = 'postgresql';
    return a;
  }

  /** Spans a batch holds. */
  get batchSize(): number {
    return this.spansPerResource * this.resourcesPerBatch;
  }

  /**
   * The next batch: `resourcesPerBatch` pods in turn, `spansPerResource`
   * spans each, in traces of five spans (a server span and four children).
   */
  batch(): Traces {
    const resourceSpans: ResourceSpans[] = [];
    for (let r = 0; r < this.resourcesPerBatch; r++) {
      const pod = this.podCursor;
      this.podCursor = (this.podCursor + 1) % this.pods;
      const eps = this.serviceEndpoints[pod % this.services];
      const spans: Span[] = [];
      let traceId = '';
      let root = '';
      for (let i = 0; i < this.spansPerResource; i++) {
        const n = this.seq++;
        const first = i % 5 === 0;
        if (first) traceId = this.hex(32);
        const spanId = this.hex(16);
        if (first) root = spanId;
        const start = this.startNs + BigInt(n) * this.stepNs;
        const durNs = BigInt(50_000 + Math.floor(this.rand() * 5_000_000));
        const ep = eps.length ? eps[n % eps.length] : 'unknown';
        const error = n % 97 === 0;
        spans.push({
          traceId,
          spanId,
          traceState: '',
          parentSpanId: first ? '' : root,
          flags: 1,
          name: first ? ep : `SELECT ${ep.split('/')[3] ?? 'x'}`,
          kind: first ? SpanKind.SERVER : SpanKind.CLIENT,
          startTimeUnixNano: start,
          endTimeUnixNano: start + durNs,
          attributes: this.attributes(pod, n, first, ep, error),
          droppedAttributesCount: 0,
          events: [],
          droppedEventsCount: 0,
          links: [],
          droppedLinksCount: 0,
          status: { code: error ? StatusCode.ERROR : StatusCode.UNSET, message: error ? 'upstream failed' : '' },
        });
      }
      resourceSpans.push({
        resource: { attributes: this.resources[pod], droppedAttributesCount: 0 },
        schemaUrl: '',
        scopeSpans: [{ scope: { name: '@opentelemetry/instrumentation-http', version: '0.57.0', attributes: {}, droppedAttributesCount: 0 }, schemaUrl: '', spans }],
      });
    }
    return { resourceSpans };
  }
}
