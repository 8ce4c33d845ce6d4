/**
 * The five binary protocol specs (Kafka, Dubbo, MongoDB, AMQP, TLS)
 * together: each conformance capture is recognised as its own protocol
 * whatever the order of the specs, and no spec claims another's first
 * bytes or plain text. Ports are hints only: the captures' ports are
 * mostly not the well-known ones (Kafka on 36333, Dubbo on 6666…).
 */
import fs from 'node:fs';
import path from 'node:path';
import { replayPcap } from '../testing/replay';
import type { Dir, ProtocolSpec } from '../types';
import { spec as amqp } from '../amqp';
import { spec as dubbo } from '../dubbo';
import { spec as mongo } from '../mongo';
import { spec as tls } from '../tls';
import { spec as kafka } from './index';
import { conformancePath } from '../testing/conformance';

const FLOWS = conformancePath('deepflow/flow_generator');
const SPECS: ProtocolSpec[] = [kafka, dubbo, mongo, amqp, tls];
const FOLDERS: Array<[string, string]> = [
  ['kafka', 'Kafka'],
  ['dubbo', 'Dubbo'],
  ['mongo', 'MongoDB'],
  ['amqp', 'AMQP'],
];

const captures = FOLDERS.flatMap(([dir, name]) =>
  fs
    .readdirSync(path.join(FLOWS, dir))
    .filter((f) => f.endsWith('.pcap'))
    .map((f) => [path.join(dir, f), name] as [string, string]),
);

describe('inference across Kafka, Dubbo, MongoDB, AMQP and TLS', () => {
  test.each(captures)('%s is recognised as %s, in either spec order', (file, name) => {
    for (const order of [SPECS, [...SPECS].reverse()]) {
      const { sessions } = replayPcap(path.join(FLOWS, file), order);
      expect(sessions.length).toBeGreaterThan(0);
      expect(new Set(sessions.map((s) => s.l7_protocol))).toEqual(new Set([name]));
    }
  });

  test('no spec claims the first bytes of another protocol, or text', () => {
    // A spec that takes every connection records the first bytes of each direction.
    const firsts: Array<{ name: string; dir: Dir; data: Uint8Array }> = [];
    for (const [file, name] of captures) {
      const recorder: ProtocolSpec = {
        name: 'recorder',
        transport: 'tcp',
        ports: [],
        infer: () => 2,
        create: () => {
          const seen = new Set<Dir>();
          return {
            feed(dir, data) {
              if (seen.has(dir) || data.length === 0) return;
              seen.add(dir);
              firsts.push({ name, dir, data: Uint8Array.from(data) });
            },
            expire: () => undefined,
            close: () => undefined,
          };
        },
      };
      replayPcap(path.join(FLOWS, file), [recorder]);
    }
    expect(firsts.length).toBeGreaterThan(captures.length);
    const text = [Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), Buffer.from('*1\r\n$4\r\nPING\r\n'), Buffer.from('SSH-2.0-OpenSSH_9.2\r\n')];
    for (const spec of SPECS) {
      for (const f of firsts) if (f.name !== spec.name) expect([spec.name, f.name, f.dir, spec.infer(f.data, f.dir, 0)]).toEqual([spec.name, f.name, f.dir, 0]);
      for (const t of text) for (const dir of [0, 1] as Dir[]) expect([spec.name, spec.infer(t, dir, spec.ports[0])]).toEqual([spec.name, 0]);
    }
  });
});
