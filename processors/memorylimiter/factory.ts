/** Factory of the `memory_limiter` processor. */
import type { ProcessorFactory } from '../../pipeline/component';
import { configSchema, validateConfig, type MemoryLimiterConfig } from './config';
import { LimiterRegistry, MemoryLimiterProcessor, processMemory, type MemorySource } from './memorylimiter';

/**
 * A memory_limiter factory reading memory from `source`. Processors created
 * by one factory share a limiter per id and config; tests make their own
 * factory with a fake source so they neither share state nor depend on the
 * machine.
 */
export function newFactory(source: MemorySource = processMemory): ProcessorFactory<MemoryLimiterConfig> {
  const registry = new LimiterRegistry(source);
  return {
    kind: 'processor',
    type: 'memory_limiter',
    description: 'Refuses data while process memory is above a limit, so receivers push back',
    stability: { traces: 'beta', metrics: 'beta', logs: 'beta' },
    config: configSchema,
    validate: validateConfig,
    create(settings, cfg, signal, next) {
      const key = `${settings.id.toString()} ${JSON.stringify(cfg)}`;
      return new MemoryLimiterProcessor(cfg, { signal, next, telemetry: settings.telemetry, logger: settings.logger, registry, key });
    },
  };
}

/** The `memory_limiter` factory, measuring this process. */
export const factory = newFactory();
