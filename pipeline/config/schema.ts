/**
 * A small typed schema language for component configuration.
 *
 * A schema both describes a config section (for validation and typing) and
 * produces its defaults: `schema.parse(undefined)` is the default config and
 * `schema.parse(userYaml)` lays the user's values over the defaults. Objects
 * reject unknown keys. Every problem is collected with its path, so a config
 * with three mistakes reports three lines.
 *
 * Durations take Go/Collector syntax (`200ms`, `1m30s`) and parse to
 * milliseconds; a bare integer is read as nanoseconds, as the Collector does.
 */

/** One problem found while parsing, with the path segments leading to it. */
export interface Issue {
  path: string[];
  message: string;
}

/** Collects issues during a parse. */
export class Issues {
  readonly list: Issue[] = [];

  add(path: string[], message: string): void {
    this.list.push({ path: [...path], message });
  }
}

/** Joins path segments the Collector's way: `receivers::otlp::protocols`. */
export function formatPath(path: readonly string[]): string {
  return path.join('::');
}

/** Formats an issue as `path: message`. */
export function formatIssue(issue: Issue): string {
  return issue.path.length ? `${formatPath(issue.path)}: ${issue.message}` : issue.message;
}

/** The parsed type a schema produces. */
export type Infer<S> = S extends { readonly __type: infer T } ? T : never;

/** Base of all schemas. `T` is the parsed value's type. */
export abstract class Schema<T> {
  /** Phantom field carrying the parsed type for {@link Infer}; never set. */
  declare readonly __type: T;
  /** Short type description used in error messages (`a string`, `a duration`). */
  abstract readonly expected: string;
  protected defaultValue: (() => T) | undefined;
  protected checks: Array<(v: T) => string | undefined> = [];
  protected docText = '';

  /** Parses `input` (undefined means "not given"), reporting problems to `issues`. */
  parseAt(input: unknown, path: string[], issues: Issues): T | undefined {
    if (input === undefined) {
      if (this.defaultValue) return this.defaultValue();
      return this.whenAbsent(path, issues);
    }
    const before = issues.list.length;
    const value = this.parseValue(input, path, issues);
    if (value === undefined || issues.list.length > before) return value;
    for (const check of this.checks) {
      const problem = check(value);
      if (problem) {
        issues.add(path, problem);
        break;
      }
    }
    return value;
  }

  /** Parses a whole section; throws nothing, returns the value and the issues. */
  parse(input: unknown, path: string[] = []): { value: T | undefined; issues: Issue[] } {
    const issues = new Issues();
    const value = this.parseAt(input, path, issues);
    return { value, issues: issues.list };
  }

  /** Parses or throws with every problem listed (for tests and defaults). */
  parseOrThrow(input: unknown): T {
    const { value, issues } = this.parse(input);
    if (issues.length || value === undefined) throw new Error(issues.map(formatIssue).join('\n') || 'value required');
    return value;
  }

  /** The value used when the key is absent. */
  default(value: T | (() => T)): this {
    this.defaultValue = typeof value === 'function' ? (value as () => T) : () => structuredClone(value);
    return this;
  }

  /** Adds a rule; return a message to report a problem. */
  check(fn: (v: T) => string | undefined): this {
    this.checks.push(fn);
    return this;
  }

  /** Documentation for the config reference. */
  doc(text: string): this {
    this.docText = text;
    return this;
  }

  /** The documentation text. */
  get description(): string {
    return this.docText;
  }

  /** The default value, if the key has one (for generated documentation). */
  get defaultOf(): T | undefined {
    return this.defaultValue?.();
  }

  /** Whether the key may be left out. */
  get optionalKey(): boolean {
    return this.defaultValue !== undefined;
  }

  protected whenAbsent(path: string[], issues: Issues): T | undefined {
    issues.add(path, 'is required');
    return undefined;
  }

  protected abstract parseValue(input: unknown, path: string[], issues: Issues): T | undefined;

  protected typeError(input: unknown, path: string[], issues: Issues): undefined {
    issues.add(path, `expected ${this.expected}, got ${describe(input)}`);
    return undefined;
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return `"${v.length > 40 ? v.slice(0, 40) + '…' : v}"`;
  return `${typeof v} ${String(v)}`;
}

/** A string. */
export class StringSchema extends Schema<string> {
  readonly expected = 'a string';
  protected parseValue(input: unknown, path: string[], issues: Issues): string | undefined {
    if (typeof input === 'string') return input;
    // YAML turns `version: 1.0` into a number; a string field takes scalars as text.
    if (typeof input === 'number' || typeof input === 'boolean') return String(input);
    return this.typeError(input, path, issues);
  }

  /** Requires a non-empty value. */
  nonEmpty(): this {
    return this.check((v) => (v === '' ? 'must not be empty' : undefined));
  }
}

/** A number, optionally an integer and bounded. */
export class NumberSchema extends Schema<number> {
  expected = 'a number';
  private integer = false;

  protected parseValue(input: unknown, path: string[], issues: Issues): number | undefined {
    let n = input;
    if (typeof n === 'string' && n.trim() !== '' && Number.isFinite(Number(n))) n = Number(n);
    if (typeof n !== 'number' || !Number.isFinite(n)) return this.typeError(input, path, issues);
    if (this.integer && !Number.isInteger(n)) return this.typeError(input, path, issues);
    return n;
  }

  /** Requires an integer. */
  int(): this {
    this.integer = true;
    this.expected = 'an integer';
    return this;
  }

  /** Requires `v >= lo`. */
  min(lo: number): this {
    return this.check((v) => (v < lo ? `must be at least ${lo}, got ${v}` : undefined));
  }

  /** Requires `v <= hi`. */
  max(hi: number): this {
    return this.check((v) => (v > hi ? `must be at most ${hi}, got ${v}` : undefined));
  }
}

/** A boolean. */
export class BooleanSchema extends Schema<boolean> {
  readonly expected = 'true or false';
  protected parseValue(input: unknown, path: string[], issues: Issues): boolean | undefined {
    if (typeof input === 'boolean') return input;
    if (input === 'true') return true;
    if (input === 'false') return false;
    return this.typeError(input, path, issues);
  }
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };
const DURATION_RE = /^([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)/;

/** Parses a Go duration (`1h2m3.5s`, `200ms`, `0`) to milliseconds; undefined when invalid. */
export function parseDuration(text: string): number | undefined {
  let s = text.trim();
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  while (s.length) {
    const m = DURATION_RE.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    s = s.slice(m[0].length);
  }
  return total;
}

/** A duration in Go syntax; parses to milliseconds. */
export class DurationSchema extends Schema<number> {
  readonly expected = 'a duration such as "200ms" or "5s"';

  /** The default, as milliseconds or in Go syntax (`'5s'`). */
  override default(value: number | string | (() => number)): this {
    if (typeof value !== 'string') return super.default(value);
    const ms = parseDuration(value);
    if (ms === undefined) throw new Error(`invalid default duration "${value}"`);
    return super.default(ms);
  }

  protected parseValue(input: unknown, path: string[], issues: Issues): number | undefined {
    if (typeof input === 'number' && Number.isInteger(input) && input >= 0) return input / 1e6;
    if (typeof input !== 'string') return this.typeError(input, path, issues);
    const ms = parseDuration(input);
    if (ms === undefined) return this.typeError(input, path, issues);
    return ms;
  }

  /** Requires at least `ms` milliseconds. */
  min(ms: number, text: string): this {
    return this.check((v) => (v < ms ? `must be at least ${text}` : undefined));
  }
}

/** One of a fixed set of strings. */
export class EnumSchema<T extends string> extends Schema<T> {
  readonly expected: string;
  constructor(private readonly values: readonly T[]) {
    super();
    this.expected = `one of ${values.map((v) => `"${v}"`).join(', ')}`;
  }

  protected parseValue(input: unknown, path: string[], issues: Issues): T | undefined {
    if (typeof input === 'string') {
      const hit = this.values.find((v) => v.toLowerCase() === input.toLowerCase());
      if (hit !== undefined) return hit;
    }
    return this.typeError(input, path, issues);
  }
}

/** A list of items of one schema. */
export class ArraySchema<T> extends Schema<T[]> {
  readonly expected = 'a list';
  constructor(readonly item: Schema<T>) {
    super();
  }

  protected parseValue(input: unknown, path: string[], issues: Issues): T[] | undefined {
    if (input === null) return [];
    if (!Array.isArray(input)) return this.typeError(input, path, issues);
    const out: T[] = [];
    input.forEach((v, i) => {
      const parsed = this.item.parseAt(v, [...path, String(i)], issues);
      if (parsed !== undefined) out.push(parsed);
    });
    return out;
  }
}

/** A map from arbitrary string keys to values of one schema (headers, labels). */
export class RecordSchema<T> extends Schema<Record<string, T>> {
  readonly expected = 'a map';
  constructor(readonly value: Schema<T>) {
    super();
  }

  protected parseValue(input: unknown, path: string[], issues: Issues): Record<string, T> | undefined {
    if (input === null) return {};
    if (typeof input !== 'object' || Array.isArray(input)) return this.typeError(input, path, issues);
    const out: Record<string, T> = Object.create(null);
    for (const [k, v] of Object.entries(input as Record<string, unknown>)) {
      const parsed = this.value.parseAt(v, [...path, k], issues);
      if (parsed !== undefined) out[k] = parsed;
    }
    return out;
  }
}

/** Any YAML value, unchecked (for pass-through sections). */
export class AnySchema extends Schema<unknown> {
  readonly expected = 'any value';
  protected parseValue(input: unknown): unknown {
    return input;
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- schemas of any value type
type Shape = Record<string, Schema<any>>;
type ObjectOf<S extends Shape> = { [K in keyof S]: Infer<S[K]> };

/**
 * An object with known keys. Unknown keys are errors. Keys whose schema has a
 * default (or is optional) may be left out. YAML's empty value (`grpc:`)
 * counts as an empty map, so the section takes its defaults.
 */
export class ObjectSchema<S extends Shape> extends Schema<ObjectOf<S>> {
  readonly expected = 'a map';
  private aliases: Record<string, string> = {};

  constructor(readonly shape: S) {
    super();
  }

  /** Accepts `alias` as another name of key `key` (renamed Collector options). */
  alias(alias: string, key: keyof S & string): this {
    this.aliases[alias] = key;
    return this;
  }

  /** Makes the whole object default to its fields' defaults when absent. */
  withDefaults(): this {
    return this.default(() => {
      const { value } = this.parse({});
      return value as ObjectOf<S>;
    });
  }

  protected parseValue(input: unknown, path: string[], issues: Issues): ObjectOf<S> | undefined {
    if (input === null) input = {};
    if (typeof input !== 'object' || Array.isArray(input)) return this.typeError(input, path, issues);
    const given: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(input as Record<string, unknown>)) {
      const key = this.aliases[k] ?? k;
      if (!Object.prototype.hasOwnProperty.call(this.shape, key)) {
        const known = Object.keys(this.shape);
        issues.add([...path, k], `unknown key${known.length ? `; valid keys are: ${known.join(', ')}` : ''}`);
        continue;
      }
      given[key] = v;
    }
    const out: Record<string, unknown> = {};
    for (const [k, schema] of Object.entries(this.shape)) {
      const v = schema.parseAt(given[k], [...path, k], issues);
      if (v !== undefined) out[k] = v;
    }
    return out as ObjectOf<S>;
  }
}

/** Marks a field optional: absent parses to `undefined` without a problem. */
export class OptionalSchema<T> extends Schema<T | undefined> {
  get expected(): string {
    return this.inner.expected;
  }
  constructor(readonly inner: Schema<T>) {
    super();
  }

  override get optionalKey(): boolean {
    return true;
  }

  protected override whenAbsent(): undefined {
    return undefined;
  }

  protected parseValue(input: unknown, path: string[], issues: Issues): T | undefined {
    return this.inner.parseAt(input, path, issues);
  }
}

/** Schema constructors: `s.object({ endpoint: s.string().default('0.0.0.0:4317') })`. */
export const s = {
  string: () => new StringSchema(),
  number: () => new NumberSchema(),
  int: () => new NumberSchema().int(),
  boolean: () => new BooleanSchema(),
  duration: () => new DurationSchema(),
  enum: <T extends string>(values: readonly T[]) => new EnumSchema<T>(values),
  array: <T>(item: Schema<T>) => new ArraySchema<T>(item),
  record: <T>(value: Schema<T>) => new RecordSchema<T>(value),
  object: <S extends Shape>(shape: S) => new ObjectSchema<S>(shape),
  optional: <T>(inner: Schema<T>) => new OptionalSchema<T>(inner),
  any: () => new AnySchema(),
};

/**
 * Checks a `host:port` endpoint; returns a problem or undefined. An empty host
 * means all interfaces; `[::1]:4317` form is accepted for IPv6.
 */
export function checkEndpoint(v: string): string | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]*):(\d+)$/.exec(v);
  if (!m) return `"${v}" is not a valid endpoint; expected host:port such as 0.0.0.0:4317`;
  const port = Number(m[2]);
  if (port > 65535) return `port ${port} is out of range (0-65535)`;
  return undefined;
}

/** Splits a checked `host:port` endpoint. */
export function splitEndpoint(v: string): { host: string; port: number } {
  const i = v.lastIndexOf(':');
  let host = v.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host: host === '' ? '0.0.0.0' : host, port: Number(v.slice(i + 1)) };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- describes schemas of any value type
type AnyOf = Schema<any>;

/** One documented config key, as {@link describeSchema} lists them. */
export interface KeyDoc {
  /** Dotted path below the component, e.g. `protocols.grpc.endpoint`. */
  key: string;
  type: string;
  default: string;
  doc: string;
}

function typeName(schema: AnyOf): string {
  if (schema instanceof OptionalSchema) return typeName(schema.inner);
  if (schema instanceof DurationSchema) return 'duration';
  if (schema instanceof EnumSchema) return schema.expected.replace(/^one of /, '').replace(/"/g, '').split(', ').join(' | ');
  if (schema instanceof ArraySchema) return `list of ${typeName(schema.item)}`;
  if (schema instanceof RecordSchema) return `map of ${typeName(schema.value)}`;
  if (schema instanceof ObjectSchema) return 'map';
  if (schema instanceof BooleanSchema) return 'bool';
  if (schema instanceof NumberSchema) return schema.expected === 'an integer' ? 'int' : 'number';
  if (schema instanceof StringSchema) return 'string';
  return 'any';
}

function defaultText(schema: AnyOf): string {
  if (schema instanceof OptionalSchema) return '';
  const d = schema.defaultOf;
  if (d === undefined) return schema.optionalKey ? '' : 'required';
  if (schema instanceof DurationSchema) return formatMs(d as number);
  if (schema instanceof ObjectSchema) return '';
  return JSON.stringify(d);
}

function formatMs(ms: number): string {
  if (ms === 0) return '0';
  if (ms % 3600000 === 0) return `${ms / 3600000}h`;
  if (ms % 60000 === 0) return `${ms / 60000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** Every key of a config schema with its type, default and documentation. */
export function describeSchema(schema: AnyOf, prefix = ''): KeyDoc[] {
  const inner = schema instanceof OptionalSchema ? schema.inner : schema;
  if (!(inner instanceof ObjectSchema)) return [];
  const out: KeyDoc[] = [];
  for (const [k, field] of Object.entries(inner.shape as Record<string, AnyOf>)) {
    const key = prefix ? `${prefix}.${k}` : k;
    const fieldInner = field instanceof OptionalSchema ? field.inner : field;
    if (fieldInner instanceof ObjectSchema) {
      const nested = describeSchema(fieldInner, key);
      if (field.description || !nested.length) out.push({ key, type: 'map', default: '', doc: field.description });
      out.push(...nested);
    } else {
      out.push({ key, type: typeName(field), default: defaultText(field), doc: field.description || fieldInner.description });
    }
  }
  return out;
}
