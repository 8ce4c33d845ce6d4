/**
 * Snappy *block* format (not the framed format), as remote write and remote
 * read require, over the native `snappy` package.
 *
 * A block starts with the uncompressed length as a varint; it is checked
 * against the caller's limit before anything is inflated, so a tiny body that
 * claims gigabytes is refused without allocating them. Small blocks are
 * inflated on the calling thread (a thread-pool hop costs more than the work);
 * larger ones off it, so the event loop keeps decoding other requests.
 */
import { compressSync, uncompress, uncompressSync } from 'snappy';
import { MetaflowError } from '../errors';

/** A body that is not a valid snappy block. `code` is `SNAPPY_CORRUPT`. */
export class SnappyError extends MetaflowError {
  constructor(message: string) {
    super('SNAPPY_CORRUPT', message);
  }
}

/** A block whose uncompressed length is over the limit. `code` is `SNAPPY_TOO_LARGE`. */
export class SnappyTooLargeError extends MetaflowError {
  constructor(
    readonly length: number,
    readonly limit: number,
  ) {
    super('SNAPPY_TOO_LARGE', `uncompressed body of ${length} bytes exceeds the limit of ${limit} bytes`);
  }
}

/** Blocks larger than this are inflated on the libuv thread pool. */
const ASYNC_THRESHOLD = 256 * 1024;

/**
 * The uncompressed length a block declares (its varint preamble).
 * @throws SnappyError when the preamble is missing or malformed.
 */
export function snappyDecodedLength(block: Uint8Array): number {
  if (block.length === 0) throw new SnappyError('empty body: a snappy block has at least its length preamble');
  let n = 0;
  for (let i = 0, shift = 0; i < 5; i++, shift += 7) {
    if (i >= block.length) break;
    const b = block[i];
    n += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return n;
  }
  throw new SnappyError('corrupt snappy block: invalid length preamble');
}

/**
 * Inflates a snappy block of at most `limit` uncompressed bytes.
 * @throws SnappyError, SnappyTooLargeError
 */
export async function snappyUncompress(block: Uint8Array, limit: number): Promise<Buffer> {
  const n = snappyDecodedLength(block);
  if (n > limit) throw new SnappyTooLargeError(n, limit);
  try {
    const out = block.length >= ASYNC_THRESHOLD ? await uncompress(block, { asBuffer: true }) : uncompressSync(block, { asBuffer: true });
    return out as Buffer;
  } catch (err) {
    throw new SnappyError(`corrupt snappy block: ${(err as Error).message}`);
  }
}

/** Inflates a snappy block synchronously (small bodies, clients). @throws SnappyError, SnappyTooLargeError */
export function snappyUncompressSync(block: Uint8Array, limit: number): Buffer {
  const n = snappyDecodedLength(block);
  if (n > limit) throw new SnappyTooLargeError(n, limit);
  try {
    return uncompressSync(block, { asBuffer: true }) as Buffer;
  } catch (err) {
    throw new SnappyError(`corrupt snappy block: ${(err as Error).message}`);
  }
}

/** Compresses into one snappy block. */
export function snappyCompress(data: Uint8Array): Buffer {
  return compressSync(data);
}
