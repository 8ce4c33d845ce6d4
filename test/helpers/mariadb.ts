/**
 * Starts Debian's mariadb-server for tests: a fresh data folder made by
 * mariadb-install-db in a temp folder, mariadbd on 127.0.0.1 on a free port
 * (and a unix socket in the folder), and a database `database` owned by a
 * user `user`/`password` allowed from 127.0.0.1. `start()` resolves once the
 * server answers; `stop()` is safe to call twice; `destroy()` also removes
 * the folder.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';

/** Whether mariadb-server and its client are installed. */
export function mariadbAvailable(): boolean {
  return fs.existsSync('/usr/sbin/mariadbd') && fs.existsSync('/usr/bin/mariadb-install-db') && fs.existsSync('/usr/bin/mariadb');
}

/** One server; see the module doc. */
export class MariadbServer {
  readonly dir: string;
  readonly user = 'metaflow';
  readonly password = 'metaflow-test';
  readonly database = 'shop';
  port = 0;
  private proc: ChildProcess | undefined;
  private exited: Promise<void> | undefined;

  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-mariadb-'));
  }

  /** The unix socket (root can log in through it without a password). */
  get socket(): string {
    return path.join(this.dir, 'mysqld.sock');
  }

  /** Runs SQL as root over the unix socket; resolves with the output. */
  admin(sql: string): Promise<string> {
    return new Promise((resolve, reject) =>
      execFile('/usr/bin/mariadb', ['--no-defaults', '-uroot', `--socket=${this.socket}`, '-N', '-B', '-e', sql], { timeout: 20_000 }, (err, out, errOut) =>
        err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
      ),
    );
  }

  /** Installs the data folder (first start), starts mariadbd and creates the user and database. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.proc) return;
    if (!this.port) this.port = await freePort();
    const data = path.join(this.dir, 'data');
    const fresh = !fs.existsSync(data);
    if (fresh) {
      execFileSync('/usr/bin/mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=socket', '--skip-test-db', '--user=root'], {
        stdio: 'ignore',
        timeout: 120_000,
      });
    }
    const log = fs.openSync(path.join(this.dir, 'server.log'), 'a');
    const proc = spawn(
      '/usr/sbin/mariadbd',
      [
        '--no-defaults',
        `--datadir=${data}`,
        `--socket=${this.socket}`,
        `--port=${this.port}`,
        '--bind-address=127.0.0.1',
        `--pid-file=${path.join(this.dir, 'mariadbd.pid')}`,
        '--user=root',
        '--skip-log-bin',
        '--innodb-buffer-pool-size=32M',
        '--skip-name-resolve',
      ],
      { stdio: ['ignore', log, log] },
    );
    fs.closeSync(log);
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline && proc.exitCode === null) {
      try {
        await this.admin('SELECT 1');
        if (fresh) {
          await this.admin(
            `CREATE DATABASE IF NOT EXISTS ${this.database}; CREATE USER IF NOT EXISTS '${this.user}'@'127.0.0.1' IDENTIFIED BY '${this.password}'; GRANT ALL ON ${this.database}.* TO '${this.user}'@'127.0.0.1'; FLUSH PRIVILEGES;`,
          );
        }
        return;
      } catch (err) {
        last = (err as Error).message;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    await this.stop();
    throw new Error(`mariadbd did not start on ${this.port}: ${last}\n${this.logTail()}`);
  }

  /** The end of the server log. */
  logTail(): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'server.log'), 'utf8').slice(-2000);
    } catch {
      return '';
    }
  }

  /** The server's pid. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Stops the server and waits for it to exit. Safe to call twice. */
  async stop(): Promise<void> {
    const proc = this.proc;
    const exited = this.exited;
    this.proc = undefined;
    this.exited = undefined;
    if (!proc || !exited) return;
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const killer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(killer);
  }

  /** Stops the server and removes its folder. */
  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Creates and starts a server. */
export async function startMariadb(): Promise<MariadbServer> {
  const s = new MariadbServer();
  try {
    await s.start();
  } catch (err) {
    await s.destroy();
    throw err;
  }
  return s;
}
