/** Factory of the `resource` processor. */
import type { ProcessorFactory } from '../../pipeline/component';
import { ConfigError } from '../../pipeline/errors';
import { compileActions } from '../internal/attraction';
import { configSchema, validateConfig, type ResourceConfig } from './config';
import { ResourceProcessor } from './resource';

/** Builds `resource` processors (traces, metrics, logs). */
export const factory: ProcessorFactory<ResourceConfig> = {
  kind: 'processor',
  type: 'resource',
  description: 'Inserts, updates, deletes, hashes, extracts or converts resource attributes',
  stability: { traces: 'beta', metrics: 'beta', logs: 'beta' },
  config: configSchema,
  validate: validateConfig,
  create(settings, cfg, signal, next) {
    const { proc, problems } = compileActions(cfg.attributes, 'attributes');
    // The loader runs validate first; this only guards a caller that skipped it.
    if (problems.length) throw new ConfigError(problems.map(([p, m]) => `${p}: ${m}`));
    return new ResourceProcessor(signal, proc, next, settings.telemetry);
  },
};
