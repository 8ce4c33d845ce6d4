/** The `forward` connector. */
export { factory } from './factory';
