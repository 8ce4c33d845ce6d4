/**
 * The OTLP codec: the one place that converts between OTLP wire formats
 * (protobuf and JSON) and pdata. Receivers decode requests and encode
 * responses; exporters encode requests and decode responses.
 *
 * | direction              | protobuf                         | JSON                                  |
 * |------------------------|----------------------------------|---------------------------------------|
 * | request → pdata        | `decode{Traces,Metrics,Logs}Request`  | `decode{…}RequestJson`           |
 * | pdata → request        | `encode{…}Request` (Buffer)      | `encode{…}RequestJson` (string)       |
 * | response → partial     | `decode{…}Response`              | `decode{…}ResponseJson`               |
 * | partial → response     | `encode{…}Response(rejected, message)` | `encode{…}ResponseJson(…)`      |
 *
 * Decoders throw only {@link OtlpDecodeError} (code `OTLP_DECODE`, a
 * PermanentError: answer 400 / INVALID_ARGUMENT with its message). Encoders
 * throw {@link OtlpEncodeError} (code `OTLP_ENCODE`) for pdata that cannot go
 * on the wire (a malformed id, values nested deeper than
 * {@link MAX_ANY_VALUE_DEPTH}).
 */

export {
  decodeLogsRequest,
  decodeLogsResponse,
  decodeMetricsRequest,
  decodeMetricsResponse,
  decodeTracesRequest,
  decodeTracesResponse,
} from './decode';
export type { ExportPartialSuccess } from './decode';
export {
  encodeLogsRequest,
  encodeLogsResponse,
  encodeMetricsRequest,
  encodeMetricsResponse,
  encodeTracesRequest,
  encodeTracesResponse,
} from './encode';
export {
  decodeLogsRequestJson,
  decodeLogsResponseJson,
  decodeMetricsRequestJson,
  decodeMetricsResponseJson,
  decodeTracesRequestJson,
  decodeTracesResponseJson,
  encodeLogsRequestJson,
  encodeLogsResponseJson,
  encodeMetricsRequestJson,
  encodeMetricsResponseJson,
  encodeTracesRequestJson,
  encodeTracesResponseJson,
} from './json';
export { MAX_ANY_VALUE_DEPTH, OtlpDecodeError } from './protobuf-reader';
export { OtlpEncodeError } from './protobuf-writer';
