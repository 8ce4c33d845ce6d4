/**
 * A test harness for the ebpf receiver: runs it in process with a consumer
 * that collects spans, and waits for spans matching a predicate. Used by the
 * receiver's own tests and test/ebpf*.test.ts; not part of the distribution.
 */
import { ComponentID } from '../../pipeline/component';
import { Logger } from '../../pipeline/logger';
import type { Attributes, Span, Traces } from '../../pipeline/pdata';
import { Telemetry } from '../../pipeline/telemetry';
import type { ProtocolSpec } from '../../protocols/types';
import { config, type EbpfReceiverConfig } from './config';
import { EbpfReceiver } from './receiver';

/** A span with its resource's attributes. */
export interface CollectedSpan extends Span {
  resource: Attributes;
}

/** A running receiver with what it emitted. */
export interface ReceiverHarness {
  receiver: EbpfReceiver;
  telemetry: Telemetry;
  spans: CollectedSpan[];
  logs: string[];
  /** Resolves with the spans matching `pred` once there are `n`, or rejects after `ms`. */
  waitFor(pred: (s: CollectedSpan) => boolean, n?: number, ms?: number): Promise<CollectedSpan[]>;
  /**
   * Resolves once every data event the kernel had written when it was
   * called has been processed (the ring buffer is FIFO): whatever those
   * events make is in `spans` by then. Rejects after `ms`.
   */
  settle(ms?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a receiver with `overrides` laid over the defaults. */
export async function startReceiver(overrides: Record<string, unknown> = {}, specs?: readonly ProtocolSpec[]): Promise<ReceiverHarness> {
  const cfg: EbpfReceiverConfig = config.parseOrThrow(overrides);
  const telemetry = new Telemetry('normal');
  const logs: string[] = [];
  const logger = new Logger('info', { component: 'ebpf' }, (line) => logs.push(line));
  const spans: CollectedSpan[] = [];
  const waiters = new Set<() => void>();
  const receiver = new EbpfReceiver(
    cfg,
    { id: new ComponentID('ebpf'), kind: 'receiver', logger, telemetry: telemetry.forComponent('receiver', 'ebpf') },
    {
      traces: {
        async consume(t: Traces) {
          for (const rs of t.resourceSpans) for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, resource: rs.resource.attributes });
          for (const w of waiters) w();
        },
      },
    },
    specs,
  );
  await receiver.start();
  return {
    receiver,
    telemetry,
    spans,
    logs,
    waitFor(pred, n = 1, ms = 15000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hits = spans.filter(pred);
          if (hits.length >= n) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(hits);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const seen = spans.map((s) => `${s.name} [${s.resource['process.executable.name']} ${s.kind === 2 ? 'server' : 'client'} ${s.attributes['metaflow.response_status']} ${s.attributes['metaflow.client.port']}→${s.attributes['metaflow.server.port']}]`);
          reject(new Error(`timed out after ${ms} ms waiting for ${n} span(s); have ${spans.length}: ${seen.slice(-40).join(', ')}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
    async settle(ms = 15000) {
      const target = receiver.stats().kernelEvents;
      const deadline = Date.now() + ms;
      while (receiver.stats().dataEvents < target) {
        if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${target} data events; processed ${receiver.stats().dataEvents}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop() {
      await receiver.shutdown();
      await telemetry.close();
    },
  };
}
