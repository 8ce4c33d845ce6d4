/**
 * PostgreSQL: protocol inference from first bytes and the connection parser.
 * See ./parser.ts for what sessions carry.
 */
import { looksLikeSql } from '../sql';
import type { Confidence, Dir, ParserContext, ProtocolSpec } from '../types';
import { CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, POSTGRESQL, PostgresqlParser, SSL_REQUEST_CODE } from './parser';

/** The parser, its protocol name, bounds, counters and status rules (see ./parser.ts). */
export { PostgresqlParser, POSTGRESQL, MAX_STATEMENTS, postgresqlCounters, sqlStateStatus, affectedRows } from './parser';

const FRONTEND = 'BCDEFHPQSXcdfp';
const BACKEND = 'RKSZTDCENI123ntsGHWdcAVv';

function u32be(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}

/** An untyped startup-phase message filling `data`: StartupMessage 3.x, SSLRequest, GSSENCRequest, CancelRequest. */
function inferUntyped(b: Uint8Array): Confidence {
  if (b.length < 8) return 0;
  const len = u32be(b, 0);
  const code = u32be(b, 4);
  if (len !== b.length) return 0;
  if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) return len === 8 ? 2 : 0;
  if (code === CANCEL_REQUEST_CODE) return len === 16 ? 1 : 0;
  if (code >>> 16 !== 3 || len > 10000 || b[len - 1] !== 0) return 0;
  // key NUL value NUL … NUL, with a "user" key.
  const s = Buffer.from(b.buffer, b.byteOffset + 8, len - 8).toString('latin1');
  return s.startsWith('user\0') || s.includes('\0user\0') ? 2 : 1;
}

/**
 * A run of typed messages covering `data` (the last may be cut): certain when
 * it holds a Query/Parse with SQL (client) or an ErrorResponse with a SQLSTATE
 * or authentication request (server), plausible otherwise.
 */
function inferTyped(b: Uint8Array, dir: Dir): Confidence {
  const types = dir === 0 ? FRONTEND : BACKEND;
  let off = 0;
  let strong = false;
  let count = 0;
  while (off < b.length) {
    if (b.length - off < 5) return 0;
    const t = String.fromCharCode(b[off]);
    if (!types.includes(t)) return 0;
    const len = u32be(b, off + 1);
    if (len < 4 || len > 0x40000000) return 0;
    const bodyEnd = Math.min(b.length, off + 1 + len);
    if (dir === 0) {
      if (t === 'Q') {
        // A query string ends with its NUL.
        if (off + 1 + len <= b.length && b[off + len] !== 0) return 0;
        if (looksLikeSql(b, off + 5, bodyEnd)) strong = true;
      }
      if (t === 'P') {
        let j = off + 5;
        while (j < bodyEnd && b[j] !== 0) j++;
        if (looksLikeSql(b, j + 1, bodyEnd)) strong = true;
      }
      if ((t === 'S' || t === 'H') && len !== 4) return 0;
    } else {
      if (t === 'Z' && (len !== 5 || (bodyEnd > off + 5 && b[off + 5] !== 0x49 && b[off + 5] !== 0x54 && b[off + 5] !== 0x45))) return 0;
      if ((t === '1' || t === '2' || t === '3' || t === 'n' || t === 'I') && len !== 4) return 0;
      if (t === 'E' && bodyEnd > off + 6 && (b[off + 5] === 0x53 || b[off + 5] === 0x56)) strong = true;
      if (t === 'R' && len >= 8 && bodyEnd >= off + 9 && u32be(b, off + 5) <= 12) strong = true;
    }
    count++;
    off += 1 + len;
  }
  if (count === 0) return 0;
  return strong ? 2 : 1;
}

/** How sure we are that `data`, the first bytes of direction `dir`, is PostgreSQL. */
export function inferPostgresql(data: Uint8Array, dir: Dir): Confidence {
  try {
    if (dir === 0) {
      const u = inferUntyped(data);
      if (u > 0) return u;
    }
    return inferTyped(data, dir);
  } catch {
    return 0;
  }
}

/** The PostgreSQL protocol spec. */
export const postgresqlSpec: ProtocolSpec = {
  name: POSTGRESQL,
  transport: 'tcp',
  ports: [5432],
  infer(data: Uint8Array, dir: Dir): Confidence {
    return inferPostgresql(data, dir);
  },
  create(ctx: ParserContext): PostgresqlParser {
    return new PostgresqlParser(ctx);
  },
};

/** The spec under the name every protocol folder exports. */
export { postgresqlSpec as spec };
