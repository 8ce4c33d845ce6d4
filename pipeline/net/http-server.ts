/**
 * The HTTP(S) server of a component that listens on an `endpoint`
 * (`host:port`) with the Collector's server `tls` settings: created, bound,
 * its port read, its body read within a limit, and closed the same way by
 * every such component (OTLP/HTTP and remote-write receivers, prometheus
 * exporter).
 *
 * - With `tls`, HTTPS from `cert_file`/`key_file`; `client_ca_file` requires
 *   client certificates signed by that CA (mutual TLS); `min_version` 1.2
 *   or 1.3.
 * - A failure to bind rejects with `<prefix>: cannot listen on <endpoint>:
 *   <reason>`, the prefix naming the setting as the config error paths do
 *   (`protocols::http`, `endpoint`). Errors after that go to `onError`
 *   (the component logs them, rate-limited); they never end the process.
 */
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { splitEndpoint } from '../config/schema';
import { readTlsFile, type ServerTls } from './tls';

/** Node's HTTP server timeouts, in milliseconds. */
export interface HttpServerTimeouts {
  keepAliveMs: number;
  requestMs: number;
}

/**
 * Timeouts of a server that takes data: keep idle connections longer than
 * the usual client pools (60 s) so a client does not reuse a socket the
 * server is closing, and give a slow request two minutes.
 */
export const INGEST_TIMEOUTS: HttpServerTimeouts = { keepAliveMs: 65_000, requestMs: 120_000 };

/** What {@link startHttpServer} needs. */
export interface HttpServerOptions {
  /** `host:port`. */
  endpoint: string;
  /** HTTPS with these files; plain HTTP without. */
  tls?: ServerTls;
  /** Names the setting in the listen error: `<prefix>: cannot listen on …`. */
  errorPrefix: string;
  handler: http.RequestListener;
  /** Node's defaults when absent. */
  timeouts?: HttpServerTimeouts;
  /** Server errors once listening. */
  onError: (err: Error) => void;
}

/** Creates the server and resolves once it listens on the endpoint. */
export async function startHttpServer(opts: HttpServerOptions): Promise<http.Server> {
  const { tls, handler } = opts;
  const server = tls
    ? https.createServer(
        {
          cert: readTlsFile('cert_file', tls.cert_file),
          key: readTlsFile('key_file', tls.key_file),
          ca: tls.client_ca_file ? readTlsFile('client_ca_file', tls.client_ca_file) : undefined,
          requestCert: !!tls.client_ca_file,
          rejectUnauthorized: !!tls.client_ca_file,
          minVersion: tls.min_version === '1.3' ? 'TLSv1.3' : 'TLSv1.2',
        },
        handler,
      )
    : http.createServer(handler);
  if (opts.timeouts) {
    server.keepAliveTimeout = opts.timeouts.keepAliveMs;
    server.requestTimeout = opts.timeouts.requestMs;
  }
  const { host, port } = splitEndpoint(opts.endpoint);
  try {
    await listen(server, port, host);
  } catch (err) {
    throw new Error(`${opts.errorPrefix}: cannot listen on ${opts.endpoint}: ${(err as Error).message}`);
  }
  server.on('error', opts.onError);
  return server;
}

/**
 * Binds a server (HTTP or any `net.Server`); rejects with the bind error as
 * it is. No error listener is left behind: the caller adds its own.
 */
export function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The port a server is bound to; undefined before it listens. */
export function serverPort(server: http.Server | undefined): number | undefined {
  const a = server?.address();
  return typeof a === 'object' && a ? a.port : undefined;
}

/**
 * Stops accepting: idle keep-alive connections are closed at once, requests
 * in flight are waited for; with `forceAfterMs`, connections still open
 * then are cut and the promise resolves.
 */
export async function closeHttpServer(server: http.Server, forceAfterMs?: number): Promise<void> {
  server.closeIdleConnections();
  await new Promise<void>((resolve) => {
    const timer =
      forceAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            server.closeAllConnections();
            resolve();
          }, forceAfterMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Reads a request body of at most `limit` bytes. `onTooLarge` is called
 * (once) as soon as more arrives, and the rest is ignored; a request that
 * fails while reading calls neither callback.
 */
export function readRequestBody(req: http.IncomingMessage, limit: number, onBody: (body: Buffer) => void, onTooLarge: () => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let stopped = false;
  req.on('data', (chunk: Buffer) => {
    if (stopped) return;
    size += chunk.length;
    if (size > limit) {
      stopped = true;
      onTooLarge();
      return;
    }
    chunks.push(chunk);
  });
  req.on('error', () => {
    stopped = true;
  });
  req.on('end', () => {
    if (stopped) return;
    onBody(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
  });
}
