/**
 * The `otlp` receiver: OTLP over gRPC and HTTP for traces, metrics and logs.
 * One instance serves every pipeline it is named in; it registers only the
 * signals some pipeline takes from it (gRPC answers UNIMPLEMENTED, HTTP 404
 * for the others).
 */
import type { Component, ReceiverFactory } from '../../pipeline/component';
import { config, validate, type OtlpReceiverConfig } from './config';
import { GrpcTransport } from './grpc';
import { HttpTransport } from './http';

/** The running receiver. */
export class OtlpReceiver implements Component {
  readonly grpc: GrpcTransport | undefined;
  readonly http: HttpTransport | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    cfg: OtlpReceiverConfig,
    settings: Parameters<ReceiverFactory['create']>[0],
    next: Parameters<ReceiverFactory['create']>[2],
  ) {
    const { grpc, http } = cfg.protocols;
    if (grpc) this.grpc = new GrpcTransport(grpc, next, settings.telemetry, settings.logger);
    if (http) this.http = new HttpTransport(http, next, settings.telemetry, settings.logger);
  }

  async start(): Promise<void> {
    await this.grpc?.start();
    await this.http?.start();
  }

  shutdown(): Promise<void> {
    this.stopping ??= Promise.all([this.grpc?.shutdown(), this.http?.shutdown()]).then(() => undefined);
    return this.stopping;
  }
}

/** The otlp receiver factory. */
export const factory: ReceiverFactory<OtlpReceiverConfig> = {
  kind: 'receiver',
  type: 'otlp',
  description: 'OTLP over gRPC (4317) and HTTP (4318): traces, metrics, logs',
  config,
  validate,
  stability: { traces: 'beta', metrics: 'beta', logs: 'beta' },
  endpoints: (cfg) => [
    ...(cfg.protocols.grpc ? [{ path: 'protocols::grpc::endpoint', endpoint: cfg.protocols.grpc.endpoint }] : []),
    ...(cfg.protocols.http ? [{ path: 'protocols::http::endpoint', endpoint: cfg.protocols.http.endpoint }] : []),
  ],
  create: (settings, cfg, next) => new OtlpReceiver(cfg, settings, next),
};
