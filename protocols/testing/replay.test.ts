/**
 * The replay harness with toy protocol specs: a line protocol on captures of
 * real loopback TCP and UDP traffic, and a minimal HTTP/1 start-line matcher
 * on flow_generator/http.pcap.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { captureAvailable, captureLoopback } from '../../test/helpers/capture';
import { freePort } from '../../test/helpers/ports';
import type { ConnectionParser, Dir, FeedFlags, L7Session, ParserContext, ProtocolSpec } from '../types';
import { newSession } from '../types';
import { replayPcap, replayPcapDetailed } from './replay';
import { buildPacket, writePcap } from './pcap-writer';
import { conformancePath } from './conformance';

const FLOWS = conformancePath('deepflow/flow_generator');
const text = new TextDecoder();

interface Seen {
  dir: Dir;
  text: string;
  flags: FeedFlags;
}

/**
 * "PING n\n" answered by "PONG n\n": requests and responses paired in order;
 * every chunk is also recorded so tests can check what the harness fed.
 */
function lineSpec(transport: 'tcp' | 'udp', log: Seen[] = []): ProtocolSpec {
  return {
    name: 'LINE',
    transport,
    ports: [],
    infer: (data: Uint8Array, dir: Dir) => (dir === 0 && text.decode(data.subarray(0, 5)) === 'PING ' ? 2 : 0),
    create(ctx: ParserContext): ConnectionParser {
      const buf: [string, string] = ['', ''];
      const pending: L7Session[] = [];
      const onLine = (dir: Dir, line: string, t: bigint) => {
        if (dir === 0) {
          if (!line.startsWith('PING ')) return ctx.malformed('line: not a PING');
          const s = newSession('LINE', t);
          s.request_type = 'PING';
          s.request_resource = line.slice(5);
          s.captured_request_bytes = line.length + 1;
          pending.push(s);
          if (pending.length > ctx.options.maxPendingRequests) ctx.emit(pending.shift() as L7Session);
        } else {
          const s = pending.shift();
          if (!s) return ctx.malformed('line: response without request');
          s.response_result = line;
          s.response_status = 'ok';
          s.captured_response_bytes = line.length + 1;
          s.end_time = t;
          s.duration_ns = t - s.start_time;
          ctx.emit(s);
        }
      };
      return {
        feed(dir, data, t, flags) {
          log.push({ dir, text: text.decode(data), flags });
          if (flags.gap) buf[dir] = '';
          buf[dir] += text.decode(data);
          let nl: number;
          while ((nl = buf[dir].indexOf('\n')) >= 0) {
            onLine(dir, buf[dir].slice(0, nl), t);
            buf[dir] = buf[dir].slice(nl + 1);
          }
        },
        expire() {},
        close() {
          for (const s of pending.splice(0)) {
            s.response_status = 'timeout';
            ctx.emit(s);
          }
        },
      };
    },
  };
}

/** An HTTP/1 start-line matcher: enough to check the harness, not an HTTP parser. */
const httpSpec: ProtocolSpec = {
  name: 'HTTP',
  transport: 'tcp',
  ports: [80],
  infer(data, dir) {
    const s = text.decode(data.subarray(0, 8));
    if (dir === 0 && /^(GET|POST|PUT|HEAD|DELETE) /.test(s)) return 2;
    if (dir === 1 && s.startsWith('HTTP/1.')) return 2;
    return 0;
  },
  create(ctx) {
    let req: L7Session | undefined;
    let res: L7Session | undefined;
    const finish = () => {
      if (res) ctx.emit(res);
      res = undefined;
    };
    return {
      feed(dir, data, t) {
        const s = text.decode(data);
        if (dir === 0) {
          const m = /^([A-Z]+) (\S+) HTTP\/(1\.[01])\r\n/.exec(s);
          if (!m) {
            if (req) req.captured_request_bytes += data.length;
            return;
          }
          finish();
          req = newSession('HTTP', t);
          req.request_type = m[1];
          req.request_resource = m[2];
          req.version = m[3];
          req.captured_request_bytes = data.length;
          const host = /\r\nHost: ([^\r]+)/i.exec(s);
          if (host) req.request_domain = host[1];
        } else {
          const m = /^HTTP\/1\.[01] (\d{3})/.exec(s);
          if (m && req) {
            finish();
            res = req;
            req = undefined;
            res.response_code = Number(m[1]);
            res.response_status = res.response_code < 400 ? 'ok' : res.response_code < 500 ? 'client_error' : 'server_error';
            const len = /\r\nContent-Length: (\d+)/i.exec(s);
            if (len) res.response_length = Number(len[1]);
          }
          if (res) {
            if (!m) res.captured_response_bytes += data.length;
            else res.captured_response_bytes = data.length;
            res.end_time = t;
            res.duration_ns = t - res.start_time;
          } else ctx.malformed('http: response without request');
        }
      },
      expire() {},
      close() {
        finish();
        if (req) {
          req.response_status = 'timeout';
          ctx.emit(req);
        }
      },
    };
  },
};

describe('replayPcap on flow_generator/http.pcap', () => {
  it('finds the one GET with its 200 response, client and server from the handshake', () => {
    const r = replayPcap(path.join(FLOWS, 'http.pcap'), [httpSpec]);
    expect(r.packets).toBe(13);
    expect(r.malformed).toEqual({});
    expect(r.sessions).toHaveLength(1);
    const s = r.sessions[0];
    expect({
      transport: s.transport,
      client: `${s.client_ip}:${s.client_port}`,
      server: `${s.server_ip}:${s.server_port}`,
      method: s.request_type,
      path: s.request_resource,
      code: s.response_code,
      req: s.captured_request_bytes,
      resp: s.captured_response_bytes,
    }).toEqual({
      transport: 'tcp',
      client: '10.1.6.93:43230',
      server: '10.1.6.92:80',
      method: 'GET',
      path: '/',
      code: 200,
      // frame 4 carries 73 payload bytes; frames 6 and 7 carry 4344 + 729.
      req: 73,
      resp: 5073,
    });
    // Request at frame 4 (0.000430 s), last response byte at frame 7 (0.000622 s).
    expect(s.duration_ns).toBe(192_000n);
    // tshark: http.content_length 4833.
    expect(s.response_length).toBe(4833);
  });
});

describe('replayPcap on loopback captures', () => {
  const itCapture = captureAvailable() ? it : it.skip;

  itCapture('TCP: pairs pipelined PINGs with PONGs, direction from the handshake, chunks in order', async () => {
    const port = await freePort();
    const server = net.createServer((sock) => {
      let acc = '';
      sock.on('data', (d) => {
        acc += d.toString();
        let nl: number;
        while ((nl = acc.indexOf('\n')) >= 0) {
          sock.write(`PONG ${acc.slice(5, nl)}\n`);
          acc = acc.slice(nl + 1);
        }
      });
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    const cap = await captureLoopback(`tcp port ${port}`);
    let clientPort = 0;
    try {
      await new Promise<void>((resolve, reject) => {
        const c = net.connect(port, '127.0.0.1', async () => {
          clientPort = c.localPort as number;
          c.setNoDelay(true);
          let got = '';
          c.on('data', (d) => {
            got += d.toString();
            if (got.split('\n').length > 5) c.end();
          });
          c.on('close', () => resolve());
          // Two pipelined in one write, one split across writes, then two more.
          c.write('PING 1\nPING 2\n');
          await new Promise((r) => setTimeout(r, 30));
          c.write('PING ');
          await new Promise((r) => setTimeout(r, 30));
          c.write('3\n');
          await new Promise((r) => setTimeout(r, 30));
          c.write('PING 4\n');
          await new Promise((r) => setTimeout(r, 30));
          c.write('PING 5\n');
        });
        c.on('error', reject);
      });
    } finally {
      await cap.stop();
      await new Promise((r) => server.close(r));
    }
    const log: Seen[] = [];
    const r = replayPcap(cap.file, [lineSpec('tcp', log)]);
    fs.rmSync(path.dirname(cap.file), { recursive: true, force: true });
    expect(r.malformed).toEqual({});
    expect(r.sessions.map((s) => [s.request_resource, s.response_result, s.response_status])).toEqual([
      ['1', 'PONG 1', 'ok'],
      ['2', 'PONG 2', 'ok'],
      ['3', 'PONG 3', 'ok'],
      ['4', 'PONG 4', 'ok'],
      ['5', 'PONG 5', 'ok'],
    ]);
    for (const s of r.sessions) {
      expect([s.transport, s.client_ip, s.client_port, s.server_ip, s.server_port]).toEqual(['tcp', '127.0.0.1', clientPort, '127.0.0.1', port]);
      expect(s.end_time).toBeGreaterThan(s.start_time);
    }
    // The request bytes arrive in order and whole, never flagged as gaps.
    expect(log.filter((l) => l.dir === 0).map((l) => l.text).join('')).toBe('PING 1\nPING 2\nPING 3\nPING 4\nPING 5\n');
    expect(log.some((l) => l.flags.gap || l.flags.datagram)).toBe(false);
    expect(r.packets).toBeGreaterThanOrEqual(10);
  });

  itCapture('UDP: each datagram is one chunk with datagram set; client is the first sender', async () => {
    const port = await freePort();
    const server = dgram.createSocket('udp4');
    server.on('message', (m, rinfo) => server.send(`PONG ${m.toString().slice(5)}`, rinfo.port, rinfo.address));
    await new Promise<void>((r) => server.bind(port, '127.0.0.1', r));
    const cap = await captureLoopback(`udp port ${port}`);
    const client = dgram.createSocket('udp4');
    let clientPort = 0;
    try {
      await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
      clientPort = client.address().port;
      for (const n of [1, 2, 3]) {
        await new Promise<void>((resolve) => {
          client.once('message', () => resolve());
          client.send(`PING ${n}\n`, port, '127.0.0.1');
        });
      }
    } finally {
      await cap.stop();
      client.close();
      server.close();
    }
    const log: Seen[] = [];
    const r = replayPcap(cap.file, [lineSpec('udp', log)]);
    fs.rmSync(path.dirname(cap.file), { recursive: true, force: true });
    expect(r.packets).toBe(6);
    expect(log.map((l) => [l.dir, l.flags.datagram])).toEqual([
      [0, true],
      [1, true],
      [0, true],
      [1, true],
      [0, true],
      [1, true],
    ]);
    expect(r.sessions.map((s) => [s.transport, s.client_port, s.server_port, s.request_resource])).toEqual([
      ['udp', clientPort, port, '1'],
      ['udp', clientPort, port, '2'],
      ['udp', clientPort, port, '3'],
    ]);
    expect(r.sessions.map((s) => [s.response_status, s.response_result])).toEqual([
      ['ok', 'PONG 1'],
      ['ok', 'PONG 2'],
      ['ok', 'PONG 3'],
    ]);
  });
});

describe('replayPcap on built captures', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-replay-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const tcp = (src: string, dst: string, sport: number, dport: number, seq: number, ack: number, flags: string, payload = '') =>
    buildPacket({ src, dst, sport, dport, protocol: 'tcp', seq, ack, flags, payload: Buffer.from(payload) });

  it('without a handshake, the first packet’s destination port decides the server (README rule)', () => {
    const file = path.join(tmp, 'nohandshake.pcap');
    // The capture starts with a response (server 10.0.0.2:7000 → client), then a request.
    writePcap(file, [
      { tsNs: 1_000_000_000n, data: tcp('10.0.0.1', '10.0.0.2', 40000, 7000, 100, 500, 'PA', 'PING 1\n') },
      { tsNs: 1_001_000_000n, data: tcp('10.0.0.2', '10.0.0.1', 7000, 40000, 500, 107, 'PA', 'PONG 1\n') },
      // A second connection whose first packet is server → client: port 7000 still marks the server.
      { tsNs: 1_002_000_000n, data: tcp('10.0.0.2', '10.0.0.3', 7000, 40001, 900, 300, 'PA', 'PONG x\n') },
      { tsNs: 1_003_000_000n, data: tcp('10.0.0.3', '10.0.0.2', 40001, 7000, 300, 907, 'PA', 'PING 2\n') },
      { tsNs: 1_004_000_000n, data: tcp('10.0.0.2', '10.0.0.3', 7000, 40001, 907, 307, 'PA', 'PONG 2\n') },
    ]);
    const r = replayPcapDetailed(file, [lineSpec('tcp')]);
    expect(r.connections).toBe(2);
    expect(r.malformed).toEqual({ 'line: response without request': 1 });
    expect(r.sessions.map((s) => [s.client_ip, s.client_port, s.server_port, s.request_resource, s.response_result])).toEqual([
      ['10.0.0.1', 40000, 7000, '1', 'PONG 1'],
      ['10.0.0.3', 40001, 7000, '2', 'PONG 2'],
    ]);
  });

  it('reassembles out-of-order segments and marks a hole that is never filled as a gap', () => {
    const file = path.join(tmp, 'ooo.pcap');
    const c = '10.0.0.1';
    const s = '10.0.0.2';
    writePcap(file, [
      { tsNs: 1n, data: tcp(c, s, 40000, 7000, 99, 0, 'S') },
      { tsNs: 2n, data: tcp(s, c, 7000, 40000, 499, 100, 'SA') },
      { tsNs: 3n, data: tcp(c, s, 40000, 7000, 100, 500, 'A') },
      // "PING 2\n" arrives before "PING 1\n".
      { tsNs: 4n, data: tcp(c, s, 40000, 7000, 107, 500, 'PA', 'PING 2\n') },
      { tsNs: 5n, data: tcp(c, s, 40000, 7000, 100, 500, 'PA', 'PING 1\n') },
      { tsNs: 6n, data: tcp(s, c, 7000, 40000, 500, 114, 'PA', 'PONG 1\nPONG 2\n') },
      // 7 bytes at 114 never captured; the server acks them, so the hole is given up.
      { tsNs: 7n, data: tcp(c, s, 40000, 7000, 121, 514, 'PA', 'PING 4\n') },
      { tsNs: 8n, data: tcp(s, c, 7000, 40000, 514, 128, 'PA', 'PONG 3\nPONG 4\n') },
    ]);
    const log: Seen[] = [];
    const r = replayPcapDetailed(file, [lineSpec('tcp', log)]);
    expect(log.filter((l) => l.dir === 0).map((l) => [l.text, !!l.flags.gap])).toEqual([
      ['PING 1\n', false],
      ['PING 2\n', false],
      ['PING 4\n', true],
    ]);
    expect(r.reassembly.gaps).toBe(1);
    expect(r.reassembly.gapBytes).toBe(7);
    expect(r.sessions.map((x) => [x.request_resource, x.response_result])).toEqual([
      ['1', 'PONG 1'],
      ['2', 'PONG 2'],
      ['4', 'PONG 3'],
    ]);
  });

  it('a new SYN after FIN on the same 5-tuple starts a new connection (port reuse)', () => {
    const file = path.join(tmp, 'reuse.pcap');
    const c = '10.0.0.1';
    const s = '10.0.0.2';
    writePcap(file, [
      { tsNs: 1000n, data: tcp(c, s, 40000, 7000, 99, 0, 'S') },
      { tsNs: 2000n, data: tcp(s, c, 7000, 40000, 499, 100, 'SA') },
      { tsNs: 3000n, data: tcp(c, s, 40000, 7000, 100, 500, 'PA', 'PING 1\n') },
      { tsNs: 4000n, data: tcp(s, c, 7000, 40000, 500, 107, 'PA', 'PONG 1\n') },
      { tsNs: 5000n, data: tcp(c, s, 40000, 7000, 107, 507, 'FA') },
      { tsNs: 6000n, data: tcp(s, c, 7000, 40000, 507, 108, 'FA') },
      { tsNs: 10000n, data: tcp(c, s, 40000, 7000, 9999, 0, 'S') },
      { tsNs: 11000n, data: tcp(s, c, 7000, 40000, 7777, 10000, 'SA') },
      { tsNs: 12000n, data: tcp(c, s, 40000, 7000, 10000, 7778, 'PA', 'PING 2\n') },
      { tsNs: 13000n, data: tcp(s, c, 7000, 40000, 7778, 10007, 'PA', 'PONG 2\n') },
    ]);
    const r = replayPcapDetailed(file, [lineSpec('tcp')]);
    expect(r.connections).toBe(2);
    expect(r.sessions.map((x) => [x.request_resource, x.response_result, x.start_time])).toEqual([
      ['1', 'PONG 1', 3000n],
      ['2', 'PONG 2', 12000n],
    ]);
  });
});
