/**
 * Kafka connection parser: request header v0–v2, responses paired by
 * correlation id, the bodies of the APIs that name a topic or a group, error
 * codes, and trace context from the record headers of Produce requests.
 *
 * Fields (as DeepFlow reports Kafka, see the conformance tests):
 * - request_type: API name (`Produce`, `Fetch`, …); version: api version;
 *   request_id: correlation id;
 * - request_domain: the first topic of the request (Produce, Fetch,
 *   ListOffsets, Metadata, OffsetCommit, OffsetFetch, CreateTopics,
 *   DeleteTopics);
 * - endpoint: `<topic>-<partition>` when the request names a partition,
 *   else the topic;
 * - request_resource: `<topic>-<partition>:<offset>` — the fetch offset of a
 *   Fetch, the base offset a Produce was written at;
 * - response_code: the top-level error code, or the first partition's;
 *   response_status from it (0 ok; client_error for codes that blame the
 *   request, server_error otherwise); response_exception: the error name.
 *   Responses of APIs whose body is not read (and responses without their
 *   request) have response_status unknown;
 * - attributes: `kafka.client_id`, `kafka.group_id`, `kafka.acks`,
 *   `kafka.compression` (when record headers could not be read).
 * Produce with acks=0 gets no response by design: it is emitted at once.
 */
import type { ConnectionParser, Dir, FeedFlags, L7Session, ParserContext } from '../types';
import { newSession } from '../types';
import {
  API_NAMES, API_VERSIONS, CREATE_TOPICS, DELETE_TOPICS, DESCRIBE_GROUPS, FETCH, FIND_COORDINATOR, HEARTBEAT,
  INIT_PRODUCER_ID, JOIN_GROUP, LEAVE_GROUP, LIST_GROUPS, LIST_OFFSETS, MAX_API_KEY, METADATA, OFFSET_COMMIT, OFFSET_FETCH,
  PRODUCE, SASL_AUTHENTICATE, SASL_HANDSHAKE, SYNC_GROUP, errorName, errorStatus, isFlexible, responseHeaderFlexible,
} from './apis';
import { Cursor } from './cursor';
import { finishTimes, Framer, i32, PendingMap, printable, u16, u32 } from '../framing';
import type { FrameHandler } from '../framing';
import { HeaderTable } from '../headers';

/** Largest message we accept as Kafka (the broker default `socket.request.max.bytes`). */
const MAX_MESSAGE = 100 * 1024 * 1024;
/** Highest api version we believe in (current brokers stop around 17). */
const MAX_API_VERSION = 40;
const COMPRESSION = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
/** Bytes of a response worth keeping: enough for a Metadata response's broker list of a large cluster. */
const RESPONSE_KEEP = 8192;

/** A request waiting for its response. */
interface Waiting {
  start_time: bigint;
  session: L7Session;
  apiKey: number;
  apiVersion: number;
}

/** Facts read from a request body, reset per message (no allocation). */
class RequestFacts {
  topic = '';
  partition = -1;
  offset = -1;
  group = '';
  acks = 1;
  compression = 0;

  reset(): void {
    this.topic = '';
    this.partition = -1;
    this.offset = -1;
    this.group = '';
    this.acks = 1;
    this.compression = 0;
  }
}

/** Facts read from a response body. */
class ResponseFacts {
  /** Top-level error code; null when the API has none. */
  top: number | null = null;
  /** First partition's (or topic's, group's) error code; null when none was read. */
  first: number | null = null;
  topic = '';
  partition = -1;
  offset = -1;

  reset(): void {
    this.top = null;
    this.first = null;
    this.topic = '';
    this.partition = -1;
    this.offset = -1;
  }
}

/** Parser for one Kafka connection. */
export class KafkaParser implements ConnectionParser, FrameHandler {
  readonly headerBytes = 8;
  private readonly framer: Framer;
  private readonly pending: PendingMap<number, Waiting>;
  private readonly c = new Cursor();
  private readonly req = new RequestFacts();
  private readonly resp = new ResponseFacts();
  private readonly headers: HeaderTable;

  constructor(private readonly ctx: ParserContext) {
    this.framer = new Framer(this, ctx.options.maxBufferBytes);
    this.pending = new PendingMap(ctx.options.maxPendingRequests);
    this.headers = new HeaderTable(ctx.options);
  }

  feed(dir: Dir, data: Uint8Array, timeNs: bigint, flags: FeedFlags): void {
    this.framer.feed(dir, data, timeNs, flags);
  }

  expire(nowNs: bigint): void {
    for (const w of this.pending.takeOlderThan(nowNs - this.ctx.options.requestTimeoutNs)) this.timeout(w);
  }

  close(nowNs: bigint): void {
    this.framer.flush(nowNs);
    for (const w of this.pending.takeAll()) this.timeout(w);
  }

  frameLength(dir: Dir, buf: Uint8Array, off: number): number {
    const len = u32(buf, off);
    if (len > MAX_MESSAGE) return -1;
    if (dir === 0) {
      // api key, api version, correlation id, client id length at least.
      if (len < 10) return -1;
      if (u16(buf, off + 4) > MAX_API_KEY || u16(buf, off + 6) > MAX_API_VERSION) return -1;
    } else if (len < 4) return -1;
    return len + 4;
  }

  keepBytes(dir: Dir, _buf: Uint8Array, _off: number, total: number): number {
    // Responses are read only up to their first topic and partition (or the
    // brokers before them): the records of a Fetch are never copied.
    return dir === 1 ? Math.min(total, RESPONSE_KEEP) : total;
  }

  onDesync(dir: Dir, reason: string): void {
    this.ctx.malformed(`kafka: ${reason} (${dir === 0 ? 'request' : 'response'})`);
  }

  onFrame(dir: Dir, data: Uint8Array, total: number, seen: number, startNs: bigint, endNs: bigint): void {
    if (dir === 0) this.request(data, total, seen, startNs, endNs);
    else this.response(data, total, seen, endNs);
  }

  private request(data: Uint8Array, total: number, seen: number, startNs: bigint, endNs: bigint): void {
    const c = this.c.reset(data, 4, data.length);
    const apiKey = c.i16();
    const ver = c.i16();
    const corr = c.i32();
    const clientId = c.str(false);
    if (!c.ok) {
      this.ctx.malformed('kafka: short request header');
      return;
    }
    const flex = isFlexible(apiKey, ver);
    if (flex) c.skipTags();
    const s = newSession('Kafka', startNs);
    s.version = String(ver);
    s.request_type = API_NAMES[apiKey] ?? `ApiKey${apiKey}`;
    s.request_id = String(corr);
    s.request_length = total - 4;
    s.captured_request_bytes = seen;
    s.end_time = endNs;
    s.truncated = seen < total;
    if (clientId) s.attributes['kafka.client_id'] = clientId;
    const f = this.req;
    f.reset();
    this.headers.clear();
    if (c.ok) this.requestBody(apiKey, ver, flex);
    this.applyRequestFacts(s, apiKey);
    if (apiKey === PRODUCE && f.acks === 0) {
      // acks=0: the broker never answers; the request is the whole exchange.
      s.attributes['kafka.acks'] = '0';
      s.response_status = 'ok';
      this.emit(s);
      return;
    }
    const evicted = this.pending.evicted;
    const old = this.pending.add(corr, { start_time: startNs, session: s, apiKey, apiVersion: ver });
    if (this.pending.evicted !== evicted) this.ctx.malformed('kafka: pending request limit reached');
    if (old) this.timeout(old);
  }

  private applyRequestFacts(s: L7Session, apiKey: number): void {
    const f = this.req;
    if (f.topic) {
      s.request_domain = f.topic;
      s.endpoint = f.partition >= 0 ? `${f.topic}-${f.partition}` : f.topic;
      if (apiKey === FETCH && f.partition >= 0 && f.offset >= 0) s.request_resource = `${f.topic}-${f.partition}:${f.offset}`;
    }
    if (f.group) s.attributes['kafka.group_id'] = f.group;
    if (f.compression > 0) s.attributes['kafka.compression'] = COMPRESSION[f.compression] ?? String(f.compression);
    this.headers.applyTo(s);
  }

  private requestBody(apiKey: number, ver: number, flex: boolean): void {
    const c = this.c;
    const f = this.req;
    switch (apiKey) {
      case PRODUCE: {
        if (ver >= 3) c.skipStr(flex); // transactional_id
        f.acks = c.i16();
        c.skip(4); // timeout_ms
        if (c.arrayLen(flex) <= 0) return;
        if (ver >= 13) {
          c.skip(16); // topic_id: the name is not on the wire
          return;
        }
        f.topic = c.str(flex) ?? '';
        if (c.arrayLen(flex) <= 0) return;
        f.partition = c.i32();
        const n = c.bytesLen(flex);
        if (n > 0 && ver >= 3) this.recordBatch(Math.min(c.end, c.pos + n));
        return;
      }
      case FETCH: {
        if (ver <= 14) c.skip(4); // replica_id (a tagged field from v15)
        c.skip(8); // max_wait_ms, min_bytes
        if (ver >= 3) c.skip(4); // max_bytes
        if (ver >= 4) c.skip(1); // isolation_level
        if (ver >= 7) c.skip(8); // session_id, session_epoch
        if (c.arrayLen(flex) <= 0) return;
        if (ver >= 13) {
          c.skip(16); // topic_id: the name is not on the wire
          return;
        }
        f.topic = c.str(flex) ?? '';
        if (c.arrayLen(flex) <= 0) return;
        f.partition = c.i32();
        if (ver >= 9) c.skip(4); // current_leader_epoch
        const off = c.i64();
        if (c.ok) f.offset = off;
        return;
      }
      case LIST_OFFSETS: {
        c.skip(4); // replica_id
        if (ver >= 2) c.skip(1); // isolation_level
        if (c.arrayLen(flex) <= 0) return;
        f.topic = c.str(flex) ?? '';
        if (c.arrayLen(flex) <= 0) return;
        f.partition = c.i32();
        return;
      }
      case METADATA: {
        if (c.arrayLen(flex) <= 0) return; // null = all topics
        if (ver >= 10) c.skip(16); // topic_id
        f.topic = c.str(flex) ?? '';
        return;
      }
      case OFFSET_COMMIT: {
        f.group = c.str(flex) ?? '';
        if (ver >= 1) {
          c.skip(4); // generation_id
          c.skipStr(flex); // member_id
        }
        if (ver >= 7) c.skipStr(flex); // group_instance_id
        if (ver >= 2 && ver <= 4) c.skip(8); // retention_time_ms
        if (c.arrayLen(flex) <= 0) return;
        f.topic = c.str(flex) ?? '';
        if (c.arrayLen(flex) <= 0) return;
        f.partition = c.i32();
        return;
      }
      case OFFSET_FETCH: {
        if (ver >= 8 && c.arrayLen(flex) <= 0) return; // groups
        f.group = c.str(flex) ?? '';
        if (ver >= 9) {
          c.skipStr(flex); // member_id
          c.skip(4); // member_epoch
        }
        if (c.arrayLen(flex) <= 0) return; // null: all topics
        f.topic = c.str(flex) ?? '';
        return;
      }
      case FIND_COORDINATOR: {
        if (ver <= 3) {
          const key = c.str(flex) ?? '';
          const type = ver >= 1 ? c.u8() : 0;
          if (type === 0) f.group = key;
        }
        return;
      }
      case JOIN_GROUP:
      case SYNC_GROUP:
      case HEARTBEAT:
      case LEAVE_GROUP:
        f.group = c.str(flex) ?? '';
        return;
      case DESCRIBE_GROUPS:
        if (c.arrayLen(flex) > 0) f.group = c.str(flex) ?? '';
        return;
      case CREATE_TOPICS:
        if (c.arrayLen(flex) > 0) f.topic = c.str(flex) ?? '';
        return;
      case DELETE_TOPICS:
        if (c.arrayLen(flex) <= 0) return;
        f.topic = c.str(flex) ?? '';
        return;
      default:
    }
  }

  /**
   * The first record of a v2 record batch: its headers, for trace context.
   * Compressed batches carry records inside the compressed blob: noted, not read.
   */
  private recordBatch(end: number): void {
    const c = this.c;
    const batchStart = c.pos;
    if (end - batchStart < 61) return;
    const b = c.buf;
    if (b[batchStart + 16] !== 2) return; // magic: headers exist only in v2 batches
    const attributes = u16(b, batchStart + 21);
    const compression = attributes & 7;
    if (compression !== 0) {
      this.req.compression = compression;
      return;
    }
    if (i32(b, batchStart + 57) <= 0) return; // record count
    c.reset(b, batchStart + 61, end);
    c.varint(); // record length
    c.skip(1); // attributes
    c.skipVarlong(); // timestamp delta
    c.varint(); // offset delta
    const keyLen = c.varint();
    if (keyLen > 0) c.skip(keyLen);
    const valueLen = c.varint();
    if (valueLen > 0) c.skip(valueLen);
    const count = c.varint();
    for (let i = 0; i < count && c.ok; i++) {
      const kl = c.varint();
      if (kl < 0 || !c.ok || kl > c.left) return;
      const kStart = c.pos;
      c.skip(kl);
      const vl = c.varint();
      if (vl < 0) continue;
      if (vl > c.left) return;
      const name = decodeLower(b, kStart, kStart + kl);
      if (this.headers.wants(name)) this.headers.add(name, latin(b, c.pos, c.pos + vl));
      c.skip(vl);
    }
  }

  private response(data: Uint8Array, total: number, seen: number, endNs: bigint): void {
    const c = this.c.reset(data, 4, data.length);
    const corr = c.i32();
    if (!c.ok) return;
    const w = this.pending.take(corr);
    if (!w) {
      // A response whose request we never saw: all we know is its id.
      const s = newSession('Kafka', endNs);
      s.request_id = String(corr);
      s.response_length = total - 4;
      s.captured_response_bytes = seen;
      s.truncated = seen < total;
      s.end_time = endNs;
      this.emit(s);
      return;
    }
    const s = w.session;
    s.response_length = total - 4;
    s.captured_response_bytes = seen;
    s.end_time = endNs;
    if (seen < total) s.truncated = true;
    const r = this.resp;
    r.reset();
    const flex = isFlexible(w.apiKey, w.apiVersion);
    if (responseHeaderFlexible(w.apiKey, w.apiVersion)) c.skipTags();
    this.responseBody(w.apiKey, w.apiVersion, flex);
    const code = r.top !== null && r.top !== 0 ? r.top : r.first ?? r.top;
    if (code === null) {
      s.response_status = 'unknown';
    } else {
      s.response_code = code;
      s.response_status = errorStatus(code);
      s.response_exception = errorName(code);
    }
    if (w.apiKey === PRODUCE && r.topic) {
      if (!s.request_domain) s.request_domain = r.topic;
      if (r.partition >= 0 && r.offset >= 0) s.request_resource = `${r.topic}-${r.partition}:${r.offset}`;
    }
    this.emit(s);
  }

  private responseBody(apiKey: number, ver: number, flex: boolean): void {
    const c = this.c;
    const r = this.resp;
    switch (apiKey) {
      case PRODUCE: {
        if (c.arrayLen(flex) <= 0) return;
        r.topic = c.str(flex) ?? '';
        if (c.arrayLen(flex) <= 0) return;
        const p = c.i32();
        const e = c.i16();
        const off = c.i64();
        if (!c.ok) return;
        r.partition = p;
        r.first = e;
        r.offset = off;
        return;
      }
      case FETCH: {
        if (ver >= 1) c.skip(4); // throttle_time_ms
        if (ver >= 7) {
          const e = c.i16();
          if (c.ok) r.top = e;
          c.skip(4); // session_id
        }
        if (c.arrayLen(flex) <= 0) return;
        if (ver >= 13) c.skip(16);
        else c.skipStr(flex);
        if (c.arrayLen(flex) <= 0) return;
        c.skip(4); // partition_index
        const e = c.i16();
        if (c.ok) r.first = e;
        return;
      }
      case LIST_OFFSETS:
      case OFFSET_COMMIT: {
        if ((apiKey === LIST_OFFSETS && ver >= 2) || (apiKey === OFFSET_COMMIT && ver >= 3)) c.skip(4);
        if (c.arrayLen(flex) <= 0) return;
        c.skipStr(flex);
        if (c.arrayLen(flex) <= 0) return;
        c.skip(4);
        const e = c.i16();
        if (c.ok) r.first = e;
        return;
      }
      case METADATA: {
        if (ver >= 3) c.skip(4);
        const brokers = c.arrayLen(flex);
        for (let i = 0; i < brokers && c.ok; i++) {
          c.skip(4); // node_id
          c.skipStr(flex); // host
          c.skip(4); // port
          if (ver >= 1) c.skipStr(flex); // rack
          if (flex) c.skipTags();
        }
        if (ver >= 2) c.skipStr(flex); // cluster_id
        if (ver >= 1) c.skip(4); // controller_id
        const topics = c.arrayLen(flex);
        if (!c.ok) return;
        if (topics <= 0) {
          r.first = 0;
          return;
        }
        const e = c.i16();
        if (c.ok) r.first = e;
        return;
      }
      case OFFSET_FETCH: {
        if (ver >= 3) c.skip(4);
        if (ver >= 8) {
          if (c.arrayLen(flex) <= 0) return; // groups
          c.skipStr(flex); // group_id
        }
        const topics = c.arrayLen(flex);
        if (topics === 0 && ver >= 2) {
          const e = c.i16();
          if (c.ok) r.top = e;
          return;
        }
        if (topics <= 0) return;
        c.skipStr(flex);
        if (c.arrayLen(flex) <= 0) return;
        c.skip(4 + 8); // partition_index, committed_offset
        if (ver >= 5) c.skip(4); // committed_leader_epoch
        c.skipStr(flex); // metadata
        const e = c.i16();
        if (c.ok) r.first = e;
        return;
      }
      case FIND_COORDINATOR: {
        if (ver >= 1) c.skip(4);
        if (ver >= 4) {
          if (c.arrayLen(flex) <= 0) return;
          c.skipStr(flex); // key
          c.skip(4); // node_id
          c.skipStr(flex); // host
          c.skip(4); // port
        }
        const e = c.i16();
        if (c.ok) r.top = e;
        return;
      }
      case JOIN_GROUP:
        this.throttleThenError(ver >= 2);
        return;
      case HEARTBEAT:
      case LEAVE_GROUP:
      case SYNC_GROUP:
      case LIST_GROUPS:
        this.throttleThenError(ver >= 1);
        return;
      case DESCRIBE_GROUPS: {
        if (ver >= 1) c.skip(4);
        if (c.arrayLen(flex) <= 0) return;
        const e = c.i16();
        if (c.ok) r.first = e;
        return;
      }
      case API_VERSIONS:
      case SASL_HANDSHAKE:
      case SASL_AUTHENTICATE:
        this.throttleThenError(false);
        return;
      case INIT_PRODUCER_ID:
      case 25: // AddOffsetsToTxn
      case 26: // EndTxn
        this.throttleThenError(true);
        return;
      case CREATE_TOPICS:
      case DELETE_TOPICS: {
        if ((apiKey === CREATE_TOPICS && ver >= 2) || (apiKey === DELETE_TOPICS && ver >= 1)) c.skip(4);
        const n = c.arrayLen(flex);
        if (n === 0) r.first = 0;
        if (n <= 0) return;
        c.skipStr(flex); // name
        if ((apiKey === CREATE_TOPICS && ver >= 7) || (apiKey === DELETE_TOPICS && ver >= 6)) c.skip(16);
        const e = c.i16();
        if (c.ok) r.first = e;
        return;
      }
      default:
    }
  }

  private throttleThenError(throttle: boolean): void {
    const c = this.c;
    if (throttle) c.skip(4);
    const e = c.i16();
    if (c.ok) this.resp.top = e;
  }

  private timeout(w: Waiting): void {
    w.session.response_status = 'timeout';
    this.emit(w.session);
  }

  private emit(s: L7Session): void {
    finishTimes(s);
    this.ctx.emit(s);
  }
}

/** Node's own Latin-1 slicer, on any Uint8Array (one flat string, no Buffer view). */
const LATIN1 = (Buffer.prototype as unknown as { latin1Slice: (this: Uint8Array, start: number, end: number) => string }).latin1Slice;
/** Scratch for {@link decodeLower}. */
const LOWER = new Uint8Array(64);

/** Lowercased (A–Z only) Latin-1 text of `b[start..end)`, at most 64 characters (header names). */
function decodeLower(b: Uint8Array, start: number, end: number): string {
  const n = Math.max(0, Math.min(end - start, 64, b.length - start));
  for (let i = 0; i < n; i++) {
    const ch = b[start + i];
    LOWER[i] = ch >= 0x41 && ch <= 0x5a ? ch + 32 : ch;
  }
  return n === 0 ? '' : LATIN1.call(LOWER, 0, n);
}

/** Header values as Latin-1 (trace headers are ASCII), at most 512 characters. */
function latin(b: Uint8Array, start: number, end: number): string {
  const e = Math.min(end, start + 512, b.length);
  return e > start ? LATIN1.call(b, start, e) : '';
}

/**
 * Whether the first bytes of a client → server stream look like a Kafka
 * request: a length, a known api key and version, a printable client id.
 * Certain when the length matches the bytes exactly and a client id is set.
 */
export function inferKafka(data: Uint8Array, dir: Dir): 0 | 1 | 2 {
  if (dir !== 0 || data.length < 14) return 0;
  const len = u32(data, 0);
  if (len < 10 || len > MAX_MESSAGE) return 0;
  const apiKey = u16(data, 4);
  const ver = u16(data, 6);
  if (apiKey > MAX_API_KEY || ver > 20) return 0;
  const idLen = (u16(data, 12) << 16) >> 16;
  if (idLen < -1 || 10 + Math.max(idLen, 0) > len) return 0;
  if (idLen > 0) {
    const end = Math.min(14 + idLen, data.length);
    if (!printable(data, 14, end)) return 0;
  } else if (len > 65536) {
    // Real clients name themselves (client.id); a nameless first request
    // claiming a large size is far more likely another binary protocol
    // (FastCGI's record header reads as OffsetCommit with a 16 MB length).
    return 0;
  }
  return idLen > 0 && len + 4 === data.length ? 2 : 1;
}
