/**
 * Flow-log records → the `flow_log` Native block, one row per record.
 *
 * Flow logs are the log records whose `eventName` is `metaflow.flow_log`
 * (protocols/flow/signals.ts says which attributes they carry). Each known
 * attribute becomes its column (absent ones: 0 or ''); attributes outside
 * the contract go to the `Attributes` map, so nothing is lost. `HostName`
 * is the resource's `host.name`.
 */
import type { AnyValue, Attributes, Logs, ResourceLogs, ScopeLogs } from '../../pipeline/pdata';
import { anyValueToString } from '../../pipeline/pdata';
import { FLOW_ATTR, FLOW_LOG_COUNTERS, FLOW_LOG_EVENT } from '../../protocols/flow/signals';
import { Float64Column, Int32Column, Int64Column, MapColumn, NativeBlock, StringColumn, UInt32Column, UInt8Column, type Column } from './native';
import { PlainResourceColumns, putValue, type ResourceColumns } from './rows';

const A_INTERVAL_START = `${FLOW_ATTR}interval_start`;
const A_START = `${FLOW_ATTR}start_time`;
const A_ID = `${FLOW_ATTR}id`;
const A_STATE = `${FLOW_ATTR}state`;
const A_CLOSED = `${FLOW_ATTR}closed`;
const A_CLOSE_TYPE = `${FLOW_ATTR}close_type`;
const A_FLAGS_CLIENT = `${FLOW_ATTR}tcp_flags_client`;
const A_FLAGS_SERVER = `${FLOW_ATTR}tcp_flags_server`;

/** Attributes that have their own column (everything else goes to `Attributes`). */
const PIVOTED = new Set<string>([
  A_INTERVAL_START,
  A_START,
  `${FLOW_ATTR}end_time`,
  A_ID,
  A_STATE,
  A_CLOSED,
  A_CLOSE_TYPE,
  A_FLAGS_CLIENT,
  A_FLAGS_SERVER,
  'network.interface.name',
  'network.transport',
  'network.type',
  'client.address',
  'client.port',
  'server.address',
  'server.port',
  'metaflow.l7_protocol',
  'metaflow.tunnel.type',
  'metaflow.tunnel.id',
  'metaflow.vlan',
  'metaflow.signal_source',
  ...FLOW_LOG_COUNTERS.map((k) => k.attribute),
]);

function num(v: AnyValue | undefined): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && v !== '') return Number(v) || 0;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return 0;
}

function big(v: AnyValue | undefined): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return BigInt(Math.trunc(v));
  if (typeof v === 'string' && /^\d+$/.test(v)) return BigInt(v);
  return 0n;
}

function str(v: AnyValue | undefined): string {
  return v === undefined ? '' : anyValueToString(v);
}

/** Whether a batch holds flow logs. */
export function hasFlowLogs(logs: Logs): boolean {
  for (const rl of logs.resourceLogs) for (const sl of rl.scopeLogs) for (const r of sl.logRecords) if (r.eventName === FLOW_LOG_EVENT) return true;
  return false;
}

/**
 * Splits a batch into its flow logs and the other records (new group
 * objects sharing the records; the batch itself is not changed).
 */
export function splitFlowLogs(logs: Logs): { flow: Logs; other: Logs } {
  const flow: ResourceLogs[] = [];
  const other: ResourceLogs[] = [];
  for (const rl of logs.resourceLogs) {
    const f: ScopeLogs[] = [];
    const o: ScopeLogs[] = [];
    for (const sl of rl.scopeLogs) {
      const fr = sl.logRecords.filter((r) => r.eventName === FLOW_LOG_EVENT);
      if (fr.length) f.push({ ...sl, logRecords: fr });
      if (fr.length < sl.logRecords.length) o.push({ ...sl, logRecords: sl.logRecords.filter((r) => r.eventName !== FLOW_LOG_EVENT) });
    }
    if (f.length) flow.push({ ...rl, scopeLogs: f });
    if (o.length) other.push({ ...rl, scopeLogs: o });
  }
  return { flow: { resourceLogs: flow }, other: { resourceLogs: other } };
}

/**
 * How `flow_log` stores its resource and the attributes outside the
 * pivoted columns: {@link PlainFlowLogEncoding}'s maps, or SmartEncoding's
 * ids (rows-smart.ts).
 */
export interface FlowLogEncoding {
  /** The resource's columns, in place of `ResourceAttributes`. */
  readonly resource: ResourceColumns;
  /** Columns after `Attributes`. */
  readonly extraColumns: readonly Column[];
  /** Takes an attribute into the extra columns; false leaves it to `Attributes`. */
  takeAttribute(key: string, value: AnyValue): boolean;
  /** Ends the row of the extra columns. */
  endRow(): void;
}

/** The resource as a `ResourceAttributes` map on every row; every attribute in `Attributes`. */
export class PlainFlowLogEncoding implements FlowLogEncoding {
  readonly resource = new PlainResourceColumns(false);
  readonly extraColumns: readonly Column[] = [];

  takeAttribute(): boolean {
    return false;
  }

  endRow(): void {}
}

/** Builds `flow_log` blocks; reuse one instance for many batches (call `block.reset()` between). */
export class FlowLogRows {
  private readonly timestamp = new Int64Column('Timestamp', 'DateTime64(9)');
  private readonly intervalStart = new Int64Column('IntervalStart', 'DateTime64(9)');
  private readonly startTime = new Int64Column('StartTime', 'DateTime64(9)');
  private readonly duration = new Int64Column('Duration', 'UInt64');
  private readonly hostName = new StringColumn('HostName');
  private readonly flowId = new Int64Column('FlowId', 'UInt64');
  private readonly iface = new StringColumn('Interface');
  private readonly transport = new StringColumn('Transport');
  private readonly ipVersion = new UInt8Column('IpVersion');
  private readonly clientIp = new StringColumn('ClientIp');
  private readonly clientPort = new UInt32Column('ClientPort');
  private readonly serverIp = new StringColumn('ServerIp');
  private readonly serverPort = new UInt32Column('ServerPort');
  private readonly l7 = new StringColumn('L7Protocol');
  private readonly tunnelType = new StringColumn('TunnelType');
  private readonly tunnelId = new UInt32Column('TunnelId');
  private readonly vlan = new Int32Column('Vlan');
  private readonly state = new StringColumn('State');
  private readonly closed = new UInt8Column('Closed', 'Bool');
  private readonly closeType = new StringColumn('CloseType');
  private readonly flagsClient = new UInt32Column('TcpFlagsClient');
  private readonly flagsServer = new UInt32Column('TcpFlagsServer');
  /** Counter columns, in FLOW_LOG_COUNTERS order. */
  private readonly counters: Array<Int64Column | Float64Column> = FLOW_LOG_COUNTERS.map((k) => (k.time ? new Float64Column(k.column) : new Int64Column(k.column, 'UInt64')));
  private readonly attributes = new MapColumn('Attributes');

  /** The block the rows go to. */
  readonly block: NativeBlock;

  constructor(private readonly enc: FlowLogEncoding = new PlainFlowLogEncoding()) {
    this.block = new NativeBlock([
      this.timestamp,
      this.intervalStart,
      this.startTime,
      this.duration,
      this.hostName,
      this.flowId,
      this.iface,
      this.transport,
      this.ipVersion,
      this.clientIp,
      this.clientPort,
      this.serverIp,
      this.serverPort,
      this.l7,
      this.tunnelType,
      this.tunnelId,
      this.vlan,
      this.state,
      this.closed,
      this.closeType,
      this.flagsClient,
      this.flagsServer,
      ...(this.counters as Column[]),
      ...enc.resource.columns,
      this.attributes,
      ...enc.extraColumns,
    ]);
  }

  /** Appends every flow-log record of the batch (other records are skipped). */
  append(logs: Logs): void {
    for (const rl of logs.resourceLogs) {
      const res = rl.resource.attributes;
      let grouped = false;
      const host = str(res['host.name']);
      for (const sl of rl.scopeLogs) {
        for (const r of sl.logRecords) {
          if (r.eventName !== FLOW_LOG_EVENT) continue;
          if (!grouped) {
            this.enc.resource.group(res);
            grouped = true;
          }
          this.row(r.timeUnixNano === 0n ? r.observedTimeUnixNano : r.timeUnixNano, r.attributes, host);
        }
      }
    }
  }

  private row(end: bigint, a: Attributes, host: string): void {
    const start = big(a[A_START]);
    this.timestamp.putTime(end);
    this.intervalStart.putTime(big(a[A_INTERVAL_START]) || start);
    this.startTime.putTime(start);
    this.duration.putDuration(start, end);
    this.hostName.put(host);
    this.flowId.putUnsigned(num(a[A_ID]));
    this.iface.put(str(a['network.interface.name']));
    this.transport.put(str(a['network.transport']));
    this.ipVersion.put(a['network.type'] === 'ipv6' ? 6 : 4);
    this.clientIp.put(str(a['client.address']));
    this.clientPort.put(num(a['client.port']));
    this.serverIp.put(str(a['server.address']));
    this.serverPort.put(num(a['server.port']));
    this.l7.put(str(a['metaflow.l7_protocol']));
    this.tunnelType.put(str(a['metaflow.tunnel.type']));
    this.tunnelId.put(num(a['metaflow.tunnel.id']));
    this.vlan.put(a['metaflow.vlan'] === undefined ? -1 : num(a['metaflow.vlan']));
    this.state.put(str(a[A_STATE]));
    this.closed.put(a[A_CLOSED] === true ? 1 : 0);
    this.closeType.put(str(a[A_CLOSE_TYPE]));
    this.flagsClient.put(num(a[A_FLAGS_CLIENT]));
    this.flagsServer.put(num(a[A_FLAGS_SERVER]));
    for (let i = 0; i < FLOW_LOG_COUNTERS.length; i++) {
      const v = num(a[FLOW_LOG_COUNTERS[i].attribute]);
      const col = this.counters[i];
      if (col instanceof Float64Column) col.put(v);
      else col.putUnsigned(v > 0 ? Math.round(v) : 0);
    }
    const enc = this.enc;
    enc.resource.putRow();
    const m = this.attributes;
    for (const k in a) {
      if (PIVOTED.has(k) || enc.takeAttribute(k, a[k])) continue;
      m.keys.put(k);
      putValue(m.values, a[k]);
    }
    m.endRow();
    enc.endRow();
  }
}
