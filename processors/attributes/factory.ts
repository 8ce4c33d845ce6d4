/** Factory of the `attributes` processor. */
import type { ProcessorFactory } from '../../pipeline/component';
import { ConfigError } from '../../pipeline/errors';
import { compileActions, type Problem } from '../internal/attraction';
import { AttributesProcessor } from './attributes';
import { configSchema, validateConfig, type AttributesConfig } from './config';
import { checkForSignal, compileMatch, type Matcher } from './match';

/** Builds `attributes` processors (traces, metrics, logs). */
export const factory: ProcessorFactory<AttributesConfig> = {
  kind: 'processor',
  type: 'attributes',
  description: 'Inserts, updates, deletes, hashes, extracts or converts span, log and data point attributes',
  stability: { traces: 'beta', metrics: 'beta', logs: 'beta' },
  config: configSchema,
  validate: validateConfig,
  /**
   * Throws a ConfigError when include/exclude use properties the signal's
   * items lack (e.g. `span_names` in a logs pipeline): the Collector rejects
   * those too, and only here is the signal known.
   */
  create(settings, cfg, signal, next) {
    const problems: Problem[] = [];
    const { proc, problems: actionProblems } = compileActions(cfg.actions, 'actions');
    problems.push(...actionProblems);
    const matcher = (key: 'include' | 'exclude'): Matcher | undefined => {
      const m = cfg[key];
      if (!m) return undefined;
      const compiled = compileMatch(m, key);
      problems.push(...compiled.problems, ...checkForSignal(m, key, signal));
      return compiled.matcher;
    };
    const include = matcher('include');
    const exclude = matcher('exclude');
    if (problems.length) throw new ConfigError(problems.map(([p, msg]) => `${p}: ${msg}`));
    return new AttributesProcessor(signal, proc, include, exclude, next, settings.telemetry);
  },
};
