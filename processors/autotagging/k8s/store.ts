/**
 * The last known state of the cluster, as compact records with the indexes
 * tagging looks things up by: pod by IP, UID, namespace/name and container
 * id; service by cluster IP; services by endpoint IP; node by IP; the owner
 * chain (ReplicaSet → Deployment, Job → CronJob).
 *
 * Only the fields tagging uses are kept, and labels and annotations only as
 * the attributes the extract rules make of them, so memory follows the
 * number of objects, not their size. Each kind holds at most `maxObjects`;
 * more are counted and not kept.
 *
 * `generation` changes on every mutation: caches of derived tags compare it
 * to know they are stale.
 */
import type { AnyValue } from '../../../pipeline/pdata';
import { canonicalIp } from '../ip';
import { controllerOf, str, type EndpointSlice, type KObject, type Node, type Pod, type Service } from './objects';
import type { ReflectorSink } from './reflector';

/** A label or annotation rule, compiled. */
export interface FieldRule {
  from: 'pod' | 'namespace' | 'node';
  kind: 'label' | 'annotation';
  key?: string;
  /** Anchored to the whole key. */
  re?: RegExp;
  tagName?: string;
}

/** One container of a pod. */
export interface ContainerRec {
  name: string;
  /** Without the `<runtime>://` prefix; '' until the container has started. */
  id: string;
  image: string;
  pod: PodRec;
}

/** What is kept of a pod. */
export interface PodRec {
  uid: string;
  name: string;
  namespace: string;
  nodeName: string;
  hostname: string;
  /** Status IPs; first is the primary. */
  ips: string[];
  /** Pods on the host network share the node's IP, so they are not found by IP. */
  hostNetwork: boolean;
  /** Succeeded and Failed pods have given their IP back. */
  terminated: boolean;
  startTime: string;
  ownerKind: string;
  ownerName: string;
  ownerUid: string;
  podTemplateHash: string;
  containers: ContainerRec[];
  /** Attributes from the pod's labels and annotations, per the extract rules (flat list). */
  fields: AnyValue[];
  /** `resource.opentelemetry.io/<attr>` annotations (flat list). */
  otel: AnyValue[];
  /** 0 while the pod exists; when it was deleted otherwise (kept for the grace period). */
  deletedAt: number;
  /** Derived attribute lists, valid for `cacheGen` (see K8sMetadata). */
  cacheGen: number;
  cache: Map<string, AnyValue[]> | undefined;
}

/** An owner of pods that is itself owned (ReplicaSet by Deployment, Job by CronJob). */
export interface OwnedRec {
  name: string;
  namespace: string;
  uid: string;
  ownerKind: string;
  ownerName: string;
  ownerUid: string;
}

/** A service. */
export interface ServiceRec {
  name: string;
  namespace: string;
  uid: string;
  ips: string[];
}

/** An endpoint slice: which addresses back which service. */
export interface SliceRec {
  key: string;
  namespace: string;
  service: string;
  ips: string[];
}

/** A node. */
export interface NodeRec {
  name: string;
  uid: string;
  ips: string[];
  fields: AnyValue[];
}

/** A namespace. */
export interface NamespaceRec {
  name: string;
  uid: string;
  fields: AnyValue[];
}

/** The kinds the store can follow, named as API resources. */
export type StoreResource = 'pods' | 'replicasets' | 'jobs' | 'services' | 'endpointslices' | 'nodes' | 'namespaces';

/** Store settings. */
export interface StoreOptions {
  maxObjects: number;
  podDeleteGraceMs: number;
  rules: readonly FieldRule[];
  /** Counts objects refused because a kind is full. */
  onDropped(resource: StoreResource): void;
  now?: () => number;
}

/** Attributes from labels/annotations of one object per the rules for `from`. */
export function extractFields(rules: readonly FieldRule[], from: FieldRule['from'], labels: unknown, annotations: unknown): AnyValue[] {
  const out: AnyValue[] = [];
  for (const r of rules) {
    if (r.from !== from) continue;
    const src = r.kind === 'label' ? labels : annotations;
    if (!src || typeof src !== 'object') continue;
    const map = src as Record<string, unknown>;
    if (r.key !== undefined) {
      const v = map[r.key];
      if (typeof v === 'string' && Object.prototype.hasOwnProperty.call(map, r.key)) out.push(r.tagName ?? `k8s.${from}.${r.kind}.${r.key}`, v);
      continue;
    }
    for (const k of Object.keys(map)) {
      const v = map[k];
      const m = typeof v === 'string' ? r.re!.exec(k) : null;
      if (!m) continue;
      const name = r.tagName ? r.tagName.replace(/\$(\d)/g, (_, d: string) => m[Number(d)] ?? '') : `k8s.${from}.${r.kind}.${k}`;
      if (name && name !== '__proto__') out.push(name, v as string);
    }
  }
  return out;
}

const OTEL_PREFIX = 'resource.opentelemetry.io/';

/** Indexes over the last known cluster state. */
export class ClusterState {
  /** Changes on every mutation. */
  generation = 0;
  readonly podsByUid = new Map<string, PodRec>();
  readonly podsByKey = new Map<string, PodRec>();
  readonly podByIp = new Map<string, PodRec>();
  readonly podByContainer = new Map<string, ContainerRec>();
  readonly replicaSets = new Map<string, OwnedRec>();
  readonly jobs = new Map<string, OwnedRec>();
  readonly services = new Map<string, ServiceRec>();
  readonly serviceByIp = new Map<string, ServiceRec>();
  readonly slices = new Map<string, SliceRec>();
  readonly slicesByIp = new Map<string, SliceRec[]>();
  readonly nodes = new Map<string, NodeRec>();
  readonly nodeByIp = new Map<string, NodeRec>();
  readonly namespaces = new Map<string, NamespaceRec>();
  private readonly deleted = new Set<PodRec>();
  private readonly now: () => number;

  constructor(private readonly opts: StoreOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** The sink a reflector of `resource` feeds. */
  sink(resource: StoreResource): ReflectorSink {
    const keyOf = (o: KObject) => `${str(o.metadata?.namespace)}/${str(o.metadata?.name)}`;
    const sizes: Record<StoreResource, () => Map<string, unknown>> = {
      pods: () => this.podsByKey,
      replicasets: () => this.replicaSets,
      jobs: () => this.jobs,
      services: () => this.services,
      endpointslices: () => this.slices,
      nodes: () => this.nodes,
      namespaces: () => this.namespaces,
    };
    const upsert = (o: KObject) => {
      if (!o?.metadata?.name) return;
      const map = sizes[resource]();
      const key = resource === 'nodes' || resource === 'namespaces' ? str(o.metadata.name) : keyOf(o);
      if (!map.has(key) && map.size >= this.opts.maxObjects) {
        this.opts.onDropped(resource);
        return;
      }
      this.upsert(resource, o);
    };
    return {
      upsert,
      remove: (o) => {
        if (o?.metadata?.name) this.remove(resource, o);
      },
      replace: (items) => {
        const keep = new Set<string>();
        for (const o of items) {
          if (!o?.metadata?.name) continue;
          keep.add(resource === 'nodes' || resource === 'namespaces' ? str(o.metadata.name) : keyOf(o));
        }
        const map = sizes[resource]();
        for (const key of [...map.keys()]) {
          if (keep.has(key)) continue;
          const slash = key.indexOf('/');
          const meta = resource === 'nodes' || resource === 'namespaces' ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
          this.remove(resource, { metadata: meta });
        }
        for (const o of items) upsert(o);
      },
    };
  }

  /** Drops pods whose delete grace has passed; called periodically. */
  sweep(): void {
    const now = this.now();
    for (const p of this.deleted) {
      if (now - p.deletedAt >= this.opts.podDeleteGraceMs) {
        this.deleted.delete(p);
        this.unindexPod(p);
      }
    }
  }

  /** Number of deleted pods still kept for their grace period. */
  get deletedPods(): number {
    return this.deleted.size;
  }

  /** The services whose endpoints include `ip` in namespace `ns`, sorted by name (stable choice of the first). */
  servicesOfIp(ip: string, ns: string): string[] {
    const slices = this.slicesByIp.get(ip);
    if (!slices) return [];
    const names = new Set<string>();
    for (const s of slices) if (s.namespace === ns && s.service) names.add(s.service);
    return [...names].sort();
  }

  private upsert(resource: StoreResource, o: KObject): void {
    this.generation++;
    switch (resource) {
      case 'pods':
        return this.upsertPod(o as Pod);
      case 'replicasets':
      case 'jobs': {
        const m = o.metadata!;
        const owner = controllerOf(m);
        const rec: OwnedRec = { name: str(m.name), namespace: str(m.namespace), uid: str(m.uid), ownerKind: str(owner?.kind), ownerName: str(owner?.name), ownerUid: str(owner?.uid) };
        (resource === 'jobs' ? this.jobs : this.replicaSets).set(`${rec.namespace}/${rec.name}`, rec);
        return;
      }
      case 'services':
        return this.upsertService(o as Service);
      case 'endpointslices':
        return this.upsertSlice(o as EndpointSlice);
      case 'nodes':
        return this.upsertNode(o as Node);
      default: {
        const m = o.metadata!;
        this.namespaces.set(str(m.name), { name: str(m.name), uid: str(m.uid), fields: extractFields(this.opts.rules, 'namespace', m.labels, m.annotations) });
      }
    }
  }

  private remove(resource: StoreResource, o: KObject): void {
    const m = o.metadata!;
    const key = `${str(m.namespace)}/${str(m.name)}`;
    this.generation++;
    switch (resource) {
      case 'pods': {
        const rec = (m.uid && this.podsByUid.get(m.uid)) || this.podsByKey.get(key);
        if (!rec || rec.deletedAt) return;
        rec.deletedAt = this.now() || 1;
        if (this.opts.podDeleteGraceMs <= 0) this.unindexPod(rec);
        else this.deleted.add(rec);
        return;
      }
      case 'replicasets':
        this.replicaSets.delete(key);
        return;
      case 'jobs':
        this.jobs.delete(key);
        return;
      case 'services': {
        const rec = this.services.get(key);
        if (!rec) return;
        this.services.delete(key);
        for (const ip of rec.ips) if (this.serviceByIp.get(ip) === rec) this.serviceByIp.delete(ip);
        return;
      }
      case 'endpointslices': {
        const rec = this.slices.get(key);
        if (rec) this.unindexSlice(rec);
        return;
      }
      case 'nodes': {
        const rec = this.nodes.get(str(m.name));
        if (!rec) return;
        this.nodes.delete(rec.name);
        for (const ip of rec.ips) if (this.nodeByIp.get(ip) === rec) this.nodeByIp.delete(ip);
        return;
      }
      default:
        this.namespaces.delete(str(m.name));
    }
  }

  private upsertPod(p: Pod): void {
    const m = p.metadata!;
    const spec = p.spec ?? {};
    const status = p.status ?? {};
    const owner = controllerOf(m);
    const ips: string[] = [];
    if (Array.isArray(status.podIPs)) for (const x of status.podIPs) if (x && typeof x.ip === 'string' && x.ip) ips.push(canonicalIp(x.ip));
    if (!ips.length && typeof status.podIP === 'string' && status.podIP) ips.push(canonicalIp(status.podIP));
    const rec: PodRec = {
      uid: str(m.uid),
      name: str(m.name),
      namespace: str(m.namespace),
      nodeName: str(spec.nodeName),
      hostname: str(spec.hostname) || str(m.name),
      ips,
      hostNetwork: spec.hostNetwork === true,
      terminated: status.phase === 'Succeeded' || status.phase === 'Failed',
      startTime: str(status.startTime),
      ownerKind: str(owner?.kind),
      ownerName: str(owner?.name),
      ownerUid: str(owner?.uid),
      podTemplateHash: str(m.labels?.['pod-template-hash']),
      containers: [],
      fields: extractFields(this.opts.rules, 'pod', m.labels, m.annotations),
      otel: [],
      deletedAt: 0,
      cacheGen: -1,
      cache: undefined,
    };
    const ann = m.annotations;
    if (ann && typeof ann === 'object') {
      for (const k of Object.keys(ann)) {
        const attr = k.startsWith(OTEL_PREFIX) ? k.slice(OTEL_PREFIX.length) : '';
        if (attr && attr !== '__proto__' && typeof ann[k] === 'string') rec.otel.push(attr, ann[k]);
      }
    }
    const images = new Map<string, string>();
    for (const list of [spec.containers, spec.initContainers]) {
      if (Array.isArray(list)) for (const c of list) if (c?.name) images.set(c.name, str(c.image));
    }
    const seen = new Set<string>();
    for (const list of [status.containerStatuses, status.initContainerStatuses, status.ephemeralContainerStatuses]) {
      if (!Array.isArray(list)) continue;
      for (const cs of list) {
        if (!cs?.name || seen.has(cs.name)) continue;
        seen.add(cs.name);
        const cid = str(cs.containerID);
        const sep = cid.indexOf('://');
        rec.containers.push({ name: cs.name, id: sep >= 0 ? cid.slice(sep + 3) : cid, image: images.get(cs.name) || str(cs.image), pod: rec });
      }
    }
    // Containers not started yet have no status; they are still the pod's containers.
    if (Array.isArray(spec.containers)) {
      for (const c of spec.containers) if (c?.name && !seen.has(c.name)) rec.containers.push({ name: c.name, id: '', image: str(c.image), pod: rec });
    }
    const key = `${rec.namespace}/${rec.name}`;
    const old = this.podsByUid.get(rec.uid) ?? this.podsByKey.get(key);
    if (old) {
      this.deleted.delete(old);
      this.unindexPod(old);
    }
    this.podsByUid.set(rec.uid, rec);
    this.podsByKey.set(key, rec);
    if (!rec.hostNetwork && !rec.terminated) for (const ip of ips) this.podByIp.set(ip, rec);
    for (const c of rec.containers) if (c.id) this.podByContainer.set(c.id, c);
  }

  private unindexPod(rec: PodRec): void {
    this.generation++;
    if (this.podsByUid.get(rec.uid) === rec) this.podsByUid.delete(rec.uid);
    const key = `${rec.namespace}/${rec.name}`;
    if (this.podsByKey.get(key) === rec) this.podsByKey.delete(key);
    for (const ip of rec.ips) if (this.podByIp.get(ip) === rec) this.podByIp.delete(ip);
    for (const c of rec.containers) if (c.id && this.podByContainer.get(c.id) === c) this.podByContainer.delete(c.id);
  }

  private upsertService(o: Service): void {
    const m = o.metadata!;
    const spec = o.spec ?? {};
    const ips = new Set<string>();
    for (const ip of [spec.clusterIP, ...(Array.isArray(spec.clusterIPs) ? spec.clusterIPs : []), ...(Array.isArray(spec.externalIPs) ? spec.externalIPs : [])]) {
      // "None" marks a headless service: its name resolves to the pods themselves.
      if (typeof ip === 'string' && ip && ip !== 'None') ips.add(canonicalIp(ip));
    }
    const rec: ServiceRec = { name: str(m.name), namespace: str(m.namespace), uid: str(m.uid), ips: [...ips] };
    const key = `${rec.namespace}/${rec.name}`;
    const old = this.services.get(key);
    if (old) for (const ip of old.ips) if (this.serviceByIp.get(ip) === old) this.serviceByIp.delete(ip);
    this.services.set(key, rec);
    for (const ip of rec.ips) this.serviceByIp.set(ip, rec);
  }

  private upsertSlice(o: EndpointSlice): void {
    const m = o.metadata!;
    const ips = new Set<string>();
    if (Array.isArray(o.endpoints)) {
      for (const e of o.endpoints) if (Array.isArray(e?.addresses)) for (const a of e.addresses) if (typeof a === 'string' && a) ips.add(canonicalIp(a));
    }
    const key = `${str(m.namespace)}/${str(m.name)}`;
    const rec: SliceRec = { key, namespace: str(m.namespace), service: str(m.labels?.['kubernetes.io/service-name']), ips: [...ips] };
    const old = this.slices.get(key);
    if (old) this.unindexSlice(old);
    this.slices.set(key, rec);
    for (const ip of rec.ips) {
      const list = this.slicesByIp.get(ip);
      if (list) list.push(rec);
      else this.slicesByIp.set(ip, [rec]);
    }
  }

  private unindexSlice(rec: SliceRec): void {
    if (this.slices.get(rec.key) === rec) this.slices.delete(rec.key);
    for (const ip of rec.ips) {
      const list = this.slicesByIp.get(ip);
      if (!list) continue;
      const i = list.indexOf(rec);
      if (i >= 0) list.splice(i, 1);
      if (!list.length) this.slicesByIp.delete(ip);
    }
  }

  private upsertNode(o: Node): void {
    const m = o.metadata!;
    const ips: string[] = [];
    const addrs = o.status?.addresses;
    if (Array.isArray(addrs)) {
      for (const a of addrs) if ((a?.type === 'InternalIP' || a?.type === 'ExternalIP') && typeof a.address === 'string' && a.address) ips.push(canonicalIp(a.address));
    }
    const rec: NodeRec = { name: str(m.name), uid: str(m.uid), ips, fields: extractFields(this.opts.rules, 'node', m.labels, m.annotations) };
    const old = this.nodes.get(rec.name);
    if (old) for (const ip of old.ips) if (this.nodeByIp.get(ip) === old) this.nodeByIp.delete(ip);
    this.nodes.set(rec.name, rec);
    for (const ip of ips) this.nodeByIp.set(ip, rec);
  }
}
