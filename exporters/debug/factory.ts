/**
 * The `debug` exporter: writes what it receives to the log, for trying out
 * pipelines. Output is sampled like the Collector's: the first
 * `sampling_initial` items each second, then every `sampling_thereafter`-th.
 */
import type { Consumer, Consumers, Exporter, ExporterFactory } from '../../pipeline/component';
import { countItems, type Signal, type SignalData } from '../../pipeline/pdata';
import { config, type DebugConfig } from './config';
import { items, summary } from './format';

/** The debug exporter factory. */
export const factory: ExporterFactory<DebugConfig> = {
  kind: 'exporter',
  type: 'debug',
  description: 'Writes received data to the log (basic, normal or detailed)',
  config,
  stability: { traces: 'development', metrics: 'development', logs: 'development' },
  create(settings, cfg, signals): Exporter {
    let second = 0;
    let seen = 0;
    const sampled = () => {
      const now = Math.floor(Date.now() / 1000);
      if (now !== second) {
        second = now;
        seen = 0;
      }
      seen++;
      return seen <= cfg.sampling_initial || (seen - cfg.sampling_initial) % cfg.sampling_thereafter === 0;
    };
    const consumers: Consumers = {};
    for (const signal of signals) {
      const consumer: Consumer = {
        async consume(data: SignalData[Signal]) {
          settings.logger.info(summary(signal, data));
          if (cfg.verbosity !== 'basic') {
            for (const line of items(signal, data, cfg.verbosity === 'detailed')) if (sampled()) settings.logger.info(line);
          }
          settings.telemetry.sent(signal, countItems(signal, data));
        },
      };
      (consumers as Record<Signal, Consumer>)[signal] = consumer;
    }
    return { consumers, start: async () => undefined, shutdown: async () => undefined };
  },
};
