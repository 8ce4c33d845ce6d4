/**
 * The `query` extension: serves the query API (see app.ts) over the store of a
 * storage exporter, which it finds through the host by id (`storage`) or, by
 * default, as the one configured exporter that provides a store.
 */
import http from 'node:http';
import type { Component, ExtensionFactory, Host } from '../../pipeline/component';
import { splitEndpoint } from '../../pipeline/config/schema';
import { closeHttpServer, listen, serverPort } from '../../pipeline/net/http-server';
import { isStoreProvider, type SqlStore, type StoreProvider } from '../../pipeline/storage';
import { createApp } from './app';
import { config, type QueryConfig } from './config';

class QueryService implements Component {
  private server: http.Server | undefined;
  private provider: StoreProvider | undefined;
  private stopped = false;

  constructor(
    private readonly cfg: QueryConfig,
    private readonly settings: Parameters<ExtensionFactory['create']>[0],
  ) {}

  async start(host: Host): Promise<void> {
    this.provider = findProvider(host, this.cfg.storage);
    const app = createApp({
      store: (): SqlStore | undefined => this.provider?.store(),
      config: this.cfg,
      logger: this.settings.logger,
      telemetry: this.settings.telemetry,
    });
    const { host: address, port } = splitEndpoint(this.cfg.endpoint);
    const server = http.createServer(app);
    server.keepAliveTimeout = 65_000;
    await listen(server, port, address);
    this.server = server;
    this.settings.logger.info(`query service listening on ${this.cfg.endpoint}`);
  }

  /** The port the API listens on (after start). */
  get port(): number | undefined {
    return serverPort(this.server);
  }

  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const s = this.server;
    this.server = undefined;
    if (s) await closeHttpServer(s);
  }
}

function findProvider(host: Host, id: string | undefined): StoreProvider {
  if (id) {
    const c = host.getComponent('exporter', id);
    if (!c) throw new Error(`storage: exporter "${id}" is not configured`);
    if (!isStoreProvider(c)) throw new Error(`storage: exporter "${id}" has no store to query`);
    return c;
  }
  const providers = host
    .listComponents('exporter')
    .map((key) => host.getComponent('exporter', key))
    .filter((c): c is Component & StoreProvider => isStoreProvider(c));
  if (providers.length === 0) throw new Error('no exporter with a store is running; configure a clickhouse exporter in a pipeline');
  if (providers.length > 1) throw new Error('several exporters have a store; choose one with `storage: <exporter id>`');
  return providers[0];
}

/** The `query` extension factory. */
export const factory: ExtensionFactory<QueryConfig> = {
  kind: 'extension',
  type: 'query',
  description: 'The query service: SQL, Jaeger-compatible trace API and health over the ClickHouse store',
  config,
  stability: 'alpha',
  endpoints: (cfg) => [{ path: 'endpoint', endpoint: cfg.endpoint }],
  create: (settings, cfg) => new QueryService(cfg, settings),
};
