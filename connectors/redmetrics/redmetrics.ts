/**
 * RED metrics from spans: request count, error count and a duration
 * histogram per service, endpoint, span kind, status and L7 protocol (plus
 * configured dimensions), at every configured resolution (1 s and 1 min by
 * default). OpenTelemetry app spans and zero-code spans (eBPF, packet
 * capture) alike; for the latter the agent's `metaflow.endpoint`,
 * `metaflow.l7_protocol` and `metaflow.response_status` attributes are used
 * when present.
 *
 * - Endpoint: `metaflow.endpoint`, else the span name. L7 protocol:
 *   `metaflow.l7_protocol`, else from the semantic conventions (`rpc.system`,
 *   `http.request.method`/`http.method` → HTTP, `db.system`,
 *   `messaging.system`).
 * - Error: status ERROR, or `metaflow.response_status` client_error,
 *   server_error or timeout.
 * - Client and server views of one call differ in span kind (and service), so
 *   they are separate series.
 * - Service: the resource's `service.name`; without one, `unknown_service`
 *   (what the OpenTelemetry SDKs name a service that did not say), so such
 *   spans are counted and findable rather than grouped under an empty name.
 * - Windows: a span counts in the second its end time falls in (its arrival
 *   second when the clock is off by more than `max_clock_skew`). Seconds stay
 *   open for `flush_delay`, then are emitted (1 s resolution) and merged into
 *   the coarser windows, which are emitted once all their seconds are. A span
 *   for a window already emitted is emitted in the next flush as an extra
 *   delta for that window — never dropped.
 * - Cardinality: each service admits `max_endpoints_per_service` endpoints
 *   (forgotten after `metrics_expiration` without spans); spans of further
 *   endpoints count under endpoint `__overflow__`, and a counter says so.
 *   Beyond `aggregation_cardinality_limit` series, new ones count under one
 *   overflow series per service; beyond `max_services`, under service
 *   `__overflow__`.
 *
 * Output (see pipeline/prometheus/red.ts for how it is stored): one
 * ResourceMetrics per service (and `resource_metrics_key_attributes`), one
 * scope per resolution (`metaflow.resolution` scope attribute), metrics
 * `<namespace>.requests` and `.errors` (monotonic sums) and `.duration`
 * (histogram), delta by default: each point covers its window exactly
 * (start = window start, time = window end).
 *
 * Hot path: one key string and one map lookup per span in the common case;
 * accumulators are per series and window, not per span.
 */
import type { Consumer, Connector, CreateSettings } from '../../pipeline/component';
import { parseDuration } from '../../pipeline/config/schema';
import { errorMessage } from '../../pipeline/errors';
import type { Logger } from '../../pipeline/logger';
import { PendingBatches } from '../../pipeline/pending';
import {
  AggregationTemporality,
  countItems,
  anyValueToString,
  type AnyValue,
  type Attributes,
  type Exemplar,
  type ExponentialHistogramDataPoint,
  type HistogramDataPoint,
  type Metric,
  type Metrics,
  type NumberDataPoint,
  type ResourceMetrics,
  type Traces,
} from '../../pipeline/pdata';
import { bucketIndex, ExpHistogram } from '../../pipeline/prometheus/aggregate';
import {
  ERROR_RESPONSE_STATUSES,
  OVERFLOW_ENDPOINT,
  RED_ATTR,
  RED_METRIC,
  RED_SCOPE_NAME,
  RESOLUTION_SCOPE_ATTRIBUTE,
  SPAN_KIND_NAMES,
  STATUS_CODE_NAMES,
  ZERO_CODE_ATTR,
} from '../../pipeline/prometheus/red';
import type { ComponentTelemetry } from '../../pipeline/telemetry';
import { resolutionLabel, resolutionSeconds, type RedConfig } from './config';

/** Database and messaging system names as DeepFlow-style protocol names. */
const PROTOCOL_NAMES: Record<string, string> = {
  grpc: 'gRPC',
  dubbo: 'Dubbo',
  mysql: 'MySQL',
  mariadb: 'MySQL',
  postgresql: 'PostgreSQL',
  redis: 'Redis',
  mongodb: 'MongoDB',
  memcached: 'Memcached',
  kafka: 'Kafka',
  rabbitmq: 'AMQP',
  mqtt: 'MQTT',
  nats: 'NATS',
};

/** The L7 protocol of a span; '' when nothing says. */
export function l7Protocol(attrs: Attributes): string {
  const p = attrs[ZERO_CODE_ATTR.l7Protocol];
  if (typeof p === 'string' && p !== '') return p;
  const rpc = attrs['rpc.system'];
  if (rpc !== undefined && rpc !== null) return PROTOCOL_NAMES[String(rpc)] ?? String(rpc);
  if (attrs['http.request.method'] !== undefined || attrs['http.method'] !== undefined) return 'HTTP';
  const db = attrs['db.system'] ?? attrs['db.system.name'];
  if (db !== undefined && db !== null) return PROTOCOL_NAMES[String(db)] ?? String(db);
  const mq = attrs['messaging.system'];
  if (mq !== undefined && mq !== null) return PROTOCOL_NAMES[String(mq)] ?? String(mq);
  return '';
}

/** One service (and resource key): its endpoints (the budget) and resource. */
interface ServiceState {
  name: string;
  resource: Attributes;
  /** Endpoint → its series. The admitted endpoints, plus the overflow node when the budget bit. */
  nodes: Map<string, EndpointNode>;
  /** Endpoints admitted (nodes other than the overflow one). */
  admitted: number;
  /** The series standing for series over aggregation_cardinality_limit. */
  overflowSeries: Series | undefined;
  /** Spans counted under the overflow endpoint since the last report. */
  overflowed: number;
  lastSeen: number;
}

/** The series of one endpoint of a service, by dimension code (no string key per span). */
interface EndpointNode {
  endpoint: string;
  /** (protocol, kind, status) code → series, without configured dimensions. */
  byCode: Map<number, Series>;
  /** code + dimension values → series, with configured dimensions. */
  byKey: Map<string, Series>;
  lastSeen: number;
}

/** One window of one series. */
interface Acc {
  series: Series;
  /** Window start and length in seconds. */
  start: number;
  len: number;
  count: number;
  errors: number;
  sum: number;
  min: number;
  max: number;
  buckets: number[] | undefined;
  exp: ExpHistogram | undefined;
  exemplars: Exemplar[] | undefined;
}

/** One series: a combination of service and dimension values. */
interface Series {
  service: ServiceState;
  node: EndpointNode | undefined;
  /** Its key in `node.byCode` (a number) or `node.byKey` (a string). */
  key: number | string;
  attrs: Attributes;
  endpoint: string;
  lastSeen: number;
  /** The base (1 s) window spans of this series currently go to. */
  cur: Acc | undefined;
  /** Unflushed windows, per resolution index (index 0 is the 1 s base). */
  open: Acc[][];
  /** Running totals per resolution (cumulative temporality only). */
  cum: Array<Acc | undefined>;
  /** Start of the running totals, ns. */
  startNs: bigint;
}

/** What the connector counted since the last telemetry update. */
interface Counts {
  spans: number;
  endpointOverflow: number;
  cardinalityOverflow: number;
  serviceOverflow: number;
  late: number;
  clamped: number;
}

/** Options for tests: a clock. */
export interface RedOptions {
  now?: () => number;
}

/** The redmetrics connector; see the module doc. */
export class RedMetricsConnector implements Connector {
  readonly consumers: { traces?: Consumer<'traces'> };
  private readonly logger: Logger;
  private readonly telemetry: ComponentTelemetry;
  private readonly now: () => number;

  // Configuration, resolved.
  private readonly resolutions: number[];
  /** Whether each resolution is emitted (the 1 s base is always aggregated). */
  private readonly emitRes: boolean[];
  private readonly bounds: number[] | undefined;
  private readonly expSize: number;
  private readonly unitDiv: number;
  private readonly delta: boolean;
  private readonly names: { requests: string; errors: string; duration: string };
  private readonly inc: { service: boolean; endpoint: boolean; kind: boolean; status: boolean; protocol: boolean };
  private readonly dims: Array<{ name: string; def: string | undefined }>;
  private readonly flushDelayMs: number;
  private readonly expirationSec: number;
  private readonly skewSec: number;

  private readonly services = new Map<string, ServiceState>();
  /** Protocol names → small integers, for series codes (bounded). */
  private readonly protocols = new Map<string, number>([['', 0]]);
  private series = 0;
  /** Unflushed windows per resolution index: window start (s) → accumulators. */
  private readonly windows: Array<Map<number, Acc[]>>;
  private readonly counts: Counts = { spans: 0, endpointOverflow: 0, cardinalityOverflow: 0, serviceOverflow: 0, late: 0, clamped: 0 };
  /** Seconds below this are flushed. */
  private flushedTo = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Emitted batches waiting for the next consumer (a refused one waits for the next flush, at most 60 kept). */
  private readonly pending: PendingBatches<Metrics>;
  private lastSweep = 0;
  private stopped = false;

  constructor(
    private readonly cfg: RedConfig,
    settings: CreateSettings,
    next: Consumer<'metrics'> | undefined,
    options: RedOptions = {},
  ) {
    this.logger = settings.logger;
    this.telemetry = settings.telemetry;
    this.pending = new PendingBatches(next, {
      onRefused: (err, pending) => this.logger.every('red-emit', 60000, 'warn', 'RED metrics refused downstream; will retry', { error: errorMessage(err), pending }),
      onDropped: (dropped) => this.telemetry.dropped('metrics', countItems('metrics', dropped), 'downstream_refused'),
    });
    this.now = options.now ?? Date.now;
    const res = resolutionSeconds(cfg);
    this.resolutions = res[0] === 1 ? res : [1, ...res];
    this.emitRes = this.resolutions.map((r) => res.includes(r));
    this.windows = this.resolutions.map(() => new Map());
    const h = cfg.histogram;
    this.unitDiv = h.unit === 's' ? 1e9 : 1e6;
    this.expSize = h.disable ? 0 : (h.exponential?.max_size ?? 0);
    this.bounds = h.disable || h.exponential ? undefined : (h.explicit?.buckets ?? DEFAULT_BOUNDS).map((b) => (parseDuration(b) as number) / (h.unit === 's' ? 1000 : 1));
    this.delta = cfg.aggregation_temporality === 'AGGREGATION_TEMPORALITY_DELTA';
    const ns = cfg.namespace ? `${cfg.namespace}.` : '';
    this.names = { requests: ns + RED_METRIC.requests, errors: ns + RED_METRIC.errors, duration: ns + RED_METRIC.duration };
    const ex = new Set(cfg.exclude_dimensions.map((d) => (d === 'span.name' ? RED_ATTR.endpoint : d)));
    this.inc = {
      service: !ex.has(RED_ATTR.service),
      endpoint: !ex.has(RED_ATTR.endpoint),
      kind: !ex.has(RED_ATTR.kind),
      status: !ex.has(RED_ATTR.status),
      protocol: !ex.has(RED_ATTR.protocol),
    };
    this.dims = cfg.dimensions.map((d) => ({ name: d.name, def: d.default }));
    this.flushDelayMs = cfg.flush_delay;
    this.expirationSec = Math.ceil(cfg.metrics_expiration / 1000);
    this.skewSec = Math.ceil(cfg.max_clock_skew / 1000);
    this.consumers = { traces: { consume: (t: Traces) => this.consume(t) } };
    this.telemetry.gauge('metaflow_redmetrics_series', 'RED series the connector holds.', () => this.series);
    this.telemetry.gauge('metaflow_redmetrics_services', 'Services the connector holds.', () => this.services.size);
    this.flushedTo = Math.floor(this.now() / 1000) - this.skewSec - 1;
  }

  async start(): Promise<void> {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => void this.flush(false), this.cfg.metrics_flush_interval);
    this.timer.unref();
  }

  /** Emits every open window (partial ones included) and stops. Safe to repeat. */
  async shutdown(): Promise<void> {
    if (this.stopped) return this.pending.running;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush(true);
  }

  /** Series currently held (tests, telemetry). */
  get seriesCount(): number {
    return this.series;
  }

  /** Aggregates a batch of spans. Never refuses: metrics are emitted on the flush timer. */
  async consume(traces: Traces): Promise<void> {
    const nowSec = Math.floor(this.now() / 1000);
    const skew = this.skewSec;
    const c = this.counts;
    const inc = this.inc;
    const hasDims = this.dims.length > 0;
    const exemplars = this.cfg.exemplars.enabled;
    const unitDiv = this.unitDiv;
    const bounds = this.bounds as number[];
    let spans = 0;
    for (const rs of traces.resourceSpans) {
      const svc = this.service(rs.resource.attributes, nowSec);
      const resource = rs.resource.attributes;
      for (const ss of rs.scopeSpans) {
        const list = ss.spans;
        spans += list.length;
        for (let i = 0; i < list.length; i++) {
          const span = list[i];
          const attrs = span.attributes;
          const ep = attrs[ZERO_CODE_ATTR.endpoint];
          const endpoint = typeof ep === 'string' && ep !== '' ? ep : ep === undefined || ep === null ? span.name : anyValueToString(ep);
          const proto = inc.protocol ? l7Protocol(attrs) : '';
          const epKey = inc.endpoint ? endpoint : '';
          let node = svc.nodes.get(epKey);
          if (node === undefined) node = this.node(svc, epKey);
          let pi = this.protocols.get(proto);
          if (pi === undefined) pi = this.protocolIndex(proto);
          const kind = inc.kind && span.kind >= 0 && span.kind <= 5 ? span.kind : 0;
          const status = span.status.code;
          const code = (pi * 6 + kind) * 3 + (inc.status && status >= 0 && status <= 2 ? status : 0);
          let series: Series | undefined;
          if (hasDims) {
            const dk = code + this.dimsKey(attrs, resource);
            series = node.byKey.get(dk);
            if (series === undefined) series = this.newSeries(svc, node, dk, kind, status, proto, attrs, resource);
          } else {
            series = node.byCode.get(code);
            if (series === undefined) series = this.newSeries(svc, node, code, kind, status, proto, attrs, resource);
          }
          const endNs = Number(span.endTimeUnixNano);
          let sec = Math.floor(endNs / 1e9);
          if (sec > nowSec + skew || sec < nowSec - skew) {
            sec = nowSec;
            c.clamped++;
          }
          let acc = series.cur;
          if (acc === undefined || acc.start !== sec) acc = this.baseAcc(series, sec);
          acc.count++;
          const rsv = attrs[ZERO_CODE_ATTR.responseStatus];
          if (status === 2 || (rsv !== undefined && ERROR_RESPONSE_STATUSES.has(String(rsv)))) acc.errors++;
          // As doubles, nanosecond timestamps (~2^60) are good to 256 ns, so a duration to ±0.5 µs;
          // exact bigint arithmetic allocates per span and measured ~20% slower (bench/redmetrics).
          let d = (endNs - Number(span.startTimeUnixNano)) / unitDiv;
          if (!(d > 0)) d = 0;
          acc.sum += d;
          if (d < acc.min) acc.min = d;
          if (d > acc.max) acc.max = d;
          if (acc.buckets !== undefined) acc.buckets[bucketIndex(bounds, d)]++;
          else if (acc.exp !== undefined) acc.exp.record(d);
          if (exemplars) this.exemplar(acc, d, span.endTimeUnixNano, span.traceId, span.spanId);
        }
      }
    }
    c.spans += spans;
  }

  private dimsKey(attrs: Attributes, resource: Attributes): string {
    let k = '';
    for (const d of this.dims) {
      const v = attrs[d.name] ?? resource[d.name];
      k += v === undefined || v === null ? (d.def === undefined ? '\u0002' : `\u0001${d.def}`) : `\u0001${anyValueToString(v)}`;
    }
    return k;
  }

  private exemplar(acc: Acc, d: number, time: bigint, traceId: string, spanId: string): void {
    const list = (acc.exemplars ??= []);
    if (list.length >= this.cfg.exemplars.max_per_data_point) return;
    list.push({ filteredAttributes: {}, timeUnixNano: time, value: d, isInt: false, spanId, traceId });
  }

  /** The state of the service a resource belongs to (bounded by max_services). */
  private service(resource: Attributes, nowSec: number): ServiceState {
    const sn = resource['service.name'];
    const name = typeof sn === 'string' && sn !== '' ? sn : sn === undefined || sn === null ? 'unknown_service' : anyValueToString(sn);
    let id = name;
    const keys = this.cfg.resource_metrics_key_attributes;
    for (let i = 0; i < keys.length; i++) {
      const v = resource[keys[i]];
      id += `\u0000${v === undefined || v === null ? '' : anyValueToString(v)}`;
    }
    let svc = this.services.get(id);
    if (svc) return svc;
    if (this.services.size >= this.cfg.max_services && name !== OVERFLOW_ENDPOINT) {
      this.counts.serviceOverflow++;
      const overflow = this.services.get(OVERFLOW_ENDPOINT);
      if (overflow) return overflow;
      // The overflow service is the one service allowed past the limit.
      return this.service({ 'service.name': OVERFLOW_ENDPOINT }, nowSec);
    }
    const res: Attributes = { 'service.name': name };
    for (const k of keys) if (resource[k] !== undefined) res[k] = resource[k];
    svc = { name, resource: res, nodes: new Map(), admitted: 0, overflowSeries: undefined, overflowed: 0, lastSeen: nowSec };
    this.services.set(id, svc);
    return svc;
  }

  /** The node of a new endpoint: admitted while the service's budget lasts, else the overflow node. */
  private node(svc: ServiceState, endpoint: string): EndpointNode {
    if (this.inc.endpoint && svc.admitted >= this.cfg.max_endpoints_per_service) {
      this.counts.endpointOverflow++;
      svc.overflowed++;
      let o = svc.nodes.get(OVERFLOW_ENDPOINT);
      if (!o) {
        o = { endpoint: OVERFLOW_ENDPOINT, byCode: new Map(), byKey: new Map(), lastSeen: svc.lastSeen };
        svc.nodes.set(OVERFLOW_ENDPOINT, o);
      }
      return o;
    }
    const n: EndpointNode = { endpoint, byCode: new Map(), byKey: new Map(), lastSeen: svc.lastSeen };
    svc.nodes.set(endpoint, n);
    if (endpoint !== OVERFLOW_ENDPOINT) svc.admitted++;
    return n;
  }

  /** The index of a protocol name; past 1024 names, further ones share the overflow name. */
  private protocolIndex(proto: string): number {
    if (this.protocols.size >= 1024) return this.protocolIndex(OVERFLOW_ENDPOINT);
    const i = this.protocols.size;
    this.protocols.set(proto, i);
    return i;
  }

  /** Creates a series, unless the cardinality limit says to count it under the service's overflow series. */
  private newSeries(
    svc: ServiceState,
    node: EndpointNode,
    key: number | string,
    kind: number,
    status: number,
    proto: string,
    attrs: Attributes,
    resource: Attributes,
  ): Series {
    const limit = this.cfg.aggregation_cardinality_limit;
    if (limit > 0 && this.series >= limit) {
      this.counts.cardinalityOverflow++;
      if (svc.overflowSeries) return svc.overflowSeries;
      const oattrs: Attributes = { 'otel.metric.overflow': true };
      if (this.inc.service) oattrs[RED_ATTR.service] = svc.name;
      // The overflow series itself may exceed the limit by one per service: it is what the limit leads to.
      svc.overflowSeries = this.addSeries(svc, undefined, -1, '', oattrs);
      return svc.overflowSeries;
    }
    const a: Attributes = {};
    if (this.inc.service) a[RED_ATTR.service] = svc.name;
    if (this.inc.endpoint) a[RED_ATTR.endpoint] = node.endpoint;
    if (this.inc.kind) a[RED_ATTR.kind] = SPAN_KIND_NAMES[kind] ?? SPAN_KIND_NAMES[0];
    if (this.inc.status) a[RED_ATTR.status] = STATUS_CODE_NAMES[status] ?? STATUS_CODE_NAMES[0];
    if (this.inc.protocol && proto !== '') a[RED_ATTR.protocol] = this.protocols.size >= 1024 && !this.protocols.has(proto) ? OVERFLOW_ENDPOINT : proto;
    for (const d of this.dims) {
      const v: AnyValue | undefined = attrs[d.name] ?? resource[d.name];
      if (v !== undefined && v !== null) a[d.name] = v;
      else if (d.def !== undefined) a[d.name] = d.def;
    }
    const series = this.addSeries(svc, node, key, node.endpoint, a);
    if (typeof key === 'number') node.byCode.set(key, series);
    else node.byKey.set(key, series);
    return series;
  }

  private addSeries(svc: ServiceState, node: EndpointNode | undefined, key: number | string, endpoint: string, attrs: Attributes): Series {
    this.series++;
    return {
      service: svc,
      node,
      key,
      attrs,
      endpoint,
      lastSeen: Math.floor(this.now() / 1000),
      cur: undefined,
      open: this.resolutions.map(() => []),
      cum: this.resolutions.map(() => undefined),
      startNs: BigInt(this.now()) * 1000000n,
    };
  }

  private newAcc(series: Series, start: number, len: number): Acc {
    return {
      series,
      start,
      len,
      count: 0,
      errors: 0,
      sum: 0,
      min: Infinity,
      max: -Infinity,
      buckets: this.bounds ? new Array<number>(this.bounds.length + 1).fill(0) : undefined,
      exp: this.expSize ? new ExpHistogram(this.expSize) : undefined,
      exemplars: undefined,
    };
  }

  /** The open window of resolution `ri` starting at `start` for a series, created and registered when missing. */
  private accAt(series: Series, ri: number, start: number): Acc {
    const open = series.open[ri];
    for (let i = open.length - 1; i >= 0; i--) if (open[i].start === start) return open[i];
    const acc = this.newAcc(series, start, this.resolutions[ri]);
    open.push(acc);
    const w = this.windows[ri];
    let list = w.get(start);
    if (!list) {
      list = [];
      w.set(start, list);
    }
    list.push(acc);
    return acc;
  }

  private baseAcc(series: Series, sec: number): Acc {
    if (sec < this.flushedTo) this.counts.late++;
    const acc = this.accAt(series, 0, sec);
    if (series.cur === undefined || sec >= series.cur.start) series.cur = acc;
    return acc;
  }

  /** Adds window `a` into `into`. */
  private mergeAcc(into: Acc, a: Acc): void {
    into.count += a.count;
    into.errors += a.errors;
    into.sum += a.sum;
    if (a.min < into.min) into.min = a.min;
    if (a.max > into.max) into.max = a.max;
    if (into.buckets && a.buckets) for (let i = 0; i < a.buckets.length; i++) into.buckets[i] += a.buckets[i];
    if (into.exp && a.exp) into.exp.merge(a.exp);
    if (a.exemplars) {
      const list = (into.exemplars ??= []);
      for (const e of a.exemplars) if (list.length < this.cfg.exemplars.max_per_data_point) list.push(e);
    }
  }

  /**
   * Emits the windows that are complete (all of them when `all`), merging
   * base seconds into the coarser resolutions, then hands the batch on.
   */
  async flush(all: boolean): Promise<void> {
    const nowMs = this.now();
    const cutoff = all ? Infinity : Math.floor((nowMs - this.flushDelayMs) / 1000);
    const out = new Emitter(this, this.names);
    // Base seconds first: they feed the coarser windows.
    const base = this.windows[0];
    for (const [start, list] of base) {
      if (start + 1 > cutoff) continue;
      base.delete(start);
      for (const acc of list) {
        const s = acc.series;
        removeAcc(s.open[0], acc);
        if (s.cur === acc) s.cur = undefined;
        if (start > s.lastSeen) s.lastSeen = start;
        if (s.node && start > s.node.lastSeen) s.node.lastSeen = start;
        if (start > s.service.lastSeen) s.service.lastSeen = start;
        if (this.emitRes[0]) this.emitAcc(out, 0, acc);
        for (let ri = 1; ri < this.resolutions.length; ri++) {
          const r = this.resolutions[ri];
          this.mergeAcc(this.accAt(s, ri, Math.floor(start / r) * r), acc);
        }
      }
    }
    if (Number.isFinite(cutoff)) this.flushedTo = Math.max(this.flushedTo, cutoff);
    for (let ri = 1; ri < this.resolutions.length; ri++) {
      const w = this.windows[ri];
      const r = this.resolutions[ri];
      for (const [start, list] of w) {
        if (start + r > cutoff) continue;
        w.delete(start);
        for (const acc of list) {
          removeAcc(acc.series.open[ri], acc);
          this.emitAcc(out, ri, acc);
        }
      }
    }
    this.sweep(Math.floor(nowMs / 1000));
    this.report();
    const batch = out.result();
    if (batch.resourceMetrics.length) this.pending.push(batch);
    await this.pending.drain();
  }

  private emitAcc(out: Emitter, ri: number, acc: Acc): void {
    if (acc.count === 0) return;
    if (this.delta) {
      out.add(acc.series, this.resolutions[ri], acc, undefined, this.bounds);
      return;
    }
    const s = acc.series;
    let cum = s.cum[ri];
    if (!cum) cum = s.cum[ri] = this.newAcc(s, acc.start, acc.len);
    this.mergeAcc(cum, acc);
    cum.start = acc.start;
    cum.len = acc.len;
    out.add(s, this.resolutions[ri], cum, s.startNs, this.bounds);
  }

  /** Forgets series, endpoints and services idle for longer than metrics_expiration. */
  private sweep(nowSec: number): void {
    if (this.expirationSec <= 0 || nowSec - this.lastSweep < Math.min(60, this.expirationSec)) return;
    this.lastSweep = nowSec;
    const before = nowSec - this.expirationSec;
    const idle = (x: Series) => x.lastSeen < before && x.open.every((o) => o.length === 0);
    for (const [id, svc] of this.services) {
      for (const [ep, node] of svc.nodes) {
        for (const [k, x] of node.byCode) if (idle(x)) (node.byCode.delete(k), this.series--);
        for (const [k, x] of node.byKey) if (idle(x)) (node.byKey.delete(k), this.series--);
        // An endpoint without series frees its place in the budget.
        if (node.byCode.size === 0 && node.byKey.size === 0 && node.lastSeen < before) {
          svc.nodes.delete(ep);
          if (ep !== OVERFLOW_ENDPOINT) svc.admitted--;
        }
      }
      if (svc.overflowSeries && idle(svc.overflowSeries)) {
        svc.overflowSeries = undefined;
        this.series--;
      }
      if (svc.lastSeen < before && svc.nodes.size === 0 && !svc.overflowSeries) this.services.delete(id);
    }
  }

  /** Moves local counts to telemetry; logs overflowing services at most once a minute. */
  private report(): void {
    const c = this.counts;
    const t = this.telemetry;
    t.counter('metaflow_redmetrics_spans_total', 'Spans aggregated into RED metrics.', c.spans);
    t.counter(
      'metaflow_redmetrics_endpoint_overflow_spans_total',
      'Spans counted under endpoint "__overflow__" because their service had max_endpoints_per_service endpoints.',
      c.endpointOverflow,
    );
    t.counter('metaflow_redmetrics_cardinality_overflow_spans_total', 'Spans counted under an overflow series because aggregation_cardinality_limit was reached.', c.cardinalityOverflow);
    t.counter('metaflow_redmetrics_service_overflow_spans_total', 'Spans counted under service "__overflow__" because max_services was reached.', c.serviceOverflow);
    t.counter('metaflow_redmetrics_late_spans_total', 'Spans for a window already emitted (emitted as an extra delta).', c.late);
    t.counter('metaflow_redmetrics_clamped_spans_total', 'Spans whose end time was further than max_clock_skew from now (counted in the current second).', c.clamped);
    if (c.endpointOverflow > 0) {
      const names = [...this.services.values()].filter((s) => s.overflowed > 0).map((s) => `${s.name} (${s.overflowed})`);
      if (this.logger.every('red-endpoint-overflow', 60000, 'warn', 'services over their endpoint budget: spans counted under endpoint "__overflow__"', {
        services: names.slice(0, 10).join(', '),
        max_endpoints_per_service: this.cfg.max_endpoints_per_service,
      })) {
        for (const s of this.services.values()) s.overflowed = 0;
      }
    }
    c.spans = c.endpointOverflow = c.cardinalityOverflow = c.serviceOverflow = c.late = c.clamped = 0;
  }

  /** The histogram kind and temporality of the output (for the emitter). */
  get output(): { exponential: boolean; histogram: boolean; temporality: AggregationTemporality; unit: string } {
    return {
      exponential: this.expSize > 0,
      histogram: this.bounds !== undefined || this.expSize > 0,
      temporality: this.delta ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE,
      unit: this.unitDiv === 1e9 ? 's' : 'ms',
    };
  }
}

const DEFAULT_BOUNDS = ['2ms', '4ms', '6ms', '8ms', '10ms', '50ms', '100ms', '200ms', '400ms', '800ms', '1s', '1400ms', '2s', '5s', '10s', '15s'];

function removeAcc(list: Acc[], acc: Acc): void {
  const i = list.indexOf(acc);
  if (i >= 0) list.splice(i, 1);
}

/** Builds one output batch: resource per service, scope per resolution, three metrics each. */
class Emitter {
  private readonly out: Metrics = { resourceMetrics: [] };
  private readonly byService = new Map<ServiceState, { rm: ResourceMetrics; scopes: Map<number, Metric[]> }>();
  private readonly exponential: boolean;
  private readonly histogram: boolean;
  private readonly temporality: AggregationTemporality;
  private readonly unit: string;
  private readonly nsCache = new Map<number, bigint>();

  constructor(
    owner: RedMetricsConnector,
    private readonly names: { requests: string; errors: string; duration: string },
  ) {
    const o = owner.output;
    this.exponential = o.exponential;
    this.histogram = o.histogram;
    this.temporality = o.temporality;
    this.unit = o.unit;
  }

  private metrics(svc: ServiceState, res: number): Metric[] {
    let g = this.byService.get(svc);
    if (!g) {
      g = { rm: { resource: { attributes: svc.resource, droppedAttributesCount: 0 }, scopeMetrics: [], schemaUrl: '' }, scopes: new Map() };
      this.byService.set(svc, g);
      this.out.resourceMetrics.push(g.rm);
    }
    let ms = g.scopes.get(res);
    if (!ms) {
      const t = this.temporality;
      ms = [
        {
          name: this.names.requests,
          description: 'Requests (spans), by service, endpoint, span kind, status and L7 protocol.',
          unit: '{request}',
          metadata: {},
          data: { type: 'sum', dataPoints: [], aggregationTemporality: t, isMonotonic: true },
        },
        {
          name: this.names.errors,
          description: 'Requests that failed: status ERROR, or a client_error, server_error or timeout response.',
          unit: '{request}',
          metadata: {},
          data: { type: 'sum', dataPoints: [], aggregationTemporality: t, isMonotonic: true },
        },
      ];
      if (this.histogram) {
        ms.push({
          name: this.names.duration,
          description: 'Request duration (span end minus start).',
          unit: this.unit,
          metadata: {},
          data: this.exponential ? { type: 'exponentialHistogram', dataPoints: [], aggregationTemporality: t } : { type: 'histogram', dataPoints: [], aggregationTemporality: t },
        });
      }
      g.scopes.set(res, ms);
      g.rm.scopeMetrics.push({
        scope: { name: RED_SCOPE_NAME, version: '', attributes: { [RESOLUTION_SCOPE_ATTRIBUTE]: resolutionLabel(res) }, droppedAttributesCount: 0 },
        metrics: ms,
        schemaUrl: '',
      });
    }
    return ms;
  }

  /** Window bounds in ns, cached: every series of a flush shares a few windows. */
  private ns(sec: number): bigint {
    let v = this.nsCache.get(sec);
    if (v === undefined) {
      v = BigInt(sec) * 1000000000n;
      this.nsCache.set(sec, v);
    }
    return v;
  }

  add(series: Series, res: number, acc: Acc, startNs: bigint | undefined, bounds: number[] | undefined): void {
    const ms = this.metrics(series.service, res);
    const attributes = series.attrs;
    const start = startNs ?? this.ns(acc.start);
    const time = this.ns(acc.start + acc.len);
    (ms[0].data as { dataPoints: NumberDataPoint[] }).dataPoints.push({
      attributes,
      startTimeUnixNano: start,
      timeUnixNano: time,
      exemplars: [],
      flags: 0,
      value: acc.count,
      isInt: true,
    });
    (ms[1].data as { dataPoints: NumberDataPoint[] }).dataPoints.push({
      attributes,
      startTimeUnixNano: start,
      timeUnixNano: time,
      exemplars: [],
      flags: 0,
      value: acc.errors,
      isInt: true,
    });
    if (!this.histogram) return;
    const min = acc.count ? acc.min : undefined;
    const max = acc.count ? acc.max : undefined;
    if (acc.exp) {
      const e = acc.exp;
      const dp: ExponentialHistogramDataPoint = {
        attributes,
        startTimeUnixNano: start,
        timeUnixNano: time,
        exemplars: acc.exemplars ?? [],
        flags: 0,
        count: acc.count,
        sum: acc.sum,
        scale: e.scale,
        zeroCount: e.zeroCount,
        positive: { offset: e.offset, bucketCounts: e.counts.slice() },
        negative: { offset: 0, bucketCounts: [] },
        zeroThreshold: 0,
        min,
        max,
      };
      (ms[2].data as { dataPoints: ExponentialHistogramDataPoint[] }).dataPoints.push(dp);
    } else if (acc.buckets && bounds) {
      const dp: HistogramDataPoint = {
        attributes,
        startTimeUnixNano: start,
        timeUnixNano: time,
        exemplars: acc.exemplars ?? [],
        flags: 0,
        count: acc.count,
        sum: acc.sum,
        // Delta windows are emitted once and dropped: their counts can go out as they are.
        bucketCounts: this.temporality === AggregationTemporality.DELTA ? acc.buckets : acc.buckets.slice(),
        explicitBounds: bounds,
        min,
        max,
      };
      (ms[2].data as { dataPoints: HistogramDataPoint[] }).dataPoints.push(dp);
    }
  }

  result(): Metrics {
    return this.out;
  }
}
