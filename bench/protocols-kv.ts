/**
 * Workloads of the DNS, Redis, Memcached, MQTT and NATS parsers for
 * `bench/protocols.ts` (the machinery is `bench/lib/protocol-bench.ts`).
 * Definitions only: run them with
 * `node dist/bench/protocols.js [seconds] DNS,Redis,Memcached,MQTT,NATS`.
 *
 * Per protocol:
 * - the DeepFlow conformance captures (flow_generator/<protocol>);
 * - a synthetic capture large enough for a steady-state figure: DNS over UDP
 *   (A/AAAA/CNAME answers), Redis with pipelined commands, memcached
 *   set/get with values, MQTT QoS 1 publishes with their acks, NATS
 *   publishes and deliveries.
 *
 * tshark 4.0 has no NATS dissector: for NATS it dissects TCP only
 * (`-e tcp.len`), which the table's notes say.
 */
import { spec as dnsSpec } from '../protocols/dns';
import { spec as memcachedSpec } from '../protocols/memcached';
import { spec as mqttSpec } from '../protocols/mqtt';
import { spec as natsSpec } from '../protocols/nats';
import { spec as redisSpec } from '../protocols/redis';
import { printDefinitionsOnly, writeConversations, writeDatagrams, type Conversation, type ProtocolWorkload, type TsharkQuery } from './lib/protocol-bench';

/** A DNS name in wire format (labels, no compression). */
function dnsName(name: string): number[] {
  const out: number[] = [];
  for (const l of name.split('.')) out.push(l.length, ...Buffer.from(l));
  out.push(0);
  return out;
}

/** 10,000 DNS queries over UDP with their answers (A, AAAA, CNAME → A in turn); 100 client ports. */
function dnsExchanges(): Array<[Uint8Array, Uint8Array]> {
  const exchanges: Array<[Uint8Array, Uint8Array]> = [];
  for (let i = 0; i < 10_000; i++) {
    const id = i & 0xffff;
    const kind = i % 3;
    const qname = dnsName(`svc-${i % 500}.ns-${i % 7}.svc.cluster.local`);
    const qtype = kind === 1 ? 28 : 1;
    const q = [id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...qname, 0, qtype, 0, 1];
    let answers: number[];
    let an = 1;
    if (kind === 0) answers = [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 0, i & 255, (i >> 8) & 255];
    else if (kind === 1) answers = [0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 30, 0, 16, 0xfd, 0, ...new Array<number>(13).fill(0), i & 255];
    else {
      const target = dnsName(`edge-${i % 9}.cdn.example.net`);
      answers = [0xc0, 12, 0, 5, 0, 1, 0, 0, 1, 44, 0, target.length, ...target, 0xc0, 12 + qname.length + 4 + 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 93, 184, 216, i & 255];
      an = 2;
    }
    const r = [id >> 8, id & 255, 0x81, 0x80, 0, 1, 0, an, 0, 0, 0, 0, ...qname, 0, qtype, 0, 1, ...answers];
    exchanges.push([Uint8Array.from(q), Uint8Array.from(r)]);
  }
  return exchanges;
}

/** The text protocols' payloads. */
const B = (s: string) => Buffer.from(s);
/** A RESP array of bulk strings: a Redis command as clients send it. */
const resp = (...a: string[]) => `*${a.length}\r\n` + a.map((x) => `$${Buffer.byteLength(x)}\r\n${x}\r\n`).join('');

/** 20 connections × 1,000 Redis commands, pipelined 50 at a time (SET, GET, HGETALL, INCR). */
function redisConversations(): Conversation[] {
  const convs: Conversation[] = [];
  for (let c = 0; c < 20; c++) {
    const steps: Conversation = [];
    for (let b = 0; b < 20; b++) {
      let req = '';
      let rep = '';
      for (let i = 0; i < 50; i++) {
        const n = c * 1000 + b * 50 + i;
        switch (n % 4) {
          case 0:
            req += resp('SET', `session:${n}`, 'v'.repeat(100), 'EX', '3600');
            rep += '+OK\r\n';
            break;
          case 1:
            req += resp('GET', `session:${n - 1}`);
            rep += `$100\r\n${'v'.repeat(100)}\r\n`;
            break;
          case 2:
            req += resp('HGETALL', `user:${n % 100}`);
            rep += '*4\r\n$4\r\nname\r\n$5\r\nalice\r\n$3\r\nage\r\n$2\r\n42\r\n';
            break;
          default:
            req += resp('INCR', `hits:${n % 10}`);
            rep += `:${n}\r\n`;
        }
      }
      steps.push([0, B(req)], [1, B(rep)]);
    }
    convs.push(steps);
  }
  return convs;
}

/** 20 connections × 500 set + get pairs with 200-byte values. */
function memcachedConversations(): Conversation[] {
  const value = 'm'.repeat(200);
  const convs: Conversation[] = [];
  for (let c = 0; c < 20; c++) {
    const steps: Conversation = [];
    for (let i = 0; i < 500; i++) {
      const key = `item:${c}:${i}`;
      steps.push([0, B(`set ${key} 0 300 ${value.length}\r\n${value}\r\n`)], [1, B('STORED\r\n')]);
      steps.push([0, B(`get ${key}\r\n`)], [1, B(`VALUE ${key} 0 ${value.length}\r\n${value}\r\nEND\r\n`)]);
    }
    convs.push(steps);
  }
  return convs;
}

/** An MQTT control packet: fixed header with variable-length remaining length, then `body`. */
function mqttPacket(first: number, body: number[]): Uint8Array {
  const len: number[] = [];
  let n = body.length;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    len.push(b);
  } while (n);
  return Uint8Array.from([first, ...len, ...body]);
}
/** An MQTT UTF-8 string: 16-bit length, bytes. */
const mstr = (s: string) => [s.length >> 8, s.length & 255, ...Buffer.from(s)];

/** 20 connections: CONNECT, then 1,000 QoS 1 PUBLISH (100-byte payloads) with PUBACK. */
function mqttConversations(): Conversation[] {
  const convs: Conversation[] = [];
  for (let c = 0; c < 20; c++) {
    const steps: Conversation = [
      [0, mqttPacket(0x10, [...mstr('MQTT'), 4, 2, 0, 60, ...mstr(`sensor-${c}`)])],
      [1, mqttPacket(0x20, [0, 0])],
    ];
    for (let i = 1; i <= 1000; i++) {
      steps.push([0, mqttPacket(0x32, [...mstr(`plant/${c}/line/${i % 8}/temp`), i >> 8, i & 255, ...Buffer.alloc(100, 0x31)])]);
      steps.push([1, mqttPacket(0x40, [i >> 8, i & 255])]);
    }
    convs.push(steps);
  }
  return convs;
}

/** 20 connections: INFO/CONNECT, then 1,000 PUB (100-byte payloads) each echoed back as MSG. */
function natsConversations(): Conversation[] {
  const convs: Conversation[] = [];
  const payload = 'n'.repeat(100);
  for (let c = 0; c < 20; c++) {
    const steps: Conversation = [
      [1, B('INFO {"server_id":"NBENCH","server_name":"bench","version":"2.10.7","go":"go1.21","host":"0.0.0.0","port":4222,"headers":true,"max_payload":1048576,"proto":1}\r\n')],
      [0, B('CONNECT {"verbose":false,"pedantic":false,"name":"bench","lang":"go","version":"1.31.0","protocol":1,"headers":true}\r\nSUB orders.> 1\r\n')],
    ];
    for (let i = 0; i < 1000; i++) {
      steps.push([0, B(`PUB orders.${c}.${i % 16} ${payload.length}\r\n${payload}\r\n`)]);
      steps.push([1, B(`MSG orders.${c}.${i % 16} 1 ${payload.length}\r\n${payload}\r\n`)]);
    }
    convs.push(steps);
  }
  return convs;
}


const DNS: TsharkQuery = { fields: ['dns.qry.name', 'dns.flags.rcode', 'dns.a'], dissector: 'dns' };
const REDIS: TsharkQuery = { fields: ['resp.array.length', 'resp.bulk_string.value'], dissector: 'resp' };
const MEMCACHED: TsharkQuery = { fields: ['memcache.command', 'memcache.key', 'memcache.response'], dissector: 'memcache' };
const MQTT: TsharkQuery = { fields: ['mqtt.msgtype', 'mqtt.topic'], dissector: 'mqtt' };
const NATS: TsharkQuery = { fields: ['tcp.len'], note: 'tshark has no NATS dissector: its figure is TCP only (tcp.len)' };

/** The DNS, Redis, Memcached, MQTT and NATS workloads: conformance, then synthetic, per protocol. */
export const kvWorkloads: readonly ProtocolWorkload[] = [
  { spec: dnsSpec, name: 'conformance', capture: { kind: 'conformance', folder: 'dns' }, tshark: DNS },
  { spec: dnsSpec, name: 'synthetic UDP, 10,000 queries', capture: { kind: 'synthetic', write: (f) => writeDatagrams(f, 53, dnsExchanges()) }, tshark: DNS },
  { spec: redisSpec, name: 'conformance', capture: { kind: 'conformance', folder: 'redis' }, tshark: REDIS },
  { spec: redisSpec, name: 'synthetic pipelined, 20,000 commands', capture: { kind: 'synthetic', write: (f) => writeConversations(f, 6379, redisConversations()) }, tshark: REDIS },
  { spec: memcachedSpec, name: 'conformance', capture: { kind: 'conformance', folder: 'memcached' }, tshark: MEMCACHED },
  { spec: memcachedSpec, name: 'synthetic set/get, 20,000 commands', capture: { kind: 'synthetic', write: (f) => writeConversations(f, 11211, memcachedConversations()) }, tshark: MEMCACHED },
  { spec: mqttSpec, name: 'conformance', capture: { kind: 'conformance', folder: 'mqtt' }, tshark: MQTT },
  { spec: mqttSpec, name: 'synthetic QoS 1, 20,000 publishes', capture: { kind: 'synthetic', write: (f) => writeConversations(f, 1883, mqttConversations()) }, tshark: MQTT },
  { spec: natsSpec, name: 'conformance', capture: { kind: 'conformance', folder: 'nats' }, tshark: NATS },
  { spec: natsSpec, name: 'synthetic PUB/MSG, 40,000 operations', capture: { kind: 'synthetic', write: (f) => writeConversations(f, 4222, natsConversations()) }, tshark: NATS },
];

if (require.main === module) printDefinitionsOnly('DNS,Redis,Memcached,MQTT,NATS');
