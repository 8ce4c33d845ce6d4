import { harness as newHarness } from '../testing/testkit';
import { type L7Session, type ParserOptions } from '../types';
import { MEMCACHED_MALFORMED, spec } from './index';

const harness = (options: Partial<ParserOptions> = {}) => newHarness(spec, options);

const B = (s: string) => Buffer.from(s);

function row(s: L7Session) {
  return [s.request_type, s.request_resource, s.response_status, s.response_result, s.response_exception];
}

describe('Memcached parser', () => {
  test('storage, retrieval, delete, incr and touch pair in order; data blocks split across chunks', () => {
    const h = harness();
    h.p.feed(0, B('set foo 0 0 3\r\n'), 1n, {});
    h.p.feed(0, B('ba'), 2n, {});
    h.p.feed(0, B('r\r\nget foo\r\nget missing\r\ndelete gone\r\nincr n 5\r\ntouch foo 60\r\n'), 3n, {});
    h.p.feed(1, B('STORED\r\nVALUE foo 0 3\r\nbar\r\nEND\r\nEND\r\nNOT_FOUND\r\n'), 10n, {});
    h.p.feed(1, B('15\r\nTOUCHED\r\n'), 11n, {});
    expect(h.malformed).toEqual({});
    expect(h.sessions.map(row)).toEqual([
      ['set', 'foo', 'ok', 'STORED', ''],
      ['get', 'foo', 'ok', 'VALUE foo 0 3', ''],
      ['get', 'missing', 'ok', 'END', ''],
      ['delete', 'gone', 'ok', 'NOT_FOUND', ''],
      ['incr', 'n', 'ok', '15', ''],
      ['touch', 'foo', 'ok', 'TOUCHED', ''],
    ]);
    const [set, hit, miss] = h.sessions;
    expect([set.start_time, set.request_length, set.captured_request_bytes, set.end_time]).toEqual([1n, 3, 20, 10n]);
    expect([hit.attributes['memcached.hits'], hit.response_length, hit.captured_response_bytes]).toEqual(['1', 3, 25]);
    expect([miss.attributes['memcached.hits'], miss.response_length]).toEqual(['0', 0]);
  });

  test('a multi-key get counts its hits and the declared bytes', () => {
    const h = harness();
    h.p.feed(0, B('gets a b c\r\n'), 1n, {});
    h.p.feed(1, B('VALUE a 0 2 11\r\naa\r\nVALUE c 5 4 12\r\ncccc\r\nEND\r\n'), 2n, {});
    expect(h.sessions[0]).toMatchObject({ request_resource: 'a b c', response_length: 6, response_result: 'VALUE a 0 2 11' });
    expect(h.sessions[0].attributes['memcached.hits']).toBe('2');
  });

  test('noreply commands and quit are reported at once as unknown, never as timeouts, and do not shift pairing', () => {
    const h = harness();
    h.p.feed(0, B('set k 0 0 1 noreply\r\nx\r\ndelete k noreply\r\nget k\r\nquit\r\n'), 1n, {});
    expect(h.sessions.map((s) => [s.request_type, s.response_status, s.attributes['memcached.noreply']])).toEqual([
      ['set', 'unknown', 'true'],
      ['delete', 'unknown', 'true'],
      ['quit', 'unknown', 'true'],
    ]);
    h.p.feed(1, B('END\r\n'), 2n, {});
    h.p.close(3n);
    expect(h.sessions.map((s) => [s.request_type, s.response_status])).toEqual([
      ['set', 'unknown'],
      ['delete', 'unknown'],
      ['quit', 'unknown'],
      ['get', 'ok'],
    ]);
  });

  test('ERROR and CLIENT_ERROR are client errors, SERVER_ERROR a server error', () => {
    const h = harness();
    h.p.feed(0, B('bogus\r\nset k 0 0 2\r\nabc\r\nset big 0 0 1\r\nx\r\n'), 1n, {});
    // As memcached does, the byte after the short block is read as a command ("c" → ERROR).
    h.p.feed(1, B('ERROR\r\nCLIENT_ERROR bad data chunk\r\nERROR\r\nSERVER_ERROR out of memory storing object\r\n'), 2n, {});
    expect(h.sessions.map(row)).toEqual([
      ['bogus', '', 'client_error', 'ERROR', 'ERROR'],
      ['set', 'k', 'client_error', 'CLIENT_ERROR bad data chunk', 'bad data chunk'],
      ['c', '', 'client_error', 'ERROR', 'ERROR'],
      ['set', 'big', 'server_error', 'SERVER_ERROR out of memory storing object', 'out of memory storing object'],
    ]);
    // "abc" is one byte longer than declared: the terminator check catches it.
    expect(h.malformed[MEMCACHED_MALFORMED.terminator]).toBe(1);
    expect(h.sessions[1].truncated).toBe(true);
  });

  test('stats reads STAT lines until END', () => {
    const h = harness();
    h.p.feed(0, B('stats\r\nstats slabs\r\nversion\r\n'), 1n, {});
    h.p.feed(1, B('STAT pid 1\r\nSTAT uptime 2\r\nEND\r\nSTAT 1:chunk_size 96\r\nEND\r\nVERSION 1.6.21\r\n'), 2n, {});
    expect(h.sessions.map((s) => [s.request_type, s.request_resource, s.response_result, s.captured_response_bytes])).toEqual([
      ['stats', '', '', 32],
      ['stats', 'slabs', '', 27],
      ['version', '', 'VERSION 1.6.21', 16],
    ]);
  });

  test('meta commands: mg with a value, ms with data, quiet md, mn', () => {
    const h = harness();
    h.p.feed(0, B('mg foo v t\r\nms bar 2 T60\r\nhi\r\nmd baz q\r\nmn\r\n'), 1n, {});
    h.p.feed(1, B('VA 3 t-1\r\nabc\r\nHD\r\nMN\r\n'), 2n, {});
    expect(h.sessions.map((s) => [s.request_type, s.request_resource, s.response_status, s.response_result])).toEqual([
      ['md', 'baz', 'unknown', ''],
      ['mg', 'foo', 'ok', 'VA 3 t-1'],
      ['ms', 'bar', 'ok', 'HD'],
      ['mn', '', 'ok', 'MN'],
    ]);
    expect(h.sessions[1].response_length).toBe(3);
    expect(h.sessions[2].request_length).toBe(2);
  });

  test('a 1 MB value streams through a 4 KB buffer limit', () => {
    const h = harness({ maxBufferBytes: 4096 });
    h.p.feed(0, B('get big\r\n'), 1n, {});
    const resp = Buffer.concat([B('VALUE big 0 1048576\r\n'), Buffer.alloc(1048576, 0x41), B('\r\nEND\r\n')]);
    for (let i = 0, t = 2n; i < resp.length; i += 1448, t++) h.p.feed(1, resp.subarray(i, i + 1448), t, {});
    expect(h.malformed).toEqual({});
    expect(h.sessions[0]).toMatchObject({ response_length: 1048576, captured_response_bytes: resp.length, truncated: false });
  });

  test('a storage command seen in part (prefix capture) is truncated and still paired', () => {
    const h = harness();
    const full = Buffer.concat([B('set k 0 0 5000\r\n'), Buffer.alloc(5000, 0x61), B('\r\n')]);
    h.p.feed(0, full.subarray(0, 200), 1n, { messageLength: full.length });
    h.p.feed(0, B('get k\r\n'), 2n, {});
    h.p.feed(1, B('STORED\r\nEND\r\n'), 3n, {});
    expect(h.sessions.map((s) => [s.request_type, s.truncated, s.captured_request_bytes, s.response_result])).toEqual([
      ['set', true, 200, 'STORED'],
      ['get', false, 7, 'END'],
    ]);
  });

  test('after a gap the parser skips to the next line', () => {
    const h = harness();
    h.p.feed(0, B('get a\r\n'), 1n, {});
    h.p.feed(0, B('xx 0 0 3\r\nget b\r\n'), 2n, { gap: true });
    h.p.feed(1, B('END\r\nEND\r\n'), 3n, {});
    expect(h.sessions.map((s) => s.request_resource)).toEqual(['a', 'b']);
  });

  test('unanswered requests time out; responses without requests are reported alone', () => {
    const h = harness({ requestTimeoutNs: 50n });
    h.p.feed(1, B('STORED\r\n'), 1n, {});
    h.p.feed(0, B('get a\r\n'), 10n, {});
    h.p.expire(59n);
    expect(h.sessions).toHaveLength(1);
    h.p.expire(60n);
    expect(h.sessions.map((s) => [s.request_type, s.response_status, s.response_result])).toEqual([
      ['', 'ok', 'STORED'],
      ['get', 'timeout', ''],
    ]);
  });
});

describe('Memcached inference', () => {
  test('storage commands are certain, retrievals plausible, other text not memcached', () => {
    expect(spec.infer(B('set foo 0 0 3\r\nbar\r\n'), 0, 11211)).toBe(2);
    expect(spec.infer(B('get foo\r\n'), 0, 11211)).toBe(1);
    expect(spec.infer(B('GET foo\r\n'), 0, 11211)).toBe(0);
    expect(spec.infer(B('set foo bar\r\n'), 0, 11211)).toBe(0);
    expect(spec.infer(B('GET / HTTP/1.1\r\n\r\n'), 0, 11211)).toBe(0);
  });
  test('replies', () => {
    expect(spec.infer(B('VALUE foo 0 3\r\nbar\r\nEND\r\n'), 1, 11211)).toBe(2);
    expect(spec.infer(B('STORED\r\n'), 1, 11211)).toBe(2);
    expect(spec.infer(B('END\r\n'), 1, 11211)).toBe(1);
    expect(spec.infer(B('+OK\r\n'), 1, 11211)).toBe(0);
    expect(spec.infer(Uint8Array.from([0x81, 0, 0, 0]), 1, 11211)).toBe(0);
  });
});
