/**
 * A Kubernetes API server on loopback for tests: it serves objects in the
 * real REST shapes, with the list and watch semantics clients depend on.
 *
 * - `GET /api/v1/pods`, `/api/v1/namespaces/<ns>/pods`, `/apis/apps/v1/…`,
 *   … → a `<Kind>List` with `metadata.resourceVersion`, paged by `limit` /
 *   `continue` (a continue token older than the compacted history is a 410
 *   Status, as from a real server).
 * - `?watch=1&resourceVersion=R` → a chunked stream of newline-delimited
 *   watch events (`ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`): first the
 *   history after R, then live changes; R older than the compacted history
 *   gets an `ERROR` event carrying a 410 `Status` (Expired), as etcd
 *   compaction causes. `timeoutSeconds` ends the stream.
 * - `fieldSelector` (`spec.nodeName`, `metadata.name`, `metadata.namespace`;
 *   `=`, `!=`) and `labelSelector` (`k=v`, `k!=v`, `k`, `!k`).
 * - A bearer token, when configured, else 401.
 *
 * The test drives it: {@link FakeKubeApi.apply} changes objects (one global
 * resourceVersion, like etcd), {@link FakeKubeApi.bookmark},
 * {@link FakeKubeApi.compact} + {@link FakeKubeApi.expireWatches} (410),
 * {@link FakeKubeApi.dropWatches} (a broken connection),
 * {@link FakeKubeApi.stop} / {@link FakeKubeApi.restart} (an API server
 * restart on the same port), {@link FakeKubeApi.stall} (a server that accepts
 * connections and never answers) and {@link FakeKubeApi.mute} (a watch that
 * stays open and delivers nothing). Every request is logged in
 * {@link FakeKubeApi.requests}.
 */
import http from 'node:http';
import type net from 'node:net';
import { randomUUID } from 'node:crypto';

/** A Kubernetes object as JSON. */
export interface KubeObject {
  kind?: string;
  apiVersion?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

interface ResourceDef {
  resource: string;
  kind: string;
  apiVersion: string;
  prefix: string;
  namespaced: boolean;
}

const DEFS: ResourceDef[] = [
  { resource: 'pods', kind: 'Pod', apiVersion: 'v1', prefix: '/api/v1', namespaced: true },
  { resource: 'services', kind: 'Service', apiVersion: 'v1', prefix: '/api/v1', namespaced: true },
  { resource: 'nodes', kind: 'Node', apiVersion: 'v1', prefix: '/api/v1', namespaced: false },
  { resource: 'namespaces', kind: 'Namespace', apiVersion: 'v1', prefix: '/api/v1', namespaced: false },
  { resource: 'endpointslices', kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', prefix: '/apis/discovery.k8s.io/v1', namespaced: true },
  { resource: 'replicasets', kind: 'ReplicaSet', apiVersion: 'apps/v1', prefix: '/apis/apps/v1', namespaced: true },
  { resource: 'deployments', kind: 'Deployment', apiVersion: 'apps/v1', prefix: '/apis/apps/v1', namespaced: true },
  { resource: 'statefulsets', kind: 'StatefulSet', apiVersion: 'apps/v1', prefix: '/apis/apps/v1', namespaced: true },
  { resource: 'daemonsets', kind: 'DaemonSet', apiVersion: 'apps/v1', prefix: '/apis/apps/v1', namespaced: true },
  { resource: 'jobs', kind: 'Job', apiVersion: 'batch/v1', prefix: '/apis/batch/v1', namespaced: true },
  { resource: 'cronjobs', kind: 'CronJob', apiVersion: 'batch/v1', prefix: '/apis/batch/v1', namespaced: true },
];

const BY_KIND = new Map(DEFS.map((d) => [d.kind, d]));

/** One request the server received. */
export interface LoggedRequest {
  resource: string;
  namespace: string;
  watch: boolean;
  query: Record<string, string>;
}

interface Event {
  rv: number;
  resource: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
}

interface Watcher {
  def: ResourceDef;
  namespace: string;
  match: (o: KubeObject) => boolean;
  res: http.ServerResponse;
  muted: boolean;
  timer: NodeJS.Timeout | undefined;
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function field(o: KubeObject, path: string): string {
  let v: unknown = o;
  for (const part of path.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
  return typeof v === 'string' ? v : '';
}

/** A matcher for `fieldSelector` and `labelSelector` query values. */
function selectorMatcher(fieldSel: string, labelSel: string): (o: KubeObject) => boolean {
  const checks: Array<(o: KubeObject) => boolean> = [];
  for (const term of fieldSel.split(',').filter(Boolean)) {
    const neg = term.includes('!=');
    const [k, v] = term.split(neg ? '!=' : '=');
    checks.push((o) => (field(o, k) === v) !== neg);
  }
  for (const term of labelSel.split(',').filter(Boolean)) {
    const labels = (o: KubeObject) => o.metadata.labels ?? {};
    if (term.includes('!=')) {
      const [k, v] = term.split('!=');
      checks.push((o) => labels(o)[k] !== v);
    } else if (term.includes('=')) {
      const [k, v] = term.split('=');
      checks.push((o) => labels(o)[k] === v);
    } else if (term.startsWith('!')) checks.push((o) => !(term.slice(1) in labels(o)));
    else checks.push((o) => term in labels(o));
  }
  return (o) => checks.every((c) => c(o));
}

/** The fake API server. */
export class FakeKubeApi {
  /** Every request, in order. */
  readonly requests: LoggedRequest[] = [];
  private rv = 100;
  private compactedRv = 0;
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private readonly history: Event[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<net.Socket>();
  private server: http.Server | undefined;
  private stalled = false;
  private muted = false;
  private port = 0;

  private constructor(private readonly token: string | undefined) {
    for (const d of DEFS) this.objects.set(d.resource, new Map());
  }

  /** Starts on a free loopback port with `initial` objects (given resourceVersions in order). */
  static async start(opts: { token?: string; initial?: KubeObject[] } = {}): Promise<FakeKubeApi> {
    const api = new FakeKubeApi(opts.token);
    for (const o of opts.initial ?? []) api.store('ADDED', o, false);
    await api.listen(0);
    return api;
  }

  /** Base URL, e.g. `http://127.0.0.1:43121`. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The current (global) resourceVersion. */
  get resourceVersion(): string {
    return String(this.rv);
  }

  /** Requests for one resource, optionally only lists or only watches. */
  requestsFor(resource: string, watch?: boolean): LoggedRequest[] {
    return this.requests.filter((r) => r.resource === resource && (watch === undefined || r.watch === watch));
  }

  /** Open watch connections for a resource. */
  openWatches(resource: string): number {
    let n = 0;
    for (const w of this.watchers) if (w.def.resource === resource) n++;
    return n;
  }

  /** Creates or replaces an object (ADDED or MODIFIED), delivered to open watches. */
  apply(o: KubeObject): KubeObject {
    const def = this.def(o);
    const exists = this.objects.get(def.resource)!.has(this.key(o));
    return this.store(exists ? 'MODIFIED' : 'ADDED', o, true);
  }

  /** Deletes an object (DELETED), delivered to open watches. */
  delete(kind: string, name: string, namespace = ''): void {
    const def = BY_KIND.get(kind)!;
    const cur = this.objects.get(def.resource)!.get(`${namespace}/${name}`);
    if (!cur) throw new Error(`no ${kind} ${namespace}/${name}`);
    this.objects.get(def.resource)!.delete(`${namespace}/${name}`);
    const object = structuredClone(cur);
    object.metadata.resourceVersion = String(++this.rv);
    this.record({ rv: this.rv, resource: def.resource, type: 'DELETED', object }, true);
  }

  /** Sends a BOOKMARK with the current resourceVersion to the open watches of `resource`; returns that version. */
  bookmark(resource: string): string {
    const def = DEFS.find((d) => d.resource === resource)!;
    const line = JSON.stringify({ type: 'BOOKMARK', object: { kind: def.kind, apiVersion: def.apiVersion, metadata: { resourceVersion: String(this.rv) } } }) + '\n';
    for (const w of this.watchers) if (w.def.resource === resource && !w.muted) w.res.write(line);
    return String(this.rv);
  }

  /** Forgets the history up to now: watches from older versions get 410. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history.length = 0;
  }

  /** Changes objects without telling open watches (as if the events were lost); recorded in history. */
  applySilently(o: KubeObject): void {
    const def = this.def(o);
    this.store(this.objects.get(def.resource)!.has(this.key(o)) ? 'MODIFIED' : 'ADDED', o, false);
  }

  /** Deletes an object without telling open watches. */
  deleteSilently(kind: string, name: string, namespace = ''): void {
    const def = BY_KIND.get(kind)!;
    const cur = this.objects.get(def.resource)!.get(`${namespace}/${name}`);
    if (!cur) throw new Error(`no ${kind} ${namespace}/${name}`);
    this.objects.get(def.resource)!.delete(`${namespace}/${name}`);
    const object = structuredClone(cur);
    object.metadata.resourceVersion = String(++this.rv);
    this.record({ rv: this.rv, resource: def.resource, type: 'DELETED', object }, false);
  }

  /** Ends the open watches of `resource` (all when omitted) with an ERROR event carrying a 410 Status. */
  expireWatches(resource?: string): void {
    for (const w of [...this.watchers]) {
      if (resource && w.def.resource !== resource) continue;
      w.res.write(JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${w.def.resource} (${this.compactedRv})`) }) + '\n');
      this.endWatch(w);
    }
  }

  /** Breaks the open watch connections abruptly (no clean end of the chunked stream). */
  dropWatches(resource?: string): void {
    for (const w of [...this.watchers]) {
      if (resource && w.def.resource !== resource) continue;
      this.watchers.delete(w);
      if (w.timer) clearTimeout(w.timer);
      w.res.socket?.destroy();
    }
  }

  /** While on, requests are accepted and never answered. */
  stall(on: boolean): void {
    this.stalled = on;
  }

  /** While on, new watches get their headers and then nothing (no events, no bookmarks). */
  mute(on: boolean): void {
    this.muted = on;
  }

  /** Stops listening and cuts every connection (the API server goes away). */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const w of this.watchers) if (w.timer) clearTimeout(w.timer);
    this.watchers.clear();
    for (const sock of this.sockets) sock.destroy();
    this.sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Listens again on the same port, with the same objects and history (etcd survived). */
  async restart(): Promise<void> {
    await this.listen(this.port);
  }

  private def(o: KubeObject): ResourceDef {
    const def = BY_KIND.get(String(o.kind));
    if (!def) throw new Error(`unknown kind ${o.kind}`);
    return def;
  }

  private key(o: KubeObject): string {
    return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  }

  private store(type: 'ADDED' | 'MODIFIED', input: KubeObject, notify: boolean): KubeObject {
    const def = this.def(input);
    const o = structuredClone(input);
    o.apiVersion = def.apiVersion;
    const prev = this.objects.get(def.resource)!.get(this.key(o));
    o.metadata.uid ??= prev?.metadata.uid ?? randomUUID();
    o.metadata.creationTimestamp ??= prev?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    o.metadata.resourceVersion = String(++this.rv);
    this.objects.get(def.resource)!.set(this.key(o), o);
    this.record({ rv: this.rv, resource: def.resource, type, object: structuredClone(o) }, notify);
    return o;
  }

  private record(ev: Event, notify: boolean): void {
    this.history.push(ev);
    if (!notify) return;
    const line = JSON.stringify({ type: ev.type, object: ev.object }) + '\n';
    for (const w of this.watchers) {
      if (w.def.resource !== ev.resource || w.muted) continue;
      if (w.namespace && ev.object.metadata.namespace !== w.namespace) continue;
      if (w.match(ev.object)) w.res.write(line);
    }
  }

  private endWatch(w: Watcher): void {
    this.watchers.delete(w);
    if (w.timer) clearTimeout(w.timer);
    w.res.end();
  }

  private listen(port: number): Promise<void> {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        const a = server.address();
        this.port = typeof a === 'object' && a ? a.port : port;
        this.server = server;
        resolve();
      });
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = /^(\/api\/v1|\/apis\/[^/]+\/[^/]+)(?:\/namespaces\/([^/]+))?\/([a-z]+)$/.exec(url.pathname);
    const def = m ? DEFS.find((d) => d.prefix === m[1] && d.resource === m[3]) : undefined;
    const query = Object.fromEntries(url.searchParams);
    const watch = query.watch === '1' || query.watch === 'true';
    if (def) this.requests.push({ resource: def.resource, namespace: m?.[2] ?? '', watch, query });
    if (this.stalled) return; // accepted, never answered
    const json = (code: number, body: unknown): void => {
      res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (this.token && req.headers.authorization !== `Bearer ${this.token}`) return json(401, status(401, 'Unauthorized', 'Unauthorized'));
    if (!def || req.method !== 'GET') return json(404, status(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`));
    const namespace = m?.[2] ? decodeURIComponent(m[2]) : '';
    const match = selectorMatcher(query.fieldSelector ?? '', query.labelSelector ?? '');
    const visible = (o: KubeObject) => (!namespace || o.metadata.namespace === namespace) && match(o);
    if (!watch) return this.list(def, query, visible, json);
    const from = Number(query.resourceVersion ?? '0');
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const w: Watcher = { def, namespace, match, res, muted: this.muted, timer: undefined };
    if (from > 0 && from < this.compactedRv) {
      res.write(JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${this.compactedRv})`) }) + '\n');
      res.end();
      return;
    }
    if (!w.muted) {
      if (from > 0) {
        for (const ev of this.history) {
          if (ev.rv > from && ev.resource === def.resource && visible(ev.object)) res.write(JSON.stringify({ type: ev.type, object: ev.object }) + '\n');
        }
      } else {
        // resourceVersion unset or 0: the current state as synthetic ADDED events, then changes.
        for (const o of this.objects.get(def.resource)!.values()) if (visible(o)) res.write(JSON.stringify({ type: 'ADDED', object: o }) + '\n');
      }
    }
    this.watchers.add(w);
    const seconds = Number(query.timeoutSeconds ?? '0');
    if (seconds > 0) w.timer = setTimeout(() => this.endWatch(w), seconds * 1000);
    res.on('close', () => {
      this.watchers.delete(w);
      if (w.timer) clearTimeout(w.timer);
    });
  }

  private list(def: ResourceDef, query: Record<string, string>, visible: (o: KubeObject) => boolean, json: (code: number, body: unknown) => void): void {
    let offset = 0;
    let snapshotRv = this.rv;
    if (query.continue) {
      const tok = JSON.parse(Buffer.from(query.continue, 'base64').toString('utf8')) as { rv: number; offset: number };
      if (tok.rv < this.compactedRv) {
        return json(410, status(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.'));
      }
      offset = tok.offset;
      snapshotRv = tok.rv;
    }
    const all = [...this.objects.get(def.resource)!.values()].filter(visible).sort((a, b) => this.key(a).localeCompare(this.key(b)));
    const limit = Number(query.limit ?? '0');
    const page = limit > 0 ? all.slice(offset, offset + limit) : all.slice(offset);
    const next = limit > 0 && offset + limit < all.length ? offset + limit : 0;
    // List items carry no kind/apiVersion: the list's kind says what they are.
    const items = page.map((o) => {
      const { kind: _k, apiVersion: _a, ...rest } = o;
      return rest;
    });
    const metadata: Record<string, unknown> = { resourceVersion: String(snapshotRv) };
    if (next) {
      metadata.continue = Buffer.from(JSON.stringify({ rv: snapshotRv, offset: next })).toString('base64');
      metadata.remainingItemCount = all.length - next;
    }
    json(200, { kind: `${def.kind}List`, apiVersion: def.apiVersion, metadata, items });
  }
}
