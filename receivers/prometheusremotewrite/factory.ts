/**
 * The `prometheusremotewrite` receiver: Prometheus remote write 1.0 and 2.0
 * into the metrics pipeline (see receiver.ts for the protocol, translate.ts
 * for how series become metrics). One instance serves every metrics pipeline
 * it is named in.
 */
import type { Component, CreateSettings, ReceiverFactory } from '../../pipeline/component';
import type { Consumers } from '../../pipeline/component';
import { config, type PrwReceiverConfig } from './config';
import { RemoteWriteServer } from './receiver';

/** The running receiver. */
export class PrometheusRemoteWriteReceiver implements Component {
  readonly server: RemoteWriteServer;
  private stopping: Promise<void> | undefined;

  constructor(cfg: PrwReceiverConfig, settings: CreateSettings, next: Consumers) {
    this.server = new RemoteWriteServer(cfg, next, settings.telemetry, settings.logger);
  }

  async start(): Promise<void> {
    await this.server.start();
  }

  shutdown(): Promise<void> {
    this.stopping ??= this.server.shutdown();
    return this.stopping;
  }
}

/** The prometheusremotewrite receiver factory. */
export const factory: ReceiverFactory<PrwReceiverConfig> = {
  kind: 'receiver',
  type: 'prometheusremotewrite',
  aliases: ['prometheus_remote_write'],
  description: 'Prometheus remote write 1.0 and 2.0 (snappy protobuf on /api/v1/write, 9201): samples, native histograms, exemplars, metadata',
  config,
  stability: { metrics: 'alpha' },
  endpoints: (cfg) => [{ path: 'endpoint', endpoint: cfg.endpoint }],
  create: (settings, cfg, next) => new PrometheusRemoteWriteReceiver(cfg, settings, next),
};
