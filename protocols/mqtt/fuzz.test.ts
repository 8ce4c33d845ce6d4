/**
 * Fuzzing the MQTT parser: 20,000 random and mutated inputs (fixed seed)
 * in random chunks, directions and flags (gaps, prefix captures). The parser
 * must never throw, never hit its internal-error safety net, and only emit
 * well-formed sessions.
 */
import { DEFAULT_PARSER_OPTIONS, type Dir, type FeedFlags, type L7Session, type ParserContext } from '../types';
import { MQTT_MALFORMED, spec } from './index';

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


const h = (x: string) => Buffer.from(x.replace(/\s+/g, ''), 'hex');
/** MQTT 3.1.1 and 5.0 packets of both sides (CONNECT with credentials, publishes with properties, acks). */
const CORPUS: [Uint8Array[], Uint8Array[]] = [
  [
    h('102900044d515454040600050006746573742d31000b68656c6c6f2f776f726c640008676f6f6420627965'),
    h('10 1d 0004 4d515454 05 c2 001e 00 0002 7635 0003 626f62 0003 707764'),
    h('82 12 0001 000d 68656c6c6f2f2b2f776f726c64 00'),
    h('32 0a 0003 612f62 0007 00 6869'),
    h('32 16 0003 612f62 0008 0c 2300012602 0001 61 0001 62 6869 30 05 0001 78 7979'),
    h('62 02 0003 c0 00 a2 07 0004 0003 612f62 e0 00'),
  ],
  [
    h('20020000 2003 00 00 00'),
    h('9003000100 b0020004'),
    h('40020007 4004 0008 87 00 50020003 70020003'),
    h('d000 e0 02 8b 00'),
    h('32 09 0004 6e657773 0005 6869'),
  ],
];
const INSERTS = [[0xff, 0xff, 0xff, 0x7f], [0x30, 0x00], [0x26], [0x00, 0x05]];

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
  if (s.l7_protocol !== 'MQTT') return 'protocol';
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
  const rand = prng(0x1883);
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
        spec.infer(data, dir, 1883);
      } catch {
        threw++;
      }
      t += BigInt(Math.floor(rand() * 600));
      if (rand() < 0.2) p.expire(t);
    }
    p.close(t + 1n);
  }
  expect(threw).toBe(0);
  expect(malformed[MQTT_MALFORMED.internal]).toBeUndefined();
  expect(bad).toEqual([]);
  // The corpus is mostly valid: a fuzz run that emits nothing tests nothing.
  expect(sessions).toBeGreaterThan(10000);
  expect(Object.values(malformed).reduce((a, b) => a + b, 0)).toBeGreaterThan(100);
});
