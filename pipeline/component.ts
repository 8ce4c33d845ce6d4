/**
 * The component contract: factories, consumers, lifecycles.
 *
 * A component is a folder with a factory (plain data plus constructors); the
 * graph creates components from factories and hands each its next consumers,
 * so components never import each other. Lifecycle is `start(host)` and
 * `shutdown()`; shutdown must be safe before start and when repeated, and
 * must flush what the component holds.
 */
import type { Logger } from './logger';
import type { Signal, SignalData } from './pdata';
import type { Schema } from './config/schema';
import type { ComponentTelemetry } from './telemetry';

/** The five kinds of components in a Collector config. */
export type Kind = 'receiver' | 'processor' | 'exporter' | 'connector' | 'extension';

/** All kinds, in config-section order. */
export const KINDS: readonly Kind[] = ['receiver', 'processor', 'exporter', 'connector', 'extension'];

/** The config section that holds each kind. */
export const SECTION: Record<Kind, string> = {
  receiver: 'receivers',
  processor: 'processors',
  exporter: 'exporters',
  connector: 'connectors',
  extension: 'extensions',
};

/** Stability levels, as the Collector names them. */
export type Stability = 'development' | 'alpha' | 'beta' | 'stable' | 'deprecated' | 'unmaintained';

/** `type[/name]`: how a config refers to one configured component. */
export class ComponentID {
  constructor(
    readonly type: string,
    readonly name: string = '',
  ) {}

  /** Parses `type` or `type/name`; returns a problem message when invalid. */
  static parse(text: string): ComponentID | string {
    const slash = text.indexOf('/');
    const type = slash < 0 ? text : text.slice(0, slash);
    const name = slash < 0 ? '' : text.slice(slash + 1);
    if (!/^[a-zA-Z][0-9a-zA-Z_]{0,62}$/.test(type)) {
      return `invalid component type "${type}": it must start with a letter and contain only letters, digits and underscores`;
    }
    if (slash >= 0 && (name === '' || /[\s/]/.test(name) || name.length > 1024)) {
      return `invalid component name "${name}": it must be non-empty and contain no spaces or slashes`;
    }
    return new ComponentID(type, name);
  }

  toString(): string {
    return this.name ? `${this.type}/${this.name}` : this.type;
  }
}

/** Receives batches of one signal. */
export interface Consumer<S extends Signal = Signal> {
  /**
   * Takes a batch. Resolves once the batch is accepted (enqueued, batched or
   * delivered); rejects with a PermanentError or RetryableError to refuse it.
   * The batch is read-only unless `mutatesData` is true.
   */
  consume(data: SignalData[S]): Promise<void>;
  /** True when `consume` modifies the batch it is given. */
  readonly mutatesData?: boolean;
}

/** A consumer for each signal a component emits into. */
export type Consumers = { [S in Signal]?: Consumer<S> };

/** What the running service offers components. */
export interface Host {
  /** A started extension by id (`type[/name]`), if configured. */
  getExtension(id: string): Component | undefined;
  /** A component instance by kind and id, for components that expose services (e.g. a store). */
  getComponent(kind: Kind, id: string): Component | undefined;
  /** Ids of the configured components of a kind. */
  listComponents(kind: Kind): string[];
}

/** Start/shutdown, shared by every component. */
export interface Component {
  start(host: Host): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * An extension that wants to know when data flows (the Collector's
 * PipelineWatcher): `ready` after every pipeline has started, `notReady`
 * before they stop.
 */
export interface PipelineWatcher {
  ready(): void;
  notReady(): void;
}

/** Whether a component watches the pipelines. */
export function isPipelineWatcher(c: unknown): c is PipelineWatcher {
  return typeof c === 'object' && c !== null && typeof (c as PipelineWatcher).ready === 'function' && typeof (c as PipelineWatcher).notReady === 'function';
}

/** A processor of one signal: a consumer that forwards to its next consumer. */
export interface Processor<S extends Signal = Signal> extends Component, Consumer<S> {}

/** An exporter: one instance per configured id, consuming every signal it is used for. */
export interface Exporter extends Component {
  readonly consumers: Consumers;
}

/** A connector: exports in some pipelines, receives in others. */
export interface Connector extends Component {
  readonly consumers: Consumers;
}

/** Everything a factory gets besides the config. */
export interface CreateSettings {
  id: ComponentID;
  kind: Kind;
  logger: Logger;
  telemetry: ComponentTelemetry;
}

/** A port a component listens on, for conflict checks at load. */
export interface ClaimedEndpoint {
  /** Config path relative to the component, e.g. `protocols::grpc::endpoint`. */
  path: string;
  endpoint: string;
}

interface FactoryBase<C> {
  readonly type: string;
  /** Other accepted type names (old Collector names such as `otlp_grpc`). */
  readonly aliases?: readonly string[];
  /** One line for `metaflow components`. */
  readonly description: string;
  /** Schema of the config; `config.parse(undefined)` gives the defaults. */
  readonly config: Schema<C>;
  /** Whole-config checks beyond the schema; return problems as `[relativePath, message]`. */
  validate?(cfg: C): Array<[string, string]>;
  /** Endpoints this component listens on with this config. */
  endpoints?(cfg: C): ClaimedEndpoint[];
}

/** Builds receivers. One receiver instance serves every pipeline it is named in. */
export interface ReceiverFactory<C = any> extends FactoryBase<C> {
  readonly kind: 'receiver';
  readonly stability: Partial<Record<Signal, Stability>>;
  create(settings: CreateSettings, cfg: C, next: Consumers): Component;
}

/** Builds processors. One instance per pipeline it is named in. */
export interface ProcessorFactory<C = any> extends FactoryBase<C> {
  readonly kind: 'processor';
  readonly stability: Partial<Record<Signal, Stability>>;
  create<S extends Signal>(settings: CreateSettings, cfg: C, signal: S, next: Consumer<S>): Processor<S>;
}

/** Builds exporters. One instance per configured id, for every signal it is used with. */
export interface ExporterFactory<C = any> extends FactoryBase<C> {
  readonly kind: 'exporter';
  readonly stability: Partial<Record<Signal, Stability>>;
  create(settings: CreateSettings, cfg: C, signals: ReadonlySet<Signal>): Exporter;
}

/** A connector's supported (from → to) signal pairs, e.g. `traces_to_metrics`. */
export type SignalPair = `${Signal}_to_${Signal}`;

/** Builds connectors. One instance per configured id. */
export interface ConnectorFactory<C = any> extends FactoryBase<C> {
  readonly kind: 'connector';
  readonly stability: Partial<Record<SignalPair, Stability>>;
  /**
   * `next` holds, for each signal the connector emits in, the consumer that
   * feeds the pipelines receiving from it; `from` the signals it consumes.
   */
  create(settings: CreateSettings, cfg: C, from: ReadonlySet<Signal>, next: Consumers): Connector;
}

/** Builds extensions (services not in a pipeline, such as the query service). */
export interface ExtensionFactory<C = any> extends FactoryBase<C> {
  readonly kind: 'extension';
  readonly stability: Stability;
  create(settings: CreateSettings, cfg: C): Component;
}

/** Any factory. */
export type Factory = ReceiverFactory | ProcessorFactory | ExporterFactory | ConnectorFactory | ExtensionFactory;

/** Helper to make shutdown idempotent and safe before start. */
export function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}
