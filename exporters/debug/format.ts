/**
 * Text renderings of batches for the debug exporter: a one-line summary
 * (basic), a line per item (normal), or every field (detailed).
 */
import { anyValueToString, SpanKind, StatusCode, type Attributes, type Logs, type Metrics, type Signal, type SignalData, type Traces } from '../../pipeline/pdata';

/** The verbosity levels. */
export type Verbosity = 'basic' | 'normal' | 'detailed';

function attrs(a: Attributes): string {
  const parts: string[] = [];
  for (const k in a) parts.push(`${k}=${anyValueToString(a[k])}`);
  return parts.join(' ');
}

function time(ns: bigint): string {
  if (ns === 0n) return '-';
  return new Date(Number(ns / 1000000n)).toISOString().replace('Z', `${String(ns % 1000000n).padStart(6, '0')}Z`);
}

/** A one-line summary: the Collector's basic verbosity. */
export function summary(signal: Signal, data: SignalData[Signal]): string {
  if (signal === 'traces') {
    const t = data as Traces;
    return `Traces: resource spans: ${t.resourceSpans.length}, spans: ${t.resourceSpans.reduce((n, rs) => n + rs.scopeSpans.reduce((m, ss) => m + ss.spans.length, 0), 0)}`;
  }
  if (signal === 'metrics') {
    const m = data as Metrics;
    let metrics = 0;
    let points = 0;
    for (const rm of m.resourceMetrics)
      for (const sm of rm.scopeMetrics)
        for (const x of sm.metrics) {
          metrics++;
          if (x.data.type !== 'empty') points += x.data.dataPoints.length;
        }
    return `Metrics: resource metrics: ${m.resourceMetrics.length}, metrics: ${metrics}, data points: ${points}`;
  }
  const l = data as Logs;
  return `Logs: resource logs: ${l.resourceLogs.length}, log records: ${l.resourceLogs.reduce((n, rl) => n + rl.scopeLogs.reduce((m, sl) => m + sl.logRecords.length, 0), 0)}`;
}

/** One line per item (normal) or every field (detailed). */
export function items(signal: Signal, data: SignalData[Signal], detailed: boolean): string[] {
  const out: string[] = [];
  if (signal === 'traces') {
    for (const rs of (data as Traces).resourceSpans) {
      if (detailed) out.push(`ResourceSpans: ${attrs(rs.resource.attributes)}`);
      for (const ss of rs.scopeSpans) {
        if (detailed) out.push(`  Scope: ${ss.scope.name} ${ss.scope.version}`);
        for (const s of ss.spans) {
          out.push(`${s.name} ${s.traceId} ${s.spanId} ${attrs(s.attributes)}`);
          if (!detailed) continue;
          out.push(
            `    parent=${s.parentSpanId || '-'} kind=${SpanKind[s.kind] ?? s.kind} start=${time(s.startTimeUnixNano)} end=${time(s.endTimeUnixNano)} status=${StatusCode[s.status.code] ?? s.status.code} ${s.status.message}`,
          );
          for (const e of s.events) out.push(`    event ${e.name} at ${time(e.timeUnixNano)} ${attrs(e.attributes)}`);
          for (const l of s.links) out.push(`    link ${l.traceId} ${l.spanId} ${attrs(l.attributes)}`);
        }
      }
    }
  } else if (signal === 'metrics') {
    for (const rm of (data as Metrics).resourceMetrics) {
      if (detailed) out.push(`ResourceMetrics: ${attrs(rm.resource.attributes)}`);
      for (const sm of rm.scopeMetrics)
        for (const m of sm.metrics) {
          if (m.data.type === 'empty') continue;
          for (const p of m.data.dataPoints as Array<{ attributes: Attributes; timeUnixNano: bigint; value?: number | bigint; count?: number; sum?: number }>) {
            const v = p.value !== undefined ? String(p.value) : `count=${p.count} sum=${p.sum ?? '-'}`;
            out.push(`${m.name} ${m.data.type} ${attrs(p.attributes)} ${v}${detailed ? ` at ${time(p.timeUnixNano)} unit=${m.unit}` : ''}`);
          }
        }
    }
  } else {
    for (const rl of (data as Logs).resourceLogs) {
      if (detailed) out.push(`ResourceLog: ${attrs(rl.resource.attributes)}`);
      for (const sl of rl.scopeLogs)
        for (const r of sl.logRecords) {
          out.push(`${r.severityText || r.severityNumber} ${anyValueToString(r.body)} ${attrs(r.attributes)}${detailed ? ` at ${time(r.timeUnixNano)} trace=${r.traceId || '-'} span=${r.spanId || '-'}` : ''}`);
        }
    }
  }
  return out;
}
