/**
 * Redis against DeepFlow's conformance captures. DeepFlow's `.result` has one
 * record per packet: a request record (request, request_type) and, for the
 * first packet of its reply, a record with the reply's RESP type
 * (response_result) and error text; later packets of a long reply print as
 * `Unknown`. We compare per request: request_type, request_resource,
 * response_result (the RESP type), response_exception and response_status
 * (ok unless DeepFlow has an error).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseResultFile, type ResultRecord } from '../testing/deepflow-result';
import { replayPcap } from '../testing/replay';
import { spec } from './index';
import { conformancePath } from '../testing/conformance';

const DIR = conformancePath('deepflow/flow_generator/redis');

/** Disagreements and why: `capture|index|field`. None so far. */
const EXPLAINED: Record<string, string> = {};

interface Expected {
  request_type: string;
  request_resource: string;
  response_result: string;
  response_exception: string;
  response_status: string;
}

/** DeepFlow's per-packet records folded into one expected session per request. */
function expectedSessions(records: ResultRecord[]): Expected[] {
  const out: Expected[] = [];
  let open: Expected | undefined;
  for (const r of records) {
    if (r.request_type) {
      open = { request_type: String(r.request_type), request_resource: String(r.request), response_result: '', response_exception: '', response_status: 'ok' };
      out.push(open);
    } else if (open && r.response_result !== 'Unknown') {
      open.response_result = String(r.response_result);
      open.response_exception = String(r.error ?? '');
      if (open.response_exception) open.response_status = 'server_error';
      open = undefined;
    }
  }
  return out;
}

const table: string[] = [];
afterAll(() => process.stdout.write(`\nRedis conformance vs DeepFlow\n${table.join('\n')}\n`));

describe('Redis conformance with DeepFlow captures', () => {
  const captures = fs.readdirSync(DIR).filter((f) => f.endsWith('.pcap'));
  test('the captures are there', () => {
    expect(captures.sort()).toEqual(['redis-debug.pcap', 'redis.pcap']);
  });

  test.each(captures)('%s', (capture) => {
    const expected = expectedSessions(parseResultFile(fs.readFileSync(path.join(DIR, capture.replace(/\.pcap$/, '.result')), 'utf8')));
    const replay = replayPcap(path.join(DIR, capture), [spec]);
    expect(replay.malformed).toEqual({});
    expect(replay.sessions).toHaveLength(expected.length);
    let compared = 0;
    let agreed = 0;
    const unexplained: string[] = [];
    expected.forEach((e, i) => {
      const ours = replay.sessions[i];
      for (const field of Object.keys(e) as Array<keyof Expected>) {
        compared++;
        if (ours[field] === e[field]) agreed++;
        else if (!EXPLAINED[`${capture}|${i}|${field}`]) unexplained.push(`${capture}|${i}|${field}: DeepFlow ${JSON.stringify(e[field])} vs ours ${JSON.stringify(ours[field])}`);
      }
    });
    table.push(`${capture.padEnd(20)} sessions=${replay.sessions.length} fields=${compared} agree=${((100 * agreed) / compared).toFixed(1)}%`);
    expect(unexplained).toEqual([]);
  });

  test('the 490 KB reply whose last two bytes the capture lacks is reported truncated, paired with its GET', () => {
    const replay = replayPcap(path.join(DIR, 'redis.pcap'), [spec]);
    const last = replay.sessions[replay.sessions.length - 1];
    expect(last).toMatchObject({
      request_type: 'GET',
      request_resource: 'GET 1 1 http://127.0.0.1:20013/v2/pod-groups',
      response_result: 'BulkString',
      response_status: 'ok',
      truncated: true,
      // "$490493\r\n" and the 490493 payload bytes; the CRLF after them is missing.
      captured_response_bytes: 9 + 490493,
    });
    expect(replay.sessions.every((s) => s.server_port === 6379 && s.version === '2')).toBe(true);
  });
});
