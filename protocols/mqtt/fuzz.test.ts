/**
 * Fuzzing the MQTT parser: 20,000 random and mutated inputs (fixed seed)
 * in random chunks, directions and flags (gaps, prefix captures). The parser
 * must never throw, never hit its internal-error safety net, and only emit
 * well-formed sessions.
 */
import { expectSound, fuzzMessages, malformedTotal, pickInsert } from '../testing/fuzz';
import { MQTT_MALFORMED, spec } from './index';

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

test('20,000 random and mutated inputs never throw and give well-formed sessions', () => {
  const run = fuzzMessages({ spec, seed: 0x1883, inputs: 20_000, port: 1883, options: { maxBufferBytes: 256, maxPendingRequests: 4, requestTimeoutNs: 1000n }, corpus: CORPUS, insert: pickInsert(INSERTS), maxNoise: 120 });
  expectSound(run, MQTT_MALFORMED.internal);
  // The corpus is mostly valid: a fuzz run that emits nothing tests nothing.
  expect(run.sessions).toBeGreaterThan(10000);
  expect(malformedTotal(run)).toBeGreaterThan(100);
});
