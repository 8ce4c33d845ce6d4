/**
 * The pipeline graph: components created from a checked config, wired to
 * their next consumers, started in reverse topological order (exporters
 * first, receivers last) and shut down in topological order (receivers first,
 * so every processor can flush into exporters that are still running).
 *
 * Sharing rules, as in the Collector: a receiver or connector is one instance
 * for every pipeline it is named in; a processor is one instance per pipeline;
 * an exporter is one instance per id. When one batch goes to several
 * consumers and some of them mutate data, the mutating ones get copies.
 */
import type { ComponentConfig, Config, PipelineConfig } from './config/validate';
import { downstream } from './config/validate';
import type {
  Component,
  ConnectorFactory,
  Consumer,
  Consumers,
  CreateSettings,
  ExporterFactory,
  Kind,
  ProcessorFactory,
  ReceiverFactory,
  Host,
  Exporter,
  Connector,
} from './component';
import { SECTION } from './component';
import type { Logger } from './logger';
import { clientInfo, setClientInfo } from './clientinfo';
import { cloneData, type Signal, type SignalData } from './pdata';
import type { Telemetry } from './telemetry';

/** One component instance in the graph. */
export interface Node {
  /** `receiver:otlp`, `processor:traces/batch`, … */
  name: string;
  kind: Kind;
  /** The component id as configured (`batch`, `otlp/2`). */
  key: string;
  component: Component;
  /** Names of the nodes this one sends data to. */
  next: Set<string>;
}

/** A consumer that hands each batch to several consumers. */
export class Fanout<S extends Signal> implements Consumer<S> {
  readonly mutatesData: boolean;
  private readonly clone: boolean[];

  constructor(private readonly consumers: Consumer<S>[]) {
    this.mutatesData = false;
    // Mutating consumers get a copy, except that when all mutate the last one
    // may keep the original.
    const allMutate = consumers.every((c) => c.mutatesData);
    this.clone = consumers.map((c, i) => !!c.mutatesData && !(allMutate && i === consumers.length - 1));
  }

  async consume(data: SignalData[S]): Promise<void> {
    if (this.consumers.length === 1) return this.consumers[0].consume(data);
    const results = await Promise.allSettled(this.consumers.map((c, i) => c.consume(this.clone[i] ? copyOf(data) : data)));
    // The sender gets the first error; the other consumers kept their copies.
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  }
}

/** A pipeline's entry: the first processor, reporting whether the chain mutates. */
class Entry<S extends Signal> implements Consumer<S> {
  constructor(
    private readonly first: Consumer<S>,
    readonly mutatesData: boolean,
  ) {}
  consume(data: SignalData[S]): Promise<void> {
    return this.first.consume(data);
  }
}

/** Everything needed to create components. */
export interface GraphOptions {
  logger: Logger;
  telemetry: Telemetry;
}

/** The built graph of a config. */
export class Graph implements Host {
  readonly nodes = new Map<string, Node>();
  private readonly entries = new Map<string, Consumer>();
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly config: Config,
    private readonly opts: GraphOptions,
    private readonly extensions: Map<string, Component>,
  ) {
    this.build();
  }

  // ------------------------------------------------------------------ Host

  getExtension(id: string): Component | undefined {
    return this.extensions.get(id);
  }

  getComponent(kind: Kind, id: string): Component | undefined {
    if (kind === 'extension') return this.extensions.get(id);
    for (const n of this.nodes.values()) if (n.kind === kind && n.key === id) return n.component;
    return undefined;
  }

  listComponents(kind: Kind): string[] {
    return [...this.config.components[kind].keys()];
  }

  // ------------------------------------------------------------------ build

  private settings(kind: Kind, c: ComponentConfig): CreateSettings {
    return {
      id: c.id,
      kind,
      logger: this.opts.logger.with({ [kind]: c.key }),
      telemetry: this.opts.telemetry.forComponent(kind, c.key),
    };
  }

  private build(): void {
    const { pipelines, components } = this.config;
    // Pipelines in reverse topological order of connector edges, so that the
    // pipelines a connector feeds exist before the connector is created.
    for (const p of this.pipelineOrder().reverse()) this.buildPipeline(p);
    for (const [key, c] of components.receiver) {
      const next: Consumers = {};
      const downstreamNames = new Set<string>();
      for (const signal of ['traces', 'metrics', 'logs'] as Signal[]) {
        const fed = pipelines.filter((p) => p.signal === signal && p.receivers.includes(key));
        if (!fed.length) continue;
        (next as Record<Signal, Consumer>)[signal] = fanout(fed.map((p) => this.entries.get(p.key) as Consumer));
        for (const p of fed) downstreamNames.add(this.entryNode(p));
      }
      if (!downstreamNames.size) continue; // configured but unused
      const component = (c.factory as ReceiverFactory).create(this.settings('receiver', c), c.config, next);
      this.addNode('receiver', key, component, downstreamNames);
    }
  }

  private pipelineOrder(): PipelineConfig[] {
    const { pipelines, components } = this.config;
    const order: PipelineConfig[] = [];
    const seen = new Set<string>();
    const visit = (p: PipelineConfig) => {
      if (seen.has(p.key)) return;
      seen.add(p.key);
      for (const [, q] of downstream(p, pipelines, components.connector)) visit(q);
      order.unshift(p);
    };
    for (const p of pipelines) visit(p);
    return order;
  }

  /** The node name a pipeline's data enters first. */
  private entryNode(p: PipelineConfig): string {
    return p.processors.length ? `processor:${p.key}/${p.processors[0]}` : `fanout:${p.key}`;
  }

  private buildPipeline(p: PipelineConfig): void {
    const { components } = this.config;
    const targets: Consumer[] = [];
    const targetNames = new Set<string>();
    for (const key of p.exporters) {
      if (components.exporter.has(key)) {
        const node = this.exporterNode(key);
        const consumer = (node.component as Exporter).consumers[p.signal];
        if (!consumer) throw new Error(`exporter "${key}" created without a ${p.signal} consumer`);
        targets.push(consumer as Consumer);
        targetNames.add(node.name);
      } else {
        const node = this.connectorNode(key);
        targets.push((node.component as Connector).consumers[p.signal] as Consumer);
        targetNames.add(node.name);
      }
    }
    let next: Consumer = fanout(targets);
    let nextNames = targetNames;
    let mutates = false;
    for (let i = p.processors.length - 1; i >= 0; i--) {
      const key = p.processors[i];
      const c = components.processor.get(key) as ComponentConfig;
      const proc = (c.factory as ProcessorFactory).create(this.settings('processor', c), c.config, p.signal, next as never);
      mutates ||= !!proc.mutatesData;
      const node = this.addNode('processor', key, proc, nextNames, `${p.key}/${key}`);
      next = proc as Consumer;
      nextNames = new Set([node.name]);
    }
    this.entries.set(p.key, new Entry(next, mutates));
  }

  private exporterNode(key: string): Node {
    const name = `exporter:${key}`;
    const existing = this.nodes.get(name);
    if (existing) return existing;
    const c = this.config.components.exporter.get(key) as ComponentConfig;
    const signals = new Set(this.config.pipelines.filter((p) => p.exporters.includes(key)).map((p) => p.signal));
    const component = (c.factory as ExporterFactory).create(this.settings('exporter', c), c.config, signals);
    return this.addNode('exporter', key, component, new Set());
  }

  private connectorNode(key: string): Node {
    const name = `connector:${key}`;
    const existing = this.nodes.get(name);
    if (existing) return existing;
    const { pipelines } = this.config;
    const c = this.config.components.connector.get(key) as ComponentConfig;
    const from = new Set(pipelines.filter((p) => p.exporters.includes(key)).map((p) => p.signal));
    const next: Consumers = {};
    const names = new Set<string>();
    for (const signal of ['traces', 'metrics', 'logs'] as Signal[]) {
      const fed = pipelines.filter((p) => p.signal === signal && p.receivers.includes(key));
      if (!fed.length) continue;
      (next as Record<Signal, Consumer>)[signal] = fanout(fed.map((p) => this.entries.get(p.key) as Consumer));
      for (const p of fed) names.add(this.entryNode(p));
    }
    const component = (c.factory as ConnectorFactory).create(this.settings('connector', c), c.config, from, next);
    return this.addNode('connector', key, component, names);
  }

  private addNode(kind: Kind, key: string, component: Component, next: Set<string>, nodeKey = key): Node {
    // Fanout "nodes" are not components: link straight to what they feed.
    const resolved = new Set<string>();
    for (const n of next) {
      if (n.startsWith('fanout:')) {
        const p = this.config.pipelines.find((x) => `fanout:${x.key}` === n) as PipelineConfig;
        for (const e of p.exporters) resolved.add(`${this.config.components.exporter.has(e) ? 'exporter' : 'connector'}:${e}`);
      } else {
        resolved.add(n);
      }
    }
    const node: Node = { name: `${kind}:${nodeKey}`, kind, key, component, next: resolved };
    this.nodes.set(node.name, node);
    return node;
  }

  // ------------------------------------------------------------------ lifecycle

  /** Nodes in topological order: every node before the nodes it feeds. */
  topologicalOrder(): Node[] {
    const order: Node[] = [];
    const seen = new Set<string>();
    const visit = (n: Node) => {
      if (seen.has(n.name)) return;
      seen.add(n.name);
      for (const m of n.next) {
        const node = this.nodes.get(m);
        if (node) visit(node);
      }
      order.unshift(n);
    };
    for (const n of this.nodes.values()) visit(n);
    return order;
  }

  /** Starts every node, consumers before producers. On failure, stops what started and rethrows. */
  async start(): Promise<void> {
    for (const node of this.topologicalOrder().reverse()) {
      try {
        await node.component.start(this);
      } catch (err) {
        await this.shutdown();
        throw new Error(`${SECTION[node.kind]}::${node.key}: failed to start: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
  }

  /** Shuts nodes down producers first, so data in flight is flushed downstream. */
  shutdown(): Promise<void> {
    this.stopping ??= (async () => {
      for (const node of this.topologicalOrder()) {
        try {
          await node.component.shutdown();
        } catch (err) {
          this.opts.logger.error(`error shutting down ${node.name}`, { error: (err as Error).message });
        }
      }
    })();
    return this.stopping;
  }
}

/** A deep copy that keeps the batch's sender (see clientinfo.ts). */
function copyOf<T extends SignalData[Signal]>(data: T): T {
  const copy = cloneData(data);
  const sender = clientInfo(data);
  if (sender) setClientInfo(copy, sender);
  return copy;
}

function fanout(consumers: Consumer[]): Consumer {
  return consumers.length === 1 ? consumers[0] : new Fanout(consumers);
}

export type { Exporter, Connector };
