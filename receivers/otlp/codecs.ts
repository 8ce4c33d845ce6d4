/**
 * The OTLP codec functions per signal, and the gRPC method each signal is
 * served on.
 */
import {
  decodeLogsRequest,
  decodeLogsRequestJson,
  decodeMetricsRequest,
  decodeMetricsRequestJson,
  decodeTracesRequest,
  decodeTracesRequestJson,
  encodeLogsResponse,
  encodeLogsResponseJson,
  encodeMetricsResponse,
  encodeMetricsResponseJson,
  encodeTracesResponse,
  encodeTracesResponseJson,
} from '../../pipeline/otlp';
import type { Signal, SignalData } from '../../pipeline/pdata';

/** How one signal is decoded and answered. */
export interface SignalCodec<S extends Signal> {
  grpcPath: string;
  decodeProto(body: Uint8Array): SignalData[S];
  decodeJson(body: Buffer): SignalData[S];
  responseProto(rejected: number, message: string): Uint8Array;
  responseJson(rejected: number, message: string): string;
}

/** Codecs by signal. */
export const CODECS: { [S in Signal]: SignalCodec<S> } = {
  traces: {
    grpcPath: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    decodeProto: decodeTracesRequest,
    decodeJson: (b) => decodeTracesRequestJson(b.toString('utf8')),
    responseProto: encodeTracesResponse,
    responseJson: encodeTracesResponseJson,
  },
  metrics: {
    grpcPath: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
    decodeProto: decodeMetricsRequest,
    decodeJson: (b) => decodeMetricsRequestJson(b.toString('utf8')),
    responseProto: encodeMetricsResponse,
    responseJson: encodeMetricsResponseJson,
  },
  logs: {
    grpcPath: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
    decodeProto: decodeLogsRequest,
    decodeJson: (b) => decodeLogsRequestJson(b.toString('utf8')),
    responseProto: encodeLogsResponse,
    responseJson: encodeLogsResponseJson,
  },
};
