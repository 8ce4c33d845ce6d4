/**
 * MongoDB against DeepFlow's conformance capture (a mongo shell session:
 * OP_QUERY handshake, SCRAM over OP_MSG, admin commands, an error reply).
 * DeepFlow reports the request document as text; we report its command
 * name, collection and `$db`, so those are read from DeepFlow's text.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseResultFile } from '../testing/deepflow-result';
import { replayPcap } from '../testing/replay';
import { tsharkAvailable, tsharkFields } from '../../test/helpers/tshark';
import { Agreement, deepflowStatus } from '../testing/testkit';
import { spec } from './index';
import { conformancePath } from '../testing/conformance';

const DIR = conformancePath('deepflow/flow_generator/mongo');

const EXPLAINED: Record<string, string> = {
  'mongo.pcap#*.request_length':
    'DeepFlow prints req_len 0 on every line (it keeps the message length on its parser, not on the printed record); we report messageLength',
  'mongo.pcap#*.response_length': 'as request_length: DeepFlow prints resp_len 0',
  'mongo.pcap#0.request_domain':
    'a legacy OP_QUERY carries no $db: DeepFlow’s request text has none; we take the database from the namespace (admin.$cmd → admin)',
};

/** First key and its value (when a string) of DeepFlow's JSON-like document text, and `$db`. */
function commandOf(text: string): { command: string; value: string; db: string } {
  const m = /^\{ "([^"]+)": (?:"((?:[^"\\]|\\.)*)"|[^,}]*)/.exec(text);
  const db = /"\$db": "([^"]*)"/.exec(text);
  return { command: m?.[1] ?? '', value: m?.[2] ?? '', db: db?.[1] ?? '' };
}

describe('MongoDB conformance (DeepFlow flow_generator/mongo)', () => {
  const agreement = new Agreement(EXPLAINED);
  const capture = 'mongo.pcap';

  test(capture, () => {
    const records = parseResultFile(fs.readFileSync(path.join(DIR, 'mongo.result'), 'utf8'));
    const { sessions, malformed } = replayPcap(path.join(DIR, capture), [spec]);
    expect(malformed).toEqual({});
    const requests = records.filter((r) => r.msg_type === 'Request');
    expect(requests).toHaveLength(15);
    expect(sessions).toHaveLength(requests.length);
    requests.forEach((req, i) => {
      const resp = records.find((r) => r.msg_type === 'Response' && r.request_id === req.request_id);
      const s = sessions[i];
      const want = commandOf(req.request as string);
      const cmp = (field: string, ours: unknown, theirs: unknown) => agreement.field(capture, i, field, ours, theirs);
      agreement.session(capture);
      cmp('request_type', s.request_type, want.command);
      cmp('request_resource', s.request_resource, want.value);
      cmp('request_domain', s.request_domain, want.db);
      cmp('mongodb.op', s.attributes['mongodb.op'], req.op_code_name);
      cmp('request_id', s.request_id, String(req.request_id));
      cmp('captured_request_bytes', s.captured_request_bytes, req.captured_request_byte);
      cmp('request_length', s.request_length, req.req_len);
      expect(resp).toBeDefined();
      if (!resp) return;
      cmp('response_code', s.response_code, resp.response_code);
      cmp('response_status', s.response_status, deepflowStatus(resp.status));
      cmp('response_exception', s.response_exception, resp.exception);
      cmp('captured_response_bytes', s.captured_response_bytes, resp.captured_response_byte);
      cmp('response_length', s.response_length, resp.resp_len);
      cmp('duration_us', Number(s.duration_ns / 1000n), resp.rrt);
    });
  });

  // DeepFlow prints no lengths: tshark's mongo dissector checks them, with the ids, opcodes and command names.
  (tsharkAvailable() ? test : test.skip)('mongo.pcap against tshark: lengths, ids, opcodes, command names', async () => {
    const { sessions } = replayPcap(path.join(DIR, capture), [spec]);
    const frames = await tsharkFields(path.join(DIR, capture), ['tcp.dstport', 'mongo.message_length', 'mongo.request_id', 'mongo.response_to', 'mongo.opcode', 'mongo.element.name'], {
      decodeAs: ['tcp.port==27017,mongo'],
      filter: 'mongo',
    });
    const OPS: Record<string, string> = { '1': 'OP_REPLY', '2004': 'OP_QUERY', '2013': 'OP_MSG' };
    const requests = frames.filter((f) => f['tcp.dstport'][0] === '27017');
    const replies = frames.filter((f) => f['tcp.dstport'][0] !== '27017');
    expect(requests).toHaveLength(sessions.length);
    sessions.forEach((s, i) => {
      const q = requests[i];
      expect([s.request_length, s.request_id, s.attributes['mongodb.op'], s.request_type]).toEqual([
        Number(q['mongo.message_length'][0]),
        String(Number(q['mongo.request_id'][0])),
        OPS[q['mongo.opcode'][0]],
        q['mongo.element.name'][0],
      ]);
      const r = replies.find((f) => Number(f['mongo.response_to'][0]) === Number(s.request_id))!;
      expect(s.response_length).toBe(Number(r['mongo.message_length'][0]));
    });
  });

  test('every disagreement is explained, every explanation still needed', () => {
    console.log(`MongoDB agreement with DeepFlow\n${agreement.render()}`);
    expect(agreement.table()).toHaveLength(1);
    expect(agreement.unexplained).toEqual([]);
    expect(agreement.unused()).toEqual([]);
  });
});
