/**
 * HTTP/1.x: inference and the {@link ProtocolSpec} the receivers use.
 * Parsing is in parser.ts; header semantics shared with HTTP/2 in semantics.ts.
 */
import type { Confidence, Dir, ParserContext, ProtocolSpec } from '../types';
import { Http1Parser, knownMethod } from './parser';

/** The parser and the shared HTTP semantics, for receivers and tests. */
export { Http1Parser, KNOWN_METHODS } from './parser';
/** Endpoint and status rules shared with HTTP/2. */
export { httpEndpoint, grpcRoute, grpcStatus, httpStatus } from './semantics';

/**
 * How sure we are that `data` (the first bytes of one direction) is HTTP/1:
 * a status line (`HTTP/1.x NNN`) or a complete request line with a known
 * method is certain; a request line with an unknown method token, or the
 * start of one with a known method, is plausible. `PRI * HTTP/2.0` is not
 * HTTP/1 (the version must be 1.x).
 */
export function inferHttp1(data: Uint8Array): Confidence {
  const n = data.length;
  if (n < 4) return 0;
  if (data[0] === 0x48 && data[1] === 0x54 && data[2] === 0x54 && data[3] === 0x50) {
    // "HTTP/1.d ddd"
    const want = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e];
    const m = Math.min(n, 7);
    for (let i = 4; i < m; i++) if (data[i] !== want[i]) return 0;
    if (n < 12) return n >= 7 ? 1 : 0;
    if (data[7] < 0x30 || data[7] > 0x39 || data[8] !== 0x20) return 0;
    for (let i = 9; i < 12; i++) if (data[i] < 0x30 || data[i] > 0x39) return 0;
    return 2;
  }
  // Method token, then SP.
  let sp = 0;
  while (sp < n && sp < 21 && data[sp] !== 0x20) {
    const c = data[sp];
    if (!((c >= 0x41 && c <= 0x5a) || c === 0x2d || c === 0x5f)) return 0;
    sp++;
  }
  if (sp < 3 || sp >= n || data[sp] !== 0x20) return 0;
  const known = knownMethod(data, 0, sp) !== '';
  // The rest of the first line must end in " HTTP/1.d".
  let lf = sp + 1;
  while (lf < n && data[lf] !== 0x0a) lf++;
  if (lf >= n) {
    const t = sp + 1 < n ? data[sp + 1] : 0x2f;
    return known && (t === 0x2f || t === 0x2a || t === 0x68 || (t >= 0x30 && t <= 0x7a)) ? 1 : 0;
  }
  const lineEnd = lf > 0 && data[lf - 1] === 0x0d ? lf - 1 : lf;
  if (lineEnd - sp < 11) return 0;
  const v = lineEnd - 9;
  const tail = [0x20, 0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e];
  for (let i = 0; i < 8; i++) if (data[v + i] !== tail[i]) return 0;
  if (data[v + 8] < 0x30 || data[v + 8] > 0x39) return 0;
  return known ? 2 : 1;
}

/** The HTTP/1.x protocol spec. */
export const spec: ProtocolSpec = {
  name: 'HTTP',
  transport: 'tcp',
  ports: [80, 8080, 8000, 3000, 8008, 8081, 8888, 5000, 9000],
  infer(data: Uint8Array, _dir: Dir, _serverPort: number): Confidence {
    try {
      return inferHttp1(data);
    } catch {
      return 0;
    }
  },
  create(ctx: ParserContext) {
    return new Http1Parser(ctx);
  },
};
