/**
 * The contract between L7 protocol parsers and the receivers that feed them
 * (pcap: reassembled TCP streams and UDP datagrams; ebpf: socket reads and
 * writes, possibly only a prefix of each).
 *
 * - A {@link ProtocolSpec} recognises its protocol from the first bytes of
 *   a direction (`infer`; ports are hints, never enough alone) and creates a
 *   {@link ConnectionParser} per connection.
 * - The parser gets ordered byte chunks per direction with capture times and
 *   flags (a gap before the chunk; a chunk that is only the prefix of a larger
 *   message), pairs requests with responses the protocol's way, and emits
 *   {@link L7Session} records through its {@link ParserContext}.
 * - Parsers never throw out of `feed`, `expire` or `close`, whatever the bytes:
 *   malformed input is counted (`ctx.malformed`) and the parser resynchronises
 *   or gives up on the connection. Buffering per connection is bounded by
 *   `options.maxBufferBytes`.
 */

/** Which way bytes flow: client → server (requests) or server → client (responses). */
export type Dir = 0 | 1;
/** Client → server. */
export const REQUEST: Dir = 0;
/** Server → client. */
export const RESPONSE: Dir = 1;

/** How a session ended, as the issue defines `response_status`. */
export type ResponseStatus = 'ok' | 'client_error' | 'server_error' | 'timeout' | 'unknown';

/**
 * One L7 session: a request with its response (or a request that timed out,
 * or a response without request). Field names are the ones `metaflow replay
 * --format jsonl` prints and the zero-code span attributes carry under
 * `metaflow.`. Strings are '' and numbers null when the protocol has no value.
 */
export interface L7Session {
  /** `HTTP`, `HTTP2`, `gRPC`, `DNS`, `MySQL`, `PostgreSQL`, `Redis`, `Kafka`, `Dubbo`, `MQTT`, `TLS`, `AMQP`, `NATS`, `MongoDB`, `Memcached`. */
  l7_protocol: string;
  /** Protocol version (`1.1`, `2`, `5.0`, `TLS 1.3`, …). */
  version: string;
  /** Method, command, opcode or API name (`GET`, `COM_QUERY`, `SET`, `Produce`). */
  request_type: string;
  /** Host, database, topic, exchange. */
  request_domain: string;
  /** Path, SQL (obfuscated by default), key, query name. */
  request_resource: string;
  /** A low-cardinality route or RPC name (`/api/v1/users`, `helloworld.Greeter/SayHello`). */
  endpoint: string;
  /** Stream id, correlation id, transaction id, packet id, request id; '' when none. */
  request_id: string;
  /** Status or error code (HTTP status, gRPC status, MySQL error number, DNS rcode, …). */
  response_code: number | null;
  response_status: ResponseStatus;
  /** The error text or exception name. */
  response_exception: string;
  /** A short result (affected rows, DNS answers, …). */
  response_result: string;
  trace_id: string;
  span_id: string;
  parent_span_id: string;
  x_request_id: string;
  /** Request and response sizes as the protocol states them (Content-Length, frame lengths). */
  request_length: number | null;
  response_length: number | null;
  /** Bytes of each side the parser saw. */
  captured_request_bytes: number;
  captured_response_bytes: number;
  /** Capture times in ns since the epoch: first request byte, last response byte. */
  start_time: bigint;
  end_time: bigint;
  duration_ns: bigint;
  /** True when the parser saw only part of a message (a gap, or a prefix capture). */
  truncated: boolean;
  /** Protocol-specific extras, e.g. `user_agent`, `grpc.status`, `sql.rows_affected`. */
  attributes: Record<string, string>;
}

/** Options every parser honours. */
export interface ParserOptions {
  /** Most bytes a parser buffers per direction of a connection; beyond it, it resynchronises. */
  maxBufferBytes: number;
  /** Replace SQL literals with `?` in request_resource. */
  obfuscateSql: boolean;
  /** Extra header names that carry a trace id (besides traceparent, b3, x-b3-*, uber-trace-id, sw8). */
  traceIdHeaders: readonly string[];
  /** Extra header names that carry a request id (besides x-request-id). */
  requestIdHeaders: readonly string[];
  /** A request unanswered for this long becomes a session with response_status 'timeout'. */
  requestTimeoutNs: bigint;
  /** Most requests a connection keeps waiting for responses (pipelining); beyond, the oldest time out. */
  maxPendingRequests: number;
}

/** Defaults for {@link ParserOptions}. */
export const DEFAULT_PARSER_OPTIONS: ParserOptions = {
  maxBufferBytes: 64 * 1024,
  obfuscateSql: true,
  traceIdHeaders: [],
  requestIdHeaders: [],
  requestTimeoutNs: 60_000_000_000n,
  maxPendingRequests: 128,
};

/** What a parser reports to. */
export interface ParserContext {
  readonly options: ParserOptions;
  /** A finished session. */
  emit(session: L7Session): void;
  /** Counts a message the parser could not make sense of (never per-item logging). */
  malformed(reason: string): void;
}

/** Flags of one chunk. */
export interface FeedFlags {
  /** Bytes were lost before this chunk (a reassembly hole): resynchronise. */
  gap?: boolean;
  /** This chunk is the first bytes of a message of this many bytes (eBPF prefix capture). */
  messageLength?: number;
  /** The transport carries messages (UDP): this chunk is one whole datagram. */
  datagram?: boolean;
}

/** A parser for one connection (or one UDP flow). */
export interface ConnectionParser {
  /** Bytes of one direction, in order; `timeNs` is the capture time of the chunk. */
  feed(dir: Dir, data: Uint8Array, timeNs: bigint, flags: FeedFlags): void;
  /** Emits requests waiting longer than the timeout as 'timeout' sessions. */
  expire(nowNs: bigint): void;
  /** The connection ended: emits what is pending (unanswered requests as 'timeout'). */
  close(nowNs: bigint): void;
}

/** Confidence of an inference: 0 not this protocol, 1 plausible, 2 certain. */
export type Confidence = 0 | 1 | 2;

/** One protocol: how to recognise it and how to parse it. */
export interface ProtocolSpec {
  /** The `l7_protocol` value of its sessions (a spec may emit several, e.g. HTTP2 and gRPC). */
  readonly name: string;
  readonly transport: 'tcp' | 'udp' | 'both';
  /** Well-known server ports: a hint that raises a plausible match, never a match alone. */
  readonly ports: readonly number[];
  /**
   * Looks at the first bytes seen in direction `dir` of a new connection.
   * Must be cheap and never throw.
   */
  infer(data: Uint8Array, dir: Dir, serverPort: number): Confidence;
  create(ctx: ParserContext): ConnectionParser;
}

/** A session with every field empty, to fill in. */
export function newSession(l7_protocol: string, startTime: bigint): L7Session {
  return {
    l7_protocol,
    version: '',
    request_type: '',
    request_domain: '',
    request_resource: '',
    endpoint: '',
    request_id: '',
    response_code: null,
    response_status: 'unknown',
    response_exception: '',
    response_result: '',
    trace_id: '',
    span_id: '',
    parent_span_id: '',
    x_request_id: '',
    request_length: null,
    response_length: null,
    captured_request_bytes: 0,
    captured_response_bytes: 0,
    start_time: startTime,
    end_time: startTime,
    duration_ns: 0n,
    truncated: false,
    attributes: {},
  };
}
