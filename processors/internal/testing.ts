/**
 * Test helpers for the processors in this folder: create settings, a
 * recording next consumer, and small builders for each signal's data.
 * Used only by tests.
 */
import { ComponentID, type Consumer, type CreateSettings } from '../../pipeline/component';
import { Logger, nopLogger } from '../../pipeline/logger';
import {
  AggregationTemporality,
  SpanKind,
  StatusCode,
  type AnyValue,
  type Attributes,
  type LogRecord,
  type Logs,
  type Metric,
  type MetricData,
  type Metrics,
  type Signal,
  type SignalData,
  type Span,
  type Traces,
} from '../../pipeline/pdata';
import { Telemetry } from '../../pipeline/telemetry';

/** Settings for a processor with real (inspectable) telemetry. */
export function testSettings(type: string, opts: { logger?: Logger; name?: string } = {}): CreateSettings & { registry: Telemetry } {
  const id = new ComponentID(type, opts.name ?? '');
  const registry = new Telemetry('normal');
  return { id, kind: 'processor', logger: opts.logger ?? nopLogger, telemetry: registry.forComponent('processor', id.toString()), registry };
}

/** A logger whose lines are kept in `lines`. */
export function recordingLogger(level: 'debug' | 'info' | 'warn' | 'error' = 'debug'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: new Logger(level, {}, (l) => lines.push(l)), lines };
}

/**
 * A next consumer that records what it receives. `fail` makes it reject;
 * `hold()` makes it wait until `release()`; `maxConcurrent` shows whether
 * calls ever overlapped.
 */
export class RecordingConsumer<S extends Signal> implements Consumer<S> {
  readonly received: SignalData[S][] = [];
  fail: Error | undefined;
  maxConcurrent = 0;
  private active = 0;
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  private waiters: Array<{ n: number; resolve: () => void }> = [];

  async consume(data: SignalData[S]): Promise<void> {
    this.active++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.active);
    try {
      if (this.gate) await this.gate;
      if (this.fail) throw this.fail;
      this.received.push(data);
      this.notify();
    } finally {
      this.active--;
    }
  }

  /** Makes later calls wait until {@link release}. */
  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  /** Lets waiting calls proceed. */
  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  /** Resolves once `n` batches have been received (rejects after `ms`). */
  waitFor(n: number, ms = 5000): Promise<void> {
    if (this.received.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`received ${this.received.length} batches, wanted ${n}`)), ms);
      this.waiters.push({
        n,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      });
    });
  }

  private notify(): void {
    this.waiters = this.waiters.filter((w) => {
      if (this.received.length < w.n) return true;
      w.resolve();
      return false;
    });
  }
}

/** A span with the given name and attributes. */
export function span(name: string, attributes: Attributes = {}, kind: SpanKind = SpanKind.SERVER): Span {
  return {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceState: '',
    parentSpanId: '',
    flags: 1,
    name,
    kind,
    startTimeUnixNano: 1700000000000000000n,
    endTimeUnixNano: 1700000000001000000n,
    attributes,
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: { code: StatusCode.UNSET, message: '' },
  };
}

/** Description of one scope group for the builders. */
export interface ScopeSpec<T> {
  name?: string;
  version?: string;
  attributes?: Attributes;
  items: T[];
}

/** Description of one resource group for the builders. */
export interface GroupSpec<T> {
  resource?: Attributes;
  scopes: ScopeSpec<T>[];
}

function scope(s: ScopeSpec<unknown>) {
  return { name: s.name ?? 'lib', version: s.version ?? '1.0.0', attributes: s.attributes ?? {}, droppedAttributesCount: 0 };
}

/** A traces batch. */
export function traces(...groups: GroupSpec<Span>[]): Traces {
  return {
    resourceSpans: groups.map((g) => ({
      resource: { attributes: g.resource ?? {}, droppedAttributesCount: 0 },
      schemaUrl: 'https://opentelemetry.io/schemas/1.24.0',
      scopeSpans: g.scopes.map((s) => ({ scope: scope(s), spans: s.items, schemaUrl: '' })),
    })),
  };
}

/** A log record. */
export function logRecord(body: AnyValue, attributes: Attributes = {}, severityText = 'INFO'): LogRecord {
  return {
    timeUnixNano: 1700000000000000000n,
    observedTimeUnixNano: 1700000000000000000n,
    severityNumber: 9,
    severityText,
    body,
    attributes,
    droppedAttributesCount: 0,
    flags: 0,
    traceId: '',
    spanId: '',
    eventName: '',
  };
}

/** A logs batch. */
export function logs(...groups: GroupSpec<LogRecord>[]): Logs {
  return {
    resourceLogs: groups.map((g) => ({
      resource: { attributes: g.resource ?? {}, droppedAttributesCount: 0 },
      schemaUrl: '',
      scopeLogs: g.scopes.map((s) => ({ scope: scope(s), logRecords: s.items, schemaUrl: '' })),
    })),
  };
}

/** A number data point with the given attributes and value. */
export function point(attributes: Attributes = {}, value = 1) {
  return { attributes, startTimeUnixNano: 1n, timeUnixNano: 2n, exemplars: [], flags: 0, value, isInt: Number.isInteger(value) };
}

/** A gauge metric with one data point per attribute set. */
export function gauge(name: string, pointAttrs: Attributes[]): Metric {
  return { name, description: `${name} description`, unit: '1', metadata: {}, data: { type: 'gauge', dataPoints: pointAttrs.map((a, i) => point(a, i)) } };
}

/** A cumulative monotonic sum metric with one data point per attribute set. */
export function sum(name: string, pointAttrs: Attributes[]): Metric {
  const data: MetricData = {
    type: 'sum',
    dataPoints: pointAttrs.map((a, i) => point(a, i)),
    aggregationTemporality: AggregationTemporality.CUMULATIVE,
    isMonotonic: true,
  };
  return { name, description: '', unit: 'By', metadata: {}, data };
}

/** A metrics batch. */
export function metrics(...groups: GroupSpec<Metric>[]): Metrics {
  return {
    resourceMetrics: groups.map((g) => ({
      resource: { attributes: g.resource ?? {}, droppedAttributesCount: 0 },
      schemaUrl: '',
      scopeMetrics: g.scopes.map((s) => ({ scope: scope(s), metrics: s.items, schemaUrl: '' })),
    })),
  };
}

/** `n` spans named `${prefix}0` … in one resource and scope. */
export function nSpans(n: number, prefix = 's', resource: Attributes = { 'service.name': 'svc' }): Traces {
  return traces({ resource, scopes: [{ items: Array.from({ length: n }, (_, i) => span(`${prefix}${i}`)) }] });
}

/** A small seeded PRNG (mulberry32), so fuzz tests are repeatable. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Values a hand-written or hostile config might hold, YAML-shaped or not. */
const ODD_VALUES: unknown[] = [
  '',
  'x',
  'insert',
  'HASH',
  'delete',
  'convert',
  'extract',
  'strict',
  'regexp',
  'int',
  'double',
  'string',
  '^user\\.',
  '(?P<a>\\w+)-(?P<b>\\d+)',
  '(unclosed',
  '(?i)abc',
  '(\\w+)',
  '__proto__',
  'constructor',
  'service.name',
  0,
  -1,
  1.5,
  2 ** 60,
  NaN,
  Infinity,
  true,
  false,
  null,
  undefined,
  [],
  {},
  ['a', 1, null],
  { nested: { deep: [1, 2] } },
  JSON.parse('{"__proto__": {"polluted": true}}'),
  new Date(0),
  () => 1,
  Symbol('s'),
  10n,
  new Uint8Array([1, 2]),
];

/** A random value, biased towards `preferred` choices so some configs come out valid. */
export function fuzzPick(rand: () => number, preferred: readonly unknown[] = []): unknown {
  if (preferred.length && rand() < 0.85) return preferred[Math.floor(rand() * preferred.length)];
  return ODD_VALUES[Math.floor(rand() * ODD_VALUES.length)];
}

/** A random attribute action: mostly well-formed fields with random omissions, extras and odd values. */
export function fuzzAction(rand: () => number): unknown {
  if (rand() < 0.05) return fuzzPick(rand);
  const a: Record<string, unknown> = {};
  const fields: Array<[string, readonly unknown[]]> = [
    ['key', ['k', 'user.id', 'service.name', '__proto__', 'n']],
    ['action', ['insert', 'update', 'upsert', 'delete', 'hash', 'extract', 'convert', 'UPSERT', 'bogus']],
    ['value', ['v', 1, 2.5, true, ['x'], { m: 1 }]],
    ['from_attribute', ['k', 'missing', 'n']],
    ['pattern', ['^user\\.', '(?P<a>\\w+)-(?P<b>\\d+)', '(unclosed', '(\\w+)', '.*']],
    ['converted_type', ['int', 'double', 'string', 'float']],
    ['from_context', ['metadata.x']],
    ['extra_key', [1]],
  ];
  for (const [k, pool] of fields) {
    const p = k === 'key' || k === 'action' ? 0.85 : k === 'extra_key' || k === 'from_context' ? 0.03 : 0.3;
    if (rand() < p) a[k] = fuzzPick(rand, pool);
  }
  return a;
}
