/**
 * Helpers shared by the row builders (`rows-traces.ts`, `rows-logs.ts`,
 * `rows-metrics.ts`): attribute maps and group-level values (a resource's
 * attributes, a scope's name) encoded once and copied to every row of the
 * group, and the string form of attribute values.
 */
import { anyValueToString, type AnyValue, type Attributes } from '../../pipeline/pdata';
import { MapColumn, StringColumn, type Column, type NativeBlock } from './native';

/**
 * Appends an attribute value as the contrib exporter stores it (pdata's
 * `anyValueToString`), writing strings, integers and booleans straight into
 * the column without building a string first.
 */
export function putValue(col: StringColumn, v: AnyValue): void {
  switch (typeof v) {
    case 'string':
      col.put(v);
      return;
    case 'number':
      if (Number.isInteger(v)) col.putInteger(v);
      else col.put(anyValueToString(v));
      return;
    case 'boolean':
      col.put(v ? 'true' : 'false');
      return;
    default:
      col.put(anyValueToString(v));
  }
}

/** Appends one row of a Map(String, String) column from an attribute set. */
export function putAttributes(m: MapColumn, attrs: Attributes): void {
  const keys = m.keys;
  const values = m.values;
  for (const k in attrs) {
    keys.put(k);
    putValue(values, attrs[k]);
  }
  m.endRow();
}

/** An attribute set encoded once, to be copied into many rows. */
export interface EncodedMap {
  keys: Uint8Array;
  values: Uint8Array;
  entries: number;
}

// Scratch columns for encoding group-level values; their bytes are copied out.
const scratchMap = new MapColumn('');
const scratchString = new StringColumn('');
const EMPTY = new Uint8Array(0);

function take(col: StringColumn): Uint8Array {
  const parts: Buffer[] = [];
  col.collect(parts);
  // A copy: the scratch column's buffer is reused for the next group.
  return parts.length ? new Uint8Array(parts[0]) : EMPTY;
}

/** Encodes an attribute set for {@link putEncodedMap}. Once per group, not per row. */
export function encodeMap(attrs: Attributes): EncodedMap {
  scratchMap.reset();
  putAttributes(scratchMap, attrs);
  const out = { keys: take(scratchMap.keys), values: take(scratchMap.values), entries: scratchMap.keys.count };
  scratchMap.reset();
  return out;
}

/** Appends a pre-encoded attribute set as one row. */
export function putEncodedMap(m: MapColumn, e: EncodedMap): void {
  if (e.entries > 0) {
    m.keys.putEncodedValues(e.keys, e.entries);
    m.values.putEncodedValues(e.values, e.entries);
  }
  m.endRow();
}

/** Encodes one string as a String value for `StringColumn.putEncodedValues(bytes, 1)`. */
export function encodeString(s: string): Uint8Array {
  scratchString.reset();
  scratchString.put(s);
  const out = take(scratchString);
  scratchString.reset();
  return out;
}

/** The `service.name` resource attribute as a string; empty when absent. */
export function serviceName(resource: Attributes): string {
  const v = resource['service.name'];
  return v === undefined ? '' : anyValueToString(v);
}

/**
 * How a log or metric row stores its resource: the columns, a call per
 * resource group and one per row. The contrib table's are {@link PlainResourceColumns};
 * SmartEncoding's (ids) are in rows-smart.ts.
 */
export interface ResourceColumns {
  readonly columns: readonly Column[];
  /** Called once per resource group, before its rows. */
  group(resource: Attributes): void;
  /** Appends the current group's values to one row. */
  putRow(): void;
}

/** `ServiceName` (unless `withService` is false: flow_log has none) and `ResourceAttributes` as strings, encoded once per group. */
export class PlainResourceColumns implements ResourceColumns {
  private readonly service = new StringColumn('ServiceName');
  private readonly attributes = new MapColumn('ResourceAttributes');
  readonly columns: readonly Column[];
  private serviceBytes: Uint8Array = new Uint8Array(0);
  private attrs: EncodedMap = { keys: new Uint8Array(0), values: new Uint8Array(0), entries: 0 };

  constructor(private readonly withService = true) {
    this.columns = withService ? [this.service, this.attributes] : [this.attributes];
  }

  group(resource: Attributes): void {
    this.attrs = encodeMap(resource);
    if (this.withService) this.serviceBytes = encodeString(serviceName(resource));
  }

  putRow(): void {
    if (this.withService) this.service.putEncodedValues(this.serviceBytes, 1);
    putEncodedMap(this.attributes, this.attrs);
  }
}

/** A batch's tags and resources not yet stored (SmartEncoding's `SmartTags`): written before the batch's rows. */
export interface PendingTags {
  readonly tagBlock: NativeBlock;
  readonly resourceBlock: NativeBlock;
  /** Records them as stored, once written. */
  commit(): void;
  reset(): void;
}

/**
 * A row builder of one table, as the exporter drives it: rows appended to
 * `block`, then inserted; under SmartEncoding also the batch's new tags and
 * resources (`tags`, written first). Reused across batches: the exporter
 * resets `block` and `tags` after each.
 */
export interface BatchRows<D> {
  readonly block: NativeBlock;
  readonly tags?: PendingTags;
  append(data: D): void;
}
