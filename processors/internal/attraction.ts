/**
 * Attribute actions shared by the `resource` and `attributes` processors: the
 * Collector's `attraction` package, with its config keys and semantics.
 *
 * An action list is validated once at load ({@link validateActions}), compiled
 * once at create ({@link compileActions}) and then applied, in order, to each
 * attribute map ({@link AttrProc.process}). Actions:
 *
 * | action  | needs                              | does |
 * |---------|------------------------------------|------|
 * | insert  | key + (value \| from_attribute)    | sets the key only when it is absent |
 * | update  | key + (value \| from_attribute)    | sets the key only when it is present |
 * | upsert  | key + (value \| from_attribute)    | sets the key either way |
 * | delete  | key and/or pattern                 | removes the key and every key the pattern matches |
 * | hash    | key and/or pattern                 | replaces the value with the SHA-1 hex of its bytes |
 * | extract | key + pattern with named groups    | sets one string attribute per named group when the value matches |
 * | convert | key + converted_type               | converts to int, double or string when it can |
 *
 * `from_attribute` naming an absent attribute skips the action, as in the
 * Collector. `from_context` is recognised only to say it is unsupported: our
 * consumers receive no client metadata.
 */
import { createHash } from 'node:crypto';
import { s, type Infer } from '../../pipeline/config/schema';
import { anyValueToString, setAttribute, type AnyValue, type Attributes } from '../../pipeline/pdata';
import { captureGroups, compileGoRegExp } from './goregex';

/** The action names, as the Collector spells them (matched case-insensitively). */
export const ACTIONS = ['insert', 'update', 'upsert', 'delete', 'hash', 'extract', 'convert'] as const;

/** One of {@link ACTIONS}. */
export type ActionName = (typeof ACTIONS)[number];

/** Target types of the `convert` action. */
export const CONVERTED_TYPES = ['int', 'double', 'string'] as const;

/** Schema of one action; cross-field rules live in {@link validateActions}. */
export const actionSchema = s.object({
  key: s.optional(s.string()).doc('the attribute to act on'),
  action: s.enum(ACTIONS).doc('insert, update, upsert, delete, hash, extract or convert'),
  value: s.optional(s.any()).doc('the value to set (insert/update/upsert); its YAML type is kept'),
  from_attribute: s.optional(s.string()).doc('take the value from this attribute of the same item instead'),
  from_context: s.optional(s.string()).doc('not supported: there is no client metadata in MetaFlow pipelines'),
  pattern: s.optional(s.string()).doc('regular expression: keys to delete/hash, or named groups to extract'),
  converted_type: s.optional(s.enum(CONVERTED_TYPES)).doc('target type of convert: int, double or string'),
});

/** Schema of an action list (a new instance per use, since `doc()` sets text on the instance). */
export function actionsSchema() {
  return s.array(actionSchema).default([]);
}

/** One parsed action. */
export type ActionConfig = Infer<typeof actionSchema>;

/** A problem as factories report them: `[relativePath, message]`. */
export type Problem = [string, string];

interface CompiledAction {
  action: ActionName;
  key: string;
  /** The configured value (insert/update/upsert), when not from_attribute. */
  value: AnyValue | undefined;
  fromAttribute: string;
  regex: RegExp | undefined;
  /** Named groups of an extract pattern, in order. */
  names: string[];
  convertTo: (typeof CONVERTED_TYPES)[number] | undefined;
}

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/**
 * Converts a config value (YAML scalars, lists, maps) to an attribute value.
 * Returns a message instead for anything YAML cannot produce (functions,
 * class instances), so a hand-built config is reported, not thrown on.
 */
export function configValueToAnyValue(v: unknown, depth = 0): { ok: true; value: AnyValue } | { ok: false; error: string } {
  if (depth > 64) return { ok: false, error: 'value is nested too deeply' };
  switch (typeof v) {
    case 'string':
    case 'boolean':
    case 'bigint':
      return { ok: true, value: v };
    case 'number':
      return { ok: true, value: v };
    case 'object': {
      if (v === null) return { ok: true, value: null };
      if (v instanceof Uint8Array) return { ok: true, value: new Uint8Array(v) };
      if (Array.isArray(v)) {
        const out: AnyValue[] = [];
        for (const x of v) {
          const c = configValueToAnyValue(x, depth + 1);
          if (!c.ok) return c;
          out.push(c.value);
        }
        return { ok: true, value: out };
      }
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null) return { ok: false, error: 'unsupported value type; use a string, number, boolean, list or map' };
      const out: Attributes = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        const c = configValueToAnyValue(x, depth + 1);
        if (!c.ok) return c;
        setAttribute(out, k, c.value);
      }
      return { ok: true, value: out };
    }
    default:
      return { ok: false, error: 'unsupported value type; use a string, number, boolean, list or map' };
  }
}

/** Whether a config field counts as set (the Collector treats "" and null as unset). */
function given(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '';
}

/**
 * Checks and compiles an action list. `base` is the list's config path
 * (`attributes` for the resource processor, `actions` for attributes). Every
 * problem is returned with its path; actions with problems are left out of
 * the compiled processor. Never throws.
 */
export function compileActions(list: readonly ActionConfig[], base: string): { proc: AttrProc; problems: Problem[] } {
  const problems: Problem[] = [];
  const compiled: CompiledAction[] = [];
  list.forEach((a, i) => {
    const at = `${base}::${i}`;
    const before = problems.length;
    const p = (field: string, msg: string) => problems.push([`${at}::${field}`, msg]);
    const act = a.action;
    const hasKey = given(a.key);
    const hasValue = given(a.value);
    const hasFrom = given(a.from_attribute);
    const hasPattern = given(a.pattern);
    const notUsed = (field: string, isSet: boolean) => {
      if (isSet) p(field, `is not used by action "${act}"; remove it`);
    };
    if (given(a.from_context)) p('from_context', 'is not supported: MetaFlow pipelines carry no client metadata; use from_attribute or value');

    let value: AnyValue | undefined;
    let regex: RegExp | undefined;
    let names: string[] = [];
    const compilePattern = () => {
      const c = compileGoRegExp(a.pattern as string);
      if (c.ok) regex = c.re;
      else p('pattern', c.error);
    };

    switch (act) {
      case 'insert':
      case 'update':
      case 'upsert':
        if (!hasKey) p('key', `is required for action "${act}"`);
        if (!hasValue && !hasFrom) p('value', `action "${act}" needs "value" or "from_attribute"`);
        if (hasValue && hasFrom) p('from_attribute', 'cannot be combined with "value"; set only one');
        if (hasValue) {
          const c = configValueToAnyValue(a.value);
          if (c.ok) value = c.value;
          else p('value', c.error);
        }
        notUsed('pattern', hasPattern);
        notUsed('converted_type', a.converted_type !== undefined);
        break;
      case 'delete':
      case 'hash':
        if (!hasKey && !hasPattern) p('key', `action "${act}" needs "key" or "pattern"`);
        notUsed('value', hasValue);
        notUsed('from_attribute', hasFrom);
        notUsed('converted_type', a.converted_type !== undefined);
        if (hasPattern) compilePattern();
        break;
      case 'extract':
        if (!hasKey) p('key', `is required for action "${act}"`);
        notUsed('value', hasValue);
        notUsed('from_attribute', hasFrom);
        notUsed('converted_type', a.converted_type !== undefined);
        if (!hasPattern) p('pattern', `is required for action "${act}"`);
        else {
          compilePattern();
          if (regex) {
            const g = captureGroups(regex);
            if (g.names.length === 0) p('pattern', 'contains no named groups such as (?P<name>...); extract sets one attribute per named group');
            else if (g.names.length < g.total) p('pattern', 'contains an unnamed group; every group must be named (use (?:...) for grouping)');
            else names = g.names;
          }
        }
        break;
      case 'convert':
        if (!hasKey) p('key', `is required for action "${act}"`);
        notUsed('value', hasValue);
        notUsed('from_attribute', hasFrom);
        notUsed('pattern', hasPattern);
        if (a.converted_type === undefined) p('converted_type', 'is required for action "convert" (int, double or string)');
        break;
      default:
        // The schema only lets the listed actions through; this guards hand-built configs.
        problems.push([`${at}::action`, `unsupported action "${String(act)}"; valid actions are ${ACTIONS.join(', ')}`]);
    }
    if (problems.length > before) return;
    compiled.push({
      action: act,
      key: hasKey ? (a.key as string) : '',
      value,
      fromAttribute: hasFrom ? (a.from_attribute as string) : '',
      regex,
      names,
      convertTo: a.converted_type,
    });
  });
  return { proc: new AttrProc(compiled), problems };
}

/** The problems of an action list (see {@link compileActions}). */
export function validateActions(list: readonly ActionConfig[], base: string): Problem[] {
  return compileActions(list, base).problems;
}

/** A compiled action list; {@link AttrProc.process} applies it to one attribute map. */
export class AttrProc {
  constructor(private readonly actions: readonly CompiledAction[]) {}

  /** Number of compiled actions. */
  get size(): number {
    return this.actions.length;
  }

  /** Applies every action, in order, to `attrs` (in place). */
  process(attrs: Attributes): void {
    for (const a of this.actions) {
      switch (a.action) {
        case 'insert': {
          if (hasOwn(attrs, a.key)) break;
          const v = this.source(a, attrs);
          if (v !== undefined) setAttribute(attrs, a.key, v);
          break;
        }
        case 'update': {
          if (!hasOwn(attrs, a.key)) break;
          const v = this.source(a, attrs);
          if (v !== undefined) setAttribute(attrs, a.key, v);
          break;
        }
        case 'upsert': {
          const v = this.source(a, attrs);
          if (v !== undefined) setAttribute(attrs, a.key, v);
          break;
        }
        case 'delete':
          if (a.key !== '') delete attrs[a.key];
          if (a.regex) for (const k of Object.keys(attrs)) if (a.regex.test(k)) delete attrs[k];
          break;
        case 'hash':
          // Each key is hashed once even when both `key` and `pattern` name it.
          if (a.key !== '' && hasOwn(attrs, a.key)) setAttribute(attrs, a.key, hashValue(attrs[a.key]));
          if (a.regex) for (const k of Object.keys(attrs)) if (k !== a.key && a.regex.test(k)) setAttribute(attrs, k, hashValue(attrs[k]));
          break;
        case 'extract': {
          if (!hasOwn(attrs, a.key)) break;
          const v = attrs[a.key];
          if (typeof v !== 'string') break;
          const m = (a.regex as RegExp).exec(v);
          if (!m) break;
          for (const name of a.names) setAttribute(attrs, name, m.groups?.[name] ?? '');
          break;
        }
        case 'convert':
          if (hasOwn(attrs, a.key)) setAttribute(attrs, a.key, convertValue(attrs[a.key], a.convertTo as 'int' | 'double' | 'string'));
          break;
      }
    }
  }

  /** The value an insert/update/upsert sets, or undefined to skip. A copy, so items never share mutable values. */
  private source(a: CompiledAction, attrs: Attributes): AnyValue | undefined {
    const v = a.value !== undefined ? a.value : hasOwn(attrs, a.fromAttribute) ? attrs[a.fromAttribute] : undefined;
    return typeof v === 'object' && v !== null ? structuredClone(v) : v;
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * SHA-1 hex of a value's bytes, as the Collector's hasher: UTF-8 for
 * strings, one byte 1/0 for booleans, little-endian int64 for integers and
 * IEEE-754 float64 for doubles. Other types (bytes, lists, maps, empty)
 * become the empty string, as there.
 */
export function hashValue(v: AnyValue): string {
  let bytes: Buffer | undefined;
  if (typeof v === 'string') bytes = Buffer.from(v, 'utf8');
  else if (typeof v === 'boolean') bytes = Buffer.from([v ? 1 : 0]);
  else if (typeof v === 'bigint') {
    bytes = Buffer.alloc(8);
    bytes.writeBigUInt64LE(BigInt.asUintN(64, v));
  } else if (typeof v === 'number') {
    bytes = Buffer.alloc(8);
    // pdata's rule: an integral number is an OTLP int (when it fits int64), anything else a double.
    if (Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 63) bytes.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)));
    else bytes.writeDoubleLE(v);
  }
  if (!bytes) return '';
  return createHash('sha1').update(bytes).digest('hex');
}

const INT_RE = /^[+-]?[0-9]+$/;
const FLOAT_RE = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const SPECIAL_FLOAT_RE = /^([+-]?)(inf|infinity|nan)$/i;

/**
 * The `convert` action: a value converted to `to`, or the value itself when
 * it cannot be converted (as the Collector leaves it as is).
 *
 * The data model stores an integral double as an integer (pdata's rule), so
 * converting 5 to double has no visible effect; 5.5 to int gives 5.
 */
export function convertValue(v: AnyValue, to: 'int' | 'double' | 'string'): AnyValue {
  switch (to) {
    case 'string':
      return typeof v === 'string' ? v : anyValueToString(v);
    case 'int':
      if (typeof v === 'number') {
        if (Number.isInteger(v)) return v;
        // Go's int64(float) truncates; NaN and out-of-range values have no int, so keep them.
        if (!Number.isFinite(v) || v <= -(2 ** 63) || v >= 2 ** 63) return v;
        return Math.trunc(v);
      }
      if (typeof v === 'boolean') return v ? 1 : 0;
      if (typeof v === 'string' && INT_RE.test(v)) {
        const big = BigInt(v);
        if (big < INT64_MIN || big > INT64_MAX) return v;
        return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
      }
      return v;
    case 'double':
      if (typeof v === 'number') return v;
      if (typeof v === 'bigint') return Number(v);
      if (typeof v === 'boolean') return v ? 1 : 0;
      if (typeof v === 'string') {
        if (FLOAT_RE.test(v)) return Number(v);
        const sp = SPECIAL_FLOAT_RE.exec(v);
        if (sp) return sp[2].toLowerCase() === 'nan' ? NaN : sp[1] === '-' ? -Infinity : Infinity;
      }
      return v;
  }
}
