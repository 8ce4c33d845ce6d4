/**
 * MongoDB: the `ProtocolSpec` for the MongoDB wire protocol (port 27017 as a hint).
 * See {@link MongoParser} for the fields it reports.
 */
import type { ProtocolSpec } from '../types';
import { inferMongo, MongoParser } from './parser';

/** The MongoDB protocol spec. */
export const spec: ProtocolSpec = {
  name: 'MongoDB',
  transport: 'tcp',
  ports: [27017],
  infer: (data, dir) => inferMongo(data, dir),
  create: (ctx) => new MongoParser(ctx),
};

/** The parser and the helpers its tests and benchmarks use. */
export { MongoParser, inferMongo, mongoStatus } from './parser';
