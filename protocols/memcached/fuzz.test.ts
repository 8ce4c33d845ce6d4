/**
 * Fuzzing the Memcached parser: 20,000 random and mutated inputs (fixed seed)
 * in random chunks, directions and flags (gaps, prefix captures). The parser
 * must never throw, never hit its internal-error safety net, and only emit
 * well-formed sessions.
 */
import { DEFAULT_PARSER_OPTIONS, type Dir, type FeedFlags, type L7Session, type ParserContext } from '../types';
import { MEMCACHED_MALFORMED, spec } from './index';

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}


const B = (s: string) => Buffer.from(s);
/** Requests and replies: storage with data blocks, retrievals, meta commands, errors. */
const CORPUS: [Uint8Array[], Uint8Array[]] = [
  [
    B('set foo 0 0 3\r\nbar\r\nget foo\r\n'),
    B('gets a b c\r\ndelete k noreply\r\nincr n 5\r\n'),
    B('ms k 2 T60\r\nhi\r\nmg k v\r\nmd k q\r\nmn\r\n'),
    B('stats\r\nversion\r\nquit\r\n'),
    B('cas k 0 0 1 99\r\nx\r\ntouch k 10\r\ngat 10 a b\r\n'),
  ],
  [
    B('STORED\r\nVALUE foo 0 3\r\nbar\r\nEND\r\n'),
    B('VALUE a 0 1 5\r\nx\r\nEND\r\n15\r\nNOT_FOUND\r\n'),
    B('HD\r\nVA 2 t1\r\nhi\r\nMN\r\n'),
    B('STAT pid 1\r\nEND\r\nVERSION 1.6\r\n'),
    B('ERROR\r\nCLIENT_ERROR bad data chunk\r\nSERVER_ERROR oom\r\n'),
  ],
];
const INSERTS = [[13, 10], [0x20], [0x39, 0x39, 0x39, 0x39], [0x2d]];

function mutate(rand: () => number, input: Uint8Array): Uint8Array {
  const b = Buffer.from(input);
  const ops = 1 + Math.floor(rand() * 4);
  let out: Buffer = b;
  for (let i = 0; i < ops; i++) {
    const r = rand();
    if (r < 0.4 && out.length) out[Math.floor(rand() * out.length)] = Math.floor(rand() * 256);
    else if (r < 0.55) out = out.subarray(0, Math.floor(rand() * (out.length + 1)));
    else if (r < 0.7) {
      const at = Math.floor(rand() * (out.length + 1));
      out = Buffer.concat([out.subarray(0, at), Buffer.from(INSERTS[Math.floor(rand() * INSERTS.length)]), out.subarray(at)]);
    } else if (r < 0.85) out = Buffer.concat([out, out.subarray(0, Math.floor(rand() * out.length))]);
    else if (out.length) out[Math.floor(rand() * out.length)] ^= 1 << Math.floor(rand() * 8);
  }
  return out;
}

function randomBytes(rand: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

const STATUSES = new Set(['ok', 'client_error', 'server_error', 'timeout', 'unknown']);

function check(s: L7Session): string | undefined {
  if (s.l7_protocol !== 'Memcached') return 'protocol';
  if (!STATUSES.has(s.response_status)) return 'status';
  for (const k of ['version', 'request_type', 'request_domain', 'request_resource', 'endpoint', 'request_id', 'response_exception', 'response_result'] as const) {
    if (typeof s[k] !== 'string') return k;
  }
  if (s.response_code !== null && !Number.isInteger(s.response_code)) return 'response_code';
  if (s.duration_ns < 0n || s.end_time < s.start_time) return 'time';
  if (s.captured_request_bytes < 0 || s.captured_response_bytes < 0) return 'bytes';
  return undefined;
}

test('20,000 random and mutated inputs never throw and give well-formed sessions', () => {
  const rand = prng(0x11211);
  let sessions = 0;
  let threw = 0;
  const bad: string[] = [];
  const malformed: Record<string, number> = {};
  const ctx: ParserContext = {
    options: { ...DEFAULT_PARSER_OPTIONS, maxBufferBytes: 256, maxPendingRequests: 4, requestTimeoutNs: 1000n },
    emit: (s) => {
      sessions++;
      const why = check(s);
      if (why) bad.push(why);
    },
    malformed: (r) => (malformed[r] = (malformed[r] ?? 0) + 1),
  };
  for (let i = 0; i < 20_000; i++) {
    const p = spec.create(ctx);
    const chunks = 1 + Math.floor(rand() * 6);
    let t = 0n;
    for (let c = 0; c < chunks; c++) {
      const dir = (rand() < 0.5 ? 0 : 1) as Dir;
      const pool = CORPUS[dir];
      const base = pool[Math.floor(rand() * pool.length)];
      const data = rand() < 0.15 ? randomBytes(rand, Math.floor(rand() * 120)) : rand() < 0.7 ? mutate(rand, base) : base;
      const flags: FeedFlags = {};
      if (rand() < 0.1) flags.gap = true;
      if (rand() < 0.1) flags.messageLength = data.length + Math.floor(rand() * 100);
      if (data.length > 1 && rand() < 0.5) {
        const at = 1 + Math.floor(rand() * (data.length - 1));
        p.feed(dir, data.subarray(0, at), t, flags);
        p.feed(dir, data.subarray(at), t + 1n, {});
      } else p.feed(dir, data, t, flags);
      try {
        spec.infer(data, dir, 11211);
      } catch {
        threw++;
      }
      t += BigInt(Math.floor(rand() * 600));
      if (rand() < 0.2) p.expire(t);
    }
    p.close(t + 1n);
  }
  expect(threw).toBe(0);
  expect(malformed[MEMCACHED_MALFORMED.internal]).toBeUndefined();
  expect(bad).toEqual([]);
  // The corpus is mostly valid: a fuzz run that emits nothing tests nothing.
  expect(sessions).toBeGreaterThan(10000);
  expect(Object.values(malformed).reduce((a, b) => a + b, 0)).toBeGreaterThan(100);
});
