/**
 * The `clickhouse` exporter. Other code reaches its store through the
 * pipeline (`host.getComponent` + `isStoreProvider`), never by importing
 * this folder; only the generated registry imports `factory`.
 */
export { factory } from './factory';
