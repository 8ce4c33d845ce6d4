/**
 * Conformance against DeepFlow's MySQL captures and their `.result` files.
 *
 * A `.result` line is one parsed packet (DeepFlow parses per packet, not per
 * session): `Request` (request_type = command byte, request_resource = SQL /
 * "Login username: U db: D", endpoint), `Response` (response_code = first
 * byte 0x00/0xFE/0xFF, response_execption, sql_affected_rows, status),
 * `Session` (a request without reply: COM_QUIT, COM_STMT_CLOSE) and `Other`
 * (greetings, packets it did not parse). We pair each Request with the
 * Response that follows it, align those with our sessions in order, and
 * compare every key field; each disagreement must match an explanation
 * below, or the test fails.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseResultFile } from '../testing/deepflow-result';
import type { ResultRecord } from '../testing/deepflow-result';
import { replayPcap } from '../testing/replay';
import type { ReplayedSession } from '../testing/replay';
import { commandName } from './constants';
import { mysqlSpec } from './index';
import { conformancePath } from '../testing/conformance';

const DIR = conformancePath('deepflow/flow_generator/mysql');

/** A DeepFlow request with the response printed right after it. */
interface Entry {
  req: ResultRecord;
  resp: ResultRecord | null;
}

interface Check {
  capture: string;
  entry: number;
  field: string;
  deepflow: unknown;
  ours: unknown;
  explained?: string;
}

function entries(records: ResultRecord[]): { list: Entry[]; segmentResponses: number } {
  const list: Entry[] = [];
  let segmentResponses = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (r.msg_type === 'Request' || r.msg_type === 'Session') {
      // The login's response comes after the authentication exchange, which DeepFlow prints as Other.
      let n = i + 1;
      while (n < records.length && records[n].msg_type === 'Other') n++;
      const next = records[n];
      const resp = r.msg_type === 'Request' && next && next.msg_type === 'Response' ? next : null;
      list.push({ req: r, resp });
      if (resp) i = n;
    } else if (r.msg_type === 'Response') segmentResponses++;
  }
  return { list, segmentResponses };
}

function deepflowType(req: ResultRecord): string {
  const t = req.request_type as number;
  if (t === 0 && typeof req.request_resource === 'string' && req.request_resource.startsWith('Login username:')) return 'LOGIN';
  return commandName(t);
}

function loginText(s: ReplayedSession): string {
  const user = s.attributes['db.user'] ?? '';
  return s.request_domain ? `Login username: ${user} db: ${s.request_domain}` : `Login username: ${user}`;
}

/**
 * Why a field may differ from DeepFlow. Each rule names a deliberate design
 * difference or an artefact of DeepFlow's per-packet test harness.
 */
function explain(capture: string, field: string, e: Entry, s: ReplayedSession | undefined, df: unknown, ours: unknown): string | undefined {
  const type = deepflowType(e.req);
  if (type === 'COM_STMT_EXECUTE' && field === 'request_resource') {
    return 'DeepFlow prints COM_STMT_EXECUTE parameter values; we show the SQL the statement was prepared with (values are data)';
  }
  if (type === 'COM_STMT_EXECUTE' && field === 'endpoint') {
    return 'DeepFlow does not keep prepared statements, so its COM_STMT_EXECUTE has no endpoint; ours comes from the prepared SQL';
  }
  if (type === 'LOGIN' && field === 'endpoint') {
    return 'DeepFlow uses "Login username: …" as the login endpoint; we keep the user in db.user and the database in request_domain';
  }
  if (capture === 'mysql-statement.pcap' && s && e.resp) {
    // Several connections interleave; DeepFlow's harness runs one parser over all their packets,
    // so a response is printed after the last request of any connection.
    if (s.response_status === 'timeout') return 'DeepFlow paired this request with another connection\'s response (one parser for all connections); its own connection has no response in the capture';
    if (typeof e.resp.statement_id === 'number' && e.resp.statement_id > 0 && s.request_id && String(e.resp.statement_id) !== s.request_id && type === 'COM_STMT_PREPARE') {
      return 'DeepFlow paired this request with another connection\'s response (statement ids differ)';
    }
  }
  return undefined;
}

function compareCapture(name: string): { checks: Check[]; sessions: number; segmentResponses: number } {
  const records = parseResultFile(fs.readFileSync(path.join(DIR, name.replace(/\.pcap$/, '.result')), 'utf8'));
  const { list, segmentResponses } = entries(records);
  // SQL compared as captured: DeepFlow's fixtures are unobfuscated.
  const ours = replayPcap(path.join(DIR, name), [mysqlSpec], { obfuscateSql: false }).sessions;
  const checks: Check[] = [];
  let k = 0;
  list.forEach((e, idx) => {
    const type = deepflowType(e.req);
    // Align: the next session of ours with the same command (and SQL, for text commands).
    const sql = type === 'COM_QUERY' || type === 'COM_STMT_PREPARE' ? e.req.request_resource : undefined;
    let j = k;
    while (j < ours.length && (ours[j].request_type !== type || (sql !== undefined && ours[j].request_resource !== sql))) j++;
    if (j >= ours.length) j = k;
    while (j < ours.length && ours[j].request_type !== type) j++;
    const s = j < ours.length ? ours[j] : undefined;
    for (let x = k; s && x < j; x++) {
      checks.push({ capture: name, entry: idx, field: 'session', deepflow: undefined, ours: `${ours[x].request_type} ${ours[x].request_resource.slice(0, 60)}`, explained: undefined });
    }
    if (s) k = j + 1;
    const add = (field: string, df: unknown, mine: unknown) => {
      const c: Check = { capture: name, entry: idx, field, deepflow: df, ours: mine };
      if (JSON.stringify(df) !== JSON.stringify(mine)) c.explained = explain(name, field, e, s, df, mine);
      checks.push(c);
    };
    add('request_type', type, s?.request_type);
    if (!s) return;
    if (type === 'LOGIN') add('request_resource', e.req.request_resource, loginText(s));
    else if (typeof e.req.request_resource === 'string') add('request_resource', e.req.request_resource, s.request_resource);
    if (e.req.msg_type === 'Request' && type !== 'COM_INIT_DB' && type !== 'COM_FIELD_LIST') add('endpoint', e.req.endpoint ?? '', s.endpoint);
    if (e.req.msg_type === 'Session') {
      add('response_status', 'ok', s.response_status);
      return;
    }
    if (!e.resp) return;
    add('response_status', e.resp.response_status, s.response_status);
    add('error', e.resp.response_code === 255, s.response_code !== null);
    add('response_exception', e.resp.response_execption ?? '', s.response_exception);
    if (type === 'COM_QUERY') add('sql_affected_rows', e.resp.sql_affected_rows ?? 0, Number(s.attributes['sql.rows_affected'] ?? 0));
  });
  for (let x = k; x < ours.length; x++) {
    checks.push({ capture: name, entry: list.length, field: 'session', deepflow: undefined, ours: `${ours[x].request_type} ${ours[x].request_resource.slice(0, 60)}`, explained: undefined });
  }
  return { checks, sessions: ours.length, segmentResponses };
}

const CAPTURES = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith('.pcap') && fs.existsSync(path.join(DIR, f.replace(/\.pcap$/, '.result'))))
  .sort();

describe('MySQL conformance with DeepFlow', () => {
  const table: string[] = [];

  afterAll(() => {
    // The agreement table of the report.
    console.log(['capture | our sessions | fields compared | agree | explained | agreement %', ...table].join('\n'));
  });

  test.each(CAPTURES)('%s: every field agrees or the difference is explained', (name) => {
    const { checks, sessions, segmentResponses } = compareCapture(name);
    const agree = checks.filter((c) => c.explained === undefined && JSON.stringify(c.deepflow) === JSON.stringify(c.ours)).length;
    const explained = checks.filter((c) => c.explained !== undefined);
    const unexplained = checks.filter((c) => c.explained === undefined && JSON.stringify(c.deepflow) !== JSON.stringify(c.ours));
    table.push(`${name} | ${sessions} | ${checks.length} | ${agree} | ${explained.length} | ${((100 * agree) / Math.max(1, checks.length)).toFixed(1)}${segmentResponses ? ` (+${segmentResponses} per-segment DeepFlow responses folded into our sessions)` : ''}`);
    if (process.env.MF_CONFORMANCE_VERBOSE) console.log(JSON.stringify(explained, null, 1));
    expect(unexplained).toEqual([]);
    expect(checks.length).toBeGreaterThan(0);
  });

  // DeepFlow's check_perf (mysql.rs) counts requests, responses and errors of three captures
  // (171-mysql has no .result): our sessions must give the same counts.
  test.each([
    ['171-mysql.pcap', 390, 390, 0],
    ['mysql.pcap', 7, 6, 0],
    ['mysql-error.pcap', 5, 4, 1],
  ])('%s: %i requests, %i responses, %i server errors as DeepFlow counts them', (name, requests, responses, serverErrors) => {
    const ours = replayPcap(path.join(DIR, name), [mysqlSpec]).sessions;
    expect(ours.length).toBe(requests);
    expect(ours.filter((s) => s.response_length !== null).length).toBe(responses);
    expect(ours.filter((s) => s.response_status === 'server_error').length).toBe(serverErrors);
    expect(ours.filter((s) => s.response_status === 'client_error' || s.response_status === 'timeout').length).toBe(0);
  });
});
