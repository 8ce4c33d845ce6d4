/**
 * Fuzzing the NATS parser: 20,000 random and mutated inputs (fixed seed)
 * in random chunks, directions and flags (gaps, prefix captures). The parser
 * must never throw, never hit its internal-error safety net, and only emit
 * well-formed sessions.
 */
import { expectSound, fuzzMessages, malformedTotal, pickInsert } from '../testing/fuzz';
import { NATS_MALFORMED, spec } from './index';

const B = (s: string) => Buffer.from(s);
const HDR = 'NATS/1.0\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n';
/** Client and server operations, with payloads and header blocks. */
const CORPUS: [Uint8Array[], Uint8Array[]] = [
  [
    B('CONNECT {"verbose":true,"pass":"x","name":"n"}\r\nPING\r\n'),
    B('SUB foo.* q 1\r\nPUB foo.bar _INBOX.1 5\r\nhello\r\nUNSUB 1 3\r\n'),
    B(`HPUB foo ${HDR.length} ${HDR.length + 2}\r\n${HDR}ok\r\n`),
    B('PONG\r\nPUB a 0\r\n\r\n'),
  ],
  [
    B('INFO {"server_id":"X","server_name":"s","version":"2.10.7"}\r\n+OK\r\nPONG\r\n'),
    B('MSG foo.bar 1 _INBOX.1 5\r\nhello\r\nPING\r\n'),
    B(`HMSG foo 1 ${HDR.length} ${HDR.length + 2}\r\n${HDR}ok\r\nHMSG _INBOX.x 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n`),
    B("-ERR 'Unknown Protocol Operation'\r\n"),
  ],
];
const INSERTS = [[13, 10], [0x20], [0x39, 0x39, 0x39], [0x7b]];

test('20,000 random and mutated inputs never throw and give well-formed sessions', () => {
  const run = fuzzMessages({ spec, seed: 0x4222, inputs: 20_000, port: 4222, options: { maxBufferBytes: 256, maxPendingRequests: 4, requestTimeoutNs: 1000n }, corpus: CORPUS, insert: pickInsert(INSERTS), maxNoise: 120 });
  expectSound(run, NATS_MALFORMED.internal);
  // The corpus is mostly valid: a fuzz run that emits nothing tests nothing.
  expect(run.sessions).toBeGreaterThan(10000);
  expect(malformedTotal(run)).toBeGreaterThan(100);
});
