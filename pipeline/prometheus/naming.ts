/**
 * OpenTelemetry → Prometheus names, as the specification's
 * `compatibility/prometheus_and_openmetrics.md` sets them:
 *
 * - Metric names must match `[a-zA-Z_:][a-zA-Z0-9_:]*` and label names
 *   `[a-zA-Z_][a-zA-Z0-9_]*`: invalid characters become `_`, and runs of `_`
 *   produced that way collapse to one. Names that are already valid are left
 *   exactly as they are, so Prometheus names that came in through remote
 *   write go back out unchanged (`__name__`, `le`, `foo__bar`).
 * - A name starting with a digit gets a prefix (`_` for metrics, `key_` for
 *   labels), as the Collector's translator does.
 * - The unit becomes a suffix before any type suffix, unless the name already
 *   contains it: abbreviations spelled out (`ms` → `milliseconds`, `By` →
 *   `bytes`), `{…}` annotations dropped, `foo/bar` → `foo_per_bar`, and `1` →
 *   `ratio` for gauges.
 * - Monotonic sums (counters) end in `_total`.
 * - `job` is `service.namespace/service.name` (or `service.name`) and
 *   `instance` is `service.instance.id`.
 *
 * Results are cached in bounded maps (attribute keys and metric names repeat
 * on every point); a full cache is cleared, not grown.
 */
import type { Attributes } from '../pdata';

/** The Prometheus type a metric becomes. */
export type PromType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'unknown';

const UNITS: Record<string, string> = {
  d: 'days',
  h: 'hours',
  min: 'minutes',
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  GiBy: 'gibibytes',
  TiBy: 'tibibytes',
  KBy: 'kilobytes',
  MBy: 'megabytes',
  GBy: 'gigabytes',
  TBy: 'terabytes',
  m: 'meters',
  V: 'volts',
  A: 'amperes',
  J: 'joules',
  W: 'watts',
  g: 'grams',
  Cel: 'celsius',
  Hz: 'hertz',
  '%': 'percent',
};

const PER_UNITS: Record<string, string> = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week', mo: 'month', y: 'year' };

const CACHE_LIMIT = 10000;

function isAlpha(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Whether `name` is a valid Prometheus label name. */
export function isValidLabelName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (!(isAlpha(c) || c === 95 || (i > 0 && isDigit(c)))) return false;
  }
  return true;
}

/** Whether `name` is a valid Prometheus metric name. */
export function isValidMetricName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (!(isAlpha(c) || c === 95 || c === 58 || (i > 0 && isDigit(c)))) return false;
  }
  return true;
}

/** Replaces characters outside the allowed set with `_` and collapses the runs of `_` that makes. */
function replaceInvalid(name: string, allowColon: boolean): string {
  let out = '';
  let lastUnderscore = false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const ok = isAlpha(c) || isDigit(c) || c === 95 || (allowColon && c === 58);
    if (ok && c !== 95) {
      out += name[i];
      lastUnderscore = false;
    } else if (!lastUnderscore) {
      out += '_';
      lastUnderscore = true;
    }
  }
  return out;
}

const labelCache = new Map<string, string>();

/** The Prometheus label name of an attribute key (valid names unchanged). */
export function labelName(key: string): string {
  if (isValidLabelName(key)) return key;
  let out = labelCache.get(key);
  if (out !== undefined) return out;
  out = key === '' ? 'key_' : replaceInvalid(key, false);
  if (isDigit(out.charCodeAt(0))) out = `key_${out}`;
  if (labelCache.size >= CACHE_LIMIT) labelCache.clear();
  labelCache.set(key, out);
  return out;
}

/** The Prometheus form of an OpenTelemetry unit, e.g. `ms` → `milliseconds`, `By/s` → `bytes_per_second`; '' when none. */
export function unitSuffix(unit: string, type: PromType): string {
  // Annotations in braces describe what is counted; Prometheus counts are unitless.
  const u = unit.replace(/\{[^}]*\}/g, '').trim();
  if (u === '') return '';
  if (u === '1') return type === 'gauge' ? 'ratio' : '';
  const slash = u.indexOf('/');
  const main = slash < 0 ? u : u.slice(0, slash);
  const per = slash < 0 ? '' : u.slice(slash + 1);
  const parts: string[] = [];
  if (main !== '' && main !== '1') parts.push(UNITS[main] ?? main);
  if (per !== '') parts.push(`per_${PER_UNITS[per] ?? UNITS[per] ?? per}`);
  const joined = parts.join('_');
  return joined === '' ? '' : replaceInvalid(joined, false).replace(/^_+|_+$/g, '');
}

const nameCache = new Map<string, string>();

/**
 * The Prometheus metric name of an OpenTelemetry metric: sanitized, with the
 * unit and (for counters) `_total` suffixes unless `addSuffixes` is false,
 * prefixed with `namespace_` when a namespace is given.
 */
export function metricName(name: string, unit: string, type: PromType, addSuffixes = true, namespace = ''): string {
  const key = `${name}\u0000${unit}\u0000${type}\u0000${addSuffixes ? 1 : 0}\u0000${namespace}`;
  let out = nameCache.get(key);
  if (out !== undefined) return out;
  out = isValidMetricName(name) ? name : replaceInvalid(name, true);
  if (out === '' || isDigit(out.charCodeAt(0))) out = `_${out}`;
  if (addSuffixes) {
    const counter = type === 'counter';
    if (counter && out.endsWith('_total')) out = out.slice(0, -'_total'.length);
    const suffix = unitSuffix(unit, type);
    if (suffix && !`_${out}_`.includes(`_${suffix}_`)) out = `${out}_${suffix}`;
    if (counter) out = `${out}_total`;
  }
  if (namespace) out = `${replaceInvalid(namespace, true)}_${out}`;
  if (nameCache.size >= CACHE_LIMIT) nameCache.clear();
  nameCache.set(key, out);
  return out;
}

/** `job` and `instance` of a resource, as the specification builds them. */
export function jobAndInstance(resource: Attributes): { job: string; instance: string } {
  const name = resource['service.name'];
  const ns = resource['service.namespace'];
  const id = resource['service.instance.id'];
  const n = name === undefined || name === null ? '' : String(name);
  const job = ns !== undefined && ns !== null && String(ns) !== '' ? `${String(ns)}/${n}` : n;
  return { job, instance: id === undefined || id === null ? '' : String(id) };
}

/** Formats a bucket bound or quantile as Prometheus does in `le` / `quantile` labels. */
export function formatFloat(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return String(v);
}
