/**
 * Custom tags: attributes by address block (CIDR) and by process name, from
 * the config and from a file that is reloaded when it changes.
 *
 * The file has the config's shape (`cidrs`, `processes`) in YAML or JSON and
 * is checked with the same schema. It is polled: its stat (inode, size,
 * times) is compared with the stat taken when it was last read, which also
 * sees a file replaced by rename, as ConfigMap mounts and editors do, and
 * cannot miss a change made between the first read and the first poll (as
 * `fs.watchFile`, whose baseline is its own first stat, can). A file that is
 * missing or invalid leaves the previous tags in place; the attempt is
 * counted and logged, once per change.
 */
import fs from 'node:fs';
import YAML from 'yaml';
import { formatIssue } from '../../pipeline/config/schema';
import type { Logger } from '../../pipeline/logger';
import type { AnyValue } from '../../pipeline/pdata';
import type { ComponentTelemetry } from '../../pipeline/telemetry';
import { compileGoRegExp } from '../internal/goregex';
import { customTagListsSchema, validateTagLists, type AutoTaggingConfig, type CustomTagLists } from './config';
import { cidrContains, ipBytes, parseCidr, type Cidr } from './ip';

interface CidrEntry {
  cidr: Cidr;
  flat: AnyValue[];
}

interface ProcessEntry {
  name?: string;
  re?: RegExp;
  flat: AnyValue[];
}

interface Compiled {
  /** Sorted by prefix length, shortest first, so longer prefixes are applied last and win. */
  cidrs: CidrEntry[];
  processes: ProcessEntry[];
}

function flatOf(tags: Record<string, string>): AnyValue[] {
  const out: AnyValue[] = [];
  for (const k of Object.keys(tags)) out.push(k, tags[k]);
  return out;
}

function compile(lists: CustomTagLists[]): Compiled {
  const cidrs: CidrEntry[] = [];
  const processes: ProcessEntry[] = [];
  for (const l of lists) {
    for (const c of l.cidrs) {
      const cidr = parseCidr(c.cidr);
      if (typeof cidr !== 'string') cidrs.push({ cidr, flat: flatOf(c.tags) });
    }
    for (const p of l.processes) {
      const re = p.name_regex !== undefined ? compileGoRegExp(p.name_regex) : undefined;
      processes.push({ name: p.name, re: re?.ok ? re.re : undefined, flat: flatOf(p.tags) });
    }
  }
  cidrs.sort((a, b) => a.cidr.prefix - b.cidr.prefix);
  return { cidrs, processes };
}

/** The custom tag lists in effect. */
export class CustomTags {
  /** Changes whenever the tags change (so caches of derived tags know they are stale). */
  generation = 0;
  private compiled: Compiled;
  private fileLists: CustomTagLists | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Stat signature of the file when last read ('' when it could not be stat'ed). */
  private lastSeen: string | undefined;

  constructor(
    private readonly cfg: AutoTaggingConfig['custom_tags'],
    private readonly telemetry: ComponentTelemetry,
    private readonly logger: Logger,
  ) {
    this.compiled = compile([cfg]);
  }

  /** Whether any CIDR tags exist (so per-address work can be skipped when none do). */
  get hasCidrs(): boolean {
    return this.compiled.cidrs.length > 0;
  }

  /** Loads the file (if configured) and starts polling it. */
  start(): void {
    const file = this.cfg.file;
    if (!file || this.timer) return;
    this.reload();
    this.timer = setInterval(() => {
      fs.stat(file, (err, st) => {
        if (this.timer && signature(err ? undefined : st) !== this.lastSeen) this.reload();
      });
    }, this.cfg.reload_interval);
    this.timer.unref();
  }

  /** Stops polling the file. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the file now; returns whether it was applied. */
  reload(): boolean {
    const file = this.cfg.file;
    if (!file) return false;
    let problems: string[];
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(file);
    } catch {
      st = undefined;
    }
    // Stat before reading: a change made while reading shows at the next poll.
    this.lastSeen = signature(st);
    try {
      const text = fs.readFileSync(file, 'utf8');
      const raw: unknown = text.trim() === '' ? {} : YAML.parse(text);
      const { value, issues } = customTagListsSchema.parse(raw);
      problems = issues.map(formatIssue);
      if (value && !problems.length) problems = validateTagLists(value, '').map(([p, m]) => `${p}: ${m}`);
      if (value && !problems.length) {
        this.fileLists = value;
        this.compiled = compile([this.cfg, value]);
        this.generation++;
        this.telemetry.counter('metaflow_autotagging_custom_tags_reloads_total', 'Loads of custom_tags::file, by result.', 1, { result: 'ok' });
        this.logger.info('custom tags loaded', { file, cidrs: value.cidrs.length, processes: value.processes.length });
        return true;
      }
    } catch (err) {
      problems = [(err as Error).message];
    }
    this.telemetry.counter('metaflow_autotagging_custom_tags_reloads_total', 'Loads of custom_tags::file, by result.', 1, { result: 'error' });
    this.logger.every('custom-tags-file', 10_000, 'warn', `custom tags file not applied; ${this.fileLists ? 'keeping the previous tags' : 'using the config tags only'}`, { file, problems });
    return false;
  }

  /** Tags for an address: every block containing it, longer prefixes last (flat list; empty when none). */
  cidrTags(ip: string): AnyValue[] {
    const list = this.compiled.cidrs;
    if (!list.length) return EMPTY;
    const bytes = ipBytes(ip);
    if (!bytes) return EMPTY;
    let out: Map<string, AnyValue> | undefined;
    for (const e of list) {
      if (!cidrContains(e.cidr, bytes)) continue;
      out ??= new Map();
      for (let i = 0; i < e.flat.length; i += 2) out.set(e.flat[i] as string, e.flat[i + 1]);
    }
    return out ? flatten(out) : EMPTY;
  }

  /** Tags for a process by executable name or task name; the first entry naming a tag wins (flat list). */
  processTags(executableName: string, comm: string): AnyValue[] {
    const list = this.compiled.processes;
    if (!list.length) return EMPTY;
    let out: Map<string, AnyValue> | undefined;
    for (const e of list) {
      const hit = e.name !== undefined ? e.name === executableName || e.name === comm : !!e.re && (e.re.test(executableName) || (comm !== '' && e.re.test(comm)));
      if (!hit) continue;
      out ??= new Map();
      for (let i = 0; i < e.flat.length; i += 2) if (!out.has(e.flat[i] as string)) out.set(e.flat[i] as string, e.flat[i + 1]);
    }
    return out ? flatten(out) : EMPTY;
  }
}

const EMPTY: AnyValue[] = [];

function signature(st: fs.Stats | undefined): string {
  return st ? `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}` : '';
}

function flatten(m: Map<string, AnyValue>): AnyValue[] {
  const out: AnyValue[] = [];
  for (const [k, v] of m) out.push(k, v);
  return out;
}
