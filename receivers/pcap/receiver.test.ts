/**
 * The pcap receiver without live capture: config, file mode over real
 * captures (spans, flow logs, network metrics and self-metrics), the
 * tcpdump stream parser, and every bad input a file or a stream can bring.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatIssue } from '../../pipeline/config/schema';
import { RetryableError } from '../../pipeline/errors';
import { StatusCode } from '../../pipeline/pdata';
import { FLOW_ATTR, FLOW_LOG_EVENT } from '../../protocols/flow/signals';
import { PROTOCOLS } from '../../protocols/index';
import { CaptureReader, LinkType } from '../../protocols/packet/pcap';
import { replayPcap } from '../../protocols/testing/replay';
import { buildPacket, pcapBytes, writePcap } from '../../protocols/testing/pcap-writer';
import { defaultInterfaces, PcapStreamParser } from './capture';
import { config, validate } from './config';
import { makeReceiver, metricSum } from './testing';
import { conformancePath } from '../../protocols/testing/conformance';

const FG = conformancePath('deepflow/flow_generator');
const REDIS = path.join(FG, 'redis/redis.pcap');
const MYSQL = path.join(FG, 'mysql/171-mysql.pcap');

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-pcap-rx-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** xorshift32. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

describe('pcap receiver config', () => {
  test('defaults: every up non-loopback interface, kernel filter off, 65535-byte snaplen, promiscuous, 16 MiB buffer, every signal', () => {
    const cfg = config.parseOrThrow(undefined);
    expect(cfg).toMatchObject({
      interfaces: [],
      file: '',
      engine: 'auto',
      bpf_filter: '',
      snaplen: 65535,
      promiscuous: true,
      buffer_size_mib: 16,
      max_flows: 65536,
      flow_logs: { enabled: true, interval: 60000 },
      network_metrics: { enabled: true, per_second: true, per_minute: true },
      l7: { enabled: true, protocols: [] },
      fail_on_unavailable: false,
    });
    expect(validate(cfg)).toEqual([]);
  });

  test('bad values and unknown keys are reported with their paths', () => {
    const { issues } = config.parse({ snaplen: 10, buffer_size_mib: 0, interfaces: 'eth0', timeouts: { idle: '1s' }, engine: 'pf_ring' }, ['receivers', 'pcap']);
    expect(issues.map(formatIssue).sort()).toEqual([
      expect.stringMatching(/^receivers::pcap::buffer_size_mib: must be at least 1/),
      expect.stringMatching(/^receivers::pcap::engine: /),
      expect.stringMatching(/^receivers::pcap::interfaces: /),
      expect.stringMatching(/^receivers::pcap::snaplen: must be at least 64/),
      expect.stringMatching(/^receivers::pcap::timeouts::idle: unknown key/),
    ]);
  });

  test('cross-field checks: file and interfaces, any with others, duplicates, promiscuous off with cap', () => {
    expect(validate(config.parseOrThrow({ file: 'x.pcap', interfaces: ['lo'] }))).toEqual([['file', 'read a file or capture on interfaces, not both']]);
    expect(validate(config.parseOrThrow({ interfaces: ['any', 'lo'] }))).toEqual([['interfaces', '"any" already captures every interface; list it alone']]);
    expect(validate(config.parseOrThrow({ interfaces: ['lo', 'lo'] }))).toEqual([['interfaces::1', '"lo" is listed twice']]);
    expect(validate(config.parseOrThrow({ interfaces: ['eth 0'] }))).toEqual([['interfaces::0', '"eth 0" is not an interface name']]);
    expect(validate(config.parseOrThrow({ engine: 'cap', promiscuous: false }))).toEqual([['promiscuous', expect.stringContaining('engine: tcpdump')]]);
  });

  test('the default interfaces are the up, non-loopback ones', () => {
    const sys = path.join(dir, 'sys-class-net');
    const mk = (name: string, flags: string) => {
      fs.mkdirSync(path.join(sys, name), { recursive: true });
      fs.writeFileSync(path.join(sys, name, 'flags'), `${flags}\n`);
    };
    mk('lo', '0x9');
    mk('eth0', '0x1003');
    mk('eth1', '0x1002');
    mk('wlan0', '0x1003');
    fs.mkdirSync(path.join(sys, 'broken'));
    expect(defaultInterfaces(sys)).toEqual(['eth0', 'wlan0']);
    expect(defaultInterfaces(path.join(dir, 'nowhere'))).toEqual([]);
    // This host: whatever it has, loopback is never among the defaults.
    expect(defaultInterfaces()).not.toContain('lo');
  });
});

describe('pcap receiver reading a file', () => {
  test.each([
    ['redis', REDIS, 'Redis'],
    ['mysql', MYSQL, 'MySQL'],
  ])('%s capture: one span per session the replay harness finds, with flow logs and network metrics that add up', async (_name, file, protocol) => {
    const h = makeReceiver({ file, flow_logs: { interval: '1s' } });
    await h.receiver.start();
    await h.receiver.whenFileDone();
    const expected = replayPcap(file, PROTOCOLS);
    const st = h.receiver.stats();
    expect(st.fileDone).toBe(true);
    expect(st.packets).toBe(expected.packets);
    expect(h.spans.length).toBe(expected.sessions.length);
    expect(h.spans.length).toBeGreaterThan(5);
    expect(new Set(h.spans.map((s) => s.attributes['metaflow.l7_protocol']))).toEqual(new Set([protocol]));
    expect(h.spans.every((s) => s.attributes['metaflow.signal_source'] === 'packet')).toBe(true);
    expect(h.spans.map((s) => s.startTimeUnixNano).sort()).toEqual(expected.sessions.map((s) => s.start_time).sort());
    // Spans are grouped by the server endpoint they went to.
    expect(h.spanResources.every((r, i) => r['service.name'] === `${String(h.spans[i].attributes['metaflow.server.ip'])}:${String(h.spans[i].attributes['metaflow.server.port'])}`)).toBe(true);
    // Flow logs: every flow closes once; their packets add up to the TCP/UDP packets of the file.
    expect(h.logs.every((l) => l.eventName === FLOW_LOG_EVENT)).toBe(true);
    const finals = h.logs.filter((l) => l.attributes[`${FLOW_ATTR}closed`] === true);
    expect(finals.length).toBe(st.flowsCreated);
    expect(st.flowsClosed).toBe(st.flowsCreated);
    const logPackets = h.logs.reduce((n, l) => n + Number(l.attributes[`${FLOW_ATTR}client_packets`] ?? 0) + Number(l.attributes[`${FLOW_ATTR}server_packets`] ?? 0), 0);
    const dropped = Object.values(st.decodeDrops).reduce((a, b) => a + b, 0);
    expect(logPackets).toBe(st.packets - dropped);
    // Network metrics per second and per minute carry the same packets.
    const perSecond = metricSum(h.metrics, 'metaflow.network.packets', { 'metaflow.granularity': '1s' });
    const perMinute = metricSum(h.metrics, 'metaflow.network.packets', { 'metaflow.granularity': '1m' });
    expect([perSecond, perMinute]).toEqual([logPackets, logPackets]);
    expect(metricSum(h.metrics, 'metaflow.network.flows.new', {})).toBe(2 * st.flowsCreated);
    // Self-metrics on the Prometheus endpoint.
    expect(await h.telemetry.value('metaflow_pcap_packets_total', { interface: 'file' })).toBe(st.packets);
    expect(await h.telemetry.value('metaflow_pcap_flows_created_total')).toBe(st.flowsCreated);
    expect(await h.telemetry.value('otelcol_receiver_accepted_spans_total')).toBe(h.spans.length);
    await h.receiver.shutdown();
    await h.receiver.shutdown();
  });

  test('only the signals some pipeline takes are produced', async () => {
    const h = makeReceiver({ file: REDIS }, { signals: ['logs'] });
    await h.receiver.start();
    await h.receiver.whenFileDone();
    expect(h.batches).toEqual({ traces: 0, logs: expect.any(Number), metrics: 0 });
    expect(h.logs.length).toBeGreaterThan(0);
    expect(h.receiver.stats().spans).toBe(0);
    await h.receiver.shutdown();
  });

  test('l7.protocols limits parsing to the listed protocols', async () => {
    const h = makeReceiver({ file: REDIS, l7: { protocols: ['mysql'] } });
    await h.receiver.start();
    await h.receiver.whenFileDone();
    expect(h.spans).toEqual([]);
    expect(h.logs.length).toBeGreaterThan(0);
    await h.receiver.shutdown();
  });

  test('a pipeline that pushes back slows the reading down and loses nothing; one that refuses for good is counted', async () => {
    let refusals = 0;
    const slow = makeReceiver(
      { file: REDIS },
      {
        gate: () => {
          if (refusals++ % 2 === 0) throw new RetryableError('exhausted', 'queue full', { retryAfterMs: 1 });
        },
      },
    );
    await slow.receiver.start();
    await slow.receiver.whenFileDone();
    expect(refusals).toBeGreaterThan(2);
    expect(slow.spans.length).toBe(replayPcap(REDIS, PROTOCOLS).sessions.length);
    expect(slow.receiver.stats().dropped).toEqual({ traces: 0, metrics: 0, logs: 0 });
    await slow.receiver.shutdown();

    const refusing = makeReceiver({ file: REDIS }, { gate: () => Promise.reject(new Error('no')) });
    await refusing.receiver.start();
    await refusing.receiver.whenFileDone();
    const st = refusing.receiver.stats();
    expect(st.dropped.traces).toBe(st.spans);
    expect(st.dropped.logs).toBe(st.flowLogs);
    expect(st.spans).toBeGreaterThan(0);
    expect(await refusing.telemetry.value('otelcol_receiver_refused_spans_total')).toBe(st.spans);
    await refusing.receiver.shutdown();
  });

  test('shutdown before start, and twice, is safe', async () => {
    const h = makeReceiver({ file: REDIS });
    await h.receiver.shutdown();
    await h.receiver.shutdown();
    expect(h.spans).toEqual([]);
  });
});

describe('pcap receiver with bad input', () => {
  test('a file that is not a capture, an empty file and a missing file: unavailable with the reason, or a startup failure when asked', async () => {
    const text = path.join(dir, 'notes.pcap');
    fs.writeFileSync(text, 'GET / HTTP/1.1\r\n\r\n'.repeat(20));
    const empty = path.join(dir, 'empty.pcap');
    fs.writeFileSync(empty, '');
    for (const file of [text, empty, path.join(dir, 'missing.pcap')]) {
      const h = makeReceiver({ file });
      await h.receiver.start();
      const st = h.receiver.stats();
      expect(st.unavailable).toMatch(new RegExp(`^cannot read ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .+`));
      expect(h.lines.some((l) => l.includes('pcap receiver unavailable'))).toBe(true);
      expect(await h.telemetry.value('metaflow_pcap_up')).toBe(0);
      await h.receiver.shutdown();
      const strict = makeReceiver({ file, fail_on_unavailable: true });
      await expect(strict.receiver.start()).rejects.toMatchObject({ code: 'ERR_CAPTURE' });
      await strict.receiver.shutdown();
    }
  });

  test('a capture cut inside a packet: everything before the cut is reported', async () => {
    const whole = fs.readFileSync(MYSQL);
    const cut = path.join(dir, 'cut.pcap');
    fs.writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2) + 7));
    const h = makeReceiver({ file: cut });
    await h.receiver.start();
    await h.receiver.whenFileDone();
    const before = replayPcap(cut, PROTOCOLS).sessions.length;
    expect(h.spans.length).toBe(before);
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(replayPcap(MYSQL, PROTOCOLS).sessions.length);
    expect(h.lines.some((l) => /pcap receiver read the file/.test(l) && /truncated.*true/.test(l))).toBe(true);
    await h.receiver.shutdown();
  });

  test('random, truncated and bit-flipped packets in a file are counted by reason and dropped; the receiver goes on', async () => {
    const rand = rng(7);
    const packets = [];
    const seed = buildPacket({ src: '10.1.0.1', dst: '10.1.0.2', protocol: 'tcp', sport: 40000, dport: 6379, seq: 1, ack: 1, flags: 'PA', payload: new TextEncoder().encode('*1\r\n$4\r\nPING\r\n') });
    for (let i = 0; i < 20000; i++) {
      let data: Uint8Array;
      if (i % 3 === 0) {
        data = new Uint8Array(Math.floor(rand() * 120));
        for (let j = 0; j < data.length; j++) data[j] = rand() * 256;
      } else if (i % 3 === 1) {
        data = seed.slice(0, Math.floor(rand() * seed.length));
      } else {
        data = seed.slice();
        for (let k = 0; k < 4; k++) data[Math.floor(rand() * data.length)] = rand() * 256;
      }
      packets.push({ tsNs: 1_700_000_000_000_000_000n + BigInt(i) * 1_000_000n, data });
    }
    const file = path.join(dir, 'fuzz.pcap');
    writePcap(file, packets);
    const h = makeReceiver({ file, flow_logs: { interval: '1s' } });
    await h.receiver.start();
    await h.receiver.whenFileDone();
    const st = h.receiver.stats();
    expect(st.packets).toBe(20000);
    const dropped = Object.values(st.decodeDrops).reduce((a, b) => a + b, 0);
    expect(dropped).toBeGreaterThan(5000);
    expect(st.flowsCreated).toBeGreaterThan(0);
    expect(await h.telemetry.value('metaflow_pcap_decode_dropped_packets_total')).toBe(dropped);
    expect(await h.telemetry.value('metaflow_pcap_internal_errors_total')).toBe(0);
    // What did decode made flows, and the flows were reported.
    expect(h.logs.filter((l) => l.attributes[`${FLOW_ATTR}closed`] === true).length).toBe(st.flowsCreated);
    await h.receiver.shutdown();
  });
});

describe('the tcpdump stream parser', () => {
  const file = REDIS;
  const bytes = new Uint8Array(fs.readFileSync(file));

  function collect(chunks: Uint8Array[]): { parser: PcapStreamParser; records: string[] } {
    const records: string[] = [];
    const parser = new PcapStreamParser((buf, off, len, sec, frac, orig, link) => {
      // Copy what identifies the record: the bytes are only valid during the call.
      records.push(`${sec}.${frac}/${orig}/${link}/${Buffer.from(buf.subarray(off, off + len)).toString('base64')}`);
    });
    for (const c of chunks) parser.push(c);
    return { parser, records };
  }

  test('a pcap stream in chunks of every size gives the packets the file reader gives', () => {
    const reader = CaptureReader.readFile(file);
    const want: string[] = [];
    for (let p = reader.next(); p; p = reader.next()) want.push(`${p.tsSec}.${p.tsNsFrac}/${p.origLen}/${p.linkType}/${Buffer.from(p.data).toString('base64')}`);
    for (const size of [1, 7, 16, 24, 1000, 65536, bytes.length]) {
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.slice(i, i + size));
      const { parser, records } = collect(chunks);
      expect([size, parser.error]).toEqual([size, '']);
      expect(records).toEqual(want);
    }
  });

  test('nanosecond and big-endian streams', () => {
    const data = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 'udp', sport: 1, dport: 53, payload: new Uint8Array(4) });
    for (const opts of [{ nanos: true }, { bigEndian: true }, { nanos: true, bigEndian: true }]) {
      const stream = pcapBytes([{ tsNs: 1_700_000_000_123_456_789n, data }], opts);
      const { records, parser } = collect([stream]);
      expect(parser.error).toBe('');
      expect(records).toHaveLength(1);
      expect(records[0].startsWith(opts.nanos ? '1700000000.123456789/' : '1700000000.123456000/')).toBe(true);
      expect(parser.linkType).toBe(LinkType.ETHERNET);
    }
  });

  test('a stream that is not pcap stops with an error; an impossible record length too; random chunks never throw', () => {
    const text = collect([new TextEncoder().encode('tcpdump: eth9: No such device exists\n(SIOCGIFHWADDR: No such device)\n')]);
    expect(text.parser.error).toMatch(/^not a pcap stream \(magic 0x/);
    expect(text.records).toEqual([]);
    const header = bytes.slice(0, 24);
    const bad = new Uint8Array(16);
    new DataView(bad.buffer).setUint32(8, 0x7fffffff, true);
    const huge = collect([header, bad]);
    expect(huge.parser.error).toBe('impossible record length 2147483647');
    const rand = rng(99);
    for (let round = 0; round < 200; round++) {
      const chunks: Uint8Array[] = [header];
      for (let i = 0; i < 20; i++) {
        const c = new Uint8Array(Math.floor(rand() * 300));
        for (let j = 0; j < c.length; j++) c[j] = rand() * 256;
        chunks.push(c);
      }
      expect(() => collect(chunks)).not.toThrow();
    }
  });
});

describe('span contents from a file', () => {
  test('Redis spans carry the database conventions and the metaflow fields; errors are errors', async () => {
    const h = makeReceiver({ file: REDIS }, { signals: ['traces'] });
    await h.receiver.start();
    await h.receiver.whenFileDone();
    const s = h.spans[0];
    expect(s.attributes).toMatchObject({ 'db.system': 'redis', 'metaflow.signal_source': 'packet', 'metaflow.l7_protocol': 'Redis', 'network.transport': 'tcp' });
    expect(typeof s.attributes['metaflow.flow.id']).toBe('number');
    const errors = h.spans.filter((x) => x.attributes['metaflow.response_status'] === 'server_error');
    for (const e of errors) expect(e.status.code).toBe(StatusCode.ERROR);
    await h.receiver.shutdown();
  });
});
