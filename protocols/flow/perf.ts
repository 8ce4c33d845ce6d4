/**
 * TCP and UDP performance of one flow from its packets: handshake RTTs,
 * server and application response times, retransmissions, out-of-order
 * segments, zero windows, SYN and SYN-ACK repeats.
 *
 * The semantics are DeepFlow's (agent/src/flow_generator/perf/tcp.rs and
 * udp.rs), re-expressed here, so the figures agree with DeepFlow's on the
 * same packets (the conformance test checks its result files):
 *
 * - Each side ("first" = the side that sent the flow's first packet) keeps
 *   its last packet (time, seq, payload length: 1 for a SYN) and a few
 *   "calculable" flags that the next packets test and clear.
 * - RTT: during the handshake, a SYN-ACK answering the first SYN gives the
 *   server-side RTT (first SYN → SYN-ACK); the client's ACK of the SYN-ACK
 *   gives the client-side RTT (first SYN-ACK → ACK) and the full handshake
 *   (first SYN → ACK). Values above 30 s are discarded.
 * - SRT: after a data segment (PSH/ACK with more than one byte), the peer's
 *   pure ACK acknowledging exactly its end (≤ 10 s).
 * - ART: after a data segment, the peer's next data segment that continues
 *   the peer's own sequence (≤ 30 s), measured from the data segment.
 * - CIT (client idle time): a client data segment after the handshake ACK or
 *   after server data, measured from the last packet of the other side.
 * - Retransmission: a data segment (more than one byte) starting inside a
 *   sequence range already seen in its direction (16 ranges per direction,
 *   the two lowest merged when full); repeated SYNs and SYN-ACKs count too.
 * - Out-of-order: a data segment that starts below the highest sequence seen
 *   in its direction without being a retransmission (it fills a hole).
 * - Zero window: an established-state segment advertising window 0.
 * - Packets with FIN or RST, or with impossible flag combinations, take no
 *   part (and cancel pending SRT/ART); a packet older than the last one of
 *   either side is ignored.
 *
 * Times are nanoseconds as doubles relative to the caller's base. Results go
 * into a {@link Counters} set: the side a value belongs to is the direction
 * of the packet that completed it (a server packet completes the server-side
 * RTT, SRT and ART). Nothing here allocates per packet.
 */
import type { DecodedPacket } from '../packet/decode';
import type { Dir } from '../types';
import { addTime, ART, CIT, SYN as SYN_COUNT, SYNACK as SYNACK_COUNT, OOO_TX, RETRANS_TX, RTT, RTT_CLIENT, RTT_SERVER, SRT, SYN_RETRANS, SYNACK_RETRANS, ZERO_WIN_TX, type Counters } from './counters';

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;
const URG = 0x20;
/** The flags the rules look at (ECE/CWR/NS are ignored). */
const MASK = 0x3f;

const RTT_MAX_NS = 30e9;
const SRT_MAX_NS = 10e9;
const ART_MAX_NS = 30e9;

/** Sequence ranges remembered per direction for retransmission detection. */
const MAX_RANGES = 16;

/** What a data segment was, by its sequence number. */
const SEQ_NEW = 0;
const SEQ_RETRANS = 1;
const SEQ_OOO = 2;

/** One side's state. */
class Side {
  /** seq+1 of this side's first SYN or SYN-ACK (or, for the client, the SYN-ACK's ack): the ack that completes the handshake. */
  threshold = 0;
  hasThreshold = false;
  /** Time of this side's first SYN (client) or SYN-ACK (server), -1 when none. */
  firstHandshake = -1;
  synSent = false;
  /** Time of this side's last packet, -1 before one. */
  time = -1;
  seq = 0;
  /** Payload length of the last packet (1 for a SYN or SYN-ACK). */
  len = 0;
  handshakeAck = false;
  srtOk = false;
  rttOk = false;
  artOk = false;
  rttFullPre = false;
  rttFullOk = false;
  /** Ranges [start, end) of sequence numbers seen, as pairs, ascending; compared by signed 32-bit distance. */
  readonly ranges = new Uint32Array(MAX_RANGES * 2);
  nRanges = 0;

  /** Whether `ack` acknowledges exactly this side's last packet. */
  acks(ack: number): boolean {
    return ack === ((this.seq + this.len) >>> 0);
  }

  /**
   * Classifies a data segment [seq, seq+len) and records it: SEQ_RETRANS
   * when it starts inside a range already seen, SEQ_OOO when it starts below
   * the highest sequence seen (a hole being filled), else SEQ_NEW.
   */
  classify(seq: number, len: number): number {
    const r = this.ranges;
    const n = this.nRanges;
    const end = (seq + len) >>> 0;
    if (n === 0) {
      r[0] = seq;
      r[1] = end;
      this.nRanges = 1;
      return SEQ_NEW;
    }
    for (let i = 0; i < n; i++) {
      if (((seq - r[2 * i]) | 0) >= 0 && ((seq - r[2 * i + 1]) | 0) < 0) return SEQ_RETRANS;
    }
    const result = ((seq - r[2 * n - 1]) | 0) < 0 ? SEQ_OOO : SEQ_NEW;
    this.insert(seq, end);
    return result;
  }

  /** Adds [start, stop), merging it with the ranges it touches or overlaps. */
  private insert(start: number, stop: number): void {
    const r = this.ranges;
    let n = this.nRanges;
    if (n === MAX_RANGES) {
      // Full: take the lowest hole as filled (later bytes in it will look retransmitted).
      r[1] = r[3];
      r.copyWithin(2, 4, 2 * n);
      n--;
    }
    let i = 0;
    while (i < n && ((r[2 * i] - start) | 0) <= 0) i++;
    let from = i;
    let s = start;
    let e = stop;
    if (i > 0 && ((r[2 * i - 1] - start) | 0) >= 0) {
      from = i - 1;
      s = r[2 * from];
      if (((r[2 * from + 1] - e) | 0) > 0) e = r[2 * from + 1];
    }
    let to = i;
    while (to < n && ((r[2 * to] - e) | 0) <= 0) {
      if (((r[2 * to + 1] - e) | 0) > 0) e = r[2 * to + 1];
      to++;
    }
    const removed = to - from;
    if (removed === 0) {
      r.copyWithin(2 * (from + 1), 2 * from, 2 * n);
      n++;
    } else if (removed > 1) {
      r.copyWithin(2 * (from + 1), 2 * to, 2 * n);
      n -= removed - 1;
    }
    r[2 * from] = s;
    r[2 * from + 1] = e;
    this.nRanges = n;
  }
}

/** TCP performance state of one flow; see the module doc. */
export class TcpPerf {
  /** [first side, other side]. */
  private readonly sides: [Side, Side] = [new Side(), new Side()];
  private handshaking = false;
  /** Direction of the flow's first packet, -1 before it. */
  private firstDir = -1;
  /** The full-handshake RTT was recorded (once per flow). */
  private rttFullDone = false;
  /** Packets ignored: abnormal flags, or older than the last packet of a side. */
  invalid = 0;

  /**
   * One TCP packet in direction `dir` (0: client → server) at time `t`
   * (ns, relative to the caller's base); results are added to `c`.
   */
  packet(d: DecodedPacket, dir: Dir, t: number, c: Counters): void {
    if (this.firstDir < 0) this.firstDir = dir;
    const fpd = dir === this.firstDir;
    const same = fpd ? this.sides[0] : this.sides[1];
    const oppo = fpd ? this.sides[1] : this.sides[0];
    const flags = d.tcpFlags & MASK;
    if (abnormal(flags) || (flags & (FIN | RST)) !== 0) {
      if (abnormal(flags)) this.invalid++;
      this.cancel();
      return;
    }
    if (t < this.sides[0].time || t < this.sides[1].time) {
      this.invalid++;
      return;
    }
    const len = d.payloadWireLength;
    const seq = d.seq >>> 0;
    const ack = d.ack >>> 0;
    const isSyn = flags === SYN;
    const isSynAck = flags === (SYN | ACK) && len === 0;
    const isAck = flags === ACK && len === 0;
    const isPshAck = flags === (PSH | ACK) && len > 1;

    // Handshake bookkeeping and retransmissions.
    if (isSyn) {
      if (!same.hasThreshold) {
        same.threshold = (seq + 1) >>> 0;
        same.hasThreshold = true;
        same.firstHandshake = t;
        this.handshaking = true;
      } else if (same.synSent) {
        c[RETRANS_TX + dir]++;
        c[SYN_RETRANS]++;
      }
      same.synSent = true;
    } else if (isSynAck) {
      if (!same.hasThreshold) {
        same.firstHandshake = t;
        same.threshold = (seq + 1) >>> 0;
        same.hasThreshold = true;
        if (!oppo.hasThreshold) {
          // No SYN seen: its end is what this SYN-ACK acknowledges.
          oppo.threshold = ack;
          oppo.hasThreshold = true;
        } else oppo.rttFullPre = true;
      } else {
        c[RETRANS_TX + dir]++;
        c[SYNACK_RETRANS]++;
      }
    } else if (isAck) {
      // A server ACK ends the handshake without an RTT. Repeated pure ACKs
      // cannot be told from keep-alives, so none is a retransmission.
      if (!fpd) this.handshaking = false;
    } else if (len > 1) {
      const kind = same.classify(seq, len);
      if (kind === SEQ_RETRANS) c[RETRANS_TX + dir]++;
      else if (kind === SEQ_OOO) c[OOO_TX + dir]++;
    }
    if (this.handshaking) this.handshaking = this.opening(same, oppo, dir, isSyn, isSynAck, isAck, ack, t, c);
    if (!this.handshaking) this.established(same, oppo, fpd, dir, isAck, isPshAck, len, seq, ack, d.window, t, c);
    if (isSyn) c[SYN_COUNT]++;
    if (isSynAck) c[SYNACK_COUNT]++;
    same.time = t;
    same.len = (flags & SYN) !== 0 ? 1 : len;
    same.seq = seq;
  }

  /** Packets that take no part cancel what the next packet could have completed. */
  private cancel(): void {
    for (const s of this.sides) {
      s.srtOk = false;
      s.artOk = false;
      s.rttFullPre = false;
      s.rttFullOk = false;
    }
  }

  /** The handshake: RTTs. Returns whether the flow is still opening. */
  private opening(same: Side, oppo: Side, dir: Dir, isSyn: boolean, isSynAck: boolean, isAck: boolean, ack: number, t: number, c: Counters): boolean {
    const handshakeAck = isAck && oppo.hasThreshold && oppo.threshold === ack;
    if (same.rttOk && oppo.acks(ack) && (handshakeAck || isSynAck) && oppo.firstHandshake >= 0) {
      const rtt = t - oppo.firstHandshake;
      if (rtt > 0 && rtt <= RTT_MAX_NS) addTime(c, dir === 0 ? RTT_CLIENT : RTT_SERVER, rtt);
    }
    if (same.rttFullOk && handshakeAck && !this.rttFullDone) {
      const full = t - same.firstHandshake;
      if (full > 0 && full <= RTT_MAX_NS) {
        addTime(c, RTT, full);
        this.rttFullDone = true;
      }
    }
    let opening: boolean;
    if (isSyn || isSynAck) {
      same.rttOk = true;
      same.srtOk = false;
      same.artOk = false;
      oppo.rttOk = true;
      oppo.srtOk = false;
      oppo.artOk = false;
      if (isSynAck && oppo.rttFullPre) oppo.rttFullOk = true;
      opening = true;
    } else {
      if (!isAck) {
        same.rttOk = false;
        oppo.rttOk = false;
        same.rttFullOk = false;
      }
      // The ACK that completes the handshake ends it: later ACKs (window
      // updates, keep-alives) are no second RTT sample.
      opening = isAck && !handshakeAck;
    }
    if (handshakeAck) same.handshakeAck = true;
    return opening;
  }

  /** The established flow: SRT, ART, zero windows, client idle time. */
  private established(same: Side, oppo: Side, fpd: boolean, dir: Dir, isAck: boolean, isPshAck: boolean, len: number, seq: number, ack: number, window: number, t: number, c: Counters): void {
    if (same.srtOk && isAck && oppo.acks(ack)) {
      const srt = t - oppo.time;
      if (srt > 0 && srt <= SRT_MAX_NS && dir === 1) addTime(c, SRT, srt);
    }
    if (same.artOk && len > 1 && seq === ((same.seq + same.len) >>> 0)) {
      const art = t - oppo.time;
      if (art > 0 && art <= ART_MAX_NS && dir === 1) addTime(c, ART, art);
    }
    if (isAck) {
      same.srtOk = false;
      oppo.srtOk = false;
      oppo.artOk = false;
    } else if (isPshAck) {
      same.srtOk = false;
      same.artOk = false;
      oppo.srtOk = true;
      oppo.artOk = true;
    } else {
      same.srtOk = false;
      same.artOk = false;
      oppo.srtOk = false;
      oppo.artOk = false;
    }
    // The window scale does not matter here: a zero window is zero at any scale.
    if (window === 0) c[ZERO_WIN_TX + dir]++;
    // A client request after a pause: one-byte payloads may be heartbeats.
    if (fpd && isPshAck && len > 1) {
      if (same.handshakeAck) {
        same.handshakeAck = false;
        addTime(c, CIT, t - Math.max(same.time, oppo.time));
      } else if (oppo.len > 1 && (same.len <= 1 || oppo.time > same.time)) {
        addTime(c, CIT, t - oppo.time);
      }
    }
  }
}

/** Flag combinations no TCP stack sends (DeepFlow ignores them too). */
function abnormal(f: number): boolean {
  if (f & SYN) {
    if (f & (FIN | RST)) return true;
  } else if ((f & (ACK | RST)) === 0) return true;
  if ((f & ACK) === 0 && (f & (PSH | FIN | URG)) !== 0) return true;
  return false;
}

/**
 * UDP application response time: a datagram from the flow's second side
 * right after one from its first side (the request) completes one ART
 * (≤ 30 s). Recorded for the server side only.
 */
export class UdpPerf {
  private firstDir = -1;
  private lastDir = -1;
  private requestTime = -1;

  /** One datagram in direction `dir` at time `t`; results go to `c`. */
  packet(dir: Dir, t: number, c: Counters): void {
    if (this.firstDir < 0) this.firstDir = dir;
    if (dir === this.firstDir) {
      this.requestTime = t;
    } else if (this.lastDir === this.firstDir && this.requestTime >= 0) {
      const art = t - this.requestTime;
      if (art > 0 && art <= ART_MAX_NS && dir === 1) addTime(c, ART, art);
    }
    this.lastDir = dir;
  }
}

/** Exposed for tests: the sequence classification of one direction. */
export const _seq = { Side, SEQ_NEW, SEQ_RETRANS, SEQ_OOO };
