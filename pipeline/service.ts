/**
 * A running collector: configuration in, started graph out.
 *
 * `Service.load` reads and checks configuration without starting anything
 * (what `metaflow validate` runs); `start` serves self-telemetry, starts the
 * extensions, then the graph; `shutdown` stops the graph (flushing), then the
 * extensions, then telemetry. Only the CLI decides when to exit the process.
 */
import { isPipelineWatcher, type Component, type CreateSettings, type ExtensionFactory } from './component';
import { ConfigError } from './errors';
import { Graph } from './graph';
import { Logger, type LogSink } from './logger';
import { loadSources } from './config/load';
import { splitEndpoint } from './config/schema';
import { telemetryAddress, validateConfig, type Config } from './config/validate';
import type { Registry } from './registry';
import { Telemetry } from './telemetry';

/** The outcome of loading: a checked config, or every problem found. */
export interface LoadResult {
  config?: Config;
  errors: string[];
  warnings: string[];
}

/** Options of a service. */
export interface ServiceOptions {
  /** Where log lines go (stderr by default). */
  logSink?: LogSink;
}

/** A configured collector; see the module doc. */
export class Service {
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  private graph: Graph | undefined;
  private readonly extensions = new Map<string, Component>();
  private startedExtensions: Component[] = [];
  private state: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  private stopping: Promise<void> | undefined;

  constructor(
    readonly config: Config,
    options: ServiceOptions = {},
  ) {
    const logs = config.telemetry.logs;
    this.logger = new Logger(logs.level, logs.initial_fields ?? {}, options.logSink, logs.encoding);
    this.telemetry = new Telemetry(config.telemetry.metrics.level);
  }

  /** Reads, merges and checks config sources. Never throws for bad config. */
  static load(sources: readonly string[], registry: Registry, env: NodeJS.ProcessEnv = process.env): LoadResult {
    const raw = loadSources(sources, env);
    if (raw.errors.length) return { errors: raw.errors, warnings: raw.warnings };
    const checked = validateConfig(raw.value, registry);
    return { config: checked.config, errors: checked.errors, warnings: [...raw.warnings, ...checked.warnings] };
  }

  /** Loads config or throws a ConfigError listing every problem. */
  static fromSources(sources: readonly string[], registry: Registry, options: ServiceOptions = {}, env?: NodeJS.ProcessEnv): Service {
    const { config, errors, warnings } = Service.load(sources, registry, env);
    if (!config) throw new ConfigError(errors);
    const service = new Service(config, options);
    for (const w of warnings) service.logger.warn(w);
    return service;
  }

  /** The component graph (after start). */
  get host(): Graph | undefined {
    return this.graph;
  }

  /** Starts everything; on failure, stops what started and rethrows. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`service cannot start: it is ${this.state}`);
    this.state = 'starting';
    try {
      if (this.config.telemetry.metrics.level !== 'none') {
        const { host, port } = splitEndpoint(telemetryAddress(this.config.telemetry));
        await this.telemetry.serve(host, port);
      }
      for (const key of this.config.extensions) {
        const c = this.config.components.extension.get(key);
        if (!c) continue;
        const settings: CreateSettings = {
          id: c.id,
          kind: 'extension',
          logger: this.logger.with({ extension: key }),
          telemetry: this.telemetry.forComponent('extension', key),
        };
        this.extensions.set(key, (c.factory as ExtensionFactory).create(settings, c.config));
      }
      this.graph = new Graph(this.config, { logger: this.logger, telemetry: this.telemetry }, this.extensions);
      for (const [key, ext] of this.extensions) {
        try {
          await ext.start(this.graph);
        } catch (err) {
          throw new Error(`extensions::${key}: failed to start: ${(err as Error).message}`, { cause: err });
        }
        this.startedExtensions.push(ext);
      }
      await this.graph.start();
      this.state = 'running';
      for (const ext of this.startedExtensions) if (isPipelineWatcher(ext)) ext.ready();
      this.logger.info('everything is ready; begin running and processing data');
    } catch (err) {
      await this.shutdown();
      throw err;
    }
  }

  /** Stops the graph (flushing), then extensions, then telemetry. Safe to repeat. */
  shutdown(): Promise<void> {
    this.stopping ??= (async () => {
      for (const ext of this.startedExtensions) if (isPipelineWatcher(ext)) ext.notReady();
      await this.graph?.shutdown();
      for (const ext of this.startedExtensions.reverse()) {
        try {
          await ext.shutdown();
        } catch (err) {
          this.logger.error('error shutting down an extension', { error: (err as Error).message });
        }
      }
      await this.telemetry.close();
      this.state = 'stopped';
    })();
    return this.stopping;
  }
}
