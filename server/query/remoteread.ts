/**
 * Prometheus remote read on the query service: `POST /api/v1/read`, the
 * remote-read protocol with sampled responses (snappy-compressed
 * `prometheus.ReadRequest` in, `prometheus.ReadResponse` out). A Prometheus
 * configured with
 *
 *     remote_read:
 *       - url: http://<metaflow>:20416/api/v1/read
 *         read_recent: true
 *
 * runs PromQL over everything in the `otel_metrics_*` tables: series that
 * came in through remote write with their names and labels as they were,
 * OpenTelemetry metrics (RED metrics included) named by the
 * OpenTelemetry-to-Prometheus rules (pipeline/prometheus/convert.ts).
 *
 * For each query:
 *
 * 1. The stored metric names in the time range (per table, with unit, type
 *    and, for RED metrics, the resolutions stored) are translated to their
 *    Prometheus sample names and matched against the `__name__` matchers, so
 *    only matching metrics are read. A query without a `__name__` matcher
 *    that selects something reads every metric in the range.
 * 2. Rows are read in time order and rebuilt into metrics; delta rows (RED
 *    and service-graph metrics by default) are added up into counters that
 *    start at zero at the first window's start, so `rate()` and `increase()`
 *    work from the first point.
 * 3. RED metrics exist at several resolutions; one is read per metric: the
 *    coarsest not above the query step (`hints.step_ms`; 1 s when there is
 *    no step), else the finest stored.
 * 4. Every matcher is applied to the label sets; samples outside the range
 *    are left out.
 *
 * Exponential histograms are answered as `_sum` and `_count` only (Prometheus
 * 2.x remote read carries no native histograms). A query reading more than
 * 2,000,000 rows is refused with 400 (narrow the matchers or the range).
 */
import type express from 'express';
import type { Request, Response } from 'express';
import { PromConverter } from '../../pipeline/prometheus/convert';
import { metricName, type PromType } from '../../pipeline/prometheus/naming';
import {
  decodeReadRequest,
  encodeReadResponse,
  MatchType,
  PromDecodeError,
  type LabelMatcher,
  type ReadQuery,
  type TimeSeries,
} from '../../pipeline/prometheus/prompb';
import { RESOLUTION_SCOPE_ATTRIBUTE } from '../../pipeline/prometheus/red';
import { SnappyError, SnappyTooLargeError, snappyCompress, snappyUncompress } from '../../pipeline/prometheus/snappy';
import {
  type Attributes,
  type Metric,
  type MetricData,
  type Metrics,
  type ResourceMetrics,
} from '../../pipeline/pdata';
import type { SqlStore, TableNames } from '../../pipeline/storage';
import type { AppDeps } from './app';

/** Rows one query may read at most. */
export const MAX_ROWS = 2_000_000;

/** A problem with the request (400). */
export class ReadError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Kind = 'gauge' | 'sum' | 'histogram' | 'exponentialHistogram' | 'summary';

const TABLE_OF: Record<Kind, keyof TableNames> = {
  gauge: 'metricsGauge',
  sum: 'metricsSum',
  histogram: 'metricsHistogram',
  exponentialHistogram: 'metricsExponentialHistogram',
  summary: 'metricsSummary',
};

/** A compiled matcher. */
interface Matcher {
  name: string;
  test: (v: string) => boolean;
}

function compile(m: LabelMatcher): Matcher {
  switch (m.type) {
    case MatchType.EQ:
      return { name: m.name, test: (v) => v === m.value };
    case MatchType.NEQ:
      return { name: m.name, test: (v) => v !== m.value };
    default: {
      let re: RegExp;
      try {
        // Prometheus regexps are fully anchored RE2; JavaScript's syntax covers what PromQL users write.
        re = new RegExp(`^(?:${m.value})$`, 's');
      } catch (err) {
        throw new ReadError(400, `invalid regular expression in matcher ${m.name}=~"${m.value}": ${(err as Error).message}`);
      }
      return m.type === MatchType.RE ? { name: m.name, test: (v) => re.test(v) } : { name: m.name, test: (v) => !re.test(v) };
    }
  }
}

/** The Prometheus type of a stored metric (for naming). */
function promType(kind: Kind, monotonic: boolean): PromType {
  if (kind === 'sum') return monotonic ? 'counter' : 'gauge';
  if (kind === 'histogram') return 'histogram';
  if (kind === 'gauge') return 'gauge';
  return 'summary';
}

/** The sample names a stored metric produces. */
function sampleNames(kind: Kind, family: string): string[] {
  if (kind === 'histogram') return [`${family}_bucket`, `${family}_sum`, `${family}_count`];
  if (kind === 'exponentialHistogram') return [`${family}_sum`, `${family}_count`];
  if (kind === 'summary') return [family, `${family}_sum`, `${family}_count`];
  return [family];
}

/** A stored metric the query reads: its table, name, and the resolution to read. */
interface Selected {
  kind: Kind;
  name: string;
  resolution: string;
}

const TIME_WHERE = 'TimeUnix >= fromUnixTimestamp64Milli({start:Int64}) AND TimeUnix <= fromUnixTimestamp64Milli({end:Int64})';

/** The resolution to read out of those stored: the coarsest not above the step, else the finest. */
export function pickResolution(available: string[], stepMs: number): string {
  if (available.includes('')) return '';
  const secs = (r: string): number => {
    const m = /^(\d+)(s|m|h)$/.exec(r);
    return m ? Number(m[1]) * (m[2] === 's' ? 1 : m[2] === 'm' ? 60 : 3600) : Infinity;
  };
  const sorted = [...available].sort((a, b) => secs(a) - secs(b));
  const step = Math.max(stepMs / 1000, 1);
  let best = sorted[0];
  for (const r of sorted) if (secs(r) <= step) best = r;
  return best;
}

/** Which stored metrics the `__name__` matchers select, in the query's range. */
async function selectMetrics(store: SqlStore, q: ReadQuery, nameMatchers: Matcher[], params: Record<string, number>): Promise<Selected[]> {
  const out: Selected[] = [];
  const kinds: Kind[] = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'];
  for (const kind of kinds) {
    const table = store.tables[TABLE_OF[kind]];
    const mono = kind === 'sum' ? 'IsMonotonic' : 'false';
    const r = await store.query(
      `SELECT MetricName, MetricUnit, ${mono} AS mono, groupUniqArray(ScopeAttributes['${RESOLUTION_SCOPE_ATTRIBUTE}'])
       FROM ${table} WHERE ${TIME_WHERE} GROUP BY MetricName, MetricUnit, mono`,
      { params },
    );
    const byName = new Map<string, Set<string>>();
    for (const row of r.rows) {
      const name = String(row[0]);
      const family = metricName(name, String(row[1]), promType(kind, row[2] === true || row[2] === 1 || row[2] === 'true'));
      const names = sampleNames(kind, family);
      if (!names.some((n) => nameMatchers.every((m) => m.test(n)))) continue;
      let res = byName.get(name);
      if (!res) byName.set(name, (res = new Set()));
      for (const x of row[3] as string[]) res.add(String(x));
    }
    const step = q.hints?.stepMs ?? 0;
    for (const [name, res] of byName) out.push({ kind, name, resolution: pickResolution([...res], step) });
  }
  return out;
}

const COMMON = `ResourceAttributes, ScopeName, ScopeAttributes, MetricName, MetricDescription, MetricUnit, Attributes,
  toString(toUnixTimestamp64Nano(StartTimeUnix)) AS s, toString(toUnixTimestamp64Nano(TimeUnix)) AS t, Flags`;

const COLUMNS: Record<Kind, string> = {
  gauge: `${COMMON}, Value`,
  sum: `${COMMON}, Value, AggregationTemporality, IsMonotonic`,
  histogram: `${COMMON}, Count, Sum, BucketCounts, ExplicitBounds, AggregationTemporality`,
  exponentialHistogram: `${COMMON}, Count, Sum, AggregationTemporality`,
  summary: `${COMMON}, Count, Sum, ValueAtQuantiles.Quantile, ValueAtQuantiles.Value`,
};

/** Rebuilds metrics from rows (in time order) of one table. */
class Rebuilder {
  readonly metrics: Metrics = { resourceMetrics: [] };
  private readonly resources = new Map<string, { rm: ResourceMetrics; metrics: Map<string, Metric> }>();

  add(kind: Kind, row: unknown[]): void {
    const [resAttrs, scopeName, scopeAttrs, name, description, unit, attrs, s, t, flags] = row as [
      Attributes,
      string,
      Attributes,
      string,
      string,
      string,
      Attributes,
      string,
      string,
      number,
    ];
    const rkey = JSON.stringify(resAttrs);
    let g = this.resources.get(rkey);
    if (!g) {
      g = { rm: { resource: { attributes: resAttrs, droppedAttributesCount: 0 }, scopeMetrics: [], schemaUrl: '' }, metrics: new Map() };
      this.resources.set(rkey, g);
      this.metrics.resourceMetrics.push(g.rm);
    }
    const temporality = kind === 'sum' ? Number(row[11]) : kind === 'histogram' ? Number(row[14]) : kind === 'exponentialHistogram' ? Number(row[12]) : 0;
    const mono = kind === 'sum' ? row[12] === true || row[12] === 1 : false;
    const mkey = `${scopeName}\u0000${JSON.stringify(scopeAttrs)}\u0000${kind}\u0000${name}\u0000${unit}\u0000${temporality}\u0000${mono}`;
    let m = g.metrics.get(mkey);
    if (!m) {
      let data: MetricData;
      if (kind === 'gauge') data = { type: 'gauge', dataPoints: [] };
      else if (kind === 'sum') data = { type: 'sum', dataPoints: [], aggregationTemporality: temporality, isMonotonic: mono };
      else if (kind === 'histogram') data = { type: 'histogram', dataPoints: [], aggregationTemporality: temporality };
      else if (kind === 'exponentialHistogram') data = { type: 'exponentialHistogram', dataPoints: [], aggregationTemporality: temporality };
      else data = { type: 'summary', dataPoints: [] };
      m = { name, description, unit, metadata: {}, data };
      g.metrics.set(mkey, m);
      g.rm.scopeMetrics.push({ scope: { name: scopeName, version: '', attributes: scopeAttrs, droppedAttributesCount: 0 }, metrics: [m], schemaUrl: '' });
    }
    const base = { attributes: attrs, startTimeUnixNano: BigInt(s), timeUnixNano: BigInt(t), exemplars: [], flags: Number(flags) };
    const d = m.data;
    switch (d.type) {
      case 'gauge':
      case 'sum':
        d.dataPoints.push({ ...base, value: Number(row[10]), isInt: false });
        break;
      case 'histogram':
        d.dataPoints.push({
          ...base,
          count: Number(row[10]),
          sum: Number(row[11]),
          bucketCounts: (row[12] as unknown[]).map(Number),
          explicitBounds: (row[13] as unknown[]).map(Number),
        });
        break;
      case 'exponentialHistogram':
        d.dataPoints.push({ ...base, count: Number(row[10]), sum: Number(row[11]), scale: 0, zeroCount: 0, positive: { offset: 0, bucketCounts: [] }, negative: { offset: 0, bucketCounts: [] }, zeroThreshold: 0 });
        break;
      case 'summary': {
        const qs = (row[12] as unknown[]).map(Number);
        const vs = (row[13] as unknown[]).map(Number);
        d.dataPoints.push({ ...base, count: Number(row[10]), sum: Number(row[11]), quantileValues: qs.map((quantile, i) => ({ quantile, value: vs[i] })) });
        break;
      }
      default:
        break;
    }
  }
}

/** Answers one query of a read request. */
export async function readQuery(store: SqlStore, q: ReadQuery, signal?: AbortSignal): Promise<TimeSeries[]> {
  if (q.endMs < q.startMs) throw new ReadError(400, `query ends (${q.endMs}) before it starts (${q.startMs})`);
  const matchers = q.matchers.map(compile);
  if (matchers.length && matchers.every((m) => m.test(''))) throw new ReadError(400, 'at least one matcher must not match the empty string');
  const params = { start: q.startMs, end: q.endMs };
  const selected = await selectMetrics(
    store,
    q,
    matchers.filter((m) => m.name === '__name__'),
    params,
  );
  const converter = new PromConverter({ addSuffixes: true, namespace: '', constLabels: {}, resourceToLabels: false, maxSeries: MAX_ROWS, zeroAtStart: true });
  const series = new Map<string, TimeSeries>();
  let rows = 0;
  // Group the selected metrics per table and resolution: one query each.
  const groups = new Map<string, { kind: Kind; resolution: string; names: string[] }>();
  for (const s of selected) {
    const key = `${s.kind}\u0000${s.resolution}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { kind: s.kind, resolution: s.resolution, names: [] }));
    g.names.push(s.name);
  }
  for (const g of groups.values()) {
    const table = store.tables[TABLE_OF[g.kind]];
    const r = await store.query(
      `SELECT ${COLUMNS[g.kind]} FROM ${table}
       WHERE MetricName IN {names:Array(String)} AND ScopeAttributes['${RESOLUTION_SCOPE_ATTRIBUTE}'] = {res:String} AND ${TIME_WHERE}
       ORDER BY TimeUnix LIMIT ${MAX_ROWS + 1}`,
      { params: { ...params, names: g.names, res: g.resolution }, signal },
    );
    rows += r.rows.length;
    if (rows > MAX_ROWS) throw new ReadError(400, `the query reads more than ${MAX_ROWS} rows; narrow its matchers or time range`);
    const rb = new Rebuilder();
    for (const row of r.rows) rb.add(g.kind, row);
    converter.convert(rb.metrics, (p) => {
      for (const m of matchers) {
        let v = '';
        for (const l of p.labels) if (l.name === m.name) v = l.value;
        if (!m.test(v)) return;
      }
      // The zero sample of a delta counter may fall just before the range: keep it, it anchors rate().
      if (p.timestamp > q.endMs) return;
      let ts = series.get(p.key);
      if (!ts) series.set(p.key, (ts = { labels: p.labels, samples: [] }));
      const last = ts.samples[ts.samples.length - 1];
      const sample = p.stale ? { value: NaN, timestamp: p.timestamp, stale: true } : { value: p.value, timestamp: p.timestamp };
      if (!last || p.timestamp > last.timestamp) ts.samples.push(sample);
      // Several rows for one window (late spans): the running total after all of them.
      else if (p.timestamp === last.timestamp) ts.samples[ts.samples.length - 1] = sample;
    });
  }
  return [...series.values()];
}

/** Reads a request body of at most `limit` bytes; undefined when larger. */
function readBody(req: Request, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) over = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(over ? undefined : Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

/** Registers `POST /api/v1/read` on the query service's app. */
export function registerRemoteRead(app: express.Express, deps: AppDeps): void {
  const limit = Math.round(deps.config.max_request_size_mib * 1024 * 1024);
  const count = (status: number) =>
    deps.telemetry.counter('metaflow_query_requests_total', 'Query API requests by route and status.', 1, { route: 'read', status: String(status) });
  const fail = (res: Response, status: number, msg: string) => {
    res.status(status).type('text/plain').send(`${msg}\n`);
    count(status);
  };
  // The body is read here, not by express.raw: body-parser refuses Content-Encoding: snappy with 415.
  app.post('/api/v1/read', async (req: Request, res: Response) => {
    const store = deps.store();
    if (!store) {
      res.set('Retry-After', '1');
      return fail(res, 503, 'the store is not available yet');
    }
    const encoding = String(req.headers['content-encoding'] ?? '').trim().toLowerCase();
    if (encoding !== '' && encoding !== 'snappy') return fail(res, 415, `unsupported content encoding "${encoding}"; remote read uses snappy`);
    const body = await readBody(req, limit);
    if (body === undefined) return fail(res, 413, `request body larger than ${limit} bytes`);
    if (body.length === 0) return fail(res, 400, 'empty body: expected a snappy-compressed prometheus.ReadRequest');
    let request;
    try {
      request = decodeReadRequest(await snappyUncompress(body, limit * 16));
    } catch (err) {
      if (err instanceof SnappyTooLargeError) return fail(res, 413, err.message);
      if (err instanceof SnappyError || err instanceof PromDecodeError) return fail(res, 400, `malformed read request: ${err.message}`);
      throw err;
    }
    const types = request.acceptedResponseTypes;
    if (types.length && !types.includes(0)) {
      return fail(res, 400, 'only the SAMPLES response type is supported (accepted_response_types has no SAMPLES)');
    }
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), deps.config.query_timeout);
    res.on('close', () => abort.abort());
    try {
      const results: TimeSeries[][] = [];
      for (const q of request.queries) results.push(await readQuery(store, q, abort.signal));
      const out = snappyCompress(encodeReadResponse(results));
      res.status(200).set({ 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy' }).send(out);
      count(200);
    } catch (err) {
      if (err instanceof ReadError) return fail(res, err.status, err.message);
      const e = err as { retryable?: boolean; code?: string; message: string };
      const status = e.retryable === false && e.code !== 'STORE_AUTH' ? 400 : 503;
      deps.logger.every('read-error', 60000, 'warn', 'remote read failed', { error: e.message });
      fail(res, status, e.message);
    } finally {
      clearTimeout(timer);
    }
  });
}
