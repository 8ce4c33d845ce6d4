/**
 * Remote-write ingest: the same stream of Prometheus remote-write 1.0
 * requests sent to our `prometheusremotewrite` receiver and, in the same
 * run, to Debian's Prometheus with its remote-write receiver enabled.
 *
 *   node dist/bench/remote-write.js [rounds] [in-flight] [mode]
 *
 * The stream is realistic: 10,000 series of 10 labels each (100 metric
 * names on 50 targets), every round one sample per series
 * (timestamps one second apart, counter values rising), cut into requests of
 * 2,000 samples, snappy-compressed. Requests are prepared from templates by
 * patching the sample bytes, so the sender costs little CPU; it runs in this
 * process while each receiver runs in a process of its own.
 *
 * Modes (default `both`): `pipeline` — our receiver decoding into the
 * metrics pipeline with a counting consumer at the end (receiver capacity);
 * `store` — receiver → batch → the embedded ClickHouse store (written to
 * storage, as Prometheus writes to its TSDB). Printed per target: samples/s,
 * the ratio to Prometheus, and peak RSS (VmHWM) of the receiving process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { encodeWriteRequestV1, type TimeSeries } from '../pipeline/prometheus/prompb';
import { snappyCompress } from '../pipeline/prometheus/snappy';
import { freePort } from '../test/helpers/ports';
import { havePrometheus, startPrometheus } from '../test/helpers/prometheus';

const SERIES = 10000;
const BATCH = 2000;
const STEP_MS = 1000;

// ------------------------------------------------------------------ stream

/**
 * The label set of series `i` (sorted by name, as senders must): 100 metric
 * names on 50 targets (`instance`), each name/target pair twice (`method`),
 * so 10,000 distinct series, as a fleet of exporters scraped by one
 * Prometheus would send them.
 */
function labelsOf(i: number): TimeSeries['labels'] {
  return [
    { name: '__name__', value: `bench_metric_${i % 100}_total` },
    { name: 'container', value: `app-${i % 4}` },
    { name: 'instance', value: `10.0.0.${Math.floor(i / 100) % 50}:9100` },
    { name: 'job', value: `job-${i % 5}` },
    { name: 'method', value: i < SERIES / 2 ? 'GET' : 'POST' },
    { name: 'path', value: `/api/v1/resource/${i % 200}` },
    { name: 'pod', value: `pod-${i % 1000}-7c9f8b` },
    { name: 'region', value: `region-${i % 3}` },
    { name: 'status', value: String([200, 201, 404, 500][(i >> 2) % 4]) },
    { name: 'zone', value: `zone-${i % 7}` },
  ];
}

/** A request template and the offsets of its sample values and timestamps. */
interface Template {
  raw: Buffer;
  valueAt: number[];
  timeAt: number[];
  base: number[];
}

const T0_PLACEHOLDER = 1_111_111_111_111;

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function makeTemplates(): Template[] {
  const out: Template[] = [];
  const marker = Buffer.from([0x10, ...varint(T0_PLACEHOLDER)]);
  for (let first = 0; first < SERIES; first += BATCH) {
    const series: TimeSeries[] = [];
    for (let i = first; i < first + BATCH; i++) series.push({ labels: labelsOf(i), samples: [{ value: 0.5, timestamp: T0_PLACEHOLDER }] });
    const raw = Buffer.from(encodeWriteRequestV1({ timeseries: series }));
    const timeAt: number[] = [];
    const valueAt: number[] = [];
    for (let at = raw.indexOf(marker); at >= 0; at = raw.indexOf(marker, at + 1)) {
      timeAt.push(at + 1);
      valueAt.push(at - 8);
    }
    if (timeAt.length !== BATCH) throw new Error(`template: found ${timeAt.length} timestamps, expected ${BATCH}`);
    out.push({ raw, valueAt, timeAt, base: series.map((_, k) => (first + k) * 10) });
  }
  return out;
}

/** Request `n` of the stream (round n / 5, part n % 5), compressed. */
function request(templates: Template[], n: number, t0: number): Buffer {
  const round = Math.floor(n / templates.length);
  const t = templates[n % templates.length];
  const ts = varint(t0 + round * STEP_MS);
  const view = new DataView(t.raw.buffer, t.raw.byteOffset, t.raw.byteLength);
  for (let k = 0; k < t.timeAt.length; k++) {
    const at = t.timeAt[k];
    for (let b = 0; b < ts.length; b++) t.raw[at + b] = ts[b];
    view.setFloat64(t.valueAt[k], t.base[k] + round * 3, true);
  }
  return snappyCompress(t.raw);
}

// ------------------------------------------------------------------ sender

interface RunResult {
  samples: number;
  seconds: number;
  errors: number;
  firstError: string;
}

async function send(port: number, urlPath: string, templates: Template[], from: number, to: number, inflight: number, t0: number): Promise<RunResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: inflight });
  let errors = 0;
  let firstError = '';
  const started = process.hrtime.bigint();
  // Worker w sends the requests of templates k with k % inflight == w, in order, so every
  // series' samples arrive in time order (as Prometheus's sender shards by series).
  const worker = async (w: number) => {
    for (let n = from; n < to; n++) {
      if ((n % templates.length) % inflight !== w) continue;
      const body = request(templates, n, t0);
      const status = await new Promise<number>((resolve) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port,
            path: urlPath,
            method: 'POST',
            agent,
            headers: {
              'content-type': 'application/x-protobuf',
              'content-encoding': 'snappy',
              'x-prometheus-remote-write-version': '0.1.0',
              'user-agent': 'metaflow-bench',
              'content-length': body.length,
            },
          },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => {
              if (res.statusCode !== 204 && res.statusCode !== 200 && !firstError) firstError = `${res.statusCode}: ${text.slice(0, 200)}`;
              resolve(res.statusCode ?? 0);
            });
          },
        );
        req.on('error', (err) => {
          if (!firstError) firstError = err.message;
          resolve(0);
        });
        req.end(body);
      });
      if (status !== 204 && status !== 200) errors++;
    }
  };
  await Promise.all(Array.from({ length: inflight }, (_, w) => worker(w)));
  agent.destroy();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { samples: (to - from) * BATCH, seconds, errors, firstError };
}

// ------------------------------------------------------------------ our receiver (child process)

/** Runs our receiver in this process until SIGTERM (the child side of the benchmark). */
async function serve(mode: string, port: number, dataDir: string): Promise<void> {
  const { Registry } = await import('../pipeline/registry');
  const { Service } = await import('../pipeline/service');
  const { factory: receiver } = await import('../receivers/prometheusremotewrite');
  const { factory: clickhouse } = await import('../exporters/clickhouse');
  const { factory: batch } = await import('../processors/batch');
  const { countDataPoints } = await import('../pipeline/pdata');
  const { s } = await import('../pipeline/config/schema');
  let points = 0;
  const counting = {
    kind: 'exporter' as const,
    type: 'count',
    description: 'counts data points',
    config: s.object({}).withDefaults(),
    stability: { metrics: 'development' as const },
    create: () => ({
      consumers: { metrics: { consume: async (m: import('../pipeline/pdata').Metrics) => void (points += countDataPoints(m)) } },
      start: async () => undefined,
      shutdown: async () => undefined,
    }),
  };
  const registry = new Registry([receiver, clickhouse, batch, counting]);
  const pipeline =
    mode === 'store'
      ? `processors: { batch: { send_batch_size: 50000, send_batch_max_size: 100000, timeout: 1s } }
exporters: { clickhouse: { data_dir: ${dataDir}, sending_queue: { queue_size: 50, block_on_overflow: true } } }
service:
  telemetry: { metrics: { level: none }, logs: { level: warn } }
  pipelines: { metrics: { receivers: [prometheusremotewrite], processors: [batch], exporters: [clickhouse] } }`
      : `exporters: { count: {} }
service:
  telemetry: { metrics: { level: none }, logs: { level: warn } }
  pipelines: { metrics: { receivers: [prometheusremotewrite], exporters: [count] } }`;
  const svc = Service.fromSources([`yaml:receivers: { prometheusremotewrite: { endpoint: 127.0.0.1:${port} } }\n${pipeline}`], registry);
  await svc.start();
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.once('SIGTERM', resolve));
  await svc.shutdown();
  // A check that nothing was lost on the way: every sample sent reached the consumer.
  if (mode !== 'store') process.stderr.write(`metaflow (pipeline): ${points.toLocaleString('en-US')} data points reached the consumer\n`);
  process.exit(0);
}

function peakRss(pid: number | undefined): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

async function startOurs(mode: string): Promise<{ port: number; child: ChildProcess; dir: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-bench-rw-'));
  const child = spawn(process.execPath, [__filename, '--serve', mode, String(port), path.join(dir, 'data')], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (c: Buffer) => c.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`receiver exited with ${code}`)));
  });
  const stop = async () => {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { port, child, dir, stop };
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

async function main(): Promise<void> {
  if (process.argv[2] === '--serve') return serve(process.argv[3], Number(process.argv[4]), process.argv[5]);
  const rounds = Number(process.argv[2] ?? 300);
  const inflight = Math.min(Number(process.argv[3] ?? 5), 5);
  const mode = process.argv[4] ?? 'both';
  if (!havePrometheus()) throw new Error('Debian prometheus is not installed (/usr/bin/prometheus)');
  const templates = makeTemplates();
  const perRound = templates.length;
  const warmup = 5 * perRound;
  const total = warmup + rounds * perRound;
  // Old enough that every round stays in the past; young enough for Prometheus's head block (1 h).
  const t0 = Date.now() - 55 * 60 * 1000;
  if (rounds * STEP_MS > 50 * 60 * 1000) throw new Error('at most 3000 rounds (the stream must fit the last hour)');
  const sample = request(templates, 0, t0);
  console.log(
    `stream: ${SERIES} series x 10 labels, ${BATCH} samples/request (${fmt(sample.length)} bytes compressed, ${fmt(templates[0].raw.length)} raw), ` +
      `${rounds} rounds = ${fmt(rounds * SERIES)} samples after ${warmup} warm-up requests; ${inflight} requests in flight; ${os.cpus().length} cores`,
  );
  const results: Array<{ name: string; rate: number; rss: number }> = [];
  for (const m of mode === 'both' ? ['pipeline', 'store'] : [mode]) {
    const ours = await startOurs(m);
    try {
      await send(ours.port, '/api/v1/write', templates, 0, warmup, inflight, t0);
      const r = await send(ours.port, '/api/v1/write', templates, warmup, total, inflight, t0);
      const rss = peakRss(ours.child.pid);
      if (r.errors) console.log(`  metaflow (${m}): ${r.errors} failed requests, first: ${r.firstError}`);
      results.push({ name: `metaflow prometheusremotewrite → ${m === 'store' ? 'batch → embedded ClickHouse' : 'pipeline (counting consumer)'}`, rate: r.samples / r.seconds, rss });
    } finally {
      await ours.stop();
    }
  }
  const prom = await startPrometheus({ flags: ['--web.enable-remote-write-receiver'] });
  try {
    await send(prom.port, '/api/v1/write', templates, 0, warmup, inflight, t0);
    const r = await send(prom.port, '/api/v1/write', templates, warmup, total, inflight, t0);
    if (r.errors) console.log(`  prometheus: ${r.errors} failed requests, first: ${r.firstError}`);
    results.push({ name: 'Prometheus 2.42 --web.enable-remote-write-receiver (TSDB head + WAL)', rate: r.samples / r.seconds, rss: prom.peakRss() });
  } finally {
    await prom.stop();
  }
  const base = results[results.length - 1].rate;
  console.log('\n| receiver | samples/s | vs Prometheus | peak RSS |\n|---|---|---|---|');
  for (const r of results) console.log(`| ${r.name} | ${fmt(r.rate)} | ${(r.rate / base).toFixed(2)}x | ${fmt(r.rss / 1048576)} MiB |`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
