/** The `redmetrics` connector (spanmetrics): RED metrics from spans. */
export { factory } from './factory';
