/**
 * Conformance against DeepFlow's PostgreSQL captures.
 *
 * pgsql-all has a `.result`: one line per parsed packet — `Request` with
 * request_type `P` (a packet holding a Parse: its SQL is request_resource),
 * `E` (Bind/Execute only: no SQL) or `Q` (simple query), `Response` with
 * status and sql_affected_rows (the CommandComplete row count), `Other` for
 * packets it did not parse (TCP segments of long messages). The three small
 * captures have no `.result`; DeepFlow's unit tests (postgresql.rs) assert
 * their values, restated here. Requests are paired with the Response printed
 * after them, aligned with our sessions in order, and every key field is
 * compared; each disagreement must match an explanation below.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseResultFile } from '../testing/deepflow-result';
import type { ResultRecord } from '../testing/deepflow-result';
import { replayPcap } from '../testing/replay';
import type { ReplayedSession } from '../testing/replay';
import { mysqlSpec } from '../mysql';
import { postgresqlSpec } from './index';
import { conformancePath } from '../testing/conformance';

const DIR = conformancePath('deepflow/flow_generator/postgre');

interface Expected {
  type: 'P' | 'E' | 'Q';
  sql?: string;
  status?: string;
  affected?: number;
  code?: string;
}

interface Check {
  capture: string;
  entry: number;
  field: string;
  deepflow: unknown;
  ours: unknown;
  explained?: string;
}

/** DeepFlow's type letter for one of our sessions. */
function letter(s: ReplayedSession): string {
  if (s.request_type === 'Query') return 'Q';
  if (s.request_type === 'Parse') return 'P';
  if (s.request_type === 'Execute') return s.attributes['pg.parsed'] === 'true' ? 'P' : 'E';
  return s.request_type;
}

/** The row count DeepFlow takes from a CommandComplete tag (INSERT/UPDATE/DELETE/SELECT), 0 otherwise. */
function tagRows(tag: string): number {
  const m = /^(INSERT \d+|UPDATE|DELETE|SELECT) (\d+)$/.exec(tag);
  return m ? Number(m[2]) : 0;
}

function fromResult(records: ResultRecord[]): Expected[] {
  const out: Expected[] = [];
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (r.msg_type !== 'Request') continue;
    const e: Expected = { type: r.request_type as 'P' | 'E' | 'Q' };
    if (typeof r.request_resource === 'string') e.sql = r.request_resource;
    const next = records[i + 1];
    if (next && next.msg_type === 'Response') {
      e.status = next.status as string;
      e.affected = (next.sql_affected_rows as number | undefined) ?? 0;
      i++;
    }
    out.push(e);
  }
  return out;
}

/** Values DeepFlow's postgresql.rs unit tests assert for the captures without `.result`. */
const UNIT_EXPECTATIONS: Record<string, Expected[]> = {
  'simple_query.pcap': [{ type: 'Q', sql: 'delete  from test;', status: 'ok', affected: 1 }],
  'prepare_stat.pcap': [{ type: 'P', sql: 'delete from test where id=$1 returning id', status: 'ok', affected: 0 }],
  'error.pcap': [{ type: 'Q', sql: 'asdsdfdsf;', status: 'client_error', code: '42601' }],
};

function explain(field: string, e: Expected, s: ReplayedSession): string | undefined {
  if (field === 'request_resource' && e.type === 'E' && e.sql === undefined && s.request_resource !== '') {
    return 'the Execute runs a named statement parsed earlier on the connection; we track statement and portal names, DeepFlow does not';
  }
  return undefined;
}

/** Why one of our sessions has no DeepFlow record, or undefined when unexplained. */
function explainExtra(s: ReplayedSession): string | undefined {
  // A TCP segment carries at most ~1.4 KB here; DeepFlow parses each packet alone.
  if ((s.request_length ?? 0) > 1448) return 'its Parse spans several TCP segments: DeepFlow parses packet by packet and printed Other, we reassemble';
  return undefined;
}

function compare(name: string, expected: Expected[]): { checks: Check[]; sessions: number } {
  const ours = replayPcap(path.join(DIR, name), [postgresqlSpec], { obfuscateSql: false }).sessions;
  const checks: Check[] = [];
  let k = 0;
  expected.forEach((e, idx) => {
    // Align: the next session of ours of the same kind (and SQL, when DeepFlow has it).
    let j = k;
    while (j < ours.length && (letter(ours[j]) !== e.type || (e.sql !== undefined && ours[j].request_resource !== e.sql))) j++;
    if (j >= ours.length) j = k;
    while (j < ours.length && letter(ours[j]) !== e.type) j++;
    const s = j < ours.length ? ours[j] : undefined;
    // Sessions we have and DeepFlow does not.
    for (let x = k; s && x < j; x++) {
      checks.push({ capture: name, entry: idx, field: 'session', deepflow: undefined, ours: ours[x].request_resource.slice(0, 60), explained: explainExtra(ours[x]) });
    }
    if (s) k = j + 1;
    const add = (field: string, df: unknown, mine: unknown) => {
      const c: Check = { capture: name, entry: idx, field, deepflow: df, ours: mine };
      if (JSON.stringify(df) !== JSON.stringify(mine) && s) c.explained = explain(field, e, s);
      checks.push(c);
    };
    add('request_type', e.type, s ? letter(s) : undefined);
    if (!s) return;
    add('request_resource', e.sql ?? '', s.request_resource);
    if (e.status !== undefined) add('response_status', e.status, s.response_status);
    if (e.affected !== undefined) add('sql_affected_rows', e.affected, tagRows(s.response_result));
    if (e.code !== undefined) add('sqlstate', e.code, s.attributes['sql.state']);
  });
  return { checks, sessions: ours.length };
}

describe('PostgreSQL conformance with DeepFlow', () => {
  const table: string[] = [];

  afterAll(() => {
    console.log(['capture | our sessions | fields compared | agree | explained | agreement %', ...table].join('\n'));
  });

  const cases: Array<[string, () => Expected[]]> = [
    ['pgsql-all.pcap', () => fromResult(parseResultFile(fs.readFileSync(path.join(DIR, 'pgsql-all.result'), 'utf8')))],
    ...Object.entries(UNIT_EXPECTATIONS).map(([f, e]): [string, () => Expected[]] => [f, () => e]),
  ];

  test.each(cases)('%s: every field agrees or the difference is explained', (name, expected) => {
    const exp = expected();
    const { checks, sessions } = compare(name, exp);
    const agree = checks.filter((c) => JSON.stringify(c.deepflow) === JSON.stringify(c.ours)).length;
    const explained = checks.filter((c) => c.explained !== undefined);
    const unexplained = checks.filter((c) => c.explained === undefined && JSON.stringify(c.deepflow) !== JSON.stringify(c.ours));
    table.push(`${name} | ${sessions} | ${checks.length} | ${agree} | ${explained.length} | ${((100 * agree) / Math.max(1, checks.length)).toFixed(1)}`);
    if (process.env.MF_CONFORMANCE_VERBOSE) console.log(JSON.stringify(explained, null, 1));
    expect(unexplained).toEqual([]);
    expect(sessions).toBe(exp.length + checks.filter((c) => c.field === 'session').length);
  });

  test('the syntax error of error.pcap: SQLSTATE, message and severity', () => {
    const [s] = replayPcap(path.join(DIR, 'error.pcap'), [postgresqlSpec], { obfuscateSql: false }).sessions;
    expect(s.response_result).toBe('42601');
    expect(s.response_code).toBeNull();
    expect(s.response_exception).toBe('syntax error at or near "asdsdfdsf"');
    expect(s.attributes['db.error_severity']).toBe('ERROR');
    // The capture ends before ReadyForQuery: the session is reported at close, marked truncated.
    expect(s.truncated).toBe(true);
  });
});

describe('SQL inference on every other conformance capture', () => {
  // 130+ captures of other protocols (HTTP, Dubbo, Kafka, Redis, MQTT, TLS, tunnels, …):
  // neither SQL parser may claim one of their connections.
  test('no MySQL or PostgreSQL session outside the mysql/ and postgre/ folders', () => {
    const root = path.resolve(DIR, '..', '..');
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) {
          if (e.name !== 'mysql' && e.name !== 'postgre') walk(path.join(d, e.name));
        } else if (e.name.endsWith('.pcap') || e.name.endsWith('.pcapng')) files.push(path.join(d, e.name));
      }
    };
    walk(root);
    expect(files.length).toBeGreaterThan(100);
    const claimed: string[] = [];
    let read = 0;
    for (const f of files) {
      let n = 0;
      try {
        n = replayPcap(f, [mysqlSpec, postgresqlSpec]).sessions.length;
        read++;
      } catch {
        continue; // not a capture the reader accepts: nothing to claim
      }
      if (n > 0) claimed.push(`${path.relative(root, f)}: ${n}`);
    }
    expect(read).toBeGreaterThan(100);
    expect(claimed).toEqual([]);
  });
});
