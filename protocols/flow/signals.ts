/**
 * Flows as OpenTelemetry signals: the one place that says how a flow log
 * becomes a log record and how server aggregates become metrics. The pcap
 * receiver encodes with it; storage (the ClickHouse exporter's `flow_log`
 * and `network_metrics` tables) decodes with the same tables, so the names
 * below are a contract.
 *
 * Flow logs: one log record per flow and interval (and one when the flow
 * ends), `eventName` {@link FLOW_LOG_EVENT}, time = end of the interval,
 * attributes:
 * - `network.transport`, `network.type`, `client.address`, `client.port`,
 *   `server.address`, `server.port`, `network.interface.name`;
 * - `metaflow.signal_source` = `packet`, `metaflow.l7_protocol`;
 * - `metaflow.flow.id`, `.start_time`, `.interval_start` and `.end_time`
 *   (ns since the epoch: the flow's first packet, the start and the end of
 *   this record's interval; the counters cover the interval),
 *   `.state`, `.closed`, `.close_type` (when closed), `.tcp_flags_client`
 *   and `.tcp_flags_server` (OR of the flags each side sent);
 * - `metaflow.tunnel.type`/`.id` when the flow came through a tunnel,
 *   `metaflow.vlan` when tagged;
 * - the interval's counters ({@link FLOW_LOG_COUNTERS}), non-zero ones only:
 *   counts as integers, times in microseconds (`*_sum_us`, `*_max_us`) with
 *   their `*_count`.
 *
 * Network metrics: per server endpoint (attributes `server.address`,
 * `server.port`, `network.transport`) and per second and minute
 * (`metaflow.granularity` = `1s` | `1m`: pick one, never add the two),
 * delta sums ({@link NETWORK_METRICS}); directional ones carry
 * `network.io.direction` from the server's side: `receive` = sent by the
 * client, `transmit` = sent by the server. Times are histograms without
 * buckets (count, sum, max in µs). Zero values are left out.
 */
import { AggregationTemporality, type Attributes, type LogRecord, type Metric, type NumberDataPoint } from '../../pipeline/pdata';
import * as C from './counters';
import type { Flow, ServerAggregate } from './table';

/** `eventName` of flow-log records. */
export const FLOW_LOG_EVENT = 'metaflow.flow_log';
/** Prefix of network metric names. */
export const NETWORK_METRIC_PREFIX = 'metaflow.network.';
/** Attribute prefix of flow-log fields. */
export const FLOW_ATTR = 'metaflow.flow.';

/** One counter of a flow log: its slot, attribute key and storage column. */
export interface FlowLogCounter {
  slot: number;
  attribute: string;
  column: string;
  /** Times are stored in µs (Float64); counts are UInt64. */
  time: boolean;
}

const TIME_NAMES: Array<[number, string, string]> = [
  [C.RTT_CLIENT, 'rtt_client', 'RttClient'],
  [C.RTT_SERVER, 'rtt_server', 'RttServer'],
  [C.SRT, 'srt', 'Srt'],
  [C.ART, 'art', 'Art'],
  [C.CIT, 'cit', 'Cit'],
  [C.RTT, 'rtt', 'Rtt'],
];

/** The counters a flow log carries (the flow-event slots are aggregate-only). */
export const FLOW_LOG_COUNTERS: readonly FlowLogCounter[] = (() => {
  const out: FlowLogCounter[] = [];
  const plain: Array<[number, string]> = [
    [C.PKT_TX, 'ClientPackets'],
    [C.PKT_RX, 'ServerPackets'],
    [C.BYTE_TX, 'ClientBytes'],
    [C.BYTE_RX, 'ServerBytes'],
    [C.PAYLOAD_TX, 'ClientPayloadBytes'],
    [C.PAYLOAD_RX, 'ServerPayloadBytes'],
    [C.RETRANS_TX, 'ClientRetrans'],
    [C.RETRANS_RX, 'ServerRetrans'],
    [C.OOO_TX, 'ClientOutOfOrder'],
    [C.OOO_RX, 'ServerOutOfOrder'],
    [C.ZERO_WIN_TX, 'ClientZeroWindows'],
    [C.ZERO_WIN_RX, 'ServerZeroWindows'],
    [C.RST_TX, 'ClientResets'],
    [C.RST_RX, 'ServerResets'],
    [C.FIN, 'Fins'],
    [C.SYN, 'Syns'],
    [C.SYNACK, 'SynAcks'],
    [C.SYN_RETRANS, 'SynRetrans'],
    [C.SYNACK_RETRANS, 'SynAckRetrans'],
  ];
  for (const [slot, column] of plain) out.push({ slot, attribute: FLOW_ATTR + C.COUNTER_NAMES[slot], column, time: false });
  for (const [slot, name, column] of TIME_NAMES) {
    out.push({ slot, attribute: `${FLOW_ATTR}${name}_sum_us`, column: `${column}Sum`, time: true });
    out.push({ slot: slot + 1, attribute: `${FLOW_ATTR}${name}_count`, column: `${column}Count`, time: false });
    out.push({ slot: slot + 2, attribute: `${FLOW_ATTR}${name}_max_us`, column: `${column}Max`, time: true });
  }
  return out;
})();

/** One network metric: its name, unit and where its values come from. */
export interface NetworkMetricDef {
  name: string;
  unit: string;
  description: string;
  /** `sum`: one delta sum (two points, by direction, when `serverSlot` is set); `time`: a histogram from a time statistic. */
  kind: 'sum' | 'time';
  /** The slot (the client's, for directional ones; the sum slot of a time statistic). */
  slot: number;
  /** The server's slot of a directional sum, else -1. */
  serverSlot: number;
  /** Storage column base: directional `Client<col>`/`Server<col>`, times `<col>Sum|Count|Max`. */
  column: string;
}

function sum(name: string, unit: string, description: string, slot: number, column: string, serverSlot = -1): NetworkMetricDef {
  return { name: NETWORK_METRIC_PREFIX + name, unit, description, kind: 'sum', slot, serverSlot, column };
}
function time(name: string, description: string, slot: number, column: string): NetworkMetricDef {
  return { name: NETWORK_METRIC_PREFIX + name, unit: 'us', description, kind: 'time', slot, serverSlot: -1, column };
}

/** Every network metric; see the module doc. */
export const NETWORK_METRICS: readonly NetworkMetricDef[] = [
  sum('packets', '{packet}', 'Packets, by direction.', C.PKT_TX, 'Packets', C.PKT_RX),
  sum('bytes', 'By', 'Bytes on the wire (frames), by direction.', C.BYTE_TX, 'Bytes', C.BYTE_RX),
  sum('payload_bytes', 'By', 'Transport payload bytes, by direction.', C.PAYLOAD_TX, 'PayloadBytes', C.PAYLOAD_RX),
  sum('retransmissions', '{segment}', 'TCP retransmissions (SYN and SYN-ACK repeats included), by direction.', C.RETRANS_TX, 'Retrans', C.RETRANS_RX),
  sum('out_of_order', '{segment}', 'TCP segments that filled a hole, by direction.', C.OOO_TX, 'OutOfOrder', C.OOO_RX),
  sum('zero_windows', '{segment}', 'TCP segments advertising a zero window, by direction.', C.ZERO_WIN_TX, 'ZeroWindows', C.ZERO_WIN_RX),
  sum('resets', '{segment}', 'TCP segments with RST, by direction.', C.RST_TX, 'Resets', C.RST_RX),
  sum('fins', '{segment}', 'TCP segments with FIN.', C.FIN, 'Fins'),
  sum('syns', '{segment}', 'SYN segments (first ones and repeats).', C.SYN, 'Syns'),
  sum('syn_acks', '{segment}', 'SYN-ACK segments (first ones and repeats).', C.SYNACK, 'SynAcks'),
  sum('syn.retransmissions', '{segment}', 'Repeated SYNs: clients retrying the handshake.', C.SYN_RETRANS, 'SynRetrans'),
  sum('syn_ack.retransmissions', '{segment}', 'Repeated SYN-ACKs.', C.SYNACK_RETRANS, 'SynAckRetrans'),
  sum('flows.new', '{flow}', 'Flows that started.', C.NEW_FLOWS, 'NewFlows'),
  sum('flows.closed', '{flow}', 'Flows that ended.', C.CLOSED_FLOWS, 'ClosedFlows'),
  sum('connection.failures', '{flow}', 'TCP connections that failed to establish (unanswered or reset handshakes, port reuse, server queue overflow).', C.FAILED_FLOWS, 'FailedFlows'),
  sum('flows.timeout', '{flow}', 'Flows that ended by idle timeout.', C.TIMEOUT_FLOWS, 'TimeoutFlows'),
  sum('flows.reset', '{flow}', 'TCP flows that ended with a reset.', C.RESET_FLOWS, 'ResetFlows'),
  time('rtt', 'TCP handshake time: first SYN to the client ACK.', C.RTT, 'Rtt'),
  time('rtt.client', 'Client-side RTT: SYN-ACK to the client ACK.', C.RTT_CLIENT, 'RttClient'),
  time('rtt.server', 'Server-side RTT: SYN to SYN-ACK.', C.RTT_SERVER, 'RttServer'),
  time('srt', 'Server response time: client data to the server TCP ACK.', C.SRT, 'Srt'),
  time('art', 'Application response time: client data to the first server data after it.', C.ART, 'Art'),
  time('cit', 'Client idle time before a request.', C.CIT, 'Cit'),
];

/** `network.io.direction` values: from the server's side. */
export const DIRECTION_CLIENT = 'receive';
export const DIRECTION_SERVER = 'transmit';

/** Attributes describing a flow (no counters). */
export function flowAttributes(flow: Flow): Attributes {
  const a: Attributes = {
    'network.transport': flow.transport,
    'network.type': flow.ipVersion === 6 ? 'ipv6' : 'ipv4',
    'client.address': flow.client_ip,
    'client.port': flow.client_port,
    'server.address': flow.server_ip,
    'server.port': flow.server_port,
    'metaflow.signal_source': 'packet',
    [`${FLOW_ATTR}id`]: flow.id,
  };
  if (flow.iface) a['network.interface.name'] = flow.iface;
  const l7 = flow.l7Protocol;
  if (l7) a['metaflow.l7_protocol'] = l7;
  if (flow.tunnelType !== 0) {
    a['metaflow.tunnel.type'] = flow.tunnelName;
    a['metaflow.tunnel.id'] = flow.tunnelId;
  }
  if (flow.vlan >= 0) a['metaflow.vlan'] = flow.vlan;
  return a;
}

/**
 * The log record of one flow log: counters from `flow.interval`, times as
 * absolute ns (`start` = the flow's first packet, the interval
 * [`intervalStart`, `end`)).
 */
export function flowLogRecord(flow: Flow, start: bigint, intervalStart: bigint, end: bigint, final: boolean, observed: bigint): LogRecord {
  const a = flowAttributes(flow);
  a[`${FLOW_ATTR}start_time`] = start;
  a[`${FLOW_ATTR}interval_start`] = intervalStart;
  a[`${FLOW_ATTR}end_time`] = end;
  a[`${FLOW_ATTR}state`] = flow.stateName;
  a[`${FLOW_ATTR}closed`] = final;
  if (final) a[`${FLOW_ATTR}close_type`] = flow.closeTypeName;
  if (flow.protocol === 6) {
    a[`${FLOW_ATTR}tcp_flags_client`] = flow.flagsTx;
    a[`${FLOW_ATTR}tcp_flags_server`] = flow.flagsRx;
  }
  const c = flow.interval;
  for (const k of FLOW_LOG_COUNTERS) {
    const v = c[k.slot];
    if (v !== 0) a[k.attribute] = k.time ? v / 1000 : v;
  }
  return {
    timeUnixNano: end,
    observedTimeUnixNano: observed,
    severityNumber: 0,
    severityText: '',
    body: `${flow.transport} ${flow.client_ip}:${flow.client_port} -> ${flow.server_ip}:${flow.server_port}${final ? ` ${flow.closeTypeName}` : ''}`,
    attributes: a,
    droppedAttributesCount: 0,
    flags: 0,
    traceId: '',
    spanId: '',
    eventName: FLOW_LOG_EVENT,
  };
}

/**
 * The network metrics of one report: `which` counters (`second` or
 * `minute`) of each aggregate over [start, end).
 */
export function networkMetrics(granularity: '1s' | '1m', start: bigint, end: bigint, aggregates: readonly ServerAggregate[], which: 'second' | 'minute'): Metric[] {
  const base: Attributes[] = [];
  const recv: Attributes[] = [];
  const send: Attributes[] = [];
  for (const agg of aggregates) {
    const a: Attributes = agg.overflow
      ? { 'otel.metric.overflow': true, 'metaflow.granularity': granularity }
      : { 'server.address': agg.serverIp, 'server.port': agg.serverPort, 'network.transport': agg.transport, 'metaflow.granularity': granularity };
    base.push(a);
    recv.push({ ...a, 'network.io.direction': DIRECTION_CLIENT });
    send.push({ ...a, 'network.io.direction': DIRECTION_SERVER });
  }
  const out: Metric[] = [];
  for (const def of NETWORK_METRICS) {
    if (def.kind === 'sum') {
      const points: NumberDataPoint[] = [];
      for (let i = 0; i < aggregates.length; i++) {
        const c = aggregates[i][which];
        const v = c[def.slot];
        if (def.serverSlot < 0) {
          if (v !== 0) points.push(point(base[i], start, end, v));
          continue;
        }
        if (v !== 0) points.push(point(recv[i], start, end, v));
        const w = c[def.serverSlot];
        if (w !== 0) points.push(point(send[i], start, end, w));
      }
      if (points.length) {
        out.push({
          name: def.name,
          description: def.description,
          unit: def.unit,
          metadata: {},
          data: { type: 'sum', dataPoints: points, aggregationTemporality: AggregationTemporality.DELTA, isMonotonic: true },
        });
      }
    } else {
      const points = [];
      for (let i = 0; i < aggregates.length; i++) {
        const c = aggregates[i][which];
        const n = c[def.slot + 1];
        if (n === 0) continue;
        points.push({
          attributes: base[i],
          startTimeUnixNano: start,
          timeUnixNano: end,
          exemplars: [],
          flags: 0,
          count: n,
          sum: c[def.slot] / 1000,
          bucketCounts: [n],
          explicitBounds: [],
          max: c[def.slot + 2] / 1000,
        });
      }
      if (points.length) {
        out.push({
          name: def.name,
          description: def.description,
          unit: def.unit,
          metadata: {},
          data: { type: 'histogram', dataPoints: points, aggregationTemporality: AggregationTemporality.DELTA },
        });
      }
    }
  }
  return out;
}

function point(attributes: Attributes, start: bigint, end: bigint, value: number): NumberDataPoint {
  return { attributes, startTimeUnixNano: start, timeUnixNano: end, exemplars: [], flags: 0, value, isInt: true };
}
