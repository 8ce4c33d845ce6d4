/** The `ebpf` receiver. */
export { factory } from './factory';
export { EbpfReceiver, type EbpfReceiverStats } from './receiver';
export type { EbpfReceiverConfig } from './config';
