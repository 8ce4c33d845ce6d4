/** The `autotagging` processor: host, process, Kubernetes and custom tags on every signal. */
export { factory } from './factory';
export type { AutoTaggingConfig } from './config';
