/** The `prometheusremotewrite` exporter. */
export { factory } from './factory';
