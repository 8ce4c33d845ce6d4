/** The `attributes` processor: attribute actions on spans, log records and data points. */
export { factory } from './factory';
export type { AttributesConfig } from './config';
