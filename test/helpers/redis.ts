/**
 * Starts Debian's redis-server for tests: on 127.0.0.1, on a free port,
 * without persistence, its working folder in a temp folder. `start()`
 * resolves once it answers PING; `stop()` is safe to call twice;
 * `destroy()` also removes the folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';

/** Whether redis-server is installed. */
export function redisAvailable(): boolean {
  return fs.existsSync('/usr/bin/redis-server');
}

/** Sends one inline command and resolves with the first reply line ('' on failure). */
export function redisCommand(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    const done = (v: string) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(timeoutMs, () => done(''));
    s.once('connect', () => s.write(`${command}\r\n`));
    s.on('data', (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf('\r\n');
      if (nl >= 0) done(buf.slice(0, nl));
    });
    s.once('error', () => done(''));
  });
}

/** One redis-server; see the module doc. */
export class RedisServer {
  readonly dir: string;
  port = 0;
  private proc: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private output = '';

  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-redis-'));
  }

  /** Starts the server and waits for PING. */
  async start(timeoutMs = 15_000): Promise<void> {
    if (this.proc) return;
    if (!this.port) this.port = await freePort();
    const proc = spawn(
      '/usr/bin/redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--daemonize', 'no', '--protected-mode', 'no', '--logfile', ''],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc.stdout?.on('data', (c: Buffer) => (this.output = (this.output + c.toString()).slice(-4000)));
    proc.stderr?.on('data', (c: Buffer) => (this.output = (this.output + c.toString()).slice(-4000)));
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && proc.exitCode === null) {
      if ((await redisCommand(this.port, 'PING')) === '+PONG') return;
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.stop();
    throw new Error(`redis-server did not answer PING on ${this.port}:\n${this.output}`);
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
    const killer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  }

  /** Stops the server and removes its folder. */
  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Creates and starts a redis-server. */
export async function startRedis(): Promise<RedisServer> {
  const s = new RedisServer();
  try {
    await s.start();
  } catch (err) {
    await s.destroy();
    throw err;
  }
  return s;
}
