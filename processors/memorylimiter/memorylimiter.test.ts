import os from 'node:os';
import type { Processor } from '../../pipeline/component';
import { RetryableError } from '../../pipeline/errors';
import type { Signal } from '../../pipeline/pdata';
import { RecordingConsumer, logRecord, logs, nSpans, recordingLogger, testSettings } from '../internal/testing';
import { resolveLimits, type MemoryLimiterConfig } from './config';
import { factory, newFactory } from '.';
import { totalMemory, type MemorySource } from './memorylimiter';

const MIB = 1024 * 1024;

/** A memory source the test sets by hand. */
class FakeMemory implements MemorySource {
  usedMiB = 0;
  totalMiB = 1000;
  reads = 0;
  gcCalls = 0;
  /** What a forced GC brings usage down to; undefined = no GC available. */
  afterGcMiB: number | undefined;

  usage(): number {
    this.reads++;
    return this.usedMiB * MIB;
  }
  total(): number {
    return this.totalMiB * MIB;
  }
  gc(): (() => void) | undefined {
    if (this.afterGcMiB === undefined) return undefined;
    return () => {
      this.gcCalls++;
      this.usedMiB = this.afterGcMiB as number;
    };
  }
}

function parse(raw: Record<string, unknown>): MemoryLimiterConfig {
  const { value, issues } = factory.config.parse(raw);
  expect(issues).toEqual([]);
  return value!;
}

function setup<S extends Signal>(signal: S, raw: Record<string, unknown>, mem = new FakeMemory(), f = newFactory(mem), settings = testSettings('memory_limiter')) {
  const cfg = parse(raw);
  expect(f.validate!(cfg)).toEqual([]);
  const next = new RecordingConsumer<S>();
  const proc = f.create(settings, cfg, signal, next) as Processor<S> & { refusing: boolean };
  return { proc, next, mem, registry: settings.registry, factory: f, settings };
}

describe('memory_limiter config', () => {
  const problems = (raw: Record<string, unknown>) => factory.validate!(parse(raw));

  test('check_interval and a limit are required', () => {
    expect(problems({})).toEqual([
      ['check_interval', 'must be greater than zero, e.g. 1s'],
      ['limit_mib', 'set either limit_mib or limit_percentage to a value greater than zero'],
    ]);
  });

  test('exactly one of limit_mib and limit_percentage', () => {
    expect(problems({ check_interval: '1s', limit_mib: 100, limit_percentage: 50 })).toEqual([
      ['limit_percentage', 'cannot be combined with limit_mib; set exactly one of them'],
    ]);
  });

  test('the spike must be below the limit', () => {
    expect(problems({ check_interval: '1s', limit_mib: 100, spike_limit_mib: 100 })).toEqual([
      ['spike_limit_mib', 'must be smaller than limit_mib (100); got 100'],
    ]);
    expect(problems({ check_interval: '1s', limit_percentage: 50, spike_limit_percentage: 60 })).toEqual([
      ['spike_limit_percentage', 'must be smaller than limit_percentage (50); got 60'],
    ]);
  });

  test('a spike of the other kind than the limit is reported', () => {
    expect(problems({ check_interval: '1s', limit_percentage: 50, spike_limit_mib: 10 })).toEqual([
      ['spike_limit_mib', 'applies only with limit_mib; use spike_limit_percentage with limit_percentage'],
    ]);
  });

  test('GC intervals must be consistent', () => {
    expect(problems({ check_interval: '1s', limit_mib: 100, min_gc_interval_when_soft_limited: '1s', min_gc_interval_when_hard_limited: '5s' })).toEqual([
      ['min_gc_interval_when_soft_limited', 'must be greater than or equal to min_gc_interval_when_hard_limited'],
    ]);
  });

  test('percentages above 100 are schema problems', () => {
    const { issues } = factory.config.parse({ check_interval: '1s', limit_percentage: 150 });
    expect(issues.map((i) => `${i.path.join('::')}: ${i.message}`)).toEqual(['limit_percentage: must be at most 100, got 150']);
  });

  test('limits resolve like the Collector: default spike is a fifth of the limit', () => {
    expect(resolveLimits(parse({ check_interval: '1s', limit_mib: 100 }), () => 0)).toEqual({ limitBytes: 100 * MIB, spikeBytes: 20 * MIB });
    expect(resolveLimits(parse({ check_interval: '1s', limit_percentage: 50, spike_limit_percentage: 10 }), () => 1000 * MIB)).toEqual({
      limitBytes: 500 * MIB,
      spikeBytes: 100 * MIB,
    });
  });

  test('total memory is the machine memory or a lower cgroup limit', () => {
    const t = totalMemory();
    expect(t).toBeGreaterThan(0);
    expect(t).toBeLessThanOrEqual(os.totalmem());
  });
});

describe('memory_limiter processor', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('refuses while memory is above the soft limit and accepts again once it drops', async () => {
    const { proc, next, mem, registry } = setup('traces', { check_interval: '1s', limit_mib: 100, spike_limit_mib: 20 });
    mem.usedMiB = 50;
    await proc.start({} as never);
    await proc.consume(nSpans(2));
    expect(next.received).toHaveLength(1);

    mem.usedMiB = 80; // soft limit = 100 - 20
    jest.advanceTimersByTime(1000);
    expect(proc.refusing).toBe(true);
    const err = await proc.consume(nSpans(3)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).reason).toBe('unavailable');
    expect((err as RetryableError).code).toBe('UNAVAILABLE');
    expect((err as RetryableError).message).toBe('data refused due to high memory usage');
    expect((err as RetryableError).retryAfterMs).toBe(1000);
    expect(next.received).toHaveLength(1);
    expect(await registry.value('otelcol_processor_refused_spans_total', { processor: 'memory_limiter' })).toBe(3);

    mem.usedMiB = 79;
    jest.advanceTimersByTime(1000);
    expect(proc.refusing).toBe(false);
    await proc.consume(nSpans(4));
    expect(next.received).toHaveLength(2);
    expect(await registry.value('otelcol_processor_outgoing_items_total', { otel_signal: 'traces' })).toBe(6);
    await proc.shutdown();
  });

  test('measures at start, so a process already over the limit refuses from the first batch', async () => {
    const { proc, mem } = setup('logs', { check_interval: '5s', limit_mib: 100 });
    mem.usedMiB = 95;
    await proc.start({} as never);
    await expect(proc.consume(logs({ scopes: [{ items: [logRecord('x')] }] }))).rejects.toMatchObject({ reason: 'unavailable', retryAfterMs: 5000 });
    await proc.shutdown();
  });

  test('above the hard limit a GC is forced and, when it helps, data keeps flowing', async () => {
    const { proc, mem } = setup('traces', { check_interval: '1s', limit_mib: 100, spike_limit_mib: 20 });
    mem.usedMiB = 10;
    mem.afterGcMiB = 40;
    await proc.start({} as never);
    mem.usedMiB = 120;
    jest.advanceTimersByTime(1000);
    expect(mem.gcCalls).toBe(1);
    expect(proc.refusing).toBe(false);
    await proc.shutdown();
  });

  test('without a GC available, the hard limit refuses', async () => {
    const { proc, mem } = setup('traces', { check_interval: '1s', limit_mib: 100 });
    mem.usedMiB = 10;
    await proc.start({} as never);
    mem.usedMiB = 150;
    jest.advanceTimersByTime(1000);
    expect(mem.gcCalls).toBe(0);
    expect(proc.refusing).toBe(true);
    await proc.shutdown();
  });

  test('soft-limit GCs respect min_gc_interval_when_soft_limited', async () => {
    const { proc, mem } = setup('traces', { check_interval: '1s', limit_mib: 100, spike_limit_mib: 20, min_gc_interval_when_soft_limited: '10s' });
    mem.usedMiB = 10;
    mem.afterGcMiB = 85; // GC does not get below the soft limit
    await proc.start({} as never);
    mem.usedMiB = 90;
    jest.advanceTimersByTime(5000);
    expect(mem.gcCalls).toBe(0);
    expect(proc.refusing).toBe(true);
    jest.advanceTimersByTime(6000);
    expect(mem.gcCalls).toBe(1);
    expect(proc.refusing).toBe(true);
    await proc.shutdown();
  });

  test('percentage limits are of total memory', async () => {
    const mem = new FakeMemory();
    mem.totalMiB = 1000;
    const { proc } = setup('traces', { check_interval: '1s', limit_percentage: 50 }, mem);
    mem.usedMiB = 399; // soft limit = 500 - 100
    await proc.start({} as never);
    expect(proc.refusing).toBe(false);
    mem.usedMiB = 400;
    jest.advanceTimersByTime(1000);
    expect(proc.refusing).toBe(true);
    await proc.shutdown();
  });

  test('pipelines using the same id share one limiter: one measurement per interval', async () => {
    const mem = new FakeMemory();
    const f = newFactory(mem);
    const settings = testSettings('memory_limiter');
    const raw = { check_interval: '1s', limit_mib: 100 };
    const a = setup('traces', raw, mem, f, settings);
    const b = setup('logs', raw, mem, f, settings);
    mem.usedMiB = 10;
    await a.proc.start({} as never);
    await b.proc.start({} as never);
    expect(mem.reads).toBe(1);
    jest.advanceTimersByTime(3000);
    expect(mem.reads).toBe(4);
    mem.usedMiB = 90;
    jest.advanceTimersByTime(1000);
    expect(a.proc.refusing).toBe(true);
    expect(b.proc.refusing).toBe(true);
    // One pipeline stopping does not stop the checks for the other.
    await a.proc.shutdown();
    mem.usedMiB = 10;
    jest.advanceTimersByTime(1000);
    expect(b.proc.refusing).toBe(false);
    await b.proc.shutdown();
    const reads = mem.reads;
    jest.advanceTimersByTime(5000);
    expect(mem.reads).toBe(reads);
  });

  test('logs state changes, not every check', async () => {
    const { logger, lines } = recordingLogger('info');
    const mem = new FakeMemory();
    const { proc } = setup('traces', { check_interval: '1s', limit_mib: 100 }, mem, newFactory(mem), testSettings('memory_limiter', { logger }));
    mem.usedMiB = 10;
    await proc.start({} as never);
    mem.usedMiB = 90;
    jest.advanceTimersByTime(5000);
    mem.usedMiB = 10;
    jest.advanceTimersByTime(5000);
    const messages = lines.map((l) => l.split('\t')[2].replace(/ \w+=.*$/, ''));
    expect(messages).toEqual([
      'memory limiter configured',
      'memory usage is above the soft limit; refusing data',
      'memory usage back within limits; accepting data',
    ]);
    await proc.shutdown();
  });

  test('shutdown before start and twice is safe; before start everything is accepted', async () => {
    const { proc, next, mem } = setup('traces', { check_interval: '1s', limit_mib: 100 });
    mem.usedMiB = 1000;
    await proc.consume(nSpans(1));
    expect(next.received).toHaveLength(1);
    await proc.shutdown();
    await proc.shutdown();
    expect(mem.reads).toBe(0);
  });
});

describe('memory_limiter with real process memory', () => {
  test('refuses once the process allocates past the limit', async () => {
    const rssMiB = Math.ceil(process.memoryUsage.rss() / MIB);
    // Soft limit 90 MiB above the current RSS; the test then allocates 300 MiB.
    const settings = testSettings('memory_limiter', { name: 'real' });
    const cfg = parse({ check_interval: '10ms', limit_mib: rssMiB + 100, spike_limit_mib: 10 });
    const next = new RecordingConsumer<'traces'>();
    const proc = factory.create(settings, cfg, 'traces', next) as Processor<'traces'> & { refusing: boolean };
    await proc.start({} as never);
    await proc.consume(nSpans(1));
    expect(next.received).toHaveLength(1);

    let hog: Buffer | undefined = Buffer.alloc(300 * MIB, 1);
    const deadline = Date.now() + 5000;
    while (!proc.refusing && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(hog.length).toBe(300 * MIB);
    await expect(proc.consume(nSpans(1))).rejects.toMatchObject({ reason: 'unavailable', message: 'data refused due to high memory usage' });
    expect(next.received).toHaveLength(1);
    hog = undefined;
    await proc.shutdown();
  });
});
