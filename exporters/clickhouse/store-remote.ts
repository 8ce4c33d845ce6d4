/**
 * The remote store: a ClickHouse server over HTTP(S) through
 * `@clickhouse/client`, with the same SQL and schema as the embedded one.
 *
 * Inserts send the very Native block the embedded store writes to its temp
 * file — `client.exec({ query: 'INSERT INTO db.t (cols) FORMAT Native',
 * values: <Readable> })` streams raw bytes in the request body — so both
 * stores share one encoder (checked against ClickHouse 18.16, which reads
 * the same block layout).
 *
 * The telemetry database may not exist before the schema is created, and a
 * client bound to a missing database fails every request, so statements go
 * through a client on `default` with fully qualified names; queries get a
 * client per default database, created on first use.
 */
import { Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { errorMessage } from '../../pipeline/errors';
import type { QueryOptions, QueryResult, TableNames } from '../../pipeline/storage';
import type { NativeBlock } from './native';
import { insertHead } from './schema';
import { StoreError, clickhouseCodeOf, firstLine, fromClickHouseCode, parseJSONCompact, type TelemetryStore } from './store';

/** Query clients kept, one per default database. */
const MAX_QUERY_CLIENTS = 8;

/** Socket-level failures: the server is down, restarting or unreachable. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** Options of {@link RemoteStore.open}. */
export interface RemoteStoreOptions {
  /** `http://host:8123` or `https://…`. */
  endpoint: string;
  username: string;
  password: string;
  database: string;
  tables: TableNames;
  /** Per-request timeout in ms. */
  timeoutMs: number;
}

/** Removes trailing semicolons: the client appends `FORMAT JSONCompact`. */
function trimStatement(sql: string): string {
  return sql.replace(/[\s;]+$/, '');
}

/** The remote {@link TelemetryStore}; see the module doc. */
export class RemoteStore implements TelemetryStore {
  readonly kind = 'remote' as const;
  private readonly admin: ClickHouseClient;
  private readonly queryClients = new Map<string, ClickHouseClient>();
  private closed = false;

  private constructor(
    private readonly o: RemoteStoreOptions,
  ) {
    this.admin = this.client('default');
  }

  /** Creates the store; no request is made until the first statement. */
  static open(o: RemoteStoreOptions): RemoteStore {
    return new RemoteStore(o);
  }

  get database(): string {
    return this.o.database;
  }

  get tables(): TableNames {
    return this.o.tables;
  }

  private client(database: string): ClickHouseClient {
    return createClient({
      url: this.o.endpoint,
      username: this.o.username || 'default',
      password: this.o.password,
      database,
      request_timeout: this.o.timeoutMs > 0 ? this.o.timeoutMs : 30000,
      application: 'metaflow',
      // Failures surface as StoreErrors, counted and summarized by the exporter; the client must not log each one.
      log: { level: ClickHouseLogLevel.OFF },
    });
  }

  private queryClient(database: string): ClickHouseClient {
    let c = this.queryClients.get(database);
    if (!c) {
      if (this.queryClients.size >= MAX_QUERY_CLIENTS) {
        const [oldest, client] = this.queryClients.entries().next().value as [string, ClickHouseClient];
        this.queryClients.delete(oldest);
        // Queries may still be running on it: close once they have had time to finish.
        setTimeout(() => void client.close().catch(() => undefined), this.o.timeoutMs + 1000).unref();
      }
      c = this.client(database);
      this.queryClients.set(database, c);
    }
    return c;
  }

  /** Maps a client error to a StoreError with a message that names the server and user. */
  private error(err: unknown, what: string): StoreError {
    if (err instanceof StoreError) return err;
    const message = errorMessage(err);
    const e = err as { code?: unknown; name?: unknown };
    const where = `ClickHouse at ${this.o.endpoint}`;
    if (typeof e?.code === 'string' && NETWORK_CODES.has(e.code)) {
      return new StoreError('STORE_UNAVAILABLE', `${what} failed: cannot reach ${where}: ${firstLine(message)}`, { cause: err });
    }
    const code = typeof e?.code === 'string' && /^\d+$/.test(e.code) ? Number(e.code) : clickhouseCodeOf(message);
    if (code !== undefined) {
      const mapped = fromClickHouseCode(code, message, what, err);
      if (mapped.code === 'STORE_AUTH') {
        return new StoreError(
          'STORE_AUTH',
          `${what} failed: ${where} refused user "${this.o.username || 'default'}" (check username and password): ${firstLine(message)}`,
          { clickhouseCode: code, cause: err },
        );
      }
      return mapped;
    }
    if (e?.name === 'AbortError' || /\baborted\b/i.test(message)) {
      return new StoreError('STORE_TIMEOUT', `${what} was aborted`, { cause: err });
    }
    if (/timeout/i.test(message)) return new StoreError('STORE_TIMEOUT', `${what} failed: ${where} did not answer in time`, { cause: err });
    if (/socket hang up|other side closed/i.test(message)) {
      return new StoreError('STORE_UNAVAILABLE', `${what} failed: ${where} closed the connection`, { cause: err });
    }
    // No ClickHouse code: a proxy page, an HTTP 5xx, a TLS problem. Retrying is the safe side.
    return new StoreError('STORE_UNAVAILABLE', `${what} failed: ${where}: ${firstLine(message)}`, { cause: err });
  }

  async query(sql: string, options?: QueryOptions): Promise<QueryResult> {
    this.checkOpen();
    const client = this.queryClient(options?.database ?? this.o.database);
    try {
      const rs = await client.query({
        query: trimStatement(sql),
        format: 'JSONCompact',
        query_params: options?.params as Record<string, unknown> | undefined,
        clickhouse_settings: options?.settings as Record<string, string> | undefined,
        abort_signal: options?.signal,
      });
      return parseJSONCompact(await rs.text());
    } catch (err) {
      throw this.error(err, 'query');
    }
  }

  async command(sql: string): Promise<void> {
    this.checkOpen();
    try {
      await this.admin.command({ query: sql });
    } catch (err) {
      throw this.error(err, 'statement');
    }
  }

  async insert(table: string, block: NativeBlock, abort?: AbortSignal): Promise<void> {
    this.checkOpen();
    const what = `insert into ${this.o.database}.${table}`;
    try {
      const r = await this.admin.exec({
        query: `${insertHead(this.o.database, table, block)} FORMAT Native`,
        values: Readable.from(block.chunks()),
        abort_signal: abort,
      });
      // Read the (empty) answer so the socket goes back to the keep-alive pool.
      for await (const chunk of r.stream) void chunk;
    } catch (err) {
      throw this.error(err, what);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const clients = [this.admin, ...this.queryClients.values()];
    this.queryClients.clear();
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreError('STORE_CLOSED', 'the remote store is closed');
  }
}
