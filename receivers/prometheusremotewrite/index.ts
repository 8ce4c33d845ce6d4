/** The `prometheusremotewrite` receiver. */
export { factory, PrometheusRemoteWriteReceiver } from './factory';
