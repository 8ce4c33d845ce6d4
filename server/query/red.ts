/**
 * RED and service-map APIs over the metrics the redmetrics and servicegraph
 * connectors store (see pipeline/prometheus/red.ts for how), for the UI:
 *
 * - `GET /api/v1/red?service=&endpoint=&kind=&start=&end=&step=` → per step:
 *   requests, rate (/s), errors, error ratio, p50/p95/p99 duration (ms), and
 *   the same over the whole range. `kind`: `server` (default: SERVER and
 *   CONSUMER spans), `client`, `internal` or `all`. Without `endpoint`, all
 *   endpoints of the service.
 * - `GET /api/v1/service-map?start=&end=` → nodes (services, with their
 *   server-side RED figures; databases, virtual nodes) and edges (client →
 *   server with requests, errors, error ratio and latency percentiles, from
 *   the server side when it was seen, else the client side).
 *
 * Times: `start`/`end` as RFC 3339, or Unix seconds or milliseconds
 * (default: the last hour); `step` as a duration (`30s`, `1m`) or seconds
 * (default: about 100 points, at least the resolution). The resolution read
 * is `1m` when the step is a minute or more and 1 min data exists, else
 * `1s`. Delta rows (the connectors' default) are summed; cumulative rows are
 * turned into increases per series first (a counter reset starts a new
 * series). Percentiles interpolate linearly within the bucket, as
 * Prometheus's histogram_quantile does, clamped to the observed min/max.
 */
import type express from 'express';
import type { Request, Response } from 'express';
import { parseDuration } from '../../pipeline/config/schema';
import { ExpHistogram } from '../../pipeline/prometheus/aggregate';
import { RED_ATTR, RED_METRIC, RED_NAMESPACE, RESOLUTION_SCOPE_ATTRIBUTE, SERVICE_GRAPH_METRIC } from '../../pipeline/prometheus/red';
import type { SqlStore } from '../../pipeline/storage';
import type { AppDeps } from './app';

/** A problem with the request (answered 400). */
export class RedBadRequest extends Error {
  readonly code = 'BAD_REQUEST';
}

const REQUESTS = `${RED_NAMESPACE}.${RED_METRIC.requests}`;
const ERRORS = `${RED_NAMESPACE}.${RED_METRIC.errors}`;
const DURATION = `${RED_NAMESPACE}.${RED_METRIC.duration}`;

/** Span kinds of each `kind` parameter value. */
const KINDS: Record<string, string[] | undefined> = {
  server: ['SPAN_KIND_SERVER', 'SPAN_KIND_CONSUMER'],
  client: ['SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER'],
  internal: ['SPAN_KIND_INTERNAL', 'SPAN_KIND_UNSPECIFIED'],
  all: undefined,
};

/** Most steps one RED query returns. */
const MAX_STEPS = 11000;

/** A time range and step in milliseconds. */
export interface Range {
  start: number;
  end: number;
  step: number;
}

/** Parses a time parameter: RFC 3339, or Unix seconds (≤ 1e11) or milliseconds. */
export function parseTime(v: unknown, what: string, fallback: number): number {
  if (v === undefined || v === '') return fallback;
  if (typeof v !== 'string') throw new RedBadRequest(`${what}: expected a time`);
  if (/^-?\d+(\.\d+)?$/.test(v)) {
    const n = Number(v);
    return Math.round(Math.abs(n) <= 1e11 ? n * 1000 : n);
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new RedBadRequest(`${what}: "${v.slice(0, 40)}" is not RFC 3339 or Unix seconds/milliseconds`);
  return t;
}

/** Parses start, end and step (see the module doc). */
export function parseRange(q: Record<string, unknown>, now = Date.now()): Range {
  const end = parseTime(q.end, 'end', now);
  const start = parseTime(q.start, 'start', end - 3600_000);
  if (!(end > start)) throw new RedBadRequest('end must be after start');
  let step: number;
  if (q.step === undefined || q.step === '') {
    step = Math.max(1000, Math.ceil((end - start) / 100 / 1000) * 1000);
  } else if (typeof q.step === 'string' && /^\d+(\.\d+)?$/.test(q.step)) {
    step = Math.round(Number(q.step) * 1000);
  } else {
    const d = typeof q.step === 'string' ? parseDuration(q.step) : undefined;
    if (d === undefined) throw new RedBadRequest('step: expected a duration such as 30s or a number of seconds');
    step = Math.round(d);
  }
  if (step < 1000) throw new RedBadRequest('step: must be at least 1s');
  if ((end - start) / step > MAX_STEPS) throw new RedBadRequest(`step: the range has more than ${MAX_STEPS} steps; use a larger step`);
  return { start, end, step };
}

/** A merged explicit-bucket histogram. */
interface Hist {
  bounds: number[];
  counts: number[];
  count: number;
  sum: number;
  min: number;
  max: number;
}

/**
 * The q-quantile of an explicit-bucket histogram: linear within the bucket
 * that holds the rank (the first bucket starting at 0, or at min when lower),
 * the top bucket answering its lower bound, all clamped to [min, max].
 */
export function histogramQuantile(h: Hist, q: number): number | null {
  if (h.count <= 0) return null;
  const rank = q * h.count;
  let cum = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const c = h.counts[i];
    if (c <= 0) continue;
    if (cum + c >= rank) {
      let v: number;
      if (i >= h.bounds.length) v = h.bounds.length ? h.bounds[h.bounds.length - 1] : h.max;
      else {
        const lo = i === 0 ? Math.min(0, h.min) : h.bounds[i - 1];
        const hi = h.bounds[i];
        v = lo + ((hi - lo) * (rank - cum)) / c;
      }
      if (Number.isFinite(h.max) && v > h.max) v = h.max;
      if (Number.isFinite(h.min) && v < h.min) v = h.min;
      return v;
    }
    cum += c;
  }
  return Number.isFinite(h.max) ? h.max : null;
}

/** The q-quantile of an exponential histogram (linear within the bucket). */
export function expQuantile(h: ExpHistogram, count: number, q: number, min: number, max: number): number | null {
  if (count <= 0) return null;
  const rank = q * count;
  let cum = h.zeroCount;
  if (cum >= rank) return 0;
  const base = 2 ** (2 ** -h.scale);
  for (let i = 0; i < h.counts.length; i++) {
    const c = h.counts[i];
    if (c <= 0) continue;
    if (cum + c >= rank) {
      const lo = base ** (h.offset + i);
      const hi = lo * base;
      let v = lo + ((hi - lo) * (rank - cum)) / c;
      if (Number.isFinite(max) && v > max) v = max;
      if (Number.isFinite(min) && v < min) v = min;
      return v;
    }
    cum += c;
  }
  return Number.isFinite(max) ? max : null;
}

/** ±1e308 (the "no min/max" markers of the queries) as ±Infinity. */
function bound(v: number): number {
  return v >= 1e308 ? Infinity : v <= -1e308 ? -Infinity : v;
}

/** Rows' numbers as ClickHouse's JSON gives them (64-bit as strings). */
function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

function round(v: number | null, digits = 3): number | null {
  if (v === null || !Number.isFinite(v)) return null;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** `if(delta, x, increase of x over the series)` for Float64 values, as SQL. */
function increase(col: string, partition: string): string {
  return `if(AggregationTemporality = 1, ${col}, greatest(0, if(${col} >= lagInFrame(${col}, 1, ${col}) OVER w, ${col} - lagInFrame(${col}, 1, ${col}) OVER w, ${col})))`;
}

/** The window the increases are taken over; `partition` names the series. */
function windowClause(partition: string): string {
  return `WINDOW w AS (PARTITION BY ${partition}, StartTimeUnix ORDER BY TimeUnix ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)`;
}

/** The resolution to read: 1m for steps of a minute or more when 1 min rows exist, else 1s (or whatever exists). */
async function chooseResolution(store: SqlStore, range: Range, where: string, params: Record<string, string | number | bigint | readonly string[]>): Promise<string> {
  const r = await store.query(
    `SELECT DISTINCT ScopeAttributes['${RESOLUTION_SCOPE_ATTRIBUTE}'] FROM ${store.tables.metricsSum} WHERE MetricName = {requests:String} AND ${where} LIMIT 20`,
    { params: { ...params, requests: REQUESTS } },
  );
  const have = r.rows.map((x) => String(x[0]));
  if (range.step >= 60000 && have.includes('1m')) return '1m';
  if (have.includes('1s')) return '1s';
  return have[0] ?? '1s';
}

const TIME_WHERE = 'TimeUnix > fromUnixTimestamp64Milli({start:Int64}) AND TimeUnix <= fromUnixTimestamp64Milli({end:Int64})';

/** Reads merged explicit histograms per group key (`groupExpr` in SQL). */
async function histograms(
  store: SqlStore,
  metric: string,
  where: string,
  params: Record<string, string | number | bigint | readonly string[]>,
  groupExpr: string,
  partition: string,
): Promise<Map<string, Hist>> {
  // Min and Max are stored as 0 when a point has none: such rows do not bound the percentiles.
  const sql = `SELECT g, ExplicitBounds, sumForEach(inc), sum(incCount), sum(incSum),
  min(if(Min = 0 AND Max = 0, 1e308, Min)), max(if(Min = 0 AND Max = 0, -1e308, Max)), any(MetricUnit)
FROM (
  SELECT ${groupExpr} AS g, ExplicitBounds, MetricUnit, Min, Max,
    if(AggregationTemporality = 1, BucketCounts,
       arrayMap((a, b) -> toUInt64(if(a >= b, a - b, a)), BucketCounts, lagInFrame(BucketCounts, 1, BucketCounts) OVER w)) AS inc,
    ${increase('toFloat64(Count)', partition)} AS incCount,
    ${increase('Sum', partition)} AS incSum
  FROM ${store.tables.metricsHistogram}
  WHERE MetricName = {metric:String} AND ${where}
  ${windowClause(partition)}
)
GROUP BY g, ExplicitBounds`;
  const r = await store.query(sql, { params: { ...params, metric } });
  const out = new Map<string, Hist>();
  for (const row of r.rows) {
    const g = String(row[0]);
    // Durations are reported in milliseconds whatever unit they were recorded in.
    const scale = row[7] === 's' ? 1000 : 1;
    const h: Hist = {
      bounds: (row[1] as unknown[]).map((b) => num(b) * scale),
      counts: (row[2] as unknown[]).map(num),
      count: num(row[3]),
      sum: num(row[4]) * scale,
      min: bound(num(row[5])) * scale,
      max: bound(num(row[6])) * scale,
    };
    const have = out.get(g);
    // Series with other bucket bounds (a config change): keep the larger group.
    if (!have || have.count < h.count) {
      if (have && have.bounds.join() === h.bounds.join()) {
        for (let i = 0; i < h.counts.length; i++) h.counts[i] += have.counts[i] ?? 0;
        h.count += have.count;
        h.sum += have.sum;
        h.min = Math.min(h.min, have.min);
        h.max = Math.max(h.max, have.max);
      }
      out.set(g, h);
    } else if (have.bounds.join() === h.bounds.join()) {
      for (let i = 0; i < h.counts.length; i++) have.counts[i] += h.counts[i];
      have.count += h.count;
      have.sum += h.sum;
      have.min = Math.min(h.min, have.min);
      have.max = Math.max(h.max, have.max);
    }
  }
  return out;
}

/** Reads merged exponential histograms (delta rows) per group key, as quantile sources. */
async function expHistograms(
  store: SqlStore,
  metric: string,
  where: string,
  params: Record<string, string | number | bigint | readonly string[]>,
  groupExpr: string,
): Promise<Map<string, { h: ExpHistogram; count: number; min: number; max: number; scale: number }>> {
  const sql = `SELECT ${groupExpr} AS g, Scale, ZeroCount, PositiveOffset, PositiveBucketCounts, Count,
  if(Min = 0 AND Max = 0, 1e308, Min), if(Min = 0 AND Max = 0, -1e308, Max), MetricUnit
FROM ${store.tables.metricsExponentialHistogram}
WHERE MetricName = {metric:String} AND AggregationTemporality = 1 AND ${where}
LIMIT 200000`;
  const r = await store.query(sql, { params: { ...params, metric } });
  const out = new Map<string, { h: ExpHistogram; count: number; min: number; max: number; scale: number }>();
  for (const row of r.rows) {
    const g = String(row[0]);
    const scale = row[8] === 's' ? 1000 : 1;
    const h = new ExpHistogram(160);
    h.scale = num(row[1]);
    h.zeroCount = num(row[2]);
    h.offset = num(row[3]);
    h.counts = (row[4] as unknown[]).map(num);
    let e = out.get(g);
    if (!e) {
      e = { h: new ExpHistogram(160), count: 0, min: Infinity, max: -Infinity, scale };
      out.set(g, e);
    }
    e.h.merge(h);
    e.count += num(row[5]);
    e.min = Math.min(e.min, bound(num(row[6])));
    e.max = Math.max(e.max, bound(num(row[7])));
  }
  return out;
}

/** Percentiles (ms) of a group from whichever histogram kind exists. */
function percentiles(
  key: string,
  hists: Map<string, Hist>,
  exps: Map<string, { h: ExpHistogram; count: number; min: number; max: number; scale: number }>,
): { p50: number | null; p95: number | null; p99: number | null } {
  const h = hists.get(key);
  if (h && h.count > 0) return { p50: round(histogramQuantile(h, 0.5)), p95: round(histogramQuantile(h, 0.95)), p99: round(histogramQuantile(h, 0.99)) };
  const e = exps.get(key);
  if (e && e.count > 0) {
    const q = (x: number) => {
      const v = expQuantile(e.h, e.count, x, e.min, e.max);
      return round(v === null ? null : v * e.scale);
    };
    return { p50: q(0.5), p95: q(0.95), p99: q(0.99) };
  }
  return { p50: null, p95: null, p99: null };
}

/** The RED figures of a service (and endpoint) over a range, per step and in total. */
export async function red(store: SqlStore, q: Record<string, unknown>, now = Date.now()): Promise<unknown> {
  const service = typeof q.service === 'string' ? q.service : '';
  if (!service) throw new RedBadRequest('service: required');
  const endpoint = typeof q.endpoint === 'string' && q.endpoint !== '' ? q.endpoint : undefined;
  const kind = typeof q.kind === 'string' && q.kind !== '' ? q.kind.toLowerCase() : 'server';
  if (!(kind in KINDS)) throw new RedBadRequest(`kind: expected one of ${Object.keys(KINDS).join(', ')}`);
  const range = parseRange(q, now);
  const params: Record<string, string | number | bigint | readonly string[]> = { service, start: range.start, end: range.end, step: range.step };
  let where = `ServiceName = {service:String} AND ${TIME_WHERE}`;
  const kinds = KINDS[kind];
  if (kinds) {
    where += ` AND Attributes['${RED_ATTR.kind}'] IN {kinds:Array(String)}`;
    params.kinds = kinds;
  }
  if (endpoint !== undefined) {
    where += ` AND Attributes['${RED_ATTR.endpoint}'] = {endpoint:String}`;
    params.endpoint = endpoint;
  }
  const resolution = await chooseResolution(store, range, where, params);
  params.res = resolution;
  const resWhere = `${where} AND ScopeAttributes['${RESOLUTION_SCOPE_ATTRIBUTE}'] = {res:String}`;
  const stepExpr = 'intDiv(toUnixTimestamp64Milli(TimeUnix) - 1 - {start:Int64}, {step:Int64})';
  const partition = 'MetricName, Attributes';
  const counts = await store.query(
    `SELECT ${stepExpr} AS s, sumIf(inc, MetricName = {requests:String}), sumIf(inc, MetricName = {errors:String})
FROM (SELECT TimeUnix, MetricName, ${increase('Value', partition)} AS inc FROM ${store.tables.metricsSum}
      WHERE MetricName IN ({requests:String}, {errors:String}) AND ${resWhere} ${windowClause(partition)})
GROUP BY s ORDER BY s`,
    { params: { ...params, requests: REQUESTS, errors: ERRORS } },
  );
  const hists = await histograms(store, DURATION, resWhere, params, `toString(${stepExpr})`, partition);
  const exps = hists.size ? new Map() : await expHistograms(store, DURATION, resWhere, params, `toString(${stepExpr})`);
  const totalHists = await histograms(store, DURATION, resWhere, params, "'all'", partition);
  const totalExps = totalHists.size ? new Map() : await expHistograms(store, DURATION, resWhere, params, "'all'");
  const byStep = new Map<number, { requests: number; errors: number }>();
  for (const row of counts.rows) byStep.set(num(row[0]), { requests: num(row[1]), errors: num(row[2]) });
  const steps = Math.ceil((range.end - range.start) / range.step);
  const stepSec = range.step / 1000;
  const series = [];
  let requests = 0;
  let errors = 0;
  for (let i = 0; i < steps; i++) {
    const c = byStep.get(i) ?? { requests: 0, errors: 0 };
    requests += c.requests;
    errors += c.errors;
    series.push({
      time: range.start + i * range.step,
      requests: c.requests,
      rate: round(c.requests / stepSec, 6),
      errors: c.errors,
      error_ratio: c.requests > 0 ? round(c.errors / c.requests, 6) : null,
      ...percentiles(String(i), hists, exps),
    });
  }
  const seconds = (range.end - range.start) / 1000;
  return {
    service,
    endpoint: endpoint ?? null,
    kind,
    start: range.start,
    end: range.end,
    step: stepSec,
    resolution,
    total: {
      requests,
      rate: round(requests / seconds, 6),
      errors,
      error_ratio: requests > 0 ? round(errors / requests, 6) : null,
      ...percentiles('all', totalHists, totalExps),
    },
    series,
  };
}

/** Nodes and edges with their RED figures over a range. */
export async function serviceMap(store: SqlStore, q: Record<string, unknown>, now = Date.now()): Promise<unknown> {
  const end = parseTime(q.end, 'end', now);
  const range = { start: parseTime(q.start, 'start', end - 3600_000), end };
  if (!(range.end > range.start)) throw new RedBadRequest('end must be after start');
  const params: Record<string, string | number | bigint | readonly string[]> = { start: range.start, end: range.end };
  const seconds = (range.end - range.start) / 1000;
  const edgeKey = "concat(Attributes['client'], '\\0', Attributes['server'], '\\0', Attributes['connection_type'])";
  const partition = 'MetricName, Attributes';
  const edgeRows = await store.query(
    `SELECT Attributes['client'] AS c, Attributes['server'] AS s, Attributes['connection_type'] AS t,
       sumIf(inc, MetricName = {total:String}), sumIf(inc, MetricName = {failed:String})
FROM (SELECT MetricName, Attributes, ${increase('Value', partition)} AS inc FROM ${store.tables.metricsSum}
      WHERE MetricName IN ({total:String}, {failed:String}) AND ${TIME_WHERE} ${windowClause(partition)})
GROUP BY c, s, t ORDER BY c, s, t`,
    { params: { ...params, total: SERVICE_GRAPH_METRIC.requests, failed: SERVICE_GRAPH_METRIC.failed } },
  );
  const serverLat = await histograms(store, SERVICE_GRAPH_METRIC.serverSeconds, TIME_WHERE, params, edgeKey, partition);
  const clientLat = await histograms(store, SERVICE_GRAPH_METRIC.clientSeconds, TIME_WHERE, params, edgeKey, partition);
  const serverExp = serverLat.size ? new Map() : await expHistograms(store, SERVICE_GRAPH_METRIC.serverSeconds, TIME_WHERE, params, edgeKey);
  const clientExp = clientLat.size ? new Map() : await expHistograms(store, SERVICE_GRAPH_METRIC.clientSeconds, TIME_WHERE, params, edgeKey);
  // The service graph's histograms are in seconds (unit "s"); histograms() reports milliseconds.
  const edges = edgeRows.rows.map((row) => {
    const [client, server, type] = [String(row[0]), String(row[1]), String(row[2])];
    const key = `${client}\0${server}\0${type}`;
    const requests = num(row[3]);
    const errors = num(row[4]);
    const side = serverLat.has(key) || serverExp.has(key) ? percentiles(key, serverLat, serverExp) : percentiles(key, clientLat, clientExp);
    return {
      source: client,
      target: server,
      connection_type: type,
      requests,
      rate: round(requests / seconds, 6),
      errors,
      error_ratio: requests > 0 ? round(errors / requests, 6) : null,
      ...side,
    };
  });
  // Node figures: the server-side RED metrics of each service.
  const kinds = KINDS.server as string[];
  const nodeRes = await store.query(
    `SELECT DISTINCT ScopeAttributes['${RESOLUTION_SCOPE_ATTRIBUTE}'] FROM ${store.tables.metricsSum} WHERE MetricName = {requests:String} AND ${TIME_WHERE} LIMIT 20`,
    { params: { ...params, requests: REQUESTS } },
  );
  const have = nodeRes.rows.map((r) => String(r[0]));
  const res = have.includes('1m') && seconds >= 300 ? '1m' : have.includes('1s') ? '1s' : (have[0] ?? '1s');
  const nodeWhere = `${TIME_WHERE} AND Attributes['${RED_ATTR.kind}'] IN {kinds:Array(String)} AND ScopeAttributes['${RESOLUTION_SCOPE_ATTRIBUTE}'] = {res:String}`;
  const nodeParams = { ...params, kinds, res };
  const nodeRows = await store.query(
    `SELECT ServiceName, sumIf(inc, MetricName = {requests:String}), sumIf(inc, MetricName = {errors:String})
FROM (SELECT ServiceName, MetricName, ${increase('Value', 'ServiceName, MetricName, Attributes')} AS inc FROM ${store.tables.metricsSum}
      WHERE MetricName IN ({requests:String}, {errors:String}) AND ${nodeWhere} ${windowClause('ServiceName, MetricName, Attributes')})
GROUP BY ServiceName ORDER BY ServiceName`,
    { params: { ...nodeParams, requests: REQUESTS, errors: ERRORS } },
  );
  const nodeLat = await histograms(store, DURATION, nodeWhere, nodeParams, 'ServiceName', 'ServiceName, MetricName, Attributes');
  const nodeExp = nodeLat.size ? new Map() : await expHistograms(store, DURATION, nodeWhere, nodeParams, 'ServiceName');
  const nodes = new Map<string, Record<string, unknown>>();
  for (const row of nodeRows.rows) {
    const name = String(row[0]);
    const requests = num(row[1]);
    const errors = num(row[2]);
    nodes.set(name, {
      id: name,
      name,
      type: 'service',
      requests,
      rate: round(requests / seconds, 6),
      errors,
      error_ratio: requests > 0 ? round(errors / requests, 6) : null,
      ...percentiles(name, nodeLat, nodeExp),
    });
  }
  // Node types: a name seen in RED data or on a plain edge is a service; the server of a
  // database edge a database; what only a virtual-node edge names, a virtual node.
  const services = new Set(nodes.keys());
  for (const e of edges) {
    if (e.connection_type !== 'virtual_node') services.add(e.source);
    if (e.connection_type === '' || e.connection_type === 'messaging_system') services.add(e.target);
  }
  for (const e of edges) {
    for (const name of [e.source, e.target]) {
      const type = services.has(name) ? 'service' : e.connection_type === 'database' && name === e.target ? 'database' : 'virtual';
      const n = nodes.get(name);
      if (n) n.type = type;
      else nodes.set(name, { id: name, name, type, requests: null, rate: null, errors: null, error_ratio: null, p50: null, p95: null, p99: null });
    }
  }
  return { start: range.start, end: range.end, resolution: res, nodes: [...nodes.values()].sort((a, b) => String(a.id).localeCompare(String(b.id))), edges };
}

/** Registers `/api/v1/red` and `/api/v1/service-map` on the query service's app. */
export function registerRedRoutes(app: express.Express, deps: AppDeps): void {
  const handle = (route: string, fn: (store: SqlStore, q: Record<string, unknown>) => Promise<unknown>) => async (req: Request, res: Response) => {
    const count = (status: number) =>
      deps.telemetry.counter('metaflow_query_requests_total', 'Query API requests by route and status.', 1, { route, status: String(status) });
    const store = deps.store();
    if (!store) {
      res.status(503).set('Retry-After', '1').json({ error: 'the store is not available yet' });
      return count(503);
    }
    try {
      res.json(await fn(store, req.query as Record<string, unknown>));
      count(200);
    } catch (err) {
      const e = err as { retryable?: boolean; code?: string; message: string };
      const status = err instanceof RedBadRequest ? 400 : e.retryable === false && e.code !== 'STORE_AUTH' ? 400 : 503;
      if (status === 503) deps.logger.every(`${route}-error`, 60000, 'warn', `${route} query failed`, { error: e.message });
      res.status(status).json({ error: e.message });
      count(status);
    }
  };
  app.get('/api/v1/red', handle('red', red));
  app.get('/api/v1/service-map', handle('service-map', serviceMap));
}
