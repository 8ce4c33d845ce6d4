/**
 * The Prometheus remote-write endpoint: `POST {path}` with a snappy-block
 * compressed protobuf body, 1.0 (`prometheus.WriteRequest`) or 2.0
 * (`io.prometheus.write.v2.Request`), told apart by the content type as the
 * 2.0 specification requires:
 *
 * | request                                                        | answer |
 * |----------------------------------------------------------------|--------|
 * | `application/x-protobuf` (or `;proto=prometheus.WriteRequest`) | 1.0 |
 * | `application/x-protobuf;proto=io.prometheus.write.v2.Request`  | 2.0 |
 * | another content type or proto, an encoding other than snappy   | 415 |
 * | empty body, corrupt snappy, malformed protobuf                 | 400 with the reason |
 * | body over `max_request_body_size` (declared or uncompressed)   | 413 |
 * | pipeline queue full                                            | 429 + Retry-After |
 * | memory limit, pipeline failure, too many requests at once      | 503 + Retry-After |
 * | written                                                        | 204 |
 *
 * A missing Content-Encoding is taken as snappy (1.0 senders that omit it
 * exist; Prometheus's own receiver does the same). Every 2.0 answer after
 * content negotiation carries `X-Prometheus-Remote-Write-Samples-Written`,
 * `-Histograms-Written` and `-Exemplars-Written` with what was written (0 on
 * failure). Note that Prometheus (2.x) retries a 429 only with
 * `queue_config: {retry_on_http_429: true}`; it always retries a 5xx.
 */
import http from 'node:http';
import type { Consumer, Consumers } from '../../pipeline/component';
import { PermanentError, RetryableError, errorMessage } from '../../pipeline/errors';
import type { Logger } from '../../pipeline/logger';
import { closeHttpServer, INGEST_TIMEOUTS, readRequestBody, serverPort, startHttpServer } from '../../pipeline/net/http-server';
import type { Metrics } from '../../pipeline/pdata';
import { decodeWriteRequestV1, decodeWriteRequestV2, PromDecodeError } from '../../pipeline/prometheus/prompb';
import { SnappyError, SnappyTooLargeError, snappyUncompress } from '../../pipeline/prometheus/snappy';
import type { ComponentTelemetry } from '../../pipeline/telemetry';
import type { PrwReceiverConfig } from './config';
import { FamilyCache, SeriesCache, WriteBuilder } from './translate';

/** The protobuf message of a request. */
type Version = '1.0' | '2.0';

/** Fully qualified message names, as in the Content-Type `proto` parameter. */
const PROTO_V1 = 'prometheus.WriteRequest';
const PROTO_V2 = 'io.prometheus.write.v2.Request';

/** Default retry hint when the pipeline gives none. */
const DEFAULT_RETRY_MS = 1000;

/** What was written, for the 2.0 response headers. */
interface Written {
  samples: number;
  histograms: number;
  exemplars: number;
}

const NOTHING: Written = { samples: 0, histograms: 0, exemplars: 0 };

/**
 * Reads the message version from a Content-Type, or returns why it is refused.
 * Exported for tests.
 */
export function negotiate(contentType: string | undefined): Version | string {
  const raw = contentType ?? '';
  const parts = raw.split(';');
  const type = parts[0].trim().toLowerCase();
  if (type !== 'application/x-protobuf') {
    return `unsupported content type "${raw}"; use application/x-protobuf with proto=${PROTO_V1} or proto=${PROTO_V2}`;
  }
  let proto = '';
  for (let i = 1; i < parts.length; i++) {
    const eq = parts[i].indexOf('=');
    if (eq < 0) continue;
    if (parts[i].slice(0, eq).trim().toLowerCase() === 'proto') proto = parts[i].slice(eq + 1).trim().replace(/^"|"$/g, '');
  }
  if (proto === '' || proto === PROTO_V1) return '1.0';
  if (proto === PROTO_V2) return '2.0';
  return `unsupported proto "${proto}"; this receiver accepts ${PROTO_V1} and ${PROTO_V2}`;
}

/** The HTTP server of the receiver. */
export class RemoteWriteServer {
  private server: http.Server | undefined;
  private inflight = 0;
  private readonly families: FamilyCache;
  private readonly series: SeriesCache;
  private readonly next: Consumer<'metrics'> | undefined;

  constructor(
    private readonly cfg: PrwReceiverConfig,
    next: Consumers,
    private readonly telemetry: ComponentTelemetry,
    private readonly logger: Logger,
  ) {
    this.next = next.metrics;
    this.families = new FamilyCache(cfg.metadata_cache_size);
    this.series = new SeriesCache(cfg.series_cache_size);
    telemetry.gauge('metaflow_prometheusremotewrite_series_cached', 'Series whose decoded labels the receiver keeps.', () => this.series.size);
    telemetry.gauge('metaflow_prometheusremotewrite_series_cache_hits', 'Series found in the label cache.', () => this.series.hits);
    telemetry.gauge('metaflow_prometheusremotewrite_series_cache_misses', 'Series not found in the label cache.', () => this.series.misses);
    telemetry.gauge('metaflow_prometheusremotewrite_series_cache_evicted', 'Series dropped from the label cache to stay within series_cache_size.', () => this.series.evicted);
    telemetry.gauge('metaflow_prometheusremotewrite_metadata_families', 'Metric families whose metadata the receiver remembers.', () => this.families.size);
    telemetry.gauge('metaflow_prometheusremotewrite_metadata_evicted', 'Metric families forgotten because the metadata cache was full.', () => this.families.evicted);
    telemetry.gauge('metaflow_prometheusremotewrite_inflight_requests', 'Remote-write requests being processed.', () => this.inflight);
  }

  /** The bound port (after start). */
  get port(): number {
    return serverPort(this.server) ?? 0;
  }

  async start(): Promise<void> {
    this.server = await startHttpServer({
      endpoint: this.cfg.endpoint,
      tls: this.cfg.tls,
      errorPrefix: 'endpoint',
      handler: (req, res) => this.handle(req, res),
      timeouts: INGEST_TIMEOUTS,
      onError: (err) => this.logger.every('prw-server-error', 60000, 'error', 'remote-write server error', { error: err.message }),
    });
  }

  /** Stops accepting and waits (up to 10 s) for requests in flight. */
  async shutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await closeHttpServer(server, 10000);
  }

  private count(version: string, status: number): void {
    this.telemetry.counter('metaflow_prometheusremotewrite_requests_total', 'Remote-write requests by protocol version and answer.', 1, {
      version,
      status: String(status),
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== this.cfg.path) {
      this.refuse(req, res, undefined, 404, `no remote-write endpoint at ${path}; use ${this.cfg.path}`);
      return;
    }
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      this.refuse(req, res, undefined, 405, `${req.method} is not allowed; remote write uses POST`);
      return;
    }
    const version = negotiate(req.headers['content-type']);
    if (version !== '1.0' && version !== '2.0') {
      this.refuse(req, res, undefined, 415, version);
      return;
    }
    const encoding = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
    if (encoding !== '' && encoding !== 'snappy') {
      // Content negotiation failed: nothing was processed, so no -Written headers.
      this.refuse(req, res, undefined, 415, `unsupported content encoding "${encoding}"; remote write uses snappy`);
      return;
    }
    const limit = this.cfg.max_request_body_size;
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      this.refuse(req, res, version, 413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`);
      return;
    }
    const max = this.cfg.max_concurrent_requests;
    if (max > 0 && this.inflight >= max) {
      res.setHeader('Retry-After', '1');
      this.refuse(req, res, version, 503, `too many concurrent remote-write requests (${max}); retry later`);
      return;
    }
    // Counted until the answer is sent or the connection drops, whichever comes first.
    this.inflight++;
    res.once('close', () => this.inflight--);
    readRequestBody(
      req,
      limit,
      (body) => this.process(version, body, res).catch((err: unknown) => this.answer(res, version, 500, `internal error: ${errorMessage(err)}`, NOTHING)),
      () => this.refuse(req, res, version, 413, `request body exceeds the limit of ${limit} bytes`),
    );
  }

  private async process(version: Version, body: Buffer, res: http.ServerResponse): Promise<void> {
    let raw: Buffer;
    try {
      raw = await snappyUncompress(body, this.cfg.max_request_body_size);
    } catch (err) {
      if (err instanceof SnappyTooLargeError) return this.answer(res, version, 413, err.message, NOTHING);
      this.telemetry.dropped('metrics', 1, 'malformed');
      return this.answer(res, version, 400, err instanceof SnappyError ? err.message : errorMessage(err), NOTHING);
    }
    const builder = new WriteBuilder(this.families, this.series);
    try {
      if (version === '1.0') decodeWriteRequestV1(raw, builder);
      else decodeWriteRequestV2(raw, builder);
    } catch (err) {
      this.telemetry.dropped('metrics', 1, 'malformed');
      this.logger.every('prw-decode', 60000, 'warn', 'refused malformed remote-write request', { error: errorMessage(err), version });
      return this.answer(res, version, 400, err instanceof PromDecodeError ? `malformed ${version === '1.0' ? PROTO_V1 : PROTO_V2}: ${err.message}` : errorMessage(err), NOTHING);
    }
    const items = builder.points;
    const written: Written = { samples: builder.samples, histograms: builder.histograms, exemplars: builder.exemplars };
    if (items === 0 || !this.next) return this.answer(res, version, 204, '', written);
    const metrics: Metrics = builder.result();
    try {
      await this.next.consume(metrics);
      this.telemetry.accepted('metrics', items, 'http');
      return this.answer(res, version, 204, '', written);
    } catch (err) {
      if (err instanceof PermanentError) {
        const rejected = err.rejected !== undefined && err.rejected < items ? err.rejected : items;
        this.telemetry.refused('metrics', rejected, 'http');
        if (rejected < items) this.telemetry.accepted('metrics', items - rejected, 'http');
        // A partial write is still a 400 (the spec), with the counts of what was written.
        const part = rejected < items ? proportion(written, (items - rejected) / items) : NOTHING;
        return this.answer(res, version, 400, `${rejected} of ${items} points rejected: ${err.message}`, part);
      }
      this.telemetry.refused('metrics', items, 'http');
      const retryMs = err instanceof RetryableError && err.retryAfterMs > 0 ? err.retryAfterMs : DEFAULT_RETRY_MS;
      res.setHeader('Retry-After', String(Math.max(1, Math.ceil(retryMs / 1000))));
      const status = err instanceof RetryableError && err.reason === 'exhausted' ? 429 : 503;
      const msg = err instanceof RetryableError ? err.message : `pipeline failed: ${errorMessage(err)}`;
      return this.answer(res, version, status, msg, NOTHING);
    }
  }

  /** Refuses before (or while) reading the body. */
  private refuse(req: http.IncomingMessage, res: http.ServerResponse, version: Version | undefined, status: number, message: string): void {
    if (res.headersSent) return;
    // Stop reading a body we refuse, but let the client read the answer.
    if (!req.complete) res.setHeader('Connection', 'close');
    this.answer(res, version, status, message, NOTHING);
    if (!req.complete) req.resume();
  }

  private answer(res: http.ServerResponse, version: Version | undefined, status: number, message: string, written: Written): void {
    if (res.headersSent) return;
    if (version === '2.0') {
      res.setHeader('X-Prometheus-Remote-Write-Samples-Written', String(written.samples));
      res.setHeader('X-Prometheus-Remote-Write-Histograms-Written', String(written.histograms));
      res.setHeader('X-Prometheus-Remote-Write-Exemplars-Written', String(written.exemplars));
    }
    this.count(version ?? 'none', status);
    if (status === 204) {
      res.writeHead(204).end();
      return;
    }
    if (status >= 500 || status === 429) this.logger.every(`prw-${status}`, 60000, 'warn', 'remote-write request refused', { status, error: message });
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(message + '\n');
  }
}

function proportion(w: Written, f: number): Written {
  return { samples: Math.floor(w.samples * f), histograms: Math.floor(w.histograms * f), exemplars: Math.floor(w.exemplars * f) };
}
