/**
 * No probes outlive the agent: whether it shuts down, exits without shutting
 * down, or is killed, the kernel ends up with none of our BPF programs.
 * Runs for real as root with BTF once `make -C bpf` built the programs.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { checkSupport } from '../bpf/index';
import { heldPrograms, programNames, programsGone } from './helpers/bpf';

const support = checkSupport();
if (!support.ok) console.warn(`skipping the ebpf lifecycle tests: ${support.error.message}`);
const suite = support.ok ? describe : describe.skip;

const ADDON = path.resolve(__dirname, '..', 'bpf', 'build', 'Release', 'metaflow_bpf.node');
const OBJECT = path.resolve(__dirname, '..', 'bpf', 'build', 'metaflow.bpf.o');
const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';

/** A child process holding loaded and attached probes. */
interface Agent {
  pid: number;
  /** Our programs it holds. */
  programs: number[];
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
  /** Tells it to exit(0) without closing anything. */
  exitNow(): void;
  /** It has exited. */
  readonly done: boolean;
}

/** Starts a process that loads and attaches everything and waits. */
async function startAgent(): Promise<Agent> {
  const script = `
    const a = require(${JSON.stringify(ADDON)});
    a.ensureTracefs();
    const t = new a.Tracer(${JSON.stringify(OBJECT)}, { ringBytes: 1 << 20 });
    t.attachTracepoints();
    t.attachUprobe('mf_ssl_read_enter', ${JSON.stringify(LIBSSL)}, 'SSL_read', false, -1);
    t.start(() => {}, { batchBytes: 1 << 16, flushMs: 10, maxPending: 2 });
    process.stdout.write('ready\\n');
    process.stdin.once('data', () => process.exit(0));
    process.stdin.once('end', () => process.exit(1)); // the test runner went away
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let done = false;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      done = true;
      resolve(code);
    }),
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    void exited.then((c) => reject(new Error(`the agent exited with ${c} before it was ready`)));
  });
  // The kernel's own account of what the child holds; ours are named mf_*.
  const names = programNames();
  return {
    pid: child.pid!,
    programs: heldPrograms(child.pid!).filter((id) => names.get(id)?.startsWith('mf_')),
    exited,
    kill: (signal) => child.kill(signal),
    exitNow: () => child.stdin!.write('go\n'),
    get done() {
      return done;
    },
  };
}

suite('ebpf probes and the agent’s life', () => {
  const maybe = fs.existsSync(LIBSSL) ? it : it.skip;
  let agent: Agent | undefined;

  afterEach(async () => {
    // A failed test must not leave its agent (and its probes) behind.
    if (agent && !agent.done) {
      agent.kill('SIGKILL');
      await agent.exited;
    }
    agent = undefined;
  });

  maybe('are gone when the agent is killed (SIGKILL: no cleanup code runs)', async () => {
    const a = (agent = await startAgent());
    expect(a.programs.length).toBeGreaterThan(20);
    a.kill('SIGKILL');
    await a.exited;
    expect(await programsGone(a.programs)).toEqual([]);
  }, 60_000);

  maybe('are gone when the agent exits without shutting the receiver down', async () => {
    const a = (agent = await startAgent());
    expect(a.programs.length).toBeGreaterThan(20);
    a.exitNow();
    expect(await a.exited).toBe(0);
    expect(await programsGone(a.programs)).toEqual([]);
  }, 60_000);
});
