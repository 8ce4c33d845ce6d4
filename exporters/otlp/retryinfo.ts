/**
 * Reads the retry hint of a `google.rpc.Status` (its `google.rpc.RetryInfo`
 * detail), as OTLP servers send with RESOURCE_EXHAUSTED and UNAVAILABLE.
 */

function readVarint(b: Uint8Array, pos: { i: number }): number {
  let v = 0;
  let mul = 1;
  for (let n = 0; n < 10 && pos.i < b.length; n++) {
    const byte = b[pos.i++];
    v += (byte & 0x7f) * mul;
    if (byte < 0x80) return v;
    mul *= 128;
  }
  throw new Error('bad varint');
}

/** Fields of a message: number → list of length-delimited bodies or varints. */
function fields(b: Uint8Array): Map<number, Array<Uint8Array | number>> {
  const out = new Map<number, Array<Uint8Array | number>>();
  const pos = { i: 0 };
  while (pos.i < b.length) {
    const key = readVarint(b, pos);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    let value: Uint8Array | number;
    if (wire === 0) value = readVarint(b, pos);
    else if (wire === 2) {
      const len = readVarint(b, pos);
      if (pos.i + len > b.length) throw new Error('truncated');
      value = b.subarray(pos.i, pos.i + len);
      pos.i += len;
    } else if (wire === 1) {
      pos.i += 8;
      continue;
    } else if (wire === 5) {
      pos.i += 4;
      continue;
    } else throw new Error('bad wire type');
    const list = out.get(field) ?? [];
    list.push(value);
    out.set(field, list);
  }
  return out;
}

/** The RetryInfo delay in ms from a serialized Status, or undefined. */
export function retryDelayFromStatus(status: Uint8Array): number | undefined {
  try {
    for (const any of fields(status).get(3) ?? []) {
      if (!(any instanceof Uint8Array)) continue;
      const f = fields(any);
      const typeUrl = f.get(1)?.[0];
      if (!(typeUrl instanceof Uint8Array) || !Buffer.from(typeUrl).toString().endsWith('google.rpc.RetryInfo')) continue;
      const info = f.get(2)?.[0];
      if (!(info instanceof Uint8Array)) continue;
      const duration = fields(info).get(1)?.[0];
      if (!(duration instanceof Uint8Array)) return 0;
      const d = fields(duration);
      const seconds = Number(d.get(1)?.[0] ?? 0);
      const nanos = Number(d.get(2)?.[0] ?? 0);
      return seconds * 1000 + nanos / 1e6;
    }
  } catch {
    return undefined;
  }
  return undefined;
}
