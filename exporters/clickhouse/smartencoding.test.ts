/**
 * The name → id filter rewrite, as text: what is rewritten, what is left
 * alone because rewriting it would change its meaning, and that the
 * tokenizer gives every statement back byte for byte. The answers of
 * rewritten statements are checked against plain storage in
 * test/smartencoding.test.ts. Also the row builder's tag bookkeeping.
 */
import { SpanKind, StatusCode, type Traces } from '../../pipeline/pdata';
import { resourceId, SmartTraceRows, TagRegistry } from './rows-smart';
import { rewriteSql, tokenize } from './smartencoding';
import { sipHash64 } from './siphash';
import { tableNames } from './schema';

const ctx = {
  database: 'metaflow',
  tables: tableNames('otel_traces', 'otel_logs', { gauge: 'g', sum: 's', histogram: 'h', exponentialHistogram: 'e', summary: 'q' }),
};
const rw = (sql: string) => rewriteSql(sql, ctx);

describe('SmartEncoding filter rewrite', () => {
  test('equality on a name column becomes equality on its id, hashed by the engine', () => {
    expect(rw("SELECT count() FROM otel_traces WHERE ServiceName = 'cart'")).toBe("SELECT count() FROM otel_traces WHERE ServiceNameId = sipHash64('cart')");
    expect(rw("SELECT count() FROM otel_traces WHERE 'cart' = ServiceName")).toBe("SELECT count() FROM otel_traces WHERE sipHash64('cart') = ServiceNameId");
    expect(rw("SELECT 1 FROM otel_traces WHERE SpanName != 'GET /' AND ScopeVersion <> '1.0'")).toBe(
      "SELECT 1 FROM otel_traces WHERE SpanNameId != sipHash64('GET /') AND ScopeVersionId <> sipHash64('1.0')",
    );
    expect(rw('SELECT 1 FROM otel_traces WHERE ServiceName = {service:String}')).toBe('SELECT 1 FROM otel_traces WHERE ServiceNameId = sipHash64({service:String})');
  });

  test('IN lists and array parameters become id lists', () => {
    expect(rw("SELECT 1 FROM otel_traces WHERE ServiceName IN ('a', 'b') AND SpanName NOT IN ('x')")).toBe(
      "SELECT 1 FROM otel_traces WHERE ServiceNameId IN (sipHash64('a'), sipHash64('b')) AND SpanNameId NOT IN (sipHash64('x'))",
    );
    expect(rw('SELECT 1 FROM otel_traces WHERE ServiceName IN {list:Array(String)}')).toBe('SELECT 1 FROM otel_traces WHERE ServiceNameId IN arrayMap(x -> sipHash64(x), {list:Array(String)})');
  });

  test('LIKE and ordering comparisons become a lookup in the tag table', () => {
    expect(rw("SELECT 1 FROM otel_traces WHERE SpanName LIKE 'GET %'")).toBe("SELECT 1 FROM otel_traces WHERE SpanNameId IN (SELECT Id FROM `metaflow`.`otel_tags` WHERE Value LIKE 'GET %')");
    expect(rw("SELECT 1 FROM otel_traces WHERE ServiceName NOT ILIKE '%test%'")).toBe(
      "SELECT 1 FROM otel_traces WHERE ServiceNameId IN (SELECT Id FROM `metaflow`.`otel_tags` WHERE Value NOT ILIKE '%test%')",
    );
  });

  test('a resource attribute (a label) filter becomes a resource id filter', () => {
    expect(rw("SELECT 1 FROM otel_traces WHERE ResourceAttributes['k8s.pod.label.app'] = 'cart'")).toBe(
      "SELECT 1 FROM otel_traces WHERE ResourceId IN (SELECT ResourceId FROM `metaflow`.`otel_resources` WHERE Attributes['k8s.pod.label.app'] = 'cart')",
    );
    expect(rw("SELECT 1 FROM otel_traces AS t WHERE t.ResourceAttributes['host.name'] IN ('a', 'b')")).toBe(
      "SELECT 1 FROM otel_traces AS t WHERE t.ResourceId IN (SELECT ResourceId FROM `metaflow`.`otel_resources` WHERE Attributes['host.name'] IN ('a', 'b'))",
    );
  });

  test('a filter on an encoded span attribute becomes an id filter; an empty value is id 0; other keys stay', () => {
    expect(rw("SELECT 1 FROM otel_traces WHERE SpanAttributes['http.route'] = '/cart/{id}'")).toBe("SELECT 1 FROM otel_traces WHERE SpanTagIds['http.route'] = sipHash64('/cart/{id}')");
    expect(rw("SELECT 1 FROM otel_traces t WHERE t.SpanAttributes['metaflow.server.k8s.pod.name'] != '' AND SpanAttributes['db.system'] IN ('mysql', '')")).toBe(
      "SELECT 1 FROM otel_traces t WHERE t.SpanTagIds['metaflow.server.k8s.pod.name'] != toUInt64(0) AND SpanTagIds['db.system'] IN (sipHash64('mysql'), toUInt64(0))",
    );
    expect(rw('SELECT 1 FROM otel_traces WHERE SpanAttributes[\'rpc.method\'] = {m:String}')).toBe("SELECT 1 FROM otel_traces WHERE SpanTagIds['rpc.method'] = if({m:String} = '', toUInt64(0), sipHash64({m:String}))");
    expect(rw("SELECT 1 FROM otel_traces WHERE SpanAttributes['rpc.method'] NOT IN {l:Array(String)}")).toBe(
      "SELECT 1 FROM otel_traces WHERE SpanTagIds['rpc.method'] NOT IN arrayMap(x -> if(x = '', toUInt64(0), sipHash64(x)), {l:Array(String)})",
    );
    expect(rw("SELECT 1 FROM otel_traces WHERE SpanAttributes['http.route'] LIKE '/cart%'")).toBe(
      "SELECT 1 FROM otel_traces WHERE dictGetOrDefault('metaflow.otel_tags_dict', 'Value', SpanTagIds['http.route'], '') LIKE '/cart%'",
    );
    // Not encoded: a key outside SPAN_TAG_KEYS, the excepted client port, a key by parameter, a key with an escape.
    for (const sql of [
      "SELECT 1 FROM otel_traces WHERE SpanAttributes['url.path'] = '/x'",
      "SELECT 1 FROM otel_traces WHERE SpanAttributes['metaflow.client.port'] = '4000'",
      'SELECT 1 FROM otel_traces WHERE SpanAttributes[{k:String}] = {v:String}',
      "SELECT 1 FROM otel_traces WHERE SpanAttributes['http\\.route'] = 'x'",
    ]) {
      expect(rw(sql)).toBe(sql);
    }
  });

  test('the logs view: service and resource filters become id filters; columns only traces encode stay', () => {
    expect(rw("SELECT Body FROM otel_logs WHERE ServiceName = 'cart' AND ResourceAttributes['k8s.pod.label.app'] = 'cart' AND ScopeName = 'x'")).toBe(
      "SELECT Body FROM otel_logs WHERE ServiceNameId = sipHash64('cart') AND ResourceId IN (SELECT ResourceId FROM `metaflow`.`otel_resources` WHERE Attributes['k8s.pod.label.app'] = 'cart') AND ScopeName = 'x'",
    );
    // Joined with the traces view: only what both views encode.
    expect(rw("SELECT 1 FROM otel_logs l JOIN otel_traces t ON l.TraceId = t.TraceId WHERE t.SpanName = 'GET /' AND l.ServiceName = 'cart'")).toBe(
      "SELECT 1 FROM otel_logs l JOIN otel_traces t ON l.TraceId = t.TraceId WHERE t.SpanName = 'GET /' AND l.ServiceNameId = sipHash64('cart')",
    );
  });

  test('the metrics views: service and resource filters become id filters', () => {
    expect(rw("SELECT sum(Value) FROM s WHERE ServiceName = {s:String} AND ResourceAttributes['host.name'] = 'n1' GROUP BY MetricName")).toBe(
      "SELECT sum(Value) FROM s WHERE ServiceNameId = sipHash64({s:String}) AND ResourceId IN (SELECT ResourceId FROM `metaflow`.`otel_resources` WHERE Attributes['host.name'] = 'n1') GROUP BY MetricName",
    );
    expect(rw("SELECT 1 FROM q WHERE ServiceName = 'a'")).toBe("SELECT 1 FROM q WHERE ServiceNameId = sipHash64('a')");
    // A metrics view joined with the traces view: the span columns stay names.
    expect(rw("SELECT 1 FROM otel_traces t JOIN g m ON t.ServiceName = m.ServiceName WHERE t.SpanName = 'x'")).toBe(
      "SELECT 1 FROM otel_traces t JOIN g m ON t.ServiceName = m.ServiceName WHERE t.SpanName = 'x'",
    );
  });

  test('flow_log: resource and both ends\' tags become id filters; Attributes of a metrics view beside it stays', () => {
    expect(rw("SELECT count() FROM flow_log WHERE Attributes['metaflow.server.k8s.service.name'] = 'cart' AND Attributes['custom'] = 'x' AND ResourceAttributes['host.name'] = 'a'")).toBe(
      "SELECT count() FROM flow_log WHERE TagIds['metaflow.server.k8s.service.name'] = sipHash64('cart') AND Attributes['custom'] = 'x' AND ResourceId IN (SELECT ResourceId FROM `metaflow`.`otel_resources` WHERE Attributes['host.name'] = 'a')",
    );
    const mixed = "SELECT 1 FROM flow_log f JOIN s m ON f.ServerIp = m.Attributes['ip'] WHERE f.Attributes['metaflow.server.k8s.pod.name'] = 'p'";
    expect(rw(mixed)).toBe(mixed);
  });

  test('qualified columns and tables, quoted identifiers, the lookup table beside the view', () => {
    expect(rw("SELECT 1 FROM metaflow.otel_traces t WHERE t.`ServiceName` = 'a'")).toBe("SELECT 1 FROM metaflow.otel_traces t WHERE t.ServiceNameId = sipHash64('a')");
    expect(rw("SELECT 1 FROM `metaflow`.`otel_traces` WHERE countIf(ServiceName = 'a') > 0")).toBe("SELECT 1 FROM `metaflow`.`otel_traces` WHERE countIf(ServiceNameId = sipHash64('a')) > 0");
    const byId = "WITH (SELECT min(Start) FROM otel_traces_trace_id_ts WHERE TraceId = 'x') AS s SELECT * FROM otel_traces WHERE TraceId = 'x' AND ServiceName = 'a'";
    expect(rw(byId)).toBe(byId.replace("ServiceName = 'a'", "ServiceNameId = sipHash64('a')"));
  });

  test('statements that read other tables, or where the rewrite would change the meaning, are left as written', () => {
    const unchanged = [
      "SELECT count() FROM otel_network_metrics WHERE ServiceName = 'cart'",
      "SELECT 1 FROM otel_traces t JOIN otel_flow_log m ON t.ServiceName = m.ServiceName WHERE t.ServiceName = 'a'",
      "SELECT 1 FROM other.otel_traces WHERE ServiceName = 'a'",
      "SELECT 1 FROM otel_traces WHERE 'a' || ServiceName = 'xa'",
      "SELECT 1 FROM otel_traces WHERE ServiceName = 'x' || 'y'",
      "SELECT SpanName AS ServiceName FROM otel_traces WHERE ServiceName = 'x'",
      "WITH t AS (SELECT * FROM otel_traces) SELECT 1 FROM t WHERE ServiceName = 'a'",
      "SELECT 1 FROM numbers(3) WHERE 'ServiceName' = 'a'",
      "SELECT 'ServiceName = ''a''' FROM otel_traces",
      "SELECT 1 FROM otel_traces WHERE lower(ServiceName) = 'a'",
      "SELECT 1 FROM otel_traces WHERE ServiceName = {n:UInt64}",
      'SELECT 1 FROM otel_traces -- ServiceName = \'a\'',
      "SELECT 1 FROM otel_traces WHERE SpanAttributes['ServiceName'] = 'a'",
      'DESCRIBE TABLE otel_traces',
    ];
    for (const sql of unchanged) expect(rw(sql)).toBe(sql);
  });

  test('the tokenizer gives any input back unchanged, including unterminated and odd text', () => {
    const odd = [
      "SELECT 'it''s', \"q\"\"d\", `b\\`t`, {p:String}, 1.5e3, x->y, a::String /* c */ -- end",
      "SELECT 'unterminated",
      '/* open comment',
      '{unclosed',
      'ü日本 \u0000 \ud800 ; ;',
      '',
    ];
    for (const s of odd) expect(tokenize(s).map((t) => t.text).join('')).toBe(s);
    // Random bytes: no throw, lossless.
    let x = 7;
    for (let n = 0; n < 200; n++) {
      let s = '';
      for (let i = 0; i < 60; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        s += String.fromCharCode(32 + (x % 95));
      }
      expect(tokenize(s).map((t) => t.text).join('')).toBe(s);
      expect(typeof rw(`SELECT 1 FROM otel_traces WHERE ${s}`)).toBe('string');
    }
  });
});

describe('SmartEncoding row builder and tag registry', () => {
  const batch = (service: string, names: string[], attributes: Traces['resourceSpans'][0]['scopeSpans'][0]['spans'][0]['attributes'] = {}): Traces => ({
    resourceSpans: [
      {
        resource: { attributes: { 'service.name': service, 'k8s.pod.label.app': service }, droppedAttributesCount: 0 },
        schemaUrl: '',
        scopeSpans: [
          {
            scope: { name: 'scope', version: '1', attributes: {}, droppedAttributesCount: 0 },
            schemaUrl: '',
            spans: names.map((name, i) => ({
              traceId: '0af7651916cd43dd8448eb211c80319c',
              spanId: `b7ad6b716920333${i}`,
              traceState: '',
              parentSpanId: '',
              flags: 0,
              name,
              kind: SpanKind.SERVER,
              startTimeUnixNano: 1n,
              endTimeUnixNano: 2n,
              attributes,
              droppedAttributesCount: 0,
              events: [],
              droppedEventsCount: 0,
              links: [],
              droppedLinksCount: 0,
              status: { code: StatusCode.UNSET, message: '' },
            })),
          },
        ],
      },
    ],
  });

  test('a batch writes each new tag and resource once; after commit they are not written again', () => {
    const rows = new SmartTraceRows(new TagRegistry());
    rows.append(batch('cart', ['GET /a', 'GET /a', 'GET /b']));
    expect(rows.block.rows).toBe(3);
    // service, scope name, scope version, two span names.
    expect(rows.tagBlock.rows).toBe(5);
    expect(rows.resourceBlock.rows).toBe(1);
    rows.commit();
    rows.reset();
    rows.append(batch('cart', ['GET /a', 'GET /c']));
    expect(rows.tagBlock.rows).toBe(1);
    expect(rows.resourceBlock.rows).toBe(0);
  });

  test('span attributes of SPAN_TAG_KEYS with a value become tag ids, once per value; the others stay strings', () => {
    const rows = new SmartTraceRows(new TagRegistry());
    rows.append(batch('cart', ['a', 'b'], { 'http.route': '/a', 'metaflow.server.k8s.pod.name': 'pod-1', 'metaflow.server.port': 80, 'metaflow.client.port': 4000, 'url.path': '/a/1', 'server.address': '' }));
    // service, scope name, scope version, two span names, three attribute values.
    expect(rows.tagBlock.rows).toBe(8);
    const text = Buffer.concat(rows.block.chunks()).toString('latin1');
    // Strings of the encoded values are in the tag block only; the others in the span rows.
    expect(text).not.toContain('pod-1');
    expect(text).toContain('/a/1');
    expect(text).toContain('metaflow.client.port');
    expect(Buffer.concat(rows.tagBlock.chunks()).toString('latin1')).toContain('pod-1');
  });

  test('tags of a batch that was never committed (its insert failed) are written again by the retry', () => {
    const rows = new SmartTraceRows(new TagRegistry());
    rows.append(batch('cart', ['GET /a']));
    rows.reset();
    rows.append(batch('cart', ['GET /a']));
    expect(rows.tagBlock.rows).toBe(4);
    expect(rows.resourceBlock.rows).toBe(1);
  });

  test('the registry is bounded: a full kind is forgotten and counted, and its tags are written again', () => {
    const registry = new TagRegistry(2);
    const rows = new SmartTraceRows(registry);
    for (const name of ['a', 'b', 'c']) {
      rows.append(batch('svc', [name]));
      rows.commit();
      rows.reset();
    }
    expect(registry.evictions).toBe(1);
    rows.append(batch('svc', ['a']));
    expect(rows.tagBlock.rows).toBe(1);
    expect(registry.size).toBeLessThanOrEqual(2 * 4 + 2);
  });

  test('resource ids follow the SQL definition: length-prefixed key/value pairs in order, hashed', () => {
    expect(resourceId({ 'service.name': 'cart', n: 5 })).toBe(sipHash64('12:service.name4:cart1:n1:5'));
    expect(resourceId({ a: 'ü' })).toBe(sipHash64('1:a2:ü'));
    expect(resourceId({ a: 'x', b: 'y' })).not.toBe(resourceId({ b: 'y', a: 'x' }));
  });
});
