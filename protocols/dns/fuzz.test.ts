/**
 * Fuzzing the DNS parser: 20,000 random and mutated inputs (fixed seed) in
 * random chunks, directions and flags. The parser must never throw, never
 * hit its internal-error safety net, and only emit well-formed sessions.
 */
import { DEFAULT_PARSER_OPTIONS, type Dir, type FeedFlags, type L7Session, type ParserContext } from '../types';
import { DNS_MALFORMED, spec } from './index';

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

const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ''), 'hex');
/** Real messages: queries and answers with compression, EDNS, SOA, SRV, AAAA. */
const CORPUS = [
  hex('3199 0100 0001 0000 0000 0000 02616102626202636303646464036565650366666607 7a7179746573740363 6f6d00 0001 0001'),
  hex('3199 8580 0001 0001 0001 0001 02616102626202636303646464036565650366666607 7a7179746573740363 6f6d00 0001 0001 c00c 0001 0001 00015180 0004 0a324705 c02e 0002 0001 00015180 0005 026e73c02e c060 0001 0001 00015180 0004 0a10206f'),
  hex('dfe3 8183 0001 0000 0001 0001 0a67756f796f6e6778696e03636f6d00 0001 0001 c017 0006 0001 00000384 0040 01610c67746c642d73657276657273036e657400 056e73746c640c766572697369676e2d677273c017 5f7b3c4b 00000708 00000384 00093a80 00015180 0000 2910 0000 0000 0000'),
  hex('0007 8180 0001 0001 0000 0000 0276360474657374 00 001c 0001 c00c 001c 0001 00000005 0010 20010db8000000000000000000000010'),
  hex('0008 8180 0001 0001 0000 0000 045f736970045f746370047465737400 0021 0001 c00c 0021 0001 00000009 0010 0001 0002 13c4 03736970 0474657374 00'),
  hex('0009 0100 0001 0000 0000 0000 c00c 0001 0001'),
];

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
      out = Buffer.concat([out.subarray(0, at), Buffer.from([0xc0, Math.floor(rand() * 256)]), out.subarray(at)]);
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
  if (s.l7_protocol !== 'DNS') return 'protocol';
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
  const rand = prng(0xd115);
  let sessions = 0;
  let threw = 0;
  const bad: string[] = [];
  const malformed: Record<string, number> = {};
  const ctx: ParserContext = {
    options: { ...DEFAULT_PARSER_OPTIONS, maxBufferBytes: 512, maxPendingRequests: 4, requestTimeoutNs: 1000n },
    emit: (s) => {
      sessions++;
      const why = check(s);
      if (why) bad.push(why);
    },
    malformed: (r) => (malformed[r] = (malformed[r] ?? 0) + 1),
  };
  for (let i = 0; i < 20_000; i++) {
    const p = spec.create(ctx);
    const udp = rand() < 0.5;
    const chunks = 1 + Math.floor(rand() * 6);
    let t = 0n;
    for (let c = 0; c < chunks; c++) {
      const base = CORPUS[Math.floor(rand() * CORPUS.length)];
      let data = rand() < 0.15 ? randomBytes(rand, Math.floor(rand() * 80)) : rand() < 0.7 ? mutate(rand, base) : base;
      if (!udp && rand() < 0.7) data = Buffer.concat([Buffer.from([data.length >> 8, data.length & 0xff]), data]);
      const dir = (rand() < 0.5 ? 0 : 1) as Dir;
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
        spec.infer(data, dir, 53);
      } catch {
        threw++;
      }
      t += BigInt(Math.floor(rand() * 600));
      if (rand() < 0.2) p.expire(t);
    }
    p.close(t + 1n);
  }
  expect(threw).toBe(0);
  expect(malformed[DNS_MALFORMED.internal]).toBeUndefined();
  expect(bad).toEqual([]);
  // The corpus is mostly valid: a fuzz run that emits nothing tests nothing.
  expect(sessions).toBeGreaterThan(10_000);
  expect(malformed[DNS_MALFORMED.message]).toBeGreaterThan(100);
});
