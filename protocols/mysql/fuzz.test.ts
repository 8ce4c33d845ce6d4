/**
 * Fuzzing the MySQL parser: 20,000+ random and mutated conversations with a
 * fixed seed. The parser must never throw, every session must be well formed,
 * and buffers must stay within maxBufferBytes.
 */
import type { Dir, FeedFlags, L7Session } from '../types';
import { DEFAULT_PARSER_OPTIONS } from '../types';
import { CLIENT_COMPRESS, CLIENT_DEPRECATE_EOF, COM_INIT_DB, COM_PING, COM_QUERY, COM_QUIT, COM_STMT_CLOSE, COM_STMT_EXECUTE, COM_STMT_PREPARE } from './constants';
import { inferMysql, mysqlSpec } from './index';
import { BASE_CAPS, command, eof, err, frame, greeting, handshakeResponse, lenencInt, ok, packet, prepareOk, resultSet, u32le, utf8 } from './testing';

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

/** Valid conversations to mutate. */
function seeds(): Script[] {
  const login = (caps: number): Script => [
    [1, packet(0, greeting('8.0.36', caps))],
    [0, packet(1, handshakeResponse(caps, 'app', utf8('auth'), 'shop'))],
    [1, packet(2, ok())],
  ];
  const exec = Buffer.concat([u32le(5), Buffer.from([0]), u32le(1), Buffer.from([0, 1, 0xfe, 0]), lenencInt(3), utf8('abc')]);
  return [
    [
      ...login(BASE_CAPS),
      [0, command(COM_QUERY, "SELECT a, b FROM t WHERE c = 'x' IN (1,2)")],
      [1, resultSet(['a', 'b'], [['1', '2'], ['3', '4']])],
      [0, command(COM_STMT_PREPARE, 'SELECT * FROM t WHERE id = ?')],
      [1, prepareOk(5, 1, 2)],
      [0, command(COM_STMT_EXECUTE, exec)],
      [1, Buffer.concat([packet(1, lenencInt(1)), packet(2, eof()), packet(3, Buffer.from([0, 0, 1, 0x31])), packet(4, eof())])],
      [0, command(COM_STMT_CLOSE, u32le(5))],
      [0, command(COM_INIT_DB, 'other')],
      [1, packet(1, err(1049, '42000', "Unknown database 'other'"))],
      [0, command(COM_QUIT)],
    ],
    [
      ...login(BASE_CAPS | CLIENT_DEPRECATE_EOF),
      [0, command(COM_QUERY, 'SELECT 1')],
      [1, resultSet(['1'], [['1']], true)],
      [0, command(COM_PING)],
      [1, packet(1, ok())],
    ],
    [
      ...login(BASE_CAPS | CLIENT_COMPRESS),
      [0, frame(0, command(COM_QUERY, 'SELECT name FROM users'), true)],
      [1, frame(1, resultSet(['name'], [['alice'], ['bob']]))],
      [0, frame(0, command(COM_QUERY, 'UPDATE t SET a = 1 WHERE b IN (' + '1,'.repeat(50) + '2)'))],
      [1, frame(1, packet(1, ok(3)), true)],
    ],
  ];
}

function mutate(b: Buffer, rnd: () => number): Buffer {
  const out = Buffer.from(b);
  const kind = Math.floor(rnd() * 5);
  if (out.length === 0) return out;
  if (kind === 0) {
    for (let k = 0; k < 1 + rnd() * 4; k++) out[Math.floor(rnd() * out.length)] ^= 1 << Math.floor(rnd() * 8);
    return out;
  }
  if (kind === 1) return out.subarray(0, Math.floor(rnd() * out.length));
  if (kind === 2) {
    const at = Math.floor(rnd() * out.length);
    const junk = randomBytes(rnd, 1 + Math.floor(rnd() * 8));
    return Buffer.concat([out.subarray(0, at), junk, out.subarray(at)]);
  }
  if (kind === 3) {
    // Interesting values where lengths and markers live.
    const at = Math.floor(rnd() * Math.min(out.length, 12));
    out[at] = [0x00, 0xff, 0xfe, 0xfb, 0xfc, 0xfd, 0x01, 0x7f][Math.floor(rnd() * 8)];
    return out;
  }
  return out;
}

function run(script: Script, rnd: () => number, maxBufferBytes: number): L7Session[] {
  const sessions: L7Session[] = [];
  const ctx = { options: { ...DEFAULT_PARSER_OPTIONS, maxBufferBytes, requestTimeoutNs: 1000n }, emit: (s: L7Session) => sessions.push(s), malformed: () => undefined };
  const p = mysqlSpec.create(ctx);
  let t = 0n;
  for (const [dir, bytes] of script) {
    // Random chunking and flags.
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
  const dirs = (p as unknown as { dirs: Array<{ body: Uint8Array; cBuf: Uint8Array }> }).dirs;
  for (const d of dirs) {
    if (d.body.length > Math.max(maxBufferBytes, 256) * 2 || d.cBuf.length > Math.max(maxBufferBytes, 256) * 2) throw new Error(`buffer over bound: ${d.body.length} ${d.cBuf.length}`);
  }
  return sessions;
}

/** What is wrong with a session, or '' (plain checks: expect() per session would dominate the run time). */
function problem(s: L7Session): string {
  if (s.l7_protocol !== 'MySQL') return 'protocol';
  if (typeof s.request_type !== 'string') return 'request_type';
  if (!['ok', 'client_error', 'server_error', 'timeout', 'unknown'].includes(s.response_status)) return 'status';
  if (s.end_time < s.start_time || s.duration_ns !== s.end_time - s.start_time) return 'times';
  if (s.request_resource.length > 8192) return 'resource length';
  return '';
}

describe('MySQL parser fuzzing', () => {
  test('20,000 mutated conversations: never throws, sessions well formed, buffers bounded', () => {
    const rnd = prng(0x5eed_0001);
    const base = seeds();
    let sessions = 0;
    const problems: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const seed = base[i % base.length];
      const script: Script = [];
      for (const [dir, b] of seed) {
        if (rnd() < 0.08) continue; // drop a message
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
    // The unmutated majority still parses: far more sessions than conversations.
    expect(sessions).toBeGreaterThan(20_000);
  });

  test('5,000 conversations of random bytes, and inference on random prefixes', () => {
    const rnd = prng(0x5eed_0002);
    const problems: string[] = [];
    const confidences = new Set<number>();
    for (let i = 0; i < 5_000; i++) {
      const script: Script = [];
      for (let k = 0; k < 1 + rnd() * 6; k++) {
        const b = randomBytes(rnd, Math.floor(rnd() * 300));
        script.push([rnd() < 0.5 ? 0 : 1, b]);
        confidences.add(inferMysql(b, rnd() < 0.5 ? 0 : 1));
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
