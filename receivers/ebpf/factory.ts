/**
 * The `ebpf` receiver factory: zero-code spans for every process on the host
 * from system calls (and OpenSSL for TLS), parsed with the build's protocols.
 */
import type { ReceiverFactory } from '../../pipeline/component';
import { config, validate, type EbpfReceiverConfig } from './config';
import { EbpfReceiver } from './receiver';

/** The ebpf receiver factory. */
export const factory: ReceiverFactory<EbpfReceiverConfig> = {
  kind: 'receiver',
  type: 'ebpf',
  description: 'Zero-code request spans of every process on the host from system calls and OpenSSL, through eBPF (Linux, root)',
  config,
  validate,
  stability: { traces: 'alpha' },
  create: (settings, cfg, next) => new EbpfReceiver(cfg, settings, next),
};
