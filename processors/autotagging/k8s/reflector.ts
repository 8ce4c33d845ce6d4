/**
 * List-then-watch of one Kubernetes resource kind, kept alive for the life of
 * the processor: the reflector pattern of client-go.
 *
 * 1. List (paged with `limit`/`continue`) and hand the whole set to the sink,
 *    which drops what is no longer there; remember the list's resourceVersion.
 * 2. Watch from that resourceVersion (`watch=1`, `allowWatchBookmarks=true`,
 *    `timeoutSeconds`); apply ADDED / MODIFIED / DELETED, advance the
 *    resourceVersion on every event including BOOKMARK.
 * 3. When the watch ends: the server's timeout or a dropped connection →
 *    watch again from the last resourceVersion (nothing is missed, the server
 *    replays from there); 410 Gone (an `ERROR` event with a 410 Status, or a
 *    410 answer) → list again; no data for `idle_timeout` → the connection is
 *    presumed dead and replaced; any other failure → retry with exponential
 *    backoff.
 *
 * Throughout, the sink keeps the last known state, so tagging goes on while
 * the API server is away; {@link Reflector.reachable} says whether the last
 * request got an answer.
 */
import { StringDecoder } from 'node:string_decoder';
import type { KubeClient } from './client';
import type { KObject } from './objects';

/** One resource kind the tagger follows. */
export interface ResourceKind {
  /** Plural resource name: `pods`, `replicasets`, … (also the metrics label). */
  readonly resource: string;
  /** `/api/v1` or `/apis/<group>/<version>`. */
  readonly prefix: string;
  /** Whether objects live in namespaces (so a namespace filter applies). */
  readonly namespaced: boolean;
}

/** Where a reflector delivers what it learns. */
export interface ReflectorSink {
  /** The complete current set (after a list): objects not in it are gone. */
  replace(items: KObject[]): void;
  /** An object was added or changed. */
  upsert(obj: KObject): void;
  /** An object was deleted. */
  remove(obj: KObject): void;
}

/** What the reflector reports, for self-metrics. */
export interface ReflectorEvents {
  /** A request failed; `op` is list or watch, `type` a bounded reason. */
  error(resource: string, op: 'list' | 'watch', type: string): void;
  /** A list started after the first one; `reason` is gone or error. */
  relist(resource: string, reason: 'gone' | 'error'): void;
  /** A watch event was applied. */
  event(resource: string, type: string): void;
  /** Reachability changed. */
  reachability(): void;
}

/** Timing and paging of a reflector. */
export interface ReflectorOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  pageSize: number;
  requestTimeoutMs: number;
  watchTimeoutMs: number;
  idleTimeoutMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
}

/** How one watch ended. */
type WatchEnd = { kind: 'closed' } | { kind: 'gone' } | { kind: 'idle' } | { kind: 'stopped' } | { kind: 'error'; type: string; connected: boolean };

/** A list response page. */
interface ListPage {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: KObject[];
}

class GoneError extends Error {}

class HttpStatusError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

/** Keeps a sink in step with one resource kind. */
export class Reflector {
  private resourceVersion = '';
  private stopped = false;
  private running: Promise<void> | undefined;
  /** Aborts the request in progress (also before its response arrives). */
  private abort = new AbortController();
  private sleeping: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private syncedResolve: (() => void) | undefined;
  private ok = true;
  /** Resolves once the first list has been delivered. */
  readonly synced: Promise<void>;
  /** Whether the first list has been delivered. */
  hasSynced = false;

  constructor(
    private readonly client: KubeClient,
    readonly kind: ResourceKind,
    private readonly sink: ReflectorSink,
    private readonly opts: ReflectorOptions,
    private readonly events: ReflectorEvents,
  ) {
    this.synced = new Promise((resolve) => (this.syncedResolve = resolve));
  }

  /** Whether the last request to the API server got an answer. */
  get reachable(): boolean {
    return this.ok;
  }

  /** Starts the list/watch loop in the background. */
  start(): void {
    this.running ??= this.loop();
  }

  /** Stops the loop and closes the open request; resolves once it has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    if (this.sleeping) {
      clearTimeout(this.sleeping.timer);
      this.sleeping.resolve();
    }
    await this.running;
  }

  private get path(): string {
    const ns = this.kind.namespaced && this.opts.namespace ? `/namespaces/${encodeURIComponent(this.opts.namespace)}` : '';
    return `${this.kind.prefix}${ns}/${this.kind.resource}`;
  }

  private selectors(): Record<string, string> {
    const q: Record<string, string> = {};
    if (this.opts.labelSelector) q.labelSelector = this.opts.labelSelector;
    if (this.opts.fieldSelector) q.fieldSelector = this.opts.fieldSelector;
    return q;
  }

  private setReachable(ok: boolean): void {
    if (ok === this.ok) return;
    this.ok = ok;
    this.events.reachability();
  }

  private async loop(): Promise<void> {
    let needList = true;
    let failures = 0;
    while (!this.stopped) {
      if (needList) {
        try {
          const items = await this.list();
          if (this.stopped) break;
          this.sink.replace(items);
          needList = false;
          failures = 0;
          if (!this.hasSynced) {
            this.hasSynced = true;
            this.syncedResolve?.();
          }
        } catch (err) {
          if (this.stopped) break;
          const connected = err instanceof HttpStatusError || err instanceof GoneError;
          this.events.error(this.kind.resource, 'list', errorType(err));
          // A 4xx answer (RBAC, bad selector) still means the server is there.
          this.setReachable(connected && !(err instanceof HttpStatusError && err.status >= 500));
          await this.sleep(this.backoff(++failures));
          if (!this.stopped) this.events.relist(this.kind.resource, 'error');
          continue;
        }
      }
      const began = Date.now();
      const end = await this.watch();
      if (end.kind === 'stopped' || this.stopped) break;
      const lasted = Date.now() - began;
      if (end.kind === 'gone') {
        needList = true;
        this.events.relist(this.kind.resource, 'gone');
        // A server answering 410 to every fresh watch must not get a list per millisecond.
        if (lasted < 1000) await this.sleep(this.backoff(++failures));
        continue;
      }
      if (end.kind === 'closed') {
        // A watch the server closes at once, over and over (a broken proxy), must not spin.
        failures = lasted < 1000 ? failures + 1 : 0;
        if (failures > 0) await this.sleep(this.backoff(failures));
        continue;
      }
      if (end.kind === 'idle') {
        this.events.error(this.kind.resource, 'watch', 'idle');
        continue;
      }
      this.events.error(this.kind.resource, 'watch', end.type);
      if (!end.connected) this.setReachable(false);
      // A watch that ran a while was a success that ended; start the backoff over.
      if (lasted >= 1000) failures = 0;
      await this.sleep(this.backoff(++failures));
    }
  }

  /** Exponential backoff with jitter: initial × 2^(n-1), at most max, minus up to 20%. */
  private backoff(n: number): number {
    const base = Math.min(this.opts.retryMaxMs, this.opts.retryInitialMs * 2 ** Math.min(n - 1, 30));
    return base * (1 - Math.random() * 0.2);
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.sleeping = undefined;
        resolve();
      }, ms);
      this.sleeping = { timer, resolve };
    });
  }

  /** All objects, page by page; an expired continue token restarts the list once. */
  private async list(): Promise<KObject[]> {
    for (let attempt = 0; ; attempt++) {
      const items: KObject[] = [];
      let cont = '';
      let rv = '';
      try {
        do {
          const q: Record<string, string> = { ...this.selectors(), limit: String(this.opts.pageSize) };
          if (cont) q.continue = cont;
          const page = (await this.fetchJson(q)) as ListPage;
          for (const it of page.items ?? []) items.push(it);
          rv = page.metadata?.resourceVersion ?? '';
          cont = page.metadata?.continue ?? '';
        } while (cont && !this.stopped);
      } catch (err) {
        if (err instanceof GoneError && attempt === 0) continue;
        throw err;
      }
      this.resourceVersion = rv;
      return items;
    }
  }

  private async fetchJson(query: Record<string, string>): Promise<unknown> {
    const { req, res } = await this.client.get(this.path, query, this.opts.requestTimeoutMs, this.abort.signal);
    const body = await new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => req.destroy(new Error('list body timed out')), this.opts.requestTimeoutMs);
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks).toString('utf8'));
      });
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      res.on('close', () => {
        clearTimeout(timer);
        if (!res.complete) reject(new Error('connection closed during the list'));
      });
    });
    this.setReachable((res.statusCode ?? 500) < 500);
    if (res.statusCode === 410) throw new GoneError('continue token expired');
    if (res.statusCode !== 200) throw new HttpStatusError(res.statusCode ?? 0);
    return JSON.parse(body);
  }

  /** One watch request, until it ends; applies its events as they arrive. */
  private async watch(): Promise<WatchEnd> {
    const seconds = Math.max(1, Math.round((this.opts.watchTimeoutMs / 1000) * (1 + Math.random() * 0.1)));
    const q: Record<string, string> = { ...this.selectors(), watch: '1', allowWatchBookmarks: 'true', timeoutSeconds: String(seconds) };
    if (this.resourceVersion) q.resourceVersion = this.resourceVersion;
    let req;
    let res;
    try {
      ({ req, res } = await this.client.get(this.path, q, this.opts.requestTimeoutMs, this.abort.signal));
    } catch (err) {
      return this.stopped ? { kind: 'stopped' } : { kind: 'error', type: errorType(err), connected: false };
    }
    if (this.stopped) {
      req.destroy();
      return { kind: 'stopped' };
    }
    this.setReachable(res.statusCode !== undefined && res.statusCode < 500);
    if (res.statusCode === 410) {
      res.resume();
      req.destroy();
      return { kind: 'gone' };
    }
    if (res.statusCode !== 200) {
      res.resume();
      req.destroy();
      return { kind: 'error', type: `http_${res.statusCode}`, connected: (res.statusCode ?? 500) < 500 };
    }
    const r = req;
    const s = res;
    return new Promise<WatchEnd>((resolve) => {
      const decoder = new StringDecoder('utf8');
      let buf = '';
      let settled = false;
      const finish = (end: WatchEnd) => {
        if (settled) return;
        settled = true;
        clearTimeout(idle);
        r.destroy();
        resolve(end);
      };
      const idle = setTimeout(() => finish({ kind: 'idle' }), this.opts.idleTimeoutMs);
      s.on('data', (chunk: Buffer) => {
        idle.refresh();
        buf += decoder.write(chunk);
        let nl: number;
        while (!settled && (nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const end = this.applyLine(line);
          if (end) finish(end);
        }
      });
      s.on('end', () => {
        const line = (buf + decoder.end()).trim();
        const end = line ? this.applyLine(line) : undefined;
        finish(end ?? { kind: 'closed' });
      });
      s.on('close', () => finish(this.stopped ? { kind: 'stopped' } : s.complete ? { kind: 'closed' } : { kind: 'error', type: 'dropped', connected: true }));
      s.on('error', () => finish(this.stopped ? { kind: 'stopped' } : { kind: 'error', type: 'dropped', connected: true }));
    });
  }

  /** Applies one watch event line; returns how the watch ends when the event ends it. */
  private applyLine(line: string): WatchEnd | undefined {
    let ev: { type?: string; object?: KObject & { code?: number; reason?: string } };
    try {
      ev = JSON.parse(line) as typeof ev;
    } catch {
      this.events.error(this.kind.resource, 'watch', 'malformed_event');
      return undefined;
    }
    const obj = ev.object;
    if (!obj || typeof obj !== 'object') return undefined;
    switch (ev.type) {
      case 'ADDED':
      case 'MODIFIED':
        this.sink.upsert(obj);
        break;
      case 'DELETED':
        this.sink.remove(obj);
        break;
      case 'BOOKMARK':
        break;
      case 'ERROR':
        this.events.event(this.kind.resource, 'ERROR');
        // 410: the resourceVersion is older than the server's history (Expired / Gone).
        if (obj.code === 410) return { kind: 'gone' };
        return { kind: 'error', type: `status_${obj.code ?? 'unknown'}`, connected: true };
      default:
        return undefined;
    }
    this.events.event(this.kind.resource, ev.type);
    const rv = obj.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    return undefined;
  }
}

/** A bounded label for an error. */
function errorType(err: unknown): string {
  if (err instanceof GoneError) return 'gone';
  if (err instanceof HttpStatusError) return `http_${err.status}`;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENOTFOUND' || code === 'EPIPE') return code.toLowerCase();
  if (err instanceof SyntaxError) return 'malformed_list';
  if (/within \d+ms|timed out/.test(String((err as Error)?.message))) return 'timeout';
  return 'other';
}
