/**
 * The read-only guard of `/api/v1/sql`.
 *
 * A statement is allowed when it is a single SELECT, WITH, SHOW, DESCRIBE,
 * DESC, EXPLAIN or EXISTS statement. Because the embedded engine can read and
 * write the machine's files and reach the network through table functions,
 * reads are also refused when they use `INTO OUTFILE` or a table function that
 * leaves the database (`file`, `url`, `s3`, `remote`, `mysql`, `executable`,
 * …). The check runs on tokens, so keywords inside string literals, quoted
 * identifiers and comments do not count.
 */

/** Why a statement was refused, or undefined when it is allowed. */
export function refuseReason(sql: string): string | undefined {
  const tokens = tokenize(sql);
  if (tokens === undefined) return 'the statement has an unterminated string, identifier or comment';
  const words = tokens;
  if (!words.length) return 'the statement is empty';
  // One statement: a ';' may only end the text.
  const semi = words.findIndex((t) => t.kind === 'punct' && t.text === ';');
  if (semi >= 0 && semi < words.length - 1) return 'only one statement per request is allowed';
  let i = 0;
  while (i < words.length && words[i].kind === 'punct' && words[i].text === '(') i++;
  const first = words[i];
  if (!first || first.kind !== 'word') return 'the statement must start with SELECT, WITH, SHOW, DESCRIBE, EXPLAIN or EXISTS';
  const verb = first.text.toUpperCase();
  if (!ALLOWED.has(verb)) return `${verb} statements are not allowed: the SQL API is read-only (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS)`;
  for (let j = 0; j < words.length; j++) {
    const t = words[j];
    if (t.kind !== 'word') continue;
    const upper = t.text.toUpperCase();
    if (upper === 'OUTFILE') return 'INTO OUTFILE is not allowed: the SQL API is read-only';
    const next = words[j + 1];
    if (next && next.kind === 'punct' && next.text === '(' && EXTERNAL_FUNCTIONS.has(t.text.toLowerCase())) {
      return `table function ${t.text}() is not allowed: the SQL API reads only the MetaFlow database`;
    }
  }
  return undefined;
}

const ALLOWED = new Set(['SELECT', 'WITH', 'SHOW', 'DESCRIBE', 'DESC', 'EXPLAIN', 'EXISTS']);

/** Table functions (and functions) that read or write outside the database. */
const EXTERNAL_FUNCTIONS = new Set(
  [
    'file', 'filecluster', 'url', 'urlcluster', 's3', 's3cluster', 'gcs', 'oss', 'cos', 'cosn', 'hdfs', 'hdfscluster',
    'azureblobstorage', 'azureblobstoragecluster', 'remote', 'remotesecure', 'cluster', 'clusterallreplicas',
    'mysql', 'postgresql', 'sqlite', 'mongodb', 'redis', 'jdbc', 'odbc', 'executable', 'input', 'iceberg',
    'icebergs3', 'icebergazure', 'iceberghdfs', 'icebergcluster', 'icebergs3cluster', 'deltalake', 'deltalakecluster',
    'hudi', 'hudicluster', 'hive', 'python', 'arrowflight', 'ytsaurus', 'prometheusquery', 'timeseriesdata',
    'fuzzjson', 'fuzzquery', 'loop', 'paimon', 'datalakecatalog', 'kafka', 'nats', 'rabbitmq',
  ],
);

interface Token {
  kind: 'word' | 'punct' | 'literal';
  text: string;
}

/** Splits SQL into words, punctuation and literals; undefined when unterminated. */
function tokenize(sql: string): Token[] | undefined {
  const out: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') {
      i++;
    } else if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++;
    } else if (c === '#' && (sql[i + 1] === ' ' || sql[i + 1] === '!')) {
      while (i < n && sql[i] !== '\n') i++;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end < 0) return undefined;
      i = end + 2;
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      for (; j < n; j++) {
        if (sql[j] === '\\') j++;
        else if (sql[j] === c) {
          if (sql[j + 1] === c) j++;
          else break;
        }
      }
      if (j >= n) return undefined;
      // A quoted identifier followed by '(' is still a function name.
      out.push(c === "'" ? { kind: 'literal', text: '' } : { kind: 'word', text: sql.slice(i + 1, j) });
      i = j + 1;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$]/.test(sql[j])) j++;
      out.push({ kind: 'word', text: sql.slice(i, j) });
      i = j;
    } else if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < n && /[0-9A-Za-z_.]/.test(sql[j])) j++;
      out.push({ kind: 'literal', text: sql.slice(i, j) });
      i = j;
    } else {
      out.push({ kind: 'punct', text: c });
      i++;
    }
  }
  return out;
}
