/**
 * AMQP 0-9-1 against a real RabbitMQ (Debian's rabbitmq-server on
 * loopback, its own epmd, no plugins) driven by amqplib: declare, bind,
 * publish with a traceparent header, consume and ack, and two channel
 * errors (a passive declare of a missing exchange: 404; a redeclare with
 * another type: 406). The capture is parsed by our spec and by tshark; the
 * methods, channels, names and reply codes must agree.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import { captureAvailable, captureLoopback } from '../../test/helpers/capture';
import { freePorts } from '../../test/helpers/ports';
import { tsharkAvailable, tsharkFields } from '../../test/helpers/tshark';
import { replayPcap } from '../testing/replay';
import type { ReplayedSession } from '../testing/replay';
import { Kind, method } from './methods';
import { spec } from './index';

const SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const ready = captureAvailable() && tsharkAvailable() && fs.existsSync(SERVER) && fs.existsSync('/usr/bin/epmd');
const maybe = ready ? describe : describe.skip;
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

/** A throwaway RabbitMQ node: data, logs and cookie in a temp folder, its own epmd. */
class Rabbit {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-rabbit-'));
  port = 0;
  private epmd: ChildProcess | undefined;
  private server: ChildProcess | undefined;

  async start(): Promise<void> {
    const [port, dist, epmdPort] = await freePorts(3);
    this.port = port;
    fs.writeFileSync(path.join(this.dir, 'enabled_plugins'), '[].\n');
    fs.writeFileSync(path.join(this.dir, 'rabbitmq-env.conf'), '');
    fs.writeFileSync(path.join(this.dir, 'rabbitmq.conf'), 'loopback_users = none\n');
    this.epmd = spawn('epmd', ['-port', String(epmdPort)], { stdio: 'ignore' });
    const env = {
      ...process.env,
      HOME: this.dir,
      RABBITMQ_NODE_PORT: String(port),
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_DIST_PORT: String(dist),
      ERL_EPMD_PORT: String(epmdPort),
      RABBITMQ_NODENAME: `mf${process.pid}x${port}@localhost`,
      RABBITMQ_MNESIA_BASE: path.join(this.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: path.join(this.dir, 'log'),
      RABBITMQ_ENABLED_PLUGINS_FILE: path.join(this.dir, 'enabled_plugins'),
      RABBITMQ_CONF_ENV_FILE: path.join(this.dir, 'rabbitmq-env.conf'),
      RABBITMQ_CONFIG_FILE: path.join(this.dir, 'rabbitmq'),
      RABBITMQ_PID_FILE: path.join(this.dir, 'pid'),
    };
    // Its own process group, so stop() reaches beam.smp and its helpers.
    this.server = spawn(SERVER, [], { env, cwd: this.dir, detached: true, stdio: 'ignore' });
    const deadline = Date.now() + 60_000;
    while (!(await accepts(port))) {
      if (Date.now() > deadline || this.server.exitCode !== null) throw new Error(`rabbitmq-server did not start on ${port}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server?.pid && server.exitCode === null) {
      const done = new Promise((r) => server.once('exit', r));
      killGroup(server.pid, 'SIGTERM');
      const t = setTimeout(() => killGroup(server.pid!, 'SIGKILL'), 15_000);
      await done;
      clearTimeout(t);
      killGroup(server.pid, 'SIGKILL'); // helpers that outlived the shell
    }
    if (this.epmd?.pid && this.epmd.exitCode === null) {
      const done = new Promise((r) => this.epmd!.once('exit', r));
      this.epmd.kill('SIGTERM');
      await done;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The client's conversation: what a typical app does, plus two channel errors. */
async function conversation(port: number): Promise<void> {
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
  const ch = await conn.createChannel();
  await ch.assertQueue('orders', { durable: false });
  await ch.assertExchange('shop', 'direct', { durable: false });
  await ch.bindQueue('orders', 'shop', 'eu');
  ch.publish('shop', 'eu', Buffer.from('order #1'), { headers: { traceparent: TRACEPARENT } });
  await new Promise<void>((resolve) => {
    void ch.consume('orders', (msg) => {
      if (msg) {
        ch.ack(msg);
        resolve();
      }
    });
  });
  const bad1 = await conn.createChannel();
  bad1.on('error', () => undefined);
  await bad1.checkExchange('missing').catch(() => undefined);
  const bad2 = await conn.createChannel();
  bad2.on('error', () => undefined);
  await bad2.assertExchange('shop', 'topic', { durable: false }).catch(() => undefined);
  await ch.close();
  await conn.close();
}

maybe('AMQP against RabbitMQ and amqplib, checked with tshark', () => {
  const rabbit = new Rabbit();
  let file = '';
  let sessions: ReplayedSession[] = [];
  let frames: Array<Record<string, string[]>> = [];

  beforeAll(async () => {
    await rabbit.start();
    const cap = await captureLoopback(`tcp port ${rabbit.port}`);
    try {
      await conversation(rabbit.port);
    } finally {
      file = await cap.stop();
    }
    sessions = replayPcap(file, [spec]).sessions;
    frames = await tsharkFields(
      file,
      ['tcp.srcport', 'amqp.type', 'amqp.channel', 'amqp.method.class', 'amqp.method.method', 'amqp.method.arguments.exchange', 'amqp.method.arguments.routing_key', 'amqp.method.arguments.queue', 'amqp.method.arguments.reply_code', 'amqp.header.body-size'],
      { decodeAs: [`tcp.port==${rabbit.port},amqp`] },
    );
  }, 150_000);

  afterAll(async () => {
    await rabbit.stop();
    if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }, 60_000);

  test('every method that starts a conversation in tshark is one of our sessions, in order, with its channel and names', () => {
    // tshark: one entry per method frame (a frame may hold several); replies are not sessions of their own.
    const theirs: string[] = [];
    for (const f of frames) {
      f['amqp.method.class'].forEach((cls, i) => {
        const info = method(Number(cls), Number(f['amqp.method.method'][i]));
        if (!info || info.kind === Kind.Reply) return;
        theirs.push(`${info.name} ch${f['amqp.channel'][i]}`);
      });
    }
    const ours = sessions.map((s) => `${s.request_type} ch${s.attributes['amqp.channel']}`);
    expect(ours).toEqual(theirs);
    expect(ours).toContain('Basic.Publish ch1');
    expect(ours).toContain('Basic.Deliver ch1');
  });

  test('names, reply codes, body sizes and trace context agree with tshark', () => {
    const methodFrames = frames.flatMap((f) =>
      f['amqp.method.class'].map((cls, i) => ({
        name: method(Number(cls), Number(f['amqp.method.method'][i]))?.name,
        exchange: f['amqp.method.arguments.exchange'],
        routingKey: f['amqp.method.arguments.routing_key'],
        queue: f['amqp.method.arguments.queue'],
        replyCode: f['amqp.method.arguments.reply_code'],
        bodySize: f['amqp.header.body-size'],
      })),
    );
    const find = (name: string) => methodFrames.find((m) => m.name === name)!;
    const pub = sessions.find((s) => s.request_type === 'Basic.Publish')!;
    expect([pub.request_domain, pub.request_resource]).toEqual([find('Basic.Publish').exchange[0], find('Basic.Publish').routingKey[0]]);
    expect(pub.attributes['amqp.body_size']).toBe(frames.flatMap((f) => f['amqp.header.body-size'])[0]);
    expect([pub.trace_id, pub.span_id]).toEqual(['0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331']);
    const deliver = sessions.find((s) => s.request_type === 'Basic.Deliver')!;
    expect([deliver.request_domain, deliver.request_resource, deliver.trace_id]).toEqual(['shop', 'eu', '0af7651916cd43dd8448eb211c80319c']);
    const bind = sessions.find((s) => s.request_type === 'Queue.Bind')!;
    expect([bind.request_domain, bind.request_resource, bind.endpoint]).toEqual([find('Queue.Bind').exchange[0], find('Queue.Bind').queue[0], 'shop.eu']);
    // The channel errors: each failed declare carries the code of the Channel.Close tshark saw.
    const closes = methodFrames.filter((m) => m.name === 'Channel.Close').map((m) => Number(m.replyCode[0]));
    const failed = sessions.filter((s) => s.request_type === 'Exchange.Declare' && s.response_status === 'client_error');
    expect(failed.map((s) => s.response_code)).toEqual(closes.filter((c) => c !== 200));
    expect(failed.map((s) => s.response_code)).toEqual([404, 406]);
    expect(failed[0].response_exception).toMatch(/^NOT_FOUND - no exchange 'missing'/);
    expect(failed[1].response_exception).toMatch(/^PRECONDITION_FAILED - inequivalent arg 'type'/);
    // Every session completed: no timeouts, nothing unknown.
    expect(sessions.filter((s) => s.response_status === 'timeout' || s.response_status === 'unknown')).toEqual([]);
    console.log(`AMQP: ${sessions.length} sessions against ${methodFrames.length} method frames in tshark`);
  });
});
