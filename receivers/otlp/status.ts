/**
 * `google.rpc.Status` for OTLP error answers: the gRPC `grpc-status-details-bin`
 * trailer and the body of HTTP 4xx/5xx responses. A retryable refusal carries
 * a `google.rpc.RetryInfo` detail, which the OTLP spec requires for a client
 * to retry RESOURCE_EXHAUSTED.
 */

/** gRPC status codes used here. */
export const GrpcCode = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

function varint(n: number, out: number[]): void {
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

function lengthDelimited(field: number, bytes: Uint8Array | number[], out: number[]): void {
  out.push((field << 3) | 2);
  varint(bytes.length, out);
  for (const b of bytes) out.push(b);
}

/** Encodes a `google.rpc.Status` (code, message, optional RetryInfo). */
export function encodeStatus(code: number, message: string, retryAfterMs?: number): Buffer {
  const out: number[] = [];
  if (code) {
    out.push(1 << 3);
    varint(code, out);
  }
  if (message) lengthDelimited(2, Buffer.from(message, 'utf8'), out);
  if (retryAfterMs !== undefined) {
    const duration: number[] = [];
    const seconds = Math.floor(retryAfterMs / 1000);
    const nanos = Math.round((retryAfterMs % 1000) * 1e6);
    if (seconds) {
      duration.push(1 << 3);
      varint(seconds, duration);
    }
    if (nanos) {
      duration.push(2 << 3);
      varint(nanos, duration);
    }
    const retryInfo: number[] = [];
    lengthDelimited(1, duration, retryInfo);
    const any: number[] = [];
    lengthDelimited(1, Buffer.from('type.googleapis.com/google.rpc.RetryInfo'), any);
    lengthDelimited(2, retryInfo, any);
    lengthDelimited(3, any, out);
  }
  return Buffer.from(out);
}

/** The JSON form of a Status, for OTLP/JSON error answers. */
export function statusJson(code: number, message: string, retryAfterMs?: number): string {
  const details =
    retryAfterMs === undefined
      ? []
      : [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${(retryAfterMs / 1000).toFixed(3).replace(/\.?0+$/, '')}s` }];
  return JSON.stringify({ code, message, details });
}
