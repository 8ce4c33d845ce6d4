/**
 * Redis (RESP2 and RESP3) sessions: requests paired with replies in order
 * (pipelining), pub/sub pushes and RESP3 push messages as response-only
 * sessions.
 *
 * Fields (decisions):
 * - request_type: the command upper-cased; a container command with a known
 *   subcommand is named by both (`CLIENT SETNAME`, `CONFIG GET`), as
 *   DeepFlow's command list does.
 * - request_resource: the command line, arguments joined by spaces, each cut
 *   to {@link MAX_ARG_CHARS} characters, at most {@link MAX_ARGS_SHOWN}
 *   arguments. Keys stay; values are elided to `?` per command (SET k ?,
 *   HSET k f ?, LPUSH k ?, …) when `obfuscateSql` is on (the one
 *   obfuscation switch of the parser options). Passwords (AUTH, HELLO …
 *   AUTH, MIGRATE … AUTH, CONFIG SET values, ACL SETUSER rules) are elided
 *   always.
 * - response_status: error replies (`-ERR …`, RESP3 `!` bulk errors) are
 *   server_error as DeepFlow reports them, everything else ok;
 *   response_exception: the error text; response_result: the RESP type of
 *   the reply (`SimpleString`, `BulkString`, `Array`, `Integer`, …, DeepFlow's
 *   names); attribute `redis.status`: the text of a status reply (`OK`).
 * - version: `2`, or `3` once HELLO 3 succeeded or a RESP3-only type was seen.
 * - Pub/sub: a (P|S)SUBSCRIBE / UNSUBSCRIBE session ends with its first
 *   confirmation (one per channel follows, absorbed); `message`, `pmessage`,
 *   `smessage` and other RESP3 pushes become response-only sessions whose
 *   request_type is the push kind upper-cased and request_resource the channel.
 * - A gap on the reply side makes in-order pairing unreliable: the replies
 *   still awaited are reported as `unknown` and truncated.
 */
import { newSession, type ConnectionParser, type Dir, type FeedFlags, type L7Session, type ParserContext } from '../types';
import { CONFIRMATION_OF, MESSAGE_PUSHES, Rule, ruleOf, subcommandsOf } from './commands';

const CONFIRMATIONS = new Set(Object.values(CONFIRMATION_OF));
import { INLINE, RespReader, type RespSink } from './resp';

/** Characters of one argument shown in request_resource. */
export const MAX_ARG_CHARS = 64;
/** Arguments shown in request_resource (the rest becomes `...`). */
export const MAX_ARGS_SHOWN = 24;
/** Characters of an error text kept in response_exception. */
const MAX_ERROR_CHARS = 256;

/** Reasons counted through `ctx.malformed` besides the reader's. */
export const REDIS_MALFORMED = {
  internal: 'Redis: internal parser error',
} as const;

const TYPE_NAMES: Record<number, string> = {
  0x2b: 'SimpleString',
  0x2d: 'SimpleError',
  0x3a: 'Integer',
  0x24: 'BulkString',
  0x2a: 'Array',
  0x5f: 'Null',
  0x23: 'Boolean',
  0x2c: 'Double',
  0x28: 'BigNumber',
  0x21: 'BulkError',
  0x3d: 'VerbatimString',
  0x25: 'Map',
  0x7e: 'Set',
  0x3e: 'Push',
};

/** Types only RESP3 has: seeing one means the connection speaks RESP3. */
function isResp3Only(t: number): boolean {
  return t === 0x5f || t === 0x23 || t === 0x2c || t === 0x28 || t === 0x21 || t === 0x3d || t === 0x25 || t === 0x7e || t === 0x3e;
}

interface Pending {
  session: L7Session;
  /** The confirmation kind it waits for (pub/sub), or ''. */
  confirm: string;
  /** HELLO's protocol version, 0 otherwise. */
  hello: number;
}

/** Parser of one Redis connection. */
export class RedisParser implements ConnectionParser, RespSink {
  private readonly readers: [RespReader, RespReader];
  private pending: Pending[] = [];
  private head = 0;
  private version = '2';
  /** RESP2 subscriber mode: replies may be pub/sub arrays. */
  private subscribed = false;

  constructor(private readonly ctx: ParserContext) {
    const lineCap = ctx.options.maxBufferBytes;
    this.readers = [new RespReader(this, true, lineCap, MAX_ARGS_SHOWN + 1, MAX_ARG_CHARS + 1), new RespReader(this, false, lineCap, 4, 256)];
  }

  feed(dir: Dir, data: Uint8Array, timeNs: bigint, flags: FeedFlags): void {
    try {
      const r = this.readers[dir];
      if (flags.gap) {
        r.gap(timeNs);
        // Replies may have been lost: pairing the next ones in order could
        // give each request another's reply.
        if (dir === 1) this.flushPending(true);
      }
      if (data.length !== 0) r.feed(data, timeNs);
      if (flags.messageLength !== undefined && flags.messageLength > data.length) r.cut(timeNs);
    } catch {
      this.ctx.malformed(REDIS_MALFORMED.internal);
      this.readers[0].gap(timeNs);
      this.readers[1].gap(timeNs);
    }
  }

  expire(nowNs: bigint): void {
    const timeout = this.ctx.options.requestTimeoutNs;
    while (this.head < this.pending.length && nowNs - this.pending[this.head].session.start_time >= timeout) {
      this.finishTimeout(this.shift());
    }
  }

  close(nowNs: bigint): void {
    try {
      // A reply still arriving ends here, truncated (it answers the oldest
      // request); a request still arriving waits no more.
      this.readers[1].cut(nowNs);
      this.readers[0].cut(nowNs);
    } catch {
      this.ctx.malformed(REDIS_MALFORMED.internal);
    }
    while (this.head < this.pending.length) this.finishTimeout(this.shift());
  }

  onRespMalformed(reason: string): void {
    this.ctx.malformed(reason);
  }

  onRespValue(r: RespReader, endTime: bigint, truncated: boolean): void {
    if (r.isRequest) this.onRequest(r, truncated);
    else this.onReply(r, endTime, truncated);
  }

  private onRequest(r: RespReader, truncated: boolean): void {
    const s = newSession('Redis', r.msgStart);
    const cmd = r.argCount > 0 ? r.argUpper(0) : '';
    let type = cmd;
    const subs = subcommandsOf(cmd);
    if (subs && r.argCount > 1) {
      const sub = r.argUpper(1);
      if (subs.has(sub)) type = `${cmd} ${sub}`;
    }
    s.request_type = type;
    s.request_resource = r.topType === INLINE || r.topType === 0x2a ? resource(r, cmd, this.ctx.options.obfuscateSql) : '';
    s.request_length = r.msgBytes;
    s.captured_request_bytes = r.msgBytes;
    s.truncated = truncated;
    const confirm = CONFIRMATION_OF[cmd] ?? '';
    const hello = cmd === 'HELLO' && r.argCount > 1 ? Number(r.arg(1)) : 0;
    if (this.pending.length - this.head >= this.ctx.options.maxPendingRequests) this.finishTimeout(this.shift());
    this.pending.push({ session: s, confirm, hello: Number.isInteger(hello) ? hello : 0 });
  }

  private onReply(r: RespReader, endTime: bigint, truncated: boolean): void {
    const t = r.topType;
    if (isResp3Only(t)) this.version = '3';
    if ((t === 0x3e || t === 0x2a) && r.argCount > 0 && r.argLen[0] <= 16) {
      const kind = r.arg(0).toLowerCase();
      const head = this.head < this.pending.length ? this.pending[this.head] : undefined;
      if (head && head.confirm !== '' && head.confirm === kind) {
        this.trackSubscription(r);
        this.shift();
        this.complete(head.session, r, endTime, truncated);
        return;
      }
      if (t === 0x3e || this.subscribed) {
        if (CONFIRMATIONS.has(kind)) {
          // The 2nd… confirmation of a multi-channel (UN)SUBSCRIBE: part of
          // the session already reported.
          this.trackSubscription(r);
          return;
        }
        if (t === 0x3e || MESSAGE_PUSHES.has(kind)) {
          this.push(r, kind, endTime, truncated);
          return;
        }
      }
    }
    if (this.head < this.pending.length) {
      const p = this.shift();
      if (p.hello && t !== 0x2d && t !== 0x21) this.version = String(p.hello);
      this.complete(p.session, r, endTime, truncated);
      return;
    }
    // A reply whose request we did not see (the capture started late, or MONITOR output).
    this.complete(newSession('Redis', r.msgStart), r, endTime, truncated);
  }

  /** RESP2 subscriber mode follows the subscription count of confirmations. */
  private trackSubscription(r: RespReader): void {
    if (r.argCount >= 3) {
      const count = Number(r.arg(2));
      if (Number.isFinite(count)) this.subscribed = count > 0;
    } else this.subscribed = true;
  }

  private push(r: RespReader, kind: string, endTime: bigint, truncated: boolean): void {
    const s = newSession('Redis', r.msgStart);
    s.request_type = kind.toUpperCase();
    // pmessage: [kind, pattern, channel, payload]; the others: [kind, channel, …].
    const ch = kind === 'pmessage' ? 2 : 1;
    s.request_resource = r.argCount > ch ? r.arg(ch) : '';
    s.attributes['redis.push'] = 'true';
    this.complete(s, r, endTime, truncated);
  }

  private complete(s: L7Session, r: RespReader, endTime: bigint, truncated: boolean): void {
    const t = r.topType;
    s.version = this.version;
    if (t === 0x2d || t === 0x21) {
      s.response_status = 'server_error';
      const text = t === 0x2d ? r.text : r.argCount > 0 ? r.arg(0) : '';
      s.response_exception = text.length > MAX_ERROR_CHARS ? text.slice(0, MAX_ERROR_CHARS) : text;
    } else s.response_status = 'ok';
    s.response_result = TYPE_NAMES[t] ?? '';
    if (t === 0x2b) s.attributes['redis.status'] = r.text.length > 64 ? r.text.slice(0, 64) : r.text;
    s.response_length = r.msgBytes;
    s.captured_response_bytes = r.msgBytes;
    s.end_time = endTime > s.start_time ? endTime : s.start_time;
    s.duration_ns = s.end_time - s.start_time;
    if (truncated) s.truncated = true;
    this.ctx.emit(s);
  }

  private shift(): Pending {
    const p = this.pending[this.head++];
    if (this.head > 64 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
    return p;
  }

  private flushPending(truncated: boolean): void {
    while (this.head < this.pending.length) {
      const s = this.shift().session;
      s.version = this.version;
      s.response_status = 'unknown';
      s.truncated = truncated;
      this.ctx.emit(s);
    }
  }

  private finishTimeout(p: Pending): void {
    p.session.version = this.version;
    p.session.response_status = 'timeout';
    this.ctx.emit(p.session);
  }
}

/** Argument `i` as shown: cut to {@link MAX_ARG_CHARS}. */
function shown(r: RespReader, i: number): string {
  const a = r.arg(i);
  if (a.length > MAX_ARG_CHARS) return a.slice(0, MAX_ARG_CHARS) + '...';
  return r.argCut(i) ? a + '...' : a;
}

/**
 * The command line of a request with values and secrets elided. Positions
 * count the command as 0; `obfuscate` elides values, secrets go regardless.
 */
export function resource(r: RespReader, cmd: string, obfuscate: boolean): string {
  const n = r.argCount;
  if (n === 0) return '';
  const rule = ruleOf(cmd);
  let out = n > 0 ? shown(r, 0) : '';
  let collapsed = false;
  let secretNext = -1;
  let evalEnd = -1;
  let zaddMembers = -1;
  if (rule.rule === Rule.Eval && n > 2) {
    const keys = Number(r.arg(2));
    evalEnd = Number.isInteger(keys) && keys >= 0 ? 3 + keys : 3;
  }
  for (let i = 1; i < n; i++) {
    let hide = false;
    let collapse = false;
    switch (rule.rule) {
      case Rule.Secret:
        collapse = true;
        break;
      case Rule.Hello:
      case Rule.Migrate: {
        if (i === secretNext) hide = true;
        const u = r.argUpper(i);
        if (u === 'AUTH') secretNext = rule.rule === Rule.Hello ? i + 2 : i + 1;
        else if (u === 'AUTH2') secretNext = i + 2;
        break;
      }
      case Rule.ConfigSet:
        hide = i >= 3 && i % 2 === 1 && r.argUpper(1) === 'SET';
        break;
      case Rule.AclSetuser:
        collapse = i >= 3 && r.argUpper(1) === 'SETUSER';
        break;
      case Rule.Nth:
        hide = obfuscate && i === rule.a;
        break;
      case Rule.Nth2:
        hide = obfuscate && (i === rule.a || i === rule.b);
        break;
      case Rule.After:
        collapse = obfuscate && i >= rule.a;
        break;
      case Rule.Every:
        hide = obfuscate && i >= rule.a && (i - rule.a) % rule.b === 0;
        break;
      case Rule.Eval:
        collapse = obfuscate && evalEnd > 0 && i >= evalEnd;
        break;
      case Rule.Zadd:
        if (obfuscate && i >= 2) {
          if (zaddMembers < 0) {
            const u = r.argUpper(i);
            if (u !== 'NX' && u !== 'XX' && u !== 'GT' && u !== 'LT' && u !== 'CH' && u !== 'INCR') zaddMembers = i + 1;
          }
          // score member score member …: the members are the values.
          hide = zaddMembers > 0 && i >= zaddMembers && (i - zaddMembers) % 2 === 0;
        }
        break;
      default:
        break;
    }
    if (collapse) {
      if (!collapsed) out += ' ?';
      collapsed = true;
      continue;
    }
    out += hide ? ' ?' : ' ' + shown(r, i);
  }
  if (r.elements > n && !collapsed) out += ' ...';
  return out;
}
