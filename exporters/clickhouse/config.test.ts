/**
 * Config: defaults, contrib key names, mode-dependent defaults, and
 * validation messages that name the relative path.
 */
import { formatIssue } from '../../pipeline/config/schema';
import { configSchema, resolve, validate } from './config';
import { factory } from './factory';

function parse(input: unknown) {
  const { value, issues } = configSchema.parse(input);
  return { value, issues: issues.map(formatIssue) };
}

function problems(input: Record<string, unknown>): string[] {
  const { value, issues } = parse(input);
  expect(issues).toEqual([]);
  return validate(value!).map(([p, m]) => `${p}: ${m}`);
}

describe('clickhouse exporter config', () => {
  test('defaults select the embedded store with the contrib table names', () => {
    const cfg = resolve(configSchema.parseOrThrow(undefined));
    expect(cfg).toEqual({
      mode: 'embedded',
      endpoint: '',
      username: '',
      password: '',
      database: 'metaflow',
      dataDir: './data',
      ttlMs: 0,
      createSchema: true,
      smartEncoding: true,
      tables: {
        traces: 'otel_traces',
        traceIdTs: 'otel_traces_trace_id_ts',
        logs: 'otel_logs',
        metricsGauge: 'otel_metrics_gauge',
        metricsSum: 'otel_metrics_sum',
        metricsHistogram: 'otel_metrics_histogram',
        metricsExponentialHistogram: 'otel_metrics_exponential_histogram',
        metricsSummary: 'otel_metrics_summary',
      },
      cluster: '',
      engine: { name: 'MergeTree', params: '' },
      timeoutMs: 60000,
      queue: { enabled: true, num_consumers: 2, queue_size: 1000, block_on_overflow: false },
      retry: { enabled: true, initial_interval: 5000, randomization_factor: 0.5, multiplier: 1.5, max_interval: 30000, max_elapsed_time: 300000 },
    });
    expect(validate(configSchema.parseOrThrow(undefined))).toEqual([]);
  });

  test('a contrib-style remote config parses, with remote defaults for timeout and consumers', () => {
    const cfg = resolve(
      configSchema.parseOrThrow({
        endpoint: 'https://ch.example.com:8443',
        username: 'otel',
        password: 'secret',
        database: 'otel',
        ttl: '72h',
        traces_table_name: 'traces',
        logs_table_name: 'logs',
        metrics_tables: { gauge: { name: 'm_gauge' }, exponential_histogram: { name: 'm_exp' } },
        cluster_name: 'my_cluster',
        table_engine: { name: 'ReplicatedMergeTree', params: "'/clickhouse/tables/{shard}/{table}', '{replica}'" },
        create_schema: false,
        sending_queue: { queue_size: 50 },
        retry_on_failure: { initial_interval: '1s' },
      }),
    );
    expect(cfg.mode).toBe('remote');
    expect(cfg.ttlMs).toBe(72 * 3600 * 1000);
    expect(cfg.timeoutMs).toBe(5000);
    expect(cfg.queue).toEqual({ enabled: true, num_consumers: 10, queue_size: 50, block_on_overflow: false });
    expect(cfg.retry.initial_interval).toBe(1000);
    expect(cfg.tables.metricsGauge).toBe('m_gauge');
    expect(cfg.tables.metricsExponentialHistogram).toBe('m_exp');
    expect(cfg.tables.metricsSum).toBe('otel_metrics_sum');
    expect(cfg.tables.traceIdTs).toBe('traces_trace_id_ts');
    expect(cfg.engine.name).toBe('ReplicatedMergeTree');
    expect(cfg.createSchema).toBe(false);
  });

  test('an explicit timeout and num_consumers win over the mode defaults', () => {
    const cfg = resolve(configSchema.parseOrThrow({ timeout: '2s', sending_queue: { num_consumers: 4 } }));
    expect([cfg.timeoutMs, cfg.queue.num_consumers]).toEqual([2000, 4]);
  });

  test('unknown keys are rejected with the list of valid keys', () => {
    const { issues } = parse({ endpoint: '', ttl_days: 3, metrics_tables: { gauges: {} } });
    expect(issues).toHaveLength(2);
    expect(issues[0]).toMatch(/^ttl_days: unknown key; valid keys are: endpoint, username, password, database, data_dir, ttl,/);
    expect(issues[1]).toMatch(/^metrics_tables::gauges: unknown key; valid keys are: gauge, sum, summary, histogram, exponential_histogram$/);
  });

  test('embedded-only and remote-only keys are refused in the other mode, naming the key', () => {
    expect(problems({ endpoint: 'http://localhost:8123', data_dir: '/var/lib/metaflow' })).toEqual([
      'data_dir: is only valid for the embedded store (endpoint is set)',
    ]);
    expect(problems({ username: 'u', password: 'p', cluster_name: 'c' })).toEqual([
      'username: is only valid for a remote store (endpoint is empty)',
      'password: is only valid for a remote store (endpoint is empty)',
      'cluster_name: is only valid for a remote store (endpoint is empty)',
    ]);
  });

  test('the endpoint must be an http(s) URL of the HTTP interface', () => {
    expect(problems({ endpoint: 'tcp://localhost:9000' })).toEqual([
      'endpoint: scheme "tcp" is not supported; use http:// or https:// (the HTTP interface, port 8123/8443)',
    ]);
    expect(problems({ endpoint: 'localhost 8123' })).toEqual(['endpoint: "localhost 8123" is not a URL; expected http://host:8123 or https://host:8443']);
  });

  test('names must be identifiers and tables distinct; ttl must be whole seconds or more', () => {
    expect(
      problems({ database: 'my-db', logs_table_name: 'otel_traces', table_engine: { name: 'MergeTree; DROP', params: 'a;b' }, ttl: '500ms' }),
    ).toEqual([
      'database: "my-db" is not a valid name: use letters, digits and underscores, starting with a letter or underscore',
      'table_engine::name: "MergeTree; DROP" is not a valid name: use letters, digits and underscores, starting with a letter or underscore',
      'logs_table_name: table name "otel_traces" is already used by another signal; every signal needs its own table',
      'table_engine::params: must be a single parameter list without ";" or line breaks',
      'ttl: must be 0 (keep everything) or at least 1s',
    ]);
    const { issues } = parse({ database: '', ttl: 'soon' });
    expect(issues).toEqual(['database: must not be empty', 'ttl: expected a duration such as "200ms" or "5s", got "soon"']);
  });

  test('the factory is plain data with the contrib type and stabilities', () => {
    expect(factory.type).toBe('clickhouse');
    expect(factory.kind).toBe('exporter');
    expect(factory.stability).toEqual({ traces: 'beta', metrics: 'alpha', logs: 'beta' });
    expect(factory.config.parse(undefined).issues).toEqual([]);
  });
});
