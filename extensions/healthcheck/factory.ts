/**
 * The `health_check` extension, as the Collector's: an HTTP endpoint for
 * liveness and readiness probes. It answers 200 once every pipeline has
 * started and 503 before that and while shutting down, with the Collector's
 * JSON body (`status`, `upSince`, `uptime`).
 */
import http from 'node:http';
import type { Component, ExtensionFactory, PipelineWatcher } from '../../pipeline/component';
import { checkEndpoint, s, splitEndpoint, type Infer } from '../../pipeline/config/schema';
import { listen, serverPort } from '../../pipeline/net/http-server';

/** `extensions::health_check`. */
export const config = s
  .object({
    endpoint: s.string().default('localhost:13133').check(checkEndpoint).doc('where the probe endpoint listens'),
    path: s.string().default('/').check((p) => (p.startsWith('/') ? undefined : `must start with "/", got "${p}"`)),
    response_body: s.optional(s.object({ healthy: s.string().default(''), unhealthy: s.string().default('') })).doc('fixed bodies instead of the JSON status'),
    check_collector_pipeline: s.optional(s.any()).doc('accepted for compatibility (deprecated in the Collector); no effect'),
  })
  .withDefaults();

/** Parsed `health_check` config. */
export type HealthCheckConfig = Infer<typeof config>;

class HealthCheck implements Component, PipelineWatcher {
  private server: http.Server | undefined;
  private healthy = false;
  private since = new Date();

  constructor(private readonly cfg: HealthCheckConfig) {}

  ready(): void {
    this.healthy = true;
    this.since = new Date();
  }

  notReady(): void {
    this.healthy = false;
  }

  async start(): Promise<void> {
    const server = http.createServer((req, res) => {
      if ((req.url ?? '/').split('?')[0] !== this.cfg.path) {
        res.writeHead(404).end();
        return;
      }
      const body = this.cfg.response_body;
      if (body) {
        res.writeHead(this.healthy ? 200 : 503).end(this.healthy ? body.healthy : body.unhealthy);
        return;
      }
      const uptimeS = (Date.now() - this.since.getTime()) / 1000;
      res.writeHead(this.healthy ? 200 : 503, { 'content-type': 'application/json' }).end(
        JSON.stringify({ status: this.healthy ? 'Server available' : 'Server not available', upSince: this.since.toISOString(), uptime: `${uptimeS.toFixed(3)}s` }),
      );
    });
    const { host, port } = splitEndpoint(this.cfg.endpoint);
    await listen(server, port, host);
    this.server = server;
  }

  /** The bound port (after start). */
  get port(): number | undefined {
    return serverPort(this.server);
  }

  async shutdown(): Promise<void> {
    this.healthy = false;
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/** The health_check extension factory. */
export const factory: ExtensionFactory<HealthCheckConfig> = {
  kind: 'extension',
  type: 'health_check',
  description: 'HTTP liveness/readiness endpoint: 200 once the pipelines run, 503 otherwise',
  config,
  stability: 'beta',
  endpoints: (cfg) => [{ path: 'endpoint', endpoint: cfg.endpoint }],
  create: (_settings, cfg) => new HealthCheck(cfg),
};
