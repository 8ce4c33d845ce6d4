/**
 * Benchmark of the clickhouse exporter's embedded insert path.
 *
 * Run (not part of the tests):
 *
 *     npx tsc -p tsconfig.json        # emits dist/ even if other folders have type errors
 *     node dist/bench/clickhouse-insert.js [spans=50000] [batch=8192] [num_consumers=default]
 *
 * Realistic spans (resource with 10 attributes, 20 span attributes, 2 events)
 * are measured three ways, in one run on the same machine:
 *
 * 1. encode: pdata → Native block in JS, one core (spans/s);
 * 2. exporter: the same spans through the exporter (queue, temp file,
 *    `INSERT … SELECT FROM file()`) into embedded chDB (spans/s);
 * 3. engine ceiling: the rows already in the table copied again with
 *    `INSERT INTO otel_traces SELECT * FROM <Memory copy>` — the engine's
 *    own cost of storing those rows (indexes, materialized view, parts).
 *
 * It prints each rate, the ratios, and peak RSS. Baselines measured on the
 * 2-core machine this was written on (chdb 3.4): JSONEachRow raw insert
 * 23–31k rows/s, TSV 27–29k, RowBinary via file() 40–46k, engine-only ~125–144k.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ComponentID } from '../pipeline/component';
import { nopLogger } from '../pipeline/logger';
import { SpanKind, StatusCode, type ResourceSpans, type Span, type Traces } from '../pipeline/pdata';
import { nopTelemetry } from '../pipeline/telemetry';
import { Session } from 'chdb';
import { factory } from '../exporters/clickhouse';
import type { ClickHouseExporter } from '../exporters/clickhouse/exporter';
import { TraceRows } from '../exporters/clickhouse/rows-traces';
import type { TelemetryStore } from '../exporters/clickhouse/store';

function hex(bytes: number, seed: number): string {
  let s = '';
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    s += ((x >>> 0) & 0xff).toString(16).padStart(2, '0');
  }
  return s;
}

const ROUTES = ['/api/cart', '/api/checkout', '/api/products/{id}', '/healthz', '/api/users/{id}/orders'];
const SERVICES = ['checkout', 'cart', 'frontend', 'payments', 'inventory', 'shipping'];

/** Spans as an instrumented web service emits them, `perResource` per resource. */
export function makeTraces(count: number, perResource = 200): Traces {
  const resourceSpans: ResourceSpans[] = [];
  const base = 1_700_000_000_000_000_000n;
  for (let made = 0, r = 0; made < count; r++) {
    const service = SERVICES[r % SERVICES.length];
    const spans: Span[] = [];
    for (let i = 0; i < perResource && made < count; i++, made++) {
      const start = base + BigInt(made) * 1_000_123n;
      const route = ROUTES[made % ROUTES.length];
      spans.push({
        traceId: hex(16, made * 7 + 1),
        spanId: hex(8, made * 13 + 3),
        traceState: '',
        parentSpanId: made % 4 === 0 ? '' : hex(8, made * 13 + 2),
        flags: 1,
        name: `GET ${route}`,
        kind: made % 3 === 0 ? SpanKind.SERVER : SpanKind.CLIENT,
        startTimeUnixNano: start,
        endTimeUnixNano: start + BigInt(1000 + (made % 5000) * 997),
        attributes: {
          'http.request.method': 'GET',
          'http.route': route,
          'url.path': route.replace('{id}', String(made % 1000)),
          'url.scheme': 'https',
          'http.response.status_code': made % 50 === 0 ? 500 : 200,
          'server.address': `${service}.shop.svc.cluster.local`,
          'server.port': 8080,
          'client.address': `10.0.${made % 255}.${(made * 7) % 255}`,
          'network.protocol.version': '1.1',
          'user_agent.original': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
          'http.request.body.size': made % 4096,
          'http.response.body.size': (made * 31) % 65536,
          'app.user.id': `user-${made % 10000}`,
          'app.cart.items': made % 12,
          'app.feature.flag': made % 2 === 0,
          'app.latency.ratio': (made % 100) / 7,
          'db.system': 'postgresql',
          'db.operation.name': 'SELECT',
          'metaflow.capture.source': made % 2 === 0 ? 'ebpf' : 'otel',
          'thread.id': 1000 + (made % 64),
        },
        droppedAttributesCount: 0,
        events: [
          { timeUnixNano: start + 500n, name: 'request.received', attributes: { 'message.id': made, 'message.type': 'RECEIVED' }, droppedAttributesCount: 0 },
          {
            timeUnixNano: start + 900n,
            name: made % 50 === 0 ? 'exception' : 'response.sent',
            attributes: { 'exception.type': made % 50 === 0 ? 'TimeoutError' : '', 'message.uncompressed_size': 1234 },
            droppedAttributesCount: 0,
          },
        ],
        droppedEventsCount: 0,
        links: [],
        droppedLinksCount: 0,
        status: { code: made % 50 === 0 ? StatusCode.ERROR : StatusCode.UNSET, message: made % 50 === 0 ? 'upstream timeout' : '' },
      });
    }
    resourceSpans.push({
      resource: {
        attributes: {
          'service.name': service,
          'service.version': '1.4.2',
          'service.namespace': 'shop',
          'service.instance.id': `${service}-7d9f8b-${r % 5}`,
          'host.name': `node-${r % 8}`,
          'host.arch': 'amd64',
          'os.type': 'linux',
          'k8s.namespace.name': 'shop',
          'k8s.pod.name': `${service}-7d9f8b-${r % 5}`,
          'telemetry.sdk.language': 'nodejs',
        },
        droppedAttributesCount: 0,
      },
      scopeSpans: [{ scope: { name: '@opentelemetry/instrumentation-http', version: '0.57.0', attributes: {}, droppedAttributesCount: 0 }, spans, schemaUrl: '' }],
      schemaUrl: '',
    });
  }
  return { resourceSpans };
}

/** Splits a batch into batches of at most `size` spans (whole resources split as needed). */
function split(t: Traces, size: number): Traces[] {
  const out: Traces[] = [];
  let cur: ResourceSpans[] = [];
  let n = 0;
  for (const rs of t.resourceSpans) {
    let spans = rs.scopeSpans[0].spans;
    while (spans.length) {
      const take = Math.min(size - n, spans.length);
      cur.push({ ...rs, scopeSpans: [{ ...rs.scopeSpans[0], spans: spans.slice(0, take) }] });
      spans = spans.slice(take);
      n += take;
      if (n === size) {
        out.push({ resourceSpans: cur });
        cur = [];
        n = 0;
      }
    }
  }
  if (n) out.push({ resourceSpans: cur });
  return out;
}

function rate(n: number, ms: number): string {
  return `${Math.round((n / ms) * 1000).toLocaleString('en-US')}/s`;
}

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 50000);
  const batchSize = Number(process.argv[3] ?? 8192);
  const consumers = process.argv[4] ? Number(process.argv[4]) : undefined;
  const traces = makeTraces(total);
  const batches = split(traces, batchSize);
  console.log(`clickhouse insert benchmark: ${total} spans (20 attributes, 2 events, resource with 10 attributes), batches of ${batchSize}`);

  // 1. Encode only, one core. A warm-up pass lets V8 optimize and the buffers grow.
  const rows = new TraceRows();
  let bytes = 0;
  for (const b of batches) {
    rows.append(b);
    rows.block.reset();
  }
  const rounds = 3;
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    for (const b of batches) {
      rows.append(b);
      bytes += rows.block.byteLength();
      rows.block.reset();
    }
  }
  const encodeMs = performance.now() - t0;
  const encodeRate = (total * rounds) / (encodeMs / 1000);
  console.log(`encode (Native block, 1 core):       ${rate(total * rounds, encodeMs)} spans, ${Math.round(bytes / rounds / total)} bytes/span`);

  // 2. Through the exporter into embedded chDB.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-bench-ch-'));
  const cfg = factory.config.parseOrThrow({ data_dir: path.join(dir, 'data'), sending_queue: { num_consumers: consumers } });
  const settings = { id: new ComponentID('clickhouse'), kind: 'exporter' as const, logger: nopLogger, telemetry: nopTelemetry('exporter', 'clickhouse') };
  const exp = factory.create(settings, cfg, new Set(['traces'])) as ClickHouseExporter;
  const host = { getExtension: () => undefined, getComponent: () => undefined, listComponents: () => [] };
  await exp.start(host);
  const store = exp.store() as TelemetryStore;
  const consumer = exp.consumers.traces!;
  const t1 = performance.now();
  for (const b of batches) await consumer.consume(b);
  await (consumer as unknown as { idle(): Promise<void> }).idle();
  const exportMs = performance.now() - t1;
  const exportRate = total / (exportMs / 1000);
  const counted = (await store.query(`SELECT count() FROM ${store.database}.${store.tables.traces}`)).rows[0][0];
  const rssAfterExport = Math.round(process.resourceUsage().maxRSS / 1024);
  const stats = (store as unknown as { insertStats: { statements: number; blocks: number } }).insertStats;
  console.log(`exporter → embedded chDB:            ${rate(total, exportMs)} spans (${counted} rows stored; ${stats.blocks} blocks in ${stats.statements} INSERTs; ${cfg.sending_queue.num_consumers ?? 'default'} consumers)`);

  // 3. Engine-only ceiling: the same rows, already parsed, stored again into
  // the emptied table (with its indexes and the trace-id view), once as one
  // insert and once in batch-sized inserts like the exporter's.
  const db = store.database;
  const target = `${db}.${store.tables.traces}`;
  const empty = async () => {
    await store.command(`TRUNCATE TABLE ${target}`);
    await store.command(`TRUNCATE TABLE ${db}.${store.tables.traceIdTs}`);
  };
  await store.command(`CREATE TABLE ${db}.bench_src ENGINE = Memory AS SELECT *, rowNumberInAllBlocks() AS bench_row FROM ${target}`);
  await empty();
  const t2 = performance.now();
  await store.command(`INSERT INTO ${target} SELECT * EXCEPT bench_row FROM ${db}.bench_src`);
  const engineMs = performance.now() - t2;
  const engineRate = total / (engineMs / 1000);
  console.log(`engine ceiling, one INSERT … SELECT:  ${rate(total, engineMs)} spans`);
  await empty();
  const t3 = performance.now();
  for (let from = 0; from < total; from += batchSize) {
    await store.command(`INSERT INTO ${target} SELECT * EXCEPT bench_row FROM ${db}.bench_src WHERE bench_row >= ${from} AND bench_row < ${from + batchSize}`);
  }
  const batchedMs = performance.now() - t3;
  console.log(`engine ceiling, batch-sized inserts:  ${rate(total, batchedMs)} spans`);

  // 4. Baseline: the same rows as JSONEachRow text through chDB's raw insert
  // (the fastest public insert path), in batch-sized inserts, text already
  // built (its serialization is not counted).
  const session = new Session(path.join(dir, 'data'));
  const json = (await session.queryAsync(`SELECT * EXCEPT bench_row FROM ${db}.bench_src`, { format: 'JSONEachRow' })).text();
  const lines = json.split('\n').filter((l) => l !== '');
  const payloads: Buffer[] = [];
  for (let i = 0; i < lines.length; i += batchSize) payloads.push(Buffer.from(lines.slice(i, i + batchSize).join('\n') + '\n'));
  await empty();
  const t4 = performance.now();
  for (const values of payloads) await session.insert({ table: target, values, format: 'JSONEachRow' });
  const jsonMs = performance.now() - t4;
  session.close();
  console.log(`baseline: JSONEachRow raw insert:    ${rate(total, jsonMs)} spans (text prebuilt, batch-sized inserts)`);

  console.log(`exporter / engine ceiling (one insert): ${((exportRate / engineRate) * 100).toFixed(0)}%`);
  console.log(`exporter / engine ceiling (batches):    ${((exportRate / (total / (batchedMs / 1000))) * 100).toFixed(0)}%`);
  console.log(`encode / exporter:                   ${(encodeRate / exportRate).toFixed(1)}x`);
  console.log(`exporter / JSONEachRow baseline:     ${(exportRate / (total / (jsonMs / 1000))).toFixed(1)}x`);
  console.log(`peak RSS:                            ${rssAfterExport} MiB through the exporter run (chDB engine included), ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB overall`);

  await exp.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
