/**
 * Test helpers for autotagging: a processor built from YAML-shaped config
 * with inspectable telemetry, batches of zero-code spans, polling, and a real
 * cgroup that makes a real process look like a container to /proc. Used only
 * by tests.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { formatIssue } from '../../pipeline/config/schema';
import type { Processor } from '../../pipeline/component';
import type { Attributes, Signal, Traces } from '../../pipeline/pdata';
import { RecordingConsumer, span, testSettings, traces } from '../internal/testing';
import { factory } from './factory';

/** A started processor, its next consumer and its telemetry. */
export interface Harness<S extends Signal> {
  proc: Processor<S>;
  next: RecordingConsumer<S>;
  settings: ReturnType<typeof testSettings>;
  /** A counter or gauge value summed over series matching `labels`. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

/** Parses and validates `raw` (failing the test on any problem) and starts the processor for `signal`. */
export async function startProcessor<S extends Signal>(signal: S, raw: unknown, opts: { start?: boolean } = {}): Promise<Harness<S>> {
  const { value, issues } = factory.config.parse(raw);
  if (issues.length) throw new Error(issues.map(formatIssue).join('\n'));
  const problems = factory.validate!(value!);
  if (problems.length) throw new Error(problems.map(([p, m]) => `${p}: ${m}`).join('\n'));
  const settings = testSettings('autotagging');
  const next = new RecordingConsumer<S>();
  const proc = factory.create(settings, value!, signal, next);
  if (opts.start !== false) await proc.start({ getExtension: () => undefined, getComponent: () => undefined, listComponents: () => [] });
  const metric = async (name: string, labels: Record<string, string> = {}) => {
    const m = settings.registry.registry.getSingleMetric(name);
    if (!m) return 0;
    const data = await m.get();
    let sum = 0;
    for (const v of data.values) if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) sum += v.value;
    return sum;
  };
  return { proc, next, settings, metric };
}

/** A zero-code span as the pcap/ebpf receivers make it: the tuple and signal source, plus `extra`. */
export function zeroCodeSpan(clientIp: string, serverIp: string, extra: Attributes = {}): ReturnType<typeof span> {
  return span('GET /', {
    'metaflow.signal_source': 'packet',
    'metaflow.client.ip': clientIp,
    'metaflow.client.port': 40000,
    'metaflow.server.ip': serverIp,
    'metaflow.server.port': 8080,
    ...extra,
  });
}

/** Sends one resource group with `spans` through the processor; returns the resulting batch. */
export async function tagSpans(h: Harness<'traces'>, resource: Attributes, spans: ReturnType<typeof span>[]): Promise<Traces> {
  const batch = traces({ resource, scopes: [{ items: spans }] });
  await h.proc.consume(batch);
  return batch;
}

/** Polls `fn` until it returns true; throws with `what` after `ms`. */
export async function eventually(what: string, fn: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const CGROUP_ROOT = '/sys/fs/cgroup/pids';

/** Whether this machine lets a test create cgroups (root, with the cgroup v1 pids hierarchy mounted). */
export function canMakeCgroups(): boolean {
  try {
    return process.getuid?.() === 0 && fs.existsSync(path.join(CGROUP_ROOT, 'cgroup.procs')) && fs.statSync(CGROUP_ROOT).isDirectory();
  } catch {
    return false;
  }
}

/**
 * A real process placed in a cgroup whose path is what the kubelet and
 * containerd create for a container (`kubepods.slice/…/cri-containerd-<id>.scope`),
 * so /proc/<pid>/cgroup names the container and pod as on a Kubernetes node.
 */
export class ContainerizedProcess {
  readonly child: ChildProcess;
  private readonly dirs: string[];

  constructor(containerId: string, podUid: string) {
    const pod = `kubepods-burstable-pod${podUid.replace(/-/g, '_')}.slice`;
    const top = path.join(CGROUP_ROOT, `metaflow-test-${process.pid}-kubepods.slice`);
    const mid = path.join(top, pod);
    const leaf = path.join(mid, `cri-containerd-${containerId}.scope`);
    fs.mkdirSync(leaf, { recursive: true });
    this.dirs = [leaf, mid, top];
    this.child = spawn('sleep', ['600'], { stdio: 'ignore' });
    fs.writeFileSync(path.join(leaf, 'cgroup.procs'), String(this.child.pid));
  }

  /** The process id. */
  get pid(): number {
    return this.child.pid!;
  }

  /** Kills the process and removes the cgroups. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGKILL');
      await exited;
    }
    for (const d of this.dirs) {
      // The kernel may take a moment to release an emptied cgroup.
      for (let i = 0; i < 50; i++) {
        try {
          fs.rmdirSync(d);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    }
  }
}

/** `ps`'s view of a process (an independent reading of /proc): user and start time. */
export function psInfo(pid: number): { user: string; start: Date } {
  const out = execFileSync('ps', ['-o', 'user=,lstart=', '-p', String(pid)], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C', TZ: 'UTC' } }).trim();
  const [user, ...rest] = out.split(/\s+/);
  return { user, start: new Date(`${rest.join(' ')} UTC`) };
}
