/**
 * Starts Debian's dnsmasq for tests as an authoritative-only DNS server on
 * 127.0.0.1 on a free port (UDP and TCP): no upstream, no /etc/hosts, only
 * the `records` given (name → IPv4 address). `start()` resolves once it
 * answers; `stop()` is safe to call twice; `destroy()` also removes its
 * folder.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';

/** Whether dnsmasq and dig are installed. */
export function dnsmasqAvailable(): boolean {
  return fs.existsSync('/usr/sbin/dnsmasq') && fs.existsSync('/usr/bin/dig');
}

/** Runs `dig @127.0.0.1 -p port name type +short`; resolves with the answers. */
export function dig(port: number, name: string, type = 'A', extra: string[] = []): Promise<string[]> {
  return new Promise((resolve, reject) =>
    execFile('/usr/bin/dig', [`@127.0.0.1`, '-p', String(port), name, type, '+short', '+tries=1', '+time=2', ...extra], { timeout: 10_000 }, (err, out) =>
      err ? reject(err) : resolve(out.split('\n').filter(Boolean)),
    ),
  );
}

/** One dnsmasq; see the module doc. */
export class DnsmasqServer {
  readonly dir: string;
  port = 0;
  private proc: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private output = '';

  constructor(readonly records: Record<string, string> = { 'shop.metaflow.test': '10.1.2.3' }) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-dnsmasq-'));
  }

  /** Starts dnsmasq and waits until it answers the first record. */
  async start(timeoutMs = 15_000): Promise<void> {
    if (this.proc) return;
    if (!this.port) this.port = await freePort();
    const args = [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      `--port=${this.port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      '--no-poll',
      '--user=root',
      `--pid-file=${path.join(this.dir, 'dnsmasq.pid')}`,
      '--log-facility=-',
      ...Object.entries(this.records).map(([name, ip]) => `--host-record=${name},${ip}`),
    ];
    const proc = spawn('/usr/sbin/dnsmasq', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (c: Buffer) => (this.output = (this.output + c.toString()).slice(-4000)));
    proc.stderr?.on('data', (c: Buffer) => (this.output = (this.output + c.toString()).slice(-4000)));
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    const [name, ip] = Object.entries(this.records)[0];
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && proc.exitCode === null) {
      try {
        if ((await dig(this.port, name)).includes(ip)) return;
      } catch {
        // Not answering yet.
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.stop();
    throw new Error(`dnsmasq did not answer on ${this.port}:\n${this.output}`);
  }

  /** The server's pid. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Stops dnsmasq and waits for it to exit. Safe to call twice. */
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

  /** Stops dnsmasq and removes its folder. */
  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Creates and starts a dnsmasq. */
export async function startDnsmasq(records?: Record<string, string>): Promise<DnsmasqServer> {
  const s = new DnsmasqServer(records);
  try {
    await s.start();
  } catch (err) {
    await s.destroy();
    throw err;
  }
  return s;
}
