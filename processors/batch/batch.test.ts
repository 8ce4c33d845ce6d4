import type { Processor } from '../../pipeline/component';
import { RetryableError } from '../../pipeline/errors';
import { countItems, type Logs, type Metrics, type Signal, type Traces } from '../../pipeline/pdata';
import { RecordingConsumer, gauge, logRecord, logs, metrics, nSpans, recordingLogger, span, sum, testSettings, traces } from '../internal/testing';
import type { BatchProcessor } from './batch';
import { factory } from '.';

type Settings = ReturnType<typeof testSettings>;

function make<S extends Signal>(signal: S, raw: Record<string, unknown>, settings: Settings = testSettings('batch')) {
  const { value, issues } = factory.config.parse(raw);
  expect(issues).toEqual([]);
  const next = new RecordingConsumer<S>();
  const proc = factory.create(settings, value!, signal, next) as Processor<S> & BatchProcessor<S>;
  return { proc, next, settings, registry: settings.registry };
}

const spanNames = (t: Traces) => t.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => s.name)));

describe('batch config', () => {
  test('defaults are the Collector defaults', () => {
    expect(factory.config.parse(undefined).value).toEqual({
      send_batch_size: 8192,
      send_batch_max_size: 0,
      timeout: 200,
      metadata_keys: [],
      metadata_cardinality_limit: 1000,
    });
  });

  test('send_batch_max_size below send_batch_size is reported with its path', () => {
    const cfg = factory.config.parseOrThrow({ send_batch_size: 100, send_batch_max_size: 50 });
    expect(factory.validate!(cfg)).toEqual([
      ['send_batch_max_size', 'must be greater than or equal to send_batch_size (100), or 0 for no limit; got 50'],
    ]);
    expect(factory.validate!(factory.config.parseOrThrow({ send_batch_size: 100, send_batch_max_size: 100 }))).toEqual([]);
    expect(factory.validate!(factory.config.parseOrThrow({ send_batch_size: 100, send_batch_max_size: 0 }))).toEqual([]);
  });

  test('unknown keys, bad durations and negative sizes are schema problems', () => {
    const { issues } = factory.config.parse({ send_batch_size: -1, timeout: 'soon', sendbatchsize: 3 });
    expect(issues.map((i) => `${i.path.join('::')}: ${i.message}`)).toEqual([
      'sendbatchsize: unknown key; valid keys are: send_batch_size, send_batch_max_size, timeout, metadata_keys, metadata_cardinality_limit',
      'send_batch_size: must be at least 0, got -1',
      'timeout: expected a duration such as "200ms" or "5s", got "soon"',
    ]);
  });

  test('metadata_keys is accepted empty and reported when set', () => {
    expect(factory.validate!(factory.config.parseOrThrow({ metadata_keys: ['tenant'] }))).toEqual([
      ['metadata_keys', 'is not supported: MetaFlow consumers receive no client metadata to batch by'],
    ]);
  });
});

describe('batch processor', () => {
  test('does not mutate data and declares so', () => {
    const { proc } = make('traces', {});
    expect(proc.mutatesData).toBe(false);
  });

  test('size trigger: sends once pending items reach send_batch_size, merging resource groups by reference', async () => {
    const { proc, next, registry } = make('traces', { send_batch_size: 10, timeout: '10s' });
    await proc.start({} as never);
    const inputs = [nSpans(3, 'a'), nSpans(3, 'b'), nSpans(3, 'c')];
    for (const t of inputs) await proc.consume(t);
    expect(next.received).toHaveLength(0);
    const last = nSpans(3, 'd');
    await proc.consume(last);
    await next.waitFor(1);
    const [batch] = next.received;
    expect(countItems('traces', batch)).toBe(12);
    expect(spanNames(batch)).toEqual(['a0', 'a1', 'a2', 'b0', 'b1', 'b2', 'c0', 'c1', 'c2', 'd0', 'd1', 'd2']);
    // Cheap merge: the very same resource group objects, not copies.
    expect(batch.resourceSpans[0]).toBe(inputs[0].resourceSpans[0]);
    expect(batch.resourceSpans[3]).toBe(last.resourceSpans[0]);
    expect(await registry.value('otelcol_processor_batch_batch_size_trigger_send_total', { processor: 'batch' })).toBe(1);
    expect(await registry.value('otelcol_processor_batch_timeout_trigger_send_total')).toBe(0);
    expect(await registry.value('otelcol_processor_incoming_items_total', { otel_signal: 'traces' })).toBe(12);
    expect(await registry.value('otelcol_processor_outgoing_items_total', { otel_signal: 'traces' })).toBe(12);
    await proc.shutdown();
    expect(next.received).toHaveLength(1);
  });

  test('timeout trigger: sends what is pending after `timeout`', async () => {
    const { proc, next, registry } = make('logs', { send_batch_size: 100, timeout: '60ms' });
    const t0 = Date.now();
    await proc.consume(logs({ scopes: [{ items: [logRecord('one'), logRecord('two')] }] }));
    await new Promise((r) => setTimeout(r, 10));
    expect(next.received).toHaveLength(0);
    await next.waitFor(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(55);
    expect(next.received[0].resourceLogs[0].scopeLogs[0].logRecords.map((l) => l.body)).toEqual(['one', 'two']);
    expect(await registry.value('otelcol_processor_batch_timeout_trigger_send_total')).toBe(1);
    expect(await registry.value('otelcol_processor_batch_batch_size_trigger_send_total')).toBe(0);
    await proc.shutdown();
  });

  test('timeout trigger with fake timers: nothing before the timeout, everything at it', async () => {
    jest.useFakeTimers();
    try {
      const { proc, next } = make('traces', { send_batch_size: 100, timeout: '1s' });
      await proc.consume(nSpans(5));
      jest.advanceTimersByTime(999);
      await Promise.resolve();
      expect(next.received).toHaveLength(0);
      jest.advanceTimersByTime(1);
      await Promise.resolve();
      expect(next.received).toHaveLength(1);
      expect(countItems('traces', next.received[0])).toBe(5);
      await proc.shutdown();
    } finally {
      jest.useRealTimers();
    }
  });

  test('timeout 0 sends every batch at once', async () => {
    const { proc, next } = make('traces', { send_batch_size: 100, timeout: '0s' });
    await proc.consume(nSpans(2));
    await proc.consume(nSpans(1));
    await next.waitFor(2);
    expect(next.received.map((t) => countItems('traces', t))).toEqual([2, 1]);
    await proc.shutdown();
  });

  test('send_batch_max_size splits resource groups, keeping resource and scope of each piece exactly', async () => {
    const { proc, next, registry } = make('traces', { send_batch_size: 4, send_batch_max_size: 4, timeout: '10s' });
    const input = traces(
      {
        resource: { 'service.name': 'a', 'host.name': 'h1' },
        scopes: [
          { name: 'scopeA', version: '1.2', attributes: { x: 1 }, items: [span('a0'), span('a1'), span('a2')] },
          { name: 'scopeB', version: '2.0', items: Array.from({ length: 7 }, (_, i) => span(`b${i}`)) },
        ],
      },
      { resource: { 'service.name': 'b' }, scopes: [{ name: 'scopeC', items: [span('c0'), span('c1')] }] },
    );
    const before = structuredClone(input);
    await proc.consume(input);
    await next.waitFor(3);
    expect(next.received.map((t) => countItems('traces', t))).toEqual([4, 4, 4]);
    const shape = (t: Traces) =>
      t.resourceSpans.map((rs) => ({
        resource: rs.resource,
        schemaUrl: rs.schemaUrl,
        scopes: rs.scopeSpans.map((ss) => ({ scope: ss.scope, spans: ss.spans.map((s) => s.name) })),
      }));
    const resA = { attributes: { 'service.name': 'a', 'host.name': 'h1' }, droppedAttributesCount: 0 };
    const scopeA = { name: 'scopeA', version: '1.2', attributes: { x: 1 }, droppedAttributesCount: 0 };
    const scopeB = { name: 'scopeB', version: '2.0', attributes: {}, droppedAttributesCount: 0 };
    const url = 'https://opentelemetry.io/schemas/1.24.0';
    expect(next.received.map(shape)).toEqual([
      [{ resource: resA, schemaUrl: url, scopes: [{ scope: scopeA, spans: ['a0', 'a1', 'a2'] }, { scope: scopeB, spans: ['b0'] }] }],
      [{ resource: resA, schemaUrl: url, scopes: [{ scope: scopeB, spans: ['b1', 'b2', 'b3', 'b4'] }] }],
      [
        { resource: resA, schemaUrl: url, scopes: [{ scope: scopeB, spans: ['b5', 'b6'] }] },
        {
          resource: { attributes: { 'service.name': 'b' }, droppedAttributesCount: 0 },
          schemaUrl: url,
          scopes: [{ scope: { name: 'scopeC', version: '1.0.0', attributes: {}, droppedAttributesCount: 0 }, spans: ['c0', 'c1'] }],
        },
      ],
    ]);
    // Spans are passed by reference, never copied.
    expect(next.received[0].resourceSpans[0].scopeSpans[0].spans[0]).toBe(input.resourceSpans[0].scopeSpans[0].spans[0]);
    // The input is untouched, and no two emitted batches share a resource or scope object.
    expect(input).toEqual(before);
    const resources = next.received.flatMap((t) => t.resourceSpans.map((rs) => rs.resource));
    expect(new Set(resources).size).toBe(resources.length);
    const scopeObjs = next.received.flatMap((t) => t.resourceSpans.flatMap((rs) => rs.scopeSpans.map((ss) => ss.scope)));
    expect(new Set(scopeObjs).size).toBe(scopeObjs.length);
    expect(await registry.value('otelcol_processor_batch_batch_size_trigger_send_total')).toBe(3);
    await proc.shutdown();
  });

  test('metric splitting keeps the metric description, type and temporality of each piece', async () => {
    const { proc, next } = make('metrics', { send_batch_size: 2, send_batch_max_size: 2, timeout: '10s' });
    const input = metrics({
      resource: { 'service.name': 'm' },
      scopes: [{ items: [sum('requests', [{ a: 1 }, { a: 2 }, { a: 3 }]), gauge('temp', [{ b: 1 }])] }],
    });
    await proc.consume(input);
    await next.waitFor(2);
    const flat = (m: Metrics) =>
      m.resourceMetrics.flatMap((rm) =>
        rm.scopeMetrics.flatMap((sm) =>
          sm.metrics.map((x) => ({
            name: x.name,
            unit: x.unit,
            type: x.data.type,
            temporality: 'aggregationTemporality' in x.data ? x.data.aggregationTemporality : undefined,
            monotonic: x.data.type === 'sum' ? x.data.isMonotonic : undefined,
            points: x.data.type === 'empty' ? [] : x.data.dataPoints.map((p) => p.attributes),
          })),
        ),
      );
    expect(next.received.map(flat)).toEqual([
      [{ name: 'requests', unit: 'By', type: 'sum', temporality: 2, monotonic: true, points: [{ a: 1 }, { a: 2 }] }],
      [
        { name: 'requests', unit: 'By', type: 'sum', temporality: 2, monotonic: true, points: [{ a: 3 }] },
        { name: 'temp', unit: '1', type: 'gauge', temporality: undefined, monotonic: undefined, points: [{ b: 1 }] },
      ],
    ]);
    expect(input.resourceMetrics[0].scopeMetrics[0].metrics[0].data).toMatchObject({ type: 'sum' });
    expect(countItems('metrics', input)).toBe(4);
    await proc.shutdown();
  });

  test('log splitting: a large single batch is cut into max-size pieces in order', async () => {
    const { proc, next } = make('logs', { send_batch_size: 3, send_batch_max_size: 3, timeout: '10s' });
    const records = Array.from({ length: 8 }, (_, i) => logRecord(`r${i}`));
    await proc.consume(logs({ resource: { k: 'v' }, scopes: [{ items: records }] }));
    await next.waitFor(2);
    const bodies = (l: Logs) => l.resourceLogs.flatMap((rl) => rl.scopeLogs.flatMap((sl) => sl.logRecords.map((r) => r.body)));
    expect(next.received.map(bodies)).toEqual([
      ['r0', 'r1', 'r2'],
      ['r3', 'r4', 'r5'],
    ]);
    await proc.shutdown();
    expect(next.received.map(bodies)).toEqual([['r0', 'r1', 'r2'], ['r3', 'r4', 'r5'], ['r6', 'r7']]);
  });

  test('shutdown flushes everything pending and waits for the send', async () => {
    const { proc, next, registry } = make('traces', { send_batch_size: 1000, timeout: '1h' });
    await proc.consume(nSpans(3, 'x'));
    await proc.consume(nSpans(2, 'y'));
    next.hold();
    const done = proc.shutdown();
    let finished = false;
    void done.then(() => (finished = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(finished).toBe(false);
    next.release();
    await done;
    expect(next.received.map(spanNames)).toEqual([['x0', 'x1', 'x2', 'y0', 'y1']]);
    expect(await registry.value('otelcol_processor_batch_timeout_trigger_send_total')).toBe(1);
  });

  test('shutdown before start, and twice, is safe and sends nothing twice', async () => {
    const a = make('traces', {});
    await a.proc.shutdown();
    await a.proc.shutdown();
    expect(a.next.received).toHaveLength(0);

    const b = make('traces', { timeout: '1h' });
    await b.proc.start({} as never);
    await b.proc.consume(nSpans(2));
    await Promise.all([b.proc.shutdown(), b.proc.shutdown()]);
    await b.proc.shutdown();
    expect(b.next.received.map((t) => countItems('traces', t))).toEqual([2]);
  });

  test('after shutdown, batches pass straight through', async () => {
    const { proc, next } = make('traces', { timeout: '1h' });
    await proc.shutdown();
    await proc.consume(nSpans(4));
    expect(next.received.map((t) => countItems('traces', t))).toEqual([4]);
  });

  test('empty batches are ignored', async () => {
    const { proc, next } = make('traces', { send_batch_size: 1, timeout: '1h' });
    await proc.consume({ resourceSpans: [] });
    await proc.consume(traces({ resource: { a: 1 }, scopes: [] }));
    await proc.shutdown();
    expect(next.received).toHaveLength(0);
  });

  test('hard bound: refuses with RetryableError(exhausted) while the next consumer is stuck, then recovers', async () => {
    const { proc, next, registry } = make('traces', { send_batch_size: 2, send_batch_max_size: 2, timeout: '1h' });
    expect(proc.maxPending).toBe(8);
    next.hold();
    for (let i = 0; i < 4; i++) await proc.consume(nSpans(2, `b${i}-`));
    expect(proc.held).toBe(8);
    const err = await proc.consume(nSpans(1, 'late')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).reason).toBe('exhausted');
    expect((err as RetryableError).code).toBe('RESOURCE_EXHAUSTED');
    expect((err as RetryableError).message).toBe('batch processor is full: it holds 8 items (limit 8) while the next consumer catches up');
    expect(await registry.value('metaflow_processor_batch_refused_items_total', { otel_signal: 'traces' })).toBe(1);
    next.release();
    await next.waitFor(4);
    await proc.idle();
    expect(proc.held).toBe(0);
    await proc.consume(nSpans(1, 'again'));
    await proc.shutdown();
    expect(next.received.map(spanNames)).toEqual([['b0-0', 'b0-1'], ['b1-0', 'b1-1'], ['b2-0', 'b2-1'], ['b3-0', 'b3-1'], ['again0']]);
    expect(next.maxConcurrent).toBe(1);
  });

  test('a single batch larger than the bound is taken when nothing is held', async () => {
    const { proc, next } = make('traces', { send_batch_size: 2, send_batch_max_size: 2, timeout: '1h' });
    next.hold();
    await proc.consume(nSpans(20));
    expect(proc.held).toBe(20);
    await expect(proc.consume(nSpans(1))).rejects.toBeInstanceOf(RetryableError);
    next.release();
    await proc.shutdown();
    expect(next.received.map((t) => countItems('traces', t))).toEqual(Array(10).fill(2));
  });

  test('errors from next are counted as dropped export_failed and logged at most once a minute', async () => {
    const { logger, lines } = recordingLogger();
    const settings = testSettings('batch', { logger });
    const { proc, next, registry } = make('traces', { send_batch_size: 2, timeout: '1h' }, settings);
    next.fail = new Error('backend down');
    await proc.consume(nSpans(2));
    await proc.consume(nSpans(3));
    await proc.shutdown();
    expect(await registry.value('metaflow_component_dropped_items_total', { kind: 'processor', id: 'batch', signal: 'traces', reason: 'export_failed' })).toBe(5);
    expect(await registry.value('otelcol_processor_outgoing_items_total')).toBe(0);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('next consumer failed; dropped 2 traces items of a batch');
    expect(lines[0]).toContain('error=backend down');
  });

  test('sends are sequential and in order even when next is slow', async () => {
    const { proc, next } = make('traces', { send_batch_size: 1, timeout: '1h' });
    next.hold();
    for (let i = 0; i < 4; i++) await proc.consume(nSpans(1, `n${i}-`));
    next.release();
    await proc.shutdown();
    expect(next.received.map(spanNames).flat()).toEqual(['n0-0', 'n1-0', 'n2-0', 'n3-0']);
    expect(next.maxConcurrent).toBe(1);
  });

  test('records the send size histogram', async () => {
    const { proc, registry } = make('traces', { send_batch_size: 3, timeout: '1h' });
    await proc.consume(nSpans(3));
    await proc.consume(nSpans(1));
    await proc.shutdown();
    const metric = registry.registry.getSingleMetric('otelcol_processor_batch_batch_send_size')!;
    const values = (await metric.get()).values as Array<{ value: number; labels: object; metricName?: string }>;
    const sumV = values.find((v) => v.metricName === 'otelcol_processor_batch_batch_send_size_sum');
    const countV = values.find((v) => v.metricName === 'otelcol_processor_batch_batch_send_size_count');
    expect(sumV?.value).toBe(4);
    expect(countV?.value).toBe(2);
    expect(countV?.labels).toEqual({ processor: 'batch' });
  });

  test('two instances in one service share the histogram without clashing', () => {
    const settings = testSettings('batch');
    make('traces', {}, settings);
    expect(() => make('logs', {}, settings)).not.toThrow();
  });

  it('retries a batch the next consumer refuses for now, pushing back on senders meanwhile, and drops nothing', async () => {
    const { proc, next, registry } = make('traces', { send_batch_size: 10, timeout: '1h' });
    next.fail = new RetryableError('exhausted', 'sending queue is full', { retryAfterMs: 10 });
    await proc.consume(nSpans(10, 'a')); // sent at once, refused, kept for retry
    await proc.consume(nSpans(10, 'b'));
    await proc.consume(nSpans(10, 'c'));
    await proc.consume(nSpans(10, 'd'));
    // The bound is 4 × 10 items; the fifth batch is refused back to the sender.
    await expect(proc.consume(nSpans(10, 'e'))).rejects.toMatchObject({ reason: 'exhausted' });
    next.fail = undefined;
    await proc.shutdown();
    const names = next.received.flatMap((t) => spanNames(t as Traces));
    expect(names).toHaveLength(40);
    expect(names.slice(0, 2)).toEqual(['a0', 'a1']);
    expect(await registry.value('metaflow_component_dropped_items_total')).toBe(0);
  });
});
