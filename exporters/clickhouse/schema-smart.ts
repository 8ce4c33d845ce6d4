/**
 * SmartEncoding's schema: spans stored with integer tag ids, the strings in
 * dictionary tables served by ClickHouse dictionaries, and `otel_traces`
 * kept as a VIEW with the contrib column names, so every query written for
 * the contrib table keeps working.
 *
 * Objects (names derived from the traces table name `T`, default `otel_traces`):
 *
 * | object | what |
 * |---|---|
 * | `T_encoded` | the spans: `ServiceNameId`, `SpanNameId`, `ScopeNameId`, `ScopeVersionId` (UInt64 tag ids) and `ResourceId` instead of the strings and the resource map; the span attributes of {@link SPAN_TAG_KEYS} as ids in `SpanTagIds` (the rest in `SpanAttributes`); everything else as in the contrib table. Sorted by (ServiceNameId, SpanNameId, time). |
 * | `otel_tags` | (Kind, Id, Value): every tag string once, Id = `sipHash64(Value)`; ReplacingMergeTree, so a string written by several servers, or again after a restart, collapses to one row. |
 * | `otel_tags_dict` | HASHED dictionary Id → Value (declared INJECTIVE, so `GROUP BY ServiceName` groups by the id). |
 * | `otel_resources` | (ResourceId, ServiceName, Attributes): each distinct resource once (its 30-odd attributes, Kubernetes labels and annotations), not once per span. |
 * | `otel_resources_dict` | HASHED dictionary ResourceId → ServiceName, Attributes. |
 * | `T` | VIEW: the contrib columns (names through `dictGet`, `ResourceAttributes` from the resource dictionary, `SpanAttributes` the stored map with the encoded entries' names put back) plus the id columns. |
 * | `T_trace_id_ts_mv` | the trace-id lookup view, fed from `T_encoded`. |
 * | `L_encoded`, `L` | the logs (`L`, default `otel_logs`) the same way: `ServiceNameId` and `ResourceId` in place of `ServiceName` and `ResourceAttributes`, sorted by (ServiceNameId, time); `L` a VIEW with the contrib columns in contrib order plus the ids. Log records share the tag and resource tables with spans, so an app's spans and logs name one resource row. |
 * | `M_encoded`, `M` | each of the five metrics tables (`M`, default `otel_metrics_gauge`, `_sum`, `_histogram`, `_exponential_histogram`, `_summary`) as the logs: service and resource as ids, sorted by (ServiceNameId, MetricName, Attributes, time); `M` a VIEW with the contrib columns (a Nested column as its subcolumns, `Exemplars.TimeUnix`, as `SELECT *` on the contrib table shows them). |
 * | `flow_log_encoded`, `flow_log` | the flow logs: `ResourceId` in place of `ResourceAttributes`, both ends' tags (the keys of {@link SPAN_TAG_KEYS}: `metaflow.client.*`, `metaflow.server.*`) as ids in `TagIds`, the rest of `Attributes` as strings; `flow_log` a VIEW with the plain table's columns (the tags put back into `Attributes`) plus `ResourceId` and `TagIds`. `network_metrics` has no tags and stays as it is. |
 *
 * Ids. A tag's id is `sipHash64` of its UTF-8 bytes (siphash.ts computes the
 * same value in JS); a resource's id is `sipHash64` of
 * {@link resourceKeySQL}'s length-prefixed serialization of its attributes
 * in stored order. Both depend only on the data, so servers writing to one
 * ClickHouse agree without coordinating, and a name filter becomes an id
 * filter without a lookup (see smartencoding.ts). Two different strings
 * with the same 64-bit hash would share a name: at 10 million distinct tags
 * the chance is about 3 in a million; accepted, as DeepFlow accepts its
 * 32-bit dictionary ids.
 *
 * Span attributes. The attributes that repeat on every span of a kind —
 * protocol, endpoint, peer service, database, both ends' host, process and
 * Kubernetes facts that AutoTagging adds to zero-code spans
 * (`metaflow.client.*` / `metaflow.server.*`) — are stored as ids in
 * `SpanTagIds Map(LowCardinality(String), UInt64)`, their strings in
 * `otel_tags` (Kind `span_attribute`). Which keys: {@link SPAN_TAG_KEYS},
 * fixed in code rather than configured, so that a filter on one of them can
 * always be rewritten to an id filter and stay exact for every row ever
 * written (a key set that changed over time would leave old rows with the
 * string). An empty value stays in `SpanAttributes`, so a missing key and
 * an empty value both read as id 0, as both read as '' from the contrib map.
 *
 * Freshness. HASHED dictionaries answer from memory (a DIRECT dictionary,
 * always fresh, measured 100x slower: ~15 µs per row in chDB). The exporter
 * writes a batch's new tags and resources before its spans and then runs
 * `SYSTEM RELOAD DICTIONARY`, so a span is never visible before its names.
 * `LIFETIME(MIN 1 MAX 10)` also reloads them in the background, which
 * covers rows written by another server to the same ClickHouse (on a
 * cluster, every replica's dictionary).
 * A reload reads the whole table, so a workload that keeps producing new
 * names (span names with ids in them, pods churning by the thousand) pays
 * one per batch that has them; normalize span names upstream. The tag and
 * resource tables have no TTL: they grow with the distinct values seen.
 *
 * Migration. The series is recorded in `<database>.smart_schema_migrations`.
 * Version 210 converts `otel_logs` as 200 converts `otel_traces`, 220
 * the metrics tables and 230 `flow_log` (made by the network series, which
 * runs first). 240 recreates the resource dictionary with `AttributesJson`
 * and every view with {@link resourceAttributesSQL}. After any of them the
 * dictionaries are reloaded.
 * Version 201 adds `SpanTagIds` to a table made by 200 before it existed,
 * moves the existing rows' encoded attributes into it (a mutation, waited
 * for) and replaces the view. Version 200 converts a database whose `T` is still the contrib table:
 * the table is renamed to `T_plain`, its tags, resources and spans are
 * copied into the encoded tables with the same ids the exporter computes,
 * and `T_plain` is dropped, so history stays queryable through the view.
 * (A crash during the copy repeats it on the next start; the copy is not
 * atomic, so rows copied before the crash would then appear twice.) Going
 * back is not automatic: a database with the view refuses
 * `smart_encoding: false` at start (see {@link traceLayout}).
 *
 * Remote servers: dictionaries created with DDL, Map, DateTime64 and
 * `SYSTEM RELOAD DICTIONARY` need ClickHouse 21.x or newer, which the
 * contrib schema needs anyway. A dictionary's CLICKHOUSE source reads the
 * local tables as the configured user.
 */
import type { TableNames } from '../../pipeline/storage';
import {
  ATTR_MAP,
  attrIndexes,
  flavouredEngine,
  ident,
  literal,
  LOG_COLUMNS,
  LOG_INDEXES,
  METRIC_COLUMNS,
  METRIC_HEAD,
  METRIC_INDEXES,
  metricTableNames,
  metricTail,
  onCluster,
  qualified,
  settings,
  SPAN_HEAD_COLUMNS,
  SPAN_KIND_COLUMN,
  SPAN_TAIL_COLUMNS,
  table,
  ttlClause,
  type SchemaExecutor,
  type SchemaOptions,
} from './schema';
import { METRIC_KINDS, type MetricKind } from './rows-metrics';
import { FLOW_LOG_COLUMNS, FLOW_LOG_INDEXES, FLOW_LOG_TABLE, flowLogTail, networkTable } from './schema-network';

/** The bookkeeping table of this series. */
export const SMART_MIGRATIONS_TABLE = 'smart_schema_migrations';
/** The index on an encoded table's resource id. */
const RESOURCE_ID_INDEX = 'INDEX idx_resource_id ResourceId TYPE bloom_filter(0.01) GRANULARITY 1';
/** The tag dictionary table. */
export const TAGS_TABLE = 'otel_tags';
/** The resource table. */
export const RESOURCES_TABLE = 'otel_resources';
/** The dictionary over {@link TAGS_TABLE}. */
export const TAGS_DICT = 'otel_tags_dict';
/** The dictionary over {@link RESOURCES_TABLE}. */
export const RESOURCES_DICT = 'otel_resources_dict';

/** Names of the encoded objects of one traces table. */
export interface SmartNames {
  database: string;
  /** The view users query (`otel_traces`). */
  view: string;
  /** The storage table (`otel_traces_encoded`). */
  encoded: string;
  /** The logs view users query (`otel_logs`). */
  logsView: string;
  /** The logs storage table (`otel_logs_encoded`). */
  logsEncoded: string;
  /** Each metrics table's view (`otel_metrics_sum`) and storage table (`otel_metrics_sum_encoded`). */
  metrics: Record<MetricKind, { view: string; encoded: string }>;
  tags: string;
  resources: string;
  tagsDict: string;
  resourcesDict: string;
}

/** The encoded objects' names for a traces table. */
export function smartNames(database: string, tables: TableNames): SmartNames {
  return {
    database,
    view: tables.traces,
    encoded: `${tables.traces}_encoded`,
    logsView: tables.logs,
    logsEncoded: `${tables.logs}_encoded`,
    metrics: Object.fromEntries(Object.entries(metricTableNames(tables)).map(([k, t]) => [k, { view: t, encoded: `${t}_encoded` }])) as SmartNames['metrics'],
    tags: TAGS_TABLE,
    resources: RESOURCES_TABLE,
    tagsDict: TAGS_DICT,
    resourcesDict: RESOURCES_DICT,
  };
}

/**
 * The name columns of the traces view and the id columns they are stored
 * as. Kind is what `otel_tags.Kind` records for them.
 */
export const TRACE_TAG_COLUMNS: ReadonlyArray<{ name: string; id: string; kind: string }> = [
  { name: 'ServiceName', id: 'ServiceNameId', kind: 'service' },
  { name: 'SpanName', id: 'SpanNameId', kind: 'span_name' },
  { name: 'ScopeName', id: 'ScopeNameId', kind: 'scope_name' },
  { name: 'ScopeVersion', id: 'ScopeVersionId', kind: 'scope_version' },
];

/** `otel_tags.Kind` of span attribute values. */
export const SPAN_TAG_KIND = 'span_attribute';

/**
 * The span attributes stored as tag ids: exact keys, key prefixes, and
 * exceptions (keys under a prefix whose values rarely repeat). Fixed in
 * code, see the module doc.
 */
export const SPAN_TAG_KEYS = {
  exact: [
    // protocol
    'metaflow.l7_protocol',
    'metaflow.signal_source',
    'metaflow.transport',
    'metaflow.version',
    'metaflow.response_status',
    'network.protocol.name',
    'network.protocol.version',
    'network.transport',
    'rpc.system',
    'db.system',
    'messaging.system',
    // endpoint and peer
    'metaflow.endpoint',
    'metaflow.request_type',
    'metaflow.request_domain',
    'http.request.method',
    'http.route',
    'rpc.service',
    'rpc.method',
    'db.namespace',
    'db.operation.name',
    'db.collection.name',
    'messaging.destination.name',
    'messaging.operation.name',
    'server.address',
    'peer.service',
    'error.type',
  ],
  prefixes: ['metaflow.client.', 'metaflow.server.'],
  except: ['metaflow.client.port'],
} as const;

const TAG_EXACT = new Set<string>(SPAN_TAG_KEYS.exact);
const TAG_EXCEPT = new Set<string>(SPAN_TAG_KEYS.except);

/** Whether a span attribute key is stored as a tag id ({@link SPAN_TAG_KEYS}). */
export function isSpanTagKey(key: string): boolean {
  if (TAG_EXACT.has(key)) return true;
  if (TAG_EXCEPT.has(key)) return false;
  for (const p of SPAN_TAG_KEYS.prefixes) if (key.startsWith(p)) return true;
  return false;
}

/** {@link isSpanTagKey} in SQL, over a key expression `k`. */
export function spanTagKeySQL(k: string): string {
  const list = (xs: readonly string[]) => xs.map(literal).join(', ');
  const prefixes = SPAN_TAG_KEYS.prefixes.map((p) => `startsWith(${k}, ${literal(p)})`).join(' OR ');
  return `(${k} IN (${list(SPAN_TAG_KEYS.exact)}) OR ((${prefixes}) AND ${k} NOT IN (${list(SPAN_TAG_KEYS.except)})))`;
}

/** The entries of span attribute map `m` kept as strings: keys not encoded, and empty values. */
export function spanRestSQL(m: string): string {
  return `mapFilter((k, v) -> NOT ${spanTagKeySQL('k')} OR v = '', ${m})`;
}

/** The entries of span attribute map `m` stored as ids, hashed. */
export function spanTagIdsSQL(m: string): string {
  return `mapApply((k, v) -> (k, sipHash64(v)), mapFilter((k, v) -> ${spanTagKeySQL('k')} AND v != '', ${m}))`;
}

/** The `otel_tags` rows of the encoded attribute values of map column `m` of table `src` (a qualified name). */
function attributeTagsBackfillSQL(database: string, src: string, m: string): string {
  const values = `mapValues(mapFilter((k, v) -> ${spanTagKeySQL('k')} AND v != '', ${m}))`;
  return `INSERT INTO ${qualified(database, TAGS_TABLE)} (Kind, Id, Value) SELECT DISTINCT ${literal(SPAN_TAG_KIND)}, sipHash64(v), v FROM ${src} ARRAY JOIN ${values} AS v`;
}

/** The `otel_resources` rows of the `ResourceAttributes` of table `src`; `service` the ServiceName expression. */
function resourcesBackfillSQL(database: string, src: string, service: string): string {
  return (
    `INSERT INTO ${qualified(database, RESOURCES_TABLE)} (ResourceId, ServiceName, Attributes) ` +
    `SELECT ${resourceKeySQL('ResourceAttributes')} AS ResourceId, any(${service}), any(ResourceAttributes) FROM ${src} GROUP BY ResourceId`
  );
}

/** Map column `m` with the entries of id map `ids` put back as names (the views' SpanAttributes, flow_log's Attributes). */
function restoredTagsSQL(database: string, m: string, ids: string): string {
  return `mapUpdate(${m}, mapApply((k, v) -> (k, dictGet(${literal(`${database}.${TAGS_DICT}`)}, 'Value', v)), ${ids}))`;
}

/** The column holding the encoded span attributes. */
export const SPAN_TAG_IDS_COLUMN = `SpanTagIds Map(LowCardinality(String), UInt64) CODEC(ZSTD(1))`;

/** Extra settings for the SmartEncoding statements (remote credentials of the dictionary source). */
export interface SmartOptions extends SchemaOptions {
  /** User and password the dictionaries read their source tables with (remote only; empty = the source's default). */
  sourceUser?: string;
  sourcePassword?: string;
}

/** `otel_tags`. */
export function tagsTable(o: SchemaOptions): string {
  return (
    `CREATE TABLE IF NOT EXISTS ${qualified(o.database, TAGS_TABLE)}${onCluster(o)} (\n` +
    '    Kind LowCardinality(String),\n' +
    '    Id UInt64,\n' +
    '    Value String CODEC(ZSTD(1))\n' +
    `) ENGINE = ${flavouredEngine(o, 'Replacing')}\n` +
    'ORDER BY (Id, Kind)'
  );
}

/** `otel_resources`. */
export function resourcesTable(o: SchemaOptions): string {
  return (
    `CREATE TABLE IF NOT EXISTS ${qualified(o.database, RESOURCES_TABLE)}${onCluster(o)} (\n` +
    '    ResourceId UInt64,\n' +
    '    ServiceName String CODEC(ZSTD(1)),\n' +
    `    Attributes ${ATTR_MAP} CODEC(ZSTD(1))\n` +
    `) ENGINE = ${flavouredEngine(o, 'Replacing')}\n` +
    'ORDER BY ResourceId'
  );
}

function source(o: SmartOptions, table: string): string {
  const cred = o.sourceUser ? ` USER ${literal(o.sourceUser)} PASSWORD ${literal(o.sourcePassword ?? '')}` : '';
  return `SOURCE(CLICKHOUSE(DB ${literal(o.database)} TABLE ${literal(table)}${cred}))`;
}

/** `otel_tags_dict`. */
export function tagsDict(o: SmartOptions): string {
  return (
    `CREATE DICTIONARY IF NOT EXISTS ${qualified(o.database, TAGS_DICT)}${onCluster(o)} (\n` +
    '    Id UInt64,\n' +
    '    Value String INJECTIVE\n' +
    `) PRIMARY KEY Id ${source(o, TAGS_TABLE)} LAYOUT(HASHED()) LIFETIME(MIN 1 MAX 10)`
  );
}

/**
 * The resource map as JSON, for the dictionary: '' when a key or value is
 * not valid UTF-8 (JSON would not keep its bytes), so the views fall back to
 * the Map attribute for that resource.
 */
const RESOURCE_JSON_EXPR = "if(arrayAll(x -> isValidUTF8(x), arrayConcat(mapKeys(Attributes), mapValues(Attributes))), toJSONString(Attributes), '')";

/** `otel_resources_dict`. */
export function resourcesDict(o: SmartOptions): string {
  return (
    `CREATE DICTIONARY IF NOT EXISTS ${qualified(o.database, RESOURCES_DICT)}${onCluster(o)} (\n` +
    '    ResourceId UInt64,\n' +
    '    ServiceName String,\n' +
    '    Attributes Map(String, String),\n' +
    `    AttributesJson String EXPRESSION ${literal(RESOURCE_JSON_EXPR)}\n` +
    `) PRIMARY KEY ResourceId ${source(o, RESOURCES_TABLE)} LAYOUT(HASHED()) LIFETIME(MIN 1 MAX 10)`
  );
}

/**
 * `ResourceAttributes` in the views. A HASHED dictionary hands out a Map
 * attribute at ~12 µs a row (measured in chDB: 6,000 rows 77–82 ms); the
 * same map as a JSON string parsed back with JSONExtract costs ~2 µs
 * (13–16 ms), about what reading the map from a contrib table costs. Exact:
 * keys keep their order, and resources that JSON could not carry use the
 * Map attribute (short-circuit `if`, so only their rows pay for it).
 */
export function resourceAttributesSQL(database: string): string {
  const res = literal(`${database}.${RESOURCES_DICT}`);
  const json = `dictGet(${res}, 'AttributesJson', ResourceId)`;
  return `if(${json} = '', dictGet(${res}, 'Attributes', ResourceId), JSONExtract(${json}, 'Map(String, String)'))`;
}

/** The encoded spans table. */
export function encodedTracesTable(o: SchemaOptions): string {
  const n = smartNames(o.database, o.tables);
  return table(
    o,
    n.encoded,
    [
      ...SPAN_HEAD_COLUMNS,
      'ServiceNameId UInt64 CODEC(ZSTD(1))',
      'SpanNameId UInt64 CODEC(ZSTD(1))',
      SPAN_KIND_COLUMN,
      'ResourceId UInt64 CODEC(ZSTD(1))',
      'ScopeNameId UInt64 CODEC(ZSTD(1))',
      'ScopeVersionId UInt64 CODEC(ZSTD(1))',
      SPAN_TAIL_COLUMNS[0],
      SPAN_TAG_IDS_COLUMN,
      ...SPAN_TAIL_COLUMNS.slice(1),
      'INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1',
      RESOURCE_ID_INDEX,
      ...attrIndexes('span_attr', 'SpanAttributes'),
      'INDEX idx_duration Duration TYPE minmax GRANULARITY 1',
    ],
    [
      'PARTITION BY toDate(Timestamp)',
      'PRIMARY KEY (ServiceNameId, SpanNameId, toDateTime(Timestamp))',
      'ORDER BY (ServiceNameId, SpanNameId, toDateTime(Timestamp), Timestamp)',
      ttlClause(o.ttlMs, 'toDateTime(Timestamp)'),
      settings(o),
    ],
  );
}

/** The select list of the view: contrib columns in contrib order, then the ids. */
function viewColumns(o: SchemaOptions): string {
  const tags = literal(`${o.database}.${TAGS_DICT}`);
  const name = (id: string) => `dictGet(${tags}, 'Value', ${id})`;
  return [
    'Timestamp',
    'TraceId',
    'SpanId',
    'ParentSpanId',
    'TraceState',
    `${name('SpanNameId')} AS SpanName`,
    'SpanKind',
    `${name('ServiceNameId')} AS ServiceName`,
    `${resourceAttributesSQL(o.database)} AS ResourceAttributes`,
    `${name('ScopeNameId')} AS ScopeName`,
    `${name('ScopeVersionId')} AS ScopeVersion`,
    `${restoredTagsSQL(o.database, 'SpanAttributes', 'SpanTagIds')} AS SpanAttributes`,
    'Duration',
    'StatusCode',
    'StatusMessage',
    '`Events.Timestamp`',
    '`Events.Name`',
    '`Events.Attributes`',
    '`Links.TraceId`',
    '`Links.SpanId`',
    '`Links.TraceState`',
    '`Links.Attributes`',
    'ServiceNameId',
    'SpanNameId',
    'ResourceId',
    'ScopeNameId',
    'ScopeVersionId',
    'SpanTagIds',
  ].join(',\n    ');
}

/** `otel_traces` as a view over the encoded table. */
export function tracesView(o: SchemaOptions): string {
  const n = smartNames(o.database, o.tables);
  return `CREATE VIEW IF NOT EXISTS ${qualified(o.database, n.view)}${onCluster(o)} AS\nSELECT\n    ${viewColumns(o)}\nFROM ${qualified(o.database, n.encoded)}`;
}

/** The trace-id lookup view, fed by inserts into the encoded table. */
export function encodedTraceIdTsView(o: SchemaOptions): string {
  const n = smartNames(o.database, o.tables);
  return (
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${qualified(o.database, `${o.tables.traceIdTs}_mv`)}${onCluster(o)}\n` +
    `TO ${qualified(o.database, o.tables.traceIdTs)}\n` +
    'AS SELECT TraceId, min(Timestamp) AS Start, max(Timestamp) AS End\n' +
    `FROM ${qualified(o.database, n.encoded)}\n` +
    "WHERE TraceId != ''\n" +
    'GROUP BY TraceId'
  );
}

/**
 * SQL computing a resource's id from a `Map(String, String)` expression,
 * identical to rows-smart.ts's `resourceId`: sipHash64 over
 * `<bytes of key>:<key><bytes of value>:<value>` for each entry in stored order.
 */
export function resourceKeySQL(map: string): string {
  return `sipHash64(arrayStringConcat(arrayMap((k, v) -> concat(toString(length(k)), ':', k, toString(length(v)), ':', v), mapKeys(${map}), mapValues(${map}))))`;
}

/** Statements copying a contrib-layout table `plain` into the encoded tables. */
export function backfillStatements(o: SchemaOptions, plain: string): string[] {
  const n = smartNames(o.database, o.tables);
  const src = qualified(o.database, plain);
  const tags = qualified(o.database, TAGS_TABLE);
  const out = TRACE_TAG_COLUMNS.map((c) => `INSERT INTO ${tags} (Kind, Id, Value) SELECT DISTINCT ${literal(c.kind)}, sipHash64(${c.name}), ${c.name} FROM ${src}`);
  out.push(attributeTagsBackfillSQL(o.database, src, 'SpanAttributes'));
  out.push(resourcesBackfillSQL(o.database, src, 'ServiceName'));
  out.push(
    `INSERT INTO ${qualified(o.database, n.encoded)} (Timestamp, TraceId, SpanId, ParentSpanId, TraceState, ServiceNameId, SpanNameId, SpanKind, ResourceId, ScopeNameId, ScopeVersionId, SpanAttributes, SpanTagIds, Duration, StatusCode, StatusMessage, ` +
      '`Events.Timestamp`, `Events.Name`, `Events.Attributes`, `Links.TraceId`, `Links.SpanId`, `Links.TraceState`, `Links.Attributes`) ' +
      `SELECT Timestamp, TraceId, SpanId, ParentSpanId, TraceState, sipHash64(ServiceName), sipHash64(SpanName), SpanKind, ${resourceKeySQL('ResourceAttributes')}, sipHash64(ScopeName), sipHash64(ScopeVersion), ${spanRestSQL('SpanAttributes')}, ${spanTagIdsSQL('SpanAttributes')}, Duration, StatusCode, StatusMessage, ` +
      '`Events.Timestamp`, `Events.Name`, `Events.Attributes`, `Links.TraceId`, `Links.SpanId`, `Links.TraceState`, `Links.Attributes` ' +
      `FROM ${src}`,
  );
  return out;
}

/** A column definition's name. */
function columnName(def: string): string {
  return def.slice(0, def.indexOf(' '));
}

/** Column definitions with `ServiceName` and `ResourceAttributes` replaced by their ids. */
function resourceIdColumns(defs: readonly string[]): string[] {
  return defs.map((c) => {
    const name = columnName(c);
    if (name === 'ServiceName') return 'ServiceNameId UInt64 CODEC(ZSTD(1))';
    if (name === 'ResourceAttributes') return 'ResourceId UInt64 CODEC(ZSTD(1))';
    return c;
  });
}

/**
 * The names a contrib table's columns read as: a `Nested` column as its
 * subcolumns (`Exemplars.TimeUnix`, …), as `SELECT *` shows them.
 */
function readNames(defs: readonly string[]): string[] {
  const out: string[] = [];
  for (const c of defs) {
    const name = columnName(c);
    const nested = /^\S+ Nested \((.*)\)( CODEC.*)?$/.exec(c);
    if (!nested) {
      out.push(name);
      continue;
    }
    // Nested subcolumn types here have no commas inside parentheses except Map(…), so split at top level.
    let depth = 0;
    let start = 0;
    const body = nested[1];
    for (let i = 0; i <= body.length; i++) {
      const ch = body[i];
      if (ch === '(') depth++;
      else if (ch === ')') depth--;
      else if ((ch === ',' && depth === 0) || i === body.length) {
        out.push(`${name}.${columnName(body.slice(start, i).trim())}`);
        start = i + 1;
      }
    }
  }
  return out;
}

/**
 * A view over an encoded table: the plain table's columns `defs` in order
 * (those in `exprs` computed from the ids), then the id columns `ids`.
 */
function encodedView(o: SchemaOptions, view: string, encoded: string, defs: readonly string[], exprs: Record<string, string>, ids: string[]): string {
  const cols = readNames(defs).map((name) => (name in exprs ? `${exprs[name]} AS ${name}` : ident(name)));
  return `CREATE VIEW IF NOT EXISTS ${qualified(o.database, view)}${onCluster(o)} AS\nSELECT\n    ${[...cols, ...ids].join(',\n    ')}\nFROM ${qualified(o.database, encoded)}`;
}

/** A view over a table storing `ServiceNameId` and `ResourceId` (logs, metrics): the contrib columns `defs` in order, then the ids. */
function resourceView(o: SchemaOptions, view: string, encoded: string, defs: readonly string[]): string {
  const exprs = {
    ServiceName: `dictGet(${literal(`${o.database}.${TAGS_DICT}`)}, 'Value', ServiceNameId)`,
    ResourceAttributes: resourceAttributesSQL(o.database),
  };
  return encodedView(o, view, encoded, defs, exprs, ['ServiceNameId', 'ResourceId']);
}

/**
 * The INSERT copying table `src` with columns `defs` into `encoded`: each
 * column as itself, or as `replace[name]` ([target column, value]), plus
 * the `extra` [column, value] pairs. Columns with a DEFAULT are left to it.
 */
function copyRowsSQL(database: string, src: string, encoded: string, defs: readonly string[], replace: Record<string, [string, string]>, extra: Array<[string, string]> = []): string {
  const pairs = readNames(defs.filter((c) => !/ DEFAULT /.test(c))).map((c): [string, string] => (c in replace ? [ident(replace[c][0]), replace[c][1]] : [ident(c), ident(c)]));
  pairs.push(...extra);
  return `INSERT INTO ${qualified(database, encoded)} (${pairs.map((p) => p[0]).join(', ')}) SELECT ${pairs.map((p) => p[1]).join(', ')} FROM ${src}`;
}

/**
 * Statements copying a contrib table `plain` with columns `defs` into
 * `encoded` (its service and resource as ids), after its services and
 * resources into the tag and resource tables.
 */
function backfillResourceStatements(o: SchemaOptions, plain: string, encoded: string, defs: readonly string[]): string[] {
  const src = qualified(o.database, plain);
  return [
    `INSERT INTO ${qualified(o.database, TAGS_TABLE)} (Kind, Id, Value) SELECT DISTINCT 'service', sipHash64(ServiceName), ServiceName FROM ${src}`,
    resourcesBackfillSQL(o.database, src, 'ServiceName'),
    copyRowsSQL(o.database, src, encoded, defs, {
      ServiceName: ['ServiceNameId', 'sipHash64(ServiceName)'],
      ResourceAttributes: ['ResourceId', resourceKeySQL('ResourceAttributes')],
    }),
  ];
}

/** The encoded logs table: `otel_logs` with `ServiceNameId` and `ResourceId` for its service and resource. */
export function encodedLogsTable(o: SchemaOptions): string {
  const n = smartNames(o.database, o.tables);
  return table(
    o,
    n.logsEncoded,
    [...resourceIdColumns(LOG_COLUMNS), LOG_INDEXES[0], RESOURCE_ID_INDEX, ...LOG_INDEXES.slice(1)],
    [
      'PARTITION BY toDate(TimestampTime)',
      'PRIMARY KEY (ServiceNameId, TimestampTime)',
      'ORDER BY (ServiceNameId, TimestampTime, Timestamp)',
      ttlClause(o.ttlMs, 'TimestampTime'),
      settings(o),
    ],
  );
}

/** `otel_logs` as a view over the encoded table: the contrib columns in contrib order, then the ids. */
export function logsView(o: SchemaOptions): string {
  const n = smartNames(o.database, o.tables);
  return resourceView(o, n.logsView, n.logsEncoded, LOG_COLUMNS);
}

/** Statements copying a contrib-layout logs table `plain` into the encoded tables. */
export function backfillLogStatements(o: SchemaOptions, plain: string): string[] {
  return backfillResourceStatements(o, plain, smartNames(o.database, o.tables).logsEncoded, LOG_COLUMNS);
}

/** A metrics table's contrib columns. */
function metricDefs(kind: MetricKind): string[] {
  return [...METRIC_HEAD, ...METRIC_COLUMNS[kind]];
}

/** An encoded metrics table: the contrib one with `ServiceNameId` and `ResourceId`, sorted by the service id first. */
export function encodedMetricTable(o: SchemaOptions, kind: MetricKind): string {
  const n = smartNames(o.database, o.tables).metrics[kind];
  return table(o, n.encoded, [...resourceIdColumns(metricDefs(kind)), RESOURCE_ID_INDEX, ...METRIC_INDEXES], metricTail(o, 'ServiceNameId'));
}

/** A metrics table as a view over its encoded table. */
export function metricView(o: SchemaOptions, kind: MetricKind): string {
  const n = smartNames(o.database, o.tables).metrics[kind];
  return resourceView(o, n.view, n.encoded, metricDefs(kind));
}

/** Statements copying a contrib-layout metrics table `plain` into the encoded tables. */
export function backfillMetricStatements(o: SchemaOptions, kind: MetricKind, plain: string): string[] {
  return backfillResourceStatements(o, plain, smartNames(o.database, o.tables).metrics[kind].encoded, metricDefs(kind));
}

/** flow_log's stored name (`flow_log_encoded`). */
export const FLOW_LOG_ENCODED = `${FLOW_LOG_TABLE}_encoded`;

/** `flow_log` with `ResourceId` for its resource map and both ends' tags (the keys of {@link SPAN_TAG_KEYS}) as ids in `TagIds`. */
export function encodedFlowLogTable(o: SchemaOptions): string {
  return networkTable(o, FLOW_LOG_ENCODED, [...resourceIdColumns(FLOW_LOG_COLUMNS), 'TagIds Map(LowCardinality(String), UInt64) CODEC(ZSTD(1))', ...FLOW_LOG_INDEXES], flowLogTail(o));
}

/** `flow_log` as a view over {@link FLOW_LOG_ENCODED}: its columns in order (the maps with their names put back), then the ids. */
export function flowLogView(o: SchemaOptions): string {
  const exprs = { ResourceAttributes: resourceAttributesSQL(o.database), Attributes: restoredTagsSQL(o.database, 'Attributes', 'TagIds') };
  return encodedView(o, FLOW_LOG_TABLE, FLOW_LOG_ENCODED, FLOW_LOG_COLUMNS, exprs, ['ResourceId', 'TagIds']);
}

/** Statements copying a plain `flow_log` table `plain` into the encoded tables. */
export function backfillFlowLogStatements(o: SchemaOptions, plain: string): string[] {
  const src = qualified(o.database, plain);
  const replace: Record<string, [string, string]> = {
    ResourceAttributes: ['ResourceId', resourceKeySQL('ResourceAttributes')],
    Attributes: ['Attributes', spanRestSQL('Attributes')],
  };
  return [
    attributeTagsBackfillSQL(o.database, src, 'Attributes'),
    resourcesBackfillSQL(o.database, src, "ResourceAttributes['service.name']"),
    copyRowsSQL(o.database, src, FLOW_LOG_ENCODED, FLOW_LOG_COLUMNS, replace, [['TagIds', spanTagIdsSQL('Attributes')]]),
  ];
}

/** How the traces of a database are stored. */
export type TraceLayout = 'none' | 'plain' | 'encoded';

/** Whether a table is missing, a plain (contrib) table, or a SmartEncoding view. */
export async function tableLayout(exec: SchemaExecutor, database: string, name: string): Promise<TraceLayout> {
  const rows = await exec.select(`SELECT engine FROM system.tables WHERE database = ${literal(database)} AND name = ${literal(name)}`);
  if (rows.length === 0) return 'none';
  return String(rows[0][0]) === 'View' ? 'encoded' : 'plain';
}

/** Whether the traces table is missing, the contrib table, or the SmartEncoding view. */
export async function traceLayout(exec: SchemaExecutor, database: string, tables: TableNames): Promise<TraceLayout> {
  return tableLayout(exec, database, tables.traces);
}

/** Every view SmartEncoding makes and the table it reads: traces, logs, the metrics tables, flow_log. */
function viewPairs(n: SmartNames): Array<{ view: string; encoded: string }> {
  return [
    { view: n.view, encoded: n.encoded },
    { view: n.logsView, encoded: n.logsEncoded },
    ...METRIC_KINDS.map((k) => n.metrics[k]),
    { view: FLOW_LOG_TABLE, encoded: FLOW_LOG_ENCODED },
  ];
}

/** The SmartEncoding views a database has, as `view is a view over encoded` (for the error that refuses plain writes to it). */
export async function encodedViews(exec: SchemaExecutor, database: string, tables: TableNames): Promise<string[]> {
  const out: string[] = [];
  for (const p of viewPairs(smartNames(database, tables))) {
    if ((await tableLayout(exec, database, p.view)) === 'encoded') out.push(`${p.view} is a view over ${p.encoded}`);
  }
  return out;
}

/**
 * Converts a contrib table `name` (when it still is one, not a view): runs
 * `before`, renames it to `name_plain`, copies it into the encoded tables and
 * drops it. A `name_plain` left by an interrupted run is copied again.
 */
async function convertPlain(
  exec: SchemaExecutor,
  o: SmartOptions,
  name: string,
  before: string[],
  backfill: (plain: string) => string[],
): Promise<void> {
  const cluster = onCluster(o);
  const plain = `${name}_plain`;
  if ((await tableLayout(exec, o.database, name)) === 'plain') {
    for (const sql of before) await exec.command(sql);
    await exec.command(`RENAME TABLE ${qualified(o.database, name)} TO ${qualified(o.database, plain)}${cluster}`);
  }
  const leftover = await exec.select(`SELECT count() FROM system.tables WHERE database = ${literal(o.database)} AND name = ${literal(plain)}`);
  if (Number(leftover[0]?.[0] ?? 0) > 0) {
    for (const sql of backfill(plain)) await exec.command(sql);
    await exec.command(`DROP TABLE ${qualified(o.database, plain)}${cluster}`);
  }
}


/** Statements reloading the dictionaries whose tables got new rows (on every replica of `cluster`, when set). */
export function reloadStatements(database: string, which: { tags: boolean; resources: boolean }, cluster = ''): string[] {
  const on = cluster ? `ON CLUSTER ${ident(cluster)} ` : '';
  const out: string[] = [];
  if (which.tags) out.push(`SYSTEM RELOAD DICTIONARY ${on}${qualified(database, TAGS_DICT)}`);
  if (which.resources) out.push(`SYSTEM RELOAD DICTIONARY ${on}${qualified(database, RESOURCES_DICT)}`);
  return out;
}

/**
 * Applies the SmartEncoding series after the core migrations: creates the
 * tag and resource tables and dictionaries, the encoded table, and turns
 * `T` into the view (converting a contrib table, see the module doc).
 * Returns the versions applied.
 */
export async function migrateSmart(exec: SchemaExecutor, o: SmartOptions): Promise<number[]> {
  const cluster = onCluster(o);
  const bookkeeping = qualified(o.database, SMART_MIGRATIONS_TABLE);
  await exec.command(`CREATE DATABASE IF NOT EXISTS ${ident(o.database)}${cluster}`);
  await exec.command(
    `CREATE TABLE IF NOT EXISTS ${bookkeeping}${cluster} (version UInt32, name String, tables String, applied_at DateTime DEFAULT now()) ENGINE = ReplacingMergeTree ORDER BY (tables, version)`,
  );
  const key = o.tables.traces;
  const done = new Set((await exec.select(`SELECT DISTINCT version FROM ${bookkeeping} WHERE tables = ${literal(key)}`)).map((r) => Number(r[0])));
  const applied: number[] = [];
  if (!done.has(200)) {
    const n = smartNames(o.database, o.tables);
    for (const sql of [tagsTable(o), resourcesTable(o), tagsDict(o), resourcesDict(o), encodedTracesTable(o)]) await exec.command(sql);
    // The contrib table's trace-id view would keep feeding from the renamed table.
    const dropMv = `DROP VIEW IF EXISTS ${qualified(o.database, `${o.tables.traceIdTs}_mv`)}${cluster}`;
    await convertPlain(exec, o, n.view, [dropMv], (plain) => backfillStatements(o, plain));
    await exec.command(tracesView(o));
    await exec.command(encodedTraceIdTsView(o));
    await exec.command(`INSERT INTO ${bookkeeping} (version, name, tables) VALUES (200, 'smart encoding of traces', ${literal(key)})`);
    applied.push(200);
  }
  if (!done.has(201)) {
    // A table made by 200 before span attributes were encoded: add the column,
    // move the existing rows' encoded attributes into it, and replace the view.
    // (On a table 200 has just made, the column exists and no row matches.)
    const n = smartNames(o.database, o.tables);
    const enc = qualified(o.database, n.encoded);
    await exec.command(`ALTER TABLE ${enc}${cluster} ADD COLUMN IF NOT EXISTS ${SPAN_TAG_IDS_COLUMN} AFTER SpanAttributes`);
    const stale = `arrayExists((k, v) -> ${spanTagKeySQL('k')} AND v != '', mapKeys(SpanAttributes), mapValues(SpanAttributes))`;
    await exec.command(attributeTagsBackfillSQL(o.database, enc, 'SpanAttributes'));
    for (const sql of reloadStatements(o.database, { tags: true, resources: false }, o.cluster)) await exec.command(sql);
    await exec.command(
      `ALTER TABLE ${enc}${cluster} UPDATE SpanTagIds = mapUpdate(SpanTagIds, ${spanTagIdsSQL('SpanAttributes')}), SpanAttributes = ${spanRestSQL('SpanAttributes')} WHERE ${stale} SETTINGS mutations_sync = 2`,
    );
    await exec.command(`DROP VIEW IF EXISTS ${qualified(o.database, n.view)}${cluster}`);
    await exec.command(tracesView(o));
    await exec.command(`INSERT INTO ${bookkeeping} (version, name, tables) VALUES (201, 'span attributes as tag ids', ${literal(key)})`);
    applied.push(201);
  }
  if (!done.has(210)) {
    // Logs: the same as 200 for otel_logs (service and resource as ids, the contrib table converted).
    const n = smartNames(o.database, o.tables);
    for (const sql of [tagsTable(o), resourcesTable(o), tagsDict(o), resourcesDict(o), encodedLogsTable(o)]) await exec.command(sql);
    await convertPlain(exec, o, n.logsView, [], (plain) => backfillLogStatements(o, plain));
    await exec.command(logsView(o));
    await exec.command(`INSERT INTO ${bookkeeping} (version, name, tables) VALUES (210, 'smart encoding of logs', ${literal(key)})`);
    applied.push(210);
  }
  if (!done.has(220)) {
    // Metrics: each of the five tables as 210 does logs.
    for (const sql of [tagsTable(o), resourcesTable(o), tagsDict(o), resourcesDict(o)]) await exec.command(sql);
    for (const kind of METRIC_KINDS) {
      const n = smartNames(o.database, o.tables).metrics[kind];
      await exec.command(encodedMetricTable(o, kind));
      await convertPlain(exec, o, n.view, [], (plain) => backfillMetricStatements(o, kind, plain));
      await exec.command(metricView(o, kind));
    }
    await exec.command(`INSERT INTO ${bookkeeping} (version, name, tables) VALUES (220, 'smart encoding of metrics', ${literal(key)})`);
    applied.push(220);
  }
  if (!done.has(230)) {
    // flow_log (made by the network series, which runs first): resource as an id, both ends' tags as ids.
    for (const sql of [tagsTable(o), resourcesTable(o), tagsDict(o), resourcesDict(o), encodedFlowLogTable(o)]) await exec.command(sql);
    await convertPlain(exec, o, FLOW_LOG_TABLE, [], (plain) => backfillFlowLogStatements(o, plain));
    await exec.command(flowLogView(o));
    await exec.command(`INSERT INTO ${bookkeeping} (version, name, tables) VALUES (230, 'smart encoding of flow_log', ${literal(key)})`);
    applied.push(230);
  }
  if (!done.has(240)) {
    // The resource dictionary gains AttributesJson; every view reads ResourceAttributes through it.
    await exec.command(`DROP DICTIONARY IF EXISTS ${qualified(o.database, RESOURCES_DICT)}${cluster}`);
    await exec.command(resourcesDict(o));
    const views: Array<[string, string]> = [
      [o.tables.traces, tracesView(o)],
      [o.tables.logs, logsView(o)],
      ...METRIC_KINDS.map((k): [string, string] => [metricTableNames(o.tables)[k], metricView(o, k)]),
      [FLOW_LOG_TABLE, flowLogView(o)],
    ];
    for (const [name, create] of views) {
      await exec.command(`DROP VIEW IF EXISTS ${qualified(o.database, name)}${cluster}`);
      await exec.command(create);
    }
    await exec.command(`INSERT INTO ${bookkeeping} (version, name, tables) VALUES (240, 'resource attributes through JSON', ${literal(key)})`);
    applied.push(240);
  }
  // A conversion wrote tags and resources: dictionaries loaded before it (by an earlier step's view or mutation) must see them.
  if (applied.length) for (const sql of reloadStatements(o.database, { tags: true, resources: true }, o.cluster)) await exec.command(sql);
  return applied;
}
