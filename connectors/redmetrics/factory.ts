/**
 * The `redmetrics` connector factory (also `spanmetrics` and `span_metrics`,
 * so a Collector spanmetrics config works): traces in, RED metrics out.
 */
import type { Consumer, ConnectorFactory } from '../../pipeline/component';
import { config, validate, type RedConfig } from './config';
import { RedMetricsConnector } from './redmetrics';

/** Factory of the `redmetrics` connector. */
export const factory: ConnectorFactory<RedConfig> = {
  kind: 'connector',
  type: 'redmetrics',
  aliases: ['spanmetrics', 'span_metrics'],
  description:
    'RED metrics from spans (app and zero-code): requests, errors and a duration histogram per service, endpoint, span kind, status and L7 protocol, at 1 s and 1 min',
  config,
  validate,
  stability: { traces_to_metrics: 'alpha' },
  create: (settings, cfg, _from, next) => new RedMetricsConnector(cfg, settings, next.metrics as Consumer<'metrics'> | undefined),
};
