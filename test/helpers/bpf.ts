/**
 * What the kernel says about loaded BPF programs and links, for the eBPF
 * tests: ids from `bpftool -j prog|link show`, and the programs a process
 * holds read from its /proc/<pid>/fdinfo (Debian's bpftool is built without
 * the BPF skeletons that would list the owning pids itself).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** Ids of every BPF program and link loaded in the kernel now (anyone's). */
export function kernelIds(): { programs: Set<number>; links: Set<number> } {
  const ids = (what: string) => new Set((JSON.parse(execFileSync('bpftool', ['-j', what, 'show'], { encoding: 'utf8' })) as Array<{ id: number }>).map((p) => p.id));
  return { programs: ids('prog'), links: ids('link') };
}

/** Names of loaded programs by id. */
export function programNames(): Map<number, string> {
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as Array<{ id: number; name?: string }>;
  return new Map(progs.map((p) => [p.id, p.name ?? '']));
}

/**
 * Ids of the BPF programs a process holds file descriptors of: program fds
 * and link fds both name their program (`prog_id:` in fdinfo).
 */
export function heldPrograms(pid: number): number[] {
  const ids = new Set<number>();
  const dir = `/proc/${pid}/fdinfo`;
  for (const fd of fs.readdirSync(dir)) {
    let text = '';
    try {
      text = fs.readFileSync(`${dir}/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    const m = /^prog_id:\s*(\d+)$/m.exec(text);
    if (m) ids.add(Number(m[1]));
  }
  return [...ids].sort((a, b) => a - b);
}

/**
 * Waits until none of `programs` is loaded any more (freeing a program
 * waits for an RCU grace period after its last reference goes); returns the
 * ones still loaded after `ms`.
 */
export async function programsGone(programs: readonly number[], ms = 15_000): Promise<number[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const loaded = kernelIds().programs;
    const left = programs.filter((id) => loaded.has(id));
    if (!left.length || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}
