/**
 * Kubernetes tagging against an API server on loopback that speaks the real
 * REST shapes (test/helpers/k8s-api.ts) and starts from recorded objects
 * (processors/autotagging/testdata/k8s/cluster.json). Each phase changes the
 * cluster the way Kubernetes does — pods appearing, getting and changing
 * IPs, being deleted, a Deployment rolled — or breaks the connection the way
 * real ones break (BOOKMARK then a dropped watch, a 410 Gone that forces a
 * relist, an API server restart, a server that stops answering), and checks
 * the tags spans get in that phase.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { setClientInfo } from '../pipeline/clientinfo';
import type { ExporterFactory } from '../pipeline/component';
import { s } from '../pipeline/config/schema';
import type { Attributes, Traces } from '../pipeline/pdata';
import { Registry } from '../pipeline/registry';
import { Service } from '../pipeline/service';
import { span, traces } from '../processors/internal/testing';
import { factory as autotagging } from '../processors/autotagging';
import { ContainerizedProcess, canMakeCgroups, eventually, startProcessor, tagSpans, zeroCodeSpan, type Harness } from '../processors/autotagging/testing';
import { factory as otlpReceiver } from '../receivers/otlp';
import { FakeKubeApi, type KubeObject } from './helpers/k8s-api';
import { freePort } from './helpers/ports';

const cluster = JSON.parse(fs.readFileSync(path.join(__dirname, '../processors/autotagging/testdata/k8s/cluster.json'), 'utf8')) as KubeObject[];
const find = (kind: string, name: string) => structuredClone(cluster.find((o) => o.kind === kind && o.metadata.name === name)!);

const CHECKOUT_POD = 'checkout-6d4b8c7f9-x7k2p';
const CHECKOUT_CONTAINER = '3f1c2a9b7e4d5c6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f';
const TOKEN = 'test-token-6f1d';

/** A pod of a ReplicaSet, derived from the recorded checkout pod. */
function podOf(rs: string, name: string, ip: string | undefined, containerId: string): KubeObject {
  const p = find('Pod', CHECKOUT_POD) as KubeObject & { metadata: Record<string, unknown>; status: Record<string, unknown> };
  p.metadata.name = name;
  delete p.metadata.uid;
  const hash = rs.slice(rs.lastIndexOf('-') + 1);
  p.metadata.labels = { ...(p.metadata.labels as Record<string, string>), 'pod-template-hash': hash };
  p.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs, uid: `uid-${rs}`, controller: true, blockOwnerDeletion: true }];
  const status = p.status as { podIP?: string; podIPs?: Array<{ ip: string }>; phase: string; containerStatuses: Array<{ containerID: string }> };
  if (ip) {
    status.podIP = ip;
    status.podIPs = [{ ip }];
  } else {
    // Pending: scheduled, no sandbox yet, so no IP and no container ids.
    delete status.podIP;
    delete status.podIPs;
    status.phase = 'Pending';
    status.containerStatuses = [];
  }
  if (ip) status.containerStatuses[0].containerID = `containerd://${containerId}`;
  return p;
}

function replicaSetOf(deployment: string, name: string, depUid: string): KubeObject {
  const rs = find('ReplicaSet', 'checkout-6d4b8c7f9') as KubeObject & { metadata: Record<string, unknown> };
  rs.metadata.name = name;
  rs.metadata.uid = `uid-${name}`;
  rs.metadata.labels = { app: deployment, 'pod-template-hash': name.slice(name.lastIndexOf('-') + 1) };
  rs.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment, uid: depUid, controller: true, blockOwnerDeletion: true }];
  return rs;
}

describe('autotagging with Kubernetes (API server on loopback with recorded objects)', () => {
  let api: FakeKubeApi;
  let h: Harness<'traces'>;
  let jail: ContainerizedProcess | undefined;

  /** Every fact, on resources and on ends, so each can be checked. */
  const METADATA = [
    'k8s.namespace.name',
    'k8s.namespace.uid',
    'k8s.pod.name',
    'k8s.pod.uid',
    'k8s.node.name',
    'k8s.node.uid',
    'k8s.replicaset.name',
    'k8s.deployment.name',
    'k8s.deployment.uid',
    'k8s.statefulset.name',
    'k8s.daemonset.name',
    'k8s.job.name',
    'k8s.cronjob.name',
    'k8s.cronjob.uid',
    'k8s.container.name',
    'container.id',
    'container.image.name',
    'container.image.tag',
    'k8s.cluster.uid',
    'k8s.service.name',
  ];

  const config = () => ({
    detectors: [],
    kubernetes: {
      api_server: api.url,
      token: TOKEN,
      request_timeout: '1500ms',
      idle_timeout: '1500ms',
      watch_timeout: '60s',
      retry: { initial_interval: '50ms', max_interval: '300ms' },
      page_size: 3,
      pod_delete_grace: '0s',
    },
    wait_for_metadata: true,
    extract: {
      end_metadata: METADATA,
      metadata: METADATA,
      labels: [{ key: 'app.kubernetes.io/version', tag_name: 'service.version' }, { key: 'team', from: 'namespace' }, { key_regex: 'topology\\.kubernetes\\.io/(.*)', tag_name: 'topology.$1', from: 'node' }],
      annotations: [{ key: 'kubectl.kubernetes.io/default-container' }],
    },
  });

  /** The span attributes and resource attributes of one tagged span. */
  async function tag(clientIp: string, serverIp: string, resource: Attributes = {}, extra: Attributes = {}): Promise<{ span: Attributes; resource: Attributes }> {
    const out = await tagSpans(h, resource, [zeroCodeSpan(clientIp, serverIp, extra)]);
    return { span: out.resourceSpans[0].scopeSpans[0].spans[0].attributes, resource: out.resourceSpans[0].resource.attributes };
  }
  const serverPod = async (ip: string) => (await tag('10.0.0.99', ip)).span['metaflow.server.k8s.pod.name'];
  const clientPod = async (ip: string) => (await tag(ip, '10.0.0.99')).span['metaflow.client.k8s.pod.name'];

  beforeAll(async () => {
    api = await FakeKubeApi.start({ token: TOKEN, initial: cluster });
    h = await startProcessor('traces', config());
  });

  afterAll(async () => {
    await h?.proc.shutdown();
    await api?.stop();
    await jail?.stop();
  });

  it('lists every kind it needs (paged), with the token, and watches from the list resourceVersion', async () => {
    for (const r of ['pods', 'replicasets', 'jobs', 'services', 'endpointslices', 'nodes', 'namespaces']) {
      expect(api.requestsFor(r, false).length).toBeGreaterThan(0);
    }
    // Not needed: owners above ReplicaSets and Jobs are named in owner references.
    expect(api.requestsFor('deployments')).toEqual([]);
    expect(api.requestsFor('statefulsets')).toEqual([]);
    // 4 pods at page_size 3 take two pages, the second with the continue token.
    const podLists = api.requestsFor('pods', false);
    expect(podLists.map((r) => r.query.limit)).toEqual(['3', '3']);
    expect(podLists[1].query.continue).toBeTruthy();
    await eventually('a pods watch', () => api.openWatches('pods') === 1);
    const watch = api.requestsFor('pods', true)[0];
    expect(watch.query.resourceVersion).toBe(api.resourceVersion);
    expect(watch.query.allowWatchBookmarks).toBe('true');
    expect(await h.metric('metaflow_autotagging_k8s_unreachable')).toBe(0);
    expect(await h.metric('metaflow_autotagging_k8s_objects', { resource: 'pods' })).toBe(4);
  });

  it('tags both ends of a packet span: pod → service cluster IP', async () => {
    const { span } = await tag('10.244.1.10', '10.96.0.20');
    expect(span).toMatchObject({
      'metaflow.client.k8s.pod.name': CHECKOUT_POD,
      'metaflow.client.k8s.pod.uid': 'c3d4e5f6-a7b8-4c9d-8e0f-2a3b4c5d6e7f',
      'metaflow.client.k8s.namespace.name': 'shop',
      'metaflow.client.k8s.namespace.uid': '7c1d9e2a-3b4f-4e5d-8a6b-1c2d3e4f5a6b',
      'metaflow.client.k8s.node.name': 'node-a',
      'metaflow.client.k8s.node.uid': 'e4d3c2b1-a0f9-4e8d-b7c6-a5b4c3d2e1f0',
      'metaflow.client.k8s.replicaset.name': 'checkout-6d4b8c7f9',
      'metaflow.client.k8s.deployment.name': 'checkout',
      'metaflow.client.k8s.deployment.uid': 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d',
      'metaflow.client.k8s.cluster.uid': '5b2e6f1c-08d4-4c2a-9a1e-0d7c6b5a4f3e',
      'metaflow.client.k8s.service.name': 'checkout',
      'metaflow.client.service.version': '1.4.2',
      'metaflow.client.k8s.namespace.label.team': 'payments',
      'metaflow.client.topology.zone': 'eu-west-1a',
      'metaflow.client.k8s.pod.annotation.kubectl.kubernetes.io/default-container': 'checkout',
      'metaflow.server.k8s.service.name': 'redis',
      'metaflow.server.k8s.namespace.name': 'shop',
    });
    // A cluster IP is a service, not a pod; the pod has two containers, so no container is named by its IP.
    expect(span['metaflow.server.k8s.pod.name']).toBeUndefined();
    expect(span['metaflow.client.k8s.container.name']).toBeUndefined();
    // The receiver's own attributes are untouched.
    expect(span['metaflow.client.ip']).toBe('10.244.1.10');
  });

  it('names a StatefulSet pod, a CronJob pod and a node address; host-network pods do not claim the node IP', async () => {
    const a = (await tag('10.244.1.12', '10.244.1.11')).span;
    expect(a).toMatchObject({
      'metaflow.client.k8s.pod.name': 'report-28596420-9xk4m',
      'metaflow.client.k8s.job.name': 'report-28596420',
      'metaflow.client.k8s.cronjob.name': 'report',
      'metaflow.client.k8s.cronjob.uid': 'f6a7b8c9-d0e1-4f2a-9b3c-5d6e7f809102',
      'metaflow.server.k8s.pod.name': 'redis-0',
      'metaflow.server.k8s.statefulset.name': 'redis',
      'metaflow.server.k8s.service.name': 'redis',
      // One container: its name and image are known from the address alone.
      'metaflow.server.k8s.container.name': 'redis',
      'metaflow.server.container.image.name': 'redis',
      'metaflow.server.container.image.tag': '7.2',
    });
    const n = (await tag('10.244.1.10', '192.168.49.2')).span;
    expect(n['metaflow.server.k8s.node.name']).toBe('node-a');
    expect(n['metaflow.server.k8s.node.uid']).toBe('e4d3c2b1-a0f9-4e8d-b7c6-a5b4c3d2e1f0');
    expect(n['metaflow.server.k8s.pod.name']).toBeUndefined();
    expect(n['metaflow.server.k8s.daemonset.name']).toBeUndefined();
    // An address the cluster does not know gets nothing.
    const x = (await tag('10.244.1.10', '8.8.8.8')).span;
    expect(Object.keys(x).filter((k) => k.startsWith('metaflow.server.k8s'))).toEqual([]);
  });

  it('associates OTLP resources by k8s.pod.ip, k8s.pod.uid and container.id, and derives service.name only when absent', async () => {
    const byIp = (await tag('1.1.1.1', '2.2.2.2', { 'k8s.pod.ip': '10.244.1.10', 'service.name': 'unknown_service:node' })).resource;
    expect(byIp).toMatchObject({ 'k8s.pod.name': CHECKOUT_POD, 'k8s.deployment.name': 'checkout', 'service.name': 'checkout', 'service.version': '1.4.2' });
    const named = (await tag('1.1.1.1', '2.2.2.2', { 'k8s.pod.ip': '10.244.1.10', 'service.name': 'cart-api', 'k8s.namespace.name': 'already-set' })).resource;
    expect(named['service.name']).toBe('cart-api');
    // Never overwrite what the app said.
    expect(named['k8s.namespace.name']).toBe('already-set');
    const byUid = (await tag('1.1.1.1', '2.2.2.2', { 'k8s.pod.uid': 'e5f6a7b8-c9d0-4e1f-8a2b-4c5d6e7f8091' })).resource;
    expect(byUid).toMatchObject({ 'k8s.pod.name': 'redis-0', 'k8s.statefulset.name': 'redis', 'service.name': 'redis' });
    const byContainer = (await tag('1.1.1.1', '2.2.2.2', { 'container.id': CHECKOUT_CONTAINER })).resource;
    expect(byContainer).toMatchObject({
      'k8s.pod.name': CHECKOUT_POD,
      'k8s.container.name': 'checkout',
      'container.image.name': 'registry.example.com:5000/shop/checkout',
      'container.image.tag': '1.4.2',
    });
    const cron = (await tag('1.1.1.1', '2.2.2.2', { 'host.ip': ['10.244.1.12'] })).resource;
    expect(cron['service.name']).toBe('report');
    const none = (await tag('1.1.1.1', '2.2.2.2', { 'k8s.pod.ip': '10.244.9.9' })).resource;
    expect(none['k8s.pod.name']).toBeUndefined();
    expect(await h.metric('metaflow_autotagging_resources_total', { result: 'unassociated' })).toBeGreaterThan(0);
  });

  (canMakeCgroups() ? it : it.skip)('an eBPF span of a real process in a container cgroup gets its pod and container via process.pid', async () => {
    jail = new ContainerizedProcess(CHECKOUT_CONTAINER, 'c3d4e5f6-a7b8-4c9d-8e0f-2a3b4c5d6e7f');
    const { resource, span } = await tag('10.244.1.10', '10.96.0.20', {}, { 'metaflow.signal_source': 'ebpf', 'process.pid': jail.pid });
    expect(resource).toMatchObject({
      'process.pid': jail.pid,
      'process.executable.name': 'sleep',
      'container.id': CHECKOUT_CONTAINER,
      'k8s.pod.name': CHECKOUT_POD,
      'k8s.container.name': 'checkout',
      'k8s.deployment.name': 'checkout',
      'service.name': 'checkout',
    });
    expect(span['metaflow.server.k8s.service.name']).toBe('redis');
  });

  it('a pod that appears (Pending, then Running with an IP) is tagged from the moment it has the IP', async () => {
    api.apply(replicaSetOf('payment', 'payment-5c8d7b6f4', 'uid-payment'));
    api.apply(podOf('payment-5c8d7b6f4', 'payment-5c8d7b6f4-abcde', undefined, ''));
    await eventually('the pending pod', () => h.metric('metaflow_autotagging_k8s_objects', { resource: 'pods' }).then((n) => n === 5));
    expect(await serverPod('10.244.2.20')).toBeUndefined();
    api.apply(podOf('payment-5c8d7b6f4', 'payment-5c8d7b6f4-abcde', '10.244.2.20', 'aa'.repeat(32)));
    await eventually('the running pod', async () => (await serverPod('10.244.2.20')) === 'payment-5c8d7b6f4-abcde');
    const { span } = await tag('10.244.1.10', '10.244.2.20');
    expect(span['metaflow.server.k8s.deployment.name']).toBe('payment');
    expect(span['metaflow.server.k8s.replicaset.name']).toBe('payment-5c8d7b6f4');
  });

  it('a pod whose IP changes (MODIFIED) is found at the new IP only', async () => {
    api.apply(podOf('payment-5c8d7b6f4', 'payment-5c8d7b6f4-abcde', '10.244.2.21', 'aa'.repeat(32)));
    await eventually('the new IP', async () => (await serverPod('10.244.2.21')) === 'payment-5c8d7b6f4-abcde');
    expect(await serverPod('10.244.2.20')).toBeUndefined();
  });

  it('a deleted pod (DELETED) tags nothing any more', async () => {
    api.delete('Pod', 'payment-5c8d7b6f4-abcde', 'shop');
    await eventually('the deletion', async () => (await serverPod('10.244.2.21')) === undefined);
    expect(await h.metric('metaflow_autotagging_k8s_events_total', { resource: 'pods', type: 'DELETED' })).toBe(1);
  });

  it('a rolled Deployment: new ReplicaSet and pod tagged with the same Deployment, the old pod gone', async () => {
    const dep = find('Deployment', 'checkout') as KubeObject & { metadata: Record<string, unknown>; spec: Record<string, unknown> };
    dep.metadata.generation = 2;
    dep.metadata.annotations = { 'deployment.kubernetes.io/revision': '2' };
    api.apply(dep);
    api.apply(replicaSetOf('checkout', 'checkout-7f8d9c6b5', 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d'));
    api.apply(podOf('checkout-7f8d9c6b5', 'checkout-7f8d9c6b5-q9w8e', '10.244.1.20', 'bb'.repeat(32)));
    api.delete('Pod', CHECKOUT_POD, 'shop');
    const oldRs = find('ReplicaSet', 'checkout-6d4b8c7f9') as KubeObject & { spec: { replicas: number } };
    oldRs.spec.replicas = 0;
    api.apply(oldRs);
    await eventually('the new pod', async () => (await clientPod('10.244.1.20')) === 'checkout-7f8d9c6b5-q9w8e');
    const { span } = await tag('10.244.1.20', '10.96.0.20');
    expect(span).toMatchObject({
      'metaflow.client.k8s.deployment.name': 'checkout',
      'metaflow.client.k8s.deployment.uid': 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d',
      'metaflow.client.k8s.replicaset.name': 'checkout-7f8d9c6b5',
    });
    await eventually('the old pod gone', async () => (await clientPod('10.244.1.10')) === undefined);
  });

  it('after a BOOKMARK and a dropped watch, resumes from the bookmark and receives what changed meanwhile, without a relist', async () => {
    const listsBefore = api.requestsFor('pods', false).length;
    const watchesBefore = api.requestsFor('pods', true).length;
    const bookmarkRv = api.bookmark('pods');
    // Give the bookmark time to arrive before the connection breaks.
    await eventually('bookmark applied', () => h.metric('metaflow_autotagging_k8s_events_total', { resource: 'pods', type: 'BOOKMARK' }).then((n) => n === 1));
    api.dropWatches('pods');
    api.applySilently(podOf('checkout-7f8d9c6b5', 'checkout-7f8d9c6b5-zz9yy', '10.244.1.21', 'cc'.repeat(32)));
    await eventually('the pod added while disconnected', async () => (await clientPod('10.244.1.21')) === 'checkout-7f8d9c6b5-zz9yy');
    const rewatch = api.requestsFor('pods', true)[watchesBefore];
    expect(rewatch.query.resourceVersion).toBe(bookmarkRv);
    expect(api.requestsFor('pods', false).length).toBe(listsBefore);
    expect(await h.metric('metaflow_autotagging_k8s_errors_total', { resource: 'pods', op: 'watch', type: 'dropped' })).toBeGreaterThanOrEqual(1);
  });

  it('a 410 Gone (history compacted) makes it relist, and the relist removes what was deleted unseen', async () => {
    await eventually('a pods watch', () => api.openWatches('pods') === 1);
    const listsBefore = api.requestsFor('pods', false).length;
    expect(await clientPod('10.244.1.12')).toBe('report-28596420-9xk4m');
    api.deleteSilently('Pod', 'report-28596420-9xk4m', 'shop');
    api.compact();
    api.expireWatches('pods');
    await eventually('the relist', async () => (await clientPod('10.244.1.12')) === undefined);
    expect(api.requestsFor('pods', false).length).toBeGreaterThan(listsBefore);
    expect(await h.metric('metaflow_autotagging_k8s_relists_total', { resource: 'pods', reason: 'gone' })).toBe(1);
    // Everything else is still known.
    expect(await clientPod('10.244.1.20')).toBe('checkout-7f8d9c6b5-q9w8e');
  });

  it('while the API server is down, tags come from the last known state and the unreachable gauge is 1; changes made meanwhile arrive after it returns', async () => {
    await api.stop();
    await eventually('unreachable', () => h.metric('metaflow_autotagging_k8s_unreachable').then((v) => v === 1));
    expect(await clientPod('10.244.1.20')).toBe('checkout-7f8d9c6b5-q9w8e');
    expect((await tag('10.244.1.12', '10.244.1.11')).span['metaflow.server.k8s.pod.name']).toBe('redis-0');
    api.applySilently(podOf('checkout-7f8d9c6b5', 'checkout-7f8d9c6b5-aaaaa', '10.244.1.22', 'dd'.repeat(32)));
    await api.restart();
    await eventually('reachable again', () => h.metric('metaflow_autotagging_k8s_unreachable').then((v) => v === 0));
    await eventually('the pod added while down', async () => (await clientPod('10.244.1.22')) === 'checkout-7f8d9c6b5-aaaaa');
  });

  it('a server that accepts connections and never answers counts as unreachable; a watch that goes silent is replaced after idle_timeout', async () => {
    // Start from a settled connection: every kind watching, none failing.
    await eventually('settled', async () => (await h.metric('metaflow_autotagging_k8s_unreachable')) === 0 && api.openWatches('pods') === 1 && api.openWatches('services') === 1);
    const timeoutsBefore = await h.metric('metaflow_autotagging_k8s_errors_total', { type: 'timeout' });
    api.stall(true);
    api.dropWatches();
    await eventually('unreachable while stalled', () => h.metric('metaflow_autotagging_k8s_unreachable').then((v) => v === 1));
    // Unanswered requests (watches, or lists after a 410) time out; nothing else failed.
    expect(await h.metric('metaflow_autotagging_k8s_errors_total', { type: 'timeout' })).toBeGreaterThan(timeoutsBefore);
    expect(await clientPod('10.244.1.22')).toBe('checkout-7f8d9c6b5-aaaaa');
    // Answers again, but the watch stays silent: only the idle timeout notices.
    api.mute(true);
    api.stall(false);
    await eventually('reachable', () => h.metric('metaflow_autotagging_k8s_unreachable').then((v) => v === 0));
    api.apply(podOf('checkout-7f8d9c6b5', 'checkout-7f8d9c6b5-bbbbb', '10.244.1.23', 'ee'.repeat(32)));
    await eventually('an idle watch replaced', () => h.metric('metaflow_autotagging_k8s_errors_total', { resource: 'pods', op: 'watch', type: 'idle' }).then((n) => n >= 1));
    expect(await clientPod('10.244.1.23')).toBeUndefined();
    api.mute(false);
    await eventually('the pod from the replaced watch', async () => (await clientPod('10.244.1.23')) === 'checkout-7f8d9c6b5-bbbbb');
  });
});

describe('autotagging Kubernetes filters', () => {
  let api: FakeKubeApi;
  let h: Harness<'traces'> | undefined;

  beforeAll(async () => {
    api = await FakeKubeApi.start({ initial: cluster });
  });
  afterAll(async () => {
    await h?.proc.shutdown();
    await api.stop();
  });

  it('filter::node and filter::namespace restrict what is listed and watched (field selector, namespaced paths)', async () => {
    h = await startProcessor('traces', {
      detectors: [],
      process: { enabled: false },
      kubernetes: { api_server: api.url, retry: { initial_interval: '50ms', max_interval: '200ms' } },
      wait_for_metadata: true,
      filter: { node: 'node-b', namespace: 'shop', labels: [{ key: 'app', op: 'exists' }] },
      extract: { metadata: ['k8s.pod.name', 'k8s.namespace.uid'], end_metadata: ['k8s.pod.name'] },
    });
    const podList = api.requestsFor('pods', false)[0];
    expect(podList.namespace).toBe('shop');
    expect(podList.query.fieldSelector).toBe('spec.nodeName=node-b');
    expect(podList.query.labelSelector).toBe('app');
    expect(api.requestsFor('namespaces', false)[0].query.fieldSelector).toBe('metadata.name=shop');
    // Only what the metadata needs is watched.
    expect(api.requestsFor('services')).toEqual([]);
    expect(api.requestsFor('replicasets')).toEqual([]);
    const out = await tagSpans(h, {}, [zeroCodeSpan('10.244.1.10', '10.244.1.11')]);
    expect(out.resourceSpans[0].scopeSpans[0].spans[0].attributes['metaflow.client.k8s.pod.name']).toBeUndefined();
  });

  it('wait_for_metadata fails the start when the API server does not answer', async () => {
    api.stall(true);
    await expect(
      startProcessor('traces', {
        detectors: [],
        kubernetes: { api_server: api.url, request_timeout: '200ms', retry: { initial_interval: '50ms', max_interval: '100ms' } },
        wait_for_metadata: true,
        wait_for_metadata_timeout: '600ms',
      }),
    ).rejects.toThrow(/not listed within wait_for_metadata_timeout/);
    api.stall(false);
  });
});

describe('autotagging: association by connection and other credentials', () => {
  let api: FakeKubeApi;
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    api = await FakeKubeApi.start({ token: TOKEN, initial: cluster });
    // A pod whose IP is loopback: what an SDK app in this test sends from.
    api.apply(podOf('checkout-6d4b8c7f9', 'checkout-6d4b8c7f9-local', '127.0.0.1', 'ff'.repeat(32)));
  });
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    await api.stop();
  });

  const k8sConfig = () => ({ api_server: api.url, token: TOKEN, retry: { initial_interval: '50ms', max_interval: '200ms' } });

  it('an OTel SDK app sending OTLP/HTTP is tagged with the pod of its source address (real receiver, real pipeline)', async () => {
    const captured: Traces[] = [];
    const capture: ExporterFactory = {
      kind: 'exporter',
      type: 'capture',
      description: 'keeps what it receives (test)',
      stability: { traces: 'beta' },
      config: s.object({}).withDefaults(),
      create: () => ({
        consumers: { traces: { consume: async (t: Traces) => void captured.push(t) } },
        start: async () => undefined,
        shutdown: async () => undefined,
      }),
    };
    const port = await freePort();
    const svc = Service.fromSources(
      [
        `yaml:
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:${port}" }
processors:
  autotagging:
    detectors: []
    process: { enabled: false }
    wait_for_metadata: true
    kubernetes: { api_server: "${api.url}", token: ${TOKEN}, retry: { initial_interval: 50ms, max_interval: 200ms } }
exporters:
  capture:
service:
  telemetry: { metrics: { level: none }, logs: { level: error } }
  pipelines:
    traces: { receivers: [otlp], processors: [autotagging], exporters: [capture] }
`,
      ],
      new Registry([otlpReceiver, autotagging, capture]),
    );
    await svc.start();
    cleanups.push(() => svc.shutdown());
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'unknown_service:node', 'telemetry.sdk.language': 'nodejs' }),
      spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `http://127.0.0.1:${port}/v1/traces` }))],
    });
    cleanups.push(() => provider.shutdown());
    provider.getTracer('shop').startSpan('GET /cart').end();
    await provider.forceFlush();
    await eventually('the span exported', () => captured.length > 0);
    const res = captured[0].resourceSpans[0].resource.attributes;
    expect(res).toMatchObject({
      'k8s.pod.ip': '127.0.0.1',
      'k8s.pod.name': 'checkout-6d4b8c7f9-local',
      'k8s.deployment.name': 'checkout',
      'k8s.namespace.name': 'shop',
      'service.name': 'checkout',
      'telemetry.sdk.language': 'nodejs',
    });
  });

  it('data MetaFlow made itself (scope metaflow.*) is not associated by the connection it arrived on; its process-named service takes the workload name', async () => {
    const h = await startProcessor('traces', { detectors: [], process: { enabled: false }, kubernetes: k8sConfig(), wait_for_metadata: true });
    cleanups.push(() => h.proc.shutdown());
    const batch = (scope: string, resource: Attributes) => {
      const t = traces({ resource, scopes: [{ name: scope, items: [span('s')] }] });
      setClientInfo(t, { address: '10.244.1.11', port: 51234 });
      return t;
    };
    const app = batch('io.opentelemetry.express', {});
    await h.proc.consume(app);
    expect(app.resourceSpans[0].resource.attributes).toMatchObject({ 'k8s.pod.name': 'redis-0', 'k8s.pod.ip': '10.244.1.11', 'service.name': 'redis' });
    // What the eBPF receiver sends: one resource per process, service.name from the process name.
    const ebpf = batch('metaflow.ebpf', { 'service.name': 'node', 'process.executable.name': 'node', 'host.name': 'node-a', 'process.pid': 4242 });
    await h.proc.consume(ebpf);
    expect(ebpf.resourceSpans[0].resource.attributes['k8s.pod.name']).toBeUndefined();
    expect(ebpf.resourceSpans[0].resource.attributes['service.name']).toBe('node');
    const inPod = batch('metaflow.ebpf', { 'service.name': 'node', 'process.executable.name': 'node', 'container.id': CHECKOUT_CONTAINER });
    await h.proc.consume(inPod);
    expect(inPod.resourceSpans[0].resource.attributes).toMatchObject({ 'k8s.pod.name': CHECKOUT_POD, 'service.name': 'checkout' });
  });

  it('by default each end carries who the peer is (end_metadata), not every fact about it', async () => {
    const h = await startProcessor('traces', { detectors: [], process: { enabled: false }, kubernetes: k8sConfig(), wait_for_metadata: true });
    cleanups.push(() => h.proc.shutdown());
    const out = await tagSpans(h, {}, [zeroCodeSpan('10.244.1.10', '10.244.1.11')]);
    const a = out.resourceSpans[0].scopeSpans[0].spans[0].attributes;
    const end = (prefix: string) => Object.fromEntries(Object.entries(a).filter(([k]) => k.startsWith(prefix) && !/\.(ip|port)$/.test(k)));
    expect(end('metaflow.server.')).toEqual({
      'metaflow.server.k8s.namespace.name': 'shop',
      'metaflow.server.k8s.pod.name': 'redis-0',
      'metaflow.server.k8s.node.name': 'node-a',
      'metaflow.server.k8s.statefulset.name': 'redis',
      'metaflow.server.k8s.service.name': 'redis',
    });
    expect(end('metaflow.client.')).toEqual({
      'metaflow.client.k8s.namespace.name': 'shop',
      'metaflow.client.k8s.pod.name': CHECKOUT_POD,
      'metaflow.client.k8s.node.name': 'node-a',
      'metaflow.client.k8s.deployment.name': 'checkout',
      'metaflow.client.k8s.service.name': 'checkout',
    });
  });

  it('auth_type kubeConfig: the cluster, user token and context come from a kubeconfig file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaflow-kubeconfig-'));
    cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'config');
    fs.writeFileSync(
      file,
      `apiVersion: v1
kind: Config
clusters:
  - name: wrong
    cluster: { server: "http://127.0.0.1:1", insecure-skip-tls-verify: true }
  - name: loopback
    cluster: { server: "${api.url}", insecure-skip-tls-verify: true }
users:
  - name: tester
    user: { token: ${TOKEN} }
contexts:
  - name: default
    context: { cluster: wrong, user: tester }
  - name: test
    context: { cluster: loopback, user: tester, namespace: shop }
current-context: default
`,
    );
    const h = await startProcessor('traces', { detectors: [], process: { enabled: false }, auth_type: 'kubeConfig', kube_config_path: file, context: 'test', wait_for_metadata: true, wait_for_metadata_timeout: '5s' });
    cleanups.push(() => h.proc.shutdown());
    const out = await tagSpans(h, {}, [zeroCodeSpan('10.244.1.11', '10.96.0.30')]);
    expect(out.resourceSpans[0].scopeSpans[0].spans[0].attributes).toMatchObject({ 'metaflow.client.k8s.pod.name': 'redis-0', 'metaflow.server.k8s.service.name': 'checkout' });
  });

  it('auth_type serviceAccount outside a pod fails the start with the reason', async () => {
    await expect(startProcessor('traces', { detectors: [], auth_type: 'serviceAccount' })).rejects.toThrow(/cannot load Kubernetes credentials \(serviceAccount\)/);
  });
});
