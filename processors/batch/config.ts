/**
 * Config of the `batch` processor, with the Collector's keys and defaults:
 *
 * ```yaml
 * processors:
 *   batch:
 *     send_batch_size: 8192      # items that trigger a send
 *     send_batch_max_size: 0     # upper bound of a sent batch; 0 = none
 *     timeout: 200ms             # send what is pending after this long; 0 = send at once
 * ```
 *
 * `metadata_keys` and `metadata_cardinality_limit` are accepted so Collector
 * configs load, but batching by client metadata is not supported (our
 * consumers receive none): a non-empty `metadata_keys` is reported.
 */
import { s, type Infer } from '../../pipeline/config/schema';

/** Schema of the batch processor's config. */
export const configSchema = s.object({
  send_batch_size: s.int().min(0).default(8192).doc('number of items after which a batch is sent regardless of the timeout; 0 = timeout only'),
  send_batch_max_size: s.int().min(0).default(0).doc('largest batch sent; larger ones are split. 0 = no limit'),
  timeout: s.duration().default('200ms').doc('time after which pending items are sent regardless of size; 0 = send immediately'),
  metadata_keys: s.array(s.string()).default([]).doc('not supported; must be empty'),
  metadata_cardinality_limit: s.int().min(0).default(1000).doc('accepted for compatibility; unused'),
}).withDefaults();

/** Parsed config (`timeout` in milliseconds). */
export type BatchConfig = Infer<typeof configSchema>;

/**
 * How many batches' worth of items the processor holds (pending plus waiting
 * to be sent) before it refuses more: enough to absorb a burst while the next
 * consumer is busy, small enough that a stalled consumer pushes back on the
 * sender instead of growing memory.
 */
export const PENDING_BATCHES = 4;

/** The hard bound on items held, derived from the config (see {@link PENDING_BATCHES}). */
export function maxPendingItems(cfg: BatchConfig): number {
  const batch = Math.max(cfg.send_batch_size, cfg.send_batch_max_size) || 8192;
  return batch * PENDING_BATCHES;
}

/** Cross-field checks. */
export function validateConfig(cfg: BatchConfig): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  if (cfg.send_batch_max_size > 0 && cfg.send_batch_max_size < cfg.send_batch_size) {
    problems.push([
      'send_batch_max_size',
      `must be greater than or equal to send_batch_size (${cfg.send_batch_size}), or 0 for no limit; got ${cfg.send_batch_max_size}`,
    ]);
  }
  if (cfg.metadata_keys.length > 0) {
    problems.push(['metadata_keys', 'is not supported: MetaFlow consumers receive no client metadata to batch by']);
  }
  return problems;
}
