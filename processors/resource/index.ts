/** The `resource` processor: attribute actions on resources. */
export { factory } from './factory';
export type { ResourceConfig } from './config';
