/**
 * Malformed input: every failure is an OtlpDecodeError with a message that
 * says what failed and where; nothing else is ever thrown, nothing hangs,
 * nothing recurses without bound.
 */

import {
  decodeLogsRequest,
  decodeLogsRequestJson,
  decodeMetricsRequest,
  decodeMetricsRequestJson,
  decodeTracesRequest,
  decodeTracesRequestJson,
  decodeTracesResponse,
  encodeLogsRequest,
  encodeLogsRequestJson,
  encodeMetricsRequest,
  encodeMetricsRequestJson,
  encodeTracesRequest,
  encodeTracesRequestJson,
  OtlpDecodeError,
} from './index';
import { richLogs, richMetrics, richTraces } from './testdata/fixtures';

type Decoder = (b: Uint8Array) => unknown;

const DECODERS: [string, Decoder, Buffer][] = [
  ['traces', decodeTracesRequest, encodeTracesRequest(richTraces())],
  ['metrics', decodeMetricsRequest, encodeMetricsRequest(richMetrics())],
  ['logs', decodeLogsRequest, encodeLogsRequest(richLogs())],
];

/** Runs a decoder; returns 'ok', or the OtlpDecodeError message; rethrows anything else. */
function attempt(decode: Decoder, bytes: Uint8Array): string {
  try {
    decode(bytes);
    return 'ok';
  } catch (err) {
    if (!(err instanceof OtlpDecodeError)) throw err;
    expect(err.code).toBe('OTLP_DECODE');
    // The decoders convert stray errors to OtlpDecodeError as a safety net;
    // it must never be needed.
    if (err.message.startsWith('internal decoder error')) throw new Error(`decoder bug: ${err.message}`);
    return err.message;
  }
}

/** The OtlpDecodeError message for `bytes`; fails the test when the input decodes. */
function errorOf(decode: Decoder, bytes: number[] | Uint8Array): string {
  const msg = attempt(decode, Uint8Array.from(bytes));
  if (msg === 'ok') throw new Error('expected a decode error, input was accepted');
  return msg;
}

/** Bytes of a varint. */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** A length-delimited field. */
function ld(field: number, body: number[]): number[] {
  return [...varint((field << 3) | 2), ...varint(body.length), ...body];
}

/** ExportTraceServiceRequest with one span whose fields are `span`. */
function traceWithSpan(span: number[]): number[] {
  return ld(1, ld(2, ld(2, span)));
}

function logWithRecord(rec: number[]): number[] {
  return ld(1, ld(2, ld(2, rec)));
}

/** A gauge metric with one data point whose fields are `point`. */
function metricWithPoint(point: number[]): number[] {
  return ld(1, ld(2, ld(2, ld(5, ld(1, point)))));
}

/** Deterministic PRNG (mulberry32). */
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

describe('truncation', () => {
  test.each(DECODERS)('%s: every prefix decodes or fails with OtlpDecodeError', (_name, decode, full) => {
    expect(attempt(decode, full)).toBe('ok');
    let errors = 0;
    for (let len = 0; len < full.length; len++) {
      // A copy, so that reads past the cut would see nothing rather than the rest.
      const msg = attempt(decode, Uint8Array.from(full.subarray(0, len)));
      if (msg !== 'ok') {
        errors++;
        expect(msg).toMatch(/ at offset \d+ while reading [A-Za-z]/);
      }
    }
    // Only cuts on a top-level field boundary can be valid, and there are few.
    expect(errors).toBeGreaterThan(full.length * 0.95);
  });

  test('the message of a cut inside a span names the field and the offset', () => {
    const full = traceWithSpan([...ld(5, [0x61, 0x62, 0x63]), 0x39, 1, 2, 3, 4, 5, 6, 7, 8]);
    const cut = Uint8Array.from(full.slice(0, full.length - 3));
    // The cut also shortens the enclosing messages' content, so the outermost
    // length is what fails first.
    expect(errorOf(decodeTracesRequest, cut)).toBe(
      `truncated message: length ${full.length - 2} runs past the end of the input (${full.length - 5} byte(s) left) at offset 1 while reading ExportTraceServiceRequest.resource_spans`,
    );
  });
});

describe('specific malformations', () => {
  test('a fixed64 running past its message end', () => {
    // span { start_time_unix_nano: fixed64 } with the span length one byte short.
    const span = [0x39, 1, 2, 3, 4, 5, 6, 7, 8];
    const bytes = ld(1, ld(2, [0x12, span.length - 1, ...span]));
    expect(errorOf(decodeTracesRequest, bytes)).toMatch(/field runs 1 byte\(s\) past the end of the enclosing message at offset \d+ while reading Span/);
  });

  test('a truncated fixed64 at the end of the input', () => {
    // resource_spans { <unknown field 7, fixed64> } with only 2 of its 8 bytes.
    expect(errorOf(decodeTracesRequest, [0x0a, 0x03, 0x39, 1, 2])).toBe('truncated message at offset 3 while reading ResourceSpans');
    expect(errorOf(decodeLogsRequest, logWithRecord([0x09, 1, 2, 3]))).toMatch(/truncated message at offset \d+ while reading LogRecord.time_unix_nano/);
  });

  test('a known field with the wrong wire type', () => {
    expect(errorOf(decodeTracesRequest, traceWithSpan([0x28, 0x01]))).toBe('wrong wire type 0 for field 5 at offset 6 while reading Span.name');
    expect(errorOf(decodeTracesRequest, traceWithSpan([0x32, 0x00]))).toMatch(/wrong wire type 2 for field 6 .* Span\.kind/);
    expect(errorOf(decodeTracesRequest, [0x08, 0x01])).toMatch(/wrong wire type 0 for field 1 .* ExportTraceServiceRequest\.resource_spans/);
    expect(errorOf(decodeLogsRequest, logWithRecord([0x61, 0, 0, 0, 0, 0, 0, 0, 0]))).toMatch(/LogRecord\.event_name/);
  });

  test('group wire types and invalid wire types 6 and 7 are refused', () => {
    expect(errorOf(decodeTracesRequest, traceWithSpan([0xfb, 0x06]))).toMatch(/unsupported group wire type .* Span/); // field 111, start group
    expect(errorOf(decodeTracesRequest, traceWithSpan([0xfc, 0x06]))).toMatch(/unsupported group wire type/); // end group
    expect(errorOf(decodeTracesRequest, traceWithSpan([0xfe, 0x06]))).toMatch(/invalid wire type 6/);
    expect(errorOf(decodeTracesRequest, traceWithSpan([0xff, 0x06]))).toMatch(/invalid wire type 7/);
  });

  test('field number 0 is refused', () => {
    expect(errorOf(decodeTracesRequest, [0x02, 0x00])).toMatch(/invalid field number 0/);
  });

  test('a varint longer than 10 bytes is refused', () => {
    const long = [0x30, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    expect(errorOf(decodeTracesRequest, traceWithSpan(long))).toMatch(/varint longer than 10 bytes .* Span\.kind/);
    const longInt = ld(9, [...ld(1, [0x61]), ...ld(2, [0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00])]);
    expect(errorOf(decodeTracesRequest, traceWithSpan(longInt))).toMatch(/varint longer than 10 bytes .* Span\.attributes/);
    // A 10-byte varint is fine (negative int64).
    const ok = ld(9, [...ld(1, [0x61]), ...ld(2, [0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])]);
    expect(attempt(decodeTracesRequest, Uint8Array.from(traceWithSpan(ok)))).toBe('ok');
  });

  test('a length past the end of the input or of the enclosing message is refused without allocating it', () => {
    expect(errorOf(decodeTracesRequest, [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])).toBe(
      'truncated message: length 4294967295 runs past the end of the input (0 byte(s) left) at offset 1 while reading ExportTraceServiceRequest.resource_spans',
    );
    expect(errorOf(decodeTracesRequest, traceWithSpan([0x2a, 0x05, 0x61]))).toMatch(/length 5 runs past the end .* Span\.name/);
  });

  test('packed fixed64 and double arrays must be a whole number of values', () => {
    const hist = ld(1, ld(2, ld(2, ld(9, ld(1, ld(6, [1, 2, 3]))))));
    expect(errorOf(decodeMetricsRequest, hist)).toMatch(/packed fixed64 length 3 is not a multiple of 8 .* HistogramDataPoint\.bucket_counts/);
  });

  test('responses: malformed partial_success is refused', () => {
    expect(errorOf(decodeTracesResponse, [0x0a, 0x02, 0x08])).toMatch(/length 2 runs past the end/);
    expect(errorOf(decodeTracesResponse, [0x0a, 0x01, 0x12])).toMatch(/truncated message|runs past/);
  });
});

describe('ids of the wrong length', () => {
  test.each([
    ['Span.trace_id', traceWithSpan(ld(1, new Array(15).fill(1))), decodeTracesRequest, 'invalid id length 15 (expected 0 or 16 bytes)'],
    ['Span.trace_id', traceWithSpan(ld(1, new Array(17).fill(1))), decodeTracesRequest, 'invalid id length 17 (expected 0 or 16 bytes)'],
    ['Span.span_id', traceWithSpan(ld(2, new Array(16).fill(1))), decodeTracesRequest, 'invalid id length 16 (expected 0 or 8 bytes)'],
    ['Span.parent_span_id', traceWithSpan(ld(4, [1, 2, 3])), decodeTracesRequest, 'invalid id length 3 (expected 0 or 8 bytes)'],
    ['Span.Link.trace_id', traceWithSpan(ld(13, ld(1, [1]))), decodeTracesRequest, 'invalid id length 1 (expected 0 or 16 bytes)'],
    ['Span.Link.span_id', traceWithSpan(ld(13, ld(2, new Array(9).fill(7)))), decodeTracesRequest, 'invalid id length 9 (expected 0 or 8 bytes)'],
    ['LogRecord.trace_id', logWithRecord(ld(9, new Array(8).fill(1))), decodeLogsRequest, 'invalid id length 8 (expected 0 or 16 bytes)'],
    ['LogRecord.span_id', logWithRecord(ld(10, new Array(4).fill(1))), decodeLogsRequest, 'invalid id length 4 (expected 0 or 8 bytes)'],
    ['Exemplar.span_id', metricWithPoint(ld(5, ld(4, [1]))), decodeMetricsRequest, 'invalid id length 1 (expected 0 or 8 bytes)'],
    ['Exemplar.trace_id', metricWithPoint(ld(5, ld(5, new Array(32).fill(0x61)))), decodeMetricsRequest, 'invalid id length 32 (expected 0 or 16 bytes)'],
  ])('%s', (field, bytes, decode, reason) => {
    const msg = errorOf(decode as Decoder, bytes as number[]);
    expect(msg).toMatch(new RegExp(`^${reason.replace(/[()]/g, '\\$&')} at offset \\d+ while reading ${field.replace(/\./g, '\\.')}$`));
  });
});

describe('nesting depth', () => {
  /** An attribute whose value is `depth` nested array_values around a string. */
  function nestedAttribute(depth: number, kind: 'array' | 'kvlist'): number[] {
    let any = ld(1, [0x78]); // AnyValue { string_value: "x" }
    for (let i = 0; i < depth; i++) {
      any = kind === 'array' ? ld(5, ld(1, any)) : ld(6, ld(1, [...ld(1, [0x6b]), ...ld(2, any)]));
    }
    return traceWithSpan(ld(9, [...ld(1, [0x61]), ...ld(2, any)]));
  }

  test.each(['array', 'kvlist'] as const)('%s values: 64 levels decode, 65 are refused', (kind) => {
    expect(attempt(decodeTracesRequest, Uint8Array.from(nestedAttribute(64, kind)))).toBe('ok');
    expect(errorOf(decodeTracesRequest, nestedAttribute(65, kind))).toMatch(/values nested deeper than 64 levels .* Span\.attributes/);
  });

  test('100 000 levels of nesting fail with a decode error, not a stack overflow', () => {
    // Built back to front: each level is a tag and a (growing) length.
    const depth = 100_000;
    const parts: number[][] = [];
    let len = 3; // innermost AnyValue { string_value: "x" }
    for (let i = 0; i < depth; i++) {
      const inner = len;
      const list = [0x0a, ...varint(inner)]; // ArrayValue.values
      const value = [0x2a, ...varint(inner + list.length)]; // AnyValue.array_value
      parts.push(list, value);
      len = inner + list.length + value.length;
    }
    const body = [...parts.reverse().flat(), 0x0a, 0x01, 0x78];
    const bytes = traceWithSpan(ld(9, [...ld(1, [0x61]), 0x12, ...varint(body.length), ...body]));
    expect(errorOf(decodeTracesRequest, bytes)).toMatch(/values nested deeper than 64 levels/);
  });
});

describe('fuzzing', () => {
  function mutate(rand: () => number, base: Uint8Array): Uint8Array {
    const bytes = Array.from(base);
    const edits = 1 + Math.floor(rand() * 4);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rand() * (bytes.length + 1));
      switch (Math.floor(rand() * 6)) {
        case 0: // bit flip
          if (bytes.length) bytes[at % bytes.length] ^= 1 << Math.floor(rand() * 8);
          break;
        case 1: // random byte
          if (bytes.length) bytes[at % bytes.length] = Math.floor(rand() * 256);
          break;
        case 2: // insertion
          bytes.splice(at, 0, Math.floor(rand() * 256));
          break;
        case 3: // deletion of a run
          bytes.splice(at, 1 + Math.floor(rand() * 8));
          break;
        case 4: // duplicate a slice somewhere else
          {
            const from = Math.floor(rand() * bytes.length);
            const slice = bytes.slice(from, from + 1 + Math.floor(rand() * 32));
            bytes.splice(Math.floor(rand() * bytes.length), 0, ...slice);
          }
          break;
        default: // interesting values: 0x80 continuation runs and 0xff
          bytes.splice(at, 0, ...new Array(1 + Math.floor(rand() * 11)).fill(rand() < 0.5 ? 0x80 : 0xff));
      }
    }
    return Uint8Array.from(bytes);
  }

  test('120 000 random and mutated protobuf inputs throw nothing but OtlpDecodeError', () => {
    const rand = prng(0x5eed);
    // Smaller valid bases keep the run short; the rich ones are mutated too.
    const bases: [Decoder, Uint8Array][] = [];
    for (const [, decode, full] of DECODERS) {
      bases.push([decode, full]);
      bases.push([decode, full.subarray(0, 0)]);
    }
    bases.push([decodeTracesRequest, Uint8Array.from(traceWithSpan([...ld(1, new Array(16).fill(3)), ...ld(5, [0x61])]))]);
    bases.push([decodeLogsRequest, Uint8Array.from(logWithRecord([...ld(5, ld(5, ld(1, ld(1, [0x61])))), 0x45, 1, 0, 0, 0]))]);
    bases.push([decodeMetricsRequest, Uint8Array.from(metricWithPoint([0x31, 1, 2, 3, 4, 5, 6, 7, 8, ...ld(5, [0x19, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f])]))]);
    const outcomes = { ok: 0, error: 0 };
    for (let i = 0; i < 120_000; i++) {
      let decode: Decoder;
      let input: Uint8Array;
      if (i % 5 === 0) {
        // Pure noise, for all decoders in turn.
        decode = DECODERS[i % 3][1];
        input = new Uint8Array(Math.floor(rand() * 64));
        for (let k = 0; k < input.length; k++) input[k] = Math.floor(rand() * 256);
      } else {
        const [d, base] = bases[Math.floor(rand() * bases.length)];
        decode = d;
        input = mutate(rand, base);
      }
      if (attempt(decode, input) === 'ok') outcomes.ok++;
      else outcomes.error++;
    }
    // Both outcomes occur: the mutations are neither all harmless nor all fatal.
    expect(outcomes.ok).toBeGreaterThan(1000);
    expect(outcomes.error).toBeGreaterThan(10_000);
  });

  test('10 000 mutated JSON documents throw nothing but OtlpDecodeError', () => {
    const rand = prng(42);
    const docs: [(s: string) => unknown, string][] = [
      [decodeTracesRequestJson, encodeTracesRequestJson(richTraces())],
      [decodeMetricsRequestJson, encodeMetricsRequestJson(richMetrics())],
      [decodeLogsRequestJson, encodeLogsRequestJson(richLogs())],
    ];
    const alphabet = '{}[]":,0123456789-eE.abcnulltruefalse\\ ';
    let errors = 0;
    for (let i = 0; i < 10_000; i++) {
      const [decode, doc] = docs[i % 3];
      const chars = doc.split('');
      for (let e = 0; e < 1 + Math.floor(rand() * 3); e++) {
        const at = Math.floor(rand() * chars.length);
        if (rand() < 0.5) chars[at] = alphabet[Math.floor(rand() * alphabet.length)];
        else chars.splice(at, 1 + Math.floor(rand() * 5));
      }
      const msg = attempt((b) => decode(Buffer.from(b).toString('utf8')), Buffer.from(chars.join(''), 'utf8'));
      if (msg !== 'ok') errors++;
    }
    expect(errors).toBeGreaterThan(5_000);
  });
});
