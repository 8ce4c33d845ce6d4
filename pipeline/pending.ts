/**
 * Batches a component produced on its own schedule (a connector's flush),
 * waiting to be sent to the next consumer in order. Shared by the RED metrics
 * and service graph connectors.
 *
 * Contract: {@link drain} sends the oldest batch first and removes it once
 * accepted. A refused batch stays at the head and waits for the next drain
 * (the component's next flush); on a refusal the queue is cut to
 * {@link maxPending} batches, oldest dropped first, each drop reported
 * through `onDropped`. Only one drain runs at a time: a drain asked for while
 * one runs gets the running one. Without a next consumer the batches are
 * discarded (nothing is listening).
 */

/** What the queue sends to (a `Consumer` of the batch's signal). */
export interface BatchSink<T> {
  consume(batch: T): Promise<void>;
}

/** How the owner hears about refusals and drops (for its log and telemetry). */
export interface PendingHooks<T> {
  /** The head batch was refused; `pending` is the queue length before any drop. */
  onRefused(err: unknown, pending: number): void;
  /** A batch was dropped because the queue was over its bound after a refusal. */
  onDropped(batch: T): void;
}

/** Default bound of the queue after a refusal. */
export const DEFAULT_MAX_PENDING = 60;

/** An ordered, bounded queue of batches to send (see the module doc). */
export class PendingBatches<T> {
  private readonly queue: T[] = [];
  private draining: Promise<void> | undefined;

  constructor(
    private readonly next: BatchSink<T> | undefined,
    private readonly hooks: PendingHooks<T>,
    readonly maxPending = DEFAULT_MAX_PENDING,
  ) {}

  /** Queues a batch (send it with {@link drain}). */
  push(batch: T): void {
    this.queue.push(batch);
  }

  /** Batches waiting. */
  get length(): number {
    return this.queue.length;
  }

  /** The drain in progress, if any (a repeated shutdown waits for it). */
  get running(): Promise<void> | undefined {
    return this.draining;
  }

  /** Sends the waiting batches in order; resolves when sent or when one is refused. */
  drain(): Promise<void> {
    if (this.draining) return this.draining;
    // Cleared from a callback, never synchronously: a drain with nothing to await
    // must not clear the field before it is set.
    const p = this.loop().finally(() => {
      if (this.draining === p) this.draining = undefined;
    });
    this.draining = p;
    return p;
  }

  private async loop(): Promise<void> {
    const q = this.queue;
    while (q.length) {
      if (!this.next) {
        q.length = 0;
        return;
      }
      try {
        await this.next.consume(q[0]);
        q.shift();
      } catch (err) {
        this.hooks.onRefused(err, q.length);
        while (q.length > this.maxPending) this.hooks.onDropped(q.shift() as T);
        return;
      }
    }
  }
}
