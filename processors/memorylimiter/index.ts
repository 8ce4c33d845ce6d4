/** The `memory_limiter` processor: refuses data while memory is high. */
export { factory, newFactory } from './factory';
export type { MemoryLimiterConfig } from './config';
export type { MemorySource } from './memorylimiter';
