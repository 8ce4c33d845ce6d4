/**
 * DNS over UDP (one message per datagram) and TCP (RFC 1035 §4.2.2: each
 * message behind a 2-byte length), paired by transaction id and question.
 *
 * Fields (decisions, checked against DeepFlow's results where it has them):
 * - request_type: the QTYPE mnemonic (`A`, `AAAA`, `SRV`, …), the number for
 *   unassigned types; request_resource and endpoint: the query name;
 *   request_domain: the query name for address queries (A, AAAA) only, as
 *   DeepFlow does; request_id: the transaction id.
 * - response_code: RCODE (with EDNS extended bits); response_status: ok for
 *   NOERROR, client_error for FORMERR and NXDOMAIN, server_error otherwise
 *   (DeepFlow's mapping) — except NXDOMAIN for names under a configured
 *   suffix (DeepFlow's `unconcerned_dns_nxdomain_response_suffixes`: search
 *   domain expansion in Kubernetes makes those expected), which is ok.
 * - response_exception: the RCODE mnemonic when not NOERROR; response_result:
 *   the answer and authority records as `A=10.0.0.1 TTL=60; NS=ns.x TTL=60`
 *   (DeepFlow's notation), with names also for CNAME, PTR, MX and SRV.
 * - Each query waits for its answer until `requestTimeoutNs` (then a
 *   'timeout' session); answers without a query become response-only sessions.
 */
import { newSession, type ConnectionParser, type Dir, type FeedFlags, type L7Session, type ParserContext } from '../types';
import { decodeDnsMessage, looksLikeDns, newDnsMessage, opcodeName, rcodeName, typeName, type DnsMessage } from './message';

/** Options of the DNS spec beyond the common parser options. */
export interface DnsOptions {
  /**
   * NXDOMAIN answers for names ending in one of these suffixes are `ok`
   * (e.g. `.svc.cluster.local`, where resolv.conf search lists make misses
   * routine). Compared case-insensitively; a leading dot is optional.
   */
  nxdomainOkSuffixes: readonly string[];
}

/** Defaults for {@link DnsOptions}. */
export const DEFAULT_DNS_OPTIONS: DnsOptions = { nxdomainOkSuffixes: [] };

interface Pending {
  session: L7Session;
  id: number;
  qtype: number;
  qname: string;
}

/** Framing state of one TCP direction. */
interface Framer {
  /** Length-prefix bytes read so far (0..2) of the frame being assembled. */
  prefixBytes: number;
  /** The high byte of the prefix, once read. */
  prefix: number;
  /** Declared length of the current frame, -1 while reading the prefix. */
  need: number;
  /** Bytes of the frame captured in `buf`. */
  have: number;
  /** Bytes of the frame seen (captured or skipped). */
  seen: number;
  buf: Uint8Array | undefined;
  start: bigint;
  /** Waiting for a plausible frame start after a gap or garbage. */
  resync: boolean;
}

function newFramer(): Framer {
  return { prefixBytes: 0, prefix: 0, need: -1, have: 0, seen: 0, buf: undefined, start: 0n, resync: false };
}

const DNS = 'DNS';

/** Reasons counted through `ctx.malformed` (a closed set, never per-item text). */
export const DNS_MALFORMED = {
  message: 'DNS: undecodable message',
  frame: 'DNS: bad TCP frame length',
  internal: 'DNS: internal parser error',
} as const;

/** Parser of one DNS flow (a UDP 5-tuple or a TCP connection). */
export class DnsParser implements ConnectionParser {
  private readonly pending: Pending[] = [];
  private readonly msg: DnsMessage = newDnsMessage();
  /** 'udp': every chunk is one message; 'tcp': length-prefixed stream; undefined until the first chunk. */
  private mode: 'udp' | 'tcp' | undefined;
  private readonly framers: [Framer, Framer] = [newFramer(), newFramer()];
  private readonly okSuffixes: readonly string[];

  constructor(
    private readonly ctx: ParserContext,
    opts: DnsOptions,
  ) {
    this.okSuffixes = opts.nxdomainOkSuffixes.map((s) => (s.startsWith('.') ? s.slice(1) : s).toLowerCase()).filter((s) => s !== '');
  }

  feed(dir: Dir, data: Uint8Array, timeNs: bigint, flags: FeedFlags): void {
    try {
      if (data.length === 0) return;
      if (this.mode === undefined) this.mode = this.chooseMode(dir, data, flags);
      const cut = flags.messageLength !== undefined && flags.messageLength > data.length;
      if (flags.datagram || this.mode === 'udp') {
        this.onMessage(data, 0, data.length, flags.messageLength ?? data.length, data.length, timeNs, timeNs, cut);
        return;
      }
      this.feedTcp(dir, data, timeNs, flags, cut);
    } catch {
      // Never reached by design (the fuzz test checks the counter stays 0);
      // a safety net so a parser bug costs one connection, not the process.
      this.ctx.malformed(DNS_MALFORMED.internal);
      this.framers[0] = newFramer();
      this.framers[1] = newFramer();
    }
  }

  expire(nowNs: bigint): void {
    const timeout = this.ctx.options.requestTimeoutNs;
    let kept = 0;
    for (let i = 0; i < this.pending.length; i++) {
      const p = this.pending[i];
      if (nowNs - p.session.start_time >= timeout) this.timeout(p.session);
      else this.pending[kept++] = p;
    }
    this.pending.length = kept;
  }

  close(nowNs: bigint): void {
    if (this.mode === 'tcp') {
      this.flushPartial(this.framers[1], nowNs);
      this.flushPartial(this.framers[0], nowNs);
    }
    for (const p of this.pending) this.timeout(p.session);
    this.pending.length = 0;
  }

  private chooseMode(dir: Dir, data: Uint8Array, flags: FeedFlags): 'udp' | 'tcp' {
    if (flags.datagram) return 'udp';
    const len = data.length;
    if (len >= 2 && ((data[0] << 8) | data[1]) === len - 2) return 'tcp';
    // eBPF sees what the application wrote: a TCP client may write the
    // length and the message in one call (handled above) or the message
    // alone. A chunk that is a whole message by itself is datagram framing.
    if (looksLikeDns(data, 0, len, dir === 0) && !looksLikeDns(data, 2, len, dir === 0)) return 'udp';
    return 'tcp';
  }

  private feedTcp(dir: Dir, data: Uint8Array, timeNs: bigint, flags: FeedFlags, cut: boolean): void {
    const f = this.framers[dir];
    const len = data.length;
    if (flags.gap) {
      // A frame in progress is lost: report what arrived of it, then look
      // for the next frame start.
      this.flushPartial(f, timeNs);
      f.resync = true;
    }
    let p = 0;
    if (f.resync) {
      if (!this.plausibleFrameAt(data, 0, dir)) {
        this.ctx.malformed(DNS_MALFORMED.frame);
        return;
      }
      f.resync = false;
    }
    const cap = Math.min(this.ctx.options.maxBufferBytes, 65535);
    while (p < len) {
      if (f.need < 0) {
        if (f.prefixBytes === 0) {
          f.start = timeNs;
          f.prefix = data[p] << 8;
          f.prefixBytes = 1;
          p++;
          continue;
        }
        f.need = f.prefix | data[p];
        f.prefixBytes = 2;
        p++;
        if (f.need < 12) {
          this.ctx.malformed(DNS_MALFORMED.frame);
          this.resetFramer(f);
          f.resync = true;
          return;
        }
        f.have = 0;
        f.seen = 0;
        continue;
      }
      const left = f.need - f.seen;
      if (f.seen === 0 && len - p >= f.need && f.need <= cap) {
        // The whole frame is in this chunk: decode in place, no copy.
        this.onMessage(data, p, p + f.need, f.need, f.need + 2, f.start, timeNs, false);
        p += f.need;
        this.resetFramer(f);
        continue;
      }
      const n = Math.min(left, len - p);
      const room = Math.min(cap, f.need) - f.have;
      if (room > 0) {
        const c = Math.min(room, n);
        if (!f.buf || f.buf.length < Math.min(cap, f.need)) {
          const nb = new Uint8Array(Math.min(cap, Math.max(f.need, 512)));
          if (f.buf && f.have) nb.set(f.buf.subarray(0, f.have));
          f.buf = nb;
        }
        f.buf.set(data.subarray(p, p + c), f.have);
        f.have += c;
      }
      f.seen += n;
      p += n;
      if (f.seen === f.need) {
        this.onMessage(f.buf!, 0, f.have, f.need, f.need + 2, f.start, timeNs, f.have < f.need);
        this.resetFramer(f);
      }
    }
    if (cut) {
      // eBPF gave only the start of what was written; the rest never comes.
      this.flushPartial(f, timeNs);
    }
  }

  private plausibleFrameAt(data: Uint8Array, p: number, dir: Dir): boolean {
    if (data.length - p < 14) return false;
    const need = (data[p] << 8) | data[p + 1];
    if (need < 12) return false;
    const end = Math.min(data.length, p + 2 + need);
    return looksLikeDns(data, p + 2, end, dir === 0) || looksLikeDns(data, p + 2, end, dir !== 0);
  }

  private flushPartial(f: Framer, timeNs: bigint): void {
    if (f.need > 0 && f.seen > 0 && f.buf) this.onMessage(f.buf, 0, f.have, f.need, f.seen + 2, f.start, timeNs, true);
    this.resetFramer(f);
  }

  private resetFramer(f: Framer): void {
    f.prefixBytes = 0;
    f.need = -1;
    f.have = 0;
    f.seen = 0;
  }

  /**
   * One message in `b[start, end)`: `wireLength` is its declared size,
   * `captured` the bytes of it that were seen (with the TCP prefix).
   */
  private onMessage(b: Uint8Array, start: number, end: number, wireLength: number, captured: number, t0: bigint, t1: bigint, cut: boolean): void {
    const m = this.msg;
    if (!decodeDnsMessage(b, start, end, m)) {
      this.ctx.malformed(DNS_MALFORMED.message);
      return;
    }
    const truncated = cut || !m.complete;
    if (!m.qr) this.onQuery(m, wireLength, captured, t0, truncated);
    else this.onAnswer(m, wireLength, captured, t0, t1, truncated);
  }

  private onQuery(m: DnsMessage, wireLength: number, captured: number, t0: bigint, truncated: boolean): void {
    const s = newSession(DNS, t0);
    this.fillRequest(s, m);
    s.request_length = wireLength;
    s.captured_request_bytes = captured;
    s.truncated = truncated;
    if (m.ednsUdpSize) s.attributes['dns.edns_udp_size'] = String(m.ednsUdpSize);
    const pending = this.pending;
    if (pending.length >= this.ctx.options.maxPendingRequests) {
      // The oldest query has waited longest: it is the one to give up on.
      const oldest = pending.shift()!;
      this.timeout(oldest.session);
    }
    pending.push({ session: s, id: m.id, qtype: m.qtype, qname: m.qname });
  }

  private onAnswer(m: DnsMessage, wireLength: number, captured: number, t0: bigint, t1: bigint, truncated: boolean): void {
    let s: L7Session | undefined;
    const pending = this.pending;
    for (let i = 0; i < pending.length; i++) {
      const p = pending[i];
      // A response without a question (some FORMERR answers) pairs by id alone.
      if (p.id === m.id && (m.qdcount === 0 || (p.qtype === m.qtype && sameName(p.qname, m.qname)))) {
        s = p.session;
        pending.splice(i, 1);
        break;
      }
    }
    if (!s) {
      // An answer whose query we did not see: its question says what was asked.
      s = newSession(DNS, t0);
      this.fillRequest(s, m);
    }
    s.response_code = m.rcode;
    s.response_status = this.status(m.rcode, s.request_resource);
    s.response_exception = m.rcode === 0 ? '' : rcodeName(m.rcode);
    s.response_result = m.answers;
    s.response_length = wireLength;
    s.captured_response_bytes = captured;
    s.end_time = t1 > s.start_time ? t1 : s.start_time;
    s.duration_ns = s.end_time - s.start_time;
    if (truncated) s.truncated = true;
    if (m.tc) s.attributes['dns.tc'] = 'true';
    this.ctx.emit(s);
  }

  private fillRequest(s: L7Session, m: DnsMessage): void {
    s.request_type = m.qdcount === 0 ? '' : typeName(m.qtype);
    s.request_resource = m.qname;
    s.endpoint = m.qname;
    s.request_domain = m.qtype === 1 || m.qtype === 28 ? m.qname : '';
    s.request_id = String(m.id);
    s.attributes['dns.opcode'] = opcodeName(m.opcode);
  }

  private status(rcode: number, qname: string): L7Session['response_status'] {
    if (rcode === 0) return 'ok';
    if (rcode === 3 && this.okSuffixes.length !== 0 && underSuffix(qname, this.okSuffixes)) return 'ok';
    if (rcode === 1 || rcode === 3) return 'client_error';
    return 'server_error';
  }

  private timeout(s: L7Session): void {
    s.response_status = 'timeout';
    this.ctx.emit(s);
  }
}

function sameName(a: string, b: string): boolean {
  // DNS names compare case-insensitively (0x20 randomisation flips case).
  return a === b || a.toLowerCase() === b.toLowerCase();
}

function underSuffix(name: string, suffixes: readonly string[]): boolean {
  const n = name.toLowerCase();
  for (const s of suffixes) {
    if (n === s || (n.endsWith(s) && n.charCodeAt(n.length - s.length - 1) === 0x2e)) return true;
  }
  return false;
}
