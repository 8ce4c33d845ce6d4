/**
 * Typed errors with stable codes. Consumers signal what happened to data with
 * these, and receivers map them to the protocol's answer:
 *
 * | error                       | gRPC               | HTTP |
 * |-----------------------------|--------------------|------|
 * | PermanentError              | INVALID_ARGUMENT   | 400 (or 200 with partial success) |
 * | RetryableError 'exhausted'  | RESOURCE_EXHAUSTED | 429 + Retry-After |
 * | RetryableError 'unavailable'| UNAVAILABLE        | 503 + Retry-After |
 * | anything else               | UNAVAILABLE        | 503 |
 */

/** Base class of every error MetaFlow raises on purpose; `code` is stable. */
export class MetaflowError extends Error {
  /** A stable, documented identifier of the error kind. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * Data that can never be accepted (malformed, invalid). Never retried.
 * `rejected` is how many items of the batch were refused, when known; a
 * receiver answers a partial success when fewer than all were refused.
 */
export class PermanentError extends MetaflowError {
  readonly rejected: number | undefined;

  constructor(message: string, options?: { rejected?: number; cause?: unknown; code?: string }) {
    super(options?.code ?? 'PERMANENT', message, options);
    this.rejected = options?.rejected;
  }
}

/** Why a consumer refused data for now. */
export type RetryReason = 'exhausted' | 'unavailable';

/**
 * Data refused for now: a full queue ('exhausted'), a memory limit or a
 * backend that is down ('unavailable'). `retryAfterMs` is a hint of when to
 * retry; 0 means no hint (the retrier's own backoff applies).
 */
export class RetryableError extends MetaflowError {
  readonly reason: RetryReason;
  readonly retryAfterMs: number;

  constructor(reason: RetryReason, message: string, options?: { retryAfterMs?: number; cause?: unknown; code?: string }) {
    super(options?.code ?? (reason === 'exhausted' ? 'RESOURCE_EXHAUSTED' : 'UNAVAILABLE'), message, options);
    this.reason = reason;
    this.retryAfterMs = options?.retryAfterMs ?? 0;
  }
}

/** A configuration problem; `path` is the `::`-joined location in the config. */
export class ConfigError extends MetaflowError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

/** A factory was asked for a signal it does not support. */
export class UnsupportedSignalError extends MetaflowError {
  constructor(kind: string, type: string, signal: string) {
    super('SIGNAL_UNSUPPORTED', `${kind} "${type}" does not support ${signal}`);
  }
}

/** Whether an error means "try again later". */
export function isRetryable(err: unknown): boolean {
  return !(err instanceof PermanentError);
}

/** The message of any thrown value. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
