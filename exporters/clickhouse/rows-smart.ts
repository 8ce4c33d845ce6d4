/**
 * Spans, logs, metrics and flow logs → SmartEncoding blocks
 * (schema-smart.ts): the `*_encoded` rows with tag and resource ids instead
 * of strings, plus the tags and resources not yet known to be stored, which
 * the exporter writes first. Logs and metrics reuse rows-logs.ts's and
 * rows-metrics.ts's builders with {@link SmartResourceColumns}, flow logs
 * rows-flowlog.ts's with {@link SmartFlowLogEncoding}.
 *
 * The columns both tables share are written by rows-traces.ts's
 * {@link SpanColumns}, so their values are the contrib table's (same span
 * kind and status names, attribute values through `anyValueToString`,
 * Duration as end − start clamped at 0); only names and resources differ.
 *
 * Ids: a tag's id is `sipHash64(value)` (siphash.ts, identical to the
 * engine's); a resource's id is `sipHash64` of the length-prefixed
 * serialization schema-smart.ts's `resourceKeySQL` computes, so a backfill
 * in SQL derives the same ids. A batch computes each distinct resource's id
 * once; tag strings already written are found in the {@link TagRegistry}
 * without hashing.
 */
import { anyValueToString, type AnyValue, type Attributes, type Logs, type Metrics, type Traces } from '../../pipeline/pdata';
import { IdMapColumn, Int64Column, MapColumn, NativeBlock, StringColumn, type Column } from './native';
import { encodeMap, putEncodedMap, putValue, serviceName, type BatchRows, type PendingTags, type ResourceColumns } from './rows';
import { FlowLogRows, type FlowLogEncoding } from './rows-flowlog';
import { LogRows } from './rows-logs';
import { MetricRows, type MetricKind } from './rows-metrics';
import { SpanColumns } from './rows-traces';
import { isSpanTagKey, SPAN_TAG_KIND } from './schema-smart';
import { sipHash64 } from './siphash';

/** Default bound of the registry: tag strings (per kind) and resource ids remembered as stored. */
export const DEFAULT_REGISTRY_ENTRIES = 200_000;

/**
 * The tags and resources this process knows to be stored, shared by every
 * row builder of one exporter. Bounded: a kind's map (or the resource set)
 * that reaches the limit is cleared, which only means those rows are written
 * again (the tables collapse duplicates). `evictions` counts the clears.
 */
export class TagRegistry {
  private readonly tags = new Map<string, Map<string, bigint>>();
  private readonly resources = new Set<bigint>();
  evictions = 0;

  constructor(readonly maxEntries = DEFAULT_REGISTRY_ENTRIES) {}

  /** The kind's value → id map (created on first use). */
  kind(kind: string): Map<string, bigint> {
    let m = this.tags.get(kind);
    if (!m) this.tags.set(kind, (m = new Map()));
    return m;
  }

  /** Whether a resource is known to be stored. */
  hasResource(id: bigint): boolean {
    return this.resources.has(id);
  }

  /** Records tags and resources once their rows are stored. */
  commit(tags: ReadonlyArray<{ kind: string; value: string; id: bigint }>, resources: readonly bigint[]): void {
    for (const t of tags) {
      const m = this.kind(t.kind);
      if (m.size >= this.maxEntries) {
        m.clear();
        this.evictions++;
      }
      m.set(t.value, t.id);
    }
    for (const r of resources) {
      if (this.resources.size >= this.maxEntries) {
        this.resources.clear();
        this.evictions++;
      }
      this.resources.add(r);
    }
  }

  /** Strings and resources remembered. */
  get size(): number {
    let n = this.resources.size;
    for (const m of this.tags.values()) n += m.size;
    return n;
  }
}

/** A resource's id: sipHash64 over `<utf8 length>:<key><utf8 length>:<value>` per attribute, in order. */
export function resourceId(attrs: Attributes): bigint {
  let s = '';
  for (const k in attrs) {
    const v = anyValueToString(attrs[k]);
    s += `${Buffer.byteLength(k, 'utf8')}:${k}${Buffer.byteLength(v, 'utf8')}:${v}`;
  }
  return sipHash64(s);
}

/**
 * The tags and resources of one batch that are not yet known to be stored:
 * the `otel_tags` and `otel_resources` rows the exporter writes before the
 * batch's own rows. Shared by the span and log row builders.
 */
export class SmartTags implements PendingTags {
  private readonly tagKind = new StringColumn('Kind');
  private readonly tagId = new Int64Column('Id', 'UInt64');
  private readonly tagValue = new StringColumn('Value');
  /** `otel_tags` rows. */
  readonly tagBlock = new NativeBlock([this.tagKind, this.tagId, this.tagValue]);

  private readonly resId = new Int64Column('ResourceId', 'UInt64');
  private readonly resService = new StringColumn('ServiceName');
  private readonly resAttributes = new MapColumn('Attributes');
  /** `otel_resources` rows. */
  readonly resourceBlock = new NativeBlock([this.resId, this.resService, this.resAttributes]);

  private readonly newTags: Array<{ kind: string; value: string; id: bigint }> = [];
  private readonly newResources: bigint[] = [];
  /** This batch's new tags by kind, so a value repeated in the batch is written once. */
  private readonly batchTags = new Map<string, Map<string, bigint>>();
  private readonly batchResources = new Set<bigint>();

  constructor(readonly registry: TagRegistry) {}

  /** The id of `value` of `kind` (`known`: the registry's map of the kind), queueing its tag row when it is not known to be stored. */
  id(kind: string, known: Map<string, bigint>, value: string): bigint {
    const id = known.get(value);
    if (id !== undefined) return id;
    let batch = this.batchTags.get(kind);
    if (!batch) this.batchTags.set(kind, (batch = new Map()));
    let nid = batch.get(value);
    if (nid !== undefined) return nid;
    nid = sipHash64(value);
    batch.set(value, nid);
    this.tagKind.put(kind);
    this.tagId.putBigInt(nid);
    this.tagValue.put(value);
    this.newTags.push({ kind, value, id: nid });
    return nid;
  }

  /** A resource's id, queueing its row when it is not known to be stored. */
  resource(attrs: Attributes, service: string): bigint {
    const rid = resourceId(attrs);
    if (!this.registry.hasResource(rid) && !this.batchResources.has(rid)) {
      this.batchResources.add(rid);
      this.newResources.push(rid);
      this.resId.putBigInt(rid);
      this.resService.put(service);
      putEncodedMap(this.resAttributes, encodeMap(attrs));
    }
    return rid;
  }

  /** Records this batch's tags and resources as stored (call after their blocks were inserted). */
  commit(): void {
    this.registry.commit(this.newTags, this.newResources);
  }

  /** Forgets the batch's tags and resources. */
  reset(): void {
    this.tagBlock.reset();
    this.resourceBlock.reset();
    this.newTags.length = 0;
    this.newResources.length = 0;
    this.batchTags.clear();
    this.batchResources.clear();
  }
}

/**
 * The attributes of {@link SPAN_TAG_KEYS} with a value, as ids in an
 * id map column (`SpanTagIds`, flow_log's `TagIds`); the caller keeps the
 * rest as strings. An empty value is not taken, so it reads like a missing
 * key, as in the contrib map.
 */
export class SmartAttributeIds {
  readonly column: IdMapColumn;
  private readonly known: Map<string, bigint>;
  /** Keys seen, and whether they are stored as ids (bounded: keys are few, but a producer may invent them). */
  private readonly tagKeys = new Map<string, boolean>();

  constructor(
    private readonly tags: SmartTags,
    name: string,
  ) {
    this.column = new IdMapColumn(name);
    this.known = tags.registry.kind(SPAN_TAG_KIND);
  }

  private isTagKey(key: string): boolean {
    let t = this.tagKeys.get(key);
    if (t === undefined) {
      t = isSpanTagKey(key);
      if (this.tagKeys.size < 10_000) this.tagKeys.set(key, t);
    }
    return t;
  }

  /** Stores the attribute as an id when its key is a tag key and its value not empty; says whether it did. */
  take(key: string, value: AnyValue): boolean {
    if (!this.isTagKey(key)) return false;
    const s = typeof value === 'string' ? value : anyValueToString(value);
    if (s === '') return false;
    this.column.put(key, this.tags.id(SPAN_TAG_KIND, this.known, s));
    return true;
  }

  endRow(): void {
    this.column.endRow();
  }
}

/** flow_log's resource as `ResourceId`, both ends' tags (`metaflow.client.*`, `metaflow.server.*`) as ids in `TagIds`. */
export class SmartFlowLogEncoding implements FlowLogEncoding {
  readonly resource: SmartResourceColumns;
  private readonly ids: SmartAttributeIds;
  readonly extraColumns: readonly Column[];

  constructor(tags: SmartTags) {
    this.resource = new SmartResourceColumns(tags, false);
    this.ids = new SmartAttributeIds(tags, 'TagIds');
    this.extraColumns = [this.ids.column];
  }

  takeAttribute(key: string, value: AnyValue): boolean {
    return this.ids.take(key, value);
  }

  endRow(): void {
    this.ids.endRow();
  }
}

/**
 * A resource as SmartEncoding stores it: `ServiceNameId` (unless
 * `withService` is false: flow_log has none) and `ResourceId` in place of
 * rows.ts's `ServiceName` and `ResourceAttributes` strings.
 */
export class SmartResourceColumns implements ResourceColumns {
  private readonly serviceNameId = new Int64Column('ServiceNameId', 'UInt64');
  private readonly resourceIdCol = new Int64Column('ResourceId', 'UInt64');
  readonly columns: readonly Column[];
  private readonly services: Map<string, bigint>;
  private service = 0n;
  private rid = 0n;

  constructor(
    private readonly tags: SmartTags,
    private readonly withService = true,
  ) {
    this.services = tags.registry.kind('service');
    this.columns = withService ? [this.serviceNameId, this.resourceIdCol] : [this.resourceIdCol];
  }

  group(resource: Attributes): void {
    const service = serviceName(resource);
    if (this.withService) this.service = this.tags.id('service', this.services, service);
    this.rid = this.tags.resource(resource, service);
  }

  putRow(): void {
    if (this.withService) this.serviceNameId.putBigInt(this.service);
    this.resourceIdCol.putBigInt(this.rid);
  }
}

/** A row builder of one table whose resource and tags go through a batch's {@link SmartTags}. */
class SmartBlockRows<D> implements BatchRows<D> {
  readonly tags: SmartTags;
  private readonly rows: { readonly block: NativeBlock; append(data: D): void };

  constructor(registry: TagRegistry, make: (tags: SmartTags) => { readonly block: NativeBlock; append(data: D): void }) {
    this.tags = new SmartTags(registry);
    this.rows = make(this.tags);
  }

  /** The encoded rows. */
  get block(): NativeBlock {
    return this.rows.block;
  }

  append(data: D): void {
    this.rows.append(data);
  }

  /** Forgets the batch (rows, pending tags and resources). */
  reset(): void {
    this.rows.block.reset();
    this.tags.reset();
  }
}

/** Builds the SmartEncoding blocks of log batches: `otel_logs_encoded` rows plus the batch's new tags and resources. */
export class SmartLogRows extends SmartBlockRows<Logs> {
  constructor(registry: TagRegistry) {
    super(registry, (tags) => new LogRows(new SmartResourceColumns(tags)));
  }
}

/** Builds the SmartEncoding blocks of flow logs: `flow_log_encoded` rows plus the batch's new tags and resources. */
export class SmartFlowLogRows extends SmartBlockRows<Logs> {
  constructor(registry: TagRegistry) {
    super(registry, (tags) => new FlowLogRows(new SmartFlowLogEncoding(tags)));
  }
}

/** Builds the SmartEncoding blocks of metric batches: the five encoded tables' rows plus the batch's new tags and resources. */
export class SmartMetricRows {
  readonly tags: SmartTags;
  private readonly rows: MetricRows;

  constructor(registry: TagRegistry) {
    this.tags = new SmartTags(registry);
    this.rows = new MetricRows(() => new SmartResourceColumns(this.tags));
  }

  /** The block of each metric kind. */
  get blocks(): ReadonlyArray<readonly [MetricKind, NativeBlock]> {
    return this.rows.blocks;
  }

  append(metrics: Metrics): void {
    this.rows.append(metrics);
  }

  /** Forgets the batch (rows, pending tags and resources). */
  reset(): void {
    this.rows.reset();
    this.tags.reset();
  }
}

/** Builds the SmartEncoding blocks of span batches; reuse one instance (call {@link reset} between batches). */
export class SmartTraceRows implements BatchRows<Traces> {
  readonly tags: SmartTags;
  private readonly spanTagIds: SmartAttributeIds;
  private readonly span = new SpanColumns((m, attrs) => this.putSpanAttributes(m, attrs));
  private readonly serviceNameId = new Int64Column('ServiceNameId', 'UInt64');
  private readonly spanNameId = new Int64Column('SpanNameId', 'UInt64');
  private readonly resourceIdCol = new Int64Column('ResourceId', 'UInt64');
  private readonly scopeNameId = new Int64Column('ScopeNameId', 'UInt64');
  private readonly scopeVersionId = new Int64Column('ScopeVersionId', 'UInt64');

  /** The encoded span rows. */
  readonly block: NativeBlock;

  private readonly services: Map<string, bigint>;
  private readonly spanNames: Map<string, bigint>;
  private readonly scopeNames: Map<string, bigint>;
  private readonly scopeVersions: Map<string, bigint>;

  constructor(registry: TagRegistry) {
    this.tags = new SmartTags(registry);
    this.spanTagIds = new SmartAttributeIds(this.tags, 'SpanTagIds');
    this.block = new NativeBlock([
      ...this.span.head,
      this.serviceNameId,
      this.spanNameId,
      this.span.spanKind,
      this.resourceIdCol,
      this.scopeNameId,
      this.scopeVersionId,
      ...this.span.tail.slice(0, 1),
      this.spanTagIds.column,
      ...this.span.tail.slice(1),
    ]);
    this.services = registry.kind('service');
    this.spanNames = registry.kind('span_name');
    this.scopeNames = registry.kind('scope_name');
    this.scopeVersions = registry.kind('scope_version');
  }

  /** `otel_tags` rows of this batch (see {@link SmartTags}). */
  get tagBlock(): NativeBlock {
    return this.tags.tagBlock;
  }

  /** `otel_resources` rows of this batch. */
  get resourceBlock(): NativeBlock {
    return this.tags.resourceBlock;
  }

  /** A span's attributes: those of SPAN_TAG_KEYS with a value as ids in `SpanTagIds`, the rest as strings. */
  private putSpanAttributes(m: MapColumn, attrs: Attributes): void {
    const ids = this.spanTagIds;
    for (const k in attrs) {
      const v = attrs[k];
      if (ids.take(k, v)) continue;
      m.keys.put(k);
      putValue(m.values, v);
    }
    m.endRow();
    ids.endRow();
  }

  /** Appends every span of the batch as one row each. */
  append(traces: Traces): void {
    const common = this.span;
    const tags = this.tags;
    for (const rs of traces.resourceSpans) {
      const resource = rs.resource.attributes;
      const service = serviceName(resource);
      const serviceId = tags.id('service', this.services, service);
      const rid = tags.resource(resource, service);
      for (const ss of rs.scopeSpans) {
        const scopeId = tags.id('scope_name', this.scopeNames, ss.scope.name);
        const versionId = tags.id('scope_version', this.scopeVersions, ss.scope.version);
        const spans = ss.spans;
        for (let k = 0; k < spans.length; k++) {
          const span = spans[k];
          common.putSpan(span);
          this.serviceNameId.putBigInt(serviceId);
          this.spanNameId.putBigInt(tags.id('span_name', this.spanNames, span.name));
          this.resourceIdCol.putBigInt(rid);
          this.scopeNameId.putBigInt(scopeId);
          this.scopeVersionId.putBigInt(versionId);
        }
      }
    }
  }

  /** Records this batch's tags and resources as stored (call after their blocks were inserted). */
  commit(): void {
    this.tags.commit();
  }

  /** Forgets the batch (all three blocks and the pending tags). */
  reset(): void {
    this.block.reset();
    this.tags.reset();
  }
}
