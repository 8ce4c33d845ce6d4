/**
 * Starts Debian's `prometheus` (2.42) on a free loopback port with a
 * generated config and a temporary TSDB, for end-to-end tests and benchmarks.
 * Always stop it (afterAll, even when a test failed): `stop()` sends SIGTERM,
 * waits for the exit (SIGKILL after 10 s) and removes the temporary folder.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';
import { spawnServer, stopChild, waitReady } from './process';

/** The Prometheus binary (Debian's package). */
export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';

/** A running Prometheus. */
export interface Prometheus {
  port: number;
  /** `http://127.0.0.1:<port>`. */
  url: string;
  dir: string;
  process: ChildProcess;
  /** What it logged so far. */
  logs(): string;
  /** Instant query (`/api/v1/query`); returns the `data.result` array. */
  query(promql: string, time?: number): Promise<PromResult[]>;
  /** Series matching a selector (`/api/v1/series`). */
  series(match: string, startSec?: number, endSec?: number): Promise<Array<Record<string, string>>>;
  /** Peak resident memory of the process (VmHWM), in bytes. */
  peakRss(): number;
  stop(): Promise<void>;
}

/** One element of an instant query's vector result. */
export interface PromResult {
  metric: Record<string, string>;
  value: [number, string];
}

/** Options of {@link startPrometheus}. */
export interface PrometheusOptions {
  /** The YAML config; `scrape_configs` etc. The global section is added when absent. */
  config?: string;
  /** Extra command-line flags, e.g. `--web.enable-remote-write-receiver`. */
  flags?: string[];
}

/** Whether the Prometheus binary is installed. */
export function havePrometheus(): boolean {
  return fs.existsSync(PROMETHEUS_BIN);
}

/** Starts Prometheus and waits until /-/ready answers. */
export async function startPrometheus(opts: PrometheusOptions = {}): Promise<Prometheus> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-prometheus-'));
  const configFile = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(configFile, opts.config ?? 'global:\n  scrape_interval: 15s\n');
  const args = [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
    ...(opts.flags ?? []),
  ];
  const server = spawnServer(PROMETHEUS_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] }, Infinity);
  const child = server.proc;
  const url = `http://127.0.0.1:${port}`;
  let stopping: Promise<void> | undefined;
  const prom: Prometheus = {
    port,
    url,
    dir,
    process: child,
    logs: () => server.output(),
    async query(promql, time) {
      const q = new URLSearchParams({ query: promql });
      if (time !== undefined) q.set('time', String(time));
      const res = await fetch(`${url}/api/v1/query?${q}`);
      const body = (await res.json()) as { status: string; error?: string; data: { resultType: string; result: PromResult[] } };
      if (body.status !== 'success') throw new Error(`query ${promql} failed: ${body.error}`);
      return body.data.result;
    },
    async series(match, startSec, endSec) {
      const q = new URLSearchParams({ 'match[]': match });
      if (startSec !== undefined) q.set('start', String(startSec));
      if (endSec !== undefined) q.set('end', String(endSec));
      const res = await fetch(`${url}/api/v1/series?${q}`);
      const body = (await res.json()) as { status: string; error?: string; data: Array<Record<string, string>> };
      if (body.status !== 'success') throw new Error(`series ${match} failed: ${body.error}`);
      return body.data;
    },
    peakRss() {
      try {
        const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const m = /VmHWM:\s+(\d+) kB/.exec(status);
        return m ? Number(m[1]) * 1024 : 0;
      } catch {
        return 0;
      }
    },
    stop() {
      stopping ??= (async () => {
        await stopChild(server, 10000);
        fs.rmSync(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
  const ready = async () => (await fetch(`${url}/-/ready`)).ok;
  if (!(await waitReady(server, ready, 30000, 100))) {
    if (!server.alive()) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`prometheus exited with ${child.exitCode} before it was ready:\n${server.output()}`);
    }
    await prom.stop();
    throw new Error(`prometheus was not ready after 30 s:\n${server.output()}`);
  }
  return prom;
}
