/**
 * Packet decoding: link layer → IP → transport, through tunnels, into one
 * reusable {@link DecodedPacket}.
 *
 * Contract:
 * - {@link PacketDecoder.decode} (a packet as a Uint8Array),
 *   {@link PacketDecoder.decodePacket} (a CaptureReader packet, without
 *   building its view or bigint time) and {@link PacketDecoder.decodeRange}
 *   never throw and allocate nothing per packet on the common path (not a
 *   fragment, addresses already in the address cache): they overwrite the
 *   decoder's single result object and return it. Read what you need before
 *   the next call. Offsets in the result index `result.data`, which is the
 *   buffer given (or the reassembled datagram).
 * - Link types: Ethernet (802.1Q / 802.1ad / QinQ tags, MPLS, PPPoE session),
 *   Linux cooked SLL and SLL2, raw IP (LINKTYPE_RAW 101, DLT_RAW 12/14,
 *   LINKTYPE_IPV4/IPV6), BSD loopback (NULL, LOOP).
 * - IPv4 with options; IPv6 with hop-by-hop, routing, fragment, destination
 *   options, AH and mobility headers. Fragments of both are reassembled in a
 *   bounded table ({@link FragmentOptions}); a fragment that does not complete
 *   a datagram yields status {@link DecodeStatus.HELD}; a completed datagram
 *   decodes like an unfragmented one (`reassembled` set, `data` is then the
 *   reassembled buffer).
 * - TCP (flags, seq/ack, window, MSS, window scale, SACK-permitted, SACK
 *   blocks, timestamps), UDP, ICMP and ICMPv6 (type/code).
 * - Tunnels: VXLAN (UDP 4789 and 8472, plus DeepFlow's broadcast-MAC
 *   same-port convention), VXLAN-GPE (4790) including NSH, GENEVE (6081),
 *   GRE carrying IP, transparent Ethernet bridging (TEB) and ERSPAN
 *   type I/II/III, IP-in-IP (IPv4/IPv6 in IPv4/IPv6). The innermost flow is
 *   the packet's flow; the outermost tunnel is recorded in the `outer*` and
 *   `tunnel*` fields. A header that does not validate as its tunnel (wrong
 *   flags, unknown next protocol) is not decapsulated: the packet stays the
 *   outer UDP/GRE flow.
 * - Every packet ends as OK, HELD, SKIPPED (valid but not IP: ARP, LLDP,
 *   unknown link type) or DROPPED (malformed or truncated); SKIPPED and
 *   DROPPED carry a reason from {@link DROP_REASONS}, counted in
 *   {@link PacketDecoder.dropCounts}. Checksums are not verified (offloading
 *   makes captured checksums meaningless).
 */
import { LinkType } from './pcap';
import type { CapturedPacket } from './pcap';

/** Outcome of decoding one packet. */
export const DecodeStatus = {
  /** A decoded IP packet (the flow fields are valid). */
  OK: 0,
  /** A fragment kept until its datagram completes. */
  HELD: 1,
  /** Well-formed but nothing to decode here (not IP, unknown link type). */
  SKIPPED: 2,
  /** Malformed or truncated; `reason` says why. */
  DROPPED: 3,
} as const;
/** One of {@link DecodeStatus}. */
export type DecodeStatusValue = (typeof DecodeStatus)[keyof typeof DecodeStatus];

/**
 * Reasons of SKIPPED and DROPPED packets, indexed by `DecodedPacket.reason`
 * (0 = none). Stable names: they are metric label values.
 */
export const DROP_REASONS = [
  '',
  // skipped
  'unsupported-link-type',
  'not-ip',
  // dropped
  'truncated-link',
  'truncated-ip',
  'bad-ip-version',
  'bad-ip-header-length',
  'bad-ip-total-length',
  'truncated-ip-ext',
  'too-many-ip-ext',
  'truncated-tcp',
  'bad-tcp-header-length',
  'truncated-udp',
  'bad-udp-length',
  'truncated-icmp',
  'bad-fragment',
  'fragment-too-big',
  'truncated-tunnel',
  'truncated-mpls',
  'too-many-vlan-tags',
] as const;
/** A name of {@link DROP_REASONS}. */
export type DropReason = (typeof DROP_REASONS)[number];

const R_UNSUPPORTED_LINK = 1;
const R_NOT_IP = 2;
const R_TRUNC_LINK = 3;
const R_TRUNC_IP = 4;
const R_BAD_IP_VERSION = 5;
const R_BAD_IHL = 6;
const R_BAD_IP_LEN = 7;
const R_TRUNC_EXT = 8;
const R_TOO_MANY_EXT = 9;
const R_TRUNC_TCP = 10;
const R_BAD_TCP_HLEN = 11;
const R_TRUNC_UDP = 12;
const R_BAD_UDP_LEN = 13;
const R_TRUNC_ICMP = 14;
const R_BAD_FRAGMENT = 15;
const R_FRAGMENT_TOO_BIG = 16;
const R_TRUNC_TUNNEL = 17;
const R_TRUNC_MPLS = 18;
const R_TOO_MANY_VLAN = 19;

/** Tunnel encapsulations, as `DecodedPacket.tunnelType`. */
export const TunnelType = {
  NONE: 0,
  VXLAN: 1,
  /** VXLAN-GPE, with or without an NSH header inside. */
  VXLAN_GPE: 2,
  GENEVE: 3,
  /** GRE carrying IPv4/IPv6 directly. */
  GRE: 4,
  /** GRE carrying Ethernet (transparent Ethernet bridging, 0x6558). */
  GRE_TEB: 5,
  /** ERSPAN over GRE; `erspanVersion` tells type I (0), II (1) or III (2). */
  ERSPAN: 6,
  /** IPv4 inside IPv4/IPv6 (IP protocol 4). */
  IPIP: 7,
  /** IPv6 inside IPv4/IPv6 (IP protocol 41, 6in4 / SIT). */
  IP6IP: 8,
} as const;
/** Names of {@link TunnelType} values, by value. */
export const TUNNEL_NAMES = ['', 'vxlan', 'vxlan-gpe', 'geneve', 'gre', 'gre-teb', 'erspan', 'ipip', 'ip6ip'] as const;

/** TCP flag bits of `DecodedPacket.tcpFlags`. */
export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80, NS: 0x100 } as const;

/** The decoded view of one packet; one instance is reused by its decoder. */
export class DecodedPacket {
  /** One of {@link DecodeStatus}. */
  status: DecodeStatusValue = DecodeStatus.OK;
  /** Index into {@link DROP_REASONS} when SKIPPED or DROPPED, else 0. */
  reason = 0;
  linkType = 0;
  /** Outermost VLAN id, or -1. */
  vlan = -1;
  /** The buffer the offsets below index: the buffer given to decode, or the reassembled datagram. */
  data: Uint8Array = EMPTY;
  /** 4 or 6 (0 when not OK). */
  ipVersion = 0;
  /** Offset of the innermost IP header in `data` (-1 after reassembly: the header is not in the buffer). */
  ipOffset = -1;
  /** IPv4 addresses as unsigned 32-bit numbers (0 for IPv6): cheap flow keys. */
  src4 = 0;
  dst4 = 0;
  /** Addresses in text form (interned: the same address gives the same string). */
  srcIp = '';
  dstIp = '';
  /** TTL / hop limit. */
  ttl = 0;
  /** IPv4 identification, or the IPv6 fragment id when fragmented, else 0. */
  ipId = 0;
  /** The datagram was reassembled from fragments. */
  reassembled = false;
  /** The capture cut the packet short of its IP length (snap length): payload is partial. */
  truncated = false;
  /** Transport protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, 47 GRE, …). */
  protocol = 0;
  srcPort = 0;
  dstPort = 0;
  /** TCP flags ({@link TcpFlag}); 0 when not TCP. */
  tcpFlags = 0;
  seq = 0;
  ack = 0;
  window = 0;
  /** TCP options: -1 when absent. */
  mss = -1;
  windowScale = -1;
  sackPermitted = false;
  /** Timestamps option: valid when `hasTimestamps`. */
  hasTimestamps = false;
  tsVal = 0;
  tsEcr = 0;
  /** SACK blocks: `sack[2i]`..`sack[2i+1]` for i < sackCount (at most 4). */
  sackCount = 0;
  readonly sack = new Uint32Array(8);
  /** ICMP/ICMPv6 type and code, -1 when not ICMP. */
  icmpType = -1;
  icmpCode = -1;
  /** Transport payload: `data[payloadOffset .. payloadOffset + payloadLength)` as captured. */
  payloadOffset = 0;
  payloadLength = 0;
  /** Payload length the IP header states (≥ payloadLength when `truncated`). */
  payloadWireLength = 0;
  /** One of {@link TunnelType}: the outermost tunnel, NONE when none. */
  tunnelType = 0;
  /** VNI, GRE key or ERSPAN session id of the outermost tunnel (0 when none). */
  tunnelId = 0;
  /** ERSPAN type when tunnelType is ERSPAN: 0 (type I), 1 (II), 2 (III). */
  erspanVersion = -1;
  /** Number of tunnel layers removed. */
  tunnelDepth = 0;
  /** The outermost IP layer, when tunnelDepth > 0. */
  outerIpVersion = 0;
  outerSrcIp = '';
  outerDstIp = '';
  /** Outer transport: protocol (17 UDP, 47 GRE, 4/41 IP-in-IP), ports for UDP tunnels. */
  outerProtocol = 0;
  outerSrcPort = 0;
  outerDstPort = 0;

  /** The payload bytes (a view; allocates the view object). */
  payload(): Uint8Array {
    return this.data.subarray(this.payloadOffset, this.payloadOffset + this.payloadLength);
  }

  /** The reason's name ('' when OK). */
  get reasonName(): DropReason {
    return DROP_REASONS[this.reason];
  }
}

const EMPTY = new Uint8Array(0);

/** Bounds of IP fragment reassembly. */
export interface FragmentOptions {
  /** Datagrams waiting for fragments at once; the oldest is evicted beyond. */
  maxDatagrams: number;
  /** Bytes held by all waiting datagrams; the oldest are evicted beyond. */
  maxBytes: number;
  /** Fragments of one datagram; beyond, the datagram is dropped. */
  maxFragmentsPerDatagram: number;
  /** A datagram incomplete for this long (capture time) is dropped. */
  timeoutNs: bigint;
}

/** Options of {@link PacketDecoder}. */
export interface DecodeOptions {
  /** Remove tunnel headers (false: the outer packet is the flow). */
  decapsulate: boolean;
  /** Most tunnel layers removed; a deeper one stays the flow. */
  maxTunnelDepth: number;
  vxlanPorts: readonly number[];
  vxlanGpePorts: readonly number[];
  genevePorts: readonly number[];
  /**
   * DeepFlow's convention: VXLAN on any port when the outer destination MAC
   * is broadcast-prefixed (ff:ff) and source port equals destination port.
   */
  vxlanBroadcastSamePort: boolean;
  fragments: FragmentOptions;
  /** Entries of each (IPv4, IPv6) address-to-string cache; a power of two. */
  addressCacheSize: number;
}

/** Defaults for {@link DecodeOptions}. */
export const DEFAULT_DECODE_OPTIONS: DecodeOptions = {
  decapsulate: true,
  maxTunnelDepth: 3,
  vxlanPorts: [4789, 8472],
  vxlanGpePorts: [4790],
  genevePorts: [6081],
  vxlanBroadcastSamePort: true,
  fragments: { maxDatagrams: 1024, maxBytes: 16 * 1024 * 1024, maxFragmentsPerDatagram: 256, timeoutNs: 30_000_000_000n },
  addressCacheSize: 4096,
};

/** Counters of a decoder besides the drop reasons; never reset. */
export interface DecodeCounters {
  packets: number;
  ok: number;
  /** Packets shorter than their IP length (snap length cut them). */
  snapTruncated: number;
  /** TCP option lists that were malformed (options ignored, packet kept). */
  badTcpOptions: number;
  /** Packets that arrived through at least one tunnel. */
  tunneled: number;
  /** Tunnels not removed because maxTunnelDepth was reached. */
  tunnelDepthLimit: number;
  fragments: number;
  /** Datagrams completed from fragments. */
  reassembled: number;
  /** Incomplete datagrams dropped after the timeout. */
  fragmentTimeouts: number;
  /** Incomplete datagrams evicted because a bound bit (datagrams, bytes, fragments per datagram). */
  fragmentEvictions: number;
  /** Datagrams discarded for inconsistent fragments (overlap with different lengths, beyond the end). */
  fragmentErrors: number;
  /** Address-to-string conversions not served by the cache. */
  addressCacheMisses: number;
}

const PORT_VXLAN = 1;
const PORT_GPE = 2;
const PORT_GENEVE = 3;

interface Fragment {
  off: number;
  bytes: Uint8Array;
}
interface PendingDatagram {
  /** Capture time (seconds) of its first fragment. */
  firstTs: number;
  /** Total length once the last fragment came, else -1. */
  total: number;
  bytes: number;
  frags: Fragment[];
}

/**
 * Decodes packets into its reusable result. One decoder per thread of
 * packets (it owns the fragment table and the address caches).
 */
export class PacketDecoder {
  /** The result object every `decode` call overwrites and returns. */
  readonly out = new DecodedPacket();
  /** Counts of SKIPPED/DROPPED packets, indexed like {@link DROP_REASONS}. */
  readonly drops = new Float64Array(DROP_REASONS.length);
  readonly counters: DecodeCounters = {
    packets: 0,
    ok: 0,
    snapTruncated: 0,
    badTcpOptions: 0,
    tunneled: 0,
    tunnelDepthLimit: 0,
    fragments: 0,
    reassembled: 0,
    fragmentTimeouts: 0,
    fragmentEvictions: 0,
    fragmentErrors: 0,
    addressCacheMisses: 0,
  };
  private readonly opts: DecodeOptions;
  private readonly udpPorts = new Uint8Array(65536);
  private readonly frags = new Map<string, PendingDatagram>();
  private fragBytes = 0;
  /** The outer Ethernet destination began ff:ff (for the broadcast VXLAN convention). */
  private outerBroadcast = false;
  private nowSec = 0;
  private readonly fragTimeoutSec: number;
  // Address caches: direct-mapped, key words beside the interned string.
  private readonly mask: number;
  private readonly v4Keys: Uint32Array;
  private readonly v4Used: Uint8Array;
  private readonly v4Vals: string[];
  private readonly v6Keys: Uint32Array;
  private readonly v6Used: Uint8Array;
  private readonly v6Vals: string[];

  constructor(options: Partial<DecodeOptions> = {}) {
    this.opts = { ...DEFAULT_DECODE_OPTIONS, ...options, fragments: { ...DEFAULT_DECODE_OPTIONS.fragments, ...options.fragments } };
    this.fragTimeoutSec = Number(this.opts.fragments.timeoutNs) / 1e9;
    for (const p of this.opts.vxlanPorts) this.udpPorts[p & 0xffff] = PORT_VXLAN;
    for (const p of this.opts.vxlanGpePorts) this.udpPorts[p & 0xffff] = PORT_GPE;
    for (const p of this.opts.genevePorts) this.udpPorts[p & 0xffff] = PORT_GENEVE;
    let size = 1;
    while (size < Math.max(16, this.opts.addressCacheSize)) size <<= 1;
    this.mask = size - 1;
    this.v4Keys = new Uint32Array(size);
    this.v4Used = new Uint8Array(size);
    this.v4Vals = new Array<string>(size).fill('');
    this.v6Keys = new Uint32Array(size * 4);
    this.v6Used = new Uint8Array(size);
    this.v6Vals = new Array<string>(size).fill('');
  }

  /** Drop and skip counts by reason name (only reasons that occurred). */
  dropCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 1; i < this.drops.length; i++) if (this.drops[i] > 0) out[DROP_REASONS[i]] = this.drops[i];
    return out;
  }

  /** Datagrams currently waiting for fragments. */
  get pendingFragments(): number {
    return this.frags.size;
  }

  /**
   * Decodes one packet of link type `linkType`. `tsNs` is its capture time,
   * used only to time out incomplete fragmented datagrams.
   */
  decode(data: Uint8Array, linkType: number, tsNs = 0n): DecodedPacket {
    return this.decodeRange(data, 0, data.length, linkType, Number(tsNs) / 1e9);
  }

  /** Decodes a packet of a {@link CaptureReader} without allocating its view or bigint time. */
  decodePacket(p: CapturedPacket): DecodedPacket {
    return this.decodeRange(p.buffer, p.offset, p.offset + p.length, p.linkType, p.timeSec);
  }

  /**
   * Decodes `data[start..end)`; offsets in the result index `data` itself.
   * `timeSec` (capture time in seconds) only times out fragments.
   */
  decodeRange(data: Uint8Array, start: number, end: number, linkType: number, timeSec: number): DecodedPacket {
    const o = this.out;
    this.counters.packets++;
    this.nowSec = timeSec;
    o.status = DecodeStatus.OK;
    o.reason = 0;
    o.linkType = linkType;
    o.vlan = -1;
    o.data = data;
    o.ipVersion = 0;
    o.ipOffset = -1;
    o.src4 = 0;
    o.dst4 = 0;
    o.srcIp = '';
    o.dstIp = '';
    o.ttl = 0;
    o.ipId = 0;
    o.reassembled = false;
    o.truncated = false;
    o.protocol = 0;
    o.srcPort = 0;
    o.dstPort = 0;
    o.tcpFlags = 0;
    o.seq = 0;
    o.ack = 0;
    o.window = 0;
    o.mss = -1;
    o.windowScale = -1;
    o.sackPermitted = false;
    o.hasTimestamps = false;
    o.tsVal = 0;
    o.tsEcr = 0;
    o.sackCount = 0;
    o.icmpType = -1;
    o.icmpCode = -1;
    o.payloadOffset = 0;
    o.payloadLength = 0;
    o.payloadWireLength = 0;
    o.tunnelType = 0;
    o.tunnelId = 0;
    o.erspanVersion = -1;
    o.tunnelDepth = 0;
    o.outerIpVersion = 0;
    o.outerSrcIp = '';
    o.outerDstIp = '';
    o.outerProtocol = 0;
    o.outerSrcPort = 0;
    o.outerDstPort = 0;
    this.outerBroadcast = false;
    const b = data;
    const at = start;
    const len = end - start;
    switch (linkType) {
      case LinkType.ETHERNET:
        this.outerBroadcast = len >= 2 && b[at] === 0xff && b[at + 1] === 0xff;
        this.ethernet(b, at, end, 0);
        break;
      case LinkType.LINUX_SLL:
        if (len < 16) this.drop(R_TRUNC_LINK);
        else this.etherType(b, at + 16, end, (b[at + 14] << 8) | b[at + 15], 0);
        break;
      case LinkType.LINUX_SLL2:
        if (len < 20) this.drop(R_TRUNC_LINK);
        else this.etherType(b, at + 20, end, (b[at] << 8) | b[at + 1], 0);
        break;
      case LinkType.RAW:
      case LinkType.RAW_BSD:
      case LinkType.RAW_OPENBSD:
        this.ipByVersion(b, at, end, 0);
        break;
      case LinkType.IPV4:
        this.ipv4(b, at, end, 0);
        break;
      case LinkType.IPV6:
        this.ipv6(b, at, end, 0);
        break;
      case LinkType.NULL:
      case LinkType.LOOP: {
        if (len < 4) {
          this.drop(R_TRUNC_LINK);
          break;
        }
        // NULL is in the capturing host's byte order: the family fits one byte either way.
        const fam = linkType === LinkType.LOOP ? b[at + 3] : b[at] !== 0 ? b[at] : b[at + 3];
        if (fam === 2) this.ipv4(b, at + 4, end, 0);
        // AF_INET6 differs per BSD (Linux 10, NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30).
        else if (fam === 10 || fam === 24 || fam === 28 || fam === 30) this.ipv6(b, at + 4, end, 0);
        else this.skip(R_NOT_IP);
        break;
      }
      default:
        this.skip(R_UNSUPPORTED_LINK);
    }
    if (o.status === DecodeStatus.OK) {
      this.counters.ok++;
      if (o.tunnelDepth > 0) this.counters.tunneled++;
      if (o.truncated) this.counters.snapTruncated++;
    }
    return o;
  }

  /**
   * Drops incomplete datagrams older than the fragment timeout at `nowNs`
   * (decode does this as fragments arrive; call it when packets stop).
   */
  expireFragments(nowNs: bigint): void {
    this.expireFragmentsAt(Number(nowNs) / 1e9);
  }

  private expireFragmentsAt(nowSec: number): void {
    const limit = nowSec - this.fragTimeoutSec;
    // Map order is insertion order, so the oldest datagrams come first.
    for (const [key, d] of this.frags) {
      if (d.firstTs > limit) break;
      this.removeDatagram(key, d);
      this.counters.fragmentTimeouts++;
    }
  }

  private drop(reason: number): void {
    this.out.status = DecodeStatus.DROPPED;
    this.out.reason = reason;
    this.drops[reason]++;
  }

  private skip(reason: number): void {
    this.out.status = DecodeStatus.SKIPPED;
    this.out.reason = reason;
    this.drops[reason]++;
  }

  private ethernet(b: Uint8Array, off: number, end: number, depth: number): void {
    if (end - off < 14) return this.drop(R_TRUNC_LINK);
    const type = (b[off + 12] << 8) | b[off + 13];
    // Values up to 1500 are 802.3 lengths (LLC/SNAP frames: CDP, STP, …).
    if (type <= 1500) return this.skip(R_NOT_IP);
    this.etherType(b, off + 14, end, type, depth);
  }

  private etherType(b: Uint8Array, off: number, end: number, type: number, depth: number): void {
    for (let tags = 0; ; tags++) {
      if (type === 0x8100 || type === 0x88a8 || type === 0x9100 || type === 0x9200) {
        if (tags >= 8) return this.drop(R_TOO_MANY_VLAN);
        if (end - off < 4) return this.drop(R_TRUNC_LINK);
        if (this.out.vlan < 0 && depth === 0) this.out.vlan = ((b[off] << 8) | b[off + 1]) & 0xfff;
        type = (b[off + 2] << 8) | b[off + 3];
        off += 4;
        continue;
      }
      break;
    }
    switch (type) {
      case 0x0800:
        return this.ipv4(b, off, end, depth);
      case 0x86dd:
        return this.ipv6(b, off, end, depth);
      case 0x8847:
      case 0x8848: {
        // MPLS: labels until bottom of stack, then guess IP by its version nibble.
        for (let n = 0; ; n++) {
          if (end - off < 4) return this.drop(R_TRUNC_MPLS);
          const bos = b[off + 2] & 1;
          off += 4;
          if (bos) break;
          if (n >= 16) return this.drop(R_TRUNC_MPLS);
        }
        if (off >= end) return this.drop(R_TRUNC_MPLS);
        const v = b[off] >> 4;
        if (v === 4 || v === 6) return this.ipByVersion(b, off, end, depth);
        return this.skip(R_NOT_IP);
      }
      case 0x8864: {
        // PPPoE session: 6-byte header, then the 2-byte PPP protocol.
        if (end - off < 8) return this.drop(R_TRUNC_LINK);
        const ppp = (b[off + 6] << 8) | b[off + 7];
        if (ppp === 0x0021) return this.ipv4(b, off + 8, end, depth);
        if (ppp === 0x0057) return this.ipv6(b, off + 8, end, depth);
        return this.skip(R_NOT_IP);
      }
      default:
        return this.skip(R_NOT_IP);
    }
  }

  private ipByVersion(b: Uint8Array, off: number, end: number, depth: number): void {
    if (off >= end) return this.drop(R_TRUNC_IP);
    const v = b[off] >> 4;
    if (v === 4) return this.ipv4(b, off, end, depth);
    if (v === 6) return this.ipv6(b, off, end, depth);
    return this.drop(R_BAD_IP_VERSION);
  }

  private ipv4(b: Uint8Array, off: number, end: number, depth: number): void {
    const o = this.out;
    if (end - off < 20) return this.drop(R_TRUNC_IP);
    const vihl = b[off];
    if (vihl >> 4 !== 4) return this.drop(R_BAD_IP_VERSION);
    const ihl = (vihl & 0xf) << 2;
    if (ihl < 20) return this.drop(R_BAD_IHL);
    if (end - off < ihl) return this.drop(R_TRUNC_IP);
    let total = (b[off + 2] << 8) | b[off + 3];
    // Total length 0 is what TSO/GSO segments show when captured on the sender: use what is there.
    if (total === 0) total = end - off;
    else if (total < ihl) return this.drop(R_BAD_IP_LEN);
    let ipEnd = off + total;
    if (ipEnd > end) {
      o.truncated = true;
      ipEnd = end;
    } // else: bytes beyond the IP length are link padding or FCS.
    o.ipVersion = 4;
    o.ipOffset = off;
    o.ttl = b[off + 8];
    o.ipId = (b[off + 4] << 8) | b[off + 5];
    const src = ((b[off + 12] << 24) | (b[off + 13] << 16) | (b[off + 14] << 8) | b[off + 15]) >>> 0;
    const dst = ((b[off + 16] << 24) | (b[off + 17] << 16) | (b[off + 18] << 8) | b[off + 19]) >>> 0;
    o.src4 = src;
    o.dst4 = dst;
    o.srcIp = this.v4String(src);
    o.dstIp = this.v4String(dst);
    const proto = b[off + 9];
    const fragField = (b[off + 6] << 8) | b[off + 7];
    const fragOff = (fragField & 0x1fff) << 3;
    const more = (fragField & 0x2000) !== 0;
    if (fragOff !== 0 || more) {
      this.counters.fragments++;
      const key = `4:${src}:${dst}:${o.ipId}:${proto}`;
      const whole = this.addFragment(key, fragOff, more, b, off + ihl, ipEnd, off + total - ipEnd > 0, 65535 - ihl);
      if (!whole) return;
      o.reassembled = true;
      o.ipOffset = -1;
      o.data = whole;
      return this.transport(whole, 0, whole.length, whole.length, proto, depth);
    }
    this.transport(b, off + ihl, ipEnd, total - ihl, proto, depth);
  }

  private ipv6(b: Uint8Array, off: number, end: number, depth: number): void {
    const o = this.out;
    if (end - off < 40) return this.drop(R_TRUNC_IP);
    if (b[off] >> 4 !== 6) return this.drop(R_BAD_IP_VERSION);
    let plen = (b[off + 4] << 8) | b[off + 5];
    // 0 is a jumbogram or a TSO segment: take the captured length.
    if (plen === 0) plen = end - off - 40;
    let ipEnd = off + 40 + plen;
    if (ipEnd > end) {
      o.truncated = true;
      ipEnd = end;
    }
    o.ipVersion = 6;
    o.ipOffset = off;
    o.ttl = b[off + 7];
    o.ipId = 0;
    o.src4 = 0;
    o.dst4 = 0;
    o.srcIp = this.v6String(b, off + 8);
    o.dstIp = this.v6String(b, off + 24);
    this.ipv6Ext(b, off + 40, ipEnd, off + 40 + plen, b[off + 6], depth, off);
  }

  /** IPv6 extension headers from `p` to `end`; `wireEnd` is where the IP length says the packet ends. */
  private ipv6Ext(b: Uint8Array, p: number, end: number, wireEnd: number, next: number, depth: number, ipOff: number): void {
    for (let n = 0; ; n++) {
      if (n >= 16) return this.drop(R_TOO_MANY_EXT);
      switch (next) {
        case 0: // hop-by-hop
        case 43: // routing
        case 60: // destination options
        case 135: // mobility
        case 139: // HIP
        case 140: {
          // shim6
          if (end - p < 8) return this.drop(R_TRUNC_EXT);
          const len = (b[p + 1] + 1) << 3;
          if (end - p < len) return this.drop(R_TRUNC_EXT);
          next = b[p];
          p += len;
          continue;
        }
        case 51: {
          // AH: length in 4-octet units minus 2
          if (end - p < 8) return this.drop(R_TRUNC_EXT);
          const len = (b[p + 1] + 2) << 2;
          if (end - p < len) return this.drop(R_TRUNC_EXT);
          next = b[p];
          p += len;
          continue;
        }
        case 44: {
          if (end - p < 8) return this.drop(R_TRUNC_EXT);
          const fragField = (b[p + 2] << 8) | b[p + 3];
          const fragOff = fragField & 0xfff8;
          const more = (fragField & 1) !== 0;
          const id = ((b[p + 4] << 24) | (b[p + 5] << 16) | (b[p + 6] << 8) | b[p + 7]) >>> 0;
          next = b[p];
          p += 8;
          // An atomic fragment (offset 0, no more) is a whole datagram.
          if (fragOff === 0 && !more) continue;
          const o = this.out;
          o.ipId = id;
          this.counters.fragments++;
          const key = `6:${o.srcIp}:${o.dstIp}:${id}`;
          const whole = this.addFragment(key, fragOff, more, b, p, end, wireEnd > end, 65535 - (p - ipOff - 40));
          if (!whole) return;
          o.reassembled = true;
          o.ipOffset = -1;
          o.data = whole;
          return this.ipv6Ext(whole, 0, whole.length, whole.length, next, depth, -40);
        }
        default:
          return this.transport(b, p, end, wireEnd - p, next, depth);
      }
    }
  }

  /** The transport layer at `off..end` (captured); `wireLen` is its length per the IP header. */
  private transport(b: Uint8Array, off: number, end: number, wireLen: number, proto: number, depth: number): void {
    const o = this.out;
    o.protocol = proto;
    switch (proto) {
      case 6: {
        if (end - off < 20) return this.drop(R_TRUNC_TCP);
        const doff = (b[off + 12] >> 4) << 2;
        if (doff < 20) return this.drop(R_BAD_TCP_HLEN);
        if (end - off < doff) return this.drop(wireLen < doff ? R_BAD_TCP_HLEN : R_TRUNC_TCP);
        o.srcPort = (b[off] << 8) | b[off + 1];
        o.dstPort = (b[off + 2] << 8) | b[off + 3];
        o.seq = ((b[off + 4] << 24) | (b[off + 5] << 16) | (b[off + 6] << 8) | b[off + 7]) >>> 0;
        o.ack = ((b[off + 8] << 24) | (b[off + 9] << 16) | (b[off + 10] << 8) | b[off + 11]) >>> 0;
        o.tcpFlags = b[off + 13] | ((b[off + 12] & 1) << 8);
        o.window = (b[off + 14] << 8) | b[off + 15];
        if (doff > 20) this.tcpOptions(b, off + 20, off + doff);
        o.payloadOffset = off + doff;
        o.payloadLength = end - off - doff;
        o.payloadWireLength = Math.max(o.payloadLength, wireLen - doff);
        return;
      }
      case 17: {
        if (end - off < 8) return this.drop(R_TRUNC_UDP);
        const sport = (b[off] << 8) | b[off + 1];
        const dport = (b[off + 2] << 8) | b[off + 3];
        let ulen = (b[off + 4] << 8) | b[off + 5];
        // 0 is legal for IPv6 jumbograms and shows up with UDP GSO: take the IP length.
        if (ulen === 0) ulen = wireLen;
        if (ulen < 8 || ulen > wireLen) return this.drop(R_BAD_UDP_LEN);
        const uend = Math.min(end, off + ulen);
        o.srcPort = sport;
        o.dstPort = dport;
        o.payloadOffset = off + 8;
        o.payloadLength = uend - off - 8;
        o.payloadWireLength = ulen - 8;
        if (this.opts.decapsulate) {
          const kind = this.udpPorts[dport];
          if (kind !== 0) {
            if (this.udpTunnel(b, off + 8, uend, kind, dport, depth)) return;
          } else if (this.outerBroadcast && depth === 0 && sport === dport && this.opts.vxlanBroadcastSamePort) {
            if (this.udpTunnel(b, off + 8, uend, PORT_VXLAN, dport, depth)) return;
          }
        }
        return;
      }
      case 1:
      case 58: {
        if (end - off < 4) return this.drop(R_TRUNC_ICMP);
        o.icmpType = b[off];
        o.icmpCode = b[off + 1];
        // The 4 bytes after type/code/checksum are part of every ICMP header (id/seq, MTU, unused).
        const hl = end - off >= 8 ? 8 : 4;
        o.payloadOffset = off + hl;
        o.payloadLength = end - off - hl;
        o.payloadWireLength = Math.max(o.payloadLength, wireLen - hl);
        return;
      }
      case 47:
        if (this.opts.decapsulate && this.gre(b, off, end, depth)) return;
        o.payloadOffset = off;
        o.payloadLength = end - off;
        o.payloadWireLength = wireLen;
        return;
      case 4:
      case 41:
        if (this.opts.decapsulate && this.enterTunnel(proto === 4 ? TunnelType.IPIP : TunnelType.IP6IP, 0, depth)) {
          if (proto === 4) return this.ipv4(b, off, end, depth + 1);
          return this.ipv6(b, off, end, depth + 1);
        }
        o.payloadOffset = off;
        o.payloadLength = end - off;
        o.payloadWireLength = wireLen;
        return;
      default:
        o.payloadOffset = off;
        o.payloadLength = end - off;
        o.payloadWireLength = Math.max(end - off, wireLen);
    }
  }

  private tcpOptions(b: Uint8Array, p: number, end: number): void {
    const o = this.out;
    while (p < end) {
      const kind = b[p];
      if (kind === 0) return;
      if (kind === 1) {
        p++;
        continue;
      }
      if (p + 1 >= end) break;
      const len = b[p + 1];
      if (len < 2 || p + len > end) break;
      switch (kind) {
        case 2:
          if (len === 4) o.mss = (b[p + 2] << 8) | b[p + 3];
          break;
        case 3:
          if (len === 3) o.windowScale = b[p + 2];
          break;
        case 4:
          o.sackPermitted = true;
          break;
        case 5: {
          const n = Math.min(4, (len - 2) >> 3);
          for (let i = 0; i < n; i++) {
            const q = p + 2 + i * 8;
            o.sack[2 * i] = ((b[q] << 24) | (b[q + 1] << 16) | (b[q + 2] << 8) | b[q + 3]) >>> 0;
            o.sack[2 * i + 1] = ((b[q + 4] << 24) | (b[q + 5] << 16) | (b[q + 6] << 8) | b[q + 7]) >>> 0;
          }
          o.sackCount = n;
          break;
        }
        case 8:
          if (len === 10) {
            o.hasTimestamps = true;
            o.tsVal = ((b[p + 2] << 24) | (b[p + 3] << 16) | (b[p + 4] << 8) | b[p + 5]) >>> 0;
            o.tsEcr = ((b[p + 6] << 24) | (b[p + 7] << 16) | (b[p + 8] << 8) | b[p + 9]) >>> 0;
          }
          break;
      }
      p += len;
    }
    // Reached only by a broken option list (a clean one ends at `end` or at kind 0).
    if (p < end) this.counters.badTcpOptions++;
  }

  /**
   * Records the current (outer) layer as the outermost tunnel when it is the
   * first one; false when the depth limit keeps this layer as the flow.
   */
  private enterTunnel(type: number, id: number, depth: number): boolean {
    if (depth >= this.opts.maxTunnelDepth) {
      this.counters.tunnelDepthLimit++;
      return false;
    }
    const o = this.out;
    if (o.tunnelDepth === 0) {
      o.tunnelType = type;
      o.tunnelId = id;
      o.outerIpVersion = o.ipVersion;
      o.outerSrcIp = o.srcIp;
      o.outerDstIp = o.dstIp;
      o.outerProtocol = o.protocol;
      o.outerSrcPort = o.srcPort;
      o.outerDstPort = o.dstPort;
    }
    o.tunnelDepth++;
    // The inner layers fill these again; stale outer values must not leak into the flow.
    o.srcPort = 0;
    o.dstPort = 0;
    o.payloadOffset = 0;
    o.payloadLength = 0;
    o.payloadWireLength = 0;
    return true;
  }

  /** A UDP payload at `p..end` on a tunnel port; false when it does not validate (stays UDP). */
  private udpTunnel(b: Uint8Array, p: number, end: number, kind: number, dport: number, depth: number): boolean {
    const avail = end - p;
    if (kind === PORT_VXLAN) {
      // flags: only the I bit (0x08) is defined; reserved bytes 1-3 and 7 are zero by RFC 7348,
      // but senders set bits there (group policy), so only I is required.
      if (avail < 8 + 14 || (b[p] & 0x08) === 0) return false;
      const vni = ((b[p + 4] << 16) | (b[p + 5] << 8) | b[p + 6]) >>> 0;
      // Without a well-known port the match rests on the header: demand the reserved zeros.
      if (this.udpPorts[dport] !== PORT_VXLAN && (b[p] !== 0x08 || b[p + 1] | b[p + 2] | b[p + 3] | b[p + 7])) return false;
      if (!this.enterTunnel(TunnelType.VXLAN, vni, depth)) return false;
      this.ethernet(b, p + 8, end, depth + 1);
      return true;
    }
    if (kind === PORT_GPE) {
      // VXLAN-GPE: flags (version in bits 4-5 must be 0), next protocol in byte 3.
      if (avail < 8 || (b[p] & 0x30) !== 0) return false;
      const nextProto = b[p + 3];
      if (nextProto < 1 || nextProto > 4) return false;
      const vni = ((b[p + 4] << 16) | (b[p + 5] << 8) | b[p + 6]) >>> 0;
      if (!this.enterTunnel(TunnelType.VXLAN_GPE, vni, depth)) return false;
      this.gpePayload(b, p + 8, end, nextProto, depth + 1, 0);
      return true;
    }
    // GENEVE: version 0, options length in 4-byte words, protocol type as an EtherType.
    if (avail < 8 || b[p] >> 6 !== 0) return false;
    const hl = 8 + ((b[p] & 0x3f) << 2);
    const ptype = (b[p + 2] << 8) | b[p + 3];
    if (ptype !== 0x6558 && ptype !== 0x0800 && ptype !== 0x86dd) return false;
    if (avail < hl) {
      this.drop(R_TRUNC_TUNNEL);
      return true;
    }
    const vni = ((b[p + 4] << 16) | (b[p + 5] << 8) | b[p + 6]) >>> 0;
    if (!this.enterTunnel(TunnelType.GENEVE, vni, depth)) return false;
    if (ptype === 0x6558) this.ethernet(b, p + hl, end, depth + 1);
    else this.etherType(b, p + hl, end, ptype, depth + 1);
    return true;
  }

  /** What follows a VXLAN-GPE or NSH header: 1 IPv4, 2 IPv6, 3 Ethernet, 4 NSH. */
  private gpePayload(b: Uint8Array, p: number, end: number, next: number, depth: number, nsh: number): void {
    switch (next) {
      case 1:
        return this.ipv4(b, p, end, depth);
      case 2:
        return this.ipv6(b, p, end, depth);
      case 3:
        return this.ethernet(b, p, end, depth);
      case 4: {
        // NSH (RFC 8300): length in 4-byte words in the low 6 bits of the second byte.
        if (nsh >= 4 || end - p < 8) return this.drop(R_TRUNC_TUNNEL);
        const len = (b[p + 1] & 0x3f) << 2;
        if (len < 8 || end - p < len) return this.drop(R_TRUNC_TUNNEL);
        return this.gpePayload(b, p + len, end, b[p + 3], depth, nsh + 1);
      }
      default:
        return this.skip(R_NOT_IP);
    }
  }

  /** GRE at `off..end`; false when not decapsulated (the packet stays a GRE flow). */
  private gre(b: Uint8Array, off: number, end: number, depth: number): boolean {
    if (end - off < 4) return false;
    const flags = (b[off] << 8) | b[off + 1];
    // Only version 0 carries the payloads below (1 is PPTP's enhanced GRE); source routing is obsolete.
    if ((flags & 7) !== 0 || (flags & 0x4000) !== 0) return false;
    const ptype = (b[off + 2] << 8) | b[off + 3];
    let p = off + 4;
    if (flags & 0x8000) p += 4;
    let key = 0;
    if (flags & 0x2000) {
      if (end - p < 4) return false;
      key = ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
      p += 4;
    }
    const hasSeq = (flags & 0x1000) !== 0;
    if (hasSeq) p += 4;
    if (p > end) return false;
    const o = this.out;
    switch (ptype) {
      case 0x6558:
        if (!this.enterTunnel(TunnelType.GRE_TEB, key, depth)) return false;
        this.ethernet(b, p, end, depth + 1);
        return true;
      case 0x0800:
      case 0x86dd:
        if (!this.enterTunnel(TunnelType.GRE, key, depth)) return false;
        if (ptype === 0x0800) this.ipv4(b, p, end, depth + 1);
        else this.ipv6(b, p, end, depth + 1);
        return true;
      case 0x88be: {
        // Type I has no sequence number and no ERSPAN header; type II has both.
        if (!hasSeq) {
          if (!this.enterTunnel(TunnelType.ERSPAN, 0, depth)) return false;
          o.erspanVersion = 0;
          this.ethernet(b, p, end, depth + 1);
          return true;
        }
        if (end - p < 8 || b[p] >> 4 !== 1) return false;
        if (!this.enterTunnel(TunnelType.ERSPAN, ((b[p + 2] << 8) | b[p + 3]) & 0x3ff, depth)) return false;
        o.erspanVersion = 1;
        this.ethernet(b, p + 8, end, depth + 1);
        return true;
      }
      case 0x22eb: {
        if (end - p < 12 || b[p] >> 4 !== 2) return false;
        const frameType = (b[p + 10] >> 2) & 0x1f;
        const hl = b[p + 11] & 1 ? 20 : 12;
        if (!this.enterTunnel(TunnelType.ERSPAN, ((b[p + 2] << 8) | b[p + 3]) & 0x3ff, depth)) return false;
        o.erspanVersion = 2;
        if (end - p < hl) {
          this.drop(R_TRUNC_TUNNEL);
          return true;
        }
        // Frame type 0 is Ethernet, 2 an IP packet.
        if (frameType === 2) this.ipByVersion(b, p + hl, end, depth + 1);
        else if (frameType === 0) this.ethernet(b, p + hl, end, depth + 1);
        else this.skip(R_NOT_IP);
        return true;
      }
      default:
        return false;
    }
  }

  /**
   * Adds the fragment `b[p..end)` at `fragOff`; returns the whole transport
   * payload when this completed the datagram, else null (status set).
   * `cut` says the capture cut this fragment short: its datagram can never complete.
   */
  private addFragment(key: string, fragOff: number, more: boolean, b: Uint8Array, p: number, end: number, cut: boolean, maxLen: number): Uint8Array | null {
    const fo = this.opts.fragments;
    const o = this.out;
    this.expireFragmentsAt(this.nowSec);
    const len = end - p;
    // Every fragment but the last carries a multiple of 8 bytes.
    if ((more && (len & 7) !== 0) || cut) {
      this.drop(cut ? R_TRUNC_IP : R_BAD_FRAGMENT);
      const d = this.frags.get(key);
      if (d) this.removeDatagram(key, d);
      return null;
    }
    if (fragOff + len > maxLen) {
      this.drop(R_FRAGMENT_TOO_BIG);
      const d = this.frags.get(key);
      if (d) this.removeDatagram(key, d);
      return null;
    }
    let d = this.frags.get(key);
    if (!d) {
      while (this.frags.size >= fo.maxDatagrams) this.evictOldest();
      d = { firstTs: this.nowSec, total: -1, bytes: 0, frags: [] };
      this.frags.set(key, d);
    }
    if (!more) {
      const total = fragOff + len;
      if (d.total >= 0 && d.total !== total) {
        this.counters.fragmentErrors++;
        this.removeDatagram(key, d);
        this.drop(R_BAD_FRAGMENT);
        return null;
      }
      d.total = total;
    }
    if (d.total >= 0 && fragOff + len > d.total) {
      this.counters.fragmentErrors++;
      this.removeDatagram(key, d);
      this.drop(R_BAD_FRAGMENT);
      return null;
    }
    if (d.frags.length >= fo.maxFragmentsPerDatagram) {
      this.counters.fragmentEvictions++;
      this.removeDatagram(key, d);
      o.status = DecodeStatus.HELD;
      return null;
    }
    // Copy (not Buffer#slice, which would be a view): the packet buffer is the caller's and is reused.
    const bytes = new Uint8Array(len);
    bytes.set(b.subarray(p, end));
    d.frags.push({ off: fragOff, bytes });
    d.bytes += len;
    this.fragBytes += len;
    while (this.fragBytes > fo.maxBytes && this.frags.size > 0) {
      const oldest = this.frags.keys().next().value as string;
      if (oldest === key && this.frags.size === 1) break;
      this.evictOldest();
    }
    if (!this.frags.has(key)) {
      o.status = DecodeStatus.HELD;
      return null;
    }
    if (d.total < 0 || !covers(d.frags, d.total)) {
      o.status = DecodeStatus.HELD;
      return null;
    }
    // Later fragments first, so where fragments overlap the first one's bytes win.
    const whole = new Uint8Array(d.total);
    for (let i = d.frags.length - 1; i >= 0; i--) whole.set(d.frags[i].bytes, d.frags[i].off);
    this.removeDatagram(key, d);
    this.counters.reassembled++;
    return whole;
  }

  private evictOldest(): void {
    const first = this.frags.entries().next();
    if (first.done) return;
    this.removeDatagram(first.value[0], first.value[1]);
    this.counters.fragmentEvictions++;
  }

  private removeDatagram(key: string, d: PendingDatagram): void {
    this.fragBytes -= d.bytes;
    this.frags.delete(key);
  }

  private v4String(a: number): string {
    const i = (Math.imul(a, 0x9e3779b1) >>> 16) & this.mask;
    if (this.v4Used[i] === 1 && this.v4Keys[i] === a) return this.v4Vals[i];
    this.counters.addressCacheMisses++;
    const s = `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
    this.v4Keys[i] = a;
    this.v4Used[i] = 1;
    this.v4Vals[i] = s;
    return s;
  }

  private v6String(b: Uint8Array, p: number): string {
    const w0 = ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
    const w1 = ((b[p + 4] << 24) | (b[p + 5] << 16) | (b[p + 6] << 8) | b[p + 7]) >>> 0;
    const w2 = ((b[p + 8] << 24) | (b[p + 9] << 16) | (b[p + 10] << 8) | b[p + 11]) >>> 0;
    const w3 = ((b[p + 12] << 24) | (b[p + 13] << 16) | (b[p + 14] << 8) | b[p + 15]) >>> 0;
    const h = Math.imul(w0 ^ Math.imul(w1, 0x85ebca6b) ^ Math.imul(w2, 0xc2b2ae35) ^ Math.imul(w3, 0x27d4eb2f), 0x9e3779b1);
    const i = (h >>> 16) & this.mask;
    const k = i << 2;
    const keys = this.v6Keys;
    if (this.v6Used[i] === 1 && keys[k] === w0 && keys[k + 1] === w1 && keys[k + 2] === w2 && keys[k + 3] === w3) return this.v6Vals[i];
    this.counters.addressCacheMisses++;
    const s = formatIpv6(b, p);
    keys[k] = w0;
    keys[k + 1] = w1;
    keys[k + 2] = w2;
    keys[k + 3] = w3;
    this.v6Used[i] = 1;
    this.v6Vals[i] = s;
    return s;
  }
}

/** Whether fragments cover [0, total) without a hole. */
function covers(frags: Fragment[], total: number): boolean {
  const sorted = frags.slice().sort((a, b) => a.off - b.off);
  let reach = 0;
  for (const f of sorted) {
    if (f.off > reach) return false;
    reach = Math.max(reach, f.off + f.bytes.length);
  }
  return reach >= total;
}

/** An IPv6 address in RFC 5952 text (IPv4-mapped addresses as `::ffff:a.b.c.d`, like tshark). */
export function formatIpv6(b: Uint8Array, p: number): string {
  const g: number[] = new Array<number>(8);
  for (let i = 0; i < 8; i++) g[i] = (b[p + 2 * i] << 8) | b[p + 2 * i + 1];
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${b[p + 12]}.${b[p + 13]}.${b[p + 14]}.${b[p + 15]}`;
  }
  // The longest run of two or more zero groups becomes '::' (the first one on a tie).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return g.map((x) => x.toString(16)).join(':');
  const head = g.slice(0, bestStart).map((x) => x.toString(16)).join(':');
  const tail = g.slice(bestStart + bestLen).map((x) => x.toString(16)).join(':');
  return `${head}::${tail}`;
}

/** An IPv4 address (unsigned 32-bit) in dotted text. */
export function formatIpv4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}
