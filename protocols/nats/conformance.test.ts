/**
 * NATS against DeepFlow's conformance captures. DeepFlow prints one record per
 * message; its log merging pairs INFO (request) with CONNECT (response) and
 * PING with PONG, and keeps every other message (PUB, HPUB, SUB, UNSUB, MSG,
 * HMSG, +OK, -ERR) a session of its own. We fold the records that way and
 * compare, in order: request_type, request_resource (subject), request_domain
 * (server name), version (server version), endpoint (subject's first token),
 * trace_id and span_id (from HPUB/HMSG headers) and response_exception (-ERR).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseResultFile, type ResultRecord, type RustStruct } from '../testing/deepflow-result';
import { replayPcap } from '../testing/replay';
import { NATS_MALFORMED, spec } from './index';
import { conformancePath } from '../testing/conformance';

const DIR = conformancePath('deepflow/flow_generator/nats');

interface Expected {
  request_type: string;
  request_resource: string;
  request_domain: string;
  version: string;
  endpoint: string;
  trace_id: string;
  span_id: string;
  response_exception: string;
}

/** Disagreements and why, by field (they recur wherever the case occurs). */
const EXPLAINED: Record<string, (e: Expected, ours: Expected) => string | undefined> = {
  request_resource: (e, o) =>
    e.request_type === 'UNSUB' && e.request_resource === '' && o.request_resource !== ''
      ? 'UNSUB names only a sid; we resolve it to the subject its SUB subscribed (DeepFlow leaves it empty).'
      : undefined,
  endpoint: (e, o) => (e.request_type === 'UNSUB' && e.endpoint === '' && o.endpoint !== '' ? 'follows from the resolved UNSUB subject' : undefined),
  response_exception: (e, o) =>
    e.response_exception === `'${o.response_exception}'` ? "-ERR text: the protocol quotes it ('…'); we drop the quotes, DeepFlow keeps them." : undefined,
};

const NAMES: Record<string, string> = { Info: 'INFO', Connect: 'CONNECT', Pub: 'PUB', Hpub: 'HPUB', Sub: 'SUB', Unsub: 'UNSUB', Msg: 'MSG', Hmsg: 'HMSG', Ping: 'PING', Pong: 'PONG', Ok: 'OK', Err: 'ERR' };

function expectedSessions(records: ResultRecord[]): Expected[] {
  const out: Expected[] = [];
  let info: Expected | undefined;
  let ping: Expected | undefined;
  for (const rec of records) {
    const r = rec.$value as RustStruct;
    const message = r.message as RustStruct;
    const body = message.$value as RustStruct | string;
    const kind = message.$type;
    if (kind === 'Connect' && info) {
      info = undefined;
      continue;
    }
    if (kind === 'Pong' && ping) {
      ping = undefined;
      continue;
    }
    const traces = (r.trace_ids as RustStruct).$value as RustStruct[];
    const e: Expected = {
      request_type: NAMES[kind],
      request_resource: typeof body === 'object' && typeof body.subject === 'string' ? body.subject : '',
      request_domain: String(r.server_name),
      version: String(r.version),
      endpoint: typeof r.endpoint === 'string' ? r.endpoint : '',
      trace_id: traces.length ? String(traces[0].field) : '',
      span_id: typeof r.span_id === 'string' ? r.span_id : '',
      response_exception: kind === 'Err' && typeof body === 'object' ? String(body.error_message) : '',
    };
    out.push(e);
    if (kind === 'Info') info = e;
    if (kind === 'Ping') ping = e;
  }
  return out;
}

const table: string[] = [];
afterAll(() => process.stdout.write(`\nNATS conformance vs DeepFlow\n${table.join('\n')}\n`));

describe('NATS conformance with DeepFlow captures', () => {
  const captures = fs.readdirSync(DIR).filter((f) => f.endsWith('.pcap'));
  test('the captures are there', () => {
    expect(captures.sort()).toEqual(['nats-err.pcap', 'nats-headers.pcap', 'nats-nrpc1.pcap', 'nats-nrpc2.pcap', 'nats-nrpc3.pcap', 'nats-skywalking.pcap']);
  });

  test.each(captures)('%s', (capture) => {
    const expected = expectedSessions(parseResultFile(fs.readFileSync(path.join(DIR, capture.replace(/\.pcap$/, '.result')), 'utf8')));
    const replay = replayPcap(path.join(DIR, capture), [spec]);
    // nats-err.pcap sends "DEADBEEF": DeepFlow prints None, we count it.
    expect(replay.malformed).toEqual(capture === 'nats-err.pcap' ? { [NATS_MALFORMED.op]: 1 } : {});
    expect(replay.sessions.length).toBe(expected.length);
    let compared = 0;
    let agreed = 0;
    const explained: string[] = [];
    const unexplained: string[] = [];
    expected.forEach((e, i) => {
      const ours = replay.sessions[i] as unknown as Expected;
      for (const field of Object.keys(e) as Array<keyof Expected>) {
        compared++;
        if (ours[field] === e[field]) {
          agreed++;
          continue;
        }
        const why = EXPLAINED[field]?.(e, ours);
        if (why) explained.push(`${i}.${field}`);
        else unexplained.push(`${i}.${field}: DeepFlow ${JSON.stringify(e[field])} vs ours ${JSON.stringify(ours[field])}`);
      }
    });
    table.push(`${capture.padEnd(22)} sessions=${replay.sessions.length} fields=${compared} agree=${((100 * agreed) / compared).toFixed(1)}% explained=${explained.length} (${explained.join(' ')})`);
    expect(unexplained).toEqual([]);
  });

  test('sizes and round trips as DeepFlow measured them (nats-err.pcap)', () => {
    const replay = replayPcap(path.join(DIR, 'nats-err.pcap'), [spec]);
    const [info, , ping] = replay.sessions;
    // req_len 429 (INFO), resp_len 166 (CONNECT), rtt 1202119 µs… DeepFlow prints rtt in µs.
    expect([info.request_length, info.response_length, info.duration_ns / 1000n]).toEqual([429, 166, 1202119n]);
    // The server pinged (PING from port 4222), the client ponged: rtt 954331 µs.
    expect([ping.request_type, ping.attributes['nats.from_server'], ping.duration_ns / 1000n]).toEqual(['PING', 'true', 954331n]);
  });
});
