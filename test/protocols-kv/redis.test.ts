/**
 * Redis on a real server: redis-cli commands (errors, two-word commands,
 * AUTH), a RESP3 session (`-3`: HELLO 3 first), pipelining (`--pipe`),
 * pub/sub and a 200 KB value, captured on loopback; our sessions are checked
 * against tshark's RESP dissection of the same capture.
 */
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { captureAvailable, captureLoopback } from '../helpers/capture';
import { tsharkAvailable, tsharkFields } from '../helpers/tshark';
import { spec } from '../../protocols/redis';
import { replayPcap, type ReplayedSession } from '../../protocols/testing/replay';
import { redisServer, run } from './servers';

const server = redisServer();
const enabled = captureAvailable() && tsharkAvailable() && server.available;
const maybe = enabled ? test : test.skip;

let sessions: ReplayedSession[] = [];
let frames: Array<Record<string, string[]>> = [];
let malformed: Record<string, number> = {};

function resp(...args: string[]): string {
  return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
}

/** Opens a connection, writes each step, waits until `until` matches what came back, closes. */
async function talk(port: number, steps: Array<{ send: string; until: RegExp }>): Promise<string> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  let got = '';
  sock.on('data', (c: Buffer) => (got += c.toString('latin1')));
  for (const step of steps) {
    const from = got.length;
    sock.write(step.send);
    const deadline = Date.now() + 5000;
    while (!step.until.test(got.slice(from)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }
  sock.end();
  await new Promise((r) => sock.once('close', r));
  return got;
}

beforeAll(async () => {
  if (!enabled) return;
  await server.start();
  const cap = await captureLoopback(`tcp port ${server.port}`);
  try {
    const cli = (...args: string[]) => run('/usr/bin/redis-cli', ['-p', String(server.port), ...args]);
    await cli('SET', 'user:1', 'alice');
    await cli('GET', 'user:1');
    await cli('INCR', 'visits');
    await cli('LPUSH', 'user:1', 'x');
    await cli('CLIENT', 'SETNAME', 'app');
    await cli('CONFIG', 'GET', 'maxmemory');
    await cli('NOSUCHCMD', 'a');
    await cli('AUTH', 'not-the-password');
    await cli('-3', 'HSET', 'h', 'f', 'v');
    await cli('-3', 'HGETALL', 'h');
    let pipe = '';
    for (let i = 0; i < 100; i++) pipe += resp('SET', `pipe:${i}`, `value-${i}`);
    await run('/usr/bin/redis-cli', ['-p', String(server.port), '--pipe'], { input: pipe });
    const big = 'x'.repeat(200_000);
    await talk(server.port, [
      { send: resp('SET', 'big', big), until: /\+OK\r\n/ },
      { send: resp('GET', 'big'), until: /x\r\n$/ },
    ]);
    // Pub/sub: subscribe on one connection, publish from another.
    const sub = net.connect(server.port, '127.0.0.1');
    await new Promise<void>((resolve) => sub.once('connect', resolve));
    let subGot = '';
    sub.on('data', (c: Buffer) => (subGot += c.toString()));
    sub.write(resp('SUBSCRIBE', 'news', 'sport'));
    while ((subGot.match(/subscribe/g) ?? []).length < 2) await new Promise((r) => setTimeout(r, 10));
    await cli('PUBLISH', 'news', 'hello');
    while (!subGot.includes('hello')) await new Promise((r) => setTimeout(r, 10));
    sub.write(resp('UNSUBSCRIBE'));
    while ((subGot.match(/unsubscribe/g) ?? []).length < 2) await new Promise((r) => setTimeout(r, 10));
    sub.end();
    await new Promise((r) => sub.once('close', r));
  } finally {
    const file = await cap.stop();
    const r = replayPcap(file, [spec]);
    sessions = r.sessions;
    malformed = r.malformed;
    frames = await tsharkFields(file, ['tcp.srcport', 'tcp.stream', 'resp.array.length', 'resp.bulk_string.value', 'resp.string', 'resp.error', 'resp.reassembled_in_next_frame'], {
      decodeAs: [`tcp.port==${server.port},resp`],
      filter: 'resp',
    });
    // The capture's temporary folder (made by captureLoopback) goes with it.
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}, 90_000);

afterAll(async () => {
  await server.destroy();
});

const hex = (h: string) => Buffer.from(h.replace(/:/g, ''), 'hex').toString('latin1');

maybe('commands, keys, errors and status replies agree with tshark', () => {
  expect(malformed).toEqual({});
  // tshark's commands: client frames' arrays, their bulk strings split by the array lengths.
  const theirs: Array<{ stream: string; cmd: string; key: string }> = [];
  const errors: string[] = [];
  const statuses: string[] = [];
  for (const f of frames) {
    if (Number(f['tcp.srcport'][0]) === server.port) {
      errors.push(...f['resp.error']);
      statuses.push(...f['resp.string']);
      continue;
    }
    const values = f['resp.bulk_string.value'].map(hex);
    const lengths = f['resp.array.length'].map(Number);
    // A command that continues in later frames is shown in each of them:
    // count it once, in the frame that completes it.
    if (f['resp.reassembled_in_next_frame'].length > 0) lengths.pop();
    let i = 0;
    for (const len of lengths) {
      const args = values.slice(i, i + len);
      i += len;
      theirs.push({ stream: f['tcp.stream'][0], cmd: (args[0] ?? '').toUpperCase(), key: args[1] ?? '' });
    }
  }
  // Ours, as tshark can see them: requests sent as RESP arrays (redis-cli --pipe's
  // trailing ECHO included), in capture order.
  const ours = sessions.filter((s) => s.captured_request_bytes > 0);
  expect(ours.length).toBe(theirs.length);
  let compared = 0;
  const differ: string[] = [];
  theirs.forEach((t, i) => {
    const o = ours[i];
    const word = o.request_resource.split(' ');
    compared += 2;
    if (o.request_type.split(' ')[0] !== t.cmd) differ.push(`${i} command: tshark ${t.cmd} vs ours ${o.request_type}`);
    // AUTH's password is elided on purpose; everything else keeps its key.
    const key = t.cmd === 'AUTH' ? '?' : t.key;
    if ((word[1] ?? '') !== key && !(word[1] === '?' && t.cmd === 'ECHO')) differ.push(`${i} key: tshark ${t.key} vs ours ${word[1]}`);
  });
  const ourErrors = sessions.filter((s) => s.response_status === 'server_error').map((s) => s.response_exception);
  const ourStatuses = sessions.map((s) => s.attributes['redis.status']).filter((x): x is string => x !== undefined);
  compared += errors.length + statuses.length;
  if (JSON.stringify(ourErrors) !== JSON.stringify(errors)) differ.push(`errors: tshark ${JSON.stringify(errors)} vs ours ${JSON.stringify(ourErrors)}`);
  if (JSON.stringify(ourStatuses) !== JSON.stringify(statuses)) differ.push(`statuses: tshark ${JSON.stringify(statuses)} vs ours ${JSON.stringify(ourStatuses)}`);
  process.stdout.write(`\nRedis vs tshark (redis-server): ${sessions.length} sessions, ${compared} fields, ${differ.length} differ\n`);
  expect(differ).toEqual([]);
  expect(theirs.length).toBeGreaterThan(110);
});

maybe('fields of our own: two-word commands, RESP3, pipelining, pub/sub, elided secrets, a 200 KB reply', () => {
  const find = (type: string, res?: string) => sessions.find((s) => s.request_type === type && (res === undefined || s.request_resource === res));
  expect(find('SET', 'SET user:1 ?')).toMatchObject({ response_status: 'ok', response_result: 'SimpleString', version: '2' });
  expect(find('LPUSH')).toMatchObject({ response_status: 'server_error', response_exception: 'WRONGTYPE Operation against a key holding the wrong kind of value' });
  expect(find('CLIENT SETNAME')).toMatchObject({ request_resource: 'CLIENT SETNAME app', response_status: 'ok' });
  expect(find('CONFIG GET')).toMatchObject({ request_resource: 'CONFIG GET maxmemory', response_result: 'Array' });
  expect(find('NOSUCHCMD')?.response_exception).toMatch(/^ERR unknown command 'NOSUCHCMD'/);
  expect(find('AUTH')).toMatchObject({ request_resource: 'AUTH ?', response_status: 'server_error' });
  expect(JSON.stringify(sessions, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain('not-the-password');
  expect(find('HELLO')).toMatchObject({ version: '3', response_result: 'Map' });
  expect(find('HGETALL')).toMatchObject({ version: '3', response_result: 'Map' });
  const piped = sessions.filter((s) => s.request_resource.startsWith('SET pipe:'));
  expect(piped).toHaveLength(100);
  expect(piped.every((s) => s.response_status === 'ok' && s.attributes['redis.status'] === 'OK')).toBe(true);
  expect(find('GET', 'GET big')).toMatchObject({ response_result: 'BulkString', response_length: Buffer.byteLength('$200000\r\n') + 200_000 + 2, truncated: false });
  expect(find('SET', 'SET big ?')?.request_length).toBeGreaterThan(200_000);
  expect(find('SUBSCRIBE')).toMatchObject({ request_resource: 'SUBSCRIBE news sport', response_status: 'ok' });
  expect(find('MESSAGE')).toMatchObject({ request_resource: 'news', captured_request_bytes: 0, response_status: 'ok' });
  expect(find('UNSUBSCRIBE')).toMatchObject({ response_status: 'ok' });
  expect(find('PUBLISH')).toMatchObject({ request_resource: 'PUBLISH news ?', response_result: 'Integer' });
  // Nothing left unanswered.
  expect(sessions.filter((s) => s.response_status === 'timeout' || s.response_status === 'unknown')).toEqual([]);
});
