/**
 * Starts Debian's nginx for tests: on 127.0.0.1, on free ports (HTTP and,
 * with `tls`, HTTPS with a fresh self-signed certificate for `localhost`),
 * with its config, logs, temp folders and document root in a temp folder.
 *
 * `start()` resolves once both ports accept connections; `stop()` stops the
 * master and its workers and is safe to call twice; `destroy()` also removes
 * the folder. Documents are given as `files` (path → content); `locations`
 * adds raw `location` blocks to both servers (e.g. a `proxy_pass`), `http`
 * raw directives at the http level (an `upstream`).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePorts } from './ports';

/** Options of {@link NginxServer}. */
export interface NginxOptions {
  /** Serve HTTPS too (self-signed certificate for localhost, 127.0.0.1). */
  tls?: boolean;
  /** Documents under the root, e.g. `{ 'index.html': 'hello' }`. */
  files?: Record<string, string | Buffer>;
  /** Extra nginx `location` blocks, added to every server. */
  locations?: string;
  /** Extra directives at the `http` level (e.g. an `upstream` block). */
  http?: string;
  /** Worker processes (default 1). */
  workers?: number;
  /** `sendfile on|off` (default on, as Debian ships it). */
  sendfile?: boolean;
}

/** Whether nginx is installed. */
export function nginxAvailable(): boolean {
  return fs.existsSync('/usr/sbin/nginx');
}

function waitForPort(port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  return new Promise((resolve) => {
    const attempt = () => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) resolve(false);
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** One nginx; see the module doc. */
export class NginxServer {
  readonly dir: string;
  port = 0;
  tlsPort = 0;
  private proc: ChildProcess | undefined;
  private exited: Promise<void> | undefined;

  constructor(private readonly opts: NginxOptions = {}) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-nginx-'));
  }

  /** http://127.0.0.1:port */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** https://localhost:tlsPort (the certificate's name). */
  get tlsUrl(): string {
    return `https://localhost:${this.tlsPort}`;
  }

  /** The self-signed certificate (PEM), for clients that verify. */
  get certFile(): string {
    return path.join(this.dir, 'cert.pem');
  }

  private writeConfig(): void {
    const d = this.dir;
    const root = path.join(d, 'www');
    fs.mkdirSync(root, { recursive: true });
    for (const [name, content] of Object.entries(this.opts.files ?? { 'index.html': 'hello from nginx\n' })) {
      const file = path.join(root, name);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, content);
    }
    if (this.opts.tls && !fs.existsSync(this.certFile)) {
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', path.join(d, 'key.pem'), '-out', this.certFile],
        { stdio: 'ignore' },
      );
    }
    const locations = this.opts.locations ?? '';
    const server = (listen: string, extra: string) => `
    server {
      listen ${listen};
      server_name localhost;
      root ${root};
      ${extra}
      location / { }
      ${locations}
    }`;
    fs.writeFileSync(
      path.join(d, 'nginx.conf'),
      `# Generated for a test.
user root;
daemon off;
worker_processes ${this.opts.workers ?? 1};
pid ${d}/nginx.pid;
error_log ${d}/error.log warn;
events { worker_connections 1024; }
http {
  default_type text/plain;
  access_log off;
  sendfile ${this.opts.sendfile === false ? 'off' : 'on'};
  keepalive_requests 1000000;
  client_body_temp_path ${d}/client_body;
  proxy_temp_path ${d}/proxy;
  fastcgi_temp_path ${d}/fastcgi;
  uwsgi_temp_path ${d}/uwsgi;
  scgi_temp_path ${d}/scgi;
  ${this.opts.http ?? ''}
  ${server(`127.0.0.1:${this.port}`, '')}
  ${this.opts.tls ? server(`127.0.0.1:${this.tlsPort} ssl`, `ssl_certificate ${this.certFile}; ssl_certificate_key ${d}/key.pem;`) : ''}
}
`,
    );
  }

  /** Starts nginx and waits until its ports accept connections. */
  async start(timeoutMs = 20_000): Promise<void> {
    if (this.proc) return;
    if (!this.port) [this.port, this.tlsPort] = await freePorts(2);
    this.writeConfig();
    const proc = spawn('/usr/sbin/nginx', ['-c', path.join(this.dir, 'nginx.conf'), '-p', this.dir, '-e', path.join(this.dir, 'error.log')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    const ok = (await waitForPort(this.port, timeoutMs)) && (!this.opts.tls || (await waitForPort(this.tlsPort, timeoutMs)));
    if (!ok || proc.exitCode !== null) {
      await this.stop();
      throw new Error(`nginx did not start on ${this.port}: ${stderr}${this.errorLog()}`);
    }
  }

  /** nginx's error log, for failure messages. */
  errorLog(): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'error.log'), 'utf8').slice(-2000);
    } catch {
      return '';
    }
  }

  /** Pids of the master and its workers (the processes that serve). */
  pids(): number[] {
    const master = this.proc?.pid;
    if (!master) return [];
    const out = [master];
    try {
      const children = fs.readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim();
      if (children) out.push(...children.split(/\s+/).map(Number));
    } catch {
      // Gone.
    }
    return out;
  }

  /** Stops nginx (fast shutdown) and waits for the master to exit. Safe to call twice. */
  async stop(): Promise<void> {
    const proc = this.proc;
    const exited = this.exited;
    this.proc = undefined;
    this.exited = undefined;
    if (!proc || !exited) return;
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const killer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  }

  /** Stops nginx and removes its folder. */
  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Creates and starts an nginx. */
export async function startNginx(opts?: NginxOptions): Promise<NginxServer> {
  const s = new NginxServer(opts);
  try {
    await s.start();
  } catch (err) {
    await s.destroy();
    throw err;
  }
  return s;
}
