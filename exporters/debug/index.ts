/** The `debug` exporter. */
export { factory } from './factory';
