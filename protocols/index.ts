/**
 * The L7 protocols this build parses, in inference order (more specific
 * first). Receivers take this list; tests may pass their own.
 */
import { spec as http1 } from './http1';
import { spec as http2 } from './http2';
import { spec as mysql } from './mysql';
import { spec as postgresql } from './postgresql';
import type { ProtocolSpec } from './types';

/** Every protocol spec, in inference order. */
export const PROTOCOLS: readonly ProtocolSpec[] = [http2, http1, mysql, postgresql];

export { L7Connection, DEFAULT_DETECT_OPTIONS } from './detector';
export type { DetectOptions } from './detector';
export { DEFAULT_PARSER_OPTIONS, REQUEST, RESPONSE, newSession } from './types';
export type { ConnectionParser, Dir, FeedFlags, L7Session, ParserContext, ParserOptions, ProtocolSpec, ResponseStatus } from './types';
