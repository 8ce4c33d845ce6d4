/**
 * The Redis protocol spec (RESP2/RESP3 over TCP). See `parser.ts` for the fields.
 */
import type { Confidence, Dir, ParserContext, ProtocolSpec } from '../types';
import { isKnownCommand } from './commands';
import { RedisParser } from './parser';

export { RedisParser, REDIS_MALFORMED, MAX_ARG_CHARS, MAX_ARGS_SHOWN, resource } from './parser';
export { RESP_MALFORMED } from './resp';

function digitsThenCrlf(d: Uint8Array, p: number, allowSign: boolean): number {
  const n = d.length;
  if (allowSign && p < n && d[p] === 0x2d) p++;
  const start = p;
  while (p < n && d[p] >= 0x30 && d[p] <= 0x39) p++;
  if (p === start || p - start > 10) return -1;
  if (p + 1 >= n) return p === n || (p + 1 === n && d[p] === 13) ? n : -1;
  return d[p] === 13 && d[p + 1] === 10 ? p + 2 : -1;
}

function upperWord(d: Uint8Array, s: number, e: number): string {
  let out = '';
  for (let i = s; i < e; i++) {
    let c = d[i];
    if (c >= 0x61 && c <= 0x7a) c -= 0x20;
    if (!((c >= 0x41 && c <= 0x5a) || c === 0x2e || c === 0x5f || c === 0x2d)) return '';
    out += String.fromCharCode(c);
  }
  return out;
}

/**
 * Requests: an array of bulk strings whose first is a known command is
 * certain, any other command-like array plausible, a known inline command
 * (`PING\r\n`) plausible. Replies: a well-formed RESP type line is
 * plausible (`+OK` is also NATS and POP3, `-ERR` too).
 */
function inferRedis(d: Uint8Array, dir: Dir): Confidence {
  const n = d.length;
  if (n < 3) return 0;
  if (dir === 0) {
    if (d[0] === 0x2a) {
      let p = digitsThenCrlf(d, 1, false);
      if (p < 0 || p >= n) return p === n ? 1 : 0;
      if (d[p] !== 0x24) return 0;
      const q = digitsThenCrlf(d, p + 1, false);
      if (q < 0 || q >= n) return q === n ? 1 : 0;
      let len = 0;
      for (let i = p + 1; d[i] !== 13; i++) len = len * 10 + d[i] - 0x30;
      if (len === 0 || len > 40) return 0;
      if (q + len > n) return 1;
      p = q + len;
      const word = upperWord(d, q, p);
      if (word === '') return 0;
      if (p + 2 <= n && (d[p] !== 13 || d[p + 1] !== 10)) return 0;
      return isKnownCommand(word) ? 2 : 1;
    }
    const lf = d.indexOf(10);
    if (lf < 0 || d[lf - 1] !== 13) return 0;
    let sp = 0;
    while (sp < lf - 1 && d[sp] !== 0x20) sp++;
    const word = upperWord(d, 0, sp);
    if (word === '' || !isKnownCommand(word)) return 0;
    // "GET / HTTP/1.1" is HTTP, not an inline GET.
    if (Buffer.from(d.buffer, d.byteOffset, lf).includes(' HTTP/')) return 0;
    return 1;
  }
  const t = d[0];
  if (t === 0x2a || t === 0x24 || t === 0x25 || t === 0x7e || t === 0x3e || t === 0x3d || t === 0x21) return digitsThenCrlf(d, 1, true) > 0 ? 1 : 0;
  if (t === 0x3a) return digitsThenCrlf(d, 1, true) > 0 ? 1 : 0;
  if (t === 0x2b || t === 0x2d) {
    const lf = d.indexOf(10);
    if (lf < 2 || d[lf - 1] !== 13) return 0;
    for (let i = 1; i < lf - 1; i++) if (d[i] < 0x20 || d[i] >= 0x7f) return 0;
    // Error replies start with an upper-case code (ERR, WRONGTYPE, NOAUTH, …).
    if (t === 0x2d && !(d[1] >= 0x41 && d[1] <= 0x5a)) return 0;
    return 1;
  }
  if (t === 0x5f || t === 0x23) return n >= 3 && d[n - 2] === 13 ? 1 : 0;
  return 0;
}

/** Redis over TCP. */
export const spec: ProtocolSpec = {
  name: 'Redis',
  transport: 'tcp',
  ports: [6379, 6380, 26379],
  infer(data: Uint8Array, dir: Dir): Confidence {
    try {
      return inferRedis(data, dir);
    } catch {
      return 0;
    }
  },
  create(ctx: ParserContext) {
    return new RedisParser(ctx);
  },
};
