/**
 * The Prometheus protobuf codecs against an independent implementation:
 * protobufjs, given the message definitions of prometheus/prompb (types.proto,
 * remote.proto, io/prometheus/write/v2/types.proto) as schema text. Both
 * directions, for 1.0 write requests, 2.0 requests, and remote read.
 */
import protobuf from 'protobufjs';
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
  PromDecodeError,
  type Exemplar,
  type MetricMetadata,
  type NativeHistogram,
  type TimeSeries,
  type WriteRequestVisitor,
} from './prompb';

const SCHEMA = `
syntax = "proto3";
package prometheus;
message Sample { double value = 1; int64 timestamp = 2; }
message Label { string name = 1; string value = 2; }
message Exemplar { repeated Label labels = 1; double value = 2; int64 timestamp = 3; }
message BucketSpan { sint32 offset = 1; uint32 length = 2; }
message Histogram {
  oneof count { uint64 count_int = 1; double count_float = 2; }
  double sum = 3;
  sint32 schema = 4;
  double zero_threshold = 5;
  oneof zero_count { uint64 zero_count_int = 6; double zero_count_float = 7; }
  repeated BucketSpan negative_spans = 8;
  repeated sint64 negative_deltas = 9;
  repeated double negative_counts = 10;
  repeated BucketSpan positive_spans = 11;
  repeated sint64 positive_deltas = 12;
  repeated double positive_counts = 13;
  int32 reset_hint = 14;
  int64 timestamp = 15;
  repeated double custom_values = 16;
}
message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
message MetricMetadata { int32 type = 1; string metric_family_name = 2; string help = 4; string unit = 5; }
message WriteRequest { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
message LabelMatcher { int32 type = 1; string name = 2; string value = 3; }
message ReadHints { int64 step_ms = 1; string func = 2; int64 start_ms = 3; int64 end_ms = 4; }
message Query { int64 start_timestamp_ms = 1; int64 end_timestamp_ms = 2; repeated LabelMatcher matchers = 3; ReadHints hints = 4; }
message ReadRequest { repeated Query queries = 1; repeated int32 accepted_response_types = 2; }
message QueryResult { repeated TimeSeries timeseries = 1; }
message ReadResponse { repeated QueryResult results = 1; }
message V2Sample { double value = 1; int64 timestamp = 2; }
message V2Exemplar { repeated uint32 labels_refs = 1; double value = 2; int64 timestamp = 3; }
message V2Metadata { int32 type = 1; uint32 help_ref = 3; uint32 unit_ref = 4; }
message V2TimeSeries {
  repeated uint32 labels_refs = 1;
  repeated V2Sample samples = 2;
  repeated Histogram histograms = 3;
  repeated V2Exemplar exemplars = 4;
  V2Metadata metadata = 5;
  int64 created_timestamp = 6;
}
message V2Request { repeated string symbols = 4; repeated V2TimeSeries timeseries = 5; }
`;

const root = protobuf.parse(SCHEMA).root;
const T = (name: string) => root.lookupType(`prometheus.${name}`);

function pbEncode(type: string, obj: unknown): Buffer {
  const t = T(type);
  return Buffer.from(t.encode(t.fromObject(obj as Record<string, unknown>)).finish());
}

function pbDecode(type: string, buf: Uint8Array): Record<string, unknown> {
  const t = T(type);
  return t.toObject(t.decode(buf), { longs: Number, defaults: true, arrays: true }) as Record<string, unknown>;
}

/** Records visitor calls as series objects. */
class Recorder implements WriteRequestVisitor {
  series: TimeSeries[] = [];
  meta: MetricMetadata[] = [];
  private cur: TimeSeries = { labels: [], samples: [] };
  metadata(md: MetricMetadata): void {
    this.meta.push(md);
  }
  label(name: string, value: string): void {
    this.cur.labels.push({ name, value });
  }
  sample(value: number, timestamp: number, stale: boolean): void {
    this.cur.samples.push(stale ? { value, timestamp, stale } : { value, timestamp });
  }
  histogram(h: NativeHistogram): void {
    (this.cur.histograms ??= []).push(h);
  }
  exemplar(e: Exemplar): void {
    (this.cur.exemplars ??= []).push(e);
  }
  seriesMetadata(type: number, help: string, unit: string): void {
    this.cur.metadata = { type, help, unit };
  }
  createdTimestamp(ms: number): void {
    this.cur.createdTimestamp = ms;
  }
  endSeries(): void {
    this.series.push(this.cur);
    this.cur = { labels: [], samples: [] };
  }
}

const histogram: NativeHistogram = {
  isFloat: false,
  count: 12,
  sum: 18.5,
  schema: 1,
  zeroThreshold: 0.001,
  zeroCount: 2,
  negativeSpans: [{ offset: -2, length: 1 }],
  negativeDeltas: [1],
  negativeCounts: [],
  positiveSpans: [
    { offset: 0, length: 2 },
    { offset: 3, length: 1 },
  ],
  positiveDeltas: [3, -1, 3],
  positiveCounts: [],
  resetHint: 2,
  timestamp: 1700000000123,
  customValues: [],
};

const series: TimeSeries[] = [
  {
    labels: [
      { name: '__name__', value: 'http_requests_total' },
      { name: 'job', value: 'api' },
      { name: 'path', value: '/ünïcode' },
    ],
    samples: [
      { value: 1, timestamp: 1700000000000 },
      { value: 2.5, timestamp: 1700000015000 },
      { value: -3e-300, timestamp: -5 },
    ],
    exemplars: [{ labels: [{ name: 'trace_id', value: '0123456789abcdef0123456789abcdef' }], value: 0.25, timestamp: 1700000000001 }],
  },
  { labels: [{ name: '__name__', value: 'latency_seconds' }], samples: [], histograms: [histogram] },
];

describe('remote-write 1.0 (prometheus.WriteRequest)', () => {
  const asPb = {
    timeseries: series.map((s) => ({
      labels: s.labels,
      samples: s.samples,
      exemplars: s.exemplars ?? [],
      histograms: (s.histograms ?? []).map((h) => ({
        countInt: h.count,
        sum: h.sum,
        schema: h.schema,
        zeroThreshold: h.zeroThreshold,
        zeroCountInt: h.zeroCount,
        negativeSpans: h.negativeSpans,
        negativeDeltas: h.negativeDeltas,
        positiveSpans: h.positiveSpans,
        positiveDeltas: h.positiveDeltas,
        resetHint: h.resetHint,
        timestamp: h.timestamp,
      })),
    })),
    metadata: [{ type: 1, metricFamilyName: 'http_requests_total', help: 'Requests.', unit: '' }],
  };

  it('decodes what protobufjs encodes, through the visitor and as objects', () => {
    const bytes = pbEncode('WriteRequest', asPb);
    const rec = new Recorder();
    decodeWriteRequestV1(bytes, rec);
    expect(rec.meta).toEqual([{ type: 1, metricFamilyName: 'http_requests_total', help: 'Requests.', unit: '' }]);
    expect(rec.series).toEqual(series);
    expect(decodeWriteRequestObjects(bytes).timeseries).toEqual(series);
  });

  it('encodes what protobufjs decodes', () => {
    const bytes = encodeWriteRequestV1({ timeseries: series, metadata: asPb.metadata });
    const back = pbDecode('WriteRequest', bytes);
    expect(back).toEqual(pbDecode('WriteRequest', pbEncode('WriteRequest', asPb)));
  });

  it('reports metadata before series even when the sender puts it last', () => {
    const seen: string[] = [];
    const v = new Recorder();
    const orig = v.endSeries.bind(v);
    v.metadata = () => seen.push('metadata');
    v.endSeries = () => {
      seen.push('series');
      orig();
    };
    // protobufjs writes fields in number order: timeseries (1) before metadata (3).
    decodeWriteRequestV1(pbEncode('WriteRequest', asPb), v);
    expect(seen).toEqual(['metadata', 'series', 'series']);
  });

  it('keeps the stale marker bits (0x7ff0000000000002) both ways', () => {
    const bytes = encodeWriteRequestV1({ timeseries: [{ labels: [{ name: '__name__', value: 'x' }], samples: [{ value: NaN, timestamp: 5, stale: true }] }] });
    expect(bytes.includes(Buffer.from([0x09, 0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f]))).toBe(true);
    const rec = new Recorder();
    decodeWriteRequestV1(bytes, rec);
    expect(rec.series[0].samples[0]).toEqual({ value: NaN, timestamp: 5, stale: true });
    // An ordinary NaN is not stale.
    const plain = new Recorder();
    decodeWriteRequestV1(pbEncode('WriteRequest', { timeseries: [{ labels: [], samples: [{ value: NaN, timestamp: 1 }] }] }), plain);
    expect(plain.series[0].samples[0].stale).toBeUndefined();
  });

  it('refuses malformed input with a PromDecodeError naming the field', () => {
    const bytes = pbEncode('WriteRequest', asPb);
    expect(() => decodeWriteRequestV1(bytes.subarray(0, bytes.length - 3), new Recorder())).toThrow(PromDecodeError);
    expect(() => decodeWriteRequestV1(Buffer.from([0x0a, 0x03, 0x0a, 0x10, 0x00]), new Recorder())).toThrow(/TimeSeries.labels/);
    expect(() => decodeWriteRequestV1(Buffer.from([0x0b]), new Recorder())).toThrow(/group/);
  });
});

describe('remote-write 2.0 (io.prometheus.write.v2.Request)', () => {
  const v2series: TimeSeries[] = [
    {
      labels: [
        { name: '__name__', value: 'http_requests_total' },
        { name: 'job', value: 'api' },
      ],
      samples: [{ value: 7, timestamp: 1700000000000 }],
      exemplars: [{ labels: [{ name: 'trace_id', value: 'abc' }], value: 1, timestamp: 1700000000000 }],
      metadata: { type: 1, help: 'Requests.', unit: '' },
      createdTimestamp: 1699999999000,
    },
    {
      labels: [{ name: '__name__', value: 'latency_seconds' }],
      samples: [],
      histograms: [{ ...histogram, isFloat: true, positiveDeltas: [], positiveCounts: [3, 2, 5], negativeDeltas: [], negativeCounts: [1] }],
      metadata: { type: 3, help: '', unit: 'seconds' },
    },
  ];

  it('decodes what protobufjs encodes, resolving symbols', () => {
    const symbols = ['', '__name__', 'http_requests_total', 'job', 'api', 'Requests.', 'trace_id', 'abc', 'latency_seconds', 'seconds'];
    const h = v2series[1].histograms?.[0] as NativeHistogram;
    const bytes = pbEncode('V2Request', {
      symbols,
      timeseries: [
        {
          labelsRefs: [1, 2, 3, 4],
          samples: [{ value: 7, timestamp: 1700000000000 }],
          exemplars: [{ labelsRefs: [6, 7], value: 1, timestamp: 1700000000000 }],
          metadata: { type: 1, helpRef: 5, unitRef: 0 },
          createdTimestamp: 1699999999000,
        },
        {
          labelsRefs: [1, 8],
          histograms: [
            {
              countFloat: h.count,
              sum: h.sum,
              schema: h.schema,
              zeroThreshold: h.zeroThreshold,
              zeroCountFloat: h.zeroCount,
              negativeSpans: h.negativeSpans,
              negativeCounts: h.negativeCounts,
              positiveSpans: h.positiveSpans,
              positiveCounts: h.positiveCounts,
              resetHint: h.resetHint,
              timestamp: h.timestamp,
            },
          ],
          metadata: { type: 3, helpRef: 0, unitRef: 9 },
        },
      ],
    });
    const rec = new Recorder();
    decodeWriteRequestV2(bytes, rec);
    expect(rec.series).toEqual(v2series);
  });

  it('encodes what protobufjs decodes, with a symbol table that starts with ""', () => {
    const back = pbDecode('V2Request', encodeWriteRequestV2(v2series)) as { symbols: string[]; timeseries: Array<{ labelsRefs: number[]; createdTimestamp: number }> };
    expect(back.symbols[0]).toBe('');
    expect(back.timeseries[0].labelsRefs.map((r) => back.symbols[r])).toEqual(['__name__', 'http_requests_total', 'job', 'api']);
    expect(back.timeseries[0].createdTimestamp).toBe(1699999999000);
    // And our own decoder reads it back to the same series.
    const rec = new Recorder();
    decodeWriteRequestV2(encodeWriteRequestV2(v2series), rec);
    expect(rec.series).toEqual(v2series);
  });

  it('refuses references outside the symbol table, odd reference lists and a first symbol that is not ""', () => {
    const bad = pbEncode('V2Request', { symbols: ['', 'a'], timeseries: [{ labelsRefs: [1, 5], samples: [{ value: 1, timestamp: 1 }] }] });
    expect(() => decodeWriteRequestV2(bad, new Recorder())).toThrow(/symbol reference 5 is out of range/);
    const odd = pbEncode('V2Request', { symbols: ['', 'a'], timeseries: [{ labelsRefs: [1], samples: [{ value: 1, timestamp: 1 }] }] });
    expect(() => decodeWriteRequestV2(odd, new Recorder())).toThrow(/odd number/);
    const first = pbEncode('V2Request', { symbols: ['x'], timeseries: [] });
    expect(() => decodeWriteRequestV2(first, new Recorder())).toThrow(/first symbol/);
  });

  it('reads a 2.0 body as an empty 1.0 request (the reserved field numbers), as the spec intends', () => {
    const rec = new Recorder();
    decodeWriteRequestV1(encodeWriteRequestV2(v2series), rec);
    expect(rec.series).toEqual([]);
  });
});

describe('remote read', () => {
  it('decodes read requests protobufjs encodes and encodes ones it decodes', () => {
    const req = {
      queries: [
        {
          startTimestampMs: 1700000000000,
          endTimestampMs: 1700000300000,
          matchers: [
            { type: 0, name: '__name__', value: 'up' },
            { type: 2, name: 'job', value: 'api|web' },
          ],
          hints: { stepMs: 15000, func: 'rate', startMs: 1700000000000, endMs: 1700000300000 },
        },
      ],
      acceptedResponseTypes: [0],
    };
    const decoded = decodeReadRequest(pbEncode('ReadRequest', req));
    expect(decoded).toEqual({
      queries: [
        {
          startMs: 1700000000000,
          endMs: 1700000300000,
          matchers: req.queries[0].matchers,
          hints: { stepMs: 15000, func: 'rate', startMs: 1700000000000, endMs: 1700000300000, rangeMs: 0 },
        },
      ],
      acceptedResponseTypes: [0],
    });
    expect(pbDecode('ReadRequest', encodeReadRequest(decoded))).toEqual(pbDecode('ReadRequest', pbEncode('ReadRequest', req)));
  });

  it('encodes sampled read responses protobufjs decodes, and decodes them back', () => {
    const results = [[series[0]], []];
    const back = pbDecode('ReadResponse', encodeReadResponse(results)) as { results: Array<{ timeseries: Array<{ labels: unknown; samples: unknown }> }> };
    expect(back.results).toHaveLength(2);
    expect(back.results[0].timeseries[0].labels).toEqual(series[0].labels);
    expect(back.results[0].timeseries[0].samples).toEqual(series[0].samples);
    expect(back.results[1].timeseries).toEqual([]);
    expect(decodeReadResponse(encodeReadResponse(results))[0][0].samples).toEqual(series[0].samples);
  });
});
