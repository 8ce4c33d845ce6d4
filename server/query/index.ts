/** The `query` extension (the query service). */
export { factory } from './factory';
