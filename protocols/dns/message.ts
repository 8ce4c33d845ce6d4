/**
 * Decoding of one DNS message (RFC 1035 §4, EDNS per RFC 6891) into a
 * reusable {@link DnsMessage}: header, first question, a rendered answer
 * list, and the OPT pseudo-record.
 *
 * Contract: {@link decodeDnsMessage} never throws and never reads outside
 * `[start, end)`. Names follow compression pointers only strictly backwards
 * (a pointer must target an offset before every position already visited in
 * the name) and at most {@link MAX_POINTER_JUMPS} times, so crafted pointer
 * loops end. A message cut short (snap length, eBPF prefix capture) decodes
 * as far as its bytes go and reports `complete = false`.
 */

/** Most compression pointers followed in one name; RFC names need far fewer. */
export const MAX_POINTER_JUMPS = 64;
/** Most resource records rendered into `answers`; the rest are counted only. */
export const MAX_RENDERED_RECORDS = 20;

/** QTYPE / TYPE mnemonics (IANA DNS parameters registry). */
const TYPE_NAMES: Record<number, string> = {
  1: 'A', 2: 'NS', 3: 'MD', 4: 'MF', 5: 'CNAME', 6: 'SOA', 7: 'MB', 8: 'MG', 9: 'MR', 10: 'NULL',
  11: 'WKS', 12: 'PTR', 13: 'HINFO', 14: 'MINFO', 15: 'MX', 16: 'TXT', 17: 'RP', 18: 'AFSDB',
  19: 'X25', 20: 'ISDN', 21: 'RT', 22: 'NSAP', 23: 'NSAP-PTR', 24: 'SIG', 25: 'KEY', 26: 'PX',
  27: 'GPOS', 28: 'AAAA', 29: 'LOC', 30: 'NXT', 31: 'EID', 32: 'NIMLOC', 33: 'SRV', 34: 'ATMA',
  35: 'NAPTR', 36: 'KX', 37: 'CERT', 38: 'A6', 39: 'DNAME', 40: 'SINK', 41: 'OPT', 42: 'APL',
  43: 'DS', 44: 'SSHFP', 45: 'IPSECKEY', 46: 'RRSIG', 47: 'NSEC', 48: 'DNSKEY', 49: 'DHCID',
  50: 'NSEC3', 51: 'NSEC3PARAM', 52: 'TLSA', 53: 'SMIMEA', 55: 'HIP', 56: 'NINFO', 57: 'RKEY',
  58: 'TALINK', 59: 'CDS', 60: 'CDNSKEY', 61: 'OPENPGPKEY', 62: 'CSYNC', 63: 'ZONEMD', 64: 'SVCB',
  65: 'HTTPS', 99: 'SPF', 100: 'UINFO', 101: 'UID', 102: 'GID', 103: 'UNSPEC', 104: 'NID',
  105: 'L32', 106: 'L64', 107: 'LP', 108: 'EUI48', 109: 'EUI64', 249: 'TKEY', 250: 'TSIG',
  251: 'IXFR', 252: 'AXFR', 253: 'MAILB', 254: 'MAILA', 255: 'ANY', 256: 'URI', 257: 'CAA',
  258: 'AVC', 259: 'DOA', 260: 'AMTRELAY', 32768: 'TA', 32769: 'DLV',
};

/** TYPE_NAMES below 512 as a dense array ('' where unassigned): an indexed load instead of a keyed one. */
const TYPE_NAMES_DENSE: readonly string[] = (() => {
  const a = new Array<string>(512).fill('');
  for (const [k, v] of Object.entries(TYPE_NAMES)) if (Number(k) < 512) a[Number(k)] = v;
  return a;
})();

/** The mnemonic of a TYPE/QTYPE, or its number for unassigned ones. */
export function typeName(t: number): string {
  if (t >= 0 && t < 512) {
    const name = TYPE_NAMES_DENSE[t];
    if (name !== '') return name;
  }
  return TYPE_NAMES[t] ?? String(t);
}

/** RCODE mnemonics (RFC 1035, 2136, 6891, 2845, 7873). */
const RCODE_NAMES: Record<number, string> = {
  0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED', 6: 'YXDOMAIN',
  7: 'YXRRSET', 8: 'NXRRSET', 9: 'NOTAUTH', 10: 'NOTZONE', 11: 'DSOTYPENI', 16: 'BADVERS', 17: 'BADKEY',
  18: 'BADTIME', 19: 'BADMODE', 20: 'BADNAME', 21: 'BADALG', 22: 'BADTRUNC', 23: 'BADCOOKIE',
};

/** The mnemonic of an RCODE, or `RCODE<n>`. */
export function rcodeName(r: number): string {
  return RCODE_NAMES[r] ?? `RCODE${r}`;
}

const OPCODE_NAMES = ['QUERY', 'IQUERY', 'STATUS', 'OPCODE3', 'NOTIFY', 'UPDATE', 'DSO'];

/** The mnemonic of an OPCODE. */
export function opcodeName(op: number): string {
  return OPCODE_NAMES[op] ?? `OPCODE${op}`;
}

/** One decoded message; reused across messages (fields are reset by the decoder). */
export interface DnsMessage {
  id: number;
  /** True for a response (QR bit). */
  qr: boolean;
  opcode: number;
  /** RCODE with the EDNS extended bits when an OPT record carries them. */
  rcode: number;
  /** TC bit: the server truncated the answer (the client retries over TCP). */
  tc: boolean;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
  /** First question; qname '' when there is none. */
  qname: string;
  qtype: number;
  qclass: number;
  /** Answer and authority records as `TYPE=value TTL=n; …` (DeepFlow's notation). */
  answers: string;
  /** Resource records decoded (answer + authority + additional). */
  records: number;
  /** EDNS UDP payload size, 0 without OPT. */
  ednsUdpSize: number;
  /** Whether every section decoded to its end. */
  complete: boolean;
}

/** A fresh message to decode into. */
export function newDnsMessage(): DnsMessage {
  return {
    id: 0, qr: false, opcode: 0, rcode: 0, tc: false, qdcount: 0, ancount: 0, nscount: 0, arcount: 0,
    qname: '', qtype: 0, qclass: 0, answers: '', records: 0, ednsUdpSize: 0, complete: false,
  };
}

// Name decoding writes its text here: one module-level slot instead of a
// tuple per call (decoding is never re-entered).
let decodedName = '';

/** Node's latin1 slicer, called on a plain Uint8Array (no Buffer view per name). */
const LATIN1 = (Buffer.prototype as unknown as { latin1Slice: (this: Uint8Array, start: number, end: number) => string }).latin1Slice;

/**
 * The text of a name is assembled here byte by byte, then made a string
 * once. 255 wire octets escape to at most 4 × 255 characters.
 */
const nameBuf = new Uint8Array(1024);

/** Appends label `b[s, s + n)` at `o` of nameBuf; returns the new end. */
function label(b: Uint8Array, s: number, n: number, o: number): number {
  for (let i = s; i < s + n; i++) {
    const c = b[i];
    // Printable ASCII stays as is; dots, backslashes and other bytes are
    // escaped as dig and Wireshark show them (\DDD, \.), so a name's text
    // never changes meaning.
    if (c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c) nameBuf[o++] = c;
    else if (c === 0x2e || c === 0x5c) {
      nameBuf[o++] = 0x5c;
      nameBuf[o++] = c;
    } else {
      nameBuf[o++] = 0x5c;
      nameBuf[o++] = 0x30 + ((c / 100) | 0);
      nameBuf[o++] = 0x30 + (((c / 10) | 0) % 10);
      nameBuf[o++] = 0x30 + (c % 10);
    }
  }
  return o;
}

/**
 * Reads the name at `pos` (a message spans `[base, end)`); its text goes to
 * `decodedName` ('.' for the root). Returns the offset after the name where
 * it is stored (after the first pointer, if any), or -1 when malformed.
 */
function readName(b: Uint8Array, base: number, end: number, pos: number): number {
  let o = 0;
  let p = pos;
  let after = -1;
  let jumps = 0;
  let wire = 1;
  let lowest = pos;
  for (;;) {
    if (p >= end) return -1;
    const len = b[p];
    if (len === 0) {
      if (after < 0) after = p + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (p + 1 >= end) return -1;
      const target = base + (((len & 0x3f) << 8) | b[p + 1]);
      if (after < 0) after = p + 2;
      // Strictly backwards from everything visited, and few jumps: loops end.
      if (target >= lowest || ++jumps > MAX_POINTER_JUMPS) return -1;
      lowest = target;
      p = target;
      continue;
    }
    // 0x40 (extended label types) and 0x80 are unassigned.
    if (kind !== 0) return -1;
    if (p + 1 + len > end) return -1;
    wire += len + 1;
    if (wire > 255) return -1;
    if (o !== 0) nameBuf[o++] = 0x2e;
    o = label(b, p + 1, len, o);
    p += 1 + len;
  }
  decodedName = o === 0 ? '.' : LATIN1.call(nameBuf, 0, o);
  return after;
}

/**
 * {@link readName} without the text: the same offset (or -1) for the same
 * bytes, for names nobody reads (the owners of resource records).
 */
function skipName(b: Uint8Array, base: number, end: number, pos: number): number {
  let p = pos;
  let after = -1;
  let jumps = 0;
  let wire = 1;
  let lowest = pos;
  for (;;) {
    if (p >= end) return -1;
    const len = b[p];
    if (len === 0) {
      if (after < 0) after = p + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (p + 1 >= end) return -1;
      const target = base + (((len & 0x3f) << 8) | b[p + 1]);
      if (after < 0) after = p + 2;
      if (target >= lowest || ++jumps > MAX_POINTER_JUMPS) return -1;
      lowest = target;
      p = target;
      continue;
    }
    if (kind !== 0) return -1;
    if (p + 1 + len > end) return -1;
    wire += len + 1;
    if (wire > 255) return -1;
    p += 1 + len;
  }
  return after;
}

function ipv4(b: Uint8Array, p: number): string {
  return `${b[p]}.${b[p + 1]}.${b[p + 2]}.${b[p + 3]}`;
}

/** RFC 5952 text of an IPv6 address: lowercase, longest zero run (≥ 2 groups) as `::`. */
export function ipv6(b: Uint8Array, p: number): string {
  let bestStart = -1;
  let bestLen = 0;
  let runStart = -1;
  for (let g = 0; g < 8; g++) {
    const zero = b[p + 2 * g] === 0 && b[p + 2 * g + 1] === 0;
    if (zero) {
      if (runStart < 0) runStart = g;
      const len = g - runStart + 1;
      if (len > bestLen) {
        bestLen = len;
        bestStart = runStart;
      }
    } else runStart = -1;
  }
  if (bestLen < 2) bestStart = -1;
  let out = '';
  for (let g = 0; g < 8; g++) {
    if (g === bestStart) {
      out += '::';
      g += bestLen - 1;
      continue;
    }
    if (out.length !== 0 && !out.endsWith(':')) out += ':';
    out += ((b[p + 2 * g] << 8) | b[p + 2 * g + 1]).toString(16);
  }
  return out;
}

/**
 * Renders one record's data for `answers`: addresses and names for the
 * types that have one, '' for the rest (shown as the bare type).
 */
function rdataText(b: Uint8Array, base: number, end: number, type: number, p: number, rdlen: number): string {
  switch (type) {
    case 1: // A
    case 11: // WKS starts with the address
      return rdlen >= 4 ? ipv4(b, p) : '';
    case 28: // AAAA
      return rdlen === 16 ? ipv6(b, p) : '';
    case 2: // NS
    case 5: // CNAME
    case 12: // PTR
    case 39: // DNAME
    case 6: // SOA: the primary server (MNAME)
      return readName(b, base, end, p) > 0 ? decodedName : '';
    case 15: // MX: preference, exchange
      return rdlen > 2 && readName(b, base, end, p + 2) > 0 ? decodedName : '';
    case 33: // SRV: priority, weight, port, target
      return rdlen > 6 && readName(b, base, end, p + 6) > 0 ? decodedName : '';
    default:
      return '';
  }
}

/**
 * Decodes the message in `b[start, end)` into `m`. Returns false when not
 * even the header and first question decode (the bytes are not DNS); true
 * otherwise, with `m.complete` telling whether every record decoded.
 */
export function decodeDnsMessage(b: Uint8Array, start: number, end: number, m: DnsMessage): boolean {
  m.complete = false;
  m.qname = '';
  m.qtype = 0;
  m.qclass = 0;
  m.answers = '';
  m.records = 0;
  m.ednsUdpSize = 0;
  if (end - start < 12) return false;
  m.id = (b[start] << 8) | b[start + 1];
  const f1 = b[start + 2];
  const f2 = b[start + 3];
  m.qr = (f1 & 0x80) !== 0;
  m.opcode = (f1 >> 3) & 0x0f;
  m.tc = (f1 & 0x02) !== 0;
  m.rcode = f2 & 0x0f;
  m.qdcount = (b[start + 4] << 8) | b[start + 5];
  m.ancount = (b[start + 6] << 8) | b[start + 7];
  m.nscount = (b[start + 8] << 8) | b[start + 9];
  m.arcount = (b[start + 10] << 8) | b[start + 11];
  let p = start + 12;
  for (let q = 0; q < m.qdcount; q++) {
    const after = readName(b, start, end, p);
    if (after < 0 || after + 4 > end) return q > 0;
    if (q === 0) {
      m.qname = decodedName;
      m.qtype = (b[after] << 8) | b[after + 1];
      m.qclass = (b[after + 2] << 8) | b[after + 3];
    }
    p = after + 4;
  }
  const rrTotal = m.ancount + m.nscount + m.arcount;
  let rendered = 0;
  let answers = '';
  for (let r = 0; r < rrTotal; r++) {
    // The owner name is not reported: validated and skipped, not decoded.
    const after = skipName(b, start, end, p);
    if (after < 0 || after + 10 > end) {
      m.answers = answers;
      return true;
    }
    const type = (b[after] << 8) | b[after + 1];
    const cls = (b[after + 2] << 8) | b[after + 3];
    const ttl = ((b[after + 4] << 24) | (b[after + 5] << 16) | (b[after + 6] << 8) | b[after + 7]) >>> 0;
    const rdlen = (b[after + 8] << 8) | b[after + 9];
    const rdata = after + 10;
    if (rdata + rdlen > end) {
      m.answers = answers;
      return true;
    }
    m.records++;
    if (r < m.ancount + m.nscount) {
      // Answers and authority, as DeepFlow reports them (the SOA of a
      // negative answer is in the authority section).
      if (rendered < MAX_RENDERED_RECORDS) {
        const text = rdataText(b, start, end, type, rdata, rdlen);
        if (rendered !== 0) answers += '; ';
        answers += text === '' ? typeName(type) : `${typeName(type)}=${text} TTL=${ttl}`;
        rendered++;
      } else if (rendered === MAX_RENDERED_RECORDS) {
        answers += '; ...';
        rendered++;
      }
    } else if (type === 41) {
      // OPT: CLASS is the UDP payload size, the TTL's top byte extends RCODE.
      m.ednsUdpSize = cls;
      m.rcode |= (ttl >>> 24) << 4;
    }
    p = rdata + rdlen;
  }
  m.answers = answers;
  m.complete = true;
  return true;
}

/**
 * Whether `b[start, end)` looks like the start of a DNS message sent in
 * direction `query` (true: a query from the client). Cheap: header sanity
 * and the first question only.
 */
export function looksLikeDns(b: Uint8Array, start: number, end: number, query: boolean): boolean {
  if (end - start < 17) return false;
  const f1 = b[start + 2];
  const qr = (f1 & 0x80) !== 0;
  if (qr === query) return false;
  const opcode = (f1 >> 3) & 0x0f;
  if (opcode === 3 || opcode > 6) return false;
  // Z bit must be zero.
  if ((b[start + 3] & 0x40) !== 0) return false;
  const qd = (b[start + 4] << 8) | b[start + 5];
  const an = (b[start + 6] << 8) | b[start + 7];
  const ns = (b[start + 8] << 8) | b[start + 9];
  const ar = (b[start + 10] << 8) | b[start + 11];
  if (qd !== 1) return false;
  if (query && opcode === 0 && (an !== 0 || ns !== 0)) return false;
  if (ar > 64 || an > 512 || ns > 512) return false;
  const after = readName(b, start, end, start + 12);
  if (after < 0 || after + 4 > end) return false;
  const qclass = ((b[after + 2] << 8) | b[after + 3]) & 0x7fff;
  // IN, CH, HS, NONE, ANY.
  return qclass === 1 || qclass === 3 || qclass === 4 || qclass === 254 || qclass === 255;
}
