/**
 * The `metaflow` commands. Each takes parsed arguments and an output, returns
 * an exit code, and never exits the process itself (only main.ts does), so
 * tests can run them in process.
 */
import http from 'node:http';
import https from 'node:https';
import { agentDefaultConfig, ebpfLayer, startTracesWithEbpf } from '../agent/config';
import type { Kind, Stability } from '../pipeline/component';
import { KINDS, SECTION } from '../pipeline/component';
import { describeSchema } from '../pipeline/config/schema';
import { ConfigError } from '../pipeline/errors';
import { SIGNALS } from '../pipeline/pdata';
import { Registry } from '../pipeline/registry';
import { Service } from '../pipeline/service';
import { serverDefaultConfig } from '../server/config';
import { dist, factories } from './components.generated';

/** Where a command writes. */
export interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** Parsed command-line arguments. */
export interface Args {
  command: string;
  positional: string[];
  /** Repeatable `--config` values, in order. */
  configs: string[];
  flags: Record<string, string | true>;
}

/** Parses `metaflow <command> [args] [--flag value|--flag=value]…`. */
export function parseArgs(argv: readonly string[]): Args {
  const args: Args = { command: '', positional: [], configs: [], flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      let value: string | true = eq > 0 ? a.slice(eq + 1) : true;
      if (value === true && VALUE_FLAGS.has(name) && i + 1 < argv.length) value = argv[++i];
      if (name === 'config' && typeof value === 'string') args.configs.push(value);
      else args.flags[name] = value;
    } else if (a === '-h') {
      args.flags.help = true;
    } else if (!args.command) {
      args.command = a;
    } else {
      args.positional.push(a);
    }
  }
  return args;
}

const VALUE_FLAGS = new Set(['config', 'format', 'server', 'data-dir', 'protocols']);

/** The registry of this build. */
export function buildRegistry(): Registry {
  return new Registry(factories);
}

/** Usage text. */
export const USAGE = `metaflow ${dist.version} - zero-code observability (OpenTelemetry Collector-compatible)

Usage:
  metaflow start [--config FILE]...       all-in-one: server pipeline, embedded store, query service
  metaflow server [--config FILE]...      the server (default config when none is given)
  metaflow agent [--config FILE]...       the agent (default config when none is given)
  metaflow validate --config FILE...      check a config without starting it
  metaflow components [--markdown]        list this build's components (--markdown: config reference)
  metaflow query "SQL" [--format table|json] [--server URL]
                                          run a read-only query on a running server
  metaflow replay FILE [--format jsonl|table] [--flows] [--protocols=A,B]
                                          L7 sessions (and with --flows, flows with L4 metrics) of a pcap/pcapng file
Several --config values merge in order; a value may be a file, env:VAR or yaml:INLINE.
`;

/** The config sources a run command uses: its default first, then the user's. */
export function configSources(command: string, configs: string[]): string[] {
  const withDefault = (yaml: string) => [`yaml:${yaml}`, ...configs];
  switch (command) {
    case 'start':
      // All-in-one on this host: its own processes traced too, where eBPF can run.
      return startTracesWithEbpf() ? [`yaml:${serverDefaultConfig}`, `yaml:${ebpfLayer(serverDefaultConfig)}`, ...configs] : withDefault(serverDefaultConfig);
    case 'server':
      return configs.length ? configs : withDefault(serverDefaultConfig);
    case 'agent':
      return configs.length ? configs : withDefault(agentDefaultConfig);
    default:
      return configs;
  }
}

/** `metaflow validate`: prints every problem with its path; 1 when there are any. */
export function validate(args: Args, io: Output): number {
  if (!args.configs.length) {
    io.err('metaflow validate: give the config to check with --config FILE\n');
    return 2;
  }
  const { config, errors, warnings } = Service.load(args.configs, buildRegistry());
  for (const w of warnings) io.err(`warning: ${w}\n`);
  if (!config) {
    io.err(`invalid configuration (${errors.length} problem${errors.length === 1 ? '' : 's'}):\n`);
    for (const e of errors) io.err(`  ${e}\n`);
    return 1;
  }
  io.out(`configuration is valid: ${config.pipelines.length} pipeline(s): ${config.pipelines.map((p) => p.key).join(', ')}\n`);
  return 0;
}

/**
 * The config reference of every component, as Markdown (generated from the
 * config schemas, so it cannot drift from the code; the README embeds it).
 */
export function componentsMarkdown(): string {
  const registry = buildRegistry();
  let out = '';
  for (const kind of KINDS) {
    for (const f of registry.factories(kind)) {
      const aliases = f.aliases?.length ? ` (also \`${f.aliases.join('`, `')}\`)` : '';
      out += `#### ${kind} \`${f.type}\`${aliases}\n\n${f.description}. Stability: ${stabilityText(kind, f.stability as Stability | Record<string, Stability>)}.\n\n`;
      const keys = describeSchema(f.config);
      if (!keys.length) {
        out += 'No settings.\n\n';
        continue;
      }
      out += '| key | type | default | meaning |\n|---|---|---|---|\n';
      const cell = (s: string) => s.replace(/\|/g, '\\|');
      for (const k of keys) out += `| \`${k.key}\` | ${cell(k.type)} | ${k.default ? `\`${cell(k.default)}\`` : ''} | ${cell(k.doc)} |\n`;
      out += '\n';
    }
  }
  return out;
}

/** `metaflow components`: every component by kind with its stability per signal. */
export function components(io: Output, markdown = false): number {
  if (markdown) {
    io.out(componentsMarkdown());
    return 0;
  }
  const registry = buildRegistry();
  io.out(`${dist.name} ${dist.version}\n`);
  for (const kind of KINDS) {
    io.out(`\n${SECTION[kind]}:\n`);
    const list = registry.factories(kind);
    if (!list.length) io.out('  (none)\n');
    for (const f of list) {
      const aliases = f.aliases?.length ? ` (also: ${f.aliases.join(', ')})` : '';
      io.out(`  ${f.type}${aliases}\n    ${f.description}\n    stability: ${stabilityText(kind, f.stability as Stability | Record<string, Stability>)}\n`);
    }
  }
  return 0;
}

function stabilityText(kind: Kind, stability: Stability | Record<string, Stability>): string {
  if (typeof stability === 'string') return stability;
  const order = kind === 'connector' ? SIGNALS.flatMap((a) => SIGNALS.map((b) => `${a}_to_${b}`)) : [...SIGNALS];
  return order
    .filter((k) => stability[k])
    .map((k) => `${k}: ${stability[k]}`)
    .join(', ');
}

/** `metaflow start|server|agent`: runs until SIGINT/SIGTERM; resolves with the exit code. */
export async function run(args: Args, io: Output, signals: NodeJS.EventEmitter = process): Promise<number> {
  if (args.flags['data-dir']) process.env.METAFLOW_DATA_DIR = String(args.flags['data-dir']);
  let service: Service;
  try {
    service = Service.fromSources(configSources(args.command, args.configs), buildRegistry(), { logSink: (l) => io.err(l + '\n') });
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  try {
    await service.start();
  } catch (err) {
    io.err(`metaflow ${args.command}: ${(err as Error).message}\n`);
    return 1;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) {
        io.err(`received ${sig} again; exiting without waiting\n`);
        resolve(130);
        return;
      }
      stopping = true;
      service.logger.info(`received ${sig}; shutting down (flushing data in flight)`);
      service.shutdown().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    signals.on('SIGINT', () => stop('SIGINT'));
    signals.on('SIGTERM', () => stop('SIGTERM'));
  });
}

/** `metaflow query`: sends SQL to a running query service and prints the result. */
export async function query(args: Args, io: Output): Promise<number> {
  const sql = args.positional.join(' ').trim();
  if (!sql) {
    io.err('metaflow query: give the SQL to run, e.g. metaflow query "SELECT count() FROM otel_traces"\n');
    return 2;
  }
  const server = String(args.flags.server ?? process.env.METAFLOW_QUERY_URL ?? 'http://localhost:20416');
  const format = String(args.flags.format ?? 'table');
  if (format !== 'table' && format !== 'json') {
    io.err(`metaflow query: --format must be table or json, not "${format}"\n`);
    return 2;
  }
  let status: number;
  let body: string;
  try {
    ({ status, body } = await postJson(new URL('/api/v1/sql', server), { sql }));
  } catch (err) {
    io.err(`metaflow query: cannot reach the query service at ${server}: ${(err as Error).message}\n`);
    return 1;
  }
  let parsed: { columns?: Array<{ name: string } | string>; rows?: unknown[][]; error?: string };
  try {
    parsed = JSON.parse(body);
  } catch {
    io.err(`metaflow query: unexpected answer (HTTP ${status}): ${body.slice(0, 500)}\n`);
    return 1;
  }
  if (status !== 200) {
    io.err(`metaflow query: ${parsed.error ?? `HTTP ${status}`}\n`);
    return 1;
  }
  if (format === 'json') {
    io.out(JSON.stringify(parsed) + '\n');
    return 0;
  }
  const names = (parsed.columns ?? []).map((c) => (typeof c === 'string' ? c : c.name));
  io.out(formatTable(names, parsed.rows ?? []));
  return 0;
}

/** A readable text table; long cells are cut at 80 characters. */
export function formatTable(columns: string[], rows: unknown[][]): string {
  const cell = (v: unknown) => {
    const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    const flat = s.replace(/[\n\t]/g, ' ');
    return flat.length > 80 ? flat.slice(0, 79) + '…' : flat;
  };
  const text = rows.map((r) => r.map(cell));
  const widths = columns.map((c, i) => Math.max(c.length, ...text.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd() + '\n';
  let out = line(columns) + line(widths.map((w) => '─'.repeat(w)));
  for (const r of text) out += line(r);
  return out + `(${rows.length} row${rows.length === 1 ? '' : 's'})\n`;
}

function postJson(url: URL, payload: unknown): Promise<{ status: number; body: string }> {
  const data = JSON.stringify(payload);
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(60000, () => req.destroy(new Error('timed out after 60s')));
    req.end(data);
  });
}
