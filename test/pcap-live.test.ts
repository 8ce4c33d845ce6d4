/**
 * Live capture on loopback with real servers and real clients: Debian's
 * nginx serving curl and wrk, redis-server serving redis-cli. The pcap
 * receiver (tcpdump engine, cap engine, and the `any` pseudo-interface)
 * must turn the packets into HTTP and Redis spans with the right method,
 * path, status and timings, flow logs with the handshake RTT and a clean
 * close, and network metrics that agree with the flow logs; kernel drops
 * are counted when the capture cannot keep up; a bad interface or filter
 * leaves the receiver idle with the reason. Last, `metaflow start` with the
 * receiver on lo shows curl's spans through `metaflow query`.
 *
 * Needs root (packet capture) and the Debian packages of the Makefile;
 * skipped, and saying so, only where the process may not capture.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Span } from '../pipeline/pdata';
import { FLOW_ATTR } from '../protocols/flow/signals';
import { capAvailable, findTcpdump } from '../receivers/pcap/capture';
import { makeReceiver, metricSum, type Harness } from '../receivers/pcap/testing';
import { NginxServer } from './helpers/nginx';
import { runCli, startMetaflow, type Metaflow } from './helpers/metaflow';
import { redisServer, type TestServer } from './protocols-kv/servers';

const exec = promisify(execFile);
const root = process.getuid?.() === 0;
const haveTcpdump = findTcpdump() !== '';
if (!root) process.stdout.write('pcap live tests skipped: packet capture needs root\n');
const live = root && haveTcpdump ? describe : describe.skip;

/** Waits for `cond`, checking every 100 ms; fails with `what` after `ms`. */
async function until(what: string, cond: () => boolean, ms = 30_000, detail: () => unknown = () => ''): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}: ${JSON.stringify(detail())}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface CurlResult {
  code: number;
  localPort: number;
  /** Total time in ns as curl measured it. */
  totalNs: number;
}

async function curl(url: string, extra: string[] = []): Promise<CurlResult> {
  const { stdout } = await exec('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{local_port} %{time_total}', ...extra, url]);
  const [code, port, total] = stdout.trim().split(' ');
  return { code: Number(code), localPort: Number(port), totalNs: Math.round(Number(total) * 1e9) };
}

function spansOf(h: Harness, clientPort: number): Span[] {
  return h.spans.filter((s) => s.attributes['metaflow.client.port'] === clientPort);
}

function durationNs(s: Span): number {
  return Number(s.endTimeUnixNano - s.startTimeUnixNano);
}

let nginx: NginxServer;
/** Receivers a test started: shut down after it, even when it failed. */
const running: Harness[] = [];
afterEach(async () => {
  for (const h of running.splice(0)) await h.receiver.shutdown();
});

function make(...args: Parameters<typeof makeReceiver>): Harness {
  const h = makeReceiver(...args);
  running.push(h);
  return h;
}

let redis: TestServer;

live('pcap receiver capturing loopback', () => {
  beforeAll(async () => {
    nginx = new NginxServer({ files: { 'index.html': 'hello from nginx\n', 'wrk.html': 'x'.repeat(1024) } });
    await nginx.start();
    redis = redisServer();
    await redis.start();
  });
  afterAll(async () => {
    await nginx?.destroy();
    await redis?.destroy();
  });

  test('tcpdump engine: curl, wrk and redis-cli become spans, flow logs and network metrics with the right values', async () => {
    const h = make({
      interfaces: ['lo'],
      engine: 'tcpdump',
      bpf_filter: `tcp port ${nginx.port} or tcp port ${redis.port}`,
      flow_logs: { interval: '1s' },
    });
    await h.receiver.start();
    expect(h.receiver.stats()).toMatchObject({ unavailable: '', engine: 'tcpdump', interfaces: ['lo'] });
    const base = `http://127.0.0.1:${nginx.port}`;
    const ok = await curl(`${base}/index.html`);
    const missing = await curl(`${base}/missing`);
    const post = await curl(`${base}/index.html`, ['-X', 'POST', '-d', 'a=1']);
    expect([ok.code, missing.code, post.code]).toEqual([200, 404, 405]);
    // wrk paced by a Lua delay (2 connections, a request every 2 ms each, ~1000/s): on two cores shared
    // with wrk and nginx an unpaced wrk outruns any capture, and the kernel drops (counted in another test).
    const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mf-wrk-')), 'paced.lua');
    fs.writeFileSync(script, 'function delay()\n  return 2\nend\n');
    const { stdout: wrkOut } = await exec('wrk', ['-t1', '-c2', '-d2s', '-s', script, `${base}/wrk.html`]);
    const wrkRequests = Number(/(\d+) requests in/.exec(wrkOut)?.[1]);
    expect(wrkRequests).toBeGreaterThan(100);
    const cli = (...args: string[]) => exec('redis-cli', ['-p', String(redis.port), ...args]).then((r) => r.stdout.trim());
    expect(await cli('SET', 'pcap:key', 'hello')).toBe('OK');
    expect(await cli('GET', 'pcap:key')).toBe('hello');
    expect(await cli('INCR', 'pcap:key')).toMatch(/ERR value is not an integer/);

    const redisSpans = () => h.spans.filter((s) => s.attributes['db.system'] === 'redis');
    await until('the curl, wrk and redis spans', () => spansOf(h, post.localPort).length === 1 && redisSpans().length >= 3 && h.spans.filter((s) => s.attributes['url.path'] === '/wrk.html').length >= wrkRequests,
      30_000,
      () => ({ stats: h.receiver.stats(), spans: h.spans.length, redis: redisSpans().length, wrk: h.spans.filter((s) => s.attributes['url.path'] === '/wrk.html').length, wrkRequests, post: spansOf(h, post.localPort).length, paths: [...new Set(h.spans.map((s) => s.attributes['url.path']))] }),
    );
    await h.receiver.shutdown();
    const st = h.receiver.stats();

    // curl: one server span per request, the right method, path and status, inside curl's own time.
    for (const [r, method, path, status] of [
      [ok, 'GET', '/index.html', 200],
      [missing, 'GET', '/missing', 404],
      [post, 'POST', '/index.html', 405],
    ] as const) {
      const spans = spansOf(h, r.localPort);
      expect(spans).toHaveLength(1);
      const s = spans[0];
      expect(s.attributes).toMatchObject({
        'http.request.method': method,
        'url.path': path,
        'http.response.status_code': status,
        'metaflow.signal_source': 'packet',
        'metaflow.l7_protocol': 'HTTP',
        'metaflow.server.port': nginx.port,
        'network.interface.name': 'lo',
      });
      expect(s.kind).toBe(2); // SERVER: the server end is on this host
      expect(durationNs(s)).toBeGreaterThan(0);
      expect(durationNs(s)).toBeLessThan(r.totalNs);
    }
    // wrk: every completed request is a span; connections cut at the end may add one each.
    const wrkSpans = h.spans.filter((s) => s.attributes['url.path'] === '/wrk.html');
    expect(wrkSpans.length).toBeGreaterThanOrEqual(wrkRequests);
    expect(wrkSpans.length).toBeLessThanOrEqual(wrkRequests + 2);
    expect(wrkSpans.filter((s) => s.attributes['http.response.status_code'] === 200).length).toBeGreaterThanOrEqual(wrkRequests);
    expect(new Set(wrkSpans.map((s) => s.attributes['metaflow.client.port'])).size).toBe(2);
    // redis-cli: the commands, the error as an error.
    expect(redisSpans().map((s) => [s.attributes['metaflow.request_type'], s.attributes['metaflow.response_status']])).toEqual([
      ['SET', 'ok'],
      ['GET', 'ok'],
      ['INCR', 'server_error'],
    ]);

    // Flow logs: curl's connection, from handshake to both FINs, with its RTT inside curl's time.
    const finals = h.logs.filter((l) => l.attributes[`${FLOW_ATTR}closed`] === true);
    for (const r of [ok, missing, post]) {
      const mine = finals.filter((l) => l.attributes['client.port'] === r.localPort);
      expect(mine).toHaveLength(1);
      const a = mine[0].attributes;
      expect(a).toMatchObject({ 'client.address': '127.0.0.1', 'server.port': nginx.port, 'network.transport': 'tcp', 'metaflow.l7_protocol': 'HTTP' });
      expect(a[`${FLOW_ATTR}close_type`]).toBe('fin');
      // All of a connection's flow logs together: the handshake once, RTT measured once.
      const all = h.logs.filter((l) => l.attributes['client.port'] === r.localPort);
      const total = (k: string) => all.reduce((n, l) => n + Number(l.attributes[`${FLOW_ATTR}${k}`] ?? 0), 0);
      expect([total('syn'), total('synack'), total('rtt_count')]).toEqual([1, 1, 1]);
      expect(total('rtt_sum_us') * 1000).toBeLessThan(r.totalNs);
      expect(total('client_packets')).toBeGreaterThanOrEqual(4);
      expect(total('server_packets')).toBeGreaterThanOrEqual(3);
      expect(total('art_count')).toBe(1);
    }
    // Network metrics per second: nginx's packets equal those of its flow logs.
    const nginxLogPackets = h.logs
      .filter((l) => l.attributes['server.port'] === nginx.port)
      .reduce((n, l) => n + Number(l.attributes[`${FLOW_ATTR}client_packets`] ?? 0) + Number(l.attributes[`${FLOW_ATTR}server_packets`] ?? 0), 0);
    expect(nginxLogPackets).toBeGreaterThan(wrkRequests);
    expect(metricSum(h.metrics, 'metaflow.network.packets', { 'server.port': nginx.port, 'metaflow.granularity': '1s' })).toBe(nginxLogPackets);
    // Flows: curl's three, wrk's two and its address probe (wrk connects once before it starts).
    const nginxFlows = finals.filter((l) => l.attributes['server.port'] === nginx.port).length;
    expect(nginxFlows).toBe(3 + 2 + 1);
    expect(metricSum(h.metrics, 'metaflow.network.flows.new', { 'server.port': nginx.port, 'metaflow.granularity': '1s' })).toBe(nginxFlows);
    expect(metricSum(h.metrics, 'metaflow.network.flows.closed', { 'server.port': nginx.port, 'metaflow.granularity': '1s' })).toBe(nginxFlows);
    expect(metricSum(h.metrics, 'metaflow.network.rtt', { 'server.port': nginx.port, 'metaflow.granularity': '1s' })).toBe(nginxFlows);
    // Self-metrics: tcpdump knows the kernel drops (none here), every packet decoded.
    expect(st.kernelDrops).toBe(0);
    expect(st.packets).toBeGreaterThan(wrkRequests * 2);
    expect(st.decodeDrops).toEqual({});
    expect(await h.telemetry.value('metaflow_pcap_packets_total', { interface: 'lo' })).toBe(st.packets);
  });

  (capAvailable() ? test : test.skip)('cap engine: the in-process capture gives the same HTTP spans', async () => {
    const h = make({ interfaces: ['lo'], engine: 'cap', bpf_filter: `tcp port ${nginx.port}`, buffer_size_mib: 4 });
    await h.receiver.start();
    expect(h.receiver.stats()).toMatchObject({ unavailable: '', engine: 'cap', interfaces: ['lo'] });
    const results: CurlResult[] = [];
    for (let i = 0; i < 5; i++) results.push(await curl(`http://127.0.0.1:${nginx.port}/${i % 2 ? 'index.html' : 'nothing'}`));
    await until('five cap spans', () => results.every((r) => spansOf(h, r.localPort).length === 1));
    await h.receiver.shutdown();
    for (const [i, r] of results.entries()) {
      const s = spansOf(h, r.localPort)[0];
      expect(s.attributes).toMatchObject({ 'http.request.method': 'GET', 'url.path': i % 2 ? '/index.html' : '/nothing', 'http.response.status_code': i % 2 ? 200 : 404 });
      expect(durationNs(s)).toBeGreaterThanOrEqual(0);
    }
    // cap has no pcap_stats: kernel drops are unknown, not zero.
    expect(h.receiver.stats().kernelDrops).toBe(-1);
    expect(h.logs.filter((l) => l.attributes[`${FLOW_ATTR}closed`] === true && l.attributes['server.port'] === nginx.port)).toHaveLength(5);
  });

  test('interface any (Linux cooked capture) decodes the same traffic', async () => {
    const h = make({ interfaces: ['any'], engine: 'tcpdump', bpf_filter: `tcp port ${nginx.port}` }, { signals: ['traces'] });
    await h.receiver.start();
    const r = await curl(`http://127.0.0.1:${nginx.port}/index.html`);
    await until('the span seen through any', () => spansOf(h, r.localPort).length === 1);
    await h.receiver.shutdown();
    expect(spansOf(h, r.localPort)[0].attributes).toMatchObject({ 'http.request.method': 'GET', 'url.path': '/index.html', 'http.response.status_code': 200, 'network.interface.name': 'any' });
    expect(h.receiver.stats().decodeDrops).toEqual({});
  });

  test('a snap length shorter than the packets, promiscuous off: the cut packets are counted, the flows still measured', async () => {
    const h = make({ interfaces: ['lo'], engine: 'tcpdump', snaplen: 96, promiscuous: false, bpf_filter: `tcp port ${nginx.port}` });
    await h.receiver.start();
    const r = await curl(`http://127.0.0.1:${nginx.port}/wrk.html`);
    await until('the flow log of the cut connection', () => h.receiver.stats().packets >= 8);
    await h.receiver.shutdown();
    const st = h.receiver.stats();
    expect(st.packets).toBeGreaterThanOrEqual(8);
    const final = h.logs.find((l) => l.attributes['client.port'] === r.localPort && l.attributes[`${FLOW_ATTR}closed`] === true);
    expect(final?.attributes[`${FLOW_ATTR}close_type`]).toBe('fin');
    // The 1 KiB response did not fit in 96 bytes: counted as truncated.
    expect(await h.telemetry.value('metaflow_pcap_truncated_packets_total', { interface: 'lo' })).toBeGreaterThan(0);
  });

  test('kernel drops are counted when the capture cannot keep up', async () => {
    const h = make({ interfaces: ['lo'], engine: 'tcpdump', buffer_size_mib: 1, bpf_filter: `tcp port ${nginx.port}` }, { signals: ['metrics'] });
    await h.receiver.start();
    const wrk = spawn('wrk', ['-t2', '-c32', '-d4s', `http://127.0.0.1:${nginx.port}/wrk.html`], { stdio: 'ignore' });
    const done = new Promise((r) => wrk.once('exit', r));
    // Block this event loop while wrk floods lo: tcpdump's pipe fills, it stops reading, the kernel buffer overflows.
    await new Promise((r) => setTimeout(r, 300));
    const stopAt = Date.now() + 3000;
    while (Date.now() < stopAt) {
      // busy
    }
    await done;
    await h.receiver.shutdown();
    const st = h.receiver.stats();
    expect(st.kernelDrops).toBeGreaterThan(0);
    expect(await h.telemetry.value('metaflow_pcap_kernel_dropped_packets_total', { interface: 'lo' })).toBe(st.kernelDrops);
  });

  test.each([
    ['tcpdump', { interfaces: ['nosuch0'] }, /nosuch0/],
    ['tcpdump', { interfaces: ['lo'], bpf_filter: 'tcp port banana' }, /banana|syntax|illegal/i],
    ['cap', { interfaces: ['nosuch0'] }, /nosuch0/],
    ['cap', { interfaces: ['lo'], bpf_filter: 'tcp port banana' }, /banana|syntax|illegal/i],
  ] as const)('%s with %j: idle with the reason, or a startup failure when asked', async (engine, cfg, reason) => {
    if (engine === 'cap' && !capAvailable()) return;
    const h = make({ engine, ...cfg });
    await h.receiver.start();
    expect(h.receiver.stats().unavailable).toMatch(reason);
    expect(h.lines.some((l) => l.includes('pcap receiver unavailable'))).toBe(true);
    await h.receiver.shutdown();
    const strict = make({ engine, ...cfg, fail_on_unavailable: true });
    await expect(strict.receiver.start()).rejects.toMatchObject({ code: 'ERR_CAPTURE', message: expect.stringMatching(reason) });
    await strict.receiver.shutdown();
  });
});

live('metaflow start with the pcap receiver on lo', () => {
  let mf: Metaflow | undefined;
  let web: NginxServer;
  beforeAll(async () => {
    web = new NginxServer();
    await web.start();
  });
  afterAll(async () => {
    await mf?.stop();
    await web?.destroy();
  });

  test('curl against a local nginx shows up through metaflow query as spans, flow logs and network metrics', async () => {
    const config = `yaml:
receivers:
  pcap:
    interfaces: [lo]
    bpf_filter: tcp port ${web.port}
    flow_logs:
      interval: 1s
service:
  pipelines:
    traces:
      receivers: [otlp, pcap]
    metrics:
      receivers: [otlp, prometheusremotewrite, redmetrics, servicegraph, pcap]
    logs:
      receivers: [otlp, pcap]
`;
    mf = await startMetaflow({ configs: [config], waitForQuery: true });
    const server = `http://127.0.0.1:${mf.queryPort}`;
    const r = await curl(`http://127.0.0.1:${web.port}/index.html`);
    expect(r.code).toBe(200);
    const query = async (sql: string) => {
      const out = await runCli(['query', sql, '--format', 'json', '--server', server]);
      if (out.code !== 0) throw new Error(out.stderr);
      return (JSON.parse(out.stdout) as { rows: unknown[][] }).rows;
    };
    // Spans, flow logs and metrics reach the store through the batch processor: ask until they are there.
    const poll = async (what: string, sql: string, done: (rows: unknown[][]) => boolean): Promise<unknown[][]> => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const rows = await query(sql);
        if (done(rows)) return rows;
        if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}: last answer ${JSON.stringify(rows)}`);
        await new Promise((res) => setTimeout(res, 500));
      }
    };
    const spans = await poll(
      'the packet span in otel_traces',
      `SELECT SpanAttributes['http.request.method'], SpanAttributes['url.path'], SpanAttributes['http.response.status_code'], Duration FROM otel_traces WHERE SpanAttributes['metaflow.signal_source'] = 'packet' AND SpanAttributes['metaflow.client.port'] = '${r.localPort}'`,
      (rows) => rows.length > 0,
    );
    expect(spans).toHaveLength(1);
    expect(spans[0].slice(0, 3)).toEqual(['GET', '/index.html', '200']);
    expect(Number(spans[0][3])).toBeGreaterThan(0);
    expect(Number(spans[0][3])).toBeLessThan(r.totalNs);
    // The table view of the same query, as a user types it.
    const table = await runCli(['query', `SELECT SpanAttributes['url.path'] AS path FROM otel_traces WHERE SpanAttributes['metaflow.client.port'] = '${r.localPort}'`, '--server', server]);
    expect(table.stdout).toContain('/index.html');
    // A connection's flow logs: one per second it was active, the last one when it closed; its counters add up over them.
    const flows = await poll(
      'the flow log',
      `SELECT anyIf(CloseType, Closed), sum(RttCount), sum(ClientPackets), sum(ServerPackets), countIf(Closed) FROM flow_log WHERE ClientPort = ${r.localPort} AND ServerPort = ${web.port}`,
      (rows) => Number(rows[0]?.[4]) > 0,
    );
    expect(Number(flows[0][4])).toBe(1);
    expect(flows[0][0]).toBe('fin');
    expect(Number(flows[0][1])).toBe(1);
    expect(Number(flows[0][2])).toBeGreaterThanOrEqual(4);
    expect(Number(flows[0][3])).toBeGreaterThanOrEqual(3);
    const metrics = await poll('the network metrics', `SELECT sum(NewFlows), sum(ClosedFlows) FROM network_metrics WHERE ServerPort = ${web.port} AND Granularity = '1s'`, (rows) => Number(rows[0]?.[1]) >= 1);
    expect(metrics[0].map(Number)).toEqual([1, 1]);
    // Above start-up plus the three polls' own limits, so a slow machine still passes and a missing answer fails with the poll's message, not jest's timeout.
  }, 240_000);
});
