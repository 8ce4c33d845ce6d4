/**
 * The embedded store: chDB (the ClickHouse engine in process), persisted to
 * `data_dir`.
 *
 * Inserts. chDB's raw insert only takes text formats, which parse at ~30k
 * span rows/s; the engine reads its Native format about thirty times faster.
 * So a finished Native block is written to a temporary file (on /dev/shm
 * when it is a writable directory, else under `data_dir`) and inserted with
 * `INSERT INTO db.t (cols) SELECT * FROM file('<tmp>', 'Native')`; the file
 * is removed once the engine is done with it. `queryAsync` runs on a libuv
 * thread, so the event loop encodes the next batch meanwhile. Blocks that
 * wait for the writer are combined into one INSERT (`file('{a,b}')`), since
 * each INSERT costs a new part plus a run of the trace-id view.
 *
 * Concurrency (measured with chdb 3.4): statements on one chDB Session are
 * safe to issue concurrently but the engine runs them one at a time, and
 * each waiting statement blocks a libuv worker thread (four by default), so
 * a few queued statements would stall every `fs` call in the process.
 * Separate Sessions on the same folder do run in parallel. Hence one
 * {@link Engine} per folder holds one writer Session and two reader
 * Sessions, each behind a {@link SerialLane} that keeps at most one statement
 * per Session inside the engine: a long insert never delays a query, and at
 * most three libuv threads are ever held by chDB.
 *
 * chDB holds one data folder per process. Engines are shared, reference
 * counted, by every embedded exporter with the same resolved `data_dir`; a
 * second, different folder is refused with STORE_DATA_DIR_CONFLICT.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Session } from 'chdb';
import { errorMessage } from '../../pipeline/errors';
import type { QueryOptions, QueryResult, TableNames } from '../../pipeline/storage';
import type { NativeBlock } from './native';
import { ident, insertHead, literal } from './schema';
import {
  SerialLane,
  StoreError,
  clickhouseCodeOf,
  fromClickHouseCode,
  firstLine,
  parseJSONCompact,
  type TelemetryStore,
} from './store';

/** Statements that may wait behind one Session before new ones are refused. */
const MAX_WAITING = 256;

/** Reader Sessions per engine: queries run in parallel with inserts and with each other. */
const READERS = 2;

/**
 * Engine settings given at connect. JSON output quotes 64-bit integers (the
 * SqlStore contract: they stay strings). An insert whose timestamps span
 * more than 100 days is stored rather than refused: telemetry with odd
 * clocks is still telemetry.
 */
const CONNECTION_ARGS = ['--output_format_json_quote_64bit_integers=1', '--throw_on_max_partitions_per_insert_block=0'];

/** Most blocks combined into one INSERT. */
const MAX_COALESCE = 16;

/** Most bytes of blocks combined into one INSERT (the engine squashes them into one part up to 256 MiB). */
const MAX_COALESCE_BYTES = 192 * 1024 * 1024;

/** A block file waiting for the writer. */
interface PendingInsert {
  /** `INSERT INTO db.table (columns)`: only inserts with the same target are combined. */
  readonly target: string;
  readonly what: string;
  /** File name without folder and extension, for the `{a,b}` list. */
  readonly name: string;
  readonly file: string;
  readonly bytes: number;
  state: 'waiting' | 'running' | 'done';
  resolve(): void;
  reject(err: StoreError): void;
}

function dropPending(e: Engine, item: PendingInsert): void {
  const i = e.pending.indexOf(item);
  if (i >= 0) e.pending.splice(i, 1);
}

function removeFile(file: string): Promise<void> {
  return fs.promises.rm(file, { force: true }).catch(() => undefined);
}

/** The INSERT of a group of block files with the same target. */
function insertSQL(dir: string, group: readonly PendingInsert[]): string {
  const source = group.length === 1 ? group[0].file : path.join(dir, `{${group.map((p) => p.name).join(',')}}.native`);
  return `${group[0].target} SELECT * FROM file(${literal(source)}, 'Native')`;
}

/** One chDB data folder: its Sessions and lanes, shared by every store on it. */
interface Engine {
  readonly dir: string;
  refs: number;
  readonly writer: Session;
  readonly writeLane: SerialLane;
  readonly readers: Session[];
  readonly readLanes: SerialLane[];
  /** Where temporary Native files go. */
  readonly tmpDir: string;
  /** Inserts whose block file is written, in arrival order, waiting for the writer. */
  readonly pending: PendingInsert[];
  /** INSERT statements run and blocks they carried (blocks > statements when inserts were combined). */
  readonly stats: { statements: number; blocks: number };
  /** Whether tmpDir was created for this engine (and is removed with it). */
  readonly ownsTmpDir: boolean;
  seq: number;
  /** Schema migrations in progress or done, by database and table set, so concurrent starts migrate once. */
  readonly migrations: Map<string, Promise<unknown>>;
}

const engines = new Map<string, Engine>();

/** The data folder currently open in this process, if any. */
export function openDataDir(): string | undefined {
  for (const e of engines.values()) return e.dir;
  return undefined;
}

/** Throws STORE_DATA_DIR_CONFLICT when another folder than `dataDir` is open. */
export function checkDataDir(dataDir: string): void {
  const dir = path.resolve(dataDir);
  const open = openDataDir();
  if (open !== undefined && open !== dir) {
    throw new StoreError(
      'STORE_DATA_DIR_CONFLICT',
      `data_dir "${dir}" cannot be opened: chDB holds one data folder per process and "${open}" is already open ` +
        '(another embedded clickhouse exporter); give every embedded clickhouse exporter the same data_dir',
    );
  }
}

function removeStaleTmpDirs(): void {
  // Folders of crashed processes (named after their pid) would otherwise pile up in /dev/shm.
  let names: string[];
  try {
    names = fs.readdirSync('/dev/shm');
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^metaflow-chdb-(\d+)-/.exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') fs.rmSync(path.join('/dev/shm', name), { recursive: true, force: true });
    }
  }
}

function chooseTmpDir(dataDir: string): { dir: string; owned: boolean } {
  try {
    if (fs.statSync('/dev/shm').isDirectory()) {
      removeStaleTmpDirs();
      const dir = fs.mkdtempSync(`/dev/shm/metaflow-chdb-${process.pid}-`);
      // mkdtemp can succeed where writing a file still fails (a full or read-only tmpfs).
      fs.writeFileSync(path.join(dir, 'probe'), 'ok');
      fs.rmSync(path.join(dir, 'probe'));
      return { dir, owned: true };
    }
  } catch {
    // Fall through to the data folder.
  }
  const dir = path.join(dataDir, 'tmp-native');
  fs.mkdirSync(dir, { recursive: true });
  for (const name of fs.readdirSync(dir)) fs.rmSync(path.join(dir, name), { force: true });
  return { dir, owned: false };
}

function openEngine(dir: string): Engine {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new StoreError('STORE_IO', `cannot create data_dir "${dir}": ${errorMessage(err)}`, { retryable: false, cause: err });
  }
  const sessions: Session[] = [];
  try {
    for (let i = 0; i <= READERS; i++) sessions.push(new Session(dir, { connectionArgs: CONNECTION_ARGS }));
  } catch (err) {
    for (const s of sessions) s.close();
    throw new StoreError('STORE_UNAVAILABLE', `cannot open the embedded ClickHouse at "${dir}": ${firstLine(errorMessage(err))}`, {
      retryable: false,
      cause: err,
    });
  }
  const tmp = chooseTmpDir(dir);
  return {
    dir,
    refs: 0,
    writer: sessions[0],
    writeLane: new SerialLane('embedded ClickHouse writer', MAX_WAITING),
    readers: sessions.slice(1),
    readLanes: sessions.slice(1).map((_, i) => new SerialLane(`embedded ClickHouse reader ${i}`, MAX_WAITING)),
    tmpDir: tmp.dir,
    pending: [],
    stats: { statements: 0, blocks: 0 },
    ownsTmpDir: tmp.owned,
    seq: 0,
    migrations: new Map(),
  };
}

function acquireEngine(dataDir: string): Engine {
  const dir = path.resolve(dataDir);
  checkDataDir(dir);
  let e = engines.get(dir);
  if (!e) {
    e = openEngine(dir);
    engines.set(dir, e);
  }
  e.refs++;
  return e;
}

async function releaseEngine(e: Engine): Promise<void> {
  if (--e.refs > 0) return;
  engines.delete(e.dir);
  // Let every statement finish: closing a Session under a running statement aborts the engine.
  await Promise.all([e.writeLane, ...e.readLanes].map((l) => l.run(async () => undefined).catch(() => undefined)));
  e.writer.close();
  for (const r of e.readers) r.close();
  if (e.ownsTmpDir) fs.rmSync(e.tmpDir, { recursive: true, force: true });
}

/** Maps a chDB or file-system error to a StoreError. */
export function fromChdbError(err: unknown, what: string): StoreError {
  if (err instanceof StoreError) return err;
  const message = errorMessage(err);
  const e = err as { code?: unknown; clickhouseCode?: unknown };
  switch (e?.code) {
    case 'CHDB_CLOSED':
      return new StoreError('STORE_CLOSED', `${what} failed: the embedded store is closed`, { cause: err });
    case 'CHDB_TIMEOUT':
    case 'CHDB_ABORT':
      return new StoreError('STORE_TIMEOUT', `${what} failed: ${firstLine(message)}`, { cause: err });
    case 'CHDB_CONNECTION':
      return new StoreError('STORE_UNAVAILABLE', `${what} failed: ${firstLine(message)}`, { cause: err });
    case 'CHDB_BIND':
      return new StoreError('STORE_QUERY', `${what} failed: ${firstLine(message)}`, { cause: err });
    default:
      break;
  }
  if (typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code)) {
    // A file-system error around the temporary block file: the disk, not the data.
    return new StoreError('STORE_IO', `${what} failed: ${firstLine(message)}`, { cause: err });
  }
  const code = typeof e?.clickhouseCode === 'number' ? e.clickhouseCode : clickhouseCodeOf(message);
  if (code !== undefined) return fromClickHouseCode(code, message, what, err);
  return new StoreError('STORE_UNAVAILABLE', `${what} failed: ${firstLine(message)}`, { cause: err });
}

/** Settings as `SET` statements and their reset, for per-query settings on a shared Session. */
function settingsStatements(settings: Record<string, string | number | boolean> | undefined): { set: string; reset: string } {
  const keys = settings ? Object.keys(settings) : [];
  if (!settings || keys.length === 0) return { set: '', reset: '' };
  for (const k of keys) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new StoreError('STORE_QUERY', `invalid setting name "${k}"`);
  }
  const value = (v: string | number | boolean) => (typeof v === 'string' ? literal(v) : typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
  return {
    set: `SET ${keys.map((k) => `${k} = ${value(settings[k])}`).join(', ')}; `,
    reset: `SET ${keys.map((k) => `${k} = DEFAULT`).join(', ')}`,
  };
}

/**
 * Runs `start` in `lane`, resolving early when `abort` fires. The lane stays
 * busy until the engine has finished, since a started statement cannot be
 * interrupted.
 */
function inLane<T>(lane: SerialLane, start: () => Promise<T>, abort: AbortSignal | undefined, what: string): Promise<T> {
  if (abort?.aborted) return Promise.reject(new StoreError('STORE_TIMEOUT', `${what} was aborted before it started`));
  const running = lane.run(() => {
    if (abort?.aborted) return Promise.reject(new StoreError('STORE_TIMEOUT', `${what} was aborted before it started`));
    return start();
  });
  if (!abort) return running;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new StoreError('STORE_TIMEOUT', `${what} was aborted (the engine finishes it in the background)`));
    abort.addEventListener('abort', onAbort, { once: true });
    running.then(
      (v) => {
        abort.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        abort.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

async function writeBlockFile(file: string, chunks: Buffer[]): Promise<void> {
  let total = 0;
  for (const c of chunks) total += c.length;
  const fh = await fs.promises.open(file, 'w');
  try {
    const { bytesWritten } = await fh.writev(chunks);
    if (bytesWritten !== total) throw new StoreError('STORE_IO', `short write of ${file}: ${bytesWritten} of ${total} bytes`);
  } finally {
    await fh.close();
  }
}

/** Options of {@link ChdbStore.open}. */
export interface ChdbStoreOptions {
  dataDir: string;
  database: string;
  tables: TableNames;
}

/** The embedded {@link TelemetryStore}; see the module doc. */
export class ChdbStore implements TelemetryStore {
  readonly kind = 'embedded' as const;
  private closed = false;

  private constructor(
    private readonly engine: Engine,
    readonly database: string,
    readonly tables: TableNames,
  ) {}

  /** Opens (or joins) the engine of `dataDir`. Throws StoreError. */
  static open(o: ChdbStoreOptions): ChdbStore {
    return new ChdbStore(acquireEngine(o.dataDir), o.database, o.tables);
  }

  /** The resolved data folder. */
  get dataDir(): string {
    return this.engine.dir;
  }

  /** Where temporary block files are written (exposed for tests and diagnostics). */
  get tmpDir(): string {
    return this.engine.tmpDir;
  }

  /** INSERT statements run on this engine and the blocks they carried. */
  get insertStats(): { statements: number; blocks: number } {
    return { ...this.engine.stats };
  }

  /** Statements waiting for or running on the writer Session. */
  get pendingWrites(): number {
    return this.engine.writeLane.pending;
  }

  /**
   * Runs `task` once per engine for `key`, sharing the result with
   * concurrent and later callers (schema migration on start).
   */
  once<T>(key: string, task: () => Promise<T>): Promise<T> {
    let p = this.engine.migrations.get(key) as Promise<T> | undefined;
    if (!p) {
      p = task();
      this.engine.migrations.set(key, p);
      // A failed migration may be retried by the next start.
      p.catch(() => this.engine.migrations.delete(key));
    }
    return p;
  }

  async query(sql: string, options?: QueryOptions): Promise<QueryResult> {
    this.checkOpen();
    const { set, reset } = settingsStatements(options?.settings);
    const text = `USE ${ident(options?.database ?? this.database)}; ${set}${sql}`;
    const lanes = this.engine.readLanes;
    let i = 0;
    for (let j = 1; j < lanes.length; j++) if (lanes[j].pending < lanes[i].pending) i = j;
    const session = this.engine.readers[i];
    const params = options?.params;
    const raw = await inLane(
      lanes[i],
      async () => {
        try {
          return params
            ? await session.queryBindAsync(text, params, { format: 'JSONCompact' })
            : await session.queryAsync(text, { format: 'JSONCompact' });
        } finally {
          if (reset) await session.queryAsync(reset).catch(() => undefined);
        }
      },
      options?.signal,
      'query',
    ).catch((err: unknown) => {
      throw fromChdbError(err, 'query');
    });
    return parseJSONCompact(raw.text());
  }

  async command(sql: string): Promise<void> {
    this.checkOpen();
    const w = this.engine.writer;
    await inLane(this.engine.writeLane, () => w.queryAsync(sql), undefined, 'statement').catch((err: unknown) => {
      throw fromChdbError(err, 'statement');
    });
  }

  async insert(table: string, block: NativeBlock, abort?: AbortSignal): Promise<void> {
    this.checkOpen();
    const what = `insert into ${this.database}.${table}`;
    if (abort?.aborted) throw new StoreError('STORE_TIMEOUT', `${what} was aborted before it started`);
    const e = this.engine;
    const name = `b${e.seq++}`;
    const file = path.join(e.tmpDir, `${name}.native`);
    // The file is written before waiting for the writer, so encoding and
    // writing the next batch overlap with the engine inserting this one.
    try {
      await writeBlockFile(file, block.chunks());
    } catch (err) {
      await removeFile(file);
      throw fromChdbError(err, what);
    }
    const target = insertHead(this.database, table, block);
    let resolve!: () => void;
    let reject!: (err: StoreError) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const item: PendingInsert = { target, what, name, file, bytes: block.byteLength(), state: 'waiting', resolve, reject };
    e.pending.push(item);
    e.writeLane.run(() => this.flush(item)).catch((err: unknown) => {
      // The lane refused the task (backlog full): the insert never ran.
      if (item.state !== 'waiting') return;
      item.state = 'done';
      dropPending(e, item);
      void removeFile(file);
      item.reject(fromChdbError(err, what));
    });
    if (!abort) return done;
    return new Promise<void>((res, rej) => {
      const onAbort = () => {
        if (item.state === 'waiting') {
          item.state = 'done';
          dropPending(e, item);
          void removeFile(file);
          rej(new StoreError('STORE_TIMEOUT', `${what} was aborted before it started`));
        } else {
          rej(new StoreError('STORE_TIMEOUT', `${what} was aborted (the engine finishes it in the background)`));
        }
      };
      abort.addEventListener('abort', onAbort, { once: true });
      done.then(
        () => {
          abort.removeEventListener('abort', onAbort);
          res();
        },
        (err: unknown) => {
          abort.removeEventListener('abort', onAbort);
          rej(err);
        },
      );
    });
  }

  /**
   * Runs in the writer lane: inserts `item` together with every insert
   * waiting behind it for the same table and columns (up to
   * {@link MAX_COALESCE} files / {@link MAX_COALESCE_BYTES}), as one
   * `INSERT … SELECT FROM file('{a,b,…}')`. Under load this turns several
   * batch-sized parts into one, which the engine writes and merges far
   * faster; when idle every insert runs alone, at once. When a combined
   * insert fails permanently, its blocks are retried one by one, so one bad
   * batch cannot take its neighbours down with it.
   */
  private async flush(item: PendingInsert): Promise<void> {
    // Already inserted with an earlier group, or abandoned.
    if (item.state !== 'waiting') return;
    const e = this.engine;
    const group: PendingInsert[] = [];
    let bytes = 0;
    for (const p of e.pending) {
      if (p.target !== item.target || p.state !== 'waiting') continue;
      if (group.length > 0 && (group.length >= MAX_COALESCE || bytes + p.bytes > MAX_COALESCE_BYTES)) break;
      group.push(p);
      bytes += p.bytes;
    }
    for (const p of group) {
      p.state = 'running';
      dropPending(e, p);
    }
    e.stats.statements++;
    e.stats.blocks += group.length;
    // Each block's outcome: undefined = stored.
    const outcome: Array<StoreError | undefined> = new Array(group.length).fill(undefined);
    try {
      await e.writer.queryAsync(insertSQL(e.tmpDir, group));
    } catch (err) {
      const first = fromChdbError(err, item.what);
      if (group.length === 1 || first.retryable) {
        outcome.fill(first);
      } else {
        for (let i = 0; i < group.length; i++) {
          try {
            e.stats.statements++;
            await e.writer.queryAsync(insertSQL(e.tmpDir, [group[i]]));
          } catch (one) {
            outcome[i] = fromChdbError(one, group[i].what);
          }
        }
      }
    }
    // Files go before callers hear back, so a settled insert has left nothing behind.
    await Promise.all(group.map((p) => removeFile(p.file)));
    for (let i = 0; i < group.length; i++) {
      group[i].state = 'done';
      const err = outcome[i];
      if (err) group[i].reject(err);
      else group[i].resolve();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await releaseEngine(this.engine);
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreError('STORE_CLOSED', 'the embedded store is closed');
  }
}
