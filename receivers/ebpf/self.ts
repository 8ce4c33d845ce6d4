/**
 * The agent's own TCP sockets, as /proc shows them, so that the kernel
 * side can leave the far end of the agent's traffic untraced too.
 *
 * The BPF programs never trace the agent's process, and they learn the local
 * port of every connection the agent opens from its connect() calls, so the
 * server at the other end (a MetaFlow server on this host receiving the
 * agent's exports) is not traced either: tracing it would feed every export
 * back as new spans. What they cannot see are sockets that existed before
 * tracing started (an exporter connected before this receiver started) and
 * the ports the agent listens on (apps sending OTLP to the agent: the
 * telemetry plane, not application traffic, as Beyla also treats it). This
 * module finds both from /proc/<pid>/fd and /proc/<pid>/net/tcp{,6}.
 */
import fs from 'node:fs';
import path from 'node:path';

/** One of the agent's sockets: its descriptor and local port. */
export interface OwnSocket {
  fd: number;
  port: number;
}

/** The agent's sockets whose peers are not traced. */
export interface OwnSockets {
  /** Connections the agent opened (not accepted ones: their local port is a listening port). */
  connected: OwnSocket[];
  /** Ports the agent listens on. */
  listening: OwnSocket[];
}

const TCP_ESTABLISHED = 0x01;
const TCP_SYN_SENT = 0x02;
const TCP_LISTEN = 0x0a;

/** Socket inode → descriptor, for the process's socket descriptors. */
function socketInodes(procDir: string): Map<string, number> {
  const out = new Map<string, number>();
  let fds: string[] = [];
  try {
    fds = fs.readdirSync(path.join(procDir, 'fd'));
  } catch {
    return out;
  }
  for (const fd of fds) {
    let target = '';
    try {
      target = fs.readlinkSync(path.join(procDir, 'fd', fd));
    } catch {
      continue; // closed meanwhile
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) out.set(m[1], Number(fd));
  }
  return out;
}

/**
 * Parses /proc/net/tcp{,6} text into the process's sockets. Lines look like
 * `0: 0100007F:1F90 00000000:0000 0A ... <inode> ...`: the local port is
 * the hex after the colon, the state the fourth field, the inode the tenth.
 */
export function parseTcpTable(text: string, inodes: ReadonlyMap<string, number>, into: OwnSockets): void {
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i].trim().split(/\s+/);
    if (f.length < 10) continue;
    const fd = inodes.get(f[9]);
    if (fd === undefined) continue;
    const port = parseInt(f[1].slice(f[1].lastIndexOf(':') + 1), 16);
    const state = parseInt(f[3], 16);
    if (!(port > 0 && port < 65536)) continue;
    if (state === TCP_LISTEN) into.listening.push({ fd, port });
    else if (state === TCP_ESTABLISHED || state === TCP_SYN_SENT) into.connected.push({ fd, port });
  }
}

/** The TCP sockets of process `pid` (default: this one). Empty where /proc is missing. */
export function ownSockets(pid: number | 'self' = 'self', procRoot = '/proc'): OwnSockets {
  const procDir = path.join(procRoot, String(pid));
  const out: OwnSockets = { connected: [], listening: [] };
  const inodes = socketInodes(procDir);
  if (!inodes.size) return out;
  for (const table of ['tcp', 'tcp6']) {
    try {
      parseTcpTable(fs.readFileSync(path.join(procDir, 'net', table), 'utf8'), inodes, out);
    } catch {
      // No IPv6, or no procfs.
    }
  }
  // An accepted connection has a listening port as its local port: its peer
  // is a client of the agent, already covered by the listening port.
  const listen = new Set(out.listening.map((s) => s.port));
  out.connected = out.connected.filter((s) => !listen.has(s.port));
  return out;
}
