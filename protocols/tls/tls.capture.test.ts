/**
 * TLS on real handshakes: Debian's nginx (TLS 1.2 and 1.3 only) with curl
 * and `openssl s_client` as clients — SNI, ALPN, TLS 1.2 and 1.3, a server
 * refusing TLS 1.1 (alert protocol_version) and a client refusing the
 * self-signed certificate (alert unknown_ca) — captured on loopback, parsed
 * by our spec and by tshark from the same file, and compared field by field.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { captureAvailable, captureLoopback } from '../../test/helpers/capture';
import { nginxAvailable, startNginx } from '../../test/helpers/nginx';
import type { NginxServer } from '../../test/helpers/nginx';
import { tsharkAvailable, tsharkFields } from '../../test/helpers/tshark';
import { replayPcap } from '../testing/replay';
import type { ReplayedSession } from '../testing/replay';
import { spec } from './index';

const ready = captureAvailable() && tsharkAvailable() && nginxAvailable();
const maybe = ready ? describe : describe.skip;

/** Runs a client to completion (stdin closed so s_client ends after the handshake). */
function run(cmd: string, args: string[]): void {
  spawnSync(cmd, args, { input: '', timeout: 15_000, stdio: ['pipe', 'ignore', 'ignore'] });
}

const VERSION: Record<string, string> = { '0x0301': 'TLS 1.0', '0x0302': 'TLS 1.1', '0x0303': 'TLS 1.2', '0x0304': 'TLS 1.3' };

maybe('TLS against nginx, curl and openssl, checked with tshark', () => {
  let nginx: NginxServer | undefined;
  let file = '';
  let sessions: ReplayedSession[] = [];
  let frames: Array<Record<string, string[]>> = [];

  beforeAll(async () => {
    nginx = await startNginx({ tls: true, http: 'ssl_protocols TLSv1.2 TLSv1.3;' });
    const port = nginx.tlsPort;
    const cap = await captureLoopback(`tcp port ${port}`);
    try {
      run('curl', ['-sk', '--http1.1', `https://localhost:${port}/`]);
      run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'x', '-alpn', 'h2,http/1.1', '-tls1_2']);
      run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'x', '-alpn', 'h2,http/1.1']);
      run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'old.example', '-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0']);
      run('curl', ['-s', '--tlsv1.2', '--tls-max', '1.2', `https://localhost:${port}/`]);
    } finally {
      file = await cap.stop();
    }
    sessions = replayPcap(file, [spec]).sessions;
    frames = await tsharkFields(
      file,
      ['tcp.srcport', 'tcp.dstport', 'tls.handshake.type', 'tls.handshake.extensions_server_name', 'tls.handshake.extensions_alpn_str', 'tls.handshake.extensions.supported_version', 'tls.handshake.cipher_suites_length', 'tls.handshake.ciphersuite', 'tls.handshake.version', 'tls.alert_message.desc', 'tls.alert_message.level', 'x509sat.uTF8String'],
      { decodeAs: [`tcp.port==${port},tls`] },
    );
  }, 120_000);

  afterAll(async () => {
    await nginx?.destroy();
    if (file) fs.rmSync(file.replace(/\/[^/]+$/, ''), { recursive: true, force: true });
  });

  test('one session per handshake, each agreeing with tshark on SNI, ALPN, versions, cipher, certificate and alerts', () => {
    const port = nginx!.tlsPort;
    expect(sessions.map((s) => s.request_domain)).toEqual(['localhost', 'x', 'x', 'old.example', 'localhost']);
    let compared = 0;
    for (const s of sessions) {
      const fromClient = frames.filter((f) => f['tcp.srcport'][0] === String(s.client_port) && f['tcp.dstport'][0] === String(port));
      const fromServer = frames.filter((f) => f['tcp.dstport'][0] === String(s.client_port) && f['tcp.srcport'][0] === String(port));
      const ch = fromClient.find((f) => f['tls.handshake.type'].includes('1'))!;
      const sh = fromServer.find((f) => f['tls.handshake.type'].includes('2'));
      const check = (ours: unknown, theirs: unknown) => {
        expect(ours).toEqual(theirs);
        compared++;
      };
      check(s.request_domain, ch['tls.handshake.extensions_server_name'][0]);
      check(s.attributes['tls.alpn.offered'] ?? '', ch['tls.handshake.extensions_alpn_str'].join(','));
      check(s.attributes['tls.client.versions'], ch['tls.handshake.extensions.supported_version'].length ? ch['tls.handshake.extensions.supported_version'].filter((v) => VERSION[v]).map((v) => VERSION[v]).join(',') : VERSION[ch['tls.handshake.version'][0]]);
      check(s.attributes['tls.client.cipher_count'], String(Number(ch['tls.handshake.cipher_suites_length'][0]) / 2));
      if (sh) {
        const chosen = sh['tls.handshake.extensions.supported_version'][0] ?? sh['tls.handshake.version'][0];
        check(s.version, VERSION[chosen]);
        check(s.attributes['tls.cipher_id'], sh['tls.handshake.ciphersuite'][0]);
        if (chosen === '0x0303') {
          check(s.attributes['tls.alpn'] ?? '', sh['tls.handshake.extensions_alpn_str'].join(','));
          const cert = fromServer.flatMap((f) => f['x509sat.uTF8String']);
          check(cert.includes(s.attributes['tls.server.subject_cn']), true);
        }
      }
      const alert = [...fromClient, ...fromServer].find((f) => f['tls.alert_message.desc'].length && f['tls.alert_message.level'][0] !== undefined);
      if (alert && s.response_code !== null) check(String(s.response_code), alert['tls.alert_message.desc'][0]);
    }
    console.log(`TLS: ${sessions.length} handshakes, ${compared} field comparisons with tshark, all equal`);
    expect(compared).toBeGreaterThan(25);
  });

  test('what each handshake amounts to', () => {
    expect(sessions.map((s) => [s.request_domain, s.version, s.response_status, s.response_code, s.response_exception, s.attributes['tls.alpn'] ?? ''])).toEqual([
      ['localhost', 'TLS 1.3', 'ok', null, '', ''],
      ['x', 'TLS 1.2', 'ok', null, '', 'http/1.1'],
      ['x', 'TLS 1.3', 'ok', null, '', ''],
      ['old.example', 'TLS 1.1', 'server_error', 70, 'protocol_version', ''],
      ['localhost', 'TLS 1.2', 'client_error', 48, 'unknown_ca', 'http/1.1'],
    ]);
    expect(sessions[1].attributes['tls.server.subject_cn']).toBe('localhost');
    expect(sessions[1].response_result).toBe('ServerHello,Certificate,ServerKeyExchange,ServerHelloDone');
    for (const s of sessions) {
      expect(s.duration_ns).toBeGreaterThan(0n);
      expect(s.server_port).toBe(nginx!.tlsPort);
    }
  });
});
