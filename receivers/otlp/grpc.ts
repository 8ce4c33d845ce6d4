/**
 * OTLP over gRPC: the three Export services, registered by path with raw
 * Buffer (de)serializers so that only our codec touches the bytes. grpc-js
 * itself handles gzip (`grpc-encoding`) and refuses messages over
 * `max_recv_msg_size_mib` with RESOURCE_EXHAUSTED.
 */
import * as grpc from '@grpc/grpc-js';
import type { Consumer, Consumers } from '../../pipeline/component';
import { parsePeer, setClientInfo } from '../../pipeline/clientinfo';
import { errorMessage } from '../../pipeline/errors';
import type { Logger } from '../../pipeline/logger';
import type { Signal } from '../../pipeline/pdata';
import type { ComponentTelemetry } from '../../pipeline/telemetry';
import { readTlsFile } from '../../pipeline/net/tls';
import { CODECS } from './codecs';
import type { GrpcConfig } from './config';
import { ingest, type Outcome } from './ingest';
import { encodeStatus, GrpcCode } from './status';

const identity = (b: Buffer): Buffer => b;

function serviceFor(path: string): grpc.ServiceDefinition {
  return {
    Export: {
      path,
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
      originalName: 'export',
    },
  };
}

function failure(outcome: Extract<Outcome, { ok: false }>): grpc.ServiceError {
  const code = outcome.kind === 'invalid' ? GrpcCode.INVALID_ARGUMENT : outcome.kind === 'exhausted' ? GrpcCode.RESOURCE_EXHAUSTED : GrpcCode.UNAVAILABLE;
  const metadata = new grpc.Metadata();
  metadata.set('grpc-status-details-bin', encodeStatus(code, outcome.message, outcome.retryAfterMs));
  return Object.assign(new Error(outcome.message), { code, details: outcome.message, metadata });
}

/** The gRPC half of the receiver. */
export class GrpcTransport {
  private server: grpc.Server | undefined;
  private boundPort = 0;

  constructor(
    private readonly cfg: GrpcConfig,
    private readonly next: Consumers,
    private readonly telemetry: ComponentTelemetry,
    private readonly logger: Logger,
  ) {}

  /** The bound port (after start); useful when the endpoint asks for port 0. */
  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const options: grpc.ServerOptions = { 'grpc.max_receive_message_length': Math.floor(this.cfg.max_recv_msg_size_mib * 1024 * 1024) };
    if (this.cfg.max_concurrent_streams > 0) options['grpc.max_concurrent_streams'] = this.cfg.max_concurrent_streams;
    const server = new grpc.Server(options);
    for (const signal of ['traces', 'metrics', 'logs'] as Signal[]) {
      const next = this.next[signal] as Consumer | undefined;
      if (next) server.addService(serviceFor(CODECS[signal].grpcPath), { Export: this.handler(signal, next) });
    }
    const creds = this.credentials();
    this.boundPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(this.cfg.endpoint, creds, (err, port) => (err ? reject(new Error(`protocols::grpc: cannot listen on ${this.cfg.endpoint}: ${err.message}`)) : resolve(port))),
    );
    this.server = server;
  }

  private credentials(): grpc.ServerCredentials {
    const tls = this.cfg.tls;
    if (!tls) return grpc.ServerCredentials.createInsecure();
    const ca = tls.client_ca_file ? readTlsFile('client_ca_file', tls.client_ca_file) : null;
    return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: readTlsFile('cert_file', tls.cert_file), private_key: readTlsFile('key_file', tls.key_file) }], !!ca);
  }

  private handler(signal: Signal, next: Consumer): grpc.handleUnaryCall<Buffer, Buffer> {
    const codec = CODECS[signal];
    return (call, callback) => {
      let data;
      try {
        data = codec.decodeProto(call.request);
      } catch (err) {
        this.telemetry.dropped(signal, 1, 'malformed');
        this.logger.every(`grpc-decode-${signal}`, 60000, 'warn', `refused malformed OTLP/gRPC ${signal} request`, { error: errorMessage(err) });
        callback(failure({ ok: false, kind: 'invalid', message: errorMessage(err) }));
        return;
      }
      const peer = parsePeer(call.getPeer());
      if (peer) setClientInfo(data, peer);
      ingest(signal, data, next, this.telemetry, 'grpc').then(
        (outcome) => {
          if (outcome.ok) callback(null, Buffer.from(codec.responseProto(outcome.rejected, outcome.message)));
          else callback(failure(outcome));
        },
        (err: unknown) => callback(failure({ ok: false, kind: 'unavailable', message: errorMessage(err) })),
      );
    };
  }

  /** Stops accepting calls and waits (up to 10 s) for those in flight. */
  async shutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 10000);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
