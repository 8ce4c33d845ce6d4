import type { FeedFlags, L7Session, ParserOptions } from '../types';
import { DEFAULT_PARSER_OPTIONS } from '../types';
import { CLIENT_COMPRESS, CLIENT_DEPRECATE_EOF, CLIENT_SSL, COM_INIT_DB, COM_PING, COM_QUERY, COM_QUIT, COM_STMT_CLOSE, COM_STMT_EXECUTE, COM_STMT_PREPARE, COM_STMT_SEND_LONG_DATA } from './constants';
import { inferMysql, mysqlSpec } from './index';
import {
  BASE_CAPS,
  columnDef,
  command,
  eof,
  err,
  frame,
  greeting,
  handshakeResponse,
  lenencInt,
  ok,
  packet,
  packets,
  prepareOk,
  resultSet,
  sslRequest,
  textRow,
  u32le,
  utf8,
} from './testing';

function harness(opts: Partial<ParserOptions> = {}) {
  const sessions: L7Session[] = [];
  const malformed: string[] = [];
  const ctx = { options: { ...DEFAULT_PARSER_OPTIONS, ...opts }, emit: (s: L7Session) => sessions.push(s), malformed: (r: string) => malformed.push(r) };
  const parser = mysqlSpec.create(ctx);
  let t = 1_000_000n;
  return {
    parser,
    sessions,
    malformed,
    req(b: Uint8Array, flags: FeedFlags = {}) {
      parser.feed(0, b, (t += 1000n), flags);
    },
    resp(b: Uint8Array, flags: FeedFlags = {}) {
      parser.feed(1, b, (t += 1000n), flags);
    },
    get now() {
      return t;
    },
  };
}

/** A connection through login (server 8.0.36, user app, database shop). */
function loggedIn(caps = BASE_CAPS, opts: Partial<ParserOptions> = {}) {
  const h = harness(opts);
  h.resp(packet(0, greeting('8.0.36', caps)));
  h.req(packet(1, handshakeResponse(caps, 'app', utf8('SECRET-AUTH-DATA'), 'shop')));
  h.resp(packet(2, ok()));
  return h;
}

describe('MySQL connection phase', () => {
  test('greeting and HandshakeResponse: user and database, server version, auth data never kept', () => {
    const h = loggedIn();
    expect(h.sessions).toHaveLength(1);
    const s = h.sessions[0];
    expect(s.l7_protocol).toBe('MySQL');
    expect(s.request_type).toBe('LOGIN');
    expect(s.request_domain).toBe('shop');
    expect(s.version).toBe('10');
    expect(s.response_status).toBe('ok');
    expect(s.attributes['db.user']).toBe('app');
    expect(s.attributes['db.server_version']).toBe('8.0.36');
    expect(s.response_result).toBe('');
    expect(JSON.stringify(s, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain('SECRET');
    // From the HandshakeResponse to the OK.
    expect(s.duration_ns).toBe(1000n);
  });

  test('authentication switch and more-data exchanges end at the OK', () => {
    const h = harness();
    h.resp(packet(0, greeting('10.11.6-MariaDB', BASE_CAPS)));
    h.req(packet(1, handshakeResponse(BASE_CAPS, 'root', Buffer.alloc(0), '')));
    h.resp(packet(2, Buffer.concat([Buffer.from([0xfe]), utf8('caching_sha2_password\0'), utf8('saltsaltsaltsaltsalt\0')])));
    h.req(packet(3, utf8('SCRAMBLED-PASSWORD-BYTES')));
    h.resp(packet(4, Buffer.from([0x01, 0x04])));
    h.req(packet(5, utf8('CLEARTEXT-OVER-TLS')));
    expect(h.sessions).toHaveLength(0);
    h.resp(packet(6, ok()));
    expect(h.sessions).toHaveLength(1);
    expect(h.sessions[0].response_status).toBe('ok');
    expect(h.sessions[0].request_domain).toBe('');
    h.req(command(COM_QUERY, 'SELECT 1'));
    h.resp(resultSet(['1'], [['1']]));
    expect(h.sessions[1].request_type).toBe('COM_QUERY');
    expect(JSON.stringify(h.sessions.map((s) => s.attributes))).not.toMatch(/SCRAMBLED|CLEARTEXT/);
  });

  test('a refused login: ERR 1045 is a server error with its message', () => {
    const h = harness();
    h.resp(packet(0, greeting('8.0.36', BASE_CAPS)));
    h.req(packet(1, handshakeResponse(BASE_CAPS, 'app', utf8('x'), 'shop')));
    h.resp(packet(2, err(1045, '28000', "Access denied for user 'app'@'localhost' (using password: YES)")));
    expect(h.sessions[0]).toMatchObject({ request_type: 'LOGIN', response_code: 1045, response_status: 'server_error', response_exception: "Access denied for user 'app'@'localhost' (using password: YES)" });
    expect(h.sessions[0].attributes['sql.state']).toBe('28000');
  });

  test('SSLRequest: one session marked tls, then nothing more is parsed', () => {
    const h = harness();
    h.resp(packet(0, greeting('8.0.36', BASE_CAPS | CLIENT_SSL)));
    h.req(packet(1, sslRequest(BASE_CAPS | CLIENT_SSL)));
    expect(h.sessions).toHaveLength(1);
    expect(h.sessions[0]).toMatchObject({ request_type: 'LOGIN', response_status: 'unknown' });
    expect(h.sessions[0].attributes.tls).toBe('true');
    // TLS records that happen to look like packets are not parsed.
    h.req(command(COM_QUERY, 'SELECT 1'));
    h.resp(packet(1, ok()));
    h.parser.close(h.now);
    expect(h.sessions).toHaveLength(1);
  });

  test('a server refusing before the greeting (ERR with sequence 0) is a response-only session', () => {
    const h = harness();
    h.resp(packet(0, err(1130, 'HY000', "Host '10.0.0.1' is not allowed to connect to this MySQL server")));
    expect(h.sessions).toHaveLength(1);
    expect(h.sessions[0]).toMatchObject({ request_type: '', response_code: 1130, response_status: 'server_error', request_length: null });
  });
});

describe('MySQL commands and responses', () => {
  test('COM_QUERY with a result set: rows counted, SQL obfuscated by default, endpoint from the first table', () => {
    const h = loggedIn();
    h.req(command(COM_QUERY, "SELECT id, name FROM users WHERE name = 'alice' AND id IN (1, 2, 3)"));
    h.resp(resultSet(['id', 'name'], [['1', 'alice'], ['2', 'bob'], ['3', 'carol']]));
    const s = h.sessions[1];
    expect(s).toMatchObject({
      request_type: 'COM_QUERY',
      request_domain: 'shop',
      request_resource: 'SELECT id, name FROM users WHERE name = ? AND id IN (?)',
      endpoint: 'SELECT users',
      response_status: 'ok',
      response_code: null,
      response_result: '3',
      truncated: false,
    });
    expect(s.attributes['sql.rows_returned']).toBe('3');
    expect(s.attributes['sql.operation']).toBe('SELECT');
    expect(s.attributes['sql.table']).toBe('users');
  });

  test('obfuscation off keeps the SQL as sent', () => {
    const h = loggedIn(BASE_CAPS, { obfuscateSql: false });
    h.req(command(COM_QUERY, "SELECT * FROM t WHERE a = 'x'"));
    h.resp(packet(1, ok()));
    expect(h.sessions[1].request_resource).toBe("SELECT * FROM t WHERE a = 'x'");
  });

  test('CLIENT_DEPRECATE_EOF result sets: no EOF after the columns, an OK with header 0xFE at the end', () => {
    const caps = BASE_CAPS | CLIENT_DEPRECATE_EOF;
    const h = loggedIn(caps);
    h.req(command(COM_QUERY, 'SELECT a FROM t'));
    h.resp(resultSet(['a'], [['1'], ['2']], true));
    h.req(command(COM_QUERY, 'SELECT a FROM empty_t'));
    h.resp(resultSet(['a'], [], true));
    expect(h.sessions.slice(1).map((s) => [s.endpoint, s.response_result, s.truncated])).toEqual([
      ['SELECT t', '2', false],
      ['SELECT empty_t', '0', false],
    ]);
  });

  test('OK packets: affected rows to response_result', () => {
    const h = loggedIn();
    h.req(command(COM_QUERY, "UPDATE orders SET state = 'paid' WHERE id < 100"));
    h.resp(packet(1, ok(42)));
    expect(h.sessions[1]).toMatchObject({ endpoint: 'UPDATE orders', response_result: '42', response_status: 'ok' });
    expect(h.sessions[1].attributes['sql.rows_affected']).toBe('42');
    expect(h.sessions[1].response_length).toBe(4 + 7);
  });

  test('ERR: error number, SQLSTATE and message; 2000-2999 client errors, others server errors', () => {
    const h = loggedIn();
    h.req(command(COM_QUERY, 'SELECT * FROM missing'));
    h.resp(packet(1, err(1146, '42S02', "Table 'shop.missing' doesn't exist")));
    h.req(command(COM_QUERY, 'SELECT 1'));
    h.resp(packet(1, err(2013, 'HY000', 'Lost connection to MySQL server during query')));
    h.req(command(COM_QUERY, 'SELECT 2'));
    h.resp(packet(1, err(4031, 'HY000', 'The client was disconnected by the server because of inactivity')));
    expect(h.sessions.slice(1).map((s) => [s.response_code, s.response_status, s.attributes['sql.state']])).toEqual([
      [1146, 'server_error', '42S02'],
      [2013, 'client_error', 'HY000'],
      [4031, 'server_error', 'HY000'],
    ]);
    expect(h.sessions[1].response_exception).toBe("Table 'shop.missing' doesn't exist");
  });

  test('an ERR in the middle of rows ends the result set with the error', () => {
    const h = loggedIn();
    h.req(command(COM_QUERY, 'SELECT a FROM t'));
    h.resp(Buffer.concat([packet(1, lenencInt(1)), packet(2, columnDef('a')), packet(3, eof()), packet(4, textRow(['1'])), packet(5, err(1317, '70100', 'Query execution was interrupted'))]));
    const s = h.sessions[1];
    expect(s).toMatchObject({ response_code: 1317, response_status: 'server_error', response_result: '1' });
  });

  test('sqlcommenter: traceparent read from the comment, comment removed from the resource', () => {
    const h = loggedIn();
    h.req(command(COM_QUERY, "SELECT * FROM t /*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',route='%2Fusers'*/"));
    h.resp(packet(1, ok()));
    expect(h.sessions[1]).toMatchObject({ trace_id: '0af7651916cd43dd8448eb211c80319c', span_id: 'b7ad6b7169203331', request_resource: 'SELECT * FROM t' });
  });

  test('prepared statements: PREPARE pairs with its statement id, EXECUTE shows the prepared SQL, CLOSE has no reply', () => {
    const h = loggedIn();
    h.req(command(COM_STMT_PREPARE, 'SELECT * FROM `controller` WHERE name = ? AND id > 10'));
    h.resp(prepareOk(7, 1, 3));
    const exec = Buffer.concat([u32le(7), Buffer.from([0]), u32le(1), Buffer.from([0, 1, 0xfe, 0]), lenencInt(5), utf8('node1')]);
    h.req(command(COM_STMT_EXECUTE, exec));
    // Binary result: column count, definitions, EOF, binary rows (header 0x00), EOF.
    h.resp(Buffer.concat([packet(1, lenencInt(1)), packet(2, columnDef('n')), packet(3, eof()), packet(4, Buffer.from([0, 0, 1, 0x31])), packet(5, Buffer.from([0, 0, 1, 0x32])), packet(6, eof())]));
    h.req(command(COM_STMT_CLOSE, u32le(7)));
    const [, prep, run, close] = h.sessions;
    expect(prep).toMatchObject({ request_type: 'COM_STMT_PREPARE', request_id: '7', request_resource: 'SELECT * FROM `controller` WHERE name = ? AND id > ?', endpoint: 'SELECT controller', response_status: 'ok' });
    expect(run).toMatchObject({ request_type: 'COM_STMT_EXECUTE', request_id: '7', request_resource: prep.request_resource, endpoint: 'SELECT controller', response_result: '2', truncated: false });
    expect(close).toMatchObject({ request_type: 'COM_STMT_CLOSE', request_id: '7', response_status: 'ok', response_length: null });
    // The statement is forgotten after CLOSE.
    h.req(command(COM_STMT_EXECUTE, exec));
    h.resp(packet(1, err(1243, 'HY000', 'Unknown prepared statement handler (7) given to mysqld_stmt_execute')));
    expect(h.sessions[4]).toMatchObject({ request_resource: '', request_id: '7', response_code: 1243 });
  });

  test('prepared statement reply under DEPRECATE_EOF (no EOF packets), learned without the handshake', () => {
    const h = harness();
    h.req(command(COM_STMT_PREPARE, 'INSERT INTO t (a, b) VALUES (?, ?)'));
    h.resp(prepareOk(3, 2, 0, true));
    h.req(command(COM_STMT_SEND_LONG_DATA, Buffer.concat([u32le(3), Buffer.from([0, 0]), utf8('blob')])));
    h.req(command(COM_STMT_EXECUTE, Buffer.concat([u32le(3), Buffer.from([0]), u32le(1)])));
    h.resp(packet(1, ok(1)));
    expect(h.sessions.map((s) => [s.request_type, s.request_id, s.response_result, s.endpoint])).toEqual([
      ['COM_STMT_PREPARE', '3', '', 'INSERT t'],
      ['COM_STMT_SEND_LONG_DATA', '3', '', 'INSERT t'],
      ['COM_STMT_EXECUTE', '3', '1', 'INSERT t'],
    ]);
  });

  test('prepared statement reply with EOF packets when the EOF mode is unknown (mid-stream): the trailing EOF is not a new response', () => {
    const h = harness();
    h.req(command(COM_STMT_PREPARE, 'SELECT a FROM t WHERE b = ?'));
    // One parameter: its definition, then an EOF the parser cannot expect (mode unknown) and must swallow.
    h.resp(prepareOk(9, 1, 0));
    h.req(command(COM_PING));
    h.resp(packet(1, ok()));
    expect(h.sessions.map((s) => [s.request_type, s.response_status])).toEqual([
      ['COM_STMT_PREPARE', 'ok'],
      ['COM_PING', 'ok'],
    ]);
  });

  test('COM_INIT_DB changes the database of later sessions; COM_PING and COM_QUIT', () => {
    const h = loggedIn();
    h.req(command(COM_INIT_DB, 'analytics'));
    h.resp(packet(1, ok()));
    h.req(command(COM_PING));
    h.resp(packet(1, ok()));
    h.req(command(COM_QUIT));
    expect(h.sessions.slice(1).map((s) => [s.request_type, s.request_domain, s.request_resource, s.response_status, s.response_result])).toEqual([
      ['COM_INIT_DB', 'shop', 'analytics', 'ok', ''],
      ['COM_PING', 'analytics', '', 'ok', ''],
      ['COM_QUIT', 'analytics', '', 'ok', ''],
    ]);
  });

  test('USE and COM_CHANGE_USER change the database of later sessions once the server says OK', () => {
    const h = loggedIn();
    h.req(command(COM_QUERY, 'use `sales db`'));
    h.resp(packet(1, ok()));
    h.req(command(COM_QUERY, 'USE nope'));
    h.resp(packet(1, err(1049, '42000', "Unknown database 'nope'")));
    h.req(command(0x11, Buffer.concat([utf8('admin\0'), Buffer.from([3, 1, 2, 3]), utf8('audit\0'), utf8('mysql_native_password\0')])));
    h.resp(packet(1, ok()));
    h.req(command(COM_PING));
    h.resp(packet(1, ok()));
    expect(h.sessions.slice(1).map((s) => [s.request_type, s.request_domain, s.attributes['db.user']])).toEqual([
      ['COM_QUERY', 'shop', 'app'],
      ['COM_QUERY', 'sales db', 'app'],
      ['COM_CHANGE_USER', 'sales db', 'admin'],
      ['COM_PING', 'audit', 'admin'],
    ]);
  });

  test('LOCAL INFILE: the client sends the file, the OK ends the session', () => {
    const h = loggedIn();
    h.req(command(COM_QUERY, "LOAD DATA LOCAL INFILE '/tmp/x.csv' INTO TABLE t"));
    h.resp(packet(1, Buffer.concat([Buffer.from([0xfb]), utf8('/tmp/x.csv')])));
    h.req(packet(2, utf8('1,2\n3,4\n')));
    h.req(packet(3, Buffer.alloc(0)));
    expect(h.sessions).toHaveLength(1);
    h.resp(packet(4, ok(2)));
    expect(h.sessions[1]).toMatchObject({ response_result: '2', response_status: 'ok', request_resource: 'LOAD DATA LOCAL INFILE ? INTO TABLE t' });
  });

  test('several result sets (SERVER_MORE_RESULTS_EXISTS) make one session', () => {
    const h = loggedIn();
    h.req(command(COM_QUERY, 'CALL report()'));
    const first = resultSet(['a'], [['1'], ['2']], false, 2 | 8);
    let seq = first[first.length - 9 + 3] + 1;
    const second = Buffer.concat([packet(seq++, lenencInt(1)), packet(seq++, columnDef('b')), packet(seq++, eof(2 | 8)), packet(seq++, textRow(['3'])), packet(seq++, eof(2 | 8))]);
    h.resp(Buffer.concat([first, second, packet(seq++, ok(0, 2))]));
    expect(h.sessions).toHaveLength(2);
    expect(h.sessions[1]).toMatchObject({ response_result: '3', response_status: 'ok', truncated: false });
  });
});

describe('MySQL framing', () => {
  test('compressed protocol: frames raw and deflated, a packet split across frames', () => {
    const caps = BASE_CAPS | CLIENT_COMPRESS;
    const h = harness();
    h.resp(packet(0, greeting('8.0.36', caps)));
    h.req(packet(1, handshakeResponse(caps, 'app', utf8('pw'), 'shop')));
    // The OK of the login is the last uncompressed packet.
    h.resp(packet(2, ok()));
    const rs = resultSet(['name'], [['alice'], ['bob'], ['x'.repeat(300)]]);
    h.req(frame(0, command(COM_QUERY, "SELECT name FROM users WHERE name LIKE 'a%'"), true));
    h.resp(Buffer.concat([frame(0, rs.subarray(0, 40)), frame(1, rs.subarray(40))]));
    expect(h.sessions.map((s) => s.request_type)).toEqual(['LOGIN', 'COM_QUERY']);
    expect(h.sessions[1]).toMatchObject({ endpoint: 'SELECT users', response_result: '3', truncated: false });
    expect(h.sessions[1].attributes['mysql.compressed']).toBe('true');
    // A deflated request.
    h.req(frame(0, command(COM_QUERY, 'SELECT ' + 'x, '.repeat(40) + 'y FROM big')));
    h.resp(frame(1, packet(1, err(1054, '42S22', "Unknown column 'x' in 'field list'"))));
    expect(h.sessions[2]).toMatchObject({ endpoint: 'SELECT big', response_code: 1054 });
  });

  test('compressed frames recognised mid-stream (no handshake seen)', () => {
    const h = harness();
    h.req(frame(0, command(COM_QUERY, 'SELECT * FROM `process`'), true));
    h.resp(frame(1, resultSet(['a', 'b'], [['1', '2']])));
    expect(h.sessions).toHaveLength(1);
    expect(h.sessions[0]).toMatchObject({ endpoint: 'SELECT process', response_result: '1' });
  });

  test('a frame too large for the buffer is dropped and counted; parsing resumes at the next response', () => {
    const h = harness({ maxBufferBytes: 1024 });
    h.req(frame(0, command(COM_QUERY, 'SELECT a FROM t'), true));
    const rows = Array.from({ length: 400 }, (_, i) => [`row-${i}-${'z'.repeat(i % 7)}`]);
    const big = frame(1, resultSet(['a'], rows));
    // Make it incompressible enough to exceed 1 KiB compressed.
    expect(big.length).toBeGreaterThan(1024);
    h.resp(big);
    h.req(frame(0, command(COM_PING), true));
    h.resp(frame(1, packet(1, ok()), true));
    expect(h.sessions.map((s) => [s.request_type, s.truncated])).toEqual([
      ['COM_QUERY', true],
      ['COM_PING', false],
    ]);
  });

  test('16 MB multi-packet payload: kept up to maxBufferBytes, marked truncated, framing intact after it', () => {
    const h = loggedIn(BASE_CAPS, { maxBufferBytes: 4096 });
    const sql = 'INSERT INTO blobs VALUES (' + "'" + 'a'.repeat(0xffffff + 50) + "')";
    const payload = Buffer.concat([Buffer.from([COM_QUERY]), utf8(sql)]);
    const wire = packets(0, payload);
    expect(wire.length).toBe(payload.length + 8);
    // Fed in 64 KiB chunks, as reassembly would.
    for (let off = 0; off < wire.length; off += 65536) h.req(wire.subarray(off, off + 65536));
    h.resp(packet(2, ok(1)));
    h.req(command(COM_PING));
    h.resp(packet(1, ok()));
    const s = h.sessions[1];
    expect(s).toMatchObject({ request_type: 'COM_QUERY', endpoint: 'INSERT blobs', request_resource: 'INSERT INTO blobs VALUES (?', truncated: true, response_result: '1' });
    expect(s.request_length).toBe(payload.length + 8);
    expect(s.captured_request_bytes).toBe(wire.length);
    expect(h.sessions[2].request_type).toBe('COM_PING');
  });

  test('a payload of exactly 0xFFFFFF bytes ends with an empty packet', () => {
    const h = loggedIn(BASE_CAPS, { maxBufferBytes: 1024 });
    const payload = Buffer.concat([Buffer.from([COM_QUERY]), utf8('SELECT ' + ' '.repeat(0xffffff - 9) + '1')]);
    expect(payload.length).toBe(0xffffff);
    h.req(packets(0, payload));
    h.resp(packet(2, ok()));
    expect(h.sessions[1]).toMatchObject({ request_type: 'COM_QUERY', response_status: 'ok' });
    expect(h.sessions[1].request_length).toBe(0xffffff + 8);
  });

  test('pairing in order, pipelined requests included', () => {
    const h = loggedIn();
    h.req(Buffer.concat([command(COM_QUERY, 'SELECT 1 FROM a'), command(COM_QUERY, 'SELECT 1 FROM b'), command(COM_PING)]));
    h.resp(Buffer.concat([resultSet(['1'], [['1']]), packet(1, err(1146, '42S02', 'no b')), packet(1, ok())]));
    expect(h.sessions.slice(1).map((s) => [s.endpoint || s.request_type, s.response_status])).toEqual([
      ['SELECT a', 'ok'],
      ['SELECT b', 'server_error'],
      ['COM_PING', 'ok'],
    ]);
  });

  test('a response cut short (sequence restarts at 1) ends truncated and the next one pairs correctly', () => {
    const h = loggedIn();
    h.req(command(COM_QUERY, 'SELECT a FROM t'));
    const rs = resultSet(['a'], [['1'], ['2'], ['3']]);
    // Only the first 3 packets arrive (count, definition, EOF), then the answer to the next command.
    h.resp(rs.subarray(0, 5 + (rs.readUIntLE(5, 3) + 4) + 9));
    h.req(command(COM_PING));
    h.resp(packet(1, ok()));
    expect(h.sessions.slice(1).map((s) => [s.request_type, s.truncated, s.response_status])).toEqual([
      ['COM_QUERY', true, 'ok'],
      ['COM_PING', false, 'ok'],
    ]);
  });

  test('unanswered requests time out on expire and on close', () => {
    const h = loggedIn(BASE_CAPS, { requestTimeoutNs: 5_000_000n });
    h.req(command(COM_QUERY, 'SELECT SLEEP(100)'));
    h.parser.expire(h.now + 1_000_000n);
    expect(h.sessions).toHaveLength(1);
    h.parser.expire(h.now + 10_000_000n);
    expect(h.sessions[1]).toMatchObject({ response_status: 'timeout', response_length: null });
    h.req(command(COM_QUERY, 'SELECT 2'));
    h.parser.close(h.now);
    expect(h.sessions[2]).toMatchObject({ request_resource: 'SELECT ?', response_status: 'timeout' });
  });

  test('more pending requests than maxPendingRequests: the oldest time out', () => {
    const h = loggedIn(BASE_CAPS, { maxPendingRequests: 2 });
    for (let i = 0; i < 4; i++) h.req(command(COM_QUERY, `SELECT ${i} FROM t${i}`));
    expect(h.sessions.slice(1).map((s) => [s.endpoint, s.response_status])).toEqual([
      ['SELECT t0', 'timeout'],
      ['SELECT t1', 'timeout'],
    ]);
  });

  test('a response nobody asked for is a response-only session', () => {
    const h = loggedIn();
    h.resp(packet(1, err(1927, '70100', 'Connection was killed')));
    expect(h.sessions[1]).toMatchObject({ request_type: '', response_code: 1927, request_length: null, response_status: 'server_error' });
  });

  test('prefix capture (messageLength): what is there is parsed, the session is truncated, the next message is intact', () => {
    const h = loggedIn();
    const full = command(COM_QUERY, 'SELECT * FROM events WHERE payload = ' + "'" + 'p'.repeat(500) + "'");
    h.req(full.subarray(0, 64), { messageLength: full.length });
    const rs = resultSet(['a'], [['1'], ['2']]);
    h.resp(rs.subarray(0, 20), { messageLength: rs.length });
    h.req(command(COM_PING));
    h.resp(packet(1, ok()));
    expect(h.sessions.slice(1).map((s) => [s.request_type, s.endpoint, s.truncated])).toEqual([
      ['COM_QUERY', 'SELECT events', true],
      ['COM_PING', '', false],
    ]);
  });

  test('a gap: the parser resynchronises on the next request and response', () => {
    const h = loggedIn();
    h.req(command(COM_QUERY, 'SELECT a FROM t1'));
    const rs = resultSet(['a'], [['1'], ['2'], ['3']]);
    h.resp(rs.subarray(0, 30));
    // Lost the rest of the response; then mid-packet garbage, then a clean request.
    h.resp(rs.subarray(45), { gap: true });
    h.req(command(COM_QUERY, 'SELECT b FROM t2'), { gap: true });
    h.resp(resultSet(['b'], [['9']]));
    expect(h.sessions.slice(1).map((s) => [s.endpoint, s.truncated, s.response_result])).toEqual([
      ['SELECT t1', true, '0'],
      ['SELECT t2', false, '1'],
    ]);
  });

  test('requests longer than maxBufferBytes are clipped and marked truncated', () => {
    const h = loggedIn(BASE_CAPS, { maxBufferBytes: 100, obfuscateSql: false });
    h.req(command(COM_QUERY, 'SELECT ' + 'c, '.repeat(100) + 'd FROM wide'));
    h.resp(packet(1, ok()));
    expect(h.sessions[1].request_resource.length).toBeLessThanOrEqual(100);
    expect(h.sessions[1].truncated).toBe(true);
  });

  test('mid-stream start: bytes before a packet boundary are skipped', () => {
    const h = harness();
    // The middle of some row packets, then a clean exchange.
    h.resp(Buffer.from([0x33, 0x34, 0x35, 0x05, 0x00, 0x00, 0x07, 0x01, 0x61]));
    h.req(command(COM_QUERY, 'SELECT now()'));
    h.resp(resultSet(['now()'], [['2024-01-01 00:00:00']]));
    expect(h.sessions).toHaveLength(1);
    expect(h.sessions[0]).toMatchObject({ request_type: 'COM_QUERY', version: '', response_result: '1' });
  });

  test('chunks split at every byte boundary give the same sessions', () => {
    const script: Array<[0 | 1, Buffer]> = [
      [1, packet(0, greeting('8.0.36', BASE_CAPS))],
      [0, packet(1, handshakeResponse(BASE_CAPS, 'u', utf8('p'), 'd'))],
      [1, packet(2, ok())],
      [0, command(COM_QUERY, 'SELECT a FROM t')],
      [1, resultSet(['a'], [['1'], ['2']])],
      [0, command(COM_QUERY, 'SELEC')],
      [1, packet(1, err(1064, '42000', 'syntax'))],
    ];
    const run = (bytewise: boolean) => {
      const h = harness();
      for (const [dir, b] of script) {
        const feed = dir === 0 ? h.req : h.resp;
        if (!bytewise) feed(b);
        else for (let i = 0; i < b.length; i++) feed(b.subarray(i, i + 1));
      }
      h.parser.close(h.now);
      return h.sessions.map((s) => [s.request_type, s.request_resource, s.response_status, s.response_result, s.response_code]);
    };
    expect(run(false)).toEqual([
      ['LOGIN', '', 'ok', '', null],
      ['COM_QUERY', 'SELECT a FROM t', 'ok', '2', null],
      ['COM_QUERY', 'SELEC', 'server_error', '', 1064],
    ]);
    expect(run(true)).toEqual(run(false));
  });

  test('eBPF-style reads (header, then payload) from a mid-stream start', () => {
    const h = harness();
    const q = command(COM_QUERY, 'SELECT a FROM t');
    h.req(q.subarray(0, 4));
    h.req(q.subarray(4));
    const rs = resultSet(['a'], [['1']]);
    let off = 0;
    while (off < rs.length) {
      const len = rs.readUIntLE(off, 3);
      h.resp(rs.subarray(off, off + 4));
      h.resp(rs.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    expect(h.sessions.map((s) => [s.request_type, s.endpoint, s.response_result])).toEqual([['COM_QUERY', 'SELECT t', '1']]);
  });
});

describe('MySQL inference', () => {
  test('certain: greeting, HandshakeResponse, SSLRequest, COM_QUERY with SQL, inside compressed frames too', () => {
    expect(inferMysql(packet(0, greeting('5.7.30-log', BASE_CAPS)), 1)).toBe(2);
    expect(inferMysql(packet(1, handshakeResponse(BASE_CAPS, 'u', utf8('p'), 'd')), 0)).toBe(2);
    expect(inferMysql(packet(1, sslRequest(BASE_CAPS | CLIENT_SSL)), 0)).toBe(2);
    expect(inferMysql(command(COM_QUERY, 'select @@version_comment limit 1'), 0)).toBe(2);
    expect(inferMysql(command(COM_STMT_PREPARE, '/* app */ SELECT ?'), 0)).toBe(2);
    expect(inferMysql(frame(0, command(COM_QUERY, 'use `test`'), true), 0)).toBe(2);
    expect(inferMysql(frame(0, command(COM_QUERY, 'SELECT ' + 'a, '.repeat(30) + 'b FROM t')), 0)).toBe(2);
  });

  test('plausible: short commands and OK/ERR of the exact length; nothing else', () => {
    expect(inferMysql(command(COM_PING), 0)).toBe(1);
    expect(inferMysql(packet(1, ok()), 1)).toBe(1);
    expect(inferMysql(command(COM_QUERY, 'hello world'), 0)).toBe(0);
    expect(inferMysql(utf8('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 0)).toBe(0);
    expect(inferMysql(utf8('HTTP/1.1 200 OK\r\n\r\n'), 1)).toBe(0);
    expect(inferMysql(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), 0)).toBe(0);
    // A PostgreSQL simple query is not MySQL.
    const q = Buffer.concat([utf8('Q'), Buffer.from([0, 0, 0, 13]), utf8('SELECT 1\0')]);
    expect(inferMysql(q, 0)).toBe(0);
    expect(inferMysql(Buffer.alloc(0), 0)).toBe(0);
  });

  test('the spec: name, ports as hints, a parser per connection', () => {
    expect(mysqlSpec.name).toBe('MySQL');
    expect(mysqlSpec.ports).toEqual([3306]);
    expect(mysqlSpec.infer(command(COM_QUERY, 'SELECT 1'), 0, 12345)).toBe(2);
  });
});
