/**
 * Starts Debian's redis-server for tests: on 127.0.0.1, on a free port,
 * without persistence, its working folder in a temp folder. `start()`
 * resolves once it answers PING; `stop()` is safe to call twice;
 * `destroy()` also removes the folder.
 */
import fs from 'node:fs';
import net from 'node:net';
import { freePort } from './ports';
import { ServerProcess, startOrDestroy, waitReady } from './process';

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
export class RedisServer extends ServerProcess {
  port = 0;

  constructor() {
    super('redis', { killAfterMs: 10_000 });
  }

  /** Starts the server and waits for PING. */
  async start(timeoutMs = 15_000): Promise<void> {
    if (this.started) return;
    if (!this.port) this.port = await freePort();
    const child = this.launch(
      '/usr/bin/redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--daemonize', 'no', '--protected-mode', 'no', '--logfile', ''],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    if (await waitReady(child, async () => (await redisCommand(this.port, 'PING')) === '+PONG', timeoutMs, 50)) return;
    await this.stop();
    throw new Error(`redis-server did not answer PING on ${this.port}:\n${child.output()}`);
  }
}

/** Creates and starts a redis-server. */
export function startRedis(): Promise<RedisServer> {
  return startOrDestroy(new RedisServer());
}
