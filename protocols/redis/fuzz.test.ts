/**
 * Fuzzing the Redis parser: 20,000 random and mutated inputs (fixed seed)
 * in random chunks, directions and flags (gaps, prefix captures). The parser
 * must never throw, never hit its internal-error safety net, and only emit
 * well-formed sessions.
 */
import { expectSound, fuzzMessages, malformedTotal, pickInsert } from '../testing/fuzz';
import { REDIS_MALFORMED, spec } from './index';

const B = (s: string) => Buffer.from(s);
const cmd = (...a: string[]) => B(`*${a.length}\r\n` + a.map((x) => `$${Buffer.byteLength(x)}\r\n${x}\r\n`).join(''));
/** Requests and replies of RESP2 and RESP3, pipelined and alone. */
const CORPUS: [Uint8Array[], Uint8Array[]] = [
  [
    cmd('SET', 'k', 'v', 'EX', '10'),
    cmd('GET', 'k'),
    Buffer.concat([cmd('HSET', 'h', 'f', 'v'), cmd('SUBSCRIBE', 'a', 'b'), cmd('HELLO', '3', 'AUTH', 'u', 'p')]),
    cmd('CLIENT', 'SETNAME', 'x'),
    B('PING\r\nset a "b c"\r\n'),
    cmd('EVAL', 'return 1', '1', 'k', 'arg'),
  ],
  [
    B('+OK\r\n$1\r\nv\r\n:1\r\n'),
    B('-ERR unknown command\r\n'),
    B('*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n'),
    B('%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n'),
    B('|1\r\n+a\r\n,1.5\r\n~2\r\n_\r\n#t\r\n(123\r\n=7\r\ntxt:abc\r\n!3\r\nERR\r\n'),
    B('>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n*-1\r\n$-1\r\n'),
  ],
];
const INSERTS = [[13, 10], [0x2a, 0x39, 0x39], [0x24, 0x2d, 0x31], [0x7c, 0x31], [0x3e]];

test('20,000 random and mutated inputs never throw and give well-formed sessions', () => {
  const run = fuzzMessages({ spec, seed: 0x7ed15, inputs: 20_000, port: 6379, options: { maxBufferBytes: 256, maxPendingRequests: 4, requestTimeoutNs: 1000n }, corpus: CORPUS, insert: pickInsert(INSERTS), maxNoise: 120 });
  expectSound(run, REDIS_MALFORMED.internal);
  // The corpus is mostly valid: a fuzz run that emits nothing tests nothing.
  expect(run.sessions).toBeGreaterThan(10000);
  expect(malformedTotal(run)).toBeGreaterThan(100);
});
