import { harness as newHarness } from '../testing/testkit';
import { type ConnectionParser, type ParserOptions } from '../types';
import { RESP_MALFORMED, spec } from './index';

const harness = (options: Partial<ParserOptions> = {}) => newHarness(spec, options);

/** A command as redis-cli sends it: an array of bulk strings. */
function cmd(...args: string[]): Buffer {
  return Buffer.from(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(''));
}

const B = (s: string) => Buffer.from(s);

/** Feeds `data` in pieces of the given sizes (cycled), one time unit per piece. */
function feedSplit(p: ConnectionParser, dir: 0 | 1, data: Buffer, sizes: number[], t0: bigint): bigint {
  let t = t0;
  let i = 0;
  let k = 0;
  while (i < data.length) {
    const n = sizes[k++ % sizes.length];
    p.feed(dir, data.subarray(i, i + n), t++, {});
    i += n;
  }
  return t;
}

describe('Redis parser', () => {
  test('pipelined requests pair with their replies in order, across arbitrary chunk boundaries', () => {
    const h = harness();
    const reqs = Buffer.concat([cmd('SET', 'user:1', 'alice', 'EX', '10'), cmd('GET', 'user:1'), cmd('INCR', 'hits'), cmd('GET', 'nope')]);
    const reps = B('+OK\r\n$5\r\nalice\r\n:42\r\n$-1\r\n');
    const t = feedSplit(h.p, 0, reqs, [1, 7, 3, 19], 100n);
    feedSplit(h.p, 1, reps, [2, 1, 5], t);
    expect(h.malformed).toEqual({});
    expect(h.sessions.map((s) => [s.request_type, s.request_resource, s.response_status, s.response_result, s.attributes['redis.status']])).toEqual([
      ['SET', 'SET user:1 ? EX 10', 'ok', 'SimpleString', 'OK'],
      ['GET', 'GET user:1', 'ok', 'BulkString', undefined],
      ['INCR', 'INCR hits', 'ok', 'Integer', undefined],
      ['GET', 'GET nope', 'ok', 'BulkString', undefined],
    ]);
    const first = h.sessions[0];
    expect(first.start_time).toBe(100n);
    expect(first.request_length).toBe(cmd('SET', 'user:1', 'alice', 'EX', '10').length);
    expect(first.response_length).toBe(5);
    expect(first.version).toBe('2');
    expect(h.sessions[3].response_length).toBe(5);
  });

  test('values are elided per command, keys kept; secrets always go', () => {
    const cases: Array<[string[], string]> = [
      [['HSET', 'h', 'f1', 'v1', 'f2', 'v2'], 'HSET h f1 ? f2 ?'],
      [['MSET', 'a', '1', 'b', '2'], 'MSET a ? b ?'],
      [['LPUSH', 'list', 'x', 'y', 'z'], 'LPUSH list ?'],
      [['ZADD', 'z', 'NX', 'CH', '1.5', 'm1', '2', 'm2'], 'ZADD z NX CH 1.5 ? 2 ?'],
      [['EVAL', 'return 1', '2', 'k1', 'k2', 'secret'], 'EVAL return 1 2 k1 k2 ?'],
      [['SETEX', 'k', '60', 'v'], 'SETEX k 60 ?'],
      [['LINSERT', 'l', 'BEFORE', 'p', 'v'], 'LINSERT l BEFORE ? ?'],
      [['PUBLISH', 'news', 'hello'], 'PUBLISH news ?'],
      [['DEL', 'a', 'b'], 'DEL a b'],
      [['AUTH', 'default', 's3cret'], 'AUTH ?'],
      [['HELLO', '3', 'AUTH', 'bob', 'pw', 'SETNAME', 'app'], 'HELLO 3 AUTH bob ? SETNAME app'],
      [['CONFIG', 'SET', 'requirepass', 'pw', 'maxmemory', '1gb'], 'CONFIG SET requirepass ? maxmemory ?'],
      [['ACL', 'SETUSER', 'bob', 'on', '>pw', '~*'], 'ACL SETUSER bob ?'],
      [['MIGRATE', 'h', '6379', 'k', '0', '5000', 'AUTH2', 'u', 'pw'], 'MIGRATE h 6379 k 0 5000 AUTH2 u ?'],
    ];
    const h = harness();
    for (const [args] of cases) h.p.feed(0, cmd(...args), 1n, {});
    h.p.close(2n);
    expect(h.sessions.map((s) => s.request_resource)).toEqual(cases.map((c) => c[1]));
    expect(h.sessions.every((s) => s.response_status === 'timeout')).toBe(true);

    // Without obfuscation values stay, secrets still go.
    const plain = harness({ obfuscateSql: false });
    plain.p.feed(0, cmd('SET', 'k', 'v'), 1n, {});
    plain.p.feed(0, cmd('AUTH', 'pw'), 1n, {});
    plain.p.feed(0, cmd('HELLO', '3', 'AUTH', 'u', 'pw'), 1n, {});
    plain.p.close(2n);
    expect(plain.sessions.map((s) => s.request_resource)).toEqual(['SET k v', 'AUTH ?', 'HELLO 3 AUTH u ?']);
  });

  test('long arguments are cut, many arguments end in ...', () => {
    const h = harness({ obfuscateSql: false });
    h.p.feed(0, cmd('GET', 'k'.repeat(100)), 1n, {});
    h.p.feed(0, cmd('DEL', ...Array.from({ length: 40 }, (_, i) => `key${i}`)), 1n, {});
    h.p.close(2n);
    expect(h.sessions[0].request_resource).toBe(`GET ${'k'.repeat(64)}...`);
    expect(h.sessions[1].request_resource).toBe(`DEL ${Array.from({ length: 24 }, (_, i) => `key${i}`).join(' ')} ...`);
  });

  test('container commands are named with their subcommand', () => {
    const h = harness();
    for (const c of [cmd('client', 'setname', 'app'), cmd('CONFIG', 'GET', 'maxmemory'), cmd('COMMAND'), cmd('CLIENT', 'bogus'), cmd('xinfo', 'stream', 's')]) h.p.feed(0, c, 1n, {});
    h.p.close(2n);
    expect(h.sessions.map((s) => s.request_type)).toEqual(['CLIENT SETNAME', 'CONFIG GET', 'COMMAND', 'CLIENT', 'XINFO STREAM']);
  });

  test('error replies are server errors with their text', () => {
    const h = harness();
    h.p.feed(0, cmd('FOO'), 1n, {});
    h.p.feed(0, cmd('LPOP', 'str'), 1n, {});
    h.p.feed(1, B("-ERR unknown command 'FOO', with args beginning with: \r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"), 2n, {});
    expect(h.sessions.map((s) => [s.request_type, s.response_status, s.response_exception, s.response_result])).toEqual([
      ['FOO', 'server_error', "ERR unknown command 'FOO', with args beginning with: ", 'SimpleError'],
      ['LPOP', 'server_error', 'WRONGTYPE Operation against a key holding the wrong kind of value', 'SimpleError'],
    ]);
  });

  test('RESP3: HELLO 3 switches the version; maps, sets, doubles, big numbers, booleans, nulls, verbatim strings, bulk errors, attributes', () => {
    const h = harness();
    const reqs = [cmd('HELLO', '3'), cmd('HGETALL', 'h'), cmd('SMEMBERS', 's'), cmd('ZSCORE', 'z', 'm'), cmd('X'), cmd('EXISTS', 'k'), cmd('GET', 'none'), cmd('LOLWUT'), cmd('BAD'), cmd('GET', 'k')];
    for (const r of reqs) h.p.feed(0, r, 1n, {});
    const hello = '%3\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n$7\r\nmodules\r\n*0\r\n';
    const replies =
      hello +
      '%1\r\n$1\r\nf\r\n$1\r\nv\r\n' +
      '~2\r\n+a\r\n+b\r\n' +
      ',3.14\r\n' +
      '(3492890328409238509324850943850943825024385\r\n' +
      '#t\r\n' +
      '_\r\n' +
      '=15\r\ntxt:Some string\r\n' +
      '!21\r\nSYNTAX invalid syntax\r\n' +
      '|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n$3\r\nval\r\n';
    feedSplit(h.p, 1, B(replies), [3], 10n);
    expect(h.malformed).toEqual({});
    expect(h.sessions.map((s) => [s.request_type, s.version, s.response_result, s.response_status])).toEqual([
      ['HELLO', '3', 'Map', 'ok'],
      ['HGETALL', '3', 'Map', 'ok'],
      ['SMEMBERS', '3', 'Set', 'ok'],
      ['ZSCORE', '3', 'Double', 'ok'],
      ['X', '3', 'BigNumber', 'ok'],
      ['EXISTS', '3', 'Boolean', 'ok'],
      ['GET', '3', 'Null', 'ok'],
      ['LOLWUT', '3', 'VerbatimString', 'ok'],
      ['BAD', '3', 'BulkError', 'server_error'],
      ['GET', '3', 'BulkString', 'ok'],
    ]);
    expect(h.sessions[8].response_exception).toBe('SYNTAX invalid syntax');
    // The attribute is part of the reply's bytes.
    expect(h.sessions[9].response_length).toBe(Buffer.byteLength('|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n$3\r\nval\r\n'));
  });

  test('RESP2 pub/sub: one session per SUBSCRIBE, messages as response-only sessions, UNSUBSCRIBE leaves subscriber mode', () => {
    const h = harness();
    h.p.feed(0, cmd('SUBSCRIBE', 'news', 'sport'), 1n, {});
    h.p.feed(1, B('*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$5\r\nsport\r\n:2\r\n'), 2n, {});
    h.p.feed(1, B('*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n'), 3n, {});
    h.p.feed(0, cmd('PSUBSCRIBE', 'n*'), 4n, {});
    h.p.feed(1, B('*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:3\r\n*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n'), 5n, {});
    h.p.feed(0, cmd('UNSUBSCRIBE'), 6n, {});
    h.p.feed(1, B('*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:2\r\n*3\r\n$11\r\nunsubscribe\r\n$5\r\nsport\r\n:1\r\n'), 7n, {});
    h.p.feed(0, cmd('PUNSUBSCRIBE'), 8n, {});
    h.p.feed(1, B('*3\r\n$12\r\npunsubscribe\r\n$2\r\nn*\r\n:0\r\n'), 9n, {});
    // Out of subscriber mode, an array that starts with "message" is data.
    h.p.feed(0, cmd('LRANGE', 'l', '0', '-1'), 10n, {});
    h.p.feed(1, B('*2\r\n$7\r\nmessage\r\n$1\r\nx\r\n'), 11n, {});
    expect(h.sessions.map((s) => [s.request_type, s.request_resource, s.captured_request_bytes > 0])).toEqual([
      ['SUBSCRIBE', 'SUBSCRIBE news sport', true],
      ['MESSAGE', 'news', false],
      ['PSUBSCRIBE', 'PSUBSCRIBE n*', true],
      ['PMESSAGE', 'news', false],
      ['UNSUBSCRIBE', 'UNSUBSCRIBE', true],
      ['PUNSUBSCRIBE', 'PUNSUBSCRIBE', true],
      ['LRANGE', 'LRANGE l 0 -1', true],
    ]);
    expect(h.sessions[1].attributes['redis.push']).toBe('true');
  });

  test('RESP3 pushes are response-only sessions even between replies', () => {
    const h = harness();
    h.p.feed(0, cmd('GET', 'a'), 1n, {});
    h.p.feed(1, B('>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\na\r\n$1\r\n1\r\n'), 2n, {});
    expect(h.sessions.map((s) => [s.request_type, s.request_resource, s.response_result, s.version])).toEqual([
      ['MESSAGE', 'ch', 'Push', '3'],
      ['INVALIDATE', '', 'Push', '3'],
      ['GET', 'GET a', 'BulkString', '3'],
    ]);
  });

  test('inline commands', () => {
    const h = harness();
    h.p.feed(0, B('PING\r\n\r\nset  k "hello world"\r\n'), 1n, {});
    h.p.feed(1, B('+PONG\r\n+OK\r\n'), 2n, {});
    expect(h.sessions.map((s) => [s.request_type, s.request_resource])).toEqual([
      ['PING', 'PING'],
      ['SET', 'set k ?'],
    ]);
  });

  test('a 1 MB reply streams through a 4 KB buffer limit', () => {
    const h = harness({ maxBufferBytes: 4096 });
    h.p.feed(0, cmd('GET', 'big'), 1n, {});
    const reply = Buffer.concat([B('$1048576\r\n'), Buffer.alloc(1048576, 0x61), B('\r\n')]);
    feedSplit(h.p, 1, reply, [1460], 2n);
    h.p.feed(0, cmd('PING'), 5000n, {});
    h.p.feed(1, B('+PONG\r\n'), 5001n, {});
    expect(h.malformed).toEqual({});
    expect(h.sessions.map((s) => [s.request_type, s.response_length, s.truncated])).toEqual([
      ['GET', reply.length, false],
      ['PING', 7, false],
    ]);
    expect(h.sessions[0].end_time).toBe(2n + BigInt(Math.ceil(reply.length / 1460)) - 1n);
  });

  test('a request seen only in part (eBPF prefix) is truncated and still gets its reply', () => {
    const h = harness();
    const full = cmd('SET', 'k', 'v'.repeat(10000));
    h.p.feed(0, full.subarray(0, 100), 1n, { messageLength: full.length });
    h.p.feed(0, cmd('GET', 'k'), 2n, {});
    h.p.feed(1, B('+OK\r\n$1\r\nv\r\n'), 3n, {});
    expect(h.sessions.map((s) => [s.request_type, s.request_resource, s.truncated, s.captured_request_bytes])).toEqual([
      ['SET', 'SET k ?', true, 100],
      ['GET', 'GET k', false, cmd('GET', 'k').length],
    ]);
  });

  test('a gap on the reply side reports the awaited replies as unknown', () => {
    const h = harness();
    h.p.feed(0, Buffer.concat([cmd('GET', 'a'), cmd('GET', 'b'), cmd('GET', 'c')]), 1n, {});
    h.p.feed(1, B('$1\r\n1\r\n$100\r\nxx'), 2n, {});
    h.p.feed(1, B('+OK\r\n'), 3n, { gap: true });
    expect(h.sessions.map((s) => [s.request_resource, s.response_status, s.truncated])).toEqual([
      ['GET a', 'ok', false],
      ['GET b', 'ok', true],
      ['GET c', 'unknown', true],
      ['', 'ok', false],
    ]);
  });

  test('timeouts, overflow and replies without requests', () => {
    const h = harness({ requestTimeoutNs: 100n, maxPendingRequests: 2 });
    h.p.feed(1, B('+OK\r\n'), 1n, {});
    h.p.feed(0, cmd('GET', 'a'), 10n, {});
    h.p.feed(0, cmd('GET', 'b'), 20n, {});
    h.p.feed(0, cmd('GET', 'c'), 30n, {});
    h.p.expire(119n);
    h.p.expire(120n);
    h.p.close(200n);
    expect(h.sessions.map((s) => [s.request_resource, s.response_status])).toEqual([
      ['', 'ok'],
      ['GET a', 'timeout'],
      ['GET b', 'timeout'],
      ['GET c', 'timeout'],
    ]);
  });

  test('malformed bytes are counted and the parser resynchronises on the next command', () => {
    const h = harness();
    h.p.feed(0, B('*2\r\n$3\r\nGETxx\r\n'), 1n, {});
    h.p.feed(0, Buffer.concat([B('garbage\r\n'), cmd('GET', 'ok')]), 2n, {});
    h.p.feed(1, B('$1\r\n1\r\n'), 3n, {});
    expect(h.malformed[RESP_MALFORMED.crlf]).toBe(1);
    expect(h.sessions.map((s) => s.request_resource)).toEqual(['GET ok']);
  });
});

describe('Redis inference', () => {
  test('a RESP command is certain, an unknown one plausible, inline plausible, HTTP not', () => {
    expect(spec.infer(cmd('GET', 'k'), 0, 6379)).toBe(2);
    expect(spec.infer(cmd('FROBNICATE', 'k'), 0, 6379)).toBe(1);
    expect(spec.infer(B('PING\r\n'), 0, 6379)).toBe(1);
    expect(spec.infer(B('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), 0, 80)).toBe(0);
    expect(spec.infer(B('hi there\r\n'), 0, 6379)).toBe(0);
  });
  test('replies are plausible when their line is well formed', () => {
    expect(spec.infer(B('+OK\r\n'), 1, 6379)).toBe(1);
    expect(spec.infer(B('$5\r\nhello\r\n'), 1, 6379)).toBe(1);
    expect(spec.infer(B('-ERR x\r\n'), 1, 6379)).toBe(1);
    expect(spec.infer(B('HTTP/1.1 200 OK\r\n'), 1, 6379)).toBe(0);
  });
});
