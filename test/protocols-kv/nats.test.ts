/**
 * NATS on a real server: nats-server with the npm `nats` client (publish,
 * subscribe, request/reply, headers with a traceparent, a request nobody
 * answers), captured on loopback. tshark 4.0 has no NATS dissector, so tshark
 * is used for what it does have — the capture's TCP payloads per direction
 * — and a few lines of this test read the operations out of them (an
 * independent reading, not our parser) to compare with our sessions.
 */
import { connect, Empty, headers, StringCodec } from 'nats';
import fs from 'node:fs';
import path from 'node:path';
import { captureAvailable, captureLoopback } from '../helpers/capture';
import { tsharkAvailable, tsharkFields } from '../helpers/tshark';
import { spec } from '../../protocols/nats';
import { replayPcap, type ReplayedSession } from '../../protocols/testing/replay';
import { natsServer } from './servers';

const server = natsServer();
const enabled = captureAvailable() && tsharkAvailable() && server.available;
const maybe = enabled ? test : test.skip;

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SPAN = 'b7ad6b7169203331';
let sessions: ReplayedSession[] = [];
let malformed: Record<string, number> = {};
let streams: Array<{ client: string; server: string }> = [];

beforeAll(async () => {
  if (!enabled) return;
  await server.start();
  const cap = await captureLoopback(`tcp port ${server.port}`);
  try {
    const sc = StringCodec();
    // The server has no auth configured and ignores the credentials; they still go on the wire in CONNECT.
    const nc = await connect({ servers: `127.0.0.1:${server.port}`, name: 'mf-orders', user: 'someone', pass: 'never-kept' });
    const got: string[] = [];
    const sub = nc.subscribe('orders.*', { callback: (_err, m) => got.push(m.subject) });
    nc.subscribe('svc.echo', { callback: (_err, m) => m.respond(m.data) });
    await nc.flush();
    nc.publish('orders.new', sc.encode('hello'));
    const h = headers();
    h.set('traceparent', `00-${TRACE}-${SPAN}-01`);
    h.set('X-Request-Id', 'req-7');
    nc.publish('orders.paid', sc.encode('paid'), { headers: h });
    const reply = await nc.request('svc.echo', sc.encode('ping'), { timeout: 5000 });
    expect(sc.decode(reply.data)).toBe('ping');
    await nc.request('nobody.home', Empty, { timeout: 2000 }).catch(() => undefined);
    await nc.flush();
    while (got.length < 2) await new Promise((r) => setTimeout(r, 10));
    sub.unsubscribe();
    await nc.drain();
  } finally {
    const file = await cap.stop();
    const r = replayPcap(file, [spec]);
    sessions = r.sessions;
    malformed = r.malformed;
    const frames = await tsharkFields(file, ['tcp.stream', 'tcp.srcport', 'tcp.payload']);
    const byStream = new Map<string, { client: string; server: string }>();
    for (const f of frames) {
      if (!f['tcp.payload'].length) continue;
      const key = f['tcp.stream'][0];
      const st = byStream.get(key) ?? { client: '', server: '' };
      const text = Buffer.from(f['tcp.payload'][0].replace(/:/g, ''), 'hex').toString('latin1');
      if (Number(f['tcp.srcport'][0]) === server.port) st.server += text;
      else st.client += text;
      byStream.set(key, st);
    }
    streams = [...byStream.values()];
    // The capture's temporary folder (made by captureLoopback) goes with it.
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}, 60_000);

afterAll(async () => {
  await server.destroy();
});

/** The operations of one direction of a NATS stream: [op, subject]. */
function operations(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let p = 0;
  while (p < text.length) {
    const e = text.indexOf('\r\n', p);
    if (e < 0) break;
    const line = text.slice(p, e);
    p = e + 2;
    const [op, ...args] = line.split(' ');
    const name = op.toUpperCase();
    if (name === 'PUB' || name === 'HPUB' || name === 'MSG' || name === 'HMSG') {
      p += Number(args[args.length - 1]) + 2;
      out.push([name, args[0]]);
    } else if (name === 'SUB') out.push([name, args[0]]);
    else if (name === '+OK') out.push(['OK', '']);
    else if (name === '-ERR') out.push(['ERR', '']);
    else out.push([name, '']);
  }
  return out;
}

maybe('the operations in the TCP payloads tshark extracts are our sessions, in order', () => {
  expect(malformed).toEqual({});
  expect(streams).toHaveLength(1);
  const theirs = [...operations(streams[0].client), ...operations(streams[0].server)];
  // Ours, one entry per operation: a paired session (INFO+CONNECT, PING+PONG) is two.
  const ours: Array<[string, string]> = [];
  for (const s of sessions) {
    if (s.request_type === 'INFO') ours.push(['INFO', ''], ['CONNECT', '']);
    else if (s.request_type === 'PING' && s.captured_response_bytes > 0) ours.push(['PING', ''], ['PONG', '']);
    else ours.push([s.request_type, s.request_type === 'UNSUB' ? '' : s.request_resource]);
  }
  const key = (x: [string, string]) => x.join(' ');
  const sortedTheirs = theirs.map(key).sort();
  const sortedOurs = ours.map(key).sort();
  let agree = 0;
  const counts = new Map<string, number>();
  for (const k of sortedTheirs) counts.set(k, (counts.get(k) ?? 0) + 1);
  for (const k of sortedOurs) {
    const c = counts.get(k) ?? 0;
    if (c > 0) {
      counts.set(k, c - 1);
      agree++;
    }
  }
  process.stdout.write(`\nNATS vs tshark payloads (nats-server): ${sessions.length} sessions, ${theirs.length} operations, ${agree} agree\n`);
  expect(sortedOurs).toEqual(sortedTheirs);
  // Order within each direction is kept too.
  const clientOps = operations(streams[0].client).map(key);
  const ourClientOps = ours.filter((o) => ['CONNECT', 'PUB', 'HPUB', 'SUB', 'UNSUB'].includes(o[0])).map(key);
  expect(ourClientOps).toEqual(clientOps.filter((k) => /^(CONNECT|PUB|HPUB|SUB|UNSUB)\b/.test(k)));
});

maybe('handshake, publishes with headers, request/reply and no responders', () => {
  const info = sessions[0];
  expect(info).toMatchObject({ request_type: 'INFO', request_domain: 'mf-test', response_status: 'ok' });
  expect(info.version).toMatch(/^2\.\d+\.\d+$/);
  expect(info.attributes['nats.client_name']).toBe('mf-orders');
  expect(info.attributes['nats.client_lang']).toBe('nats.js');
  expect(streams[0].client).toContain('"pass":"never-kept"');
  expect(JSON.stringify(sessions, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain('never-kept');
  const hpub = sessions.find((s) => s.request_type === 'HPUB' && s.request_resource === 'orders.paid');
  expect(hpub).toMatchObject({ trace_id: TRACE, span_id: SPAN, x_request_id: 'req-7', endpoint: 'orders' });
  const hmsg = sessions.find((s) => s.request_type === 'HMSG' && s.request_resource === 'orders.paid');
  expect(hmsg).toMatchObject({ trace_id: TRACE, span_id: SPAN, captured_request_bytes: 0 });
  const request = sessions.find((s) => s.request_resource === 'svc.echo' && (s.request_type === 'PUB' || s.request_type === 'HPUB') && !s.attributes['nats.from_server']);
  expect(request?.attributes['nats.reply_to']).toMatch(/^_INBOX\./);
  // The reply comes back as a MSG on the requester's inbox.
  expect(sessions.some((s) => (s.request_type === 'MSG' || s.request_type === 'HMSG') && s.request_resource.startsWith('_INBOX.') && s.response_status === 'ok')).toBe(true);
  // Nobody listens on nobody.home: the server answers with a 503 status header.
  const noResponders = sessions.find((s) => s.request_type === 'HMSG' && s.response_code === 503);
  expect(noResponders).toMatchObject({ response_status: 'server_error' });
  const unsub = sessions.find((s) => s.request_type === 'UNSUB');
  expect(unsub?.request_resource).toBe('orders.*');
});
