/**
 * The HTTP/1, HTTP/2 and gRPC parsers on traffic between real clients and
 * real servers, recorded on loopback and dissected both by us (replayPcap)
 * and by tshark on the same file:
 * - Debian's nginx (HTTP/1.1) with curl: GET/POST/HEAD, several requests per
 *   connection, gzip responses (chunked), 404s, a chunked request body, trace
 *   headers, and three pipelined requests from a raw socket;
 * - nghttpd (h2c, prior knowledge) with h2load (100 concurrent streams per
 *   connection) and nghttp (several URIs, a 404, trace headers);
 * - a @grpc/grpc-js server and client: unary, server streaming, error statuses.
 * For every session tshark reports, the fields it shows must equal ours on at
 * least 99% of the compared values; the expected disagreements are none.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { spec as http1Spec } from '../protocols/http1';
import { spec as http2Spec } from '../protocols/http2';
import { replayPcap, type ReplayedSession } from '../protocols/testing/replay';
import { captureAvailable, captureLoopback } from './helpers/capture';
import { freePort } from './helpers/ports';
import { tsharkAvailable, tsharkFields } from './helpers/tshark';

const haveTools = captureAvailable() && tsharkAvailable() && spawnSync('nginx', ['-v']).status === 0 && spawnSync('nghttpd', ['--version']).status === 0 && spawnSync('h2load', ['--version']).status === 0;
const maybe = haveTools ? describe : describe.skip;
if (!haveTools) console.warn('skipping real-traffic HTTP tests: needs root, tcpdump, tshark, nginx, nghttp2-server and nghttp2-client');

const TRACE = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** A field compared between tshark and us, for one session. */
interface Comparison {
  key: string;
  field: string;
  tshark: string;
  ours: string;
}

/** Counts agreement; returns the disagreements. */
function agreement(cmps: Comparison[]): { total: number; agreeing: number; disagreements: Comparison[] } {
  const disagreements = cmps.filter((c) => c.tshark !== c.ours);
  return { total: cmps.length, agreeing: cmps.length - disagreements.length, disagreements };
}

function waitForPort(port: number, timeoutMs = 10000): Promise<void> {
  const until = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > until) reject(new Error(`port ${port} did not open`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
    }, 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

function runTool(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

/** HTTP/1: tshark's requests and responses per TCP connection, paired in order, against our sessions. */
async function compareHttp1(file: string, port: number, sessions: ReplayedSession[]): Promise<{ cmps: Comparison[]; tsharkSessions: number }> {
  const rows = await tsharkFields(file, ['tcp.srcport', 'tcp.dstport', 'http.request.method', 'http.request.uri', 'http.host', 'http.response.code'], {
    filter: 'http',
    decodeAs: [`tcp.port==${port},http`],
  });
  const conns = new Map<number, { reqs: Array<[string, string, string]>; codes: string[] }>();
  for (const r of rows) {
    const src = Number(r['tcp.srcport'][0]);
    const client = src === port ? Number(r['tcp.dstport'][0]) : src;
    let c = conns.get(client);
    if (!c) conns.set(client, (c = { reqs: [], codes: [] }));
    const methods = r['http.request.method'];
    methods.forEach((m, i) => c!.reqs.push([m, r['http.request.uri'][i] ?? '', r['http.host'][i] ?? '']));
    for (const code of r['http.response.code']) c.codes.push(code);
  }
  const cmps: Comparison[] = [];
  let tsharkSessions = 0;
  for (const [client, c] of conns) {
    const mine = sessions.filter((s) => s.client_port === client);
    const n = Math.max(c.reqs.length, c.codes.length);
    tsharkSessions += n;
    for (let i = 0; i < n; i++) {
      const s = mine[i];
      const key = `${client}#${i}`;
      const [method, uri, host] = c.reqs[i] ?? ['', '', ''];
      cmps.push({ key, field: 'method', tshark: method, ours: s?.request_type ?? '(missing)' });
      cmps.push({ key, field: 'uri', tshark: uri, ours: s?.request_resource ?? '(missing)' });
      cmps.push({ key, field: 'host', tshark: host, ours: s?.request_domain ?? '(missing)' });
      cmps.push({ key, field: 'code', tshark: c.codes[i] ?? '', ours: s ? String(s.response_code ?? '') : '(missing)' });
    }
    if (mine.length > n) cmps.push({ key: `${client}#extra`, field: 'sessions', tshark: String(n), ours: String(mine.length) });
  }
  return { cmps, tsharkSessions };
}

/**
 * HTTP/2: tshark's header blocks, split per HEADERS frame with
 * `http2.header.count`, keyed by connection and stream id, against ours.
 */
async function compareHttp2(file: string, port: number, sessions: ReplayedSession[]): Promise<{ cmps: Comparison[]; tsharkSessions: number }> {
  const rows = await tsharkFields(file, ['tcp.srcport', 'tcp.dstport', 'http2.type', 'http2.streamid', 'http2.header.count', 'http2.header.name', 'http2.header.value'], {
    filter: 'http2',
    decodeAs: [`tcp.port==${port},http2`],
  });
  type H2 = { method: string; path: string; authority: string; status: string; grpcStatus: string; traceparent: string };
  const streams = new Map<string, H2>();
  for (const r of rows) {
    const src = Number(r['tcp.srcport'][0]);
    const fromServer = src === port;
    const client = fromServer ? Number(r['tcp.dstport'][0]) : src;
    const types = r['http2.type'];
    const sids = r['http2.streamid'];
    if (types.length !== sids.length) throw new Error(`frame ${r.frame[0]}: ${types.length} types but ${sids.length} stream ids`);
    const counts = r['http2.header.count'].map(Number);
    const names = r['http2.header.name'];
    const values = r['http2.header.value'];
    let block = 0;
    let h = 0;
    for (let f = 0; f < types.length; f++) {
      if (types[f] !== '1') continue;
      const n = counts[block++] ?? 0;
      const key = `${client}:${sids[f]}`;
      let st = streams.get(key);
      if (!st) streams.set(key, (st = { method: '', path: '', authority: '', status: '', grpcStatus: '', traceparent: '' }));
      for (let i = h; i < h + n; i++) {
        const name = names[i];
        const value = values[i] ?? '';
        if (!fromServer && name === ':method') st.method = value;
        else if (!fromServer && name === ':path') st.path = value;
        else if (!fromServer && name === ':authority') st.authority = value;
        else if (!fromServer && name === 'traceparent') st.traceparent = value;
        else if (fromServer && name === ':status' && st.status === '') st.status = value;
        else if (fromServer && name === 'grpc-status') st.grpcStatus = value;
      }
      h += n;
    }
  }
  const cmps: Comparison[] = [];
  for (const [key, t] of streams) {
    const [client, sid] = key.split(':').map(Number);
    const s = sessions.find((x) => x.client_port === client && x.request_id === String(sid));
    const grpcSession = s?.l7_protocol === 'gRPC';
    const status = s ? (grpcSession ? (s.attributes['http.response.status_code'] ?? '') : String(s.response_code ?? '')) : '(missing)';
    cmps.push({ key, field: 'method', tshark: t.method, ours: s?.request_type ?? '(missing)' });
    cmps.push({ key, field: 'path', tshark: t.path, ours: s?.request_resource ?? '(missing)' });
    cmps.push({ key, field: 'authority', tshark: t.authority, ours: s?.request_domain ?? '(missing)' });
    cmps.push({ key, field: 'status', tshark: t.status, ours: status });
    cmps.push({ key, field: 'grpc-status', tshark: t.grpcStatus, ours: s ? (s.attributes['grpc.status'] ?? '') : '(missing)' });
    cmps.push({ key, field: 'trace_id', tshark: t.traceparent ? t.traceparent.split('-')[1] : '', ours: s?.trace_id ?? '(missing)' });
  }
  const matched = new Set([...streams.keys()]);
  for (const s of sessions) {
    const key = `${s.client_port}:${s.request_id}`;
    if (!matched.has(key)) cmps.push({ key, field: 'session', tshark: '(none)', ours: `${s.request_type} ${s.request_resource}` });
  }
  return { cmps, tsharkSessions: streams.size };
}

function report(name: string, tsharkSessions: number, ours: number, a: ReturnType<typeof agreement>): void {
  console.log(`${name}: tshark sessions ${tsharkSessions}, ours ${ours}, fields compared ${a.total}, agreeing ${a.agreeing} (${((100 * a.agreeing) / a.total).toFixed(2)}%)${a.disagreements.length ? `, disagreements: ${JSON.stringify(a.disagreements.slice(0, 10))}` : ''}`);
}

maybe('HTTP parsers on real traffic, checked against tshark', () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];

  afterAll(async () => {
    for (const c of children) await stopChild(c);
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  function tempDir(): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-http-'));
    dirs.push(d);
    return d;
  }

  it('nginx HTTP/1.1 with curl: keep-alive, POST, HEAD, gzip-chunked responses, 404s, pipelining', async () => {
    const dir = tempDir();
    const port = await freePort();
    fs.mkdirSync(path.join(dir, 'www', 'docs'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'www', 'index.html'), '<html>hello</html>\n');
    fs.writeFileSync(path.join(dir, 'www', 'docs', 'big.txt'), 'lorem ipsum dolor sit amet '.repeat(2000));
    fs.writeFileSync(path.join(dir, 'body.txt'), 'x'.repeat(5000));
    fs.writeFileSync(
      path.join(dir, 'nginx.conf'),
      `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
user root;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  default_type text/plain;
  server {
    listen 127.0.0.1:${port};
    root ${dir}/www;
    gzip on; gzip_types text/plain application/json; gzip_min_length 1;
    location /post { return 201 "created\\n"; }
    location /api/ { default_type application/json; return 200 '{"ok":true}'; }
  }
}
`,
    );
    const nginx = spawn('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
    children.push(nginx);
    await waitForPort(port);
    const cap = await captureLoopback(`tcp port ${port}`);
    dirs.push(path.dirname(cap.file));
    const base = `http://127.0.0.1:${port}`;
    let expected = 0;
    try {
      // One connection: four GETs (gzip → chunked, 404, routes with ids), then POSTs and HEAD via --next.
      const c1 = await runTool('curl', [
        '-sS', '-o', '/dev/null', '--compressed', `${base}/index.html`, `${base}/docs/big.txt`, `${base}/missing/page`, `${base}/api/users/12345?fields=name`,
        '--next', '-sS', '-o', '/dev/null', '-d', 'a=1&b=2', `${base}/post`,
        '--next', '-sS', '-o', '/dev/null', '-H', 'Transfer-Encoding: chunked', '--data-binary', `@${dir}/body.txt`, `${base}/post`,
        '--next', '-sS', '-o', '/dev/null', '-I', `${base}/index.html`,
      ]);
      expect(c1.code).toBe(0);
      expected += 7;
      const c2 = await runTool('curl', ['-sS', '-o', '/dev/null', '-H', `traceparent: ${TRACE}`, '-H', 'X-Request-ID: req-77', '-A', 'metaflow-test/1', `${base}/api/orders/987`, `${base}/nothing-here`]);
      expect(c2.code).toBe(0);
      expected += 2;
      // Pipelining: three requests in one write; nginx answers in order.
      await new Promise<void>((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.write(['/index.html', '/missing', '/api/x/1'].map((p) => `GET ${p} HTTP/1.1\r\nHost: pipe.example\r\n\r\n`).join(''));
        });
        let got = '';
        s.on('data', (d: Buffer) => {
          got += d.toString('latin1');
          if ((got.match(/HTTP\/1\.1 /g) ?? []).length >= 3) s.end();
        });
        s.on('close', () => resolve());
        s.on('error', reject);
      });
      expected += 3;
    } finally {
      await cap.stop();
      await stopChild(nginx);
    }
    const replay = replayPcap(cap.file, [http1Spec, http2Spec]);
    expect(replay.malformed).toEqual({});
    const sessions = replay.sessions;
    expect(sessions).toHaveLength(expected);
    expect(sessions.every((s) => s.l7_protocol === 'HTTP' && s.response_status !== 'timeout')).toBe(true);
    // Our own expectations on a few sessions, beyond what tshark shows.
    const big = sessions.find((s) => s.request_resource === '/docs/big.txt')!;
    expect([big.response_code, big.attributes.content_type, big.truncated]).toEqual([200, 'text/plain', false]);
    expect(big.response_length).toBeGreaterThan(50);
    expect(sessions.find((s) => s.request_resource === '/api/users/12345?fields=name')!.endpoint).toBe('/api/users/{id}');
    const chunkedPost = sessions.filter((s) => s.request_type === 'POST')[1];
    expect([chunkedPost.request_length, chunkedPost.response_code]).toEqual([5000, 201]);
    const traced = sessions.find((s) => s.request_resource === '/api/orders/987')!;
    expect([traced.trace_id, traced.span_id, traced.x_request_id, traced.attributes.user_agent]).toEqual(['4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', 'req-77', 'metaflow-test/1']);
    const pipelined = sessions.filter((s) => s.request_domain === 'pipe.example');
    expect(pipelined.map((s) => [s.request_resource, s.response_code])).toEqual([
      ['/index.html', 200],
      ['/missing', 404],
      ['/api/x/1', 200],
    ]);
    const { cmps, tsharkSessions } = await compareHttp1(cap.file, port, sessions);
    const a = agreement(cmps);
    report('nginx HTTP/1.1', tsharkSessions, sessions.length, a);
    expect(tsharkSessions).toBe(expected);
    expect(a.agreeing / a.total).toBeGreaterThanOrEqual(0.99);
    expect(a.disagreements).toEqual([]);
  });

  it('h2c with nghttpd, h2load (100 concurrent streams per connection) and nghttp', async () => {
    const dir = tempDir();
    const port = await freePort();
    fs.mkdirSync(path.join(dir, 'www', 'static'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'www', 'index.html'), '<html>h2</html>\n');
    fs.writeFileSync(path.join(dir, 'www', 'static', 'app.js'), 'console.log(1);\n'.repeat(3000));
    const server = spawn('nghttpd', ['--no-tls', '-d', path.join(dir, 'www'), String(port)], { stdio: 'ignore' });
    children.push(server);
    await waitForPort(port);
    const cap = await captureLoopback(`tcp port ${port}`);
    dirs.push(path.dirname(cap.file));
    const base = `http://127.0.0.1:${port}`;
    try {
      const load = await runTool('h2load', ['-n', '300', '-c', '3', '-m', '100', `${base}/index.html`]);
      expect(load.out).toMatch(/300 succeeded/);
      const n1 = await runTool('nghttp', ['-n', '-H', `traceparent: ${TRACE}`, `${base}/index.html`, `${base}/static/app.js`, `${base}/does/not/exist/42`]);
      expect(n1.code).toBe(0);
    } finally {
      await cap.stop();
      await stopChild(server);
    }
    const replay = replayPcap(cap.file, [http1Spec, http2Spec]);
    expect(replay.malformed).toEqual({});
    const sessions = replay.sessions;
    expect(sessions).toHaveLength(303);
    expect(sessions.every((s) => s.l7_protocol === 'HTTP2' && s.version === '2')).toBe(true);
    const missing = sessions.find((s) => s.request_resource === '/does/not/exist/42')!;
    expect([missing.response_code, missing.response_status, missing.endpoint, missing.trace_id]).toEqual([404, 'client_error', '/does/not/exist/{id}', '4bf92f3577b34da6a3ce929d0e0e4736']);
    const js = sessions.find((s) => s.request_resource === '/static/app.js')!;
    expect(js.response_length).toBe(16 * 3000);
    const { cmps, tsharkSessions } = await compareHttp2(cap.file, port, sessions);
    const a = agreement(cmps);
    report('h2c nghttpd', tsharkSessions, sessions.length, a);
    expect(tsharkSessions).toBe(303);
    expect(a.agreeing / a.total).toBeGreaterThanOrEqual(0.99);
    expect(a.disagreements).toEqual([]);
  });

  it('gRPC with @grpc/grpc-js: unary, server streaming, error statuses', async () => {
    const port = await freePort();
    const id = (b: Buffer) => b;
    const def: grpc.ServiceDefinition = {
      Unary: { path: '/test.v1.Echo/Unary', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
      Stream: { path: '/test.v1.Echo/Stream', requestStream: false, responseStream: true, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
      Missing: { path: '/test.v1.Echo/Missing', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
      Broken: { path: '/test.v1.Echo/Broken', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
    };
    const server = new grpc.Server();
    server.addService(def, {
      Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.concat([Buffer.from('echo:'), call.request])),
      Stream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        for (let i = 0; i < 5; i++) call.write(Buffer.alloc(100 + i, i));
        call.end();
      },
      Missing: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb({ code: grpc.status.NOT_FOUND, details: 'no such item: 42' }),
      Broken: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb({ code: grpc.status.INTERNAL, details: 'database down' }),
    });
    await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
    const cap = await captureLoopback(`tcp port ${port}`);
    dirs.push(path.dirname(cap.file));
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const results: string[] = [];
    try {
      const unary = (p: string, md?: grpc.Metadata) =>
        new Promise<void>((resolve) => {
          const cb = (err: grpc.ServiceError | null) => {
            results.push(`${p}:${err ? err.code : 0}`);
            resolve();
          };
          if (md) client.makeUnaryRequest(p, id, id, Buffer.from('hello'), md, cb);
          else client.makeUnaryRequest(p, id, id, Buffer.from('hello'), cb);
        });
      const md = new grpc.Metadata();
      md.set('traceparent', TRACE);
      await unary('/test.v1.Echo/Unary', md);
      await Promise.all(Array.from({ length: 10 }, () => unary('/test.v1.Echo/Unary')));
      await unary('/test.v1.Echo/Missing');
      await unary('/test.v1.Echo/Broken');
      await new Promise<void>((resolve, reject) => {
        const call = client.makeServerStreamRequest('/test.v1.Echo/Stream', id, id, Buffer.from('go'));
        let n = 0;
        call.on('data', () => n++);
        call.on('end', () => {
          results.push(`stream:${n}`);
          resolve();
        });
        call.on('error', reject);
      });
    } finally {
      client.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await cap.stop();
    }
    expect(results).toEqual(['/test.v1.Echo/Unary:0', ...Array(10).fill('/test.v1.Echo/Unary:0'), '/test.v1.Echo/Missing:5', '/test.v1.Echo/Broken:13', 'stream:5']);
    const replay = replayPcap(cap.file, [http1Spec, http2Spec]);
    expect(replay.malformed).toEqual({});
    const sessions = replay.sessions;
    expect(sessions).toHaveLength(14);
    expect(sessions.every((s) => s.l7_protocol === 'gRPC')).toBe(true);
    const byEndpoint = (e: string) => sessions.filter((s) => s.endpoint === e);
    expect(byEndpoint('test.v1.Echo/Unary')).toHaveLength(11);
    expect(byEndpoint('test.v1.Echo/Unary')[0].trace_id).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(byEndpoint('test.v1.Echo/Missing').map((s) => [s.response_code, s.response_status, s.response_exception])).toEqual([[5, 'client_error', 'no such item: 42']]);
    expect(byEndpoint('test.v1.Echo/Broken').map((s) => [s.response_code, s.response_status, s.response_exception])).toEqual([[13, 'server_error', 'database down']]);
    const stream = byEndpoint('test.v1.Echo/Stream')[0];
    expect([stream.response_code, stream.response_status, stream.response_length, stream.attributes['rpc.service'], stream.attributes['rpc.method']]).toEqual([0, 'ok', 5 * 5 + 100 + 101 + 102 + 103 + 104, 'test.v1.Echo', 'Stream']);
    const { cmps, tsharkSessions } = await compareHttp2(cap.file, port, sessions);
    const a = agreement(cmps);
    report('gRPC grpc-js', tsharkSessions, sessions.length, a);
    expect(tsharkSessions).toBe(14);
    expect(a.agreeing / a.total).toBeGreaterThanOrEqual(0.99);
    expect(a.disagreements).toEqual([]);
  });
});
