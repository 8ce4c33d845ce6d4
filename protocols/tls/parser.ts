/**
 * TLS connection parser: the record layer and the plaintext part of the
 * handshake (TLS 1.0–1.3, RFC 5246 / RFC 8446). Application data is never
 * parsed — only its record headers are counted.
 *
 * One session per handshake: it opens with the ClientHello and is answered
 * by the ServerHello; it stays open to collect the rest of the server's
 * plaintext flight (Certificate, ServerHelloDone in TLS ≤ 1.2) and is
 * emitted when the handshake moves on — the client's ChangeCipherSpec,
 * application data, an alert, a new ClientHello, the end of the connection
 * or {@link SETTLE_NS} of silence.
 *
 * Fields:
 * - request_type: `ClientHello` (`Alert` for an alert outside a handshake);
 * - request_domain and request_resource: the SNI host name (as DeepFlow);
 * - version: the negotiated version (`TLS 1.3` from supported_versions,
 *   else the ServerHello's), before an answer the client's highest offer;
 * - response_status: ok once the ServerHello arrived; an alert makes it
 *   client_error when the client sent it and server_error when the server
 *   did (as DeepFlow); timeout without a ServerHello;
 * - response_code: the alert description; response_exception: its name;
 * - response_result: the server's plaintext handshake messages
 *   (`ServerHello,Certificate,ServerKeyExchange,ServerHelloDone`);
 * - attributes: `tls.alpn.offered`, `tls.alpn` (ALPN the server chose, when
 *   visible: TLS ≤ 1.2), `tls.client.versions`, `tls.client.cipher_count`,
 *   `tls.cipher`, `tls.cipher_id`, `tls.server.subject_cn` and
 *   `tls.server.not_after` (first certificate, TLS ≤ 1.2),
 *   `tls.hello_retry`, `tls.resumed`, `tls.alert.level`.
 */
import type { ConnectionParser, Dir, FeedFlags, L7Session, ParserContext } from '../types';
import { newSession } from '../types';
import { finishTimes, Framer, u16, utf8 } from '../framing';
import type { FrameHandler } from '../framing';
import { alertName, cipherName, handshakeName, hex4, isGrease, versionName } from './names';

const CT_CHANGE_CIPHER_SPEC = 20;
const CT_ALERT = 21;
const CT_HANDSHAKE = 22;
const CT_APPLICATION_DATA = 23;
const CT_HEARTBEAT = 24;
/** Largest record: 2^14 plaintext plus the expansion allowed to ciphertext. */
const MAX_RECORD = 16384 + 2048;
/** How long a handshake answered by a ServerHello waits for its end before `expire` emits it. */
const SETTLE_NS = 1_000_000_000n;

/** SHA-256("HelloRetryRequest"): the random of a HelloRetryRequest (RFC 8446 4.1.3). */
const HRR_RANDOM = Uint8Array.from(Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex'));

/** Where the open handshake is: ClientHello seen, waiting for the ServerHello… */
const HELLO = 0;
/** …or ServerHello seen, collecting the server's plaintext flight. */
const SERVER = 1;
type Phase = typeof HELLO | typeof SERVER;

/** Handshake message reassembly for one direction (messages may span records). */
class HandshakeBuffer {
  buf: Uint8Array = new Uint8Array(0);
  len = 0;
  /** Bytes of an oversized message still to skip. */
  skip = 0;
}

/** Parser for one TLS connection. */
export class TlsParser implements ConnectionParser, FrameHandler {
  readonly headerBytes = 5;
  private readonly framer: Framer;
  private readonly hs: [HandshakeBuffer, HandshakeBuffer] = [new HandshakeBuffer(), new HandshakeBuffer()];
  /** Each direction's records are encrypted from here on (after its ChangeCipherSpec, or the ServerHello of TLS 1.3). */
  private readonly encrypted: [boolean, boolean] = [false, false];
  private cur: L7Session | undefined;
  private phase: Phase = HELLO;
  private hrr = false;
  private serverMessages = '';
  private tls13 = false;
  private readonly cap: number;

  constructor(private readonly ctx: ParserContext) {
    this.framer = new Framer(this, ctx.options.maxBufferBytes);
    this.cap = Math.max(1024, ctx.options.maxBufferBytes);
  }

  feed(dir: Dir, data: Uint8Array, timeNs: bigint, flags: FeedFlags): void {
    if (flags.gap) this.hs[dir].len = this.hs[dir].skip = 0;
    this.framer.feed(dir, data, timeNs, flags);
  }

  expire(nowNs: bigint): void {
    const s = this.cur;
    if (!s) return;
    if (this.phase === HELLO && s.start_time < nowNs - this.ctx.options.requestTimeoutNs) this.finish('timeout');
    else if (this.phase === SERVER && s.end_time < nowNs - SETTLE_NS) this.finish();
  }

  close(nowNs: bigint): void {
    this.framer.flush(nowNs);
    if (this.cur) this.finish(this.phase === HELLO ? 'timeout' : undefined);
  }

  frameLength(_dir: Dir, buf: Uint8Array, off: number): number {
    const type = buf[off];
    if (type < CT_CHANGE_CIPHER_SPEC || type > CT_HEARTBEAT || buf[off + 1] !== 3 || buf[off + 2] > 4) return -1;
    const len = u16(buf, off + 3);
    return len > MAX_RECORD ? -1 : 5 + len;
  }

  keepBytes(_dir: Dir, buf: Uint8Array, off: number, total: number): number {
    // Application data is opaque: only its header is worth keeping.
    return buf[off] === CT_APPLICATION_DATA ? 5 : total;
  }

  onDesync(dir: Dir, reason: string): void {
    this.ctx.malformed(`tls: ${reason} (${dir === 0 ? 'client' : 'server'})`);
  }

  onFrame(dir: Dir, data: Uint8Array, total: number, seen: number, startNs: bigint, endNs: bigint): void {
    const type = data[0];
    switch (type) {
      case CT_HANDSHAKE:
        if (this.encrypted[dir]) {
          // TLS ≤ 1.2 Finished after ChangeCipherSpec: part of the handshake, unreadable.
          this.count(dir, total, seen, endNs);
          return;
        }
        this.handshakeRecord(dir, data, total, seen, startNs, endNs);
        return;
      case CT_CHANGE_CIPHER_SPEC:
        this.count(dir, total, seen, endNs);
        // In TLS 1.3 ChangeCipherSpec is only middlebox camouflage (RFC 8446
        // D.4): encryption starts with the ServerHello, not here.
        if (!this.tls13 && !this.hrr) this.encrypted[dir] = true;
        // The client moving on means it accepted the server's flight.
        if (dir === 0 && this.cur && this.phase === SERVER) this.finish();
        else if (dir === 1 && this.cur && this.phase === SERVER && !this.tls13) this.cur.attributes['tls.resumed'] = 'true';
        return;
      case CT_ALERT:
        if (!this.encrypted[dir] && total === 7 && data.length >= 7) this.alert(dir, data[5], data[6], total, seen, startNs, endNs);
        else if (this.cur && this.phase === SERVER) this.finish(); // an encrypted alert ends the handshake we saw
        return;
      case CT_APPLICATION_DATA:
        if (this.cur && this.phase === SERVER) this.finish();
        return;
      default:
      // Heartbeat records: nothing to report.
    }
  }

  /** Adds a record's bytes to the open session's side. */
  private count(dir: Dir, total: number, seen: number, endNs: bigint): void {
    const s = this.cur;
    if (!s) return;
    if (dir === 0) {
      // The request is the client's first flight; what it sends after the
      // ServerHello (key exchange, Finished) belongs to no session.
      if (this.phase === SERVER) return;
      s.request_length = (s.request_length ?? 0) + total;
      s.captured_request_bytes += seen;
    } else {
      s.response_length = (s.response_length ?? 0) + total;
      s.captured_response_bytes += seen;
      if (this.phase === SERVER) s.end_time = endNs;
    }
    if (seen < total) s.truncated = true;
  }

  private handshakeRecord(dir: Dir, data: Uint8Array, total: number, seen: number, startNs: bigint, endNs: bigint): void {
    const hb = this.hs[dir];
    let p = 5;
    const end = data.length;
    while (p < end) {
      if (hb.skip > 0) {
        const k = Math.min(hb.skip, end - p);
        hb.skip -= k;
        p += k;
        continue;
      }
      // Append what fits, then take out complete messages.
      const room = this.cap - hb.len;
      const k = Math.min(room, end - p);
      if (hb.buf.length < hb.len + k) {
        const next = new Uint8Array(Math.min(this.cap, Math.max(hb.len + k, hb.buf.length * 2, 512)));
        next.set(hb.buf.subarray(0, hb.len));
        hb.buf = next;
      }
      hb.buf.set(data.subarray(p, p + k), hb.len);
      hb.len += k;
      p += k;
      this.drainMessages(dir, hb, total, seen, startNs, endNs);
      total = 0; // the record's bytes are counted once, with its first message
      seen = 0;
    }
    if (data.length < 5 + u16(data, 3) || seen < total) {
      // Part of the record is missing: message boundaries after it are unknown.
      hb.len = hb.skip = 0;
      if (this.cur) this.cur.truncated = true;
    }
  }

  private drainMessages(dir: Dir, hb: HandshakeBuffer, total: number, seen: number, startNs: bigint, endNs: bigint): void {
    let off = 0;
    let counted = false;
    while (hb.len - off >= 4) {
      const b = hb.buf;
      const mlen = (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3];
      const full = 4 + mlen;
      if (hb.len - off < full) {
        if (full > this.cap && off === 0 && hb.len === this.cap) {
          // Larger than we may buffer (a long certificate chain): read its start, skip the rest.
          this.message(dir, b[0], b, 4, hb.len, startNs, endNs, counted ? 0 : total, counted ? 0 : seen);
          counted = true;
          hb.skip = full - hb.len;
          hb.len = 0;
          return;
        }
        break;
      }
      this.message(dir, b[off], b, off + 4, off + full, startNs, endNs, counted ? 0 : total, counted ? 0 : seen);
      counted = true;
      off += full;
    }
    if (!counted) this.count(dir, total, seen, endNs);
    if (off > 0) {
      hb.buf.copyWithin(0, off, hb.len);
      hb.len -= off;
    }
  }

  /** One handshake message `b[p..end)` of type `t`; `total`/`seen` are its record's bytes (0 when counted). */
  private message(dir: Dir, t: number, b: Uint8Array, p: number, end: number, startNs: bigint, endNs: bigint, total: number, seen: number): void {
    if (dir === 0) {
      if (t === 1) {
        if (this.cur && !this.hrr) this.finish(this.phase === HELLO ? 'timeout' : undefined);
        if (!this.cur) this.open(startNs);
        this.hrr = false;
        this.count(0, total, seen, endNs);
        clientHello(b, p, end, this.cur!);
        return;
      }
      this.count(0, total, seen, endNs);
      return;
    }
    if (t === 2) {
      if (!this.cur || this.phase === SERVER) {
        // The answer to a ClientHello we did not see.
        if (this.cur) this.finish();
        this.open(startNs);
      }
      const s = this.cur!;
      this.count(1, total, seen, endNs);
      s.end_time = endNs;
      if (serverHello(b, p, end, s)) {
        this.hrr = true;
        s.attributes['tls.hello_retry'] = 'true';
        this.serverMessages = 'HelloRetryRequest';
        return;
      }
      this.phase = SERVER;
      s.response_status = 'ok';
      this.tls13 = s.version === 'TLS 1.3';
      if (this.tls13) this.encrypted[1] = true; // everything after the ServerHello is encrypted
      this.addServerMessage(t);
      return;
    }
    if (!this.cur) return;
    this.count(1, total, seen, endNs);
    if (this.phase !== SERVER) return;
    this.addServerMessage(t);
    if (t === 11) certificate(b, p, end, this.cur);
  }

  private addServerMessage(t: number): void {
    const name = handshakeName(t);
    this.serverMessages = this.serverMessages ? `${this.serverMessages},${name}` : name;
    if (this.cur) this.cur.response_result = this.serverMessages;
  }

  private alert(dir: Dir, level: number, desc: number, total: number, seen: number, startNs: bigint, endNs: bigint): void {
    const fatal = level === 2;
    if (!this.cur) {
      if (!fatal && desc === 0) return; // a close_notify outside a handshake says nothing
      this.open(startNs);
      this.cur!.request_type = 'Alert';
    }
    const s = this.cur!;
    this.count(dir, total, seen, endNs);
    s.end_time = endNs;
    s.response_code = desc;
    s.response_exception = alertName(desc);
    s.attributes['tls.alert.level'] = fatal ? 'fatal' : 'warning';
    if (fatal || desc !== 0) this.finish(dir === 0 ? 'client_error' : 'server_error');
    else this.finish();
  }

  private open(startNs: bigint): void {
    const s = newSession('TLS', startNs);
    s.request_type = 'ClientHello';
    this.cur = s;
    this.phase = HELLO;
    this.serverMessages = '';
    this.tls13 = false;
  }

  private finish(status?: L7Session['response_status']): void {
    const s = this.cur;
    if (!s) return;
    this.cur = undefined;
    this.hrr = false;
    if (status) s.response_status = status;
    else if (s.response_status === 'unknown') s.response_status = this.phase === SERVER ? 'ok' : 'timeout';
    finishTimes(s);
    this.ctx.emit(s);
  }
}

/** ClientHello: offered versions, cipher count, SNI, ALPN. */
function clientHello(b: Uint8Array, p: number, end: number, s: L7Session): void {
  if (p + 38 > end) return;
  const legacy = u16(b, p);
  s.version = versionName(legacy);
  let q = p + 34;
  q += 1 + b[q]; // session id
  if (q + 2 > end) return;
  const ciphersLen = u16(b, q);
  s.attributes['tls.client.cipher_count'] = String(ciphersLen >> 1);
  q += 2 + ciphersLen;
  if (q >= end) return;
  q += 1 + b[q]; // compression methods
  if (q + 2 > end) return;
  const extEnd = Math.min(end, q + 2 + u16(b, q));
  q += 2;
  let best = legacy;
  let versions = '';
  while (q + 4 <= extEnd) {
    const type = u16(b, q);
    const len = u16(b, q + 2);
    const d = q + 4;
    const e = Math.min(d + len, extEnd);
    if (type === 0 && d + 5 <= e && b[d + 2] === 0) {
      // server_name: list length, type host_name, name length, name
      const n = u16(b, d + 3);
      const name = utf8(b, d + 5, Math.min(d + 5 + n, e));
      s.request_domain = name;
      s.request_resource = name;
    } else if (type === 16 && d + 2 <= e) {
      s.attributes['tls.alpn.offered'] = alpnList(b, d + 2, Math.min(d + 2 + u16(b, d), e));
    } else if (type === 43 && d + 1 <= e) {
      for (let i = d + 1; i + 2 <= Math.min(d + 1 + b[d], e); i += 2) {
        const v = u16(b, i);
        if (isGrease(v)) continue;
        versions = versions ? `${versions},${versionName(v)}` : versionName(v);
        if (v > best && v <= 0x0304) best = v;
      }
    }
    q = d + len;
  }
  s.attributes['tls.client.versions'] = versions || versionName(legacy);
  s.version = versionName(best);
}

/** Comma-separated protocol names of an ALPN list. */
function alpnList(b: Uint8Array, p: number, end: number): string {
  let out = '';
  while (p < end) {
    const n = b[p];
    if (p + 1 + n > end) break;
    const name = utf8(b, p + 1, p + 1 + n);
    out = out ? `${out},${name}` : name;
    p += 1 + n;
  }
  return out;
}

/** ServerHello: version, cipher, ALPN. Returns true for a HelloRetryRequest. */
function serverHello(b: Uint8Array, p: number, end: number, s: L7Session): boolean {
  if (p + 38 > end) return false;
  let hrr = true;
  for (let i = 0; i < 32; i++) {
    if (b[p + 2 + i] !== HRR_RANDOM[i]) {
      hrr = false;
      break;
    }
  }
  let version = u16(b, p);
  let q = p + 34;
  q += 1 + b[q]; // session id
  if (q + 3 > end) return hrr;
  const cipher = u16(b, q);
  s.attributes['tls.cipher'] = cipherName(cipher);
  s.attributes['tls.cipher_id'] = hex4(cipher);
  q += 3; // cipher, compression
  if (q + 2 <= end) {
    const extEnd = Math.min(end, q + 2 + u16(b, q));
    q += 2;
    while (q + 4 <= extEnd) {
      const type = u16(b, q);
      const len = u16(b, q + 2);
      const d = q + 4;
      if (type === 43 && len >= 2 && d + 2 <= extEnd) version = u16(b, d);
      else if (type === 16 && d + 2 <= extEnd) s.attributes['tls.alpn'] = alpnList(b, d + 2, Math.min(d + 2 + u16(b, d), extEnd));
      q = d + len;
    }
  }
  s.version = versionName(version);
  return hrr;
}

/** Reusable DER cursor state: content bounds of the last element read. */
const der = { start: 0, end: 0 };

/** Reads the DER element at `p` (content bounds into {@link der}); returns its tag, -1 when it does not fit. */
function derAt(b: Uint8Array, p: number, end: number): number {
  if (p + 2 > end) return -1;
  let len = b[p + 1];
  let q = p + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || q + n > end) return -1;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[q + i];
    q += n;
  }
  der.start = q;
  der.end = Math.min(q + len, end);
  return b[p];
}

const SEQUENCE = 0x30;
const SET = 0x31;

/** The server's first certificate (TLS ≤ 1.2): subject CN and notAfter, when cheap to reach. */
function certificate(b: Uint8Array, p: number, end: number, s: L7Session): void {
  if (p + 6 > end) return;
  if (derAt(b, p + 6, end) !== SEQUENCE) return; // Certificate
  if (derAt(b, der.start, der.end) !== SEQUENCE) return; // tbsCertificate
  const tbsEnd = der.end;
  let q = der.start;
  if (derAt(b, q, tbsEnd) === 0xa0) q = der.end; // [0] version (absent in v1)
  // serialNumber, signature, issuer, validity, subject
  let validity = -1;
  let subject = -1;
  for (let i = 0; i < 5 && derAt(b, q, tbsEnd) >= 0; i++) {
    if (i === 3) validity = q;
    else if (i === 4) subject = q;
    q = der.end;
  }
  if (validity >= 0 && derAt(b, validity, tbsEnd) === SEQUENCE) {
    const vEnd = der.end;
    if (derAt(b, der.start, vEnd) >= 0) {
      const tag = derAt(b, der.end, vEnd); // notAfter, after notBefore
      if (tag === 0x17 || tag === 0x18) s.attributes['tls.server.not_after'] = asn1Time(utf8(b, der.start, der.end), tag);
    }
  }
  if (subject < 0 || derAt(b, subject, tbsEnd) !== SEQUENCE) return;
  const nameEnd = der.end;
  let r = der.start;
  // Name: SET { SEQUENCE { OID, value } } …; CN is OID 2.5.4.3 (55 04 03).
  while (derAt(b, r, nameEnd) === SET) {
    const setEnd = der.end;
    if (derAt(b, der.start, setEnd) === SEQUENCE) {
      const atvEnd = der.end;
      if (derAt(b, der.start, atvEnd) === 0x06 && der.end - der.start === 3 && b[der.start] === 0x55 && b[der.start + 1] === 0x04 && b[der.start + 2] === 0x03) {
        if (derAt(b, der.end, atvEnd) >= 0) {
          s.attributes['tls.server.subject_cn'] = utf8(b, der.start, der.end);
          return;
        }
      }
    }
    r = setEnd;
  }
}

/** UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as ISO 8601. */
function asn1Time(t: string, tag: number): string {
  const full = tag === 0x17 ? `${Number(t.slice(0, 2)) >= 50 ? '19' : '20'}${t}` : t;
  if (full.length < 14) return t;
  return `${full.slice(0, 4)}-${full.slice(4, 6)}-${full.slice(6, 8)}T${full.slice(8, 10)}:${full.slice(10, 12)}:${full.slice(12, 14)}Z`;
}

/**
 * Whether the first bytes are a TLS handshake record: a ClientHello from
 * the client or a ServerHello from the server is certain; an alert from the
 * server is plausible.
 */
export function inferTls(data: Uint8Array, dir: Dir): 0 | 1 | 2 {
  if (data.length < 6 || data[1] !== 3 || data[2] > 4) return 0;
  const len = u16(data, 3);
  if (len > MAX_RECORD) return 0;
  if (data[0] === CT_HANDSHAKE) {
    if (dir === 0 && data[5] === 1) return 2;
    if (dir === 1 && data[5] === 2) return 2;
    return 0;
  }
  if (data[0] === CT_ALERT && dir === 1 && len === 2) return 1;
  return 0;
}
