/**
 * How a storage exporter offers its database to readers (the query service)
 * without either importing the other: the exporter component implements
 * {@link StoreProvider}; a reader finds it through `host.getComponent` and
 * checks it with {@link isStoreProvider}.
 */

/** A column of a query result. */
export interface ResultColumn {
  name: string;
  type: string;
}

/**
 * A query result. Values are as ClickHouse's JSON formats give them: numbers
 * for up to 32-bit integers and floats, strings for 64-bit integers, dates and
 * everything else, arrays and objects for arrays, tuples and maps.
 */
export interface QueryResult {
  columns: ResultColumn[];
  rows: unknown[][];
}

/** Options of one query. */
export interface QueryOptions {
  /** Default database for unqualified names; the store's database when absent. */
  database?: string;
  /** Cancels the query (best effort). */
  signal?: AbortSignal;
  /** Query parameters bound server-side: `{name:Type}` placeholders. */
  params?: Record<string, string | number | boolean | bigint | readonly string[]>;
  /** Extra ClickHouse settings for this query. */
  settings?: Record<string, string | number | boolean>;
}

/** Table names of the telemetry schema, as configured. */
export interface TableNames {
  traces: string;
  /** The trace id → time range lookup table (fast trace-by-id). */
  traceIdTs: string;
  logs: string;
  metricsGauge: string;
  metricsSum: string;
  metricsHistogram: string;
  metricsExponentialHistogram: string;
  metricsSummary: string;
}

/** A readable SQL store holding the telemetry schema. */
export interface SqlStore {
  /** The database holding the telemetry tables. */
  readonly database: string;
  readonly tables: TableNames;
  /** `embedded` (chDB in process) or `remote` (a ClickHouse server). */
  readonly kind: 'embedded' | 'remote';
  /** Runs one statement and returns its rows. Errors are StoreErrors. */
  query(sql: string, options?: QueryOptions): Promise<QueryResult>;
}

/** A component that owns a {@link SqlStore}. */
export interface StoreProvider {
  /** The store, once the component has started; undefined before. */
  store(): SqlStore | undefined;
}

/** Whether a component provides a store. */
export function isStoreProvider(c: unknown): c is StoreProvider {
  return typeof c === 'object' && c !== null && typeof (c as StoreProvider).store === 'function';
}
