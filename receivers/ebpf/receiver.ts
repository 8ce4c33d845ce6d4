/**
 * The `ebpf` receiver: zero-code request spans from system calls (and
 * OpenSSL for TLS plaintext), for every process on the host.
 *
 * start(): checks that eBPF can run here, loads and configures the BPF
 * programs (capture size, filters, the agent's own pid), attaches the
 * syscall tracepoints and the OpenSSL probes, and consumes the events in
 * batches. Each batch is walked in place (bpf/index.ts EventCursor), fed to
 * the per-socket streams (streams.ts), and the spans it produced go to the
 * next consumer as one Traces batch, grouped by process.
 *
 * Where eBPF cannot run, start() logs why and the receiver stays idle, so
 * the rest of the pipeline runs (unless `fail_on_unavailable`).
 * shutdown() detaches every probe, ends every connection (pending requests
 * become spans) and sends what it holds.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Component, Consumers, CreateSettings } from '../../pipeline/component';
import type { Logger } from '../../pipeline/logger';
import type { ResourceSpans, Span, Traces } from '../../pipeline/pdata';
import type { ComponentTelemetry } from '../../pipeline/telemetry';
import { PROTOCOLS } from '../../protocols/index';
import { DEFAULT_PARSER_OPTIONS, type ProtocolSpec } from '../../protocols/types';
import { checkSupport, EbpfError, EbpfTracer, EventCursor, type KernelCounters, type KernelIds, type TracerFilters } from '../../bpf/index';
import type { EbpfReceiverConfig } from './config';
import { OpensslDiscovery } from './openssl';
import { ProcessTable, type ProcessInfo } from './process';
import { ownSockets } from './self';
import { SocketStreams } from './streams';

const SCOPE = { name: 'metaflow.ebpf', version: '0.1.0', attributes: {}, droppedAttributesCount: 0 };

/** Self-metric counters: name and help. */
const EVENTS_TOTAL = ['metaflow_ebpf_events_total', 'Events read from the kernel.'] as const;
const LOST_TOTAL = ['metaflow_ebpf_lost_events_total', 'Events the kernel dropped because the ring buffer was full.'] as const;
const PARSE_FAILURES = ['metaflow_ebpf_parse_failures_total', 'L7 messages the parsers could not read, by protocol.'] as const;

/** Most span batches waiting on the next consumer; beyond, spans are dropped and counted. */
const MAX_INFLIGHT = 64;

/** What the receiver counted (also on the Prometheus endpoint). */
export interface EbpfReceiverStats {
  /** Why the receiver is idle, '' when it runs. */
  unavailable: string;
  events: number;
  /** Data events (bytes read or written) processed; compare with kernelEvents. */
  dataEvents: number;
  /** Data events the kernel wrote (processed or still in the ring buffer). */
  kernelEvents: number;
  /** Events per second over the last housekeeping interval. */
  eventsPerSecond: number;
  /** Events the kernel dropped (ring buffer full). */
  lostEvents: number;
  parseFailures: number;
  activeSockets: number;
  spans: number;
  droppedSpans: number;
  opensslLibraries: string[];
}

/** The running receiver. */
export class EbpfReceiver implements Component {
  private tracer: EbpfTracer | undefined;
  private streams: SocketStreams | undefined;
  private openssl: OpensslDiscovery | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly cursor = new EventCursor();
  private pending = new Map<ProcessInfo, Span[]>();
  private inflight = 0;
  private stopping: Promise<void> | undefined;
  private running = false;
  private readonly log: Logger;
  private readonly tel: ComponentTelemetry;
  private unavailable = '';
  private events = 0;
  private eventsAtTick = 0;
  private tickAt = Date.now();
  private eventsPerSecond = 0;
  private parseFailures = 0;
  private droppedSpans = 0;
  private ticks = 0;
  private lastDataEvents = 0;
  /** Names of the protocols parsed. */
  private parsed: string[] = [];
  private lastKernel: KernelCounters = { lostRingbuf: 0, lostScratch: 0, sslNoFd: 0, events: 0 };

  constructor(
    private readonly cfg: EbpfReceiverConfig,
    settings: CreateSettings,
    private readonly next: Consumers,
    /** Protocols to parse; the build's by default (tests pass their own). */
    private readonly specs: readonly ProtocolSpec[] = PROTOCOLS,
  ) {
    this.log = settings.logger;
    this.tel = settings.telemetry;
  }

  async start(): Promise<void> {
    const support = checkSupport();
    if (!support.ok) return this.unavailableBecause(support.error);
    let tracer: EbpfTracer | undefined;
    try {
      tracer = EbpfTracer.open({ ringBytes: this.cfg.ring_buffer_size_mib * 1024 * 1024 });
      const filters = this.filters();
      const flags = tracer.setFilters(filters);
      const ringBytes = this.cfg.ring_buffer_size_mib * 1024 * 1024;
      const tracerConfig = {
        captureBytes: this.cfg.capture_bytes,
        wakeupBytes: Math.max(64 * 1024, Math.floor(ringBytes / 8)),
        selfPid: process.pid,
        ephemeralPorts: ephemeralPorts(),
      };
      // Attach disabled, start consuming, then enable: no event is lost to a
      // consumer that is not yet reading, and none arrives half-configured.
      tracer.configure(tracerConfig, false, flags);
      tracer.attachSyscalls();
      this.tracer = tracer;
      this.streams = this.createStreams(tracer.clockOffsetNs);
      if (this.cfg.openssl.enabled) {
        const t = tracer;
        this.openssl = new OpensslDiscovery((file) => t.attachOpenssl(file), this.cfg.openssl.max_libraries);
        this.openssl.start(this.cfg.openssl.libraries);
        if (this.openssl.counters.failed) this.log.warn('some OpenSSL libraries could not be probed', { last: this.openssl.lastError });
      }
      tracer.start((batch) => this.onBatch(batch), {
        batchBytes: 1 << 20,
        flushMs: Math.max(1, Math.round(this.cfg.flush_interval)),
        maxPending: 16,
      });
      // The peers of the agent's sockets that predate tracing (and of its
      // listening ports), before enabling and again after: a connection
      // opened in between is caught by one of the two or by the kernel.
      this.excludeOwnPeers(tracer);
      tracer.configure(tracerConfig, true, flags);
      this.excludeOwnPeers(tracer);
    } catch (err) {
      this.tracer = undefined;
      this.openssl?.stop();
      this.openssl = undefined;
      tracer?.close();
      return this.unavailableBecause(err instanceof EbpfError ? err : new EbpfError('EBPF_FAILED', (err as Error).message, { cause: err }));
    }
    this.running = true;
    this.registerMetrics();
    this.timer = setInterval(() => this.housekeeping(), 1000);
    this.timer.unref();
    if (!this.specs.length) this.log.warn('ebpf receiver: this build registers no L7 protocols (protocols/index.ts PROTOCOLS): events are read but no spans are made');
    this.log.info('ebpf receiver tracing', {
      protocols: this.specs.map((s) => s.name).join(','),
      capture_bytes: this.cfg.capture_bytes,
      openssl: this.openssl?.files.join(',') ?? 'off',
    });
  }

  /** See self.ts: the agent's own traffic is not traced at its far end either. */
  private excludeOwnPeers(tracer: EbpfTracer): void {
    const own = ownSockets();
    tracer.excludePeersOf(own.connected);
    tracer.excludePeersOf(own.listening);
  }

  private unavailableBecause(err: EbpfError): void {
    if (this.cfg.fail_on_unavailable) throw err;
    this.unavailable = `${err.code}: ${err.message}`;
    this.log.error(`ebpf receiver unavailable, not tracing (the rest of the pipeline runs): ${err.message}`, { code: err.code });
    this.tel.gauge('metaflow_ebpf_up', 'Whether the ebpf receiver is tracing (1) or unavailable on this host (0).', () => 0);
  }

  private createStreams(clockOffsetNs: bigint): SocketStreams {
    const wanted = new Set(this.cfg.protocols.map((p) => p.toLowerCase()));
    const specs = wanted.size ? this.specs.filter((s) => wanted.has(s.name.toLowerCase())) : this.specs;
    this.parsed = specs.map((s) => s.name);
    const procs = new ProcessTable(this.cfg.max_processes);
    const streams = new SocketStreams(
      {
        specs,
        parser: {
          ...DEFAULT_PARSER_OPTIONS,
          maxBufferBytes: this.cfg.max_buffer_bytes,
          obfuscateSql: this.cfg.obfuscate_sql,
          requestTimeoutNs: BigInt(Math.round(this.cfg.request_timeout * 1e6)),
        },
        maxConnections: this.cfg.max_connections,
        idleTimeoutNs: BigInt(Math.round(this.cfg.connection_idle_timeout * 1e6)),
        clockOffsetNs,
      },
      procs,
      {
        span: (proc, span) => this.addSpan(proc, span),
        ignore: (sockId, source) => {
          try {
            this.tracer?.ignoreSocket(sockId, source);
          } catch {
            // The kernel keeps sending them; they are dropped here instead.
          }
        },
        malformed: (protocol) => {
          this.parseFailures++;
          this.tel.counter(PARSE_FAILURES[0], PARSE_FAILURES[1], 1, { protocol });
        },
      },
    );
    streams.onExec = (pid) => this.openssl?.onExec(pid);
    return streams;
  }

  /** The filters as the kernel takes them (names resolved to ids). */
  private filters(): TracerFilters {
    const side = (f: EbpfReceiverConfig['allow']) => ({
      pids: f.pids,
      comms: f.process_names,
      cgroupIds: f.cgroups.map(cgroupId),
      ports: f.ports,
    });
    const allow = side(this.cfg.allow);
    const deny = side(this.cfg.deny);
    // The agent never traces itself (the kernel also skips it by pid).
    deny.pids = [...deny.pids, process.pid];
    return { allow, deny };
  }

  /** Puts a counter series on the endpoint at 0, so "none yet" reads as 0 rather than absent. */
  private zeroCounter(name: string, help: string, labels: Record<string, string> = {}): void {
    const t = this.tel;
    if (t.telemetry.level === 'none') return;
    const all = { [t.kind]: t.id, ...labels };
    t.telemetry.counter(name, help, Object.keys(all)).inc(all, 0);
  }

  /**
   * The self-metrics: events read (and per second), events the kernel lost,
   * parse failures by protocol, active sockets, whether it traces at all.
   */
  private registerMetrics(): void {
    const t = this.tel;
    this.zeroCounter(EVENTS_TOTAL[0], EVENTS_TOTAL[1]);
    this.zeroCounter(LOST_TOTAL[0], LOST_TOTAL[1]);
    for (const p of this.parsed) this.zeroCounter(PARSE_FAILURES[0], PARSE_FAILURES[1], { protocol: p });
    t.gauge('metaflow_ebpf_up', 'Whether the ebpf receiver is tracing (1) or unavailable on this host (0).', () => (this.running ? 1 : 0));
    t.gauge('metaflow_ebpf_active_sockets', 'Connections being parsed.', () => this.streams?.activeConnections ?? 0);
    t.gauge('metaflow_ebpf_events_per_second', 'Events read from the kernel per second (last interval).', () => this.eventsPerSecond);
    t.gauge('metaflow_ebpf_openssl_libraries', 'Distinct OpenSSL binaries probed.', () => this.openssl?.counters.libraries ?? 0);
  }

  /** One batch from the kernel. Never throws: the addon calls it directly. */
  private onBatch(batch: Buffer): void {
    const streams = this.streams;
    if (!streams) return;
    const cur = this.cursor.reset(batch);
    let n = 0;
    try {
      while (cur.next()) {
        n++;
        streams.handle(cur);
      }
    } catch (err) {
      // A bug in the assembly must not take the agent down: count and go on.
      this.tel.counter('metaflow_ebpf_internal_errors_total', 'Batches whose processing failed unexpectedly.', 1);
      this.log.every('ebpf-batch-error', 60_000, 'error', 'ebpf receiver: processing a batch failed', { error: (err as Error).stack ?? String(err) });
    }
    this.events += n;
    this.tel.counter(EVENTS_TOTAL[0], EVENTS_TOTAL[1], n);
    this.flushSpans();
  }

  private addSpan(proc: ProcessInfo, span: Span): void {
    let list = this.pending.get(proc);
    if (!list) {
      list = [];
      this.pending.set(proc, list);
    }
    list.push(span);
  }

  /** Sends the spans of the last batch as one Traces batch, one resource per process. */
  private flushSpans(): void {
    if (this.pending.size === 0) return;
    const pending = this.pending;
    this.pending = new Map();
    const consumer = this.next.traces;
    let count = 0;
    const resourceSpans: ResourceSpans[] = [];
    for (const [proc, spans] of pending) {
      count += spans.length;
      resourceSpans.push({ resource: proc.resource, scopeSpans: [{ scope: SCOPE, spans, schemaUrl: '' }], schemaUrl: '' });
    }
    if (!consumer) return;
    if (this.inflight >= MAX_INFLIGHT) {
      this.droppedSpans += count;
      this.tel.dropped('traces', count, 'pipeline_busy');
      return;
    }
    const traces: Traces = { resourceSpans };
    this.inflight++;
    consumer.consume(traces).then(
      () => {
        this.inflight--;
        this.tel.accepted('traces', count, 'ebpf');
      },
      (err: unknown) => {
        this.inflight--;
        this.droppedSpans += count;
        this.tel.refused('traces', count, 'ebpf');
        this.log.every('ebpf-refused', 10_000, 'warn', 'ebpf receiver: the pipeline refused spans', { error: (err as Error).message });
      },
    );
  }

  private housekeeping(): void {
    const tracer = this.tracer;
    if (!tracer || !this.streams) return;
    try {
      this.streams.housekeeping(process.hrtime.bigint());
      this.flushSpans();
      // Components that started after this one may listen on new ports.
      if (++this.ticks % 10 === 0) this.excludeOwnPeers(tracer);
      const now = Date.now();
      this.eventsPerSecond = Math.round(((this.events - this.eventsAtTick) * 1000) / Math.max(1, now - this.tickAt));
      this.eventsAtTick = this.events;
      this.tickAt = now;
      const k = tracer.counters();
      const lost = k.lostRingbuf - this.lastKernel.lostRingbuf;
      if (lost > 0) {
        this.tel.counter(LOST_TOTAL[0], LOST_TOTAL[1], lost);
        this.log.every('ebpf-lost', 60_000, 'warn', 'ebpf receiver: events lost (ring buffer full); raise ring_buffer_size_mib or lower capture_bytes', { total: k.lostRingbuf });
      }
      const noFd = k.sslNoFd - this.lastKernel.sslNoFd;
      if (noFd > 0) this.tel.counter('metaflow_ebpf_ssl_unmatched_total', 'SSL calls whose socket was not known (plaintext not attributed).', noFd);
      this.lastKernel = k;
    } catch (err) {
      this.log.every('ebpf-housekeeping', 60_000, 'error', 'ebpf receiver: housekeeping failed', { error: (err as Error).message });
    }
  }

  /** Counters for tests and the CLI. */
  stats(): EbpfReceiverStats {
    const k = this.tracer ? this.tracer.counters() : this.lastKernel;
    return {
      unavailable: this.unavailable,
      events: this.events,
      dataEvents: this.streams?.counters.dataEvents ?? this.lastDataEvents,
      kernelEvents: k.events,
      eventsPerSecond: this.eventsPerSecond,
      lostEvents: k.lostRingbuf,
      parseFailures: this.parseFailures,
      activeSockets: this.streams?.activeConnections ?? 0,
      spans: this.streams?.counters.spans ?? 0,
      droppedSpans: this.droppedSpans,
      opensslLibraries: this.openssl?.files ?? [],
    };
  }

  /** The kernel's ids of this receiver's BPF programs and links (empty when not tracing). */
  kernelIds(): KernelIds {
    return this.tracer ? this.tracer.kernelIds() : { programs: [], links: [] };
  }

  /** Detaches everything, ends every connection and sends the remaining spans. Idempotent. */
  shutdown(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.timer) clearInterval(this.timer);
      this.timer = undefined;
      this.openssl?.stop();
      const tracer = this.tracer;
      if (tracer) {
        tracer.stop();
        // Batches the consumer handed over before it stopped arrive on the
        // next turns of the event loop; take them before closing the streams.
        await new Promise((r) => setImmediate(r));
        await new Promise((r) => setTimeout(r, 10));
        this.lastKernel = tracer.counters();
        tracer.close();
      }
      this.tracer = undefined;
      this.running = false;
      if (this.streams) {
        this.lastDataEvents = this.streams.counters.dataEvents;
        this.streams.closeAll(process.hrtime.bigint());
        this.flushSpans();
      }
      this.streams = undefined;
    })();
    return this.stopping;
  }
}

/** The kernel's ephemeral port range (defaults when unreadable). */
function ephemeralPorts(): [number, number] {
  try {
    const [lo, hi] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo > 0 && hi >= lo && hi < 65536) return [lo, hi];
  } catch {
    // Not Linux or no procfs.
  }
  return [32768, 60999];
}

/** A cgroup id from config: the number itself, or the inode of the path in the cgroup v2 hierarchy. */
export function cgroupId(text: string): bigint {
  if (/^\d+$/.test(text)) return BigInt(text);
  const root = cgroup2Mount();
  try {
    return BigInt(fs.statSync(path.join(root, text), { bigint: true }).ino);
  } catch (err) {
    throw new EbpfError('EBPF_FAILED', `cgroup ${text} not found under ${root}: ${(err as Error).message}`);
  }
}

function cgroup2Mount(): string {
  try {
    for (const line of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const f = line.split(' ');
      if (f[2] === 'cgroup2') return f[1];
    }
  } catch {
    // Fall through.
  }
  return '/sys/fs/cgroup';
}
