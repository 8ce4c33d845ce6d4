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
  type Signal,
  type SignalData,
  SpanKind,
  type Span,
  type Traces,
} from '../../pipeline/pdata';
import type { ComponentTelemetry } from '../../pipeline/telemetry';
import type { Tagger } from './tagger';

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

function splitSpans(rs: ResourceSpans): Array<[number, ResourceSpans]> {
  const groups = new Map<number, ResourceSpans>();
  for (const ss of rs.scopeSpans) {
    const perPid = new Map<number, Span[]>();
    for (const span of ss.spans) {
      const pid = itemPid(span.attributes);
      let list = perPid.get(pid);
      if (!list) {
        list = [];
        perPid.set(pid, list);
        let g = groups.get(pid);
        if (!g) {
          g = { resource: copyResource(rs.resource), scopeSpans: [], schemaUrl: rs.schemaUrl };
          groups.set(pid, g);
        }
        g.scopeSpans.push({ scope: ss.scope, spans: list, schemaUrl: ss.schemaUrl });
      }
      list.push(span);
    }
  }
  return [...groups];
}

function splitLogs(rl: ResourceLogs): Array<[number, ResourceLogs]> {
  const groups = new Map<number, ResourceLogs>();
  for (const sl of rl.scopeLogs) {
    const perPid = new Map<number, LogRecord[]>();
    for (const rec of sl.logRecords) {
      const pid = itemPid(rec.attributes);
      let list = perPid.get(pid);
      if (!list) {
        list = [];
        perPid.set(pid, list);
        let g = groups.get(pid);
        if (!g) {
          g = { resource: copyResource(rl.resource), scopeLogs: [], schemaUrl: rl.schemaUrl };
          groups.set(pid, g);
        }
        g.scopeLogs.push({ scope: sl.scope, logRecords: list, schemaUrl: sl.schemaUrl });
      }
      list.push(rec);
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
    let groups = t.resourceSpans;
    const pids: number[] = [];
    let split: ResourceSpans[] | undefined;
    for (let g = 0; g < groups.length; g++) {
      const rs = groups[g];
      const p = tg.procs ? groupPid(rs.scopeSpans.map((s) => s.spans)) : NO_PID;
      if (p === MIXED && tg.locality(rs.resource.attributes) !== false) {
        split ??= groups.slice(0, g);
        for (const [pid, part] of splitSpans(rs)) {
          split.push(part);
          pids.push(this.resourcePid(tg, part.resource.attributes, pid));
        }
        continue;
      }
      split?.push(rs);
      pids.push(this.resourcePid(tg, rs.resource.attributes, p === MIXED ? NO_PID : p));
    }
    if (split) t.resourceSpans = groups = split;
    // Which groups are this host's zero-code data, for local end tags; their end pids join the lookup.
    const localEnds = tg.tagsLocalEnds ? groups.map((rs) => tg.locality(rs.resource.attributes) !== false) : undefined;
    const endPids: number[] = [];
    if (localEnds) {
      for (let g = 0; g < groups.length; g++) {
        if (!localEnds[g]) continue;
        for (const ss of groups[g].scopeSpans) {
          for (const sp of ss.spans) {
            if (sp.attributes['metaflow.server.ip'] === undefined) continue;
            tg.markOwnEnd(sp.attributes, sp.kind === SpanKind.SERVER ? 'server' : sp.kind === SpanKind.CLIENT ? 'client' : undefined, endPids);
          }
        }
      }
    }
    await this.resolvePids(tg, endPids.length ? pids.concat(endPids) : pids);
    const ends = tg.tagsEnds;
    const sender = clientInfo(t)?.address;
    let associated = 0;
    for (let g = 0; g < groups.length; g++) {
      const rs = groups[g];
      const conn = sender !== undefined && !madeByMetaflow(rs.scopeSpans) ? sender : undefined;
      if (tg.tagResource(rs.resource.attributes, pids[g] >= 0 ? tg.procs!.get(pids[g]) : undefined, conn)) associated++;
      if (localEnds) {
        const res = rs.resource.attributes;
        const local = localEnds[g];
        for (const ss of rs.scopeSpans) {
          const spans = ss.spans;
          for (let i = 0; i < spans.length; i++) if (spans[i].attributes['metaflow.server.ip'] !== undefined) tg.tagLocalEnds(spans[i].attributes, res, local);
        }
      }
      if (!ends) continue;
      for (const ss of rs.scopeSpans) {
        const spans = ss.spans;
        for (let i = 0; i < spans.length; i++) tg.tagEnds(spans[i].attributes);
      }
    }
    this.count(associated, groups.length);
  }

  private async logs(tg: Tagger, l: Logs): Promise<void> {
    let groups = l.resourceLogs;
    const pids: number[] = [];
    let split: ResourceLogs[] | undefined;
    for (let g = 0; g < groups.length; g++) {
      const rl = groups[g];
      const p = tg.procs ? groupPid(rl.scopeLogs.map((s) => s.logRecords)) : NO_PID;
      if (p === MIXED && tg.locality(rl.resource.attributes) !== false) {
        split ??= groups.slice(0, g);
        for (const [pid, part] of splitLogs(rl)) {
          split.push(part);
          pids.push(this.resourcePid(tg, part.resource.attributes, pid));
        }
        continue;
      }
      split?.push(rl);
      pids.push(this.resourcePid(tg, rl.resource.attributes, p === MIXED ? NO_PID : p));
    }
    if (split) l.resourceLogs = groups = split;
    await this.resolvePids(tg, pids);
    const ends = tg.tagsEnds;
    const sender = clientInfo(l)?.address;
    let associated = 0;
    for (let g = 0; g < groups.length; g++) {
      const rl = groups[g];
      const conn = sender !== undefined && !madeByMetaflow(rl.scopeLogs) ? sender : undefined;
      if (tg.tagResource(rl.resource.attributes, pids[g] >= 0 ? tg.procs!.get(pids[g]) : undefined, conn)) associated++;
      if (tg.tagsLocalEnds) {
        const res = rl.resource.attributes;
        const local = tg.locality(res) !== false;
        for (const sl of rl.scopeLogs) {
          const recs = sl.logRecords;
          for (let i = 0; i < recs.length; i++) if (recs[i].attributes['metaflow.server.ip'] !== undefined) tg.tagLocalEnds(recs[i].attributes, res, local);
        }
      }
      if (!ends) continue;
      for (const sl of rl.scopeLogs) {
        const recs = sl.logRecords;
        for (let i = 0; i < recs.length; i++) tg.tagEnds(recs[i].attributes);
      }
    }
    this.count(associated, groups.length);
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
