/**
 * The state behind one configured `autotagging` processor, shared by the
 * instances the graph creates for each pipeline (so one Kubernetes watch and
 * one process cache serve traces, metrics and logs): host facts, the process
 * cache, the cluster state, custom tags, and the per-address cache of end
 * tags.
 *
 * Rules it applies:
 * - Resource attributes are only inserted, never overwritten (host facts
 *   too, unless `override`), except service.name when it is an SDK default.
 * - A pid is only looked up in this host's /proc when the data is this
 *   host's: item `process.pid` (eBPF spans) unless the resource names
 *   another host, resource `process.pid` (SDKs) only when the resource names
 *   this host (host.id or host.name).
 * - The ends of zero-code spans and flows (`metaflow.client.ip`,
 *   `metaflow.server.ip`) get `metaflow.client.<attr>` /
 *   `metaflow.server.<attr>` item attributes; each address is worked out
 *   once and cached until the cluster state or the custom tags change.
 * - With `local_ends`, the ends of zero-code items made on this host also get
 *   host facts when their address is this host's, and process facts when
 *   their pid is known: the item's own process (`metaflow.process.pid`) is the
 *   server end of a server span and the client end of a client span; a local
 *   peer is named by `metaflow.<end>.process.pid` (the ebpf receiver sets it
 *   when it traced the other socket of a loopback or same-host connection).
 *   So curl → nginx on one host names both processes on both spans.
 */
import os from 'node:os';
import type { CreateSettings } from '../../pipeline/component';
import type { Logger } from '../../pipeline/logger';
import type { AnyValue, Attributes } from '../../pipeline/pdata';
import type { ComponentTelemetry } from '../../pipeline/telemetry';
import { compileGoRegExp } from '../internal/goregex';
import type { AutoTaggingConfig } from './config';
import { CustomTags } from './customtags';
import { detectHost } from './host';
import { canonicalIp } from './ip';
import { effectiveAuthType } from './k8s/client';
import { K8sWatcher } from './k8s/watcher';
import { ProcessCache, ProcReader, type ProcessFacts } from './process';

interface EndpointEntry {
  k8sGen: number;
  tagsGen: number;
  client: AnyValue[];
  server: AnyValue[];
}

const EMPTY: AnyValue[] = [];

/** Process facts copied onto an end (kept few: every span carries them). */
const END_PROCESS_KEYS = new Set(['process.pid', 'process.executable.name', 'process.command_line', 'process.owner', 'container.id']);

/** [resource key, end key] pairs for copying an item's own process facts onto its end. */
const CLIENT_PROCESS_KEYS: ReadonlyArray<readonly [string, string]> = [...END_PROCESS_KEYS].map((k) => [k, `metaflow.client.${k}`] as const);
const SERVER_PROCESS_KEYS: ReadonlyArray<readonly [string, string]> = [...END_PROCESS_KEYS].map((k) => [k, `metaflow.server.${k}`] as const);

/** Which end of a zero-code item its own process is. */
export type OwnEnd = 'client' | 'server' | undefined;

interface EndLists {
  client: AnyValue[];
  server: AnyValue[];
}

/** Whether service.name is missing or an SDK's placeholder (`unknown_service`, `unknown_service:node`, …). */
export function lacksServiceName(a: Attributes): boolean {
  const v = a['service.name'];
  return v === undefined || v === null || v === '' || (typeof v === 'string' && v.startsWith('unknown_service'));
}

/** Inserts a flat list's attributes that `a` lacks (or all, with `override`); arrays are copied, never shared between resources. */
export function insertFlat(a: Attributes, flat: readonly AnyValue[], override = false): void {
  for (let i = 0; i < flat.length; i += 2) {
    const k = flat[i] as string;
    if (!override && a[k] !== undefined) continue;
    const v = flat[i + 1];
    a[k] = Array.isArray(v) ? v.slice() : v;
  }
}

/** Host, process, Kubernetes and custom tagging for one configured processor. */
export class Tagger {
  readonly procs: ProcessCache | undefined;
  readonly custom: CustomTags;
  k8s: K8sWatcher | undefined;
  private hostFlat: AnyValue[] = EMPTY;
  private readonly hostNames = new Set<string>([os.hostname()]);
  private hostId = '';
  private readonly endpoints = new Map<string, EndpointEntry>();
  /** This host's interface addresses (canonical), read at start. */
  private readonly localIps = new Set<string>();
  /** The detected host.name and host.id ('' when not detected), for ends of this host's data. */
  private ownHostName = '';
  private ownHostId = '';
  private readonly procEnds = new WeakMap<ProcessFacts, EndLists>();
  private readonly telemetry: ComponentTelemetry;
  private readonly logger: Logger;

  constructor(
    readonly cfg: AutoTaggingConfig,
    settings: CreateSettings,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.telemetry = settings.telemetry;
    this.logger = settings.logger;
    if (cfg.process.enabled) {
      const re = compileGoRegExp(cfg.process.mask_args_regex);
      // Validated at load; a pattern that cannot compile masks every named argument rather than none.
      this.procs = new ProcessCache(new ProcReader(cfg.process.proc_path, re.ok ? re.re : /.*/), cfg.process.cache_size, this.telemetry);
    }
    this.custom = new CustomTags(cfg.custom_tags, this.telemetry, this.logger);
    this.telemetry.gauge('metaflow_autotagging_cache_size', 'Entries in the autotagging caches.', () => this.endpoints.size, { cache: 'endpoint' });
  }

  /** Whether items need their ends looked at (Kubernetes or CIDR tags configured). */
  get tagsEnds(): boolean {
    return this.k8s !== undefined || this.custom.hasCidrs;
  }

  /** Whether the ends of this host's zero-code items get host and process facts. */
  get tagsLocalEnds(): boolean {
    return this.cfg.local_ends;
  }

  /** Detects the host, loads custom tags, starts the process refresh and the Kubernetes watch. */
  async start(): Promise<void> {
    const cfg = this.cfg;
    this.custom.start();
    const facts = await detectHost(cfg, this.env);
    for (const p of facts.problems) this.logger.warn('host detector skipped', { problem: p });
    const flat: AnyValue[] = [];
    for (const k of Object.keys(facts.attributes)) flat.push(k, facts.attributes[k]);
    this.hostFlat = flat;
    const name = facts.attributes['host.name'];
    if (typeof name === 'string') this.hostNames.add(name);
    const id = facts.attributes['host.id'];
    if (typeof id === 'string') this.hostId = id;
    if (typeof name === 'string') this.ownHostName = name;
    if (typeof id === 'string') this.ownHostId = id;
    for (const list of Object.values(os.networkInterfaces())) for (const addr of list ?? []) this.localIps.add(canonicalIp(addr.address));
    this.procs?.startRefresh(cfg.process.refresh_interval);
    const auth = effectiveAuthType(cfg, this.env);
    if (auth) {
      const watcher = new K8sWatcher(cfg, auth, this.telemetry, this.logger, this.env);
      await watcher.start();
      this.k8s = watcher;
    }
  }

  /** Stops background work. Safe to call repeatedly. */
  async stop(): Promise<void> {
    this.custom.stop();
    this.procs?.stop();
    const k = this.k8s;
    this.k8s = undefined;
    await k?.stop();
  }

  /** Whether a resource names this host (true), another (false), or no host (undefined). */
  locality(a: Attributes): boolean | undefined {
    const id = a['host.id'];
    if (typeof id === 'string' && id !== '' && this.hostId !== '') return id === this.hostId;
    const name = a['host.name'];
    if (typeof name === 'string' && name !== '') return this.hostNames.has(name);
    return undefined;
  }

  /**
   * Tags one resource: process facts (when given), host facts, the pod's
   * attributes, a derived service.name, and custom tags by IP and process
   * name. `connectionIp` is the address the batch came from, for
   * `from: connection` rules (undefined for data MetaFlow made itself).
   * Returns whether a pod was associated.
   */
  tagResource(a: Attributes, facts: ProcessFacts | undefined, connectionIp: string | undefined): boolean {
    if (facts) insertFlat(a, facts.flat);
    if (this.hostFlat.length) insertFlat(a, this.hostFlat, this.cfg.override);
    let workload: string | undefined;
    let associated = false;
    const k8s = this.k8s;
    if (k8s) {
      const m = k8s.metadata.associate(a, this.cfg.pod_association, facts && (facts.containerId || facts.podUid) ? facts : undefined, connectionIp);
      if (m) {
        associated = true;
        if (m.byConnection && a['k8s.pod.ip'] === undefined && connectionIp) a['k8s.pod.ip'] = canonicalIp(connectionIp);
        insertFlat(a, k8s.metadata.podAttributes(m.pod, m.container));
        workload = k8s.metadata.serviceName(m.pod);
      }
    }
    const exe = facts ? facts.executableName : a['process.executable.name'];
    if (this.cfg.derive_service_name) {
      const name = a['service.name'];
      // A zero-code receiver names the service after the process; a workload name says more.
      const placeholder = lacksServiceName(a) || (workload !== undefined && typeof name === 'string' && (name === a['process.executable.name'] || name === facts?.comm));
      const derived = workload ?? (typeof exe === 'string' && exe !== '' ? exe : undefined);
      if (placeholder && derived) a['service.name'] = derived;
    }
    if (this.custom.hasCidrs) {
      const ip = resourceIp(a);
      if (ip) insertFlat(a, this.custom.cidrTags(canonicalIp(ip)));
    }
    if (typeof exe === 'string') insertFlat(a, this.custom.processTags(exe, facts ? facts.comm : ''));
    return associated;
  }

  /**
   * Tags both ends of a zero-code span, flow or data point from its
   * `metaflow.server.ip` and `metaflow.client.ip`. Per-item hot path: two map
   * lookups and a loop of assignments.
   */
  tagEnds(a: Attributes): void {
    const server = a['metaflow.server.ip'];
    if (typeof server === 'string') this.applyEnd(a, server, true);
    const client = a['metaflow.client.ip'];
    if (typeof client === 'string') this.applyEnd(a, client, false);
  }

  /**
   * Whether an address belongs to the host that made the data: loopback
   * always; one of this host's interface addresses (read at start) when the
   * data is this host's (`local`).
   */
  isHostIp(rawIp: string, local: boolean): boolean {
    const ip = canonicalIp(rawIp);
    return ip.startsWith('127.') || ip === '::1' || (local && this.localIps.has(ip));
  }

  /**
   * Names the item's own process as its `own` end (`metaflow.<own>.process.pid`
   * from `metaflow.process.pid`) and collects the end pids to resolve.
   */
  markOwnEnd(a: Attributes, own: OwnEnd, pids: number[]): void {
    if (own) {
      const pid = a['metaflow.process.pid'];
      const key = own === 'server' ? 'metaflow.server.process.pid' : 'metaflow.client.process.pid';
      if (typeof pid === 'number' && a[key] === undefined) a[key] = pid;
    }
    const c = a['metaflow.client.process.pid'];
    if (typeof c === 'number') pids.push(c);
    const s = a['metaflow.server.process.pid'];
    if (typeof s === 'number') pids.push(s);
  }

  /**
   * Tags the ends of a zero-code item (`local_ends`), never overwriting: an
   * end on the host that made the data ({@link isHostIp}) gets that host's
   * host.name and host.id — the resource's, else, for this host's data, the
   * detected ones; with `local` (the data is this host's), an end with a
   * known pid (resolved before, see {@link markOwnEnd}) gets its process facts.
   */
  tagLocalEnds(a: Attributes, resource: Attributes, local: boolean): void {
    const rn = resource['host.name'];
    const ri = resource['host.id'];
    const hostName = typeof rn === 'string' && rn !== '' ? rn : local ? this.ownHostName : '';
    const hostId = typeof ri === 'string' && ri !== '' ? ri : local ? this.ownHostId : '';
    if (hostName !== '' || hostId !== '') {
      const server = a['metaflow.server.ip'];
      if (typeof server === 'string' && this.isHostIp(server, local)) {
        if (hostName !== '' && a['metaflow.server.host.name'] === undefined) a['metaflow.server.host.name'] = hostName;
        if (hostId !== '' && a['metaflow.server.host.id'] === undefined) a['metaflow.server.host.id'] = hostId;
      }
      const client = a['metaflow.client.ip'];
      if (typeof client === 'string' && this.isHostIp(client, local)) {
        if (hostName !== '' && a['metaflow.client.host.name'] === undefined) a['metaflow.client.host.name'] = hostName;
        if (hostId !== '' && a['metaflow.client.host.id'] === undefined) a['metaflow.client.host.id'] = hostId;
      }
    }
    if (!local) return;
    const procs = this.procs;
    const own = resource['process.pid'];
    const cp = a['metaflow.client.process.pid'];
    if (typeof cp === 'number') {
      const f = procs?.get(cp);
      if (f) insertEnd(a, this.procEnd(f).client);
      // The item's own process may be gone from /proc (a short-lived client): its resource still says what it was.
      if (cp === own) insertFromResource(a, resource, CLIENT_PROCESS_KEYS);
    }
    const sp = a['metaflow.server.process.pid'];
    if (typeof sp === 'number') {
      const f = procs?.get(sp);
      if (f) insertEnd(a, this.procEnd(f).server);
      if (sp === own) insertFromResource(a, resource, SERVER_PROCESS_KEYS);
    }
  }

  private procEnd(f: ProcessFacts): EndLists {
    let e = this.procEnds.get(f);
    if (!e) {
      const base: AnyValue[] = [];
      for (let i = 0; i < f.flat.length; i += 2) if (END_PROCESS_KEYS.has(f.flat[i] as string)) base.push(f.flat[i], f.flat[i + 1]);
      e = { client: prefixed('metaflow.client.', base, EMPTY), server: prefixed('metaflow.server.', base, EMPTY) };
      this.procEnds.set(f, e);
    }
    return e;
  }

  private applyEnd(a: Attributes, ip: string, server: boolean): void {
    let e = this.endpoints.get(ip);
    const k8sGen = this.k8s ? this.k8s.state.generation : 0;
    if (e === undefined || e.k8sGen !== k8sGen || e.tagsGen !== this.custom.generation) e = this.endpoint(ip, k8sGen);
    const flat = server ? e.server : e.client;
    for (let i = 0; i < flat.length; i += 2) {
      const k = flat[i] as string;
      if (a[k] === undefined) a[k] = flat[i + 1];
    }
  }

  /** Works out and caches the end tags of an address (bounded: the oldest entry goes when full). */
  private endpoint(rawIp: string, k8sGen: number): EndpointEntry {
    const ip = canonicalIp(rawIp);
    let base: AnyValue[] = EMPTY;
    const k8s = this.k8s;
    if (k8s) {
      const owner = k8s.metadata.ownerOfIp(ip);
      if (owner && 'pod' in owner) base = k8s.metadata.podEndAttributes(owner.pod);
      else if (owner && 'service' in owner) base = k8s.metadata.serviceAttributes(owner.service);
      else if (owner) base = k8s.metadata.nodeAttributes(owner.node);
    }
    const extra = this.custom.cidrTags(ip);
    const entry: EndpointEntry = { k8sGen, tagsGen: this.custom.generation, client: prefixed('metaflow.client.', base, extra), server: prefixed('metaflow.server.', base, extra) };
    if (!this.endpoints.has(rawIp) && this.endpoints.size >= this.cfg.endpoint_cache_size) {
      const oldest = this.endpoints.keys().next();
      if (!oldest.done) this.endpoints.delete(oldest.value);
      this.telemetry.counter('metaflow_autotagging_cache_evictions_total', 'Entries evicted from the autotagging caches, by cache and reason.', 1, { cache: 'endpoint', reason: 'capacity' });
    }
    this.endpoints.set(rawIp, entry);
    return entry;
  }
}

function insertFromResource(a: Attributes, resource: Attributes, keys: ReadonlyArray<readonly [string, string]>): void {
  for (const [from, to] of keys) {
    const v = resource[from];
    if (v !== undefined && a[to] === undefined) a[to] = v;
  }
}

function insertEnd(a: Attributes, flat: readonly AnyValue[]): void {
  for (let i = 0; i < flat.length; i += 2) {
    const k = flat[i] as string;
    if (a[k] === undefined) a[k] = flat[i + 1];
  }
}

function prefixed(prefix: string, a: readonly AnyValue[], b: readonly AnyValue[]): AnyValue[] {
  if (!a.length && !b.length) return EMPTY;
  const out: AnyValue[] = [];
  const seen = new Set<string>();
  for (const list of [a, b]) {
    for (let i = 0; i < list.length; i += 2) {
      const k = prefix + (list[i] as string);
      // Kubernetes facts first: a custom tag never hides one.
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(k, list[i + 1]);
    }
  }
  return out;
}

/** The address a resource is known by, for CIDR tags: its pod IP, else its host's first IP. */
function resourceIp(a: Attributes): string | undefined {
  for (const k of ['k8s.pod.ip', 'net.host.ip', 'host.ip']) {
    const v = a[k];
    if (typeof v === 'string' && v) return v;
    if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  }
  return undefined;
}
