/**
 * Who sent a batch: the network peer of the request a receiver decoded it
 * from (the Collector's client.Info). Processors that tag data by its sender
 * (autotagging's `from: connection` association) read it.
 *
 * It travels beside the data, keyed by the batch object, so the data model
 * stays the OTLP one. A processor that builds new batch objects (batch,
 * splitting) does not carry it over: put sender-based processors before them.
 */
import type { Logs, Metrics, Traces } from './pdata';

/** The sender of a batch. */
export interface ClientInfo {
  /** The peer's IP address (IPv4-mapped IPv6 addresses unwrapped). */
  address: string;
  port?: number;
}

const info = new WeakMap<object, ClientInfo>();

/** Records the sender of a batch. */
export function setClientInfo(data: Traces | Metrics | Logs, client: ClientInfo): void {
  info.set(data, client);
}

/** The sender of a batch, when the receiver knew it. */
export function clientInfo(data: Traces | Metrics | Logs): ClientInfo | undefined {
  return info.get(data);
}

/** Parses a peer such as `ipv4:127.0.0.1:5000`, `[::1]:5000`, `::ffff:10.0.0.1`. */
export function parsePeer(peer: string | undefined, port?: number): ClientInfo | undefined {
  if (!peer) return undefined;
  let s = peer.replace(/^ipv[46]:/, '');
  let p = port;
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(s);
  if (bracket) {
    s = bracket[1];
    p = Number(bracket[2]);
  } else if (/^[0-9.]+:\d+$/.test(s)) {
    const i = s.lastIndexOf(':');
    p = Number(s.slice(i + 1));
    s = s.slice(0, i);
  }
  if (s.startsWith('::ffff:') && s.includes('.')) s = s.slice(7);
  return p === undefined ? { address: s } : { address: s, port: p };
}
