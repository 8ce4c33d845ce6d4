/**
 * Config of the `attributes` processor, with the Collector's keys:
 *
 * ```yaml
 * processors:
 *   attributes:
 *     include:
 *       match_type: strict
 *       services: [checkout]
 *     actions:
 *       - { key: db.statement, action: delete }
 *       - { pattern: ^user\., action: hash }
 * ```
 *
 * `actions` is the action list of processors/internal/attraction.ts, applied
 * to span attributes, log record attributes and metric data point
 * attributes; `include` / `exclude` select the items (see match.ts).
 */
import { s, type Infer } from '../../pipeline/config/schema';
import { actionsSchema, validateActions, type Problem } from '../internal/attraction';
import { compileMatch, matchSchema } from './match';

/** Schema of the attributes processor's config. */
export const configSchema = s.object({
  actions: actionsSchema().doc('actions applied, in order, to the attributes of every selected item'),
  include: s.optional(matchSchema).doc('process only items matching these properties'),
  exclude: s.optional(matchSchema).doc('do not process items matching these properties'),
}).withDefaults();

/** Parsed config. */
export type AttributesConfig = Infer<typeof configSchema>;

/** Cross-field checks of the action list and of include/exclude (signal-independent ones). */
export function validateConfig(cfg: AttributesConfig): Problem[] {
  const problems: Problem[] = [];
  if (cfg.actions.length === 0) problems.push(['actions', 'at least one action is required']);
  else problems.push(...validateActions(cfg.actions, 'actions'));
  if (cfg.include) problems.push(...compileMatch(cfg.include, 'include').problems);
  if (cfg.exclude) problems.push(...compileMatch(cfg.exclude, 'exclude').problems);
  return problems;
}
