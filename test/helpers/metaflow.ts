/**
 * Starts the real `metaflow` command (the built CLI, dist/cli/main.js) as a
 * child process on free loopback ports, for end-to-end tests. `make test`
 * builds before it tests; run `npm run build` first when running jest alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePorts } from './ports';

/** The project root, whether this runs from the sources or from dist/. */
const ROOT = (() => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json')) || path.basename(dir) === 'dist') dir = path.dirname(dir);
  return dir;
})();
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

/** A running metaflow process. */
export interface Metaflow {
  grpcPort: number;
  httpPort: number;
  queryPort: number;
  telemetryPort: number;
  /** The Prometheus remote-write receiver of the server's default config. */
  remoteWritePort: number;
  dataDir: string;
  /** Everything it wrote to stderr so far. */
  logs(): string;
  /** SIGTERM, wait for exit; resolves with the exit code. Safe to call twice. */
  stop(): Promise<number | null>;
  process: ChildProcess;
}

/** Options of {@link startMetaflow}. */
export interface StartOptions {
  command?: 'start' | 'server' | 'agent';
  /** Extra --config values (file paths or yaml:…). */
  configs?: string[];
  env?: Record<string, string>;
  /** Reuse a data folder (to test persistence). */
  dataDir?: string;
  /** Wait for /healthz of the query service (not for agents). */
  waitForQuery?: boolean;
  /** Node flags for the metaflow process (e.g. --cpu-prof). */
  nodeArgs?: string[];
}

/** Runs the CLI to completion, for commands such as validate and query. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  requireBuild();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function requireBuild(): void {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (make test does) before the end-to-end tests`);
}

/** Starts metaflow and waits until it serves. */
export async function startMetaflow(opts: StartOptions = {}): Promise<Metaflow> {
  requireBuild();
  const [grpcPort, httpPort, queryPort, telemetryPort, remoteWritePort] = await freePorts(5);
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'metaflow-e2e-'));
  const command = opts.command ?? 'start';
  const args = [...(opts.nodeArgs ?? []), CLI, command, ...(opts.configs ?? []).flatMap((c) => ['--config', c])];
  const env = {
    ...process.env,
    METAFLOW_OTLP_GRPC_ENDPOINT: `127.0.0.1:${grpcPort}`,
    METAFLOW_OTLP_HTTP_ENDPOINT: `127.0.0.1:${httpPort}`,
    METAFLOW_QUERY_ENDPOINT: `127.0.0.1:${queryPort}`,
    METAFLOW_TELEMETRY_ENDPOINT: `127.0.0.1:${telemetryPort}`,
    METAFLOW_REMOTE_WRITE_ENDPOINT: `127.0.0.1:${remoteWritePort}`,
    METAFLOW_AGENT_OTLP_GRPC_ENDPOINT: `127.0.0.1:${grpcPort}`,
    METAFLOW_AGENT_OTLP_HTTP_ENDPOINT: `127.0.0.1:${httpPort}`,
    METAFLOW_AGENT_TELEMETRY_ENDPOINT: `127.0.0.1:${telemetryPort}`,
    METAFLOW_DATA_DIR: dataDir,
    // `metaflow start` as root traces the whole host with eBPF; on a machine
    // shared by concurrent tests that would store every test's traffic in
    // each instance. The eBPF tests turn it on (env: { METAFLOW_EBPF: 'on' }).
    METAFLOW_EBPF: 'off',
    ...opts.env,
  };
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout?.on('data', (c: Buffer) => (stderr += c.toString()));
  let exited: number | null | undefined;
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve((exited = code))));
  let stopping: Promise<number | null> | undefined;
  const mf: Metaflow = {
    grpcPort,
    httpPort,
    queryPort,
    telemetryPort,
    remoteWritePort,
    dataDir,
    process: child,
    logs: () => stderr,
    stop: () => {
      stopping ??= (async () => {
        if (exited === undefined) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
        const code = await exit;
        clearTimeout(timer);
        return code;
      })();
      return stopping;
    },
  };
  const ready = opts.waitForQuery ?? command !== 'agent' ? `http://127.0.0.1:${queryPort}/healthz` : `http://127.0.0.1:${telemetryPort}/metrics`;
  const deadline = Date.now() + 90000;
  for (;;) {
    if (exited !== undefined) throw new Error(`metaflow ${command} exited with ${exited} before it was ready:\n${stderr}`);
    try {
      const res = await fetch(ready);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await mf.stop();
      throw new Error(`metaflow ${command} was not ready after 90 s:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return mf;
}

/** Runs the example OpenTelemetry SDK app against an endpoint; returns what it printed. */
export function runOtelApp(protocol: 'grpc' | 'http/protobuf' | 'http/json', endpoint: string, env: Record<string, string> = {}): Promise<OtelAppOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'examples', 'otel-app.js'), protocol, endpoint], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`otel-app exited with ${code}: ${err}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() as string) as OtelAppOutput);
      } catch {
        reject(new Error(`otel-app printed no JSON: ${out} ${err}`));
      }
    });
  });
}

/** What examples/otel-app.js prints. */
export interface OtelAppOutput {
  service: string;
  runId: string;
  protocol: string;
  traceId: string;
  linkedTraceId: string;
  spans: Record<string, string>;
}

/** POSTs SQL to a query service; returns the parsed answer and status. */
export async function sql(port: number, query: string): Promise<{ status: number; body: { columns: Array<{ name: string; type: string }>; rows: unknown[][]; error?: string } }> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/sql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql: query }) });
  return { status: res.status, body: (await res.json()) as never };
}

/** Rows of a query as objects keyed by column name; throws on an error answer. */
export async function rows(port: number, query: string): Promise<Array<Record<string, unknown>>> {
  const { status, body } = await sql(port, query);
  if (status !== 200) throw new Error(`query failed (${status}): ${body.error}\n${query}`);
  return body.rows.map((r) => Object.fromEntries(body.columns.map((c, i) => [c.name, r[i]])));
}

/** Polls `fn` until it returns a truthy value or `ms` pass. */
export async function eventually<T>(fn: () => Promise<T | undefined | false>, ms = 30000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
