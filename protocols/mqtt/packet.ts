/**
 * MQTT 3.1, 3.1.1 and 5.0 packet facts (OASIS mqtt-v3.1.1 and mqtt-v5.0):
 * packet types, fixed-header flags, reason codes, and the reading of MQTT 5
 * property lists into a reusable {@link Props}.
 */

/** Control packet type names, by type number. */
export const PACKET_NAMES = [
  '', 'CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP', 'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE',
  'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT', 'AUTH',
];

/** Whether a fixed header's first byte is valid: type 1..15 with the flags its type requires. */
export function validFirstByte(b: number): boolean {
  const type = b >> 4;
  const flags = b & 0x0f;
  if (type === 0) return false;
  if (type === 3) return (flags & 0x06) !== 0x06; // QoS 3 is malformed
  if (type === 6 || type === 8 || type === 10) return flags === 0x02;
  return flags === 0;
}

/** MQTT version number (protocol level) as text. */
export function versionText(level: number): string {
  return level === 3 ? '3.1' : level === 4 ? '3.1.1' : level === 5 ? '5.0' : '';
}

/** MQTT 3.1/3.1.1 CONNACK return codes. */
const CONNACK_V3 = ['', 'unacceptable protocol version', 'identifier rejected', 'server unavailable', 'bad user name or password', 'not authorized'];

/** MQTT 5 reason codes of 0x80 and above. */
const REASONS_V5: Record<number, string> = {
  0x80: 'Unspecified error', 0x81: 'Malformed Packet', 0x82: 'Protocol Error', 0x83: 'Implementation specific error',
  0x84: 'Unsupported Protocol Version', 0x85: 'Client Identifier not valid', 0x86: 'Bad User Name or Password',
  0x87: 'Not authorized', 0x88: 'Server unavailable', 0x89: 'Server busy', 0x8a: 'Banned', 0x8b: 'Server shutting down',
  0x8c: 'Bad authentication method', 0x8d: 'Keep Alive timeout', 0x8e: 'Session taken over', 0x8f: 'Topic Filter invalid',
  0x90: 'Topic Name invalid', 0x91: 'Packet Identifier in use', 0x92: 'Packet Identifier not found',
  0x93: 'Receive Maximum exceeded', 0x94: 'Topic Alias invalid', 0x95: 'Packet too large', 0x96: 'Message rate too high',
  0x97: 'Quota exceeded', 0x98: 'Administrative action', 0x99: 'Payload format invalid', 0x9a: 'Retain not supported',
  0x9b: 'QoS not supported', 0x9c: 'Use another server', 0x9d: 'Server moved', 0x9e: 'Shared Subscriptions not supported',
  0x9f: 'Connection rate exceeded', 0xa0: 'Maximum connect time', 0xa1: 'Subscription Identifiers not supported',
  0xa2: 'Wildcard Subscriptions not supported',
};

/** Failure codes that report a server-side condition; the other failures are the client's. */
const SERVER_SIDE = new Set([0x80, 0x83, 0x88, 0x89, 0x8b, 0x98, 0x9c, 0x9d, 0xa0]);

/** Status of an MQTT 5 reason code (also SUBACK's 0x80 failure in 3.1.1). */
export function reasonStatus(code: number): 'ok' | 'client_error' | 'server_error' {
  if (code < 0x80) return 'ok';
  return SERVER_SIDE.has(code) ? 'server_error' : 'client_error';
}

/** The name of an MQTT 5 failure reason code, '' below 0x80. */
export function reasonName(code: number): string {
  return code >= 0x80 ? (REASONS_V5[code] ?? `reason 0x${code.toString(16)}`) : '';
}

/** CONNACK status and text for a 3.1/3.1.1 return code. */
export function connackV3(code: number): { status: 'ok' | 'client_error' | 'server_error' | 'unknown'; text: string } {
  if (code === 0) return { status: 'ok', text: '' };
  if (code === 3) return { status: 'server_error', text: CONNACK_V3[3] };
  if (code <= 5) return { status: 'client_error', text: CONNACK_V3[code] };
  return { status: 'unknown', text: `return code ${code}` };
}

/** Most user properties kept per packet. */
export const MAX_USER_PROPS = 32;

/** Properties of one packet, reused (reset by {@link readProps}). */
export interface Props {
  topicAlias: number;
  reasonString: string;
  responseTopic: string;
  assignedClientId: string;
  hasCorrelationData: boolean;
  userCount: number;
  userNames: string[];
  userValues: string[];
}

/** A fresh property holder. */
export function newProps(): Props {
  return {
    topicAlias: 0, reasonString: '', responseTopic: '', assignedClientId: '', hasCorrelationData: false, userCount: 0,
    userNames: new Array<string>(MAX_USER_PROPS).fill(''), userValues: new Array<string>(MAX_USER_PROPS).fill(''),
  };
}

/** Reads a variable byte integer at `p`; its value goes to `scratch.varValue`. Returns the offset after it, -1 when malformed. */
export function readVarInt(b: Uint8Array, p: number, end: number): number {
  let v = 0;
  let mult = 1;
  for (let i = 0; i < 4; i++) {
    if (p >= end) return -1;
    const c = b[p++];
    v += (c & 0x7f) * mult;
    if ((c & 0x80) === 0) {
      scratch.varValue = v;
      return p;
    }
    mult *= 128;
  }
  return -1;
}

/**
 * Results of the last {@link readVarInt} and {@link readString}: one shared
 * slot instead of a tuple per call (reading is never re-entered).
 */
export const scratch = { varValue: 0, strValue: '' };

/**
 * Node's own Buffer slicers, called on a plain Uint8Array: no Buffer view
 * object per string (these are what `buf.toString('latin1' | 'utf8', s, e)`
 * run underneath).
 */
type Slicer = (this: Uint8Array, start: number, end: number) => string;
const LATIN1 = (Buffer.prototype as unknown as { latin1Slice: Slicer }).latin1Slice;
const UTF8 = (Buffer.prototype as unknown as { utf8Slice: Slicer }).utf8Slice;

/** `b[s, e)` as UTF-8 text; ASCII (most keys, commands, subjects) takes the cheaper one-byte path. */
function utf8(b: Uint8Array, s: number, e: number): string {
  for (let i = s; i < e; i++) if (b[i] >= 0x80) return UTF8.call(b, s, e);
  return LATIN1.call(b, s, e);
}

/** Reads a UTF-8 string (2-byte length) at `p` into `scratch.strValue`. Returns the offset after it, -1 when it does not fit. */
export function readString(b: Uint8Array, p: number, end: number): number {
  if (p + 2 > end) return -1;
  const n = (b[p] << 8) | b[p + 1];
  if (p + 2 + n > end) return -1;
  scratch.strValue = n === 0 ? '' : utf8(b, p + 2, p + 2 + n);
  return p + 2 + n;
}

/** Skips a 2-byte-length string or binary field. */
function skipBinary(b: Uint8Array, p: number, end: number): number {
  if (p + 2 > end) return -1;
  const n = (b[p] << 8) | b[p + 1];
  return p + 2 + n > end ? -1 : p + 2 + n;
}

/** Reads an MQTT 5 property list (length first) at `p` into `out`. Returns the offset after it, -1 when malformed. */
export function readProps(b: Uint8Array, p: number, end: number, out: Props): number {
  out.topicAlias = 0;
  out.reasonString = '';
  out.responseTopic = '';
  out.assignedClientId = '';
  out.hasCorrelationData = false;
  out.userCount = 0;
  p = readVarInt(b, p, end);
  if (p < 0) return -1;
  const stop = p + scratch.varValue;
  if (stop > end) return -1;
  while (p < stop) {
    const id = b[p++];
    switch (id) {
      case 0x01: case 0x17: case 0x19: case 0x24: case 0x25: case 0x28: case 0x29: case 0x2a:
        p += 1;
        break;
      case 0x13: case 0x21: case 0x22:
        p += 2;
        break;
      case 0x23:
        if (p + 2 > stop) return -1;
        out.topicAlias = (b[p] << 8) | b[p + 1];
        p += 2;
        break;
      case 0x02: case 0x11: case 0x18: case 0x27:
        p += 4;
        break;
      case 0x0b:
        p = readVarInt(b, p, stop);
        break;
      case 0x03: case 0x15: case 0x1a: case 0x1c:
        p = skipBinary(b, p, stop);
        break;
      case 0x08:
        p = readString(b, p, stop);
        if (p > 0) out.responseTopic = scratch.strValue;
        break;
      case 0x12:
        p = readString(b, p, stop);
        if (p > 0) out.assignedClientId = scratch.strValue;
        break;
      case 0x1f:
        p = readString(b, p, stop);
        if (p > 0) out.reasonString = scratch.strValue;
        break;
      case 0x09:
        out.hasCorrelationData = true;
        p = skipBinary(b, p, stop);
        break;
      case 0x16:
        p = skipBinary(b, p, stop);
        break;
      case 0x26: {
        p = readString(b, p, stop);
        if (p < 0) return -1;
        const name = scratch.strValue;
        p = readString(b, p, stop);
        if (p > 0 && out.userCount < MAX_USER_PROPS) {
          out.userNames[out.userCount] = name;
          out.userValues[out.userCount] = scratch.strValue;
          out.userCount++;
        }
        break;
      }
      default:
        return -1;
    }
    if (p < 0 || p > stop) return -1;
  }
  return stop;
}
