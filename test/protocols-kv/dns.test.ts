/**
 * DNS on a real server: dnsmasq answering A, AAAA, CNAME, TXT, MX, SRV,
 * NXDOMAIN and REFUSED, queried with dig over UDP and TCP, captured on
 * loopback; our sessions are checked against tshark's dissection of the same
 * capture, field by field.
 */
import fs from 'node:fs';
import path from 'node:path';
import { captureAvailable, captureLoopback } from '../helpers/capture';
import { tsharkAvailable, tsharkFields } from '../helpers/tshark';
import { spec } from '../../protocols/dns';
import { typeName } from '../../protocols/dns/message';
import { replayPcap, type ReplayedSession } from '../../protocols/testing/replay';
import { dnsmasq, run } from './servers';

const server = dnsmasq(
  [
    '--address=/example.test/10.1.2.3',
    '--address=/v6.test/fd00::1',
    '--address=/nx.test/',
    '--host-record=target.cn.test,10.9.9.9',
    '--cname=alias.cn.test,target.cn.test',
    '--txt-record=txt.cn.test,"hello world"',
    '--mx-host=cn.test,mail.cn.test,10',
    '--srv-host=_sip._tcp.cn.test,sip.cn.test,5060',
  ],
  'www.example.test',
);
const enabled = captureAvailable() && tsharkAvailable() && server.available;
const maybe = enabled ? test : test.skip;

let sessions: ReplayedSession[] = [];
let frames: Array<Record<string, string[]>> = [];

beforeAll(async () => {
  if (!enabled) return;
  await server.start();
  const cap = await captureLoopback(`port ${server.port}`);
  try {
    const dig = (args: string[]) => run('/usr/bin/dig', ['@127.0.0.1', '-p', String(server.port), '+tries=1', '+time=2', ...args]);
    await dig(['www.example.test', 'A']);
    await dig(['www.example.test', 'AAAA']);
    await dig(['host.v6.test', 'AAAA']);
    await dig(['nope.nx.test', 'A']);
    await dig(['alias.cn.test', 'A']);
    await dig(['txt.cn.test', 'TXT']);
    await dig(['cn.test', 'MX']);
    await dig(['_sip._tcp.cn.test', 'SRV']);
    await dig(['outside.invalid', 'A']);
    await dig(['www.example.test', 'A', '+tcp']);
    await dig(['host.v6.test', 'AAAA', '+tcp']);
    await dig(['nope.nx.test', 'AAAA', '+tcp']);
  } finally {
    const file = await cap.stop();
    sessions = replayPcap(file, [spec]).sessions;
    frames = await tsharkFields(file, ['dns.id', 'dns.flags.response', 'dns.qry.name', 'dns.qry.type', 'dns.flags.rcode', 'dns.a', 'dns.aaaa', 'dns.cname', 'tcp.port'], {
      decodeAs: [`udp.port==${server.port},dns`, `tcp.port==${server.port},dns`],
      filter: 'dns',
    });
    // The capture's temporary folder (made by captureLoopback) goes with it.
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}, 60_000);

afterAll(async () => {
  await server.destroy();
});

maybe('every query tshark sees is one of our sessions, and the fields tshark reports match', () => {
  const isTrue = (v: string[]) => v[0] === '1' || v[0] === 'True' || v[0] === 'true';
  const queries = frames.filter((f) => !isTrue(f['dns.flags.response']));
  const responses = frames.filter((f) => isTrue(f['dns.flags.response']));
  expect(queries).toHaveLength(12);
  expect(responses).toHaveLength(12);
  expect(sessions).toHaveLength(12);
  let compared = 0;
  const differ: string[] = [];
  const same = (what: string, theirs: unknown, ours: unknown) => {
    compared++;
    if (theirs !== ours) differ.push(`${what}: tshark ${JSON.stringify(theirs)} vs ours ${JSON.stringify(ours)}`);
  };
  for (const r of responses) {
    const id = String(Number(r['dns.id'][0]));
    const name = r['dns.qry.name'][0];
    const s = sessions.find((x) => x.request_id === id && x.request_resource === name);
    if (!s) {
      differ.push(`no session for ${id} ${name}`);
      continue;
    }
    same(`${name} type`, typeName(Number(r['dns.qry.type'][0])), s.request_type);
    same(`${name} rcode`, Number(r['dns.flags.rcode'][0]), s.response_code);
    same(`${name} transport`, r['tcp.port'].length ? 'tcp' : 'udp', s.transport);
    for (const a of r['dns.a']) same(`${name} A ${a}`, true, s.response_result.includes(`A=${a} `));
    for (const a of r['dns.aaaa']) same(`${name} AAAA ${a}`, true, s.response_result.includes(`AAAA=${a} `));
    for (const c of r['dns.cname']) same(`${name} CNAME ${c}`, true, s.response_result.includes(`CNAME=${c} `));
  }
  process.stdout.write(`\nDNS vs tshark (dnsmasq): ${sessions.length} sessions, ${compared} fields, ${compared - differ.length} agree\n`);
  expect(differ).toEqual([]);
  expect(compared).toBeGreaterThanOrEqual(12 * 3 + 5);
});

maybe('statuses, answers and domains as dnsmasq answered', () => {
  const by = (name: string, type: string, transport = 'udp') => sessions.find((s) => s.request_resource === name && s.request_type === type && s.transport === transport);
  expect(by('www.example.test', 'A')).toMatchObject({ response_status: 'ok', response_result: 'A=10.1.2.3 TTL=0', request_domain: 'www.example.test' });
  expect(by('host.v6.test', 'AAAA')).toMatchObject({ response_status: 'ok', response_result: 'AAAA=fd00::1 TTL=0' });
  expect(by('nope.nx.test', 'A')).toMatchObject({ response_status: 'client_error', response_code: 3, response_exception: 'NXDOMAIN' });
  expect(by('alias.cn.test', 'A')?.response_result).toMatch(/^CNAME=target\.cn\.test TTL=\d+; A=10\.9\.9\.9 TTL=\d+$/);
  expect(by('cn.test', 'MX')?.response_result).toMatch(/^MX=mail\.cn\.test TTL=\d+$/);
  expect(by('_sip._tcp.cn.test', 'SRV')).toMatchObject({ request_domain: '', response_status: 'ok' });
  expect(by('txt.cn.test', 'TXT')?.response_result).toBe('TXT');
  const refused = by('outside.invalid', 'A');
  expect(refused?.response_code).toBe(5);
  expect(refused?.response_status).toBe('server_error');
  expect(by('www.example.test', 'A', 'tcp')).toMatchObject({ response_status: 'ok', response_result: 'A=10.1.2.3 TTL=0' });
  expect(by('nope.nx.test', 'AAAA', 'tcp')).toMatchObject({ response_status: 'client_error' });
  expect(sessions.every((s) => s.server_port === server.port && s.client_ip === '127.0.0.1' && s.duration_ns > 0n)).toBe(true);
});
