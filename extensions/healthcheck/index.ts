/** The `health_check` extension. */
export { factory } from './factory';
