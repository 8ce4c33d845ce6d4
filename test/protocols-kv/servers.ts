/**
 * Real servers for the key-value and messaging protocol tests (dnsmasq,
 * redis-server, memcached, mosquitto, nats-server): each on 127.0.0.1 on a
 * free port, its config and data in a temp folder, started and probed until
 * it answers, stopped (and its folder removed) by `destroy()`, which is safe
 * to call twice and after a failed start. Tests call it from afterAll.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort } from '../helpers/ports';
import { ServerProcess, waitReady } from '../helpers/process';

/** A server process started by a test. */
export class TestServer extends ServerProcess {
  port = 0;

  constructor(
    readonly name: string,
    private readonly bin: string,
    private readonly args: (port: number, dir: string) => string[],
    private readonly ready: (port: number) => Promise<boolean>,
  ) {
    // Stopped with SIGTERM, SIGKILL after 10 s.
    super(name, { killAfterMs: 10_000 });
  }

  /** Whether the server binary is installed. */
  get available(): boolean {
    return fs.existsSync(this.bin);
  }

  /** Starts the server on a free port and waits until `ready` says it answers. */
  async start(timeoutMs = 15_000): Promise<void> {
    this.port = await freePort();
    const child = this.launch(this.bin, this.args(this.port, this.dir), { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.dir });
    if (await waitReady(child, () => this.ready(this.port), timeoutMs, 100)) return;
    await this.stop();
    throw new Error(`${this.name} did not answer on ${this.port}:\n${child.output()}`);
  }
}

/** Connects, sends `hello` (if any) and resolves with what the server sent within `ms`, '' on failure. */
export function probe(port: number, hello: string, ms = 500): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const done = () => {
      s.destroy();
      resolve(got);
    };
    s.setTimeout(ms, done);
    s.once('connect', () => hello && s.write(hello));
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (got.includes('\n')) done();
    });
    s.once('error', () => resolve(''));
  });
}

/** Runs a command and resolves with its stdout (rejects on failure or after `timeoutMs`). */
export function run(bin: string, args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(bin, args, { timeout: opts.timeoutMs ?? 20_000, maxBuffer: 16 * 1024 * 1024 }, (err, out, errOut) =>
      err ? reject(new Error(`${bin} ${args.join(' ')}: ${err.message}\n${errOut}`)) : resolve(out),
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** dnsmasq answering only what `extra` configures (no upstream, no hosts file). */
export function dnsmasq(extra: string[], probeName: string): TestServer {
  return new TestServer(
    'dnsmasq',
    '/usr/sbin/dnsmasq',
    (port, dir) => [
      '--no-daemon',
      '--conf-file=/dev/null',
      `--port=${port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      '--no-poll',
      '--user=root',
      `--pid-file=${path.join(dir, 'dnsmasq.pid')}`,
      ...extra,
    ],
    async (port) => (await run('/usr/bin/dig', ['@127.0.0.1', '-p', String(port), probeName, '+short', '+tries=1', '+time=1']).catch(() => '')).trim() !== '',
  );
}

/** redis-server without persistence. */
export function redisServer(): TestServer {
  return new TestServer(
    'redis',
    '/usr/bin/redis-server',
    (port, dir) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no'],
    async (port) => (await probe(port, 'PING\r\n')).startsWith('+PONG'),
  );
}

/** memcached, TCP only. */
export function memcachedServer(): TestServer {
  return new TestServer(
    'memcached',
    '/usr/bin/memcached',
    (port) => ['-p', String(port), '-U', '0', '-l', '127.0.0.1', '-u', 'root', '-m', '64'],
    async (port) => (await probe(port, 'version\r\n')).startsWith('VERSION'),
  );
}

/** mosquitto with a generated config: one listener, anonymous clients allowed. */
export function mosquittoServer(): TestServer {
  return new TestServer(
    'mosquitto',
    '/usr/sbin/mosquitto',
    (port, dir) => {
      const conf = path.join(dir, 'mosquitto.conf');
      fs.writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n`);
      return ['-c', conf];
    },
    async (port) => {
      // CONNECT (3.1.1, clean session, client id "probe") and wait for CONNACK.
      const connect = Buffer.from('101100044d5154540402003c000570726f6265', 'hex').toString('latin1');
      const got = await probe(port, connect);
      return got.charCodeAt(0) === 0x20;
    },
  );
}

/** nats-server. */
export function natsServer(): TestServer {
  return new TestServer(
    'nats',
    '/usr/sbin/nats-server',
    (port, dir) => ['-a', '127.0.0.1', '-p', String(port), '--server_name', 'mf-test', '-P', path.join(dir, 'nats.pid')],
    async (port) => (await probe(port, '')).startsWith('INFO '),
  );
}
