/**
 * Config of the `resource` processor, with the Collector's keys:
 *
 * ```yaml
 * processors:
 *   resource:
 *     attributes:
 *       - { key: deployment.environment, value: prod, action: upsert }
 *       - { key: host.ip, action: delete }
 * ```
 *
 * `attributes` is the action list of processors/internal/attraction.ts,
 * applied to resource attributes.
 */
import { s, type Infer } from '../../pipeline/config/schema';
import { actionsSchema, validateActions, type Problem } from '../internal/attraction';

/** Schema of the resource processor's config. */
export const configSchema = s.object({
  attributes: actionsSchema().doc('actions applied, in order, to the attributes of every resource'),
}).withDefaults();

/** Parsed config. */
export type ResourceConfig = Infer<typeof configSchema>;

/** Cross-field checks: a non-empty action list whose actions are complete and consistent. */
export function validateConfig(cfg: ResourceConfig): Problem[] {
  if (cfg.attributes.length === 0) return [['attributes', 'at least one action is required']];
  return validateActions(cfg.attributes, 'attributes');
}
