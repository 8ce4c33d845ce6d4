/**
 * L7 sessions as OpenTelemetry spans: what the pcap and ebpf receivers emit.
 *
 * A zero-code span is an ordinary OTel span: a name and attributes after the
 * semantic conventions of its protocol family (HTTP, RPC, database,
 * messaging, DNS, TLS), plus every L7 field under `metaflow.` (the names of
 * {@link L7Session}) and the connection's tuple (`metaflow.client.ip`, …).
 *
 * Trace joining: when the payload carried a trace context, the span takes its
 * trace id and becomes a child of the span id found there (the caller's span);
 * otherwise it starts a new trace. Status: server errors and timeouts are
 * errors; client errors (4xx and the like) are errors on client spans only, as
 * the HTTP conventions say.
 */
import { randomFillSync } from 'node:crypto';
import { SpanKind, StatusCode, type Attributes, type Span } from '../pipeline/pdata';
import type { L7Session } from './types';

/** The connection a session travelled on, as a receiver knows it. */
export interface SessionFlow {
  transport: 'tcp' | 'udp';
  client_ip: string;
  client_port: number;
  server_ip: string;
  server_port: number;
}

/** How the receiver saw the session. */
export interface SpanOptions {
  /** SERVER when observed at the server, CLIENT at the client. */
  kind: SpanKind;
  /** `packet` or `ebpf`, recorded as `metaflow.signal_source`. */
  source: 'packet' | 'ebpf';
  /** Extra attributes (process, thread, syscall trace ids, TCP sequences, …). */
  extra?: Attributes;
}

const ID_POOL = Buffer.alloc(8192);
let idPos = ID_POOL.length;

/** `bytes` random bytes as hex; ids come from a pooled random buffer (no syscall per span). */
function randomHex(bytes: number): string {
  if (idPos + bytes > ID_POOL.length) {
    randomFillSync(ID_POOL);
    idPos = 0;
  }
  const s = ID_POOL.toString('hex', idPos, idPos + bytes);
  idPos += bytes;
  return s;
}

const DB_SYSTEM: Record<string, string> = {
  MySQL: 'mysql',
  PostgreSQL: 'postgresql',
  Redis: 'redis',
  Memcached: 'memcached',
  MongoDB: 'mongodb',
};

const MESSAGING_SYSTEM: Record<string, string> = { Kafka: 'kafka', MQTT: 'mqtt', AMQP: 'rabbitmq', NATS: 'nats' };

/** A trace id as OTel wants it: 32 hex characters, or undefined. */
function otelTraceId(id: string): string | undefined {
  const s = id.toLowerCase();
  if (/^[0-9a-f]{32}$/.test(s)) return s;
  if (/^[0-9a-f]{16}$/.test(s)) return s.padStart(32, '0');
  return undefined;
}

function otelSpanId(id: string): string | undefined {
  const s = id.toLowerCase();
  return /^[0-9a-f]{16}$/.test(s) ? s : undefined;
}

/** The span name after the conventions of the protocol family. */
export function spanName(s: L7Session): string {
  const p = s.l7_protocol;
  if (p === 'HTTP' || p === 'HTTP2') return s.request_type ? `${s.request_type} ${s.endpoint || s.request_resource || '/'}`.trim() : `${p} ${s.endpoint}`.trim();
  if (p === 'gRPC' || p === 'Dubbo') return s.endpoint || s.request_resource || p;
  if (DB_SYSTEM[p]) {
    // The conventions' `{db.operation.name} {target}`: the SQL verb and table when parsed.
    const op = s.attributes['sql.operation'];
    if (op) return [op, s.attributes['sql.table'] || s.request_domain].filter(Boolean).join(' ');
    return [s.request_type, s.request_domain].filter(Boolean).join(' ') || p;
  }
  if (MESSAGING_SYSTEM[p]) return [s.request_type, s.request_resource].filter(Boolean).join(' ') || p;
  if (p === 'DNS') return `DNS ${s.request_type} ${s.request_resource}`.trim();
  if (p === 'TLS') return `TLS ${s.request_type || 'handshake'}`;
  return [p, s.request_type, s.endpoint].filter(Boolean).join(' ');
}

function set(attrs: Attributes, key: string, value: string | number | null | undefined): void {
  if (value === null || value === undefined || value === '') return;
  attrs[key] = value;
}

/** The semantic-convention attributes of a session. */
export function conventionAttributes(s: L7Session, flow: SessionFlow): Attributes {
  const a: Attributes = {};
  const p = s.l7_protocol;
  set(a, 'network.transport', flow.transport);
  set(a, 'server.address', s.request_domain && (p === 'HTTP' || p === 'HTTP2' || p === 'gRPC') ? s.request_domain.replace(/:\d+$/, '') : flow.server_ip);
  set(a, 'server.port', flow.server_port);
  set(a, 'client.address', flow.client_ip);
  set(a, 'client.port', flow.client_port);
  if (p === 'HTTP' || p === 'HTTP2') {
    set(a, 'http.request.method', s.request_type);
    const q = s.request_resource.indexOf('?');
    set(a, 'url.path', q < 0 ? s.request_resource : s.request_resource.slice(0, q));
    if (q >= 0) set(a, 'url.query', s.request_resource.slice(q + 1));
    set(a, 'http.route', s.endpoint);
    set(a, 'http.response.status_code', s.response_code);
    set(a, 'network.protocol.name', 'http');
    set(a, 'network.protocol.version', s.version);
    set(a, 'user_agent.original', s.attributes.user_agent);
  } else if (p === 'gRPC' || p === 'Dubbo') {
    set(a, 'rpc.system', p === 'gRPC' ? 'grpc' : 'apache_dubbo');
    const slash = s.endpoint.lastIndexOf('/');
    set(a, 'rpc.service', slash > 0 ? s.endpoint.slice(0, slash) : s.request_domain);
    set(a, 'rpc.method', slash > 0 ? s.endpoint.slice(slash + 1) : s.request_type);
    if (p === 'gRPC') set(a, 'rpc.grpc.status_code', s.response_code);
  } else if (DB_SYSTEM[p]) {
    set(a, 'db.system', DB_SYSTEM[p]);
    set(a, 'db.namespace', s.request_domain);
    set(a, 'db.operation.name', s.attributes['sql.operation'] || s.request_type);
    set(a, 'db.collection.name', s.attributes['sql.table']);
    set(a, 'db.query.text', s.request_resource);
    if (s.response_code !== null && s.response_status !== 'ok') set(a, 'db.response.status_code', String(s.response_code));
  } else if (MESSAGING_SYSTEM[p]) {
    set(a, 'messaging.system', MESSAGING_SYSTEM[p]);
    set(a, 'messaging.destination.name', s.request_resource || s.request_domain);
    set(a, 'messaging.operation.name', s.request_type);
  } else if (p === 'DNS') {
    set(a, 'dns.question.name', s.request_resource);
  } else if (p === 'TLS') {
    set(a, 'tls.client.server_name', s.request_domain);
    set(a, 'tls.protocol.version', s.version);
  }
  if (s.response_status === 'server_error' || s.response_status === 'client_error' || s.response_status === 'timeout') {
    set(a, 'error.type', s.response_status === 'timeout' ? 'timeout' : s.response_code !== null ? String(s.response_code) : s.response_status);
  }
  return a;
}

/** Every L7 field under `metaflow.`, plus the tuple and protocol extras (`metaflow.l7.<key>`). */
export function metaflowAttributes(s: L7Session, flow: SessionFlow, source: string): Attributes {
  const a: Attributes = { 'metaflow.signal_source': source, 'metaflow.l7_protocol': s.l7_protocol, 'metaflow.response_status': s.response_status };
  set(a, 'metaflow.version', s.version);
  set(a, 'metaflow.request_type', s.request_type);
  set(a, 'metaflow.request_domain', s.request_domain);
  set(a, 'metaflow.request_resource', s.request_resource);
  set(a, 'metaflow.endpoint', s.endpoint);
  set(a, 'metaflow.request_id', s.request_id);
  set(a, 'metaflow.response_code', s.response_code);
  set(a, 'metaflow.response_exception', s.response_exception);
  set(a, 'metaflow.response_result', s.response_result);
  set(a, 'metaflow.trace_id', s.trace_id);
  set(a, 'metaflow.span_id', s.span_id);
  set(a, 'metaflow.parent_span_id', s.parent_span_id);
  set(a, 'metaflow.x_request_id', s.x_request_id);
  set(a, 'metaflow.request_length', s.request_length);
  set(a, 'metaflow.response_length', s.response_length);
  a['metaflow.captured_request_bytes'] = s.captured_request_bytes;
  a['metaflow.captured_response_bytes'] = s.captured_response_bytes;
  if (s.truncated) a['metaflow.truncated'] = true;
  a['metaflow.client.ip'] = flow.client_ip;
  a['metaflow.client.port'] = flow.client_port;
  a['metaflow.server.ip'] = flow.server_ip;
  a['metaflow.server.port'] = flow.server_port;
  a['metaflow.transport'] = flow.transport;
  for (const k in s.attributes) set(a, `metaflow.l7.${k}`, s.attributes[k]);
  return a;
}

/** Whether the session is an error from the point of view of `kind`. */
export function isError(s: L7Session, kind: SpanKind): boolean {
  return s.response_status === 'server_error' || s.response_status === 'timeout' || (s.response_status === 'client_error' && kind !== SpanKind.SERVER);
}

/** The OTel span of one session. */
export function sessionToSpan(s: L7Session, flow: SessionFlow, opts: SpanOptions): Span {
  const traceId = otelTraceId(s.trace_id) ?? randomHex(16);
  const parent = otelSpanId(s.span_id) ?? '';
  const attributes = conventionAttributes(s, flow);
  Object.assign(attributes, metaflowAttributes(s, flow, opts.source));
  if (opts.extra) Object.assign(attributes, opts.extra);
  const error = isError(s, opts.kind);
  return {
    traceId,
    spanId: randomHex(8),
    traceState: '',
    parentSpanId: parent,
    flags: 1,
    name: spanName(s),
    kind: opts.kind,
    startTimeUnixNano: s.start_time,
    endTimeUnixNano: s.end_time >= s.start_time ? s.end_time : s.start_time,
    attributes,
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: error ? { code: StatusCode.ERROR, message: s.response_exception || s.response_status } : { code: StatusCode.UNSET, message: '' },
  };
}
