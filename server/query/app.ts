/**
 * The query service's HTTP API (express):
 *
 * - `POST /api/v1/sql` `{"sql": "..."}` → `{"columns": [{name, type}], "rows": [[…]]}`;
 *   read-only (see readonly.ts): anything else is 403 with the reason; the
 *   default database is the store's (`metaflow`). Errors from ClickHouse are
 *   400 with its message.
 * - Jaeger's query API: `GET /api/services`, `/api/services/{service}/operations`,
 *   `/api/operations?service=&spanKind=`, `/api/traces?service=&operation=&tags=&start=&end=&minDuration=&maxDuration=&limit=&lookback=`,
 *   `/api/traces/{traceID}`, answering in Jaeger's JSON envelope
 *   (`{data, total, limit, offset, errors}`).
 * - `GET /healthz`: 200 when the store answers, 503 otherwise.
 * - Prometheus remote read (`POST /api/v1/read`, remoteread.ts) and the RED
 *   and service-map APIs (`GET /api/v1/red`, `/api/v1/service-map`, red.ts).
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { SqlStore } from '../../pipeline/storage';
import type { Logger } from '../../pipeline/logger';
import type { ComponentTelemetry } from '../../pipeline/telemetry';
import { BadRequest, findTraces, operations, parseTraceQuery, services, traceById } from './jaeger';
import { refuseReason } from './readonly';
import { registerRedRoutes } from './red';
import { registerRemoteRead } from './remoteread';
import type { QueryConfig } from './config';

/** What the app needs from its host. */
export interface AppDeps {
  /** The store, or undefined while it is not available yet. */
  store: () => SqlStore | undefined;
  config: QueryConfig;
  logger: Logger;
  telemetry: ComponentTelemetry;
}

/** A store error carries a retryable flag; ClickHouse errors in the query are the caller's. */
function isCallerError(err: unknown): boolean {
  const e = err as { retryable?: boolean; code?: string };
  return e && e.retryable === false && e.code !== 'STORE_AUTH';
}

/** Builds the express app. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'extended');
  const limit = Math.round(deps.config.max_request_size_mib * 1024 * 1024);
  app.use(express.json({ limit, strict: true }));

  const needStore = (res: Response): SqlStore | undefined => {
    const store = deps.store();
    if (!store) {
      res.status(503).set('Retry-After', '1').json({ error: 'the store is not available yet', errors: [{ code: 503, msg: 'the store is not available yet' }] });
    }
    return store;
  };
  const count = (route: string, status: number) =>
    deps.telemetry.counter('metaflow_query_requests_total', 'Query API requests by route and status.', 1, { route, status: String(status) });

  app.get('/healthz', async (_req, res) => {
    const store = deps.store();
    if (!store) {
      res.status(503).json({ status: 'starting', store: null });
      return;
    }
    try {
      await store.query('SELECT 1');
      res.json({ status: 'ok', store: store.kind, database: store.database });
    } catch (err) {
      res.status(503).json({ status: 'unavailable', store: store.kind, error: (err as Error).message });
    }
  });

  app.post('/api/v1/sql', async (req, res) => {
    const store = needStore(res);
    if (!store) return count('sql', 503);
    const sql = (req.body as { sql?: unknown } | undefined)?.sql;
    if (typeof sql !== 'string' || !sql.trim()) {
      res.status(400).json({ error: 'expected a JSON body {"sql": "SELECT ..."}' });
      return count('sql', 400);
    }
    const refused = refuseReason(sql);
    if (refused) {
      res.status(403).json({ error: refused });
      return count('sql', 403);
    }
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), deps.config.query_timeout);
    res.on('close', () => abort.abort());
    try {
      const result = await store.query(sql.trim().replace(/;\s*$/, ''), { signal: abort.signal });
      const truncated = result.rows.length > deps.config.max_rows;
      res.json({ columns: result.columns, rows: truncated ? result.rows.slice(0, deps.config.max_rows) : result.rows, ...(truncated ? { truncated: true } : {}) });
      count('sql', 200);
    } catch (err) {
      const status = isCallerError(err) ? 400 : 503;
      res.status(status).json({ error: (err as Error).message });
      count('sql', status);
    } finally {
      clearTimeout(timer);
    }
  });

  const jaeger = (route: string, fn: (store: SqlStore, req: Request) => Promise<{ data: unknown; status?: number; errors?: unknown }>) =>
    async (req: Request, res: Response) => {
      const store = needStore(res);
      if (!store) return count(route, 503);
      try {
        const out = await fn(store, req);
        const data = out.data;
        const total = Array.isArray(data) ? data.length : data ? 1 : 0;
        res.status(out.status ?? 200).json({ data, total, limit: 0, offset: 0, errors: out.errors ?? null });
        count(route, out.status ?? 200);
      } catch (err) {
        const status = err instanceof BadRequest || isCallerError(err) ? 400 : 503;
        res.status(status).json({ data: null, total: 0, limit: 0, offset: 0, errors: [{ code: status, msg: (err as Error).message }] });
        count(route, status);
      }
    };

  app.get('/api/services', jaeger('services', async (store) => ({ data: await services(store) })));
  app.get(
    '/api/services/:service/operations',
    jaeger('operations', async (store, req) => ({ data: (await operations(store, String(req.params.service))).map((o) => o.name).filter(unique) })),
  );
  app.get(
    '/api/operations',
    jaeger('operations', async (store, req) => {
      const service = typeof req.query.service === 'string' ? req.query.service : '';
      if (!service) throw new BadRequest('service: required');
      const kind = typeof req.query.spanKind === 'string' ? req.query.spanKind : undefined;
      return { data: await operations(store, service, kind) };
    }),
  );
  app.get('/api/traces', jaeger('traces', async (store, req) => ({ data: await findTraces(store, parseTraceQuery(req.query as Record<string, unknown>)) })));
  app.get(
    '/api/traces/:traceID',
    jaeger('trace', async (store, req) => {
      const trace = await traceById(store, String(req.params.traceID));
      if (!trace) return { data: null, status: 404, errors: [{ code: 404, msg: 'trace not found' }] };
      return { data: [trace] };
    }),
  );

  registerRemoteRead(app, deps);
  registerRedRoutes(app, deps);

  app.use((req: Request, res: Response) => {
    res.status(404).json({ error: `no route ${req.method} ${req.path}` });
  });
  // Malformed JSON, bodies over the limit, and anything unexpected.
  app.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
    const msg = err.type === 'entity.parse.failed' ? `malformed JSON: ${err.message}` : err.type === 'entity.too.large' ? `request body larger than ${limit} bytes` : err.message;
    if (status === 500) deps.logger.every('query-500', 60000, 'error', 'query service error', { error: err.message });
    res.status(status).json({ error: msg });
  });
  return app;
}

function unique<T>(v: T, i: number, a: T[]): boolean {
  return a.indexOf(v) === i;
}
