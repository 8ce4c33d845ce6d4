import { ExportQueue, queueSchema, retrySchema, type SendFn } from './exporterhelper';
import { PermanentError, RetryableError } from './errors';
import { nopLogger } from './logger';
import { Telemetry } from './telemetry';
import { tracesOf } from './testing/factories';

function make(send: SendFn<'traces'>, queue: Record<string, unknown> = {}, retry: Record<string, unknown> = {}, timeoutMs = 0) {
  const telemetry = new Telemetry('normal');
  const q = new ExportQueue({
    signal: 'traces',
    send,
    queue: queueSchema.parseOrThrow(queue),
    retry: retrySchema.parseOrThrow({ initial_interval: '5ms', max_interval: '20ms', randomization_factor: 0, ...retry }),
    timeoutMs,
    telemetry: telemetry.forComponent('exporter', 'x'),
    logger: nopLogger,
  });
  return { q, telemetry };
}

describe('ExportQueue', () => {
  it('retries retryable failures until the send succeeds and counts the items sent', async () => {
    let calls = 0;
    const { q, telemetry } = make(async () => {
      if (++calls < 3) throw new Error('connection refused');
    });
    await q.consume(tracesOf('a', 'b'));
    await q.idle();
    expect(calls).toBe(3);
    expect(await telemetry.value('otelcol_exporter_sent_spans_total', { exporter: 'x' })).toBe(2);
    expect(await telemetry.value('otelcol_exporter_send_failed_spans_total')).toBe(0);
  });

  it('never retries a permanent error and counts the items as failed', async () => {
    let calls = 0;
    const { q, telemetry } = make(async () => {
      calls++;
      throw new PermanentError('bad data');
    });
    await q.consume(tracesOf('a'));
    await q.idle();
    expect(calls).toBe(1);
    expect(await telemetry.value('otelcol_exporter_send_failed_spans_total', { exporter: 'x' })).toBe(1);
  });

  it('gives up after max_elapsed_time and counts the failure', async () => {
    let calls = 0;
    const { q, telemetry } = make(
      async () => {
        calls++;
        throw new Error('down');
      },
      {},
      { max_elapsed_time: '40ms' },
    );
    await q.consume(tracesOf('a'));
    await q.idle();
    expect(calls).toBeGreaterThan(1);
    expect(await telemetry.value('otelcol_exporter_send_failed_spans_total')).toBe(1);
  });

  it('refuses with RESOURCE_EXHAUSTED when the queue is full, and reports the queue size', async () => {
    let release: () => void = () => undefined;
    const blocked = new Promise<void>((r) => (release = r));
    const { q, telemetry } = make(() => blocked, { queue_size: 2, num_consumers: 1 });
    await q.consume(tracesOf('1')); // taken by the single worker
    await q.consume(tracesOf('2'));
    await q.consume(tracesOf('3'));
    const err = await q.consume(tracesOf('4')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).reason).toBe('exhausted');
    expect((err as RetryableError).code).toBe('RESOURCE_EXHAUSTED');
    expect(await telemetry.value('otelcol_exporter_queue_size', { exporter: 'x' })).toBe(2);
    expect(await telemetry.value('otelcol_exporter_enqueue_failed_spans_total')).toBe(1);
    release();
    await q.idle();
    expect(await telemetry.value('otelcol_exporter_sent_spans_total')).toBe(3);
  });

  it('sends before resolving when the queue is disabled, passing the final error back', async () => {
    const sent: string[] = [];
    const ok = make(async (d) => {
      sent.push(d.resourceSpans[0].scopeSpans[0].spans[0].name);
    }, { enabled: false });
    await ok.q.consume(tracesOf('direct'));
    expect(sent).toEqual(['direct']);
    const bad = make(async () => {
      throw new PermanentError('rejected by backend');
    }, { enabled: false });
    await expect(bad.q.consume(tracesOf('x'))).rejects.toThrow('rejected by backend');
  });

  it('times out a slow send and retries it', async () => {
    let calls = 0;
    const { q, telemetry } = make(
      (_d, abort) => {
        calls++;
        if (calls > 1) return Promise.resolve();
        return new Promise((_r, reject) => abort.addEventListener('abort', () => reject(new Error('aborted'))));
      },
      {},
      {},
      30,
    );
    await q.consume(tracesOf('slow'));
    await q.idle();
    expect(calls).toBe(2);
    expect(await telemetry.value('otelcol_exporter_sent_spans_total')).toBe(1);
  });

  it('on shutdown makes one last attempt for what is queued and refuses new data', async () => {
    let failing = true;
    const sent: number[] = [];
    const { q, telemetry } = make(
      async (d) => {
        if (failing) throw new Error('down');
        sent.push(d.resourceSpans[0].scopeSpans[0].spans.length);
      },
      { num_consumers: 1 },
      { initial_interval: '10s', max_interval: '10s' },
    );
    await q.consume(tracesOf('a'));
    await q.consume(tracesOf('b', 'c'));
    await new Promise((r) => setTimeout(r, 20));
    failing = false;
    await q.shutdown();
    // The batch waiting in backoff is woken for its last attempt; the queued one gets its own.
    expect(sent).toEqual([1, 2]);
    expect(await telemetry.value('otelcol_exporter_send_failed_spans_total')).toBe(0);
    await expect(q.consume(tracesOf('late'))).rejects.toThrow('exporter is shutting down');
  });

  it('counts as failed what still cannot be sent at shutdown', async () => {
    const { q, telemetry } = make(
      async () => {
        throw new Error('down');
      },
      { num_consumers: 1 },
      { initial_interval: '10s', max_interval: '10s' },
    );
    await q.consume(tracesOf('a'));
    await q.consume(tracesOf('b', 'c'));
    await new Promise((r) => setTimeout(r, 20));
    await q.shutdown();
    expect(await telemetry.value('otelcol_exporter_send_failed_spans_total')).toBe(3);
    expect(await telemetry.value('otelcol_exporter_sent_spans_total')).toBe(0);
  });
});
