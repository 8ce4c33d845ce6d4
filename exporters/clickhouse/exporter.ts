/**
 * The `clickhouse` exporter component: pdata batches → Native blocks →
 * the embedded chDB store or a remote ClickHouse server.
 *
 * - Queue, retry and timeout are the shared {@link ExportQueue}; this file
 *   only supplies one `send` per signal. A StoreError marked retryable
 *   becomes a RetryableError (the queue backs off and tries again), any
 *   other failure a PermanentError with the store's code (counted, never
 *   retried).
 * - Encoders (the row builders and their column buffers) are pooled and
 *   reused across batches; at most `num_consumers + 1` are kept.
 * - A metrics batch becomes up to five inserts, one per table. The tables a
 *   batch already reached are remembered (keyed by the batch object, which
 *   the queue passes unchanged to every retry) so a retry after a partial
 *   failure does not store the same points twice.
 * - Network data has its own tables (schema-network.ts): log records with
 *   eventName `metaflow.flow_log` go to `flow_log`, metrics named
 *   `metaflow.network.*` to `network_metrics` (pivoted, one row per server
 *   endpoint and interval), the rest of a batch to the contrib tables as
 *   before; a batch with both makes two inserts, tracked like metrics.
 * - SmartEncoding (`smart_encoding`, on by default; schema-smart.ts): a
 *   span batch becomes up to three inserts — its tags and resources not yet
 *   known to be stored, then (after the dictionaries are reloaded, so no
 *   span is visible before its names) the encoded spans. A retry repeats
 *   the tag rows at worst, which the tables collapse.
 * - The component is a {@link StoreProvider}: after start, `store()` gives
 *   the query service read access to the same database — with
 *   SmartEncoding through {@link withSmartQueries}, which turns name filters
 *   into id filters.
 * - Shutdown stops the queues — inserts in flight finish, each still-queued
 *   batch gets its last attempt — and closes the store; it is safe before
 *   start and when repeated.
 */
import { once, type Consumers, type CreateSettings, type Exporter, type Host } from '../../pipeline/component';
import { ConfigError, PermanentError, RetryableError, errorMessage } from '../../pipeline/errors';
import { ExportQueue } from '../../pipeline/exporterhelper';
import type { Logger } from '../../pipeline/logger';
import { countItems, type Logs, type Metrics, type Signal, type Traces } from '../../pipeline/pdata';
import type { SqlStore, StoreProvider } from '../../pipeline/storage';
import type { ComponentTelemetry } from '../../pipeline/telemetry';
import type { ResolvedConfig } from './config';
import { BlockTooLargeError, type NativeBlock } from './native';
import { FlowLogRows, hasFlowLogs, splitFlowLogs } from './rows-flowlog';
import { LogRows } from './rows-logs';
import type { BatchRows, PendingTags } from './rows';
import { MetricRows, type MetricKind } from './rows-metrics';
import { hasNetworkMetrics, NetMetricRows, withoutNetworkMetrics } from './rows-netmetrics';
import { SmartFlowLogRows, SmartLogRows, SmartMetricRows, SmartTraceRows, TagRegistry } from './rows-smart';
import { TraceRows } from './rows-traces';
import { EMBEDDED_TABLE_SETTINGS, metricTableNames, migrate, tablesKey, type SchemaOptions } from './schema';
import { FLOW_LOG_TABLE, migrateNetwork, NETWORK_METRICS_TABLE } from './schema-network';
import { encodedViews, FLOW_LOG_ENCODED, migrateSmart, reloadStatements, RESOURCES_TABLE, smartNames, TAGS_TABLE, type SmartNames } from './schema-smart';
import { withSmartQueries } from './smartencoding';
import { ChdbStore, checkDataDir } from './store-chdb';
import { RemoteStore } from './store-remote';
import { StoreError, type TelemetryStore } from './store';

/** A bounded free-list of encoders, so column buffers are reused across batches. */
class Pool<T> {
  private readonly free: T[] = [];
  constructor(
    private readonly make: () => T,
    private readonly keep: number,
  ) {}
  take(): T {
    return this.free.pop() ?? this.make();
  }
  give(item: T): void {
    if (this.free.length < this.keep) this.free.push(item);
  }
}

/** The clickhouse exporter; see the module doc. */
export class ClickHouseExporter implements Exporter, StoreProvider {
  readonly consumers: Consumers = {};
  private readonly queues: Array<ExportQueue<Signal>> = [];
  private readonly logger: Logger;
  private readonly telemetry: ComponentTelemetry;
  private readonly traceRows: Pool<TraceRows>;
  private readonly smartRows: Pool<SmartTraceRows>;
  private readonly smartLogRows: Pool<SmartLogRows>;
  private readonly smartMetricRows: Pool<SmartMetricRows>;
  private readonly smartFlowLogRows: Pool<SmartFlowLogRows>;
  /** Tags and resources known to be stored (SmartEncoding). */
  private readonly registry = new TagRegistry();
  /** The SmartEncoding tables and views. */
  private readonly names: SmartNames;
  private readonly logRows: Pool<LogRows>;
  private readonly metricRows: Pool<MetricRows>;
  private readonly flowLogRows: Pool<FlowLogRows>;
  private readonly netRows: Pool<NetMetricRows>;
  /** Tables each in-flight batch (metrics, or logs with flow logs) has already been written to. */
  private readonly partsDone = new WeakMap<Metrics | Logs, Set<MetricKind | 'network' | 'flow' | 'logs'>>();
  private readonly metricTables: Record<MetricKind, string>;
  private st: TelemetryStore | undefined;
  /** What readers get: the store, or the rewriting wrapper with SmartEncoding. */
  private reader: SqlStore | undefined;
  private shuttingDown = false;

  constructor(
    private readonly settings: CreateSettings,
    private readonly cfg: ResolvedConfig,
    signals: ReadonlySet<Signal>,
  ) {
    this.logger = settings.logger;
    this.telemetry = settings.telemetry;
    const t = cfg.tables;
    this.metricTables = metricTableNames(t);
    this.names = smartNames(cfg.database, t);
    const keep = cfg.queue.num_consumers + 1;
    this.traceRows = new Pool(() => new TraceRows(), keep);
    this.smartRows = new Pool(() => new SmartTraceRows(this.registry), keep);
    this.smartLogRows = new Pool(() => new SmartLogRows(this.registry), keep);
    this.smartMetricRows = new Pool(() => new SmartMetricRows(this.registry), keep);
    this.smartFlowLogRows = new Pool(() => new SmartFlowLogRows(this.registry), keep);
    this.logRows = new Pool(() => new LogRows(), keep);
    this.metricRows = new Pool(() => new MetricRows(), keep);
    this.flowLogRows = new Pool(() => new FlowLogRows(), keep);
    this.netRows = new Pool(() => new NetMetricRows(), keep);
    const common = { queue: cfg.queue, retry: cfg.retry, timeoutMs: cfg.timeoutMs, telemetry: this.telemetry, logger: this.logger };
    if (signals.has('traces')) {
      const q = new ExportQueue({ ...common, signal: 'traces', send: (d: Traces, a: AbortSignal) => this.sendTraces(d, a) });
      this.consumers.traces = q;
      this.queues.push(q as unknown as ExportQueue<Signal>);
    }
    if (signals.has('metrics')) {
      const q = new ExportQueue({ ...common, signal: 'metrics', send: (d: Metrics, a: AbortSignal) => this.sendMetrics(d, a) });
      this.consumers.metrics = q;
      this.queues.push(q as unknown as ExportQueue<Signal>);
    }
    if (signals.has('logs')) {
      const q = new ExportQueue({ ...common, signal: 'logs', send: (d: Logs, a: AbortSignal) => this.sendLogs(d, a) });
      this.consumers.logs = q;
      this.queues.push(q as unknown as ExportQueue<Signal>);
    }
  }

  /** The store, once started; undefined before start and after shutdown. */
  store(): SqlStore | undefined {
    return this.reader;
  }

  /** Opens the store and, with `create_schema`, applies the schema migrations. */
  async start(_host: Host): Promise<void> {
    if (this.st || this.shuttingDown) return;
    const cfg = this.cfg;
    let store: TelemetryStore;
    if (cfg.mode === 'embedded') {
      try {
        store = ChdbStore.open({ dataDir: cfg.dataDir, database: cfg.database, tables: cfg.tables });
      } catch (err) {
        if (err instanceof StoreError && err.code === 'STORE_DATA_DIR_CONFLICT') {
          throw new ConfigError([`exporters::${this.settings.id}::data_dir: ${err.message}`]);
        }
        throw err;
      }
    } else {
      store = RemoteStore.open({
        endpoint: cfg.endpoint,
        username: cfg.username,
        password: cfg.password,
        database: cfg.database,
        tables: cfg.tables,
        timeoutMs: cfg.timeoutMs,
      });
    }
    try {
      if (cfg.createSchema) await this.createSchema(store);
    } catch (err) {
      await store.close();
      throw err;
    }
    this.st = store;
    this.reader = cfg.smartEncoding ? withSmartQueries(store) : store;
    this.telemetry.gauge('metaflow_clickhouse_smartencoding_registry_entries', 'Tag strings and resources the exporter knows to be stored (SmartEncoding).', () => this.registry.size);
    this.telemetry.gauge('metaflow_clickhouse_smartencoding_registry_evictions', 'Times the SmartEncoding registry was full and forgot its entries.', () => this.registry.evictions);
    if (store instanceof ChdbStore) {
      const s = store;
      this.telemetry.gauge('metaflow_clickhouse_pending_writes', 'Inserts and statements waiting for or running on the embedded writer.', () => s.pendingWrites);
    }
    this.logger.info('clickhouse store ready', {
      store: store.kind,
      where: cfg.mode === 'embedded' ? (store as ChdbStore).dataDir : cfg.endpoint,
      database: cfg.database,
    });
  }

  private async createSchema(store: TelemetryStore): Promise<void> {
    const o: SchemaOptions = {
      database: this.cfg.database,
      tables: this.cfg.tables,
      ttlMs: this.cfg.ttlMs,
      cluster: this.cfg.cluster,
      engine: this.cfg.engine,
      tableSettings: this.cfg.mode === 'embedded' ? EMBEDDED_TABLE_SETTINGS : undefined,
    };
    const exec = {
      command: (sql: string) => store.command(sql),
      select: async (sql: string) => (await store.query(sql)).rows,
    };
    const smart = this.cfg.smartEncoding;
    const run = async () => {
      const versions = [...(await migrate(exec, o)), ...(await migrateNetwork(exec, o))];
      if (smart) {
        const source = this.cfg.mode === 'remote' ? { sourceUser: this.cfg.username || 'default', sourcePassword: this.cfg.password } : {};
        versions.push(...(await migrateSmart(exec, { ...o, ...source })));
      }
      return versions;
    };
    // Exporters sharing an embedded engine would otherwise race on the same migrations.
    const applied = store instanceof ChdbStore ? await store.once(`${o.database}|${tablesKey(o.tables)}|${smart ? 'smart' : 'plain'}`, run) : await run();
    const encoded = smart ? [] : await encodedViews(exec, o.database, o.tables);
    if (encoded.length) {
      throw new ConfigError([
        `exporters::${this.settings.id}::smart_encoding: database "${o.database}" stores telemetry SmartEncoded (${encoded.join(', ')}); ` +
          'keep smart_encoding: true for it, or give this exporter another database',
      ]);
    }
    if (applied.length) this.logger.info('clickhouse schema migrated', { database: o.database, versions: applied.join(',') });
  }

  /** Flushes the queues (see the module doc), then closes the store. */
  readonly shutdown = once(async () => {
    this.shuttingDown = true;
    await Promise.all(this.queues.map((q) => q.shutdown()));
    const st = this.st;
    this.st = undefined;
    this.reader = undefined;
    await st?.close();
  });

  private requireStore(): TelemetryStore {
    const st = this.st;
    if (!st) throw new RetryableError('unavailable', 'the clickhouse exporter has not started', { code: 'STORE_UNAVAILABLE' });
    return st;
  }

  private encodeError(err: unknown, what: string, items: number): PermanentError {
    if (err instanceof BlockTooLargeError) return new PermanentError(err.message, { code: err.code, rejected: items, cause: err });
    return new PermanentError(`cannot encode ${what} for ClickHouse: ${errorMessage(err)}`, { code: 'CLICKHOUSE_ENCODE', rejected: items, cause: err });
  }

  /** Inserts a block; `label` is the table named in the metrics (the view users query, for encoded spans). */
  private async insert(store: TelemetryStore, table: string, block: NativeBlock, abort: AbortSignal, label = table): Promise<void> {
    const rows = block.rows;
    const bytes = block.byteLength();
    try {
      await store.insert(table, block, abort);
    } catch (err) {
      const e = toExportError(err);
      this.telemetry.counter('metaflow_clickhouse_insert_errors_total', 'Failed ClickHouse inserts, by table and error code.', 1, { table: label, code: e.code });
      throw e;
    }
    this.telemetry.counter('metaflow_clickhouse_rows_written_total', 'Rows inserted into ClickHouse, by table.', rows, { table: label });
    this.telemetry.counter('metaflow_clickhouse_written_bytes_total', 'Native block bytes inserted into ClickHouse, by table.', bytes, { table: label });
  }

  /** Runs a statement of the SmartEncoding write path, with the exporter's error mapping. */
  private async command(store: TelemetryStore, sql: string): Promise<void> {
    try {
      await store.command(sql);
    } catch (err) {
      throw toExportError(err);
    }
  }

  /**
   * One table's rows of a batch: built, then (SmartEncoding) the batch's new
   * tags and resources written and the dictionaries reloaded, then the rows
   * inserted into `table` (`label`, what users query, names it in telemetry).
   */
  private async insertRows<D>(
    store: TelemetryStore,
    pool: Pool<BatchRows<D>>,
    data: D,
    what: string,
    items: () => number,
    table: string,
    label: string,
    abort: AbortSignal,
  ): Promise<void> {
    const rows = pool.take();
    try {
      try {
        rows.append(data);
      } catch (err) {
        throw this.encodeError(err, what, items());
      }
      if (rows.tags) await this.writeTags(store, rows.tags, abort);
      if (rows.block.rows > 0) await this.insert(store, table, rows.block, abort, label);
    } finally {
      rows.block.reset();
      rows.tags?.reset();
      pool.give(rows);
    }
  }

  /** A batch's new tags and resources, then a reload of the dictionaries that got rows: before the batch's own rows, so names always resolve. */
  private async writeTags(store: TelemetryStore, t: PendingTags, abort: AbortSignal): Promise<void> {
    const tags = t.tagBlock.rows > 0;
    const resources = t.resourceBlock.rows > 0;
    if (tags) await this.insert(store, TAGS_TABLE, t.tagBlock, abort);
    if (resources) await this.insert(store, RESOURCES_TABLE, t.resourceBlock, abort);
    for (const sql of reloadStatements(this.cfg.database, { tags, resources }, this.cfg.cluster)) await this.command(store, sql);
    t.commit();
  }

  private async sendTraces(data: Traces, abort: AbortSignal): Promise<void> {
    const store = this.requireStore();
    const items = () => countItems('traces', data);
    const n = this.names;
    if (this.cfg.smartEncoding) return this.insertRows(store, this.smartRows, data, 'spans', items, n.encoded, n.view, abort);
    return this.insertRows(store, this.traceRows, data, 'spans', items, this.cfg.tables.traces, this.cfg.tables.traces, abort);
  }

  private async sendLogs(data: Logs, abort: AbortSignal): Promise<void> {
    const store = this.requireStore();
    if (!hasFlowLogs(data)) return this.insertLogs(store, data, abort);
    const { flow, other } = splitFlowLogs(data);
    let done = this.partsDone.get(data);
    if (!done) this.partsDone.set(data, (done = new Set()));
    if (!done.has('logs')) {
      await this.insertLogs(store, other, abort);
      done.add('logs');
    }
    if (!done.has('flow')) {
      const items = () => countItems('logs', flow);
      if (this.cfg.smartEncoding) await this.insertRows(store, this.smartFlowLogRows, flow, 'flow logs', items, FLOW_LOG_ENCODED, FLOW_LOG_TABLE, abort);
      else await this.insertRows(store, this.flowLogRows, flow, 'flow logs', items, FLOW_LOG_TABLE, FLOW_LOG_TABLE, abort);
      done.add('flow');
    }
    this.partsDone.delete(data);
  }

  private async insertLogs(store: TelemetryStore, data: Logs, abort: AbortSignal): Promise<void> {
    const items = () => countItems('logs', data);
    const n = this.names;
    if (this.cfg.smartEncoding) return this.insertRows(store, this.smartLogRows, data, 'log records', items, n.logsEncoded, n.logsView, abort);
    return this.insertRows(store, this.logRows, data, 'log records', items, this.cfg.tables.logs, this.cfg.tables.logs, abort);
  }

  private async sendMetrics(data: Metrics, abort: AbortSignal): Promise<void> {
    const store = this.requireStore();
    const network = hasNetworkMetrics(data);
    const rest = network ? withoutNetworkMetrics(data) : data;
    const smart = this.cfg.smartEncoding;
    const rows = smart ? this.smartMetricRows.take() : this.metricRows.take();
    const names = this.names.metrics;
    try {
      try {
        rows.append(rest);
      } catch (err) {
        throw this.encodeError(err, 'metric points', countItems('metrics', rest));
      }
      if (rows instanceof SmartMetricRows) await this.writeTags(store, rows.tags, abort);
      let done = this.partsDone.get(data);
      for (const [kind, block] of rows.blocks) {
        if (block.rows === 0 || done?.has(kind)) continue;
        if (smart) await this.insert(store, names[kind].encoded, block, abort, names[kind].view);
        else await this.insert(store, this.metricTables[kind], block, abort);
        if (!done) this.partsDone.set(data, (done = new Set()));
        done.add(kind);
      }
      if (network && !done?.has('network')) {
        const net = this.netRows.take();
        try {
          try {
            net.append(data);
          } catch (err) {
            throw this.encodeError(err, 'network metrics', countItems('metrics', data) - countItems('metrics', rest));
          }
          if (net.block.rows > 0) await this.insert(store, NETWORK_METRICS_TABLE, net.block, abort);
        } finally {
          net.block.reset();
          this.netRows.give(net);
        }
      }
      this.partsDone.delete(data);
    } finally {
      rows.reset();
      if (rows instanceof SmartMetricRows) this.smartMetricRows.give(rows);
      else this.metricRows.give(rows);
    }
  }
}

/**
 * What the export queue should make of a store failure: a RetryableError
 * (backed off and retried) when the StoreError says trying again can help,
 * else a PermanentError carrying the store's code. Unknown errors are
 * treated as retryable, so nothing is dropped on a surprise.
 */
export function toExportError(err: unknown): RetryableError | PermanentError {
  if (err instanceof PermanentError || err instanceof RetryableError) return err;
  const se = err instanceof StoreError ? err : new StoreError('STORE_UNAVAILABLE', errorMessage(err), { cause: err });
  // No retry hint from the store: the configured backoff decides when to try again.
  if (se.retryable) return new RetryableError('unavailable', se.message, { code: se.code, cause: se, retryAfterMs: 0 });
  return new PermanentError(se.message, { code: se.code, cause: se });
}

/** Throws a ConfigError when an embedded exporter names a second data folder while another is open. */
export function checkEmbeddedDataDir(settings: CreateSettings, cfg: ResolvedConfig): void {
  if (cfg.mode !== 'embedded') return;
  try {
    checkDataDir(cfg.dataDir);
  } catch (err) {
    throw new ConfigError([`exporters::${settings.id}::data_dir: ${errorMessage(err)}`]);
  }
}
