/**
 * HTTP/2 and gRPC: inference and the {@link ProtocolSpec} the receivers use.
 * One spec covers both: sessions are `HTTP2`, or `gRPC` when the content type
 * is `application/grpc…`.
 */
import type { Confidence, Dir, ParserContext, ProtocolSpec } from '../types';
import { Http2Parser, inferHttp2 } from './parser';

/** The parser, its inference and the client preface. */
export { Http2Parser, inferHttp2, PREFACE } from './parser';
/** Options of the parser (h2c upgrade hand-over). */
export type { Http2ParserOptions } from './parser';
/** HPACK decoding (RFC 7541). */
export { HpackDecoder, huffmanDecode } from './hpack';

/** The HTTP/2 (+ gRPC) protocol spec. */
export const spec: ProtocolSpec = {
  name: 'HTTP2',
  transport: 'tcp',
  ports: [80, 443, 8080, 8443, 50051, 9090, 9000],
  infer(data: Uint8Array, _dir: Dir, _serverPort: number): Confidence {
    try {
      return inferHttp2(data);
    } catch {
      return 0;
    }
  },
  create(ctx: ParserContext) {
    return new Http2Parser(ctx);
  },
};
