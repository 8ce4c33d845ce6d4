/**
 * Throughput of the MySQL and PostgreSQL parsers on one core, against tshark
 * on the same captures.
 *
 * Run: `npx tsc -p . && node dist/bench/protocols-sql.js [seconds]`
 *
 * Workloads:
 * - the DeepFlow conformance captures (../shared/conformance/deepflow/
 *   flow_generator/mysql and …/postgre);
 * - two synthetic captures written to a temporary folder, large enough for
 *   steady-state figures: MySQL (text queries with 10-row result sets,
 *   INSERTs, prepared statements executed, errors) and PostgreSQL (simple
 *   queries with rows, extended-query batches Parse/Bind/Describe/Execute/
 *   Sync, errors).
 *
 * Each capture is first replayed once through replayPcap with recording
 * parsers, which keeps the exact chunks (and flags) every connection's parser
 * receives. The timed loop then feeds those chunks from memory to fresh
 * parsers — packet decoding and TCP reassembly are not measured — for the
 * given duration (default 3 s per workload), with SQL obfuscation on (the
 * default), and prints sessions/s and MB/s of L7 payload. The baseline is
 * `tshark -r FILE -T fields -e mysql.command` (`-e pgsql.type`) on the same
 * file with the decode-as rules of its ports (wall time, best of three,
 * including tshark's start-up, which dominates on the small conformance
 * files: its time on an empty capture is printed too), and the ratio of our
 * MB/s to tshark's.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mysqlSpec } from '../protocols/mysql';
import { COM_QUERY, COM_STMT_EXECUTE, COM_STMT_PREPARE } from '../protocols/mysql/constants';
import * as my from '../protocols/mysql/testing';
import { postgresqlSpec } from '../protocols/postgresql';
import * as pg from '../protocols/postgresql/testing';
import { buildPacket, writePcap, type WrittenPacket } from '../protocols/testing/pcap-writer';
import { replayPcap } from '../protocols/testing/replay';
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
function record(file: string, spec: ProtocolSpec): Recorded[] {
  const out: Recorded[] = [];
  const wrapped: ProtocolSpec = {
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
  };
  replayPcap(file, [wrapped]);
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

/** Wall time of tshark extracting `field` from `file`, best of three, and how many values it printed. */
function tshark(file: string, field: string, decodeAs: string[]): { seconds: number; values: number } {
  let best = Infinity;
  let values = 0;
  for (let i = 0; i < 3; i++) {
    const args = ['-r', file, '-n', '-T', 'fields', '-E', 'occurrence=a', '-e', field];
    for (const d of decodeAs) args.push('-d', d);
    const t0 = process.hrtime.bigint();
    const r = spawnSync('tshark', args, { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 30 });
    const t = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`tshark failed on ${file}`);
    best = Math.min(best, t);
    values = r.stdout
      .toString()
      .split(/[\t\n,]/)
      .filter((v) => v !== '').length;
  }
  return { seconds: best, values };
}

/** The server ports of a capture's TCP connections (for decode-as). */
function serverPorts(file: string, spec: ProtocolSpec): number[] {
  const ports = new Set<number>();
  for (const s of replayPcap(file, [spec]).sessions) ports.add(s.server_port);
  return [...ports];
}

// ---- synthetic captures -----------------------------------------------------

/** Writes TCP conversations (payload steps per connection) as a pcap with handshakes and 1448-byte segments. */
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
      const p = buildPacket({ src: dir === 0 ? client : server, dst: dir === 0 ? server : client, protocol: 'tcp', sport: dir === 0 ? cport : serverPort, dport: dir === 0 ? serverPort : cport, seq: seq[dir], ack: seq[1 - dir], flags, payload });
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

function mysqlConversations(connections: number, perConn: number): Array<Array<[Dir, Uint8Array]>> {
  const convs: Array<Array<[Dir, Uint8Array]>> = [];
  const cols = ['id', 'customer', 'status', 'total', 'created_at'];
  for (let c = 0; c < connections; c++) {
    const steps: Array<[Dir, Uint8Array]> = [
      [1, my.packet(0, my.greeting('8.0.36', my.BASE_CAPS))],
      [0, my.packet(1, my.handshakeResponse(my.BASE_CAPS, 'shop', Buffer.from('auth-data-20-bytes..'), 'shop'))],
      [1, my.packet(2, my.ok())],
      [0, my.command(COM_STMT_PREPARE, 'SELECT id, customer, status FROM orders WHERE id = ? AND status <> ?')],
      [1, my.prepareOk(1, 2, 3)],
    ];
    for (let i = 0; i < perConn; i++) {
      const n = c * perConn + i;
      const kind = n % 4;
      if (kind === 0) {
        steps.push([0, my.command(COM_QUERY, `SELECT id, customer, status, total, created_at FROM orders WHERE customer = 'cust-${n}' AND total > ${n % 97}.50 ORDER BY created_at DESC LIMIT 10 /*traceparent='00-${n.toString(16).padStart(32, '0')}-00f067aa0ba902b7-01'*/`)]);
        steps.push([1, my.resultSet(cols, Array.from({ length: 10 }, (_, r) => [String(r), `cust-${n}`, 'paid', '19.99', '2024-05-01 12:00:00']))]);
      } else if (kind === 1) {
        steps.push([0, my.command(COM_QUERY, `INSERT INTO order_items (order_id, sku, qty, price) VALUES (${n}, 'SKU-${n}', 2, 9.99), (${n}, 'SKU-${n + 1}', 1, 4.50)`)]);
        steps.push([1, my.packet(1, my.ok(2))]);
      } else if (kind === 2) {
        steps.push([0, my.command(COM_STMT_EXECUTE, Buffer.concat([my.u32le(1), Buffer.from([0]), my.u32le(1), Buffer.from([0, 1, 0x08, 0, 0xfd, 0]), Buffer.alloc(8, n & 0xff), my.lenencStr('cancelled')]))]);
        steps.push([1, Buffer.concat([my.packet(1, my.lenencInt(3)), my.packet(2, my.columnDef('id')), my.packet(3, my.columnDef('customer')), my.packet(4, my.columnDef('status')), my.packet(5, my.eof()), my.packet(6, Buffer.from([0, 0, 1, 0x31, 4, 0x61, 0x62, 0x63, 0x64, 4, 0x70, 0x61, 0x69, 0x64])), my.packet(7, my.eof())])]);
      } else {
        steps.push([0, my.command(COM_QUERY, `UPDATE inventory SET qty = qty - 1 WHERE sku = 'SKU-${n}'`)]);
        steps.push([1, my.packet(1, n % 8 === 3 ? my.err(1213, '40001', 'Deadlock found when trying to get lock; try restarting transaction') : my.ok(1))]);
      }
    }
    convs.push(steps);
  }
  return convs;
}

function postgresConversations(connections: number, perConn: number): Array<Array<[Dir, Uint8Array]>> {
  const convs: Array<Array<[Dir, Uint8Array]>> = [];
  for (let c = 0; c < connections; c++) {
    const steps: Array<[Dir, Uint8Array]> = [
      [0, pg.startup({ user: 'shop', database: 'shop', application_name: 'orders-api' })],
      [1, Buffer.concat([pg.authentication(0), pg.parameterStatus('server_version', '15.18'), pg.parameterStatus('client_encoding', 'UTF8'), pg.backendKeyData(c, 12345), pg.readyForQuery()])],
    ];
    for (let i = 0; i < perConn; i++) {
      const n = c * perConn + i;
      const kind = n % 3;
      if (kind === 0) {
        steps.push([0, pg.query(`SELECT id, customer, status, total FROM orders WHERE customer = 'cust-${n}' AND total > ${n % 97} ORDER BY id LIMIT 10`)]);
        steps.push([1, Buffer.concat([pg.rowDescription(['id', 'customer', 'status', 'total']), ...Array.from({ length: 10 }, (_, r) => pg.dataRow([String(r), `cust-${n}`, 'paid', '19.99'])), pg.commandComplete('SELECT 10'), pg.readyForQuery()])]);
      } else if (kind === 1) {
        steps.push([0, Buffer.concat([pg.parse('', 'SELECT id, status FROM orders WHERE id = $1 AND status <> $2'), pg.bind('', '', [String(n), 'cancelled']), pg.describe('P', ''), pg.execute(''), pg.sync()])]);
        steps.push([1, Buffer.concat([pg.parseComplete(), pg.bindComplete(), pg.rowDescription(['id', 'status']), pg.dataRow([String(n), 'paid']), pg.commandComplete('SELECT 1'), pg.readyForQuery()])]);
      } else {
        steps.push([0, pg.query(`UPDATE inventory SET qty = qty - 1 WHERE sku = 'SKU-${n}'`)]);
        steps.push([1, n % 9 === 2 ? Buffer.concat([pg.errorResponse({ S: 'ERROR', V: 'ERROR', C: '40P01', M: 'deadlock detected' }), pg.readyForQuery()]) : Buffer.concat([pg.commandComplete('UPDATE 1'), pg.readyForQuery()])]);
      }
    }
    steps.push([0, pg.terminate()]);
    convs.push(steps);
  }
  return convs;
}

// ---- main -------------------------------------------------------------------

function conformanceDir(sub: string): string {
  const a = path.resolve(__dirname, '..', '..', '..', 'shared', 'conformance', 'deepflow', 'flow_generator', sub);
  return fs.existsSync(a) ? a : path.resolve(process.cwd(), '..', 'shared', 'conformance', 'deepflow', 'flow_generator', sub);
}

function main(): void {
  const seconds = Number(process.argv[2] ?? 3);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-bench-sql-'));
  try {
    const myFile = path.join(tmp, 'mysql.pcap');
    const pgFile = path.join(tmp, 'postgresql.pcap');
    writeConversations(myFile, 3306, mysqlConversations(40, 250));
    writeConversations(pgFile, 5432, postgresConversations(40, 250));
    const myDir = conformanceDir('mysql');
    const pgDir = conformanceDir('postgre');
    const myConf = fs.readdirSync(myDir).filter((f) => f.endsWith('.pcap')).map((f) => path.join(myDir, f));
    const pgConf = fs.readdirSync(pgDir).filter((f) => f.endsWith('.pcap')).map((f) => path.join(pgDir, f));
    const workloads: Array<{ name: string; files: string[]; spec: ProtocolSpec; field: string; proto: string }> = [
      { name: `conformance MySQL (${myConf.length} captures)`, files: myConf, spec: mysqlSpec, field: 'mysql.command', proto: 'mysql' },
      { name: `conformance PostgreSQL (${pgConf.length} captures)`, files: pgConf, spec: postgresqlSpec, field: 'pgsql.type', proto: 'pgsql' },
      { name: 'synthetic MySQL (10,000 commands, 40 connections)', files: [myFile], spec: mysqlSpec, field: 'mysql.command', proto: 'mysql' },
      { name: 'synthetic PostgreSQL (10,000 queries, 40 connections)', files: [pgFile], spec: postgresqlSpec, field: 'pgsql.type', proto: 'pgsql' },
    ];
    const empty = path.join(tmp, 'empty.pcap');
    writePcap(empty, []);
    console.log(`tshark start-up (empty capture): ${(tshark(empty, 'mysql.command', []).seconds * 1000).toFixed(0)} ms`);
    console.log('workload | sessions/pass | L7 MB/pass | ours sessions/s | ours MB/s | tshark s (values) | tshark MB/s | ours/tshark');
    for (const w of workloads) {
      const conns = w.files.flatMap((f) => record(f, w.spec));
      const m = measure(conns, seconds);
      let ts = 0;
      let values = 0;
      for (const f of w.files) {
        const r = tshark(f, w.field, serverPorts(f, w.spec).map((p) => `tcp.port==${p},${w.proto}`));
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
