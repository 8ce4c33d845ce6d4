/**
 * SmartEncoding of metrics against the contrib metrics tables (issue 6), in
 * one run, on the same points, in embedded chDB.
 *
 * Run (not part of the tests):
 *
 *     npx tsc -p tsconfig.json
 *     node dist/bench/smartencoding-metrics.js [--batches 1000]
 *
 * Data: the pods of test/helpers/tagged-spans.ts (50 services, 2,000 pods,
 * 40 resource attributes with k8s labels and annotations); each batch has
 * 100 pods, each with a request counter over 10 routes and a duration
 * histogram (11 points per pod, so 1,100 per batch), one second apart.
 *
 * Two databases, each written by the real clickhouse exporter:
 * `smart_encoding: true` (otel_metrics_* views over *_encoded tables, the
 * resource once in otel_resources) and `false` (the contrib tables). Printed
 * per layout: bytes on disk of otel_metrics_sum after OPTIMIZE FINAL,
 * process CPU seconds to insert, and the best of 5 runs of four queries
 * through the store the query service uses: requests by service, one
 * service's routes, a pod-label filter, and the rows of one service's
 * series with their resource maps (what Prometheus remote read reads). The
 * answers of both layouts are checked to be equal.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ComponentID, type Host } from '../pipeline/component';
import { nopLogger } from '../pipeline/logger';
import type { Metrics, NumberDataPoint } from '../pipeline/pdata';
import { nopTelemetry } from '../pipeline/telemetry';
import { factory } from '../exporters/clickhouse';
import type { ClickHouseExporter } from '../exporters/clickhouse/exporter';
import { TaggedSpans } from '../test/helpers/tagged-spans';

const host: Host = { getExtension: () => undefined, getComponent: () => undefined, listComponents: () => [] };
const i = process.argv.indexOf('--batches');
const BATCHES = i < 0 ? 1000 : Number(process.argv[i + 1]);
if (!Number.isInteger(BATCHES) || BATCHES <= 0) throw new Error('--batches needs a positive integer');

const gen = new TaggedSpans({ services: 50, pods: 2000, endpoints: 200, seed: 1 });
const T0 = 1_767_225_600_000_000_000n;

function batch(b: number): Metrics {
  const at = { startTimeUnixNano: T0, timeUnixNano: T0 + BigInt(b) * 1_000_000_000n, flags: 0, exemplars: [] };
  return {
    resourceMetrics: Array.from({ length: 100 }, (_, k) => {
      const points: NumberDataPoint[] = Array.from({ length: 10 }, (_, r) => ({ ...at, attributes: { 'http.route': `/r${r}`, 'http.response.status_code': 200 }, value: b + r, isInt: true }));
      return {
        resource: { attributes: gen.resources[(b * 100 + k) % gen.resources.length], droppedAttributesCount: 0 },
        schemaUrl: '',
        scopeMetrics: [
          {
            scope: { name: 'app-meter', version: '1', attributes: {}, droppedAttributesCount: 0 },
            schemaUrl: '',
            metrics: [
              { name: 'http.server.requests', description: '', unit: '{request}', metadata: {}, data: { type: 'sum', aggregationTemporality: 2, isMonotonic: true, dataPoints: points } },
              {
                name: 'http.server.request.duration',
                description: '',
                unit: 's',
                metadata: {},
                data: { type: 'histogram', aggregationTemporality: 2, dataPoints: [{ ...at, attributes: {}, count: 5, sum: 1.5, bucketCounts: [1, 2, 2], explicitBounds: [0.1, 1], min: 0.01, max: 1 }] },
              },
            ],
          },
        ],
      };
    }),
  };
}

const QUERIES: Array<[string, string]> = [
  ['requests by service', "SELECT ServiceName, sum(Value) FROM otel_metrics_sum WHERE MetricName = 'http.server.requests' GROUP BY ServiceName ORDER BY ServiceName"],
  ['one service by route', "SELECT Attributes['http.route'] AS r, max(Value) FROM otel_metrics_sum WHERE ServiceName = 'svc-07' GROUP BY r ORDER BY r"],
  ['label filter', "SELECT count(), sum(Value) FROM otel_metrics_sum WHERE ResourceAttributes['k8s.pod.label.team'] = 'team-3'"],
  ['series with resources', "SELECT ResourceAttributes, Attributes, TimeUnix, Value FROM otel_metrics_sum WHERE MetricName = 'http.server.requests' AND ServiceName = 'svc-07' ORDER BY TimeUnix, toString(Attributes), ResourceAttributes['k8s.pod.name']"],
];

interface Result {
  diskMB: number;
  cpuS: number;
  ms: number[];
  answers: string[];
}

async function layout(dir: string, smart: boolean): Promise<Result> {
  const database = smart ? 'bench_smart' : 'bench_plain';
  const cfg = factory.config.parseOrThrow({ data_dir: dir, database, smart_encoding: smart });
  const e = factory.create({ id: new ComponentID('clickhouse', database), kind: 'exporter', logger: nopLogger, telemetry: nopTelemetry('exporter', 'clickhouse') }, cfg, new Set(['metrics'])) as ClickHouseExporter;
  await e.start(host);
  const c0 = process.cpuUsage();
  for (let b = 0; b < BATCHES; b++) await e.consumers.metrics!.consume(batch(b));
  await (e.consumers.metrics as unknown as { idle(): Promise<void> }).idle();
  const cpu = process.cpuUsage(c0);
  const store = e.store() as unknown as { command(sql: string): Promise<void>; query(sql: string): Promise<{ rows: unknown[][] }> };
  await store.command(`OPTIMIZE TABLE ${database}.${smart ? 'otel_metrics_sum_encoded' : 'otel_metrics_sum'} FINAL`);
  const disk = await store.query(`SELECT sum(data_compressed_bytes) FROM system.parts WHERE database = '${database}' AND active AND (table LIKE 'otel_metrics_sum%' OR table IN ('otel_resources', 'otel_tags'))`);
  const ms: number[] = [];
  const answers: string[] = [];
  for (const [, sql] of QUERIES) {
    let best = Infinity;
    let rows: unknown[][] = [];
    for (let r = 0; r < 5; r++) {
      const t = process.hrtime.bigint();
      rows = (await store.query(sql)).rows;
      best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e6);
    }
    ms.push(best);
    answers.push(JSON.stringify(rows));
  }
  await e.shutdown();
  return { diskMB: Number(disk.rows[0][0]) / 1e6, cpuS: (cpu.user + cpu.system) / 1e6, ms, answers };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-bench-sem-'));
  try {
    console.log(`smartencoding-metrics: ${(BATCHES * 1100).toLocaleString('en-US')} points per layout (${BATCHES} batches of 100 pods); ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(2)}`);
    const smart = await layout(dir, true);
    const plain = await layout(dir, false);
    const row = (name: string, r: Result) => `${name.padStart(6)}  ${r.diskMB.toFixed(2).padStart(8)}  ${r.cpuS.toFixed(1).padStart(12)}  ${r.ms.map((m) => m.toFixed(1).padStart(10)).join('  ')}`;
    console.log(`layout   disk MB  insert CPU s  ${QUERIES.map(([n]) => n.padStart(10)).join('  ')}  (ms)`);
    console.log(row('smart', smart));
    console.log(row('plain', plain));
    console.log(`plain / smart: disk ${(plain.diskMB / smart.diskMB).toFixed(2)}x, insert CPU ${(plain.cpuS / smart.cpuS).toFixed(2)}x, queries ${plain.ms.map((m, k) => `${(m / smart.ms[k]).toFixed(2)}x`).join(' / ')}`);
    const same = smart.answers.every((a, k) => a === plain.answers[k]);
    console.log(same ? 'answers of both layouts are identical' : `ANSWERS DIFFER: ${QUERIES.filter((_, k) => smart.answers[k] !== plain.answers[k]).map(([n]) => n).join(', ')}`);
    if (!same) process.exitCode = 1;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
