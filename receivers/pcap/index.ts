/** The `pcap` receiver. */
export { factory } from './factory';
export { PcapReceiver } from './receiver';
export type { PcapReceiverStats } from './receiver';
