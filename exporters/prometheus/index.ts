/** The `prometheus` exporter: a scrape endpoint. */
export { factory } from './factory';
