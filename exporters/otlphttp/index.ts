/** The `otlphttp` exporter. */
export { factory, signalUrl } from './factory';
