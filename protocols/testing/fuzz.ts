/**
 * Shared fuzz loops for the protocol parsers' tests (beside testkit.ts's
 * `fuzz`, whose generator differs): the message fuzz loop of the
 * text-and-packet protocols (Memcached, NATS, MQTT, Redis, DNS) and the
 * conversation fuzz loop of the SQL protocols (MySQL, PostgreSQL).
 *
 * Every draw from the seeded generator happens in a fixed order, so a seed
 * always gives the same inputs. The tests bring their corpora, seeds,
 * counts and assertions; these helpers only generate, count and collect.
 * Used only by tests.
 */
import type { Dir, FeedFlags, L7Session, ParserContext, ParserOptions, ProtocolSpec } from '../types';
import { DEFAULT_PARSER_OPTIONS } from '../types';
import { prng } from './testkit';

const STATUSES: ReadonlySet<string> = new Set(['ok', 'client_error', 'server_error', 'timeout', 'unknown']);
const TEXT_FIELDS = ['version', 'request_type', 'request_domain', 'request_resource', 'endpoint', 'request_id', 'response_exception', 'response_result'] as const;

/** What is wrong with the shape of a session of `protocol`, or undefined. */
export function sessionProblem(s: L7Session, protocol: string): string | undefined {
  if (s.l7_protocol !== protocol) return 'protocol';
  if (!STATUSES.has(s.response_status)) return 'status';
  for (const k of TEXT_FIELDS) {
    if (typeof s[k] !== 'string') return k;
  }
  if (s.response_code !== null && !Number.isInteger(s.response_code)) return 'response_code';
  if (s.duration_ns < 0n || s.end_time < s.start_time) return 'time';
  if (s.captured_request_bytes < 0 || s.captured_response_bytes < 0) return 'bytes';
  return undefined;
}

function randomBytes(rand: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

/** 1–4 edits: byte overwrite, truncation, insertion of `insert(rand)`, self-append, bit flip. */
function mutateMessage(rand: () => number, input: Uint8Array, insert: (rand: () => number) => Uint8Array): Uint8Array {
  const ops = 1 + Math.floor(rand() * 4);
  let out: Buffer = Buffer.from(input);
  for (let i = 0; i < ops; i++) {
    const r = rand();
    if (r < 0.4 && out.length) out[Math.floor(rand() * out.length)] = Math.floor(rand() * 256);
    else if (r < 0.55) out = out.subarray(0, Math.floor(rand() * (out.length + 1)));
    else if (r < 0.7) {
      const at = Math.floor(rand() * (out.length + 1));
      out = Buffer.concat([out.subarray(0, at), insert(rand), out.subarray(at)]);
    } else if (r < 0.85) out = Buffer.concat([out, out.subarray(0, Math.floor(rand() * out.length))]);
    else if (out.length) out[Math.floor(rand() * out.length)] ^= 1 << Math.floor(rand() * 8);
  }
  return out;
}

/** Picks one of the byte strings, drawing once. */
export function pickInsert(inserts: ReadonlyArray<readonly number[]>): (rand: () => number) => Uint8Array {
  return (rand) => Buffer.from(inserts[Math.floor(rand() * inserts.length)]);
}

export interface MessageFuzzOptions {
  spec: ProtocolSpec;
  seed: number;
  inputs: number;
  /** The port given to `spec.infer`. */
  port: number;
  /** Parser options over the defaults. */
  options: Partial<ParserOptions>;
  /**
   * Messages to mutate. Two lists (client, server): the direction is drawn
   * first and the message taken from its list. One list: the message is
   * drawn first and fed in a direction drawn after it.
   */
  corpus: readonly [readonly Uint8Array[], readonly Uint8Array[]] | readonly Uint8Array[];
  /** Bytes the mutator inserts (it draws for them exactly where it inserts). */
  insert: (rand: () => number) => Uint8Array;
  /** Pure-noise messages are up to this many bytes long (exclusive). */
  maxNoise: number;
  /**
   * Each connection is, by a fair draw, datagrams or a stream; stream
   * messages mostly get a 2-byte big-endian length prefix (DNS over TCP).
   * Without it every connection is a stream without prefixes.
   */
  datagramsOrPrefixedStream?: boolean;
}

/** What a message fuzz run saw. */
export interface MessageFuzzStats {
  sessions: number;
  /** Calls of `spec.infer` that threw. */
  threw: number;
  /** One `sessionProblem` per malformed session. */
  bad: string[];
  malformed: Record<string, number>;
}

/**
 * Feeds `inputs` short connections (1–6 messages each) to fresh parsers:
 * corpus messages as they are or mutated, and pure noise, each with random
 * gap and prefix-capture flags, half of them split in two chunks, with
 * random expiries; every message also goes through `spec.infer`. A throw
 * from the parser escapes (the test fails); one from `infer` is counted.
 */
export function fuzzMessages(o: MessageFuzzOptions): MessageFuzzStats {
  const rand = prng(o.seed);
  const stats: MessageFuzzStats = { sessions: 0, threw: 0, bad: [], malformed: {} };
  const ctx: ParserContext = {
    options: { ...DEFAULT_PARSER_OPTIONS, ...o.options },
    emit: (s) => {
      stats.sessions++;
      const why = sessionProblem(s, o.spec.name);
      if (why) stats.bad.push(why);
    },
    malformed: (r) => (stats.malformed[r] = (stats.malformed[r] ?? 0) + 1),
  };
  const byDir = o.corpus.length === 2 && Array.isArray(o.corpus[0]);
  for (let i = 0; i < o.inputs; i++) {
    const p = o.spec.create(ctx);
    const udp = o.datagramsOrPrefixedStream ? rand() < 0.5 : false;
    const chunks = 1 + Math.floor(rand() * 6);
    let t = 0n;
    for (let c = 0; c < chunks; c++) {
      let dir: Dir = 0;
      let base: Uint8Array;
      if (byDir) {
        dir = (rand() < 0.5 ? 0 : 1) as Dir;
        const pool = (o.corpus as readonly [readonly Uint8Array[], readonly Uint8Array[]])[dir];
        base = pool[Math.floor(rand() * pool.length)];
      } else {
        const pool = o.corpus as readonly Uint8Array[];
        base = pool[Math.floor(rand() * pool.length)];
      }
      let data = rand() < 0.15 ? randomBytes(rand, Math.floor(rand() * o.maxNoise)) : rand() < 0.7 ? mutateMessage(rand, base, o.insert) : base;
      if (o.datagramsOrPrefixedStream && !udp && rand() < 0.7) data = Buffer.concat([Buffer.from([data.length >> 8, data.length & 0xff]), data]);
      if (!byDir) dir = (rand() < 0.5 ? 0 : 1) as Dir;
      const flags: FeedFlags = udp ? { datagram: true } : {};
      if (rand() < 0.1) flags.gap = true;
      if (rand() < 0.1) flags.messageLength = data.length + Math.floor(rand() * 100);
      // Split stream chunks at random points.
      if (!udp && data.length > 1 && rand() < 0.5) {
        const at = 1 + Math.floor(rand() * (data.length - 1));
        p.feed(dir, data.subarray(0, at), t, flags);
        p.feed(dir, data.subarray(at), t + 1n, {});
      } else p.feed(dir, data, t, flags);
      try {
        o.spec.infer(data, dir, o.port);
      } catch {
        stats.threw++;
      }
      t += BigInt(Math.floor(rand() * 600));
      if (rand() < 0.2) p.expire(t);
    }
    p.close(t + 1n);
  }
  return stats;
}

/** A conversation: messages in order, each with its direction. */
export type Script = Array<[Dir, Buffer]>;

function randomBuffer(rnd: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (rnd() * 256) | 0;
  return b;
}

export interface ConversationFuzzOptions {
  spec: ProtocolSpec;
  /** Fields of each of the parser's `dirs` entries that hold buffered bytes; none may grow past twice max(maxBufferBytes, 256). */
  buffers: readonly string[];
  /** Values the mutator writes where lengths and markers live. */
  interesting: readonly number[];
  /** …within this many leading bytes of a message. */
  headerBytes: number;
  /** Draw the kind of mutation before looking at an empty message (MySQL) rather than after (PostgreSQL). */
  drawKindFirst?: boolean;
}

/** What is wrong with a SQL session, or '' (plain checks: expect() per session would dominate the run time). */
function sqlProblem(s: L7Session, protocol: string): string {
  if (s.l7_protocol !== protocol) return 'protocol';
  if (typeof s.request_type !== 'string') return 'request_type';
  if (!STATUSES.has(s.response_status)) return 'status';
  if (s.end_time < s.start_time || s.duration_ns !== s.end_time - s.start_time) return 'times';
  if (s.request_resource.length > 8192) return 'resource length';
  return '';
}

function mutateConversation(o: ConversationFuzzOptions, b: Buffer, rnd: () => number): Buffer {
  const out = Buffer.from(b);
  let kind = o.drawKindFirst ? Math.floor(rnd() * 5) : -1;
  if (out.length === 0) return out;
  if (kind < 0) kind = Math.floor(rnd() * 5);
  if (kind === 0) {
    for (let k = 0; k < 1 + rnd() * 4; k++) out[Math.floor(rnd() * out.length)] ^= 1 << Math.floor(rnd() * 8);
    return out;
  }
  if (kind === 1) return out.subarray(0, Math.floor(rnd() * out.length));
  if (kind === 2) {
    const at = Math.floor(rnd() * out.length);
    return Buffer.concat([out.subarray(0, at), randomBuffer(rnd, 1 + Math.floor(rnd() * 8)), out.subarray(at)]);
  }
  if (kind === 3) {
    const at = Math.floor(rnd() * Math.min(out.length, o.headerBytes));
    out[at] = o.interesting[Math.floor(rnd() * o.interesting.length)];
    return out;
  }
  return out;
}

/** Feeds a script in random chunks with random flags and expiries, then checks the parser's buffers stayed bounded. */
function runScript(o: ConversationFuzzOptions, script: Script, rnd: () => number, maxBufferBytes: number): L7Session[] {
  const sessions: L7Session[] = [];
  const ctx = { options: { ...DEFAULT_PARSER_OPTIONS, maxBufferBytes, requestTimeoutNs: 1000n }, emit: (s: L7Session) => sessions.push(s), malformed: () => undefined };
  const p = o.spec.create(ctx);
  let t = 0n;
  for (const [dir, bytes] of script) {
    let off = 0;
    while (off < bytes.length) {
      const n = 1 + Math.floor(rnd() * Math.min(bytes.length - off, rnd() < 0.3 ? 8 : 4096));
      const flags: FeedFlags = {};
      const r = rnd();
      if (r < 0.03) flags.gap = true;
      else if (r < 0.06) flags.messageLength = n + Math.floor(rnd() * 5000);
      p.feed(dir, bytes.subarray(off, off + n), (t += 10n), flags);
      off += n;
    }
    if (rnd() < 0.05) p.expire(t + 5000n);
  }
  p.close(t + 1n);
  // Bounded buffers: what a direction keeps never exceeds what the options allow.
  const bound = Math.max(maxBufferBytes, 256) * 2;
  const dirs = (p as unknown as { dirs: Array<Record<string, Uint8Array>> }).dirs;
  for (const d of dirs) {
    for (const f of o.buffers) if (d[f].length > bound) throw new Error(`buffer over bound: ${f} ${d[f].length}`);
  }
  return sessions;
}

/** What a conversation fuzz run saw. */
export interface ConversationFuzzStats {
  sessions: number;
  /** `<input index>: <what is wrong>` per malformed session. */
  problems: string[];
}

/**
 * Feeds `count` conversations, the seeds in turn, with messages dropped
 * (8%), turned round (2%) or mutated (25%), half of them with a 256-byte
 * buffer limit.
 */
export function fuzzConversations(o: ConversationFuzzOptions, seeds: readonly Script[], count: number, seed: number): ConversationFuzzStats {
  const rnd = prng(seed);
  const stats: ConversationFuzzStats = { sessions: 0, problems: [] };
  for (let i = 0; i < count; i++) {
    const conv = seeds[i % seeds.length];
    const script: Script = [];
    for (const [dir, b] of conv) {
      if (rnd() < 0.08) continue; // drop a message
      script.push([rnd() < 0.02 ? ((1 - dir) as Dir) : dir, rnd() < 0.25 ? mutateConversation(o, b, rnd) : b]);
    }
    const out = runScript(o, script, rnd, rnd() < 0.5 ? 256 : 65536);
    for (const s of out) {
      const what = sqlProblem(s, o.spec.name);
      if (what) stats.problems.push(`${i}: ${what}`);
    }
    stats.sessions += out.length;
  }
  return stats;
}

/** What a random-bytes run saw. */
export interface NoiseFuzzStats {
  problems: string[];
  /** Every confidence `infer` returned. */
  confidences: Set<number>;
}

/** Feeds `count` conversations of 1–6 random messages (a 1 KiB buffer limit), and gives each message to `infer`. */
export function fuzzNoise(o: ConversationFuzzOptions, infer: (data: Uint8Array, dir: Dir) => number, count: number, seed: number): NoiseFuzzStats {
  const rnd = prng(seed);
  const stats: NoiseFuzzStats = { problems: [], confidences: new Set() };
  for (let i = 0; i < count; i++) {
    const script: Script = [];
    for (let k = 0; k < 1 + rnd() * 6; k++) {
      const b = randomBuffer(rnd, Math.floor(rnd() * 300));
      script.push([rnd() < 0.5 ? 0 : 1, b]);
      stats.confidences.add(infer(b, rnd() < 0.5 ? 0 : 1));
    }
    for (const s of runScript(o, script, rnd, 1024)) {
      const what = sqlProblem(s, o.spec.name);
      if (what) stats.problems.push(`${i}: ${what}`);
    }
  }
  return stats;
}

/**
 * The invariants of every message fuzz run: `infer` never threw, the
 * parser's internal-error safety net (`internal`) never fired, and every
 * session was well formed.
 */
export function expectSound(run: MessageFuzzStats, internal: string): void {
  expect(run.threw).toBe(0);
  expect(run.malformed[internal]).toBeUndefined();
  expect(run.bad).toEqual([]);
}

/** All malformed-input reports of a run, whatever the reason. */
export function malformedTotal(run: MessageFuzzStats): number {
  return Object.values(run.malformed).reduce((a, b) => a + b, 0);
}
