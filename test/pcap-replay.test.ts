/**
 * `metaflow replay FILE [--format jsonl|table] [--flows]`:
 * - on every DeepFlow flow_generator capture with a TCP result file, the
 *   flow line carries DeepFlow's RTTs, SRT, ART and retransmissions;
 * - L7 sessions of a real HTTP capture, as jsonl (the protocol-parser
 *   field names) and as a table;
 * - a progress bar on a terminal for large files, none otherwise;
 * - bad input: a file that is not a capture, an empty file, a truncated
 *   capture, random bytes after a valid header, a missing file, bad flags —
 *   each a clear message and an exit code, never a stack trace;
 * - the built command end to end.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from '../cli/commands';
import { replayCommand } from '../cli/replay';
import { DecodeStatus, PacketDecoder } from '../protocols/packet/decode';
import { CaptureReader } from '../protocols/packet/pcap';
import { parseResultFile, type RustStruct } from '../protocols/testing/deepflow-result';
import { buildPacket, writePcap } from '../protocols/testing/pcap-writer';
import { runCli } from './helpers/metaflow';
import { conformancePath } from '../protocols/testing/conformance';

const FG = conformancePath('deepflow/flow_generator');
const HTTP = path.join(FG, 'http/httpv1.pcap');

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-replay-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs the command in process; returns exit code, stdout and stderr. */
function replay(argv: string[], isTTY = false): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = replayCommand(parseArgs(['replay', ...argv]), { out: (t) => (out += t), err: (t) => (err += t), isTTY });
  return { code, out, err };
}

function durationUs(v: unknown): number {
  const m = /^([\d.]+)(ns|µs|us|ms|s)$/.exec(String(v));
  if (!m) throw new Error(`not a duration: ${String(v)}`);
  const ns = Number(m[1]) * { ns: 1, µs: 1e3, us: 1e3, ms: 1e6, s: 1e9 }[m[2] as 'ns'];
  return Math.round(ns / 10) / 100;
}

/** The last PerfData DeepFlow printed for each capture of a TCP result file. */
function lastTcpPerf(resultFile: string): Map<string, RustStruct> {
  const text = fs.readFileSync(path.join(FG, resultFile), 'utf8');
  const parts = text.split(/^\d+th perf data from "([^"]+)":\n/m);
  const out = new Map<string, RustStruct>();
  for (let i = 1; i < parts.length; i += 2) out.set(path.basename(parts[i]), parseResultFile(parts[i + 1])[0]);
  return out;
}

/** Source address:port of a capture's first decoded packet. */
function firstSource(file: string): string {
  const reader = CaptureReader.readFile(file);
  const decoder = new PacketDecoder();
  for (let p = reader.next(); p; p = reader.next()) {
    const d = decoder.decodePacket(p);
    if (d.status === DecodeStatus.OK) return `${d.srcIp}:${d.srcPort}`;
  }
  return '';
}

const CASES: Array<[string, RustStruct]> = [];
for (const result of ['art.result', 'rtt-syn.result', 'rtt-full.result', 'client_request_timewait_and_syn_synack_count.result']) {
  for (const [pcap, perf] of lastTcpPerf(result)) CASES.push([pcap, perf]);
}

describe('metaflow replay --flows on DeepFlow’s flow captures', () => {
  test('there are the eleven TCP cases', () => {
    expect(CASES).toHaveLength(11);
  });

  test.each(CASES)('%s: RTT, SRT, ART and retransmissions as DeepFlow counts them', (pcap, df) => {
    const r = replay([path.join(FG, pcap), '--flows']);
    expect(r.code).toBe(0);
    const flows = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number | string>)
      .filter((o) => o.record === 'flow');
    expect(flows).toHaveLength(1);
    const f = flows[0];
    // DeepFlow's side 0 is the sender of the capture's first packet; ours are client and server.
    const clientIs0 = firstSource(path.join(FG, pcap)) === `${String(f.client_ip)}:${String(f.client_port)}`;
    const time = (name: string) => ({ count: f[`${name}_count`] ?? 0, sum: f[`${name}_sum_us`] ?? 0, max: f[`${name}_max_us`] ?? 0 });
    const dfTime = (k: string) => {
      const t = df[k] as RustStruct;
      return { count: t.count, sum: durationUs(t.sum), max: durationUs(t.max) };
    };
    // DeepFlow reports the server side's SRT and ART.
    const serverSide = clientIs0 ? 1 : 0;
    expect({
      rtt_0: time(clientIs0 ? 'rtt_client' : 'rtt_server'),
      rtt_1: time(clientIs0 ? 'rtt_server' : 'rtt_client'),
      srt: time('srt'),
      art: time('art'),
      retrans: clientIs0 ? [f.client_retrans, f.server_retrans] : [f.server_retrans, f.client_retrans],
      rtt_full: f.rtt_sum_us ?? 0,
    }).toEqual({
      rtt_0: dfTime('rtt_0'),
      rtt_1: dfTime('rtt_1'),
      srt: dfTime(`srt_${serverSide}`),
      art: dfTime(`art_${serverSide}`),
      retrans: [df.retrans_0, df.retrans_1],
      rtt_full: durationUs(df.rtt_full),
    });
    expect(Number(f.client_packets) + Number(f.server_packets)).toBeGreaterThan(1);
  });
});

describe('metaflow replay sessions', () => {
  test('jsonl: one line per HTTP session with the parser field names and the flow tuple', () => {
    const r = replay([HTTP]);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const s of lines) {
      expect(s.l7_protocol).toBe('HTTP');
      for (const k of ['request_type', 'request_resource', 'response_code', 'response_status', 'start_time', 'end_time', 'duration_ns', 'client_ip', 'client_port', 'server_ip', 'server_port', 'transport']) expect(s).toHaveProperty(k);
      // Times are exact integers (ns), not rounded floats or strings.
      expect(typeof s.start_time).toBe('number');
    }
    // DeepFlow's httpv1.result: one POST /query?1590632942 answered 200.
    expect(lines.map((s) => [s.request_type, s.request_resource, s.request_domain, s.response_code, s.response_status, s.endpoint])).toEqual([
      ['POST', '/query?1590632942', 'rq.cct.cloud.duba.net', 200, 'ok', '/query'],
    ]);
    expect(r.err).toMatch(/httpv1\.pcap: \d+ packets, 1 flows, \d+ sessions in [\d.]+ s\n$/);
    // jsonl writes bigints as exact integers: compare the raw text with the parsed value.
    expect(r.out).toMatch(/"start_time":\d{19},/);
  });

  test('the same sessions and flows from pcap with µs, pcap with ns and pcapng', () => {
    const ns = path.join(dir, 'httpv1-ns.pcap');
    const ng = path.join(dir, 'httpv1.pcapng');
    execFileSync('editcap', ['-F', 'nsecpcap', HTTP, ns]);
    execFileSync('editcap', ['-F', 'pcapng', HTTP, ng]);
    const want = replay([HTTP, '--flows']);
    expect(want.out.split('\n').length).toBeGreaterThan(2);
    for (const f of [ns, ng]) {
      const r = replay([f, '--flows']);
      expect([f, r.code]).toEqual([f, 0]);
      expect(r.out).toBe(want.out);
    }
  });

  test('table: a header and one row per session; with --flows also one flow row', () => {
    const r = replay([HTTP, '--format', 'table', '--flows']);
    expect(r.code).toBe(0);
    const rows = r.out.trim().split('\n');
    expect(rows[0].split('\t')).toEqual(['start', 'ms', 'protocol', 'client', 'server', 'type', 'resource', 'code', 'status']);
    const sessions = rows.filter((l) => l.includes('\tHTTP\t'));
    expect(sessions.length).toBeGreaterThan(0);
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatch(/\tHTTP\t10\.33\.0\.31:61959\t120\.52\.183\.165:80\tPOST\t\/query\?1590632942\t200\tok$/);
    const flows = rows.filter((l) => l.startsWith('flow\t'));
    expect(flows).toHaveLength(1);
    expect(flows[0]).toMatch(/\ttcp\t.*\tpkts \d+\/\d+\tbytes \d+\/\d+\trtt /);
  });

  test('a progress bar on a terminal for a large file, none when not a terminal', () => {
    // ~20 MiB of HTTP requests on many flows.
    const file = path.join(dir, 'large.pcap');
    const payload = new TextEncoder().encode(`GET /x HTTP/1.1\r\nHost: h\r\n${'X-Pad: y\r\n'.repeat(140)}\r\n`);
    const packets = [];
    for (let i = 0; i < 14000; i++) {
      packets.push({ tsNs: 1_700_000_000_000_000_000n + BigInt(i) * 1_000_000n, data: buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 'tcp', sport: 30000 + (i % 500), dport: 80, seq: 1 + Math.floor(i / 500) * payload.length, ack: 1, flags: 'PA', payload }) });
    }
    writePcap(file, packets);
    expect(fs.statSync(file).size).toBeGreaterThan(16 * 1024 * 1024);
    const tty = replay([file, '--format', 'table'], true);
    expect(tty.code).toBe(0);
    expect(tty.err).toMatch(/\r\[#+ *\] +\d+% \d+ packets/);
    expect(tty.err).toContain('[##############################] 100% 14000 packets\n');
    const pipe = replay([file, '--format', 'table'], false);
    expect(pipe.err).not.toContain('[');
    expect(pipe.out).toBe(tty.out);
  });
});

describe('metaflow replay with bad input', () => {
  test('a file that is not a capture: exit 1 and why', () => {
    const file = path.join(dir, 'text.pcap');
    fs.writeFileSync(file, 'this is not a capture file, just text that is long enough\n'.repeat(10));
    const r = replay([file]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^metaflow replay: cannot read .*text\.pcap: .+\n$/);
    expect(r.out).toBe('');
  });

  test('an empty file and a missing file: exit 1 and why', () => {
    const empty = path.join(dir, 'empty.pcap');
    fs.writeFileSync(empty, '');
    expect(replay([empty])).toMatchObject({ code: 1, out: '' });
    expect(replay([empty]).err).toMatch(/cannot read .*empty\.pcap/);
    const missing = replay([path.join(dir, 'nope.pcap')]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/cannot read .*nope\.pcap: ENOENT/);
  });

  test('a capture cut inside a packet: what came before is printed and the cut is reported', () => {
    const whole = fs.readFileSync(HTTP);
    const file = path.join(dir, 'cut.pcap');
    fs.writeFileSync(file, whole.subarray(0, Math.floor(whole.length * 0.7)));
    const full = replay([HTTP, '--flows']);
    const r = replay([file, '--flows']);
    expect(r.code).toBe(0);
    expect(r.err).toContain('the file ends inside a packet');
    const lines = r.out.trim().split('\n');
    expect(lines.some((l) => l.includes('"record":"flow"'))).toBe(true);
    expect(lines.length).toBeLessThanOrEqual(full.out.trim().split('\n').length);
  });

  test('random bytes behind a valid pcap header, and a corrupt record length: counted, reported, exit 0', () => {
    const header = fs.readFileSync(HTTP).subarray(0, 24);
    let x = 12345;
    const noise = Buffer.alloc(4096);
    for (let i = 0; i < noise.length; i++) noise[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    const file = path.join(dir, 'noise.pcap');
    fs.writeFileSync(file, Buffer.concat([header, noise]));
    const r = replay([file, '--flows']);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/noise\.pcap: \d+ packets, \d+ flows, 0 sessions/);
    expect(r.err).toMatch(/corrupt record, stopped there|the file ends inside a packet/);
  });

  test('bad flags: exit 2 with usage', () => {
    expect(replay([]).code).toBe(2);
    expect(replay([HTTP, '--format', 'xml'])).toMatchObject({ code: 2, err: 'metaflow replay: --format must be jsonl or table, got "xml"\n' });
    const r = replay([HTTP, '--protocols=HTTP,Gopher']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown protocol\(s\) gopher; this build has .*HTTP/);
  });

  test('the built command: sessions on stdout, summary on stderr; not a capture exits 1', async () => {
    const ok = await runCli(['replay', HTTP, '--format', 'jsonl']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout.split('\n')[0]).l7_protocol).toBe('HTTP');
    expect(ok.stderr).toMatch(/sessions in/);
    const bad = await runCli(['replay', __filename]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^metaflow replay: cannot read /);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });
});
