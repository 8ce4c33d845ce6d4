/**
 * The `prometheus` exporter factory: a Prometheus scrape endpoint for the
 * metrics of the pipelines it is named in.
 */
import type { ExporterFactory } from '../../pipeline/component';
import { UnsupportedSignalError } from '../../pipeline/errors';
import { config, validate, type PrometheusExporterConfig } from './config';
import { PrometheusExporter } from './exporter';

/** Factory of the `prometheus` exporter. */
export const factory: ExporterFactory<PrometheusExporterConfig> = {
  kind: 'exporter',
  type: 'prometheus',
  description: 'A Prometheus scrape endpoint (/metrics, 8889) with metric names per the OpenTelemetry-to-Prometheus rules',
  config,
  validate,
  stability: { metrics: 'alpha' },
  endpoints: (cfg) => [{ path: 'endpoint', endpoint: cfg.endpoint }],
  create(settings, cfg, signals) {
    for (const s of signals) if (s !== 'metrics') throw new UnsupportedSignalError('exporter', 'prometheus', s);
    return new PrometheusExporter(cfg, settings);
  },
};
