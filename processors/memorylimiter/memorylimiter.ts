/**
 * The `memory_limiter` processor, as the Collector's.
 *
 * A {@link MemoryLimiter} measures memory every `check_interval`. At or
 * above the soft limit (limit − spike) it starts refusing; below it, it
 * accepts again. At or above the hard limit it forces a GC first (when one
 * is available and the last was long enough ago) and measures again. While
 * refusing, every processor using it rejects batches with
 * RetryableError('unavailable', 'data refused due to high memory usage'), so
 * OTLP receivers answer UNAVAILABLE / 503 with Retry-After and nothing queues
 * up in the meantime. Refused items are counted as the Collector does
 * (`otelcol_processor_refused_spans_total{processor}`, …).
 *
 * What is measured: the process's resident set size (`rss`). The Collector
 * reads the Go heap, but in Node the heap is only part of the picture:
 * decoded requests sit in Buffers outside the V8 heap, and native code (the
 * embedded ClickHouse, libbpf) allocates outside both. RSS is what the
 * kernel's OOM killer and a container's memory limit count, so it is what a
 * limit must be compared with. Its drawback is that it falls slowly after a
 * GC (freed pages are returned lazily), so refusing can last a check or two
 * longer than the heap alone would suggest.
 *
 * One limiter serves every pipeline that names the same processor id with
 * the same config (as the Collector shares one per id), so three pipelines
 * do not take three measurements or disagree about the state.
 */
import os from 'node:os';
import type { Consumer, Processor } from '../../pipeline/component';
import { RetryableError } from '../../pipeline/errors';
import type { Logger } from '../../pipeline/logger';
import { countItems, type Signal, type SignalData } from '../../pipeline/pdata';
import type { ComponentTelemetry } from '../../pipeline/telemetry';
import { resolveLimits, type Limits, type MemoryLimiterConfig } from './config';

/** Where memory figures come from; injectable so tests can drive the limiter. */
export interface MemorySource {
  /** Bytes the process uses now. */
  usage(): number;
  /** Bytes available to the process in total (percentage limits are of this). */
  total(): number;
  /** Forces a full garbage collection; undefined when the runtime offers none. */
  gc(): (() => void) | undefined;
}

/**
 * Total memory available to the process: the machine's, or the cgroup
 * (container) limit when that is lower. `process.constrainedMemory()` reads
 * cgroup v1 and v2 limits; without a limit it reports 0 or a huge number.
 */
export function totalMemory(): number {
  const machine = os.totalmem();
  const constrained = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : 0;
  return constrained > 0 && constrained < machine ? constrained : machine;
}

/** The real process: RSS, total memory, and `global.gc` when run with --expose-gc. */
export const processMemory: MemorySource = {
  usage: () => process.memoryUsage.rss(),
  total: totalMemory,
  gc: () => (globalThis as { gc?: () => void }).gc,
};

const MIB = 1024 * 1024;
const mib = (bytes: number): number => Math.round(bytes / MIB);

/** The shared measuring loop and refuse/accept state; see the module doc. */
export class MemoryLimiter {
  /** True while memory is at or above the soft limit. */
  refusing = false;
  /** The last measured usage in bytes. */
  lastUsage = 0;
  private refs = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastGC: number;

  constructor(
    readonly limits: Limits,
    private readonly cfg: MemoryLimiterConfig,
    private readonly source: MemorySource,
    private readonly logger: Logger,
  ) {
    // As the Collector: the first forced GC waits one full interval after creation.
    this.lastGC = Date.now();
  }

  /** Usage at or above which data is refused. */
  get softLimit(): number {
    return this.limits.limitBytes - this.limits.spikeBytes;
  }

  /** Adds a user; the first starts the checks (measuring once right away). */
  acquire(): void {
    if (this.refs++ > 0) return;
    this.check();
    this.timer = setInterval(() => this.check(), this.cfg.check_interval);
    // Checking memory must not keep an otherwise finished process alive.
    this.timer.unref();
  }

  /** Removes a user; the last stops the checks. Returns whether it was the last. */
  release(): boolean {
    if (this.refs === 0) return false;
    if (--this.refs > 0) return false;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return true;
  }

  /** Measures once and updates the state. Called by the timer; public for tests. */
  check(): void {
    let used = this.source.usage();
    const soft = this.softLimit;
    if (used >= soft) {
      const hard = used >= this.limits.limitBytes;
      const minInterval = hard ? this.cfg.min_gc_interval_when_hard_limited : this.cfg.min_gc_interval_when_soft_limited;
      const gc = this.source.gc();
      if (gc && Date.now() - this.lastGC > minInterval) {
        gc();
        this.lastGC = Date.now();
        const after = this.source.usage();
        this.logger.every('memory-limiter-gc', 60000, 'info', `memory usage above the ${hard ? 'hard' : 'soft'} limit; forced a GC`, {
          before_mib: mib(used),
          after_mib: mib(after),
        });
        used = after;
      }
    }
    this.lastUsage = used;
    const above = used >= soft;
    if (above && !this.refusing) {
      this.logger.warn('memory usage is above the soft limit; refusing data', { cur_mem_mib: mib(used), soft_limit_mib: mib(soft) });
    } else if (!above && this.refusing) {
      this.logger.info('memory usage back within limits; accepting data', { cur_mem_mib: mib(used) });
    }
    this.refusing = above;
  }
}

/** Limiters shared by processors with the same id and config. */
export class LimiterRegistry {
  private readonly limiters = new Map<string, MemoryLimiter>();

  constructor(private readonly source: MemorySource) {}

  /** The limiter for `key`, created (and its limits resolved) on first use; acquired for the caller. */
  acquire(key: string, cfg: MemoryLimiterConfig, logger: Logger): MemoryLimiter {
    let limiter = this.limiters.get(key);
    if (!limiter) {
      const limits = resolveLimits(cfg, () => this.source.total());
      limiter = new MemoryLimiter(limits, cfg, this.source, logger);
      this.limiters.set(key, limiter);
      logger.info('memory limiter configured', {
        limit_mib: mib(limits.limitBytes),
        spike_limit_mib: mib(limits.spikeBytes),
        check_interval_ms: cfg.check_interval,
      });
    }
    limiter.acquire();
    return limiter;
  }

  /** Releases a limiter; the last user removes it. */
  release(key: string, limiter: MemoryLimiter): void {
    if (limiter.release() && this.limiters.get(key) === limiter) this.limiters.delete(key);
  }
}

/** What the Collector calls the items of each signal in the refused-items metric. */
const ITEM: Record<Signal, string> = { traces: 'spans', metrics: 'metric_points', logs: 'log_records' };

/** What a processor needs besides its config. */
export interface MemoryLimiterDeps<S extends Signal> {
  signal: S;
  next: Consumer<S>;
  telemetry: ComponentTelemetry;
  logger: Logger;
  registry: LimiterRegistry;
  /** Key of the shared limiter: the processor id plus its config. */
  key: string;
}

/** One pipeline's memory limiter processor. Accepts everything until started. */
export class MemoryLimiterProcessor<S extends Signal> implements Processor<S> {
  readonly mutatesData = false;
  private limiter: MemoryLimiter | undefined;
  private readonly retryAfterMs: number;

  constructor(
    private readonly cfg: MemoryLimiterConfig,
    private readonly deps: MemoryLimiterDeps<S>,
  ) {
    // Retry-After is in whole seconds on the wire; asking for less than a second gains nothing.
    this.retryAfterMs = Math.max(1000, cfg.check_interval);
    deps.telemetry.gauge('metaflow_processor_memory_limiter_usage_bytes', 'Process memory (RSS) at the last check.', () => this.limiter?.lastUsage ?? 0);
    deps.telemetry.gauge('metaflow_processor_memory_limiter_refusing', '1 while the memory limiter refuses data.', () => (this.limiter?.refusing ? 1 : 0));
  }

  /** Whether data is being refused now. */
  get refusing(): boolean {
    return this.limiter?.refusing ?? false;
  }

  async start(): Promise<void> {
    if (this.limiter) return;
    this.limiter = this.deps.registry.acquire(this.deps.key, this.cfg, this.deps.logger);
  }

  async shutdown(): Promise<void> {
    const limiter = this.limiter;
    this.limiter = undefined;
    if (limiter) this.deps.registry.release(this.deps.key, limiter);
  }

  async consume(data: SignalData[S]): Promise<void> {
    const { signal, telemetry, next } = this.deps;
    const n = countItems(signal, data);
    telemetry.incoming(signal, n);
    if (this.limiter?.refusing) {
      telemetry.counter(`otelcol_processor_refused_${ITEM[signal]}_total`, 'Items refused by the memory limiter.', n);
      throw new RetryableError('unavailable', 'data refused due to high memory usage', { retryAfterMs: this.retryAfterMs });
    }
    await next.consume(data);
    telemetry.outgoing(signal, n);
  }
}
