/**
 * What both OTLP transports do with a decoded request: hand it to the
 * pipeline and turn the outcome into the answer the OTLP spec asks for.
 *
 * | pipeline says                         | answer                                |
 * |---------------------------------------|---------------------------------------|
 * | accepted                              | success                               |
 * | PermanentError for part of the batch  | success with partial_success.rejected |
 * | PermanentError for all of it          | INVALID_ARGUMENT / 400                |
 * | RetryableError 'exhausted'            | RESOURCE_EXHAUSTED / 429, retry hint  |
 * | RetryableError 'unavailable', other   | UNAVAILABLE / 503, retry hint         |
 *
 * Every item is counted as accepted or refused, so nothing the receiver
 * acknowledged disappears uncounted.
 */
import type { Consumer } from '../../pipeline/component';
import { PermanentError, RetryableError, errorMessage } from '../../pipeline/errors';
import { countItems, type Signal, type SignalData } from '../../pipeline/pdata';
import type { ComponentTelemetry } from '../../pipeline/telemetry';

/** The result of one request. */
export type Outcome =
  | { ok: true; rejected: number; message: string }
  | { ok: false; kind: 'invalid' | 'exhausted' | 'unavailable'; message: string; retryAfterMs?: number };

/** Default retry hint when a consumer gives none. */
const DEFAULT_RETRY_MS = 1000;

/** Hands a decoded batch to the pipeline and classifies the outcome. */
export async function ingest<S extends Signal>(
  signal: S,
  data: SignalData[S],
  next: Consumer<S>,
  telemetry: ComponentTelemetry,
  transport: string,
): Promise<Outcome> {
  const items = countItems(signal, data);
  if (items === 0) return { ok: true, rejected: 0, message: '' };
  try {
    await next.consume(data);
    telemetry.accepted(signal, items, transport);
    return { ok: true, rejected: 0, message: '' };
  } catch (err) {
    if (err instanceof PermanentError) {
      const rejected = err.rejected !== undefined && err.rejected < items ? err.rejected : items;
      telemetry.refused(signal, rejected, transport);
      if (rejected < items) {
        telemetry.accepted(signal, items - rejected, transport);
        return { ok: true, rejected, message: err.message };
      }
      return { ok: false, kind: 'invalid', message: err.message };
    }
    telemetry.refused(signal, items, transport);
    if (err instanceof RetryableError) {
      return { ok: false, kind: err.reason, message: err.message, retryAfterMs: err.retryAfterMs || DEFAULT_RETRY_MS };
    }
    return { ok: false, kind: 'unavailable', message: `pipeline failed: ${errorMessage(err)}`, retryAfterMs: DEFAULT_RETRY_MS };
  }
}
