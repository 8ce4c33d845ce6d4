/**
 * The `resource` processor: applies an attribute action list to the
 * resource of every resource group, for all three signals. It edits the
 * batch in place (`mutatesData`), so the graph hands it its own copy when the
 * batch is shared.
 */
import type { Consumer, Processor } from '../../pipeline/component';
import { countItems, type Signal, type SignalData } from '../../pipeline/pdata';
import type { ComponentTelemetry } from '../../pipeline/telemetry';
import type { AttrProc } from '../internal/attraction';
import { resourcesOf } from '../internal/walk';

/** One pipeline's resource processor. */
export class ResourceProcessor<S extends Signal> implements Processor<S> {
  readonly mutatesData = true;

  constructor(
    private readonly signal: S,
    private readonly proc: AttrProc,
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
    for (const r of resourcesOf(this.signal, data)) this.proc.process(r.attributes);
    await this.next.consume(data);
    this.telemetry.outgoing(this.signal, n);
  }
}
