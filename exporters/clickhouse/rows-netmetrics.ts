/**
 * Network metrics → the `network_metrics` Native block: the points of the
 * `metaflow.network.*` metrics pivoted into one row per (interval start,
 * granularity, host, server ip, port, transport).
 *
 * A directional sum goes to `Client<col>` (`network.io.direction` =
 * receive: sent by the client) or `Server<col>` (transmit); a time
 * histogram to `<col>Sum`, `<col>Count` and `<col>Max`. Points of the same
 * row within one batch are added (max taken for `Max`). Metrics outside the
 * contract (protocols/flow/signals.ts) are not written here.
 */
import type { AnyValue, Metrics } from '../../pipeline/pdata';
import { anyValueToString } from '../../pipeline/pdata';
import { DIRECTION_SERVER, NETWORK_METRIC_PREFIX, NETWORK_METRICS, type NetworkMetricDef } from '../../protocols/flow/signals';
import { Float64Column, Int64Column, NativeBlock, StringColumn, UInt32Column, UInt8Column, type Column } from './native';
import { networkCounterColumns } from './schema-network';

/** Whether a metric goes to `network_metrics`. */
export function isNetworkMetric(name: string): boolean {
  return name.startsWith(NETWORK_METRIC_PREFIX) && DEFS.has(name);
}

/** Whether a batch holds network metrics. */
export function hasNetworkMetrics(m: Metrics): boolean {
  for (const rm of m.resourceMetrics) for (const sm of rm.scopeMetrics) for (const metric of sm.metrics) if (isNetworkMetric(metric.name)) return true;
  return false;
}

/** The batch without its network metrics (new group objects; the batch itself is not changed). */
export function withoutNetworkMetrics(m: Metrics): Metrics {
  return {
    resourceMetrics: m.resourceMetrics
      .map((rm) => ({ ...rm, scopeMetrics: rm.scopeMetrics.map((sm) => ({ ...sm, metrics: sm.metrics.filter((x) => !isNetworkMetric(x.name)) })).filter((sm) => sm.metrics.length > 0) }))
      .filter((rm) => rm.scopeMetrics.length > 0),
  };
}

const COLUMNS = networkCounterColumns();
const COLUMN_INDEX = new Map(COLUMNS.map(([name], i) => [name, i]));

/** Where a metric's values go: column indexes. */
interface Target {
  def: NetworkMetricDef;
  /** sum: [client or plain, server]; time: [sum, count, max]. */
  cols: number[];
}

const DEFS = new Map<string, Target>(
  NETWORK_METRICS.map((def) => {
    const col = (n: string) => COLUMN_INDEX.get(n) as number;
    const cols = def.kind === 'time' ? [col(`${def.column}Sum`), col(`${def.column}Count`), col(`${def.column}Max`)] : def.serverSlot >= 0 ? [col(`Client${def.column}`), col(`Server${def.column}`)] : [col(def.column)];
    return [def.name, { def, cols }];
  }),
);

interface Row {
  sec: number;
  granularity: string;
  host: string;
  ip: string;
  port: number;
  transport: string;
  overflow: boolean;
  values: Float64Array;
}

function str(v: AnyValue | undefined): string {
  return v === undefined ? '' : anyValueToString(v);
}

/** Builds `network_metrics` blocks; reuse one instance for many batches (call `block.reset()` between). */
export class NetMetricRows {
  private readonly timestamp = new UInt32Column('Timestamp', 'DateTime');
  private readonly granularity = new StringColumn('Granularity');
  private readonly hostName = new StringColumn('HostName');
  private readonly serverIp = new StringColumn('ServerIp');
  private readonly serverPort = new UInt32Column('ServerPort');
  private readonly transport = new StringColumn('Transport');
  private readonly overflow = new UInt8Column('Overflow', 'Bool');
  private readonly values: Array<Int64Column | Float64Column> = COLUMNS.map(([name, type]) => (type === 'Float64' ? new Float64Column(name) : new Int64Column(name, 'UInt64')));

  /** The block the rows go to. */
  readonly block = new NativeBlock([this.timestamp, this.granularity, this.hostName, this.serverIp, this.serverPort, this.transport, this.overflow, ...(this.values as Column[])]);

  /** Appends the network metrics of the batch, one row per endpoint, granularity and interval. */
  append(metrics: Metrics): void {
    const rows = new Map<string, Row>();
    for (const rm of metrics.resourceMetrics) {
      const host = str(rm.resource.attributes['host.name']);
      for (const sm of rm.scopeMetrics) {
        for (const metric of sm.metrics) {
          const target = DEFS.get(metric.name);
          if (target === undefined) continue;
          const data = metric.data;
          if (data.type === 'sum' || data.type === 'gauge') {
            for (const p of data.dataPoints) {
              const row = this.rowFor(rows, p.attributes, p.startTimeUnixNano || p.timeUnixNano, host);
              const v = typeof p.value === 'bigint' ? Number(p.value) : p.value;
              const col = target.cols.length === 2 && p.attributes['network.io.direction'] === DIRECTION_SERVER ? target.cols[1] : target.cols[0];
              row.values[col] += v;
            }
          } else if (data.type === 'histogram' && target.def.kind === 'time') {
            for (const p of data.dataPoints) {
              const row = this.rowFor(rows, p.attributes, p.startTimeUnixNano || p.timeUnixNano, host);
              const [sumCol, countCol, maxCol] = target.cols;
              row.values[sumCol] += p.sum ?? 0;
              row.values[countCol] += p.count;
              if ((p.max ?? 0) > row.values[maxCol]) row.values[maxCol] = p.max ?? 0;
            }
          }
        }
      }
    }
    for (const row of rows.values()) {
      this.timestamp.put(row.sec);
      this.granularity.put(row.granularity);
      this.hostName.put(row.host);
      this.serverIp.put(row.ip);
      this.serverPort.put(row.port);
      this.transport.put(row.transport);
      this.overflow.put(row.overflow ? 1 : 0);
      for (let i = 0; i < this.values.length; i++) {
        const col = this.values[i];
        const v = row.values[i];
        if (col instanceof Float64Column) col.put(v);
        else col.putUnsigned(v > 0 ? Math.round(v) : 0);
      }
    }
  }

  private rowFor(rows: Map<string, Row>, a: Record<string, AnyValue>, startNs: bigint, host: string): Row {
    const sec = Number(startNs / 1_000_000_000n);
    const granularity = str(a['metaflow.granularity']);
    const ip = str(a['server.address']);
    const port = typeof a['server.port'] === 'number' ? a['server.port'] : Number(str(a['server.port'])) || 0;
    const transport = str(a['network.transport']);
    const overflow = a['otel.metric.overflow'] === true;
    const key = `${sec}|${granularity}|${host}|${ip}|${port}|${transport}|${overflow}`;
    let row = rows.get(key);
    if (!row) {
      row = { sec, granularity, host, ip, port, transport, overflow, values: new Float64Array(COLUMNS.length) };
      rows.set(key, row);
    }
    return row;
  }
}
