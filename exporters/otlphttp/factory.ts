/**
 * The `otlphttp` exporter: OTLP over HTTP (protobuf or JSON, gzip by default)
 * with the shared sending queue and retry. As the OTLP spec says, 429, 502,
 * 503 and 504 are retried (honouring Retry-After); other errors are permanent;
 * a partial success is logged, not retried.
 */
import http from 'node:http';
import https from 'node:https';
import zlib from 'node:zlib';
import type { Consumer, Consumers, Exporter, ExporterFactory } from '../../pipeline/component';
import { PermanentError, RetryableError } from '../../pipeline/errors';
import { ExportQueue } from '../../pipeline/exporterhelper';
import { readTlsFile } from '../../pipeline/net/tls';
import type { Logger } from '../../pipeline/logger';
import {
  decodeLogsResponse,
  decodeMetricsResponse,
  decodeTracesResponse,
  encodeLogsRequest,
  encodeLogsRequestJson,
  encodeMetricsRequest,
  encodeMetricsRequestJson,
  encodeTracesRequest,
  encodeTracesRequestJson,
} from '../../pipeline/otlp';
import type { Signal, SignalData } from '../../pipeline/pdata';
import { config, validate, type OtlpHttpConfig } from './config';

const ENCODE_PROTO: { [S in Signal]: (d: SignalData[S]) => Uint8Array } = {
  traces: encodeTracesRequest,
  metrics: encodeMetricsRequest,
  logs: encodeLogsRequest,
};
const ENCODE_JSON: { [S in Signal]: (d: SignalData[S]) => string } = {
  traces: encodeTracesRequestJson,
  metrics: encodeMetricsRequestJson,
  logs: encodeLogsRequestJson,
};
const DECODE_RESPONSE: Record<Signal, (b: Uint8Array) => { rejected: number; errorMessage: string }> = {
  traces: decodeTracesResponse,
  metrics: decodeMetricsResponse,
  logs: decodeLogsResponse,
};
const DEFAULT_PATH: Record<Signal, string> = { traces: 'v1/traces', metrics: 'v1/metrics', logs: 'v1/logs' };

/** The URL a signal is sent to. */
export function signalUrl(cfg: OtlpHttpConfig, signal: Signal): string {
  const explicit = { traces: cfg.traces_endpoint, metrics: cfg.metrics_endpoint, logs: cfg.logs_endpoint }[signal];
  if (explicit) return explicit;
  const base = cfg.endpoint as string;
  return base.endsWith('/') ? base + DEFAULT_PATH[signal] : `${base}/${DEFAULT_PATH[signal]}`;
}

/** Seconds or an HTTP date → milliseconds. */
function retryAfterMs(header: string | undefined): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

class OtlpHttpExporter implements Exporter {
  readonly consumers: Consumers = {};
  private readonly queues: ExportQueue<Signal>[] = [];
  private readonly agent: http.Agent;
  private readonly logger: Logger;

  constructor(
    private readonly cfg: OtlpHttpConfig,
    settings: Parameters<ExporterFactory['create']>[0],
    signals: ReadonlySet<Signal>,
  ) {
    this.logger = settings.logger;
    const t = cfg.tls;
    const anyHttps = [...signals].some((s) => signalUrl(cfg, s).startsWith('https:'));
    this.agent = anyHttps
      ? new https.Agent({
          keepAlive: true,
          ca: t.ca_file ? readTlsFile('ca_file', t.ca_file) : undefined,
          cert: t.cert_file ? readTlsFile('cert_file', t.cert_file) : undefined,
          key: t.key_file ? readTlsFile('key_file', t.key_file) : undefined,
          rejectUnauthorized: !t.insecure_skip_verify,
          servername: t.server_name_override,
        })
      : new http.Agent({ keepAlive: true });
    for (const signal of signals) {
      const queue = new ExportQueue<Signal>({
        signal,
        send: (data, abort) => this.send(signal, data, abort),
        queue: cfg.sending_queue,
        retry: cfg.retry_on_failure,
        timeoutMs: cfg.timeout,
        telemetry: settings.telemetry,
        logger: settings.logger,
      });
      this.queues.push(queue);
      (this.consumers as Record<Signal, Consumer>)[signal] = queue as Consumer;
    }
  }

  async start(): Promise<void> {}

  private async send(signal: Signal, data: SignalData[Signal], abort: AbortSignal): Promise<void> {
    const json = this.cfg.encoding === 'json';
    let body: Buffer = json ? Buffer.from(ENCODE_JSON[signal](data as never)) : Buffer.from(ENCODE_PROTO[signal](data as never));
    const headers: Record<string, string> = { ...this.cfg.headers, 'content-type': json ? 'application/json' : 'application/x-protobuf' };
    if (this.cfg.compression === 'gzip') {
      body = await new Promise<Buffer>((resolve, reject) => zlib.gzip(body, (err, out) => (err ? reject(err) : resolve(out))));
      headers['content-encoding'] = 'gzip';
    }
    headers['content-length'] = String(body.length);
    const url = new URL(signalUrl(this.cfg, signal));
    const { status, responseHeaders, payload } = await request(url, headers, body, this.agent, abort);
    if (status >= 200 && status < 300) {
      if (!json && payload.length) {
        try {
          const partial = DECODE_RESPONSE[signal](payload);
          if (partial.rejected > 0 || partial.errorMessage) this.logger.every(`partial-${signal}`, 60000, 'warn', `the backend rejected part of a ${signal} export`, partial);
        } catch {
          // An unreadable success response is still a success.
        }
      }
      return;
    }
    const msg = `OTLP/HTTP export to ${url.href} failed: HTTP ${status}: ${payload.toString('utf8').slice(0, 300).replace(/[^\x20-\x7e]+/g, ' ').trim()}`;
    if (status === 429 || status === 502 || status === 503 || status === 504) {
      throw new RetryableError(status === 429 ? 'exhausted' : 'unavailable', msg, { retryAfterMs: retryAfterMs(responseHeaders['retry-after'] as string | undefined) ?? 0 });
    }
    throw new PermanentError(msg);
  }

  async shutdown(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.shutdown()));
    this.agent.destroy();
  }
}

function request(
  url: URL,
  headers: Record<string, string>,
  body: Buffer,
  agent: http.Agent,
  abort: AbortSignal,
): Promise<{ status: number; responseHeaders: http.IncomingHttpHeaders; payload: Buffer }> {
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(url, { method: 'POST', headers, agent, signal: abort }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 1 << 20) chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, responseHeaders: res.headers, payload: Buffer.concat(chunks) }));
      res.on('error', (err) => reject(new RetryableError('unavailable', `OTLP/HTTP response failed: ${err.message}`)));
    });
    req.on('error', (err) => reject(new RetryableError('unavailable', `OTLP/HTTP export to ${url.href} failed: ${err.message}`)));
    req.end(body);
  });
}

/** The otlphttp exporter factory. */
export const factory: ExporterFactory<OtlpHttpConfig> = {
  kind: 'exporter',
  type: 'otlphttp',
  aliases: ['otlp_http'],
  description: 'Sends OTLP over HTTP (protobuf or JSON) to any OTLP backend, with queue and retry',
  config,
  validate,
  stability: { traces: 'beta', metrics: 'beta', logs: 'beta' },
  create: (settings, cfg, signals) => new OtlpHttpExporter(cfg, settings, signals),
};
