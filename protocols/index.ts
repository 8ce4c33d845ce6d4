/**
 * The L7 protocols this build parses, in inference order: when two specs are
 * equally sure, the earlier wins, so the most distinctive openings (TLS
 * records, the HTTP/2 preface, magic numbers) come first and the loosely
 * framed binary protocols last. Receivers take this list; tests may pass
 * their own.
 */
import { spec as amqp } from './amqp';
import { spec as dns } from './dns';
import { spec as dubbo } from './dubbo';
import { spec as http1 } from './http1';
import { spec as http2 } from './http2';
import { spec as kafka } from './kafka';
import { spec as memcached } from './memcached';
import { spec as mongo } from './mongo';
import { spec as mqtt } from './mqtt';
import { spec as mysql } from './mysql';
import { spec as nats } from './nats';
import { spec as postgresql } from './postgresql';
import { spec as redis } from './redis';
import { spec as tls } from './tls';
import type { ProtocolSpec } from './types';

/** Every protocol spec, in inference order. */
export const PROTOCOLS: readonly ProtocolSpec[] = [tls, http2, http1, dubbo, amqp, mqtt, nats, redis, memcached, mysql, postgresql, mongo, kafka, dns];

export { L7Connection, DEFAULT_DETECT_OPTIONS } from './detector';
export type { DetectOptions } from './detector';
export { DEFAULT_PARSER_OPTIONS, REQUEST, RESPONSE, newSession } from './types';
export type { ConnectionParser, Dir, FeedFlags, L7Session, ParserContext, ParserOptions, ProtocolSpec, ResponseStatus } from './types';
