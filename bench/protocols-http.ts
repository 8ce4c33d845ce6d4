/**
 * Workloads of the HTTP/1, HTTP/2 and gRPC parsers for `bench/protocols.ts`
 * (the machinery is `bench/lib/protocol-bench.ts`). Definitions only: run
 * them with `node dist/bench/protocols.js [seconds] HTTP,HTTP2`.
 *
 * - The DeepFlow conformance captures (flow_generator/http): the HTTP/1 ones
 *   (client-ip, httpv1, sw8) and the HTTP/2 + gRPC ones (the rest; replayed
 *   with both HTTP specs competing, since h2c_ascii starts as an HTTP/1.1
 *   `Upgrade: h2c`).
 * - Synthetic captures large enough for steady-state figures: HTTP/1.1
 *   keep-alive (GETs with browser-like headers, chunked and Content-Length
 *   bodies, POSTs), HTTP/2 (h2load-like: many concurrent streams,
 *   Huffman-coded headers with incremental indexing) and gRPC (unary calls
 *   with trailers).
 *
 * tshark extracts method, path and status (`http.*`, `http2.headers.*`).
 */
import { spec as http1Spec } from '../protocols/http1';
import { spec as http2Spec } from '../protocols/http2';
import { DATA, FLAG_END_HEADERS, FLAG_END_STREAM, HEADERS, PREFACE, SETTINGS } from '../protocols/http2/parser';
import { frame, hpackBlock, type HeaderRep } from '../protocols/http2/testkit';
import { printDefinitionsOnly, writeConversations, type Conversation, type ProtocolWorkload } from './lib/protocol-bench';

/**
 * HTTP/1.1 keep-alive connections, `perConn` requests each, in four kinds
 * taking turns: GET with a 1,200-byte Content-Length body, GET answered
 * chunked, GET answered 404, POST of a JSON body answered 201. Requests carry
 * browser-like headers, a traceparent and an X-Request-ID.
 */
function http1Conversations(connections: number, perConn: number): Conversation[] {
  const convs: Conversation[] = [];
  const ua = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
  for (let c = 0; c < connections; c++) {
    const steps: Conversation = [];
    for (let i = 0; i < perConn; i++) {
      const n = c * perConn + i;
      const kind = n % 4;
      const common = `Host: shop.example.com\r\nUser-Agent: ${ua}\r\nAccept: text/html,application/json;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\nCookie: session=abcdef0123456789; theme=dark\r\ntraceparent: 00-${n.toString(16).padStart(32, '0')}-00f067aa0ba902b7-01\r\nX-Request-ID: req-${n}\r\n`;
      if (kind === 3) {
        const body = JSON.stringify({ item: n, qty: 2, note: 'x'.repeat(200) });
        steps.push([0, Buffer.from(`POST /api/v1/cart/${n}/items HTTP/1.1\r\n${common}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`)]);
        steps.push([1, Buffer.from(`HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{"status":"ok"}\n`)]);
      } else {
        steps.push([0, Buffer.from(`GET /api/v1/products/${n}?fields=name,price HTTP/1.1\r\n${common}\r\n`)]);
        const body = 'p'.repeat(kind === 0 ? 1200 : 300);
        if (kind === 1) {
          steps.push([1, Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nServer: nginx\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`)]);
        } else if (kind === 2) {
          steps.push([1, Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 9\r\nServer: nginx\r\n\r\nnot found')]);
        } else {
          steps.push([1, Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nServer: nginx\r\nCache-Control: no-cache\r\n\r\n${body}`)]);
        }
      }
    }
    convs.push(steps);
  }
  return convs;
}

/**
 * A gRPC length-prefixed message. The payloads are valid protobuf: tshark
 * dissects them, and an exception in its protobuf dissector would stop its
 * HTTP/2 reassembly for the rest of the connection.
 */
function grpcMessage(body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/**
 * HTTP/2 connections, `perConn` streams each, in batches of 50 concurrent
 * streams answered in reverse order. Plain HTTP/2: GETs of 800-byte images;
 * gRPC: unary calls with a protobuf body, answered with headers, a message
 * and trailers (grpc-status 5 on every tenth). The first request inserts its
 * headers into the HPACK table and later ones reference them, as h2load and
 * grpc-js do.
 */
function http2Conversations(connections: number, perConn: number, grpc: boolean): Conversation[] {
  const convs: Conversation[] = [];
  for (let c = 0; c < connections; c++) {
    const steps: Conversation = [[0, Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, Buffer.from([0, 3, 0, 0, 0, 100]))])], [1, Buffer.concat([frame(SETTINGS, 0, 0), frame(SETTINGS, 1, 0)])]];
    // Batches of concurrent streams: requests first, then the responses in reverse order.
    for (let b = 0; b < perConn; b += 50) {
      const ids: number[] = [];
      const reqs: Buffer[] = [];
      for (let i = b; i < Math.min(perConn, b + 50); i++) {
        const id = 1 + 2 * i;
        ids.push(id);
        const first = i === 0;
        // The first request inserts its fields into the table; later ones reference them.
        const reps: HeaderRep[] = grpc
          ? [
              { indexed: 3 },
              { indexed: 6 },
              first ? { name: 4, value: '/shop.v1.Catalog/GetProduct', index: 'incremental', huffman: true } : { indexed: 65 },
              first ? { name: 1, value: 'catalog.shop.svc:50051', index: 'incremental', huffman: true } : { indexed: 64 },
              first ? { name: 31, value: 'application/grpc', index: 'incremental', huffman: true } : { indexed: 63 },
              first ? { name: 'te', value: 'trailers', index: 'incremental', huffman: true } : { indexed: 62 },
              { name: 'traceparent', value: `00-${(c * perConn + i).toString(16).padStart(32, '0')}-00f067aa0ba902b7-01`, huffman: true },
            ]
          : [
              { indexed: 2 },
              { indexed: 7 },
              { name: 4, value: `/static/img/${i}.png`, huffman: true },
              first ? { name: 1, value: 'www.example.com', index: 'incremental', huffman: true } : { indexed: 63 },
              first ? { name: 58, value: 'h2load nghttp2/1.52.0', index: 'incremental', huffman: true } : { indexed: 62 },
            ];
        reqs.push(frame(HEADERS, FLAG_END_HEADERS | (grpc ? 0 : FLAG_END_STREAM), id, hpackBlock(reps)));
        if (grpc) reqs.push(frame(DATA, FLAG_END_STREAM, id, grpcMessage(Buffer.concat([Buffer.from([0x08, 0x2a, 0x12, 0x08]), Buffer.from('product1')]))));
      }
      steps.push([0, Buffer.concat(reqs)]);
      const resps: Buffer[] = [];
      for (const id of ids.reverse()) {
        if (grpc) {
          resps.push(frame(HEADERS, FLAG_END_HEADERS, id, hpackBlock([{ indexed: 8 }, { name: 31, value: 'application/grpc', huffman: true }])));
          resps.push(frame(DATA, 0, id, grpcMessage(Buffer.concat([Buffer.from([0x0a, 58]), Buffer.alloc(58, 0x61)]))));
          resps.push(frame(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, id, hpackBlock([{ name: 'grpc-status', value: id % 10 === 1 ? '5' : '0' }])));
        } else {
          resps.push(frame(HEADERS, FLAG_END_HEADERS, id, hpackBlock([{ indexed: 8 }, { name: 31, value: 'image/png', huffman: true }, { name: 28, value: '800' }])));
          resps.push(frame(DATA, FLAG_END_STREAM, id, Buffer.alloc(800, 3)));
        }
      }
      steps.push([1, Buffer.concat(resps)]);
    }
    convs.push(steps);
  }
  return convs;
}


/** The conformance captures that are HTTP/1; the folder's others are HTTP/2 and gRPC. */
const HTTP1_CAPTURES = new Set(['client-ip.pcap', 'httpv1.pcap', 'sw8.pcap']);
const HTTP1_FIELDS = ['http.request.method', 'http.request.uri', 'http.response.code'];
const HTTP2_FIELDS = ['http2.headers.method', 'http2.headers.path', 'http2.headers.status'];

/** The HTTP/1 and HTTP/2 (gRPC) workloads: conformance, then synthetic. */
export const httpWorkloads: readonly ProtocolWorkload[] = [
  {
    spec: http1Spec,
    name: 'conformance HTTP/1',
    capture: { kind: 'conformance', folder: 'http', include: (f) => HTTP1_CAPTURES.has(f) },
    tshark: { fields: HTTP1_FIELDS, dissector: 'http' },
  },
  {
    spec: http1Spec,
    name: 'synthetic keep-alive, 10,000 requests',
    capture: { kind: 'synthetic', write: (f) => writeConversations(f, 8080, http1Conversations(40, 250)) },
    tshark: { fields: HTTP1_FIELDS, dissector: 'http' },
  },
  {
    spec: http2Spec,
    name: 'conformance HTTP/2 + gRPC',
    replaySpecs: [http1Spec, http2Spec],
    capture: { kind: 'conformance', folder: 'http', include: (f) => !HTTP1_CAPTURES.has(f) },
    tshark: { fields: HTTP2_FIELDS, dissector: 'http2' },
  },
  {
    spec: http2Spec,
    name: 'synthetic HTTP/2, 10,000 streams, 50 concurrent',
    capture: { kind: 'synthetic', write: (f) => writeConversations(f, 8443, http2Conversations(20, 500, false)) },
    tshark: { fields: HTTP2_FIELDS, dissector: 'http2' },
  },
  {
    spec: http2Spec,
    name: 'synthetic gRPC unary, 10,000 calls',
    capture: { kind: 'synthetic', write: (f) => writeConversations(f, 50051, http2Conversations(20, 500, true)) },
    tshark: { fields: HTTP2_FIELDS, dissector: 'http2' },
  },
];

if (require.main === module) printDefinitionsOnly('HTTP,HTTP2');
