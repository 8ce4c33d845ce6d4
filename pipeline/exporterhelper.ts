/**
 * Queue, retry and timeout shared by every exporter (STYLE rule 7), with the
 * Collector's config keys (`sending_queue`, `retry_on_failure`, `timeout`).
 *
 * An exporter supplies only `send(batch, abortSignal)`. {@link ExportQueue}
 * turns it into a consumer:
 *
 * - With the queue enabled, `consume` resolves once the batch is queued;
 *   `num_consumers` workers send queued batches. A full queue refuses new
 *   batches with a RetryableError('exhausted') so the receiver pushes back
 *   (gRPC RESOURCE_EXHAUSTED / HTTP 429) instead of growing memory.
 * - Each send is retried with exponential backoff and jitter while it fails
 *   with a retryable error, until `max_elapsed_time`; a server's retry hint
 *   (RetryableError.retryAfterMs) is honoured. PermanentErrors are never
 *   retried. Failed items are counted (`otelcol_exporter_send_failed_*`).
 * - With the queue disabled, `consume` sends (with retries) before resolving.
 * - `shutdown` stops accepting, cuts retry waits short, lets sends in flight
 *   finish (an embedded insert cannot be cancelled, so aborting it would count
 *   stored rows as failed), and makes one last attempt for every queued batch,
 *   counting what fails. Nothing is dropped silently.
 */
import { s, type Infer } from './config/schema';
import { PermanentError, RetryableError, errorMessage } from './errors';
import type { Consumer } from './component';
import type { Logger } from './logger';
import { countItems, type Signal, type SignalData } from './pdata';
import type { ComponentTelemetry } from './telemetry';

/** `sending_queue` config. `queue_size` counts batches, as in the Collector. */
export const queueSchema = s
  .object({
    enabled: s.boolean().default(true),
    num_consumers: s.int().min(1).default(10),
    queue_size: s.int().min(1).default(1000),
    block_on_overflow: s.boolean().default(false).doc('wait for room instead of refusing when the queue is full'),
  })
  .withDefaults();

/** `retry_on_failure` config (durations in ms once parsed). */
export const retrySchema = s
  .object({
    enabled: s.boolean().default(true),
    initial_interval: s.duration().default('5s'),
    randomization_factor: s.number().min(0).max(1).default(0.5),
    multiplier: s.number().min(1).default(1.5),
    max_interval: s.duration().default('30s'),
    max_elapsed_time: s.duration().default('300s').doc('0 means retry forever'),
  })
  .withDefaults();

/** Parsed `sending_queue`. */
export type QueueConfig = Infer<typeof queueSchema>;
/** Parsed `retry_on_failure`. */
export type RetryConfig = Infer<typeof retrySchema>;

/** Sends one batch; throws PermanentError, RetryableError or anything (retryable). */
export type SendFn<S extends Signal> = (data: SignalData[S], abort: AbortSignal) => Promise<void>;

/** Options of an {@link ExportQueue}. */
export interface ExportQueueOptions<S extends Signal> {
  signal: S;
  send: SendFn<S>;
  queue: QueueConfig;
  retry: RetryConfig;
  /** Per-attempt timeout in ms; 0 disables. */
  timeoutMs: number;
  telemetry: ComponentTelemetry;
  logger: Logger;
}

interface Entry<S extends Signal> {
  data: SignalData[S];
  items: number;
}

/** The queue-retry-timeout wrapper around an exporter's send; see the module doc. */
export class ExportQueue<S extends Signal> implements Consumer<S> {
  private readonly entries: Entry<S>[] = [];
  private head = 0;
  private workers = 0;
  private closing = false;
  /** Fires at shutdown to cut retry waits short; sends in flight are not aborted. */
  private readonly wake = new AbortController();
  private readonly waitingForRoom: Array<() => void> = [];
  private idleResolvers: Array<() => void> = [];
  private inflight = 0;

  constructor(private readonly opts: ExportQueueOptions<S>) {
    if (opts.queue.enabled) opts.telemetry.queue(opts.signal, () => this.size, opts.queue.queue_size);
  }

  /** Batches waiting to be sent. */
  get size(): number {
    return this.entries.length - this.head;
  }

  async consume(data: SignalData[S]): Promise<void> {
    const { signal, telemetry } = this.opts;
    const items = countItems(signal, data);
    if (this.closing) {
      telemetry.enqueueFailed(signal, items);
      throw new RetryableError('unavailable', 'exporter is shutting down');
    }
    if (!this.opts.queue.enabled) {
      this.inflight++;
      try {
        await this.sendWithRetry({ data, items }, true);
      } finally {
        this.inflight--;
        this.checkIdle();
      }
      return;
    }
    while (this.size >= this.opts.queue.queue_size) {
      if (!this.opts.queue.block_on_overflow || this.closing) {
        telemetry.enqueueFailed(signal, items);
        throw new RetryableError('exhausted', `sending queue is full (${this.opts.queue.queue_size} batches)`, {
          retryAfterMs: 1000,
        });
      }
      await new Promise<void>((resolve) => this.waitingForRoom.push(resolve));
    }
    this.entries.push({ data, items });
    this.pump();
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.size === 0 && this.workers === 0 && this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleResolvers.push(resolve));
  }

  /** Stops accepting, stops retrying, gives every queued batch one last attempt. */
  async shutdown(): Promise<void> {
    if (this.closing) return this.idle();
    this.closing = true;
    this.wake.abort();
    for (const w of this.waitingForRoom.splice(0)) w();
    this.pump();
    await this.idle();
  }

  private pump(): void {
    while (this.workers < this.opts.queue.num_consumers && this.size > 0) {
      const entry = this.entries[this.head];
      this.entries[this.head++] = undefined as unknown as Entry<S>;
      if (this.head > 1024 && this.head * 2 > this.entries.length) {
        this.entries.splice(0, this.head);
        this.head = 0;
      }
      this.waitingForRoom.shift()?.();
      this.workers++;
      this.sendWithRetry(entry, false)
        .catch(() => undefined)
        .finally(() => {
          this.workers--;
          this.pump();
          this.checkIdle();
        });
    }
  }

  private checkIdle(): void {
    if (this.size === 0 && this.workers === 0 && this.inflight === 0) {
      for (const r of this.idleResolvers.splice(0)) r();
    }
  }

  /**
   * Sends with retries. When `rethrow`, the final error propagates to the
   * caller (queue disabled: the receiver answers with it); otherwise it is
   * counted and logged at most once a minute.
   */
  private async sendWithRetry(entry: Entry<S>, rethrow: boolean): Promise<void> {
    const { signal, telemetry, logger, retry } = this.opts;
    const startedAt = Date.now();
    let interval = retry.initial_interval;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.attempt(entry.data);
        telemetry.sent(signal, entry.items);
        return;
      } catch (err) {
        const permanent = err instanceof PermanentError;
        const elapsed = Date.now() - startedAt;
        let wait = jitter(interval, retry.randomization_factor);
        if (err instanceof RetryableError && err.retryAfterMs > wait) wait = err.retryAfterMs;
        const outOfTime = retry.max_elapsed_time > 0 && elapsed + wait > retry.max_elapsed_time;
        if (permanent || !retry.enabled || this.closing || outOfTime) {
          telemetry.sendFailed(signal, entry.items);
          logger.every(`send-failed-${signal}`, 60000, 'error', `dropping ${entry.items} ${signal} items after ${attempt} attempt(s)`, {
            error: errorMessage(err),
            permanent,
          });
          if (rethrow) throw err;
          return;
        }
        logger.every(`retry-${signal}`, 60000, 'warn', `export failed, will retry`, { error: errorMessage(err), waitMs: Math.round(wait) });
        await sleep(wait, this.wake.signal);
        interval = Math.min(interval * retry.multiplier, retry.max_interval);
      }
    }
  }

  private async attempt(data: SignalData[S]): Promise<void> {
    const { timeoutMs, send } = this.opts;
    const ctl = new AbortController();
    if (!timeoutMs) return send(data, ctl.signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new RetryableError('unavailable', `export timed out after ${timeoutMs}ms`);
        ctl.abort(err);
        reject(err);
      }, timeoutMs);
    });
    try {
      return await Promise.race([send(data, ctl.signal), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function jitter(interval: number, factor: number): number {
  const delta = factor * interval;
  return interval - delta + Math.random() * 2 * delta;
}

/** Sleeps `ms`, waking early when `abort` fires. */
export function sleep(ms: number, abort?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (abort?.aborted) return resolve();
    const t = setTimeout(done, ms);
    abort?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(t);
      abort?.removeEventListener('abort', done);
      resolve();
    }
  });
}
