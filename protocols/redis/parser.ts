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
import { CONFIRMATION_OF, MESSAGE_PUSHES, Rule, ruleOf, subcommandsOf, type ArgRule, type CommandInfo } from './commands';
import { INLINE, RespReader, type RespSink } from './resp';

const CONFIRMATIONS = new Set(Object.values(CONFIRMATION_OF));

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

/** DeepFlow's name of each RESP type byte; '' for the others. An array indexed by the byte (a dense lookup). */
const TYPE_NAMES: readonly string[] = (() => {
  const names: string[] = new Array<string>(256).fill('');
  const byType: Array<[number, string]> = [
    [0x2b, 'SimpleString'],
    [0x2d, 'SimpleError'],
    [0x3a, 'Integer'],
    [0x24, 'BulkString'],
    [0x2a, 'Array'],
    [0x5f, 'Null'],
    [0x23, 'Boolean'],
    [0x2c, 'Double'],
    [0x28, 'BigNumber'],
    [0x21, 'BulkError'],
    [0x3d, 'VerbatimString'],
    [0x25, 'Map'],
    [0x7e, 'Set'],
    [0x3e, 'Push'],
  ];
  for (const [t, name] of byType) names[t] = name;
  return names;
})();

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
  /** The command table entry argsToSkip found, and the request message (reader msgSeq) it belongs to. */
  private cmdInfo: CommandInfo | undefined = undefined;
  private cmdInfoSeq = -1;

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

  /**
   * Values this request's rule elides whatever they hold (obfuscation on,
   * positional rules) need not be copied: {@link planArgs} hides them without
   * reading them.
   */
  argsToSkip(r: RespReader): number {
    if (!this.ctx.options.obfuscateSql) return 0;
    // The command (slot 0) is complete and will not change: onRequest reuses the lookup.
    const info = r.argCommand(0);
    this.cmdInfo = info;
    this.cmdInfoSeq = r.msgSeq;
    return info === undefined ? 0 : info.skipMask;
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
    // Known names come from the command table with their facts; any other
    // name is upper-cased into a string and looked up the slow way.
    const info = r.argCount === 0 ? undefined : this.cmdInfoSeq === r.msgSeq ? this.cmdInfo : r.argCommand(0);
    let cmd: string;
    let subs: Set<string> | undefined;
    let rule: ArgRule;
    let confirm: string;
    if (info !== undefined) {
      cmd = info.upper;
      subs = info.subs;
      rule = info.rule;
      confirm = info.confirm;
    } else {
      cmd = r.argCount > 0 ? r.argUpper(0) : '';
      subs = subcommandsOf(cmd);
      rule = ruleOf(cmd);
      confirm = CONFIRMATION_OF[cmd] ?? '';
    }
    let type = cmd;
    if (subs && r.argCount > 1) {
      const sub = r.argUpper(1);
      if (subs.has(sub)) type = `${cmd} ${sub}`;
    }
    s.request_type = type;
    s.request_resource = r.topType === INLINE || r.topType === 0x2a ? resourceOf(r, rule, this.ctx.options.obfuscateSql) : '';
    s.request_length = r.msgBytes;
    s.captured_request_bytes = r.msgBytes;
    s.truncated = truncated;
    const hello = cmd === 'HELLO' && r.argCount > 1 ? Number(r.arg(1)) : 0;
    if (this.pending.length - this.head >= this.ctx.options.maxPendingRequests) this.finishTimeout(this.shift());
    this.pending.push({ session: s, confirm, hello: Number.isInteger(hello) ? hello : 0 });
  }

  private onReply(r: RespReader, endTime: bigint, truncated: boolean): void {
    const t = r.topType;
    if (isResp3Only(t)) this.version = '3';
    const head = this.head < this.pending.length ? this.pending[this.head] : undefined;
    // The kind (first element) matters only to a pending (UN)SUBSCRIBE, a
    // RESP3 push or a RESP2 subscriber: other array replies (HGETALL, MGET,
    // …) skip decoding it.
    if ((t === 0x3e || (t === 0x2a && (this.subscribed || (head !== undefined && head.confirm !== '')))) && r.argCount > 0 && r.argLen[0] <= 16) {
      const kind = r.arg(0).toLowerCase();
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
    s.response_result = TYPE_NAMES[t & 0xff];
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
  return resourceOf(r, ruleOf(cmd), obfuscate);
}

/** What {@link planArgs} decides per argument. */
const SHOW = 0;
/** Written as ` ?`. */
const HIDE = 1;
/** Written as nothing (the rest of a collapsed run, already shown as one ` ?`). */
const SKIP = 2;
/** Per-argument decisions of the request being written (arguments are at most MAX_ARGS_SHOWN + 1). */
const ACTIONS = new Uint8Array(MAX_ARGS_SHOWN + 1);

/**
 * Decides for arguments 1… of `r` whether each is shown, hidden or skipped
 * (into {@link ACTIONS}); returns whether a run was collapsed.
 */
function planArgs(r: RespReader, rule: ArgRule, obfuscate: boolean): boolean {
  const n = r.argCount;
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
      ACTIONS[i] = collapsed ? SKIP : HIDE;
      collapsed = true;
    } else ACTIONS[i] = hide ? HIDE : SHOW;
  }
  return collapsed;
}

/** Room for the longest command line {@link resourceOf} writes: every argument shown whole (` ` + 64 + `...`), plus the tail. */
const LINE = new Uint8Array((MAX_ARGS_SHOWN + 1) * (MAX_ARG_CHARS + 4) + 8);
const LATIN1 = (Buffer.prototype as unknown as { latin1Slice: (this: Uint8Array, start: number, end: number) => string }).latin1Slice;
const DOT = 0x2e;
const QMARK = 0x3f;
const SPACE = 0x20;

/**
 * Writes argument `i` as {@link shown} shows it, preceded by a space when it
 * is not the command (`i > 0`), into {@link LINE} at `o`; returns the new
 * end, or -1 when the argument is not ASCII (its text is then not its bytes).
 */
function putShown(r: RespReader, i: number, o: number): number {
  const len = r.argLen[i];
  const b = r.argBuf;
  const base = i * r.argCap;
  if (i > 0) LINE[o++] = SPACE;
  const c = len > MAX_ARG_CHARS ? MAX_ARG_CHARS : len;
  // Copies while checking: any byte from 0x80 on (in the shown part or the
  // rest) sends the caller to the string path.
  for (let k = 0; k < c; k++) {
    const x = b[base + k];
    if (x >= 0x80) return -1;
    LINE[o + k] = x;
  }
  for (let k = c; k < len; k++) if (b[base + k] >= 0x80) return -1;
  o += c;
  if (len > MAX_ARG_CHARS || r.argCut(i)) {
    LINE[o++] = DOT;
    LINE[o++] = DOT;
    LINE[o++] = DOT;
  }
  return o;
}

/**
 * {@link resource} with the rule known. With ASCII arguments (the usual
 * case) the line is composed as bytes and decoded once; an argument that is
 * not ASCII sends the line through strings (UTF-8 decoded per argument), so
 * the text is the same either way.
 */
function resourceOf(r: RespReader, rule: ArgRule, obfuscate: boolean): string {
  const n = r.argCount;
  if (n === 0) return '';
  const collapsed = planArgs(r, rule, obfuscate);
  const tail = r.elements > n && !collapsed;
  let o = putShown(r, 0, 0);
  for (let i = 1; i < n && o >= 0; i++) {
    const a = ACTIONS[i];
    if (a === SHOW) o = putShown(r, i, o);
    else if (a === HIDE) {
      LINE[o++] = SPACE;
      LINE[o++] = QMARK;
    }
  }
  if (o >= 0) {
    if (tail) {
      LINE[o++] = SPACE;
      LINE[o++] = DOT;
      LINE[o++] = DOT;
      LINE[o++] = DOT;
    }
    return LATIN1.call(LINE, 0, o);
  }
  let out = shown(r, 0);
  for (let i = 1; i < n; i++) {
    const a = ACTIONS[i];
    if (a === SHOW) out += ' ' + shown(r, i);
    else if (a === HIDE) out += ' ?';
  }
  return tail ? out + ' ...' : out;
}
