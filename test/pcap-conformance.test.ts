/**
 * The flow layer against the DeepFlow conformance captures:
 * - every TCP/UDP performance counter DeepFlow's result files print after
 *   the last packet of each flow_generator capture (RTTs, SRT, ART, client
 *   idle time, handshake time, retransmissions, SYN/SYN-ACK counts and
 *   repeats, zero windows, out-of-order, FINs) equals ours for that flow;
 * - the close types DeepFlow's flow-map tests expect of the handshake and
 *   reset captures;
 * - every tunnel capture in common/ yields, as flows, exactly the inner
 *   5-tuples tshark dissects, with the outer tunnel recorded.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as C from '../protocols/flow/counters';
import { FlowTable, type Flow } from '../protocols/flow/table';
import { PacketDecoder } from '../protocols/packet/decode';
import { CaptureReader } from '../protocols/packet/pcap';
import { parseResultFile, type RustStruct } from '../protocols/testing/deepflow-result';
import { tsharkAvailable, tsharkFields } from './helpers/tshark';
import { conformancePath } from '../protocols/testing/conformance';

const ROOT = conformancePath('deepflow');
const FG = path.join(ROOT, 'flow_generator');

interface Result {
  flows: Flow[];
  counters: Float64Array[];
  /** Source address:port of the capture's first packet. */
  firstSrc: string;
}

function run(file: string, opts: ConstructorParameters<typeof FlowTable>[0] = {}): Result {
  const flows: Flow[] = [];
  const counters: Float64Array[] = [];
  const table = new FlowTable({ direction: 'capture', flowLogIntervalNs: Infinity, ...opts }, {
    flowLog(f, _s, _e, final) {
      if (!final) return;
      flows.push(f);
      counters.push(f.interval.slice());
    },
  });
  const reader = CaptureReader.readFile(file);
  const decoder = new PacketDecoder();
  let firstSrc = '';
  for (let p = reader.next(); p; p = reader.next()) {
    const d = decoder.decodePacket(p);
    if (!firstSrc && d.status === 0) firstSrc = `${d.srcIp}:${d.srcPort}`;
    table.packet(d, p);
  }
  table.flush();
  return { flows, counters, firstSrc };
}

/** A Rust Duration's Debug text (`9.1ms`, `477µs`, `0ns`, `1.5s`) in ns. */
function durationNs(v: unknown): number {
  const m = /^([\d.]+)(ns|µs|us|ms|s)$/.exec(String(v));
  if (!m) throw new Error(`not a duration: ${String(v)}`);
  return Math.round(Number(m[1]) * { ns: 1, µs: 1e3, us: 1e3, ms: 1e6, s: 1e9 }[m[2] as 'ns']);
}

/** The last PerfData printed for each capture of a TCP result file. */
function lastTcpPerf(resultFile: string): Map<string, RustStruct> {
  const text = fs.readFileSync(path.join(FG, resultFile), 'utf8');
  const parts = text.split(/^\d+th perf data from "([^"]+)":\n/m);
  const out = new Map<string, RustStruct>();
  for (let i = 1; i < parts.length; i += 2) out.set(path.basename(parts[i]), parseResultFile(parts[i + 1])[0]);
  return out;
}

const TCP_CASES: Array<[string, string]> = [];
for (const result of ['art.result', 'rtt-syn.result', 'rtt-full.result', 'client_request_timewait_and_syn_synack_count.result']) {
  for (const pcap of lastTcpPerf(result).keys()) TCP_CASES.push([pcap, result]);
}

describe('L4 performance agrees with DeepFlow’s result files', () => {
  test('the result files name the captures this test expects', () => {
    expect(TCP_CASES.map(([p]) => p).sort()).toEqual(
      [
        'art-continues-payload-len-larger-than-1.pcap',
        'client-keep-alive.pcap',
        'client_request_timewait_and_syn_synack_count.pcap',
        'out-of-order.pcap',
        'rtt-200ms-window-update.pcap',
        'rtt-rtt-2.pcap',
        'rtt-syn-2-ack.pcap',
        'syn-ack-ack-retrans-and-client-payload.pcap',
        'syn-retrans.pcap',
        'syn-syn-ack-retrans-2.pcap',
        'syn-syn-ack-retrans.pcap',
      ].sort(),
    );
  });

  test.each(TCP_CASES)('%s (%s)', (pcap, result) => {
    const df = lastTcpPerf(result).get(pcap) as RustStruct;
    const { flows, counters, firstSrc } = run(path.join(FG, pcap));
    expect(flows).toHaveLength(1);
    const f = flows[0];
    const c = counters[0];
    // DeepFlow indexes sides by the capture's first packet (0 = its sender); ours are client/server.
    const firstIsClient = firstSrc === `${f.client_ip}:${f.client_port}`;
    const side = (i: 0 | 1) => (i === 0) === firstIsClient ? 0 : 1;
    const time = (slot: number) => ({ count: c[slot + 1], sum: c[slot], max: c[slot + 2] });
    const dfTime = (k: string) => {
      const t = df[k] as RustStruct;
      return { count: t.count as number, sum: durationNs(t.sum), max: durationNs(t.max) };
    };
    const rttAt = (i: 0 | 1) => (side(i) === 0 ? C.RTT_CLIENT : C.RTT_SERVER);
    // DeepFlow reports the server side's SRT and ART (computed on packets the server sent).
    const serverSide = firstIsClient ? 1 : 0;
    const ours = {
      rtt_0: time(rttAt(0)),
      rtt_1: time(rttAt(1)),
      srt: time(C.SRT),
      art: time(C.ART),
      cit: time(C.CIT),
      rtt_full: c[C.RTT],
      retrans: [c[C.RETRANS_TX + side(0)], c[C.RETRANS_TX + side(1)]],
      zero_win: [c[C.ZERO_WIN_TX + side(0)], c[C.ZERO_WIN_TX + side(1)]],
      ooo: [c[C.OOO_TX + side(0)], c[C.OOO_TX + side(1)]],
      syn: [c[C.SYN], c[C.SYNACK], c[C.SYN_RETRANS], c[C.SYNACK_RETRANS]],
      fin: c[C.FIN],
    };
    const theirs = {
      rtt_0: dfTime('rtt_0'),
      rtt_1: dfTime('rtt_1'),
      srt: dfTime(`srt_${serverSide}`),
      art: dfTime(`art_${serverSide}`),
      cit: dfTime('cit'),
      rtt_full: durationNs(df.rtt_full),
      retrans: [df.retrans_0, df.retrans_1],
      zero_win: [df.zero_win_count_0, df.zero_win_count_1],
      ooo: [df.ooo_0, df.ooo_1],
      syn: [df.syn, df.synack, df.retrans_syn, df.retrans_synack],
      fin: df.fin_count,
    };
    expect(ours).toEqual(theirs);
    // Sanity: the values are real, not both zero everywhere.
    expect(c[C.PKT_TX] + c[C.PKT_RX]).toBeGreaterThan(1);
  });

  test.each([
    ['udp_normal.pcap', 'udp_normal.result'],
    ['udp_continuous_packet.pcap', 'udp_continuous_packet.result'],
    ['udp_1_packet.pcap', 'udp_1_packet.result'],
  ])('UDP %s (%s): application response time', (pcap, result) => {
    const records = parseResultFile(fs.readFileSync(path.join(FG, result), 'utf8'));
    const last = records[records.length - 1];
    const { counters } = run(path.join(FG, pcap));
    expect(counters).toHaveLength(1);
    const c = counters[0];
    expect({ count: c[C.ART + 1], sum: c[C.ART], max: c[C.ART + 2] }).toEqual({ count: last.art_count, sum: durationNs(last.art_sum), max: durationNs(last.art_max) });
  });

  test('udp_report.result: the reported ART of udp_normal.pcap (µs)', () => {
    const report = fs.readFileSync(path.join(FG, 'udp_report.result'), 'utf8');
    const max = Number(/ARTMax:(\d+)/.exec(report)?.[1]);
    const { counters } = run(path.join(FG, 'udp_normal.pcap'));
    expect(Math.round(counters[0][C.ART + 2] / 1000)).toBe(max);
  });

  test('report.result: the flow-end report of the ART capture (µs)', () => {
    const report = fs.readFileSync(path.join(FG, 'report.result'), 'utf8');
    const first = report.slice(0, report.indexOf('}\n') + 1);
    const n = (k: string) => Number(new RegExp(`${k}: (\\d+)`).exec(first)?.[1]);
    const { counters } = run(path.join(FG, 'art-continues-payload-len-larger-than-1.pcap'));
    const c = counters[0];
    const us = (slot: number) => Math.round(c[slot] / 1000);
    expect([us(C.RTT_CLIENT + 2), us(C.RTT_SERVER + 2), us(C.SRT + 2), us(C.ART + 2), us(C.CIT + 2), us(C.RTT), c[C.SRT + 1], c[C.ART + 1], c[C.FIN]]).toEqual([
      n('rtt_client_max'),
      n('rtt_server_max'),
      n('srt_max'),
      n('art_max'),
      n('cit_max'),
      n('rtt'),
      n('srt_count'),
      n('art_count'),
      n('fin_count'),
    ]);
  });
});

describe('close types agree with DeepFlow’s flow-map tests', () => {
  test.each([
    ['tcp-one-syn.pcap', 'client_syn_repeat', 1],
    ['tcp-n-syn-ack.pcap', 'server_synack_repeat', 1],
    ['syn-1.pcap', 'client_port_reuse', 1],
    ['l4-source-port-reuse.pcap', 'client_port_reuse', 1],
    ['server-reset.pcap', 'server_reset', 1],
    ['server-queue-lack.pcap', 'server_queue_lack', 1],
    // DeepFlow: TcpFinClientRst for a client that resets a handshake the server answered.
    ['client-syn-try-lack.pcap', 'fin_client_rst', 1],
    ['server-no-response.pcap', 'client_establish_reset', 1],
    ['client-no-response.pcap', 'server_establish_reset', 1],
    ['art-continues-payload-len-larger-than-1.pcap', 'fin', 0],
  ])('%s: %s', (pcap, type, failed) => {
    const { flows, counters } = run(path.join(FG, pcap));
    expect(flows.map((f) => f.closeTypeName)).toEqual([type]);
    expect(counters[0][C.FAILED_FLOWS]).toBe(failed);
  });
});

/** The innermost transport tuple of every frame, as tshark dissects it. */
async function innerTuples(file: string, decodeAs: string[]): Promise<Set<string>> {
  const rows = await tsharkFields(file, ['frame.protocols', 'ip.src', 'ip.dst', 'ipv6.src', 'ipv6.dst', 'tcp.srcport', 'tcp.dstport', 'udp.srcport', 'udp.dstport'], { decodeAs });
  const out = new Set<string>();
  for (const r of rows) {
    const layers = r['frame.protocols'][0].split(':');
    const lastIp = Math.max(layers.lastIndexOf('ip'), layers.lastIndexOf('ipv6'));
    if (lastIp < 0) continue;
    const v6 = layers[lastIp] === 'ipv6';
    const after = layers.slice(lastIp + 1);
    // The tunnel carries something other than IP (CDP, ARP): no inner flow.
    if (after.some((l) => ['gre', 'erspan', 'vxlan', 'geneve', 'nsh'].includes(l))) continue;
    const proto = after.includes('tcp') ? 'tcp' : after[0] === 'udp' ? 'udp' : after[0] === 'icmp' ? 'icmp' : after[0] === 'icmpv6' ? 'ipv6-icmp' : after[0];
    const src = (v6 ? r['ipv6.src'] : r['ip.src']).at(-1) as string;
    const dst = (v6 ? r['ipv6.dst'] : r['ip.dst']).at(-1) as string;
    const ports = proto === 'tcp' ? [r['tcp.srcport'].at(-1), r['tcp.dstport'].at(-1)] : proto === 'udp' ? [r['udp.srcport'].at(-1), r['udp.dstport'].at(-1)] : ['0', '0'];
    out.add(`${proto} ${[`${src}:${ports[0]}`, `${dst}:${ports[1]}`].sort().join(' ')}`);
  }
  return out;
}

const TUNNELS: Array<[string, string[], string[]]> = [
  ['decapsulate_erspan1.pcap', ['erspan'], []],
  ['decapsulate_test.pcap', ['erspan', 'vxlan'], []],
  // DeepFlow's convention (broadcast MAC, equal ports); tshark needs telling.
  ['ff-vxlan.pcap', ['vxlan'], ['udp.port==58678,vxlan']],
  ['geneve.pcap', ['geneve'], []],
  ['ip6-vxlan.pcap', ['vxlan'], []],
  ['ipip.pcap', ['ipip'], []],
  ['vmware-gre-teb.pcap', ['gre-teb'], []],
  ['vxlan-nsh.pcap', ['vxlan-gpe'], []],
];

describe('every tunnel capture decapsulates to its inner flows', () => {
  const haveTshark = tsharkAvailable();

  test('the list covers every capture in common/', () => {
    expect(TUNNELS.map(([f]) => f).sort()).toEqual(fs.readdirSync(path.join(ROOT, 'common')).filter((f) => f.endsWith('.pcap')).sort());
  });

  (haveTshark ? test.each(TUNNELS) : test.skip.each(TUNNELS))('%s → flows of the inner tuples, tunnel %j', async (file, tunnels, decodeAs) => {
    const full = path.join(ROOT, 'common', file);
    const expected = await innerTuples(full, decodeAs);
    const { flows } = run(full, { direction: 'ports' });
    const got = new Set(flows.map((f) => `${f.transport} ${[`${f.client_ip}:${f.client_port}`, `${f.server_ip}:${f.server_port}`].sort().join(' ')}`));
    expect(got).toEqual(expected);
    expect(expected.size).toBeGreaterThan(0);
    expect([...new Set(flows.map((f) => f.tunnelName))].sort()).toEqual([...tunnels].sort());
  });
});
