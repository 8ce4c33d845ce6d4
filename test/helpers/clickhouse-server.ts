/**
 * Starts a real ClickHouse server (Debian's `clickhouse-server`, 18.16) for
 * tests: on loopback, on free non-default ports (HTTP and native TCP; the
 * interserver port is left out, which disables it), with a generated
 * config.xml/users.xml in a temp folder and a user with a password.
 *
 * `start()` resolves once `/ping` answers; `stop()` stops the process and is
 * safe to call twice; the server can be started again on the same ports and
 * data (to simulate an outage). `destroy()` also removes the temp folder.
 * When the binary is missing it is installed with apt-get (the machine is
 * root; `make test` does the same in CI).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { freePorts } from './ports';
import { fileTail, ServerProcess, startOrDestroy, waitReady } from './process';

/** Candidate locations of the server binary (Debian puts it in /usr/sbin). */
const BINARIES = ['/usr/bin/clickhouse-server', '/usr/sbin/clickhouse-server'];

/** Finds the server binary, installing Debian's package when it is missing. */
export function clickhouseServerBinary(): string {
  const found = () => BINARIES.find((b) => fs.existsSync(b));
  let bin = found();
  if (bin) return bin;
  try {
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'clickhouse-server'], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      stdio: 'pipe',
      timeout: 600_000,
    });
  } catch (err) {
    throw new Error(`clickhouse-server is not installed and apt-get could not install it: ${(err as Error).message}`);
  }
  bin = found();
  if (!bin) throw new Error(`clickhouse-server was installed but is in none of ${BINARIES.join(', ')}`);
  return bin;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/ping', timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(res.statusCode === 200 && body.startsWith('Ok')));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Options of {@link ClickHouseServer}. */
export interface ClickHouseServerOptions {
  username?: string;
  password?: string;
}

/** One test server; see the module doc. */
export class ClickHouseServer extends ServerProcess {
  readonly username: string;
  readonly password: string;
  httpPort = 0;
  tcpPort = 0;

  constructor(opts: ClickHouseServerOptions = {}) {
    super('clickhouse', { killAfterMs: 15_000 });
    this.username = opts.username ?? 'metaflow';
    this.password = opts.password ?? 'test-password';
  }

  /** The HTTP endpoint, as the exporter's `endpoint` takes it. */
  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  private writeConfig(): void {
    for (const d of ['data', 'tmp', 'user_files', 'format_schemas', 'log']) fs.mkdirSync(path.join(this.dir, d), { recursive: true });
    const p = (s: string) => xmlEscape(path.join(this.dir, s));
    fs.writeFileSync(
      path.join(this.dir, 'config.xml'),
      `<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>${p('log/server.log')}</log>
    <errorlog>${p('log/error.log')}</errorlog>
    <size>10M</size>
    <count>1</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${this.httpPort}</http_port>
  <tcp_port>${this.tcpPort}</tcp_port>
  <path>${p('data/')}</path>
  <tmp_path>${p('tmp/')}</tmp_path>
  <user_files_path>${p('user_files/')}</user_files_path>
  <format_schema_path>${p('format_schemas/')}</format_schema_path>
  <users_config>${p('users.xml')}</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>104857600</mark_cache_size>
  <uncompressed_cache_size>104857600</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
</yandex>
`,
    );
    const user = (name: string, password: string) => `
    <${name}>
      <password>${xmlEscape(password)}</password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </${name}>`;
    fs.writeFileSync(
      path.join(this.dir, 'users.xml'),
      `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users>${user('default', '')}${this.username === 'default' ? '' : user(this.username, this.password)}
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`,
    );
  }

  /** Starts the server (again, on the same ports and data, after a stop) and waits for /ping. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.started) return;
    const bin = clickhouseServerBinary();
    if (!this.httpPort) [this.httpPort, this.tcpPort] = await freePorts(2);
    this.writeConfig();
    const out = fs.openSync(path.join(this.dir, 'log', 'stdout.log'), 'a');
    const child = this.launch(bin, [`--config-file=${path.join(this.dir, 'config.xml')}`], { cwd: this.dir, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    if (await waitReady(child, () => ping(this.httpPort), timeoutMs, 100)) return;
    const exitedEarly = !child.alive();
    const log = this.logTail();
    await this.stop();
    throw new Error(`clickhouse-server did not answer /ping on port ${this.httpPort}${exitedEarly ? ' (it exited)' : ''}:\n${log}`);
  }

  /** The end of the server's logs, for failure messages. */
  logTail(): string {
    return ['stdout.log', 'error.log']
      .map((f) => fileTail(path.join(this.dir, 'log', f)))
      .filter(Boolean)
      .join('\n');
  }
}

/** Creates and starts a server. */
export function startClickHouseServer(opts?: ClickHouseServerOptions): Promise<ClickHouseServer> {
  return startOrDestroy(new ClickHouseServer(opts));
}
