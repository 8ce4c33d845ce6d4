/**
 * Test helpers for the protocol parsers: a recording parser context, run a
 * parser over scripted chunks, fuzz it (binary protocols) with a seeded
 * generator, and tally field agreement against a reference (DeepFlow's
 * `.result` files, tshark) with every disagreement explained.
 * Used only by tests and benchmarks.
 */
import type { ConnectionParser, Dir, FeedFlags, L7Session, ParserContext, ParserOptions, ProtocolSpec, ResponseStatus } from '../types';
import { DEFAULT_PARSER_OPTIONS } from '../types';

/** One chunk of a scripted conversation. */
export interface Step {
  dir: Dir;
  data: Uint8Array;
  /** Capture time in ns; defaults to 1000 × the step index. */
  time?: bigint;
  flags?: FeedFlags;
}

/** What a scripted run produced. */
export interface RunResult {
  sessions: L7Session[];
  malformed: string[];
}

/** Feeds `steps` to a fresh parser of `spec`, then closes it. */
export function runParser(spec: ProtocolSpec, steps: readonly Step[], options: Partial<ParserOptions> = {}, closeAt?: bigint): RunResult {
  const sessions: L7Session[] = [];
  const malformed: string[] = [];
  const p = spec.create({ options: { ...DEFAULT_PARSER_OPTIONS, ...options }, emit: (s) => sessions.push(s), malformed: (r) => malformed.push(r) });
  let t = 0n;
  steps.forEach((s, i) => {
    t = s.time ?? BigInt(i + 1) * 1000n;
    p.feed(s.dir, s.data, t, s.flags ?? {});
  });
  p.close(closeAt ?? t);
  return { sessions, malformed };
}

/** A parser context that records what the parser emits and reports. */
export interface Recording {
  ctx: ParserContext;
  sessions: L7Session[];
  /** Malformed-input reports, counted by reason. */
  malformed: Record<string, number>;
}

/** A context with `options` over the defaults that keeps every session and counts every malformed report. */
export function recording(options: Partial<ParserOptions> = {}): Recording {
  const sessions: L7Session[] = [];
  const malformed: Record<string, number> = {};
  const ctx: ParserContext = {
    options: { ...DEFAULT_PARSER_OPTIONS, ...options },
    emit: (s) => sessions.push(s),
    malformed: (r) => (malformed[r] = (malformed[r] ?? 0) + 1),
  };
  return { ctx, sessions, malformed };
}

/** A recording context and a parser of `spec` on it. */
export interface Harness extends Recording {
  p: ConnectionParser;
}

/** A fresh parser of `spec` on a recording context. */
export function harness(spec: ProtocolSpec, options: Partial<ParserOptions> = {}): Harness {
  const r = recording(options);
  return { ...r, p: spec.create(r.ctx) };
}

/** Splits one message into chunks at the given offsets (to test reassembly across chunks). */
export function split(dir: Dir, data: Uint8Array, ...at: number[]): Step[] {
  const out: Step[] = [];
  let prev = 0;
  for (const a of [...at, data.length]) {
    out.push({ dir, data: data.subarray(prev, a) });
    prev = a;
  }
  return out;
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new U8(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// Module-level references: under Jest's vm context every lookup of a
// global (`Math`) goes through the context's interceptor and costs ~100×.
const imul = Math.imul;
const floor = Math.floor;
const max = Math.max;
const U8 = Uint8Array;
const big = BigInt;

/** A small deterministic PRNG (mulberry32): same seed, same inputs, every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STATUSES: ReadonlySet<ResponseStatus> = new Set(['ok', 'client_error', 'server_error', 'timeout', 'unknown']);

/** What a fuzz run saw. */
export interface FuzzStats {
  inputs: number;
  sessions: number;
  malformed: number;
  /** Inputs that made the parser (or `infer`) throw, with a hex dump of the first. */
  threw: number;
  firstThrow: string;
  /** Sessions that broke the L7Session shape (bad status, negative duration, wrong protocol). */
  badSessions: number;
}

/**
 * Feeds `count` inputs to fresh parsers: mutations of the seed
 * conversations (bit flips, byte overwrites, truncation, insertion,
 * duplication, splicing), random re-chunking with random gap and prefix
 * flags, and pure random bytes. Counts — never lets a throw escape — so the
 * test can assert there were none.
 */
export function fuzz(spec: ProtocolSpec, seeds: ReadonlyArray<ReadonlyArray<{ dir: Dir; data: Uint8Array }>>, count: number, seed: number, options: Partial<ParserOptions> = {}): FuzzStats {
  const rnd = prng(seed);
  const int = (n: number) => floor(rnd() * n);
  const stats: FuzzStats = { inputs: 0, sessions: 0, malformed: 0, threw: 0, firstThrow: '', badSessions: 0 };
  const opts = { ...DEFAULT_PARSER_OPTIONS, maxBufferBytes: 4096, maxPendingRequests: 8, requestTimeoutNs: 5_000n, ...options };
  for (let i = 0; i < count; i++) {
    const steps: Array<{ dir: Dir; data: Uint8Array; flags: FeedFlags }> = [];
    if (i % 10 === 9 || seeds.length === 0) {
      // Pure noise.
      const n = 1 + int(6);
      for (let k = 0; k < n; k++) steps.push({ dir: (int(2) as Dir), data: randomBytes(rnd, 1 + int(300)), flags: {} });
    } else {
      const conv = seeds[int(seeds.length)];
      for (const m of conv) {
        let data: Uint8Array = m.data.slice();
        const mutations = int(4);
        for (let k = 0; k < mutations; k++) data = mutate(rnd, data, seeds);
        // Re-chunk at random points.
        let off = 0;
        while (off < data.length) {
          const len = rnd() < 0.5 ? data.length - off : 1 + int(max(1, data.length - off));
          const flags: FeedFlags = {};
          if (rnd() < 0.03) flags.gap = true;
          if (rnd() < 0.03) flags.messageLength = len + int(5000);
          steps.push({ dir: m.dir, data: data.subarray(off, off + len), flags });
          off += len;
        }
      }
    }
    stats.inputs++;
    try {
      for (const st of steps) spec.infer(st.data, st.dir, spec.ports[0] ?? 0);
      const p = spec.create({
        options: opts,
        emit: (s) => {
          stats.sessions++;
          if (s.l7_protocol !== spec.name || !STATUSES.has(s.response_status) || s.duration_ns < 0n || s.captured_request_bytes < 0 || s.captured_response_bytes < 0) stats.badSessions++;
        },
        malformed: () => {
          stats.malformed++;
        },
      });
      let t = 1_000n;
      for (const st of steps) {
        t += big(int(3000));
        p.feed(st.dir, st.data, t, st.flags);
        if (rnd() < 0.05) p.expire(t);
      }
      p.close(t + 1n);
    } catch (err) {
      stats.threw++;
      if (!stats.firstThrow) stats.firstThrow = `${(err as Error).stack}\n${steps.map((s) => `${s.dir}:${Buffer.from(s.data).toString('hex')}`).join('\n')}`;
    }
  }
  return stats;
}

function randomBytes(rnd: () => number, n: number): Uint8Array {
  const out = new U8(n);
  for (let i = 0; i < n; i++) out[i] = floor(rnd() * 256);
  return out;
}

function mutate(rnd: () => number, data: Uint8Array, seeds: ReadonlyArray<ReadonlyArray<{ data: Uint8Array }>>): Uint8Array {
  const int = (n: number) => floor(rnd() * n);
  if (data.length === 0) return randomBytes(rnd, 1 + int(16));
  switch (int(7)) {
    case 0: {
      const out = data.slice();
      out[int(out.length)] ^= 1 << int(8);
      return out;
    }
    case 1: {
      // Interesting values where lengths and counts live.
      const out = data.slice();
      const v = [0, 0xff, 0x7f, 0x80, 1][int(5)];
      const at = int(out.length);
      for (let k = 0; k < 1 + int(4) && at + k < out.length; k++) out[at + k] = v;
      return out;
    }
    case 2:
      return data.subarray(0, int(data.length));
    case 3: {
      const at = int(data.length);
      return concat(data.subarray(0, at), randomBytes(rnd, 1 + int(32)), data.subarray(at));
    }
    case 4:
      return concat(data, data);
    case 5: {
      const other = seeds[int(seeds.length)];
      const o = other[int(other.length)].data;
      const at = int(data.length);
      return concat(data.subarray(0, at), o.subarray(int(o.length)));
    }
    default: {
      const out = data.slice();
      for (let k = 0; k < 1 + int(8); k++) out[int(out.length)] = int(256);
      return out;
    }
  }
}

/** Per-capture agreement counts. */
export interface AgreementRow {
  capture: string;
  sessions: number;
  fields: number;
  agree: number;
  explained: string[];
}

/**
 * Field-by-field agreement with a reference. Every disagreement must have
 * an explanation keyed `<capture>#<session index>.<field>` (or
 * `<capture>#*.<field>` for all sessions of a capture, `*#*.<field>` for all
 * captures); the test asserts nothing is left unexplained and no
 * explanation goes unused, so both a regression and a fix show up.
 */
export class Agreement {
  private readonly rows = new Map<string, AgreementRow>();
  /** Disagreements without an explanation. */
  readonly unexplained: string[] = [];
  private readonly used = new Set<string>();

  constructor(private readonly explanations: Readonly<Record<string, string>>) {}

  /** Counts one session of a capture. */
  session(capture: string): void {
    this.row(capture).sessions++;
  }

  /** Compares one field; values are compared as given (normalise before). */
  field(capture: string, index: number, field: string, ours: unknown, theirs: unknown): void {
    const row = this.row(capture);
    row.fields++;
    if (ours === theirs) {
      row.agree++;
      return;
    }
    const keys = [`${capture}#${index}.${field}`, `${capture}#*.${field}`, `*#*.${field}`];
    const key = keys.find((k) => this.explanations[k] !== undefined);
    const what = `${capture}#${index}.${field}: ours ${JSON.stringify(ours)}, reference ${JSON.stringify(theirs)}`;
    if (key) {
      this.used.add(key);
      row.explained.push(`${what} — ${this.explanations[key]}`);
    } else this.unexplained.push(what);
  }

  /** Explanations that matched no disagreement. */
  unused(): string[] {
    return Object.keys(this.explanations).filter((k) => !this.used.has(k));
  }

  /** The rows, in insertion order. */
  table(): AgreementRow[] {
    return [...this.rows.values()];
  }

  /** The agreement table as text (one line per capture, then the explained disagreements). */
  render(): string {
    const lines = ['capture | sessions | fields compared | agreement | explained disagreements'];
    for (const r of this.rows.values()) {
      const pct = r.fields ? ((100 * r.agree) / r.fields).toFixed(1) : '-';
      lines.push(`${r.capture} | ${r.sessions} | ${r.fields} | ${pct}% | ${r.fields - r.agree}`);
    }
    for (const r of this.rows.values()) for (const e of r.explained) lines.push(`  ${e}`);
    return lines.join('\n');
  }

  private row(capture: string): AgreementRow {
    let r = this.rows.get(capture);
    if (!r) {
      r = { capture, sessions: 0, fields: 0, agree: 0, explained: [] };
      this.rows.set(capture, r);
    }
    return r;
  }
}

/** DeepFlow's response status variants in our names. */
export function deepflowStatus(v: unknown): ResponseStatus | null {
  switch (v) {
    case 'Ok':
      return 'ok';
    case 'ClientError':
      return 'client_error';
    case 'ServerError':
      return 'server_error';
    case 'Timeout':
      return 'timeout';
    case 'Unknown':
      return 'unknown';
    default:
      return null;
  }
}
