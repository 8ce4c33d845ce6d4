/**
 * The `forward` connector, as in the Collector: passes data unchanged from the
 * pipelines it exports from to the pipelines of the same signal it receives
 * into. Useful to join pipelines (several receivers' pipelines into one
 * export pipeline) and to fan one pipeline out to differently processed ones.
 */
import type { Connector, ConnectorFactory, Consumer, Consumers } from '../../pipeline/component';
import { s } from '../../pipeline/config/schema';
import { countItems, type Signal, type SignalData } from '../../pipeline/pdata';
import type { ComponentTelemetry } from '../../pipeline/telemetry';

/** `forward` has no settings. */
export const config = s.object({}).withDefaults();

class Forward<S extends Signal> implements Consumer<S> {
  readonly mutatesData = false;
  constructor(
    private readonly signal: S,
    private readonly next: Consumer<S>,
    private readonly telemetry: ComponentTelemetry,
  ) {}

  async consume(data: SignalData[S]): Promise<void> {
    const n = countItems(this.signal, data);
    this.telemetry.counter('metaflow_connector_forwarded_items_total', 'Items passed through a forward connector.', n, { signal: this.signal });
    return this.next.consume(data);
  }
}

/** The forward connector factory. */
export const factory: ConnectorFactory<Record<string, never>> = {
  kind: 'connector',
  type: 'forward',
  description: 'Passes data unchanged from one pipeline to others of the same signal',
  config,
  stability: { traces_to_traces: 'beta', metrics_to_metrics: 'beta', logs_to_logs: 'beta' },
  create(settings, _cfg, from, next): Connector {
    const consumers: Consumers = {};
    for (const signal of from) {
      const out = next[signal];
      if (out) (consumers as Record<Signal, Consumer>)[signal] = new Forward(signal, out as Consumer, settings.telemetry);
    }
    return { consumers, start: async () => undefined, shutdown: async () => undefined };
  },
};
