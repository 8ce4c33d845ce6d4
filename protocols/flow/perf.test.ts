/**
 * L4 performance rules on hand-made packets: retransmission and
 * out-of-order classification (including sequence wrap-around and the
 * range bound), zero windows, SYN repeats, UDP response times.
 */
import * as C from './counters';
import { _seq, UdpPerf } from './perf';
import { FlowTable } from './table';
import { closedFlows, feed, tcp } from './testkit';

const { Side, SEQ_NEW, SEQ_RETRANS, SEQ_OOO } = _seq;

describe('sequence classification', () => {
  test('new, retransmitted and hole-filling segments', () => {
    const s = new Side();
    expect(s.classify(1000, 100)).toBe(SEQ_NEW);
    expect(s.classify(1100, 100)).toBe(SEQ_NEW);
    expect(s.classify(1000, 100)).toBe(SEQ_RETRANS);
    expect(s.classify(1150, 10)).toBe(SEQ_RETRANS);
    // A hole at [1200, 1300): the segment after it is new, the one that fills it is out of order.
    expect(s.classify(1300, 100)).toBe(SEQ_NEW);
    expect(s.classify(1200, 100)).toBe(SEQ_OOO);
    expect(s.classify(1250, 10)).toBe(SEQ_RETRANS);
    expect(s.nRanges).toBe(1);
  });

  test('sequence numbers wrap around 2^32', () => {
    const s = new Side();
    expect(s.classify(0xffffff00, 0x100)).toBe(SEQ_NEW);
    expect(s.classify(0, 0x100)).toBe(SEQ_NEW);
    expect(s.classify(0xffffff80, 0x10)).toBe(SEQ_RETRANS);
    expect(s.classify(0x80, 0x10)).toBe(SEQ_RETRANS);
    expect(s.nRanges).toBe(1);
  });

  test('at most 16 ranges: the lowest hole is taken as filled', () => {
    const s = new Side();
    for (let i = 0; i < 16; i++) s.classify(i * 1000, 100);
    expect(s.nRanges).toBe(16);
    s.classify(20_000, 100);
    expect(s.nRanges).toBe(16);
    // Bytes of the first hole now count as seen.
    expect(s.classify(500, 10)).toBe(SEQ_RETRANS);
    expect(s.classify(2500, 10)).toBe(SEQ_OOO);
  });
});

describe('TCP performance in a flow', () => {
  const C1 = '10.0.0.1:40000';
  const S1 = '10.0.0.2:80';

  test('retransmissions, out-of-order, zero windows and a repeated SYN are counted by direction', () => {
    const closed = closedFlows();
    const t = new FlowTable({ flowLogIntervalNs: Infinity }, { flowLog: closed.onFlowLog });
    feed(t, [
      tcp(0, C1, S1, 'S', 1000, 0),
      tcp(1000, C1, S1, 'S', 1000, 0),
      tcp(1001, S1, C1, 'SA', 5000, 1001),
      tcp(1002, C1, S1, 'A', 1001, 5001),
      tcp(1003, C1, S1, 'PA', 1001, 5001, 100),
      tcp(1004, C1, S1, 'PA', 1001, 5001, 100),
      tcp(1005, S1, C1, 'A', 5001, 1101, 0, 0),
      tcp(1006, S1, C1, 'A', 5101, 1101, 100),
      tcp(1007, S1, C1, 'PA', 5001, 1101, 100),
    ]);
    t.flush();
    const c = closed.counters[0];
    expect([c[C.RETRANS_TX], c[C.RETRANS_RX], c[C.SYN_RETRANS], c[C.OOO_TX], c[C.OOO_RX], c[C.ZERO_WIN_TX], c[C.ZERO_WIN_RX]]).toEqual([2, 0, 1, 0, 1, 0, 1]);
    // The server-side RTT counts from the first SYN.
    expect(c[C.RTT_SERVER]).toBe(1001e6);
  });

  test('UDP: a response right after a request is one ART sample', () => {
    const c = C.newCounters();
    const u = new UdpPerf();
    u.packet(0, 0, c);
    u.packet(0, 1e6, c);
    u.packet(1, 3e6, c);
    u.packet(1, 4e6, c);
    u.packet(0, 10e6, c);
    u.packet(1, 17e6, c);
    expect([c[C.ART], c[C.ART + 1], c[C.ART + 2]]).toEqual([9e6, 2, 7e6]);
  });
});
