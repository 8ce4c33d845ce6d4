/**
 * Config of the `memory_limiter` processor, with the Collector's keys:
 *
 * ```yaml
 * processors:
 *   memory_limiter:
 *     check_interval: 1s        # required, > 0
 *     limit_mib: 4000           # or limit_percentage: 80 (exactly one)
 *     spike_limit_mib: 800      # default 20% of the limit
 * ```
 *
 * Soft limit = limit − spike: at or above it data is refused until usage
 * falls below it again. Hard limit = limit: at or above it a GC is forced
 * (when the process runs with --expose-gc). Percentages are of the total
 * memory available to the process (see memorylimiter.ts).
 */
import { s, type Infer } from '../../pipeline/config/schema';

/** Schema of the memory limiter's config. */
export const configSchema = s.object({
  check_interval: s.duration().default(0).doc('how often memory usage is measured; required, e.g. 1s'),
  limit_mib: s.int().min(0).default(0).doc('hard limit in MiB of process memory (RSS); 0 = unset'),
  spike_limit_mib: s.int().min(0).default(0).doc('expected growth between checks in MiB; 0 = 20% of limit_mib'),
  limit_percentage: s.int().min(0).max(100).default(0).doc('hard limit as a percentage of total memory; 0 = unset'),
  spike_limit_percentage: s.int().min(0).max(100).default(0).doc('spike as a percentage of total memory; 0 = 20% of the limit'),
  min_gc_interval_when_soft_limited: s.duration().default('10s').doc('least time between forced GCs above the soft limit'),
  min_gc_interval_when_hard_limited: s.duration().default(0).doc('least time between forced GCs above the hard limit'),
}).withDefaults();

/** Parsed config (durations in milliseconds). */
export type MemoryLimiterConfig = Infer<typeof configSchema>;

const MIB = 1024 * 1024;

/** The limits in bytes a config resolves to. */
export interface Limits {
  /** Hard limit: at or above it a GC is forced. */
  limitBytes: number;
  /** Spike allowance: data is refused at or above `limitBytes - spikeBytes`. */
  spikeBytes: number;
}

/** Resolves a (valid) config to byte limits; `totalMemory` is read only for percentage limits. */
export function resolveLimits(cfg: MemoryLimiterConfig, totalMemory: () => number): Limits {
  let limitBytes: number;
  let spikeBytes: number;
  if (cfg.limit_mib > 0) {
    limitBytes = cfg.limit_mib * MIB;
    spikeBytes = cfg.spike_limit_mib * MIB;
  } else {
    const total = totalMemory();
    limitBytes = Math.floor((cfg.limit_percentage * total) / 100);
    spikeBytes = Math.floor((cfg.spike_limit_percentage * total) / 100);
  }
  // The Collector's default spike: a fifth of the limit.
  if (spikeBytes === 0) spikeBytes = Math.floor(limitBytes / 5);
  return { limitBytes, spikeBytes };
}

/** Cross-field checks, each with its path. */
export function validateConfig(cfg: MemoryLimiterConfig): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  if (cfg.check_interval <= 0) problems.push(['check_interval', 'must be greater than zero, e.g. 1s']);
  if (cfg.min_gc_interval_when_soft_limited < cfg.min_gc_interval_when_hard_limited) {
    problems.push(['min_gc_interval_when_soft_limited', 'must be greater than or equal to min_gc_interval_when_hard_limited']);
  }
  const byMib = cfg.limit_mib > 0;
  const byPct = cfg.limit_percentage > 0;
  if (!byMib && !byPct) problems.push(['limit_mib', 'set either limit_mib or limit_percentage to a value greater than zero']);
  if (byMib && byPct) problems.push(['limit_percentage', 'cannot be combined with limit_mib; set exactly one of them']);
  if (byMib && cfg.spike_limit_mib >= cfg.limit_mib) {
    problems.push(['spike_limit_mib', `must be smaller than limit_mib (${cfg.limit_mib}); got ${cfg.spike_limit_mib}`]);
  }
  if (byPct && cfg.spike_limit_percentage >= cfg.limit_percentage) {
    problems.push(['spike_limit_percentage', `must be smaller than limit_percentage (${cfg.limit_percentage}); got ${cfg.spike_limit_percentage}`]);
  }
  if (!byMib && cfg.spike_limit_mib > 0) problems.push(['spike_limit_mib', 'applies only with limit_mib; use spike_limit_percentage with limit_percentage']);
  if (!byPct && cfg.spike_limit_percentage > 0) {
    problems.push(['spike_limit_percentage', 'applies only with limit_percentage; use spike_limit_mib with limit_mib']);
  }
  return problems;
}
