/**
 * The `clickhouse` exporter factory: plain data (STYLE rule 2). Traces and
 * logs are beta (contrib-compatible rows, tested field by field against the
 * real engine); metrics are alpha (all five types stored, but exemplar and
 * bucket layouts still follow contrib choices we may revisit).
 */
import type { ExporterFactory } from '../../pipeline/component';
import { configSchema, resolve, validate, type Config } from './config';
import { ClickHouseExporter, checkEmbeddedDataDir } from './exporter';

/** Factory of the `clickhouse` exporter. */
export const factory: ExporterFactory<Config> = {
  type: 'clickhouse',
  kind: 'exporter',
  description: 'Stores traces, metrics and logs in ClickHouse: embedded chDB by default, a ClickHouse server when endpoint is set',
  stability: { traces: 'beta', metrics: 'alpha', logs: 'beta' },
  config: configSchema,
  validate,
  create(settings, cfg, signals) {
    const resolved = resolve(cfg);
    // chDB opens one data folder per process: fail at build time when another is already open.
    checkEmbeddedDataDir(settings, resolved);
    return new ClickHouseExporter(settings, resolved, signals);
  },
};
