/**
 * Host facts: the system detector against this machine (expected values
 * from `hostname`, `ip`, `uname` and the machine id file), the env detector,
 * the cloud detectors against metadata services on loopback, and how host
 * facts land on resources (inserted, never overwriting unless `override`).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { span } from '../internal/testing';
import { configSchema } from './config';
import { detectHost, parseResourceAttributes } from './host';
import { startProcessor, tagSpans } from './testing';

const cfg = (raw: unknown) => configSchema.parseOrThrow(raw);
const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' }).trim();

/** A cloud metadata service on loopback that answers fixed paths and records the headers it was sent. */
async function metadataServer(routes: Record<string, { body: string; method?: string; header?: [string, string] }>) {
  const seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }> = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const r = routes[req.url ?? ''];
    if (!r || (r.method ?? 'GET') !== req.method || (r.header && req.headers[r.header[0].toLowerCase()] !== r.header[1])) return void res.writeHead(404).end();
    res.writeHead(200).end(r.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('autotagging: host detection', () => {
  it('system: host.name by source, host.id, host.arch, host.ip, os.*; host.mac only when enabled', async () => {
    const { attributes, problems } = await detectHost(cfg({ detectors: ['system'], system: { hostname_sources: ['os'], resource_attributes: { 'host.mac': { enabled: true } } } }), {});
    expect(problems).toEqual([]);
    expect(attributes['host.name']).toBe(sh('hostname'));
    expect(attributes['host.id']).toBe(fs.readFileSync('/etc/machine-id', 'utf8').trim());
    expect(attributes['host.arch']).toBe(sh('uname', '-m') === 'x86_64' ? 'amd64' : sh('uname', '-m'));
    expect(attributes['os.type']).toBe('linux');
    expect(attributes['os.description']).toContain(sh('uname', '-r'));
    expect(attributes['os.description']).toContain(/^PRETTY_NAME="(.*)"$/m.exec(fs.readFileSync('/etc/os-release', 'utf8'))![1]);
    // Every global address `ip` lists, no loopback, no link-local.
    const addrs = sh('ip', '-o', 'addr')
      .split('\n')
      .map((l) => l.split(/\s+/))
      .filter((f) => f[1] !== 'lo');
    const global = addrs.filter((f) => !f[3].startsWith('fe80:')).map((f) => f[3].split('/')[0]);
    expect([...(attributes['host.ip'] as string[])].sort()).toEqual([...new Set(global)].sort());
    // The MACs of the interfaces that have addresses (those are the ones the host is reached by).
    const macs = [...new Set(addrs.map((f) => f[1]))].map((n) => fs.readFileSync(`/sys/class/net/${n}/address`, 'utf8').trim().toUpperCase().replace(/:/g, '-'));
    expect([...(attributes['host.mac'] as string[])].sort()).toEqual(macs.sort());
    const off = await detectHost(cfg({ detectors: ['system'], system: { resource_attributes: { 'host.ip': { enabled: false }, 'host.id': { enabled: false } } } }), {});
    expect(off.attributes['host.ip']).toBeUndefined();
    expect(off.attributes['host.id']).toBeUndefined();
    expect(off.attributes['host.mac']).toBeUndefined();
  });

  it('system: the dns source gives the FQDN as `hostname -f` does', async () => {
    const { attributes } = await detectHost(cfg({ detectors: ['system'], system: { hostname_sources: ['dns', 'os'] } }), {});
    expect(attributes['host.name']).toBe(sh('hostname', '-f'));
  });

  it('env: OTEL_RESOURCE_ATTRIBUTES, percent-decoded; the first detector listed wins', async () => {
    expect(parseResourceAttributes('a=1, b = x%2Cy ,bad,=v,c=%E2%9C%93')).toEqual({ a: '1', b: 'x,y', c: '✓' });
    const env = { OTEL_RESOURCE_ATTRIBUTES: 'host.name=from-env,deployment.environment.name=prod' };
    const envFirst = await detectHost(cfg({ detectors: ['env', 'system'], system: { hostname_sources: ['os'] } }), env);
    expect(envFirst.attributes).toMatchObject({ 'host.name': 'from-env', 'deployment.environment.name': 'prod' });
    const systemFirst = await detectHost(cfg({ detectors: ['system', 'env'], system: { hostname_sources: ['os'] } }), env);
    expect(systemFirst.attributes['host.name']).toBe(sh('hostname'));
  });

  it('ec2 (IMDSv2 token, then the identity document), gcp and azure from their metadata services', async () => {
    const ec2 = await metadataServer({
      '/latest/api/token': { method: 'PUT', body: 'TOKEN123', header: ['X-aws-ec2-metadata-token-ttl-seconds', '60'] },
      '/latest/dynamic/instance-identity/document': {
        header: ['X-aws-ec2-metadata-token', 'TOKEN123'],
        body: JSON.stringify({ accountId: '123456789012', availabilityZone: 'eu-west-1b', region: 'eu-west-1', instanceId: 'i-0abc', imageId: 'ami-5fb8c835', instanceType: 't3.medium', privateIp: '10.0.0.5' }),
      },
      '/latest/meta-data/hostname': { header: ['X-aws-ec2-metadata-token', 'TOKEN123'], body: 'ip-10-0-0-5.eu-west-1.compute.internal' },
    });
    const gcp = await metadataServer({
      '/computeMetadata/v1/project/project-id': { header: ['Metadata-Flavor', 'Google'], body: 'shop-prod' },
      '/computeMetadata/v1/instance/id': { header: ['Metadata-Flavor', 'Google'], body: '4520031799277581759' },
      '/computeMetadata/v1/instance/name': { header: ['Metadata-Flavor', 'Google'], body: 'gke-node-1' },
      '/computeMetadata/v1/instance/machine-type': { header: ['Metadata-Flavor', 'Google'], body: 'projects/233510669999/machineTypes/e2-medium' },
      '/computeMetadata/v1/instance/zone': { header: ['Metadata-Flavor', 'Google'], body: 'projects/233510669999/zones/us-central1-a' },
    });
    const azure = await metadataServer({
      '/metadata/instance/compute?api-version=2021-02-01&format=json': {
        header: ['Metadata', 'true'],
        body: JSON.stringify({ location: 'westeurope', name: 'vm-1', vmId: '02aab8a4-74ef-476e-8182-f6d2ba4166a6', vmSize: 'Standard_D2s_v3', subscriptionId: 'sub-1', resourceGroupName: 'rg-shop', vmScaleSetName: '' }),
      },
    });
    try {
      const run = (d: string, endpoint: string) => detectHost(cfg({ detectors: [d], [d]: { endpoint } }), {});
      expect((await run('ec2', ec2.url)).attributes).toEqual({
        'cloud.provider': 'aws',
        'cloud.platform': 'aws_ec2',
        'cloud.account.id': '123456789012',
        'cloud.region': 'eu-west-1',
        'cloud.availability_zone': 'eu-west-1b',
        'host.id': 'i-0abc',
        'host.image.id': 'ami-5fb8c835',
        'host.type': 't3.medium',
        'host.name': 'ip-10-0-0-5.eu-west-1.compute.internal',
      });
      expect(ec2.seen[0].method).toBe('PUT');
      expect((await run('gcp', gcp.url)).attributes).toEqual({
        'cloud.provider': 'gcp',
        'cloud.platform': 'gcp_compute_engine',
        'cloud.account.id': 'shop-prod',
        'cloud.availability_zone': 'us-central1-a',
        'cloud.region': 'us-central1',
        'host.id': '4520031799277581759',
        'host.name': 'gke-node-1',
        'host.type': 'e2-medium',
      });
      expect((await run('azure', azure.url)).attributes).toEqual({
        'cloud.provider': 'azure',
        'cloud.platform': 'azure_vm',
        'cloud.region': 'westeurope',
        'cloud.account.id': 'sub-1',
        'host.id': '02aab8a4-74ef-476e-8182-f6d2ba4166a6',
        'host.name': 'vm-1',
        'host.type': 'Standard_D2s_v3',
        'azure.vm.size': 'Standard_D2s_v3',
        'azure.resourcegroup.name': 'rg-shop',
      });
    } finally {
      await Promise.all([ec2.close(), gcp.close(), azure.close()]);
    }
  });

  it('a cloud detector that fails or hangs is skipped within the timeout; the others still apply', async () => {
    const hang = http.createServer(() => undefined);
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
    const port = (hang.address() as AddressInfo).port;
    try {
      const t0 = Date.now();
      const { attributes, problems } = await detectHost(cfg({ detectors: ['ec2', 'gcp', 'env'], timeout: '300ms', ec2: { endpoint: `http://127.0.0.1:${port}` }, gcp: { endpoint: 'http://127.0.0.1:1' } }), { OTEL_RESOURCE_ATTRIBUTES: 'a=b' });
      // The hanging endpoint never answers: finishing at all shows the timeout applied (generous bound: a loaded machine).
      expect(Date.now() - t0).toBeLessThan(20_000);
      expect(attributes).toEqual({ a: 'b' });
      expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['ec2', 'gcp']);
    } finally {
      hang.closeAllConnections();
      await new Promise<void>((resolve) => hang.close(() => resolve()));
    }
  });

  it('host facts go on resources only where absent (override: true replaces)', async () => {
    const h = await startProcessor('traces', { detectors: ['system'], system: { hostname_sources: ['os'] }, process: { enabled: false } });
    const h2 = await startProcessor('traces', { detectors: ['system'], override: true, system: { hostname_sources: ['os'] }, process: { enabled: false } });
    try {
      const res = async (harness: typeof h, r: Record<string, string>) => (await tagSpans(harness, r, [span('s')])).resourceSpans[0].resource.attributes;
      const plain = await res(h, { 'service.name': 'svc' });
      expect(plain['host.name']).toBe(sh('hostname'));
      expect(plain['os.type']).toBe('linux');
      expect(Array.isArray(plain['host.ip'])).toBe(true);
      expect((await res(h, { 'host.name': 'app-says' }))['host.name']).toBe('app-says');
      expect((await res(h2, { 'host.name': 'app-says' }))['host.name']).toBe(sh('hostname'));
      // Arrays are copied per resource, so one resource's edit never shows up in another.
      const a = await res(h, {});
      const b = await res(h, {});
      expect(a['host.ip']).not.toBe(b['host.ip']);
    } finally {
      await h.proc.shutdown();
      await h2.proc.shutdown();
    }
  });
});
