/**
 * Finds the OpenSSL libraries processes use and probes each one once.
 *
 * A uprobe belongs to a file (its inode), not to a process: probing a
 * libssl once covers every process that maps it, now or later. So the work
 * is finding distinct files: the system's libssl at start, the libssl of
 * every running process (containers bring their own, reached through
 * /proc/<pid>/root), and that of each new process shortly after its exec
 * (the dynamic loader maps libraries after the exec event). Files are told
 * apart by device and inode, so a library reached by several paths is
 * probed once.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Attaches the OpenSSL probes to a file; returns its link ids (throws when it cannot). */
export type AttachFn = (file: string) => number[];

/** Where distributions put libssl. */
const SYSTEM_LIBSSL = [
  '/usr/lib/x86_64-linux-gnu/libssl.so.3',
  '/usr/lib/aarch64-linux-gnu/libssl.so.3',
  '/usr/lib64/libssl.so.3',
  '/usr/lib/libssl.so.3',
  '/lib/x86_64-linux-gnu/libssl.so.3',
  '/usr/lib/x86_64-linux-gnu/libssl.so.1.1',
  '/usr/lib64/libssl.so.1.1',
  '/usr/lib/libssl.so.1.1',
];

const LIBSSL = /\s(\/\S*\/libssl\.so[.0-9]*)$/;

/** Counters of the discovery. */
export interface OpensslCounters {
  /** Distinct files probed. */
  libraries: number;
  /** Files that could not be probed (no SSL_read/SSL_write, unreadable). */
  failed: number;
  /** Files not probed because `max` were already. */
  skipped: number;
  /** New processes not scanned because the scan queue was full. */
  scansDropped: number;
}

/** See the module doc. */
export class OpensslDiscovery {
  private readonly probed = new Map<string, { file: string; links: number[] }>();
  private readonly failedKeys = new Set<string>();
  private readonly queue: Array<{ pid: number; due: number; again: boolean }> = [];
  private timer: NodeJS.Timeout | undefined;
  readonly counters: OpensslCounters = { libraries: 0, failed: 0, skipped: 0, scansDropped: 0 };
  /** The last attach failure, for the receiver's log summary. */
  lastError = '';

  constructor(
    private readonly attach: AttachFn,
    private readonly max: number,
    private readonly procRoot = '/proc',
  ) {}

  /** Files probed, by path as first found. */
  get files(): string[] {
    return [...this.probed.values()].map((p) => p.file);
  }

  /** Probes the system libssl, the configured extra files and every running process's libssl. */
  start(extra: readonly string[]): void {
    for (const f of SYSTEM_LIBSSL) if (fs.existsSync(f)) this.probe(f);
    for (const f of extra) this.probe(f);
    let pids: string[] = [];
    try {
      pids = fs.readdirSync(this.procRoot).filter((d) => /^\d+$/.test(d));
    } catch {
      // No /proc: nothing more to find.
    }
    for (const pid of pids) this.scan(Number(pid));
    this.timer = setInterval(() => this.runQueue(), 100);
    this.timer.unref();
  }

  /** Stops scanning (the probes go with the tracer). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }

  /** A process exec'd: scan it once its libraries are mapped (soon, then again a bit later). */
  onExec(pid: number): void {
    if (!this.timer) return;
    if (this.queue.length >= 1024) {
      this.counters.scansDropped++;
      return;
    }
    this.queue.push({ pid, due: Date.now() + 200, again: true });
  }

  private runQueue(): void {
    const now = Date.now();
    let budget = 64;
    while (this.queue.length && this.queue[0].due <= now && budget-- > 0) {
      const item = this.queue.shift()!;
      this.scan(item.pid);
      if (item.again && this.queue.length < 1024) this.queue.push({ pid: item.pid, due: now + 2000, again: false });
    }
  }

  /** Probes the libssl files a process maps. */
  scan(pid: number): void {
    let maps: string;
    try {
      maps = fs.readFileSync(path.join(this.procRoot, String(pid), 'maps'), 'utf8');
    } catch {
      return;
    }
    const seen = new Set<string>();
    for (const line of maps.split('\n')) {
      const m = LIBSSL.exec(line);
      if (!m || seen.has(m[1])) continue;
      seen.add(m[1]);
      // Through the process's root: the file as the process sees it, in a container too.
      this.probe(path.join(this.procRoot, String(pid), 'root', m[1]), m[1]);
    }
  }

  /** Probes one file unless it (the same inode) already is. */
  probe(file: string, label = file): boolean {
    let key: string;
    try {
      const st = fs.statSync(file);
      key = `${st.dev}:${st.ino}`;
    } catch {
      return false;
    }
    if (this.probed.has(key) || this.failedKeys.has(key)) return true;
    if (this.probed.size >= this.max) {
      this.counters.skipped++;
      return false;
    }
    try {
      const links = this.attach(file);
      this.probed.set(key, { file: label, links });
      this.counters.libraries++;
      return true;
    } catch (err) {
      this.failedKeys.add(key);
      this.counters.failed++;
      this.lastError = `${label}: ${(err as Error).message.split('\n')[0]}`;
      return false;
    }
  }
}
