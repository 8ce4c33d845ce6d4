/**
 * Byte-stream framing and request bookkeeping shared by the length-prefixed
 * binary protocols of this folder and its siblings (Kafka, Dubbo, MongoDB,
 * AMQP, TLS records).
 *
 * Why one framer: all five protocols announce the length of each message in
 * a fixed-size header, and all need the same care around it — messages split
 * over many chunks, several messages in one chunk, gaps in the capture,
 * eBPF prefix captures (`FeedFlags.messageLength`), garbage that must not
 * be buffered forever, and messages far larger than what we are allowed to
 * buffer (a Kafka Fetch response of 50 MB: we keep its first bytes, count
 * the rest and never copy it).
 *
 * Contract with the protocol ({@link FrameHandler}):
 * - `frameLength` is given at least `headerBytes` bytes and answers the full
 *   frame length (header included) or -1 when the bytes cannot start a frame;
 * - `onFrame` gets each frame once, in order: its first bytes (all of it
 *   unless it is longer than the buffer bound or `keepBytes` says less), the
 *   stated total, how many of its bytes were captured (less than the total
 *   when bytes were lost), and the capture times of its first and last byte.
 *   The view is only valid during the call.
 *
 * Resynchronisation: after bytes that cannot start a frame the rest of the
 * chunk is dropped and the next chunk is tried from its first byte (capture
 * chunks — TCP segments, socket reads — start at message boundaries far more
 * often than not).
 */
import type { Dir, FeedFlags } from './types';

/** What a protocol tells the framer. */
export interface FrameHandler {
  /** Bytes needed before {@link frameLength} can decide. */
  readonly headerBytes: number;
  /**
   * Full length (header included) of the frame starting at `buf[off]`, given
   * `headerBytes` bytes there; -1 when these bytes cannot start a frame.
   */
  frameLength(dir: Dir, buf: Uint8Array, off: number): number;
  /** How many of the frame's `total` bytes are worth keeping (optional; default all, bounded by the buffer). */
  keepBytes?(dir: Dir, buf: Uint8Array, off: number, total: number): number;
  /** One frame; `seen < total` when bytes of it were lost. `data` is a view valid only during the call. */
  onFrame(dir: Dir, data: Uint8Array, total: number, seen: number, startNs: bigint, endNs: bigint): void;
  /** The framer lost sync (bytes that cannot start a frame); counted by the handler. */
  onDesync(dir: Dir, reason: string): void;
}

/** Counters a framer keeps per connection, for tests and metrics. */
export interface FramerStats {
  /** Frames delivered. */
  frames: number;
  /** Times bytes could not start a frame and a chunk remainder was dropped. */
  desyncs: number;
  /** Bytes dropped while out of sync. */
  droppedBytes: number;
  /** Bytes of frames counted but not kept because of the buffer bound (or `keepBytes`). */
  skippedBytes: number;
  /** Frames delivered with lost bytes (gap or prefix capture). */
  truncatedFrames: number;
}

/** Per-direction framing state. Plain fields, no per-chunk allocation. */
class DirState {
  /** Bytes kept of the current frame (from its first byte). */
  buf: Uint8Array = EMPTY;
  len = 0;
  /** Full length of the current frame; -1 while its header is incomplete. */
  total = -1;
  /** Bytes of the current frame consumed so far (kept or skipped). */
  seen = 0;
  /** How many bytes of the current frame to keep. */
  keep = 0;
  /** Bytes of the current frame were lost. */
  lost = false;
  /** How many (counted in `seen`, never captured). */
  missing = 0;
  startNs = 0n;
  /** Capture time of the last byte of the current frame seen so far. */
  lastNs = 0n;
  /** Out of sync: ignore the rest of the current chunk. */
  desync = false;

  reset(): void {
    this.len = 0;
    this.total = -1;
    this.seen = 0;
    this.keep = 0;
    this.lost = false;
    this.missing = 0;
  }
}

const EMPTY = new Uint8Array(0);

/**
 * Splits the two byte streams of a connection into frames for a
 * {@link FrameHandler}. Buffers at most `maxBufferBytes` per direction.
 */
export class Framer {
  /** Counters (see {@link FramerStats}). */
  readonly stats: FramerStats = { frames: 0, desyncs: 0, droppedBytes: 0, skippedBytes: 0, truncatedFrames: 0 };
  private readonly dirs: [DirState, DirState] = [new DirState(), new DirState()];

  constructor(
    private readonly handler: FrameHandler,
    private readonly maxBufferBytes: number,
  ) {}

  /** Feeds one chunk of one direction (see `ConnectionParser.feed`). */
  feed(dir: Dir, data: Uint8Array, timeNs: bigint, flags: FeedFlags): void {
    const st = this.dirs[dir];
    if (flags.gap) {
      // Bytes were lost before this chunk: whatever frame was in progress
      // ends here, and this chunk is our best guess at a frame start.
      this.abandon(dir, st, timeNs);
    }
    // Each chunk is a fresh chance to find a frame start after a desync.
    st.desync = false;
    let off = 0;
    const n = data.length;
    while (off < n && !st.desync) {
      if (st.total < 0) off = this.header(dir, st, data, off, timeNs);
      else off = this.body(dir, st, data, off, timeNs);
    }
    if (st.desync && off < n) this.stats.droppedBytes += n - off;
    const ml = flags.messageLength;
    if (ml !== undefined && ml > n) this.lostTail(dir, st, ml - n, timeNs);
  }

  /** Ends both directions: a frame in progress is delivered as truncated. */
  flush(timeNs: bigint): void {
    this.abandon(0, this.dirs[0], timeNs);
    this.abandon(1, this.dirs[1], timeNs);
  }

  /** Whether a frame of this direction is partly read. */
  inProgress(dir: Dir): boolean {
    const st = this.dirs[dir];
    return st.total >= 0 || st.len > 0;
  }

  private header(dir: Dir, st: DirState, data: Uint8Array, off: number, timeNs: bigint): number {
    const h = this.handler;
    const need = h.headerBytes;
    if (st.len === 0 && data.length - off >= need) {
      // Fast path: the header is inside this chunk.
      const total = h.frameLength(dir, data, off);
      if (total < need) return this.lose(dir, st, 'bad frame header', off);
      if (off + total <= data.length) {
        // Whole frame inside the chunk: hand out a view, copy nothing.
        const keep = h.keepBytes ? clamp(h.keepBytes(dir, data, off, total), need, total) : total;
        this.stats.frames++;
        if (keep < total) this.stats.skippedBytes += total - keep;
        h.onFrame(dir, data.subarray(off, off + keep), total, total, timeNs, timeNs);
        return off + total;
      }
      this.begin(dir, st, data, off, total, timeNs);
      return this.body(dir, st, data, off, timeNs);
    }
    // Slow path: gather the header across chunks.
    if (st.len === 0) st.startNs = timeNs;
    this.ensure(st, need);
    const take = Math.min(need - st.len, data.length - off);
    st.buf.set(data.subarray(off, off + take), st.len);
    st.len += take;
    st.lastNs = timeNs;
    off += take;
    if (st.len < need) return off;
    const total = h.frameLength(dir, st.buf, 0);
    if (total < need) return this.lose(dir, st, 'bad frame header', off);
    st.total = total;
    st.seen = need;
    st.keep = h.keepBytes ? clamp(h.keepBytes(dir, st.buf, 0, total), need, total) : total;
    st.keep = Math.min(st.keep, Math.max(need, this.maxBufferBytes));
    if (st.seen >= total) this.deliver(dir, st, timeNs);
    return off;
  }

  /** Starts a frame whose header is at `data[off]` and which extends past this chunk. */
  private begin(dir: Dir, st: DirState, data: Uint8Array, off: number, total: number, timeNs: bigint): void {
    const h = this.handler;
    st.total = total;
    st.seen = 0;
    st.len = 0;
    st.lost = false;
    st.startNs = timeNs;
    st.keep = h.keepBytes ? clamp(h.keepBytes(dir, data, off, total), h.headerBytes, total) : total;
    st.keep = Math.min(st.keep, Math.max(h.headerBytes, this.maxBufferBytes));
  }

  private body(dir: Dir, st: DirState, data: Uint8Array, off: number, timeNs: bigint): number {
    const take = Math.min(st.total - st.seen, data.length - off);
    const room = st.keep - st.len;
    if (room > 0) {
      const k = Math.min(room, take);
      this.ensure(st, st.len + k);
      st.buf.set(data.subarray(off, off + k), st.len);
      st.len += k;
    }
    st.seen += take;
    st.lastNs = timeNs;
    off += take;
    if (st.seen >= st.total) this.deliver(dir, st, timeNs);
    return off;
  }

  private deliver(dir: Dir, st: DirState, timeNs: bigint): void {
    this.stats.frames++;
    if (st.lost) this.stats.truncatedFrames++;
    if (!st.lost && st.len < st.total) this.stats.skippedBytes += st.total - st.len;
    const view = st.buf.subarray(0, st.len);
    const total = st.total;
    const seen = st.seen - st.missing;
    const start = st.startNs;
    st.reset();
    this.handler.onFrame(dir, view, total, seen, start, timeNs);
  }

  /** A frame in progress will never complete: deliver what there is, if its length is known. */
  private abandon(dir: Dir, st: DirState, timeNs: bigint): void {
    if (st.total >= 0) {
      st.lost = true;
      this.deliver(dir, st, st.lastNs > 0n ? st.lastNs : timeNs);
    } else {
      st.reset();
    }
  }

  /** `missing` bytes that followed the chunk were not captured (eBPF prefix capture). */
  private lostTail(dir: Dir, st: DirState, missing: number, timeNs: bigint): void {
    if (st.total >= 0) {
      const rest = st.total - st.seen;
      st.lost = true;
      if (rest > missing) {
        // The frame continues after the lost bytes: keep counting it, but
        // keep no more of it — later bytes would not follow the kept ones.
        st.seen += missing;
        st.missing += missing;
        st.keep = st.len;
        return;
      }
      st.missing += rest;
      st.seen = st.total;
      this.deliver(dir, st, timeNs);
      if (rest === missing) return;
    } else {
      st.reset();
    }
    // Frames after the lost bytes: their boundaries are unknown until the next chunk.
    st.desync = true;
  }

  /** Bytes at `off` cannot start a frame: drop the rest of the chunk. Returns `off`. */
  private lose(dir: Dir, st: DirState, reason: string, off: number): number {
    this.stats.desyncs++;
    st.desync = true;
    st.reset();
    this.handler.onDesync(dir, reason);
    return off;
  }

  private ensure(st: DirState, size: number): void {
    if (st.buf.length >= size) return;
    let cap = Math.max(256, st.buf.length * 2);
    while (cap < size) cap *= 2;
    const next = new Uint8Array(Math.min(cap, Math.max(size, this.maxBufferBytes)));
    next.set(st.buf.subarray(0, st.len));
    st.buf = next;
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/**
 * Requests waiting for their responses, oldest first, keyed by the
 * protocol's id (correlation id, request id, …). Bounded: beyond `max`
 * entries the oldest is handed back to be emitted as timed out.
 */
export class PendingMap<K, V extends { start_time: bigint }> {
  private readonly map = new Map<K, V>();
  /** Requests pushed out because the map was full. */
  evicted = 0;

  constructor(private readonly max: number) {}

  /** Number of waiting requests. */
  get size(): number {
    return this.map.size;
  }

  /**
   * Adds a request; returns a request that had to leave (an older one with
   * the same key, or the oldest when full) so the caller can emit it.
   */
  add(key: K, value: V): V | undefined {
    const prev = this.map.get(key);
    if (prev !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
      return prev;
    }
    let out: V | undefined;
    if (this.map.size >= Math.max(1, this.max)) {
      const first = this.map.keys().next();
      if (!first.done) {
        out = this.map.get(first.value);
        this.map.delete(first.value);
        this.evicted++;
      }
    }
    this.map.set(key, value);
    return out;
  }

  /** Removes and returns the request with this key. */
  take(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) this.map.delete(key);
    return v;
  }

  /** The request with this key, left in place. */
  get(key: K): V | undefined {
    return this.map.get(key);
  }

  /** Removes and returns requests that started before `deadline` (oldest first). */
  takeOlderThan(deadline: bigint): V[] {
    let out: V[] | undefined;
    for (const [k, v] of this.map) {
      if (v.start_time >= deadline) break;
      this.map.delete(k);
      (out ??= []).push(v);
    }
    return out ?? NONE;
  }

  /** Removes and returns every request. */
  takeAll(): V[] {
    if (this.map.size === 0) return NONE;
    const out = [...this.map.values()];
    this.map.clear();
    return out;
  }
}

const NONE: never[] = [];

/** Big-endian unsigned 16-bit integer at `off` (the caller checked bounds). */
export function u16(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}

/** Big-endian unsigned 32-bit integer at `off`. */
export function u32(b: Uint8Array, off: number): number {
  return ((b[off] << 24) >>> 0) + ((b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]);
}

/** Big-endian signed 32-bit integer at `off`. */
export function i32(b: Uint8Array, off: number): number {
  return (b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3];
}

/** Little-endian signed 32-bit integer at `off`. */
export function i32le(b: Uint8Array, off: number): number {
  return b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24);
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: false });
// Node's native slice decoder takes any Uint8Array and no view object: about
// twice as fast as TextDecoder on the short names these protocols carry.
// Not part of Node's documented API, hence the fallback.
const nativeUtf8Slice = (Buffer.prototype as unknown as { utf8Slice?: (this: Uint8Array, start: number, end: number) => string }).utf8Slice;

/** UTF-8 text of `b[start..end)` (invalid sequences become U+FFFD). */
export function utf8(b: Uint8Array, start: number, end: number): string {
  if (end <= start) return '';
  if (nativeUtf8Slice !== undefined) return nativeUtf8Slice.call(b, start, end);
  return utf8Decoder.decode(b.subarray(start, end));
}

/** Whether `b[start..end)` is printable ASCII (names, ids). */
export function printable(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/** Fills `duration_ns` from start and end. */
export function finishTimes(s: { start_time: bigint; end_time: bigint; duration_ns: bigint }): void {
  if (s.end_time < s.start_time) s.end_time = s.start_time;
  s.duration_ns = s.end_time - s.start_time;
}
