import { DEFAULT_MAX_SQL_LENGTH, SQL_FACTS_MAX_ENTRIES, SQL_FACTS_MAX_KEY, obfuscateSql, sqlEndpoint, sqlFacts, sqlFactsCounters, sqlOperation } from './sql';

describe('obfuscateSql', () => {
  const my = (s: string) => obfuscateSql(s, 'mysql');
  const pg = (s: string) => obfuscateSql(s, 'postgresql');

  test('replaces string literals, with doubled quotes and backslash escapes (MySQL)', () => {
    expect(my("SELECT * FROM t WHERE name = 'O''Brien' AND x = 'a\\'b'")).toBe('SELECT * FROM t WHERE name = ? AND x = ?');
    expect(my("insert into tmp (id,lcuuid) values (1000,'yuanchao-test')")).toBe('insert into tmp (id,lcuuid) values (?,?)');
  });

  test('MySQL double-quoted text is a string; PostgreSQL double-quoted text is an identifier', () => {
    expect(my('SELECT * FROM t WHERE a = "secret"')).toBe('SELECT * FROM t WHERE a = ?');
    expect(pg('SELECT "Name" FROM "Users" WHERE id = 7')).toBe('SELECT "Name" FROM "Users" WHERE id = ?');
  });

  test('PostgreSQL standard strings keep backslashes literal; E-strings honour them', () => {
    // In a standard string the backslash is a character: the literal ends at the second quote.
    expect(pg("SELECT 'C:\\' AS p, 1")).toBe('SELECT ? AS p, ?');
    expect(pg("SELECT E'it\\'s', 2")).toBe('SELECT ?, ?');
  });

  test('dollar-quoted strings (PostgreSQL) are literals; $n placeholders stay', () => {
    expect(pg('SELECT $$a\'b$$, $fn$ body $fn$ FROM t WHERE id = $1')).toBe('SELECT ?, ? FROM t WHERE id = $1');
  });

  test('numbers, hex and binary literals; digits inside identifiers stay', () => {
    expect(my('SELECT t1.col_2, 3.14, .5, 1e-3, -7 FROM t1 WHERE x = 0x1F OR y = 0b101 LIMIT 10')).toBe(
      'SELECT t1.col_2, ?, ?, ?, -? FROM t1 WHERE x = ? OR y = ? LIMIT ?',
    );
    expect(my("SELECT X'0A', B'01', N'abc', _utf8mb4'x', _binary 'y' FROM 1abc")).toBe('SELECT ?, ?, ?, _utf8mb4?, _binary ? FROM 1abc');
    expect(pg("SELECT U&'d\\0061t' , x'ff'")).toBe('SELECT ? , ?');
  });

  test('TRUE, FALSE and NULL are kept', () => {
    expect(my('UPDATE t SET a = TRUE, b = NULL WHERE c IS NOT FALSE')).toBe('UPDATE t SET a = TRUE, b = NULL WHERE c IS NOT FALSE');
  });

  test('IN lists of literals collapse to one placeholder, subqueries do not', () => {
    expect(my("SELECT * FROM t WHERE id IN (1, 2, 3) AND s in ('a','b')")).toBe('SELECT * FROM t WHERE id IN (?) AND s in (?)');
    expect(pg('SELECT * FROM t WHERE id IN ($1, $2, $3)')).toBe('SELECT * FROM t WHERE id IN (?)');
    expect(my('SELECT * FROM t WHERE id IN(?,?,?)')).toBe('SELECT * FROM t WHERE id IN (?)');
    expect(my('SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE v = 5)')).toBe('SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE v = ?)');
    expect(my('SELECT * FROM t WHERE id IN (a, 2)')).toBe('SELECT * FROM t WHERE id IN (a, ?)');
    // A word that merely starts with "in" is not the keyword.
    expect(my('SELECT index1 FROM t')).toBe('SELECT index1 FROM t');
  });

  test('comments are removed; MySQL executable comments keep their SQL', () => {
    expect(my("SELECT 1 -- trailing\nFROM t # mysql comment\nWHERE a = 'x' /* block */")).toBe('SELECT ? FROM t WHERE a = ?');
    expect(my("/*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/ SELECT 1")).toBe('SELECT ?');
    expect(my('/*!40101 SET NAMES utf8 */')).toBe('SET NAMES utf8');
    // `1--2` is arithmetic in MySQL, not a comment.
    expect(my('SELECT 1--2')).toBe('SELECT ?--?');
    // PostgreSQL nests block comments and has no `#` comments.
    expect(pg('SELECT /* a /* b */ c */ 1 # 2')).toBe('SELECT ? # ?');
  });

  test('whitespace runs collapse and the result is trimmed', () => {
    expect(my('  SELECT\n\t*\r\n  FROM   t  ')).toBe('SELECT * FROM t');
  });

  test('placeholders and variables are kept', () => {
    expect(my('SELECT @@version_comment, @a := 5 FROM t WHERE b = ? AND c = :name')).toBe('SELECT @@version_comment, @a := ? FROM t WHERE b = ? AND c = :name');
  });

  test('unterminated literals are hidden to the end', () => {
    expect(my("SELECT * FROM t WHERE a = 'unterminated secret")).toBe('SELECT * FROM t WHERE a = ?');
    expect(pg('SELECT $x$ never closed')).toBe('SELECT ?');
  });

  test('output is bounded', () => {
    const long = 'SELECT ' + 'a, '.repeat(10000) + 'b FROM t';
    expect(obfuscateSql(long, 'mysql', 100).length).toBeLessThanOrEqual(100);
    expect(obfuscateSql(long).length).toBeLessThanOrEqual(DEFAULT_MAX_SQL_LENGTH);
    expect(obfuscateSql(long, 'mysql', 100).startsWith('SELECT a, a, ')).toBe(true);
  });

  test('runs in linear time on hostile input', () => {
    // Many IN keywords with long almost-lists, quotes and comment openers.
    const nasty = ('IN (1, 2, 3, x ' + "' ".repeat(3) + '/*').repeat(20000);
    const t0 = process.hrtime.bigint();
    obfuscateSql(nasty, 'postgresql', 1 << 30);
    obfuscateSql(nasty, 'mysql', 1 << 30);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    // ~1 MB of input: linear scanning takes milliseconds; a quadratic scan would take minutes.
    expect(ms).toBeLessThan(5000);
  });

  test('never throws on random text', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const alphabet = "'\"`$\\-/*#!()?,.0123456789xXbBeEnNuU& \n\tINin@:;";
    for (let k = 0; k < 2000; k++) {
      let s = '';
      const len = Math.floor(rnd() * 60);
      for (let i = 0; i < len; i++) s += alphabet[Math.floor(rnd() * alphabet.length)];
      expect(typeof obfuscateSql(s, 'mysql')).toBe('string');
      expect(typeof obfuscateSql(s, 'postgresql')).toBe('string');
      expect(typeof sqlOperation(s).operation).toBe('string');
    }
  });
});

describe('sqlOperation', () => {
  const op = (s: string, d: 'mysql' | 'postgresql' = 'mysql') => {
    const o = sqlOperation(s, d);
    return [o.operation, o.table, sqlEndpoint(o)];
  };

  test('the verbs and tables of the DeepFlow MySQL captures', () => {
    expect(op('SELECT * FROM `controller` WHERE name = ?')).toEqual(['SELECT', 'controller', 'SELECT controller']);
    expect(op("insert into tmp (id,lcuuid) values (1000,'yuanchao-test')")).toEqual(['INSERT', 'tmp', 'INSERT tmp']);
    expect(op('update test_table set age=1000 where id=1')).toEqual(['UPDATE', 'test_table', 'UPDATE test_table']);
    expect(op('delete from test_table  where id=1')).toEqual(['DELETE', 'test_table', 'DELETE test_table']);
    expect(op('create table `test_table_2`( `id` int)engine=innodb')).toEqual(['CREATE', 'test_table_2', 'CREATE test_table_2']);
    expect(op('drop table test_table_2')).toEqual(['DROP', 'test_table_2', 'DROP test_table_2']);
    expect(op('ALTER TABLE test_table ADD teacher_name varchar(20)')).toEqual(['ALTER', 'test_table', 'ALTER test_table']);
  });

  test('statements without a table have no endpoint', () => {
    expect(op('select @@version_comment limit 1')).toEqual(['SELECT', '', '']);
    expect(op('create database yuanchao2')).toEqual(['CREATE', '', '']);
    expect(op('SET NAMES utf8')).toEqual(['SET', '', '']);
    expect(op('use `test`')).toEqual(['USE', '', '']);
    expect(op('desc test_table')).toEqual(['DESC', '', '']);
    expect(op('')).toEqual(['', '', '']);
    expect(op('   /* only a comment */')).toEqual(['', '', '']);
  });

  test('qualified names, modifiers, subqueries, CTEs and leading comments', () => {
    expect(op('/* c */ (SELECT a FROM mil.mil_t_itemapanage t1)', 'postgresql')).toEqual(['SELECT', 'mil.mil_t_itemapanage', 'SELECT mil.mil_t_itemapanage']);
    expect(op('SELECT EXTRACT(YEAR FROM d) FROM orders')).toEqual(['SELECT', 'orders', 'SELECT orders']);
    expect(op('SELECT * FROM (SELECT * FROM inner_t) x')).toEqual(['SELECT', 'inner_t', 'SELECT inner_t']);
    expect(op('SELECT * FROM "Sch"."Tab"', 'postgresql')).toEqual(['SELECT', 'Sch.Tab', 'SELECT Sch.Tab']);
    expect(op('INSERT IGNORE INTO `db`.`t` VALUES (1)')).toEqual(['INSERT', 'db.t', 'INSERT db.t']);
    expect(op('REPLACE INTO t2 SET a=1')).toEqual(['REPLACE', 't2', 'REPLACE t2']);
    expect(op('CREATE TEMPORARY TABLE IF NOT EXISTS tmp1 (a int)')).toEqual(['CREATE', 'tmp1', 'CREATE tmp1']);
    expect(op('DROP TABLE IF EXISTS old')).toEqual(['DROP', 'old', 'DROP old']);
    expect(op('TRUNCATE logs')).toEqual(['TRUNCATE', 'logs', 'TRUNCATE logs']);
    expect(op('with x as (select * from a) select * from x join b on true', 'postgresql')).toEqual(['SELECT', 'x', 'SELECT x']);
    expect(op('DELETE FROM ONLY parent WHERE id = 1', 'postgresql')).toEqual(['DELETE', 'parent', 'DELETE parent']);
    expect(op('/*!40101 SELECT a FROM b */')).toEqual(['SELECT', 'b', 'SELECT b']);
  });
});

describe('sqlFacts', () => {
  test('gives what the helpers give, remembered or not', () => {
    const texts = [
      'SELECT id, status FROM orders WHERE id = $1 AND status <> $2',
      "SELECT * FROM t WHERE name = 'x' /*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/",
      'UPDATE inventory SET qty = qty - 1 WHERE sku = ?',
      'select 1',
    ];
    for (const sql of texts) {
      for (const dialect of ['mysql', 'postgresql'] as const) {
        for (const obfuscate of [true, false]) {
          for (let round = 0; round < 2; round++) {
            const f = sqlFacts(sql, dialect, obfuscate);
            const op = sqlOperation(sql, dialect);
            expect(f.resource).toBe(obfuscate ? obfuscateSql(sql, dialect) : sql);
            expect([f.operation, f.table, f.endpoint]).toEqual([op.operation, op.table, sqlEndpoint(op)]);
          }
        }
      }
    }
    expect(sqlFacts(texts[1], 'mysql', true).traceId).toBe('0af7651916cd43dd8448eb211c80319c');
  });

  test('remembers parameterised statements only, and counts hits', () => {
    const hits = sqlFactsCounters.hits;
    const a = sqlFacts('SELECT a FROM remembered_t WHERE id = ?', 'mysql', true);
    expect(sqlFacts('SELECT a FROM remembered_t WHERE id = ?', 'mysql', true)).toBe(a);
    expect(sqlFactsCounters.hits).toBe(hits + 1);
    // A literal: computed again each time (values rarely repeat).
    const b = sqlFacts('SELECT a FROM literal_t WHERE id = 42', 'mysql', true);
    expect(sqlFacts('SELECT a FROM literal_t WHERE id = 42', 'mysql', true)).not.toBe(b);
    // Obfuscation off, or a text over the key bound: never remembered.
    expect(sqlFacts('SELECT a FROM off_t', 'mysql', false)).not.toBe(sqlFacts('SELECT a FROM off_t', 'mysql', false));
    const long = `SELECT a FROM long_t WHERE b = ? ${' '.repeat(SQL_FACTS_MAX_KEY)}`;
    expect(sqlFacts(long, 'postgresql', true)).not.toBe(sqlFacts(long, 'postgresql', true));
    expect(sqlFactsCounters.hits).toBe(hits + 1);
  });

  test('the cache is bounded: the oldest statements are forgotten and counted', () => {
    const evicted = sqlFactsCounters.evicted;
    const first = sqlFacts('SELECT a FROM bound_t0 WHERE id = ?', 'postgresql', true);
    for (let i = 1; i <= SQL_FACTS_MAX_ENTRIES; i++) sqlFacts(`SELECT a FROM bound_t${i} WHERE id = ?`, 'postgresql', true);
    expect(sqlFactsCounters.evicted).toBeGreaterThan(evicted);
    // The first one was forgotten: a new object with the same facts.
    const again = sqlFacts('SELECT a FROM bound_t0 WHERE id = ?', 'postgresql', true);
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });
});
