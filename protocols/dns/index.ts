/**
 * The DNS protocol spec (UDP and TCP). See `parser.ts` for the fields.
 */
import type { Confidence, Dir, ParserContext, ProtocolSpec } from '../types';
import { decodeDnsMessage, looksLikeDns, newDnsMessage, typeName } from './message';
import { DEFAULT_DNS_OPTIONS, DnsParser, type DnsOptions } from './parser';

export { DnsParser, DEFAULT_DNS_OPTIONS, DNS_MALFORMED } from './parser';
export type { DnsOptions } from './parser';

const probe = newDnsMessage();

/**
 * How sure the first bytes of a direction are DNS: certain when a whole
 * message decodes with a known QTYPE, plausible when the header and the
 * question do. Both framings are tried (a UDP datagram, a TCP stream with
 * its 2-byte length).
 */
function inferDns(data: Uint8Array, dir: Dir): Confidence {
  const query = dir === 0;
  const len = data.length;
  let start = -1;
  let end = len;
  if (looksLikeDns(data, 0, len, query)) start = 0;
  else if (len >= 14) {
    const declared = (data[0] << 8) | data[1];
    if (declared >= 12) {
      end = Math.min(len, 2 + declared);
      if (looksLikeDns(data, 2, end, query)) start = 2;
    }
  }
  if (start < 0) return 0;
  if (!decodeDnsMessage(data, start, end, probe)) return 0;
  return probe.complete && typeName(probe.qtype) !== String(probe.qtype) ? 2 : 1;
}

/** A DNS spec with its own options (NXDOMAIN suffixes treated as ok). */
export function createDnsSpec(options: Partial<DnsOptions> = {}): ProtocolSpec {
  const opts: DnsOptions = { ...DEFAULT_DNS_OPTIONS, ...options };
  return {
    name: 'DNS',
    transport: 'both',
    ports: [53, 5353, 5355],
    infer(data: Uint8Array, dir: Dir): Confidence {
      try {
        return inferDns(data, dir);
      } catch {
        return 0;
      }
    },
    create(ctx: ParserContext) {
      return new DnsParser(ctx, opts);
    },
  };
}

/** DNS with default options. */
export const spec: ProtocolSpec = createDnsSpec();
