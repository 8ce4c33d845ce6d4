/**
 * Kubernetes attributes from the cluster state: the `extract::metadata`
 * keys for a pod (and its container, when known), for a service's cluster
 * IP and for a node's IP; the service name derived from the workload; and
 * the `pod_association` rules that find the pod of a resource.
 *
 * Lists are flat (`[key, value, …]`) so applying them allocates nothing;
 * a pod's lists are cached on its record until the cluster state changes.
 */
import type { AnyValue, Attributes } from '../../../pipeline/pdata';
import type { Association, MetadataKey } from '../config';
import { canonicalIp } from '../ip';
import type { ClusterState, ContainerRec, NodeRec, PodRec, ServiceRec } from './store';

/** What an address is in the cluster. */
export type IpOwner = { pod: PodRec } | { service: ServiceRec } | { node: NodeRec } | undefined;

/** A pod and, when known, the container the data came from. */
export interface PodMatch {
  pod: PodRec;
  container: ContainerRec | undefined;
  /** The matching rule used the connection's address. */
  byConnection: boolean;
}

/** Hints from the process of the data (read from its cgroup). */
export interface ProcessHints {
  containerId: string;
  podUid: string;
}

const CONTAINER_KEYS: ReadonlySet<string> = new Set(['k8s.container.name', 'container.id', 'container.image.name', 'container.image.tag']);

/** Splits an image reference into name and tag: `registry:5000/app:1.2@sha256:…` → `registry:5000/app`, `1.2`. */
export function splitImage(image: string): { name: string; tag: string } {
  let ref = image;
  const at = ref.indexOf('@');
  if (at >= 0) ref = ref.slice(0, at);
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > slash) return { name: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { name: ref, tag: at >= 0 ? '' : 'latest' };
}

/** Builds attribute lists from a {@link ClusterState}. */
export class K8sMetadata {
  private readonly keys: MetadataKey[];
  private readonly endKeys: MetadataKey[];

  constructor(
    readonly state: ClusterState,
    metadata: readonly MetadataKey[],
    private readonly otelAnnotations: boolean,
    endMetadata: readonly MetadataKey[] = metadata,
  ) {
    this.keys = [...new Set(metadata)];
    this.endKeys = [...new Set(endMetadata)];
  }

  /** The pod, service or node an address belongs to. */
  ownerOfIp(ip: string): IpOwner {
    const pod = this.state.podByIp.get(ip);
    if (pod) return { pod };
    const service = this.state.serviceByIp.get(ip);
    if (service) return { service };
    const node = this.state.nodeByIp.get(ip);
    if (node) return { node };
    return undefined;
  }

  /**
   * Resource attributes of a pod: the metadata keys, label and annotation
   * rules of the pod, its namespace and node, and (with otel_annotations)
   * `resource.opentelemetry.io/*`. Container keys need the container, or a
   * pod with a single container.
   */
  podAttributes(pod: PodRec, container: ContainerRec | undefined): AnyValue[] {
    return this.cachedPod(pod, container ?? (pod.containers.length === 1 ? pod.containers[0] : undefined), false);
  }

  /** Attributes of a pod as one end of a span or flow: the end_metadata keys and the rules, unprefixed. */
  podEndAttributes(pod: PodRec): AnyValue[] {
    return this.cachedPod(pod, pod.containers.length === 1 ? pod.containers[0] : undefined, true);
  }

  private cachedPod(pod: PodRec, c: ContainerRec | undefined, end: boolean): AnyValue[] {
    // Container names cannot hold NUL, so the end list never collides with a container's.
    const cacheKey = end ? '\0end' : c ? c.name : '';
    if (pod.cacheGen !== this.state.generation || !pod.cache) {
      pod.cache = new Map();
      pod.cacheGen = this.state.generation;
    }
    let flat = pod.cache.get(cacheKey);
    if (!flat) {
      flat = this.buildPod(pod, c, end ? this.endKeys : this.keys, !end);
      // Bounded by the pod's containers plus the container-less and end lists.
      pod.cache.set(cacheKey, flat);
    }
    return flat;
  }

  /** End attributes of an address that is a service's cluster IP. */
  serviceAttributes(svc: ServiceRec): AnyValue[] {
    const out: AnyValue[] = [];
    for (const k of this.endKeys) {
      if (k === 'k8s.service.name') out.push(k, svc.name);
      else if (k === 'k8s.namespace.name') out.push(k, svc.namespace);
      else if (k === 'k8s.namespace.uid') this.push(out, k, this.state.namespaces.get(svc.namespace)?.uid);
      else if (k === 'k8s.cluster.uid') this.push(out, k, this.state.namespaces.get('kube-system')?.uid);
    }
    const ns = this.state.namespaces.get(svc.namespace);
    if (ns) for (let i = 0; i < ns.fields.length; i++) out.push(ns.fields[i]);
    return out;
  }

  /** End attributes of an address that is a node's. */
  nodeAttributes(node: NodeRec): AnyValue[] {
    const out: AnyValue[] = [];
    for (const k of this.endKeys) {
      if (k === 'k8s.node.name') out.push(k, node.name);
      else if (k === 'k8s.node.uid') this.push(out, k, node.uid);
      else if (k === 'k8s.cluster.uid') this.push(out, k, this.state.namespaces.get('kube-system')?.uid);
    }
    for (let i = 0; i < node.fields.length; i++) out.push(node.fields[i]);
    return out;
  }

  /**
   * The service name of a pod's workload, as the OTel Kubernetes conventions
   * derive it: the `resource.opentelemetry.io/service.name` annotation (with
   * otel_annotations), else the Deployment, StatefulSet, DaemonSet, CronJob,
   * Job or bare ReplicaSet name, else the pod name.
   */
  serviceName(pod: PodRec): string {
    if (this.otelAnnotations) {
      for (let i = 0; i < pod.otel.length; i += 2) if (pod.otel[i] === 'service.name' && pod.otel[i + 1]) return pod.otel[i + 1] as string;
    }
    const w = this.workload(pod);
    return w.deployment || w.statefulset || w.daemonset || w.cronjob || w.job || w.replicaset || pod.name;
  }

  /**
   * The pod of a resource: the association rules in order, each needing all
   * its sources to agree on one pod; then, for a local process, its
   * container id and pod UID from the cgroup. A `connection` source matches
   * the pod whose IP sent the batch (`connectionIp`, when the receiver
   * recorded it).
   */
  associate(attrs: Attributes, rules: readonly Association[], hints: ProcessHints | undefined, connectionIp?: string): PodMatch | undefined {
    for (const rule of rules) {
      let pod: PodRec | undefined;
      let container: ContainerRec | undefined;
      let namespace: string | undefined;
      let byConnection = false;
      let ok = rule.sources.length > 0;
      for (const src of rule.sources) {
        if (src.from === 'connection') {
          const p = connectionIp ? this.state.podByIp.get(canonicalIp(connectionIp)) : undefined;
          if (!p || (pod && p !== pod)) {
            ok = false;
            break;
          }
          pod = p;
          byConnection = true;
          continue;
        }
        if (!src.name) {
          ok = false;
          break;
        }
        const v = attrs[src.name];
        if (src.name === 'k8s.namespace.name') {
          // A constraint, not an identity: it narrows what the other sources find.
          if (typeof v !== 'string') ok = false;
          namespace = v as string;
          if (!ok) break;
          continue;
        }
        let p: PodRec | undefined;
        if (src.name === 'k8s.pod.uid') p = typeof v === 'string' ? this.state.podsByUid.get(v) : undefined;
        else if (src.name === 'container.id') {
          const c = typeof v === 'string' ? this.state.podByContainer.get(v) : undefined;
          if (c) {
            p = c.pod;
            container = c;
          }
        } else if (src.name === 'k8s.pod.name') {
          const ns = attrs['k8s.namespace.name'];
          p = typeof v === 'string' && typeof ns === 'string' ? this.state.podsByKey.get(`${ns}/${v}`) : undefined;
        } else p = this.podOfIpValue(v);
        if (!p || (pod && p !== pod)) {
          ok = false;
          break;
        }
        pod = p;
      }
      if (ok && pod && namespace !== undefined && pod.namespace !== namespace) ok = false;
      if (ok && pod) return { pod, container: container && container.pod === pod ? container : this.containerOf(pod, attrs), byConnection };
    }
    if (hints) {
      const c = hints.containerId ? this.state.podByContainer.get(hints.containerId) : undefined;
      if (c) return { pod: c.pod, container: c, byConnection: false };
      const p = hints.podUid ? this.state.podsByUid.get(hints.podUid) : undefined;
      if (p) return { pod: p, container: this.containerOf(p, attrs), byConnection: false };
    }
    return undefined;
  }

  private containerOf(pod: PodRec, attrs: Attributes): ContainerRec | undefined {
    const id = attrs['container.id'];
    const name = attrs['k8s.container.name'];
    for (const c of pod.containers) if ((typeof id === 'string' && c.id === id) || (typeof name === 'string' && c.name === name)) return c;
    return undefined;
  }

  private podOfIpValue(v: AnyValue | undefined): PodRec | undefined {
    if (typeof v === 'string') return this.state.podByIp.get(canonicalIp(v));
    if (Array.isArray(v)) {
      for (const x of v) {
        const p = typeof x === 'string' ? this.state.podByIp.get(canonicalIp(x)) : undefined;
        if (p) return p;
      }
    }
    return undefined;
  }

  private workload(pod: PodRec): Record<'replicaset' | 'deployment' | 'statefulset' | 'daemonset' | 'job' | 'cronjob', string> & { replicasetUid: string; deploymentUid: string; jobUid: string; cronjobUid: string } {
    const w = { replicaset: '', deployment: '', statefulset: '', daemonset: '', job: '', cronjob: '', replicasetUid: '', deploymentUid: '', jobUid: '', cronjobUid: '' };
    switch (pod.ownerKind) {
      case 'ReplicaSet': {
        w.replicaset = pod.ownerName;
        w.replicasetUid = pod.ownerUid;
        const rs = this.state.replicaSets.get(`${pod.namespace}/${pod.ownerName}`);
        if (rs) {
          if (rs.ownerKind === 'Deployment') {
            w.deployment = rs.ownerName;
            w.deploymentUid = rs.ownerUid;
          }
        } else if (pod.podTemplateHash && pod.ownerName.endsWith(`-${pod.podTemplateHash}`)) {
          // ReplicaSet not (yet) known: a Deployment names its ReplicaSets <deployment>-<pod-template-hash>.
          w.deployment = pod.ownerName.slice(0, -pod.podTemplateHash.length - 1);
        }
        break;
      }
      case 'StatefulSet':
        w.statefulset = pod.ownerName;
        break;
      case 'DaemonSet':
        w.daemonset = pod.ownerName;
        break;
      case 'Job': {
        w.job = pod.ownerName;
        w.jobUid = pod.ownerUid;
        const job = this.state.jobs.get(`${pod.namespace}/${pod.ownerName}`);
        if (job?.ownerKind === 'CronJob') {
          w.cronjob = job.ownerName;
          w.cronjobUid = job.ownerUid;
        }
        break;
      }
    }
    return w;
  }

  private buildPod(pod: PodRec, c: ContainerRec | undefined, keys: readonly MetadataKey[], withOtel: boolean): AnyValue[] {
    const out: AnyValue[] = [];
    const w = this.workload(pod);
    const image = c?.image ? splitImage(c.image) : undefined;
    for (const k of keys) {
      if (CONTAINER_KEYS.has(k) && !c) continue;
      switch (k) {
        case 'k8s.namespace.name':
          this.push(out, k, pod.namespace);
          break;
        case 'k8s.namespace.uid':
          this.push(out, k, this.state.namespaces.get(pod.namespace)?.uid);
          break;
        case 'k8s.pod.name':
          this.push(out, k, pod.name);
          break;
        case 'k8s.pod.uid':
          this.push(out, k, pod.uid);
          break;
        case 'k8s.pod.ip':
          this.push(out, k, pod.ips[0]);
          break;
        case 'k8s.pod.hostname':
          this.push(out, k, pod.hostname);
          break;
        case 'k8s.pod.start_time':
          this.push(out, k, pod.startTime);
          break;
        case 'k8s.node.name':
          this.push(out, k, pod.nodeName);
          break;
        case 'k8s.node.uid':
          this.push(out, k, this.state.nodes.get(pod.nodeName)?.uid);
          break;
        case 'k8s.replicaset.name':
          this.push(out, k, w.replicaset);
          break;
        case 'k8s.replicaset.uid':
          this.push(out, k, w.replicasetUid);
          break;
        case 'k8s.deployment.name':
          this.push(out, k, w.deployment);
          break;
        case 'k8s.deployment.uid':
          this.push(out, k, w.deploymentUid);
          break;
        case 'k8s.statefulset.name':
          this.push(out, k, w.statefulset);
          break;
        case 'k8s.statefulset.uid':
          this.push(out, k, w.statefulset ? pod.ownerUid : '');
          break;
        case 'k8s.daemonset.name':
          this.push(out, k, w.daemonset);
          break;
        case 'k8s.daemonset.uid':
          this.push(out, k, w.daemonset ? pod.ownerUid : '');
          break;
        case 'k8s.job.name':
          this.push(out, k, w.job);
          break;
        case 'k8s.job.uid':
          this.push(out, k, w.jobUid);
          break;
        case 'k8s.cronjob.name':
          this.push(out, k, w.cronjob);
          break;
        case 'k8s.cronjob.uid':
          this.push(out, k, w.cronjobUid);
          break;
        case 'k8s.container.name':
          this.push(out, k, c?.name);
          break;
        case 'container.id':
          this.push(out, k, c?.id);
          break;
        case 'container.image.name':
          this.push(out, k, image?.name);
          break;
        case 'container.image.tag':
          this.push(out, k, image?.tag);
          break;
        case 'k8s.cluster.uid':
          this.push(out, k, this.state.namespaces.get('kube-system')?.uid);
          break;
        case 'k8s.service.name':
          for (const ip of pod.ips) {
            const names = this.state.servicesOfIp(ip, pod.namespace);
            if (names.length) {
              out.push(k, names[0]);
              break;
            }
          }
          break;
      }
    }
    for (let i = 0; i < pod.fields.length; i++) out.push(pod.fields[i]);
    const ns = this.state.namespaces.get(pod.namespace);
    if (ns) for (let i = 0; i < ns.fields.length; i++) out.push(ns.fields[i]);
    const node = this.state.nodes.get(pod.nodeName);
    if (node) for (let i = 0; i < node.fields.length; i++) out.push(node.fields[i]);
    if (withOtel && this.otelAnnotations) for (let i = 0; i < pod.otel.length; i++) out.push(pod.otel[i]);
    return out;
  }

  private push(out: AnyValue[], k: string, v: string | undefined): void {
    if (v) out.push(k, v);
  }
}
