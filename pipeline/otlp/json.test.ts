/**
 * OTLP/JSON: the spec's encoding rules (hex ids, int64 as strings, integer
 * enums), the leniencies a receiver must have (snake_case names, enum names,
 * numbers for int64, null fields, unknown fields), round trips, responses,
 * and errors that name the path of the offending field.
 */

import {
  decodeLogsRequestJson,
  decodeLogsResponseJson,
  decodeMetricsRequestJson,
  decodeMetricsResponseJson,
  decodeTracesRequest,
  decodeTracesRequestJson,
  decodeTracesResponseJson,
  encodeLogsRequestJson,
  encodeLogsResponseJson,
  encodeMetricsRequestJson,
  encodeMetricsResponseJson,
  encodeTracesRequest,
  encodeTracesRequestJson,
  encodeTracesResponseJson,
  OtlpDecodeError,
} from './index';
import { nestedArrays, richLogs, richMetrics, richTraces } from './testdata/fixtures';

/** The message of the OtlpDecodeError that `fn` throws. */
function decodeError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OtlpDecodeError);
    expect((err as OtlpDecodeError).code).toBe('OTLP_DECODE');
    return (err as Error).message;
  }
  throw new Error('expected an OtlpDecodeError, nothing was thrown');
}

describe('decoding the OTLP/JSON format', () => {
  test('a spec-style trace request: uppercase hex ids, string timestamps, integer kind', () => {
    const text = JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'my.service' } }] },
          scopeSpans: [
            {
              scope: {
                name: 'my.library',
                version: '1.0.0',
                attributes: [{ key: 'my.scope.attribute', value: { stringValue: 'some scope attribute' } }],
              },
              spans: [
                {
                  traceId: '5B8EFFF798038103D269B633813FC60C',
                  spanId: 'EEE19B7EC3C1B174',
                  parentSpanId: 'EEE19B7EC3C1B173',
                  name: "I'm a server span",
                  startTimeUnixNano: '1544712660000000000',
                  endTimeUnixNano: '1544712661000000000',
                  kind: 2,
                  attributes: [{ key: 'my.span.attr', value: { stringValue: 'some value' } }],
                },
              ],
            },
          ],
        },
      ],
    });
    const t = decodeTracesRequestJson(text);
    expect(t).toEqual({
      resourceSpans: [
        {
          resource: { attributes: { 'service.name': 'my.service' }, droppedAttributesCount: 0 },
          scopeSpans: [
            {
              scope: {
                name: 'my.library',
                version: '1.0.0',
                attributes: { 'my.scope.attribute': 'some scope attribute' },
                droppedAttributesCount: 0,
              },
              spans: [
                {
                  traceId: '5b8efff798038103d269b633813fc60c',
                  spanId: 'eee19b7ec3c1b174',
                  traceState: '',
                  parentSpanId: 'eee19b7ec3c1b173',
                  flags: 0,
                  name: "I'm a server span",
                  kind: 2,
                  startTimeUnixNano: 1544712660000000000n,
                  endTimeUnixNano: 1544712661000000000n,
                  attributes: { 'my.span.attr': 'some value' },
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

  test('snake_case field names, enum names, numbers for int64 and null fields are accepted', () => {
    const text = JSON.stringify({
      resource_spans: [
        {
          resource: null,
          scope_spans: [
            {
              spans: [
                {
                  trace_id: '5b8efff798038103d269b633813fc60c',
                  span_id: 'eee19b7ec3c1b174',
                  parent_span_id: '',
                  trace_state: 'a=b',
                  kind: 'SPAN_KIND_CLIENT',
                  start_time_unix_nano: 1544712660000,
                  end_time_unix_nano: '1544712661000000000',
                  dropped_attributes_count: '3',
                  attributes: [
                    { key: 'i', value: { int_value: 42 } },
                    { key: 'big', value: { intValue: '9223372036854775807' } },
                    { key: 'neg', value: { intValue: '-5' } },
                    { key: 'd', value: { double_value: 1.5 } },
                    { key: 'nan', value: { doubleValue: 'NaN' } },
                    { key: 'inf', value: { doubleValue: '-Infinity' } },
                    { key: 'b', value: { bool_value: true } },
                    { key: 'bytes', value: { bytes_value: 'AAEC/w==' } },
                    { key: 'urlsafe', value: { bytesValue: '_-8' } },
                    { key: 'arr', value: { array_value: { values: [{ stringValue: 'x' }, {}] } } },
                    { key: 'kv', value: { kvlist_value: { values: [{ key: 'k', value: { intValue: '1' } }] } } },
                    { key: 'empty', value: {} },
                    { key: 'missing' },
                  ],
                  status: { code: 'STATUS_CODE_ERROR', message: 'm' },
                  futureField: { anything: [1, 2, 3] },
                },
              ],
            },
          ],
        },
      ],
      somethingNew: true,
    });
    const span = decodeTracesRequestJson(text).resourceSpans[0].scopeSpans[0].spans[0];
    expect(span).toMatchObject({
      traceId: '5b8efff798038103d269b633813fc60c',
      spanId: 'eee19b7ec3c1b174',
      parentSpanId: '',
      traceState: 'a=b',
      kind: 3,
      startTimeUnixNano: 1544712660000n,
      endTimeUnixNano: 1544712661000000000n,
      droppedAttributesCount: 3,
      status: { code: 2, message: 'm' },
    });
    expect(span.attributes).toEqual({
      i: 42,
      big: 9223372036854775807n,
      neg: -5,
      d: 1.5,
      nan: NaN,
      inf: -Infinity,
      b: true,
      bytes: new Uint8Array([0, 1, 2, 255]),
      urlsafe: new Uint8Array([255, 239]),
      arr: ['x', null],
      kv: { k: 1 },
      empty: null,
      missing: null,
    });
  });

  test('metric enums by name, counts as strings or numbers, doubles as strings', () => {
    const text = JSON.stringify({
      resourceMetrics: [
        {
          scopeMetrics: [
            {
              metrics: [
                {
                  name: 'm',
                  sum: {
                    aggregationTemporality: 'AGGREGATION_TEMPORALITY_DELTA',
                    is_monotonic: true,
                    dataPoints: [{ asInt: '7', timeUnixNano: '10', exemplars: [{ as_double: '2.5', span_id: 'b7ad6b7169203331' }] }],
                  },
                },
                {
                  name: 'h',
                  histogram: {
                    aggregation_temporality: 2,
                    data_points: [{ count: 3, sum: '1e3', bucket_counts: ['1', 2], explicit_bounds: [1, 'Infinity'], min: 0 }],
                  },
                },
                {
                  name: 'e',
                  exponential_histogram: {
                    dataPoints: [{ scale: -2, zero_count: '4', positive: { offset: -3, bucket_counts: ['1'] } }],
                  },
                },
                { name: 's', summary: { dataPoints: [{ count: '2', sum: 3, quantile_values: [{ quantile: 0.5, value: '1.25' }] }] } },
              ],
            },
          ],
        },
      ],
    });
    const metrics = decodeMetricsRequestJson(text).resourceMetrics[0].scopeMetrics[0].metrics;
    expect(metrics.map((m) => m.data.type)).toEqual(['sum', 'histogram', 'exponentialHistogram', 'summary']);
    expect(metrics[0].data).toEqual({
      type: 'sum',
      aggregationTemporality: 1,
      isMonotonic: true,
      dataPoints: [
        {
          attributes: {},
          startTimeUnixNano: 0n,
          timeUnixNano: 10n,
          flags: 0,
          value: 7,
          isInt: true,
          exemplars: [{ filteredAttributes: {}, timeUnixNano: 0n, value: 2.5, isInt: false, spanId: 'b7ad6b7169203331', traceId: '' }],
        },
      ],
    });
    expect(metrics[1].data).toMatchObject({
      aggregationTemporality: 2,
      dataPoints: [{ count: 3, sum: 1000, bucketCounts: [1, 2], explicitBounds: [1, Infinity], min: 0 }],
    });
    expect(metrics[2].data).toMatchObject({
      dataPoints: [{ scale: -2, zeroCount: 4, positive: { offset: -3, bucketCounts: [1] }, negative: { offset: 0, bucketCounts: [] } }],
    });
    expect(metrics[3].data).toMatchObject({ dataPoints: [{ count: 2, sum: 3, quantileValues: [{ quantile: 0.5, value: 1.25 }] }] });
  });

  test('log severity by name and number, event_name, body of any kind', () => {
    const text = JSON.stringify({
      resourceLogs: [
        {
          scopeLogs: [
            {
              logRecords: [
                { severityNumber: 'SEVERITY_NUMBER_WARN', event_name: 'e.v', body: { stringValue: 'hi' }, flags: 1 },
                { severity_number: 'SEVERITY_NUMBER_FATAL4', body: { kvlistValue: { values: [{ key: 'a', value: { boolValue: false } }] } } },
                { severityNumber: 10, observed_time_unix_nano: '99' },
              ],
            },
          ],
        },
      ],
    });
    const recs = decodeLogsRequestJson(text).resourceLogs[0].scopeLogs[0].logRecords;
    expect(recs.map((r) => r.severityNumber)).toEqual([13, 24, 10]);
    expect(recs[0]).toMatchObject({ eventName: 'e.v', body: 'hi', flags: 1 });
    expect(recs[1].body).toEqual({ a: false });
    expect(recs[2]).toMatchObject({ body: null, observedTimeUnixNano: 99n });
  });

  test('UTF-8 bytes are accepted as input, like text', () => {
    const text = encodeTracesRequestJson(richTraces());
    expect(decodeTracesRequestJson(Buffer.from(text, 'utf8'))).toEqual(decodeTracesRequestJson(text));
  });

  test('a __proto__ attribute key stays an own property', () => {
    const t = decodeTracesRequestJson(
      '{"resourceSpans":[{"resource":{"attributes":[{"key":"__proto__","value":{"stringValue":"x"}}]}}]}',
    );
    const attrs = t.resourceSpans[0].resource.attributes;
    expect(Object.getPrototypeOf(attrs)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(attrs, '__proto__')?.value).toBe('x');
  });
});

describe('encoding to OTLP/JSON', () => {
  test('round trips: decodeJson(encodeJson(x)) equals x for every signal', () => {
    expect(decodeTracesRequestJson(encodeTracesRequestJson(richTraces()))).toEqual(richTraces());
    expect(decodeMetricsRequestJson(encodeMetricsRequestJson(richMetrics()))).toEqual(richMetrics());
    expect(decodeLogsRequestJson(encodeLogsRequestJson(richLogs()))).toEqual(richLogs());
  });

  test('JSON and protobuf agree: decodeJson(encodeJson(x)) equals decode(encode(x))', () => {
    const t = richTraces();
    expect(decodeTracesRequestJson(encodeTracesRequestJson(t))).toEqual(decodeTracesRequest(encodeTracesRequest(t)));
  });

  test('ids are hex, 64-bit integers are strings, enums are integers, defaults are left out', () => {
    const doc = JSON.parse(encodeTracesRequestJson(richTraces()));
    const span = doc.resourceSpans[0].scopeSpans[0].spans[0];
    expect(span.traceId).toBe('5b8efff798038103d269b633813fc60c');
    expect(span.spanId).toBe('eee19b7ec3c1b174');
    expect(span.startTimeUnixNano).toBe('1544712660000000000');
    expect(span.kind).toBe(2);
    expect(span.flags).toBe(0x301);
    expect(span.status).toEqual({ message: 'upstream timed out', code: 2 });
    const attr = (k: string): unknown => span.attributes.find((kv: { key: string }) => kv.key === k).value;
    expect(attr('int')).toEqual({ intValue: '42' });
    expect(attr('int64Min')).toEqual({ intValue: '-9223372036854775808' });
    expect(attr('dbl')).toEqual({ doubleValue: 3.25 });
    expect(attr('inf')).toEqual({ doubleValue: 'Infinity' });
    expect(attr('bytes')).toEqual({ bytesValue: 'AAEC/v8=' });
    expect(attr('nul')).toEqual({});
    const empty = doc.resourceSpans[0].scopeSpans[1].spans[0];
    expect(empty).toEqual({});
    const metrics = JSON.parse(encodeMetricsRequestJson(richMetrics())).resourceMetrics[0].scopeMetrics[0].metrics;
    expect(metrics[3].histogram.dataPoints[0]).toMatchObject({ count: '10', bucketCounts: ['1', '2', '3', '4'], explicitBounds: [0.5, 1, 2.5] });
    expect(metrics[4].exponentialHistogram.dataPoints[0].negative).toEqual({ offset: 7, bucketCounts: ['2', '34359738368'] });
  });

  test('values nested deeper than 64 levels are refused in both directions', () => {
    const deep = richTraces();
    deep.resourceSpans[0].resource.attributes.deep = nestedArrays(65);
    expect(() => encodeTracesRequestJson(deep)).toThrow(/nested deeper than 64/);
    let value = '{"stringValue":"x"}';
    for (let i = 0; i < 65; i++) value = `{"arrayValue":{"values":[${value}]}}`;
    const msg = decodeError(() => decodeTracesRequestJson(`{"resourceSpans":[{"resource":{"attributes":[{"key":"d","value":${value}}]}}]}`));
    expect(msg).toMatch(/nested deeper than 64 levels/);
    expect(msg.startsWith('resourceSpans[0].resource.attributes[0].value.arrayValue.values[0]')).toBe(true);
  });
});

describe('errors name the path of the offending field', () => {
  function traceDoc(span: Record<string, unknown>): string {
    return JSON.stringify({
      resourceSpans: [{ scopeSpans: [{ spans: [] }, { spans: [{}, {}, {}, span] }] }],
    });
  }

  test.each([
    [{ traceId: 'abc' }, 'resourceSpans[0].scopeSpans[1].spans[3].traceId: expected 32 hex characters'],
    [{ spanId: 'zzzzzzzzzzzzzzzz' }, 'resourceSpans[0].scopeSpans[1].spans[3].spanId: expected 16 hex characters'],
    [{ traceId: 'W4739/gDgQPSabYzgT/GDA==' }, 'resourceSpans[0].scopeSpans[1].spans[3].traceId: expected 32 hex characters'],
    [{ startTimeUnixNano: '12x' }, 'resourceSpans[0].scopeSpans[1].spans[3].startTimeUnixNano: expected a decimal integer string'],
    [{ startTimeUnixNano: '-1' }, 'resourceSpans[0].scopeSpans[1].spans[3].startTimeUnixNano: integer -1 out of range'],
    [{ kind: 'SPAN_KIND_NOPE' }, 'resourceSpans[0].scopeSpans[1].spans[3].kind: unknown enum value "SPAN_KIND_NOPE"'],
    [{ name: 5 }, 'resourceSpans[0].scopeSpans[1].spans[3].name: expected a string'],
    [{ attributes: {} }, 'resourceSpans[0].scopeSpans[1].spans[3].attributes: expected an array'],
    [
      { attributes: [{ key: 'a', value: { intValue: '1.5' } }] },
      'resourceSpans[0].scopeSpans[1].spans[3].attributes[0].value.intValue: expected a decimal integer string',
    ],
    [
      { attributes: [{ key: 'a', value: { intValue: '9223372036854775808' } }] },
      'resourceSpans[0].scopeSpans[1].spans[3].attributes[0].value.intValue: integer 9223372036854775808 out of range',
    ],
    [
      { events: [{}, { attributes: [{ key: 'k', value: { bytesValue: '***' } }] }] },
      'resourceSpans[0].scopeSpans[1].spans[3].events[1].attributes[0].value.bytesValue: expected base64',
    ],
    [{ links: [5] }, 'resourceSpans[0].scopeSpans[1].spans[3].links[0]: expected an object'],
    [{ status: { code: 1.5 } }, 'resourceSpans[0].scopeSpans[1].spans[3].status.code: expected an integer'],
    [{ droppedEventsCount: -1 }, 'resourceSpans[0].scopeSpans[1].spans[3].droppedEventsCount: expected an integer in [0, 4294967295]'],
  ])('%j', (span, expected) => {
    expect(decodeError(() => decodeTracesRequestJson(traceDoc(span)))).toContain(expected);
  });

  test('malformed JSON, a non-object document and wrong top-level shapes', () => {
    expect(decodeError(() => decodeTracesRequestJson('{"resourceSpans": ['))).toMatch(/^invalid JSON: /);
    expect(decodeError(() => decodeTracesRequestJson('[]'))).toBe('(root): expected an object');
    expect(decodeError(() => decodeTracesRequestJson('{"resourceSpans": {}}'))).toBe('resourceSpans: expected an array');
    expect(decodeError(() => decodeMetricsRequestJson('{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"gauge": 1}]}]}]}'))).toBe(
      'resourceMetrics[0].scopeMetrics[0].metrics[0].gauge: expected an object',
    );
    expect(
      decodeError(() =>
        decodeMetricsRequestJson('{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"histogram": {"dataPoints": [{"bucketCounts": ["x"]}]}}]}]}]}'),
      ),
    ).toBe('resourceMetrics[0].scopeMetrics[0].metrics[0].histogram.dataPoints[0].bucketCounts[0]: expected a decimal integer string, got "x"');
    expect(decodeError(() => decodeLogsRequestJson('{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": "text"}]}]}]}'))).toBe(
      'resourceLogs[0].scopeLogs[0].logRecords[0].body: expected an object',
    );
  });
});

describe('JSON responses', () => {
  test('full success is {}, partial success names the rejected count per signal', () => {
    expect(encodeTracesResponseJson(0, '')).toBe('{}');
    expect(JSON.parse(encodeTracesResponseJson(3, 'bad'))).toEqual({ partialSuccess: { rejectedSpans: '3', errorMessage: 'bad' } });
    expect(JSON.parse(encodeMetricsResponseJson(2, ''))).toEqual({ partialSuccess: { rejectedDataPoints: '2' } });
    expect(JSON.parse(encodeLogsResponseJson(0, 'warn'))).toEqual({ partialSuccess: { errorMessage: 'warn' } });
  });

  test('responses decode from strings or numbers, camelCase or snake_case', () => {
    expect(decodeTracesResponseJson(encodeTracesResponseJson(3, 'bad'))).toEqual({ rejected: 3, errorMessage: 'bad' });
    expect(decodeMetricsResponseJson('{"partial_success":{"rejected_data_points":7}}')).toEqual({ rejected: 7, errorMessage: '' });
    expect(decodeLogsResponseJson('{}')).toEqual({ rejected: 0, errorMessage: '' });
    expect(decodeError(() => decodeTracesResponseJson('{"partialSuccess":{"rejectedSpans":"x"}}'))).toMatch(
      /^partialSuccess\.rejectedSpans: /,
    );
  });
});
