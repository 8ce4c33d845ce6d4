/**
 * Server processes started by tests, in one place: spawn one, wait until it
 * answers (or dies), keep the end of what it printed for the error message,
 * stop it (a signal, then SIGKILL when it has not exited after a while) and
 * remove its temp folder.
 *
 * The helpers for Debian's servers (nginx, redis, mariadb, dnsmasq,
 * clickhouse-server, PostgreSQL, the key-value servers) extend
 * {@link ServerProcess}; function-style helpers (Prometheus) use
 * {@link spawnServer}, {@link waitReady} and {@link stopChild} directly.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A spawned server process. */
export interface ServerChild {
  readonly proc: ChildProcess;
  /** Resolves once the process has exited. */
  readonly exited: Promise<void>;
  /** Whether it has not exited yet. */
  alive(): boolean;
  /** The end of what it wrote to its piped stdout and stderr ('' for what is not piped). */
  output(): string;
}

/** Spawns a server; keeps the last `outputLimit` characters of its piped stdout and stderr. */
export function spawnServer(bin: string, args: string[], options: SpawnOptions, outputLimit = 4000): ServerChild {
  const proc = spawn(bin, args, options);
  let out = '';
  const keep = (c: Buffer) => {
    out = (out + c.toString()).slice(-outputLimit);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  let running = true;
  const exited = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      running = false;
      resolve();
    }),
  );
  return { proc, exited, alive: () => running, output: () => out };
}

/**
 * Calls `ready` every `intervalMs` until it resolves true (→ true), the child
 * exits or `timeoutMs` has passed (→ false). A rejection counts as not ready.
 */
export async function waitReady(child: ServerChild, ready: () => Promise<boolean>, timeoutMs: number, intervalMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && child.alive()) {
    if (await ready().catch(() => false)) return true;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return false;
}

/** The last `chars` characters of a (log) file, '' when it cannot be read. */
export function fileTail(file: string, chars = 2000): string {
  try {
    return fs.readFileSync(file, 'utf8').slice(-chars);
  } catch {
    return '';
  }
}

/** Whether a TCP connection to 127.0.0.1:port is accepted now. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      s.destroy();
      resolve(false);
    });
  });
}

/** Waits (polling every 50 ms) until 127.0.0.1:port accepts connections; false when the child exits or time runs out. */
export function waitForPort(child: ServerChild, port: number, timeoutMs: number): Promise<boolean> {
  return waitReady(child, () => portOpen(port), timeoutMs, 50);
}

/** Sends `signal` unless the child has exited, SIGKILL after `killAfterMs`, and waits for the exit. */
export async function stopChild(child: ServerChild | undefined, killAfterMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!child) return;
  if (child.alive()) child.proc.kill(signal);
  const killer = setTimeout(() => child.proc.kill('SIGKILL'), killAfterMs);
  await child.exited;
  clearTimeout(killer);
}

/** How {@link ServerProcess.stop} stops the server. */
export interface StopOptions {
  /** The polite signal (default SIGTERM). */
  signal?: NodeJS.Signals;
  /** SIGKILL after this long. */
  killAfterMs: number;
}

/**
 * One test server process with its temp folder (`mf-<prefix>-…`, made by the
 * constructor). Subclasses spawn it with {@link launch} in their `start()`;
 * `stop()` stops it and is safe to call twice (the server can then be started
 * again on the same folder); `destroy()` also removes the folder.
 */
export class ServerProcess {
  readonly dir: string;
  private child: ServerChild | undefined;

  protected constructor(
    dirPrefix: string,
    private readonly stopWith: StopOptions,
  ) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `mf-${dirPrefix}-`));
  }

  /** Whether the process was launched and not stopped since. */
  protected get started(): boolean {
    return this.child !== undefined;
  }

  /** The server's pid. */
  get pid(): number | undefined {
    return this.child?.proc.pid;
  }

  /** Spawns the server process (see {@link spawnServer}) and keeps it for `stop()`. */
  protected launch(bin: string, args: string[], options: SpawnOptions): ServerChild {
    const child = spawnServer(bin, args, options);
    this.child = child;
    return child;
  }

  /** Stops the server and waits for it to exit. Safe to call twice. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    await stopChild(child, this.stopWith.killAfterMs, this.stopWith.signal);
  }

  /** Stops the server and removes its folder. */
  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts `server`; when that fails, destroys it (folder included) and rethrows. */
export async function startOrDestroy<T extends { start(): Promise<void>; destroy(): Promise<void> }>(server: T): Promise<T> {
  try {
    await server.start();
  } catch (err) {
    await server.destroy();
    throw err;
  }
  return server;
}
