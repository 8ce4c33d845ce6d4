/**
 * The MQTT protocol spec (3.1, 3.1.1, 5.0 over TCP). See `parser.ts` for the fields.
 */
import type { Confidence, Dir, ParserContext, ProtocolSpec } from '../types';
import { validFirstByte } from './packet';
import { MqttParser } from './parser';

export { MqttParser, MQTT_MALFORMED } from './parser';
export { reasonStatus, reasonName, versionText } from './packet';

/** Packet types only a client sends / only a server sends. */
const CLIENT_ONLY = new Set([1, 8, 10, 12]);
const SERVER_ONLY = new Set([2, 9, 11, 13]);

/**
 * A CONNECT with the MQTT protocol name and a known level is certain. Any
 * other chunk is plausible when it is exactly a run of well-formed packets
 * of types its direction may send (a capture that starts after CONNECT).
 */
function inferMqtt(d: Uint8Array, dir: Dir): Confidence {
  const n = d.length;
  if (n < 2) return 0;
  if (d[0] === 0x10 && dir === 0) {
    let p = 1;
    let len = 0;
    let mult = 1;
    for (let i = 0; i < 4 && p < n; i++) {
      const c = d[p++];
      len += (c & 0x7f) * mult;
      mult *= 128;
      if ((c & 0x80) === 0) break;
    }
    if (p + 7 > n || len < 10) return 0;
    const nameLen = (d[p] << 8) | d[p + 1];
    const name = Buffer.from(d.buffer, d.byteOffset + p + 2, Math.min(nameLen, n - p - 2)).toString('latin1');
    const level = d[p + 2 + nameLen];
    if ((name === 'MQTT' && (level === 4 || level === 5)) || (name === 'MQIsdp' && level === 3)) return 2;
    return 0;
  }
  let p = 0;
  let packets = 0;
  while (p < n) {
    const first = d[p];
    if (!validFirstByte(first)) return 0;
    const type = first >> 4;
    if ((dir === 0 && SERVER_ONLY.has(type)) || (dir === 1 && CLIENT_ONLY.has(type))) return 0;
    let q = p + 1;
    let len = 0;
    let mult = 1;
    let done = false;
    for (let i = 0; i < 4 && q < n; i++) {
      const c = d[q++];
      len += (c & 0x7f) * mult;
      mult *= 128;
      if ((c & 0x80) === 0) {
        done = true;
        break;
      }
    }
    if (!done || q + len > n) return 0;
    if ((type === 12 || type === 13) && len !== 0) return 0;
    if ((type === 4 || type === 5 || type === 6 || type === 7 || type === 11) && len < 2) return 0;
    if (type === 2 && len < 2) return 0;
    if (type === 3) {
      if (len < 2) return 0;
      const tl = (d[q] << 8) | d[q + 1];
      if (tl + 2 > len) return 0;
      for (let i = q + 2; i < q + 2 + tl; i++) if (d[i] < 0x20 || d[i] === 0x7f) return 0;
    }
    p = q + len;
    packets++;
  }
  return packets > 0 ? 1 : 0;
}

/** MQTT over TCP. */
export const spec: ProtocolSpec = {
  name: 'MQTT',
  transport: 'tcp',
  ports: [1883],
  infer(data: Uint8Array, dir: Dir): Confidence {
    try {
      return inferMqtt(data, dir);
    } catch {
      return 0;
    }
  },
  create(ctx: ParserContext) {
    return new MqttParser(ctx);
  },
};
