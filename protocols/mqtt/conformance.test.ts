/**
 * MQTT against DeepFlow's conformance captures. DeepFlow prints one record
 * per packet; we fold them into the sessions DeepFlow's log merging makes
 * (CONNECT+CONNACK, PUBLISH QoS 1+PUBACK, QoS 2+PUBREC, PUBREL+PUBCOMP,
 * SUBSCRIBE+SUBACK, UNSUBSCRIBE+UNSUBACK, PINGREQ+PINGRESP; QoS 0 PUBLISH and
 * DISCONNECT alone) and compare request_type, request_domain (client id),
 * request_resource (topic or filters), response_code, response_status and
 * version with ours, in order.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseResultFile, type ResultRecord, type RustStruct, type RustValue } from '../testing/deepflow-result';
import { replayPcap } from '../testing/replay';
import { spec } from './index';
import { conformancePath } from '../testing/conformance';

const DIR = conformancePath('deepflow/flow_generator/mqtt');

interface Expected {
  request_type: string;
  request_domain: string;
  request_resource: string;
  response_code: number | null;
  response_status: string;
  version: string;
}

/** Disagreements and why, by `capture`. */
const EXPLAINED: Record<string, string> = {
  'mqtt_error.pcap':
    'The capture holds one DNS query over TCP port 53 (0x209c… is its length prefix and id). DeepFlow, fed the packet as MQTT, prints it as a CONNACK of version 0; our inference rejects it (0x20 0x9c 0x01 declares 156 bytes of a 63-byte chunk, and a CONNACK is server-only), so we report no session.',
};

function kindOf(r: ResultRecord): { kind: string; qos: string } {
  const t = r.pkt_type as RustValue;
  if (typeof t === 'string') return { kind: t, qos: '' };
  const s = t as RustStruct;
  return { kind: s.$type, qos: String(s.qos) };
}

function expectedSessions(records: ResultRecord[]): Expected[] {
  const out: Expected[] = [];
  const open: Record<string, Expected[]> = {};
  const version = (v: RustValue) => (v === 3 ? '3.1' : v === 4 ? '3.1.1' : v === 5 ? '5.0' : '');
  const start = (r: ResultRecord, type: string, waitFor: string | undefined): Expected => {
    const topics = Array.isArray(r.subscribe_topics) ? (r.subscribe_topics as RustStruct[]).map((t) => String(t.name)).join(',') : '';
    const e: Expected = {
      request_type: type,
      request_domain: typeof r.client_id === 'string' ? r.client_id : '',
      request_resource: typeof r.publish_topic === 'string' ? r.publish_topic : topics,
      response_code: null,
      response_status: 'ok',
      version: version(r.version),
    };
    out.push(e);
    if (waitFor) (open[waitFor] ??= []).push(e);
    return e;
  };
  const finish = (r: ResultRecord, kind: string): void => {
    const e = open[kind]?.shift();
    if (!e) {
      // A response DeepFlow saw without its request.
      out.push({ request_type: kind.toUpperCase(), request_domain: '', request_resource: '', response_code: typeof r.code === 'number' ? r.code : null, response_status: 'ok', version: version(r.version) });
      return;
    }
    if (typeof r.code === 'number') e.response_code = r.code;
  };
  for (const r of records) {
    const { kind, qos } = kindOf(r);
    switch (kind) {
      case 'Connect':
        start(r, 'CONNECT', 'Connack');
        break;
      case 'Publish':
        start(r, 'PUBLISH', qos === 'AtLeastOnce' ? 'Puback' : qos === 'ExactlyOnce' ? 'Pubrec' : undefined);
        break;
      case 'Pubrel':
        start(r, 'PUBREL', 'Pubcomp');
        break;
      case 'Subscribe':
        start(r, 'SUBSCRIBE', 'Suback');
        break;
      case 'Unsubscribe':
        start(r, 'UNSUBSCRIBE', 'Unsuback');
        break;
      case 'Pingreq':
        start(r, 'PINGREQ', 'Pingresp');
        break;
      case 'Disconnect':
        start(r, 'DISCONNECT', undefined);
        break;
      default:
        finish(r, kind);
    }
  }
  return out;
}

const table: string[] = [];
afterAll(() => process.stdout.write(`\nMQTT conformance vs DeepFlow\n${table.join('\n')}\n`));

describe('MQTT conformance with DeepFlow captures', () => {
  const captures = fs.readdirSync(DIR).filter((f) => f.endsWith('.pcap') && fs.existsSync(path.join(DIR, f.replace(/\.pcap$/, '.result'))));
  test('the captures are there', () => {
    expect(captures.sort()).toEqual(['mqtt_connect.pcap', 'mqtt_error.pcap', 'mqtt_pub.pcap', 'mqtt_roundtrip.pcap']);
  });

  test.each(captures)('%s', (capture) => {
    const expected = expectedSessions(parseResultFile(fs.readFileSync(path.join(DIR, capture.replace(/\.pcap$/, '.result')), 'utf8')));
    const replay = replayPcap(path.join(DIR, capture), [spec]);
    expect(replay.malformed).toEqual({});
    if (EXPLAINED[capture]) {
      table.push(`${capture.padEnd(22)} sessions=${replay.sessions.length} deepflow=${expected.length} (explained: not MQTT)`);
      expect(replay.sessions).toEqual([]);
      expect(expected.map((e) => [e.request_type, e.version])).toEqual([['CONNACK', '']]);
      return;
    }
    expect(replay.sessions.length).toBe(expected.length);
    let compared = 0;
    let agreed = 0;
    const differ: string[] = [];
    expected.forEach((e, i) => {
      const ours = replay.sessions[i];
      for (const field of Object.keys(e) as Array<keyof Expected>) {
        compared++;
        if (ours[field] === e[field]) agreed++;
        else differ.push(`${i}.${field}: DeepFlow ${JSON.stringify(e[field])} vs ours ${JSON.stringify(ours[field])}`);
      }
    });
    table.push(`${capture.padEnd(22)} sessions=${replay.sessions.length} fields=${compared} agree=${((100 * agreed) / compared).toFixed(1)}%`);
    expect(differ).toEqual([]);
  });

  test('mqtt_sub.pcap (no DeepFlow result; a capture that starts at SUBSCRIBE) is inferred and paired', () => {
    const replay = replayPcap(path.join(DIR, 'mqtt_sub.pcap'), [spec]);
    expect(replay.sessions.map((s) => [s.request_type, s.request_resource, s.request_id, s.response_result, s.response_status])).toEqual([
      ['SUBSCRIBE', 'hello/+/world', '1', '0', 'ok'],
    ]);
  });

  test('QoS 2 in mqtt_roundtrip: PUBLISH+PUBREC and PUBREL+PUBCOMP share the packet id', () => {
    const replay = replayPcap(path.join(DIR, 'mqtt_roundtrip.pcap'), [spec]);
    expect(replay.sessions.filter((s) => s.request_id === '12409').map((s) => [s.request_type, s.captured_request_bytes, s.captured_response_bytes])).toEqual([
      ['PUBLISH', 37, 4],
      ['PUBREL', 4, 4],
    ]);
    // The QoS 0 PUBLISH (frame 11) is the client's; DeepFlow labels every
    // QoS 0 PUBLISH a Response record, whichever side sent it.
    const qos0 = replay.sessions.find((s) => s.request_type === 'PUBLISH' && s.request_id === '');
    expect(qos0).toMatchObject({ request_resource: 'deepflow-agent', captured_request_bytes: 35, captured_response_bytes: 0, response_status: 'ok' });
    expect(qos0?.attributes['mqtt.from_server']).toBeUndefined();
  });
});
