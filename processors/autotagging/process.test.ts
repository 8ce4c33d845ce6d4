/**
 * Process tagging against real processes started by the test: a Node server
 * (run as `nobody`, with secrets in its arguments), nginx (master as root,
 * worker as nobody) and redis-server, plus a process placed in a
 * containerd-style cgroup. Expected values come from independent readings
 * (`ps`, `fs.realpathSync`, the spawn options), not from /proc parsing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { SpanKind, type Attributes } from '../../pipeline/pdata';
import { freePort } from '../../test/helpers/ports';
import { span } from '../internal/testing';
import { ProcessCache, ProcReader, containerFromCgroup, maskArgs, parseStat } from './process';
import { ContainerizedProcess, canMakeCgroups, eventually, psInfo, startProcessor, tagSpans, type Harness } from './testing';
import { nopTelemetry } from '../../pipeline/telemetry';

const NOBODY = 65534;
const MASK = /pass(word|wd)?|secret|token|api[-_]?key|access[-_]?key|credential|auth/i;

function get(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

async function waitForPort(port: number, child: ChildProcess, what: string): Promise<void> {
  await eventually(`${what} listening on ${port}`, async () => {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    return get(port).then(
      () => true,
      () => false,
    );
  });
}

function waitForRedis(port: number, child: ChildProcess): Promise<void> {
  return eventually(`redis on ${port}`, () => {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    return new Promise<boolean>((resolve) => {
      const s = require('node:net').connect(port, '127.0.0.1') as import('node:net').Socket;
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  });
}

async function kill(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(t);
}

/** The resource a span with `process.pid` = pid gets. */
async function resourceOf(h: Harness<'traces'>, pid: number, resource: Attributes = {}): Promise<Attributes> {
  const out = await tagSpans(h, resource, [span('s', { 'metaflow.signal_source': 'ebpf', 'process.pid': pid })]);
  return out.resourceSpans[0].resource.attributes;
}

function expectStartedAt(attrs: Attributes, pid: number): void {
  const created = new Date(attrs['process.creation.time'] as string).getTime();
  // ps shows whole seconds; the boot time both derive from is whole seconds too.
  expect(Math.abs(created - psInfo(pid).start.getTime())).toBeLessThan(1500);
}

describe('autotagging: processes by pid (real processes)', () => {
  let dir: string;
  let node: ChildProcess | undefined;
  let nginx: ChildProcess | undefined;
  let redis: ChildProcess | undefined;
  let h: Harness<'traces'>;
  let nodePort: number;
  let nginxPort: number;
  let redisPort: number;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaflow-autotag-'));
    fs.chmodSync(dir, 0o755);
    [nodePort, nginxPort, redisPort] = [await freePort(), await freePort(), await freePort()];
    const script = path.join(dir, 'server.js');
    fs.writeFileSync(script, "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');\n");
    fs.chmodSync(script, 0o644);
    node = spawn(process.execPath, [script, '--password=secret', '--token', 'abc123', '--name=demo', 'postgres://app:hunter2@db:5432/shop'], {
      uid: NOBODY,
      gid: NOBODY,
      env: { PORT: String(nodePort) },
      stdio: 'ignore',
    });
    fs.writeFileSync(
      path.join(dir, 'nginx.conf'),
      `user nobody nogroup;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server { listen 127.0.0.1:${nginxPort}; location / { return 200 'ok'; } }
}
`,
    );
    nginx = spawn('/usr/sbin/nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
    redis = spawn('/usr/bin/redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', 's3cret', '--dir', dir], { stdio: 'ignore' });
    await Promise.all([waitForPort(nodePort, node, 'node'), waitForPort(nginxPort, nginx, 'nginx'), waitForRedis(redisPort, redis)]);
    h = await startProcessor('traces', { detectors: [], process: { refresh_interval: '1h' } });
  });

  afterAll(async () => {
    await h?.proc.shutdown();
    await Promise.all([kill(node), kill(nginx), kill(redis)]);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a Node server: executable, command line with secrets masked, owner, parent, start time, no container', async () => {
    const a = await resourceOf(h, node!.pid!);
    expect(a['process.pid']).toBe(node!.pid);
    expect(a['process.executable.name']).toBe(path.basename(fs.realpathSync(process.execPath)));
    expect(a['process.executable.path']).toBe(fs.realpathSync(process.execPath));
    expect(a['process.command']).toBe(process.execPath);
    expect(a['process.command_args']).toEqual([process.execPath, path.join(dir, 'server.js'), '--password=***', '--token', '***', '--name=demo', 'postgres://app:***@db:5432/shop']);
    expect(a['process.command_line']).toBe(`${process.execPath} ${path.join(dir, 'server.js')} --password=*** --token *** --name=demo postgres://app:***@db:5432/shop`);
    expect(JSON.stringify(a)).not.toMatch(/secret|abc123|hunter2/);
    expect(a['process.owner']).toBe('nobody');
    expect(a['process.owner']).toBe(psInfo(node!.pid!).user);
    expect(a['process.user.id']).toBe(NOBODY);
    expect(a['process.parent_pid']).toBe(process.pid);
    expectStartedAt(a, node!.pid!);
    expect(a['container.id']).toBeUndefined();
    // No service.name from the app and no Kubernetes: the executable names the service.
    expect(a['service.name']).toBe('node');
  });

  it('nginx: the master (root) and its worker (nobody), with the titles nginx gave them', async () => {
    const master = await resourceOf(h, nginx!.pid!);
    expect(master['process.executable.path']).toBe('/usr/sbin/nginx');
    expect(master['process.executable.name']).toBe('nginx');
    expect(master['process.owner']).toBe('root');
    expect(String(master['process.command_line'])).toMatch(/^nginx: master process \/usr\/sbin\/nginx -p /);
    expectStartedAt(master, nginx!.pid!);
    const children = fs.readFileSync(`/proc/${nginx!.pid}/task/${nginx!.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    expect(children.length).toBe(1);
    const worker = await resourceOf(h, children[0]);
    expect(worker['process.owner']).toBe('nobody');
    expect(worker['process.owner']).toBe(psInfo(children[0]).user);
    expect(worker['process.parent_pid']).toBe(nginx!.pid);
    expect(worker['process.command_line']).toBe('nginx: worker process');
    expect(worker['container.id']).toBeUndefined();
  });

  it('redis-server: executable per /proc/<pid>/exe (Debian links redis-server to redis-check-rdb), rewritten title without the password', async () => {
    const a = await resourceOf(h, redis!.pid!, { 'service.name': 'cache' });
    expect(a['process.executable.path']).toBe(fs.realpathSync('/usr/bin/redis-server'));
    expect(a['process.executable.name']).toBe(path.basename(fs.realpathSync('/usr/bin/redis-server')));
    expect(String(a['process.command_line'])).toContain(`127.0.0.1:${redisPort}`);
    expect(JSON.stringify(a)).not.toContain('s3cret');
    expect(a['process.owner']).toBe('root');
    expectStartedAt(a, redis!.pid!);
    // The app named itself: kept.
    expect(a['service.name']).toBe('cache');
  });

  it('spans of several processes in one resource group are split into one resource per process', async () => {
    const out = await tagSpans(h, { 'telemetry.sdk.name': 'metaflow-ebpf' }, [
      span('a', { 'process.pid': node!.pid! }),
      span('b', { 'process.pid': nginx!.pid! }),
      span('c', { 'process.pid': node!.pid! }),
      span('d', {}),
    ]);
    const groups = out.resourceSpans.map((rs) => ({
      pid: rs.resource.attributes['process.pid'],
      exe: rs.resource.attributes['process.executable.name'],
      sdk: rs.resource.attributes['telemetry.sdk.name'],
      spans: rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => s.name)),
    }));
    expect(groups).toEqual([
      { pid: node!.pid, exe: path.basename(fs.realpathSync(process.execPath)), sdk: 'metaflow-ebpf', spans: ['a', 'c'] },
      { pid: nginx!.pid, exe: 'nginx', sdk: 'metaflow-ebpf', spans: ['b'] },
      { pid: undefined, exe: undefined, sdk: 'metaflow-ebpf', spans: ['d'] },
    ]);
  });

  it('looks pids up only for this host: not for a resource naming another host, and an SDK resource pid only when it names this host', async () => {
    const remote = await resourceOf(h, node!.pid!, { 'host.name': 'some-other-host' });
    expect(remote['process.executable.name']).toBeUndefined();
    const sdk = (pid: number, extra: Attributes) => tagSpans(h, { 'process.pid': pid, ...extra }, [span('s')]).then((t) => t.resourceSpans[0].resource.attributes);
    expect((await sdk(nginx!.pid!, {}))['process.executable.name']).toBeUndefined();
    expect((await sdk(nginx!.pid!, { 'host.name': os.hostname() }))['process.executable.name']).toBe('nginx');
  });

  it('both ends of a local zero-code span: host facts by address, the own process by span kind, the traced peer by pid', async () => {
    const workerPid = Number(fs.readFileSync(`/proc/${nginx!.pid}/task/${nginx!.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
    const tuple = { 'metaflow.client.ip': '127.0.0.1', 'metaflow.client.port': 40000, 'metaflow.server.ip': '127.0.0.1', 'metaflow.server.port': nginxPort };
    // nginx's server span (the ebpf receiver found the node client's socket too) and the node client's span.
    const serverSpan = span('GET /', { ...tuple, 'metaflow.process.pid': workerPid, 'process.pid': workerPid, 'metaflow.client.process.pid': node!.pid! }, SpanKind.SERVER);
    const clientSpan = span('GET /', { ...tuple, 'metaflow.process.pid': node!.pid!, 'process.pid': node!.pid!, 'metaflow.server.process.pid': workerPid }, SpanKind.CLIENT);
    const out = await tagSpans(h, { 'telemetry.sdk.name': 'metaflow-ebpf' }, [serverSpan, clientSpan]);
    const spans = out.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
    const nodeExe = path.basename(fs.realpathSync(process.execPath));
    for (const s of spans) {
      const a = s.attributes;
      expect(a['metaflow.server.process.pid']).toBe(workerPid);
      expect(a['metaflow.server.process.executable.name']).toBe('nginx');
      expect(a['metaflow.server.process.command_line']).toBe('nginx: worker process');
      expect(a['metaflow.server.process.owner']).toBe(psInfo(workerPid).user);
      expect(a['metaflow.client.process.pid']).toBe(node!.pid);
      expect(a['metaflow.client.process.executable.name']).toBe(nodeExe);
      expect(String(a['metaflow.client.process.command_line'])).toContain('--password=***');
      // detectors: [] gives no host facts: the address is local but there is nothing to say about the host.
      expect(a['metaflow.server.host.name']).toBeUndefined();
    }
    // A client gone from /proc before tagging: its own end still named from its resource.
    const gone = 4194303;
    const goneOut = await tagSpans(h, { 'process.pid': gone, 'process.executable.name': 'curl', 'host.name': os.hostname() }, [
      span('GET /', { ...tuple, 'metaflow.process.pid': gone, 'metaflow.server.process.pid': workerPid }, SpanKind.CLIENT),
    ]);
    const ga = goneOut.resourceSpans[0].scopeSpans[0].spans[0].attributes;
    expect(ga['metaflow.client.process.pid']).toBe(gone);
    expect(ga['metaflow.client.process.executable.name']).toBe('curl');
    expect(ga['metaflow.server.process.executable.name']).toBe('nginx');
    // Another host's spans: no local end facts, even with the same loopback tuple and pids.
    const remote = await tagSpans(h, { 'host.name': 'some-other-host' }, [span('GET /', { ...tuple, 'metaflow.process.pid': workerPid, 'metaflow.client.process.pid': node!.pid! }, SpanKind.SERVER)]);
    const ra = remote.resourceSpans[0].scopeSpans[0].spans[0].attributes;
    expect(ra['metaflow.server.process.executable.name']).toBeUndefined();
    expect(ra['metaflow.client.process.executable.name']).toBeUndefined();
    expect(ra['metaflow.server.process.pid']).toBeUndefined();
    // Its loopback ends are that host's.
    expect(ra['metaflow.server.host.name']).toBe('some-other-host');
    expect(ra['metaflow.client.host.name']).toBe('some-other-host');
  });

  it('host facts on the local ends only, with the system detector', async () => {
    const hh = await startProcessor('traces', { detectors: ['system'], process: { refresh_interval: '1h' } });
    try {
      const local = Object.values(os.networkInterfaces()).flatMap((l) => l ?? []).find((i) => i.family === 'IPv4' && !i.internal)?.address;
      const out = await tagSpans(hh, {}, [
        span('loopback', { 'metaflow.client.ip': '127.0.0.1', 'metaflow.server.ip': '::1' }),
        span('remote', { 'metaflow.client.ip': '203.0.113.7', 'metaflow.server.ip': local ?? '127.0.0.2' }),
      ]);
      const [lo, rem] = out.resourceSpans[0].scopeSpans[0].spans.map((s) => s.attributes);
      const hostName = out.resourceSpans[0].resource.attributes['host.name'];
      expect(typeof hostName).toBe('string');
      expect(lo['metaflow.client.host.name']).toBe(hostName);
      expect(lo['metaflow.server.host.name']).toBe(hostName);
      expect(rem['metaflow.client.host.name']).toBeUndefined();
      expect(rem['metaflow.server.host.name']).toBe(hostName);
    } finally {
      await hh.proc.shutdown();
    }
  });

  it('a pid that does not exist gets nothing', async () => {
    const missing = 4194303; // pid_max on 64-bit Linux; never a live process in a test
    expect(fs.existsSync(`/proc/${missing}`)).toBe(false);
    const a = await resourceOf(h, missing);
    expect(a['process.executable.name']).toBeUndefined();
    expect(a['service.name']).toBeUndefined();
  });

  (canMakeCgroups() ? it : it.skip)('a process in a containerd cgroup gets container.id from /proc/<pid>/cgroup', async () => {
    const id = 'ab'.repeat(32);
    const jail = new ContainerizedProcess(id, '9a3e1b2c-4d5f-4a6b-8c7d-9e0f1a2b3c4d');
    try {
      const a = await resourceOf(h, jail.pid);
      expect(a['container.id']).toBe(id);
      expect(a['process.executable.name']).toBe('sleep');
    } finally {
      await jail.stop();
    }
  });
});

describe('autotagging: the process cache', () => {
  let root: string;

  /** A fake /proc entry: enough files for the reader. */
  function fakeProc(pid: number, startTicks: number, argv: string[], uid = 0): void {
    const d = path.join(root, String(pid));
    fs.mkdirSync(d, { recursive: true });
    const fields = ['S', '1', String(pid), String(pid), '0', '-1', '4194560', ...new Array(12).fill('0'), String(startTicks), '1000', '10'];
    fs.writeFileSync(path.join(d, 'stat'), `${pid} (${path.basename(argv[0])}) ${fields.join(' ')}\n`);
    fs.writeFileSync(path.join(d, 'cmdline'), argv.join('\0') + '\0');
    fs.writeFileSync(path.join(d, 'status'), `Name:\t${path.basename(argv[0])}\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\n`);
    fs.writeFileSync(path.join(d, 'cgroup'), '0::/\n');
  }

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'metaflow-fakeproc-'));
    fs.writeFileSync(path.join(root, 'stat'), 'cpu  1 2 3\nbtime 1700000000\n');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('evicts a pid reused by another process (new start time) and reads the new one', async () => {
    const telemetry = nopTelemetry('processor', 'autotagging');
    const counted: string[] = [];
    telemetry.counter = (_n, _h, _c, labels) => void counted.push(String(labels?.reason));
    const cache = new ProcessCache(new ProcReader(root, MASK), 10, telemetry);
    fakeProc(42, 500, ['/usr/bin/old', '--x']);
    await cache.resolve([42]);
    expect(cache.get(42)?.executableName).toBe('old');
    expect(cache.get(42)?.flat).toContain('2023-11-14T22:13:25.000Z');
    fs.rmSync(path.join(root, '42'), { recursive: true });
    fakeProc(42, 900, ['/usr/bin/new']);
    await cache.refresh();
    expect(counted).toEqual(['reused']);
    expect(cache.get(42)?.executableName).toBe('new');
  });

  it('keeps an exited process for one more refresh (late spans), then evicts it', async () => {
    const telemetry = nopTelemetry('processor', 'autotagging');
    const counted: string[] = [];
    telemetry.counter = (_n, _h, _c, labels) => void counted.push(String(labels?.reason));
    const cache = new ProcessCache(new ProcReader(root, MASK), 10, telemetry);
    fakeProc(7, 100, ['/bin/short']);
    await cache.resolve([7]);
    fs.rmSync(path.join(root, '7'), { recursive: true });
    await cache.refresh();
    expect(cache.get(7)?.executableName).toBe('short');
    await cache.refresh();
    expect(cache.has(7)).toBe(false);
    expect(counted).toEqual(['exited']);
  });

  it('is bounded: beyond cache_size the least recently used entry goes, counted', async () => {
    const telemetry = nopTelemetry('processor', 'autotagging');
    const counted: string[] = [];
    telemetry.counter = (_n, _h, _c, labels) => void counted.push(String(labels?.reason));
    const cache = new ProcessCache(new ProcReader(root, MASK), 2, telemetry);
    for (const pid of [1, 2, 3]) fakeProc(pid, pid, [`/bin/p${pid}`]);
    await cache.resolve([1, 2]);
    cache.get(1); // recently used: survives
    await cache.resolve([3]);
    expect(cache.size).toBe(2);
    expect(cache.has(1)).toBe(true);
    expect(cache.has(2)).toBe(false);
    expect(counted).toEqual(['capacity']);
  });
});

describe('autotagging: /proc parsing', () => {
  const cg = (f: string) => fs.readFileSync(path.join(__dirname, 'testdata/cgroup', f), 'utf8');
  const ID = '4c01db0b339c5f5bd7e0a6e5de3c0e4a67a1c2b6b4d1e33e8b1b0cbaf1e9d7a2';
  const POD = '9a3e1b2c-4d5f-4a6b-8c7d-9e0f1a2b3c4d';

  it.each([
    ['docker-v1.txt', ID, ''],
    ['docker-systemd-v2.txt', ID, ''],
    ['containerd-kubepods-v1.txt', ID, POD],
    ['containerd-systemd-v2.txt', ID, POD],
    ['crio-v2.txt', ID, POD],
    ['podman-v2.txt', ID, ''],
    ['host-v1.txt', '', ''],
  ])('container id and pod uid from %s', (file, containerId, podUid) => {
    expect(containerFromCgroup(cg(file))).toEqual({ containerId, podUid });
  });

  it('reads stat fields after a process name holding spaces and parentheses', () => {
    expect(parseStat('123 (my (odd) name) S 1 123 123 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10\n')).toEqual({ comm: 'my (odd) name', ppid: 1, startTicks: '98765' });
    expect(parseStat('garbage')).toBeUndefined();
  });

  it('masks key=value, --key value and URL passwords; leaves the rest', () => {
    expect(maskArgs(['app', '--db-password=x', 'API_KEY=y', '-secret', 'z', '--secret', '--verbose', 'http://u:p@h/', '--name=n', 'plain'], MASK)).toEqual([
      'app',
      '--db-password=***',
      'API_KEY=***',
      '-secret',
      '***',
      '--secret',
      '--verbose',
      'http://u:***@h/',
      '--name=n',
      'plain',
    ]);
  });
});
