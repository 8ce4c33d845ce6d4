/**
 * The autotagging processor as a component: config (Collector keys carry
 * over, every mistake reported with its path), lifecycle (one shared tagger
 * per configured id across pipelines, shutdown before start and twice),
 * custom tags by CIDR and process name from config and from a reloaded
 * file, the ends of flows and data points, and the bounded address cache.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { formatIssue } from '../../pipeline/config/schema';
import type { Attributes, Logs, Metrics } from '../../pipeline/pdata';
import { RecordingConsumer, gauge, logRecord, logs, metrics, span, testSettings } from '../internal/testing';
import { factory } from './factory';
import { DEFAULT_END_METADATA, DEFAULT_METADATA } from './config';
import { eventually, startProcessor, tagSpans, zeroCodeSpan } from './testing';

const host = { getExtension: () => undefined, getComponent: () => undefined, listComponents: () => [] };

function problems(raw: unknown): string[] {
  const { value, issues } = factory.config.parse(raw, ['processors', 'autotagging']);
  if (issues.length) return issues.map(formatIssue);
  return factory.validate!(value!).map(([p, m]) => `${p}: ${m}`);
}

describe('autotagging: config', () => {
  it('defaults: system and env detectors, process tagging on, Kubernetes by environment, the default metadata', () => {
    const d = factory.config.parseOrThrow(undefined);
    expect(d.detectors).toEqual(['system', 'env']);
    expect(d.override).toBe(false);
    expect(d.process.enabled).toBe(true);
    expect(d.auth_type).toBeUndefined();
    expect(d.extract.metadata).toEqual(DEFAULT_METADATA);
    expect(d.extract.end_metadata).toEqual(DEFAULT_END_METADATA);
    expect(d.pod_association.map((a) => a.sources.map((s) => s.name ?? s.from).join('+'))).toEqual(['k8s.pod.uid', 'k8s.pod.name+k8s.namespace.name', 'container.id', 'k8s.pod.ip', 'net.host.ip', 'host.ip', 'connection']);
    expect(factory.validate!(d)).toEqual([]);
  });

  it("accepts the Collector's k8sattributes and resourcedetection keys as they are written there", () => {
    const yaml = `
auth_type: kubeConfig
context: prod
extract:
  metadata: [k8s.pod.name, k8s.pod.uid, k8s.deployment.name, k8s.namespace.name, k8s.node.name, k8s.pod.start_time, container.image.name, container.image.tag]
  labels:
    - tag_name: app.label.component
      key: app.kubernetes.io/component
      from: pod
  annotations:
    - key_regex: opentel.*
      from: namespace
pod_association:
  - sources:
      - from: resource_attribute
        name: k8s.pod.ip
  - sources:
      - from: connection
filter:
  node_from_env_var: KUBE_NODE_NAME
  labels:
    - key: tier
      value: backend
      op: not-equals
detectors: [env, system]
timeout: 2s
system:
  hostname_sources: [os]
  resource_attributes:
    host.id: { enabled: false }
`;
    expect(problems(YAML.parse(yaml))).toEqual([]);
  });

  it('reports every schema mistake with its path', () => {
    const out = problems({ detectors: ['system', 'consul'], bogus: 1, extract: { metadata: ['k8s.pod.name', 'k8s.pod.colour'] }, kubernetes: { retry: { initial_interval: 'soon' } } });
    expect(out.map((p) => p.slice(0, p.indexOf(':', p.lastIndexOf('::') + 2)))).toEqual([
      'processors::autotagging::bogus',
      'processors::autotagging::detectors::1',
      'processors::autotagging::kubernetes::retry::initial_interval',
      'processors::autotagging::extract::metadata::1',
    ]);
    expect(out[1]).toContain('got "consul"');
  });

  it('reports every rule mistake with its path', () => {
    expect(
      problems({
        extract: { labels: [{ key: 'a', key_regex: 'b' }, { from: 'pod' }], annotations: [{ key_regex: '(unclosed' }] },
        pod_association: [{ sources: [] }, { sources: [{ from: 'resource_attribute' }] }, { sources: new Array(5).fill({ from: 'resource_attribute', name: 'k8s.pod.ip' }) }],
        kubernetes: { api_server: 'localhost:6443' },
        custom_tags: { cidrs: [{ cidr: '10.0.0.0/33', tags: { a: 'b' } }, { cidr: 'not-an-ip' }], processes: [{ tags: {} }, { name: 'x', name_regex: 'y' }] },
        process: { mask_args_regex: '(?P<x' },
      }).map((p) => p.slice(0, p.indexOf(': '))),
    ).toEqual([
      'process::mask_args_regex',
      'extract::labels::0',
      'extract::labels::1',
      'extract::annotations::0::key_regex',
      'pod_association::0::sources',
      'pod_association::1::sources::0::name',
      'pod_association::2::sources',
      'kubernetes::api_server',
      'custom_tags::cidrs::0::cidr',
      'custom_tags::cidrs::1::cidr',
      'custom_tags::processes::0',
      'custom_tags::processes::1',
    ]);
  });
});

describe('autotagging: lifecycle and signals', () => {
  it('one tagger serves every pipeline of a configured id; the last shutdown stops it; shutdown is safe before start and twice', async () => {
    const cfg = factory.config.parseOrThrow({ detectors: [], custom_tags: { cidrs: [{ cidr: '10.0.0.0/8', tags: { zone: 'a' } }] } });
    const settings = testSettings('autotagging');
    const next = [new RecordingConsumer<'traces'>(), new RecordingConsumer<'logs'>()] as const;
    const t = factory.create(settings, cfg, 'traces', next[0]);
    const l = factory.create(settings, cfg, 'logs', next[1]);
    await l.shutdown(); // before start
    await Promise.all([t.start(host), l.start(host)]);
    const tagger = (p: unknown) => (p as { tagger: unknown }).tagger;
    const first = tagger(t);
    expect(first).toBeDefined();
    expect(tagger(l)).toBe(first);
    await t.shutdown();
    await t.shutdown();
    // The logs pipeline still tags after the traces one stopped.
    const batch = logs({ scopes: [{ items: [logRecord('flow', { 'metaflow.client.ip': '10.1.2.3', 'metaflow.server.ip': '192.168.0.1' })] }] });
    await l.consume(batch);
    expect(next[1].received[0].resourceLogs[0].scopeLogs[0].logRecords[0].attributes).toMatchObject({ 'metaflow.client.zone': 'a' });
    await l.shutdown();
    // Gone with the last user: a new start builds a new tagger.
    const again = factory.create(settings, cfg, 'traces', next[0]);
    await again.start(host);
    expect(tagger(again)).toBeDefined();
    expect(tagger(again)).not.toBe(first);
    await again.shutdown();
    expect(await settings.registry.value('otelcol_processor_incoming_items_total', { otel_signal: 'logs' })).toBe(1);
    expect(await settings.registry.value('otelcol_processor_outgoing_items_total', { otel_signal: 'logs' })).toBe(1);
  });

  it('tags the ends of metric data points and log records, and their resources', async () => {
    const cidrs = [{ cidr: '10.0.0.0/8', tags: { 'net.zone': 'cluster' } }];
    const m = await startProcessor('metrics', { detectors: [], process: { enabled: false }, custom_tags: { cidrs } });
    const l = await startProcessor('logs', { detectors: [], process: { enabled: false }, custom_tags: { cidrs } });
    try {
      const mb: Metrics = metrics({ resource: { 'k8s.pod.ip': '10.9.9.9' }, scopes: [{ items: [gauge('rpc_latency', [{ 'metaflow.server.ip': '10.0.0.7', 'metaflow.client.ip': '8.8.8.8' }])] }] });
      await m.proc.consume(mb);
      const point = mb.resourceMetrics[0].scopeMetrics[0].metrics[0].data as { dataPoints: Array<{ attributes: Attributes }> };
      expect(point.dataPoints[0].attributes).toEqual({ 'metaflow.server.ip': '10.0.0.7', 'metaflow.client.ip': '8.8.8.8', 'metaflow.server.net.zone': 'cluster' });
      expect(mb.resourceMetrics[0].resource.attributes['net.zone']).toBe('cluster');
      const lb: Logs = logs({ scopes: [{ items: [logRecord('flow', { 'metaflow.client.ip': '::ffff:10.1.1.1', 'metaflow.server.ip': '1.1.1.1' })] }] });
      await l.proc.consume(lb);
      expect(lb.resourceLogs[0].scopeLogs[0].logRecords[0].attributes['metaflow.client.net.zone']).toBe('cluster');
    } finally {
      await m.proc.shutdown();
      await l.proc.shutdown();
    }
  });
});

describe('autotagging: custom tags', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaflow-tags-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('by CIDR on both ends (the longest prefix wins, IPv6 too) and by process name on the resource', async () => {
    const h = await startProcessor('traces', {
      detectors: [],
      process: { enabled: false },
      custom_tags: {
        cidrs: [
          { cidr: '10.0.0.0/8', tags: { zone: 'dc', tier: 'any' } },
          { cidr: '10.1.0.0/16', tags: { zone: 'dc-eu' } },
          { cidr: 'fd00::/8', tags: { zone: 'v6' } },
        ],
        processes: [
          { name: 'nginx', tags: { role: 'edge' } },
          { name_regex: '^redis', tags: { role: 'cache', team: 'data' } },
        ],
      },
    });
    try {
      const out = await tagSpans(h, { 'process.executable.name': 'redis-check-rdb' }, [zeroCodeSpan('10.1.2.3', 'fd00::1'), zeroCodeSpan('10.2.0.1', '192.168.1.1')]);
      const [a, b] = out.resourceSpans[0].scopeSpans[0].spans.map((s) => s.attributes);
      expect(a).toMatchObject({ 'metaflow.client.zone': 'dc-eu', 'metaflow.client.tier': 'any', 'metaflow.server.zone': 'v6' });
      expect(b).toMatchObject({ 'metaflow.client.zone': 'dc', 'metaflow.client.tier': 'any' });
      expect(Object.keys(b).filter((k) => k.startsWith('metaflow.server.') && !/\.(ip|port)$/.test(k))).toEqual([]);
      expect(out.resourceSpans[0].resource.attributes).toMatchObject({ role: 'cache', team: 'data' });
      const edge = await tagSpans(h, { 'process.executable.name': 'nginx', role: 'mine' }, [span('s')]);
      expect(edge.resourceSpans[0].resource.attributes.role).toBe('mine');
    } finally {
      await h.proc.shutdown();
    }
  });

  it('from a file reloaded when it changes; a broken file keeps the previous tags', async () => {
    const file = path.join(dir, 'tags.yaml');
    fs.writeFileSync(file, 'cidrs:\n  - cidr: 10.0.0.0/8\n    tags: { owner: team-a }\n');
    const h = await startProcessor('traces', { detectors: [], process: { enabled: false }, custom_tags: { file, reload_interval: '20ms', cidrs: [{ cidr: '192.168.0.0/16', tags: { site: 'lab' } }] } });
    const owner = async () => (await tagSpans(h, {}, [zeroCodeSpan('10.0.0.1', '192.168.1.1')])).resourceSpans[0].scopeSpans[0].spans[0].attributes;
    try {
      expect(await owner()).toMatchObject({ 'metaflow.client.owner': 'team-a', 'metaflow.server.site': 'lab' });
      // Replaced by rename, as ConfigMap volumes and editors do.
      fs.writeFileSync(file + '.new', JSON.stringify({ cidrs: [{ cidr: '10.0.0.0/8', tags: { owner: 'team-b' } }] }));
      fs.renameSync(file + '.new', file);
      await eventually('the new file', async () => (await owner())['metaflow.client.owner'] === 'team-b');
      fs.writeFileSync(file + '.bad', 'cidrs: [{ cidr: 10.0.0.0/99 }]\n');
      fs.renameSync(file + '.bad', file);
      await eventually('the bad file counted', () => h.metric('metaflow_autotagging_custom_tags_reloads_total', { result: 'error' }).then((n) => n >= 1));
      expect(await owner()).toMatchObject({ 'metaflow.client.owner': 'team-b', 'metaflow.server.site': 'lab' });
      expect(await h.metric('metaflow_autotagging_custom_tags_reloads_total', { result: 'ok' })).toBe(2);
    } finally {
      await h.proc.shutdown();
    }
  });

  it('remembers at most endpoint_cache_size addresses, counting evictions', async () => {
    const h = await startProcessor('traces', { detectors: [], process: { enabled: false }, endpoint_cache_size: 2, custom_tags: { cidrs: [{ cidr: '0.0.0.0/0', tags: { seen: 'yes' } }] } });
    try {
      for (const ip of ['1.1.1.1', '2.2.2.2', '3.3.3.3']) await tagSpans(h, {}, [zeroCodeSpan(ip, ip)]);
      expect(await h.metric('metaflow_autotagging_cache_size', { cache: 'endpoint' })).toBe(2);
      expect(await h.metric('metaflow_autotagging_cache_evictions_total', { cache: 'endpoint', reason: 'capacity' })).toBe(1);
      const out = await tagSpans(h, {}, [zeroCodeSpan('1.1.1.1', '3.3.3.3')]);
      expect(out.resourceSpans[0].scopeSpans[0].spans[0].attributes).toMatchObject({ 'metaflow.client.seen': 'yes', 'metaflow.server.seen': 'yes' });
    } finally {
      await h.proc.shutdown();
    }
  });
});
