/**
 * Log records → the `otel_logs` Native block, one pass over the batch.
 *
 * As the contrib exporter writes them: `Timestamp` is the record's time, or
 * its observed time when the time is unset; `TraceFlags` and
 * `SeverityNumber` are the low 8 bits; `Body` is `anyValueToString(body)`;
 * `ServiceName` comes from the resource's `service.name`. `TimestampTime` is
 * left to its column DEFAULT (`toDateTime(Timestamp)`).
 */
import type { Logs } from '../../pipeline/pdata';
import { Int64Column, MapColumn, NativeBlock, StringColumn, UInt8Column } from './native';
import { encodeMap, PlainResourceColumns, putAttributes, putEncodedMap, putValue, type ResourceColumns } from './rows';

/** Builds `otel_logs` blocks; reuse one instance for many batches (call `block.reset()` between). */
export class LogRows {
  private readonly timestamp = new Int64Column('Timestamp', 'DateTime64(9)');
  private readonly traceId = new StringColumn('TraceId');
  private readonly spanId = new StringColumn('SpanId');
  private readonly traceFlags = new UInt8Column('TraceFlags');
  private readonly severityText = new StringColumn('SeverityText');
  private readonly severityNumber = new UInt8Column('SeverityNumber');
  private readonly body = new StringColumn('Body');
  private readonly resourceSchemaUrl = new StringColumn('ResourceSchemaUrl');
  private readonly scopeSchemaUrl = new StringColumn('ScopeSchemaUrl');
  private readonly scopeName = new StringColumn('ScopeName');
  private readonly scopeVersion = new StringColumn('ScopeVersion');
  private readonly scopeAttributes = new MapColumn('ScopeAttributes');
  private readonly logAttributes = new MapColumn('LogAttributes');
  private readonly eventName = new StringColumn('EventName');

  /** The block the rows go to. */
  readonly block: NativeBlock;

  constructor(private readonly resource: ResourceColumns = new PlainResourceColumns()) {
    this.block = new NativeBlock([
      this.timestamp,
      this.traceId,
      this.spanId,
      this.traceFlags,
      this.severityText,
      this.severityNumber,
      ...this.resource.columns,
      this.body,
      this.resourceSchemaUrl,
      this.scopeSchemaUrl,
      this.scopeName,
      this.scopeVersion,
      this.scopeAttributes,
      this.logAttributes,
      this.eventName,
    ]);
  }

  /** Appends every log record of the batch as one row each. */
  append(logs: Logs): void {
    for (const rl of logs.resourceLogs) {
      const resource = this.resource;
      resource.group(rl.resource.attributes);
      const resUrl = rl.schemaUrl;
      for (const sl of rl.scopeLogs) {
        const scopeAttrs = encodeMap(sl.scope.attributes);
        const records = sl.logRecords;
        for (let k = 0; k < records.length; k++) {
          const r = records[k];
          this.timestamp.putTime(r.timeUnixNano === 0n ? r.observedTimeUnixNano : r.timeUnixNano);
          this.traceId.put(r.traceId);
          this.spanId.put(r.spanId);
          this.traceFlags.put(r.flags & 0xff);
          this.severityText.put(r.severityText);
          this.severityNumber.put(r.severityNumber & 0xff);
          resource.putRow();
          putValue(this.body, r.body);
          this.resourceSchemaUrl.put(resUrl);
          this.scopeSchemaUrl.put(sl.schemaUrl);
          this.scopeName.put(sl.scope.name);
          this.scopeVersion.put(sl.scope.version);
          putEncodedMap(this.scopeAttributes, scopeAttrs);
          putAttributes(this.logAttributes, r.attributes);
          this.eventName.put(r.eventName);
        }
      }
    }
  }
}
