/**
 * Follows the cluster: one {@link Reflector} per kind the configured
 * attributes need, all feeding one {@link ClusterState}, with the
 * self-metrics that show how the connection is doing.
 *
 * Kinds are watched only when needed (fewer RBAC grants, less API load):
 * pods always; replicasets for k8s.deployment.* (a pod names its ReplicaSet,
 * the ReplicaSet its Deployment); jobs for k8s.cronjob.*; services and
 * endpointslices for k8s.service.name; nodes for k8s.node.* and node label
 * rules (and to name node addresses); namespaces for k8s.namespace.uid,
 * k8s.cluster.uid and namespace label rules. StatefulSets, DaemonSets,
 * Deployments and CronJobs need no watch of their own: their names and UIDs
 * are in the owner references of the pods, ReplicaSets and Jobs.
 */
import type { Logger } from '../../../pipeline/logger';
import type { ComponentTelemetry } from '../../../pipeline/telemetry';
import type { AutoTaggingConfig } from '../config';
import { compileGoRegExp } from '../../internal/goregex';
import { KubeClient, KubeConfigError } from './client';
import { K8sMetadata } from './metadata';
import { Reflector, type ReflectorEvents, type ResourceKind } from './reflector';
import { ClusterState, type FieldRule, type StoreResource } from './store';

const KINDS: Record<StoreResource, ResourceKind> = {
  pods: { resource: 'pods', prefix: '/api/v1', namespaced: true },
  services: { resource: 'services', prefix: '/api/v1', namespaced: true },
  endpointslices: { resource: 'endpointslices', prefix: '/apis/discovery.k8s.io/v1', namespaced: true },
  nodes: { resource: 'nodes', prefix: '/api/v1', namespaced: false },
  namespaces: { resource: 'namespaces', prefix: '/api/v1', namespaced: false },
  replicasets: { resource: 'replicasets', prefix: '/apis/apps/v1', namespaced: true },
  jobs: { resource: 'jobs', prefix: '/apis/batch/v1', namespaced: true },
};

/** The kinds a config needs watched. */
export function kindsFor(cfg: AutoTaggingConfig): StoreResource[] {
  const keys = new Set<string>([...cfg.extract.metadata, ...cfg.extract.end_metadata]);
  const rules = [...cfg.extract.labels, ...cfg.extract.annotations];
  const out: StoreResource[] = ['pods'];
  if (keys.has('k8s.deployment.name') || keys.has('k8s.deployment.uid')) out.push('replicasets');
  if (keys.has('k8s.cronjob.name') || keys.has('k8s.cronjob.uid')) out.push('jobs');
  if (keys.has('k8s.service.name')) out.push('services', 'endpointslices');
  if (keys.has('k8s.node.name') || keys.has('k8s.node.uid') || rules.some((r) => r.from === 'node')) out.push('nodes');
  if (keys.has('k8s.namespace.uid') || keys.has('k8s.cluster.uid') || rules.some((r) => r.from === 'namespace')) out.push('namespaces');
  return out;
}

/** Compiles the label and annotation rules (already validated). */
export function compileFieldRules(cfg: AutoTaggingConfig): FieldRule[] {
  const out: FieldRule[] = [];
  for (const kind of ['label', 'annotation'] as const) {
    for (const r of kind === 'label' ? cfg.extract.labels : cfg.extract.annotations) {
      let re: RegExp | undefined;
      if (r.key_regex !== undefined) {
        // Anchor to the whole key, after any leading flag group such as (?i).
        const flags = /^\(\?[a-zA-Z]+\)/.exec(r.key_regex)?.[0] ?? '';
        const c = compileGoRegExp(`${flags}^(?:${r.key_regex.slice(flags.length)})$`);
        if (c.ok) re = c.re;
        else continue;
      }
      out.push({ from: r.from, kind, key: r.key, re, tagName: r.tag_name });
    }
  }
  return out;
}

function selector(rules: AutoTaggingConfig['filter']['labels'], label: boolean): string[] {
  return rules.map((r) => {
    if (r.op === 'not-equals') return `${r.key}!=${r.value}`;
    if (label && r.op === 'exists') return r.key;
    if (label && r.op === 'does-not-exist') return `!${r.key}`;
    return `${r.key}=${r.value}`;
  });
}

/** The cluster state and the reflectors that keep it current. */
export class K8sWatcher {
  readonly state: ClusterState;
  readonly metadata: K8sMetadata;
  private readonly reflectors: Reflector[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  private wasUnreachable = false;

  constructor(
    private readonly cfg: AutoTaggingConfig,
    private readonly auth: 'serviceAccount' | 'kubeConfig' | 'none',
    private readonly telemetry: ComponentTelemetry,
    private readonly logger: Logger,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.state = new ClusterState({
      maxObjects: cfg.kubernetes.max_objects,
      podDeleteGraceMs: cfg.kubernetes.pod_delete_grace,
      rules: compileFieldRules(cfg),
      onDropped: (resource) => {
        telemetry.counter('metaflow_autotagging_k8s_objects_dropped_total', 'Kubernetes objects not kept because kubernetes::max_objects was reached.', 1, { resource });
        logger.every(`k8s-full-${resource}`, 60_000, 'warn', 'Kubernetes objects not kept: kubernetes::max_objects reached', { resource });
      },
    });
    this.metadata = new K8sMetadata(this.state, cfg.extract.metadata, cfg.extract.otel_annotations, cfg.extract.end_metadata);
    telemetry.gauge('metaflow_autotagging_k8s_unreachable', '1 while the Kubernetes API server cannot be reached and tagging uses the last known state, else 0.', () => (this.unreachable ? 1 : 0));
    const sizes: Record<StoreResource, () => number> = {
      pods: () => this.state.podsByKey.size,
      services: () => this.state.services.size,
      endpointslices: () => this.state.slices.size,
      nodes: () => this.state.nodes.size,
      namespaces: () => this.state.namespaces.size,
      replicasets: () => this.state.replicaSets.size,
      jobs: () => this.state.jobs.size,
    };
    for (const r of kindsFor(cfg)) telemetry.gauge('metaflow_autotagging_k8s_objects', 'Kubernetes objects kept, by resource.', sizes[r], { resource: r });
  }

  /** Whether any watched kind's last request went unanswered. */
  get unreachable(): boolean {
    return this.reflectors.some((r) => !r.reachable);
  }

  /** Whether every watched kind has been listed once. */
  get synced(): boolean {
    return this.reflectors.length > 0 && this.reflectors.every((r) => r.hasSynced);
  }

  /**
   * Connects and starts every reflector. With wait_for_metadata, resolves
   * only after the first lists (rejects after wait_for_metadata_timeout);
   * otherwise at once, tagging what is known as it arrives.
   */
  async start(): Promise<void> {
    const cfg = this.cfg;
    let node = cfg.filter.node;
    if (cfg.filter.node_from_env_var) {
      node = this.env[cfg.filter.node_from_env_var];
      if (!node) throw new KubeConfigError(`filter::node_from_env_var: environment variable ${cfg.filter.node_from_env_var} is not set`);
    }
    const client = await KubeClient.create(cfg, this.auth, this.env);
    const podFields = selector(cfg.filter.fields, false);
    if (node) podFields.push(`spec.nodeName=${node}`);
    const podLabels = selector(cfg.filter.labels, true);
    const events: ReflectorEvents = {
      error: (resource, op, type) => {
        this.telemetry.counter('metaflow_autotagging_k8s_errors_total', 'Failed Kubernetes list and watch requests, by resource, operation and bounded error type.', 1, { resource, op, type });
        this.logger.every(`k8s-error-${resource}-${op}`, 30_000, 'warn', 'Kubernetes request failed; retrying', { resource, op, type });
      },
      relist: (resource, reason) => this.telemetry.counter('metaflow_autotagging_k8s_relists_total', 'Lists after the first, by resource and reason (gone: 410, error: a failed list retried).', 1, { resource, reason }),
      event: (resource, type) => this.telemetry.counter('metaflow_autotagging_k8s_events_total', 'Watch events applied, by resource and type.', 1, { resource, type }),
      reachability: () => {
        const now = this.unreachable;
        if (now === this.wasUnreachable) return;
        this.wasUnreachable = now;
        if (now) this.logger.warn('Kubernetes API server unreachable; tagging continues from the last known state', { server: client.server });
        else this.logger.info('Kubernetes API server reachable again', { server: client.server });
      },
    };
    const k = cfg.kubernetes;
    for (const resource of kindsFor(cfg)) {
      const kind = KINDS[resource];
      const isPods = resource === 'pods';
      this.reflectors.push(
        new Reflector(
          client,
          kind,
          this.state.sink(resource),
          {
            namespace: kind.namespaced ? cfg.filter.namespace : undefined,
            fieldSelector: isPods && podFields.length ? podFields.join(',') : resource === 'namespaces' && cfg.filter.namespace ? `metadata.name=${cfg.filter.namespace}` : undefined,
            labelSelector: isPods && podLabels.length ? podLabels.join(',') : undefined,
            pageSize: k.page_size,
            requestTimeoutMs: k.request_timeout,
            watchTimeoutMs: k.watch_timeout,
            idleTimeoutMs: k.idle_timeout,
            retryInitialMs: k.retry.initial_interval,
            retryMaxMs: k.retry.max_interval,
          },
          events,
        ),
      );
    }
    for (const r of this.reflectors) r.start();
    const grace = k.pod_delete_grace;
    if (grace > 0) {
      this.sweepTimer = setInterval(() => this.state.sweep(), Math.max(50, Math.min(grace / 2, 5000)));
      this.sweepTimer.unref();
    }
    if (cfg.wait_for_metadata) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), cfg.wait_for_metadata_timeout)));
      const ok = await Promise.race([Promise.all(this.reflectors.map((r) => r.synced)).then(() => true), timeout]);
      clearTimeout(timer);
      if (!ok) {
        const missing = this.reflectors.filter((r) => !r.hasSynced).map((r) => r.kind.resource);
        await this.stop();
        throw new KubeConfigError(`Kubernetes metadata not listed within wait_for_metadata_timeout (${cfg.wait_for_metadata_timeout}ms): ${missing.join(', ')}`);
      }
    }
  }

  /** Stops every reflector. Safe to call repeatedly. */
  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    await Promise.all(this.reflectors.map((r) => r.stop()));
  }
}
