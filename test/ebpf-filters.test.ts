/**
 * The ebpf receiver's filters, applied in the kernel: allow and deny by
 * process name, pid, port and cgroup, against a real nginx and real curl.
 * Runs for real as root with BTF once `make -C bpf` built the programs.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { checkSupport } from '../bpf/index';
import { SpanKind } from '../pipeline/pdata';
import { spec as httpSpec } from '../protocols/http1';
import { startReceiver, type CollectedSpan } from '../receivers/ebpf/testing';
import { nginxAvailable, startNginx, type NginxServer } from './helpers/nginx';

const support = checkSupport();
const why = !support.ok ? support.error.message : !nginxAvailable() ? 'nginx is not installed' : '';
if (why) console.warn(`skipping the ebpf filter tests: ${why}`);
const suite = why ? describe.skip : describe;

function curl(url: string): Promise<void> {
  return new Promise((resolve, reject) => execFile('curl', ['-sf', '-o', '/dev/null', url], { timeout: 10_000 }, (err) => (err ? reject(err) : resolve())));
}

/** This process's cgroup v2 path (the children it spawns start in it). */
function ownCgroup(): string {
  const line = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'));
  return line ? line.slice(3) || '/' : '/';
}

suite('ebpf receiver filters', () => {
  let nginx: NginxServer;
  beforeAll(async () => {
    nginx = await startNginx({ files: { 'a.txt': 'a' } });
  }, 30_000);
  afterAll(async () => {
    await nginx?.destroy();
  });

  const kinds = (spans: CollectedSpan[]) => spans.map((s) => `${s.kind === SpanKind.SERVER ? 'server' : 'client'}:${s.resource['process.executable.name']}`).sort();

  /**
   * Starts a receiver with `filters`, makes a request tagged `tag`, and
   * returns the kinds of its spans once the receiver has processed every
   * event the kernel wrote by then (and the `expected` ones have come).
   */
  async function traced(filters: Record<string, unknown>, tag: string, expected: number): Promise<string[]> {
    const h = await startReceiver(filters, [httpSpec]);
    const mine = (s: CollectedSpan) => s.attributes['url.query'] === tag;
    try {
      await curl(`${nginx.url}/a.txt?${tag}`);
      if (expected) await h.waitFor(mine, expected);
      await h.settle();
      return kinds(h.spans.filter(mine));
    } finally {
      await h.stop();
    }
  }

  it('traces both ends without filters', async () => {
    expect(await traced({}, 'none', 2)).toEqual(['client:curl', 'server:nginx']);
  });

  it('allows by process name and by pid', async () => {
    expect(await traced({ allow: { process_names: ['curl'] } }, 'allow-name', 1)).toEqual(['client:curl']);
    const worker = nginx.pids().filter((p) => p !== nginx.pids()[0]);
    expect(worker.length).toBe(1);
    expect(await traced({ allow: { pids: worker } }, 'allow-pid', 1)).toEqual(['server:nginx']);
  });

  it('denies by process name, wins over allow, and filters by port', async () => {
    expect(await traced({ deny: { process_names: ['nginx'] } }, 'deny-name', 1)).toEqual(['client:curl']);
    expect(await traced({ allow: { process_names: ['curl', 'nginx'] }, deny: { process_names: ['curl'] } }, 'deny-wins', 1)).toEqual(['server:nginx']);
    expect(await traced({ deny: { ports: [nginx.port] } }, 'deny-port', 0)).toEqual([]);
    expect(await traced({ allow: { ports: [nginx.port + 1 === 65536 ? 1 : nginx.port + 1] } }, 'allow-other-port', 0)).toEqual([]);
    expect(await traced({ allow: { ports: [nginx.port] } }, 'allow-port', 2)).toEqual(['client:curl', 'server:nginx']);
  });

  it('does not trace the far end of a connection the agent opened before tracing started', async () => {
    // A keep-alive connection from this process (the agent) to nginx, open before the receiver starts.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (q: string) =>
      new Promise<boolean>((resolve, reject) => {
        const req = http.get(`${nginx.url}/a.txt?${q}`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(req.reusedSocket));
        });
        req.on('error', reject);
      });
    await get('agent-before');
    const h = await startReceiver({ allow: { ports: [nginx.port] } }, [httpSpec]);
    try {
      expect(await get('agent-early')).toBe(true); // the same connection
      await curl(`${nginx.url}/a.txt?curl-after`);
      // Events arrive in order: once curl's request is in, nginx's side of the agent's would be too.
      await h.waitFor((s) => s.attributes['url.query'] === 'curl-after' && s.kind === SpanKind.SERVER);
      await h.settle();
      expect(kinds(h.spans.filter((s) => s.attributes['url.query'] === 'agent-early'))).toEqual([]);
    } finally {
      agent.destroy();
      await h.stop();
    }
  });

  it('filters by cgroup (the processes this test starts share its cgroup)', async () => {
    expect(await traced({ deny: { cgroups: [ownCgroup()] } }, 'deny-cgroup', 0)).toEqual([]);
    expect(await traced({ allow: { cgroups: [ownCgroup()] } }, 'allow-cgroup', 2)).toEqual(['client:curl', 'server:nginx']);
  });
});
