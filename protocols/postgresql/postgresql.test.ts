import type { FeedFlags, L7Session, ParserOptions } from '../types';
import { DEFAULT_PARSER_OPTIONS } from '../types';
import { affectedRows, inferPostgresql, postgresqlSpec, sqlStateStatus } from './index';
import * as pg from './testing';

function harness(opts: Partial<ParserOptions> = {}) {
  const sessions: L7Session[] = [];
  const malformed: string[] = [];
  const ctx = { options: { ...DEFAULT_PARSER_OPTIONS, ...opts }, emit: (s: L7Session) => sessions.push(s), malformed: (r: string) => malformed.push(r) };
  const parser = postgresqlSpec.create(ctx);
  let t = 1_000_000n;
  return {
    parser,
    sessions,
    malformed,
    req(...b: Buffer[]) {
      parser.feed(0, Buffer.concat(b), (t += 1000n), {});
    },
    resp(...b: Buffer[]) {
      parser.feed(1, Buffer.concat(b), (t += 1000n), {});
    },
    feed(dir: 0 | 1, b: Uint8Array, flags: FeedFlags) {
      parser.feed(dir, b, (t += 1000n), flags);
    },
    get now() {
      return t;
    },
  };
}

const READY = [pg.authentication(0), pg.parameterStatus('server_version', '15.18 (Debian 15.18-0+deb12u1)'), pg.parameterStatus('client_encoding', 'UTF8'), pg.backendKeyData(4242, 0x5ec2e7), pg.readyForQuery()];

/** A connection through startup (user app, database shop). */
function started(opts: Partial<ParserOptions> = {}) {
  const h = harness(opts);
  h.req(pg.startup({ user: 'app', database: 'shop', application_name: 'billing' }));
  h.resp(...READY);
  return h;
}

const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x));

describe('PostgreSQL startup', () => {
  test('SSLRequest refused, then the StartupMessage: user and database, server version; no session for the refusal', () => {
    const h = harness();
    h.req(pg.sslRequest());
    h.resp(Buffer.from('N'));
    h.req(pg.startup({ user: 'app', database: 'shop', application_name: 'billing' }));
    h.resp(...READY);
    expect(h.sessions).toHaveLength(1);
    const s = h.sessions[0];
    expect(s).toMatchObject({ l7_protocol: 'PostgreSQL', request_type: 'Startup', request_domain: 'shop', version: '3.0', response_status: 'ok' });
    expect(s.attributes['db.user']).toBe('app');
    expect(s.attributes['db.application_name']).toBe('billing');
    expect(s.attributes['db.server_version']).toBe('15.18 (Debian 15.18-0+deb12u1)');
    // Started with the SSLRequest: its bytes belong to the startup.
    expect(s.captured_request_bytes).toBe(8 + pg.startup({ user: 'app', database: 'shop', application_name: 'billing' }).length);
  });

  test('password messages and the backend key are never kept', () => {
    const h = harness();
    h.req(pg.startup({ user: 'app' }));
    h.resp(pg.authentication(3));
    h.req(pg.password('hunter2-TOP-SECRET'));
    h.resp(...READY);
    expect(h.sessions).toHaveLength(1);
    // Without a database parameter the server uses the user name.
    expect(h.sessions[0].request_domain).toBe('app');
    expect(json(h.sessions)).not.toContain('hunter2');
    expect(json(h.sessions)).not.toContain(String(0x5ec2e7));
  });

  test('SCRAM exchange (SASL continue/final) ends at ReadyForQuery', () => {
    const h = harness();
    h.req(pg.startup({ user: 'app', database: 'shop' }));
    h.resp(pg.authentication(10, Buffer.from('SCRAM-SHA-256\0\0')));
    h.req(pg.msg('p', Buffer.from('SCRAM-SHA-256\0\0\0\0\x20n,,n=,r=clientnonceclientnonce')));
    h.resp(pg.authentication(11, Buffer.from('r=nonce,s=salt,i=4096')));
    h.req(pg.msg('p', Buffer.from('c=biws,r=nonce,p=PROOF-SECRET')));
    h.resp(pg.authentication(12, Buffer.from('v=verifier')), ...READY);
    expect(h.sessions.map((s) => [s.request_type, s.response_status])).toEqual([['Startup', 'ok']]);
    expect(json(h.sessions)).not.toContain('PROOF-SECRET');
  });

  test('SSLRequest accepted: one session marked tls, then nothing is parsed', () => {
    const h = harness();
    h.req(pg.sslRequest());
    h.resp(Buffer.from('S'));
    h.req(pg.query('SELECT 1'));
    h.resp(pg.commandComplete('SELECT 1'), pg.readyForQuery());
    h.parser.close(h.now);
    expect(h.sessions).toHaveLength(1);
    expect(h.sessions[0]).toMatchObject({ request_type: 'SSLRequest', response_status: 'ok' });
    expect(h.sessions[0].attributes.tls).toBe('true');
  });

  test('a failed login: FATAL 28P01 is a server error; a missing database (3D000) a client error', () => {
    const h = harness();
    h.req(pg.startup({ user: 'app', database: 'shop' }));
    h.resp(pg.authentication(5, Buffer.from([1, 2, 3, 4])));
    h.req(pg.password('md5abc'));
    h.resp(pg.errorResponse({ S: 'FATAL', V: 'FATAL', C: '28P01', M: 'password authentication failed for user "app"' }));
    const g = harness();
    g.req(pg.startup({ user: 'app', database: 'nope' }));
    g.resp(pg.errorResponse({ S: 'FATAL', V: 'FATAL', C: '3D000', M: 'database "nope" does not exist' }));
    expect([h.sessions[0], g.sessions[0]].map((s) => [s.request_type, s.request_domain, s.response_status, s.response_result, s.response_exception, s.attributes['db.error_severity']])).toEqual([
      ['Startup', 'shop', 'server_error', '28P01', 'password authentication failed for user "app"', 'FATAL'],
      ['Startup', 'nope', 'client_error', '3D000', 'database "nope" does not exist', 'FATAL'],
    ]);
  });

  test('CancelRequest: a session of its own, the secret key not kept', () => {
    const h = harness();
    h.req(pg.cancelRequest(4242, 0x5ec2e7));
    expect(h.sessions.map((s) => [s.request_type, s.response_status])).toEqual([['CancelRequest', 'ok']]);
    expect(json(h.sessions)).not.toContain(String(0x5ec2e7));
  });
});

describe('PostgreSQL simple query', () => {
  test('rows counted, tag as result, SQL obfuscated, endpoint from the table', () => {
    const h = started();
    h.req(pg.query("SELECT id, name FROM users WHERE name = 'alice' OR id IN (1, 2)"));
    h.resp(pg.rowDescription(['id', 'name']), pg.dataRow(['1', 'alice']), pg.dataRow(['2', 'bob']), pg.dataRow(['3', null]), pg.commandComplete('SELECT 3'), pg.readyForQuery());
    expect(h.sessions[1]).toMatchObject({
      request_type: 'Query',
      request_domain: 'shop',
      request_resource: 'SELECT id, name FROM users WHERE name = ? OR id IN (?)',
      endpoint: 'SELECT users',
      response_result: 'SELECT 3',
      response_status: 'ok',
      response_code: null,
    });
    expect(h.sessions[1].attributes['sql.rows_returned']).toBe('3');
  });

  test('data-changing tags give rows affected', () => {
    const h = started();
    h.req(pg.query("INSERT INTO t VALUES (1), (2)"));
    h.resp(pg.commandComplete('INSERT 0 2'), pg.readyForQuery());
    h.req(pg.query('UPDATE t SET a = a + 1'));
    h.resp(pg.commandComplete('UPDATE 7'), pg.readyForQuery('T'));
    expect(h.sessions.slice(1).map((s) => [s.endpoint, s.response_result, s.attributes['sql.rows_affected']])).toEqual([
      ['INSERT t', 'INSERT 0 2', '2'],
      ['UPDATE t', 'UPDATE 7', '7'],
    ]);
    expect(affectedRows('DELETE 3')).toBe(3);
    expect(affectedRows('SELECT 3')).toBe(-1);
    expect(affectedRows('CREATE TABLE')).toBe(-1);
  });

  test('several statements in one Query are one session ending at ReadyForQuery', () => {
    const h = started();
    h.req(pg.query('BEGIN; DELETE FROM a; COMMIT'));
    h.resp(pg.commandComplete('BEGIN'), pg.commandComplete('DELETE 4'));
    expect(h.sessions).toHaveLength(1);
    h.resp(pg.commandComplete('COMMIT'), pg.readyForQuery());
    expect(h.sessions[1]).toMatchObject({ request_type: 'Query', response_result: 'COMMIT', response_status: 'ok' });
  });

  test('ErrorResponse fields: SQLSTATE as result, message as exception, severity; status by class', () => {
    const h = started();
    h.req(pg.query('SELECT * FROM missing'));
    h.resp(pg.errorResponse({ S: 'ERROR', V: 'ERROR', C: '42P01', M: 'relation "missing" does not exist', P: '15', F: 'parse_relation.c', L: '1392', R: 'parserOpenTable' }), pg.readyForQuery());
    h.req(pg.query('SELECT pg_sleep(100)'));
    h.resp(pg.errorResponse({ S: 'ERROR', V: 'ERROR', C: '57014', M: 'canceling statement due to user request' }), pg.readyForQuery());
    h.req(pg.query('SELECT 1/0'));
    h.resp(pg.rowDescription(['?column?']), pg.errorResponse({ S: 'ERROR', V: 'ERROR', C: '22012', M: 'division by zero' }), pg.readyForQuery());
    expect(h.sessions.slice(1).map((s) => [s.response_status, s.response_result, s.response_exception, s.attributes['sql.state'], s.response_code])).toEqual([
      ['client_error', '42P01', 'relation "missing" does not exist', '42P01', null],
      ['server_error', '57014', 'canceling statement due to user request', '57014', null],
      ['client_error', '22012', 'division by zero', '22012', null],
    ]);
  });

  test('SQLSTATE classes: client errors are the statement\'s fault, the rest the server\'s', () => {
    expect(['42601', '23505', '22P02', '0A000', '40P01', '40001', '3D000'].map(sqlStateStatus)).toEqual(Array(7).fill('client_error'));
    expect(['08006', '53300', '57P01', '58030', 'XX000', '28P01', '40000', '25P02', 'bad'].map(sqlStateStatus)).toEqual(Array(9).fill('server_error'));
  });

  test('notices, parameter status changes and notifications in the middle change nothing', () => {
    const h = started();
    h.req(pg.query('SET search_path = app'));
    h.resp(pg.errorResponse({ S: 'WARNING', V: 'WARNING', C: '01000', M: 'careful' }, 'N'), pg.parameterStatus('search_path', 'app'), pg.notification(1, 'ch', 'x'), pg.commandComplete('SET'), pg.readyForQuery());
    expect(h.sessions[1]).toMatchObject({ response_status: 'ok', response_result: 'SET' });
  });

  test('COPY out and COPY in: data skipped, the tag gives the rows', () => {
    const h = started();
    h.req(pg.query('COPY t TO STDOUT'));
    h.resp(pg.copyOutResponse(1), pg.copyData('1\n'), pg.copyData('2\n'), pg.copyData('3\n'), pg.copyDone(), pg.commandComplete('COPY 3'), pg.readyForQuery());
    h.req(pg.query('COPY t FROM STDIN'));
    h.resp(pg.copyInResponse(1));
    h.req(pg.copyData('4\n5\n'), pg.copyDone());
    h.resp(pg.commandComplete('COPY 2'), pg.readyForQuery());
    expect(h.sessions.slice(1).map((s) => [s.request_resource, s.response_result, s.attributes['sql.rows_affected']])).toEqual([
      ['COPY t TO STDOUT', 'COPY 3', '3'],
      ['COPY t FROM STDIN', 'COPY 2', '2'],
    ]);
    expect(h.sessions[2].captured_request_bytes).toBe(pg.query('COPY t FROM STDIN').length + pg.copyData('4\n5\n').length + 5);
  });

  test('sqlcommenter trace context', () => {
    const h = started();
    h.req(pg.query("SELECT 1 /*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/"));
    h.resp(pg.commandComplete('SELECT 1'), pg.readyForQuery());
    expect(h.sessions[1]).toMatchObject({ trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7', request_resource: 'SELECT ?' });
  });

  test('empty query, Terminate', () => {
    const h = started();
    h.req(pg.query(''));
    h.resp(pg.emptyQuery(), pg.readyForQuery());
    h.req(pg.terminate());
    expect(h.sessions.slice(1).map((s) => [s.request_type, s.response_status])).toEqual([
      ['Query', 'ok'],
      ['Terminate', 'ok'],
    ]);
  });
});

describe('PostgreSQL extended query', () => {
  test('Parse/Bind/Describe/Execute/Sync: one Execute session with the Parse SQL and the batch bytes', () => {
    const h = started();
    const batch = [pg.parse('', 'SELECT * FROM orders WHERE id = $1'), pg.bind('', '', ['42']), pg.describe('P', ''), pg.execute(''), pg.sync()];
    h.req(...batch);
    h.resp(pg.parseComplete(), pg.bindComplete(), pg.rowDescription(['id']), pg.dataRow(['42']), pg.commandComplete('SELECT 1'), pg.readyForQuery());
    const s = h.sessions[1];
    expect(s).toMatchObject({ request_type: 'Execute', request_resource: 'SELECT * FROM orders WHERE id = $1', endpoint: 'SELECT orders', response_result: 'SELECT 1', response_status: 'ok' });
    expect(s.attributes['pg.parsed']).toBe('true');
    // Parse, Bind, Describe and Execute; the Sync goes with the next batch.
    expect(s.captured_request_bytes).toBe(batch.slice(0, 4).reduce((n, b) => n + b.length, 0));
    expect(s.attributes['sql.rows_returned']).toBe('1');
  });

  test('named statements: a prepare-only batch is a Parse session; later executions show its SQL', () => {
    const h = started();
    h.req(pg.parse('s1', "UPDATE accounts SET balance = balance - $1 WHERE id = $2 AND note <> 'x'", [23, 23]), pg.describe('S', 's1'), pg.sync());
    h.resp(pg.parseComplete(), pg.parameterDescription([23, 23]), pg.noData(), pg.readyForQuery());
    for (const id of ['1', '2']) {
      h.req(pg.bind('', 's1', ['10', id]), pg.execute(''), pg.sync());
      h.resp(pg.bindComplete(), pg.commandComplete('UPDATE 1'), pg.readyForQuery('T'));
    }
    h.req(pg.close('S', 's1'), pg.sync());
    h.resp(pg.closeComplete(), pg.readyForQuery());
    h.req(pg.bind('', 's1', ['10', '3']), pg.execute(''), pg.sync());
    h.resp(pg.errorResponse({ S: 'ERROR', V: 'ERROR', C: '26000', M: 'prepared statement "s1" does not exist' }), pg.readyForQuery());
    expect(h.sessions.slice(1).map((s) => [s.request_type, s.request_resource, s.response_result, s.attributes['pg.parsed'] ?? ''])).toEqual([
      ['Parse', 'UPDATE accounts SET balance = balance - $1 WHERE id = $2 AND note <> ?', '', ''],
      ['Execute', 'UPDATE accounts SET balance = balance - $1 WHERE id = $2 AND note <> ?', 'UPDATE 1', ''],
      ['Execute', 'UPDATE accounts SET balance = balance - $1 WHERE id = $2 AND note <> ?', 'UPDATE 1', ''],
      ['Execute', '', '26000', ''],
    ]);
  });

  test('pipelines: several Executes before one Sync, each its own session, in order', () => {
    const h = started();
    h.req(pg.parse('', 'INSERT INTO t VALUES ($1)'), pg.bind('', '', ['1']), pg.execute(''), pg.parse('', 'SELECT count(*) FROM t'), pg.bind('', ''), pg.execute(''), pg.sync());
    h.resp(pg.parseComplete(), pg.bindComplete(), pg.commandComplete('INSERT 0 1'), pg.parseComplete(), pg.bindComplete(), pg.dataRow(['5']), pg.commandComplete('SELECT 1'), pg.readyForQuery());
    expect(h.sessions.slice(1).map((s) => [s.request_type, s.endpoint, s.response_result])).toEqual([
      ['Execute', 'INSERT t', 'INSERT 0 1'],
      ['Execute', 'SELECT t', 'SELECT 1'],
    ]);
  });

  test('an error ends the batch at its Execute; the server skips to Sync and so do we', () => {
    const h = started();
    h.req(pg.parse('', 'SELEC oops'), pg.bind('', ''), pg.execute(''), pg.parse('', 'SELECT 2'), pg.bind('', ''), pg.execute(''), pg.sync());
    h.resp(pg.errorResponse({ S: 'ERROR', V: 'ERROR', C: '42601', M: 'syntax error at or near "SELEC"' }), pg.readyForQuery());
    h.req(pg.parse('', 'SELECT 3'), pg.bind('', ''), pg.execute(''), pg.sync());
    h.resp(pg.parseComplete(), pg.bindComplete(), pg.dataRow(['3']), pg.commandComplete('SELECT 1'), pg.readyForQuery());
    expect(h.sessions.slice(1).map((s) => [s.request_type, s.request_resource, s.response_status, s.response_result])).toEqual([
      ['Execute', 'SELEC oops', 'client_error', '42601'],
      ['Execute', 'SELECT ?', 'ok', 'SELECT 1'],
    ]);
  });

  test('an error in a prepare-only batch is a Parse session', () => {
    const h = started();
    h.req(pg.parse('bad', 'SELECT FROM WHERE'), pg.sync());
    h.resp(pg.errorResponse({ S: 'ERROR', V: 'ERROR', C: '42601', M: 'syntax error' }), pg.readyForQuery());
    expect(h.sessions[1]).toMatchObject({ request_type: 'Parse', response_status: 'client_error', response_result: '42601' });
  });

  test('PortalSuspended (row limit): each Execute of the portal is a session', () => {
    const h = started();
    h.req(pg.parse('', 'SELECT g FROM generate_series(1, 3) g'), pg.bind('cur', ''), pg.execute('cur', 2), pg.sync());
    h.resp(pg.parseComplete(), pg.bindComplete(), pg.dataRow(['1']), pg.dataRow(['2']), pg.portalSuspended(), pg.readyForQuery('T'));
    h.req(pg.execute('cur', 2), pg.sync());
    h.resp(pg.dataRow(['3']), pg.commandComplete('SELECT 1'), pg.readyForQuery('T'));
    expect(h.sessions.slice(1).map((s) => [s.request_resource, s.response_result, s.attributes['sql.rows_returned']])).toEqual([
      ['SELECT g FROM generate_series(?, ?) g', '', '2'],
      ['SELECT g FROM generate_series(?, ?) g', 'SELECT 1', '1'],
    ]);
  });

  test('FunctionCall and its response', () => {
    const h = started();
    h.req(pg.functionCall(1598));
    h.resp(pg.functionCallResponse('42'), pg.readyForQuery());
    expect(h.sessions[1]).toMatchObject({ request_type: 'FunctionCall', response_status: 'ok' });
  });
});

describe('PostgreSQL robustness', () => {
  test('an error nobody asked for (admin shutdown) is a response-only session', () => {
    const h = started();
    h.resp(pg.errorResponse({ S: 'FATAL', V: 'FATAL', C: '57P01', M: 'terminating connection due to administrator command' }));
    expect(h.sessions[1]).toMatchObject({ request_type: '', response_status: 'server_error', response_result: '57P01', request_length: null });
  });

  test('unanswered requests time out on expire and on close', () => {
    const h = started({ requestTimeoutNs: 5_000_000n });
    h.req(pg.query('SELECT pg_sleep(60)'));
    h.parser.expire(h.now + 1_000_000n);
    expect(h.sessions).toHaveLength(1);
    h.parser.expire(h.now + 6_000_000n);
    expect(h.sessions[1]).toMatchObject({ response_status: 'timeout', response_length: null });
    h.req(pg.parse('', 'SELECT 1'), pg.bind('', ''), pg.execute(''), pg.sync());
    h.parser.close(h.now);
    expect(h.sessions.slice(2).map((s) => [s.request_type, s.response_status])).toEqual([['Execute', 'timeout']]);
  });

  test('mid-stream start: typed messages, a cut message skipped until a boundary', () => {
    const h = harness();
    const rows = Buffer.concat([pg.dataRow(['x'.repeat(40)]), pg.commandComplete('SELECT 1'), pg.readyForQuery()]);
    h.resp(rows.subarray(7));
    h.req(pg.query('SELECT a FROM t'));
    h.resp(pg.rowDescription(['a']), pg.dataRow(['1']), pg.commandComplete('SELECT 1'), pg.readyForQuery());
    expect(h.sessions.map((s) => [s.request_type, s.endpoint, s.response_result, s.version])).toEqual([['Query', 'SELECT t', 'SELECT 1', '']]);
  });

  test('a gap: the parser resynchronises', () => {
    const h = started();
    h.req(pg.query('SELECT a FROM t1'));
    const r = Buffer.concat([pg.rowDescription(['a']), pg.dataRow(['1']), pg.dataRow(['2']), pg.commandComplete('SELECT 2'), pg.readyForQuery()]);
    h.feed(1, r.subarray(0, 20), {});
    h.feed(1, r.subarray(40), { gap: true });
    h.feed(0, pg.query('SELECT b FROM t2'), { gap: true });
    h.resp(pg.dataRow(['9']), pg.commandComplete('SELECT 1'), pg.readyForQuery());
    expect(h.sessions.slice(1).map((s) => [s.endpoint, s.truncated])).toEqual([
      ['SELECT t1', true],
      ['SELECT t2', false],
    ]);
  });

  test('prefix capture (messageLength): truncated, the next message intact', () => {
    const h = started();
    const q = pg.query('SELECT * FROM events WHERE payload = ' + "'" + 'p'.repeat(400) + "'");
    h.feed(0, q.subarray(0, 60), { messageLength: q.length });
    const r = Buffer.concat([pg.rowDescription(['a']), pg.dataRow(['z'.repeat(100)]), pg.commandComplete('SELECT 1'), pg.readyForQuery()]);
    h.feed(1, r, {});
    h.req(pg.query('SELECT 2'));
    h.resp(pg.commandComplete('SELECT 1'), pg.readyForQuery());
    expect(h.sessions.slice(1).map((s) => [s.endpoint, s.truncated, s.response_result])).toEqual([
      ['SELECT events', true, 'SELECT 1'],
      ['', false, 'SELECT 1'],
    ]);
  });

  test('queries longer than maxBufferBytes are clipped and marked truncated', () => {
    const h = started({ maxBufferBytes: 128, obfuscateSql: false });
    h.req(pg.query('SELECT ' + 'col, '.repeat(100) + 'x FROM wide'));
    h.resp(pg.commandComplete('SELECT 0'), pg.readyForQuery());
    expect(h.sessions[1].request_resource.length).toBeLessThanOrEqual(128);
    expect(h.sessions[1].truncated).toBe(true);
  });

  test('byte-by-byte feeding gives the same sessions', () => {
    const script: Array<[0 | 1, Buffer]> = [
      [0, pg.sslRequest()],
      [1, Buffer.from('N')],
      [0, pg.startup({ user: 'u', database: 'd' })],
      [1, Buffer.concat(READY)],
      [0, Buffer.concat([pg.parse('', 'SELECT $1'), pg.bind('', '', ['7']), pg.execute(''), pg.sync()])],
      [1, Buffer.concat([pg.parseComplete(), pg.bindComplete(), pg.dataRow(['7']), pg.commandComplete('SELECT 1'), pg.readyForQuery()])],
      [0, pg.query('DROP TABLE x')],
      [1, Buffer.concat([pg.errorResponse({ S: 'ERROR', C: '42P01', M: 'table "x" does not exist' }), pg.readyForQuery()])],
    ];
    const run = (bytewise: boolean) => {
      const h = harness();
      for (const [dir, b] of script) {
        if (!bytewise) h.feed(dir, b, {});
        else for (let i = 0; i < b.length; i++) h.feed(dir, b.subarray(i, i + 1), {});
      }
      h.parser.close(h.now);
      return h.sessions.map((s) => [s.request_type, s.request_resource, s.response_status, s.response_result]);
    };
    expect(run(false)).toEqual([
      ['Startup', '', 'ok', ''],
      ['Execute', 'SELECT $1', 'ok', 'SELECT 1'],
      ['Query', 'DROP TABLE x', 'client_error', '42P01'],
    ]);
    expect(run(true)).toEqual(run(false));
  });
});

describe('PostgreSQL inference', () => {
  test('certain: StartupMessage, SSLRequest, Query/Parse with SQL, ErrorResponse, authentication', () => {
    expect(inferPostgresql(pg.startup({ user: 'postgres', database: 'x' }), 0)).toBe(2);
    expect(inferPostgresql(pg.sslRequest(), 0)).toBe(2);
    expect(inferPostgresql(pg.sslRequest(true), 0)).toBe(2);
    expect(inferPostgresql(pg.query('select 1'), 0)).toBe(2);
    expect(inferPostgresql(Buffer.concat([pg.parse('', "SELECT 'x'"), pg.bind('', ''), pg.describe('P', ''), pg.execute(''), pg.sync()]), 0)).toBe(2);
    expect(inferPostgresql(Buffer.concat([pg.errorResponse({ S: 'ERROR', C: '42601', M: 'x' }), pg.readyForQuery()]), 1)).toBe(2);
    expect(inferPostgresql(Buffer.concat([pg.authentication(0), ...READY.slice(1)]), 1)).toBe(2);
  });

  test('plausible: a valid run of other typed messages; nothing else', () => {
    expect(inferPostgresql(Buffer.concat([pg.bind('', 's1', ['1']), pg.execute(''), pg.sync()]), 0)).toBe(1);
    expect(inferPostgresql(Buffer.concat([pg.parseComplete(), pg.bindComplete(), pg.commandComplete('SELECT 1'), pg.readyForQuery()]), 1)).toBe(1);
    // Well framed but not starting with a statement verb: plausible only.
    expect(inferPostgresql(pg.query('hello'), 0)).toBe(1);
    expect(inferPostgresql(Buffer.concat([Buffer.from('Q'), Buffer.from([0, 0, 0, 9]), Buffer.from('hello')]), 0)).toBe(0);
    expect(inferPostgresql(Buffer.from('GET / HTTP/1.1\r\n\r\n'), 0)).toBe(0);
    expect(inferPostgresql(Buffer.from('N'), 1)).toBe(0);
    expect(inferPostgresql(Buffer.from([0x03, 0, 0, 0, 0x03, 0x53, 0x45, 0x4c, 0x45, 0x43, 0x54]), 0)).toBe(0);
    expect(inferPostgresql(Buffer.alloc(0), 0)).toBe(0);
  });

  test('the spec', () => {
    expect(postgresqlSpec.name).toBe('PostgreSQL');
    expect(postgresqlSpec.ports).toEqual([5432]);
    expect(postgresqlSpec.infer(pg.query('SELECT 1'), 0, 8000)).toBe(2);
  });
});
