/**
 * The `batch` processor, as the Collector's batchprocessor.
 *
 * `consume` appends the batch's resource groups to the pending batch and
 * resolves at once. A batch is sent when pending items reach
 * `send_batch_size` (size trigger) or `timeout` after the last send or first
 * pending item (timeout trigger); no sent batch exceeds `send_batch_max_size`.
 * Sends go to the next consumer one at a time, in order. Because the sender
 * was already answered, an error from the next consumer cannot be returned.
 * A retryable refusal (a full exporter queue, a memory limit) is retried with
 * backoff while the batch stays held, so the bound below fills and the
 * pushback reaches the sender instead of data being dropped (unlike the
 * Collector, which drops here). Any other error counts the items as dropped
 * (`export_failed`), logged at most once a minute.
 *
 * Memory is bounded: once the items held (pending plus waiting to be sent)
 * would exceed {@link maxPendingItems}, `consume` refuses with
 * RetryableError('exhausted') and counts the refusal, so a stalled next
 * consumer pushes back on the sender. A single batch larger than the bound
 * is still taken when nothing is held, or it could never be accepted.
 *
 * The processor only holds references: it never modifies what it is given
 * (`mutatesData` false). Splitting copies only the resource, scope and metric
 * headers of the group that straddles a cut (see split.ts).
 */
import * as prom from 'prom-client';
import type { Consumer, Processor } from '../../pipeline/component';
import { RetryableError, errorMessage } from '../../pipeline/errors';
import type { Logger } from '../../pipeline/logger';
import { countItems, type Signal, type SignalData } from '../../pipeline/pdata';
import type { ComponentTelemetry } from '../../pipeline/telemetry';
import { maxPendingItems, type BatchConfig } from './config';
import { opsFor, type BatchOps, type Group } from './split';

/** Why a batch was sent, as the Collector's trigger metrics name it. */
type Trigger = 'size' | 'timeout';

interface Entry<S extends Signal> {
  group: Group<S>;
  items: number;
}

interface Ready<S extends Signal> {
  data: SignalData[S];
  items: number;
}

/** Buckets of the Collector's `otelcol_processor_batch_batch_send_size` histogram. */
const SEND_SIZE_BUCKETS = [10, 25, 50, 75, 100, 250, 500, 750, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000, 20000, 30000, 50000, 100000];

/** What the processor needs besides its config. */
export interface BatchDeps<S extends Signal> {
  signal: S;
  next: Consumer<S>;
  telemetry: ComponentTelemetry;
  logger: Logger;
}

/** One pipeline's batch processor; see the module doc. */
export class BatchProcessor<S extends Signal> implements Processor<S> {
  readonly mutatesData = false;
  /** Items held before `consume` refuses. */
  readonly maxPending: number;

  private readonly ops: BatchOps<S>;
  private pending: Entry<S>[] = [];
  private pendingItems = 0;
  private readonly outbox: (Ready<S> | undefined)[] = [];
  private outboxHead = 0;
  /** Items in the outbox plus the batch being sent. */
  private queuedItems = 0;
  private sending = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  private readonly sendSize: prom.Histogram<string> | undefined;

  constructor(
    private readonly cfg: BatchConfig,
    private readonly deps: BatchDeps<S>,
  ) {
    this.ops = opsFor(deps.signal);
    this.maxPending = maxPendingItems(cfg);
    this.sendSize = sendSizeHistogram(deps.telemetry);
    deps.telemetry.gauge('metaflow_processor_batch_held_items', 'Items the batch processor holds: pending plus waiting to be sent.', () => this.held, {
      otel_signal: deps.signal,
    });
  }

  /** Items held: pending, waiting to be sent, or being sent. */
  get held(): number {
    return this.pendingItems + this.queuedItems;
  }

  async start(): Promise<void> {
    // Timers are armed by the first pending item, so there is nothing to start.
  }

  async consume(data: SignalData[S]): Promise<void> {
    const { signal, telemetry, next } = this.deps;
    const n = countItems(signal, data);
    telemetry.incoming(signal, n);
    if (this.closed) {
      // After shutdown nothing would flush a pending batch; pass straight through so nothing is lost.
      await next.consume(data);
      telemetry.outgoing(signal, n);
      return;
    }
    // As the Collector: a batch without items carries nothing to send.
    if (n === 0) return;
    const held = this.held;
    if (held > 0 && held + n > this.maxPending) {
      telemetry.counter('metaflow_processor_batch_refused_items_total', 'Items the batch processor refused because it held too many.', n, {
        otel_signal: signal,
      });
      throw new RetryableError('exhausted', `batch processor is full: it holds ${held} items (limit ${this.maxPending}) while the next consumer catches up`);
    }
    for (const group of this.ops.groups(data)) this.pending.push({ group, items: this.ops.count(group) });
    this.pendingItems += n;

    const { send_batch_size: size, send_batch_max_size: maxSize, timeout } = this.cfg;
    let sent = false;
    while (this.pendingItems > 0 && (timeout === 0 || (size > 0 && this.pendingItems >= size))) {
      this.emit('size', maxSize);
      sent = true;
    }
    if (this.pendingItems === 0) this.clearTimer();
    else if (sent || !this.timer) this.armTimer();
  }

  /** Sends everything pending and resolves once every send has finished. Safe before start and when repeated. */
  async shutdown(): Promise<void> {
    this.closed = true;
    this.clearTimer();
    // The Collector counts the final flush as a timeout-triggered send.
    while (this.pendingItems > 0) this.emit('timeout', this.cfg.send_batch_max_size);
    await this.idle();
  }

  /** Resolves when nothing is waiting to be sent or being sent. */
  idle(): Promise<void> {
    if (!this.sending) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private armTimer(): void {
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      while (this.pendingItems > 0) this.emit('timeout', this.cfg.send_batch_max_size);
    }, this.cfg.timeout);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Cuts up to `limit` items (0 = all) off the pending batch and queues them for sending. */
  private emit(trigger: Trigger, limit: number): void {
    const ready = this.cut(limit);
    const { telemetry } = this.deps;
    this.sendSize?.observe({ processor: telemetry.id }, ready.items);
    if (trigger === 'size') {
      telemetry.counter('otelcol_processor_batch_batch_size_trigger_send_total', 'Number of times the batch was sent due to a size trigger.', 1);
    } else {
      telemetry.counter('otelcol_processor_batch_timeout_trigger_send_total', 'Number of times the batch was sent due to a timeout trigger.', 1);
    }
    this.outbox.push(ready);
    this.queuedItems += ready.items;
    if (!this.sending) {
      this.sending = true;
      void this.drain();
    }
  }

  private cut(limit: number): Ready<S> {
    if (limit <= 0 || limit >= this.pendingItems) {
      const groups = this.pending.map((e) => e.group);
      const items = this.pendingItems;
      this.pending = [];
      this.pendingItems = 0;
      return { data: this.ops.make(groups), items };
    }
    const head: Group<S>[] = [];
    let left = limit;
    let i = 0;
    for (; i < this.pending.length; i++) {
      const e = this.pending[i];
      // Groups without items right after the cut go along, so pending never starts with one.
      if (e.items <= left) {
        head.push(e.group);
        left -= e.items;
        continue;
      }
      if (left > 0) {
        const [h, t] = this.ops.split(e.group, left);
        head.push(h);
        this.pending[i] = { group: t, items: e.items - left };
      }
      break;
    }
    this.pending = this.pending.slice(i);
    this.pendingItems -= limit;
    return { data: this.ops.make(head), items: limit };
  }

  /** The single sender: sends queued batches one at a time, in order. Never rejects. */
  private async drain(): Promise<void> {
    const { signal, next, telemetry, logger } = this.deps;
    while (this.outboxHead < this.outbox.length) {
      const batch = this.outbox[this.outboxHead] as Ready<S>;
      this.outbox[this.outboxHead++] = undefined;
      if (this.outboxHead > 64 && this.outboxHead * 2 > this.outbox.length) {
        this.outbox.splice(0, this.outboxHead);
        this.outboxHead = 0;
      }
      for (let attempt = 0; ; attempt++) {
        try {
          await next.consume(batch.data);
          telemetry.outgoing(signal, batch.items);
          break;
        } catch (err) {
          // A consumer that is only full for now (an exporter's queue, a memory
          // limit) gets the batch again: the batch stays held, so once the bound
          // is reached `consume` refuses and the pushback reaches the sender.
          if (err instanceof RetryableError && !this.closed) {
            await new Promise((r) => setTimeout(r, Math.min(Math.max(err.retryAfterMs, 50) , 100 * 2 ** Math.min(attempt, 6))));
            continue;
          }
          telemetry.dropped(signal, batch.items, 'export_failed');
          logger.every(`batch-export-failed-${signal}`, 60000, 'warn', `next consumer failed; dropped ${batch.items} ${signal} items of a batch`, {
            error: errorMessage(err),
          });
          break;
        }
      }
      this.queuedItems -= batch.items;
    }
    this.outbox.length = 0;
    this.outboxHead = 0;
    this.sending = false;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

/**
 * The Collector's send-size histogram, shared by every batch processor of
 * the service (one series per processor id); undefined when telemetry is off.
 */
function sendSizeHistogram(telemetry: ComponentTelemetry): prom.Histogram<string> | undefined {
  const t = telemetry.telemetry;
  if (t.level === 'none') return undefined;
  const name = 'otelcol_processor_batch_batch_send_size';
  const existing = t.registry.getSingleMetric(name);
  if (existing) return existing as prom.Histogram<string>;
  return new prom.Histogram({
    name,
    help: 'Number of items in a batch that was sent.',
    labelNames: ['processor'],
    buckets: SEND_SIZE_BUCKETS,
    registers: [t.registry],
  });
}
