/**
 * A pcap receiver wired to collecting consumers, for tests: what it sends
 * is kept per signal, its log lines and Prometheus counters are readable.
 * Test code.
 */
import { ComponentID, type Consumers } from '../../pipeline/component';
import { Logger } from '../../pipeline/logger';
import type { LogRecord, Logs, Metric, Metrics, Span, Traces } from '../../pipeline/pdata';
import { Telemetry } from '../../pipeline/telemetry';
import type { ProtocolSpec } from '../../protocols/types';
import { config, validate } from './config';
import { PcapReceiver } from './receiver';

/** A receiver under test. */
export interface Harness {
  receiver: PcapReceiver;
  telemetry: Telemetry;
  spans: Span[];
  /** Resource attributes of each span, in the same order. */
  spanResources: Array<Record<string, unknown>>;
  logs: LogRecord[];
  metrics: Metric[];
  /** Log lines the receiver wrote. */
  lines: string[];
  /** Batches each consumer was given (including refused ones). */
  batches: { traces: number; logs: number; metrics: number };
}

/** Options of {@link makeReceiver}. */
export interface HarnessOptions {
  /** Called before each batch is accepted; throw to refuse it. */
  gate?: (signal: 'traces' | 'logs' | 'metrics') => void | Promise<void>;
  /** Which consumers exist (default all three). */
  signals?: Array<'traces' | 'logs' | 'metrics'>;
  specs?: readonly ProtocolSpec[];
}

/** Creates (does not start) a receiver with the given config over the defaults. */
export function makeReceiver(raw: Record<string, unknown>, opts: HarnessOptions = {}): Harness {
  const cfg = config.parseOrThrow(raw);
  const problems = validate(cfg);
  if (problems.length) throw new Error(`invalid test config: ${problems.map((p) => p.join(': ')).join('; ')}`);
  const telemetry = new Telemetry('normal');
  const h: Omit<Harness, 'receiver'> = { telemetry, spans: [], spanResources: [], logs: [], metrics: [], lines: [], batches: { traces: 0, logs: 0, metrics: 0 } };
  const signals = new Set(opts.signals ?? ['traces', 'logs', 'metrics']);
  const gate = opts.gate ?? (() => undefined);
  const next: Consumers = {};
  if (signals.has('traces')) {
    next.traces = {
      consume: async (d: Traces) => {
        h.batches.traces++;
        await gate('traces');
        for (const rs of d.resourceSpans) for (const ss of rs.scopeSpans) for (const s of ss.spans) {
          h.spans.push(s);
          h.spanResources.push(rs.resource.attributes);
        }
      },
    };
  }
  if (signals.has('logs')) {
    next.logs = {
      consume: async (d: Logs) => {
        h.batches.logs++;
        await gate('logs');
        for (const rl of d.resourceLogs) for (const sl of rl.scopeLogs) h.logs.push(...sl.logRecords);
      },
    };
  }
  if (signals.has('metrics')) {
    next.metrics = {
      consume: async (d: Metrics) => {
        h.batches.metrics++;
        await gate('metrics');
        for (const rm of d.resourceMetrics) for (const sm of rm.scopeMetrics) h.metrics.push(...sm.metrics);
      },
    };
  }
  const settings = {
    id: new ComponentID('pcap', ''),
    kind: 'receiver' as const,
    logger: new Logger('info', {}, (l) => h.lines.push(l)),
    telemetry: telemetry.forComponent('receiver', 'pcap'),
  };
  const receiver = opts.specs ? new PcapReceiver(cfg, settings, next, opts.specs) : new PcapReceiver(cfg, settings, next);
  return { receiver, ...h };
}

/** Sum of a network metric's points with `attrs` (and every granularity when `granularity` is unset). */
export function metricSum(metrics: readonly Metric[], name: string, attrs: Record<string, unknown>): number {
  let n = 0;
  for (const m of metrics) {
    if (m.name !== name) continue;
    if (m.data.type === 'sum') {
      for (const p of m.data.dataPoints) if (Object.entries(attrs).every(([k, v]) => p.attributes[k] === v)) n += Number(p.value);
    } else if (m.data.type === 'histogram') {
      for (const p of m.data.dataPoints) if (Object.entries(attrs).every(([k, v]) => p.attributes[k] === v)) n += p.count;
    }
  }
  return n;
}
