/**
 * The flow table on hand-made packets: direction rules, TCP states and close
 * types, timeouts on capture time, the flow bound, port reuse, interval
 * reports and the server aggregates.
 */
import * as C from './counters';
import { FlowTable, type Flow, type ServerAggregate } from './table';
import { BASE_SEC, closedFlows, connection, feed, tcp, udp } from './testkit';

const CLIENT = '10.0.0.1:40000';
const SERVER = '10.0.0.2:8080';

function table(opts: ConstructorParameters<typeof FlowTable>[0] = {}, extra: ConstructorParameters<typeof FlowTable>[1] = {}) {
  const closed = closedFlows();
  const t = new FlowTable({ flowLogIntervalNs: Infinity, ...opts }, { flowLog: closed.onFlowLog, ...extra });
  return { t, closed };
}

describe('flow table', () => {
  test('a full connection: client and server from the handshake, L4 times, close type fin', () => {
    const { t, closed } = table();
    feed(t, connection(0, CLIENT, SERVER, { rttServer: 1, rttClient: 2, srt: 1, art: 5 }));
    t.flush();
    expect(closed.flows).toHaveLength(1);
    const f = closed.flows[0];
    const c = closed.counters[0];
    expect([f.client_ip, f.client_port, f.server_ip, f.server_port, f.transport]).toEqual(['10.0.0.1', 40000, '10.0.0.2', 8080, 'tcp']);
    expect(f.closeTypeName).toBe('fin');
    expect([c[C.PKT_TX], c[C.PKT_RX]]).toEqual([6, 4]);
    expect([c[C.PAYLOAD_TX], c[C.PAYLOAD_RX]]).toEqual([100, 300]);
    // ns: server side 1 ms, client side 2 ms, the handshake 3 ms, SRT 1 ms, ART 5 ms.
    expect([c[C.RTT_SERVER], c[C.RTT_SERVER + 1]]).toEqual([1e6, 1]);
    expect([c[C.RTT_CLIENT], c[C.RTT_CLIENT + 1]]).toEqual([2e6, 1]);
    expect(c[C.RTT]).toBe(3e6);
    expect([c[C.SRT], c[C.SRT + 1]]).toEqual([1e6, 1]);
    expect([c[C.ART], c[C.ART + 1]]).toEqual([5e6, 1]);
    expect([c[C.FIN], c[C.SYN], c[C.SYNACK], c[C.NEW_FLOWS], c[C.CLOSED_FLOWS], c[C.FAILED_FLOWS]]).toEqual([2, 1, 1, 1, 1, 0]);
  });

  test('the SYN-ACK decides the client even when the capture sees it first', () => {
    const { t, closed } = table();
    feed(t, [tcp(0, SERVER, CLIENT, 'SA', 5000, 1001), tcp(1, CLIENT, SERVER, 'A', 1001, 5001)]);
    t.flush();
    expect([closed.flows[0].client_port, closed.flows[0].server_port]).toEqual([40000, 8080]);
  });

  test('without a handshake: a learned server, then a well-known port, then the lower port is the server', () => {
    const { t, closed } = table();
    // Learn 10.0.0.2:8080 as a server from a handshake, then join another connection mid-stream.
    feed(t, [tcp(0, CLIENT, SERVER, 'S', 1, 0), tcp(1, SERVER, CLIENT, 'SA', 9, 2)]);
    feed(t, [tcp(2, SERVER, '10.0.0.9:50000', 'PA', 100, 200, 10)]);
    feed(t, [udp(3, '10.0.0.3:53', '10.0.0.4:33333')]);
    feed(t, [udp(4, '10.0.0.5:9000', '10.0.0.6:7000')]);
    t.flush();
    const byServer = Object.fromEntries(closed.flows.map((f) => [`${f.server_ip}:${f.server_port}`, `${f.client_ip}:${f.client_port}`]));
    expect(byServer).toEqual({ '10.0.0.2:8080': '10.0.0.9:50000', '10.0.0.3:53': '10.0.0.4:33333', '10.0.0.6:7000': '10.0.0.5:9000' });
  });

  test('with the capture rule the first packet’s destination port is the server port', () => {
    const { t, closed } = table({ direction: 'capture' });
    feed(t, [udp(0, '10.0.0.5:7000', '10.0.0.6:9000'), udp(1, '10.0.0.7:9000', '10.0.0.8:100')]);
    t.flush();
    expect(closed.flows.map((f) => f.server_port)).toEqual([9000, 9000]);
  });

  test.each([
    ['client reset', 'client_rst', 0, [tcp(0, CLIENT, SERVER, 'S', 1, 0), tcp(1, SERVER, CLIENT, 'SA', 9, 2), tcp(2, CLIENT, SERVER, 'A', 2, 10), tcp(3, CLIENT, SERVER, 'R', 2, 0)]],
    ['server reset while established', 'server_rst', 0, [tcp(0, CLIENT, SERVER, 'S', 1, 0), tcp(1, SERVER, CLIENT, 'SA', 9, 2), tcp(2, CLIENT, SERVER, 'A', 2, 10), tcp(3, SERVER, CLIENT, 'RA', 10, 2)]],
    ['refused: the server resets the SYN', 'server_reset', 1, [tcp(0, CLIENT, SERVER, 'S', 1, 0), tcp(1, SERVER, CLIENT, 'RA', 0, 2)]],
    ['an unanswered SYN, retried', 'client_syn_repeat', 1, [tcp(0, CLIENT, SERVER, 'S', 1, 0), tcp(1000, CLIENT, SERVER, 'S', 1, 0)]],
    ['a SYN-ACK never acknowledged', 'server_synack_repeat', 1, [tcp(0, CLIENT, SERVER, 'S', 1, 0), tcp(1, SERVER, CLIENT, 'SA', 9, 2)]],
    ['only the client closed', 'client_half_close', 0, [tcp(0, CLIENT, SERVER, 'S', 1, 0), tcp(1, SERVER, CLIENT, 'SA', 9, 2), tcp(2, CLIENT, SERVER, 'A', 2, 10), tcp(3, CLIENT, SERVER, 'FA', 2, 10)]],
    ['idle while established', 'timeout', 0, [tcp(0, CLIENT, SERVER, 'S', 1, 0), tcp(1, SERVER, CLIENT, 'SA', 9, 2), tcp(2, CLIENT, SERVER, 'A', 2, 10)]],
] as const)('%s: close type %s, connection failure %d', (_name, type, failed, packets) => {
    const { t, closed } = table();
    feed(t, packets);
    t.flush();
    expect(closed.flows.map((f) => f.closeTypeName)).toEqual([type]);
    expect(closed.counters[0][C.FAILED_FLOWS]).toBe(failed);
  });

  test('timeouts run on capture time: an idle flow ends when later packets move the clock', () => {
    const { t, closed } = table({ timeouts: { opening: 5e9, established: 10e9, closing: 35e9, closed: 2e9, datagram: 30e9 } });
    feed(t, [tcp(0, CLIENT, SERVER, 'S', 1, 0), tcp(1, SERVER, CLIENT, 'SA', 9, 2), tcp(2, CLIENT, SERVER, 'A', 2, 10)]);
    feed(t, [udp(9_000, '10.0.0.7:1000', '10.0.0.8:53')]);
    expect(closed.flows).toHaveLength(0);
    feed(t, [udp(11_000, '10.0.0.7:1000', '10.0.0.8:53')]);
    expect(closed.flows.map((f) => f.closeTypeName)).toEqual(['timeout']);
    expect(t.activeFlows).toBe(1);
    // tick() moves the clock without packets (live capture does so every second).
    t.tick(BASE_SEC + 45);
    expect(closed.flows.map((f) => f.transport)).toEqual(['tcp', 'udp']);
    expect(t.activeFlows).toBe(0);
  });

  test('the flow bound evicts the least recently active flow and counts it', () => {
    const { t, closed } = table({ maxFlows: 16 });
    const packets = [];
    for (let i = 0; i < 20; i++) {
      packets.push(udp(i, `10.1.0.${i}:5000`, '10.0.0.8:53'));
      // Flow 0 is active again before the bound bites: flows 1-5 are then the oldest.
      if (i === 10) packets.push(udp(i, '10.1.0.0:5000', '10.0.0.8:53'));
    }
    packets.push(udp(31, '10.2.0.0:5000', '10.0.0.8:53'));
    feed(t, packets);
    expect(t.counters.flowsEvicted).toBe(5);
    expect(t.activeFlows).toBe(16);
    expect(closed.flows.map((f) => [f.client_ip, f.closeTypeName])).toEqual([1, 2, 3, 4, 5].map((i) => [`10.1.0.${i}`, 'evicted']));
  });

  test('a new SYN after FIN on the same 5-tuple ends the old flow and starts a new one', () => {
    const { t, closed } = table();
    feed(t, [...connection(0, CLIENT, SERVER), ...connection(100, CLIENT, SERVER)]);
    t.flush();
    expect(t.counters.portReuses).toBe(1);
    expect(closed.flows.map((f) => [f.id, f.closeTypeName, closed.counters[closed.flows.indexOf(f)][C.PKT_TX]])).toEqual([
      [1, 'fin', 6],
      [2, 'fin', 6],
    ]);
  });

  test('flow logs per interval add up to the flow’s totals, and every report says which interval', () => {
    const logs: Array<[number, number, boolean, number]> = [];
    const t = new FlowTable(
      { flowLogIntervalNs: 10e9 },
      {
        flowLog: (f, s, e, final) => logs.push([Math.round(s / 1e9), Math.round(e / 1e9), final, f.interval[C.PKT_TX]]),
      },
    );
    // One UDP flow: 3 datagrams in [0,10) s, 2 in [10,20), 1 in [20,30).
    feed(t, [0, 1000, 2000, 12_000, 15_000, 21_000].map((ms) => udp(ms, '10.0.0.7:1000', '10.0.0.8:53')));
    t.flush();
    expect(logs).toEqual([
      [0, 10, false, 3],
      [10, 20, false, 2],
      [20, 21, true, 1],
    ]);
  });

  test('server aggregates per second and minute: sums, times and the overflow series', () => {
    const reports: Array<{ g: string; start: bigint; aggs: Array<{ key: string; c: Float64Array }> }> = [];
    const t = new FlowTable(
      { flowLogIntervalNs: Infinity, maxServers: 2 },
      {
        metrics: (g, start, _end, aggs: readonly ServerAggregate[]) =>
          reports.push({ g, start, aggs: aggs.map((a) => ({ key: a.overflow ? 'overflow' : a.key, c: (g === '1s' ? a.second : a.minute).slice() })) }),
      },
    );
    feed(t, [...connection(0, '10.0.0.1:40000', SERVER, { art: 5 }), ...connection(100, '10.0.0.3:40001', SERVER, { art: 9 }), ...connection(1500, '10.0.0.1:40002', '10.0.0.4:80')]);
    feed(t, [udp(2500, '10.0.0.9:1', '10.0.0.10:53')]);
    t.flush();
    const seconds = reports.filter((r) => r.g === '1s');
    expect(seconds.map((r) => Number(r.start / 1_000_000_000n) - BASE_SEC)).toEqual([0, 1, 2]);
    const s0 = seconds[0].aggs.find((a) => a.key === '10.0.0.2|8080|tcp')!.c;
    expect([s0[C.NEW_FLOWS], s0[C.PKT_TX], s0[C.ART], s0[C.ART + 1], s0[C.ART + 2]]).toEqual([2, 12, 14e6, 2, 9e6]);
    // Closed flows linger 2 s (default) before they count as closed.
    expect(seconds[1].aggs.map((a) => a.key).sort()).toEqual(['10.0.0.4|80|tcp']);
    expect(seconds[2].aggs.map((a) => a.key).sort()).toEqual(['10.0.0.2|8080|tcp', '10.0.0.4|80|tcp', 'overflow']);
    const minute = reports.filter((r) => r.g === '1m');
    expect(minute).toHaveLength(1);
    const m = minute[0].aggs.find((a) => a.key === '10.0.0.2|8080|tcp')!.c;
    expect([m[C.NEW_FLOWS], m[C.CLOSED_FLOWS], m[C.PKT_TX], m[C.PKT_RX], m[C.ART + 1]]).toEqual([2, 2, 12, 8, 2]);
    expect(minute[0].aggs.find((a) => a.key === 'overflow')!.c[C.NEW_FLOWS]).toBe(1);
    expect(t.counters.serverOverflow).toBe(1);
  });

  test('ICMP and IPv6 make flows of their own; packets not decoded are counted, not flows', () => {
    const { t, closed } = table();
    feed(t, [udp(0, '[2001:db8::1]:5000', '[2001:db8::2]:53'), udp(1, '[2001:db8::2]:53', '[2001:db8::1]:5000')]);
    t.packet({ status: 3 } as never, { tsSec: BASE_SEC, tsNsFrac: 0, origLen: 0, tsNs: 0n, timeSec: 0 });
    t.flush();
    expect(closed.flows.map((f: Flow) => [f.ipVersion, f.client_ip, f.server_port, closed.counters[0][C.PKT_RX]])).toEqual([[6, '2001:db8::1', 53, 1]]);
    expect(t.counters.ignored).toBe(1);
  });
});
