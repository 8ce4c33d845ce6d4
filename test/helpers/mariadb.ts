/**
 * Starts Debian's mariadb-server for tests: a fresh data folder made by
 * mariadb-install-db in a temp folder, mariadbd on 127.0.0.1 on a free port
 * (and a unix socket in the folder), and a database `database` owned by a
 * user `user`/`password` allowed from 127.0.0.1. `start()` resolves once the
 * server answers; `stop()` is safe to call twice; `destroy()` also removes
 * the folder.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from './ports';
import { fileTail, ServerProcess, startOrDestroy, waitReady } from './process';

/** Whether mariadb-server and its client are installed. */
export function mariadbAvailable(): boolean {
  return fs.existsSync('/usr/sbin/mariadbd') && fs.existsSync('/usr/bin/mariadb-install-db') && fs.existsSync('/usr/bin/mariadb');
}

/** One server; see the module doc. */
export class MariadbServer extends ServerProcess {
  readonly user = 'metaflow';
  readonly password = 'metaflow-test';
  readonly database = 'shop';
  port = 0;

  constructor() {
    super('mariadb', { killAfterMs: 20_000 });
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
    if (this.started) return;
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
    const child = this.launch(
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
    let last = '';
    const ready = async () => {
      try {
        await this.admin('SELECT 1');
        if (fresh) {
          await this.admin(
            `CREATE DATABASE IF NOT EXISTS ${this.database}; CREATE USER IF NOT EXISTS '${this.user}'@'127.0.0.1' IDENTIFIED BY '${this.password}'; GRANT ALL ON ${this.database}.* TO '${this.user}'@'127.0.0.1'; FLUSH PRIVILEGES;`,
          );
        }
        return true;
      } catch (err) {
        last = (err as Error).message;
        return false;
      }
    };
    if (await waitReady(child, ready, timeoutMs, 200)) return;
    await this.stop();
    throw new Error(`mariadbd did not start on ${this.port}: ${last}\n${this.logTail()}`);
  }

  /** The end of the server log. */
  logTail(): string {
    return fileTail(path.join(this.dir, 'server.log'));
  }
}

/** Creates and starts a server. */
export function startMariadb(): Promise<MariadbServer> {
  return startOrDestroy(new MariadbServer());
}
