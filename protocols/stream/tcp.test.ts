/**
 * TCP reassembly: hand-made segment sequences for each rule (order,
 * retransmission, overlap, wraparound, holes and their bounds, SYN/FIN/RST,
 * snap length), and the flow_generator captures against tshark's own
 * reassembly (`-z follow,tcp,raw`).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { tsharkAvailable } from '../../test/helpers/tshark';
import { DecodeStatus, PacketDecoder } from '../packet/decode';
import { CaptureReader } from '../packet/pcap';
import { replayPcapDetailed } from '../testing/replay';
import type { Dir } from '../types';
import { ReassemblyPool, TcpReassembler } from './tcp';
import type { ReassemblyLimits } from './tcp';
import { conformancePath } from '../testing/conformance';

const FLOWS = conformancePath('deepflow/flow_generator');
const enc = new TextEncoder();
const dec = new TextDecoder();

const F = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 };

/** Records every delivery; `text(dir)` renders the stream with `|` before gap chunks. */
class Recorder {
  chunks: Array<{ dir: Dir; text: string; time: bigint; gap: boolean; data: Uint8Array }> = [];
  readonly sink = (dir: Dir, data: Uint8Array, time: bigint, gap: boolean): void => {
    this.chunks.push({ dir, text: dec.decode(data), time, gap, data });
  };
  text(dir: Dir): string {
    return this.chunks
      .filter((c) => c.dir === dir)
      .map((c) => (c.gap ? '|' : '') + c.text)
      .join('');
  }
}

function setup(limits: Partial<ReassemblyLimits> = {}, overall?: number): { r: TcpReassembler; rec: Recorder; pool: ReassemblyPool } {
  const pool = new ReassemblyPool(overall, limits);
  const rec = new Recorder();
  return { r: new TcpReassembler(rec.sink, pool), rec, pool };
}

/** Client handshake at ISN `isn` (data starts at isn+1), server at 5000. */
function handshake(r: TcpReassembler, isn = 999): void {
  r.segment(0, isn, 0, F.SYN, new Uint8Array(0), 1n);
  r.segment(1, 4999, isn + 1, F.SYN | F.ACK, new Uint8Array(0), 2n);
  r.segment(0, isn + 1, 5000, F.ACK, new Uint8Array(0), 3n);
}

const seg = (r: TcpReassembler, dir: Dir, seq: number, text: string, t = 10n, flags = F.ACK | F.PSH, ack = 0) =>
  r.segment(dir, seq >>> 0, ack, dir === 0 && ack === 0 ? flags & ~F.ACK : flags, enc.encode(text), t);

describe('TcpReassembler with hand-made segments', () => {
  it('delivers in-order data as views of the segment, without copying', () => {
    const { r, rec, pool } = setup();
    handshake(r);
    const payload = enc.encode('hello');
    r.segment(0, 1000, 5000, F.ACK | F.PSH, payload, 10n);
    expect(rec.chunks).toHaveLength(1);
    expect(rec.chunks[0].data.buffer).toBe(payload.buffer);
    expect(rec.chunks[0]).toMatchObject({ dir: 0, text: 'hello', gap: false, time: 10n });
    expect(pool.counters.bytesDelivered).toBe(5);
  });

  it('buffers out-of-order segments until the hole fills, then delivers in order', () => {
    const { r, rec, pool } = setup();
    handshake(r);
    seg(r, 0, 1010, 'KLMNO', 10n);
    seg(r, 0, 1005, 'FGHIJ', 11n);
    expect(rec.chunks).toHaveLength(0);
    expect(pool.bufferedBytes).toBe(10);
    seg(r, 0, 1000, 'ABCDE', 12n);
    expect(rec.text(0)).toBe('ABCDEFGHIJKLMNO');
    // Buffered chunks keep the time they arrived.
    expect(rec.chunks.map((c) => c.time)).toEqual([12n, 11n, 10n]);
    expect(pool.counters.outOfOrderSegments).toBe(2);
    expect(pool.bufferedBytes).toBe(0);
    expect(r.bufferedBytes).toBe(0);
  });

  it('drops retransmissions and trims overlaps: the first bytes seen win', () => {
    const { r, rec, pool } = setup();
    handshake(r);
    seg(r, 0, 1000, 'abcdef');
    seg(r, 0, 1000, 'abcdef'); // full retransmission
    seg(r, 0, 1003, 'XYZghi'); // overlaps "def"
    expect(rec.text(0)).toBe('abcdefghi');
    expect(pool.counters.retransmittedSegments).toBe(1);
    expect(pool.counters.overlapBytes).toBe(3);
    // Out of order overlaps: buffered "klmno" at 10 wins over a later "KLMNO" in "ijKLMNOp".
    seg(r, 0, 1010, 'klmno');
    seg(r, 0, 1008, 'ijKLMNOp');
    seg(r, 0, 1009, 'Jk'); // entirely delivered or buffered already: nothing new
    expect(rec.text(0)).toBe('abcdefghijklmnop');
  });

  it('copies what it buffers, even out of a Buffer the caller overwrites (Buffer#slice is a view)', () => {
    const { r, rec } = setup();
    handshake(r);
    const ring = Buffer.alloc(16);
    ring.write('later');
    r.segment(0, 1005, 5000, F.ACK, ring.subarray(0, 5), 10n);
    ring.fill(0x21);
    ring.write('first');
    r.segment(0, 1000, 5000, F.ACK, ring.subarray(0, 5), 11n);
    expect(rec.text(0)).toBe('firstlater');
  });

  it('keeps order across sequence number wraparound', () => {
    const { r, rec } = setup();
    const isn = 0xfffffff9; // data starts at 0xfffffffa: 6 bytes before 2^32
    handshake(r, isn);
    seg(r, 0, 0x00000002, 'IJKL', 10n); // after the wrap, out of order
    seg(r, 0, 0xfffffffa, 'ABCDEFGH', 11n); // 0xfffffffa..0x00000001
    seg(r, 0, 0xfffffffe, 'EFGH', 12n); // retransmission straddling the wrap
    expect(rec.text(0)).toBe('ABCDEFGHIJKL');
    expect(r.nextSeq(0)).toBe(0x00000006);
  });

  it('marks a hole that is never filled as a gap when the connection closes', () => {
    const { r, rec, pool } = setup();
    handshake(r);
    seg(r, 0, 1000, 'abc');
    seg(r, 0, 1006, 'ghi');
    expect(rec.text(0)).toBe('abc');
    r.close();
    expect(rec.text(0)).toBe('abc|ghi');
    expect(pool.counters.gaps).toBe(1);
    expect(pool.counters.gapBytes).toBe(3);
    // close() is safe to repeat.
    r.close();
    expect(rec.chunks).toHaveLength(2);
  });

  it('gives up a hole when the per-direction byte bound would be exceeded (counted)', () => {
    const { r, rec, pool } = setup({ maxBufferedBytes: 8 });
    handshake(r);
    seg(r, 0, 1000, 'ab');
    seg(r, 0, 1004, 'efgh'); // 4 buffered
    seg(r, 0, 1008, 'ijkl'); // 8 buffered: at the bound, still fits
    expect(rec.text(0)).toBe('ab');
    seg(r, 0, 1012, 'mnop'); // would be 12: give up the hole "cd"
    expect(rec.text(0)).toBe('ab|efghijklmnop');
    expect(pool.counters.limitPerDirection).toBe(1);
    expect(pool.counters.gapBytes).toBe(2);
    // A late retransmission of the given-up bytes changes nothing.
    seg(r, 0, 1002, 'cd');
    expect(rec.text(0)).toBe('ab|efghijklmnop');
    expect(pool.counters.retransmittedSegments).toBe(1);
  });

  it('gives up a hole when the per-direction segment bound would be exceeded', () => {
    const { r, rec, pool } = setup({ maxBufferedSegments: 2 });
    handshake(r);
    seg(r, 0, 1002, 'c');
    seg(r, 0, 1004, 'e');
    seg(r, 0, 1006, 'g');
    expect(rec.text(0)).toBe('|c|e|g');
    expect(pool.counters.limitPerDirection).toBe(1);
    expect(pool.counters.gaps).toBe(3);
  });

  it('shares an overall bound between connections', () => {
    const pool = new ReassemblyPool(10);
    const a = new Recorder();
    const b = new Recorder();
    const ra = new TcpReassembler(a.sink, pool);
    const rb = new TcpReassembler(b.sink, pool);
    handshake(ra);
    handshake(rb);
    seg(ra, 0, 1005, 'AAAAAA'); // 6 of 10
    seg(rb, 0, 1005, 'BBBB'); // 10 of 10
    expect(pool.bufferedBytes).toBe(10);
    seg(rb, 0, 1009, 'C'); // 11 > 10: rb gives up its own hole
    expect(b.text(0)).toBe('|BBBBC');
    expect(a.text(0)).toBe('');
    expect(pool.counters.limitOverall).toBe(1);
    expect(pool.bufferedBytes).toBe(6);
  });

  it('gives up a hole after the hole timeout (capture time), on the next segment or expire()', () => {
    const { r, rec, pool } = setup({ holeTimeoutNs: 1000n });
    handshake(r);
    seg(r, 0, 1002, 'cd', 100n);
    seg(r, 1, 5000, 'x', 600n);
    expect(rec.text(0)).toBe('');
    seg(r, 0, 1004, 'ef', 1101n); // 1001 ns after "cd" came
    expect(rec.text(0)).toBe('|cdef');
    expect(pool.counters.holeTimeouts).toBe(1);
    seg(r, 0, 1010, 'kl', 2000n);
    r.expire(2500n);
    expect(rec.text(0)).toBe('|cdef');
    r.expire(3001n);
    expect(rec.text(0)).toBe('|cdef|kl');
  });

  it('gives up a hole at once when the peer acknowledged past it (the capture missed it)', () => {
    const { r, rec, pool } = setup();
    handshake(r);
    seg(r, 0, 1000, 'ab');
    seg(r, 0, 1004, 'ef');
    expect(rec.text(0)).toBe('ab');
    // The server acks up to 1006: it got "cd", which no retransmission will bring.
    r.segment(1, 5000, 1006, F.ACK, new Uint8Array(0), 20n);
    expect(rec.text(0)).toBe('ab|ef');
    expect(pool.counters.ackedHoles).toBe(1);
    // Without acks covering the hole, it waits.
    const s2 = setup({ skipAckedHoles: false });
    handshake(s2.r);
    seg(s2.r, 0, 1004, 'ef');
    s2.r.segment(1, 5000, 1006, F.ACK, new Uint8Array(0), 20n);
    expect(s2.rec.text(0)).toBe('');
  });

  it('SYN sets the start (with TFO data), FIN ends a direction, RST flushes both', () => {
    const { r, rec } = setup();
    r.segment(0, 999, 0, F.SYN, enc.encode('fast'), 1n); // TCP Fast Open data after the SYN's own number
    r.segment(1, 4999, 1004, F.SYN | F.ACK, new Uint8Array(0), 2n);
    r.segment(0, 999, 0, F.SYN, enc.encode('fast'), 3n); // SYN retransmission
    expect(rec.text(0)).toBe('fast');
    seg(r, 1, 5000, 'resp', 4n, F.ACK | F.PSH | F.FIN, 1004);
    expect(r.finSeen(1)).toBe(true);
    expect(r.finished(1)).toBe(true);
    expect(r.finished(0)).toBe(false);
    seg(r, 0, 1010, 'late', 5n); // after a hole of 6
    expect(rec.text(0)).toBe('fast');
    r.segment(0, 1014, 0, F.RST, new Uint8Array(0), 6n);
    expect(r.reset).toBe(true);
    expect(rec.text(0)).toBe('fast|late');
    expect(rec.text(1)).toBe('resp');
  });

  it('a snap-length-cut segment delivers what was captured; the rest is a gap', () => {
    const { r, rec, pool } = setup();
    handshake(r);
    r.segment(0, 1000, 5000, F.ACK, enc.encode('abcd'), 10n, 10); // 10 on the wire, 4 captured
    seg(r, 0, 1010, 'klm', 11n, F.ACK, 5000);
    expect(rec.text(0)).toBe('abcd|klm');
    expect(pool.counters.snapTruncatedBytes).toBe(6);
    // Out of order, cut as well.
    r.segment(0, 1018, 5000, F.ACK, enc.encode('st'), 12n, 4);
    seg(r, 0, 1013, 'nopqr', 13n, F.ACK, 5000);
    expect(rec.text(0)).toBe('abcd|klmnopqrst');
    seg(r, 0, 1022, 'wx', 14n, F.ACK, 5000);
    expect(rec.text(0)).toBe('abcd|klmnopqrst|wx');
  });

  it('joins mid-stream at the first unacknowledged data, not at keep-alives; that chunk is no gap', () => {
    const { r, rec, pool } = setup();
    // A keep-alive (seq = next - 1, no data) and its ack come first.
    r.segment(0, 1999, 7000, F.ACK, new Uint8Array(0), 1n);
    r.segment(1, 7000, 2000, F.ACK, new Uint8Array(0), 2n);
    // A Windows-style keep-alive with one garbage byte, already acknowledged.
    r.segment(0, 1999, 7000, F.ACK, enc.encode('\0'), 3n);
    seg(r, 0, 2000, 'GET /', 4n, F.ACK | F.PSH, 7000);
    expect(rec.chunks.map((c) => [c.text, c.gap])).toEqual([['GET /', false]]);
    expect(pool.counters.gaps).toBe(0);
    expect(pool.counters.retransmittedSegments).toBe(1);
  });

  it('ignores segments absurdly far ahead (garbage), counting them', () => {
    const { r, rec, pool } = setup();
    handshake(r);
    seg(r, 0, 1000 + 0x50000000, 'zz');
    seg(r, 0, 1000, 'ok');
    r.close();
    expect(rec.text(0)).toBe('ok');
    expect(pool.counters.outOfWindow).toBe(1);
  });
});

/**
 * Decodes a capture and reassembles each TCP connection (4-tuple) straight
 * through TcpReassembler, recording each endpoint's bytes in hex with
 * `<gap>` before every gap chunk.
 */
function reassembleCapture(file: string): { streams: Array<Record<string, string>>; pool: ReassemblyPool } {
  const pool = new ReassemblyPool();
  const reader = CaptureReader.readFile(file);
  const decoder = new PacketDecoder();
  const conns = new Map<string, { r: TcpReassembler; ends: [string, string]; hex: [string[], string[]] }>();
  for (let p = reader.next(); p; p = reader.next()) {
    const d = decoder.decode(p.data, p.linkType, p.tsNs);
    if (d.status !== DecodeStatus.OK || d.protocol !== 6) continue;
    const src = `${d.srcIp}:${d.srcPort}`;
    const dst = `${d.dstIp}:${d.dstPort}`;
    const key = src < dst ? `${src}|${dst}` : `${dst}|${src}`;
    let c = conns.get(key);
    if (!c) {
      const hex: [string[], string[]] = [[], []];
      const r = new TcpReassembler((dir, data, _t, gap) => {
        if (gap) hex[dir].push('<gap>');
        hex[dir].push(Buffer.from(data).toString('hex'));
      }, pool);
      c = { r, ends: [src, dst], hex };
      conns.set(key, c);
    }
    c.r.segment(src === c.ends[0] ? 0 : 1, d.seq, d.ack, d.tcpFlags, d.payload(), p.tsNs, d.payloadWireLength);
  }
  const streams: Array<Record<string, string>> = [];
  for (const c of conns.values()) {
    c.r.close();
    streams.push({ [c.ends[0]]: c.hex[0].join(''), [c.ends[1]]: c.hex[1].join('') });
  }
  return { streams, pool };
}

/** tshark's reassembled streams: endpoint "ip:port" of each node → its bytes in hex with `<gap>` marks. */
function tsharkStreams(file: string): Array<Record<string, string>> {
  const count = Number(
    execFileSync('sh', ['-c', `tshark -r '${file}' -T fields -e tcp.stream 2>/dev/null | sort -n | tail -1`])
      .toString()
      .trim() || -1,
  );
  if (count < 0) return [];
  const args = ['-r', file, '-q'];
  for (let i = 0; i <= count; i++) args.push('-z', `follow,tcp,raw,${i}`);
  const out = execFileSync('tshark', args, { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 1024 * 1024 }).toString();
  const streams: Array<Record<string, string>> = [];
  for (const block of out.split('Follow: tcp,raw').slice(1)) {
    // tshark writes IPv6 endpoints as [addr]:port.
    const n0 = (/Node 0: (\S+)/.exec(block)?.[1] ?? '').replace(/^\[(.*)\]/, '$1');
    const n1 = (/Node 1: (\S+)/.exec(block)?.[1] ?? '').replace(/^\[(.*)\]/, '$1');
    const parts: Record<string, string[]> = { [n0]: [], [n1]: [] };
    for (const line of block.split('\n')) {
      if (!/^\t?[0-9a-f]+$/.test(line)) continue;
      const node = line.startsWith('\t') ? n1 : n0;
      let h = line.trim();
      const text = Buffer.from(h, 'hex').toString('latin1');
      if (/^\[\d+ bytes missing in capture file\]\0?$/.test(text)) h = '<gap>';
      parts[node].push(h);
    }
    const rec: Record<string, string> = {};
    for (const [k, v] of Object.entries(parts)) {
      // A leading mark means "joined mid-stream": not a gap in our contract.
      while (v[0] === '<gap>') v.shift();
      rec[k] = v.join('');
    }
    streams.push(rec);
  }
  return streams;
}

/**
 * Captures with TCP payload whose reassembly is worth comparing (tshark costs
 * about a second per file, so not all ~100): every top-level flow case with
 * data, and protocol captures with holes, retransmissions or many segments.
 */
const COMPARED = [
  'art-continues-payload-len-larger-than-1.pcap',
  'client-keep-alive.pcap',
  'client_request_timewait_and_syn_synack_count.pcap',
  'http.pcap',
  'l4-source-port-reuse.pcap',
  'rtt-rtt-2.pcap',
  'server-queue-lack.pcap',
  'syn-ack-ack-retrans-and-client-payload.pcap',
  'tcp-segment.pcap',
  'amqp/amqp-error.pcap',
  'http/grpc-server-stream.pcap',
  'mqtt/mqtt_roundtrip.pcap',
  'mysql/mysql-statement.pcap',
  'mysql/171-mysql.pcap',
  'openwire/openwire_segmented.pcap',
  'rocketmq/rocketmq-pull-message.pcap',
  'rocketmq/rocketmq-producer-skywalking.pcap',
];

/** Our stream equals tshark's, except that tshark never flushes holes at the end of the file: ours may go on after a gap. */
function sameStream(ours: string, theirs: string): boolean {
  const o = ours.replace(/^(<gap>)+/, '');
  return o === theirs || (o.startsWith(theirs) && o.slice(theirs.length).startsWith('<gap>'));
}

describe('reassembly of the flow_generator captures agrees with tshark’s', () => {
  const haveTshark = tsharkAvailable();

  it.each(COMPARED)('%s', (name) => {
    if (!haveTshark) return;
    const file = path.join(FLOWS, name);
    const theirs = tsharkStreams(file).filter((t) => Object.values(t).some((v) => v.length > 0));
    const ours = reassembleCapture(file).streams;
    expect(theirs.length).toBeGreaterThan(0);
    for (const t of theirs) {
      const keys = Object.keys(t);
      const match = ours.find((o) => keys.every((k) => k in o && sameStream(o[k], t[k])));
      const candidates = ours.filter((o) => keys.every((k) => k in o));
      expect({ name, stream: t, match: match ? 'same' : candidates }).toEqual({ name, stream: t, match: 'same' });
    }
  });

  it('out-of-order.pcap: SYN-ACK captured before SYN still makes one connection without holes', () => {
    const r = replayPcapDetailed(path.join(FLOWS, 'out-of-order.pcap'), []);
    expect(r.connections).toBe(1);
    expect(r.reassembly.gaps).toBe(0);
    expect(r.reassembly.outOfOrderSegments).toBe(0);
  });

  it('tcp-segment.pcap: three back-to-back 1448-byte segments make 4344 contiguous bytes', () => {
    const { streams, pool } = reassembleCapture(path.join(FLOWS, 'tcp-segment.pcap'));
    expect(streams).toHaveLength(1);
    expect(streams[0]['10.1.23.21:45878'].length).toBe(4344 * 2);
    expect(pool.counters).toMatchObject({ bytesDelivered: 4344, gaps: 0, retransmittedSegments: 0, outOfOrderSegments: 0 });
  });

  it('handshake-retrans.pcap and syn-*.pcap: retransmitted SYNs deliver nothing and break nothing', () => {
    for (const f of ['handshake-retrans.pcap', 'syn-1.pcap', 'syn-retrans.pcap', 'syn-syn-ack-retrans.pcap', 'syn-syn-ack-retrans-2.pcap']) {
      const { streams, pool } = reassembleCapture(path.join(FLOWS, f));
      expect({ f, connections: streams.length, gaps: pool.counters.gaps }).toEqual({ f, connections: 1, gaps: 0 });
    }
    const { streams } = reassembleCapture(path.join(FLOWS, 'syn-1.pcap'));
    // The server's 31-byte TLS alert is delivered; the client sent nothing.
    expect(streams[0]).toEqual({ '10.30.172.101:44468': '', '10.30.10.173:443': expect.stringMatching(/^[0-9a-f]{62}$/) });
  });

  it('syn-ack-ack-retrans-and-client-payload.pcap: the 87-byte request retransmitted 5 times is delivered once', () => {
    const { streams, pool } = reassembleCapture(path.join(FLOWS, 'syn-ack-ack-retrans-and-client-payload.pcap'));
    expect(pool.counters.retransmittedSegments).toBe(5);
    expect(streams[0]['10.230.203.42:46096'].length).toBe(87 * 2);
    expect(streams[0]['133.96.171.81:1533'].length).toBe(72 * 2);
  });
});
