/**
 * The ebpf receiver against real servers and real clients on loopback:
 * nginx (HTTP and HTTPS), redis-server, mariadb-server and dnsmasq, driven by
 * curl, redis-cli, the mariadb client and dig, plus a Node service that calls
 * redis while handling each request. Runs for real as root on a kernel with
 * BTF once `make -C bpf` has built the programs; skips, saying why, where
 * eBPF cannot run.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { checkSupport } from '../bpf/index';
import { SpanKind } from '../pipeline/pdata';
import { spec as dnsSpec } from '../protocols/dns';
import { spec as httpSpec } from '../protocols/http1';
import * as mysql from '../protocols/mysql';
import { spec as redisSpec } from '../protocols/redis';
import type { ProtocolSpec } from '../protocols/types';
import { startReceiver, type CollectedSpan, type ReceiverHarness } from '../receivers/ebpf/testing';
import { heldPrograms, kernelIds, programsGone } from './helpers/bpf';
import { DnsmasqServer, dnsmasqAvailable } from './helpers/dnsmasq';
import { MariadbServer, mariadbAvailable } from './helpers/mariadb';
import { NginxServer, nginxAvailable } from './helpers/nginx';
import { freePorts } from './helpers/ports';
import { RedisServer, redisAvailable } from './helpers/redis';

const mysqlSpec = ((mysql as Record<string, unknown>).spec ?? (mysql as Record<string, unknown>).mysqlSpec) as ProtocolSpec;
const SPECS: ProtocolSpec[] = [httpSpec, redisSpec, mysqlSpec, dnsSpec];

const support = checkSupport();
const missing = [!nginxAvailable() && 'nginx', !redisAvailable() && 'redis-server', !mariadbAvailable() && 'mariadb-server', !dnsmasqAvailable() && 'dnsmasq/dig'].filter(Boolean);
const why = !support.ok ? support.error.message : missing.length ? `missing ${missing.join(', ')}` : '';
if (why) console.warn(`skipping the ebpf receiver tests: ${why}`);
const suite = why ? describe.skip : describe;

/** Runs a command to completion; resolves with stdout. */
function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 20_000 }, (err, out, errOut) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${errOut}`)) : resolve(out)));
    if (input !== undefined) child.stdin?.end(input);
  });
}

const attr = (s: CollectedSpan, k: string) => s.attributes[k];
const proc = (s: CollectedSpan) => s.resource['process.executable.name'];
const durationMs = (s: CollectedSpan) => Number(s.endTimeUnixNano - s.startTimeUnixNano) / 1e6;

suite('ebpf receiver with real servers and clients', () => {
  let h: ReceiverHarness;
  let nginx: NginxServer;
  let redis: RedisServer;
  let db: MariadbServer;
  let dns: DnsmasqServer;
  let service: ChildProcess | undefined;

  let servicePort = 0;

  beforeAll(async () => {
    nginx = new NginxServer({ tls: true, files: { 'index.html': 'hello from nginx\n', 'data.json': JSON.stringify({ items: [1, 2, 3] }) } });
    redis = new RedisServer();
    db = new MariadbServer();
    dns = new DnsmasqServer({ 'shop.metaflow.test': '10.1.2.3' });
    [nginx.port, nginx.tlsPort, redis.port, db.port, dns.port, servicePort] = await freePorts(6);
    // The receiver first: the servers' accepts and the clients' connects are then seen.
    // Only the test's ports: the machine is shared, and other traffic must not fill the ring buffer.
    h = await startReceiver({ capture_bytes: 4096, allow: { ports: [nginx.port, nginx.tlsPort, redis.port, db.port, dns.port, servicePort] } }, SPECS);
    expect(h.receiver.stats().unavailable).toBe('');
    await Promise.all([nginx.start(), redis.start(), db.start(), dns.start()]);
  }, 120_000);

  afterAll(async () => {
    service?.kill('SIGKILL');
    await Promise.all([nginx?.destroy(), redis?.destroy(), db?.destroy(), dns?.destroy()]);
    await h?.stop();
  }, 60_000);

  it('sees curl → nginx over HTTP as a client span and a server span with method, path, status and matching TCP sequences', async () => {
    await run('curl', ['-sf', '-o', '/dev/null', `${nginx.url}/data.json?page=2`, '-H', 'X-Request-ID: req-42']);
    const path = (s: CollectedSpan) => attr(s, 'url.path') === '/data.json' && attr(s, 'server.port') === nginx.port;
    const [client] = await h.waitFor((s) => path(s) && s.kind === SpanKind.CLIENT);
    const [server] = await h.waitFor((s) => path(s) && s.kind === SpanKind.SERVER);
    for (const s of [client, server]) {
      expect(s.name).toBe('GET /data.json');
      expect(s.attributes).toMatchObject({
        'http.request.method': 'GET',
        'url.query': 'page=2',
        'http.response.status_code': 200,
        'metaflow.signal_source': 'ebpf',
        'metaflow.l7_protocol': 'HTTP',
        'metaflow.x_request_id': 'req-42',
        'metaflow.response_length': 17,
        'metaflow.server.ip': '127.0.0.1',
      });
      expect(durationMs(s)).toBeGreaterThan(0);
      expect(durationMs(s)).toBeLessThan(5000);
    }
    expect(proc(client)).toBe('curl');
    expect(client.resource['process.executable.path']).toBe('/usr/bin/curl');
    expect(proc(server)).toBe('nginx');
    expect(nginx.pids()).toContain(server.attributes['metaflow.process.pid']);
    // The client's and the server's view of the same bytes.
    expect(client.attributes['metaflow.client.port']).toBe(server.attributes['metaflow.client.port']);
    expect(typeof client.attributes['metaflow.tcp.seq.request']).toBe('number');
    expect(client.attributes['metaflow.tcp.seq.request']).toBe(server.attributes['metaflow.tcp.seq.request']);
    expect(client.attributes['metaflow.tcp.seq.response']).toBe(server.attributes['metaflow.tcp.seq.response']);
    // The server span starts after the client span and ends before it.
    expect(server.startTimeUnixNano).toBeGreaterThanOrEqual(client.startTimeUnixNano);
    expect(server.endTimeUnixNano).toBeLessThanOrEqual(client.endTimeUnixNano);
  });

  it('sees the plaintext of curl → nginx over HTTPS through the OpenSSL probes, on both sides', async () => {
    expect(h.receiver.stats().opensslLibraries.length).toBeGreaterThan(0);
    await run('curl', ['-sfk', '-o', '/dev/null', `https://127.0.0.1:${nginx.tlsPort}/index.html?tls=1`]);
    const tls = (s: CollectedSpan) => attr(s, 'url.path') === '/index.html' && attr(s, 'url.query') === 'tls=1';
    const [client] = await h.waitFor((s) => tls(s) && s.kind === SpanKind.CLIENT);
    const [server] = await h.waitFor((s) => tls(s) && s.kind === SpanKind.SERVER);
    for (const s of [client, server]) {
      expect(s.name).toBe('GET /index.html');
      expect(s.attributes).toMatchObject({ 'http.response.status_code': 200, 'metaflow.tls': true, 'metaflow.server.port': nginx.tlsPort, 'metaflow.response_length': 17 });
    }
    expect(proc(client)).toBe('curl');
    expect(proc(server)).toBe('nginx');
    expect(client.attributes['metaflow.tcp.seq.request']).toBe(server.attributes['metaflow.tcp.seq.request']);
  });

  it('sees redis-cli commands on the client and in redis-server', async () => {
    await run('redis-cli', ['-p', String(redis.port), 'SET', 'ebpf:key', 'value-1']);
    await run('redis-cli', ['-p', String(redis.port), 'GET', 'ebpf:key']);
    const get = (s: CollectedSpan) => attr(s, 'metaflow.l7_protocol') === 'Redis' && attr(s, 'db.operation.name') === 'GET' && attr(s, 'server.port') === redis.port;
    const [client] = await h.waitFor((s) => get(s) && s.kind === SpanKind.CLIENT);
    const [server] = await h.waitFor((s) => get(s) && s.kind === SpanKind.SERVER);
    expect(proc(client)).toBe('redis-cli');
    expect(server.resource['process.pid']).toBe(redis.pid);
    for (const s of [client, server]) {
      expect(s.attributes).toMatchObject({ 'db.system': 'redis', 'metaflow.response_status': 'ok' });
      expect(String(s.attributes['db.query.text'])).toContain('ebpf:key');
    }
    const [set] = await h.waitFor((s) => attr(s, 'db.operation.name') === 'SET' && s.kind === SpanKind.SERVER && attr(s, 'server.port') === redis.port);
    expect(String(set.attributes['db.query.text'])).toContain('ebpf:key');
    expect(client.attributes['metaflow.tcp.seq.request']).toBe(server.attributes['metaflow.tcp.seq.request']);
  });

  it('sees SQL from the mariadb client on the client and in mariadbd', async () => {
    await run('mariadb', ['--no-defaults', '-h127.0.0.1', `-P${db.port}`, `-u${db.user}`, `-p${db.password}`, '--skip-ssl', db.database, '-e', 'SELECT 40 + 2 AS answer']);
    const q = (s: CollectedSpan) => attr(s, 'metaflow.l7_protocol') === 'MySQL' && String(attr(s, 'db.query.text') ?? '').startsWith('SELECT') && attr(s, 'server.port') === db.port;
    const [client] = await h.waitFor((s) => q(s) && s.kind === SpanKind.CLIENT);
    const [server] = await h.waitFor((s) => q(s) && s.kind === SpanKind.SERVER);
    expect(proc(client)).toBe('mariadb');
    expect(server.resource['process.pid']).toBe(db.pid);
    for (const s of [client, server]) {
      expect(s.attributes).toMatchObject({ 'db.system': 'mysql', 'metaflow.request_type': 'COM_QUERY', 'metaflow.response_status': 'ok' });
      // Literals are obfuscated by default.
      expect(s.attributes['db.query.text']).toBe('SELECT ? + ? AS answer');
      expect(durationMs(s)).toBeGreaterThan(0);
    }
  });

  it('sees dig → dnsmasq queries with the query name, on both sides', async () => {
    expect(await run('dig', ['@127.0.0.1', '-p', String(dns.port), 'shop.metaflow.test', 'A', '+short', '+tries=1'])).toContain('10.1.2.3');
    const q = (s: CollectedSpan) => attr(s, 'metaflow.l7_protocol') === 'DNS' && attr(s, 'dns.question.name') === 'shop.metaflow.test' && attr(s, 'server.port') === dns.port;
    const [client] = await h.waitFor((s) => q(s) && s.kind === SpanKind.CLIENT);
    const [server] = await h.waitFor((s) => q(s) && s.kind === SpanKind.SERVER);
    expect(proc(client)).toBe('dig');
    expect(server.resource['process.pid']).toBe(dns.pid);
    for (const s of [client, server]) {
      expect(s.name).toBe('DNS A shop.metaflow.test');
      expect(s.attributes).toMatchObject({ 'network.transport': 'udp', 'metaflow.response_status': 'ok' });
      expect(String(s.attributes['metaflow.response_result'])).toContain('10.1.2.3');
    }
  });

  it('gives a service’s inbound request and the redis call it makes while handling it one syscall trace id', async () => {
    const script = `
      const http = require('http'); const net = require('net');
      const redis = net.connect(${redis.port}, '127.0.0.1');
      let waiting = [];
      redis.on('data', (d) => { const cb = waiting.shift(); if (cb) cb(d.toString()); });
      http.createServer((req, res) => {
        waiting.push((reply) => res.end('cart:' + reply.trim()));
        redis.write('*2\\r\\n$3\\r\\nGET\\r\\n$8\\r\\nebpf:key\\r\\n');
      }).listen(${servicePort}, '127.0.0.1', function () { console.log(this.address().port); });`;
    service = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<number>((resolve) => service!.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    for (let i = 0; i < 3; i++) await run('curl', ['-sf', '-o', '/dev/null', `http://127.0.0.1:${port}/cart/${i}`]);
    const inbound = await h.waitFor((s) => s.kind === SpanKind.SERVER && attr(s, 'server.port') === port && String(attr(s, 'url.path')).startsWith('/cart/'), 3);
    const outbound = await h.waitFor((s) => s.kind === SpanKind.CLIENT && attr(s, 'metaflow.process.pid') === service!.pid && attr(s, 'metaflow.l7_protocol') === 'Redis', 3);
    const ids = (s: CollectedSpan) => [s.attributes['metaflow.syscall.trace_id.request'], s.attributes['metaflow.syscall.trace_id.response']];
    const inIds = inbound.map(ids);
    const outIds = outbound.map(ids);
    for (const [req, resp] of inIds) {
      expect(typeof req).toBe('number');
      expect(resp).toBe(req);
    }
    // Each request's own id, shared with the redis call made for it.
    expect(new Set(inIds.map(([r]) => r)).size).toBe(3);
    expect(outIds.map(([r]) => r).sort()).toEqual(inIds.map(([r]) => r).sort());
    for (const [req, resp] of outIds) expect(resp).toBe(req);
    // Same thread (Node's event loop), as the kernel saw it.
    expect(inbound[0].attributes['metaflow.thread.id']).toBe(service.pid);
  });

  it('does not trace the agent’s own requests at either end (its exporter’s traffic would feed back)', async () => {
    // This process runs the receiver: it is the agent.
    await new Promise<void>((resolve, reject) =>
      http
        .get(`${nginx.url}/index.html?from=agent`, (res) => {
          res.resume();
          res.on('end', () => resolve());
        })
        .on('error', reject),
    );
    // A request from another process right after it is seen: the agent's would have been by now.
    await run('curl', ['-sf', '-o', '/dev/null', `${nginx.url}/index.html?from=curl`]);
    await h.waitFor((s) => attr(s, 'url.query') === 'from=curl' && s.kind === SpanKind.SERVER);
    expect(h.spans.filter((s) => attr(s, 'url.query') === 'from=agent')).toEqual([]);
  });

  it('counts messages the parsers cannot read, by protocol, and keeps tracing', async () => {
    const failures = async () => Number(/metaflow_ebpf_parse_failures_total\{receiver="ebpf",protocol="HTTP"\} (\d+)/.exec(await h.telemetry.registry.metrics())?.[1]);
    const before = await failures();
    expect(before).toBeGreaterThanOrEqual(0);
    // nginx answers 400 to a request whose Content-Length is not a number; both parsers count it.
    await run('curl', ['-s', '-o', '/dev/null', '-H', 'Content-Length: twelve', `${nginx.url}/index.html?bad=1`]);
    // Events arrive in order: once a later request's span is in, the bad one was parsed.
    await run('curl', ['-sf', '-o', '/dev/null', `${nginx.url}/index.html?after=bad`]);
    await h.waitFor((s) => attr(s, 'url.query') === 'after=bad' && s.kind === SpanKind.SERVER);
    expect((await failures()) - before).toBeGreaterThanOrEqual(1);
    expect(h.receiver.stats().parseFailures).toBeGreaterThanOrEqual(1);
  });

  it('counts events, never loses any at this rate, and the agent’s own traffic is not traced', async () => {
    const stats = h.receiver.stats();
    expect(stats.events).toBeGreaterThan(20);
    expect(stats.lostEvents).toBe(0);
    expect(stats.spans).toBeGreaterThan(10);
    expect(h.spans.some((s) => s.resource['process.pid'] === process.pid)).toBe(false);
    const text = await h.telemetry.registry.metrics();
    expect(text).toMatch(/metaflow_ebpf_events_total\{receiver="ebpf"\} \d+/);
    expect(text).toMatch(/metaflow_ebpf_active_sockets\{receiver="ebpf"\} \d+/);
    expect(text).toMatch(/metaflow_ebpf_up\{receiver="ebpf"\} 1/);
    expect(text).toMatch(/metaflow_ebpf_lost_events_total\{receiver="ebpf"\} 0\n/);
    expect(text).toMatch(/metaflow_ebpf_events_per_second\{receiver="ebpf"\} \d+/);
    // Every parsed protocol has its failure counter, at 0 until one fails.
    expect(text).toMatch(/metaflow_ebpf_parse_failures_total\{receiver="ebpf",protocol="Redis"\} \d+/);
  });

  it('stopping the receiver leaves none of its BPF programs loaded and none of its probes attached', async () => {
    // This receiver's own programs and links, by kernel id: other processes
    // (other test files, other agents) may have theirs loaded meanwhile.
    const mine = h.receiver.kernelIds();
    expect(mine.programs.length).toBeGreaterThan(20);
    expect(mine.links.length).toBeGreaterThan(20);
    const before = kernelIds();
    expect(mine.programs.filter((id) => !before.programs.has(id))).toEqual([]);
    expect(mine.links.filter((id) => !before.links.has(id))).toEqual([]);
    await h.stop();
    expect(h.receiver.kernelIds()).toEqual({ programs: [], links: [] });
    // Detaching is synchronous; freeing a program waits for an RCU grace period.
    expect(await programsGone(mine.programs)).toEqual([]);
    const after = kernelIds();
    expect(mine.links.filter((id) => after.links.has(id))).toEqual([]);
    // Nor does this process hold any BPF program any more.
    expect(heldPrograms(process.pid)).toEqual([]);
  });
});
