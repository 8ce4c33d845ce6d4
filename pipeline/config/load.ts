/**
 * Reading configuration sources into one raw map, the Collector's way:
 *
 * - Each `--config` value is a file path, or a URI `file:PATH`, `env:VAR`
 *   (YAML in an environment variable) or `yaml:TEXT` (inline YAML, e.g.
 *   `yaml:exporters::debug::verbosity: detailed`).
 * - Sources merge in order: maps merge key by key, anything else (lists,
 *   scalars) is replaced by the later source.
 * - `${env:VAR}` and `${env:VAR:-default}` expand inside string values
 *   (`${VAR}` too); `$$` is a literal `$`. A value that is exactly one
 *   reference takes the type of the expanded YAML scalar, so
 *   `port: ${env:PORT}` is a number. An unset variable without a default
 *   expands to the empty string, with a warning.
 */
import fs from 'node:fs';
import YAML from 'yaml';
import { formatPath } from './schema';

/** A loaded raw config plus what went wrong and what deserves a warning. */
export interface RawConfig {
  value: Record<string, unknown>;
  errors: string[];
  warnings: string[];
}

/** Reads and merges config sources; never throws for bad input, reports it instead. */
export function loadSources(sources: readonly string[], env: NodeJS.ProcessEnv = process.env): RawConfig {
  const errors: string[] = [];
  const warnings: string[] = [];
  let merged: Record<string, unknown> = {};
  if (sources.length === 0) errors.push('no configuration given: use --config FILE');
  for (const source of sources) {
    const text = readSource(source, env, errors);
    if (text === undefined) continue;
    const parsed = parseYaml(text, source.startsWith('yaml:') ? 'inline config' : source, errors);
    if (parsed === undefined) continue;
    merged = mergeMaps(merged, parsed);
  }
  const value = expandEnv(merged, [], env, errors, warnings) as Record<string, unknown>;
  return { value, errors, warnings };
}

function readSource(source: string, env: NodeJS.ProcessEnv, errors: string[]): string | undefined {
  if (source.startsWith('yaml:')) return inlineYaml(source.slice(5));
  if (source.startsWith('env:')) {
    const name = source.slice(4);
    const v = env[name];
    if (v === undefined) {
      errors.push(`config source "${source}": environment variable ${name} is not set`);
      return undefined;
    }
    return v;
  }
  const file = source.startsWith('file:') ? source.slice(5) : source;
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    errors.push(`cannot read config file ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    return undefined;
  }
}

/** `a::b::c: v` (the Collector's inline form) becomes nested YAML. */
function inlineYaml(text: string): string {
  const m = /^([^:\s]+(?:::[^:\s]+)+):\s*(.*)$/s.exec(text.trim());
  if (!m) return text;
  const keys = m[1].split('::');
  let out = '';
  keys.forEach((k, i) => {
    out += `${'  '.repeat(i)}${k}:${i === keys.length - 1 ? ' ' + m[2] : ''}\n`;
  });
  return out;
}

function parseYaml(text: string, source: string, errors: string[]): Record<string, unknown> | undefined {
  let doc: unknown;
  try {
    doc = YAML.parse(text, { maxAliasCount: 100, prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    errors.push(`cannot parse ${source} as YAML: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    errors.push(`${source}: the top level must be a map of sections (receivers, exporters, service, …)`);
    return undefined;
  }
  return doc as Record<string, unknown>;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep-merges `b` over `a`: maps merge, everything else is replaced. */
export function mergeMaps(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    // A later `key:` with no value keeps what an earlier source set.
    if (v === null && prev !== undefined) continue;
    out[k] = isMap(prev) && isMap(v) ? mergeMaps(prev, v) : v;
  }
  return out;
}

const REF = /\$\$|\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{([^}]*)\}/g;

function expandEnv(v: unknown, path: string[], env: NodeJS.ProcessEnv, errors: string[], warnings: string[]): unknown {
  if (typeof v === 'string') return expandString(v, path, env, errors, warnings);
  if (Array.isArray(v)) return v.map((x, i) => expandEnv(x, [...path, String(i)], env, errors, warnings));
  if (isMap(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = expandEnv(x, [...path, k], env, errors, warnings);
    return out;
  }
  return v;
}

function expandString(text: string, path: string[], env: NodeJS.ProcessEnv, errors: string[], warnings: string[]): unknown {
  if (!text.includes('$')) return text;
  let whole = false;
  const expanded = text.replace(REF, (match, name: string | undefined, dflt: string | undefined, bad: string | undefined, offset: number) => {
    if (match === '$$') return '$';
    if (bad !== undefined) {
      errors.push(`${formatPath(path)}: invalid reference "${match}"; use \${env:NAME} or \${env:NAME:-default}`);
      return match;
    }
    whole = offset === 0 && match.length === text.length;
    const value = env[name as string];
    if (value !== undefined && value !== '') return value;
    if (dflt !== undefined) return dflt;
    warnings.push(`${formatPath(path)}: environment variable ${name} is not set; using ""`);
    return '';
  });
  if (!whole) return expanded;
  // A value that is exactly one reference takes the expanded scalar's YAML type.
  try {
    const typed: unknown = YAML.parse(expanded);
    if (typeof typed === 'number' || typeof typed === 'boolean') return typed;
  } catch {
    // Not YAML: keep the string.
  }
  return expanded;
}
