/**
 * Jaeger's HTTP query API (the one Jaeger UI and Grafana's Jaeger data source
 * read) over the `otel_traces` table: SQL for each endpoint and the mapping of
 * rows to Jaeger's JSON trace shape.
 *
 * Mapping, as Jaeger maps OTLP: span kind → tag `span.kind`; status → tags
 * `otel.status_code` / `otel.status_description` and `error=true`; scope →
 * `otel.scope.name` / `otel.scope.version`; resource attributes → the
 * process's tags with `service.name` as serviceName; events → logs with an
 * `event` field; parent → a CHILD_OF reference; links → FOLLOWS_FROM
 * references. Attribute values are stored as strings, so tags are strings;
 * attribute tags come sorted by key.
 * Times are microseconds, as Jaeger's JSON has them.
 */
import type { QueryOptions, SqlStore } from '../../pipeline/storage';
import { parseDuration } from '../../pipeline/config/schema';

/** A Jaeger key/value tag. */
export interface JaegerTag {
  key: string;
  type: 'string' | 'bool' | 'int64' | 'float64' | 'binary';
  value: string | boolean | number;
}

/** A Jaeger span in the query API's JSON shape. */
export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: Array<{ refType: 'CHILD_OF' | 'FOLLOWS_FROM'; traceID: string; spanID: string }>;
  startTime: number;
  duration: number;
  tags: JaegerTag[];
  logs: Array<{ timestamp: number; fields: JaegerTag[] }>;
  processID: string;
  warnings: string[] | null;
  flags: number;
}

/** A Jaeger trace in the query API's JSON shape. */
export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string; tags: JaegerTag[] }>;
  warnings: string[] | null;
}

/** A problem with the request; the API answers 400 with it. */
export class BadRequest extends Error {
  readonly code = 'BAD_REQUEST';
}

const SPAN_COLUMNS = `TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
  toString(toUnixTimestamp64Nano(Timestamp)) AS StartNs, toString(Duration) AS DurationNs,
  ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, StatusCode, StatusMessage,
  arrayMap(t -> toString(toUnixTimestamp64Nano(t)), Events.Timestamp) AS EventTimes, Events.Name AS EventNames, Events.Attributes AS EventAttributes,
  Links.TraceId AS LinkTraceIds, Links.SpanId AS LinkSpanIds`;

/** Normalises a trace id from a URL: lowercase, 64-bit ids padded to 128 bits. */
export function normaliseTraceId(id: string): string {
  const hex = id.trim().toLowerCase();
  if (!/^[0-9a-f]{1,32}$/.test(hex)) throw new BadRequest(`invalid trace id "${id.slice(0, 64)}": expected up to 32 hex characters`);
  return hex.padStart(32, '0');
}

/** Service names with spans. */
export async function services(store: SqlStore): Promise<string[]> {
  const r = await store.query(`SELECT DISTINCT ServiceName FROM ${store.tables.traces} ORDER BY ServiceName`);
  return r.rows.map((row) => String(row[0]));
}

/** Operation names (span names) of a service, with their span kinds. */
export async function operations(store: SqlStore, service: string, spanKind?: string): Promise<Array<{ name: string; spanKind: string }>> {
  const params: QueryOptions['params'] = { service };
  let kindFilter = '';
  if (spanKind) {
    kindFilter = ' AND lower(SpanKind) = {kind:String}';
    params.kind = spanKind.toLowerCase();
  }
  const r = await store.query(
    `SELECT DISTINCT SpanName, lower(SpanKind) FROM ${store.tables.traces} WHERE ServiceName = {service:String}${kindFilter} ORDER BY SpanName`,
    { params },
  );
  return r.rows.map((row) => ({ name: String(row[0]), spanKind: String(row[1]) }));
}

/** One trace by id, or undefined when not stored. Uses the trace-id → time table to prune. */
export async function traceById(store: SqlStore, traceId: string): Promise<JaegerTrace | undefined> {
  const id = normaliseTraceId(traceId);
  const { traces, traceIdTs } = store.tables;
  const r = await store.query(
    `WITH (SELECT (min(Start), max(End)) FROM ${traceIdTs} WHERE TraceId = {id:String}) AS range
     SELECT ${SPAN_COLUMNS} FROM ${traces}
     WHERE TraceId = {id:String} AND Timestamp >= toDateTime64(range.1, 9) AND Timestamp < toDateTime64(range.2 + 1, 9)
     ORDER BY Timestamp`,
    { params: { id } },
  );
  if (!r.rows.length) return undefined;
  return toTraces(r.columns.map((c) => c.name), r.rows)[0];
}

/** Parsed search parameters of `/api/traces`. */
export interface TraceQuery {
  service?: string;
  operation?: string;
  tags: Record<string, string>;
  /** Microseconds since the epoch. */
  startUs: number;
  endUs: number;
  minDurationNs?: number;
  maxDurationNs?: number;
  limit: number;
}

/** Reads `/api/traces` query-string parameters the way Jaeger does. */
export function parseTraceQuery(q: Record<string, unknown>, nowUs = Date.now() * 1000): TraceQuery {
  const str = (k: string): string | undefined => {
    const v = q[k];
    const s = Array.isArray(v) ? v[0] : v;
    return typeof s === 'string' && s !== '' ? s : undefined;
  };
  const int = (k: string): number | undefined => {
    const s = str(k);
    if (s === undefined) return undefined;
    if (!/^\d+$/.test(s)) throw new BadRequest(`${k}: expected an integer, got "${s.slice(0, 40)}"`);
    return Number(s);
  };
  const dur = (k: string): number | undefined => {
    const s = str(k);
    if (s === undefined) return undefined;
    const ms = parseDuration(s);
    if (ms === undefined) throw new BadRequest(`${k}: expected a duration such as 100ms or 1.5s, got "${s.slice(0, 40)}"`);
    return Math.round(ms * 1e6);
  };
  const tags: Record<string, string> = {};
  const rawTags = str('tags');
  if (rawTags) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawTags);
    } catch {
      throw new BadRequest(`tags: expected a JSON object such as {"http.method":"GET"}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new BadRequest('tags: expected a JSON object');
    for (const [k, v] of Object.entries(parsed)) tags[k] = String(v);
  }
  const tagList = q.tag === undefined ? [] : Array.isArray(q.tag) ? q.tag : [q.tag];
  for (const t of tagList) {
    const s = String(t);
    const i = s.indexOf(':');
    if (i <= 0) throw new BadRequest(`tag: expected key:value, got "${s.slice(0, 40)}"`);
    tags[s.slice(0, i)] = s.slice(i + 1);
  }
  const endUs = int('end') ?? nowUs;
  const lookback = str('lookback');
  const lookbackMs = lookback && lookback !== 'custom' ? parseLookback(lookback) : 3600_000;
  const startUs = int('start') ?? endUs - lookbackMs * 1000;
  const limit = Math.min(int('limit') ?? 20, 1500);
  return {
    service: str('service'),
    operation: str('operation'),
    tags,
    startUs,
    endUs,
    minDurationNs: dur('minDuration'),
    maxDurationNs: dur('maxDuration'),
    limit: limit > 0 ? limit : 20,
  };
}

function parseLookback(s: string): number {
  const m = /^(\d+)([smhdw])$/.exec(s);
  if (!m) {
    const ms = parseDuration(s);
    if (ms === undefined) throw new BadRequest(`lookback: expected a span such as 1h or 2d, got "${s.slice(0, 40)}"`);
    return ms;
  }
  const unit = { s: 1000, m: 60_000, h: 3600_000, d: 86400_000, w: 604800_000 }[m[2] as 's'];
  return Number(m[1]) * unit;
}

/**
 * Traces with at least one span matching every filter (as Jaeger searches),
 * newest first, each with all its spans.
 */
export async function findTraces(store: SqlStore, q: TraceQuery): Promise<JaegerTrace[]> {
  const { traces } = store.tables;
  // Bounds as DateTime64(9): chDB mis-compares a DateTime64 key with other time types.
  const where: string[] = ['Timestamp >= toDateTime64(fromUnixTimestamp64Micro({start:Int64}), 9)', 'Timestamp <= toDateTime64(fromUnixTimestamp64Micro({end:Int64}), 9)'];
  const params: NonNullable<QueryOptions['params']> = { start: q.startUs, end: q.endUs, limit: q.limit };
  if (q.service) {
    where.push('ServiceName = {service:String}');
    params.service = q.service;
  }
  if (q.operation) {
    where.push('SpanName = {operation:String}');
    params.operation = q.operation;
  }
  if (q.minDurationNs !== undefined) {
    where.push('Duration >= {minDur:UInt64}');
    params.minDur = q.minDurationNs;
  }
  if (q.maxDurationNs !== undefined) {
    where.push('Duration <= {maxDur:UInt64}');
    params.maxDur = q.maxDurationNs;
  }
  Object.entries(q.tags).forEach(([key, value], i) => {
    params[`tk${i}`] = key;
    params[`tv${i}`] = value;
    if (key === 'error') {
      where.push(value === 'true' ? "StatusCode = 'Error'" : "StatusCode != 'Error'");
    } else if (key === 'span.kind') {
      where.push(`lower(SpanKind) = lower({tv${i}:String})`);
    } else if (key === 'otel.status_code') {
      where.push(`upper(StatusCode) = upper({tv${i}:String})`);
    } else {
      // A plain key goes in as a literal, so a store that rewrites filters (SmartEncoding) sees which attribute it is.
      const k = PLAIN_KEY.test(key) ? `'${key}'` : `{tk${i}:String}`;
      where.push(`(SpanAttributes[${k}] = {tv${i}:String} OR ResourceAttributes[${k}] = {tv${i}:String})`);
    }
  });
  const ids = await store.query(
    `SELECT TraceId, min(Timestamp) AS t FROM ${traces} WHERE ${where.join(' AND ')} AND TraceId != ''
     GROUP BY TraceId ORDER BY t DESC LIMIT {limit:UInt32}`,
    { params },
  );
  if (!ids.rows.length) return [];
  const idList = ids.rows.map((r) => String(r[0]));
  // All spans of those traces, not only the matching ones; spans may start a
  // little before the window, so widen it by the trace-id table's range.
  const r = await store.query(
    `SELECT ${SPAN_COLUMNS} FROM ${traces}
     WHERE TraceId IN {ids:Array(String)}
       AND Timestamp >= (SELECT toDateTime64(min(Start), 9) FROM ${store.tables.traceIdTs} WHERE TraceId IN {ids:Array(String)})
       AND Timestamp < (SELECT toDateTime64(max(End) + 1, 9) FROM ${store.tables.traceIdTs} WHERE TraceId IN {ids:Array(String)})
     ORDER BY Timestamp`,
    { params: { ids: idList } },
  );
  const byId = new Map(toTraces(r.columns.map((c) => c.name), r.rows).map((t) => [t.traceID, t]));
  return idList.map((id) => byId.get(id)).filter((t): t is JaegerTrace => t !== undefined);
}

const KIND_TAG: Record<string, string> = { Server: 'server', Client: 'client', Producer: 'producer', Consumer: 'consumer', Internal: 'internal' };

/** Attribute keys safe to write as SQL literals without escaping. */
const PLAIN_KEY = /^[A-Za-z0-9_.\-/:@]{1,200}$/;

function strTag(key: string, value: string): JaegerTag {
  return { key, type: 'string', value };
}

/** An attribute map's tags, sorted by key: the order does not depend on how the store keeps the map (SmartEncoding puts encoded attributes last). */
function mapTags(m: unknown): JaegerTag[] {
  if (!m || typeof m !== 'object') return [];
  return Object.keys(m)
    .sort()
    .map((k) => strTag(k, String((m as Record<string, unknown>)[k])));
}

/** Groups span rows (columns as {@link SPAN_COLUMNS}) into Jaeger traces. */
export function toTraces(columns: string[], rows: unknown[][]): JaegerTrace[] {
  const col = (name: string) => {
    const i = columns.indexOf(name);
    if (i < 0) throw new Error(`query result lacks column ${name}`);
    return i;
  };
  const c = {
    traceId: col('TraceId'),
    spanId: col('SpanId'),
    parent: col('ParentSpanId'),
    name: col('SpanName'),
    kind: col('SpanKind'),
    service: col('ServiceName'),
    start: col('StartNs'),
    duration: col('DurationNs'),
    resource: col('ResourceAttributes'),
    scopeName: col('ScopeName'),
    scopeVersion: col('ScopeVersion'),
    attrs: col('SpanAttributes'),
    status: col('StatusCode'),
    statusMsg: col('StatusMessage'),
    eventTimes: col('EventTimes'),
    eventNames: col('EventNames'),
    eventAttrs: col('EventAttributes'),
    linkTraces: col('LinkTraceIds'),
    linkSpans: col('LinkSpanIds'),
  };
  const traces = new Map<string, JaegerTrace & { processKeys: Map<string, string> }>();
  for (const row of rows) {
    const traceID = String(row[c.traceId]);
    let trace = traces.get(traceID);
    if (!trace) {
      trace = { traceID, spans: [], processes: {}, warnings: null, processKeys: new Map() };
      traces.set(traceID, trace);
    }
    const serviceName = String(row[c.service]);
    const processTags = mapTags(row[c.resource]).filter((t) => t.key !== 'service.name');
    const processKey = serviceName + '\u0000' + JSON.stringify(processTags);
    let processID = trace.processKeys.get(processKey);
    if (!processID) {
      processID = `p${trace.processKeys.size + 1}`;
      trace.processKeys.set(processKey, processID);
      trace.processes[processID] = { serviceName, tags: processTags };
    }
    const tags = mapTags(row[c.attrs]);
    const kind = KIND_TAG[String(row[c.kind])];
    if (kind) tags.push(strTag('span.kind', kind));
    const status = String(row[c.status]);
    if (status === 'Error') {
      tags.push(strTag('otel.status_code', 'ERROR'), { key: 'error', type: 'bool', value: true });
    } else if (status === 'Ok') {
      tags.push(strTag('otel.status_code', 'OK'));
    }
    if (row[c.statusMsg]) tags.push(strTag('otel.status_description', String(row[c.statusMsg])));
    if (row[c.scopeName]) tags.push(strTag('otel.scope.name', String(row[c.scopeName])));
    if (row[c.scopeVersion]) tags.push(strTag('otel.scope.version', String(row[c.scopeVersion])));
    const references: JaegerSpan['references'] = [];
    const parent = String(row[c.parent]);
    if (parent) references.push({ refType: 'CHILD_OF', traceID, spanID: parent });
    const linkTraces = row[c.linkTraces] as string[];
    const linkSpans = row[c.linkSpans] as string[];
    for (let i = 0; i < linkTraces.length; i++) references.push({ refType: 'FOLLOWS_FROM', traceID: linkTraces[i], spanID: linkSpans[i] });
    const eventTimes = row[c.eventTimes] as string[];
    const eventNames = row[c.eventNames] as string[];
    const eventAttrs = row[c.eventAttrs] as unknown[];
    const logs = eventTimes.map((t, i) => ({
      timestamp: nsToUs(t),
      fields: [strTag('event', eventNames[i]), ...mapTags(eventAttrs[i])],
    }));
    trace.spans.push({
      traceID,
      spanID: String(row[c.spanId]),
      operationName: String(row[c.name]),
      references,
      startTime: nsToUs(String(row[c.start])),
      duration: nsToUs(String(row[c.duration])),
      tags,
      logs,
      processID,
      warnings: null,
      flags: 1,
    });
  }
  return [...traces.values()].map(({ processKeys: _drop, ...t }) => t);
}

function nsToUs(ns: string): number {
  return Number(BigInt(ns) / 1000n);
}
