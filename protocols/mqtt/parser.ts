/**
 * MQTT 3.1 / 3.1.1 / 5.0 sessions.
 *
 * Pairing (by packet identifier where the protocol has one, per direction of
 * origin: brokers publish to subscribers too):
 * - CONNECT ↔ CONNACK; PUBLISH QoS 1 ↔ PUBACK; PUBLISH QoS 2 ↔ PUBREC and
 *   PUBREL ↔ PUBCOMP (two sessions, as DeepFlow reports them); SUBSCRIBE ↔
 *   SUBACK; UNSUBSCRIBE ↔ UNSUBACK; PINGREQ ↔ PINGRESP in order.
 * - PUBLISH QoS 0, DISCONNECT and AUTH have no answer: one session each at
 *   once, status from their reason code (ok when none).
 *
 * Fields (decisions):
 * - request_type: the packet name (`PUBLISH`, `SUBSCRIBE`, …);
 *   request_resource and endpoint: the topic (PUBLISH, MQTT 5 topic aliases
 *   resolved) or the topic filters joined by `,` (SUBSCRIBE, UNSUBSCRIBE), as
 *   DeepFlow does; request_domain: the client id on the CONNECT session, as
 *   DeepFlow does (attribute `mqtt.client_id` carries it on every session of
 *   the connection); request_id: the packet identifier.
 * - version: `3.1`, `3.1.1` or `5.0` from CONNECT (a capture that starts
 *   later reads packets as 3.1.1 until an MQTT 5 CONNACK or ack shows
 *   otherwise); request_length / response_length: the remaining lengths.
 * - response_code: the CONNACK return code / MQTT 5 reason code (SUBACK,
 *   UNSUBACK: the first failure, none when all succeeded; the granted QoS
 *   list is response_result); response_status: CONNACK 0 ok, 1 2 4 5
 *   client_error, 3 server_error (DeepFlow's mapping); reason codes below
 *   0x80 ok, server-side failures (unspecified, server unavailable/busy/
 *   shutting down, use another server, …) server_error, other failures
 *   client_error; response_exception: the MQTT 5 reason string, else the
 *   code's name.
 * - Trace context: MQTT 5 user properties of PUBLISH (`traceparent`, `b3`, …).
 * - The password (and user name, will message) of CONNECT is never read.
 */
import { extractRequestId, extractTraceContext } from '../tracecontext';
import { newSession, type ConnectionParser, type Dir, type FeedFlags, type L7Session, type ParserContext } from '../types';
import {
  connackV3,
  newProps,
  PACKET_NAMES,
  readProps,
  readString,
  reasonName,
  reasonStatus,
  scratch,
  validFirstByte,
  versionText,
  type Props,
} from './packet';

/** Bytes kept of a packet body that spans chunks (topics and properties come first). */
const BODY_CAP = 16 * 1024;
/** Topic aliases remembered per direction (MQTT 5 lets each side allow up to 65535). */
const MAX_ALIASES = 1024;

/** Reasons counted through `ctx.malformed` (a closed set). */
export const MQTT_MALFORMED = {
  header: 'MQTT: invalid fixed header',
  length: 'MQTT: invalid remaining length',
  body: 'MQTT: packet body does not decode',
  internal: 'MQTT: internal parser error',
} as const;

interface Framer {
  /** Reading: 0 first byte, 1 remaining length, 2 body. */
  stage: number;
  first: number;
  remaining: number;
  mult: number;
  lenBytes: number;
  body: Uint8Array | undefined;
  have: number;
  seen: number;
  start: bigint;
  resync: boolean;
}

function newFramer(): Framer {
  return { stage: 0, first: 0, remaining: 0, mult: 1, lenBytes: 0, body: undefined, have: 0, seen: 0, start: 0n, resync: false };
}

/** Parser of one MQTT connection. */
export class MqttParser implements ConnectionParser {
  private readonly framers: [Framer, Framer] = [newFramer(), newFramer()];
  private readonly props: Props = newProps();
  /** 0 until CONNECT (or a v5-only shape) tells. */
  private level = 0;
  private clientId = '';
  private connect: L7Session | undefined;
  /** Awaiting acks, per direction of the packet that waits: PUBLISH QoS 1/2. */
  private readonly publishes: [Map<number, L7Session>, Map<number, L7Session>] = [new Map(), new Map()];
  /** PUBREL awaiting PUBCOMP, per direction of the PUBREL. */
  private readonly releases: [Map<number, L7Session>, Map<number, L7Session>] = [new Map(), new Map()];
  private readonly subscribes = new Map<number, L7Session>();
  private readonly pings: L7Session[] = [];
  private readonly aliases: [Map<number, string>, Map<number, string>] = [new Map(), new Map()];
  private readonly userProp: (name: string) => string | undefined;

  constructor(private readonly ctx: ParserContext) {
    // One lookup function per connection, reading the current packet's properties.
    this.userProp = (name: string) => {
      const p = this.props;
      for (let i = 0; i < p.userCount; i++) if (p.userNames[i].toLowerCase() === name) return p.userValues[i];
      return undefined;
    };
  }

  feed(dir: Dir, data: Uint8Array, timeNs: bigint, flags: FeedFlags): void {
    try {
      const f = this.framers[dir];
      if (flags.gap) {
        this.flushPartial(dir, f, timeNs);
        f.resync = true;
      }
      this.consume(dir, f, data, timeNs);
      if (flags.messageLength !== undefined && flags.messageLength > data.length) this.flushPartial(dir, f, timeNs);
    } catch {
      this.ctx.malformed(MQTT_MALFORMED.internal);
      this.framers[0] = newFramer();
      this.framers[1] = newFramer();
    }
  }

  expire(nowNs: bigint): void {
    const timeout = this.ctx.options.requestTimeoutNs;
    if (this.connect && nowNs - this.connect.start_time >= timeout) {
      this.timeout(this.connect);
      this.connect = undefined;
    }
    for (const m of [...this.publishes, ...this.releases, this.subscribes]) {
      for (const [id, s] of m) {
        if (nowNs - s.start_time < timeout) break; // insertion order is age order
        m.delete(id);
        this.timeout(s);
      }
    }
    while (this.pings.length && nowNs - this.pings[0].start_time >= timeout) this.timeout(this.pings.shift()!);
  }

  close(nowNs: bigint): void {
    this.flushPartial(1, this.framers[1], nowNs);
    this.flushPartial(0, this.framers[0], nowNs);
    if (this.connect) this.timeout(this.connect);
    this.connect = undefined;
    for (const m of [...this.publishes, ...this.releases, this.subscribes]) {
      for (const s of m.values()) this.timeout(s);
      m.clear();
    }
    for (const s of this.pings) this.timeout(s);
    this.pings.length = 0;
  }

  private consume(dir: Dir, f: Framer, d: Uint8Array, t: bigint): void {
    const n = d.length;
    let p = 0;
    if (f.resync) {
      // After lost bytes, trust only a chunk that starts with a packet.
      if (n === 0 || !validFirstByte(d[0])) {
        if (n) this.ctx.malformed(MQTT_MALFORMED.header);
        return;
      }
      f.resync = false;
    }
    const cap = Math.min(this.ctx.options.maxBufferBytes, BODY_CAP);
    while (p < n) {
      if (f.stage === 0) {
        const b = d[p++];
        if (!validFirstByte(b)) {
          this.ctx.malformed(MQTT_MALFORMED.header);
          f.resync = true;
          return;
        }
        f.first = b;
        f.remaining = 0;
        f.mult = 1;
        f.lenBytes = 0;
        f.start = t;
        f.stage = 1;
        continue;
      }
      if (f.stage === 1) {
        const b = d[p++];
        f.remaining += (b & 0x7f) * f.mult;
        f.mult *= 128;
        f.lenBytes++;
        if (b & 0x80) {
          if (f.lenBytes === 4) {
            this.ctx.malformed(MQTT_MALFORMED.length);
            f.stage = 0;
            f.resync = true;
            return;
          }
          continue;
        }
        f.have = 0;
        f.seen = 0;
        if (f.remaining === 0) {
          f.stage = 0;
          this.onPacket(dir, f.first, d, p, p, 0, 1 + f.lenBytes, f.start, t, false);
          continue;
        }
        f.stage = 2;
        continue;
      }
      // Body.
      if (f.seen === 0 && n - p >= f.remaining) {
        // Whole body in this chunk: decode in place, no copy.
        const end = p + f.remaining;
        f.stage = 0;
        this.onPacket(dir, f.first, d, p, end, f.remaining, 1 + f.lenBytes + f.remaining, f.start, t, false);
        p = end;
        continue;
      }
      const k = Math.min(f.remaining - f.seen, n - p);
      const room = Math.min(cap, f.remaining) - f.have;
      if (room > 0) {
        if (!f.body || f.body.length < Math.min(cap, f.remaining)) {
          const nb = new Uint8Array(Math.min(cap, Math.max(f.remaining, 256)));
          if (f.body && f.have) nb.set(f.body.subarray(0, f.have));
          f.body = nb;
        }
        const c = Math.min(room, k);
        f.body.set(d.subarray(p, p + c), f.have);
        f.have += c;
      }
      f.seen += k;
      p += k;
      if (f.seen === f.remaining) {
        f.stage = 0;
        this.onPacket(dir, f.first, f.body!, 0, f.have, f.remaining, 1 + f.lenBytes + f.remaining, f.start, t, false, f.have < f.remaining);
      }
    }
  }

  /** A packet cut by a gap or a prefix capture: decode what arrived of it. */
  private flushPartial(dir: Dir, f: Framer, t: bigint): void {
    if (f.stage === 2 && f.have > 0 && f.body) {
      this.onPacket(dir, f.first, f.body, 0, f.have, f.remaining, 1 + f.lenBytes + f.seen, f.start, t, true);
    }
    f.stage = 0;
    f.have = 0;
    f.seen = 0;
  }

  private get version(): string {
    return versionText(this.level);
  }

  private base(type: number, start: bigint, dir: Dir): L7Session {
    const s = newSession('MQTT', start);
    s.request_type = PACKET_NAMES[type];
    s.version = this.version;
    if (this.clientId) s.attributes['mqtt.client_id'] = this.clientId;
    if (dir === 1) s.attributes['mqtt.from_server'] = 'true';
    return s;
  }

  /**
   * One packet: body in `b[s, e)` (`remaining` declared, `e - s` of it
   * present), `wire` bytes of it seen with the fixed header.
   */
  private onPacket(dir: Dir, first: number, b: Uint8Array, s: number, e: number, remaining: number, wire: number, t0: bigint, t1: bigint, cut: boolean, limited = false): void {
    const type = first >> 4;
    // Running out of body is expected when only part of it arrived (cut) or
    // was kept (limited); it is malformed otherwise.
    const tolerant = cut || limited;
    const v5 = this.level === 5;
    switch (type) {
      case 1: {
        // CONNECT: protocol name, level, flags, keep alive, [props], client id.
        let p = readString(b, s, e);
        if (p < 0 || p + 4 > e) return this.bad();
        const proto = scratch.strValue;
        if (proto !== 'MQTT' && proto !== 'MQIsdp') return this.bad();
        const level = b[p];
        p += 4;
        if (level === 5) {
          p = readProps(b, p, e, this.props);
          if (p < 0) return this.bad();
        }
        p = readString(b, p, e);
        if (p < 0 && !tolerant) return this.bad();
        this.level = level;
        if (p > 0) this.clientId = scratch.strValue;
        const sess = this.base(type, t0, dir);
        sess.request_domain = this.clientId;
        sess.request_length = remaining;
        sess.captured_request_bytes = wire;
        sess.truncated = cut;
        if (this.connect) this.timeout(this.connect);
        this.connect = sess;
        return;
      }
      case 2: {
        // CONNACK: flags, return/reason code, [props].
        if (e - s < 2) return this.bad();
        const code = b[s + 1];
        if (this.level === 0 && remaining > 2) this.level = 5;
        let exception = '';
        let status: L7Session['response_status'];
        if (this.level === 5) {
          if (e - s > 2 && readProps(b, s + 2, e, this.props) > 0) {
            exception = this.props.reasonString;
            if (!this.clientId && this.props.assignedClientId) this.clientId = this.props.assignedClientId;
          }
          status = reasonStatus(code);
          if (!exception) exception = reasonName(code);
        } else {
          const c = connackV3(code);
          status = c.status;
          exception = c.text;
        }
        const sess = this.connect ?? this.base(1, t0, 0);
        this.connect = undefined;
        if (!sess.request_domain && this.clientId) sess.request_domain = this.clientId;
        sess.version = this.version;
        sess.response_code = code;
        this.respond(sess, status, exception, remaining, wire, t1, cut);
        return;
      }
      case 3: {
        const qos = (first >> 1) & 3;
        let p = readString(b, s, e);
        if (p < 0) return tolerant ? undefined : this.bad();
        let topic = scratch.strValue;
        let id = -1;
        if (qos > 0) {
          if (p + 2 > e) return tolerant ? undefined : this.bad();
          id = (b[p] << 8) | b[p + 1];
          p += 2;
        }
        const sess = this.base(type, t0, dir);
        if (v5) {
          p = readProps(b, p, e, this.props);
          if (p < 0 && !tolerant) return this.bad();
          if (p > 0) {
            const alias = this.props.topicAlias;
            if (alias) {
              const aliases = this.aliases[dir];
              if (topic) {
                if (aliases.size < MAX_ALIASES || aliases.has(alias)) aliases.set(alias, topic);
              } else topic = aliases.get(alias) ?? '';
              sess.attributes['mqtt.topic_alias'] = String(alias);
            }
            this.applyUserProps(sess);
            if (this.props.responseTopic) sess.attributes['mqtt.response_topic'] = this.props.responseTopic;
          }
        }
        sess.request_resource = topic;
        sess.endpoint = topic;
        sess.request_length = remaining;
        sess.captured_request_bytes = wire;
        sess.truncated = cut;
        sess.attributes['mqtt.qos'] = String(qos);
        if (first & 1) sess.attributes['mqtt.retain'] = 'true';
        if (first & 8) sess.attributes['mqtt.dup'] = 'true';
        if (qos === 0) {
          // At most once: nothing answers it.
          this.respond(sess, 'ok', '', null, 0, t1, false);
          return;
        }
        sess.request_id = String(id);
        this.await(this.publishes[dir], id, sess);
        return;
      }
      case 4:
      case 5:
      case 7: {
        // PUBACK, PUBREC, PUBCOMP: packet id, [reason code, [props]].
        if (e - s < 2) return this.bad();
        const id = (b[s] << 8) | b[s + 1];
        if (this.level === 0 && remaining > 2) this.level = 5;
        const code = remaining > 2 && e - s > 2 ? b[s + 2] : 0;
        let exception = '';
        if (remaining > 3 && e - s > 3 && readProps(b, s + 3, e, this.props) > 0) exception = this.props.reasonString;
        const waiting = type === 7 ? this.releases[dir === 0 ? 1 : 0] : this.publishes[dir === 0 ? 1 : 0];
        let sess = waiting.get(id);
        if (sess) waiting.delete(id);
        else {
          sess = this.base(type, t0, dir === 0 ? 1 : 0);
          sess.request_id = String(id);
        }
        if (this.level === 5 || remaining > 2) sess.response_code = code;
        this.respond(sess, reasonStatus(code), exception || reasonName(code), remaining, wire, t1, cut);
        return;
      }
      case 6: {
        // PUBREL: packet id, [reason, [props]]; answered by PUBCOMP.
        if (e - s < 2) return this.bad();
        const id = (b[s] << 8) | b[s + 1];
        const sess = this.base(type, t0, dir);
        sess.request_id = String(id);
        sess.request_length = remaining;
        sess.captured_request_bytes = wire;
        sess.truncated = cut;
        this.await(this.releases[dir], id, sess);
        return;
      }
      case 8:
      case 10: {
        // SUBSCRIBE / UNSUBSCRIBE: packet id, [props], topic filters (SUBSCRIBE: each with options).
        if (e - s < 2) return this.bad();
        const id = (b[s] << 8) | b[s + 1];
        let p = s + 2;
        if (v5) {
          p = readProps(b, p, e, this.props);
          if (p < 0) return this.bad();
        }
        let filters = '';
        let count = 0;
        while (p < e) {
          const q = readString(b, p, e);
          if (q < 0) break;
          filters += (count ? ',' : '') + scratch.strValue;
          count++;
          p = type === 8 ? q + 1 : q;
        }
        if (count === 0 && !tolerant) return this.bad();
        const sess = this.base(type, t0, dir);
        sess.request_id = String(id);
        sess.request_resource = filters;
        sess.endpoint = filters;
        sess.request_length = remaining;
        sess.captured_request_bytes = wire;
        sess.truncated = cut || p > e;
        this.await(this.subscribes, id, sess);
        return;
      }
      case 9:
      case 11: {
        // SUBACK / UNSUBACK: packet id, [props], return/reason codes (UNSUBACK 3.1.1 has none).
        if (e - s < 2) return this.bad();
        const id = (b[s] << 8) | b[s + 1];
        let p = s + 2;
        let exception = '';
        if (v5) {
          p = readProps(b, p, e, this.props);
          if (p < 0) return this.bad();
          exception = this.props.reasonString;
        }
        let failure = -1;
        let codes = '';
        for (let i = p; i < e; i++) {
          if (b[i] >= 0x80 && failure < 0) failure = b[i];
          if (i - p < 32) codes += (i > p ? ',' : '') + b[i];
        }
        let sess = this.subscribes.get(id);
        if (sess) this.subscribes.delete(id);
        else {
          sess = this.base(type, t0, 0);
          sess.request_id = String(id);
        }
        // Granted QoS values are not reason codes: a code is reported only on failure.
        if (failure >= 0) sess.response_code = failure;
        sess.response_result = codes;
        const status = failure >= 0 ? reasonStatus(failure) : 'ok';
        this.respond(sess, status, exception || (failure >= 0 ? reasonName(failure) : ''), remaining, wire, t1, cut);
        return;
      }
      case 12: {
        const sess = this.base(type, t0, dir);
        sess.request_length = 0;
        sess.captured_request_bytes = wire;
        if (this.pings.length >= this.ctx.options.maxPendingRequests) this.timeout(this.pings.shift()!);
        this.pings.push(sess);
        return;
      }
      case 13: {
        const sess = this.pings.shift() ?? this.base(type, t0, 0);
        this.respond(sess, 'ok', '', 0, wire, t1, cut);
        return;
      }
      case 14:
      case 15: {
        // DISCONNECT / AUTH: [reason code, [props]]; nothing answers them.
        const code = e > s ? b[s] : 0;
        let exception = '';
        if (e - s > 1 && readProps(b, s + 1, e, this.props) > 0) exception = this.props.reasonString;
        const sess = this.base(type, t0, dir);
        sess.request_length = remaining;
        sess.captured_request_bytes = wire;
        sess.truncated = cut;
        if (remaining > 0) sess.response_code = code;
        // DISCONNECT 0x04 (with will) and AUTH 0x18/0x19 (continue / re-authenticate) are not failures.
        this.respond(sess, reasonStatus(code), exception || reasonName(code), null, 0, t1, false);
        return;
      }
      default:
        return this.bad();
    }
  }

  private bad(): void {
    this.ctx.malformed(MQTT_MALFORMED.body);
  }

  private applyUserProps(sess: L7Session): void {
    if (this.props.userCount === 0) return;
    const tc = extractTraceContext(this.userProp, this.ctx.options.traceIdHeaders);
    if (tc) {
      sess.trace_id = tc.trace_id;
      sess.span_id = tc.span_id;
      sess.parent_span_id = tc.parent_span_id;
    }
    const rid = extractRequestId(this.userProp, this.ctx.options.requestIdHeaders);
    if (rid) sess.x_request_id = rid;
  }

  /** Waits for the answer to `sess` under `id`; the oldest waiter gives up when there are too many. */
  private await(m: Map<number, L7Session>, id: number, sess: L7Session): void {
    const old = m.get(id);
    if (old) {
      // The id is reused before its answer: the earlier packet got none.
      m.delete(id);
      this.timeout(old);
    } else if (m.size >= this.ctx.options.maxPendingRequests) {
      const [firstId, first] = m.entries().next().value as [number, L7Session];
      m.delete(firstId);
      this.timeout(first);
    }
    m.set(id, sess);
  }

  private respond(sess: L7Session, status: L7Session['response_status'], exception: string, length: number | null, wire: number, t1: bigint, cut: boolean): void {
    sess.response_status = status;
    sess.response_exception = exception;
    sess.response_length = length;
    sess.captured_response_bytes = wire;
    sess.end_time = t1 > sess.start_time ? t1 : sess.start_time;
    sess.duration_ns = sess.end_time - sess.start_time;
    if (cut) sess.truncated = true;
    if (!sess.version) sess.version = this.version;
    this.ctx.emit(sess);
  }

  private timeout(s: L7Session): void {
    s.response_status = 'timeout';
    this.ctx.emit(s);
  }
}
