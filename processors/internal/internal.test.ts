import { compileActions, configValueToAnyValue, convertValue, hashValue, type ActionConfig } from './attraction';
import { captureGroups, compileGoRegExp } from './goregex';

const re = (p: string): RegExp => {
  const c = compileGoRegExp(p);
  if (!c.ok) throw new Error(c.error);
  return c.re;
};
const err = (p: string): string => {
  const c = compileGoRegExp(p);
  return c.ok ? 'compiled' : c.error;
};

describe('Go regular expressions', () => {
  test('(?P<name>) named groups', () => {
    expect(re('(?P<user>\\w+)@(?P<host>[\\w.]+)').exec('ann@example.org')?.groups).toEqual({ user: 'ann', host: 'example.org' });
  });

  test('leading flag groups become flags', () => {
    expect(re('(?i)^get$').test('GET')).toBe(true);
    expect(re('(?s)a.b').test('a\nb')).toBe(true);
    expect(re('a.b').test('a\nb')).toBe(false);
    expect(err('(?U)a+')).toBe('invalid regular expression "(?U)a+": flag "U" is not supported');
  });

  test('\\A and \\z anchor the whole text, even in multi-line mode', () => {
    const r = re('(?m)\\Afoo$\\n^bar\\z');
    expect(r.test('foo\nbar')).toBe(true);
    expect(r.test('x\nfoo\nbar')).toBe(false);
    expect(r.test('foo\nbar\n')).toBe(false);
  });

  test('matching is unanchored, as Go MatchString', () => {
    expect(re('ogi').test('login')).toBe(true);
  });

  test('escapes only RE2 accepts fall back to non-unicode mode', () => {
    expect(re('a\\-b').test('a-b')).toBe(true);
    expect(re('[]a]').test(']')).toBe(true);
  });

  test('what JavaScript would read differently is reported, not guessed', () => {
    expect(err('[[:alpha:]]+')).toBe('invalid regular expression "[[:alpha:]]+": POSIX classes such as [[:alpha:]] are not supported; use [a-zA-Z] or \\p{L}');
    expect(err('a(')).toBe('invalid regular expression "a(": /a(/: Unterminated group');
  });

  test('capture groups are counted with their names', () => {
    expect(captureGroups(re('(?P<a>x)(y)(?:z)(?P<b>w)'))).toEqual({ total: 3, names: ['a', 'b'] });
  });
});

describe('attribute actions', () => {
  test('hash uses the Collector byte encoding', () => {
    expect(hashValue('abc')).toBe('a9993e364706816aba3e25717850c26c9cd0d89d');
    expect(hashValue(24)).toBe('a03371b59561ca253ea7c4a9061da0ac80b264af');
    expect(hashValue(24n)).toBe('a03371b59561ca253ea7c4a9061da0ac80b264af');
    expect(hashValue(2.4)).toBe('9ddf5609cc511ef2e860a924234e3577579a0bfe');
    expect(hashValue(null)).toBe('');
  });

  test('convert follows Go strconv rules and keeps what it cannot convert', () => {
    expect(convertValue('-17', 'int')).toBe(-17);
    expect(convertValue('+5', 'int')).toBe(5);
    expect(convertValue(' 5', 'int')).toBe(' 5');
    expect(convertValue('99999999999999999999', 'int')).toBe('99999999999999999999');
    expect(convertValue(true, 'int')).toBe(1);
    expect(convertValue(NaN, 'int')).toBeNaN();
    expect(convertValue('.5', 'double')).toBe(0.5);
    expect(convertValue('-Inf', 'double')).toBe(-Infinity);
    expect(convertValue('0x10', 'double')).toBe('0x10');
    expect(convertValue(2n ** 70n, 'double')).toBe(2 ** 70);
    expect(convertValue(new Uint8Array([104, 105]), 'string')).toBe('aGk=');
    expect(convertValue(null, 'string')).toBe('');
  });

  test('config values keep their YAML types; non-YAML values are reported', () => {
    expect(configValueToAnyValue({ a: [1, 'x', null], b: true })).toEqual({ ok: true, value: { a: [1, 'x', null], b: true } });
    expect(configValueToAnyValue(new Date(0))).toEqual({ ok: false, error: 'unsupported value type; use a string, number, boolean, list or map' });
    expect(configValueToAnyValue(() => 1)).toEqual({ ok: false, error: 'unsupported value type; use a string, number, boolean, list or map' });
  });

  test('a hand-built config with an unknown action is reported, not thrown', () => {
    const { proc, problems } = compileActions([{ key: 'a', action: 'rename' } as unknown as ActionConfig], 'actions');
    expect(problems).toEqual([['actions::0::action', 'unsupported action "rename"; valid actions are insert, update, upsert, delete, hash, extract, convert']]);
    expect(proc.size).toBe(0);
  });
});
