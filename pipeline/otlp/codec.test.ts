/**
 * OTLP/protobuf codec behaviour: round trips of pdata using every field,
 * the value-mapping rules of pdata, protobuf compatibility rules (unknown
 * fields, packed and unpacked repeated scalars, merging of repeated singular
 * messages), and the response messages.
 */

import {
  decodeLogsRequest,
  decodeLogsResponse,
  decodeMetricsRequest,
  decodeMetricsResponse,
  decodeTracesRequest,
  decodeTracesResponse,
  encodeLogsRequest,
  encodeLogsResponse,
  encodeMetricsRequest,
  encodeMetricsResponse,
  encodeTracesRequest,
  encodeTracesResponse,
  OtlpEncodeError,
} from './index';
import type { Metrics, Span, Traces } from '../pdata';
import { ProtoWriter } from './protobuf-writer';
import { everyValueKind, nestedArrays, richLogs, richMetrics, richTraces } from './testdata/fixtures';

/** A one-span batch around `span` fields. */
function oneSpan(fields: Partial<Span>): Traces {
  const span: Span = {
    traceId: '5b8efff798038103d269b633813fc60c',
    spanId: 'eee19b7ec3c1b174',
    traceState: '',
    parentSpanId: '',
    flags: 0,
    name: 's',
    kind: 1,
    startTimeUnixNano: 1n,
    endTimeUnixNano: 2n,
    attributes: {},
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: { code: 0, message: '' },
    ...fields,
  };
  return {
    resourceSpans: [
      {
        resource: { attributes: {}, droppedAttributesCount: 0 },
        scopeSpans: [{ scope: { name: '', version: '', attributes: {}, droppedAttributesCount: 0 }, spans: [span], schemaUrl: '' }],
        schemaUrl: '',
      },
    ],
  };
}

function firstSpan(t: Traces): Span {
  return t.resourceSpans[0].scopeSpans[0].spans[0];
}

describe('round trip decode(encode(x)) === x', () => {
  test('traces with every field and every value kind', () => {
    const traces = richTraces();
    const decoded = decodeTracesRequest(encodeTracesRequest(traces));
    expect(decoded).toEqual(traces);
    // toEqual does not look at prototypes: check the __proto__ key stayed an own property.
    const attrs = firstSpan(decoded).attributes;
    expect(Object.getPrototypeOf(attrs)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(attrs, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(attrs, '__proto__')?.value).toBe('own');
  });

  test('metrics of every type', () => {
    const metrics = richMetrics();
    expect(decodeMetricsRequest(encodeMetricsRequest(metrics))).toEqual(metrics);
  });

  test('logs with every body kind and event_name', () => {
    const logs = richLogs();
    expect(decodeLogsRequest(encodeLogsRequest(logs))).toEqual(logs);
  });

  test('empty batches encode to zero bytes and decode back', () => {
    expect(encodeTracesRequest({ resourceSpans: [] }).length).toBe(0);
    expect(decodeTracesRequest(new Uint8Array(0))).toEqual({ resourceSpans: [] });
    expect(decodeMetricsRequest(new Uint8Array(0))).toEqual({ resourceMetrics: [] });
    expect(decodeLogsRequest(new Uint8Array(0))).toEqual({ resourceLogs: [] });
  });

  test('a large batch (2 000 spans, > 2 MiB) round-trips, exercising length back-patching', () => {
    const t = richTraces();
    const template = t.resourceSpans[0].scopeSpans[0].spans[0];
    const spans: Span[] = [];
    for (let i = 0; i < 2_000; i++) spans.push({ ...template, name: `span-${i}`, startTimeUnixNano: BigInt(i) });
    t.resourceSpans[0].scopeSpans[0].spans = spans;
    const bytes = encodeTracesRequest(t);
    expect(bytes.length).toBeGreaterThan(2 * 1024 * 1024);
    const back = decodeTracesRequest(bytes);
    expect(back.resourceSpans[0].scopeSpans[0].spans.length).toBe(2_000);
    expect(back.resourceSpans[0].scopeSpans[0].spans[1_999].name).toBe('span-1999');
    expect(back).toEqual(t);
  });

  test('an encoded request is not overwritten by the next encode (the writer hands its buffer over)', () => {
    const first = encodeTracesRequest(richTraces());
    const snapshot = Buffer.from(first);
    encodeTracesRequest(oneSpan({ name: 'other' }));
    encodeMetricsRequest(richMetrics());
    expect(first.equals(snapshot)).toBe(true);
    expect(decodeTracesRequest(first)).toEqual(richTraces());
  });

  test('decoding a Uint8Array view at an offset gives the same result as the Buffer', () => {
    const bytes = encodeTracesRequest(richTraces());
    const backing = new Uint8Array(bytes.length + 13);
    backing.set(bytes, 7);
    const view = backing.subarray(7, 7 + bytes.length);
    expect(decodeTracesRequest(view)).toEqual(decodeTracesRequest(bytes));
  });
});

describe('value mapping (pdata AnyValue rules)', () => {
  test('int64 within the safe range decodes to number, beyond it to bigint', () => {
    const span = firstSpan(
      decodeTracesRequest(
        encodeTracesRequest(
          oneSpan({
            attributes: { a: 9007199254740991, b: -9007199254740991, c: 9007199254740992n, d: -9007199254740992n, e: -1 },
          }),
        ),
      ),
    );
    expect(span.attributes).toEqual({ a: 9007199254740991, b: -9007199254740991, c: 9007199254740992n, d: -9007199254740992n, e: -1 });
    expect(typeof span.attributes.a).toBe('number');
    expect(typeof span.attributes.c).toBe('bigint');
  });

  test('an integral double within the safe range travels as an int (the SDK rule); others as doubles', () => {
    const bytes = encodeTracesRequest(oneSpan({ attributes: { i: 3, d: 3.5, big: 1e300 } }));
    const span = firstSpan(decodeTracesRequest(bytes));
    expect(span.attributes).toEqual({ i: 3, d: 3.5, big: 1e300 });
  });

  test('a bigint beyond int64 goes out as a double rather than wrapping', () => {
    const span = firstSpan(decodeTracesRequest(encodeTracesRequest(oneSpan({ attributes: { x: 2n ** 64n + 5n } }))));
    expect(span.attributes.x).toBe(18446744073709551616);
  });

  test('bytes decode to a Uint8Array copy, not a view of the request buffer', () => {
    const bytes = encodeTracesRequest(oneSpan({ attributes: { b: new Uint8Array([1, 2, 3]) } }));
    const value = firstSpan(decodeTracesRequest(bytes)).attributes.b as Uint8Array;
    expect(value).toEqual(new Uint8Array([1, 2, 3]));
    bytes.fill(0);
    expect(Array.from(value)).toEqual([1, 2, 3]);
  });

  test('an all-zero id decodes as the empty string, like an absent one', () => {
    const w = new ProtoWriter();
    // ExportTraceServiceRequest.resource_spans[0].scope_spans[0].spans[0] with zero ids.
    w.begin(0x0a, 1);
    w.begin(0x12, 1);
    w.begin(0x12, 1);
    w.varint32(0x0a);
    w.bytes(new Uint8Array(16));
    w.varint32(0x22);
    w.bytes(new Uint8Array(8));
    w.end();
    w.end();
    w.end();
    const span = firstSpan(decodeTracesRequest(w.finish()));
    expect(span.traceId).toBe('');
    expect(span.parentSpanId).toBe('');
  });

  test('ids are lowercase hex in pdata; uppercase hex is accepted by the encoder', () => {
    const t = oneSpan({ traceId: '5B8EFFF798038103D269B633813FC60C', spanId: 'EEE19B7EC3C1B174' });
    const span = firstSpan(decodeTracesRequest(encodeTracesRequest(t)));
    expect(span.traceId).toBe('5b8efff798038103d269b633813fc60c');
    expect(span.spanId).toBe('eee19b7ec3c1b174');
  });

  test('the encoder rejects malformed ids with OtlpEncodeError naming the field', () => {
    expect(() => encodeTracesRequest(oneSpan({ traceId: 'abc' }))).toThrow(OtlpEncodeError);
    expect(() => encodeTracesRequest(oneSpan({ spanId: 'zzzzzzzzzzzzzzzz' }))).toThrow(/Span\.spanId: expected 16 hex characters/);
    try {
      encodeTracesRequest(oneSpan({ parentSpanId: '123' }));
      throw new Error('no error');
    } catch (err) {
      expect(err).toBeInstanceOf(OtlpEncodeError);
      expect((err as OtlpEncodeError).code).toBe('OTLP_ENCODE');
    }
    // The shared writer is usable again after a failed encode.
    expect(decodeTracesRequest(encodeTracesRequest(richTraces()))).toEqual(richTraces());
  });

  test('values nested 64 deep encode; 65 deep are refused', () => {
    const ok = oneSpan({ attributes: { deep: nestedArrays(64) } });
    expect(decodeTracesRequest(encodeTracesRequest(ok))).toEqual(ok);
    expect(() => encodeTracesRequest(oneSpan({ attributes: { deep: nestedArrays(65) } }))).toThrow(/nested deeper than 64/);
  });

  test('every value kind survives inside kvlist and array values', () => {
    const t = oneSpan({ attributes: { wrapped: { list: [everyValueKind()], map: everyValueKind() } } });
    expect(decodeTracesRequest(encodeTracesRequest(t))).toEqual(t);
  });
});

describe('protobuf compatibility rules', () => {
  test('unknown fields of every wire type are skipped at every level', () => {
    const w = new ProtoWriter();
    const unknowns = (): void => {
      w.varint32((90 << 3) | 0); // varint
      w.varint64(0xffffffff, 0xffffffff);
      w.varint32((91 << 3) | 1); // fixed64
      w.fixed64(1, 2);
      w.varint32((92 << 3) | 2); // length-delimited
      w.string('future field');
      w.varint32((93 << 3) | 5); // fixed32
      w.fixed32(7);
    };
    w.begin(0x0a, 1); // resource_spans
    unknowns();
    w.begin(0x0a, 1); // resource
    unknowns();
    w.end();
    w.begin(0x12, 1); // scope_spans
    w.begin(0x12, 1); // span
    unknowns();
    w.varint32(0x2a);
    w.string('known');
    w.begin(0x7a, 1); // status
    unknowns();
    w.varint32(0x18);
    w.varint32(2);
    w.end();
    w.end();
    w.end();
    w.end();
    unknowns();
    const t = decodeTracesRequest(w.finish());
    const span = firstSpan(t);
    expect(span.name).toBe('known');
    expect(span.status).toEqual({ code: 2, message: '' });
  });

  test('histogram bucket_counts and explicit_bounds are accepted packed and unpacked', () => {
    const w = new ProtoWriter();
    w.begin(0x0a, 1); // resource_metrics
    w.begin(0x12, 1); // scope_metrics
    w.begin(0x12, 1); // metric
    w.begin(0x4a, 1); // histogram
    w.begin(0x0a, 1); // data point
    w.varint32(0x31); // bucket_counts unpacked
    w.fixed64(5, 0);
    w.varint32(0x32); // bucket_counts packed
    w.varint32(16);
    w.fixed64(6, 0);
    w.fixed64(7, 0);
    w.varint32(0x39); // explicit_bounds unpacked
    w.double(1.5);
    w.varint32(0x3a); // explicit_bounds packed
    w.varint32(8);
    w.double(2.5);
    w.end();
    w.end();
    w.end();
    w.end();
    w.end();
    const m = decodeMetricsRequest(w.finish());
    const data = m.resourceMetrics[0].scopeMetrics[0].metrics[0].data;
    expect(data.type).toBe('histogram');
    if (data.type !== 'histogram') return;
    expect(data.dataPoints[0].bucketCounts).toEqual([5, 6, 7]);
    expect(data.dataPoints[0].explicitBounds).toEqual([1.5, 2.5]);
  });

  test('exponential histogram bucket counts are accepted packed and unpacked', () => {
    const w = new ProtoWriter();
    w.begin(0x0a, 1);
    w.begin(0x12, 1);
    w.begin(0x12, 1);
    w.begin(0x52, 1); // exponential_histogram
    w.begin(0x0a, 1); // data point
    w.begin(0x42, 1); // positive
    w.varint32(0x08);
    w.sint32(-2);
    w.varint32(0x10); // unpacked
    w.varint32(300);
    w.begin(0x12, 1); // packed
    w.varint32(1);
    w.uint64Number(2 ** 40);
    w.end();
    w.end();
    w.end();
    w.end();
    w.end();
    w.end();
    w.end();
    const data = decodeMetricsRequest(w.finish()).resourceMetrics[0].scopeMetrics[0].metrics[0].data;
    if (data.type !== 'exponentialHistogram') throw new Error(`got ${data.type}`);
    expect(data.dataPoints[0].positive).toEqual({ offset: -2, bucketCounts: [300, 1, 2 ** 40] });
  });

  test('a singular message field that appears twice is merged; a repeated scalar field keeps the last value', () => {
    const w = new ProtoWriter();
    w.begin(0x0a, 1); // resource_spans
    w.begin(0x0a, 1); // resource, first part
    w.begin(0x0a, 1);
    w.varint32(0x0a);
    w.string('a');
    w.begin(0x12, 1);
    w.varint32(0x0a);
    w.string('1');
    w.end();
    w.end();
    w.end();
    w.begin(0x0a, 1); // resource, second part
    w.begin(0x0a, 1);
    w.varint32(0x0a);
    w.string('b');
    w.begin(0x12, 1);
    w.varint32(0x0a);
    w.string('2');
    w.end();
    w.end();
    w.varint32(0x10);
    w.varint32(9);
    w.end();
    w.varint32(0x1a);
    w.string('first');
    w.varint32(0x1a);
    w.string('second');
    w.end();
    const rs = decodeTracesRequest(w.finish()).resourceSpans[0];
    expect(rs.resource).toEqual({ attributes: { a: '1', b: '2' }, droppedAttributesCount: 9 });
    expect(rs.schemaUrl).toBe('second');
  });

  test('absent nested messages decode to empty defaults', () => {
    const w = new ProtoWriter();
    w.begin(0x0a, 1);
    w.begin(0x12, 1);
    w.begin(0x12, 1);
    w.end();
    w.end();
    w.end();
    expect(decodeTracesRequest(w.finish())).toEqual({
      resourceSpans: [
        {
          resource: { attributes: {}, droppedAttributesCount: 0 },
          scopeSpans: [
            {
              scope: { name: '', version: '', attributes: {}, droppedAttributesCount: 0 },
              spans: [
                {
                  traceId: '',
                  spanId: '',
                  traceState: '',
                  parentSpanId: '',
                  flags: 0,
                  name: '',
                  kind: 0,
                  startTimeUnixNano: 0n,
                  endTimeUnixNano: 0n,
                  attributes: {},
                  droppedAttributesCount: 0,
                  events: [],
                  droppedEventsCount: 0,
                  links: [],
                  droppedLinksCount: 0,
                  status: { code: 0, message: '' },
                },
              ],
              schemaUrl: '',
            },
          ],
          schemaUrl: '',
        },
      ],
    });
  });

  test('a negative enum (int32) is written as a 10-byte varint and read back', () => {
    const t = oneSpan({ kind: -1 as unknown as Span['kind'] });
    const bytes = encodeTracesRequest(t);
    expect(firstSpan(decodeTracesRequest(bytes)).kind).toBe(-1);
  });

  test('a metric data point without a value decodes as the double 0', () => {
    const w = new ProtoWriter();
    w.begin(0x0a, 1);
    w.begin(0x12, 1);
    w.begin(0x12, 1);
    w.begin(0x2a, 1); // gauge
    w.begin(0x0a, 1); // point with only flags
    w.varint32(0x40);
    w.varint32(1);
    w.end();
    w.end();
    w.end();
    w.end();
    w.end();
    const m: Metrics = decodeMetricsRequest(w.finish());
    const data = m.resourceMetrics[0].scopeMetrics[0].metrics[0].data;
    if (data.type !== 'gauge') throw new Error(`got ${data.type}`);
    expect(data.dataPoints[0]).toMatchObject({ value: 0, isInt: false, flags: 1 });
  });
});

describe('responses', () => {
  test('full success is the empty message', () => {
    expect(encodeTracesResponse(0, '').length).toBe(0);
    expect(decodeTracesResponse(encodeTracesResponse(0, ''))).toEqual({ rejected: 0, errorMessage: '' });
  });

  test('partial success carries rejected count and message for each signal', () => {
    expect(decodeTracesResponse(encodeTracesResponse(3, 'bad span ids'))).toEqual({ rejected: 3, errorMessage: 'bad span ids' });
    expect(decodeMetricsResponse(encodeMetricsResponse(2 ** 40, 'x'))).toEqual({ rejected: 2 ** 40, errorMessage: 'x' });
    expect(decodeLogsResponse(encodeLogsResponse(0, 'warning only'))).toEqual({ rejected: 0, errorMessage: 'warning only' });
  });

  test('the response bytes are exactly partial_success { rejected (1), error_message (2) }', () => {
    expect(Array.from(encodeTracesResponse(5, 'ab'))).toEqual([0x0a, 0x06, 0x08, 0x05, 0x12, 0x02, 0x61, 0x62]);
  });
});
