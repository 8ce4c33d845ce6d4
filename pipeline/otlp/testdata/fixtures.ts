/**
 * Test fixtures for the OTLP codec: pdata batches that use every field and
 * every value kind the wire formats can carry, in forms the decoders produce
 * (so `decode(encode(x))` must equal `x` exactly).
 */

import type { AnyValue, Attributes, Logs, Metrics, Traces } from '../../pdata';

/** Attribute values of every AnyValue kind, including the edge cases of each. */
export function everyValueKind(): Attributes {
  const attrs: Attributes = {
    str: 'hello',
    empty: '',
    unicode: 'héllo wörld ✓ 日本語 🎉',
    long: 'x'.repeat(300),
    t: true,
    f: false,
    zero: 0,
    int: 42,
    neg: -1,
    negBig: -9007199254740991,
    maxSafe: 9007199254740991,
    beyondSafe: 9007199254740993n,
    int64Max: 9223372036854775807n,
    int64Min: -9223372036854775808n,
    dbl: 3.25,
    negDbl: -0.5,
    tiny: 5e-324,
    hugeIntegralDouble: 1e300,
    inf: Infinity,
    negInf: -Infinity,
    bytes: new Uint8Array([0, 1, 2, 254, 255]),
    emptyBytes: new Uint8Array(0),
    arr: ['a', 1, 2.5, true, null, ['nested', [1n << 62n]]],
    emptyArr: [],
    kv: { inner: 'v', n: 7, deeper: { x: [1, 2], y: null } },
    emptyKv: {},
    nul: null,
    '': 'empty key',
  };
  // A key that must stay an own property and never touch the prototype.
  Object.defineProperty(attrs, '__proto__', { value: 'own', enumerable: true, writable: true, configurable: true });
  return attrs;
}

/** Values nested `depth` arrays deep. */
export function nestedArrays(depth: number): AnyValue {
  let v: AnyValue = 'leaf';
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** Traces with two resources, several scopes, and spans using every field. */
export function richTraces(): Traces {
  return {
    resourceSpans: [
      {
        resource: {
          attributes: { 'service.name': 'checkout', 'service.instance.id': 'i-1', 'host.cpu.count': 8 },
          droppedAttributesCount: 2,
        },
        scopeSpans: [
          {
            scope: { name: 'io.metaflow.ebpf', version: '1.2.3', attributes: { 'scope.attr': true }, droppedAttributesCount: 1 },
            spans: [
              {
                traceId: '5b8efff798038103d269b633813fc60c',
                spanId: 'eee19b7ec3c1b174',
                traceState: 'vendor=abc,other=1',
                parentSpanId: 'eee19b7ec3c1b173',
                flags: 0x301,
                name: 'GET /api/users/{id}',
                kind: 2,
                startTimeUnixNano: 1544712660000000000n,
                endTimeUnixNano: 1544712661000000000n,
                attributes: everyValueKind(),
                droppedAttributesCount: 3,
                events: [
                  { timeUnixNano: 1544712660300000000n, name: 'ebpf.syscall', attributes: { fd: 12, op: 'read' }, droppedAttributesCount: 1 },
                  { timeUnixNano: 0n, name: '', attributes: {}, droppedAttributesCount: 0 },
                ],
                droppedEventsCount: 4,
                links: [
                  {
                    traceId: '0af7651916cd43dd8448eb211c80319c',
                    spanId: 'b7ad6b7169203331',
                    traceState: 'k=v',
                    attributes: { 'link.kind': 'follows' },
                    droppedAttributesCount: 5,
                    flags: 0x101,
                  },
                  { traceId: '', spanId: '', traceState: '', attributes: {}, droppedAttributesCount: 0, flags: 0 },
                ],
                droppedLinksCount: 6,
                status: { code: 2, message: 'upstream timed out' },
              },
              {
                traceId: '5b8efff798038103d269b633813fc60c',
                spanId: 'eee19b7ec3c1b173',
                traceState: '',
                parentSpanId: '',
                flags: 0,
                name: 'root',
                kind: 1,
                startTimeUnixNano: 18446744073709551615n,
                endTimeUnixNano: 1n,
                attributes: {},
                droppedAttributesCount: 0,
                events: [],
                droppedEventsCount: 0,
                links: [],
                droppedLinksCount: 0,
                status: { code: 1, message: '' },
              },
            ],
            schemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
          },
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
        schemaUrl: 'https://opentelemetry.io/schemas/1.21.0',
      },
      {
        resource: { attributes: {}, droppedAttributesCount: 0 },
        scopeSpans: [],
        schemaUrl: '',
      },
    ],
  };
}

/** Metrics of every type, with exemplars, flags, optional fields set and unset. */
export function richMetrics(): Metrics {
  return {
    resourceMetrics: [
      {
        resource: { attributes: { 'service.name': 'metrics-svc' }, droppedAttributesCount: 0 },
        scopeMetrics: [
          {
            scope: { name: 'meter', version: '0.9', attributes: { a: 'b' }, droppedAttributesCount: 0 },
            metrics: [
              {
                name: 'queue.depth',
                description: 'items waiting',
                unit: '{item}',
                metadata: { 'prometheus.type': 'gauge' },
                data: {
                  type: 'gauge',
                  dataPoints: [
                    {
                      attributes: { queue: 'a' },
                      startTimeUnixNano: 0n,
                      timeUnixNano: 1700000000000000000n,
                      exemplars: [
                        {
                          filteredAttributes: { 'user.id': 'u1' },
                          timeUnixNano: 1700000000000000001n,
                          value: 17,
                          isInt: true,
                          spanId: 'b7ad6b7169203331',
                          traceId: '0af7651916cd43dd8448eb211c80319c',
                        },
                        { filteredAttributes: {}, timeUnixNano: 0n, value: 0.125, isInt: false, spanId: '', traceId: '' },
                      ],
                      flags: 0,
                      value: -12,
                      isInt: true,
                    },
                    {
                      attributes: {},
                      startTimeUnixNano: 0n,
                      timeUnixNano: 1700000000000000000n,
                      exemplars: [],
                      flags: 1,
                      value: 0,
                      isInt: false,
                    },
                    {
                      attributes: {},
                      startTimeUnixNano: 0n,
                      timeUnixNano: 1n,
                      exemplars: [],
                      flags: 0,
                      value: -9223372036854775808n,
                      isInt: true,
                    },
                  ],
                },
              },
              {
                name: 'requests',
                description: '',
                unit: '1',
                metadata: {},
                data: {
                  type: 'sum',
                  aggregationTemporality: 1,
                  isMonotonic: true,
                  dataPoints: [
                    {
                      attributes: { code: 200 },
                      startTimeUnixNano: 1699999990000000000n,
                      timeUnixNano: 1700000000000000000n,
                      exemplars: [],
                      flags: 0,
                      value: 1234.5,
                      isInt: false,
                    },
                  ],
                },
              },
              {
                name: 'updown',
                description: '',
                unit: '',
                metadata: {},
                data: { type: 'sum', aggregationTemporality: 2, isMonotonic: false, dataPoints: [] },
              },
              {
                name: 'latency',
                description: 'request latency',
                unit: 'ms',
                metadata: {},
                data: {
                  type: 'histogram',
                  aggregationTemporality: 2,
                  dataPoints: [
                    {
                      attributes: { route: '/a' },
                      startTimeUnixNano: 1699999990000000000n,
                      timeUnixNano: 1700000000000000000n,
                      exemplars: [
                        { filteredAttributes: {}, timeUnixNano: 5n, value: 3.5, isInt: false, spanId: 'b7ad6b7169203331', traceId: '' },
                      ],
                      flags: 0,
                      count: 10,
                      sum: 0,
                      bucketCounts: [1, 2, 3, 4],
                      explicitBounds: [0.5, 1, 2.5],
                      min: 0,
                      max: 9.75,
                    },
                    {
                      attributes: {},
                      startTimeUnixNano: 0n,
                      timeUnixNano: 0n,
                      exemplars: [],
                      flags: 1,
                      count: 0,
                      bucketCounts: [],
                      explicitBounds: [],
                    },
                    {
                      attributes: {},
                      startTimeUnixNano: 0n,
                      timeUnixNano: 0n,
                      exemplars: [],
                      flags: 0,
                      count: 2 ** 40,
                      sum: -1.5,
                      bucketCounts: [2 ** 40],
                      explicitBounds: [],
                    },
                  ],
                },
              },
              {
                name: 'latency.exp',
                description: '',
                unit: 's',
                metadata: {},
                data: {
                  type: 'exponentialHistogram',
                  aggregationTemporality: 1,
                  dataPoints: [
                    {
                      attributes: { host: 'h' },
                      startTimeUnixNano: 1n,
                      timeUnixNano: 2n,
                      exemplars: [
                        { filteredAttributes: { k: 1 }, timeUnixNano: 3n, value: 9, isInt: true, spanId: '', traceId: '0af7651916cd43dd8448eb211c80319c' },
                      ],
                      flags: 0,
                      count: 12,
                      sum: 42.5,
                      scale: -3,
                      zeroCount: 2,
                      positive: { offset: -5, bucketCounts: [1, 0, 3, 300] },
                      negative: { offset: 7, bucketCounts: [2, 2 ** 35] },
                      min: -4,
                      max: 17,
                      zeroThreshold: 1e-9,
                    },
                    {
                      attributes: {},
                      startTimeUnixNano: 0n,
                      timeUnixNano: 0n,
                      exemplars: [],
                      flags: 0,
                      count: 0,
                      scale: 20,
                      zeroCount: 0,
                      positive: { offset: 0, bucketCounts: [] },
                      negative: { offset: 0, bucketCounts: [] },
                      zeroThreshold: 0,
                    },
                  ],
                },
              },
              {
                name: 'rpc.duration.summary',
                description: '',
                unit: '',
                metadata: {},
                data: {
                  type: 'summary',
                  dataPoints: [
                    {
                      attributes: { method: 'Get' },
                      startTimeUnixNano: 1n,
                      timeUnixNano: 2n,
                      exemplars: [],
                      flags: 1,
                      count: 100,
                      sum: 2500.75,
                      quantileValues: [
                        { quantile: 0, value: 0.5 },
                        { quantile: 0.5, value: 20 },
                        { quantile: 0.99, value: 0 },
                        { quantile: 1, value: 99.5 },
                      ],
                    },
                  ],
                },
              },
              { name: 'no.data', description: 'metric without data', unit: '', metadata: {}, data: { type: 'empty' } },
            ],
            schemaUrl: 'https://opentelemetry.io/schemas/1.24.0',
          },
        ],
        schemaUrl: 'https://example.com/resource-schema',
      },
    ],
  };
}

/** Log records with every field and body kind. */
export function richLogs(): Logs {
  return {
    resourceLogs: [
      {
        resource: { attributes: { 'service.name': 'logs-svc', 'host.name': 'h1' }, droppedAttributesCount: 1 },
        scopeLogs: [
          {
            scope: { name: 'logger', version: '3', attributes: { 'scope.k': 'v' }, droppedAttributesCount: 2 },
            logRecords: [
              {
                timeUnixNano: 1700000000123456789n,
                observedTimeUnixNano: 1700000000223456789n,
                severityNumber: 17,
                severityText: 'ERROR',
                body: 'connection refused: 10.0.0.7:5432 ' + 'é'.repeat(40),
                attributes: { 'exception.type': 'ECONNREFUSED', attempt: 3 },
                droppedAttributesCount: 1,
                flags: 1,
                traceId: '5b8efff798038103d269b633813fc60c',
                spanId: 'eee19b7ec3c1b174',
                eventName: 'db.connect.failed',
              },
              {
                timeUnixNano: 0n,
                observedTimeUnixNano: 1n,
                severityNumber: 0,
                severityText: '',
                body: { msg: 'structured', fields: [1, 'two', { three: 3 }], raw: new Uint8Array([9, 8, 7]) },
                attributes: {},
                droppedAttributesCount: 0,
                flags: 0,
                traceId: '',
                spanId: '',
                eventName: '',
              },
              {
                timeUnixNano: 5n,
                observedTimeUnixNano: 0n,
                severityNumber: 9,
                severityText: 'INFO',
                body: null,
                attributes: everyValueKind(),
                droppedAttributesCount: 0,
                flags: 0,
                traceId: '',
                spanId: '',
                eventName: '',
              },
              {
                timeUnixNano: 0n,
                observedTimeUnixNano: 0n,
                severityNumber: 5,
                severityText: '',
                body: -77,
                attributes: {},
                droppedAttributesCount: 0,
                flags: 0,
                traceId: '',
                spanId: '',
                eventName: 'int.body',
              },
            ],
            schemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
          },
        ],
        schemaUrl: '',
      },
    ],
  };
}
