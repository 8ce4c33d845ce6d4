/**
 * The connection to the Kubernetes API server.
 *
 * `@kubernetes/client-node` supplies what is hard to get right: loading the
 * in-cluster service account or a kubeconfig (contexts, exec and OIDC
 * plugins, client certificates, rotating token files) and turning it into
 * request options (`applyToHTTPSOptions`, called per request so rotated
 * tokens are picked up). The list and watch requests themselves are plain
 * `node:http(s)` requests made by the reflector: the library's watch has no
 * timeout for a server that accepts the connection and never answers, and
 * its informer stops on the first error that is not a 410; both are
 * behaviours the tagger must survive.
 *
 * The library is an ES module and is loaded with a dynamic `import()` the
 * first time Kubernetes tagging starts, so a config without Kubernetes never
 * loads it. The import goes through `new Function` because the TypeScript
 * and Jest CommonJS transforms would otherwise turn it into a `require()`,
 * which cannot load an ES module here.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { pathToFileURL } from 'node:url';
import { MetaflowError } from '../../../pipeline/errors';
import type { AutoTaggingConfig } from '../config';

/** The part of the library's KubeConfig the client uses. */
interface KubeConfigLike {
  loadFromCluster(): void;
  loadFromFile(file: string): void;
  loadFromDefault(): void;
  loadFromClusterAndUser(cluster: Record<string, unknown>, user: Record<string, unknown>): void;
  setCurrentContext(name: string): void;
  getCurrentCluster(): { name: string; server: string; skipTLSVerify?: boolean; caFile?: string; caData?: string; tlsServerName?: string } | null;
  getCurrentUser(): Record<string, unknown> | null;
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

interface ClientNodeModule {
  KubeConfig: new () => KubeConfigLike;
}

const dynamicImport = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;
let loaded: Promise<ClientNodeModule> | undefined;

/** Loads `@kubernetes/client-node` once, on first use. */
function loadLibrary(): Promise<ClientNodeModule> {
  loaded ??= dynamicImport(pathToFileURL(require.resolve('@kubernetes/client-node')).href) as Promise<ClientNodeModule>;
  return loaded;
}

/** Where Kubernetes mounts a pod's service account token. */
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** The Kubernetes API connection could not be configured (no in-cluster environment, unreadable kubeconfig, …). */
export class KubeConfigError extends MetaflowError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('K8S_CONFIG', message, options);
  }
}

/** The auth mode in effect, or undefined when Kubernetes tagging is off (see `auth_type`'s documentation). */
export function effectiveAuthType(cfg: AutoTaggingConfig, env: NodeJS.ProcessEnv = process.env): 'serviceAccount' | 'kubeConfig' | 'none' | undefined {
  if (!cfg.kubernetes.enabled) return undefined;
  if (cfg.auth_type) return cfg.auth_type;
  if (cfg.kubernetes.api_server) return 'none';
  if (env.KUBERNETES_SERVICE_HOST) return 'serviceAccount';
  return undefined;
}

/** Issues requests to one API server with the configured credentials. */
export class KubeClient {
  private constructor(
    private readonly kc: KubeConfigLike,
    /** Base URL of the API server, without a trailing slash. */
    readonly server: string,
  ) {}

  /** Builds the client for `auth`; throws a KubeConfigError when the credentials cannot be loaded. */
  static async create(cfg: AutoTaggingConfig, auth: 'serviceAccount' | 'kubeConfig' | 'none', env: NodeJS.ProcessEnv = process.env): Promise<KubeClient> {
    const lib = await loadLibrary();
    const kc = new lib.KubeConfig();
    const k = cfg.kubernetes;
    try {
      if (auth === 'serviceAccount') {
        // The library would build an https://undefined URL and fail later, request by request.
        if (!env.KUBERNETES_SERVICE_HOST || !env.KUBERNETES_SERVICE_PORT) throw new Error('not running in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set');
        if (!fs.existsSync(SERVICE_ACCOUNT_TOKEN)) throw new Error(`no service account token at ${SERVICE_ACCOUNT_TOKEN}`);
        kc.loadFromCluster();
      }
      else if (auth === 'kubeConfig') {
        if (cfg.kube_config_path) kc.loadFromFile(cfg.kube_config_path);
        else kc.loadFromDefault();
        if (cfg.context) kc.setCurrentContext(cfg.context);
      }
    } catch (err) {
      throw new KubeConfigError(`cannot load Kubernetes credentials (${auth}): ${(err as Error).message}`, { cause: err });
    }
    if (auth === 'none' || k.api_server) {
      const base = auth === 'none' ? undefined : kc.getCurrentCluster();
      const server = k.api_server ?? base?.server;
      if (!server) throw new KubeConfigError('no API server: set kubernetes::api_server');
      const user: Record<string, unknown> = auth === 'none' ? { name: 'metaflow' } : { ...(kc.getCurrentUser() ?? { name: 'metaflow' }) };
      if (k.token) user.token = k.token;
      // TLS verification means nothing on plain http; the library refuses http:// unless told to skip it.
      const skip = k.insecure_skip_verify || server.startsWith('http:') || base?.skipTLSVerify === true;
      kc.loadFromClusterAndUser({ ...(base ?? {}), name: base?.name ?? 'metaflow', server, skipTLSVerify: skip }, user);
    } else if (k.insecure_skip_verify) {
      const base = kc.getCurrentCluster();
      if (base) kc.loadFromClusterAndUser({ ...base, skipTLSVerify: true }, { ...(kc.getCurrentUser() ?? { name: 'metaflow' }) });
    }
    const cluster = kc.getCurrentCluster();
    if (!cluster?.server) throw new KubeConfigError(`no API server in the ${auth} configuration`);
    return new KubeClient(kc, cluster.server.replace(/\/+$/, ''));
  }

  /**
   * Starts a GET of `path` with `query`; resolves with the response once its
   * headers arrive, rejects when the connection fails or `timeoutMs` passes
   * first or `signal` aborts. `req.destroy()` on the returned request ends it.
   */
  async get(path: string, query: Record<string, string>, timeoutMs: number, signal?: AbortSignal): Promise<{ req: http.ClientRequest; res: http.IncomingMessage }> {
    const url = new URL(this.server + path);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    const opts: https.RequestOptions = { method: 'GET', headers: { Accept: 'application/json' } };
    await this.kc.applyToHTTPSOptions(opts);
    if (signal) opts.signal = signal;
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, opts);
      const timer = setTimeout(() => req.destroy(new Error(`no response within ${timeoutMs}ms`)), timeoutMs);
      req.once('response', (res) => {
        clearTimeout(timer);
        resolve({ req, res });
      });
      req.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end();
    });
  }
}
