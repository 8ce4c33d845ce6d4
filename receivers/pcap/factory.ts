/**
 * The `pcap` receiver factory: packet capture (live or from a file) into
 * L7 spans, flow logs and network metrics.
 */
import type { ReceiverFactory } from '../../pipeline/component';
import { config, validate, type PcapReceiverConfig } from './config';
import { PcapReceiver } from './receiver';

/** The pcap receiver factory. */
export const factory: ReceiverFactory<PcapReceiverConfig> = {
  kind: 'receiver',
  type: 'pcap',
  description: 'Packet capture (libpcap, or a pcap/pcapng file): L7 sessions as spans, flow logs, network metrics',
  config,
  validate,
  stability: { traces: 'alpha', metrics: 'alpha', logs: 'alpha' },
  create: (settings, cfg, next) => new PcapReceiver(cfg, settings, next),
};
