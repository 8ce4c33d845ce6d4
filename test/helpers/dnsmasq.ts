/**
 * Starts Debian's dnsmasq for tests as an authoritative-only DNS server on
 * 127.0.0.1 on a free port (UDP and TCP): no upstream, no /etc/hosts, only
 * the `records` given (name → IPv4 address). `start()` resolves once it
 * answers; `stop()` is safe to call twice; `destroy()` also removes its
 * folder.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from './ports';
import { ServerProcess, startOrDestroy, waitReady } from './process';

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
export class DnsmasqServer extends ServerProcess {
  port = 0;

  constructor(readonly records: Record<string, string> = { 'shop.metaflow.test': '10.1.2.3' }) {
    super('dnsmasq', { killAfterMs: 10_000 });
  }

  /** Starts dnsmasq and waits until it answers the first record. */
  async start(timeoutMs = 15_000): Promise<void> {
    if (this.started) return;
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
    const child = this.launch('/usr/sbin/dnsmasq', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const [name, ip] = Object.entries(this.records)[0];
    if (await waitReady(child, async () => (await dig(this.port, name)).includes(ip), timeoutMs, 100)) return;
    await this.stop();
    throw new Error(`dnsmasq did not answer on ${this.port}:\n${child.output()}`);
  }
}

/** Creates and starts a dnsmasq. */
export function startDnsmasq(records?: Record<string, string>): Promise<DnsmasqServer> {
  return startOrDestroy(new DnsmasqServer(records));
}
