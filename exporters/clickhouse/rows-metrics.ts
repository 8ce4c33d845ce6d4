/**
 * Metrics → the five `otel_metrics_*` Native blocks (gauge, sum, histogram,
 * exponential histogram, summary), one pass over the batch.
 *
 * As the contrib exporter writes them: one row per data point; number values
 * and exemplar values as Float64 whether they arrived as ints or doubles;
 * an absent histogram sum, min or max as 0; `AggregationTemporality` as the
 * OTLP number; `ServiceName` from the resource's `service.name`. Resource
 * and scope attributes are encoded once per group and copied to each point.
 * How the resource is stored is the caller's {@link ResourceColumns}: the
 * contrib strings by default, ids under SmartEncoding (rows-smart.ts).
 */
import type {
  Attributes,
  DataPointBase,
  Exemplar,
  ExponentialHistogramDataPoint,
  HistogramDataPoint,
  Metric,
  Metrics,
  NumberDataPoint,
  SummaryDataPoint,
} from '../../pipeline/pdata';
import {
  ArrayColumn,
  Float64Column,
  Int32Column,
  Int64Column,
  MapColumn,
  NativeBlock,
  StringColumn,
  UInt32Column,
  UInt8Column,
  type Column,
} from './native';
import { encodeMap, PlainResourceColumns, putAttributes, putEncodedMap, type EncodedMap, type ResourceColumns } from './rows';

/** The metric tables, keyed as in the `metrics_tables` config. */
export type MetricKind = 'gauge' | 'sum' | 'histogram' | 'exponential_histogram' | 'summary';

/** Every metric kind, in table-creation order. */
export const METRIC_KINDS: readonly MetricKind[] = ['gauge', 'sum', 'histogram', 'exponential_histogram', 'summary'];

/** What every point of a resource/scope/metric group shares. */
interface Group {
  resUrl: string;
  scopeName: string;
  scopeVersion: string;
  scopeAttrs: EncodedMap;
  scopeDropped: number;
  scopeUrl: string;
  metric: Metric;
}

/** The columns every metrics table starts with; the resource's as `resource` stores them. */
class Head {
  /** The resource of the points that follow, until its columns are encoded (on the table's first point from it). */
  pending: Attributes | undefined;
  readonly resourceSchemaUrl = new StringColumn('ResourceSchemaUrl');
  readonly scopeName = new StringColumn('ScopeName');
  readonly scopeVersion = new StringColumn('ScopeVersion');
  readonly scopeAttributes = new MapColumn('ScopeAttributes');
  readonly scopeDroppedAttrCount = new UInt32Column('ScopeDroppedAttrCount');
  readonly scopeSchemaUrl = new StringColumn('ScopeSchemaUrl');
  readonly metricName = new StringColumn('MetricName');
  readonly metricDescription = new StringColumn('MetricDescription');
  readonly metricUnit = new StringColumn('MetricUnit');
  readonly attributes = new MapColumn('Attributes');
  readonly startTimeUnix = new Int64Column('StartTimeUnix', 'DateTime64(9)');
  readonly timeUnix = new Int64Column('TimeUnix', 'DateTime64(9)');

  constructor(readonly resource: ResourceColumns) {}

  columns(): Column[] {
    return [
      ...this.resource.columns,
      this.resourceSchemaUrl,
      this.scopeName,
      this.scopeVersion,
      this.scopeAttributes,
      this.scopeDroppedAttrCount,
      this.scopeSchemaUrl,
      this.metricName,
      this.metricDescription,
      this.metricUnit,
      this.attributes,
      this.startTimeUnix,
      this.timeUnix,
    ];
  }

  put(g: Group, dp: DataPointBase): void {
    if (this.pending) {
      this.resource.group(this.pending);
      this.pending = undefined;
    }
    this.resource.putRow();
    this.resourceSchemaUrl.put(g.resUrl);
    this.scopeName.put(g.scopeName);
    this.scopeVersion.put(g.scopeVersion);
    putEncodedMap(this.scopeAttributes, g.scopeAttrs);
    this.scopeDroppedAttrCount.put(g.scopeDropped);
    this.scopeSchemaUrl.put(g.scopeUrl);
    this.metricName.put(g.metric.name);
    this.metricDescription.put(g.metric.description);
    this.metricUnit.put(g.metric.unit);
    putAttributes(this.attributes, dp.attributes);
    this.startTimeUnix.putTime(dp.startTimeUnixNano);
    this.timeUnix.putTime(dp.timeUnixNano);
  }
}

/** `Exemplars Nested(FilteredAttributes, TimeUnix, Value, SpanId, TraceId)`. */
class Exemplars {
  readonly filteredAttributes = new ArrayColumn('Exemplars.FilteredAttributes', new MapColumn(''));
  readonly timeUnix = new ArrayColumn('Exemplars.TimeUnix', new Int64Column('', 'DateTime64(9)'));
  readonly value = new ArrayColumn('Exemplars.Value', new Float64Column(''));
  readonly spanId = new ArrayColumn('Exemplars.SpanId', new StringColumn(''));
  readonly traceId = new ArrayColumn('Exemplars.TraceId', new StringColumn(''));

  columns(): Column[] {
    return [this.filteredAttributes, this.timeUnix, this.value, this.spanId, this.traceId];
  }

  put(exemplars: readonly Exemplar[]): void {
    for (let i = 0; i < exemplars.length; i++) {
      const e = exemplars[i];
      putAttributes(this.filteredAttributes.inner, e.filteredAttributes);
      this.timeUnix.inner.putTime(e.timeUnixNano);
      this.value.inner.put(toDouble(e.value));
      this.spanId.inner.put(e.spanId);
      this.traceId.inner.put(e.traceId);
    }
    this.filteredAttributes.endRow();
    this.timeUnix.endRow();
    this.value.endRow();
    this.spanId.endRow();
    this.traceId.endRow();
  }
}

function toDouble(v: number | bigint): number {
  return typeof v === 'bigint' ? Number(v) : v;
}

/** Appends counts (bucket counts) as one Array(UInt64) row. */
function putCounts(col: ArrayColumn<Int64Column>, counts: readonly number[]): void {
  for (let i = 0; i < counts.length; i++) col.inner.putUnsigned(counts[i]);
  col.endRow();
}

/** Appends doubles as one Array(Float64) row. */
function putDoubles(col: ArrayColumn<Float64Column>, values: readonly number[]): void {
  for (let i = 0; i < values.length; i++) col.inner.put(values[i]);
  col.endRow();
}

/** `otel_metrics_gauge` and (with `sum`) `otel_metrics_sum` rows. */
class NumberRows {
  readonly value = new Float64Column('Value');
  readonly flags = new UInt32Column('Flags');
  readonly exemplars = new Exemplars();
  readonly temporality = new Int32Column('AggregationTemporality');
  readonly monotonic = new UInt8Column('IsMonotonic', 'Bool');
  readonly block: NativeBlock;

  constructor(
    readonly head: Head,
    readonly sum: boolean,
  ) {
    const cols = [...this.head.columns(), this.value, this.flags, ...this.exemplars.columns()];
    if (sum) cols.push(this.temporality, this.monotonic);
    this.block = new NativeBlock(cols);
  }

  put(g: Group, points: readonly NumberDataPoint[], temporality: number, monotonic: boolean): void {
    for (let i = 0; i < points.length; i++) {
      const dp = points[i];
      this.head.put(g, dp);
      this.value.put(toDouble(dp.value));
      this.flags.put(dp.flags);
      this.exemplars.put(dp.exemplars);
      if (this.sum) {
        this.temporality.put(temporality);
        this.monotonic.put(monotonic ? 1 : 0);
      }
    }
  }
}

/** `otel_metrics_histogram` rows. */
class HistogramRows {
  readonly count = new Int64Column('Count', 'UInt64');
  readonly sum = new Float64Column('Sum');
  readonly bucketCounts = new ArrayColumn('BucketCounts', new Int64Column('', 'UInt64'));
  readonly explicitBounds = new ArrayColumn('ExplicitBounds', new Float64Column(''));
  readonly exemplars = new Exemplars();
  readonly flags = new UInt32Column('Flags');
  readonly min = new Float64Column('Min');
  readonly max = new Float64Column('Max');
  readonly temporality = new Int32Column('AggregationTemporality');
  readonly block: NativeBlock;

  constructor(readonly head: Head) {
    this.block = new NativeBlock([
      ...this.head.columns(),
      this.count,
      this.sum,
      this.bucketCounts,
      this.explicitBounds,
      ...this.exemplars.columns(),
      this.flags,
      this.min,
      this.max,
      this.temporality,
    ]);
  }

  put(g: Group, points: readonly HistogramDataPoint[], temporality: number): void {
    for (let i = 0; i < points.length; i++) {
      const dp = points[i];
      this.head.put(g, dp);
      this.count.putUnsigned(dp.count);
      this.sum.put(dp.sum ?? 0);
      putCounts(this.bucketCounts, dp.bucketCounts);
      putDoubles(this.explicitBounds, dp.explicitBounds);
      this.exemplars.put(dp.exemplars);
      this.flags.put(dp.flags);
      this.min.put(dp.min ?? 0);
      this.max.put(dp.max ?? 0);
      this.temporality.put(temporality);
    }
  }
}

/** `otel_metrics_exponential_histogram` rows. */
class ExponentialHistogramRows {
  readonly count = new Int64Column('Count', 'UInt64');
  readonly sum = new Float64Column('Sum');
  readonly scale = new Int32Column('Scale');
  readonly zeroCount = new Int64Column('ZeroCount', 'UInt64');
  readonly positiveOffset = new Int32Column('PositiveOffset');
  readonly positiveBucketCounts = new ArrayColumn('PositiveBucketCounts', new Int64Column('', 'UInt64'));
  readonly negativeOffset = new Int32Column('NegativeOffset');
  readonly negativeBucketCounts = new ArrayColumn('NegativeBucketCounts', new Int64Column('', 'UInt64'));
  readonly exemplars = new Exemplars();
  readonly flags = new UInt32Column('Flags');
  readonly min = new Float64Column('Min');
  readonly max = new Float64Column('Max');
  readonly temporality = new Int32Column('AggregationTemporality');
  readonly block: NativeBlock;

  constructor(readonly head: Head) {
    this.block = new NativeBlock([
      ...this.head.columns(),
      this.count,
      this.sum,
      this.scale,
      this.zeroCount,
      this.positiveOffset,
      this.positiveBucketCounts,
      this.negativeOffset,
      this.negativeBucketCounts,
      ...this.exemplars.columns(),
      this.flags,
      this.min,
      this.max,
      this.temporality,
    ]);
  }

  put(g: Group, points: readonly ExponentialHistogramDataPoint[], temporality: number): void {
    for (let i = 0; i < points.length; i++) {
      const dp = points[i];
      this.head.put(g, dp);
      this.count.putUnsigned(dp.count);
      this.sum.put(dp.sum ?? 0);
      this.scale.put(dp.scale);
      this.zeroCount.putUnsigned(dp.zeroCount);
      this.positiveOffset.put(dp.positive.offset);
      putCounts(this.positiveBucketCounts, dp.positive.bucketCounts);
      this.negativeOffset.put(dp.negative.offset);
      putCounts(this.negativeBucketCounts, dp.negative.bucketCounts);
      this.exemplars.put(dp.exemplars);
      this.flags.put(dp.flags);
      this.min.put(dp.min ?? 0);
      this.max.put(dp.max ?? 0);
      this.temporality.put(temporality);
    }
  }
}

/** `otel_metrics_summary` rows. */
class SummaryRows {
  readonly count = new Int64Column('Count', 'UInt64');
  readonly sum = new Float64Column('Sum');
  readonly quantile = new ArrayColumn('ValueAtQuantiles.Quantile', new Float64Column(''));
  readonly value = new ArrayColumn('ValueAtQuantiles.Value', new Float64Column(''));
  readonly flags = new UInt32Column('Flags');
  readonly block: NativeBlock;

  constructor(readonly head: Head) {
    this.block = new NativeBlock([...this.head.columns(), this.count, this.sum, this.quantile, this.value, this.flags]);
  }

  put(g: Group, points: readonly SummaryDataPoint[]): void {
    for (let i = 0; i < points.length; i++) {
      const dp = points[i];
      this.head.put(g, dp);
      this.count.putUnsigned(dp.count);
      this.sum.put(dp.sum);
      const q = dp.quantileValues;
      for (let j = 0; j < q.length; j++) {
        this.quantile.inner.put(q[j].quantile);
        this.value.inner.put(q[j].value);
      }
      this.quantile.endRow();
      this.value.endRow();
      this.flags.put(dp.flags);
    }
  }
}

/** Builds the five metrics blocks; reuse one instance for many batches (call `reset()` between). */
export class MetricRows {
  private readonly gauge: NumberRows;
  private readonly sum: NumberRows;
  private readonly histogram: HistogramRows;
  private readonly exponential: ExponentialHistogramRows;
  private readonly summary: SummaryRows;
  private readonly heads: Head[];

  /** The block of each metric kind. */
  readonly blocks: ReadonlyArray<readonly [MetricKind, NativeBlock]>;

  /** `resource` makes each table's resource columns (the contrib strings by default). */
  constructor(resource: () => ResourceColumns = () => new PlainResourceColumns()) {
    this.heads = METRIC_KINDS.map(() => new Head(resource()));
    this.gauge = new NumberRows(this.heads[0], false);
    this.sum = new NumberRows(this.heads[1], true);
    this.histogram = new HistogramRows(this.heads[2]);
    this.exponential = new ExponentialHistogramRows(this.heads[3]);
    this.summary = new SummaryRows(this.heads[4]);
    this.blocks = [
      ['gauge', this.gauge.block],
      ['sum', this.sum.block],
      ['histogram', this.histogram.block],
      ['exponential_histogram', this.exponential.block],
      ['summary', this.summary.block],
    ];
  }

  /** Appends every data point of the batch to the block of its metric's type. */
  append(metrics: Metrics): void {
    const g: Group = {
      resUrl: '',
      scopeName: '',
      scopeVersion: '',
      scopeAttrs: { keys: new Uint8Array(0), values: new Uint8Array(0), entries: 0 },
      scopeDropped: 0,
      scopeUrl: '',
      metric: undefined as unknown as Metric,
    };
    for (const rm of metrics.resourceMetrics) {
      for (const h of this.heads) h.pending = rm.resource.attributes;
      g.resUrl = rm.schemaUrl;
      for (const sm of rm.scopeMetrics) {
        g.scopeName = sm.scope.name;
        g.scopeVersion = sm.scope.version;
        g.scopeAttrs = encodeMap(sm.scope.attributes);
        g.scopeDropped = sm.scope.droppedAttributesCount;
        g.scopeUrl = sm.schemaUrl;
        for (const metric of sm.metrics) {
          g.metric = metric;
          const d = metric.data;
          switch (d.type) {
            case 'gauge':
              this.gauge.put(g, d.dataPoints, 0, false);
              break;
            case 'sum':
              this.sum.put(g, d.dataPoints, d.aggregationTemporality, d.isMonotonic);
              break;
            case 'histogram':
              this.histogram.put(g, d.dataPoints, d.aggregationTemporality);
              break;
            case 'exponentialHistogram':
              this.exponential.put(g, d.dataPoints, d.aggregationTemporality);
              break;
            case 'summary':
              this.summary.put(g, d.dataPoints);
              break;
            default:
              // 'empty': no points, nothing to store.
              break;
          }
        }
      }
    }
  }

  /** Empties every block. */
  reset(): void {
    for (const [, b] of this.blocks) b.reset();
  }
}
