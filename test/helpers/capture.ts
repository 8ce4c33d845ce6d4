/**
 * Captures loopback traffic to a pcap file with tcpdump (needs root), so tests
 * can record real clients talking to real servers and then dissect the same
 * file with our parsers and with tshark.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const made: string[] = [];
// Capture folders go when the test process ends (callers read the file after stop()).
process.once('exit', () => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

/** Whether a loopback capture can run here (tcpdump present, running as root). */
export function captureAvailable(): boolean {
  return process.getuid?.() === 0 && spawnSync('tcpdump', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** A running capture. */
export interface Capture {
  /** The pcap file being written. */
  file: string;
  /** Stops tcpdump (after letting the last packets through) and returns the file. */
  stop(): Promise<string>;
}

/**
 * Starts `tcpdump -i lo -w FILE FILTER` and resolves once it listens.
 * `filter` is a BPF filter such as `tcp port 6379`.
 */
export async function captureLoopback(filter: string, snaplen = 262144): Promise<Capture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-capture-'));
  made.push(dir);
  const file = path.join(dir, 'capture.pcap');
  // --immediate-mode: without it libpcap hands packets over a ring block at a
  // time, and a capture stopped soon after the traffic loses the last block.
  // -Z root: keep root so the file in our private temp folder stays writable.
  const child = spawn('tcpdump', ['-i', 'lo', '--immediate-mode', '-U', '-Z', 'root', '-s', String(snaplen), '-w', file, filter], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  let exited = false;
  child.on('exit', () => (exited = true));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start: ${stderr}`)), 10000);
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (stderr.includes('listening on')) {
        clearTimeout(timer);
        // tcpdump says it listens a moment before the kernel hands it packets.
        setTimeout(resolve, 300);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tcpdump exited with ${code}: ${stderr}`));
    });
  });
  let stopping: Promise<string> | undefined;
  return {
    file,
    stop: () =>
      (stopping ??= (async () => {
        // Let packets in flight reach the capture before stopping it.
        await new Promise((r) => setTimeout(r, 200));
        if (!exited) {
          const done = new Promise((r) => child.once('exit', r));
          child.kill('SIGINT');
          await done;
        }
        return file;
      })()),
  };
}
