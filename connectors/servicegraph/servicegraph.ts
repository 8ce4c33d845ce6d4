/**
 * Edges between services from spans, with request, error and duration
 * figures per edge — the Collector servicegraph connector's model (itself
 * Tempo's), extended to zero-code spans.
 *
 * A request has a client half (a CLIENT or PRODUCER span) and a server half
 * (a SERVER or CONSUMER span). Halves are paired:
 *
 * 1. by ids: the server span's parent is the client span (trace id + span id);
 * 2. for zero-code spans, by the network tuple the agent records
 *    (`metaflow.client.ip/port` → `metaflow.server.ip/port`): the two sides of
 *    one connection, matched first in first out, as requests on one
 *    connection are answered in order;
 * 3. a client span naming a database (`database_name_attributes`) is an edge
 *    to that database at once (connection_type `database`).
 *
 * A half waits `store.ttl` for its other half. Then a client half becomes an
 * edge to a virtual node named by its peer attributes
 * (`virtual_node_peer_attributes`, then the server ip:port), and a server
 * half without a parent an edge from the virtual node `user` (or the client
 * ip for zero-code spans); other halves are counted as unpaired. At most
 * `store.max_items` halves wait; spans beyond are counted as dropped.
 *
 * Output, every `metrics_flush_interval`, as delta points over the interval
 * (names as the Collector's, so Grafana's service graph reads them):
 * `traces_service_graph_request_total` and `…_request_failed_total`
 * (monotonic sums), `…_request_server_seconds` and `…_request_client_seconds`
 * (histograms), with attributes `client`, `server`, `connection_type`
 * (`''`, `messaging_system`, `database`, `virtual_node`) and `failed`, plus
 * `client_<dim>` / `server_<dim>`. Failed: either half has status ERROR or a
 * zero-code error response (`metaflow.response_status`).
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
  SpanKind,
  StatusCode,
  type Attributes,
  type ExponentialHistogramDataPoint,
  type HistogramDataPoint,
  type Metric,
  type Metrics,
  type NumberDataPoint,
  type Span,
  type Traces,
} from '../../pipeline/pdata';
import { bucketIndex, ExpHistogram } from '../../pipeline/prometheus/aggregate';
import { ERROR_RESPONSE_STATUSES, OVERFLOW_ENDPOINT, SERVICE_GRAPH_METRIC, SERVICE_GRAPH_SCOPE_NAME, ZERO_CODE_ATTR } from '../../pipeline/prometheus/red';
import type { ComponentTelemetry } from '../../pipeline/telemetry';
import { DEFAULT_LATENCY_BUCKETS, type ServiceGraphConfig } from './config';

/** One half of a request, waiting for the other. */
interface Half {
  client: boolean;
  service: string;
  seconds: number;
  failed: boolean;
  /** Messaging (producer/consumer) rather than request/response. */
  messaging: boolean;
  /** `client_<dim>` / `server_<dim>` attributes. */
  dims: Attributes | undefined;
  /** Who it talked to, when unanswered (client halves): a virtual node name. */
  peer: string;
  /** Whether a server half is the root of its trace (then its client is `user`). */
  root: boolean;
  idKey: string;
  tupleKey: string;
  startMs: number;
  expiresAt: number;
  done: boolean;
  /** In the expiry queue (and counted in `waiting`). */
  queued: boolean;
}

/** Counts and durations of one edge (and failed flag) in the current interval. */
interface EdgeAcc {
  attrs: Attributes;
  failed: boolean;
  count: number;
  serverSum: number;
  clientSum: number;
  server: number[] | ExpHistogram;
  client: number[] | ExpHistogram;
  /** Whether each side was measured at least once (virtual-node edges have one side). */
  serverCount: number;
  clientCount: number;
  serverMin: number;
  serverMax: number;
  clientMin: number;
  clientMax: number;
}

/** Options for tests: a clock. */
export interface ServiceGraphOptions {
  now?: () => number;
}

/** The servicegraph connector; see the module doc. */
export class ServiceGraphConnector implements Connector {
  readonly consumers: { traces?: Consumer<'traces'> };
  private readonly logger: Logger;
  private readonly telemetry: ComponentTelemetry;
  private readonly now: () => number;
  private readonly bounds: number[] | undefined;
  private readonly dbAttrs: string[];

  /** Halves waiting, by ids (trace + span id of the client span). */
  private readonly byId = new Map<string, Half>();
  /** Zero-code halves waiting, by network tuple: clients and servers in arrival order. */
  private readonly byTuple = new Map<string, { clients: Half[]; servers: Half[] }>();
  /** Every waiting half in arrival order, for expiry. */
  private queue: Half[] = [];
  private queueHead = 0;
  private waiting = 0;

  private edges = new Map<string, EdgeAcc>();
  private intervalStart: number;
  private readonly counts = { paired: 0, virtual: 0, unpaired: 0, dropped: 0, edgeOverflow: 0 };
  private flushTimer: NodeJS.Timeout | undefined;
  private expireTimer: NodeJS.Timeout | undefined;
  /** Emitted batches waiting for the next consumer (a refused one waits for the next flush, at most 60 kept). */
  private readonly pending: PendingBatches<Metrics>;
  private stopped = false;

  constructor(
    private readonly cfg: ServiceGraphConfig,
    settings: CreateSettings,
    next: Consumer<'metrics'> | undefined,
    options: ServiceGraphOptions = {},
  ) {
    this.logger = settings.logger;
    this.telemetry = settings.telemetry;
    this.pending = new PendingBatches(next, {
      onRefused: (err) => this.logger.every('sg-emit', 60000, 'warn', 'service graph metrics refused downstream; will retry', { error: errorMessage(err) }),
      // Dropped items are data points, as everywhere else (was: 1 per batch).
      onDropped: (dropped) => this.telemetry.dropped('metrics', countItems('metrics', dropped), 'downstream_refused'),
    });
    this.now = options.now ?? Date.now;
    this.intervalStart = this.now();
    this.bounds = cfg.exponential_histogram_max_size > 0 ? undefined : (cfg.latency_histogram_buckets ?? DEFAULT_LATENCY_BUCKETS).map((b) => (parseDuration(b) as number) / 1000);
    this.dbAttrs = cfg.database_name_attribute ? [cfg.database_name_attribute, ...cfg.database_name_attributes] : cfg.database_name_attributes;
    this.consumers = { traces: { consume: (t: Traces) => this.consume(t) } };
    this.telemetry.gauge('metaflow_servicegraph_waiting_halves', 'Request halves waiting for their other half.', () => this.waiting);
    this.telemetry.gauge('metaflow_servicegraph_edges', 'Edges with requests in the current interval.', () => this.edges.size);
  }

  async start(): Promise<void> {
    if (this.flushTimer || this.stopped) return;
    this.flushTimer = setInterval(() => void this.flush(), this.cfg.metrics_flush_interval);
    this.flushTimer.unref();
    this.expireTimer = setInterval(() => this.expire(this.now()), this.cfg.store_expiration_loop);
    this.expireTimer.unref();
  }

  /** Resolves every waiting half (as if expired), emits, stops. Safe to repeat. */
  async shutdown(): Promise<void> {
    if (this.stopped) return this.pending.running;
    this.stopped = true;
    if (this.flushTimer) clearInterval(this.flushTimer);
    if (this.expireTimer) clearInterval(this.expireTimer);
    this.expire(Infinity);
    await this.flush();
  }

  /** Halves waiting (tests, telemetry). */
  get waitingHalves(): number {
    return this.waiting;
  }

  /** Pairs the spans of a batch. Never refuses. */
  async consume(traces: Traces): Promise<void> {
    const now = this.now();
    for (const rs of traces.resourceSpans) {
      const resource = rs.resource.attributes;
      const sn = resource['service.name'];
      const service = sn === undefined || sn === null ? 'unknown_service' : anyValueToString(sn);
      for (const ss of rs.scopeSpans) {
        for (const span of ss.spans) {
          const k = span.kind;
          if (k === SpanKind.CLIENT || k === SpanKind.PRODUCER) this.clientSpan(span, service, resource, now);
          else if (k === SpanKind.SERVER || k === SpanKind.CONSUMER) this.serverSpan(span, service, resource, now);
        }
      }
    }
    this.expire(now);
  }

  private half(span: Span, client: boolean, service: string, resource: Attributes, now: number): Half {
    const a = span.attributes;
    const rsv = a[ZERO_CODE_ATTR.responseStatus];
    const failed = span.status.code === StatusCode.ERROR || (rsv !== undefined && ERROR_RESPONSE_STATUSES.has(String(rsv)));
    let dims: Attributes | undefined;
    if (this.cfg.dimensions.length) {
      dims = {};
      const prefix = client ? 'client_' : 'server_';
      for (const d of this.cfg.dimensions) {
        const v = a[d] ?? resource[d];
        if (v !== undefined && v !== null) dims[prefix + d] = v;
      }
    }
    const h: Half = {
      client,
      service,
      seconds: Math.max(0, Number(span.endTimeUnixNano - span.startTimeUnixNano)) / 1e9,
      failed,
      messaging: span.kind === SpanKind.PRODUCER || span.kind === SpanKind.CONSUMER,
      dims,
      peer: '',
      root: span.parentSpanId === '',
      idKey: '',
      tupleKey: '',
      startMs: Number(span.startTimeUnixNano / 1000000n),
      expiresAt: now + this.cfg.store.ttl,
      done: false,
      queued: false,
    };
    if (this.cfg.network_tuple_pairing) {
      const cip = a[ZERO_CODE_ATTR.clientIp];
      const sip = a[ZERO_CODE_ATTR.serverIp];
      if (cip !== undefined && sip !== undefined) {
        h.tupleKey = `${anyValueToString(cip)}:${anyValueToString(a[ZERO_CODE_ATTR.clientPort] ?? '')}>${anyValueToString(sip)}:${anyValueToString(a[ZERO_CODE_ATTR.serverPort] ?? '')}`;
      }
    }
    return h;
  }

  private clientSpan(span: Span, service: string, resource: Attributes, now: number): void {
    const h = this.half(span, true, service, resource, now);
    const a = span.attributes;
    // A database call: the edge goes to the database at once.
    for (const key of this.dbAttrs) {
      const db = a[key];
      if (db !== undefined && db !== null && db !== '') {
        this.record(h, undefined, anyValueToString(db), 'database');
        return;
      }
    }
    for (const key of this.cfg.virtual_node_peer_attributes) {
      const v = a[key];
      if (v !== undefined && v !== null && v !== '') {
        h.peer = anyValueToString(v);
        break;
      }
    }
    if (!h.peer && a[ZERO_CODE_ATTR.serverIp] !== undefined) {
      const port = a[ZERO_CODE_ATTR.serverPort];
      h.peer = `${anyValueToString(a[ZERO_CODE_ATTR.serverIp])}${port !== undefined ? `:${anyValueToString(port)}` : ''}`;
    }
    if (span.traceId && span.spanId) {
      h.idKey = span.traceId + span.spanId;
      const other = this.byId.get(h.idKey);
      if (other && !other.done && !other.client) {
        this.pair(h, other);
        return;
      }
    }
    if (h.tupleKey) {
      const other = this.takeTuple(h.tupleKey, false, h);
      if (other) {
        this.pair(h, other);
        return;
      }
    }
    this.wait(h);
  }

  private serverSpan(span: Span, service: string, resource: Attributes, now: number): void {
    const h = this.half(span, false, service, resource, now);
    if (span.traceId && span.parentSpanId) {
      h.idKey = span.traceId + span.parentSpanId;
      const other = this.byId.get(h.idKey);
      if (other && !other.done && other.client) {
        this.pair(other, h);
        return;
      }
    }
    if (h.tupleKey) {
      const other = this.takeTuple(h.tupleKey, true, h);
      if (other) {
        this.pair(other, h);
        return;
      }
    }
    if (!h.idKey && !h.tupleKey) {
      // Nothing can pair it: a root server span is a request from a user, at once.
      if (h.root) this.record(undefined, h, 'user', 'virtual_node');
      else this.counts.unpaired++;
      return;
    }
    this.wait(h);
  }

  /** The oldest waiting half of the other side on this tuple whose time fits, removed from the queue. */
  private takeTuple(key: string, wantClient: boolean, h: Half): Half | undefined {
    const t = this.byTuple.get(key);
    if (!t) return undefined;
    const list = wantClient ? t.clients : t.servers;
    while (list.length && list[0].done) list.shift();
    for (let i = 0; i < list.length; i++) {
      const o = list[i];
      if (o.done) continue;
      // The server side starts within the client's request (with a second of clock difference allowed).
      const client = wantClient ? o : h;
      const server = wantClient ? h : o;
      if (server.startMs + 1000 < client.startMs || server.startMs > client.startMs + client.seconds * 1000 + 1000) continue;
      list.splice(i, 1);
      return o;
    }
    return undefined;
  }

  private wait(h: Half): void {
    if (this.waiting >= this.cfg.store.max_items) {
      this.counts.dropped++;
      return;
    }
    if (h.idKey && !this.byId.has(h.idKey)) this.byId.set(h.idKey, h);
    if (h.tupleKey) {
      let t = this.byTuple.get(h.tupleKey);
      if (!t) {
        t = { clients: [], servers: [] };
        this.byTuple.set(h.tupleKey, t);
      }
      (h.client ? t.clients : t.servers).push(h);
    }
    this.queue.push(h);
    h.queued = true;
    this.waiting++;
  }

  private pair(client: Half, server: Half): void {
    if (client.queued && !client.done) this.waiting--;
    if (server.queued && !server.done) this.waiting--;
    client.done = server.done = true;
    if (client.idKey && this.byId.get(client.idKey) === client) this.byId.delete(client.idKey);
    if (server.idKey && this.byId.get(server.idKey) === server) this.byId.delete(server.idKey);
    this.counts.paired++;
    this.record(client, server, '', client.messaging || server.messaging ? 'messaging_system' : '');
  }

  /** Resolves halves whose time is up: virtual nodes where possible, else unpaired. */
  expire(now: number): void {
    const q = this.queue;
    while (this.queueHead < q.length && q[this.queueHead].expiresAt <= now) {
      const h = q[this.queueHead++];
      if (h.done) continue;
      this.waiting--;
      h.done = true;
      if (h.idKey && this.byId.get(h.idKey) === h) this.byId.delete(h.idKey);
      if (h.tupleKey) {
        const t = this.byTuple.get(h.tupleKey);
        if (t) {
          const list = h.client ? t.clients : t.servers;
          const i = list.indexOf(h);
          if (i >= 0) list.splice(i, 1);
          if (!t.clients.length && !t.servers.length) this.byTuple.delete(h.tupleKey);
        }
      }
      if (h.client && h.peer) this.record(h, undefined, h.peer, 'virtual_node');
      else if (!h.client && h.root) this.record(undefined, h, 'user', 'virtual_node');
      else if (!h.client && h.tupleKey) this.record(undefined, h, h.tupleKey.slice(0, h.tupleKey.lastIndexOf(':', h.tupleKey.indexOf('>'))), 'virtual_node');
      else this.counts.unpaired++;
    }
    if (this.queueHead > 1024 && this.queueHead * 2 > q.length) {
      this.queue = q.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  /** Adds one request to its edge. `otherName` names the missing side. */
  private record(client: Half | undefined, server: Half | undefined, otherName: string, connectionType: string): void {
    const clientName = client ? client.service : otherName;
    const serverName = server ? server.service : otherName;
    const failed = (client?.failed ?? false) || (server?.failed ?? false);
    const virtual = connectionType === 'virtual_node' ? (client ? 'server' : 'client') : '';
    let dimKey = '';
    if (client?.dims) for (const k in client.dims) dimKey += `\u0001${k}=${anyValueToString(client.dims[k])}`;
    if (server?.dims) for (const k in server.dims) dimKey += `\u0001${k}=${anyValueToString(server.dims[k])}`;
    let key = `${clientName}\u0000${serverName}\u0000${connectionType}\u0000${failed ? 1 : 0}${dimKey}`;
    let acc = this.edges.get(key);
    if (!acc) {
      let attrs: Attributes = { client: clientName, server: serverName, connection_type: connectionType, failed };
      if (this.edges.size >= this.cfg.max_edges) {
        this.counts.edgeOverflow++;
        key = `\u0003overflow\u0000${failed ? 1 : 0}`;
        attrs = { client: OVERFLOW_ENDPOINT, server: OVERFLOW_ENDPOINT, connection_type: '', failed };
        acc = this.edges.get(key);
      } else {
        if (virtual && this.cfg.virtual_node_extra_label) attrs.virtual_node = virtual;
        if (client?.dims) Object.assign(attrs, client.dims);
        if (server?.dims) Object.assign(attrs, server.dims);
      }
      if (!acc) {
        const hist = (): number[] | ExpHistogram =>
          this.bounds ? new Array<number>(this.bounds.length + 1).fill(0) : new ExpHistogram(this.cfg.exponential_histogram_max_size);
        acc = {
          attrs,
          failed,
          count: 0,
          serverSum: 0,
          clientSum: 0,
          server: hist(),
          client: hist(),
          serverCount: 0,
          clientCount: 0,
          serverMin: Infinity,
          serverMax: -Infinity,
          clientMin: Infinity,
          clientMax: -Infinity,
        };
        this.edges.set(key, acc);
      }
    }
    acc.count++;
    if (server) observe(acc, 'server', server.seconds, this.bounds);
    if (client) observe(acc, 'client', client.seconds, this.bounds);
    if (connectionType === 'virtual_node') this.counts.virtual++;
  }

  /** Emits the interval's edges as delta points and starts a new interval. */
  async flush(): Promise<void> {
    const now = this.now();
    const start = BigInt(Math.floor(this.intervalStart)) * 1000000n;
    const time = BigInt(Math.floor(now)) * 1000000n;
    this.intervalStart = now;
    const edges = this.edges;
    this.edges = new Map();
    this.report();
    if (edges.size) this.pending.push(this.build(edges, start, time));
    await this.pending.drain();
  }

  private build(edges: Map<string, EdgeAcc>, start: bigint, time: bigint): Metrics {
    const sum = (name: string, description: string): Metric => ({
      name,
      description,
      unit: '{request}',
      metadata: {},
      data: { type: 'sum', dataPoints: [], aggregationTemporality: AggregationTemporality.DELTA, isMonotonic: true },
    });
    const hist = (name: string, description: string): Metric => ({
      name,
      description,
      unit: 's',
      metadata: {},
      data: this.bounds
        ? { type: 'histogram', dataPoints: [], aggregationTemporality: AggregationTemporality.DELTA }
        : { type: 'exponentialHistogram', dataPoints: [], aggregationTemporality: AggregationTemporality.DELTA },
    });
    const total = sum(SERVICE_GRAPH_METRIC.requests, 'Requests between two nodes.');
    const failedTotal = sum(SERVICE_GRAPH_METRIC.failed, 'Failed requests between two nodes.');
    const server = hist(SERVICE_GRAPH_METRIC.serverSeconds, 'Request duration between two nodes as seen from the server.');
    const client = hist(SERVICE_GRAPH_METRIC.clientSeconds, 'Request duration between two nodes as seen from the client.');
    const num = (attrs: Attributes, value: number): NumberDataPoint => ({ attributes: attrs, startTimeUnixNano: start, timeUnixNano: time, exemplars: [], flags: 0, value, isInt: true });
    for (const acc of edges.values()) {
      (total.data as { dataPoints: NumberDataPoint[] }).dataPoints.push(num(acc.attrs, acc.count));
      if (acc.failed) {
        const { failed: _failed, ...rest } = acc.attrs;
        (failedTotal.data as { dataPoints: NumberDataPoint[] }).dataPoints.push(num(rest, acc.count));
      }
      if (acc.serverCount) pushHistogram(server, acc.attrs, acc.server, acc.serverCount, acc.serverSum, acc.serverMin, acc.serverMax, this.bounds, start, time);
      if (acc.clientCount) pushHistogram(client, acc.attrs, acc.client, acc.clientCount, acc.clientSum, acc.clientMin, acc.clientMax, this.bounds, start, time);
    }
    const metrics = [total, failedTotal, server, client].filter((m) => m.data.type !== 'empty' && m.data.dataPoints.length > 0);
    return {
      resourceMetrics: [
        {
          resource: { attributes: {}, droppedAttributesCount: 0 },
          scopeMetrics: [{ scope: { name: SERVICE_GRAPH_SCOPE_NAME, version: '', attributes: {}, droppedAttributesCount: 0 }, metrics, schemaUrl: '' }],
          schemaUrl: '',
        },
      ],
    };
  }

  private report(): void {
    const c = this.counts;
    const t = this.telemetry;
    t.counter('metaflow_servicegraph_paired_requests_total', 'Requests whose client and server spans were paired.', c.paired);
    t.counter('metaflow_servicegraph_virtual_node_requests_total', 'Requests recorded against a virtual node (one side unseen).', c.virtual);
    t.counter('traces_service_graph_unpaired_spans_total', 'Spans whose other half never came and that name no peer.', c.unpaired);
    t.counter('traces_service_graph_dropped_spans_total', 'Spans not paired because store.max_items halves were waiting.', c.dropped);
    t.counter('metaflow_servicegraph_edge_overflow_requests_total', 'Requests counted under the overflow edge because max_edges edges were seen.', c.edgeOverflow);
    if (c.dropped) this.logger.every('sg-dropped', 60000, 'warn', 'service graph store full: spans not paired', { max_items: this.cfg.store.max_items });
    c.paired = c.virtual = c.unpaired = c.dropped = c.edgeOverflow = 0;
  }
}

function observe(acc: EdgeAcc, side: 'server' | 'client', seconds: number, bounds: number[] | undefined): void {
  const h = acc[side];
  if (Array.isArray(h)) h[bucketIndex(bounds as number[], seconds)]++;
  else h.record(seconds);
  if (side === 'server') {
    acc.serverCount++;
    acc.serverSum += seconds;
    if (seconds < acc.serverMin) acc.serverMin = seconds;
    if (seconds > acc.serverMax) acc.serverMax = seconds;
  } else {
    acc.clientCount++;
    acc.clientSum += seconds;
    if (seconds < acc.clientMin) acc.clientMin = seconds;
    if (seconds > acc.clientMax) acc.clientMax = seconds;
  }
}

function pushHistogram(
  m: Metric,
  attrs: Attributes,
  h: number[] | ExpHistogram,
  count: number,
  sum: number,
  min: number,
  max: number,
  bounds: number[] | undefined,
  start: bigint,
  time: bigint,
): void {
  if (Array.isArray(h)) {
    const dp: HistogramDataPoint = { attributes: attrs, startTimeUnixNano: start, timeUnixNano: time, exemplars: [], flags: 0, count, sum, bucketCounts: h, explicitBounds: bounds as number[], min, max };
    (m.data as { dataPoints: HistogramDataPoint[] }).dataPoints.push(dp);
  } else {
    const dp: ExponentialHistogramDataPoint = {
      attributes: attrs,
      startTimeUnixNano: start,
      timeUnixNano: time,
      exemplars: [],
      flags: 0,
      count,
      sum,
      scale: h.scale,
      zeroCount: h.zeroCount,
      positive: { offset: h.offset, bucketCounts: h.counts },
      negative: { offset: 0, bucketCounts: [] },
      zeroThreshold: 0,
      min,
      max,
    };
    (m.data as { dataPoints: ExponentialHistogramDataPoint[] }).dataPoints.push(dp);
  }
}
