/**
 * TCP reassembly: turns the segments of one connection into an in-order byte
 * stream per direction.
 *
 * Contract:
 * - {@link TcpReassembler.segment} (or, in a hot loop,
 *   {@link TcpReassembler.segmentPacket} with the decoder's result) takes
 *   every TCP segment of the connection (payload as captured, its length on
 *   the wire, flags, seq/ack) in capture order and calls the sink with
 *   in-order chunks of each direction. A chunk delivered straight from the
 *   segment is a view of the caller's buffer: the sink must copy what it
 *   keeps. Out-of-order data is copied. A segment without payload allocates
 *   nothing; one with payload allocates its view and (when delivered or
 *   buffered) its bigint time, which the sink contract needs.
 * - Retransmissions and overlaps are de-duplicated: the first bytes seen for
 *   a sequence range win; later copies are trimmed away (counted).
 * - Sequence numbers wrap: positions are kept as 53-bit stream offsets, and a
 *   segment's place is its signed 32-bit distance from the next expected
 *   sequence number.
 * - A direction starts at the SYN (data after seq+1) or, when the handshake
 *   was not captured, at its first segment with data that the peer has not
 *   acknowledged yet (keep-alive probes and old retransmissions do not
 *   start it); that first chunk is NOT marked as a gap (a parser must be
 *   able to detect the protocol from it).
 * - A hole is given up, and what follows delivered with `gap = true`, when
 *   (a) the direction's buffer bound or the shared bound would be exceeded,
 *   (b) the hole has waited longer than `holeTimeoutNs` (capture time),
 *   (c) the peer acknowledged bytes past the hole start (the receiver got
 *       them; the capture missed them, they will never be retransmitted),
 *   (d) a RST, or {@link TcpReassembler.close}.
 *   Bytes the snap length cut off a segment are a hole of the same kind.
 * - Nothing throws; every bound that bites has a counter in
 *   {@link ReassemblyCounters}.
 */
import type { DecodedPacket } from '../packet/decode';
import type { Dir } from '../types';

/**
 * A capture time known two ways: exact nanoseconds (built when needed: a
 * bigint) and seconds as a float (for timeouts). A CapturedPacket is one.
 */
export interface PacketTime {
  readonly tsNs: bigint;
  readonly timeSec: number;
}

const EMPTY = new Uint8Array(0);

/** Bounds of one connection's reassembly. */
export interface ReassemblyLimits {
  /** Out-of-order bytes buffered per direction. */
  maxBufferedBytes: number;
  /** Out-of-order segments buffered per direction. */
  maxBufferedSegments: number;
  /** How long (capture time) a hole may wait for its bytes before it is skipped. */
  holeTimeoutNs: bigint;
  /** Segments further ahead than this are taken as garbage (not buffered, counted). */
  maxWindow: number;
  /** Skip a hole once the peer acknowledged past its start (see the module doc, (c)). */
  skipAckedHoles: boolean;
}

/** Defaults for {@link ReassemblyLimits}. */
export const DEFAULT_REASSEMBLY_LIMITS: ReassemblyLimits = {
  maxBufferedBytes: 256 * 1024,
  maxBufferedSegments: 1024,
  holeTimeoutNs: 5_000_000_000n,
  maxWindow: 1 << 30,
  skipAckedHoles: true,
};

/** Counters shared by the connections of one {@link ReassemblyPool}; never reset. */
export interface ReassemblyCounters {
  segments: number;
  /** Payload bytes delivered to sinks. */
  bytesDelivered: number;
  /** Segments whose bytes had all been seen already. */
  retransmittedSegments: number;
  retransmittedBytes: number;
  /** Bytes trimmed from segments that partly overlapped data already seen. */
  overlapBytes: number;
  /** Segments that arrived ahead of a hole and were buffered. */
  outOfOrderSegments: number;
  /** Holes given up (each makes one `gap` delivery). */
  gaps: number;
  /** Bytes known to be missing in given-up holes. */
  gapBytes: number;
  /** Holes given up because a direction's buffer bound bit. */
  limitPerDirection: number;
  /** Holes given up because the pool's overall bound bit. */
  limitOverall: number;
  /** Holes given up after waiting holeTimeoutNs. */
  holeTimeouts: number;
  /** Holes given up because the peer acknowledged past them. */
  ackedHoles: number;
  /** Segments too far ahead of the stream (taken as garbage). */
  outOfWindow: number;
  /** Segment bytes the snap length cut off. */
  snapTruncatedBytes: number;
}

/**
 * What connections of one receiver share: the overall buffer bound and the
 * counters.
 */
export class ReassemblyPool {
  readonly counters: ReassemblyCounters = {
    segments: 0,
    bytesDelivered: 0,
    retransmittedSegments: 0,
    retransmittedBytes: 0,
    overlapBytes: 0,
    outOfOrderSegments: 0,
    gaps: 0,
    gapBytes: 0,
    limitPerDirection: 0,
    limitOverall: 0,
    holeTimeouts: 0,
    ackedHoles: 0,
    outOfWindow: 0,
    snapTruncatedBytes: 0,
  };
  /** Out-of-order bytes buffered by all connections now. */
  bufferedBytes = 0;
  readonly limits: ReassemblyLimits;

  constructor(
    /** Out-of-order bytes all connections together may buffer. */
    readonly maxBufferedBytes = 64 * 1024 * 1024,
    limits: Partial<ReassemblyLimits> = {},
  ) {
    this.limits = { ...DEFAULT_REASSEMBLY_LIMITS, ...limits };
  }
}

/**
 * Receives the in-order chunks. `gap` means bytes are missing before this
 * chunk. `data` may be a view of the packet buffer: copy what you keep.
 */
export type StreamSink = (dir: Dir, data: Uint8Array, timeNs: bigint, gap: boolean) => void;

/** TCP flag bits as in the TCP header (same values as the decoder's TcpFlag). */
const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;

interface Buffered {
  /** Stream offset of data[0]. */
  start: number;
  data: Uint8Array;
  /** Stream offset where the segment ended on the wire (> start + data.length when the snap length cut it). */
  wireEnd: number;
  /** Capture time it arrived: exact, and in seconds for timeouts. */
  time: bigint;
  sec: number;
}

/** One direction's state. */
class HalfStream {
  started = false;
  /** Sequence number of stream offset `pos`. */
  next = 0;
  /** Stream offset of the next byte to deliver (bytes delivered or skipped so far). */
  pos = 0;
  /** The next delivery follows a hole. */
  pendingGap = false;
  buffered: Buffered[] = [];
  bufferedBytes = 0;
  /** A FIN was seen. */
  fin = false;
  /** Stream offset of the FIN, -1 before one was seen in a started direction. */
  finAt = -1;
  /** Highest ack the peer sent for this direction, valid when peerAcked. */
  peerAck = 0;
  peerAcked = false;
}

/** Reassembles one TCP connection (both directions). */
export class TcpReassembler {
  private readonly half: [HalfStream, HalfStream] = [new HalfStream(), new HalfStream()];
  private readonly c: ReassemblyCounters;
  private readonly lim: ReassemblyLimits;
  /** A RST was seen. */
  reset = false;
  private readonly holeTimeoutSec: number;
  /** The time of `segment()` calls, reused. */
  private readonly fixedTime = { tsNs: 0n, timeSec: 0 };

  constructor(
    private readonly sink: StreamSink,
    private readonly pool: ReassemblyPool = new ReassemblyPool(),
  ) {
    this.c = pool.counters;
    this.lim = pool.limits;
    this.holeTimeoutSec = Number(this.lim.holeTimeoutNs) / 1e9;
  }

  /** Whether a FIN was seen in direction `dir`. */
  finSeen(dir: Dir): boolean {
    return this.half[dir].fin;
  }

  /** Whether direction `dir` delivered everything up to its FIN. */
  finished(dir: Dir): boolean {
    const h = this.half[dir];
    return h.finAt >= 0 && h.pos >= h.finAt;
  }

  /** Out-of-order bytes this connection holds now. */
  get bufferedBytes(): number {
    return this.half[0].bufferedBytes + this.half[1].bufferedBytes;
  }

  /** The sequence number direction `dir` expects next (after its SYN or first segment). */
  nextSeq(dir: Dir): number {
    return this.half[dir].next;
  }

  /** Whether direction `dir` has seen its first segment. */
  started(dir: Dir): boolean {
    return this.half[dir].started;
  }

  /**
   * One segment in direction `dir`. `payload` is what the capture holds;
   * `wireLength` is the payload length on the wire (defaults to payload.length).
   */
  segment(dir: Dir, seq: number, ack: number, flags: number, payload: Uint8Array, timeNs: bigint, wireLength = payload.length): void {
    const t = this.fixedTime;
    t.tsNs = timeNs;
    t.timeSec = Number(timeNs) / 1e9;
    this.segmentAt(dir, seq, ack, flags, payload, t, wireLength);
  }

  /**
   * The decoder's current TCP packet in direction `dir`, timed by `time`
   * (a {@link CapturedPacket}: its bigint time is built only if bytes are
   * delivered or buffered, its payload view only if it has payload).
   */
  segmentPacket(dir: Dir, d: DecodedPacket, time: PacketTime): void {
    const payload = d.payloadLength > 0 ? d.data.subarray(d.payloadOffset, d.payloadOffset + d.payloadLength) : EMPTY;
    this.segmentAt(dir, d.seq, d.ack, d.tcpFlags, payload, time, d.payloadWireLength);
  }

  private segmentAt(dir: Dir, seq: number, ack: number, flags: number, payload: Uint8Array, time: PacketTime, wireLength: number): void {
    const h = this.half[dir];
    this.c.segments++;
    seq >>>= 0;
    const len = wireLength > payload.length ? wireLength : payload.length;
    if (flags & ACK) this.noteAck(dir === 0 ? 1 : 0, ack >>> 0);
    let dataSeq = seq;
    if (flags & SYN) {
      // Data of a SYN (TCP Fast Open) starts after the SYN's own sequence number.
      dataSeq = (seq + 1) >>> 0;
      if (!h.started || (h.pos === 0 && h.buffered.length === 0)) {
        h.started = true;
        h.next = dataSeq;
      }
    } else if (!h.started) {
      // Joining mid-stream: only data tells where the stream is. Keep-alive probes carry
      // seq = next - 1, and data the peer already acknowledged is history.
      if (len === 0 || (h.peerAcked && ((h.peerAck - ((seq + len) >>> 0)) | 0) >= 0)) {
        if (len > 0) {
          this.c.retransmittedSegments++;
          this.c.retransmittedBytes += payload.length;
        }
        if (flags & FIN) h.fin = true;
        return;
      }
      h.started = true;
      h.next = seq;
    }
    if (flags & RST) {
      // After a reset no retransmission will fill a hole.
      this.reset = true;
      this.giveUpAll(h, dir);
      this.giveUpAll(this.half[dir === 0 ? 1 : 0], dir === 0 ? 1 : 0);
      return;
    }
    if (len > 0) this.insert(h, dir, dataSeq, payload, time, len);
    if (flags & FIN) {
      h.fin = true;
      const finAt = h.pos + ((dataSeq - h.next) | 0) + len;
      if (h.finAt < 0 || finAt < h.finAt) h.finAt = finAt;
    }
    // The hole before the first buffered segment has waited at least since that segment came.
    if (h.buffered.length > 0 && time.timeSec - h.buffered[0].sec > this.holeTimeoutSec) {
      this.c.holeTimeouts++;
      this.skipHole(h, dir, h.buffered[0].start);
    }
  }

  /**
   * Gives up holes that have waited longer than the timeout at `nowNs` (for
   * connections that went quiet; segments check this themselves).
   */
  expire(nowNs: bigint): void {
    for (let d = 0; d < 2; d++) {
      const h = this.half[d];
      if (h.buffered.length > 0 && Number(nowNs) / 1e9 - h.buffered[0].sec > this.holeTimeoutSec) {
        this.c.holeTimeouts++;
        this.giveUpAll(h, d as Dir);
      }
    }
  }

  /** The connection ended: delivers everything still buffered (after holes, with `gap`). */
  close(): void {
    this.giveUpAll(this.half[0], 0);
    this.giveUpAll(this.half[1], 1);
  }

  private noteAck(dir: Dir, ack: number): void {
    const h = this.half[dir];
    if (!h.peerAcked || ((ack - h.peerAck) | 0) > 0) {
      h.peerAck = ack;
      h.peerAcked = true;
    }
    if (!this.lim.skipAckedHoles || h.buffered.length === 0 || !h.started) return;
    const acked = (ack - h.next) | 0;
    if (acked > 0 && acked <= this.lim.maxWindow) {
      this.c.ackedHoles++;
      this.skipHole(h, dir, Math.min(h.pos + acked, h.buffered[0].start));
    }
  }

  private deliver(h: HalfStream, dir: Dir, data: Uint8Array, timeNs: bigint): void {
    const gap = h.pendingGap;
    h.pendingGap = false;
    h.pos += data.length;
    h.next = (h.next + data.length) >>> 0;
    this.c.bytesDelivered += data.length;
    this.sink(dir, data, timeNs, gap);
  }

  /** Moves `pos` forward to `to` without bytes (a hole), then delivers what became contiguous. */
  private skipHole(h: HalfStream, dir: Dir, to: number): void {
    if (to <= h.pos) return;
    this.c.gaps++;
    this.c.gapBytes += to - h.pos;
    h.next = (h.next + (to - h.pos)) >>> 0;
    h.pos = to;
    h.pendingGap = true;
    this.drain(h, dir);
  }

  private giveUpAll(h: HalfStream, dir: Dir): void {
    while (h.buffered.length > 0) this.skipHole(h, dir, h.buffered[0].start);
  }

  /** After `pos` moved: delivers buffered segments that are now contiguous. */
  private drain(h: HalfStream, dir: Dir): void {
    while (h.buffered.length > 0 && h.buffered[0].start <= h.pos) {
      const b = h.buffered.shift() as Buffered;
      h.bufferedBytes -= b.data.length;
      this.pool.bufferedBytes -= b.data.length;
      const end = b.start + b.data.length;
      if (end > h.pos) {
        const cut = h.pos - b.start;
        this.deliver(h, dir, cut > 0 ? b.data.subarray(cut) : b.data, b.time);
      }
      if (b.wireEnd > h.pos) this.snapHole(h, b.wireEnd);
    }
  }

  /** Bytes cut by the snap length end at `wireEnd`: skip to there, marking a gap. */
  private snapHole(h: HalfStream, wireEnd: number): void {
    const missing = wireEnd - h.pos;
    this.c.snapTruncatedBytes += missing;
    this.c.gaps++;
    this.c.gapBytes += missing;
    h.next = (h.next + missing) >>> 0;
    h.pos = wireEnd;
    h.pendingGap = true;
  }

  private insert(h: HalfStream, dir: Dir, seq: number, data: Uint8Array, time: PacketTime, wireLen: number): void {
    const rel = (seq - h.next) | 0;
    let start = h.pos + rel;
    const wireEnd = start + wireLen;
    if (wireEnd <= h.pos) {
      this.c.retransmittedSegments++;
      this.c.retransmittedBytes += data.length;
      return;
    }
    if (rel > this.lim.maxWindow) {
      this.c.outOfWindow++;
      return;
    }
    if (start < h.pos) {
      const cut = h.pos - start;
      this.c.overlapBytes += Math.min(cut, data.length);
      data = cut < data.length ? data.subarray(cut) : data.subarray(data.length);
      start = h.pos;
    }
    if (start === h.pos) {
      // In order: delivered as a view of the caller's buffer.
      if (h.buffered.length === 0) {
        if (data.length > 0) this.deliver(h, dir, data, time.tsNs);
        if (wireEnd > h.pos) this.snapHole(h, wireEnd);
      } else this.takeInOrder(h, dir, start, data, wireEnd, time);
      return;
    }
    // Ahead of a hole: buffer a copy of the bytes no earlier segment already holds.
    this.c.outOfOrderSegments++;
    this.buffer(h, dir, start, data, wireEnd, time);
    if (this.lim.skipAckedHoles && h.peerAcked && h.buffered.length > 0) {
      const acked = (h.peerAck - h.next) | 0;
      if (acked > 0 && acked <= this.lim.maxWindow) {
        this.c.ackedHoles++;
        this.skipHole(h, dir, Math.min(h.pos + acked, h.buffered[0].start));
      }
    }
  }

  private buffer(h: HalfStream, dir: Dir, start: number, data: Uint8Array, wireEnd: number, time: PacketTime): void {
    const end = start + data.length;
    const list = h.buffered;
    if (data.length === 0) {
      // Only a snap-truncated segment whose captured part is all behind: remember where it ends.
      this.store(h, dir, start, data, wireEnd, time);
      return;
    }
    // Pieces of [start, end) no buffered segment holds yet (buffered segments never overlap).
    let pieces: number[] | undefined;
    let cur = start;
    for (let i = 0; i < list.length && cur < end; i++) {
      const b = list[i];
      const bEnd = b.start + b.data.length;
      if (bEnd <= cur) continue;
      if (b.start >= end) break;
      if (b.start > cur) (pieces ??= []).push(cur, b.start);
      this.c.overlapBytes += Math.min(end, bEnd) - Math.max(cur, b.start);
      cur = bEnd;
    }
    if (!pieces && cur === start) {
      this.store(h, dir, start, data, wireEnd, time);
      return;
    }
    if (cur < end) (pieces ??= []).push(cur, end);
    if (!pieces) return;
    for (let k = 0; k < pieces.length; k += 2) {
      const last = k + 2 === pieces.length && pieces[k + 1] === end;
      this.store(h, dir, pieces[k], data.subarray(pieces[k] - start, pieces[k + 1] - start), last ? wireEnd : pieces[k + 1], time);
    }
  }

  /** Buffers a copy of `piece` at stream offset `start` within the bounds (or delivers it when it became next). */
  private store(h: HalfStream, dir: Dir, start: number, piece: Uint8Array, wireEnd: number, time: PacketTime): void {
    if (start <= h.pos) {
      // Earlier pieces of the same segment forced holes to be given up: this one is next now.
      this.takeInOrder(h, dir, start, piece, wireEnd, time);
      return;
    }
    const n = piece.length;
    if (h.bufferedBytes + n > this.lim.maxBufferedBytes || h.buffered.length >= this.lim.maxBufferedSegments) {
      this.c.limitPerDirection++;
      this.makeRoom(h, dir, start, piece, wireEnd, time);
      return;
    }
    if (this.pool.bufferedBytes + n > this.pool.maxBufferedBytes) {
      this.c.limitOverall++;
      this.makeRoom(h, dir, start, piece, wireEnd, time);
      return;
    }
    const list = h.buffered;
    let i = list.length;
    while (i > 0 && list[i - 1].start > start) i--;
    // A real copy: Buffer#slice would be a view of the caller's (reused) buffer.
    const copy = new Uint8Array(n);
    copy.set(piece);
    list.splice(i, 0, { start, data: copy, wireEnd, time: time.tsNs, sec: time.timeSec });
    h.bufferedBytes += n;
    this.pool.bufferedBytes += n;
  }

  /**
   * No room to wait for the hole any longer: give up the holes before this
   * piece, then take the piece in order.
   */
  private makeRoom(h: HalfStream, dir: Dir, start: number, piece: Uint8Array, wireEnd: number, time: PacketTime): void {
    while (h.buffered.length > 0 && h.buffered[0].start < start) this.skipHole(h, dir, h.buffered[0].start);
    if (start > h.pos) this.skipHole(h, dir, start);
    this.takeInOrder(h, dir, start, piece, wireEnd, time);
  }

  /**
   * Delivers the part of `piece` (at `start` ≤ pos) beyond pos, then whatever
   * became contiguous. Where buffered bytes (seen earlier) overlap the piece,
   * the buffered ones are delivered instead: the first bytes seen win.
   */
  private takeInOrder(h: HalfStream, dir: Dir, start: number, piece: Uint8Array, wireEnd: number, time: PacketTime): void {
    const end = start + piece.length;
    const list = h.buffered;
    if (list.length === 0 || list[0].start >= end) {
      // The common case: nothing buffered in the way.
      const cut = h.pos - start;
      if (cut < piece.length) this.deliver(h, dir, cut > 0 ? piece.subarray(cut) : piece, time.tsNs);
    } else {
      while (h.pos < end) {
        if (list.length > 0 && list[0].start <= h.pos) {
          this.drain(h, dir);
          continue;
        }
        const limit = list.length > 0 ? Math.min(end, list[0].start) : end;
        this.deliver(h, dir, piece.subarray(h.pos - start, limit - start), time.tsNs);
      }
    }
    if (wireEnd > h.pos && (list.length === 0 || list[0].start >= wireEnd)) this.snapHole(h, wireEnd);
    this.drain(h, dir);
  }

}
