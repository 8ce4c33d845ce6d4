/**
 * The `prometheusremotewrite` exporter factory: metrics to a Prometheus
 * remote-write 1.0 endpoint, with queue and retry.
 */
import type { ExporterFactory } from '../../pipeline/component';
import { UnsupportedSignalError } from '../../pipeline/errors';
import { config, validate, type PrwExporterConfig } from './config';
import { PrometheusRemoteWriteExporter } from './exporter';

/** Factory of the `prometheusremotewrite` exporter. */
export const factory: ExporterFactory<PrwExporterConfig> = {
  kind: 'exporter',
  type: 'prometheusremotewrite',
  aliases: ['prometheus_remote_write'],
  description: 'Sends metrics to a Prometheus remote-write 1.0 endpoint (snappy protobuf), with queue and retry',
  config,
  validate,
  stability: { metrics: 'alpha' },
  create(settings, cfg, signals) {
    for (const s of signals) if (s !== 'metrics') throw new UnsupportedSignalError('exporter', 'prometheusremotewrite', s);
    return new PrometheusRemoteWriteExporter(cfg, settings);
  },
};
