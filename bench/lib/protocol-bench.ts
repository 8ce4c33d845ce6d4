/**
 * The machinery of the L7 protocol benchmark (`bench/protocols.ts`), written
 * once: the group files (`bench/protocols-{http,sql,kv,mq}.ts`) only define
 * workloads.
 *
 * How one workload is measured:
 * 1. Its capture files are the protocol's DeepFlow conformance captures, or
 *    a synthetic capture its generator writes to a temporary folder.
 * 2. Each file is replayed once through `replayPcap` with recording specs
 *    ({@link record}): every chunk (and its flags) each connection's parser
 *    receives is kept in memory, with the time the connection was closed.
 * 3. The timed loop ({@link measure}) feeds those chunks to fresh parsers,
 *    connection after connection, in whole passes, for the given number of
 *    seconds after a short warm-up. Packet decoding, TCP reassembly and
 *    inference are not measured: this is the parsers alone, on one core.
 *    Figures: sessions/s, and MB/s of L7 payload (the bytes fed), per wall
 *    second and per CPU second of this process (`process.cpuUsage`, which
 *    on a loaded machine is steadier than wall time; it includes V8's GC
 *    helper threads, so it may exceed wall time). The seconds are split
 *    into {@link ROUNDS} rounds and the best round's time per pass is taken
 *    (wall and CPU separately), as tshark's figure is its best of as many
 *    runs: comparing tshark's best with our mean would charge us, not it,
 *    for the moments a shared machine is busiest. The mean over all rounds
 *    is printed too (last column).
 * 4. In the same run, `tshark -r FILE -n -T fields -e <key fields>` on the
 *    same packets ({@link timeTshark}), with decode-as rules for the server
 *    ports the replay saw, best of three, wall and CPU time (CPU from the
 *    shell's `times`). A protocol's conformance captures are first merged
 *    into one file (`mergecap -a`) so tshark starts once for them; our side
 *    still replays them file by file, as the conformance tests do, so each
 *    file's own client/server rule holds.
 * 5. tshark's start-up (an empty capture, best of five) is subtracted to give
 *    its decoding time; the ratio is our MB/s ÷ tshark's MB/s on the same
 *    bytes, raw and start-up-adjusted, by wall and by CPU time. When start-up
 *    is most of tshark's time (the small conformance files) the adjusted
 *    figure is the difference of two noisy numbers and is shown as
 *    "start-up bound" instead.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { buildPacket, writePcap, type WrittenPacket } from '../../protocols/testing/pcap-writer';
import { replayPcap } from '../../protocols/testing/replay';
import type { ConnectionParser, Dir, FeedFlags, ParserContext, ProtocolSpec } from '../../protocols/types';
import { DEFAULT_PARSER_OPTIONS } from '../../protocols/types';

// ---- workloads ----------------------------------------------------------------

/** Where a workload's packets come from. */
export type CaptureSource =
  /**
   * `*.pcap` of one folder of the DeepFlow conformance suite
   * (…/conformance/deepflow/flow_generator/<folder>), optionally only the
   * file names `include` accepts.
   */
  | { kind: 'conformance'; folder: string; include?: (fileName: string) => boolean }
  /** A generator that writes one capture to `file` (a fresh path in a temporary folder). */
  | { kind: 'synthetic'; write: (file: string) => void };

/** What tshark extracts from a workload's capture: the protocol's key fields. */
export interface TsharkQuery {
  /** `-e` fields; they must exist in the installed tshark or it fails. */
  fields: readonly string[];
  /**
   * The dissector for decode-as: every server port the replay saw gets
   * `<transport>.port==<port>,<dissector>` (a no-op on tshark's default
   * ports). Omitted when tshark has no dissector for the protocol.
   */
  dissector?: string;
  /** Why the figure is not like for like (e.g. no dissector: TCP only). */
  note?: string;
}

/** One row of the benchmark: a protocol, a capture, and tshark's view of it. */
export interface ProtocolWorkload {
  /** The spec measured; its `name` is the protocol column. */
  spec: ProtocolSpec;
  /** Short description; conformance rows get "(N captures)" appended. */
  name: string;
  /**
   * Specs competing while the capture is replayed (default `[spec]`). Every
   * connection one of them parses is measured with the spec that parsed it,
   * e.g. an h2c upgrade starts as HTTP/1.
   */
  replaySpecs?: readonly ProtocolSpec[];
  capture: CaptureSource;
  tshark: TsharkQuery;
}

// ---- record and measure ---------------------------------------------------------

/** One chunk as a parser received it. */
interface Chunk {
  dir: Dir;
  data: Uint8Array;
  time: bigint;
  flags: FeedFlags;
}

/** One connection's parser input, ready to be fed again. */
export interface RecordedConnection {
  spec: ProtocolSpec;
  chunks: Chunk[];
  /** The time `close` was called with. */
  closeAt: bigint;
}

/** What {@link record} kept from the replay. */
export interface Recording {
  connections: RecordedConnection[];
  /** `tcp:3306`, `udp:53`: server ports of the sessions the replay emitted (for decode-as). */
  serverPorts: Set<string>;
}

/**
 * Replays each file once with `specs`, wrapped so every chunk each
 * connection's parser gets is copied (the replay may reuse its buffers).
 */
export function record(files: readonly string[], specs: readonly ProtocolSpec[]): Recording {
  const connections: RecordedConnection[] = [];
  const wrap = (spec: ProtocolSpec): ProtocolSpec => ({
    name: spec.name,
    transport: spec.transport,
    ports: spec.ports,
    infer: (data, dir, port) => spec.infer(data, dir, port),
    create(ctx: ParserContext): ConnectionParser {
      const inner = spec.create(ctx);
      const rec: RecordedConnection = { spec, chunks: [], closeAt: 0n };
      connections.push(rec);
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
  const wrapped = specs.map(wrap);
  const serverPorts = new Set<string>();
  for (const file of files) {
    for (const s of replayPcap(file, wrapped).sessions) serverPorts.add(`${s.transport}:${s.server_port}`);
  }
  return { connections, serverPorts };
}

/** What {@link measure} found, per pass (all connections once) and per second. */
export interface Measurement {
  /** Passes over all rounds. */
  passes: number;
  sessionsPerPass: number;
  bytesPerPass: number;
  /** `ParserContext.malformed` calls per pass (a sanity check: the synthetic captures should have none). */
  malformedPerPass: number;
  /** Totals over all rounds. */
  wallSeconds: number;
  cpuSeconds: number;
  /** Time per pass in the best round (wall and CPU each their own best), the figures compared with tshark's best run. */
  bestWallPerPass: number;
  bestCpuPerPass: number;
}

/**
 * A full garbage collection on demand: `global.gc` when node runs with
 * `--expose-gc`, else the same function obtained by turning the flag on at
 * run time; undefined when neither works.
 */
function gcFunction(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    const f = vm.runInNewContext('gc') as unknown;
    return typeof f === 'function' ? (f as () => void) : undefined;
  } catch {
    return undefined;
  }
}

/** See {@link gcFunction}; looked up once. */
const collectGarbage = gcFunction();

/** How long the JIT gets before timing starts. */
const WARM_UP_MS = 300;
/** Rounds the timed loop is split into (the best counts): as many as tshark's runs. */
export const ROUNDS = 3;

/**
 * Feeds the recorded connections to fresh parsers in whole passes for
 * `seconds` of wall time (after a warm-up), with the default parser options
 * (SQL obfuscation on). Sessions are counted, not kept.
 */
export function measure(conns: readonly RecordedConnection[], seconds: number): Measurement {
  let sessions = 0;
  let malformed = 0;
  const ctx: ParserContext = {
    options: DEFAULT_PARSER_OPTIONS,
    emit: () => {
      sessions++;
    },
    malformed: () => {
      malformed++;
    },
  };
  let bytesPerPass = 0;
  for (const c of conns) for (const ch of c.chunks) bytesPerPass += ch.data.length;
  const pass = (): void => {
    for (const c of conns) {
      const p = c.spec.create(ctx);
      const chunks = c.chunks;
      for (let i = 0; i < chunks.length; i++) {
        const ch = chunks[i];
        p.feed(ch.dir, ch.data, ch.time, ch.flags);
      }
      p.close(c.closeAt);
    }
  };
  const warm = Date.now();
  do pass();
  while (Date.now() - warm < WARM_UP_MS);
  // Garbage of the warm-up (or of the previous workload) is not this workload's cost.
  // (Without --expose-gc this used to be a no-op: earlier workloads' garbage was
  // collected, and charged, during later workloads' timing.)
  collectGarbage?.();
  sessions = 0;
  malformed = 0;
  let passes = 0;
  let wallSeconds = 0;
  let cpuSeconds = 0;
  let bestWallPerPass = Infinity;
  let bestCpuPerPass = Infinity;
  const limit = BigInt(Math.round((seconds / ROUNDS) * 1e9));
  for (let round = 0; round < ROUNDS; round++) {
    let roundPasses = 0;
    const cpu0 = process.cpuUsage();
    const start = process.hrtime.bigint();
    let elapsed = 0n;
    while (elapsed < limit) {
      pass();
      roundPasses++;
      elapsed = process.hrtime.bigint() - start;
    }
    const cpu = process.cpuUsage(cpu0);
    const wall = Number(elapsed) / 1e9;
    const cpuS = (cpu.user + cpu.system) / 1e6;
    passes += roundPasses;
    wallSeconds += wall;
    cpuSeconds += cpuS;
    bestWallPerPass = Math.min(bestWallPerPass, wall / roundPasses);
    bestCpuPerPass = Math.min(bestCpuPerPass, cpuS / roundPasses);
  }
  return {
    passes,
    sessionsPerPass: sessions / passes,
    bytesPerPass,
    malformedPerPass: malformed / passes,
    wallSeconds,
    cpuSeconds,
    bestWallPerPass,
    bestCpuPerPass,
  };
}

// ---- tshark ---------------------------------------------------------------------

/** Wall and CPU seconds of tshark runs, and how many field values they printed. */
export interface TsharkTiming {
  wallSeconds: number;
  cpuSeconds: number;
  /** Non-empty field values printed: proof tshark dissected the protocol (0 means it did not). */
  values: number;
  /** tshark processes these timings include (start-ups to subtract). */
  runs: number;
}

/** True when `tshark` can be started. */
export function tsharkAvailable(): boolean {
  return !spawnSync('tshark', ['-v'], { stdio: 'ignore' }).error;
}

/**
 * tshark runs under bash, whose `times` builtin then prints the CPU time of
 * its children to stderr: Node's spawnSync reports no resource usage.
 */
const TIMED_TSHARK = 'tshark "$@"; s=$?; times >&2; exit $s';

/** One run of `tshark -r file -n -T fields -e …` with decode-as rules. */
function tsharkOnce(file: string, fields: readonly string[], decodeAs: readonly string[]): TsharkTiming {
  const args = ['-c', TIMED_TSHARK, 'tshark', '-r', file, '-n', '-T', 'fields', '-E', 'occurrence=a'];
  for (const f of fields) args.push('-e', f);
  for (const d of decodeAs) args.push('-d', d);
  const t0 = process.hrtime.bigint();
  const r = spawnSync('bash', args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const stderr = r.stderr?.toString() ?? '';
  if (r.status !== 0) throw new Error(`tshark failed on ${file}: ${stderr.trim().split('\n').slice(-3).join(' ')}`);
  // The last line of `times` is the children's user and system time: `0m0.352s 0m0.048s`.
  const m = [...stderr.matchAll(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/g)].pop();
  const cpuSeconds = m ? Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]) : NaN;
  let values = 0;
  for (const v of r.stdout.toString().split(/[\t\n,]/)) if (v !== '') values++;
  return { wallSeconds, cpuSeconds, values, runs: 1 };
}

/**
 * tshark over `files` (their times summed), best of `repeat` for wall and
 * CPU time separately.
 */
export function timeTshark(files: readonly string[], fields: readonly string[], decodeAs: readonly string[], repeat = 3): TsharkTiming {
  let best: TsharkTiming | undefined;
  for (let i = 0; i < repeat; i++) {
    const sum: TsharkTiming = { wallSeconds: 0, cpuSeconds: 0, values: 0, runs: files.length };
    for (const f of files) {
      const t = tsharkOnce(f, fields, decodeAs);
      sum.wallSeconds += t.wallSeconds;
      sum.cpuSeconds += t.cpuSeconds;
      sum.values += t.values;
    }
    best = best ? { ...sum, wallSeconds: Math.min(best.wallSeconds, sum.wallSeconds), cpuSeconds: Math.min(best.cpuSeconds, sum.cpuSeconds) } : sum;
  }
  if (!best) throw new Error('timeTshark: repeat must be at least 1');
  return best;
}

/** tshark's start-up: an empty capture, best of five. */
export function tsharkStartup(tmp: string): TsharkTiming {
  const empty = path.join(tmp, 'empty.pcap');
  writePcap(empty, []);
  return timeTshark([empty], ['frame.number'], [], 5);
}

/**
 * One capture holding `files` one after the other (`mergecap -a`), so tshark
 * starts once for them; the files themselves when there is one, or when
 * mergecap is missing (then tshark starts once per file, and each start is
 * subtracted).
 */
export function mergeForTshark(files: readonly string[], out: string): string[] {
  if (files.length < 2) return [...files];
  const r = spawnSync('mergecap', ['-a', '-F', 'pcap', '-w', out, ...files], { stdio: 'ignore' });
  return r.status === 0 ? [out] : [...files];
}

// ---- synthetic captures ---------------------------------------------------------

/** A TCP conversation: payloads in order, each with its direction (0 client → server). */
export type Conversation = Array<[Dir, Uint8Array]>;

/** Capture time of the first synthetic packet; each packet is 20 µs after the previous. */
const SYNTHETIC_EPOCH_NS = 1_700_000_000_000_000_000n;
const SYNTHETIC_TICK_NS = 20_000n;
/** Payload bytes per segment: an Ethernet MSS with timestamps. */
const SEGMENT = 1448;

/**
 * Writes TCP conversations to one pcap, one connection each, one after the
 * other: three-way handshake, payloads cut into 1448-byte segments (a
 * payload never shares a segment with the next one), FIN both ways. Clients
 * are 10.3.x.y:40000+i, the server 10.4.0.1:`serverPort`. Checksums are
 * valid, so tshark reassembles as on real traffic.
 */
export function writeConversations(file: string, serverPort: number, convs: readonly Conversation[]): void {
  const packets: WrittenPacket[] = [];
  let t = SYNTHETIC_EPOCH_NS;
  convs.forEach((steps, i) => {
    const client = `10.3.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    const server = '10.4.0.1';
    const cport = 40000 + (i % 25000);
    const seq = [7000, 9000];
    const pkt = (dir: Dir, flags: string, payload?: Uint8Array): void => {
      t += SYNTHETIC_TICK_NS;
      const data = buildPacket({
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
      packets.push({ tsNs: t, data });
    };
    pkt(0, 'S');
    seq[0]++;
    pkt(1, 'SA');
    seq[1]++;
    pkt(0, 'A');
    for (const [dir, data] of steps) {
      for (let o = 0; o < data.length; o += SEGMENT) {
        const seg = data.subarray(o, Math.min(data.length, o + SEGMENT));
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

/**
 * UDP request/response exchanges to one pcap (one datagram each way per
 * exchange), `clientPorts` client ports used in turn, 20 µs apart.
 */
export function writeDatagrams(file: string, serverPort: number, exchanges: readonly [Uint8Array, Uint8Array][], clientPorts = 100): void {
  const packets: WrittenPacket[] = [];
  let t = SYNTHETIC_EPOCH_NS;
  const client = '10.3.0.1';
  const server = '10.4.0.1';
  exchanges.forEach(([request, response], i) => {
    const cport = 40000 + (i % clientPorts);
    t += SYNTHETIC_TICK_NS;
    packets.push({ tsNs: t, data: buildPacket({ src: client, dst: server, protocol: 'udp', sport: cport, dport: serverPort, payload: request }) });
    t += SYNTHETIC_TICK_NS;
    packets.push({ tsNs: t, data: buildPacket({ src: server, dst: client, protocol: 'udp', sport: serverPort, dport: cport, payload: response }) });
  });
  writePcap(file, packets);
}

// ---- the run ----------------------------------------------------------------------

/** The DeepFlow conformance captures' root: `$MF_CONFORMANCE_DIR`, else `../shared/…` beside the repository. */
export function conformanceRoot(): string {
  const rel = path.join('shared', 'conformance', 'deepflow', 'flow_generator');
  // dist/bench/lib → the folder holding the repository.
  const beside = path.resolve(__dirname, '..', '..', '..', '..', rel);
  const candidates = [process.env.MF_CONFORMANCE_DIR, beside, path.resolve(process.cwd(), '..', rel)];
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  return beside;
}

/** The capture files of a conformance source, sorted (none when the folder is missing). */
function conformanceFiles(folder: string, include?: (fileName: string) => boolean): string[] {
  const dir = path.join(conformanceRoot(), folder);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.pcap') && (include ? include(f) : true))
    .sort()
    .map((f) => path.join(dir, f));
}

/** One printed row. */
export interface WorkloadResult {
  protocol: string;
  workload: string;
  connections: number;
  measured?: Measurement;
  tshark?: TsharkTiming;
  /** tshark's start-up times this workload's number of tshark runs. */
  startupWall: number;
  startupCpu: number;
  note?: string;
  error?: string;
}

/** Options of {@link runProtocolBench}. */
export interface BenchOptions {
  /** Wall seconds of the timed loop per workload. */
  seconds: number;
  /** Runs per tshark figure (best of). */
  tsharkRepeat?: number;
  /** Progress lines (stderr by default): the run takes minutes. */
  log?: (line: string) => void;
}

/**
 * Runs `workloads` in order and prints one table (markdown, to stdout): for
 * each, our sessions/s and MB/s (wall and CPU), tshark's time on the same
 * capture (raw and minus its start-up) and the ratios. A failing workload
 * is a row with its error, not the end of the run. Returns the rows.
 */
export function runProtocolBench(workloads: readonly ProtocolWorkload[], options: BenchOptions): WorkloadResult[] {
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const repeat = options.tsharkRepeat ?? 3;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-bench-protocols-'));
  const rows: WorkloadResult[] = [];
  try {
    const haveTshark = tsharkAvailable();
    const startup = haveTshark ? tsharkStartup(tmp) : undefined;
    workloads.forEach((w, i) => {
      const row: WorkloadResult = { protocol: w.spec.name, workload: w.name, connections: 0, startupWall: 0, startupCpu: 0, note: w.tshark.note };
      rows.push(row);
      try {
        let files: string[];
        if (w.capture.kind === 'conformance') {
          files = conformanceFiles(w.capture.folder, w.capture.include);
          row.workload = `${w.name} (${files.length} capture${files.length === 1 ? '' : 's'})`;
          if (files.length === 0) throw new Error(`no captures in ${path.join(conformanceRoot(), w.capture.folder)}`);
        } else {
          const file = path.join(tmp, `w${i}-${w.spec.name.toLowerCase()}.pcap`);
          w.capture.write(file);
          files = [file];
        }
        log(`[${i + 1}/${workloads.length}] ${row.protocol} ${row.workload}: recording`);
        const rec = record(files, w.replaySpecs ?? [w.spec]);
        row.connections = rec.connections.length;
        if (rec.connections.length === 0) throw new Error('no connection was parsed by the spec');
        log(`[${i + 1}/${workloads.length}] ${row.protocol} ${row.workload}: ${options.seconds} s of parsing`);
        row.measured = measure(rec.connections, options.seconds);
        if (startup) {
          log(`[${i + 1}/${workloads.length}] ${row.protocol} ${row.workload}: tshark`);
          const decodeAs = w.tshark.dissector ? [...rec.serverPorts].sort().map((tp) => `${tp.replace(':', '.port==')},${w.tshark.dissector}`) : [];
          const tsharkFiles = w.capture.kind === 'conformance' ? mergeForTshark(files, path.join(tmp, `w${i}-merged.pcap`)) : files;
          row.tshark = timeTshark(tsharkFiles, w.tshark.fields, decodeAs, repeat);
          row.startupWall = startup.wallSeconds * row.tshark.runs;
          row.startupCpu = startup.cpuSeconds * row.tshark.runs;
        }
        if (w.capture.kind === 'synthetic' && !process.env.MF_BENCH_KEEP) for (const f of files) fs.rmSync(f, { force: true });
      } catch (e) {
        row.error = e instanceof Error ? e.message : String(e);
      }
    });
    printTable(rows, options.seconds, startup);
  } finally {
    // MF_BENCH_KEEP=1 keeps the synthetic captures (to look at them with tshark).
    if (process.env.MF_BENCH_KEEP) console.log(`captures kept in ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  }
  return rows;
}

/**
 * Below this share of tshark's time, what is left after subtracting its
 * start-up is within the start-up's own run-to-run spread.
 */
const DECODING_SHARE_MIN = 0.25;
/** The aim of the L7 parsers issue: at least this many times tshark's MB/s. */
export const AIM_RATIO = 20;

/** tshark's decoding time (raw minus start-up), or undefined when start-up bound. */
function decodingSeconds(raw: number, startup: number): number | undefined {
  const d = raw - startup;
  return d > raw * DECODING_SHARE_MIN ? d : undefined;
}

const int = (n: number): string => Math.round(n).toLocaleString('en');
const ratio = (r: number | undefined): string => (r === undefined ? 'start-up bound' : `${r >= 10 ? int(r) : r.toFixed(1)}×`);

/** Prints the rows as a markdown table, then the notes and the protocols below the aim. */
function printTable(rows: readonly WorkloadResult[], seconds: number, startup: TsharkTiming | undefined): void {
  const header = [
    'protocol',
    'workload',
    'conns',
    'sessions',
    'L7 MB',
    'sessions/s',
    'MB/s (wall)',
    'MB/s (CPU)',
    'tshark wall s',
    'wall − start-up',
    'tshark CPU s',
    'CPU − start-up',
    '× tshark, wall: raw / adj.',
    '× tshark, CPU: raw / adj.',
    'tshark values',
    'CPU adj., our mean',
  ];
  const table: string[][] = [];
  const notes: string[] = [];
  const below: string[] = [];
  for (const r of rows) {
    const m = r.measured;
    if (r.error || !m) {
      table.push([r.protocol, r.workload, int(r.connections), `error: ${r.error ?? 'not measured'}`, ...new Array<string>(header.length - 4).fill('')]);
      continue;
    }
    // Our time for the bytes tshark decoded once: one pass (best round, as tshark's best run).
    const oursWall = m.bestWallPerPass;
    const oursCpu = m.bestCpuPerPass;
    const cells = [
      r.protocol,
      r.workload,
      int(r.connections),
      int(m.sessionsPerPass),
      (m.bytesPerPass / 1e6).toFixed(3),
      int(m.sessionsPerPass / oursWall),
      (m.bytesPerPass / oursWall / 1e6).toFixed(1),
      (m.bytesPerPass / oursCpu / 1e6).toFixed(1),
    ];
    const t = r.tshark;
    if (t) {
      const dWall = decodingSeconds(t.wallSeconds, r.startupWall);
      const dCpu = decodingSeconds(t.cpuSeconds, r.startupCpu);
      const adjCpu = dCpu === undefined ? undefined : dCpu / oursCpu;
      cells.push(
        t.wallSeconds.toFixed(2),
        dWall === undefined ? `(${(t.wallSeconds - r.startupWall).toFixed(2)})` : dWall.toFixed(2),
        t.cpuSeconds.toFixed(2),
        dCpu === undefined ? `(${(t.cpuSeconds - r.startupCpu).toFixed(2)})` : dCpu.toFixed(2),
        `${ratio(t.wallSeconds / oursWall)} / ${ratio(dWall === undefined ? undefined : dWall / oursWall)}`,
        `${ratio(t.cpuSeconds / oursCpu)} / ${ratio(adjCpu)}`,
        int(t.values),
        ratio(dCpu === undefined ? undefined : dCpu / (m.cpuSeconds / m.passes)),
      );
      if (adjCpu !== undefined && adjCpu < AIM_RATIO) below.push(`${r.protocol} ${r.workload} (${ratio(adjCpu)})`);
    } else {
      cells.push('n/a', '', '', '', '', '', '', '');
    }
    table.push(cells);
    if (r.note) notes.push(`${r.protocol}, ${r.workload}: ${r.note}.`);
    if (m.malformedPerPass > 0) notes.push(`${r.protocol}, ${r.workload}: ${m.malformedPerPass.toFixed(0)} malformed reports per pass.`);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(`L7 parsers, one core, ${seconds} s per workload (node ${process.version}); chunks replayed from memory, packet decoding and reassembly not measured.`);
  if (startup) console.log(`tshark start-up (empty capture, best of 5): ${(startup.wallSeconds * 1000).toFixed(0)} ms wall, ${(startup.cpuSeconds * 1000).toFixed(0)} ms CPU.`);
  else console.log('tshark not found: no baseline.');
  console.log('');
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of table) console.log(line(row));
  console.log('');
  console.log(
    `Ratios are our MB/s ÷ tshark's MB/s on the same bytes; "adj." subtracts tshark's start-up. Where start-up is over ${(100 * (1 - DECODING_SHARE_MIN)).toFixed(0)}% of tshark's time the difference (in parentheses) is noise: "start-up bound". Conformance captures are merged into one file for tshark (one start-up). Our figures are the best of ${ROUNDS} rounds of ${(seconds / ROUNDS).toFixed(2)} s, tshark's the best of its runs; the last column is the CPU adj. ratio with our mean over all rounds instead.`,
  );
  for (const n of notes) console.log(`- ${n}`);
  if (startup) console.log(below.length === 0 ? `Every measurable workload is at least ${AIM_RATIO}× tshark (CPU, start-up-adjusted).` : `Below ${AIM_RATIO}× tshark (CPU, start-up-adjusted): ${below.join('; ')}.`);
}

/**
 * What a group file (`bench/protocols-http.ts`, …) prints when run on its
 * own: it only defines workloads, and `make bench` runs every file in
 * dist/bench, so running them here too would measure each protocol twice.
 */
export function printDefinitionsOnly(protocols: string): void {
  console.log(`${path.basename(process.argv[1] ?? 'this file')} defines workloads only; run them with: node dist/bench/protocols.js [secondsPerWorkload] ${protocols}`);
}
