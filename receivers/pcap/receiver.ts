/**
 * The `pcap` receiver: packets → flows → L4 metrics, L7 spans and flow logs.
 *
 * Live: one capture per interface (capture.ts); every packet is decoded in
 * place (protocols/packet), handed to the flow table (protocols/flow), which
 * reassembles TCP, runs the L7 parsers and keeps the L4 counters. What the
 * table reports is converted to pdata (sessionToSpan; protocols/flow/signals
 * for flow logs and network metrics) and sent to the next consumers in
 * batches: when enough is pending and at least every second. A capture
 * cannot wait, so when a consumer is behind (more than `MAX_INFLIGHT`
 * batches of a signal unanswered) or refuses a batch, the batch is dropped
 * and counted.
 *
 * File (`file:`): the capture is read in slices of packets between which
 * the event loop runs; every batch is awaited before the next slice, so a
 * slow pipeline slows the reading instead of losing data (a refused batch is
 * retried a few times, then dropped and counted). At the end every flow is
 * closed and reported.
 *
 * Only the signals some pipeline takes are produced: no traces pipeline, no
 * L7 parsing; no logs pipeline, no flow logs; no metrics pipeline, no
 * network metrics. Where capture cannot start, start() logs why and the
 * receiver stays idle (unless `fail_on_unavailable`).
 */
import os from 'node:os';
import type { Component, Consumers, CreateSettings } from '../../pipeline/component';
import { RetryableError } from '../../pipeline/errors';
import type { Logger } from '../../pipeline/logger';
import { SpanKind, type Attributes, type InstrumentationScope, type LogRecord, type Logs, type Metric, type Metrics, type Resource, type ResourceSpans, type Signal, type Span, type Traces } from '../../pipeline/pdata';
import type { ComponentTelemetry } from '../../pipeline/telemetry';
import { PROTOCOLS } from '../../protocols/index';
import { PacketDecoder } from '../../protocols/packet/decode';
import { CapturedPacket, CaptureReader } from '../../protocols/packet/pcap';
import { sessionToSpan, type SessionFlow } from '../../protocols/span';
import { ReassemblyPool } from '../../protocols/stream/tcp';
import { DEFAULT_PARSER_OPTIONS, type L7Session, type ProtocolSpec } from '../../protocols/types';
import { FlowTable, type Flow, type FlowTableOptions, type ServerAggregate } from '../../protocols/flow/table';
import { flowLogRecord, networkMetrics } from '../../protocols/flow/signals';
import { CaptureError, createSource, defaultInterfaces, LIVE_LAG_MS, resolveEngine, type CaptureSource, type SourceStats } from './capture';
import type { PcapReceiverConfig } from './config';

const SCOPE: InstrumentationScope = { name: 'metaflow.pcap', version: '0.1.0', attributes: {}, droppedAttributesCount: 0 };

/** Most batches of one signal waiting on the next consumer (live); beyond, batches are dropped and counted. */
const MAX_INFLIGHT = 64;
/** Pending spans + log records + metrics that trigger a send before the next second. */
const FLUSH_ITEMS = 4096;
/** Packets read from a file between two turns of the event loop. */
const FILE_SLICE = 8192;
/** Attempts for a batch the pipeline refuses while reading a file. */
const FILE_RETRIES = 20;

/** What the receiver counted (also on the Prometheus endpoint). */
export interface PcapReceiverStats {
  /** Why the receiver is idle, '' when it runs. */
  unavailable: string;
  engine: string;
  interfaces: string[];
  /** Packets read (all interfaces, or the file). */
  packets: number;
  /** Packets the kernel dropped (-1 when the engine cannot tell). */
  kernelDrops: number;
  /** Packets the decoder dropped or skipped, by reason. */
  decodeDrops: Record<string, number>;
  flowsActive: number;
  flowsCreated: number;
  flowsClosed: number;
  flowsEvicted: number;
  spans: number;
  flowLogs: number;
  metricPoints: number;
  /** Items dropped because the pipeline was behind or refused them, by signal. */
  dropped: Record<Signal, number>;
  parseFailures: number;
  /** The file was read to its end (file mode). */
  fileDone: boolean;
}

/** The running receiver. */
export class PcapReceiver implements Component {
  private readonly log: Logger;
  private readonly tel: ComponentTelemetry;
  private readonly decoder: PacketDecoder;
  private readonly table: FlowTable;
  private readonly pkt = new CapturedPacket();
  private sources: CaptureSource[] = [];
  private engine = '';
  private timer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private started = false;
  private unavailable = '';
  private fileTask: Promise<void> | undefined;
  private fileDone = false;
  private stopFile = false;
  // Pending output.
  private spans = new Map<string, Span[]>();
  private logs: LogRecord[] = [];
  private metrics: Metric[] = [];
  private pendingItems = 0;
  private readonly inflight: Record<Signal, number> = { traces: 0, metrics: 0, logs: 0 };
  private readonly waiting: Array<Promise<void>> = [];
  // Counters.
  private readonly counts = { spans: 0, flowLogs: 0, metricPoints: 0, parseFailures: 0 };
  private readonly droppedItems: Record<Signal, number> = { traces: 0, metrics: 0, logs: 0 };
  private readonly malformedBy = new Map<string, number>();
  private readonly published = new Map<string, number>();
  private filePackets = 0;
  private readonly resource: Resource;
  private readonly serviceResources = new Map<string, Resource>();
  private localAddresses = new Set<string>();
  private readonly live: boolean;
  private readonly wantSpans: boolean;
  private readonly wantLogs: boolean;
  private readonly wantMetrics: boolean;
  private readonly specCount: number;

  constructor(
    private readonly cfg: PcapReceiverConfig,
    settings: CreateSettings,
    private readonly next: Consumers,
    /** Protocols to parse; the build's by default (tests pass their own). */
    specs: readonly ProtocolSpec[] = PROTOCOLS,
  ) {
    this.log = settings.logger;
    this.tel = settings.telemetry;
    this.live = !cfg.file;
    this.wantSpans = cfg.l7.enabled && next.traces !== undefined;
    this.wantLogs = cfg.flow_logs.enabled && next.logs !== undefined;
    this.wantMetrics = cfg.network_metrics.enabled && next.metrics !== undefined && (cfg.network_metrics.per_second || cfg.network_metrics.per_minute);
    this.resource = { attributes: { 'host.name': os.hostname() }, droppedAttributesCount: 0 };
    this.decoder = new PacketDecoder({ decapsulate: cfg.decapsulate });
    const wanted = new Set(cfg.l7.protocols.map((p) => p.toLowerCase()));
    const useSpecs = wanted.size ? specs.filter((s) => wanted.has(s.name.toLowerCase())) : specs;
    this.specCount = useSpecs.length;
    const t = cfg.timeouts;
    const ms = 1e6;
    const options: Partial<FlowTableOptions> = {
      maxFlows: cfg.max_flows,
      timeouts: { opening: t.opening * ms, established: t.established * ms, closing: t.closing * ms, closed: t.closed * ms, datagram: t.udp * ms },
      direction: 'ports',
      transportOnly: false,
      flowLogIntervalNs: cfg.flow_logs.interval * ms,
      maxServers: cfg.network_metrics.max_servers,
    };
    if (this.wantSpans) {
      options.l7 = {
        specs: useSpecs,
        parser: {
          ...DEFAULT_PARSER_OPTIONS,
          maxBufferBytes: cfg.l7.max_buffer_bytes,
          obfuscateSql: cfg.l7.obfuscate_sql,
          requestTimeoutNs: BigInt(Math.round(cfg.l7.request_timeout * ms)),
        },
      };
      const r = cfg.reassembly;
      options.reassembly = new ReassemblyPool(r.max_buffer_mib * 1024 * 1024, {
        maxBufferedBytes: r.max_buffer_per_direction_kib * 1024,
        holeTimeoutNs: BigInt(Math.round(r.hole_timeout * ms)),
      });
    }
    this.table = new FlowTable(options, {
      session: (s, f) => this.onSession(s, f),
      malformed: (_reason, f) => {
        const p = f.l7Protocol || 'unknown';
        this.malformedBy.set(p, (this.malformedBy.get(p) ?? 0) + 1);
        this.counts.parseFailures++;
      },
      flowLog: this.wantLogs ? (f, start, end, final) => this.onFlowLog(f, start, end, final) : undefined,
      metrics: this.wantMetrics ? (g, start, end, aggs) => this.onMetrics(g, start, end, aggs) : undefined,
    });
  }

  async start(): Promise<void> {
    if (this.started || this.stopping) return;
    this.started = true;
    this.refreshLocalAddresses();
    this.registerGauges();
    if (!this.live) {
      this.engine = 'file';
      let reader: CaptureReader;
      try {
        reader = CaptureReader.openFile(this.cfg.file);
      } catch (err) {
        return this.unavailableBecause(new CaptureError(`cannot read ${this.cfg.file}: ${(err as Error).message}`, { cause: err }));
      }
      this.fileTask = this.readFile(reader).catch((err: unknown) => {
        this.log.error('pcap receiver: reading the file failed', { file: this.cfg.file, error: (err as Error).message });
      });
      this.timer = setInterval(() => this.housekeeping(), 1000);
      this.timer.unref();
      return;
    }
    const engine = resolveEngine(this.cfg.engine);
    this.engine = engine;
    const ifaces = this.cfg.interfaces.length ? this.cfg.interfaces : defaultInterfaces();
    if (!ifaces.length) return this.unavailableBecause(new CaptureError('no interface is up (besides loopback); list the ones to capture in interfaces'));
    const opts = { filter: this.cfg.bpf_filter, snaplen: this.cfg.snaplen, promiscuous: this.cfg.promiscuous, bufferBytes: this.cfg.buffer_size_mib * 1024 * 1024 };
    const started: CaptureSource[] = [];
    try {
      for (const iface of ifaces) {
        const src = createSource(engine, iface, opts);
        await src.start((buf, off, len, sec, frac, orig, link) => this.onPacket(iface, buf, off, len, sec, frac, orig, link));
        started.push(src);
      }
    } catch (err) {
      await Promise.all(started.map((s) => s.stop()));
      return this.unavailableBecause(err instanceof CaptureError ? err : new CaptureError((err as Error).message, { cause: err }));
    }
    this.sources = started;
    this.timer = setInterval(() => this.housekeeping(), 1000);
    this.timer.unref();
    if (this.wantSpans && !this.specCount) this.log.warn('pcap receiver: this build registers no L7 protocols: flows are measured but no spans are made');
    this.log.info('pcap receiver capturing', {
      engine,
      interfaces: ifaces.join(','),
      filter: this.cfg.bpf_filter || '(none)',
      signals: [this.wantSpans && 'traces', this.wantMetrics && 'metrics', this.wantLogs && 'logs'].filter(Boolean).join(','),
    });
  }

  private unavailableBecause(err: CaptureError): void {
    if (this.cfg.fail_on_unavailable) throw err;
    this.unavailable = err.message;
    this.log.error(`pcap receiver unavailable, not capturing (the rest of the pipeline runs): ${err.message}`, { code: err.code });
  }

  /** One live packet. Never throws: a bug here must not take the capture down. */
  private onPacket(iface: string, buf: Uint8Array, off: number, len: number, sec: number, frac: number, orig: number, link: number): void {
    try {
      const p = this.pkt;
      p.set(buf, off, len, sec, frac, link, orig, 0);
      this.table.packet(this.decoder.decodePacket(p), p, iface);
      if (this.pendingItems >= FLUSH_ITEMS) this.flush();
    } catch (err) {
      this.tel.counter('metaflow_pcap_internal_errors_total', 'Packets whose processing failed unexpectedly.', 1);
      this.log.every('pcap-packet-error', 60_000, 'error', 'pcap receiver: processing a packet failed', { error: (err as Error).stack ?? String(err) });
    }
  }

  private async readFile(reader: CaptureReader): Promise<void> {
    const started = Date.now();
    const d = this.decoder;
    const table = this.table;
    try {
      for (;;) {
        let n = 0;
        let p = reader.next();
        while (p !== null) {
          table.packet(d.decodePacket(p), p);
          if (++n >= FILE_SLICE) break;
          p = reader.next();
        }
        this.filePackets += n;
        await this.flushAndWait();
        if (p === null || this.stopFile) break;
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      reader.close();
    }
    table.flush();
    await this.flushAndWait();
    this.fileDone = true;
    this.publishCounters();
    const st = reader.stats;
    this.log.info('pcap receiver read the file', {
      file: this.cfg.file,
      packets: st.packets,
      flows: table.counters.flowsCreated,
      spans: this.counts.spans,
      seconds: ((Date.now() - started) / 1000).toFixed(1),
      truncated: st.truncated,
      corrupt: st.corrupt,
    });
  }

  // ---------------------------------------------------------------- table events

  private onSession(s: L7Session, f: Flow): void {
    const kind = this.live && !this.localAddresses.has(f.server_ip) && this.localAddresses.has(f.client_ip) ? SpanKind.CLIENT : SpanKind.SERVER;
    const extra: Attributes = { 'metaflow.flow.id': f.id };
    if (f.iface) extra['network.interface.name'] = f.iface;
    const span = sessionToSpan(s, f as unknown as SessionFlow, { kind, source: 'packet', extra });
    // Spans are grouped by the server endpoint they went to: that is the service as the network sees it.
    const key = `${f.server_ip}:${f.server_port}`;
    let list = this.spans.get(key);
    if (!list) {
      list = [];
      this.spans.set(key, list);
    }
    list.push(span);
    this.pendingItems++;
  }

  private onFlowLog(f: Flow, start: number, end: number, final: boolean): void {
    const t = this.table;
    this.logs.push(flowLogRecord(f, t.absNs(f.startT), t.absNs(start), t.absNs(end), final, BigInt(Date.now()) * 1_000_000n));
    this.pendingItems++;
  }

  private onMetrics(granularity: '1s' | '1m', start: bigint, end: bigint, aggs: readonly ServerAggregate[]): void {
    const nm = this.cfg.network_metrics;
    if (granularity === '1s' ? !nm.per_second : !nm.per_minute) return;
    const list = networkMetrics(granularity, start, end, aggs, granularity === '1s' ? 'second' : 'minute');
    for (const m of list) {
      this.metrics.push(m);
      this.pendingItems += m.data.type === 'empty' ? 0 : m.data.dataPoints.length;
    }
  }

  // ---------------------------------------------------------------- output

  private resourceFor(serverKey: string): Resource {
    let r = this.serviceResources.get(serverKey);
    if (!r) {
      if (this.serviceResources.size > 10000) this.serviceResources.clear();
      r = { attributes: { 'service.name': serverKey, 'host.name': os.hostname() }, droppedAttributesCount: 0 };
      this.serviceResources.set(serverKey, r);
    }
    return r;
  }

  /** Sends what is pending; returns the sends to wait for (file mode waits, live does not). */
  private flush(): Array<Promise<void>> {
    const sends: Array<Promise<void>> = [];
    this.pendingItems = 0;
    if (this.spans.size) {
      const pending = this.spans;
      this.spans = new Map();
      const resourceSpans: ResourceSpans[] = [];
      let n = 0;
      for (const [key, spans] of pending) {
        n += spans.length;
        resourceSpans.push({ resource: this.resourceFor(key), scopeSpans: [{ scope: SCOPE, spans, schemaUrl: '' }], schemaUrl: '' });
      }
      this.counts.spans += n;
      sends.push(this.send('traces', { resourceSpans } as Traces, n));
    }
    if (this.logs.length) {
      const records = this.logs;
      this.logs = [];
      this.counts.flowLogs += records.length;
      const data: Logs = { resourceLogs: [{ resource: this.resource, scopeLogs: [{ scope: SCOPE, logRecords: records, schemaUrl: '' }], schemaUrl: '' }] };
      sends.push(this.send('logs', data, records.length));
    }
    if (this.metrics.length) {
      const metrics = this.metrics;
      this.metrics = [];
      let n = 0;
      for (const m of metrics) n += m.data.type === 'empty' ? 0 : m.data.dataPoints.length;
      this.counts.metricPoints += n;
      const data: Metrics = { resourceMetrics: [{ resource: this.resource, scopeMetrics: [{ scope: SCOPE, metrics, schemaUrl: '' }], schemaUrl: '' }] };
      sends.push(this.send('metrics', data, n));
    }
    return sends;
  }

  private async flushAndWait(): Promise<void> {
    await Promise.all(this.flush());
  }

  /** Hands a batch to the next consumer; resolves when it was accepted or given up (never rejects). */
  private send(signal: Signal, data: Traces | Logs | Metrics, n: number): Promise<void> {
    const consumer = this.next[signal] as { consume(d: unknown): Promise<void> } | undefined;
    if (!consumer) return Promise.resolve();
    if (this.live && this.inflight[signal] >= MAX_INFLIGHT) {
      this.drop(signal, n, 'pipeline_busy');
      return Promise.resolve();
    }
    this.inflight[signal]++;
    const attempt = async (): Promise<void> => {
      for (let i = 0; ; i++) {
        try {
          await consumer.consume(data);
          this.tel.accepted(signal, n, 'pcap');
          return;
        } catch (err) {
          // Reading a file can wait for the pipeline; a live capture cannot.
          if (!this.live && err instanceof RetryableError && i < FILE_RETRIES && !this.stopFile) {
            await new Promise((r) => setTimeout(r, Math.max(50, Math.min(2000, err.retryAfterMs || 200))));
            continue;
          }
          this.tel.refused(signal, n, 'pcap');
          this.drop(signal, n, 'refused');
          this.log.every(`pcap-refused-${signal}`, 10_000, 'warn', 'pcap receiver: the pipeline refused a batch', { signal, error: (err as Error).message });
          return;
        }
      }
    };
    const p = attempt().finally(() => {
      this.inflight[signal]--;
      const i = this.waiting.indexOf(p);
      if (i >= 0) this.waiting.splice(i, 1);
    });
    this.waiting.push(p);
    return p;
  }

  private drop(signal: Signal, n: number, reason: string): void {
    this.droppedItems[signal] += n;
    this.tel.dropped(signal, n, reason);
  }

  // ---------------------------------------------------------------- housekeeping

  private housekeeping(): void {
    try {
      if (this.live && this.sources.length) {
        // Behind the clock, so packets still in the kernel's block or the pipe land before their second is reported.
        const ms = Date.now() - LIVE_LAG_MS;
        this.table.tick(Math.floor(ms / 1000), (ms % 1000) * 1e6);
        for (const s of this.sources) s.refreshStats();
        if (Date.now() % 60_000 < 1000) this.refreshLocalAddresses();
      }
      this.flush();
      this.publishCounters();
    } catch (err) {
      this.log.every('pcap-housekeeping', 60_000, 'error', 'pcap receiver: housekeeping failed', { error: (err as Error).message });
    }
  }

  private refreshLocalAddresses(): void {
    const set = new Set<string>();
    for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) set.add(a.address);
    this.localAddresses = set;
  }

  private registerGauges(): void {
    const t = this.tel;
    t.gauge('metaflow_pcap_up', 'Whether the pcap receiver is capturing or reading (1) or unavailable (0).', () => (this.started && !this.unavailable && !this.stopping ? 1 : 0));
    t.gauge('metaflow_pcap_flows_active', 'Flows tracked now.', () => this.table.activeFlows);
    t.gauge('metaflow_pcap_servers_active', 'Server endpoints aggregated now.', () => this.table.servers);
    t.gauge('metaflow_pcap_reassembly_buffered_bytes', 'Out-of-order TCP bytes held now.', () => this.table.reassembly?.bufferedBytes ?? 0);
    t.gauge('metaflow_pcap_fragments_pending', 'IP datagrams waiting for fragments now.', () => this.decoder.pendingFragments);
  }

  /** Adds what grew since the last call to the Prometheus counters. */
  private publishCounters(): void {
    const bump = (name: string, help: string, value: number, labels: Record<string, string> = {}) => {
      const key = name + JSON.stringify(labels);
      const last = this.published.get(key) ?? 0;
      if (value > last) this.tel.counter(name, help, value - last, labels);
      this.published.set(key, value);
    };
    for (const s of this.sources) {
      const st = s.stats();
      bump('metaflow_pcap_packets_total', 'Packets captured, by interface.', st.packets, { interface: s.iface });
      bump('metaflow_pcap_truncated_packets_total', 'Packets cut by the snap length, by interface.', st.truncated, { interface: s.iface });
      if (st.kernelDrops >= 0) bump('metaflow_pcap_kernel_dropped_packets_total', 'Packets the kernel dropped because the capture buffer was full, by interface.', st.kernelDrops, { interface: s.iface });
    }
    if (!this.live) bump('metaflow_pcap_packets_total', 'Packets captured, by interface.', this.filePackets, { interface: 'file' });
    const drops = this.decoder.dropCounts();
    for (const reason in drops) bump('metaflow_pcap_decode_dropped_packets_total', 'Packets the decoder dropped (malformed, truncated) or skipped (not IP), by reason.', drops[reason], { reason });
    const dc = this.decoder.counters;
    bump('metaflow_pcap_fragments_dropped_total', 'Incomplete IP datagrams dropped, by reason.', dc.fragmentTimeouts, { reason: 'timeout' });
    bump('metaflow_pcap_fragments_dropped_total', 'Incomplete IP datagrams dropped, by reason.', dc.fragmentEvictions, { reason: 'evicted' });
    bump('metaflow_pcap_fragments_dropped_total', 'Incomplete IP datagrams dropped, by reason.', dc.fragmentErrors, { reason: 'inconsistent' });
    const tc = this.table.counters;
    bump('metaflow_pcap_flows_created_total', 'Flows started.', tc.flowsCreated);
    bump('metaflow_pcap_flows_closed_total', 'Flows ended.', tc.flowsClosed);
    bump('metaflow_pcap_flows_evicted_total', 'Flows ended early because max_flows was reached.', tc.flowsEvicted);
    bump('metaflow_pcap_port_reuse_total', 'Flows ended by a new SYN on the same 5-tuple.', tc.portReuses);
    bump('metaflow_pcap_server_overflow_total', 'Flows aggregated into the overflow series because max_servers was reached.', tc.serverOverflow);
    bump('metaflow_pcap_l4_ignored_packets_total', 'TCP packets the L4 performance rules ignored (impossible flags, time going backwards).', tc.perfIgnored);
    const rc = this.table.reassembly?.counters;
    if (rc) {
      bump('metaflow_pcap_reassembly_gaps_total', 'TCP holes given up (bytes missing before a delivery).', rc.gaps);
      bump('metaflow_pcap_reassembly_limit_total', 'Holes given up because a reassembly bound bit, by bound.', rc.limitPerDirection, { bound: 'direction' });
      bump('metaflow_pcap_reassembly_limit_total', 'Holes given up because a reassembly bound bit, by bound.', rc.limitOverall, { bound: 'overall' });
      bump('metaflow_pcap_reassembly_hole_timeouts_total', 'Holes given up after waiting hole_timeout.', rc.holeTimeouts);
    }
    for (const [protocol, n] of this.malformedBy) bump('metaflow_pcap_parse_failures_total', 'L7 messages the parsers could not read, by protocol.', n, { protocol });
  }

  /** Counters for tests and the CLI. */
  stats(): PcapReceiverStats {
    let packets = this.filePackets;
    let kernelDrops = this.sources.length ? 0 : -1;
    for (const s of this.sources) {
      const st: SourceStats = s.stats();
      packets += st.packets;
      if (st.kernelDrops < 0) kernelDrops = -1;
      else if (kernelDrops >= 0) kernelDrops += st.kernelDrops;
    }
    const tc = this.table.counters;
    return {
      unavailable: this.unavailable,
      engine: this.engine,
      interfaces: this.sources.map((s) => s.iface),
      packets,
      kernelDrops,
      decodeDrops: this.decoder.dropCounts(),
      flowsActive: this.table.activeFlows,
      flowsCreated: tc.flowsCreated,
      flowsClosed: tc.flowsClosed,
      flowsEvicted: tc.flowsEvicted,
      spans: this.counts.spans,
      flowLogs: this.counts.flowLogs,
      metricPoints: this.counts.metricPoints,
      dropped: { ...this.droppedItems },
      parseFailures: this.counts.parseFailures,
      fileDone: this.fileDone,
    };
  }

  /** Resolves when the file has been read and reported (file mode), at once otherwise. */
  async whenFileDone(): Promise<void> {
    await this.fileTask;
  }

  /** Stops capturing, ends every flow (reported) and sends what is pending. Idempotent. */
  shutdown(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.timer) clearInterval(this.timer);
      this.timer = undefined;
      this.stopFile = true;
      await this.fileTask;
      await Promise.all(this.sources.map((s) => s.stop()));
      if (this.live && this.started) this.table.flush();
      this.flush();
      this.publishCounters();
      // Let the last batches reach their consumers before the pipeline behind stops.
      await Promise.all([...this.waiting]);
    })();
    return this.stopping;
  }
}
