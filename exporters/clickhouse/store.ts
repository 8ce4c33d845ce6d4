/**
 * What the exporter needs from a database beyond pipeline/storage.ts's
 * read-only {@link SqlStore}: inserting finished Native blocks, running DDL,
 * closing — and the one error type both stores raise.
 *
 * Error codes (stable; readers such as the query service match on `code`):
 *
 * | code                     | retryable | meaning |
 * |--------------------------|-----------|---------|
 * | `STORE_AUTH`             | no        | the server refused the credentials or the user lacks a permission |
 * | `STORE_UNAVAILABLE`      | yes       | connection refused/reset, server overloaded or restarting, embedded engine busy |
 * | `STORE_TIMEOUT`          | yes       | the statement did not finish in time, or it was aborted |
 * | `STORE_QUERY`            | no        | the statement itself is wrong (syntax, unknown table or column, bad data) |
 * | `STORE_IO`               | yes       | the embedded store could not write its temporary block file or data |
 * | `STORE_CLOSED`           | yes       | the store was closed (the component is shutting down) |
 * | `STORE_DATA_DIR_CONFLICT`| no        | a second embedded data folder in one process (chDB allows one) |
 */
import { MetaflowError } from '../../pipeline/errors';
import type { QueryOptions, QueryResult, SqlStore } from '../../pipeline/storage';
import type { NativeBlock } from './native';

/** The stable codes of {@link StoreError}. */
export type StoreErrorCode =
  | 'STORE_AUTH'
  | 'STORE_UNAVAILABLE'
  | 'STORE_TIMEOUT'
  | 'STORE_QUERY'
  | 'STORE_IO'
  | 'STORE_CLOSED'
  | 'STORE_DATA_DIR_CONFLICT';

/** An error from a store; `retryable` says whether trying again later can succeed. */
export class StoreError extends MetaflowError {
  declare readonly code: StoreErrorCode;
  /** Whether the same statement may succeed later (the exporter retries these). */
  readonly retryable: boolean;
  /** ClickHouse's numeric error code, when the server or engine gave one. */
  readonly clickhouseCode: number | undefined;

  constructor(code: StoreErrorCode, message: string, options?: { retryable?: boolean; clickhouseCode?: number; cause?: unknown }) {
    super(code, message, { cause: options?.cause });
    this.retryable = options?.retryable ?? RETRYABLE_BY_DEFAULT[code];
    this.clickhouseCode = options?.clickhouseCode;
  }
}

const RETRYABLE_BY_DEFAULT: Record<StoreErrorCode, boolean> = {
  STORE_AUTH: false,
  STORE_UNAVAILABLE: true,
  STORE_TIMEOUT: true,
  STORE_QUERY: false,
  STORE_IO: true,
  STORE_CLOSED: true,
  STORE_DATA_DIR_CONFLICT: false,
};

/** A store the exporter writes to; both stores implement it. */
export interface TelemetryStore extends SqlStore {
  /**
   * Inserts a finished block into `db.table` (columns named as in the
   * block). The block's buffers may be reused once this resolves or rejects.
   */
  insert(table: string, block: NativeBlock, abort?: AbortSignal): Promise<void>;
  /** Runs a statement without a result (DDL, small inserts). */
  command(sql: string): Promise<void>;
  /** Releases connections. Safe to call repeatedly. */
  close(): Promise<void>;
}

/**
 * ClickHouse error codes after which the same statement can succeed later:
 * overload, limits, timeouts, network and disk trouble, replication
 * hiccups. Every other numeric code means the statement or its data is wrong.
 */
const TRANSIENT_CODES = new Set([
  3, // UNEXPECTED_END_OF_FILE (a truncated upload)
  74, // CANNOT_READ_FROM_FILE_DESCRIPTOR
  75, // CANNOT_WRITE_TO_FILE_DESCRIPTOR
  76, // CANNOT_OPEN_FILE
  107, // FILE_DOESNT_EXIST (our temporary block file vanished)
  159, // TIMEOUT_EXCEEDED
  164, // READONLY (a replica in read-only mode)
  202, // TOO_MANY_SIMULTANEOUS_QUERIES
  203, // NO_FREE_CONNECTION
  209, // SOCKET_TIMEOUT
  210, // NETWORK_ERROR
  225, // NO_ZOOKEEPER
  236, // ABORTED
  241, // MEMORY_LIMIT_EXCEEDED
  242, // TABLE_IS_READ_ONLY
  243, // NOT_ENOUGH_SPACE
  252, // TOO_MANY_PARTS
  319, // UNKNOWN_STATUS_OF_INSERT
  394, // QUERY_WAS_CANCELLED
  425, // SYSTEM_ERROR
  439, // CANNOT_SCHEDULE_TASK
  999, // KEEPER_EXCEPTION
  1000, // POCO_EXCEPTION (I/O)
  1001, // STD_EXCEPTION (I/O)
]);

/** Credentials refused, or the user may not do this. */
const AUTH_CODES = new Set([
  192, // UNKNOWN_USER
  193, // WRONG_PASSWORD
  194, // REQUIRED_PASSWORD
  195, // IP_ADDRESS_NOT_ALLOWED
  497, // ACCESS_DENIED
  516, // AUTHENTICATION_FAILED
]);

/** The numeric code in a ClickHouse error message (`Code: 60. DB::Exception…` or `Code: 60, e.displayText()…`). */
export function clickhouseCodeOf(message: string): number | undefined {
  const m = /\bCode: (\d+)[.,]/.exec(message);
  return m ? Number(m[1]) : undefined;
}

/**
 * Classifies a ClickHouse error code into a StoreError. `what` names the
 * operation for the message (`insert into metaflow.otel_traces`).
 */
export function fromClickHouseCode(code: number, message: string, what: string, cause: unknown): StoreError {
  const text = `${what} failed: ${firstLine(message)}`;
  if (AUTH_CODES.has(code)) return new StoreError('STORE_AUTH', text, { clickhouseCode: code, cause });
  if (code === 159 || code === 209) return new StoreError('STORE_TIMEOUT', text, { clickhouseCode: code, cause });
  if (code === 252 && /partitions for single INSERT block/i.test(message)) {
    // Same code as "too many parts", but this one is about the data: retrying cannot help.
    return new StoreError('STORE_QUERY', text, { clickhouseCode: code, cause });
  }
  if (TRANSIENT_CODES.has(code)) return new StoreError('STORE_UNAVAILABLE', text, { clickhouseCode: code, cause });
  return new StoreError('STORE_QUERY', text, { clickhouseCode: code, cause });
}

/** The first line of a (possibly multi-line, stack-carrying) message, bounded in length. */
export function firstLine(message: string): string {
  const nl = message.indexOf('\n');
  const line = (nl < 0 ? message : message.slice(0, nl)).trim();
  return line.length > 500 ? line.slice(0, 500) + '…' : line;
}

/** Runs tasks one at a time, in order, with a bounded backlog. */
export class SerialLane {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  constructor(
    private readonly name: string,
    private readonly maxWaiting: number,
  ) {}

  /** Tasks queued or running. */
  get pending(): number {
    return this.waiting;
  }

  /**
   * Runs `task` after every task submitted before it has settled. Refuses
   * with a retryable STORE_UNAVAILABLE when `maxWaiting` tasks are already
   * queued, so a stalled engine pushes back instead of queueing forever.
   */
  run<T>(task: () => Promise<T>): Promise<T> {
    if (this.waiting >= this.maxWaiting) {
      return Promise.reject(new StoreError('STORE_UNAVAILABLE', `${this.name}: ${this.waiting} statements already waiting`));
    }
    this.waiting++;
    const result = this.tail.then(task);
    this.tail = result.then(
      () => this.waiting--,
      () => this.waiting--,
    );
    return result;
  }
}

/** Shape of a JSONCompact response (both stores ask for it). */
export interface JSONCompactResponse {
  meta: Array<{ name: string; type: string }>;
  data: unknown[][];
}

/**
 * Parses a JSONCompact answer into a {@link QueryResult}. An empty answer
 * (DDL, INSERT) has no columns and no rows; anything that is not JSONCompact
 * (the statement carried its own FORMAT clause) is a STORE_QUERY error.
 */
export function parseJSONCompact(text: string): QueryResult {
  if (text.trim() === '') return { columns: [], rows: [] };
  let r: Partial<JSONCompactResponse> | undefined;
  try {
    r = JSON.parse(text) as Partial<JSONCompactResponse>;
  } catch {
    r = undefined;
  }
  if (typeof r !== 'object' || r === null || !Array.isArray(r.meta) || !Array.isArray(r.data)) {
    throw new StoreError('STORE_QUERY', 'query result is not JSONCompact; leave out the FORMAT clause');
  }
  return { columns: r.meta.map((m) => ({ name: m.name, type: m.type })), rows: r.data };
}

/** Re-exported so callers need one import for the store surface. */
export type { QueryOptions, QueryResult };
