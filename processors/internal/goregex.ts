/**
 * Regular expressions written for the Go Collector, compiled as JavaScript.
 *
 * Collector configs carry RE2 syntax, so a pattern copied from a Collector
 * config must mean the same thing here or fail loudly at load. The common
 * differences are translated: `(?P<name>…)` named groups, a leading flag
 * group such as `(?i)` or `(?is)`, and the `\A` / `\z` text anchors.
 * Patterns compile with the `u` flag first so that escapes JavaScript would
 * otherwise read as literals (`\z` as "z") are rejected rather than silently
 * changing meaning; a pattern that only fails in `u` mode (such as `\-`
 * outside a class, which RE2 accepts) is retried without it.
 */

/** A compiled pattern, or the reason it could not be compiled. */
export type CompiledRegExp = { ok: true; re: RegExp } | { ok: false; error: string };

const FLAG_GROUP = /^\(\?([a-zA-Z]+)\)/;

/**
 * Compiles an RE2-style pattern. Matching is unanchored (like Go's
 * `MatchString`); anchor with `^…$` for a whole-string match. Never throws.
 */
export function compileGoRegExp(pattern: string): CompiledRegExp {
  let src = pattern;
  let flags = '';
  const fm = FLAG_GROUP.exec(src);
  if (fm) {
    for (const f of fm[1]) {
      if (f === 'i' || f === 'm' || f === 's') {
        if (!flags.includes(f)) flags += f;
      } else {
        return { ok: false, error: `invalid regular expression "${pattern}": flag "${f}" is not supported` };
      }
    }
    src = src.slice(fm[0].length);
  }
  const translated = translate(src);
  if (typeof translated !== 'string') return { ok: false, error: `invalid regular expression "${pattern}": ${translated.error}` };
  src = translated;
  try {
    return { ok: true, re: new RegExp(src, flags + 'u') };
  } catch {
    try {
      return { ok: true, re: new RegExp(src, flags) };
    } catch (err) {
      return { ok: false, error: `invalid regular expression "${pattern}": ${(err as Error).message.replace(/^Invalid regular expression: /, '')}` };
    }
  }
}

/**
 * Rewrites RE2-only syntax outside character classes and leaves the rest as
 * is; reports RE2 syntax that JavaScript would silently read differently.
 */
function translate(src: string): string | { error: string } {
  let out = '';
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\' && i + 1 < src.length) {
      const n = src[i + 1];
      i++;
      if (!inClass && n === 'A') out += '(?<![\\s\\S])';
      else if (!inClass && n === 'z') out += '(?![\\s\\S])';
      else out += c + n;
      continue;
    }
    if (inClass) {
      if (c === '[' && src[i + 1] === ':') return { error: 'POSIX classes such as [[:alpha:]] are not supported; use [a-zA-Z] or \\p{L}' };
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      // A `]` right after `[` or `[^` is a literal in RE2; keep it inside the class.
      if (src[i + 1] === '^') out += src[++i];
      if (src[i + 1] === ']') out += '\\' + src[++i];
      continue;
    }
    if (c === '(' && src.startsWith('(?P<', i)) {
      out += '(?<';
      i += 3;
      continue;
    }
    out += c;
  }
  return out;
}

/**
 * The capture groups of a compiled pattern: how many there are and the names
 * of the named ones, in order. Found by matching the empty string against
 * `(?:re)|`, whose result has one slot per group of `re`.
 */
export function captureGroups(re: RegExp): { total: number; names: string[] } {
  const m = new RegExp(`(?:${re.source})|`, re.flags).exec('');
  const total = m ? m.length - 1 : 0;
  return { total, names: m?.groups ? Object.keys(m.groups) : [] };
}
