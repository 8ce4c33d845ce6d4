/** Factory of the `autotagging` processor. */
import type { CreateSettings, ProcessorFactory } from '../../pipeline/component';
import type { Telemetry } from '../../pipeline/telemetry';
import { AutoTaggingProcessor, type TaggerLease } from './autotagging';
import { configSchema, validateConfig, type AutoTaggingConfig } from './config';
import { Tagger } from './tagger';

interface SharedTagger {
  tagger: Tagger;
  refs: number;
  started: Promise<void> | undefined;
}

/**
 * Taggers by running service (its telemetry registry) and component id: the
 * graph creates one processor per pipeline, and they share one tagger (one
 * Kubernetes watch, one process cache). Entries go when the last user shuts
 * down, so the map holds at most one per configured autotagging id.
 */
const shared = new WeakMap<Telemetry, Map<string, SharedTagger>>();

function lease(settings: CreateSettings, cfg: AutoTaggingConfig): TaggerLease {
  const registry = settings.telemetry.telemetry;
  const id = settings.id.toString();
  return {
    async acquire() {
      let byId = shared.get(registry);
      if (!byId) shared.set(registry, (byId = new Map()));
      let s = byId.get(id);
      if (!s) {
        s = { tagger: new Tagger(cfg, settings), refs: 0, started: undefined };
        byId.set(id, s);
      }
      s.refs++;
      const entry = s;
      entry.started ??= entry.tagger.start();
      try {
        await entry.started;
      } catch (err) {
        // A failed start leaves nothing running; the next attempt starts afresh.
        if (--entry.refs === 0 && byId.get(id) === entry) byId.delete(id);
        await entry.tagger.stop();
        throw err;
      }
      return entry.tagger;
    },
    async release() {
      const byId = shared.get(registry);
      const s = byId?.get(id);
      if (!s || --s.refs > 0) return;
      byId!.delete(id);
      await s.tagger.stop();
    },
  };
}

/** Builds `autotagging` processors (traces, metrics, logs). */
export const factory: ProcessorFactory<AutoTaggingConfig> = {
  kind: 'processor',
  type: 'autotagging',
  description: 'Tags spans, flows, metrics and logs with host, process, Kubernetes and custom facts, on resources and on both ends of zero-code spans',
  stability: { traces: 'alpha', metrics: 'alpha', logs: 'alpha' },
  config: configSchema,
  validate: validateConfig,
  create(settings, cfg, signal, next) {
    return new AutoTaggingProcessor(signal, lease(settings, cfg), next, settings.telemetry);
  },
};
