/**
 * AMQP 0-9-1 against DeepFlow's conformance captures. DeepFlow prints one
 * line per frame (Request / Response / Session); the test folds them into
 * the conversations we report — a request line with the reply line that
 * follows on its channel, an asynchronous method with its content header
 * and body lines — and compares every key field, every disagreement
 * explained.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseResultFile } from '../testing/deepflow-result';
import type { ResultRecord } from '../testing/deepflow-result';
import { replayPcap } from '../testing/replay';
import { Agreement, deepflowStatus } from '../testing/testkit';
import { REPLY_NAMES } from './methods';
import { spec } from './index';
import { conformancePath } from '../testing/conformance';

const DIR = conformancePath('deepflow/flow_generator/amqp');

/** DeepFlow's reply-code variant names → codes. */
const CODES: Record<string, number> = Object.fromEntries(
  Object.entries(REPLY_NAMES).map(([code, name]) => [
    name === 'REPLY_SUCCESS' ? 'Success' : name.toLowerCase().replace(/(^|_)(\w)/g, (_m, _u, c: string) => c.toUpperCase()),
    Number(code),
  ]),
);

const EXPLAINED: Record<string, string> = {
  '*#*.protocol_header':
    'DeepFlow prints the client’s protocol header (AMQP 0 0 9 1) as a session of its own; we record the version on the connection and emit no session for it',
  'amqp-error.pcap#*.amqp.vhost':
    'DeepFlow’s test runs one parser over all connections of a capture, so the previous connection’s vhost shows on the next connection’s Connection.Start/Tune; ours is per connection',
  'amqp2.pcap#6.amqp.vhost':
    'the Basic.Deliver is on a second connection whose Connection.Open is not in the capture; DeepFlow’s single parser carries the first connection’s vhost over, ours knows none',
  'amqp-error.pcap#11.response_length':
    'DeepFlow fills resp_len only for -Ok methods and prints 0 for the Channel.Close that answers the failed Exchange.Declare; we report the Close frame’s 142 bytes',
  'amqp-error.pcap#-1.extra.Connection.Close':
    'the server’s Connection.Close (530) answers Connection.Open and DeepFlow prints it only as that reply; we also report the Close itself (a request for CloseOk, which the client never sent before the connection ended)',
};

interface Expected {
  req?: ResultRecord;
  resp?: ResultRecord;
  /** Content header and body lines of an asynchronous method. */
  content: ResultRecord[];
}

/** Folds DeepFlow's frame lines into conversations. */
function conversations(records: ResultRecord[]): { expected: Expected[]; protocolHeaders: number } {
  const expected: Expected[] = [];
  const waiting = new Map<number, Expected>();
  const lastAsync = new Map<number, Expected>();
  let protocolHeaders = 0;
  for (const r of records) {
    const ch = r.channel_id as number;
    if (r.is_protcol_header) {
      protocolHeaders++;
      continue;
    }
    if (r.frame_type === 'Header' || r.frame_type === 'Body') {
      lastAsync.get(ch)?.content.push(r);
      continue;
    }
    if (r.msg_type === 'Response') {
      const e = waiting.get(ch);
      if (e) {
        e.resp = r;
        waiting.delete(ch);
      } else expected.push({ resp: r, content: [] });
      continue;
    }
    const e: Expected = { req: r, content: [] };
    expected.push(e);
    if (r.msg_type === 'Request') waiting.set(ch, e);
    else lastAsync.set(ch, e);
  }
  return { expected, protocolHeaders };
}

const s0 = (v: unknown): string => (v === null || v === undefined ? '' : String(v));

describe('AMQP conformance (DeepFlow flow_generator/amqp)', () => {
  const agreement = new Agreement(EXPLAINED);
  const captures = fs.readdirSync(DIR).filter((f) => f.endsWith('.pcap'));

  test.each(captures)('%s', (capture) => {
    const records = parseResultFile(fs.readFileSync(path.join(DIR, capture.replace(/\.pcap$/, '.result')), 'utf8'));
    const { sessions, malformed } = replayPcap(path.join(DIR, capture), [spec]);
    expect(malformed).toEqual({});
    const { expected, protocolHeaders } = conversations(records);
    for (let k = 0; k < protocolHeaders; k++) agreement.field(capture, -1, 'protocol_header', 'no session', 'session');
    let cursor = 0;
    expected.forEach((e, i) => {
      const line = (e.req ?? e.resp)!;
      const type = e.req ? `${line.class_id}.${line.method_id}` : `${line.class_id}.${String(line.method_id).replace(/Ok$/, '')}`;
      // Our next session of that type; sessions skipped on the way are ones DeepFlow has no line for.
      let j = cursor;
      while (j < sessions.length && sessions[j].request_type !== type) j++;
      for (let k = cursor; k < j && j < sessions.length; k++) agreement.field(capture, -1, `extra.${sessions[k].request_type}`, 'session', 'none');
      const s = sessions[j];
      agreement.session(capture);
      const cmp = (field: string, ours: unknown, theirs: unknown) => agreement.field(capture, i, field, ours, theirs);
      cmp('request_type', s?.request_type, type);
      if (!s) return;
      cursor = j + 1;
      const req = e.req;
      const resp = e.resp;
      const both = (k: string) => req?.[k] ?? resp?.[k];
      cmp('amqp.channel', s.attributes['amqp.channel'], s0(line.channel_id));
      cmp('request_domain', s.request_domain, s0(both('exchange')));
      cmp('request_resource', s.request_resource, s0(both('queue')) || s0(both('routing_key')));
      cmp('endpoint', s.endpoint, s0(both('endpoint')));
      cmp('amqp.vhost', s.attributes['amqp.vhost'] ?? '', s0(line.vhost));
      const codeName = (resp?.resp_code ?? req?.resp_code) as string | undefined;
      cmp('response_code', s.response_code, codeName ? CODES[codeName] : null);
      const status = deepflowStatus(resp ? resp.resp_status : req?.resp_status);
      cmp('response_status', s.response_status, status);
      const failed = status === 'client_error' || status === 'server_error';
      cmp('response_exception', s.response_exception, failed ? s0(resp?.resp_text ?? req?.resp_text) : '');
      if (e.content.length > 0) {
        // A method with its content: DeepFlow prints each frame's payload size.
        const frames = [line, ...e.content].reduce((n, r) => n + (r.payload_size as number) + 8, 0);
        cmp('request_length(frames)', s.request_length, frames);
        const header = e.content.find((r) => r.frame_type === 'Header');
        cmp('amqp.body_size', s.attributes['amqp.body_size'], s0(header?.body_size));
        const traces = (header?.trace_ids as { $value: Array<{ field: string }> } | undefined)?.$value ?? [];
        cmp('trace_id', s.trace_id, traces[0]?.field ?? '');
        cmp('span_id', s.span_id, s0(header?.span_id));
      } else if (req) {
        cmp('request_length', s.request_length, req.req_len);
        cmp('captured_request_bytes', s.captured_request_bytes, req.captured_request_byte);
      }
      if (resp) {
        cmp('response_length', s.response_length, resp.resp_len);
        cmp('duration_us', Number(s.duration_ns / 1000n), resp.rtt);
      }
    });
    for (let k = cursor; k < sessions.length; k++) agreement.field(capture, -1, `extra.${sessions[k].request_type}`, 'session', 'none');
  });

  test('every disagreement is explained, every explanation still needed', () => {
    console.log(`AMQP agreement with DeepFlow\n${agreement.render()}`);
    expect(agreement.table()).toHaveLength(captures.length);
    expect(agreement.unexplained).toEqual([]);
    expect(agreement.unused()).toEqual([]);
  });
});
