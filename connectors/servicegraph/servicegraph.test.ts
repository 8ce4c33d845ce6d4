/**
 * The servicegraph connector with a controlled clock: pairing by parent
 * link (either arrival order), by network tuple for zero-code spans,
 * database and messaging edges, virtual nodes, failures, dimensions, and the
 * bounds on waiting halves and edges.
 */
import { ComponentID, type Consumer, type CreateSettings } from '../../pipeline/component';
import { nopLogger } from '../../pipeline/logger';
import { SpanKind, StatusCode, type Attributes, type HistogramDataPoint, type Metrics, type NumberDataPoint, type Span, type Traces } from '../../pipeline/pdata';
import { Telemetry } from '../../pipeline/telemetry';
import { config, validate, type ServiceGraphConfig } from './config';
import { ServiceGraphConnector } from './servicegraph';

let clock = 1_700_000_000_000;
let emitted: Metrics[] = [];
const sink: Consumer<'metrics'> = {
  async consume(m) {
    emitted.push(m);
  },
};
let telemetry: Telemetry;

function make(cfg: Record<string, unknown> = {}): ServiceGraphConnector {
  const parsed = config.parseOrThrow(cfg) as ServiceGraphConfig;
  expect(validate(parsed)).toEqual([]);
  telemetry = new Telemetry('normal');
  const settings: CreateSettings = { id: new ComponentID('servicegraph'), kind: 'connector', logger: nopLogger, telemetry: telemetry.forComponent('connector', 'servicegraph') };
  return new ServiceGraphConnector(parsed, settings, sink, { now: () => clock });
}

interface S {
  service: string;
  kind: SpanKind;
  trace?: string;
  id: string;
  parent?: string;
  ms?: number;
  startOffsetMs?: number;
  error?: boolean;
  attrs?: Attributes;
}

function tr(...specs: S[]): Traces {
  return {
    resourceSpans: specs.map((s) => {
      const start = BigInt(clock + (s.startOffsetMs ?? 0)) * 1000000n;
      const span: Span = {
        traceId: s.trace ?? '0af7651916cd43dd8448eb211c80319c',
        spanId: s.id,
        traceState: '',
        parentSpanId: s.parent ?? '',
        flags: 0,
        name: 'op',
        kind: s.kind,
        startTimeUnixNano: start,
        endTimeUnixNano: start + BigInt(Math.round((s.ms ?? 10) * 1e6)),
        attributes: s.attrs ?? {},
        droppedAttributesCount: 0,
        events: [],
        droppedEventsCount: 0,
        links: [],
        droppedLinksCount: 0,
        status: { code: s.error ? StatusCode.ERROR : StatusCode.UNSET, message: '' },
      };
      return {
        resource: { attributes: { 'service.name': s.service }, droppedAttributesCount: 0 },
        scopeSpans: [{ scope: { name: 't', version: '', attributes: {}, droppedAttributesCount: 0 }, spans: [span], schemaUrl: '' }],
        schemaUrl: '',
      };
    }),
  };
}

function points(name: string): Array<{ attrs: Attributes; value?: number; count?: number; sum?: number }> {
  const out: Array<{ attrs: Attributes; value?: number; count?: number; sum?: number }> = [];
  for (const m of emitted)
    for (const rm of m.resourceMetrics)
      for (const sm of rm.scopeMetrics)
        for (const metric of sm.metrics) {
          if (metric.name !== name || metric.data.type === 'empty') continue;
          for (const p of metric.data.dataPoints as Array<NumberDataPoint | HistogramDataPoint>) {
            out.push({ attrs: p.attributes, value: 'value' in p ? Number(p.value) : undefined, count: 'count' in p ? p.count : undefined, sum: 'sum' in p ? p.sum : undefined });
          }
        }
  return out;
}

beforeEach(() => {
  emitted = [];
});

describe('service graph', () => {
  it('pairs a client span with the server span whose parent it is, in either order', async () => {
    const c = make();
    await c.consume(tr({ service: 'web', kind: SpanKind.CLIENT, id: 'a000000000000001', ms: 30 }));
    await c.consume(tr({ service: 'api', kind: SpanKind.SERVER, id: 'b000000000000001', parent: 'a000000000000001', ms: 20 }));
    // Server first this time.
    await c.consume(tr({ service: 'api', kind: SpanKind.SERVER, id: 'b000000000000002', parent: 'a000000000000002', ms: 20, error: true }));
    await c.consume(tr({ service: 'web', kind: SpanKind.CLIENT, id: 'a000000000000002', ms: 40 }));
    expect(c.waitingHalves).toBe(0);
    await c.flush();
    expect(points('traces_service_graph_request_total').map((p) => [p.attrs, p.value])).toEqual([
      [{ client: 'web', server: 'api', connection_type: '', failed: false }, 1],
      [{ client: 'web', server: 'api', connection_type: '', failed: true }, 1],
    ]);
    expect(points('traces_service_graph_request_failed_total').map((p) => [p.attrs, p.value])).toEqual([[{ client: 'web', server: 'api', connection_type: '' }, 1]]);
    const server = points('traces_service_graph_request_server_seconds');
    expect(server.map((p) => [p.count, p.sum])).toEqual([
      [1, 0.02],
      [1, 0.02],
    ]);
    expect(points('traces_service_graph_request_client_seconds').map((p) => p.sum)).toEqual([0.03, 0.04]);
    expect(await telemetry.value('metaflow_servicegraph_paired_requests_total')).toBe(2);
  });

  it('pairs zero-code client and server spans by network tuple, first in first out', async () => {
    const c = make();
    const tuple = { 'metaflow.client.ip': '10.0.0.5', 'metaflow.client.port': 51234, 'metaflow.server.ip': '10.0.0.9', 'metaflow.server.port': 8080 };
    // Two requests on one keep-alive connection; the agent's spans carry unrelated trace ids.
    await c.consume(
      tr(
        { service: 'frontend', kind: SpanKind.CLIENT, trace: '11111111111111111111111111111111', id: 'c000000000000001', ms: 50, attrs: tuple },
        { service: 'frontend', kind: SpanKind.CLIENT, trace: '22222222222222222222222222222222', id: 'c000000000000002', startOffsetMs: 100, ms: 60, attrs: tuple },
      ),
    );
    await c.consume(
      tr(
        { service: 'cart', kind: SpanKind.SERVER, trace: '33333333333333333333333333333333', id: 'd000000000000001', startOffsetMs: 2, ms: 45, attrs: { ...tuple, 'metaflow.response_status': 'server_error' } },
        { service: 'cart', kind: SpanKind.SERVER, trace: '44444444444444444444444444444444', id: 'd000000000000002', startOffsetMs: 102, ms: 55, attrs: tuple },
      ),
    );
    expect(c.waitingHalves).toBe(0);
    await c.flush();
    expect(points('traces_service_graph_request_total').map((p) => [p.attrs.client, p.attrs.server, p.attrs.failed, p.value])).toEqual([
      ['frontend', 'cart', true, 1],
      ['frontend', 'cart', false, 1],
    ]);
    // FIFO: the first client pairs with the first server (45 ms), the second with the second (55 ms).
    expect(points('traces_service_graph_request_server_seconds').map((p) => p.sum)).toEqual([0.045, 0.055]);
    expect(points('traces_service_graph_request_client_seconds').map((p) => p.sum)).toEqual([0.05, 0.06]);
  });

  it('makes database edges at once and messaging edges from producer/consumer pairs', async () => {
    const c = make();
    await c.consume(
      tr(
        { service: 'api', kind: SpanKind.CLIENT, id: 'e000000000000001', attrs: { 'db.system': 'postgresql', 'db.name': 'orders' } },
        { service: 'api', kind: SpanKind.PRODUCER, id: 'e000000000000002' },
        { service: 'worker', kind: SpanKind.CONSUMER, id: 'e000000000000003', parent: 'e000000000000002' },
      ),
    );
    await c.flush();
    expect(points('traces_service_graph_request_total').map((p) => [p.attrs.client, p.attrs.server, p.attrs.connection_type])).toEqual([
      ['api', 'orders', 'database'],
      ['api', 'worker', 'messaging_system'],
    ]);
  });

  it('turns unanswered halves into edges to virtual nodes after the ttl, and counts the rest as unpaired', async () => {
    const c = make({ virtual_node_extra_label: true });
    await c.consume(
      tr(
        { service: 'api', kind: SpanKind.CLIENT, id: 'f000000000000001', attrs: { 'peer.service': 'payments-saas' } },
        { service: 'api', kind: SpanKind.CLIENT, id: 'f000000000000002', attrs: { 'metaflow.server.ip': '192.168.1.7', 'metaflow.server.port': 6379 } },
        { service: 'api', kind: SpanKind.SERVER, id: 'f000000000000003' },
        { service: 'api', kind: SpanKind.CLIENT, id: 'f000000000000004' },
      ),
    );
    // The root server span is a user request at once; the others wait.
    expect(c.waitingHalves).toBe(3);
    clock += 2500;
    c.expire(clock);
    expect(c.waitingHalves).toBe(0);
    await c.flush();
    expect(points('traces_service_graph_request_total').map((p) => [p.attrs.client, p.attrs.server, p.attrs.connection_type, p.attrs.virtual_node])).toEqual([
      ['user', 'api', 'virtual_node', 'client'],
      ['api', 'payments-saas', 'virtual_node', 'server'],
      ['api', '192.168.1.7:6379', 'virtual_node', 'server'],
    ]);
    expect(await telemetry.value('traces_service_graph_unpaired_spans_total')).toBe(1);
  });

  it('adds dimensions from each side with client_/server_ prefixes', async () => {
    const c = make({ dimensions: ['deployment.environment'] });
    await c.consume(
      tr(
        { service: 'web', kind: SpanKind.CLIENT, id: 'a100000000000001', attrs: { 'deployment.environment': 'prod' } },
        { service: 'api', kind: SpanKind.SERVER, id: 'b100000000000001', parent: 'a100000000000001', attrs: { 'deployment.environment': 'canary' } },
      ),
    );
    await c.flush();
    expect(points('traces_service_graph_request_total')[0].attrs).toEqual({
      client: 'web',
      server: 'api',
      connection_type: '',
      failed: false,
      'client_deployment.environment': 'prod',
      'server_deployment.environment': 'canary',
    });
  });

  it('keeps at most store.max_items halves waiting and counts the spans it could not keep', async () => {
    const c = make({ store: { max_items: 2 } });
    await c.consume(
      tr(
        { service: 'a', kind: SpanKind.CLIENT, id: '1000000000000001' },
        { service: 'a', kind: SpanKind.CLIENT, id: '1000000000000002' },
        { service: 'a', kind: SpanKind.CLIENT, id: '1000000000000003' },
      ),
    );
    expect(c.waitingHalves).toBe(2);
    await c.flush();
    expect(await telemetry.value('traces_service_graph_dropped_spans_total')).toBe(1);
  });

  it('counts edges beyond max_edges under the overflow edge', async () => {
    const c = make({ max_edges: 1 });
    await c.consume(tr({ service: 'a', kind: SpanKind.SERVER, id: '2000000000000001' }, { service: 'b', kind: SpanKind.SERVER, id: '2000000000000002' }, { service: 'c', kind: SpanKind.SERVER, id: '2000000000000003' }));
    await c.flush();
    expect(points('traces_service_graph_request_total').map((p) => [p.attrs.client, p.attrs.server, p.value])).toEqual([
      ['user', 'a', 1],
      ['__overflow__', '__overflow__', 2],
    ]);
  });

  it('still emits after intervals that had nothing to emit', async () => {
    const c = make();
    await c.flush();
    await c.flush();
    await c.consume(tr({ service: 'a', kind: SpanKind.SERVER, id: '4000000000000001' }));
    await c.flush();
    expect(points('traces_service_graph_request_total').map((p) => p.attrs.server)).toEqual(['a']);
  });

  it('resolves waiting halves at shutdown', async () => {
    const c = make();
    await c.consume(tr({ service: 'api', kind: SpanKind.CLIENT, id: '3000000000000001', attrs: { 'peer.service': 'ext' } }));
    await c.shutdown();
    expect(points('traces_service_graph_request_total').map((p) => p.attrs.server)).toEqual(['ext']);
  });
});
