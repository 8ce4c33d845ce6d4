/**
 * Small real components for testing the core: a receiver tests drive by hand,
 * a processor that tags spans, and an exporter that records what it gets.
 * Each writes its lifecycle calls to a shared journal so tests can check the
 * start and shutdown order. Not part of the distribution.
 */
import type { Component, Consumer, Consumers, ExporterFactory, ProcessorFactory, ReceiverFactory } from '../component';
import { s, type Infer } from '../config/schema';
import type { Signal, SignalData, Traces } from '../pdata';

/** Lifecycle calls in order, e.g. `start receiver:a`. */
export const journal: string[] = [];

/** Started test receivers by id, so a test can push data through them. */
export const receivers = new Map<string, Consumers>();

/** What each test exporter received, by id. */
export const exported = new Map<string, Array<{ signal: Signal; data: unknown }>>();

const receiverConfig = s.object({ endpoint: s.optional(s.string()), fail_start: s.boolean().default(false) });

/** A receiver that emits what tests give it. */
export const testReceiver: ReceiverFactory<Infer<typeof receiverConfig>> = {
  kind: 'receiver',
  type: 'testrcv',
  aliases: ['test_receiver'],
  description: 'test receiver',
  config: receiverConfig,
  stability: { traces: 'development', metrics: 'development', logs: 'development' },
  endpoints: (cfg) => (cfg.endpoint ? [{ path: 'endpoint', endpoint: cfg.endpoint }] : []),
  create(settings, cfg, next): Component {
    const id = settings.id.toString();
    return {
      async start() {
        journal.push(`start receiver:${id}`);
        if (cfg.fail_start) throw new Error('told to fail');
        receivers.set(id, next);
      },
      async shutdown() {
        journal.push(`shutdown receiver:${id}`);
        receivers.delete(id);
      },
    };
  },
};

const processorConfig = s.object({ tag: s.string().default('seen'), mutate: s.boolean().default(true) });

/** A processor that sets attribute `tag` = processor id on every span (when mutate). */
export const testProcessor: ProcessorFactory<Infer<typeof processorConfig>> = {
  kind: 'processor',
  type: 'testproc',
  description: 'test processor',
  config: processorConfig,
  stability: { traces: 'development', metrics: 'development', logs: 'development' },
  create<S extends Signal>(settings: Parameters<ProcessorFactory['create']>[0], cfg: Infer<typeof processorConfig>, signal: S, next: Consumer<S>) {
    const id = settings.id.toString();
    return {
      mutatesData: cfg.mutate,
      async consume(data: SignalData[S]) {
        if (cfg.mutate && signal === 'traces') {
          for (const rs of (data as Traces).resourceSpans)
            for (const ss of rs.scopeSpans) for (const span of ss.spans) span.attributes[cfg.tag] = id;
        }
        return next.consume(data);
      },
      async start() {
        journal.push(`start processor:${id}`);
      },
      async shutdown() {
        journal.push(`shutdown processor:${id}`);
      },
    };
  },
};

const exporterConfig = s.object({ fail: s.boolean().default(false) });

/** An exporter that records every batch. */
export const testExporter: ExporterFactory<Infer<typeof exporterConfig>> = {
  kind: 'exporter',
  type: 'testexp',
  description: 'test exporter',
  config: exporterConfig,
  stability: { traces: 'development', metrics: 'development', logs: 'development' },
  create(settings, cfg, signals) {
    const id = settings.id.toString();
    const consumers: Consumers = {};
    for (const signal of signals) {
      (consumers as Record<Signal, Consumer>)[signal] = {
        async consume(data) {
          if (cfg.fail) throw new Error('export failed');
          const list = exported.get(id) ?? [];
          list.push({ signal, data });
          exported.set(id, list);
        },
      };
    }
    return {
      consumers,
      async start() {
        journal.push(`start exporter:${id}`);
      },
      async shutdown() {
        journal.push(`shutdown exporter:${id}`);
      },
    };
  },
};

/** A trace batch with one span per name. */
export function tracesOf(...names: string[]): Traces {
  return {
    resourceSpans: [
      {
        resource: { attributes: { 'service.name': 'test' }, droppedAttributesCount: 0 },
        schemaUrl: '',
        scopeSpans: [
          {
            scope: { name: 'test', version: '', attributes: {}, droppedAttributesCount: 0 },
            schemaUrl: '',
            spans: names.map((name, i) => ({
              traceId: '0af7651916cd43dd8448eb211c80319c',
              spanId: `b7ad6b71692033${String(i).padStart(2, '0')}`,
              traceState: '',
              parentSpanId: '',
              flags: 1,
              name,
              kind: 2,
              startTimeUnixNano: 1700000000000000000n,
              endTimeUnixNano: 1700000000001000000n,
              attributes: {},
              droppedAttributesCount: 0,
              events: [],
              droppedEventsCount: 0,
              links: [],
              droppedLinksCount: 0,
              status: { code: 0, message: '' },
            })),
          },
        ],
      },
    ],
  };
}
