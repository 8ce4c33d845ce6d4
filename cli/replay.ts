/**
 * `metaflow replay FILE [--format jsonl|table] [--flows] [--protocols=A,B]`:
 * a capture file through the same decode → flows → reassembly → L7 parsers
 * as the pcap receiver, printed.
 *
 * - One line per L7 session, in the order sessions complete: with jsonl,
 *   every L7Session field (names as protocols/types.ts defines them; times
 *   as integer nanoseconds, written exactly) plus `transport`, `client_ip`,
 *   `client_port`, `server_ip`, `server_port`; with table, a readable
 *   summary.
 * - With `--flows`, one line per flow when it ends (`"record":"flow"` in
 *   jsonl) with its L4 counters over its whole life: packets and bytes each
 *   way, RTTs, SRT, ART, retransmissions, … (times in µs), state and close
 *   type.
 * - Client and server follow the conformance rule (the capture's first
 *   destination port is the server port when it is a flow's port), as the
 *   conformance harness does.
 * - On a terminal, a progress bar on stderr for files over 16 MiB; a summary
 *   line on stderr at the end. Exit code 1 when the file cannot be read.
 */
import fs from 'node:fs';
import { PROTOCOLS } from '../protocols/index';
import { FLOW_LOG_COUNTERS } from '../protocols/flow/signals';
import * as C from '../protocols/flow/counters';
import { FlowTable, type Flow } from '../protocols/flow/table';
import { PacketDecoder } from '../protocols/packet/decode';
import { CaptureFormatError, CaptureReader } from '../protocols/packet/pcap';
import { DEFAULT_PARSER_OPTIONS, type L7Session, type ProtocolSpec } from '../protocols/types';
import type { Args, Output } from './commands';

/** What the command prints to, plus whether stderr is a terminal (for the progress bar). */
export interface ReplayOutput extends Output {
  isTTY?: boolean;
}

const PROGRESS_MIN_BYTES = 16 * 1024 * 1024;

/** Runs `metaflow replay`; returns the exit code. `specs` defaults to the build's protocols. */
export function replayCommand(args: Args, io: ReplayOutput, specs: readonly ProtocolSpec[] = PROTOCOLS): number {
  const file = args.positional[0];
  if (!file) {
    io.err('metaflow replay: give the capture file: metaflow replay FILE [--format jsonl|table] [--flows]\n');
    return 2;
  }
  const format = args.flags.format === undefined ? 'jsonl' : String(args.flags.format);
  if (format !== 'jsonl' && format !== 'table') {
    io.err(`metaflow replay: --format must be jsonl or table, got "${format}"\n`);
    return 2;
  }
  const wantFlows = args.flags.flows === true;
  let use = specs;
  if (typeof args.flags.protocols === 'string') {
    const wanted = new Set(args.flags.protocols.split(',').map((p) => p.trim().toLowerCase()).filter(Boolean));
    use = specs.filter((s) => wanted.has(s.name.toLowerCase()));
    const unknown = [...wanted].filter((w) => !specs.some((s) => s.name.toLowerCase() === w));
    if (unknown.length) {
      io.err(`metaflow replay: unknown protocol(s) ${unknown.join(', ')}; this build has ${specs.map((s) => s.name).join(', ') || 'none'}\n`);
      return 2;
    }
  }
  let reader: CaptureReader;
  let size = 0;
  try {
    size = fs.statSync(file).size;
    reader = CaptureReader.openFile(file);
  } catch (err) {
    io.err(`metaflow replay: cannot read ${file}: ${err instanceof CaptureFormatError ? err.message : (err as Error).message}\n`);
    return 1;
  }
  const table = format === 'table';
  let sessions = 0;
  let flows = 0;
  let out = '';
  const write = (line: string) => {
    out += line + '\n';
    if (out.length > 65536) {
      io.out(out);
      out = '';
    }
  };
  if (table) write(SESSION_HEADER);
  const flowTable = new FlowTable(
    {
      direction: 'capture',
      maxFlows: 1 << 20,
      flowLogIntervalNs: Infinity,
      maxServers: 1,
      l7: use.length ? { specs: use, parser: DEFAULT_PARSER_OPTIONS } : undefined,
    },
    {
      session(s, f) {
        sessions++;
        write(table ? sessionRow(s, f) : sessionJson(s, f));
      },
      flowLog: wantFlows
        ? (f, _start, _end, final) => {
            if (!final) return;
            flows++;
            write(table ? flowRow(f, flowTable) : flowJson(f, flowTable));
          }
        : undefined,
    },
  );
  const decoder = new PacketDecoder();
  const progress = io.isTTY === true && size >= PROGRESS_MIN_BYTES;
  let bytes = 0;
  let lastDraw = 0;
  const started = Date.now();
  for (let p = reader.next(); p; p = reader.next()) {
    flowTable.packet(decoder.decodePacket(p), p);
    if (progress) {
      bytes += p.length + 16;
      if ((reader.stats.packets & 0x3fff) === 0 && Date.now() - lastDraw > 200) {
        lastDraw = Date.now();
        io.err(`\r${bar(bytes / size)} ${reader.stats.packets} packets`);
      }
    }
  }
  flowTable.flush();
  if (out) io.out(out);
  if (progress) io.err(`\r${bar(1)} ${reader.stats.packets} packets\n`);
  const st = reader.stats;
  const drops = decoder.dropCounts();
  const dropText = Object.entries(drops)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  io.err(
    `${file}: ${st.packets} packets, ${flowTable.counters.flowsCreated} flows, ${sessions} sessions${wantFlows ? `, ${flows} flow lines` : ''} in ${((Date.now() - started) / 1000).toFixed(2)} s` +
      `${dropText ? `; not decoded: ${dropText}` : ''}${st.truncated ? '; the file ends inside a packet' : ''}${st.corrupt ? '; corrupt record, stopped there' : ''}\n`,
  );
  return 0;
}

function bar(fraction: number): string {
  const width = 30;
  const f = Math.max(0, Math.min(1, fraction));
  const n = Math.round(f * width);
  return `[${'#'.repeat(n)}${' '.repeat(width - n)}] ${(f * 100).toFixed(0).padStart(3)}%`;
}

/** A JSON line with bigints written as exact integers. */
function json(o: Record<string, unknown>): string {
  return JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? `\u0000${v}\u0000` : v)).replace(/"\\u0000(-?\d+)\\u0000"/g, '$1');
}

function sessionJson(s: L7Session, f: Flow): string {
  return json({ ...s, transport: f.transport, client_ip: f.client_ip, client_port: f.client_port, server_ip: f.server_ip, server_port: f.server_port });
}

const SESSION_HEADER = ['start', 'ms', 'protocol', 'client', 'server', 'type', 'resource', 'code', 'status'].join('\t');

function iso(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

function sessionRow(s: L7Session, f: Flow): string {
  const resource = (s.request_resource || s.endpoint).replace(/\s+/g, ' ').slice(0, 80);
  return [
    iso(s.start_time),
    (Number(s.duration_ns) / 1e6).toFixed(3),
    s.l7_protocol,
    `${f.client_ip}:${f.client_port}`,
    `${f.server_ip}:${f.server_port}`,
    s.request_type,
    resource,
    s.response_code ?? '',
    s.response_status,
  ].join('\t');
}

/** The L4 fields of a flow line: counters by their flow-log names (times in µs). */
function flowCounters(f: Flow): Record<string, number> {
  const out: Record<string, number> = {};
  const c = f.interval;
  for (const k of FLOW_LOG_COUNTERS) {
    const name = k.attribute.slice('metaflow.flow.'.length);
    out[name] = k.time ? Math.round(c[k.slot] / 10) / 100 : c[k.slot];
  }
  return out;
}

function flowJson(f: Flow, t: FlowTable): string {
  return json({
    record: 'flow',
    flow_id: f.id,
    transport: f.transport,
    client_ip: f.client_ip,
    client_port: f.client_port,
    server_ip: f.server_ip,
    server_port: f.server_port,
    l7_protocol: f.l7Protocol,
    tunnel_type: f.tunnelName,
    tunnel_id: f.tunnelId,
    start_time: t.absNs(f.startT),
    end_time: t.absNs(f.lastT),
    state: f.stateName,
    close_type: f.closeTypeName,
    ...flowCounters(f),
  });
}

function avgMs(c: Float64Array, slot: number): string {
  const n = c[slot + 1];
  return n ? (c[slot] / n / 1e6).toFixed(3) : '-';
}

function flowRow(f: Flow, t: FlowTable): string {
  const c = f.interval;
  return [
    'flow',
    iso(t.absNs(f.startT)),
    ((f.lastT - f.startT) / 1e6).toFixed(3),
    f.transport,
    `${f.client_ip}:${f.client_port}`,
    `${f.server_ip}:${f.server_port}`,
    `${f.stateName}/${f.closeTypeName}`,
    `pkts ${c[C.PKT_TX]}/${c[C.PKT_RX]}`,
    `bytes ${c[C.BYTE_TX]}/${c[C.BYTE_RX]}`,
    `rtt ${avgMs(c, C.RTT_CLIENT)}/${avgMs(c, C.RTT_SERVER)}`,
    `srt ${avgMs(c, C.SRT)}`,
    `art ${avgMs(c, C.ART)}`,
    `retrans ${c[C.RETRANS_TX]}/${c[C.RETRANS_RX]}`,
  ].join('\t');
}
