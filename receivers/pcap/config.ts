/**
 * Config of the `pcap` receiver. Every key has a default: `pcap:` with no
 * value captures on every interface that is up except loopback, parses every
 * L7 protocol of the build, and emits spans, flow logs and network metrics.
 *
 * Decision: the receiver is in the build but in neither default pipeline
 * (agent, `metaflow start`). The ebpf receiver already makes zero-code spans
 * of the host's processes, and packet spans of the same requests would
 * duplicate them; the default interfaces exclude loopback; a capture costs
 * CPU per packet on busy links, and an exporter sending over a captured
 * interface would see its own traffic unless filtered. Users opt in with a
 * config that names `pcap` in their pipelines (README: Packet capture).
 */
import { s, type Infer } from '../../pipeline/config/schema';

const timeouts = s
  .object({
    opening: s.duration().default('5s').min(1, '1ms').doc('a TCP handshake that does not complete within this time ends the flow (client_syn_repeat, server_synack_repeat)'),
    established: s.duration().default('300s').min(1, '1ms').doc('an established TCP flow idle this long ends (timeout)'),
    closing: s.duration().default('35s').min(1, '1ms').doc('a TCP flow with a FIN from only one side ends after this long (half close)'),
    closed: s.duration().default('2s').min(0, '0').doc('a finished TCP flow (FINs acknowledged or reset) lingers this long to count stray packets, then is reported'),
    udp: s.duration().default('30s').min(1, '1ms').doc('a UDP (or other IP protocol) flow idle this long ends'),
  })
  .withDefaults();

/** `receivers::pcap`. */
export const config = s
  .object({
    interfaces: s
      .array(s.string().nonEmpty())
      .default([])
      .doc('interfaces to capture on, e.g. [eth0, lo], or [any] for all at once (Linux cooked capture); empty: every interface that is up, except loopback'),
    file: s.string().default('').doc('read this capture file (pcap with µs or ns timestamps, or pcapng) once, instead of capturing live'),
    engine: s
      .enum(['auto', 'cap', 'tcpdump'] as const)
      .default('auto')
      .doc('libpcap access: tcpdump (a child process; kernel timestamps, snaplen, promiscuous and kernel drop counts honoured) or cap (in process; packets timed on arrival in JavaScript, always promiscuous, kernel drops unknown); auto: tcpdump when installed'),
    bpf_filter: s.string().default('').doc('BPF filter in pcap-filter syntax, applied in the kernel (e.g. "tcp port 80 or udp port 53")'),
    snaplen: s.int().min(64).max(262144).default(65535).doc('bytes kept of each packet; the rest is counted as missing (a reassembly gap)'),
    promiscuous: s.boolean().default(true).doc('put the interfaces in promiscuous mode (see traffic not addressed to this host); false needs engine tcpdump'),
    buffer_size_mib: s.int().min(1).max(2048).default(16).doc('kernel capture buffer per interface; when it fills the kernel drops packets (counted)'),
    decapsulate: s.boolean().default(true).doc('remove VXLAN, GENEVE, GRE, ERSPAN and IP-in-IP headers: the inner packet makes the flow'),
    max_flows: s.int().min(16).default(65536).doc('flows tracked at once; beyond, the least recently active flow is ended (close type evicted, counted)'),
    timeouts: timeouts.doc('idle times after which flows end'),
    flow_logs: s
      .object({
        enabled: s.boolean().default(true).doc('emit flow logs on the logs pipeline'),
        interval: s.duration().default('60s').min(1000, '1s').doc('one flow log per active flow and interval (aligned to multiples of it), plus one when the flow ends'),
      })
      .withDefaults(),
    network_metrics: s
      .object({
        enabled: s.boolean().default(true).doc('emit network metrics (per server ip/port/transport) on the metrics pipeline'),
        per_second: s.boolean().default(true).doc('report every second (metaflow.granularity = 1s)'),
        per_minute: s.boolean().default(true).doc('report every minute (metaflow.granularity = 1m)'),
        max_servers: s.int().min(1).default(10000).doc('server endpoints aggregated at once; beyond, one series with otel.metric.overflow = true'),
      })
      .withDefaults(),
    l7: s
      .object({
        enabled: s.boolean().default(true).doc('reassemble TCP and parse application protocols into spans'),
        protocols: s.array(s.string().nonEmpty()).default([]).doc('L7 protocols to parse, by name (HTTP, Redis, MySQL, DNS, …); empty means every protocol this build has'),
        max_buffer_bytes: s.int().min(1024).default(65536).doc('most bytes a parser buffers per direction of a flow'),
        obfuscate_sql: s.boolean().default(true).doc('replace literals in SQL with ?'),
        request_timeout: s.duration().default('60s').min(1, '1ms').doc('a request unanswered for this long becomes a span with status timeout'),
      })
      .withDefaults(),
    reassembly: s
      .object({
        max_buffer_mib: s.int().min(1).default(64).doc('out-of-order bytes all TCP flows together may hold; beyond, holes are skipped (counted)'),
        max_buffer_per_direction_kib: s.int().min(1).default(256).doc('out-of-order bytes one direction of a flow may hold'),
        hole_timeout: s.duration().default('5s').min(1, '1ms').doc('how long a hole waits for a retransmission before it is skipped'),
      })
      .withDefaults(),
    fail_on_unavailable: s
      .boolean()
      .default(false)
      .doc('fail the whole service when capture cannot start (not root, no such interface, bad filter); by default the receiver logs why, stays idle and the rest of the pipeline runs'),
  })
  .withDefaults();

/** Parsed `pcap` receiver config. */
export type PcapReceiverConfig = Infer<typeof config>;

/** Cross-field checks. */
export function validate(cfg: PcapReceiverConfig): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  if (cfg.file && cfg.interfaces.length) problems.push(['file', 'read a file or capture on interfaces, not both']);
  if (cfg.engine === 'cap' && !cfg.promiscuous) problems.push(['promiscuous', 'the cap engine always opens interfaces in promiscuous mode; use engine: tcpdump to turn it off']);
  if (cfg.interfaces.includes('any') && cfg.interfaces.length > 1) problems.push(['interfaces', '"any" already captures every interface; list it alone']);
  const seen = new Set<string>();
  cfg.interfaces.forEach((name, i) => {
    if (seen.has(name)) problems.push([`interfaces::${i}`, `"${name}" is listed twice`]);
    seen.add(name);
    if (/[\s/]/.test(name)) problems.push([`interfaces::${i}`, `"${name}" is not an interface name`]);
  });
  return problems;
}
