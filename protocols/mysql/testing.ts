/**
 * Builders of MySQL protocol bytes for tests (ours and other components'):
 * packets, compressed frames, the handshake, OK/ERR/EOF, result sets and
 * prepared-statement replies, laid out as the protocol documentation says.
 */
import { deflateSync } from 'node:zlib';
import { CLIENT_CONNECT_WITH_DB, CLIENT_PLUGIN_AUTH, CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, CLIENT_PROTOCOL_41, CLIENT_SECURE_CONNECTION } from './constants';

/** Bytes of a string, UTF-8. */
export function utf8(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

/** A length-encoded integer. */
export function lenencInt(n: number): Buffer {
  if (n < 0xfb) return Buffer.from([n]);
  if (n < 0x10000) return Buffer.from([0xfc, n & 0xff, n >> 8]);
  if (n < 0x1000000) return Buffer.from([0xfd, n & 0xff, (n >> 8) & 0xff, n >> 16]);
  const b = Buffer.alloc(9);
  b[0] = 0xfe;
  b.writeBigUInt64LE(BigInt(n), 1);
  return b;
}

/** A length-encoded string. */
export function lenencStr(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? utf8(s) : s;
  return Buffer.concat([lenencInt(b.length), b]);
}

/** One packet: 3-byte length, sequence id, payload (no 16 MB split: see {@link packets}). */
export function packet(seq: number, payload: Buffer | number[]): Buffer {
  const p = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const h = Buffer.alloc(4);
  h.writeUIntLE(p.length, 0, 3);
  h[3] = seq & 0xff;
  return Buffer.concat([h, p]);
}

/** A payload split into packets of at most 0xFFFFFF bytes (an exact multiple ends with an empty packet). */
export function packets(seq: number, payload: Buffer): Buffer {
  const parts: Buffer[] = [];
  let off = 0;
  for (;;) {
    const n = Math.min(0xffffff, payload.length - off);
    parts.push(packet(seq++, payload.subarray(off, off + n)));
    off += n;
    if (n < 0xffffff) break;
  }
  return Buffer.concat(parts);
}

/** A compressed frame around `inner` (packets): deflated, or stored raw when `raw`. */
export function frame(seq: number, inner: Buffer, raw = false): Buffer {
  const body = raw ? inner : deflateSync(inner);
  const h = Buffer.alloc(7);
  h.writeUIntLE(body.length, 0, 3);
  h[3] = seq & 0xff;
  h.writeUIntLE(raw ? 0 : inner.length, 4, 3);
  return Buffer.concat([h, body]);
}

/** A protocol-10 server greeting payload. */
export function greeting(version: string, caps: number): Buffer {
  return Buffer.concat([
    Buffer.from([10]),
    utf8(version),
    Buffer.from([0]),
    Buffer.from([1, 0, 0, 0]), // thread id
    utf8('abcdefgh'), // auth-plugin-data part 1
    Buffer.from([0, caps & 0xff, (caps >> 8) & 0xff, 0x21, 2, 0, (caps >> 16) & 0xff, (caps >>> 24) & 0xff, 21]),
    Buffer.alloc(10),
    utf8('ijklmnopqrst'),
    Buffer.from([0]),
    utf8('mysql_native_password'),
    Buffer.from([0]),
  ]);
}

/** Capabilities of a typical modern client, without compression or DEPRECATE_EOF. */
export const BASE_CAPS = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_CONNECT_WITH_DB;

/** A HandshakeResponse41 payload. */
export function handshakeResponse(caps: number, user: string, auth: Buffer, db: string): Buffer {
  const head = Buffer.alloc(32);
  head.writeUInt32LE(caps >>> 0, 0);
  head.writeUInt32LE(16777216, 4);
  head[8] = 0x21;
  const withDb = (caps & CLIENT_CONNECT_WITH_DB) !== 0;
  return Buffer.concat([head, utf8(user), Buffer.from([0]), lenencStr(auth), withDb ? Buffer.concat([utf8(db), Buffer.from([0])]) : Buffer.alloc(0), utf8('mysql_native_password'), Buffer.from([0])]);
}

/** An SSLRequest payload (32 bytes). */
export function sslRequest(caps: number): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt32LE(caps >>> 0, 0);
  b.writeUInt32LE(16777216, 4);
  b[8] = 0x21;
  return b;
}

/** An OK payload (header 0x00, or 0xFE for the OK ending a result set under DEPRECATE_EOF). */
export function ok(affected = 0, status = 2, header = 0, insertId = 0): Buffer {
  return Buffer.concat([Buffer.from([header]), lenencInt(affected), lenencInt(insertId), Buffer.from([status & 0xff, status >> 8, 0, 0])]);
}

/** An ERR payload. */
export function err(code: number, state: string, message: string): Buffer {
  return Buffer.concat([Buffer.from([0xff, code & 0xff, code >> 8]), utf8('#' + state), utf8(message)]);
}

/** A protocol-4.1 EOF payload. */
export function eof(status = 2): Buffer {
  return Buffer.from([0xfe, 0, 0, status & 0xff, status >> 8]);
}

/** A column definition payload. */
export function columnDef(name: string): Buffer {
  return Buffer.concat([lenencStr('def'), lenencStr('db'), lenencStr('t'), lenencStr('t'), lenencStr(name), lenencStr(name), Buffer.from([0x0c, 0x21, 0, 0xff, 0, 0, 0, 0xfd, 0, 0, 0, 0, 0])]);
}

/** A text-protocol row payload. */
export function textRow(values: string[]): Buffer {
  return Buffer.concat(values.map((v) => lenencStr(v)));
}

/**
 * A whole text result set response (packets from sequence id 1): column
 * count, definitions, [EOF], rows, then EOF or (deprecateEof) OK-0xFE.
 */
export function resultSet(columns: string[], rows: string[][], deprecateEof = false, status = 2): Buffer {
  let seq = 1;
  const parts = [packet(seq++, lenencInt(columns.length))];
  for (const c of columns) parts.push(packet(seq++, columnDef(c)));
  if (!deprecateEof) parts.push(packet(seq++, eof(status)));
  for (const r of rows) parts.push(packet(seq++, textRow(r)));
  parts.push(packet(seq++, deprecateEof ? ok(0, status, 0xfe) : eof(status)));
  return Buffer.concat(parts);
}

/** A COM_* request packet (sequence id 0). */
export function command(cmd: number, body: Buffer | string = Buffer.alloc(0)): Buffer {
  return packet(0, Buffer.concat([Buffer.from([cmd]), typeof body === 'string' ? utf8(body) : body]));
}

/** A 4-byte little-endian integer. */
export function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

/** The COM_STMT_PREPARE OK reply with its parameter and column definitions. */
export function prepareOk(stmtId: number, params: number, columns: number, deprecateEof = false): Buffer {
  let seq = 1;
  const head = Buffer.concat([Buffer.from([0]), u32le(stmtId), Buffer.from([columns & 0xff, columns >> 8, params & 0xff, params >> 8, 0, 0, 0])]);
  const parts = [packet(seq++, head)];
  for (let i = 0; i < params; i++) parts.push(packet(seq++, columnDef('?')));
  if (params > 0 && !deprecateEof) parts.push(packet(seq++, eof()));
  for (let i = 0; i < columns; i++) parts.push(packet(seq++, columnDef(`c${i}`)));
  if (columns > 0 && !deprecateEof) parts.push(packet(seq++, eof()));
  return Buffer.concat(parts);
}
