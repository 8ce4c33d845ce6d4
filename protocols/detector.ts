/**
 * Protocol inference for one connection, in front of the parsers.
 *
 * The first chunks of a connection are held (bounded) while every spec of the
 * transport looks at the first bytes of each direction. A spec answering
 * "certain" wins at once; "plausible" wins when the server port is one of the
 * spec's ports or once both directions were seen. The chosen spec's parser
 * then gets the held chunks in their original order and everything after.
 * A connection nothing matches within the detection budget is marked
 * unknown and costs nothing more. Ports are hints: they never decide alone.
 */
import type { Confidence, ConnectionParser, Dir, FeedFlags, ParserContext, ProtocolSpec } from './types';

/** Limits of detection per connection. */
export interface DetectOptions {
  /** Bytes held per connection while undecided. */
  maxBytes: number;
  /** Chunks held per connection while undecided. */
  maxChunks: number;
}

/** Defaults for {@link DetectOptions}. */
export const DEFAULT_DETECT_OPTIONS: DetectOptions = { maxBytes: 8192, maxChunks: 16 };

interface Held {
  dir: Dir;
  data: Uint8Array;
  time: bigint;
  flags: FeedFlags;
}

/** One connection: detection, then parsing. */
export class L7Connection {
  private state: 'detecting' | 'parsing' | 'unknown' = 'detecting';
  private parser: ConnectionParser | undefined;
  private spec: ProtocolSpec | undefined;
  private held: Held[] = [];
  private heldBytes = 0;
  private readonly first: [Uint8Array | undefined, Uint8Array | undefined] = [undefined, undefined];

  constructor(
    private readonly specs: readonly ProtocolSpec[],
    private readonly serverPort: number,
    private readonly ctx: ParserContext,
    private readonly opts: DetectOptions = DEFAULT_DETECT_OPTIONS,
  ) {}

  /** The protocol chosen, once decided. */
  get protocol(): string | undefined {
    return this.spec?.name;
  }

  /** Whether detection gave up: nothing matched. */
  get unknown(): boolean {
    return this.state === 'unknown';
  }

  /** Takes one chunk (see {@link ConnectionParser.feed}). Never throws. */
  feed(dir: Dir, data: Uint8Array, timeNs: bigint, flags: FeedFlags = {}): void {
    if (this.state === 'parsing') {
      this.safe(() => this.parser?.feed(dir, data, timeNs, flags));
      return;
    }
    if (this.state === 'unknown' || data.length === 0) return;
    // Hold a copy: the caller may reuse its buffer. (Not `data.slice()`: on a
    // Node Buffer that is a view of the same memory.)
    this.held.push({ dir, data: new Uint8Array(data), time: timeNs, flags });
    this.heldBytes += data.length;
    const f = this.first[dir];
    if (!flags.gap && (!f || f.length < 512)) this.first[dir] = f ? concat(f, data, 512) : new Uint8Array(data.subarray(0, 512));
    this.decide();
  }

  /** Passes the clock on to the parser (request timeouts). */
  expire(nowNs: bigint): void {
    if (this.state === 'parsing') this.safe(() => this.parser?.expire(nowNs));
  }

  /** The connection ended. */
  close(nowNs: bigint): void {
    if (this.state === 'detecting') {
      // Decide with what there is: a plausible match is better than nothing.
      this.decide(true);
    }
    if (this.state === 'parsing') this.safe(() => this.parser?.close(nowNs));
    this.held = [];
  }

  private decide(final = false): void {
    let best: ProtocolSpec | undefined;
    let bestScore = 0;
    let bestConf: Confidence = 0;
    for (const spec of this.specs) {
      for (const dir of [0, 1] as Dir[]) {
        const bytes = this.first[dir];
        if (!bytes) continue;
        let conf: Confidence = 0;
        try {
          conf = spec.infer(bytes, dir, this.serverPort);
        } catch {
          conf = 0;
        }
        if (!conf) continue;
        const score = conf * 2 + (spec.ports.includes(this.serverPort) ? 1 : 0);
        if (score > bestScore) {
          best = spec;
          bestScore = score;
          bestConf = conf;
        }
      }
    }
    const bothSeen = this.first[0] !== undefined && this.first[1] !== undefined;
    if (best && (bestConf === 2 || bestScore === 3 || bothSeen || final)) {
      this.start(best);
      return;
    }
    if (this.heldBytes >= this.opts.maxBytes || this.held.length >= this.opts.maxChunks || final) {
      this.state = 'unknown';
      this.held = [];
      this.heldBytes = 0;
    }
  }

  private start(spec: ProtocolSpec): void {
    this.spec = spec;
    this.state = 'parsing';
    this.safe(() => {
      this.parser = spec.create(this.ctx);
    });
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    for (const h of held) this.safe(() => this.parser?.feed(h.dir, h.data, h.time, h.flags));
  }

  /** A parser that throws despite the contract is counted and switched off for this connection. */
  private safe(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.ctx.malformed(`${this.spec?.name ?? 'detector'} parser threw: ${(err as Error).message}`);
      this.state = 'unknown';
      this.parser = undefined;
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array, max: number): Uint8Array {
  const n = Math.min(max, a.length + b.length);
  const out = new Uint8Array(n);
  out.set(a.subarray(0, n));
  if (a.length < n) out.set(b.subarray(0, n - a.length), a.length);
  return out;
}
