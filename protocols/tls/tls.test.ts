/**
 * TLS parser on hand-built records: ClientHello (SNI, ALPN, offered
 * versions with GREASE, cipher count), ServerHello (TLS 1.2 and 1.3 via
 * supported_versions, cipher, ALPN), HelloRetryRequest, Certificate (a
 * real certificate made by openssl), alerts from either side, timeouts,
 * messages spanning records, chunking, the buffer bound, inference, fuzz.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { L7Session } from '../types';
import { DEFAULT_PARSER_OPTIONS } from '../types';
import { concat, fuzz, runParser, split } from '../testing/testkit';
import type { Step } from '../testing/testkit';
import { alertName, cipherName, isGrease, versionName } from './names';
import { spec } from './index';

const u8 = (...b: number[]) => Uint8Array.from(b);
const u16 = (v: number) => u8(v >> 8, v & 0xff);
const u24 = (v: number) => u8(v >> 16, (v >> 8) & 0xff, v & 0xff);
const enc = (s: string) => new Uint8Array(Buffer.from(s));

const record = (type: number, payload: Uint8Array, version = 0x0303) => concat(u8(type), u16(version), u16(payload.length), payload);
const hs = (type: number, body: Uint8Array) => concat(u8(type), u24(body.length), body);
const ext = (type: number, data: Uint8Array) => concat(u16(type), u16(data.length), data);
const alpn = (...names: string[]) => {
  const list = concat(...names.map((n) => concat(u8(n.length), enc(n))));
  return concat(u16(list.length), list);
};

function clientHello(sni: string, opts: { alpn?: string[]; versions?: number[]; ciphers?: number[] } = {}): Uint8Array {
  const ciphers = opts.ciphers ?? [0x1a1a, 0x1301, 0x1302, 0xc02f, 0xc030];
  const exts: Uint8Array[] = [ext(0x0a0a, new Uint8Array(0))];
  const name = enc(sni);
  exts.push(ext(0, concat(u16(name.length + 3), u8(0), u16(name.length), name)));
  if (opts.alpn) exts.push(ext(16, alpn(...opts.alpn)));
  if (opts.versions) exts.push(ext(43, concat(u8(opts.versions.length * 2), ...opts.versions.map(u16))));
  const extBytes = concat(...exts);
  const body = concat(u16(0x0303), new Uint8Array(32).fill(1), u8(32), new Uint8Array(32).fill(2), u16(ciphers.length * 2), ...ciphers.map(u16), u8(1, 0), u16(extBytes.length), extBytes);
  return hs(1, body);
}

const HRR = Uint8Array.from(Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex'));

function serverHello(cipher: number, opts: { version13?: boolean; alpn?: string; hrr?: boolean } = {}): Uint8Array {
  const exts: Uint8Array[] = [];
  if (opts.version13) exts.push(ext(43, u16(0x0304)));
  if (opts.alpn) exts.push(ext(16, alpn(opts.alpn)));
  const extBytes = concat(...exts);
  const random = opts.hrr ? HRR : new Uint8Array(32).fill(3);
  return hs(2, concat(u16(0x0303), random, u8(32), new Uint8Array(32).fill(2), u16(cipher), u8(0), u16(extBytes.length), extBytes));
}

let certDer: Uint8Array;
beforeAll(() => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/O=MetaFlow/CN=shop.example', '-days', '30', '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem')], { stdio: 'ignore' });
    certDer = new Uint8Array(execFileSync('openssl', ['x509', '-in', path.join(dir, 'c.pem'), '-outform', 'DER']));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const certificateMsg = () => hs(11, concat(u24(certDer.length + 3), u24(certDer.length), certDer));
const one = (steps: Step[], opts = {}): L7Session => {
  const { sessions, malformed } = runParser(spec, steps, opts);
  expect(malformed).toEqual([]);
  expect(sessions).toHaveLength(1);
  return sessions[0];
};

describe('TLS parser', () => {
  test('TLS 1.2: SNI, ALPN offered and chosen, cipher, certificate CN and expiry; emitted when the client moves on', () => {
    const ch = record(22, clientHello('shop.example', { alpn: ['h2', 'http/1.1'] }), 0x0301);
    // The server flight: ServerHello + Certificate in one record, the rest in another; the certificate spans both.
    const flight = concat(serverHello(0xc02f, { alpn: 'h2' }), certificateMsg(), hs(12, new Uint8Array(100)), hs(14, new Uint8Array(0)));
    const cut = 200;
    const r1 = record(22, flight.subarray(0, cut));
    const r2 = record(22, flight.subarray(cut));
    const s = one([
      { dir: 0, data: ch, time: 1_000n },
      { dir: 1, data: concat(r1, r2), time: 5_000n },
      { dir: 0, data: concat(record(22, hs(16, new Uint8Array(66))), record(20, u8(1)), record(22, new Uint8Array(40))), time: 6_000n },
      { dir: 0, data: record(23, new Uint8Array(100)), time: 7_000n },
    ]);
    expect(s).toMatchObject({
      l7_protocol: 'TLS',
      request_type: 'ClientHello',
      request_domain: 'shop.example',
      request_resource: 'shop.example',
      version: 'TLS 1.2',
      response_status: 'ok',
      response_code: null,
      response_result: 'ServerHello,Certificate,ServerKeyExchange,ServerHelloDone',
      start_time: 1_000n,
      end_time: 5_000n,
      duration_ns: 4_000n,
      response_length: r1.length + r2.length,
      captured_response_bytes: r1.length + r2.length,
    });
    expect(s.attributes).toMatchObject({
      'tls.alpn.offered': 'h2,http/1.1',
      'tls.alpn': 'h2',
      'tls.client.versions': 'TLS 1.2',
      'tls.client.cipher_count': '5',
      'tls.cipher': 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
      'tls.cipher_id': '0xc02f',
      'tls.server.subject_cn': 'shop.example',
    });
    expect(s.attributes['tls.server.not_after']).toMatch(/^20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // The client's Finished and everything after are not part of the session.
    expect(s.request_length).toBe(ch.length);
  });

  test('TLS 1.3: the version comes from supported_versions; GREASE is not an offer; encrypted records end the session', () => {
    const s = one([
      { dir: 0, data: record(22, clientHello('api.example', { versions: [0x7a7a, 0x0304, 0x0303], alpn: ['h2'] }), 0x0301) },
      { dir: 1, data: concat(record(22, serverHello(0x1302, { version13: true })), record(20, u8(1)), record(23, new Uint8Array(500))) },
      { dir: 0, data: concat(record(20, u8(1)), record(23, new Uint8Array(60))) },
    ]);
    expect(s).toMatchObject({ version: 'TLS 1.3', response_status: 'ok', request_domain: 'api.example', response_result: 'ServerHello' });
    expect(s.attributes).toMatchObject({ 'tls.client.versions': 'TLS 1.3,TLS 1.2', 'tls.cipher': 'TLS_AES_256_GCM_SHA384' });
    expect(s.attributes['tls.alpn']).toBeUndefined(); // encrypted in TLS 1.3
  });

  test('HelloRetryRequest: one session across both ClientHellos (and the compatibility ChangeCipherSpec)', () => {
    const s = one([
      { dir: 0, data: record(22, clientHello('retry.example', { versions: [0x0304] })) },
      { dir: 1, data: record(22, serverHello(0x1301, { version13: true, hrr: true })) },
      { dir: 0, data: concat(record(20, u8(1)), record(22, clientHello('retry.example', { versions: [0x0304] }))) },
      { dir: 1, data: concat(record(22, serverHello(0x1301, { version13: true })), record(23, new Uint8Array(50))) },
    ]);
    expect(s).toMatchObject({ request_domain: 'retry.example', version: 'TLS 1.3', response_status: 'ok' });
    expect(s.attributes['tls.hello_retry']).toBe('true');
  });

  test('alerts: a server refusing the version is a server error; a client rejecting the certificate a client error', () => {
    const refused = one([
      { dir: 0, data: record(22, clientHello('old.example', {}), 0x0301), time: 10n },
      { dir: 1, data: record(21, u8(2, 70), 0x0301), time: 30n },
    ]);
    expect(refused).toMatchObject({ response_status: 'server_error', response_code: 70, response_exception: 'protocol_version', duration_ns: 20n });
    expect(refused.attributes['tls.alert.level']).toBe('fatal');
    const rejected = one([
      { dir: 0, data: record(22, clientHello('bad.example')) },
      { dir: 1, data: record(22, concat(serverHello(0xc02f), certificateMsg(), hs(14, new Uint8Array(0)))) },
      { dir: 0, data: record(21, u8(2, 48)) },
    ]);
    expect(rejected).toMatchObject({ response_status: 'client_error', response_code: 48, response_exception: 'unknown_ca', response_result: 'ServerHello,Certificate,ServerHelloDone' });
  });

  test('an alert outside a handshake is a session of its own; a plaintext close_notify is not', () => {
    const { sessions } = runParser(spec, [
      { dir: 1, data: record(21, u8(1, 0)) },
      { dir: 1, data: record(21, u8(2, 80)) },
    ]);
    expect(sessions.map((s) => [s.request_type, s.response_code, s.response_status])).toEqual([['Alert', 80, 'server_error']]);
  });

  test('a ClientHello without answer times out (expire, and at close)', () => {
    const sessions: L7Session[] = [];
    const p = spec.create({ options: { ...DEFAULT_PARSER_OPTIONS, requestTimeoutNs: 100n }, emit: (s) => sessions.push(s), malformed: () => undefined });
    p.feed(0, record(22, clientHello('slow.example')), 10n, {});
    p.expire(50n);
    expect(sessions).toHaveLength(0);
    p.expire(200n);
    p.feed(0, record(22, clientHello('again.example')), 300n, {});
    p.close(310n);
    expect(sessions.map((s) => [s.request_domain, s.response_status])).toEqual([
      ['slow.example', 'timeout'],
      ['again.example', 'timeout'],
    ]);
  });

  test('split at every boundary; a certificate larger than the buffer bound is read from its start', () => {
    const ch = record(22, clientHello('split.example', { alpn: ['h2'] }));
    for (let cut = 1; cut < ch.length; cut += 3) {
      const s = one([...split(0, ch, cut), { dir: 1, data: record(22, serverHello(0x1301, { version13: true })) }]);
      expect([s.request_domain, s.version]).toEqual(['split.example', 'TLS 1.3']);
    }
    // A 6 KB certificate chain (the real certificate first, padding after) with a 2 KB bound.
    const chain = concat(u24(certDer.length + 3 + 6000 + 3), u24(certDer.length), certDer, u24(6000), new Uint8Array(6000));
    const flight = concat(serverHello(0xc030), hs(11, chain), hs(14, new Uint8Array(0)));
    const s = one(
      [
        { dir: 0, data: ch },
        { dir: 1, data: record(22, flight.subarray(0, 4000)) },
        { dir: 1, data: record(22, flight.subarray(4000)) },
        { dir: 0, data: record(20, u8(1)) },
      ],
      { maxBufferBytes: 2048 },
    );
    expect(s.attributes['tls.server.subject_cn']).toBe('shop.example');
    expect(s.response_result).toBe('ServerHello,Certificate,ServerHelloDone');
  });

  test('application data is never buffered: a 16 KB record split over segments costs its header only', () => {
    const big = record(23, new Uint8Array(16000));
    const steps: Step[] = [
      { dir: 0, data: record(22, clientHello('a.example')) },
      { dir: 1, data: record(22, serverHello(0xc02f)) },
      { dir: 0, data: record(20, u8(1)) },
    ];
    for (let o = 0; o < big.length; o += 1400) steps.push({ dir: 1, data: big.subarray(o, o + 1400) });
    const { sessions, malformed } = runParser(spec, steps, { maxBufferBytes: 1024 });
    expect(malformed).toEqual([]);
    expect(sessions).toHaveLength(1);
  });

  test('names and inference', () => {
    expect([versionName(0x0304), versionName(0x0300), versionName(0x7f1c)]).toEqual(['TLS 1.3', 'SSL 3.0', '0x7f1c']);
    expect([cipherName(0x1303), cipherName(0xffff)]).toEqual(['TLS_CHACHA20_POLY1305_SHA256', '0xffff']);
    expect([alertName(70), alertName(250)]).toEqual(['protocol_version', 'alert_250']);
    expect([isGrease(0x0a0a), isGrease(0xfafa), isGrease(0x0a1a), isGrease(0x0303)]).toEqual([true, true, false, false]);
    expect(spec.infer(record(22, clientHello('x')), 0, 443)).toBe(2);
    expect(spec.infer(record(22, serverHello(0x1301)), 1, 443)).toBe(2);
    expect(spec.infer(record(21, u8(2, 70)), 1, 443)).toBe(1);
    expect(spec.infer(record(22, serverHello(0x1301)), 0, 443)).toBe(0);
    expect(spec.infer(enc('GET / HTTP/1.1\r\n'), 0, 443)).toBe(0);
  });

  test('fuzz: 20,000 mutated and random inputs never throw and emit well-formed sessions', () => {
    const seeds = [
      [
        { dir: 0 as const, data: record(22, clientHello('shop.example', { alpn: ['h2'], versions: [0x0304, 0x0303] })) },
        { dir: 1 as const, data: record(22, concat(serverHello(0xc02f, { alpn: 'h2' }), certificateMsg(), hs(14, new Uint8Array(0)))) },
        { dir: 0 as const, data: concat(record(21, u8(2, 42)), record(20, u8(1))) },
      ],
      [
        { dir: 0 as const, data: record(22, clientHello('r.example', { versions: [0x0304] })) },
        { dir: 1 as const, data: record(22, serverHello(0x1301, { version13: true, hrr: true })) },
        { dir: 1 as const, data: concat(record(22, serverHello(0x1301, { version13: true })), record(23, new Uint8Array(30))) },
      ],
    ];
    const stats = fuzz(spec, seeds, 20_000, 0x7150);
    expect(stats.firstThrow).toBe('');
    expect(stats.threw).toBe(0);
    expect(stats.badSessions).toBe(0);
    expect(stats.sessions).toBeGreaterThan(5_000);
    expect(stats.malformed).toBeGreaterThan(1_000);
  });
});
