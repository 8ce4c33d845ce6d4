/**
 * Random and mutated input never makes the HTTP parsers throw: 24,000 inputs
 * through HTTP/1, HTTP/2, HPACK and inference, with random chunking, gaps and
 * prefix flags. A seeded generator makes any failure reproducible (the seed
 * and case number are in the failure message).
 */
import { inferHttp1 } from '../http1';
import { Http1Parser } from '../http1/parser';
import type { Dir, FeedFlags, L7Session, ParserContext } from '../types';
import { DEFAULT_PARSER_OPTIONS } from '../types';
import { HpackDecoder } from './hpack';
import { CONTINUATION, DATA, GOAWAY, HEADERS, Http2Parser, inferHttp2, PREFACE, RST_STREAM, SETTINGS } from './parser';
import { frame, hpackBlock, literalBlock } from './testkit';

/** xorshift32: small, fast, deterministic. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

const H1_SAMPLES: Array<[Dir, string]> = [
  [0, 'GET /a/1?x=y HTTP/1.1\r\nHost: h\r\nTraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n'],
  [1, 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'],
  [0, 'POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\nX: y\r\n\r\n'],
  [1, 'HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
  [0, 'HEAD / HTTP/1.0\r\n\r\n'],
  [1, 'HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\n'],
  [0, 'GET /ws HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n'],
  [1, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n'],
  [0, PREFACE.toString('latin1')],
  [1, 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 500 Oops\r\n\r\n'],
];

function h2Samples(): Array<[Dir, Buffer]> {
  const req = literalBlock([
    [':method', 'POST'],
    [':path', '/pkg.S/M'],
    [':authority', 'a:1'],
    ['content-type', 'application/grpc'],
  ]);
  const huff = hpackBlock([{ indexed: 2 }, { name: 4, value: '/huff/1', index: 'incremental', huffman: true }, { name: 'x-k', value: 'v', index: 'incremental', huffman: true }, { indexed: 62 }]);
  return [
    [0, Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, Buffer.from([0, 3, 0, 0, 0, 100]))])],
    [0, Buffer.concat([frame(HEADERS, 0x24, 1, Buffer.concat([Buffer.from([0, 0, 0, 0, 16]), req.subarray(0, 8)])), frame(CONTINUATION, 4, 1, req.subarray(8))])],
    [0, frame(DATA, 1, 1, Buffer.from([0, 0, 0, 0, 2, 8, 1]))],
    [1, Buffer.concat([frame(SETTINGS, 1, 0), frame(HEADERS, 4, 1, literalBlock([[':status', '200'], ['content-type', 'application/grpc']]))])],
    [1, Buffer.concat([frame(DATA, 8, 1, Buffer.from([2, 0, 0, 0, 0, 1, 9, 0, 0])), frame(HEADERS, 5, 1, literalBlock([['grpc-status', '3'], ['grpc-message', 'bad%20arg']]))])],
    [0, frame(HEADERS, 5, 3, huff)],
    [1, frame(RST_STREAM, 0, 3, Buffer.from([0, 0, 0, 8]))],
    [1, frame(GOAWAY, 0, 0, Buffer.from([0, 0, 0, 1, 0, 0, 0, 0]))],
  ];
}

function randomBytes(r: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}

function mutate(r: () => number, b: Buffer): Buffer {
  const out = Buffer.from(b);
  const edits = 1 + ((r() * 4) | 0);
  let cur = out;
  for (let e = 0; e < edits; e++) {
    const kind = (r() * 5) | 0;
    const at = (r() * Math.max(1, cur.length)) | 0;
    if (kind === 0 && cur.length > 0) cur[at] ^= 1 << ((r() * 8) | 0);
    else if (kind === 1 && cur.length > 0) cur[at] = (r() * 256) | 0;
    else if (kind === 2) cur = Buffer.concat([cur.subarray(0, at), randomBytes(r, 1 + ((r() * 8) | 0)), cur.subarray(at)]);
    else if (kind === 3) cur = Buffer.concat([cur.subarray(0, at), cur.subarray(Math.min(cur.length, at + 1 + ((r() * 8) | 0)))]);
    else cur = cur.subarray(0, at);
  }
  return cur;
}

interface Outcome {
  sessions: L7Session[];
  malformed: number;
}

/** Feeds `chunks` with random splits and flags; returns what came out. */
function drive(r: () => number, make: (ctx: ParserContext) => { feed: Http1Parser['feed']; expire: Http1Parser['expire']; close: Http1Parser['close'] }, chunks: Array<[Dir, Buffer]>): Outcome {
  const out: Outcome = { sessions: [], malformed: 0 };
  const ctx: ParserContext = {
    options: { ...DEFAULT_PARSER_OPTIONS, maxBufferBytes: 512 + ((r() * 4096) | 0), maxPendingRequests: 1 + ((r() * 16) | 0), requestTimeoutNs: 5_000_000n },
    emit: (s) => out.sessions.push(s),
    malformed: () => {
      out.malformed++;
    },
  };
  const p = make(ctx);
  let t = 1_000_000n;
  for (const [dir, data] of chunks) {
    let off = 0;
    while (off <= data.length) {
      const n = Math.min(data.length - off, 1 + ((r() * 64) | 0));
      const flags: FeedFlags = {};
      const roll = r();
      if (roll < 0.05) flags.gap = true;
      else if (roll < 0.1) flags.messageLength = n + ((r() * 200) | 0);
      t += BigInt((r() * 2_000_000) | 0);
      p.feed(dir, data.subarray(off, off + n), t, flags);
      if (r() < 0.05) p.expire(t);
      off += n;
      if (n === 0) break;
    }
  }
  p.close(t + 1n);
  return out;
}

function checkSessions(out: Outcome): void {
  for (const s of out.sessions) {
    if (!['HTTP', 'HTTP2', 'gRPC'].includes(s.l7_protocol)) throw new Error(`bad l7_protocol ${s.l7_protocol}`);
    if (s.duration_ns < 0n || s.end_time < s.start_time) throw new Error('negative duration');
    if (s.captured_request_bytes < 0 || s.captured_response_bytes < 0) throw new Error('negative byte count');
    if (!['ok', 'client_error', 'server_error', 'timeout', 'unknown'].includes(s.response_status)) throw new Error(`bad status ${s.response_status}`);
  }
}

const SEED = 0x5eed1;

describe('fuzzing the HTTP parsers', () => {
  it('never throws on 24,000 random or mutated inputs', () => {
    const r = rng(SEED);
    const h1 = H1_SAMPLES.map(([d, s]) => [d, Buffer.from(s, 'latin1')] as [Dir, Buffer]);
    const h2 = h2Samples();
    const makeH1 = (ctx: ParserContext) => new Http1Parser(ctx);
    const makeH2 = (ctx: ParserContext) => new Http2Parser(ctx);
    const decoder = new HpackDecoder();
    let cases = 0;
    let sessions = 0;
    let malformed = 0;
    for (let i = 0; i < 24_000; i++) {
      const kind = i % 6;
      try {
        let out: Outcome | undefined;
        if (kind === 0) {
          // Pure noise to both parsers, both directions.
          const chunks: Array<[Dir, Buffer]> = [
            [0, randomBytes(r, (r() * 400) | 0)],
            [1, randomBytes(r, (r() * 400) | 0)],
          ];
          out = drive(r, r() < 0.5 ? makeH1 : makeH2, chunks);
        } else if (kind === 1 || kind === 2) {
          // A real HTTP/1 conversation, mutated.
          const chunks = Array.from({ length: 2 + ((r() * 6) | 0) }, () => h1[(r() * h1.length) | 0]).map(([d, b]) => [d, kind === 1 ? mutate(r, b) : b] as [Dir, Buffer]);
          out = drive(r, makeH1, chunks);
        } else if (kind === 3 || kind === 4) {
          // A real HTTP/2 conversation, mutated.
          const chunks = Array.from({ length: 2 + ((r() * 6) | 0) }, () => h2[(r() * h2.length) | 0]).map(([d, b]) => [d, kind === 3 ? mutate(r, b) : b] as [Dir, Buffer]);
          out = drive(r, makeH2, chunks);
        } else {
          // HPACK blocks and inference on noise and on mutated blocks.
          const block = r() < 0.5 ? randomBytes(r, (r() * 200) | 0) : mutate(r, h2[(r() * h2.length) | 0][1].subarray(9));
          decoder.decode(block, 0, block.length);
          if (decoder.tableSize > decoder.tableMaxSize) throw new Error('table over its size');
          inferHttp1(block);
          inferHttp2(block);
        }
        if (out) {
          checkSessions(out);
          sessions += out.sessions.length;
          malformed += out.malformed;
        }
      } catch (err) {
        throw new Error(`seed ${SEED} case ${i} (kind ${kind}): ${(err as Error).stack}`);
      }
      cases++;
    }
    expect(cases).toBe(24_000);
    // The generator really exercised the parsers: sessions came out, and malformed input was counted.
    expect(sessions).toBeGreaterThan(5_000);
    expect(malformed).toBeGreaterThan(1_000);
  });
});
