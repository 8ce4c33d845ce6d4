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
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePorts } from './ports';
import { fileTail, ServerProcess, startOrDestroy, waitForPort } from './process';

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

/** One nginx; see the module doc. */
export class NginxServer extends ServerProcess {
  port = 0;
  tlsPort = 0;

  constructor(private readonly opts: NginxOptions = {}) {
    super('nginx', { killAfterMs: 10_000 });
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
    if (this.started) return;
    if (!this.port) [this.port, this.tlsPort] = await freePorts(2);
    this.writeConfig();
    const child = this.launch('/usr/sbin/nginx', ['-c', path.join(this.dir, 'nginx.conf'), '-p', this.dir, '-e', path.join(this.dir, 'error.log')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const ok = (await waitForPort(child, this.port, timeoutMs)) && (!this.opts.tls || (await waitForPort(child, this.tlsPort, timeoutMs)));
    if (!ok || !child.alive()) {
      await this.stop();
      throw new Error(`nginx did not start on ${this.port}: ${child.output()}${this.errorLog()}`);
    }
  }

  /** nginx's error log, for failure messages. */
  errorLog(): string {
    return fileTail(path.join(this.dir, 'error.log'));
  }

  /** Pids of the master and its workers (the processes that serve). */
  pids(): number[] {
    const master = this.pid;
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
}

/** Creates and starts an nginx. */
export function startNginx(opts?: NginxOptions): Promise<NginxServer> {
  return startOrDestroy(new NginxServer(opts));
}
