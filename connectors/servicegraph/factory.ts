/**
 * The `servicegraph` connector factory: traces in, service-graph edge
 * metrics out (the Collector's servicegraph connector, with zero-code
 * network-tuple pairing).
 */
import type { Consumer, ConnectorFactory } from '../../pipeline/component';
import { config, validate, type ServiceGraphConfig } from './config';
import { ServiceGraphConnector } from './servicegraph';

/** Factory of the `servicegraph` connector. */
export const factory: ConnectorFactory<ServiceGraphConfig> = {
  kind: 'connector',
  type: 'servicegraph',
  aliases: ['service_graph'],
  description: 'Edges between client and server services (span kinds, parent links, and the network tuple of zero-code spans) with requests, errors and durations',
  config,
  validate,
  stability: { traces_to_metrics: 'alpha' },
  create: (settings, cfg, _from, next) => new ServiceGraphConnector(cfg, settings, next.metrics as Consumer<'metrics'> | undefined),
};
