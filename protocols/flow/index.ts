/**
 * Flows: the bidirectional flow table with TCP states and close types, L4
 * performance (RTT, SRT, ART, retransmissions, …), reassembly and L7
 * parsing wired per flow, and per-second/minute server aggregates. Shared by
 * the pcap receiver, `metaflow replay` and the conformance harness.
 */
export { FlowTable, Flow, ServerAggregate, FlowState, STATE_NAMES, CLOSE_TYPES, DEFAULT_FLOW_TABLE_OPTIONS, DEFAULT_FLOW_TIMEOUTS } from './table';
export type { FlowEvents, FlowL7Options, FlowPacketTime, FlowTableCounters, FlowTableOptions, FlowTimeouts } from './table';
export { TcpPerf, UdpPerf } from './perf';
export type { Counters } from './counters';
