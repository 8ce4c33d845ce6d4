/**
 * The PostgreSQL parser on traffic from a real PostgreSQL 15, recorded on
 * loopback and dissected by tshark as the independent reference: psql
 * (SSLRequest refused, simple queries, an error, several statements in one
 * Query) and a hand-built extended-query client (Parse/Bind/Describe/Execute/
 * Sync, a named statement, a constraint error, a syntax error at Parse).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { captureAvailable, captureLoopback } from '../../test/helpers/capture';
import { tsharkAvailable, tsharkFields } from '../../test/helpers/tshark';
import { replayPcap } from '../testing/replay';
import type { ReplayedSession } from '../testing/replay';
import { postgresqlSpec } from './index';
import { PgServer, postgresAvailable, startPostgres } from './pgserver';
import * as pg from './testing';

const ready = postgresAvailable() && captureAvailable() && tsharkAvailable();
const suite = ready ? describe : describe.skip;
if (!ready) console.warn('skipping PostgreSQL capture tests: needs postgresql 15, root for tcpdump, and tshark');

function psql(port: number, commands: string[]): Promise<string> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-X', '-q', ...commands.flatMap((c) => ['-c', c])];
  return new Promise((resolve) => execFile('/usr/bin/psql', args, { timeout: 20_000, env: { ...process.env, PGCONNECT_TIMEOUT: '10' } }, (_e, out, err) => resolve(out + err)));
}

/** A frontend over a socket: sends messages, reads backend messages until ReadyForQuery. */
class Frontend {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
  }

  static async connect(port: number): Promise<Frontend> {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const f = new Frontend(sock);
    sock.write(pg.startup({ user: 'postgres', database: 'postgres', application_name: 'metaflow-test' }));
    await f.untilReady();
    return f;
  }

  /** Sends messages and returns the types of the replies up to ReadyForQuery. */
  async send(...messages: Buffer[]): Promise<string> {
    this.sock.write(Buffer.concat(messages));
    return this.untilReady();
  }

  private async untilReady(): Promise<string> {
    let types = '';
    for (;;) {
      while (this.buf.length >= 5 && this.buf.length >= 1 + this.buf.readUInt32BE(1)) {
        const t = String.fromCharCode(this.buf[0]);
        this.buf = this.buf.subarray(1 + this.buf.readUInt32BE(1));
        types += t;
        if (t === 'Z') return types;
      }
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }

  async end(): Promise<void> {
    this.sock.end(pg.terminate());
    await new Promise<void>((r) => this.sock.once('close', () => r()));
  }
}

suite('PostgreSQL parser on a real PostgreSQL 15, against tshark', () => {
  let server: PgServer | undefined;
  let file = '';
  let sessions: ReplayedSession[] = [];

  beforeAll(async () => {
    server = await startPostgres();
    const port = server.port;
    const cap = await captureLoopback(`tcp port ${port}`);
    try {
      await psql(port, [
        'CREATE TABLE items (id int PRIMARY KEY, name text, price numeric)',
        "INSERT INTO items VALUES (1, 'apple', 1.5), (2, 'pear', 2.25)",
        'SELECT * FROM items WHERE price > 1',
        'UPDATE items SET price = price * 2 WHERE id IN (1, 2)',
      ]);
      await psql(port, ['SELECT * FROM missing_table']);
      await psql(port, ['BEGIN; DELETE FROM items WHERE id = 2; COMMIT']);
      const f = await Frontend.connect(port);
      await f.send(pg.parse('', 'SELECT name FROM items WHERE id = $1'), pg.bind('', '', ['1']), pg.describe('P', ''), pg.execute(''), pg.sync());
      await f.send(pg.parse('ins', 'INSERT INTO items VALUES ($1, $2, $3)'), pg.describe('S', 'ins'), pg.sync());
      await f.send(pg.bind('', 'ins', ['3', 'fig', '0.5']), pg.execute(''), pg.sync());
      await f.send(pg.bind('', 'ins', ['3', 'fig again', '0.5']), pg.execute(''), pg.sync());
      await f.send(pg.parse('', 'SELEC broken'), pg.bind('', ''), pg.execute(''), pg.sync());
      await f.end();
    } finally {
      file = await cap.stop();
    }
    sessions = replayPcap(file, [postgresqlSpec], { obfuscateSql: false }).sessions;
  }, 180_000);

  afterAll(async () => {
    await server?.destroy();
    // The capture helper leaves its temp folder: remove ours.
    if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });

  test('the sessions we expect, with their values', () => {
    const view = sessions.map((s) => [s.request_type, s.request_resource, s.response_status, s.response_result]);
    expect(view).toEqual([
      ['Startup', '', 'ok', ''],
      ['Query', 'CREATE TABLE items (id int PRIMARY KEY, name text, price numeric)', 'ok', 'CREATE TABLE'],
      ['Query', "INSERT INTO items VALUES (1, 'apple', 1.5), (2, 'pear', 2.25)", 'ok', 'INSERT 0 2'],
      ['Query', 'SELECT * FROM items WHERE price > 1', 'ok', 'SELECT 2'],
      ['Query', 'UPDATE items SET price = price * 2 WHERE id IN (1, 2)', 'ok', 'UPDATE 2'],
      ['Terminate', '', 'ok', ''],
      ['Startup', '', 'ok', ''],
      ['Query', 'SELECT * FROM missing_table', 'client_error', '42P01'],
      ['Terminate', '', 'ok', ''],
      ['Startup', '', 'ok', ''],
      ['Query', 'BEGIN; DELETE FROM items WHERE id = 2; COMMIT', 'ok', 'COMMIT'],
      ['Terminate', '', 'ok', ''],
      ['Startup', '', 'ok', ''],
      ['Execute', 'SELECT name FROM items WHERE id = $1', 'ok', 'SELECT 1'],
      ['Parse', 'INSERT INTO items VALUES ($1, $2, $3)', 'ok', ''],
      ['Execute', 'INSERT INTO items VALUES ($1, $2, $3)', 'ok', 'INSERT 0 1'],
      ['Execute', 'INSERT INTO items VALUES ($1, $2, $3)', 'client_error', '23505'],
      ['Execute', 'SELEC broken', 'client_error', '42601'],
      ['Terminate', '', 'ok', ''],
    ]);
    for (const s of sessions.filter((x) => x.request_type === 'Startup')) {
      expect(s).toMatchObject({ request_domain: 'postgres', version: '3.0' });
      expect(s.attributes['db.user']).toBe('postgres');
      expect(s.attributes['db.server_version']).toMatch(/^15\./);
    }
    expect(sessions.find((s) => s.response_result === '23505')?.response_exception).toBe('duplicate key value violates unique constraint "items_pkey"');
    expect(sessions.every((s) => !s.truncated)).toBe(true);
  });

  test('tshark agrees on message SQL, error codes, command tags and startup parameters for ≥ 99% of sessions', async () => {
    const port = (server as PgServer).port;
    const rows = await tsharkFields(file, ['tcp.srcport', 'tcp.dstport', 'pgsql.type', 'pgsql.query', 'pgsql.code', 'pgsql.tag', 'pgsql.parameter_name', 'pgsql.parameter_value'], { decodeAs: [`tcp.port==${port},pgsql`] });
    const queries = new Map<number, string[]>();
    const codes = new Map<number, string[]>();
    const tags = new Map<number, string[]>();
    const startup = new Map<number, Record<string, string>>();
    const push = (m: Map<number, string[]>, k: number, v: string[]) => m.set(k, [...(m.get(k) ?? []), ...v]);
    for (const r of rows) {
      const src = Number(r['tcp.srcport'][0]);
      const dst = Number(r['tcp.dstport'][0]);
      if (dst === port) {
        push(queries, src, r['pgsql.query']);
        if (r['pgsql.type'].includes('Startup message')) {
          const params: Record<string, string> = {};
          r['pgsql.parameter_name'].forEach((n, i) => (params[n] = r['pgsql.parameter_value'][i]));
          startup.set(src, params);
        }
      } else {
        push(codes, dst, r['pgsql.code']);
        push(tags, dst, r['pgsql.tag']);
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
    for (const [clientPort, list] of queries) {
      const ours = sessions.filter((s) => s.client_port === clientPort);
      // Each Query or Parse tshark shows introduced the SQL of one session of ours (Query, Parse, or the Execute of its batch).
      const introduced = ours.filter((s) => s.request_type === 'Query' || s.request_type === 'Parse' || s.attributes['pg.parsed'] === 'true').map((s) => s.request_resource);
      for (let i = 0; i < Math.max(list.length, introduced.length); i++) check(`${clientPort} statement ${i}`, list[i], introduced[i]);
      const theirCodes = codes.get(clientPort) ?? [];
      const ourCodes = ours.filter((s) => s.attributes['sql.state']).map((s) => s.attributes['sql.state']);
      for (let i = 0; i < Math.max(theirCodes.length, ourCodes.length); i++) check(`${clientPort} error ${i}`, theirCodes[i], ourCodes[i]);
      // Our result is a reply's last tag: it must be among tshark's tags, in order.
      const theirs = tags.get(clientPort) ?? [];
      let at = 0;
      for (const s of ours.filter((x) => x.response_status === 'ok' && x.response_result)) {
        const found = theirs.indexOf(s.response_result, at);
        check(`${clientPort} tag ${s.response_result}`, true, found >= 0);
        if (found >= 0) at = found + 1;
      }
      const params = startup.get(clientPort);
      const st = ours.find((s) => s.request_type === 'Startup');
      if (params) {
        check(`${clientPort} user`, params.user, st?.attributes['db.user']);
        check(`${clientPort} database`, params.database, st?.request_domain);
      }
    }
    console.log(`PostgreSQL vs tshark: ${agreed}/${compared} fields agree (${((100 * agreed) / compared).toFixed(1)}%) over ${sessions.length} sessions${disagreements.length ? '\n' + disagreements.join('\n') : ''}`);
    expect(compared).toBeGreaterThan(20);
    expect(agreed / compared).toBeGreaterThanOrEqual(0.99);
  });
});
