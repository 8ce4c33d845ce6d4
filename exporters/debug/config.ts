/** Config of the `debug` exporter, with the Collector's keys. */
import { s, type Infer } from '../../pipeline/config/schema';

/** `exporters::debug`. */
export const config = s
  .object({
    verbosity: s.enum(['basic', 'normal', 'detailed'] as const).default('basic').doc('basic: a count per batch; normal: a line per item; detailed: every field'),
    sampling_initial: s.int().min(0).default(2).doc('items logged per second before sampling starts'),
    sampling_thereafter: s.int().min(1).default(1).doc('then every Nth item per second'),
    use_internal_logger: s.boolean().default(true).doc('accepted for compatibility; output goes to stderr either way'),
  })
  .withDefaults();

/** Parsed `debug` config. */
export type DebugConfig = Infer<typeof config>;
