/**
 * Config of the `servicegraph` connector, with the Collector servicegraph
 * connector's keys (`latency_histogram_buckets`,
 * `exponential_histogram_max_size`, `dimensions`, `store`,
 * `virtual_node_peer_attributes`, `virtual_node_extra_label`,
 * `metrics_flush_interval`, `database_name_attributes`, …) plus ours for
 * zero-code spans (`network_tuple_pairing`) and the edge bound (`max_edges`).
 */
import { parseDuration, s, type Infer } from '../../pipeline/config/schema';

/** The Collector's default latency buckets. */
export const DEFAULT_LATENCY_BUCKETS = ['2ms', '4ms', '6ms', '8ms', '10ms', '50ms', '100ms', '200ms', '400ms', '800ms', '1s', '1400ms', '2s', '5s', '10s', '15s'];

const duration = s.string().check((v) => (parseDuration(v) === undefined ? `"${v}" is not a duration such as "100ms"` : undefined));

/** `connectors::servicegraph`. */
export const config = s
  .object({
    latency_histogram_buckets: s
      .optional(s.array(duration))
      .doc(`upper bounds of the request duration histograms (default ${DEFAULT_LATENCY_BUCKETS.join(', ')}); recorded in seconds`),
    exponential_histogram_max_size: s.int().min(0).default(0).doc('> 0: base-2 exponential histograms with this many buckets instead of explicit ones'),
    dimensions: s
      .array(s.string())
      .default([])
      .doc('span (or resource) attributes added to every edge, as client_<name> from the client span and server_<name> from the server span'),
    store: s
      .object({
        ttl: s.duration().default('2s').doc('how long half of a request waits for its other half'),
        max_items: s.int().min(1).default(1000).doc('halves waiting at most; further spans are not paired (counted as dropped)'),
      })
      .withDefaults(),
    cache_loop: s.duration().default('1m').doc('accepted for compatibility; no effect'),
    store_expiration_loop: s.duration().default('2s').min(10, '10ms').doc('how often expired halves are resolved (virtual nodes) or dropped'),
    virtual_node_peer_attributes: s
      .array(s.string())
      .default(['peer.service', 'db.name', 'db.system', 'server.address'])
      .doc('attributes of an unanswered client span that name the server it called, in order of preference (then metaflow.server.ip:port)'),
    virtual_node_extra_label: s.boolean().default(false).doc('add a virtual_node attribute (client or server) to edges with a virtual node'),
    metrics_flush_interval: s.duration().default('10s').min(100, '100ms').doc('how often edge metrics are emitted (delta points over the interval)'),
    database_name_attribute: s.optional(s.string()).doc('deprecated: use database_name_attributes'),
    database_name_attributes: s.array(s.string()).default(['db.name', 'db.namespace']).doc('client span attributes naming a database: the edge goes to it at once, connection_type database'),
    metrics_exporter: s.optional(s.string()).doc('accepted for compatibility (deprecated in the Collector); no effect'),
    network_tuple_pairing: s
      .boolean()
      .default(true)
      .doc('pair zero-code client and server spans by metaflow.client.ip/port and metaflow.server.ip/port when ids do not link them'),
    max_edges: s.int().min(1).default(10000).doc('distinct edges per flush interval; further ones are counted under client and server "__overflow__"'),
  })
  .withDefaults();

/** Parsed `servicegraph` config. */
export type ServiceGraphConfig = Infer<typeof config>;

/** Cross-field checks. */
export function validate(cfg: ServiceGraphConfig): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  if (cfg.latency_histogram_buckets && cfg.exponential_histogram_max_size > 0) {
    problems.push(['exponential_histogram_max_size', 'use either latency_histogram_buckets or exponential_histogram_max_size']);
  }
  const b = cfg.latency_histogram_buckets ?? [];
  for (let i = 1; i < b.length; i++) {
    if (!((parseDuration(b[i]) as number) > (parseDuration(b[i - 1]) as number))) problems.push(['latency_histogram_buckets', `must increase; ${b[i]} follows ${b[i - 1]}`]);
  }
  return problems;
}
