/**
 * Config of the `autotagging` processor. Keys follow the Collector's
 * `resourcedetection` processor (`detectors`, `timeout`, `override`,
 * `system::hostname_sources`, `system::resource_attributes`) and its
 * `k8sattributes` processor (`auth_type`, `context`, `extract`, `filter`,
 * `pod_association`, `wait_for_metadata`), so those configs carry over; the
 * rest (`kubernetes`, `process`, `custom_tags`) is MetaFlow's own:
 *
 * ```yaml
 * processors:
 *   autotagging:
 *     detectors: [system, env]
 *     extract:
 *       metadata: [k8s.pod.name, k8s.namespace.name, k8s.deployment.name]
 *       labels: [{ key: app.kubernetes.io/version, tag_name: service.version }]
 *     filter:
 *       node_from_env_var: KUBE_NODE_NAME
 *     process:
 *       mask_args_regex: (?i)password|token
 *     custom_tags:
 *       cidrs: [{ cidr: 10.1.0.0/16, tags: { zone: eu-1 } }]
 *       file: /etc/metaflow/tags.yaml
 * ```
 */
import { s, type Infer, type Schema } from '../../pipeline/config/schema';
import { compileGoRegExp } from '../internal/goregex';
import { parseCidr } from './ip';

/** Problems as `[relative path, message]`. */
export type Problem = [string, string];

/** Host and cloud detectors, as resourcedetection names them. */
export const DETECTORS = ['system', 'env', 'ec2', 'gcp', 'azure'] as const;
/** One detector name. */
export type Detector = (typeof DETECTORS)[number];

/** Where `system` takes host.name from, in order of preference. */
export const HOSTNAME_SOURCES = ['dns', 'os', 'cname', 'lookup'] as const;

/**
 * The Kubernetes facts `extract::metadata` can ask for: k8sattributes' names,
 * plus `k8s.service.name` (the service whose endpoints hold the pod IP, or
 * whose cluster IP was addressed).
 */
export const METADATA_KEYS = [
  'k8s.namespace.name',
  'k8s.namespace.uid',
  'k8s.pod.name',
  'k8s.pod.uid',
  'k8s.pod.ip',
  'k8s.pod.hostname',
  'k8s.pod.start_time',
  'k8s.node.name',
  'k8s.node.uid',
  'k8s.replicaset.name',
  'k8s.replicaset.uid',
  'k8s.deployment.name',
  'k8s.deployment.uid',
  'k8s.statefulset.name',
  'k8s.statefulset.uid',
  'k8s.daemonset.name',
  'k8s.daemonset.uid',
  'k8s.job.name',
  'k8s.job.uid',
  'k8s.cronjob.name',
  'k8s.cronjob.uid',
  'k8s.container.name',
  'container.id',
  'container.image.name',
  'container.image.tag',
  'k8s.cluster.uid',
  'k8s.service.name',
] as const;
/** One metadata key. */
export type MetadataKey = (typeof METADATA_KEYS)[number];

/** What `extract::metadata` holds when not configured. */
export const DEFAULT_METADATA: MetadataKey[] = [
  'k8s.namespace.name',
  'k8s.pod.name',
  'k8s.pod.uid',
  'k8s.pod.start_time',
  'k8s.node.name',
  'k8s.replicaset.name',
  'k8s.deployment.name',
  'k8s.statefulset.name',
  'k8s.daemonset.name',
  'k8s.job.name',
  'k8s.cronjob.name',
  'k8s.container.name',
  'container.image.name',
  'container.image.tag',
  'k8s.service.name',
];

/** What `extract::end_metadata` holds when not configured: who the peer is, not every fact about it. */
export const DEFAULT_END_METADATA: MetadataKey[] = [
  'k8s.namespace.name',
  'k8s.pod.name',
  'k8s.node.name',
  'k8s.deployment.name',
  'k8s.statefulset.name',
  'k8s.daemonset.name',
  'k8s.job.name',
  'k8s.cronjob.name',
  'k8s.service.name',
];

const fieldRule = s.object({
  tag_name: s.optional(s.string().nonEmpty()).doc('attribute name; default k8s.<from>.label.<key> (annotation.<key> for annotations); with key_regex, $0…$9 stand for the match and its groups'),
  key: s.optional(s.string().nonEmpty()).doc('the label or annotation key'),
  key_regex: s.optional(s.string().nonEmpty()).doc('a regular expression for the keys (RE2 syntax, anchored to the whole key)'),
  from: s.enum(['pod', 'namespace', 'node'] as const).default('pod').doc('which object the label or annotation is read from'),
});

/** One `extract::labels` or `extract::annotations` rule. */
export type FieldRule = Infer<typeof fieldRule>;

const associationSource = s.object({
  from: s.enum(['resource_attribute', 'connection'] as const).doc('resource_attribute: the value of the resource attribute `name`; connection: the address the batch was received from'),
  name: s.optional(s.string().nonEmpty()).doc('the resource attribute: k8s.pod.uid, container.id, k8s.pod.name with k8s.namespace.name, or any attribute holding an IP (k8s.pod.ip, net.host.ip, host.ip, …)'),
});

/** One association: every source must match the same pod. */
const association = s.object({ sources: s.array(associationSource).default([]).doc('sources that must all match (at most 4)') });

/** One `pod_association` rule. */
export type Association = Infer<typeof association>;

/** What `pod_association` holds when not configured: exact ids first, then IPs, then the sender's address. */
export const DEFAULT_ASSOCIATIONS: Association[] = [
  { sources: [{ from: 'resource_attribute', name: 'k8s.pod.uid' }] },
  { sources: [{ from: 'resource_attribute', name: 'k8s.pod.name' }, { from: 'resource_attribute', name: 'k8s.namespace.name' }] },
  { sources: [{ from: 'resource_attribute', name: 'container.id' }] },
  { sources: [{ from: 'resource_attribute', name: 'k8s.pod.ip' }] },
  { sources: [{ from: 'resource_attribute', name: 'net.host.ip' }] },
  { sources: [{ from: 'resource_attribute', name: 'host.ip' }] },
  { sources: [{ from: 'connection', name: undefined }] },
];

const selectorRule = (ops: readonly string[]) =>
  s.object({
    key: s.string().nonEmpty().doc('label or field name'),
    value: s.string().default('').doc('value to compare with'),
    op: s.enum(ops).default('equals').doc(`one of ${ops.join(', ')}`),
  });

const tags = () => s.record(s.string()).default({}).doc('attributes to add (name: value)');

const cidrTag = s.object({
  cidr: s.string().nonEmpty().doc('an IPv4 or IPv6 block, e.g. 10.1.0.0/16; a bare address is a /32 or /128'),
  tags: tags(),
});

const processTag = s.object({
  name: s.optional(s.string().nonEmpty()).doc('process.executable.name equal to this'),
  name_regex: s.optional(s.string().nonEmpty()).doc('or process.executable.name matching this regular expression'),
  tags: tags(),
});

/** The tag lists of `custom_tags` (also the format of `custom_tags::file`). */
export const customTagListsSchema = s.object({
  cidrs: s.array(cidrTag).default([]).doc('each {cidr, tags: {name: value}}: tags for addresses in the block, on resources by their IP (k8s.pod.ip, net.host.ip, host.ip) and on each end (metaflow.client.<name> / metaflow.server.<name>) of zero-code spans and flows; a longer prefix wins'),
  processes: s.array(processTag).default([]).doc('each {name or name_regex, tags: {name: value}}: resource tags for processes whose process.executable.name (or kernel task name) matches; the first entry naming a tag wins'),
});

/** Parsed `custom_tags` lists. */
export type CustomTagLists = Infer<typeof customTagListsSchema>;

const attr = (enabled: boolean, doc: string) => s.object({ enabled: s.boolean().default(enabled).doc(doc) }).withDefaults();

const metadataSchema: Schema<MetadataKey[]> = s.array(s.enum(METADATA_KEYS)).default(DEFAULT_METADATA);
const endMetadataSchema: Schema<MetadataKey[]> = s.array(s.enum(METADATA_KEYS)).default(DEFAULT_END_METADATA);

/** Schema of the autotagging processor's config. */
export const configSchema = s
  .object({
    detectors: s.array(s.enum(DETECTORS)).default(['system', 'env']).doc('host detectors run at start: system (host.*, os.*), env (OTEL_RESOURCE_ATTRIBUTES), and the cloud metadata services ec2, gcp, azure (off unless listed)'),
    timeout: s.duration().default('5s').doc('time allowed to all detectors together; a detector that fails or is late is logged and skipped'),
    override: s.boolean().default(false).doc('false: host and cloud facts only fill in attributes the data lacks; true: they replace them'),
    system: s
      .object({
        hostname_sources: s.array(s.enum(HOSTNAME_SOURCES)).default(['dns', 'os']).doc('where host.name comes from, first that answers: dns (the FQDN), os (the kernel hostname), cname, lookup (reverse DNS of the host IPs)'),
        resource_attributes: s
          .object({
            'host.name': attr(true, 'set host.name'),
            'host.id': attr(true, 'set host.id (the machine id)'),
            'host.arch': attr(true, 'set host.arch'),
            'host.ip': attr(true, 'set host.ip (non-loopback addresses)'),
            'host.mac': attr(false, 'set host.mac'),
            'os.type': attr(true, 'set os.type'),
            'os.description': attr(true, 'set os.description'),
          })
          .withDefaults()
          .doc('which host attributes the system detector sets'),
      })
      .withDefaults()
      .doc('the system detector'),
    ec2: s.object({ endpoint: s.string().default('http://169.254.169.254').doc('instance metadata service (IMDSv2)') }).withDefaults().doc('the ec2 detector: cloud.*, host.id, host.type, host.image.id'),
    gcp: s.object({ endpoint: s.string().default('http://metadata.google.internal').doc('metadata server') }).withDefaults().doc('the gcp detector: cloud.*, host.id, host.name, host.type'),
    azure: s.object({ endpoint: s.string().default('http://169.254.169.254').doc('instance metadata service') }).withDefaults().doc('the azure detector: cloud.*, host.id, host.name, host.type, azure.vm.*'),
    process: s
      .object({
        enabled: s.boolean().default(true).doc('tag data from local processes (span or resource process.pid) with process.* and container.id read from /proc'),
        proc_path: s.string().default('/proc').doc('where the host /proc is mounted (e.g. /host/proc in a DaemonSet pod)'),
        mask_args_regex: s
          .string()
          .default('(?i)pass(word|wd)?|secret|token|api[-_]?key|access[-_]?key|credential|auth')
          .doc('arguments whose name matches (--name=value, name=value, or --name value) have their value replaced by ***; URL passwords (scheme://user:pass@) are always masked'),
        cache_size: s.int().min(1).default(4096).doc('processes remembered; the least recently seen is evicted beyond this'),
        refresh_interval: s.duration().min(10, '10ms').default('5s').doc('how often remembered processes are re-checked in /proc, evicting those that exited or whose pid was reused'),
      })
      .withDefaults()
      .doc('process facts by pid'),
    auth_type: s
      .optional(s.enum(['serviceAccount', 'kubeConfig', 'none'] as const))
      .doc('how to reach the Kubernetes API: serviceAccount (in-cluster), kubeConfig (kube_config_path or $KUBECONFIG or ~/.kube/config), none (kubernetes::api_server without credentials). Unset: serviceAccount inside a pod, none with kubernetes::api_server, otherwise Kubernetes tagging is off'),
    context: s.optional(s.string().nonEmpty()).doc('kubeConfig: the context to use instead of the current one'),
    kube_config_path: s.optional(s.string().nonEmpty()).doc('kubeConfig: the kubeconfig file'),
    kubernetes: s
      .object({
        enabled: s.boolean().default(true).doc('false turns Kubernetes tagging off even inside a pod'),
        api_server: s.optional(s.string().nonEmpty()).doc('API server URL replacing the in-cluster or kubeconfig one (http:// skips TLS)'),
        token: s.optional(s.string().nonEmpty()).doc('bearer token sent to api_server'),
        insecure_skip_verify: s.boolean().default(false).doc('do not verify the API server certificate'),
        request_timeout: s.duration().min(100, '100ms').default('30s').doc('time allowed to a list request, and to a watch for its response headers'),
        watch_timeout: s.duration().min(1000, '1s').default('5m').doc('the API server ends each watch after about this long (timeoutSeconds, jittered); the watch then resumes from its last resourceVersion'),
        idle_timeout: s.duration().min(100, '100ms').default('2m').doc('a watch that delivers nothing, not even a BOOKMARK, for this long is considered broken and reopened'),
        retry: s
          .object({
            initial_interval: s.duration().min(1, '1ms').default('500ms').doc('wait after the first failed request'),
            max_interval: s.duration().min(1, '1ms').default('30s').doc('longest wait between attempts (the wait doubles up to this)'),
          })
          .withDefaults()
          .doc('backoff while the API server is unreachable; tagging continues from the last known state'),
        page_size: s.int().min(1).default(500).doc('objects per list page (limit/continue)'),
        max_objects: s.int().min(1).default(100000).doc('objects kept per kind; more are counted and not kept'),
        pod_delete_grace: s.duration().default('2m').doc('a deleted pod still tags data for this long (late spans), unless its IP is taken by another pod'),
      })
      .withDefaults()
      .doc('the Kubernetes API connection'),
    extract: s
      .object({
        metadata: metadataSchema.doc('Kubernetes facts added to associated resources (same names as k8sattributes, plus k8s.service.name)'),
        end_metadata: endMetadataSchema.doc('Kubernetes facts added to each end of zero-code spans and flows, as metaflow.client.<key> / metaflow.server.<key> (the label and annotation rules apply too); kept short because every span carries them'),
        labels: s.array(fieldRule).default([]).doc('labels added as attributes, each {key or key_regex (anchored RE2), tag_name (default k8s.<from>.label.<key>; $0…$9 stand for the key_regex match and groups), from: pod | namespace | node (default pod)}'),
        annotations: s.array(fieldRule).default([]).doc('annotations added as attributes, the same as labels (default tag_name k8s.<from>.annotation.<key>)'),
        otel_annotations: s.boolean().default(false).doc('pod annotations resource.opentelemetry.io/<attr> set resource attribute <attr>'),
      })
      .withDefaults()
      .doc('what Kubernetes facts are added'),
    filter: s
      .object({
        node: s.optional(s.string().nonEmpty()).doc('watch only pods on this node (an agent on each node)'),
        node_from_env_var: s.optional(s.string().nonEmpty()).doc('the same, with the node name read from this environment variable'),
        namespace: s.optional(s.string().nonEmpty()).doc('watch only this namespace (pods, services, endpoint slices, workloads)'),
        labels: s.array(selectorRule(['equals', 'not-equals', 'exists', 'does-not-exist'])).default([]).doc('watch only pods with these labels, each {key, value, op: equals | not-equals | exists | does-not-exist}'),
        fields: s.array(selectorRule(['equals', 'not-equals'])).default([]).doc('watch only pods with these fields, each {key, value, op: equals | not-equals}'),
      })
      .withDefaults()
      .doc('which pods are watched'),
    pod_association: s.array(association).default(DEFAULT_ASSOCIATIONS).doc('how a resource finds its pod: rules tried in order, each {sources: [{from: resource_attribute, name} or {from: connection}]} whose sources (at most 4) must all match one pod. name: k8s.pod.uid, container.id, k8s.pod.name (with k8s.namespace.name), k8s.namespace.name (narrows the others), or any attribute holding IPs. connection: the address the batch was received from; put autotagging before batch, which drops it; data MetaFlow made itself (scopes metaflow.* or metaflow/*) is never matched by connection, its sender being an agent. Default: k8s.pod.uid, k8s.pod.name with k8s.namespace.name, container.id, k8s.pod.ip, net.host.ip, host.ip, then the connection'),
    wait_for_metadata: s.boolean().default(false).doc('start fails unless the first Kubernetes lists complete within wait_for_metadata_timeout'),
    wait_for_metadata_timeout: s.duration().default('10s').doc('how long start waits for the first lists'),
    local_ends: s
      .boolean()
      .default(true)
      .doc(
        'on zero-code spans and flows: an end on the host that made the data (loopback, or for this host\'s data one of its interface addresses) gets that host\'s metaflow.<end>.host.name and .host.id; for this host\'s data, an end whose process is known (the span\'s own process by its kind, the peer by metaflow.<end>.process.pid as the ebpf receiver sets it for local peers) gets metaflow.<end>.process.pid, .process.executable.name, .process.command_line, .process.owner and .container.id',
      ),
    derive_service_name: s.boolean().default(true).doc('set service.name when absent or an SDK default (unknown_service…) from the workload (resource.opentelemetry.io/service.name annotation with otel_annotations, else the deployment, statefulset, daemonset, cronjob, job or replicaset, else the pod name) or, outside Kubernetes, the process executable name; a service.name equal to the process name (what zero-code receivers set) also gives way to the workload name'),
    endpoint_cache_size: s.int().min(1).default(65536).doc('addresses whose end tags are remembered; the oldest is evicted beyond this'),
    custom_tags: s
      .object({
        cidrs: customTagListsSchema.shape.cidrs,
        processes: customTagListsSchema.shape.processes,
        file: s.optional(s.string().nonEmpty()).doc('YAML or JSON file with more cidrs and processes lists, reloaded when it changes; a bad file keeps the previous tags'),
        reload_interval: s.duration().min(10, '10ms').default('2s').doc('how often the file is checked for changes'),
      })
      .withDefaults()
      .doc('tags by address block and by process name'),
  })
  .withDefaults();

/** Parsed config. */
export type AutoTaggingConfig = Infer<typeof configSchema>;

/** Checks of a custom tag list, shared by the config and the reloaded file. */
export function validateTagLists(lists: CustomTagLists, prefix: string): Problem[] {
  const problems: Problem[] = [];
  lists.cidrs.forEach((c, i) => {
    const parsed = parseCidr(c.cidr);
    if (typeof parsed === 'string') problems.push([`${prefix}cidrs::${i}::cidr`, parsed]);
    problems.push(...checkTagNames(c.tags, `${prefix}cidrs::${i}::tags`));
  });
  lists.processes.forEach((p, i) => {
    if ((p.name === undefined) === (p.name_regex === undefined)) problems.push([`${prefix}processes::${i}`, 'exactly one of name and name_regex is required']);
    if (p.name_regex !== undefined) {
      const re = compileGoRegExp(p.name_regex);
      if (!re.ok) problems.push([`${prefix}processes::${i}::name_regex`, re.error]);
    }
    problems.push(...checkTagNames(p.tags, `${prefix}processes::${i}::tags`));
  });
  return problems;
}

function checkTagNames(t: Record<string, string>, path: string): Problem[] {
  return Object.keys(t)
    .filter((k) => k === '' || k === '__proto__')
    .map((k) => [`${path}::${k}`, 'is not a usable attribute name'] as Problem);
}

/** Cross-field checks beyond the schema. */
export function validateConfig(cfg: AutoTaggingConfig): Problem[] {
  const problems: Problem[] = [];
  const re = compileGoRegExp(cfg.process.mask_args_regex);
  if (!re.ok) problems.push(['process::mask_args_regex', re.error]);
  for (const kind of ['labels', 'annotations'] as const) {
    cfg.extract[kind].forEach((r, i) => {
      const path = `extract::${kind}::${i}`;
      if ((r.key === undefined) === (r.key_regex === undefined)) problems.push([path, 'exactly one of key and key_regex is required']);
      if (r.key_regex !== undefined) {
        const c = compileGoRegExp(r.key_regex);
        if (!c.ok) problems.push([`${path}::key_regex`, c.error]);
      }
    });
  }
  cfg.pod_association.forEach((a, i) => {
    if (a.sources.length === 0) problems.push([`pod_association::${i}::sources`, 'at least one source is required']);
    if (a.sources.length > 4) problems.push([`pod_association::${i}::sources`, `at most 4 sources, got ${a.sources.length}`]);
    a.sources.forEach((src, j) => {
      if (src.from === 'resource_attribute' && !src.name) problems.push([`pod_association::${i}::sources::${j}::name`, 'is required when from is resource_attribute']);
    });
  });
  const k = cfg.kubernetes;
  if (k.api_server !== undefined && !/^https?:\/\/[^/]+/.test(k.api_server)) problems.push(['kubernetes::api_server', `"${k.api_server}" is not an http(s) URL`]);
  if (k.retry.max_interval < k.retry.initial_interval) problems.push(['kubernetes::retry::max_interval', 'must not be shorter than initial_interval']);
  if (cfg.auth_type === 'none' && k.api_server === undefined && k.enabled) problems.push(['auth_type', 'none needs kubernetes::api_server']);
  if (cfg.filter.node !== undefined && cfg.filter.node_from_env_var !== undefined) problems.push(['filter', 'set node or node_from_env_var, not both']);
  for (const d of ['ec2', 'gcp', 'azure'] as const) {
    if (!/^https?:\/\/[^/]+/.test(cfg[d].endpoint)) problems.push([`${d}::endpoint`, `"${cfg[d].endpoint}" is not an http(s) URL`]);
  }
  problems.push(...validateTagLists(cfg.custom_tags, 'custom_tags::'));
  return problems;
}
