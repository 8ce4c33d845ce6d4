/**
 * The cluster state and the attributes built from it, fed the recorded
 * objects directly (no server): delete grace with a controlled clock, IP
 * reuse, limits, owner fallbacks, label and annotation rules, association
 * rules.
 */
import fs from 'node:fs';
import path from 'node:path';
import { configSchema, DEFAULT_ASSOCIATIONS } from '../config';
import { K8sMetadata, splitImage } from './metadata';
import type { KObject } from './objects';
import { ClusterState, type StoreResource } from './store';
import { compileFieldRules, kindsFor } from './watcher';

type Obj = KObject & Record<string, unknown> & { metadata: Record<string, unknown> };
const cluster = JSON.parse(fs.readFileSync(path.join(__dirname, '../testdata/k8s/cluster.json'), 'utf8')) as Obj[];
const RESOURCE: Record<string, StoreResource> = {
  Pod: 'pods',
  ReplicaSet: 'replicasets',
  Job: 'jobs',
  Service: 'services',
  EndpointSlice: 'endpointslices',
  Node: 'nodes',
  Namespace: 'namespaces',
};
const get = (kind: string, name: string) => structuredClone(cluster.find((o) => o.kind === kind && o.metadata.name === name)!);

function setup(raw: unknown = {}, opts: { grace?: number; max?: number } = {}) {
  const cfg = configSchema.parseOrThrow(raw);
  let now = 1_000_000;
  const dropped: string[] = [];
  const state = new ClusterState({ maxObjects: opts.max ?? 1000, podDeleteGraceMs: opts.grace ?? 0, rules: compileFieldRules(cfg), onDropped: (r) => dropped.push(r), now: () => now });
  for (const [kind, resource] of Object.entries(RESOURCE)) state.sink(resource).replace(cluster.filter((o) => o.kind === kind));
  const md = new K8sMetadata(state, cfg.extract.metadata, cfg.extract.otel_annotations);
  const attrs = (flat: unknown[]) => Object.fromEntries(Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]]));
  const podAt = (ip: string) => state.podByIp.get(ip)?.name;
  return { cfg, state, md, attrs, podAt, dropped, tick: (ms: number) => (now += ms) };
}

describe('autotagging: cluster state', () => {
  it('keeps a deleted pod for the grace period (late spans), unless another pod takes its IP', () => {
    const { state, podAt, tick } = setup({}, { grace: 60_000 });
    const pods = state.sink('pods');
    pods.remove(get('Pod', 'redis-0'));
    expect(podAt('10.244.1.11')).toBe('redis-0');
    tick(59_000);
    state.sweep();
    expect(podAt('10.244.1.11')).toBe('redis-0');
    tick(2_000);
    state.sweep();
    expect(podAt('10.244.1.11')).toBeUndefined();
    expect(state.podsByUid.has('e5f6a7b8-c9d0-4e1f-8a2b-4c5d6e7f8091')).toBe(false);
    // IP reuse within the grace period: the new pod wins at once, and the old one's expiry does not remove it.
    pods.remove(get('Pod', 'report-28596420-9xk4m'));
    const newcomer = get('Pod', 'redis-0');
    newcomer.metadata.name = 'redis-1';
    newcomer.metadata.uid = 'uid-redis-1';
    (newcomer.status as { podIP: string; podIPs: unknown[] }).podIP = '10.244.1.12';
    (newcomer.status as { podIPs: unknown[] }).podIPs = [{ ip: '10.244.1.12' }];
    pods.upsert(newcomer);
    expect(podAt('10.244.1.12')).toBe('redis-1');
    tick(120_000);
    state.sweep();
    expect(podAt('10.244.1.12')).toBe('redis-1');
    expect(state.deletedPods).toBe(0);
  });

  it('does not index host-network or finished pods by IP; keeps at most max_objects per kind, counting the rest', () => {
    const { state, podAt, dropped } = setup({}, { max: 4 });
    expect(podAt('192.168.49.2')).toBeUndefined();
    expect(state.nodeByIp.get('192.168.49.2')?.name).toBe('node-a');
    const done = get('Pod', 'report-28596420-9xk4m');
    (done.status as { phase: string }).phase = 'Succeeded';
    state.sink('pods').upsert(done);
    expect(podAt('10.244.1.12')).toBeUndefined();
    expect(state.podsByKey.has('shop/report-28596420-9xk4m')).toBe(true);
    const extra = get('Pod', 'redis-0');
    extra.metadata.name = 'redis-9';
    extra.metadata.uid = 'uid-9';
    state.sink('pods').upsert(extra);
    expect(state.podsByKey.has('shop/redis-9')).toBe(false);
    expect(dropped).toEqual(['pods']);
  });

  it('a relist (replace) removes what is gone and keeps what is still there', () => {
    const { state, podAt } = setup();
    const before = state.generation;
    state.sink('pods').replace(cluster.filter((o) => o.kind === 'Pod' && o.metadata.name !== 'redis-0'));
    expect(podAt('10.244.1.11')).toBeUndefined();
    expect(podAt('10.244.1.10')).toBe('checkout-6d4b8c7f9-x7k2p');
    expect(state.generation).toBeGreaterThan(before);
    state.sink('services').replace([]);
    expect(state.serviceByIp.size).toBe(0);
  });
});

describe('autotagging: Kubernetes attributes', () => {
  it('falls back to the pod-template-hash for the Deployment when the ReplicaSet is unknown', () => {
    const { state, md, attrs } = setup({ extract: { metadata: ['k8s.deployment.name', 'k8s.deployment.uid', 'k8s.replicaset.name'] } });
    state.sink('replicasets').replace([]);
    const pod = state.podByIp.get('10.244.1.10')!;
    expect(attrs(md.podAttributes(pod, undefined))).toEqual({ 'k8s.deployment.name': 'checkout', 'k8s.replicaset.name': 'checkout-6d4b8c7f9' });
  });

  it('labels and annotations by key and key_regex, from pod, namespace and node; otel annotations', () => {
    const { state, md, attrs } = setup({
      extract: {
        metadata: ['k8s.pod.name'],
        labels: [{ key_regex: 'app\\.kubernetes\\.io/(.+)', tag_name: 'app.$1' }, { key: 'team', from: 'namespace' }, { key: 'kubernetes.io/arch', from: 'node', tag_name: 'host.arch' }, { key: 'absent' }],
        annotations: [{ key_regex: 'sidecar\\.istio\\.io/(status|inject)' }],
        otel_annotations: true,
      },
    });
    const pod = get('Pod', 'redis-0');
    (pod.metadata.annotations as Record<string, string>) = { 'resource.opentelemetry.io/service.name': 'sessions', 'resource.opentelemetry.io/service.version': '7' };
    state.sink('pods').upsert(pod);
    expect(attrs(md.podAttributes(state.podByIp.get('10.244.1.10')!, undefined))).toEqual({
      'k8s.pod.name': 'checkout-6d4b8c7f9-x7k2p',
      'app.version': '1.4.2',
      'k8s.pod.annotation.sidecar.istio.io/status': '{"initContainers":["istio-init"],"containers":["istio-proxy"]}',
      'k8s.namespace.label.team': 'payments',
      'host.arch': 'amd64',
    });
    const redis = state.podByIp.get('10.244.1.11')!;
    expect(attrs(md.podAttributes(redis, undefined))).toMatchObject({ 'service.name': 'sessions', 'service.version': '7' });
    expect(md.serviceName(redis)).toBe('sessions');
  });

  it('association: every source of a rule must agree; k8s.namespace.name narrows; the cgroup hints come last', () => {
    const { md } = setup();
    const name = (a: Record<string, unknown>, hints?: { containerId: string; podUid: string }) => md.associate(a as never, DEFAULT_ASSOCIATIONS, hints)?.pod.name;
    expect(name({ 'k8s.pod.name': 'redis-0', 'k8s.namespace.name': 'shop' })).toBe('redis-0');
    expect(name({ 'k8s.pod.name': 'redis-0', 'k8s.namespace.name': 'other' })).toBeUndefined();
    expect(name({ 'host.ip': ['10.9.9.9', '10.244.1.11'] })).toBe('redis-0');
    expect(name({ 'k8s.pod.ip': '::ffff:10.244.1.11' })).toBe('redis-0');
    const strict = [{ sources: [{ from: 'resource_attribute' as const, name: 'k8s.pod.ip' }, { from: 'resource_attribute' as const, name: 'k8s.pod.uid' }] }];
    expect(md.associate({ 'k8s.pod.ip': '10.244.1.11', 'k8s.pod.uid': 'c3d4e5f6-a7b8-4c9d-8e0f-2a3b4c5d6e7f' }, strict, undefined)).toBeUndefined();
    expect(name({}, { containerId: '', podUid: 'b8c9d0e1-f2a3-4b4c-9d5e-7f8091021324' })).toBe('report-28596420-9xk4m');
    expect(name({}, { containerId: 'nope', podUid: '' })).toBeUndefined();
  });

  it('watches only the kinds the attributes need', () => {
    expect(kindsFor(configSchema.parseOrThrow({ extract: { metadata: ['k8s.pod.name'], end_metadata: [] } }))).toEqual(['pods']);
    expect(kindsFor(configSchema.parseOrThrow({}))).toEqual(['pods', 'replicasets', 'jobs', 'services', 'endpointslices', 'nodes']);
    expect(kindsFor(configSchema.parseOrThrow({ extract: { metadata: ['k8s.cluster.uid'], end_metadata: [], labels: [{ key: 'x', from: 'node' }] } }))).toEqual(['pods', 'nodes', 'namespaces']);
  });

  it('splits image references into name and tag', () => {
    expect(splitImage('registry.example.com:5000/shop/checkout:1.4.2')).toEqual({ name: 'registry.example.com:5000/shop/checkout', tag: '1.4.2' });
    expect(splitImage('redis')).toEqual({ name: 'redis', tag: 'latest' });
    expect(splitImage('quay.io/app@sha256:abc')).toEqual({ name: 'quay.io/app', tag: '' });
    expect(splitImage('quay.io/app:2@sha256:abc')).toEqual({ name: 'quay.io/app', tag: '2' });
  });
});
