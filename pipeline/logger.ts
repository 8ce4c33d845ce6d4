/**
 * Leveled logging to stderr. Components must not log per item (STYLE rule 8):
 * count, and use {@link Logger.every} to log a summary at most once per
 * interval.
 */

/** Log levels, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Where log lines go; replaceable in tests. */
export type LogSink = (line: string) => void;

/** A logger with bound fields (such as the component id). */
export class Logger {
  private readonly lastAt = new Map<string, number>();

  constructor(
    private readonly level: LogLevel = 'info',
    private readonly fields: Record<string, string> = {},
    private readonly sink: LogSink = (line) => process.stderr.write(line + '\n'),
    private readonly encoding: 'console' | 'json' = 'console',
  ) {}

  /** A logger that adds `fields` to every line. */
  with(fields: Record<string, string>): Logger {
    return new Logger(this.level, { ...this.fields, ...fields }, this.sink, this.encoding);
  }

  /** Whether `level` is logged. */
  enabled(level: LogLevel): boolean {
    return RANK[level] >= RANK[this.level];
  }

  debug(msg: string, extra?: Record<string, unknown>): void {
    this.log('debug', msg, extra);
  }
  info(msg: string, extra?: Record<string, unknown>): void {
    this.log('info', msg, extra);
  }
  warn(msg: string, extra?: Record<string, unknown>): void {
    this.log('warn', msg, extra);
  }
  error(msg: string, extra?: Record<string, unknown>): void {
    this.log('error', msg, extra);
  }

  /**
   * Logs at most once per `intervalMs` for a given `key`: for repeated
   * conditions (a failing backend, dropped data) where the count matters more
   * than each occurrence. Returns whether it logged.
   */
  every(key: string, intervalMs: number, level: LogLevel, msg: string, extra?: Record<string, unknown>): boolean {
    const now = Date.now();
    const last = this.lastAt.get(key);
    if (last !== undefined && now - last < intervalMs) return false;
    if (this.lastAt.size > 1000) this.lastAt.clear();
    this.lastAt.set(key, now);
    this.log(level, msg, extra);
    return true;
  }

  private log(level: LogLevel, msg: string, extra?: Record<string, unknown>): void {
    if (RANK[level] < RANK[this.level]) return;
    const ts = new Date().toISOString();
    if (this.encoding === 'json') {
      this.sink(JSON.stringify({ ts, level, msg, ...this.fields, ...extra }, jsonSafe));
      return;
    }
    let line = `${ts}\t${level}\t`;
    for (const [k, v] of Object.entries(this.fields)) line += `${k}=${v} `;
    line += msg;
    if (extra) for (const [k, v] of Object.entries(extra)) line += ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v, jsonSafe)}`;
    this.sink(line);
  }
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return value.message;
  return value;
}

/** A logger that drops everything (tests, benchmarks). */
export const nopLogger = new Logger('error', {}, () => undefined);
