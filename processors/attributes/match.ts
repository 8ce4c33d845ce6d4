/**
 * `include` / `exclude` match properties of the `attributes` processor: a
 * subset of the Collector's filterconfig.MatchProperties, with its semantics.
 *
 * Supported keys: `match_type` (strict | regexp, required), `services`,
 * `span_names`, `span_kinds`, `metric_names`, `log_bodies`,
 * `log_severity_texts`, `attributes`, `resources`, `libraries`. Not
 * supported (rejected as unknown keys): `regexp` (cache options),
 * `log_severity_number`, `expressions`.
 *
 * Every property that is set must match (AND); within a list of names any
 * entry may match (OR); every listed attribute must be present and match.
 * Regexps are unanchored, as Go's `MatchString`.
 *
 * Which properties apply depends on the signal, as in the Collector:
 * spans take services, span_names, span_kinds, attributes, resources,
 * libraries; log records take log_bodies, log_severity_texts, attributes,
 * resources, libraries; metrics (matched per metric, then every data point
 * is processed) take metric_names and resources.
 */
import { s, type Infer } from '../../pipeline/config/schema';
import {
  anyValueToString,
  SpanKind,
  type AnyValue,
  type Attributes,
  type InstrumentationScope,
  type LogRecord,
  type Metric,
  type Resource,
  type Signal,
  type Span,
} from '../../pipeline/pdata';
import { configValueToAnyValue, type Problem } from '../internal/attraction';
import { compileGoRegExp } from '../internal/goregex';

const attributeSchema = s.object({
  key: s.string().nonEmpty().doc('attribute key that must be present'),
  value: s.optional(s.any()).doc('value it must have (strict) or a regexp its string form must match'),
});

/** Schema of `include` / `exclude`. */
export const matchSchema = s.object({
  match_type: s.enum(['strict', 'regexp'] as const).doc('how names and values are compared'),
  services: s.array(s.string()).default([]).doc('resource service.name is one of these'),
  span_names: s.array(s.string()).default([]).doc('span name is one of these'),
  span_kinds: s.array(s.string()).default([]).doc('span kind (SPAN_KIND_SERVER, …) is one of these'),
  metric_names: s.array(s.string()).default([]).doc('metric name is one of these'),
  log_bodies: s.array(s.string()).default([]).doc('log body (as a string) is one of these'),
  log_severity_texts: s.array(s.string()).default([]).doc('log severity text is one of these'),
  attributes: s.array(attributeSchema).default([]).doc('item attributes that must all match'),
  resources: s.array(attributeSchema).default([]).doc('resource attributes that must all match'),
  libraries: s
    .array(s.object({ name: s.string(), version: s.optional(s.string()) }))
    .default([])
    .doc('instrumentation scope name (and version) that must match'),
});

/** Parsed match properties. */
export type MatchConfig = Infer<typeof matchSchema>;

type ListKey = 'services' | 'span_names' | 'span_kinds' | 'metric_names' | 'log_bodies' | 'log_severity_texts' | 'attributes' | 'resources' | 'libraries';

const ALL_KEYS: readonly ListKey[] = [
  'services',
  'span_names',
  'span_kinds',
  'metric_names',
  'log_bodies',
  'log_severity_texts',
  'attributes',
  'resources',
  'libraries',
];

/** The properties each signal can be matched on (the Collector's ValidateFor* rules). */
const VALID_FOR: Record<Signal, readonly ListKey[]> = {
  traces: ['services', 'span_names', 'span_kinds', 'attributes', 'resources', 'libraries'],
  logs: ['log_bodies', 'log_severity_texts', 'attributes', 'resources', 'libraries'],
  metrics: ['metric_names', 'resources'],
};

const ITEM_NAME: Record<Signal, string> = { traces: 'spans', logs: 'log records', metrics: 'metrics' };

/** Span kind names as the Collector writes them, by kind number. */
const KIND_NAME: Record<number, string> = {
  [SpanKind.UNSPECIFIED]: 'SPAN_KIND_UNSPECIFIED',
  [SpanKind.INTERNAL]: 'SPAN_KIND_INTERNAL',
  [SpanKind.SERVER]: 'SPAN_KIND_SERVER',
  [SpanKind.CLIENT]: 'SPAN_KIND_CLIENT',
  [SpanKind.PRODUCER]: 'SPAN_KIND_PRODUCER',
  [SpanKind.CONSUMER]: 'SPAN_KIND_CONSUMER',
};
const STANDARD_KINDS = ['SPAN_KIND_CLIENT', 'SPAN_KIND_CONSUMER', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_SERVER'];

/** A set of strings matched exactly or by any of several regexps. */
class StringSet {
  private readonly exact: Set<string> | undefined;
  private readonly regexps: RegExp[] | undefined;

  constructor(exact: Set<string> | undefined, regexps: RegExp[] | undefined) {
    this.exact = exact;
    this.regexps = regexps;
  }

  matches(v: string): boolean {
    if (this.exact) return this.exact.has(v);
    for (const re of this.regexps as RegExp[]) if (re.test(v)) return true;
    return false;
  }
}

interface AttrMatcher {
  key: string;
  /** Strict: the value must equal this. */
  value?: AnyValue;
  /** Regexp: the value's string form must match. */
  re?: RegExp;
  /** Neither set: the key only has to be present. */
}

interface LibMatcher {
  name: StringSet;
  version: StringSet | undefined;
}

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** Compiled match properties; `matchSpan` / `matchLog` / `matchMetric` test one item. */
export class Matcher {
  constructor(
    private readonly services: StringSet | undefined,
    private readonly spanNames: StringSet | undefined,
    private readonly spanKinds: StringSet | undefined,
    private readonly metricNames: StringSet | undefined,
    private readonly logBodies: StringSet | undefined,
    private readonly severityTexts: StringSet | undefined,
    private readonly attributes: AttrMatcher[],
    private readonly resources: AttrMatcher[],
    private readonly libraries: LibMatcher[],
  ) {}

  /** Whether a span matches. */
  matchSpan(span: Span, resource: Resource, scope: InstrumentationScope): boolean {
    if (this.services && !this.services.matches(serviceName(resource))) return false;
    if (this.spanNames && !this.spanNames.matches(span.name)) return false;
    if (this.spanKinds && !this.spanKinds.matches(KIND_NAME[span.kind] ?? 'SPAN_KIND_UNSPECIFIED')) return false;
    return this.matchCommon(span.attributes, resource, scope);
  }

  /** Whether a log record matches. */
  matchLog(log: LogRecord, resource: Resource, scope: InstrumentationScope): boolean {
    if (this.logBodies && !this.logBodies.matches(anyValueToString(log.body))) return false;
    if (this.severityTexts && !this.severityTexts.matches(log.severityText)) return false;
    return this.matchCommon(log.attributes, resource, scope);
  }

  /** Whether a metric matches (by name and resource). */
  matchMetric(metric: Metric, resource: Resource): boolean {
    if (this.metricNames && !this.metricNames.matches(metric.name)) return false;
    return matchAttributes(this.resources, resource.attributes);
  }

  private matchCommon(attrs: Attributes, resource: Resource, scope: InstrumentationScope): boolean {
    // As the Collector: every listed library must match the item's scope.
    for (const lib of this.libraries) {
      if (!lib.name.matches(scope.name)) return false;
      if (lib.version && !lib.version.matches(scope.version)) return false;
    }
    if (!matchAttributes(this.resources, resource.attributes)) return false;
    return matchAttributes(this.attributes, attrs);
  }
}

function serviceName(resource: Resource): string {
  const attrs = resource.attributes;
  return hasOwn(attrs, 'service.name') ? anyValueToString(attrs['service.name']) : '';
}

function matchAttributes(matchers: readonly AttrMatcher[], attrs: Attributes): boolean {
  for (const m of matchers) {
    if (!hasOwn(attrs, m.key)) return false;
    const v = attrs[m.key];
    if (m.re) {
      const str = scalarString(v);
      if (str === undefined || !m.re.test(str)) return false;
    } else if (m.value !== undefined && !sameValue(m.value, v)) {
      return false;
    }
  }
  return true;
}

/** The string a regexp is matched against: scalars only, as the Collector. */
function scalarString(v: AnyValue): string | undefined {
  switch (typeof v) {
    case 'string':
      return v;
    case 'boolean':
    case 'number':
    case 'bigint':
      return String(v);
    default:
      return undefined;
  }
}

/** Type-aware deep equality of attribute values (strict matching). */
export function sameValue(a: AnyValue, b: AnyValue): boolean {
  if (typeof a === 'number' && typeof b === 'bigint') return Number.isInteger(a) && BigInt(a) === b;
  if (typeof a === 'bigint' && typeof b === 'number') return Number.isInteger(b) && BigInt(b) === a;
  if (typeof a !== 'object' || typeof b !== 'object') return a === b || (Number.isNaN(a) && Number.isNaN(b));
  if (a === null || b === null) return a === b;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.compare(a, b) === 0;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!hasOwn(b, k) || !sameValue(a[k], b[k])) return false;
  return true;
}

/**
 * Checks and compiles match properties; `base` is their config path
 * (`include` or `exclude`). Signal-independent checks only: see
 * {@link checkForSignal} for the rest. Never throws.
 */
export function compileMatch(cfg: MatchConfig, base: string): { matcher: Matcher; problems: Problem[] } {
  const problems: Problem[] = [];
  const regexp = cfg.match_type === 'regexp';
  const compileRe = (path: string, v: string, into: RegExp[]) => {
    const c = compileGoRegExp(v);
    if (c.ok) into.push(c.re);
    else problems.push([path, c.error]);
  };
  const set = (key: ListKey, values: readonly string[]): StringSet | undefined => {
    if (values.length === 0) return undefined;
    if (!regexp) return new StringSet(new Set(values), undefined);
    const res: RegExp[] = [];
    values.forEach((v, i) => compileRe(`${base}::${key}::${i}`, v, res));
    return new StringSet(undefined, res);
  };
  const compileOne = (path: string, v: string): StringSet => {
    if (!regexp) return new StringSet(new Set([v]), undefined);
    const res: RegExp[] = [];
    compileRe(path, v, res);
    return new StringSet(undefined, res);
  };
  const attrs = (key: 'attributes' | 'resources'): AttrMatcher[] =>
    cfg[key].map((a, i) => {
      const m: AttrMatcher = { key: a.key };
      if (a.value === undefined || a.value === null) return m;
      if (regexp) {
        if (typeof a.value !== 'string') {
          problems.push([`${base}::${key}::${i}::value`, 'must be a string when match_type is regexp']);
          return m;
        }
        const c = compileGoRegExp(a.value);
        if (c.ok) m.re = c.re;
        else problems.push([`${base}::${key}::${i}::value`, c.error]);
        return m;
      }
      const c = configValueToAnyValue(a.value);
      if (c.ok) m.value = c.value;
      else problems.push([`${base}::${key}::${i}::value`, c.error]);
      return m;
    });

  if (!regexp) {
    cfg.span_kinds.forEach((k, i) => {
      if (!STANDARD_KINDS.includes(k)) {
        problems.push([`${base}::span_kinds::${i}`, `"${k}" is not a span kind; valid kinds are ${STANDARD_KINDS.join(', ')}`]);
      }
    });
  }
  if (ALL_KEYS.every((k) => cfg[k].length === 0)) {
    problems.push([base, `at least one of ${ALL_KEYS.map((k) => `"${k}"`).join(', ')} must be set`]);
  }

  const matcher = new Matcher(
    set('services', cfg.services),
    set('span_names', cfg.span_names),
    set('span_kinds', cfg.span_kinds),
    set('metric_names', cfg.metric_names),
    set('log_bodies', cfg.log_bodies),
    set('log_severity_texts', cfg.log_severity_texts),
    attrs('attributes'),
    attrs('resources'),
    cfg.libraries.map((l, i) => ({
      name: compileOne(`${base}::libraries::${i}::name`, l.name),
      // An absent version matches any; an empty one only an empty version (the Collector's rule).
      version: l.version === undefined ? undefined : compileOne(`${base}::libraries::${i}::version`, l.version),
    })),
  );
  return { matcher, problems };
}

/**
 * Problems with using these properties for `signal`: properties the signal's
 * items do not have, or none that they do. Reported when a processor is
 * created for a pipeline, since only then is the signal known.
 */
export function checkForSignal(cfg: MatchConfig, base: string, signal: Signal): Problem[] {
  const valid = VALID_FOR[signal];
  const problems: Problem[] = [];
  for (const k of ALL_KEYS) {
    if (cfg[k].length > 0 && !valid.includes(k)) problems.push([`${base}::${k}`, `cannot be used for ${ITEM_NAME[signal]}; valid properties are ${valid.join(', ')}`]);
  }
  if (problems.length === 0 && valid.every((k) => cfg[k].length === 0)) {
    problems.push([base, `at least one of ${valid.join(', ')} must be set to match ${ITEM_NAME[signal]}`]);
  }
  return problems;
}
