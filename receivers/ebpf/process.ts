/**
 * The process table: what the spans of a process carry about it (name,
 * executable, container id), read from /proc once per process and kept
 * until the process exits or execs. Bounded: past `max` entries the oldest
 * are forgotten (and read again if they show up).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Resource } from '../../pipeline/pdata';

/** What is known about one process. */
export interface ProcessInfo {
  pid: number;
  /** The command name the kernel reports (15 bytes at most). */
  comm: string;
  /** Full path of the executable, '' when unreadable. */
  executable: string;
  /** Container id from the process's cgroup, '' outside containers. */
  containerId: string;
  /** The OTel resource its spans are grouped under. */
  resource: Resource;
}

/** Exited processes remembered for late peer lookups (oldest forgotten first). */
const RECENTLY_EXITED = 1024;

/** Container ids in cgroup paths: docker, containerd/CRI, CRI-O, podman (64 hex characters). */
const CONTAINER_ID = /(?:^|[/-])([0-9a-f]{64})(?:\.scope)?(?:$|\/)/;

/** The container id in a /proc/<pid>/cgroup file's text, or ''. */
export function containerIdFromCgroup(text: string): string {
  for (const line of text.split('\n')) {
    const p = line.slice(line.lastIndexOf(':') + 1);
    const m = CONTAINER_ID.exec(p);
    if (m) return m[1];
  }
  return '';
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

/** See the module doc. */
export class ProcessTable {
  private readonly procs = new Map<number, ProcessInfo>();
  private readonly host = os.hostname();
  private readonly execFiles = new Map<number, string>();
  /** Processes that exited lately, for {@link peek}: a peer's session may be handled after its exit. */
  private readonly exited = new Map<number, ProcessInfo>();
  /** Entries forgotten because the table was full. */
  evicted = 0;

  constructor(
    private readonly max: number,
    private readonly procRoot = '/proc',
  ) {}

  /** Number of processes known. */
  get size(): number {
    return this.procs.size;
  }

  /** The process, read from /proc on first use; `comm` is the name the event carried. */
  get(pid: number, comm: string): ProcessInfo {
    let p = this.procs.get(pid);
    if (p) return p;
    if (this.procs.size >= this.max) {
      const oldest = this.procs.keys().next().value as number;
      this.procs.delete(oldest);
      this.evicted++;
    }
    p = this.read(pid, comm);
    this.exited.delete(pid);
    this.procs.set(pid, p);
    return p;
  }

  /** The process if it is in the table or exited lately (never reads /proc). */
  peek(pid: number): ProcessInfo | undefined {
    return this.procs.get(pid) ?? this.exited.get(pid);
  }

  /**
   * The process replaced its image: its name and executable changed. `file`
   * is the path it exec'd, kept for processes gone before /proc is read
   * (a short-lived client such as curl).
   */
  exec(pid: number, file = ''): void {
    this.procs.delete(pid);
    if (!file) return;
    if (this.execFiles.size >= this.max) this.execFiles.clear();
    this.execFiles.set(pid, file);
  }

  /** The process is gone. */
  exit(pid: number): void {
    const p = this.procs.get(pid);
    this.procs.delete(pid);
    this.execFiles.delete(pid);
    if (!p) return;
    if (this.exited.size >= RECENTLY_EXITED) this.exited.delete(this.exited.keys().next().value as number);
    this.exited.delete(pid);
    this.exited.set(pid, p);
  }

  private read(pid: number, comm: string): ProcessInfo {
    const dir = path.join(this.procRoot, String(pid));
    let executable = '';
    try {
      executable = fs.readlinkSync(path.join(dir, 'exe'));
    } catch {
      // Exited already (or a kernel thread): the path it exec'd, if seen.
      executable = this.execFiles.get(pid) ?? '';
    }
    this.execFiles.delete(pid);
    // /proc's name while the process lives; once gone, its exec'd file's.
    const name = readOr(path.join(dir, 'comm'), '').trim() || (executable ? path.basename(executable).slice(0, 15) : '') || comm;
    const containerId = containerIdFromCgroup(readOr(path.join(dir, 'cgroup'), ''));
    const attributes: Resource['attributes'] = {
      'service.name': name,
      'host.name': this.host,
      'process.pid': pid,
      'process.executable.name': name,
    };
    if (executable) attributes['process.executable.path'] = executable;
    if (containerId) attributes['container.id'] = containerId;
    return { pid, comm: name, executable, containerId, resource: { attributes, droppedAttributesCount: 0 } };
  }
}
