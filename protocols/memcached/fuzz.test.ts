/**
 * Fuzzing the Memcached parser: 20,000 random and mutated inputs (fixed seed)
 * in random chunks, directions and flags (gaps, prefix captures). The parser
 * must never throw, never hit its internal-error safety net, and only emit
 * well-formed sessions.
 */
import { expectSound, fuzzMessages, malformedTotal, pickInsert } from '../testing/fuzz';
import { MEMCACHED_MALFORMED, spec } from './index';

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

test('20,000 random and mutated inputs never throw and give well-formed sessions', () => {
  const run = fuzzMessages({ spec, seed: 0x11211, inputs: 20_000, port: 11211, options: { maxBufferBytes: 256, maxPendingRequests: 4, requestTimeoutNs: 1000n }, corpus: CORPUS, insert: pickInsert(INSERTS), maxNoise: 120 });
  expectSound(run, MEMCACHED_MALFORMED.internal);
  // The corpus is mostly valid: a fuzz run that emits nothing tests nothing.
  expect(run.sessions).toBeGreaterThan(10000);
  expect(malformedTotal(run)).toBeGreaterThan(100);
});
