/**
 * The `otlp` exporter: OTLP over gRPC to any OTLP backend (another MetaFlow,
 * an OpenTelemetry Collector, Jaeger, Tempo, …), with the shared sending
 * queue and retry. Server answers map to retries as the OTLP spec says:
 * UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, DATA_LOSS, CANCELLED
 * and RESOURCE_EXHAUSTED with a RetryInfo hint are retried (honouring the
 * hint); everything else is permanent. A partial success is logged, not retried.
 */
import * as grpc from '@grpc/grpc-js';
import type { Consumer, Consumers, Exporter, ExporterFactory } from '../../pipeline/component';
import { PermanentError, RetryableError } from '../../pipeline/errors';
import { ExportQueue } from '../../pipeline/exporterhelper';
import { readTlsFile } from '../../pipeline/net/tls';
import {
  decodeLogsResponse,
  decodeMetricsResponse,
  decodeTracesResponse,
  encodeLogsRequest,
  encodeMetricsRequest,
  encodeTracesRequest,
} from '../../pipeline/otlp';
import type { Signal, SignalData } from '../../pipeline/pdata';
import { config, validate, type OtlpExporterConfig } from './config';
import { retryDelayFromStatus } from './retryinfo';

const PATH: Record<Signal, string> = {
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  metrics: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
};

const ENCODE: { [S in Signal]: (d: SignalData[S]) => Uint8Array } = {
  traces: encodeTracesRequest,
  metrics: encodeMetricsRequest,
  logs: encodeLogsRequest,
};

const DECODE_RESPONSE: Record<Signal, (b: Uint8Array) => { rejected: number; errorMessage: string }> = {
  traces: decodeTracesResponse,
  metrics: decodeMetricsResponse,
  logs: decodeLogsResponse,
};

const RETRYABLE = new Set<number>([
  grpc.status.CANCELLED,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.ABORTED,
  grpc.status.OUT_OF_RANGE,
  grpc.status.UNAVAILABLE,
  grpc.status.DATA_LOSS,
]);

/** Maps a gRPC error to a retryable or permanent error, as the OTLP spec says. */
export function classifyGrpcError(err: grpc.ServiceError): Error {
  const details = err.metadata?.get('grpc-status-details-bin')?.[0];
  const hint = Buffer.isBuffer(details) ? retryDelayFromStatus(details) : undefined;
  const msg = `OTLP/gRPC export failed: ${grpc.status[err.code] ?? err.code}: ${err.details || err.message}`;
  if (RETRYABLE.has(err.code)) return new RetryableError('unavailable', msg, { retryAfterMs: hint ?? 0 });
  if (err.code === grpc.status.RESOURCE_EXHAUSTED && hint !== undefined) return new RetryableError('exhausted', msg, { retryAfterMs: hint });
  return new PermanentError(msg);
}

function credentials(cfg: OtlpExporterConfig): grpc.ChannelCredentials {
  const plaintext = cfg.endpoint.startsWith('http://') || (cfg.tls.insecure && !cfg.endpoint.startsWith('https://'));
  if (plaintext) return grpc.credentials.createInsecure();
  const t = cfg.tls;
  return grpc.credentials.createSsl(
    t.ca_file ? readTlsFile('ca_file', t.ca_file) : null,
    t.key_file ? readTlsFile('key_file', t.key_file) : null,
    t.cert_file ? readTlsFile('cert_file', t.cert_file) : null,
    t.insecure_skip_verify ? { checkServerIdentity: () => undefined, rejectUnauthorized: false } : undefined,
  );
}

/** The running exporter. */
class OtlpGrpcExporter implements Exporter {
  readonly consumers: Consumers = {};
  private client: grpc.Client | undefined;
  private readonly queues: ExportQueue<Signal>[] = [];
  private readonly metadata = new grpc.Metadata();

  constructor(
    private readonly cfg: OtlpExporterConfig,
    settings: Parameters<ExporterFactory['create']>[0],
    signals: ReadonlySet<Signal>,
  ) {
    for (const [k, v] of Object.entries(cfg.headers)) this.metadata.set(k.toLowerCase(), v);
    for (const signal of signals) {
      const queue = new ExportQueue<Signal>({
        signal,
        send: (data, abort) => this.send(signal, data, abort),
        queue: cfg.sending_queue,
        retry: cfg.retry_on_failure,
        timeoutMs: 0, // the gRPC deadline is the timeout
        telemetry: settings.telemetry,
        logger: settings.logger,
      });
      this.queues.push(queue);
      (this.consumers as Record<Signal, Consumer>)[signal] = queue as Consumer;
    }
    this.logger = settings.logger;
  }

  private readonly logger: Parameters<ExporterFactory['create']>[0]['logger'];

  async start(): Promise<void> {
    const target = this.cfg.endpoint.replace(/^https?:\/\//, '');
    const options: grpc.ChannelOptions = { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': 64 * 1024 * 1024 };
    if (this.cfg.compression === 'gzip') options['grpc.default_compression_algorithm'] = 2;
    if (this.cfg.tls.server_name_override) options['grpc.ssl_target_name_override'] = this.cfg.tls.server_name_override;
    this.client = new grpc.Client(target, credentials(this.cfg), options);
  }

  private send(signal: Signal, data: SignalData[Signal], abort: AbortSignal): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new RetryableError('unavailable', 'exporter not started'));
    const body = Buffer.from(ENCODE[signal](data as never));
    return new Promise<void>((resolve, reject) => {
      const call = client.makeUnaryRequest<Buffer, Buffer>(
        PATH[signal],
        (b) => b,
        (b) => b,
        body,
        this.metadata.clone(),
        { deadline: Date.now() + this.cfg.timeout },
        (err, response) => {
          abort.removeEventListener('abort', onAbort);
          if (err) return reject(classifyGrpcError(err));
          try {
            const partial = DECODE_RESPONSE[signal](response ?? Buffer.alloc(0));
            if (partial.rejected > 0 || partial.errorMessage) {
              this.logger.every(`partial-${signal}`, 60000, 'warn', `the backend rejected part of a ${signal} export`, partial);
            }
          } catch {
            // An unreadable success response is still a success.
          }
          resolve();
        },
      );
      const onAbort = () => call.cancel();
      abort.addEventListener('abort', onAbort, { once: true });
    });
  }

  async shutdown(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.shutdown()));
    this.client?.close();
    this.client = undefined;
  }
}

/** The otlp (gRPC) exporter factory. */
export const factory: ExporterFactory<OtlpExporterConfig> = {
  kind: 'exporter',
  type: 'otlp',
  aliases: ['otlp_grpc'],
  description: 'Sends OTLP over gRPC to any OTLP backend, with queue and retry',
  config,
  validate,
  stability: { traces: 'beta', metrics: 'beta', logs: 'beta' },
  create: (settings, cfg, signals) => new OtlpGrpcExporter(cfg, settings, signals),
};
