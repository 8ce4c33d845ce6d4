/**
 * Bad input for every Prometheus decoder: random bytes, every truncation and
 * single-byte corruptions of valid messages, and random snappy blocks. Each
 * either decodes or throws its typed error (PromDecodeError, SnappyError,
 * SnappyTooLargeError) — never another exception, never a hang — and a
 * decoder still decodes a valid message correctly after all of it (no state
 * left behind by a failed decode).
 */
import {
  decodeReadRequest,
  decodeReadResponse,
  decodeWriteRequestObjects,
  decodeWriteRequestV1,
  decodeWriteRequestV2,
  encodeReadRequest,
  encodeReadResponse,
  encodeWriteRequestV1,
  encodeWriteRequestV2,
  MatchType,
  PromDecodeError,
  type TimeSeries,
  type WriteRequestVisitor,
} from './prompb';
import { SnappyError, SnappyTooLargeError, snappyCompress, snappyUncompressSync } from './snappy';

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
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

function randomBytes(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

/** Counts what a write-request decode reports. */
function counter(): WriteRequestVisitor & { series: number; samples: number; labels: number } {
  return {
    series: 0,
    samples: 0,
    labels: 0,
    metadata() {},
    label() {
      this.labels++;
    },
    sample() {
      this.samples++;
    },
    histogram() {},
    exemplar() {},
    seriesMetadata() {},
    createdTimestamp() {},
    endSeries() {
      this.series++;
    },
  };
}

const series: TimeSeries[] = [
  {
    labels: [
      { name: '__name__', value: 'http_requests_total' },
      { name: 'job', value: 'api' },
      { name: 'path', value: '/users/{id}' },
    ],
    samples: [
      { value: 10, timestamp: 1700000000000 },
      { value: 12.5, timestamp: 1700000015000 },
    ],
    exemplars: [{ labels: [{ name: 'trace_id', value: '4bf92f3577b34da6a3ce929d0e0e4736' }], value: 1, timestamp: 1700000014000 }],
    metadata: { type: 1, help: 'Requests.', unit: '' },
  },
  {
    labels: [
      { name: '__name__', value: 'rpc_duration_seconds' },
      { name: 'job', value: 'api' },
    ],
    samples: [],
    histograms: [
      {
        isFloat: false,
        count: 9,
        sum: 12.5,
        schema: 0,
        zeroThreshold: 1e-128,
        zeroCount: 1,
        negativeSpans: [],
        negativeDeltas: [],
        negativeCounts: [],
        positiveSpans: [{ offset: 1, length: 2 }],
        positiveDeltas: [2, 1],
        positiveCounts: [],
        resetHint: 0,
        timestamp: 1700000000000,
        customValues: [],
      },
    ],
    metadata: { type: 3, help: '', unit: 'seconds' },
  },
];

const v1 = encodeWriteRequestV1({ timeseries: series.map((s) => ({ labels: s.labels, samples: s.samples })), metadata: [{ type: 1, metricFamilyName: 'http_requests_total', help: 'Requests.', unit: '' }] });
const v2 = encodeWriteRequestV2(series);
const readReq = encodeReadRequest({
  queries: [
    {
      startMs: 1700000000000,
      endMs: 1700000300000,
      matchers: [
        { type: MatchType.EQ, name: '__name__', value: 'http_requests_total' },
        { type: MatchType.RE, name: 'path', value: '/users/.*' },
      ],
      hints: { stepMs: 15000, func: 'rate', startMs: 1700000000000, endMs: 1700000300000, rangeMs: 300000 },
    },
  ],
  acceptedResponseTypes: [0],
});
const readResp = encodeReadResponse([series.map((s) => ({ labels: s.labels, samples: s.samples }))]);

type Decoder = (b: Buffer) => unknown;
const decoders: Array<[string, Decoder, Buffer]> = [
  ['remote-write 1.0 (visitor)', (b) => decodeWriteRequestV1(b, counter()), v1],
  ['remote-write 1.0 (objects)', (b) => decodeWriteRequestObjects(b), v1],
  ['remote-write 2.0', (b) => decodeWriteRequestV2(b, counter()), v2],
  ['remote-read request', (b) => decodeReadRequest(b), readReq],
  ['remote-read response', (b) => decodeReadResponse(b), readResp],
];

/** Runs a decode; returns 'ok' or 'refused', and fails the test on any other exception. */
function attempt(decode: Decoder, b: Buffer): 'ok' | 'refused' {
  try {
    decode(b);
    return 'ok';
  } catch (err) {
    if (err instanceof PromDecodeError) return 'refused';
    throw new Error(`not a PromDecodeError for input ${b.toString('hex').slice(0, 200)}: ${(err as Error)?.stack ?? err}`);
  }
}

describe.each(decoders)('%s decoder', (_name, decode, valid) => {
  it('refuses or decodes random bytes, and throws nothing but PromDecodeError', () => {
    const rand = prng(0x5eed);
    let refused = 0;
    for (let i = 0; i < 3000; i++) if (attempt(decode, randomBytes(rand, 1 + Math.floor(rand() * 300))) === 'refused') refused++;
    // Random bytes are almost never a valid message: most must be refused.
    expect(refused).toBeGreaterThan(1500);
  });

  it('refuses every truncation that cuts a field, and throws nothing but PromDecodeError', () => {
    let refused = 0;
    for (let n = 0; n < valid.length; n++) if (attempt(decode, valid.subarray(0, n)) === 'refused') refused++;
    // Cuts that end exactly between top-level fields are valid shorter messages; the rest are not.
    expect(refused).toBeGreaterThan(valid.length / 2);
  });

  it('survives every single-byte corruption', () => {
    const rand = prng(0xc0ffee);
    for (let i = 0; i < valid.length; i++) {
      for (const x of [0x00, 0xff, 0x80, Math.floor(rand() * 256)]) {
        const b = Buffer.from(valid);
        b[i] = x;
        attempt(decode, b);
      }
    }
  });
});

describe('decoders after bad input', () => {
  it('still decode valid messages exactly', () => {
    const c = counter();
    decodeWriteRequestV1(v1, c);
    expect([c.series, c.samples, c.labels]).toEqual([2, 2, 5]);
    const c2 = counter();
    decodeWriteRequestV2(v2, c2);
    expect([c2.series, c2.samples, c2.labels]).toEqual([2, 2, 5]);
    expect(decodeReadRequest(readReq).queries[0].matchers.map((m) => m.value)).toEqual(['http_requests_total', '/users/.*']);
    expect(decodeReadResponse(readResp)[0].map((s) => s.samples.length)).toEqual([2, 0]);
  });
});

describe('snappy block decoder', () => {
  const LIMIT = 1 << 20;
  const attemptSnappy = (b: Buffer): 'ok' | 'refused' => {
    try {
      snappyUncompressSync(b, LIMIT);
      return 'ok';
    } catch (err) {
      if (err instanceof SnappyError || err instanceof SnappyTooLargeError) return 'refused';
      throw new Error(`not a snappy error for ${b.toString('hex').slice(0, 200)}: ${(err as Error)?.stack ?? err}`);
    }
  };

  it('refuses random bytes, truncations and corruptions with SnappyError or SnappyTooLargeError only', () => {
    const rand = prng(42);
    let refused = 0;
    for (let i = 0; i < 3000; i++) if (attemptSnappy(randomBytes(rand, 1 + Math.floor(rand() * 200))) === 'refused') refused++;
    expect(refused).toBeGreaterThan(2500);
    const block = snappyCompress(Buffer.concat([v1, v1, v2]));
    for (let n = 0; n < block.length; n++) expect(attemptSnappy(block.subarray(0, n))).toBe('refused');
    for (let i = 0; i < block.length; i++) {
      const b = Buffer.from(block);
      b[i] ^= 0xa5;
      attemptSnappy(b);
    }
    expect(snappyUncompressSync(block, LIMIT)).toEqual(Buffer.concat([v1, v1, v2]));
  });

  it('refuses a block that claims more than the limit before inflating it', () => {
    // A preamble claiming 4 GiB - 1, then nothing.
    expect(() => snappyUncompressSync(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), LIMIT)).toThrow(SnappyTooLargeError);
    expect(() => snappyUncompressSync(Buffer.alloc(0), LIMIT)).toThrow(SnappyError);
  });
});
