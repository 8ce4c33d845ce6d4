/**
 * TLS: the `ProtocolSpec` for the TLS handshake (port 443 as a hint).
 * See {@link TlsParser} for the fields it reports.
 */
import type { ProtocolSpec } from '../types';
import { inferTls, TlsParser } from './parser';

/** The TLS protocol spec. */
export const spec: ProtocolSpec = {
  name: 'TLS',
  transport: 'tcp',
  ports: [443],
  infer: (data, dir) => inferTls(data, dir),
  create: (ctx) => new TlsParser(ctx),
};

/** The parser and the helpers its tests and benchmarks use. */
export { TlsParser, inferTls } from './parser';
