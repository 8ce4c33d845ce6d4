/**
 * Test support for the HTTP/1 and HTTP/2 parsers: building HTTP/2 frames and
 * HPACK blocks by hand, and running a parser over a scripted conversation.
 * Used by the tests beside the parsers and by the benchmark; not by the
 * parsers themselves.
 */
import type { ConnectionParser, Dir, FeedFlags, L7Session, ParserContext, ParserOptions } from '../types';
import { DEFAULT_PARSER_OPTIONS } from '../types';
import { HUFFMAN_CODES } from './hpack';

/** Bytes from hex written with optional spaces (`'8286 8441'`). */
export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

/** One HTTP/2 frame. */
export function frame(type: number, flags: number, sid: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.alloc(9 + payload.length);
  b.writeUIntBE(payload.length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(sid >>> 0, 5);
  b.set(payload, 9);
  return b;
}

/** Huffman-codes a string with the RFC 7541 code (padding with ones). */
export function huffmanEncode(text: string): Buffer {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const ch of Buffer.from(text, 'latin1')) {
    const code = HUFFMAN_CODES[ch * 2];
    const len = HUFFMAN_CODES[ch * 2 + 1];
    for (let i = len - 1; i >= 0; i--) {
      acc = (acc << 1) | ((code >>> i) & 1);
      bits++;
      if (bits === 8) {
        out.push(acc);
        acc = 0;
        bits = 0;
      }
    }
  }
  if (bits > 0) out.push(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff);
  return Buffer.from(out);
}

/** An HPACK integer with an N-bit prefix; `first` holds the representation's high bits. */
export function hpackInt(value: number, prefixBits: number, first = 0): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

function hpackString(s: string, huffman: boolean): number[] {
  const bytes = huffman ? huffmanEncode(s) : Buffer.from(s, 'latin1');
  return [...hpackInt(bytes.length, 7, huffman ? 0x80 : 0), ...bytes];
}

/** One header field representation, for {@link hpackBlock}. */
export type HeaderRep =
  | { indexed: number }
  | { name: string | number; value: string; index?: 'incremental' | 'none' | 'never'; huffman?: boolean }
  | { tableSize: number };

/** Encodes HPACK header field representations into a header block. */
export function hpackBlock(reps: HeaderRep[]): Buffer {
  const out: number[] = [];
  for (const r of reps) {
    if ('indexed' in r) {
      out.push(...hpackInt(r.indexed, 7, 0x80));
    } else if ('tableSize' in r) {
      out.push(...hpackInt(r.tableSize, 5, 0x20));
    } else {
      const mode = r.index ?? 'none';
      const bits = mode === 'incremental' ? 6 : 4;
      const first = mode === 'incremental' ? 0x40 : mode === 'never' ? 0x10 : 0x00;
      if (typeof r.name === 'number') out.push(...hpackInt(r.name, bits, first));
      else out.push(first, ...hpackString(r.name, !!r.huffman));
      out.push(...hpackString(r.value, !!r.huffman));
    }
  }
  return Buffer.from(out);
}

/** A header block with every field a literal without indexing (names and values raw). */
export function literalBlock(headers: Array<[string, string]>, huffman = false): Buffer {
  return hpackBlock(headers.map(([name, value]) => ({ name, value, huffman })));
}

/** What a scripted run produced. */
export interface RunResult {
  sessions: L7Session[];
  malformed: Record<string, number>;
}

/** One step of a scripted conversation: bytes in a direction, optionally with flags. */
export type Step = [Dir, Uint8Array | string, FeedFlags?];

/**
 * Feeds `steps` to a parser made by `create`, one millisecond apart starting
 * at 1 s, then closes it at the last time + 1 ms (unless `close` is false).
 */
export function runSteps(create: (ctx: ParserContext) => ConnectionParser, steps: Step[], options: Partial<ParserOptions> = {}, close = true): RunResult & { parser: ConnectionParser; lastTime: bigint } {
  const sessions: L7Session[] = [];
  const malformed: Record<string, number> = {};
  const ctx: ParserContext = {
    options: { ...DEFAULT_PARSER_OPTIONS, ...options },
    emit: (s) => sessions.push(s),
    malformed: (reason) => {
      malformed[reason] = (malformed[reason] ?? 0) + 1;
    },
  };
  const parser = create(ctx);
  let t = 1_000_000_000n;
  for (const [dir, data, flags] of steps) {
    t += 1_000_000n;
    parser.feed(dir, typeof data === 'string' ? Buffer.from(data, 'latin1') : data, t, flags ?? {});
  }
  if (close) parser.close(t + 1_000_000n);
  return { sessions, malformed, parser, lastTime: t };
}

/** Splits every step into chunks of `size` bytes (flags stay on the first chunk). */
export function splitSteps(steps: Step[], size: number): Step[] {
  const out: Step[] = [];
  for (const [dir, data, flags] of steps) {
    const b = typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data);
    for (let i = 0; i < b.length; i += size) out.push([dir, b.subarray(i, i + size), i === 0 ? flags : undefined]);
    if (b.length === 0) out.push([dir, b, flags]);
  }
  return out;
}

/** The fields of sessions that do not depend on chunking or timing, for comparisons. */
export function essentials(s: L7Session): Record<string, unknown> {
  return {
    l7_protocol: s.l7_protocol,
    version: s.version,
    request_type: s.request_type,
    request_domain: s.request_domain,
    request_resource: s.request_resource,
    endpoint: s.endpoint,
    request_id: s.request_id,
    response_code: s.response_code,
    response_status: s.response_status,
    response_exception: s.response_exception,
    trace_id: s.trace_id,
    span_id: s.span_id,
    x_request_id: s.x_request_id,
    request_length: s.request_length,
    response_length: s.response_length,
    captured_request_bytes: s.captured_request_bytes,
    captured_response_bytes: s.captured_response_bytes,
    truncated: s.truncated,
    attributes: s.attributes,
  };
}
