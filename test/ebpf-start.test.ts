/**
 * End to end: `metaflow start` on this host, with no configuration, shows
 * the spans of `curl https://localhost:<port>/` against a local nginx
 * (plaintext through the OpenSSL probes, client and server side) through
 * `metaflow query`.
 *
 * Needs the built CLI (`make build`) and eBPF (root, BTF, `make -C bpf`).
 * The test helper turns eBPF off for other tests (METAFLOW_EBPF=off); this
 * one turns it back on, which is what `metaflow start` does by itself.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkSupport } from '../bpf/index';
import { eventually, runCli, startMetaflow, type Metaflow } from './helpers/metaflow';
import { nginxAvailable, startNginx, type NginxServer } from './helpers/nginx';

const ROOT = path.resolve(__dirname, '..');
const built = fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js')) && fs.existsSync(path.join(ROOT, 'dist', 'receivers', 'ebpf', 'factory.js'));
const support = checkSupport();
const why = !support.ok ? support.error.message : !nginxAvailable() ? 'nginx is not installed' : !built ? 'the TypeScript build is missing (make build)' : '';
if (why) console.warn(`skipping metaflow start with eBPF: ${why}`);
const suite = why ? describe.skip : describe;

function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile('curl', args, { timeout: 20_000 }, (err, out) => (err ? reject(err) : resolve(out))));
}

suite('metaflow start traces this host with eBPF', () => {
  let mf: Metaflow;
  let nginx: NginxServer;

  beforeAll(async () => {
    mf = await startMetaflow({ env: { METAFLOW_EBPF: 'on' } });
    nginx = await startNginx({ tls: true, files: { 'index.html': 'hello over TLS\n' } });
  }, 180_000);

  afterAll(async () => {
    await nginx?.destroy();
    const code = await mf?.stop();
    if (mf) fs.rmSync(mf.dataDir, { recursive: true, force: true });
    expect(code).toBe(0);
  }, 60_000);

  it('lists the ebpf receiver among the build’s components', async () => {
    expect((await runCli(['components'])).stdout).toMatch(/^\s+ebpf$/m);
    expect(mf.logs()).toContain('ebpf receiver tracing');
  });

  it('shows curl https://localhost/ as a client span of curl and a server span of nginx', async () => {
    expect(await curl(['-sk', `https://localhost:${nginx.tlsPort}/`])).toBe('hello over TLS\n');
    const sqlText = `SELECT ServiceName, SpanName, SpanKind, SpanAttributes['http.response.status_code'] AS status, SpanAttributes['metaflow.tls'] AS tls, SpanAttributes['metaflow.signal_source'] AS source
      FROM otel_traces WHERE SpanAttributes['metaflow.server.port'] = '${nginx.tlsPort}' ORDER BY SpanKind`;
    const got = await eventually(
      async () => {
        const r = await runCli(['query', sqlText, '--server', `http://127.0.0.1:${mf.queryPort}`, '--format', 'json']);
        if (r.code !== 0) throw new Error(r.stderr);
        const body = JSON.parse(r.stdout) as { columns: Array<string | { name: string }>; rows: unknown[][] };
        const names = body.columns.map((c) => (typeof c === 'string' ? c : c.name));
        const rows = body.rows.map((row) => Object.fromEntries(names.map((n, i) => [n, String(row[i])])));
        return rows.length >= 2 ? rows : undefined;
      },
      30_000,
      'the spans of the curl request in metaflow query',
    );
    expect(got).toEqual(
      expect.arrayContaining([
        { ServiceName: 'curl', SpanName: 'GET /', SpanKind: 'Client', status: '200', tls: 'true', source: 'ebpf' },
        { ServiceName: 'nginx', SpanName: 'GET /', SpanKind: 'Server', status: '200', tls: 'true', source: 'ebpf' },
      ]),
    );
  });

  it('tags both ends of both spans with host and process facts (autotagging local_ends)', async () => {
    expect(await curl(['-sk', `https://localhost:${nginx.tlsPort}/ends`])).toBeDefined();
    const ends = ['client', 'server'].flatMap((e) => ['host.name', 'process.executable.name', 'process.pid'].map((k) => `metaflow.${e}.${k}`));
    const sqlText = `SELECT SpanKind, ${ends.map((k, i) => `SpanAttributes['${k}'] AS a${i}`).join(', ')}, ResourceAttributes['process.pid'] AS own
      FROM otel_traces WHERE SpanAttributes['metaflow.server.port'] = '${nginx.tlsPort}' AND SpanName = 'GET /ends' ORDER BY SpanKind`;
    const got = await eventually(
      async () => {
        const r = await runCli(['query', sqlText, '--server', `http://127.0.0.1:${mf.queryPort}`, '--format', 'json']);
        if (r.code !== 0) throw new Error(r.stderr);
        const body = JSON.parse(r.stdout) as { rows: unknown[][] };
        return body.rows.length >= 2 ? body.rows.map((row) => row.map(String)) : undefined;
      },
      30_000,
      'both spans of the tagged request',
    );
    const host = os.hostname();
    const client = got.find((r) => r[0] === 'Client')!;
    const server = got.find((r) => r[0] === 'Server')!;
    for (const row of [client, server]) {
      // The span kind, then host.name, executable and pid of the client end, then of the server end.
      expect(row.slice(0, 7)).toEqual([row[0], host, 'curl', client[7], host, 'nginx', server[7]]);
    }
    expect(client[3]).toBe(client[7]);
    expect(server[6]).toBe(server[7]);
  });
});
