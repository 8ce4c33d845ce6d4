/**
 * Cutting batches at an item count without copying items.
 *
 * A batch is a list of resource groups; merging batches concatenates the
 * lists and cutting one takes whole groups while they fit. Only the group
 * that straddles the cut is divided: both halves are new group objects with
 * the same resource, scope (and, for metrics, metric) fields and a slice of
 * the items. The half that goes out first gets shallow copies of the
 * resource, scope and metric descriptions, so no two emitted batches share
 * one of those objects: a mutating processor downstream that edits
 * resource attributes in the first batch must not see its edit again in the
 * second one. Items themselves are never copied.
 */
import type {
  InstrumentationScope,
  LogRecord,
  Logs,
  Metric,
  MetricData,
  Metrics,
  Resource,
  ResourceLogs,
  ResourceMetrics,
  ResourceSpans,
  ScopeLogs,
  ScopeMetrics,
  ScopeSpans,
  Signal,
  SignalData,
  Traces,
} from '../../pipeline/pdata';

interface GroupOf {
  traces: ResourceSpans;
  metrics: ResourceMetrics;
  logs: ResourceLogs;
}

/** The resource group type of a signal. */
export type Group<S extends Signal> = GroupOf[S];

/** What the batcher needs to know about a signal's data. */
export interface BatchOps<S extends Signal> {
  /** The resource groups of a batch (not copied). */
  groups(data: SignalData[S]): readonly Group<S>[];
  /** A batch made of these groups. */
  make(groups: Group<S>[]): SignalData[S];
  /** Items in one group. */
  count(g: Group<S>): number;
  /** Divides a group into its first `n` items and the rest; requires 0 < n < count(g). */
  split(g: Group<S>, n: number): [Group<S>, Group<S>];
}

/**
 * Divides `list` into the elements holding its first `n` items and the rest,
 * splitting the one element that straddles `n`. Elements with no items that
 * directly follow the cut go with the head, so the tail never starts with
 * an empty element.
 */
export function takeItems<T>(list: readonly T[], n: number, count: (t: T) => number, split: (t: T, k: number) => [T, T]): [T[], T[]] {
  const head: T[] = [];
  let left = n;
  for (let i = 0; i < list.length; i++) {
    const c = count(list[i]);
    if (c <= left) {
      head.push(list[i]);
      left -= c;
      continue;
    }
    if (left === 0) return [head, list.slice(i)];
    const [h, t] = split(list[i], left);
    head.push(h);
    const tail = [t];
    for (let j = i + 1; j < list.length; j++) tail.push(list[j]);
    return [head, tail];
  }
  return [head, []];
}

function copyResource(r: Resource): Resource {
  return { attributes: { ...r.attributes }, droppedAttributesCount: r.droppedAttributesCount };
}

function copyScope(s: InstrumentationScope): InstrumentationScope {
  return { name: s.name, version: s.version, attributes: { ...s.attributes }, droppedAttributesCount: s.droppedAttributesCount };
}

// ---------------------------------------------------------------- traces

const countScopeSpans = (ss: ScopeSpans): number => ss.spans.length;

function splitScopeSpans(ss: ScopeSpans, k: number): [ScopeSpans, ScopeSpans] {
  return [
    { scope: copyScope(ss.scope), spans: ss.spans.slice(0, k), schemaUrl: ss.schemaUrl },
    { scope: ss.scope, spans: ss.spans.slice(k), schemaUrl: ss.schemaUrl },
  ];
}

const traceOps: BatchOps<'traces'> = {
  groups: (d: Traces) => d.resourceSpans,
  make: (groups) => ({ resourceSpans: groups }),
  count(g) {
    let n = 0;
    for (const ss of g.scopeSpans) n += ss.spans.length;
    return n;
  },
  split(g, n) {
    const [h, t] = takeItems(g.scopeSpans, n, countScopeSpans, splitScopeSpans);
    return [
      { resource: copyResource(g.resource), scopeSpans: h, schemaUrl: g.schemaUrl },
      { resource: g.resource, scopeSpans: t, schemaUrl: g.schemaUrl },
    ];
  },
};

// ---------------------------------------------------------------- metrics

const countMetric = (m: Metric): number => (m.data.type === 'empty' ? 0 : m.data.dataPoints.length);

function countScopeMetrics(sm: ScopeMetrics): number {
  let n = 0;
  for (const m of sm.metrics) n += countMetric(m);
  return n;
}

function splitMetric(m: Metric, k: number): [Metric, Metric] {
  const data = m.data as Exclude<MetricData, { type: 'empty' }>;
  const head = { ...data, dataPoints: data.dataPoints.slice(0, k) } as MetricData;
  const tail = { ...data, dataPoints: data.dataPoints.slice(k) } as MetricData;
  return [
    { name: m.name, description: m.description, unit: m.unit, metadata: { ...m.metadata }, data: head },
    { name: m.name, description: m.description, unit: m.unit, metadata: m.metadata, data: tail },
  ];
}

function splitScopeMetrics(sm: ScopeMetrics, k: number): [ScopeMetrics, ScopeMetrics] {
  const [h, t] = takeItems(sm.metrics, k, countMetric, splitMetric);
  return [
    { scope: copyScope(sm.scope), metrics: h, schemaUrl: sm.schemaUrl },
    { scope: sm.scope, metrics: t, schemaUrl: sm.schemaUrl },
  ];
}

const metricOps: BatchOps<'metrics'> = {
  groups: (d: Metrics) => d.resourceMetrics,
  make: (groups) => ({ resourceMetrics: groups }),
  count(g) {
    let n = 0;
    for (const sm of g.scopeMetrics) n += countScopeMetrics(sm);
    return n;
  },
  split(g, n) {
    const [h, t] = takeItems(g.scopeMetrics, n, countScopeMetrics, splitScopeMetrics);
    return [
      { resource: copyResource(g.resource), scopeMetrics: h, schemaUrl: g.schemaUrl },
      { resource: g.resource, scopeMetrics: t, schemaUrl: g.schemaUrl },
    ];
  },
};

// ---------------------------------------------------------------- logs

const countScopeLogs = (sl: ScopeLogs): number => sl.logRecords.length;

function splitScopeLogs(sl: ScopeLogs, k: number): [ScopeLogs, ScopeLogs] {
  const records: LogRecord[] = sl.logRecords;
  return [
    { scope: copyScope(sl.scope), logRecords: records.slice(0, k), schemaUrl: sl.schemaUrl },
    { scope: sl.scope, logRecords: records.slice(k), schemaUrl: sl.schemaUrl },
  ];
}

const logOps: BatchOps<'logs'> = {
  groups: (d: Logs) => d.resourceLogs,
  make: (groups) => ({ resourceLogs: groups }),
  count(g) {
    let n = 0;
    for (const sl of g.scopeLogs) n += sl.logRecords.length;
    return n;
  },
  split(g, n) {
    const [h, t] = takeItems(g.scopeLogs, n, countScopeLogs, splitScopeLogs);
    return [
      { resource: copyResource(g.resource), scopeLogs: h, schemaUrl: g.schemaUrl },
      { resource: g.resource, scopeLogs: t, schemaUrl: g.schemaUrl },
    ];
  },
};

/** The batch operations of a signal. */
export function opsFor<S extends Signal>(signal: S): BatchOps<S> {
  switch (signal) {
    case 'traces':
      return traceOps as unknown as BatchOps<S>;
    case 'metrics':
      return metricOps as unknown as BatchOps<S>;
    default:
      return logOps as unknown as BatchOps<S>;
  }
}
