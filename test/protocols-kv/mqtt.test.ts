/**
 * MQTT on a real broker: mosquitto with subscribers and publishers from
 * mosquitto_sub/mosquitto_pub — MQTT 3.1, 3.1.1 and 5, QoS 0/1/2, an MQTT 5
 * user property carrying a W3C traceparent — captured on loopback; our
 * sessions are checked against tshark's MQTT dissection of the capture.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { captureAvailable, captureLoopback } from '../helpers/capture';
import { tsharkAvailable, tsharkFields } from '../helpers/tshark';
import { spec } from '../../protocols/mqtt';
import { replayPcap, type ReplayedSession } from '../../protocols/testing/replay';
import { mosquittoServer, run } from './servers';

const server = mosquittoServer();
const enabled = captureAvailable() && tsharkAvailable() && server.available;
const maybe = enabled ? test : test.skip;

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
let sessions: ReplayedSession[] = [];
let frames: Array<Record<string, string[]>> = [];
let malformed: Record<string, number> = {};

/** Starts mosquitto_sub; resolves with its output once it got `count` messages. */
function subscriber(port: number, args: string[]): { done: Promise<string> } {
  const child = spawn('/usr/bin/mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const timer = setTimeout(() => child.kill('SIGTERM'), 20_000);
  return {
    done: new Promise((resolve) =>
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(out);
      }),
    ),
  };
}

beforeAll(async () => {
  if (!enabled) return;
  await server.start();
  const cap = await captureLoopback(`tcp port ${server.port}`);
  try {
    const p = String(server.port);
    const sub311 = subscriber(server.port, ['-V', 'mqttv311', '-i', 'sub-311', '-q', '2', '-t', 'sensors/#', '-C', '4']);
    const sub5 = subscriber(server.port, ['-V', 'mqttv5', '-i', 'sub-v5', '-q', '1', '-t', 'v5/#', '-C', '1']);
    // Let both subscriptions reach the broker before publishing.
    await new Promise((r) => setTimeout(r, 700));
    const pub = (args: string[]) => run('/usr/bin/mosquitto_pub', ['-h', '127.0.0.1', '-p', p, ...args]);
    await pub(['-V', 'mqttv311', '-i', 'pub-q0', '-q', '0', '-t', 'sensors/temp', '-m', '21.5']);
    await pub(['-V', 'mqttv311', '-i', 'pub-q1', '-q', '1', '-t', 'sensors/hum', '-m', '40']);
    await pub(['-V', 'mqttv311', '-i', 'pub-q2', '-q', '2', '-t', 'sensors/co2', '-m', '415']);
    await pub(['-V', 'mqttv31', '-i', 'pub-v31', '-q', '1', '-t', 'sensors/old', '-m', 'x']);
    await pub(['-V', 'mqttv5', '-i', 'pub-v5', '-q', '1', '-t', 'v5/trace', '-m', 'hi', '-D', 'publish', 'user-property', 'traceparent', `00-${TRACE}-${SPAN}-01`]);
    await Promise.all([sub311.done, sub5.done]);
  } finally {
    const file = await cap.stop();
    const r = replayPcap(file, [spec]);
    sessions = r.sessions;
    malformed = r.malformed;
    frames = await tsharkFields(
      file,
      ['tcp.srcport', 'frame.time_epoch', 'mqtt.msgtype', 'mqtt.clientid', 'mqtt.ver', 'mqtt.topic', 'mqtt.msgid', 'mqtt.qos', 'mqtt.conack.val', 'mqtt.prop_key', 'mqtt.prop_value'],
      { decodeAs: [`tcp.port==${server.port},mqtt`], filter: 'mqtt' },
    );
    // The capture's temporary folder (made by captureLoopback) goes with it.
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}, 90_000);

afterAll(async () => {
  await server.destroy();
});

const NAMES = ['', 'CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP', 'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT', 'AUTH'];
const ANSWERS: Record<string, string> = { CONNACK: 'CONNECT', PUBACK: 'PUBLISH', PUBREC: 'PUBLISH', PUBCOMP: 'PUBREL', SUBACK: 'SUBSCRIBE', UNSUBACK: 'UNSUBSCRIBE', PINGRESP: 'PINGREQ' };

maybe('every MQTT message tshark dissects is in our sessions with the same fields', () => {
  expect(malformed).toEqual({});
  const ns = (f: Record<string, string[]>) => BigInt(f['frame.time_epoch'][0].replace('.', '').padEnd(19, '0').slice(0, 19));
  let compared = 0;
  let multi = 0;
  const differ: string[] = [];
  const same = (what: string, theirs: unknown, ours: unknown) => {
    compared++;
    if (theirs !== ours) differ.push(`${what}: tshark ${JSON.stringify(theirs)} vs ours ${JSON.stringify(ours)}`);
  };
  const usedRequest = new Set<ReplayedSession>();
  const usedAnswer = new Set<ReplayedSession>();
  for (const f of frames) {
    const types = f['mqtt.msgtype'].map((t) => NAMES[Number(t)]);
    // Optional fields cannot be told apart between messages of one frame: compare only the type there.
    const single = types.length === 1;
    if (!single) multi++;
    const t = ns(f);
    for (const type of types) {
      const requestType = ANSWERS[type];
      if (requestType) {
        const s = sessions.find((x) => x.request_type === requestType && x.end_time === t && !usedAnswer.has(x));
        same(`frame ${f.frame} ${type}`, requestType, s?.request_type);
        if (s) usedAnswer.add(s);
        if (single && s && type === 'CONNACK') same(`frame ${f.frame} return code`, Number(f['mqtt.conack.val'][0] ?? 0), s.response_code);
        if (single && s && f['mqtt.msgid'].length) same(`frame ${f.frame} ${type} id`, f['mqtt.msgid'][0], s.request_id);
        continue;
      }
      // A request (or one-way) message: the session it starts, from the same side.
      const fromServer = Number(f['tcp.srcport'][0]) === server.port;
      const s = sessions.find(
        (x) =>
          x.request_type === type &&
          x.start_time <= t &&
          t <= x.end_time &&
          !usedRequest.has(x) &&
          (x.attributes['mqtt.from_server'] === 'true') === fromServer &&
          (type !== 'PUBLISH' || !single || x.request_resource === f['mqtt.topic'][0]),
      );
      same(`frame ${f.frame} ${type}`, type, s?.request_type);
      if (s) usedRequest.add(s);
      if (!s || !single) continue;
      if (type === 'CONNECT') {
        same(`frame ${f.frame} client id`, f['mqtt.clientid'][0], s.request_domain);
        same(`frame ${f.frame} version`, { '3': '3.1', '4': '3.1.1', '5': '5.0' }[f['mqtt.ver'][0]], s.version);
      }
      if (type === 'PUBLISH') {
        same(`frame ${f.frame} qos`, f['mqtt.qos'][0], s.attributes['mqtt.qos']);
        same(`frame ${f.frame} packet id`, f['mqtt.msgid'][0] ?? '', s.request_id);
        const k = f['mqtt.prop_key'].indexOf('traceparent');
        if (k >= 0) same(`frame ${f.frame} traceparent`, f['mqtt.prop_value'][k].split('-')[1], s.trace_id);
      }
      if (type === 'SUBSCRIBE') {
        same(`frame ${f.frame} filter`, f['mqtt.topic'].join(','), s.request_resource);
        same(`frame ${f.frame} packet id`, f['mqtt.msgid'][0], s.request_id);
      }
    }
  }
  process.stdout.write(`\nMQTT vs tshark (mosquitto): ${sessions.length} sessions, ${compared} fields, ${compared - differ.length} agree, ${multi} frames with several messages\n`);
  expect(differ).toEqual([]);
  expect(compared).toBeGreaterThan(60);
});

maybe('versions, QoS flows, broker deliveries and the traceparent user property', () => {
  const connects = sessions.filter((s) => s.request_type === 'CONNECT');
  expect(connects.map((s) => [s.request_domain, s.version, s.response_status, s.response_code]).sort()).toEqual(
    [
      ['pub-q0', '3.1.1', 'ok', 0],
      ['pub-q1', '3.1.1', 'ok', 0],
      ['pub-q2', '3.1.1', 'ok', 0],
      ['pub-v31', '3.1', 'ok', 0],
      ['pub-v5', '5.0', 'ok', 0],
      ['sub-311', '3.1.1', 'ok', 0],
      ['sub-v5', '5.0', 'ok', 0],
    ].sort(),
  );
  const pubs = sessions.filter((s) => s.request_type === 'PUBLISH');
  // Each publish twice: client → broker, broker → subscriber (QoS of the subscription caps it).
  expect(pubs.filter((s) => !s.attributes['mqtt.from_server']).map((s) => [s.request_resource, s.attributes['mqtt.qos']])).toEqual([
    ['sensors/temp', '0'],
    ['sensors/hum', '1'],
    ['sensors/co2', '2'],
    ['sensors/old', '1'],
    ['v5/trace', '1'],
  ]);
  const delivered = pubs.filter((s) => s.attributes['mqtt.from_server'] === 'true');
  expect(delivered.map((s) => s.request_resource).sort()).toEqual(['sensors/co2', 'sensors/hum', 'sensors/old', 'sensors/temp', 'v5/trace']);
  expect(sessions.filter((s) => s.request_type === 'PUBREL')).toHaveLength(2);
  const traced = pubs.filter((s) => s.request_resource === 'v5/trace');
  expect(traced.map((s) => [s.trace_id, s.span_id, s.version])).toEqual([
    [TRACE, SPAN, '5.0'],
    [TRACE, SPAN, '5.0'],
  ]);
  expect(sessions.filter((s) => s.response_status !== 'ok')).toEqual([]);
});
