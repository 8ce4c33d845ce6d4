/**
 * Host facts, found once at start: the `system` detector (host.name from the
 * configured sources, host.id from the machine id, host.arch, host.ip,
 * host.mac, os.type, os.description), the `env` detector
 * (OTEL_RESOURCE_ATTRIBUTES) and the cloud metadata services (`ec2`, `gcp`,
 * `azure`), named and ordered as in the Collector's resourcedetection
 * processor: when two detectors set one attribute, the one listed first wins.
 * A detector that fails or runs past the timeout is reported and skipped;
 * detection never fails the start.
 */
import dns from 'node:dns/promises';
import fs from 'node:fs/promises';
import os from 'node:os';
import type { AnyValue, Attributes } from '../../pipeline/pdata';
import type { AutoTaggingConfig, Detector } from './config';

/** What detection found, and what went wrong (one line per failed detector). */
export interface HostFacts {
  attributes: Attributes;
  problems: string[];
}

/** Files and functions the system detector reads; replaceable in tests. */
export interface SystemSources {
  hostname(): string;
  machineIdFiles: readonly string[];
  osReleaseFile: string;
  hostsFile: string;
  networkInterfaces(): NodeJS.Dict<os.NetworkInterfaceInfo[]>;
}

const realSources: SystemSources = {
  hostname: () => os.hostname(),
  machineIdFiles: ['/etc/machine-id', '/var/lib/dbus/machine-id'],
  osReleaseFile: '/etc/os-release',
  hostsFile: '/etc/hosts',
  networkInterfaces: () => os.networkInterfaces(),
};

/** Runs the configured detectors; resolves within `cfg.timeout` (late detectors count as failed). */
export async function detectHost(cfg: AutoTaggingConfig, env: NodeJS.ProcessEnv = process.env, sources: SystemSources = realSources): Promise<HostFacts> {
  const problems: string[] = [];
  const abort = new AbortController();
  const results = new Array<Attributes | undefined>(cfg.detectors.length);
  const runs = cfg.detectors.map(async (d, i) => {
    try {
      results[i] = await runDetector(d, cfg, env, sources, abort.signal);
    } catch (err) {
      if (!abort.signal.aborted) problems.push(`${d}: ${(err as Error).message}`);
    }
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, cfg.timeout);
  });
  await Promise.race([Promise.all(runs), timedOut]);
  clearTimeout(timer);
  abort.abort();
  cfg.detectors.forEach((d, i) => {
    if (results[i] === undefined && !problems.some((p) => p.startsWith(`${d}:`))) problems.push(`${d}: no answer within ${cfg.timeout}ms`);
  });
  const attributes: Attributes = {};
  for (const r of results) {
    if (!r) continue;
    for (const k in r) if (!(k in attributes)) attributes[k] = r[k];
  }
  return { attributes, problems };
}

function runDetector(d: Detector, cfg: AutoTaggingConfig, env: NodeJS.ProcessEnv, sources: SystemSources, signal: AbortSignal): Promise<Attributes> {
  switch (d) {
    case 'system':
      return detectSystem(cfg.system, sources);
    case 'env':
      return Promise.resolve(parseResourceAttributes(env.OTEL_RESOURCE_ATTRIBUTES ?? ''));
    case 'ec2':
      return detectEc2(cfg.ec2.endpoint, signal);
    case 'gcp':
      return detectGcp(cfg.gcp.endpoint, signal);
    default:
      return detectAzure(cfg.azure.endpoint, signal);
  }
}

/**
 * OTEL_RESOURCE_ATTRIBUTES: `key=value` pairs separated by commas, values
 * percent-decoded (the SDK environment specification). Malformed pairs are
 * skipped, as the SDKs do.
 */
export function parseResourceAttributes(text: string): Attributes {
  const out: Attributes = {};
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const key = pair.slice(0, eq).trim();
    let value = pair.slice(eq + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      continue;
    }
    if (key && key !== '__proto__') out[key] = value;
  }
  return out;
}

/** OTel's host.arch values for Node's `os.arch()`. */
const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm32', ia32: 'x86', ppc64: 'ppc64', ppc: 'ppc32', s390x: 's390x' };
/** OTel's os.type values for Node's `process.platform`. */
const OS_TYPE: Record<string, string> = { linux: 'linux', darwin: 'darwin', win32: 'windows', freebsd: 'freebsd', openbsd: 'openbsd', netbsd: 'netbsd', aix: 'aix', sunos: 'solaris' };

async function detectSystem(cfg: AutoTaggingConfig['system'], src: SystemSources): Promise<Attributes> {
  const want = cfg.resource_attributes;
  const a: Attributes = {};
  const ifaces = src.networkInterfaces();
  const ips: string[] = [];
  const macs: string[] = [];
  for (const list of Object.values(ifaces)) {
    for (const i of list ?? []) {
      if (i.internal) continue;
      if (!(i.family === 'IPv6' && i.address.startsWith('fe80:')) && !ips.includes(i.address)) ips.push(i.address);
      const mac = i.mac.toUpperCase().replace(/:/g, '-');
      if (mac !== '00-00-00-00-00-00' && !macs.includes(mac)) macs.push(mac);
    }
  }
  if (want['host.name'].enabled) {
    const name = await hostname(cfg.hostname_sources, src, ips);
    if (name) a['host.name'] = name;
  }
  if (want['host.id'].enabled) {
    const id = await machineId(src.machineIdFiles);
    if (id) a['host.id'] = id;
  }
  if (want['host.arch'].enabled) a['host.arch'] = ARCH[os.arch()] ?? os.arch();
  if (want['host.ip'].enabled && ips.length) a['host.ip'] = ips;
  if (want['host.mac'].enabled && macs.length) a['host.mac'] = macs;
  if (want['os.type'].enabled) a['os.type'] = OS_TYPE[process.platform] ?? process.platform;
  if (want['os.description'].enabled) a['os.description'] = await osDescription(src.osReleaseFile);
  return a;
}

async function hostname(sources: readonly string[], src: SystemSources, ips: readonly string[]): Promise<string | undefined> {
  const short = src.hostname();
  for (const source of sources) {
    try {
      let name: string | undefined;
      if (source === 'os') name = short;
      else if (source === 'dns') name = await fqdn(short, src.hostsFile);
      else if (source === 'cname') name = (await dns.resolveCname(short))[0];
      else {
        for (const ip of ips) {
          name = (await dns.reverse(ip).catch(() => []))[0];
          if (name) break;
        }
      }
      if (name) return name.replace(/\.$/, '');
    } catch {
      // Next source: a source that cannot answer here is normal (no DNS, no CNAME).
    }
  }
  return undefined;
}

/**
 * The FQDN, as `hostname -f` finds it: the canonical (first) name of the
 * hosts-file line that lists the hostname, else the name the resolver gives
 * back for the hostname's address (unless that is just `localhost`).
 */
async function fqdn(short: string, hostsFile: string): Promise<string | undefined> {
  const hosts = await fs.readFile(hostsFile, 'utf8').catch(() => '');
  for (const raw of hosts.split('\n')) {
    const names = raw.replace(/#.*/, '').trim().split(/\s+/).slice(1);
    if (names.includes(short)) return names[0];
  }
  const { address } = await dns.lookup(short);
  const name = (await dns.lookupService(address, 0)).hostname;
  return name && name !== 'localhost' ? name : undefined;
}

async function machineId(files: readonly string[]): Promise<string | undefined> {
  for (const f of files) {
    const id = (await fs.readFile(f, 'utf8').catch(() => '')).trim();
    if (id) return id;
  }
  return undefined;
}

async function osDescription(file: string): Promise<string> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  const m = /^PRETTY_NAME=(?:"([^"]*)"|(.*))$/m.exec(text);
  const pretty = m ? (m[1] ?? m[2]) : '';
  const kernel = `${os.type()} ${os.release()}`;
  return pretty ? `${pretty} (${kernel})` : kernel;
}

async function get(url: string, headers: Record<string, string>, signal: AbortSignal, method = 'GET'): Promise<string> {
  const res = await fetch(url, { method, headers, signal });
  const body = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status}`);
  return body;
}

function strings(src: Record<string, AnyValue>): Attributes {
  const out: Attributes = {};
  for (const k in src) if (typeof src[k] === 'string' && src[k] !== '') out[k] = src[k];
  return out;
}

/** EC2 through IMDSv2: a session token first, then the instance identity document. */
async function detectEc2(endpoint: string, signal: AbortSignal): Promise<Attributes> {
  const base = endpoint.replace(/\/$/, '');
  const token = await get(`${base}/latest/api/token`, { 'X-aws-ec2-metadata-token-ttl-seconds': '60' }, signal, 'PUT');
  const h = { 'X-aws-ec2-metadata-token': token };
  const doc = JSON.parse(await get(`${base}/latest/dynamic/instance-identity/document`, h, signal)) as Record<string, string>;
  const name = await get(`${base}/latest/meta-data/hostname`, h, signal).catch(() => '');
  return strings({
    'cloud.provider': 'aws',
    'cloud.platform': 'aws_ec2',
    'cloud.account.id': doc.accountId,
    'cloud.region': doc.region,
    'cloud.availability_zone': doc.availabilityZone,
    'host.id': doc.instanceId,
    'host.image.id': doc.imageId,
    'host.type': doc.instanceType,
    'host.name': name,
  });
}

/** Google Compute Engine's metadata server (`Metadata-Flavor: Google`). */
async function detectGcp(endpoint: string, signal: AbortSignal): Promise<Attributes> {
  const base = `${endpoint.replace(/\/$/, '')}/computeMetadata/v1`;
  const h = { 'Metadata-Flavor': 'Google' };
  const [project, id, name, machineType, zonePath] = await Promise.all(
    ['project/project-id', 'instance/id', 'instance/name', 'instance/machine-type', 'instance/zone'].map((p) => get(`${base}/${p}`, h, signal)),
  );
  const zone = zonePath.slice(zonePath.lastIndexOf('/') + 1);
  return strings({
    'cloud.provider': 'gcp',
    'cloud.platform': 'gcp_compute_engine',
    'cloud.account.id': project,
    'cloud.availability_zone': zone,
    'cloud.region': zone.replace(/-[a-z]$/, ''),
    'host.id': id,
    'host.name': name,
    'host.type': machineType.slice(machineType.lastIndexOf('/') + 1),
  });
}

/** Azure's instance metadata service (`Metadata: true`). */
async function detectAzure(endpoint: string, signal: AbortSignal): Promise<Attributes> {
  const url = `${endpoint.replace(/\/$/, '')}/metadata/instance/compute?api-version=2021-02-01&format=json`;
  const c = JSON.parse(await get(url, { Metadata: 'true' }, signal)) as Record<string, string>;
  return strings({
    'cloud.provider': 'azure',
    'cloud.platform': 'azure_vm',
    'cloud.region': c.location,
    'cloud.account.id': c.subscriptionId,
    'host.id': c.vmId,
    'host.name': c.name,
    'host.type': c.vmSize,
    'azure.vm.size': c.vmSize,
    'azure.vm.scaleset.name': c.vmScaleSetName,
    'azure.resourcegroup.name': c.resourceGroupName,
  });
}
