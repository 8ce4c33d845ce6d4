/**
 * The `autotagging` processor: one instance per pipeline, all instances of
 * one configured id sharing a {@link Tagger}.
 *
 * Per batch:
 * 1. For traces and logs, a resource group whose items carry different
 *    `process.pid` values (eBPF spans of several processes) is split into
 *    one group per pid, so each process's facts can live on a resource.
 * 2. Pids not cached yet are read from /proc, all at once and off the
 *    per-item path.
 * 3. Each resource is tagged (process, host, pod, service.name, custom
 *    tags); then each item's ends, when it has any: Kubernetes and CIDR
 *    tags by address, and for data made on this host (`local_ends`) host
 *    facts by address and process facts by pid (a zero-code span's own
 *    process is its server end when its kind is server, its client end when
 *    client; the end pids are resolved in step 2 with the others).
 *
 * Edits the batch in place (`mutatesData`); the graph hands it its own copy
 * when the batch is shared.
 */
import { clientInfo } from '../../pipeline/clientinfo';
import type { Consumer, Processor } from '../../pipeline/component';
import {
  countItems,
  type Attributes,
  type LogRecord,
  type Logs,
  type Metrics,
  type InstrumentationScope,
  type Resource,
  type ResourceLogs,
  type ResourceSpans,
  type ScopeLogs,
  type ScopeSpans,
  type Signal,
  type SignalData,
  SpanKind,
  type Span,
  type Traces,
} from '../../pipeline/pdata';
import type { ComponentTelemetry } from '../../pipeline/telemetry';
import type { OwnEnd, Tagger } from './tagger';

/** A handle on the shared tagger: taken at start, given back at shutdown. */
export interface TaggerLease {
  acquire(): Promise<Tagger>;
  release(): Promise<void>;
}

/** No pid on any item of a group. */
const NO_PID = -1;
/** Items of a group carry different pids. */
const MIXED = -2;

/** The pid all items of a group share, {@link NO_PID}, or {@link MIXED}. */
function groupPid(scopes: ReadonlyArray<ReadonlyArray<{ attributes: Attributes }>>): number {
  let pid = NO_PID;
  for (const items of scopes) {
    for (let i = 0; i < items.length; i++) {
      const p = items[i].attributes['process.pid'];
      if (typeof p !== 'number') continue;
      if (pid === NO_PID) pid = p;
      else if (p !== pid) return MIXED;
    }
  }
  return pid;
}

function itemPid(a: Attributes): number {
  const p = a['process.pid'];
  return typeof p === 'number' ? p : NO_PID;
}

/**
 * How a resource-grouped signal is walked and split: traces and logs share
 * one tagging routine through this (metrics have no per-item pid to split by).
 */
interface Shape<G extends { resource: Resource }, Sc extends { scope: InstrumentationScope }, I extends { attributes: Attributes }> {
  scopes(g: G): Sc[];
  items(s: Sc): I[];
  /** An empty group like `g` (its resource copied) and a scope like `s` holding `items`, for splitting by pid. */
  emptyGroup(g: G): G;
  addScope(g: G, s: Sc, items: I[]): void;
  /** Which end of a zero-code item its own process is: spans by kind, undefined otherwise. */
  ownEnd(item: I): OwnEnd;
}

const SPANS: Shape<ResourceSpans, ScopeSpans, Span> = {
  scopes: (g) => g.scopeSpans,
  items: (s) => s.spans,
  emptyGroup: (g) => ({ resource: copyResource(g.resource), scopeSpans: [], schemaUrl: g.schemaUrl }),
  addScope: (g, s, spans) => g.scopeSpans.push({ scope: s.scope, spans, schemaUrl: s.schemaUrl }),
  ownEnd: (span) => (span.kind === SpanKind.SERVER ? 'server' : span.kind === SpanKind.CLIENT ? 'client' : undefined),
};

const LOGS: Shape<ResourceLogs, ScopeLogs, LogRecord> = {
  scopes: (g) => g.scopeLogs,
  items: (s) => s.logRecords,
  emptyGroup: (g) => ({ resource: copyResource(g.resource), scopeLogs: [], schemaUrl: g.schemaUrl }),
  addScope: (g, s, logRecords) => g.scopeLogs.push({ scope: s.scope, logRecords, schemaUrl: s.schemaUrl }),
  ownEnd: () => undefined,
};

/** One group per pid of the items (scopes kept apart), in order of first appearance. */
function splitByPid<G extends { resource: Resource }, Sc extends { scope: InstrumentationScope }, I extends { attributes: Attributes }>(
  shape: Shape<G, Sc, I>,
  group: G,
): Array<[number, G]> {
  const groups = new Map<number, G>();
  for (const sc of shape.scopes(group)) {
    const perPid = new Map<number, I[]>();
    for (const item of shape.items(sc)) {
      const pid = itemPid(item.attributes);
      let list = perPid.get(pid);
      if (!list) {
        list = [];
        perPid.set(pid, list);
        let g = groups.get(pid);
        if (!g) {
          g = shape.emptyGroup(group);
          groups.set(pid, g);
        }
        shape.addScope(g, sc, list);
      }
      list.push(item);
    }
  }
  return [...groups];
}

/**
 * Whether every scope of a group is MetaFlow's own (`metaflow.ebpf`,
 * `metaflow/prometheusremotewrite`, …): such data reached this process from
 * an agent or a scraper, so the connection says nothing about the workload.
 */
function madeByMetaflow(scopes: ReadonlyArray<{ scope: InstrumentationScope }>): boolean {
  if (!scopes.length) return false;
  for (const s of scopes) if (!s.scope.name.startsWith('metaflow.') && !s.scope.name.startsWith('metaflow/')) return false;
  return true;
}

function copyResource(r: Resource): Resource {
  return { attributes: { ...r.attributes }, droppedAttributesCount: r.droppedAttributesCount };
}

/** One pipeline's autotagging processor. */
export class AutoTaggingProcessor<S extends Signal> implements Processor<S> {
  readonly mutatesData = true;
  private tagger: Tagger | undefined;

  constructor(
    private readonly signal: S,
    private readonly lease: TaggerLease,
    private readonly next: Consumer<S>,
    private readonly telemetry: ComponentTelemetry,
  ) {}

  async start(): Promise<void> {
    this.tagger ??= await this.lease.acquire();
  }

  async shutdown(): Promise<void> {
    // Nothing is held between batches; only the shared tagger is given back.
    if (!this.tagger) return;
    this.tagger = undefined;
    await this.lease.release();
  }

  async consume(data: SignalData[S]): Promise<void> {
    const n = countItems(this.signal, data);
    this.telemetry.incoming(this.signal, n);
    const tg = this.tagger;
    if (tg) {
      switch (this.signal) {
        case 'traces':
          await this.traces(tg, data as Traces);
          break;
        case 'metrics':
          await this.metrics(tg, data as Metrics);
          break;
        default:
          await this.logs(tg, data as Logs);
      }
    }
    await this.next.consume(data);
    this.telemetry.outgoing(this.signal, n);
  }

  /**
   * The pid whose facts go on a group's resource: the items' common pid
   * unless the resource names another host, else the resource's own
   * `process.pid` when it names this host.
   */
  private resourcePid(tg: Tagger, a: Attributes, itemsPid: number): number {
    if (!tg.procs) return NO_PID;
    const local = tg.locality(a);
    if (itemsPid >= 0) return local === false ? NO_PID : itemsPid;
    const p = a['process.pid'];
    return local === true && typeof p === 'number' ? p : NO_PID;
  }

  /** Reads the pids not cached yet (one /proc pass per batch, not per item). */
  private async resolvePids(tg: Tagger, pids: readonly number[]): Promise<void> {
    const procs = tg.procs;
    if (!procs) return;
    let missing: number[] | undefined;
    for (const pid of pids) if (pid >= 0 && !procs.has(pid)) (missing ??= []).push(pid);
    if (missing) await procs.resolve(missing);
  }

  private count(associated: number, total: number): void {
    if (!this.tagger?.k8s) return;
    this.telemetry.counter('metaflow_autotagging_resources_total', 'Resources tagged, by whether a pod was associated.', associated, { result: 'associated' });
    this.telemetry.counter('metaflow_autotagging_resources_total', 'Resources tagged, by whether a pod was associated.', total - associated, { result: 'unassociated' });
  }

  private async traces(tg: Tagger, t: Traces): Promise<void> {
    const groups = await this.tagGroups(tg, t, t.resourceSpans, SPANS);
    if (groups) t.resourceSpans = groups;
  }

  private async logs(tg: Tagger, l: Logs): Promise<void> {
    const groups = await this.tagGroups(tg, l, l.resourceLogs, LOGS);
    if (groups) l.resourceLogs = groups;
  }

  /**
   * Tags the resource groups of a batch of spans or logs: groups mixing pids
   * are split (the new list is returned, else undefined), pids — the groups'
   * and, for this host's zero-code items, their ends' — are resolved at once,
   * then each resource and each item's ends are tagged.
   */
  private async tagGroups<G extends { resource: Resource }, Sc extends { scope: InstrumentationScope }, I extends { attributes: Attributes }>(
    tg: Tagger,
    data: Traces | Logs,
    input: G[],
    shape: Shape<G, Sc, I>,
  ): Promise<G[] | undefined> {
    let groups = input;
    const pids: number[] = [];
    let split: G[] | undefined;
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g];
      const p = tg.procs ? groupPid(shape.scopes(group).map(shape.items)) : NO_PID;
      if (p === MIXED && tg.locality(group.resource.attributes) !== false) {
        split ??= groups.slice(0, g);
        for (const [pid, part] of splitByPid(shape, group)) {
          split.push(part);
          pids.push(this.resourcePid(tg, part.resource.attributes, pid));
        }
        continue;
      }
      split?.push(group);
      pids.push(this.resourcePid(tg, group.resource.attributes, p === MIXED ? NO_PID : p));
    }
    if (split) groups = split;
    // Which groups are this host's data, for local end tags; their zero-code items' end pids join the lookup.
    const localEnds = tg.tagsLocalEnds ? groups.map((group) => tg.locality(group.resource.attributes) !== false) : undefined;
    const endPids: number[] = [];
    if (localEnds) {
      for (let g = 0; g < groups.length; g++) {
        if (!localEnds[g]) continue;
        for (const sc of shape.scopes(groups[g])) {
          for (const item of shape.items(sc)) {
            if (item.attributes['metaflow.server.ip'] !== undefined) tg.markOwnEnd(item.attributes, shape.ownEnd(item), endPids);
          }
        }
      }
    }
    await this.resolvePids(tg, endPids.length ? pids.concat(endPids) : pids);
    const ends = tg.tagsEnds;
    const sender = clientInfo(data)?.address;
    let associated = 0;
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g];
      const res = group.resource.attributes;
      const scopes = shape.scopes(group);
      const conn = sender !== undefined && !madeByMetaflow(scopes) ? sender : undefined;
      if (tg.tagResource(res, pids[g] >= 0 ? tg.procs!.get(pids[g]) : undefined, conn)) associated++;
      if (!localEnds && !ends) continue;
      for (const sc of scopes) {
        const items = shape.items(sc);
        for (let i = 0; i < items.length; i++) {
          const a = items[i].attributes;
          if (localEnds && a['metaflow.server.ip'] !== undefined) tg.tagLocalEnds(a, res, localEnds[g]);
          if (ends) tg.tagEnds(a);
        }
      }
    }
    this.count(associated, groups.length);
    return split;
  }

  private async metrics(tg: Tagger, m: Metrics): Promise<void> {
    const groups = m.resourceMetrics;
    const pids = groups.map((rm) => this.resourcePid(tg, rm.resource.attributes, NO_PID));
    await this.resolvePids(tg, pids);
    const ends = tg.tagsEnds;
    const sender = clientInfo(m)?.address;
    let associated = 0;
    for (let g = 0; g < groups.length; g++) {
      const rm = groups[g];
      const conn = sender !== undefined && !madeByMetaflow(rm.scopeMetrics) ? sender : undefined;
      if (tg.tagResource(rm.resource.attributes, pids[g] >= 0 ? tg.procs!.get(pids[g]) : undefined, conn)) associated++;
      if (!ends) continue;
      for (const sm of rm.scopeMetrics) {
        for (const metric of sm.metrics) {
          if (metric.data.type === 'empty') continue;
          const points = metric.data.dataPoints;
          for (let i = 0; i < points.length; i++) tg.tagEnds(points[i].attributes);
        }
      }
    }
    this.count(associated, groups.length);
  }
}
