/**
 * Stream assembly from socket events to spans, with events built exactly as
 * the BPF programs write them (bpf/index.ts encodeEvent) and the real
 * protocol parsers. No kernel needed.
 */
import { Direction, EventCursor, EventFlag, EventType, formatAddress, encodeEvent, packBatch, Role, Source, type EventFields } from '../../bpf/index';
import { SpanKind, StatusCode, type Span } from '../../pipeline/pdata';
import { spec as dnsSpec } from '../../protocols/dns';
import { spec as httpSpec } from '../../protocols/http1';
import { spec as redisSpec } from '../../protocols/redis';
import { DEFAULT_PARSER_OPTIONS, type ProtocolSpec } from '../../protocols/types';
import { ProcessTable, containerIdFromCgroup, type ProcessInfo } from './process';
import { inferRole, SocketStreams } from './streams';

const OFFSET = 1_700_000_000_000_000_000n;
const REQ = Buffer.from('GET /items/7?full=1 HTTP/1.1\r\nHost: shop\r\nX-Request-ID: abc\r\n\r\n');
const RESP = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');

function setup(opts: { specs?: ProtocolSpec[]; maxConnections?: number; idleTimeoutNs?: bigint } = {}) {
  const spans: Array<{ proc: ProcessInfo; span: Span }> = [];
  const malformed: string[] = [];
  const ignored: Array<[number, number]> = [];
  const streams = new SocketStreams(
    {
      specs: opts.specs ?? [httpSpec, redisSpec, dnsSpec],
      parser: { ...DEFAULT_PARSER_OPTIONS, requestTimeoutNs: 1_000_000_000n },
      maxConnections: opts.maxConnections ?? 100,
      idleTimeoutNs: opts.idleTimeoutNs ?? 60_000_000_000n,
      clockOffsetNs: OFFSET,
    },
    // A /proc without our test pids: the names come from the events.
    new ProcessTable(100, '/nonexistent'),
    { span: (proc, span) => spans.push({ proc, span }), malformed: (p) => malformed.push(p), ignore: (id, src) => ignored.push([id, src]) },
  );
  const cursor = new EventCursor();
  const feed = (...events: EventFields[]) => {
    cursor.reset(packBatch(events.map(encodeEvent)));
    while (cursor.next()) streams.handle(cursor);
  };
  return { streams, spans, malformed, ignored, feed };
}

/** A data event on socket 11 of pid 100 (127.0.0.1:40000 ↔ 127.0.0.1:8080 by default). */
function data(f: Partial<EventFields> & { dir: number; data: Uint8Array; t: bigint }): EventFields {
  return {
    type: EventType.DATA,
    tgid: 100,
    tid: 101,
    sockId: 11,
    fd: 7,
    comm: 'shop',
    laddr: '127.0.0.1',
    raddr: '127.0.0.1',
    lport: 40000,
    rport: 8080,
    role: Role.CLIENT,
    syscall: f.dir === Direction.EGRESS ? 2 : 1,
    tsEnter: f.t,
    tsExit: f.t + 1n,
    ...f,
  };
}

describe('socket stream assembly', () => {
  it('turns a client’s write and read into a CLIENT span with the kernel’s facts', () => {
    const { spans, feed } = setup();
    feed(
      data({ dir: Direction.EGRESS, data: REQ, t: 5_000n, traceId: 77, tcpSeq: 1000, tid: 101 }),
      data({ dir: Direction.INGRESS, data: RESP, t: 900_000n, traceId: 77, tcpSeq: 5000, tid: 102 }),
    );
    expect(spans).toHaveLength(1);
    const { proc, span } = spans[0];
    expect(proc.comm).toBe('shop');
    expect(proc.resource.attributes).toMatchObject({ 'service.name': 'shop', 'process.pid': 100 });
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(span.name).toBe('GET /items/{id}');
    // A write is timed at its start, a read at its end.
    expect(span.startTimeUnixNano).toBe(OFFSET + 5_000n);
    expect(span.endTimeUnixNano).toBe(OFFSET + 900_001n);
    expect(span.attributes).toMatchObject({
      'http.response.status_code': 200,
      'metaflow.signal_source': 'ebpf',
      'metaflow.x_request_id': 'abc',
      'metaflow.client.ip': '127.0.0.1',
      'metaflow.client.port': 40000,
      'metaflow.server.port': 8080,
      'metaflow.process.pid': 100,
      'metaflow.socket.id': 11,
      'metaflow.thread.id': 101,
      'metaflow.thread.id.response': 102,
      'metaflow.syscall.trace_id.request': 77,
      'metaflow.syscall.trace_id.response': 77,
      'metaflow.tcp.seq.request': 1000,
      'metaflow.tcp.seq.response': 5000,
    });
    expect(span.attributes['metaflow.tls']).toBeUndefined();
  });

  it('turns a server’s read and write into a SERVER span with the peer as client', () => {
    const { spans, feed } = setup();
    const srv = { role: Role.SERVER, lport: 8080, rport: 51000, laddr: '10.0.0.2', raddr: '10.0.0.9' };
    feed(data({ ...srv, dir: Direction.INGRESS, data: REQ, t: 10n }), data({ ...srv, dir: Direction.EGRESS, data: RESP, t: 500n }));
    expect(spans).toHaveLength(1);
    expect(spans[0].span.kind).toBe(SpanKind.SERVER);
    expect(spans[0].span.attributes).toMatchObject({ 'client.address': '10.0.0.9', 'client.port': 51000, 'metaflow.server.ip': '10.0.0.2', 'metaflow.server.port': 8080 });
  });

  it('names the local peer’s process when both sockets of a connection are traced (curl → nginx on one host)', () => {
    const { spans, feed } = setup();
    // The client (pid 100, 127.0.0.1:40000) and the server (pid 200, 127.0.0.1:8080) of one loopback connection.
    const srv = { tgid: 200, tid: 201, sockId: 22, comm: 'nginx', role: Role.SERVER, lport: 8080, rport: 40000 };
    feed(
      data({ dir: Direction.EGRESS, data: REQ, t: 10n }),
      data({ ...srv, dir: Direction.INGRESS, data: REQ, t: 20n }),
      data({ ...srv, dir: Direction.EGRESS, data: RESP, t: 30n }),
      data({ dir: Direction.INGRESS, data: RESP, t: 40n }),
    );
    const byKind = new Map(spans.map(({ span }) => [span.kind, span.attributes]));
    expect(byKind.get(SpanKind.SERVER)).toMatchObject({ 'metaflow.process.pid': 200, 'metaflow.client.process.pid': 100, 'metaflow.client.process.executable.name': 'shop' });
    expect(byKind.get(SpanKind.CLIENT)).toMatchObject({ 'metaflow.process.pid': 100, 'metaflow.server.process.pid': 200, 'metaflow.server.process.executable.name': 'nginx' });
    // The client exited before the server answered: still named.
    const late = setup();
    late.feed(
      data({ dir: Direction.EGRESS, data: REQ, t: 10n }),
      data({ ...srv, dir: Direction.INGRESS, data: REQ, t: 20n }),
      { ...data({ dir: Direction.EGRESS, data: new Uint8Array(0), t: 25n }), type: EventType.EXIT },
      data({ ...srv, dir: Direction.EGRESS, data: RESP, t: 30n }),
    );
    expect(late.spans.find((x) => x.span.kind === SpanKind.SERVER)?.span.attributes).toMatchObject({ 'metaflow.client.process.pid': 100, 'metaflow.client.process.executable.name': 'shop' });
    // A connection whose other end is not traced names no peer.
    const other = setup();
    other.feed(data({ dir: Direction.EGRESS, data: REQ, t: 10n }), data({ dir: Direction.INGRESS, data: RESP, t: 40n }));
    expect(other.spans[0].span.attributes['metaflow.server.process.pid']).toBeUndefined();
  });

  it('takes each message’s facts from its first chunk, across keep-alive requests', () => {
    const { spans, feed } = setup();
    const half = REQ.length >> 1;
    feed(
      data({ dir: Direction.EGRESS, data: REQ.subarray(0, half), t: 100n, tcpSeq: 1, traceId: 5 }),
      data({ dir: Direction.EGRESS, data: REQ.subarray(half), t: 200n, tcpSeq: 1 + half, traceId: 5 }),
      data({ dir: Direction.INGRESS, data: RESP, t: 300n, tcpSeq: 900 }),
      data({ dir: Direction.EGRESS, data: REQ, t: 400n, tcpSeq: 1 + REQ.length, traceId: 6 }),
      data({ dir: Direction.INGRESS, data: RESP, t: 500n, tcpSeq: 900 + RESP.length }),
    );
    expect(spans.map((s) => [s.span.attributes['metaflow.tcp.seq.request'], s.span.attributes['metaflow.tcp.seq.response'], s.span.attributes['metaflow.syscall.trace_id.request']])).toEqual([
      [1, 900, 5],
      [1 + REQ.length, 900 + RESP.length, 6],
    ]);
  });

  it('keeps the framing when only a prefix was captured or the body went by sendfile', () => {
    const { spans, feed } = setup();
    const head = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n');
    const body = Buffer.alloc(3000, 0x61);
    const full = Buffer.concat([head, body]);
    feed(
      data({ dir: Direction.EGRESS, data: REQ, t: 1n }),
      // 1024 of 3042 bytes captured.
      data({ dir: Direction.INGRESS, data: full.subarray(0, 1024), dataLen: full.length, t: 2n }),
      data({ dir: Direction.EGRESS, data: REQ, t: 3n }),
      data({ dir: Direction.INGRESS, data: RESP, t: 4n }),
    );
    expect(spans.map((s) => [s.span.attributes['http.response.status_code'], s.span.attributes['metaflow.response_length']])).toEqual([
      [200, 3000],
      [200, 5],
    ]);
    // A server sending the body with sendfile: the event has a length and no bytes.
    const srv = { role: Role.SERVER, sockId: 12, lport: 80, rport: 50000 };
    feed(
      data({ ...srv, dir: Direction.INGRESS, data: REQ, t: 10n }),
      data({ ...srv, dir: Direction.EGRESS, data: head, t: 11n }),
      data({ ...srv, dir: Direction.EGRESS, data: new Uint8Array(0), dataLen: 3000, syscall: 11, t: 12n }),
      data({ ...srv, dir: Direction.INGRESS, data: REQ, t: 13n }),
      data({ ...srv, dir: Direction.EGRESS, data: RESP, t: 14n }),
    );
    expect(spans.slice(2).map((s) => [s.span.kind, s.span.attributes['metaflow.response_length'], s.span.startTimeUnixNano - OFFSET])).toEqual([
      [SpanKind.SERVER, 3000, 11n],
      [SpanKind.SERVER, 5, 14n],
    ]);
  });

  it('keeps TLS plaintext apart from the socket’s own bytes and marks its spans', () => {
    const { spans, feed } = setup();
    const hello = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]);
    feed(
      data({ dir: Direction.EGRESS, data: hello, t: 1n }),
      data({ dir: Direction.EGRESS, data: REQ, t: 2n, source: Source.OPENSSL, flags: EventFlag.TLS, syscall: 12 }),
      data({ dir: Direction.INGRESS, data: RESP, t: 3n, source: Source.OPENSSL, flags: EventFlag.TLS, syscall: 13 }),
    );
    expect(spans).toHaveLength(1);
    expect(spans[0].span.attributes).toMatchObject({ 'metaflow.tls': true, 'http.request.method': 'GET' });
  });

  it('follows each peer of an unconnected UDP server socket and finds its role from the first datagram', () => {
    const { spans, feed } = setup();
    // A DNS query for shop.metaflow.test (A) and its answer 10.1.2.3.
    const name = Buffer.from([4, ...Buffer.from('shop'), 8, ...Buffer.from('metaflow'), 4, ...Buffer.from('test'), 0]);
    const query = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), name, Buffer.from([0, 1, 0, 1])]);
    const answer = Buffer.concat([
      Buffer.from([0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]),
      name,
      Buffer.from([0, 1, 0, 1]),
      Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3]),
    ]);
    const udp = { l4: 17, role: Role.UNKNOWN, sockId: 30, lport: 5353, rport: 0, flags: EventFlag.PEER_FROM_MSG };
    for (const [peerPort, t] of [
      [40001, 100n],
      [40002, 200n],
    ] as const) {
      feed(data({ ...udp, rport: peerPort, dir: Direction.INGRESS, data: query, t }), data({ ...udp, rport: peerPort, dir: Direction.EGRESS, data: answer, t: t + 10n }));
    }
    expect(spans.map((s) => [s.span.kind, s.span.name, s.span.attributes['client.port'], s.span.attributes['network.transport']])).toEqual([
      [SpanKind.SERVER, 'DNS A shop.metaflow.test', 40001, 'udp'],
      [SpanKind.SERVER, 'DNS A shop.metaflow.test', 40002, 'udp'],
    ]);
  });

  it('tells the kernel to stop sending a socket no protocol recognises, once', () => {
    const { streams, ignored, spans, feed } = setup();
    const junk = Buffer.alloc(600, 0x07);
    for (let i = 0; i < 20; i++) feed(data({ sockId: 77, dir: i % 2, data: junk, t: BigInt(i * 10) }));
    expect(ignored).toEqual([[77, Source.SYSCALL]]);
    expect(streams.counters.ignored).toBe(1);
    expect(spans).toEqual([]);
  });

  it('emits an unanswered request as a timeout when its socket closes', () => {
    const { spans, feed } = setup();
    feed(data({ dir: Direction.EGRESS, data: REQ, t: 1n }), { type: EventType.CLOSE, tgid: 100, sockId: 11, tsEnter: 50n });
    expect(spans).toHaveLength(1);
    expect(spans[0].span.attributes['metaflow.response_status']).toBe('timeout');
    expect(spans[0].span.status.code).toBe(StatusCode.ERROR);
  });

  it('bounds the connections it tracks, closes idle ones and those of exited processes', () => {
    const { streams, feed } = setup({ maxConnections: 16, idleTimeoutNs: 1_000n });
    for (let i = 0; i < 20; i++) feed(data({ sockId: 1000 + i, dir: Direction.EGRESS, data: REQ, t: BigInt(i) }));
    expect(streams.activeConnections).toBe(16);
    expect(streams.counters.evicted).toBe(4);
    feed(data({ sockId: 5000, tgid: 200, dir: Direction.EGRESS, data: REQ, t: 5_000n }), { type: EventType.EXIT, tgid: 200 });
    expect(streams.counters.evicted).toBe(5);
    // Long after their last events: the 15 left of the first 20 are idle; the
    // exited process's connection closes as such.
    streams.housekeeping(10_000n);
    expect(streams.activeConnections).toBe(0);
    expect(streams.counters.idleClosed).toBe(15);
  });

  it('infers the role of a socket seen mid-connection from which reading the protocols recognise', () => {
    const ping = Buffer.from('*1\r\n$4\r\nPING\r\n');
    const pong = Buffer.from('+PONG\r\n');
    expect(inferRole([redisSpec], ping, true, 50000, 50001)).toBe(Role.CLIENT);
    expect(inferRole([redisSpec], ping, false, 50000, 50001)).toBe(Role.SERVER);
    expect(inferRole([redisSpec], pong, true, 50000, 50001)).toBe(Role.SERVER);
    // Nothing recognised: the lower port is the server's.
    expect(inferRole([redisSpec], Buffer.from('??'), true, 443, 50001)).toBe(Role.SERVER);
    expect(inferRole([redisSpec], Buffer.from('??'), true, 50001, 443)).toBe(Role.CLIENT);
  });
});

describe('event decoding', () => {
  it('formats IPv4, IPv6 and IPv4-mapped addresses', () => {
    expect(formatAddress(Uint8Array.from([10, 0, 0, 1]), 0, 2)).toBe('10.0.0.1');
    expect(formatAddress(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), 0, 10)).toBe('::1');
    expect(formatAddress(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 2]), 0, 10)).toBe('192.168.1.2');
    expect(formatAddress(Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), 0, 10)).toBe('2001:db8::1');
  });

  it('walks a batch and reads every field where the BPF programs put it', () => {
    const e = encodeEvent({ type: EventType.DATA, tgid: 4242, tid: 4243, fd: 9, sockId: 2 ** 41 + 3, traceId: 2 ** 45 + 1, tcpSeq: 0xfffffff0, dataLen: 3000, lport: 443, rport: 51000, dir: 1, source: 1, role: 2, l4: 6, syscall: 13, flags: 2, tsEnter: 123n, tsExit: 456n, cgroupId: 99n, comm: 'nginx', laddr: '127.0.0.1', raddr: '10.9.8.7', data: Buffer.from('abc') });
    const c = new EventCursor().reset(packBatch([e, encodeEvent({ type: EventType.EXIT, tgid: 1 })]));
    expect(c.next()).toBe(true);
    expect([c.type, c.tgid, c.tid, c.fd, c.sockId, c.traceId, c.tcpSeq, c.dataLen, c.capLen, c.lport, c.rport, c.dir, c.source, c.role, c.l4, c.syscall, c.flags]).toEqual([
      1, 4242, 4243, 9, 2 ** 41 + 3, 2 ** 45 + 1, 0xfffffff0, 3000, 3, 443, 51000, 1, 1, 2, 6, 13, 2,
    ]);
    expect([c.tsEnter, c.tsExit, c.cgroupId, c.comm(), c.localAddress(), c.remoteAddress(), c.data().toString()]).toEqual([123n, 456n, 99n, 'nginx', '127.0.0.1', '10.9.8.7', 'abc']);
    expect(c.next()).toBe(true);
    expect(c.type).toBe(EventType.EXIT);
    expect(c.next()).toBe(false);
  });
});

describe('process details', () => {
  it('finds container ids in docker, containerd and CRI-O cgroup paths', () => {
    const id = 'a'.repeat(40) + '0123456789abcdef01234567';
    expect(containerIdFromCgroup(`0::/system.slice/docker-${id}.scope\n`)).toBe(id);
    expect(containerIdFromCgroup(`12:memory:/kubepods/burstable/pod1/${id}\n`)).toBe(id);
    expect(containerIdFromCgroup(`0::/kubepods.slice/cri-containerd-${id}.scope`)).toBe(id);
    expect(containerIdFromCgroup('0::/user.slice/user-0.slice/session-1.scope\n')).toBe('');
  });

  it('reads a live process from /proc and keeps the exec path of one that is gone', () => {
    const t = new ProcessTable(10);
    const me = t.get(process.pid, 'x');
    expect(me.executable).toBe(process.execPath);
    expect(me.resource.attributes['process.executable.path']).toBe(process.execPath);
    t.exec(999_999_999, '/usr/bin/curl');
    expect(t.get(999_999_999, 'curl').executable).toBe('/usr/bin/curl');
  });
});
