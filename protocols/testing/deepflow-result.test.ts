/**
 * The `.result` reader: every record of every DeepFlow result file parses,
 * with exact values checked on a few, and the notation's corners by hand.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseResultFile, parseRustDebug, RustDebugSyntaxError } from './deepflow-result';
import { conformancePath } from './conformance';

const FLOWS = conformancePath('deepflow/flow_generator');

function resultFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...resultFiles(p));
    else if (e.name.endsWith('.result')) out.push(p);
  }
  return out.sort();
}

const RECORD_LINE = /^[ \t]*(?:[A-Za-z_][A-Za-z0-9_]*[ \t]*[({]|\{[ \t]*")/;

describe('parseResultFile on the DeepFlow result files', () => {
  const files = resultFiles(FLOWS);

  it('finds the result files', () => {
    expect(files.length).toBeGreaterThanOrEqual(90);
  });

  it.each(files.map((f) => [path.relative(FLOWS, f), f]))('%s: every record parses', (_name, file) => {
    const text = fs.readFileSync(file, 'utf8');
    const records = parseResultFile(text);
    // One record per record-starting line (pretty-printed ones start at the first line only).
    const starts = text.split('\n').filter((l) => RECORD_LINE.test(l) && !/^\s+\w+: \w+ \{$/.test(l) && !/^\s+\w+ \{$/.test(l)).length;
    expect(records.length).toBe(starts);
    for (const r of records) expect(typeof r.$type).toBe('string');
  });

  it('httpv1.result: a request and its response with exact fields', () => {
    const [req, resp] = parseResultFile(fs.readFileSync(path.join(FLOWS, 'http/httpv1.result'), 'utf8'));
    expect(req).toMatchObject({
      $type: 'HttpInfo',
      headers_offset: null,
      proto: 'Http1',
      msg_type: 'Request',
      version: 'V1_1',
      trace_ids: { $type: 'PrioFields', $value: [] },
      span_id: { $type: 'PrioField', prio: 255, field: '' },
      method: 'Post',
      path: '/query?1590632942',
      host: 'rq.cct.cloud.duba.net',
      req_content_length: 85,
      status_code: null,
      endpoint: '/query',
      captured_request_byte: 231,
      attributes: [],
    });
    expect(resp).toMatchObject({ msg_type: 'Response', status_code: 200, status: 'Ok', resp_content_length: 54, method: null, captured_response_byte: 227 });
  });

  it('art.result: pretty-printed PerfData over many lines, durations kept as text', () => {
    const records = parseResultFile(fs.readFileSync(path.join(FLOWS, 'art.result'), 'utf8'));
    expect(records.length).toBe(14);
    const last = records[13];
    expect(last).toMatchObject({ $type: 'PerfData', syn: 1, synack: 1, fin_count: 2, rtt_full: '30.548ms' });
    expect(last.rtt_0).toEqual({ $type: 'TimeStats', count: 1, sum: '20.322ms', max: '20.322ms', updated: true });
  });

  it('JSON lines (dns.result) become plain objects typed "json"', () => {
    const [q] = parseResultFile(fs.readFileSync(path.join(FLOWS, 'dns/dns.result'), 'utf8'));
    expect(q).toEqual({
      $type: 'json',
      request_id: 57315,
      request_type: 'A',
      opcode: 'StandardQuery',
      request_resource: 'guoyongxin.com',
      response_status: 'unknown',
      msg_type: 'Request',
      captured_request_byte: 45,
      captured_response_byte: 0,
      rrt: 0,
    });
  });

  it('a tuple variant wrapping a struct (nats) and a loose Display struct (memcached)', () => {
    const [nats] = parseResultFile(fs.readFileSync(path.join(FLOWS, 'nats/nats-err.result'), 'utf8'));
    expect(nats.$type).toBe('NatsInfo');
    expect(nats.$value).toMatchObject({ $type: 'NatsInfo', msg_type: 'Request', version: '2.10.7', req_len: 429, message: { $type: 'Info', $value: { port: 4222 } } });
    const mc = parseResultFile(fs.readFileSync(path.join(FLOWS, 'memcached/memcached.result'), 'utf8'));
    expect(mc[0]).toEqual({ $type: 'MemcachedInfo', msg_type: 'Request', request: 'set foo 0 0 3', req_size: 15, result: '', err_msg: '', res_size: 0, rtt: 0 });
  });

  it('ignores text after the value and lines that are not records', () => {
    const recs = parseResultFile('heading:\nFoo { a: 1 } is_x: true\nNone\nparse failed\nBar(2)\n');
    expect(recs).toEqual([
      { $type: 'Foo', a: 1 },
      { $type: 'Bar', $value: 2 },
    ]);
  });

  it('names the line of a record that does not parse', () => {
    expect(() => parseResultFile('ok\nFoo { a: "unterminated }\n')).toThrow(RustDebugSyntaxError);
    expect(() => parseResultFile('ok\nFoo { a: [1, 2 }\n')).toThrow(/line 2/);
  });
});

describe('parseRustDebug', () => {
  it('structs, options, variants, lists, maps, sets and tuples', () => {
    expect(parseRustDebug('A { x: Some(1), y: None, z: V1_1, w: Ok(()), t: (1, "a"), n: Pair(1, 2), e: Empty() }')).toEqual({
      $type: 'A',
      x: 1,
      y: null,
      z: 'V1_1',
      w: { $type: 'Ok', $value: [] },
      t: [1, 'a'],
      n: { $type: 'Pair', $value: [1, 2] },
      e: { $type: 'Empty', $value: [] },
    });
    expect(parseRustDebug('{"a": 1, "b": [true, false]}')).toEqual({ $map: [['a', 1], ['b', [true, false]]] });
    expect(parseRustDebug('{1, 2, 3}')).toEqual({ $set: [1, 2, 3] });
    expect(parseRustDebug('{}')).toEqual({ $map: [] });
    expect(parseRustDebug('[1, 2,]')).toEqual([1, 2]);
    expect(parseRustDebug('S { a: 1, .. }')).toEqual({ $type: 'S', a: 1 });
    expect(parseRustDebug('std::net::IpAddr::V4(10.0.0.1)')).toEqual({ $type: 'std::net::IpAddr::V4', $value: '10.0.0.1' });
  });

  it('numbers: negative, float, exponent, beyond 2^53, with units', () => {
    expect(parseRustDebug('[-5, 1.5, 1e-7, 9007199254740993, -9007199254740993, 0ns, 9.1ms, 18µs, 1533089597.971154s]')).toEqual([
      -5,
      1.5,
      1e-7,
      '9007199254740993',
      '-9007199254740993',
      '0ns',
      '9.1ms',
      '18µs',
      '1533089597.971154s',
    ]);
  });

  it('strings: Rust escapes, chars and byte strings', () => {
    expect(parseRustDebug('"a\\"b\\\\c\\n\\r\\t\\0\\u{1f600}\\x41"')).toBe('a"b\\c\n\r\t\0\u{1f600}A');
    expect(parseRustDebug("'x'")).toBe('x');
    expect(parseRustDebug("'\\''")).toBe("'");
    expect(parseRustDebug('b"GET \\xff\\x00"')).toBe('GET \u00ff\u0000');
    expect(parseRustDebug('"\\ud83d\\ude00"')).toBe('\u{1f600}');
  });

  it('rejects what is not Debug notation, with the offset', () => {
    expect(() => parseRustDebug('A { x: 1 } trailing')).toThrow(RustDebugSyntaxError);
    expect(() => parseRustDebug('"\\q"')).toThrow(/unknown escape/);
    try {
      parseRustDebug('[1, @]');
      throw new Error('no error');
    } catch (err) {
      expect(err).toBeInstanceOf(RustDebugSyntaxError);
      expect((err as RustDebugSyntaxError).offset).toBe(4);
      expect((err as RustDebugSyntaxError).code).toBe('ERR_RUST_DEBUG_SYNTAX');
    }
  });
});
