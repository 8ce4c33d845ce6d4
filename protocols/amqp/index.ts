/**
 * AMQP: the `ProtocolSpec` for AMQP 0-9-1 (RabbitMQ; port 5672 as a hint).
 * See {@link AmqpParser} for the fields it reports.
 */
import type { ProtocolSpec } from '../types';
import { AmqpParser, inferAmqp } from './parser';

/** The AMQP 0-9-1 protocol spec. */
export const spec: ProtocolSpec = {
  name: 'AMQP',
  transport: 'tcp',
  ports: [5672],
  infer: (data, dir) => inferAmqp(data, dir),
  create: (ctx) => new AmqpParser(ctx),
};

/** The parser and the helpers its tests and benchmarks use. */
export { AmqpParser, inferAmqp, replyStatus } from './parser';
