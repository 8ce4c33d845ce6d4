/** The `servicegraph` connector: service-graph edges from spans. */
export { factory } from './factory';
