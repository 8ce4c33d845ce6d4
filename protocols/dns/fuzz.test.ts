/**
 * Fuzzing the DNS parser: 20,000 random and mutated inputs (fixed seed) in
 * random chunks, directions and flags. The parser must never throw, never
 * hit its internal-error safety net, and only emit well-formed sessions.
 */
import { expectSound, fuzzMessages } from '../testing/fuzz';
import { DNS_MALFORMED, spec } from './index';

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

test('20,000 random and mutated inputs never throw and give well-formed sessions', () => {
  // The mutator inserts compression pointers to random offsets.
  const run = fuzzMessages({ spec, seed: 0xd115, inputs: 20_000, port: 53, options: { maxBufferBytes: 512, maxPendingRequests: 4, requestTimeoutNs: 1000n }, corpus: CORPUS, insert: (rand) => Buffer.from([0xc0, Math.floor(rand() * 256)]), maxNoise: 80, datagramsOrPrefixedStream: true });
  expectSound(run, DNS_MALFORMED.internal);
  // The corpus is mostly valid: a fuzz run that emits nothing tests nothing.
  expect(run.sessions).toBeGreaterThan(10_000);
  expect(run.malformed[DNS_MALFORMED.message]).toBeGreaterThan(100);
});
