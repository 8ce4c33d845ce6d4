/**
 * Dubbo: the `ProtocolSpec` for the dubbo2 TCP protocol (port 20880 as a hint).
 * See {@link DubboParser} for the fields it reports.
 */
import type { ProtocolSpec } from '../types';
import { DubboParser, inferDubbo } from './parser';

/** The Dubbo protocol spec. */
export const spec: ProtocolSpec = {
  name: 'Dubbo',
  transport: 'tcp',
  ports: [20880],
  infer: (data) => inferDubbo(data),
  create: (ctx) => new DubboParser(ctx),
};

/** The parser and the helpers its tests and benchmarks use. */
export { DubboParser, dubboStatus, inferDubbo } from './parser';
