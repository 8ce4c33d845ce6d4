/**
 * The NATS protocol spec (client protocol over TCP). See `parser.ts` for the fields.
 */
import type { Confidence, Dir, ParserContext, ProtocolSpec } from '../types';
import { NatsParser } from './parser';

export { NatsParser, NATS_MALFORMED } from './parser';

function startsWith(d: Uint8Array, prefix: string, caseless = true): boolean {
  if (d.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) {
    let c = d[i];
    if (caseless && c >= 0x61 && c <= 0x7a) c -= 0x20;
    if (c !== prefix.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * The server's greeting (`INFO {"server_id":…}`) and the client's
 * `CONNECT {…}` are certain; other operations (a capture that starts later)
 * plausible when their line is complete.
 */
function inferNats(d: Uint8Array, dir: Dir): Confidence {
  const lf = d.indexOf(10);
  if (lf < 0 || d[lf - 1] !== 13) return 0;
  const line = Buffer.from(d.buffer, d.byteOffset, Math.min(lf - 1, 4096)).toString('latin1');
  if (dir === 1) {
    if (startsWith(d, 'INFO {')) return line.includes('"server_id"') ? 2 : 1;
    if (/^(MSG|HMSG) \S+ \S+ (\S+ )?\d+( \d+)?$/i.test(line)) return 1;
    if (line === '+OK' || line === 'PING' || line === 'PONG' || /^-ERR '.*'$/.test(line)) return 1;
    return 0;
  }
  if (startsWith(d, 'CONNECT {')) return 2;
  if (/^(PUB \S+ (\S+ )?\d+|HPUB \S+ (\S+ )?\d+ \d+|SUB \S+ (\S+ )?\S+)$/i.test(line)) return 1;
  if (line === 'PING' || line === 'PONG') return 1;
  return 0;
}

/** NATS over TCP. */
export const spec: ProtocolSpec = {
  name: 'NATS',
  transport: 'tcp',
  ports: [4222],
  infer(data: Uint8Array, dir: Dir): Confidence {
    try {
      return inferNats(data, dir);
    } catch {
      return 0;
    }
  },
  create(ctx: ParserContext) {
    return new NatsParser(ctx);
  },
};
