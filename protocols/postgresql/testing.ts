/**
 * Builders of PostgreSQL protocol 3.0 messages for tests, laid out as the
 * frontend/backend protocol documentation says.
 */

/** A NUL-terminated string. */
export function cstr(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n, 0);
  return b;
}

function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n, 0);
  return b;
}

/** A typed message: type byte, length (counting itself), body. */
export function msg(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([Buffer.from(type, 'latin1'), int32(body.length + 4), body]);
}

/** StartupMessage for protocol 3.0. */
export function startup(params: Record<string, string>): Buffer {
  const body = Buffer.concat([int32(196608), ...Object.entries(params).map(([k, v]) => Buffer.concat([cstr(k), cstr(v)])), Buffer.from([0])]);
  return Buffer.concat([int32(body.length + 4), body]);
}

/** SSLRequest (GSSENCRequest with `gss`). */
export function sslRequest(gss = false): Buffer {
  return Buffer.concat([int32(8), int32(gss ? 80877104 : 80877103)]);
}

/** CancelRequest. */
export function cancelRequest(pid: number, key: number): Buffer {
  return Buffer.concat([int32(16), int32(80877102), int32(pid), int32(key)]);
}

/** Frontend Query (simple query). */
export const query = (sql: string) => msg('Q', cstr(sql));
/** Frontend Parse: statement name, SQL, parameter type OIDs. */
export const parse = (name: string, sql: string, oids: number[] = []) => msg('P', Buffer.concat([cstr(name), cstr(sql), int16(oids.length), ...oids.map(int32)]));
/** Frontend Bind: portal, statement, text parameters (null for NULL). */
export const bind = (portal: string, stmt: string, params: Array<string | null> = []) =>
  msg(
    'B',
    Buffer.concat([
      cstr(portal),
      cstr(stmt),
      int16(0),
      int16(params.length),
      ...params.map((p) => (p === null ? int32(-1) : Buffer.concat([int32(Buffer.byteLength(p)), Buffer.from(p)]))),
      int16(0),
    ]),
  );
/** Frontend Describe of a statement (S) or portal (P). */
export const describe = (kind: 'S' | 'P', name: string) => msg('D', Buffer.concat([Buffer.from(kind), cstr(name)]));
/** Frontend Execute of a portal, with a row limit (0: all). */
export const execute = (portal: string, maxRows = 0) => msg('E', Buffer.concat([cstr(portal), int32(maxRows)]));
/** Frontend Close of a statement (S) or portal (P). */
export const close = (kind: 'S' | 'P', name: string) => msg('C', Buffer.concat([Buffer.from(kind), cstr(name)]));
/** Frontend Sync. */
export const sync = () => msg('S');
/** Frontend Flush. */
export const flush = () => msg('H');
/** Frontend Terminate. */
export const terminate = () => msg('X');
/** Frontend PasswordMessage. */
export const password = (p: string) => msg('p', cstr(p));
/** Frontend FunctionCall without arguments. */
export const functionCall = (oid: number) => msg('F', Buffer.concat([int32(oid), int16(0), int16(0), int16(0)]));
/** CopyData (either side). */
export const copyData = (data: string) => msg('d', Buffer.from(data));
/** CopyDone (either side). */
export const copyDone = () => msg('c');

/** Backend AuthenticationRequest with its code and data. */
export const authentication = (code: number, extra: Buffer = Buffer.alloc(0)) => msg('R', Buffer.concat([int32(code), extra]));
/** Backend ParameterStatus. */
export const parameterStatus = (k: string, v: string) => msg('S', Buffer.concat([cstr(k), cstr(v)]));
/** Backend BackendKeyData. */
export const backendKeyData = (pid: number, key: number) => msg('K', Buffer.concat([int32(pid), int32(key)]));
/** Backend ReadyForQuery with its transaction status. */
export const readyForQuery = (status = 'I') => msg('Z', Buffer.from(status));
/** Backend RowDescription of text columns. */
export const rowDescription = (cols: string[]) =>
  msg('T', Buffer.concat([int16(cols.length), ...cols.map((c) => Buffer.concat([cstr(c), int32(0), int16(0), int32(25), int16(-1), int32(-1), int16(0)]))]));
/** Backend DataRow (null for NULL). */
export const dataRow = (values: Array<string | null>) =>
  msg('D', Buffer.concat([int16(values.length), ...values.map((v) => (v === null ? int32(-1) : Buffer.concat([int32(Buffer.byteLength(v)), Buffer.from(v)])))]));
/** Backend CommandComplete with its tag. */
export const commandComplete = (tag: string) => msg('C', cstr(tag));
/** Backend EmptyQueryResponse. */
export const emptyQuery = () => msg('I');
/** Backend ParseComplete. */
export const parseComplete = () => msg('1');
/** Backend BindComplete. */
export const bindComplete = () => msg('2');
/** Backend CloseComplete. */
export const closeComplete = () => msg('3');
/** Backend NoData. */
export const noData = () => msg('n');
/** Backend PortalSuspended. */
export const portalSuspended = () => msg('s');
/** Backend ParameterDescription. */
export const parameterDescription = (oids: number[]) => msg('t', Buffer.concat([int16(oids.length), ...oids.map(int32)]));
/** Backend FunctionCallResponse. */
export const functionCallResponse = (value: string) => msg('V', Buffer.concat([int32(value.length), Buffer.from(value)]));
/** Backend CopyOutResponse (text). */
export const copyOutResponse = (cols: number) => msg('H', Buffer.concat([Buffer.from([0]), int16(cols), ...Array.from({ length: cols }, () => int16(0))]));
/** Backend CopyInResponse (text). */
export const copyInResponse = (cols: number) => msg('G', Buffer.concat([Buffer.from([0]), int16(cols), ...Array.from({ length: cols }, () => int16(0))]));
/** Backend NotificationResponse. */
export const notification = (pid: number, channel: string, payload: string) => msg('A', Buffer.concat([int32(pid), cstr(channel), cstr(payload)]));

/** ErrorResponse (or NoticeResponse with type 'N') from fields such as { S: 'ERROR', V: 'ERROR', C: '42P01', M: '…' }. */
export function errorResponse(fields: Record<string, string>, type = 'E'): Buffer {
  return msg(type, Buffer.concat([...Object.entries(fields).map(([k, v]) => Buffer.concat([Buffer.from(k), cstr(v)])), Buffer.from([0])]));
}
