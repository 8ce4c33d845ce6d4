/**
 * MySQL: protocol inference from first bytes and the connection parser.
 * See ./parser.ts for what sessions carry.
 */
import { inflateSync } from 'node:zlib';
import { looksLikeSql } from '../sql';
import type { Confidence, Dir, ParserContext, ProtocolSpec } from '../types';
import { CLIENT_PROTOCOL_41, COM_QUERY, COM_STMT_PREPARE, ERR, OK, isClientCommand } from './constants';
import { MYSQL, MysqlParser } from './parser';

/** The parser, its protocol name, bounds and counters (see ./parser.ts). */
export { MysqlParser, MYSQL, MAX_PREPARED_STATEMENTS, mysqlCounters } from './parser';
/** Command names by command byte. */
export { commandName } from './constants';

function u24(b: Uint8Array, off: number): number {
  return b[off] | (b[off + 1] << 8) | (b[off + 2] << 16);
}

/** A plain packet at `off`: how sure are we it is a MySQL request (dir 0) or response (dir 1)? */
function inferPacket(b: Uint8Array, off: number, end: number, dir: Dir): Confidence {
  if (end - off < 5) return 0;
  const len = u24(b, off);
  const seq = b[off + 3];
  const b0 = b[off + 4];
  const exact = len + 4 === end - off;
  if (len === 0) return 0;
  if (dir === 0) {
    if (seq === 0 && isClientCommand(b0)) {
      if (b0 === COM_QUERY || b0 === COM_STMT_PREPARE) {
        if (!looksLikeSql(b, off + 5, end)) return 0;
        return exact || len + 4 > end - off ? 2 : 1;
      }
      return exact && len < 64 ? 1 : 0;
    }
    if (seq === 1 && len >= 32 && end - off >= 36) {
      // HandshakeResponse41 or SSLRequest: capabilities with PROTOCOL_41, then 23 filler bytes,
      // zero but for the last 4 (MariaDB's extended capabilities).
      const caps = b[off + 4] | (b[off + 5] << 8);
      if (!(caps & CLIENT_PROTOCOL_41)) return 0;
      for (let j = off + 13; j < off + 32; j++) if (b[j] !== 0) return 0;
      return 2;
    }
    return 0;
  }
  if (seq === 0 && (b0 === 10 || b0 === 9)) {
    // Server greeting: protocol 10, a version like "8.0.21" or "10.11.6-MariaDB", NUL.
    let j = off + 5;
    if (j >= end || b[j] < 0x30 || b[j] > 0x39) return 0;
    const stop = Math.min(end, off + 5 + 64);
    for (; j < stop; j++) {
      const c = b[j];
      if (c === 0) return len >= 30 && len < 1024 ? 2 : 0;
      if (c < 0x20 || c > 0x7e) return 0;
    }
    return 0;
  }
  if (seq === 1 && exact && (b0 === OK || b0 === ERR) && len < 1024) return 1;
  return 0;
}

/**
 * How sure we are that `data`, the first bytes of direction `dir`, is MySQL:
 * a server greeting, a HandshakeResponse/SSLRequest, a COM_QUERY or
 * COM_STMT_PREPARE with SQL text (certain); a short command or OK/ERR of the
 * exact chunk length (plausible); the same inside a compressed frame.
 */
export function inferMysql(data: Uint8Array, dir: Dir): Confidence {
  try {
    const plain = inferPacket(data, 0, data.length, dir);
    if (plain > 0 || data.length < 12) return plain;
    // A compressed frame: compressed length, sequence, uncompressed length (0: stored raw).
    const compLen = u24(data, 0);
    const uncomp = u24(data, 4);
    if (compLen === 0 || compLen + 7 < data.length) return 0;
    if (uncomp === 0) return compLen + 7 === data.length ? inferPacket(data, 7, data.length, dir) : 0;
    if (data[7] !== 0x78 || ((data[7] << 8) | data[8]) % 31 !== 0 || compLen + 7 !== data.length || uncomp > 65536) return 0;
    const inner = inflateSync(data.subarray(7), { maxOutputLength: uncomp });
    const c = inferPacket(inner, 0, inner.length, dir);
    return c > 0 ? c : dir === 1 ? 1 : 0;
  } catch {
    return 0;
  }
}

/** The MySQL protocol spec. */
export const mysqlSpec: ProtocolSpec = {
  name: MYSQL,
  transport: 'tcp',
  ports: [3306],
  infer(data: Uint8Array, dir: Dir): Confidence {
    return inferMysql(data, dir);
  },
  create(ctx: ParserContext): MysqlParser {
    return new MysqlParser(ctx);
  },
};

/** The spec under the name every protocol folder exports. */
export { mysqlSpec as spec };
