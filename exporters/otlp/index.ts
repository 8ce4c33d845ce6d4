/** The `otlp` (gRPC) exporter. */
export { factory } from './factory';
