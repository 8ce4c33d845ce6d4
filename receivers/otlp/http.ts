/**
 * OTLP over HTTP: `POST /v1/traces|metrics|logs` with `application/x-protobuf`
 * or `application/json` bodies, optionally gzip- or deflate-encoded.
 *
 * Answers per the OTLP spec: 200 with an Export*ServiceResponse (partial
 * success when part was rejected) in the request's encoding; 400 with a
 * `google.rpc.Status` for a malformed body; 413 over the size limit (checked
 * after decompression too, so a small gzip bomb is refused); 415 for another
 * content type or encoding; 405 for another method; 429/503 with Retry-After
 * when the pipeline pushes back.
 */
import http from 'node:http';
import zlib from 'node:zlib';
import type { Consumer, Consumers } from '../../pipeline/component';
import { parsePeer, setClientInfo } from '../../pipeline/clientinfo';
import { errorMessage } from '../../pipeline/errors';
import type { Logger } from '../../pipeline/logger';
import type { Signal } from '../../pipeline/pdata';
import type { ComponentTelemetry } from '../../pipeline/telemetry';
import { closeHttpServer, INGEST_TIMEOUTS, readRequestBody, serverPort, startHttpServer } from '../../pipeline/net/http-server';
import { CODECS } from './codecs';
import type { HttpConfig } from './config';
import { ingest, type Outcome } from './ingest';
import { encodeStatus, GrpcCode, statusJson } from './status';

type Format = 'proto' | 'json';

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The HTTP half of the receiver. */
export class HttpTransport {
  private server: http.Server | undefined;
  private readonly routes = new Map<string, Signal>();
  private readonly limit: number;

  constructor(
    private readonly cfg: HttpConfig,
    private readonly next: Consumers,
    private readonly telemetry: ComponentTelemetry,
    private readonly logger: Logger,
  ) {
    if (next.traces) this.routes.set(cfg.traces_url_path, 'traces');
    if (next.metrics) this.routes.set(cfg.metrics_url_path, 'metrics');
    if (next.logs) this.routes.set(cfg.logs_url_path, 'logs');
    this.limit = cfg.max_recv_msg_size_mib !== undefined ? Math.floor(cfg.max_recv_msg_size_mib * 1024 * 1024) : cfg.max_request_body_size;
  }

  /** The bound port (after start). */
  get port(): number {
    return serverPort(this.server) ?? 0;
  }

  async start(): Promise<void> {
    this.server = await startHttpServer({
      endpoint: this.cfg.endpoint,
      tls: this.cfg.tls,
      errorPrefix: 'protocols::http',
      handler: (req, res) => this.handle(req, res),
      timeouts: INGEST_TIMEOUTS,
      onError: (err) => this.logger.every('http-server-error', 60000, 'error', 'OTLP/HTTP server error', { error: err.message }),
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const cors = this.cors(req, res);
    const signal = this.routes.get(path);
    if (req.method === 'OPTIONS' && cors) {
      res.writeHead(204).end();
      return;
    }
    if (!signal) {
      this.reject(req, res, 'json', new HttpError(404, `no OTLP endpoint at ${path}; use ${[...this.routes.keys()].join(', ')}`));
      return;
    }
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      this.reject(req, res, 'json', new HttpError(405, `${req.method} is not allowed; OTLP/HTTP uses POST`));
      return;
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const format: Format | undefined =
      type === 'application/x-protobuf' || type === 'application/protobuf' ? 'proto' : type === 'application/json' ? 'json' : undefined;
    if (!format) {
      this.reject(req, res, 'json', new HttpError(415, `unsupported content type "${type}"; use application/x-protobuf or application/json`));
      return;
    }
    const encoding = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
    if (encoding !== '' && encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'deflate') {
      this.reject(req, res, format, new HttpError(415, `unsupported content encoding "${encoding}"; use gzip, deflate or none`));
      return;
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > this.limit) {
      this.reject(req, res, format, new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${this.limit} bytes`));
      return;
    }
    readRequestBody(
      req,
      this.limit,
      (raw) =>
        this.process(signal, format, encoding, raw, req, res).catch((err: unknown) =>
          this.reject(req, res, format, new HttpError(500, `internal error: ${errorMessage(err)}`)),
        ),
      () => this.reject(req, res, format, new HttpError(413, `request body exceeds the limit of ${this.limit} bytes`)),
    );
  }

  private async process(signal: Signal, format: Format, encoding: string, raw: Buffer, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let body = raw;
    if (encoding === 'gzip' || encoding === 'deflate') {
      try {
        body = await inflate(raw, encoding, this.limit);
      } catch (err) {
        const tooBig = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
        if (!tooBig) this.telemetry.dropped(signal, 1, 'malformed');
        this.reject(req, res, format, tooBig ? new HttpError(413, `decompressed body exceeds the limit of ${this.limit} bytes`) : new HttpError(400, `cannot decompress ${encoding} body: ${errorMessage(err)}`));
        return;
      }
    }
    const codec = CODECS[signal];
    let data;
    try {
      data = format === 'proto' ? codec.decodeProto(body) : codec.decodeJson(body);
    } catch (err) {
      this.telemetry.dropped(signal, 1, 'malformed');
      this.logger.every(`http-decode-${signal}`, 60000, 'warn', `refused malformed OTLP/HTTP ${signal} request`, { error: errorMessage(err) });
      this.reject(req, res, format, new HttpError(400, errorMessage(err)));
      return;
    }
    const peer = parsePeer(req.socket.remoteAddress, req.socket.remotePort);
    if (peer) setClientInfo(data, peer);
    const outcome = await ingest(signal, data, this.next[signal] as Consumer, this.telemetry, 'http');
    if (outcome.ok) {
      if (format === 'proto') {
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(codec.responseProto(outcome.rejected, outcome.message));
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end(codec.responseJson(outcome.rejected, outcome.message));
      }
      return;
    }
    this.fail(res, format, outcome);
  }

  private fail(res: http.ServerResponse, format: Format, outcome: Extract<Outcome, { ok: false }>): void {
    const status = outcome.kind === 'invalid' ? 400 : outcome.kind === 'exhausted' ? 429 : 503;
    const code = outcome.kind === 'invalid' ? GrpcCode.INVALID_ARGUMENT : outcome.kind === 'exhausted' ? GrpcCode.RESOURCE_EXHAUSTED : GrpcCode.UNAVAILABLE;
    if (outcome.retryAfterMs !== undefined) res.setHeader('Retry-After', String(Math.max(1, Math.ceil(outcome.retryAfterMs / 1000))));
    this.write(res, format, status, code, outcome.message, outcome.retryAfterMs);
  }

  private reject(req: http.IncomingMessage, res: http.ServerResponse, format: Format, err: HttpError): void {
    if (res.headersSent) return;
    const code = err.status >= 500 ? GrpcCode.INTERNAL : GrpcCode.INVALID_ARGUMENT;
    // Stop reading a body we refuse, but let the client read the answer.
    if (!req.complete) res.setHeader('Connection', 'close');
    this.write(res, format, err.status, code, err.message);
    if (!req.complete) req.resume();
  }

  private write(res: http.ServerResponse, format: Format, status: number, code: number, message: string, retryAfterMs?: number): void {
    if (format === 'proto') {
      res.writeHead(status, { 'content-type': 'application/x-protobuf' }).end(encodeStatus(code, message, retryAfterMs));
    } else {
      res.writeHead(status, { 'content-type': 'application/json' }).end(statusJson(code, message, retryAfterMs));
    }
  }

  /** Sets CORS headers for an allowed origin; returns whether it did. */
  private cors(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const cfg = this.cfg.cors;
    const origin = req.headers.origin;
    if (!cfg || !origin) return false;
    const allowed = cfg.allowed_origins.some((o) => o === '*' || o === origin || (o.includes('*') && new RegExp(`^${o.split('*').map(escapeRe).join('.*')}$`).test(origin)));
    if (!allowed) return false;
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Vary', 'Origin');
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'POST');
      res.setHeader('Access-Control-Allow-Headers', ['content-type', 'content-encoding', ...cfg.allowed_headers].join(', '));
      if (cfg.max_age) res.setHeader('Access-Control-Max-Age', String(cfg.max_age));
    }
    return true;
  }

  /** Stops accepting requests and waits (up to 10 s) for those in flight. */
  async shutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await closeHttpServer(server, 10000);
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function inflate(raw: Buffer, encoding: 'gzip' | 'deflate', limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const cb = (err: Error | null, out: Buffer) => (err ? reject(err) : resolve(out));
    if (encoding === 'gzip') zlib.gunzip(raw, { maxOutputLength: limit }, cb);
    else zlib.inflate(raw, { maxOutputLength: limit }, cb);
  });
}
