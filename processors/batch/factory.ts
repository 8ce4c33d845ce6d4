/** Factory of the `batch` processor. */
import type { ProcessorFactory } from '../../pipeline/component';
import { BatchProcessor } from './batch';
import { configSchema, validateConfig, type BatchConfig } from './config';

/** Builds `batch` processors (traces, metrics, logs). */
export const factory: ProcessorFactory<BatchConfig> = {
  kind: 'processor',
  type: 'batch',
  description: 'Groups items into batches by size and time before they are sent on',
  stability: { traces: 'beta', metrics: 'beta', logs: 'beta' },
  config: configSchema,
  validate: validateConfig,
  create(settings, cfg, signal, next) {
    return new BatchProcessor(cfg, { signal, next, telemetry: settings.telemetry, logger: settings.logger });
  },
};
