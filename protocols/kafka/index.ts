/**
 * Kafka: the `ProtocolSpec` for the Kafka wire protocol (TCP, port 9092 as a hint).
 * See {@link KafkaParser} for the fields it reports.
 */
import type { ProtocolSpec } from '../types';
import { inferKafka, KafkaParser } from './parser';

/** The Kafka protocol spec. */
export const spec: ProtocolSpec = {
  name: 'Kafka',
  transport: 'tcp',
  ports: [9092],
  infer: (data, dir) => inferKafka(data, dir),
  create: (ctx) => new KafkaParser(ctx),
};

/** The parser and the helpers its tests and benchmarks use. */
export { KafkaParser, inferKafka } from './parser';
