/**
 * Inference with every protocol of the build competing: each DeepFlow
 * capture of a protocol we parse is recognised as that protocol and nothing
 * else, so adding a parser cannot silently steal another's connections.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PROTOCOLS } from '../protocols';
import { replayPcap } from '../protocols/testing/replay';

const ROOT = path.resolve(__dirname, '..', '..', 'shared', 'conformance', 'deepflow', 'flow_generator');

/** Capture folder → the protocols its sessions may carry. */
const EXPECTED: Record<string, string[]> = {
  http: ['HTTP', 'HTTP2', 'gRPC'],
  mysql: ['MySQL'],
  postgre: ['PostgreSQL'],
  kafka: ['Kafka'],
  dubbo: ['Dubbo'],
  mongo: ['MongoDB'],
  amqp: ['AMQP'],
  dns: ['DNS'],
  redis: ['Redis'],
  memcached: ['Memcached'],
  mqtt: ['MQTT'],
  nats: ['NATS'],
};

/** Captures whose content is not what their folder says, and what they really hold. */
const ACTUALLY: Record<string, string[]> = {
  // A DNS query over TCP port 53; DeepFlow's MQTT test reads it as a CONNACK.
  'mqtt/mqtt_error.pcap': ['DNS'],
};

const cases = Object.entries(EXPECTED).flatMap(([dir, protocols]) =>
  fs
    .readdirSync(path.join(ROOT, dir))
    .filter((f) => f.endsWith('.pcap'))
    .map((f) => [`${dir}/${f}`, ACTUALLY[`${dir}/${f}`] ?? protocols] as const),
);

describe('protocol inference with every parser competing', () => {
  it.each(cases)('%s is recognised as its own protocol only', (file, protocols) => {
    const { sessions } = replayPcap(path.join(ROOT, file), PROTOCOLS);
    expect(sessions.length).toBeGreaterThan(0);
    const found = [...new Set(sessions.map((s) => s.l7_protocol))];
    expect(found.filter((p) => !protocols.includes(p))).toEqual([]);
  });
});

/** Captures of protocols this build does not parse: no parser may claim them. */
const FOREIGN = ['brpc', 'fastcgi', 'krpc', 'openwire', 'pulsar', 'rocketmq', 'sofarpc', 'some_ip', 'tars', 'zmtp'];

const foreign = FOREIGN.flatMap((dir) =>
  fs
    .readdirSync(path.join(ROOT, dir))
    .filter((f) => f.endsWith('.pcap'))
    .map((f) => `${dir}/${f}`),
);

describe('protocol inference on protocols we do not parse', () => {
  it.each(foreign)('%s is claimed by no parser', (file) => {
    const { sessions } = replayPcap(path.join(ROOT, file), PROTOCOLS);
    expect([...new Set(sessions.map((s) => s.l7_protocol))]).toEqual([]);
  });
});
