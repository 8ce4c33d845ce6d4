/**
 * Spans per second through the redmetrics connector on one core.
 *
 *   node dist/bench/redmetrics.js [seconds] [spans/batch]
 *
 * Realistic spans: 20 services x 50 endpoints, server and client kinds, 2% errors,
 * 14 attributes each (HTTP semantic conventions plus host/process/network
 * ones); one in four is a zero-code span with `metaflow.endpoint`,
 * `metaflow.l7_protocol` and `metaflow.response_status`. The connector runs
 * with its default config (1 s and 1 min windows, explicit histogram, the
 * flush timer on) and a downstream consumer that counts the points it gets.
 * Aim: at least 500,000 spans/s. Baseline printed in the same run: a loop
 * that only reads the same fields of every span (the floor any aggregation
 * pays).
 */
import { ComponentID } from '../pipeline/component';
import { nopLogger } from '../pipeline/logger';
import { countDataPoints, SpanKind, StatusCode, type Metrics, type Span, type Traces } from '../pipeline/pdata';
import { Telemetry } from '../pipeline/telemetry';
import { config, type RedConfig } from '../connectors/redmetrics/config';
import { RedMetricsConnector } from '../connectors/redmetrics/redmetrics';

const seconds = Number(process.argv[2] ?? 10);
const perBatch = Number(process.argv[3] ?? 1000);

/**
 * The same string object for equal short strings, as the OTLP decoder's
 * string cache returns them (pipeline/otlp/protobuf-reader.ts), so the
 * benchmark sees the memory layout decoded data has.
 */
const interned = new Map<string, string>();
function intern<T>(v: T): T {
  if (typeof v !== 'string' || v.length > 48) return v;
  const hit = interned.get(v);
  if (hit !== undefined) return hit as T;
  interned.set(v, v);
  return v;
}

function makeBatches(n: number): Traces[] {
  const out: Traces[] = [];
  const now = BigInt(Date.now()) * 1000000n;
  let seq = 0;
  for (let b = 0; b < n; b++) {
    const byService = new Map<number, Span[]>();
    for (let i = 0; i < perBatch; i++, seq++) {
      // Independent pseudo-random choices (a multiplicative hash of the sequence number).
      const h = Math.imul(seq, 2654435761) >>> 0;
      const svc = h % 20;
      const ep = (h >>> 8) % 50;
      const client = (h >>> 16) % 3 === 0;
      const zeroCode = (h >>> 20) % 4 === 0;
      const err = (h >>> 24) % 50 === 0;
      const dur = BigInt(1000000 + ((seq * 7919) % 200) * 1000000);
      const attrs: Span['attributes'] = {
        'http.request.method': ep % 5 === 0 ? 'POST' : 'GET',
        'url.path': `/api/v1/items/${seq}`,
        'http.route': `/api/v1/resource${ep}/{id}`,
        'http.response.status_code': err ? 500 : 200,
        'server.address': `svc-${svc}.default.svc`,
        'server.port': 8080,
        'network.protocol.version': '1.1',
        'user_agent.original': 'Mozilla/5.0 (X11; Linux x86_64)',
        'client.address': `10.1.${svc}.${seq % 250}`,
        'net.host.name': `node-${svc % 5}`,
        'thread.id': seq % 64,
        'code.function': 'handle',
        'code.namespace': 'app.http',
        'request.id': `req-${seq}`,
      };
      if (zeroCode) {
        attrs['metaflow.endpoint'] = `/api/v1/resource${ep}/{id}`;
        attrs['metaflow.l7_protocol'] = 'HTTP';
        attrs['metaflow.response_status'] = err ? 'server_error' : 'normal';
      }
      for (const k of Object.keys(attrs)) attrs[k] = intern(attrs[k]);
      const span: Span = {
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: 'b7ad6b7169203331',
        traceState: '',
        parentSpanId: '',
        flags: 0,
        name: intern(`${ep % 5 === 0 ? 'POST' : 'GET'} /api/v1/resource${ep}/{id}`),
        kind: client ? SpanKind.CLIENT : SpanKind.SERVER,
        startTimeUnixNano: now - dur,
        endTimeUnixNano: now,
        attributes: attrs,
        droppedAttributesCount: 0,
        events: [],
        droppedEventsCount: 0,
        links: [],
        droppedLinksCount: 0,
        status: { code: err ? StatusCode.ERROR : StatusCode.UNSET, message: '' },
      };
      let list = byService.get(svc);
      if (!list) byService.set(svc, (list = []));
      list.push(span);
    }
    out.push({
      resourceSpans: [...byService].map(([svc, spans]) => ({
        resource: { attributes: { 'service.name': `service-${svc}`, 'service.version': '1.0.0', 'host.name': `node-${svc % 5}` }, droppedAttributesCount: 0 },
        scopeSpans: [{ scope: { name: 'bench', version: '', attributes: {}, droppedAttributesCount: 0 }, spans, schemaUrl: '' }],
        schemaUrl: '',
      })),
    });
  }
  return out;
}

async function main(): Promise<void> {
  const batches = makeBatches(200);
  let points = 0;
  const telemetry = new Telemetry('none');
  const connector = new RedMetricsConnector(
    config.parseOrThrow({}) as RedConfig,
    { id: new ComponentID('redmetrics'), kind: 'connector', logger: nopLogger, telemetry: telemetry.forComponent('connector', 'redmetrics') },
    { consume: async (m: Metrics) => void (points += countDataPoints(m)) },
  );
  await connector.start();

  // Baseline: read what the connector reads, aggregate nothing.
  let sink = 0;
  const readFields = (t: Traces) => {
    for (const rs of t.resourceSpans)
      for (const ss of rs.scopeSpans)
        for (const s of ss.spans) {
          const a = s.attributes;
          sink += (a['metaflow.endpoint'] === undefined ? s.name.length : 1) + s.kind + s.status.code + Number(s.endTimeUnixNano - s.startTimeUnixNano);
        }
  };
  const run = async (fn: (t: Traces) => unknown, secs: number): Promise<{ rate: number; cpu: number }> => {
    let spans = 0;
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const deadline = Date.now() + secs * 1000;
    let i = 0;
    while (Date.now() < deadline) {
      for (let k = 0; k < 20; k++, i++) {
        const b = batches[i % batches.length];
        await fn(b);
        spans += perBatch;
      }
      // Let the flush timer run, as it would between requests.
      await new Promise((r) => setImmediate(r));
    }
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(cpu0);
    return { rate: spans / wall, cpu: (c.user + c.system) / 1e6 / wall };
  };
  await run((t) => connector.consume(t), 1); // warm-up
  await run(readFields, 1);
  const base = await run(readFields, Math.min(3, seconds));
  const red = await run((t) => connector.consume(t), seconds);
  await connector.shutdown();
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  console.log(`redmetrics, ${perBatch} spans/batch, ${connector.seriesCount} series, default config (1 s + 1 min windows, explicit histogram)`);
  // Spans per CPU-second is what one core does; it stays meaningful when other processes share the machine.
  console.log('| loop | spans/s (wall) | CPU used (cores) | spans per CPU-second |\n|---|---|---|---|');
  console.log(`| redmetrics connector consume + flush | ${fmt(red.rate)} | ${red.cpu.toFixed(2)} | ${fmt(red.rate / red.cpu)} |`);
  console.log(`| baseline: read the same span fields only | ${fmt(base.rate)} | ${base.cpu.toFixed(2)} | ${fmt(base.rate / base.cpu)} |`);
  const perCore = red.rate / Math.max(red.cpu, 1e-9);
  console.log(`aim 500,000 spans/s on one core: ${perCore >= 500000 ? 'met' : 'NOT met'} (${fmt(perCore)} per CPU-second); ${fmt(points)} points emitted${sink === 0.5 ? '' : ''}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
