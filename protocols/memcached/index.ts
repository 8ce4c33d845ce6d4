/**
 * The Memcached protocol spec (text protocol over TCP). See `parser.ts` for the fields.
 */
import type { Confidence, Dir, ParserContext, ProtocolSpec } from '../types';
import { isMemcachedCommand, MemcachedParser } from './parser';

export { MemcachedParser, MEMCACHED_MALFORMED, MAX_KEYS } from './parser';

const CERTAIN_REPLIES = ['STORED', 'NOT_STORED', 'EXISTS', 'NOT_FOUND', 'DELETED', 'TOUCHED'];
const PLAUSIBLE_REPLIES = ['END', 'ERROR', 'OK', 'HD', 'EN', 'NF', 'NS', 'EX', 'MN'];

function isNum(w: string): boolean {
  return w.length > 0 && w.length <= 20 && /^\d+$/.test(w);
}

/**
 * Requests: a storage command with numeric flags, expiry and length (or
 * `gat` with a numeric expiry) is certain; any other known lower-case
 * command line plausible (`get k` could be an inline Redis command).
 * Replies: `VALUE k f n`, STORED and the other storage replies, `STAT`
 * lines are certain; END, ERROR, VERSION and the meta codes plausible.
 * The binary protocol (magic 0x80/0x81) is not handled.
 */
function inferMemcached(data: Uint8Array, dir: Dir): Confidence {
  const lf = data.indexOf(10);
  if (lf < 1 || data[lf - 1] !== 13 || lf > 2048) return 0;
  for (let i = 0; i < lf - 1; i++) if (data[i] < 0x20 || data[i] >= 0x7f) return 0;
  const words = Buffer.from(data.buffer, data.byteOffset, lf - 1).toString('latin1').split(' ').filter(Boolean);
  if (words.length === 0) return 0;
  const w = words[0];
  if (dir === 0) {
    if (!isMemcachedCommand(w)) return 0;
    if (w === 'set' || w === 'add' || w === 'replace' || w === 'append' || w === 'prepend' || w === 'cas') {
      const n = w === 'cas' ? 6 : 5;
      return words.length >= n && isNum(words[2]) && isNum(words[3]) && isNum(words[4]) && (w !== 'cas' || isNum(words[5])) ? 2 : 0;
    }
    if (w === 'gat' || w === 'gats') return words.length >= 3 && isNum(words[1]) ? 2 : 0;
    if ((w === 'incr' || w === 'decr') && words.length >= 3) return isNum(words[2]) ? 2 : 0;
    if (w === 'get' || w === 'gets' || w === 'delete' || w === 'touch' || w.length === 2) return words.length >= 2 ? 1 : 0;
    return 1;
  }
  if (w === 'VALUE') return words.length >= 4 && isNum(words[2]) && isNum(words[3]) ? 2 : 0;
  if (w === 'STAT') return words.length >= 3 ? 2 : 0;
  if (CERTAIN_REPLIES.includes(w)) return words.length === 1 ? 2 : 0;
  if (w === 'VERSION' || w === 'CLIENT_ERROR' || w === 'SERVER_ERROR') return 1;
  if (w === 'VA') return words.length >= 2 && isNum(words[1]) ? 1 : 0;
  return PLAUSIBLE_REPLIES.includes(w) ? 1 : 0;
}

/** Memcached over TCP. */
export const spec: ProtocolSpec = {
  name: 'Memcached',
  transport: 'tcp',
  ports: [11211],
  infer(data: Uint8Array, dir: Dir): Confidence {
    try {
      return inferMemcached(data, dir);
    } catch {
      return 0;
    }
  },
  create(ctx: ParserContext) {
    return new MemcachedParser(ctx);
  },
};
