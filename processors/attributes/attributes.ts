/**
 * The `attributes` processor: applies an attribute action list to span
 * attributes, log record attributes, or the attributes of every data point
 * of a metric, for the items its `include` / `exclude` properties select.
 * Edits the batch in place (`mutatesData`); the graph hands it its own copy
 * when the batch is shared.
 */
import type { Consumer, Processor } from '../../pipeline/component';
import { countItems, type Logs, type Metric, type Metrics, type Signal, type SignalData, type Traces } from '../../pipeline/pdata';
import type { ComponentTelemetry } from '../../pipeline/telemetry';
import type { AttrProc } from '../internal/attraction';
import type { Matcher } from './match';

/** One pipeline's attributes processor. */
export class AttributesProcessor<S extends Signal> implements Processor<S> {
  readonly mutatesData = true;

  constructor(
    private readonly signal: S,
    private readonly proc: AttrProc,
    private readonly include: Matcher | undefined,
    private readonly exclude: Matcher | undefined,
    private readonly next: Consumer<S>,
    private readonly telemetry: ComponentTelemetry,
  ) {}

  async start(): Promise<void> {
    // Stateless: nothing to start.
  }

  async shutdown(): Promise<void> {
    // Stateless: nothing held, so nothing to flush.
  }

  async consume(data: SignalData[S]): Promise<void> {
    const n = countItems(this.signal, data);
    this.telemetry.incoming(this.signal, n);
    switch (this.signal) {
      case 'traces':
        this.traces(data as Traces);
        break;
      case 'metrics':
        this.metrics(data as Metrics);
        break;
      default:
        this.logs(data as Logs);
    }
    await this.next.consume(data);
    this.telemetry.outgoing(this.signal, n);
  }

  private traces(t: Traces): void {
    const { include, exclude, proc } = this;
    for (const rs of t.resourceSpans) {
      for (const ss of rs.scopeSpans) {
        for (const span of ss.spans) {
          if (include && !include.matchSpan(span, rs.resource, ss.scope)) continue;
          if (exclude && exclude.matchSpan(span, rs.resource, ss.scope)) continue;
          proc.process(span.attributes);
        }
      }
    }
  }

  private logs(l: Logs): void {
    const { include, exclude, proc } = this;
    for (const rl of l.resourceLogs) {
      for (const sl of rl.scopeLogs) {
        for (const log of sl.logRecords) {
          if (include && !include.matchLog(log, rl.resource, sl.scope)) continue;
          if (exclude && exclude.matchLog(log, rl.resource, sl.scope)) continue;
          proc.process(log.attributes);
        }
      }
    }
  }

  private metrics(m: Metrics): void {
    const { include, exclude } = this;
    for (const rm of m.resourceMetrics) {
      for (const sm of rm.scopeMetrics) {
        for (const metric of sm.metrics) {
          if (include && !include.matchMetric(metric, rm.resource)) continue;
          if (exclude && exclude.matchMetric(metric, rm.resource)) continue;
          this.dataPoints(metric);
        }
      }
    }
  }

  private dataPoints(metric: Metric): void {
    if (metric.data.type === 'empty') return;
    for (const dp of metric.data.dataPoints) this.proc.process(dp.attributes);
  }
}
