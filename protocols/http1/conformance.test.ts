/**
 * Conformance of the HTTP/1, HTTP/2 and gRPC parsers with DeepFlow's expected
 * results for its own HTTP captures (../shared/conformance/deepflow/
 * flow_generator/http/*.pcap + .result).
 *
 * DeepFlow prints one record per parsed message (HTTP/2: per HEADERS or DATA
 * frame); its session aggregator then merges a request with its response
 * (first non-empty request field wins, first status wins). We merge its
 * records the same way — HTTP/2 by stream id, HTTP/1 in order — skipping the
 * per-DATA-frame records and the placeholder records of non-HTTP packets,
 * and compare each merged session with ours on: method, path, host, HTTP
 * status, gRPC status, trace id, span id, x-request-id and endpoint.
 *
 * Every disagreement must be listed in EXPECTED_DIFFERENCES with its reason,
 * and every listed one must still occur. The agreement per capture is printed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spec as http2Spec } from '../http2';
import { parseResultFile } from '../testing/deepflow-result';
import type { ResultRecord, RustValue } from '../testing/deepflow-result';
import { replayPcap } from '../testing/replay';
import type { L7Session } from '../types';
import { spec as http1Spec } from './index';
import { conformancePath } from '../testing/conformance';

const DIR = conformancePath('deepflow/flow_generator/http');

/** Captures and the result file describing each (one capture has two results: DeepFlow run twice with different settings). */
const CASES: Array<{ result: string; pcap: string }> = [
  { result: 'client-ip', pcap: 'client-ip' },
  { result: 'grpc-server-stream', pcap: 'grpc-server-stream' },
  { result: 'grpc-server-stream-as-unary', pcap: 'grpc-server-stream' },
  { result: 'grpc-service-name', pcap: 'grpc-service-name' },
  { result: 'grpc-unary', pcap: 'grpc-unary' },
  { result: 'grpc-unknown', pcap: 'grpc-unknown' },
  { result: 'h2c_ascii', pcap: 'h2c_ascii' },
  { result: 'httpv1', pcap: 'httpv1' },
  { result: 'httpv2-stream-id', pcap: 'httpv2-stream-id' },
  { result: 'sw8', pcap: 'sw8' },
];

const FIELDS = ['method', 'path', 'host', 'status_code', 'grpc_status', 'trace_id', 'span_id', 'x_request_id', 'endpoint'] as const;
type Field = (typeof FIELDS)[number];
type Compared = Record<Field, string | number | null>;

/**
 * Every field on which we differ from DeepFlow, as `capture#session.field`,
 * with the reason. The test fails on an unlisted difference and on a listed
 * one that no longer occurs.
 */
const EXPECTED_DIFFERENCES: Record<string, string> = {
  'client-ip#0.endpoint':
    'endpoint rule: DeepFlow keeps the first two path segments (its default http_endpoint rule); we keep the whole path without query, ids replaced by {id}: /biz-inquiry-bff/bff/v1/common/check/polymerization',
  'client-ip#0.x_request_id':
    'the request carries "x-request-id: b3ce82fc-…"; the DeepFlow configuration that produced the .result extracts no x-request-id header (x_request_id_0 empty), we always read x-request-id',
  'grpc-server-stream#1.endpoint': 'gRPC endpoint format: DeepFlow keeps the :path with its leading slash, we report package.Service/Method (the L7Session contract)',
  'grpc-server-stream-as-unary#1.endpoint': 'gRPC endpoint format: leading slash (see grpc-server-stream)',
  'grpc-server-stream-as-unary#1.grpc_status':
    'this .result is DeepFlow with gRPC streaming treated as unary: it ends the session at the first response HEADERS and never reads the trailers; we follow the stream to its trailers (grpc-status 0)',
  'grpc-service-name#1.endpoint': 'gRPC endpoint format: leading slash (see grpc-server-stream)',
  'grpc-unary#1.endpoint': 'gRPC endpoint format: leading slash (see grpc-server-stream)',
  'h2c_ascii#1.endpoint': 'gRPC endpoint format: leading slash (see grpc-server-stream)',
  'httpv2-stream-id#1392369.path':
    'capture starts mid-connection: :path is a literal whose name is a dynamic-table entry neither side saw; DeepFlow leaves the path empty, we take the unnamed value starting with "/" as the path (attribute http2.path_inferred)',
  'httpv2-stream-id#1392369.endpoint': 'follows from the inferred path (see path); DeepFlow has no endpoint without a path',
};

function str(v: RustValue | undefined): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}

function prio(v: RustValue | undefined): string {
  return v && typeof v === 'object' && !Array.isArray(v) && 'field' in v ? str(v.field as RustValue) : '';
}

const METHODS: Record<string, string> = { Get: 'GET', Post: 'POST', Put: 'PUT', Delete: 'DELETE', Head: 'HEAD', Options: 'OPTIONS', Patch: 'PATCH', Connect: 'CONNECT', Trace: 'TRACE', _RequestHeader: 'POST' };

/** DeepFlow's records merged into sessions, keyed by stream id (HTTP/2) or order (HTTP/1). */
function mergeDeepflow(records: ResultRecord[]): Array<{ key: string } & Compared> {
  const groups: Array<{ key: string; recs: ResultRecord[]; hasResponse: boolean }> = [];
  const byStream = new Map<number, (typeof groups)[number]>();
  for (const r of records) {
    if (r.$type !== 'HttpInfo' || r.msg_type === 'Other' || r.proto === 'Unknown') continue;
    if (r.method === '_RequestData' || r.method === '_ResponseData') continue; // per-DATA-frame records
    const isResponse = r.msg_type === 'Response' || r.method === '_ResponseHeader';
    if (typeof r.stream_id === 'number') {
      let g = byStream.get(r.stream_id);
      if (!g) {
        g = { key: String(r.stream_id), recs: [], hasResponse: false };
        byStream.set(r.stream_id, g);
        groups.push(g);
      }
      g.recs.push(r);
      continue;
    }
    const last = groups[groups.length - 1];
    if (isResponse && last && !last.hasResponse) {
      last.recs.push(r);
      last.hasResponse = true;
    } else {
      groups.push({ key: String(groups.length), recs: [r], hasResponse: isResponse });
    }
  }
  return groups.map((g) => {
    const first = (f: (r: ResultRecord) => string | number | null) => {
      for (const r of g.recs) {
        const v = f(r);
        if (v !== null && v !== '') return v;
      }
      return null;
    };
    return {
      key: g.key,
      method: first((r) => (typeof r.method === 'string' ? (METHODS[r.method] ?? '') : '')),
      path: first((r) => str(r.path)),
      host: first((r) => str(r.host)),
      status_code: first((r) => (typeof r.status_code === 'number' ? r.status_code : null)),
      grpc_status: first((r) => (typeof r.grpc_status_code === 'number' ? r.grpc_status_code : null)),
      trace_id: first((r) => {
        const t = r.trace_ids as { $value?: RustValue[] } | null;
        return t && Array.isArray(t.$value) && t.$value.length > 0 ? prio(t.$value[0]) : '';
      }),
      span_id: first((r) => prio(r.span_id)),
      x_request_id: first((r) => prio(r.x_request_id_0) || prio(r.x_request_id_1)),
      endpoint: first((r) => str(r.endpoint)),
    };
  });
}

function ours(s: L7Session): Compared {
  const grpc = s.l7_protocol === 'gRPC';
  const httpStatus = grpc ? Number(s.attributes['http.response.status_code'] ?? NaN) : s.response_code;
  return {
    method: s.request_type,
    path: s.request_resource,
    host: s.request_domain,
    status_code: httpStatus === null || Number.isNaN(httpStatus) ? null : httpStatus,
    grpc_status: s.attributes['grpc.status'] !== undefined ? Number(s.attributes['grpc.status']) : null,
    trace_id: s.trace_id,
    span_id: s.span_id,
    x_request_id: s.x_request_id,
    endpoint: s.endpoint,
  };
}

const norm = (v: string | number | null) => (v === null ? '' : String(v));

describe('conformance with DeepFlow http captures', () => {
  const rows: string[] = [];
  const seen = new Set<string>();

  afterAll(() => {
    console.log(
      ['capture | DeepFlow sessions | our sessions | fields compared | agreeing | % | explained differences', ...rows].join('\n'),
    );
  });

  for (const c of CASES) {
    it(`agrees on ${c.result}`, () => {
      const records = parseResultFile(fs.readFileSync(path.join(DIR, `${c.result}.result`), 'utf8'));
      const expected = mergeDeepflow(records);
      const replay = replayPcap(path.join(DIR, `${c.pcap}.pcap`), [http1Spec, http2Spec]);
      expect(replay.malformed).toEqual({});
      const got = replay.sessions;
      expect(got).toHaveLength(expected.length);
      let compared = 0;
      let agreeing = 0;
      const diffs: string[] = [];
      expected.forEach((df, i) => {
        const isH2 = got.some((s) => s.request_id !== '');
        const mine = isH2 ? got.find((s) => s.request_id === df.key) : got[i];
        expect(mine).toBeDefined();
        const o = ours(mine!);
        for (const f of FIELDS) {
          compared++;
          const key = `${c.result}#${df.key}.${f}`;
          if (norm(df[f]) === norm(o[f])) {
            agreeing++;
            continue;
          }
          diffs.push(key);
          seen.add(key);
          if (!(key in EXPECTED_DIFFERENCES)) throw new Error(`unexplained difference ${key}: DeepFlow ${JSON.stringify(df[f])}, ours ${JSON.stringify(o[f])}`);
        }
      });
      // Listed differences for this capture that no longer occur are stale.
      for (const key of Object.keys(EXPECTED_DIFFERENCES)) {
        if (key.startsWith(`${c.result}#`)) expect([key, diffs.includes(key)]).toEqual([key, true]);
      }
      rows.push(`${c.result} | ${expected.length} | ${got.length} | ${compared} | ${agreeing} | ${((100 * agreeing) / compared).toFixed(1)} | ${diffs.length}`);
      expect(compared).toBe(expected.length * FIELDS.length);
    });
  }
});
