/**
 * Signal-generic access to the resource groups of a batch, for processors
 * that treat every signal the same at the resource level.
 */
import type { Logs, Metrics, Resource, Signal, SignalData, Traces } from '../../pipeline/pdata';

/** The resource of every resource group in `data`, in order. */
export function resourcesOf<S extends Signal>(signal: S, data: SignalData[S]): Resource[] {
  switch (signal) {
    case 'traces':
      return (data as Traces).resourceSpans.map((g) => g.resource);
    case 'metrics':
      return (data as Metrics).resourceMetrics.map((g) => g.resource);
    default:
      return (data as Logs).resourceLogs.map((g) => g.resource);
  }
}
