/**
 * The MySQL parser on traffic from a real MariaDB, recorded on loopback and
 * dissected by tshark as the independent reference: the `mariadb` CLI (text
 * queries, an error, PREPARE/EXECUTE in SQL, `--compress`) and a hand-built
 * binary-protocol client (COM_STMT_PREPARE/EXECUTE/CLOSE, an error, a
 * sqlcommenter comment). TLS is not configured on the server.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { captureAvailable, captureLoopback } from '../../test/helpers/capture';
import { MariadbServer, mariadbAvailable, startMariadb } from '../../test/helpers/mariadb';
import { tsharkAvailable, tsharkFields } from '../../test/helpers/tshark';
import { replayPcap } from '../testing/replay';
import type { ReplayedSession } from '../testing/replay';
import { commandName } from './constants';
import { mysqlSpec } from './index';
import { MiniMysql } from './minimysql';

const ready = mariadbAvailable() && captureAvailable() && tsharkAvailable();
const suite = ready ? describe : describe.skip;
if (!ready) console.warn('skipping MariaDB capture tests: needs mariadb-server, root for tcpdump, and tshark');

function cli(server: MariadbServer, sql: string, extra: string[] = []): Promise<string> {
  const args = ['--no-defaults', '-h', '127.0.0.1', '-P', String(server.port), '-u', server.user, `-p${server.password}`, ...extra, server.database, '-e', sql];
  return new Promise((resolve) => execFile('/usr/bin/mariadb', args, { timeout: 20_000 }, (_err, out, err) => resolve(out + err)));
}

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

suite('MySQL parser on a real MariaDB, against tshark', () => {
  let server: MariadbServer | undefined;
  let file = '';
  let sessions: ReplayedSession[] = [];
  let obfuscated: ReplayedSession[] = [];

  beforeAll(async () => {
    server = await startMariadb();
    const cap = await captureLoopback(`tcp port ${server.port}`);
    try {
      await cli(server, "CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(40), qty INT); INSERT INTO orders VALUES (1,'apple',3),(2,'pear',5),(3,'fig',1); SELECT * FROM orders WHERE qty > 1; UPDATE orders SET qty = qty + 1 WHERE id IN (1, 2)");
      await cli(server, 'SELECT * FROM missing_table');
      await cli(server, "PREPARE s FROM 'SELECT item FROM orders WHERE id = ?'; SET @id = 2; EXECUTE s USING @id; DEALLOCATE PREPARE s");
      await cli(server, "SELECT id, item FROM orders ORDER BY id; SELECT REPEAT('x', 5000) AS big, 'y' AS small", ['--compress']);
      const c = await MiniMysql.connect(server.port, server.user, server.password, server.database);
      const p = await c.prepare('SELECT item, qty FROM orders WHERE id > ? AND item <> ?');
      await c.execute(p.stmtId as number, [1, 'zzz']);
      await c.execute(p.stmtId as number, [0, 'apple']);
      c.closeStatement(p.stmtId as number);
      await c.prepare('SELECT * FROM no_such_table WHERE a = ?');
      await c.query(`SELECT COUNT(*) FROM orders /*traceparent='${TRACEPARENT}'*/`);
      await c.quit();
    } finally {
      file = await cap.stop();
    }
    sessions = replayPcap(file, [mysqlSpec], { obfuscateSql: false }).sessions;
    obfuscated = replayPcap(file, [mysqlSpec]).sessions;
  }, 180_000);

  afterAll(async () => {
    await server?.destroy();
    // The capture helper leaves its temp folder: remove ours.
    if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });

  test('the sessions we expect, with their values', () => {
    const view = sessions.map((s) => [s.request_type, s.request_resource, s.response_status, s.response_code, s.response_result]);
    // Five connections: four mariadb CLI runs and the binary client.
    expect(new Set(sessions.map((s) => s.client_port)).size).toBe(5);
    expect(view).toEqual(
      expect.arrayContaining([
        ['COM_QUERY', "INSERT INTO orders VALUES (1,'apple',3),(2,'pear',5),(3,'fig',1)", 'ok', null, '3'],
        ['COM_QUERY', 'SELECT * FROM orders WHERE qty > 1', 'ok', null, '2'],
        ['COM_QUERY', 'UPDATE orders SET qty = qty + 1 WHERE id IN (1, 2)', 'ok', null, '2'],
        ['COM_QUERY', 'SELECT * FROM missing_table', 'server_error', 1146, ''],
        ['COM_QUERY', 'EXECUTE s USING @id', 'ok', null, '1'],
        ['COM_QUERY', 'SELECT id, item FROM orders ORDER BY id', 'ok', null, '3'],
        ['COM_STMT_PREPARE', 'SELECT item, qty FROM orders WHERE id > ? AND item <> ?', 'ok', null, ''],
        ['COM_STMT_EXECUTE', 'SELECT item, qty FROM orders WHERE id > ? AND item <> ?', 'ok', null, '2'],
        ['COM_STMT_EXECUTE', 'SELECT item, qty FROM orders WHERE id > ? AND item <> ?', 'ok', null, '2'],
        ['COM_STMT_CLOSE', 'SELECT item, qty FROM orders WHERE id > ? AND item <> ?', 'ok', null, ''],
        ['COM_STMT_PREPARE', 'SELECT * FROM no_such_table WHERE a = ?', 'server_error', 1146, ''],
        ['COM_QUIT', '', 'ok', null, ''],
      ]),
    );
    const logins = sessions.filter((s) => s.request_type === 'LOGIN');
    expect(logins).toHaveLength(5);
    for (const l of logins) {
      expect(l).toMatchObject({ request_domain: 'shop', response_status: 'ok', version: '10' });
      expect(l.attributes['db.user']).toBe('metaflow');
      expect(l.attributes['db.server_version']).toMatch(/MariaDB/);
    }
    // The compressed connection.
    const big = sessions.find((s) => s.request_resource.startsWith("SELECT REPEAT('x', 5000)"));
    expect(big).toMatchObject({ response_status: 'ok', response_result: '1' });
    expect(big?.attributes['mysql.compressed']).toBe('true');
    // sqlcommenter.
    const traced = sessions.find((s) => s.request_resource.startsWith('SELECT COUNT(*) FROM orders'));
    expect(traced).toMatchObject({ trace_id: '0af7651916cd43dd8448eb211c80319c', span_id: 'b7ad6b7169203331', endpoint: 'SELECT orders', response_result: '1' });
    expect(sessions.every((s) => !s.truncated)).toBe(true);
  });

  test('obfuscation on by default: no literal reaches request_resource', () => {
    const text = obfuscated.map((s) => s.request_resource).join('\n');
    for (const literal of ['apple', 'pear', "'x'", '5000', TRACEPARENT]) expect(text).not.toContain(literal);
    expect(obfuscated.map((s) => s.request_resource)).toEqual(expect.arrayContaining(['INSERT INTO orders VALUES (?,?,?),(?,?,?),(?,?,?)', 'UPDATE orders SET qty = qty + ? WHERE id IN (?)']));
  });

  test('tshark agrees on commands, statements, error codes, users and schemas for ≥ 99% of sessions', async () => {
    const port = (server as MariadbServer).port;
    const rows = await tsharkFields(file, ['tcp.srcport', 'tcp.dstport', 'mysql.command', 'mysql.query', 'mysql.error_code', 'mysql.user', 'mysql.schema'], { decodeAs: [`tcp.port==${port},mysql`] });
    // Per client port: tshark's requests in order, its error codes in order, its logins.
    const reqs = new Map<number, Array<{ cmd: string; query?: string }>>();
    const errors = new Map<number, number[]>();
    const logins = new Map<number, { user: string; schema: string }>();
    for (const r of rows) {
      const src = Number(r['tcp.srcport'][0]);
      const dst = Number(r['tcp.dstport'][0]);
      if (dst === port) {
        const queries = [...r['mysql.query']];
        for (const c of r['mysql.command']) {
          const name = commandName(Number(c));
          const list = reqs.get(src) ?? [];
          list.push(name === 'COM_QUERY' || name === 'COM_STMT_PREPARE' ? { cmd: name, query: queries.shift() } : { cmd: name });
          reqs.set(src, list);
        }
        if (r['mysql.user'].length) logins.set(src, { user: r['mysql.user'][0], schema: r['mysql.schema'][0] ?? '' });
      } else {
        for (const e of r['mysql.error_code']) errors.set(dst, [...(errors.get(dst) ?? []), Number(e)]);
      }
    }
    let compared = 0;
    let agreed = 0;
    const disagreements: string[] = [];
    const check = (what: string, tshark: unknown, ours: unknown) => {
      compared++;
      if (JSON.stringify(tshark) === JSON.stringify(ours)) agreed++;
      else disagreements.push(`${what}: tshark ${JSON.stringify(tshark)} ours ${JSON.stringify(ours)}`);
    };
    for (const [clientPort, list] of reqs) {
      const ours = sessions.filter((s) => s.client_port === clientPort && s.request_type !== 'LOGIN');
      list.forEach((t, i) => {
        check(`${clientPort}#${i} command`, t.cmd, ours[i]?.request_type);
        if (t.query !== undefined) check(`${clientPort}#${i} query`, t.query, ours[i]?.request_resource);
      });
      const theirCodes = errors.get(clientPort) ?? [];
      const ourCodes = ours.filter((s) => s.response_code !== null).map((s) => s.response_code);
      for (let i = 0; i < Math.max(theirCodes.length, ourCodes.length); i++) check(`${clientPort} error ${i}`, theirCodes[i], ourCodes[i]);
    }
    for (const [clientPort, l] of logins) {
      const ours = sessions.find((s) => s.client_port === clientPort && s.request_type === 'LOGIN');
      check(`${clientPort} user`, l.user, ours?.attributes['db.user']);
      check(`${clientPort} schema`, l.schema, ours?.request_domain);
    }
    console.log(`MariaDB vs tshark: ${agreed}/${compared} fields agree (${((100 * agreed) / compared).toFixed(1)}%) over ${sessions.length} sessions; tshark decoded ${reqs.size} of 5 connections${disagreements.length ? '\n' + disagreements.join('\n') : ''}`);
    expect(compared).toBeGreaterThan(30);
    expect(agreed / compared).toBeGreaterThanOrEqual(0.99);
  });
});
