/**
 * Kafka against DeepFlow's conformance captures: every key field DeepFlow
 * prints in the `.result` files, compared with our sessions, every
 * disagreement explained.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseResultFile } from '../testing/deepflow-result';
import type { ResultRecord } from '../testing/deepflow-result';
import { replayPcap } from '../testing/replay';
import { spec } from './index';
import { Agreement, deepflowStatus } from '../testing/testkit';
import { conformancePath } from '../testing/conformance';

const DIR = conformancePath('deepflow/flow_generator/kafka');

const EXPLAINED: Record<string, string> = {
  '01-fetch-v12-unknown.pcap#0.duration_us':
    'the two packets are 13 s apart; DeepFlow drops a response time above its RRT timeout and prints 0, we report the time measured',
};

function str(v: unknown): string {
  return v === null || v === undefined ? '' : String(v);
}

describe('Kafka conformance (DeepFlow flow_generator/kafka)', () => {
  const agreement = new Agreement(EXPLAINED);
  const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.result'));

  test.each(files)('%s', (resultFile) => {
    const capture = resultFile.replace(/\.result$/, '.pcap');
    const records = parseResultFile(fs.readFileSync(path.join(DIR, resultFile), 'utf8'));
    const { sessions, malformed } = replayPcap(path.join(DIR, capture), [spec]);
    expect(malformed).toEqual({});
    // DeepFlow prints one line per message; pair requests with responses by correlation id.
    const requests = records.filter((r) => r.msg_type === 'Request');
    expect(sessions).toHaveLength(requests.length);
    requests.forEach((req, i) => {
      const resp: ResultRecord | undefined = records.find((r) => r.msg_type === 'Response' && r.correlation_id === req.correlation_id);
      const s = sessions[i];
      agreement.session(capture);
      const cmp = (field: string, ours: unknown, theirs: unknown) => agreement.field(capture, i, field, ours, theirs);
      cmp('request_type', s.request_type, req.command);
      cmp('version', s.version, str(req.api_version));
      cmp('request_id', s.request_id, str(req.correlation_id));
      cmp('request_domain', s.request_domain, str(req.topic_name) || str(resp?.topic_name));
      cmp('endpoint', s.endpoint, str(req.endpoint ?? resp?.endpoint));
      cmp('request_resource', s.request_resource, str(req.resource ?? resp?.resource));
      cmp('kafka.client_id', s.attributes['kafka.client_id'] ?? '', req.client_id);
      cmp('kafka.group_id', s.attributes['kafka.group_id'] ?? '', req.group_id);
      cmp('request_length', s.request_length, req.req_msg_size);
      cmp('captured_request_bytes', s.captured_request_bytes, req.captured_request_byte);
      const traces = (req.trace_ids as unknown as { $value: Array<{ field: string }> } | undefined)?.$value ?? [];
      cmp('trace_id', s.trace_id, traces[0]?.field ?? '');
      cmp('span_id', s.span_id, str(req.span_id));
      if (resp) {
        cmp('response_code', s.response_code, resp.status_code);
        cmp('response_status', s.response_status, deepflowStatus(resp.status));
        cmp('response_length', s.response_length, resp.resp_msg_size);
        cmp('captured_response_bytes', s.captured_response_bytes, resp.captured_response_byte);
        cmp('duration_us', Number(s.duration_ns / 1000n), resp.rrt);
      }
    });
  });

  test('01-fetch-v12-perf.pcap: the response time DeepFlow asserts in its perf test (504829 µs)', () => {
    const { sessions } = replayPcap(path.join(DIR, '01-fetch-v12-perf.pcap'), [spec]);
    expect(sessions).toHaveLength(1);
    expect(sessions[0].duration_ns).toBe(504_829_000n);
    expect(sessions[0].request_type).toBe('Fetch');
    expect(sessions[0].response_status).toBe('ok');
  });

  test('every disagreement is explained, every explanation still needed', () => {
    console.log(`Kafka agreement with DeepFlow\n${agreement.render()}`);
    expect(agreement.table().map((r) => r.capture)).toHaveLength(files.length);
    expect(agreement.unexplained).toEqual([]);
    expect(agreement.unused()).toEqual([]);
  });
});
