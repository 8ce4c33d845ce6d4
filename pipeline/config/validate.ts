/**
 * Turning a raw config map into a checked, typed config — before anything
 * starts. Every problem is collected with its path; nothing is thrown for bad
 * input. Checks, in the Collector's words where it has them:
 *
 * - top-level sections and each component id (`type[/name]`); an unknown type
 *   lists the types this build has;
 * - each component's config against its factory's schema (defaults first,
 *   unknown keys rejected) and the factory's own `validate`;
 * - `service::pipelines`: signal names, at least one receiver and exporter,
 *   references to configured components, signal support, duplicates;
 * - connectors: used on both sides with a supported signal pair; cycles named;
 * - two components (or the telemetry endpoint) claiming one port;
 * - warnings for components configured but not used.
 */
import { ComponentID, KINDS, SECTION, type ClaimedEndpoint, type ConnectorFactory, type Factory, type Kind, type SignalPair } from '../component';
import { SIGNALS, type Signal } from '../pdata';
import type { Registry } from '../registry';
import { checkEndpoint, formatIssue, formatPath, s, splitEndpoint, type Infer } from './schema';

/** One configured component with its parsed config. */
export interface ComponentConfig {
  id: ComponentID;
  /** The id as written, `type[/name]`. */
  key: string;
  kind: Kind;
  factory: Factory;
  config: unknown;
}

/** One pipeline of `service::pipelines`. */
export interface PipelineConfig {
  /** As written: `traces`, `traces/name`. */
  key: string;
  signal: Signal;
  receivers: string[];
  processors: string[];
  exporters: string[];
}

const logsTelemetrySchema = s
  .object({
    level: s.enum(['debug', 'info', 'warn', 'error'] as const).default('info'),
    encoding: s.enum(['console', 'json'] as const).default('console'),
    // Accepted so Collector configs load; MetaFlow always logs to stderr.
    development: s.boolean().default(false).doc('accepted for compatibility; no effect'),
    output_paths: s.array(s.string()).default(['stderr']).doc('accepted for compatibility; logs go to stderr'),
    error_output_paths: s.array(s.string()).default(['stderr']).doc('accepted for compatibility'),
    disable_caller: s.boolean().default(false).doc('accepted for compatibility; no effect'),
    disable_stacktrace: s.boolean().default(false).doc('accepted for compatibility; no effect'),
    sampling: s.optional(s.any()).doc('accepted for compatibility; MetaFlow rate-limits repeated messages itself'),
    initial_fields: s.optional(s.record(s.string())),
  })
  .withDefaults();

const metricsTelemetrySchema = s
  .object({
    level: s.enum(['none', 'basic', 'normal', 'detailed'] as const).default('normal'),
    address: s.string().default('localhost:8888').check(checkEndpoint).doc('where /metrics is served'),
    readers: s.optional(s.any()).doc('a `pull` prometheus reader sets host and port, as in the Collector'),
  })
  .withDefaults();

/** `service::telemetry`. */
export const telemetrySchema = s
  .object({
    logs: logsTelemetrySchema,
    metrics: metricsTelemetrySchema,
    traces: s.optional(s.any()).doc('accepted for compatibility; no effect'),
    resource: s.optional(s.record(s.any())).doc('accepted for compatibility; no effect'),
  })
  .withDefaults();

/** Parsed `service::telemetry`. */
export type TelemetryConfig = Infer<typeof telemetrySchema>;

const pipelineSchema = s.object({
  receivers: s.array(s.string()).default([]),
  processors: s.array(s.string()).default([]),
  exporters: s.array(s.string()).default([]),
});

const serviceSchema = s.object({
  extensions: s.array(s.string()).default([]),
  pipelines: s.record(pipelineSchema).default({}),
  telemetry: telemetrySchema,
});

/** A checked config, ready to build a graph from. */
export interface Config {
  components: Record<Kind, Map<string, ComponentConfig>>;
  extensions: string[];
  pipelines: PipelineConfig[];
  telemetry: TelemetryConfig;
}

/** The outcome of validation. `config` is set only when there are no errors. */
export interface ValidationResult {
  config?: Config;
  errors: string[];
  warnings: string[];
}

const TOP_LEVEL = ['receivers', 'processors', 'exporters', 'connectors', 'extensions', 'service'];

/** Validates a raw config against a registry; see the module doc. */
export function validateConfig(raw: Record<string, unknown>, registry: Registry): ValidationResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const key of Object.keys(raw)) {
    if (!TOP_LEVEL.includes(key)) errors.push(`${key}: unknown section; valid sections are: ${TOP_LEVEL.join(', ')}`);
  }

  const components = {} as Record<Kind, Map<string, ComponentConfig>>;
  for (const kind of KINDS) components[kind] = parseSection(kind, raw[SECTION[kind]], registry, errors);

  if (raw.service === undefined || raw.service === null) {
    errors.push('service: is required; it lists the pipelines to run');
    return { errors, warnings };
  }
  const parsed = serviceSchema.parse(raw.service, ['service']);
  for (const issue of parsed.issues) errors.push(formatIssue(issue));
  const service = parsed.value;
  if (!service) return { errors, warnings };

  for (const ext of service.extensions ?? []) {
    if (!components.extension.has(ext)) errors.push(`service::extensions: references extension "${ext}" which is not configured`);
  }

  const pipelines = checkPipelines(service.pipelines ?? {}, components, errors);
  checkConnectors(pipelines, components, errors);
  checkCycles(pipelines, components, errors);
  if (service.telemetry) checkPorts(components, pipelines, service.extensions ?? [], service.telemetry, errors);

  const used = new Set<string>();
  for (const p of pipelines) {
    for (const r of p.receivers) used.add(`${components.receiver.has(r) ? 'receiver' : 'connector'}:${r}`);
    for (const r of p.processors) used.add(`processor:${r}`);
    for (const e of p.exporters) used.add(`${components.exporter.has(e) ? 'exporter' : 'connector'}:${e}`);
  }
  for (const e of service.extensions ?? []) used.add(`extension:${e}`);
  for (const kind of KINDS) {
    for (const key of components[kind].keys()) {
      if (!used.has(`${kind}:${key}`)) warnings.push(`${SECTION[kind]}::${key}: configured but not used by the service`);
    }
  }

  if (errors.length) return { errors, warnings };
  return {
    config: { components, extensions: service.extensions, pipelines, telemetry: service.telemetry },
    errors,
    warnings,
  };
}

function parseSection(kind: Kind, section: unknown, registry: Registry, errors: string[]): Map<string, ComponentConfig> {
  const out = new Map<string, ComponentConfig>();
  const name = SECTION[kind];
  if (section === undefined || section === null) return out;
  if (typeof section !== 'object' || Array.isArray(section)) {
    errors.push(`${name}: expected a map of component ids to their settings`);
    return out;
  }
  for (const [key, value] of Object.entries(section as Record<string, unknown>)) {
    const id = ComponentID.parse(key);
    if (typeof id === 'string') {
      errors.push(`${name}::${key}: ${id}`);
      continue;
    }
    const factory = registry.get(kind, id.type);
    if (!factory) {
      const types = registry.types(kind);
      errors.push(
        `${name}::${key}: unknown type "${id.type}"; this build has ${types.length ? `${name}: ${types.join(', ')}` : `no ${name}`}`,
      );
      continue;
    }
    const path = [name, key];
    const { value: config, issues } = factory.config.parse(value === null ? undefined : value, path);
    for (const issue of issues) errors.push(formatIssue(issue));
    if (config !== undefined && !issues.length) {
      for (const [rel, msg] of factory.validate?.(config) ?? []) {
        errors.push(`${formatPath([...path, ...(rel ? rel.split('::') : [])])}: ${msg}`);
      }
    }
    // Kept even when its settings are wrong, so references to it are not
    // reported as well; any error stops the config from being used.
    out.set(key, { id, key, kind, factory, config });
  }
  return out;
}

function checkPipelines(
  raw: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }>,
  components: Record<Kind, Map<string, ComponentConfig>>,
  errors: string[],
): PipelineConfig[] {
  const out: PipelineConfig[] = [];
  const keys = Object.keys(raw);
  if (keys.length === 0) errors.push('service::pipelines: must have at least one pipeline');
  for (const key of keys) {
    const path = `service::pipelines::${key}`;
    const id = ComponentID.parse(key);
    if (typeof id === 'string' || !(SIGNALS as readonly string[]).includes(id.type)) {
      errors.push(`${path}: unknown signal "${key.split('/')[0]}"; pipeline ids are traces, metrics or logs, optionally followed by /name`);
      continue;
    }
    const signal = id.type as Signal;
    const p = raw[key];
    if (!p) continue; // its shape was already reported
    if (p.receivers.length === 0) errors.push(`${path}: must have at least one receiver`);
    if (p.exporters.length === 0) errors.push(`${path}: must have at least one exporter`);
    const refs: Array<[string, string[], Kind[]]> = [
      ['receiver', p.receivers, ['receiver', 'connector']],
      ['processor', p.processors, ['processor']],
      ['exporter', p.exporters, ['exporter', 'connector']],
    ];
    for (const [role, list, kinds] of refs) {
      const seen = new Set<string>();
      for (const ref of list) {
        if (seen.has(ref)) errors.push(`${path}: references ${role} "${ref}" multiple times`);
        seen.add(ref);
        const kind = kinds.find((k) => components[k].has(ref));
        if (!kind) {
          errors.push(`${path}: references ${role} "${ref}" which is not configured`);
          continue;
        }
        if (kind === 'connector') continue; // checked pairwise in checkConnectors
        const factory = (components[kind].get(ref) as ComponentConfig).factory as Exclude<Factory, ConnectorFactory | { kind: 'extension' }>;
        if (!(factory.stability as Partial<Record<Signal, string>>)[signal]) {
          errors.push(`${path}: ${role} "${ref}" does not support ${signal}`);
        }
      }
    }
    out.push({ key, signal, receivers: p.receivers, processors: p.processors, exporters: p.exporters });
  }
  return out;
}

function checkConnectors(pipelines: PipelineConfig[], components: Record<Kind, Map<string, ComponentConfig>>, errors: string[]): void {
  for (const [key, c] of components.connector) {
    const factory = c.factory as ConnectorFactory;
    const asExporter = pipelines.filter((p) => p.exporters.includes(key));
    const asReceiver = pipelines.filter((p) => p.receivers.includes(key));
    if (!asExporter.length && !asReceiver.length) continue; // unused: a warning only
    for (const from of asExporter) {
      if (!asReceiver.some((to) => factory.stability[`${from.signal}_to_${to.signal}` as SignalPair])) {
        errors.push(`connectors::${key}: used as exporter in ${from.signal} pipeline "${from.key}" but not used in any supported receiver pipeline`);
      }
    }
    for (const to of asReceiver) {
      if (!asExporter.some((from) => factory.stability[`${from.signal}_to_${to.signal}` as SignalPair])) {
        errors.push(`connectors::${key}: used as receiver in ${to.signal} pipeline "${to.key}" but not used in any supported exporter pipeline`);
      }
    }
  }
}

/** Pipelines that `p` feeds through connectors, with the connector used. */
export function downstream(p: PipelineConfig, pipelines: PipelineConfig[], connectors: Map<string, ComponentConfig>): Array<[string, PipelineConfig]> {
  const out: Array<[string, PipelineConfig]> = [];
  for (const c of p.exporters) {
    const conn = connectors.get(c);
    if (!conn) continue;
    const stability = (conn.factory as ConnectorFactory).stability;
    for (const q of pipelines) {
      if (q.receivers.includes(c) && stability[`${p.signal}_to_${q.signal}` as SignalPair]) out.push([c, q]);
    }
  }
  return out;
}

function checkCycles(pipelines: PipelineConfig[], components: Record<Kind, Map<string, ComponentConfig>>, errors: string[]): void {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const reported = new Set<string>();
  const visit = (p: PipelineConfig): void => {
    state.set(p.key, 'visiting');
    stack.push(p.key);
    for (const [conn, q] of downstream(p, pipelines, components.connector)) {
      stack.push(conn);
      const st = state.get(q.key);
      if (st === 'visiting') {
        const start = stack.indexOf(q.key);
        const cycle = [...stack.slice(start), q.key];
        const sig = [...cycle].sort().join(',');
        if (!reported.has(sig)) {
          reported.add(sig);
          errors.push(`service::pipelines: connectors form a cycle: ${cycle.join(' → ')}`);
        }
      } else if (st === undefined) {
        visit(q);
      }
      stack.pop();
    }
    stack.pop();
    state.set(p.key, 'done');
  };
  for (const p of pipelines) if (!state.has(p.key)) visit(p);
}

function checkPorts(
  components: Record<Kind, Map<string, ComponentConfig>>,
  pipelines: PipelineConfig[],
  extensions: string[],
  telemetry: TelemetryConfig,
  errors: string[],
): void {
  const claims: Array<{ path: string; host: string; port: number }> = [];
  const add = (prefix: string, eps: ClaimedEndpoint[]) => {
    for (const ep of eps) {
      if (checkEndpoint(ep.endpoint)) continue; // reported by the schema
      const { host, port } = splitEndpoint(ep.endpoint);
      if (port !== 0) claims.push({ path: ep.path ? `${prefix}::${ep.path}` : prefix, host, port });
    }
  };
  const usedReceivers = new Set(pipelines.flatMap((p) => p.receivers));
  for (const [key, c] of components.receiver) {
    if (usedReceivers.has(key)) add(`receivers::${key}`, c.factory.endpoints?.(c.config) ?? []);
  }
  for (const key of extensions) {
    const c = components.extension.get(key);
    if (c) add(`extensions::${key}`, c.factory.endpoints?.(c.config) ?? []);
  }
  if (telemetry.metrics.level !== 'none') {
    add('service::telemetry::metrics', [{ path: 'address', endpoint: telemetryAddress(telemetry) }]);
  }
  const wildcard = (h: string) => h === '0.0.0.0' || h === '::' || h === '';
  const local = (h: string) => (h === 'localhost' ? '127.0.0.1' : h);
  for (let i = 0; i < claims.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = claims[i];
      const b = claims[j];
      if (a.port === b.port && (wildcard(a.host) || wildcard(b.host) || local(a.host) === local(b.host))) {
        errors.push(`${a.path}: port ${a.port} is already claimed by ${b.path}`);
        break;
      }
    }
  }
}

/** The `host:port` the telemetry endpoint listens on, from `address` or a pull reader. */
export function telemetryAddress(t: TelemetryConfig): string {
  const readers = Array.isArray(t.metrics.readers) ? t.metrics.readers : [];
  for (const r of readers) {
    const prom = (r as { pull?: { exporter?: { prometheus?: { host?: string; port?: number } } } })?.pull?.exporter?.prometheus;
    if (prom && prom.port !== undefined) return `${prom.host ?? 'localhost'}:${prom.port}`;
  }
  return t.metrics.address;
}
