/**
 * AMQP 0-9-1 connection parser (RabbitMQ and other 0-9-1 brokers).
 *
 * Frames: type (1 method, 2 content header, 3 content body, 8 heartbeat),
 * channel, size, payload, frame-end 0xCE; the client opens with the
 * protocol header `AMQP 0 0 9 1`. Sessions follow the protocol's
 * conversations rather than the TCP direction — the server asks too
 * (Connection.Start, Connection.Tune, Basic.Deliver):
 * - a synchronous method and its `-Ok` reply on the same channel make one
 *   session (at most one is outstanding per channel and sender);
 * - a Channel.Close / Connection.Close with an error code answers the
 *   request it interrupts (that request's session gets the reply code and
 *   text); the Close itself is a request answered by CloseOk;
 * - asynchronous methods (Basic.Publish, Deliver, Return, Ack, Nack, Reject,
 *   Connection.Blocked…) and methods sent with no-wait are sessions of their
 *   own, response_status ok (Basic.Return: the code it returns);
 * - content (header and body frames) belongs to the method before it; the
 *   content header's `headers` table gives the trace context.
 *
 * Fields:
 * - request_type: `Class.Method` (`Basic.Publish`, `Queue.Declare`);
 * - request_domain: the exchange; request_resource: the queue the method
 *   names, else the routing key; endpoint: `<exchange>.<routing key>` when
 *   either is set, else the queue (as DeepFlow reports AMQP);
 * - response_code: the reply code of a Close or Return (none for `-Ok`
 *   replies); response_status by code class (see {@link replyStatus});
 *   response_exception: the reply text of an error;
 * - version: `0.9.1`; attributes: `amqp.channel`, `amqp.vhost`,
 *   `amqp.queue`, `amqp.routing_key`, `amqp.body_size`, `amqp.sender`
 *   (`server` for sessions the server started).
 */
import type { ConnectionParser, Dir, FeedFlags, L7Session, ParserContext, ResponseStatus } from '../types';
import { newSession } from '../types';
import { finishTimes, Framer, PendingMap, u16, u32, utf8 } from '../framing';
import type { FrameHandler } from '../framing';
import { HeaderTable } from '../headers';
import { Kind, method, REPLY_NAMES } from './methods';
import type { MethodInfo } from './methods';

const FRAME_METHOD = 1;
const FRAME_HEADER = 2;
const FRAME_BODY = 3;
const FRAME_HEARTBEAT = 8;
const FRAME_END = 0xce;
/** Largest frame we accept (frame_max is negotiated; RabbitMQ caps it far lower). */
const MAX_FRAME = 64 * 1024 * 1024;
/** Channels with state we track per connection (a channel_max far above real use). */
const MAX_CHANNELS = 2048;

/**
 * Status of a reply code. 200 ok; soft (3xx) and channel (4xx) errors and
 * the connection errors caused by the client (frame, syntax, command,
 * channel, unexpected frame, not allowed) are client errors; connection
 * forced, resource error, not implemented and internal error are the
 * server's.
 */
export function replyStatus(code: number): ResponseStatus {
  if (code === 200) return 'ok';
  if (code === 320 || code === 506 || code === 540 || code === 541) return 'server_error';
  return 'client_error';
}

/** A session waiting for its reply or for its content. */
interface Open {
  start_time: bigint;
  session: L7Session;
  info: MethodInfo;
  classId: number;
  methodId: number;
  /** Status decided before the reply (a Close that reports an unattributed error). */
  preset: ResponseStatus | null;
}

/** Content being received on a channel. */
interface Content {
  open: Open;
  /** Body size from the content header; -1 until it arrived. */
  bodySize: number;
  received: number;
  /** The method was a reply (GetOk): the session completes with the content. */
  isReply: boolean;
}

/** Arguments of the current method frame, reset per frame. */
class Args {
  exchange = '';
  routingKey = '';
  queue = '';
  vhost = '';
  replyCode = -1;
  replyText = '';
  noWait = false;

  reset(): void {
    this.exchange = this.routingKey = this.queue = this.vhost = this.replyText = '';
    this.replyCode = -1;
    this.noWait = false;
  }
}

/** Parser for one AMQP 0-9-1 connection. */
export class AmqpParser implements ConnectionParser, FrameHandler {
  readonly headerBytes = 7;
  private readonly framer: Framer;
  /** Synchronous requests waiting for a reply, by sender and channel (at most maxPendingRequests each). */
  private readonly waiting: [PendingMap<number, Open>, PendingMap<number, Open>];
  /** Content expected, by sender and channel. */
  private readonly content: [Map<number, Content>, Map<number, Content>] = [new Map(), new Map()];
  private readonly args = new Args();
  private readonly headers: HeaderTable;
  private vhost = '';
  private version = '0.9.1';
  constructor(private readonly ctx: ParserContext) {
    this.framer = new Framer(this, ctx.options.maxBufferBytes);
    this.headers = new HeaderTable(ctx.options);
    this.waiting = [new PendingMap(ctx.options.maxPendingRequests), new PendingMap(ctx.options.maxPendingRequests)];
  }

  feed(dir: Dir, data: Uint8Array, timeNs: bigint, flags: FeedFlags): void {
    this.framer.feed(dir, data, timeNs, flags);
  }

  expire(nowNs: bigint): void {
    const deadline = nowNs - this.ctx.options.requestTimeoutNs;
    for (const map of this.waiting) for (const o of map.takeOlderThan(deadline)) this.finish(o, 'timeout');
  }

  close(nowNs: bigint): void {
    this.framer.flush(nowNs);
    for (const map of this.content) {
      for (const c of map.values()) this.endContent(c, true);
      map.clear();
    }
    for (const map of this.waiting) {
      for (const o of map.takeAll()) {
        // A Close whose CloseOk never came still ended in a closed connection.
        if (o.info.kind === Kind.Close) this.finish(o, o.preset ?? 'ok');
        else this.finish(o, 'timeout');
      }
    }
  }

  frameLength(_dir: Dir, buf: Uint8Array, off: number): number {
    if (buf[off] === 0x41 && buf[off + 1] === 0x4d && buf[off + 2] === 0x51 && buf[off + 3] === 0x50) return 8; // "AMQP"
    const type = buf[off];
    if (type !== FRAME_METHOD && type !== FRAME_HEADER && type !== FRAME_BODY && type !== FRAME_HEARTBEAT) return -1;
    const size = u32(buf, off + 3);
    return size > MAX_FRAME ? -1 : 8 + size;
  }

  keepBytes(_dir: Dir, buf: Uint8Array, off: number, total: number): number {
    // Message bodies are never parsed: keep only their frame header.
    return buf[off] === FRAME_BODY ? 7 : total;
  }

  onDesync(dir: Dir, reason: string): void {
    this.ctx.malformed(`amqp: ${reason} (${dir === 0 ? 'client' : 'server'})`);
  }

  onFrame(dir: Dir, data: Uint8Array, total: number, seen: number, startNs: bigint, endNs: bigint): void {
    if (data[0] === 0x41) return this.protocolHeader(dir, data, endNs);
    if (data.length === total && data[total - 1] !== FRAME_END) {
      this.ctx.malformed('amqp: missing frame end');
      return;
    }
    const type = data[0];
    const channel = u16(data, 1);
    if (type === FRAME_METHOD) this.methodFrame(dir, channel, data, total, seen, startNs, endNs);
    else if (type === FRAME_HEADER) this.contentHeader(dir, channel, data, total, seen, endNs);
    else if (type === FRAME_BODY) this.contentBody(dir, channel, total, seen, endNs);
    // Heartbeats carry nothing.
  }

  private protocolHeader(dir: Dir, data: Uint8Array, timeNs: bigint): void {
    const v = `${data[5]}.${data[6]}.${data[7]}`;
    if (dir === 0) {
      this.version = data[4] === 0 ? v : `${data[6]}-${data[7]}`;
      return;
    }
    // A server answers with its own protocol header only to refuse ours.
    const s = newSession('AMQP', timeNs);
    s.version = this.version;
    s.request_type = 'Protocol-Header';
    s.response_status = 'client_error';
    s.response_exception = `unsupported protocol version (server speaks ${v})`;
    s.captured_response_bytes = 8;
    s.attributes['amqp.server_version'] = v;
    this.emit(s);
  }

  private methodFrame(dir: Dir, channel: number, data: Uint8Array, total: number, seen: number, startNs: bigint, endNs: bigint): void {
    if (data.length < 11) return this.ctx.malformed('amqp: short method frame');
    const classId = u16(data, 7);
    const methodId = u16(data, 9);
    const info = method(classId, methodId);
    if (!info) return this.ctx.malformed('amqp: unknown method');
    // A new method ends any content still expected on this channel.
    const pendingContent = this.content[dir].get(channel);
    if (pendingContent) {
      this.content[dir].delete(channel);
      this.endContent(pendingContent, true);
    }
    const a = this.args;
    a.reset();
    readArgs(classId, methodId, data, 11, Math.min(data.length, total - 1), a);
    if (classId === 10 && methodId === 40) this.vhost = a.vhost;

    if (info.kind === Kind.Reply) {
      this.reply(dir, channel, info, classId, methodId, total, seen, endNs);
      return;
    }
    const s = this.newRequest(dir, channel, info, total, seen, startNs, endNs);
    const open: Open = { start_time: startNs, session: s, info, classId, methodId, preset: null };
    if (info.kind === Kind.Close) {
      this.closeMethod(dir, channel, open, endNs);
      return;
    }
    if (info.content) {
      if (classId === 60 && methodId === 50) {
        // Basic.Return: the broker hands back an unroutable message.
        s.response_code = a.replyCode;
        open.preset = replyStatus(a.replyCode);
        s.response_exception = a.replyText;
      }
      this.expectContent(dir, channel, { open, bodySize: -1, received: 0, isReply: false });
      return;
    }
    if (info.kind === Kind.Async || a.noWait) {
      this.finish(open, 'ok');
      return;
    }
    this.wait(dir, channel, open);
  }

  private newRequest(dir: Dir, channel: number, info: MethodInfo, total: number, seen: number, startNs: bigint, endNs: bigint): L7Session {
    const a = this.args;
    const s = newSession('AMQP', startNs);
    s.version = this.version;
    s.request_type = info.name;
    s.request_length = total;
    s.captured_request_bytes = seen;
    s.truncated = seen < total;
    s.end_time = endNs;
    s.request_domain = a.exchange;
    s.request_resource = a.queue || a.routingKey;
    s.endpoint = a.exchange || a.routingKey ? `${a.exchange}.${a.routingKey}` : a.queue;
    s.attributes['amqp.channel'] = String(channel);
    if (this.vhost) s.attributes['amqp.vhost'] = this.vhost;
    if (a.queue) s.attributes['amqp.queue'] = a.queue;
    if (a.routingKey) s.attributes['amqp.routing_key'] = a.routingKey;
    if (dir === 1) s.attributes['amqp.sender'] = 'server';
    return s;
  }

  private wait(dir: Dir, channel: number, open: Open): void {
    const map = this.waiting[dir];
    const evicted = map.evicted;
    // Only one synchronous request per channel and sender: an older one on
    // the channel was never answered; beyond the bound the oldest gives way.
    const old = map.add(channel, open);
    if (map.evicted !== evicted) this.ctx.malformed('amqp: pending request limit reached');
    if (old) this.finish(old, 'timeout');
  }

  private reply(dir: Dir, channel: number, info: MethodInfo, classId: number, methodId: number, total: number, seen: number, endNs: bigint): void {
    const map = this.waiting[dir === 0 ? 1 : 0];
    const o = map.get(channel);
    if (o && o.classId === classId && (o.methodId === info.request || (classId === 60 && methodId === 72 && o.methodId === 70))) {
      map.take(channel);
      const s = o.session;
      s.response_length = total;
      s.captured_response_bytes = seen;
      if (seen < total) s.truncated = true;
      s.end_time = endNs;
      this.fillFromReply(s);
      if (info.content) {
        // Basic.GetOk: the message follows; the session ends with it.
        this.expectContent(dir, channel, { open: o, bodySize: -1, received: 0, isReply: true });
        return;
      }
      this.finish(o, o.preset ?? 'ok');
      return;
    }
    // A reply to a request we did not see (capture started late).
    const req = method(classId, info.request);
    const s = newSession('AMQP', endNs);
    s.version = this.version;
    s.request_type = req ? req.name : info.name;
    s.response_length = total;
    s.captured_response_bytes = seen;
    s.truncated = seen < total;
    s.attributes['amqp.channel'] = String(channel);
    if (this.vhost) s.attributes['amqp.vhost'] = this.vhost;
    this.fillFromReply(s);
    // An -Ok reply is a success whether or not we saw what it answers.
    s.response_status = 'ok';
    this.emit(s);
  }

  /** Names a reply adds (Queue.DeclareOk names the queue, GetOk the exchange and routing key). */
  private fillFromReply(s: L7Session): void {
    const a = this.args;
    if (a.queue && !s.request_resource) {
      s.request_resource = a.queue;
      s.attributes['amqp.queue'] = a.queue;
      if (!s.endpoint) s.endpoint = a.queue;
    }
    if (a.exchange && !s.request_domain) s.request_domain = a.exchange;
    if (a.routingKey && !s.attributes['amqp.routing_key']) s.attributes['amqp.routing_key'] = a.routingKey;
  }

  /**
   * Connection.Close / Channel.Close. With an error code it answers the
   * request(s) it interrupts; either way it waits for its CloseOk.
   */
  private closeMethod(dir: Dir, channel: number, open: Open, endNs: bigint): void {
    const a = this.args;
    const s = open.session;
    const code = a.replyCode;
    s.response_code = code >= 0 ? code : null;
    const other = this.waiting[dir === 0 ? 1 : 0];
    let answered = false;
    if (code !== 200 && code >= 0) {
      // A connection error fails what waits on every channel; a channel error its own channel.
      let failed: Open[];
      if (open.classId === 10) failed = other.takeAll();
      else {
        const one = other.take(channel);
        failed = one ? [one] : [];
      }
      for (const o of failed) {
        const r = o.session;
        r.response_code = code;
        r.response_exception = a.replyText || REPLY_NAMES[code] || '';
        r.response_length = s.request_length;
        r.captured_response_bytes = s.captured_request_bytes;
        r.end_time = endNs;
        this.finish(o, replyStatus(code));
        answered = true;
      }
      if (!answered) {
        // Nothing to blame (an asynchronous publish to a missing exchange,
        // an operator closing the connection): the Close is the error.
        open.preset = replyStatus(code);
        s.response_exception = a.replyText || REPLY_NAMES[code] || '';
      } else {
        s.response_result = a.replyText;
      }
    } else if (a.replyText) {
      s.response_result = a.replyText;
    }
    this.wait(dir, channel, open);
  }

  private expectContent(dir: Dir, channel: number, c: Content): void {
    const map = this.content[dir];
    if (map.size >= MAX_CHANNELS) {
      this.ctx.malformed('amqp: content on too many channels at once');
      this.endContent(c, true);
      return;
    }
    map.set(channel, c);
  }

  private contentHeader(dir: Dir, channel: number, data: Uint8Array, total: number, seen: number, endNs: bigint): void {
    const c = this.content[dir].get(channel);
    if (!c) return this.ctx.malformed('amqp: content header without a method');
    const s = c.open.session;
    this.addBytes(c, total, seen, endNs);
    if (data.length < 21) {
      this.content[dir].delete(channel);
      return this.endContent(c, true);
    }
    // class id, weight, body size (64-bit; sizes stay below 2^53).
    c.bodySize = u32(data, 11) * 4294967296 + u32(data, 15);
    s.attributes['amqp.body_size'] = String(c.bodySize);
    this.headers.clear();
    readProperties(data, 19, Math.min(data.length, total - 1), this.headers);
    this.headers.applyTo(s);
    if (c.bodySize === 0) {
      this.content[dir].delete(channel);
      this.endContent(c, false);
    }
  }

  private contentBody(dir: Dir, channel: number, total: number, seen: number, endNs: bigint): void {
    const c = this.content[dir].get(channel);
    if (!c || c.bodySize < 0) return this.ctx.malformed('amqp: content body without a header');
    this.addBytes(c, total, seen, endNs);
    c.received += total - 8;
    if (c.received >= c.bodySize) {
      this.content[dir].delete(channel);
      this.endContent(c, false);
    }
  }

  private addBytes(c: Content, total: number, seen: number, endNs: bigint): void {
    const s = c.open.session;
    if (c.isReply) {
      s.response_length = (s.response_length ?? 0) + total;
      s.captured_response_bytes += seen;
    } else {
      s.request_length = (s.request_length ?? 0) + total;
      s.captured_request_bytes += seen;
    }
    if (seen < total) s.truncated = true;
    s.end_time = endNs;
  }

  private endContent(c: Content, cut: boolean): void {
    if (cut) c.open.session.truncated = true;
    this.finish(c.open, c.open.preset ?? 'ok');
  }

  private finish(o: Open, status: ResponseStatus): void {
    o.session.response_status = status;
    this.emit(o.session);
  }

  private emit(s: L7Session): void {
    finishTimes(s);
    this.ctx.emit(s);
  }
}

/** The position after the short string at `p`, or -1 when it does not fit before `end`. */
function shortStr(b: Uint8Array, p: number, end: number): number {
  if (p >= end) return -1;
  const q = p + 1 + b[p];
  return q > end ? -1 : q;
}

/** The text of the short string at `p` (bounds checked by {@link shortStr}). */
function str(b: Uint8Array, p: number): string {
  return utf8(b, p + 1, p + 1 + b[p]);
}

/**
 * Reads the arguments this parser reports: exchange, routing key, queue,
 * virtual host, reply code and text, and the no-wait bit.
 */
function readArgs(classId: number, methodId: number, b: Uint8Array, p: number, end: number, a: Args): void {
  let q: number;
  switch (classId * 65536 + methodId) {
    case 0x000a0028: // Connection.Open: virtual-host
      if (shortStr(b, p, end) > 0) a.vhost = str(b, p);
      return;
    case 0x000a0032: // Connection.Close
    case 0x00140028: // Channel.Close: reply-code, reply-text
    case 0x003c0032: // Basic.Return: reply-code, reply-text, exchange, routing-key
      if (p + 2 > end) return;
      a.replyCode = u16(b, p);
      q = shortStr(b, p + 2, end);
      if (q < 0) return;
      a.replyText = str(b, p + 2);
      if (classId === 60) exchangeAndKey(b, q, end, a);
      return;
    case 0x0028000a: // Exchange.Declare: reserved, exchange, type, bits(passive, durable, auto-delete, internal, no-wait)
      q = shortStr(b, p + 2, end);
      if (q < 0) return;
      a.exchange = str(b, p + 2);
      q = shortStr(b, q, end);
      if (q >= 0 && q < end) a.noWait = (b[q] & 0x10) !== 0;
      return;
    case 0x00280014: // Exchange.Delete: reserved, exchange, bits(if-unused, no-wait)
      q = shortStr(b, p + 2, end);
      if (q < 0) return;
      a.exchange = str(b, p + 2);
      if (q < end) a.noWait = (b[q] & 0x02) !== 0;
      return;
    case 0x0028001e: // Exchange.Bind
    case 0x00280028: {
      // Exchange.Unbind: reserved, destination, source, routing-key, bits(no-wait)
      q = shortStr(b, p + 2, end);
      if (q < 0) return;
      a.queue = ''; // the destination is an exchange
      const src = q;
      q = shortStr(b, src, end);
      if (q < 0) return;
      a.exchange = str(b, src);
      const rk = q;
      q = shortStr(b, rk, end);
      if (q < 0) return;
      a.routingKey = str(b, rk);
      if (q < end) a.noWait = (b[q] & 0x01) !== 0;
      return;
    }
    case 0x0032000a: // Queue.Declare: reserved, queue, bits(passive, durable, exclusive, auto-delete, no-wait)
      q = shortStr(b, p + 2, end);
      if (q < 0) return;
      a.queue = str(b, p + 2);
      if (q < end) a.noWait = (b[q] & 0x10) !== 0;
      return;
    case 0x0032000b: // Queue.DeclareOk: queue
      if (shortStr(b, p, end) > 0) a.queue = str(b, p);
      return;
    case 0x00320014: // Queue.Bind: reserved, queue, exchange, routing-key, bits(no-wait)
    case 0x00320032: // Queue.Unbind: reserved, queue, exchange, routing-key
      q = shortStr(b, p + 2, end);
      if (q < 0) return;
      a.queue = str(b, p + 2);
      q = exchangeAndKey(b, q, end, a);
      if (methodId === 20 && q >= 0 && q < end) a.noWait = (b[q] & 0x01) !== 0;
      return;
    case 0x0032001e: // Queue.Purge: reserved, queue, bits(no-wait)
    case 0x00320028: // Queue.Delete: reserved, queue, bits(if-unused, if-empty, no-wait)
      q = shortStr(b, p + 2, end);
      if (q < 0) return;
      a.queue = str(b, p + 2);
      if (q < end) a.noWait = (b[q] & (methodId === 30 ? 0x01 : 0x04)) !== 0;
      return;
    case 0x003c0014: // Basic.Consume: reserved, queue, consumer-tag, bits(no-local, no-ack, exclusive, no-wait)
      q = shortStr(b, p + 2, end);
      if (q < 0) return;
      a.queue = str(b, p + 2);
      q = shortStr(b, q, end);
      if (q >= 0 && q < end) a.noWait = (b[q] & 0x08) !== 0;
      return;
    case 0x003c001e: // Basic.Cancel: consumer-tag, bits(no-wait)
      q = shortStr(b, p, end);
      if (q >= 0 && q < end) a.noWait = (b[q] & 0x01) !== 0;
      return;
    case 0x003c0028: // Basic.Publish: reserved, exchange, routing-key
      exchangeAndKey(b, p + 2, end, a);
      return;
    case 0x003c003c: // Basic.Deliver: consumer-tag, delivery-tag, redelivered, exchange, routing-key
      q = shortStr(b, p, end);
      if (q >= 0) exchangeAndKey(b, q + 9, end, a);
      return;
    case 0x003c0046: // Basic.Get: reserved, queue
      if (shortStr(b, p + 2, end) > 0) a.queue = str(b, p + 2);
      return;
    case 0x003c0047: // Basic.GetOk: delivery-tag, redelivered, exchange, routing-key
      exchangeAndKey(b, p + 9, end, a);
      return;
    case 0x0055000a: // Confirm.Select: bits(no-wait)
      if (p < end) a.noWait = (b[p] & 0x01) !== 0;
      return;
    default:
  }
}

/** Exchange then routing key (short strings) at `p`; returns the position after them or -1. */
function exchangeAndKey(b: Uint8Array, p: number, end: number, a: Args): number {
  const q = shortStr(b, p, end);
  if (q < 0) return -1;
  a.exchange = str(b, p);
  const r = shortStr(b, q, end);
  if (r < 0) return -1;
  a.routingKey = str(b, q);
  return r;
}

/**
 * Content header properties from `p` (property flags, then the properties
 * present in flag order): the `headers` table's string values go to `out`.
 */
function readProperties(b: Uint8Array, p: number, end: number, out: HeaderTable): void {
  if (p + 2 > end) return;
  const flags = u16(b, p);
  p += 2;
  let f = flags;
  while (f & 1) {
    // Continuation of the flags (more than 15 properties): skip.
    if (p + 2 > end) return;
    f = u16(b, p);
    p += 2;
  }
  if (flags & 0x8000) p = shortStr(b, p, end); // content-type
  if (p < 0) return;
  if (flags & 0x4000) p = shortStr(b, p, end); // content-encoding
  if (p < 0 || !(flags & 0x2000) || p + 4 > end) return;
  const size = u32(b, p);
  readTable(b, p + 4, Math.min(end, p + 4 + size), out, 0);
}

/** Field table entries whose values are long strings, into `out` (other values skipped). */
function readTable(b: Uint8Array, p: number, end: number, out: HeaderTable, depth: number): void {
  while (p < end) {
    const kEnd = shortStr(b, p, end);
    if (kEnd < 0 || kEnd >= end) return;
    const keyStart = p + 1;
    const type = b[kEnd];
    const v = kEnd + 1;
    const size = fieldSize(b, type, v, end, depth);
    if (size < 0 || v + size > end) return;
    if (type === 0x53) {
      // Long strings: how clients send traceparent and friends.
      const name = utf8(b, keyStart, kEnd).toLowerCase();
      if (out.wants(name)) out.add(name, utf8(b, v + 4, v + size));
    }
    p = v + size;
  }
}

/**
 * Size of a field value of `type` at `p`, or -1. Types as RabbitMQ encodes
 * them (its errata to 0-9-1): t b B s u I i l L f d D S A T F V x.
 */
function fieldSize(b: Uint8Array, type: number, p: number, end: number, depth: number): number {
  switch (type) {
    case 0x74: // t bool
    case 0x62: // b int8
    case 0x42: // B uint8
      return 1;
    case 0x73: // s int16 (RabbitMQ)
    case 0x75: // u uint16
      return 2;
    case 0x49: // I int32
    case 0x69: // i uint32
    case 0x66: // f float
      return 4;
    case 0x6c: // l int64
    case 0x4c: // L uint64
    case 0x64: // d double
    case 0x54: // T timestamp
      return 8;
    case 0x44: // D decimal
      return 5;
    case 0x56: // V void
      return 0;
    case 0x53: // S long string
    case 0x78: // x byte array
    case 0x41: // A array
    case 0x46: // F table
      if (p + 4 > end || depth > 8) return -1;
      return 4 + u32(b, p);
    default:
      return -1;
  }
}

/**
 * Whether the first bytes look like AMQP 0-9-1: the protocol header from
 * the client, or a method frame (Connection.Start from the server) with
 * its frame end where it belongs.
 */
export function inferAmqp(data: Uint8Array, dir: Dir): 0 | 1 | 2 {
  if (data.length >= 8 && data[0] === 0x41 && data[1] === 0x4d && data[2] === 0x51 && data[3] === 0x50) {
    // AMQP 0-9-1 (0 0 9 1) or 0-8/0-9 (1 1 …); AMQP 1.0 (0|2|3 1 0 0) frames differently.
    if (data[4] === 0 && data[5] === 0 && data[6] === 9 && data[7] === 1) return 2;
    if (data[4] === 1 && data[5] === 1) return 1;
    return 0;
  }
  if (data.length < 12 || data[0] !== FRAME_METHOD) return 0;
  const size = u32(data, 3);
  if (size < 4 || size > MAX_FRAME || !method(u16(data, 7), u16(data, 9))) return 0;
  if (data.length >= 8 + size) return data[7 + size] === FRAME_END ? (dir === 1 || u16(data, 1) > 0 ? 2 : 1) : 0;
  return 1;
}
