/**
 * Config of the `ebpf` receiver. Every key has a default: `ebpf:` with no
 * value traces every process on the host except the agent itself.
 */
import { s, type Infer } from '../../pipeline/config/schema';

/** A filter list (a function: each use gets its own schema, so each keeps its own doc). */
const filterList = () =>
  s
    .object({
      process_names: s.array(s.string().nonEmpty()).default([]).doc('process (thread command) names, as `ps -o comm` shows them; the kernel keeps their first 15 bytes'),
      pids: s.array(s.int().min(1)).default([]).doc('process ids'),
      ports: s.array(s.int().min(1).max(65535)).default([]).doc('local or remote TCP/UDP ports'),
      cgroups: s
        .array(s.string().nonEmpty())
        .default([])
        .doc('cgroup v2 paths below the cgroup2 mount (`/system.slice/nginx.service`) or numeric cgroup ids; a process in a child cgroup is not matched by its parent'),
    })
    .withDefaults();

/** `receivers::ebpf`. */
export const config = s
  .object({
    capture_bytes: s.int().min(0).max(16384).default(1024).doc('bytes captured of each message read or written (the rest is counted, not copied); at most 16384'),
    ring_buffer_size_mib: s.int().min(1).max(1024).default(16).doc('kernel ring buffer the events wait in (rounded up to a power of two); when it is full events are dropped and counted'),
    flush_interval: s.duration().default('20ms').min(1, '1ms').doc('longest time events wait in the kernel before the agent reads them; it is woken earlier once an eighth of the ring buffer is used'),
    allow: filterList().doc('trace only these: the process lists (names, pids, cgroups) are a union; ports, when given, must match too'),
    deny: filterList().doc('never trace these (wins over allow); the agent process itself is never traced, nor the far end of its own connections'),
    openssl: s
      .object({
        enabled: s.boolean().default(true).doc('probe SSL_read/SSL_write (and the _ex forms) in OpenSSL for the plaintext of TLS connections'),
        libraries: s.array(s.string().nonEmpty()).default([]).doc('more libraries or executables to probe besides the system libssl and those found in running processes (e.g. a statically linked server)'),
        max_libraries: s.int().min(1).default(64).doc('most distinct OpenSSL binaries probed at once'),
      })
      .withDefaults(),
    protocols: s.array(s.string().nonEmpty()).default([]).doc('L7 protocols to parse, by name (`HTTP`, `Redis`, `MySQL`, `DNS`, …); empty means every protocol this build has'),
    max_connections: s.int().min(16).default(65536).doc('connections tracked at once; beyond it the oldest are closed (their pending requests become timeouts) and counted'),
    connection_idle_timeout: s.duration().default('5m').min(1000, '1s').doc('a connection with no traffic for this long is closed'),
    request_timeout: s.duration().default('60s').min(1, '1ms').doc('a request unanswered for this long becomes a span with status timeout'),
    max_buffer_bytes: s.int().min(1024).default(65536).doc('most bytes a parser buffers per direction of a connection'),
    obfuscate_sql: s.boolean().default(true).doc('replace literals in SQL with ?'),
    max_processes: s.int().min(16).default(8192).doc('processes whose details (executable, container id) are kept'),
    fail_on_unavailable: s
      .boolean()
      .default(false)
      .doc('fail the whole service when eBPF cannot run here (not Linux, not root, no BTF, not built); by default the receiver logs why, stays idle and the rest of the pipeline runs'),
  })
  .withDefaults();

/** Parsed `ebpf` receiver config. */
export type EbpfReceiverConfig = Infer<typeof config>;

/** Cross-field checks. */
export function validate(cfg: EbpfReceiverConfig): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  for (const side of ['allow', 'deny'] as const) {
    cfg[side].cgroups.forEach((c, i) => {
      if (!/^\d+$/.test(c) && !c.startsWith('/')) problems.push([`${side}::cgroups::${i}`, `"${c}" is neither a cgroup id nor a path starting with /`]);
    });
  }
  return problems;
}
