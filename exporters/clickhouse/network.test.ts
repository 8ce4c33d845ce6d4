/**
 * Flow logs and network metrics made from real captures (DeepFlow's
 * flow_generator files through the flow table and protocols/flow/signals,
 * as the pcap receiver makes them) land in `flow_log` and `network_metrics`
 * in embedded chDB, column by column, and SQL over them gives back the
 * counters the flow table computed; other log records and metrics in the
 * same batches still go to the contrib tables.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ComponentID, type Host } from '../../pipeline/component';
import { Logger } from '../../pipeline/logger';
import type { LogRecord, Logs, Metric, Metrics, Signal } from '../../pipeline/pdata';
import { anyValueToString } from '../../pipeline/pdata';
import { Telemetry } from '../../pipeline/telemetry';
import { FLOW_ATTR, FLOW_LOG_COUNTERS, flowLogRecord, networkMetrics } from '../../protocols/flow/signals';
import { FlowTable } from '../../protocols/flow/table';
import { PacketDecoder } from '../../protocols/packet/decode';
import { CaptureReader } from '../../protocols/packet/pcap';
import type { ClickHouseExporter } from './exporter';
import { factory } from './index';
import { StoreError, type TelemetryStore } from './store';
import { conformancePath } from '../../protocols/testing/conformance';

const FG = conformancePath('deepflow/flow_generator');
const host: Host = { getExtension: () => undefined, getComponent: () => undefined, listComponents: () => [] };
const scope = { name: 'metaflow.pcap', version: '', attributes: {}, droppedAttributesCount: 0 };

let dir: string;
const started: ClickHouseExporter[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-network-'));
});
afterEach(async () => {
  for (const e of started.splice(0)) await e.shutdown();
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

async function start(database: string, signals: Signal[], retry = false, smart = true): Promise<ClickHouseExporter> {
  const cfg = factory.config.parseOrThrow({
    data_dir: path.join(dir, 'data'),
    database,
    smart_encoding: smart,
    ...(retry ? { retry_on_failure: { initial_interval: '20ms', max_interval: '50ms', randomization_factor: 0 } } : {}),
  });
  const settings = {
    id: new ComponentID('clickhouse', database),
    kind: 'exporter' as const,
    logger: new Logger('error'),
    telemetry: new Telemetry('none').forComponent('exporter', 'clickhouse'),
  };
  const e = factory.create(settings, cfg, new Set(signals)) as ClickHouseExporter;
  started.push(e);
  await e.start(host);
  return e;
}

/** What one capture gave: its flow-log records and network metrics, and the totals the table counted. */
interface Replayed {
  file: string;
  records: LogRecord[];
  metrics: Metric[];
  packets: number;
  flows: number;
}

/** Replays one capture through a flow table with a 1 s flow-log interval. */
function replay(file: string): Replayed {
  const out: Replayed = { file, records: [], metrics: [], packets: 0, flows: 0 };
  const table: FlowTable = new FlowTable(
    { flowLogIntervalNs: 1e9 },
    {
      flowLog: (f, s, e, final) => out.records.push(flowLogRecord(f, table.absNs(f.startT), table.absNs(s), table.absNs(e), final, 0n)),
      metrics: (g, s, e, aggs) => out.metrics.push(...networkMetrics(g, s, e, aggs, g === '1s' ? 'second' : 'minute')),
    },
  );
  const reader = CaptureReader.readFile(path.join(FG, file));
  const decoder = new PacketDecoder();
  for (let p = reader.next(); p; p = reader.next()) table.packet(decoder.decodePacket(p), p);
  table.flush();
  out.packets = table.counters.packets - table.counters.ignored;
  out.flows = table.counters.flowsCreated;
  return out;
}

function logsOf(r: Replayed, extra: LogRecord[] = []): Logs {
  return {
    resourceLogs: [{ resource: { attributes: { 'host.name': 'agent-1', 'capture.file': r.file }, droppedAttributesCount: 0 }, schemaUrl: '', scopeLogs: [{ scope, schemaUrl: '', logRecords: [...r.records, ...extra] }] }],
  };
}

function metricsOf(r: Replayed, extra: Metric[] = []): Metrics {
  return {
    resourceMetrics: [{ resource: { attributes: { 'host.name': 'agent-1' }, droppedAttributesCount: 0 }, schemaUrl: '', scopeMetrics: [{ scope, schemaUrl: '', metrics: [...r.metrics, ...extra] }] }],
  };
}

const OTHER_LOG: LogRecord = {
  timeUnixNano: 1700000000000000000n,
  observedTimeUnixNano: 1700000000000000000n,
  severityNumber: 9,
  severityText: 'INFO',
  body: 'an application log line',
  attributes: {},
  droppedAttributesCount: 0,
  flags: 0,
  traceId: '',
  spanId: '',
  eventName: '',
};

const OTHER_METRIC: Metric = {
  name: 'app.requests',
  description: '',
  unit: '',
  metadata: {},
  data: { type: 'gauge', dataPoints: [{ attributes: {}, startTimeUnixNano: 0n, timeUnixNano: 1700000000000000000n, exemplars: [], flags: 0, value: 3, isInt: true }] },
};

async function idle(e: ClickHouseExporter, signal: Signal): Promise<void> {
  await (e.consumers[signal] as unknown as { idle(): Promise<void> }).idle();
}

const CAPTURES = fs
  .readdirSync(FG)
  .filter((f) => f.endsWith('.pcap'))
  .sort();

describe('flow logs and network metrics in chDB', () => {
  test('every flow log of every flow_generator capture is one flow_log row with its counters as columns', async () => {
    expect(CAPTURES.length).toBeGreaterThan(20);
    const exp = await start('net_flows', ['logs']);
    const store = exp.store() as unknown as TelemetryStore;
    const all = CAPTURES.map(replay);
    let expected = 0;
    for (const r of all) {
      expected += r.records.length;
      await exp.consumers.logs!.consume(logsOf(r, [OTHER_LOG]));
    }
    await idle(exp, 'logs');
    expect(expected).toBeGreaterThan(CAPTURES.length);
    expect((await store.query('SELECT count() FROM flow_log')).rows).toEqual([[String(expected)]]);
    // The application log lines went to the contrib table, one per batch.
    expect((await store.query("SELECT count(), any(Body) FROM otel_logs")).rows).toEqual([[String(all.length), 'an application log line']]);

    const counterCols = FLOW_LOG_COUNTERS.map((k) => k.column);
    const res = await store.query(
      `SELECT ResourceAttributes['capture.file'], FlowId, toUnixTimestamp64Nano(Timestamp), toUnixTimestamp64Nano(StartTime), HostName, Transport, ClientIp, ClientPort, ServerIp, ServerPort, State, Closed, CloseType, ${counterCols.join(', ')} FROM flow_log ORDER BY 1, 2, 3, Closed`,
    );
    const want: string[][] = [];
    for (const r of all) {
      const sorted = [...r.records].sort((a, b) => {
        const fa = Number(a.attributes[`${FLOW_ATTR}id`]);
        const fb = Number(b.attributes[`${FLOW_ATTR}id`]);
        return fa - fb || (a.timeUnixNano < b.timeUnixNano ? -1 : a.timeUnixNano > b.timeUnixNano ? 1 : Number(a.attributes[`${FLOW_ATTR}closed`]) - Number(b.attributes[`${FLOW_ATTR}closed`]));
      });
      for (const rec of sorted) {
        const a = rec.attributes;
        want.push([
          r.file,
          String(a[`${FLOW_ATTR}id`]),
          String(rec.timeUnixNano),
          String(a[`${FLOW_ATTR}start_time`]),
          'agent-1',
          String(a['network.transport']),
          String(a['client.address']),
          String(a['client.port']),
          String(a['server.address']),
          String(a['server.port']),
          String(a[`${FLOW_ATTR}state`]),
          a[`${FLOW_ATTR}closed`] === true ? 'true' : 'false',
          a[`${FLOW_ATTR}close_type`] === undefined ? '' : String(a[`${FLOW_ATTR}close_type`]),
          ...FLOW_LOG_COUNTERS.map((k) => (a[k.attribute] === undefined ? '0' : anyValueToString(a[k.attribute]))),
        ]);
      }
    }
    const got = res.rows.map((row) => row.map((v) => String(v)));
    expect(got.length).toBe(want.length);
    // Float columns come back in ClickHouse's shortest form: compare numerically where the column is a time.
    for (let i = 0; i < want.length; i++) {
      for (let j = 0; j < want[i].length; j++) {
        const k = j - 13;
        if (k >= 0 && FLOW_LOG_COUNTERS[k].time) expect([i, j, Number(got[i][j])]).toEqual([i, j, Number(want[i][j])]);
        else expect([i, j, got[i][j]]).toEqual([i, j, want[i][j]]);
      }
    }
    // SQL over the table answers L4 questions: handshake failures by close type, RTT per capture.
    const failures = await store.query("SELECT CloseType, count() FROM flow_log WHERE Closed AND CloseType IN ('client_syn_repeat', 'server_reset', 'server_synack_repeat') GROUP BY CloseType ORDER BY CloseType");
    expect(failures.rows.length).toBeGreaterThan(0);
    const rtt = await store.query("SELECT sum(RttCount), max(RttMax) FROM flow_log WHERE ResourceAttributes['capture.file'] = 'rtt-rtt-2.pcap'");
    const rttRecords = all.find((r) => r.file === 'rtt-rtt-2.pcap')!.records;
    const rttCount = rttRecords.reduce((n, rec) => n + Number(rec.attributes[`${FLOW_ATTR}rtt_count`] ?? 0), 0);
    expect(rttCount).toBeGreaterThan(0);
    expect(rtt.rows[0].map(Number)).toEqual([rttCount, Math.max(...rttRecords.map((rec) => Number(rec.attributes[`${FLOW_ATTR}rtt_max_us`] ?? 0)))]);
    // The README's flow_log example runs and finds the failed handshakes.
    const readme = await store.query("SELECT ClientIp, ClientPort, ServerIp, ServerPort, CloseType, RttClientMax, ArtMax FROM flow_log WHERE Closed AND CloseType != 'fin' ORDER BY Timestamp DESC LIMIT 20");
    expect(readme.rows.length).toBeGreaterThan(5);
    expect(readme.rows.every((r) => r[4] !== 'fin' && r[4] !== '')).toBe(true);
  });

  test('network metrics are one network_metrics row per server, granularity and interval; per-second and per-minute totals agree with the packets', async () => {
    const exp = await start('net_metrics', ['metrics']);
    const store = exp.store() as unknown as TelemetryStore;
    const all = CAPTURES.map(replay);
    let packets = 0;
    let flows = 0;
    for (const r of all) {
      packets += r.packets;
      flows += r.flows;
      await exp.consumers.metrics!.consume(metricsOf(r, [OTHER_METRIC]));
    }
    await idle(exp, 'metrics');
    expect(packets).toBeGreaterThan(100);
    expect(flows).toBeGreaterThanOrEqual(CAPTURES.length);
    for (const g of ['1s', '1m']) {
      const res = await store.query(`SELECT sum(ClientPackets) + sum(ServerPackets), sum(NewFlows), sum(ClosedFlows) FROM network_metrics WHERE Granularity = '${g}'`);
      const [pk, opened, closed] = res.rows[0].map(Number);
      expect([g, pk]).toEqual([g, packets]);
      expect([g, opened, closed]).toEqual([g, flows, flows]);
    }
    // The same sums straight from the metric points.
    let rttCount = 0;
    for (const r of all) for (const m of r.metrics) if (m.name === 'metaflow.network.rtt' && m.data.type === 'histogram') for (const p of m.data.dataPoints) if (p.attributes['metaflow.granularity'] === '1m') rttCount += p.count;
    expect(rttCount).toBeGreaterThan(0);
    expect((await store.query("SELECT sum(RttCount) FROM network_metrics WHERE Granularity = '1m'")).rows[0].map(Number)).toEqual([rttCount]);
    // One row per server endpoint, granularity and interval within a batch (batches: one per capture).
    let keys = 0;
    for (const r of all) {
      const set = new Set<string>();
      for (const m of r.metrics) {
        if (m.data.type !== 'sum' && m.data.type !== 'histogram') continue;
        for (const p of m.data.dataPoints) {
          const a = p.attributes;
          set.add(`${String(a['metaflow.granularity'])}|${String(a['server.address'])}|${String(a['server.port'])}|${String(a['network.transport'])}|${p.startTimeUnixNano}`);
        }
      }
      keys += set.size;
    }
    expect((await store.query('SELECT count() FROM network_metrics')).rows).toEqual([[String(keys)]]);
    // The README's network_metrics example runs and adds up to the same packets.
    const readme = await store.query(
      "SELECT ServerIp, ServerPort, sum(ClientPackets + ServerPackets) AS packets, sum(RttSum) / sum(RttCount) AS avg_rtt_us, sum(ArtSum) / sum(ArtCount) AS avg_art_us, sum(ClientRetrans + ServerRetrans) AS retrans, sum(FailedFlows) AS failed FROM network_metrics WHERE Granularity = '1m' GROUP BY ServerIp, ServerPort ORDER BY packets DESC",
    );
    expect(readme.rows.reduce((n, r) => n + Number(r[2]), 0)).toBe(packets);
    // The application gauge went to the contrib table.
    expect((await store.query("SELECT count() FROM otel_metrics_gauge WHERE MetricName = 'app.requests'")).rows).toEqual([[String(all.length)]]);
    expect((await store.query("SELECT count() FROM otel_metrics_sum WHERE MetricName LIKE 'metaflow.network.%'")).rows).toEqual([['0']]);
  });

  test('a logs batch retried after its flow_log insert failed stores the application logs once and the flow logs once', async () => {
    const exp = await start('net_retry', ['logs'], true);
    const store = exp.store() as unknown as TelemetryStore;
    const realInsert = store.insert.bind(store);
    let failures = 0;
    store.insert = (table, block, abort) => {
      if (table === 'flow_log_encoded' && failures++ < 2) return Promise.reject(new StoreError('STORE_UNAVAILABLE', 'injected failure'));
      return realInsert(table, block, abort);
    };
    const r = replay('http.pcap');
    expect(r.records.length).toBeGreaterThan(0);
    await exp.consumers.logs!.consume(logsOf(r, [OTHER_LOG]));
    await idle(exp, 'logs');
    expect(failures).toBe(3);
    expect((await store.query('SELECT count() FROM flow_log')).rows).toEqual([[String(r.records.length)]]);
    expect((await store.query('SELECT count() FROM otel_logs')).rows).toEqual([['1']]);
  });
  test('SmartEncoding: flow logs tagged on both ends read the same as the plain table; their tags and resource are stored as ids', async () => {
    const smart = await start('net_smart', ['logs']);
    const plain = await start('net_plain', ['logs'], false, false);
    // Both ends' tags as AutoTagging adds them (labels included), one empty value, one key that is not a tag key.
    let i = 0;
    const tagged: LogRecord[] = [];
    const batches = CAPTURES.slice(0, 8).map((file) => {
      const r = replay(file);
      const records = r.records.map((rec) => {
        const t = {
          ...rec,
          attributes: {
            ...rec.attributes,
            'metaflow.client.k8s.pod.name': `web-${i % 3}`,
            'metaflow.client.k8s.pod.label.app': 'web',
            'metaflow.server.k8s.service.name': i % 2 ? 'cart' : 'orders',
            'metaflow.server.process.executable.name': i === 0 ? '' : 'nginx',
            'custom.note': `n${i}`,
          },
        };
        i++;
        return t;
      });
      tagged.push(...records);
      return logsOf({ ...r, records }, [OTHER_LOG]);
    });
    expect(tagged.length).toBeGreaterThan(8);
    for (const e of [smart, plain]) {
      for (const b of batches) await e.consumers.logs!.consume(b);
      await idle(e, 'logs');
    }
    const a = await smart.store()!.query("SELECT * EXCEPT (ResourceId, TagIds) FROM flow_log ORDER BY ResourceAttributes['capture.file'], FlowId, Timestamp, Closed");
    const b = await plain.store()!.query("SELECT * FROM flow_log ORDER BY ResourceAttributes['capture.file'], FlowId, Timestamp, Closed");
    expect(a.columns.map((c) => c.name)).toEqual(b.columns.map((c) => c.name));
    expect(a.rows).toEqual(b.rows);
    expect(a.rows.length).toBe(tagged.length);
    const stored = await smart.store()!.query(
      "SELECT countIf(mapContains(Attributes, 'metaflow.client.k8s.pod.name')), countIf(TagIds['metaflow.server.k8s.service.name'] = sipHash64('cart')), countIf(mapContains(Attributes, 'custom.note')), countIf(mapContains(Attributes, 'metaflow.server.process.executable.name')) FROM net_smart.flow_log_encoded",
    );
    // Tag keys left the string map (but the one empty value); other keys stayed.
    expect(stored.rows[0].map(Number)).toEqual([0, tagged.filter((_, i) => i % 2).length, tagged.length, 1]);
    const cols = await smart.store()!.query("SELECT name FROM system.columns WHERE database = 'net_smart' AND table = 'flow_log_encoded' AND name LIKE '%Resource%'");
    expect(cols.rows).toEqual([['ResourceId']]);
    const rw = smart.store() as unknown as { rewrite(sql: string): string };
    for (const sql of [
      "SELECT ClientIp, count() FROM flow_log WHERE Attributes['metaflow.server.k8s.service.name'] = 'cart' GROUP BY ClientIp ORDER BY ClientIp",
      "SELECT count() FROM flow_log WHERE Attributes['metaflow.client.k8s.pod.name'] IN ('web-0', 'web-2') AND ResourceAttributes['capture.file'] != 'none'",
      "SELECT count() FROM flow_log WHERE Attributes['metaflow.server.process.executable.name'] = '' AND Attributes['metaflow.client.k8s.pod.label.app'] LIKE 'we%'",
    ]) {
      expect(rw.rewrite(sql)).not.toBe(sql);
      const x = await smart.store()!.query(sql);
      const y = await plain.store()!.query(sql);
      expect(x.rows).toEqual(y.rows);
      expect(Number(x.rows[0][x.rows[0].length - 1])).toBeGreaterThan(0);
    }
  });
  test('SmartEncoding converts a plain flow_log on start; its rows read the same', async () => {
    const r = replay(CAPTURES[0]);
    const records = r.records.map((rec, i) => ({ ...rec, attributes: { ...rec.attributes, 'metaflow.server.k8s.pod.name': `db-${i % 2}`, 'metaflow.client.k8s.pod.name': '' } }));
    const before = await start('net_conv', ['logs'], false, false);
    await before.consumers.logs!.consume(logsOf({ ...r, records }));
    await idle(before, 'logs');
    const q = 'SELECT * FROM flow_log ORDER BY FlowId, Timestamp, Closed';
    const want = await before.store()!.query(q);
    expect(want.rows.length).toBe(records.length);
    await before.shutdown();
    const after = await start('net_conv', ['logs']);
    const st = after.store()!;
    expect((await st.query("SELECT name, engine FROM system.tables WHERE database = 'net_conv' AND name LIKE 'flow_log%' ORDER BY name")).rows).toEqual([
      ['flow_log', 'View'],
      ['flow_log_encoded', 'MergeTree'],
    ]);
    const got = await st.query('SELECT * EXCEPT (ResourceId, TagIds) FROM flow_log ORDER BY FlowId, Timestamp, Closed');
    expect(got.rows).toEqual(want.rows);
    const ids = await st.query("SELECT count() FROM flow_log WHERE Attributes['metaflow.server.k8s.pod.name'] = 'db-1'");
    expect(ids.rows).toEqual([[String(records.filter((_, i) => i % 2).length)]]);
  });
});
