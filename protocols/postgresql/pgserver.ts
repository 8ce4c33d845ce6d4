/**
 * Test helper: Debian's PostgreSQL 15 started for a test — a fresh cluster
 * made by initdb (trust authentication, no TLS) in a temp folder owned by the
 * `postgres` user, the server on 127.0.0.1 on a free port with its socket in
 * that folder. Runs as `postgres` (the server refuses root). `stop()` is safe
 * to call twice; `destroy()` also removes the folder.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../../test/helpers/ports';
import { fileTail, ServerProcess, startOrDestroy, waitReady } from '../../test/helpers/process';

const BIN = '/usr/lib/postgresql/15/bin';

function postgresIds(): { uid: number; gid: number } | undefined {
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) return undefined;
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

/** Whether PostgreSQL 15 and psql are installed and we can run the server as `postgres` (needs root). */
export function postgresAvailable(): boolean {
  return fs.existsSync(`${BIN}/postgres`) && fs.existsSync('/usr/bin/psql') && process.getuid?.() === 0 && postgresIds() !== undefined;
}

/** One server; see the module doc. */
export class PgServer extends ServerProcess {
  port = 0;

  constructor() {
    // Fast shutdown (SIGINT); SIGKILL after 20 s.
    super('postgres', { signal: 'SIGINT', killAfterMs: 20_000 });
  }

  /** initdb, then the server; resolves once it accepts connections. */
  async start(timeoutMs = 60_000): Promise<void> {
    const ids = postgresIds();
    if (!ids) throw new Error('no postgres user');
    fs.chownSync(this.dir, ids.uid, ids.gid);
    const data = path.join(this.dir, 'data');
    this.port = await freePort();
    execFileSync(`${BIN}/initdb`, ['-D', data, '--auth=trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C'], { ...ids, stdio: 'ignore', timeout: 120_000 });
    const log = fs.openSync(path.join(this.dir, 'server.log'), 'a');
    fs.fchownSync(log, ids.uid, ids.gid);
    const child = this.launch(`${BIN}/postgres`, ['-D', data, '-p', String(this.port), '-k', this.dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'shared_buffers=16MB', '-c', 'ssl=off'], {
      ...ids,
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    const ready = async () => spawnSync(`${BIN}/pg_isready`, ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres'], { stdio: 'ignore' }).status === 0;
    if (await waitReady(child, ready, timeoutMs, 200)) return;
    await this.stop();
    throw new Error(`postgres did not start on ${this.port}: ${this.logTail()}`);
  }

  /** The end of the server log. */
  logTail(): string {
    return fileTail(path.join(this.dir, 'server.log'));
  }
}

/** Creates and starts a server (removed again if it does not start). */
export function startPostgres(): Promise<PgServer> {
  return startOrDestroy(new PgServer());
}
