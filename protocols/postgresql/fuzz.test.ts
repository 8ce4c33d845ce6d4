/**
 * Fuzzing the PostgreSQL parser: 20,000+ random and mutated conversations
 * with a fixed seed. The parser must never throw, every session must be well
 * formed, and buffers must stay within maxBufferBytes.
 */
import type { Dir, FeedFlags, L7Session } from '../types';
import { DEFAULT_PARSER_OPTIONS } from '../types';
import { inferPostgresql, postgresqlSpec } from './index';
import * as pg from './testing';

/** mulberry32: a small deterministic PRNG. */
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

type Script = Array<[Dir, Buffer]>;

function randomBytes(rnd: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (rnd() * 256) | 0;
  return b;
}

const READY = Buffer.concat([pg.authentication(0), pg.parameterStatus('server_version', '15.18'), pg.backendKeyData(1, 2), pg.readyForQuery()]);

/** Valid conversations to mutate. */
function seeds(): Script[] {
  return [
    [
      [0, pg.sslRequest()],
      [1, Buffer.from('N')],
      [0, pg.startup({ user: 'app', database: 'shop' })],
      [1, READY],
      [0, pg.query("SELECT a FROM t WHERE b = 'x'")],
      [1, Buffer.concat([pg.rowDescription(['a']), pg.dataRow(['1']), pg.dataRow([null]), pg.commandComplete('SELECT 2'), pg.readyForQuery()])],
      [0, pg.query('SELECT * FROM missing')],
      [1, Buffer.concat([pg.errorResponse({ S: 'ERROR', V: 'ERROR', C: '42P01', M: 'relation does not exist' }), pg.readyForQuery()])],
      [0, pg.terminate()],
    ],
    [
      [0, Buffer.concat([pg.parse('s1', 'UPDATE t SET a = $1 WHERE id = $2'), pg.describe('S', 's1'), pg.sync()])],
      [1, Buffer.concat([pg.parseComplete(), pg.parameterDescription([23, 23]), pg.noData(), pg.readyForQuery()])],
      [0, Buffer.concat([pg.bind('', 's1', ['1', '2']), pg.execute(''), pg.bind('p', 's1', ['3', null]), pg.execute('p', 1), pg.sync()])],
      [1, Buffer.concat([pg.bindComplete(), pg.commandComplete('UPDATE 1'), pg.bindComplete(), pg.portalSuspended(), pg.readyForQuery('T')])],
      [0, Buffer.concat([pg.close('S', 's1'), pg.sync()])],
      [1, Buffer.concat([pg.closeComplete(), pg.readyForQuery()])],
    ],
    [
      [0, pg.startup({ user: 'u' })],
      [1, pg.authentication(10, Buffer.from('SCRAM-SHA-256\0\0'))],
      [0, pg.password('secret')],
      [1, READY],
      [0, pg.query('COPY t FROM STDIN')],
      [1, pg.copyInResponse(2)],
      [0, Buffer.concat([pg.copyData('1\t2\n'), pg.copyDone()])],
      [1, Buffer.concat([pg.commandComplete('COPY 1'), pg.readyForQuery()])],
      [0, pg.functionCall(1598)],
      [1, Buffer.concat([pg.functionCallResponse('x'), pg.readyForQuery()])],
    ],
  ];
}

function mutate(b: Buffer, rnd: () => number): Buffer {
  const out = Buffer.from(b);
  if (out.length === 0) return out;
  const kind = Math.floor(rnd() * 5);
  if (kind === 0) {
    for (let k = 0; k < 1 + rnd() * 4; k++) out[Math.floor(rnd() * out.length)] ^= 1 << Math.floor(rnd() * 8);
    return out;
  }
  if (kind === 1) return out.subarray(0, Math.floor(rnd() * out.length));
  if (kind === 2) {
    const at = Math.floor(rnd() * out.length);
    return Buffer.concat([out.subarray(0, at), randomBytes(rnd, 1 + Math.floor(rnd() * 8)), out.subarray(at)]);
  }
  if (kind === 3) {
    // Interesting values where types and lengths live.
    const at = Math.floor(rnd() * Math.min(out.length, 10));
    out[at] = [0x00, 0xff, 0x7f, 0x04, 0x45, 0x5a, 0x43, 0x51][Math.floor(rnd() * 8)];
    return out;
  }
  return out;
}

function run(script: Script, rnd: () => number, maxBufferBytes: number): L7Session[] {
  const sessions: L7Session[] = [];
  const ctx = { options: { ...DEFAULT_PARSER_OPTIONS, maxBufferBytes, requestTimeoutNs: 1000n }, emit: (s: L7Session) => sessions.push(s), malformed: () => undefined };
  const p = postgresqlSpec.create(ctx);
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
  const dirs = (p as unknown as { dirs: Array<{ body: Uint8Array }> }).dirs;
  for (const d of dirs) if (d.body.length > Math.max(maxBufferBytes, 256) * 2) throw new Error(`buffer over bound: ${d.body.length}`);
  return sessions;
}

/** What is wrong with a session, or '' (plain checks: expect() per session would dominate the run time). */
function problem(s: L7Session): string {
  if (s.l7_protocol !== 'PostgreSQL') return 'protocol';
  if (typeof s.request_type !== 'string') return 'request_type';
  if (!['ok', 'client_error', 'server_error', 'timeout', 'unknown'].includes(s.response_status)) return 'status';
  if (s.end_time < s.start_time || s.duration_ns !== s.end_time - s.start_time) return 'times';
  if (s.request_resource.length > 8192) return 'resource length';
  return '';
}

describe('PostgreSQL parser fuzzing', () => {
  test('20,000 mutated conversations: never throws, sessions well formed, buffers bounded', () => {
    const rnd = prng(0x5eed_0003);
    const base = seeds();
    let sessions = 0;
    const problems: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const seed = base[i % base.length];
      const script: Script = [];
      for (const [dir, b] of seed) {
        if (rnd() < 0.08) continue;
        script.push([rnd() < 0.02 ? ((1 - dir) as Dir) : dir, rnd() < 0.25 ? mutate(b, rnd) : b]);
      }
      const out = run(script, rnd, rnd() < 0.5 ? 256 : 65536);
      for (const s of out) {
        const what = problem(s);
        if (what) problems.push(`${i}: ${what}`);
      }
      sessions += out.length;
    }
    expect(problems).toEqual([]);
    expect(sessions).toBeGreaterThan(20_000);
  });

  test('5,000 conversations of random bytes, and inference on random prefixes', () => {
    const rnd = prng(0x5eed_0004);
    const problems: string[] = [];
    const confidences = new Set<number>();
    for (let i = 0; i < 5_000; i++) {
      const script: Script = [];
      for (let k = 0; k < 1 + rnd() * 6; k++) {
        const b = randomBytes(rnd, Math.floor(rnd() * 300));
        script.push([rnd() < 0.5 ? 0 : 1, b]);
        confidences.add(inferPostgresql(b, rnd() < 0.5 ? 0 : 1));
      }
      for (const s of run(script, rnd, 1024)) {
        const what = problem(s);
        if (what) problems.push(`${i}: ${what}`);
      }
    }
    expect(problems).toEqual([]);
    expect([...confidences].every((c) => c === 0 || c === 1 || c === 2)).toBe(true);
  });
});
