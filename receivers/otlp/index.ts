/** The `otlp` receiver. */
export { factory, OtlpReceiver } from './factory';
