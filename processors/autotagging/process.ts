/**
 * Process facts by pid, read from /proc and remembered.
 *
 * Attributes follow the OTel process conventions: process.executable.name
 * (base name of the /proc/<pid>/exe target) and .path, process.command
 * (argv[0]), process.command_args and process.command_line (with secrets in
 * arguments masked), process.parent_pid, process.owner and process.user.id
 * (the effective user), process.creation.time (ISO 8601), and container.id
 * from the cgroup path.
 *
 * /proc is never read on the per-span path: a batch first collects the pids
 * it has not seen ({@link ProcessCache.has}), {@link ProcessCache.resolve}
 * reads them all concurrently, and tagging then only does map lookups. A
 * background refresh re-reads each remembered pid's start time: an exited
 * process is evicted one refresh later (late spans still find it), a pid
 * reused by a new process (another start time) is read afresh.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { AnyValue } from '../../pipeline/pdata';
import type { ComponentTelemetry } from '../../pipeline/telemetry';

/**
 * Clock ticks per second in /proc/<pid>/stat (USER_HZ): fixed at 100 by the
 * kernel's /proc ABI on x86 and arm, whatever the kernel's internal HZ.
 */
const USER_HZ = 100;

/** What is known about one process. */
export interface ProcessFacts {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: with the pid, the identity of the process. */
  startTicks: string;
  /** Resource attributes as a flat `[key, value, key, value, …]` list (no allocation when applied). */
  flat: AnyValue[];
  executableName: string;
  /** The kernel's task name (/proc/<pid>/comm); custom process tags match it too. */
  comm: string;
  /** '' outside a container. */
  containerId: string;
  /** The pod UID in a kubelet cgroup path ('' when none): a pod association of last resort. */
  podUid: string;
}

/** Reads one process's facts from a /proc tree. */
export class ProcReader {
  private users: Map<number, string> | undefined;
  private usersReadAt = 0;
  private bootTimeMs: number | undefined;
  private readonly passwdFile: string;

  constructor(
    private readonly procPath: string,
    private readonly maskArg: RegExp,
  ) {
    // With the host's /proc mounted at /host/proc, the host's users are in /host/etc/passwd.
    const root = procPath.replace(/\/proc\/?$/, '');
    this.passwdFile = path.join(root || '/', 'etc/passwd');
  }

  /** The start time field of a pid, or undefined when the process is gone. */
  async startTicks(pid: number): Promise<string | undefined> {
    const stat = await fs.readFile(`${this.procPath}/${pid}/stat`, 'latin1').catch(() => undefined);
    return stat === undefined ? undefined : parseStat(stat)?.startTicks;
  }

  /** Everything about a pid, or undefined when there is no such process. */
  async read(pid: number): Promise<ProcessFacts | undefined> {
    const dir = `${this.procPath}/${pid}`;
    const [stat, cmdline, exe, status, cgroup] = await Promise.all([
      fs.readFile(`${dir}/stat`, 'latin1').catch(() => undefined),
      fs.readFile(`${dir}/cmdline`).catch(() => undefined),
      fs.readlink(`${dir}/exe`).catch(() => ''),
      fs.readFile(`${dir}/status`, 'utf8').catch(() => ''),
      fs.readFile(`${dir}/cgroup`, 'utf8').catch(() => ''),
    ]);
    const st = stat === undefined ? undefined : parseStat(stat);
    if (!st) return undefined;
    let ids = containerFromCgroup(cgroup);
    if (!ids.containerId) {
      // cgroup v2 with a cgroup namespace shows `0::/`; the container's own mounts still name it.
      const mounts = await fs.readFile(`${dir}/mountinfo`, 'utf8').catch(() => '');
      const m = /\/containers\/([0-9a-f]{64})\//.exec(mounts);
      if (m) ids = { containerId: m[1], podUid: ids.podUid };
    }
    const argv = cmdline ? splitCmdline(cmdline) : [];
    const masked = maskArgs(argv, this.maskArg);
    const exePath = exe.replace(/ \(deleted\)$/, '');
    const uid = /^Uid:\s+\d+\s+(\d+)/m.exec(status);
    const flat: AnyValue[] = ['process.pid', pid];
    const executableName = exePath ? path.basename(exePath) : st.comm;
    flat.push('process.executable.name', executableName);
    if (exePath) flat.push('process.executable.path', exePath);
    if (argv.length) flat.push('process.command', masked[0], 'process.command_args', masked, 'process.command_line', masked.join(' '));
    flat.push('process.parent_pid', st.ppid);
    if (uid) {
      const n = Number(uid[1]);
      flat.push('process.user.id', n);
      const owner = await this.userName(n);
      if (owner) flat.push('process.owner', owner);
    }
    const boot = await this.bootTime();
    if (boot !== undefined) flat.push('process.creation.time', new Date(boot + (Number(st.startTicks) * 1000) / USER_HZ).toISOString());
    if (ids.containerId) flat.push('container.id', ids.containerId);
    return { pid, startTicks: st.startTicks, flat, executableName, comm: st.comm, containerId: ids.containerId, podUid: ids.podUid };
  }

  private async bootTime(): Promise<number | undefined> {
    if (this.bootTimeMs === undefined) {
      const stat = await fs.readFile(`${this.procPath}/stat`, 'utf8').catch(() => '');
      const m = /^btime\s+(\d+)/m.exec(stat);
      if (m) this.bootTimeMs = Number(m[1]) * 1000;
    }
    return this.bootTimeMs;
  }

  /** The user name of a uid from passwd; re-read at most every 10 s when a uid is unknown (users get added). */
  private async userName(uid: number): Promise<string | undefined> {
    let name = this.users?.get(uid);
    if (name !== undefined || Date.now() - this.usersReadAt < 10_000) return name;
    this.usersReadAt = Date.now();
    const text = await fs.readFile(this.passwdFile, 'utf8').catch(() => '');
    const users = new Map<number, string>();
    for (const line of text.split('\n')) {
      const f = line.split(':');
      // Bounded: a passwd file is small, but a pathological one must not grow the map without limit.
      if (f.length >= 3 && users.size < 65536) users.set(Number(f[2]), f[0]);
    }
    this.users = users;
    name = users.get(uid);
    return name;
  }
}

/** The fields of /proc/<pid>/stat tagging needs; the name is in parentheses and may hold spaces or `)`. */
export function parseStat(text: string): { comm: string; ppid: number; startTicks: string } | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); field 4 is the parent pid, field 22 the start time.
  if (rest.length < 20) return undefined;
  return { comm: text.slice(open + 1, close), ppid: Number(rest[1]), startTicks: rest[19] };
}

/**
 * argv from /proc/<pid>/cmdline: NUL-separated, usually NUL-terminated. A
 * process that rewrote its title (nginx, redis, postgres) leaves a run of
 * NULs behind it; those are not arguments.
 */
export function splitCmdline(buf: Buffer): string[] {
  const parts = buf.toString('utf8').split('\0');
  while (parts.length && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

const URL_PASSWORD = /([a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^:/@\s]*):[^@/\s]*@/g;
const KEY_VALUE = /^(-{0,2})([^=\s]+)=/;

/**
 * argv with secrets replaced by `***`: the value of `--name=value` or
 * `name=value` when `name` matches, the argument after `--name` / `-name`
 * when `name` matches and that argument is not itself an option, and the
 * password of any `scheme://user:password@host`. argv[0] is kept as is.
 */
export function maskArgs(argv: readonly string[], nameRe: RegExp): string[] {
  const out = argv.slice();
  for (let i = 1; i < out.length; i++) {
    let a = out[i].replace(URL_PASSWORD, '$1:***@');
    const kv = KEY_VALUE.exec(a);
    if (kv) {
      if (nameRe.test(kv[2])) a = `${kv[0]}***`;
    } else if (a.startsWith('-') && a.length > 1 && nameRe.test(a.replace(/^-+/, '')) && i + 1 < out.length && !out[i + 1].startsWith('-')) {
      out[i] = a;
      out[++i] = '***';
      continue;
    }
    out[i] = a;
  }
  return out;
}

const CONTAINER_ID = /(?:^|[/:-])([0-9a-f]{64})(?:\.scope)?$/;
const POD_UID = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$/;

/**
 * The container id (64 hex digits) and kubelet pod UID in a /proc/<pid>/cgroup
 * text. Covers docker (`/docker/<id>`, `docker-<id>.scope`), containerd and
 * CRI-O under kubepods (`/kubepods/…/pod<uid>/<id>`,
 * `cri-containerd-<id>.scope`, `crio-<id>.scope`) and podman
 * (`libpod-<id>.scope`), for cgroup v1 and v2.
 */
export function containerFromCgroup(text: string): { containerId: string; podUid: string } {
  let containerId = '';
  let podUid = '';
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':', line.indexOf(':') + 1);
    if (colon < 0) continue;
    const segments = line.slice(colon + 1).split('/');
    for (const seg of segments) {
      if (!containerId) {
        const m = CONTAINER_ID.exec(seg);
        if (m) containerId = m[1];
      }
      if (!podUid) {
        const p = POD_UID.exec(seg);
        if (p) podUid = p[1].replace(/_/g, '-');
      }
    }
    if (containerId && podUid) break;
  }
  return { containerId, podUid };
}

interface Entry {
  /** Undefined: no such process when last read (a negative entry, so unknown pids are not re-read per batch). */
  facts: ProcessFacts | undefined;
  /** Second-chance bit for eviction: set on every hit, cleared when the evictor passes. */
  used: boolean;
  /** The process was gone at the last refresh; evicted at the next one. */
  exited: boolean;
}

/** Why a cached process was dropped, as the eviction counter's `reason` label. */
export type EvictReason = 'capacity' | 'exited' | 'reused';

/** Remembered process facts by pid, bounded, refreshed in the background. */
export class ProcessCache {
  private readonly entries = new Map<number, Entry>();
  private readonly pending = new Map<number, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing = false;

  constructor(
    private readonly reader: ProcReader,
    private readonly capacity: number,
    private readonly telemetry: ComponentTelemetry,
  ) {
    telemetry.gauge('metaflow_autotagging_cache_size', 'Entries in the autotagging caches.', () => this.entries.size, { cache: 'process' });
  }

  /** Whether the pid has an entry (positive or negative). */
  has(pid: number): boolean {
    return this.entries.has(pid);
  }

  /** The facts of a pid (hot path: one map lookup, no I/O). */
  get(pid: number): ProcessFacts | undefined {
    const e = this.entries.get(pid);
    if (!e) return undefined;
    e.used = true;
    return e.facts;
  }

  /** Number of entries. */
  get size(): number {
    return this.entries.size;
  }

  /** Reads the given pids (not yet cached) from /proc, concurrently; never rejects. */
  async resolve(pids: Iterable<number>): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const pid of pids) {
      if (this.entries.has(pid)) continue;
      let p = this.pending.get(pid);
      if (!p) {
        p = this.reader.read(pid).then(
          (facts) => this.put(pid, facts),
          () => this.put(pid, undefined),
        );
        const done = p.finally(() => this.pending.delete(pid));
        this.pending.set(pid, done);
        p = done;
      }
      waits.push(p);
    }
    await Promise.all(waits);
  }

  /** Starts the background refresh every `intervalMs`. */
  startRefresh(intervalMs: number): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.refresh(), intervalMs);
    this.timer.unref();
  }

  /** Stops the background refresh. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * One refresh pass: exited processes marked at the last pass are evicted,
   * pids whose start time changed are re-read, negative entries are dropped
   * (the pid may exist by now).
   */
  async refresh(): Promise<void> {
    if (this.refreshing) return;
    this.refreshing = true;
    try {
      const reread: number[] = [];
      const check: Array<[number, Entry]> = [];
      for (const [pid, e] of [...this.entries]) {
        if (!e.facts) {
          this.entries.delete(pid);
          continue;
        }
        if (e.exited) {
          this.entries.delete(pid);
          this.evicted('exited');
          continue;
        }
        check.push([pid, e]);
      }
      // A few reads at a time: thousands of pids at once would flood the libuv pool other work needs.
      for (let i = 0; i < check.length; i += 32) {
        const part = check.slice(i, i + 32);
        const ticks = await Promise.all(part.map(([pid]) => this.reader.startTicks(pid)));
        part.forEach(([pid, e], j) => {
          if (ticks[j] === undefined) e.exited = true;
          else if (ticks[j] !== e.facts!.startTicks && this.entries.get(pid) === e) {
            this.entries.delete(pid);
            this.evicted('reused');
            reread.push(pid);
          }
        });
      }
      if (reread.length) await this.resolve(reread);
    } finally {
      this.refreshing = false;
    }
  }

  private put(pid: number, facts: ProcessFacts | undefined): void {
    if (!this.entries.has(pid) && this.entries.size >= this.capacity) this.evictOne();
    this.entries.set(pid, { facts, used: false, exited: false });
  }

  /** Second chance: the oldest entry not used since the evictor last passed it goes. */
  private evictOne(): void {
    for (let guard = this.entries.size * 2 + 1; guard > 0; guard--) {
      const first = this.entries.entries().next();
      if (first.done) return;
      const [pid, e] = first.value;
      this.entries.delete(pid);
      if (e.used) {
        e.used = false;
        this.entries.set(pid, e);
        continue;
      }
      this.evicted('capacity');
      return;
    }
  }

  private evicted(reason: EvictReason): void {
    this.telemetry.counter('metaflow_autotagging_cache_evictions_total', 'Entries evicted from the autotagging caches, by cache and reason.', 1, { cache: 'process', reason });
  }
}
