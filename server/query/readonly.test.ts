import { refuseReason } from './readonly';

describe('read-only SQL guard', () => {
  it.each([
    'SELECT count() FROM otel_traces',
    '  select 1;',
    'WITH x AS (SELECT 1) SELECT * FROM x',
    '(SELECT 1) UNION ALL (SELECT 2)',
    'SHOW TABLES',
    'DESCRIBE TABLE otel_traces',
    'desc otel_logs',
    'EXPLAIN SELECT 1',
    'EXISTS TABLE otel_traces',
    "SELECT 'DROP TABLE x; INSERT' AS s",
    "SELECT file FROM t WHERE name = 'file(\\'/etc/passwd\\')'",
    '-- a comment\nSELECT 1 /* DELETE */',
    'SELECT `file` FROM t',
  ])('allows %j', (sql) => {
    expect(refuseReason(sql)).toBeUndefined();
  });

  it.each([
    ['INSERT INTO otel_traces VALUES (1)', 'INSERT statements are not allowed: the SQL API is read-only (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS)'],
    ['drop table otel_traces', 'DROP statements are not allowed: the SQL API is read-only (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS)'],
    ['ALTER TABLE t DELETE WHERE 1', 'ALTER statements are not allowed: the SQL API is read-only (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS)'],
    ['SELECT 1; DROP TABLE t', 'only one statement per request is allowed'],
    ["SELECT * FROM file('/etc/passwd', 'LineAsString')", 'table function file() is not allowed: the SQL API reads only the MetaFlow database'],
    ["SELECT * FROM url('http://x/', 'CSV')", 'table function url() is not allowed: the SQL API reads only the MetaFlow database'],
    ["SELECT * FROM `s3` ('x')", 'table function s3() is not allowed: the SQL API reads only the MetaFlow database'],
    ["SELECT 1 INTO OUTFILE '/tmp/x'", 'INTO OUTFILE is not allowed: the SQL API is read-only'],
    ["SELECT * FROM executable('x.sh', 'TSV', 'a String')", 'table function executable() is not allowed: the SQL API reads only the MetaFlow database'],
    ["SELECT 'unterminated", 'the statement has an unterminated string, identifier or comment'],
    ['   ', 'the statement is empty'],
    ['123', 'the statement must start with SELECT, WITH, SHOW, DESCRIBE, EXPLAIN or EXISTS'],
  ])('refuses %j', (sql, reason) => {
    expect(refuseReason(sql)).toBe(reason);
  });

  it('never throws on random input', () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const alphabet = "SELECT FROM file('x') ;'\"`/*-#\\\n\t()abc123";
    for (let i = 0; i < 20000; i++) {
      const s = Array.from({ length: Math.floor(rand() * 60) }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('');
      const r = refuseReason(s);
      expect(r === undefined || typeof r === 'string').toBe(true);
    }
  });
});
