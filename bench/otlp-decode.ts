/**
 * Micro-benchmark of the OTLP/protobuf trace codec (pipeline/otlp).
 *
 * Run: `npx tsc -p . && node dist/bench/otlp-decode.js [seconds]`
 *
 * Builds realistic ExportTraceServiceRequests — batches of 512 spans, each
 * with ~20 attributes of mixed types (repeated and unique strings, ints,
 * doubles, bools), 2 events, traces of 8 spans with parent links, and a
 * resource with 10 attributes — encodes them with our encoder, then times for
 * the given duration (default 5 s each):
 *
 * - our decode (bytes → pdata),
 * - our encode (pdata → bytes),
 * - the baseline: protobufjs static code generated from opentelemetry-proto
 *   (the decoder the OTel JS packages ship), decoding the same bytes into its
 *   message objects — which are not even pdata yet.
 *
 * Prints spans/s for each and the ratio of ours to the baseline.
 */

import { decodeTracesRequest, encodeTracesRequest } from '../pipeline/otlp';
import type { AnyValue, Attributes, Span, Traces } from '../pipeline/pdata';

interface ProtobufjsType {
  decode(b: Uint8Array): unknown;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const root = require('@opentelemetry/otlp-proto-exporter-base/build/src/generated/root') as {
  opentelemetry: { proto: { collector: { trace: { v1: { ExportTraceServiceRequest: ProtobufjsType } } } } };
};
const ProtobufjsRequest = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

const SPANS_PER_BATCH = 512;
const BATCHES = 8;

/** Deterministic PRNG (mulberry32), so every run measures the same data. */
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

function hex(rand: () => number, bytes: number): string {
  let s = '';
  for (let i = 0; i < bytes; i++) s += Math.floor(rand() * 256).toString(16).padStart(2, '0');
  return s;
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE'];
const HOSTS = ['api.example.com', 'auth.internal', 'orders.svc.cluster.local', 'payments.svc.cluster.local'];
const ROUTES = ['/api/v1/users/{id}', '/api/v1/orders/{id}/items', '/healthz', '/api/v2/search'];

function spanAttributes(rand: () => number, i: number): Attributes {
  const route = ROUTES[i % ROUTES.length];
  const id = Math.floor(rand() * 1e6);
  const attrs: Record<string, AnyValue> = {
    'http.request.method': METHODS[i % METHODS.length],
    'http.route': route,
    'url.path': route.replace('{id}', String(id)),
    'url.full': `https://${HOSTS[i % HOSTS.length]}${route.replace('{id}', String(id))}?page=${i % 7}`,
    'url.scheme': 'https',
    'http.response.status_code': [200, 200, 200, 404, 500][i % 5],
    'server.address': HOSTS[i % HOSTS.length],
    'server.port': 443,
    'client.address': `10.0.${i % 16}.${Math.floor(rand() * 255)}`,
    'network.protocol.version': '1.1',
    'user_agent.original': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
    'metaflow.capture.source': i % 2 ? 'ebpf' : 'packet',
    'metaflow.syscall.trace_id.request': Math.floor(rand() * 2 ** 48),
    'metaflow.tcp.seq.request': Math.floor(rand() * 2 ** 32),
    'metaflow.process.pid': 1000 + (i % 50),
    'metaflow.thread.id': 20000 + (i % 400),
    'metaflow.x_request_id': `${hex(rand, 4)}-${hex(rand, 2)}-${hex(rand, 2)}-${hex(rand, 2)}-${hex(rand, 6)}`,
    'http.server.request.duration': Math.round(rand() * 1e6) / 1e3 + 0.5,
    'http.request.body.size': Math.floor(rand() * 10000),
    'metaflow.tls': i % 3 === 0,
  };
  return attrs;
}

/** One realistic batch; `seed` varies the unique values. */
export function buildBatch(seed: number): Traces {
  const rand = prng(seed);
  const spans: Span[] = [];
  const base = 1_700_000_000_000_000_000n + BigInt(seed) * 1_000_000_000n;
  let traceId = '';
  let rootId = '';
  for (let i = 0; i < SPANS_PER_BATCH; i++) {
    const spanId = hex(rand, 8);
    if (i % 8 === 0) {
      traceId = hex(rand, 16);
      rootId = spanId;
    }
    const start = base + BigInt(i) * 1_000_000n;
    spans.push({
      traceId,
      spanId,
      traceState: '',
      parentSpanId: i % 8 === 0 ? '' : rootId,
      flags: 0x101,
      name: `${METHODS[i % METHODS.length]} ${ROUTES[i % ROUTES.length]}`,
      kind: i % 8 === 0 ? 2 : 3,
      startTimeUnixNano: start,
      endTimeUnixNano: start + BigInt(Math.floor(rand() * 5e8)),
      attributes: spanAttributes(rand, i),
      droppedAttributesCount: 0,
      events: [
        {
          timeUnixNano: start + 1000n,
          name: 'request.sent',
          attributes: { 'message.type': 'SENT', 'message.id': i, 'message.uncompressed_size': 512 },
          droppedAttributesCount: 0,
        },
        {
          timeUnixNano: start + 200000n,
          name: 'response.received',
          attributes: { 'message.type': 'RECEIVED', 'message.id': i, 'message.uncompressed_size': 2048 },
          droppedAttributesCount: 0,
        },
      ],
      droppedEventsCount: 0,
      links: [],
      droppedLinksCount: 0,
      status: i % 5 === 4 ? { code: 2, message: 'Internal Server Error' } : { code: 0, message: '' },
    });
  }
  return {
    resourceSpans: [
      {
        resource: {
          attributes: {
            'service.name': 'checkout',
            'service.version': '1.4.2',
            'service.instance.id': hex(rand, 16),
            'host.name': 'node-17.prod.example.com',
            'host.arch': 'amd64',
            'os.type': 'linux',
            'k8s.namespace.name': 'shop',
            'k8s.pod.name': `checkout-7d9f8c-${hex(rand, 3)}`,
            'k8s.node.name': 'node-17',
            'process.pid': 4242,
          },
          droppedAttributesCount: 0,
        },
        scopeSpans: [
          {
            scope: { name: 'metaflow.ebpf', version: '0.1.0', attributes: {}, droppedAttributesCount: 0 },
            spans,
            schemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
          },
        ],
        schemaUrl: '',
      },
    ],
  };
}

/** Runs `fn` (which handles one batch of SPANS_PER_BATCH spans) for `seconds`; returns spans/s. */
function measure(name: string, seconds: number, fn: (i: number) => void): number {
  // Warm up so the measured part runs optimized code.
  for (let i = 0; i < 50; i++) fn(i);
  const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const start = process.hrtime.bigint();
  let batches = 0;
  let now = start;
  while (now < deadline) {
    for (let k = 0; k < 10; k++) fn(batches++);
    now = process.hrtime.bigint();
  }
  const rate = (batches * SPANS_PER_BATCH) / (Number(now - start) / 1e9);
  console.log(`${name.padEnd(34)} ${Math.round(rate).toLocaleString('en-US').padStart(12)} spans/s`);
  return rate;
}

function main(): void {
  const seconds = Number(process.argv[2] ?? 5);
  const batches: Traces[] = [];
  const encoded: Buffer[] = [];
  for (let i = 0; i < BATCHES; i++) {
    batches.push(buildBatch(i + 1));
    encoded.push(encodeTracesRequest(batches[i]));
  }
  const bytes = encoded.reduce((n, b) => n + b.length, 0) / BATCHES;
  console.log(
    `OTLP trace codec: batches of ${SPANS_PER_BATCH} spans, ~20 attributes + 2 events each, ` +
      `${Math.round(bytes / 1024)} KiB per batch (${Math.round(bytes / SPANS_PER_BATCH)} B/span), node ${process.version}`,
  );
  let sink = 0;
  const decode = measure('decode (pipeline/otlp)', seconds, (i) => {
    sink += decodeTracesRequest(encoded[i % BATCHES]).resourceSpans.length;
  });
  const encode = measure('encode (pipeline/otlp)', seconds, (i) => {
    sink += encodeTracesRequest(batches[i % BATCHES]).length;
  });
  const baseline = measure('baseline: protobufjs root decode', seconds, (i) => {
    sink += ProtobufjsRequest.decode(encoded[i % BATCHES]) ? 1 : 0;
  });
  console.log(`decode ratio ours/protobufjs: ${(decode / baseline).toFixed(2)}x`);
  console.log(`encode/decode: ${(encode / decode).toFixed(2)}x`);
  if (sink < 0) console.log(sink);
}

if (require.main === module) main();
