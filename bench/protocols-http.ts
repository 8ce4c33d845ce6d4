/**
 * Throughput of the HTTP/1, HTTP/2 and gRPC parsers on one core, against
 * tshark on the same captures.
 *
 * Run: `npx tsc -p . && node dist/bench/protocols-http.js [seconds]`
 *
 * Workloads:
 * - the DeepFlow conformance captures (../shared/conformance/deepflow/
 *   flow_generator/http), HTTP/1 ones and HTTP/2 + gRPC ones;
 * - three synthetic captures written to a temporary folder, large enough for
 *   steady-state figures: HTTP/1.1 keep-alive (GETs with browser-like headers,
 *   chunked and Content-Length bodies, POSTs), HTTP/2 (h2load-like: many
 *   concurrent streams, Huffman-coded headers with incremental indexing) and
 *   gRPC (unary calls with trailers).
 *
 * Each capture is first replayed once through replayPcap with recording
 * parsers, which keeps the exact chunks (and flags) every connection's parser
 * receives. The timed loop then feeds those chunks from memory to fresh
 * parsers — packet decoding and TCP reassembly are not measured — for the
 * given duration (default 3 s per workload), and prints sessions/s and MB/s of
 * L7 payload. The baseline is `tshark -r FILE -T fields -e <method> -e
 * <status>` on the same file (wall time, including its start-up, which
 * dominates on the small conformance files: its time on an empty capture is
 * printed too), and the ratio of our MB/s to tshark's.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spec as http1Spec } from '../protocols/http1';
import { spec as http2Spec } from '../protocols/http2';
import { DATA, FLAG_END_HEADERS, FLAG_END_STREAM, HEADERS, PREFACE, SETTINGS } from '../protocols/http2/parser';
import { frame, hpackBlock, type HeaderRep } from '../protocols/http2/testkit';
import { replayPcap } from '../protocols/testing/replay';
import { buildPacket, writePcap, type WrittenPacket } from '../protocols/testing/pcap-writer';
import type { ConnectionParser, Dir, FeedFlags, L7Session, ParserContext, ProtocolSpec } from '../protocols/types';
import { DEFAULT_PARSER_OPTIONS } from '../protocols/types';

interface Chunk {
  dir: Dir;
  data: Uint8Array;
  time: bigint;
  flags: FeedFlags;
}

interface Recorded {
  spec: ProtocolSpec;
  chunks: Chunk[];
  closeAt: bigint;
}

/** Replays a capture once, keeping every chunk each connection's parser gets. */
function record(file: string): Recorded[] {
  const out: Recorded[] = [];
  const wrap = (spec: ProtocolSpec): ProtocolSpec => ({
    ...spec,
    infer: spec.infer.bind(spec),
    create(ctx: ParserContext): ConnectionParser {
      const inner = spec.create(ctx);
      const rec: Recorded = { spec, chunks: [], closeAt: 0n };
      out.push(rec);
      return {
        feed(dir, data, time, flags) {
          rec.chunks.push({ dir, data: Uint8Array.from(data), time, flags: { ...flags } });
          inner.feed(dir, data, time, flags);
        },
        expire: (now) => inner.expire(now),
        close(now) {
          rec.closeAt = now;
          inner.close(now);
        },
      };
    },
  });
  replayPcap(file, [wrap(http1Spec), wrap(http2Spec)]);
  return out;
}

/** Feeds recorded connections to fresh parsers for `seconds`; returns sessions/s and MB/s. */
function measure(conns: Recorded[], seconds: number): { sessionsPerSec: number; mbPerSec: number; sessionsPerPass: number; bytesPerPass: number } {
  let sessions = 0;
  const ctx: ParserContext = {
    options: DEFAULT_PARSER_OPTIONS,
    emit: (_s: L7Session) => {
      sessions++;
    },
    malformed: () => undefined,
  };
  let bytesPerPass = 0;
  for (const c of conns) for (const ch of c.chunks) bytesPerPass += ch.data.length;
  const pass = () => {
    for (const c of conns) {
      const p = c.spec.create(ctx);
      for (const ch of c.chunks) p.feed(ch.dir, ch.data, ch.time, ch.flags);
      p.close(c.closeAt);
    }
  };
  // Warm up (JIT), then time whole passes.
  const warm = Date.now();
  while (Date.now() - warm < 300) pass();
  sessions = 0;
  let passes = 0;
  const start = process.hrtime.bigint();
  const limit = BigInt(Math.round(seconds * 1e9));
  let elapsed = 0n;
  while (elapsed < limit) {
    pass();
    passes++;
    elapsed = process.hrtime.bigint() - start;
  }
  const secs = Number(elapsed) / 1e9;
  return { sessionsPerSec: sessions / secs, mbPerSec: (bytesPerPass * passes) / secs / 1e6, sessionsPerPass: sessions / passes, bytesPerPass };
}

/**
 * Wall time of tshark extracting method and status fields from `file`, best
 * of three, and how many method/status values it printed (proof it decoded).
 */
function tshark(file: string, fields: string[], decodeAs: string[] = []): { seconds: number; values: number } {
  let best = Infinity;
  let values = 0;
  for (let i = 0; i < 3; i++) {
    const args = ['-r', file, '-n', '-T', 'fields', '-E', 'occurrence=a'];
    for (const f of fields) args.push('-e', f);
    for (const d of decodeAs) args.push('-d', d);
    const t0 = process.hrtime.bigint();
    const r = spawnSync('tshark', args, { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 30 });
    const t = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`tshark failed on ${file}`);
    best = Math.min(best, t);
    values = r.stdout.toString().split(/[\t\n,]/).filter((v) => v !== '').length;
  }
  return { seconds: best, values };
}

// ---- synthetic captures -----------------------------------------------------

/** Writes TCP conversations (client/server payload steps per connection) as a pcap with proper handshakes and segmentation. */
function writeConversations(file: string, serverPort: number, convs: Array<Array<[Dir, Uint8Array]>>): void {
  const packets: WrittenPacket[] = [];
  let t = 1_700_000_000_000_000_000n;
  const tick = () => (t += 20_000n);
  convs.forEach((steps, i) => {
    const client = `10.1.${(i >> 8) & 255}.${(i & 255) + 1}`;
    const server = '10.2.0.1';
    const cport = 30000 + i;
    const seq = [1000, 5000];
    const pkt = (dir: Dir, flags: string, payload?: Uint8Array) => {
      const p = buildPacket({
        src: dir === 0 ? client : server,
        dst: dir === 0 ? server : client,
        protocol: 'tcp',
        sport: dir === 0 ? cport : serverPort,
        dport: dir === 0 ? serverPort : cport,
        seq: seq[dir],
        ack: seq[1 - dir],
        flags,
        payload,
      });
      packets.push({ tsNs: tick(), data: p });
    };
    pkt(0, 'S');
    seq[0]++;
    pkt(1, 'SA');
    seq[1]++;
    pkt(0, 'A');
    for (const [dir, data] of steps) {
      for (let o = 0; o < data.length; o += 1448) {
        const seg = data.subarray(o, Math.min(data.length, o + 1448));
        pkt(dir, 'PA', seg);
        seq[dir] += seg.length;
      }
    }
    pkt(0, 'FA');
    seq[0]++;
    pkt(1, 'FA');
    seq[1]++;
    pkt(0, 'A');
  });
  writePcap(file, packets);
}

function http1Conversations(connections: number, perConn: number): Array<Array<[Dir, Uint8Array]>> {
  const convs: Array<Array<[Dir, Uint8Array]>> = [];
  const ua = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
  for (let c = 0; c < connections; c++) {
    const steps: Array<[Dir, Uint8Array]> = [];
    for (let i = 0; i < perConn; i++) {
      const n = c * perConn + i;
      const kind = n % 4;
      const common = `Host: shop.example.com\r\nUser-Agent: ${ua}\r\nAccept: text/html,application/json;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\nCookie: session=abcdef0123456789; theme=dark\r\ntraceparent: 00-${n.toString(16).padStart(32, '0')}-00f067aa0ba902b7-01\r\nX-Request-ID: req-${n}\r\n`;
      if (kind === 3) {
        const body = JSON.stringify({ item: n, qty: 2, note: 'x'.repeat(200) });
        steps.push([0, Buffer.from(`POST /api/v1/cart/${n}/items HTTP/1.1\r\n${common}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`)]);
        steps.push([1, Buffer.from(`HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{"status":"ok"}\n`)]);
      } else {
        steps.push([0, Buffer.from(`GET /api/v1/products/${n}?fields=name,price HTTP/1.1\r\n${common}\r\n`)]);
        const body = 'p'.repeat(kind === 0 ? 1200 : 300);
        if (kind === 1) {
          steps.push([1, Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nServer: nginx\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`)]);
        } else if (kind === 2) {
          steps.push([1, Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 9\r\nServer: nginx\r\n\r\nnot found')]);
        } else {
          steps.push([1, Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nServer: nginx\r\nCache-Control: no-cache\r\n\r\n${body}`)]);
        }
      }
    }
    convs.push(steps);
  }
  return convs;
}

/**
 * A gRPC length-prefixed message. The payloads are valid protobuf: tshark
 * dissects them, and an exception in its protobuf dissector would stop its
 * HTTP/2 reassembly for the rest of the connection.
 */
function grpcMessage(body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

function http2Conversations(connections: number, perConn: number, grpc: boolean): Array<Array<[Dir, Uint8Array]>> {
  const convs: Array<Array<[Dir, Uint8Array]>> = [];
  for (let c = 0; c < connections; c++) {
    const steps: Array<[Dir, Uint8Array]> = [[0, Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, Buffer.from([0, 3, 0, 0, 0, 100]))])], [1, Buffer.concat([frame(SETTINGS, 0, 0), frame(SETTINGS, 1, 0)])]];
    // Batches of concurrent streams: requests first, then the responses in reverse order.
    for (let b = 0; b < perConn; b += 50) {
      const ids: number[] = [];
      const reqs: Buffer[] = [];
      for (let i = b; i < Math.min(perConn, b + 50); i++) {
        const id = 1 + 2 * i;
        ids.push(id);
        const first = i === 0;
        // The first request inserts its fields into the table; later ones reference them.
        const reps: HeaderRep[] = grpc
          ? [
              { indexed: 3 },
              { indexed: 6 },
              first ? { name: 4, value: '/shop.v1.Catalog/GetProduct', index: 'incremental', huffman: true } : { indexed: 65 },
              first ? { name: 1, value: 'catalog.shop.svc:50051', index: 'incremental', huffman: true } : { indexed: 64 },
              first ? { name: 31, value: 'application/grpc', index: 'incremental', huffman: true } : { indexed: 63 },
              first ? { name: 'te', value: 'trailers', index: 'incremental', huffman: true } : { indexed: 62 },
              { name: 'traceparent', value: `00-${(c * perConn + i).toString(16).padStart(32, '0')}-00f067aa0ba902b7-01`, huffman: true },
            ]
          : [
              { indexed: 2 },
              { indexed: 7 },
              { name: 4, value: `/static/img/${i}.png`, huffman: true },
              first ? { name: 1, value: 'www.example.com', index: 'incremental', huffman: true } : { indexed: 63 },
              first ? { name: 58, value: 'h2load nghttp2/1.52.0', index: 'incremental', huffman: true } : { indexed: 62 },
            ];
        reqs.push(frame(HEADERS, FLAG_END_HEADERS | (grpc ? 0 : FLAG_END_STREAM), id, hpackBlock(reps)));
        if (grpc) reqs.push(frame(DATA, FLAG_END_STREAM, id, grpcMessage(Buffer.concat([Buffer.from([0x08, 0x2a, 0x12, 0x08]), Buffer.from('product1')]))));
      }
      steps.push([0, Buffer.concat(reqs)]);
      const resps: Buffer[] = [];
      for (const id of ids.reverse()) {
        if (grpc) {
          resps.push(frame(HEADERS, FLAG_END_HEADERS, id, hpackBlock([{ indexed: 8 }, { name: 31, value: 'application/grpc', huffman: true }])));
          resps.push(frame(DATA, 0, id, grpcMessage(Buffer.concat([Buffer.from([0x0a, 58]), Buffer.alloc(58, 0x61)]))));
          resps.push(frame(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, id, hpackBlock([{ name: 'grpc-status', value: id % 10 === 1 ? '5' : '0' }])));
        } else {
          resps.push(frame(HEADERS, FLAG_END_HEADERS, id, hpackBlock([{ indexed: 8 }, { name: 31, value: 'image/png', huffman: true }, { name: 28, value: '800' }])));
          resps.push(frame(DATA, FLAG_END_STREAM, id, Buffer.alloc(800, 3)));
        }
      }
      steps.push([1, Buffer.concat(resps)]);
    }
    convs.push(steps);
  }
  return convs;
}

// ---- main -------------------------------------------------------------------

function main(): void {
  const seconds = Number(process.argv[2] ?? 3);
  const conf = path.resolve(__dirname, '..', '..', '..', 'shared', 'conformance', 'deepflow', 'flow_generator', 'http');
  const confDir = fs.existsSync(conf) ? conf : path.resolve(process.cwd(), '..', 'shared', 'conformance', 'deepflow', 'flow_generator', 'http');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-bench-http-'));
  try {
    const h1File = path.join(tmp, 'http1.pcap');
    const h2File = path.join(tmp, 'http2.pcap');
    const grpcFile = path.join(tmp, 'grpc.pcap');
    writeConversations(h1File, 8080, http1Conversations(40, 250));
    writeConversations(h2File, 8443, http2Conversations(20, 500, false));
    writeConversations(grpcFile, 50051, http2Conversations(20, 500, true));
    const confFiles = fs.readdirSync(confDir).filter((f) => f.endsWith('.pcap'));
    const h1Conf = confFiles.filter((f) => ['client-ip.pcap', 'httpv1.pcap', 'sw8.pcap'].includes(f)).map((f) => path.join(confDir, f));
    const h2Conf = confFiles.filter((f) => !['client-ip.pcap', 'httpv1.pcap', 'sw8.pcap'].includes(f)).map((f) => path.join(confDir, f));
    const h1Fields = ['http.request.method', 'http.response.code'];
    const h2Fields = ['http2.headers.method', 'http2.headers.status'];
    const workloads: Array<{ name: string; files: string[]; fields: string[]; decodeAs: string[] }> = [
      { name: 'conformance HTTP/1 (client-ip, httpv1, sw8)', files: h1Conf, fields: h1Fields, decodeAs: [] },
      { name: 'conformance HTTP/2 + gRPC (6 captures)', files: h2Conf, fields: h2Fields, decodeAs: ['tcp.port==9001,http2', 'tcp.port==38888,http2', 'tcp.port==30035,http2', 'tcp.port==7000,http2', 'tcp.port==7070,http2', 'tcp.port==11800,http2'] },
      { name: 'synthetic HTTP/1.1 keep-alive (10,000 requests)', files: [h1File], fields: h1Fields, decodeAs: [] },
      { name: 'synthetic HTTP/2 (10,000 streams, 50 concurrent)', files: [h2File], fields: h2Fields, decodeAs: ['tcp.port==8443,http2'] },
      { name: 'synthetic gRPC unary (10,000 calls)', files: [grpcFile], fields: h2Fields, decodeAs: ['tcp.port==50051,http2'] },
    ];
    const empty = path.join(tmp, 'empty.pcap');
    writePcap(empty, []);
    const tsharkStartup = tshark(empty, h1Fields).seconds;
    console.log(`tshark start-up (empty capture): ${(tsharkStartup * 1000).toFixed(0)} ms`);
    console.log('workload | sessions/pass | L7 MB/pass | ours sessions/s | ours MB/s | tshark s (values) | tshark MB/s | ours/tshark');
    for (const w of workloads) {
      const conns = w.files.flatMap((f) => record(f));
      const m = measure(conns, seconds);
      let ts = 0;
      let values = 0;
      for (const f of w.files) {
        const r = tshark(f, w.fields, w.decodeAs);
        ts += r.seconds;
        values += r.values;
      }
      const tsMb = m.bytesPerPass / ts / 1e6;
      console.log(
        `${w.name} | ${m.sessionsPerPass.toFixed(0)} | ${(m.bytesPerPass / 1e6).toFixed(3)} | ${m.sessionsPerSec.toFixed(0)} | ${m.mbPerSec.toFixed(1)} | ${ts.toFixed(2)} (${values}) | ${tsMb.toFixed(2)} | ${(m.mbPerSec / tsMb).toFixed(0)}x`,
      );
    }
  } finally {
    // MF_BENCH_KEEP=1 keeps the synthetic captures (to look at them with tshark).
    if (process.env.MF_BENCH_KEEP) console.log(`captures kept in ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main();
