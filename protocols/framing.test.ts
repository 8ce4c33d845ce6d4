/**
 * The shared framer and pending-request map: frames across and within
 * chunks, the buffer bound, keepBytes, desync and resync, gaps, prefix
 * captures (lost tails), flush; eviction and expiry of pending requests.
 */
import type { Dir } from './types';
import { Framer, PendingMap } from './framing';
import type { FrameHandler } from './framing';

/** Frames: 1 byte tag 0xAA, 2 bytes length of the payload, payload. */
class Recorder implements FrameHandler {
  readonly headerBytes = 3;
  frames: Array<{ dir: Dir; data: number[]; total: number; seen: number; start: bigint; end: bigint }> = [];
  desyncs: string[] = [];
  keep: number | undefined;
  frameLength(_dir: Dir, buf: Uint8Array, off: number): number {
    return buf[off] === 0xaa ? 3 + ((buf[off + 1] << 8) | buf[off + 2]) : -1;
  }
  keepBytes(_dir: Dir, _buf: Uint8Array, _off: number, total: number): number {
    return this.keep ?? total;
  }
  onFrame(dir: Dir, data: Uint8Array, total: number, seen: number, start: bigint, end: bigint): void {
    this.frames.push({ dir, data: [...data], total, seen, start, end });
  }
  onDesync(_dir: Dir, reason: string): void {
    this.desyncs.push(reason);
  }
}

function f(...payload: number[]): number[] {
  return [0xaa, payload.length >> 8, payload.length & 0xff, ...payload];
}

const u8 = (a: number[]) => Uint8Array.from(a);

describe('Framer', () => {
  test('several frames in one chunk, views without copies, in order', () => {
    const r = new Recorder();
    const fr = new Framer(r, 1024);
    fr.feed(0, u8([...f(1, 2), ...f(), ...f(3)]), 5n, {});
    expect(r.frames.map((x) => x.data)).toEqual([f(1, 2), f(), f(3)]);
    expect(r.frames.every((x) => x.total === x.seen && x.start === 5n && x.end === 5n)).toBe(true);
    expect(fr.stats.frames).toBe(3);
  });

  test('a frame and its header split across chunks; times of its first and last byte', () => {
    const r = new Recorder();
    const fr = new Framer(r, 1024);
    const whole = f(1, 2, 3, 4, 5);
    fr.feed(1, u8(whole.slice(0, 2)), 10n, {});
    fr.feed(1, u8(whole.slice(2, 5)), 20n, {});
    expect(r.frames).toHaveLength(0);
    expect(fr.inProgress(1)).toBe(true);
    fr.feed(1, u8([...whole.slice(5), ...f(9)]), 30n, {});
    expect(r.frames.map((x) => [x.data, x.start, x.end])).toEqual([
      [whole, 10n, 30n],
      [f(9), 30n, 30n],
    ]);
  });

  test('frames beyond the buffer bound: the first bytes kept, the rest counted', () => {
    const r = new Recorder();
    const fr = new Framer(r, 8);
    const big = f(...Array.from({ length: 20 }, (_, i) => i));
    fr.feed(0, u8(big.slice(0, 10)), 1n, {});
    fr.feed(0, u8(big.slice(10)), 2n, {});
    expect(r.frames[0].data).toEqual(big.slice(0, 8));
    expect([r.frames[0].total, r.frames[0].seen]).toEqual([23, 23]);
    expect(fr.stats.skippedBytes).toBe(15);
  });

  test('keepBytes: only the header of a frame the protocol never reads', () => {
    const r = new Recorder();
    r.keep = 3;
    const fr = new Framer(r, 1024);
    const body = f(...Array.from({ length: 100 }, () => 7));
    fr.feed(0, u8(body.slice(0, 50)), 1n, {});
    fr.feed(0, u8(body.slice(50)), 2n, {});
    fr.feed(0, u8(body), 3n, {});
    expect(r.frames.map((x) => [x.data.length, x.total])).toEqual([
      [3, 103],
      [3, 103],
    ]);
  });

  test('bytes that cannot start a frame: the rest of the chunk is dropped, the next chunk is tried', () => {
    const r = new Recorder();
    const fr = new Framer(r, 1024);
    fr.feed(0, u8([0x01, 0x02, 0x03, ...f(1)]), 1n, {});
    fr.feed(0, u8(f(2)), 2n, {});
    expect(r.desyncs).toEqual(['bad frame header']);
    expect(fr.stats.droppedBytes).toBe(7);
    expect(r.frames.map((x) => x.data)).toEqual([f(2)]);
  });

  test('a gap ends the frame in progress as truncated, stamped with its last byte seen', () => {
    const r = new Recorder();
    const fr = new Framer(r, 1024);
    const whole = f(1, 2, 3, 4, 5, 6);
    fr.feed(0, u8(whole.slice(0, 5)), 10n, {});
    fr.feed(0, u8(f(8)), 20n, { gap: true });
    expect(r.frames.map((x) => [x.data, x.total, x.seen, x.end])).toEqual([
      [whole.slice(0, 5), 9, 5, 10n],
      [f(8), 4, 4, 20n],
    ]);
    expect(fr.stats.truncatedFrames).toBe(1);
  });

  test('prefix capture: lost bytes inside the frame are counted; the frame continues after them', () => {
    const r = new Recorder();
    const fr = new Framer(r, 1024);
    const whole = f(...Array.from({ length: 30 }, (_, i) => i));
    // A 20-byte write of which 8 were captured, then the rest of the frame.
    fr.feed(0, u8(whole.slice(0, 8)), 1n, { messageLength: 20 });
    fr.feed(0, u8(whole.slice(20)), 2n, {});
    expect(r.frames.map((x) => [x.data, x.total, x.seen])).toEqual([[whole.slice(0, 8), 33, 21]]);
  });

  test('prefix capture: a frame ending in the lost bytes is delivered; the next chunk starts fresh', () => {
    const r = new Recorder();
    const fr = new Framer(r, 1024);
    const a = f(1, 2, 3, 4);
    fr.feed(0, u8(a.slice(0, 4)), 1n, { messageLength: 40 });
    fr.feed(0, u8(f(9)), 2n, {});
    expect(r.frames.map((x) => [x.data, x.total, x.seen])).toEqual([
      [a.slice(0, 4), 7, 4],
      [f(9), 4, 4],
    ]);
  });

  test('flush delivers what is in progress', () => {
    const r = new Recorder();
    const fr = new Framer(r, 1024);
    fr.feed(1, u8(f(1, 2, 3).slice(0, 4)), 1n, {});
    fr.flush(9n);
    expect(r.frames.map((x) => [x.dir, x.total, x.seen])).toEqual([[1, 6, 4]]);
    expect(fr.inProgress(1)).toBe(false);
  });
});

describe('PendingMap', () => {
  const item = (t: bigint, id: string) => ({ start_time: t, id });

  test('take by key, duplicates and eviction hand back the request to emit', () => {
    const m = new PendingMap<number, { start_time: bigint; id: string }>(2);
    expect(m.add(1, item(1n, 'a'))).toBeUndefined();
    expect(m.add(1, item(2n, 'a2'))?.id).toBe('a');
    expect(m.add(2, item(3n, 'b'))).toBeUndefined();
    expect(m.add(3, item(4n, 'c'))?.id).toBe('a2');
    expect(m.evicted).toBe(1);
    expect(m.take(2)?.id).toBe('b');
    expect(m.take(2)).toBeUndefined();
    expect(m.size).toBe(1);
  });

  test('takeOlderThan returns the oldest first and stops at the first young one', () => {
    const m = new PendingMap<number, { start_time: bigint; id: string }>(10);
    m.add(1, item(10n, 'a'));
    m.add(2, item(20n, 'b'));
    m.add(3, item(30n, 'c'));
    expect(m.takeOlderThan(25n).map((x) => x.id)).toEqual(['a', 'b']);
    expect(m.takeAll().map((x) => x.id)).toEqual(['c']);
    expect(m.takeAll()).toEqual([]);
  });
});
