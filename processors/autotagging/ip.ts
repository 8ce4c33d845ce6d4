/**
 * IP address helpers for tagging: one canonical text form per address (so a
 * pod IP from the Kubernetes API and the same address seen by a receiver are
 * one map key), and CIDR matching for custom tags.
 */
import net from 'node:net';

/**
 * The canonical text of an address: IPv4-mapped IPv6 (`::ffff:10.0.0.1`, as
 * Node reports IPv4 peers on dual-stack sockets) becomes plain IPv4, IPv6 is
 * lowercased and loses a zone (`%eth0`). Anything else is returned as is.
 * Cheap for the common case (plain IPv4 is returned untouched).
 */
export function canonicalIp(ip: string): string {
  const c = ip.charCodeAt(0);
  // Plain IPv4 starts with a digit and has no colon: the hot case.
  if (c >= 48 && c <= 57 && ip.indexOf(':') < 0) return ip;
  if (ip.length > 7 && (ip.startsWith('::ffff:') || ip.startsWith('::FFFF:')) && ip.indexOf('.') > 0) return ip.slice(7);
  const pct = ip.indexOf('%');
  const s = pct >= 0 ? ip.slice(0, pct) : ip;
  return s.toLowerCase();
}

/** An address as bytes (4 for IPv4, 16 for IPv6), or undefined when `ip` is not an address. */
export function ipBytes(ip: string): Uint8Array | undefined {
  const s = canonicalIp(ip);
  const v = net.isIP(s);
  if (v === 4) {
    const parts = s.split('.');
    return Uint8Array.from(parts.map(Number));
  }
  if (v !== 6) return undefined;
  let head = s;
  let tail4: number[] = [];
  // An embedded IPv4 tail (`::ffff:1.2.3.4` style with other prefixes) counts as two groups.
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) > 0) {
    tail4 = s.slice(lastColon + 1).split('.').map(Number);
    head = s.slice(0, lastColon + 1) + '0:0';
  }
  const [left, right] = head.includes('::') ? head.split('::') : [head, undefined];
  const l = left ? left.split(':') : [];
  const r = right !== undefined && right !== '' ? right.split(':') : [];
  const groups = right === undefined ? l : [...l, ...new Array(8 - l.length - r.length).fill('0'), ...r];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = parseInt(groups[i] || '0', 16);
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  }
  if (tail4.length === 4) out.set(tail4, 12);
  return out;
}

/** A parsed CIDR block. */
export interface Cidr {
  /** The block as written in the config. */
  text: string;
  bytes: Uint8Array;
  prefix: number;
}

/** Parses `10.0.0.0/8`, `fd00::/8` or a bare address (a /32 or /128); returns a problem message when invalid. */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const bytes = ipBytes(addr.trim());
  if (!bytes) return `"${text}" is not a CIDR block such as 10.0.0.0/8 or fd00::/8`;
  const max = bytes.length * 8;
  const prefix = slash < 0 ? max : Number(text.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return `"${text}": prefix length must be 0-${max}`;
  return { text, bytes, prefix };
}

/** Whether address bytes fall inside a block (an IPv4 address never matches an IPv6 block and vice versa). */
export function cidrContains(c: Cidr, ip: Uint8Array): boolean {
  if (ip.length !== c.bytes.length) return false;
  const full = c.prefix >> 3;
  for (let i = 0; i < full; i++) if (ip[i] !== c.bytes[i]) return false;
  const rest = c.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (ip[full] & mask) === (c.bytes[full] & mask);
}
