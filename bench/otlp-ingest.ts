/**
 * bench/otlp-ingest: OTLP/gRPC → `metaflow start` → embedded chDB, end to end,
 * compared in the same run with the engine's own insert rate for the same rows.
 *
 *   npm run build && node dist/bench/otlp-ingest.js [seconds=60] [concurrency=4] [spansPerRequest=512]
 *
 * 1. Starts the real `metaflow start` (its default pipeline: otlp →
 *    memory_limiter → batch → clickhouse) as a child process.
 * 2. Sends pre-encoded ExportTraceServiceRequests of realistic spans (20
 *    attributes of mixed types, 2 events with attributes, a resource with 10
 *    attributes, 10 services) over gRPC with `concurrency` calls in flight,
 *    honouring pushback (RESOURCE_EXHAUSTED/UNAVAILABLE) as an SDK would.
 * 3. Samples the server's RSS every second; counts spans acknowledged and
 *    stored. "Sustained" is spans stored divided by the time until the store
 *    caught up with every acknowledged span.
 * 4. Stops the server and, on the same data folder, times the engine alone:
 *    `INSERT INTO otel_traces SELECT * FROM <in-memory copy of the same rows>`
 *    — once as one big insert and once in 8192-row inserts (the batch size of
 *    the pipeline). These are the ceilings the pipeline is compared with.
 */
import fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { encodeTracesRequest } from '../pipeline/otlp';
import { SpanKind, StatusCode, type Span, type Traces } from '../pipeline/pdata';
import { rows, startMetaflow } from '../test/helpers/metaflow';

const seconds = Number(process.argv[2] ?? 60);
const concurrency = Number(process.argv[3] ?? 4);
const perRequest = Number(process.argv[4] ?? 512);
const DISTINCT_REQUESTS = 200;
const PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

function hex(n: number, rand: () => number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(rand() * 16)];
  return s;
}

/**
 * The requests the benchmark sends: `DISTINCT_REQUESTS` encoded
 * ExportTraceServiceRequests of `spansPerRequest` spans each. Exported so
 * the micro-benchmarks can decode and encode exactly these bytes.
 */
export function makeRequests(spansPerRequest = perRequest): Buffer[] {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const base = BigInt(Date.now()) * 1_000_000n;
  const out: Buffer[] = [];
  for (let r = 0; r < DISTINCT_REQUESTS; r++) {
    const svc = r % 10;
    const spans: Span[] = [];
    let traceId = hex(32, rand);
    for (let i = 0; i < spansPerRequest; i++) {
      if (i % 8 === 0) traceId = hex(32, rand);
      const start = base + BigInt(r * spansPerRequest + i) * 1000n;
      spans.push({
        traceId,
        spanId: hex(16, rand),
        parentSpanId: i % 8 === 0 ? '' : hex(16, rand),
        traceState: '',
        flags: 1,
        name: `GET /api/v1/items/{id}/${i % 20}`,
        kind: i % 8 === 0 ? SpanKind.SERVER : SpanKind.CLIENT,
        startTimeUnixNano: start,
        endTimeUnixNano: start + BigInt(100_000 + Math.floor(rand() * 5_000_000)),
        attributes: {
          'http.request.method': 'GET',
          'http.route': `/api/v1/items/{id}/${i % 20}`,
          'url.full': `https://shop.example.com/api/v1/items/${Math.floor(rand() * 100000)}`,
          'http.response.status_code': i % 50 === 0 ? 500 : 200,
          'server.address': 'shop.example.com',
          'server.port': 443,
          'client.address': `10.0.${svc}.${i % 250}`,
          'network.protocol.version': '1.1',
          'user_agent.original': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36',
          'http.request.body.size': Math.floor(rand() * 4096),
          'http.response.body.size': Math.floor(rand() * 65536),
          'db.system': 'postgresql',
          'db.name': 'shop',
          'db.statement': 'SELECT id, name, price FROM items WHERE id = $1',
          'thread.id': i % 16,
          'code.function': 'handleRequest',
          'code.namespace': 'shop.api.items',
          'app.cache.hit': i % 3 === 0,
          'app.ratio': rand(),
          'app.request_id': hex(16, rand),
        },
        droppedAttributesCount: 0,
        events: [
          { timeUnixNano: start + 1000n, name: 'cache.lookup', attributes: { 'cache.key': `item:${i}`, 'cache.hit': i % 3 === 0 }, droppedAttributesCount: 0 },
          { timeUnixNano: start + 2000n, name: 'db.query', attributes: { 'db.rows': 1, 'db.duration_ms': 3.5 }, droppedAttributesCount: 0 },
        ],
        droppedEventsCount: 0,
        links: [],
        droppedLinksCount: 0,
        status: { code: i % 50 === 0 ? StatusCode.ERROR : StatusCode.UNSET, message: '' },
      });
    }
    const t: Traces = {
      resourceSpans: [
        {
          resource: {
            attributes: {
              'service.name': `shop-${svc}`,
              'service.version': '2.4.1',
              'service.instance.id': hex(8, rand),
              'deployment.environment': 'production',
              'host.name': `node-${svc}`,
              'host.arch': 'amd64',
              'os.type': 'linux',
              'process.pid': 1000 + svc,
              'telemetry.sdk.name': 'opentelemetry',
              'telemetry.sdk.language': 'nodejs',
            },
            droppedAttributesCount: 0,
          },
          schemaUrl: '',
          scopeSpans: [{ scope: { name: '@opentelemetry/instrumentation-http', version: '0.57.0', attributes: {}, droppedAttributesCount: 0 }, schemaUrl: '', spans }],
        },
      ],
    };
    out.push(Buffer.from(encodeTracesRequest(t)));
  }
  return out;
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuOf(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * CPU seconds by thread group: the main JavaScript thread (tid = pid), V8's
 * helper threads (GC, compiler), libuv's pool, and the rest (chDB's engine
 * threads, gRPC has none of its own). Threads that ended are not counted, so
 * the groups may add up to less than {@link cpuOf}.
 */
function threadCpuOf(pid: number): Record<string, number> {
  const out: Record<string, number> = { main: 0, v8: 0, libuv: 0, other: 0 };
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.split(') ')[1].split(' ');
      const cpu = (Number(fields[11]) + Number(fields[12])) / 100;
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const group = Number(tid) === pid ? 'main' : /^V8 |^DelayedTask|^node$/.test(comm) ? 'v8' : /^libuv-worker/.test(comm) ? 'libuv' : 'other';
      out[group] += cpu;
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

const mib = (b: number) => `${(b / 1048576).toFixed(0)} MiB`;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  const requests = makeRequests();
  const bytes = requests.reduce((n, b) => n + b.length, 0) / (requests.length * perRequest);
  console.log(`otlp-ingest: ${seconds}s, ${concurrency} calls in flight, ${perRequest} spans/request, ${bytes.toFixed(0)} bytes/span on the wire`);
  // BENCH_SERVER_NODE_ARGS passes node flags to the server only (e.g. --cpu-prof).
  // BENCH_SERVER_CONFIG adds a --config to the server's (e.g. yaml:processors::batch::timeout: 1s).
  const mf = await startMetaflow({
    nodeArgs: process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean),
    configs: process.env.BENCH_SERVER_CONFIG ? [process.env.BENCH_SERVER_CONFIG] : [],
  });
  const pid = mf.process.pid as number;
  const client = new grpc.Client(`127.0.0.1:${mf.grpcPort}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': -1 });
  let acked = 0;
  let pushback = 0;
  let errors = 0;
  let next = 0;
  let sending = true;
  const call = (body: Buffer) =>
    new Promise<grpc.ServiceError | null>((resolve) => client.makeUnaryRequest<Buffer, Buffer>(PATH, (b) => b, (b) => b, body, (err) => resolve(err)));
  const worker = async () => {
    while (sending) {
      const body = requests[next++ % requests.length];
      for (;;) {
        const err = await call(body);
        if (!err) {
          acked += perRequest;
          break;
        }
        if (err.code === grpc.status.RESOURCE_EXHAUSTED || err.code === grpc.status.UNAVAILABLE) {
          pushback++;
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        errors++;
        break;
      }
    }
  };
  const cpu0 = cpuOf(pid);
  const threads0 = threadCpuOf(pid);
  const own0 = process.cpuUsage();
  const t0 = Date.now();
  const workers = Array.from({ length: concurrency }, () => worker());
  const samples: Array<{ t: number; rss: number; acked: number }> = [];
  let peak = 0;
  while (Date.now() - t0 < seconds * 1000) {
    await new Promise((r) => setTimeout(r, 1000));
    const rss = rssOf(pid);
    peak = Math.max(peak, rss);
    samples.push({ t: (Date.now() - t0) / 1000, rss, acked });
    if (samples.length % 10 === 0) console.log(`  t=${samples.length}s acked=${fmt(acked)} rss=${mib(rss)} pushback=${pushback}`);
  }
  sending = false;
  await Promise.all(workers);
  const sendSeconds = (Date.now() - t0) / 1000;
  const count = async () => Number((await rows(mf.queryPort, 'SELECT count() AS n FROM otel_traces'))[0].n);
  let stored = await count();
  while (stored < acked && Date.now() - t0 < (seconds + 120) * 1000) {
    await new Promise((r) => setTimeout(r, 250));
    peak = Math.max(peak, rssOf(pid));
    stored = await count();
  }
  const drainedSeconds = (Date.now() - t0) / 1000;
  const serverCpu = cpuOf(pid) - cpu0;
  const threads1 = threadCpuOf(pid);
  const perSpan = (cpuSeconds: number) => `${((cpuSeconds / stored) * 1e6).toFixed(1)} µs`;
  const byThread = Object.keys(threads1)
    .map((g) => `${g} ${perSpan(threads1[g] - (threads0[g] ?? 0))}`)
    .join(', ');
  const own = process.cpuUsage(own0);
  const loadCpu = (own.user + own.system) / 1e6;
  client.close();
  await mf.stop();

  // The ceiling: the engine alone, on the same rows, in the same data folder.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Session } = require('chdb') as typeof import('chdb');
  const session = new Session(mf.dataDir);
  const n = Math.min(stored, 500_000);
  await session.queryAsync(`CREATE TABLE metaflow.bench_copy ENGINE = Memory AS SELECT * FROM metaflow.otel_traces LIMIT ${n}`);
  let t = process.hrtime.bigint();
  await session.queryAsync('INSERT INTO metaflow.otel_traces SELECT * FROM metaflow.bench_copy');
  const ceilingOne = n / (Number(process.hrtime.bigint() - t) / 1e9);
  t = process.hrtime.bigint();
  for (let off = 0; off < n; off += 8192) {
    await session.queryAsync(`INSERT INTO metaflow.otel_traces SELECT * FROM metaflow.bench_copy LIMIT 8192 OFFSET ${off}`);
  }
  const ceilingBatched = n / (Number(process.hrtime.bigint() - t) / 1e9);
  session.close();
  fs.rmSync(mf.dataDir, { recursive: true, force: true });

  const sustained = stored / drainedSeconds;
  const quarter = (q: number) => samples[Math.min(samples.length - 1, Math.floor((samples.length * q) / 4))]?.rss ?? 0;
  console.log('');
  console.log('| figure | value |');
  console.log('|---|---|');
  console.log(`| spans acknowledged | ${fmt(acked)} in ${sendSeconds.toFixed(1)} s (${fmt(acked / sendSeconds)} spans/s) |`);
  console.log(`| spans stored | ${fmt(stored)}, all stored ${drainedSeconds.toFixed(1)} s after the start |`);
  console.log(`| **sustained end to end** | **${fmt(sustained)} spans/s** |`);
  console.log(`| engine ceiling, one insert of ${fmt(n)} rows | ${fmt(ceilingOne)} rows/s |`);
  console.log(`| engine ceiling, 8192-row inserts | ${fmt(ceilingBatched)} rows/s |`);
  console.log(`| end to end ÷ one-insert ceiling | ${((sustained / ceilingOne) * 100).toFixed(0)}% |`);
  console.log(`| end to end ÷ 8192-row ceiling | ${((sustained / ceilingBatched) * 100).toFixed(0)}% |`);
  console.log(`| server CPU | ${serverCpu.toFixed(1)} s over ${drainedSeconds.toFixed(1)} s (${(serverCpu / drainedSeconds).toFixed(2)} cores; ${((serverCpu / stored) * 1e6).toFixed(1)} µs per span) |`);
  console.log(`| server CPU per span by thread | ${byThread} |`);
  console.log(`| load generator CPU (same machine) | ${loadCpu.toFixed(1)} s (${(loadCpu / drainedSeconds).toFixed(2)} cores) |`);
  console.log(`| server peak RSS | ${mib(peak)} |`);
  console.log(`| server RSS at 25/50/75/100% of the run | ${mib(quarter(1))} / ${mib(quarter(2))} / ${mib(quarter(3))} / ${mib(quarter(4))} |`);
  console.log(`| pushback answers (retried) / errors | ${pushback} / ${errors} |`);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
