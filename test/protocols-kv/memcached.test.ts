/**
 * Memcached on a real server: a client speaking the text protocol over a
 * socket (storage, retrieval, cas, counters, touch, gat, delete, noreply,
 * errors, stats, a 100 KB value, meta commands), captured on loopback; our
 * sessions are checked against tshark's memcache dissection of the capture.
 */
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { captureAvailable, captureLoopback } from '../helpers/capture';
import { tsharkAvailable, tsharkFields } from '../helpers/tshark';
import { spec } from '../../protocols/memcached';
import { replayPcap, type ReplayedSession } from '../../protocols/testing/replay';
import { memcachedServer } from './servers';

const server = memcachedServer();
const enabled = captureAvailable() && tsharkAvailable() && server.available;
const maybe = enabled ? test : test.skip;

let sessions: ReplayedSession[] = [];
let frames: Array<Record<string, string[]>> = [];
let malformed: Record<string, number> = {};
const BIG = 'v'.repeat(100_000);

/** One client connection: `cmd` sends and waits for a reply ending as memcached ends it. */
class Client {
  private got = '';
  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (c: Buffer) => (this.got += c.toString('latin1')));
  }
  static async open(port: number): Promise<Client> {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    return new Client(sock);
  }
  async cmd(text: string, until: RegExp | null = /\r\n$/): Promise<string> {
    this.got = '';
    this.sock.write(text);
    if (!until) {
      await new Promise((r) => setTimeout(r, 20));
      return '';
    }
    const deadline = Date.now() + 5000;
    while (!until.test(this.got) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    return this.got;
  }
  async close(): Promise<void> {
    this.sock.write('quit\r\n');
    await new Promise((r) => this.sock.once('close', r));
  }
}

beforeAll(async () => {
  if (!enabled) return;
  await server.start();
  const cap = await captureLoopback(`tcp port ${server.port}`);
  try {
    const c = await Client.open(server.port);
    const END = /END\r\n$/;
    await c.cmd('set foo 0 0 3\r\nbar\r\n');
    await c.cmd('get foo\r\n', END);
    const gets = await c.cmd('gets foo missing\r\n', END);
    const casUnique = /VALUE foo 0 3 (\d+)/.exec(gets)?.[1] ?? '0';
    await c.cmd('add foo 0 0 1\r\nx\r\n');
    await c.cmd('replace nokey 0 0 1\r\nx\r\n');
    await c.cmd('append foo 0 0 3\r\nbaz\r\n');
    await c.cmd('prepend foo 0 0 3\r\npre\r\n');
    await c.cmd(`cas foo 0 0 1 ${casUnique}\r\ny\r\n`);
    await c.cmd('incr counter 1\r\n');
    await c.cmd('set counter 0 0 1\r\n5\r\n');
    await c.cmd('incr counter 10\r\n');
    await c.cmd('decr counter 3\r\n');
    await c.cmd('incr foo 1\r\n');
    await c.cmd('touch foo 100\r\n');
    await c.cmd('gat 100 foo\r\n', END);
    await c.cmd('delete foo\r\n');
    await c.cmd('delete foo\r\n');
    await c.cmd('set quiet 0 0 2 noreply\r\nhi\r\n', null);
    await c.cmd('get quiet\r\n', END);
    await c.cmd('bogus\r\n');
    await c.cmd('stats\r\n', END);
    await c.cmd('version\r\n');
    await c.cmd(`set big 0 0 ${BIG.length}\r\n${BIG}\r\n`);
    await c.cmd('get big\r\n', END);
    await c.cmd('mg quiet v\r\n', /hi\r\n$/);
    await c.cmd('ms mkey 2\r\nhi\r\n');
    await c.cmd('md mkey\r\n');
    await c.cmd('mn\r\n');
    await c.cmd('flush_all\r\n');
    await c.close();
  } finally {
    const file = await cap.stop();
    const r = replayPcap(file, [spec]);
    sessions = r.sessions;
    malformed = r.malformed;
    frames = await tsharkFields(file, ['tcp.srcport', 'frame.time_epoch', 'memcache.command', 'memcache.key', 'memcache.response', 'memcache.noreply', 'memcache.version'], {
      decodeAs: [`tcp.port==${server.port},memcache`],
      filter: 'memcache',
    });
    // The capture's temporary folder (made by captureLoopback) goes with it.
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}, 90_000);

afterAll(async () => {
  await server.destroy();
});

maybe('every command, key and response tshark reports matches our session in the same frame', () => {
  expect(malformed).toEqual({});
  // Frames to sessions by capture time: a request's first byte, a response's last.
  const ns = (f: Record<string, string[]>) => BigInt(f['frame.time_epoch'][0].replace('.', '').padEnd(19, '0').slice(0, 19));
  let compared = 0;
  const differ: string[] = [];
  const same = (what: string, theirs: unknown, ours: unknown) => {
    compared++;
    if (theirs !== ours) differ.push(`${what}: tshark ${JSON.stringify(theirs)} vs ours ${JSON.stringify(ours)}`);
  };
  for (const f of frames) {
    const t = ns(f);
    if (Number(f['tcp.srcport'][0]) !== server.port) {
      if (!f['memcache.command'].length) continue;
      // A command spanning segments is shown in its last one: the latest session started by then.
      const s = sessions.filter((x) => x.start_time <= t && x.captured_request_bytes > 0).pop();
      same(`frame ${f.frame} command`, f['memcache.command'][0], s?.request_type);
      // tshark lists a storage command's key; a retrieval's keys.
      if (f['memcache.key'].length) same(`frame ${f.frame} keys`, f['memcache.key'].join(' '), s?.request_resource);
      if (f['memcache.noreply'].length) same(`frame ${f.frame} noreply`, 'true', s?.attributes['memcached.noreply']);
      continue;
    }
    if (f['memcache.command'][0] === 'STAT') {
      // tshark files STAT lines under command; ours is the stats session ending here.
      same(`frame ${f.frame} stats`, 'stats', sessions.find((x) => x.end_time === t)?.request_type);
      continue;
    }
    const s = sessions.find((x) => x.end_time === t && x.captured_response_bytes > 0);
    if (f['memcache.response'].length && f['memcache.response'][0] !== 'END') same(`frame ${f.frame} response`, f['memcache.response'][0], s?.response_result);
    // A hit: tshark shows the VALUE line's key (and END); ours starts with that VALUE line.
    if (f['memcache.key'].length) same(`frame ${f.frame} value key`, f['memcache.key'][0], s?.response_result.split(' ')[1]);
    if (f['memcache.version'].length) same(`frame ${f.frame} version`, `VERSION ${f['memcache.version'][0]}`, s?.response_result);
  }
  process.stdout.write(`\nMemcached vs tshark (memcached): ${sessions.length} sessions, ${compared} fields, ${compared - differ.length} agree\n`);
  expect(differ).toEqual([]);
  expect(compared).toBeGreaterThan(45);
});

maybe('statuses, results and sizes as memcached answered', () => {
  const row = (s: ReplayedSession) => [s.request_type, s.request_resource, s.response_status, s.response_result, s.response_exception];
  expect(sessions.map(row)).toEqual([
    ['set', 'foo', 'ok', 'STORED', ''],
    ['get', 'foo', 'ok', expect.stringMatching(/^VALUE foo 0 3$/), ''],
    ['gets', 'foo missing', 'ok', expect.stringMatching(/^VALUE foo 0 3 \d+$/), ''],
    ['add', 'foo', 'ok', 'NOT_STORED', ''],
    ['replace', 'nokey', 'ok', 'NOT_STORED', ''],
    ['append', 'foo', 'ok', 'STORED', ''],
    ['prepend', 'foo', 'ok', 'STORED', ''],
    ['cas', 'foo', 'ok', 'EXISTS', ''],
    ['incr', 'counter', 'ok', 'NOT_FOUND', ''],
    ['set', 'counter', 'ok', 'STORED', ''],
    ['incr', 'counter', 'ok', '15', ''],
    ['decr', 'counter', 'ok', '12', ''],
    ['incr', 'foo', 'client_error', 'CLIENT_ERROR cannot increment or decrement non-numeric value', 'cannot increment or decrement non-numeric value'],
    ['touch', 'foo', 'ok', 'TOUCHED', ''],
    ['gat', 'foo', 'ok', expect.stringMatching(/^VALUE foo 0 9$/), ''],
    ['delete', 'foo', 'ok', 'DELETED', ''],
    ['delete', 'foo', 'ok', 'NOT_FOUND', ''],
    ['set', 'quiet', 'unknown', '', ''],
    ['get', 'quiet', 'ok', 'VALUE quiet 0 2', ''],
    ['bogus', '', 'client_error', 'ERROR', 'ERROR'],
    ['stats', '', 'ok', '', ''],
    ['version', '', 'ok', expect.stringMatching(/^VERSION 1\./), ''],
    ['set', 'big', 'ok', 'STORED', ''],
    ['get', 'big', 'ok', `VALUE big 0 ${BIG.length}`, ''],
    ['mg', 'quiet', 'ok', 'VA 2', ''],
    ['ms', 'mkey', 'ok', 'HD', ''],
    ['md', 'mkey', 'ok', 'HD', ''],
    ['mn', '', 'ok', 'MN', ''],
    ['flush_all', '', 'ok', 'OK', ''],
    ['quit', '', 'unknown', '', ''],
  ]);
  const big = sessions.filter((s) => s.request_resource === 'big');
  expect(big.map((s) => [s.request_length, s.response_length])).toEqual([
    [BIG.length, null],
    [null, BIG.length],
  ]);
  expect(sessions.find((s) => s.request_type === 'gets')?.attributes['memcached.hits']).toBe('1');
});
