/** The `batch` processor: groups items by size and time. */
export { factory } from './factory';
export type { BatchConfig } from './config';
