/**
 * The L4 counters of a flow (and of an aggregate of flows), as one
 * Float64Array with fixed slots, so the per-packet path increments numbers
 * in place and never allocates.
 *
 * Directions: `*_TX` slots count what the client sent (client → server),
 * `*_RX` what the server sent. Times are nanoseconds (doubles: exact up to
 * 104 days). A time statistic is three slots: sum, count and max.
 *
 * Sums and counts add up across intervals and flows; max slots take the
 * maximum ({@link addCounters} knows which is which).
 */

/** Packets the client sent. */
export const PKT_TX = 0;
/** Packets the server sent. */
export const PKT_RX = 1;
/** IP bytes (header and payload of the innermost IP packet, as on the wire) the client sent. */
export const BYTE_TX = 2;
export const BYTE_RX = 3;
/** Transport payload bytes (as the IP length states them, whatever the snap length kept). */
export const PAYLOAD_TX = 4;
export const PAYLOAD_RX = 5;
/** TCP segments carrying bytes already seen (including repeated SYNs and SYN-ACKs). */
export const RETRANS_TX = 6;
export const RETRANS_RX = 7;
/** TCP segments that filled a hole (arrived after data beyond them). */
export const OOO_TX = 8;
export const OOO_RX = 9;
/** TCP segments advertising a zero receive window. */
export const ZERO_WIN_TX = 10;
export const ZERO_WIN_RX = 11;
/** TCP segments with RST. */
export const RST_TX = 12;
export const RST_RX = 13;
/** TCP segments with FIN (both directions). */
export const FIN = 14;
/** SYN segments (without ACK), first ones and repeats. */
export const SYN = 15;
/** SYN-ACK segments, first ones and repeats. */
export const SYNACK = 16;
/** Repeated SYNs (the client retried the handshake). */
export const SYN_RETRANS = 17;
/** Repeated SYN-ACKs. */
export const SYNACK_RETRANS = 18;
/** Client-side RTT: the server's SYN-ACK to the client's ACK, as the capture point sees it. */
export const RTT_CLIENT = 19;
/** Server-side RTT: the client's SYN to the server's SYN-ACK. */
export const RTT_SERVER = 22;
/** Server response time: client data to the server's pure ACK of it (the server's TCP stack). */
export const SRT = 25;
/** Application response time: client data to the server's first data after it. */
export const ART = 28;
/** Client idle time: the client's wait before sending its next request. */
export const CIT = 31;
/** The whole handshake: the first SYN to the client's ACK of the SYN-ACK. */
export const RTT = 34;
/** Flows that started (1 in a flow's first second; summed in aggregates). */
export const NEW_FLOWS = 37;
/** Flows that ended. */
export const CLOSED_FLOWS = 38;
/** TCP flows that ended without completing the handshake they started (connection failures). */
export const FAILED_FLOWS = 39;
/** Flows that ended by idle timeout while established (or any UDP/other flow). */
export const TIMEOUT_FLOWS = 40;
/** TCP flows that ended with a reset. */
export const RESET_FLOWS = 41;
/** Slots per counter set. */
export const N_COUNTERS = 42;

/** The time statistics (each three slots: sum, count, max). */
export const TIME_STATS = [RTT_CLIENT, RTT_SERVER, SRT, ART, CIT, RTT] as const;

const IS_MAX = new Uint8Array(N_COUNTERS);
for (const t of TIME_STATS) IS_MAX[t + 2] = 1;

/** A set of counters. */
export type Counters = Float64Array;

/** A zeroed counter set. */
export function newCounters(): Counters {
  return new Float64Array(N_COUNTERS);
}

/** Records one duration (ns) in the time statistic at `slot`. */
export function addTime(c: Counters, slot: number, ns: number): void {
  c[slot] += ns;
  c[slot + 1]++;
  if (ns > c[slot + 2]) c[slot + 2] = ns;
}

/** Adds `from` into `into`: sums and counts add, max slots take the larger. */
export function addCounters(into: Counters, from: Counters): void {
  for (let i = 0; i < N_COUNTERS; i++) {
    if (IS_MAX[i] === 1) {
      if (from[i] > into[i]) into[i] = from[i];
    } else into[i] += from[i];
  }
}

/** Whether every slot is zero. */
export function isZero(c: Counters): boolean {
  for (let i = 0; i < N_COUNTERS; i++) if (c[i] !== 0) return false;
  return true;
}

/**
 * Stable names of the slots, by slot (`client_*`: sent by the client,
 * `server_*`: sent by the server); time statistics as `<name>_sum`,
 * `<name>_count`, `<name>_max`.
 */
export const COUNTER_NAMES: readonly string[] = (() => {
  const names = new Array<string>(N_COUNTERS).fill('');
  const plain: Array<[number, string]> = [
    [PKT_TX, 'client_packets'],
    [PKT_RX, 'server_packets'],
    [BYTE_TX, 'client_bytes'],
    [BYTE_RX, 'server_bytes'],
    [PAYLOAD_TX, 'client_payload_bytes'],
    [PAYLOAD_RX, 'server_payload_bytes'],
    [RETRANS_TX, 'client_retrans'],
    [RETRANS_RX, 'server_retrans'],
    [OOO_TX, 'client_ooo'],
    [OOO_RX, 'server_ooo'],
    [ZERO_WIN_TX, 'client_zero_win'],
    [ZERO_WIN_RX, 'server_zero_win'],
    [RST_TX, 'client_rst'],
    [RST_RX, 'server_rst'],
    [FIN, 'fin'],
    [SYN, 'syn'],
    [SYNACK, 'synack'],
    [SYN_RETRANS, 'syn_retrans'],
    [SYNACK_RETRANS, 'synack_retrans'],
    [NEW_FLOWS, 'new_flows'],
    [CLOSED_FLOWS, 'closed_flows'],
    [FAILED_FLOWS, 'failed_flows'],
    [TIMEOUT_FLOWS, 'timeout_flows'],
    [RESET_FLOWS, 'reset_flows'],
  ];
  for (const [i, n] of plain) names[i] = n;
  const times: Array<[number, string]> = [
    [RTT_CLIENT, 'rtt_client'],
    [RTT_SERVER, 'rtt_server'],
    [SRT, 'srt'],
    [ART, 'art'],
    [CIT, 'cit'],
    [RTT, 'rtt'],
  ];
  for (const [i, n] of times) {
    names[i] = `${n}_sum`;
    names[i + 1] = `${n}_count`;
    names[i + 2] = `${n}_max`;
  }
  return names;
})();
